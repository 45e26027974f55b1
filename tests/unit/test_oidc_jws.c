/*
 * Unit tests for oidc/jws.c and oidc/jwk.c: compact JWS parsing, JWKS
 * parsing and signature verification.
 *
 * No crypto is mocked: keys are generated at run time, the JWKS documents
 * and tokens are built here with OpenSSL directly (an independent token
 * maker), and the code under test must accept exactly what it should.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "check.h"
#include "oidc_int.h"

/* --- token maker ----------------------------------------------------------- */

static char *b64u(const void *p, size_t n)
{
	return fc_b64url_encode(p, n);
}

static char *b64u_str(const char *s)
{
	return b64u(s, strlen(s));
}

static EVP_PKEY *keygen(const char *what)
{
	EVP_PKEY *pk = NULL;

	if (strcmp(what, "RSA-2048") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(what, "RSA-1024") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else if (strcmp(what, "P-256") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(what, "P-384") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(what, "P-521") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	else if (strcmp(what, "Ed25519") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL) {
		fprintf(stderr, "keygen %s failed\n", what);
		abort();
	}
	return pk;
}

static char *bn_param_b64u(const EVP_PKEY *pk, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		abort();
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	if (n <= 0)
		abort();
	return b64u(buf, (size_t)n);
}

static int ec_field_len(const EVP_PKEY *pk)
{
	int bits = EVP_PKEY_get_bits(pk);
	return (bits + 7) / 8;
}

/*
 * The public JWK of pk as a jansson object; kid, alg and use may be NULL.
 */
static json_t *jwk_of(const EVP_PKEY *pk, const char *kid, const char *alg, const char *use)
{
	json_t *j = json_object();
	char *a = NULL, *b = NULL;

	if (EVP_PKEY_is_a(pk, "RSA")) {
		a = bn_param_b64u(pk, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_param_b64u(pk, OSSL_PKEY_PARAM_RSA_E, 0);
		json_object_set_new(j, "kty", json_string("RSA"));
		json_object_set_new(j, "n", json_string(a));
		json_object_set_new(j, "e", json_string(b));
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		char group[32];
		const char *crv;
		int fl = ec_field_len(pk);

		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1)
			abort();
		crv = strcmp(group, "prime256v1") == 0	? "P-256"
		      : strcmp(group, "secp384r1") == 0 ? "P-384"
							: "P-521";
		a = bn_param_b64u(pk, OSSL_PKEY_PARAM_EC_PUB_X, fl);
		b = bn_param_b64u(pk, OSSL_PKEY_PARAM_EC_PUB_Y, fl);
		json_object_set_new(j, "kty", json_string("EC"));
		json_object_set_new(j, "crv", json_string(crv));
		json_object_set_new(j, "x", json_string(a));
		json_object_set_new(j, "y", json_string(b));
	} else {
		uint8_t raw[64];
		size_t n = 0;

		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof(raw),
						    &n) != 1)
			abort();
		a = b64u(raw, n);
		json_object_set_new(j, "kty", json_string("OKP"));
		json_object_set_new(j, "crv", json_string("Ed25519"));
		json_object_set_new(j, "x", json_string(a));
	}
	if (kid)
		json_object_set_new(j, "kid", json_string(kid));
	if (alg)
		json_object_set_new(j, "alg", json_string(alg));
	if (use)
		json_object_set_new(j, "use", json_string(use));
	free(a);
	free(b);
	return j;
}

/* {"keys":[k...]} as a string; takes the references of the keys. */
static char *jwks_doc(json_t *keys_array)
{
	json_t *doc = json_pack("{s:o}", "keys", keys_array);
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static const char *md_of(const char *alg)
{
	if (strstr(alg, "256"))
		return "SHA256";
	if (strstr(alg, "384"))
		return "SHA384";
	if (strstr(alg, "512"))
		return "SHA512";
	return NULL;
}

/*
 * Sign data with pk as the JWS algorithm alg would (RFC 7518 3), returning
 * the JWS signature bytes: PKCS#1 v1.5, PSS (salt = hash length unless
 * salt >= 0 is given), raw R || S for ECDSA, pure Ed25519.
 */
static uint8_t *sign_raw(EVP_PKEY *pk, const char *alg, const char *data, size_t len, int salt,
			 size_t *sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const char *md = alg[0] == 'E' && alg[1] == 'd' ? NULL : md_of(alg);
	uint8_t *sig = NULL;
	size_t n = 0;

	if (EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, pk, NULL) != 1)
		abort();
	if (alg[0] == 'P') {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(
			    pctx, salt >= 0 ? salt : RSA_PSS_SALTLEN_DIGEST) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) != 1)
			abort();
	}
	if (EVP_DigestSign(mctx, NULL, &n, (const uint8_t *)data, len) != 1)
		abort();
	sig = malloc(n);
	if (EVP_DigestSign(mctx, sig, &n, (const uint8_t *)data, len) != 1)
		abort();
	EVP_MD_CTX_free(mctx);
	if (alg[0] == 'E' && alg[1] == 'S') {
		/* DER ECDSA-Sig-Value -> R || S (RFC 7518 3.4) */
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		int fl = ec_field_len(pk);
		uint8_t *raw = malloc((size_t)(2 * fl));

		if (es == NULL || p != sig + n ||
		    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, fl) != fl ||
		    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + fl, fl) != fl)
			abort();
		ECDSA_SIG_free(es);
		free(sig);
		sig = raw;
		n = (size_t)(2 * fl);
	}
	*sig_len = n;
	return sig;
}

