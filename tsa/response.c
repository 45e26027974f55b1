/*
 * The time-stamp response (RFC 3161 2.4.2): a TSTInfo built with OpenSSL's
 * TS API, wrapped in a SignedData (RFC 5652 5) built with OpenSSL's PKCS#7
 * API, as OpenSSL's own TS_RESP_create_response does, except for one step:
 * OpenSSL signs the signed attributes with an EVP_PKEY holding the private
 * key, and fulcrum's keys live behind hsm_signer. So the SignerInfo is set
 * up with the certificate's public key (which fixes the algorithms), the
 * signed attributes are DER-encoded by OpenSSL as a SET OF (PKCS7_ATTR_SIGN,
 * the exact bytes RFC 5652 5.4 has signed), signed through hsm_sign, and
 * the signature is put in the SignerInfo. The bytes are OpenSSL's
 * throughout; only the private-key operation moves. The parts every
 * response shares come from a template (slot.c); this file fills in what
 * each request changes.
 */
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "tsa_int.h"

/*
 * genTime (tsa_int.h): whole seconds, or three fractional digits that
 * never end in 0.
 */
ASN1_GENERALIZEDTIME *tsa_gen_time(int64_t now_ms, enum tsa_precision p)
{
	time_t secs = (time_t)(now_ms / 1000);
	int ms = (int)(now_ms % 1000);
	ASN1_GENERALIZEDTIME *g = NULL;
	struct tm tm;
	char buf[40];

	if (now_ms < 0 || gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return NULL;
	if (p == TSA_PRECISION_MILLIS) {
		if (ms % 10 == 0)
			ms += 1; /* ".190" would have to be written ".19" in DER */
		snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	} else {
		snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	if ((g = ASN1_GENERALIZEDTIME_new()) == NULL ||
	    ASN1_GENERALIZEDTIME_set_string(g, buf) != 1) {
		ASN1_GENERALIZEDTIME_free(g);
		return NULL;
	}
	return g;
}

/* A positive random serialNumber of TSA_SERIAL_BYTES bytes (RFC 3161
 * 2.4.2: unique per token). */
static ASN1_INTEGER *random_serial(void)
{
	uint8_t b[TSA_SERIAL_BYTES];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (fc_rand_bytes(b, sizeof(b)) == FC_OK && (bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

/* Fill the template's TSTInfo (RFC 3161 2.4.2) for r, with sigstore's
 * TSA's fields: policy, messageImprint (algorithm with NULL parameters, as
 * sigstore writes it), serialNumber, genTime, nonce; version, accuracy and
 * tsa are the template's. */
static bool fill_tst_info(struct tsa *t, TS_TST_INFO *tst, const struct tsa_request *r,
			  const ASN1_OBJECT *policy, int64_t now_ms)
{
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
	ASN1_INTEGER *serial = random_serial();
	ASN1_GENERALIZEDTIME *gt = tsa_gen_time(now_ms, t->precision);
	bool ok = mi != NULL && serial != NULL && gt != NULL &&
		  TS_TST_INFO_set_policy_id(tst, (ASN1_OBJECT *)policy) == 1 &&
		  X509_ALGOR_set0(TS_MSG_IMPRINT_get_algo(mi), OBJ_nid2obj(r->hash_nid),
				  V_ASN1_NULL, NULL) == 1 &&
		  ASN1_OCTET_STRING_set(TS_MSG_IMPRINT_get_msg(mi), r->digest,
					(int)r->digest_len) == 1 &&
		  TS_TST_INFO_set_serial(tst, serial) == 1 && TS_TST_INFO_set_time(tst, gt) == 1 &&
		  (r->nonce == NULL || TS_TST_INFO_set_nonce(tst, r->nonce) == 1);

	ASN1_INTEGER_free(serial);
	ASN1_GENERALIZEDTIME_free(gt);
	return ok;
}

/* eContent: the TSTInfo DER, in the template's OCTET STRING. */
static bool set_content(PKCS7 *p7, const uint8_t *tst, size_t len)
{
	PKCS7 *inner = p7->d.sign->contents;

	return inner != NULL && inner->d.other != NULL &&
	       inner->d.other->type == V_ASN1_OCTET_STRING &&
	       ASN1_OCTET_STRING_set(inner->d.other->value.octet_string, tst, (int)len) == 1;
}

/* certificates: none, the leaf, or with include_chain the whole chain,
 * root included (sigstore's --include-chain-in-response). */
static bool set_certificates(struct tsa *t, PKCS7 *p7, bool cert_req)
{
	size_t n = !cert_req ? 0 : t->include_chain ? t->n_chain : 1;
	bool ok = true;

	sk_X509_pop_free(p7->d.sign->cert, X509_free);
	p7->d.sign->cert = NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = PKCS7_add_certificate(p7, t->chain[i]) == 1;
	return ok;
}

/* The signed attributes (RFC 5652 5.3, RFC 3161 2.4.2), replacing the
 * previous request's: contentType id-ct-TSTInfo, signingTime,
 * messageDigest of the TSTInfo, and SigningCertificateV2. */
static bool add_attributes(struct tsa *t, PKCS7_SIGNER_INFO *si, const uint8_t *tst, size_t len,
			   int64_t now_ms)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	ASN1_UTCTIME *when = ASN1_UTCTIME_set(NULL, (time_t)(now_ms / 1000));
	ASN1_STRING *ess = ASN1_STRING_dup(t->ess_cert_v2);
	bool ok;

	sk_X509_ATTRIBUTE_pop_free(si->auth_attr, X509_ATTRIBUTE_free);
	si->auth_attr = NULL;
	ok = when != NULL && ess != NULL &&
	     PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
					OBJ_nid2obj(NID_id_smime_ct_TSTInfo)) == 1 &&
	     PKCS7_add_signed_attribute(si, NID_pkcs9_signingTime, V_ASN1_UTCTIME, when) == 1;
	if (ok)
		when = NULL; /* the attribute owns it */
	ok = ok && EVP_Digest(tst, len, md, &md_len, t->md_fetched, NULL) == 1 &&
	     PKCS7_add1_attrib_digest(si, md, (int)md_len) == 1 &&
	     PKCS7_add_signed_attribute(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE,
					ess) == 1;
	if (ok)
		ess = NULL;
	ASN1_UTCTIME_free(when);
	ASN1_STRING_free(ess);
	return ok;
}

/* Sign the DER SET OF the signed attributes through the signer and put
 * the signature in place (what PKCS7_SIGNER_INFO_sign does with a key). */
static enum fc_status sign_attributes(struct tsa *t, PKCS7_SIGNER_INFO *si, struct fc_err *err)
{
	unsigned char *abuf = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int alen;
	enum fc_status st;

	/* PKCS7_ATTR_SIGN sorts the SET OF and reorders si's attributes to
	 * match, so that the SignerInfo encodes exactly the signed bytes. */
	alen = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &abuf, ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	if (alen <= 0) {
		fc_log_ssl("tsa: signed attributes");
		return fc_err_set(err, FC_EINTERNAL, "tsa: cannot encode the signed attributes");
	}
	st = hsm_sign(t->signer, abuf, (size_t)alen, &sig, &sig_len, err);
	OPENSSL_free(abuf);
	if (st != FC_OK)
		return st;
	if (ASN1_STRING_set(si->enc_digest, sig, (int)sig_len) != 1)
		st = fc_err_set(err, FC_EINTERNAL, "tsa: cannot store the signature");
	free(sig);
	return st;
}

/* The token around the TSTInfo DER (RFC 3161 2.4.2, RFC 5652 5): the
 * content, the certificates if asked, the signed attributes, the
 * signature. */
static enum fc_status fill_token(struct tsa *t, PKCS7 *p7, bool cert_req, const uint8_t *tst,
				 size_t len, int64_t now_ms, struct fc_err *err)
{
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);

	if (si == NULL || !set_content(p7, tst, len) || !set_certificates(t, p7, cert_req) ||
	    !add_attributes(t, si, tst, len, now_ms)) {
		fc_log_ssl("tsa: SignedData");
		return fc_err_set(err, FC_EINTERNAL, "tsa: cannot build the SignedData");
	}
	return sign_attributes(t, si, err);
}

/* The policy of the token: the request's if accepted, else the default. */
static enum fc_status pick_policy(struct tsa *t, const struct tsa_request *r,
				  const ASN1_OBJECT **policy, enum tsa_refusal *why,
				  struct fc_err *err)
{
	*policy = t->default_policy;
	if (r->policy != NULL) {
		size_t i;

		for (i = 0; i < t->n_accepted; i++)
			if (OBJ_cmp(r->policy, t->accepted[i]) == 0)
				break;
		if (i == t->n_accepted) {
			*why = TSA_REFUSE_POLICY;
			return fc_err_set(err, FC_EINPUT,
					  "tsa: RFC 3161 2.4.1: reqPolicy is not an "
					  "accepted policy");
		}
		*policy = r->policy;
	}
	if (r->has_extensions) {
		*why = TSA_REFUSE_EXTENSION;
		return fc_err_set(err, FC_EINPUT,
				  "tsa: RFC 3161 2.4.1: request extensions are "
				  "not accepted");
	}
	return FC_OK;
}

/*
 * Stamp a request (tsa.h): fill a response template and encode it. FC_OK
 * with *der (caller frees), FC_EINPUT for an unaccepted policy or
 * extensions (*why), the signer's failure, or FC_EINTERNAL; the reason in
 * err.
 */
enum fc_status tsa_stamp(struct tsa *t, const struct tsa_request *r, int64_t now_ms, uint8_t **der,
			 size_t *len, enum tsa_refusal *why, struct fc_err *err)
{
	const ASN1_OBJECT *policy;
	struct tsa_slot *slot = NULL;
	TS_RESP *resp;
	unsigned char *tst_der = NULL, *p;
	int tst_len, n;
	enum fc_status st;

	*why = TSA_REFUSE_NONE;
	if ((st = pick_policy(t, r, &policy, why, err)) != FC_OK)
		return st;
	if ((slot = tsa_slot_get(t, r->nonce != NULL)) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "tsa: cannot make a response template");
		goto out;
	}
	resp = tsa_slot_resp(slot);
	if (!fill_tst_info(t, TS_RESP_get_tst_info(resp), r, policy, now_ms) ||
	    (tst_len = i2d_TS_TST_INFO(TS_RESP_get_tst_info(resp), &tst_der)) <= 0) {
		fc_log_ssl("tsa: TSTInfo");
		st = fc_err_set(err, FC_EINTERNAL, "tsa: cannot build the TSTInfo");
		goto out;
	}
	st = fill_token(t, TS_RESP_get_token(resp), r->cert_req, tst_der, (size_t)tst_len, now_ms,
			err);
	if (st != FC_OK)
		goto out;
	if ((n = i2d_TS_RESP(resp, NULL)) <= 0) {
		fc_log_ssl("tsa: TimeStampResp");
		st = fc_err_set(err, FC_EINTERNAL, "tsa: cannot encode the TimeStampResp");
		goto out;
	}
	*der = p = fc_xmalloc((size_t)n);
	*len = (size_t)i2d_TS_RESP(resp, &p);
	tsa_slot_put(t, slot);
	slot = NULL;
out:
	OPENSSL_free(tst_der);
	tsa_slot_free(slot); /* only after a failure: it may be half filled */
	return st;
}
