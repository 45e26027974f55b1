/*
 * The signer: one private key behind a backend's table of operations.
 *
 * The signer decides the algorithm from the public key, as Go's x509 does
 * for a CA key (crypto/x509 signingParamsForKey): ECDSA with the curve's
 * hash, RSA with SHA-256 (PKCS#1 v1.5, or PSS when configured), Ed25519
 * pure. Backends only produce signature bytes. Everything in a signer is
 * immutable after hsm_signer_new, so concurrent hsm_sign calls need no lock
 * here (backends guard their own state).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "hsm.h"

/* Signed and verified once when a backend makes a signer. */
static const char self_test_msg[] = "fulcrum signer self-test";

/* The RSA sizes a CA key may have (bits). */
#define HSM_RSA_MIN_BITS 2048
#define HSM_RSA_MAX_BITS 8192

/* Upper bound on a signature from any supported key (RSA-8192: 1024 bytes;
 * ECDSA P-521 DER: at most 139 bytes). A backend returning more is broken. */
#define HSM_MAX_SIG_LEN 1024

struct hsm_signer {
	const struct hsm_ops *ops;
	void *impl;
	EVP_PKEY *pub; /* own reference */
	enum hsm_key_kind kind;
	enum hsm_rsa_padding padding;
	char *description;
	int sig_nid;
	const EVP_MD *md; /* NULL for Ed25519 */
};

/* Map the key to a kind; FC_ECONFIG (reason in err) for anything else. */
static enum fc_status classify_key(EVP_PKEY *pub, const char *desc, enum hsm_key_kind *kind,
				   struct fc_err *err)
{
	char group[64];
	size_t glen = 0;
	int bits;

	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen) != 1) {
			ERR_clear_error();
			return fc_err_set(err, FC_ECONFIG, "hsm: %s: EC key without a named curve",
					  desc);
		}
		switch (OBJ_sn2nid(group)) {
		case NID_X9_62_prime256v1: *kind = HSM_KEY_EC_P256; return FC_OK;
		case NID_secp384r1: *kind = HSM_KEY_EC_P384; return FC_OK;
		case NID_secp521r1: *kind = HSM_KEY_EC_P521; return FC_OK;
		default:
			return fc_err_set(
				err, FC_ECONFIG,
				"hsm: %s: EC curve %s is not allowed (P-256, P-384, P-521)", desc,
				group);
		}
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pub);
		if (bits < HSM_RSA_MIN_BITS || bits > HSM_RSA_MAX_BITS)
			return fc_err_set(
				err, FC_ECONFIG,
				"hsm: %s: RSA %d-bit keys are not allowed (%d to %d bits)", desc,
				bits, HSM_RSA_MIN_BITS, HSM_RSA_MAX_BITS);
		*kind = HSM_KEY_RSA;
		return FC_OK;
	case EVP_PKEY_ED25519: *kind = HSM_KEY_ED25519; return FC_OK;
	default:
		return fc_err_set(err, FC_ECONFIG,
				  "hsm: %s: key type %s is not allowed (EC P-256/P-384/P-521, RSA, "
				  "Ed25519)",
				  desc, OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
	}
}

/*
 * Wrap a backend in a signer (see hsm.h). The signer takes its own
 * reference to pub. Returns FC_OK and sets *out (free with
 * hsm_signer_free), else FC_ECONFIG (key type, size or padding refused) or
 * FC_EINTERNAL, and ops->close(impl) has been called.
 */
enum fc_status hsm_signer_new(const struct hsm_ops *ops, void *impl, EVP_PKEY *pub,
			      enum hsm_rsa_padding padding, const char *description,
			      struct hsm_signer **out, struct fc_err *err)
{
	struct hsm_signer *s = NULL;
	const char *desc = description != NULL ? description : "signer";
	enum hsm_key_kind kind;
	enum fc_status st;

