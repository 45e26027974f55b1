/*
 * The time-stamping certificate profile: the signing certificate of
 * `fulcrum tsa`, made by `fulcrum createca --tsa` under a root of the CA
 * profile (cacert.c). RFC 3161 2.3: the certificate names exactly one
 * ExtKeyUsage, id-kp-timeStamping, and that extension is critical; sigstore
 * timestamp-authority also refuses a CA as the signing certificate.
 */
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

static enum fc_status tsa_fail(struct fc_err *err)
{
	fc_log_ssl("ca: time-stamping certificate");
	return fc_err_set(err, FC_EINTERNAL, "ca: cannot build the time-stamping certificate");
}

/* KeyUsage digitalSignature (critical), ExtKeyUsage timeStamping
 * (critical), BasicConstraints CA:FALSE (critical). */
static enum fc_status add_tsa_usages(X509 *x, struct fc_err *err)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	enum fc_status st = FC_OK;

	if (ku == NULL || ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1 || eku == NULL ||
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_time_stamp)) <= 0 ||
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 1, X509V3_ADD_DEFAULT) != 1 ||
	    bc == NULL ||
	    X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1)
		st = tsa_fail(err);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj objects are static */
	BASIC_CONSTRAINTS_free(bc);
	return st;
}

/* AuthorityKeyId = the issuer's SubjectKeyId. */
static enum fc_status add_tsa_akid(X509 *x, X509 *issuer, struct fc_err *err)
{
	AUTHORITY_KEYID *akid = NULL;
	enum fc_status st = FC_OK;

	if (X509_get0_subject_key_id(issuer) == NULL)
		return FC_OK;
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer))) == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
		st = tsa_fail(err);
	AUTHORITY_KEYID_free(akid);
	return st;
}

/*
 * Build and sign a time-stamping certificate (ca.h): v3, random serial,
 * subject, issuer = the issuer's subject, validity, the subject key, then
 * KeyUsage digitalSignature (critical), ExtKeyUsage timeStamping only
 * (critical), BasicConstraints CA:FALSE (critical), SubjectKeyId,
 * AuthorityKeyId. FC_OK with *out (X509_free), FC_ECONFIG for an empty
 * subject or no issuer, else the signer's failure or FC_EINTERNAL.
 */
enum fc_status ca_tsacert_build(const struct ca_tsacert_params *p, struct hsm_signer *signer,
				X509 **out, struct fc_err *err)
{
	X509 *x = NULL;
	ASN1_TIME *nb = NULL, *na = NULL;
	enum fc_status st = FC_EINTERNAL;

	if (p->subject == NULL || X509_NAME_entry_count(p->subject) == 0 || p->issuer == NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "ca: a time-stamping certificate needs a "
				  "non-empty subject and an issuer");
	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1) {
		st = tsa_fail(err);
		goto out;
	}
	if ((st = ca_cert_set_serial(x, err)) != FC_OK)
		goto out;
	if (X509_set_subject_name(x, p->subject) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(p->issuer)) != 1 ||
	    (nb = ASN1_TIME_set(NULL, (time_t)p->not_before)) == NULL ||
	    (na = ASN1_TIME_set(NULL, (time_t)p->not_after)) == NULL ||
	    X509_set1_notBefore(x, nb) != 1 || X509_set1_notAfter(x, na) != 1 ||
	    X509_set_pubkey(x, p->subject_key) != 1) {
		st = tsa_fail(err);
		goto out;
	}
	if ((st = add_tsa_usages(x, err)) != FC_OK || (st = ca_cert_add_skid(x, err)) != FC_OK ||
	    (st = add_tsa_akid(x, p->issuer, err)) != FC_OK ||
	    (st = ca_cert_sign(x, signer, NULL, err)) != FC_OK)
		goto out;
	*out = x;
	x = NULL;
	st = FC_OK;
out:
	X509_free(x);
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	return st;
}
