/*
 * tsa: an RFC 3161 time-stamp authority with sigstore timestamp-authority's
 * HTTP API (`fulcrum tsa`). Requests are parsed here (DER TimeStampReq or
 * sigstore's JSON form), the TSTInfo and the CMS SignedData around it are
 * built with OpenSSL's TS and PKCS#7 code, and the one signature over the
 * signed attributes is made through an hsm_signer: no private key is ever
 * held in this module.
 *
 * A struct tsa is safe to use from many threads at once.
 */
#ifndef FULCRUM_TSA_H
#define FULCRUM_TSA_H

#include <openssl/asn1.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct hsm_signer;

/* sigstore timestamp-authority's --default-policy-oid and
 * --accepted-policy-oids defaults (the Sigstore TSA policy arc). */
#define TSA_DEFAULT_POLICY_OID "1.3.6.1.4.1.57264.2"

/* Hard limits, checked before parsing. */
#define TSA_MAX_JSON_BODY 1024		 /* a JSON request (sigstore's maxJSONRequestBytes) */
#define TSA_MAX_BODY_DEFAULT (64 * 1024) /* any request body (--max-request-body-size) */
#define TSA_MAX_BODY_LIMIT (1024 * 1024) /* the most --max-request-body-size allows */
#define TSA_MAX_OID_ARCS 128		 /* a JSON tsaPolicyOID (sigstore's parseOID) */
#define TSA_MAX_CHAIN 8			 /* certificates in --certificate-chain */
#define TSA_MAX_CHAIN_FILE (256 * 1024)	 /* bytes of --certificate-chain */
#define TSA_MAX_POLICIES 16		 /* accepted policy OIDs */

/* The most a digest can be (SHA-512). */
#define TSA_MAX_DIGEST 64

/*
 * Why a request is refused; each has sigstore timestamp-authority's
 * client-facing message (tsa_refusal_message) and is answered 400.
 */
enum tsa_refusal {
	TSA_REFUSE_NONE = 0,
	TSA_REFUSE_MALFORMED,	  /* unparsable, unknown hash, bad base64, ... */
	TSA_REFUSE_WEAK_HASH,	  /* SHA-1 */
	TSA_REFUSE_DIGEST_LENGTH, /* digest length does not match its algorithm */
	TSA_REFUSE_POLICY,	  /* reqPolicy not among the accepted ones */
	TSA_REFUSE_EXTENSION,	  /* request extensions (never accepted) */
	TSA_REFUSE_LONG_OID,	  /* a JSON tsaPolicyOID that does not parse */
	TSA_REFUSE_TOO_LARGE,	  /* a JSON request over TSA_MAX_JSON_BODY */
};

/* sigstore timestamp-authority's message for a refusal. */
const char *tsa_refusal_message(enum tsa_refusal why);

/* A parsed TimeStampReq (RFC 3161 2.4.1), from DER or JSON. */
struct tsa_request {
	int hash_nid;			/* NID_sha256, NID_sha384 or NID_sha512 */
	uint8_t digest[TSA_MAX_DIGEST]; /* hashedMessage */
	size_t digest_len;
	ASN1_INTEGER *nonce; /* NULL: none */
	ASN1_OBJECT *policy; /* reqPolicy; NULL: none (the TSA's default) */
	bool cert_req;	     /* certReq: put the signing certificate in */
	bool has_extensions; /* the request carries extensions */
};

/*
 * Parse a DER TimeStampReq (RFC 3161 2.4.1) the way sigstore's TSA does:
 * no trailing bytes, a non-empty hashedMessage, SHA-256/384/512 (SHA-1:
 * TSA_REFUSE_WEAK_HASH), a digest of the algorithm's length. FC_OK with *out
 * (free with tsa_request_free), else FC_EINPUT with *why and the reason in
 * err.
 */
enum fc_status tsa_request_parse_der(const uint8_t *der, size_t len, struct tsa_request **out,
				     enum tsa_refusal *why, struct fc_err *err);

/*
 * Parse sigstore's JSON request: {"artifactHash": base64 digest,
 * "hashAlgorithm": "sha256"|"sha384"|"sha512" (any case), "nonce": integer,
 * "certificates": bool, "tsaPolicyOID": "1.2.3"}; keys match in any case,
 * as Go's encoding/json does. At most TSA_MAX_JSON_BODY bytes
 * (TSA_REFUSE_TOO_LARGE). Same result convention as tsa_request_parse_der.
 */
enum fc_status tsa_request_parse_json(const uint8_t *body, size_t len, struct tsa_request **out,
				      enum tsa_refusal *why, struct fc_err *err);
void tsa_request_free(struct tsa_request *r);

/* How genTime is written: whole seconds (sigstore's TSA) or milliseconds. */
enum tsa_precision {
	TSA_PRECISION_SECONDS = 0,
	TSA_PRECISION_MILLIS = 1,
};

