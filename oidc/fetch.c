/*
 * One bounded HTTP GET for a discovery or JWKS document (OpenID Connect
 * Discovery 1.0 4, RFC 7517 5), as a state machine over a libcurl multi
 * handle: the fetch thread (fetcher.c) starts it, tells it when a transfer
 * ends, and reads its outcome. Nothing here blocks.
 *
 * The body is capped in the write callback (and earlier, from
 * Content-Length, in the header callback): the transfer stops as soon as
 * the cap is passed. Redirects are not followed by libcurl; we follow them
 * ourselves, only to the same origin (scheme, host, port) as the URL we
 * were asked for, as Fulcio's noRedirectClient does, each hop on the same
 * easy handle and within one deadline for the whole GET.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "oidc_int.h"

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_CA_BUNDLE_BYTES (8 * 1024 * 1024)
#define MAX_CONNECT_TIMEOUT_MS 5000
#define MSG_URL_MAX 200 /* characters of a URL quoted in a message */

static pthread_once_t bundle_once = PTHREAD_ONCE_INIT;
static char *sys_bundle; /* system CA bundle, read once; NULL if unreadable */
static size_t sys_bundle_len;

static void bundle_init(void)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	const char *path = vi && vi->cainfo ? vi->cainfo : DEFAULT_CA_BUNDLE;
	struct fc_err e = {0};

	if (fc_read_file(path, MAX_CA_BUNDLE_BYTES, &sys_bundle, &sys_bundle_len, &e) != FC_OK) {
		fc_log(LOG_WARNING, "oidc: system CA bundle: %s", e.msg);
		sys_bundle = NULL;
		sys_bundle_len = 0;
	}
}

/* A URL for a message: no query or fragment, and not too long. */
static void url_for_msg(const char *url, char *out, size_t outlen)
{
	size_t n = strcspn(url, "?#");

	if (n > MSG_URL_MAX)
		n = MSG_URL_MAX;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, url, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)out[i]))
			out[i] = '?';
}

struct xfer {
	CURL *curl;
	struct fc_buf body;
	size_t max;
	bool too_big;
	bool no_store;
	long max_age; /* -1: none seen */
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	if (!fc_buf_append(&x->body, ptr, n)) {
		x->too_big = true;
		return 0; /* anything but n aborts the transfer (CURLE_WRITE_ERROR) */
	}
	return n;
}

/* Parse the directives of one Cache-Control header (RFC 9111 5.2). */
static void parse_cache_control(struct xfer *x, const char *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == 8 && (strncasecmp(v + start, "no-store", 8) == 0 ||
					 strncasecmp(v + start, "no-cache", 8) == 0)) {
			x->no_store = true;
		} else if (end - start > 8 && strncasecmp(v + start, "max-age=", 8) == 0 &&
			   x->max_age < 0) {
			long n = 0;
			size_t j = start + 8;
			bool ok = j < end;

			if (j < end && v[j] == '"' && end - j >= 2 && v[end - 1] == '"') {
				j++;
				end--;
				ok = j < end;
			}
			for (; ok && j < end; j++) {
				if (!isdigit((unsigned char)v[j])) {
					ok = false;
					break;
				}
				/* RFC 9111 1.2.2: a delta-seconds too large is taken as 2^31. */
				if (n < INT_MAX)
					n = n * 10 + (v[j] - '0');
				if (n > INT_MAX)
					n = INT_MAX;
			}
			if (ok)
				x->max_age = n;
		}
	}
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	static const char cc[] = "cache-control:";

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* A new response (e.g. after 100 Continue): forget the last one. */
		x->no_store = false;
		x->max_age = -1;
	} else if (n >= sizeof(cc) - 1 && strncasecmp(ptr, cc, sizeof(cc) - 1) == 0) {
		size_t len = n - (sizeof(cc) - 1);
		const char *v = ptr + sizeof(cc) - 1;

		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n'))
			len--;
		parse_cache_control(x, v, len);
	} else if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
		/* End of the header block: refuse a declared length over the cap
		 * before any of the body arrives. */
		curl_off_t cl = -1;

		if (curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) ==
			    CURLE_OK &&
		    cl > 0 && (uint64_t)cl > (uint64_t)x->max) {
			x->too_big = true;
			return 0;
		}
	}
	return n;
}

