/*
 * The journal's writer: one thread takes every record queued since its last
 * batch, gives each its sequence number and the hash of the line before it,
 * writes the batch with one write() and, if a record of the batch asks for
 * it, one fdatasync() (group commit: the cost of a sync is shared by every
 * request that arrived while the previous one ran).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_int.h"

#define FULCRUM_JOURNAL_VERSION "1"

struct jentry {
	struct jentry *next;
	json_t *body; /* the record without seq and prev */
	enum journal_wait wait;
	journal_done_fn done;
	void *arg;
	uint64_t seq;
};

struct journal {
	char *dir;
	int dir_fd;
	int lock_fd;
	int fd;		       /* the current file */
	uint64_t file_bytes;   /* where the next record goes */
	uint64_t prealloc_end; /* zeros written up to here */
	int64_t file_day;      /* UTC day of the current file */
	uint64_t next_seq;
	uint8_t prev[JOURNAL_HASH_LEN];
	struct fc_buf wbuf;	     /* the batch being written */
	char line[JOURNAL_MAX_LINE]; /* one record being encoded */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards the queue, stop and failed */
	pthread_cond_t cond;
	struct jentry *head, **tail;
	bool stop;
	bool failed; /* a write or sync failed: nothing more is written */
	void (*on_batch)(void *arg);
	void *on_batch_arg;
};

/* mkdir -p with mode 0700 for what it creates. */
static enum fc_status make_dirs(const char *dir, struct fc_err *err)
{
	char *p = fc_xstrdup(dir);
	enum fc_status st = FC_OK;

	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			st = fc_err_set(err, FC_ECONFIG, "journal: cannot create %s: %s", p,
					strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return st;
}

/* The last complete line of the file at fd (before the zeros ahead of the
 * records, within JOURNAL_TAIL_BYTES of their end): *line (caller frees)
 * or NULL when it has none. */
static enum fc_status last_line(int fd, const char *name, char **line, size_t *len,
				struct fc_err *err)
{
	struct stat sb;
	off_t from;
	char *buf = NULL, *end, *start;
	ssize_t got;

	*line = NULL;
	if (fstat(fd, &sb) != 0)
		return fc_err_set(err, FC_EIO, "journal: %s: %s", name, strerror(errno));
	from = sb.st_size > JOURNAL_TAIL_BYTES + JOURNAL_PREALLOC
		       ? sb.st_size - JOURNAL_TAIL_BYTES - JOURNAL_PREALLOC
		       : 0;
	buf = fc_xmalloc((size_t)(sb.st_size - from) + 1);
	got = pread(fd, buf, (size_t)(sb.st_size - from), from);
	if (got < 0) {
		free(buf);
		return fc_err_set(err, FC_EIO, "journal: %s: %s", name, strerror(errno));
	}
	while (got > 0 && buf[got - 1] == '\0')
		got--; /* the zeros ahead of the records */
	buf[got] = '\0';
	end = memrchr(buf, '\n', (size_t)got);
	if (end != NULL) {
		*end = '\0';
		start = memrchr(buf, '\n', (size_t)(end - buf));
		start = start ? start + 1 : buf;
		if (start != buf || from == 0) {
			*len = (size_t)(end - start);
			*line = fc_xstrndup(start, *len);
		}
	}
	free(buf);
	return FC_OK;
}

/* Where the chain stands: the sequence number and hash of the newest
 * complete record in dir (the newest file may hold only a torn line). */
static enum fc_status find_chain_end(struct journal *j, struct fc_err *err)
{
	struct journal_file *files = NULL;
	size_t n = 0;
	enum fc_status st;

	j->next_seq = 1;
	memset(j->prev, 0, sizeof(j->prev));
	if ((st = journal_files_list(j->dir, &files, &n, err)) != FC_OK)
		return st;
	for (size_t i = n; i-- > 0 && st == FC_OK;) {
		char *line = NULL;
		size_t len = 0;
		json_t *rec;
		int fd = openat(j->dir_fd, files[i].name, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			st = fc_err_set(err, FC_EIO, "journal: %s: %s", files[i].name,
					strerror(errno));
			break;
		}
		st = last_line(fd, files[i].name, &line, &len, err);
		close(fd);
		if (st != FC_OK || line == NULL)
			continue;
		rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_integer(json_object_get(rec, "seq")) ||
		    json_integer_value(json_object_get(rec, "seq")) < 1)
			st = fc_err_set(
				err, FC_ECONFIG,
				"journal: %s/%s: the last record cannot be read; run "
				"`fulcrum journal verify %s` and move the damaged file away",
				j->dir, files[i].name, j->dir);
		else {
			j->next_seq = (uint64_t)json_integer_value(json_object_get(rec, "seq")) + 1;
			journal_line_hash(line, len, j->prev);
		}
		json_decref(rec);
		free(line);
		break;
	}
	journal_files_free(files, n);
	return st;
}

/* Start a new file for the records from j->next_seq on; the directory is
 * synced so that the file's name survives a crash. */
