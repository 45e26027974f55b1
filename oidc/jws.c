/*
 * Compact JWS parsing (RFC 7515 7.1). Nothing is verified here except the
 * form: three strict base64url parts, two JSON objects without duplicate
 * member names, and a header that names an allowed asymmetric algorithm and
 * asks for no extension we do not understand. The signature itself is
 * checked by oidc_jws_verify() (jwk.c) against a key the caller picks.
 *
 * Messages never quote the token or its signature; they may quote a header
 * value or a fragment of the claims (sanitized to printable ASCII).
 */
#include <stdlib.h>
#include <string.h>

#include "oidc_int.h"

/* RFC 7518 3.1 asymmetric algorithms, plus EdDSA (RFC 8037 3.1). Never
 * "none" (RFC 7518 3.6) nor the HMAC family, whose "key" would be public. */
static const char *const allowed_algs[] = {
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
};
#define ALLOWED_ALGS_TEXT "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"

/* Longest attacker-chosen string quoted in a message. */
#define QUOTE_MAX 64

/*
 * Copy at most max bytes of s into dst (of size cap) as printable ASCII:
 * other bytes become '?', and a cut string ends in "...". Keeps control
 * characters and newlines out of logs and HTTP bodies.
 */
static void quote_clean(char *dst, size_t cap, const char *s, size_t max)
{
	size_t o = 0, i;

	for (i = 0; s[i] != '\0' && i < max && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (s[i] != '\0' && o + 3 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/*
 * True if alg is one of the JWS algorithms we accept (see allowed_algs).
 */
bool oidc_alg_allowed(const char *alg)
{
	if (alg == NULL)
		return false;
	for (size_t i = 0; i < sizeof(allowed_algs) / sizeof(allowed_algs[0]); i++)
		if (strcmp(alg, allowed_algs[i]) == 0)
			return true;
	return false;
}

/*
 * Decode one base64url part into work (FC_B64URL_DECODED_MAX(len) bytes)
 * and parse it as a JSON object with jansson, duplicate member names
 * refused. what is "header" or "payload", for messages.
 */
static enum fc_status decode_object(const char *part, size_t len, const char *what, uint8_t *work,
				    json_t **out, struct fc_err *err)
{
	size_t raw_len = 0;
	json_error_t jerr;
	json_t *obj;

	if (len == 0)
		return fc_err_set(err, FC_EAUTH, "token: %s is empty (RFC 7515 7.1)", what);
	if (!fc_b64url_decode_into(part, len, work, &raw_len))
		return fc_err_set(err, FC_EAUTH,
				  "token: %s is not strict unpadded base64url (RFC 7515 2)", what);
	obj = json_loadb((const char *)work, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	/* Go's decoder reads every number as a float64; jansson refuses an
	 * integer beyond int64. Read such a document as Go does (numbers as
	 * doubles) rather than refusing a token Fulcio accepts. */
	if (obj == NULL && strstr(jerr.text, "too big") != NULL)
		obj = json_loadb((const char *)work, raw_len,
				 JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	if (obj == NULL)
		return fc_err_set(err, FC_EAUTH, "token: %s is not valid JSON: %s (line %d col %d)",
				  what, jerr.text, jerr.line, jerr.column);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return fc_err_set(err, FC_EAUTH,
				  "token: %s is not a JSON object (RFC 7515 4, RFC 7519 7.2)",
				  what);
	}
	*out = obj;
	return FC_OK;
}

/*
 * Refuse a "crit" header (RFC 7515 4.1.11): we implement no extension, so
 * any listed name is one we do not understand. Names the listed extensions.
 */
static enum fc_status refuse_crit(const json_t *crit, struct fc_err *err)
{
	char names[256] = "";
	size_t used = 0, i;
	json_t *v;

	if (!json_is_array(crit) || json_array_size(crit) == 0)
		return fc_err_set(err, FC_EAUTH,
				  "token header: crit must be a non-empty array of names and "
				  "no extension is supported (RFC 7515 4.1.11)");
	json_array_foreach(crit, i, v)
	{
		char q[QUOTE_MAX + 8];
		int n;

		if (!json_is_string(v))
			return fc_err_set(
				err, FC_EAUTH,
				"token header: crit lists a non-string (RFC 7515 4.1.11)");
		quote_clean(q, sizeof(q), json_string_value(v), 32);
		n = snprintf(names + used, sizeof(names) - used, "%s\"%s\"", i ? ", " : "", q);
		if (n < 0 || (size_t)n >= sizeof(names) - used)
			break;
		used += (size_t)n;
	}
	return fc_err_set(err, FC_EAUTH,
			  "token header: crit names extensions we do not understand: %s "
			  "(RFC 7515 4.1.11)",
			  names);
}

/* Check the protected header's members (RFC 7515 4.1) and fill jws->alg/kid. */
static enum fc_status check_header(struct oidc_jws *jws, struct fc_err *err)
{
	const json_t *alg, *kid, *crit, *b64, *typ;
	char q[QUOTE_MAX + 8];

	alg = json_object_get(jws->header, "alg");
	if (alg == NULL)
		return fc_err_set(err, FC_EAUTH, "token header: alg is missing (RFC 7515 4.1.1)");
	if (!json_is_string(alg))
		return fc_err_set(err, FC_EAUTH,
				  "token header: alg is not a string (RFC 7515 4.1.1)");
	if (!oidc_alg_allowed(json_string_value(alg))) {
		quote_clean(q, sizeof(q), json_string_value(alg), QUOTE_MAX);
		return fc_err_set(err, FC_EAUTH,
				  "token header: alg \"%s\" is not allowed (allowed: %s)", q,
				  ALLOWED_ALGS_TEXT);
	}
	crit = json_object_get(jws->header, "crit");
	if (crit != NULL)
		return refuse_crit(crit, err);
	/* RFC 7797 3: an unencoded payload. Its "b64" must be listed in crit,
	 * which we refuse above; refuse a stray false as well. */
	b64 = json_object_get(jws->header, "b64");
	if (b64 != NULL && !json_is_boolean(b64))
		return fc_err_set(err, FC_EAUTH, "token header: b64 is not a boolean (RFC 7797 3)");
	if (json_is_false(b64))
		return fc_err_set(err, FC_EAUTH,
				  "token header: b64 false (unencoded payload) is not supported "
				  "(RFC 7797 3)");
	kid = json_object_get(jws->header, "kid");
	if (kid != NULL && !json_is_string(kid))
		return fc_err_set(err, FC_EAUTH,
				  "token header: kid is not a string (RFC 7515 4.1.4)");
	/* Any typ value is accepted, as go-oidc does ("JWT", "at+jwt", ...);
	 * only its type is checked. */
	typ = json_object_get(jws->header, "typ");
	if (typ != NULL && !json_is_string(typ))
		return fc_err_set(err, FC_EAUTH,
				  "token header: typ is not a string (RFC 7515 4.1.9)");
	jws->alg = json_string_value(alg);
	jws->kid = kid != NULL ? json_string_value(kid) : NULL;
	return FC_OK;
}

/*
 * Parse a compact JWS (RFC 7515 7.1): BASE64URL(header) '.' BASE64URL(payload)
 * '.' BASE64URL(signature), each strictly decoded, header and payload JSON
 * objects without duplicate member names, the header's alg in the allow-list
 * and no crit. The signature is not checked here (oidc_jws_verify).
 * Returns FC_OK and *out (free with oidc_jws_free), FC_ETOOBIG over
 * OIDC_MAX_TOKEN_LEN, else FC_EAUTH; the reason is written to err.
 */
enum fc_status oidc_jws_parse(const char *token, size_t len, struct oidc_jws **out,
			      struct fc_err *err)
{
	struct oidc_jws *jws = NULL;
	const char *dot1, *dot2, *sig_part;
	size_t ndots = 0, sig_part_len, hdr_len, pl_len, work_len;
	uint8_t work_stack[4096], *work, *work_heap = NULL;
	enum fc_status st = FC_EAUTH;

	if (len > OIDC_MAX_TOKEN_LEN)
		return fc_err_set(err, FC_ETOOBIG, "token: %zu bytes, over the limit of %d", len,
				  OIDC_MAX_TOKEN_LEN);
	if (token == NULL || len == 0)
		return fc_err_set(err, FC_EAUTH, "token: empty");
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		for (size_t i = 0; i < len; i++)
			if (token[i] == '.')
				ndots++;
		return fc_err_set(err, FC_EAUTH,
				  "token: has %zu parts, a compact JWS has 3 (RFC 7515 7.1)",
				  ndots + 1);
	}
	sig_part = dot2 + 1;
	sig_part_len = len - (size_t)(sig_part - token);
	hdr_len = (size_t)(dot1 - token);
	pl_len = (size_t)(dot2 - dot1 - 1);

	/* One work area for the decoded JSON parts, on the stack for common
	 * tokens: a heap block this size is a "large" malloc request. */
	work_len = FC_B64URL_DECODED_MAX(hdr_len > pl_len ? hdr_len : pl_len);
	work = work_len <= sizeof(work_stack) ? work_stack : (work_heap = fc_xmalloc(work_len));
	/* One block holds the struct, the signing input copy and the decoded
	 * signature (all bounded by OIDC_MAX_TOKEN_LEN); oidc_jws_free frees
	 * it whole. */
	jws = fc_xmalloc(sizeof(*jws) + (size_t)(dot2 - token) + 1 +
			 FC_B64URL_DECODED_MAX(sig_part_len));
	memset(jws, 0, sizeof(*jws));
	if ((st = decode_object(token, hdr_len, "header", work, &jws->header, err)) != FC_OK)
		goto out;
	if ((st = check_header(jws, err)) != FC_OK)
		goto out;
	if ((st = decode_object(dot1 + 1, pl_len, "payload", work, &jws->claims, err)) != FC_OK)
		goto out;
	st = FC_EAUTH;
	if (sig_part_len == 0) {
		fc_err_set(err, FC_EAUTH, "token: signature is empty (RFC 7515 7.1)");
		goto out;
	}
	jws->signing_input_len = (size_t)(dot2 - token);
	jws->signing_input = (char *)(jws + 1);
	jws->sig = (uint8_t *)jws->signing_input + jws->signing_input_len + 1;
	if (!fc_b64url_decode_into(sig_part, sig_part_len, jws->sig, &jws->sig_len)) {
		fc_err_set(err, FC_EAUTH,
			   "token: signature is not strict unpadded base64url (RFC 7515 2)");
		goto out;
	}
	memcpy(jws->signing_input, token, jws->signing_input_len);
	jws->signing_input[jws->signing_input_len] = '\0';

	*out = jws;
	jws = NULL;
	st = FC_OK;
out:
	free(work_heap);
	oidc_jws_free(jws);
	return st;
}

/*
 * Free a parsed JWS. NULL is fine.
 */
void oidc_jws_free(struct oidc_jws *jws)
{
	if (jws == NULL)
		return;
	json_decref(jws->header);
	json_decref(jws->claims);
	free(jws); /* with its signing input and signature (oidc_jws_parse) */
}
