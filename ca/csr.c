/*
 * The CSR path (Fulcio inventory 4.2): a PKCS#10 request whose
 * self-signature is the proof of possession.
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

/* ca_go_spki_refusal of the request's SubjectPublicKeyInfo (whose
 * encoding the strict DER check of the whole request already covered). */
static const char *csr_spki_refusal(X509_REQ *req)
{
	unsigned char *spki = NULL;
	int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
	const char *why = n > 0 ? ca_go_spki_refusal(spki, (size_t)n) : "it cannot be encoded";

	OPENSSL_free(spki);
	return why;
}

/*
 * Decode the PEM request (strict: one CERTIFICATE REQUEST block, DER
 * consumed exactly, nothing Go's x509 would refuse to read). FC_OK with
 * *out, else FC_EINPUT FC_CLASS_CSR.
 */
static enum fc_status csr_decode(const uint8_t *pem, size_t len, X509_REQ **out, struct fc_err *err)
{
	struct ca_pem_block blk = {0};
	X509_REQ *req = NULL;
	const unsigned char *p;
	const char *why;
	enum fc_status st = FC_EINPUT;

	if (len > CA_CSR_MAX_BYTES) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR "%zu bytes is over the %d-byte limit", len,
				 CA_CSR_MAX_BYTES);
		goto out;
	}
	if (!ca_looks_like_pem(pem, len)) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR
				 "not PEM (no \"-----BEGIN\" line; DER is not accepted)");
		goto out;
	}
	if ((why = ca_pem_decode_one(pem, len, &blk)) != NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT, CA_PFX_CSR "PEM: %s", why);
		goto out;
	}
	if (strcmp(blk.type, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(blk.type, "NEW CERTIFICATE REQUEST") != 0) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR "PEM block type \"%s\" is not CERTIFICATE REQUEST",
				 blk.type);
		goto out;
	}
	p = blk.der;
	if ((req = d2i_X509_REQ(NULL, &p, (long)blk.der_len)) == NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR "PKCS#10 DER does not decode");
		fc_err_append_ssl(err);
		goto out;
	}
	if (p != blk.der + blk.der_len) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR "%zu trailing bytes after the DER request",
				 blk.der_len - (size_t)(p - blk.der));
		goto out;
	}
	/* What OpenSSL read, Go must read too (BER, explicit curve
	 * parameters, compressed points). */
	if ((why = ca_go_der_refusal(blk.der, blk.der_len)) != NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT, CA_PFX_CSR "%s", why);
		goto out;
	}
	*out = req;
	req = NULL;
	st = FC_OK;
out:
	X509_REQ_free(req);
	free(blk.der);
	return st;
}

/* The digest of the request's signature algorithm (NID_undef for
 * Ed25519), or -1 with FC_CLASS_ALG_UNKNOWN for any other algorithm. */
static int csr_hash(X509_REQ *req, struct fc_err *err)
{
	const X509_ALGOR *alg = NULL;
	char namebuf[120];

	X509_REQ_get0_signature(req, NULL, &alg);
	switch (OBJ_obj2nid(alg->algorithm)) {
	case NID_ecdsa_with_SHA256:
	case NID_sha256WithRSAEncryption: return NID_sha256;
	case NID_ecdsa_with_SHA384:
	case NID_sha384WithRSAEncryption: return NID_sha384;
	case NID_ecdsa_with_SHA512:
	case NID_sha512WithRSAEncryption: return NID_sha512;
	case NID_ED25519: return NID_undef;
	default: break;
	}
	fc_err_set_class(err, FC_CLASS_ALG_UNKNOWN, FC_EINPUT, CA_PFX_ALG_UNKNOWN "%s",
			 ca_go_sig_alg_name(alg, namebuf, sizeof(namebuf)));
	return -1;
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
	X509_REQ *req = NULL;
	EVP_PKEY *key = NULL;
	const char *why;
	struct ca_key_info ki;
	int hash;
	enum fc_status st = FC_EINPUT;

	if (pem == NULL || len == 0)
		return fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
					CA_PFX_CSR "the request is empty");
	if (algs == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ca: ca_csr_verify: missing argument");
	if ((st = csr_decode(pem, len, &req, err)) != FC_OK)
		goto out;
	st = FC_EINPUT;
	if ((key = X509_REQ_get_pubkey(req)) == NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT,
				 CA_PFX_CSR "its public key does not decode");
		fc_err_append_ssl(err);
		goto out;
	}
	ca_key_info_get(key, &ki);
	if ((why = csr_spki_refusal(req)) != NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT, CA_PFX_CSR "its public key: %s",
				 why);
		goto out;
	}
	if ((why = ca_go_unparseable(key, &ki)) != NULL) {
		fc_err_set_class(err, FC_CLASS_CSR, FC_EINPUT, CA_PFX_CSR "its public key: %s (%s)",
				 why, ki.desc);
		goto out;
	}
	if ((st = ca_client_key_check(key, err)) != FC_OK)
		goto out;
	st = FC_EINPUT;
	if (X509_REQ_verify(req, key) != 1) {
		fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
				 CA_PFX_SIGNATURE
				 "the certificate signing request's self-signature "
				 "does not verify with its %s key",
				 ki.desc);
		goto out;
	}
	if ((hash = csr_hash(req, err)) == -1 ||
	    (st = ca_algs_check(&ki, hash, algs, err)) != FC_OK)
		goto out;
	*key_out = key;
	key = NULL;
	st = FC_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return st;
}
