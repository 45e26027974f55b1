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
	case '~':
		return false;
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
		case URL_PATH:
			return c == '?';
		case URL_USERPASS:
			return c == '@' || c == '/' || c == '?' || c == ':';
		case URL_FRAGMENT:
			return false;
		case URL_HOST:
			break;
		}
		break;
	default:
		break;
	}
	if (m == URL_FRAGMENT && (c == '!' || c == '(' || c == ')' || c == '*'))
		return false;
	return true;
}

static char *url_escape(const char *s, enum url_mode m)
{
	static const char hex[] = "0123456789ABCDEF";
	struct fc_buf b;

	fc_buf_init(&b, 0);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (url_should_escape(c, m)) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			fc_buf_append(&b, e, 3);
		} else {
			fc_buf_append(&b, &c, 1);
		}
	}
	return fc_buf_steal(&b, NULL);
}

static int unhex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* net/url unescape of s[0..n); false on a malformed escape or, for hosts,
 * a character a host may not hold. */
static bool url_unescape(const char *s, size_t n, enum url_mode m, char **out)
{
	struct fc_buf b;

	for (size_t i = 0; i < n;) {
		if (s[i] == '%') {
			if (i + 2 >= n || unhex((unsigned char)s[i + 1]) < 0 ||
			    unhex((unsigned char)s[i + 2]) < 0)
				return false;
			if (m == URL_HOST && unhex((unsigned char)s[i + 1]) < 8 &&
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
	fc_buf_init(&b, 0);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			c = (unsigned char)(unhex((unsigned char)s[i + 1]) << 4 |
					    unhex((unsigned char)s[i + 2]));
			i += 3;
		} else {
			i++;
		}
		fc_buf_append(&b, &c, 1);
	}
	*out = fc_buf_steal(&b, NULL);
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

/* URL.setPath: false (u unchanged) if p holds a malformed escape. */
static bool url_set_path(struct oidc_url *u, const char *p)
{
	char *path = NULL, *escaped;

	if (!url_unescape(p, strlen(p), URL_PATH, &path))
		return false;
	escaped = url_escape(path, URL_PATH);
	replace(&u->path, path);
	replace(&u->raw_path, fc_xstrdup(strcmp(p, escaped) == 0 ? "" : p));
	free(escaped);
	return true;
}

/* The first half of EscapedPath / EscapedFragment: a copy of raw if it is
 * set, validly encoded and decodes to dec; else NULL. */
static char *url_raw_if_valid(const char *raw, const char *dec, enum url_mode m)
{
	if (*raw && url_valid_encoded(raw, m)) {
		char *d = NULL;
		if (url_unescape(raw, strlen(raw), m, &d)) {
			bool same = strcmp(d, dec) == 0;
			free(d);
			if (same)
				return fc_xstrdup(raw);
		}
	}
	return NULL;
}

/* URL.EscapedPath */
static char *url_escaped_path(const struct oidc_url *u)
{
	char *raw = url_raw_if_valid(u->raw_path, u->path, URL_PATH);

	if (raw != NULL)
		return raw;
	if (strcmp(u->path, "*") == 0)
		return fc_xstrdup("*");
	return url_escape(u->path, URL_PATH);
}

/* URL.EscapedFragment */
static char *url_escaped_fragment(const struct oidc_url *u)
{
	char *raw = url_raw_if_valid(u->raw_fragment, u->fragment, URL_FRAGMENT);

	return raw != NULL ? raw : url_escape(u->fragment, URL_FRAGMENT);
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
		char *e = url_escape(f, URL_FRAGMENT);
		replace(&u->fragment, f);
		replace(&u->raw_fragment, fc_xstrdup(strcmp(frag, e) == 0 ? "" : frag));
		free(e);
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
	char *path;

	fc_buf_init(&b, 0);
	if (*u->scheme) {
		fc_buf_append_str(&b, u->scheme);
		fc_buf_append_str(&b, ":");
	}
	if (*u->opaque) {
		fc_buf_append_str(&b, u->opaque);
	} else {
		if (*u->scheme || *u->host || u->has_user) {
			if (!(u->omit_host && !*u->host && !u->has_user)) {
				if (*u->host || *u->path || u->has_user)
					fc_buf_append_str(&b, "//");
				if (u->has_user) {
					char *e = url_escape(u->username, URL_USERPASS);
					fc_buf_append_str(&b, e);
					free(e);
					if (u->has_password) {
						e = url_escape(u->password, URL_USERPASS);
						fc_buf_append_str(&b, ":");
						fc_buf_append_str(&b, e);
						free(e);
					}
					fc_buf_append_str(&b, "@");
				}
				if (*u->host) {
					char *e = url_escape(u->host, URL_HOST);
					fc_buf_append_str(&b, e);
					free(e);
				}
			}
		}
		path = url_escaped_path(u);
		if (*path && path[0] != '/' && *u->host)
			fc_buf_append_str(&b, "/");
		if (b.len == 0) {
			size_t seg = strcspn(path, "/");
			if (memchr(path, ':', seg) != NULL)
				fc_buf_append_str(&b, "./");
		}
		fc_buf_append_str(&b, path);
		free(path);
	}
	if (u->force_query || *u->raw_query) {
		fc_buf_append_str(&b, "?");
		fc_buf_append_str(&b, u->raw_query);
	}
	if (*u->fragment) {
		char *f = url_escaped_fragment(u);
		fc_buf_append_str(&b, "#");
		fc_buf_append_str(&b, f);
		free(f);
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

/* path.Join */
static char *path_join(const char **elem, size_t n)
{
	struct fc_buf b;
	char *joined, *clean;

	fc_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		if (b.len > 0 || *elem[i]) {
			if (b.len > 0)
				fc_buf_append_str(&b, "/");
			fc_buf_append_str(&b, elem[i]);
		}
	}
	if (b.len == 0) {
		fc_buf_free(&b);
		return fc_xstrdup("");
	}
	joined = fc_buf_steal(&b, NULL);
	clean = path_clean(joined);
	free(joined);
	return clean;
}

/* URL.JoinPath, in place: the elements are taken as already escaped, and a
 * malformed escape leaves the path unchanged (Go ignores setPath's error). */
static void url_join_path(struct oidc_url *u, const char **elems, size_t n)
{
	const char **all = fc_xcalloc(n + 1, sizeof(*all));
	char *first = url_escaped_path(u), *p;
	char *rooted = NULL;

	if (first[0] != '/') {
		rooted = fc_xasprintf("/%s", first);
		all[0] = rooted;
	} else {
		all[0] = first;
	}
	for (size_t i = 0; i < n; i++)
		all[i + 1] = elems[i];
	p = path_join(all, n + 1);
	if (rooted != NULL) {
		char *rel = fc_xstrdup(p + (p[0] == '/' ? 1 : 0));
		free(p);
		p = rel;
	}
	const char *last = all[n];
	size_t ll = strlen(last), pl = strlen(p);
	if (ll > 0 && last[ll - 1] == '/' && (pl == 0 || p[pl - 1] != '/')) {
		char *q = fc_xasprintf("%s/", p);
		free(p);
		p = q;
	}
	(void)url_set_path(u, p);
	free(p);
	free(first);
	free(rooted);
	free(all);
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

	if (oidc_url_parse(base, &u, why)) {
		url_join_path(&u, elems, n);
		s = oidc_url_string(&u);
	}
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

