/*
 * Where a PKCS#11 key is: RFC 7512 PKCS#11 URIs, crypto11's JSON
 * configuration (Fulcio's --pkcs11-config-path), and where the PIN comes
 * from. Nothing here talks to a module.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "pkcs11_int.h"

static const char uri_scheme[] = "pkcs11:";

/*
 * Free the configuration; the PIN is wiped first. NULL is fine.
 */
void hsm_p11_config_free(struct hsm_p11_config *c)
{
	if (c == NULL)
		return;
	free(c->module_path);
	free(c->module_name);
	free(c->token_label);
	free(c->token_serial);
	free(c->token_manufacturer);
	free(c->token_model);
	free(c->slot_description);
	free(c->slot_manufacturer);
	free(c->library_manufacturer);
	free(c->library_description);
	free(c->library_version);
	free(c->object_label);
	free(c->object_id);
	free(c->object_type);
	fc_free_secret(c->pin);
	free(c->pin_path);
	free(c->pin_source);
	fc_memzero(c, sizeof(*c));
	free(c);
}

/*
 * A deep copy of c for a token to keep: every attribute, and where to read
 * the PIN again (pin_from, pin_path), but neither a literal PIN (the token
 * keeps that on a locked page of its own) nor pin_source. Free with
 * hsm_p11_config_free.
 */
struct hsm_p11_config *p11_config_copy(const struct hsm_p11_config *c)
{
	struct hsm_p11_config *d = fc_xcalloc(1, sizeof(*d));

#define DUP(m) d->m = c->m != NULL ? fc_xstrdup(c->m) : NULL
	DUP(module_path);
	DUP(module_name);
	DUP(token_label);
	DUP(token_serial);
	DUP(token_manufacturer);
	DUP(token_model);
	DUP(slot_description);
	DUP(slot_manufacturer);
	DUP(library_manufacturer);
	DUP(library_description);
	DUP(library_version);
	DUP(object_label);
	DUP(object_type);
#undef DUP
	if (c->object_id != NULL) {
		d->object_id = fc_xmalloc(c->object_id_len + 1);
		memcpy(d->object_id, c->object_id, c->object_id_len);
		d->object_id_len = c->object_id_len;
	}
	d->has_slot = c->has_slot;
	d->slot = c->slot;
	d->login_not_supported = c->login_not_supported;
	d->user_type = c->user_type;
	d->max_sessions = c->max_sessions;
	d->pool_wait_ms = c->pool_wait_ms;
	d->read_write = c->read_write;
	/* where to read the PIN again; a literal PIN goes to its locked page */
	d->pin_from = c->pin_from;
	d->pin_path = c->pin_path != NULL ? fc_xstrdup(c->pin_path) : NULL;
	return d; /* without pin and pin_source */
}

/* A fresh configuration with the defaults both parsers start from. */
static struct hsm_p11_config *config_new(void)
{
	struct hsm_p11_config *c = fc_xcalloc(1, sizeof(*c));

	c->user_type = CKU_USER;
	return c;
}

/* Hand a parsed configuration over to *out: a PIN it holds is a literal. */
static void config_hand_over(struct hsm_p11_config *c, struct hsm_p11_config **out)
{
	if (c->pin != NULL)
		c->pin_from = HSM_P11_PIN_VALUE;
	*out = c;
}

/*
 * Decode RFC 3986 2.1 percent-encoding (RFC 7512 2.3: every value of a
 * PKCS#11 URI is percent-decoded, and id is a byte string). Returns false
 * on a truncated or non-hex escape. *out is NUL-terminated (caller frees).
 */
bool p11_pct_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = fc_xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] != '%') {
			buf[n++] = (uint8_t)in[i];
			continue;
		}
		if (len - i < 3 || fc_hex_digit(in[i + 1]) < 0 || fc_hex_digit(in[i + 2]) < 0) {
			free(buf);
			return false;
		}
		buf[n++] = (uint8_t)(fc_hex_digit(in[i + 1]) << 4 | fc_hex_digit(in[i + 2]));
		i += 2;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return true;
}

