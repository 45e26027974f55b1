/*
 * The client's key and its proof of possession (Fulcio inventory 3.3, 4):
 * parsing the public key (PEM SPKI, PEM PKCS#1, DER SPKI for v1), sigstore's
 * goodkey strength rules, the PoP signature over the principal's name, the
 * CSR path, and the --client-signing-algorithms registry.
 *
 * Every refusal is FC_EINPUT (FC_ECONFIG for ca_algs_parse) and err->msg
 * starts with one of these prefixes, which name Fulcio's message class
 * (inventory 1.10); the HTTP layer maps a prefix to the client message:
 *
 *   "public key could not be parsed: "
 *       -> "The public key supplied in the request could not be parsed"
 *   "public key is insecure: "
 *       -> "The public key supplied in the request is insecure"
 *   "signature could not be verified: "
 *       -> "The signature supplied in the request could not be verified"
 *   "certificate signing request could not be parsed: "
 *       -> "The certificate signing request could not be parsed"
 *   "unrecognized signature algorithm: "
 *   "signing algorithm not permitted: "
 *       -> Fulcio returns its own error text for these two. The text before
 *          the first " (" reproduces Fulcio's byte for byte (Go's %T of the
 *          key and crypto.Hash names, e.g. "signing algorithm not permitted:
 *          *ecdsa.PublicKey, SHA-256"); the parenthesis, if any, is our
 *          detail for the log.
 *
 * Deliberate differences from Fulcio, which are stricter: exactly one PEM
 * block with only whitespace around it (Go's pem.Decode takes the first
 * block and ignores the rest), no PEM headers, padded standard base64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ca_int.h"
#include "common.h"

#define P_PARSE "public key could not be parsed: "
#define P_INSECURE "public key is insecure: "
#define P_SIG "signature could not be verified: "
#define P_CSR "certificate signing request could not be parsed: "
#define P_UNRECOGNIZED "unrecognized signature algorithm: "
#define P_NOT_PERMITTED "signing algorithm not permitted: "

/* Hard limits, checked before parsing. A 4096-bit RSA key in PEM is about
 * 800 bytes and a CSR for it about 1.7 KiB. */
#define CK_MAX_KEY_BYTES (64 * 1024)
#define CK_MAX_CSR_BYTES (64 * 1024)
#define CK_MAX_SIG_BYTES 1024 /* RSA-4096 signatures are 512 bytes */
#define CK_PEM_TYPE_MAX 64
/* How much of the PoP subject a message quotes. */
#define CK_QUOTE_MAX 128

/* Boulder's goodkey: 100 rounds of Fermat's method (sigstore sets
 * FermatRounds: 100). */
#define CK_FERMAT_ROUNDS 100

/* --- the key, as Fulcio's Go code sees it ------------------------------------ */

enum key_kind { KIND_OTHER = 0, KIND_RSA, KIND_EC, KIND_ED25519 };

struct key_info {
	enum key_kind kind;
	int bits;      /* RSA: modulus bits */
	int curve_nid; /* EC: the named curve, NID_undef for explicit params */
	char desc[64]; /* "ECDSA P-256", "RSA 2048-bit", "Ed25519", "DSA" ... */
};

/* Short name of a curve: the NIST name where there is one. */
static const char *curve_name(int nid)
{
	const char *n;

	if (nid == NID_undef)
		return "with explicit parameters";
	if ((n = EC_curve_nid2nist(nid)) != NULL)
		return n;
	if ((n = OBJ_nid2sn(nid)) != NULL)
		return n;
	return "unknown";
}

static void key_info_get(EVP_PKEY *key, struct key_info *ki)
{
	char group[80];
	size_t glen = 0;

	memset(ki, 0, sizeof(*ki));
	ki->curve_nid = NID_undef;
	if (EVP_PKEY_is_a(key, "RSA")) {
		ki->kind = KIND_RSA;
		ki->bits = EVP_PKEY_get_bits(key);
		snprintf(ki->desc, sizeof(ki->desc), "RSA %d-bit", ki->bits);
	} else if (EVP_PKEY_is_a(key, "EC")) {
		ki->kind = KIND_EC;
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) == 1)
			ki->curve_nid = OBJ_txt2nid(group);
		ERR_clear_error(); /* explicit parameters have no group name */
		snprintf(ki->desc, sizeof(ki->desc), "ECDSA %s", curve_name(ki->curve_nid));
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		ki->kind = KIND_ED25519;
		snprintf(ki->desc, sizeof(ki->desc), "Ed25519");
	} else {
		const char *t = EVP_PKEY_get0_type_name(key);
		ki->kind = KIND_OTHER;
		snprintf(ki->desc, sizeof(ki->desc), "%s", t != NULL ? t : "unknown");
		/* OpenSSL's names are upper case; write the usual spelling. */
		if (strcmp(ki->desc, "ED448") == 0)
			snprintf(ki->desc, sizeof(ki->desc), "Ed448");
	}
}

static bool is_nist_curve(int nid)
{
	return nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1;
}

/*
 * Keys Go's x509.ParsePKIXPublicKey / ParsePKCS1PublicKey cannot represent
 * fail in Fulcio as "could not be parsed" rather than "insecure" (inventory
 * 3.3): EC on curves other than P-224/256/384/521 or with explicit
 * parameters, RSA-PSS (id-RSASSA-PSS) keys, Ed448, X448, SM2, DH and
 * anything else. Go does parse RSA, DSA, X25519 and P-224, which then fail
 * goodkey as insecure. NULL if Go would parse the key, else the reason.
 */
