/*
 * The log server behind `fulcrum ctlog`: the RFC 6962 4 submission API, a
 * pipeline that makes batches durable and publishes them as Static CT API
 * tiles and a checkpoint, and the read path served from the same files
 * (c2sp.org/static-ct-api). See docs/ctlog.md for the storage layout and
 * the crash-safety argument.
 *
 * A submission is checked on the HTTP worker thread, queued, and its
 * connection suspended. One sequencer thread cuts batches and gives their
 * entries indices and a timestamp; signer threads sign the SCTs in
 * parallel; one integrator thread stores each signed batch in order (entry
 * log written and fdatasynced), publishes it (tiles, checkpoint) and
 * answers its submitters. While the integrator stores one batch, the next
 * is being signed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctlog_srv_int.h"

#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_CHECKPOINT "public, max-age=1"

struct batch;

struct pending {
	struct ctlog_entry *e;
	struct fc_http_exchange **xs; /* the submitter, then identical submissions */
	size_t n_xs;
	int64_t batch_due; /* deadline (fc_deadline_ms): its batch is cut by then */
	struct pending *next;
	/* set by the sequencer */
	struct batch *batch;
	struct pending *sign_next; /* the signers' queue */
	uint64_t index, ts;
	struct fc_buf te, leaf;
	/* set by a signer: the SCT's DigitallySigned */
	struct fc_buf sig;
	/* set by the integrator */
	uint64_t offset;
};

/*
 * One batch on its way through the pipeline: the sequencer gives its
 * entries indices and a timestamp, the signers sign their SCTs in
 * parallel, the integrator stores and publishes the batches in order and
 * answers. Fields after `next` are under pipe_lock.
 */
struct batch {
	struct pending *head;
	uint32_t count;
	uint64_t first, ts;
	int64_t t_cut, t_signed; /* fc_mono_ms(), for the -v timings */
	struct batch *next;
	unsigned unsigned_left; /* SCTs not signed yet */
	bool failed;		/* an entry could not be built or signed */
	struct fc_err err;
};

struct done_tile {
	int level;
	uint64_t n;
};

struct ctlog_server {
	char *dir, *origin;
	const char *origin_path;   /* the origin's path ("/2026"), in origin; NULL if none */
	struct hsm_signer *signer; /* borrowed */
	EVP_PKEY *pub;		   /* borrowed from the signer */
	uint8_t log_id[CTLOG_HASH_LEN];
	char *log_id_b64;
	struct ctlog_roots *roots;
	struct ctlog_policy pol;
	unsigned max_age_ms, max_size;
	int lock_fd;

	/* sequencer state (the opening thread, then only the sequencer) */
	struct ctlog_elog elog;
	struct ctlog_tree tree;
	struct fc_buf data_tile;  /* TileLeafs of the current partial data tile */
	struct ctlog_map issuers; /* fingerprints with an /issuer file */
	uint64_t last_ts;
	struct ctlog_fileset fs;
	struct done_tile *done; /* tiles completed by the batch being published */
	size_t n_done;

	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pending *head, *tail;
	size_t n_pending;
	struct ctlog_map committed; /* dedupe key -> entry log offset */
	struct ctlog_map inflight;  /* dedupe key -> struct pending * */
	bool stop, broken;
	pthread_t thread;
	bool thread_started;

	/* the sequencer thread only */
	uint64_t next_index;

	/* the pipeline, under pipe_lock: sequencer -> signers -> integrator */
	pthread_mutex_t pipe_lock;
	pthread_cond_t pipe_cond; /* a batch is signed; room for one more; the end */
	pthread_cond_t sign_cond; /* entries to sign; the end */
	struct pending *sign_head, *sign_tail;
	struct batch *int_head, *int_tail;
	unsigned batches_ahead; /* cut and not yet answered */
	bool pipe_stop;		/* the sequencer has ended */
	/* A batch failed before anything of it was stored (a signature the
	 * signer could not make): the indices from rewind_to on are given
	 * again once the batches cut after it have been answered 503. */
	bool rewinding;
	uint64_t rewind_to;
	pthread_t *signers;
	unsigned n_signers;
	pthread_t integrator;
	bool integrator_started;
};

/* Batches cut and not yet answered: one being stored and published while
 * the next is signed. The sequencer waits for room, so that a busy log
 * cuts larger batches rather than more of them. */
#define BATCHES_AHEAD 2
#define MAX_SIGNERS 16

/* Wall-clock milliseconds for SCT and checkpoint timestamps. */
static uint64_t wall_ms(void)
{
	int64_t now = fc_now_ms();

	return now < 0 ? 0 : (uint64_t)now;
}

static void pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	ctlog_entry_free(p->e);
	free(p->xs);
	fc_buf_free(&p->te);
	fc_buf_free(&p->leaf);
	fc_buf_free(&p->sig);
	free(p);
}

const uint8_t *ctlog_server_log_id(const struct ctlog_server *s)
{
	return s->log_id;
}

/* --- answers ------------------------------------------------------------ */

static void respond_text(struct fc_http_exchange *x, unsigned code, const char *msg)
{
	char *body = fc_xasprintf("%s\n", msg);

	fc_http_respond(x, code, "text/plain; charset=utf-8", body, strlen(body));
	free(body);
}

static void respond_busy(struct fc_http_exchange *x, const char *msg)
{
	fc_http_add_header(x, "Retry-After", "1");
	respond_text(x, 503, msg);
}

/* The add-(pre-)chain answer (RFC 6962 4.1), encoded by ct/sct.c; ds is the
 * SCT's DigitallySigned as stored. */
static void respond_sct(const struct ctlog_server *s, struct fc_http_exchange *x, uint64_t ts,
			const uint8_t ext[CTLOG_EXT_LEN], const uint8_t *ds, size_t ds_len)
{
	struct ct_sct sct = {.version = 0, .timestamp = ts, .ext_len = CTLOG_EXT_LEN};
	struct fc_err err = {0};
	char *body;

	if (ct_digitally_signed_parse(ds, ds_len, &sct.hash_alg, &sct.sig_alg, &sct.sig,
				      &sct.sig_len, &err) != FC_OK) {
		fc_log(LOG_ERR, "ctlog: stored SCT signature: %s", err.msg);
		respond_text(x, 500, "internal error");
		return;
	}
	memcpy(sct.log_id, s->log_id, CTLOG_HASH_LEN);
	sct.extensions = fc_xmalloc(CTLOG_EXT_LEN);
	memcpy(sct.extensions, ext, CTLOG_EXT_LEN);
	body = ct_sct_to_json(&sct);
	fc_http_respond(x, 200, "application/json", body, strlen(body));
	free(body);
	ct_sct_clear(&sct);
}

