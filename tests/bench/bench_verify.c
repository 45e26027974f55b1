/*
 * Benchmark: identity-token signature verification, one thread.
 *
 * For RS256 (RSA-2048) and ES256 (P-256), with a GitHub Actions-sized
 * token, it measures
 *   raw       OpenSSL alone: EVP_DigestVerifyInit_ex + EVP_DigestVerify over
 *             the token's signing input with the same EVP_PKEY (ES256 with
 *             the DER signature ready-made, so no conversion is counted);
 *   fulcrum   the token path of jws.c/jwk.c: oidc_jws_parse (bounds,
 *             base64url, JSON of header and claims, header checks) +
 *             oidc_jws_verify (key fit, R || S to DER, the same OpenSSL
 *             calls) + oidc_jws_free;
 *   provider  oidc_jws_parse + oidc_provider_verify on a provider preloaded
 *             with the JWKS (kid lookup, alg policy, key cache);
 *   verify    the whole oidc_verify on a verifier over Fulcio's default
 *             configuration, its GitHub Actions provider preloaded: parse,
 *             issuer lookup, claim checks, signature, principal and
 *             certificate extensions;
 * and the same raw and verify pair for a small email token (Dex-like
 * claims, about 300 bytes, for the default configuration's sigstore Dex
 * issuer, signed with the same key). It prints e.g.
 * `RS256 raw=31234/s fulcrum=29876/s ratio=95.7%`, then a line each for
 * provider and verify; the verify lines name their token.
 *
 * The loops are interleaved in short slices so that a noisy machine
 * penalises all alike. Usage: bench_verify [seconds per measurement].
 * Build with --buildtype=release for meaningful figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "oidc_int.h"

/* A GitHub Actions identity token's claims: the common Fulcio case. */
static const char claims[] =
	"{\"jti\":\"8f3b2c1e-7d4a-4b6e-9c0d-2a1f5e6b7c8d\",\"sub\":\"repo:octo-org/octo-repo:"
	"ref:refs/heads/main\",\"aud\":\"sigstore\",\"ref\":\"refs/heads/main\",\"sha\":"
	"\"2f6e4b1c9d0a8e7f6b5c4d3e2f1a0b9c8d7e6f5a\",\"repository\":\"octo-org/octo-repo\","
	"\"repository_owner\":\"octo-org\",\"repository_owner_id\":\"123456\",\"run_id\":"
	"\"9876543210\",\"run_number\":\"42\",\"run_attempt\":\"1\",\"repository_visibility\":"
	"\"public\",\"repository_id\":\"654321\",\"actor_id\":\"111111\",\"actor\":\"octocat\","
	"\"workflow\":\"release\",\"head_ref\":\"\",\"base_ref\":\"\",\"event_name\":\"push\","
	"\"ref_protected\":\"true\",\"ref_type\":\"branch\",\"workflow_ref\":\"octo-org/octo-repo/"
	".github/workflows/release.yml@refs/heads/main\",\"workflow_sha\":"
	"\"2f6e4b1c9d0a8e7f6b5c4d3e2f1a0b9c8d7e6f5a\",\"job_workflow_ref\":\"octo-org/octo-repo/"
	".github/workflows/release.yml@refs/heads/main\",\"job_workflow_sha\":"
	"\"2f6e4b1c9d0a8e7f6b5c4d3e2f1a0b9c8d7e6f5a\",\"runner_environment\":\"github-hosted\","
	"\"iss\":\"https://token.actions.githubusercontent.com\",\"nbf\":1700000000,\"exp\":"
	"4102444800,\"iat\":1700000000}";

/* A small email token's claims, as the sigstore Dex instance issues them
 * (its IssuerClaim $.federated_claims.connector_id must be present); no
 * jti, so oidc_verify names it by a hash of the token. */
static const char email_claims[] =
	"{\"iss\":\"https://oauth2.sigstore.dev/auth\",\"sub\":\"CgYxMjM0NTYSJmh0dHBzOi8vZ2l0"
	"aHViLmNvbS9sb2dpbi9vYXV0aA\",\"aud\":\"sigstore\",\"exp\":4102444800,\"iat\":"
	"1700000000,\"email\":\"octocat@example.com\",\"email_verified\":true,"
	"\"federated_claims\":{\"connector_id\":\"https://github.com/login/oauth\","
	"\"user_id\":\"123456\"}}";

