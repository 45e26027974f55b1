/*
 * Service URLs as the trust files carry them, and time stamps as
 * protobuf's JSON mapping writes them (RFC 3339, UTC, "Z").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trust_int.h"

/* Past "http://" or "https://", or NULL. */
static const char *after_scheme(const char *url)
{
	if (strncmp(url, "https://", 8) == 0)
		return url + 8;
	if (strncmp(url, "http://", 7) == 0)
		return url + 7;
	return NULL;
}

/*
 * The host name of an http(s) URL as Go's url.Hostname() gives it: no
 * port, no IPv6 brackets. sigstore-go takes a Rekor v2 log's checkpoint
 * origin from it. Caller frees; NULL for anything else.
 */
char *trust_url_host(const char *url)
{
	const char *h = after_scheme(url), *end;

	if (h == NULL)
		return NULL;
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL)
			return NULL;
		return end > h + 1 ? fc_xstrndup(h + 1, (size_t)(end - h - 1)) : NULL;
	}
	end = h + strcspn(h, ":/");
	return end > h ? fc_xstrndup(h, (size_t)(end - h)) : NULL;
}

/*
 * Check a service URL and drop trailing slashes (cosign and sigstore-js
 * append "/api/..." by concatenation, so "https://ca/" would give
 * "https://ca//api/..."). FC_ECONFIG naming what (e.g. "--ca url").
 */
enum fc_status trust_url_normalise(const char *url, const char *what, char **out,
				   struct fc_err *err)
{
	const char *h = url ? after_scheme(url) : NULL;
	char *host = url ? trust_url_host(url) : NULL;
	size_t n;

	*out = NULL;
	if (h == NULL || host == NULL) {
		free(host);
		return fc_err_set(err, FC_ECONFIG,
				  "%s \"%s\": want http://HOST[:PORT][/PATH] or "
				  "https://...",
				  what, url ? url : "");
	}
	free(host);
	n = strlen(url);
	if (n > TRUST_MAX_URL)
		return fc_err_set(err, FC_ECONFIG, "%s: longer than %d bytes", what, TRUST_MAX_URL);
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#' ||
		    (*p == '@' && p < h + strcspn(h, "/")))
			return fc_err_set(err, FC_ECONFIG,
					  "%s \"%s\": no spaces, query, fragment or "
					  "user in a service URL",
					  what, url);
	}
	while (n > (size_t)(h - url) && url[n - 1] == '/')
		n--;
	*out = fc_xstrndup(url, n);
	return FC_OK;
}

bool trust_url_has_path(const char *url)
{
	const char *h = after_scheme(url);
	const char *slash = h ? strchr(h, '/') : NULL;

	return slash != NULL && slash[1] != '\0';
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); "t"
 * and "z" accepted too. Seconds since the epoch in *out (fraction dropped).
 */
bool trust_parse_time(const char *s, int64_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t t;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	s += 19;
	if (*s == '.') {
		if (!isdigit((unsigned char)s[1]))
			return false;
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		if (*s == '-')
			oh = -oh, om = -om;
		s += 6;
	} else {
		return false;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	*out = t - (int64_t)oh * 3600 - (int64_t)om * 60;
	return true;
}

void trust_format_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "1970-01-01T00:00:00Z");
}