/* RFC 7512 2.3: the characters a path (query) attribute value may hold
 * literally; everything else must be percent-encoded. */
static bool value_char_ok(char ch, bool query)
{
	if (isalnum((unsigned char)ch) || strchr("-._~", ch) != NULL)
		return true; /* unreserved */
	if (ch != '\0' && strchr(":[]@!$'()*+,=", ch) != NULL)
		return true; /* pk11-res-avail */
	if (!query)
		return ch == '&';
	return ch == '/' || ch == '?' || ch == '|';
}

enum attr_kind { ATTR_STR, ATTR_BYTES, ATTR_SLOT, ATTR_TYPE, ATTR_VERSION, ATTR_SECRET };

struct attr_def {
	const char *name;
	bool query;
	enum attr_kind kind;
	size_t off; /* offset of the char * (or uint8_t *) member */
};

#define OFF(m) offsetof(struct hsm_p11_config, m)
static const struct attr_def attr_defs[] = {
	{"token", false, ATTR_STR, OFF(token_label)},
	{"manufacturer", false, ATTR_STR, OFF(token_manufacturer)},
	{"serial", false, ATTR_STR, OFF(token_serial)},
	{"model", false, ATTR_STR, OFF(token_model)},
	{"library-manufacturer", false, ATTR_STR, OFF(library_manufacturer)},
	{"library-description", false, ATTR_STR, OFF(library_description)},
	{"library-version", false, ATTR_VERSION, OFF(library_version)},
	{"object", false, ATTR_STR, OFF(object_label)},
	{"type", false, ATTR_TYPE, OFF(object_type)},
	{"id", false, ATTR_BYTES, OFF(object_id)},
	{"slot-description", false, ATTR_STR, OFF(slot_description)},
	{"slot-manufacturer", false, ATTR_STR, OFF(slot_manufacturer)},
	{"slot-id", false, ATTR_SLOT, 0},
	{"pin-source", true, ATTR_STR, OFF(pin_source)},
	{"pin-value", true, ATTR_SECRET, OFF(pin)},
	{"module-name", true, ATTR_STR, OFF(module_name)},
	{"module-path", true, ATTR_STR, OFF(module_path)},
};
#undef OFF

static const struct attr_def *find_attr(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(attr_defs) / sizeof(attr_defs[0]); i++)
		if (strlen(attr_defs[i].name) == len && memcmp(attr_defs[i].name, name, len) == 0)
			return &attr_defs[i];
	return NULL;
}

/*
 * The definition of attribute name a[0..nlen) found in the path (query).
 * FC_OK with *d, or with *d NULL for an unknown query attribute (ignored,
 * RFC 7512 2.3); FC_ECONFIG for an unknown path attribute (vendor "x-"
 * ones too: it would narrow the match in a way we cannot honour) or one in
 * the wrong part.
 */
static enum fc_status attr_lookup(const char *a, size_t nlen, bool query, const struct attr_def **d,
				  struct fc_err *err)
{
	const char *where = query ? "query" : "path";

	*d = find_attr(a, nlen);
	if (*d != NULL && (*d)->query == query)
		return FC_OK;
	if (*d != NULL)
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 URI: \"%.*s\" belongs in the %s, not the %s (RFC 7512 2.3)",
			(int)nlen, a, query ? "path" : "query", where);
	if (query) {
		/* RFC 7512 2.3: unknown query attributes may be ignored. */
		fc_log(LOG_WARNING, "pkcs11 URI: ignoring unknown query attribute \"%.*s\"",
		       (int)(nlen > 64 ? 64 : nlen), a);
		return FC_OK;
	}
	return fc_err_set(err, FC_ECONFIG,
			  "pkcs11 URI: unknown path attribute \"%.*s\" (RFC 7512 2.3 names: token, "
			  "manufacturer, serial, model, library-*, object, type, id, slot-*)",
			  (int)(nlen > 64 ? 64 : nlen), a);
}