static enum fc_status new_file(struct journal *j, struct fc_err *err)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "%016" PRIu64 "-%" PRId64 "%s", j->next_seq, journal_now_ms(),
		 JOURNAL_SUFFIX);
	fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fc_err_set(err, FC_EIO, "journal: cannot create %s/%s: %s", j->dir, name,
				  strerror(errno));
	if (fsync(j->dir_fd) != 0) {
		close(fd);
		return fc_err_set(err, FC_EIO, "journal: sync %s: %s", j->dir, strerror(errno));
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->file_bytes = 0;
	j->prealloc_end = 0;
	j->file_day = journal_now_ms() / 86400000;
	return FC_OK;
}

/* Serialize e after the chain so far into j->wbuf: its seq and prev
 * (the record's first keys) set, then the line. False when the record
 * cannot be encoded. */
static bool encode(struct journal *j, struct jentry *e)
{
	char prev_hex[2 * JOURNAL_HASH_LEN + 1];
	size_t len;

	journal_hex(j->prev, sizeof(j->prev), prev_hex);
	if (e->body == NULL ||
	    json_object_set_new_nocheck(e->body, "seq", json_integer((json_int_t)j->next_seq)) !=
		    0 ||
	    json_object_set_new_nocheck(e->body, "prev",
					json_stringn_nocheck(prev_hex, 2 * JOURNAL_HASH_LEN)) != 0)
		return false;
	len = json_dumpb(e->body, j->line, sizeof(j->line), JSON_COMPACT);
	if (len == 0 || len >= sizeof(j->line) || !fc_buf_append(&j->wbuf, j->line, len) ||
	    !fc_buf_append(&j->wbuf, "\n", 1))
		return false;
	journal_line_hash(j->line, len, j->prev);
	e->seq = j->next_seq++;
	return true;
}

/* pwrite all of p[0..n) at off (retrying short writes). */
static bool pwrite_all(struct journal *j, const void *p, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(j->fd, (const uint8_t *)p + done, n - done, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fc_log(LOG_CRIT, "journal: %s: write failed: %s", j->dir,
			       w < 0 ? strerror(errno) : "no progress");
			return false;
		}
		done += (size_t)w;
	}
	return true;
}

/* Zeros ahead of the records up to past need (the next sync writes them
 * and the new size, once per JOURNAL_PREALLOC). */
static bool prealloc(struct journal *j, uint64_t need)
{
	static const uint8_t zeros[64 * 1024];

	while (j->prealloc_end < need) {
		for (size_t done = 0; done < JOURNAL_PREALLOC; done += sizeof(zeros))
			if (!pwrite_all(j, zeros, sizeof(zeros), j->prealloc_end + done))
				return false;
		j->prealloc_end += JOURNAL_PREALLOC;
	}
	return true;
}

/* Write the whole of j->wbuf after the records so far. */
static bool write_all(struct journal *j)
{
	if (!prealloc(j, j->file_bytes + j->wbuf.len) ||
	    !pwrite_all(j, j->wbuf.data, j->wbuf.len, j->file_bytes))
		return false;
	j->file_bytes += j->wbuf.len;
	return true;
}

/* Call the completions of batch entries waiting for w (all of them with
 * FC_EIO when st says the batch failed), freeing those entries. */
static void complete(struct jentry **batch, enum journal_wait w, enum fc_status st)
{
	struct jentry **pp = batch;

	while (*pp != NULL) {
		struct jentry *e = *pp;
		if (e->wait != w && st == FC_OK) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		e->done(e->arg, st, e->seq);
		json_decref(e->body);
		free(e);
	}
}

/* Write one batch: rotate if the file is full or a day old, encode, write,
 * complete the WRITTEN records, sync if needed, complete the rest. */
static void write_batch(struct journal *j, struct jentry *batch)
{
	struct fc_err err = {0};
	bool sync = false, ok = !j->failed;

	if (ok &&
	    (j->file_bytes >= JOURNAL_MAX_FILE_BYTES ||
	     journal_now_ms() / 86400000 != j->file_day) &&
	    new_file(j, &err) != FC_OK) {
		fc_log(LOG_CRIT, "%s", err.msg);
		ok = false;
	}
	fc_buf_reset(&j->wbuf);
	for (struct jentry *e = batch; ok && e != NULL; e = e->next) {
		ok = encode(j, e);
		sync |= e->wait == JOURNAL_DURABLE;
	}
	if (ok)
		ok = write_all(j);
	if (ok)
		complete(&batch, JOURNAL_WRITTEN, FC_OK);
	if (ok && sync && fdatasync(j->fd) != 0) {
		fc_log(LOG_CRIT, "journal: %s: fdatasync failed: %s", j->dir, strerror(errno));
		ok = false;
	}
	if (!ok && !j->failed) {
		fc_log(LOG_CRIT, "journal: %s: the journal failed: nothing more is signed", j->dir);
		pthread_mutex_lock(&j->lock);
		j->failed = true;
		pthread_mutex_unlock(&j->lock);
	}
	complete(&batch, JOURNAL_DURABLE, ok ? FC_OK : FC_EIO);
	if (j->on_batch != NULL)
		j->on_batch(j->on_batch_arg);
}

/*
 * Have fn(arg) called after the completions of each batch (journal.h).
 */
