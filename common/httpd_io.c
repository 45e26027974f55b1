/*
 * The front's I/O thread (docs/http.md). It owns the listening socket and
 * libmicrohttpd, run without a thread of its own (MHD_USE_EPOLL, external
 * event loop): it waits on its own epoll set, which holds libmicrohttpd's
 * epoll descriptor, the listening socket and a wake-up eventfd, for at most
 * HTTPD_TICK_MS; then it accepts new connections itself (MHD_add_connection,
 * which applies the connection caps and refuses over them by closing),
 * resumes the connections whose answers arrived, and calls MHD_run(), which
 * never blocks. libmicrohttpd 0.9.75's own loop (daemon.c MHD_epoll) calls
 * epoll_wait again with the same timeout whenever exactly MAX_EVENTS (128)
 * events were ready, and so sleeps with ready connections unprocessed; with
 * MHD_run the timeout is 0 and that second call returns at once.
 *
 * Each tick it also enforces the deadlines of every connection (common.h
 * struct fc_httpd_limits), closing those past them, and runs the stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common_int.h"

/* libmicrohttpd's own messages (e.g. one per refused connection). */
static struct fc_log_limit mhd_limit = FC_LOG_LIMIT_INIT("httpd: libmicrohttpd messages", 10);

/* Bytes the kernel has received on fd so far (0 if it cannot say). */
static uint64_t bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return 0;
	return ti.tcpi_bytes_received;
}

/* Enter phase ph and set its deadline (common.h struct fc_httpd_limits). */
void httpd_conn_phase(struct conn_ctx *c, enum conn_phase ph)
{
	const struct fc_httpd_limits *l = &c->d->lim;
	int64_t now = fc_mono_ms();

	if ((c->phase == PH_WRITE) != (ph == PH_WRITE))
		c->d->n_writing += ph == PH_WRITE ? 1 : -1;
	c->phase = ph;
	c->phase_ms = now;
	switch (ph) {
	case PH_HEADER:
		c->started_ms = now;
		c->deadline_ms = now + l->read_header_ms;
		break;
	case PH_BODY: c->deadline_ms = c->started_ms + l->read_ms; break;
	case PH_HANDLER: c->deadline_ms = 0; break;
	case PH_WRITE: c->deadline_ms = now + l->write_ms; break;
	case PH_IDLE:
		c->deadline_ms = now + l->idle_ms;
		c->rx_mark = bytes_received(c->fd);
		break;
	}
}

/*
 * Close c: shut its socket down both ways; libmicrohttpd sees the hang-up
 * at once (EPOLLHUP), closes the connection and runs its callbacks. why,
 * if set, is logged as a refusal.
 */
void httpd_conn_close(struct conn_ctx *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	if (why != NULL)
		httpd_refusal(c->d, c->addr, "connection closed: %s", why);
	shutdown(c->fd, SHUT_RDWR);
}

/* Wake the I/O thread (any thread). */
void httpd_wake(struct fc_httpd *d)
{
	uint64_t one = 1;

	if (write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fc_log(LOG_ERR, "httpd: %s: wake-up: %s", d->name, strerror(errno));
}

/* --- accepting --------------------------------------------------------------- */

static void listen_watch(struct fc_httpd *d, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = d->listen_fd};

	if (d->listen_fd < 0 || d->listening == on)
		return;
	epoll_ctl(d->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, d->listen_fd, &ev);
	d->listening = on;
}

/* Accept what is waiting (at most a burst) and give it to libmicrohttpd,
 * which refuses (closes) a connection over either cap. */
static void accept_burst(struct fc_httpd *d)
{
	for (int i = 0; i < HTTPD_ACCEPT_BURST && d->listen_fd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned before = d->n_conns;
		char addr[INET6_ADDRSTRLEN + 8];
		int fd = accept4(d->listen_fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				httpd_refusal(d, "-", "accept: %s: pausing for 100 ms",
					      strerror(errno));
				listen_watch(d, false);
				d->accept_resume_ms = fc_mono_ms() + 100;
			}
			return;
		}
		if (MHD_add_connection(d->mhd, fd, (struct sockaddr *)&ss, sl) != MHD_YES) {
			httpd_format_addr((struct sockaddr *)&ss, addr, sizeof(addr));
			httpd_refusal(d, addr, "connection refused: %s",
				      before >= d->lim.max_connections
					      ? "the server's connection cap"
					      : "the per-address connection cap");
		}
	}
}

/* --- the loop ------------------------------------------------------------------ */

