/*
 * The builder: entries of each kind, checked as they are added, and the
 * trusted root and signing config made from them (protobuf-specs
 * sigstore_trustroot.proto, in the JSON form its protojson mapping and
 * Sigstore's own files use).
 */
#include <stdlib.h>
#include <string.h>

#include "ct.h"
#include "trust_int.h"

static const char *const kind_flag[TRUST_KINDS] = {"--ca", "--ct-log", "--tsa", "--rekor",
						   "--oidc"};

struct trust_builder *trust_builder_new(int64_t now)
{
	struct trust_builder *b = fc_xcalloc(1, sizeof(*b));

	b->now = now;
	return b;
}

void trust_item_free(struct trust_item *it)
{
	if (it == NULL)
		return;
	free(it->url);
	free(it->operator);
	for (size_t i = 0; i < it->n_der; i++)
		free(it->der[i]);
	free(it->org);
	free(it->cn);
	OPENSSL_free(it->spki);
	free(it);
}

void trust_builder_free(struct trust_builder *b)
{
	if (b == NULL)
		return;
	for (int k = 0; k < TRUST_KINDS; k++)
		for (size_t i = 0; i < b->n[k]; i++)
			trust_item_free(b->items[k][i]);
	free(b);
}

size_t trust_count(const struct trust_builder *b, enum trust_kind kind)
{
	return b->n[kind];
}

/* A new item of kind from e: URL checked and normalised, operator
 * defaulted, API version settled. FC_ECONFIG with the reason. */
static enum fc_status item_new(const struct trust_builder *b, enum trust_kind kind,
			       const struct trust_entry *e, struct trust_item **out,
			       struct fc_err *err)
{
	struct trust_item *it = fc_xcalloc(1, sizeof(*it));
	char what[32];
	enum fc_status st = FC_ECONFIG;

	*out = NULL;
	snprintf(what, sizeof(what), "%s url", kind_flag[kind]);
	it->kind = kind;
	it->start = e->start;
	it->end = e->end;
	it->no_sign = e->no_sign;
	it->api_version = e->api_version ? e->api_version : 1;
	if (b->n[kind] == TRUST_MAX_ENTRIES) {
		fc_err_set(err, FC_ECONFIG, "%s: at most %d entries", kind_flag[kind],
			   TRUST_MAX_ENTRIES);
		goto out;
	}
	if (e->url != NULL && (st = trust_url_normalise(e->url, what, &it->url, err)) != FC_OK)
		goto out;
	st = FC_ECONFIG;
	if (it->url == NULL && (kind == TRUST_CTLOG || kind == TRUST_TLOG || kind == TRUST_OIDC)) {
		fc_err_set(err, FC_ECONFIG, "%s needs url=", kind_flag[kind]);
		goto out;
	}
	if (kind == TRUST_TLOG && e->api_version != 1 && e->api_version != 2) {
		fc_err_set(err, FC_ECONFIG,
			   "--rekor %s: say api-version=1 (Rekor) or api-version=2 "
			   "(Rekor v2, rekor-tiles)",
			   it->url);
		goto out;
	}
	if (e->operator!= NULL && * e->operator!= '\0')
		it->operator= fc_xstrdup(e->operator);
	else if (it->url != NULL)
		it->operator= trust_url_host(it->url);
	if (e->start != TRUST_TIME_UNSET && e->end != TRUST_TIME_UNSET && e->end <= e->start) {
		fc_err_set(err, FC_ECONFIG, "%s %s: end-time is not after start-time",
			   kind_flag[kind], it->url ? it->url : "");
		goto out;
	}
	*out = it;
	it = NULL;
	st = FC_OK;
out:
	trust_item_free(it);
	return st;
}

/* Keep it (the builder owns it from now on). */
static void item_add(struct trust_builder *b, struct trust_item *it)
{
	b->items[it->kind][b->n[it->kind]++] = it;
}

