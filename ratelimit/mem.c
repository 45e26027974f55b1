/*
 * Buckets in this process's memory: a hash table split into shards, each
 * behind its own mutex, so that checks for different identities rarely
 * wait for each other. An entry is a key and its TAT (about 50 bytes with
 * the allocator's overhead). Entries whose TAT has passed hold nothing a
 * missing entry would not (a full bucket) and are dropped whenever they
 * are met; the table never holds more than max_keys entries.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_int.h"

#define MEM_SHARDS 64	   /* with max_keys >= MEM_SHARDS, else one shard */
#define MEM_MIN_BUCKETS 16 /* chains per shard at first; doubled as it fills */

struct entry {
	struct entry *next;
	int64_t tat;
	uint8_t key[RL_KEY_BYTES];
};

struct shard {
	_Alignas(64) pthread_mutex_t mu; /* a cache line each: no false sharing */
	struct entry **chains;
	size_t nchains; /* a power of two */
	size_t count;
	size_t cap; /* entries at most */
};

struct rl_mem {
	struct shard *shards;
	size_t nshards;
	atomic_uint_least64_t evictions;
};

static uint64_t key_bits(const struct rl_key *k, size_t off)
{
	uint64_t v;

	memcpy(&v, k->b + off, sizeof(v));
	return v;
}

static size_t shard_index(const struct rl_mem *m, const struct rl_key *k)
{
	return (size_t)(key_bits(k, 0) % m->nshards);
}

static struct entry **chain_of(struct shard *s, const uint8_t *key)
{
	uint64_t v;

	memcpy(&v, key + 8, sizeof(v));
	return &s->chains[v & (s->nchains - 1)];
}

/*
 * A table of at most max_keys keys: one shard below MEM_SHARDS keys (so
 * that a small cap is exact), else MEM_SHARDS of max_keys / MEM_SHARDS.
 */
struct rl_mem *rl_mem_new(size_t max_keys)
{
	struct rl_mem *m = fc_xcalloc(1, sizeof(*m));

	if (max_keys < 1)
		max_keys = 1;
	m->nshards = max_keys < MEM_SHARDS ? 1 : MEM_SHARDS;
	m->shards = aligned_alloc(64, m->nshards * sizeof(struct shard));
	if (m->shards == NULL)
		abort(); /* out of memory: daemon policy */
	memset(m->shards, 0, m->nshards * sizeof(struct shard));
	for (size_t i = 0; i < m->nshards; i++) {
		struct shard *s = &m->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->cap = max_keys / m->nshards;
		s->nchains = MEM_MIN_BUCKETS;
		s->chains = fc_xcalloc(s->nchains, sizeof(*s->chains));
	}
	atomic_init(&m->evictions, 0);
	return m;
}

/* Free every entry of the table. NULL is fine. */
void rl_mem_free(struct rl_mem *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nshards; i++) {
		struct shard *s = &m->shards[i];
		for (size_t c = 0; c < s->nchains; c++) {
			struct entry *e = s->chains[c];
			while (e != NULL) {
				struct entry *next = e->next;
				free(e);
				e = next;
			}
		}
		free(s->chains);
		pthread_mutex_destroy(&s->mu);
	}
	free(m->shards);
	free(m);
}

static void unlink_locked(struct shard *s, struct entry **link)
{
	struct entry *e = *link;

	*link = e->next;
	free(e);
	s->count--;
}

/* The live entry of key, dropping the passed entries of its chain on the
 * way (the key's own included: absent and full are the same). */
static struct entry *find_locked(struct shard *s, const struct rl_key *key, int64_t now)
{
	struct entry **link = chain_of(s, key->b);
	struct entry *found = NULL;

	while (*link != NULL) {
		struct entry *e = *link;
		if (e->tat <= now) {
			unlink_locked(s, link);
			continue;
		}
		if (memcmp(e->key, key->b, RL_KEY_BYTES) == 0)
			found = e;
		link = &e->next;
	}
	return found;
}

/* Twice the chains when they average two entries (up to about the cap). */
static void grow_locked(struct shard *s)
{
	size_t n = s->nchains * 2;
	struct entry **chains;

	if (s->count < s->nchains * 2 || s->nchains >= s->cap)
		return;
	chains = fc_xcalloc(n, sizeof(*chains));
	for (size_t c = 0; c < s->nchains; c++) {
		struct entry *e = s->chains[c];
		while (e != NULL) {
			struct entry *next = e->next;
			uint64_t v;
			memcpy(&v, e->key + 8, sizeof(v));
			e->next = chains[v & (n - 1)];
			chains[v & (n - 1)] = e;
			e = next;
		}
	}
	free(s->chains);
	s->chains = chains;
	s->nchains = n;
}

