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
	enum fc_status st;

	if (p->subject == NULL || X509_NAME_entry_count(p->subject) == 0 || p->issuer == NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "ca: a time-stamping certificate needs a "
				  "non-empty subject and an issuer");
	if ((st = ca_cert_start("time-stamping certificate", p->subject, p->issuer, p->not_before,
				p->not_after, p->subject_key, &x, err)) != FC_OK)
		return st;
	if ((st = add_tsa_usages(x, err)) != FC_OK || (st = ca_cert_add_skid(x, err)) != FC_OK ||
	    (st = ca_cert_add_akid("time-stamping certificate", x, p->issuer, err)) != FC_OK ||
	    (st = ca_cert_sign(x, signer, NULL, err)) != FC_OK) {
		X509_free(x);
		return st;
	}
	*out = x;
	return FC_OK;
}
