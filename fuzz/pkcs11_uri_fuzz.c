/*
 * pkcs11_uri_fuzz: where a PKCS#11 key is (hsm/pkcs11_uri.c). Every input
 * goes to both parsers of that file:
 *   - hsm_p11_config_parse_uri, RFC 7512 PKCS#11 URIs (the text up to the
 *     first NUL): attribute names, percent-encoding, duplicates, limits;
 *   - hsm_p11_config_parse_crypto11, crypto11's JSON configuration.
 * Invariants: a refusal leaves no configuration and a message; a
 * configuration holds what the parser promises (limits, one token
 * selector, where the PIN comes from); and a PIN never appears in a
 * message: a message that holds the pin-value (or the JSON Pin) must hold
 * it as well when the same input is parsed with another PIN of the same
 * length and kind, i.e. only by coincidence with the message's own text.
 *
 * Seeds: fuzz/corpus/pkcs11_uri (URIs and crypto11 files, good and bad).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "fuzz.h"
#include "hsm.h"
#include "pkcs11_int.h"

/* A PIN shorter than this is too likely to appear in a message's own text. */
#define MIN_CHECKED_PIN 6

static bool alnum_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

/* Another alphanumeric string of the same length, different at each byte. */
static void other_pin(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		s[i] = s[i] == 'Z' ? 'Y' : 'Z';
}

static bool has(const char *msg, const char *needle, size_t len)
{
	return memmem(msg, strlen(msg), needle, len) != NULL;
}

static bool str_ok(const char *s, size_t max)
{
	return s == NULL || strlen(s) <= max;
}

/* What every configuration promises, from either parser. */
static void check_config(const struct hsm_p11_config *c, size_t max)
{
	const char *strs[] = {
		c->module_path,		c->module_name,	       c->token_label,
		c->token_serial,	c->token_manufacturer, c->token_model,
		c->slot_description,	c->slot_manufacturer,  c->library_manufacturer,
		c->library_description, c->library_version,    c->object_label,
		c->object_type,		c->pin_source};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		FUZZ_CHECK(str_ok(strs[i], max));
	FUZZ_CHECK((c->object_id == NULL) == (c->object_id_len == 0));
	FUZZ_CHECK(c->object_id_len <= HSM_P11_MAX_ATTR_LEN);
	FUZZ_CHECK((c->pin != NULL) == (c->pin_from == HSM_P11_PIN_VALUE));
	FUZZ_CHECK(str_ok(c->pin, HSM_P11_MAX_PIN_LEN));
	FUZZ_CHECK(c->pin_path == NULL);
	FUZZ_CHECK(c->user_type <= 2);
	FUZZ_CHECK(c->max_sessions <= P11_MAX_SESSIONS);
	FUZZ_CHECK(c->pool_wait_ms >= 0);
}

/* An RFC 7512 URI's own promises (hsm.h). */
static void check_uri_config(const struct hsm_p11_config *c)
{
	static const char *const types[] = {"public", "private", "cert", "secret-key", "data"};
	bool type_ok = c->object_type == NULL;

	check_config(c, HSM_P11_MAX_ATTR_LEN);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		type_ok |= c->object_type != NULL && strcmp(c->object_type, types[i]) == 0;
	FUZZ_CHECK(type_ok);
	FUZZ_CHECK(c->pin == NULL || c->pin_source == NULL);
	FUZZ_CHECK(c->user_type == CKU_USER);
	if (c->library_version != NULL) {
		const char *v = c->library_version;
		size_t major = strspn(v, "0123456789");
		FUZZ_CHECK(major > 0);
		FUZZ_CHECK(v[major] == '\0' ||
			   (v[major] == '.' && v[major + 1] != '\0' &&
			    strspn(v + major + 1, "0123456789") == strlen(v + major + 1)));
	}
}

/* The message of a refused URI, or NULL when it parses (checked). */
static char *uri_message(const char *uri)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};

	if (hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK) {
		FUZZ_CHECK(c != NULL);
		check_uri_config(c);
		hsm_p11_config_free(c);
		return NULL;
	}
	FUZZ_CHECK(c == NULL);
	FUZZ_CHECK(err.status == FC_ECONFIG);
	FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL && err.msg[0] != '\0');
	return fc_xstrdup(err.msg);
}

/* The first pin-value of the query, when it is worth checking: off and
 * len of its raw value in uri. */
static bool uri_pin_value(const char *uri, size_t *off, size_t *len)
{
	const char *a = strchr(uri, '?');

	for (a = a != NULL ? a + 1 : NULL; a != NULL;) {
		const char *e = strchr(a, '&');
		size_t alen = e != NULL ? (size_t)(e - a) : strlen(a);

		if (alen > 10 && memcmp(a, "pin-value=", 10) == 0) {
			*off = (size_t)(a + 10 - uri);
			*len = alen - 10;
			return *len >= MIN_CHECKED_PIN && alnum_only(uri + *off, *len);
		}
		a = e != NULL ? e + 1 : NULL;
	}
	return false;
}

