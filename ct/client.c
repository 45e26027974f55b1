/*
 * The CT client of the CA (RFC 6962 4.1 add-pre-chain, 4.7 get-roots).
 *
 * One I/O thread drives every submission through libcurl's multi
 * interface: a static-CT log answers only once its next batch is sequenced
 * (0.25 to 2 s), and thousands of submissions may wait at once without
 * holding a thread each. Each submission has a deadline (--ct-log-timeout);
 * network errors and 408/429/503 are retried with exponential backoff and
 * jitter, honouring Retry-After, until the deadline. A returned SCT is
 * verified (log id, version, signature over the precert's signed data,
 * timestamp) before the caller sees it: no verified SCT, no certificate.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

#define KEY_FILE_MAX (64 * 1024)
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define MAX_CONNECTIONS 1024 /* to the log at once; more submissions queue in curl */
#define REASON_MAX 200       /* bytes of a log's error body we quote */

struct sub {
	struct ct_client *c;
	struct sub *next;          /* queue, active or waiting list */
	struct sub *prev;
	CURL *easy;
	char *body;                /* the add-pre-chain JSON */
	struct fc_buf resp;
	bool resp_too_big;
	uint8_t ikh[CT_LOG_ID_LEN];
	uint8_t *tbs;
	size_t tbs_len;
	int64_t deadline;          /* fc_deadline_ms(): of the whole submission */
	int64_t due;               /* fc_deadline_ms(): next attempt (waiting list) */
	unsigned attempt;
	char last[FC_ERR_MSG_MAX]; /* why the last attempt failed (retryable) */
	ct_done_fn done;
	void *arg;
	char curl_err[CURL_ERROR_SIZE];
};

/* A doubly linked list with a head pointer. */
struct list {
	struct sub *head;
};

static void list_add(struct list *l, struct sub *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	l->head = s;
}

static void list_del(struct list *l, struct sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

struct ct_client {
	char *url;
	char *add_pre_chain_url;
	char *get_roots_url;
	char *tls_ca;
	unsigned timeout_ms;
	EVP_PKEY *key;
	uint8_t log_id[CT_LOG_ID_LEN];
	struct curl_slist *headers; /* shared by every transfer, read-only */
	struct curl_slist *get_headers;

	CURLM *multi;     /* only the I/O thread touches it (but wakeup) */
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* protects queue and stopping */
	struct list queue;    /* submitted, not yet started by the I/O thread */
	bool stopping;

	struct list active;   /* I/O thread only: transfers in curl */
	struct list waiting;  /* I/O thread only: backing off until due */
	atomic_uint in_flight;
};

/* --- small helpers ------------------------------------------------------------- */

static void sub_free(struct sub *s)
{
	if (s == NULL)
		return;
	if (s->easy)
		curl_easy_cleanup(s->easy);
	free(s->body);
	free(s->tbs);
	fc_buf_free(&s->resp);
	free(s);
}

/* Complete s exactly once, then free it. */
static void sub_finish(struct sub *s, enum fc_status st, const struct ct_sct *sct,
		       const struct fc_err *err)
{
	struct ct_client *c = s->c;

	s->done(s->arg, st, sct, err);
	sub_free(s);
	atomic_fetch_sub(&c->in_flight, 1);
}

static void sub_fail(struct sub *s, enum fc_status st, const char *fmt, ...) FC_PRINTF(3, 4);
static void sub_fail(struct sub *s, enum fc_status st, const char *fmt, ...)
{
	struct fc_err err = {.status = st};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	/* The API logs the failure with the request id; a 400 (our bug) is
	 * logged here too, at LOG_ERR, with the log's reason. */
	fc_log(st == FC_EINTERNAL ? LOG_ERR : LOG_DEBUG, "ctlog: %s: %s", s->c->url, err.msg);
	sub_finish(s, st, NULL, &err);
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct sub *s = arg;

	if (!fc_buf_append(&s->resp, p, size * n)) {
		s->resp_too_big = true;
		return 0; /* abort the transfer: CURLE_WRITE_ERROR */
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

/* HTTP and HTTPS only (no redirects to file:// or anything else). */
static bool set_protocols(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: CURLOPT_PROTOCOLS is deprecated */
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	       CURLE_OK;
#endif
}

/* Common options of a transfer to the log. */
static bool easy_setup(struct ct_client *c, CURL *e, const char *url, long timeout_ms,
		       char *errbuf)
{
	return curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
	       set_protocols(e) &&
	       curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
	       (c->tls_ca == NULL || curl_easy_setopt(e, CURLOPT_CAINFO, c->tls_ca) == CURLE_OK) &&
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_USERAGENT, "fulcrum/" "ct-client") == CURLE_OK;
}

/* --- the I/O thread ------------------------------------------------------------ */

/* Start (or restart) the HTTP attempt of s. */
static void start_attempt(struct ct_client *c, struct sub *s)
{
	int64_t left = fc_deadline_left_ms(s->deadline);

	if (left <= 0) {
		sub_fail(s, FC_EUNAVAIL, "no answer within the deadline of %u ms (%s)", c->timeout_ms,
			 s->last[0] ? s->last : "no attempt made");
		return;
	}
	s->attempt++;
	fc_buf_reset(&s->resp);
	s->resp_too_big = false;
	s->curl_err[0] = '\0';
	if (s->easy == NULL) {
		if ((s->easy = curl_easy_init()) == NULL ||
		    !easy_setup(c, s->easy, c->add_pre_chain_url, (long)left, s->curl_err) ||
		    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s) != CURLE_OK ||
		    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK) {
			sub_fail(s, FC_EINTERNAL, "cannot set up a libcurl transfer");
			return;
		}
	} else if (curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
		   curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left) != CURLE_OK) {
		sub_fail(s, FC_EINTERNAL, "cannot set up a libcurl transfer");
		return;
	}
	if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK) {
		sub_fail(s, FC_EINTERNAL, "cannot start a libcurl transfer");
		return;
	}
	list_add(&c->active, s);
}

