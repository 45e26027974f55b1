/*
 * The CT client's metrics, as Prometheus text (exposition format 0.0.4)
 * appended by ct_client_metrics_text to the CA's /metrics page: per log,
 * requests sent, verified SCTs, the SCT latency histogram, failures by
 * kind and the circuit breaker's state; per certificate, whether the
 * policy was met.
 */
#include <stdio.h>
#include <string.h>

#include "ct_int.h"

/* Upper bounds of the latency buckets, in ms and as Prometheus writes them. */
static const int64_t bucket_ms[CT_LATENCY_BUCKETS] = {50,   100,  250,	500,  750,  1000,
						      1500, 2000, 3000, 5000, 10000};
static const char *const bucket_le[CT_LATENCY_BUCKETS] = {
	"0.05", "0.1", "0.25", "0.5", "0.75", "1", "1.5", "2", "3", "5", "10",
};
static const char *const kind_names[CT_FAIL_KINDS] = {
	"unreachable", "timeout",    "throttled", "refused",
	"http_status", "bad_answer", "bad_sct",	  "slow",
};

/* Count one verified SCT that took ms (ct_int.h). */
void ct_metrics_sct(struct ct_log_metrics *m, int64_t ms)
{
	size_t b = 0;

	if (ms < 0)
		ms = 0;
	while (b < CT_LATENCY_BUCKETS && ms > bucket_ms[b])
		b++;
	atomic_fetch_add(&m->scts, 1);
	atomic_fetch_add(&m->latency[b], 1);
	atomic_fetch_add(&m->latency_sum_us, (unsigned long)ms * 1000);
}

/* A label value with \, " and newlines escaped (exposition format). */
static void put_label(struct fc_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fc_buf_append(b, "\\", 1);
		if (*s == '\n')
			fc_buf_append_str(b, "\\n");
		else
			fc_buf_append(b, s, 1);
	}
}

/* name{log="URL"<extra>} value\n */
static void put_sample(struct fc_buf *b, const char *name, const struct ct_log *l,
		       const char *extra, const char *value)
{
	fc_buf_append_str(b, name);
	fc_buf_append_str(b, "{log=\"");
	put_label(b, l->url);
	fc_buf_append_str(b, "\"");
	fc_buf_append_str(b, extra);
	fc_buf_append_str(b, "} ");
	fc_buf_append_str(b, value);
	fc_buf_append_str(b, "\n");
}

static void put_ulong(struct fc_buf *b, const char *name, const struct ct_log *l, const char *extra,
		      unsigned long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lu", v);
	put_sample(b, name, l, extra, num);
}

static void put_help(struct fc_buf *b, const char *name, const char *type, const char *help)
{
	char line[512];

	snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	fc_buf_append_str(b, line);
}

/* The latency histogram of every log. */
static void put_latency(const struct ct_client *c, struct fc_buf *b)
{
	const char *name = "fulcrum_ct_sct_latency_seconds";
	char extra[64], num[32];

	put_help(b, name, "histogram", "Time from sending add-pre-chain to a verified SCT");
	for (size_t i = 0; i < ct_client_log_count(c); i++) {
		const struct ct_log *l = ct_client_log(c, i);
		unsigned long cum = 0;

		for (size_t k = 0; k <= CT_LATENCY_BUCKETS; k++) {
			cum += atomic_load(&l->m.latency[k]);
			snprintf(extra, sizeof(extra), ",le=\"%s\"",
				 k < CT_LATENCY_BUCKETS ? bucket_le[k] : "+Inf");
			put_ulong(b, "fulcrum_ct_sct_latency_seconds_bucket", l, extra, cum);
		}
		snprintf(num, sizeof(num), "%.6f", (double)atomic_load(&l->m.latency_sum_us) / 1e6);
		put_sample(b, "fulcrum_ct_sct_latency_seconds_sum", l, "", num);
		put_ulong(b, "fulcrum_ct_sct_latency_seconds_count", l, "", cum);
	}
}

/* Append the client's metrics to out (ct.h). */
void ct_client_metrics_text(const struct ct_client *c, struct fc_buf *out)
{
	size_t n = ct_client_log_count(c);
	unsigned long met = 0, failed = 0;
	char extra[64], line[256];

	put_help(out, "fulcrum_ct_submissions_total", "counter",
		 "add-pre-chain requests sent to each CT log");
	for (size_t i = 0; i < n; i++)
		put_ulong(out, "fulcrum_ct_submissions_total", ct_client_log(c, i), "",
			  atomic_load(&ct_client_log(c, i)->m.submissions));
	put_help(out, "fulcrum_ct_scts_total", "counter", "Verified SCTs from each CT log");
	for (size_t i = 0; i < n; i++)
		put_ulong(out, "fulcrum_ct_scts_total", ct_client_log(c, i), "",
			  atomic_load(&ct_client_log(c, i)->m.scts));
	put_latency(c, out);
	put_help(out, "fulcrum_ct_failures_total", "counter",
		 "Failed requests to each CT log, by kind");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < CT_FAIL_KINDS; k++) {
			snprintf(extra, sizeof(extra), ",kind=\"%s\"", kind_names[k]);
			put_ulong(out, "fulcrum_ct_failures_total", ct_client_log(c, i), extra,
				  atomic_load(&ct_client_log(c, i)->m.failures[k]));
		}
	put_help(out, "fulcrum_ct_breaker_state", "gauge",
		 "Circuit breaker of each CT log: 0 closed, 1 open, 2 half-open");
	for (size_t i = 0; i < n; i++)
		put_ulong(out, "fulcrum_ct_breaker_state", ct_client_log(c, i), "",
			  (unsigned long)atomic_load(&ct_client_log(c, i)->m.breaker_state));
	put_help(out, "fulcrum_ct_breaker_opens_total", "counter",
		 "Times the circuit breaker of each CT log opened");
	for (size_t i = 0; i < n; i++)
		put_ulong(out, "fulcrum_ct_breaker_opens_total", ct_client_log(c, i), "",
			  atomic_load(&ct_client_log(c, i)->m.breaker_opens));
	ct_client_policy_counts(c, &met, &failed);
	put_help(out, "fulcrum_ct_policy_total", "counter",
		 "Certificates whose SCTs met the CT policy, and those that did not");
	snprintf(line, sizeof(line),
		 "fulcrum_ct_policy_total{result=\"met\"} %lu\n"
		 "fulcrum_ct_policy_total{result=\"failed\"} %lu\n",
		 met, failed);
	fc_buf_append_str(out, line);
}
