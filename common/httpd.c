/*
 * The HTTP server plumbing shared by `fulcrum serve` and `fulcrum ctlog`,
 * over libmicrohttpd. It reads each request body up to a hard cap, hands the
 * whole exchange to one handler, and sends whatever the handler answers, at
 * once or later from another thread: until then the connection is suspended
 * and holds no worker thread (MHD_ALLOW_SUSPEND_RESUME).
 */
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* Headers plus a 16 KiB token must fit in one connection's memory pool. */
#define HTTPD_CONNECTION_MEMORY (128 * 1024)

struct fc_httpd {
	struct MHD_Daemon *mhd;
	fc_http_handler_fn handler;
	void *ctx;
	size_t max_body;
	uint16_t port;
	char *name;
	atomic_uint waiting; /* exchanges handed to the handler, not yet answered */
};

enum exchange_state {
	X_READING = 0, /* body still arriving */
	X_RUNNING,     /* handler called, has not returned or answered */
	X_SUSPENDED,   /* handler returned without answering; connection suspended */
	X_ANSWERED,    /* response stored, not yet queued */
	X_QUEUED,      /* response handed to MHD */
};

struct http_header {
	char *name;
	char *value;
};

struct fc_http_exchange {
	struct fc_httpd *d;
	struct MHD_Connection *conn;
	pthread_mutex_t lock;
	enum exchange_state state;
	char *method;
	char *path;
	struct fc_buf body;
	bool too_large;
	size_t discarded; /* body bytes dropped after passing the cap */
	int64_t started_ms;
	/* the response */
	unsigned status;
	struct MHD_Response *resp;
	struct http_header *headers;
	size_t n_headers;
};

static void exchange_free(struct fc_http_exchange *x)
{
	if (x == NULL)
		return;
	if (x->resp)
		MHD_destroy_response(x->resp);
	for (size_t i = 0; i < x->n_headers; i++) {
		free(x->headers[i].name);
		free(x->headers[i].value);
	}
	free(x->headers);
	fc_buf_free(&x->body);
	free(x->method);
	free(x->path);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

const char *fc_http_method(const struct fc_http_exchange *x) { return x->method; }
const char *fc_http_path(const struct fc_http_exchange *x) { return x->path; }
bool fc_http_body_too_large(const struct fc_http_exchange *x) { return x->too_large; }
int64_t fc_http_elapsed_ms(const struct fc_http_exchange *x) { return fc_mono_ms() - x->started_ms; }

const char *fc_http_header(const struct fc_http_exchange *x, const char *name)
{
	return MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, name);
}

const char *fc_http_query(const struct fc_http_exchange *x, const char *name)
{
	return MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND, name);
}

const uint8_t *fc_http_body(const struct fc_http_exchange *x, size_t *len)
{
	*len = x->body.len;
	return x->body.data ? x->body.data : (const uint8_t *)"";
}

void fc_http_add_header(struct fc_http_exchange *x, const char *name, const char *value)
{
	x->headers = fc_xrealloc(x->headers, (x->n_headers + 1) * sizeof(*x->headers));
	x->headers[x->n_headers].name = fc_xstrdup(name);
	x->headers[x->n_headers].value = fc_xstrdup(value);
	x->n_headers++;
}

/*
 * Store the response and, if the connection was suspended waiting for it,
 * resume it: MHD then calls access_cb again, which queues the response.
 */
void fc_http_respond(struct fc_http_exchange *x, unsigned status, const char *content_type,
		     const void *body, size_t len)
{
	struct fc_httpd *d = x->d; /* x may be gone once the lock is released */
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		abort(); /* only fails on out of memory: daemon policy */
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; i < x->n_headers; i++)
		MHD_add_response_header(resp, x->headers[i].name, x->headers[i].value);

	pthread_mutex_lock(&x->lock);
	if (x->resp != NULL || x->state >= X_ANSWERED) {
		pthread_mutex_unlock(&x->lock);
		MHD_destroy_response(resp);
		fc_log(LOG_ERR, "httpd: %s %s: answered twice (bug)", x->method, x->path);
		return;
	}
	x->resp = resp;
	x->status = status;
	if (x->state == X_SUSPENDED) {
		x->state = X_ANSWERED;
		MHD_resume_connection(x->conn);
	} else {
		x->state = X_ANSWERED;
	}
	pthread_mutex_unlock(&x->lock);
	atomic_fetch_sub(&d->waiting, 1);
}

/* Queue the stored response; called on an MHD thread with x answered. */
static enum MHD_Result queue_locked(struct fc_http_exchange *x)
{
	enum MHD_Result r = MHD_queue_response(x->conn, x->status, x->resp);

	x->state = X_QUEUED;
	return r;
}

/* Run the handler and either queue its answer or suspend the connection. */
static enum MHD_Result dispatch(struct fc_http_exchange *x)
{
	enum MHD_Result r = MHD_YES;