/* --- publishing ----------------------------------------------------------- */

static enum fc_status on_full_tile(void *ctx, int level, uint64_t n, const ctlog_hash *hashes)
{
	struct ctlog_server *s = ctx;

	if (level == 0) {
		ctlog_fileset_add(&s->fs, ctlog_tile_path(-1, n, 0), s->data_tile.data,
				  s->data_tile.len);
		fc_buf_reset(&s->data_tile);
	}
	ctlog_fileset_add(&s->fs, ctlog_tile_path(level, n, 0), hashes,
			  CTLOG_TILE_WIDTH * CTLOG_HASH_LEN);
	s->done = fc_xrealloc(s->done, (s->n_done + 1) * sizeof(*s->done));
	s->done[s->n_done].level = level;
	s->done[s->n_done].n = n;
	s->n_done++;
	return FC_OK;
}

/* The Merkle leaf hash of a stored entry: its MerkleTreeLeaf (RFC 6962
 * 3.4) is 0x00 0x00 || the TimestampedEntry at the start of the TileLeaf. */
static void leaf_hash(const uint8_t *tile_leaf, size_t te_len, uint8_t out[CTLOG_HASH_LEN])
{
	struct fc_buf mtl;

	fc_buf_init(&mtl, 0);
	ctlog_sct_input(tile_leaf, te_len, &mtl);
	ctlog_leaf_hash(mtl.data, mtl.len, out);
	fc_buf_free(&mtl);
}

/* Add one stored entry to the tree (and the files of this batch). */
static enum fc_status tree_add(struct ctlog_server *s, const uint8_t *leaf, size_t leaf_len,
			       size_t te_len, struct fc_err *err)
{
	uint8_t h[CTLOG_HASH_LEN];
	enum fc_status st;

	leaf_hash(leaf, te_len, h);
	fc_buf_append(&s->data_tile, leaf, leaf_len);
	if ((st = ctlog_tree_append(&s->tree, h, on_full_tile, s)) != FC_OK)
		return fc_err_set(err, st, "ctlog: the log is full (2^40 entries)");
	return FC_OK;
}

/* Remove the partial tiles of a tile now published full (best effort:
 * readers of older checkpoints fall back to the full tile). */
