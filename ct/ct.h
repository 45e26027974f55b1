/*
 * ct: Certificate Transparency as the CA needs it. The RFC 6962 wire
 * format (SignedCertificateTimestamp, DigitallySigned, the SCT list, the
 * signature input, the add-chain JSON answer, limits), SCT verification,
 * and the CA's CT client (add-pre-chain, get-roots). The log server
 * behind `fulcrum ctlog` (ctlog/) uses the wire format from here too.
 */
#ifndef FULCRUM_CT_H
#define FULCRUM_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/*
 * sct.c: RFC 6962 wire structures, usable by both sides (the client here,
 * the log server in ctlog/ to build and answer its SCTs). All parsers take
 * untrusted bytes and refuse truncation, trailing bytes and lengths outside
 * the TLS bounds.
 */

#define CT_LOG_ID_LEN 32
#define CT_MAX_SCT_EXTENSIONS 0xffff		/* CtExtensions<0..2^16-1> */
#define CT_MAX_SCT_SIGNATURE 0xffff		/* DigitallySigned.signature<0..2^16-1> */
#define CT_MAX_TBS 0xffffff			/* TBSCertificate<1..2^24-1> */
#define CT_MAX_RESPONSE (64 * 1024)		/* an add-(pre-)chain answer from a log */
#define CT_MAX_ROOTS_RESPONSE (8 * 1024 * 1024) /* a get-roots answer */
#define CT_MAX_SCT_LIST 16			/* SCTs in one SignedCertificateTimestampList */
#define CT_SCT_FUTURE_SKEW_MS 60000		/* an SCT may be this far ahead of our clock */
#define CT_SCT_MAX_AGE_MS (24LL * 3600 * 1000)	/* ... and at most this far behind */

/* RFC 6962 3.1 LogEntryType. */
enum ct_entry_type {
	CT_ENTRY_X509 = 0,
	CT_ENTRY_PRECERT = 1,
};

/* RFC 5246 7.4.1.4.1 HashAlgorithm / SignatureAlgorithm values CT uses. */
#define CT_HASH_SHA256 4
#define CT_SIG_RSA 1
#define CT_SIG_ECDSA 3

/* RFC 6962 3.2 SignedCertificateTimestamp (v1), decoded. */
struct ct_sct {
	uint8_t version;	       /* 0 = v1, the only one accepted */
	uint8_t log_id[CT_LOG_ID_LEN]; /* SHA-256 of the log key's SPKI */
	uint64_t timestamp;	       /* milliseconds since the epoch */
	uint8_t *extensions;	       /* owned (may be NULL when ext_len == 0) */
	size_t ext_len;		       /* kept verbatim: static-CT logs put leaf_index here */
	uint8_t hash_alg;	       /* CT_HASH_SHA256 */
	uint8_t sig_alg;	       /* CT_SIG_ECDSA or CT_SIG_RSA */
	uint8_t *sig;		       /* owned: DER ECDSA-Sig-Value or PKCS#1 v1.5 block */
	size_t sig_len;
};

/* Free what sct owns and zero it (the struct itself is the caller's). */
void ct_sct_clear(struct ct_sct *sct);
/* Deep copy src into *dst (dst is overwritten, not cleared first). */
void ct_sct_copy(struct ct_sct *dst, const struct ct_sct *src);

/* TLS serialisation of one SCT (RFC 6962 3.2), appended to out: the form
 * embedded in certificates and sent in the detached form. FC_EINPUT if a
 * field exceeds its TLS bound, FC_ETOOBIG if out's cap is hit. */
enum fc_status ct_sct_encode(const struct ct_sct *sct, struct fc_buf *out);
/* Parse exactly one serialized SCT covering all of p[0..len). FC_EINPUT
 * (truncated, trailing bytes, version != 0) with the reason in err. */
enum fc_status ct_sct_parse(const uint8_t *p, size_t len, struct ct_sct *out, struct fc_err *err);

/* DigitallySigned (RFC 5246 4.7): hash(1) signature(1) opaque<0..2^16-1>. */
enum fc_status ct_digitally_signed_encode(uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig,
					  size_t sig_len, struct fc_buf *out);
enum fc_status ct_digitally_signed_parse(const uint8_t *p, size_t len, uint8_t *hash_alg,
					 uint8_t *sig_alg, uint8_t **sig, size_t *sig_len,
					 struct fc_err *err);

