/*
 * ctlog: `fulcrum ctlog`, a Certificate Transparency log with the RFC 6962
 * submission API (add-chain, add-pre-chain, get-roots) and the Static CT
 * API read path (c2sp.org/static-ct-api: checkpoint, tiles, issuers),
 * stored as files whose paths are the URL paths, so any static web server
 * can serve the same directory. See docs/ctlog.md. The RFC 6962 wire
 * format its SCTs are built with is ct/'s (ct.h), shared with the CA's CT
 * client.
 */
#ifndef FULCRUM_CTLOG_H
#define FULCRUM_CTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "hsm.h"

/* Hard limits, checked before parsing. */
#define CTLOG_SRV_MAX_BODY (512 * 1024) /* an add-(pre-)chain request body */
#define CTLOG_SRV_MAX_CHAIN 10		/* certificates in a submitted chain */
#define CTLOG_SRV_MAX_CERT (64 * 1024)	/* one certificate, DER */
#define CTLOG_SRV_MAX_ROOTS 1024	/* certificates in the --roots file */
#define CTLOG_SRV_MAX_ROOTS_FILE (8 * 1024 * 1024)
#define CTLOG_SRV_MAX_PENDING 32768 /* submissions waiting for a batch (then 503) */
#define CTLOG_SRV_MAX_BATCH 65536   /* upper bound of --batch-max-size */

/* Defaults (TesseraCT's batch age; a larger batch size than its 256 so
 * that 2,000 entries/s fit in four batches a second). */
#define CTLOG_SRV_DEFAULT_BATCH_AGE_MS 250
#define CTLOG_SRV_DEFAULT_BATCH_SIZE 1024

/* Extended key usages the leaf filter knows (--ext-key-usages). */
enum ctlog_eku {
	CTLOG_EKU_SERVER_AUTH = 1u << 0,
	CTLOG_EKU_CLIENT_AUTH = 1u << 1,
	CTLOG_EKU_CODE_SIGNING = 1u << 2,
	CTLOG_EKU_EMAIL_PROTECTION = 1u << 3,
	CTLOG_EKU_TIME_STAMPING = 1u << 4,
	CTLOG_EKU_OCSP_SIGNING = 1u << 5,
	CTLOG_EKU_ANY = 1u << 6, /* "Any": no filter */
};

/*
 * Parse a comma-separated list of TesseraCT's names ("ServerAuth",
 * "ClientAuth", "CodeSigning", "EmailProtection", "TimeStamping",
 * "OCSPSigning", "Any") into a mask; an empty list means Any.
 * FC_ECONFIG naming the unknown name.
 */
enum fc_status ctlog_eku_parse(const char *list, unsigned *mask, struct fc_err *err);

struct ctlog_server_config {
	const char *storage_dir;   /* created if absent; the read path lives here */
	const char *roots_path;	   /* PEM file of accepted roots */
	const char *origin;	   /* checkpoint origin: submission prefix without scheme */
	struct hsm_signer *signer; /* the log key (ECDSA P-256); borrowed, outlives the server */
	unsigned batch_max_age_ms; /* 0 = CTLOG_SRV_DEFAULT_BATCH_AGE_MS */
	unsigned batch_max_size;   /* 0 = CTLOG_SRV_DEFAULT_BATCH_SIZE */
	unsigned sign_threads;	   /* threads signing SCTs (0 = one per CPU, at most 16) */
	unsigned eku_mask;	   /* CTLOG_EKU_*; 0 or CTLOG_EKU_ANY = no filter */
	bool has_not_after_start;  /* accept only leaves with NotAfter >= this */
	int64_t not_after_start;   /* seconds since the epoch */
	bool has_not_after_limit;  /* accept only leaves with NotAfter < this */
	int64_t not_after_limit;
};

struct ctlog_server;

/*
 * Open the log: load the roots, lock the storage directory, check the
 * stored state (checkpoint signature and origin, checkpoint against the
 * tiles, entry log against the checkpoint), publish entries that were
 * stored but not yet published, and start the sequencer thread. A fresh
 * directory gets an empty log. FC_ECONFIG (bad flags, key or roots) or
 * FC_EIO (storage that fails its check, with the reason) in err; free
 * *out with ctlog_server_free.
 */
enum fc_status ctlog_server_open(const struct ctlog_server_config *cfg, struct ctlog_server **out,
				 struct fc_err *err);

/*
 * The HTTP handler (an fc_http_handler_fn, ctx = the server): the
 * submission API under /ct/v1/ and under the origin's path (origin
 * "host/2026": /2026/ct/v1/ too), the read path (/checkpoint, /tile/...,
 * /issuer/...) and /healthz. Submissions are answered later, from the
 * sequencer thread, once their entry is durably stored and published.
 */
void ctlog_server_handle(void *ctx, struct fc_http_exchange *x);

/* The RFC 6962 LogID (SHA-256 of the log key's SubjectPublicKeyInfo). */
const uint8_t *ctlog_server_log_id(const struct ctlog_server *s);

/*
 * Stop the sequencer once every pending submission is answered, then free.
 * Call after fc_httpd_stop (which waits for those answers). NULL is fine.
 */
void ctlog_server_free(struct ctlog_server *s);

#endif /* FULCRUM_CTLOG_H */