void journal_on_batch(struct journal *j, void (*fn)(void *arg), void *arg)
{
	j->on_batch = fn;
	j->on_batch_arg = arg;
}

static void *journal_thread(void *arg)
{
	struct journal *j = arg;

	for (;;) {
		struct jentry *batch;

		pthread_mutex_lock(&j->lock);
		while (j->head == NULL && !j->stop)
			pthread_cond_wait(&j->cond, &j->lock);
		batch = j->head;
		j->head = NULL;
		j->tail = &j->head;
		pthread_mutex_unlock(&j->lock);
		if (batch == NULL)
			break; /* stop, nothing left */
		write_batch(j, batch);
	}
	return NULL;
}

static void enqueue(struct journal *j, json_t *body, enum journal_wait w, journal_done_fn done,
		    void *arg)
{
	struct jentry *e = fc_xcalloc(1, sizeof(*e));

	e->body = body;
	e->wait = w;
	e->done = done;
	e->arg = arg;
	pthread_mutex_lock(&j->lock);
	*j->tail = e;
	j->tail = &e->next;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

/*
 * Queue an intent record, completed once durable (journal.h). done is
 * called on the journal's thread with the record's sequence number, or
 * FC_EIO.
 */
void journal_append_intent(struct journal *j, const struct journal_intent *r, journal_done_fn done,
			   void *arg)
{
	enqueue(j, journal_intent_json(r), JOURNAL_DURABLE, done, arg);
}

/*
 * Queue an outcome record, completed once written or durable as w says
 * (journal.h).
 */
void journal_append_outcome(struct journal *j, const struct journal_outcome *r, enum journal_wait w,
			    journal_done_fn done, void *arg)
{
	enqueue(j, journal_outcome_json(r), w, done, arg);
}

/* Lock dir (one writer) and start the chain's new file with its "open"
 * record, written and synced here. */
static enum fc_status lock_and_start(struct journal *j, struct fc_err *err)
{
	struct jentry e = {.wait = JOURNAL_DURABLE};
	enum fc_status st;

	j->lock_fd = openat(j->dir_fd, JOURNAL_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0)
		return fc_err_set(err, FC_EIO, "journal: %s/%s: %s", j->dir, JOURNAL_LOCK_NAME,
				  strerror(errno));
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return fc_err_set(err, errno == EWOULDBLOCK ? FC_EUNAVAIL : FC_EIO,
				  "journal: %s is in use by another process (%s)", j->dir,
				  strerror(errno));
	if ((st = find_chain_end(j, err)) != FC_OK || (st = new_file(j, err)) != FC_OK)
		return st;
	e.body = json_pack("{s:I, s:s, s:s, s:I, s:i, s:s}", "seq", (json_int_t)0, "prev", "",
			   "type", "open", "t", (json_int_t)journal_now_ms(), "pid", (int)getpid(),
			   "version", FULCRUM_JOURNAL_VERSION);
	fc_buf_reset(&j->wbuf);
	if (!encode(j, &e) || !write_all(j) || fdatasync(j->fd) != 0)
		st = fc_err_set(err, FC_EIO, "journal: %s: cannot write: %s", j->dir,
				strerror(errno));
	json_decref(e.body);
	return st;
}

/*
 * Open (creating if needed) and lock the journal in dir, continue its
 * chain in a new file and start the writer thread (journal.h). FC_OK with
 * *out (free with journal_close), else the reason in err.
 */
enum fc_status journal_open(const char *dir, struct journal **out, struct fc_err *err)
{
	struct journal *j = fc_xcalloc(1, sizeof(*j));
	enum fc_status st;
	struct stat sb;

	j->dir = fc_xstrdup(dir);
	j->dir_fd = j->lock_fd = j->fd = -1;
	fc_buf_init(&j->wbuf, 0);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->tail = &j->head;
	if (dir == NULL || dir[0] != '/') {
		st = fc_err_set(err, FC_ECONFIG, "journal: the directory must be an absolute path");
		goto fail;
	}
	if ((st = make_dirs(dir, err)) != FC_OK)
		goto fail;
	if ((j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(j->dir_fd, &sb) != 0) {
		st = fc_err_set(err, FC_ECONFIG, "journal: %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((sb.st_mode & 077) != 0)
		fc_log(LOG_WARNING,
		       "journal: %s is accessible to others (mode %03o); 0700 is "
		       "advised",
		       dir, (unsigned)(sb.st_mode & 0777));
	if ((st = lock_and_start(j, err)) != FC_OK)
		goto fail;
	if (pthread_create(&j->thread, NULL, journal_thread, j) != 0) {
		st = fc_err_set(err, FC_EINTERNAL, "journal: cannot start the writer thread");
		goto fail;
	}
	j->thread_started = true;
	*out = j;
	return FC_OK;
fail:
	journal_close(j);
	return st;
}

/*
 * Write what is queued, stop the writer thread, close the files and free
 * j. NULL is fine.
 */
void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->thread_started) {
		pthread_mutex_lock(&j->lock);
		j->stop = true;
		pthread_cond_signal(&j->cond);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	fc_buf_free(&j->wbuf);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j->dir);
	free(j);
}
