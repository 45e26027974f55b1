/*
 * The log's storage: files published atomically (temporary file, fsync,
 * rename, fsync of the directory), the entry log that makes a batch
 * durable with one write and one fdatasync, and the in-memory hash table
 * used for deduplication.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
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

static bool sync_fs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = fd >= 0 && syncfs(fd) == 0;

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
	if (!sync_fs(dir)) {
		fc_err_set(err, FC_EIO, "ctlog: syncfs %s: %s", dir, strerror(errno));
		goto out;
	}
	for (i = 0; i < fs->n; i++) {
		char *final = fc_xasprintf("%s/%s", dir, fs->paths[i]);

		if (!make_parents(dir, fs->paths[i]) || rename(tmp[i], final) != 0) {
			fc_err_set(err, FC_EIO, "ctlog: publish %s: %s", final, strerror(errno));
			free(final);
			goto out;
		}
		free(final);
	}
	if (!sync_fs(dir)) {
		fc_err_set(err, FC_EIO, "ctlog: syncfs %s: %s", dir, strerror(errno));
		goto out;
	}
	st = FC_OK;
out:
	for (i = 0; i < fs->n; i++)
		free(tmp[i]);
	free(tmp);
	return st;
}

/* --- hash table --------------------------------------------------------- */

#define MAP_EMPTY UINT64_MAX

static size_t map_slot(const uint8_t key[CTLOG_HASH_LEN], size_t cap)
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h << 8 | key[i];
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

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Parse one record at p (len bytes left); false if it does not fit. */
static bool parse_record(const uint8_t *p, size_t len, struct ctlog_record *r, size_t *used)
{
	size_t te_len, leaf_len, sig_len;

	if (len < CTLOG_ELOG_REC_HDR)
		return false;
	te_len = (size_t)get_be(p + 32, 4);
	leaf_len = (size_t)get_be(p + 36, 4);
	sig_len = (size_t)get_be(p + 40, 2);
	if (leaf_len > CTLOG_MAX_TILE_LEAF || te_len > leaf_len || te_len < 8 + 2 + CTLOG_EXT_LEN + 2 ||
	    len - CTLOG_ELOG_REC_HDR < leaf_len + sig_len)
		return false;
	r->key = p;
	r->te_len = te_len;
	r->leaf_len = leaf_len;
	r->leaf = p + CTLOG_ELOG_REC_HDR;
	r->sig_len = sig_len;
	r->sig = p + CTLOG_ELOG_REC_HDR + leaf_len;
	*used = CTLOG_ELOG_REC_HDR + leaf_len + sig_len;
	return true;
}

/* The leaf_index in the last 5 bytes of a TimestampedEntry. */
static uint64_t te_index(const struct ctlog_record *r)
{
	return get_be(r->leaf + r->te_len - 5, 5);
}

/*
 * Open the entry log at path (created if absent) and read it through (see
 * ctlog_srv_int.h). Returns FC_OK and *out, or FC_EIO with the reason.
 */
enum fc_status ctlog_elog_open(const char *path, uint64_t published, ctlog_record_fn fn,
			       void *ctx, struct ctlog_elog *out, struct fc_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct stat sb;
	uint64_t off = 0, count = 0;
	uint8_t hdr[CTLOG_ELOG_HDR];
	uint8_t *payload = NULL;
	enum fc_status st = FC_EIO;

	if (fd < 0 || fstat(fd, &sb) != 0) {
		fc_err_set(err, FC_EIO, "ctlog: entry log %s: %s", path, strerror(errno));
		goto out;
	}
	while (off < (uint64_t)sb.st_size) {
		uint64_t left = (uint64_t)sb.st_size - off, first;
		uint32_t n, plen;
		uint8_t h[CTLOG_HASH_LEN];
		size_t p = 0;
		bool torn = false;

		if (left < CTLOG_ELOG_HDR) {
			torn = true;
		} else if (pread(fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr)) {
			fc_err_set(err, FC_EIO, "ctlog: entry log %s: read: %s", path, strerror(errno));
			goto out;
		} else if (memcmp(hdr, CTLOG_ELOG_MAGIC, 8) != 0) {
			fc_err_set(err, FC_EIO, "ctlog: entry log %s: bad batch header at offset %llu",
				   path, (unsigned long long)off);
			goto out;
		}
		if (!torn) {
			first = get_be(hdr + 8, 8);
			n = (uint32_t)get_be(hdr + 16, 4);
			plen = (uint32_t)get_be(hdr + 20, 4);
			if (first != count) {
				fc_err_set(err, FC_EIO, "ctlog: entry log %s: batch at offset %llu starts "
							"at index %llu, want %llu",
					   path, (unsigned long long)off, (unsigned long long)first,
					   (unsigned long long)count);
				goto out;
			}
			if (left - CTLOG_ELOG_HDR < plen) {
				torn = true;
			} else {
				payload = fc_xrealloc(payload, plen ? plen : 1);
				if (pread(fd, payload, plen, (off_t)(off + CTLOG_ELOG_HDR)) != (ssize_t)plen) {
					fc_err_set(err, FC_EIO, "ctlog: entry log %s: read: %s", path,
						   strerror(errno));
					goto out;
				}
				SHA256(payload, plen, h);
				if (memcmp(h, hdr + 24, CTLOG_HASH_LEN) != 0) {
					if (off + CTLOG_ELOG_HDR + plen != (uint64_t)sb.st_size) {
						fc_err_set(err, FC_EIO, "ctlog: entry log %s: batch at "
									"offset %llu is damaged",
							   path, (unsigned long long)off);
						goto out;
					}
					torn = true;
				}
			}
		}
		if (torn && count < published) {
			/* A checkpoint covers entries that are not all here: the
			 * file lost data. Leave it untouched for inspection. */
			fc_err_set(err, FC_EIO, "ctlog: entry log %s is truncated or damaged at offset "
						"%llu (entry %llu) but the checkpoint covers %llu entries",
				   path, (unsigned long long)off, (unsigned long long)count,
				   (unsigned long long)published);
			goto out;
		}
		if (torn) {
			/* The last batch was being appended when the process died:
			 * it was never fsynced as a whole, so never acknowledged. */
			fc_log(LOG_NOTICE, "ctlog: entry log %s: cutting off an incomplete last batch "
					   "(%llu bytes at offset %llu, never acknowledged)",
			       path, (unsigned long long)left, (unsigned long long)off);
			if (ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0) {
				fc_err_set(err, FC_EIO, "ctlog: entry log %s: truncate: %s", path,
					   strerror(errno));
				goto out;
			}
			break;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct ctlog_record r;
			size_t used;

			if (!parse_record(payload + p, plen - p, &r, &used)) {
				fc_err_set(err, FC_EIO, "ctlog: entry log %s: bad record %u in batch at "
							"offset %llu",
					   path, i, (unsigned long long)off);
				goto out;
			}
			r.index = count;
			r.offset = off + CTLOG_ELOG_HDR + p;
			if (te_index(&r) != count) {
				fc_err_set(err, FC_EIO, "ctlog: entry log %s: entry %llu carries "
							"leaf_index %llu",
					   path, (unsigned long long)count,
					   (unsigned long long)te_index(&r));
				goto out;
			}
			if (fn != NULL && (st = fn(ctx, &r, err)) != FC_OK)
				goto out;
			st = FC_EIO;
			p += used;
			count++;
		}
		if (p != plen) {
			fc_err_set(err, FC_EIO, "ctlog: entry log %s: trailing bytes in batch at "
						"offset %llu",
				   path, (unsigned long long)off);
			goto out;
		}
		off += CTLOG_ELOG_HDR + plen;
	}
	out->fd = fd;
	out->end = off;
	out->count = count;
	fd = -1;
	st = FC_OK;
out:
	if (fd >= 0)
		close(fd);
	free(payload);
	return st;
}

