/* Unit tests for ratelimit/: the GCRA arithmetic, Retry-After, limits and
 * overrides from the configuration (and its refusals), the in-memory table
 * (eviction, the key cap), many threads on one bucket, the Redis address
 * and the fall-back to memory when Redis does not answer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ratelimit_int.h"

#define SEC 1000000LL

/* --- a clock the tests move -------------------------------------------------- */

static _Atomic int64_t fake_ms = 1000000;
static int64_t fake_mono(void)
{
	return atomic_load(&fake_ms);
}
static void advance_ms(int64_t ms)
{
	atomic_fetch_add(&fake_ms, ms);
}

/* --- helpers ------------------------------------------------------------------ */

static struct rl_limit rate(uint32_t count, int64_t period_us, uint32_t burst)
{
	struct rl_limit l = {RL_RATE, period_us / count, burst, count, "test"};
	return l;
}

static struct rl_config *load(const char *text)
{
	struct rl_config *cfg = NULL;
	struct fc_err err = {0};

	if (rl_config_load_mem(text, strlen(text), "test.yaml", &cfg, &err) != FC_OK)
		fprintf(stderr, "unexpected refusal: %s\n", err.msg);
	return cfg;
}

static struct rl_limiter *limiter(const char *text)
{
	struct rl_limiter *l = NULL;
	struct rl_config *cfg = load(text);
	struct fc_err err = {0};

	if (cfg == NULL || rl_limiter_new(cfg, NULL, &l, &err) != FC_OK)
		return NULL;
	return l;
}

/* rl_check for (issuer, subject, repository): true if admitted. */
static bool admit(struct rl_limiter *l, const char *iss, const char *sub, const char *repo,
		  int64_t *retry, struct fc_err *err)
{
	struct rl_request rq = {iss, sub, repo};
	int64_t r = 0;
	struct fc_err e = {0};
	enum fc_status st = rl_check(l, &rq, &r, &e);

	if (retry)
		*retry = r;
	if (err)
		*err = e;
	return st == FC_OK;
}

static int admitted_now(struct rl_limiter *l, const char *iss, const char *sub, const char *repo,
			int tries)
{
	int n = 0;

	for (int i = 0; i < tries; i++)
		n += admit(l, iss, sub, repo, NULL, NULL);
	return n;
}

/* --- GCRA arithmetic ---------------------------------------------------------------- */

static void test_gcra(void)
{
	struct rl_limit l = rate(10, 60 * SEC, 3); /* T = 6 s */
	int64_t tat = 0, now = 1000 * SEC, next, wait = 0;
	int ok = 0;

	/* the burst at once, then refused for exactly one interval */
	for (int i = 0; i < 3; i++) {
		CHECK(rl_gcra(tat, now, &l, &next, &wait));
		tat = next;
	}
	CHECK(tat == now + 3 * 6 * SEC);
	CHECK(!rl_gcra(tat, now, &l, &next, &wait));
	CHECK(wait == 6 * SEC);
	CHECK(!rl_gcra(tat, now + 6 * SEC - 1, &l, &next, &wait) && wait == 1);
	CHECK(rl_gcra(tat, now + 6 * SEC, &l, &next, &wait));
	/* steady: over 10 minutes after the burst, one per 6 s */
	tat = 0;
	for (int64_t t = now; t < now + 600 * SEC; t += SEC / 10) {
		if (rl_gcra(tat, t, &l, &next, &wait)) {
			tat = next;
			ok++;
		}
	}
	CHECK(ok == 3 + 99); /* burst + (600 s - 6 s) / 6 s (the last slot at 594 s) */
	/* a TAT in the past is a full bucket */
	CHECK(rl_gcra(now - SEC, now, &l, &next, &wait) && next == now + 6 * SEC);
	/* burst 1: one, then a full interval */
	l = rate(1, 60 * 60 * SEC, 1);
	CHECK(rl_gcra(0, now, &l, &next, &wait));
	CHECK(!rl_gcra(next, now, &l, &next, &wait) && wait == 3600 * SEC);

	/* Retry-After: whole seconds, rounded up, at least 1 */
	CHECK(rl_retry_after_s(0) == 1);
	CHECK(rl_retry_after_s(1) == 1);
	CHECK(rl_retry_after_s(SEC) == 1);
	CHECK(rl_retry_after_s(SEC + 1) == 2);
	CHECK(rl_retry_after_s(6 * SEC) == 6);
	CHECK(rl_retry_after_s(8571428) == 9);
}

