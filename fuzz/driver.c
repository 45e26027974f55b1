/*
 * driver: runs a fuzz target without libFuzzer, for the regression suite.
 *
 *   <target>_fuzz [-t SECONDS] [-n ROUNDS] [-r FIRST] [-l] [-v] PATH...
 *
 * Every file under the PATHs (directories are walked recursively, names
 * starting with '.' skipped, files taken in sorted order) is passed to
 * LLVMFuzzerTestOneInput as it is, then ROUNDS rounds (default 2000) of
 * deterministic mutations of each seed follow: a xorshift generator with a
 * fixed seed stacks byte flips, truncations, deletions, copies, splices
 * from other seeds, insertions of bytes and strings that matter to our
 * parsers ('"', '{', '}', '.', '=', "{{", "}}", '*', NUL, ...), and the same
 * edits inside a base64url segment (so that a JWS keeps decoding). The
 * mutations stop early after SECONDS (default 20) of wall time.
 *
 * Each input is handed over in a heap block of exactly its size, so that
 * AddressSanitizer catches a parser reading one byte past the end. The
 * target's stderr (its log lines) goes to a scratch file and is shown only
 * for an input that crashes; that input is also written to
 * $TMPDIR/fulcrum-fuzz-crash-<target>-<pid> (TMPDIR defaults to /tmp) so
 * that it can be replayed: `<target>_fuzz FILE`. -v leaves stderr alone.
 *
 * LeakSanitizer normally reports leaks once, at exit, without saying which
 * input leaked; -l runs a leak check after every input (slow) and treats
 * the first input that leaks as a crash. -r FIRST generates the mutation
 * rounds before FIRST without running them, so that the inputs of round
 * FIRST are reached quickly (the seeds themselves still run first).
 *
 * Exit status: 0 when every input ran, 2 on a usage or I/O error; a crash
 * ends the process the way the crash (or the sanitizer) does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_SEED_BYTES (1024 * 1024) /* larger seed files are skipped */
#define MAX_INPUT_BYTES (MAX_SEED_BYTES + 64 * 1024)
#define MAX_WALK_DEPTH 16
#define MAX_STACKED_EDITS 4

/* Sanitizer hooks, present only in sanitized builds (weak: NULL otherwise). */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

struct seed {
	char *path;
	uint8_t *data;
	size_t len;
};

struct seeds {
	struct seed *v;
	size_t n, cap;
};

struct mbuf {
	uint8_t *p;
	size_t len;
};

/* --- crash reporting (async-signal-safe) ----------------------------------- */

static int report_fd = 2; /* the real stderr */
static int log_fd = -1;	  /* scratch file behind fd 2, or -1 with -v */
static char crash_path[512];
static char cur_desc[1024]; /* which seed, which mutation round */
static const uint8_t *cur_data;
static size_t cur_len;
static volatile sig_atomic_t dumped;
static bool check_leaks; /* -l */

static void say(const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(report_fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void say_num(size_t v)
{
	char b[24];
	size_t i = sizeof(b) - 1;

	b[i] = '\0';
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && i > 0);
	say(b + i);
}

/* Save the current input and show its stderr; once per process. */
static void dump_crash(void)
{
	static char chunk[4096];
	off_t off = 0;
	int fd;

	if (dumped || cur_data == NULL)
		return;
	dumped = 1;
	say("\ndriver: crash on ");
	say(cur_desc);
	say(" (");
	say_num(cur_len);
	say(" bytes)\n");
	fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		size_t done = 0;
		while (done < cur_len) {
			ssize_t w = write(fd, cur_data + done, cur_len - done);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
		close(fd);
		say("driver: input saved to ");
		say(crash_path);
		say("\n");
	}
	if (log_fd < 0)
		return;
	say("driver: stderr of that input:\n");
	while (off < 64 * 1024) {
		ssize_t r = pread(log_fd, chunk, sizeof(chunk), off);
		if (r <= 0)
			break;
		if (write(report_fd, chunk, (size_t)r) != r)
			break;
		off += r;
	}
	say("driver: end of stderr\n");
}

static void on_signal(int sig)
{
	dump_crash();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Catch sig unless someone (a sanitizer) already handles it. */
static void catch_signal(int sig)
{
	struct sigaction old, sa;

	if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* --- seeds ---------------------------------------------------------------- */

static bool read_seed(const char *path, struct seeds *s)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	size_t len;
	long size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return false;
	}
	if (size > MAX_SEED_BYTES) {
		fprintf(stderr, "driver: %s: over %d bytes, skipped\n", path, MAX_SEED_BYTES);
		fclose(f);
		return true;
	}
	data = fc_xmalloc((size_t)size + 1);
	len = fread(data, 1, (size_t)size, f);
	fclose(f);
	if (len != (size_t)size) {
		fprintf(stderr, "driver: %s: short read\n", path);
		free(data);
		return false;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = fc_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n].path = fc_xstrdup(path);
	s->v[s->n].data = data;
	s->v[s->n].len = len;
	s->n++;
	return true;
}

static bool walk(const char *path, int depth, struct seeds *s)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	bool ok = true;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? read_seed(path, s) : true;
	if (depth >= MAX_WALK_DEPTH)
		return true;
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return false;
	}
	while (ok && (de = readdir(d)) != NULL) {
		char *sub;

		if (de->d_name[0] == '.')
			continue;
		sub = fc_xasprintf("%s/%s", path, de->d_name);
		ok = walk(sub, depth + 1, s);
		free(sub);
	}
	closedir(d);
	return ok;
}

