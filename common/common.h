/*
 * common: the pieces every fulcrum module shares.
 *
 * - enum fc_status, the one project-wide status code (0 = success; only grows)
 * - struct fc_err, a caller-owned buffer that carries the precise reason for
 *   a refusal up to whoever must report it (HTTP layer, `fulcrum token`)
 * - logging, allocation that aborts on OOM, wiping of secrets
 * - struct fc_buf, a growable byte buffer with a hard size cap
 * - base64 / base64url codecs (strict and Fulcio-lenient)
 * - clock and randomness seams that tests replace, and deadlines
 * - a bounded big-endian reader and writer for binary structures
 */
#ifndef FULCRUM_COMMON_H
#define FULCRUM_COMMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include <openssl/types.h>

#define FC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Never renumber: these values appear in logs and metrics. */
enum fc_status {
	FC_OK = 0,
	FC_ENOMEM = 1,	   /* out of memory (normally we abort instead) */
	FC_EINPUT = 2,	   /* malformed or refused input from a client */
	FC_EAUTH = 3,	   /* identity token refused */
	FC_EHSM = 4,	   /* signer / HSM failure */
	FC_EUPSTREAM = 5,  /* a remote service (OIDC issuer, CT log) failed */
	FC_ECONFIG = 6,	   /* invalid configuration */
	FC_EINTERNAL = 7,  /* a bug or an unexpected library failure */
	FC_ETOOBIG = 8,	   /* input over a hard size limit */
	FC_EIO = 9,	   /* file or socket I/O failed */
	FC_EUNAVAIL = 10,  /* temporarily unavailable; a retry may succeed */
	FC_ENOTFOUND = 11, /* the named thing does not exist */
	FC_EPENDING = 12,  /* not decided yet: a fetch is under way and the caller
			      will be told when it ends (oidc_verify_nb) */
};

const char *fc_strerror(enum fc_status st);

/*
 * What failed, beside how (the status): the class tells the layer that
 * answers which of Fulcio's client messages, HTTP statuses and refusal
 * counters applies, so that no one decides by reading message text. Set
 * where the reason is known (fc_err_set_class); FC_CLASS_NONE otherwise.
 * Only grows; never renumber.
 */
enum fc_class {
	FC_CLASS_NONE = 0,
	FC_CLASS_TOKEN = 1,	   /* the identity token was refused or unverifiable */
	FC_CLASS_KEY_PARSE = 2,	   /* the client's public key could not be parsed */
	FC_CLASS_KEY_INSECURE = 3, /* ... is of a refused type, size or value */
	FC_CLASS_SIGNATURE = 4,	   /* the proof of possession does not verify */
	FC_CLASS_CSR = 5,	   /* the CSR could not be parsed or does not verify */
	FC_CLASS_ALG_UNKNOWN = 6,  /* a signature algorithm fulcrum does not know */
	FC_CLASS_ALG_REFUSED = 7,  /* an algorithm not in --client-signing-algorithms */
	FC_CLASS_CT_LOG = 8,	   /* the CT log failed or gave no valid SCT */
	FC_CLASS_RATE_LIMIT = 9,   /* the identity is over its rate limit (ratelimit/) */
};

/*
 * The reason for a failure, written where it is known and read by the layer
 * that reports it. Messages never contain a secret (token, PIN, key).
 */
#define FC_ERR_MSG_MAX 512
struct fc_err {
	enum fc_status status;
	enum fc_class cls;
	char msg[FC_ERR_MSG_MAX];
};

/* Record status and message in *err (err may be NULL); returns st so that
 * callers can write `return fc_err_set(err, FC_EAUTH, "...")`. The first
 * reason recorded wins: a later call does not overwrite it. */
enum fc_status fc_err_set(struct fc_err *err, enum fc_status st, const char *fmt, ...)
	FC_PRINTF(3, 4);
/* The same with a class (the first reason recorded wins, class included). */
enum fc_status fc_err_set_class(struct fc_err *err, enum fc_class cls, enum fc_status st,
				const char *fmt, ...) FC_PRINTF(4, 5);
/* Give the recorded reason a class where it has none yet (a caller that
 * knows which step failed, e.g. the token step). */
void fc_err_classify(struct fc_err *err, enum fc_class cls);
void fc_err_clear(struct fc_err *err);

/* --- logging ---------------------------------------------------------- */

