/*
 * The fetch thread: every discovery and JWKS GET of a verifier runs here,
 * never on the thread that asked for it (OpenID Connect Discovery 1.0 4,
 * RFC 7517 5).
 *
 * One thread drives all GETs through libcurl's multi interface, as the CT
 * client does: a slow or hanging issuer holds a transfer, not a thread, and
 * delays only the requests that wait for that issuer. A GET is submitted
 * with a callback, which the fetch thread calls exactly once when the GET
 * ends (fetch.c: caps, same-origin redirects, one deadline); the callback
 * may submit the next GET (discovery, then JWKS). When the fetcher is freed,
 * every GET still queued or running ends at once with FC_EUNAVAIL, its
 * callback called on the fetch thread, before the thread is joined.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "oidc_int.h"

#define POLL_MAX_MS 1000 /* longest idle wait; a submission wakes it at once */
#define STOP_MSG "aborted: the verifier is shutting down"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	/* The program's main normally did this already; a second call only
	 * bumps libcurl's counter. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One submitted GET. */
struct job {
	struct job *next, *prev;
	struct oidc_get *get;
	oidc_get_done_fn done;
	void *arg;
};

struct oidc_fetcher {
	CURLM *multi; /* the fetch thread's; curl_multi_wakeup from anywhere */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	struct job *queue; /* under lock: submitted, not yet started */
	bool stopping;	   /* under lock */

	struct job *active; /* fetch thread only: GETs with a transfer in curl */
	atomic_uint n_gets;
};

static void list_add(struct job **head, struct job *j)
{
	j->prev = NULL;
	j->next = *head;
	if (*head)
		(*head)->prev = j;
	*head = j;
}

static void list_del(struct job **head, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		*head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->next = j->prev = NULL;
}

/* Tell the submitter how j ended, then free it. Fetch thread only. */
static void job_finish(struct job *j)
{
	struct oidc_http_response resp;
	struct fc_err err = {0};
	enum fc_status st = oidc_get_outcome(j->get, &resp, &err);

	j->done(j->arg, st, &resp, &err);
	oidc_http_response_free(&resp);
	oidc_get_free(j->get);
	free(j);
}

/* Start the GETs submitted since the last turn (or end them: stopping). */
static void start_queued(struct oidc_fetcher *f, struct job *fresh, bool stop)
{
	struct job *j, *nx;

	for (j = fresh; j != NULL; j = nx) {
		nx = j->next;
		j->next = j->prev = NULL;
		if (stop)
			oidc_get_abort(j->get, f->multi, FC_EUNAVAIL, STOP_MSG);
		if (!stop && oidc_get_start(j->get, f->multi, j))
			list_add(&f->active, j);
		else
			job_finish(j);
	}
}

/* Collect the transfers libcurl finished; finish the GETs that are over. */
static void reap_done(struct oidc_fetcher *f)
{
	CURLMsg *msg;
	CURLcode rc;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		struct job *j = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result; /* msg is gone once the handle leaves multi */
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j) !=
			    CURLE_OK ||
		    j == NULL)
			continue;
		if (oidc_get_hop_done(j->get, f->multi, rc, j)) {
			list_del(&f->active, j);
			job_finish(j);
		}
	}
}

/* Stopping: end every GET still here, once. Callbacks run now may submit
 * again; those submissions are refused (stopping is set). */
static void abort_all(struct oidc_fetcher *f)
{
	struct job *j;

	while ((j = f->active) != NULL) {
		list_del(&f->active, j);
		oidc_get_abort(j->get, f->multi, FC_EUNAVAIL, STOP_MSG);
		job_finish(j);
	}
}

static void *fetch_thread(void *arg)
{
	struct oidc_fetcher *f = arg;
	struct job *fresh;
	int running;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		fresh = f->queue;
		f->queue = NULL;
		stop = f->stopping;
		pthread_mutex_unlock(&f->lock);
		start_queued(f, fresh, stop);
		if (stop)
			break;
		curl_multi_perform(f->multi, &running);
		reap_done(f);
		/* libcurl shortens the wait to its own next timeout. */
		curl_multi_poll(f->multi, NULL, 0, POLL_MAX_MS, NULL);
	}
	abort_all(f);
	return NULL;
}

/*
 * Make a fetcher and start its thread (with every signal blocked, so that
 * the process's signals go to the threads that wait for them). No I/O.
 * FC_EINTERNAL with the reason if libcurl or the thread cannot start; on
 * FC_OK, free *out with oidc_fetcher_free().
 */
enum fc_status oidc_fetcher_new(struct oidc_fetcher **out, struct fc_err *err)
{
	struct oidc_fetcher *f;
	sigset_t all, old;
	int rc;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return fc_err_set(err, FC_EINTERNAL, "oidc: curl_global_init failed");
	f = fc_xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	atomic_init(&f->n_gets, 0);
	if ((f->multi = curl_multi_init()) == NULL) {
		oidc_fetcher_free(f);
		return fc_err_set(err, FC_EINTERNAL, "oidc: cannot create a libcurl multi handle");
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&f->thread, NULL, fetch_thread, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		oidc_fetcher_free(f);
		return fc_err_set(err, FC_EINTERNAL, "oidc: cannot start the fetch thread");
	}
	f->started = true;
	*out = f;
	return FC_OK;
}

