/*
 * Unit tests for oidc/fetch.c, oidc/fetcher.c and oidc/provider.c against a
 * real issuer: tests/tools/test_issuer.c ($FULCRUM_TEST_ISSUER), started
 * here on a free loopback port and always stopped (TERM, then KILL) at exit
 * (tests/tools/test_issuer_client.h). The monotonic
 * clock is replaced so that TTLs, cooldowns and staleness can be crossed
 * without waiting.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../tools/test_issuer_client.h"
#include "check.h"
#include "oidc_int.h"

static struct test_issuer issuer;
#define issuer_url (issuer.url)

static atomic_llong fake_ms = 1000000000LL;

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

/* --- talking to the issuer ------------------------------------------------------ */

static int stop_issuer_status(void)
{
	return test_issuer_stop(&issuer);
}

static bool start_issuer(void)
{
	return test_issuer_start(&issuer);
}

static char *issuer_call(const char *path, const char *body)
{
	return test_issuer_call(&issuer, path, body);
}

static bool control(const char *json)
{
	return test_issuer_control(&issuer, json);
}

static void control_reset(void)
{
	CHECK(control("{\"jwks\":\"ok\",\"discovery\":\"ok\",\"discovery_issuer\":null,"
		      "\"cache_control\":null,\"algs\":null,\"jwks_redirect\":\"none\","
		      "\"jwk_alg\":true}"));
}

/* Mint a token and parse it; NULL on failure (a check has failed then). */
static struct oidc_jws *mint(const char *req)
{
	char *tok = issuer_call("/mint", req);
	struct oidc_jws *jws = NULL;
	struct fc_err err = {0};

	CHECK(tok != NULL);
	if (tok == NULL)
		return NULL;
	if (oidc_jws_parse(tok, strlen(tok), &jws, &err) != FC_OK) {
		fprintf(stderr, "parse of minted token failed: %s\n", err.msg);
		CHECK(!"minted token parses");
	}
	free(tok);
	return jws;
}

static unsigned issuer_stat(const char *name)
{
	return test_issuer_stat(&issuer, name);
}

/* --- fixtures ------------------------------------------------------------------------- */

static struct oidc_options opts;
static struct oidc_fetcher *fetcher; /* every provider's fetches run on its thread */

static void set_opts(void)
{
	memset(&opts, 0, sizeof(opts));
	opts.leeway_s = 60;
	opts.http_timeout_ms = 3000;
	opts.jwks_default_ttl_s = 3600;
	opts.jwks_min_ttl_s = 60;
	opts.jwks_max_ttl_s = 86400;
	opts.refetch_cooldown_s = 30;
	opts.stale_max_s = 600;
	opts.meta_cache_size = 100;
}

/* Verify a token minted from req with p; returns the status, err filled. */
static enum fc_status verify_req(struct oidc_provider *p, const char *req, struct fc_err *err)
{
	struct oidc_jws *jws = mint(req);
	enum fc_status st;

	fc_err_clear(err);
	if (jws == NULL)
		return FC_EINTERNAL;
	st = oidc_provider_verify(p, jws, err);
	oidc_jws_free(jws);
	return st;
}

#define EXPECT_OK(p, req)                                                                          \
	do {                                                                                       \
		struct fc_err e_ = {0};                                                            \
		enum fc_status s_ = verify_req((p), (req), &e_);                                   \
		if (s_ != FC_OK)                                                                   \
			fprintf(stderr, "  %s: %s\n", (req), e_.msg);                              \
		CHECK(s_ == FC_OK);                                                                \
	} while (0)

#define EXPECT_FAIL(p, req, want_st, want_msg)                                                     \
	do {                                                                                       \
		struct fc_err e_ = {0};                                                            \
		enum fc_status s_ = verify_req((p), (req), &e_);                                   \
		CHECK(s_ == (want_st));                                                            \
		CHECK_CONTAINS(e_.msg, (want_msg));                                                \
	} while (0)

static void stats(struct oidc_provider *p, unsigned *d, unsigned *j)
{
	oidc_provider_stats(p, d, j);
}

/* --- fetch.c ------------------------------------------------------------------------- */

