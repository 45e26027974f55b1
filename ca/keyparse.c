/*
 * Parsing the client's public key (Fulcio inventory 3.3): strict PEM (one
 * block, no headers, padded base64, nothing but whitespace around it: Go's
 * pem.Decode takes the first block and ignores the rest, fulcrum refuses),
 * SPKI and PKCS#1 DER, and the keys Go cannot parse.
 */
#include <ctype.h>
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

/* --- PEM ------------------------------------------------------------------------ */

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

bool ca_looks_like_pem(const uint8_t *in, size_t len)
{
	size_t i = 0;

	while (i < len && isspace(in[i]))
		i++;
	return has_prefix(in + i, len - i, "-----BEGIN ");
}

/*
 * Decode exactly one PEM block (RFC 7468 2, strict form: padded standard
 * base64, no headers) with nothing but whitespace around it. Returns NULL
 * and fills *out (out->der: caller frees), else a static reason.
 */
const char *ca_pem_decode_one(const uint8_t *in, size_t len, struct ca_pem_block *out)
{
	size_t i = 0, tstart, tlen, nb = 0, pad = 0;
	char *b64 = NULL;
	const char *why = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;

	while (i < len && isspace(in[i]))
		i++;
	if (!has_prefix(in + i, len - i, "-----BEGIN "))
		return "no \"-----BEGIN\" line (not PEM)";
	i += strlen("-----BEGIN ");
	tstart = i;
	while (i < len && in[i] != '-' && in[i] != '\n' && in[i] >= 0x20 && in[i] < 0x7f)
		i++;
	tlen = i - tstart;
	if (!has_prefix(in + i, len - i, "-----") || tlen == 0 || tlen > CA_PEM_TYPE_MAX)
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
		while (j < eol && isspace(in[j]))
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
			} else if (isspace(in[j])) {
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
	while (i < len && isspace(in[i]))
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
enum fc_status ca_client_key_parse(const uint8_t *data, size_t len, bool allow_der, EVP_PKEY **out,
				   struct fc_err *err)
{
	struct ca_pem_block blk = {0};
	EVP_PKEY *key = NULL;
	const unsigned char *p, *der;
	size_t der_len;
	const char *why;
	struct ca_key_info ki;
	enum fc_status st = FC_EINPUT;

	if (data == NULL || len == 0) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
				 CA_PFX_KEY_PARSE "no public key in the request");
		goto out;
	}
	if (len > CA_KEY_MAX_BYTES) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
				 CA_PFX_KEY_PARSE "%zu bytes is over the %d-byte limit", len,
				 CA_KEY_MAX_BYTES);
		goto out;
	}
	if (ca_looks_like_pem(data, len)) {
		if ((why = ca_pem_decode_one(data, len, &blk)) != NULL) {
			fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
					 CA_PFX_KEY_PARSE "PEM: %s", why);
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
			fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
					 CA_PFX_KEY_PARSE
					 "PEM block type \"%s\" is neither PUBLIC KEY nor "
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
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
				 CA_PFX_KEY_PARSE "not PEM (no \"-----BEGIN\" line)");
		goto out;
	}
	if (key == NULL) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
				 CA_PFX_KEY_PARSE "%s does not decode",
				 blk.der != NULL && strcmp(blk.type, "RSA PUBLIC KEY") == 0
					 ? "PKCS#1 RSAPublicKey"
					 : "SubjectPublicKeyInfo");
		fc_err_append_ssl(err);
		goto out;
	}
	if (p != der + der_len) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
				 CA_PFX_KEY_PARSE "%zu trailing bytes after the DER key",
				 der_len - (size_t)(p - der));
		goto out;
	}
	/* What OpenSSL read exactly, Go must read too (BER, explicit curve
	 * parameters, compressed points). */
	why = blk.der == NULL || strcmp(blk.type, "PUBLIC KEY") == 0
		      ? ca_go_spki_refusal(der, der_len)
		      : ca_go_der_refusal(der, der_len);
	if (why != NULL) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT, CA_PFX_KEY_PARSE "%s", why);
		goto out;
	}
	ca_key_info_get(key, &ki);
	if ((why = ca_go_unparseable(key, &ki)) != NULL) {
		fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT, CA_PFX_KEY_PARSE "%s (%s)",
				 why, ki.desc);
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
