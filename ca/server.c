/*
 * The CA's listeners: the API (ca_api_handle) and Prometheus metrics, and
 * the current authority, which a reload swaps under a lock while requests
 * keep the reference they started with.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* --- metrics (Prometheus text format 0.0.4) ------------------------------------- */

static const char *const method_names[3] = {"get", "post", "other"};
static const char *const bucket_bounds[CA_LATENCY_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

static void metrics_text(struct ca_server *s, struct fc_buf *b)
{
	struct ca_metrics *m = &s->metrics;
	char line[1024];

#define EMIT(...)                                        \
	do {                                             \
		snprintf(line, sizeof(line), __VA_ARGS__); \
		fc_buf_append_str(b, line);              \
	} while (0)

	EMIT("# HELP fulcio_new_certs Total number of generated certificates\n"
	     "# TYPE fulcio_new_certs counter\n"
	     "fulcio_new_certs %lu\n", atomic_load(&m->new_certs));
	EMIT("# HELP fulcio_build_info fulcrum build information\n"
	     "# TYPE fulcio_build_info gauge\n"
	     "fulcio_build_info{version=\"%s\",implementation=\"fulcrum\"} 1\n",
	     FULCRUM_VERSION_STRING);
	EMIT("# HELP http_requests_total Total number of HTTP requests by status class and "
	     "method\n# TYPE http_requests_total counter\n");
	for (unsigned cls = 1; cls <= 5; cls++)
		for (int mi = 0; mi < 3; mi++) {
			unsigned long n = atomic_load(&m->requests[cls][mi]);
			if (n > 0)
				EMIT("http_requests_total{code=\"%uxx\",method=\"%s\"} %lu\n", cls,
				     method_names[mi], n);
		}
	EMIT("# HELP fulcio_api_latency API latency in seconds\n"
	     "# TYPE fulcio_api_latency histogram\n");
	for (int mi = 0; mi < 2; mi++) {
		unsigned long cum = 0;
		for (int bi = 0; bi <= CA_LATENCY_BUCKETS; bi++) {
			cum += atomic_load(&m->latency_bucket[bi][mi]);
			EMIT("fulcio_api_latency_bucket{method=\"%s\",le=\"%s\"} %lu\n",
			     method_names[mi], bi < CA_LATENCY_BUCKETS ? bucket_bounds[bi] : "+Inf",
			     cum);
		}
		EMIT("fulcio_api_latency_sum{method=\"%s\"} %.6f\n", method_names[mi],
		     (double)atomic_load(&m->latency_sum_us[mi]) / 1e6);
		EMIT("fulcio_api_latency_count{method=\"%s\"} %lu\n", method_names[mi],
		     atomic_load(&m->latency_count[mi]));
	}
	EMIT("# HELP fulcrum_refusals_total Signing requests refused, by what was refused\n"
	     "# TYPE fulcrum_refusals_total counter\n"
	     "fulcrum_refusals_total{reason=\"identity\"} %lu\n"
	     "fulcrum_refusals_total{reason=\"key\"} %lu\n"
	     "fulcrum_refusals_total{reason=\"proof\"} %lu\n"
	     "fulcrum_refusals_total{reason=\"other\"} %lu\n",
	     atomic_load(&m->refusals[0]), atomic_load(&m->refusals[1]),
	     atomic_load(&m->refusals[2]), atomic_load(&m->refusals[3]));
	if (s->opts.ratelimit != NULL)
		rl_metrics_text(s->opts.ratelimit, b);
	if (s->opts.metrics_extra != NULL)
		s->opts.metrics_extra(s->opts.metrics_extra_arg, b);
#undef EMIT
	ca_ct_metrics(s, b);
}

static void metrics_handle(void *ctx, struct fc_http_exchange *x)
{
	struct ca_server *s = ctx;
	struct fc_buf b;

	fc_buf_init(&b, 0);
	metrics_text(s, &b);
	fc_http_respond(x, 200, "text/plain; version=0.0.4", b.data, b.len);
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
			fc_log(LOG_WARNING, "ca: CT log %s does not list our root among its roots "
					    "(get-roots): it will refuse our precertificates",
			       ct_client_url(ct, i));
		else
			fc_log(LOG_INFO, "ca: CT log %s accepts our root", ct_client_url(ct, i));
	}
	OPENSSL_free(der);
}

/*
 * Start the API (and metrics) listeners. Takes ownership of authority;
 * verifier and cfg are borrowed and must outlive the server.
 */
enum fc_status ca_server_start(const struct ca_server_options *opts, struct oidc_verifier *verifier,
			       const struct cfg_identity *cfg, struct ca_authority *authority,
			       struct ca_server **out, struct fc_err *err)
{
	struct ca_server *s = fc_xcalloc(1, sizeof(*s));
	struct fc_httpd_options ho = {0};
	enum fc_status st;

	s->opts = *opts;
	pthread_mutex_init(&s->trust_lock, NULL);
	ca_server_set_trust(s, &opts->trust);
	s->verifier = verifier;
	s->cfg = cfg;
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
	s->configuration_json = ca_api_configuration_json(cfg);
	if (opts->ct != NULL)
		ca_check_ct_roots(opts->ct, authority);

	ho.host = opts->host;
	ho.port = opts->port;
	ho.threads = opts->threads;
	ho.max_body = CA_MAX_BODY_BYTES;
	ho.name = "api";
	ho.limits = opts->http;
	if ((st = fc_httpd_start(&ho, ca_api_handle, s, &s->api, err)) != FC_OK)
		goto fail;
	if (opts->metrics_port != 0) {
		ho.host = opts->metrics_host ? opts->metrics_host : opts->host;
		ho.port = opts->metrics_port;
		ho.threads = 1;
		ho.max_body = 4096;
		ho.name = "metrics";
		if ((st = fc_httpd_start(&ho, metrics_handle, s, &s->metrics_httpd, err)) != FC_OK)
			goto fail;
	}
	if (opts->port_file)
		fc_write_port_file(opts->port_file, fc_httpd_port(s->api));
	fc_log(LOG_NOTICE, "ca: serving the API on %s:%u%s", opts->host, fc_httpd_port(s->api),
	       s->metrics_httpd ? "" : " (metrics off)");
	*out = s;
	return FC_OK;
fail:
	s->authority.a = NULL; /* the caller keeps it on failure */
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
	ca_authority_slot_destroy(&s->authority);
	free(s->configuration_json);
	for (int i = 0; i < 3; i++)
		free(s->trust_docs[i]);
	pthread_mutex_destroy(&s->trust_lock);
	free(s);
}
