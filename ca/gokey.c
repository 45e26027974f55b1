/*
 * The client's key as Fulcio's Go code sees it: which keys Go's x509 can
 * parse at all, and the names Go prints for key types, hashes and signature
 * algorithms, so that fulcrum's refusals read as Fulcio's do.
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

/* --- the key, as Fulcio's Go code sees it ------------------------------------ */

/* Short name of a curve: the NIST name where there is one. */
const char *ca_curve_name(int nid)
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

void ca_key_info_get(EVP_PKEY *key, struct ca_key_info *ki)
{
	char group[80];
	size_t glen = 0;

	memset(ki, 0, sizeof(*ki));
	ki->curve_nid = NID_undef;
	if (EVP_PKEY_is_a(key, "RSA")) {
		ki->kind = CA_KEY_RSA;
		ki->bits = EVP_PKEY_get_bits(key);
		snprintf(ki->desc, sizeof(ki->desc), "RSA %d-bit", ki->bits);
	} else if (EVP_PKEY_is_a(key, "EC")) {
		ki->kind = CA_KEY_EC;
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) == 1)
			ki->curve_nid = OBJ_txt2nid(group);
		ERR_clear_error(); /* explicit parameters have no group name */
		snprintf(ki->desc, sizeof(ki->desc), "ECDSA %s", ca_curve_name(ki->curve_nid));
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		ki->kind = CA_KEY_ED25519;
		snprintf(ki->desc, sizeof(ki->desc), "Ed25519");
	} else {
		const char *t = EVP_PKEY_get0_type_name(key);
		ki->kind = CA_KEY_OTHER;
		snprintf(ki->desc, sizeof(ki->desc), "%s", t != NULL ? t : "unknown");
		/* OpenSSL's names are upper case; write the usual spelling. */
		if (strcmp(ki->desc, "ED448") == 0)
			snprintf(ki->desc, sizeof(ki->desc), "Ed448");
	}
}

bool ca_is_nist_curve(int nid)
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
const char *ca_go_unparseable(EVP_PKEY *key, const struct ca_key_info *ki)
{
	switch (ki->kind) {
	case CA_KEY_RSA:
	case CA_KEY_ED25519: return NULL;
	case CA_KEY_EC:
		if (ki->curve_nid == NID_undef)
			return "EC keys with explicit curve parameters are not supported";
		if (ki->curve_nid == NID_secp224r1 || ca_is_nist_curve(ki->curve_nid))
			return NULL;
		return "EC curve is not supported";
	case CA_KEY_OTHER:
		if (EVP_PKEY_is_a(key, "DSA") || EVP_PKEY_is_a(key, "X25519"))
			return NULL;
		return "key type is not supported";
	}
	return "key type is not supported";
}

/* Go's name for the key's type (fmt %T), as Fulcio prints it. */
const char *ca_go_key_type(const struct ca_key_info *ki)
{
	switch (ki->kind) {
	case CA_KEY_RSA: return "*rsa.PublicKey";
	case CA_KEY_EC: return "*ecdsa.PublicKey";
	case CA_KEY_ED25519: return "ed25519.PublicKey";
	case CA_KEY_OTHER: break;
	}
	return "unknown";
}

/* Go's crypto.Hash String() of a digest NID (NID_undef: no prehash). */
const char *ca_go_hash_name(int nid)
{
	switch (nid) {
	case NID_sha256: return "SHA-256";
	case NID_sha384: return "SHA-384";
	case NID_sha512: return "SHA-512";
	default: return "unknown hash value 0";
	}
}

/* --- certificate signing requests -------------------------------------------------- */

/* Go's x509.SignatureAlgorithm String() for a refused algorithm. */
const char *ca_go_sig_alg_name(const X509_ALGOR *alg, char *buf, size_t n)
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
	default: break;
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

/* Nesting of constructed values der_strict follows (certificates need ~10). */
#define DER_MAX_DEPTH 32

