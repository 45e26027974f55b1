/*
 * gourl.c: a port of the parts of Go's net/url (and path.Clean / path.Join)
 * that Fulcio's principals go through: url.Parse (not ParseRequestURI),
 * URL.String, URL.Hostname and URL.JoinPath. Fulcio passes every URI SAN
 * (and the URLs it builds with JoinPath) through net/url, so this follows
 * Go's net/url/url.go closely enough to give the same bytes: the same
 * escaping per component (shouldEscape), the same RawPath / RawFragment
 * rules and the same errors.
 */
#include <stdlib.h>
#include <string.h>

#include "oidc_int.h"

enum url_mode { URL_PATH, URL_HOST, URL_USERPASS, URL_FRAGMENT };

/*
 * Free the strings of u and zero it; u itself is the caller's (usually on
 * the stack). Safe on a zeroed struct and after a failed oidc_url_parse().
 */
void oidc_url_free(struct oidc_url *u)
{
	free(u->scheme);
	free(u->opaque);
	free(u->username);
	free(u->password);
	free(u->host);
	free(u->path);
	free(u->raw_path);
	free(u->raw_query);
	free(u->fragment);
	free(u->raw_fragment);
	memset(u, 0, sizeof(*u));
}

/*
 * Set every field of u to the empty URL (all strings "", flags false), as
 * Go's zero url.URL. Overwrites u without freeing: call it on a fresh struct
 * or after oidc_url_free(). Release with oidc_url_free().
 */
void oidc_url_init(struct oidc_url *u)
{
	memset(u, 0, sizeof(*u));
	u->scheme = fc_xstrdup("");
	u->opaque = fc_xstrdup("");
	u->username = fc_xstrdup("");
	u->password = fc_xstrdup("");
	u->host = fc_xstrdup("");
	u->path = fc_xstrdup("");
	u->raw_path = fc_xstrdup("");
	u->raw_query = fc_xstrdup("");
	u->fragment = fc_xstrdup("");
	u->raw_fragment = fc_xstrdup("");
}

static void replace(char **dst, char *src)
{
	free(*dst);
	*dst = src;
}

/* net/url shouldEscape */
static bool url_should_escape(unsigned char c, enum url_mode m)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return false;
	if (m == URL_HOST && c != 0 && strchr("!$&'()*+,;=:[]<>\"", c))
		return false;
	switch (c) {
	case '-':
	case '_':
	case '.':
	case '~': return false;
	case '$':
	case '&':
	case '+':
	case ',':
	case '/':
	case ':':
	case ';':
	case '=':
	case '?':
	case '@':
		switch (m) {
		case URL_PATH: return c == '?';
		case URL_USERPASS: return c == '@' || c == '/' || c == '?' || c == ':';
		case URL_FRAGMENT: return false;
		case URL_HOST: break;
		}
		break;
	default: break;
	}
	if (m == URL_FRAGMENT && (c == '!' || c == '(' || c == ')' || c == '*'))
		return false;
	return true;
}

static const char url_hex[] = "0123456789ABCDEF";

/* Bytes that url_escape(s, m) adds to s: 2 per escaped byte. 0 means s is
 * already its own escaping, the common case, which then costs no copy. */
static size_t url_escape_extra(const char *s, enum url_mode m)
{
	size_t extra = 0;

	for (; *s; s++)
		if (url_should_escape((unsigned char)*s, m))
			extra += 2;
	return extra;
}

/* net/url escape, appended to b: runs of bytes that need no escaping are
 * copied whole. */
static void url_escape_append(struct fc_buf *b, const char *s, enum url_mode m)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (url_should_escape(c, m)) {
			char e[3] = {'%', url_hex[c >> 4], url_hex[c & 15]};
			fc_buf_append(b, run, (size_t)(s - run));
			fc_buf_append(b, e, 3);
			run = s + 1;
		}
	}
	fc_buf_append(b, run, (size_t)(s - run));
}