void ctlog_elog_add_record(struct fc_buf *payload, const uint8_t key[CTLOG_HASH_LEN],
			   const uint8_t *leaf, size_t leaf_len, size_t te_len, const uint8_t *sig,
			   size_t sig_len)
{
	uint8_t h[CTLOG_ELOG_REC_HDR];

	memcpy(h, key, CTLOG_HASH_LEN);
	put_be(h + 32, te_len, 4);
	put_be(h + 36, leaf_len, 4);
	put_be(h + 40, sig_len, 2);
	fc_buf_append(payload, h, sizeof(h));
	fc_buf_append(payload, leaf, leaf_len);
	fc_buf_append(payload, sig, sig_len);
}

/*
 * Append one batch with a single write, then fdatasync: once this returns
 * FC_OK the batch survives a crash. On failure the file is cut back to its
 * previous end if possible; FC_EIO with the reason in err.
 */
enum fc_status ctlog_elog_append(struct ctlog_elog *l, uint64_t first_index, uint32_t count,
				 const struct fc_buf *payload, struct fc_err *err)
{
	uint8_t *buf = fc_xmalloc(CTLOG_ELOG_HDR + payload->len);
	size_t n = CTLOG_ELOG_HDR + payload->len;

	memcpy(buf, CTLOG_ELOG_MAGIC, 8);
	put_be(buf + 8, first_index, 8);
	put_be(buf + 16, count, 4);
	put_be(buf + 20, payload->len, 4);
	SHA256(payload->data, payload->len, buf + 24);
	memcpy(buf + CTLOG_ELOG_HDR, payload->data, payload->len);
	if (!write_all(l->fd, buf, n) || fdatasync(l->fd) != 0) {
		int e = errno;

		if (ftruncate(l->fd, (off_t)l->end) != 0)
			fc_log(LOG_CRIT, "ctlog: entry log: cannot cut back a failed append: %s",
			       strerror(errno));
		free(buf);
		return fc_err_set(err, FC_EIO, "ctlog: entry log: append: %s", strerror(e));
	}
	free(buf);
	l->end += n;
	l->count += count;
	return FC_OK;
}

/* Read the record at offset into *buf (caller frees) and fill *r. */
enum fc_status ctlog_elog_read(const struct ctlog_elog *l, uint64_t offset, uint8_t **buf,
			       struct ctlog_record *r, struct fc_err *err)
{
	uint8_t hdr[CTLOG_ELOG_REC_HDR];
	uint8_t *b = NULL;
	size_t len, used;

	if (pread(l->fd, hdr, sizeof(hdr), (off_t)offset) != (ssize_t)sizeof(hdr))
		return fc_err_set(err, FC_EIO, "ctlog: entry log: read at %llu failed",
				  (unsigned long long)offset);
	len = CTLOG_ELOG_REC_HDR + (size_t)get_be(hdr + 36, 4) + (size_t)get_be(hdr + 40, 2);
	if (len > CTLOG_ELOG_REC_HDR + CTLOG_MAX_TILE_LEAF + 65535)
		return fc_err_set(err, FC_EIO, "ctlog: entry log: bad record at %llu",
				  (unsigned long long)offset);
	b = fc_xmalloc(len);
	if (pread(l->fd, b, len, (off_t)offset) != (ssize_t)len || !parse_record(b, len, r, &used)) {
		free(b);
		return fc_err_set(err, FC_EIO, "ctlog: entry log: bad record at %llu",
				  (unsigned long long)offset);
	}
	r->offset = offset;
	r->index = te_index(r);
	*buf = b;
	return FC_OK;
}

void ctlog_elog_close(struct ctlog_elog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
