/*
 * The TSA a running `fulcrum tsa` serves, which a reload (SIGHUP: a new
 * signing key and chain) replaces while serving: each request takes the
 * current TSA with a reference and stamps with it to the end, and the
 * replaced TSA and its signer are freed when the last such request is
 * done. Requests never wait for a reload: only the swap of a pointer is
 * under the lock.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "tsa_int.h"

/* One TSA with its signer, and the requests using it. */
struct tsa_held {
	struct tsa *t;
	struct hsm_signer *signer;
	atomic_uint refs; /* the holder's, plus one per request */
};

struct tsa_holder {
	pthread_mutex_t lock;
	struct tsa_held *cur;
};

static struct tsa_held *held_new(struct tsa *t, struct hsm_signer *signer)
{
	struct tsa_held *h = fc_xcalloc(1, sizeof(*h));

	h->t = t;
	h->signer = signer;
	atomic_init(&h->refs, 1);
	return h;
}

static void held_unref(struct tsa_held *h)
{
	if (h == NULL || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	tsa_free(h->t);
	hsm_signer_free(h->signer);
	free(h);
}

static struct tsa_held *held_get(struct tsa_holder *hd)
{
	struct tsa_held *h;

	pthread_mutex_lock(&hd->lock);
	h = hd->cur;
	atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&hd->lock);
	return h;
}

/*
 * A holder serving t, which signs with signer (tsa.h): takes both. Free
 * with tsa_holder_free.
 */
struct tsa_holder *tsa_holder_new(struct tsa *t, struct hsm_signer *signer)
{
	struct tsa_holder *hd = fc_xcalloc(1, sizeof(*hd));

	pthread_mutex_init(&hd->lock, NULL);
	hd->cur = held_new(t, signer);
	return hd;
}

/*
 * Serve t (signing with signer) from now on (tsa.h): takes both; the
 * previous TSA is freed when its last request is done.
 */
void tsa_holder_replace(struct tsa_holder *hd, struct tsa *t, struct hsm_signer *signer)
{
	struct tsa_held *fresh = held_new(t, signer), *old;

	pthread_mutex_lock(&hd->lock);
	old = hd->cur;
	hd->cur = fresh;
	pthread_mutex_unlock(&hd->lock);
	held_unref(old);
}

/*
 * The fc_httpd handler over a holder (tsa.h): tsa_handle with the TSA
 * current when the request arrived.
 */
void tsa_holder_handle(void *ctx, struct fc_http_exchange *x)
{
	struct tsa_held *h = held_get(ctx);

	tsa_handle(h->t, x);
	held_unref(h);
}

/*
 * Whether the current TSA may stamp now (tsa_ready), with its reason in
 * why when not.
 */
bool tsa_holder_ready(struct tsa_holder *hd, char *why, size_t n)
{
	struct tsa_held *h = held_get(hd);
	bool ok = tsa_ready(h->t, why, n);

	held_unref(h);
	return ok;
}

/* Free the holder and its TSA (after the listeners stopped). NULL is fine. */
void tsa_holder_free(struct tsa_holder *hd)
{
	if (hd == NULL)
		return;
	held_unref(hd->cur);
	pthread_mutex_destroy(&hd->lock);
	free(hd);
}