static void remove_partials(const struct ctlog_server *s, int level, uint64_t n)
{
	char *rel = ctlog_tile_path(level, n, 0);
	char *d = fc_xasprintf("%s/%s.p", s->dir, rel);
	DIR *dh = opendir(d);
	struct dirent *de;

	if (dh != NULL) {
		while ((de = readdir(dh)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(dh), de->d_name, 0);
		closedir(dh);
		rmdir(d);
	}
	free(d);
	free(rel);
}

/*
 * The checkpoint's signature. A signer process that is being restarted
 * (FC_EUNAVAIL) is waited for, up to CTLOG_SIGNER_WAIT_MS, rather than
 * stopping the log: the batch is stored already and only its checkpoint
 * is missing. A retry signs with the time of the retry (a checkpoint's
 * time only has to follow its entries').
 */
static enum fc_status sign_checkpoint(struct ctlog_server *s, uint64_t size,
				      const uint8_t root[CTLOG_HASH_LEN], uint64_t ts, char **note,
				      size_t *note_len, struct fc_err *err)
{
	int64_t until = fc_mono_ms() + CTLOG_SIGNER_WAIT_MS;
	enum fc_status st;

	for (;;) {
		st = ctlog_checkpoint_sign(s->signer, s->origin, s->log_id, size, root, ts, note,
					   note_len, err);
		if (st != FC_EUNAVAIL || fc_mono_ms() >= until)
			return st;
		fc_log(LOG_WARNING, "ctlog: checkpoint of tree size %llu not signed yet: %s",
		       (unsigned long long)size, err->msg);
		fc_err_clear(err);
		nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
		if (wall_ms() > ts)
			ts = wall_ms();
	}
}

/*
 * Publish the tree at its current size: the full tiles collected in s->fs,
 * the partial tiles that changed since old_size, then the checkpoint with
 * timestamp ts. The tiles are durable before the checkpoint that needs
 * them is renamed in.
 */
static enum fc_status publish(struct ctlog_server *s, uint64_t old_size, uint64_t ts,
			      struct fc_err *err)
{
	uint64_t size = s->tree.size;
	uint8_t root[CTLOG_HASH_LEN];
	char *note = NULL;
	size_t note_len = 0;
	enum fc_status st;

	for (int l = -1; l < CTLOG_TILE_LEVELS; l++) {
		unsigned w = ctlog_tile_width(size, l);

		if (w == 0 || (ctlog_tile_width(old_size, l) == w &&
			       ctlog_tile_index(old_size, l) == ctlog_tile_index(size, l)))
			continue;
		if (l < 0)
			ctlog_fileset_add(&s->fs, ctlog_tile_path(-1, ctlog_tile_index(size, 0), w),
					  s->data_tile.data, s->data_tile.len);
		else
			ctlog_fileset_add(&s->fs, ctlog_tile_path(l, ctlog_tile_index(size, l), w),
					  s->tree.lvl[l], (size_t)w * CTLOG_HASH_LEN);
	}
	if ((st = ctlog_fileset_commit(s->dir, &s->fs, err)) != FC_OK)
		goto out;
	ctlog_fileset_clear(&s->fs);
	ctlog_tree_root(&s->tree, root);
	if ((st = sign_checkpoint(s, size, root, ts, &note, &note_len, err)) != FC_OK)
		goto out;
	ctlog_fileset_add(&s->fs, fc_xstrdup("checkpoint"), note, note_len);
	if ((st = ctlog_fileset_commit(s->dir, &s->fs, err)) != FC_OK)
		goto out;
	for (size_t i = 0; i < s->n_done; i++) {
		remove_partials(s, s->done[i].level, s->done[i].n);
		if (s->done[i].level == 0)
			remove_partials(s, -1, s->done[i].n);
	}
out:
	ctlog_fileset_clear(&s->fs);
	free(s->done);
	s->done = NULL;
	s->n_done = 0;
	free(note);
	return st;
}

/* --- the sequencer ---------------------------------------------------------- */

/* Write the /issuer files this batch needs that are not there yet. */
static enum fc_status write_issuers(struct ctlog_server *s, struct pending *batch,
				    struct fc_err *err)
{
	struct ctlog_map added = {0};
	enum fc_status st;
	uint64_t v;

	for (struct pending *p = batch; p != NULL; p = p->next) {
		for (size_t i = 0; i < p->e->n_issuers; i++) {
			char *hex;

			if (ctlog_map_get(&s->issuers, p->e->fps[i], &v) ||
			    ctlog_map_get(&added, p->e->fps[i], &v))
				continue;
			hex = fc_hex_encode(p->e->fps[i], CTLOG_HASH_LEN);
			ctlog_fileset_add(&s->fs, fc_xasprintf("issuer/%s", hex), p->e->issuers[i],
					  p->e->issuer_lens[i]);
			free(hex);
			ctlog_map_put(&added, p->e->fps[i], 1);
		}
	}
	st = ctlog_fileset_commit(s->dir, &s->fs, err);
	ctlog_fileset_clear(&s->fs);
	if (st == FC_OK)
		for (size_t i = 0; i < added.cap; i++)
			if (added.vals[i] != UINT64_MAX)
				ctlog_map_put(&s->issuers, added.keys[i], 1);
	ctlog_map_free(&added);
	return st;
}

/*
 * Give p its index and timestamp and build its TimestampedEntry and
 * TileLeaf (the sequencer). Fails with the reason in err.
 */
static enum fc_status assign_entry(struct pending *p, uint64_t index, uint64_t ts,
				   struct fc_err *err)
{
	enum fc_status st;

	p->index = index;
	p->ts = ts;
	fc_buf_init(&p->te, 0);
	fc_buf_init(&p->leaf, 0);
	fc_buf_init(&p->sig, 0);
	if (index > CTLOG_MAX_LEAF_INDEX)
		return fc_err_set(err, FC_ETOOBIG, "ctlog: the log is full");
	if ((st = ctlog_timestamped_entry(p->e, ts, index, &p->te)) != FC_OK)
		return fc_err_set(err, st, "ctlog: entry over a TLS length bound");
	if (!ctlog_tile_leaf(p->e, p->te.data, p->te.len, &p->leaf))
		return fc_err_set(err, FC_EINTERNAL, "ctlog: entry over a length bound");
	return FC_OK;
}

/* Sign p's SCT (RFC 6962 3.2) into p->sig (a signer). */
static enum fc_status sign_entry(struct ctlog_server *s, struct pending *p, struct fc_err *err)
{
	struct fc_buf in;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum fc_status st;

	fc_buf_init(&in, 0);
	ctlog_sct_input(p->te.data, p->te.len, &in);
	st = hsm_sign_ctx(s->signer, in.data, in.len, &(struct hsm_sign_ctx){.kind = HSM_SIGN_SCT},
			  &sig, &sig_len, err);
	fc_buf_free(&in);
	if (st != FC_OK)
		return st;
	st = ct_digitally_signed_encode(CT_HASH_SHA256, CT_SIG_ECDSA, sig, sig_len, &p->sig);
	free(sig);
	if (st != FC_OK)
		return fc_err_set(err, st, "ctlog: SCT signature too long");
	return FC_OK;
}

/*
 * The batch is published (st == FC_OK: remember where each entry is, for
 * resubmissions) or failed (when fatal, the log stops taking submissions);
 * either way answer every submitter and free the batch's entries.
 */
static void finish_batch(struct ctlog_server *s, struct pending *batch, enum fc_status st,
			 bool fatal)
{
	struct pending *p, *next;

	pthread_mutex_lock(&s->lock);
	if (st != FC_OK && fatal)
		s->broken = true;
	for (p = batch; p != NULL; p = p->next) {
		if (st == FC_OK)
			ctlog_map_put(&s->committed, p->e->key, p->offset);
		ctlog_map_del(&s->inflight, p->e->key);
	}
	pthread_mutex_unlock(&s->lock);
	for (p = batch; p != NULL; p = next) {
		next = p->next;
		for (size_t i = 0; i < p->n_xs; i++) {
			if (st == FC_OK)
				respond_sct(s, p->xs[i], p->ts,
					    p->te.data + p->te.len - CTLOG_EXT_LEN, p->sig.data,
					    p->sig.len);
			else
				respond_busy(p->xs[i], "the log cannot store entries now");
		}
		pending_free(p);
	}
}

/* The entry log records of a signed batch, with each entry's offset. */
static enum fc_status batch_payload(struct ctlog_server *s, struct batch *b, struct fc_buf *payload,
				    struct fc_err *err)
{
	for (struct pending *p = b->head; p != NULL; p = p->next) {
		p->offset = s->elog.end + CTLOG_ELOG_HDR + payload->len;
		if (!ctlog_elog_add_record(payload, p->e->key, p->leaf.data, p->leaf.len, p->te.len,
					   p->sig.data, p->sig.len))
			return fc_err_set(err, FC_EINTERNAL, "ctlog: entry over a length bound");
	}
	return FC_OK;
}

/*
 * A batch that failed before anything of it was stored, or one cut after
 * such a batch (its indices follow a gap): answer 503 and have the
 * sequencer give the indices again (the log goes on). True when b is such
 * a batch.
 */
static bool drop_unstored(struct ctlog_server *s, struct batch *b, enum fc_status st,
			  const struct fc_err *err)
{
	bool stale;

	pthread_mutex_lock(&s->pipe_lock);
	stale = s->rewinding && b->first > s->rewind_to;
	if (!stale && st != FC_OK) {
		s->rewinding = true;
		s->rewind_to = b->first;
	}
	pthread_mutex_unlock(&s->pipe_lock);
	if (!stale && st == FC_OK)
		return false;
	if (!stale)
		fc_log(LOG_ERR,
		       "ctlog: %u entries from index %llu not sequenced, answered 503 "
		       "(the indices are given again): %s",
		       b->count, (unsigned long long)b->first, err->msg);
	finish_batch(s, b->head, st != FC_OK ? st : FC_EUNAVAIL, false);
	return true;
}

/*
 * Store and publish one signed batch, in order (the integrator): the
 * entry log (one write, one fdatasync), tiles and checkpoint; then answer.
 * A batch that could not be built or signed is answered 503 and its
 * indices given again (drop_unstored). A failure once storing has begun
 * stops the log from taking submissions (a restart resumes from what is
 * on disk); batches behind it are answered 503 and never stored.
 */
static void integrate(struct ctlog_server *s, struct batch *b)
{
	struct fc_err err = b->err;
	struct fc_buf payload;
	int64_t t0 = fc_mono_ms(), t_stored;
	enum fc_status st = b->failed ? (err.status ? err.status : FC_EINTERNAL) : FC_OK;
	bool broken;

	pthread_mutex_lock(&s->lock);
	broken = s->broken;
	pthread_mutex_unlock(&s->lock);
	if (broken) {
		finish_batch(s, b->head, FC_EIO, true);
		return;
	}
	fc_buf_init(&payload, 0);
	if (st == FC_OK)
		st = batch_payload(s, b, &payload, &err);
	if (drop_unstored(s, b, st, &err)) {
		fc_buf_free(&payload);
		return;
	}
	st = write_issuers(s, b->head, &err);
	if (st == FC_OK)
		st = ctlog_elog_append(&s->elog, b->first, b->count, &payload, &err);
	t_stored = fc_mono_ms();
	fc_buf_free(&payload);
	for (struct pending *p = b->head; p != NULL && st == FC_OK; p = p->next)
		st = tree_add(s, p->leaf.data, p->leaf.len, p->te.len, &err);
	if (st == FC_OK)
		st = publish(s, b->first, b->ts, &err);
	if (st != FC_OK)
		fc_log(LOG_CRIT,
		       "ctlog: sequencing %u entries failed, no longer accepting "
		       "submissions (restart to recover): %s",
		       b->count, err.msg);
	finish_batch(s, b->head, st, true);
	if (st == FC_OK)
		fc_log(LOG_DEBUG,
		       "ctlog: sequenced %u entries, tree size %llu (signed after %lld ms, "
		       "waited %lld ms, store %lld ms, publish %lld ms)",
		       b->count, (unsigned long long)s->tree.size,
		       (long long)(b->t_signed - b->t_cut), (long long)(t0 - b->t_signed),
		       (long long)(t_stored - t0), (long long)(fc_mono_ms() - t_stored));
}

/*
 * After a batch failed unstored (drop_unstored), wait until every batch
 * cut after it is answered, then give its indices again. Only the
 * sequencer calls this, with its new batch counted in batches_ahead.
 */
static void rewind_if_needed(struct ctlog_server *s)
{
	pthread_mutex_lock(&s->pipe_lock);
	if (s->rewinding) {
		while (s->batches_ahead > 1)
			pthread_cond_wait(&s->pipe_cond, &s->pipe_lock);
		s->next_index = s->rewind_to;
		s->rewinding = false;
	}
	pthread_mutex_unlock(&s->pipe_lock);
}

/*
 * Hand a cut batch on (the sequencer): indices and one timestamp (never
 * decreasing), TimestampedEntry and TileLeaf of each entry; then its
 * entries go to the signers and the batch to the integrator's queue.
 */
static void dispatch(struct ctlog_server *s, struct pending *list)
{
	struct batch *b = fc_xcalloc(1, sizeof(*b));
	struct pending *p;
	uint64_t ts;

	rewind_if_needed(s);
	ts = wall_ms();
	if (ts < s->last_ts)
		ts = s->last_ts;
	s->last_ts = ts;
	b->head = list;
	b->first = s->next_index;
	b->ts = ts;
	b->t_cut = fc_mono_ms();
	for (p = list; p != NULL; p = p->next) {
		p->batch = b;
		if (!b->failed && assign_entry(p, b->first + b->count, ts, &b->err) != FC_OK)
			b->failed = true;
		b->count++;
	}
	s->next_index += b->count;
	pthread_mutex_lock(&s->pipe_lock);
	if (s->int_tail)
		s->int_tail->next = b;
	else
		s->int_head = b;
	s->int_tail = b;
	if (b->failed) {
		b->t_signed = b->t_cut;
	} else {
		b->unsigned_left = b->count;
		for (p = list; p != NULL; p = p->next) {
			p->sign_next = NULL;
			if (s->sign_tail)
				s->sign_tail->sign_next = p;
			else
				s->sign_head = p;
			s->sign_tail = p;
		}
	}
	pthread_cond_broadcast(b->failed ? &s->pipe_cond : &s->sign_cond);
	pthread_mutex_unlock(&s->pipe_lock);
}

/* A signer: signs SCTs from the queue until the pipeline ends. */
static void *signer_main(void *arg)
{
	struct ctlog_server *s = arg;

	pthread_mutex_lock(&s->pipe_lock);
	for (;;) {
		struct pending *p;
		struct fc_err err = {0};
		enum fc_status st;

		while (s->sign_head == NULL && !s->pipe_stop)
			pthread_cond_wait(&s->sign_cond, &s->pipe_lock);
		if ((p = s->sign_head) == NULL)
			break;
		if ((s->sign_head = p->sign_next) == NULL)
			s->sign_tail = NULL;
		pthread_mutex_unlock(&s->pipe_lock);
		st = sign_entry(s, p, &err);
		pthread_mutex_lock(&s->pipe_lock);
		if (st != FC_OK && !p->batch->failed) {
			p->batch->failed = true;
			p->batch->err = err;
		}
		if (--p->batch->unsigned_left == 0) {
			p->batch->t_signed = fc_mono_ms();
			pthread_cond_broadcast(&s->pipe_cond);
		}
	}
	pthread_mutex_unlock(&s->pipe_lock);
	return NULL;
}

/* The integrator: stores, publishes and answers the batches in order, each
 * once its SCTs are signed, until the pipeline ends. */
static void *integrator_main(void *arg)
{
	struct ctlog_server *s = arg;

	pthread_mutex_lock(&s->pipe_lock);
	for (;;) {
		struct batch *b;

		while (!(s->int_head != NULL && s->int_head->unsigned_left == 0) &&
		       !(s->pipe_stop && s->int_head == NULL))
			pthread_cond_wait(&s->pipe_cond, &s->pipe_lock);
		if ((b = s->int_head) == NULL)
			break;
		if ((s->int_head = b->next) == NULL)
			s->int_tail = NULL;
		pthread_mutex_unlock(&s->pipe_lock);
		integrate(s, b);
		free(b);
		pthread_mutex_lock(&s->pipe_lock);
		s->batches_ahead--;
		pthread_cond_broadcast(&s->pipe_cond);
	}
	pthread_mutex_unlock(&s->pipe_lock);
	return NULL;
}

/* The sequencer waits until fewer than BATCHES_AHEAD batches are out. */
static void wait_for_room(struct ctlog_server *s)
{
	pthread_mutex_lock(&s->pipe_lock);
	while (s->batches_ahead >= BATCHES_AHEAD)
		pthread_cond_wait(&s->pipe_cond, &s->pipe_lock);
	s->batches_ahead++;
	pthread_mutex_unlock(&s->pipe_lock);
}

/* Take up to max_size entries off the pending queue (under s->lock). */
static struct pending *cut_batch_locked(struct ctlog_server *s)
{
	struct pending *batch = s->head, *last = s->head;
	size_t n = 1;

	while (n < s->max_size && last->next != NULL) {
		last = last->next;
		n++;
	}
	s->head = last->next;
	if (s->head == NULL)
		s->tail = NULL;
	last->next = NULL;
	s->n_pending -= n;
	return batch;
}

/*
 * The sequencer: cut a batch when the oldest pending entry is max_age old
 * or max_size entries are waiting (on stop, drain without waiting), once
 * there is room in the pipeline, and dispatch it. It signs nothing itself.
 * At the end it tells the signers and the integrator to finish.
 */
static void *sequencer_main(void *arg)
{
	struct ctlog_server *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct pending *batch;

		while (s->head == NULL && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->head == NULL)
			break;
		pthread_mutex_unlock(&s->lock);
		wait_for_room(s);
		pthread_mutex_lock(&s->lock);
		while (!s->stop && s->n_pending < s->max_size &&
		       !fc_deadline_expired(s->head->batch_due)) {
			struct timespec dl;

			fc_deadline_timespec(s->head->batch_due, &dl);
			pthread_cond_timedwait(&s->cond, &s->lock, &dl);
		}
		batch = cut_batch_locked(s);
		pthread_mutex_unlock(&s->lock);
		dispatch(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->pipe_lock);
	s->pipe_stop = true;
	pthread_cond_broadcast(&s->sign_cond);
	pthread_cond_broadcast(&s->pipe_cond);
	pthread_mutex_unlock(&s->pipe_lock);
	return NULL;
}

/* --- HTTP ------------------------------------------------------------------ */

static void handle_add(struct ctlog_server *s, struct fc_http_exchange *x, bool precert)
{
	struct ctlog_entry *e = NULL;
	struct fc_err err = {0};
	struct pending *p;
	const uint8_t *body;
	size_t len;
	uint64_t v;

	if (fc_http_body_too_large(x)) {
		char *m = fc_xasprintf("request body over %d bytes", CTLOG_SRV_MAX_BODY);
		respond_text(x, 400, m);
		free(m);
		return;
	}
	body = fc_http_body(x, &len);
	if (ctlog_entry_from_chain(s->roots, &s->pol, precert, body, len, &e, &err) != FC_OK) {
		fc_log(LOG_INFO, "ctlog: %s refused: %s", fc_http_path(x), err.msg);
		respond_text(x, 400, err.msg);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->broken || s->stop) {
		pthread_mutex_unlock(&s->lock);
		respond_busy(x, "the log is not accepting submissions");
		goto out;
	}
	if (ctlog_map_get(&s->committed, e->key, &v)) {
		struct ctlog_record r;
		uint8_t *buf = NULL;

		pthread_mutex_unlock(&s->lock);
		if (ctlog_elog_read(&s->elog, v, &buf, &r, &err) != FC_OK) {
			fc_log(LOG_ERR, "%s", err.msg);
			respond_text(x, 500, "internal error");
		} else {
			respond_sct(s, x, r.timestamp, r.leaf + r.te_len - CTLOG_EXT_LEN, r.sig,
				    r.sig_len);
		}
		free(buf);
		goto out;
	}
	if (ctlog_map_get(&s->inflight, e->key, &v)) {
		p = (struct pending *)(uintptr_t)v;
		p->xs = fc_xrealloc(p->xs, (p->n_xs + 1) * sizeof(*p->xs));
		p->xs[p->n_xs++] = x;
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	if (s->n_pending >= CTLOG_SRV_MAX_PENDING) {
		pthread_mutex_unlock(&s->lock);
		respond_busy(x, "too many pending submissions");
		goto out;
	}
	p = fc_xcalloc(1, sizeof(*p));
	p->e = e;
	e = NULL;
	p->xs = fc_xmalloc(sizeof(*p->xs));
	p->xs[0] = x;
	p->n_xs = 1;
	p->batch_due = fc_deadline_ms(s->max_age_ms);
	ctlog_map_put(&s->inflight, p->e->key, (uint64_t)(uintptr_t)p);
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	s->n_pending++;
	if (s->n_pending == 1 || s->n_pending >= s->max_size)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
out:
	ctlog_entry_free(e);
}

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* The read path: files under the storage directory, named as the URL. */
static void handle_read(struct ctlog_server *s, struct fc_http_exchange *x, const char *rel)
{
	const char *type = "application/octet-stream", *cache = CACHE_IMMUTABLE;
	int level;
	uint64_t n;
	unsigned w;
	char *path, *data = NULL;
	size_t len = 0;
	struct fc_err err = {0};
	enum fc_status st;

	if (strcmp(rel, "checkpoint") == 0) {
		type = "text/plain; charset=utf-8";
		cache = CACHE_CHECKPOINT;
	} else if (strncmp(rel, "issuer/", 7) == 0 && is_hex64(rel + 7)) {
		type = "application/pkix-cert";
	} else if (!ctlog_tile_path_parse(rel, &level, &n, &w)) {
		respond_text(x, 404, "not found");
		return;
	}
	path = fc_xasprintf("%s/%s", s->dir, rel);
	st = fc_read_file(path, CTLOG_MAX_FILE, &data, &len, &err);
	free(path);
	if (st == FC_ENOTFOUND) {
		respond_text(x, 404, "not found");
	} else if (st != FC_OK) {
		fc_log(LOG_ERR, "ctlog: read path: %s", err.msg);
		respond_text(x, 500, "internal error");
	} else {
		fc_http_add_header(x, "Cache-Control", cache);
		fc_http_add_header(x, "Access-Control-Allow-Origin", "*");
		fc_http_respond(x, 200, type, data, len);
	}
	free(data);
}

/* The HTTP handler (see ctlog.h). */
void ctlog_server_handle(void *ctx, struct fc_http_exchange *x)
{
	struct ctlog_server *s = ctx;
	const char *m = fc_http_method(x), *path = fc_http_path(x);
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
	size_t n = s->origin_path ? strlen(s->origin_path) : 0;

	/* The submission API is also where the origin says it is (the
	 * origin is the submission prefix without its scheme): a log with
	 * origin "localhost:6962/test" answers at /test/ct/v1/..., which is
	 * fulcrum serve's default --ct-log-url. */
	if (n > 0 && strncmp(path, s->origin_path, n) == 0 && strncmp(path + n, "/ct/v1/", 7) == 0)
		path += n;

	if (strcmp(path, "/ct/v1/add-chain") == 0 || strcmp(path, "/ct/v1/add-pre-chain") == 0) {
		if (!post)
			respond_text(x, 405, "use POST");
		else
			handle_add(s, x, strcmp(path, "/ct/v1/add-pre-chain") == 0);
	} else if (!get) {
		respond_text(x, 405, "use GET");
	} else if (strcmp(path, "/ct/v1/get-roots") == 0) {
		size_t len;
		const char *j = ctlog_roots_json(s->roots, &len);

		fc_http_respond(x, 200, "application/json", j, len);
	} else if (strcmp(path, "/healthz") == 0) {
		bool broken;

		pthread_mutex_lock(&s->lock);
		broken = s->broken;
		pthread_mutex_unlock(&s->lock);
		respond_text(x, broken ? 503 : 200, broken ? "broken" : "ok");
	} else if (path[0] == '/') {
		handle_read(s, x, path + 1);
	} else {
		respond_text(x, 404, "not found");
	}
}

/* --- opening: the consistency check ------------------------------------------ */

struct scan {
	struct ctlog_server *s;
	uint64_t keep_from; /* record offsets kept from this index on */
	uint64_t *offsets;
	size_t n_offsets;
	uint64_t max_ts;
};

static enum fc_status scan_record(void *ctx, const struct ctlog_record *r, struct fc_err *err)
{
	struct scan *sc = ctx;

	ctlog_map_put(&sc->s->committed, r->key, r->offset);
	if (r->timestamp > sc->max_ts)
		sc->max_ts = r->timestamp;
	if (r->index >= sc->keep_from) {
		sc->offsets = fc_xrealloc(sc->offsets, (sc->n_offsets + 1) * sizeof(uint64_t));
		sc->offsets[sc->n_offsets++] = r->offset;
	}
	return FC_OK;
}

/* Compare a stored tile with the bytes it should hold. */
static enum fc_status check_tile(struct ctlog_server *s, int level, uint64_t n, unsigned w,
				 const void *want, size_t want_len, struct fc_err *err)
{
	char *rel = ctlog_tile_path(level, n, w), *path = fc_xasprintf("%s/%s", s->dir, rel);
	char *data = NULL;
	size_t len = 0;
	enum fc_status st = fc_read_file(path, CTLOG_MAX_FILE, &data, &len, NULL);

	if (st != FC_OK)
		st = fc_err_set(err, FC_EIO, "ctlog: storage %s: tile %s is missing or unreadable",
				s->dir, rel);
	else if (len != want_len || memcmp(data, want, len) != 0)
		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: tile %s does not match the entry "
				"log",
				s->dir, rel);
	free(data);
	free(path);
	free(rel);
	return st;
}

/* Load the hashes of the partial tile (level >= 1) at size into the tree:
 * the partial tile, or the first w hashes of the full one. */
static enum fc_status load_partial(struct ctlog_server *s, int level, uint64_t size,
				   struct fc_err *err)
{
	unsigned w = ctlog_tile_width(size, level);
	uint64_t n = ctlog_tile_index(size, level);
	char *data = NULL;
	size_t len = 0;
	enum fc_status st = FC_OK;

	if (w == 0)
		return FC_OK;
	for (int full = 0; full < 2; full++) {
		char *rel = ctlog_tile_path(level, n, full ? 0 : w);
		char *path = fc_xasprintf("%s/%s", s->dir, rel);

		free(data);
		data = NULL;
		st = fc_read_file(path, CTLOG_MAX_FILE, &data, &len, NULL);
		free(path);
		free(rel);
		if (st == FC_OK)
			break;
	}
	if (st != FC_OK || len < (size_t)w * CTLOG_HASH_LEN) {
		char *rel = ctlog_tile_path(level, n, w);

		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: tile %s (needed by the checkpoint) "
				"is missing",
				s->dir, rel);
		free(rel);
	} else {
		memcpy(s->tree.lvl[level], data, (size_t)w * CTLOG_HASH_LEN);
	}
	free(data);
	return st;
}

