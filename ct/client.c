/*
 * The CT client of the CA (RFC 6962 4.1 add-pre-chain, 4.7 get-roots) over
 * several logs.
 *
 * One I/O thread drives every request through libcurl's multi interface: a
 * static-CT log answers only once its next batch is sequenced (0.25 to 2
 * s), and thousands of certificates may wait at once without holding a
 * thread each. A certificate (a "job") asks its logs as ct_plan() says:
 * the first ones at once, one more after each --ct-log-stagger, a
 * replacement at once when one fails; it is done as soon as its SCTs meet
 * the policy (the requests still out are then left to finish on their
 * own, for the metrics and the breakers, but no longer wait for), or when
 * the policy can no longer be met, or at its deadline (--ct-log-timeout).
 * Network errors and 408/429/503 are retried with exponential backoff and
 * jitter, honouring Retry-After, until the deadline (while the log's
 * breaker stays closed). Every SCT is verified against its own log (log
 * id, version, signature over the precert's signed data, timestamp) before
 * it counts: no verified SCTs, no certificate.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_int.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define MAX_CONNECTIONS 1024 /* to the logs at once; more requests queue in curl */
#define REASON_MAX 200	     /* bytes of a log's error body we quote */
#define POLL_MAX_MS 1000
#define RECHECK_MS 50 /* a job whose only idle logs are not askable now */

/* An intrusive circular doubly linked list with a sentinel head. */
struct dl {
	struct dl *prev, *next;
};

static void dl_init(struct dl *h)
{
	h->prev = h->next = h;
}

static bool dl_empty(const struct dl *h)
{
	return h->next == h;
}

static void dl_push(struct dl *h, struct dl *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void dl_del(struct dl *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	dl_init(n);
}

#define DL_ENTRY(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct job;

/* The requests of one job to one log: one at a time, retried. */
struct req {
	struct job *job;
	size_t li;	/* the log */
	struct dl link; /* c->active, c->active_slow or c->waiting */
	CURL *easy;
	struct fc_buf resp;
	bool resp_too_big;
	bool probe;	/* the half-open probe of the log's breaker */
	bool slow_seen; /* counted as slow already */
	bool detached;	/* its job is done: only metrics and breaker remain */
	int64_t sent;	/* fc_mono_ms() when the current request was sent */
	int64_t due;	/* waiting: next attempt (fc_mono_ms) */
	unsigned attempt;
	char last[FC_ERR_MSG_MAX]; /* why the last attempt failed (retryable) */
	char curl_err[CURL_ERROR_SIZE];
};

/* One precertificate and its SCTs. */
struct job {
	struct ct_client *c;
	struct job *qnext; /* c->queue, under c->lock */
	struct dl all;	   /* c->jobs: in creation (= deadline) order */
	struct dl stag;	   /* c->staggered: a later launch is pending */
	char *body;	   /* the add-pre-chain JSON */
	uint8_t ikh[CT_LOG_ID_LEN];
	uint8_t *tbs;
	size_t tbs_len;
	int64_t deadline;    /* fc_deadline_ms() */
	int64_t stagger_due; /* fc_mono_ms() of the next staggered launch */
	unsigned refs;	     /* itself until finished, plus each live req */
	bool finished;
	enum ct_slot slot[CT_MAX_LOGS];
	bool in_shard[CT_MAX_LOGS];
	enum fc_status why_st[CT_MAX_LOGS];
	char *why[CT_MAX_LOGS]; /* why log i failed */
	struct req *req[CT_MAX_LOGS];
	struct ct_sct scts[CT_MAX_LOGS];
	unsigned sct_op[CT_MAX_LOGS];
	size_t n_scts;
	ct_done_fn done;
	void *arg;
};

struct ct_client {
	struct ct_log logs[CT_MAX_LOGS];
	size_t n_logs;
	struct ct_policy pol;
	struct ct_breaker_cfg bcfg;
	unsigned timeout_ms, stagger_ms, slow_ms;

	CURLM *multi; /* only the I/O thread touches it (but wakeup) */
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* protects queue and stopping */
	struct job *queue_head, *queue_tail;
	bool stopping;

	/* the I/O thread only */
	struct dl jobs, staggered;
	struct dl active;      /* requests in curl, by the time they were sent */
	struct dl active_slow; /* ... past the slow threshold already */
	struct dl waiting;     /* backing off until due */

	atomic_uint in_flight;
	atomic_ulong policy_met, policy_failed;
};

static void job_step(struct ct_client *c, struct job *j);

/* --- jobs and requests ------------------------------------------------------------ */

static void job_unref(struct job *j)
{
	if (j == NULL || --j->refs > 0)
		return;
	for (size_t i = 0; i < CT_MAX_LOGS; i++) {
		free(j->why[i]);
		ct_sct_clear(&j->scts[i]);
	}
	free(j->body);
	free(j->tbs);
	free(j);
}

static void req_free(struct req *r)
{
	struct job *j = r->job;

	if (r->easy)
		curl_easy_cleanup(r->easy);
	fc_buf_free(&r->resp);
	if (!r->detached && j->req[r->li] == r)
		j->req[r->li] = NULL;
	free(r);
	job_unref(j);
}

/* Keep the breaker's state where the metrics read it; log changes. */
static void breaker_sync(struct ct_log *l, const char *why)
{
	int old = atomic_exchange(&l->m.breaker_state, (int)l->br.state);

	if (old == (int)l->br.state)
		return;
	if (l->br.state == CT_BREAKER_OPEN) {
		atomic_fetch_add(&l->m.breaker_opens, 1);
		fc_log(LOG_WARNING, "ctlog: %s: not asked for %lld ms (circuit breaker open: %s)",
		       l->url, (long long)(l->br.open_until - fc_mono_ms()), why ? why : "failing");
	} else if (l->br.state == CT_BREAKER_CLOSED) {
		fc_log(LOG_NOTICE, "ctlog: %s: answering again (circuit breaker closed)", l->url);
	}
}

/* Count one failed request of r (metrics, breaker). A request already
 * counted as slow is not counted again. */
static void req_count_failure(struct ct_client *c, struct req *r, enum ct_fail_kind kind,
			      const char *why)
{
	struct ct_log *l = &c->logs[r->li];

	atomic_fetch_add(&l->m.failures[kind], 1);
	if (!r->slow_seen) {
		ct_breaker_record(&l->br, &c->bcfg, fc_mono_ms(), false, r->probe);
		breaker_sync(l, why);
	}
}

/*
 * Log r->li gave up for this job: st and the reason go to the job, which
 * then decides what next. A detached request is just freed. The failure
 * is counted by the caller.
 */
static void req_give_up(struct ct_client *c, struct req *r, enum fc_status st, const char *fmt, ...)
	FC_PRINTF(4, 5);
static void req_give_up(struct ct_client *c, struct req *r, enum fc_status st, const char *fmt, ...)
{
	struct job *j = r->job;
	char msg[FC_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The API logs the failure with the request id; a 400 (our bug) is
	 * logged here too, at LOG_ERR, with the log's reason. */
	fc_log(st == FC_EINTERNAL ? LOG_ERR : LOG_DEBUG, "ctlog: %s: %s", c->logs[r->li].url, msg);
	if (r->detached) {
		req_free(r);
		return;
	}
	j->slot[r->li] = CT_SLOT_FAILED;
	j->why_st[r->li] = st;
	free(j->why[r->li]);
	j->why[r->li] = fc_xstrdup(msg);
	req_free(r);
	job_step(c, j);
}

/* libcurl write callback: into the request's capped buffer; past the cap,
 * the transfer is aborted (CURLE_WRITE_ERROR). */
static size_t req_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct req *r = arg;

	if (!fc_buf_append(&r->resp, p, size * n)) {
		r->resp_too_big = true;
		return 0;
	}
	return size * n;
}

/* The printable start of a log's error body, for messages. */
static void quote_body(const struct fc_buf *b, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len && n + 1 < cap && n < REASON_MAX; i++) {
		uint8_t ch = b->data[i];
		out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, cap, "(empty body)");
}