/*
 * Check the characters of value v[0..vlen) of attribute d and decode it
 * (RFC 7512 2.3): *dec malloc'd and NUL-terminated, *dlen bytes, within
 * the limits, without a NUL unless d is id. FC_ECONFIG otherwise; a
 * pin-value never appears in a message.
 */
static enum fc_status attr_decode(const struct attr_def *d, const char *v, size_t vlen,
				  uint8_t **dec, size_t *dlen, struct fc_err *err)
{
	bool secret = d->kind == ATTR_SECRET;
	size_t max = secret ? HSM_P11_MAX_PIN_LEN : HSM_P11_MAX_ATTR_LEN;

	for (size_t i = 0; i < vlen; i++) {
		if (v[i] == '%' || value_char_ok(v[i], d->query))
			continue;
		if (secret)
			return fc_err_set(err, FC_ECONFIG,
					  "pkcs11 URI: pin-value holds a character that must be "
					  "percent-encoded (RFC 7512 2.3)");
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 URI: %s: character '%c' must be percent-encoded (RFC 7512 "
			"2.3)",
			d->name, v[i]);
	}
	if (!p11_pct_decode(v, vlen, dec, dlen)) {
		if (secret)
			return fc_err_set(err, FC_ECONFIG, "pkcs11 URI: pin-value: bad %%-escape");
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11 URI: %s: bad %%-escape (two hex digits must follow %%)",
				  d->name);
	}
	if (*dlen > max)
		fc_err_set(err, FC_ECONFIG, "pkcs11 URI: %s: longer than %zu bytes", d->name, max);
	else if (d->kind != ATTR_BYTES && memchr(*dec, '\0', *dlen) != NULL)
		fc_err_set(err, FC_ECONFIG, "pkcs11 URI: %s: holds a NUL byte", d->name);
	else
		return FC_OK;
	fc_memzero(*dec, *dlen);
	free(*dec);
	*dec = NULL;
	return FC_ECONFIG;
}

/* slot-id: a decimal number, once. */
static enum fc_status attr_slot(struct hsm_p11_config *c, const char *dec, struct fc_err *err)
{
	char *end = NULL;

	if (c->has_slot)
		return fc_err_set(err, FC_ECONFIG, "pkcs11 URI: slot-id appears twice");
	errno = 0;
	if (isdigit((unsigned char)dec[0]))
		c->slot = strtoul(dec, &end, 10);
	if (end == NULL || *end != '\0' || errno != 0)
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 URI: slot-id \"%s\" is not a decimal number (RFC 7512 2.3)", dec);
	c->has_slot = true;
	return FC_OK;
}

/* A decoded value fits its kind: type is one of RFC 7512's, library-version
 * is "M" or "M.m", id is not empty. */
static enum fc_status attr_check(const struct attr_def *d, const char *dec, size_t dlen,
				 struct fc_err *err)
{
	size_t i = 0, digits;

	switch (d->kind) {
	case ATTR_TYPE:
		if (strcmp(dec, "public") == 0 || strcmp(dec, "private") == 0 ||
		    strcmp(dec, "cert") == 0 || strcmp(dec, "secret-key") == 0 ||
		    strcmp(dec, "data") == 0)
			return FC_OK;
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11 URI: type \"%s\" is not one of public, private, cert, "
				  "secret-key, data (RFC 7512 2.3)",
				  dec);
	case ATTR_VERSION:
		while (i < dlen && isdigit((unsigned char)dec[i]))
			i++;
		digits = i;
		if (i < dlen && dec[i] == '.') {
			size_t j = ++i;
			while (i < dlen && isdigit((unsigned char)dec[i]))
				i++;
			if (i == j)
				digits = 0;
		}
		if (digits > 0 && i == dlen)
			return FC_OK;
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 URI: library-version \"%s\" is not M or M.m (RFC 7512 2.3)", dec);
	case ATTR_BYTES:
		if (dlen > 0)
			return FC_OK;
		return fc_err_set(err, FC_ECONFIG, "pkcs11 URI: id is empty");
	default: return FC_OK;
	}
}