	if (ops == NULL || (ops->sign == NULL && ops->sign_ctx == NULL) || pub == NULL ||
	    out == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "hsm: %s: incomplete backend", desc);
		goto out;
	}
	if ((st = classify_key(pub, desc, &kind, err)) != FC_OK)
		goto out;
	if (padding != HSM_RSA_PKCS1 && padding != HSM_RSA_PSS) {
		st = fc_err_set(err, FC_ECONFIG, "hsm: %s: unknown RSA padding %d", desc,
				(int)padding);
		goto out;
	}
	if (padding == HSM_RSA_PSS && kind != HSM_KEY_RSA) {
		st = fc_err_set(err, FC_ECONFIG, "hsm: %s: PSS padding needs an RSA key", desc);
		goto out;
	}
	if (EVP_PKEY_up_ref(pub) != 1) {
		fc_log_ssl("hsm: EVP_PKEY_up_ref");
		st = fc_err_set(err, FC_EINTERNAL, "hsm: %s: cannot reference the public key",
				desc);
		goto out;
	}

	s = fc_xcalloc(1, sizeof(*s));
	s->ops = ops;
	s->impl = impl;
	impl = NULL;
	s->pub = pub;
	s->kind = kind;
	s->padding = padding;
	s->description = fc_xstrdup(desc);
	switch (kind) {
	case HSM_KEY_EC_P256:
		s->sig_nid = NID_ecdsa_with_SHA256;
		s->md = EVP_sha256();
		break;
	case HSM_KEY_EC_P384:
		s->sig_nid = NID_ecdsa_with_SHA384;
		s->md = EVP_sha384();
		break;
	case HSM_KEY_EC_P521:
		s->sig_nid = NID_ecdsa_with_SHA512;
		s->md = EVP_sha512();
		break;
	case HSM_KEY_RSA:
		s->sig_nid = padding == HSM_RSA_PSS ? NID_rsassaPss : NID_sha256WithRSAEncryption;
		s->md = EVP_sha256();
		break;
	case HSM_KEY_ED25519:
		s->sig_nid = NID_ED25519;
		s->md = NULL;
		break;
	}
	*out = s;
	st = FC_OK;
out:
	if (impl != NULL && ops != NULL && ops->close != NULL)
		ops->close(impl);
	return st;
}

/*
 * Close the backend (which wipes its secrets) and free the signer. NULL is
 * fine.
 */
void hsm_signer_free(struct hsm_signer *s)
{
	if (s == NULL)
		return;
	if (s->ops->close != NULL)
		s->ops->close(s->impl);
	EVP_PKEY_free(s->pub);
	free(s->description);
	free(s);
}

/*
 * Sign msg with the signer's algorithm (hsm.h). Returns FC_OK with *sig
 * (malloc'd, caller frees) and *sig_len, else the backend's status
 * (FC_EHSM, FC_EUNAVAIL) with the reason in err.
 */
enum fc_status hsm_sign(struct hsm_signer *s, const uint8_t *msg, size_t len, uint8_t **sig,
			size_t *sig_len, struct fc_err *err)
{
	return hsm_sign_ctx(s, msg, len, NULL, sig, sig_len, err);
}

/* True when sig is s's signature over msg (RFC 4055 3.1 as Go signs PSS:
 * MGF1 with the message digest, salt as long as the digest). */
static bool signature_verifies(const struct hsm_signer *s, const uint8_t *msg, size_t len,
			       const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok;

	ok = ctx != NULL && EVP_DigestVerifyInit(ctx, &pctx, s->md, NULL, s->pub) == 1 &&
	     (s->padding != HSM_RSA_PSS ||
	      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, s->md) == 1)) &&
	     EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	if (!ok)
		ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * Sign msg saying what it is for (hsm.h): the context goes to backends
 * that use it (a remote signer checks the message against it), the others
 * sign as hsm_sign does. Returns FC_OK with *sig (malloc'd, caller frees)
 * and *sig_len, else the backend's status with the reason in err.
 */
enum fc_status hsm_sign_ctx(struct hsm_signer *s, const uint8_t *msg, size_t len,
			    const struct hsm_sign_ctx *ctx, uint8_t **sig, size_t *sig_len,
			    struct fc_err *err)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum fc_status st;

	if (s == NULL || sig == NULL || sig_len == NULL || (msg == NULL && len > 0))
		return fc_err_set(err, FC_EINTERNAL, "hsm: sign: missing argument");
	if (s->ops->sign_ctx != NULL)
		st = s->ops->sign_ctx(s->impl, msg, len, ctx, &out, &out_len, err);
	else
		st = s->ops->sign(s->impl, msg, len, &out, &out_len, err);
	if (st != FC_OK) {
		free(out);
		return fc_err_set(err, st, "hsm: %s: signing failed", s->description);
	}
	if (out == NULL || out_len == 0 || out_len > HSM_MAX_SIG_LEN) {
		free(out);
		return fc_err_set(err, FC_EHSM, "hsm: %s: backend returned a %zu-byte signature",
				  s->description, out_len);
	}
	if (s->ops->verify_output && !signature_verifies(s, msg, len, out, out_len)) {
		free(out);
		fc_log(LOG_ERR, "hsm: %s: a signature did not verify with the key's public half",
		       s->description);
		return fc_err_set(err, FC_EHSM,
				  "hsm: %s: the signature it returned does not verify with its "
				  "public key",
				  s->description);
	}
	*sig = out;
	*sig_len = out_len;
	return FC_OK;
}

