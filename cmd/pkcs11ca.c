/*
 * The pkcs11ca CA of `fulcrum serve`, and opening a token for it and for
 * `fulcrum createca`: both commands read the token the same way.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "cmd.h"
#include "common.h"
#include "hsm.h"

/*
 * Open the token named by --pkcs11-config-path (crypto11 JSON, Fulcio's
 * default path when neither is given) or --pkcs11-uri, settle where the PIN
 * comes from (--pkcs11-pin-file and the environment, hsm.h) and log in.
 * rw opens read-write sessions (createca stores objects). FC_OK with
 * *cfg_out and *out (free both), else the reason in err.
 */
enum fc_status cmd_p11_open(const char *config_path, const char *uri, const char *pin_file, bool rw,
			    struct hsm_p11_config **cfg_out, struct hsm_p11 **out,
			    struct fc_err *err)
{
	struct hsm_p11_config *cfg = NULL;
	enum fc_status st;

	if (config_path != NULL && uri != NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11: give --pkcs11-config-path or --pkcs11-uri, not both");
	if (uri != NULL)
		st = hsm_p11_config_parse_uri(uri, &cfg, err);
	else
		st = hsm_p11_config_load_crypto11(
			config_path ? config_path : CMD_PKCS11_DEFAULT_CONFIG, &cfg, err);
	if (st != FC_OK)
		return st;
	cfg->read_write = rw;
	if (rw && cfg->max_sessions == 0)
		cfg->max_sessions = 1; /* createca signs twice: no pool needed */
	if ((st = hsm_p11_config_resolve_pin(cfg, pin_file, err)) != FC_OK ||
	    (st = hsm_p11_open(cfg, out, err)) != FC_OK) {
		hsm_p11_config_free(cfg);
		return st;
	}
	*cfg_out = cfg;
	return FC_OK;
}

/* Append to chain the certificates of pool that issued its last one,
 * until a self-issued root (RFC 5280 6.1: subject/issuer and signature). */
static size_t chain_from_pool(X509 **chain, size_t n, size_t max, X509 **pool, size_t npool)
{
	while (n < max) {
		X509 *cur = chain[n - 1], *next = NULL;

		if (X509_check_issued(cur, cur) == X509_V_OK)
			break; /* self-issued: the root */
		for (size_t i = 0; i < npool && next == NULL; i++) {
			EVP_PKEY *k;
			if (pool[i] == NULL || X509_cmp(pool[i], cur) == 0 ||
			    X509_check_issued(pool[i], cur) != X509_V_OK)
				continue;
			if ((k = X509_get0_pubkey(pool[i])) != NULL && X509_verify(cur, k) == 1) {
				next = pool[i];
				pool[i] = NULL;
			}
		}
		ERR_clear_error();
		if (next == NULL)
			break;
		chain[n++] = next;
	}
	return n;
}

/* Where the CA's key and issuing certificate are on the token. */
struct p11ca_where {
	const char *label;     /* the key's CKA_LABEL */
	bool by_cert;	       /* no label or id given: the key is the one
					     * whose public half is the certificate's */
	const uint8_t *key_id; /* the URI's id=, if any */
	size_t key_id_len;
	const uint8_t *cert_id; /* the issuing certificate's CKA_ID ... */
	size_t cert_id_len;
	const char *cert_label; /* ... or its CKA_LABEL */
	char *what;		/* how messages name the certificate */
};

/* The key: --hsm-key-label, else the URI's object, else the key of the
 * issuing certificate (by_cert; PKCS11CA when the token has no public-key
 * object for it). The certificate: --hsm-caroot-id (ASCII bytes, as
 * Fulcio), else the URI's id, else (without --hsm-chain) the key's label. */
static void where_of(const struct cmd_pkcs11ca_flags *f, const struct hsm_p11_config *cfg,
		     struct p11ca_where *w)
{
	memset(w, 0, sizeof(*w));
	w->label = f->key_label;
	if (w->label == NULL && f->uri != NULL &&
	    (cfg->object_label != NULL || cfg->object_id != NULL))
		w->label = cfg->object_label;
	else if (w->label == NULL) {
		w->label = HSM_P11_DEFAULT_KEY_LABEL;
		w->by_cert = true;
	}
	if (f->uri != NULL && cfg->object_id != NULL) {
		w->key_id = cfg->object_id;
		w->key_id_len = cfg->object_id_len;
	}
	if (f->caroot_id != NULL) {
		w->cert_id = (const uint8_t *)f->caroot_id;
		w->cert_id_len = strlen(f->caroot_id);
	} else if (w->key_id != NULL) {
		w->cert_id = w->key_id;
		w->cert_id_len = w->key_id_len;
	} else if (f->chain_path == NULL) {
		w->cert_label = w->label;
	}
	if (w->cert_id != NULL)
		w->what = fc_xasprintf("id \"%.*s\"", (int)w->cert_id_len, w->cert_id);
	else if (w->cert_label != NULL)
		w->what = fc_xasprintf("label \"%s\"", w->cert_label);
}

/* The one issuing certificate on the token with w's id or label; it must
 * be the first of the --hsm-chain file when there is one. */
static enum fc_status issuing_cert(struct hsm_p11 *p, const struct p11ca_where *w,
				   const struct ca_chain *file_chain, const char *chain_path,
				   X509 **out, struct fc_err *err)
{
	X509 **found = NULL;
	size_t nfound = 0;
	enum fc_status st;

	st = hsm_p11_find_certs(p, w->cert_label, w->cert_id, w->cert_id_len, &found, &nfound, err);
	if (st != FC_OK)
		goto out;
	if (nfound == 0)
		st = fc_err_set(err, FC_ECONFIG,
				"pkcs11ca: %s: no certificate with %s on the token (wrong "
				"--hsm-caroot-id?)",
				hsm_p11_description(p), w->what);
	else if (nfound > 1)
		st = fc_err_set(err, FC_ECONFIG,
				"pkcs11ca: %s: %zu certificates have %s; ids must be unique",
				hsm_p11_description(p), nfound, w->what);
	else if (file_chain != NULL && X509_cmp(found[0], file_chain->certs[0]) != 0)
		st = fc_err_set(err, FC_ECONFIG,
				"pkcs11ca: the certificate with %s on the token is not the first "
				"certificate of %s",
				w->what, chain_path);
	if (st == FC_OK) {
		*out = found[0];
		found[0] = NULL;
	}
out:
	for (size_t i = 0; i < nfound; i++)
		X509_free(found[i]);
	free(found);
	return st;
}

/* The chain from the token: issuing (taken), then the token's certificates
 * that issued it, up to the root. */
static enum fc_status token_chain(struct hsm_p11 *p, X509 *issuing, struct ca_chain **out,
				  struct fc_err *err)
{
	X509 **all = NULL, *certs[8] = {issuing};
	size_t nall = 0, n;
	enum fc_status st;

