/*
 * Serial numbers the signer has signed in this run, so that none is signed
 * twice: a precertificate and its final certificate share one (RFC 6962
 * 3.1), nothing else may. Memory is bounded: serials are kept as 64-bit
 * fingerprints in two generations of open-addressing tables; when the
 * current one holds per_gen serials it becomes the previous one and the
 * oldest generation is dropped, so that at least the latest per_gen
 * serials are always remembered (signer.h: SIGNER_SERIALS_PER_GEN). A
 * fingerprint collision can only refuse a fresh serial, never accept a
 * used one. Precertificates waiting for their final certificate are kept
 * with the hash of their TBS (without the poison) in a small table of
 * their own, dropped after SIGNER_PRECERT_TTL_S.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "signer_int.h"

/* Precertificates waiting for their final certificate, at most. */
#define PENDING_MAX 65536

struct gen {
	uint64_t *slots; /* 0 = empty (a fingerprint is never 0) */
	size_t cap;	 /* a power of two, twice per_gen */
	size_t n;
};

struct waiting {
	uint64_t fp;
	int64_t since;
	uint8_t core[32];
	bool used;
};

struct sg_serials {
	pthread_mutex_t lock;
	size_t per_gen;
	struct gen cur, old;
	struct waiting *wait; /* open addressing, PENDING_MAX * 2 slots */
	size_t n_wait;
};

/* FNV-1a over the serial: serials are random, and a collision can only
 * refuse a fresh serial, never accept a used one. */
static uint64_t fingerprint(const uint8_t *serial, size_t len)
{
	uint64_t fp = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		fp = (fp ^ serial[i]) * 0x100000001b3ULL;
	fp ^= fp >> 29; /* spread the last bytes into the table index */
	return fp ? fp : 1;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;

	while (c < n)
		c *= 2;
	return c;
}

/*
 * A serial set remembering at least the latest per_gen serials (see the
 * file comment). Never NULL (allocation aborts); free with
 * sg_serials_free. The serial tables are touched at once (no page fault
 * per new serial later); the precertificate table as it fills.
 */
struct sg_serials *sg_serials_new(size_t per_gen)
{
	struct sg_serials *s = fc_xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->per_gen = per_gen < 16 ? 16 : per_gen;
	s->cur.cap = s->old.cap = pow2_at_least(2 * s->per_gen);
	s->cur.slots = fc_xcalloc(s->cur.cap, sizeof(uint64_t));
	s->old.slots = fc_xcalloc(s->old.cap, sizeof(uint64_t));
	/* Touch the tables now rather than one page per new serial later. */
	memset(s->cur.slots, 0, s->cur.cap * sizeof(uint64_t));
	memset(s->old.slots, 0, s->old.cap * sizeof(uint64_t));
	s->wait = fc_xcalloc(2 * PENDING_MAX, sizeof(*s->wait));
	return s;
}

/* Free s; NULL is fine. */
void sg_serials_free(struct sg_serials *s)
{
	if (s == NULL)
		return;
	free(s->cur.slots);
	free(s->old.slots);
	free(s->wait);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static bool gen_has(const struct gen *g, uint64_t fp)
{
	for (size_t i = (size_t)fp & (g->cap - 1);; i = (i + 1) & (g->cap - 1)) {
		if (g->slots[i] == fp)
			return true;
		if (g->slots[i] == 0)
			return false;
	}
}

static void gen_add_locked(struct sg_serials *s, uint64_t fp)
{
	struct gen *g = &s->cur;
	size_t i;

	if (g->n >= s->per_gen) {
		/* the current generation is full: it becomes the old one */
		uint64_t *slots = s->old.slots;
		memset(slots, 0, s->old.cap * sizeof(uint64_t));
		s->old = s->cur;
		s->cur.slots = slots;
		s->cur.n = 0;
	}
	for (i = (size_t)fp & (g->cap - 1); g->slots[i] != 0; i = (i + 1) & (g->cap - 1))
		;
	g->slots[i] = fp;
	g->n++;
}

static struct waiting *wait_slot(struct sg_serials *s, uint64_t fp)
{
	size_t cap = 2 * PENDING_MAX;

	for (size_t i = (size_t)fp & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!s->wait[i].used || s->wait[i].fp == fp)
			return &s->wait[i];
}

/* Drop the waiting precertificates older than the TTL (rebuilding the
 * table keeps its probing valid). Called when the table is half full. */
static void wait_expire_locked(struct sg_serials *s, int64_t now)
{
	size_t cap = 2 * PENDING_MAX;
	struct waiting *old = s->wait;

	s->wait = fc_xcalloc(cap, sizeof(*s->wait));
	s->n_wait = 0;
	for (size_t i = 0; i < cap; i++) {
		if (!old[i].used || now - old[i].since > SIGNER_PRECERT_TTL_S)
			continue;
		*wait_slot(s, old[i].fp) = old[i];
		s->n_wait++;
	}
	free(old);
}

/* A final certificate: its precertificate must be waiting, with the same
 * core, not too old; it is then done with. */
static enum signer_refusal claim_final_locked(struct sg_serials *s, uint64_t fp,
					      const struct sg_cert_info *info, int64_t now,
					      char *why, size_t n)
{
	struct waiting *w = wait_slot(s, fp);

	if (!w->used || now - w->since > SIGNER_PRECERT_TTL_S)
		return sg_refuse(SIGNER_REFUSE_CT, why, n,
				 "no precertificate with this serial was signed in the last %d s",
				 SIGNER_PRECERT_TTL_S);
	if (memcmp(w->core, info->core_hash, sizeof(w->core)) != 0)
		return sg_refuse(SIGNER_REFUSE_CT, why, n,
				 "RFC 6962 3.1: the certificate is not its precertificate with an "
				 "SCT list in place of the poison");
	/* Mark the slot deleted without breaking later probes: keep it used
	 * with an impossible age, dropped at the next expiry. */
	w->since = INT64_MIN / 2;
	return SIGNER_OK;
}

/*
 * Claim the serial of info (signer_int.h). SIGNER_OK, else
 * SIGNER_REFUSE_SERIAL_REUSED or SIGNER_REFUSE_CT with why.
 */
enum signer_refusal sg_serials_claim(struct sg_serials *s, const struct sg_cert_info *info,
				     int64_t now, char *why, size_t why_len)
{
	uint64_t fp = fingerprint(info->serial, info->serial_len);
	enum signer_refusal rf = SIGNER_OK;

	pthread_mutex_lock(&s->lock);
	if (info->sct_list) {
		rf = claim_final_locked(s, fp, info, now, why, why_len);
	} else if (gen_has(&s->cur, fp) || gen_has(&s->old, fp)) {
		rf = sg_refuse(SIGNER_REFUSE_SERIAL_REUSED, why, why_len,
			       "the serial was already signed in this run");
	} else {
		gen_add_locked(s, fp);
		if (info->poison) {
			struct waiting *w;
			if (s->n_wait >= PENDING_MAX)
				wait_expire_locked(s, now);
			if (s->n_wait >= PENDING_MAX) {
				rf = sg_refuse(SIGNER_REFUSE_CT, why, why_len,
					       "%d precertificates wait for their certificate",
					       PENDING_MAX);
			} else {
				w = wait_slot(s, fp);
				w->used = true;
				w->fp = fp;
				w->since = now;
				memcpy(w->core, info->core_hash, sizeof(w->core));
				s->n_wait++;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rf;
}
