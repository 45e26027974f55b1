/*
 * Response templates. Every TimeStampResp fulcrum answers has the same
 * skeleton: status granted, a SignedData (version 3, one SignerInfo naming
 * the signing certificate by issuer and serial, the digest and signature
 * algorithms), encapsulating a TSTInfo with the same version, accuracy and
 * TSA name. Building that skeleton with OpenSSL's TS and PKCS#7 API costs
 * more than filling it (the names are copied through DER and parsed back),
 * so each skeleton is built once and reused: a slot is taken from a pool
 * for one request, filled (response.c), encoded and given back. A slot is
 * used by one thread at a time; the pool grows to the number of requests
 * stamped at once.
 *
 * A TSTInfo's nonce cannot be removed through OpenSSL's API once set, so
 * slots whose template carries a nonce are kept apart from those that
 * never did.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "tsa_int.h"

struct tsa_slot {
	TS_RESP *resp;
	bool nonce;
	struct tsa_slot *next;
};

/* The SignedData skeleton: version 3, the SignerInfo, an empty eContent
 * of type id-ct-TSTInfo (OpenSSL's ts_TST_INFO_content_new). */
static PKCS7 *token_skeleton(struct tsa *t)
{
	PKCS7 *p7 = PKCS7_new(), *inner = PKCS7_new();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	bool ok;

	ok = p7 != NULL && inner != NULL && os != NULL &&
	     PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	     ASN1_INTEGER_set(p7->d.sign->version, 3) == 1 &&
	     PKCS7_add_signature(p7, t->chain[0], hsm_signer_public_key(t->signer), t->md) !=
		     NULL &&
	     (inner->d.other = ASN1_TYPE_new()) != NULL;
	if (ok) {
		inner->type = OBJ_nid2obj(NID_id_smime_ct_TSTInfo);
		ASN1_TYPE_set(inner->d.other, V_ASN1_OCTET_STRING, os);
		os = NULL;
		ok = PKCS7_set_content(p7, inner) == 1;
		if (ok)
			inner = NULL;
	}
	ASN1_OCTET_STRING_free(os);
	PKCS7_free(inner);
	if (!ok) {
		PKCS7_free(p7);
		return NULL;
	}
	return p7;
}

/* The TSTInfo template: version 1, accuracy, tsa (the rest per request). */
static TS_TST_INFO *tst_skeleton(struct tsa *t)
{
	TS_TST_INFO *tst = TS_TST_INFO_new();

	if (tst == NULL || TS_TST_INFO_set_version(tst, 1) != 1 ||
	    TS_TST_INFO_set_accuracy(tst, t->accuracy) != 1 ||
	    TS_TST_INFO_set_tsa(tst, t->tsa_name) != 1) {
		TS_TST_INFO_free(tst);
		return NULL;
	}
	return tst;
}

static struct tsa_slot *slot_new(struct tsa *t, bool nonce)
{
	struct tsa_slot *s = fc_xcalloc(1, sizeof(*s));
	TS_STATUS_INFO *status = TS_STATUS_INFO_new();
	PKCS7 *p7 = token_skeleton(t);
	TS_TST_INFO *tst = tst_skeleton(t);
	bool ok;

	s->nonce = nonce;
	ok = status != NULL && p7 != NULL && tst != NULL && (s->resp = TS_RESP_new()) != NULL &&
	     TS_STATUS_INFO_set_status(status, TS_STATUS_GRANTED) == 1 &&
	     TS_RESP_set_status_info(s->resp, status) == 1;
	if (ok) {
		TS_RESP_set_tst_info(s->resp, p7, tst); /* takes both */
		p7 = NULL;
		tst = NULL;
	}
	TS_STATUS_INFO_free(status);
	PKCS7_free(p7);
	TS_TST_INFO_free(tst);
	if (!ok) {
		fc_log_ssl("tsa: response template");
		tsa_slot_free(s);
		return NULL;
	}
	return s;
}

/*
 * A template for one request (whose TSTInfo will carry a nonce or not):
 * from the pool, else new. NULL when OpenSSL fails.
 */
struct tsa_slot *tsa_slot_get(struct tsa *t, bool nonce)
{
	struct tsa_slot *s;

	pthread_mutex_lock(&t->pool_lock);
	s = t->pool[nonce];
	if (s != NULL)
		t->pool[nonce] = s->next;
	pthread_mutex_unlock(&t->pool_lock);
	return s != NULL ? s : slot_new(t, nonce);
}

/* Give a template back once its response is encoded. */
void tsa_slot_put(struct tsa *t, struct tsa_slot *s)
{
	pthread_mutex_lock(&t->pool_lock);
	s->next = t->pool[s->nonce];
	t->pool[s->nonce] = s;
	pthread_mutex_unlock(&t->pool_lock);
}

/* Free one template (NULL is fine). */
void tsa_slot_free(struct tsa_slot *s)
{
	if (s == NULL)
		return;
	TS_RESP_free(s->resp);
	free(s);
}

/* Free every template in the pool. */
void tsa_slot_pool_free(struct tsa *t)
{
	for (int i = 0; i < 2; i++) {
		while (t->pool[i] != NULL) {
			struct tsa_slot *s = t->pool[i];

			t->pool[i] = s->next;
			tsa_slot_free(s);
		}
	}
}

/* The template's TimeStampResp; borrowed from the slot. */
TS_RESP *tsa_slot_resp(struct tsa_slot *s)
{
	return s->resp;
}
