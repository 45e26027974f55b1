/*
 * The CA's listeners: the API (ca_api_handle) and Prometheus metrics; the
 * current authority and identity configuration, which a reload swaps under
 * a lock while requests keep the reference they started with.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca_build_info.h"
#include "ca_int.h"
#include "ratelimit.h"

void ca_server_options_default(struct ca_server_options *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "0.0.0.0";
	o->port = 8080;
	o->metrics_port = 2112;
	o->validity_s = CA_DEFAULT_VALIDITY_S;
}

/*
 * Swap in a new authority (takes ownership). The old one is released here
 * and freed when the last request holding it finishes.
 */
void ca_server_replace_authority(struct ca_server *s, struct ca_authority *authority)
{
	ca_authority_slot_replace(&s->authority, authority);
}

/* Serve these trust files from now on (see ca.h). */
void ca_server_set_trust(struct ca_server *s, const struct ca_trust_docs *docs)
{
	const char *in[3] = {docs->trusted_root, docs->signing_config, docs->trust_config};
	char *old[3];

	pthread_mutex_lock(&s->trust_lock);
	for (int i = 0; i < 3; i++) {
		old[i] = s->trust_docs[i];
		s->trust_docs[i] = in[i] ? fc_xstrdup(in[i]) : NULL;
	}
	pthread_mutex_unlock(&s->trust_lock);
	for (int i = 0; i < 3; i++)
		free(old[i]);
}

/* A copy of trust document i, or NULL (see ca_int.h). */
char *ca_server_trust_doc(struct ca_server *s, int i)
{
	char *doc;

	pthread_mutex_lock(&s->trust_lock);
	doc = s->trust_docs[i] ? fc_xstrdup(s->trust_docs[i]) : NULL;
	pthread_mutex_unlock(&s->trust_lock);
	return doc;
}

/* --- the identity configuration ------------------------------------------------ */

/* A new identity over cfg and verifier (taken), with one reference. */
static struct ca_identity *identity_new(struct cfg_identity *cfg, struct oidc_verifier *verifier)
{
	struct ca_identity *id = fc_xcalloc(1, sizeof(*id));

	atomic_init(&id->refs, 1);
	id->cfg = cfg;
	id->verifier = verifier;
	id->configuration_json = ca_api_configuration_json(cfg);
	return id;
}

/* Free id: its verifier first (which stops the fetch thread and wakes any
 * request still waiting in it), then the configuration it was made over. */
static void identity_free(struct ca_identity *id)
{
	oidc_verifier_free(id->verifier);
	cfg_identity_free(id->cfg);
	free(id->configuration_json);
	free(id);
}

/* Put id on the server's live list; identity_lock held. */
static void live_add_locked(struct ca_server *s, struct ca_identity *id)
{
	id->prev = NULL;
	id->next = s->live;
	if (s->live != NULL)
		s->live->prev = id;
	s->live = id;
}

static void live_del_locked(struct ca_server *s, struct ca_identity *id)
{
	if (id->prev != NULL)
		id->prev->next = id->next;
	else
		s->live = id->next;
	if (id->next != NULL)
		id->next->prev = id->prev;
	id->prev = id->next = NULL;
}

/* The current identity with a reference for the caller (ca_int.h). */
struct ca_identity *ca_server_identity_get(struct ca_server *s)
{
	struct ca_identity *id;

	pthread_mutex_lock(&s->identity_lock);
	id = s->identity;
	atomic_fetch_add(&id->refs, 1);
	pthread_mutex_unlock(&s->identity_lock);
	return id;
}

/*
 * Release a reference to id (ca_int.h). The last one, which only a request
 * can hold once a reload replaced id, frees it here: on the request's
 * worker, never on the verifier's own fetch thread.
 */
void ca_server_identity_put(struct ca_server *s, struct ca_identity *id)
{
	size_t n_issuers;

	if (id == NULL || atomic_fetch_sub(&id->refs, 1) != 1)
		return;
	pthread_mutex_lock(&s->identity_lock);
	live_del_locked(s, id);
	pthread_mutex_unlock(&s->identity_lock);
	n_issuers = id->cfg->n_issuers + id->cfg->n_meta;
	identity_free(id);
	fc_log(LOG_INFO,
	       "ca: the previous identity configuration (%zu issuers) is released: its "
	       "last request is done",
	       n_issuers);
}