/* "<b64 header>.<b64 payload>" for raw JSON texts. */
static char *signing_input(const char *header, const char *payload)
{
	char *h = b64u_str(header), *p = b64u_str(payload);
	char *s = fc_xasprintf("%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

/* A complete token over raw JSON texts, signed by pk as alg. */
static char *make_token_salt(EVP_PKEY *pk, const char *alg, const char *header, const char *payload,
			     int salt)
{
	char *in = signing_input(header, payload), *s64, *tok;
	size_t sl;
	uint8_t *sig = sign_raw(pk, alg, in, strlen(in), salt, &sl);

	s64 = b64u(sig, sl);
	tok = fc_xasprintf("%s.%s", in, s64);
	free(in);
	free(sig);
	free(s64);
	return tok;
}

static char *make_token(EVP_PKEY *pk, const char *alg, const char *header, const char *payload)
{
	return make_token_salt(pk, alg, header, payload, -1);
}

/* A token whose signature part is the given bytes. */
static char *token_with_sig(const char *header, const char *payload, const uint8_t *sig, size_t sl)
{
	char *in = signing_input(header, payload), *s64 = b64u(sig, sl);
	char *tok = fc_xasprintf("%s.%s", in, s64);
	free(in);
	free(s64);
	return tok;
}

static const char *claims = "{\"iss\":\"https://issuer.example\",\"sub\":\"subject-1\","
			    "\"aud\":\"sigstore\",\"email\":\"alice@example.com\","
			    "\"email_verified\":true,\"exp\":4102444800,\"iat\":1700000000}";

static enum fc_status parse(const char *tok, struct oidc_jws **jws, struct fc_err *err)
{
	fc_err_clear(err);
	return oidc_jws_parse(tok, strlen(tok), jws, err);
}

/* Parse and expect refusal with st and a message containing want. */
static void expect_refused(const char *tok, enum fc_status st, const char *want, int line)
{
	struct oidc_jws *jws = NULL;
	struct fc_err err;
	enum fc_status got = parse(tok, &jws, &err);

	if (got != st || jws != NULL || strstr(err.msg, want) == NULL)
		fprintf(stderr, "  (line %d: got %d \"%s\")\n", line, got, err.msg);
	CHECK(got == st);
	CHECK(jws == NULL);
	CHECK(err.status == st);
	CHECK_CONTAINS(err.msg, want);
	CHECK(strchr(err.msg, '\n') == NULL);
	oidc_jws_free(jws);
}
#define REFUSED(tok, st, want) expect_refused(tok, st, want, __LINE__)

static const struct oidc_jwk *find_kid(const struct oidc_jwk_set *set, const char *kid)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->keys[i].kid && strcmp(set->keys[i].kid, kid) == 0)
			return &set->keys[i];
	return NULL;
}

/* Parse tok, verify with key; returns the verify status (parse must pass). */
static enum fc_status parse_verify(const char *tok, const struct oidc_jwk *key, struct fc_err *err)
{
	struct oidc_jws *jws = NULL;
	enum fc_status st;

	if ((st = parse(tok, &jws, err)) != FC_OK) {
		fprintf(stderr, "  unexpected parse failure: %s\n", err->msg);
		return FC_EINTERNAL;
	}
	st = oidc_jws_verify(jws, key, err);
	oidc_jws_free(jws);
	return st;
}

/* --- keys shared by the tests ------------------------------------------------- */

static EVP_PKEY *k_rsa, *k_rsa2, *k_p256, *k_p256b, *k_p384, *k_p521, *k_ed, *k_ed2;
static struct oidc_jwk_set *set;

static void setup_keys(void)
{
	json_t *keys = json_array();
	struct fc_err err;
	char *doc;

	k_rsa = keygen("RSA-2048");
	k_rsa2 = keygen("RSA-2048");
	k_p256 = keygen("P-256");
	k_p256b = keygen("P-256");
	k_p384 = keygen("P-384");
	k_p521 = keygen("P-521");
	k_ed = keygen("Ed25519");
	k_ed2 = keygen("Ed25519");
	json_array_append_new(keys, jwk_of(k_rsa, "rsa", NULL, "sig"));
	json_array_append_new(keys, jwk_of(k_rsa2, "rsa2", "RS256", NULL));
	json_array_append_new(keys, jwk_of(k_p256, "p256", "ES256", "sig"));
	json_array_append_new(keys, jwk_of(k_p256b, "p256b", NULL, NULL));
	json_array_append_new(keys, jwk_of(k_p384, "p384", NULL, "sig"));
	json_array_append_new(keys, jwk_of(k_p521, "p521", "ES512", NULL));
	json_array_append_new(keys, jwk_of(k_ed, "ed", "EdDSA", "sig"));
	json_array_append_new(keys, jwk_of(k_ed2, "ed2", NULL, NULL));
	json_array_append_new(keys, jwk_of(k_rsa, "rsa-ps256", "PS256", NULL));
	doc = jwks_doc(keys);
	fc_err_clear(&err);
	CHECK(oidc_jwks_parse(doc, strlen(doc), &set, &err) == FC_OK);
	CHECK(set != NULL && set->n == 9);
	free(doc);
	if (set == NULL)
		abort();
}

static void free_keys(void)
{
	EVP_PKEY_free(k_rsa);
	EVP_PKEY_free(k_rsa2);
	EVP_PKEY_free(k_p256);
	EVP_PKEY_free(k_p256b);
	EVP_PKEY_free(k_p384);
	EVP_PKEY_free(k_p521);
	EVP_PKEY_free(k_ed);
	EVP_PKEY_free(k_ed2);
	oidc_jwk_set_free(set);
}

/* --- tests ------------------------------------------------------------------- */