/* net/url escape; the caller frees. */
static char *url_escape(const char *s, enum url_mode m)
{
	size_t n = strlen(s), extra = url_escape_extra(s, m), o = 0;
	char *out = fc_xmalloc(n + extra + 1);

	if (extra == 0) {
		memcpy(out, s, n + 1);
		return out;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (url_should_escape(c, m)) {
			out[o++] = '%';
			out[o++] = url_hex[c >> 4];
			out[o++] = url_hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* strcmp(url_escape(dec, m), enc) == 0, without building the escaping. */
static bool url_escape_equals(const char *dec, const char *enc, enum url_mode m)
{
	for (; *dec; dec++) {
		unsigned char c = (unsigned char)*dec;
		if (url_should_escape(c, m)) {
			if (enc[0] != '%' || enc[1] != url_hex[c >> 4] || enc[2] != url_hex[c & 15])
				return false;
			enc += 3;
		} else if (*enc++ != (char)c) {
			return false;
		}
	}
	return *enc == '\0';
}

/* net/url unescape of s[0..n); false on a malformed escape or, for hosts,
 * a character a host may not hold. */
static bool url_unescape(const char *s, size_t n, enum url_mode m, char **out)
{
	char *res;
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] == '%') {
			if (i + 2 >= n || fc_hex_digit((unsigned char)s[i + 1]) < 0 ||
			    fc_hex_digit((unsigned char)s[i + 2]) < 0)
				return false;
			if (m == URL_HOST && fc_hex_digit((unsigned char)s[i + 1]) < 8 &&
			    strncmp(s + i, "%25", 3) != 0)
				return false;
			i += 3;
		} else {
			if (m == URL_HOST && (unsigned char)s[i] < 0x80 &&
			    url_should_escape((unsigned char)s[i], m))
				return false;
			i++;
		}
	}
	/* The result is never longer than s: one allocation, no growth. */
	res = fc_xmalloc(n + 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			c = (unsigned char)(fc_hex_digit((unsigned char)s[i + 1]) << 4 |
					    fc_hex_digit((unsigned char)s[i + 2]));
			i += 3;
		} else {
			i++;
		}
		res[o++] = (char)c;
	}
	res[o] = '\0';
	*out = res;
	return true;
}

/* net/url validEncoded */
static bool url_valid_encoded(const char *s, enum url_mode m)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (strchr("!$&'()*+,;=:@[]%", c) != NULL)
			continue;
		if (url_should_escape(c, m))
			return false;
	}
	return true;
}

/*
 * URL.setPath without touching a URL: the decoded path in *path and the raw
 * path in *raw, NULL when the default escaping of *path gives p back (Go's
 * RawPath ""); the caller frees both. False (nothing set) if p holds a
 * malformed escape.
 */
static bool url_path_from(const char *p, char **path, char **raw)
{
	if (!url_unescape(p, strlen(p), URL_PATH, path))
		return false;
	*raw = url_escape_equals(*path, p, URL_PATH) ? NULL : fc_xstrdup(p);
	return true;
}

/* URL.setPath: false (u unchanged) if p holds a malformed escape. */
static bool url_set_path(struct oidc_url *u, const char *p)
{
	char *path = NULL, *raw = NULL;

	if (!url_path_from(p, &path, &raw))
		return false;
	replace(&u->path, path);
	replace(&u->raw_path, raw != NULL ? raw : fc_xstrdup(""));
	return true;
}

/* The first half of EscapedPath / EscapedFragment: true if raw is set, a
 * valid encoding and decodes to dec. */
static bool url_raw_is_valid(const char *raw, const char *dec, enum url_mode m)
{
	bool same = false;
	char *d = NULL;

	if (*raw && url_valid_encoded(raw, m) && url_unescape(raw, strlen(raw), m, &d)) {
		same = strcmp(d, dec) == 0;
		free(d);
	}
	return same;
}

/*
 * URL.EscapedPath, without a copy when it can: returns u->raw_path or
 * u->path when one of them is the answer, else a new string also stored in
 * *owned (the caller frees *owned, which is NULL otherwise).
 */
static const char *url_escaped_path_ref(const struct oidc_url *u, char **owned)
{
	*owned = NULL;
	if (url_raw_is_valid(u->raw_path, u->path, URL_PATH))
		return u->raw_path;
	if (strcmp(u->path, "*") == 0 || url_escape_extra(u->path, URL_PATH) == 0)
		return u->path;
	return *owned = url_escape(u->path, URL_PATH);
}