/* An asynchronous signature on its way: the caller's completion. */
struct async_sign {
	struct hsm_signer *s;
	hsm_sign_done_fn done;
	void *arg;
};

/* The backend's completion: the same checks and message as hsm_sign_ctx. */
static void async_done(void *arg, enum fc_status st, uint8_t *sig, size_t sig_len,
		       const struct fc_err *berr)
{
	struct async_sign *as = arg;
	struct fc_err err = {0};

	if (st == FC_OK && (sig == NULL || sig_len == 0 || sig_len > HSM_MAX_SIG_LEN)) {
		st = fc_err_set(&err, FC_EHSM, "hsm: %s: backend returned a %zu-byte signature",
				as->s->description, sig_len);
		free(sig);
		sig = NULL;
	} else if (st != FC_OK) {
		if (berr != NULL)
			err = *berr;
		fc_err_set(&err, st, "hsm: %s: signing failed", as->s->description);
		free(sig);
		sig = NULL;
	}
	as->done(as->arg, st, sig, st == FC_OK ? sig_len : 0, &err);
	free(as);
}

/*
 * Sign msg without waiting (hsm.h): through the backend's sign_async, or
 * signed here and done called before the return.
 */
void hsm_sign_async(struct hsm_signer *s, const uint8_t *msg, size_t len,
		    const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg)
{
	struct async_sign *as;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct fc_err err = {0};
	enum fc_status st;

	if (s == NULL || s->ops->sign_async == NULL) {
		st = hsm_sign_ctx(s, msg, len, ctx, &sig, &sig_len, &err);
		done(arg, st, sig, sig_len, &err);
		return;
	}
	as = fc_xcalloc(1, sizeof(*as));
	as->s = s;
	as->done = done;
	as->arg = arg;
	s->ops->sign_async(s->impl, msg, len, ctx, async_done, as);
}

/*
 * The signer's public key. Borrowed: valid while the signer lives; take a
 * reference (EVP_PKEY_up_ref) to keep it longer.
 */
EVP_PKEY *hsm_signer_public_key(const struct hsm_signer *s)
{
	return s->pub;
}

/*
 * The RSA padding the signer signs with (HSM_RSA_PKCS1 for other keys).
 */
enum hsm_rsa_padding hsm_signer_padding(const struct hsm_signer *s)
{
	return s->padding;
}

/*
 * The kind of the signer's key.
 */
enum hsm_key_kind hsm_signer_kind(const struct hsm_signer *s)
{
	return s->kind;
}

/*
 * The description given at creation, for logs (never a secret). Borrowed.
 */
const char *hsm_signer_description(const struct hsm_signer *s)
{
	return s->description;
}

/*
 * True when the backend says it can sign now (a backend without a ready
 * check always can).
 */
bool hsm_signer_ready(struct hsm_signer *s)
{
	if (s == NULL)
		return false;
	return s->ops->ready == NULL || s->ops->ready(s->impl);
}

/*
 * True when the signer's key lives in this process's memory (hsm.h).
 */
bool hsm_signer_in_process(const struct hsm_signer *s)
{
	return s != NULL && s->ops->in_process;
}

/*
 * The X.509 signature algorithm NID of what hsm_sign produces (hsm.h).
 */
int hsm_signer_signature_nid(const struct hsm_signer *s)
{
	return s->sig_nid;
}

/*
 * The digest hsm_sign hashes with; NULL for Ed25519 (pure EdDSA, RFC 8032).
 */
const EVP_MD *hsm_signer_digest(const struct hsm_signer *s)
{
	return s->md;
}

/*
 * Sign a fixed message with s and verify the signature with s's public key,
 * digest and RSA padding, independently of the backend. Backends run it
 * once when they make a signer, so that a private key that does not match
 * its public half (or a module that signs wrongly) is found at start-up.
 * Returns FC_OK, the signing status (FC_EHSM, FC_EUNAVAIL), or FC_ECONFIG
 * when the signature does not verify; the reason in err.
 */
enum fc_status hsm_signer_self_test(struct hsm_signer *s, struct fc_err *err)
{
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum fc_status st;

	st = hsm_sign(s, (const uint8_t *)self_test_msg, sizeof(self_test_msg) - 1, &sig, &sig_len,
		      err);
	if (st != FC_OK)
		goto out;
	st = FC_ECONFIG;
	if (!signature_verifies(s, (const uint8_t *)self_test_msg, sizeof(self_test_msg) - 1, sig,
				sig_len)) {
		fc_err_set(err, FC_ECONFIG,
			   "hsm: %s: the self-test signature does not verify with the key's public "
			   "half (the private key and the public key or certificate do not match)",
			   s->description);
		goto out;
	}
	st = FC_OK;
out:
	free(sig);
	return st;
}
