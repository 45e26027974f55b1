/*
 * Prometheus metrics in the text exposition format (version 0.0.4): the
 * writing of families and samples, HTTP request metrics by status code and
 * method as client_golang's promhttp middleware labels them (the families
 * Fulcio's dashboards read), and the process collector's families read from
 * /proc/self.
 *
 * The hot path is one relaxed atomic load (the series exists) or one
 * compare-and-swap (its first request), then atomic adds; the series are
 * bounded by status codes times methods.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

/* --- writing ---------------------------------------------------------------- */

/* Append "# HELP name help\n# TYPE name type\n" (help has no newline). */
void fc_metric_family(struct fc_buf *b, const char *name, const char *type, const char *help)
{
	fc_buf_append_str(b, "# HELP ");
	fc_buf_append_str(b, name);
	fc_buf_append_str(b, " ");
	fc_buf_append_str(b, help);
	fc_buf_append_str(b, "\n# TYPE ");
	fc_buf_append_str(b, name);
	fc_buf_append_str(b, " ");
	fc_buf_append_str(b, type);
	fc_buf_append_str(b, "\n");
}

/* Append s as a label value: backslash, double quote and newline escaped. */
void fc_metric_label_value(struct fc_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fc_buf_append_str(b, "\\\\");
		else if (*s == '"')
			fc_buf_append_str(b, "\\\"");
		else if (*s == '\n')
			fc_buf_append_str(b, "\\n");
		else
			fc_buf_append(b, s, 1);
	}
}

/*
 * v as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it, which is how
 * client_golang writes sample values: the fewest digits that read back as
 * the same double, in exponent form when the exponent is below -4 or at
 * least 6 ("3.3263616e+07", "20000", "0.021"); +Inf, -Inf, NaN.
 */
