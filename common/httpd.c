/*
 * The HTTP front shared by `fulcrum serve` and `fulcrum ctlog` (docs/http.md):
 * exchanges, their answers, and the pool of worker threads that runs the
 * handlers. The I/O side (httpd_io.c) reads, parses and writes; it hands
 * each complete request to the pool through one queue, so that any idle
 * worker takes the next request whatever connection it came on, and gets
 * the answers back through the answered list. Ownership and lifetime of an
 * exchange are written down in common_int.h.
 */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common_int.h"

/* --- exchanges ------------------------------------------------------------ */

static void fields_free(struct http_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].value);
	}
	free(f);
}

static void exchange_free(struct fc_http_exchange *x)
{
	if (x == NULL)
		return;
	if (x->resp)
		MHD_destroy_response(x->resp);
	fields_free(x->resp_headers, x->n_resp_headers);
	fields_free(x->headers, x->n_headers);
	fields_free(x->query, x->n_query);
	fc_buf_free(&x->body);
	free(x->method);
	free(x->path);
	free(x->raw_uri);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

/*
 * A new exchange for a request on conn (I/O thread), held by the connection
 * only; freed by httpd_exchange_conn_release() and, if the handler got it,
 * fc_http_respond(), whichever comes last.
 */
struct fc_http_exchange *httpd_exchange_new(struct fc_httpd *d, struct conn_ctx *cc,
					    struct MHD_Connection *conn)
{
	struct fc_http_exchange *x = fc_xcalloc(1, sizeof(*x));

	x->d = d;
	x->conn = conn;
	x->cc = cc;
	x->fd = cc ? cc->fd : -1;
	x->tls = d->lim.tls != NULL;
	snprintf(x->addr, sizeof(x->addr), "%s", cc ? cc->addr : "-");
	x->conn_ref = true;
	pthread_mutex_init(&x->lock, NULL);
	x->started_ms = fc_mono_ms();
	fc_buf_init(&x->body, d->max_body);
	return x;
}

/* The connection lets go of x; the last holder frees it. */
void httpd_exchange_conn_release(struct fc_http_exchange *x)
{
	bool last;

	pthread_mutex_lock(&x->lock);
	x->conn_ref = false;
	x->conn = NULL;
	last = !x->handler_ref;
	pthread_mutex_unlock(&x->lock);
	if (last)
		exchange_free(x);
}

/* --- what a handler sees ---------------------------------------------------- */

const char *fc_http_method(const struct fc_http_exchange *x)
{
	return x->method;
}
const char *fc_http_path(const struct fc_http_exchange *x)
{
	return x->path;
}
bool fc_http_body_too_large(const struct fc_http_exchange *x)
{
	return x->too_large;
}
int64_t fc_http_elapsed_ms(const struct fc_http_exchange *x)
{
	return fc_mono_ms() - x->started_ms;
}

static const char *field_get(const struct http_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(f[i].name, name) == 0)
			return f[i].value;
	return NULL;
}

/* The request's headers and query were copied when it was checked
 * (httpd_check.c): they outlive the connection. */
const char *fc_http_header(const struct fc_http_exchange *x, const char *name)
{
	return field_get(x->headers, x->n_headers, name);
}

const char *fc_http_query(const struct fc_http_exchange *x, const char *name)
{
	return field_get(x->query, x->n_query, name);
}

const uint8_t *fc_http_body(const struct fc_http_exchange *x, size_t *len)
{
	*len = x->body.len;
	return x->body.data ? x->body.data : (const uint8_t *)"";
}

/*
 * Run fn(arg, x) on a worker for the handler that holds x (common.h), or
 * fn(arg, NULL) at once when x was answered for it by the stop.
 */
void fc_http_resume(struct fc_http_exchange *x, fc_http_resume_fn fn, void *arg)
{
	bool last;

	pthread_mutex_lock(&x->lock);
	if (x->abandoned) {
		x->handler_ref = false;
		last = !x->conn_ref;
		pthread_mutex_unlock(&x->lock);
		if (last)
			exchange_free(x);
		fn(arg, NULL);
		return;
	}
	x->resume_fn = fn;
	x->resume_arg = arg;
	httpd_work_push_locked(x->d, x);
	pthread_mutex_unlock(&x->lock);
}

