/*
 * The log's storage: files published atomically (temporary file, fsync,
 * rename, fsync of the directory), the entry log that makes a batch
 * durable with one write and one fdatasync, and the in-memory hash table
 * used for deduplication.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlog_srv_int.h"

/* --- files --------------------------------------------------------------- */

void ctlog_fileset_add(struct ctlog_fileset *fs, char *path, const void *data, size_t len)
{
	fs->paths = fc_xrealloc(fs->paths, (fs->n + 1) * sizeof(*fs->paths));
	fs->data = fc_xrealloc(fs->data, (fs->n + 1) * sizeof(*fs->data));
	fs->lens = fc_xrealloc(fs->lens, (fs->n + 1) * sizeof(*fs->lens));
	fs->paths[fs->n] = path; /* takes ownership */
	fs->data[fs->n] = fc_xmalloc(len ? len : 1);
	memcpy(fs->data[fs->n], data, len);
	fs->lens[fs->n] = len;
	fs->n++;
}

void ctlog_fileset_clear(struct ctlog_fileset *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->paths[i]);
		free(fs->data[i]);
	}
	free(fs->paths);
	free(fs->data);
	free(fs->lens);
	memset(fs, 0, sizeof(*fs));
}

/* mkdir -p of the directories above dir/rel. */
static bool make_parents(const char *dir, const char *rel)
{
	char *p = fc_xasprintf("%s/%s", dir, rel);
	bool ok = true;

	for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			ok = false;
		*s = '/';
	}
	free(p);
	return ok;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* syncfs of the file system holding dir; false with the reason in err. */
static bool sync_fs(const char *dir, struct fc_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = fd >= 0 && syncfs(fd) == 0;

	if (!ok)
		fc_err_set(err, FC_EIO, "ctlog: syncfs %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Publish every file of fs under dir: each is written to dir/.tmp/<i>,
 * the file system is synced (syncfs: one journal commit for all of them,
 * instead of one fsync per file), the files are renamed into place, and
 * the file system is synced again so that the new names are durable too.
 * A reader sees the old file or the new one, never a torn one, and a
 * caller that commits the checkpoint after its tiles never publishes a
 * checkpoint whose tiles could be lost. FC_EIO with the reason in err.
 */
enum fc_status ctlog_fileset_commit(const char *dir, struct ctlog_fileset *fs, struct fc_err *err)
{
	char **tmp = fc_xcalloc(fs->n ? fs->n : 1, sizeof(char *));
	enum fc_status st = FC_EIO;
	size_t i;

	for (i = 0; i < fs->n; i++) {
		int fd;

		tmp[i] = fc_xasprintf("%s/.tmp/%zu", dir, i);
		fd = open(tmp[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || !write_all(fd, fs->data[i], fs->lens[i])) {
			fc_err_set(err, FC_EIO, "ctlog: %s: %s", tmp[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	if (!sync_fs(dir, err))
		goto out;
	for (i = 0; i < fs->n; i++) {
		char *final = fc_xasprintf("%s/%s", dir, fs->paths[i]);

		if (!make_parents(dir, fs->paths[i]) || rename(tmp[i], final) != 0) {
			fc_err_set(err, FC_EIO, "ctlog: publish %s: %s", final, strerror(errno));
			free(final);
			goto out;
		}
		free(final);
	}
	if (!sync_fs(dir, err))
		goto out;
	st = FC_OK;
out:
	for (i = 0; i < fs->n; i++)
		free(tmp[i]);
	free(tmp);
	return st;
}

/* --- hash table --------------------------------------------------------- */

#define MAP_EMPTY UINT64_MAX

/* The key's first 8 bytes (a SHA-256 output: uniform) pick the slot. */
static size_t map_slot(const uint8_t key[CTLOG_HASH_LEN], size_t cap)
{
	struct fc_rd r;
	uint64_t h = 0;

	fc_rd_init(&r, key, CTLOG_HASH_LEN);
	fc_rd_u64(&r, &h);
	return (size_t)(h & (cap - 1));
}

bool ctlog_map_get(const struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN], uint64_t *val)
{
	if (m->cap == 0)
		return false;
	for (size_t i = map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == MAP_EMPTY)
			return false;
		if (memcmp(m->keys[i], key, CTLOG_HASH_LEN) == 0) {
			*val = m->vals[i];
			return true;
		}
	}
}

static void map_grow(struct ctlog_map *m)
{
	struct ctlog_map bigger = {0};

	bigger.cap = m->cap ? m->cap * 2 : 1024;
	bigger.keys = fc_xmalloc(bigger.cap * sizeof(*bigger.keys));
	bigger.vals = fc_xmalloc(bigger.cap * sizeof(*bigger.vals));
	for (size_t i = 0; i < bigger.cap; i++)
		bigger.vals[i] = MAP_EMPTY;
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != MAP_EMPTY)
			ctlog_map_put(&bigger, m->keys[i], m->vals[i]);
	ctlog_map_free(m);
	*m = bigger;
}

/* Insert or replace; val must not be UINT64_MAX. */
void ctlog_map_put(struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN], uint64_t val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap)
		map_grow(m);
	for (i = map_slot(key, m->cap); m->vals[i] != MAP_EMPTY; i = (i + 1) & (m->cap - 1)) {
		if (memcmp(m->keys[i], key, CTLOG_HASH_LEN) == 0) {
			m->vals[i] = val;
			return;
		}
	}
	memcpy(m->keys[i], key, CTLOG_HASH_LEN);
	m->vals[i] = val;
	m->n++;
}

/* Remove with backward-shift deletion (no tombstones). */
void ctlog_map_del(struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN])
{
	size_t i, j;

	if (m->cap == 0)
		return;
	for (i = map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == MAP_EMPTY)
			return;
		if (memcmp(m->keys[i], key, CTLOG_HASH_LEN) == 0)
			break;
	}
	m->vals[i] = MAP_EMPTY;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->vals[j] != MAP_EMPTY; j = (j + 1) & (m->cap - 1)) {
		size_t home = map_slot(m->keys[j], m->cap);

		/* move j back to i if its home is not in (i, j] (cyclically) */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			memcpy(m->keys[i], m->keys[j], CTLOG_HASH_LEN);
			m->vals[i] = m->vals[j];
			m->vals[j] = MAP_EMPTY;
			i = j;
		}
	}
}

