/*
 * ca: the certificate authority: proof of possession and CSR checks, the
 * certificate profile, the chain and trust bundle, and Fulcio's HTTP API
 * (v2 and v1) served with libmicrohttpd.
 */
#ifndef FULCRUM_CA_H
#define FULCRUM_CA_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"
#include "hsm.h"
#include "oidc.h"

/* Fulcio's request body limit (maxMsgSize = 1 << 22). */
#define CA_MAX_BODY_BYTES (4 * 1024 * 1024)
/* Hard limits on the client's key material, checked before parsing. A
 * 4096-bit RSA key in PEM is about 800 bytes and a CSR for it 1.7 KiB. */
#define CA_KEY_MAX_BYTES (64 * 1024)
#define CA_CSR_MAX_BYTES (64 * 1024)
#define CA_POP_MAX_SIG_BYTES 1024 /* RSA-4096 signatures are 512 bytes */

/* Default certificate lifetime: Fulcio's ten minutes. */
#define CA_DEFAULT_VALIDITY_S 600

/* --- chain.c: the CA certificate chain -------------------------------------- */

/* The issuing CA first, the root last (Fulcio's order). */
struct ca_chain {
	X509 **certs;
	size_t n;
	char **pem; /* PEM of each certificate, with its trailing newline */
};

/* Read a PEM chain file (issuing CA first, root last; at most 8 certs).
 * FC_ECONFIG with the reason in err. */
enum fc_status ca_chain_load_file(const char *path, struct ca_chain **out, struct fc_err *err);
/* The same from memory (name is used in messages). */
enum fc_status ca_chain_load_pem(const char *pem, size_t len, const char *name,
				 struct ca_chain **out, struct fc_err *err);
/* Take ownership of certs (issuing first); builds the PEM strings. */
struct ca_chain *ca_chain_from_certs(X509 **certs, size_t n);
void ca_chain_free(struct ca_chain *c);

/*
 * Check a chain before serving with it: the issuing certificate's public key
 * is pub (the signer's); every certificate has critical BasicConstraints
 * CA:TRUE and KeyUsage keyCertSign; each certificate is signed by the next
 * and the last is self-signed, all within their validity at now; if there
 * are intermediates and the issuing certificate has an ExtKeyUsage, it
 * includes codeSigning (Fulcio's EKU chaining). FC_ECONFIG naming the
 * certificate (by position and subject) and what is wrong.
 */
enum fc_status ca_chain_check(const struct ca_chain *c, EVP_PKEY *pub, struct fc_err *err);

/*
 * A self-signed root for ephemeralca, signed by signer: subject
 * O=sigstore.dev, CN=fulcrum ephemeral CA, 10 years, critical
 * BasicConstraints CA:TRUE pathlen 1, critical KeyUsage keyCertSign|cRLSign,
 * SubjectKeyId, random serial.
 */
enum fc_status ca_chain_make_ephemeral(struct hsm_signer *signer, struct ca_chain **out,
				       struct fc_err *err);

/* --- cacert.c: the CA certificate profile ------------------------------------- */

/* A CA certificate to make (fulcrum createca's root and intermediate, the
 * ephemeralca root). */
struct ca_cacert_params {
	const X509_NAME *subject; /* never empty (RFC 5280 4.1.2.6) */
	EVP_PKEY *subject_key;	  /* the new CA's public key */
	X509 *issuer;		  /* the signing CA's certificate; NULL = self-signed */
	int pathlen;		  /* BasicConstraints pathLenConstraint */
	bool eku_codesign;	  /* ExtKeyUsage codeSigning (Fulcio's intermediates) */
	int64_t not_before;	  /* seconds since the epoch */
	int64_t not_after;
};

/*
 * Build the CA certificate p describes and sign it with signer (the
 * issuer's key, or the subject's own when self-signed): v3, random serial,
 * KeyUsage keyCertSign|cRLSign (critical), ExtKeyUsage if asked,
 * BasicConstraints CA:TRUE pathlen (critical), SubjectKeyId,
 * AuthorityKeyId when there is an issuer, in Go's order. FC_OK with *out
 * (X509_free), FC_ECONFIG for an empty subject, else the signer's failure
 * or FC_EINTERNAL, with the reason in err.
 */
enum fc_status ca_cacert_build(const struct ca_cacert_params *p, struct hsm_signer *signer,
			       X509 **out, struct fc_err *err);
/* --- tsacert.c: the time-stamping certificate profile ---------------------------- */

/* The signing certificate of a time-stamp authority (fulcrum createca --tsa). */
struct ca_tsacert_params {
	const X509_NAME *subject; /* never empty */
	EVP_PKEY *subject_key;	  /* the TSA's public key */
	X509 *issuer;		  /* the signing CA's certificate (required) */
	int64_t not_before;	  /* seconds since the epoch */
	int64_t not_after;
};

/*
 * Build the time-stamping certificate p describes and sign it with signer
 * (the issuer's key): v3, random serial, KeyUsage digitalSignature
 * (critical), ExtKeyUsage timeStamping only (critical, RFC 3161 2.3),
 * BasicConstraints CA:FALSE (critical), SubjectKeyId, AuthorityKeyId.
 * FC_OK with *out (X509_free), FC_ECONFIG for an empty subject or no
 * issuer, else the signer's failure or FC_EINTERNAL, reason in err.
 */