/*
 * Serve cfg and verifier (taken; verifier made over cfg) from now on
 * (ca.h): new requests use them, requests in flight finish with the
 * previous pair, freed when the last of them is done.
 */
void ca_server_replace_identity(struct ca_server *s, struct cfg_identity *cfg,
				struct oidc_verifier *verifier)
{
	struct ca_identity *fresh = identity_new(cfg, verifier), *old;

	pthread_mutex_lock(&s->identity_lock);
	live_add_locked(s, fresh);
	old = s->identity;
	s->identity = fresh;
	pthread_mutex_unlock(&s->identity_lock);
	atomic_fetch_add(&s->metrics.identity_reloads[0], 1);
	atomic_store(&s->metrics.identity_last_ok, true);
	atomic_store(&s->metrics.identity_loaded_at, (long long)fc_now());
	ca_server_identity_put(s, old);
}

/* Count a reload that was refused (the caller logged why). */
void ca_server_identity_reload_failed(struct ca_server *s)
{
	atomic_fetch_add(&s->metrics.identity_reloads[1], 1);
	atomic_store(&s->metrics.identity_last_ok, false);
}

/* Free every identity still live (the stop: no request runs any more, and
 * those parked in a verifier are woken by its free and let go without
 * touching their identity). */
static void identities_free_all(struct ca_server *s)
{
	struct ca_identity *id, *next;

	pthread_mutex_lock(&s->identity_lock);
	id = s->live;
	s->live = NULL;
	s->identity = NULL;
	pthread_mutex_unlock(&s->identity_lock);
	for (; id != NULL; id = next) {
		next = id->next;
		identity_free(id);
	}
}

/* --- metrics (Prometheus text format 0.0.4) ------------------------------------- */

/* fulcio_build_info's labels: the version, and the commit built and its
 * time (ca_build_info.h, from git when built; "unknown" otherwise), with
 * the C compiler in goversion. */
static void build_info_text(struct fc_buf *b)
{
	char rev[64] = "unknown", date[32] = "unknown";
	long long t = 0;
	time_t tt;
	struct tm tm;

	if (sscanf(CA_BUILD_VCS, "%63s %lld", rev, &t) != 2 || t <= 0)
		t = 0;
	tt = (time_t)t;
	if (t > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fc_metric_family(
		b, "fulcio_build_info", "gauge",
		"A metric with a constant '1' value labeled by version, revision, "
		"build_date, and goversion (the C compiler) from which fulcrum was built.");
	fc_buf_append_str(b, "fulcio_build_info{build_date=\"");
	fc_metric_label_value(b, date);
	fc_buf_append_str(b, "\",goversion=\"");
	fc_metric_label_value(b, FULCRUM_CC_VERSION);
	fc_buf_append_str(b, "\",revision=\"");
	fc_metric_label_value(b, rev);
	fc_buf_append_str(b, "\",version=\"");
	fc_metric_label_value(b, FULCRUM_VERSION_STRING);
	fc_buf_append_str(b, "\"} 1\n");
}

/* fulcrum's own families: refusals and identity reloads. */
static void fulcrum_text(struct ca_metrics *m, struct fc_buf *b)
{
	static const char *const reasons[4] = {"identity", "key", "proof", "other"};
	char labels[32];

	fc_metric_family(b, "fulcrum_refusals_total", "counter",
			 "Signing requests refused, by what was refused");
	for (int i = 0; i < 4; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[i]);
		fc_metric_sample_u64(b, "fulcrum_refusals_total", labels,
				     atomic_load(&m->refusals[i]));
	}
	fc_metric_family(b, "fulcrum_identity_config_reloads_total", "counter",
			 "Reloads of the identity configuration (SIGHUP), by result");
	fc_metric_sample_u64(b, "fulcrum_identity_config_reloads_total", "result=\"success\"",
			     atomic_load(&m->identity_reloads[0]));
	fc_metric_sample_u64(b, "fulcrum_identity_config_reloads_total", "result=\"failure\"",
			     atomic_load(&m->identity_reloads[1]));
	fc_metric_family(b, "fulcrum_identity_config_last_reload_successful", "gauge",
			 "1 if the last reload of the identity configuration succeeded (or none "
			 "was asked), 0 if it was refused and the previous one is still served");
	fc_metric_sample(b, "fulcrum_identity_config_last_reload_successful", NULL,
			 atomic_load(&m->identity_last_ok) ? 1 : 0);
	fc_metric_family(b, "fulcrum_identity_config_loaded_timestamp_seconds", "gauge",
			 "When the identity configuration served was loaded");
	fc_metric_sample(b, "fulcrum_identity_config_loaded_timestamp_seconds", NULL,
			 (double)atomic_load(&m->identity_loaded_at));
}