/*
 * Logging goes to stderr, one line per event, in one of two formats:
 * FC_LOG_DEV (the default), "fulcrum[level]: module: object: what", control
 * characters escaped; or FC_LOG_PROD, one JSON object per line with the
 * keys of Fulcio's production logger (zap's production encoder with
 * Fulcio's LevelKey and MessageKey): "severity" (debug, info, warn, error),
 * "ts" (seconds since the epoch, a number), "caller" ("ca/api.c:123"),
 * "message" (the same text as the dev line), then the event's fields.
 * Messages read "module: object: what" and never hold a secret.
 */
enum fc_log_format {
	FC_LOG_DEV = 0,
	FC_LOG_PROD = 1,
};
void fc_log_set_format(enum fc_log_format f);
enum fc_log_format fc_log_get_format(void);
/* Fulcio's --log_type value: "dev" or "prod"; false for anything else. */
bool fc_log_format_parse(const char *s, enum fc_log_format *out);

/* Where a line comes from ("../ca/api.c:123"; the caller key keeps the last
 * two path components). */
#define FC_LOG_STR2(x) #x
#define FC_LOG_STR(x) FC_LOG_STR2(x)
#define FC_LOG_WHERE __FILE__ ":" FC_LOG_STR(__LINE__)

struct json_t; /* jansson */

void fc_log_at(const char *where, int prio, const char *fmt, ...) FC_PRINTF(3, 4);
#define fc_log(prio, ...) fc_log_at(FC_LOG_WHERE, (prio), __VA_ARGS__)
void fc_vlog(int prio, const char *fmt, va_list ap);
/*
 * An event with fields: in the prod format the members of the JSON object
 * fields are added to the line after "message" (a member named like one of
 * the four fixed keys is left out); the dev line is the message alone, so
 * the message says what matters in words. fields is taken (decref'd), NULL
 * is fine; build it only when the line will be written (fc_log_enabled).
 */
void fc_log_event_at(const char *where, int prio, struct json_t *fields, const char *fmt, ...)
	FC_PRINTF(4, 5);
#define fc_log_event(prio, fields, ...) fc_log_event_at(FC_LOG_WHERE, (prio), (fields), __VA_ARGS__)
/* Messages less important than `prio` (a LOG_* value) are dropped. */
void fc_log_set_level(int prio);
int fc_log_get_level(void);
/* Would a line at prio be written? */
bool fc_log_enabled(int prio);
/* A JSON string of s for a log field: bytes that are not UTF-8 become
 * U+FFFD (as zap does), so that any input makes a valid line. NULL gives
 * JSON null. A new reference. */
struct json_t *fc_log_json_string(const char *s);
/*
 * Rate-limited logging, for lines a client can cause at will (refusals): one
 * limiter per call site or key (a static struct fc_log_limit initialised
 * with FC_LOG_LIMIT_INIT), at most per_sec lines a second through it; the
 * rest are counted and reported as one line "<what>: N more suppressed"
 * when the second is over (at the limiter's next line or the next
 * fc_log_limit_flush(), whichever comes first).
 */
struct fc_log_limit {
	const char *what; /* names the suppressed lines, e.g. "api: refusals" */
	unsigned per_sec; /* 0 = 10 */
	pthread_mutex_t lock;
	int64_t window_ms;	   /* start of the current second (fc_mono_ms) */
	unsigned in_window;	   /* lines written in it */
	unsigned long suppressed;  /* lines dropped since the last report */
	int64_t suppressed_since;  /* fc_mono_ms of the first of them */
	struct fc_log_limit *next; /* in the list of limiters with a report due */
	bool listed;
};
#define FC_LOG_LIMIT_INIT(what_, per_sec_)                                                         \
	{                                                                                          \
		.what = (what_), .per_sec = (per_sec_), .lock = PTHREAD_MUTEX_INITIALIZER          \
	}
void fc_log_limited_at(const char *where, struct fc_log_limit *l, int prio, struct json_t *fields,
		       const char *fmt, ...) FC_PRINTF(5, 6);
#define fc_log_limited(l, prio, ...) fc_log_limited_at(FC_LOG_WHERE, (l), (prio), NULL, __VA_ARGS__)
/* The same with fields (fc_log_event); fields is taken even when the line
 * is suppressed. */
