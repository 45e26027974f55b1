/*
 * Internals of common/: the HTTP front's structures, shared by httpd.c
 * (exchanges and the worker pool), httpd_io.c (the I/O thread),
 * httpd_mhd.c (libmicrohttpd's callbacks) and httpd_check.c (what a
 * request must look like). No other module includes this header.
 * docs/http.md describes the design.
 */
#ifndef FULCRUM_COMMON_INT_H
#define FULCRUM_COMMON_INT_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

/* Headers plus a 16 KiB token must fit in one connection's memory pool. */
#define HTTPD_CONNECTION_MEMORY (128 * 1024)
/* How often the I/O thread looks at deadlines (and at most how long it
 * sleeps). */
#define HTTPD_TICK_MS 250
/* Connections accepted per turn of the I/O loop. */
#define HTTPD_ACCEPT_BURST 64
/* Buckets of the table of client queues (httpd.c). */
#define HTTPD_CQ_BUCKETS 64
/* After the stop's bound, how long the front's own 503s may take to go. */
#define HTTPD_FINAL_FLUSH_MS 1000
/* TLS: while libmicrohttpd reports work that turns out to be only
 * handshakes waiting for their clients (httpd_io.c loop_timeout), the I/O
 * loop waits up to this long between turns, and at least
 * HTTPD_TLS_QUIET_RATIO times as long as its last such turn took (at
 * most a tenth of its time spent on them), never past the next tick. */
#define HTTPD_TLS_QUIET_MAX_MS 50
#define HTTPD_TLS_QUIET_RATIO 9

/* What a connection is doing; each phase but HANDLER has a deadline. */
enum conn_phase {
	PH_HEADER = 0, /* reading a request header (a new connection starts here) */
	PH_BODY,       /* reading a request body */
	PH_HANDLER,    /* the request is with the handler (connection suspended) */
	PH_WRITE,      /* sending an answer */
	PH_IDLE,       /* keep-alive, between requests */
};

/*
 * One connection, as the I/O side tracks it: created when libmicrohttpd
 * reports the connection started (MHD_CONNECTION_NOTIFY_STARTED), freed when
 * it reports it closed. Only the I/O side (d->io_lock) touches it.
 */
struct conn_ctx {
	struct fc_httpd *d;
	struct MHD_Connection *conn;
	int fd;
	enum conn_phase phase;
	int64_t started_ms;	    /* first byte of the current request (or accept) */
	int64_t deadline_ms;	    /* of the current phase; 0 = none */
	int64_t phase_ms;	    /* when the current phase began */
	uint64_t rx_mark;	    /* bytes received when it went idle (TCP_INFO) */
	bool closing;		    /* shut down by the front; libmicrohttpd closes it */
	struct fc_http_exchange *x; /* the current request, if any (the I/O reference) */
	struct tls_keys *tls_keys;  /* TLS: the chain and key its handshake used */
	bool tls_handshaking;	    /* TLS: no request yet (handshake maybe unfinished) */
	struct conn_ctx *prev, *next;
	char addr[INET6_ADDRSTRLEN + 8];
};

/*
 * The requests of one client address waiting for a worker. The non-empty
 * queues form a ring that the workers serve in turn, one request from each,
 * so that a client sending many requests at once delays the others by at
 * most one request per worker, not by all of its own.
 */
struct client_queue {
	struct fc_http_exchange *head, *tail;
	struct client_queue *ring_next;
	struct client_queue *hash_next;
	char addr[INET6_ADDRSTRLEN + 8];
};

/* Where an exchange is. */
enum exchange_state {
	X_HEADER = 0, /* created by the URI callback; header not complete */
	X_READING,    /* header checked; body arriving (kept or drained) */
	X_WORK,	      /* handed to the handler (queued or running, or held) */
	X_ANSWERED,   /* an answer is stored; the connection is (being) resumed */
	X_QUEUED,     /* the answer was given to libmicrohttpd */
};

struct http_field {
	char *name;
	char *value;
};