static void metrics_text(struct ca_server *s, struct fc_buf *b)
{
	struct ca_metrics *m = &s->metrics;

	fc_http_metrics_text(m->http, b, "http_requests_total", "Count all HTTP requests",
			     "fulcio_api_latency", "API Latency on calls");
	build_info_text(b);
	fc_metric_family(b, "fulcio_new_certs", "counter",
			 "The total number of certificates generated");
	fc_metric_sample_u64(b, "fulcio_new_certs", NULL, atomic_load(&m->new_certs));
	fulcrum_text(m, b);
	fc_process_metrics_text(b);
	if (s->opts.ratelimit != NULL)
		rl_metrics_text(s->opts.ratelimit, b);
	if (s->opts.metrics_extra != NULL)
		s->opts.metrics_extra(s->opts.metrics_extra_arg, b);
	ca_ct_metrics(s, b);
}

static void metrics_handle(void *ctx, struct fc_http_exchange *x)
{
	struct ca_server *s = ctx;
	struct fc_buf b;

	fc_buf_init(&b, 0);
	metrics_text(s, &b);
	fc_http_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	fc_buf_free(&b);
}

/* --- lifecycle -------------------------------------------------------------------- */

/*
 * Ask each CT log for its roots (RFC 6962 4.7) and warn when our root is
 * not among them: every submission to it would then fail. Only a warning,
 * since the log may be down now or may accept our chain through another
 * root.
 */
void ca_check_ct_roots(struct ct_client *ct, struct ca_authority *a)
{
	const struct ca_chain *chain = ca_authority_chain(a);
	X509 *root = chain->certs[chain->n - 1];
	unsigned char *der = NULL;
	int len;

	if ((len = i2d_X509(root, &der)) <= 0) {
		fc_log_ssl("ca: encode root");
		return;
	}
	for (size_t i = 0; i < ct_client_log_count(ct); i++) {
		struct fc_err err = {0};
		bool found = false;

		if (ct_client_has_root(ct, i, der, (size_t)len, &found, &err) != FC_OK)
			fc_log(LOG_WARNING, "ca: CT log %s: cannot check its roots (get-roots): %s",
			       ct_client_url(ct, i), err.msg);
		else if (!found)
			fc_log(LOG_WARNING,
			       "ca: CT log %s does not list our root among its roots "
			       "(get-roots): it will refuse our precertificates",
			       ct_client_url(ct, i));
		else
			fc_log(LOG_INFO, "ca: CT log %s accepts our root", ct_client_url(ct, i));
	}
	OPENSSL_free(der);
}

/* The start-up line: what serves where, in Fulcio's words ("listening on
 * http at ADDR"; https with --tls-cert), with fulcrum's version. */
static void log_listening(const struct ca_server *s)
{
	const struct ca_server_options *o = &s->opts;
	const char *scheme = o->http.tls != NULL ? "https" : "http";
	uint16_t port = fc_httpd_port(s->api);
	char metrics[300] = "metrics off";
	json_t *fields = NULL;

	if (s->metrics_httpd != NULL)
		snprintf(metrics, sizeof(metrics), "metrics on %s at %s:%u", scheme,
			 o->metrics_host ? o->metrics_host : o->host,
			 fc_httpd_port(s->metrics_httpd));
	if (fc_log_enabled(LOG_NOTICE))
		fields =
			json_pack("{s:s, s:o, s:i, s:i}", "version", FULCRUM_VERSION_STRING, "host",
				  fc_log_json_string(o->host), "port", (int)port, "metricsPort",
				  s->metrics_httpd ? (int)fc_httpd_port(s->metrics_httpd) : 0);
	fc_log_event(LOG_NOTICE, fields, "ca: fulcrum %s listening on %s at %s:%u (%s)",
		     FULCRUM_VERSION_STRING, scheme, o->host, port, metrics);
}

