#include <jansson.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* The longest message kept (the rest is cut, as before the formats). */
#define LOG_MSG_MAX 2048

static int log_level = LOG_INFO;
static enum fc_log_format log_format = FC_LOG_DEV;

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG: return "emerg";
	case LOG_ALERT: return "alert";
	case LOG_CRIT: return "crit";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

/* zap's level names (LowercaseLevelEncoder): notice is info, crit and
 * above are error (zap's higher levels stop the process). */
static const char *zap_level(int prio)
{
	if (prio <= LOG_ERR)
		return "error";
	if (prio == LOG_WARNING)
		return "warn";
	if (prio <= LOG_INFO)
		return "info";
	return "debug";
}

void fc_log_set_level(int prio)
{
	log_level = prio;
}

int fc_log_get_level(void)
{
	return log_level;
}

bool fc_log_enabled(int prio)
{
	return prio <= log_level;
}

/* Set once at start, before any thread logs. */
void fc_log_set_format(enum fc_log_format f)
{
	log_format = f;
}

enum fc_log_format fc_log_get_format(void)
{
	return log_format;
}

/* Fulcio's --log_type: "dev" or "prod". */
bool fc_log_format_parse(const char *s, enum fc_log_format *out)
{
	if (strcmp(s, "dev") == 0)
		*out = FC_LOG_DEV;
	else if (strcmp(s, "prod") == 0)
		*out = FC_LOG_PROD;
	else
		return false;
	return true;
}

/* The length of the UTF-8 sequence at p (at most n bytes), 0 if it is
 * not one (RFC 3629 4: no overlong forms, no surrogates, <= U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80		    ? 1
		     : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
		     : p[0] >= 0xe0 && p[0] <= 0xef ? 3
		     : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
						    : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

/*
 * A JSON string of s, bytes that are not UTF-8 replaced by U+FFFD
 * (common.h). jansson escapes control characters when it writes it.
 */
json_t *fc_log_json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i = 0;
	struct fc_buf b;
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	n = strlen(s);
	fc_buf_init(&b, 0);
	while (i < n) {
		size_t len = utf8_len(p + i, n - i);
		if (len == 0) {
			fc_buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			fc_buf_append(&b, p + i, len);
			i += len;
		}
	}
	j = json_stringn((const char *)b.data, b.len);
	fc_buf_free(&b);
	return j ? j : json_string("");
}

/* "../ca/api.c:123" -> "ca/api.c:123" (zap's short caller: a folder and
 * a file). */
static const char *short_caller(const char *where)
{
	const char *last = NULL, *prev = NULL;

	for (const char *p = where; *p; p++)
		if (*p == '/') {
			prev = last;
			last = p;
		}
	return prev ? prev + 1 : where;
}

/* Write line[0..len) and a newline with one call, so that lines from
 * several threads do not interleave (stderr is unbuffered). */
static void put_line(char *line, size_t len)
{
	line[len] = '\n';
	fwrite(line, 1, len + 1, stderr);
}

/* The dev line: "fulcrum[level]: msg", control characters as \xNN. */
static void write_dev(int prio, const char *msg)
{
	char line[LOG_MSG_MAX * 4 + 64];
	size_t n = (size_t)snprintf(line, sizeof(line), "fulcrum[%s]: ", prio_name(prio));

	for (const unsigned char *p = (const unsigned char *)msg; *p && n < sizeof(line) - 5; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x%02x", *p);
		else
			line[n++] = (char)*p;
	}
	put_line(line, n);
}

/* The prod line: one JSON object, Fulcio's keys first, then fields. */
static void write_prod(const char *where, int prio, json_t *fields, const char *msg)
{
	static const char *const fixed[] = {"severity", "ts", "caller", "message"};
	json_t *o = json_object();
	struct timespec ts;
	const char *key;
	json_t *val;
	char *text, *line;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(o, "severity", json_string(zap_level(prio)));
	json_object_set_new(o, "ts", json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
	json_object_set_new(o, "caller", fc_log_json_string(where ? short_caller(where) : "?"));
	json_object_set_new(o, "message", fc_log_json_string(msg));
	json_object_foreach(fields, key, val)
	{
		bool clash = false;
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			clash |= strcmp(key, fixed[i]) == 0;
		if (!clash)
			json_object_set(o, key, val);
	}
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return; /* out of memory: jansson's only failure here */
	len = strlen(text);
	line = fc_xrealloc(text, len + 2); /* room for put_line's newline */
	put_line(line, len);
	free(line);
}

/* Format and write one line in the current format; takes fields. */
static void log_emit(const char *where, int prio, json_t *fields, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_format == FC_LOG_PROD)
		write_prod(where, prio, fields, msg);
	else
		write_dev(prio, msg);
	json_decref(fields);
}

