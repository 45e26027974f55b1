/*
 * Internals of the ratelimit module, shared by its files and its unit
 * tests. No other module includes this header. Sections follow the files
 * from the bottom (gcra.c) up; limiter.c, on top, is declared in
 * ratelimit.h.
 */
#ifndef FULCRUM_RATELIMIT_INT_H
#define FULCRUM_RATELIMIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ratelimit.h"

/* --- gcra.c: one limit and the arithmetic of its bucket ---------------------- */

enum rl_kind {
	RL_UNLIMITED = 0, /* no bucket at all */
	RL_RATE = 1,	  /* a rate and a burst */
	RL_REFUSE = 2,	  /* rate 0: every request refused */
};

struct rl_limit {
	enum rl_kind kind;
	int64_t interval_us; /* RL_RATE: the emission interval T (period / count) */
	uint32_t burst;	     /* RL_RATE: requests admitted at once after a lull */
	uint32_t count;	     /* RL_RATE: as written, for messages: count per unit */
	const char *unit;    /* RL_RATE: "second", "minute", "hour" or "day" */
};

/* The buckets of one request: its identity, and its repository. */
#define RL_MAX_BUCKETS 2
#define RL_KEY_BYTES 16

/* A bucket's key: the first 16 bytes of SHA-256("fulcrum-ratelimit" 0 kind
 * 0 issuer 0 value), the same in every replica. */
struct rl_key {
	uint8_t b[RL_KEY_BYTES];
};

enum rl_bucket { RL_BUCKET_IDENTITY = 0, RL_BUCKET_REPOSITORY = 1 };

void rl_key_make(enum rl_bucket kind, const char *issuer, const char *value, struct rl_key *out);

/*
 * One GCRA step for a bucket whose TAT is tat (0 or anything in the past:
 * a full bucket), at now (microseconds, same clock), under lim (RL_RATE).
 * True if the request is admitted, with *new_tat the TAT to store; false
 * with *wait_us, how long until it would be admitted.
 */
bool rl_gcra(int64_t tat, int64_t now, const struct rl_limit *lim, int64_t *new_tat,
	     int64_t *wait_us);

/* Whole seconds to wait, rounded up, at least 1 (Retry-After). */
int64_t rl_retry_after_s(int64_t wait_us);

/* The outcome of taking from up to RL_MAX_BUCKETS buckets at once. */
struct rl_take {
	bool admitted;
	int64_t wait_us; /* refused: the longest wait among the refusing buckets */
	size_t which;	 /* refused: the index of that bucket */
};

/* --- mem.c: buckets in this process's memory ---------------------------------- */

struct rl_mem;

/* A table of at most max_keys keys (>= 1). */
struct rl_mem *rl_mem_new(size_t max_keys);
void rl_mem_free(struct rl_mem *m);

/*
 * Take one token from each of the n buckets (keys[i] under lims[i],
 * RL_RATE) at now_us, all or none, atomically with respect to every other
 * call. Keys whose TAT has passed are dropped on the way; a new key past
 * max_keys first drops every such key of its shard, and if none was, the
 * key of its shard whose bucket is nearest to full (counted in
 * rl_mem_evictions): that key starts over with a full bucket.
 */
void rl_mem_take(struct rl_mem *m, const struct rl_key *keys, const struct rl_limit *lims, size_t n,
		 int64_t now_us, struct rl_take *out);
size_t rl_mem_count(struct rl_mem *m);
uint64_t rl_mem_evictions(struct rl_mem *m);

/* --- yaml.c: the YAML form ------------------------------------------------------ */

/*
 * Parse one YAML document into the JSON tree of the same shape: mappings
 * become objects (a duplicate key is refused), sequences arrays, scalars
 * strings (a plain ~, null or empty scalar: JSON null). Aliases are
 * resolved, within node and depth limits. FC_OK and *out (json_decref),
 * else FC_ECONFIG with the line in err.
 */
enum fc_status rl_yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
			       struct fc_err *err);

/* --- config.c: the configuration ------------------------------------------------- */

/*
 * A limit as written: rate "N/second|minute|hour|day" (also s, sec, m, min,
 * h, d), "unlimited", or 0; burst an integer in 1..RL_MAX_BURST with a
 * finite rate, absent otherwise. FC_ECONFIG with the problem (after
 * `where`) in err.
 */
enum fc_status rl_limit_parse(const json_t *rate, const json_t *burst, const char *where,
			      struct rl_limit *out, struct fc_err *err);

/* The limits for rq's identity and repository buckets (RL_UNLIMITED when
 * nothing applies, or the request has no repository). */
void rl_config_lookup(const struct rl_config *cfg, const struct rl_request *rq,
		      struct rl_limit *identity, struct rl_limit *repository);
size_t rl_config_max_keys(const struct rl_config *cfg);
/* The defaults, the number of issuers and overrides, max-keys: one line. */
void rl_config_describe(const struct rl_config *cfg, char *buf, size_t cap);
int rl_config_redis_timeout_ms(const struct rl_config *cfg);

/* --- redis.c: buckets in Redis ------------------------------------------------------ */

/* Where Redis listens, from --rate-limit-redis. */
struct rl_redis_addr {
	char host[256]; /* name or address; empty for a unix socket */
	int port;
	char path[108]; /* unix socket path; empty for TCP */
	int db;
};

/* Parse a Redis URL or socket path (ratelimit.h rl_options). FC_ECONFIG
 * with the reason in err. */
enum fc_status rl_redis_parse_addr(const char *url, struct rl_redis_addr *out, struct fc_err *err);

struct rl_redis;

/* A pool of conns connections to addr, made lazily; one PING is tried now
 * and its failure logged (the pool starts in an outage). */
struct rl_redis *rl_redis_new(const struct rl_redis_addr *addr, unsigned conns, int timeout_ms);
void rl_redis_free(struct rl_redis *r);

/*
 * rl_mem_take in Redis: one EVALSHA (EVAL when Redis answers NOSCRIPT) of
 * a script that reads Redis's clock (TIME) and takes from the buckets
 * atomically; keys expire when their bucket is full again. FC_OK with
 * *out; FC_EUNAVAIL when Redis cannot answer now (an outage: logged when
 * it starts and when it ends; checks in between are not tried on Redis
 * but for one probe per backoff interval), and the caller decides.
 */
enum fc_status rl_redis_take(struct rl_redis *r, const struct rl_key *keys,
			     const struct rl_limit *lims, size_t n, struct rl_take *out);

struct rl_redis_stats {
	bool up;
	uint64_t outages;   /* outages begun */
	uint64_t fallbacks; /* checks Redis did not decide */
};
void rl_redis_stats(struct rl_redis *r, struct rl_redis_stats *out);

/* The script, for tests and benchmarks. */
extern const char rl_redis_script[];

#endif /* FULCRUM_RATELIMIT_INT_H */