/* Schedule a retry of s after a failed attempt (reason in s->last), or
 * fail it when the deadline does not leave room. retry_after_s < 0: none. */
static void retry_later(struct ct_client *c, struct sub *s, long retry_after_s)
{
	uint64_t backoff = BACKOFF_FIRST_MS;
	uint8_t rnd[2] = {0, 0};
	uint16_t jitter = 0;
	struct fc_rd r;
	int64_t wait;

	for (unsigned i = 1; i < s->attempt && backoff < BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	/* Full jitter between half and all of the backoff. */
	(void)fc_rand_bytes(rnd, sizeof(rnd));
	fc_rd_init(&r, rnd, sizeof(rnd));
	fc_rd_u16(&r, &jitter);
	wait = (int64_t)(backoff / 2 + (backoff / 2) * (uint64_t)jitter / 65535);
	if (retry_after_s >= 0) {
		/* The log said when: not sooner, plus a little jitter so that
		 * the submissions it pushed back do not return all at once. */
		wait = retry_after_s * 1000 + (int64_t)(jitter % 100);
	}
	if (wait >= fc_deadline_left_ms(s->deadline)) {
		sub_fail(s, FC_EUNAVAIL, "%s; no retry fits in the deadline of %u ms (attempt %u)",
			 s->last, c->timeout_ms, s->attempt);
		return;
	}
	fc_log(LOG_DEBUG, "ctlog: %s: attempt %u: %s; retrying in %lld ms", c->url, s->attempt,
	       s->last, (long long)wait);
	s->due = fc_deadline_ms(wait);
	list_add(&c->waiting, s);
}

/* The log answered 200: parse, verify, complete. */
static void handle_sct(struct ct_client *c, struct sub *s)
{
	struct ct_sct sct = {0};
	struct fc_err err = {0};
	struct fc_buf sd;

	if (ct_sct_from_json(s->resp.data, s->resp.len, &sct, &err) != FC_OK) {
		sub_fail(s, FC_EUPSTREAM, "the log's answer is not an SCT: %s", err.msg);
		return;
	}
	fc_buf_init(&sd, 0);
	if (ct_signed_data_precert(sct.timestamp, s->ikh, s->tbs, s->tbs_len, sct.extensions,
				   sct.ext_len, &sd) != FC_OK) {
		fc_buf_free(&sd);
		ct_sct_clear(&sct);
		sub_fail(s, FC_EINTERNAL, "cannot build the SCT's signed data");
		return;
	}
	if (ct_sct_verify_id(&sct, c->key, c->log_id, sd.data, sd.len, fc_now_ms(), &err) !=
	    FC_OK) {
		fc_buf_free(&sd);
		ct_sct_clear(&sct);
		sub_fail(s, err.status == FC_EINTERNAL ? FC_EINTERNAL : FC_EUPSTREAM,
			 "the log's SCT is refused: %s", err.msg);
		return;
	}
	fc_buf_free(&sd);
	fc_log(LOG_DEBUG, "ctlog: %s: SCT verified (timestamp %llu, attempt %u)", c->url,
	       (unsigned long long)sct.timestamp, s->attempt);
	sub_finish(s, FC_OK, &sct, NULL);
	ct_sct_clear(&sct);
}

/* One transfer of s ended with result. */
static void attempt_done(struct ct_client *c, struct sub *s, CURLcode result)
{
	long status = 0;
	curl_off_t retry_after = -1;
	char reason[REASON_MAX + 16];

	list_del(&c->active, s);
	curl_multi_remove_handle(c->multi, s->easy);
	if (s->resp_too_big) {
		sub_fail(s, FC_EUPSTREAM, "the log's answer is over %d bytes", CT_MAX_RESPONSE);
		return;
	}
	if (result != CURLE_OK) {
		snprintf(s->last, sizeof(s->last), "%s: %s",
			 result == CURLE_OPERATION_TIMEDOUT ? "no answer from the log"
							    : "cannot reach the log",
			 s->curl_err[0] ? s->curl_err : curl_easy_strerror(result));
		if (result == CURLE_OPERATION_TIMEDOUT && fc_deadline_left_ms(s->deadline) <= 5) {
			sub_fail(s, FC_EUNAVAIL, "no answer within the deadline of %u ms (attempt %u: "
						 "%s)",
				 c->timeout_ms, s->attempt, s->last);
			return;
		}
		retry_later(c, s, -1);
		return;
	}
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		handle_sct(c, s);
		return;
	}
	quote_body(&s->resp, reason, sizeof(reason));
	if (status == 408 || status == 429 || status == 503) {
		/* RFC 9110 10.2.3: seconds, or an HTTP date (curl turns it into
		 * seconds from now). */
		curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &retry_after);
		if (retry_after > 3600)
			retry_after = 3600;
		snprintf(s->last, sizeof(s->last), "the log answered %ld: %s", status, reason);
		retry_later(c, s, retry_after > 0 ? (long)retry_after : -1);
		return;
	}
	if (status == 400) {
		/* RFC 6962 4.1: the log refused what we built: our bug. */
		sub_fail(s, FC_EINTERNAL, "the log refused the precertificate chain (400): %s",
			 reason);
		return;
	}
	sub_fail(s, FC_EUPSTREAM, "the log answered %ld: %s", status, reason);
}

