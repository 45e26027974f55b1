/*
 * The GCRA arithmetic (generic cell rate algorithm, ITU-T I.371 virtual
 * scheduling) and bucket keys. A bucket of rate 1/T and burst B keeps one
 * instant, its theoretical arrival time (TAT): a request at `now` is
 * admitted when max(TAT, now) + T - B*T <= now, and then TAT becomes
 * max(TAT, now) + T. B requests pass at once after a lull, then one per T;
 * a TAT in the past is a full bucket, the same as no state at all.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ratelimit_int.h"

/*
 * Decide one request for a bucket (see the file comment). True with
 * *new_tat if admitted; false with *wait_us (> 0) if not.
 */
bool rl_gcra(int64_t tat, int64_t now, const struct rl_limit *lim, int64_t *new_tat,
	     int64_t *wait_us)
{
	int64_t base = tat > now ? tat : now;
	int64_t next = base + lim->interval_us;
	/* interval_us <= 86400e6 and burst <= RL_MAX_BURST: no overflow. */
	int64_t allow_at = next - (int64_t)lim->burst * lim->interval_us;

	if (allow_at > now) {
		*wait_us = allow_at - now;
		return false;
	}
	*new_tat = next;
	return true;
}

/*
 * Retry-After in whole seconds for a wait in microseconds: rounded up, at
 * least 1 (RFC 9110 10.2.3 delay-seconds).
 */
int64_t rl_retry_after_s(int64_t wait_us)
{
	int64_t s = wait_us / 1000000 + (wait_us % 1000000 != 0);

	return s < 1 ? 1 : s;
}

/* SHA-256 fetched once: an implicit fetch per digest costs as much as
 * the digest itself, under a lock every thread shares. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

/*
 * The key of a bucket (ratelimit_int.h struct rl_key): the same bytes in
 * every replica, so that Redis keys are shared, and no identity in clear
 * in Redis or in memory.
 */
void rl_key_make(enum rl_bucket kind, const char *issuer, const char *value, struct rl_key *out)
{
	static const char tag[] = "fulcrum-ratelimit";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint8_t k = (uint8_t)kind;
	EVP_MD_CTX *ctx;

	pthread_once(&sha256_once, fetch_sha256);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || sha256 == NULL || EVP_DigestInit_ex(ctx, sha256, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, tag, sizeof(tag)) != 1 || EVP_DigestUpdate(ctx, &k, 1) != 1 ||
	    EVP_DigestUpdate(ctx, issuer, strlen(issuer) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, value, strlen(value) + 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < RL_KEY_BYTES) {
		/* SHA-256 does not fail but for lack of memory: daemon policy. */
		fc_log_ssl("ratelimit: SHA-256");
		abort();
	}
	EVP_MD_CTX_free(ctx);
	memcpy(out->b, md, RL_KEY_BYTES);
}
