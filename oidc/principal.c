/*
 * principal.c: verified token claims to exactly what Fulcio puts in the
 * certificate: the SAN, the Sigstore extensions (1.3.6.1.4.1.57264.1.x, in
 * Fulcio's order and encoding) and the string the client signs as proof of
 * possession (Fulcio's principal Name()).
 *
 * One builder per identity type, each following Fulcio's
 * pkg/identity/<type>/principal.go; pkg/identity/ciprovider/principal.go for
 * the templated CI providers; pkg/certificate/extensions.go for the order of
 * the extensions. Signature, iss, aud and exp were checked by verify.c.
 *
 * Fulcio passes every URI SAN (and the URLs it builds with JoinPath) through
 * Go's net/url, so the URL helpers below reproduce net/url's parsing,
 * escaping and path joining closely enough to give the same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc_int.h"

/* --- the Sigstore extensions, in pkg/certificate Render() order -------------- */

enum ext_field {
	EXT_ISSUER = 0, /* 1.1 raw, and 1.8 DER after the legacy GitHub ones */
	EXT_GH_TRIGGER,
	EXT_GH_SHA,
	EXT_GH_NAME,
	EXT_GH_REPOSITORY,
	EXT_GH_REF,
	EXT_BUILD_SIGNER_URI,
	EXT_BUILD_SIGNER_DIGEST,
	EXT_RUNNER_ENVIRONMENT,
	EXT_SOURCE_REPOSITORY_URI,
	EXT_SOURCE_REPOSITORY_DIGEST,
	EXT_SOURCE_REPOSITORY_REF,
	EXT_SOURCE_REPOSITORY_IDENTIFIER,
	EXT_SOURCE_REPOSITORY_OWNER_URI,
	EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER,
	EXT_BUILD_CONFIG_URI,
	EXT_BUILD_CONFIG_DIGEST,
	EXT_BUILD_TRIGGER,
	EXT_RUN_INVOCATION_URI,
	EXT_SOURCE_REPOSITORY_VISIBILITY,
	EXT_DEPLOYMENT_ENVIRONMENT,
	EXT_SUBJECT,
	EXT_N
};

#define OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8"

/* Go field name of certificate.Extensions (the ExtensionTemplates key) and
 * OID. Fields before EXT_BUILD_SIGNER_URI are raw, the others DER. */
static const struct {
	const char *field;
	const char *oid;
} ext_fields[EXT_N] = {
	[EXT_ISSUER] = {"Issuer", "1.3.6.1.4.1.57264.1.1"},
	[EXT_GH_TRIGGER] = {"GithubWorkflowTrigger", "1.3.6.1.4.1.57264.1.2"},
	[EXT_GH_SHA] = {"GithubWorkflowSHA", "1.3.6.1.4.1.57264.1.3"},
	[EXT_GH_NAME] = {"GithubWorkflowName", "1.3.6.1.4.1.57264.1.4"},
	[EXT_GH_REPOSITORY] = {"GithubWorkflowRepository", "1.3.6.1.4.1.57264.1.5"},
	[EXT_GH_REF] = {"GithubWorkflowRef", "1.3.6.1.4.1.57264.1.6"},
	[EXT_BUILD_SIGNER_URI] = {"BuildSignerURI", "1.3.6.1.4.1.57264.1.9"},
	[EXT_BUILD_SIGNER_DIGEST] = {"BuildSignerDigest", "1.3.6.1.4.1.57264.1.10"},
	[EXT_RUNNER_ENVIRONMENT] = {"RunnerEnvironment", "1.3.6.1.4.1.57264.1.11"},
	[EXT_SOURCE_REPOSITORY_URI] = {"SourceRepositoryURI", "1.3.6.1.4.1.57264.1.12"},
	[EXT_SOURCE_REPOSITORY_DIGEST] = {"SourceRepositoryDigest", "1.3.6.1.4.1.57264.1.13"},
	[EXT_SOURCE_REPOSITORY_REF] = {"SourceRepositoryRef", "1.3.6.1.4.1.57264.1.14"},
	[EXT_SOURCE_REPOSITORY_IDENTIFIER] = {"SourceRepositoryIdentifier",
					      "1.3.6.1.4.1.57264.1.15"},
	[EXT_SOURCE_REPOSITORY_OWNER_URI] = {"SourceRepositoryOwnerURI", "1.3.6.1.4.1.57264.1.16"},
	[EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER] = {"SourceRepositoryOwnerIdentifier",
						    "1.3.6.1.4.1.57264.1.17"},
	[EXT_BUILD_CONFIG_URI] = {"BuildConfigURI", "1.3.6.1.4.1.57264.1.18"},
	[EXT_BUILD_CONFIG_DIGEST] = {"BuildConfigDigest", "1.3.6.1.4.1.57264.1.19"},
	[EXT_BUILD_TRIGGER] = {"BuildTrigger", "1.3.6.1.4.1.57264.1.20"},
	[EXT_RUN_INVOCATION_URI] = {"RunInvocationURI", "1.3.6.1.4.1.57264.1.21"},
	[EXT_SOURCE_REPOSITORY_VISIBILITY] = {"SourceRepositoryVisibilityAtSigning",
					      "1.3.6.1.4.1.57264.1.22"},
	[EXT_DEPLOYMENT_ENVIRONMENT] = {"DeploymentEnvironment", "1.3.6.1.4.1.57264.1.23"},
	[EXT_SUBJECT] = {"Subject", "1.3.6.1.4.1.57264.1.24"},
};

/* What a builder produces; owned strings, NULL or "" meaning absent. */
struct principal {
	enum oidc_san_type san_type;
	char *san;
	char *pop;
	char *ext[EXT_N];
};

static void principal_clear(struct principal *p)
{
	free(p->san);
	free(p->pop);
	for (size_t i = 0; i < EXT_N; i++)
		free(p->ext[i]);
	memset(p, 0, sizeof(*p));
}

static void set_ext(struct principal *p, enum ext_field f, const char *v)
{
	free(p->ext[f]);
	p->ext[f] = v ? fc_xstrdup(v) : NULL;
}

static void set_ext_owned(struct principal *p, enum ext_field f, char *v)
{
	free(p->ext[f]);
	p->ext[f] = v;
}

static bool is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Render as certificate.Extensions.Render() does: 1.1, 1.2-1.6 raw, 1.8 and
 * later as DER UTF8String, empty values left out. */
static void render_extensions(struct principal *p, struct oidc_extension **out, size_t *n_out)
{
	struct oidc_extension *e = fc_xcalloc(EXT_N + 1, sizeof(*e));
	size_t n = 0;

	for (size_t f = 0; f < EXT_N; f++) {
		if (f == EXT_BUILD_SIGNER_URI) {
			e[n].oid = OID_ISSUER_V2;
			e[n].value = fc_xstrdup(p->ext[EXT_ISSUER]);
			e[n].encoding = OIDC_EXT_UTF8;
			n++;
		}
		if (is_empty(p->ext[f]))
			continue;
		e[n].oid = ext_fields[f].oid;
		e[n].value = fc_xstrdup(p->ext[f]);
		e[n].encoding = f < EXT_BUILD_SIGNER_URI ? OIDC_EXT_RAW : OIDC_EXT_UTF8;
		n++;
	}
	*out = e;
	*n_out = n;
}