/* URL.EscapedFragment, appended to b. */
static void url_append_escaped_fragment(struct fc_buf *b, const struct oidc_url *u)
{
	if (url_raw_is_valid(u->raw_fragment, u->fragment, URL_FRAGMENT))
		fc_buf_append_str(b, u->raw_fragment);
	else
		url_escape_append(b, u->fragment, URL_FRAGMENT);
}

/* ":" followed by digits only, or empty */
static bool valid_optional_port(const char *p)
{
	if (*p == '\0')
		return true;
	if (*p != ':')
		return false;
	for (p++; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
	}
	return true;
}

static bool url_parse_host(const char *h, size_t n, char **out, const char **why)
{
	char *tmp = fc_xstrndup(h, n);
	char *colon;
	bool ok;

	if (tmp[0] == '[') {
		char *rb = strrchr(tmp, ']');
		if (rb == NULL) {
			*why = "missing ']' in host";
			free(tmp);
			return false;
		}
		if (!valid_optional_port(rb + 1)) {
			*why = "invalid port after host";
			free(tmp);
			return false;
		}
	} else if ((colon = strrchr(tmp, ':')) != NULL && !valid_optional_port(colon)) {
		*why = "invalid port after host";
		free(tmp);
		return false;
	}
	ok = url_unescape(tmp, n, URL_HOST, out);
	if (!ok)
		*why = "invalid character or escape in host";
	free(tmp);
	return ok;
}

static bool valid_userinfo(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (strchr("-._:~!$&'()*+,;=%@", c) == NULL || c == 0)
			return false;
	}
	return true;
}

static bool url_parse_authority(struct oidc_url *u, const char *a, size_t n, const char **why)
{
	const char *at = NULL;
	char *host = NULL;

	for (size_t i = 0; i < n; i++) {
		if (a[i] == '@')
			at = a + i;
	}
	if (!url_parse_host(at ? at + 1 : a, at ? n - (size_t)(at - a) - 1 : n, &host, why))
		return false;
	replace(&u->host, host);
	if (at == NULL)
		return true;
	size_t un = (size_t)(at - a);
	if (!valid_userinfo(a, un)) {
		*why = "invalid userinfo";
		return false;
	}
	const char *colon = memchr(a, ':', un);
	char *user = NULL, *pass = NULL;
	if (!url_unescape(a, colon ? (size_t)(colon - a) : un, URL_USERPASS, &user)) {
		*why = "invalid escape in userinfo";
		return false;
	}
	replace(&u->username, user);
	u->has_user = true;
	if (colon) {
		if (!url_unescape(colon + 1, un - (size_t)(colon - a) - 1, URL_USERPASS, &pass)) {
			*why = "invalid escape in userinfo";
			return false;
		}
		replace(&u->password, pass);
		u->has_password = true;
	}
	return true;
}

/*
 * Go's url.Parse (net/url/url.go Parse, not ParseRequestURI): initialises u
 * (any previous contents are not freed) and fills it from raw. Returns true
 * on success; on failure false with a static reason in *why. Either way the
 * caller frees u with oidc_url_free().
 */
bool oidc_url_parse(const char *raw, struct oidc_url *u, const char **why)
{
	char *s = NULL, *rest, *q, *frag;
	bool ok = false;

	oidc_url_init(u);
	s = fc_xstrdup(raw);
	frag = strchr(s, '#');
	/* Go checks for control bytes before the fragment only */
	for (const char *c = s; *c && c != frag; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*why = "invalid control character in URL";
			goto out;
		}
	}
	if (frag != NULL) {
		*frag++ = '\0';
		char *f = NULL;
		if (!url_unescape(frag, strlen(frag), URL_FRAGMENT, &f)) {
			*why = "invalid escape in fragment";
			goto out;
		}
		replace(&u->raw_fragment,
			fc_xstrdup(url_escape_equals(f, frag, URL_FRAGMENT) ? "" : frag));
		replace(&u->fragment, f);
	}
	if (strcmp(s, "*") == 0) {
		replace(&u->path, fc_xstrdup("*"));
		ok = true;
		goto out;
	}
	/* getScheme */
	rest = s;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
			if (i == 0)
				break;
			continue;
		}
		if (c == ':') {
			if (i == 0) {
				*why = "missing protocol scheme";
				goto out;
			}
			s[i] = '\0';
			for (char *l = s; *l; l++) {
				if (*l >= 'A' && *l <= 'Z')
					*l = (char)(*l - 'A' + 'a');
			}
			replace(&u->scheme, fc_xstrdup(s));
			rest = s + i + 1;
		}
		break;
	}
	q = strchr(rest, '?');
	if (q != NULL && q[1] == '\0') {
		u->force_query = true;
		*q = '\0';
	} else if (q != NULL) {
		*q = '\0';
		replace(&u->raw_query, fc_xstrdup(q + 1));
	}
	if (rest[0] != '/') {
		if (*u->scheme) {
			replace(&u->opaque, fc_xstrdup(rest));
			ok = true;
			goto out;
		}
		size_t seg = strcspn(rest, "/");
		if (memchr(rest, ':', seg) != NULL) {
			*why = "first path segment in URL cannot contain colon";
			goto out;
		}
	}
	if ((*u->scheme || strncmp(rest, "///", 3) != 0) && strncmp(rest, "//", 2) == 0) {
		char *auth = rest + 2;
		size_t an = strcspn(auth, "/");
		if (!url_parse_authority(u, auth, an, why))
			goto out;
		rest = auth + an;
	} else if (*u->scheme && rest[0] == '/') {
		u->omit_host = true;
	}
	if (!url_set_path(u, rest)) {
		*why = "invalid escape in path";
		goto out;
	}
	ok = true;
