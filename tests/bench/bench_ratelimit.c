/*
 * Benchmark: the cost of a rate-limit check (ratelimit/).
 *
 *   key        rl_key_make alone (SHA-256 of issuer and subject)
 *   admit      rl_check admitting: 10000 identities in turn, each with
 *              room left (the common case), one bucket each
 *   admit2     the same with a repository bucket too (CI identities)
 *   refuse     rl_check refusing (message and Retry-After formatted)
 *   admit x2   admit on two threads at once (contention on the shards)
 *   memory     heap bytes per key held in memory (mallinfo2 over 100000
 *              keys), and the whole table at max-keys
 *
 * With a Redis URL, admit and admit2 go through Redis (one EVALSHA round
 * trip per check) instead; tests/bench/bench-ratelimit.sh starts a
 * redis-server on loopback for that and reports Redis's memory per key.
 * Usage: bench_ratelimit [seconds per measurement] [redis URL], or
 * bench_ratelimit --script to print the Redis script. Build with
 * --buildtype=release for meaningful figures.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit_int.h"

#define IDENTITIES 10000

static double seconds = 1.0;
static char subjects[IDENTITIES][96];
static char repos[IDENTITIES][48];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct rl_limiter *make(const char *yaml, const char *redis)
{
	struct rl_config *cfg = NULL;
	struct rl_limiter *l = NULL;
	struct rl_options o = {.redis = redis, .redis_conns = 4};
	struct fc_err err = {0};

	if (rl_config_load_mem(yaml, strlen(yaml), "bench", &cfg, &err) != FC_OK ||
	    rl_limiter_new(cfg, &o, &l, &err) != FC_OK) {
		fprintf(stderr, "bench_ratelimit: %s\n", err.msg);
		exit(1);
	}
	return l;
}

struct loop {
	struct rl_limiter *l;
	bool repo; /* a repository bucket too (one per identity) */
	bool same; /* one identity for every call, of its own */
	unsigned long n, refused;
};

static void *run_loop(void *arg)
{
	struct loop *lp = arg;
	double end = now_s() + seconds;
	unsigned long i = 0;

	while ((i & 255) != 0 || now_s() < end) {
		size_t k = i % IDENTITIES;
		struct rl_request rq = {"https://token.actions.githubusercontent.com",
					lp->same ? "over-its-limit" : subjects[k],
					lp->repo ? repos[k] : NULL};
		struct fc_err err = {0};
		int64_t retry;
		if (rl_check(lp->l, &rq, &retry, &err) != FC_OK)
			lp->refused++;
		i++;
	}
	lp->n = i;
	return NULL;
}

static void report(const char *name, unsigned long n, unsigned long refused, double secs)
{
	printf("%-10s %10.0f checks/s  %8.0f ns/check  (%lu refused of %lu)\n", name,
	       (double)n / secs, secs * 1e9 / (double)n, refused, n);
}

static void bench_checks(const char *redis)
{
	/* 1000/second with a burst of 10000: every identity has room. */
	struct rl_limiter *l = make("default:\n"
				    "  identity: {rate: 1000/second, burst: 10000}\n"
				    "  repository: {rate: 1000/second, burst: 10000}\n",
				    redis);
	struct rl_limiter *tight = make("default: {identity: {rate: 1/hour, burst: 1}}\n", redis);
	struct loop a = {l, false, false, 0, 0}, b = {l, true, false, 0, 0};
	struct loop c = {tight, false, true, 0, 0};
	struct loop t[2] = {{l, false, false, 0, 0}, {l, false, false, 0, 0}};
	pthread_t th[2];
	double t0;

	t0 = now_s();
	run_loop(&a);
	report("admit", a.n, a.refused, now_s() - t0);
	t0 = now_s();
	run_loop(&b);
	report("admit2", b.n, b.refused, now_s() - t0);
	t0 = now_s();
	run_loop(&c);
	report("refuse", c.n, c.refused, now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, run_loop, &t[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	report("admit x2", t[0].n + t[1].n, t[0].refused + t[1].refused, now_s() - t0);
	rl_limiter_free(l);
	rl_limiter_free(tight);
}

static void bench_key(void)
{
	struct rl_key k;
	double t0 = now_s(), end = t0 + seconds;
	unsigned long n = 0;

	while ((n & 1023) != 0 || now_s() < end) {
		rl_key_make(RL_BUCKET_IDENTITY, "https://token.actions.githubusercontent.com",
			    subjects[n % IDENTITIES], &k);
		n++;
	}
	report("key", n, 0, now_s() - t0);
}

/* Heap bytes per key: N keys with a TAT an hour ahead, none expiring. */
static void bench_memory(size_t n)
{
	struct rl_limit lim = {RL_RATE, 3600LL * 1000000, 1, 1, "hour"};
	struct mallinfo2 before, after;
	struct rl_mem *m;
	struct rl_take t;
	char sub[40];

	before = mallinfo2();
	m = rl_mem_new(2 * n); /* room for all: no eviction */
	for (size_t i = 0; i < n; i++) {
		struct rl_key k;
		snprintf(sub, sizeof(sub), "user-%zu@example.com", i);
		rl_key_make(RL_BUCKET_IDENTITY, "https://accounts.example.com", sub, &k);
		rl_mem_take(m, &k, &lim, 1, 1000000, &t);
	}
	after = mallinfo2();
	printf("memory     %zu keys: %.1f MiB heap, %.0f bytes/key (allocator overhead included)\n",
	       rl_mem_count(m), (double)(after.uordblks - before.uordblks) / (1024.0 * 1024.0),
	       (double)(after.uordblks - before.uordblks) / (double)rl_mem_count(m));
	rl_mem_free(m);
}

int main(int argc, char **argv)
{
	const char *redis = argc > 2 ? argv[2] : NULL;

	if (argc > 1 && strcmp(argv[1], "--script") == 0) {
		fputs(rl_redis_script, stdout);
		return 0;
	}
	if (argc > 1)
		seconds = atof(argv[1]);
	if (seconds <= 0)
		seconds = 1.0;
	fc_log_set_level(LOG_ERR);
	for (int i = 0; i < IDENTITIES; i++) {
		snprintf(subjects[i], sizeof(subjects[i]),
			 "https://github.com/acme/app%d/.github/workflows/release.yml@refs/heads/"
			 "main",
			 i);
		snprintf(repos[i], sizeof(repos[i]), "https://github.com/acme/app%d", i);
	}
	printf("rate-limit check, %s, %.1f s per measurement\n", redis ? redis : "in memory",
	       seconds);
	if (redis == NULL)
		bench_key();
	bench_checks(redis);
	if (redis == NULL)
		bench_memory(RL_DEFAULT_MAX_KEYS);
	return 0;
}
