/*
 * One CT log as the CA's client knows it: its URL and endpoints (RFC 6962
 * 4.1 add-pre-chain, 4.7 get-roots), its public key and LogID (3.2), its
 * operator, the Host header and TLS trust to reach it, and the NotAfter
 * window of a temporal shard.
 */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ct_int.h"

#define KEY_FILE_MAX (64 * 1024)

/* A PEM public key of a log: ECDSA P-256 or RSA of at least 2048 bits
 * (RFC 6962 2.1.4). what names it in messages. FC_ECONFIG. */
static enum fc_status parse_key(const char *pem, size_t len, const char *what, EVP_PKEY **out,
				struct fc_err *err)
{
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	enum fc_status st = FC_ECONFIG;
	int type;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		fc_err_set(err, FC_ECONFIG, "ctlog: %s is not a PEM public key", what);
		goto out;
	}
	type = EVP_PKEY_get_base_id(key);
	if (type == EVP_PKEY_EC) {
		char group[32] = "";
		size_t glen = 0;
		if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) !=
			    1 ||
		    strcmp(group, "prime256v1") != 0) {
			fc_err_set(err, FC_ECONFIG,
				   "ctlog: %s: RFC 6962 2.1.4: an EC log key must be "
				   "P-256",
				   what);
			goto out;
		}
	} else if (type != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
		fc_err_set(err, FC_ECONFIG,
			   "ctlog: %s: RFC 6962 2.1.4: the log key must be ECDSA "
			   "P-256 or RSA of at least 2048 bits",
			   what);
		goto out;
	}
	*out = key;
	key = NULL;
	st = FC_OK;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	return st;
}

/* The log key of o: from its file or its inline PEM. */
static enum fc_status load_key(const struct ct_log_options *o, EVP_PKEY **out, struct fc_err *err)
{
	char *pem = NULL, *what;
	size_t len = 0;
	enum fc_status st;

	if (o->public_key_pem != NULL && *o->public_key_pem != '\0') {
		what = fc_xasprintf("the public key of log %s", o->url);
		st = parse_key(o->public_key_pem, strlen(o->public_key_pem), what, out, err);
		free(what);
		return st;
	}
	if (fc_read_file(o->public_key_path, KEY_FILE_MAX, &pem, &len, err) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "ctlog: log public key %s cannot be read",
				  o->public_key_path);
	st = parse_key(pem, len, o->public_key_path, out, err);
	free(pem);
	return st;
}

/* The URL (without trailing '/'), its endpoints, and the headers. */
static enum fc_status set_urls(struct ct_log *l, const struct ct_log_options *o, struct fc_err *err)
{
	size_t ul;

	l->url = fc_xstrdup(o->url);
	ul = strlen(l->url);
	while (ul > 0 && l->url[ul - 1] == '/')
		l->url[--ul] = '\0';
	l->add_pre_chain_url = fc_xasprintf("%s/ct/v1/add-pre-chain", l->url);
	l->get_roots_url = fc_xasprintf("%s/ct/v1/get-roots", l->url);
	l->headers = curl_slist_append(NULL, "Content-Type: application/json");
	l->headers = curl_slist_append(l->headers, "Expect:"); /* no 100-continue round trip */
	if (o->origin != NULL && *o->origin != '\0') {
		char *host = fc_xasprintf("Host: %s", o->origin);
		l->headers = curl_slist_append(l->headers, host);
		l->get_headers = curl_slist_append(NULL, host);
		free(host);
		if (l->get_headers == NULL)
			return fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl headers");
	}
	if (l->headers == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl headers");
	return FC_OK;
}

/*
 * Load log o into l (ct_int.h): URL (http:// or https://), key (required:
 * every SCT is verified with it), LogID, operator (default: the URL),
 * shard window. FC_ECONFIG with the reason; clear l with ct_log_clear
 * either way.
 */
enum fc_status ct_log_init(struct ct_log *l, const struct ct_log_options *o, struct fc_err *err)
{
	enum fc_status st;

	memset(l, 0, sizeof(*l));
	if (o->url == NULL || *o->url == '\0')
		return fc_err_set(err, FC_ECONFIG, "ctlog: no log URL");
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
		return fc_err_set(err, FC_ECONFIG, "ctlog: log URL %s must be http:// or https://",
				  o->url);
	if ((o->public_key_path == NULL || *o->public_key_path == '\0') &&
	    (o->public_key_pem == NULL || *o->public_key_pem == '\0'))
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: a CT log URL needs the log's public key "
				  "(--ct-log-public-key-path) to verify its SCTs");
	if ((st = set_urls(l, o, err)) != FC_OK)
		return st;
	l->operator_name =
		fc_xstrdup(o->operator_name && *o->operator_name ? o->operator_name : l->url);
	l->tls_ca = o->tls_ca_cert && *o->tls_ca_cert ? fc_xstrdup(o->tls_ca_cert) : NULL;
	l->has_not_after_start = o->has_not_after_start;
	l->not_after_start = o->not_after_start;
	l->has_not_after_limit = o->has_not_after_limit;
	l->not_after_limit = o->not_after_limit;
	if (l->has_not_after_start && l->has_not_after_limit &&
	    l->not_after_start >= l->not_after_limit)
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: log %s: not_after_start is not before "
				  "not_after_limit",
				  l->url);
	if ((st = load_key(o, &l->key, err)) != FC_OK)
		return st;
	if (ct_key_hash(l->key, l->log_id) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "ctlog: cannot hash the key of log %s", l->url);
	return FC_OK;
}