/* --- limits through rl_check, on the fake clock ---------------------------------- */

static const char *const config_yaml = "# per identity, per repository\n"
				       "default:\n"
				       "  identity: {rate: 10/minute, burst: 3}\n"
				       "  repository: {rate: 60/hour, burst: 5}\n"
				       "issuers:\n"
				       "  - issuer: https://ci.example\n"
				       "    identity: {rate: 7/minute, burst: 2}\n"
				       "  - issuer: https://open.example\n"
				       "    identity: {rate: unlimited}\n"
				       "overrides:\n"
				       "  - issuer: https://idp.example\n"
				       "    subject: bot@example.com\n"
				       "    rate: unlimited\n"
				       "  - issuer: https://idp.example\n"
				       "    subject: banned@example.com\n"
				       "    rate: 0\n"
				       "  - issuer: https://idp.example\n"
				       "    subject: slow@example.com\n"
				       "    rate: 1/hour\n"
				       "    burst: 1\n"
				       "  - issuer: https://ci.example\n"
				       "    repository: https://git.example/acme/noisy\n"
				       "    rate: 0\n"
				       "  - issuer: https://ci.example\n"
				       "    repository: https://git.example/acme/release\n"
				       "    rate: unlimited\n";

static void test_limits(void)
{
	struct rl_limiter *l = limiter(config_yaml);
	struct fc_err err;
	int64_t retry;

	CHECK(l != NULL);
	if (l == NULL)
		return;
	/* default: burst 3, then 429 with Retry-After 6 (10/minute) */
	CHECK(admitted_now(l, "https://idp.example", "alice@example.com", NULL, 3) == 3);
	CHECK(!admit(l, "https://idp.example", "alice@example.com", NULL, &retry, &err));
	CHECK(retry == 6);
	CHECK(err.cls == FC_CLASS_RATE_LIMIT && err.status == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "identity alice@example.com of issuer https://idp.example");
	CHECK_CONTAINS(err.msg, "10/minute (burst 3)");
	CHECK_CONTAINS(err.msg, "retry in 6 s");
	/* another identity, and the same subject at another issuer, are apart */
	CHECK(admit(l, "https://idp.example", "bob@example.com", NULL, NULL, NULL));
	CHECK(admit(l, "https://other.example", "alice@example.com", NULL, NULL, NULL));
	/* time refills one token per interval */
	advance_ms(5999);
	CHECK(!admit(l, "https://idp.example", "alice@example.com", NULL, &retry, NULL) &&
	      retry == 1);
	advance_ms(1);
	CHECK(admit(l, "https://idp.example", "alice@example.com", NULL, NULL, NULL));
	CHECK(!admit(l, "https://idp.example", "alice@example.com", NULL, NULL, NULL));

	/* overrides: unlimited, 0, slower */
	CHECK(admitted_now(l, "https://idp.example", "bot@example.com", NULL, 500) == 500);
	CHECK(!admit(l, "https://idp.example", "banned@example.com", NULL, &retry, &err));
	CHECK(retry == RL_REFUSED_RETRY_S);
	CHECK_CONTAINS(err.msg, "banned@example.com of issuer https://idp.example may not obtain");
	CHECK(admit(l, "https://idp.example", "slow@example.com", NULL, NULL, NULL));
	CHECK(!admit(l, "https://idp.example", "slow@example.com", NULL, &retry, NULL) &&
	      retry == 3600);
	/* the override matches its issuer only */
	CHECK(admitted_now(l, "https://other.example", "banned@example.com", NULL, 3) == 3);

	/* issuer defaults: 7/minute burst 2 (T = 8.571428 s: Retry-After 9) */
	CHECK(admitted_now(l, "https://ci.example", "wf-a", NULL, 5) == 2);
	CHECK(!admit(l, "https://ci.example", "wf-a", NULL, &retry, NULL) && retry == 9);
	CHECK(admitted_now(l, "https://open.example", "anyone", NULL, 100) == 100);

	/* repository: 5 at once shared by every workflow of the repository */
	CHECK(admitted_now(l, "https://ci.example", "wf-1", "https://git.example/acme/app", 1) +
		      admitted_now(l, "https://ci.example", "wf-2", "https://git.example/acme/app",
				   2) +
		      admitted_now(l, "https://ci.example", "wf-3", "https://git.example/acme/app",
				   2) ==
	      5);
	CHECK(!admit(l, "https://ci.example", "wf-4", "https://git.example/acme/app", &retry,
		     &err));
	CHECK(retry == 60);
	CHECK_CONTAINS(err.msg,
		       "repository https://git.example/acme/app of issuer https://ci.example");
	/* a refusal by one bucket takes nothing from the other: wf-4 still has
	 * its full identity burst for another repository */
	CHECK(admitted_now(l, "https://ci.example", "wf-4", "https://git.example/acme/lib", 2) ==
	      2);
	/* repository overrides */
	CHECK(!admit(l, "https://ci.example", "wf-5", "https://git.example/acme/noisy", &retry,
		     &err));
	CHECK(retry == RL_REFUSED_RETRY_S);
	CHECK_CONTAINS(err.msg, "repository https://git.example/acme/noisy");
	CHECK(admitted_now(l, "https://ci.example", "wf-6", "https://git.example/acme/release",
			   5) == 2); /* its identity limit still holds */

	/* metrics: refusals by issuer */
	{
		struct fc_buf b;
		fc_buf_init(&b, 0);
		rl_metrics_text(l, &b);
		CHECK_CONTAINS((char *)b.data,
			       "fulcrum_rate_limited_total{issuer=\"https://idp.example\"} ");
		CHECK_CONTAINS((char *)b.data, "fulcrum_rate_limit_keys ");
		CHECK(strstr((char *)b.data, "redis") == NULL);
		fc_buf_free(&b);
	}
	rl_limiter_free(l);
}