void fc_http_add_header(struct fc_http_exchange *x, const char *name, const char *value)
{
	x->resp_headers =
		fc_xrealloc(x->resp_headers, (x->n_resp_headers + 1) * sizeof(*x->resp_headers));
	x->resp_headers[x->n_resp_headers].name = fc_xstrdup(name);
	x->resp_headers[x->n_resp_headers].value = fc_xstrdup(value);
	x->n_resp_headers++;
}

/* Has the peer of fd closed its side (FIN received, or reset)? */
static bool peer_closed(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return false;
	return ti.tcpi_state == TCP_CLOSE_WAIT || ti.tcpi_state == TCP_CLOSE ||
	       ti.tcpi_state == TCP_LAST_ACK;
}

/*
 * Peek (MSG_PEEK, non-blocking) at the client's socket: end of stream or an
 * error means it is gone; no data or more data (a pipelined request) means
 * it is there (over TLS, data followed by the peer's FIN means gone). The
 * socket stays open while the handler holds x (the connection is
 * suspended) unless the stop abandoned x, which counts as gone; x->lock
 * keeps the two apart.
 */
bool fc_http_client_gone(struct fc_http_exchange *x)
{
	bool gone;
	char c;

	pthread_mutex_lock(&x->lock);
	if (x->abandoned || x->fd < 0 || !x->conn_ref) {
		gone = true;
	} else {
		ssize_t n = recv(x->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		gone = n == 0 ||
		       (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
		/* A TLS client that leaves sends close_notify before its FIN:
		 * bytes to read, then the end. The kernel's state says it. */
		if (!gone && n > 0 && x->tls)
			gone = peer_closed(x->fd);
	}
	pthread_mutex_unlock(&x->lock);
	return gone;
}

/*
 * Store the answer and hand x back to the I/O thread, which resumes the
 * connection and queues it (common_int.h). Builds the libmicrohttpd
 * response here, on the caller's thread. If the stop already answered x
 * (abandoned), only drops the handler's reference.
 */
void fc_http_respond(struct fc_http_exchange *x, unsigned status, const char *content_type,
		     const void *body, size_t len)
{
	struct MHD_Response *resp;
	struct fc_httpd *d;
	bool last;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		abort(); /* only fails on out of memory: daemon policy */
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; i < x->n_resp_headers; i++)
		MHD_add_response_header(resp, x->resp_headers[i].name, x->resp_headers[i].value);

	pthread_mutex_lock(&x->lock);
	if (!x->handler_ref) {
		pthread_mutex_unlock(&x->lock);
		MHD_destroy_response(resp);
		fc_log(LOG_ERR, "httpd: %s %s: answered twice (bug)", x->method, x->path);
		return;
	}
	x->handler_ref = false;
	if (x->abandoned) {
		last = !x->conn_ref;
		pthread_mutex_unlock(&x->lock);
		MHD_destroy_response(resp);
		if (last)
			exchange_free(x);
		return;
	}
	x->resp = resp;
	x->status = status;
	d = x->d;
	pthread_mutex_lock(&d->lock);
	x->next_done = d->done_head;
	d->done_head = x;
	/* The wake-up is written under d->lock: the stop takes the lock
	 * before it frees d, so d outlives this call. */
	if (!d->wake_pending) {
		d->wake_pending = true;
		httpd_wake(d);
	}
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&x->lock);
}

/* Take the answered exchanges, oldest first (I/O thread). */
struct fc_http_exchange *httpd_done_take(struct fc_httpd *d)
{
	struct fc_http_exchange *x, *rev = NULL;

	pthread_mutex_lock(&d->lock);
	x = d->done_head;
	d->done_head = NULL;
	d->wake_pending = false;
	pthread_mutex_unlock(&d->lock);
	while (x != NULL) {
		struct fc_http_exchange *next = x->next_done;
		x->next_done = rev;
		rev = x;
		x = next;
	}
	return rev;
}

