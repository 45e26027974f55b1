/*
 * The signer process: it alone loads the key (cmd/ says how), reads
 * requests from the network process, checks what it is asked to sign
 * (policy_*.c, serials.c), journals certificates and signs.
 *
 * Threads: the main thread reads and checks requests, in order; a
 * certificate's intent record then goes to the journal, whose thread hands
 * the request to a signing thread once the record is durable; the signing
 * thread signs and queues the outcome record, and the journal's thread
 * answers once that record is durable (written, for a precertificate,
 * whose signature goes to a CT log, not to a client). A log's requests go
 * straight from the main thread to a signing thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "signer_int.h"

/* A key loaded by KEY_LOAD, shared by the requests that use it. */
struct sg_key {
	uint32_t id;
	struct hsm_signer *signer;
	struct sg_ca_policy pol;
	atomic_uint refs;
	struct sg_key *next;
};

struct job;

struct sg_server {
	const struct signer_config *cfg;
	int fd;
	pthread_mutex_t wlock;	 /* one answer at a time on fd */
	struct fc_buf jout;	 /* answers of the journal's batch, sent at its end */
	struct sg_key *keys;	 /* main thread only */
	struct journal *journal; /* CA: opened at the first KEY_LOAD */
	struct sg_serials *serials;
	pthread_mutex_t qlock; /* the signing threads' queue */
	pthread_cond_t qcond;
	struct job *qhead, **qtail;
	bool stop;
	pthread_t *workers;
	unsigned n_workers;
	atomic_int exit_status; /* set by a fatal failure off the main thread */
	pthread_mutex_t dlock;	/* guards inflight, for the wait at the end */
	pthread_cond_t dcond;
	unsigned inflight; /* jobs not yet answered */
	atomic_ulong refusals[SIGNER_REFUSE_COUNT];
	/* the read buffer */
	uint8_t in[64 * 1024];
	size_t in_start, in_end;
};

/* One SIGN request on its way. */
struct job {
	struct job *next;
	struct sg_server *srv;
	struct sg_key *key; /* a reference */
	uint32_t req_id;
	uint8_t *payload; /* owned; req points into it */
	struct sg_sign_req req;
	struct sg_cert_info info;
	uint64_t intent_seq;
	uint8_t *sig;
	size_t sig_len;
	struct fc_err err; /* why signing failed */
	enum fc_status st;
};

static void key_unref(struct sg_key *k)
{
	if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	hsm_signer_free(k->signer);
	free(k->pol.issuer_name);
	free(k->pol.issuer_skid);
	free(k);
}

/* Free an answered (or refused) job; the last one wakes the end of
 * signer_serve. */
static void job_free(struct job *j)
{
	struct sg_server *s;

	if (j == NULL)
		return;
	s = j->srv;
	key_unref(j->key);
	free(j->payload);
	free(j->sig);
	free(j);
	pthread_mutex_lock(&s->dlock);
	if (--s->inflight == 0)
		pthread_cond_broadcast(&s->dcond);
	pthread_mutex_unlock(&s->dlock);
}

/* --- answers --------------------------------------------------------------------- */

/* Send the messages in b; a failure (the network process is gone) is left
 * to the main thread, which sees the socket close. */
