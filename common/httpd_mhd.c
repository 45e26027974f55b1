/*
 * libmicrohttpd's callbacks, all run by the front's I/O side, under its
 * lock (httpd_io.c calls MHD_run and MHD_add_connection, and a worker with
 * nothing to do may call MHD_run, httpd_io_help): connections
 * start and end (NOTIFY_CONNECTION), a request target arrives (URI log
 * callback, which creates the exchange), the header is complete and the
 * body arrives (access handler), the request ends (NOTIFY_COMPLETED).
 * Behaviours of libmicrohttpd 0.9.75 relied on here are named where used;
 * docs/http.md lists them with their place in its source.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"

/* One limiter for the front's refusals, whatever the server. */
static struct fc_log_limit refusal_limit = FC_LOG_LIMIT_INIT("httpd: refusals", 10);

/* Log a refusal by the front, rate-limited (common.h fc_log_limited). */
void httpd_refusal(struct fc_httpd *d, const char *addr, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fc_log_limited(&refusal_limit, LOG_NOTICE, "httpd: %s: %s: %s", d->name, addr, msg);
}

void httpd_format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
			  sizeof(host));
	snprintf(out, cap, "%s", host);
}

/* A connection starts (inside MHD_add_connection) or ends (in MHD_run). */
void httpd_notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode toe)
{
	struct fc_httpd *d = cls;
	struct conn_ctx *c = *socket_context;

	d->activity++;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *sa =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		c = fc_xcalloc(1, sizeof(*c));
		c->d = d;
		c->conn = conn;
		c->fd = fd ? fd->connect_fd : -1;
		httpd_format_addr(sa ? sa->client_addr : NULL, c->addr, sizeof(c->addr));
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->n_conns++;
		httpd_conn_phase(c, PH_HEADER); /* the first request's header, from now */
		httpd_tls_conn_start(c);
		*socket_context = c;
		return;
	}
	if (c == NULL)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_conns--;
	if (c->phase == PH_WRITE)
		d->n_writing--;
	if (c->x != NULL)
		c->x->cc = NULL;
	httpd_tls_conn_end(c); /* 0.9.75: after gnutls_deinit, or before any handshake */
	free(c);
	*socket_context = NULL;
}

/*
 * The request target has arrived (0.9.75 calls this before it splits,
 * decodes or stores the target, and passes the return value to the access
 * handler as *con_cls; it also marks the request so that NOTIFY_COMPLETED
 * runs for it whatever happens next). Creates the exchange.
 */
void *httpd_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct fc_httpd *d = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_ctx *c = ci ? ci->socket_context : NULL;
	struct fc_http_exchange *x;

	d->activity++;
	if (c != NULL)
		httpd_tls_conn_request(c);
	if (c != NULL && c->phase == PH_IDLE)
		httpd_conn_phase(c, PH_HEADER);
	x = httpd_exchange_new(d, c, conn);
	if (c != NULL)
		c->x = x;
	httpd_check_uri(x, uri);
	return x;
}

/* Queue the front's own error answer for x at once (x keeps the response). */
static enum MHD_Result refuse(struct fc_httpd *d, struct fc_http_exchange *x, unsigned status,
			      const char *why, bool close)
{
	enum MHD_Result r;

	httpd_refusal(d, x->cc ? x->cc->addr : "-", "%s %s: %u %s", x->method ? x->method : "-",
		      x->raw_uri ? x->raw_uri : "-", status, why);
	if (x->resp)
		MHD_destroy_response(x->resp);
	x->resp = httpd_error_response(status, why, close);
	x->status = status;
	r = MHD_queue_response(x->conn, status, x->resp);
	x->state = X_QUEUED;
	if (x->cc)
		httpd_conn_phase(x->cc, PH_WRITE);
	return r;
}

/*
 * Hand x to the workers: count it against the in-flight cap (503 at once
 * over it), suspend the connection (0.9.75: a suspended connection is not
 * polled, not timed out and not closed until it is resumed), queue x.
 */
static enum MHD_Result dispatch(struct fc_httpd *d, struct fc_http_exchange *x)
{
	if (d->abandoned_all)
		return refuse(d, x, 503, "the server is stopping", true);
	if (atomic_fetch_add(&d->in_flight, 1) >= d->lim.max_in_flight) {
		atomic_fetch_sub(&d->in_flight, 1);
		return refuse(d, x, 503, "too many requests in flight", false);
	}
	x->counted = true;
	x->state = X_WORK;
	httpd_held_add(d, x);
	if (x->cc)
		httpd_conn_phase(x->cc, PH_HANDLER);
	MHD_suspend_connection(x->conn);
	httpd_work_push(d, x);
	return MHD_YES;
}