/*
 * Is p[0..len) a sequence of complete DER TLVs (X.690 10.1): definite
 * lengths in their shortest form, in every constructed value within?
 * Go's encoding/asn1 accepts nothing else; OpenSSL also reads BER
 * (indefinite lengths, long-form lengths with leading zeros).
 */
static bool der_strict(const uint8_t *p, size_t len, unsigned depth)
{
	size_t off = 0;

	if (depth > DER_MAX_DEPTH)
		return false;
	while (off < len) {
		uint8_t tag = p[off++];
		size_t n = 0, nlen;

		if ((tag & 0x1f) == 0x1f) { /* high tag number: base-128 octets */
			while (off < len && (p[off] & 0x80))
				off++;
			if (off++ >= len)
				return false;
		}
		if (off >= len)
			return false;
		if (p[off] < 0x80) {
			n = p[off++];
		} else {
			nlen = p[off++] & 0x7f;
			/* 0x80 is indefinite; more than 4 length octets is absurd here */
			if (nlen == 0 || nlen > 4 || nlen > len - off || p[off] == 0)
				return false;
			for (size_t i = 0; i < nlen; i++)
				n = n << 8 | p[off++];
			if (n < 0x80)
				return false; /* the short form was required */
		}
		if (n > len - off)
			return false;
		if ((tag & 0x20) && !der_strict(p + off, n, depth + 1))
			return false;
		off += n;
	}
	return true;
}

/*
 * Why Go's x509 would refuse DER that OpenSSL reads (a CSR, a PKCS#1
 * key): NULL when it is strict DER, else the reason.
 */
const char *ca_go_der_refusal(const uint8_t *der, size_t len)
{
	return der_strict(der, len, 0) ? NULL
				       : "not DER (BER encodings such as indefinite lengths "
					 "are not accepted)";
}

/*
 * Why Go's x509.ParsePKIXPublicKey would refuse a SubjectPublicKeyInfo that
 * OpenSSL reads: BER instead of DER (also inside an RSA key's bit string),
 * EC parameters that are not a named curve (explicit parameters, even of
 * P-256), an EC point that is not in uncompressed form (elliptic.Unmarshal).
 * NULL when Go reads it the way OpenSSL does (the caller still refuses
 * what neither reads).
 */
const char *ca_go_spki_refusal(const uint8_t *der, size_t len)
{
	OSSL_LIB_CTX *keyless = fc_keyless_libctx();
	X509_PUBKEY *xp = NULL;
	const unsigned char *p = der, *bits = NULL;
	ASN1_OBJECT *oid = NULL;
	X509_ALGOR *alg = NULL;
	int bits_len = 0, ptype = V_ASN1_UNDEF, nid;
	const char *why = NULL;

	if ((why = ca_go_der_refusal(der, len)) != NULL)
		return why;
	if (keyless == NULL || (xp = X509_PUBKEY_new_ex(keyless, NULL)) == NULL ||
	    d2i_X509_PUBKEY(&xp, &p, (long)len) == NULL ||
	    X509_PUBKEY_get0_param(&oid, &bits, &bits_len, &alg, xp) != 1)
		goto out; /* not an SPKI at all: the caller's parser says so */
	nid = OBJ_obj2nid(oid);
	if (nid == NID_X9_62_id_ecPublicKey) {
		X509_ALGOR_get0(NULL, &ptype, NULL, alg);
		if (ptype != V_ASN1_OBJECT)
			why = "EC keys with explicit curve parameters are not supported";
		else if (bits_len < 1 || bits[0] != 0x04)
			why = "EC points in compressed form are not supported";
	} else if (nid == NID_rsaEncryption && !der_strict(bits, (size_t)bits_len, 0)) {
		why = "the RSA key is not DER (BER encodings are not accepted)";
	}
out:
	X509_PUBKEY_free(xp);
	ERR_clear_error();
	return why;
}