/*
 * One request and its answer.
 *
 * Ownership and lifetime. Two parties may hold an exchange: the connection
 * (the I/O side, through libmicrohttpd's per-request pointer) from the URI
 * callback until libmicrohttpd reports the request completed; and the
 * handler, from the moment the exchange is queued for a worker until
 * fc_http_respond() returns. conn_ref and handler_ref say who still holds
 * it; both change under lock, and whoever clears the last one frees the
 * exchange. So neither party can free it under the other.
 *
 * The answer travels one way: fc_http_respond() stores it and, under lock,
 * puts the exchange on the server's answered list; only the I/O side takes
 * it from there, resumes the connection and queues the answer. The I/O
 * side is whoever holds d->io_lock: the I/O thread, or a worker with
 * nothing to do lending a hand (httpd_io_help); no one else ever calls into
 * libmicrohttpd or touches the connections, so a connection that turns out
 * to be dead on resume is closed (and the completion callback run) by the
 * side that owns it, never while another thread is inside the exchange.
 *
 * When the stop's bound passes, the I/O side may answer an exchange the
 * handler still holds (503); it is then marked abandoned: the handler's
 * later fc_http_respond() only drops its reference. An abandoned exchange
 * never touches its server (which may be gone) or its connection.
 */
struct fc_http_exchange {
	struct fc_httpd *d;
	struct MHD_Connection *conn;
	struct conn_ctx *cc;
	pthread_mutex_t lock;
	bool conn_ref, handler_ref, abandoned;
	enum exchange_state state; /* I/O side only */
	bool counted;		   /* counted in d->in_flight */
	bool on_held;		   /* on d's held list (I/O side only) */
	int fd;
	bool tls;			 /* over TLS (fc_http_client_gone) */
	char addr[INET6_ADDRSTRLEN + 8]; /* the client's, for the fair queue and logs */
	/* the request (immutable once handed to the handler) */
	char *method;
	char *path;
	char *raw_uri;
	const char *raw_uri_at; /* where libmicrohttpd's buffer held it (compared only) */
	size_t raw_uri_len;
	const char *bad; /* why the front refuses it (400), or NULL */
	unsigned bad_status;
	struct http_field *headers, *query;
	size_t n_headers, n_query;
	struct fc_buf body;
	bool too_large, expect_continue, has_host;
	uint64_t drained;
	int64_t started_ms;
	/* the answer */
	unsigned status;
	struct MHD_Response *resp;
	struct http_field *resp_headers;
	size_t n_resp_headers;
	/* lists */
	struct fc_http_exchange *next_work; /* its client's queue (d->lock) */
	fc_http_resume_fn resume_fn;	    /* fc_http_resume: run this, not the handler */
	void *resume_arg;
	struct fc_http_exchange *next_done;		/* d->done_head (d->lock) */
	struct fc_http_exchange *held_prev, *held_next; /* d->held (I/O side) */
};

struct fc_httpd {
	char *name;
	struct MHD_Daemon *mhd;
	fc_http_handler_fn handler;
	void *ctx;
	size_t max_body;
	uint64_t drain_max;
	uint16_t port;
	struct fc_httpd_limits lim;

	/* the I/O side: the I/O thread, or a worker lending a hand, under
	 * io_lock; everything from here to the shared part is theirs */
	pthread_mutex_t io_lock;
	bool io_closed; /* the I/O thread has finished: no more turns */
	pthread_t io_thread;
	bool io_started;
	int epfd, listen_fd, wake_fd;
	bool listening;
	int64_t accept_resume_ms; /* accepting paused until (fd exhaustion) */
	struct conn_ctx *conns;	  /* every connection */
	unsigned n_conns;
	struct fc_http_exchange *held; /* exchanges with the handler */
	atomic_bool stop_requested;
	bool draining; /* I/O thread: the stop has begun */
	int64_t drain_deadline_ms;
	bool abandoned_all;
	int64_t final_deadline_ms;
	uint64_t activity;	 /* libmicrohttpd callbacks run (any kind) */
	unsigned quiet_turns;	 /* turns in a row with no event and no callback */
	int64_t quiet_turn_us;	 /* how long the last of them took (MHD_run) */
	unsigned tls_handshakes; /* connections with tls_handshaking set */
	unsigned n_writing;	 /* connections in PH_WRITE */

	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	struct client_queue *cq[HTTPD_CQ_BUCKETS];  /* by client address */
	struct client_queue *ring_head, *ring_tail; /* the non-empty ones, in turn */
	struct fc_http_exchange *done_head;	    /* answered, for the I/O thread */
	bool wake_pending;
	bool workers_stop;
	unsigned n_workers;
	pthread_t *workers;
	atomic_uint in_flight;
};