/* A fresh libcurl transfer for r's log, or NULL. */
static CURL *req_easy(struct ct_client *c, struct req *r, long left)
{
	const struct ct_log *l = &c->logs[r->li];
	CURL *e = curl_easy_init();

	if (e == NULL || !ct_log_easy_setup(l, e, l->add_pre_chain_url, left, r->curl_err) ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->job->body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, req_write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK) {
		if (e)
			curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/*
 * Send (or resend) r's request. False when it could not be sent: r is then
 * already given up (and freed).
 */
static bool req_send(struct ct_client *c, struct req *r)
{
	int64_t left = fc_deadline_left_ms(r->job->deadline);

	if (left <= 0) {
		atomic_fetch_add(&c->logs[r->li].m.failures[CT_FAIL_TIMEOUT], 1);
		req_give_up(c, r, FC_EUNAVAIL, "no answer within the deadline of %u ms (%s)",
			    c->timeout_ms, r->last[0] ? r->last : "no attempt made");
		return false;
	}
	r->attempt++;
	fc_buf_reset(&r->resp);
	r->curl_err[0] = '\0';
	r->resp_too_big = false;
	if (r->easy == NULL) {
		r->easy = req_easy(c, r, (long)left);
	} else if (curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
		   curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left) != CURLE_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	if (r->easy == NULL || curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		req_give_up(c, r, FC_EINTERNAL, "cannot start a libcurl transfer");
		return false;
	}
	r->sent = fc_mono_ms();
	r->slow_seen = false;
	atomic_fetch_add(&c->logs[r->li].m.submissions, 1);
	dl_push(&c->active, &r->link);
	return true;
}

/* Ask log li for job j (its breaker has let it). False if it could not. */
static bool job_launch(struct ct_client *c, struct job *j, size_t li, bool probe)
{
	struct req *r = fc_xcalloc(1, sizeof(*r));

	r->job = j;
	r->li = li;
	r->probe = probe;
	dl_init(&r->link);
	fc_buf_init(&r->resp, CT_MAX_RESPONSE);
	j->refs++;
	j->req[li] = r;
	j->slot[li] = CT_SLOT_RUNNING;
	return req_send(c, r);
}

/* --- finishing a job ---------------------------------------------------------------- */

/* Take j off the I/O thread's lists, leave its requests in curl to finish
 * on their own (detached), drop those waiting to retry. */
static void job_retire(struct ct_client *c, struct job *j)
{
	j->finished = true;
	dl_del(&j->all);
	dl_del(&j->stag);
	for (size_t i = 0; i < c->n_logs; i++) {
		struct req *r = j->req[i];

		if (r == NULL)
			continue;
		j->req[i] = NULL;
		if (j->slot[i] == CT_SLOT_RETRYING) {
			dl_del(&r->link);
			r->detached = true;
			req_free(r);
		} else {
			r->detached = true;
		}
	}
}

/* The status of a failed job: FC_EUNAVAIL if any log was unavailable,
 * else FC_EUPSTREAM if any answered wrongly, else FC_EINTERNAL. */
static enum fc_status job_status(const enum fc_status *st, size_t n)
{
	enum fc_status worst = FC_EINTERNAL;

	for (size_t i = 0; i < n; i++) {
		if (st[i] == FC_EUNAVAIL)
			return FC_EUNAVAIL;
		if (st[i] == FC_EUPSTREAM)
			worst = FC_EUPSTREAM;
	}
	return worst;
}

/* Why log i did not give j an SCT (for the message), and how. */
static const char *log_reason(const struct ct_client *c, const struct job *j, size_t i,
			      enum fc_status *st, char *buf, size_t cap)
{
	const struct ct_log *l = &c->logs[i];
	const struct req *r = j->req[i];

	*st = FC_EUNAVAIL;
	switch (j->slot[i]) {
	case CT_SLOT_FAILED: *st = j->why_st[i]; return j->why[i] ? j->why[i] : "failed";
	case CT_SLOT_RUNNING:
	case CT_SLOT_RETRYING:
		snprintf(buf, cap, "no answer within the deadline of %u ms (%.300s)", c->timeout_ms,
			 r && r->last[0] ? r->last : "the log has not answered");
		return buf;
	case CT_SLOT_IDLE:
		if (!j->in_shard[i]) {
			*st = FC_OK; /* not a failure: the certificate is not for it */
			return "its shard does not take this certificate's NotAfter";
		}
		if (l->br.state != CT_BREAKER_CLOSED)
			return "not asked: its circuit breaker is open (it failed or was slow "
			       "repeatedly)";
		return "not asked";
	case CT_SLOT_OK: *st = FC_OK; return "SCT verified";
	}
	return "?";
}

/* The failure of job j: with one log its reason as it is, else the
 * policy and each log's reason. */
static void job_error(const struct ct_client *c, const struct job *j, struct fc_err *err)
{
	enum fc_status st[CT_MAX_LOGS];
	size_t n_st = 0, off;
	char buf[FC_ERR_MSG_MAX];
	const char *why;

	memset(err, 0, sizeof(*err));
	err->cls = FC_CLASS_CT_LOG;
	if (c->n_logs == 1) {
		why = log_reason(c, j, 0, &st[0], buf, sizeof(buf));
		err->status = st[0] == FC_OK ? FC_EINTERNAL : st[0];
		snprintf(err->msg, sizeof(err->msg), "%s", why);
		return;
	}
	off = (size_t)snprintf(
		err->msg, sizeof(err->msg),
		"CT policy not met (%u SCT%s from %u operator%s needed, %zu obtained)",
		c->pol.min_scts, c->pol.min_scts == 1 ? "" : "s", c->pol.min_operators,
		c->pol.min_operators == 1 ? "" : "s", j->n_scts);
	for (size_t i = 0; i < c->n_logs && off < sizeof(err->msg); i++) {
		enum fc_status s;

		why = log_reason(c, j, i, &s, buf, sizeof(buf));
		if (s != FC_OK)
			st[n_st++] = s;
		off += (size_t)snprintf(err->msg + off, sizeof(err->msg) - off, "%s %s: %s",
					i == 0 ? ":" : ";", c->logs[i].url, why);
	}
	err->status = job_status(st, n_st);
}

/* Complete j once: done() with its SCTs (st == FC_OK) or the reason. */
static void job_finish(struct ct_client *c, struct job *j, bool met)
{
	struct fc_err err = {0};

	if (!met)
		job_error(c, j, &err);
	job_retire(c, j);
	atomic_fetch_add(met ? &c->policy_met : &c->policy_failed, 1);
	if (met)
		j->done(j->arg, FC_OK, j->scts, j->n_scts, NULL);
	else
		j->done(j->arg, err.status, NULL, 0, &err);
	atomic_fetch_sub(&c->in_flight, 1);
	job_unref(j);
}

/* Fail j at once with st and a message (shutting down). */
static void job_abort(struct ct_client *c, struct job *j, enum fc_status st, const char *msg)
{
	struct fc_err err = {.status = st, .cls = FC_CLASS_CT_LOG};

	snprintf(err.msg, sizeof(err.msg), "%s", msg);
	job_retire(c, j);
	atomic_fetch_add(&c->policy_failed, 1);
	j->done(j->arg, st, NULL, 0, &err);
	atomic_fetch_sub(&c->in_flight, 1);
	job_unref(j);
}

/* --- the plan -------------------------------------------------------------------- */

/* Is there an idle log left that j may ask later (in its shard)? */
static bool job_has_idle(const struct ct_client *c, const struct job *j)
{
	for (size_t i = 0; i < c->n_logs; i++)
		if (j->slot[i] == CT_SLOT_IDLE && j->in_shard[i])
			return true;
	return false;
}

/*
 * Decide what j does next (ct_plan): finish, or ask more logs now, and
 * when to look again for the staggered launch. A launch that fails at
 * once (libcurl setup) is that log's failure, and makes its own plan
 * (hence the reference held here and the state checked again).
 */
static void job_step(struct ct_client *c, struct job *j)
{
	struct ct_slot_view v[CT_MAX_LOGS];
	bool launch[CT_MAX_LOGS], launched = false;
	int64_t now = fc_mono_ms();
	enum ct_plan_result pr;

	if (j->finished)
		return;
	for (size_t i = 0; i < c->n_logs; i++) {
		v[i].state = j->slot[i];
		v[i].op = c->logs[i].op;
		v[i].eligible = j->in_shard[i] && ct_breaker_would_allow(&c->logs[i].br, now);
	}
	pr = ct_plan(&c->pol, v, c->n_logs, now >= j->stagger_due, c->stagger_ms ? 1 : c->n_logs,
		     launch);
	if (pr != CT_PLAN_WAIT) {
		job_finish(c, j, pr == CT_PLAN_MET);
		return;
	}
	j->refs++;
	for (size_t i = 0; i < c->n_logs && !j->finished; i++) {
		bool probe = false;

		if (!launch[i] || j->slot[i] != CT_SLOT_IDLE ||
		    !ct_breaker_allow(&c->logs[i].br, now, &probe))
			continue;
		breaker_sync(&c->logs[i], NULL);
		launched = true;
		(void)job_launch(c, j, i, probe);
	}
	if (!j->finished) {
		/* the next staggered launch; while only logs that may not be
		 * asked now are left (breaker), look again a little later */
		if (launched || j->stagger_due <= now)
			j->stagger_due = now + (c->stagger_ms ? c->stagger_ms : RECHECK_MS);
		dl_del(&j->stag);
		if (job_has_idle(c, j))
			dl_push(&c->staggered, &j->stag);
	}
	job_unref(j);
}

/* --- answers -------------------------------------------------------------------- */

/* Schedule a retry of r after a failed attempt (reason in r->last), or
 * give the log up when the deadline or its breaker does not allow one.
 * retry_after_s < 0: none given. */
static void retry_later(struct ct_client *c, struct req *r, long retry_after_s)
{
	uint64_t backoff = BACKOFF_FIRST_MS;
	uint8_t rnd[2] = {0, 0};
	struct fc_rd rd;
	uint16_t jitter = 0;
	int64_t wait;

	for (unsigned i = 1; i < r->attempt && backoff < BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	/* Full jitter between half and all of the backoff. */
	(void)fc_rand_bytes(rnd, sizeof(rnd));
	fc_rd_init(&rd, rnd, sizeof(rnd));
	fc_rd_u16(&rd, &jitter);
	wait = (int64_t)(backoff / 2 + (backoff / 2) * (uint64_t)jitter / 65535);
	if (retry_after_s >= 0) {
		/* The log said when: not sooner, plus a little jitter so that
		 * the submissions it pushed back do not return all at once. */
		wait = retry_after_s * 1000 + (int64_t)(jitter % 100);
	}
	if (r->detached || wait >= fc_deadline_left_ms(r->job->deadline)) {
		req_give_up(c, r, FC_EUNAVAIL,
			    "%s; no retry fits in the deadline of %u ms "
			    "(attempt %u)",
			    r->last, c->timeout_ms, r->attempt);
		return;
	}
	if (c->logs[r->li].br.state != CT_BREAKER_CLOSED) {
		req_give_up(c, r, FC_EUNAVAIL,
			    "%s; not retried: the log's circuit breaker is "
			    "open",
			    r->last);
		return;
	}
	fc_log(LOG_DEBUG, "ctlog: %s: attempt %u: %s; retrying in %lld ms", c->logs[r->li].url,
	       r->attempt, r->last, (long long)wait);
	r->due = fc_deadline_ms(wait);
	r->probe = false;
	dl_push(&c->waiting, &r->link);
	r->job->slot[r->li] = CT_SLOT_RETRYING;
	job_step(c, r->job); /* a replacement at once */
}

/* The log answered 200: parse, verify against the log's key and id. */
static void handle_sct(struct ct_client *c, struct req *r)
{
	struct ct_log *l = &c->logs[r->li];
	struct job *j = r->job;
	struct ct_sct sct = {0};
	struct fc_err err = {0};
	struct fc_buf sd;
	enum fc_status st;

	if (ct_sct_from_json(r->resp.data, r->resp.len, &sct, &err) != FC_OK) {
		req_count_failure(c, r, CT_FAIL_BAD_ANSWER, "not an SCT");
		req_give_up(c, r, FC_EUPSTREAM, "the log's answer is not an SCT: %s", err.msg);
		return;
	}
	fc_buf_init(&sd, 0);
	st = ct_signed_data_precert(sct.timestamp, j->ikh, j->tbs, j->tbs_len, sct.extensions,
				    sct.ext_len, &sd);
	if (st == FC_OK)
		st = ct_sct_verify_id(&sct, l->key, l->log_id, sd.data, sd.len, fc_now_ms(), &err);
	else
		fc_err_set(&err, FC_EINTERNAL, "cannot build the SCT's signed data");
	fc_buf_free(&sd);
	if (st != FC_OK) {
		ct_sct_clear(&sct);
		req_count_failure(c, r, CT_FAIL_BAD_SCT, "bad SCT");
		req_give_up(c, r, err.status == FC_EINTERNAL ? FC_EINTERNAL : FC_EUPSTREAM,
			    "the log's SCT is refused: %s", err.msg);
		return;
	}
	ct_metrics_sct(&l->m, fc_mono_ms() - r->sent);
	if (!r->slow_seen) {
		ct_breaker_record(&l->br, &c->bcfg, fc_mono_ms(), true, r->probe);
		breaker_sync(l, NULL);
	}
	fc_log(LOG_DEBUG, "ctlog: %s: SCT verified (timestamp %llu, attempt %u%s)", l->url,
	       (unsigned long long)sct.timestamp, r->attempt,
	       r->detached ? ", not waited for" : "");
	if (r->detached) {
		ct_sct_clear(&sct);
		req_free(r);
		return;
	}
	j->scts[j->n_scts] = sct;
	j->sct_op[j->n_scts++] = l->op;
	j->slot[r->li] = CT_SLOT_OK;
	req_free(r);
	job_step(c, j);
}

/* A transfer of r ended without an HTTP answer (result != CURLE_OK). */
static void transfer_failed(struct ct_client *c, struct req *r, CURLcode result)
{
	bool timeout = result == CURLE_OPERATION_TIMEDOUT;

	snprintf(r->last, sizeof(r->last), "%s: %s",
		 timeout ? "no answer from the log" : "cannot reach the log",
		 r->curl_err[0] ? r->curl_err : curl_easy_strerror(result));
	req_count_failure(c, r, timeout ? CT_FAIL_TIMEOUT : CT_FAIL_UNREACHABLE, r->last);
	if (timeout && fc_deadline_left_ms(r->job->deadline) <= 5) {
		req_give_up(c, r, FC_EUNAVAIL,
			    "no answer within the deadline of %u ms (attempt %u: "
			    "%s)",
			    c->timeout_ms, r->attempt, r->last);
		return;
	}
	retry_later(c, r, -1);
}

/* One transfer of r ended with result. */
static void attempt_done(struct ct_client *c, struct req *r, CURLcode result)
{
	long status = 0;
	curl_off_t retry_after = -1;
	char reason[REASON_MAX + 16];

	dl_del(&r->link);
	curl_multi_remove_handle(c->multi, r->easy);
	if (r->resp_too_big) {
		req_count_failure(c, r, CT_FAIL_BAD_ANSWER, "answer too large");
		req_give_up(c, r, FC_EUPSTREAM, "the log's answer is over %d bytes",
			    CT_MAX_RESPONSE);
		return;
	}
	if (result != CURLE_OK) {
		transfer_failed(c, r, result);
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		handle_sct(c, r);
		return;
	}
	quote_body(&r->resp, reason, sizeof(reason));
	snprintf(r->last, sizeof(r->last), "the log answered %ld: %s", status, reason);
	if (status == 408 || status == 429 || status == 503) {
		/* RFC 9110 10.2.3: seconds, or an HTTP date (curl turns it into
		 * seconds from now). */
		curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
		if (retry_after > 3600)
			retry_after = 3600;
		req_count_failure(c, r, CT_FAIL_THROTTLED, r->last);
		retry_later(c, r, retry_after > 0 ? (long)retry_after : -1);
		return;
	}
	if (status == 400) {
		/* RFC 6962 4.1: the log refused what we built: our bug. */
		req_count_failure(c, r, CT_FAIL_REFUSED, r->last);
		req_give_up(c, r, FC_EINTERNAL,
			    "the log refused the precertificate chain (400): "
			    "%s",
			    reason);
		return;
	}
	req_count_failure(c, r, CT_FAIL_HTTP, r->last);
	req_give_up(c, r, FC_EUPSTREAM, "the log answered %ld: %s", status, reason);
}

/* --- the I/O thread ------------------------------------------------------------ */

/* The earlier of *next and the time left until t (fc_mono_ms). */
static void sooner(int64_t *next, int64_t t, int64_t now)
{
	int64_t left = t > now ? t - now : 0;

	if (left < *next)
		*next = left;
}

/*
 * Everything that is due: jobs at their deadline, staggered launches,
 * requests past the slow threshold, retries. Returns the ms until the
 * next thing is due.
 */
static int64_t run_timers(struct ct_client *c)
{
	int64_t now = fc_mono_ms(), next = POLL_MAX_MS;
	struct dl *p, *nx;

	while (!dl_empty(&c->jobs) && DL_ENTRY(c->jobs.next, struct job, all)->deadline <= now)
		job_finish(c, DL_ENTRY(c->jobs.next, struct job, all), false);
	if (!dl_empty(&c->jobs))
		sooner(&next, DL_ENTRY(c->jobs.next, struct job, all)->deadline, now);
	while (!dl_empty(&c->staggered) &&
	       DL_ENTRY(c->staggered.next, struct job, stag)->stagger_due <= now) {
		struct job *j = DL_ENTRY(c->staggered.next, struct job, stag);
		dl_del(&j->stag);
		job_step(c, j);
	}
	if (!dl_empty(&c->staggered))
		sooner(&next, DL_ENTRY(c->staggered.next, struct job, stag)->stagger_due, now);
	while (!dl_empty(&c->active) &&
	       DL_ENTRY(c->active.next, struct req, link)->sent + c->slow_ms <= now) {
		struct req *r = DL_ENTRY(c->active.next, struct req, link);
		dl_del(&r->link);
		dl_push(&c->active_slow, &r->link);
		req_count_failure(c, r, CT_FAIL_SLOW, "slow");
		r->slow_seen = true;
	}
	if (!dl_empty(&c->active))
		sooner(&next, DL_ENTRY(c->active.next, struct req, link)->sent + c->slow_ms, now);
	for (p = c->waiting.next; p != &c->waiting; p = nx) {
		struct req *r = DL_ENTRY(p, struct req, link);
		nx = p->next;
		if (r->due <= now) {
			dl_del(&r->link);
			r->job->slot[r->li] = CT_SLOT_RUNNING;
			(void)req_send(c, r);
			/* req_send may have completed jobs: restart the walk */
			nx = c->waiting.next;
		} else {
			sooner(&next, r->due, now);
		}
	}
	return next;
}

/* Take the submitted jobs and start them; true when stopping. */
static bool take_queue(struct ct_client *c)
{
	struct job *j, *nx;
	bool stop;

	pthread_mutex_lock(&c->lock);
	j = c->queue_head;
	c->queue_head = c->queue_tail = NULL;
	stop = c->stopping;
	pthread_mutex_unlock(&c->lock);
	for (; j != NULL; j = nx) {
		nx = j->qnext;
		dl_push(&c->jobs, &j->all);
		if (stop)
			job_abort(c, j, FC_EUNAVAIL, "the CA is shutting down");
		else
			job_step(c, j);
	}
	return stop;
}

/* Shutting down: every job fails once, every request is dropped. */
static void drain(struct ct_client *c)
{
	struct dl *lists[] = {&c->active, &c->active_slow, &c->waiting};

	while (!dl_empty(&c->jobs))
		job_abort(c, DL_ENTRY(c->jobs.next, struct job, all), FC_EUNAVAIL,
			  "the CA is shutting down");
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		while (!dl_empty(lists[i])) {
			struct req *r = DL_ENTRY(lists[i]->next, struct req, link);
			dl_del(&r->link);
			if (r->easy)
				curl_multi_remove_handle(c->multi, r->easy);
			r->detached = true;
			req_free(r);
		}
	}
}

static void *io_thread(void *arg)
{
	struct ct_client *c = arg;
	CURLMsg *msg;
	int running, left;

	for (;;) {
		if (take_queue(c))
			break;
		curl_multi_perform(c->multi, &running);
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
			struct req *r = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			if (r != NULL)
				attempt_done(c, r, msg->data.result);
		}
		curl_multi_poll(c->multi, NULL, 0, (int)run_timers(c), NULL);
	}
	drain(c);
	return NULL;
}

/* --- public API -------------------------------------------------------------------- */

/* The logs of o (the list, or the single-log fields). */
static enum fc_status load_logs(struct ct_client *c, const struct ct_client_options *o,
				struct fc_err *err)
{
	struct ct_log_options one = {.url = o->url,
				     .public_key_path = o->public_key_path,
				     .origin = o->origin,
				     .tls_ca_cert = o->tls_ca_cert};
	const struct ct_log_options *logs = o->n_logs ? o->logs : &one;
	size_t n = o->n_logs ? o->n_logs : 1;
	enum fc_status st;

	if (n > CT_MAX_LOGS)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %zu logs, at most %d", n, CT_MAX_LOGS);
	for (size_t i = 0; i < n; i++) {
		struct ct_log_options lo = logs[i];

		if (lo.tls_ca_cert == NULL)
			lo.tls_ca_cert = o->tls_ca_cert;
		c->n_logs = i + 1;
		if ((st = ct_log_init(&c->logs[i], &lo, err)) != FC_OK)
			return st;
		c->logs[i].op = (unsigned)i;
		for (size_t k = 0; k < i; k++) {
			if (memcmp(c->logs[k].log_id, c->logs[i].log_id, CT_LOG_ID_LEN) == 0)
				return fc_err_set(err, FC_ECONFIG,
						  "ctlog: logs %s and %s have the "
						  "same key",
						  c->logs[k].url, c->logs[i].url);
			if (strcmp(c->logs[k].operator_name, c->logs[i].operator_name) == 0 &&
			    c->logs[i].op == i)
				c->logs[i].op = c->logs[k].op;
		}
	}
	return FC_OK;
}

/* The policy and timings of o, checked against the logs. */
static enum fc_status set_policy(struct ct_client *c, const struct ct_client_options *o,
				 struct fc_err *err)
{
	uint32_t ops = 0;
	unsigned n_ops = 0;

	c->pol.min_scts = o->min_scts ? o->min_scts : 1;
	c->pol.min_operators = o->min_operators ? o->min_operators : 1;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : CT_DEFAULT_TIMEOUT_MS;
	c->stagger_ms = o->stagger_ms;
	c->slow_ms = o->slow_ms ? o->slow_ms : CT_DEFAULT_SLOW_MS;
	if (o->slow_ms == 0 && c->slow_ms > c->timeout_ms / 2)
		c->slow_ms = c->timeout_ms / 2 ? c->timeout_ms / 2 : 1;
	c->bcfg.failures = o->breaker_failures < 0   ? 0
			   : o->breaker_failures > 0 ? (unsigned)o->breaker_failures
			   : c->n_logs > 1	     ? CT_DEFAULT_BREAKER_FAILURES
						     : 0;
	c->bcfg.backoff_ms =
		o->breaker_backoff_ms ? o->breaker_backoff_ms : CT_DEFAULT_BREAKER_BACKOFF_MS;
	c->bcfg.max_backoff_ms = o->breaker_max_backoff_ms ? o->breaker_max_backoff_ms
							   : CT_DEFAULT_BREAKER_MAX_BACKOFF_MS;
	if (c->bcfg.max_backoff_ms < c->bcfg.backoff_ms)
		c->bcfg.max_backoff_ms = c->bcfg.backoff_ms;
	for (size_t i = 0; i < c->n_logs; i++) {
		if (!(ops & (UINT32_C(1) << c->logs[i].op)))
			n_ops++;
		ops |= UINT32_C(1) << c->logs[i].op;
		ct_breaker_init(&c->logs[i].br, &c->bcfg);
	}
	if (c->pol.min_scts > c->n_logs || c->pol.min_operators > n_ops ||
	    c->pol.min_operators > c->pol.min_scts)
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: a policy of %u SCTs from %u operators "
				  "cannot be met by %zu logs of %u operators",
				  c->pol.min_scts, c->pol.min_operators, c->n_logs, n_ops);
	return FC_OK;
}