/*
 * The input of an SCT signature (RFC 6962 3.2 digitally-signed struct),
 * appended to out: version 0, signature_type certificate_timestamp (0),
 * timestamp, entry_type, the signed entry, extensions.
 * precert: issuer_key_hash = SHA-256 of the final issuer's SPKI, tbs = the
 * precertificate's TBSCertificate without the poison extension.
 * x509: cert = the whole DER certificate.
 * The TimestampedEntry of a Merkle leaf (3.4) is this minus its first two
 * bytes. FC_EINPUT if a length is outside its bound (TBS/cert 1..2^24-1,
 * extensions 0..2^16-1).
 */
enum fc_status ct_signed_data_precert(uint64_t timestamp,
				      const uint8_t issuer_key_hash[CT_LOG_ID_LEN],
				      const uint8_t *tbs, size_t tbs_len, const uint8_t *ext,
				      size_t ext_len, struct fc_buf *out);
enum fc_status ct_signed_data_x509(uint64_t timestamp, const uint8_t *cert, size_t cert_len,
				   const uint8_t *ext, size_t ext_len, struct fc_buf *out);

/*
 * SignedCertificateTimestampList (RFC 6962 3.3): uint16 total length, then
 * each SCT as uint16 length + ct_sct_encode bytes. ct_sct_list_encode
 * writes the TLS list only; ct_sct_list_ext_value wraps it in the DER
 * OCTET STRING that is the extnValue content of extension
 * 1.3.6.1.4.1.11129.2.4.2. ct_sct_list_parse takes the TLS list (not the
 * OCTET STRING); *out is an array of *n SCTs (free each with
 * ct_sct_clear, then the array with free()). At most CT_MAX_SCT_LIST; any
 * malformed SCT fails the whole list with FC_EINPUT and the reason, *out
 * and *n untouched.
 */
enum fc_status ct_sct_list_encode(const struct ct_sct *scts, size_t n, struct fc_buf *out);
enum fc_status ct_sct_list_ext_value(const struct ct_sct *scts, size_t n, struct fc_buf *out);
enum fc_status ct_sct_list_parse(const uint8_t *p, size_t len, struct ct_sct **out, size_t *n,
				 struct fc_err *err);

/* RFC 6962 3.2 LogID of key: SHA-256 of its DER SubjectPublicKeyInfo. Also
 * the issuer_key_hash of a precert entry when key is the issuer's.
 * FC_EINTERNAL if the key cannot be encoded. */
enum fc_status ct_key_hash(EVP_PKEY *key, uint8_t out[CT_LOG_ID_LEN]);

/* The add-chain / add-pre-chain response (RFC 6962 4.1) for sct, as compact
 * JSON built with jansson (caller frees). */
char *ct_sct_to_json(const struct ct_sct *sct);
/* Parse such a response (duplicate keys refused, every field type-checked,
 * base64 strict). FC_EUPSTREAM with the reason. */
enum fc_status ct_sct_from_json(const uint8_t *body, size_t len, struct ct_sct *out,
				struct fc_err *err);

/*
 * Verify sct against the log key and the signed data built by the caller:
 * version 0, log_id = SHA-256 of log_key's SPKI, hash SHA-256, signature
 * type matching the key (ECDSA or RSA), signature valid over signed_data;
 * and timestamp no more than CT_SCT_FUTURE_SKEW_MS ahead of now_ms nor
 * more than CT_SCT_MAX_AGE_MS behind it. FC_EUPSTREAM with the reason.
 */
enum fc_status ct_sct_verify(const struct ct_sct *sct, EVP_PKEY *log_key,
			     const uint8_t *signed_data, size_t signed_len, int64_t now_ms,
			     struct fc_err *err);
/* The same with the log id (ct_key_hash of log_key) computed once by
 * the caller: hashing the key means encoding it, which OpenSSL 3.0 makes
 * costly enough to matter per certificate. */
enum fc_status ct_sct_verify_id(const struct ct_sct *sct, EVP_PKEY *log_key,
				const uint8_t log_id[CT_LOG_ID_LEN], const uint8_t *signed_data,
				size_t signed_len, int64_t now_ms, struct fc_err *err);