static void test_alg_allowed(void)
{
	const char *yes[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
			     "PS512", "ES256", "ES384", "ES512", "EdDSA"};
	const char *no[] = {"none",   "HS256",	 "HS384",  "HS512", "rs256",
			    "ES256K", "Ed25519", "RS256 ", "",	    "RSA-OAEP"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(oidc_alg_allowed(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!oidc_alg_allowed(no[i]));
	CHECK(!oidc_alg_allowed(NULL));
}

static void test_key_kinds(void)
{
	CHECK(find_kid(set, "rsa")->kind == OIDC_KEY_RSA);
	CHECK(find_kid(set, "p256")->kind == OIDC_KEY_EC_P256);
	CHECK(find_kid(set, "p384")->kind == OIDC_KEY_EC_P384);
	CHECK(find_kid(set, "p521")->kind == OIDC_KEY_EC_P521);
	CHECK(find_kid(set, "ed")->kind == OIDC_KEY_ED25519);
	CHECK_STR(find_kid(set, "p256")->alg, "ES256");
	CHECK(find_kid(set, "rsa")->alg == NULL);
}

/* Every allowed algorithm verifies a token made by the independent signer. */
static void test_all_algs_verify(void)
{
	static const struct {
		const char *alg, *kid;
		EVP_PKEY **pk;
	} cases[] = {
		{"RS256", "rsa", &k_rsa},   {"RS384", "rsa", &k_rsa},	{"RS512", "rsa", &k_rsa},
		{"PS256", "rsa", &k_rsa},   {"PS384", "rsa", &k_rsa},	{"PS512", "rsa", &k_rsa},
		{"ES256", "p256", &k_p256}, {"ES384", "p384", &k_p384}, {"ES512", "p521", &k_p521},
		{"EdDSA", "ed", &k_ed},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdr = fc_xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
					 cases[i].alg, cases[i].kid);
		char *tok = make_token(*cases[i].pk, cases[i].alg, hdr, claims);
		struct oidc_jws *jws = NULL;
		struct fc_err err;
		enum fc_status st;

		st = parse(tok, &jws, &err);
		CHECK(st == FC_OK);
		if (st != FC_OK) {
			fprintf(stderr, "  %s: %s\n", cases[i].alg, err.msg);
		} else {
			CHECK_STR(jws->alg, cases[i].alg);
			CHECK_STR(jws->kid, cases[i].kid);
			CHECK_STR(json_string_value(json_object_get(jws->claims, "email")),
				  "alice@example.com");
			CHECK(jws->signing_input_len == (size_t)(strrchr(tok, '.') - tok));
			CHECK(memcmp(jws->signing_input, tok, jws->signing_input_len) == 0);
			CHECK(jws->signing_input[jws->signing_input_len] == '\0');
			fc_err_clear(&err);
			st = oidc_jws_verify(jws, find_kid(set, cases[i].kid), &err);
			CHECK(st == FC_OK);
			if (st != FC_OK)
				fprintf(stderr, "  %s: %s\n", cases[i].alg, err.msg);
		}
		oidc_jws_free(jws);
		free(hdr);
		free(tok);
	}
}

/* A tampered payload, a signature by another key of the same type, and a
 * flipped signature bit all fail, for every key type. */
static void test_bad_signatures(void)
{
	static const struct {
		const char *alg, *kid;
		EVP_PKEY **signer; /* another key of the same type */
	} cases[] = {
		{"RS256", "rsa", &k_rsa2},
		{"PS256", "rsa", &k_rsa2},
		{"ES256", "p256", &k_p256b},
		{"EdDSA", "ed", &k_ed2},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdr =
			fc_xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\"}", cases[i].alg, cases[i].kid);
		const struct oidc_jwk *key = find_kid(set, cases[i].kid);
		char *other = make_token(*cases[i].signer, cases[i].alg, hdr, claims);
		char *good = make_token(key == find_kid(set, "rsa")    ? k_rsa
					: key == find_kid(set, "p256") ? k_p256
								       : k_ed,
					cases[i].alg, hdr, claims);
		char *evil_in = signing_input(hdr, "{\"iss\":\"https://issuer.example\","
						   "\"email\":\"mallory@example.com\"}");
		char *tampered = fc_xasprintf("%s%s", evil_in, strrchr(good, '.'));
		char *flipped = fc_xstrdup(good);
		char *sig_part = strrchr(good, '.') + 1;
		struct fc_err err;

		CHECK(parse_verify(good, key, &err) == FC_OK);
		CHECK(parse_verify(other, key, &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "signature does not verify with key kid=");
		CHECK(parse_verify(tampered, key, &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "does not verify");
		/* never quote the signature */
		char prefix[17];
		memcpy(prefix, sig_part, 16);
		prefix[16] = '\0';
		CHECK(strstr(err.msg, prefix) == NULL);
		/* flip one bit in the first signature character: 'A' <-> 'B' etc. */
		char *fs = strrchr(flipped, '.') + 1;
		fs[0] = fs[0] == 'A' ? 'B' : 'A';
		CHECK(parse_verify(flipped, key, &err) == FC_EAUTH);
		free(hdr);
		free(other);
		free(good);
		free(evil_in);
		free(tampered);
		free(flipped);
	}
}

/* alg none and the HMAC family are refused at parse, including the classic
 * key-confusion attack: HS256 keyed with the RSA public key. */
static void test_alg_refused(void)
{
	char *in, *tok, *pem = NULL, *mac64;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	BIO *bio = BIO_new(BIO_s_mem());
	long pem_len;
	struct oidc_jws *jws = NULL;
	struct fc_err err;

	/* alg none, empty signature and with a signature */
	in = signing_input("{\"alg\":\"none\"}", claims);
	tok = fc_xasprintf("%s.", in);
	REFUSED(tok, FC_EAUTH,
		"alg \"none\" is not allowed (allowed: RS256, RS384, RS512, "
		"PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)");
	free(tok);
	tok = fc_xasprintf("%s.c2ln", in);
	REFUSED(tok, FC_EAUTH, "alg \"none\" is not allowed");
	free(tok);
	free(in);
	in = signing_input("{\"alg\":\"None\"}", claims);
	tok = fc_xasprintf("%s.c2ln", in);
	REFUSED(tok, FC_EAUTH, "alg \"None\" is not allowed");
	free(tok);
	free(in);

	/* HS256 keyed with the RSA public key PEM */
	CHECK(PEM_write_bio_PUBKEY(bio, k_rsa) == 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	in = signing_input("{\"alg\":\"HS256\",\"kid\":\"rsa\"}", claims);
	CHECK(HMAC(EVP_sha256(), pem, (int)pem_len, (const uint8_t *)in, strlen(in), mac,
		   &mac_len) != NULL);
	mac64 = b64u(mac, mac_len);
	tok = fc_xasprintf("%s.%s", in, mac64);
	REFUSED(tok, FC_EAUTH, "alg \"HS256\" is not allowed");
	/* and the message never quotes the MAC */
	fc_err_clear(&err);
	CHECK(oidc_jws_parse(tok, strlen(tok), &jws, &err) == FC_EAUTH);
	CHECK(strstr(err.msg, mac64) == NULL);
	free(tok);
	free(mac64);
	free(in);
	BIO_free(bio);

	/* HS384 / HS512 / RSA-OAEP / ES256K */
	const char *bad[] = {"HS384", "HS512", "RSA-OAEP", "ES256K", "rs256"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *hdr = fc_xasprintf("{\"alg\":\"%s\"}", bad[i]);
		char *want = fc_xasprintf("alg \"%s\" is not allowed", bad[i]);
		in = signing_input(hdr, claims);
		tok = fc_xasprintf("%s.c2ln", in);
		REFUSED(tok, FC_EAUTH, want);
		free(tok);
		free(in);
		free(hdr);
		free(want);
	}

	/* Even if a JWS with an HMAC alg reached oidc_jws_verify, it fails. */
	tok = make_token(k_rsa, "RS256", "{\"alg\":\"RS256\"}", claims);
	CHECK(parse(tok, &jws, &err) == FC_OK);
	if (jws != NULL) {
		jws->alg = "HS256";
		fc_err_clear(&err);
		CHECK(oidc_jws_verify(jws, find_kid(set, "rsa"), &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "not allowed");
	}
	oidc_jws_free(jws);
	free(tok);
}

static char *tok_hdr(const char *header)
{
	return make_token(k_rsa, "RS256", header, claims);
}

static void test_header_rules(void)
{
	char *tok;
	struct oidc_jws *jws = NULL;
	struct fc_err err;

	tok = tok_hdr("{\"alg\":\"RS256\",\"crit\":[\"exp\",\"urn:example\"],\"exp\":1}");
	REFUSED(tok, FC_EAUTH,
		"crit names extensions we do not understand: \"exp\", "
		"\"urn:example\"");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"crit\":[]}");
	REFUSED(tok, FC_EAUTH, "crit");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"crit\":\"b64\"}");
	REFUSED(tok, FC_EAUTH, "crit");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"b64\":false}");
	REFUSED(tok, FC_EAUTH, "b64 false");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"b64\":\"no\"}");
	REFUSED(tok, FC_EAUTH, "b64 is not a boolean");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"kid\":7}");
	REFUSED(tok, FC_EAUTH, "kid is not a string");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"typ\":[\"JWT\"]}");
	REFUSED(tok, FC_EAUTH, "typ is not a string");
	free(tok);
	tok = tok_hdr("{\"kid\":\"rsa\"}");
	REFUSED(tok, FC_EAUTH, "alg is missing");
	free(tok);
	tok = tok_hdr("{\"alg\":[\"RS256\"]}");
	REFUSED(tok, FC_EAUTH, "alg is not a string");
	free(tok);
	tok = tok_hdr("{\"alg\":\"RS256\",\"alg\":\"none\"}");
	REFUSED(tok, FC_EAUTH,
		"token: header is not valid JSON: duplicate object key near '\"alg\"'");
	free(tok);
	tok = tok_hdr("[\"RS256\"]");
	REFUSED(tok, FC_EAUTH, "header is not a JSON object");
	free(tok);
	/* an alg with control characters is quoted cleanly */
	tok = tok_hdr("{\"alg\":\"RS\\n256\\u0007\"}");
	REFUSED(tok, FC_EAUTH, "alg \"RS?256?\" is not allowed");
	free(tok);

	/* typ: any string, as go-oidc; b64 true is harmless; no kid is fine */
	const char *ok[] = {"{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}",
			    "{\"alg\":\"RS256\",\"typ\":\"whatever\",\"b64\":true}",
			    "{\"alg\":\"RS256\"}"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		tok = tok_hdr(ok[i]);
		CHECK(parse(tok, &jws, &err) == FC_OK);
		if (jws) {
			CHECK(jws->kid == NULL);
			fc_err_clear(&err);
			CHECK(oidc_jws_verify(jws, find_kid(set, "rsa"), &err) == FC_OK);
		}
		oidc_jws_free(jws);
		jws = NULL;
		free(tok);
	}
}

