/*
 * Unit tests for the non-blocking side of oidc: the fetch thread
 * (oidc/fetcher.c), FC_EPENDING and the wake contract of oidc_verify_nb and
 * oidc_provider_verify_nb (oidc/provider.c), the new-issuer budget
 * (oidc/budget.c), the negative cache, the meta-issuer cache's eviction
 * (oidc/verify.c) and oidc_verifier_free with fetches in flight. Against a
 * real issuer (tests/tools/test_issuer.c, its tenants standing for
 * meta-issuer tenants), whose discovery can be delayed or hang. The
 * monotonic clock is replaced (the budget refills and the cooldowns pass
 * only when a test moves it); latencies are measured on the real clock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../tools/test_issuer_client.h"
#include "check.h"
#include "oidc_int.h"

#define WAIT_MAX_MS 15000 /* for wakes that must come */
#define FAST_MS 100	  /* what "at once" means for a call that must not block */

static struct test_issuer issuer;
static atomic_llong fake_ms = 1000000000LL;
static pthread_t main_thread;

static int64_t fake_mono(void)
{
	return atomic_load(&fake_ms);
}

static void advance_s(int s)
{
	atomic_fetch_add(&fake_ms, (long long)s * 1000);
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void control_reset(void)
{
	CHECK(test_issuer_control(
		&issuer, "{\"jwks\":\"ok\",\"discovery\":\"ok\",\"tenant_discovery\":\"ok\","
			 "\"discovery_delay_ms\":0,\"tenant_delay_ms\":0,"
			 "\"cache_control\":null,\"algs\":null,\"jwk_alg\":true}"));
}

/* --- wakes ----------------------------------------------------------------------- */

struct wake_slot {
	atomic_int count; /* wakes received */
	_Atomic enum fc_status st;
	atomic_bool on_main; /* a wake came on the thread that called */
};

static void on_wake(void *arg, enum fc_status st)
{
	struct wake_slot *w = arg;

	atomic_store(&w->st, st);
	if (pthread_equal(pthread_self(), main_thread))
		atomic_store(&w->on_main, true);
	atomic_fetch_add(&w->count, 1);
}

/* Wait (real time) until each of the n slots was woken at least once;
 * false on timeout. */
static bool wait_wakes(struct wake_slot *w, size_t n)
{
	int64_t until = real_ms() + WAIT_MAX_MS;

	for (size_t i = 0; i < n; i++)
		while (atomic_load(&w[i].count) == 0) {
			if (real_ms() > until)
				return false;
			usleep(2000);
		}
	return true;
}

/* --- tokens ---------------------------------------------------------------------- */

/* A token of the issuer (iss NULL) or of iss, with email claims. */
static char *mint_for(const char *iss, const char *extra)
{
	char *req, *tok;

	if (iss)
		req = fc_xasprintf("{\"claims\":{\"iss\":\"%s\",\"email\":\"a@example.com\","
				   "\"email_verified\":true}%s}",
				   iss, extra ? extra : "");
	else
		req = fc_xasprintf("{\"claims\":{\"email\":\"a@example.com\","
				   "\"email_verified\":true}%s}",
				   extra ? extra : "");
	tok = test_issuer_mint(&issuer, req);
	CHECK(tok != NULL);
	free(req);
	return tok;
}

static char *tenant_url(const char *name)
{
	return fc_xasprintf("%s/tenant/%s", issuer.url, name);
}

static struct oidc_jws *parse(const char *tok)
{
	struct oidc_jws *jws = NULL;
	struct fc_err err = {0};

	CHECK(tok != NULL && oidc_jws_parse(tok, strlen(tok), &jws, &err) == FC_OK);
	return jws;
}

/* --- fixtures ------------------------------------------------------------------------ */

static void base_opts(struct oidc_options *o)
{
	oidc_options_default(o);
	o->http_timeout_ms = 5000;
}

/* A verifier over a configuration with the issuer as an OIDCIssuers entry
 * and its tenants as a MetaIssuers pattern. */
struct fixture {
	struct cfg_identity *cfg;
	struct oidc_verifier *v;
	struct oidc_options o;
};

static void fixture_init(struct fixture *f, const struct oidc_options *o)
{
	char *cfg = fc_xasprintf(
		"{\"OIDCIssuers\":{\"%s\":{\"IssuerURL\":\"%s\",\"ClientID\":\"sigstore\","
		"\"Type\":\"email\"}},"
		"\"MetaIssuers\":{\"%s/tenant/*\":{\"ClientID\":\"sigstore\",\"Type\":\"email\"}}}",
		issuer.url, issuer.url, issuer.url);
	struct fc_err err = {0};

	f->o = *o;
	CHECK(cfg_identity_load_mem(cfg, strlen(cfg), "test", &f->cfg, &err) == FC_OK);
	if (err.msg[0])
		fprintf(stderr, "config: %s\n", err.msg);
	CHECK(oidc_verifier_new(f->cfg, &f->o, &f->v) == FC_OK);
	free(cfg);
}

static void fixture_free(struct fixture *f)
{
	oidc_verifier_free(f->v);
	cfg_identity_free(f->cfg);
}

/* oidc_verify_nb on tok; the identity (if any) is freed. */
static enum fc_status verify_nb(struct fixture *f, const char *tok, struct wake_slot *w,
				struct fc_err *err)
{
	struct oidc_identity *id = NULL;
	enum fc_status st;

	fc_err_clear(err);
	st = oidc_verify_nb(f->v, tok, strlen(tok), on_wake, w, &id, err);
	CHECK((st == FC_OK) == (id != NULL));
	oidc_identity_free(id);
	return st;
}

/* --- tests ---------------------------------------------------------------------------- */

/*
 * One slow fetch, many waiters: every call returns FC_EPENDING at once (the
 * calling thread never fetches), one discovery and one JWKS GET serve them
 * all, each waiter is woken exactly once, on the fetch thread, and its next
 * call decides.
 */
static void test_shared_fetch(void)
{
	enum { N = 40 };
	struct oidc_options o;
	struct oidc_provider *p;
	struct oidc_fetcher *fetcher = NULL;
	struct wake_slot w[N];
	struct oidc_jws *jws;
	char *tok;
	unsigned d0, j0;
	int64_t slowest = 0;

	control_reset();
	base_opts(&o);
	CHECK(test_issuer_control(&issuer, "{\"discovery_delay_ms\":500}"));
	CHECK(oidc_fetcher_new(&fetcher, NULL) == FC_OK);
	p = oidc_provider_new(issuer.url, NULL, &o, fetcher, NULL);
	tok = mint_for(NULL, NULL);
	jws = parse(tok);
	d0 = test_issuer_stat(&issuer, "discovery");
	j0 = test_issuer_stat(&issuer, "jwks");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N; i++) {
		struct fc_err err = {0};
		int64_t t0 = real_ms();

		CHECK(oidc_provider_verify_nb(p, jws, on_wake, &w[i], &err) == FC_EPENDING);
		if (real_ms() - t0 > slowest)
			slowest = real_ms() - t0;
	}
	fprintf(stderr, "  %d calls pending, slowest %lld ms\n", N, (long long)slowest);
	CHECK(slowest < FAST_MS);
	CHECK(wait_wakes(w, N));
	usleep(200 * 1000); /* any second wake would have come by now */
	for (int i = 0; i < N; i++) {
		struct fc_err err = {0};

		CHECK(atomic_load(&w[i].count) == 1);
		CHECK(atomic_load(&w[i].st) == FC_OK);
		CHECK(!atomic_load(&w[i].on_main));
		CHECK(oidc_provider_verify_nb(p, jws, on_wake, &w[i], &err) == FC_OK);
	}
	CHECK(test_issuer_stat(&issuer, "discovery") == d0 + 1);
	CHECK(test_issuer_stat(&issuer, "jwks") == j0 + 1);
	oidc_provider_free(p);
	oidc_jws_free(jws);
	free(tok);
	oidc_fetcher_free(fetcher);
	control_reset();
}