static void send_buf(struct sg_server *s, const struct fc_buf *b)
{
	size_t off = 0;

	pthread_mutex_lock(&s->wlock);
	while (off < b->len) {
		ssize_t n = send(s->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	pthread_mutex_unlock(&s->wlock);
}

/* One message, sent now (out NULL) or queued in out. */
static void send_msg_to(struct sg_server *s, struct fc_buf *out, uint16_t type, uint32_t req_id,
			uint32_t key_id, const struct fc_buf *payload)
{
	struct fc_buf b;

	if (out != NULL) {
		sg_msg_encode(out, type, req_id, key_id, payload ? payload->data : NULL,
			      payload ? payload->len : 0);
		return;
	}
	fc_buf_init(&b, 0);
	sg_msg_encode(&b, type, req_id, key_id, payload ? payload->data : NULL,
		      payload ? payload->len : 0);
	send_buf(s, &b);
	fc_buf_free(&b);
}

static void send_msg(struct sg_server *s, uint16_t type, uint32_t req_id, uint32_t key_id,
		     const struct fc_buf *payload)
{
	send_msg_to(s, NULL, type, req_id, key_id, payload);
}

static void send_code_to(struct sg_server *s, struct fc_buf *out, uint16_t type, uint32_t req_id,
			 uint32_t key_id, uint16_t code, const char *text)
{
	struct fc_buf p;

	fc_buf_init(&p, 0);
	sg_code_text_encode(&p, code, text);
	send_msg_to(s, out, type, req_id, key_id, &p);
	fc_buf_free(&p);
}

static void send_code(struct sg_server *s, uint16_t type, uint32_t req_id, uint32_t key_id,
		      uint16_t code, const char *text)
{
	send_code_to(s, NULL, type, req_id, key_id, code, text);
}

static void send_signed_to(struct job *j, struct fc_buf *out)
{
	struct fc_buf p;

	fc_buf_init(&p, 0);
	fc_buf_put_vec(&p, 2, j->sig, j->sig_len);
	send_msg_to(j->srv, out, SIGNER_MSG_SIGNED, j->req_id, j->key->id, &p);
	fc_buf_free(&p);
}

/* The journal's batch is complete: send the answers it queued at once. */
static void batch_done(void *arg)
{
	struct sg_server *s = arg;

	if (s->jout.len > 0)
		send_buf(s, &s->jout);
	fc_buf_reset(&s->jout);
}

/* A fatal failure off the main thread: stop reading (the main thread then
 * winds down) and exit with status. */
static void fatal(struct sg_server *s, int status)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&s->exit_status, &none, status))
		shutdown(s->fd, SHUT_RD);
}

/* --- signing threads ------------------------------------------------------------------- */

static void queue_push(struct sg_server *s, struct job *j)
{
	pthread_mutex_lock(&s->qlock);
	j->next = NULL;
	*s->qtail = j;
	s->qtail = &j->next;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
}

/* SHA-256 of the certificate tbs and sig make: SEQUENCE { tbs, the
 * signature algorithm (the TBS's own), BIT STRING sig } (RFC 5280 4.1). */
static void cert_hash(const struct job *j, uint8_t out[32])
{
	const uint8_t *tbs = j->req.msg;
	size_t tbs_len = j->req.msg_len, alg_len = j->key->pol.sig_alg_len;
	size_t bits = 1 + j->sig_len, body, off = 0;
	uint8_t hdr[8], *der;
	size_t hl = 0;

	body = tbs_len + alg_len + 1 + (bits < 128 ? 1 : bits < 256 ? 2 : 3) + bits;
	der = fc_xmalloc(body + 8);
	hdr[hl++] = DER_SEQUENCE;
	if (body < 128) {
		hdr[hl++] = (uint8_t)body;
	} else if (body < 256) {
		hdr[hl++] = 0x81;
		hdr[hl++] = (uint8_t)body;
	} else if (body < 65536) {
		hdr[hl++] = 0x82;
		hdr[hl++] = (uint8_t)(body >> 8);
		hdr[hl++] = (uint8_t)body;
	} else {
		hdr[hl++] = 0x83;
		hdr[hl++] = (uint8_t)(body >> 16);
		hdr[hl++] = (uint8_t)(body >> 8);
		hdr[hl++] = (uint8_t)body;
	}
	memcpy(der, hdr, hl), off = hl;
	memcpy(der + off, tbs, tbs_len), off += tbs_len;
	memcpy(der + off, j->key->pol.sig_alg, alg_len), off += alg_len;
	der[off++] = DER_BIT_STRING;
	if (bits >= 128)
		der[off++] = bits < 256 ? 0x81 : 0x82;
	if (bits >= 256)
		der[off++] = (uint8_t)(bits >> 8);
	der[off++] = (uint8_t)bits;
	der[off++] = 0; /* no unused bits */
	memcpy(der + off, j->sig, j->sig_len), off += j->sig_len;
	sg_sha256(der, off, out);
	free(der);
}