/* One "name=value" of the path (query). Messages never show a pin-value. */
static enum fc_status parse_attr(struct hsm_p11_config *c, const char *a, size_t len, bool query,
				 struct fc_err *err)
{
	const char *eq = memchr(a, '=', len);
	const struct attr_def *d;
	size_t nlen, dlen = 0;
	uint8_t *dec = NULL;
	char **member;
	enum fc_status st;

	if (eq == NULL || eq == a)
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 URI: %s attribute \"%.*s\" is not name=value (RFC 7512 2.3)",
			query ? "query" : "path", (int)(len > 64 ? 64 : len), a);
	nlen = (size_t)(eq - a);
	if ((st = attr_lookup(a, nlen, query, &d, err)) != FC_OK || d == NULL)
		return st;
	if ((st = attr_decode(d, eq + 1, len - nlen - 1, &dec, &dlen, err)) != FC_OK)
		return st;
	if (d->kind == ATTR_SLOT) {
		st = attr_slot(c, (const char *)dec, err);
	} else if (*(member = (char **)((char *)c + d->off)) != NULL) {
		st = fc_err_set(err, FC_ECONFIG, "pkcs11 URI: %s appears twice", d->name);
	} else if ((st = attr_check(d, (const char *)dec, dlen, err)) == FC_OK) {
		if (d->kind == ATTR_BYTES)
			c->object_id_len = dlen;
		*member = (char *)dec;
		dec = NULL;
	}
	if (dec != NULL) {
		fc_memzero(dec, dlen);
		free(dec);
	}
	return st;
}

/* Parse the ';'- (path) or '&'- (query) separated attributes of s[0..len). */
static enum fc_status parse_part(struct hsm_p11_config *c, const char *s, size_t len, bool query,
				 struct fc_err *err)
{
	char sep = query ? '&' : ';';
	size_t off = 0;

	if (len == 0)
		return FC_OK;
	for (;;) {
		const char *a = s + off;
		const char *e = memchr(a, sep, len - off);
		size_t alen = e != NULL ? (size_t)(e - a) : len - off;
		enum fc_status st;

		if (alen == 0)
			return fc_err_set(err, FC_ECONFIG, "pkcs11 URI: empty %s attribute",
					  query ? "query" : "path");
		if ((st = parse_attr(c, a, alen, query, err)) != FC_OK)
			return st;
		if (e == NULL)
			return FC_OK;
		off += alen + 1;
	}
}

/*
 * Parse an RFC 7512 PKCS#11 URI (hsm.h). Returns FC_OK with *out (free
 * with hsm_p11_config_free), else FC_ECONFIG with the reason; a pin-value
 * never appears in a message.
 */
enum fc_status hsm_p11_config_parse_uri(const char *uri, struct hsm_p11_config **out,
					struct fc_err *err)
{
	struct hsm_p11_config *c = NULL;
	const char *path, *q;
	size_t len, plen;
	enum fc_status st = FC_ECONFIG;

	if (uri == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11 URI: missing argument");
	len = strlen(uri);
	if (len > HSM_P11_MAX_URI_LEN)
		return fc_err_set(err, FC_ECONFIG, "pkcs11 URI: longer than %d bytes",
				  HSM_P11_MAX_URI_LEN);
	/* RFC 3986 3.1: the scheme is case-insensitive */
	if (len < sizeof(uri_scheme) - 1 ||
	    strncasecmp(uri, uri_scheme, sizeof(uri_scheme) - 1) != 0)
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11 URI: does not start with \"pkcs11:\" (RFC 7512 2.3)");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f || uri[i] == '#')
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 URI: byte %zu is a space, control, '#' or non-ASCII "
				"character (percent-encode it)",
				i);
	c = config_new();
	path = uri + sizeof(uri_scheme) - 1;
	q = strchr(path, '?');
	plen = q != NULL ? (size_t)(q - path) : strlen(path);
	if ((st = parse_part(c, path, plen, false, err)) != FC_OK)
		goto out;
	if (q != NULL && (st = parse_part(c, q + 1, strlen(q + 1), true, err)) != FC_OK)
		goto out;
	if (c->pin != NULL && c->pin_source != NULL) {
		st = fc_err_set(err, FC_ECONFIG,
				"pkcs11 URI: pin-value and pin-source together (RFC 7512 2.4: use "
				"one)");
		goto out;
	}
	config_hand_over(c, out);
	c = NULL;
	st = FC_OK;
