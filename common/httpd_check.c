/*
 * What a request must look like before the front hands it on (docs/http.md,
 * "Malformed requests"), and the front's flags. A request that breaks a
 * rule is answered 400 (414 for an over-long target) at once and its
 * connection closed: an encoded or raw NUL or a control byte in the target
 * or a header, HTTP/1.1 without exactly one Host, header names that are not
 * tokens, too many headers or query parameters, a Transfer-Encoding other
 * than chunked, both Transfer-Encoding and Content-Length, differing
 * Content-Lengths, obsolete line folding.
 *
 * libmicrohttpd 0.9.75 stores header values as C strings, so a NUL inside a
 * value silently cuts it. To see it, check_raw_block() walks the raw header
 * block that libmicrohttpd parsed in place (connection.c: the request line
 * and each header line stay where they were read, in one contiguous read
 * buffer that only grows in place while the header is read; line ends and
 * the colon become NUL bytes; MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE is
 * the block's length from the method). Between one field's value and the
 * next field's name there may only be those NUL bytes: anything else is
 * what followed a NUL inside the value.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common_int.h"

/* A raw field as libmicrohttpd stores it (pointers into its buffer). */
struct raw_field {
	const char *k, *v;
	size_t kl, vl;
};

struct collect {
	struct raw_field f[FC_HTTPD_MAX_HEADERS];
	size_t n;
	bool too_many;
};

static void set_bad(struct fc_http_exchange *x, unsigned status, const char *why)
{
	if (x->bad == NULL) {
		x->bad = why;
		x->bad_status = status;
	}
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* RFC 9110 5.5: no CTL but HTAB in a field value. */
static bool value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * The raw request target (URI callback, before libmicrohttpd decodes or
 * splits it). Over FC_HTTPD_MAX_QUERY_PARAMS parameters (or an over-long
 * target) the query is cut at the '?' in libmicrohttpd's buffer, which it
 * parses next: 0.9.75 would otherwise fill the connection's memory pool
 * with them, and then (parse_initial_message_line overwriting its own
 * error state) never answer. The request is refused in any case.
 */
void httpd_check_uri(struct fc_http_exchange *x, const char *uri)
{
	size_t len = strlen(uri), params = 0;
	const char *q = strchr(uri, '?');

	x->raw_uri_at = uri;
	x->raw_uri_len = len;
	x->raw_uri = fc_xstrndup(uri, len > 200 ? 200 : len); /* for logs */
	if (len > FC_HTTPD_MAX_URI)
		set_bad(x, 414, "the request target is longer than 8192 bytes");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];
		if (c <= 0x20 || c == 0x7f) {
			set_bad(x, 400, "a control character or space in the request target");
			break;
		}
	}
	if (strstr(uri, "%00") != NULL)
		set_bad(x, 400, "an encoded NUL (%00) in the request target");
	if (q != NULL) {
		params = 1;
		for (const char *p = q + 1; *p; p++)
			params += *p == '&';
	}
	if (params > FC_HTTPD_MAX_QUERY_PARAMS)
		set_bad(x, 400, "more than 100 query parameters");
	if (q != NULL && x->bad != NULL)
		((char *)q)[1] = '\0'; /* libmicrohttpd's own buffer: see above */
}

static enum MHD_Result collect_cb(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct collect *c = cls;

	if (c->n == FC_HTTPD_MAX_HEADERS) {
		c->too_many = true;
		return MHD_NO;
	}
	c->f[c->n].k = key;
	c->f[c->n].kl = key_size;
	c->f[c->n].v = value; /* never NULL for a header field */
	c->f[c->n].vl = value ? value_size : 0;
	c->n++;
	return MHD_YES;
}

/* Bytes [from, to) are all NUL, at most max of them: what libmicrohttpd
 * leaves of line ends (CRLF or LF; a NUL just before one shows as one
 * more). */
static bool all_nul(const char *from, const char *to, size_t max)
{
	if (to < from || (size_t)(to - from) > max)
		return false;
	for (const char *p = from; p < to; p++)
		if (*p != '\0')
			return false;
	return true;
}