static void test_payload_rules(void)
{
	char *tok;
	const char *hdr = "{\"alg\":\"RS256\"}";

	tok = make_token(k_rsa, "RS256", hdr,
			 "{\"iss\":\"https://issuer.example\",\"email\":\"a@example.com\","
			 "\"email\":\"b@example.com\"}");
	REFUSED(tok, FC_EAUTH,
		"token: payload is not valid JSON: duplicate object key near '\"email\"'");
	free(tok);
	tok = make_token(k_rsa, "RS256", hdr, "[1,2,3]");
	REFUSED(tok, FC_EAUTH, "payload is not a JSON object");
	free(tok);
	tok = make_token(k_rsa, "RS256", hdr, "\"just a string\"");
	REFUSED(tok, FC_EAUTH, "payload is not valid JSON: '[' or '{' expected");
	free(tok);
	tok = make_token(k_rsa, "RS256", hdr, "{\"a\":1} trailing");
	REFUSED(tok, FC_EAUTH, "payload is not valid JSON");
	free(tok);
	tok = make_token(k_rsa, "RS256", hdr, "{\"a\":\"\\u0000\"}");
	REFUSED(tok, FC_EAUTH, "payload is not valid JSON");
	free(tok);
	tok = make_token(k_rsa, "RS256", hdr, "{\"a\":\"\xff\"}");
	REFUSED(tok, FC_EAUTH, "payload is not valid JSON");
	free(tok);
	/* escaped duplicate: "em\u0061il" is "email" */
	tok = make_token(k_rsa, "RS256", hdr, "{\"email\":\"a\",\"em\\u0061il\":\"b\"}");
	REFUSED(tok, FC_EAUTH, "duplicate object key");
	free(tok);
}

