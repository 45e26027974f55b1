/* Unit tests for common/'s observability: the two log formats (dev lines,
 * Fulcio's JSON lines), control characters and bytes that are not UTF-8,
 * rate-limited lines with fields, and the Prometheus text of the HTTP and
 * process metrics (labels, buckets, Go's number format, concurrency). */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common.h"

/* --- capturing stderr ----------------------------------------------------------- */

static char cap_path[] = "/tmp/fulcrum-test-obs.XXXXXX";
static int saved_stderr = -1;

static void capture_begin(void)
{
	int fd = mkstemp(cap_path);

	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* What was written since capture_begin (caller frees). */
static char *capture_end(void)
{
	char *text = NULL;
	size_t len = 0;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	if (fc_read_file(cap_path, 1 << 20, &text, &len, NULL) != FC_OK)
		text = NULL;
	unlink(cap_path);
	memcpy(cap_path + strlen(cap_path) - 6, "XXXXXX", 6);
	return text;
}

/* The lines of text as JSON objects; NULL if one is not. */
static json_t *json_lines(const char *text)
{
	json_t *arr = json_array();
	const char *p = text;

	while (p != NULL && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		json_error_t e;
		json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &e);

		if (o == NULL || !json_is_object(o)) {
			fprintf(stderr, "not JSON: %.*s (%s)\n", (int)n, p, e.text);
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, o);
		p = nl ? nl + 1 : NULL;
	}
	return arr;
}

/* --- logs -------------------------------------------------------------------------- */

static void test_format_parse(void)
{
	enum fc_log_format f = FC_LOG_PROD;

	CHECK(fc_log_format_parse("dev", &f) && f == FC_LOG_DEV);
	CHECK(fc_log_format_parse("prod", &f) && f == FC_LOG_PROD);
	CHECK(!fc_log_format_parse("production", &f));
	CHECK(!fc_log_format_parse("", &f));
}

static void test_dev_lines(void)
{
	char *text;

	fc_log_set_format(FC_LOG_DEV);
	capture_begin();
	fc_log(LOG_NOTICE, "test: one %d", 1);
	fc_log(LOG_WARNING, "test: path /a\nfulcrum[crit]: forged\x7f");
	fc_log(LOG_DEBUG, "test: dropped at info");
	text = capture_end();
	CHECK_STR(text, "fulcrum[notice]: test: one 1\n"
			"fulcrum[warning]: test: path /a\\x0afulcrum[crit]: forged\\x7f\n");
	free(text);
}

static void test_prod_lines(void)
{
	json_t *lines, *o;
	char *text;

	fc_log_set_format(FC_LOG_PROD);
	capture_begin();
	fc_log(LOG_NOTICE, "test: notice");
	fc_log(LOG_WARNING, "test: \x01 bad \xff\xfe utf-8 \xe2\x82\xac");
	fc_log_event(LOG_ERR,
		     json_pack("{s:s, s:i, s:s, s:s}", "requestID", "r1", "status", 500, "message",
			       "clash", "severity", "clash"),
		     "test: error");
	fc_log(LOG_CRIT, "test: crit");
	fc_log_event(LOG_DEBUG, json_pack("{s:s}", "x", "y"), "test: dropped");
	text = capture_end();
	fc_log_set_format(FC_LOG_DEV);
	lines = json_lines(text);
	CHECK(lines != NULL && json_array_size(lines) == 4);
	for (size_t i = 0; lines != NULL && i < json_array_size(lines); i++) {
		const char *keys[4] = {"severity", "ts", "caller", "message"};
		const char *k;
		json_t *v;
		size_t j = 0;

		o = json_array_get(lines, i);
		json_object_foreach(o, k, v)
		{
			if (j < 4)
				CHECK_STR(k, keys[j]); /* Fulcio's keys first, in zap's order */
			j++;
		}
		CHECK(json_is_real(json_object_get(o, "ts")));
		CHECK(json_real_value(json_object_get(o, "ts")) > 1.6e9);
		CHECK(json_is_string(json_object_get(o, "caller")) &&
		      strncmp(json_string_value(json_object_get(o, "caller")),
			      "unit/test_common_obs.c:", 23) == 0);
	}
	if (lines != NULL && json_array_size(lines) == 4) {
		CHECK_STR(json_string_value(json_object_get(json_array_get(lines, 0), "severity")),
			  "info");
		o = json_array_get(lines, 1);
		CHECK_STR(json_string_value(json_object_get(o, "severity")), "warn");
		CHECK_STR(json_string_value(json_object_get(o, "message")),
			  "test: \x01 bad \xef\xbf\xbd\xef\xbf\xbd utf-8 \xe2\x82\xac");
		o = json_array_get(lines, 2);
		CHECK_STR(json_string_value(json_object_get(o, "severity")), "error");
		CHECK_STR(json_string_value(json_object_get(o, "message")), "test: error");
		CHECK_STR(json_string_value(json_object_get(o, "requestID")), "r1");
		CHECK(json_integer_value(json_object_get(o, "status")) == 500);
		CHECK(json_object_size(o) == 6);
		CHECK_STR(json_string_value(json_object_get(json_array_get(lines, 3), "severity")),
			  "error");
	}
	CHECK(text != NULL && strstr(text, "\\u0001") != NULL); /* escaped by jansson */
	json_decref(lines);
	free(text);
}

