/*
 * Verified issuer chains, remembered by the bytes they were submitted as.
 *
 * Every submission from one CA carries the same chain after its leaf
 * (intermediate, root). Parsing a certificate costs OpenSSL 3.0 tens of
 * microseconds (it builds a decoder for the public key each time) and
 * verifying a signature as much again, so the log checks a given issuer
 * chain once and afterwards only parses and verifies the leaf. Only chains
 * that passed every check are stored, so a submitter cannot fill the cache
 * without certificates signed by an accepted root; when it is full the
 * oldest chain makes room.
 */
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ctlog_srv_int.h"

struct slot {
	uint8_t key[CTLOG_HASH_LEN];
	struct ctlog_issuers *chain; /* NULL when free */
};

struct ctlog_chain_cache {
	pthread_mutex_t lock;
	struct slot *slots;
	size_t cap, next; /* next: the slot the next insertion takes (FIFO) */
};

struct ctlog_issuers *ctlog_issuers_new(void)
{
	struct ctlog_issuers *c = fc_xcalloc(1, sizeof(*c));

	atomic_init(&c->refs, 1);
	return c;
}

void ctlog_issuers_add(struct ctlog_issuers *c, const uint8_t *der, size_t len)
{
	c->ders = fc_xrealloc(c->ders, (c->n + 1) * sizeof(*c->ders));
	c->lens = fc_xrealloc(c->lens, (c->n + 1) * sizeof(*c->lens));
	c->fps = fc_xrealloc(c->fps, (c->n + 1) * sizeof(*c->fps));
	c->ders[c->n] = fc_xmalloc(len);
	memcpy(c->ders[c->n], der, len);
	c->lens[c->n] = len;
	ctlog_sha256(der, len, c->fps[c->n]);
	c->n++;
}

static struct ctlog_issuers *issuers_ref(struct ctlog_issuers *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void ctlog_issuers_unref(struct ctlog_issuers *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	X509_free(c->first);
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY_CTX_free(c->vctx[i]);
		EVP_MD_free(c->vmd[i]);
	}
	for (size_t i = 0; i < c->n; i++)
		free(c->ders[i]);
	free(c->ders);
	free(c->lens);
	free(c->fps);
	free(c);
}

struct ctlog_chain_cache *ctlog_chain_cache_new(size_t cap)
{
	struct ctlog_chain_cache *k = fc_xcalloc(1, sizeof(*k));

	pthread_mutex_init(&k->lock, NULL);
	k->cap = cap ? cap : 1;
	k->slots = fc_xcalloc(k->cap, sizeof(*k->slots));
	return k;
}

void ctlog_chain_cache_free(struct ctlog_chain_cache *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->cap; i++)
		ctlog_issuers_unref(k->slots[i].chain);
	free(k->slots);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

struct ctlog_issuers *ctlog_chain_cache_get(struct ctlog_chain_cache *k,
					    const uint8_t key[CTLOG_HASH_LEN])
{
	struct ctlog_issuers *found = NULL;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->cap && found == NULL; i++)
		if (k->slots[i].chain != NULL && memcmp(k->slots[i].key, key, CTLOG_HASH_LEN) == 0)
			found = issuers_ref(k->slots[i].chain);
	pthread_mutex_unlock(&k->lock);
	return found;
}

void ctlog_chain_cache_put(struct ctlog_chain_cache *k, const uint8_t key[CTLOG_HASH_LEN],
			   struct ctlog_issuers *c)
{
	struct ctlog_issuers *evicted = NULL;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->cap; i++) {
		if (k->slots[i].chain != NULL &&
		    memcmp(k->slots[i].key, key, CTLOG_HASH_LEN) == 0) {
			pthread_mutex_unlock(&k->lock); /* another thread stored it first */
			return;
		}
	}
	evicted = k->slots[k->next].chain;
	memcpy(k->slots[k->next].key, key, CTLOG_HASH_LEN);
	k->slots[k->next].chain = issuers_ref(c);
	k->next = (k->next + 1) % k->cap;
	pthread_mutex_unlock(&k->lock);
	ctlog_issuers_unref(evicted);
}
