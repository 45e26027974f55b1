/*
 * Internals of the ca module, shared by its files and its unit tests.
 * No other module includes this header.
 */
#ifndef FULCRUM_CA_INT_H
#define FULCRUM_CA_INT_H

#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>

#include "ca.h"
#include "ct.h"
#include "hsm.h"
#include "oidc.h"

/* --- cert.c: the leaf certificate profile ------------------------------------- */

struct ca_leaf_params {
	const struct oidc_identity *identity;
	EVP_PKEY *subject_key;  /* the client's public key */
	X509 *issuer;           /* the issuing CA certificate */
	int64_t not_before;     /* seconds since the epoch (normally fc_now()) */
	int validity_s;         /* NotAfter = not_before + validity_s */
	bool precert;           /* add the critical CT poison extension last */
};

/*
 * Build an unsigned leaf certificate with Fulcio's profile: v3, random
 * positive 159-bit serial (fc_rand_bytes), empty subject, issuer = the CA's
 * subject, extensions in Go's order: KeyUsage digitalSignature (critical),
 * ExtKeyUsage codeSigning, SubjectKeyId (RFC 5280 4.2.1.2 method 1: SHA-1
 * of the subjectPublicKey bits), AuthorityKeyId (the issuer's SKID),
 * SubjectAltName (critical; rfc822Name, URI, or otherName 1.3.6.1.4.1.57264.1.7
 * with [0] EXPLICIT UTF8String), then each Sigstore extension of the identity
 * in order (raw bytes or DER UTF8String, non-critical), then the poison if
 * precert. FC_EINPUT if the identity cannot be encoded (e.g. SAN not
 * IA5), with the reason.
 */
enum fc_status ca_leaf_build(const struct ca_leaf_params *p, X509 **out, struct fc_err *err);

/* PEM text of cert; trimmed: without the final newline (signingCert's
 * form), else with it (trustBundle's form). Caller frees. */
char *ca_cert_pem(X509 *cert, bool trimmed);

/* ca_cert_sign, ca_cert_set_serial, ca_cert_add_skid: in ca.h (createca uses them). */

/* --- clientkey.c: the client's key and its proof of possession -------------------- */

/* The signing algorithms of --client-signing-algorithms (Fulcio's names). */
enum ca_alg {
	CA_ALG_ECDSA_P256_SHA256 = 1, /* ecdsa-sha2-256-nistp256 */
	CA_ALG_ECDSA_P384_SHA384,     /* ecdsa-sha2-384-nistp384 */
	CA_ALG_ECDSA_P521_SHA512,     /* ecdsa-sha2-512-nistp521 */
	CA_ALG_ECDSA_P384_SHA256,     /* ecdsa-sha2-256-nistp384 */
	CA_ALG_ECDSA_P521_SHA256,     /* ecdsa-sha2-256-nistp521 */
	CA_ALG_RSA2048_PKCS1_SHA256,  /* rsa-sign-pkcs1-2048-sha256 */
	CA_ALG_RSA3072_PKCS1_SHA256,  /* rsa-sign-pkcs1-3072-sha256 */
	CA_ALG_RSA4096_PKCS1_SHA256,  /* rsa-sign-pkcs1-4096-sha256 */
	CA_ALG_RSA2048_PSS_SHA256,    /* rsa-sign-pss-2048-sha256 */
	CA_ALG_RSA3072_PSS_SHA256,    /* rsa-sign-pss-3072-sha256 */
	CA_ALG_RSA4096_PSS_SHA256,    /* rsa-sign-pss-4096-sha256 */
	CA_ALG_ED25519,               /* ed25519 */
	CA_ALG_ED25519_PH,            /* ed25519-ph */
	CA_ALG_MAX
};

/* A set of allowed algorithms (bit per enum ca_alg). */
struct ca_algs {
	uint32_t bits;
};

/* Fulcio's 7 defaults. */
void ca_algs_default(struct ca_algs *a);
/* Parse a comma-separated list of Fulcio names; FC_ECONFIG naming an
 * unknown one. */
enum fc_status ca_algs_parse(const char *list, struct ca_algs *out, struct fc_err *err);

/*
 * Parse the client's public key: PEM "PUBLIC KEY" (SPKI) or "RSA PUBLIC
 * KEY" (PKCS#1); with allow_der also raw DER SPKI (v1 API). Exactly one PEM
 * block and nothing but whitespace around it. FC_EINPUT with the reason
 * ("could not be parsed").
 */
enum fc_status ca_client_key_parse(const uint8_t *data, size_t len, bool allow_der,
				   EVP_PKEY **out, struct fc_err *err);

/*
 * Fulcio's key strength rules (sigstore goodkey): RSA of exactly 2048, 3072
 * or 4096 bits with e = 65537 and no small factor; ECDSA P-256/P-384/P-521
 * with a valid point; Ed25519. Everything else FC_EINPUT "insecure" with
 * what it is (e.g. "RSA 1024-bit keys are not allowed (2048, 3072, 4096)").
 */
enum fc_status ca_client_key_check(EVP_PKEY *key, struct fc_err *err);

/*
 * Verify a proof of possession: sig over msg (the principal's PoP subject)
 * with Fulcio's hash for the key: P-256 SHA-256, P-384 SHA-384, P-521
 * SHA-512 (DER ECDSA signatures), RSA PKCS#1 v1.5 SHA-256, Ed25519 pure.
 * Then checks (key, hash) against algs. FC_EINPUT with the reason.
 */