#define fc_log_limited_event(l, prio, fields, ...)                                                 \
	fc_log_limited_at(FC_LOG_WHERE, (l), (prio), (fields), __VA_ARGS__)
/* Write the "N more suppressed" lines whose second is over, or all of
 * them (cheap; the HTTP front calls it a few times a second, and with all
 * when it stops). */
void fc_log_limit_flush(bool all);
/* Log `what` and drain OpenSSL's error queue into the log at LOG_ERR. */
void fc_log_ssl(const char *what);
/* Drain OpenSSL's error queue into err's message (appended after the
 * message set so far) and into nothing else. */
void fc_err_append_ssl(struct fc_err *err);

/* keyless.c: an OpenSSL library context without algorithms: certificates
 * (X509_new_ex) and SubjectPublicKeyInfos (X509_PUBKEY_new_ex) parsed in
 * it keep their public key undecoded, which OpenSSL 3.0 makes costly.
 * Shared by the process; NULL if it cannot be made (parse normally then). */
OSSL_LIB_CTX *fc_keyless_libctx(void);

/* --- memory ----------------------------------------------------------- */

/* Allocation that never returns NULL: out of memory aborts (daemon policy). */
void *fc_xmalloc(size_t n);
void *fc_xcalloc(size_t nmemb, size_t size);
void *fc_xrealloc(void *p, size_t n);
char *fc_xstrdup(const char *s);
char *fc_xstrndup(const char *s, size_t n);
char *fc_xasprintf(const char *fmt, ...) FC_PRINTF(1, 2);

/* Wipe memory in a way the compiler may not elide. */
void fc_memzero(void *p, size_t n);
/* Wipe then free a NUL-terminated secret. NULL is fine. */
void fc_free_secret(char *s);

/* --- bounded buffer ---------------------------------------------------- */

struct fc_buf {
	uint8_t *data; /* always NUL-terminated after data[len] when non-NULL */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len; 0 means SIZE_MAX/2 */
};

void fc_buf_init(struct fc_buf *b, size_t max);
/* Append n bytes; false (buffer unchanged) if len would exceed max. */
bool fc_buf_append(struct fc_buf *b, const void *p, size_t n);
bool fc_buf_append_str(struct fc_buf *b, const char *s);
void fc_buf_reset(struct fc_buf *b);
void fc_buf_free(struct fc_buf *b);
/* Wipe the whole allocation, then free (for buffers that held secrets). */
void fc_buf_wipe_free(struct fc_buf *b);
/* Hand the contents over: returns data (NUL-terminated, caller frees) and
 * leaves b empty. Returns a fresh empty string when b is empty. */
char *fc_buf_steal(struct fc_buf *b, size_t *len);

/* --- metrics (metrics.c): Prometheus text format 0.0.4 -------------------- */

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void fc_metric_family(struct fc_buf *b, const char *name, const char *type, const char *help);
/* A label value with backslash, double quote and newline escaped. */
void fc_metric_label_value(struct fc_buf *b, const char *s);
/* "name{labels} value": labels is NULL or 'k="v",...' with escaped values;
 * the value in Go's shortest form, as client_golang writes it. */
void fc_metric_sample(struct fc_buf *b, const char *name, const char *labels, double v);
void fc_metric_sample_u64(struct fc_buf *b, const char *name, const char *labels, uint64_t v);

/*
 * HTTP requests by status code and method, labelled exactly as client_golang's
 * promhttp middleware labels them (Fulcio's http_requests_total and
 * fulcio_api_latency): code is the status ("200", "404"), method one of
 * connect, delete, get, head, notify, options, patch, post, put, trace, or
 * "unknown". A series appears at its first request; at most 500 codes times
 * 11 methods. Observing is lock-free (atomics).
 */
#define FC_HTTP_METRICS_BUCKETS 11 /* client_golang's DefBuckets, 5 ms to 10 s */
struct fc_http_metrics;
struct fc_http_metrics *fc_http_metrics_new(void);
void fc_http_metrics_free(struct fc_http_metrics *m);
void fc_http_metrics_observe(struct fc_http_metrics *m, unsigned status, const char *method,
			     int64_t us);
void fc_http_metrics_text(const struct fc_http_metrics *m, struct fc_buf *b, const char *counter,
			  const char *counter_help, const char *histogram,
			  const char *histogram_help);
/* client_golang's process collector families (process_cpu_seconds_total,
 * process_open_fds, process_resident_memory_bytes, ...), read from /proc/self. */