static const char *go_unparseable(EVP_PKEY *key, const struct key_info *ki)
{
	switch (ki->kind) {
	case KIND_RSA:
	case KIND_ED25519:
		return NULL;
	case KIND_EC:
		if (ki->curve_nid == NID_undef)
			return "EC keys with explicit curve parameters are not supported";
		if (ki->curve_nid == NID_secp224r1 || is_nist_curve(ki->curve_nid))
			return NULL;
		return "EC curve is not supported";
	case KIND_OTHER:
		if (EVP_PKEY_is_a(key, "DSA") || EVP_PKEY_is_a(key, "X25519"))
			return NULL;
		return "key type is not supported";
	}
	return "key type is not supported";
}

/* Go's name for the key's type (fmt %T), as Fulcio prints it. */
static const char *go_key_type(const struct key_info *ki)
{
	switch (ki->kind) {
	case KIND_RSA: return "*rsa.PublicKey";
	case KIND_EC: return "*ecdsa.PublicKey";
	case KIND_ED25519: return "ed25519.PublicKey";
	case KIND_OTHER: break;
	}
	return "unknown";
}

/* Go's crypto.Hash String() of a digest NID (NID_undef: no prehash). */
static const char *go_hash_name(int nid)
{
	switch (nid) {
	case NID_sha256: return "SHA-256";
	case NID_sha384: return "SHA-384";
	case NID_sha512: return "SHA-512";
	default: return "unknown hash value 0";
	}
}

/* --- the algorithm registry --------------------------------------------------- */

static const struct alg_def {
	enum ca_alg alg;
	const char *name; /* Fulcio's flag value */
	enum key_kind kind;
	int param; /* RSA: modulus bits; EC: curve NID */
	int hash;  /* digest NID; NID_undef for pure Ed25519 */
} alg_defs[] = {
	{ CA_ALG_ECDSA_P256_SHA256, "ecdsa-sha2-256-nistp256", KIND_EC, NID_X9_62_prime256v1, NID_sha256 },
	{ CA_ALG_ECDSA_P384_SHA384, "ecdsa-sha2-384-nistp384", KIND_EC, NID_secp384r1, NID_sha384 },
	{ CA_ALG_ECDSA_P521_SHA512, "ecdsa-sha2-512-nistp521", KIND_EC, NID_secp521r1, NID_sha512 },
	{ CA_ALG_ECDSA_P384_SHA256, "ecdsa-sha2-256-nistp384", KIND_EC, NID_secp384r1, NID_sha256 },
	{ CA_ALG_ECDSA_P521_SHA256, "ecdsa-sha2-256-nistp521", KIND_EC, NID_secp521r1, NID_sha256 },
	{ CA_ALG_RSA2048_PKCS1_SHA256, "rsa-sign-pkcs1-2048-sha256", KIND_RSA, 2048, NID_sha256 },
	{ CA_ALG_RSA3072_PKCS1_SHA256, "rsa-sign-pkcs1-3072-sha256", KIND_RSA, 3072, NID_sha256 },
	{ CA_ALG_RSA4096_PKCS1_SHA256, "rsa-sign-pkcs1-4096-sha256", KIND_RSA, 4096, NID_sha256 },
	/* sigstore's registry matches (key type and size, hash) only, so a
	 * PSS entry admits the same pairs as its PKCS#1 twin. */
	{ CA_ALG_RSA2048_PSS_SHA256, "rsa-sign-pss-2048-sha256", KIND_RSA, 2048, NID_sha256 },
	{ CA_ALG_RSA3072_PSS_SHA256, "rsa-sign-pss-3072-sha256", KIND_RSA, 3072, NID_sha256 },
	{ CA_ALG_RSA4096_PSS_SHA256, "rsa-sign-pss-4096-sha256", KIND_RSA, 4096, NID_sha256 },
	{ CA_ALG_ED25519, "ed25519", KIND_ED25519, 0, NID_undef },
	/* Ed25519ph is (Ed25519, SHA-512): never the pair of a PoP (pure
	 * Ed25519) nor of a CSR (PureEd25519), as in Fulcio. */
	{ CA_ALG_ED25519_PH, "ed25519-ph", KIND_ED25519, 0, NID_sha512 },
};
#define N_ALG_DEFS (sizeof(alg_defs) / sizeof(alg_defs[0]))

static uint32_t alg_bit(enum ca_alg a)
{
	return (uint32_t)1 << (unsigned)a;
}

/*
 * Fulcio's default --client-signing-algorithms (inventory 3.3): ECDSA
 * P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, RSA PKCS#1 v1.5 2048/3072/4096
 * with SHA-256, Ed25519.
 */