/* No default: nothing is limited but what the file names. */
static void test_no_default(void)
{
	struct rl_limiter *l =
		limiter("overrides:\n"
			"  - {issuer: https://i, subject: s, rate: 2/second, burst: 2}\n");

	CHECK(l != NULL);
	if (l == NULL)
		return;
	CHECK(admitted_now(l, "https://i", "other", "https://repo", 50) == 50);
	CHECK(admitted_now(l, "https://i", "s", NULL, 5) == 2);
	advance_ms(500);
	CHECK(admitted_now(l, "https://i", "s", NULL, 5) == 1);
	rl_limiter_free(l);
}

/* Refusals counted under at most 32 issuer labels, the rest as "other". */
static void test_metric_labels(void)
{
	struct rl_limiter *l = limiter("default: {identity: {rate: 0}}\n");
	struct fc_buf b;
	char iss[64];
	size_t lines = 0;

	CHECK(l != NULL);
	if (l == NULL)
		return;
	for (int i = 0; i < 40; i++) {
		snprintf(iss, sizeof(iss), "https://tenant-%d.example", i);
		CHECK(!admit(l, iss, "x", NULL, NULL, NULL));
	}
	CHECK(!admit(l, "https://q\"uote\\", "x", NULL, NULL, NULL));
	fc_buf_init(&b, 0);
	rl_metrics_text(l, &b);
	for (const char *p = (char *)b.data; (p = strstr(p, "\nfulcrum_rate_limited_total{")); p++)
		lines++;
	CHECK(lines == 33);
	CHECK_CONTAINS((char *)b.data, "fulcrum_rate_limited_total{issuer=\"other\"} 9\n");
	CHECK_CONTAINS((char *)b.data, "{issuer=\"https://tenant-0.example\"} 1\n");
	fc_buf_free(&b);
	rl_limiter_free(l);
}

