/*
 * Internals of the tsa module, shared by its files and its unit tests.
 * No other module includes this header.
 */
#ifndef FULCRUM_TSA_INT_H
#define FULCRUM_TSA_INT_H

#include <openssl/asn1.h>
#include <pthread.h>
#include <stdatomic.h>
#include <openssl/evp.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm.h"
#include "tsa.h"

/* sigstore's accuracy: one second (TSTInfo accuracy, RFC 3161 2.4.2). */
#define TSA_ACCURACY_SECONDS 1
/* sigstore's TSTInfo serialNumber: 160 random bits. */
#define TSA_SERIAL_BYTES 20

struct tsa {
	struct hsm_signer *signer; /* borrowed */
	const EVP_MD *md;	   /* the signer's digest: SignerInfo digestAlgorithm */
	EVP_MD *md_fetched;	   /* the same, fetched once (messageDigest) */
	X509 **chain;		   /* leaf first, root last */
	size_t n_chain;
	char *chain_pem;
	ASN1_OBJECT *default_policy;
	ASN1_OBJECT *accepted[TSA_MAX_POLICIES];
	size_t n_accepted;
	GENERAL_NAME *tsa_name; /* directoryName: the leaf's subject */
	TS_ACCURACY *accuracy;
	ASN1_STRING *ess_cert_v2; /* DER SigningCertificateV2 (RFC 5035) of the leaf */
	bool include_chain;
	enum tsa_precision precision;
	bool http_201;
	bool clock_check;
	int64_t clock_max_error_us;
	atomic_bool clock_refused; /* the last request was refused for the clock (logged once) */
	pthread_mutex_t pool_lock;
	struct tsa_slot *pool[2]; /* response templates, without and with a nonce */
};

/* chain.c: load and check the chain (see tsa_new). */
enum fc_status tsa_chain_load(struct tsa *t, const char *pem, size_t len, bool intermediate_eku,
			      struct fc_err *err);

/* slot.c: response templates (see there), one per request in flight. */
struct tsa_slot;
struct tsa_slot *tsa_slot_get(struct tsa *t, bool nonce);
void tsa_slot_put(struct tsa *t, struct tsa_slot *s);
void tsa_slot_free(struct tsa_slot *s);
void tsa_slot_pool_free(struct tsa *t);
/* The template's TimeStampResp (which owns the token and the TSTInfo). */
TS_RESP *tsa_slot_resp(struct tsa_slot *s);

/*
 * genTime for now_ms (RFC 3161 2.4.2, DER GeneralizedTime): whole seconds
 * ("YYYYMMDDhhmmssZ"), or exactly three fractional digits that never end in
 * 0, the millisecond being moved up by one when it would (".190" is written
 * ".191"): DER drops trailing zeros while sigstore-js accepts exactly three
 * digits or none, and the move stays far inside the one-second accuracy.
 * NULL on failure.
 */
ASN1_GENERALIZEDTIME *tsa_gen_time(int64_t now_ms, enum tsa_precision p);

#endif /* FULCRUM_TSA_INT_H */