/* libcurl and the I/O thread. */
static enum fc_status start_io(struct ct_client *c, struct fc_err *err)
{
	if ((c->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_CONNECTIONS) !=
		    CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTIONS) != CURLM_OK)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl multi handle");
	if (pthread_create(&c->thread, NULL, io_thread, c) != 0)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: cannot start the I/O thread");
	c->thread_started = true;
	return FC_OK;
}

/*
 * Create the client (ct.h): load and check each log's key, compute the
 * LogIDs, check the policy against the logs and their operators, start the
 * I/O thread. FC_ECONFIG with the reason; *out (ct_client_free) on success.
 */
enum fc_status ct_client_new(const struct ct_client_options *o, struct ct_client **out,
			     struct fc_err *err)
{
	struct ct_client *c = NULL;
	enum fc_status st;

	if (o == NULL)
		return fc_err_set(err, FC_ECONFIG, "ctlog: no log");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl cannot start");
	c = fc_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->in_flight, 0);
	dl_init(&c->jobs);
	dl_init(&c->staggered);
	dl_init(&c->active);
	dl_init(&c->active_slow);
	dl_init(&c->waiting);
	if ((st = load_logs(c, o, err)) != FC_OK || (st = set_policy(c, o, err)) != FC_OK ||
	    (st = start_io(c, err)) != FC_OK)
		goto fail;
	for (size_t i = 0; i < c->n_logs; i++) {
		const uint8_t *id = c->logs[i].log_id;
		fc_log(LOG_INFO, "ctlog: log %s (operator %s), key id %02x%02x%02x%02x...",
		       c->logs[i].url, c->logs[i].operator_name, id[0], id[1], id[2], id[3]);
	}
	fc_log(LOG_INFO, "ctlog: policy %u SCT%s from %u operator%s, stagger %u ms, deadline %u ms",
	       c->pol.min_scts, c->pol.min_scts == 1 ? "" : "s", c->pol.min_operators,
	       c->pol.min_operators == 1 ? "" : "s", c->stagger_ms, c->timeout_ms);
	*out = c;
	return FC_OK;
