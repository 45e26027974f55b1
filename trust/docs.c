/*
 * The documents: trusted_root.json, signing_config.json and the client
 * trust config, as protobuf-specs' JSON mapping writes them (lowerCamelCase
 * keys, bytes as padded standard base64, times as RFC 3339 "Z", enums by
 * name), with every list present even when empty (sigstore-python's
 * models require tlogs, certificateAuthorities and ctlogs). Also the
 * check of a document before fulcrum serve hands it out, and the writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust_int.h"

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char *s = fc_b64_encode(p, n);
	json_t *j = json_string(s);

	free(s);
	return j;
}

/* TimeRange {start[, end]}. */
static json_t *window_json(const struct trust_item *it)
{
	char buf[32];
	json_t *w = json_object();

	trust_format_time(it->start, buf, sizeof(buf));
	json_object_set_new(w, "start", json_string(buf));
	if (it->end != TRUST_TIME_UNSET) {
		trust_format_time(it->end, buf, sizeof(buf));
		json_object_set_new(w, "end", json_string(buf));
	}
	return w;
}

/* TransparencyLogInstance (v0.1 fields: no checkpointKeyId or operator,
 * which protobuf-specs reserves to trusted root v0.2). */
static json_t *log_json(const struct trust_item *it)
{
	return json_pack("{s:s, s:s, s:{s:o, s:s, s:o}, s:{s:o}}", "baseUrl", it->url,
			 "hashAlgorithm", "SHA2_256", "publicKey", "rawBytes",
			 b64_json(it->spki, it->spki_len), "keyDetails", it->key_details,
			 "validFor", window_json(it), "logId", "keyId",
			 b64_json(it->log_id, TRUST_LOG_ID_LEN));
}

/* CertificateAuthority: a CA or a TSA. */
static json_t *authority_json(const struct trust_item *it)
{
	json_t *certs = json_array();
	json_t *a;

	for (size_t i = 0; i < it->n_der; i++)
		json_array_append_new(certs, json_pack("{s:o}", "rawBytes",
						       b64_json(it->der[i], it->der_len[i])));
	a = json_pack("{s:{s:s, s:s}}", "subject", "organization", it->org, "commonName", it->cn);
	if (it->url != NULL)
		json_object_set_new(a, "uri", json_string(it->url));
	json_object_set_new(a, "certChain", json_pack("{s:o}", "certificates", certs));
	json_object_set_new(a, "validFor", window_json(it));
	if (it->operator!= NULL)
		json_object_set_new(a, "operator", json_string(it->operator));
	return a;
}

/* The entries of kind in the order added, made by fn. */
static json_t *list_json(const struct trust_builder *b, enum trust_kind kind,
			 json_t *(*fn)(const struct trust_item *))
{
	json_t *arr = json_array();

	for (size_t i = 0; i < b->n[kind]; i++)
		json_array_append_new(arr, fn(b->items[kind][i]));
	return arr;
}

/* The trusted root (see trust.h); a new reference. */
json_t *trust_trusted_root(const struct trust_builder *b)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "mediaType", TRUST_MEDIA_TRUSTED_ROOT,
			 "tlogs", list_json(b, TRUST_TLOG, log_json), "certificateAuthorities",
			 list_json(b, TRUST_CA, authority_json), "ctlogs",
			 list_json(b, TRUST_CTLOG, log_json), "timestampAuthorities",
			 list_json(b, TRUST_TSA, authority_json));
}

/* Is an earlier item of the same kind already offering this URL and API
 * version (several CA chains behind one CA URL)? */
static bool service_listed(const struct trust_item *const *items, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!items[j]->no_sign && items[j]->url != NULL &&
		    strcmp(items[j]->url, items[i]->url) == 0 &&
		    items[j]->api_version == items[i]->api_version)
			return true;
	return false;
}

/* Service entries of kind, newest validFor.start first (the order the
 * spec asks for); one per URL and API version. */
static json_t *services_json(const struct trust_builder *b, enum trust_kind kind)
{
	const struct trust_item *sorted[TRUST_MAX_ENTRIES];
	json_t *arr = json_array();
	size_t n = 0;

	for (size_t i = 0; i < b->n[kind]; i++) {
		const struct trust_item *it = b->items[kind][i];
		size_t j = n;
		if (it->no_sign || it->url == NULL)
			continue;
		while (j > 0 && sorted[j - 1]->start < it->start) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = it;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		if (service_listed(sorted, i))
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:I, s:o, s:s}", "url", sorted[i]->url,
						     "majorApiVersion", (json_int_t)sorted[i]->api_version,
						     "validFor", window_json(sorted[i]), "operator",
						     sorted[i]->operator ? sorted[i]->operator : ""));
	}
	return arr;
}

static json_t *selector_json(const struct trust_builder *b, enum trust_kind kind)
{
	static const char *const names[] = {"ANY", "ALL", "EXACT"};
	json_t *c = json_pack("{s:s}", "selector", names[b->sel[kind]]);

	if (b->sel[kind] == TRUST_SEL_EXACT)
		json_object_set_new(c, "count", json_integer(b->count[kind]));
	return c;
}