/* Start the waiting submissions that are due; return the ms until the next. */
static int64_t run_due(struct ct_client *c)
{
	int64_t next = INT64_MAX, left;
	struct sub *s = c->waiting.head, *nx;

	for (; s != NULL; s = nx) {
		nx = s->next;
		if ((left = fc_deadline_left_ms(s->due)) == 0) {
			list_del(&c->waiting, s);
			start_attempt(c, s);
		} else if (left < next) {
			next = left;
		}
	}
	return next;
}

static void *io_thread(void *arg)
{
	struct ct_client *c = arg;
	struct list fresh;
	struct sub *s, *nx;
	CURLMsg *msg;
	int running, left;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		fresh = c->queue;
		c->queue.head = NULL;
		stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		for (s = fresh.head; s != NULL; s = nx) {
			nx = s->next;
			s->next = s->prev = NULL;
			if (stop)
				sub_fail(s, FC_EUNAVAIL, "the CA is shutting down");
			else
				start_attempt(c, s);
		}
		if (stop)
			break;
		curl_multi_perform(c->multi, &running);
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			if (s != NULL)
				attempt_done(c, s, msg->data.result);
		}
		int64_t next = run_due(c);
		int wait = next > 1000 ? 1000 : (int)next;
		if (c->active.head == NULL && c->waiting.head == NULL)
			wait = 1000;
		curl_multi_poll(c->multi, NULL, 0, wait, NULL);
	}
	/* Shutting down: everything still here fails, once. */
	while ((s = c->active.head) != NULL) {
		list_del(&c->active, s);
		curl_multi_remove_handle(c->multi, s->easy);
		sub_fail(s, FC_EUNAVAIL, "the CA is shutting down");
	}
	while ((s = c->waiting.head) != NULL) {
		list_del(&c->waiting, s);
		sub_fail(s, FC_EUNAVAIL, "the CA is shutting down");
	}
	return NULL;
}

