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
	EVP_PKEY *subject_key; /* the client's public key */
	X509 *issuer;	       /* the issuing CA certificate */
	int64_t not_before;    /* seconds since the epoch (normally fc_now()) */
	int validity_s;	       /* NotAfter = not_before + validity_s */
	bool precert;	       /* add the critical CT poison extension last */
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

/*
 * Sign cert with signer: set both signature AlgorithmIdentifiers to the
 * signer's algorithm, encode the TBSCertificate, sign it through
 * hsm_sign_ctx with ctx (what the signature is for: a leaf, a
 * precertificate, and the token id for the journal; NULL for CA
 * certificates, which are made where the key is), and install the
 * signature. FC_EHSM / FC_EUNAVAIL from the signer.
 */
enum fc_status ca_cert_sign(X509 *cert, struct hsm_signer *signer, const struct hsm_sign_ctx *ctx,
			    struct fc_err *err);
/* ca_cert_sign in two halves, for a signature made without waiting
 * (hsm_sign_async): the algorithms set and the TBS to sign (*tbs:
 * OPENSSL_free), then the signature installed. */
enum fc_status ca_cert_sign_begin(X509 *cert, struct hsm_signer *signer, unsigned char **tbs,
				  size_t *tbs_len, struct fc_err *err);
enum fc_status ca_cert_sign_finish(X509 *cert, const uint8_t *sig, size_t sig_len,
				   struct fc_err *err);

/* Pieces of the profile shared by leaves and CA certificates: a random
 * positive, non-zero serial of at most 159 bits (fc_rand_bytes), and the
 * SubjectKeyId extension (RFC 5280 4.2.1.2 method 1) of cert's public key,
 * appended non-critical. FC_EINTERNAL with the reason. */
enum fc_status ca_cert_set_serial(X509 *cert, struct fc_err *err);
enum fc_status ca_cert_add_skid(X509 *cert, struct fc_err *err);

/* cacert.c, for the CA and time-stamping profiles: a v3 certificate with a
 * random serial, subject, issuer (issuer's subject, or subject when issuer
 * is NULL: self-signed), validity and subject key (*out: X509_free); and
 * the AuthorityKeyId of issuer's SubjectKeyId (nothing when issuer is NULL
 * or has none). FC_EINTERNAL with the reason, naming what (e.g. "CA
 * certificate"). */
enum fc_status ca_cert_start(const char *what, const X509_NAME *subject, X509 *issuer,
			     int64_t not_before, int64_t not_after, EVP_PKEY *key, X509 **out,
			     struct fc_err *err);
enum fc_status ca_cert_add_akid(const char *what, X509 *x, X509 *issuer, struct fc_err *err);

/* --- the client's key and its proof of possession (algs.c, keyparse.c, goodkey.c, pop.c,
 *     csr.c) ---------------------------------------------------------------------------- */

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
	CA_ALG_ED25519,		      /* ed25519 */
	CA_ALG_ED25519_PH,	      /* ed25519-ph */
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
enum fc_status ca_client_key_parse(const uint8_t *data, size_t len, bool allow_der, EVP_PKEY **out,
				   struct fc_err *err);

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

/*
 * Every refusal of the client's key, proof or CSR is FC_EINPUT with one of
 * these classes (common.h), and its message starts with the class's prefix
 * below, so that a log line reads on its own. The HTTP layer answers with
 * Fulcio's client message for the class followed by the text after the
 * prefix (api.c's table). The two algorithm classes keep their prefix in
 * the answer: Fulcio returns that text itself (the part before the first
 * " (" is Fulcio's byte for byte: Go's %T of the key and crypto.Hash names).
 */
#define CA_PFX_KEY_PARSE "public key could not be parsed: "
#define CA_PFX_KEY_INSECURE "public key is insecure: "
#define CA_PFX_SIGNATURE "signature could not be verified: "
#define CA_PFX_CSR "certificate signing request could not be parsed: "
#define CA_PFX_ALG_UNKNOWN "unrecognized signature algorithm: "
#define CA_PFX_ALG_REFUSED "signing algorithm not permitted: "

/* Boulder's goodkey: 100 rounds of Fermat's method (sigstore sets
 * FermatRounds: 100). */