/* --- the in-memory table: eviction and the cap ------------------------------------- */

static struct rl_key key_n(int i)
{
	struct rl_key k;
	char v[32];

	snprintf(v, sizeof(v), "subject-%d", i);
	rl_key_make(RL_BUCKET_IDENTITY, "https://i", v, &k);
	return k;
}

static void test_eviction(void)
{
	struct rl_mem *m = rl_mem_new(4);
	struct rl_limit l = rate(1, 10 * SEC, 2); /* full again 10 s after one request */
	struct rl_take t;
	int64_t now = 100 * SEC;

	for (int i = 0; i < 4; i++) {
		struct rl_key k = key_n(i);
		rl_mem_take(m, &k, &l, 1, now + i * SEC, &t);
		CHECK(t.admitted);
	}
	CHECK(rl_mem_count(m) == 4);
	/* past the cap, nothing passed: the key nearest to full (key 0) goes */
	{
		struct rl_key k = key_n(4);
		rl_mem_take(m, &k, &l, 1, now + 4 * SEC, &t);
	}
	CHECK(rl_mem_count(m) == 4 && rl_mem_evictions(m) == 1);
	/* key 0 starts over with a full bucket: 2 more */
	{
		struct rl_key k = key_n(0);
		rl_mem_take(m, &k, &l, 1, now + 4 * SEC, &t);
		CHECK(t.admitted);
		rl_mem_take(m, &k, &l, 1, now + 4 * SEC, &t);
		CHECK(t.admitted);
		rl_mem_take(m, &k, &l, 1, now + 4 * SEC, &t);
		CHECK(!t.admitted && t.wait_us == 10 * SEC);
	}
	CHECK(rl_mem_evictions(m) == 2 && rl_mem_count(m) == 4);
	/* once every bucket is full again, new keys find room by dropping
	 * passed ones, without counting an eviction */
	for (int i = 10; i < 14; i++) {
		struct rl_key k = key_n(i);
		rl_mem_take(m, &k, &l, 1, now + 60 * SEC, &t);
		CHECK(t.admitted);
	}
	CHECK(rl_mem_count(m) == 4 && rl_mem_evictions(m) == 2);
	rl_mem_free(m);

	/* a large table: 64 shards, never above the cap, growing chains */
	m = rl_mem_new(1000);
	for (int i = 0; i < 5000; i++) {
		struct rl_key k = key_n(i);
		rl_mem_take(m, &k, &l, 1, now, &t);
		CHECK(t.admitted);
		CHECK(rl_mem_count(m) <= 1000);
	}
	CHECK(rl_mem_count(m) >= 900); /* shards fill unevenly, at most 15 each */
	CHECK(rl_mem_evictions(m) == 5000 - rl_mem_count(m));
	rl_mem_free(m);
}

/* Passed keys are dropped whenever their chain is walked. */
static void test_passed_dropped(void)
{
	struct rl_mem *m = rl_mem_new(10);
	struct rl_limit l = rate(1, SEC, 1);
	struct rl_take t;
	struct rl_key k = key_n(1);

	rl_mem_take(m, &k, &l, 1, 10 * SEC, &t);
	CHECK(rl_mem_count(m) == 1);
	rl_mem_take(m, &k, &l, 1, 10 * SEC + SEC, &t); /* TAT passed: dropped, then taken */
	CHECK(t.admitted && rl_mem_count(m) == 1);
	rl_mem_free(m);
}

/* --- threads -------------------------------------------------------------------- */

static pthread_barrier_t start_line;

struct worker {
	struct rl_limiter *l;
	int id;
	int admitted;
	bool shared_repo;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char sub[32];