/* The journal's completion of an outcome (on its thread): queue the
 * answer, sent with the others of the batch (batch_done). */
static void outcome_done(void *arg, enum fc_status st, uint64_t seq)
{
	struct job *j = arg;
	struct fc_buf *out = &j->srv->jout;

	(void)seq;
	if (st != FC_OK) {
		send_code_to(j->srv, out, SIGNER_MSG_FAILED, j->req_id, j->key->id, FC_EUNAVAIL,
			     "signer: the issuance journal failed");
		fatal(j->srv, SIGNER_EXIT_JOURNAL);
	} else if (j->st == FC_OK) {
		send_signed_to(j, out);
	} else {
		send_code_to(j->srv, out, SIGNER_MSG_FAILED, j->req_id, j->key->id, (uint16_t)j->st,
			     j->err.msg);
	}
	job_free(j);
}

/* Journal what came of a certificate's signature; outcome_done answers. */
static void journal_outcome(struct job *j)
{
	struct journal_outcome o = {
		.intent_seq = j->intent_seq,
		.kind = j->req.kind == HSM_SIGN_PRECERT ? JOURNAL_PRECERT : JOURNAL_CERT,
		.serial = j->info.serial,
		.serial_len = j->info.serial_len,
		.ok = j->st == FC_OK,
		.scts = j->info.scts,
		.n_scts = j->info.n_scts,
		.error = j->err.msg,
	};

	if (o.ok)
		cert_hash(j, o.cert_sha256);
	/* A client only ever receives a final certificate, after its outcome
	 * is durable; a precertificate's goes to the CT log once written. */
	journal_append_outcome(j->srv->journal, &o,
			       o.kind == JOURNAL_PRECERT && o.ok ? JOURNAL_WRITTEN
								 : JOURNAL_DURABLE,
			       outcome_done, j);
}

static void sign_job(struct job *j)
{
	j->st = hsm_sign(j->key->signer, j->req.msg, j->req.msg_len, &j->sig, &j->sig_len, &j->err);
	if (j->st != FC_OK)
		fc_log(LOG_ERR, "signer: key %u: %s", j->key->id, j->err.msg);
	if (j->srv->cfg->role == SIGNER_ROLE_CA) {
		journal_outcome(j);
		return;
	}
	if (j->st == FC_OK)
		send_signed_to(j, NULL);
	else
		send_code(j->srv, SIGNER_MSG_FAILED, j->req_id, j->key->id, (uint16_t)j->st,
			  j->err.msg);
	job_free(j);
}

static void *worker(void *arg)
{
	struct sg_server *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->qlock);
		while (s->qhead == NULL && !s->stop)
			pthread_cond_wait(&s->qcond, &s->qlock);
		j = s->qhead;
		if (j != NULL) {
			s->qhead = j->next;
			if (s->qhead == NULL)
				s->qtail = &s->qhead;
		}
		pthread_mutex_unlock(&s->qlock);
		if (j == NULL)
			return NULL;
		sign_job(j);
	}
}

/* The journal's completion of an intent: sign. */
static void intent_done(void *arg, enum fc_status st, uint64_t seq)
{
	struct job *j = arg;

	if (st != FC_OK) {
		send_code_to(j->srv, &j->srv->jout, SIGNER_MSG_FAILED, j->req_id, j->key->id,
			     FC_EUNAVAIL, "signer: the issuance journal failed");
		fatal(j->srv, SIGNER_EXIT_JOURNAL);
		job_free(j);
		return;
	}
	j->intent_seq = seq;
	/* A key in memory signs in microseconds: here, on the journal's
	 * thread, sparing two thread switches; an HSM's signature waits on a
	 * signing thread. */
	if (hsm_signer_in_process(j->key->signer))
		sign_job(j);
	else
		queue_push(j->srv, j);
}

/* --- checks ------------------------------------------------------------------------------ */