out:
	free(s);
	return ok;
}

/*
 * Go's URL.String() (net/url/url.go): the URL reassembled with each part
 * escaped as net/url does, keeping RawPath / RawFragment when they are a
 * valid encoding of Path / Fragment. Never NULL; the caller frees.
 */
char *oidc_url_string(const struct oidc_url *u)
{
	struct fc_buf b;
	const char *path;
	char *owned;

	fc_buf_init(&b, 0);
	if (*u->scheme) {
		fc_buf_append_str(&b, u->scheme);
		fc_buf_append(&b, ":", 1);
	}
	if (*u->opaque) {
		fc_buf_append_str(&b, u->opaque);
	} else {
		if (*u->scheme || *u->host || u->has_user) {
			if (!(u->omit_host && !*u->host && !u->has_user)) {
				if (*u->host || *u->path || u->has_user)
					fc_buf_append(&b, "//", 2);
				if (u->has_user) {
					url_escape_append(&b, u->username, URL_USERPASS);
					if (u->has_password) {
						fc_buf_append(&b, ":", 1);
						url_escape_append(&b, u->password, URL_USERPASS);
					}
					fc_buf_append(&b, "@", 1);
				}
				if (*u->host)
					url_escape_append(&b, u->host, URL_HOST);
			}
		}
		path = url_escaped_path_ref(u, &owned);
		if (*path && path[0] != '/' && *u->host)
			fc_buf_append(&b, "/", 1);
		if (b.len == 0) {
			size_t seg = strcspn(path, "/");
			if (memchr(path, ':', seg) != NULL)
				fc_buf_append(&b, "./", 2);
		}
		fc_buf_append_str(&b, path);
		free(owned);
	}
	if (u->force_query || *u->raw_query) {
		fc_buf_append(&b, "?", 1);
		fc_buf_append_str(&b, u->raw_query);
	}
	if (*u->fragment) {
		fc_buf_append(&b, "#", 1);
		url_append_escaped_fragment(&b, u);
	}
	return fc_buf_steal(&b, NULL);
}

/*
 * Go's URL.Hostname() (net/url/url.go): u->host without a valid ":port"
 * and without IPv6 brackets. Never NULL; the caller frees.
 */