/* The answer of x is stored: give it to libmicrohttpd (the connection was
 * resumed; 0.9.75 calls the access handler again in the state where it was
 * suspended, where MHD_queue_response is allowed). */
static enum MHD_Result queue_answer(struct fc_httpd *d, struct fc_http_exchange *x)
{
	enum MHD_Result r;

	if ((d->draining || x->too_large) &&
	    MHD_get_response_header(x->resp, MHD_HTTP_HEADER_CONNECTION) == NULL)
		MHD_add_response_header(x->resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r = MHD_queue_response(x->conn, x->status, x->resp);
	x->state = X_QUEUED;
	httpd_held_del(d, x);
	httpd_uncount(d, x);
	if (x->cc)
		httpd_conn_phase(x->cc, PH_WRITE);
	return r;
}

/* The header is complete: check it, then decide what to do with the body. */
static enum MHD_Result on_header(struct fc_httpd *d, struct fc_http_exchange *x,
				 struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version)
{
	const char *cl, *te;
	unsigned long long len = 0;

	x->path = fc_xstrdup(url);
	x->started_ms = fc_mono_ms(); /* the request "arrives" with its header */
	httpd_check_header(x, conn, method, version);
	if (x->bad != NULL)
		return refuse(d, x, x->bad_status, x->bad, true);
	cl = fc_http_header(x, MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = fc_http_header(x, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (cl != NULL)
		len = strtoull(cl, NULL, 10); /* libmicrohttpd checked the digits */
	x->state = X_READING;
	if (len > 0 || te != NULL) {
		if (x->cc)
			httpd_conn_phase(x->cc, PH_BODY);
	}
	if (len > d->max_body) {
		/* Over the cap. Reading the body and dropping it before the 413
		 * lets every client see the answer (one still sending when the
		 * connection closes gets a reset instead); with Expect:
		 * 100-continue, or past the drain bound, answer at once. */
		x->too_large = true;
		if (x->expect_continue || len > d->drain_max)
			return dispatch(d, x);
	}
	return MHD_YES;
}

/* Body bytes: kept up to max_body, then dropped up to the drain bound. */
static enum MHD_Result on_body(struct fc_httpd *d, struct fc_http_exchange *x, const char *data,
			       size_t n)
{
	if (!x->too_large && !fc_buf_append(&x->body, data, n)) {
		x->drained = x->body.len;
		x->too_large = true; /* a chunked body passed the cap */
		fc_buf_free(&x->body);
	}
	if (x->too_large) {
		x->drained += n;
		if (x->drained > d->drain_max) {
			httpd_refusal(d, x->cc ? x->cc->addr : "-",
				      "%s %s: body goes on past %llu bytes: connection closed",
				      x->method, x->raw_uri, (unsigned long long)d->drain_max);
			return MHD_NO;
		}
	}
	return MHD_YES;
}

/* libmicrohttpd's access handler (MHD_AccessHandlerCallback). */
enum MHD_Result httpd_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload_data,
				size_t *upload_data_size, void **con_cls)
{
	struct fc_httpd *d = cls;
	struct fc_http_exchange *x = *con_cls;
	enum MHD_Result r;

	d->activity++;
	if (x == NULL) { /* no URI callback ran (not 0.9.75's order) */
		x = httpd_exchange_new(d, NULL, conn);
		*con_cls = x;
	}
	switch (x->state) {
	case X_HEADER: return on_header(d, x, conn, url, method, version);
	case X_READING:
		if (*upload_data_size > 0) {
			r = on_body(d, x, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return r;
		}
		return dispatch(d, x);
	case X_ANSWERED: return queue_answer(d, x);
	default:
		/* Body bytes after an early answer: libmicrohttpd drops the
		 * rest of the request and closes. */
		*upload_data_size = 0;
		return MHD_YES;
	}
}

/*
 * The request ended: answered, or its connection closed. The connection's
 * reference to the exchange ends here (the handler may still hold its own:
 * common_int.h).
 */
void httpd_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe)
{
	struct fc_httpd *d = cls;
	struct fc_http_exchange *x = *con_cls;

	d->activity++;
	if (x == NULL)
		return;
	httpd_held_del(d, x);
	httpd_uncount(d, x);
	if (x->cc != NULL) {
		x->cc->x = NULL;
		if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && !x->cc->closing)
			httpd_conn_phase(x->cc, PH_IDLE);
		x->cc = NULL;
	}
	httpd_exchange_conn_release(x);
	*con_cls = NULL;
}
