/*
 * The limiter: a request's buckets and their limits (config.c), decided in
 * Redis when one is configured and answering (redis.c), else in this
 * process's memory (mem.c); refusals answered with who is over which limit
 * and when to retry, and counted by issuer.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_int.h"

/* Refusals are counted per issuer for the first this many issuers, then
 * under issuer="other": MetaIssuers tenants must not grow the metrics. */
#define RL_METRIC_ISSUERS 32

struct issuer_count {
	char *issuer;
	uint64_t n;
};

struct rl_limiter {
	struct rl_config *cfg;
	struct rl_mem *mem;
	struct rl_redis *redis; /* NULL: memory only */
	pthread_mutex_t counts_mu;
	struct issuer_count counts[RL_METRIC_ISSUERS];
	size_t n_counts;
	uint64_t other_count;
};

/*
 * Make a limiter (ratelimit.h). Takes cfg whatever happens.
 */
enum fc_status rl_limiter_new(struct rl_config *cfg, const struct rl_options *o,
			      struct rl_limiter **out, struct fc_err *err)
{
	struct rl_limiter *l;
	struct rl_redis_addr addr;
	char desc[256];

	if (o != NULL && o->redis != NULL && rl_redis_parse_addr(o->redis, &addr, err) != FC_OK) {
		rl_config_free(cfg);
		return FC_ECONFIG;
	}
	l = fc_xcalloc(1, sizeof(*l));
	l->cfg = cfg;
	l->mem = rl_mem_new(rl_config_max_keys(cfg));
	pthread_mutex_init(&l->counts_mu, NULL);
	rl_config_describe(cfg, desc, sizeof(desc));
	fc_log(LOG_NOTICE, "ratelimit: on: %s; %s", desc,
	       o != NULL && o->redis != NULL ? "shared through redis" : "in this process's memory");
	if (o != NULL && o->redis != NULL)
		l->redis = rl_redis_new(&addr, o->redis_conns, rl_config_redis_timeout_ms(cfg));
	*out = l;
	return FC_OK;
}

/* Close and free. NULL is fine. */
void rl_limiter_free(struct rl_limiter *l)
{
	if (l == NULL)
		return;
	rl_redis_free(l->redis);
	rl_mem_free(l->mem);
	rl_config_free(l->cfg);
	for (size_t i = 0; i < l->n_counts; i++)
		free(l->counts[i].issuer);
	pthread_mutex_destroy(&l->counts_mu);
	free(l);
}

static void count_refusal(struct rl_limiter *l, const char *issuer)
{
	size_t i;

	pthread_mutex_lock(&l->counts_mu);
	for (i = 0; i < l->n_counts && strcmp(l->counts[i].issuer, issuer) != 0; i++)
		;
	if (i == l->n_counts && i < RL_METRIC_ISSUERS)
		l->counts[l->n_counts++].issuer = fc_xstrdup(issuer);
	if (i < l->n_counts)
		l->counts[i].n++;
	else
		l->other_count++;
	pthread_mutex_unlock(&l->counts_mu);
}

/* "identity alice@example.com of issuer https://..." or the repository's. */
static void describe(enum rl_bucket b, const struct rl_request *rq, char *buf, size_t cap)
{
	if (b == RL_BUCKET_IDENTITY)
		snprintf(buf, cap, "identity %.200s of issuer %.160s", rq->subject, rq->issuer);
	else
		snprintf(buf, cap, "repository %.200s of issuer %.160s", rq->repository,
			 rq->issuer);
}

/* A refusal: the class, the reason, Retry-After, the counter. */
static enum fc_status refuse(struct rl_limiter *l, const struct rl_request *rq, enum rl_bucket b,
			     const struct rl_limit *lim, int64_t wait_us, int64_t *retry_after_s,
			     struct fc_err *err)
{
	char who[400];

	describe(b, rq, who, sizeof(who));
	count_refusal(l, rq->issuer);
	if (lim->kind == RL_REFUSE) {
		*retry_after_s = RL_REFUSED_RETRY_S;
		return fc_err_set_class(err, FC_CLASS_RATE_LIMIT, FC_EUNAVAIL,
					"rate limit: %s may not obtain certificates (its rate is 0 "
					"in the rate-limit configuration); ask the operator",
					who);
	}
	*retry_after_s = rl_retry_after_s(wait_us);
	return fc_err_set_class(err, FC_CLASS_RATE_LIMIT, FC_EUNAVAIL,
				"rate limit: %s is over its limit of %" PRIu32 "/%s (burst %" PRIu32
				"); retry in %" PRId64 " s",
				who, lim->count, lim->unit, lim->burst, *retry_after_s);
}

/*
 * Check rq against its buckets (ratelimit.h): a limit of 0 refuses at
 * once; the finite ones are taken from together, in Redis when it
 * answers, else in memory.
 */
