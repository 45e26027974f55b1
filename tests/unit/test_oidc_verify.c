/*
 * Unit tests for oidc/verify.c and oidc/match.c: issuer lookup (exact, then
 * meta-issuer wildcards), the registered-claim checks at their leeway
 * boundaries, token ids, and the meta-issuer cache. Tokens are signed here
 * with a fresh Ed25519 key (no mocked crypto); the clock is pinned.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "oidc_int.h"

#define NOW 1700000000
#define ISSUER "https://issuer.test"

static EVP_PKEY *key;

static int64_t fixed_now(void)
{
	return NOW;
}

static char *b64u(const void *p, size_t n)
{
	return fc_b64url_encode(p, n);
}

/* A compact JWS over claims (JSON text), EdDSA, kid "k1". */
static char *sign_token(const char *claims)
{
	const char *hdr = "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
	char *h = b64u(hdr, strlen(hdr)), *c = b64u(claims, strlen(claims));
	char *input = fc_xasprintf("%s.%s", h, c), *sig64, *tok;
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	CHECK(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1);
	CHECK(EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)input, strlen(input)) == 1);
	EVP_MD_CTX_free(ctx);
	sig64 = b64u(sig, siglen);
	tok = fc_xasprintf("%s.%s", input, sig64);
	free(h);
	free(c);
	free(input);
	free(sig64);
	return tok;
}

static char *jwks_json(void)
{
	uint8_t pub[32];
	size_t n = sizeof(pub);
	char *x, *doc;

	CHECK(EVP_PKEY_get_raw_public_key(key, pub, &n) == 1);
	x = b64u(pub, n);
	doc = fc_xasprintf("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k1\","
			   "\"use\":\"sig\",\"x\":\"%s\"}]}",
			   x);
	free(x);
	return doc;
}

