#include <stdio.h>
#include <string.h>

#include "common.h"

static const char *const status_names[] = {
	[FC_OK] = "success",
	[FC_ENOMEM] = "out of memory",
	[FC_EINPUT] = "invalid input",
	[FC_EAUTH] = "identity token refused",
	[FC_EHSM] = "signer failure",
	[FC_EUPSTREAM] = "upstream service failure",
	[FC_ECONFIG] = "invalid configuration",
	[FC_EINTERNAL] = "internal error",
	[FC_ETOOBIG] = "input too large",
	[FC_EIO] = "I/O error",
	[FC_EUNAVAIL] = "temporarily unavailable",
	[FC_ENOTFOUND] = "not found",
	[FC_EPENDING] = "pending",
};

/*
 * Human-readable name of a status; never NULL.
 */
const char *fc_strerror(enum fc_status st)
{
	if ((size_t)st < sizeof(status_names) / sizeof(status_names[0]) && status_names[st])
		return status_names[st];
	return "unknown status";
}

static enum fc_status err_vset(struct fc_err *err, enum fc_class cls, enum fc_status st,
			       const char *fmt, va_list ap)
{
	if (err == NULL || err->status != FC_OK)
		return st;
	err->status = st;
	err->cls = cls;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	/* Messages quote values from untrusted input (claims, URLs); keep them
	 * to one printable line so that they cannot forge log lines. */
	for (char *c = err->msg; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
	return st;
}

/*
 * Record a failure reason in err (if non-NULL and still empty) and return st.
 * Control characters in the message are replaced by '?'.
 */
enum fc_status fc_err_set(struct fc_err *err, enum fc_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	st = err_vset(err, FC_CLASS_NONE, st, fmt, ap);
	va_end(ap);
	return st;
}

/*
 * fc_err_set with the class of the failure (common.h enum fc_class).
 */
enum fc_status fc_err_set_class(struct fc_err *err, enum fc_class cls, enum fc_status st,
				const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	st = err_vset(err, cls, st, fmt, ap);
	va_end(ap);
	return st;
}

/*
 * Set the class of the reason recorded in err if it has none.
 */
void fc_err_classify(struct fc_err *err, enum fc_class cls)
{
	if (err != NULL && err->cls == FC_CLASS_NONE)
		err->cls = cls;
}

/*
 * Reset err to "no error".
 */
void fc_err_clear(struct fc_err *err)
{
	if (err == NULL)
		return;
	err->status = FC_OK;
	err->cls = FC_CLASS_NONE;
	err->msg[0] = '\0';
}