/*
 * The raw header block (see the top of this file): the request line, then
 * each field in arrival order. Returns NULL or why the request is refused.
 */
static const char *check_raw_block(struct fc_http_exchange *x, struct MHD_Connection *conn,
				   const char *method, const char *version, const struct collect *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	const char *end, *p;
	size_t ml = strlen(method);

	if (ci == NULL || x->raw_uri_at == NULL)
		return NULL; /* not this libmicrohttpd: its own checks only */
	end = method + ci->header_size;
	if (x->raw_uri_at < method + ml + 1 || x->raw_uri_at >= end || version < method ||
	    version >= end)
		return NULL;
	/* method SP+ target SP version: a NUL inside any of them shows here */
	for (p = method + ml + 1; p < x->raw_uri_at; p++)
		if (*p != ' ')
			return "a malformed request line";
	if (x->raw_uri_at + x->raw_uri_len + 1 != version)
		return "a NUL byte in the request target";
	p = version + strlen(version);
	for (size_t i = 0; i < c->n; i++) {
		const struct raw_field *f = &c->f[i];
		if (f->v == NULL)
			return NULL; /* not this libmicrohttpd: its own checks only */
		if (f->v < method || f->v >= end || f->k < method || f->k >= end)
			return "obsolete line folding in a header field";
		if (f->k < p || !all_nul(p, f->k, 2))
			return "a NUL byte in a header field";
		for (const char *s = f->k + f->kl + 1; s < f->v; s++)
			if (*s != ' ' && *s != '\t')
				return "a NUL byte in a header field name";
		p = f->v + f->vl;
	}
	if (!all_nul(p, end, 4)) /* the last line end and the empty line */
		return "a NUL byte in a header field";
	return NULL;
}

/* Per-field rules; the copy into x->headers. */
static void check_fields(struct fc_http_exchange *x, const struct collect *c)
{
	unsigned hosts = 0;
	const char *cl = NULL;
	bool te = false;

	x->headers = fc_xcalloc(c->n ? c->n : 1, sizeof(*x->headers));
	for (size_t i = 0; i < c->n; i++) {
		const struct raw_field *f = &c->f[i];
		if (!is_token(f->k, f->kl))
			set_bad(x, 400, "a header field name that is not a token");
		if (!value_ok(f->v ? f->v : "", f->vl))
			set_bad(x, 400, "a control character in a header field");
		x->headers[i].name = fc_xstrndup(f->k, f->kl);
		x->headers[i].value = fc_xstrndup(f->v ? f->v : "", f->vl);
		x->n_headers++;
		if (strcasecmp(x->headers[i].name, "Host") == 0)
			hosts++;
		if (strcasecmp(x->headers[i].name, "Transfer-Encoding") == 0) {
			te = true;
			if (strcasecmp(x->headers[i].value, "chunked") != 0)
				set_bad(x, 400, "a Transfer-Encoding other than chunked");
		}
		if (strcasecmp(x->headers[i].name, "Content-Length") == 0) {
			if (cl != NULL && strcmp(cl, x->headers[i].value) != 0)
				set_bad(x, 400, "differing Content-Length fields");
			cl = x->headers[i].value;
		}
		if (strcasecmp(x->headers[i].name, "Expect") == 0 &&
		    strcasecmp(x->headers[i].value, "100-continue") == 0)
			x->expect_continue = true;
	}
	if (te && cl != NULL)
		set_bad(x, 400, "both Transfer-Encoding and Content-Length");
	if (hosts > 1)
		set_bad(x, 400, "more than one Host field");
	x->has_host = hosts == 1;
}

static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind, const char *key,
				size_t key_size, const char *value, size_t value_size)
{
	struct fc_http_exchange *x = cls;

	if (x->n_query == FC_HTTPD_MAX_QUERY_PARAMS)
		return MHD_NO;
	x->query = fc_xrealloc(x->query, (x->n_query + 1) * sizeof(*x->query));
	x->query[x->n_query].name = fc_xstrndup(key, key_size);
	x->query[x->n_query].value = value ? fc_xstrndup(value, value_size) : NULL;
	x->n_query++;
	return MHD_YES;
}