/* The shared part of trust_add_ca and trust_add_tsa. */
static enum fc_status add_chain(struct trust_builder *b, enum trust_kind kind,
				const struct trust_entry *e, const char *pem, size_t len,
				const char *name, struct fc_err *err)
{
	struct trust_item *it = NULL;
	X509 *certs[TRUST_MAX_CHAIN];
	size_t n = 0;
	enum fc_status st;

	if ((st = item_new(b, kind, e, &it, err)) != FC_OK)
		return st;
	if ((st = trust_pem_certs(pem, len, name, certs, &n, err)) != FC_OK ||
	    (st = trust_chain_take(it, certs, n, name, b->now, err)) != FC_OK) {
		trust_item_free(it);
		return st;
	}
	if (it->end != TRUST_TIME_UNSET && it->end <= it->start) {
		trust_item_free(it);
		return fc_err_set(err, FC_ECONFIG, "%s: end-time is not after the chain's start",
				  name);
	}
	item_add(b, it);
	return FC_OK;
}

/* A CA chain: issuing CA first, root last (see trust.h). */
enum fc_status trust_add_ca(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			    size_t len, const char *name, struct fc_err *err)
{
	struct trust_item *it;
	enum fc_status st = add_chain(b, TRUST_CA, e, pem, len, name, err);

	if (st != FC_OK)
		return st;
	it = b->items[TRUST_CA][b->n[TRUST_CA] - 1];
	if (it->url != NULL && trust_url_has_path(it->url))
		fc_log(LOG_WARNING,
		       "trust: --ca %s: sigstore-python drops the path of a CA URL "
		       "(it posts to /api/v2/signingCert at the host): serve the CA at /",
		       it->url);
	return FC_OK;
}

/* The TSA's time-stamp URL (see trust.h). */
char *trust_tsa_url(const char *url)
{
	char *host = trust_url_host(url);
	size_t n = strlen(url);
	char *full;

	if (host == NULL || trust_url_has_path(url)) {
		free(host);
		return fc_xstrdup(url);
	}
	free(host);
	while (n > 0 && url[n - 1] == '/')
		n--;
	full = fc_xasprintf("%.*s/api/v1/timestamp", (int)n, url);
	return full;
}

/* A TSA chain: the time-stamping certificate first, root last. A URL
 * without a path gets sigstore's /api/v1/timestamp. */
enum fc_status trust_add_tsa(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			     size_t len, const char *name, struct fc_err *err)
{
	struct trust_entry fixed = *e;
	char *full = e->url != NULL ? trust_tsa_url(e->url) : NULL;
	enum fc_status st;

	fixed.url = full;
	st = add_chain(b, TRUST_TSA, &fixed, pem, len, name, err);
	free(full);
	return st;
}