void ca_algs_default(struct ca_algs *a)
{
	a->bits = alg_bit(CA_ALG_ECDSA_P256_SHA256) | alg_bit(CA_ALG_ECDSA_P384_SHA384) |
		  alg_bit(CA_ALG_ECDSA_P521_SHA512) | alg_bit(CA_ALG_RSA2048_PKCS1_SHA256) |
		  alg_bit(CA_ALG_RSA3072_PKCS1_SHA256) | alg_bit(CA_ALG_RSA4096_PKCS1_SHA256) |
		  alg_bit(CA_ALG_ED25519);
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Parse a comma-separated list of Fulcio algorithm names (the
 * --client-signing-algorithms flag); whitespace around a name is ignored.
 * Returns FC_OK and sets *out, else FC_ECONFIG with the reason in err (an
 * empty list, an empty name, an unknown name); *out is untouched then.
 */
enum fc_status ca_algs_parse(const char *list, struct ca_algs *out, struct fc_err *err)
{
	uint32_t bits = 0;
	const char *p = list;
	int pos = 0;

	if (list == NULL)
		return fc_err_set(err, FC_ECONFIG, "--client-signing-algorithms: the list is empty");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		size_t i;

		pos++;
		while (n > 0 && is_space((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && is_space((unsigned char)s[n - 1]))
			n--;
		if (n == 0) {
			if (end == NULL && pos == 1)
				return fc_err_set(err, FC_ECONFIG,
						  "--client-signing-algorithms: the list is empty");
			return fc_err_set(err, FC_ECONFIG,
					  "--client-signing-algorithms: name %d is empty", pos);
		}
		for (i = 0; i < N_ALG_DEFS; i++) {
			if (strlen(alg_defs[i].name) == n && memcmp(alg_defs[i].name, s, n) == 0)
				break;
		}
		if (i == N_ALG_DEFS) {
			char known[400];
			size_t used = 0;

			known[0] = '\0';
			for (size_t k = 0; k < N_ALG_DEFS && used < sizeof(known); k++) {
				int w = snprintf(known + used, sizeof(known) - used, "%s%s",
						 k ? ", " : "", alg_defs[k].name);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			return fc_err_set(err, FC_ECONFIG,
					  "--client-signing-algorithms: unknown signing algorithm "
					  "\"%.*s\" (known: %s)",
					  (int)(n > 64 ? 64 : n), s, known);
		}
		bits |= alg_bit(alg_defs[i].alg);
		if (end == NULL)
			break;
		p = end + 1;
	}
	out->bits = bits;
	return FC_OK;
}

/*
 * The registry check (sigstore IsAlgorithmPermitted): is (key, hash) the
 * pair of an algorithm in algs? FC_EINPUT "signing algorithm not permitted"
 * otherwise.
 */
static enum fc_status registry_check(const struct key_info *ki, int hash,
				     const struct ca_algs *algs, struct fc_err *err)
{
	const char *name = NULL;
	int param = ki->kind == KIND_RSA ? ki->bits : ki->kind == KIND_EC ? ki->curve_nid : 0;

	for (size_t i = 0; i < N_ALG_DEFS; i++) {
		const struct alg_def *d = &alg_defs[i];
		if (d->kind != ki->kind || d->param != param || d->hash != hash)
			continue;
		if (algs->bits & alg_bit(d->alg))
			return FC_OK;
		if (name == NULL)
			name = d->name;
	}
	if (name != NULL)
		return fc_err_set(err, FC_EINPUT,
				  P_NOT_PERMITTED "%s, %s (%s with %s: %s is not enabled in "
				  "--client-signing-algorithms)",
				  go_key_type(ki), go_hash_name(hash), ki->desc,
				  hash == NID_undef ? "no prehash" : go_hash_name(hash), name);
	return fc_err_set(err, FC_EINPUT,
			  P_NOT_PERMITTED "%s, %s (no signing algorithm covers %s with %s)",
			  go_key_type(ki), go_hash_name(hash), ki->desc,
			  hash == NID_undef ? "no prehash" : go_hash_name(hash));
}

/* --- PEM ------------------------------------------------------------------------ */

struct pem_block {
	char type[CK_PEM_TYPE_MAX + 1];
	uint8_t *der; /* caller frees */
	size_t der_len;
};

static bool has_prefix(const uint8_t *p, size_t n, const char *pre)
{
	size_t k = strlen(pre);
	return n >= k && memcmp(p, pre, k) == 0;
}

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static bool looks_like_pem(const uint8_t *in, size_t len)
{
	size_t i = 0;

	while (i < len && is_space(in[i]))
		i++;
	return has_prefix(in + i, len - i, "-----BEGIN ");
}

/*
 * Decode exactly one PEM block (RFC 7468 2, strict form: padded standard
 * base64, no headers) with nothing but whitespace around it. Returns NULL
 * and fills *out (out->der: caller frees), else a static reason.
 */
static const char *pem_decode_one(const uint8_t *in, size_t len, struct pem_block *out)
{
	size_t i = 0, tstart, tlen, nb = 0, pad = 0;
	char *b64 = NULL;
	const char *why = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;

	while (i < len && is_space(in[i]))
		i++;
	if (!has_prefix(in + i, len - i, "-----BEGIN "))
		return "no \"-----BEGIN\" line (not PEM)";
	i += strlen("-----BEGIN ");
	tstart = i;
	while (i < len && in[i] != '-' && in[i] != '\n' && in[i] >= 0x20 && in[i] < 0x7f)
		i++;
	tlen = i - tstart;
	if (!has_prefix(in + i, len - i, "-----") || tlen == 0 || tlen > CK_PEM_TYPE_MAX)
		return "malformed \"-----BEGIN\" line";
	i += 5;
	while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r'))
		i++;
	if (i >= len || in[i] != '\n')
		return "malformed \"-----BEGIN\" line";
	i++;

	b64 = fc_xmalloc(len - i + 1);
	for (;;) {
		const uint8_t *nl;
		size_t eol, j;

		if (i >= len) {
			why = "no \"-----END\" line";
			goto out;
		}
		nl = memchr(in + i, '\n', len - i);
		eol = nl != NULL ? (size_t)(nl - in) : len;
		j = i;
		while (j < eol && is_space(in[j]))
			j++;
		if (has_prefix(in + j, eol - j, "-----END ")) {
			i = j;
			break;
		}
		if (memchr(in + j, ':', eol - j) != NULL) {
			why = "PEM headers are not accepted";
			goto out;
		}
		for (; j < eol; j++) {
			if (in[j] == '=') {
				pad++;
			} else if (is_b64(in[j])) {
				if (pad > 0) {
					why = "'=' inside the base64 body";
					goto out;
				}
			} else if (is_space(in[j])) {
				continue;
			} else {
				why = "invalid character in the base64 body";
				goto out;
			}
			b64[nb++] = (char)in[j];
		}
		i = eol < len ? eol + 1 : len;
	}
	if (!has_prefix(in + i, len - i, "-----END ") ||
	    !(len - i - 9 >= tlen + 5 && memcmp(in + i + 9, in + tstart, tlen) == 0 &&
	      memcmp(in + i + 9 + tlen, "-----", 5) == 0)) {
		why = "the \"-----END\" line does not match the \"-----BEGIN\" line";
		goto out;
	}
	i += 9 + tlen + 5;
	while (i < len && is_space(in[i]))
		i++;
	if (i < len) {
		why = has_prefix(in + i, len - i, "-----BEGIN") ? "more than one PEM block"
								 : "data after the PEM block";
		goto out;
	}
	if (nb == 0 || nb % 4 != 0 || pad > 2) {
		why = "the base64 body is empty or not padded";
		goto out;
	}
	if (!fc_b64_decode_any(b64, nb, &der, &der_len) || der_len == 0) {
		why = "the base64 body does not decode";
		goto out;
	}
	memcpy(out->type, in + tstart, tlen);
	out->type[tlen] = '\0';
	out->der = der;
	out->der_len = der_len;
	der = NULL;
out:
	free(der);
	free(b64);
	return why;
}

/* --- parsing the client's key --------------------------------------------------- */

/*
 * d2i_PUBKEY for EC keys on P-256, P-384 and P-521, what every Sigstore
 * client sends, without OpenSSL 3.0's decoder (building one costs about
 * 130 µs of the 165 µs d2i_PUBKEY takes). The SubjectPublicKeyInfo is
 * parsed in the keyless library context, which leaves the key undecoded,
 * and its curve and point are imported with EVP_PKEY_fromdata, which
 * refuses a point that is not on the curve. NULL for anything else (the
 * caller then uses d2i_PUBKEY, whose refusals it reports); on success *pp
 * is advanced past the SubjectPublicKeyInfo, as d2i_PUBKEY does.
 */
static EVP_PKEY *ec_pubkey_from_spki(const unsigned char **pp, long len)
{
	OSSL_LIB_CTX *keyless = fc_keyless_libctx();
	X509_PUBKEY *xp = keyless != NULL ? X509_PUBKEY_new_ex(keyless, NULL) : NULL;
	const unsigned char *p = *pp, *point = NULL;
	ASN1_OBJECT *alg_oid = NULL;
	X509_ALGOR *alg = NULL;
	const void *curve_oid = NULL;
	int point_len = 0, ptype = V_ASN1_UNDEF, curve;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[3];

	if (xp == NULL || d2i_X509_PUBKEY(&xp, &p, len) == NULL ||
	    X509_PUBKEY_get0_param(&alg_oid, &point, &point_len, &alg, xp) != 1 ||
	    OBJ_obj2nid(alg_oid) != NID_X9_62_id_ecPublicKey)
		goto out;
	X509_ALGOR_get0(NULL, &ptype, &curve_oid, alg);
	if (ptype != V_ASN1_OBJECT)
		goto out;
	curve = OBJ_obj2nid(curve_oid);
	if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1 && curve != NID_secp521r1)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)OSSL_EC_curve_nid2name(curve), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
						      (size_t)point_len);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
		goto out;
	}
	*pp = p;