	x->state = X_RUNNING;
	atomic_fetch_add(&x->d->waiting, 1);
	x->d->handler(x->d->ctx, x);
	pthread_mutex_lock(&x->lock);
	if (x->state == X_ANSWERED) {
		r = queue_locked(x);
	} else {
		x->state = X_SUSPENDED;
		MHD_suspend_connection(x->conn);
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct fc_httpd *d = cls;
	struct fc_http_exchange *x = *con_cls;
	enum MHD_Result r;

	if (x == NULL) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		x = fc_xcalloc(1, sizeof(*x));
		x->d = d;
		x->conn = conn;
		pthread_mutex_init(&x->lock, NULL);
		x->method = fc_xstrdup(method);
		x->path = fc_xstrdup(url);
		x->started_ms = fc_mono_ms();
		fc_buf_init(&x->body, d->max_body);
		*con_cls = x;
		/* A declared length over the cap is answered before the body is
		 * read (and before any 100 Continue): the only point at which
		 * libmicrohttpd lets us answer a request with a body early. */
		if (cl != NULL && strtoull(cl, NULL, 10) > d->max_body) {
			x->too_large = true;
			return dispatch(x);
		}
		return MHD_YES;
	}
	switch (x->state) {
	case X_READING:
		if (*upload_data_size > 0) {
			if (!x->too_large && !fc_buf_append(&x->body, upload_data, *upload_data_size)) {
				/* A chunked body passed the cap: stop keeping it, and
				 * answer once it ends (or close the connection if it
				 * goes on far beyond the cap). */
				x->too_large = true;
				fc_buf_free(&x->body);
			}
			if (x->too_large) {
				x->discarded += *upload_data_size;
				if (x->discarded > 4 * d->max_body)
					return MHD_NO;
			}
			*upload_data_size = 0;
			return MHD_YES;
		}
		return dispatch(x);
	case X_ANSWERED: /* resumed after an asynchronous answer */
		pthread_mutex_lock(&x->lock);
		r = queue_locked(x);
		pthread_mutex_unlock(&x->lock);
		return r;
	default:
		/* Upload data arriving after an early answer: discard it. */
		*upload_data_size = 0;
		return MHD_YES;
	}
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct fc_http_exchange *x = *con_cls;

	if (x == NULL)
		return;
	/* A handler still owes an answer only if the connection died while
	 * it was running synchronously, which MHD does not do; suspended
	 * connections are never completed before they are resumed. */
	exchange_free(x);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	fc_log(LOG_WARNING, "httpd: %s: %s", (const char *)cls, line);
}

/*
 * Start a server. Returns FC_OK and *out once it listens, FC_EIO (address
 * in use, bad host) with the reason in err.
 */
enum fc_status fc_httpd_start(const struct fc_httpd_options *o, fc_http_handler_fn fn, void *ctx,
			      struct fc_httpd **out, struct fc_err *err)
{
	struct fc_httpd *d = fc_xcalloc(1, sizeof(*d));
	struct addrinfo hints = {0}, *ai = NULL;
	char portstr[8];
	const union MHD_DaemonInfo *info;
	unsigned threads = o->threads;
	unsigned flags;
	int rc;

	d->handler = fn;
	d->ctx = ctx;
	d->max_body = o->max_body;
	d->name = fc_xstrdup(o->name ? o->name : "http");
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", o->port);
	rc = getaddrinfo(o->host ? o->host : "0.0.0.0", portstr, &hints, &ai);
	if (rc != 0) {
		fc_err_set(err, FC_ECONFIG, "%s: listen address \"%s\": %s", d->name,
			   o->host ? o->host : "", gai_strerror(rc));
		goto fail;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first: libmicrohttpd uses its own for whatever options
	 * before it report (and warns that it does). */
	d->mhd = MHD_start_daemon(
		flags, o->port, NULL, NULL, access_cb, d, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		d->name, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_s ? o->timeout_s : 60),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONNECTION_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, completed_cb, d, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d->mhd == NULL) {
		fc_err_set(err, FC_EIO, "%s: cannot listen on %s:%u (address in use or not local?)",
			   d->name, o->host ? o->host : "0.0.0.0", o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info ? info->port : o->port;
	*out = d;
	return FC_OK;
fail:
	free(d->name);
	free(d);
	return err ? err->status : FC_EIO;
}

uint16_t fc_httpd_port(const struct fc_httpd *d)
{
	return d->port;
}

void fc_httpd_stop(struct fc_httpd *d)
{
	int64_t next_note;

	if (d == NULL)
		return;
	/* Stop accepting; suspended connections must be answered (and so
	 * resumed) before the daemon can stop. */
	MHD_quiesce_daemon(d->mhd);
	next_note = fc_mono_ms() + 5000;
	while (atomic_load(&d->waiting) > 0) {
		if (fc_mono_ms() > next_note) {
			fc_log(LOG_NOTICE, "httpd: %s: waiting for %u requests to finish", d->name,
			       atomic_load(&d->waiting));
			next_note = fc_mono_ms() + 5000;
		}
		usleep(10000);
	}
	MHD_stop_daemon(d->mhd);
	free(d->name);
	free(d);
}