/* Resume the connections whose answers arrived (httpd.c). */
static void resume_answered(struct fc_httpd *d)
{
	struct fc_http_exchange *x, *next;

	for (x = httpd_done_take(d); x != NULL; x = next) {
		next = x->next_done;
		x->state = X_ANSWERED;
		MHD_resume_connection(x->conn);
	}
}

static const char *deadline_reason(const struct conn_ctx *c)
{
	switch (c->phase) {
	case PH_HEADER: return "request header not complete within --read-header-timeout";
	case PH_BODY: return "request not complete within --read-timeout";
	case PH_WRITE: return "answer not taken within --write-timeout";
	default: return NULL; /* idle: nothing to report */
	}
}

/*
 * The deadlines. A connection waiting for a request (idle, or new) whose
 * kernel counters show bytes since starts its header deadline now; during
 * a stop, one with no bytes for a whole tick is closed (a client that
 * sends its next request at once gets it answered, with Connection: close,
 * rather than a connection closed under it).
 */
static void sweep(struct fc_httpd *d, int64_t now)
{
	struct conn_ctx *c, *next;

	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->closing || c->phase == PH_HANDLER)
			continue;
		if (c->phase == PH_IDLE || (c->phase == PH_HEADER && c->x == NULL)) {
			bool arriving = bytes_received(c->fd) > c->rx_mark;

			if (arriving && c->phase == PH_IDLE)
				httpd_conn_phase(c, PH_HEADER);
			else if (!arriving && d->draining && now - c->phase_ms >= HTTPD_TICK_MS) {
				httpd_conn_close(c, NULL);
				continue;
			}
		}
		if (c->deadline_ms != 0 && now >= c->deadline_ms)
			httpd_conn_close(c, deadline_reason(c));
	}
}

/* SIGTERM: the listener goes at once; answers get Connection: close. */
static void begin_drain(struct fc_httpd *d, int64_t now)
{
	d->draining = true;
	d->drain_deadline_ms = now + d->lim.shutdown_ms;
	listen_watch(d, false);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -1;
	fc_log(LOG_NOTICE, "httpd: %s: stopping: %u connections, %u requests in flight", d->name,
	       d->n_conns, atomic_load(&d->in_flight));
}

/*
 * Is the stop over? Yes once every connection is gone. At the bound,
 * whatever still waits for its handler is answered 503 (httpd_abandon_all)
 * and connections not sending an answer are closed; those get
 * HTTPD_FINAL_FLUSH_MS more.
 */
static bool drain_done(struct fc_httpd *d, int64_t now)
{
	struct conn_ctx *c, *next;

	if (!d->abandoned_all) {
		if (d->n_conns == 0 && d->held == NULL)
			return true;
		if (now < d->drain_deadline_ms)
			return false;
		fc_log(LOG_WARNING,
		       "httpd: %s: shutdown timeout: %u requests still in flight "
		       "are answered 503",
		       d->name, atomic_load(&d->in_flight));
		httpd_abandon_all(d);
		d->abandoned_all = true;
		d->final_deadline_ms = now + HTTPD_FINAL_FLUSH_MS;
		for (c = d->conns; c != NULL; c = next) {
			next = c->next;
			if (c->phase != PH_HANDLER && c->phase != PH_WRITE)
				httpd_conn_close(c, NULL);
		}
		return false;
	}
	return d->n_conns == 0 || now >= d->final_deadline_ms;
}

/*
 * Is a connection sending an answer with room in its socket? libmicrohttpd
 * then has work that no event announces: it writes a TLS record a turn for
 * as long as the socket takes them. An answer whose client does not read
 * waits for an event instead (0.9.75 drops the connection from its ready
 * list on GNUTLS_E_AGAIN: mhd_send.c MHD_send_data_), which comes when the
 * client reads. A socket in error counts as ready (libmicrohttpd acts).
 */
