/*
 * JSON Web Keys (RFC 7517), their algorithms (RFC 7518 6, RFC 8037 2) and
 * JWS signature verification (RFC 7518 3, RFC 8037 3.1).
 *
 * A JWKS is the issuer's document: a key we cannot use (encryption key,
 * unknown type, weak or malformed) is skipped rather than failing the whole
 * set, as go-oidc does, so that one odd key does not lock out an issuer.
 * Keys become provider-native EVP_PKEYs once, at parse time; verification
 * does no key work beyond OpenSSL's own.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "oidc_int.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
/* Go's crypto/rsa (behind go-jose) refuses exponents over 2^31 - 1. */
#define RSA_MAX_E 0x7fffffffUL

/* --- algorithms --------------------------------------------------------- */

enum alg_family { FAM_RS, FAM_PS, FAM_ES, FAM_ED };

/* RFC 7518 3.5: PSS with MGF1 over the same hash, salt as long as the hash. */
static char pss_mode[] = OSSL_PKEY_RSA_PAD_MODE_PSS;
static char pss_salt[] = OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
static char md_sha256[] = "SHA256";
static char md_sha384[] = "SHA384";
static char md_sha512[] = "SHA512";
#define PSS_PARAMS(md)                                                                             \
	{                                                                                          \
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, pss_mode,                    \
				       sizeof(pss_mode) - 1),                                      \
			OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, pss_salt,         \
					       sizeof(pss_salt) - 1),                              \
			OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, md,               \
					       sizeof(md) - 1),                                    \
			OSSL_PARAM_END                                                             \
	}
static const OSSL_PARAM ps256_params[] = PSS_PARAMS(md_sha256);
static const OSSL_PARAM ps384_params[] = PSS_PARAMS(md_sha384);
static const OSSL_PARAM ps512_params[] = PSS_PARAMS(md_sha512);

struct alg_info {
	const char *name;
	enum alg_family fam;
	const char *md;		  /* digest name; NULL for EdDSA (pure) */
	enum oidc_key_kind kind;  /* key kind the algorithm needs */
	size_t ec_len;		  /* ES*: field length in bytes (RFC 7518 3.4) */
	const OSSL_PARAM *params; /* extra signature parameters (PSS) */
};

static const struct alg_info algs[] = {
	{"RS256", FAM_RS, "SHA256", OIDC_KEY_RSA, 0, NULL},
	{"RS384", FAM_RS, "SHA384", OIDC_KEY_RSA, 0, NULL},
	{"RS512", FAM_RS, "SHA512", OIDC_KEY_RSA, 0, NULL},
	{"PS256", FAM_PS, "SHA256", OIDC_KEY_RSA, 0, ps256_params},
	{"PS384", FAM_PS, "SHA384", OIDC_KEY_RSA, 0, ps384_params},
	{"PS512", FAM_PS, "SHA512", OIDC_KEY_RSA, 0, ps512_params},
	{"ES256", FAM_ES, "SHA256", OIDC_KEY_EC_P256, 32, NULL},
	{"ES384", FAM_ES, "SHA384", OIDC_KEY_EC_P384, 48, NULL},
	{"ES512", FAM_ES, "SHA512", OIDC_KEY_EC_P521, 66, NULL},
	{"EdDSA", FAM_ED, NULL, OIDC_KEY_ED25519, 0, NULL},
};