/* --- in flight ----------------------------------------------------------------- */

void httpd_held_add(struct fc_httpd *d, struct fc_http_exchange *x)
{
	x->held_prev = NULL;
	x->held_next = d->held;
	if (d->held)
		d->held->held_prev = x;
	d->held = x;
	x->on_held = true;
}

void httpd_held_del(struct fc_httpd *d, struct fc_http_exchange *x)
{
	if (!x->on_held)
		return;
	if (x->held_prev)
		x->held_prev->held_next = x->held_next;
	else
		d->held = x->held_next;
	if (x->held_next)
		x->held_next->held_prev = x->held_prev;
	x->on_held = false;
}

void httpd_uncount(struct fc_httpd *d, struct fc_http_exchange *x)
{
	if (x->counted) {
		x->counted = false;
		atomic_fetch_sub(&d->in_flight, 1);
	}
}

/* --- the worker pool ------------------------------------------------------------ */

static unsigned addr_hash(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % HTTPD_CQ_BUCKETS;
}

static void ring_append_locked(struct fc_httpd *d, struct client_queue *q)
{
	q->ring_next = NULL;
	if (d->ring_tail)
		d->ring_tail->ring_next = q;
	else
		d->ring_head = q;
	d->ring_tail = q;
}

/* Queue x for the next idle worker, behind its own client's earlier
 * requests only (I/O thread; x is counted and held). */
void httpd_work_push(struct fc_httpd *d, struct fc_http_exchange *x)
{
	pthread_mutex_lock(&x->lock);
	x->handler_ref = true;
	httpd_work_push_locked(d, x);
	pthread_mutex_unlock(&x->lock);
}

/* Queue x, whose lock the caller holds (x->lock, then d->lock, as in
 * fc_http_respond). */
void httpd_work_push_locked(struct fc_httpd *d, struct fc_http_exchange *x)
{
	struct client_queue *q;
	unsigned h = addr_hash(x->addr);

	pthread_mutex_lock(&d->lock);
	for (q = d->cq[h]; q != NULL && strcmp(q->addr, x->addr) != 0; q = q->hash_next)
		;
	if (q == NULL) {
		q = fc_xcalloc(1, sizeof(*q));
		snprintf(q->addr, sizeof(q->addr), "%s", x->addr);
		q->hash_next = d->cq[h];
		d->cq[h] = q;
		ring_append_locked(d, q);
	}
	x->next_work = NULL;
	if (q->tail)
		q->tail->next_work = x;
	else
		q->head = x;
	q->tail = x;
	pthread_cond_signal(&d->work_cond);
	pthread_mutex_unlock(&d->lock);
}

/* The next request: the first of the client whose turn it is; that client
 * goes to the back of the ring (or away, if it has nothing left). */
static struct fc_http_exchange *work_pop_locked(struct fc_httpd *d)
{
	struct client_queue *q = d->ring_head, **pp;
	struct fc_http_exchange *x;

	if (q == NULL)
		return NULL;
	x = q->head;
	q->head = x->next_work;
	if (q->head == NULL)
		q->tail = NULL;
	d->ring_head = q->ring_next;
	if (d->ring_head == NULL)
		d->ring_tail = NULL;
	if (q->head != NULL) {
		ring_append_locked(d, q);
	} else {
		for (pp = &d->cq[addr_hash(q->addr)]; *pp != q; pp = &(*pp)->hash_next)
			;
		*pp = q->hash_next;
		free(q);
	}
	return x;
}

static void *worker_main(void *arg)
{
	struct fc_httpd *d = arg;

	for (;;) {
		struct fc_http_exchange *x;
		bool helped = false;

		pthread_mutex_lock(&d->lock);
		while ((x = work_pop_locked(d)) == NULL && !d->workers_stop) {
			if (helped) {
				pthread_cond_wait(&d->work_cond, &d->lock);
				helped = false;
				continue;
			}
			/* Nothing queued: send the answers that are ready and
			 * take in what arrived, if the I/O thread is not at it
			 * (it may be waiting for a CPU), then wait. */
			pthread_mutex_unlock(&d->lock);
			httpd_io_help(d);
			helped = true;
			pthread_mutex_lock(&d->lock);
		}
		pthread_mutex_unlock(&d->lock);
		if (x == NULL)
			break;
		if (x->resume_fn != NULL) { /* fc_http_resume */
			fc_http_resume_fn fn = x->resume_fn;
			void *resume_arg = x->resume_arg;
			x->resume_fn = NULL;
			fn(resume_arg, x); /* x may be gone once it has answered */
			continue;
		}
		d->handler(d->ctx, x); /* x may be gone once it has answered */
	}
	return NULL;
}