static bool answer_sendable(struct fc_httpd *d)
{
	struct pollfd pf[64];
	nfds_t n = 0;
	struct conn_ctx *c = d->conns;

	if (d->n_writing == 0)
		return false;
	while (c != NULL || n > 0) {
		for (; c != NULL && n < 64; c = c->next)
			if (c->phase == PH_WRITE && !c->closing && c->fd >= 0)
				pf[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
		if (n > 0 && poll(pf, n, 0) != 0)
			return true; /* ready, or poll failed: do not wait */
		n = 0;
	}
	return false;
}

/* Microseconds of the monotonic clock: what a quiet turn cost. */
static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * How long to wait: the next tick, or sooner if libmicrohttpd says so.
 *
 * With TLS, libmicrohttpd 0.9.75 says "now" (0) for as long as a handshake
 * waits for its client: the connection stays on its ready list because
 * only a record read that finds nothing clears its read-ready flag
 * (connection_https.c recv_tls_adapter), never the handshake
 * (MHD_run_tls_handshake_ on GNUTLS_E_AGAIN), and MHD_get_timeout answers
 * 0 while that list is not empty. Each turn then tries every such
 * handshake again; the loop would spin for a round trip of every
 * handshake, and for the whole --read-header-timeout of a client that sends
 * a ClientHello (or part of one) and nothing more. So while some TLS
 * connection has had no request yet, no answer can be sent, and two turns
 * in a row saw no event and ran no callback (a ClientHello read runs the
 * certificate callback), the wait grows: 1, 2, 4 ... ms up to
 * HTTPD_TLS_QUIET_MAX_MS, and at least HTTPD_TLS_QUIET_RATIO times the
 * last quiet turn (with thousands of stalled handshakes a turn is long),
 * never past the next tick. The client's next bytes are an event on
 * libmicrohttpd's epoll descriptor and end the wait at once; a body being
 * read shows as callbacks; an answer being written keeps the loop at full
 * speed (answer_sendable).
 */
static int loop_timeout(struct fc_httpd *d, int64_t next_tick)
{
	int64_t now = fc_mono_ms(), room = next_tick > now ? next_tick - now : 0, q;
	int t = (int)room;
	MHD_UNSIGNED_LONG_LONG mt;

	if (MHD_get_timeout(d->mhd, &mt) == MHD_YES && mt < (MHD_UNSIGNED_LONG_LONG)t)
		t = (int)mt;
	if (t == 0 && d->tls_handshakes > 0 && d->quiet_turns >= 2 && !answer_sendable(d)) {
		q = (int64_t)1 << (d->quiet_turns - 2 < 6 ? d->quiet_turns - 2 : 6);
		q = q < HTTPD_TLS_QUIET_MAX_MS ? q : HTTPD_TLS_QUIET_MAX_MS;
		if (d->quiet_turn_us * HTTPD_TLS_QUIET_RATIO / 1000 > q)
			q = d->quiet_turn_us * HTTPD_TLS_QUIET_RATIO / 1000;
		t = (int)(q < room ? q : room);
	}
	return t;
}

/* One wait, then what follows it under the I/O lock; counts the quiet
 * turns (no event, no callback) and, with handshakes open, their cost. */
static void io_turn(struct fc_httpd *d, int timeout)
{
	struct epoll_event evs[4];
	int n = epoll_wait(d->epfd, evs, 4, timeout);
	uint64_t seen;
	int64_t t0 = 0;
	bool timed, quiet;

	pthread_mutex_lock(&d->io_lock);
	seen = d->activity;
	timed = d->tls_handshakes > 0;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.fd == d->wake_fd) {
			uint64_t v;
			if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				fc_log(LOG_ERR, "httpd: %s: wake-up: %s", d->name, strerror(errno));
		} else if (evs[i].data.fd == d->listen_fd && d->listen_fd >= 0) {
			accept_burst(d);
		}
	}
	resume_answered(d);
	if (timed)
		t0 = mono_us();
	MHD_run(d->mhd);
	quiet = n <= 0 && d->activity == seen;
	if (!quiet)
		d->quiet_turns = 0;
	else if (d->quiet_turns < 64)
		d->quiet_turns++;
	if (quiet && timed)
		d->quiet_turn_us = mono_us() - t0;
}

/*
 * A worker with nothing to do lends a hand (common_int.h): if no one holds
 * the I/O lock, it resumes the answered connections and runs libmicrohttpd
 * once, so that answers go out and waiting requests come in even while the
 * I/O thread waits for a CPU. Never blocks.
 */
void httpd_io_help(struct fc_httpd *d)
{
	if (pthread_mutex_trylock(&d->io_lock) != 0)
		return;
	if (!d->io_closed) {
		resume_answered(d);
		MHD_run(d->mhd);
	}
	pthread_mutex_unlock(&d->io_lock);
}

/* The I/O thread: waits, then runs a turn, the ticks and the stop, all but
 * the wait under the I/O lock. */