static const struct alg_info *alg_lookup(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

/* The algorithm a key of this kind is most likely used with: the one its
 * verification template is made for when the JWK declares none. */
static const struct alg_info *kind_default_alg(enum oidc_key_kind kind)
{
	switch (kind) {
	case OIDC_KEY_RSA: return alg_lookup("RS256");
	case OIDC_KEY_EC_P256: return alg_lookup("ES256");
	case OIDC_KEY_EC_P384: return alg_lookup("ES384");
	case OIDC_KEY_EC_P521: return alg_lookup("ES512");
	case OIDC_KEY_ED25519: return alg_lookup("EdDSA");
	}
	return NULL;
}

static const char *kind_text(enum oidc_key_kind kind)
{
	switch (kind) {
	case OIDC_KEY_RSA: return "an RSA key";
	case OIDC_KEY_EC_P256: return "an EC P-256 key";
	case OIDC_KEY_EC_P384: return "an EC P-384 key";
	case OIDC_KEY_EC_P521: return "an EC P-521 key";
	case OIDC_KEY_ED25519: return "an Ed25519 key";
	}
	return "a key of unknown kind";
}

/* Printable-ASCII copy of an issuer-chosen string (kid) for messages. */
static void clean_copy(char *dst, size_t cap, const char *s)
{
	size_t o = 0, i;

	if (s == NULL) {
		snprintf(dst, cap, "(none)");
		return;
	}
	for (i = 0; s[i] != '\0' && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (s[i] != '\0' && o + 3 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* --- JWK parsing -------------------------------------------------------- */

/*
 * Decode a base64url member. JWKS values are decoded strictly, except that
 * '=' padding is tolerated as go-jose does (it trims it): a JWKS comes from
 * the issuer over TLS, and padding there changes no signature's meaning.
 */
static bool member_b64(const json_t *jwk, const char *name, uint8_t **out, size_t *outlen)
{
	const json_t *v = json_object_get(jwk, name);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	for (int i = 0; i < 2 && n > 0 && s[n - 1] == '='; i++)
		n--;
	return fc_b64url_decode(s, n, out, outlen);
}

/* Build an RSA public key (RFC 7518 6.3.1). why is set on failure. */
static EVP_PKEY *rsa_from_jwk(const json_t *jwk, const char **why)
{
	uint8_t *n = NULL, *e = NULL;
	size_t n_len = 0, e_len = 0, n_off = 0, e_off = 0, bits;
	unsigned long ev = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!member_b64(jwk, "n", &n, &n_len) || !member_b64(jwk, "e", &e, &e_len)) {
		*why = "RSA n or e missing or not base64url";
		goto out;
	}
	/* Base64urlUInt (RFC 7518 2) has no leading zeros; go-jose reads the
	 * value as a big integer regardless, and so do we. */
	while (n_off < n_len && n[n_off] == 0)
		n_off++;
	while (e_off < e_len && e[e_off] == 0)
		e_off++;
	if (n_off == n_len) {
		*why = "RSA modulus is zero";
		goto out;
	}
	bits = (n_len - n_off - 1) * 8;
	for (unsigned top = n[n_off]; top != 0; top >>= 1)
		bits++;
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		*why = bits < RSA_MIN_BITS ? "RSA modulus under 2048 bits"
					   : "RSA modulus over 16384 bits";
		goto out;
	}
	if ((n[n_len - 1] & 1) == 0) {
		*why = "RSA modulus is even";
		goto out;
	}
	if (e_len - e_off > 4) {
		*why = "RSA exponent too large";
		goto out;
	}
	for (size_t i = e_off; i < e_len; i++)
		ev = ev << 8 | e[i];
	if (ev < 3 || ev > RSA_MAX_E || (ev & 1) == 0) {
		*why = "RSA exponent not odd or out of range [3, 2^31-1]";
		goto out;
	}
	*why = "RSA key rejected by OpenSSL";
	if ((bn_n = BN_bin2bn(n + n_off, (int)(n_len - n_off), NULL)) == NULL ||
	    (bn_e = BN_bin2bn(e + e_off, (int)(e_len - e_off), NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto out;
	}
	*why = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return pkey;
}

/* Build an EC public key (RFC 7518 6.2.1) and check the point is on the
 * curve. why is set on failure. */
static EVP_PKEY *ec_from_jwk(const json_t *jwk, const char *crv, enum oidc_key_kind *kind,
			     const char **why)
{
	static const struct {
		const char *crv, *group;
		size_t len;
		enum oidc_key_kind kind;
	} curves[] = {
		{"P-256", "prime256v1", 32, OIDC_KEY_EC_P256},
		{"P-384", "secp384r1", 48, OIDC_KEY_EC_P384},
		{"P-521", "secp521r1", 66, OIDC_KEY_EC_P521},
	};
	uint8_t *x = NULL, *y = NULL, pub[1 + 2 * 66];
	size_t x_len = 0, y_len = 0, c;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;

	for (c = 0; c < sizeof(curves) / sizeof(curves[0]); c++)
		if (strcmp(crv, curves[c].crv) == 0)
			break;
	if (c == sizeof(curves) / sizeof(curves[0])) {
		*why = "unsupported EC crv";
		goto out;
	}
	if (!member_b64(jwk, "x", &x, &x_len) || !member_b64(jwk, "y", &y, &y_len)) {
		*why = "EC x or y missing or not base64url";
		goto out;
	}
	/* RFC 7518 6.2.1.2: exactly the full coordinate size. */
	if (x_len != curves[c].len || y_len != curves[c].len) {
		*why = "EC x or y not the curve's coordinate size";
		goto out;
	}
	pub[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pub + 1, x, x_len);
	memcpy(pub + 1 + x_len, y, y_len);
	*why = "EC point not on the curve";
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[c].group, 0) !=
		    1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * x_len) !=
		    1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto out;
	}
	*kind = curves[c].kind;
	*why = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

/* Build an Ed25519 public key (RFC 8037 2). why is set on failure. */
static EVP_PKEY *okp_from_jwk(const json_t *jwk, const char *crv, const char **why)
{
	uint8_t *x = NULL;
	size_t x_len = 0;
	EVP_PKEY *pkey = NULL;

	if (strcmp(crv, "Ed25519") != 0) {
		*why = "unsupported OKP crv (only Ed25519)";
		goto out;
	}
	if (!member_b64(jwk, "x", &x, &x_len) || x_len != 32) {
		*why = "Ed25519 x missing, not base64url or not 32 bytes";
		goto out;
	}
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, x_len);
	*why = pkey == NULL ? "Ed25519 key rejected by OpenSSL" : NULL;
out:
	ERR_clear_error();
	free(x);
	return pkey;
}

/*
 * Set up key->tmpl, the verification context oidc_jws_verify() copies, for
 * the key's declared alg or else its kind's usual one. Best effort: without
 * a template (an alg that does not fit the key, an OpenSSL failure),
 * verification initialises a context itself, as it always may.
 */
static void make_template(struct oidc_jwk *key)
{
	const struct alg_info *ai =
		key->alg != NULL ? alg_lookup(key->alg) : kind_default_alg(key->kind);
	EVP_MD_CTX *m;

	if (ai == NULL || ai->kind != key->kind || (m = EVP_MD_CTX_new()) == NULL)
		return;
	if (EVP_DigestVerifyInit_ex(m, NULL, ai->md, NULL, NULL, key->pkey, ai->params) != 1) {
		ERR_clear_error();
		EVP_MD_CTX_free(m);
		return;
	}
	key->tmpl = m;
	key->tmpl_alg = ai->name;
}

/*
 * Turn one JWKS member into *key. Returns NULL on success, else the reason
 * the key is skipped.
 */
static const char *parse_jwk(const json_t *jwk, struct oidc_jwk *key)
{
	/* RFC 7518 6.2.2, 6.3.2, 6.4.1, RFC 8037 2: private or symmetric parts. */
	static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
	const json_t *kty, *use, *alg, *kid, *crv;
	const char *why = NULL;
	EVP_PKEY *pkey = NULL;
	enum oidc_key_kind kind = OIDC_KEY_RSA;

	if (!json_is_object(jwk))
		return "not a JSON object";
	kty = json_object_get(jwk, "kty");
	use = json_object_get(jwk, "use");
	alg = json_object_get(jwk, "alg");
	kid = json_object_get(jwk, "kid");
	crv = json_object_get(jwk, "crv");
	if (!json_is_string(kty))
		return "kty missing or not a string (RFC 7517 4.1)";
	if (kid != NULL && !json_is_string(kid))
		return "kid not a string (RFC 7517 4.5)";
	if (use != NULL && !json_is_string(use))
		return "use not a string (RFC 7517 4.2)";
	if (use != NULL && strcmp(json_string_value(use), "sig") != 0)
		return "use is not \"sig\" (RFC 7517 4.2)";
	if (alg != NULL && !json_is_string(alg))
		return "alg not a string (RFC 7517 4.4)";
	/* A key declared for another algorithm could never verify a token we
	 * accept (oidc_jws_verify demands equality). */
	if (alg != NULL && !oidc_alg_allowed(json_string_value(alg)))
		return "alg is not an allowed signature algorithm";
	for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
		if (json_object_get(jwk, private_members[i]) != NULL)
			return "private or symmetric key material present";
	if (crv != NULL && !json_is_string(crv))
		return "crv not a string";

	if (strcmp(json_string_value(kty), "RSA") == 0) {
		pkey = rsa_from_jwk(jwk, &why);
		kind = OIDC_KEY_RSA;
	} else if (strcmp(json_string_value(kty), "EC") == 0) {
		if (crv == NULL)
			return "EC key without crv";
		pkey = ec_from_jwk(jwk, json_string_value(crv), &kind, &why);
	} else if (strcmp(json_string_value(kty), "OKP") == 0) {
		if (crv == NULL)
			return "OKP key without crv";
		pkey = okp_from_jwk(jwk, json_string_value(crv), &why);
		kind = OIDC_KEY_ED25519;
	} else {
		return "unsupported kty";
	}
	if (pkey == NULL)
		return why != NULL ? why : "unusable key";
	key->kid = kid != NULL ? fc_xstrdup(json_string_value(kid)) : NULL;
	key->alg = alg != NULL ? fc_xstrdup(json_string_value(alg)) : NULL;
	key->kind = kind;
	key->pkey = pkey;
	make_template(key);
	return NULL;
}

/*
 * Parse a JWK Set (RFC 7517 5) into the keys that can verify signatures.
 * Unusable members are skipped with a LOG_DEBUG line; at most
 * OIDC_MAX_JWKS_KEYS are kept. Returns FC_OK and *out (free with
 * oidc_jwk_set_free), FC_ETOOBIG over OIDC_MAX_JWKS_BYTES, or FC_EUPSTREAM
 * if the document is not a JWKS or holds no usable key; reason in err.
 */
enum fc_status oidc_jwks_parse(const char *json, size_t len, struct oidc_jwk_set **out,
			       struct fc_err *err)
{
	struct oidc_jwk_set *set = NULL;
	json_t *root = NULL, *keys, *member;
	json_error_t jerr;
	const char *last_why = NULL;
	char kid[80], text[160];
	size_t i;
	enum fc_status st = FC_EUPSTREAM;

	if (len > OIDC_MAX_JWKS_BYTES)
		return fc_err_set(err, FC_ETOOBIG, "jwks: %zu bytes, over the limit of %d", len,
				  OIDC_MAX_JWKS_BYTES);
	if (json == NULL)
		return fc_err_set(err, FC_EUPSTREAM, "jwks: empty document");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		clean_copy(text, sizeof(text), jerr.text);
		fc_err_set(err, FC_EUPSTREAM, "jwks: not valid JSON: %s (line %d col %d)", text,
			   jerr.line, jerr.column);
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		fc_err_set(err, FC_EUPSTREAM,
			   "jwks: not a JWK Set: no \"keys\" array (RFC 7517 5)");
		goto out;
	}
	set = fc_xcalloc(1, sizeof(*set));
	set->keys = fc_xcalloc(OIDC_MAX_JWKS_KEYS, sizeof(*set->keys));
	json_array_foreach(keys, i, member)
	{
		const char *why;
		const json_t *k = json_is_object(member) ? json_object_get(member, "kid") : NULL;

		clean_copy(kid, sizeof(kid), json_is_string(k) ? json_string_value(k) : NULL);
		if (set->n == OIDC_MAX_JWKS_KEYS) {
			fc_log(LOG_DEBUG, "oidc: jwks: key %zu kid=%s: skipped: over %d keys", i,
			       kid, OIDC_MAX_JWKS_KEYS);
			continue;
		}
		if ((why = parse_jwk(member, &set->keys[set->n])) != NULL) {
			fc_log(LOG_DEBUG, "oidc: jwks: key %zu kid=%s: skipped: %s", i, kid, why);
			last_why = why;
			continue;
		}
		set->n++;
	}
	if (set->n == 0) {
		if (json_array_size(keys) == 0)
			fc_err_set(err, FC_EUPSTREAM, "jwks: the key set is empty");
		else
			fc_err_set(err, FC_EUPSTREAM,
				   "jwks: none of its %zu keys can verify signatures (last: %s)",
				   json_array_size(keys), last_why);
		goto out;
	}
	*out = set;
	set = NULL;
	st = FC_OK;
out:
	oidc_jwk_set_free(set);
	json_decref(root);
	return st;
}