/*
 * The CT client of the CA (client.c, logs.c, policy.c, config.c,
 * metrics.c): several logs, reached over HTTP(S) with libcurl's multi
 * interface on one I/O thread (a submission costs no thread while a log
 * sequences its batch), and a policy: at least k verified SCTs from logs
 * of at least m distinct operators, or no certificate.
 */

#define CT_DEFAULT_URL "http://localhost:6962/test" /* Fulcio's default */
#define CT_DEFAULT_TIMEOUT_MS 10000
#define CT_DEFAULT_STAGGER_MS 500
#define CT_MAX_IN_FLIGHT 16384	   /* submissions at once; more: FC_EUNAVAIL */
#define CT_MAX_CHAIN 10		   /* certificates in one add-pre-chain */
#define CT_MAX_LOGS 8		   /* logs of one CA */
#define CT_MAX_CONFIG (256 * 1024) /* a --ct-log-config file */
/* The circuit breaker of each log (when there are several). */
#define CT_DEFAULT_BREAKER_FAILURES 3		/* failures in a row that open it */
#define CT_DEFAULT_BREAKER_BACKOFF_MS 1000	/* first open period, doubled ... */
#define CT_DEFAULT_BREAKER_MAX_BACKOFF_MS 60000 /* ... up to this */
#define CT_DEFAULT_SLOW_MS                                                                         \
	3000 /* no answer after this (or half the deadline, if
				 * shorter) counts as a failure */

/* One log of the CA's policy. */
struct ct_log_options {
	const char *url;	     /* the log prefix, e.g. http://localhost:6962/test */
	const char *public_key_path; /* PEM public key of the log, or ... */
	const char *public_key_pem;  /* ... the PEM text itself (one of the two) */
	const char *operator_name;   /* who runs it; NULL: the URL (a log of its own) */
	const char *origin;	     /* Host header override (--ct-log-origin), or NULL */
	const char *tls_ca_cert;     /* extra CA bundle (PEM) for HTTPS, or NULL */
	/* A temporal shard takes only certificates whose NotAfter is in
	 * [not_after_start, not_after_limit) (seconds since the epoch). */
	bool has_not_after_start;
	int64_t not_after_start;
	bool has_not_after_limit;
	int64_t not_after_limit;
};

struct ct_client_options {
	/* The logs: logs[0..n_logs), or, when n_logs is 0, the one log of
	 * the fields below (today's single-log form). */
	const struct ct_log_options *logs;
	size_t n_logs;
	const char *url;
	const char *public_key_path;
	const char *origin;
	const char *tls_ca_cert;
	unsigned timeout_ms;	/* deadline of one certificate's submissions, retries
				 * included (0 = CT_DEFAULT_TIMEOUT_MS) */
	unsigned min_scts;	/* k: verified SCTs needed (0 = 1) */
	unsigned min_operators; /* m: distinct operators among them (0 = 1) */
	unsigned stagger_ms;	/* delay before asking one more log (0 = all at once) */
	/* Circuit breaker: failures in a row that open a log's breaker (0 =
	 * CT_DEFAULT_BREAKER_FAILURES when there are several logs, none with
	 * one log; < 0 = never), its first and longest open period and the
	 * latency that counts as a failure (0 = the defaults above). */
	int breaker_failures;
	unsigned breaker_backoff_ms;
	unsigned breaker_max_backoff_ms;
	unsigned slow_ms;
};

/* Parse a duration flag: "10s", "500ms", "1m", or plain seconds ("10",
 * "2.5"). FC_ECONFIG unless 1 ms <= value <= 10 min. */
enum fc_status ct_parse_duration_ms(const char *s, unsigned *ms, struct fc_err *err);

/*
 * A CT configuration file (--ct-log-config), YAML or JSON:
 *   timeout: 10s            stagger: 500ms
 *   policy: {min_scts: 2, min_operators: 2}
 *   breaker: {failures: 3, backoff: 1s, max_backoff: 1m, slow: 3s}
 *   logs:
 *     - url: https://ct.example.com/2026h1
 *       public_key_path: /etc/fulcrum/ct1.pub   (or public_key: <PEM text>)
 *       operator: Example
 *       origin: ct.example.com/2026h1            (optional)
 *       tls_ca_cert: /etc/fulcrum/ct-ca.pem      (optional)
 *       not_after_start: 2026-01-01T00:00:00Z    (optional, RFC 3339)
 *       not_after_limit: 2026-07-01T00:00:00Z    (optional)
 * Unknown keys, duplicate keys and values of the wrong type are refused
 * (FC_ECONFIG naming the key). The options point into *out: keep it until
 * ct_client_new has returned, then ct_config_free.
 */