void fc_process_metrics_text(struct fc_buf *b);

/* --- base64 ------------------------------------------------------------ */

/* RFC 4648 5 base64url without padding, strict: rejects '=', any character
 * outside the alphabet, a length of 1 mod 4 and non-zero trailing bits
 * (so every value has exactly one accepted encoding).
 * On success *out (caller frees, NUL-terminated) and *outlen are set. */
bool fc_b64url_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen);
/* The same rule, decoding into out without allocating; out must hold
 * FC_B64URL_DECODED_MAX(inlen) bytes. */
#define FC_B64URL_DECODED_MAX(n) ((n) / 4 * 3 + 2)
bool fc_b64url_decode_into(const char *in, size_t inlen, uint8_t *out, size_t *outlen);
/* Lenient decoding as protojson does for bytes fields: standard or URL-safe
 * alphabet, padded or not; still rejects stray characters. */
bool fc_b64_decode_any(const char *in, size_t inlen, uint8_t **out, size_t *outlen);
/* RFC 4648 4 standard base64 with padding; returns a NUL-terminated string. */
char *fc_b64_encode(const uint8_t *in, size_t inlen);
/* RFC 4648 5 base64url without padding. */
char *fc_b64url_encode(const uint8_t *in, size_t inlen);

/* --- hex --------------------------------------------------------------- */

/* Lower-case hex of in; caller frees. */
char *fc_hex_encode(const uint8_t *in, size_t inlen);
/* The value of a hexadecimal digit (either case), or -1. */
int fc_hex_digit(int c);

/* --- clock and randomness seams ------------------------------------------ */

/* Seconds since the Unix epoch (wall clock). */
int64_t fc_now(void);
/* Milliseconds since the Unix epoch (the same wall clock: SCT and
 * checkpoint timestamps). */
int64_t fc_now_ms(void);
/* Milliseconds from a monotonic clock (for timeouts and caches). */
int64_t fc_mono_ms(void);
/* Cryptographically secure random bytes (OpenSSL's DRBG). */
enum fc_status fc_rand_bytes(uint8_t *buf, size_t n);

/* Test seams: replace the clock / randomness; NULL restores the default.
 * The wall clock is replaced in seconds (fc_set_now_fn: fc_now_ms() is
 * then fn() * 1000) or in milliseconds (fc_set_now_ms_fn: fc_now() is
 * then fn() / 1000); setting one drops the other. */
void fc_set_now_fn(int64_t (*fn)(void));
void fc_set_now_ms_fn(int64_t (*fn)(void));
void fc_set_mono_fn(int64_t (*fn)(void));
void fc_set_rand_fn(enum fc_status (*fn)(uint8_t *buf, size_t n));

/* Deadlines: instants on the fc_mono_ms() clock. */
struct timespec;
/* The instant timeout_ms from now (saturating at INT64_MAX). */
int64_t fc_deadline_ms(int64_t timeout_ms);
/* Milliseconds left until deadline; 0 once it has passed. */
int64_t fc_deadline_left_ms(int64_t deadline);
bool fc_deadline_expired(int64_t deadline);
/* The deadline as an absolute CLOCK_MONOTONIC time, for
 * pthread_cond_timedwait on a condition variable whose clock was set to
 * CLOCK_MONOTONIC (pthread_condattr_setclock). */
void fc_deadline_timespec(int64_t deadline, struct timespec *ts);

/* --- files ------------------------------------------------------------- */

/* Read a whole file of at most max bytes; *out is NUL-terminated (caller
 * frees). FC_ETOOBIG if larger, FC_ENOTFOUND if absent, FC_EIO otherwise;
 * the reason is written to err. */
enum fc_status fc_read_file(const char *path, size_t max, char **out, size_t *outlen,
			    struct fc_err *err);
/* The same for a file holding a secret: one buffer, nothing left in freed
 * memory, *out to be wiped by the caller; *sb_out (may be NULL) gets the
 * file's status; messages begin "<what> <path>:". FC_ENOTFOUND if absent,
 * FC_ECONFIG otherwise. */
struct stat;
enum fc_status fc_read_secret_file(const char *path, size_t max, const char *what, char **out,
				   size_t *out_len, struct stat *sb_out, struct fc_err *err);