fail:
	ct_client_free(c);
	return st;
}

/* The number of logs (ct.h). */
size_t ct_client_log_count(const struct ct_client *c)
{
	return c->n_logs;
}

/* The LogID of log i, or NULL past the last log (ct.h). */
const uint8_t *ct_client_log_id(const struct ct_client *c, size_t i)
{
	return i < c->n_logs ? c->logs[i].log_id : NULL;
}

/* The URL of log i, or NULL past the last log (ct.h). */
const char *ct_client_url(const struct ct_client *c, size_t i)
{
	return i < c->n_logs ? c->logs[i].url : NULL;
}

/* Certificates whose submissions are not completed yet (ct.h). */
unsigned ct_client_in_flight(const struct ct_client *c)
{
	return atomic_load(&((struct ct_client *)c)->in_flight);
}

/* The add-pre-chain body (RFC 6962 4.1): {"chain": [base64 DER, ...]}. */
static char *chain_body(const struct ct_precert *p)
{
	json_t *chain = json_array(), *doc;
	char *body;

	for (size_t i = 0; i < p->n; i++) {
		char *b64 = fc_b64_encode(p->chain[i], p->chain_len[i]);
		json_array_append_new(chain, json_string(b64));
		free(b64);
	}
	doc = json_pack("{s:o}", "chain", chain);
	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (body == NULL)
		abort(); /* jansson fails here only on out of memory */
	return body;
}