struct ct_config;
enum fc_status ct_config_load(const char *path, struct ct_config **out, struct fc_err *err);
enum fc_status ct_config_parse(const char *text, size_t len, const char *name,
			       struct ct_config **out, struct fc_err *err);
struct ct_client_options *ct_config_options(struct ct_config *cfg);
void ct_config_free(struct ct_config *cfg);

struct ct_client;

/* Load every log key, compute the LogIDs, check the policy can be met by
 * the logs at all, start the I/O thread. FC_ECONFIG with the reason; free
 * *out with ct_client_free. */
enum fc_status ct_client_new(const struct ct_client_options *o, struct ct_client **out,
			     struct fc_err *err);
/* The number of logs, and the LogID and URL (given at creation) of log i. */
size_t ct_client_log_count(const struct ct_client *c);
const uint8_t *ct_client_log_id(const struct ct_client *c, size_t i);
const char *ct_client_url(const struct ct_client *c, size_t i);

/*
 * GET <url of log i>/ct/v1/get-roots (blocking, one attempt within the
 * deadline) and say whether root (DER) is among them in *found.
 * FC_EUPSTREAM / FC_EUNAVAIL with the reason when the log cannot be asked.
 */
enum fc_status ct_client_has_root(struct ct_client *c, size_t i, const uint8_t *root_der,
				  size_t root_len, bool *found, struct fc_err *err);

/* A precertificate to log and what its SCTs must sign (all borrowed during
 * the call only: the client copies them). */
struct ct_precert {
	const uint8_t *const *chain; /* DER: precert, issuing CA, ..., root */
	const size_t *chain_len;
	size_t n;			/* 2 .. CT_MAX_CHAIN */
	const uint8_t *issuer_key_hash; /* CT_LOG_ID_LEN bytes */
	const uint8_t *tbs;		/* precert TBS without the poison */
	size_t tbs_len;
	int64_t not_after; /* its NotAfter (seconds): picks the shards */
};

/*
 * Called exactly once per accepted submission, on the client's I/O thread
 * (also when ct_client_free fails what is still in flight). st == FC_OK:
 * the policy is met; scts[0..n) (borrowed for the call) are every SCT
 * obtained until then, each verified against its own log's key and LogID
 * and the precert's signed data, in the order they arrived. Otherwise err
 * says why (with one log, that log's own reason):
 *   FC_EUNAVAIL  a log kept answering 408/429/503, could not be reached or
 *                did not answer within the deadline, its breaker is open,
 *                or the client is shutting down
 *   FC_EINTERNAL a log answered 400: what we sent is wrong (its reason)
 *   FC_EUPSTREAM any other status, or an answer that is not a valid,
 *                verifiable SCT for this precert
 * With several logs and failures of several kinds, FC_EUNAVAIL wins, then
 * FC_EUPSTREAM. The callback may do heavy work (sign the final
 * certificate), but should not block for long: it delays every other
 * submission.
 */
typedef void (*ct_done_fn)(void *arg, enum fc_status st, const struct ct_sct *scts, size_t n,
			   const struct fc_err *err);

/*
 * Start the submissions for p; returns at once. FC_OK: done(arg, ...)
 * will be called exactly once. Otherwise (bad input, too many in flight,
 * shutting down) done is never called and err says why.
 */
enum fc_status ct_client_submit_precert(struct ct_client *c, const struct ct_precert *p,
					ct_done_fn done, void *arg, struct fc_err *err);

/* Submissions started and not yet completed (metrics, tests). */
unsigned ct_client_in_flight(const struct ct_client *c);

/*
 * Append the client's metrics (Prometheus text format 0.0.4) to out: per
 * log, submissions, verified SCTs, the SCT latency histogram, failures by
 * kind and the breaker's state; per certificate, the policy met or not.
 */
void ct_client_metrics_text(const struct ct_client *c, struct fc_buf *out);

/*
 * Stop: every submission still in flight completes with FC_EUNAVAIL
 * ("shutting down"), then the I/O thread ends and everything is freed.
 * NULL is fine.
 */
void ct_client_free(struct ct_client *c);

#endif /* FULCRUM_CT_H */