	if ((st = hsm_p11_find_certs(p, NULL, NULL, 0, &all, &nall, err)) != FC_OK) {
		X509_free(issuing);
		return st;
	}
	n = chain_from_pool(certs, 1, sizeof(certs) / sizeof(certs[0]), all, nall);
	*out = ca_chain_from_certs(certs, n); /* owns certs[], also on failure */
	for (size_t i = 0; i < nall; i++)
		X509_free(all[i]);
	free(all);
	if (*out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11ca: cannot encode the chain");
	return FC_OK;
}

/* The signer of the CA key, whose public key must be the chain's first. */
static enum fc_status ca_key_signer(struct hsm_p11 *p, const struct cmd_pkcs11ca_flags *f,
				    const struct p11ca_where *w, const struct ca_chain *chain,
				    struct hsm_signer **out, struct fc_err *err)
{
	EVP_PKEY *cert_key = X509_get0_pubkey(chain->certs[0]);
	enum hsm_rsa_padding pad = f->rsa_pss ? HSM_RSA_PSS : HSM_RSA_PKCS1;
	enum fc_status st = FC_ENOTFOUND;

	/* Without a label: the key of the certificate, so that a new
	 * intermediate (its chain in --hsm-chain, or its certificate under
	 * --hsm-caroot-id) is taken on a reload whatever its key's label. */
	if (w->by_cert && cert_key != NULL)
		st = hsm_p11_signer_for_key(p, cert_key, pad, out, err);
	if (st == FC_ENOTFOUND) {
		fc_err_clear(err);
		st = hsm_p11_signer_new(p, w->label, w->key_id, w->key_id_len, pad, cert_key, out,
					err);
	}
	if (w->by_cert &&
	    (st == FC_ENOTFOUND ||
	     (st == FC_OK && EVP_PKEY_eq(hsm_signer_public_key(*out), cert_key) != 1))) {
		ERR_clear_error();
		hsm_signer_free(*out);
		*out = NULL;
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11ca: the token holds no key of the issuing certificate (%s): "
			"no public-key object has its key, and no key labelled \"%s\" is it "
			"(give --hsm-key-label, or make the key in this token)",
			w->what ? w->what : f->chain_path, w->label);
	}
	if (st != FC_OK)
		return st;
	if (EVP_PKEY_eq(hsm_signer_public_key(*out), cert_key) != 1) {
		ERR_clear_error();
		hsm_signer_free(*out);
		*out = NULL;
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11ca: the key with label \"%s\" and the certificate with %s "
				  "do not match (wrong --hsm-key-label or --hsm-caroot-id?)",
				  w->label ? w->label : "", w->what ? w->what : f->chain_path);
	}
	return FC_OK;
}