/* Free what l holds (NULL members are fine). */
void ct_log_clear(struct ct_log *l)
{
	curl_slist_free_all(l->headers);
	curl_slist_free_all(l->get_headers);
	EVP_PKEY_free(l->key);
	free(l->url);
	free(l->add_pre_chain_url);
	free(l->get_roots_url);
	free(l->operator_name);
	free(l->tls_ca);
	memset(l, 0, sizeof(*l));
}

/* A temporal shard takes NotAfter in [start, limit) (as logs check it). */
bool ct_log_takes(const struct ct_log *l, int64_t not_after)
{
	if (l->has_not_after_start && not_after < l->not_after_start)
		return false;
	if (l->has_not_after_limit && not_after >= l->not_after_limit)
		return false;
	return true;
}

/* HTTP and HTTPS only (no redirects to file:// or anything else). */
static bool set_protocols(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: CURLOPT_PROTOCOLS is deprecated */
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	       CURLE_OK;
#endif
}

/* Common options of a transfer to the log (ct_int.h). */
bool ct_log_easy_setup(const struct ct_log *l, CURL *e, const char *url, long timeout_ms,
		       char *errbuf)
{
	return curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK && set_protocols(e) &&
	       curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
	       (l->tls_ca == NULL || curl_easy_setopt(e, CURLOPT_CAINFO, l->tls_ca) == CURLE_OK) &&
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_USERAGENT,
				"fulcrum/"
				"ct-client") == CURLE_OK;
}

/* libcurl write callback: into a capped buffer (past the cap, the transfer
 * is aborted with CURLE_WRITE_ERROR). */
static size_t buf_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fc_buf *b = arg;

	if (!fc_buf_append(b, p, size * n))
		return 0;
	return size * n;
}

/* Is root_der among the certificates of a get-roots answer (RFC 6962 4.7)? */
static enum fc_status roots_contain(const struct fc_buf *resp, const char *url,
				    const uint8_t *root_der, size_t root_len, bool *found,
				    struct fc_err *err)
{
	json_error_t jerr;
	json_t *root =
		json_loadb((const char *)resp->data, resp->len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *certs = root ? json_object_get(root, "certificates") : NULL;

	if (!json_is_array(certs)) {
		json_decref(root);
		return fc_err_set(err, FC_EUPSTREAM, "%s: RFC 6962 4.7: no \"certificates\" array",
				  url);
	}
	for (size_t i = 0; i < json_array_size(certs) && !*found; i++) {
		const json_t *v = json_array_get(certs, i);
		uint8_t *der = NULL;
		size_t len = 0;

		if (json_is_string(v) &&
		    fc_b64_decode_any(json_string_value(v), json_string_length(v), &der, &len)) {
			*found = len == root_len && memcmp(der, root_der, len) == 0;
			free(der);
		}
	}
	json_decref(root);
	return FC_OK;
}

/*
 * GET get-roots of l once (blocking, within timeout_ms) and look for
 * root_der among the answer's certificates (RFC 6962 4.7). FC_EUPSTREAM /
 * FC_EUNAVAIL with the reason.
 */
enum fc_status ct_log_has_root(const struct ct_log *l, unsigned timeout_ms, const uint8_t *root_der,
			       size_t root_len, bool *found, struct fc_err *err)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct fc_buf resp;
	CURL *e = NULL;
	CURLcode rc;
	long status = 0;
	enum fc_status st;

	*found = false;
	fc_buf_init(&resp, CT_MAX_ROOTS_RESPONSE);
	if ((e = curl_easy_init()) == NULL ||
	    !ct_log_easy_setup(l, e, l->get_roots_url, (long)timeout_ms, curl_err) ||
	    (l->get_headers &&
	     curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->get_headers) != CURLE_OK) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp) != CURLE_OK) {
		st = fc_err_set(err, FC_EINTERNAL, "ctlog: libcurl setup");
	} else if ((rc = curl_easy_perform(e)) != CURLE_OK) {
		bool big = rc == CURLE_WRITE_ERROR;
		st = fc_err_set(err, big ? FC_EUPSTREAM : FC_EUNAVAIL, "%s: %s", l->get_roots_url,
				big ? "answer too large"
				    : (curl_err[0] ? curl_err : curl_easy_strerror(rc)));
	} else if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status), status != 200) {
		st = fc_err_set(err, FC_EUPSTREAM, "%s answered %ld", l->get_roots_url, status);
	} else {
		st = roots_contain(&resp, l->get_roots_url, root_der, root_len, found, err);
	}
	fc_buf_free(&resp);
	if (e)
		curl_easy_cleanup(e);
	return st;
}
