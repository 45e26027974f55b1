/*
 * Internals of the trust module, shared by its files and its unit tests.
 * No other module includes this header.
 */
#ifndef FULCRUM_TRUST_INT_H
#define FULCRUM_TRUST_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "trust.h"

#define TRUST_LOG_ID_LEN 32 /* SHA-256 */

/* One entry of the trusted root and, with a URL, of the signing config. */
struct trust_item {
	enum trust_kind kind;
	char *url;	      /* normalised (no trailing '/'), or NULL */
	char *operator;	      /* given, else the URL's host, else NULL */
	unsigned api_version; /* majorApiVersion in signing_config */
	int64_t start, end;   /* validFor; end TRUST_TIME_UNSET = open */
	bool no_sign;
	/* CA and TSA: the chain as DER, and the subject named in the file */
	uint8_t *der[TRUST_MAX_CHAIN];
	size_t der_len[TRUST_MAX_CHAIN];
	size_t n_der;
	char *org, *cn;
	/* CT and Rekor logs: the key */
	uint8_t *spki;
	size_t spki_len;
	const char *key_details; /* PublicKeyDetails name */
	uint8_t log_id[TRUST_LOG_ID_LEN];
};

struct trust_builder {
	int64_t now;
	struct trust_item *items[TRUST_KINDS][TRUST_MAX_ENTRIES];
	size_t n[TRUST_KINDS];
	enum trust_selector sel[TRUST_KINDS];
	unsigned count[TRUST_KINDS];
};

void trust_item_free(struct trust_item *it);

/* --- material.c: certificates and keys ------------------------------------------- */

/* Parse a PEM text holding only CERTIFICATE blocks (1..TRUST_MAX_CHAIN, in
 * file order) into certs; *n set. FC_ECONFIG naming name and the block. */
enum fc_status trust_pem_certs(const char *pem, size_t len, const char *name, X509 **certs,
			       size_t *n, struct fc_err *err);
/* Check a chain as kind (TRUST_CA or TRUST_TSA) wants it (see trust.h),
 * and fill the item's DER, subject and default start (latest NotBefore).
 * Warnings (an expired chain, a root that is not self-signed) are logged. */
enum fc_status trust_chain_take(struct trust_item *it, X509 **certs, size_t n, const char *name,
				int64_t now, struct fc_err *err);
/* Parse one PEM PUBLIC KEY (a private key or PKCS#1 key is refused, saying
 * how to get the SPKI); *key to free with EVP_PKEY_free. */
enum fc_status trust_pem_pubkey(const char *pem, size_t len, const char *name, EVP_PKEY **key,
				struct fc_err *err);
/* The protobuf-specs PublicKeyDetails of key (ECDSA P-256/384/521, RSA
 * 2048/3072/4096 PKCS#1 v1.5, Ed25519), or NULL. */
const char *trust_key_details(EVP_PKEY *key);
/* The signed-note key id (C2SP signed-note, as rekor-tiles computes it):
 * ECDSA SHA-256(SPKI); Ed25519 SHA-256(origin "\n" 0x01 key); RSA
 * SHA-256(origin "\n" 0xff "PKIX-RSA-PKCS#1v1.5" SPKI). */
enum fc_status trust_note_key_id(EVP_PKEY *key, const char *origin, uint8_t out[TRUST_LOG_ID_LEN],
				 struct fc_err *err);
/* The SPKI DER of key (OPENSSL_free). */
enum fc_status trust_spki(EVP_PKEY *key, uint8_t **der, size_t *len, struct fc_err *err);
/* Verify sig over msg with key as a signed-note signature of that key
 * type (ECDSA with the curve's hash, RSA PKCS#1 v1.5 SHA-256, Ed25519). */
bool trust_note_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
		       size_t sig_len);

/* --- url.c: URLs --------------------------------------------------------------------- */

/* True when the URL has a path beyond "/". */
bool trust_url_has_path(const char *url);

#endif /* FULCRUM_TRUST_INT_H */