/*
 * The stored checkpoint, verified with the log key: its size, root and
 * timestamp. A fresh directory (no checkpoint, an empty entry log) gives
 * *fresh; entries without a checkpoint are FC_EIO, as is a checkpoint that
 * does not verify, with the reason.
 */
static enum fc_status read_checkpoint(struct ctlog_server *s, const char *elog_path, uint64_t *size,
				      uint8_t root[CTLOG_HASH_LEN], uint64_t *ts, bool *fresh,
				      struct fc_err *err)
{
	char *path = fc_xasprintf("%s/checkpoint", s->dir), *note = NULL;
	size_t note_len = 0;
	struct fc_err why = {0};
	struct stat sb;
	enum fc_status st = fc_read_file(path, 64 * 1024, &note, &note_len, &why);

	*fresh = false;
	if (st == FC_ENOTFOUND && stat(elog_path, &sb) == 0 && sb.st_size > 0) {
		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: the entry log has entries but there "
				"is no checkpoint",
				s->dir);
	} else if (st == FC_ENOTFOUND) {
		*fresh = true;
		*size = *ts = 0;
		memset(root, 0, CTLOG_HASH_LEN);
		st = FC_OK;
	} else if (st != FC_OK) {
		st = fc_err_set(err, FC_EIO, "ctlog: storage %s: %s", s->dir, why.msg);
	} else if (ctlog_checkpoint_verify(note, note_len, s->origin, s->pub, s->log_id, size, root,
					   ts, &why) != FC_OK) {
		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: %s (another --origin or "
				"--private-key than the log was created with?)",
				s->dir, why.msg);
	}
	free(note);
	free(path);
	return st;
}