/* Same scheme, host and port (RFC 6454 4), compared with libcurl's parser. */
static bool same_origin(const char *a, const char *b)
{
	CURLU *ua = curl_url(), *ub = curl_url();
	char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
	bool same = false;

	if (ua == NULL || ub == NULL)
		goto out;
	if (curl_url_set(ua, CURLUPART_URL, a, 0) != CURLUE_OK ||
	    curl_url_set(ub, CURLUPART_URL, b, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) != CURLUE_OK ||
	    curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) != CURLUE_OK ||
	    curl_url_get(ua, CURLUPART_HOST, &ha, 0) != CURLUE_OK ||
	    curl_url_get(ub, CURLUPART_HOST, &hb, 0) != CURLUE_OK ||
	    curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	same = strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 && strcmp(pa, pb) == 0;
out:
	curl_free(sa);
	curl_free(sb);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

struct oidc_get {
	char *url;    /* as asked: the origin redirects must keep */
	char *cur;    /* this hop's URL */
	char *ca_pem; /* the issuer's CACert, or NULL */
	size_t max_bytes;
	int timeout_ms;
	int64_t deadline; /* fc_mono_ms() */
	int hops;
	bool running;	  /* the easy handle is in the multi handle */
	bool over;	  /* the outcome below is final */
	struct fc_buf ca; /* system bundle + ca_pem, built at the first hop */
	struct curl_blob blob;
	struct curl_slist *hdrs;
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE];
	enum fc_status st; /* the outcome */
	struct fc_err err;
	struct oidc_http_response resp;
};

/*
 * A GET of url, not started yet (oidc_get_start). ca_pem (may be NULL) is
 * trusted in addition to the system CA bundle; max_bytes caps the body;
 * timeout_ms bounds the whole GET, redirects included, from now. Free with
 * oidc_get_free().
 */
struct oidc_get *oidc_get_new(const char *url, const char *ca_pem, size_t max_bytes, int timeout_ms)
{
	struct oidc_get *g = fc_xcalloc(1, sizeof(*g));

	g->url = fc_xstrdup(url);
	g->cur = fc_xstrdup(url);
	g->ca_pem = ca_pem ? fc_xstrdup(ca_pem) : NULL;
	g->max_bytes = max_bytes;
	g->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	g->deadline = fc_mono_ms() + g->timeout_ms;
	fc_buf_init(&g->x.body, max_bytes);
	g->x.max = max_bytes;
	g->x.max_age = -1;
	g->resp.max_age_s = -1;
	return g;
}

/*
 * Free g; it must not be running (oidc_get_abort first). NULL is fine.
 */
void oidc_get_free(struct oidc_get *g)
{
	if (g == NULL)
		return;
	if (g->x.curl)
		curl_easy_cleanup(g->x.curl);
	curl_slist_free_all(g->hdrs);
	fc_buf_free(&g->x.body);
	fc_buf_free(&g->ca);
	oidc_http_response_free(&g->resp);
	free(g->ca_pem);
	free(g->url);
	free(g->cur);
	free(g);
}