/* httpd.c: exchanges and the worker pool */
struct fc_http_exchange *httpd_exchange_new(struct fc_httpd *d, struct conn_ctx *cc,
					    struct MHD_Connection *conn);
/* The connection lets go of x (request completed or connection closed). */
void httpd_exchange_conn_release(struct fc_http_exchange *x);
/* Hand x to the worker pool (the connection is suspended). */
void httpd_work_push(struct fc_httpd *d, struct fc_http_exchange *x);
/* The same under x->lock, for an exchange the handler already holds. */
void httpd_work_push_locked(struct fc_httpd *d, struct fc_http_exchange *x);
/* Take the answered list (LIFO order reversed to arrival order). */
struct fc_http_exchange *httpd_done_take(struct fc_httpd *d);
enum fc_status httpd_workers_start(struct fc_httpd *d, unsigned n, struct fc_err *err);
void httpd_workers_stop(struct fc_httpd *d);
/* Answer every exchange still with the handler with a 503 of the front's
 * own and drop the queue (the stop's bound has passed). I/O thread. */
void httpd_abandon_all(struct fc_httpd *d);
/* The front's own answer: Fulcio's error shape {"code":N,"message":...,
 * "details":[]}, with Retry-After for 503 and Connection: close if asked. */
struct MHD_Response *httpd_error_response(unsigned status, const char *msg, bool close);
void httpd_held_add(struct fc_httpd *d, struct fc_http_exchange *x);
void httpd_held_del(struct fc_httpd *d, struct fc_http_exchange *x);
void httpd_uncount(struct fc_httpd *d, struct fc_http_exchange *x);

/* httpd_mhd.c: libmicrohttpd's callbacks */
void *httpd_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn);
enum MHD_Result httpd_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload_data,
				size_t *upload_data_size, void **con_cls);
void httpd_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode toe);
void httpd_notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode toe);
/* The host part of a client address, for logs. */
void httpd_format_addr(const struct sockaddr *sa, char *out, size_t cap);
/* Log a refusal by the front (rate-limited). */
void httpd_refusal(struct fc_httpd *d, const char *addr, const char *fmt, ...) FC_PRINTF(3, 4);

/* httpd_check.c: what a request must look like */
/* Check the raw request target seen by the URI callback; sets x->bad. */
void httpd_check_uri(struct fc_http_exchange *x, const char *uri);
/* Check the complete header (first call of the access callback) and copy
 * it into x; sets x->bad. */
void httpd_check_header(struct fc_http_exchange *x, struct MHD_Connection *conn, const char *method,
			const char *version);

/* httpd_io.c: the I/O thread */
/* Close c at once (the front's decision): libmicrohttpd notices and frees. */
void httpd_conn_close(struct conn_ctx *c, const char *why);
/* Phase changes, with their deadlines. */
void httpd_conn_phase(struct conn_ctx *c, enum conn_phase ph);
/* Wake the I/O thread (answers are waiting, or a stop). */
void httpd_wake(struct fc_httpd *d);
/* One non-blocking turn of the I/O side by a worker with nothing to do,
 * if the I/O lock is free (httpd_io.c). */
void httpd_io_help(struct fc_httpd *d);

/* httpd_tls.c: TLS */
/* GnuTLS's priority string of t (MHD_OPTION_HTTPS_PRIORITIES). */
const char *httpd_tls_priorities(const struct fc_httpd_tls *t);
/* The certificate callback (MHD_OPTION_HTTPS_CERT_CALLBACK). */
int httpd_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		       gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);
/* c's connection started (NOTIFY_STARTED) / sent its first request /
 * is closed (drops the key set its handshake pinned). tls_handshakes
 * counts the connections between the first two (httpd_io.c
 * loop_timeout). */
void httpd_tls_conn_start(struct conn_ctx *c);
void httpd_tls_conn_request(struct conn_ctx *c);
void httpd_tls_conn_end(struct conn_ctx *c);

#endif /* FULCRUM_COMMON_INT_H */