/* JSON errors name the part, jansson's reason and the position. */
static void test_json_messages(void)
{
	char *p64 = b64u_str("{\"a\":1,\n \"b\":tru}");
	char *tok = fc_xasprintf("eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p64);

	REFUSED(tok, FC_EAUTH,
		"payload is not valid JSON: invalid token near 'tru' (line 2 col 8)");
	free(tok);
	free(p64);
	p64 = b64u_str("[1]");
	tok = fc_xasprintf("eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p64);
	REFUSED(tok, FC_EAUTH, "payload is not a JSON object");
	free(tok);
	free(p64);
}

/* Make the last character of a base64url part non-canonical (set an unused
 * low bit). The part's length must not be a multiple of 4. */
static void make_noncanonical(char *part, size_t len)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(alpha, part[len - 1]) - alpha);
	part[len - 1] = alpha[v | 1];
}

static void test_form(void)
{
	char *good = tok_hdr("{\"alg\":\"RS256\",\"kid\":\"rsa\"}");
	char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
	size_t hlen = (size_t)(dot1 - good), plen = (size_t)(dot2 - dot1 - 1),
	       slen = strlen(dot2 + 1);
	char *t;
	struct fc_err err;

	/* two and four parts */
	t = fc_xstrndup(good, (size_t)(dot2 - good));
	REFUSED(t, FC_EAUTH, "has 2 parts, a compact JWS has 3");
	free(t);
	t = fc_xasprintf("%s.%s", good, dot2 + 1);
	REFUSED(t, FC_EAUTH, "has 4 parts");
	free(t);
	REFUSED("abc", FC_EAUTH, "has 1 parts");
	REFUSED("", FC_EAUTH, "empty");
	REFUSED("..", FC_EAUTH, "header is empty");
	t = fc_xasprintf(".%s", dot1 + 1);
	REFUSED(t, FC_EAUTH, "header is empty");
	free(t);
	t = fc_xasprintf("%.*s..%s", (int)hlen, good, dot2 + 1);
	REFUSED(t, FC_EAUTH, "payload is empty");
	free(t);
	t = fc_xasprintf("%.*s.", (int)(dot2 - good), good);
	REFUSED(t, FC_EAUTH, "signature is empty");
	free(t);

	/* non-base64url characters in each part */
	const char bad_chars[] = {'+', '/', ' ', '=', '\n', '*'};
	for (size_t i = 0; i < sizeof(bad_chars); i++) {
		t = fc_xstrdup(good);
		t[hlen / 2] = bad_chars[i];
		REFUSED(t, FC_EAUTH, "header is not strict unpadded base64url");
		free(t);
		t = fc_xstrdup(good);
		t[hlen + 1 + plen / 2] = bad_chars[i];
		REFUSED(t, FC_EAUTH, "payload is not strict unpadded base64url");
		free(t);
		t = fc_xstrdup(good);
		t[(size_t)(dot2 - good) + 1 + slen / 2] = bad_chars[i];
		REFUSED(t, FC_EAUTH, "signature is not strict unpadded base64url");
		free(t);
	}
	/* an embedded NUL */
	t = fc_xstrdup(good);
	t[hlen + 3] = '\0';
	{
		struct oidc_jws *jws = NULL;
		fc_err_clear(&err);
		CHECK(oidc_jws_parse(t, strlen(good), &jws, &err) == FC_EAUTH);
		CHECK(jws == NULL);
	}
	free(t);

	/* '=' padding: RSA-2048 signature is 256 bytes = 342 chars + "==" */
	CHECK(slen % 4 == 2);
	t = fc_xasprintf("%s==", good);
	REFUSED(t, FC_EAUTH, "signature is not strict unpadded base64url");
	free(t);
	{
		/* a header padded to a multiple of 4 with '=' */
		char *h = b64u_str("{\"alg\":\"RS256\"}");
		size_t n = strlen(h);
		char *padded = fc_xasprintf("%s%.*s", h, (int)((4 - n % 4) % 4), "===");
		if (n % 4 != 0) {
			t = fc_xasprintf("%s.%s", padded, dot1 + 1);
			REFUSED(t, FC_EAUTH, "header is not strict unpadded base64url");
			free(t);
		}
		free(h);
		free(padded);
	}

	/* non-canonical trailing bits in the signature and the payload */
	t = fc_xstrdup(good);
	make_noncanonical(t + (dot2 - good) + 1, slen);
	REFUSED(t, FC_EAUTH, "signature is not strict unpadded base64url");
	free(t);
	{
		const char *pl[] = {"{\"a\":1}", "{\"a\":12}", "{\"a\":123}"};
		for (size_t i = 0; i < 3; i++) {
			char *p64 = b64u_str(pl[i]);
			size_t n = strlen(p64);
			if (n % 4 != 0) {
				make_noncanonical(p64, n);
				t = fc_xasprintf("%.*s.%s.%s", (int)hlen, good, p64, dot2 + 1);
				REFUSED(t, FC_EAUTH, "payload is not strict unpadded base64url");
				free(t);
			}
			free(p64);
		}
	}
	/* a part of length 1 mod 4 */
	t = fc_xasprintf("%sAAA", good); /* 342 + 3 = 1 mod 4 */
	REFUSED(t, FC_EAUTH, "signature is not strict unpadded base64url");
	free(t);
	free(good);
}