static int seed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seed *)a)->path, ((const struct seed *)b)->path);
}

/* --- mutations -------------------------------------------------------------- */

static uint64_t rng = 0x5eed0f0c1c0ffee5ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

static const uint8_t interesting_bytes[] = {
	'"', '{', '}',	'[',  ']',  '.',  '=',	'*', '\0', ':', ',', '\\', '$', '-',
	'_', '+', '/',	' ',  '\n', '\t', '\'', '`', '(',  ')', '&', '!',  '|', '#',
	'%', '@', 0x7f, 0x80, 0xbf, 0xc0, 0xff, '0', '9',  'a', 'A', 'e',
};

static const char *const interesting_strings[] = {
	"{{",
	"}}",
	"{{-",
	"-}}",
	"{{ end }}",
	"{{ else }}",
	"{{ else if",
	"{{if",
	"{{ .a }}",
	"{{ .b }}",
	"{{/*",
	"*/}}",
	" eq ",
	" ne ",
	" not ",
	" and ",
	" or ",
	"index . ",
	"(",
	")",
	"\"\"",
	"``",
	"\\u0000",
	"\\ud800",
	"\\udc00",
	"\\\"",
	"\\x41",
	"\\U0001F600",
	"null",
	"true",
	"false",
	"[]",
	"{}",
	"[[[[[[[[",
	"{\"a\":",
	"\"alg\":\"RS256\"",
	"\"alg\":\"none\"",
	"\"kid\":",
	"\"crit\":[]",
	"\"b64\":false",
	"-1",
	"0",
	"4294967296",
	"9223372036854775808",
	"1e999",
	"-0",
	"0.5",
	"..",
	"...",
	"==",
	"$.",
	"$.a.b",
	"https://",
	"spiffe://",
	"@",
	"!",
	"*.",
	"://",
	"%00",
	"%zz",
	"\xc3\x28",
	"\xe2\x82",
	"\xf0\x9f\x98\x80",
	"\xed\xa0\x80",
	"---\n",
	"- ",
	": ",
	"&a ",
	"*a",
	"<<: ",
	"? ",
	"!!str ",
	"|\n  ",
	">\n  ",
	"~",
	"\"keys\":[",
	"\"kty\":\"EC\"",
	"\"kty\":\"RSA\"",
	"\"crv\":\"P-256\"",
	"\"use\":\"enc\"",
	"AAAA",
	"____",
	"----",
	"AQAB",
};
#define N_STRINGS (sizeof(interesting_strings) / sizeof(interesting_strings[0]))

static void buf_insert(struct mbuf *m, size_t at, const uint8_t *p, size_t n)
{
	if (n == 0 || m->len + n > MAX_INPUT_BYTES)
		return;
	memmove(m->p + at + n, m->p + at, m->len - at);
	memcpy(m->p + at, p, n);
	m->len += n;
}

static void buf_delete(struct mbuf *m, size_t at, size_t n)
{
	memmove(m->p + at, m->p + at + n, m->len - at - n);
	m->len -= n;
}