/* Say what the clients will not be able to do with this configuration. */
static void warn_gaps(const struct trust_builder *b, json_t *sc)
{
	if (json_array_size(json_object_get(sc, "rekorTlogUrls")) == 0)
		fc_log(LOG_WARNING, "trust: no Rekor log (--rekor): sigstore-python cannot sign "
				    "(it requires one); cosign and sigstore-js can, with a TSA");
	if (json_array_size(json_object_get(sc, "tsaUrls")) == 0)
		fc_log(LOG_WARNING, "trust: no TSA (--tsa): sigstore-js cannot verify, Rekor v2 "
				    "entries carry no time, and a signature stops verifying when "
				    "its certificate expires");
	if (b->n[TRUST_CTLOG] == 0)
		fc_log(LOG_WARNING, "trust: no CT log (--ct-log): clients refuse certificates "
				    "whose SCT they cannot check");
}

/* The signing config (see trust.h). */
enum fc_status trust_signing_config(const struct trust_builder *b, json_t **out, struct fc_err *err)
{
	json_t *sc, *cas = services_json(b, TRUST_CA);

	*out = NULL;
	if (json_array_size(cas) == 0) {
		json_decref(cas);
		return fc_err_set(err, FC_ECONFIG,
				  "signing_config.json needs a CA URL (--ca "
				  "url=...): no client can sign without one");
	}
	sc = json_pack("{s:s, s:o, s:o, s:o}", "mediaType", TRUST_MEDIA_SIGNING_CONFIG, "caUrls",
		       cas, "oidcUrls", services_json(b, TRUST_OIDC), "rekorTlogUrls",
		       services_json(b, TRUST_TLOG));
	/* A selector only beside a service to select: sigstore-js 4.1
	 * (bundleBuilderFromSigningConfig) fails on a tsaConfig without a TSA. */
	if (json_array_size(json_object_get(sc, "rekorTlogUrls")) > 0)
		json_object_set_new(sc, "rekorTlogConfig", selector_json(b, TRUST_TLOG));
	json_object_set_new(sc, "tsaUrls", services_json(b, TRUST_TSA));
	if (json_array_size(json_object_get(sc, "tsaUrls")) > 0)
		json_object_set_new(sc, "tsaConfig", selector_json(b, TRUST_TSA));
	warn_gaps(b, sc);
	*out = sc;
	return FC_OK;
}

/* The ClientTrustConfig of a trusted root and a signing config. */
json_t *trust_client_config(json_t *trusted_root, json_t *signing_config)
{
	return json_pack("{s:s, s:O, s:O}", "mediaType", TRUST_MEDIA_CLIENT_CONFIG, "trustedRoot",
			 trusted_root, "signingConfig", signing_config);
}

/*
 * Check a document before serving it (see trust.h): JSON, an object, the
 * media type of its kind, and the lists the clients require.
 */
enum fc_status trust_doc_check(const char *text, size_t len, enum trust_doc kind, const char *name,
			       json_t **out, struct fc_err *err)
{
	static const char *const trusted_lists[] = {"tlogs", "certificateAuthorities", "ctlogs"};
	const char *want = kind == TRUST_DOC_TRUSTED_ROOT ? TRUST_MEDIA_TRUSTED_ROOT
							  : TRUST_MEDIA_SIGNING_CONFIG;
	json_error_t jerr;
	json_t *doc = NULL;
	const char *mt;

	if (out != NULL)
		*out = NULL;
	if (len > TRUST_MAX_DOC_BYTES)
		return fc_err_set(err, FC_ECONFIG, "%s: larger than %d bytes", name,
				  TRUST_MAX_DOC_BYTES);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		fc_err_set(err, FC_ECONFIG, "%s: not a JSON object (%s, line %d)", name,
			   doc ? "another JSON type" : jerr.text, jerr.line);
		json_decref(doc);
		return FC_ECONFIG;
	}
	mt = json_string_value(json_object_get(doc, "mediaType"));
	if (mt == NULL || strcmp(mt, want) != 0) {
		fc_err_set(err, FC_ECONFIG, "%s: mediaType \"%s\", want \"%s\"", name, mt ? mt : "",
			   want);
		json_decref(doc);
		return FC_ECONFIG;
	}
	for (size_t i = 0; kind == TRUST_DOC_TRUSTED_ROOT && i < 3; i++) {
		if (!json_is_array(json_object_get(doc, trusted_lists[i]))) {
			fc_err_set(err, FC_ECONFIG,
				   "%s: no \"%s\" list (sigstore-python requires it, "
				   "even empty)",
				   name, trusted_lists[i]);
			json_decref(doc);
			return FC_ECONFIG;
		}
	}
	if (out != NULL)
		*out = doc;
	else
		json_decref(doc);
	return FC_OK;
}

/* Write doc to path atomically, or to stdout for "-" (see trust.h). */
enum fc_status trust_write_json(const char *path, json_t *doc, struct fc_err *err)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *tmp = NULL;
	FILE *f = NULL;
	enum fc_status st = FC_EIO;

	if (text == NULL)
		return fc_err_set(err, FC_EINTERNAL, "cannot serialise the document");
	if (strcmp(path, "-") == 0) {
		st = printf("%s\n", text) < 0 || fflush(stdout) != 0
			     ? fc_err_set(err, FC_EIO, "stdout: %s", strerror(errno))
			     : FC_OK;
		goto out;
	}
	tmp = fc_xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL) {
		fc_err_set(err, FC_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fprintf(f, "%s\n", text) < 0 || fchmod(fileno(f), 0644) != 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		fc_err_set(err, FC_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		fc_err_set(err, FC_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		fc_err_set(err, FC_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	st = FC_OK;
out:
	if (f != NULL)
		fclose(f);
	if (st != FC_OK && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(text);
	return st;
}