/*
 * The entries of the last data tile at size, from the entry log (offsets
 * from check_from on in sc): their hashes and TileLeafs must be what the
 * stored level-0 and data tiles hold; a partial tile becomes the tree's
 * right edge at level 0 and the current data tile. FC_EIO with the reason.
 */
static enum fc_status load_last_tile(struct ctlog_server *s, const struct scan *sc,
				     uint64_t check_from, uint64_t size, struct fc_err *err)
{
	ctlog_hash *hashes = fc_xcalloc(CTLOG_TILE_WIDTH, sizeof(*hashes));
	unsigned w = (unsigned)(size - check_from) % CTLOG_TILE_WIDTH;
	uint64_t n = check_from / CTLOG_TILE_WIDTH;
	struct fc_buf data;
	enum fc_status st = FC_OK;

	fc_buf_init(&data, 0);
	for (uint64_t i = check_from; i < size && st == FC_OK; i++) {
		struct ctlog_record r;
		uint8_t *buf = NULL;

		st = ctlog_elog_read(&s->elog, sc->offsets[i - check_from], &buf, &r, err);
		if (st == FC_OK) {
			leaf_hash(r.leaf, r.te_len, hashes[i - check_from]);
			fc_buf_append(&data, r.leaf, r.leaf_len);
		}
		free(buf);
	}
	if (st == FC_OK && size > check_from &&
	    (st = check_tile(s, 0, n, w, hashes, (size - check_from) * CTLOG_HASH_LEN, err)) ==
		    FC_OK &&
	    (st = check_tile(s, -1, n, w, data.data, data.len, err)) == FC_OK && w != 0) {
		memcpy(s->tree.lvl[0], hashes, (size_t)w * CTLOG_HASH_LEN);
		fc_buf_append(&s->data_tile, data.data, data.len);
	}
	fc_buf_free(&data);
	free(hashes);
	return st;
}