static void test_fetch(void)
{
	struct oidc_http_response r = {0};
	struct fc_err err = {0};
	char *url;

	control_reset();
	url = fc_xasprintf("%s/jwks", issuer_url);
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
	CHECK(r.status == 200 && r.body != NULL && strstr(r.body, "\"keys\"") != NULL);
	CHECK(r.max_age_s == -1);
	oidc_http_response_free(&r);

	CHECK(control("{\"cache_control\":\"public, max-age=77, must-revalidate\"}"));
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
	CHECK(r.max_age_s == 77);
	oidc_http_response_free(&r);
	CHECK(control("{\"cache_control\":\"max-age=300, no-store\"}"));
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
	CHECK(r.max_age_s == 0);
	oidc_http_response_free(&r);
	CHECK(control("{\"cache_control\":\"max-age=abc\"}"));
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
	CHECK(r.max_age_s == -1);
	oidc_http_response_free(&r);

	/* Body cap: a JWKS of ~1.2 KB with a 100-byte cap. */
	fc_err_clear(&err);
	CHECK(oidc_http_get(fetcher, url, NULL, 100, 3000, &r, &err) == FC_ETOOBIG);
	CHECK_CONTAINS(err.msg, "response larger than 100 bytes");
	free(url);

	/* Non-2xx is a response, not an error. */
	url = fc_xasprintf("%s/nothing-here", issuer_url);
	CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
	CHECK(r.status == 404);
	oidc_http_response_free(&r);
	free(url);

	/* Only http and https. */
	fc_err_clear(&err);
	CHECK(oidc_http_get(fetcher, "file:///etc/passwd", NULL, 1 << 20, 3000, &r, &err) ==
	      FC_EUPSTREAM);
	CHECK(r.body == NULL);
	fc_err_clear(&err);
	CHECK(oidc_http_get(fetcher, "http://127.0.0.1:1/x?secret=1", NULL, 1 << 20, 3000, &r,
			    &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "connection refused");
	CHECK(strstr(err.msg, "secret") == NULL);

	/* A CA PEM in addition to the system roots (plain http: just accepted). */
	url = fc_xasprintf("%s/jwks", issuer_url);
	fc_err_clear(&err);
	CHECK(oidc_http_get(fetcher, url, "-----BEGIN CERTIFICATE-----\n", 1 << 20, 3000, &r,
			    &err) == FC_OK);
	oidc_http_response_free(&r);
	free(url);
	control_reset();
}

/* --- provider.c ------------------------------------------------------------------- */

static void test_happy(void)
{
	struct oidc_provider *p;
	unsigned d, j;

	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{\"key\":\"rsa\"}");
	EXPECT_OK(p, "{\"key\":\"ec256\"}");
	EXPECT_OK(p, "{\"key\":\"ec384\"}");
	EXPECT_OK(p, "{\"key\":\"ec521\"}");
	EXPECT_OK(p, "{\"key\":\"ed25519\"}");
	/* Without a kid: every key that fits the alg is tried. */
	EXPECT_OK(p, "{\"key\":\"ec384\",\"kid\":null}");
	EXPECT_OK(p, "{\"key\":\"rsa\",\"kid\":null}");
	stats(p, &d, &j);
	CHECK(d == 1 && j == 1);
	oidc_provider_free(p);

	/* PSS with the RSA key, once the JWK no longer pins alg RS256. */
	CHECK(control("{\"jwk_alg\":false}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{\"key\":\"rsa\",\"alg\":\"PS256\"}");
	EXPECT_OK(p, "{\"key\":\"rsa\",\"alg\":\"PS512\"}");
	EXPECT_OK(p, "{\"key\":\"rsa\",\"alg\":\"PS384\"}");
	oidc_provider_free(p);
	control_reset();

	/* With alg pinned, PS256 on the RS256 key is refused by the key. */
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{\"key\":\"rsa\",\"alg\":\"PS256\"}", FC_EAUTH, "declared for alg RS256");
	oidc_provider_free(p);

	/* A trailing '/' in the configured issuer is trimmed for discovery,
	 * but the document must then name the issuer with the '/'. */
	{
		char *with_slash = fc_xasprintf("%s/", issuer_url);

		p = oidc_provider_new(with_slash, NULL, &opts, fetcher, NULL);
		EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "expected \"");
		stats(p, &d, &j);
		CHECK(d == 1 && j == 0);
		oidc_provider_free(p);
		free(with_slash);
	}
}

static void test_discovery_issuer_mismatch(void)
{
	struct oidc_provider *p;

	control_reset();
	CHECK(control("{\"discovery_issuer\":\"https://evil.example\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "names issuer \"https://evil.example\", expected");
	oidc_provider_free(p);
	control_reset();
}

static void test_discovery_down(void)
{
	struct oidc_provider *p;
	unsigned d, j;

	control_reset();
	CHECK(control("{\"discovery\":\"down\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "discovery failed");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "HTTP 503");
	stats(p, &d, &j);
	CHECK(d == 1 && j == 0); /* the second request waited for the cooldown */

	CHECK(control("{\"discovery\":\"ok\"}"));
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "discovery failed"); /* still cooling down */
	advance_s(31);
	EXPECT_OK(p, "{}");
	stats(p, &d, &j);
	CHECK(d == 2 && j == 1);
	oidc_provider_free(p);

	/* Nobody listening. */
	p = oidc_provider_new("http://127.0.0.1:1", NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM,
		    "issuer http://127.0.0.1:1: discovery failed: GET "
		    "http://127.0.0.1:1/.well-known/openid-configuration: connection refused");
	oidc_provider_free(p);
	control_reset();
}

static void test_jwks_down(void)
{
	struct oidc_provider *p;
	unsigned d, j;

	/* Down at first use: a clear error. */
	control_reset();
	CHECK(control("{\"jwks\":\"down\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "JWKS fetch failed");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "/jwks answered HTTP 503");
	oidc_provider_free(p);

	/* Down later: the cached keys keep serving past their TTL ... */
	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	CHECK(control("{\"jwks\":\"down\"}"));
	advance_s(3601);
	EXPECT_OK(p, "{}");
	EXPECT_OK(p, "{\"key\":\"ec256\"}");
	stats(p, &d, &j);
	CHECK(d == 1 && j == 2); /* one refresh attempt, then the cooldown */
	advance_s(31);
	EXPECT_OK(p, "{}");
	stats(p, &d, &j);
	CHECK(j == 3);
	/* ... but not beyond stale_max_s (600 s here). */
	advance_s(600);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "cached keys expired");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "HTTP 503");
	/* Recovery after the cooldown. */
	CHECK(control("{\"jwks\":\"ok\"}"));
	advance_s(31);
	EXPECT_OK(p, "{}");
	oidc_provider_free(p);
	control_reset();
}

static void test_huge(void)
{
	static const char *const modes[] = {"{\"jwks\":\"huge\"}", "{\"jwks\":\"huge-cl\"}"};

	for (size_t i = 0; i < 2; i++) {
		struct oidc_provider *p;
		int64_t t0;

		control_reset();
		CHECK(control(modes[i]));
		p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
		t0 = real_ms();
		EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "response larger than 262144 bytes");
		fprintf(stderr, "  %s refused after %lld ms\n", modes[i],
			(long long)(real_ms() - t0));
		CHECK(real_ms() - t0 < opts.http_timeout_ms);
		oidc_provider_free(p);
	}
	control_reset();
}

static void test_slow(void)
{
	struct oidc_provider *p;
	struct oidc_options o = opts;

	control_reset();
	CHECK(control("{\"jwks\":\"slow\"}"));
	o.http_timeout_ms = 1000;
	p = oidc_provider_new(issuer_url, NULL, &o, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "timed out after");
	oidc_provider_free(p);
	control_reset();
}

static void test_flood(void)
{
	struct oidc_provider *p;
	struct oidc_jws *jws;
	unsigned d, j;
	int refused = 0, reason_ok = 0;

	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(31); /* past the cooldown: one refetch is allowed */
	for (int i = 0; i < 200; i++) {
		uint8_t rnd[8];
		char *hex, *req;
		struct fc_err err = {0};

		CHECK(fc_rand_bytes(rnd, sizeof(rnd)) == FC_OK);
		hex = fc_hex_encode(rnd, sizeof(rnd));
		req = fc_xasprintf("{\"key\":\"ec256\",\"kid\":\"bogus-%s\"}", hex);
		if ((jws = mint(req)) != NULL) {
			if (oidc_provider_verify(p, jws, &err) == FC_EAUTH)
				refused++;
			if (strstr(err.msg, "no key with kid \"bogus-") != NULL)
				reason_ok++;
		}
		oidc_jws_free(jws);
		free(req);
		free(hex);
	}
	CHECK(refused == 200);
	CHECK(reason_ok == 200);
	stats(p, &d, &j);
	CHECK(d == 1);
	CHECK(j == 2);
	EXPECT_OK(p, "{}");
	oidc_provider_free(p);
}

static void test_rotation(void)
{
	struct oidc_provider *p;
	unsigned d, j;

	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	EXPECT_OK(p, "{\"key\":\"ec256\"}");
	CHECK(control("{\"rotate\":true}"));
	advance_s(31);
	EXPECT_OK(p, "{}"); /* rsa-2: unknown kid, one refetch */
	EXPECT_OK(p, "{\"key\":\"ec256\"}");
	stats(p, &d, &j);
	CHECK(d == 1 && j == 2);
	/* A token from before the rotation names a kid no longer published. */
	{
		struct oidc_jws *jws = NULL;
		struct fc_err err = {0};
		const char *tok_kid;

		jws = mint("{\"key\":\"ec384\"}");
		if (jws != NULL) {
			tok_kid = jws->kid;
			CHECK_STR(tok_kid, "ec384-2");
			CHECK(oidc_provider_verify(p, jws, &err) == FC_OK);
		}
		oidc_jws_free(jws);
	}
	EXPECT_FAIL(p, "{\"key\":\"rsa\",\"kid\":\"rsa-1\"}", FC_EAUTH,
		    "no key with kid \"rsa-1\" in the issuer's JWKS");
	stats(p, &d, &j);
	CHECK(j == 2); /* within the cooldown: no refetch */
	oidc_provider_free(p);
	control_reset();
}

static void test_cache_control(void)
{
	struct oidc_provider *p;
	unsigned j;

	/* max-age honoured */
	control_reset();
	CHECK(control("{\"cache_control\":\"max-age=120\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(100);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 1);
	advance_s(30);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 2);
	oidc_provider_free(p);

	/* clamped up to jwks_min_ttl_s (60) */
	CHECK(control("{\"cache_control\":\"max-age=5\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(10);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 1);
	advance_s(55);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 2);
	oidc_provider_free(p);

	/* no-store: kept for the minimum TTL only */
	CHECK(control("{\"cache_control\":\"no-store\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(59);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 1);
	advance_s(2);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 2);
	oidc_provider_free(p);

	/* clamped down to jwks_max_ttl_s (86400) */
	CHECK(control("{\"cache_control\":\"max-age=999999\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(86000);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 1);
	advance_s(401);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 2);
	oidc_provider_free(p);

	/* none: jwks_default_ttl_s (3600) */
	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	advance_s(3599);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 1);
	advance_s(2);
	EXPECT_OK(p, "{}");
	stats(p, NULL, &j);
	CHECK(j == 2);
	oidc_provider_free(p);
	control_reset();
}

static void test_alg_list(void)
{
	struct oidc_provider *p;

	control_reset();
	CHECK(control("{\"algs\":[\"RS256\",\"HS256\",\"none\"]}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	EXPECT_FAIL(p, "{\"key\":\"ec256\"}", FC_EAUTH, "alg \"ES256\" is not in issuer");
	EXPECT_FAIL(p, "{\"key\":\"ec256\"}", FC_EAUTH,
		    "id_token_signing_alg_values_supported [RS256]");
	oidc_provider_free(p);

	/* An empty list allows nothing. */
	CHECK(control("{\"algs\":[]}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EAUTH, "id_token_signing_alg_values_supported []");
	oidc_provider_free(p);
	control_reset();
}

static void test_redirects(void)
{
	struct oidc_provider *p;
	unsigned before;

	control_reset();
	CHECK(control("{\"jwks_redirect\":\"cross-origin\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	before = issuer_stat("jwks_real");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "to another origin http://localhost:");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "redirect from http://127.0.0.1:");
	CHECK(issuer_stat("jwks_real") == before);
	oidc_provider_free(p);

	CHECK(control("{\"jwks_redirect\":\"same-origin\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_OK(p, "{}");
	CHECK(issuer_stat("jwks_real") == before + 1);
	oidc_provider_free(p);
	control_reset();
}

static void test_garbage(void)
{
	struct oidc_provider *p;

	control_reset();
	CHECK(control("{\"jwks\":\"garbage\"}"));
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "JWKS from ");
	EXPECT_FAIL(p, "{}", FC_EUPSTREAM, "not valid JSON");
	oidc_provider_free(p);
	control_reset();
}

static void test_rogue(void)
{
	struct oidc_provider *p;
	unsigned j;

	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	EXPECT_FAIL(p, "{\"key\":\"rogue-rsa\"}", FC_EAUTH,
		    "RS256 signature does not verify with key kid=rsa-");
	EXPECT_FAIL(p, "{\"key\":\"rogue-ec256\"}", FC_EAUTH,
		    "ES256 signature does not verify with key kid=ec256-");
	/* A kid-less rogue token: every EC P-256 key tried, none verifies. */
	EXPECT_FAIL(p, "{\"key\":\"rogue-ec256\",\"kid\":null}", FC_EAUTH, "does not verify");
	stats(p, NULL, &j);
	CHECK(j == 1); /* a bad signature under a known kid is no reason to refetch */
	oidc_provider_free(p);
}

struct thr {
	struct oidc_provider *p;
	struct oidc_jws *jws;
	pthread_barrier_t *bar;
	enum fc_status st;
	struct fc_err err;
};

static void *verify_thread(void *arg)
{
	struct thr *t = arg;

	pthread_barrier_wait(t->bar);
	t->st = oidc_provider_verify(t->p, t->jws, &t->err);
	return NULL;
}

static void test_concurrency(void)
{
	static const char *const reqs[] = {"{}", "{\"key\":\"ec256\"}", "{\"key\":\"ec384\"}",
					   "{\"key\":\"ec521\"}", "{\"key\":\"ed25519\"}"};
	struct oidc_provider *p;
	pthread_barrier_t bar;
	pthread_t tid[8];
	struct thr t[8];
	unsigned d, j, d0, j0;

	control_reset();
	p = oidc_provider_new(issuer_url, NULL, &opts, fetcher, NULL);
	pthread_barrier_init(&bar, NULL, 8);
	d0 = issuer_stat("discovery");
	j0 = issuer_stat("jwks");
	for (int i = 0; i < 8; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].p = p;
		t[i].bar = &bar;
		t[i].jws = mint(reqs[i % 5]);
	}
	for (int i = 0; i < 8; i++)
		pthread_create(&tid[i], NULL, verify_thread, &t[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(tid[i], NULL);
		if (t[i].st != FC_OK)
			fprintf(stderr, "  thread %d: %s\n", i, t[i].err.msg);
		CHECK(t[i].st == FC_OK);
		oidc_jws_free(t[i].jws);
	}
	stats(p, &d, &j);
	CHECK(d == 1 && j == 1);
	CHECK(issuer_stat("discovery") == d0 + 1);
	CHECK(issuer_stat("jwks") == j0 + 1);
	pthread_barrier_destroy(&bar);
	oidc_provider_free(p);
}

static void test_preload(void)
{
	struct oidc_provider *p;
	struct fc_err err = {0};
	char *jwks = NULL;
	unsigned d, j;

	control_reset();
	{
		struct oidc_http_response r = {0};
		char *url = fc_xasprintf("%s/jwks", issuer_url);

		CHECK(oidc_http_get(fetcher, url, NULL, 1 << 20, 3000, &r, &err) == FC_OK);
		jwks = r.body;
		r.body = NULL;
		oidc_http_response_free(&r);
		free(url);
	}
	/* An issuer nobody answers for: only the preloaded keys exist. */
	p = oidc_provider_new("http://127.0.0.1:1", NULL, &opts, fetcher, NULL);
	CHECK(jwks != NULL && oidc_provider_preload(p, jwks, strlen(jwks), &err) == FC_OK);
	EXPECT_OK(p, "{}");
	EXPECT_OK(p, "{\"key\":\"ed25519\"}");
	stats(p, &d, &j);
	CHECK(d == 0 && j == 0);
	fc_err_clear(&err);
	CHECK(oidc_provider_preload(p, "{\"keys\":[]}", 11, &err) == FC_EUPSTREAM);
	oidc_provider_free(p);
	free(jwks);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fc_set_mono_fn(fake_mono);
	set_opts();
	if (!start_issuer()) {
		fprintf(stderr, "cannot start the test issuer\n");
		stop_issuer_status();
		curl_global_cleanup();
		return 1;
	}
	CHECK(oidc_fetcher_new(&fetcher, NULL) == FC_OK);
	test_fetch();
	test_happy();
	test_discovery_issuer_mismatch();
	test_discovery_down();
	test_jwks_down();
	test_huge();
	test_slow();
	test_flood();
	test_rotation();
	test_cache_control();
	test_alg_list();
	test_redirects();
	test_garbage();
	test_rogue();
	test_concurrency();
	test_preload();
	oidc_fetcher_free(fetcher);
	CHECK(stop_issuer_status() == 0);
	fc_set_mono_fn(NULL);
	curl_global_cleanup();
	return check_exit();
}