/* The listeners: the API, and the metrics unless their port is 0. */
static enum fc_status start_listeners(struct ca_server *s, struct fc_err *err)
{
	const struct ca_server_options *opts = &s->opts;
	struct fc_httpd_options ho = {0};
	enum fc_status st;

	ho.host = opts->host;
	ho.port = opts->port;
	ho.threads = opts->threads;
	ho.max_body = CA_MAX_BODY_BYTES;
	ho.name = "api";
	ho.limits = opts->http;
	if ((st = fc_httpd_start(&ho, ca_api_handle, s, &s->api, err)) != FC_OK)
		return st;
	if (opts->metrics_port == 0)
		return FC_OK;
	ho.host = opts->metrics_host ? opts->metrics_host : opts->host;
	ho.port = opts->metrics_port;
	ho.threads = 1;
	ho.max_body = 4096;
	ho.name = "metrics";
	return fc_httpd_start(&ho, metrics_handle, s, &s->metrics_httpd, err);
}

/*
 * Start the API (and metrics) listeners. Takes ownership of authority,
 * verifier and cfg (verifier made over cfg) on success only.
 */
enum fc_status ca_server_start(const struct ca_server_options *opts, struct oidc_verifier *verifier,
			       struct cfg_identity *cfg, struct ca_authority *authority,
			       struct ca_server **out, struct fc_err *err)
{
	struct ca_server *s = fc_xcalloc(1, sizeof(*s));
	enum fc_status st;

	s->opts = *opts;
	pthread_mutex_init(&s->trust_lock, NULL);
	pthread_mutex_init(&s->identity_lock, NULL);
	ca_server_set_trust(s, &opts->trust);
	s->metrics.http = fc_http_metrics_new();
	atomic_init(&s->metrics.identity_last_ok, true);
	atomic_init(&s->metrics.identity_loaded_at, (long long)fc_now());
	s->identity = identity_new(cfg, verifier);
	live_add_locked(s, s->identity); /* no other thread yet */
	ca_authority_slot_init(&s->authority, authority);
	ca_ct_slot_init(s, opts->ct);
	if (s->opts.validity_s <= 0)
		s->opts.validity_s = CA_DEFAULT_VALIDITY_S;
	if (opts->client_algs != NULL)
		st = ca_algs_parse(opts->client_algs, &s->algs, err);
	else
		ca_algs_default(&s->algs), st = FC_OK;
	if (st != FC_OK)
		goto fail;
	if (opts->ct != NULL)
		ca_check_ct_roots(opts->ct, authority);
	if ((st = start_listeners(s, err)) != FC_OK)
		goto fail;
	if (opts->port_file)
		fc_write_port_file(opts->port_file, fc_httpd_port(s->api));
	log_listening(s);
	*out = s;
	return FC_OK;
fail:
	/* The caller keeps authority, verifier and cfg on failure. */
	s->authority.a = NULL;
	s->identity->verifier = NULL;
	s->identity->cfg = NULL;
	ca_server_stop(s);
	return st;
}

void ca_server_stop(struct ca_server *s)
{
	if (s == NULL)
		return;
	fc_httpd_stop(s->api);
	fc_httpd_stop(s->metrics_httpd);
	/* Past the stop's bound the front answers requests still waiting for
	 * the signer or the CT log itself; their completions (ct_issued, within
	 * the signer link's or the CT client's deadline) still use s, and the
	 * CT client's own callback must have returned before it is freed. */
	while (atomic_load(&s->issuing) > 0 || ca_ct_busy(s))
		usleep(10000);
	ca_ct_slot_destroy(s);
	identities_free_all(s);
	ca_authority_slot_destroy(&s->authority);
	fc_http_metrics_free(s->metrics.http);
	for (int i = 0; i < 3; i++)
		free(s->trust_docs[i]);
	pthread_mutex_destroy(&s->trust_lock);
	pthread_mutex_destroy(&s->identity_lock);
	free(s);
}