out:
	EVP_PKEY_CTX_free(ctx);
	X509_PUBKEY_free(xp);
	ERR_clear_error();
	return key;
}

/*
 * Parse the client's public key (Fulcio challenges.ParsePublicKey): PEM
 * "PUBLIC KEY" (RFC 5280 4.1.2.7 SubjectPublicKeyInfo) or "RSA PUBLIC KEY"
 * (RFC 8017 A.1.1 RSAPublicKey); with allow_der also a raw DER SPKI (the v1
 * API's bytes field). DER must be consumed exactly. Key types that Fulcio's
 * Go code cannot parse (secp256k1, brainpool, Ed448, RSA-PSS ...) are
 * refused here too. Returns FC_OK and sets *out (free with EVP_PKEY_free),
 * else FC_EINPUT with "public key could not be parsed: <reason>".
 */
enum fc_status ca_client_key_parse(const uint8_t *data, size_t len, bool allow_der,
				   EVP_PKEY **out, struct fc_err *err)
{
	struct pem_block blk = { 0 };
	EVP_PKEY *key = NULL;
	const unsigned char *p, *der;
	size_t der_len;
	const char *why;
	struct key_info ki;
	enum fc_status st = FC_EINPUT;

	if (data == NULL || len == 0) {
		fc_err_set(err, FC_EINPUT, P_PARSE "no public key in the request");
		goto out;
	}
	if (len > CK_MAX_KEY_BYTES) {
		fc_err_set(err, FC_EINPUT, P_PARSE "%zu bytes is over the %d-byte limit", len,
			   CK_MAX_KEY_BYTES);
		goto out;
	}
	if (looks_like_pem(data, len)) {
		if ((why = pem_decode_one(data, len, &blk)) != NULL) {
			fc_err_set(err, FC_EINPUT, P_PARSE "PEM: %s", why);
			goto out;
		}
		p = der = blk.der;
		der_len = blk.der_len;
		if (strcmp(blk.type, "PUBLIC KEY") == 0) {
			if ((key = ec_pubkey_from_spki(&p, (long)der_len)) == NULL)
				key = d2i_PUBKEY(NULL, &p, (long)der_len);
		} else if (strcmp(blk.type, "RSA PUBLIC KEY") == 0) {
			key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)der_len);
		} else {
			fc_err_set(err, FC_EINPUT,
				   P_PARSE "PEM block type \"%s\" is neither PUBLIC KEY nor "
				   "RSA PUBLIC KEY",
				   blk.type);
			goto out;
		}
	} else if (allow_der) {
		p = der = data;
		der_len = len;
		if ((key = ec_pubkey_from_spki(&p, (long)der_len)) == NULL)
			key = d2i_PUBKEY(NULL, &p, (long)der_len);
	} else {
		fc_err_set(err, FC_EINPUT, P_PARSE "not PEM (no \"-----BEGIN\" line)");
		goto out;
	}
	if (key == NULL) {
		fc_err_set(err, FC_EINPUT, P_PARSE "%s does not decode",
			   blk.der != NULL && strcmp(blk.type, "RSA PUBLIC KEY") == 0
				   ? "PKCS#1 RSAPublicKey"
				   : "SubjectPublicKeyInfo");
		fc_err_append_ssl(err);
		goto out;
	}
	if (p != der + der_len) {
		fc_err_set(err, FC_EINPUT, P_PARSE "%zu trailing bytes after the DER key",
			   der_len - (size_t)(p - der));
		goto out;
	}
	key_info_get(key, &ki);
	if ((why = go_unparseable(key, &ki)) != NULL) {
		fc_err_set(err, FC_EINPUT, P_PARSE "%s (%s)", why, ki.desc);
		goto out;
	}
	*out = key;
	key = NULL;
	st = FC_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	free(blk.der);
	return st;
}

