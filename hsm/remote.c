/*
 * remote: a signer whose private key lives in another process (the signer
 * process of signer/). It holds the public key and forwards each
 * signature, with what it is for, through a transport that knows the way
 * to that process; the key itself never enters this process.
 */
#include <stdlib.h>

#include "hsm.h"

struct remote_key {
	const struct hsm_remote_transport *t;
	void *link;
	uint32_t key_id;
};

static enum fc_status remote_sign_ctx(void *impl, const uint8_t *msg, size_t len,
				      const struct hsm_sign_ctx *ctx, uint8_t **sig,
				      size_t *sig_len, struct fc_err *err)
{
	struct remote_key *k = impl;

	return k->t->sign(k->link, k->key_id, msg, len, ctx, sig, sig_len, err);
}

static enum fc_status remote_sign(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
				  size_t *sig_len, struct fc_err *err)
{
	return remote_sign_ctx(impl, msg, len, NULL, sig, sig_len, err);
}

static void remote_sign_async(void *impl, const uint8_t *msg, size_t len,
			      const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg)
{
	struct remote_key *k = impl;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct fc_err err = {0};
	enum fc_status st;

	if (k->t->sign_async != NULL) {
		k->t->sign_async(k->link, k->key_id, msg, len, ctx, done, arg);
		return;
	}
	st = k->t->sign(k->link, k->key_id, msg, len, ctx, &sig, &sig_len, &err);
	done(arg, st, sig, sig_len, &err);
}

static bool remote_ready(void *impl)
{
	struct remote_key *k = impl;

	return k->t->ready == NULL || k->t->ready(k->link, k->key_id);
}

static void remote_close(void *impl)
{
	struct remote_key *k = impl;

	if (k == NULL)
		return;
	if (k->t->release != NULL)
		k->t->release(k->link, k->key_id);
	free(k);
}

static const struct hsm_ops remote_ops = {
	.sign = remote_sign,
	.ready = remote_ready,
	.close = remote_close,
	.sign_ctx = remote_sign_ctx,
	.sign_async = remote_sign_async,
};

/*
 * Make a signer that forwards to key key_id over t (hsm.h). Returns FC_OK
 * with *out (free with hsm_signer_free), else FC_EINTERNAL (no transport)
 * or hsm_signer_new's refusal of pub, with the reason in err; on failure
 * t->release has been called for key_id.
 */
enum fc_status hsm_remote_signer_new(const struct hsm_remote_transport *t, void *link,
				     uint32_t key_id, EVP_PKEY *pub, enum hsm_rsa_padding padding,
				     const char *description, struct hsm_signer **out,
				     struct fc_err *err)
{
	struct remote_key *k;

	if (t == NULL || t->sign == NULL)
		return fc_err_set(err, FC_EINTERNAL, "hsm: remote signer without a transport");
	k = fc_xcalloc(1, sizeof(*k));
	k->t = t;
	k->link = link;
	k->key_id = key_id;
	/* On failure hsm_signer_new closes k, which releases the key. */
	return hsm_signer_new(&remote_ops, k, pub, padding, description, out, err);
}