char *oidc_url_hostname(const struct oidc_url *u)
{
	const char *h = u->host;
	const char *colon = strrchr(h, ':');
	size_t n = strlen(h);

	if (colon != NULL && valid_optional_port(colon))
		n = (size_t)(colon - h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
		return fc_xstrndup(h + 1, n - 2);
	return fc_xstrndup(h, n);
}

/* path.Clean */
static char *path_clean(const char *p)
{
	size_t n = strlen(p), r = 0, w = 0, dotdot = 0;
	bool rooted;
	char *out;

	if (n == 0)
		return fc_xstrdup(".");
	rooted = p[0] == '/';
	out = fc_xmalloc(2 * n + 3);
	if (rooted) {
		out[w++] = '/';
		r = 1;
		dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && p[r] != '/'; r++)
				out[w++] = p[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

/*
 * URL.JoinPath (net/url/url.go) on base, which is left unchanged: path.Join
 * of base's EscapedPath and elems (taken as already escaped), then setPath.
 * Returns true with the new Path in *path and RawPath in *raw (NULL for
 * ""), both for the caller to free; false if setPath refuses the joined
 * path (a malformed escape), which Go ignores, keeping base's path.
 */
static bool url_join_path(const struct oidc_url *base, const char **elems, size_t n, char **path,
			  char **raw)
{
	char stack[512], *heap = NULL, *joined, *clean, *first_owned, *p;
	const char *first = url_escaped_path_ref(base, &first_owned);
	/* JoinPath roots a relative path for path.Join, and drops that '/'
	 * again afterwards, so that no ".." climbs out of it. */
	bool rooted = first[0] != '/';
	size_t len = 1 + strlen(first), o = 0, pl;
	/* Does the last element (the rooted first one if there are no others)
	 * end in '/'? */
	const char *last = n > 0 ? elems[n - 1] : first;
	bool last_slash = *last != '\0' ? last[strlen(last) - 1] == '/' : n == 0;
	bool ok;

	for (size_t i = 0; i < n; i++)
		len += 1 + strlen(elems[i]);
	joined = len < sizeof(stack) ? stack : (heap = fc_xmalloc(len + 1));
	/* path.Join: the first element is never empty here (it is rooted), so
	 * every later one, empty or not, follows a '/'; Clean tidies up. */
	if (rooted)
		joined[o++] = '/';
	memcpy(joined + o, first, strlen(first));
	o += strlen(first);
	for (size_t i = 0; i < n; i++) {
		size_t el = strlen(elems[i]);

		joined[o++] = '/';
		memcpy(joined + o, elems[i], el);
		o += el;
	}
	joined[o] = '\0';
	clean = path_clean(joined);
	p = clean + (rooted && clean[0] == '/' ? 1 : 0);
	/* path.Join removes trailing slashes; JoinPath keeps one. path_clean's
	 * buffer (2n + 3 bytes) has room for it: Clean never lengthens a
	 * non-empty path. */
	pl = strlen(p);
	if (last_slash && (pl == 0 || p[pl - 1] != '/')) {
		p[pl] = '/';
		p[pl + 1] = '\0';
	}
	ok = url_path_from(p, path, raw);
	free(clean);
	free(heap);
	free(first_owned);
	return ok;
}

/*
 * base.JoinPath(elems...).String() on a URL parsed once with
 * oidc_url_parse() (a constant base need not be parsed on every call);
 * base is not changed and may be shared between threads. The elements are
 * taken as already escaped (net/url/url.go URL.JoinPath). Returns the new
 * string; the caller frees.
 */
char *oidc_url_join_parsed(const struct oidc_url *base, const char **elems, size_t n)
{
	static char empty[1];
	struct oidc_url u = *base; /* base's strings, borrowed */
	char *path = NULL, *raw = NULL, *s;

	if (url_join_path(base, elems, n, &path, &raw)) {
		u.path = path;
		u.raw_path = raw != NULL ? raw : empty;
	}
	s = oidc_url_string(&u);
	free(path);
	free(raw);
	return s;
}

/*
 * url.Parse(base).JoinPath(elems...).String(), as Fulcio builds its CI URLs
 * (net/url/url.go URL.JoinPath; the elements are taken as already escaped).
 * Returns the new string (the caller frees), or NULL with a static reason in
 * *why if base does not parse.
 */
char *oidc_url_join(const char *base, const char **elems, size_t n, const char **why)
{
	struct oidc_url u;
	char *s = NULL;

	if (oidc_url_parse(base, &u, why))
		s = oidc_url_join_parsed(&u, elems, n);
	oidc_url_free(&u);
	return s;
}

/*
 * url.Parse(s).String(): s as Go's x509 encoder receives a URI SAN from
 * Fulcio (net/url/url.go). Returns the new string (the caller frees), or
 * NULL with a static reason in *why if s does not parse.
 */
char *oidc_url_normalize(const char *s, const char **why)
{
	struct oidc_url u;
	char *out = NULL;

	if (oidc_url_parse(s, &u, why))
		out = oidc_url_string(&u);
	oidc_url_free(&u);
	return out;
}
