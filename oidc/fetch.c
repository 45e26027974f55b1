/*
 * Bounded HTTP GET for discovery and JWKS documents (OpenID Connect
 * Discovery 1.0 4, RFC 7517 5), with libcurl.
 *
 * Every call uses its own easy handle, so calls from many threads are safe.
 * The body is capped in the write callback (and earlier, from
 * Content-Length, in the header callback): the transfer stops as soon as
 * the cap is passed. Redirects are not followed by libcurl; we follow them
 * ourselves, only to the same origin (scheme, host, port) as the URL we
 * were asked for, as Fulcio's noRedirectClient does.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "oidc_int.h"

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_CA_BUNDLE_BYTES (8 * 1024 * 1024)
#define MAX_CONNECT_TIMEOUT_MS 5000
#define MSG_URL_MAX 200 /* characters of a URL quoted in a message */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static pthread_once_t bundle_once = PTHREAD_ONCE_INIT;
static char *sys_bundle; /* system CA bundle, read once; NULL if unreadable */
static size_t sys_bundle_len;

static void global_init(void)
{
	/* The program's main normally did this already; a second call only
	 * bumps libcurl's counter. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void bundle_init(void)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	const char *path = vi && vi->cainfo ? vi->cainfo : DEFAULT_CA_BUNDLE;
	struct fc_err e = { 0 };

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

		if (curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
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

/*
 * One GET without following redirects. On FC_OK fills *x's body and headers
 * and sets *status and *location (a redirect target, caller frees, or NULL).
 */
static enum fc_status get_once(const char *url, const struct curl_blob *cablob, size_t max_bytes,
			       long timeout_ms, struct xfer *x, long *status, char **location,
			       struct fc_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	char mu[MSG_URL_MAX + 1];
	struct curl_slist *hdrs = NULL;
	enum fc_status st = FC_EUPSTREAM;
	char *loc = NULL;
	CURLcode rc;
	CURL *c;

	url_for_msg(url, mu, sizeof(mu));
	if ((c = curl_easy_init()) == NULL)
		return fc_err_set(err, FC_EINTERNAL, "GET %s: cannot create a libcurl handle", mu);
	x->curl = c;
	hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (hdrs == NULL ||
	    curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#else
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) !=
		    CURLE_OK ||
#endif
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			     timeout_ms < MAX_CONNECT_TIMEOUT_MS ? timeout_ms
								 : (long)MAX_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "fulcrum") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    (cablob != NULL &&
	     curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, cablob) != CURLE_OK)) {
		st = fc_err_set(err, FC_EINTERNAL, "GET %s: cannot set up libcurl", mu);
		goto out;
	}

	rc = curl_easy_perform(c);
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		st = fc_err_set(err, FC_ETOOBIG, "GET %s: response larger than %zu bytes", mu,
				max_bytes);
		goto out;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		st = fc_err_set(err, FC_EUPSTREAM, "GET %s: timed out after %ld ms", mu, timeout_ms);
		goto out;
	}
	if (rc == CURLE_COULDNT_CONNECT) {
		long oserr = 0;

		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
		st = fc_err_set(err, FC_EUPSTREAM, "GET %s: %s", mu,
				oserr == ECONNREFUSED ? "connection refused"
				: oserr != 0	      ? strerror((int)oserr)
						      : (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
		goto out;
	}
	if (rc != CURLE_OK) {
		st = fc_err_set(err, FC_EUPSTREAM, "GET %s: %s", mu,
				errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "GET %s: no response code", mu);
		goto out;
	}
	if (*status >= 300 && *status < 400) {
		char *r = NULL;

		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &r) == CURLE_OK && r != NULL)
			loc = fc_xstrdup(r);
	}
	*location = loc;
	loc = NULL;
	st = FC_OK;
out:
	free(loc);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	x->curl = NULL;
	return st;
}

