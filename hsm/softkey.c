/*
 * softkey: a signer whose private key lives in this process (ephemeral
 * keys, and fileca-style PEM key files). Signing goes through
 * EVP_DigestSign with a fresh context per call, so one key serves many
 * threads (OpenSSL 3 keys are safe to share read-only).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm.h"

/* A PEM key file is small: an RSA-8192 key in encrypted PKCS#8 is ~6.5 KiB. */
#define SOFTKEY_MAX_PEM_BYTES (64 * 1024)

struct softkey {
	EVP_PKEY *key; /* the private key */
	enum hsm_rsa_padding padding;
	const EVP_MD *md; /* from the signer; NULL = pure (Ed25519) */
};

/* Set up ctx for signing with key, md and padding. */
static bool sign_init(EVP_MD_CTX *ctx, EVP_PKEY *key, const EVP_MD *md,
		      enum hsm_rsa_padding padding)
{
	EVP_PKEY_CTX *pctx = NULL;

	if (EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1)
		return false;
	if (padding == HSM_RSA_PSS) {
		/* RFC 4055 3.1 as Go signs PSS: MGF1 with the message digest, salt
		 * as long as the digest. */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)
			return false;
	}
	return true;
}

static enum fc_status softkey_sign(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
				   size_t *sig_len, struct fc_err *err)
{
	struct softkey *k = impl;
	EVP_MD_CTX *ctx = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum fc_status st = FC_EHSM;

	if ((ctx = EVP_MD_CTX_new()) == NULL || !sign_init(ctx, k->key, k->md, k->padding) ||
	    EVP_DigestSign(ctx, NULL, &out_len, msg, len) != 1) {
		fc_err_set(err, FC_EHSM, "hsm: softkey: cannot start signing");
		fc_err_append_ssl(err);
		goto out;
	}
	out = fc_xmalloc(out_len);
	if (EVP_DigestSign(ctx, out, &out_len, msg, len) != 1) {
		fc_err_set(err, FC_EHSM, "hsm: softkey: signing failed");
		fc_err_append_ssl(err);
		goto out;
	}
	*sig = out;
	out = NULL;
	*sig_len = out_len;
	st = FC_OK;
out:
	free(out);
	EVP_MD_CTX_free(ctx);
	return st;
}

static void softkey_close(void *impl)
{
	struct softkey *k = impl;

	if (k == NULL)
		return;
	EVP_PKEY_free(k->key); /* OpenSSL cleanses the key material on free */
	fc_memzero(k, sizeof(*k));
	free(k);
}

static const struct hsm_ops softkey_ops = {
	.sign = softkey_sign,
	.ready = NULL,
	.close = softkey_close,
	.in_process = true,
};

/* A public-only copy of key, so that the signer's public key (handed to
 * callers outside hsm/) never carries private material. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len;

	if ((len = i2d_PUBKEY(key, &der)) <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	if (pub != NULL && p != der + len) {
		EVP_PKEY_free(pub);
		pub = NULL;
	}
	OPENSSL_free(der);
	return pub;
}

/*
 * Wrap an EVP_PKEY holding a private key (hsm.h). Takes ownership of key,
 * also on failure. The key is checked (type and size as hsm_signer_new,
 * then one signature that must verify). Returns FC_OK with *out (free
 * with hsm_signer_free), else FC_ECONFIG with the reason in err.
 */
enum fc_status hsm_softkey_from_pkey(EVP_PKEY *key, enum hsm_rsa_padding padding,
				     const char *description, struct hsm_signer **out,
				     struct fc_err *err)
{
	const char *desc = description != NULL ? description : "in-memory key";
	struct softkey *k = NULL;
	struct hsm_signer *s = NULL;
	EVP_PKEY *pub = NULL;
	enum fc_status st = FC_ECONFIG;

	if (key == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "hsm: %s: no key", desc);
		goto out;
	}
	if ((pub = public_copy(key)) == NULL) {
		fc_err_set(err, FC_ECONFIG, "hsm: %s: cannot encode the public key", desc);
		fc_err_append_ssl(err);
		goto out;
	}
	k = fc_xcalloc(1, sizeof(*k));
	k->key = key;
	key = NULL;
	k->padding = padding;
	st = hsm_signer_new(&softkey_ops, k, pub, padding, desc, &s, err);
	if (st != FC_OK) {
		k = NULL; /* closed by hsm_signer_new */
		goto out;
	}
	/* The signer decided the digest; the backend signs with the same. */
	k->md = hsm_signer_digest(s);
	if ((st = hsm_signer_self_test(s, err)) != FC_OK)
		goto out;
	*out = s;
	s = NULL;
	st = FC_OK;