/* A new job for p (what it must sign, which shards take it). */
static struct job *job_new(struct ct_client *c, const struct ct_precert *p, ct_done_fn done,
			   void *arg)
{
	struct job *j = fc_xcalloc(1, sizeof(*j));

	j->c = c;
	j->refs = 1;
	j->done = done;
	j->arg = arg;
	dl_init(&j->all);
	dl_init(&j->stag);
	j->deadline = fc_deadline_ms(c->timeout_ms);
	j->stagger_due = fc_mono_ms() + c->stagger_ms;
	memcpy(j->ikh, p->issuer_key_hash, CT_LOG_ID_LEN);
	j->tbs = fc_xmalloc(p->tbs_len);
	memcpy(j->tbs, p->tbs, p->tbs_len);
	j->tbs_len = p->tbs_len;
	for (size_t i = 0; i < c->n_logs; i++)
		j->in_shard[i] = p->not_after == 0 || ct_log_takes(&c->logs[i], p->not_after);
	j->body = chain_body(p);
	return j;
}

/*
 * Start the submissions of one precertificate (ct.h). Copies what it
 * needs; FC_OK means done will be called exactly once from the I/O
 * thread. Otherwise FC_EINTERNAL (bad arguments) or FC_EUNAVAIL (too many
 * in flight, shutting down) with the reason, and done is never called.
 */