/*
 * The complete header (first call of the access callback, I/O thread):
 * check it and copy what a handler may read into x. Sets x->bad (and
 * x->bad_status) if the request is refused.
 */
void httpd_check_header(struct fc_http_exchange *x, struct MHD_Connection *conn, const char *method,
			const char *version)
{
	struct collect *c = fc_xcalloc(1, sizeof(*c));
	const char *why;

	x->method = fc_xstrdup(method);
	if (!is_token(method, strlen(method)))
		set_bad(x, 400, "a request method that is not a token");
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_cb, c);
	if (c->too_many)
		set_bad(x, 400, "more than 100 header fields");
	if ((why = check_raw_block(x, conn, method, version, c)) != NULL)
		set_bad(x, 400, why);
	check_fields(x, c);
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !x->has_host)
		set_bad(x, 400, "an HTTP/1.1 request without a Host field");
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, query_cb, x);
	free(c);
}

/* --- flags ------------------------------------------------------------------------ */

/* A Go duration from 1 ms to 24 h (common.h). */
enum fc_status fc_parse_duration_ms(const char *s, uint32_t *ms)
{
	double v;

	if (s == NULL || !fc_parse_duration(s, 0, &v) || v < 1 || v > 24.0 * 3600 * 1000)
		return FC_ECONFIG;
	*ms = (uint32_t)v;
	return FC_OK;
}

static enum fc_status parse_count(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return FC_ECONFIG;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return FC_ECONFIG;
	*out = (uint32_t)v;
	return FC_OK;
}

/* Apply one of FC_HTTPD_LONGOPTS (common.h); a file flag keeps value (an
 * argv string). */
enum fc_status fc_httpd_flag(struct fc_httpd_limits *l, int opt, const char *value)
{
	uint32_t v;

	switch (opt) {
	case FC_HTTPD_OPT_READ_HEADER: return fc_parse_duration_ms(value, &l->read_header_ms);
	case FC_HTTPD_OPT_READ: return fc_parse_duration_ms(value, &l->read_ms);
	case FC_HTTPD_OPT_WRITE: return fc_parse_duration_ms(value, &l->write_ms);
	case FC_HTTPD_OPT_IDLE: return fc_parse_duration_ms(value, &l->idle_ms);
	case FC_HTTPD_OPT_SHUTDOWN: return fc_parse_duration_ms(value, &l->shutdown_ms);
	case FC_HTTPD_OPT_MAX_CONNS:
		if (parse_count(value, 1000000, &v) != FC_OK || v == 0)
			return FC_ECONFIG;
		l->max_connections = v;
		return FC_OK;
	case FC_HTTPD_OPT_MAX_PER_IP:
		if (parse_count(value, 1000000, &v) != FC_OK)
			return FC_ECONFIG;
		l->max_per_ip = v == 0 ? FC_HTTPD_NO_LIMIT : v;
		return FC_OK;
	case FC_HTTPD_OPT_MAX_IN_FLIGHT:
		if (parse_count(value, 1000000, &v) != FC_OK || v == 0)
			return FC_ECONFIG;
		l->max_in_flight = v;
		return FC_OK;
	case FC_HTTPD_OPT_TLS_CERT:
	case FC_HTTPD_OPT_TLS_KEY:
		if (value == NULL || *value == '\0')
			return FC_ECONFIG;
		*(opt == FC_HTTPD_OPT_TLS_CERT ? &l->tls_cert_path : &l->tls_key_path) = value;
		return FC_OK;
	case FC_HTTPD_OPT_TLS_MIN:
		if (value == NULL || (strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0))
			return FC_ECONFIG;
		l->tls_min_version = strcmp(value, "1.3") == 0 ? 13 : 12;
		return FC_OK;
	default: return FC_ECONFIG;
	}
}