	snprintf(sub, sizeof(sub), "wf-%d", w->id);
	pthread_barrier_wait(&start_line); /* all at once */
	for (int i = 0; i < 2000; i++) {
		if (w->shared_repo)
			w->admitted +=
				admit(w->l, "https://ci", sub, "https://git/acme/app", NULL, NULL);
		else
			w->admitted += admit(w->l, "https://idp", "alice", NULL, NULL, NULL);
	}
	return NULL;
}

static int run_threads(struct rl_limiter *l, bool shared_repo)
{
	enum { N = 8 };
	pthread_t th[N];
	struct worker w[N];
	int total = 0;

	pthread_barrier_init(&start_line, NULL, N);
	for (int i = 0; i < N; i++) {
		w[i] = (struct worker){l, i, 0, shared_repo};
		pthread_create(&th[i], NULL, hammer, &w[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		total += w[i].admitted;
	}
	pthread_barrier_destroy(&start_line);
	return total;
}

static void test_threads(void)
{
	struct rl_limiter *l = limiter("default:\n"
				       "  identity: {rate: 1/hour, burst: 3000}\n"
				       "  repository: {rate: 1/hour, burst: 2500}\n");

	CHECK(l != NULL);
	if (l == NULL)
		return;
	/* Rounds of 8 threads x 2000 tries, started together, the clock
	 * standing still within a round and every bucket full again between
	 * rounds: on one identity exactly its burst passes; for 8 identities
	 * of one repository (two buckets, two shards locked at once) exactly
	 * the repository's burst. */
	for (int round = 0; round < 10; round++) {
		int one = run_threads(l, false), repo = run_threads(l, true);
		CHECK(one == 3000);
		CHECK(repo == 2500);
		if (one != 3000 || repo != 2500)
			fprintf(stderr, "round %d: %d and %d admitted\n", round, one, repo);
		advance_ms(2 * 3600 * 1000 * 3000LL);
	}
	rl_limiter_free(l);
}

/* --- the configuration and its refusals ---------------------------------------------- */

static void expect_refused(const char *text, const char *want)
{
	struct rl_config *cfg = NULL;
	struct fc_err err = {0};

	CHECK(rl_config_load_mem(text, strlen(text), "rl.conf", &cfg, &err) == FC_ECONFIG);
	CHECK(cfg == NULL);
	CHECK_CONTAINS(err.msg, want);
	CHECK_CONTAINS(err.msg, "rl.conf");
}

static void test_config(void)
{
	struct rl_config *cfg =
		load("{\"default\": {\"identity\": {\"rate\": \"100/h\", \"burst\": 10},"
		     " \"repository\": {\"rate\": \"1000/day\", \"burst\": \"50\"}},"
		     " \"issuers\": [{\"issuer\": \"https://a\", \"repository\":"
		     " {\"rate\": 0}}],"
		     " \"overrides\": [{\"issuer\": \"https://a\", \"subject\": \"x\","
		     " \"rate\": \"2/s\", \"burst\": 1}],"
		     " \"max-keys\": 5000, \"redis-timeout-ms\": 200}");
	struct rl_limit id, repo;
	struct rl_request rq = {"https://a", "y", "https://r"};

	CHECK(cfg != NULL);
	if (cfg != NULL) {
		rl_config_lookup(cfg, &rq, &id, &repo);
		CHECK(id.kind == RL_RATE && id.interval_us == 36 * SEC && id.burst == 10);
		CHECK(strcmp(id.unit, "hour") == 0 && id.count == 100);
		CHECK(repo.kind == RL_REFUSE);
		rq.subject = "x";
		rq.issuer = "https://b";
		rl_config_lookup(cfg, &rq, &id, &repo);
		CHECK(id.kind == RL_RATE &&
		      id.interval_us == 36 * SEC); /* override is per issuer */
		CHECK(repo.kind == RL_RATE && repo.interval_us == 86400 * SEC / 1000 &&
		      repo.burst == 50);
		rq.issuer = "https://a";
		rq.repository = NULL;
		rl_config_lookup(cfg, &rq, &id, &repo);
		CHECK(id.kind == RL_RATE && id.interval_us == SEC / 2 && id.burst == 1);
		CHECK(repo.kind == RL_UNLIMITED);
		CHECK(rl_config_max_keys(cfg) == 5000 && rl_config_redis_timeout_ms(cfg) == 200);
		rl_config_free(cfg);
	}
	/* an empty file: nothing limited, defaults for the tunables */
	cfg = load("");
	CHECK(cfg != NULL && rl_config_max_keys(cfg) == RL_DEFAULT_MAX_KEYS &&
	      rl_config_redis_timeout_ms(cfg) == RL_DEFAULT_REDIS_TIMEOUT_MS);
	rl_config_free(cfg);

	expect_refused("default: {identity: {rate: 5, burst: 1}}",
		       "default.identity: rate \"5\": write N/second");
	expect_refused("default: {identity: {rate: 5/fortnight, burst: 1}}", "5/fortnight");
	expect_refused("default: {identity: {rate: 5/minute}}",
		       "default.identity: burst is missing");
	expect_refused("default: {identity: {rate: 5/minute, burst: 0}}",
		       "burst must be a whole number from 1 to 10000");
	expect_refused("default: {identity: {rate: 5/minute, burst: 10001}}", "from 1 to 10000");
	expect_refused("default: {identity: {rate: 5/minute, burst: -1}}", "burst must be");
	expect_refused("default: {identity: {rate: unlimited, burst: 3}}",
		       "burst has no meaning with rate unlimited");
	expect_refused("default: {identity: {rate: 0, burst: 3}}",
		       "burst has no meaning with rate 0");
	expect_refused("default: {identity: {rate: 5000/second, burst: 3}}",
		       "faster than 1000/second");
	expect_refused("default: {identity: {burst: 3}}", "rate is missing");
	expect_refused("default: {identity: {rate: 1/s, burst: 1, extra: 1}}",
		       "default.identity: unknown key \"extra\"");
	expect_refused("default: {idenity: {rate: 1/s, burst: 1}}",
		       "default: unknown key \"idenity\"");
	expect_refused("defaults: {}", "unknown key \"defaults\"");
	expect_refused("- a\n- b\n", "the top level must be a mapping");
	expect_refused("issuers: {a: b}", "issuers: must be a list");
	expect_refused("issuers: [{identity: {rate: 0}}]", "issuers[0].issuer: is missing");
	expect_refused("issuers: [{issuer: a}, {issuer: b}, {issuer: a}]",
		       "issuers: a is listed twice");
	expect_refused("overrides: [{issuer: a, rate: 0}]",
		       "overrides[0]: give either subject or repository");
	expect_refused("overrides: [{issuer: a, subject: s, repository: r, rate: 0}]",
		       "give either subject or repository");
	expect_refused("overrides: [{issuer: a, subject: s}]", "overrides[0]: rate is missing");
	expect_refused("overrides: [{issuer: a, subject: s, rate: 0}, {issuer: a, subject: s, "
		       "rate: unlimited}]",
		       "subject s of a is listed twice");
	expect_refused("overrides: [{issuer: a, subject: '', rate: 0}]",
		       "overrides[0].subject: must be a non-empty string");
	expect_refused("max-keys: 0", "max-keys: must be a whole number from 1 to 10000000");
	expect_refused("redis-timeout-ms: lots", "redis-timeout-ms: must be a whole number");
	expect_refused("default: {identity: {rate: 1/s, burst: 1}}\ndefault: {}\n",
		       "key \"default\" is given twice");
	expect_refused("{\"max-keys\": 5, \"max-keys\": 6}", "JSON line 1");
	expect_refused("default: [", "YAML line");
	expect_refused("a: &x [*x, *x]\n", "rl.conf");
	{
		struct rl_config *c = NULL;
		struct fc_err err = {0};
		CHECK(rl_config_load_file("/nonexistent/rl.yaml", &c, &err) == FC_ENOTFOUND);
		CHECK_CONTAINS(err.msg, "/nonexistent/rl.yaml");
	}
}

/* --- Redis: the address, and no Redis at all ------------------------------------------ */

static void test_redis_addr(void)
{
	struct rl_redis_addr a;
	struct fc_err err = {0};

	CHECK(rl_redis_parse_addr("redis://127.0.0.1:6380/2", &a, &err) == FC_OK);
	CHECK(strcmp(a.host, "127.0.0.1") == 0 && a.port == 6380 && a.db == 2 && a.path[0] == 0);
	CHECK(rl_redis_parse_addr("redis://cache.internal", &a, &err) == FC_OK);
	CHECK(strcmp(a.host, "cache.internal") == 0 && a.port == 6379 && a.db == 0);
	CHECK(rl_redis_parse_addr("redis://[::1]:7000/", &a, &err) == FC_OK);
	CHECK(strcmp(a.host, "::1") == 0 && a.port == 7000 && a.db == 0);
	CHECK(rl_redis_parse_addr("/run/redis/redis.sock", &a, &err) == FC_OK);
	CHECK(strcmp(a.path, "/run/redis/redis.sock") == 0 && a.host[0] == 0);
	CHECK(rl_redis_parse_addr("unix:///run/redis.sock?db=3", &a, &err) == FC_OK);
	CHECK(strcmp(a.path, "/run/redis.sock") == 0 && a.db == 3);
	static const char *const bad[] = {
		"redis://",
		"redis://host:0",
		"redis://host:99999",
		"redis://host:12x",
		"redis://host/abc",
		"redis://[::1",
		"rediss://host",
		"host:6379",
		"redis://user:pw@host",
		"unix://relative.sock",
		"/run/r.sock?x=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fc_err_clear(&err);
		CHECK(rl_redis_parse_addr(bad[i], &a, &err) == FC_ECONFIG);
		CHECK_CONTAINS(err.msg, bad[i]);
	}
}

/* Redis absent: checks are decided in memory, the outage counted once. */
static void test_redis_absent(void)
{
	struct rl_config *cfg = load("default: {identity: {rate: 1/hour, burst: 2}}\n");
	struct rl_options o = {.redis = "/nonexistent/redis.sock", .redis_conns = 2};
	struct rl_limiter *l = NULL;
	struct fc_err err = {0};
	struct fc_buf b;

	CHECK(rl_limiter_new(cfg, &o, &l, &err) == FC_OK);
	if (l == NULL)
		return;
	CHECK(admitted_now(l, "https://i", "alice", NULL, 5) == 2);
	advance_ms(10000); /* past the backoff: one probe, still down */
	CHECK(admitted_now(l, "https://i", "bob", NULL, 5) == 2);
	fc_buf_init(&b, 0);
	rl_metrics_text(l, &b);
	CHECK_CONTAINS((char *)b.data, "fulcrum_rate_limit_redis_up 0\n");
	CHECK_CONTAINS((char *)b.data, "fulcrum_rate_limit_redis_outages_total 1\n");
	CHECK_CONTAINS((char *)b.data, "fulcrum_rate_limit_redis_fallbacks_total 10\n");
	fc_buf_free(&b);
	rl_limiter_free(l);

	/* a bad URL is refused at start (and the configuration freed) */
	o.redis = "http://127.0.0.1:6379";
	l = NULL;
	CHECK(rl_limiter_new(load(""), &o, &l, &err) == FC_ECONFIG && l == NULL);
}

int main(void)
{
	fc_set_mono_fn(fake_mono);
	fc_log_set_level(LOG_ERR);
	test_gcra();
	test_limits();
	test_no_default();
	test_metric_labels();
	test_eviction();
	test_passed_dropped();
	test_threads();
	test_config();
	test_redis_addr();
	test_redis_absent();
	fc_set_mono_fn(NULL);
	return check_exit();
}