static void format_double(double v, char *out, size_t cap)
{
	char e[40];
	int prec = 1, exp;

	if (isnan(v) || isinf(v)) {
		snprintf(out, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	exp = atoi(strchr(e, 'e') + 1);
	if (exp < -4 || exp >= 6)
		snprintf(out, cap, "%s", e);
	else
		snprintf(out, cap, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
}

/* Append "name{labels} num\n". */
static void put_sample(struct fc_buf *b, const char *name, const char *labels, const char *num)
{
	fc_buf_append_str(b, name);
	if (labels != NULL && *labels != '\0') {
		fc_buf_append_str(b, "{");
		fc_buf_append_str(b, labels);
		fc_buf_append_str(b, "}");
	}
	fc_buf_append_str(b, " ");
	fc_buf_append_str(b, num);
	fc_buf_append_str(b, "\n");
}

/* Append "name{labels} value\n"; labels is NULL or 'k="v",...' already
 * escaped (fc_metric_label_value). */
void fc_metric_sample(struct fc_buf *b, const char *name, const char *labels, double v)
{
	char num[40];

	format_double(v, num, sizeof(num));
	put_sample(b, name, labels, num);
}

/* The same for a count (exact beyond 2^53). */
void fc_metric_sample_u64(struct fc_buf *b, const char *name, const char *labels, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	put_sample(b, name, labels, num);
}

/* --- HTTP requests by code and method ------------------------------------------ */

#define CODE_MIN 100
#define CODE_MAX 599
#define N_CODES (CODE_MAX - CODE_MIN + 1)

/* promhttp's method labels (sanitizeMethod): these ten, matched in upper
 * or lower case, and "unknown" for any other; in the alphabetical order
 * in which client_golang writes series. */
static const char *const method_labels[] = {
	"connect", "delete", "get", "head",  "notify",	"options",
	"patch",   "post",   "put", "trace", "unknown",
};
#define N_METHODS (sizeof(method_labels) / sizeof(method_labels[0]))

/* client_golang's DefBuckets, in seconds and in microseconds. */
static const char *const bucket_le[FC_HTTP_METRICS_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
static const int64_t bucket_us[FC_HTTP_METRICS_BUCKETS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* One (code, method) pair: made at its first request, never freed before
 * the whole. */
struct http_series {
	atomic_ulong count;
	atomic_ulong bucket[FC_HTTP_METRICS_BUCKETS + 1]; /* not cumulative; +Inf last */
	atomic_ullong sum_us;
};

struct fc_http_metrics {
	_Atomic(struct http_series *) series[N_CODES][N_METHODS];
};

struct fc_http_metrics *fc_http_metrics_new(void)
{
	return fc_xcalloc(1, sizeof(struct fc_http_metrics));
}

void fc_http_metrics_free(struct fc_http_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t c = 0; c < N_CODES; c++)
		for (size_t k = 0; k < N_METHODS; k++)
			free(atomic_load(&m->series[c][k]));
	free(m);
}

/* The index of method's label (promhttp's sanitizeMethod). */
static size_t method_index(const char *method)
{
	static const char *const upper[] = {"CONNECT", "DELETE", "GET",	 "HEAD", "NOTIFY",
					    "OPTIONS", "PATCH",	 "POST", "PUT",	 "TRACE"};

	for (size_t i = 0; i < N_METHODS - 1; i++)
		if (strcmp(method, upper[i]) == 0 || strcmp(method, method_labels[i]) == 0)
			return i;
	return N_METHODS - 1;
}

/*
 * Count one request answered with status (100 to 599; others are not
 * counted) for method, that took us microseconds. Thread-safe, lock-free.
 */
void fc_http_metrics_observe(struct fc_http_metrics *m, unsigned status, const char *method,
			     int64_t us)
{
	struct http_series *s, *fresh;
	size_t b = 0;

	if (status < CODE_MIN || status > CODE_MAX)
		return;
	_Atomic(struct http_series *) *slot = &m->series[status - CODE_MIN][method_index(method)];
	if ((s = atomic_load_explicit(slot, memory_order_acquire)) == NULL) {
		fresh = fc_xcalloc(1, sizeof(*fresh));
		s = NULL;
		if (atomic_compare_exchange_strong(slot, &s, fresh))
			s = fresh;
		else
			free(fresh); /* another thread made it first: s is theirs */
	}
	if (us < 0)
		us = 0;
	while (b < FC_HTTP_METRICS_BUCKETS && us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, (unsigned long long)us, memory_order_relaxed);
}

/* The histogram's samples for one series (labels 'code="..",method=".."'). */
static void histogram_series(struct fc_buf *b, const char *name, const char *labels,
			     const struct http_series *s)
{
	char lbl[96], metric[128];
	unsigned long cum = 0;

	snprintf(metric, sizeof(metric), "%s_bucket", name);
	for (size_t i = 0; i <= FC_HTTP_METRICS_BUCKETS; i++) {
		cum += atomic_load_explicit(&s->bucket[i], memory_order_relaxed);
		snprintf(lbl, sizeof(lbl), "%s,le=\"%s\"", labels,
			 i < FC_HTTP_METRICS_BUCKETS ? bucket_le[i] : "+Inf");
		fc_metric_sample_u64(b, metric, lbl, cum);
	}
	snprintf(metric, sizeof(metric), "%s_sum", name);
	fc_metric_sample(b, metric, labels,
			 (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
	snprintf(metric, sizeof(metric), "%s_count", name);
	fc_metric_sample_u64(b, metric, labels, cum);
}

/*
 * Append the counter family counter (labels code, method: promhttp's
 * InstrumentHandlerCounter) and the histogram family histogram (the same
 * labels, DefBuckets: InstrumentHandlerDuration), each with its help, and a
 * series only for the pairs seen so far, as client_golang does.
 */
void fc_http_metrics_text(const struct fc_http_metrics *m, struct fc_buf *b, const char *counter,
			  const char *counter_help, const char *histogram,
			  const char *histogram_help)
{
	char labels[64];

	fc_metric_family(b, counter, "counter", counter_help);
	for (size_t c = 0; c < N_CODES; c++)
		for (size_t k = 0; k < N_METHODS; k++) {
			const struct http_series *s = atomic_load(&m->series[c][k]);
			if (s == NULL)
				continue;
			snprintf(labels, sizeof(labels), "code=\"%zu\",method=\"%s\"", c + CODE_MIN,
				 method_labels[k]);
			fc_metric_sample_u64(b, counter, labels, atomic_load(&s->count));
		}
	fc_metric_family(b, histogram, "histogram", histogram_help);
	for (size_t c = 0; c < N_CODES; c++)
		for (size_t k = 0; k < N_METHODS; k++) {
			const struct http_series *s = atomic_load(&m->series[c][k]);
			if (s == NULL)
				continue;
			snprintf(labels, sizeof(labels), "code=\"%zu\",method=\"%s\"", c + CODE_MIN,
				 method_labels[k]);
			histogram_series(b, histogram, labels, s);
		}
}

/* --- the process collector ------------------------------------------------------ */

/* Read a /proc file (whose size stat cannot tell) into buf; false if it
 * cannot be read. */
static bool read_proc(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (len < cap - 1) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return len > 0;
}

/* What /proc/self/stat says (proc(5)): CPU seconds, start time in clock
 * ticks after boot, virtual and resident memory in bytes. */
struct proc_stat {
	double cpu_s;
	unsigned long long start_ticks;
	unsigned long long vsize;
	unsigned long long rss_bytes;
};

static bool read_self_stat(struct proc_stat *ps)
{
	char buf[1024];
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	const char *p;

	if (!read_proc("/proc/self/stat", buf, sizeof(buf)) || (p = strrchr(buf, ')')) == NULL)
		return false;
	/* After "(comm)": field 3 (state) onwards; utime is field 14. */
	if (sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d"
		   " %llu %llu %lld",
		   &utime, &stime, &start, &vsize, &rss) != 5)
		return false;
	if (tck <= 0)
		tck = 100;
	ps->cpu_s = (double)(utime + stime) / (double)tck;
	ps->start_ticks = start;
	ps->vsize = vsize;
	ps->rss_bytes = rss > 0 ? (unsigned long long)rss * (unsigned long long)page : 0;
	return true;
}

/* The boot time (btime in /proc/stat), seconds since the epoch; 0 if
 * unknown. */
static unsigned long long boot_time(void)
{
	static char buf[16384];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned long long bt = 0;
	const char *p;

	pthread_mutex_lock(&lock);
	if (read_proc("/proc/stat", buf, sizeof(buf)) && (p = strstr(buf, "\nbtime ")) != NULL)
		bt = strtoull(p + 7, NULL, 10);
	pthread_mutex_unlock(&lock);
	return bt;
}

/* The open descriptors: entries of /proc/self/fd (the one reading it
 * included, as procfs counts). -1 if unreadable. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The IpExt InOctets and OutOctets of /proc/self/net/netstat (the network
 * namespace's, as procfs reads them). */
static bool net_octets(double *in, double *out)
{
	static char buf[8192];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char *hdr, *val, *save1 = NULL, *save2 = NULL, *k, *v;
	bool found = false;

	pthread_mutex_lock(&lock);
	if (!read_proc("/proc/self/net/netstat", buf, sizeof(buf)) ||
	    (hdr = strstr(buf, "IpExt: ")) == NULL || (val = strstr(hdr + 1, "IpExt: ")) == NULL)
		goto out;
	hdr[strcspn(hdr, "\n")] = '\0';
	val[strcspn(val, "\n")] = '\0';
	*in = *out = 0;
	for (k = strtok_r(hdr + 7, " ", &save1), v = strtok_r(val + 7, " ", &save2);
	     k != NULL && v != NULL;
	     k = strtok_r(NULL, " ", &save1), v = strtok_r(NULL, " ", &save2)) {
		if (strcmp(k, "InOctets") == 0)
			*in = strtod(v, NULL), found = true;
		else if (strcmp(k, "OutOctets") == 0)
			*out = strtod(v, NULL), found = true;
	}
out:
	pthread_mutex_unlock(&lock);
	return found;
}

/* A soft limit as procfs gives it: "unlimited" is the largest uint64. */
static double rlimit_soft(int resource)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0)
		return NAN;
	return rl.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : (double)rl.rlim_cur;
}

static void single(struct fc_buf *b, const char *name, const char *type, const char *help, double v)
{
	fc_metric_family(b, name, type, help);
	fc_metric_sample(b, name, NULL, v);
}

/*
 * Append the families of client_golang's process collector, with its
 * names, types and help, read from /proc/self: CPU time, open and maximum
 * descriptors, network bytes, resident and virtual memory, the address
 * space limit and the start time. A family whose source cannot be read is
 * left out, as the collector does.
 */
void fc_process_metrics_text(struct fc_buf *b)
{
	struct proc_stat ps;
	bool have_stat = read_self_stat(&ps);
	long fds = open_fds();
	double in = 0, out = 0;
	unsigned long long bt;
	long tck = sysconf(_SC_CLK_TCK);

	if (have_stat)
		single(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.", ps.cpu_s);
	single(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
	       rlimit_soft(RLIMIT_NOFILE));
	if (net_octets(&in, &out)) {
		single(b, "process_network_receive_bytes_total", "counter",
		       "Number of bytes received by the process over the network.", in);
		single(b, "process_network_transmit_bytes_total", "counter",
		       "Number of bytes sent by the process over the network.", out);
	}
	if (fds >= 0)
		single(b, "process_open_fds", "gauge", "Number of open file descriptors.",
		       (double)fds);
	if (have_stat)
		single(b, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes.", (double)ps.rss_bytes);
	if (have_stat && (bt = boot_time()) != 0)
		single(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.",
		       (double)bt + (double)ps.start_ticks / (double)(tck > 0 ? tck : 100));
	if (have_stat)
		single(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
		       (double)ps.vsize);
	single(b, "process_virtual_memory_max_bytes", "gauge",
	       "Maximum amount of virtual memory available in bytes.", rlimit_soft(RLIMIT_AS));
}
