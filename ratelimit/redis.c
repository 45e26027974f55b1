/*
 * Buckets in Redis, shared by every replica: one round trip per check, an
 * EVALSHA of a Lua script that reads Redis's own clock (TIME, the same for
 * every replica), decides every bucket of the request and, only if all
 * admit it, stores their new TATs with an expiry at the instant the bucket
 * is full again (PX), so that Redis holds only the keys that matter.
 *
 * Connections: a small pool (one hiredis context per slot, each behind a
 * mutex), made lazily, with a short connect and reply timeout. An outage
 * (no connection, a timeout, an error reply) is logged once when it starts
 * and once when it ends; while it lasts, checks are not sent to Redis
 * (the caller decides them in memory) but for one probe per backoff
 * interval (RL_REDIS_BACKOFF_MIN_MS doubling to RL_REDIS_BACKOFF_MAX_MS).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "ratelimit_int.h"

#define RL_REDIS_BACKOFF_MIN_MS 100
#define RL_REDIS_BACKOFF_MAX_MS 5000
#define RL_REDIS_KEY_PREFIX "fulcrum:rl:"

/*
 * KEYS: the buckets; ARGV: interval (us) and burst of each, in turn.
 * Returns {1, 0, 0} when admitted (TATs stored), else {0, wait_us, index
 * of the bucket with the longest wait, from 0}. Numbers are doubles in
 * Lua: microseconds since the epoch plus a burst window stay below 2^53.
 */
const char rl_redis_script[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local wait, which, tats = 0, 0, {}\n"
	"for i = 1, #KEYS do\n"
	"  local iv = tonumber(ARGV[2 * i - 1])\n"
	"  local burst = tonumber(ARGV[2 * i])\n"
	"  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
	"  if tat < now then tat = now end\n"
	"  local w = tat + iv - burst * iv - now\n"
	"  if w > wait then wait, which = w, i - 1 end\n"
	"  tats[i] = tat + iv\n"
	"end\n"
	"if wait > 0 then return {0, wait, which} end\n"
	"for i = 1, #KEYS do\n"
	"  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX',\n"
	"             string.format('%.0f', math.ceil((tats[i] - now) / 1000)))\n"
	"end\n"
	"return {1, 0, 0}\n";

struct conn {
	pthread_mutex_t mu;
	redisContext *ctx;
	uint64_t epoch; /* the outage count when it was made */
};

struct rl_redis {
	struct rl_redis_addr addr;
	char desc[400]; /* where, for logs */
	struct timeval tv;
	char sha[41]; /* SHA-1 of the script, hex */
	struct conn *conns;
	unsigned n;
	atomic_uint next;
	/* The outage state: changed under mu; down is read without it on
	 * the path of every check. */
	pthread_mutex_t mu;
	atomic_bool down;
	int64_t down_since_ms, retry_at_ms, backoff_ms;
	atomic_bool probing;
	atomic_uint_least64_t outages, fallbacks;
};

/* --- the address ---------------------------------------------------------------- */

static bool parse_db(const char *s, int *db)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 1000000)
		return false;
	*db = (int)v;
	return true;
}

static enum fc_status parse_unix(const char *url, const char *path, struct rl_redis_addr *out,
				 struct fc_err *err)
{
	const char *q = strchr(path, '?');
	size_t len = q ? (size_t)(q - path) : strlen(path);

	if (*path != '/' || len >= sizeof(out->path))
		return fc_err_set(err, FC_ECONFIG,
				  "rate-limit redis %s: a unix socket path must be "
				  "absolute and shorter than %zu bytes",
				  url, sizeof(out->path));
	if (q != NULL && (strncmp(q, "?db=", 4) != 0 || !parse_db(q + 4, &out->db)))
		return fc_err_set(err, FC_ECONFIG,
				  "rate-limit redis %s: after the socket path, "
				  "only ?db=N",
				  url);
	memcpy(out->path, path, len);
	out->path[len] = '\0';
	return FC_OK;
}

static enum fc_status parse_tcp(const char *url, const char *p, struct rl_redis_addr *out,
				struct fc_err *err)
{
	const char *host = p, *host_end, *rest;
	char *end;
	long port = 6379;