/* --- goodkey ---------------------------------------------------------------------- */

/* Primes below 1000 (boulder checks those below 752). */
static bool is_small_prime(unsigned n)
{
	if (n < 2)
		return false;
	for (unsigned d = 2; d * d <= n; d++) {
		if (n % d == 0)
			return false;
	}
	return true;
}

/* The primes of the ROCA fingerprint (CVE-2017-15361, Nemec et al., CCS
 * 2017): 3 to 167. */
static const unsigned roca_primes[] = {
	3,  5,  7,  11, 13, 17, 19, 23,  29,  31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
	73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
};

/*
 * ROCA fingerprint: Infineon's generator makes primes p = k*M + (65537^a mod
 * M), so n mod r lies in the subgroup generated by 65537 modulo every small
 * prime r. A key is flagged when that holds for all 38 primes (titanous/
 * rocacheck, as in boulder). residues[i] = n mod roca_primes[i].
 */
static bool roca_weak(const unsigned *residues)
{
	for (size_t i = 0; i < sizeof(roca_primes) / sizeof(roca_primes[0]); i++) {
		unsigned r = roca_primes[i], g = 65537 % r, x = 1;
		bool found = false;

		do {
			if (x == residues[i]) {
				found = true;
				break;
			}
			x = x * g % r;
		} while (x != 1);
		if (!found)
			return false;
	}
	return true;
}

/* r = floor(sqrt(a)) for a >= 0, by Newton's iteration from above. */
static bool bn_isqrt(BIGNUM *r, const BIGNUM *a, BN_CTX *ctx)
{
	BIGNUM *x, *y;
	bool ok = false;

	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	if (y == NULL)
		goto out;
	if (BN_is_zero(a)) {
		BN_zero(r);
		ok = true;
		goto out;
	}
	/* x0 = 2^ceil(bits/2) >= sqrt(a) */
	BN_zero(x);
	if (BN_set_bit(x, (BN_num_bits(a) + 1) / 2) != 1)
		goto out;
	for (;;) {
		/* y = (x + a / x) / 2 */
		if (BN_div(y, NULL, a, x, ctx) != 1 || BN_add(y, y, x) != 1 ||
		    BN_rshift1(y, y) != 1)
			goto out;
		if (BN_cmp(y, x) >= 0)
			break;
		if (BN_copy(x, y) == NULL)
			goto out;
	}
	ok = BN_copy(r, x) != NULL;
out:
	BN_CTX_end(ctx);
	return ok;
}

/* Can v be a square modulo m? (v < m) */
static bool maybe_square_mod(unsigned long v, unsigned long m)
{
	for (unsigned long k = 0; k <= m / 2; k++) {
		if (k * k % m == v)
			return true;
	}
	return false;
}

/* Is a (>= 0) a perfect square? Quadratic-residue filters modulo 64, 63,
 * 65 and 11 (as GMP does) discard all but about 1% of non-squares before
 * the square root. */
static int bn_is_square(const BIGNUM *a, BIGNUM *tmp, BN_CTX *ctx)
{
	static const unsigned long mods[] = { 64, 63, 65, 11 };
	BN_ULONG m = BN_mod_word(a, (BN_ULONG)64 * 63 * 65 * 11);

	if (m == (BN_ULONG)-1)
		return -1;
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		if (!maybe_square_mod((unsigned long)(m % mods[i]), mods[i]))
			return 0;
	}
	if (!bn_isqrt(tmp, a, ctx) || BN_sqr(tmp, tmp, ctx) != 1)
		return -1;
	return BN_cmp(tmp, a) == 0;
}

/*
 * Boulder's checkPrimeFactorsTooClose: Fermat's method for `rounds` rounds
 * from a = ceil(sqrt(n)): n = a^2 - b^2 = (a+b)(a-b) is found when a^2 - n
 * is a square. Also catches n = p^2. 1 if n factors, 0 if not, -1 on error.
 */
static int fermat_factors(const BIGNUM *n, int rounds, BN_CTX *ctx)
{
	BIGNUM *a, *b2, *t;
	int res = -1, sq;

	BN_CTX_start(ctx);
	a = BN_CTX_get(ctx);
	b2 = BN_CTX_get(ctx);
	t = BN_CTX_get(ctx);
	if (t == NULL || !bn_isqrt(a, n, ctx))
		goto out;
	if (BN_sqr(t, a, ctx) != 1)
		goto out;
	if (BN_cmp(t, n) == 0) {
		res = 1; /* n = a^2 */
		goto out;
	}
	/* a = floor(sqrt(n)) + 1, b2 = a^2 - n */
	if (BN_add_word(a, 1) != 1 || BN_sqr(b2, a, ctx) != 1 || BN_sub(b2, b2, n) != 1)
		goto out;
	for (int i = 0; i < rounds; i++) {
		if ((sq = bn_is_square(b2, t, ctx)) != 0) {
			res = sq;
			goto out;
		}
		/* (a+1)^2 - n = b2 + 2a + 1 */
		if (BN_lshift1(t, a) != 1 || BN_add_word(t, 1) != 1 || BN_add(b2, b2, t) != 1 ||
		    BN_add_word(a, 1) != 1)
			goto out;
	}
	res = 0;
out:
	BN_CTX_end(ctx);
	return res;
}