/*
 * Write one log line to stderr in the current format (common.h), unless
 * prio is below the level. The line is written with one call so that
 * lines from several threads do not interleave.
 */
void fc_vlog(int prio, const char *fmt, va_list ap)
{
	if (prio > log_level)
		return;
	log_emit(NULL, prio, NULL, fmt, ap);
}

/* fc_log(): a line from where (FC_LOG_WHERE). */
void fc_log_at(const char *where, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	log_emit(where, prio, NULL, fmt, ap);
	va_end(ap);
}

/* fc_log_event(): a line with fields (taken). */
void fc_log_event_at(const char *where, int prio, json_t *fields, const char *fmt, ...)
{
	va_list ap;

	if (prio > log_level) {
		json_decref(fields);
		return;
	}
	va_start(ap, fmt);
	log_emit(where, prio, fields, fmt, ap);
	va_end(ap);
}

/* --- rate-limited logging ------------------------------------------------ */

#define LOG_LIMIT_DEFAULT_PER_SEC 10

/* Limiters with suppressed lines not yet reported. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fc_log_limit *pending_head;

/* The report of l's suppressed lines, if its second is over; l->lock held. */
static void report_locked(struct fc_log_limit *l, int64_t now, bool force)
{
	if (l->suppressed == 0 || (!force && now - l->window_ms < 1000))
		return;
	fc_log(LOG_NOTICE, "%s: %lu more suppressed in the last %.1f s", l->what, l->suppressed,
	       (double)(now - l->suppressed_since) / 1000.0);
	l->suppressed = 0;
}

/* Put l on the list of limiters with a report due (once). */
static void list_pending(struct fc_log_limit *l)
{
	pthread_mutex_lock(&pending_lock);
	if (!l->listed) {
		l->listed = true;
		l->next = pending_head;
		pending_head = l;
	}
	pthread_mutex_unlock(&pending_lock);
}

/*
 * Log through the limiter l (common.h): at most l->per_sec lines a second;
 * past that count them, to be reported in one line. fields is taken.
 */
void fc_log_limited_at(const char *where, struct fc_log_limit *l, int prio, json_t *fields,
		       const char *fmt, ...)
{
	unsigned per_sec = l->per_sec ? l->per_sec : LOG_LIMIT_DEFAULT_PER_SEC;
	int64_t now;
	bool write_it, first_drop = false;
	va_list ap;

	if (prio > log_level) {
		json_decref(fields);
		return;
	}
	now = fc_mono_ms();
	pthread_mutex_lock(&l->lock);
	if (now - l->window_ms >= 1000) {
		report_locked(l, now, true);
		l->window_ms = now;
		l->in_window = 0;
	}
	write_it = l->in_window < per_sec;
	if (write_it) {
		l->in_window++;
	} else {
		if (l->suppressed++ == 0) {
			l->suppressed_since = now;
			first_drop = true;
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (first_drop)
		list_pending(l);
	if (!write_it) {
		json_decref(fields);
		return;
	}
	va_start(ap, fmt);
	log_emit(where, prio, fields, fmt, ap);
	va_end(ap);
}

/*
 * Report what the listed limiters suppressed in a second that is over (or
 * everything, with all), and unlist those with nothing left to report.
 */
void fc_log_limit_flush(bool all)
{
	struct fc_log_limit **pp, *l;
	int64_t now = fc_mono_ms();

	pthread_mutex_lock(&pending_lock);
	pp = &pending_head;
	while ((l = *pp) != NULL) {
		bool done;

		pthread_mutex_lock(&l->lock);
		report_locked(l, now, all);
		done = l->suppressed == 0;
		if (done)
			l->listed = false;
		pthread_mutex_unlock(&l->lock);
		if (done)
			*pp = l->next;
		else
			pp = &l->next;
	}
	pthread_mutex_unlock(&pending_lock);
}

/*
 * Log `what`, then every entry of OpenSSL's thread-local error queue.
 */
void fc_log_ssl(const char *what)
{
	unsigned long e;
	char buf[256];

	fc_log(LOG_ERR, "%s", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fc_log(LOG_ERR, "  openssl: %s", buf);
	}
}

/*
 * Append OpenSSL's first queued reason to err->msg and empty the queue.
 */
void fc_err_append_ssl(struct fc_err *err)
{
	unsigned long e = ERR_peek_error();
	char buf[256];

	if (err != NULL && e != 0) {
		size_t used = strlen(err->msg);
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", buf);
	}
	ERR_clear_error();
}