/* A copy of n bytes as a NUL-terminated string (for the journal). */
static char *cstr(const uint8_t *p, size_t n)
{
	return fc_xstrndup(p ? (const char *)p : "", p ? n : 0);
}

static void journal_intent(struct job *j)
{
	struct journal_intent in = {
		.kind = j->req.kind == HSM_SIGN_PRECERT ? JOURNAL_PRECERT : JOURNAL_CERT,
		.serial = j->info.serial,
		.serial_len = j->info.serial_len,
		.san_type = j->info.san_type,
		.token_id = j->req.token_id,
		.key_id = j->key->id,
	};
	char *san = cstr(j->info.san, j->info.san_len);
	char *issuer = cstr(j->info.issuer, j->info.issuer_len);

	in.san = san;
	in.issuer = issuer;
	sg_sha256(j->info.spki, j->info.spki_len, in.spki_sha256);
	sg_sha256(j->req.msg, j->req.msg_len, in.tbs_sha256);
	journal_append_intent(j->srv->journal, &in, intent_done, j);
	free(san);
	free(issuer);
}

/* A printable token id (oidc's: a short jti, or a hash prefix). */
static bool token_id_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > HSM_SIGN_MAX_TOKEN_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return false;
	return true;
}

static enum signer_refusal check_job(struct sg_server *s, struct job *j, char *why, size_t n)
{
	int64_t now = fc_now();
	enum signer_refusal rf;

	if (s->cfg->role == SIGNER_ROLE_LOG) {
		if (j->req.kind == HSM_SIGN_SCT)
			return sg_check_sct(j->req.msg, j->req.msg_len, fc_now_ms(), why, n);
		if (j->req.kind == HSM_SIGN_CHECKPOINT)
			return sg_check_checkpoint(s->cfg->origin, j->req.msg, j->req.msg_len,
						   j->req.note, fc_now_ms(), why, n);
		return sg_refuse(SIGNER_REFUSE_KIND, why, n,
				 "a log signs SCTs and checkpoints only");
	}
	if ((rf = sg_check_cert(&j->key->pol, j->req.kind, j->req.msg, j->req.msg_len, now,
				&j->info, why, n)) != SIGNER_OK)
		return rf;
	if (!token_id_ok(j->req.token_id))
		return sg_refuse(SIGNER_REFUSE_TOKEN_ID, why, n, "no printable token id");
	return sg_serials_claim(s->serials, &j->info, now, why, n);
}

static const char *kind_name(enum hsm_sign_kind k)
{
	switch (k) {
	case HSM_SIGN_PRECERT: return "precertificate";
	case HSM_SIGN_CERT: return "certificate";
	case HSM_SIGN_SCT: return "SCT";
	case HSM_SIGN_CHECKPOINT: return "checkpoint";
	default: return "message without a kind";
	}
}

/* SIGN: check, then journal (CA) or sign (log). Takes payload. */
static void handle_sign(struct sg_server *s, const struct sg_msg *m, uint8_t *payload,
			struct sg_key *key)
{
	struct job *j = fc_xcalloc(1, sizeof(*j));
	char why[256] = "";
	enum signer_refusal rf;

	j->srv = s;
	pthread_mutex_lock(&s->dlock);
	s->inflight++;
	pthread_mutex_unlock(&s->dlock);
	j->req_id = m->req_id;
	j->payload = payload;
	j->key = key;
	atomic_fetch_add(&key->refs, 1);
	if (!sg_sign_req_decode(payload, m->len, &j->req)) {
		job_free(j);
		fc_log(LOG_CRIT, "signer: a malformed SIGN request: exiting");
		_exit(SIGNER_EXIT_PROTOCOL);
	}
	if ((rf = check_job(s, j, why, sizeof(why))) != SIGNER_OK) {
		fc_log(LOG_CRIT, "signer: REFUSED to sign a %s with key %u: %s: %s",
		       kind_name(j->req.kind), key->id, signer_refusal_name(rf), why);
		atomic_fetch_add(&s->refusals[rf], 1);
		send_code(s, SIGNER_MSG_REFUSED, m->req_id, key->id, (uint16_t)rf, why);
		job_free(j);
		return;
	}
	if (s->cfg->role == SIGNER_ROLE_CA)
		journal_intent(j);
	else
		queue_push(s, j);
}