static enum fc_status check_rsa(EVP_PKEY *key, const struct key_info *ki, struct fc_err *err)
{
	BIGNUM *n = NULL, *e = NULL;
	BN_CTX *ctx = NULL;
	unsigned residues[sizeof(roca_primes) / sizeof(roca_primes[0])] = { 0 };
	enum fc_status st = FC_EINPUT;
	int f;

	if (ki->bits != 2048 && ki->bits != 3072 && ki->bits != 4096) {
		fc_err_set(err, FC_EINPUT,
			   P_INSECURE "RSA keys of %d bits are not allowed (2048, 3072 or 4096)",
			   ki->bits);
		goto out;
	}
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot read the RSA key's parameters");
		fc_err_append_ssl(err);
		goto out;
	}
	if (BN_is_negative(n) || BN_is_zero(n)) {
		fc_err_set(err, FC_EINPUT, P_INSECURE "RSA modulus is not a positive number");
		goto out;
	}
	if (!BN_is_word(e, 65537)) {
		if (BN_num_bits(e) <= 64)
			fc_err_set(err, FC_EINPUT,
				   P_INSECURE "RSA public exponent %llu is not allowed (65537)",
				   (unsigned long long)BN_get_word(e));
		else
			fc_err_set(err, FC_EINPUT,
				   P_INSECURE "RSA public exponent of %d bits is not allowed (65537)",
				   BN_num_bits(e));
		goto out;
	}
	/* Small factors (CA/B BR 6.1.6; boulder checkSmallPrimes). */
	for (unsigned q = 2; q < 1000; q++) {
		BN_ULONG r;
		if (!is_small_prime(q))
			continue;
		if ((r = BN_mod_word(n, q)) == (BN_ULONG)-1) {
			st = fc_err_set(err, FC_EINTERNAL, "ca: RSA modulus arithmetic failed");
			goto out;
		}
		if (r == 0) {
			if (q == 2)
				fc_err_set(err, FC_EINPUT, P_INSECURE "RSA modulus is even");
			else
				fc_err_set(err, FC_EINPUT,
					   P_INSECURE "RSA modulus is divisible by %u", q);
			goto out;
		}
		for (size_t i = 0; i < sizeof(roca_primes) / sizeof(roca_primes[0]); i++) {
			if (roca_primes[i] == q)
				residues[i] = (unsigned)r;
		}
	}
	if (roca_weak(residues)) {
		fc_err_set(err, FC_EINPUT,
			   P_INSECURE "RSA key has the ROCA fingerprint (CVE-2017-15361: "
			   "generated by vulnerable Infineon hardware)");
		goto out;
	}
	if ((ctx = BN_CTX_new()) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: BN_CTX_new failed");
		goto out;
	}
	f = fermat_factors(n, CK_FERMAT_ROUNDS, ctx);
	if (f < 0) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: RSA modulus arithmetic failed");
		goto out;
	}
	if (f > 0) {
		fc_err_set(err, FC_EINPUT,
			   P_INSECURE "RSA modulus factors by Fermat's method (its two primes "
			   "are too close together)");
		goto out;
	}
	st = FC_OK;
out:
	ERR_clear_error();
	BN_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return st;
}

/*
 * sigstore goodkey (ValidatePubKey, boulder goodkey with FermatRounds 100):
 * RSA of exactly 2048, 3072 or 4096 bits, e = 65537, no prime factor below
 * 1000, not ROCA-weak, not factorable by 100 rounds of Fermat's method;
 * ECDSA on P-256, P-384 or P-521 with a valid public point (not the point
 * at infinity, coordinates in range, on the curve: SP 800-56A 5.6.2.3.4,
 * via EVP_PKEY_public_check_quick; on these prime-order curves, cofactor
 * 1, that is as strong as the full 5.6.2.3.3 check, whose extra n*Q = O
 * scalar multiplication would cost as much as a signature check);
 * Ed25519. Returns FC_OK, else
 * FC_EINPUT with "public key is insecure: <what it is>" (FC_EINTERNAL if
 * OpenSSL fails).
 */
enum fc_status ca_client_key_check(EVP_PKEY *key, struct fc_err *err)
{
	struct key_info ki;
	EVP_PKEY_CTX *pctx = NULL;
	enum fc_status st = FC_EINPUT;

	if (key == NULL)
		return fc_err_set(err, FC_EINPUT, P_INSECURE "no key");
	key_info_get(key, &ki);
	switch (ki.kind) {
	case KIND_RSA:
		st = check_rsa(key, &ki, err);
		goto out;
	case KIND_EC:
		if (!is_nist_curve(ki.curve_nid)) {
			fc_err_set(err, FC_EINPUT,
				   P_INSECURE "EC curve %s is not allowed (P-256, P-384, P-521)",
				   curve_name(ki.curve_nid));
			goto out;
		}
		if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL) {
			st = fc_err_set(err, FC_EINTERNAL, "ca: EVP_PKEY_CTX_new_from_pkey failed");
			goto out;
		}
		if (EVP_PKEY_public_check_quick(pctx) != 1) {
			fc_err_set(err, FC_EINPUT,
				   P_INSECURE "the EC point is not a valid %s public key",
				   curve_name(ki.curve_nid));
			fc_err_append_ssl(err);
			goto out;
		}
		st = FC_OK;
		goto out;
	case KIND_ED25519:
		st = FC_OK;
		goto out;
	case KIND_OTHER:
		break;
	}
	if (EVP_PKEY_is_a(key, "X25519"))
		fc_err_set(err, FC_EINPUT,
			   P_INSECURE "X25519 keys are not allowed (key agreement only; "
			   "ECDSA P-256/P-384/P-521, RSA or Ed25519)");
	else
		fc_err_set(err, FC_EINPUT,
			   P_INSECURE "%s keys are not allowed (ECDSA P-256/P-384/P-521, RSA "
			   "or Ed25519)",
			   ki.desc);
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(pctx);
	return st;
}