out:
	hsm_p11_config_free(c);
	return st;
}

/* --- crypto11 JSON ------------------------------------------------------------- */

/* A non-negative JSON integer at most max; Go's json would refuse a
 * fraction or a string for an int field too. */
static bool json_uint(json_t *v, json_int_t max, json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* A string field: copied when non-empty (crypto11 treats "" as unset).
 * Field names match in any case, so a field may come twice ("Pin" and
 * "pin"): as with Go's encoding/json the last one wins (a last "" unsets
 * the field), and the value it replaces is freed (wiped if secret). */
static enum fc_status json_str(json_t *v, const char *field, const char *name, bool secret,
			       char **out, struct fc_err *err)
{
	size_t len, max = secret ? HSM_P11_MAX_PIN_LEN : 4096;

	if (!json_is_string(v))
		return fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: %s must be a string", name,
				  field);
	len = json_string_length(v);
	if (len > max)
		return fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: %s is longer than %zu bytes",
				  name, field, max);
	if (memchr(json_string_value(v), '\0', len) != NULL)
		return fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: %s holds a NUL byte", name,
				  field);
	if (secret)
		fc_free_secret(*out);
	else
		free(*out);
	*out = len > 0 ? fc_xstrndup(json_string_value(v), len) : NULL;
	return FC_OK;
}

/*
 * One of crypto11's string fields (Path, TokenLabel, TokenSerial, Pin),
 * its name matched in any case. Returns FC_OK and sets *handled when key
 * is one of them, else FC_ECONFIG with the reason.
 */
static enum fc_status crypto11_string(struct hsm_p11_config *c, const char *key, json_t *v,
				      const char *name, bool *handled, struct fc_err *err)
{
	enum fc_status st;

	*handled = true;
	if (strcasecmp(key, "Path") == 0)
		return json_str(v, "Path", name, false, &c->module_path, err);
	if (strcasecmp(key, "TokenLabel") == 0)
		return json_str(v, "TokenLabel", name, false, &c->token_label, err);
	if (strcasecmp(key, "TokenSerial") == 0)
		return json_str(v, "TokenSerial", name, false, &c->token_serial, err);
	if (strcasecmp(key, "Pin") == 0) {
		st = json_str(v, "Pin", name, true, &c->pin, err);
		/* jansson frees its copy without wiping it: wipe it here (the
		 * string is jansson's malloc'd buffer, ours to write) */
		if (json_is_string(v))
			fc_memzero((char *)json_string_value(v), json_string_length(v));
		return st;
	}
	*handled = false;
	return FC_OK;
}

/*
 * One of crypto11's other fields (SlotNumber, MaxSessions, UserType,
 * PoolWaitTimeout, LoginNotSupported, the AES-GCM ones, ignored), its
 * name matched in any case. FC_ECONFIG with the reason for a bad value or
 * an unknown field.
 */