/*
 * Load the pkcs11ca key of fulcrum serve (cmd.h): open the token, find the
 * key, the issuing certificate (by --hsm-caroot-id, else the URI's id,
 * else the key label) and the chain (--hsm-chain, else the certificates on
 * the token that issued it, up to the root), check that the key is the
 * certificate's and the chain (ca_chain_check). Runs where the key is
 * held: the signer process. Returns FC_OK with *signer_out and *chain_out
 * (free with hsm_signer_free and ca_chain_free), else the status with a
 * message saying which of module, token, PIN, label or id is wrong (never
 * the PIN).
 */
enum fc_status cmd_pkcs11ca_load(const struct cmd_pkcs11ca_flags *f, struct hsm_signer **signer_out,
				 struct ca_chain **chain_out, struct fc_err *err)
{
	struct hsm_p11_config *cfg = NULL;
	struct hsm_p11 *p = NULL;
	struct hsm_signer *signer = NULL;
	struct ca_chain *chain = NULL;
	struct p11ca_where w = {0};
	X509 *issuing = NULL;
	enum fc_status st;

	if ((st = cmd_p11_open(f->config_path, f->uri, f->pin_file, false, &cfg, &p, err)) != FC_OK)
		goto out;
	where_of(f, cfg, &w);
	if (f->chain_path != NULL && (st = ca_chain_load_file(f->chain_path, &chain, err)) != FC_OK)
		goto out;
	if (w.what != NULL &&
	    (st = issuing_cert(p, &w, chain, f->chain_path, &issuing, err)) != FC_OK)
		goto out;
	if (chain == NULL) {
		st = token_chain(p, issuing, &chain, err);
		issuing = NULL;
		if (st != FC_OK)
			goto out;
	}
	if ((st = ca_key_signer(p, f, &w, chain, &signer, err)) != FC_OK ||
	    (st = ca_chain_check(chain, hsm_signer_public_key(signer), err)) != FC_OK)
		goto out;
	fc_log(LOG_INFO, "pkcs11ca: %s; chain of %zu certificate(s)",
	       hsm_signer_description(signer), chain->n);
	*signer_out = signer;
	*chain_out = chain;
	signer = NULL;
	chain = NULL;
out:
	X509_free(issuing);
	free(w.what);
	hsm_signer_free(signer);
	ca_chain_free(chain);
	hsm_p11_free(p);
	hsm_p11_config_free(cfg);
	return st;
}