#define GHA_ISSUER "https://token.actions.githubusercontent.com"
#define DEX_ISSUER "https://oauth2.sigstore.dev/auth"

/* One token, signed with its case's key. */
struct bench_token {
	const char *label; /* for the output */
	const char *claims;
	const char *issuer; /* the default configuration's issuer for it */
	char *token;	    /* compact JWS */
	size_t token_len;
	char *signing_input;  /* for the raw loop */
	uint8_t sig_der[512]; /* signature as OpenSSL takes it */
	size_t sig_der_len;
	struct oidc_provider *provider; /* the verifier's, preloaded */
};

enum { T_GHA, T_EMAIL, T_COUNT };

struct bench_case {
	const char *alg;
	EVP_PKEY *pkey;
	struct bench_token tok[T_COUNT];
	struct oidc_jwk_set *set;
	char *jwks;
	struct cfg_identity *cfg;
	struct oidc_verifier *verifier;
	const char *provider_skip; /* why provider/verify are not measured */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_verify: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static char *b64_bn(const EVP_PKEY *pk, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[512];
	int n;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		die("get_bn_param");
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	return fc_b64url_encode(buf, (size_t)n);
}

/* Sign claims with c's key into t, with the raw-loop inputs. */
static void make_token(const struct bench_case *c, struct bench_token *t, const char *label,
		       const char *claims_json, const char *issuer)
{
	bool ec = strcmp(c->alg, "ES256") == 0;
	char *hdr, *h64, *p64, *s64;
	uint8_t sig[512], raw[64];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	t->label = label;
	t->claims = claims_json;
	t->issuer = issuer;
	hdr = fc_xasprintf("{\"alg\":\"%s\",\"kid\":\"k1\",\"typ\":\"JWT\"}", c->alg);
	h64 = fc_b64url_encode((const uint8_t *)hdr, strlen(hdr));
	p64 = fc_b64url_encode((const uint8_t *)claims_json, strlen(claims_json));
	t->signing_input = fc_xasprintf("%s.%s", h64, p64);
	if (m == NULL || EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, c->pkey, NULL) != 1 ||
	    EVP_DigestSign(m, sig, &sig_len, (const uint8_t *)t->signing_input,
			   strlen(t->signing_input)) != 1)
		die("sign");
	memcpy(t->sig_der, sig, sig_len);
	t->sig_der_len = sig_len;
	if (ec) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);

		if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
		    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
			die("ecdsa sig");
		ECDSA_SIG_free(es);
		s64 = fc_b64url_encode(raw, 64);
	} else {
		s64 = fc_b64url_encode(sig, sig_len);
	}
	t->token = fc_xasprintf("%s.%s", t->signing_input, s64);
	t->token_len = strlen(t->token);
	EVP_MD_CTX_free(m);
	free(hdr);
	free(h64);
	free(p64);
	free(s64);
}