/* --- public API -------------------------------------------------------------------- */

/*
 * Parse "10s", "500ms", "1m", "2.5" (seconds) into milliseconds (ct.h).
 * FC_ECONFIG with the reason unless 1 ms <= value <= 10 min.
 */
enum fc_status ct_parse_duration_ms(const char *s, unsigned *ms, struct fc_err *err)
{
	char *end;
	double v, scale = 1000.0;

	if (s == NULL || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s)
		goto bad;
	if (strcmp(end, "ms") == 0)
		scale = 1.0;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		scale = 1000.0;
	else if (strcmp(end, "m") == 0)
		scale = 60000.0;
	else
		goto bad;
	v *= scale;
	if (!(v >= 1.0 && v <= 600000.0))
		goto bad;
	*ms = (unsigned)(v + 0.5);
	return FC_OK;
bad:
	return fc_err_set(err, FC_ECONFIG, "bad duration \"%s\" (use e.g. 10s, 500ms or 10; "
					   "1 ms to 10 min)",
			  s ? s : "");
}

static enum fc_status load_key(const char *path, EVP_PKEY **out, struct fc_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	enum fc_status st;
	int type;

	if ((st = fc_read_file(path, KEY_FILE_MAX, &pem, &len, err)) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "ctlog: log public key %s cannot be read", path);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		st = fc_err_set(err, FC_ECONFIG, "ctlog: %s is not a PEM public key", path);
		goto out;
	}
	type = EVP_PKEY_get_base_id(key);
	/* RFC 6962 2.1.4: ECDSA NIST P-256 or RSA (>= 2048 bits). */
	if (type == EVP_PKEY_EC) {
		char group[32] = "";
		size_t glen = 0;
		if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			st = fc_err_set(err, FC_ECONFIG, "ctlog: %s: RFC 6962 2.1.4: an EC log key "
							 "must be P-256",
					path);
			goto out;
		}
	} else if (type != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
		st = fc_err_set(err, FC_ECONFIG, "ctlog: %s: RFC 6962 2.1.4: the log key must be "
						 "ECDSA P-256 or RSA of at least 2048 bits",
				path);
		goto out;
	}
	*out = key;
	key = NULL;
	st = FC_OK;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	free(pem);
	return st;
}

/*
 * Create the client (ct.h): load and check the log key, compute the
 * LogID, prepare the shared headers and start the I/O thread. FC_ECONFIG
 * with the reason; *out (ct_client_free) on success.
 */
enum fc_status ct_client_new(const struct ct_client_options *o, struct ct_client **out,
			     struct fc_err *err)
{
	struct ct_client *c = NULL;
	size_t ul;
	enum fc_status st = FC_ECONFIG;