enum fc_status rl_check(struct rl_limiter *l, const struct rl_request *rq, int64_t *retry_after_s,
			struct fc_err *err)
{
	struct rl_limit lim[2], use[RL_MAX_BUCKETS];
	struct rl_key keys[RL_MAX_BUCKETS];
	enum rl_bucket which[RL_MAX_BUCKETS];
	const char *values[2] = {rq->subject, rq->repository};
	struct rl_take t;
	size_t n = 0;

	*retry_after_s = 0;
	rl_config_lookup(l->cfg, rq, &lim[RL_BUCKET_IDENTITY], &lim[RL_BUCKET_REPOSITORY]);
	for (int b = 0; b < 2; b++) {
		if (lim[b].kind == RL_REFUSE)
			return refuse(l, rq, (enum rl_bucket)b, &lim[b], 0, retry_after_s, err);
		if (lim[b].kind != RL_RATE)
			continue;
		rl_key_make((enum rl_bucket)b, rq->issuer, values[b], &keys[n]);
		use[n] = lim[b];
		which[n++] = (enum rl_bucket)b;
	}
	if (n == 0)
		return FC_OK;
	if (l->redis == NULL || rl_redis_take(l->redis, keys, use, n, &t) != FC_OK)
		rl_mem_take(l->mem, keys, use, n, fc_mono_ms() * 1000, &t);
	if (t.admitted)
		return FC_OK;
	return refuse(l, rq, which[t.which], &use[t.which], t.wait_us, retry_after_s, err);
}

/* A Prometheus label value: \, " and newline escaped. */
static void append_label(struct fc_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fc_buf_append(b, "\\", 1);
		if (*v == '\n')
			fc_buf_append_str(b, "\\n");
		else
			fc_buf_append(b, v, 1);
	}
}

static void append_fmt(struct fc_buf *b, const char *fmt, ...) FC_PRINTF(2, 3);
static void append_fmt(struct fc_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fc_buf_append_str(b, line);
}

/*
 * The limiter's metrics (ratelimit.h): refusals by issuer, keys in memory,
 * evictions past max-keys, and with Redis its state, outages and checks
 * decided in memory.
 */
void rl_metrics_text(struct rl_limiter *l, struct fc_buf *b)
{
	append_fmt(b, "# HELP fulcrum_rate_limited_total Signing requests refused by the rate "
		      "limits, by issuer\n# TYPE fulcrum_rate_limited_total counter\n");
	pthread_mutex_lock(&l->counts_mu);
	for (size_t i = 0; i < l->n_counts; i++) {
		fc_buf_append_str(b, "fulcrum_rate_limited_total{issuer=\"");
		append_label(b, l->counts[i].issuer);
		append_fmt(b, "\"} %" PRIu64 "\n", l->counts[i].n);
	}
	if (l->other_count > 0)
		append_fmt(b, "fulcrum_rate_limited_total{issuer=\"other\"} %" PRIu64 "\n",
			   l->other_count);
	pthread_mutex_unlock(&l->counts_mu);
	append_fmt(b,
		   "# HELP fulcrum_rate_limit_keys Rate-limit keys held in this replica's "
		   "memory\n# TYPE fulcrum_rate_limit_keys gauge\nfulcrum_rate_limit_keys %zu\n",
		   rl_mem_count(l->mem));
	append_fmt(b,
		   "# HELP fulcrum_rate_limit_evictions_total Keys dropped before their "
		   "bucket was full, to stay within max-keys\n"
		   "# TYPE fulcrum_rate_limit_evictions_total counter\n"
		   "fulcrum_rate_limit_evictions_total %" PRIu64 "\n",
		   rl_mem_evictions(l->mem));
	if (l->redis != NULL) {
		struct rl_redis_stats s;
		rl_redis_stats(l->redis, &s);
		append_fmt(b,
			   "# HELP fulcrum_rate_limit_redis_up 1 while Redis answers (shared "
			   "limits), 0 during an outage (this replica's own limits)\n"
			   "# TYPE fulcrum_rate_limit_redis_up gauge\n"
			   "fulcrum_rate_limit_redis_up %d\n",
			   s.up ? 1 : 0);
		append_fmt(b,
			   "# HELP fulcrum_rate_limit_redis_outages_total Redis outages begun\n"
			   "# TYPE fulcrum_rate_limit_redis_outages_total counter\n"
			   "fulcrum_rate_limit_redis_outages_total %" PRIu64 "\n",
			   s.outages);
		append_fmt(b,
			   "# HELP fulcrum_rate_limit_redis_fallbacks_total Checks decided in "
			   "memory because Redis did not answer\n"
			   "# TYPE fulcrum_rate_limit_redis_fallbacks_total counter\n"
			   "fulcrum_rate_limit_redis_fallbacks_total %" PRIu64 "\n",
			   s.fallbacks);
	}
}
