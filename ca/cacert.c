/*
 * The CA certificate profile: the self-signed roots of `fulcrum createca`
 * and of ephemeralca, and createca's intermediates. Fulcio's createca and
 * ephemeralca write the same fields in the same order; so do we.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

/*
 * t plus whole calendar years, as Go's time.AddDate (Feb 29 becomes Mar 1
 * in a year without one).
 */
int64_t ca_add_years(int64_t t, int years)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		return t + (int64_t)years * 365 * 86400;
	tm.tm_year += years;
	return (int64_t)timegm(&tm);
}

/*
 * Append v as attribute nid to n the way Go's pkix.Name does:
 * PrintableString when every character allows it, else UTF8String. An
 * empty or NULL v is left out (true). False if OpenSSL refuses.
 */
bool ca_name_add(X509_NAME *n, int nid, const char *v)
{
	int type = V_ASN1_PRINTABLESTRING;

	if (v == NULL || *v == '\0')
		return true;
	for (const char *c = v; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr(" '()+,-./:=?", *c) != NULL))
			type = V_ASN1_UTF8STRING;
	return X509_NAME_add_entry_by_NID(n, nid, type, (const unsigned char *)v, -1, -1, 0) == 1;
}

static enum fc_status fail_what(const char *what, struct fc_err *err)
{
	char ctx[64];

	snprintf(ctx, sizeof(ctx), "ca: %s", what);
	fc_log_ssl(ctx);
	return fc_err_set(err, FC_EINTERNAL, "ca: cannot build the %s", what);
}

static enum fc_status build_fail(struct fc_err *err)
{
	return fail_what("CA certificate", err);
}

/* KeyUsage keyCertSign|cRLSign, ExtKeyUsage codeSigning if asked,
 * BasicConstraints CA:TRUE with pathlen: Go's order, both KeyUsage and
 * BasicConstraints critical in a CA (RFC 5280 4.2.1.3, 4.2.1.9). */
static enum fc_status add_ca_usages(X509 *x, const struct ca_cacert_params *p, struct fc_err *err)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	enum fc_status st = FC_EINTERNAL;

	if ((ku = ASN1_BIT_STRING_new()) == NULL || ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 ||
	    ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	if (p->eku_codesign &&
	    ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
	     sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_code_sign)) <= 0 ||
	     X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1))
		goto fail;
	if ((bc = BASIC_CONSTRAINTS_new()) == NULL || (bc->pathlen = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set(bc->pathlen, p->pathlen) != 1)
		goto fail;
	bc->ca = 0xff;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	st = FC_OK;
	goto out;
fail:
	st = build_fail(err);
out:
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj objects are static */
	BASIC_CONSTRAINTS_free(bc);
	return st;
}

/* AuthorityKeyId = the issuer's SubjectKeyId, when it has one (ca_int.h). */
enum fc_status ca_cert_add_akid(const char *what, X509 *x, X509 *issuer, struct fc_err *err)
{
	AUTHORITY_KEYID *akid = NULL;
	enum fc_status st = FC_OK;

	if (issuer == NULL || X509_get0_subject_key_id(issuer) == NULL)
		return FC_OK;
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer))) == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
		st = fail_what(what, err);
	AUTHORITY_KEYID_free(akid);
	return st;
}

/* A v3 certificate up to its extensions (ca_int.h). */
enum fc_status ca_cert_start(const char *what, const X509_NAME *subject, X509 *issuer,
			     int64_t not_before, int64_t not_after, EVP_PKEY *key, X509 **out,
			     struct fc_err *err)
{
	X509 *x = NULL;
	ASN1_TIME *nb = NULL, *na = NULL;
	enum fc_status st;

	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1) {
		st = fail_what(what, err);
		goto out;
	}
	if ((st = ca_cert_set_serial(x, err)) != FC_OK)
		goto out;
	if (X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
	    (nb = ASN1_TIME_set(NULL, (time_t)not_before)) == NULL ||
	    (na = ASN1_TIME_set(NULL, (time_t)not_after)) == NULL ||
	    X509_set1_notBefore(x, nb) != 1 || X509_set1_notAfter(x, na) != 1 ||
	    X509_set_pubkey(x, key) != 1) {
		st = fail_what(what, err);
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	return st;
}

/*
 * Build and sign a CA certificate (ca.h): v3, random serial, subject and
 * issuer names (the issuer's subject, or the subject when self-signed),
 * validity, the subject key, then the extensions in Go's order: KeyUsage
 * (critical), ExtKeyUsage (codeSigning, if asked), BasicConstraints
 * (critical, CA:TRUE, pathlen), SubjectKeyId, AuthorityKeyId (not when
 * self-signed). RFC 5280 4.1.2.6: a CA's subject is never empty.
 * FC_OK with *out, FC_ECONFIG for an empty subject, else the failure.
 */
enum fc_status ca_cacert_build(const struct ca_cacert_params *p, struct hsm_signer *signer,
			       X509 **out, struct fc_err *err)
{
	X509 *x = NULL;
	enum fc_status st;

	if (p->subject == NULL || X509_NAME_entry_count(p->subject) == 0)
		return fc_err_set(err, FC_ECONFIG,
				  "ca: a CA certificate needs a non-empty subject "
				  "(RFC 5280 4.1.2.6)");
	if ((st = ca_cert_start("CA certificate", p->subject, p->issuer, p->not_before,
				p->not_after, p->subject_key, &x, err)) != FC_OK)
		return st;
	if ((st = add_ca_usages(x, p, err)) != FC_OK || (st = ca_cert_add_skid(x, err)) != FC_OK ||
	    (st = ca_cert_add_akid("CA certificate", x, p->issuer, err)) != FC_OK ||
	    (st = ca_cert_sign(x, signer, NULL, err)) != FC_OK) {
		X509_free(x);
		return st;
	}
	*out = x;
	return FC_OK;
}