/* Record the outcome (the first one wins) and end g. */
static void get_end(struct oidc_get *g, enum fc_status st, const char *fmt, ...) FC_PRINTF(3, 4);
static void get_end(struct oidc_get *g, enum fc_status st, const char *fmt, ...)
{
	char msg[FC_ERR_MSG_MAX];
	va_list ap;

	if (g->over)
		return;
	g->over = true;
	g->st = st;
	if (st == FC_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fc_err_set(&g->err, st, "%s", msg);
}

/* The CA blob: CURLOPT_CAINFO_BLOB replaces the default bundle, so it gets
 * both the system's and the issuer's. */
static const struct curl_blob *ca_blob(struct oidc_get *g)
{
	if (g->ca_pem == NULL)
		return NULL;
	if (g->blob.data == NULL) {
		pthread_once(&bundle_once, bundle_init);
		fc_buf_init(&g->ca, 0);
		if (sys_bundle != NULL)
			fc_buf_append(&g->ca, sys_bundle, sys_bundle_len);
		fc_buf_append_str(&g->ca, "\n");
		fc_buf_append_str(&g->ca, g->ca_pem);
		g->blob.data = g->ca.data;
		g->blob.len = g->ca.len;
		g->blob.flags = CURL_BLOB_NOCOPY; /* g->ca outlives every hop */
	}
	return &g->blob;
}

/* The options of every hop but its URL and timeouts. */
static bool easy_setup(struct oidc_get *g, void *priv)
{
	CURL *c = g->x.curl;
	const struct curl_blob *cablob = ca_blob(g);

	if (g->hdrs == NULL)
		g->hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (g->hdrs == NULL)
		return false;
	return
#if LIBCURL_VERSION_NUM >= 0x075500
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
		curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
			CURLE_OK &&
#endif
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)g->max_bytes) ==
			CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, g->hdrs) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_USERAGENT, "fulcrum") == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, g->errbuf) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &g->x) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &g->x) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_PRIVATE, priv) == CURLE_OK &&
		(cablob == NULL || curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, cablob) == CURLE_OK);
}

/*
 * Start g's next hop (g->cur) on multi; priv goes to CURLOPT_PRIVATE.
 * Returns true if a transfer is running, false if g is over (its outcome
 * set: the deadline passed, or libcurl could not start).
 */
bool oidc_get_start(struct oidc_get *g, CURLM *multi, void *priv)
{
	char mu[MSG_URL_MAX + 1];
	int64_t left = g->deadline - fc_mono_ms();

	url_for_msg(g->url, mu, sizeof(mu));
	if (g->over)
		return false;
	if (left <= 0) {
		get_end(g, FC_EUPSTREAM, "GET %s: timed out after %d ms", mu, g->timeout_ms);
		return false;
	}
	if (g->x.curl == NULL) {
		if ((g->x.curl = curl_easy_init()) == NULL) {
			get_end(g, FC_EINTERNAL, "GET %s: cannot create a libcurl handle", mu);
			return false;
		}
		if (!easy_setup(g, priv)) {
			get_end(g, FC_EINTERNAL, "GET %s: cannot set up libcurl", mu);
			return false;
		}
	}
	fc_buf_reset(&g->x.body);
	g->x.too_big = g->x.no_store = false;
	g->x.max_age = -1;
	g->errbuf[0] = '\0';
	if (curl_easy_setopt(g->x.curl, CURLOPT_URL, g->cur) != CURLE_OK ||
	    curl_easy_setopt(g->x.curl, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
	    curl_easy_setopt(
		    g->x.curl, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)(left < MAX_CONNECT_TIMEOUT_MS ? left : MAX_CONNECT_TIMEOUT_MS)) !=
		    CURLE_OK) {
		get_end(g, FC_EINTERNAL, "GET %s: cannot set up libcurl", mu);
		return false;
	}
	if (curl_multi_add_handle(multi, g->x.curl) != CURLM_OK) {
		get_end(g, FC_EINTERNAL, "GET %s: cannot start a libcurl transfer", mu);
		return false;
	}
	g->running = true;
	return true;
}

/* The transfer of this hop failed with rc: set the outcome. */
static void hop_failed(struct oidc_get *g, CURLcode rc, const char *mu)
{
	long oserr = 0;

	if (g->x.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		get_end(g, FC_ETOOBIG, "GET %s: response larger than %zu bytes", mu, g->max_bytes);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		get_end(g, FC_EUPSTREAM, "GET %s: timed out after %d ms", mu, g->timeout_ms);
	} else if (rc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(g->x.curl, CURLINFO_OS_ERRNO, &oserr);
		get_end(g, FC_EUPSTREAM, "GET %s: %s", mu,
			oserr == ECONNREFUSED ? "connection refused"
			: oserr != 0	      ? strerror((int)oserr)
			: g->errbuf[0]	      ? g->errbuf
					      : curl_easy_strerror(rc));
	} else {
		get_end(g, FC_EUPSTREAM, "GET %s: %s", mu,
			g->errbuf[0] ? g->errbuf : curl_easy_strerror(rc));
	}
}