	if (strchr(p, '@') != NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "rate-limit redis %s: credentials in the URL "
				  "are not supported",
				  url);
	if (*p == '[') {
		host = p + 1;
		if ((host_end = strchr(host, ']')) == NULL)
			goto bad;
		rest = host_end + 1;
	} else {
		host_end = host + strcspn(host, ":/");
		rest = host_end;
	}
	if (host_end == host || (size_t)(host_end - host) >= sizeof(out->host))
		goto bad;
	if (*rest == ':') {
		port = strtol(rest + 1, &end, 10);
		if (end == rest + 1 || port < 1 || port > 65535)
			goto bad;
		rest = end;
	}
	if (*rest == '/' && rest[1] != '\0' && !parse_db(rest + 1, &out->db))
		goto bad;
	if (*rest != '\0' && *rest != '/')
		goto bad;
	memcpy(out->host, host, (size_t)(host_end - host));
	out->host[host_end - host] = '\0';
	out->port = (int)port;
	return FC_OK;
bad:
	return fc_err_set(err, FC_ECONFIG,
			  "rate-limit redis %s: write redis://HOST[:PORT][/DB] "
			  "(HOST a name, an IPv4 address or [IPv6]) or a unix socket path",
			  url);
}

/*
 * redis://HOST[:PORT][/DB], unix://PATH[?db=N] or /PATH[?db=N]
 * (ratelimit_int.h).
 */
enum fc_status rl_redis_parse_addr(const char *url, struct rl_redis_addr *out, struct fc_err *err)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(url, "redis://", 8) == 0)
		return parse_tcp(url, url + 8, out, err);
	if (strncmp(url, "unix://", 7) == 0)
		return parse_unix(url, url + 7, out, err);
	if (*url == '/')
		return parse_unix(url, url, out, err);
	return fc_err_set(err, FC_ECONFIG,
			  "rate-limit redis %s: write redis://HOST[:PORT][/DB] "
			  "or a unix socket path",
			  url);
}

/* --- the outage state -------------------------------------------------------------- */

/* May this check go to Redis? *probe: it is the one probe of an outage. */
static bool may_try(struct rl_redis *r, bool *probe)
{
	bool ok = true, expected = false;

	*probe = false;
	if (!atomic_load(&r->down))
		return true;
	pthread_mutex_lock(&r->mu);
	if (r->down) {
		ok = fc_mono_ms() >= r->retry_at_ms &&
		     atomic_compare_exchange_strong(&r->probing, &expected, true);
		*probe = ok;
	}
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* Redis failed (why): an outage begins (logged), or a probe failed (the
 * next one waits twice as long). */
static void mark_down(struct rl_redis *r, bool probe, const char *why)
{
	int64_t now = fc_mono_ms();

	pthread_mutex_lock(&r->mu);
	if (!r->down) {
		r->down = true;
		r->down_since_ms = now;
		r->backoff_ms = RL_REDIS_BACKOFF_MIN_MS;
		atomic_fetch_add(&r->outages, 1);
		fc_log(LOG_WARNING,
		       "ratelimit: redis %s: %s: checking this replica's own limits "
		       "(in memory) until it answers again",
		       r->desc, why);
	} else if (probe) {
		r->backoff_ms = r->backoff_ms * 2 > RL_REDIS_BACKOFF_MAX_MS
					? RL_REDIS_BACKOFF_MAX_MS
					: r->backoff_ms * 2;
		fc_log(LOG_DEBUG, "ratelimit: redis %s: still down: %s", r->desc, why);
	}
	r->retry_at_ms = now + r->backoff_ms;
	pthread_mutex_unlock(&r->mu);
}

/* A probe succeeded: the outage is over (logged). */
static void mark_up(struct rl_redis *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->down) {
		r->down = false;
		fc_log(LOG_NOTICE,
		       "ratelimit: redis %s answers again after %" PRId64 " ms: limits "
		       "are shared again",
		       r->desc, fc_mono_ms() - r->down_since_ms);
	}
	pthread_mutex_unlock(&r->mu);
}

/* --- connections ------------------------------------------------------------------- */

static struct conn *acquire(struct rl_redis *r)
{
	unsigned start = atomic_fetch_add(&r->next, 1);
	struct conn *c;

	for (unsigned i = 0; i < r->n; i++) {
		c = &r->conns[(start + i) % r->n];
		if (pthread_mutex_trylock(&c->mu) == 0)
			return c;
	}
	c = &r->conns[start % r->n];
	pthread_mutex_lock(&c->mu);
	return c;
}

static void drop_conn(struct conn *c)
{
	redisFree(c->ctx);
	c->ctx = NULL;
}