#define CA_FERMAT_ROUNDS 100
/* How much of the PoP subject a refusal quotes. */
#define CA_POP_QUOTE_MAX 128
/* The longest PEM type label accepted ("NEW CERTIFICATE REQUEST" is 23). */
#define CA_PEM_TYPE_MAX 64

/* --- gokey.c: the client's key as Fulcio's Go code sees it -------------------- */

enum ca_key_family { CA_KEY_OTHER = 0, CA_KEY_RSA, CA_KEY_EC, CA_KEY_ED25519 };

struct ca_key_info {
	enum ca_key_family kind;
	int bits;      /* RSA: modulus bits */
	int curve_nid; /* EC: the named curve, NID_undef for explicit params */
	char desc[64]; /* "ECDSA P-256", "RSA 2048-bit", "Ed25519", "DSA" ... */
};

/* Fill *ki for key (never fails; unknown types are CA_KEY_OTHER). */
void ca_key_info_get(EVP_PKEY *key, struct ca_key_info *ki);
/* Short name of a curve: the NIST name where there is one. */
const char *ca_curve_name(int nid);
/* P-256, P-384 or P-521. */
bool ca_is_nist_curve(int nid);
/* NULL if Go's x509 parses the key, else why Fulcio would refuse to parse it. */
const char *ca_go_unparseable(EVP_PKEY *key, const struct ca_key_info *ki);
/* Go's %T of the key ("*ecdsa.PublicKey") and crypto.Hash name ("SHA-256"). */
const char *ca_go_key_type(const struct ca_key_info *ki);
const char *ca_go_hash_name(int nid);
/* Why Go's x509 would refuse a SubjectPublicKeyInfo (BER, explicit EC
 * parameters, a compressed EC point) or other DER (BER) that OpenSSL
 * reads; NULL when Go reads it. */
const char *ca_go_spki_refusal(const uint8_t *der, size_t len);
const char *ca_go_der_refusal(const uint8_t *der, size_t len);
/* Go's x509.SignatureAlgorithm String() of alg; buf (n bytes) holds the
 * text when it has to be built. */
const char *ca_go_sig_alg_name(const X509_ALGOR *alg, char *buf, size_t n);

/* --- goodkey.c --------------------------------------------------------------------- */

/* An EC key on P-256, P-384 or P-521; else FC_EINPUT FC_CLASS_KEY_INSECURE. */
enum fc_status ca_key_check_curve(const struct ca_key_info *ki, struct fc_err *err);

/* --- algs.c: the algorithm registry ---------------------------------------------- */

/* Is (key, hash) the pair of an algorithm in algs (sigstore
 * IsAlgorithmPermitted)? FC_EINPUT FC_CLASS_ALG_REFUSED otherwise. */
enum fc_status ca_algs_check(const struct ca_key_info *ki, int hash, const struct ca_algs *algs,
			     struct fc_err *err);

/* --- keyparse.c: strict PEM ---------------------------------------------------------- */

struct ca_pem_block {
	char type[CA_PEM_TYPE_MAX + 1];
	uint8_t *der; /* caller frees */
	size_t der_len;
};

/* True if in starts, after whitespace, with a PEM BEGIN line. */
bool ca_looks_like_pem(const uint8_t *in, size_t len);
/* Decode exactly one PEM block (RFC 7468 2, strict) with only whitespace
 * around it. NULL and *out filled (out->der: caller frees), else a static
 * reason. */
const char *ca_pem_decode_one(const uint8_t *in, size_t len, struct ca_pem_block *out);

/* --- authority.c: a signer and its chain, reference-counted ------------------- */

/* A server's current authority, swapped by a reload (SIGHUP) while requests
 * in flight keep the one they started with. */
struct ca_authority_slot {
	pthread_mutex_t lock;
	struct ca_authority *a; /* one reference, the slot's */
};
/* Start with a (takes ownership; NULL allowed until the first replace). */
void ca_authority_slot_init(struct ca_authority_slot *slot, struct ca_authority *a);
/* The current authority with a reference for the caller (ca_authority_unref). */
struct ca_authority *ca_authority_slot_get(struct ca_authority_slot *slot);
void ca_authority_slot_replace(struct ca_authority_slot *slot, struct ca_authority *a);
void ca_authority_slot_destroy(struct ca_authority_slot *slot);