/* This hop answered 3xx with Location loc: go on within the origin. */
static void hop_redirect(struct oidc_get *g, CURLM *multi, const char *loc, void *priv)
{
	char m1[MSG_URL_MAX + 1], m2[MSG_URL_MAX + 1];

	url_for_msg(g->cur, m1, sizeof(m1));
	url_for_msg(loc, m2, sizeof(m2));
	if (!same_origin(g->url, loc)) {
		get_end(g, FC_EUPSTREAM, "redirect from %s to another origin %s refused", m1, m2);
		return;
	}
	if (g->hops >= OIDC_MAX_REDIRECTS) {
		get_end(g, FC_EUPSTREAM, "GET %s: more than %d redirects", m1, OIDC_MAX_REDIRECTS);
		return;
	}
	g->hops++;
	free(g->cur);
	g->cur = fc_xstrdup(loc);
	oidc_get_start(g, multi, priv);
}

/*
 * The transfer of g's current hop ended with rc (CURLMSG_DONE): take it
 * off multi and either start the next hop (a same-origin redirect; returns
 * false) or set the outcome (returns true: read it with oidc_get_outcome).
 */
bool oidc_get_hop_done(struct oidc_get *g, CURLM *multi, CURLcode rc, void *priv)
{
	char mu[MSG_URL_MAX + 1];
	char *loc = NULL;
	long status = 0;

	url_for_msg(g->cur, mu, sizeof(mu));
	curl_multi_remove_handle(multi, g->x.curl);
	g->running = false;
	if (rc != CURLE_OK || g->x.too_big) {
		hop_failed(g, rc, mu);
		return true;
	}
	if (curl_easy_getinfo(g->x.curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
		get_end(g, FC_EINTERNAL, "GET %s: no response code", mu);
		return true;
	}
	if (status >= 300 && status < 400 &&
	    curl_easy_getinfo(g->x.curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL) {
		hop_redirect(g, multi, loc, priv);
		return !g->running;
	}
	g->resp.status = status;
	g->resp.max_age_s = g->x.no_store ? 0 : (int)g->x.max_age;
	g->resp.body = fc_buf_steal(&g->x.body, &g->resp.len);
	get_end(g, FC_OK, "%s", "");
	return true;
}

/*
 * End g now with st and why (the fetcher is stopping): its transfer, if
 * one runs, is taken off multi.
 */
void oidc_get_abort(struct oidc_get *g, CURLM *multi, enum fc_status st, const char *why)
{
	char mu[MSG_URL_MAX + 1];

	if (g->running) {
		curl_multi_remove_handle(multi, g->x.curl);
		g->running = false;
	}
	url_for_msg(g->url, mu, sizeof(mu));
	get_end(g, st, "GET %s: %s", mu, why);
}

/*
 * g's outcome, once over: FC_OK with *resp filled (free with
 * oidc_http_response_free) for any final HTTP status, including non-2xx;
 * resp->max_age_s is the Cache-Control max-age, 0 for no-store or no-cache
 * (do not keep: the caller applies its minimum TTL), -1 if absent.
 * Otherwise FC_ETOOBIG (body over the cap), FC_EUPSTREAM (connection, TLS,
 * timeout, redirect refused), FC_EUNAVAIL (aborted) or FC_EINTERNAL, with
 * the URL (without its query) in err, and resp left empty.
 */
enum fc_status oidc_get_outcome(struct oidc_get *g, struct oidc_http_response *resp,
				struct fc_err *err)
{
	memset(resp, 0, sizeof(*resp));
	resp->max_age_s = -1;
	if (!g->over)
		return fc_err_set(err, FC_EINTERNAL, "oidc: a GET read before its end");
	if (g->st != FC_OK)
		return fc_err_set(err, g->st, "%s", g->err.msg);
	*resp = g->resp;
	memset(&g->resp, 0, sizeof(g->resp));
	g->resp.max_age_s = -1;
	return FC_OK;
}

/*
 * Free what oidc_http_get put in resp (not resp itself) and reset it.
 * NULL is fine.
 */
void oidc_http_response_free(struct oidc_http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->status = 0;
	resp->max_age_s = -1;
}