/* Connect slot c (and SELECT the database). False with why. */
static bool connect_conn(struct rl_redis *r, struct conn *c, char *why, size_t cap)
{
	redisReply *rep = NULL;

	if (r->addr.path[0] != '\0')
		c->ctx = redisConnectUnixWithTimeout(r->addr.path, r->tv);
	else
		c->ctx = redisConnectWithTimeout(r->addr.host, r->addr.port, r->tv);
	if (c->ctx == NULL || c->ctx->err) {
		snprintf(why, cap, "cannot connect: %s", c->ctx ? c->ctx->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c->ctx, r->tv) != REDIS_OK) {
		snprintf(why, cap, "cannot set the timeout");
		goto fail;
	}
	if (r->addr.db != 0) {
		rep = redisCommand(c->ctx, "SELECT %d", r->addr.db);
		if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
			snprintf(why, cap, "SELECT %d: %s", r->addr.db,
				 rep ? (rep->str ? rep->str : "unexpected reply") : c->ctx->errstr);
			goto fail;
		}
		freeReplyObject(rep);
	}
	c->epoch = atomic_load(&r->outages);
	return true;
fail:
	freeReplyObject(rep);
	drop_conn(c);
	return false;
}

/* --- the check ----------------------------------------------------------------------- */

/* EVALSHA, then EVAL when Redis does not have the script yet. */
static redisReply *eval(struct rl_redis *r, struct conn *c, const struct rl_key *keys,
			const struct rl_limit *lims, size_t n)
{
	char keybuf[RL_MAX_BUCKETS][sizeof(RL_REDIS_KEY_PREFIX) + 2 * RL_KEY_BYTES];
	char args[RL_MAX_BUCKETS][2][24];
	const char *argv[3 + 3 * RL_MAX_BUCKETS];
	size_t lens[3 + 3 * RL_MAX_BUCKETS];
	int argc = 0;
	char nkeys[4];
	redisReply *rep;

	snprintf(nkeys, sizeof(nkeys), "%zu", n);
	argv[argc++] = "EVALSHA";
	argv[argc++] = r->sha;
	argv[argc++] = nkeys;
	for (size_t i = 0; i < n; i++) {
		int off = snprintf(keybuf[i], sizeof(keybuf[i]), "%s", RL_REDIS_KEY_PREFIX);
		for (size_t j = 0; j < RL_KEY_BYTES; j++)
			off += snprintf(keybuf[i] + off, sizeof(keybuf[i]) - (size_t)off, "%02x",
					keys[i].b[j]);
		argv[argc++] = keybuf[i];
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(args[i][0], sizeof(args[i][0]), "%" PRId64, lims[i].interval_us);
		snprintf(args[i][1], sizeof(args[i][1]), "%" PRIu32, lims[i].burst);
		argv[argc++] = args[i][0];
		argv[argc++] = args[i][1];
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	rep = redisCommandArgv(c->ctx, argc, argv, lens);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		argv[0] = "EVAL";
		argv[1] = rl_redis_script;
		lens[0] = 4;
		lens[1] = strlen(rl_redis_script);
		rep = redisCommandArgv(c->ctx, argc, argv, lens);
	}
	return rep;
}

/* The script's answer into *out; false with why if it is not one. */
static bool read_answer(const redisReply *rep, size_t n, struct rl_take *out, char *why, size_t cap)
{
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(why, cap, "error reply: %.200s", rep->str);
		return false;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER ||
	    rep->element[2]->type != REDIS_REPLY_INTEGER || rep->element[2]->integer < 0 ||
	    (size_t)rep->element[2]->integer >= n) {
		snprintf(why, cap, "unexpected reply to the rate-limit script");
		return false;
	}
	out->admitted = rep->element[0]->integer == 1;
	out->wait_us = out->admitted ? 0 : rep->element[1]->integer;
	out->which = (size_t)rep->element[2]->integer;
	if (!out->admitted && out->wait_us < 1)
		out->wait_us = 1;
	return true;
}

/* One check on slot c: FC_OK with *out, else FC_EUNAVAIL with why. */
static enum fc_status run(struct rl_redis *r, struct conn *c, const struct rl_key *keys,
			  const struct rl_limit *lims, size_t n, struct rl_take *out, char *why,
			  size_t cap)
{
	redisReply *rep;
	bool ok;

	/* A connection from before the last outage may be dead: renew it. */
	if (c->ctx != NULL && c->epoch != atomic_load(&r->outages))
		drop_conn(c);
	if (c->ctx == NULL && !connect_conn(r, c, why, cap))
		return FC_EUNAVAIL;
	if ((rep = eval(r, c, keys, lims, n)) == NULL) {
		snprintf(why, cap, "%s", c->ctx->errstr[0] ? c->ctx->errstr : "no reply");
		drop_conn(c);
		return FC_EUNAVAIL;
	}
	ok = read_answer(rep, n, out, why, cap);
	freeReplyObject(rep);
	return ok ? FC_OK : FC_EUNAVAIL;
}