enum fc_status ct_client_submit_precert(struct ct_client *c, const struct ct_precert *p,
					ct_done_fn done, void *arg, struct fc_err *err)
{
	struct job *j;
	bool stopping;

	if (c == NULL || p == NULL || done == NULL || p->n < 2 || p->n > CT_MAX_CHAIN ||
	    p->issuer_key_hash == NULL || p->tbs == NULL || p->tbs_len == 0 ||
	    p->tbs_len > CT_MAX_TBS)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: submit: bad arguments");
	if (atomic_fetch_add(&c->in_flight, 1) >= CT_MAX_IN_FLIGHT) {
		atomic_fetch_sub(&c->in_flight, 1);
		return fc_err_set(err, FC_EUNAVAIL, "%d submissions to the CT logs are in flight",
				  CT_MAX_IN_FLIGHT);
	}
	j = job_new(c, p, done, arg);
	pthread_mutex_lock(&c->lock);
	stopping = c->stopping;
	if (!stopping) {
		if (c->queue_tail)
			c->queue_tail->qnext = j;
		else
			c->queue_head = j;
		c->queue_tail = j;
	}
	pthread_mutex_unlock(&c->lock);
	if (stopping) {
		job_unref(j);
		atomic_fetch_sub(&c->in_flight, 1);
		return fc_err_set(err, FC_EUNAVAIL, "the CA is shutting down");
	}
	curl_multi_wakeup(c->multi);
	return FC_OK;
}