static void test_meta_match(void)
{
	static const struct {
		const char *pattern, *url;
		bool want;
	} cases[] = {
		{"https://oidc.eks.*.amazonaws.com/id/*",
		 "https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB",
		 true},
		{"https://oidc.eks.*.amazonaws.com/id/*", "https://oidc.eks.a.b.amazonaws.com/id/x",
		 false},
		{"https://oidc.eks.*.amazonaws.com/id/*", "https://oidc.eks..amazonaws.com/id/x",
		 false},
		{"https://oidc.eks.*.amazonaws.com/id/*", "https://oidc.eks.r.amazonaws.com/id/x/y",
		 false},
		{"https://oidc.eks.*.amazonaws.com/id/*", "https://oidc.eks.r.amazonaws.com/id/",
		 false},
		{"https://oidc.eks.*.amazonaws.com/id/*", "xhttps://oidc.eks.r.amazonaws.com/id/x",
		 false},
		{"https://oidc.eks.*.amazonaws.com/id/*",
		 "https://oidc.eks.r.amazonaws.com/id/x.evil", false},
		{"https://container.googleapis.com/v1/projects/*/locations/*/clusters/*",
		 "https://container.googleapis.com/v1/projects/p_1/locations/us-c1/clusters/c-2",
		 true},
		{"https://token.actions.githubusercontent.com/*",
		 "https://token.actions.githubusercontent.com/acme", true},
		{"https://x.test/a.b", "https://x.test/aXb", false}, /* '.' is literal */
		{"https://x.test/a.b", "https://x.test/a.b", true},
		{"https://*.test", "https://%41.test", false},
		{"", "", true},
		{"*", "", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = oidc_meta_match(cases[i].pattern, cases[i].url);
		if (got != cases[i].want)
			fprintf(stderr, "meta case %zu: %s ~ %s = %d\n", i, cases[i].pattern,
				cases[i].url, got);
		CHECK(got == cases[i].want);
	}
	/* A hostile 16 KiB iss against a many-star pattern stays linear. */
	char *longurl = fc_xmalloc(16 * 1024 + 1);
	memset(longurl, 'a', 16 * 1024);
	longurl[16 * 1024] = '\0';
	int64_t t0 = fc_mono_ms();
	CHECK(!oidc_meta_match("*a*a*a*a*a*a*a*b", longurl));
	CHECK(fc_mono_ms() - t0 < 2000);
	free(longurl);
}

struct fixture {
	struct cfg_identity *cfg;
	struct oidc_verifier *v;
};

static void fixture_init(struct fixture *f, int meta_cache)
{
	static const char cfg[] =
		"{\"OIDCIssuers\":{\"" ISSUER "\":{\"IssuerURL\":\"" ISSUER
		"\",\"ClientID\":\"sigstore\","
		"\"Type\":\"email\"}},"
		"\"MetaIssuers\":{\"http://"
		"127.0.0.1:*\":{\"ClientID\":\"sigstore\",\"Type\":\"kubernetes\"}}}";
	struct oidc_options o;
	struct fc_err err = {0};
	char *jwks = jwks_json();

	CHECK(cfg_identity_load_mem(cfg, strlen(cfg), "test", &f->cfg, &err) == FC_OK);
	oidc_options_default(&o);
	o.meta_cache_size = meta_cache;
	o.http_timeout_ms = 2000;
	CHECK(oidc_verifier_new(f->cfg, &o, &f->v) == FC_OK);
	CHECK(oidc_provider_preload(oidc_verifier_provider(f->v, ISSUER), jwks, strlen(jwks),
				    &err) == FC_OK);
	CHECK(oidc_verifier_provider(f->v, "https://other.test") == NULL);
	free(jwks);
}

static void fixture_free(struct fixture *f)
{
	oidc_verifier_free(f->v);
	cfg_identity_free(f->cfg);
}

/* Verify a token made from claims; returns the status, err filled. */
static enum fc_status verify(struct fixture *f, const char *claims, struct oidc_identity **id,
			     struct fc_err *err)
{
	char *tok = sign_token(claims);
	enum fc_status st;

	fc_err_clear(err);
	*id = NULL;
	st = oidc_verify(f->v, tok, strlen(tok), id, err);
	free(tok);
	return st;
}

#define EMAIL_CLAIMS                                                                               \
	"\"iss\":\"" ISSUER "\",\"sub\":\"s1\",\"email\":\"a@example.com\",\"email_verified\":"    \
	"true"

static void expect(struct fixture *f, const char *extra, enum fc_status want, const char *msg)
{
	struct oidc_identity *id;
	struct fc_err err;
	char *claims = fc_xasprintf("{" EMAIL_CLAIMS "%s}", extra);
	enum fc_status st = verify(f, claims, &id, &err);

	if (st != want)
		fprintf(stderr, "claims %s: got %d (%s), want %d\n", claims, st, err.msg, want);
	CHECK(st == want);
	if (msg)
		CHECK_CONTAINS(err.msg, msg);
	CHECK((st == FC_OK) == (id != NULL));
	oidc_identity_free(id);
	free(claims);
}

static void test_claims(void)
{
	struct fixture f;
	char buf[256];

	fixture_init(&f, 100);
#define AT(fmt, v) (snprintf(buf, sizeof(buf), fmt, (long long)(v)), buf)
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":%lld", NOW + 600), FC_OK, NULL);
	expect(&f, AT(",\"aud\":[\"x\",\"sigstore\"],\"exp\":%lld", NOW + 600), FC_OK, NULL);
	expect(&f, AT(",\"aud\":[\"x\",\"y\"],\"exp\":%lld", NOW + 600), FC_EAUTH,
	       "aud does not contain \"sigstore\"");
	expect(&f, AT(",\"exp\":%lld", NOW + 600), FC_EAUTH, "no aud claim");
	expect(&f, ",\"aud\":\"sigstore\"", FC_EAUTH, "exp claim is missing");
	expect(&f, ",\"aud\":\"sigstore\",\"exp\":\"soon\"", FC_EAUTH, "exp claim is not a number");
	/* leeway 60 s: exactly at the edge is accepted, one second past is not */
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":%lld", NOW - 60), FC_OK, NULL);
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":%lld", NOW - 61), FC_EAUTH, "token expired");
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":99999999999,\"nbf\":%lld", NOW + 60), FC_OK,
	       NULL);
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":99999999999,\"nbf\":%lld", NOW + 61), FC_EAUTH,
	       "not yet valid");
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":99999999999,\"iat\":%lld", NOW + 60), FC_OK,
	       NULL);
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":99999999999,\"iat\":%lld", NOW + 61), FC_EAUTH,
	       "issued in the future");
	expect(&f, ",\"aud\":\"sigstore\",\"exp\":99999999999,\"nbf\":true", FC_EAUTH,
	       "nbf claim is not a number");
	/* fractional NumericDate (RFC 7519 2) */
	expect(&f, AT(",\"aud\":\"sigstore\",\"exp\":%lld.5", NOW), FC_OK, NULL);
	/* numbers beyond int64, which Go reads as float64 and Fulcio accepts:
	 * in a claim, and as exp (clamped, not converted with undefined
	 * behaviour) */
	expect(&f, ",\"aud\":\"sigstore\",\"exp\":99999999999,\"big\":18446744073709551616", FC_OK,
	       NULL);
	{
		struct oidc_identity *id = NULL;
		struct fc_err err;
		char *claims = fc_xasprintf("{" EMAIL_CLAIMS ",\"aud\":\"sigstore\","
					    "\"exp\":99999999999999999999}");

		CHECK(verify(&f, claims, &id, &err) == FC_OK);
		CHECK(id != NULL && id->expires_at == INT64_MAX);
		oidc_identity_free(id);
		free(claims);
	}