	if (o == NULL || o->url == NULL || *o->url == '\0')
		return fc_err_set(err, FC_ECONFIG, "ctlog: no log URL");
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
		return fc_err_set(err, FC_ECONFIG, "ctlog: log URL %s must be http:// or https://",
				  o->url);
	if (o->public_key_path == NULL || *o->public_key_path == '\0')
		return fc_err_set(err, FC_ECONFIG, "ctlog: a CT log URL needs the log's public key "
						   "(--ct-log-public-key-path) to verify its SCTs");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl cannot start");
	c = fc_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->in_flight, 0);
	c->url = fc_xstrdup(o->url);
	ul = strlen(c->url);
	while (ul > 0 && c->url[ul - 1] == '/')
		c->url[--ul] = '\0';
	c->add_pre_chain_url = fc_xasprintf("%s/ct/v1/add-pre-chain", c->url);
	c->get_roots_url = fc_xasprintf("%s/ct/v1/get-roots", c->url);
	c->tls_ca = o->tls_ca_cert && *o->tls_ca_cert ? fc_xstrdup(o->tls_ca_cert) : NULL;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : CT_DEFAULT_TIMEOUT_MS;
	if ((st = load_key(o->public_key_path, &c->key, err)) != FC_OK)
		goto fail;
	if (ct_key_hash(c->key, c->log_id) != FC_OK) {
		st = fc_err_set(err, FC_ECONFIG, "ctlog: cannot hash the log key");
		goto fail;
	}
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, "Expect:"); /* no 100-continue round trip */
	if (o->origin != NULL && *o->origin != '\0') {
		char *host = fc_xasprintf("Host: %s", o->origin);
		c->headers = curl_slist_append(c->headers, host);
		c->get_headers = curl_slist_append(NULL, host);
		free(host);
	}
	if (c->headers == NULL || (o->origin && *o->origin && c->get_headers == NULL)) {
		st = fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl headers");
		goto fail;
	}
	if ((c->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_CONNECTIONS) !=
		    CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTIONS) != CURLM_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl multi handle");
		goto fail;
	}
	if (pthread_create(&c->thread, NULL, io_thread, c) != 0) {
		st = fc_err_set(err, FC_EINTERNAL, "ctlog: cannot start the I/O thread");
		goto fail;
	}
	c->thread_started = true;
	fc_log(LOG_INFO, "ctlog: log %s, key id %02x%02x%02x%02x..., deadline %u ms", c->url,
	       c->log_id[0], c->log_id[1], c->log_id[2], c->log_id[3], c->timeout_ms);
	*out = c;
	return FC_OK;
fail:
	ct_client_free(c);
	return st;
}

const uint8_t *ct_client_log_id(const struct ct_client *c)
{
	return c->log_id;
}

const char *ct_client_url(const struct ct_client *c)
{
	return c->url;
}

unsigned ct_client_in_flight(const struct ct_client *c)
{
	return atomic_load(&((struct ct_client *)c)->in_flight);
}

/*
 * Start one add-pre-chain (ct.h). Copies what it needs; FC_OK means
 * done will be called exactly once from the I/O thread. Otherwise
 * FC_EINTERNAL (bad arguments) or FC_EUNAVAIL (too many in flight,
 * shutting down) with the reason, and done is never called.
 */