void ctlog_map_free(struct ctlog_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* --- entry log ----------------------------------------------------------- */

/*
 * Read one record (key[32] te_len u32 leaf_len u32 sig_len u16 leaf sig)
 * from rd, with the timestamp (first 8 bytes of the TimestampedEntry) and
 * the leaf_index (its last 5) in r; false, rd unmoved, if it does not fit.
 */
static bool rd_record(struct fc_rd *rd, struct ctlog_record *r)
{
	struct fc_rd t = *rd, te;
	uint32_t te_len, leaf_len;
	uint16_t sig_len;
	const uint8_t *idx;

	if (!fc_rd_bytes(&t, CTLOG_HASH_LEN, &r->key) || !fc_rd_u32(&t, &te_len) ||
	    !fc_rd_u32(&t, &leaf_len) || !fc_rd_u16(&t, &sig_len))
		return false;
	if (leaf_len > CTLOG_MAX_TILE_LEAF || te_len > leaf_len ||
	    te_len < 8 + 2 + CTLOG_EXT_LEN + 2 || !fc_rd_bytes(&t, leaf_len, &r->leaf) ||
	    !fc_rd_bytes(&t, sig_len, &r->sig))
		return false;
	r->te_len = te_len;
	r->leaf_len = leaf_len;
	r->sig_len = sig_len;
	fc_rd_init(&te, r->leaf, te_len);
	fc_rd_u64(&te, &r->timestamp);
	fc_rd_bytes(&te, te_len - 5 - 8, &idx); /* te_len >= 20 (checked above) */
	fc_rd_uint(&te, 5, &r->leaf_index);
	*rd = t;
	return true;
}

/* What ctlog_elog_open knows while it reads the entry log through. */
struct elog_scan {
	const char *path;
	int fd;
	uint64_t size;	    /* of the file */
	uint64_t published; /* entries a checkpoint covers */
	ctlog_record_fn fn;
	void *ctx;
	uint64_t count;	  /* entries read so far */
	uint8_t *payload; /* of the batch just read */
	uint32_t n, plen; /* its record count and payload length */
};

/* Decode a batch header into sc->n, sc->plen, *first and *sum; false if
 * it is not one (wrong magic). */
static bool read_batch_hdr(struct elog_scan *sc, const uint8_t hdr[CTLOG_ELOG_HDR], uint64_t *first,
			   const uint8_t **sum)
{
	struct fc_rd r;
	const uint8_t *magic;

	fc_rd_init(&r, hdr, CTLOG_ELOG_HDR);
	return fc_rd_bytes(&r, 8, &magic) && memcmp(magic, CTLOG_ELOG_MAGIC, 8) == 0 &&
	       fc_rd_u64(&r, first) && fc_rd_u32(&r, &sc->n) && fc_rd_u32(&r, &sc->plen) &&
	       fc_rd_bytes(&r, CTLOG_HASH_LEN, sum) && fc_rd_done(&r);
}

/*
 * Read the batch at off into sc: header, payload, payload hash. *torn
 * when it is incomplete, as a crash while appending leaves it (the file
 * ends inside it, or it is the last one and its hash fails). FC_EIO with
 * the reason for any other damage.
 */
static enum fc_status read_batch(struct elog_scan *sc, uint64_t off, bool *torn, struct fc_err *err)
{
	uint64_t left = sc->size - off, first = 0;
	uint8_t hdr[CTLOG_ELOG_HDR], h[CTLOG_HASH_LEN];
	const uint8_t *sum = NULL;

	*torn = left < CTLOG_ELOG_HDR;
	if (*torn)
		return FC_OK;
	if (pread(sc->fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr))
		return fc_err_set(err, FC_EIO, "ctlog: entry log %s: read: %s", sc->path,
				  strerror(errno));
	if (!read_batch_hdr(sc, hdr, &first, &sum))
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log %s: bad batch header at offset %llu", sc->path,
				  (unsigned long long)off);
	if (first != sc->count)
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log %s: batch at offset %llu starts at "
				  "index %llu, want %llu",
				  sc->path, (unsigned long long)off, (unsigned long long)first,
				  (unsigned long long)sc->count);
	*torn = left - CTLOG_ELOG_HDR < sc->plen;
	if (*torn)
		return FC_OK;
	sc->payload = fc_xrealloc(sc->payload, sc->plen ? sc->plen : 1);
	if (pread(sc->fd, sc->payload, sc->plen, (off_t)(off + CTLOG_ELOG_HDR)) !=
	    (ssize_t)sc->plen)
		return fc_err_set(err, FC_EIO, "ctlog: entry log %s: read: %s", sc->path,
				  strerror(errno));
	ctlog_sha256(sc->payload, sc->plen, h);
	if (memcmp(h, sum, CTLOG_HASH_LEN) == 0)
		return FC_OK;
	if (off + CTLOG_ELOG_HDR + sc->plen != sc->size)
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log %s: batch at offset %llu is damaged", sc->path,
				  (unsigned long long)off);
	*torn = true;
	return FC_OK;
}

