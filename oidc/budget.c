/*
 * The budget for new identity providers: how many fetches for issuers that
 * were never fetched successfully (a meta-issuer tenant seen for the first
 * time, or one whose discovery keeps failing) may start, and run at once.
 *
 * Anyone can name such an issuer in an unsigned token's iss (any URL a
 * MetaIssuers pattern matches), and each costs a discovery fetch before its
 * signature can even be checked. A token bucket (new_issuer_rate per second,
 * new_issuer_burst at most) bounds how often such fetches start, and
 * max_new_fetches how many run at once; over either, the request is refused
 * at once with FC_EUNAVAIL. Time is fc_mono_ms(), so tests can move it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "oidc_int.h"

#define MILLI 1000	     /* the bucket counts thousandths of a fetch */
#define REFUSAL_LOG_MS 10000 /* at most one log line per this many ms */

struct oidc_budget {
	pthread_mutex_t mu;
	int64_t tokens; /* under mu, in thousandths */
	int64_t max_tokens;
	int64_t rate;	  /* fetches per second */
	int64_t last_ms;  /* when tokens was last refilled */
	unsigned running; /* under mu: budgeted fetches in flight */
	unsigned max_running;
	unsigned refused; /* refusals since the last log line */
	int64_t logged_ms;
	unsigned n_granted, n_refused; /* totals, for tests */
};

/*
 * A budget of o->new_issuer_rate fetches per second, bursts of
 * o->new_issuer_burst (the bucket starts full), and o->max_new_fetches at
 * once (each at least 1). Free with oidc_budget_free().
 */
struct oidc_budget *oidc_budget_new(const struct oidc_options *o)
{
	struct oidc_budget *b = fc_xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->mu, NULL);
	b->rate = o->new_issuer_rate > 0 ? o->new_issuer_rate : 1;
	b->max_tokens = (int64_t)(o->new_issuer_burst > 0 ? o->new_issuer_burst : 1) * MILLI;
	b->tokens = b->max_tokens;
	b->max_running = o->max_new_fetches > 0 ? (unsigned)o->max_new_fetches : 1;
	b->last_ms = fc_mono_ms();
	b->logged_ms = b->last_ms - REFUSAL_LOG_MS;
	return b;
}

/* Free b. NULL is fine. */
void oidc_budget_free(struct oidc_budget *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static void refill_locked(struct oidc_budget *b)
{
	int64_t now = fc_mono_ms(), dt = now - b->last_ms;

	if (dt <= 0)
		return;
	/* dt ms at rate/s is dt * rate thousandths; no overflow for any dt
	 * once clamped to the time a full refill takes. */
	if (dt > b->max_tokens / b->rate + 1)
		dt = b->max_tokens / b->rate + 1;
	b->tokens += dt * b->rate;
	if (b->tokens > b->max_tokens)
		b->tokens = b->max_tokens;
	b->last_ms = now;
}

static bool has_room_locked(const struct oidc_budget *b)
{
	return b->tokens >= MILLI && b->running < b->max_running;
}

/* Count a refusal; log a summary at most every REFUSAL_LOG_MS. */
static void refused_locked(struct oidc_budget *b)
{
	int64_t now = fc_mono_ms();

	b->n_refused++;
	b->refused++;
	if (now - b->logged_ms >= REFUSAL_LOG_MS) {
		fc_log(LOG_WARNING,
		       "oidc: new identity providers: %u lookups refused in the last %lld s "
		       "(budget %lld/s, burst %lld, %u at once)",
		       b->refused, (long long)((now - b->logged_ms) / 1000), (long long)b->rate,
		       (long long)(b->max_tokens / MILLI), b->max_running);
		b->refused = 0;
		b->logged_ms = now;
	}
}

/* The refusal of a lookup over the budget, as clients see it. */
static enum fc_status refusal(const char *issuer, struct fc_err *err)
{
	return fc_err_set(err, FC_EUNAVAIL,
			  "issuer %s: too many new identity providers being looked up; retry later",
			  issuer);
}

/*
 * Would oidc_budget_take succeed now? Nothing is taken: for a caller that
 * would otherwise do work (such as making a cache entry) for a lookup the
 * budget then refuses. FC_OK, or FC_EUNAVAIL with the reason in err (the
 * refusal is counted).
 */
enum fc_status oidc_budget_check(struct oidc_budget *b, const char *issuer, struct fc_err *err)
{
	bool ok;

	pthread_mutex_lock(&b->mu);
	refill_locked(b);
	ok = has_room_locked(b);
	if (!ok)
		refused_locked(b);
	pthread_mutex_unlock(&b->mu);
	return ok ? FC_OK : refusal(issuer, err);
}

/*
 * Take one fetch from the budget for issuer (a token and a running slot;
 * give the slot back with oidc_budget_release when the fetch ends). FC_OK,
 * or FC_EUNAVAIL with the reason in err when over the budget.
 */
enum fc_status oidc_budget_take(struct oidc_budget *b, const char *issuer, struct fc_err *err)
{
	bool ok;

	pthread_mutex_lock(&b->mu);
	refill_locked(b);
	ok = has_room_locked(b);
	if (ok) {
		b->tokens -= MILLI;
		b->running++;
		b->n_granted++;
	} else {
		refused_locked(b);
	}
	pthread_mutex_unlock(&b->mu);
	return ok ? FC_OK : refusal(issuer, err);
}

/* A fetch taken with oidc_budget_take ended: free its running slot. */
void oidc_budget_release(struct oidc_budget *b)
{
	pthread_mutex_lock(&b->mu);
	if (b->running > 0)
		b->running--;
	pthread_mutex_unlock(&b->mu);
}

/* Fetches granted and refused so far (tests); either pointer may be NULL. */
void oidc_budget_stats(struct oidc_budget *b, unsigned *granted, unsigned *refused)
{
	pthread_mutex_lock(&b->mu);
	if (granted)
		*granted = b->n_granted;
	if (refused)
		*refused = b->n_refused;
	pthread_mutex_unlock(&b->mu);
}