/*
 * GET url (RFC 9110 9.3.1) with a whole-fetch timeout of timeout_ms
 * (redirects included; the deadline is kept on fc_mono_ms(), each transfer
 * is bounded by libcurl's own timer) and a body cap of max_bytes. Redirects are followed
 * only to the same origin as url, at most OIDC_MAX_REDIRECTS. ca_pem (may be
 * NULL) is trusted in addition to the system CA bundle.
 * Returns FC_OK with *resp filled (free with oidc_http_response_free) for
 * any final HTTP status, including non-2xx; resp->max_age_s is the
 * Cache-Control max-age, 0 for no-store or no-cache (do not keep: the
 * caller applies its minimum TTL), -1 if absent. Otherwise FC_ETOOBIG (body
 * over max_bytes), FC_EUPSTREAM (connection, TLS, timeout, redirect
 * refused) or FC_EINTERNAL, with the URL (without its query) in err.
 */
enum fc_status oidc_http_get(const char *url, const char *ca_pem, size_t max_bytes, int timeout_ms,
			     struct oidc_http_response *resp, struct fc_err *err)
{
	struct curl_blob blob = { 0 }, *cablob = NULL;
	struct fc_buf ca = { 0 };
	struct xfer x;
	char *cur = fc_xstrdup(url), *loc = NULL;
	char m1[MSG_URL_MAX + 1], m2[MSG_URL_MAX + 1];
	enum fc_status st = FC_EUPSTREAM;
	int64_t deadline = fc_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	long status = 0;

	memset(&x, 0, sizeof(x));
	fc_buf_init(&x.body, max_bytes);
	memset(resp, 0, sizeof(*resp));
	resp->max_age_s = -1;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "oidc: curl_global_init failed");
		goto out;
	}
	if (ca_pem != NULL) {
		/* CURLOPT_CAINFO_BLOB replaces the default bundle: give it both. */
		pthread_once(&bundle_once, bundle_init);
		fc_buf_init(&ca, 0);
		if (sys_bundle != NULL)
			fc_buf_append(&ca, sys_bundle, sys_bundle_len);
		fc_buf_append_str(&ca, "\n");
		fc_buf_append_str(&ca, ca_pem);
		blob.data = ca.data;
		blob.len = ca.len;
		blob.flags = CURL_BLOB_NOCOPY; /* ca outlives every transfer below */
		cablob = &blob;
	}

	for (int hops = 0;; hops++) {
		int64_t left = deadline - fc_mono_ms();

		if (left <= 0) {
			url_for_msg(url, m1, sizeof(m1));
			st = fc_err_set(err, FC_EUPSTREAM, "GET %s: timed out after %d ms", m1,
					timeout_ms);
			goto out;
		}
		fc_buf_reset(&x.body);
		x.too_big = x.no_store = false;
		x.max_age = -1;
		x.max = max_bytes;
		free(loc);
		loc = NULL;
		if ((st = get_once(cur, cablob, max_bytes, (long)left, &x, &status, &loc, err)) !=
		    FC_OK)
			goto out;
		if (loc == NULL)
			break;
		url_for_msg(cur, m1, sizeof(m1));
		url_for_msg(loc, m2, sizeof(m2));
		if (!same_origin(url, loc)) {
			st = fc_err_set(err, FC_EUPSTREAM, "redirect from %s to another origin %s refused",
					m1, m2);
			goto out;
		}
		if (hops >= OIDC_MAX_REDIRECTS) {
			st = fc_err_set(err, FC_EUPSTREAM, "GET %s: more than %d redirects", m1,
					OIDC_MAX_REDIRECTS);
			goto out;
		}
		free(cur);
		cur = loc;
		loc = NULL;
	}
	resp->status = status;
	resp->max_age_s = x.no_store ? 0 : (int)x.max_age;
	resp->body = fc_buf_steal(&x.body, &resp->len);
	st = FC_OK;
out:
	fc_buf_free(&x.body);
	fc_buf_free(&ca);
	free(cur);
	free(loc);
	return st;
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