enum fc_status ca_tsacert_build(const struct ca_tsacert_params *p, struct hsm_signer *signer,
				X509 **out, struct fc_err *err);

/* t plus whole calendar years (Go's time.AddDate). */
int64_t ca_add_years(int64_t t, int years);
/* Append an attribute as Go's pkix.Name encodes it (PrintableString when
 * possible, else UTF8String); NULL or "" is left out. False on failure. */
bool ca_name_add(X509_NAME *n, int nid, const char *v);

struct ct_client;  /* ct.h */
struct rl_limiter; /* ratelimit.h */

/* The Sigstore trust files the CA hands to clients (fulcrum trust writes
 * them): GET /api/v2/trustedRoot, /api/v2/signingConfig and
 * /api/v2/trustConfig (the two in one ClientTrustConfig). NULL: not
 * served (404). The caller checks them; the server serves them as they are. */
struct ca_trust_docs {
	const char *trusted_root;
	const char *signing_config;
	const char *trust_config;
};

struct ca_server_options {
	const char *host;	     /* listen address (default 0.0.0.0) */
	uint16_t port;		     /* HTTP API port (default 8080; 0 = any free port) */
	uint16_t metrics_port;	     /* Prometheus metrics (default 2112; 0 = off) */
	const char *metrics_host;    /* (default: host) */
	int validity_s;		     /* certificate lifetime (default 600) */
	const char *client_algs;     /* --client-signing-algorithms, NULL = Fulcio's defaults */
	unsigned threads;	     /* worker threads (default: number of CPUs) */
	const char *port_file;	     /* if set, the bound port is written here once listening */
	struct ct_client *ct;	     /* CT log to submit precerts to (borrowed: free it after
				     * ca_server_stop, also when a reload replaced it);
				     * NULL = no CT, detached empty SCT */
	struct fc_httpd_limits http; /* the HTTP front's deadlines and caps (0 = defaults) */
	/* Appends more Prometheus text to /metrics (the signer process's
	 * counters); NULL = none. Called on the metrics thread. */
	void (*metrics_extra)(void *arg, struct fc_buf *out);
	void *metrics_extra_arg;
	struct rl_limiter *ratelimit; /* per-identity rate limits, checked before issuing
				       * (borrowed: free it after ca_server_stop); NULL = none */
	struct ca_trust_docs trust;   /* copied at start; see ca_server_set_trust */
};

void ca_server_options_default(struct ca_server_options *o);

struct ca_server;

/*
 * A CA issues with signer and chain (issuing CA first; takes ownership of
 * both). The caller checks the chain first (ca_chain_check) where that is
 * wanted; ephemeral chains need no check.
 */
struct ca_authority;
enum fc_status ca_authority_new(struct hsm_signer *signer, struct ca_chain *chain,
				struct ca_authority **out, struct fc_err *err);
void ca_authority_free(struct ca_authority *a);

/* Start serving; returns once the listeners are up. Takes ownership of
 * authority, verifier and cfg (the verifier made over cfg) on success only. */
enum fc_status ca_server_start(const struct ca_server_options *opts, struct oidc_verifier *verifier,
			       struct cfg_identity *cfg, struct ca_authority *authority,
			       struct ca_server **out, struct fc_err *err);

/*
 * Serve a new identity configuration and the verifier made over it (takes
 * both; SIGHUP reload): new requests use them, and GET
 * /api/v2/configuration lists its issuers; requests in flight, those
 * waiting for an identity provider's keys included, finish with the
 * previous pair, which is freed (its verifier's fetch thread ended) when
 * the last of them is done.
 */
void ca_server_replace_identity(struct ca_server *s, struct cfg_identity *cfg,
				struct oidc_verifier *verifier);
/* Count a refused reload of the identity configuration (metrics); the
 * caller logs why and the previous configuration stays. */
void ca_server_identity_reload_failed(struct ca_server *s);

/* Swap in a new authority (SIGHUP reload); requests in flight finish with
 * the old one, which is freed when the last of them is done. */
void ca_server_replace_authority(struct ca_server *s, struct ca_authority *authority);

/*
 * Log new certificates through ct from now on (a reload of the CT logs,
 * e.g. a new log shard): requests in flight finish with the client they
 * started with, which is freed once none holds it (ca_server_tick; the
 * first client, from the options, stays the caller's). Takes ct on FC_OK;
 * FC_ECONFIG (ct left to the caller) when the server runs without CT,
 * which only a restart changes. Warns, as at start, when a log does not
 * list the CA's root.
 */
enum fc_status ca_server_replace_ct(struct ca_server *s, struct ct_client *ct, struct fc_err *err);
/* Free what reloads replaced once nothing uses it; call now and then, from
 * one thread at a time. */
void ca_server_tick(struct ca_server *s);

/* Serve these trust files from now on (copied; a request in flight keeps
 * the copy it took). */
void ca_server_set_trust(struct ca_server *s, const struct ca_trust_docs *docs);

/* Stop accepting, finish requests in flight, free everything. */
void ca_server_stop(struct ca_server *s);

#endif /* FULCRUM_CA_H */