static enum fc_status crypto11_other(struct hsm_p11_config *c, const char *key, json_t *v,
				     const char *name, struct fc_err *err)
{
	json_int_t n = 0;

	if (strcasecmp(key, "SlotNumber") == 0) {
		if (json_is_null(v))
			return FC_OK;
		if (!json_uint(v, INT32_MAX, &n))
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 config %s: SlotNumber must be a non-negative integer",
				name);
		c->has_slot = true;
		c->slot = (unsigned long)n;
	} else if (strcasecmp(key, "MaxSessions") == 0) {
		if (!json_uint(v, INT32_MAX, &n))
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 config %s: MaxSessions must be a non-negative integer",
				name);
		if (n > P11_MAX_SESSIONS)
			fc_log(LOG_NOTICE,
			       "pkcs11 config %s: MaxSessions %lld: opening %d sessions (fulcrum "
			       "opens them all at start)",
			       name, (long long)n, P11_MAX_SESSIONS);
		c->max_sessions = (unsigned)(n > P11_MAX_SESSIONS ? P11_MAX_SESSIONS : n);
	} else if (strcasecmp(key, "UserType") == 0) {
		if (!json_uint(v, 2, &n))
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 config %s: UserType must be 0 (SO), 1 (user) or 2 "
				"(context specific)",
				name);
		c->user_type = (unsigned long)n;
	} else if (strcasecmp(key, "PoolWaitTimeout") == 0) {
		/* Go's time.Duration marshals as integer nanoseconds */
		if (!json_uint(v, INT64_MAX, &n))
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 config %s: PoolWaitTimeout must be a non-negative "
				"integer of nanoseconds (Go time.Duration)",
				name);
		c->pool_wait_ms = (int64_t)(n / 1000000) + (n % 1000000 != 0);
	} else if (strcasecmp(key, "LoginNotSupported") == 0) {
		if (!json_is_boolean(v))
			return fc_err_set(
				err, FC_ECONFIG,
				"pkcs11 config %s: LoginNotSupported must be true or false", name);
		c->login_not_supported = json_is_true(v);
	} else if (strcasecmp(key, "UseGCMIVFromHSM") != 0 && strcasecmp(key, "GCMIVLength") != 0 &&
		   strcasecmp(key, "GCMIVFromHSMControl") != 0) {
		/* (crypto11's AES-GCM settings: nothing to do for signing) */
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11 config %s: unknown field \"%.64s\" (crypto11 fields: Path, "
			"TokenLabel, TokenSerial, SlotNumber, Pin, MaxSessions, UserType, "
			"PoolWaitTimeout, LoginNotSupported)",
			name, key);
	}
	return FC_OK;
}

/*
 * Parse crypto11's JSON configuration (hsm.h). Field names match
 * case-insensitively, as Go's encoding/json does (a field given in two
 * spellings takes the last value). crypto11's AES-GCM fields are accepted
 * and ignored; any other field is refused (a typo would otherwise go
 * unnoticed). Returns FC_OK with *out (free with hsm_p11_config_free),
 * else FC_ECONFIG with the reason; the Pin never appears in a message.
 */
enum fc_status hsm_p11_config_parse_crypto11(const char *json, size_t len, const char *name,
					     struct hsm_p11_config **out, struct fc_err *err)
{
	struct hsm_p11_config *c = NULL;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *key;
	enum fc_status st = FC_ECONFIG;
	bool handled;
	int selectors;

	if (name == NULL)
		name = "(memory)";
	if (json == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11 config: missing argument");
	if (len > HSM_P11_MAX_CONFIG_BYTES)
		return fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: larger than %d bytes", name,
				  HSM_P11_MAX_CONFIG_BYTES);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson's text quotes at most a token of the input; keep only
		 * the position so that a Pin cannot leak into a log. */
		fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: not valid JSON (line %d, column %d)",
			   name, jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: not a JSON object", name);
		goto out;
	}
	c = config_new();
	json_object_foreach(root, key, v)
	{
		if ((st = crypto11_string(c, key, v, name, &handled, err)) != FC_OK ||
		    (!handled && (st = crypto11_other(c, key, v, name, err)) != FC_OK))
			goto out;
	}
	st = FC_ECONFIG;
	if (c->module_path == NULL) {
		fc_err_set(err, FC_ECONFIG,
			   "pkcs11 config %s: Path (the PKCS#11 module) is missing", name);
		goto out;
	}
	selectors = (c->token_label != NULL) + (c->token_serial != NULL) + c->has_slot;
	if (selectors != 1) {
		fc_err_set(err, FC_ECONFIG,
			   "pkcs11 config %s: exactly one of TokenLabel, TokenSerial or SlotNumber "
			   "must be set (%d are)",
			   name, selectors);
		goto out;
	}
	config_hand_over(c, out);
	c = NULL;
	st = FC_OK;