static void test_size_cap(void)
{
	char *big = malloc(OIDC_MAX_TOKEN_LEN + 2);
	struct oidc_jws *jws = NULL;
	struct fc_err err;
	const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"rsa\"}";
	char *h64 = b64u_str(hdr);
	size_t h_len = strlen(h64), s_len = 342, pad;

	memset(big, 'A', OIDC_MAX_TOKEN_LEN + 1);
	big[10] = '.';
	big[20] = '.';
	big[OIDC_MAX_TOKEN_LEN + 1] = '\0';
	fc_err_clear(&err);
	CHECK(oidc_jws_parse(big, OIDC_MAX_TOKEN_LEN + 1, &jws, &err) == FC_ETOOBIG);
	CHECK(err.status == FC_ETOOBIG);
	CHECK_CONTAINS(err.msg, "over the limit of 16384");
	CHECK(jws == NULL);
	/* the cap comes before any parsing: garbage of that size is ETOOBIG too */
	memset(big, '.', OIDC_MAX_TOKEN_LEN + 1);
	fc_err_clear(&err);
	CHECK(oidc_jws_parse(big, OIDC_MAX_TOKEN_LEN + 1, &jws, &err) == FC_ETOOBIG);
	fc_err_clear(&err);
	CHECK(oidc_jws_parse(big, SIZE_MAX, &jws, &err) == FC_ETOOBIG);
	free(big);

	/* a valid token of exactly OIDC_MAX_TOKEN_LEN bytes is accepted:
	 * payload {"p":"xxx..."} padded so that the total hits the limit */
	for (pad = 11000; pad < 13000; pad++) {
		size_t raw = pad + 8; /* {"p":""} */
		size_t p_len = raw / 3 * 4 + (raw % 3 ? raw % 3 + 1 : 0);
		if (h_len + 1 + p_len + 1 + s_len == OIDC_MAX_TOKEN_LEN)
			break;
	}
	CHECK(pad < 13000);
	{
		char *payload = malloc(pad + 9), *tok;
		memcpy(payload, "{\"p\":\"", 6);
		memset(payload + 6, 'x', pad);
		memcpy(payload + 6 + pad, "\"}", 3);
		tok = make_token(k_rsa, "RS256", hdr, payload);
		CHECK(strlen(tok) == OIDC_MAX_TOKEN_LEN);
		fc_err_clear(&err);
		CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_OK);
		free(payload);
		free(tok);
	}
	free(h64);
}

static void test_key_mismatch(void)
{
	char *tok;
	struct fc_err err;
	uint8_t sig[200];

	/* kid naming an EC key, used with RS256 */
	tok = make_token(k_rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"p256\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
	CHECK_STR(err.msg, "key kid=p256 is an EC P-256 key, token alg RS256 needs an RSA key");
	free(tok);
	/* ES256 token checked against a P-384 key */
	tok = make_token(k_p256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"p384\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "p384"), &err) == FC_EAUTH);
	CHECK_STR(err.msg,
		  "key kid=p384 is an EC P-384 key, token alg ES256 needs an EC P-256 key");
	free(tok);
	/* EdDSA against RSA, RS256 against Ed25519, ES512 against P-256 */
	tok = make_token(k_ed, "EdDSA", "{\"alg\":\"EdDSA\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "is an RSA key, token alg EdDSA needs an Ed25519 key");
	free(tok);
	tok = make_token(k_rsa, "RS256", "{\"alg\":\"RS256\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "ed"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "is an Ed25519 key, token alg RS256 needs an RSA key");
	free(tok);
	tok = make_token(k_p521, "ES512", "{\"alg\":\"ES512\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "token alg ES512 needs an EC P-521 key");
	free(tok);

	/* key alg mismatch: the rsa-ps256 key is declared PS256 */
	tok = make_token(k_rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-ps256\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa-ps256"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "key kid=rsa-ps256 is declared for alg PS256, token alg is RS256");
	free(tok);
	tok = make_token(k_rsa, "PS256", "{\"alg\":\"PS256\",\"kid\":\"rsa-ps256\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa-ps256"), &err) == FC_OK);
	free(tok);
	/* p256 is declared ES256; p521 ES512; ed EdDSA: fine with their algs */
	tok = make_token(k_rsa2, "RS384", "{\"alg\":\"RS384\"}", claims);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa2"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "declared for alg RS256, token alg is RS384");
	free(tok);

	/* ES256 signatures of the wrong length: 63, 65, and DER instead of raw */
	const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"p256\"}";
	for (size_t n = 63; n <= 65; n += 2) {
		memset(sig, 0x11, n);
		tok = token_with_sig(hdr, claims, sig, n);
		fc_err_clear(&err);
		CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "ES256 signature is ");
		CHECK_CONTAINS(err.msg, "bytes, want 64");
		free(tok);
	}
	{
		char *in = signing_input(hdr, claims);
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		size_t dl = sizeof(sig);
		CHECK(EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, k_p256, NULL) == 1);
		CHECK(EVP_DigestSign(m, sig, &dl, (uint8_t *)in, strlen(in)) == 1);
		EVP_MD_CTX_free(m);
		tok = token_with_sig(hdr, claims, sig, dl);
		fc_err_clear(&err);
		CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "want 64 (R || S");
		free(tok);
		free(in);
	}
	/* ES256 r||s with r = 0 and with s = n (out of range) */
	memset(sig, 0, 64);
	tok = token_with_sig(hdr, claims, sig, 64);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
	free(tok);
	memset(sig, 0xff, 64);
	tok = token_with_sig(hdr, claims, sig, 64);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "p256"), &err) == FC_EAUTH);
	free(tok);
	/* EdDSA signature of the wrong length */
	memset(sig, 0x22, 63);
	tok = token_with_sig("{\"alg\":\"EdDSA\"}", claims, sig, 63);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "ed"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "EdDSA signature is 63 bytes, want 64");
	free(tok);
	/* RSA signature one byte short (leading zero stripped or not) */
	{
		char *in = signing_input("{\"alg\":\"RS256\"}", claims);
		size_t sl;
		uint8_t *s = sign_raw(k_rsa, "RS256", in, strlen(in), -1, &sl);
		tok = token_with_sig("{\"alg\":\"RS256\"}", claims, s + 1, sl - 1);
		fc_err_clear(&err);
		CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "RS256 signature is 255 bytes, key kid=rsa needs 256");
		free(tok);
		free(s);
		free(in);
	}
	/* PSS with a salt length other than the hash length (RFC 7518 3.5) */
	tok = make_token_salt(k_rsa, "PS256", "{\"alg\":\"PS256\"}", claims, 20);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_EAUTH);
	CHECK_CONTAINS(err.msg, "PS256 signature does not verify");
	free(tok);
	tok = make_token_salt(k_rsa, "PS512", "{\"alg\":\"PS512\"}", claims, 64);
	fc_err_clear(&err);
	CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_OK);
	free(tok);
	/* PKCS#1 v1.5 signature presented as PS256 and vice versa */
	{
		char *in = signing_input("{\"alg\":\"PS256\"}", claims);
		size_t sl;
		uint8_t *s = sign_raw(k_rsa, "RS256", in, strlen(in), -1, &sl);
		tok = token_with_sig("{\"alg\":\"PS256\"}", claims, s, sl);
		fc_err_clear(&err);
		CHECK(parse_verify(tok, find_kid(set, "rsa"), &err) == FC_EAUTH);
		free(tok);
		free(s);
		free(in);
	}
	/* no kid: messages say so */
	tok = make_token(k_rsa, "RS256", "{\"alg\":\"RS256\"}", claims);
	{
		struct oidc_jwk nokid = *find_kid(set, "p256");
		nokid.kid = NULL;
		fc_err_clear(&err);
		CHECK(parse_verify(tok, &nokid, &err) == FC_EAUTH);
		CHECK_CONTAINS(err.msg, "key kid=(none) is an EC P-256 key");
	}
	free(tok);
}

