/*
 * The HTTP API of sigstore timestamp-authority (openapi.yaml, pkg/api,
 * pkg/generated/restapi), as a client sees it from v2.1.3:
 *
 *   POST /api/v1/timestamp           application/timestamp-query (DER) or
 *                                    application/json -> 200 (or 201)
 *                                    application/timestamp-reply
 *   GET  /api/v1/timestamp/certchain application/pem-certificate-chain
 *   GET|HEAD /ping                   "." (text/plain)
 *
 * Refusals keep sigstore's statuses, content types and bodies: 400
 * {"code":400,"message":...} sent as application/timestamp-reply (the only
 * type the operation produces), 415 and 405 and 404 and 422 as
 * application/json from the routing layer. fulcrum adds GET /readyz and a
 * 503 while the clock is unsynchronised.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tsa_int.h"

#define CT_REPLY "application/timestamp-reply"
#define CT_QUERY "application/timestamp-query"
#define CT_JSON "application/json"
#define PATH_TIMESTAMP "/api/v1/timestamp"
#define PATH_CERTCHAIN "/api/v1/timestamp/certchain"

/* Wall clock in milliseconds since the epoch. */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CORS as rs/cors' default handler (every origin), which sigstore's TSA
 * wraps around everything. */
static void cors_headers(struct fc_http_exchange *x)
{
	fc_http_add_header(x, "Vary", "Origin");
	if (fc_http_header(x, "Origin") != NULL)
		fc_http_add_header(x, "Access-Control-Allow-Origin", "*");
}

/* {"code":N,"message":"..."} with the given content type. */
static void respond_error(struct fc_http_exchange *x, unsigned status, const char *type, int code,
			  const char *message)
{
	json_t *o = json_pack("{s:i, s:s}", "code", code, "message", message);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

	fc_http_respond(x, status, type, body ? body : "", body ? strlen(body) : 0);
	free(body);
	json_decref(o);
}

/* chi's middleware.NoCache, on every answer to POST /api/v1/timestamp. */
static void no_cache_headers(struct fc_http_exchange *x)
{
	fc_http_add_header(x, "Cache-Control",
			   "no-cache, no-store, no-transform, must-revalidate, private, max-age=0");
	fc_http_add_header(x, "Expires", "Thu, 01 Jan 1970 00:00:00 GMT");
	fc_http_add_header(x, "Pragma", "no-cache");
	fc_http_add_header(x, "X-Accel-Expires", "0");
}

/*
 * The request's media type, lower case and without parameters; Go's
 * net/http reports a missing one as application/octet-stream. (sigstore's
 * TSA up to v2.1.3 refused parameters such as "; charset=utf-8" with 400;
 * later versions parse the media type, as here.)
 */
static void media_type(struct fc_http_exchange *x, char *out, size_t n)
{
	const char *ct = fc_http_header(x, "Content-Type");
	size_t i = 0;

	if (ct == NULL || *ct == '\0')
		ct = "application/octet-stream";
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; *ct && *ct != ';' && i + 1 < n; ct++)
		out[i++] = (char)(*ct >= 'A' && *ct <= 'Z' ? *ct + 32 : *ct);
	while (i > 0 && (out[i - 1] == ' ' || out[i - 1] == '\t'))
		i--;
	out[i] = '\0';
}

/* A request refused: log the reason, answer sigstore's message. */
static void refused(struct fc_http_exchange *x, enum tsa_refusal why, const struct fc_err *err)
{
	fc_log(LOG_DEBUG, "tsa: refused: %s", err->msg[0] ? err->msg : tsa_refusal_message(why));
	respond_error(x, 400, CT_REPLY, 400, tsa_refusal_message(why));
}

/* Parse the body after the checks every request passes; NULL when the
 * exchange has been answered. */
static struct tsa_request *parse_body(struct fc_http_exchange *x, bool json)
{
	struct fc_err err = {0};
	struct tsa_request *r = NULL;
	enum tsa_refusal why = TSA_REFUSE_NONE;
	const uint8_t *body;
	size_t len;

	if (fc_http_body_too_large(x)) {
		/* sigstore's TSA answers a body over --max-request-body-size
		 * with its generic 400 (io.ReadAll fails in the handler). */
		fc_log(LOG_DEBUG, "tsa: refused: request body over the limit");
		respond_error(x, 400, CT_REPLY, 400, tsa_refusal_message(TSA_REFUSE_MALFORMED));
		return NULL;
	}
	body = fc_http_body(x, &len);
	if (len == 0) {
		respond_error(x, 422, CT_JSON, 602, "request in body is required");
		return NULL;
	}
	if ((json ? tsa_request_parse_json(body, len, &r, &why, &err)
		  : tsa_request_parse_der(body, len, &r, &why, &err)) != FC_OK) {
		refused(x, why, &err);
		return NULL;
	}
	return r;
}