out:
	hsm_p11_config_free(c);
	json_decref(root); /* the Pin's string was wiped; the file copy is wiped by the caller */
	return st;
}

/* path made absolute against the current directory, for reading it again
 * later. Symbolic links are kept: a secret volume that swaps a link (as
 * Kubernetes does) must be followed at each read. Caller frees. */
static char *path_absolute(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return fc_xstrdup(path);
	return fc_xasprintf("%s/%s", cwd, path);
}

/*
 * Load crypto11's JSON configuration from path (hsm.h). The file's text is
 * wiped after parsing. A Pin is not kept: the file is read again at each
 * login (p11_pin_fetch). Returns FC_OK with *out, else FC_ECONFIG with the
 * reason in err.
 */
enum fc_status hsm_p11_config_load_crypto11(const char *path, struct hsm_p11_config **out,
					    struct fc_err *err)
{
	struct hsm_p11_config *c = NULL;
	char *text = NULL;
	size_t len = 0;
	enum fc_status st;

	if (path == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11 config: missing path");
	st = fc_read_secret_file(path, HSM_P11_MAX_CONFIG_BYTES, "pkcs11 config", &text, &len, NULL,
				 err);
	if (st != FC_OK)
		return st == FC_ENOTFOUND ? FC_ECONFIG : st;
	st = hsm_p11_config_parse_crypto11(text, len, path, &c, err);
	fc_memzero(text, len);
	free(text);
	if (st != FC_OK)
		return st;
	if (c->pin_from == HSM_P11_PIN_VALUE) {
		fc_free_secret(c->pin);
		c->pin = NULL;
		c->pin_from = HSM_P11_PIN_CRYPTO11;
		c->pin_path = path_absolute(path);
	}
	*out = c;
	return FC_OK;
}

/* Read a PIN file: the first line, without its line ending. *out is
 * malloc'd (wipe it with fc_free_secret); *sb (if not NULL) receives the
 * file's status. */
static enum fc_status read_pin_file(const char *path, char **out, struct stat *sb,
				    struct fc_err *err)
{
	char *text = NULL;
	size_t len = 0, n;
	enum fc_status st;

	st = fc_read_secret_file(path, HSM_P11_MAX_PIN_LEN + 2, "pkcs11 PIN file", &text, &len, sb,
				 err);
	if (st != FC_OK)
		return st == FC_ENOTFOUND ? FC_ECONFIG : st;
	n = strcspn(text, "\r\n");
	if (n == 0 || memchr(text, '\0', len) != NULL) {
		fc_memzero(text, len);
		free(text);
		return fc_err_set(err, FC_ECONFIG, "pkcs11 PIN file %s: empty, or holds a NUL byte",
				  path);
	}
	if (n > HSM_P11_MAX_PIN_LEN) {
		fc_memzero(text, len);
		free(text);
		return fc_err_set(err, FC_ECONFIG, "pkcs11 PIN file %s: longer than %d bytes", path,
				  HSM_P11_MAX_PIN_LEN);
	}
	*out = fc_xstrndup(text, n);
	fc_memzero(text, len);
	free(text);
	return FC_OK;
}

/*
 * Fetch the PIN again from the file hsm_p11_config_resolve_pin or
 * hsm_p11_config_load_crypto11 settled on: a PIN file's first line, or
 * the Pin of a crypto11 JSON file (which must still be a valid
 * configuration). Returns FC_OK with *pin malloc'd and NUL-terminated
 * (wipe it with fc_free_secret as soon as C_Login returns) and *sb the
 * file's status; else FC_ECONFIG naming the file, never the PIN, or
 * FC_EINTERNAL when the PIN is not in a file.
 */
enum fc_status p11_pin_fetch(const struct hsm_p11_config *c, char **pin, struct stat *sb,
			     struct fc_err *err)
{
	struct hsm_p11_config *tmp = NULL;
	char *text = NULL;
	size_t len = 0;
	enum fc_status st;

