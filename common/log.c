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