/* The key of a log entry: parsed, typed, encoded, its log id. */
static enum fc_status add_key(struct trust_builder *b, struct trust_item *it, const char *pem,
			      size_t len, const char *name, struct fc_err *err)
{
	EVP_PKEY *key = NULL;
	char *origin = NULL;
	enum fc_status st;

	if ((st = trust_pem_pubkey(pem, len, name, &key, err)) != FC_OK)
		return st;
	if ((it->key_details = trust_key_details(key)) == NULL) {
		st = fc_err_set(err, FC_ECONFIG,
				"%s: a log key must be ECDSA P-256/P-384/P-521, RSA "
				"2048/3072/4096 or Ed25519",
				name);
		goto out;
	}
	if ((st = trust_spki(key, &it->spki, &it->spki_len, err)) != FC_OK)
		goto out;
	/* A Rekor v2 log is named by its signed-note key id, which for
	 * Ed25519 and RSA covers the origin (the URL's host); every other
	 * log by the SHA-256 of its key (RFC 6962 3.2). */
	origin = trust_url_host(it->url);
	if (it->kind == TRUST_TLOG && it->api_version == 2)
		st = trust_note_key_id(key, origin, it->log_id, err);
	else if (ct_key_hash(key, it->log_id) != FC_OK)
		st = fc_err_set(err, FC_EINTERNAL, "%s: cannot hash the public key", name);
	if (st == FC_OK && it->start == TRUST_TIME_UNSET)
		it->start = b->now;
	if (st == FC_OK && it->kind == TRUST_CTLOG && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
		fc_log(LOG_WARNING,
		       "trust: %s: sigstore-js reads an RSA CT log key as PKCS#1 and "
		       "cannot verify its SCTs; prefer an ECDSA P-256 log key",
		       name);
out:
	free(origin);
	EVP_PKEY_free(key);
	return st;
}

/* Refuse a second entry with the same log id: clients index logs by it,
 * so the second would silently replace the first. */
static enum fc_status check_unique_log(const struct trust_builder *b, const struct trust_item *it,
				       const char *name, struct fc_err *err)
{
	for (size_t i = 0; i < b->n[it->kind]; i++)
		if (memcmp(b->items[it->kind][i]->log_id, it->log_id, TRUST_LOG_ID_LEN) == 0)
			return fc_err_set(err, FC_ECONFIG,
					  "%s: the same key as %s %s: one key is one log (give "
					  "it one entry)",
					  name, kind_flag[it->kind], b->items[it->kind][i]->url);
	return FC_OK;
}

static enum fc_status add_log(struct trust_builder *b, enum trust_kind kind,
			      const struct trust_entry *e, const char *pem, size_t len,
			      const char *name, struct fc_err *err)
{
	struct trust_item *it = NULL;
	enum fc_status st;

	if ((st = item_new(b, kind, e, &it, err)) != FC_OK)
		return st;
	if ((st = add_key(b, it, pem, len, name, err)) != FC_OK ||
	    (st = check_unique_log(b, it, name, err)) != FC_OK) {
		trust_item_free(it);
		return st;
	}
	if (it->end != TRUST_TIME_UNSET && it->end <= it->start) {
		trust_item_free(it);
		return fc_err_set(err, FC_ECONFIG, "%s: end-time is not after start-time (now)",
				  name);
	}
	item_add(b, it);
	return FC_OK;
}

/* A CT log by its public key (see trust.h). */
enum fc_status trust_add_ctlog(struct trust_builder *b, const struct trust_entry *e,
			       const char *pem, size_t len, const char *name, struct fc_err *err)
{
	return add_log(b, TRUST_CTLOG, e, pem, len, name, err);
}

/* A Rekor log by its public key (see trust.h). */
enum fc_status trust_add_tlog(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			      size_t len, const char *name, struct fc_err *err)
{
	return add_log(b, TRUST_TLOG, e, pem, len, name, err);
}

/* An OpenID provider for interactive sign-in (signing config only). */
enum fc_status trust_add_oidc(struct trust_builder *b, const struct trust_entry *e,
			      struct fc_err *err)
{
	struct trust_item *it = NULL;
	enum fc_status st = item_new(b, TRUST_OIDC, e, &it, err);

	if (st != FC_OK)
		return st;
	if (it->start == TRUST_TIME_UNSET)
		it->start = b->now;
	item_add(b, it);
	return FC_OK;
}

bool trust_parse_selector(const char *s, enum trust_selector *sel, unsigned *count)
{
	char *end;
	unsigned long n;

	*count = 0;
	if (strcmp(s, "ANY") == 0 || strcmp(s, "any") == 0)
		*sel = TRUST_SEL_ANY;
	else if (strcmp(s, "ALL") == 0 || strcmp(s, "all") == 0)
		*sel = TRUST_SEL_ALL;
	else if (strncmp(s, "EXACT:", 6) == 0 || strncmp(s, "exact:", 6) == 0) {
		n = strtoul(s + 6, &end, 10);
		if (s[6] < '1' || s[6] > '9' || *end != '\0' || n > TRUST_MAX_ENTRIES)
			return false;
		*sel = TRUST_SEL_EXACT;
		*count = (unsigned)n;
	} else
		return false;
	return true;
}

enum fc_status trust_set_selector(struct trust_builder *b, enum trust_kind kind,
				  enum trust_selector sel, unsigned count, struct fc_err *err)
{
	if (kind != TRUST_TLOG && kind != TRUST_TSA)
		return fc_err_set(err, FC_EINTERNAL, "a selector is for Rekor logs and TSAs only");
	if (sel == TRUST_SEL_EXACT && count == 0)
		return fc_err_set(err, FC_ECONFIG, "EXACT needs a count above 0");
	b->sel[kind] = sel;
	b->count[kind] = sel == TRUST_SEL_EXACT ? count : 0;
	return FC_OK;
}