/*
 * Entries stored after the last checkpoint (their batch was durable, the
 * process died before publishing it): add them to the tree and publish,
 * as a fresh log publishes its empty tree.
 */
static enum fc_status publish_stored(struct ctlog_server *s, const struct scan *sc,
				     uint64_t check_from, uint64_t size, bool fresh,
				     struct fc_err *err)
{
	enum fc_status st = FC_OK;

	for (uint64_t i = size; i < s->elog.count && st == FC_OK; i++) {
		struct ctlog_record r;
		uint8_t *buf = NULL;

		st = ctlog_elog_read(&s->elog, sc->offsets[i - check_from], &buf, &r, err);
		if (st == FC_OK)
			st = tree_add(s, r.leaf, r.leaf_len, r.te_len, err);
		free(buf);
	}
	if (st != FC_OK || (!fresh && s->elog.count == size))
		return st;
	if (s->elog.count > size)
		fc_log(LOG_NOTICE,
		       "ctlog: publishing %llu entries stored after the last checkpoint",
		       (unsigned long long)(s->elog.count - size));
	if (s->last_ts < wall_ms())
		s->last_ts = wall_ms();
	return publish(s, size, s->last_ts, err);
}

/*
 * Bring the in-memory state back from storage and check it (see ctlog.h):
 * the checkpoint, the entry log, the tiles at the checkpoint's size; then
 * publish entries stored after that checkpoint.
 */