/* --- keys ----------------------------------------------------------------------------------- */

static struct sg_key *key_find(struct sg_server *s, uint32_t id)
{
	for (struct sg_key *k = s->keys; k != NULL; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static int key_count(const struct sg_server *s)
{
	int n = 0;

	for (const struct sg_key *k = s->keys; k != NULL; k = k->next)
		n++;
	return n;
}

/* The CA policy of a key from the first certificate of its chain, which
 * must hold the key's public half. */
static enum fc_status ca_policy(struct sg_server *s, struct sg_key *k, const char *chain,
				struct fc_err *err)
{
	BIO *bio = BIO_new_mem_buf(chain, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	const ASN1_OCTET_STRING *skid;
	unsigned char *der = NULL;
	int len;
	enum fc_status st = FC_ECONFIG;

	if (cert == NULL ||
	    EVP_PKEY_eq(X509_get0_pubkey(cert), hsm_signer_public_key(k->signer)) != 1) {
		fc_err_set(err, FC_ECONFIG,
			   "signer: the chain's first certificate is not the key's");
		goto out;
	}
	if ((len = i2d_X509_NAME(X509_get_subject_name(cert), &der)) <= 0) {
		fc_err_set(err, FC_ECONFIG, "signer: cannot encode the issuing CA's name");
		goto out;
	}
	k->pol.issuer_name = fc_xmalloc((size_t)len);
	memcpy(k->pol.issuer_name, der, (size_t)len);
	k->pol.issuer_name_len = (size_t)len;
	if ((skid = X509_get0_subject_key_id(cert)) != NULL && ASN1_STRING_length(skid) > 0) {
		k->pol.issuer_skid_len = (size_t)ASN1_STRING_length(skid);
		k->pol.issuer_skid = fc_xmalloc(k->pol.issuer_skid_len);
		memcpy(k->pol.issuer_skid, ASN1_STRING_get0_data(skid), k->pol.issuer_skid_len);
	}
	k->pol.sig_alg = sg_sig_alg_der(hsm_signer_signature_nid(k->signer), &k->pol.sig_alg_len);
	k->pol.lifetime_s = s->cfg->lifetime_s;
	k->pol.ct = s->cfg->ct;
	st = k->pol.sig_alg != NULL
		     ? FC_OK
		     : fc_err_set(err, FC_ECONFIG, "signer: unknown signature algorithm");
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(bio);
	return st;
}

/* The KEY_INFO answer for k. */
static void send_key_info(struct sg_server *s, uint32_t req_id, struct sg_key *k, const char *chain)
{
	unsigned char *spki = NULL;
	int len = i2d_PUBKEY(hsm_signer_public_key(k->signer), &spki);
	struct fc_buf p;

	fc_buf_init(&p, 0);
	sg_key_info_encode(&p, (uint8_t)hsm_signer_padding(k->signer), spki,
			   len > 0 ? (size_t)len : 0, chain, chain ? strlen(chain) : 0);
	send_msg(s, SIGNER_MSG_KEY_INFO, req_id, k->id, &p);
	fc_buf_free(&p);
	OPENSSL_free(spki);
}

/* The journal, opened with the first key (a key that does not load opens
 * nothing). */
static enum fc_status open_journal(struct sg_server *s, struct fc_err *err)
{
	enum fc_status st;

	if (s->journal != NULL)
		return FC_OK;
	if ((st = journal_open(s->cfg->journal_dir, &s->journal, err)) == FC_OK)
		journal_on_batch(s->journal, batch_done, s);
	return st;
}

/* KEY_LOAD: load the configured key (cmd/), open the journal if it is not
 * yet, and answer with the public key and the chain. */
static void handle_key_load(struct sg_server *s, const struct sg_msg *m)
{
	struct signer_key loaded = {0};
	struct fc_err err = {0};
	struct sg_key *k = NULL;
	enum fc_status st;

	if (key_find(s, m->key_id) != NULL || key_count(s) >= SIGNER_MAX_KEYS) {
		st = fc_err_set(&err, FC_EINTERNAL, "signer: key id %u is in use, or %d keys are",
				m->key_id, SIGNER_MAX_KEYS);
		goto out;
	}
	if ((st = s->cfg->load(s->cfg->load_arg, &loaded, &err)) != FC_OK)
		goto out;
	k = fc_xcalloc(1, sizeof(*k));
	k->id = m->key_id;
	k->signer = loaded.signer;
	loaded.signer = NULL;
	atomic_init(&k->refs, 1);
	if (s->cfg->role == SIGNER_ROLE_CA &&
	    ((st = ca_policy(s, k, loaded.chain_pem ? loaded.chain_pem : "", &err)) != FC_OK ||
	     (st = open_journal(s, &err)) != FC_OK))
		goto out;
	k->next = s->keys;
	s->keys = k;
	fc_log(LOG_INFO, "signer: key %u: %s", k->id, hsm_signer_description(k->signer));
	send_key_info(s, m->req_id, k, loaded.chain_pem);
	k = NULL;
out:
	if (st != FC_OK)
		send_code(s, SIGNER_MSG_FAILED, m->req_id, m->key_id, (uint16_t)st, err.msg);
	key_unref(k);
	hsm_signer_free(loaded.signer);
	free(loaded.chain_pem);
}

static void handle_key_release(struct sg_server *s, uint32_t id)
{
	for (struct sg_key **pp = &s->keys; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct sg_key *k = *pp;
			*pp = k->next;
			fc_log(LOG_INFO, "signer: key %u released", id);
			key_unref(k);
			return;
		}
	}
}

/* --- the main thread -------------------------------------------------------------------- */

/* Read exactly n bytes into dst through the read buffer; false at EOF or
 * on an error. */
static bool read_in(struct sg_server *s, uint8_t *dst, size_t n)
{
	while (n > 0) {
		size_t have = s->in_end - s->in_start;
		if (have == 0) {
			ssize_t got = read(s->fd, s->in, sizeof(s->in));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return false;
			s->in_start = 0;
			s->in_end = (size_t)got;
			continue;
		}
		if (have > n)
			have = n;
		memcpy(dst, s->in + s->in_start, have);
		s->in_start += have;
		dst += have;
		n -= have;
	}
	return true;
}

static void protocol_violation(const char *what, const struct sg_msg *m)
{
	fc_log(LOG_CRIT,
	       "signer: protocol violation from the network process (%s: type %u, "
	       "length %u): exiting",
	       what, m->type, m->len);
	_exit(SIGNER_EXIT_PROTOCOL);
}

/* STATS: the refusals so far, by reason. */
static void send_stats(struct sg_server *s, uint32_t req_id)
{
	struct fc_buf p;

	fc_buf_init(&p, 0);
	fc_buf_put_u16(&p, SIGNER_REFUSE_COUNT);
	for (int r = 0; r < SIGNER_REFUSE_COUNT; r++)
		fc_buf_put_u64(&p, atomic_load(&s->refusals[r]));
	send_msg(s, SIGNER_MSG_STATS_STATE, req_id, 0, &p);
	fc_buf_free(&p);
}

/* One request; false at the end of the input. */
static bool handle_one(struct sg_server *s)
{
	uint8_t hdr[SIGNER_HDR_LEN], *payload = NULL;
	struct sg_msg m = {0};
	struct sg_key *k;

	if (!read_in(s, hdr, sizeof(hdr)))
		return false;
	if (!sg_hdr_decode(hdr, &m))
		protocol_violation("a malformed header or an oversized message", &m);
	if ((m.type == SIGNER_MSG_KEY_LOAD || m.type == SIGNER_MSG_SIGN ||
	     m.type == SIGNER_MSG_READY || m.type == SIGNER_MSG_STATS) &&
	    m.req_id == 0)
		protocol_violation("no request id", &m);
	if (m.type != SIGNER_MSG_SIGN && m.len != 0)
		protocol_violation("a payload where none belongs", &m);
	if (m.len > 0) {
		payload = fc_xmalloc(m.len);
		if (!read_in(s, payload, m.len)) {
			free(payload);
			return false;
		}
	}
	switch (m.type) {
	case SIGNER_MSG_KEY_LOAD: handle_key_load(s, &m); break;
	case SIGNER_MSG_KEY_RELEASE: handle_key_release(s, m.key_id); break;
	case SIGNER_MSG_READY:
		k = key_find(s, m.key_id);
		send_msg(s, SIGNER_MSG_READY_STATE, m.req_id, m.key_id,
			 &(struct fc_buf){.data = (uint8_t[]){k && hsm_signer_ready(k->signer)},
					  .len = 1});
		break;
	case SIGNER_MSG_STATS: send_stats(s, m.req_id); break;
	case SIGNER_MSG_SIGN:
		if ((k = key_find(s, m.key_id)) == NULL) {
			send_code(s, SIGNER_MSG_FAILED, m.req_id, m.key_id, FC_EUNAVAIL,
				  "signer: no such key (it was released, or the signer restarted)");
			free(payload);
			break;
		}
		handle_sign(s, &m, payload, k);
		break;
	default: free(payload); protocol_violation("an unknown message type", &m);
	}
	return true;
}

static void stop_workers(struct sg_server *s)
{
	pthread_mutex_lock(&s->qlock);
	s->stop = true;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
	for (unsigned i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
}

static void say_hello(struct sg_server *s)
{
	struct fc_buf p;

	fc_buf_init(&p, 0);
	fc_buf_put_u32(&p, SIGNER_PROTO_VERSION);
	fc_buf_put_u32(&p, (uint32_t)getpid());
	send_msg(s, SIGNER_MSG_HELLO, 0, 0, &p);
	fc_buf_free(&p);
}

/*
 * Serve the network process on fd until it closes (signer.h). Returns the
 * exit status: 0, SIGNER_EXIT_JOURNAL (a malformed request exits at once
 * with SIGNER_EXIT_PROTOCOL).
 */
int signer_serve(int fd, const struct signer_config *cfg)
{
	struct sg_server *s = fc_xcalloc(1, sizeof(*s));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int status;

	s->cfg = cfg;
	s->fd = fd;
	fc_buf_init(&s->jout, 0);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_mutex_init(&s->dlock, NULL);
	pthread_cond_init(&s->dcond, NULL);
	s->qtail = &s->qhead;
	atomic_init(&s->exit_status, 0);
	if (cfg->role == SIGNER_ROLE_CA)
		s->serials = sg_serials_new(SIGNER_SERIALS_PER_GEN);
	s->n_workers = cfg->threads ? cfg->threads : (ncpu > 2 ? (unsigned)ncpu : 2);
	s->workers = fc_xcalloc(s->n_workers, sizeof(*s->workers));
	for (unsigned i = 0; i < s->n_workers; i++)
		if (pthread_create(&s->workers[i], NULL, worker, s) != 0) {
			fc_log(LOG_CRIT, "signer: cannot start a signing thread");
			_exit(SIGNER_EXIT_PROTOCOL);
		}
	say_hello(s);
	while (handle_one(s))
		;
	/* Every request read is answered (to no one, now) before the end, so
	 * that its journal records are complete. */
	pthread_mutex_lock(&s->dlock);
	while (s->inflight > 0)
		pthread_cond_wait(&s->dcond, &s->dlock);
	pthread_mutex_unlock(&s->dlock);
	stop_workers(s);
	journal_close(s->journal);
	while (s->keys != NULL) {
		struct sg_key *k = s->keys;
		s->keys = k->next;
		key_unref(k);
	}
	status = atomic_load(&s->exit_status);
	sg_serials_free(s->serials);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcond);
	pthread_mutex_destroy(&s->dlock);
	pthread_cond_destroy(&s->dcond);
	free(s->workers);
	fc_buf_free(&s->jout);
	free(s);
	return status;
}