/* POST /api/v1/timestamp. */
static void timestamp(struct tsa *t, struct fc_http_exchange *x)
{
	struct fc_err err = {0};
	struct tsa_request *r = NULL;
	enum tsa_refusal why = TSA_REFUSE_NONE;
	char mt[128], msg[FC_ERR_MSG_MAX + 64], why_clock[256];
	uint8_t *der = NULL;
	size_t len = 0;
	enum fc_status st;

	no_cache_headers(x);
	media_type(x, mt, sizeof(mt));
	if (strcmp(mt, CT_QUERY) != 0 && strcmp(mt, CT_JSON) != 0) {
		snprintf(msg, sizeof(msg),
			 "unsupported media type \"%s\", only [%s %s] are allowed", mt, CT_QUERY,
			 CT_JSON);
		respond_error(x, 415, CT_JSON, 415, msg);
		return;
	}
	if ((r = parse_body(x, strcmp(mt, CT_JSON) == 0)) == NULL)
		return;
	/* The clock only: a signer that cannot sign says so from hsm_sign
	 * (503), without the probe signature tsa_ready may make. */
	if (t->clock_check && !tsa_clock_ok(t->clock_max_error_us, why_clock, sizeof(why_clock))) {
		if (!atomic_exchange(&t->clock_refused, true))
			fc_log(LOG_WARNING, "tsa: not stamping until the clock is fit: %s",
			       why_clock);
		snprintf(msg, sizeof(msg), "timestamping unavailable: %s", why_clock);
		respond_error(x, 503, CT_REPLY, 503, msg);
		goto out;
	}
	if (t->clock_check && atomic_exchange(&t->clock_refused, false))
		fc_log(LOG_NOTICE, "tsa: the clock is fit again: stamping");
	st = tsa_stamp(t, r, wall_ms(), &der, &len, &why, &err);
	if (st == FC_EINPUT) {
		refused(x, why, &err);
	} else if (st != FC_OK) {
		fc_log(LOG_ERR, "tsa: %s", err.msg);
		respond_error(x, st == FC_EUNAVAIL ? 503 : 500, CT_REPLY,
			      st == FC_EUNAVAIL ? 503 : 500,
			      tsa_refusal_message(TSA_REFUSE_MALFORMED));
	} else {
		fc_http_respond(x, t->http_201 ? 201 : 200, CT_REPLY, der, len);
	}
out:
	free(der);
	tsa_request_free(r);
}

/* GET /readyz: 200 while timestamps can be issued, else 503 and why. */
static void readyz(struct tsa *t, struct fc_http_exchange *x)
{
	char why[256];
	json_t *o;
	char *body;
	bool ready = tsa_ready(t, why, sizeof(why));

	o = ready ? json_pack("{s:s}", "status", "READY")
		  : json_pack("{s:s, s:s}", "status", "NOT_READY", "message", why);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	fc_http_respond(x, ready ? 200 : 503, CT_JSON, body ? body : "", body ? strlen(body) : 0);
	free(body);
	json_decref(o);
}

/* A CORS preflight (rs/cors' default: GET, POST, HEAD, any origin). */
static bool preflight(struct fc_http_exchange *x)
{
	const char *m = fc_http_header(x, "Access-Control-Request-Method");
	const char *h = fc_http_header(x, "Access-Control-Request-Headers");

	if (strcmp(fc_http_method(x), "OPTIONS") != 0 || fc_http_header(x, "Origin") == NULL ||
	    m == NULL)
		return false;
	fc_http_add_header(x, "Vary",
			   "Origin, Access-Control-Request-Method, "
			   "Access-Control-Request-Headers");
	if (strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "HEAD") == 0) {
		fc_http_add_header(x, "Access-Control-Allow-Origin", "*");
		fc_http_add_header(x, "Access-Control-Allow-Methods", m);
		if (h != NULL && *h != '\0')
			fc_http_add_header(x, "Access-Control-Allow-Headers", h);
	}
	fc_http_respond(x, 204, NULL, "", 0);
	return true;
}

/* 405 as go-openapi answers a known path with another method. */
static void not_allowed(struct fc_http_exchange *x, const char *allowed)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "method %s is not allowed, but [%s] are", fc_http_method(x),
		 allowed);
	fc_http_add_header(x, "Allow", allowed);
	respond_error(x, 405, CT_JSON, 405, msg);
}

/*
 * The HTTP handler (tsa.h): routes an exchange to its endpoint.
 */
void tsa_handle(void *ctx, struct fc_http_exchange *x)
{
	struct tsa *t = ctx;
	const char *path = fc_http_path(x), *method = fc_http_method(x);
	char msg[FC_ERR_MSG_MAX];

	if (preflight(x))
		return;
	cors_headers(x);
	if (strcmp(path, PATH_TIMESTAMP) == 0) {
		if (strcmp(method, "POST") == 0)
			timestamp(t, x);
		else
			not_allowed(x, "POST");
	} else if (strcmp(path, PATH_CERTCHAIN) == 0) {
		if (strcmp(method, "GET") != 0) {
			not_allowed(x, "GET");
			return;
		}
		fc_http_add_header(x, "Cache-Control", "max-age=86400, immutable");
		fc_http_respond(x, 200, "application/pem-certificate-chain", t->chain_pem,
				strlen(t->chain_pem));
	} else if (strcmp(path, "/ping") == 0 &&
		   (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
		fc_http_respond(x, 200, "text/plain", ".", 1);
	} else if (strcmp(path, "/readyz") == 0 && strcmp(method, "GET") == 0) {
		readyz(t, x);
	} else {
		snprintf(msg, sizeof(msg), "path %.400s was not found", path);
		respond_error(x, 404, CT_JSON, 404, msg);
	}
}
