/*
 * tsq_fuzz: the time-stamp request parsers of tsa/request.c on untrusted
 * bytes, as DER TimeStampReq and as sigstore's JSON form, with what they
 * promise: a request is either accepted with a supported hash and a digest
 * of its length, or refused with a reason. Every accepted request is then
 * stamped by a TSA made here (in-memory key, chain made with OpenSSL) and
 * the response must decode and carry the request's digest and nonce.
 *
 * Seeds: fuzz/corpus/tsq.
 */
#include <string.h>

#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "hsm.h"
#include "tsa.h"

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       const char *bc, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 2 : 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (eku) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, issuer_key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* One TSA for the whole run (kept until exit). */
static struct tsa *the_tsa(void)
{
	static struct tsa *t;
	EVP_PKEY *root_key, *leaf_key;
	struct hsm_signer *signer = NULL;
	struct tsa_options o = {.precision = TSA_PRECISION_MILLIS};
	X509 *root, *leaf;
	BIO *b;
	char *pem;
	long len;

	if (t != NULL)
		return t;
	root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	root = make_cert("fuzz root", root_key, NULL, root_key, "critical,CA:TRUE", NULL);
	leaf = make_cert("fuzz tsa", leaf_key, root, root_key, "critical,CA:FALSE",
			 "critical,timeStamping");
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, leaf);
	PEM_write_bio_X509(b, root);
	len = BIO_get_mem_data(b, &pem);
	FUZZ_CHECK(hsm_softkey_from_pkey(leaf_key, HSM_RSA_PKCS1, "fuzz key", &signer, NULL) ==
		   FC_OK);
	o.signer = signer;
	o.chain_pem = pem;
	o.chain_pem_len = (size_t)len;
	FUZZ_CHECK(tsa_new(&o, &t, NULL) == FC_OK);
	BIO_free(b);
	X509_free(root);
	X509_free(leaf);
	EVP_PKEY_free(root_key);
	return t;
}

/* Stamp an accepted request and check the response. */
static void stamp(const struct tsa_request *r)
{
	uint8_t *der = NULL;
	size_t len = 0;
	enum tsa_refusal why;
	const unsigned char *p;
	TS_RESP *resp;
	TS_TST_INFO *tst;
	enum fc_status st = tsa_stamp(the_tsa(), r, 1795000000123LL, &der, &len, &why, NULL);

	if (st != FC_OK) {
		FUZZ_CHECK(st == FC_EINPUT &&
			   (why == TSA_REFUSE_POLICY || why == TSA_REFUSE_EXTENSION));
		return;
	}
	p = der;
	resp = d2i_TS_RESP(NULL, &p, (long)len);
	FUZZ_CHECK(resp != NULL && p == der + len);
	tst = TS_RESP_get_tst_info(resp);
	FUZZ_CHECK(tst != NULL);
	FUZZ_CHECK((size_t)ASN1_STRING_length(TS_MSG_IMPRINT_get_msg(
			   TS_TST_INFO_get_msg_imprint(tst))) == r->digest_len);
	FUZZ_CHECK(r->nonce == NULL || ASN1_INTEGER_cmp(TS_TST_INFO_get_nonce(tst), r->nonce) == 0);
	TS_RESP_free(resp);
	free(der);
}

static void check(enum fc_status st, const struct tsa_request *r, enum tsa_refusal why)
{
	size_t want;

	if (st != FC_OK) {
		FUZZ_CHECK(st == FC_EINPUT && why != TSA_REFUSE_NONE && r == NULL);
		return;
	}
	FUZZ_CHECK(r != NULL && why == TSA_REFUSE_NONE);
	want = r->hash_nid == NID_sha256   ? 32
	       : r->hash_nid == NID_sha384 ? 48
	       : r->hash_nid == NID_sha512 ? 64
					   : 0;
	FUZZ_CHECK(want != 0 && r->digest_len == want);
	stamp(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct tsa_request *r = NULL;
	enum tsa_refusal why = TSA_REFUSE_NONE;
	enum fc_status st;

	st = tsa_request_parse_der(d, n, &r, &why, NULL);
	check(st, r, why);
	tsa_request_free(r);
	r = NULL;
	why = TSA_REFUSE_NONE;
	st = tsa_request_parse_json(d, n, &r, &why, NULL);
	check(st, r, why);
	tsa_request_free(r);
	return 0;
}