/*
 * Stop the fetch thread: GETs queued or running end now with FC_EUNAVAIL,
 * their callbacks called on the fetch thread, which is then joined; then
 * free everything. Must not be called from a callback. NULL is fine.
 */
void oidc_fetcher_free(struct oidc_fetcher *f)
{
	if (f == NULL)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->lock);
		f->stopping = true;
		pthread_mutex_unlock(&f->lock);
		curl_multi_wakeup(f->multi);
		pthread_join(f->thread, NULL);
	}
	if (f->multi)
		curl_multi_cleanup(f->multi);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/*
 * Submit a GET of url (oidc_get_new: ca_pem, max_bytes, timeout_ms). On
 * FC_OK, done(arg, ...) will be called exactly once, on the fetch thread,
 * with the GET's outcome (oidc_get_outcome's statuses; FC_EUNAVAIL if the
 * fetcher stopped first); the response it gets is freed after it returns
 * (it may take resp->body, setting it to NULL). FC_EUNAVAIL if the fetcher
 * is stopping: done is never called then. Safe from any thread, callbacks
 * included.
 */
enum fc_status oidc_fetcher_get(struct oidc_fetcher *f, const char *url, const char *ca_pem,
				size_t max_bytes, int timeout_ms, oidc_get_done_fn done, void *arg,
				struct fc_err *err)
{
	struct job *j = fc_xcalloc(1, sizeof(*j));
	bool stopping;

	j->get = oidc_get_new(url, ca_pem, max_bytes, timeout_ms);
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&f->lock);
	stopping = f->stopping;
	if (!stopping)
		list_add(&f->queue, j);
	pthread_mutex_unlock(&f->lock);
	if (stopping) {
		oidc_get_free(j->get);
		free(j);
		return fc_err_set(err, FC_EUNAVAIL,
				  "oidc: GET refused: the verifier is shutting down");
	}
	atomic_fetch_add(&f->n_gets, 1);
	curl_multi_wakeup(f->multi);
	return FC_OK;
}

/* How many GETs were submitted so far (tests). */
unsigned oidc_fetcher_gets(struct oidc_fetcher *f)
{
	return atomic_load(&f->n_gets);
}

/* --- waiting for a callback on another thread ---------------------------------------- */

/*
 * Get s ready for waits (a few stores: no system call). Release with
 * oidc_sync_destroy().
 */
void oidc_sync_init(struct oidc_sync *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

/*
 * An oidc_wake_fn for oidc_sync: records st and wakes the waiter. The
 * waiter may free s as soon as this returns.
 */
void oidc_sync_wake(void *arg, enum fc_status st)
{
	struct oidc_sync *s = arg;

	pthread_mutex_lock(&s->mu);
	s->st = st;
	s->woken = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Wait until oidc_sync_wake was called once since the last wait; returns
 * the status it passed.
 */
enum fc_status oidc_sync_wait(struct oidc_sync *s)
{
	enum fc_status st;

	pthread_mutex_lock(&s->mu);
	while (!s->woken)
		pthread_cond_wait(&s->cv, &s->mu);
	s->woken = false;
	st = s->st;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* Release what oidc_sync_init set up; no wake may still be coming. */
void oidc_sync_destroy(struct oidc_sync *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

/* --- a blocking GET (tests, tools) ----------------------------------------------------- */

struct sync_get {
	struct oidc_sync sync;
	enum fc_status st;
	struct fc_err err;
	struct oidc_http_response resp;
};

static void sync_get_done(void *arg, enum fc_status st, struct oidc_http_response *resp,
			  const struct fc_err *err)
{
	struct sync_get *g = arg;

	g->st = st;
	if (st == FC_OK) {
		g->resp = *resp;
		memset(resp, 0, sizeof(*resp));
	} else {
		fc_err_set(&g->err, st, "%s", err->msg);
	}
	oidc_sync_wake(&g->sync, st);
}

/*
 * GET url on f's fetch thread and wait for it: the outcome of oidc_get_outcome
 * (FC_OK with *resp filled, free with oidc_http_response_free, for any final
 * HTTP status; else the status with the reason in err). For tests and
 * tools; never call it on the fetch thread.
 */
enum fc_status oidc_http_get(struct oidc_fetcher *f, const char *url, const char *ca_pem,
			     size_t max_bytes, int timeout_ms, struct oidc_http_response *resp,
			     struct fc_err *err)
{
	struct sync_get g;
	enum fc_status st;

	memset(&g, 0, sizeof(g));
	memset(resp, 0, sizeof(*resp));
	resp->max_age_s = -1;
	oidc_sync_init(&g.sync);
	st = oidc_fetcher_get(f, url, ca_pem, max_bytes, timeout_ms, sync_get_done, &g, err);
	if (st == FC_OK) {
		oidc_sync_wait(&g.sync);
		st = g.st;
		if (st == FC_OK)
			*resp = g.resp;
		else
			fc_err_set(err, st, "%s", g.err.msg);
	}
	oidc_sync_destroy(&g.sync);
	return st;
}