/* Up to 256 bytes starting at a random place in [p, p + len). */
static void pick_chunk(const uint8_t *p, size_t len, const uint8_t **c, size_t *n)
{
	size_t at = below(len);

	*c = p + at;
	*n = 1 + below(len - at < 256 ? len - at : 256);
}

/* One plain edit; m->p has room for MAX_INPUT_BYTES. */
static void edit(struct mbuf *m, const struct seeds *all)
{
	size_t at = below(m->len + 1);
	const uint8_t *c;
	size_t n;

	switch (below(10)) {
	case 0: /* flip a bit */
		if (m->len > 0)
			m->p[below(m->len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* a random byte */
		if (m->len > 0)
			m->p[below(m->len)] = (uint8_t)rnd();
		break;
	case 2: /* an interesting byte in place of another */
		if (m->len > 0)
			m->p[below(m->len)] = interesting_bytes[below(sizeof(interesting_bytes))];
		break;
	case 3: /* insert an interesting byte */
		buf_insert(m, at, &interesting_bytes[below(sizeof(interesting_bytes))], 1);
		break;
	case 4: /* insert an interesting string */
	case 5: {
		const char *s = interesting_strings[below(N_STRINGS)];
		buf_insert(m, at, (const uint8_t *)s, strlen(s));
		break;
	}
	case 6: /* delete a few bytes */
		if (at < m->len)
			buf_delete(m, at, 1 + below(m->len - at < 16 ? m->len - at : 16));
		break;
	case 7: /* truncate */ m->len = below(m->len + 1); break;
	case 8: /* copy a chunk of the input elsewhere */
		if (m->len > 0) {
			uint8_t tmp[256];
			pick_chunk(m->p, m->len, &c, &n);
			memcpy(tmp, c, n);
			buf_insert(m, at, tmp, n);
		}
		break;
	case 9: { /* splice in a chunk of another seed */
		const struct seed *o = &all->v[below(all->n)];
		if (o->len > 0) {
			pick_chunk(o->data, o->len, &c, &n);
			buf_insert(m, at, c, n);
		}
		break;
	}
	}
}

static bool is_b64url(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Edit the bytes inside a base64url segment and encode them again, so that
 * the parser gets past its base64 check (a JWS part, a JWK member). */
static void edit_b64(struct mbuf *m, const struct seeds *all)
{
	size_t start = below(m->len), end;
	struct mbuf inner;
	uint8_t *dec = NULL;
	size_t dec_len;
	char *enc;

	while (start > 0 && is_b64url(m->p[start - 1]))
		start--;
	for (end = start; end < m->len && is_b64url(m->p[end]); end++)
		;
	if (end - start < 4 ||
	    !fc_b64url_decode((const char *)m->p + start, end - start, &dec, &dec_len)) {
		edit(m, all);
		return;
	}
	inner.p = fc_xmalloc(MAX_INPUT_BYTES);
	memcpy(inner.p, dec, dec_len);
	inner.len = dec_len;
	free(dec);
	for (size_t k = 1 + below(2); k > 0; k--)
		edit(&inner, all);
	enc = fc_b64url_encode(inner.p, inner.len);
	free(inner.p);
	/* the encoding is at most 4/3 of the bytes: keep the whole in bounds */
	if (m->len - (end - start) + strlen(enc) <= MAX_INPUT_BYTES) {
		buf_delete(m, start, end - start);
		buf_insert(m, start, (const uint8_t *)enc, strlen(enc));
	}
	free(enc);
}

static void mutate(struct mbuf *m, const struct seed *s, const struct seeds *all)
{
	memcpy(m->p, s->data, s->len);
	m->len = s->len;
	for (size_t k = 1 + below(MAX_STACKED_EDITS); k > 0; k--) {
		if (below(4) == 0)
			edit_b64(m, all);
		else
			edit(m, all);
	}
}

/* --- running ------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the target on an exact-size copy of (p, n). */
static void run_one(const uint8_t *p, size_t n)
{
	uint8_t *copy = fc_xmalloc(n > 0 ? n : 1);

	memcpy(copy, p, n);
	if (log_fd >= 0 && ftruncate(log_fd, 0) != 0)
		fprintf(stderr, "driver: truncating the log: %s\n", strerror(errno));
	cur_data = copy;
	cur_len = n;
	LLVMFuzzerTestOneInput(copy, n);
	if (check_leaks && __lsan_do_recoverable_leak_check() != 0) {
		say("driver: the input leaked memory (report above)");
		dump_crash();
		_exit(1);
	}
	cur_data = NULL;
	free(copy);
}

/* Send fd 2 to a scratch file (kept for dump_crash) and the sanitizer
 * reports to the real stderr. */
static bool hide_stderr(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = fc_xasprintf("%s/fulcrum-fuzz-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);

	if (fd < 0) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		free(path);
		return false;
	}
	unlink(path);
	free(path);
	if (fcntl(fd, F_SETFL, O_APPEND) != 0 || (report_fd = dup(2)) < 0 || dup2(fd, 2) < 0) {
		fprintf(stderr, "driver: redirecting stderr: %s\n", strerror(errno));
		close(fd);
		report_fd = 2;
		return false;
	}
	log_fd = fd;
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)report_fd);
	return true;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t SECONDS] [-n ROUNDS] [-r FIRST] [-l] [-v] PATH...\n", prog);
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *tmp = getenv("TMPDIR");
	double limit_s = 20, start, elapsed;
	unsigned long rounds = 2000, round = 0, first = 0;
	unsigned long long mutated = 0;
	struct seeds seeds = {0};
	struct mbuf m = {0};
	bool verbose = false, timed_out = false;
	int opt;
	char line[256];

	while ((opt = getopt(argc, argv, "t:n:r:lv")) != -1) {
		switch (opt) {
		case 't': limit_s = strtod(optarg, NULL); break;
		case 'n': rounds = strtoul(optarg, NULL, 10); break;
		case 'r': first = strtoul(optarg, NULL, 10); break;
		case 'l':
			if (__lsan_do_recoverable_leak_check == NULL) {
				fprintf(stderr, "%s: -l needs a build with LeakSanitizer\n", prog);
				return 2;
			}
			check_leaks = true;
			break;
		case 'v': verbose = true; break;
		default: usage(prog); return 2;
		}
	}
	if (optind >= argc) {
		usage(prog);
		return 2;
	}
	for (int i = optind; i < argc; i++)
		if (!walk(argv[i], 0, &seeds))
			return 2;
	if (seeds.n == 0) {
		fprintf(stderr, "driver: no seed files\n");
		return 2;
	}
	qsort(seeds.v, seeds.n, sizeof(*seeds.v), seed_cmp);

	snprintf(crash_path, sizeof(crash_path), "%s/fulcrum-fuzz-crash-%s-%ld",
		 tmp && *tmp ? tmp : "/tmp", prog, (long)getpid());
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(dump_crash);
	catch_signal(SIGABRT);
	catch_signal(SIGSEGV);
	catch_signal(SIGBUS);
	catch_signal(SIGFPE);
	catch_signal(SIGILL);
	if (!verbose && !hide_stderr())
		return 2;

	start = now_s();
	for (size_t i = 0; i < seeds.n; i++) {
		snprintf(cur_desc, sizeof(cur_desc), "seed %s", seeds.v[i].path);
		run_one(seeds.v[i].data, seeds.v[i].len);
	}
	m.p = fc_xmalloc(MAX_INPUT_BYTES);
	for (round = 0; round < rounds && !timed_out; round++) {
		for (size_t i = 0; i < seeds.n; i++) {
			if (now_s() - start > limit_s) {
				timed_out = true;
				break;
			}
			mutate(&m, &seeds.v[i], &seeds);
			if (round < first)
				continue;
			snprintf(cur_desc, sizeof(cur_desc), "mutation round %lu of seed %s", round,
				 seeds.v[i].path);
			run_one(m.p, m.len);
			mutated++;
		}
	}
	elapsed = now_s() - start;
	snprintf(line, sizeof(line),
		 "%s: %zu seeds, %llu mutated inputs (%lu rounds%s) in %.1f s\n", prog, seeds.n,
		 mutated, round, timed_out ? ", time limit reached" : "", elapsed);
	say(line);

	free(m.p);
	for (size_t i = 0; i < seeds.n; i++) {
		free(seeds.v[i].path);
		free(seeds.v[i].data);
	}
	free(seeds.v);
	return 0;
}
