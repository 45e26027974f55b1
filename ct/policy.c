/*
 * The CA's multi-log CT policy: when a certificate's SCTs are enough (at
 * least k from logs of at least m distinct operators, as the browsers' CT
 * policies count them), which logs to ask and when (Boulder's staggered
 * submission: the first logs at once, one more after each stagger delay,
 * a replacement at once when one fails), and each log's circuit breaker.
 * Pure functions of their arguments and the given time: unit-tested with a
 * fake clock.
 */
#include <string.h>

#include "ct_int.h"

/* The operators of the SCTs, as a bit set (op < CT_MAX_LOGS). */
static unsigned popcount32(uint32_t v)
{
	unsigned n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

/* Is the policy met by n SCTs from operators ops[0..n)? (ct_int.h) */
bool ct_policy_met(const struct ct_policy *p, const unsigned *ops, size_t n)
{
	uint32_t seen = 0;
	unsigned k = p->min_scts ? p->min_scts : 1, m = p->min_operators ? p->min_operators : 1;

	for (size_t i = 0; i < n; i++)
		seen |= UINT32_C(1) << (ops[i] % 32);
	return n >= k && popcount32(seen) >= m;
}

/* The policy against the logs of v whose state satisfies want (a bit set
 * of enum ct_slot) or, with launch, that are about to be asked. */
static bool met_by(const struct ct_policy *p, const struct ct_slot_view *v, size_t n, unsigned want,
		   const bool *launch)
{
	unsigned ops[CT_MAX_LOGS];
	size_t k = 0;

	for (size_t i = 0; i < n && k < CT_MAX_LOGS; i++)
		if ((want & (1u << v[i].state)) || (launch != NULL && launch[i]))
			ops[k++] = v[i].op;
	return ct_policy_met(p, ops, k);
}

/* Distinct operators among the logs in play (running or OK) and launched. */
static uint32_t ops_in_play(const struct ct_slot_view *v, size_t n, const bool *launch)
{
	uint32_t seen = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].state == CT_SLOT_RUNNING || v[i].state == CT_SLOT_OK || launch[i])
			seen |= UINT32_C(1) << (v[i].op % 32);
	return seen;
}

/* The next idle eligible log not yet launched, in order; with new_op, the
 * first one whose operator is not in seen if there is one. n if none. */
static size_t next_idle(const struct ct_slot_view *v, size_t n, const bool *launch, bool new_op,
			uint32_t seen)
{
	size_t first = n;

	for (size_t i = 0; i < n; i++) {
		if (v[i].state != CT_SLOT_IDLE || !v[i].eligible || launch[i])
			continue;
		if (first == n)
			first = i;
		if (!new_op || !(seen & (UINT32_C(1) << (v[i].op % 32))))
			return i;
	}
	return first;
}

/* Decide which logs to ask now (ct_int.h). */
enum ct_plan_result ct_plan(const struct ct_policy *p, const struct ct_slot_view *v, size_t n,
			    bool stagger_due, size_t extra, bool *launch)
{
	const unsigned ok = 1u << CT_SLOT_OK, playing = ok | (1u << CT_SLOT_RUNNING);
	unsigned m = p->min_operators ? p->min_operators : 1;
	size_t i;

	memset(launch, 0, n * sizeof(*launch));
	if (met_by(p, v, n, ok, NULL))
		return CT_PLAN_MET;
	{
		/* everything not failed, idle logs only if they may be asked */
		bool could[CT_MAX_LOGS] = {false};
		for (i = 0; i < n && i < CT_MAX_LOGS; i++)
			could[i] = v[i].state == CT_SLOT_IDLE && v[i].eligible;
		if (!met_by(p, v, n, playing | (1u << CT_SLOT_RETRYING), could))
			return CT_PLAN_IMPOSSIBLE;
	}
	/* enough logs in play to meet the policy if they all answer */
	while (!met_by(p, v, n, playing, launch)) {
		uint32_t seen = ops_in_play(v, n, launch);
		if ((i = next_idle(v, n, launch, popcount32(seen) < m, seen)) == n)
			break; /* the rest are retrying: wait for them */
		launch[i] = true;
	}
	/* and one more (or, without a stagger delay, every other) after the delay */
	for (size_t added = 0; stagger_due && added < extra; added++) {
		if ((i = next_idle(v, n, launch, false, 0)) == n)
			break;
		launch[i] = true;
	}
	return CT_PLAN_WAIT;
}

/* --- the circuit breaker ---------------------------------------------------------- */

/* A closed breaker, its first backoff cfg's (ct_int.h). */
void ct_breaker_init(struct ct_breaker *b, const struct ct_breaker_cfg *cfg)
{
	memset(b, 0, sizeof(*b));
	b->state = CT_BREAKER_CLOSED;
	b->backoff_ms = cfg->backoff_ms;
}

/* Would the log be asked at now (ct_int.h)? */
bool ct_breaker_would_allow(const struct ct_breaker *b, int64_t now)
{
	switch (b->state) {
	case CT_BREAKER_CLOSED: return true;
	case CT_BREAKER_OPEN: return now >= b->open_until;
	case CT_BREAKER_HALF_OPEN: return !b->probing;
	}
	return false;
}

/* Ask the log at now, if the breaker lets it be (ct_int.h). */
bool ct_breaker_allow(struct ct_breaker *b, int64_t now, bool *probe)
{
	*probe = false;
	if (b->state == CT_BREAKER_OPEN && now >= b->open_until) {
		b->state = CT_BREAKER_HALF_OPEN;
		b->probing = false;
	}
	if (b->state == CT_BREAKER_CLOSED)
		return true;
	if (b->state == CT_BREAKER_HALF_OPEN && !b->probing) {
		b->probing = true;
		*probe = true;
		return true;
	}
	return false;
}

static void breaker_open(struct ct_breaker *b, const struct ct_breaker_cfg *cfg, int64_t now)
{
	b->state = CT_BREAKER_OPEN;
	b->open_until = now + b->backoff_ms;
	b->probing = false;
	b->fails = 0;
	/* the next open period, should the probe fail */
	b->backoff_ms =
		b->backoff_ms > cfg->max_backoff_ms / 2 ? cfg->max_backoff_ms : b->backoff_ms * 2;
}

/* Record one request's outcome (ct_int.h). */
void ct_breaker_record(struct ct_breaker *b, const struct ct_breaker_cfg *cfg, int64_t now, bool ok,
		       bool probe)
{
	if (cfg->failures == 0)
		return;
	switch (b->state) {
	case CT_BREAKER_CLOSED:
		if (ok) {
			b->fails = 0;
		} else if (++b->fails >= cfg->failures) {
			b->backoff_ms = cfg->backoff_ms;
			breaker_open(b, cfg, now);
		}
		break;
	case CT_BREAKER_HALF_OPEN:
		if (!probe)
			break;
		if (ok) {
			b->state = CT_BREAKER_CLOSED;
			b->fails = 0;
			b->probing = false;
			b->backoff_ms = cfg->backoff_ms;
		} else {
			breaker_open(b, cfg, now);
		}
		break;
	case CT_BREAKER_OPEN: break; /* answers to requests sent before it opened */
	}
}