struct tsa_options {
	struct hsm_signer *signer; /* borrowed: must outlive the tsa */
	const char *chain_pem;	   /* signing certificate first, root last */
	size_t chain_pem_len;
	const char *default_policy;	      /* NULL: TSA_DEFAULT_POLICY_OID */
	const char *const *accepted_policies; /* NULL: the default policy only */
	size_t n_accepted;
	bool include_chain;	  /* certReq puts the whole chain in, not the leaf only */
	bool no_intermediate_eku; /* do not require timeStamping on intermediates */
	enum tsa_precision precision;
	bool http_201;		    /* answer 201 Created instead of 200 */
	bool clock_check;	    /* refuse to stamp while the clock is unsynchronised */
	int64_t clock_max_error_us; /* ... or its maximum error is over this */
};

struct tsa;

/*
 * Load the chain, check it against the signer (RFC 3161 2.3: the leaf is
 * not a CA, has exactly one EKU, timeStamping, marked critical; every other
 * certificate is a CA, intermediates carry timeStamping unless
 * no_intermediate_eku; signatures and validity verify; the leaf's key is
 * the signer's) and precompute what every response shares. The signer's key
 * must be EC P-256/P-384/P-521 or RSA with PKCS#1 v1.5. FC_OK with *out,
 * else FC_ECONFIG with the reason in err.
 */
enum fc_status tsa_new(const struct tsa_options *o, struct tsa **out, struct fc_err *err);
void tsa_free(struct tsa *t);

/*
 * Stamp r at now_ms (milliseconds since the epoch): a granted
 * TimeStampResp (RFC 3161 2.4.2) whose token is a SignedData (RFC 5652 5)
 * over a TSTInfo, signed through the signer. A reqPolicy outside the
 * accepted ones and request extensions are refused (FC_EINPUT, *why).
 * FC_OK with *der (caller frees) and *len; FC_EHSM/FC_EUNAVAIL from the
 * signer; reason in err.
 */
enum fc_status tsa_stamp(struct tsa *t, const struct tsa_request *r, int64_t now_ms, uint8_t **der,
			 size_t *len, enum tsa_refusal *why, struct fc_err *err);

/* The chain as PEM (GET /api/v1/timestamp/certchain); borrowed. */
const char *tsa_chain_pem(const struct tsa *t);

/*
 * Whether timestamps may be issued now: the clock is synchronised (or the
 * check is off) and the signer is ready. When not, a reason is written to
 * why (at most n bytes).
 */
bool tsa_ready(struct tsa *t, char *why, size_t n);

/* --- holder.c: the TSA a reload replaces ------------------------------------------- */

/*
 * What `fulcrum tsa` serves: a TSA and its signer, replaced as a whole by
 * a reload (SIGHUP: a new key and chain) while requests in flight finish
 * with the one they started with, which is then freed with its signer.
 */
struct tsa_holder;
/* Serve t, which signs with signer (both taken). */
struct tsa_holder *tsa_holder_new(struct tsa *t, struct hsm_signer *signer);
/* From now on serve t with signer (both taken). */
void tsa_holder_replace(struct tsa_holder *hd, struct tsa *t, struct hsm_signer *signer);
/* The fc_httpd handler (ctx = struct tsa_holder *): tsa_handle with the
 * current TSA. */
void tsa_holder_handle(void *ctx, struct fc_http_exchange *x);
/* tsa_ready of the current TSA. */
bool tsa_holder_ready(struct tsa_holder *hd, char *why, size_t n);
/* Free it with its TSA and signer (NULL is fine), once nothing serves. */
void tsa_holder_free(struct tsa_holder *hd);

/* --- clock.c: is the system clock synchronised? ---------------------------------- */

/* What the kernel says of its clock (adjtimex(2) / ntp_adjtime). */
struct tsa_clock_status {
	bool synchronised;   /* STA_UNSYNC clear and the call did not return TIME_ERROR */
	int64_t maxerror_us; /* the kernel's maximum error estimate */
};

/* Test seam: replace the kernel query; NULL restores adjtimex(2). The
 * function returns false when the status cannot be read. */
void tsa_set_clock_probe(bool (*fn)(struct tsa_clock_status *st));

/*
 * Read the clock's status and judge it: true when synchronised with a
 * maximum error of at most max_error_us; else false and the reason in why.
 */
bool tsa_clock_ok(int64_t max_error_us, char *why, size_t n);

/* --- server.c: the HTTP API ---------------------------------------------------- */

/*
 * The fc_httpd handler (ctx = struct tsa *): POST /api/v1/timestamp,
 * GET /api/v1/timestamp/certchain, GET|HEAD /ping, GET /readyz, with
 * sigstore timestamp-authority's statuses, headers and error bodies.
 */
void tsa_handle(void *ctx, struct fc_http_exchange *x);

#endif /* FULCRUM_TSA_H */