static enum fc_status restore(struct ctlog_server *s, struct fc_err *err)
{
	char *elog_path = fc_xasprintf("%s/entries.log", s->dir);
	uint64_t size = 0, cp_ts = 0, check_from;
	uint8_t root[CTLOG_HASH_LEN], got[CTLOG_HASH_LEN];
	struct scan sc = {.s = s};
	enum fc_status st;
	bool fresh = false;

	if ((st = read_checkpoint(s, elog_path, &size, root, &cp_ts, &fresh, err)) != FC_OK)
		goto out;
	check_from = size == 0 ? 0 : (size - 1) / CTLOG_TILE_WIDTH * CTLOG_TILE_WIDTH;
	sc.keep_from = check_from;
	if ((st = ctlog_elog_open(elog_path, size, scan_record, &sc, &s->elog, err)) != FC_OK)
		goto out;
	if (s->elog.count < size) {
		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: the entry log is truncated: it "
				"holds %llu entries, the checkpoint says %llu",
				s->dir, (unsigned long long)s->elog.count,
				(unsigned long long)size);
		goto out;
	}
	s->last_ts = cp_ts > sc.max_ts ? cp_ts : sc.max_ts;
	/* levels >= 1 from the tiles, level 0 and the data tile from the log */
	for (int l = 1; l < CTLOG_TILE_LEVELS; l++)
		if ((st = load_partial(s, l, size, err)) != FC_OK)
			goto out;
	if ((st = load_last_tile(s, &sc, check_from, size, err)) != FC_OK)
		goto out;
	s->tree.size = size;
	ctlog_tree_root(&s->tree, got);
	if (!fresh && memcmp(got, root, CTLOG_HASH_LEN) != 0) {
		st = fc_err_set(err, FC_EIO,
				"ctlog: storage %s: the checkpoint's root hash (size %llu) "
				"does not match the tiles and the entry log",
				s->dir, (unsigned long long)size);
		goto out;
	}
	if ((st = publish_stored(s, &sc, check_from, size, fresh, err)) != FC_OK)
		goto out;
	fc_log(LOG_NOTICE, "ctlog: %s: tree size %llu, %zu accepted root%s", s->dir,
	       (unsigned long long)s->tree.size, ctlog_roots_count(s->roots),
	       ctlog_roots_count(s->roots) == 1 ? "" : "s");
out:
	free(sc.offsets);
	free(elog_path);
	return st;
}

/* The integrator, the signers (n, 0 = one per CPU) and the sequencer. */
static enum fc_status start_threads(struct ctlog_server *s, unsigned n, struct fc_err *err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (n == 0)
		n = cpus > 0 ? (unsigned)cpus : 1;
	if (n > MAX_SIGNERS)
		n = MAX_SIGNERS;
	/* named, so that each one's CPU time can be read per thread (/proc) */
	if (pthread_create(&s->integrator, NULL, integrator_main, s) != 0)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: cannot start the integrator thread");
	s->integrator_started = true;
	pthread_setname_np(s->integrator, "ctlog-store");
	s->signers = fc_xcalloc(n, sizeof(*s->signers));
	for (; s->n_signers < n; s->n_signers++) {
		if (pthread_create(&s->signers[s->n_signers], NULL, signer_main, s) != 0)
			return fc_err_set(err, FC_EINTERNAL, "ctlog: cannot start a signer thread");
		pthread_setname_np(s->signers[s->n_signers], "ctlog-sign");
	}
	if (pthread_create(&s->thread, NULL, sequencer_main, s) != 0)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: cannot start the sequencer thread");
	s->thread_started = true;
	pthread_setname_np(s->thread, "ctlog-seq");
	return FC_OK;
}

