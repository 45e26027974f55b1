/*
 * hsm: the signer interface and its backends. A signer holds one private
 * key (in memory, in a PEM file, or inside a PKCS#11 token) and signs
 * messages with it; nothing outside this module ever sees key material or
 * a PKCS#11 type. Each backend fills in a struct hsm_ops.
 *
 * A signer is safe to use from many threads at once.
 */
#ifndef FULCRUM_HSM_H
#define FULCRUM_HSM_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

enum hsm_key_kind {
	HSM_KEY_EC_P256 = 1,
	HSM_KEY_EC_P384,
	HSM_KEY_EC_P521,
	HSM_KEY_RSA,
	HSM_KEY_ED25519,
};

/* How an RSA key signs: PKCS#1 v1.5 (the default) or PSS (salt = hash). */
enum hsm_rsa_padding {
	HSM_RSA_PKCS1 = 0,
	HSM_RSA_PSS = 1,
};

struct hsm_ops {
	/* Sign msg (the whole message, not a digest) with the key's algorithm
	 * (see hsm_sign). *sig is malloc'd by the backend. */
	enum fc_status (*sign)(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
			       size_t *sig_len, struct fc_err *err);
	/* True when the backend can sign now (readiness). NULL = always. */
	bool (*ready)(void *impl);
	/* Release impl; wipe whatever secret it holds. */
	void (*close)(void *impl);
};

struct hsm_signer;

/*
 * Wrap a backend. pub is the key's public half (the signer takes a
 * reference of its own). description names the key for logs, never a
 * secret (e.g. "file /etc/fulcrum/ca.key", "pkcs11 token=fulcio
 * object=PKCS11CA"). On failure ops->close(impl) has been called.
 */
enum fc_status hsm_signer_new(const struct hsm_ops *ops, void *impl, EVP_PKEY *pub,
			      enum hsm_rsa_padding padding, const char *description,
			      struct hsm_signer **out, struct fc_err *err);
void hsm_signer_free(struct hsm_signer *s);

/*
 * Sign msg. The algorithm follows the key, as Go's x509 does for a CA key:
 * ECDSA P-256/P-384/P-521 with SHA-256/384/512 (DER ECDSA-Sig-Value), RSA
 * with SHA-256 and PKCS#1 v1.5 (or PSS), Ed25519 pure. *sig is malloc'd;
 * caller frees. FC_EHSM (or FC_EUNAVAIL when the device is temporarily
 * gone) with the reason in err.
 */
enum fc_status hsm_sign(struct hsm_signer *s, const uint8_t *msg, size_t len, uint8_t **sig,
			size_t *sig_len, struct fc_err *err);

EVP_PKEY *hsm_signer_public_key(const struct hsm_signer *s); /* borrowed */
enum hsm_key_kind hsm_signer_kind(const struct hsm_signer *s);
const char *hsm_signer_description(const struct hsm_signer *s);
bool hsm_signer_ready(struct hsm_signer *s);
/* The X.509 signature algorithm NID hsm_sign produces:
 * NID_ecdsa_with_SHA256/384/512, NID_sha256WithRSAEncryption,
 * NID_rsassaPss (with SHA-256, MGF1-SHA-256, salt 32) or NID_ED25519. */
int hsm_signer_signature_nid(const struct hsm_signer *s);
/* The digest hsm_sign uses (NULL for Ed25519). */
const EVP_MD *hsm_signer_digest(const struct hsm_signer *s);

/* --- softkey.c: keys held in this process ------------------------------- */

/* A fresh in-memory key of the given kind (RSA: 3072 bits). */
enum fc_status hsm_softkey_generate(enum hsm_key_kind kind, struct hsm_signer **out,
				    struct fc_err *err);

/*
 * Load a PEM private key: PKCS#8 (plain or ENCRYPTED PRIVATE KEY), SEC1 "EC
 * PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", legacy RFC 1423 encrypted PEM.
 * passphrase may be NULL for an unencrypted key; it is not kept. Allowed
 * keys: EC P-256/P-384/P-521, RSA 2048-8192, Ed25519. FC_ECONFIG with the
 * reason (never the passphrase) in err.
 */
enum fc_status hsm_softkey_load_pem(const char *path, const char *passphrase,
				    enum hsm_rsa_padding padding, struct hsm_signer **out,
				    struct fc_err *err);

/* Wrap an EVP_PKEY holding a private key (takes ownership of key). */
enum fc_status hsm_softkey_from_pkey(EVP_PKEY *key, enum hsm_rsa_padding padding,
				     const char *description, struct hsm_signer **out,
				     struct fc_err *err);

#endif /* FULCRUM_HSM_H */