/* Take a reference (for one request); release with ca_authority_unref. */
struct ca_authority *ca_authority_ref(struct ca_authority *a);
void ca_authority_unref(struct ca_authority *a);
const struct ca_chain *ca_authority_chain(const struct ca_authority *a);
struct hsm_signer *ca_authority_signer(const struct ca_authority *a);

/* An issued certificate: the leaf and the chain above it, as PEM strings
 * without trailing newlines (Fulcio's signingCert form). */
struct ca_issued_sct {
	uint8_t log_id[CT_LOG_ID_LEN]; /* the log that signed it */
	int64_t leaf_index;	       /* its leaf_index extension (static CT API), or -1 */
};
struct ca_issued {
	char **pem; /* leaf first, then the CA chain */
	size_t n;
	char *serial_hex;
	char key_sha256[2 * 32 + 1]; /* SHA-256 of the leaf's SubjectPublicKeyInfo, hex */
	struct ca_issued_sct *scts;  /* the SCTs embedded in the leaf (audit log) */
	size_t n_scts;
};
void ca_issued_free(struct ca_issued *c);

/*
 * Issue through a CT log (certificate-transparency.md A.1, RFC 6962 3.1):
 * build the TBS once and return at once; its signature as a
 * precertificate (critical poison) is asked for without waiting
 * (hsm_sign_async), then it is submitted with the whole chain to ct. On
 * completion (on the CT client's I/O thread) the SCT has been verified;
 * the final certificate is the same TBS with the SCT list in place of the
 * poison (checked byte for byte), signed by the same key, again without
 * waiting. done(arg, ...) is then called exactly once, on the thread of
 * the last step (perhaps before this returns, with a key in this
 * process): st FC_OK with issued (the callee takes ownership), or the
 * failure in err, whose class is FC_CLASS_CT_LOG when the log failed
 * (FC_CLASS_NONE when the CA did). Returns FC_OK when done will be
 * called; otherwise (the precert cannot be built) the failure, with the
 * reason in err, and done is never called. identity and key are only
 * used during the call; a keeps a reference until done returns. gone
 * (NULL: never) is asked after the SCT: when it says the client is gone,
 * the final certificate is not signed and done gets FC_EUNAVAIL.
 */
typedef void (*ca_issue_done_fn)(void *arg, enum fc_status st, struct ca_issued *issued,
				 const struct fc_err *err);
typedef bool (*ca_issue_gone_fn)(void *arg);
/* The same without a CT log: the leaf (valid validity_s seconds from now)
 * built here; done called once it is signed, or signing failed (FC_EHSM,
 * FC_EUNAVAIL). Returns FC_OK when done will be called, else FC_EINPUT
 * (the identity cannot be encoded) or FC_EINTERNAL, and done is not. */
enum fc_status ca_authority_issue_async(struct ca_authority *a,
					const struct oidc_identity *identity, EVP_PKEY *key,
					int validity_s, ca_issue_done_fn done, void *arg,
					struct fc_err *err);
enum fc_status ca_authority_issue_ct(struct ca_authority *a, struct ct_client *ct,
				     const struct oidc_identity *identity, EVP_PKEY *key,
				     int validity_s, ca_issue_done_fn done, ca_issue_gone_fn gone,
				     void *arg, struct fc_err *err);

/*
 * The DER TBSCertificate of cert without the extension nid (which must be
 * present once), e.g. the precert TBS without the poison that the log
 * signs (RFC 6962 3.2). cert is changed and restored (not thread-safe on
 * a shared certificate). *out is OPENSSL_malloc'd. FC_EINTERNAL.
 */
enum fc_status ca_cert_tbs_without(X509 *cert, int nid, uint8_t **out, size_t *len,
				   struct fc_err *err);

/* --- server.c / api.c: the HTTP API --------------------------------------------- */