/* Make the key, its JWKS, the tokens and the raw-loop inputs. */
static void setup(struct bench_case *c, const char *alg)
{
	bool ec = strcmp(alg, "ES256") == 0;
	char *a, *b, *jwks;
	struct fc_err err;

	memset(c, 0, sizeof(*c));
	c->alg = alg;
	c->pkey = ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
		     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (c->pkey == NULL)
		die("keygen");
	if (ec) {
		a = b64_bn(c->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = b64_bn(c->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		jwks = fc_xasprintf(
			"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\","
			"\"use\":\"sig\",\"alg\":\"ES256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
			a, b);
	} else {
		a = b64_bn(c->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = b64_bn(c->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		jwks = fc_xasprintf("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\","
				    "\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}]}",
				    a, b);
	}
	fc_err_clear(&err);
	if (oidc_jwks_parse(jwks, strlen(jwks), &c->set, &err) != FC_OK)
		die(err.msg);
	c->jwks = jwks;
	make_token(c, &c->tok[T_GHA], "GitHub Actions token", claims, GHA_ISSUER);
	make_token(c, &c->tok[T_EMAIL], "email token (Dex)", email_claims, DEX_ISSUER);
	free(a);
	free(b);
}

/* The verifier and its preloaded providers, if they work (other engineers'
 * code: if not, say why and measure the rest). */
static void setup_verifier(struct bench_case *c)
{
	struct fc_err err;

	fc_err_clear(&err);
	if (cfg_identity_default(&c->cfg) != FC_OK) {
		c->provider_skip = "cfg_identity_default failed";
		return;
	}
	if (oidc_verifier_new(c->cfg, NULL, &c->verifier) != FC_OK) {
		c->provider_skip = "no verifier";
		return;
	}
	for (int i = 0; i < T_COUNT; i++) {
		struct bench_token *t = &c->tok[i];
		struct oidc_identity *id = NULL;

		if ((t->provider = oidc_verifier_provider(c->verifier, t->issuer)) == NULL) {
			c->provider_skip = "no provider for an issuer of the default configuration";
			return;
		}
		if (oidc_provider_preload(t->provider, c->jwks, strlen(c->jwks), &err) != FC_OK) {
			c->provider_skip = "oidc_provider_preload failed";
			fprintf(stderr, "bench_verify: preload: %s\n", err.msg);
			return;
		}
		if (oidc_verify(c->verifier, t->token, t->token_len, &id, &err) != FC_OK) {
			fprintf(stderr, "bench_verify: oidc_verify (%s): %s\n", t->label, err.msg);
			c->provider_skip = "oidc_verify refuses a benchmark token";
		}
		oidc_identity_free(id);
	}
}

static void teardown(struct bench_case *c)
{
	EVP_PKEY_free(c->pkey);
	for (int i = 0; i < T_COUNT; i++) {
		free(c->tok[i].token);
		free(c->tok[i].signing_input);
	}
	oidc_jwk_set_free(c->set);
	free(c->jwks);
	oidc_verifier_free(c->verifier);
	cfg_identity_free(c->cfg);
}

static void raw_once(const struct bench_case *c, const struct bench_token *t)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	if (m == NULL ||
	    EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, c->pkey, NULL) != 1 ||
	    EVP_DigestVerify(m, t->sig_der, t->sig_der_len, (const uint8_t *)t->signing_input,
			     strlen(t->signing_input)) != 1)
		die("raw verify failed");
	EVP_MD_CTX_free(m);
}

static void fulcrum_once(const struct bench_case *c, const struct bench_token *t)
{
	struct oidc_jws *jws = NULL;
	struct fc_err err;

	err.status = FC_OK;
	err.msg[0] = '\0';
	if (oidc_jws_parse(t->token, t->token_len, &jws, &err) != FC_OK ||
	    oidc_jws_verify(jws, &c->set->keys[0], &err) != FC_OK)
		die(err.msg);
	oidc_jws_free(jws);
}

static void provider_once(const struct bench_case *c, const struct bench_token *t)
{
	struct oidc_jws *jws = NULL;
	struct fc_err err;

	(void)c;
	err.status = FC_OK;
	err.msg[0] = '\0';
	if (oidc_jws_parse(t->token, t->token_len, &jws, &err) != FC_OK ||
	    oidc_provider_verify(t->provider, jws, &err) != FC_OK)
		die(err.msg);
	oidc_jws_free(jws);
}

static void verify_once(const struct bench_case *c, const struct bench_token *t)
{
	struct oidc_identity *id = NULL;
	struct fc_err err;

	err.status = FC_OK;
	err.msg[0] = '\0';
	if (oidc_verify(c->verifier, t->token, t->token_len, &id, &err) != FC_OK)
		die(err.msg);
	oidc_identity_free(id);
}

/* The measurements: what runs, on which token. Those from M_PROVIDER on
 * need the verifier. */
enum { M_RAW, M_FULCRUM, M_RAW_EMAIL, M_PROVIDER, M_VERIFY, M_VERIFY_EMAIL, M_COUNT };

static const struct mode {
	void (*fn)(const struct bench_case *, const struct bench_token *);
	int tok;
} modes[M_COUNT] = {
	[M_RAW] = {raw_once, T_GHA},	     [M_FULCRUM] = {fulcrum_once, T_GHA},
	[M_RAW_EMAIL] = {raw_once, T_EMAIL}, [M_PROVIDER] = {provider_once, T_GHA},
	[M_VERIFY] = {verify_once, T_GHA},   [M_VERIFY_EMAIL] = {verify_once, T_EMAIL},
};

/*
 * Run the n_modes loops in alternating slices of 0.1 s until each has run
 * `seconds`; rates[m] receives verifications per second.
 */
static void measure(const struct bench_case *c, double seconds, int n_modes, double *rates)
{
	const double slice = 0.1;
	double spent[M_COUNT] = {0};
	long done[M_COUNT] = {0};
	bool more = true;

	/* warm-up: key export to the provider, method caches, allocator */
	for (int m = 0; m < n_modes; m++)
		for (int i = 0; i < 200; i++)
			modes[m].fn(c, &c->tok[modes[m].tok]);
	while (more) {
		more = false;
		for (int m = 0; m < n_modes; m++) {
			const struct bench_token *t = &c->tok[modes[m].tok];
			double t0 = now_s(), t1;

			do {
				for (int i = 0; i < 16; i++)
					modes[m].fn(c, t);
				done[m] += 16;
			} while ((t1 = now_s()) - t0 < slice);
			spent[m] += t1 - t0;
			more |= spent[m] < seconds;
		}
	}
	for (int m = 0; m < n_modes; m++)
		rates[m] = (double)done[m] / spent[m];
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	const char *algs[] = {"RS256", "ES256"};

	if (seconds <= 0)
		seconds = 2.0;
	fc_log_set_level(LOG_WARNING);
	printf("one thread, %.1f s per measurement, claims %zu bytes (GitHub Actions), "
	       "%zu bytes (email)\n",
	       seconds, strlen(claims), strlen(email_claims));
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct bench_case c;
		double r[M_COUNT];
		int n_modes;

		setup(&c, algs[i]);
		setup_verifier(&c);
		n_modes = c.provider_skip ? M_PROVIDER : M_COUNT;
		measure(&c, seconds, n_modes, r);
		printf("%s raw=%.0f/s fulcrum=%.0f/s ratio=%.1f%% (token %zu bytes; "
		       "fulcrum = oidc_jws_parse + oidc_jws_verify)\n",
		       c.alg, r[M_RAW], r[M_FULCRUM], 100.0 * r[M_FULCRUM] / r[M_RAW],
		       c.tok[T_GHA].token_len);
		if (c.provider_skip) {
			printf("%s provider, verify: not measured: %s\n", c.alg, c.provider_skip);
		} else {
			printf("%s raw=%.0f/s provider=%.0f/s ratio=%.1f%% "
			       "(oidc_jws_parse + oidc_provider_verify, preloaded)\n",
			       c.alg, r[M_RAW], r[M_PROVIDER], 100.0 * r[M_PROVIDER] / r[M_RAW]);
			printf("%s raw=%.0f/s verify=%.0f/s ratio=%.1f%% "
			       "(%s, %zu bytes: whole oidc_verify: claims, signature, principal)\n",
			       c.alg, r[M_RAW], r[M_VERIFY], 100.0 * r[M_VERIFY] / r[M_RAW],
			       c.tok[T_GHA].label, c.tok[T_GHA].token_len);
			printf("%s raw=%.0f/s verify=%.0f/s ratio=%.1f%% "
			       "(%s, %zu bytes: whole oidc_verify: claims, signature, principal)\n",
			       c.alg, r[M_RAW_EMAIL], r[M_VERIFY_EMAIL],
			       100.0 * r[M_VERIFY_EMAIL] / r[M_RAW_EMAIL], c.tok[T_EMAIL].label,
			       c.tok[T_EMAIL].token_len);
		}
		fflush(stdout);
		teardown(&c);
	}
	return 0;
}