static void *io_main(void *arg)
{
	struct fc_httpd *d = arg;
	int64_t next_tick = fc_mono_ms() + HTTPD_TICK_MS;
	int timeout;

	for (;;) {
		int64_t now;
		bool done = false;

		pthread_mutex_lock(&d->io_lock);
		timeout = loop_timeout(d, next_tick);
		pthread_mutex_unlock(&d->io_lock);
		io_turn(d, timeout); /* returns holding the I/O lock */
		now = fc_mono_ms();
		if (atomic_load(&d->stop_requested) && !d->draining) {
			begin_drain(d, now);
			next_tick = now; /* close idle connections now */
		}
		if (!d->listening && d->listen_fd >= 0 && now >= d->accept_resume_ms)
			listen_watch(d, true);
		if (now >= next_tick) {
			sweep(d, now);
			fc_log_limit_flush(false);
			next_tick = now + HTTPD_TICK_MS;
		}
		if (d->draining && drain_done(d, now))
			done = true;
		if (done) {
			/* Every suspended connection must be resumed before
			 * libmicrohttpd stops (daemon.c close_all_connections
			 * panics otherwise); after httpd_abandon_all no handler
			 * can add to the answered list. No worker helps after. */
			resume_answered(d);
			d->io_closed = true;
		}
		pthread_mutex_unlock(&d->io_lock);
		if (done)
			break;
	}
	return NULL;
}

/* --- starting and stopping --------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	fc_log_limited(&mhd_limit, LOG_WARNING, "httpd: %s: %s", (const char *)cls, line);
}

/* The limits with every 0 replaced by its default; the connection cap
 * within the descriptors the process may open (raised to its hard limit). */
static void limits_resolve(struct fc_httpd *d, const struct fc_httpd_limits *in)
{
	struct fc_httpd_limits *l = &d->lim;
	struct rlimit rl;

	*l = *in;
	l->read_header_ms = l->read_header_ms ? l->read_header_ms : FC_HTTPD_DEFAULT_READ_HEADER_MS;
	l->read_ms = l->read_ms ? l->read_ms : FC_HTTPD_DEFAULT_READ_MS;
	l->write_ms = l->write_ms ? l->write_ms : FC_HTTPD_DEFAULT_WRITE_MS;
	l->idle_ms = l->idle_ms ? l->idle_ms : FC_HTTPD_DEFAULT_IDLE_MS;
	l->shutdown_ms = l->shutdown_ms ? l->shutdown_ms : FC_HTTPD_DEFAULT_SHUTDOWN_MS;
	l->max_connections =
		l->max_connections ? l->max_connections : FC_HTTPD_DEFAULT_MAX_CONNECTIONS;
	l->max_per_ip = l->max_per_ip ? l->max_per_ip : FC_HTTPD_DEFAULT_MAX_PER_IP;
	l->max_in_flight = l->max_in_flight ? l->max_in_flight : FC_HTTPD_DEFAULT_MAX_IN_FLIGHT;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < l->max_connections + 256ULL) {
			uint32_t cap = rl.rlim_cur > 512 ? (uint32_t)(rl.rlim_cur - 256) : 256;
			fc_log(LOG_WARNING,
			       "httpd: %s: --max-connections %u lowered to %u (open "
			       "files limit %llu)",
			       d->name, l->max_connections, cap, (unsigned long long)rl.rlim_cur);
			l->max_connections = cap;
		}
	}
}

/* Bind and listen (non-blocking); sets d->listen_fd and d->port. */
static enum fc_status open_listener(struct fc_httpd *d, const char *host, uint16_t port,
				    struct fc_err *err)
{
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int one = 1, rc, fd = -1;

	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0)
		return fc_err_set(err, FC_ECONFIG, "%s: listen address \"%s\": %s", d->name, host,
				  gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		fc_err_set(err, FC_EIO, "%s: cannot listen on %s:%u: %s", d->name, host, port,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return FC_EIO;
	}
	freeaddrinfo(ai);
	d->listen_fd = fd;
	d->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	return FC_OK;
}

/*
 * libmicrohttpd without a listening socket or thread of its own. With TLS
 * (httpd_tls.c) it gets MHD_USE_TLS, GnuTLS's priorities and the
 * certificate callback, which serves the current chain of l->tls to each
 * handshake; without, the array of TLS options is empty.
 */
static enum fc_status start_mhd(struct fc_httpd *d, struct fc_err *err)
{
	const struct fc_httpd_limits *l = &d->lim;
	unsigned backstop_s = (l->read_ms > l->write_ms ? l->read_ms : l->write_ms) / 1000 + 5;
	struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			 MHD_USE_NO_LISTEN_SOCKET;

