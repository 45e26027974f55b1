/*
 * Trust material read from the running services: the CA's chains (GET
 * /api/v2/trustBundle, Fulcio's API), a TSA's chain (GET
 * .../certchain, sigstore timestamp-authority's API), a Rekor v1 key (GET
 * /api/v1/log/publicKey), and a Rekor v2 checkpoint (GET
 * /api/v2/checkpoint) to check the key and origin the trusted root will
 * carry against what the log really signs. Every answer is capped while it
 * streams in; no redirect is followed.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "trust_int.h"

struct sink {
	struct fc_buf buf;
	bool too_big;
};

static size_t sink_write(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	if (!fc_buf_append(&s->buf, p, size * n)) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	return size * n;
}

static bool http_only(CURL *c)
{
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: CURLOPT_PROTOCOLS is deprecated */
	return curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	return curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	       CURLE_OK;
#endif
}

/* GET url: see trust.h. */
enum fc_status trust_fetch(const char *url, size_t max, long timeout_ms, char **out, size_t *len,
			   struct fc_err *err)
{
	struct sink s = {.too_big = false};
	CURL *c = curl_easy_init();
	CURLcode rc;
	long code = 0;
	enum fc_status st = FC_EUPSTREAM;

	*out = NULL;
	*len = 0;
	fc_buf_init(&s.buf, max);
	if (c == NULL || !http_only(c) || curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "fulcrum-trust") != CURLE_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "GET %s: cannot set up libcurl", url);
		goto out;
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (s.too_big)
		fc_err_set(err, FC_EUPSTREAM, "GET %s: answer larger than %zu bytes", url, max);
	else if (rc != CURLE_OK)
		fc_err_set(err, FC_EUPSTREAM, "GET %s: %s", url, curl_easy_strerror(rc));
	else if (code != 200)
		fc_err_set(err, FC_EUPSTREAM, "GET %s: HTTP status %ld", url, code);
	else
		st = FC_OK;
out:
	curl_easy_cleanup(c);
	if (st == FC_OK)
		*out = fc_buf_steal(&s.buf, len);
	fc_buf_free(&s.buf);
	return st;
}

/* {"chains":[{"certificates":["PEM", ...]}, ...]} into PEM texts. */
static enum fc_status parse_trust_bundle(const char *body, size_t len, const char *url,
					 char ***chains, size_t *n, struct fc_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *arr = json_object_get(doc, "chains"), *chain;
	enum fc_status st = FC_EUPSTREAM;
	size_t i, k = 0;
	char **out = NULL;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > TRUST_MAX_ENTRIES) {
		fc_err_set(err, FC_EUPSTREAM, "%s: not a trust bundle ({\"chains\":[...]})", url);
		goto out;
	}
	out = fc_xcalloc(json_array_size(arr), sizeof(*out));
	json_array_foreach(arr, i, chain)
	{
		json_t *certs = json_object_get(chain, "certificates"), *c;
		struct fc_buf pem;
		size_t j;

		if (!json_is_array(certs) || json_array_size(certs) == 0) {
			fc_err_set(err, FC_EUPSTREAM, "%s: chain %zu has no certificates", url,
				   i + 1);
			goto out;
		}
		fc_buf_init(&pem, TRUST_MAX_PEM_BYTES);
		json_array_foreach(certs, j, c)
		{
			const char *s = json_string_value(c);
			if (s == NULL || !fc_buf_append_str(&pem, s) ||
			    !fc_buf_append_str(&pem, "\n")) {
				fc_buf_free(&pem);
				fc_err_set(err, FC_EUPSTREAM,
					   "%s: chain %zu: certificate %zu is not a "
					   "PEM string (or too large)",
					   url, i + 1, j + 1);
				goto out;
			}
		}
		out[k++] = fc_buf_steal(&pem, NULL);
		fc_buf_free(&pem);
	}
	*chains = out;
	*n = k;
	out = NULL;
	st = FC_OK;
out:
	if (out != NULL) {
		for (i = 0; i < k; i++)
			free(out[i]);
		free(out);
	}
	json_decref(doc);
	return st;
}