/* --- proof of possession ---------------------------------------------------------- */

/* Fulcio's PoP hash for an EC key (per curve since v1.7.0). */
static int ec_pop_hash(int curve_nid)
{
	switch (curve_nid) {
	case NID_secp384r1: return NID_sha384;
	case NID_secp521r1: return NID_sha512;
	default: return NID_sha256;
	}
}

/*
 * Verify a proof of possession (Fulcio CheckSignatureWithVerifier with
 * sigstore's LoadDefaultVerifier): sig over the bytes of msg (the
 * principal's PoP subject). ECDSA: ASN.1 DER ECDSA-Sig-Value (RFC 5480 2.2
 * / RFC 3279 2.2.3), canonical and with no trailing bytes, hashed with
 * SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521); RSA: PKCS#1 v1.5
 * (RFC 8017 8.2) with SHA-256, the signature exactly the modulus length;
 * Ed25519: pure (RFC 8032 5.1). Then the registry check of (key, hash)
 * against algs. Returns FC_OK, else FC_EINPUT with the reason.
 */
enum fc_status ca_pop_verify(EVP_PKEY *key, const char *msg, const uint8_t *sig, size_t sig_len,
			     const struct ca_algs *algs, struct fc_err *err)
{
	struct key_info ki;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *esig = NULL;
	unsigned char *reenc = NULL;
	const EVP_MD *md = NULL;
	int hash = NID_undef, n;
	const unsigned char *p;
	size_t msg_len;
	enum fc_status st = FC_EINPUT;

	if (key == NULL || msg == NULL || algs == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: ca_pop_verify: missing argument");
		goto out;
	}
	msg_len = strlen(msg);
	key_info_get(key, &ki);
	if (sig == NULL || sig_len == 0) {
		fc_err_set(err, FC_EINPUT, P_SIG "proof of possession is empty");
		goto out;
	}
	if (sig_len > CK_MAX_SIG_BYTES) {
		fc_err_set(err, FC_EINPUT,
			   P_SIG "proof of possession is %zu bytes (at most %d)", sig_len,
			   CK_MAX_SIG_BYTES);
		goto out;
	}
	switch (ki.kind) {
	case KIND_EC:
		if (!is_nist_curve(ki.curve_nid)) {
			fc_err_set(err, FC_EINPUT,
				   P_INSECURE "EC curve %s is not allowed (P-256, P-384, P-521)",
				   curve_name(ki.curve_nid));
			goto out;
		}
		hash = ec_pop_hash(ki.curve_nid);
		p = sig;
		esig = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
		if (esig == NULL || p != sig + sig_len ||
		    (n = i2d_ECDSA_SIG(esig, &reenc)) < 0 || (size_t)n != sig_len ||
		    memcmp(reenc, sig, sig_len) != 0) {
			fc_err_set(err, FC_EINPUT,
				   P_SIG "proof of possession: %s signature is not a DER "
				   "ECDSA-Sig-Value (%zu bytes)",
				   ki.desc, sig_len);
			goto out;
		}
		break;
	case KIND_RSA:
		hash = NID_sha256;
		if ((int)sig_len != EVP_PKEY_get_size(key)) {
			fc_err_set(err, FC_EINPUT,
				   P_SIG "proof of possession: %s signature is %zu bytes, not %d",
				   ki.desc, sig_len, EVP_PKEY_get_size(key));
			goto out;
		}
		break;
	case KIND_ED25519:
		hash = NID_undef;
		if (sig_len != 64) {
			fc_err_set(err, FC_EINPUT,
				   P_SIG "proof of possession: Ed25519 signature is %zu bytes, not 64",
				   sig_len);
			goto out;
		}
		break;
	case KIND_OTHER:
		fc_err_set(err, FC_EINPUT, P_INSECURE "%s keys are not allowed", ki.desc);
		goto out;
	}
	if (hash != NID_undef && (md = EVP_get_digestbynid(hash)) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: digest %s unavailable", go_hash_name(hash));
		goto out;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) != 1) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot set up %s verification", ki.desc);
		fc_err_append_ssl(err);
		goto out;
	}
	if (ki.kind == KIND_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot select PKCS#1 v1.5 padding");
		fc_err_append_ssl(err);
		goto out;
	}
	if (EVP_DigestVerify(mctx, sig, sig_len, (const unsigned char *)msg, msg_len) != 1) {
		fc_err_set(err, FC_EINPUT,
			   P_SIG "proof of possession: %s%s%s%s signature over \"%.*s%s\" does not "
			   "verify",
			   ki.desc, ki.kind == KIND_RSA ? " PKCS#1 v1.5" : "",
			   hash == NID_undef ? "" : " ", hash == NID_undef ? "" : go_hash_name(hash),
			   (int)(msg_len > CK_QUOTE_MAX ? CK_QUOTE_MAX : msg_len), msg,
			   msg_len > CK_QUOTE_MAX ? "..." : "");
		goto out;
	}
	st = registry_check(&ki, hash, algs, err);
out:
	ERR_clear_error();
	OPENSSL_free(reenc);
	ECDSA_SIG_free(esig);
	EVP_MD_CTX_free(mctx);
	return st;
}

/* --- certificate signing requests -------------------------------------------------- */