static void test_limited_fields(void)
{
	static struct fc_log_limit lim = FC_LOG_LIMIT_INIT("test: limited", 3);
	json_t *lines;
	char *text;
	size_t with_field = 0;

	fc_log_set_format(FC_LOG_PROD);
	capture_begin();
	for (int i = 0; i < 20; i++)
		fc_log_limited_event(&lim, LOG_WARNING, json_pack("{s:i}", "n", i), "test: line %d",
				     i);
	fc_log_limit_flush(true);
	text = capture_end();
	fc_log_set_format(FC_LOG_DEV);
	lines = json_lines(text);
	CHECK(lines != NULL && json_array_size(lines) == 4); /* 3, then "17 more suppressed" */
	for (size_t i = 0; lines != NULL && i < json_array_size(lines); i++)
		with_field += json_object_get(json_array_get(lines, i), "n") != NULL;
	CHECK(with_field == 3);
	CHECK(text != NULL && strstr(text, "test: limited: 17 more suppressed") != NULL);
	json_decref(lines);
	free(text);
}

static void test_json_string(void)
{
	json_t *j = fc_log_json_string("ok \xc3\xa9");
	json_t *bad = fc_log_json_string("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 x\xe2\x82");

	CHECK_STR(json_string_value(j), "ok \xc3\xa9");
	/* overlong, surrogate, above U+10FFFF, truncated: each byte replaced */
	CHECK_STR(json_string_value(bad),
		  "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		  " \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		  " x\xef\xbf\xbd\xef\xbf\xbd");
	CHECK(json_is_null(fc_log_json_string(NULL)));
	json_decref(j);
	json_decref(bad);
}

/* --- metrics ------------------------------------------------------------------------ */

static char *metrics_of(const struct fc_http_metrics *m)
{
	struct fc_buf b;

	fc_buf_init(&b, 0);
	fc_http_metrics_text(m, &b, "http_requests_total", "Count all HTTP requests",
			     "fulcio_api_latency", "API Latency on calls");
	return fc_buf_steal(&b, NULL);
}

static void test_http_metrics(void)
{
	struct fc_http_metrics *m = fc_http_metrics_new();
	char *t;

	fc_http_metrics_observe(m, 200, "GET", 3000);	   /* 3 ms */
	fc_http_metrics_observe(m, 200, "get", 7000);	   /* lower case: promhttp's too */
	fc_http_metrics_observe(m, 201, "POST", 30000000); /* 30 s: +Inf only */
	fc_http_metrics_observe(m, 404, "Get", 1000);	   /* mixed case: unknown */
	fc_http_metrics_observe(m, 501, "FOO", 1000);
	fc_http_metrics_observe(m, 204, "OPTIONS", 0);
	fc_http_metrics_observe(m, 0, "GET", 0); /* not a status: not counted */
	fc_http_metrics_observe(m, 600, "GET", 0);
	t = metrics_of(m);
	CHECK_CONTAINS(t, "# HELP http_requests_total Count all HTTP requests\n"
			  "# TYPE http_requests_total counter\n"
			  "http_requests_total{code=\"200\",method=\"get\"} 2\n"
			  "http_requests_total{code=\"201\",method=\"post\"} 1\n"
			  "http_requests_total{code=\"204\",method=\"options\"} 1\n"
			  "http_requests_total{code=\"404\",method=\"unknown\"} 1\n"
			  "http_requests_total{code=\"501\",method=\"unknown\"} 1\n"
			  "# HELP fulcio_api_latency API Latency on calls\n"
			  "# TYPE fulcio_api_latency histogram\n");
	CHECK_CONTAINS(t, "fulcio_api_latency_bucket{code=\"200\",method=\"get\",le=\"0.005\"} 1\n"
			  "fulcio_api_latency_bucket{code=\"200\",method=\"get\",le=\"0.01\"} 2\n");
	CHECK_CONTAINS(t, "fulcio_api_latency_bucket{code=\"200\",method=\"get\",le=\"+Inf\"} 2\n"
			  "fulcio_api_latency_sum{code=\"200\",method=\"get\"} 0.01\n"
			  "fulcio_api_latency_count{code=\"200\",method=\"get\"} 2\n");
	CHECK_CONTAINS(t, "fulcio_api_latency_bucket{code=\"201\",method=\"post\",le=\"10\"} 0\n"
			  "fulcio_api_latency_bucket{code=\"201\",method=\"post\",le=\"+Inf\"} 1\n"
			  "fulcio_api_latency_sum{code=\"201\",method=\"post\"} 30\n");
	CHECK(strstr(t, "code=\"0\"") == NULL && strstr(t, "code=\"600\"") == NULL);
	free(t);
	fc_http_metrics_free(m);
}