/* Stop the pipeline: the sequencer drains the pending queue and then ends
 * the signers and the integrator, which finish what they hold. */
static void stop_threads(struct ctlog_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->pipe_lock);
	s->pipe_stop = true; /* already, unless the sequencer never started */
	pthread_cond_broadcast(&s->sign_cond);
	pthread_cond_broadcast(&s->pipe_cond);
	pthread_mutex_unlock(&s->pipe_lock);
	for (unsigned i = 0; i < s->n_signers; i++)
		pthread_join(s->signers[i], NULL);
	if (s->integrator_started)
		pthread_join(s->integrator, NULL);
	free(s->signers);
	s->signers = NULL;
	s->n_signers = 0;
}

/* See ctlog.h. */
enum fc_status ctlog_server_open(const struct ctlog_server_config *cfg, struct ctlog_server **out,
				 struct fc_err *err)
{
	struct ctlog_server *s = fc_xcalloc(1, sizeof(*s));
	char *p = NULL;
	pthread_condattr_t ca;
	enum fc_status st = FC_ECONFIG;

	s->lock_fd = -1;
	s->elog.fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->pipe_lock, NULL);
	pthread_cond_init(&s->pipe_cond, NULL);
	pthread_cond_init(&s->sign_cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	fc_buf_init(&s->data_tile, 0);
	if (cfg->storage_dir == NULL || cfg->origin == NULL || cfg->origin[0] == '\0' ||
	    cfg->roots_path == NULL || cfg->signer == NULL) {
		fc_err_set(err, FC_ECONFIG,
			   "ctlog: storage directory, origin, roots and key are "
			   "required");
		goto out;
	}
	if (strpbrk(cfg->origin, "\n ") != NULL || strstr(cfg->origin, "://") != NULL ||
	    cfg->origin[strlen(cfg->origin) - 1] == '/') {
		fc_err_set(err, FC_ECONFIG,
			   "ctlog: origin \"%s\": the submission prefix without "
			   "scheme or trailing slash (static-ct-api), e.g. "
			   "\"ct.example.com/2026\"",
			   cfg->origin);
		goto out;
	}
	if (hsm_signer_kind(cfg->signer) != HSM_KEY_EC_P256) {
		fc_err_set(err, FC_ECONFIG, "ctlog: the log key must be ECDSA P-256 (%s)",
			   hsm_signer_description(cfg->signer));
		goto out;
	}
	s->dir = fc_xstrdup(cfg->storage_dir);
	s->origin = fc_xstrdup(cfg->origin);
	s->origin_path = strchr(s->origin, '/');
	s->signer = cfg->signer;
	s->pub = hsm_signer_public_key(cfg->signer);
	s->max_age_ms =
		cfg->batch_max_age_ms ? cfg->batch_max_age_ms : CTLOG_SRV_DEFAULT_BATCH_AGE_MS;
	s->max_size = cfg->batch_max_size ? cfg->batch_max_size : CTLOG_SRV_DEFAULT_BATCH_SIZE;
	if (s->max_size > CTLOG_SRV_MAX_BATCH)
		s->max_size = CTLOG_SRV_MAX_BATCH;
	s->pol.eku_mask = cfg->eku_mask;
	s->pol.has_not_after_start = cfg->has_not_after_start;
	s->pol.not_after_start = cfg->not_after_start;
	s->pol.has_not_after_limit = cfg->has_not_after_limit;
	s->pol.not_after_limit = cfg->not_after_limit;
	if (ct_key_hash(s->pub, s->log_id) != FC_OK) {
		fc_err_set(err, FC_ECONFIG, "ctlog: cannot encode the log's public key");
		goto out;
	}
	s->log_id_b64 = fc_b64_encode(s->log_id, CTLOG_HASH_LEN);
	if ((st = ctlog_roots_load(cfg->roots_path, &s->roots, err)) != FC_OK)
		goto out;
	st = FC_EIO;
	p = fc_xasprintf("%s/.tmp", s->dir);
	if ((mkdir(s->dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(p, 0700) != 0 && errno != EEXIST)) {
		fc_err_set(err, FC_EIO, "ctlog: storage %s: %s", s->dir, strerror(errno));
		goto out;
	}
	free(p);
	p = fc_xasprintf("%s/.lock", s->dir);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		fc_err_set(err, FC_EIO,
			   "ctlog: storage %s: cannot lock (another fulcrum ctlog uses "
			   "it?): %s",
			   s->dir, strerror(errno));
		goto out;
	}
	if ((st = restore(s, err)) != FC_OK)
		goto out;
	s->next_index = s->tree.size;
	if ((st = start_threads(s, cfg->sign_threads, err)) != FC_OK)
		goto out;
	*out = s;
	s = NULL;
	st = FC_OK;
out:
	free(p);
	ctlog_server_free(s);
	return st;
}

/* See ctlog.h. */
void ctlog_server_free(struct ctlog_server *s)
{
	if (s == NULL)
		return;
	stop_threads(s);
	while (s->head != NULL) { /* only if the sequencer never ran */
		struct pending *p = s->head;

		s->head = p->next;
		for (size_t i = 0; i < p->n_xs; i++)
			respond_busy(p->xs[i], "the log is stopping");
		pending_free(p);
	}
	ctlog_elog_close(&s->elog);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	ctlog_map_free(&s->committed);
	ctlog_map_free(&s->inflight);
	ctlog_map_free(&s->issuers);
	ctlog_fileset_clear(&s->fs);
	free(s->done);
	fc_buf_free(&s->data_tile);
	ctlog_roots_free(s->roots);
	free(s->log_id_b64);
	free(s->dir);
	free(s->origin);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->pipe_cond);
	pthread_cond_destroy(&s->sign_cond);
	pthread_mutex_destroy(&s->pipe_lock);
	free(s);
}