/* Take from the buckets in Redis (ratelimit_int.h). */
enum fc_status rl_redis_take(struct rl_redis *r, const struct rl_key *keys,
			     const struct rl_limit *lims, size_t n, struct rl_take *out)
{
	char why[256] = "";
	enum fc_status st;
	struct conn *c;
	bool probe;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > RL_MAX_BUCKETS) {
		out->admitted = true;
		return FC_OK;
	}
	if (!may_try(r, &probe)) {
		atomic_fetch_add(&r->fallbacks, 1);
		return FC_EUNAVAIL;
	}
	c = acquire(r);
	st = run(r, c, keys, lims, n, out, why, sizeof(why));
	pthread_mutex_unlock(&c->mu);
	if (st == FC_OK && probe) {
		mark_up(r);
	} else if (st != FC_OK) {
		mark_down(r, probe, why);
		atomic_fetch_add(&r->fallbacks, 1);
	}
	if (probe)
		atomic_store(&r->probing, false);
	return st;
}

/* --- lifecycle ----------------------------------------------------------------------- */

static void script_sha1(char hex[41])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(rl_redis_script, strlen(rl_redis_script), md, &len, EVP_sha1(), NULL) != 1 ||
	    len != 20) {
		fc_log_ssl("ratelimit: SHA-1 of the script");
		abort(); /* only for lack of memory: daemon policy */
	}
	for (unsigned i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Try Redis once (PING) so that a wrong address shows at start. */
static void first_ping(struct rl_redis *r)
{
	struct conn *c = &r->conns[0];
	char why[256] = "";
	redisReply *rep = NULL;

	pthread_mutex_lock(&c->mu);
	if (connect_conn(r, c, why, sizeof(why))) {
		rep = redisCommand(c->ctx, "PING");
		if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
			snprintf(why, sizeof(why), "PING: %s",
				 rep ? (rep->str ? rep->str : "unexpected reply") : c->ctx->errstr);
			drop_conn(c);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (rep == NULL || rep->type != REDIS_REPLY_STATUS)
		mark_down(r, false, why);
	else
		fc_log(LOG_NOTICE, "ratelimit: limits are shared through redis %s", r->desc);
	freeReplyObject(rep);
}

/* A pool for addr (ratelimit_int.h); never NULL. */
struct rl_redis *rl_redis_new(const struct rl_redis_addr *addr, unsigned conns, int timeout_ms)
{
	struct rl_redis *r = fc_xcalloc(1, sizeof(*r));

	r->addr = *addr;
	if (addr->path[0] != '\0')
		snprintf(r->desc, sizeof(r->desc), "unix:%s db %d", addr->path, addr->db);
	else
		snprintf(r->desc, sizeof(r->desc), "%s:%d db %d", addr->host, addr->port, addr->db);
	r->tv.tv_sec = timeout_ms / 1000;
	r->tv.tv_usec = (timeout_ms % 1000) * 1000;
	script_sha1(r->sha);
	r->n = conns ? conns : RL_DEFAULT_REDIS_CONNS;
	r->conns = fc_xcalloc(r->n, sizeof(*r->conns));
	for (unsigned i = 0; i < r->n; i++)
		pthread_mutex_init(&r->conns[i].mu, NULL);
	pthread_mutex_init(&r->mu, NULL);
	atomic_init(&r->next, 0);
	atomic_init(&r->probing, false);
	atomic_init(&r->down, false);
	atomic_init(&r->outages, 0);
	atomic_init(&r->fallbacks, 0);
	first_ping(r);
	return r;
}

/* Close every connection and free. NULL is fine. */
void rl_redis_free(struct rl_redis *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->n; i++) {
		redisFree(r->conns[i].ctx);
		pthread_mutex_destroy(&r->conns[i].mu);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->conns);
	free(r);
}

/* A snapshot of the outage state and counters. */
void rl_redis_stats(struct rl_redis *r, struct rl_redis_stats *out)
{
	pthread_mutex_lock(&r->mu);
	out->up = !r->down;
	pthread_mutex_unlock(&r->mu);
	out->outages = atomic_load(&r->outages);
	out->fallbacks = atomic_load(&r->fallbacks);
}