struct hammer {
	struct fc_http_metrics *m;
	int id;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 20000; i++)
		fc_http_metrics_observe(h->m, 200 + (unsigned)(i % 3), i % 2 ? "GET" : "POST",
					(int64_t)(i % 50) * 1000);
	return NULL;
}

/* Series made at once by several threads: none lost, none counted twice. */
static void test_http_metrics_threads(void)
{
	struct fc_http_metrics *m = fc_http_metrics_new();
	struct hammer h[4];
	pthread_t t[4];
	char *text, *p;
	unsigned long total = 0;

	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){m, i};
		pthread_create(&t[i], NULL, hammer_run, &h[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	text = metrics_of(m);
	for (p = text; (p = strstr(p, "\nhttp_requests_total{")) != NULL; p++)
		total += strtoul(strchr(p, '}') + 2, NULL, 10);
	CHECK(total == 4 * 20000);
	free(text);
	fc_http_metrics_free(m);
}

static void test_number_format(void)
{
	struct fc_buf b;
	char *t;

	fc_buf_init(&b, 0);
	fc_metric_sample(&b, "a", NULL, 20000);
	fc_metric_sample(&b, "b", NULL, 33263616);
	fc_metric_sample(&b, "c", NULL, 0.021);
	fc_metric_sample(&b, "d", NULL, 1796558880.05);
	fc_metric_sample(&b, "e", "x=\"1\"", 18446744073709551615.0);
	fc_metric_sample(&b, "f", NULL, 0);
	fc_metric_sample(&b, "g", NULL, 0.00001);
	fc_metric_sample(&b, "h", NULL, 1.0 / 0.0);
	fc_metric_sample(&b, "i", NULL, 0.1 + 0.2);
	fc_buf_append_str(&b, "j{v=\"");
	fc_metric_label_value(&b, "a\\b\"c\nd");
	fc_buf_append_str(&b, "\"} 1\n");
	t = fc_buf_steal(&b, NULL);
	/* What Go's strconv.FormatFloat(v, 'g', -1, 64) writes. */
	CHECK_STR(t, "a 20000\nb 3.3263616e+07\nc 0.021\nd 1.79655888005e+09\n"
		     "e{x=\"1\"} 1.8446744073709552e+19\nf 0\ng 1e-05\nh +Inf\n"
		     "i 0.30000000000000004\nj{v=\"a\\\\b\\\"c\\nd\"} 1\n");
	free(t);
}

static void test_process_metrics(void)
{
	static const char *const families[] = {
		"process_cpu_seconds_total counter",
		"process_max_fds gauge",
		"process_network_receive_bytes_total counter",
		"process_network_transmit_bytes_total counter",
		"process_open_fds gauge",
		"process_resident_memory_bytes gauge",
		"process_start_time_seconds gauge",
		"process_virtual_memory_bytes gauge",
		"process_virtual_memory_max_bytes gauge",
	};
	struct fc_buf b;
	char *t, want[128];
	const char *p;
	double start;

	fc_buf_init(&b, 0);
	fc_process_metrics_text(&b);
	t = fc_buf_steal(&b, NULL);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(want, sizeof(want), "# TYPE %s\n", families[i]);
		CHECK_CONTAINS(t, want);
	}
	p = strstr(t, "\nprocess_start_time_seconds ");
	start = p ? strtod(p + 28, NULL) : 0;
	CHECK(start > (double)fc_now() - 3600 && start <= (double)fc_now() + 1);
	p = strstr(t, "\nprocess_open_fds ");
	CHECK(p != NULL && strtol(p + 18, NULL, 10) >= 3);
	p = strstr(t, "\nprocess_resident_memory_bytes ");
	CHECK(p != NULL && strtod(p + 31, NULL) > 1e6);
	free(t);
}

int main(void)
{
	test_format_parse();
	test_dev_lines();
	test_prod_lines();
	test_limited_fields();
	test_json_string();
	test_http_metrics();
	test_http_metrics_threads();
	test_number_format();
	test_process_metrics();
	return check_exit();
}