enum fc_status ca_pop_verify(EVP_PKEY *key, const char *msg, const uint8_t *sig, size_t sig_len,
			     const struct ca_algs *algs, struct fc_err *err);

/*
 * Parse a PEM CSR ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"),
 * check its key (ca_client_key_check), its self-signature, that its
 * signature algorithm is one of ECDSA-SHA256/384/512, SHA256/384/512 with
 * RSA (PKCS#1 v1.5) or Ed25519, and (key, hash) against algs. *key_out
 * receives the CSR's public key (caller frees). FC_EINPUT with the reason.
 */
enum fc_status ca_csr_verify(const uint8_t *pem, size_t len, const struct ca_algs *algs,
			     EVP_PKEY **key_out, struct fc_err *err);

/* --- authority.c: a signer and its chain, reference-counted ------------------- */

/* Take a reference (for one request); release with ca_authority_unref. */
struct ca_authority *ca_authority_ref(struct ca_authority *a);
void ca_authority_unref(struct ca_authority *a);
const struct ca_chain *ca_authority_chain(const struct ca_authority *a);
struct hsm_signer *ca_authority_signer(const struct ca_authority *a);

/* An issued certificate: the leaf and the chain above it, as PEM strings
 * without trailing newlines (Fulcio's signingCert form). */
struct ca_issued {
	char **pem;      /* leaf first, then the CA chain */
	size_t n;
	char *serial_hex;
};
void ca_issued_free(struct ca_issued *c);

/*
 * Issue a certificate for identity and key, valid validity_s seconds from
 * now, signed by a. FC_OK and *out (free with ca_issued_free), FC_EINPUT if
 * the identity cannot be encoded, FC_EHSM / FC_EUNAVAIL if signing fails;
 * the reason in err. Nothing is returned on failure.
 */
enum fc_status ca_authority_issue(struct ca_authority *a, const struct oidc_identity *identity,
				  EVP_PKEY *key, int validity_s, struct ca_issued **out,
				  struct fc_err *err);

/*
 * Issue through a CT log (certificate-transparency.md A.1, RFC 6962 3.1):
 * build the TBS once, sign it as a precertificate (critical poison) with
 * a's key, submit it with the whole chain to ct, and return at once. On
 * completion (on the CT client's I/O thread) the SCT has been verified;
 * the final certificate is the same TBS with the SCT list in place of the
 * poison (checked byte for byte before signing), signed by the same key.
 * done(arg, ...) is then called exactly once: st FC_OK with issued (the
 * callee takes ownership), or the failure with ct_failure telling whether
 * the log (true) or the CA (false) failed, and err.
 * Returns FC_OK when done will be called; otherwise (the precert cannot be
 * built or signed, the client refuses the submission) the failure, with
 * the reason in err, and done is never called. identity and key are only
 * used during the call; a keeps a reference until done returns.
 */
typedef void (*ca_issue_done_fn)(void *arg, enum fc_status st, struct ca_issued *issued,
				 bool ct_failure, const struct fc_err *err);
enum fc_status ca_authority_issue_ct(struct ca_authority *a, struct ct_client *ct,
				     const struct oidc_identity *identity, EVP_PKEY *key,
				     int validity_s, ca_issue_done_fn done, void *arg,
				     struct fc_err *err);

/*
 * The DER TBSCertificate of cert without the extension nid (which must be
 * present once), e.g. the precert TBS without the poison that the log
 * signs (RFC 6962 3.2). cert is changed and restored (not thread-safe on
 * a shared certificate). *out is OPENSSL_malloc'd. FC_EINTERNAL.
 */
enum fc_status ca_cert_tbs_without(X509 *cert, int nid, uint8_t **out, size_t *len,
				   struct fc_err *err);

/* --- server.c / api.c: the HTTP API --------------------------------------------- */

/* Latency histogram buckets (seconds), as Prometheus' defaults. */
#define CA_LATENCY_BUCKETS 11

struct ca_metrics {
	atomic_ulong new_certs;
	atomic_ulong requests[6][3];  /* [status class 1xx..5xx + other][GET, POST, other] */
	atomic_ulong latency_bucket[CA_LATENCY_BUCKETS + 1][3]; /* +Inf last */
	atomic_ulong latency_sum_us[3];
	atomic_ulong latency_count[3];
	atomic_ulong refusals[4];     /* identity, key, pop/csr, other client errors */
};

struct ca_server {
	struct ca_server_options opts;
	struct oidc_verifier *verifier;
	const struct cfg_identity *cfg;
	struct ca_algs algs;
	pthread_mutex_t authority_lock;
	struct ca_authority *authority;
	struct fc_httpd *api;
	struct fc_httpd *metrics_httpd;
	struct ca_metrics metrics;
	char *configuration_json;      /* GET /api/v2/configuration, built once */
};

/* The current authority, with a reference for the caller. */
struct ca_authority *ca_server_authority(struct ca_server *s);

/* The API handler: routes one exchange (fc_http_handler_fn). */
void ca_api_handle(void *ctx, struct fc_http_exchange *x);

/* The /api/v2/configuration document for cfg (compact JSON; caller frees). */
char *ca_api_configuration_json(const struct cfg_identity *cfg);

#endif /* FULCRUM_CA_INT_H */
