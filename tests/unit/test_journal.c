/*
 * Unit tests of journal/: records written and made durable in order, the
 * chain continued across opens and files, one writer per directory, and
 * journal_verify finding what is wrong: a changed byte, a missing line, a
 * bad field, an outcome without its intent; a torn last line is only a
 * note, and intents without outcomes are listed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "journal_int.h"

static char dir[256];

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	enum fc_status last;
	uint64_t seq;
};

static void done_cb(void *arg, enum fc_status st, uint64_t seq)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done++;
	w->last = st;
	w->seq = seq;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void wait_for(struct waiter *w, int n)
{
	pthread_mutex_lock(&w->lock);
	while (w->done < n)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static const uint8_t serial[] = {0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9};

/* An intent and (if outcome) its outcome; the intent's sequence number. */
static uint64_t issue(struct journal *j, enum journal_kind kind, bool outcome)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
	struct journal_intent in = {.kind = kind,
				    .serial = serial,
				    .serial_len = sizeof(serial),
				    .san = "alice@example.com",
				    .san_type = "email",
				    .issuer = "https://issuer.example",
				    .token_id = "jti-1",
				    .key_id = 1};
	struct journal_sct sct = {.timestamp = 1700000000000};
	struct journal_outcome out = {.kind = kind,
				      .serial = serial,
				      .serial_len = sizeof(serial),
				      .ok = true,
				      .scts = &sct,
				      .n_scts = kind == JOURNAL_CERT};
	uint64_t seq;

	journal_append_intent(j, &in, done_cb, &w);
	wait_for(&w, 1);
	CHECK(w.last == FC_OK);
	seq = w.seq;
	if (outcome) {
		out.intent_seq = seq;
		journal_append_outcome(j, &out, JOURNAL_DURABLE, done_cb, &w);
		wait_for(&w, 2);
		CHECK(w.last == FC_OK && w.seq == seq + 1);
	}
	return seq;
}

static bool verify(struct journal_report *rep)
{
	struct fc_err err = {0};
	FILE *out = getenv("JOURNAL_TEST_VERBOSE") ? stdout : fopen("/dev/null", "w");
	enum fc_status st = journal_verify(dir, out, rep, &err);

	if (out != stdout)
		fclose(out);
	return st == FC_OK && rep->intact;
}

/* The name of the n-th journal file (0 = oldest), in a static buffer. */
static const char *file_n(size_t n)
{
	static char path[512];
	struct journal_file *f = NULL;
	size_t count = 0;

	CHECK(journal_files_list(dir, &f, &count, NULL) == FC_OK);
	path[0] = '\0';
	if (n < count)
		snprintf(path, sizeof(path), "%s/%s", dir, f[n].name);
	journal_files_free(f, count);
	return path;
}

static void slurp(const char *path, char **text, size_t *len)
{
	*text = NULL;
	CHECK(fc_read_file(path, 1 << 20, text, len, NULL) == FC_OK);
}

static void spit(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	fwrite(text, 1, len, f);
	fclose(f);
}

static void test_write_and_verify(void)
{
	struct journal *j = NULL, *j2 = NULL;
	struct journal_report rep;
	struct fc_err err = {0};
	struct stat sb;

	CHECK(journal_open(dir, &j, &err) == FC_OK);
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	/* one writer per directory */
	CHECK(journal_open(dir, &j2, &err) == FC_EUNAVAIL);
	CHECK(issue(j, JOURNAL_PRECERT, true) == 2);
	CHECK(issue(j, JOURNAL_CERT, true) == 4);
	issue(j, JOURNAL_CERT, false); /* an intent whose outcome never came */
	journal_close(j);
	CHECK(verify(&rep));
	CHECK(rep.records == 6 && rep.intents == 3 && rep.outcomes == 2 && rep.open_intents == 1);
	/* reopened: a new file continuing the chain */
	CHECK(journal_open(dir, &j, &err) == FC_OK);
	CHECK(issue(j, JOURNAL_CERT, true) == 8);
	journal_close(j);
	CHECK(verify(&rep));
	CHECK(rep.files == 2 && rep.records == 9 && rep.first_seq == 1);
	CHECK(file_n(1)[0] != '\0');
}

/* Each damage, made on a copy of the first file and undone after. */
static void test_damage(void)
{
	struct journal_report rep;
	char path[512], *orig, *t;
	size_t len;

	snprintf(path, sizeof(path), "%s", file_n(0));
	slurp(path, &orig, &len);
	t = malloc(len + 1);

	/* a changed byte in the middle of the chain */
	memcpy(t, orig, len);
	*strstr(t, "alice") = 'A';
	spit(path, t, len);
	CHECK(!verify(&rep));
	/* a line taken out */
	{
		char *second = strchr(orig, '\n') + 1, *third = strchr(second, '\n') + 1;
		size_t head = (size_t)(second - orig);
		memcpy(t, orig, head);
		memcpy(t + head, third, len - (size_t)(third - orig));
		spit(path, t, len - (size_t)(third - second));
		CHECK(!verify(&rep));
	}
	/* a torn last line is a note, not a break, and the next file still links */
	spit(path, orig, len);
	{
		/* where the records end (the zeros ahead of them follow) */
		size_t end = len;
		FILE *f = fopen(path, "r+");
		while (end > 0 && orig[end - 1] == '\0')
			end--;
		fseek(f, (long)end, SEEK_SET);
		fputs("{\"seq\":7,\"pr", f);
		fclose(f);
	}
	CHECK(verify(&rep));
	CHECK(rep.torn_tails == 1);
	spit(path, orig, len);
	CHECK(verify(&rep));
	free(t);
	free(orig);
}

/* Records that are well chained but say something wrong. */
static void test_fields(void)
{
	struct journal *j = NULL;
	struct journal_report rep;
	struct fc_err err = {0};
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
	struct journal_outcome out = {.intent_seq = 2,
				      .kind = JOURNAL_CERT,
				      .serial = serial,
				      .serial_len = sizeof(serial),
				      .ok = true};

	/* an outcome answering an intent that already has one (record 2) */
	CHECK(journal_open(dir, &j, &err) == FC_OK);
	journal_append_outcome(j, &out, JOURNAL_WRITTEN, done_cb, &w);
	wait_for(&w, 1);
	journal_close(j);
	CHECK(!verify(&rep));
}

static void rm_rf(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *de;
	char p[512];

	while (dh != NULL && (de = readdir(dh)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
		unlink(p);
	}
	if (dh != NULL)
		closedir(dh);
	rmdir(d);
}

int main(void)
{
	char base[] = "/tmp/fulcrum-journal-test.XXXXXX";

	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s/sub/journal", base);
	test_write_and_verify();
	test_damage();
	test_fields();
	rm_rf(dir);
	snprintf(dir, sizeof(dir), "%s/sub", base);
	rmdir(dir);
	rmdir(base);
	return check_exit();
}