/* The CA's chains (see trust.h). */
enum fc_status trust_fetch_ca_chains(const char *ca_url, long timeout_ms, char ***chains, size_t *n,
				     struct fc_err *err)
{
	char *base = NULL, *url, *body = NULL;
	size_t len = 0;
	enum fc_status st;

	*chains = NULL;
	*n = 0;
	if ((st = trust_url_normalise(ca_url, "--ca url", &base, err)) != FC_OK)
		return st;
	url = fc_xasprintf("%s/api/v2/trustBundle", base);
	if ((st = trust_fetch(url, TRUST_MAX_PEM_BYTES, timeout_ms, &body, &len, err)) == FC_OK)
		st = parse_trust_bundle(body, len, url, chains, n, err);
	free(body);
	free(url);
	free(base);
	return st;
}

/* The C2SP signed-note signature separator: an em dash and a space. */
#define NOTE_SIG_PREFIX "\xe2\x80\x94 "

/*
 * Find the signature line of origin with key id id (4 bytes) in the
 * signature block sigs[0..n) and verify it over body. 1 verified, 0 no
 * such line, -1 a line that does not verify.
 */
static int note_signed_by(const char *sigs, size_t n, const char *origin, EVP_PKEY *key,
			  const uint8_t *id, const char *body, size_t body_len)
{
	const char *p = sigs, *end = sigs + n;
	size_t plen = strlen(NOTE_SIG_PREFIX), olen = strlen(origin);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *b64 = p + plen + olen + 1;
		uint8_t *sig = NULL;
		size_t sig_len = 0;
		int r = 0;

		if ((size_t)(line_end - p) > plen + olen + 1 &&
		    memcmp(p, NOTE_SIG_PREFIX, plen) == 0 && memcmp(p + plen, origin, olen) == 0 &&
		    p[plen + olen] == ' ' &&
		    fc_b64_decode_any(b64, (size_t)(line_end - b64), &sig, &sig_len) &&
		    sig_len > 4 && memcmp(sig, id, 4) == 0)
			r = trust_note_verify(key, (const uint8_t *)body, body_len, sig + 4,
					      sig_len - 4)
				    ? 1
				    : -1;
		free(sig);
		if (r != 0)
			return r;
		p = line_end + 1;
	}
	return 0;
}

/* Check a Rekor v2 checkpoint against the key and URL (see trust.h). */
enum fc_status trust_check_checkpoint(const char *url, const char *key_pem, size_t key_len,
				      const char *note, size_t note_len, struct fc_err *err)
{
	const char *sep = note_len > 0 ? strstr(note, "\n\n") : NULL;
	char *host = trust_url_host(url), *origin = NULL;
	EVP_PKEY *key = NULL;
	uint8_t id[TRUST_LOG_ID_LEN];
	enum fc_status st = FC_ECONFIG;
	size_t body_len;
	int r;

	if (sep == NULL || host == NULL || strlen(note) != note_len) {
		st = fc_err_set(err, FC_EUPSTREAM, "%s: the checkpoint is not a signed note", url);
		goto out;
	}
	body_len = (size_t)(sep - note) + 1;
	origin = fc_xstrndup(note, strcspn(note, "\n"));
	if (strcmp(origin, host) != 0) {
		fc_err_set(err, FC_ECONFIG,
			   "%s: the log's checkpoint origin is \"%s\", but clients "
			   "take the origin from the URL's host, \"%s\": start "
			   "rekor-tiles with --hostname %s, or give the log's URL "
			   "with host %s",
			   url, origin, host, host, origin);
		goto out;
	}
	if ((st = trust_pem_pubkey(key_pem, key_len, "--rekor public-key", &key, err)) != FC_OK ||
	    (st = trust_note_key_id(key, host, id, err)) != FC_OK)
		goto out;
	r = note_signed_by(sep + 2, note_len - body_len - 1, origin, key, id, note, body_len);
	if (r == 1)
		st = FC_OK;
	else
		st = fc_err_set(err, FC_ECONFIG,
				"%s: the checkpoint %s by public-key (key id %02x%02x%02x%02x): it "
				"is not the key the log signs with (its --signer-filepath)",
				url, r == 0 ? "has no signature" : "signature does not verify",
				id[0], id[1], id[2], id[3]);
out:
	EVP_PKEY_free(key);
	free(origin);
	free(host);
	return st;
}
