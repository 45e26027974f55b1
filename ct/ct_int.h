/*
 * Internals of the ct module's CA client, shared by its files and its unit
 * tests only; no other folder includes this header.
 */
#ifndef FULCRUM_CT_INT_H
#define FULCRUM_CT_INT_H

#include <curl/curl.h>
#include <stdatomic.h>

#include "ct.h"

/* --- policy.c: which logs to ask, and when the policy is met ------------------ */

/* At least min_scts verified SCTs from logs of at least min_operators
 * distinct operators. */
struct ct_policy {
	unsigned min_scts;
	unsigned min_operators;
};

/* One log's part in the submissions of one certificate. */
enum ct_slot {
	CT_SLOT_IDLE = 0, /* not asked (yet) */
	CT_SLOT_RUNNING,  /* asked, no answer yet */
	CT_SLOT_RETRYING, /* failed once, will try again after a backoff */
	CT_SLOT_OK,	  /* a verified SCT */
	CT_SLOT_FAILED,	  /* gave up on it for this certificate */
};

struct ct_slot_view {
	enum ct_slot state;
	unsigned op;   /* operator index (< CT_MAX_LOGS) */
	bool eligible; /* may be asked now: its shard takes the certificate and
			* its breaker lets it be asked */
};

enum ct_plan_result {
	CT_PLAN_MET,	    /* the OK logs meet the policy */
	CT_PLAN_IMPOSSIBLE, /* not even if every log still in play answered */
	CT_PLAN_WAIT,	    /* neither yet; launch[] says which idle logs to ask now */
};

/* Does this set of SCTs (their operators' indices) meet p? */
bool ct_policy_met(const struct ct_policy *p, const unsigned *ops, size_t n);

/*
 * Decide for one certificate (Boulder's staggered race, generalised to k
 * SCTs from m operators). MET and IMPOSSIBLE as above. Otherwise set
 * launch[i] for the idle eligible logs to ask at once: in configuration
 * order, as many as it takes for the logs asked and not failed (running
 * or OK) to meet the policy should they all answer, preferring a new
 * operator while operators are missing (the first logs at once, and a
 * replacement at once when one fails); then, if stagger_due, up to extra
 * more (the next log after the stagger delay).
 */
enum ct_plan_result ct_plan(const struct ct_policy *p, const struct ct_slot_view *v, size_t n,
			    bool stagger_due, size_t extra, bool *launch);

/*
 * The circuit breaker of one log. Closed: asked normally; `failures`
 * failures in a row open it. Open: not asked until its backoff has passed
 * (the backoff doubles at each reopening, up to max_backoff_ms). Then
 * half-open: exactly one submission (the probe) is let through; its
 * success closes the breaker (backoff reset), its failure reopens it.
 * failures == 0: never opens. Times are fc_mono_ms() milliseconds.
 */
enum ct_breaker_state {
	CT_BREAKER_CLOSED = 0,
	CT_BREAKER_OPEN = 1,
	CT_BREAKER_HALF_OPEN = 2,
};

struct ct_breaker_cfg {
	unsigned failures;
	int64_t backoff_ms;
	int64_t max_backoff_ms;
};

struct ct_breaker {
	enum ct_breaker_state state;
	unsigned fails;	    /* failures in a row (closed) */
	int64_t backoff_ms; /* of the current (or next) open period */
	int64_t open_until;
	bool probing; /* half-open: the probe is out */
};

void ct_breaker_init(struct ct_breaker *b, const struct ct_breaker_cfg *cfg);
/* Would the log be asked now (no side effect)? */
bool ct_breaker_would_allow(const struct ct_breaker *b, int64_t now);
/* Ask it: false when open (or half-open with the probe out); *probe is
 * true when this submission is the half-open probe. */
bool ct_breaker_allow(struct ct_breaker *b, int64_t now, bool *probe);
/* The outcome of one request: ok (a verified SCT, not slow) or a failure.
 * probe: it was the probe. Results of other requests while open or
 * half-open are ignored. */
void ct_breaker_record(struct ct_breaker *b, const struct ct_breaker_cfg *cfg, int64_t now, bool ok,
		       bool probe);

/* --- metrics.c ------------------------------------------------------------------- */

/* Why a request to a log failed (the failures_total metric's kinds). */
enum ct_fail_kind {
	CT_FAIL_UNREACHABLE = 0, /* connection refused, DNS, TLS ... */
	CT_FAIL_TIMEOUT,	 /* no answer within the deadline */
	CT_FAIL_THROTTLED,	 /* 408, 429 or 503 */
	CT_FAIL_REFUSED,	 /* 400: the log refused the chain */
	CT_FAIL_HTTP,		 /* any other status */
	CT_FAIL_BAD_ANSWER,	 /* 200 with something that is not an SCT */
	CT_FAIL_BAD_SCT,	 /* an SCT that does not verify (key, log id, time) */
	CT_FAIL_SLOW,		 /* no answer after the slow threshold (breaker) */
	CT_FAIL_KINDS
};

#define CT_LATENCY_BUCKETS 11

struct ct_log_metrics {
	atomic_ulong submissions; /* add-pre-chain requests sent */
	atomic_ulong scts;	  /* verified SCTs */
	atomic_ulong failures[CT_FAIL_KINDS];
	atomic_ulong latency[CT_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative */
	atomic_ulong latency_sum_us;
	atomic_int breaker_state; /* enum ct_breaker_state */
	atomic_ulong breaker_opens;
};

/* Count one verified SCT that took ms milliseconds. */
void ct_metrics_sct(struct ct_log_metrics *m, int64_t ms);

/* --- logs.c: one configured log ------------------------------------------------- */

struct ct_log {
	char *url; /* without trailing '/' */
	char *add_pre_chain_url;
	char *get_roots_url;
	char *operator_name;
	unsigned op; /* index of its operator among the client's */
	char *tls_ca;
	EVP_PKEY *key;
	uint8_t log_id[CT_LOG_ID_LEN];
	struct curl_slist *headers; /* POST headers, shared by every transfer */
	struct curl_slist *get_headers;
	bool has_not_after_start, has_not_after_limit;
	int64_t not_after_start, not_after_limit;
	struct ct_breaker br; /* the I/O thread only */
	struct ct_log_metrics m;
};

/* Load log o (key from file or PEM, URL, headers) into l (zeroed first).
 * FC_ECONFIG with the reason, l then to be cleared with ct_log_clear. */
enum fc_status ct_log_init(struct ct_log *l, const struct ct_log_options *o, struct fc_err *err);
void ct_log_clear(struct ct_log *l);
/* Does log l take a certificate whose NotAfter is not_after (its shard)? */
bool ct_log_takes(const struct ct_log *l, int64_t not_after);
/* libcurl options shared by every transfer to l (URL, protocols, timeouts,
 * TLS, error buffer). False if libcurl refuses one. */
bool ct_log_easy_setup(const struct ct_log *l, CURL *e, const char *url, long timeout_ms,
		       char *errbuf);

/* GET get-roots of l (RFC 6962 4.7): is root_der among them? */
enum fc_status ct_log_has_root(const struct ct_log *l, unsigned timeout_ms, const uint8_t *root_der,
			       size_t root_len, bool *found, struct fc_err *err);

/* --- client.c, for metrics.c ------------------------------------------------------ */

const struct ct_log *ct_client_log(const struct ct_client *c, size_t i);
/* Certificates whose policy was met, and failed. */
void ct_client_policy_counts(const struct ct_client *c, unsigned long *met, unsigned long *failed);

#endif /* FULCRUM_CT_INT_H */