/* Go's x509.SignatureAlgorithm String() for a refused algorithm. */
static const char *go_sig_alg_name(const X509_ALGOR *alg, char *buf, size_t n)
{
	int nid = OBJ_obj2nid(alg->algorithm);

	switch (nid) {
	case NID_md2WithRSAEncryption: return "MD2-RSA";
	case NID_md5WithRSAEncryption: return "MD5-RSA";
	case NID_sha1WithRSAEncryption: return "SHA1-RSA";
	case NID_ecdsa_with_SHA1: return "ECDSA-SHA1";
	case NID_dsaWithSHA1: return "DSA-SHA1";
	case NID_dsa_with_SHA256: return "DSA-SHA256";
	case NID_rsassaPss: {
		RSA_PSS_PARAMS *pss = NULL;
		int md = NID_sha1; /* RFC 4055 3.1 default */
		const char *name = NULL;

		if (alg->parameter != NULL && alg->parameter->type == V_ASN1_SEQUENCE)
			pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS),
							alg->parameter);
		if (pss != NULL && pss->hashAlgorithm != NULL)
			md = OBJ_obj2nid(pss->hashAlgorithm->algorithm);
		RSA_PSS_PARAMS_free(pss);
		if (md == NID_sha256)
			name = "SHA256-RSAPSS";
		else if (md == NID_sha384)
			name = "SHA384-RSAPSS";
		else if (md == NID_sha512)
			name = "SHA512-RSAPSS";
		if (name != NULL)
			return name;
		break;
	}
	default:
		break;
	}
	/* Go prints UnknownSignatureAlgorithm as "0"; add the OID. */
	{
		char oid[80];
		if (OBJ_obj2txt(oid, sizeof(oid), alg->algorithm, 1) <= 0)
			snprintf(oid, sizeof(oid), "?");
		snprintf(buf, n, "0 (OID %s)", oid);
	}
	return buf;
}

/*
 * Check a PKCS#10 request (RFC 2986) the way Fulcio does (inventory 4.2):
 * PEM only ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST", exactly one
 * block), DER consumed exactly; the key as ca_client_key_check; the
 * self-signature (RFC 2986 4.2); the signature algorithm one of
 * ecdsa-with-SHA256/384/512, sha256/384/512WithRSAEncryption, Ed25519; then
 * (key, hash) against algs. Returns FC_OK and sets *key_out (the CSR's key;
 * free with EVP_PKEY_free), else FC_EINPUT with the reason's class prefix.
 */
enum fc_status ca_csr_verify(const uint8_t *pem, size_t len, const struct ca_algs *algs,
			     EVP_PKEY **key_out, struct fc_err *err)
{
	struct pem_block blk = { 0 };
	X509_REQ *req = NULL;
	EVP_PKEY *key = NULL;
	const X509_ALGOR *alg = NULL;
	const unsigned char *p;
	const char *why;
	struct key_info ki;
	char namebuf[120];
	int hash;
	enum fc_status st = FC_EINPUT;

	if (pem == NULL || len == 0) {
		fc_err_set(err, FC_EINPUT, P_CSR "the request is empty");
		goto out;
	}
	if (algs == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: ca_csr_verify: missing argument");
		goto out;
	}
	if (len > CK_MAX_CSR_BYTES) {
		fc_err_set(err, FC_EINPUT, P_CSR "%zu bytes is over the %d-byte limit", len,
			   CK_MAX_CSR_BYTES);
		goto out;
	}
	if (!looks_like_pem(pem, len)) {
		fc_err_set(err, FC_EINPUT, P_CSR "not PEM (no \"-----BEGIN\" line; DER is not accepted)");
		goto out;
	}
	if ((why = pem_decode_one(pem, len, &blk)) != NULL) {
		fc_err_set(err, FC_EINPUT, P_CSR "PEM: %s", why);
		goto out;
	}
	if (strcmp(blk.type, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(blk.type, "NEW CERTIFICATE REQUEST") != 0) {
		fc_err_set(err, FC_EINPUT,
			   P_CSR "PEM block type \"%s\" is not CERTIFICATE REQUEST", blk.type);
		goto out;
	}
	p = blk.der;
	if ((req = d2i_X509_REQ(NULL, &p, (long)blk.der_len)) == NULL) {
		fc_err_set(err, FC_EINPUT, P_CSR "PKCS#10 DER does not decode");
		fc_err_append_ssl(err);
		goto out;
	}
	if (p != blk.der + blk.der_len) {
		fc_err_set(err, FC_EINPUT, P_CSR "%zu trailing bytes after the DER request",
			   blk.der_len - (size_t)(p - blk.der));
		goto out;
	}
	if ((key = X509_REQ_get_pubkey(req)) == NULL) {
		fc_err_set(err, FC_EINPUT, P_CSR "its public key does not decode");
		fc_err_append_ssl(err);
		goto out;
	}
	key_info_get(key, &ki);
	if ((why = go_unparseable(key, &ki)) != NULL) {
		fc_err_set(err, FC_EINPUT, P_CSR "its public key: %s (%s)", why, ki.desc);
		goto out;
	}
	if ((st = ca_client_key_check(key, err)) != FC_OK)
		goto out;
	st = FC_EINPUT;
	if (X509_REQ_verify(req, key) != 1) {
		fc_err_set(err, FC_EINPUT,
			   P_SIG "the certificate signing request's self-signature does not "
			   "verify with its %s key",
			   ki.desc);
		goto out;
	}
	X509_REQ_get0_signature(req, NULL, &alg);
	switch (OBJ_obj2nid(alg->algorithm)) {
	case NID_ecdsa_with_SHA256:
	case NID_sha256WithRSAEncryption: hash = NID_sha256; break;
	case NID_ecdsa_with_SHA384:
	case NID_sha384WithRSAEncryption: hash = NID_sha384; break;
	case NID_ecdsa_with_SHA512:
	case NID_sha512WithRSAEncryption: hash = NID_sha512; break;
	case NID_ED25519: hash = NID_undef; break;
	default:
		fc_err_set(err, FC_EINPUT, P_UNRECOGNIZED "%s",
			   go_sig_alg_name(alg, namebuf, sizeof(namebuf)));
		goto out;
	}
	if ((st = registry_check(&ki, hash, algs, err)) != FC_OK)
		goto out;
	*key_out = key;
	key = NULL;
	st = FC_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	free(blk.der);
	return st;
}
