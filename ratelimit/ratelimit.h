/*
 * ratelimit: per-identity rate limits on certificate issuance.
 *
 * Each verified identity has a bucket keyed by its issuer and subject (the
 * principal the certificate names: its SAN value); a CI identity that
 * carries a source repository (Sigstore extension 1.3.6.1.4.1.57264.1.12)
 * also has one keyed by issuer and repository. A request is admitted only
 * when every bucket it has admits it, and then it takes one token from
 * each. The buckets are GCRA (the generic cell rate algorithm, ITU-T I.371):
 * one timestamp per key, the theoretical arrival time (TAT) of the next
 * request at the steady rate; a key whose TAT has passed is a full bucket
 * and needs no state.
 *
 * The limits come from a configuration file (JSON or YAML): a default per
 * identity and per repository, per-issuer defaults, and overrides for one
 * subject or repository of an issuer; a limit is a rate and a burst,
 * "unlimited", or 0 (refuse every request).
 *
 * Where the TATs live: in this process's memory (a sharded hash table of at
 * most max-keys keys), or in Redis, shared by every replica behind a load
 * balancer (one atomic script per check, on Redis's clock). When Redis
 * cannot answer, checks fall back to this process's memory until it
 * answers again (docs/ratelimit.md).
 *
 * Threads: rl_check may be called from many threads at once.
 */
#ifndef FULCRUM_RATELIMIT_H
#define FULCRUM_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Hard limits on the configuration, checked while reading it. */
#define RL_MAX_FILE_BYTES (1024 * 1024)	     /* configuration file */
#define RL_MAX_ENTRIES 10000		     /* issuers, and overrides, each */
#define RL_MAX_BURST 10000		     /* burst of one limit */
#define RL_MAX_PER_SECOND 1000		     /* fastest finite rate */
#define RL_MAX_KEYS_LIMIT (10 * 1000 * 1000) /* largest max-keys */

/* Defaults of the configuration's tunables. */
#define RL_DEFAULT_MAX_KEYS 100000     /* keys kept in memory */
#define RL_DEFAULT_REDIS_TIMEOUT_MS 50 /* connect and reply timeout */
#define RL_DEFAULT_REDIS_CONNS 8       /* connections in the pool */

/* Retry-After for an identity whose rate is 0: it will not pass by
 * waiting; an hour keeps clients that honour the header from hammering. */
#define RL_REFUSED_RETRY_S 3600

/* --- configuration ---------------------------------------------------------- */

struct rl_config;

/*
 * Read a rate-limit configuration file (JSON, else YAML; docs/ratelimit.md
 * has the keys). FC_OK and *out (rl_config_free), FC_ENOTFOUND if the file
 * does not exist, else FC_ECONFIG with the file, the key path and the
 * problem in err.
 */
enum fc_status rl_config_load_file(const char *path, struct rl_config **out, struct fc_err *err);

/* The same from memory; name is used in messages. */
enum fc_status rl_config_load_mem(const char *text, size_t len, const char *name,
				  struct rl_config **out, struct fc_err *err);

void rl_config_free(struct rl_config *cfg); /* NULL is fine */

/* --- the limiter -------------------------------------------------------------- */

struct rl_options {
	/* NULL: in memory only. Else Redis: "redis://HOST[:PORT][/DB]" (HOST
	 * a name, an IPv4 address or [IPv6]; PORT 6379 by default) or the path
	 * of a unix socket ("/run/redis.sock" or "unix:///run/redis.sock",
	 * either with an optional "?db=N"). */
	const char *redis;
	unsigned redis_conns; /* pool size (0: RL_DEFAULT_REDIS_CONNS) */
};

/* Who is asking: strings of the verified identity (borrowed). */
struct rl_request {
	const char *issuer;	/* the token's iss */
	const char *subject;	/* the certificate's principal (SAN value) */
	const char *repository; /* source repository URI, or NULL */
};

struct rl_limiter;

/*
 * Make a limiter over cfg (taken, also on failure). With o->redis, the URL
 * is parsed here (FC_ECONFIG if it does not parse) and Redis is tried once;
 * if it does not answer, the limiter starts on this process's memory and
 * keeps trying. FC_OK and *out (rl_limiter_free).
 */
enum fc_status rl_limiter_new(struct rl_config *cfg, const struct rl_options *o,
			      struct rl_limiter **out, struct fc_err *err);

/*
 * Check a request against its buckets and take a token from each when all
 * admit it. FC_OK: go on. FC_EUNAVAIL with class FC_CLASS_RATE_LIMIT: over
 * a limit (or a limit of 0); err names the identity or repository, its
 * limit and when to retry, and *retry_after_s is that wait in whole
 * seconds, rounded up (at least 1).
 */
enum fc_status rl_check(struct rl_limiter *l, const struct rl_request *rq, int64_t *retry_after_s,
			struct fc_err *err);

/* Append the limiter's metrics (Prometheus text format) to b. */
void rl_metrics_text(struct rl_limiter *l, struct fc_buf *b);

/* Close the Redis connections and free everything. NULL is fine. */
void rl_limiter_free(struct rl_limiter *l);

#endif /* FULCRUM_RATELIMIT_H */