/* --- JWKS -------------------------------------------------------------------- */

static enum fc_status jwks_parse_str(const char *doc, struct oidc_jwk_set **out, struct fc_err *err)
{
	fc_err_clear(err);
	*out = NULL;
	return oidc_jwks_parse(doc, strlen(doc), out, err);
}

/* Parse keys (a json array, consumed) and return how many were kept. */
static size_t kept(json_t *keys)
{
	char *doc = jwks_doc(keys);
	struct oidc_jwk_set *s = NULL;
	struct fc_err err;
	size_t n = 0;

	if (jwks_parse_str(doc, &s, &err) == FC_OK)
		n = s->n;
	else
		CHECK(err.status == FC_EUPSTREAM);
	oidc_jwk_set_free(s);
	free(doc);
	return n;
}

/* One good key plus the given one: 1 if the given one was skipped. */
static size_t kept_with(json_t *jwk)
{
	return kept(json_pack("[o,o]", jwk_of(k_p256, "good", NULL, NULL), jwk)) - 1;
}

static json_t *with(json_t *jwk, const char *name, json_t *v)
{
	json_object_set_new(jwk, name, v);
	return jwk;
}

static void test_jwks(void)
{
	struct oidc_jwk_set *s = NULL;
	struct fc_err err;
	EVP_PKEY *rsa1024 = keygen("RSA-1024");
	json_t *j;
	char *doc;

	/* sanity: each good key alone is kept */
	CHECK(kept(json_pack("[o]", jwk_of(k_rsa, "a", NULL, NULL))) == 1);
	CHECK(kept_with(jwk_of(k_ed, "b", NULL, "sig")) == 1);

	/* skipped: enc keys, RSA-1024, private members, unknown kty/crv */
	CHECK(kept_with(jwk_of(k_rsa, "enc", NULL, "enc")) == 0);
	CHECK(kept_with(jwk_of(k_rsa, "enc", "RSA-OAEP", NULL)) == 0);
	CHECK(kept_with(jwk_of(k_rsa, "hs", "HS256", NULL)) == 0);
	CHECK(kept_with(jwk_of(rsa1024, "small", NULL, "sig")) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "priv", NULL, NULL), "d", json_string("AQAB"))) == 0);
	CHECK(kept_with(with(jwk_of(k_p256, "priv", NULL, NULL), "d", json_string("AQAB"))) == 0);
	CHECK(kept_with(with(jwk_of(k_ed, "priv", NULL, NULL), "d", json_string("AQAB"))) == 0);
	CHECK(kept_with(json_pack("{s:s,s:s}", "kty", "oct", "k", "c2VjcmV0")) == 0);
	CHECK(kept_with(with(jwk_of(k_p256, "k", NULL, NULL), "crv", json_string("P-192"))) == 0);
	CHECK(kept_with(with(jwk_of(k_p256, "k", NULL, NULL), "crv", json_string("secp256k1"))) ==
	      0);
	CHECK(kept_with(with(jwk_of(k_ed, "k", NULL, NULL), "crv", json_string("Ed448"))) == 0);
	CHECK(kept_with(with(jwk_of(k_ed, "k", NULL, NULL), "crv", json_string("X25519"))) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "kty", json_string("RSA2"))) == 0);
	CHECK(kept_with(json_string("not an object")) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "kid", json_integer(3))) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "use", json_integer(3))) == 0);
	/* P-256 key claiming to be P-384 (coordinates too short) */
	CHECK(kept_with(with(jwk_of(k_p256, "k", NULL, NULL), "crv", json_string("P-384"))) == 0);
	/* malformed values: bad base64url, x one byte short, even e, e = 1 */
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "n", json_string("!!!!"))) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "e", json_string("AQAA"))) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "e", json_string("AQ"))) == 0);
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "e", json_integer(65537))) == 0);
	{
		uint8_t x[31] = {1};
		char *x64 = b64u(x, sizeof(x));
		CHECK(kept_with(with(jwk_of(k_p256, "k", NULL, NULL), "x", json_string(x64))) == 0);
		free(x64);
	}
	/* the same RSA key with e = 3 is still accepted (odd, >= 3) */
	CHECK(kept_with(with(jwk_of(k_rsa, "k", NULL, NULL), "e", json_string("Aw"))) == 1);
	/* tolerated like go-jose: '=' padding in a JWKS value */
	{
		json_t *k = jwk_of(k_rsa, "pad", NULL, NULL);
		const char *e = json_string_value(json_object_get(k, "e"));
		char *padded = fc_xasprintf("%s=", e);
		json_object_set_new(k, "e", json_string(padded));
		CHECK(kept_with(k) == 1);
		free(padded);
	}
	/* off-curve EC point: the real x with y + 1 */
	{
		json_t *k = jwk_of(k_p256, "offcurve", NULL, NULL);
		BIGNUM *y = NULL;
		uint8_t yb[32];
		char *y64;
		CHECK(EVP_PKEY_get_bn_param(k_p256, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1);
		CHECK(BN_add_word(y, 1) == 1);
		CHECK(BN_bn2binpad(y, yb, 32) == 32);
		y64 = b64u(yb, 32);
		json_object_set_new(k, "y", json_string(y64));
		CHECK(kept_with(k) == 0);
		BN_free(y);
		free(y64);
		/* and coordinates >= p (all ones) */
		memset(yb, 0xff, 32);
		y64 = b64u(yb, 32);
		k = jwk_of(k_p256, "big", NULL, NULL);
		json_object_set_new(k, "x", json_string(y64));
		CHECK(kept_with(k) == 0);
		free(y64);
	}

	/* not a JWKS */
	const char *not_jwks[] = {"[]",
				  "{}",
				  "{\"keys\":{}}",
				  "{\"keys\":\"x\"}",
				  "not json",
				  "{\"keys\":[],\"keys\":[]}",
				  ""};
	for (size_t i = 0; i < sizeof(not_jwks) / sizeof(not_jwks[0]); i++) {
		CHECK(jwks_parse_str(not_jwks[i], &s, &err) == FC_EUPSTREAM);
		CHECK(s == NULL);
		CHECK(err.status == FC_EUPSTREAM);
		CHECK_CONTAINS(err.msg, "jwks: ");
	}
	CHECK(jwks_parse_str("{}", &s, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "not a JWK Set");
	/* empty, and nothing usable */
	CHECK(jwks_parse_str("{\"keys\":[]}", &s, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "empty");
	j = json_pack("[o,o]", jwk_of(k_rsa, "a", NULL, "enc"), jwk_of(rsa1024, "b", NULL, NULL));
	doc = jwks_doc(j);
	CHECK(jwks_parse_str(doc, &s, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "none of its 2 keys can verify signatures (last: RSA modulus "
				"under 2048 bits)");
	free(doc);

	/* over the byte cap */
	{
		size_t n = OIDC_MAX_JWKS_BYTES + 1;
		char *huge = malloc(n + 1);
		memset(huge, ' ', n);
		huge[n] = '\0';
		fc_err_clear(&err);
		CHECK(oidc_jwks_parse(huge, n, &s, &err) == FC_ETOOBIG);
		CHECK(s == NULL);
		free(huge);
	}
	/* at most OIDC_MAX_JWKS_KEYS kept */
	j = json_array();
	for (int i = 0; i < OIDC_MAX_JWKS_KEYS + 6; i++) {
		char kid[16];
		snprintf(kid, sizeof(kid), "k%d", i);
		json_array_append_new(j, jwk_of(k_ed, kid, NULL, NULL));
	}
	doc = jwks_doc(j);
	CHECK(jwks_parse_str(doc, &s, &err) == FC_OK);
	CHECK(s != NULL && s->n == OIDC_MAX_JWKS_KEYS);
	if (s)
		CHECK_STR(s->keys[0].kid, "k0");
	oidc_jwk_set_free(s);
	free(doc);

	/* extra members (x5c, key_ops, x5t) do not matter */
	j = jwk_of(k_p384, "x", "ES384", "sig");
	json_object_set_new(j, "key_ops", json_pack("[s]", "verify"));
	json_object_set_new(j, "x5t", json_string("abc"));
	CHECK(kept_with(j) == 1);

	oidc_jwk_set_free(NULL);
	EVP_PKEY_free(rsa1024);
}

int main(void)
{
	fc_log_set_level(LOG_WARNING);
	setup_keys();
	test_alg_allowed();
	test_key_kinds();
	test_all_algs_verify();
	test_bad_signatures();
	test_alg_refused();
	test_header_rules();
	test_payload_rules();
	test_json_messages();
	test_form();
	test_size_cap();
	test_key_mismatch();
	test_jwks();
	oidc_jws_free(NULL);
	free_keys();
	return check_exit();
}