/* Write port and a newline to path atomically (a temporary file renamed
 * over it), for tests and scripts that start a server on port 0. Logs a
 * warning naming the path when it cannot. */
void fc_write_port_file(const char *path, uint16_t port);

/* --- HTTP server plumbing (httpd*.c, over libmicrohttpd; docs/http.md) ------- */

/*
 * One exchange = one HTTP request and its response. The handler runs on a
 * shared pool of worker threads once the whole body has arrived (or, for a
 * body over max_body, with fc_http_body_too_large() true). It must call
 * fc_http_respond() exactly once: before returning, or later from any
 * thread (the connection then waits suspended, holding no thread, until the
 * answer arrives). This is what lets a request wait for a CT log without
 * tying up a thread. Until it answers, the handler owns its reference to the
 * exchange; fc_http_respond() gives it back, after which the handler must not
 * touch the exchange again.
 */
struct fc_httpd;
struct fc_http_exchange;

typedef void (*fc_http_handler_fn)(void *ctx, struct fc_http_exchange *x);

/* Hard limits of the front, checked before anything is handed on. */
#define FC_HTTPD_MAX_URI 8192	      /* request target, bytes (414 above) */
#define FC_HTTPD_MAX_HEADERS 100      /* request header fields (400 above) */
#define FC_HTTPD_MAX_QUERY_PARAMS 100 /* query parameters (400 above) */
#define FC_HTTPD_DRAIN_FACTOR                                                                      \
	4 /* a body over max_body is read and dropped up
					* to this many times max_body before the 413 */

/* Defaults of the limits (0 in struct fc_httpd_limits selects them). */
#define FC_HTTPD_DEFAULT_READ_HEADER_MS 10000 /* --read-header-timeout */
#define FC_HTTPD_DEFAULT_READ_MS 60000	      /* --read-timeout (header and body) */
#define FC_HTTPD_DEFAULT_WRITE_MS 60000	      /* --write-timeout (sending an answer) */
#define FC_HTTPD_DEFAULT_IDLE_MS 30000	      /* --idle-connection-timeout */
#define FC_HTTPD_DEFAULT_SHUTDOWN_MS 30000    /* --shutdown-timeout */
#define FC_HTTPD_DEFAULT_MAX_CONNECTIONS 4096 /* --max-connections */
#define FC_HTTPD_DEFAULT_MAX_PER_IP 512	      /* --max-connections-per-ip */
#define FC_HTTPD_DEFAULT_MAX_IN_FLIGHT 2048   /* --max-requests-in-flight */
#define FC_HTTPD_NO_LIMIT UINT32_MAX	      /* max_per_ip: no per-address cap */

/* TLS (docs/http.md, "TLS"): the passphrase of an encrypted --tls-key is
 * read from this environment variable (never a flag); hard limits of the
 * files. */
#define FC_HTTPD_TLS_KEY_PASSWD_ENV "FULCRUM_TLS_KEY_PASSWD"
#define FC_HTTPD_TLS_MAX_FILE (256 * 1024) /* --tls-cert, --tls-key, bytes */
#define FC_HTTPD_TLS_MAX_CHAIN 16	   /* certificates in --tls-cert */
#define FC_HTTPD_TLS_MAX_SERIAL 20	   /* bytes of a serial (RFC 5280 4.1.2.2) */
struct fc_httpd_tls;

/*
 * Time limits (milliseconds), caps and TLS of one server; 0 selects the
 * default.
 * Deadlines run from a fixed start and are not reset by each byte:
 * read_header from the first byte of a request (from the connection's
 * start for its first request) to the end of its header; read from the
 * same start to the end of its body; write from the answer being ready to
 * its last byte; idle from the end of an answer to the first byte of the
 * next request. A request that waits for its answer (handler, CT log) has
 * no deadline of its own but shutdown.
 */
struct fc_httpd_limits {
	uint32_t read_header_ms;
	uint32_t read_ms;
	uint32_t write_ms;
	uint32_t idle_ms;
	uint32_t shutdown_ms; /* how long a stop waits for requests in flight */
	uint32_t max_connections;
	uint32_t max_per_ip;	/* FC_HTTPD_NO_LIMIT: none */
	uint32_t max_in_flight; /* queued for or running on a worker, or suspended */
	/* TLS: the flags' values (fc_httpd_flag), then what fc_httpd_tls_load
	 * made of them. tls NULL: plain HTTP. Every server started with these
	 * limits shares tls (fulcrum serve: the API and its metrics). */
	const char *tls_cert_path; /* --tls-cert: PEM chain, the leaf first */
	const char *tls_key_path;  /* --tls-key: PEM key */
	unsigned tls_min_version;  /* --tls-min-version: 12 (0 = default) or 13 */
	struct fc_httpd_tls *tls;
};