/* --- claims ------------------------------------------------------------------ */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/*
 * A claim Fulcio decodes into a Go string field: absent or null reads as "",
 * any other non-string makes json.Unmarshal (and so the request) fail.
 */
static enum fc_status claim_str(const json_t *obj, const char *name, const char **out,
				struct fc_err *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = "";
	if (v == NULL || json_is_null(v))
		return FC_OK;
	if (!json_is_string(v))
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s, not a string", name,
				  json_type_name(v));
	*out = json_string_value(v);
	return FC_OK;
}

/* A claim Fulcio requires to be a non-empty string. */
static enum fc_status claim_required(const json_t *obj, const char *name, const char **out,
				     struct fc_err *err)
{
	enum fc_status st = claim_str(obj, name, out, err);

	if (st != FC_OK)
		return st;
	if (**out == '\0')
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s", name,
				  json_object_get(obj, name) ? "empty" : "missing");
	return FC_OK;
}

/*
 * email_verified as sigstore's oauthflow reads it: JSON true, or the strings
 * "true" / "True". Absent, false, "false" and any other string are "not
 * verified"; a number, array or object is refused outright.
 */
static enum fc_status email_verified(const json_t *claims, const char *email, struct fc_err *err)
{
	const json_t *v = json_object_get(claims, "email_verified");

	if (v == NULL || json_is_null(v))
		return fc_err_set(err, FC_EAUTH, "email_verified is missing for \"%s\"", email);
	if (json_is_true(v))
		return FC_OK;
	if (json_is_false(v))
		return fc_err_set(err, FC_EAUTH, "email_verified is false for \"%s\"", email);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
			return FC_OK;
		return fc_err_set(err, FC_EAUTH, "email_verified is \"%s\" for \"%s\"", s, email);
	}
	return fc_err_set(err, FC_EAUTH, "email_verified is %s, not a boolean, for \"%s\"",
			  json_type_name(v), email);
}

/* --- UTF-8 --------------------------------------------------------------------- */

/* Decode one rune as Go does: an invalid sequence is U+FFFD of width 1. */
static size_t utf8_rune(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0) {
		*cp = 0xFFFD;
		return 0;
	}
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (n < len) {
		*cp = 0xFFFD;
		return 1;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		c = c << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF)) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c;
	return len;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* --- email syntax: govalidator.IsEmail ----------------------------------------- */

/*
 * govalidator's Email pattern, written out as code. Classes: U is the Unicode
 * ranges U+00A0-U+D7FF, U+F900-U+FDCF, U+FDF0-U+FFEF. The local part is a
 * dot-atom or an RFC 5322 quoted string; the domain is
 * (L\.)+T\.? with L = A | A M* A and T = B | B N* B, where A is alnum or U,
 * M adds - . _ ~, B is a letter or U and N is alnum - _ ~ U. Since L may
 * contain dots, (L\.)+ is any string that starts and ends with an A and
 * continues with M; T follows the last dot.
 */