/* The CA's own counters (the HTTP families are in http, common.h). */
struct ca_metrics {
	atomic_ulong new_certs;
	struct fc_http_metrics *http;	  /* http_requests_total, fulcio_api_latency */
	atomic_ulong refusals[4];	  /* identity, key, pop/csr, other client errors */
	atomic_ulong identity_reloads[2]; /* succeeded, failed */
	atomic_llong identity_loaded_at;  /* wall clock (s) of the configuration served */
	atomic_bool identity_last_ok;	  /* the last reload succeeded (or none yet) */
};

/* A CT client and the requests that hold it (ctslot.c). */
struct ca_ct_ref {
	struct ct_client *ct;
	atomic_uint refs;	/* requests issuing through it */
	bool owned;		/* a reload's (freed here), not the caller's first */
	struct ca_ct_ref *next; /* in the list of replaced clients */
};

/*
 * One identity configuration and the verifier made over it, as served
 * from a start or a reload until the next one: the server holds one
 * reference while it is current, each request one while it uses it. The
 * last reference frees it (the verifier's fetch thread ends then), except
 * after the server's stop began: ca_server_stop frees what is left.
 */
struct ca_identity {
	atomic_uint refs;
	struct cfg_identity *cfg;
	struct oidc_verifier *verifier;
	char *configuration_json;	 /* GET /api/v2/configuration */
	struct ca_identity *prev, *next; /* the server's live list (identity_lock) */
};

/* The current identity with a reference for the caller. */
struct ca_identity *ca_server_identity_get(struct ca_server *s);
/* Release a reference (NULL is fine); the last one frees it. Never from a
 * verifier's wake (its fetch thread): on a request's worker, or the stop's. */
void ca_server_identity_put(struct ca_server *s, struct ca_identity *id);

struct ca_server {
	struct ca_server_options opts;
	pthread_mutex_t identity_lock; /* guards identity and the live list */
	struct ca_identity *identity;  /* current (one reference, the server's) */
	struct ca_identity *live;      /* every identity not freed yet */
	struct ca_algs algs;
	struct ca_authority_slot authority;
	struct fc_httpd *api;
	struct fc_httpd *metrics_httpd;
	struct ca_metrics metrics;
	/* Certificates being issued (issue() to the end of ct_issued): their
	 * completions, on the signer link's or the CT client's thread, use the
	 * server even after the front gave up on them, so a stop waits. */
	atomic_uint issuing;
	pthread_mutex_t trust_lock;   /* guards trust_docs (swapped by a reload) */
	char *trust_docs[3];	      /* trusted root, signing config, trust config */
	bool ct_on;		      /* certificates go through CT (fixed at start) */
	pthread_mutex_t ct_lock;      /* guards ct and ct_retired */
	struct ca_ct_ref *ct;	      /* the current CT client (NULL: no CT) */
	struct ca_ct_ref *ct_retired; /* replaced by reloads, freed once idle */
};

/* --- ctslot.c: the CT client, replaced by reloads ----------------------------------- */

void ca_ct_slot_init(struct ca_server *s, struct ct_client *ct);
/* The current CT client with a reference (NULL: no CT); release with ca_ct_put. */
struct ca_ct_ref *ca_ct_get(struct ca_server *s);
void ca_ct_put(struct ca_ct_ref *r);
/* True while any of the server's CT clients has a submission in flight. */
bool ca_ct_busy(struct ca_server *s);
/* The current client's metrics. */
void ca_ct_metrics(struct ca_server *s, struct fc_buf *b);
/* Free every client the server owns (at stop, nothing in flight). */
void ca_ct_slot_destroy(struct ca_server *s);
/* server.c: warn when a CT log does not list a's root (get-roots). */
void ca_check_ct_roots(struct ct_client *ct, struct ca_authority *a);

/* The API handler: routes one exchange (fc_http_handler_fn). */
void ca_api_handle(void *ctx, struct fc_http_exchange *x);

/* A copy of trust document i (0 trusted root, 1 signing config, 2 trust
 * config), or NULL when none is served (caller frees). */
char *ca_server_trust_doc(struct ca_server *s, int i);

/* The /api/v2/configuration document for cfg (compact JSON; caller frees). */
char *ca_api_configuration_json(const struct cfg_identity *cfg);

#endif /* FULCRUM_CA_INT_H */