	switch (c->pin_from) {
	case HSM_P11_PIN_FILE: return read_pin_file(c->pin_path, pin, sb, err);
	case HSM_P11_PIN_CRYPTO11:
		st = fc_read_secret_file(c->pin_path, HSM_P11_MAX_CONFIG_BYTES, "pkcs11 config",
					 &text, &len, sb, err);
		if (st != FC_OK)
			return FC_ECONFIG;
		st = hsm_p11_config_parse_crypto11(text, len, c->pin_path, &tmp, err);
		fc_memzero(text, len);
		free(text);
		if (st != FC_OK)
			return st;
		if (tmp->pin == NULL) {
			hsm_p11_config_free(tmp);
			return fc_err_set(err, FC_ECONFIG, "pkcs11 config %s: the Pin is gone",
					  c->pin_path);
		}
		*pin = tmp->pin;
		tmp->pin = NULL;
		hsm_p11_config_free(tmp);
		return FC_OK;
	default: return fc_err_set(err, FC_EINTERNAL, "pkcs11: the PIN is not in a file");
	}
}

/*
 * Settle where the PIN comes from (hsm.h): FULCRUM_PKCS11_PIN (copied as
 * a literal, wiped in the environment and unset), else pin_file, else the
 * URI's pin-source ("file:" URI or a path), else the configuration's own
 * (a pin-value literal, or the crypto11 file's Pin). A PIN file is read
 * once here to refuse a bad one at start, then wiped; the login reads it
 * again. Returns FC_OK, or FC_ECONFIG naming the file (never the PIN).
 */
enum fc_status hsm_p11_config_resolve_pin(struct hsm_p11_config *c, const char *pin_file,
					  struct fc_err *err)
{
	char *env = getenv(HSM_P11_PIN_ENV);
	char *pin = NULL;
	const char *src = pin_file;
	enum fc_status st;

	if (c == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: no configuration");
	if (env != NULL) {
		size_t n = strlen(env);
		if (n == 0 || n > HSM_P11_MAX_PIN_LEN) {
			fc_memzero(env, n);
			unsetenv(HSM_P11_PIN_ENV);
			return fc_err_set(err, FC_ECONFIG,
					  "pkcs11: %s is empty or longer than %d "
					  "bytes",
					  HSM_P11_PIN_ENV, HSM_P11_MAX_PIN_LEN);
		}
		pin = fc_xstrdup(env);
		fc_memzero(env, n);
		unsetenv(HSM_P11_PIN_ENV);
		fc_free_secret(c->pin);
		c->pin = pin;
		free(c->pin_path);
		c->pin_path = NULL;
		c->pin_from = HSM_P11_PIN_VALUE;
		return FC_OK;
	}
	if (src == NULL && c->pin_source != NULL) {
		src = c->pin_source;
		/* RFC 7512 2.4: pin-source is a URI; accept file: URIs and
		 * paths */
		if (strncmp(src, "file://", 7) == 0)
			src += 7;
		else if (strncmp(src, "file:", 5) == 0)
			src += 5;
		else if (strchr(src, ':') != NULL && src[0] != '/')
			return fc_err_set(err, FC_ECONFIG,
					  "pkcs11 URI: pin-source \"%s\": only file: URIs and "
					  "paths are supported",
					  c->pin_source);
	}
	if (src == NULL)
		return FC_OK; /* the configuration's own PIN, or none */
	if ((st = read_pin_file(src, &pin, NULL, err)) != FC_OK)
		return st;
	fc_free_secret(pin);
	fc_free_secret(c->pin);
	c->pin = NULL;
	free(c->pin_path);
	c->pin_path = path_absolute(src);
	c->pin_from = HSM_P11_PIN_FILE;
	return FC_OK;
}