/* Room for one more entry in a full shard: drop every passed entry; if
 * none, the entry with the earliest TAT (its bucket is nearest to full). */
static void make_room_locked(struct rl_mem *m, struct shard *s, int64_t now)
{
	struct entry **oldest = NULL;

	if (s->count < s->cap)
		return;
	for (size_t c = 0; c < s->nchains; c++) {
		struct entry **link = &s->chains[c];
		while (*link != NULL) {
			if ((*link)->tat <= now) {
				unlink_locked(s, link);
				continue;
			}
			if (oldest == NULL || (*link)->tat < (*oldest)->tat)
				oldest = link;
			link = &(*link)->next;
		}
	}
	if (s->count >= s->cap && oldest != NULL) {
		unlink_locked(s, oldest);
		atomic_fetch_add(&m->evictions, 1);
	}
}

static void insert_locked(struct rl_mem *m, struct shard *s, const struct rl_key *key, int64_t tat,
			  int64_t now)
{
	struct entry *e = fc_xmalloc(sizeof(*e));
	struct entry **chain;

	make_room_locked(m, s, now);
	memcpy(e->key, key->b, RL_KEY_BYTES);
	e->tat = tat;
	chain = chain_of(s, key->b);
	e->next = *chain;
	*chain = e;
	s->count++;
	grow_locked(s);
}

/* Lock the shards of keys[0..n) in index order (each once); sh[i] is the
 * shard of keys[i]. */
static void lock_shards(struct rl_mem *m, const struct rl_key *keys, size_t n, struct shard **sh)
{
	size_t idx[RL_MAX_BUCKETS];

	for (size_t i = 0; i < n; i++) {
		idx[i] = shard_index(m, &keys[i]);
		sh[i] = &m->shards[idx[i]];
	}
	if (n == 2 && idx[0] > idx[1]) {
		pthread_mutex_lock(&sh[1]->mu);
		pthread_mutex_lock(&sh[0]->mu);
	} else {
		pthread_mutex_lock(&sh[0]->mu);
		if (n == 2 && idx[1] != idx[0])
			pthread_mutex_lock(&sh[1]->mu);
	}
}

static void unlock_shards(struct shard **sh, size_t n)
{
	if (n == 2 && sh[1] != sh[0])
		pthread_mutex_unlock(&sh[1]->mu);
	pthread_mutex_unlock(&sh[0]->mu);
}

/*
 * Take from the n buckets at once, all or none (ratelimit_int.h). Existing
 * entries are updated before new ones are added, since adding may drop
 * entries to make room.
 */
void rl_mem_take(struct rl_mem *m, const struct rl_key *keys, const struct rl_limit *lims, size_t n,
		 int64_t now_us, struct rl_take *out)
{
	struct shard *sh[RL_MAX_BUCKETS];
	struct entry *e[RL_MAX_BUCKETS];
	int64_t next[RL_MAX_BUCKETS], wait;

	memset(out, 0, sizeof(*out));
	out->admitted = true;
	if (n == 0 || n > RL_MAX_BUCKETS)
		return;
	lock_shards(m, keys, n, sh);
	for (size_t i = 0; i < n; i++) {
		e[i] = find_locked(sh[i], &keys[i], now_us);
		if (!rl_gcra(e[i] ? e[i]->tat : 0, now_us, &lims[i], &next[i], &wait) &&
		    (out->admitted || wait > out->wait_us)) {
			out->admitted = false;
			out->wait_us = wait;
			out->which = i;
		}
	}
	if (out->admitted) {
		for (size_t i = 0; i < n; i++)
			if (e[i] != NULL)
				e[i]->tat = next[i];
		for (size_t i = 0; i < n; i++)
			if (e[i] == NULL)
				insert_locked(m, sh[i], &keys[i], next[i], now_us);
	}
	unlock_shards(sh, n);
}

/* Keys held now (passed ones not yet dropped included); takes each shard's
 * lock in turn, for metrics and tests, not for the hot path. */
size_t rl_mem_count(struct rl_mem *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nshards; i++) {
		pthread_mutex_lock(&m->shards[i].mu);
		n += m->shards[i].count;
		pthread_mutex_unlock(&m->shards[i].mu);
	}
	return n;
}

/* Keys dropped before their bucket was full, to stay within max_keys. */
uint64_t rl_mem_evictions(struct rl_mem *m)
{
	return atomic_load(&m->evictions);
}