/*
 * The incomplete last batch at off: it was being appended when the
 * process died, never fsynced as a whole, so never acknowledged; cut it
 * off. Unless a checkpoint covers entries that are not all here: then the
 * file lost data, and it is left untouched for inspection (FC_EIO).
 */
static enum fc_status cut_torn(struct elog_scan *sc, uint64_t off, struct fc_err *err)
{
	if (sc->count < sc->published)
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log %s is truncated or damaged at offset "
				  "%llu (entry %llu) but the checkpoint covers %llu entries",
				  sc->path, (unsigned long long)off, (unsigned long long)sc->count,
				  (unsigned long long)sc->published);
	fc_log(LOG_NOTICE,
	       "ctlog: entry log %s: cutting off an incomplete last batch "
	       "(%llu bytes at offset %llu, never acknowledged)",
	       sc->path, (unsigned long long)(sc->size - off), (unsigned long long)off);
	if (ftruncate(sc->fd, (off_t)off) != 0 || fdatasync(sc->fd) != 0)
		return fc_err_set(err, FC_EIO, "ctlog: entry log %s: truncate: %s", sc->path,
				  strerror(errno));
	return FC_OK;
}

/* Hand each record of the batch read at off to sc->fn: each must carry
 * the next leaf_index, and together they must fill the payload. */
