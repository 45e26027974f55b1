/*
 * A certificate authority: one signer and the chain it issues under. Held by
 * reference so that a reload (SIGHUP) can swap it while requests that
 * started with the old one finish with it.
 */
#include <openssl/bn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ca_int.h"

struct ca_authority {
	struct hsm_signer *signer;
	struct ca_chain *chain;
	atomic_uint refs;
};

/*
 * Make an authority from signer and chain (takes ownership of both, also on
 * failure). The chain must not be empty. Free with ca_authority_free (or
 * ca_authority_unref for the last reference).
 */
enum fc_status ca_authority_new(struct hsm_signer *signer, struct ca_chain *chain,
				struct ca_authority **out, struct fc_err *err)
{
	struct ca_authority *a;

	if (signer == NULL || chain == NULL || chain->n == 0) {
		hsm_signer_free(signer);
		ca_chain_free(chain);
		return fc_err_set(err, FC_ECONFIG, "ca: a signer and a non-empty chain are required");
	}
	a = fc_xcalloc(1, sizeof(*a));
	a->signer = signer;
	a->chain = chain;
	atomic_init(&a->refs, 1);
	*out = a;
	return FC_OK;
}

struct ca_authority *ca_authority_ref(struct ca_authority *a)
{
	atomic_fetch_add(&a->refs, 1);
	return a;
}

void ca_authority_unref(struct ca_authority *a)
{
	if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	hsm_signer_free(a->signer);
	ca_chain_free(a->chain);
	free(a);
}

void ca_authority_free(struct ca_authority *a)
{
	ca_authority_unref(a);
}

const struct ca_chain *ca_authority_chain(const struct ca_authority *a)
{
	return a->chain;
}

struct hsm_signer *ca_authority_signer(const struct ca_authority *a)
{
	return a->signer;
}

void ca_issued_free(struct ca_issued *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->pem[i]);
	free(c->pem);
	free(c->serial_hex);
	free(c);
}

static char *serial_hex(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char *res = fc_xstrdup(hex ? hex : "?");

	OPENSSL_free(hex);
	BN_free(bn);
	return res;
}

/*
 * Issue one certificate (see ca_int.h). Without a CT log the leaf is built
 * once and signed once.
 */
enum fc_status ca_authority_issue(struct ca_authority *a, const struct oidc_identity *identity,
				  EVP_PKEY *key, int validity_s, struct ca_issued **out,
				  struct fc_err *err)
{
	struct ca_leaf_params p = {
		.identity = identity,
		.subject_key = key,
		.issuer = a->chain->certs[0],
		.not_before = fc_now(),
		.validity_s = validity_s,
		.precert = false,
	};
	struct ca_issued *issued = NULL;
	X509 *leaf = NULL;
	enum fc_status st;

	if ((st = ca_leaf_build(&p, &leaf, err)) != FC_OK)
		goto out;
	if ((st = ca_cert_sign(leaf, a->signer, err)) != FC_OK)
		goto out;
	issued = fc_xcalloc(1, sizeof(*issued));
	issued->n = 1 + a->chain->n;
	issued->pem = fc_xcalloc(issued->n, sizeof(char *));
	issued->pem[0] = ca_cert_pem(leaf, true);
	for (size_t i = 0; i < a->chain->n; i++)
		issued->pem[i + 1] = ca_cert_pem(a->chain->certs[i], true);
	issued->serial_hex = serial_hex(leaf);
	*out = issued;
	issued = NULL;
	st = FC_OK;
out:
	ca_issued_free(issued);
	X509_free(leaf);
	return st;
}