/* Start n workers. FC_EINTERNAL with the reason if a thread cannot start. */
enum fc_status httpd_workers_start(struct fc_httpd *d, unsigned n, struct fc_err *err)
{
	d->workers = fc_xcalloc(n, sizeof(*d->workers));
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&d->workers[i], NULL, worker_main, d) != 0)
			return fc_err_set(err, FC_EINTERNAL, "%s: cannot start worker threads",
					  d->name);
		d->n_workers++;
	}
	return FC_OK;
}

/* Let the workers finish what they run and join them. */
void httpd_workers_stop(struct fc_httpd *d)
{
	pthread_mutex_lock(&d->lock);
	d->workers_stop = true;
	pthread_cond_broadcast(&d->work_cond);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->n_workers; i++)
		pthread_join(d->workers[i], NULL);
	free(d->workers);
	d->workers = NULL;
	d->n_workers = 0;
}

/*
 * The stop's bound has passed: every exchange still with the handler (or
 * queued for it) gets the front's 503 and is marked abandoned; its handler,
 * if it answers later, is ignored. Exchanges already answered are left to
 * the answered list. I/O thread.
 */
void httpd_abandon_all(struct fc_httpd *d)
{
	struct fc_http_exchange *q, *queued = NULL, *x, *next;

	pthread_mutex_lock(&d->lock);
	while ((q = work_pop_locked(d)) != NULL) {
		q->next_work = queued;
		queued = q;
	}
	pthread_mutex_unlock(&d->lock);
	for (q = queued; q != NULL; q = next) {
		fc_http_resume_fn fn = q->resume_fn;
		void *arg = q->resume_arg;

		/* A request that never reached a worker, or a handler's
		 * resumed work: the handler lets go (and frees what it held);
		 * the held list below answers it. */
		next = q->next_work;
		q->resume_fn = NULL;
		pthread_mutex_lock(&q->lock);
		q->handler_ref = false;
		pthread_mutex_unlock(&q->lock);
		if (fn != NULL)
			fn(arg, NULL);
	}
	for (x = d->held; x != NULL; x = next) {
		bool answer;

		next = x->held_next;
		pthread_mutex_lock(&x->lock);
		answer = x->resp == NULL && x->state == X_WORK;
		if (answer) {
			x->abandoned = true;
			x->resp = httpd_error_response(503, "the server is stopping", true);
			x->status = 503;
		}
		pthread_mutex_unlock(&x->lock);
		if (answer) {
			httpd_refusal(d, x->cc ? x->cc->addr : "-",
				      "%s %s: not answered within the shutdown timeout: 503",
				      x->method, x->path);
			x->state = X_ANSWERED;
			MHD_resume_connection(x->conn);
		}
	}
}

/* --- the front's own answers ------------------------------------------------------- */

/*
 * An error answer in Fulcio's shape (grpc-gateway): {"code":N,"message":
 * "...","details":[]}, code 14 (UNAVAILABLE) for 503 with Retry-After: 1,
 * else 3 (INVALID_ARGUMENT). Connection: close when close.
 */
struct MHD_Response *httpd_error_response(unsigned status, const char *msg, bool close)
{
	json_t *doc = json_pack("{s:i, s:s, s:[]}", "code", status == 503 ? 14 : 3, "message", msg,
				"details");
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct MHD_Response *resp;

	json_decref(doc);
	if (text == NULL)
		abort(); /* jansson fails here only on out of memory */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	free(text);
	if (resp == NULL)
		abort();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	return resp;
}
