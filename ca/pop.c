/*
 * The proof of possession: the client's signature over its principal's
 * name (Fulcio inventory 4), verified with Fulcio's hash for the key.
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

/* An EC signature must be canonical DER: what it decodes to, encoded again,
 * is exactly what was sent. */
static bool ecdsa_sig_is_der(const uint8_t *sig, size_t sig_len)
{
	const unsigned char *p = sig;
	ECDSA_SIG *esig = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
	unsigned char *reenc = NULL;
	int n = -1;
	bool ok;

	if (esig != NULL && p == sig + sig_len)
		n = i2d_ECDSA_SIG(esig, &reenc);
	ok = n >= 0 && (size_t)n == sig_len && memcmp(reenc, sig, sig_len) == 0;
	OPENSSL_free(reenc);
	ECDSA_SIG_free(esig);
	return ok;
}

/*
 * The signature's shape for the key, and the hash Fulcio verifies with:
 * ECDSA canonical DER with the curve's hash, RSA exactly the modulus size
 * with SHA-256, Ed25519 64 bytes and no prehash (NID_undef). FC_OK with
 * *hash, else FC_EINPUT with the reason.
 */
static enum fc_status pop_shape(EVP_PKEY *key, const struct ca_key_info *ki, const uint8_t *sig,
				size_t sig_len, int *hash, struct fc_err *err)
{
	switch (ki->kind) {
	case CA_KEY_EC:
		if (ca_key_check_curve(ki, err) != FC_OK)
			return FC_EINPUT;
		*hash = ec_pop_hash(ki->curve_nid);
		if (!ecdsa_sig_is_der(sig, sig_len))
			return fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
						CA_PFX_SIGNATURE
						"proof of possession: %s signature "
						"is not a DER ECDSA-Sig-Value (%zu "
						"bytes)",
						ki->desc, sig_len);
		return FC_OK;
	case CA_KEY_RSA:
		*hash = NID_sha256;
		if ((int)sig_len != EVP_PKEY_get_size(key))
			return fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
						CA_PFX_SIGNATURE
						"proof of possession: %s signature "
						"is %zu bytes, not %d",
						ki->desc, sig_len, EVP_PKEY_get_size(key));
		return FC_OK;
	case CA_KEY_ED25519:
		*hash = NID_undef;
		if (sig_len != 64)
			return fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
						CA_PFX_SIGNATURE "proof of possession: Ed25519 "
								 "signature is %zu bytes, not 64",
						sig_len);
		return FC_OK;
	case CA_KEY_OTHER: break;
	}
	return fc_err_set_class(err, FC_CLASS_KEY_INSECURE, FC_EINPUT,
				CA_PFX_KEY_INSECURE "%s keys are not allowed", ki->desc);
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
	struct ca_key_info ki;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = NULL;
	int hash = NID_undef;
	size_t msg_len;
	enum fc_status st = FC_EINPUT;

	if (key == NULL || msg == NULL || algs == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ca: ca_pop_verify: missing argument");
	msg_len = strlen(msg);
	ca_key_info_get(key, &ki);
	if (sig == NULL || sig_len == 0)
		return fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
					CA_PFX_SIGNATURE "proof of possession is empty");
	if (sig_len > CA_POP_MAX_SIG_BYTES)
		return fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
					CA_PFX_SIGNATURE
					"proof of possession is %zu bytes (at most "
					"%d)",
					sig_len, CA_POP_MAX_SIG_BYTES);
	if ((st = pop_shape(key, &ki, sig, sig_len, &hash, err)) != FC_OK)
		goto out;
	if (hash != NID_undef && (md = EVP_get_digestbynid(hash)) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: digest %s unavailable",
				ca_go_hash_name(hash));
		goto out;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) != 1 ||
	    (ki.kind == CA_KEY_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot set up %s verification", ki.desc);
		fc_err_append_ssl(err);
		goto out;
	}
	if (EVP_DigestVerify(mctx, sig, sig_len, (const unsigned char *)msg, msg_len) != 1) {
		st = fc_err_set_class(
			err, FC_CLASS_SIGNATURE, FC_EINPUT,
			CA_PFX_SIGNATURE
			"proof of possession: %s%s%s%s signature over \"%.*s%s\" does "
			"not verify",
			ki.desc, ki.kind == CA_KEY_RSA ? " PKCS#1 v1.5" : "",
			hash == NID_undef ? "" : " ",
			hash == NID_undef ? "" : ca_go_hash_name(hash),
			(int)(msg_len > CA_POP_QUOTE_MAX ? CA_POP_QUOTE_MAX : msg_len), msg,
			msg_len > CA_POP_QUOTE_MAX ? "..." : "");
		goto out;
	}
	st = ca_algs_check(&ki, hash, algs, err);
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return st;
}
