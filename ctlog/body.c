/*
 * The add-chain / add-pre-chain request body (RFC 6962 4.1, 4.2):
 * {"chain": [base64 DER, ...]}. Every CA sends it in the same plain shape
 * (one key, strings of base64 characters, no escapes), which is read here
 * by a strict scanner without building a JSON tree: under load, jansson's
 * tree of a 5 KB body cost a tenth of the log's CPU per entry. Any other
 * shape, valid JSON or not, goes to jansson (duplicate keys refused), so
 * that the answer and its reason are what they would have been anyway.
 */
#include <jansson.h>
#include <string.h>

#include "ctlog_srv_int.h"

struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool take(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p == s->end || *s->p != c)
		return false;
	s->p++;
	return true;
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* "base64 characters": a view of them in *v, *n. */
static bool take_b64_string(struct scan *s, const char **v, size_t *n)
{
	const char *start;

	if (!take(s, '"'))
		return false;
	start = s->p;
	while (s->p < s->end && is_b64(*s->p))
		s->p++;
	if (s->p == s->end || *s->p != '"')
		return false;
	*v = start;
	*n = (size_t)(s->p - start);
	s->p++;
	return true;
}

/* The plain shape only; false (out untouched) for anything else. */
static bool scan_plain(const uint8_t *body, size_t len, struct ctlog_chain_body *out)
{
	struct scan s = {(const char *)body, (const char *)body + len};
	struct ctlog_chain_body b = {.n = 0};

	if (!take(&s, '{') || !take(&s, '"') || (size_t)(s.end - s.p) < 6 ||
	    memcmp(s.p, "chain\"", 6) != 0)
		return false;
	s.p += 6;
	if (!take(&s, ':') || !take(&s, '['))
		return false;
	if (!take(&s, ']')) {
		do {
			if (b.n == CTLOG_SRV_MAX_CHAIN)
				return false; /* jansson counts them for the message */
			if (!take_b64_string(&s, &b.s[b.n], &b.len[b.n]))
				return false;
			b.n++;
		} while (take(&s, ','));
		if (!take(&s, ']'))
			return false;
	}
	if (!take(&s, '}'))
		return false;
	skip_ws(&s);
	if (s.p != s.end)
		return false;
	*out = b;
	return true;
}

/* The same through jansson, with the reasons of every refusal. */
static enum fc_status parse_json(const uint8_t *body, size_t len, struct ctlog_chain_body *out,
				 struct fc_err *err)
{
	json_error_t jerr;
	json_t *chain;
	size_t n;

	out->doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (out->doc == NULL || !json_is_object(out->doc))
		return fc_err_set(err, FC_EINPUT, "body is not a JSON object");
	chain = json_object_get(out->doc, "chain");
	if (!json_is_array(chain))
		return fc_err_set(err, FC_EINPUT, "\"chain\" is missing or not an array");
	if ((n = json_array_size(chain)) == 0)
		return fc_err_set(err, FC_EINPUT, "\"chain\" is empty");
	if (n > CTLOG_SRV_MAX_CHAIN)
		return fc_err_set(err, FC_EINPUT, "\"chain\" has %zu certificates, over the limit "
						  "of %d",
				  n, CTLOG_SRV_MAX_CHAIN);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(chain, i);

		/* a non-string is refused when its turn comes (ctlog_entry_from_chain) */
		out->s[i] = json_is_string(v) ? json_string_value(v) : NULL;
		out->len[i] = json_is_string(v) ? json_string_length(v) : 0;
	}
	out->n = n;
	return FC_OK;
}

/*
 * Read the chain of an add-(pre-)chain body (ctlog_srv_int.h): 1 to
 * CTLOG_SRV_MAX_CHAIN elements. FC_EINPUT with the reason; clear *out with
 * ctlog_body_clear either way.
 */
enum fc_status ctlog_body_parse(const uint8_t *body, size_t len, struct ctlog_chain_body *out,
				struct fc_err *err)
{
	memset(out, 0, sizeof(*out));
	if (scan_plain(body, len, out)) {
		if (out->n == 0)
			return fc_err_set(err, FC_EINPUT, "\"chain\" is empty");
		return FC_OK;
	}
	return parse_json(body, len, out, err);
}

void ctlog_body_clear(struct ctlog_chain_body *b)
{
	json_decref(b->doc);
	memset(b, 0, sizeof(*b));
}