/*
 * GET get-roots of log i once (blocking) and look for root_der among the
 * answer's certificates (RFC 6962 4.7). FC_EUPSTREAM / FC_EUNAVAIL with
 * the reason.
 */
enum fc_status ct_client_has_root(struct ct_client *c, size_t i, const uint8_t *root_der,
				  size_t root_len, bool *found, struct fc_err *err)
{
	*found = false;
	if (i >= c->n_logs)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: no log %zu", i);
	return ct_log_has_root(&c->logs[i], c->timeout_ms, root_der, root_len, found, err);
}

/*
 * Stop the client (ct.h): submissions still in flight complete with
 * FC_EUNAVAIL on the I/O thread, which is then joined; everything is freed.
 * NULL is fine.
 */
void ct_client_free(struct ct_client *c)
{
	if (c == NULL)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_mutex_unlock(&c->lock);
		curl_multi_wakeup(c->multi);
		pthread_join(c->thread, NULL);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	for (size_t i = 0; i < c->n_logs; i++)
		ct_log_clear(&c->logs[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Log i, for metrics.c (ct_int.h); i < ct_client_log_count(c). */
const struct ct_log *ct_client_log(const struct ct_client *c, size_t i)
{
	return &c->logs[i];
}

/* Certificates whose policy was met, and failed (ct_int.h). */
void ct_client_policy_counts(const struct ct_client *c, unsigned long *met, unsigned long *failed)
{
	*met = atomic_load(&((struct ct_client *)c)->policy_met);
	*failed = atomic_load(&((struct ct_client *)c)->policy_failed);
}