enum fc_status ct_client_submit_precert(struct ct_client *c, const struct ct_precert *p,
					ct_done_fn done, void *arg, struct fc_err *err)
{
	struct sub *s;
	json_t *chain, *doc;
	bool stopping;

	if (c == NULL || p == NULL || done == NULL || p->n < 2 || p->n > CT_MAX_CHAIN ||
	    p->issuer_key_hash == NULL || p->tbs == NULL || p->tbs_len == 0 ||
	    p->tbs_len > CT_MAX_TBS)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: submit: bad arguments");
	if (atomic_fetch_add(&c->in_flight, 1) >= CT_MAX_IN_FLIGHT) {
		atomic_fetch_sub(&c->in_flight, 1);
		return fc_err_set(err, FC_EUNAVAIL, "%d submissions to the CT log are in flight",
				  CT_MAX_IN_FLIGHT);
	}
	s = fc_xcalloc(1, sizeof(*s));
	s->c = c;
	s->done = done;
	s->arg = arg;
	s->deadline = fc_deadline_ms(c->timeout_ms);
	memcpy(s->ikh, p->issuer_key_hash, CT_LOG_ID_LEN);
	s->tbs = fc_xmalloc(p->tbs_len);
	memcpy(s->tbs, p->tbs, p->tbs_len);
	s->tbs_len = p->tbs_len;
	fc_buf_init(&s->resp, CT_MAX_RESPONSE);
	/* RFC 6962 4.1: {"chain": [base64 DER, ...]}, precert first. */
	chain = json_array();
	for (size_t i = 0; i < p->n; i++) {
		char *b64 = fc_b64_encode(p->chain[i], p->chain_len[i]);
		json_array_append_new(chain, json_string(b64));
		free(b64);
	}
	doc = json_pack("{s:o}", "chain", chain);
	s->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (s->body == NULL)
		abort(); /* jansson fails here only on out of memory */

	pthread_mutex_lock(&c->lock);
	stopping = c->stopping;
	if (!stopping)
		list_add(&c->queue, s);
	pthread_mutex_unlock(&c->lock);
	if (stopping) {
		sub_free(s);
		atomic_fetch_sub(&c->in_flight, 1);
		return fc_err_set(err, FC_EUNAVAIL, "the CA is shutting down");
	}
	curl_multi_wakeup(c->multi);
	return FC_OK;
}

/*
 * GET get-roots once (blocking) and look for root_der among the answer's
 * certificates (RFC 6962 4.7). FC_EUPSTREAM / FC_EUNAVAIL with the reason.
 */
enum fc_status ct_client_has_root(struct ct_client *c, const uint8_t *root_der,
				  size_t root_len, bool *found, struct fc_err *err)
{
	struct sub tmp = {0}; /* for write_cb's buffer only */
	CURL *e = NULL;
	CURLcode rc;
	long status = 0;
	json_t *root = NULL, *certs;
	json_error_t jerr;
	enum fc_status st = FC_EUPSTREAM;
	size_t i;

	*found = false;
	fc_buf_init(&tmp.resp, CT_MAX_ROOTS_RESPONSE);
	if ((e = curl_easy_init()) == NULL ||
	    !easy_setup(c, e, c->get_roots_url, (long)c->timeout_ms, tmp.curl_err) ||
	    (c->get_headers && curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->get_headers) != CURLE_OK) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, &tmp) != CURLE_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl setup");
		goto out;
	}
	if ((rc = curl_easy_perform(e)) != CURLE_OK) {
		st = fc_err_set(err, tmp.resp_too_big ? FC_EUPSTREAM : FC_EUNAVAIL,
				"%s: %s", c->get_roots_url,
				tmp.resp_too_big ? "answer too large"
						 : (tmp.curl_err[0] ? tmp.curl_err : curl_easy_strerror(rc)));
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		st = fc_err_set(err, FC_EUPSTREAM, "%s answered %ld", c->get_roots_url, status);
		goto out;
	}
	root = json_loadb((const char *)tmp.resp.data, tmp.resp.len, JSON_REJECT_DUPLICATES, &jerr);
	certs = root ? json_object_get(root, "certificates") : NULL;
	if (!json_is_array(certs)) {
		st = fc_err_set(err, FC_EUPSTREAM, "%s: RFC 6962 4.7: no \"certificates\" array",
				c->get_roots_url);
		goto out;
	}
	for (i = 0; i < json_array_size(certs) && !*found; i++) {
		const json_t *v = json_array_get(certs, i);
		uint8_t *der = NULL;
		size_t len = 0;

		if (json_is_string(v) &&
		    fc_b64_decode_any(json_string_value(v), json_string_length(v), &der, &len)) {
			*found = len == root_len && memcmp(der, root_der, len) == 0;
			free(der);
		}
	}
	st = FC_OK;
out:
	json_decref(root);
	fc_buf_free(&tmp.resp);
	if (e)
		curl_easy_cleanup(e);
	return st;
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
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->get_headers);
	EVP_PKEY_free(c->key);
	free(c->url);
	free(c->add_pre_chain_url);
	free(c->get_roots_url);
	free(c->tls_ca);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
