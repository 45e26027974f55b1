#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static int log_level = LOG_INFO;

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

void fc_log_set_level(int prio)
{
	log_level = prio;
}

int fc_log_get_level(void)
{
	return log_level;
}

/*
 * Write one log line to stderr: "fulcrum[level]: message". The line is
 * formatted first and written with one call so that lines from several
 * threads do not interleave.
 */
void fc_vlog(int prio, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if (prio > log_level)
		return;
	n = snprintf(line, sizeof(line), "fulcrum[%s]: ", prio_name(prio));
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void fc_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fc_vlog(prio, fmt, ap);
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
 * past that count them, to be reported in one line.
 */
void fc_log_limited(struct fc_log_limit *l, int prio, const char *fmt, ...)
{
	unsigned per_sec = l->per_sec ? l->per_sec : LOG_LIMIT_DEFAULT_PER_SEC;
	int64_t now;
	bool write_it, first_drop = false;
	va_list ap;

	if (prio > log_level)
		return;
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
	if (write_it) {
		va_start(ap, fmt);
		fc_vlog(prio, fmt, ap);
		va_end(ap);
	}
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