static enum fc_status scan_batch(struct elog_scan *sc, uint64_t off, struct fc_err *err)
{
	struct fc_rd rd;
	enum fc_status st;

	fc_rd_init(&rd, sc->payload, sc->plen);
	for (uint32_t i = 0; i < sc->n; i++) {
		struct ctlog_record r;
		uint64_t at = rd.off;

		if (!rd_record(&rd, &r))
			return fc_err_set(err, FC_EIO,
					  "ctlog: entry log %s: bad record %u in batch at "
					  "offset %llu",
					  sc->path, i, (unsigned long long)off);
		r.index = sc->count;
		r.offset = off + CTLOG_ELOG_HDR + at;
		if (r.leaf_index != sc->count)
			return fc_err_set(err, FC_EIO,
					  "ctlog: entry log %s: entry %llu carries "
					  "leaf_index %llu",
					  sc->path, (unsigned long long)sc->count,
					  (unsigned long long)r.leaf_index);
		if (sc->fn != NULL && (st = sc->fn(sc->ctx, &r, err)) != FC_OK)
			return st;
		sc->count++;
	}
	if (!fc_rd_done(&rd))
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log %s: trailing bytes in batch at "
				  "offset %llu",
				  sc->path, (unsigned long long)off);
	return FC_OK;
}

/*
 * Open the entry log at path (created if absent) and read it through (see
 * ctlog_srv_int.h). Returns FC_OK and *out, or FC_EIO with the reason.
 */
enum fc_status ctlog_elog_open(const char *path, uint64_t published, ctlog_record_fn fn, void *ctx,
			       struct ctlog_elog *out, struct fc_err *err)
{
	struct elog_scan sc = {.path = path, .published = published, .fn = fn, .ctx = ctx};
	struct stat sb;
	uint64_t off = 0;
	bool torn = false;
	enum fc_status st = FC_EIO;

	sc.fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (sc.fd < 0 || fstat(sc.fd, &sb) != 0) {
		fc_err_set(err, FC_EIO, "ctlog: entry log %s: %s", path, strerror(errno));
		goto out;
	}
	sc.size = (uint64_t)sb.st_size;
	while (off < sc.size) {
		if ((st = read_batch(&sc, off, &torn, err)) != FC_OK)
			goto out;
		if (torn) {
			if ((st = cut_torn(&sc, off, err)) != FC_OK)
				goto out;
			break;
		}
		if ((st = scan_batch(&sc, off, err)) != FC_OK)
			goto out;
		off += CTLOG_ELOG_HDR + sc.plen;
	}
	out->fd = sc.fd;
	out->end = off;
	out->count = sc.count;
	sc.fd = -1;
	st = FC_OK;
out:
	if (sc.fd >= 0)
		close(sc.fd);
	free(sc.payload);
	return st;
}

/*
 * Append one record (key, lengths, TileLeaf, SCT signature) to a batch
 * payload. False if a length does not fit its field.
 */
bool ctlog_elog_add_record(struct fc_buf *payload, const uint8_t key[CTLOG_HASH_LEN],
			   const uint8_t *leaf, size_t leaf_len, size_t te_len, const uint8_t *sig,
			   size_t sig_len)
{
	return fc_buf_append(payload, key, CTLOG_HASH_LEN) && fc_buf_put_u32(payload, te_len) &&
	       fc_buf_put_u32(payload, leaf_len) && fc_buf_put_u16(payload, sig_len) &&
	       fc_buf_append(payload, leaf, leaf_len) && fc_buf_append(payload, sig, sig_len);
}