struct fc_httpd_options {
	const char *host; /* address to bind ("0.0.0.0", "127.0.0.1", "::") */
	uint16_t port;	  /* 0 = any free port (see fc_httpd_port) */
	unsigned threads; /* handler worker threads (0 = number of CPUs) */
	size_t max_body;  /* bodies over this are not kept (413 case) */
	const char *name; /* for logs, e.g. "api" */
	struct fc_httpd_limits limits;
};

/*
 * The command-line flags of the front, shared by fulcrum serve, fulcrum
 * ctlog and fulcrum tsa: put FC_HTTPD_LONGOPTS in the command's getopt_long
 * table, hand every option value from FC_HTTPD_OPT_FIRST to
 * FC_HTTPD_OPT_LAST to fc_httpd_flag(), print FC_HTTPD_USAGE in the help,
 * call fc_httpd_tls_load() before starting the servers and
 * fc_httpd_tls_reload() on SIGHUP.
 */
enum {
	FC_HTTPD_OPT_FIRST = 0x4800,
	FC_HTTPD_OPT_READ_HEADER = FC_HTTPD_OPT_FIRST,
	FC_HTTPD_OPT_READ,
	FC_HTTPD_OPT_WRITE,
	FC_HTTPD_OPT_IDLE,
	FC_HTTPD_OPT_SHUTDOWN,
	FC_HTTPD_OPT_MAX_CONNS,
	FC_HTTPD_OPT_MAX_PER_IP,
	FC_HTTPD_OPT_MAX_IN_FLIGHT,
	FC_HTTPD_OPT_TLS_CERT,
	FC_HTTPD_OPT_TLS_KEY,
	FC_HTTPD_OPT_TLS_MIN,
	FC_HTTPD_OPT_LAST = FC_HTTPD_OPT_TLS_MIN,
};
#define FC_HTTPD_LONGOPTS                                                                          \
	{"read-header-timeout", required_argument, NULL, FC_HTTPD_OPT_READ_HEADER},                \
		{"read-timeout", required_argument, NULL, FC_HTTPD_OPT_READ},                      \
		{"write-timeout", required_argument, NULL, FC_HTTPD_OPT_WRITE},                    \
		{"idle-connection-timeout", required_argument, NULL, FC_HTTPD_OPT_IDLE},           \
		{"shutdown-timeout", required_argument, NULL, FC_HTTPD_OPT_SHUTDOWN},              \
		{"max-connections", required_argument, NULL, FC_HTTPD_OPT_MAX_CONNS},              \
		{"max-connections-per-ip", required_argument, NULL, FC_HTTPD_OPT_MAX_PER_IP},      \
		{"max-requests-in-flight", required_argument, NULL, FC_HTTPD_OPT_MAX_IN_FLIGHT},   \
		{"tls-cert", required_argument, NULL, FC_HTTPD_OPT_TLS_CERT},                      \
		{"tls-key", required_argument, NULL, FC_HTTPD_OPT_TLS_KEY},                        \
	{                                                                                          \
		"tls-min-version", required_argument, NULL, FC_HTTPD_OPT_TLS_MIN                   \
	}
