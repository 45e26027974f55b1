/*
 * The time-stamp authority object: its chain, policies and the parts of
 * every response that never change (the TSA name, the accuracy, the
 * SigningCertificateV2 attribute), made once at start.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ess.h>

#include "tsa_int.h"

static enum fc_status policy_obj(const char *text, ASN1_OBJECT **out, struct fc_err *err)
{
	if (text == NULL || *text == '\0' || (*out = OBJ_txt2obj(text, 1)) == NULL) {
		ERR_clear_error();
		return fc_err_set(err, FC_ECONFIG, "tsa: policy OID \"%s\" is not a dotted OID",
				  text ? text : "");
	}
	return FC_OK;
}

/* The default policy and the accepted ones (the default alone unless a
 * list is given, as sigstore's --accepted-policy-oids). */
static enum fc_status load_policies(struct tsa *t, const struct tsa_options *o, struct fc_err *err)
{
	const char *def = o->default_policy ? o->default_policy : TSA_DEFAULT_POLICY_OID;
	enum fc_status st;

	if ((st = policy_obj(def, &t->default_policy, err)) != FC_OK)
		return st;
	if (o->n_accepted > TSA_MAX_POLICIES)
		return fc_err_set(err, FC_ECONFIG, "tsa: at most %d accepted policy OIDs",
				  TSA_MAX_POLICIES);
	if (o->accepted_policies == NULL || o->n_accepted == 0)
		return policy_obj(def, &t->accepted[t->n_accepted++], err);
	for (size_t i = 0; i < o->n_accepted; i++)
		if ((st = policy_obj(o->accepted_policies[i], &t->accepted[t->n_accepted++],
				     err)) != FC_OK)
			return st;
	return FC_OK;
}

/*
 * What every TSTInfo and SignerInfo share: tsa = directoryName of the
 * leaf's subject (as sigstore's TSA writes it), accuracy one second, and
 * the SigningCertificateV2 attribute (RFC 5035 5.4; RFC 3161 2.4.1 wants
 * the signer's certificate identified): ESSCertIDv2 with SHA-256 of the
 * leaf and its issuerSerial, made by OpenSSL's ESS code.
 */
static enum fc_status precompute(struct tsa *t, struct fc_err *err)
{
	X509_NAME *name = X509_NAME_dup(X509_get_subject_name(t->chain[0]));
	ASN1_INTEGER *secs = ASN1_INTEGER_new();
	ESS_SIGNING_CERT_V2 *sc = NULL;
	unsigned char *der = NULL;
	int len;
	enum fc_status st = FC_EINTERNAL;

	if (name == NULL || (t->tsa_name = GENERAL_NAME_new()) == NULL)
		goto out;
	GENERAL_NAME_set0_value(t->tsa_name, GEN_DIRNAME, name);
	name = NULL;
	if (secs == NULL || ASN1_INTEGER_set(secs, TSA_ACCURACY_SECONDS) != 1 ||
	    (t->accuracy = TS_ACCURACY_new()) == NULL ||
	    TS_ACCURACY_set_seconds(t->accuracy, secs) != 1)
		goto out;
	if ((sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), t->chain[0], NULL, 1)) == NULL ||
	    (len = i2d_ESS_SIGNING_CERT_V2(sc, &der)) <= 0 ||
	    (t->ess_cert_v2 = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL ||
	    ASN1_STRING_set(t->ess_cert_v2, der, len) != 1)
		goto out;
	st = FC_OK;
out:
	if (st != FC_OK) {
		fc_log_ssl("tsa: precompute");
		fc_err_set(err, st, "tsa: cannot prepare the response template");
	}
	X509_NAME_free(name);
	ASN1_INTEGER_free(secs);
	ESS_SIGNING_CERT_V2_free(sc);
	OPENSSL_free(der);
	return st;
}

/*
 * Make a TSA (tsa.h). FC_OK with *out (free with tsa_free), else
 * FC_ECONFIG (or FC_EINTERNAL) with the reason in err.
 */
enum fc_status tsa_new(const struct tsa_options *o, struct tsa **out, struct fc_err *err)
{
	struct tsa *t = fc_xcalloc(1, sizeof(*t));
	enum fc_status st;

	pthread_mutex_init(&t->pool_lock, NULL);
	t->signer = o->signer;
	t->include_chain = o->include_chain;
	t->precision = o->precision;
	t->http_201 = o->http_201;
	t->clock_check = o->clock_check;
	t->clock_max_error_us = o->clock_max_error_us;
	if (o->signer == NULL) {
		st = fc_err_set(err, FC_ECONFIG, "tsa: no signer");
		goto fail;
	}
	if ((st = tsa_chain_load(t, o->chain_pem, o->chain_pem_len, !o->no_intermediate_eku,
				 err)) != FC_OK ||
	    (st = load_policies(t, o, err)) != FC_OK || (st = precompute(t, err)) != FC_OK)
		goto fail;
	if ((t->md_fetched = EVP_MD_fetch(NULL, EVP_MD_get0_name(t->md), NULL)) == NULL) {
		fc_log_ssl("tsa: digest");
		st = fc_err_set(err, FC_EINTERNAL, "tsa: cannot fetch the signer's digest");
		goto fail;
	}
	*out = t;
	return FC_OK;
fail:
	tsa_free(t);
	return st;
}

/*
 * Free a TSA (not its signer). NULL is fine.
 */
void tsa_free(struct tsa *t)
{
	if (t == NULL)
		return;
	tsa_slot_pool_free(t);
	pthread_mutex_destroy(&t->pool_lock);
	EVP_MD_free(t->md_fetched);
	for (size_t i = 0; i < t->n_chain; i++)
		X509_free(t->chain[i]);
	free(t->chain);
	free(t->chain_pem);
	ASN1_OBJECT_free(t->default_policy);
	for (size_t i = 0; i < t->n_accepted; i++)
		ASN1_OBJECT_free(t->accepted[i]);
	GENERAL_NAME_free(t->tsa_name);
	TS_ACCURACY_free(t->accuracy);
	ASN1_STRING_free(t->ess_cert_v2);
	free(t);
}

/*
 * The chain as PEM, signing certificate first; borrowed from t.
 */
const char *tsa_chain_pem(const struct tsa *t)
{
	return t->chain_pem;
}

/*
 * Ready to stamp (tsa.h): the clock check (unless off) and the signer.
 */
bool tsa_ready(struct tsa *t, char *why, size_t n)
{
	if (t->clock_check && !tsa_clock_ok(t->clock_max_error_us, why, n))
		return false;
	if (!hsm_signer_ready(t->signer)) {
		snprintf(why, n, "the signer is not available (%s)",
			 hsm_signer_description(t->signer));
		return false;
	}
	return true;
}