#undef AT
	fixture_free(&f);
}

static void test_issuer_and_ids(void)
{
	struct fixture f;
	struct oidc_identity *id;
	struct fc_err err;

	fixture_init(&f, 100);
	CHECK(verify(&f, "{\"iss\":42,\"aud\":\"sigstore\",\"exp\":99999999999}", &id, &err) ==
	      FC_EAUTH);
	CHECK_CONTAINS(err.msg, "no iss claim, or it is not a string");
	CHECK(verify(&f,
		     "{\"iss\":\"https://issuer.test/\",\"aud\":\"sigstore\",\"exp\":99999999999}",
		     &id, &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "issuer \"https://issuer.test/\" is not configured");

	CHECK(verify(&f,
		     "{" EMAIL_CLAIMS
		     ",\"aud\":\"sigstore\",\"exp\":99999999999,\"jti\":\"abc-1\"}",
		     &id, &err) == FC_OK);
	CHECK_STR(id->token_id, "abc-1");
	CHECK_STR(id->issuer, ISSUER);
	CHECK_STR(id->subject, "s1");
	CHECK(id->expires_at == 99999999999LL);
	oidc_identity_free(id);
	/* no jti (or an unprintable one): a hash prefix, never the token */
	CHECK(verify(&f,
		     "{" EMAIL_CLAIMS ",\"aud\":\"sigstore\",\"exp\":99999999999,\"jti\":\"a b\"}",
		     &id, &err) == FC_OK);
	CHECK(strncmp(id->token_id, "sha256:", 7) == 0 && strlen(id->token_id) == 7 + 16);
	oidc_identity_free(id);
	fixture_free(&f);
}

/* Meta issuers: more distinct issuers than the cache holds, each refused
 * because nothing listens there; evicted entries are freed exactly once
 * (ASan/LSan check that). */
static void test_meta_cache(void)
{
	struct fixture f;
	struct oidc_identity *id;
	struct fc_err err;

	fixture_init(&f, 2);
	for (int round = 0; round < 2; round++) {
		for (int port = 1; port <= 5; port++) {
			char *claims =
				fc_xasprintf("{\"iss\":\"http://"
					     "127.0.0.1:%d\",\"sub\":\"system:serviceaccount:a:b\","
					     "\"aud\":\"sigstore\",\"exp\":99999999999}",
					     port);
			CHECK(verify(&f, claims, &id, &err) == FC_EUPSTREAM);
			CHECK_CONTAINS(err.msg, "discovery");
			free(claims);
		}
	}
	fixture_free(&f);
}

int main(void)
{
	fc_log_set_level(LOG_CRIT);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	CHECK(key != NULL);
	test_meta_match();
	fc_set_now_fn(fixed_now);
	test_claims();
	test_issuer_and_ids();
	test_meta_cache();
	fc_set_now_fn(NULL);
	EVP_PKEY_free(key);
	return check_exit();
}