#define FC_HTTPD_USAGE                                                                             \
	"HTTP front (durations in Go syntax: 10s, 1m30s, 500ms):\n"                                \
	"  --read-header-timeout D        whole request header, from its first byte\n"             \
	"                                 (default 10s; not reset by each byte)\n"                 \
	"  --read-timeout D               whole request, header and body (default 60s)\n"          \
	"  --write-timeout D              sending an answer once it is ready (default 60s)\n"      \
	"  --idle-connection-timeout D    idle keep-alive connections (default 30s)\n"             \
	"  --shutdown-timeout D           on SIGTERM, how long requests in flight may take\n"      \
	"                                 to finish; then they are answered 503 (default\n"        \
	"                                 30s)\n"                                                  \
	"  --max-connections N            open connections (default 4096); more are refused\n"     \
	"  --max-connections-per-ip N     open connections from one client address (default\n"     \
	"                                 512; 0 = no per-address cap)\n"                          \
	"  --max-requests-in-flight N     requests queued, running or waiting for an answer\n"     \
	"                                 (default 2048); more are answered 503 at once\n"         \
	"  --tls-cert FILE                serve HTTPS with this PEM certificate chain, the\n"      \
	"                                 leaf first (default: plain HTTP); SIGHUP reloads\n"      \
	"                                 it and the key: new handshakes get them, open\n"         \
	"                                 connections keep theirs\n"                               \
	"  --tls-key FILE                 its PEM private key; the passphrase of an\n"             \
	"                                 encrypted key in " FC_HTTPD_TLS_KEY_PASSWD_ENV "\n"      \
	"  --tls-min-version V            oldest TLS version accepted: 1.2 (default) or\n"         \
	"                                 1.3; either way AEAD ciphers with ECDHE only\n"
/* Apply one front flag (opt is its FC_HTTPD_OPT_* value) to *l. FC_OK, or
 * FC_ECONFIG for a bad value (the caller names the flag). */
enum fc_status fc_httpd_flag(struct fc_httpd_limits *l, int opt, const char *value);

/*
 * TLS for the servers started with l (docs/http.md, "TLS"). Load the chain
 * and key l's TLS flags name: FC_OK and l->tls set, FC_OK and l->tls NULL
 * when no TLS flag was given (plain HTTP), or FC_ECONFIG with the reason in
 * err. Takes the key's passphrase from FC_HTTPD_TLS_KEY_PASSWD_ENV and
 * removes it from the environment: call it before a thread that reads the
 * environment starts (fulcrum serve and ctlog: after the signer process is
 * forked, whose supervisor wipes it; the link's thread does not read it).
 * Free with fc_httpd_tls_free() after every server using it has stopped.
 */
enum fc_status fc_httpd_tls_load(struct fc_httpd_limits *l, struct fc_err *err);
/* Read the files again (SIGHUP): new handshakes get the new chain, open
 * connections keep theirs; a pair that does not load or match is refused
 * with a LOG_ERR line and the current one stays. NULL is fine (FC_OK). */
enum fc_status fc_httpd_tls_reload(struct fc_httpd_tls *t);
/* After dropping privileges: a warning for each file of t this process can
 * no longer read (SIGHUP could not reload it). NULL is fine. */
void fc_httpd_tls_check_access(const struct fc_httpd_tls *t);
void fc_httpd_tls_free(struct fc_httpd_tls *t);

/* duration.c: a duration in Go's syntax ("10s", "1m30s", "500ms", "1.5h";
 * units ns, us, µs, ms, s, m, h) in milliseconds; a bare number counts
 * plain_ms milliseconds per unit (fulcrum's older flags took seconds or
 * milliseconds), or is refused when plain_ms is 0, as Go refuses it. */
bool fc_parse_duration(const char *s, uint64_t plain_ms, double *ms);
/* The same, Go syntax only, from 1 ms to 24 h (the front's flags). FC_OK
 * or FC_ECONFIG. */
enum fc_status fc_parse_duration_ms(const char *s, uint32_t *ms);

/* Start a server: it listens when this returns FC_OK and *out; FC_EIO
 * (address in use, bad host) or FC_ECONFIG with the reason in err. */
enum fc_status fc_httpd_start(const struct fc_httpd_options *o, fc_http_handler_fn fn, void *ctx,
			      struct fc_httpd **out, struct fc_err *err);
uint16_t fc_httpd_port(const struct fc_httpd *d);
/*
 * Stop (docs/http.md, "Stopping"): close the listener at once, answer
 * every later request with Connection: close, close idle connections, and
 * wait for requests in flight (suspended ones included) to be answered and
 * their answers sent, at most limits.shutdown_ms; whatever is still waiting
 * then is answered 503 by the front (a handler answering later is ignored).
 * Then close everything and free. NULL is fine.
 */
void fc_httpd_stop(struct fc_httpd *d);