	if (l->idle_ms / 1000 + 5 > backstop_s)
		backstop_s = l->idle_ms / 1000 + 5;
	if (l->tls != NULL) {
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
						      (void *)httpd_tls_retrieve};
		tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						      (void *)httpd_tls_priorities(l->tls)};
		tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	}
	/* The logger first: libmicrohttpd uses its own for whatever options
	 * before it report (and warns that it does). */
	d->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, httpd_access_cb, d, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		d->name, MHD_OPTION_CONNECTION_TIMEOUT, backstop_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONNECTION_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)l->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(l->max_per_ip == FC_HTTPD_NO_LIMIT ? 0 : l->max_per_ip),
		MHD_OPTION_NOTIFY_COMPLETED, httpd_completed_cb, d, MHD_OPTION_NOTIFY_CONNECTION,
		httpd_notify_cb, d, MHD_OPTION_URI_LOG_CALLBACK, httpd_uri_cb, d, MHD_OPTION_ARRAY,
		tls_opts, MHD_OPTION_END);
	if (d->mhd == NULL)
		return fc_err_set(err, FC_EINTERNAL, "%s: libmicrohttpd does not start%s", d->name,
				  l->tls ? " with TLS" : "");
	return FC_OK;
}

/* The I/O thread's epoll set: libmicrohttpd's, the listener, the wake-up. */
static enum fc_status start_epoll(struct fc_httpd *d, struct fc_err *err)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = {.events = EPOLLIN};

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev.data.fd = info ? info->epoll_fd : -1;
	if (d->epfd < 0 || d->wake_fd < 0 || info == NULL ||
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
		return fc_err_set(err, FC_EINTERNAL, "%s: epoll: %s", d->name, strerror(errno));
	ev.data.fd = d->wake_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wake_fd, &ev) != 0)
		return fc_err_set(err, FC_EINTERNAL, "%s: epoll: %s", d->name, strerror(errno));
	listen_watch(d, true);
	return FC_OK;
}

/*
 * Start a server (common.h): the listener, libmicrohttpd, the workers and
 * the I/O thread. FC_OK and *out once it listens; otherwise the reason in
 * err and nothing left behind.
 */
enum fc_status fc_httpd_start(const struct fc_httpd_options *o, fc_http_handler_fn fn, void *ctx,
			      struct fc_httpd **out, struct fc_err *err)
{
	struct fc_httpd *d = fc_xcalloc(1, sizeof(*d));
	unsigned threads = o->threads;
	enum fc_status st;

	d->name = fc_xstrdup(o->name ? o->name : "http");
	d->handler = fn;
	d->ctx = ctx;
	d->max_body = o->max_body;
	d->drain_max = (uint64_t)o->max_body * FC_HTTPD_DRAIN_FACTOR;
	if (d->drain_max < 1024 * 1024)
		d->drain_max = 1024 * 1024;
	d->epfd = d->listen_fd = d->wake_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->io_lock, NULL);
	pthread_cond_init(&d->work_cond, NULL);
	atomic_init(&d->in_flight, 0);
	limits_resolve(d, &o->limits);
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if ((st = open_listener(d, o->host ? o->host : "0.0.0.0", o->port, err)) != FC_OK ||
	    (st = start_mhd(d, err)) != FC_OK || (st = start_epoll(d, err)) != FC_OK ||
	    (st = httpd_workers_start(d, threads, err)) != FC_OK)
		goto fail;
	if (pthread_create(&d->io_thread, NULL, io_main, d) != 0) {
		st = fc_err_set(err, FC_EINTERNAL, "%s: cannot start the I/O thread", d->name);
		goto fail;
	}
	d->io_started = true;
	*out = d;
	return FC_OK;
fail:
	fc_httpd_stop(d);
	return st;
}

uint16_t fc_httpd_port(const struct fc_httpd *d)
{
	return d->port;
}

/* Stop (common.h): the I/O thread runs the drain; then libmicrohttpd closes
 * what is left, the workers finish, and everything is freed. */
void fc_httpd_stop(struct fc_httpd *d)
{
	if (d == NULL)
		return;
	if (d->io_started) {
		atomic_store(&d->stop_requested, true);
		httpd_wake(d);
		pthread_join(d->io_thread, NULL);
	}
	pthread_mutex_lock(&d->io_lock); /* no worker inside libmicrohttpd */
	d->io_closed = true;
	if (d->mhd)
		MHD_stop_daemon(d->mhd);
	pthread_mutex_unlock(&d->io_lock);
	if (d->workers)
		httpd_workers_stop(d);
	fc_log_limit_flush(true);
	/* A handler still inside fc_http_respond holds d->lock until it is
	 * done with d. */
	pthread_mutex_lock(&d->lock);
	pthread_mutex_unlock(&d->lock);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	pthread_cond_destroy(&d->work_cond);
	pthread_mutex_destroy(&d->io_lock);
	pthread_mutex_destroy(&d->lock);
	free(d->name);
	free(d);
}