/*
 * Append one batch with a single write, then fdatasync: once this returns
 * FC_OK the batch survives a crash. On failure the file is cut back to its
 * previous end if possible; FC_EIO with the reason in err.
 */
enum fc_status ctlog_elog_append(struct ctlog_elog *l, uint64_t first_index, uint32_t count,
				 const struct fc_buf *payload, struct fc_err *err)
{
	uint8_t sum[CTLOG_HASH_LEN];
	struct fc_buf b;
	int e;

	ctlog_sha256(payload->data, payload->len, sum);
	fc_buf_init(&b, 0);
	if (!fc_buf_append(&b, CTLOG_ELOG_MAGIC, 8) || !fc_buf_put_u64(&b, first_index) ||
	    !fc_buf_put_u32(&b, count) || !fc_buf_put_u32(&b, payload->len) ||
	    !fc_buf_append(&b, sum, sizeof(sum)) ||
	    !fc_buf_append(&b, payload->data, payload->len)) {
		fc_buf_free(&b);
		return fc_err_set(err, FC_EIO,
				  "ctlog: entry log: a batch of %zu bytes is over 4 GiB",
				  payload->len);
	}
	if (write_all(l->fd, b.data, b.len) && fdatasync(l->fd) == 0) {
		l->end += b.len;
		l->count += count;
		fc_buf_free(&b);
		return FC_OK;
	}
	e = errno;
	fc_buf_free(&b);
	if (ftruncate(l->fd, (off_t)l->end) != 0)
		fc_log(LOG_CRIT, "ctlog: entry log: cannot cut back a failed append: %s",
		       strerror(errno));
	return fc_err_set(err, FC_EIO, "ctlog: entry log: append: %s", strerror(e));
}

/* Read the record at offset into *buf (caller frees) and fill *r. */
enum fc_status ctlog_elog_read(const struct ctlog_elog *l, uint64_t offset, uint8_t **buf,
			       struct ctlog_record *r, struct fc_err *err)
{
	uint8_t hdr[CTLOG_ELOG_REC_HDR];
	const uint8_t *skip;
	uint32_t leaf_len = 0;
	uint16_t sig_len = 0;
	uint8_t *b = NULL;
	struct fc_rd rd;
	size_t len;

	if (pread(l->fd, hdr, sizeof(hdr), (off_t)offset) != (ssize_t)sizeof(hdr))
		return fc_err_set(err, FC_EIO, "ctlog: entry log: read at %llu failed",
				  (unsigned long long)offset);
	/* key[32] te_len u32 | leaf_len u32 sig_len u16: cannot run short */
	fc_rd_init(&rd, hdr, sizeof(hdr));
	if (!fc_rd_bytes(&rd, CTLOG_HASH_LEN + 4, &skip) || !fc_rd_u32(&rd, &leaf_len) ||
	    !fc_rd_u16(&rd, &sig_len))
		return fc_err_set(err, FC_EINTERNAL, "ctlog: entry log: record header");
	len = CTLOG_ELOG_REC_HDR + (size_t)leaf_len + sig_len;
	if (leaf_len > CTLOG_MAX_TILE_LEAF)
		return fc_err_set(err, FC_EIO, "ctlog: entry log: bad record at %llu",
				  (unsigned long long)offset);
	b = fc_xmalloc(len);
	fc_rd_init(&rd, b, len);
	if (pread(l->fd, b, len, (off_t)offset) != (ssize_t)len || !rd_record(&rd, r)) {
		free(b);
		return fc_err_set(err, FC_EIO, "ctlog: entry log: bad record at %llu",
				  (unsigned long long)offset);
	}
	r->offset = offset;
	r->index = r->leaf_index;
	*buf = b;
	return FC_OK;
}

void ctlog_elog_close(struct ctlog_elog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