/*
 * An issuer that takes 2 s to answer discovery: oidc_verify_nb returns
 * FC_EPENDING well under 100 ms, the wake comes from the fetch thread
 * about 2 s later, and the next call verifies. Meanwhile a token of another
 * issuer whose keys are cached is verified at once.
 */
static void test_no_fetch_on_caller(void)
{
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w = {0}, w2 = {0};
	struct fc_err err = {0};
	char *tok, *ttok, *turl = tenant_url("fast");
	int64_t t0, dt;

	control_reset();
	base_opts(&o);
	fixture_init(&f, &o);
	/* A tenant with keys cached first. */
	ttok = mint_for(turl, NULL);
	CHECK(verify_nb(&f, ttok, &w2, &err) == FC_EPENDING);
	CHECK(wait_wakes(&w2, 1));
	CHECK(verify_nb(&f, ttok, &w2, &err) == FC_OK);

	CHECK(test_issuer_control(&issuer, "{\"discovery_delay_ms\":2000}"));
	tok = mint_for(NULL, NULL);
	t0 = real_ms();
	CHECK(verify_nb(&f, tok, &w, &err) == FC_EPENDING);
	dt = real_ms() - t0;
	fprintf(stderr, "  FC_EPENDING after %lld ms\n", (long long)dt);
	CHECK(dt < FAST_MS);
	/* The other issuer is not held up. */
	t0 = real_ms();
	CHECK(verify_nb(&f, ttok, &w2, &err) == FC_OK);
	CHECK(real_ms() - t0 < FAST_MS);
	CHECK(atomic_load(&w.count) == 0);
	CHECK(wait_wakes(&w, 1));
	dt = real_ms() - t0;
	fprintf(stderr, "  woken after %lld ms\n", (long long)dt);
	CHECK(dt >= 1500);
	CHECK(!atomic_load(&w.on_main));
	CHECK(atomic_load(&w.st) == FC_OK);
	CHECK(verify_nb(&f, tok, &w, &err) == FC_OK);
	CHECK(atomic_load(&w.count) == 1);
	fixture_free(&f);
	free(tok);
	free(ttok);
	free(turl);
	control_reset();
}