const char *fc_http_method(const struct fc_http_exchange *x);
const char *fc_http_path(const struct fc_http_exchange *x);
/* A request header (case-insensitive name), or NULL. */
const char *fc_http_header(const struct fc_http_exchange *x, const char *name);
/* A query argument, or NULL. */
const char *fc_http_query(const struct fc_http_exchange *x, const char *name);
const uint8_t *fc_http_body(const struct fc_http_exchange *x, size_t *len);
bool fc_http_body_too_large(const struct fc_http_exchange *x);
/* Milliseconds since the request arrived. */
int64_t fc_http_elapsed_ms(const struct fc_http_exchange *x);
/* Is the client of x known to be gone (its connection closed or reset)?
 * A non-blocking peek at the socket: cheap, callable from any thread until
 * x is answered. A client that went away must not get work done for it
 * that cannot be undone (a certificate signed). */
bool fc_http_client_gone(struct fc_http_exchange *x);

/*
 * Give x back to the worker pool: fn(arg, x) then runs on a worker, as the
 * handler did. For a handler that returned without answering to wait for
 * something (an identity provider's keys) and is woken on another thread:
 * the work goes back to the shared pool instead of running on the waker's
 * thread. x stays the handler's until it answers. When the server has
 * already answered x for it (503: stopping, past the shutdown bound),
 * fn(arg, NULL) runs instead, on the calling thread or the stop's: the
 * handler frees what it holds and must not touch x again.
 */
typedef void (*fc_http_resume_fn)(void *arg, struct fc_http_exchange *x);
void fc_http_resume(struct fc_http_exchange *x, fc_http_resume_fn fn, void *arg);

/* Add a response header (before fc_http_respond). Copies both strings. */
void fc_http_add_header(struct fc_http_exchange *x, const char *name, const char *value);
/* Send the response (copies body). Exactly once per exchange; thread-safe.
 * x must not be used after this call. */
void fc_http_respond(struct fc_http_exchange *x, unsigned status, const char *content_type,
		     const void *body, size_t len);

/* --- bounded big-endian reader and writer (bytes.c) ------------------------ */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. */
bool fc_utf8_valid(const uint8_t *s, size_t n);

/*
 * A reader over untrusted bytes p[0..len): TLS-style structures (RFC 5246
 * 4: big-endian integers, length-prefixed vectors) and fixed-layout
 * records. Every read is bounds-checked without overflow and moves off
 * only when it succeeds, so a failed read leaves the reader where it was.
 * Pointers handed out point into p (no copy).
 */
struct fc_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void fc_rd_init(struct fc_rd *r, const void *p, size_t len);
size_t fc_rd_left(const struct fc_rd *r);
/* True when all len bytes have been read (no trailing bytes). */
bool fc_rd_done(const struct fc_rd *r);
/* The next n bytes, in place. */
bool fc_rd_bytes(struct fc_rd *r, size_t n, const uint8_t **out);
/* The next n bytes, copied to out. */
bool fc_rd_copy(struct fc_rd *r, void *out, size_t n);
/* A big-endian unsigned integer of width 1 to 8 bytes. */
bool fc_rd_uint(struct fc_rd *r, size_t width, uint64_t *v);
bool fc_rd_u8(struct fc_rd *r, uint8_t *v);
bool fc_rd_u16(struct fc_rd *r, uint16_t *v);
bool fc_rd_u24(struct fc_rd *r, uint32_t *v);
bool fc_rd_u32(struct fc_rd *r, uint32_t *v);
bool fc_rd_u64(struct fc_rd *r, uint64_t *v);
/* opaque x<lo..hi> (RFC 5246 4.3): a width-byte length in lo..hi, then the
 * bytes; *out points to them, *n is their number. */
bool fc_rd_vec(struct fc_rd *r, size_t width, size_t lo, size_t hi, const uint8_t **out, size_t *n);

/* Writers appending to an fc_buf: false, and the buffer unchanged, when
 * its max would be passed or a value (a length) does not fit its width. */
bool fc_buf_put_uint(struct fc_buf *b, size_t width, uint64_t v);
bool fc_buf_put_u8(struct fc_buf *b, uint64_t v);
bool fc_buf_put_u16(struct fc_buf *b, uint64_t v);
bool fc_buf_put_u24(struct fc_buf *b, uint64_t v);
bool fc_buf_put_u32(struct fc_buf *b, uint64_t v);
bool fc_buf_put_u64(struct fc_buf *b, uint64_t v);
/* A width-byte length, then p[0..n) (opaque x<0..2^(8*width)-1>). */
bool fc_buf_put_vec(struct fc_buf *b, size_t width, const void *p, size_t n);

#endif /* FULCRUM_COMMON_H */