static void fuzz_uri(const uint8_t *d, size_t n)
{
	char *uri = fuzz_strndup(d, n), *other = NULL, *msg, *msg2;
	size_t off = 0, len = 0;

	msg = uri_message(uri);
	if (msg != NULL && uri_pin_value(uri, &off, &len)) {
		other = fc_xstrdup(uri);
		other_pin(other + off, len);
		msg2 = uri_message(other);
		FUZZ_CHECK(msg2 != NULL);
		FUZZ_CHECK(!has(msg, uri + off, len) || has(msg2, uri + off, len));
		free(msg2);
	}
	free(msg);
	free(other);
	free(uri);
}

/* The message of a refused crypto11 file, or NULL when it parses. */
static char *crypto11_message(const char *json, size_t len)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};

	if (hsm_p11_config_parse_crypto11(json, len, "fuzz.json", &c, &err) == FC_OK) {
		FUZZ_CHECK(c != NULL);
		check_config(c, 4096);
		FUZZ_CHECK(c->module_path != NULL);
		FUZZ_CHECK((c->token_label != NULL) + (c->token_serial != NULL) + c->has_slot == 1);
		FUZZ_CHECK(c->pin == NULL || c->pin[0] != '\0');
		hsm_p11_config_free(c);
		return NULL;
	}
	FUZZ_CHECK(c == NULL);
	FUZZ_CHECK(err.status == FC_ECONFIG);
	FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL && err.msg[0] != '\0');
	return fc_xstrdup(err.msg);
}

/* The one Pin field (any case) of a JSON object, when worth checking. */
static const char *json_pin(json_t *root)
{
	const char *key, *pin = NULL;
	json_t *v;
	int n = 0;

	if (!json_is_object(root))
		return NULL;
	json_object_foreach(root, key, v)
	{
		if (strcasecmp(key, "Pin") != 0)
			continue;
		n++;
		pin = json_is_string(v) ? json_string_value(v) : NULL;
	}
	if (n != 1 || pin == NULL || strlen(pin) < MIN_CHECKED_PIN || !alnum_only(pin, strlen(pin)))
		return NULL;
	return pin;
}

/* json with the bytes of the Pin (at one of its places) replaced by
 * another PIN, and nothing else changed; NULL when no place is the Pin. */
static char *json_other_pin(const char *json, size_t len, json_t *root, const char *pin)
{
	size_t plen = strlen(pin);
	const char *at = json;

	for (int tries = 0; tries < 8; tries++) {
		char *copy, *pin2;
		json_t *root2;
		bool same = false;

		at = memmem(at, len - (size_t)(at - json), pin, plen);
		if (at == NULL)
			return NULL;
		copy = fc_xmalloc(len + 1);
		memcpy(copy, json, len);
		copy[len] = '\0';
		pin2 = copy + (at - json);
		other_pin(pin2, plen);
		root2 = json_loadb(copy, len, JSON_REJECT_DUPLICATES, NULL);
		if (root2 != NULL && json_pin(root2) != NULL &&
		    memcmp(json_pin(root2), pin2, plen) == 0) {
			json_t *back = json_deep_copy(root2);
			const char *key;
			json_t *v;

			json_object_foreach(back, key, v)
			{
				if (strcasecmp(key, "Pin") == 0)
					json_string_set(v, pin);
			}
			same = json_equal(back, root);
			json_decref(back);
		}
		json_decref(root2);
		if (same)
			return copy;
		free(copy);
		at++;
	}
	return NULL;
}

static void fuzz_crypto11(const uint8_t *d, size_t n)
{
	const char *json = (const char *)d;
	char *msg = crypto11_message(json, n), *other = NULL, *msg2;
	json_t *root = NULL;
	const char *pin;

	if (msg != NULL && (root = json_loadb(json, n, JSON_REJECT_DUPLICATES, NULL)) != NULL &&
	    (pin = json_pin(root)) != NULL &&
	    (other = json_other_pin(json, n, root, pin)) != NULL) {
		msg2 = crypto11_message(other, n);
		FUZZ_CHECK(msg2 != NULL);
		FUZZ_CHECK(!has(msg, pin, strlen(pin)) || has(msg2, pin, strlen(pin)));
		free(msg2);
	}
	json_decref(root);
	free(other);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	fuzz_log_all();
	fuzz_uri(d, n);
	fuzz_crypto11(d, n);
	return 0;
}