/*
 * A failed fetch: the woken caller's next call refuses with the fetch's
 * reason (FC_EUPSTREAM), not FC_EPENDING again. A kid the issuer does not
 * publish, after the cooldown: one refetch, then FC_EAUTH.
 */
static void test_retry_decides(void)
{
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w = {0}, w2 = {0};
	struct fc_err err = {0};
	char *tok, *bogus;
	unsigned j0;

	control_reset();
	base_opts(&o);
	fixture_init(&f, &o);
	tok = mint_for(NULL, NULL);
	CHECK(test_issuer_control(&issuer, "{\"jwks\":\"down\"}"));
	CHECK(verify_nb(&f, tok, &w, &err) == FC_EPENDING);
	CHECK(wait_wakes(&w, 1));
	CHECK(atomic_load(&w.st) == FC_EUPSTREAM);
	CHECK(verify_nb(&f, tok, &w, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "JWKS fetch failed");
	CHECK_CONTAINS(err.msg, "HTTP 503");

	control_reset();
	advance_s(31);
	CHECK(verify_nb(&f, tok, &w2, &err) == FC_EPENDING);
	CHECK(wait_wakes(&w2, 1));
	CHECK(verify_nb(&f, tok, &w2, &err) == FC_OK);
	memset(&w, 0, sizeof(w));
	bogus = mint_for(NULL, ",\"kid\":\"bogus\"");
	CHECK(verify_nb(&f, bogus, &w, &err) == FC_EAUTH); /* within the cooldown */
	advance_s(31);
	j0 = test_issuer_stat(&issuer, "jwks");
	CHECK(verify_nb(&f, bogus, &w, &err) == FC_EPENDING);
	CHECK(wait_wakes(&w, 1));
	CHECK(verify_nb(&f, bogus, &w, &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "no key with kid \"bogus\"");
	CHECK(test_issuer_stat(&issuer, "jwks") == j0 + 1);
	CHECK(atomic_load(&w.count) == 1);
	fixture_free(&f);
	free(tok);
	free(bogus);
}

/*
 * The negative cache: a tenant whose discovery fails costs one fetch; a
 * flood for it within the cooldown is refused at once with that failure,
 * without a fetch or any of the budget; after the cooldown, one more fetch
 * however many requests come.
 */
static void test_negative_cache(void)
{
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w[20];
	struct fc_err err = {0};
	char *turl = tenant_url("dead-1"), *tok;
	unsigned d0, granted = 0, refused = 0;

	control_reset();
	base_opts(&o);
	fixture_init(&f, &o);
	CHECK(test_issuer_control(&issuer, "{\"tenant_discovery\":\"down\"}"));
	tok = mint_for(turl, NULL);
	d0 = test_issuer_stat(&issuer, "tenant_discovery");
	memset(w, 0, sizeof(w));
	CHECK(verify_nb(&f, tok, &w[0], &err) == FC_EPENDING);
	CHECK(wait_wakes(&w[0], 1));
	CHECK(verify_nb(&f, tok, &w[0], &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "discovery failed");
	for (int i = 0; i < 200; i++) {
		int64_t t0 = real_ms();

		CHECK(verify_nb(&f, tok, &w[1], &err) == FC_EUPSTREAM);
		CHECK(real_ms() - t0 < FAST_MS);
	}
	CHECK_CONTAINS(err.msg, "HTTP 503");
	CHECK(test_issuer_stat(&issuer, "tenant_discovery") == d0 + 1);
	oidc_budget_stats(oidc_verifier_budget(f.v), &granted, &refused);
	CHECK(granted == 1 && refused == 0);
	CHECK(atomic_load(&w[1].count) == 0);

	/* After the cooldown: one fetch (slow now, so that all of them find
	 * it in flight) for 18 requests. */
	CHECK(test_issuer_control(&issuer, "{\"tenant_delay_ms\":500}"));
	advance_s(31);
	for (int i = 2; i < 20; i++)
		CHECK(verify_nb(&f, tok, &w[i], &err) == FC_EPENDING);
	CHECK(wait_wakes(&w[2], 18));
	for (int i = 2; i < 20; i++) {
		CHECK(atomic_load(&w[i].count) == 1);
		CHECK(verify_nb(&f, tok, &w[i], &err) == FC_EUPSTREAM);
	}
	CHECK(test_issuer_stat(&issuer, "tenant_discovery") == d0 + 2);
	fixture_free(&f);
	free(tok);
	free(turl);
	control_reset();
}

/*
 * The budget for new issuers: with the clock still, a burst of 10 first
 * fetches, then FC_EUNAVAIL at once with the message clients see; 5 more
 * per second. A tenant already holding keys and a configured issuer are
 * not held back by it.
 */
static void test_budget(void)
{
	enum { N = 30 };
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w[N], wk = {0};
	struct fc_err err = {0};
	char *tok[N], *known_url = tenant_url("known"), *known, *fixed;
	unsigned d0, pending = 0, unavail = 0;

	control_reset();
	base_opts(&o);
	fixture_init(&f, &o);
	known = mint_for(known_url, NULL);
	CHECK(verify_nb(&f, known, &wk, &err) == FC_EPENDING); /* 1 of the burst */
	CHECK(wait_wakes(&wk, 1));
	CHECK(verify_nb(&f, known, &wk, &err) == FC_OK);
	d0 = test_issuer_stat(&issuer, "tenant_discovery");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N; i++) {
		char name[32], *url;

		snprintf(name, sizeof(name), "new-%d", i);
		url = tenant_url(name);
		tok[i] = mint_for(url, NULL);
		free(url);
	}
	for (int i = 0; i < N; i++) {
		int64_t t0 = real_ms();
		enum fc_status st = verify_nb(&f, tok[i], &w[i], &err);

		CHECK(real_ms() - t0 < FAST_MS);
		if (st == FC_EPENDING) {
			pending++;
		} else {
			CHECK(st == FC_EUNAVAIL);
			CHECK_CONTAINS(err.msg, "too many new identity providers being looked up; "
						"retry later");
			unavail++;
		}
	}
	fprintf(stderr, "  %u pending, %u refused\n", pending, unavail);
	CHECK(pending == OIDC_NEW_ISSUER_BURST - 1 && unavail == N - pending);
	/* Refused tenants get no cache entry. */
	CHECK(oidc_verifier_meta_count(f.v) == 1 + pending);
	CHECK(wait_wakes(w, pending));
	CHECK(test_issuer_stat(&issuer, "tenant_discovery") == d0 + pending);
	/* A cached tenant and a configured issuer are not budgeted. */
	fixed = mint_for(NULL, NULL);
	memset(&wk, 0, sizeof(wk));
	CHECK(verify_nb(&f, known, &wk, &err) == FC_OK);
	CHECK(verify_nb(&f, fixed, &wk, &err) == FC_EPENDING);
	CHECK(wait_wakes(&wk, 1));
	CHECK(verify_nb(&f, fixed, &wk, &err) == FC_OK);
	/* One second later: five more. */
	advance_s(1);
	pending = 0;
	for (int i = 0; i < N; i++) {
		if (atomic_load(&w[i].count) > 0)
			continue;
		if (verify_nb(&f, tok[i], &w[i], &err) == FC_EPENDING)
			pending++;
	}
	CHECK(pending == OIDC_NEW_ISSUER_RATE);
	fixture_free(&f); /* some may still be in flight: woken with FC_EUNAVAIL */
	for (int i = 0; i < N; i++)
		free(tok[i]);
	free(known);
	free(known_url);
	free(fixed);
	control_reset();
}

/*
 * The cap on new issuers' fetches in flight, and the tenant cache when
 * every entry is busy: FC_EUNAVAIL at once, though tokens remain.
 */
static void test_caps(void)
{
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w[4];
	struct fc_err err = {0};
	char *tok[4];

	control_reset();
	CHECK(test_issuer_control(&issuer, "{\"tenant_discovery\":\"hang\"}"));
	base_opts(&o);
	o.max_new_fetches = 2;
	fixture_init(&f, &o);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 4; i++) {
		char name[32], *url;

		snprintf(name, sizeof(name), "hang-%d", i);
		url = tenant_url(name);
		tok[i] = mint_for(url, NULL);
		free(url);
	}
	CHECK(verify_nb(&f, tok[0], &w[0], &err) == FC_EPENDING);
	CHECK(verify_nb(&f, tok[1], &w[1], &err) == FC_EPENDING);
	CHECK(verify_nb(&f, tok[2], &w[2], &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "too many new identity providers being looked up");
	CHECK(verify_nb(&f, tok[0], &w[3], &err) == FC_EPENDING); /* joins the fetch */
	fixture_free(&f);
	/* Freed with two fetches in flight: each waiter woken once, with
	 * FC_EUNAVAIL, before oidc_verifier_free returned. */
	CHECK(atomic_load(&w[0].count) == 1 && atomic_load(&w[0].st) == FC_EUNAVAIL);
	CHECK(atomic_load(&w[1].count) == 1 && atomic_load(&w[1].st) == FC_EUNAVAIL);
	CHECK(atomic_load(&w[2].count) == 0);
	CHECK(atomic_load(&w[3].count) == 1 && atomic_load(&w[3].st) == FC_EUNAVAIL);

	/* A cache of 2 tenants, both fetching: a third is refused. */
	base_opts(&o);
	o.meta_cache_size = 2;
	fixture_init(&f, &o);
	memset(w, 0, sizeof(w));
	CHECK(verify_nb(&f, tok[0], &w[0], &err) == FC_EPENDING);
	CHECK(verify_nb(&f, tok[1], &w[1], &err) == FC_EPENDING);
	CHECK(verify_nb(&f, tok[2], &w[2], &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "all 2 cached ones are in use");
	fixture_free(&f);
	for (int i = 0; i < 4; i++)
		free(tok[i]);
	control_reset();
}

/*
 * oidc_verifier_free with fetches in flight on configured issuers and
 * tenants (discovery and JWKS hanging), blocking callers included: it
 * returns promptly, and every waiter was woken once with FC_EUNAVAIL.
 */
struct blocked {
	struct fixture *f;
	const char *tok;
	enum fc_status st;
	struct fc_err err;
};

static void *blocking_verify(void *arg)
{
	struct blocked *b = arg;
	struct oidc_identity *id = NULL;

	b->st = oidc_verify(b->f->v, b->tok, strlen(b->tok), &id, &b->err);
	oidc_identity_free(id);
	return NULL;
}

static void test_free_in_flight(void)
{
	enum { N = 6 };
	struct fixture f;
	struct oidc_options o;
	struct wake_slot w[N];
	struct fc_err err = {0};
	struct blocked b = {0};
	pthread_t th;
	char *tok[N], *fixed;
	int64_t t0;

	control_reset();
	CHECK(test_issuer_control(&issuer,
				  "{\"discovery\":\"hang\",\"tenant_discovery\":\"hang\"}"));
	base_opts(&o);
	o.http_timeout_ms = 60000;
	fixture_init(&f, &o);
	memset(w, 0, sizeof(w));
	fixed = mint_for(NULL, NULL);
	for (int i = 0; i < N; i++) {
		char name[32], *url;

		snprintf(name, sizeof(name), "gone-%d", i % 3);
		url = tenant_url(name);
		tok[i] = i == N - 1 ? fc_xstrdup(fixed) : mint_for(url, NULL);
		free(url);
		CHECK(verify_nb(&f, tok[i], &w[i], &err) == FC_EPENDING);
	}
	b.f = &f;
	b.tok = fixed;
	CHECK(pthread_create(&th, NULL, blocking_verify, &b) == 0);
	usleep(300 * 1000); /* let the blocking caller start waiting */
	t0 = real_ms();
	oidc_verifier_free(f.v);
	fprintf(stderr, "  oidc_verifier_free took %lld ms\n", (long long)(real_ms() - t0));
	CHECK(real_ms() - t0 < 2000);
	for (int i = 0; i < N; i++) {
		CHECK(atomic_load(&w[i].count) == 1);
		CHECK(atomic_load(&w[i].st) == FC_EUNAVAIL);
	}
	pthread_join(th, NULL);
	CHECK(b.st == FC_EUNAVAIL);
	CHECK_CONTAINS(b.err.msg, "shutting down");
	cfg_identity_free(f.cfg);
	for (int i = 0; i < N; i++)
		free(tok[i]);
	free(fixed);
	control_reset();
}

/* The blocking GET helper and oidc_provider_verify on the fetch thread. */
static void test_blocking_helpers(void)
{
	struct oidc_fetcher *fetcher = NULL;
	struct oidc_http_response r = {0};
	struct fc_err err = {0};
	char *url = fc_xasprintf("%s/tenant/x/.well-known/openid-configuration", issuer.url);
	unsigned n0;

	control_reset();
	CHECK(oidc_fetcher_new(&fetcher, &err) == FC_OK);
	n0 = oidc_fetcher_gets(fetcher);
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 16, 3000, &r, &err) == FC_OK);
	CHECK(r.status == 200 && r.body != NULL && strstr(r.body, "/tenant/x/jwks") != NULL);
	CHECK(oidc_fetcher_gets(fetcher) == n0 + 1);
	oidc_http_response_free(&r);
	oidc_fetcher_free(fetcher);
	free(url);
}

int main(void)
{
	main_thread = pthread_self();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fc_log_set_level(LOG_ERR);
	fc_set_mono_fn(fake_mono);
	if (!test_issuer_start(&issuer)) {
		fprintf(stderr, "cannot start the test issuer\n");
		test_issuer_stop(&issuer);
		curl_global_cleanup();
		return 1;
	}
	test_blocking_helpers();
	test_shared_fetch();
	test_no_fetch_on_caller();
	test_retry_decides();
	test_negative_cache();
	test_budget();
	test_caps();
	test_free_in_flight();
	CHECK(test_issuer_stop(&issuer) == 0);
	fc_set_mono_fn(NULL);
	curl_global_cleanup();
	return check_exit();
}