/*
 * Free a key set and its keys. NULL is fine.
 */
void oidc_jwk_set_free(struct oidc_jwk_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->keys[i].kid);
		free(set->keys[i].alg);
		EVP_MD_CTX_free(set->keys[i].tmpl);
		EVP_PKEY_free(set->keys[i].pkey);
	}
	free(set->keys);
	free(set);
}

/* --- verification --------------------------------------------------------- */

/*
 * RFC 7518 3.4: the JWS signature is R || S, each exactly ec_len bytes;
 * OpenSSL wants a DER ECDSA-Sig-Value (RFC 3279 2.2.3). Writes at most cap
 * bytes to der and returns its length, 0 on failure.
 */
static size_t ecdsa_raw_to_der(const uint8_t *raw, size_t ec_len, uint8_t *der, size_t cap)
{
	ECDSA_SIG *esig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	size_t res = 0;
	int n;

	if ((esig = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(raw, (int)ec_len, NULL)) == NULL ||
	    (s = BN_bin2bn(raw + ec_len, (int)ec_len, NULL)) == NULL)
		goto out;
	if (ECDSA_SIG_set0(esig, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by esig */
	/* r, s < 2^(8 * ec_len), so the encoding is at most
	 * 3 + 2 * (2 + ec_len + 1) bytes: 141 for P-521. */
	if (cap < 3 + 2 * (3 + ec_len))
		goto out;
	if ((n = i2d_ECDSA_SIG(esig, &p)) <= 0)
		goto out;
	res = (size_t)n;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(esig);
	return res;
}

/*
 * Verify jws's signature over its signing input with key (RFC 7515 5.2,
 * RFC 7518 3.3-3.5, RFC 8037 3.1). The key kind must fit the header alg and
 * a declared key alg must equal it. Returns FC_OK, or FC_EAUTH with the
 * reason in err.
 */
enum fc_status oidc_jws_verify(const struct oidc_jws *jws, const struct oidc_jwk *key,
			       struct fc_err *err)
{
	const struct alg_info *ai = alg_lookup(jws->alg);
	const uint8_t *sig = jws->sig;
	size_t sig_len = jws->sig_len;
	uint8_t der[2 * (3 + 67) + 4];
	EVP_MD_CTX *mctx = NULL;
	char kid[80];
	enum fc_status st = FC_EAUTH;

	if (ai == NULL)
		return fc_err_set(err, FC_EAUTH, "token header: alg is not allowed");
	if (key->kind != ai->kind) {
		clean_copy(kid, sizeof(kid), key->kid);
		return fc_err_set(err, FC_EAUTH, "key kid=%s is %s, token alg %s needs %s", kid,
				  kind_text(key->kind), ai->name, kind_text(ai->kind));
	}
	if (key->alg != NULL && strcmp(key->alg, ai->name) != 0) {
		clean_copy(kid, sizeof(kid), key->kid);
		return fc_err_set(
			err, FC_EAUTH,
			"key kid=%s is declared for alg %s, token alg is %s (RFC 7517 4.4)", kid,
			key->alg, ai->name);
	}
	switch (ai->fam) {
	case FAM_RS:
	case FAM_PS:
		/* RFC 8017 8.1.2, 8.2.2: the signature is exactly k octets long. */
		if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
			clean_copy(kid, sizeof(kid), key->kid);
			return fc_err_set(err, FC_EAUTH,
					  "token: %s signature is %zu bytes, key kid=%s needs %d",
					  ai->name, sig_len, kid, EVP_PKEY_get_size(key->pkey));
		}
		break;
	case FAM_ES:
		if (sig_len != 2 * ai->ec_len)
			return fc_err_set(err, FC_EAUTH,
					  "token: %s signature is %zu bytes, want %zu (R || S, "
					  "RFC 7518 3.4)",
					  ai->name, sig_len, 2 * ai->ec_len);
		if ((sig_len = ecdsa_raw_to_der(jws->sig, ai->ec_len, der, sizeof(der))) == 0) {
			ERR_clear_error();
			return fc_err_set(err, FC_EINTERNAL,
					  "token: cannot encode ECDSA signature");
		}
		sig = der;
		break;
	case FAM_ED:
		if (sig_len != 64)
			return fc_err_set(
				err, FC_EAUTH,
				"token: EdDSA signature is %zu bytes, want 64 (RFC 8032 5.1.6)",
				sig_len);
		break;
	}

	mctx = EVP_MD_CTX_new();
	/* A copy of the key's ready-made context if it was made for this
	 * alg; failing that, a context set up here. */
	if (mctx != NULL && key->tmpl != NULL && key->tmpl_alg == ai->name) {
		if (EVP_MD_CTX_copy_ex(mctx, key->tmpl) == 1)
			goto ready;
		ERR_clear_error();
		EVP_MD_CTX_reset(mctx);
	}
	if (mctx == NULL ||
	    EVP_DigestVerifyInit_ex(mctx, NULL, ai->md, NULL, NULL, key->pkey, ai->params) != 1) {
		char why[160] = "";

		clean_copy(kid, sizeof(kid), key->kid);
		ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
		fc_err_set(err, FC_EAUTH, "token: cannot verify %s with key kid=%s (%s)", ai->name,
			   kid, why);
		ERR_clear_error();
		goto out;
	}
ready:
	/* Used once: let the final step work in place rather than on a copy. */
	EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
	if (EVP_DigestVerify(mctx, sig, sig_len, (const unsigned char *)jws->signing_input,
			     jws->signing_input_len) != 1) {
		clean_copy(kid, sizeof(kid), key->kid);
		fc_err_set(err, FC_EAUTH,
			   "token: %s signature does not verify with key kid=%s (RFC 7515 5.2)",
			   ai->name, kid);
		ERR_clear_error();
		goto out;
	}
	st = FC_OK;
out:
	EVP_MD_CTX_free(mctx);
	return st;
}