out:
	hsm_signer_free(s);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
	return st;
}

/*
 * Generate a fresh in-memory key of the given kind (RSA: 3072 bits, PKCS#1
 * v1.5). Returns FC_OK with *out (free with hsm_signer_free), else
 * FC_EINTERNAL or FC_ECONFIG (unknown kind) with the reason in err.
 */
enum fc_status hsm_softkey_generate(enum hsm_key_kind kind, struct hsm_signer **out,
				    struct fc_err *err)
{
	EVP_PKEY *key = NULL;
	const char *desc;

	switch (kind) {
	case HSM_KEY_EC_P256:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		desc = "ephemeral EC P-256 key";
		break;
	case HSM_KEY_EC_P384:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		desc = "ephemeral EC P-384 key";
		break;
	case HSM_KEY_EC_P521:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		desc = "ephemeral EC P-521 key";
		break;
	case HSM_KEY_RSA:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		desc = "ephemeral RSA-3072 key";
		break;
	case HSM_KEY_ED25519:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		desc = "ephemeral Ed25519 key";
		break;
	default: return fc_err_set(err, FC_ECONFIG, "hsm: unknown key kind %d", (int)kind);
	}
	if (key == NULL) {
		fc_err_set(err, FC_EINTERNAL, "hsm: %s: key generation failed", desc);
		fc_err_append_ssl(err);
		return FC_EINTERNAL;
	}
	return hsm_softkey_from_pkey(key, HSM_RSA_PKCS1, desc, out, err);
}

/* What the passphrase callback saw; it never logs or keeps the passphrase. */
struct pass_state {
	const char *passphrase;
	bool asked; /* the key is encrypted */
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_state *ps = u;
	size_t len;

	(void)rwflag;
	ps->asked = true;
	if (ps->passphrase == NULL || size <= 0)
		return -1;
	len = strlen(ps->passphrase);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, ps->passphrase, len);
	return (int)len;
}

/*
 * Load a PEM private key file (hsm.h: PKCS#8 plain or encrypted, SEC1,
 * PKCS#1, RFC 1423 encrypted PEM). passphrase may be NULL; it is neither
 * kept nor logged. Returns FC_OK with *out (free with hsm_signer_free),
 * else FC_ECONFIG (also when the file cannot be read) with the reason in
 * err.
 */
enum fc_status hsm_softkey_load_pem(const char *path, const char *passphrase,
				    enum hsm_rsa_padding padding, struct hsm_signer **out,
				    struct fc_err *err)
{
	struct pass_state ps = {.passphrase = passphrase, .asked = false};
	char *text = NULL;
	size_t text_len = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	char *desc = NULL;
	enum fc_status st;

	if (path == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "hsm: load key: missing argument");
	/* A key file that cannot be read is a configuration error like any other. */
	if ((st = fc_read_secret_file(path, SOFTKEY_MAX_PEM_BYTES, "hsm: key file", &text,
				      &text_len, NULL, err)) != FC_OK) {
		st = FC_ECONFIG; /* absent or not: the key is not there */
		goto out;
	}
	st = FC_ECONFIG;
	if (text_len > (size_t)INT32_MAX || (bio = BIO_new_mem_buf(text, (int)text_len)) == NULL) {
		fc_err_set(err, FC_EINTERNAL, "hsm: key file %s: cannot read", path);
		st = FC_EINTERNAL;
		goto out;
	}
	key = PEM_read_bio_PrivateKey_ex(bio, NULL, pass_cb, &ps, NULL, NULL);
	if (key == NULL) {
		/* The OpenSSL reason names neither the passphrase nor the key. */
		if (ps.asked && passphrase == NULL)
			fc_err_set(err, FC_ECONFIG,
				   "hsm: key file %s: the key is encrypted and no passphrase was "
				   "given",
				   path);
		else if (ps.asked)
			fc_err_set(err, FC_ECONFIG,
				   "hsm: key file %s: wrong passphrase, or the encrypted key is "
				   "corrupt",
				   path);
		else
			fc_err_set(err, FC_ECONFIG, "hsm: key file %s: no PEM private key found",
				   path);
		ERR_clear_error();
		goto out;
	}
	desc = fc_xasprintf("file %s", path);
	st = hsm_softkey_from_pkey(key, padding, desc, out, err);
	key = NULL;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	if (text != NULL) {
		fc_memzero(text, text_len);
		free(text);
	}
	free(desc);
	return st;
}