static bool email_u(uint32_t c)
{
	return (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
	       (c >= 0xFDF0 && c <= 0xFFEF);
}

static bool email_alpha(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool email_alnum(uint32_t c)
{
	return email_alpha(c) || (c >= '0' && c <= '9');
}

static bool email_atext(uint32_t c)
{
	return email_alnum(c) || (c < 0x80 && c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", (int)c)) ||
	       email_u(c);
}

static bool email_dot_atom(const unsigned char *s, size_t n)
{
	size_t i = 0, atom = 0;
	uint32_t c;

	while (i < n) {
		size_t w = utf8_rune(s + i, n - i, &c);
		if (c == '.') {
			if (atom == 0)
				return false;
			atom = 0;
		} else if (email_atext(c)) {
			atom++;
		} else {
			return false;
		}
		i += w;
	}
	return atom > 0;
}

static bool email_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static bool email_quoted(const unsigned char *s, size_t n)
{
	size_t i = 1;
	uint32_t c;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	n--; /* the closing quote */
	while (i < n) {
		if (email_wsp(s[i]) || s[i] == '\r') {
			/* FWS = ((WSP)* CRLF)? (WSP)+ */
			size_t j = i, k;
			while (j < n && email_wsp(s[j]))
				j++;
			if (j + 1 < n && s[j] == '\r' && s[j + 1] == '\n') {
				k = j + 2;
				j = k;
				while (j < n && email_wsp(s[j]))
					j++;
				if (j == k)
					return false;
			} else if (j == i) {
				return false;
			}
			i = j;
			continue;
		}
		size_t w = utf8_rune(s + i, n - i, &c);
		if (c == '\\') {
			i += w;
			if (i >= n)
				return false;
			w = utf8_rune(s + i, n - i, &c);
			if (!((c >= 0x01 && c <= 0x09) || c == 0x0b || c == 0x0c ||
			      (c >= 0x0d && c <= 0x7f) || email_u(c)))
				return false;
		} else if (!((c >= 0x01 && c <= 0x08) || c == 0x0b || c == 0x0c ||
			     (c >= 0x0e && c <= 0x1f) || c == 0x7f || c == 0x21 ||
			     (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || email_u(c))) {
			return false;
		}
		i += w;
	}
	return true;
}

/* Runes of s[0..n) as a sequence check: first in `first`, last in `last`,
 * the rest in `mid`; a single rune must be in `first` (and `last`). */
static bool email_label(const unsigned char *s, size_t n, bool (*first)(uint32_t),
			bool (*mid)(uint32_t))
{
	size_t i = 0, count = 0;
	uint32_t c, prev = 0;

	if (n == 0)
		return false;
	while (i < n) {
		size_t w = utf8_rune(s + i, n - i, &c);
		if (count == 0 ? !first(c) : !mid(c) && !first(c))
			return false;
		prev = c;
		count++;
		i += w;
	}
	return first(prev);
}

static bool email_a(uint32_t c)
{
	return email_alnum(c) || email_u(c);
}

static bool email_m(uint32_t c)
{
	return email_a(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool email_b(uint32_t c)
{
	return email_alpha(c) || email_u(c);
}

static bool email_n(uint32_t c)
{
	return email_a(c) || c == '-' || c == '_' || c == '~';
}

static bool go_is_email(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);
	const unsigned char *at = NULL, *dot = NULL;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '@')
			at = s + i;
	}
	if (at == NULL)
		return false;
	size_t local_n = (size_t)(at - s);
	if (!email_dot_atom(s, local_n) && !email_quoted(s, local_n))
		return false;
	const unsigned char *d = at + 1;
	size_t dn = n - local_n - 1;
	if (dn > 0 && d[dn - 1] == '.')
		dn--;
	for (size_t i = 0; i < dn; i++) {
		if (d[i] == '.')
			dot = d + i;
	}
	if (dot == NULL)
		return false;
	return email_label(d, (size_t)(dot - d), email_a, email_m) &&
	       email_label(dot + 1, dn - (size_t)(dot - d) - 1, email_b, email_n);
}

/* --- Go net/url ------------------------------------------------------------------ */

enum url_mode { URL_PATH, URL_HOST, URL_USERPASS, URL_FRAGMENT };

struct gourl {
	char *scheme;      /* lower case, "" if none */
	char *opaque;      /* "" unless the URL is opaque (scheme:rootless) */
	bool has_user, has_password;
	char *username, *password;
	char *host;
	char *path, *raw_path; /* raw_path "" when the default escaping fits */
	char *raw_query;
	bool force_query, omit_host;
	char *fragment, *raw_fragment;
};

static void url_free(struct gourl *u)
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

static void url_init(struct gourl *u)
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
static bool url_set_path(struct gourl *u, const char *p)
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

static char *url_escaped_path(const struct gourl *u)
{
	if (*u->raw_path && url_valid_encoded(u->raw_path, URL_PATH)) {
		char *p = NULL;
		if (url_unescape(u->raw_path, strlen(u->raw_path), URL_PATH, &p)) {
			bool same = strcmp(p, u->path) == 0;
			free(p);
			if (same)
				return fc_xstrdup(u->raw_path);
		}
	}
	if (strcmp(u->path, "*") == 0)
		return fc_xstrdup("*");
	return url_escape(u->path, URL_PATH);
}

static char *url_escaped_fragment(const struct gourl *u)
{
	if (*u->raw_fragment && url_valid_encoded(u->raw_fragment, URL_FRAGMENT)) {
		char *f = NULL;
		if (url_unescape(u->raw_fragment, strlen(u->raw_fragment), URL_FRAGMENT, &f)) {
			bool same = strcmp(f, u->fragment) == 0;
			free(f);
			if (same)
				return fc_xstrdup(u->raw_fragment);
		}
	}
	return url_escape(u->fragment, URL_FRAGMENT);
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

static bool url_parse_authority(struct gourl *u, const char *a, size_t n, const char **why)
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
 * net/url Parse (not ParseRequestURI). On failure returns false with the
 * reason in *why; u must then still be freed.
 */
static bool url_parse(const char *raw, struct gourl *u, const char **why)
{
	char *s = NULL, *rest, *q, *frag;
	bool ok = false;

	url_init(u);
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

/* URL.String() */
static char *url_string(const struct gourl *u)
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

/* URL.Hostname(): host without port and IPv6 brackets. */
static char *url_hostname(const struct gourl *u)
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
static void url_join_path(struct gourl *u, const char **elems, size_t n)
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

/* url.Parse(base).JoinPath(elems...).String(); NULL with *why if base does
 * not parse. */
static char *url_join(const char *base, const char **elems, size_t n, const char **why)
{
	struct gourl u;
	char *s = NULL;

	if (url_parse(base, &u, why)) {
		url_join_path(&u, elems, n);
		s = url_string(&u);
	}
	url_free(&u);
	return s;
}

/* url.Parse(s).String(); NULL with *why if s does not parse. */
static char *url_normalize(const char *s, const char **why)
{
	struct gourl u;
	char *out = NULL;

	if (url_parse(s, &u, why))
		out = url_string(&u);
	url_free(&u);
	return out;
}

/*
 * Every SAN goes through Go's x509 encoder, which wants IA5 strings for
 * rfc822Name and URI; Fulcio then fails the request.
 */
static enum fc_status check_ia5(const char *what, const char *v, struct fc_err *err)
{
	if (!is_ascii(v))
		return fc_err_set(err, FC_EINPUT, "%s \"%s\" cannot be encoded as an IA5String",
				  what, v);
	return FC_OK;
}

static enum fc_status set_uri_san(struct principal *p, const char *uri, struct fc_err *err)
{
	const char *why = NULL;
	char *s = url_normalize(uri, &why);

	if (s == NULL)
		return fc_err_set(err, FC_EINPUT, "SAN URI \"%s\" does not parse: %s", uri, why);
	p->san_type = OIDC_SAN_URI;
	replace(&p->san, s);
	return check_ia5("SAN URI", s, err);
}

/* --- Go number and %v formatting -------------------------------------------------- */

/* Shortest decimal digits that read back as d (d > 0): digits in dig,
 * decimal point position dp (value = 0.dig x 10^dp). */
static void float_shortest(double d, char dig[32], int *nd, int *dp)
{
	char buf[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d || prec == 17)
			break;
	}
	/* buf is d.ddddde[+-]xx */
	int n = 0;
	char *e = strchr(buf, 'e');
	for (char *c = buf; c < e; c++) {
		if (*c >= '0' && *c <= '9')
			dig[n++] = *c;
	}
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	*nd = n;
	*dp = atoi(e + 1) + 1;
}

/* strconv.FormatFloat(d, 'f', -1, 64) (shortest digits, fixed notation) or,
 * with g true, Go's %v of a float64 (strconv 'g' with the shortest digits:
 * exponent form, at least two exponent digits, when the decimal exponent is
 * below -4 or at least 6). */
static void go_format_float(struct fc_buf *b, double d, bool g)
{
	char dig[32], tmp[16];
	int nd, dp;

	if (signbit(d))
		fc_buf_append_str(b, "-");
	d = fabs(d);
	if (d == 0) {
		fc_buf_append_str(b, "0");
		return;
	}
	float_shortest(d, dig, &nd, &dp);
	if (g && (dp - 1 < -4 || dp - 1 >= 6)) {
		int x = dp - 1;
		fc_buf_append(b, dig, 1);
		if (nd > 1) {
			fc_buf_append_str(b, ".");
			fc_buf_append(b, dig + 1, (size_t)nd - 1);
		}
		snprintf(tmp, sizeof(tmp), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
		fc_buf_append_str(b, tmp);
		return;
	}
	if (dp > 0) {
		for (int i = 0; i < dp; i++)
			fc_buf_append(b, i < nd ? &dig[i] : "0", 1);
	} else {
		fc_buf_append_str(b, "0");
	}
	if (nd > dp) {
		fc_buf_append_str(b, ".");
		for (int i = dp; i < nd; i++)
			fc_buf_append(b, i < 0 ? "0" : &dig[i], 1);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's fmt %v of a value decoded by encoding/json into interface{}. */
static void go_fmt_v(struct fc_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fc_buf_append(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_TRUE:
		fc_buf_append_str(b, "true");
		break;
	case JSON_FALSE:
		fc_buf_append_str(b, "false");
		break;
	case JSON_NULL:
		fc_buf_append_str(b, "<nil>");
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		go_format_float(b, json_number_value(v), true);
		break;
	case JSON_ARRAY:
		fc_buf_append_str(b, "[");
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				fc_buf_append_str(b, " ");
			go_fmt_v(b, json_array_get(v, i));
		}
		fc_buf_append_str(b, "]");
		break;
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		const char **keys = fc_xcalloc(n + 1, sizeof(*keys));
		const char *k;
		json_t *val;
		json_object_foreach((json_t *)v, k, val) keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
		fc_buf_append_str(b, "map[");
		for (i = 0; i < n; i++) {
			if (i > 0)
				fc_buf_append_str(b, " ");
			fc_buf_append_str(b, keys[i]);
			fc_buf_append_str(b, ":");
			go_fmt_v(b, json_object_get(v, keys[i]));
		}
		fc_buf_append_str(b, "]");
		free(keys);
		break;
	}
	}
}

/*
 * A claim as the CI-provider templates see it (ciprovider mapValuesToString,
 * Fulcio HEAD): numbers are float64 in Go, printed without exponent (whole
 * numbers as integers, others with the shortest digits); strings as-is;
 * booleans true/false; null "<nil>"; arrays and objects as Go's %v prints
 * them ("[a b]", "map[k:v]" with sorted keys, nested numbers in %g form).
 */
static char *flatten_claim(const json_t *v)
{
	struct fc_buf b;

	fc_buf_init(&b, 0);
	if (json_is_number(v))
		go_format_float(&b, json_number_value(v), false);
	else
		go_fmt_v(&b, v);
	return fc_buf_steal(&b, NULL);
}

/* --- JSONPath ------------------------------------------------------------------------ */

/*
 * Evaluate a JSONPath of the form $.a.b.c (or .a.b.c) on claims; returns the
 * string value or NULL if absent or not a string.
 */
const char *oidc_claims_path(const json_t *claims, const char *path)
{
	const json_t *cur = claims;
	const char *p = path;

	if (claims == NULL || path == NULL)
		return NULL;
	if (*p == '$')
		p++;
	if (*p != '.')
		return NULL;
	while (*p == '.') {
		const char *seg = ++p;
		size_t n = strcspn(seg, ".");
		if (n == 0 || !json_is_object(cur))
			return NULL;
		char *key = fc_xstrndup(seg, n);
		cur = json_object_get(cur, key);
		free(key);
		if (cur == NULL)
			return NULL;
		p = seg + n;
	}
	if (*p != '\0')
		return NULL;
	return json_string_value(cur);
}

/* --- the identity types --------------------------------------------------------------- */

struct build_ctx {
	const struct cfg_identity *cfg;
	const struct cfg_issuer *iss;
	const json_t *claims;
	const char *issuer;  /* token iss */
	const char *subject; /* token sub, "" if absent */
};

/* pkg/identity/email */
static enum fc_status build_email(const struct build_ctx *c, struct principal *p,
				  struct fc_err *err)
{
	const char *email, *issuer = c->issuer;
	enum fc_status st;

	if ((st = claim_str(c->claims, "email", &email, err)) != FC_OK)
		return st;
	if (!c->iss->skip_email_verification &&
	    (st = email_verified(c->claims, email, err)) != FC_OK)
		return st;
	if (!go_is_email(email))
		return fc_err_set(err, FC_EAUTH, "email \"%s\" is not a valid email address",
				  email);
	if (!is_empty(c->iss->issuer_claim)) {
		issuer = oidc_claims_path(c->claims, c->iss->issuer_claim);
		if (issuer == NULL)
			return fc_err_set(err, FC_EAUTH,
					  "issuer claim %s is missing or not a string",
					  c->iss->issuer_claim);
	}
	p->san_type = OIDC_SAN_EMAIL;
	p->san = fc_xstrdup(email);
	p->pop = fc_xstrdup(email);
	set_ext(p, EXT_ISSUER, issuer);
	return check_ia5("email", email, err);
}

/* pkg/identity/username: SAN otherName "user!domain", PoP the bare name. */
static enum fc_status build_username(const struct build_ctx *c, struct principal *p,
				     struct fc_err *err)
{
	if (strchr(c->subject, '!') != NULL)
		return fc_err_set(err, FC_EAUTH, "username \"%s\" cannot contain ! character",
				  c->subject);
	if (go_is_email(c->subject))
		return fc_err_set(err, FC_EAUTH, "username \"%s\" cannot be an email address",
				  c->subject);
	if (is_empty(c->iss->subject_domain))
		return fc_err_set(err, FC_EINPUT, "issuer %s has no SubjectDomain", c->issuer);
	p->san_type = OIDC_SAN_USERNAME;
	p->san = fc_xasprintf("%s!%s", c->subject, c->iss->subject_domain);
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	return FC_OK;
}

/* pkg/identity/uri: same scheme and exact hostname as SubjectDomain. */
static enum fc_status build_uri(const struct build_ctx *c, struct principal *p,
				struct fc_err *err)
{
	struct gourl sub, dom;
	const char *why = NULL;
	enum fc_status st = FC_EAUTH;
	char *sh = NULL, *dh = NULL;

	url_init(&sub);
	url_init(&dom);
	if (go_is_email(c->subject)) {
		st = fc_err_set(err, FC_EAUTH, "uri subject \"%s\" should not be an email address",
				c->subject);
		goto out;
	}
	url_free(&sub);
	if (!url_parse(c->subject, &sub, &why)) {
		st = fc_err_set(err, FC_EAUTH, "subject \"%s\" is not a URI: %s", c->subject, why);
		goto out;
	}
	url_free(&dom);
	if (!url_parse(c->iss->subject_domain ? c->iss->subject_domain : "", &dom, &why)) {
		st = fc_err_set(err, FC_EINPUT, "SubjectDomain \"%s\" is not a URI: %s",
				c->iss->subject_domain, why);
		goto out;
	}
	if (strcmp(sub.scheme, dom.scheme) != 0) {
		st = fc_err_set(err, FC_EAUTH,
				"subject URI scheme (%s) must match expected domain URI scheme (%s)",
				sub.scheme, dom.scheme);
		goto out;
	}
	sh = url_hostname(&sub);
	dh = url_hostname(&dom);
	if (strcmp(sh, dh) != 0) {
		st = fc_err_set(err, FC_EAUTH, "subject hostname (%s) must match expected domain (%s)",
				sh, dh);
		goto out;
	}
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	st = set_uri_san(p, c->subject, err);
out:
	free(sh);
	free(dh);
	url_free(&sub);
	url_free(&dom);
	return st;
}

static bool spiffe_td_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
	       ch == '_';
}

static bool spiffe_path_char(char ch)
{
	return spiffe_td_char(ch) || (ch >= 'A' && ch <= 'Z');
}

/* go-spiffe v2 spiffeid.FromString; on success *td (caller frees). */
static bool spiffe_parse_id(const char *id, char **td)
{
	static const char prefix[] = "spiffe://";
	const char *t, *p;

	if (strncmp(id, prefix, sizeof(prefix) - 1) != 0)
		return false;
	t = id + sizeof(prefix) - 1;
	for (p = t; *p && *p != '/'; p++) {
		if (!spiffe_td_char(*p))
			return false;
	}
	if (p == t)
		return false;
	/* path: segments of [a-zA-Z0-9._-], none empty, "." or "..", no
	 * trailing slash */
	for (const char *s = p; *s;) {
		const char *seg = s + 1;
		size_t n = strcspn(seg, "/");
		if (n == 0)
			return false;
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++) {
			if (!spiffe_path_char(seg[i]))
				return false;
		}
		s = seg + n;
	}
	*td = fc_xstrndup(t, (size_t)(p - t));
	return true;
}

/* spiffeid.TrustDomainFromString */
static bool spiffe_parse_td(const char *s, char **td)
{
	if (strstr(s, ":/") != NULL)
		return spiffe_parse_id(s, td);
	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		if (!spiffe_td_char(*p))
			return false;
	}
	*td = fc_xstrdup(s);
	return true;
}

/* pkg/identity/spiffe */
static enum fc_status build_spiffe(const struct build_ctx *c, struct principal *p,
				   struct fc_err *err)
{
	char *want = NULL, *got = NULL;
	enum fc_status st;

	if (!spiffe_parse_td(c->iss->spiffe_trust_domain ? c->iss->spiffe_trust_domain : "",
			     &want)) {
		st = fc_err_set(err, FC_EINPUT, "unable to parse trust domain from configuration %s",
				c->iss->spiffe_trust_domain);
		goto out;
	}
	if (!spiffe_parse_id(c->subject, &got)) {
		st = fc_err_set(err, FC_EAUTH, "invalid spiffe ID provided: %s", c->subject);
		goto out;
	}
	if (strcmp(got, want) != 0) {
		st = fc_err_set(err, FC_EAUTH,
				"spiffe ID trust domain %s doesn't match configured trust domain %s",
				got, c->iss->spiffe_trust_domain);
		goto out;
	}
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	st = set_uri_san(p, c->subject, err);
out:
	free(want);
	free(got);
	return st;
}

/* An object member Go decodes into a struct: absent or null is fine. */
static enum fc_status claim_obj(const json_t *obj, const char *name, const json_t **out,
				struct fc_err *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return FC_OK;
	if (!json_is_object(v))
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s, not an object", name,
				  json_type_name(v));
	*out = v;
	return FC_OK;
}

/* pkg/identity/kubernetes: names from the "kubernetes.io" claim, not
 * checked for emptiness (as in Fulcio). */
static enum fc_status build_kubernetes(const struct build_ctx *c, struct principal *p,
				       struct fc_err *err)
{
	const json_t *k8s, *sa, *pod;
	const char *ns = "", *name = "", *ignored;
	enum fc_status st;
	char *uri;

	if ((st = claim_obj(c->claims, "kubernetes.io", &k8s, err)) != FC_OK)
		return st;
	if (k8s != NULL) {
		if ((st = claim_str(k8s, "namespace", &ns, err)) != FC_OK ||
		    (st = claim_obj(k8s, "serviceaccount", &sa, err)) != FC_OK ||
		    (st = claim_obj(k8s, "pod", &pod, err)) != FC_OK)
			return st;
		if (sa != NULL && ((st = claim_str(sa, "name", &name, err)) != FC_OK ||
				   (st = claim_str(sa, "uid", &ignored, err)) != FC_OK))
			return st;
		if (pod != NULL && ((st = claim_str(pod, "name", &ignored, err)) != FC_OK ||
				    (st = claim_str(pod, "uid", &ignored, err)) != FC_OK))
			return st;
	}
	uri = fc_xasprintf("https://kubernetes.io/namespaces/%s/serviceaccounts/%s", ns, name);
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	st = set_uri_san(p, uri, err);
	free(uri);
	return st;
}

/* pkg/identity/github (deprecated github-workflow type). */
static enum fc_status build_github(const struct build_ctx *c, struct principal *p,
				   struct fc_err *err)
{
	static const char *const names[] = {
		"job_workflow_ref", "sha", "event_name", "repository", "workflow", "ref",
		"job_workflow_sha", "runner_environment", "repository_id", "repository_owner",
		"repository_owner_id", "repository_visibility", "workflow_ref", "workflow_sha",
		"run_id", "run_attempt",
	};
	enum {
		JOB_WORKFLOW_REF, SHA, EVENT_NAME, REPOSITORY, WORKFLOW, REF, JOB_WORKFLOW_SHA,
		RUNNER_ENV, REPOSITORY_ID, REPOSITORY_OWNER, REPOSITORY_OWNER_ID,
		REPOSITORY_VISIBILITY, WORKFLOW_REF, WORKFLOW_SHA, RUN_ID, RUN_ATTEMPT, N
	};
	const char *v[N];
	const char *why = NULL;
	enum fc_status st;
	size_t i;

	for (i = 0; i < N; i++) {
		if ((st = claim_str(c->claims, names[i], &v[i], err)) != FC_OK)
			return st;
	}
	for (i = 0; i < N; i++) {
		if ((st = claim_required(c->claims, names[i], &v[i], err)) != FC_OK)
			return st;
	}
	static const char base[] = "https://github.com/";
	const char *e1[] = {v[JOB_WORKFLOW_REF]};
	const char *e2[] = {v[REPOSITORY]};
	const char *e3[] = {v[REPOSITORY_OWNER]};
	const char *e4[] = {v[WORKFLOW_REF]};
	const char *e5[] = {v[REPOSITORY], "actions/runs", v[RUN_ID], "attempts", v[RUN_ATTEMPT]};

	p->san_type = OIDC_SAN_URI;
	p->san = url_join(base, e1, 1, &why);
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	set_ext(p, EXT_GH_TRIGGER, v[EVENT_NAME]);
	set_ext(p, EXT_GH_SHA, v[SHA]);
	set_ext(p, EXT_GH_NAME, v[WORKFLOW]);
	set_ext(p, EXT_GH_REPOSITORY, v[REPOSITORY]);
	set_ext(p, EXT_GH_REF, v[REF]);
	set_ext(p, EXT_BUILD_SIGNER_URI, p->san);
	set_ext(p, EXT_BUILD_SIGNER_DIGEST, v[JOB_WORKFLOW_SHA]);
	set_ext(p, EXT_RUNNER_ENVIRONMENT, v[RUNNER_ENV]);
	set_ext_owned(p, EXT_SOURCE_REPOSITORY_URI, url_join(base, e2, 1, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_DIGEST, v[SHA]);
	set_ext(p, EXT_SOURCE_REPOSITORY_REF, v[REF]);
	set_ext(p, EXT_SOURCE_REPOSITORY_IDENTIFIER, v[REPOSITORY_ID]);
	set_ext_owned(p, EXT_SOURCE_REPOSITORY_OWNER_URI, url_join(base, e3, 1, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER, v[REPOSITORY_OWNER_ID]);
	set_ext_owned(p, EXT_BUILD_CONFIG_URI, url_join(base, e4, 1, &why));
	set_ext(p, EXT_BUILD_CONFIG_DIGEST, v[WORKFLOW_SHA]);
	set_ext(p, EXT_BUILD_TRIGGER, v[EVENT_NAME]);
	set_ext_owned(p, EXT_RUN_INVOCATION_URI, url_join(base, e5, 5, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_VISIBILITY, v[REPOSITORY_VISIBILITY]);
	return check_ia5("SAN URI", p->san, err);
}

/* pkg/identity/gitlabcom (deprecated gitlab-pipeline type). */
static enum fc_status build_gitlab(const struct build_ctx *c, struct principal *p,
				   struct fc_err *err)
{
	static const char *const names[] = {
		"project_path", "project_id", "pipeline_source", "pipeline_id",
		"ci_config_ref_uri", "ci_config_sha", "namespace_path", "namespace_id",
		"job_id", "ref", "ref_type", "sha", "runner_environment", "project_visibility",
	};
	enum {
		PROJECT_PATH, PROJECT_ID, PIPELINE_SOURCE, PIPELINE_ID, CI_CONFIG_REF_URI,
		CI_CONFIG_SHA, NAMESPACE_PATH, NAMESPACE_ID, JOB_ID, REF, REF_TYPE, SHA,
		RUNNER_ENV, PROJECT_VISIBILITY, N
	};
	/* Checked in Fulcio's order; ci_config_sha and project_visibility are
	 * optional. */
	static const int required[] = {
		PROJECT_PATH, PIPELINE_SOURCE, PIPELINE_ID, CI_CONFIG_REF_URI, JOB_ID, REF,
		REF_TYPE, NAMESPACE_PATH, NAMESPACE_ID, PROJECT_ID, SHA, RUNNER_ENV,
	};
	const char *v[N];
	const json_t *runner;
	const char *why = NULL;
	struct gourl cfg_url;
	enum fc_status st;
	char *ref, *san;
	size_t i;

	for (i = 0; i < N; i++) {
		if ((st = claim_str(c->claims, names[i], &v[i], err)) != FC_OK)
			return st;
	}
	runner = json_object_get(c->claims, "runner_id");
	if (runner != NULL && !json_is_null(runner) && !json_is_integer(runner))
		return fc_err_set(err, FC_EAUTH, "claim \"runner_id\" is %s, not an integer",
				  json_type_name(runner));
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if ((st = claim_required(c->claims, names[required[i]], &v[required[i]], err)) !=
		    FC_OK)
			return st;
	}
	if (runner == NULL || json_integer_value(runner) == 0)
		return fc_err_set(err, FC_EAUTH, "claim \"runner_id\" is %s",
				  runner == NULL || json_is_null(runner) ? "missing" : "0");
	if (strcmp(v[REF_TYPE], "branch") == 0)
		ref = fc_xasprintf("refs/heads/%s", v[REF]);
	else if (strcmp(v[REF_TYPE], "tag") == 0)
		ref = fc_xasprintf("refs/tags/%s", v[REF]);
	else
		return fc_err_set(err, FC_EAUTH, "unexpected ref_type \"%s\" (want branch or tag)",
				  v[REF_TYPE]);

	/* ci_config_ref_uri has no scheme: parse, force https, print. */
	if (!url_parse(v[CI_CONFIG_REF_URI], &cfg_url, &why)) {
		url_free(&cfg_url);
		free(ref);
		return fc_err_set(err, FC_EINPUT, "ci_config_ref_uri \"%s\" does not parse: %s",
				  v[CI_CONFIG_REF_URI], why);
	}
	replace(&cfg_url.scheme, fc_xstrdup("https"));
	san = url_string(&cfg_url);
	url_free(&cfg_url);

	static const char base[] = "https://gitlab.com/";
	const char *e1[] = {v[PROJECT_PATH]};
	const char *e2[] = {v[NAMESPACE_PATH]};
	const char *e3[] = {v[PROJECT_PATH], "/-/jobs/", v[JOB_ID]};

	p->san_type = OIDC_SAN_URI;
	p->san = san;
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	set_ext(p, EXT_BUILD_CONFIG_URI, san);
	set_ext(p, EXT_BUILD_CONFIG_DIGEST, v[CI_CONFIG_SHA]);
	set_ext(p, EXT_BUILD_SIGNER_URI, san);
	set_ext(p, EXT_BUILD_SIGNER_DIGEST, v[CI_CONFIG_SHA]);
	set_ext(p, EXT_RUNNER_ENVIRONMENT, v[RUNNER_ENV]);
	set_ext_owned(p, EXT_SOURCE_REPOSITORY_URI, url_join(base, e1, 1, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_DIGEST, v[SHA]);
	set_ext_owned(p, EXT_SOURCE_REPOSITORY_REF, ref);
	set_ext(p, EXT_SOURCE_REPOSITORY_IDENTIFIER, v[PROJECT_ID]);
	set_ext_owned(p, EXT_SOURCE_REPOSITORY_OWNER_URI, url_join(base, e2, 1, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER, v[NAMESPACE_ID]);
	set_ext(p, EXT_BUILD_TRIGGER, v[PIPELINE_SOURCE]);
	set_ext_owned(p, EXT_RUN_INVOCATION_URI, url_join(base, e3, 3, &why));
	set_ext(p, EXT_SOURCE_REPOSITORY_VISIBILITY, v[PROJECT_VISIBILITY]);
	return check_ia5("SAN URI", san, err);
}

/* pkg/identity/buildkite (deprecated buildkite-job type). */
static enum fc_status build_buildkite(const struct build_ctx *c, struct principal *p,
				      struct fc_err *err)
{
	const char *org, *pipeline;
	enum fc_status st;
	char *uri;

	if ((st = claim_str(c->claims, "organization_slug", &org, err)) != FC_OK ||
	    (st = claim_str(c->claims, "pipeline_slug", &pipeline, err)) != FC_OK ||
	    (st = claim_required(c->claims, "organization_slug", &org, err)) != FC_OK ||
	    (st = claim_required(c->claims, "pipeline_slug", &pipeline, err)) != FC_OK)
		return st;
	uri = fc_xasprintf("https://buildkite.com/%s/%s", org, pipeline);
	p->pop = fc_xstrdup(c->subject);
	set_ext(p, EXT_ISSUER, c->issuer);
	st = set_uri_san(p, uri, err);
	free(uri);
	return st;
}

/* pkg/identity/codefresh (deprecated codefresh-workflow type). */
static enum fc_status build_codefresh(const struct build_ctx *c, struct principal *p,
				      struct fc_err *err)
{
	static const char *const names[] = {
		"account_id", "account_name", "pipeline_id", "pipeline_name", "workflow_id",
		"initiator", "scm_repo_url", "scm_user_name", "scm_ref",
		"scm_pull_request_target_branch", "runner_environment", "platform_url",
	};
	enum {
		ACCOUNT_ID, ACCOUNT_NAME, PIPELINE_ID, PIPELINE_NAME, WORKFLOW_ID, INITIATOR,
		SCM_REPO_URL, SCM_USER_NAME, SCM_REF, SCM_PR_TARGET, RUNNER_ENV, PLATFORM_URL, N
	};
	const char *v[N];
	const char *why = NULL;
	enum fc_status st;
	char *seg, *build;

	for (size_t i = 0; i < N; i++) {
		if ((st = claim_str(c->claims, names[i], &v[i], err)) != FC_OK)
			return st;
	}
	if ((st = claim_required(c->claims, "account_id", &v[ACCOUNT_ID], err)) != FC_OK ||
	    (st = claim_required(c->claims, "pipeline_id", &v[PIPELINE_ID], err)) != FC_OK ||
	    (st = claim_required(c->claims, "workflow_id", &v[WORKFLOW_ID], err)) != FC_OK)
		return st;
	if (*v[PLATFORM_URL] == '\0')
		v[PLATFORM_URL] = "https://g.codefresh.io";

	seg = fc_xasprintf("%s:%s/%s", v[PIPELINE_NAME], v[ACCOUNT_ID], v[PIPELINE_ID]);
	const char *san_elems[] = {v[ACCOUNT_NAME], seg};
	const char *build_elems[] = {"build", v[WORKFLOW_ID]};
	p->san = url_join(v[PLATFORM_URL], san_elems, 2, &why);
	free(seg);
	if (p->san == NULL)
		return fc_err_set(err, FC_EINPUT, "platform_url \"%s\" does not parse: %s",
				  v[PLATFORM_URL], why);
	p->san_type = OIDC_SAN_URI;
	p->pop = fc_xstrdup(c->subject);
	build = url_join(v[PLATFORM_URL], build_elems, 2, &why);
	set_ext(p, EXT_ISSUER, c->issuer);
	set_ext(p, EXT_BUILD_SIGNER_URI, build);
	set_ext(p, EXT_RUNNER_ENVIRONMENT, v[RUNNER_ENV]);
	set_ext(p, EXT_SOURCE_REPOSITORY_URI, v[SCM_REPO_URL]);
	set_ext(p, EXT_SOURCE_REPOSITORY_REF, v[SCM_REF]);
	set_ext(p, EXT_BUILD_CONFIG_URI, build);
	set_ext_owned(p, EXT_RUN_INVOCATION_URI, build);
	return check_ia5("SAN URI", p->san, err);
}

/* pkg/identity/chainguard: SAN {iss}/{sub}; PoP as sigstore's
 * oauthflow.SubjectFromToken: the email if present (then it must be
 * verified), else sub. */
static enum fc_status build_chainguard(const struct build_ctx *c, struct principal *p,
				       struct fc_err *err)
{
	const json_t *act, *internal, *v;
	const char *email, *ignored, *k, *why = NULL;
	enum fc_status st;

	if ((st = claim_obj(c->claims, "act", &act, err)) != FC_OK ||
	    (st = claim_obj(c->claims, "internal", &internal, err)) != FC_OK)
		return st;
	if (act != NULL) {
		json_object_foreach((json_t *)act, k, v) {
			if ((st = claim_str(act, k, &ignored, err)) != FC_OK)
				return st;
		}
	}
	if (internal != NULL &&
	    (st = claim_str(internal, "service-principal", &ignored, err)) != FC_OK)
		return st;
	if ((st = claim_str(c->claims, "email", &email, err)) != FC_OK)
		return st;
	if (*email != '\0') {
		if ((st = email_verified(c->claims, email, err)) != FC_OK)
			return st;
		p->pop = fc_xstrdup(email);
	} else if (*c->subject != '\0') {
		p->pop = fc_xstrdup(c->subject);
	} else {
		return fc_err_set(err, FC_EAUTH, "no subject found in claims");
	}
	const char *elems[] = {c->subject};
	p->san = url_join(c->issuer, elems, 1, &why);
	if (p->san == NULL)
		return fc_err_set(err, FC_EINPUT, "issuer \"%s\" does not parse: %s", c->issuer,
				  why);
	p->san_type = OIDC_SAN_URI;
	set_ext(p, EXT_ISSUER, c->issuer);
	return check_ia5("SAN URI", p->san, err);
}

/* --- ci-provider: templates from CIIssuerMetadata ------------------------------------- */

struct tmpl_ctx {
	const json_t *claims;
	const struct cfg_ci_provider *prov;
	char **names, **values; /* flattened claims handed out so far */
	size_t n, cap;
};

/* Lookup for cfg_template_render and plain names: the claims (flattened),
 * then DefaultTemplateValues. NULL if neither has the name. */
static const char *tmpl_lookup(void *vctx, const char *name)
{
	struct tmpl_ctx *t = vctx;
	const json_t *v = json_object_get(t->claims, name);

	if (v != NULL) {
		for (size_t i = 0; i < t->n; i++) {
			if (strcmp(t->names[i], name) == 0)
				return t->values[i];
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->names = fc_xrealloc(t->names, t->cap * sizeof(*t->names));
			t->values = fc_xrealloc(t->values, t->cap * sizeof(*t->values));
		}
		t->names[t->n] = fc_xstrdup(name);
		t->values[t->n] = flatten_claim(v);
		return t->values[t->n++];
	}
	for (size_t i = 0; i < t->prov->n_defaults; i++) {
		if (t->prov->defaults[i].key && strcmp(t->prov->defaults[i].key, name) == 0)
			return t->prov->defaults[i].value ? t->prov->defaults[i].value : "";
	}
	return NULL;
}

static void tmpl_ctx_free(struct tmpl_ctx *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->names[i]);
		free(t->values[i]);
	}
	free(t->names);
	free(t->values);
}

static bool blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++) {
		if (strchr(" \t\n\v\f\r", *s) == NULL)
			return false;
	}
	return true;
}

/* applyTemplateOrReplace: a text with "{{" is a template, anything else
 * names a claim or default copied verbatim. */
static enum fc_status apply_template(struct tmpl_ctx *t, const char *field, const char *text,
				     char **out, struct fc_err *err)
{
	struct cfg_template *tmpl = NULL;
	struct fc_err terr = {0};
	enum fc_status st;

	if (strstr(text, "{{") == NULL) {
		const char *v = tmpl_lookup(t, text);
		if (v == NULL)
			return fc_err_set(err, FC_EINPUT,
					  "ci-provider %s: %s: claim \"%s\" is missing (not in the "
					  "token's claims nor in DefaultTemplateValues)",
					  t->prov->name, field, text);
		*out = fc_xstrdup(v);
		return FC_OK;
	}
	if ((st = cfg_template_parse(text, &tmpl, &terr)) != FC_OK)
		return fc_err_set(err, FC_EINPUT, "ci-provider %s: %s: template does not parse: %s",
				  t->prov->name, field, terr.msg);
	st = cfg_template_render(tmpl, tmpl_lookup, t, out, &terr);
	cfg_template_free(tmpl);
	if (st != FC_OK)
		return fc_err_set(err, FC_EINPUT, "ci-provider %s: %s: %s", t->prov->name, field,
				  terr.msg);
	return FC_OK;
}

static const char *template_for(const struct cfg_ci_provider *prov, const char *field)
{
	for (size_t i = 0; i < prov->n_extension_templates; i++) {
		if (prov->extension_templates[i].key &&
		    strcmp(prov->extension_templates[i].key, field) == 0)
			return prov->extension_templates[i].value;
	}
	return NULL;
}

/* pkg/identity/ciprovider */
static enum fc_status build_ci_provider(const struct build_ctx *c, struct principal *p,
					struct fc_err *err)
{
	const struct cfg_ci_provider *prov = NULL;
	struct tmpl_ctx t = {0};
	enum fc_status st;
	char *san = NULL;

	if (!is_empty(c->iss->ci_provider))
		prov = cfg_ci_provider_find(c->cfg, c->iss->ci_provider);
	if (prov == NULL)
		return fc_err_set(err, FC_EINPUT, "metadata not found for ci provider %s, issuer: %s",
				  c->iss->ci_provider ? c->iss->ci_provider : "(none)", c->issuer);
	t.claims = c->claims;
	t.prov = prov;
	if (blank(prov->san_template)) {
		st = fc_err_set(err, FC_EINPUT,
				"ci-provider %s: SubjectAlternativeNameTemplate should not be empty",
				prov->name);
		goto out;
	}
	if ((st = apply_template(&t, "SubjectAlternativeName", prov->san_template, &san, err)) !=
	    FC_OK)
		goto out;
	if (*san == '\0') {
		st = fc_err_set(err, FC_EINPUT, "ci-provider %s: the SAN template renders empty",
				prov->name);
		goto out;
	}
	if ((st = set_uri_san(p, san, err)) != FC_OK)
		goto out;
	for (size_t f = 0; f < EXT_N; f++) {
		const char *text = template_for(prov, ext_fields[f].field);
		char *v = NULL;
		if (f == EXT_ISSUER || f == EXT_SUBJECT || blank(text))
			continue;
		if ((st = apply_template(&t, ext_fields[f].field, text, &v, err)) != FC_OK)
			goto out;
		set_ext_owned(p, f, v);
	}
	set_ext(p, EXT_ISSUER, c->issuer);
	p->pop = fc_xstrdup(c->subject);
	st = FC_OK;
out:
	free(san);
	tmpl_ctx_free(&t);
	return st;
}

/* --- entry point ------------------------------------------------------------------------ */

/*
 * Build the principal for issuer `iss` from verified claims (see oidc_int.h).
 * Fills id->issuer_type, san_type, san, pop_subject and extensions (and
 * issuer / subject when still NULL) only on success. FC_EAUTH when the token
 * is refused on its identity, FC_EINPUT when no certificate can be made from
 * it; the reason, naming the claim and its value, goes to err.
 */
enum fc_status oidc_principal_build(const struct cfg_identity *cfg, const struct cfg_issuer *iss,
				    const json_t *claims, struct oidc_identity *id,
				    struct fc_err *err)
{
	struct principal p = {0};
	struct fc_err why = {0};
	struct build_ctx c;
	enum fc_status st;
	const char *type_name;

	c.cfg = cfg;
	c.iss = iss;
	c.claims = claims;
	c.issuer = json_string_value(json_object_get(claims, "iss"));
	if (c.issuer == NULL)
		c.issuer = iss->issuer_url ? iss->issuer_url : "";
	c.subject = json_string_value(json_object_get(claims, "sub"));
	if (c.subject == NULL)
		c.subject = "";

	switch (iss->type) {
	case CFG_TYPE_EMAIL:
		st = build_email(&c, &p, &why);
		break;
	case CFG_TYPE_USERNAME:
		st = build_username(&c, &p, &why);
		break;
	case CFG_TYPE_URI:
		st = build_uri(&c, &p, &why);
		break;
	case CFG_TYPE_SPIFFE:
		st = build_spiffe(&c, &p, &why);
		break;
	case CFG_TYPE_KUBERNETES:
		st = build_kubernetes(&c, &p, &why);
		break;
	case CFG_TYPE_GITHUB_WORKFLOW:
		st = build_github(&c, &p, &why);
		break;
	case CFG_TYPE_GITLAB_PIPELINE:
		st = build_gitlab(&c, &p, &why);
		break;
	case CFG_TYPE_BUILDKITE_JOB:
		st = build_buildkite(&c, &p, &why);
		break;
	case CFG_TYPE_CODEFRESH_WORKFLOW:
		st = build_codefresh(&c, &p, &why);
		break;
	case CFG_TYPE_CHAINGUARD_IDENTITY:
		st = build_chainguard(&c, &p, &why);
		break;
	case CFG_TYPE_CI_PROVIDER:
		st = build_ci_provider(&c, &p, &why);
		break;
	case CFG_TYPE_UNKNOWN:
	default:
		st = fc_err_set(&why, FC_EAUTH, "issuer %s has an unsupported type \"%s\"",
				c.issuer, iss->type_name ? iss->type_name : "");
		break;
	}
	if (st == FC_OK && is_empty(p.ext[EXT_ISSUER]))
		st = fc_err_set(&why, FC_EINPUT, "extensions must have a non-empty issuer url");
	if (st != FC_OK) {
		/* reported once, by whoever reports err */
		fc_err_set(err, st, "%s", why.msg);
		goto out;
	}
	set_ext(&p, EXT_SUBJECT, c.subject);

	type_name = iss->type_name ? iss->type_name : cfg_issuer_type_name(iss->type);
	free(id->issuer_type);
	id->issuer_type = fc_xstrdup(type_name ? type_name : "");
	if (id->issuer == NULL)
		id->issuer = fc_xstrdup(c.issuer);
	if (id->subject == NULL)
		id->subject = fc_xstrdup(c.subject);
	id->san_type = p.san_type;
	replace(&id->san, p.san);
	p.san = NULL;
	replace(&id->pop_subject, p.pop);
	p.pop = NULL;
	for (size_t i = 0; i < id->n_extensions; i++)
		free(id->extensions[i].value);
	free(id->extensions);
	render_extensions(&p, &id->extensions, &id->n_extensions);
	st = FC_OK;
out:
	principal_clear(&p);
	return st;
}
