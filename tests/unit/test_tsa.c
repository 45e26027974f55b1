/*
 * Unit tests for the time-stamp authority (tsa/): request parsing in both
 * forms with sigstore's refusals, the chain checks of RFC 3161 2.3, the
 * clock check through its seam, genTime precision, and responses verified
 * by OpenSSL's own TS verifier (signature, certificate path, imprint,
 * nonce) with and without certReq and the chain.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hsm.h"
#include "tsa_int.h"

/* --- a chain made here with OpenSSL --------------------------------------------- */

struct fixture {
	EVP_PKEY *root_key;
	X509 *root;
	X509 *leaf;
	struct hsm_signer *signer;
	char *pem;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key signed by issuer_key; exts are "nid=value" pairs
 * passed as (nid, value) arrays ending with 0. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       const int *nids, const char *const *values)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1000 + rand() % 100000);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	for (size_t i = 0; nids[i]; i++)
		add_ext(x, issuer ? issuer : x, nids[i], values[i]);
	X509_sign(x, issuer_key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static const int root_nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
				0};
static const char *const root_vals[] = {"critical,CA:TRUE", "critical,keyCertSign,cRLSign", "hash"};
static const int leaf_nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage, 0};
static const char *const leaf_vals[] = {"critical,CA:FALSE", "critical,digitalSignature",
					"critical,timeStamping"};

static char *pem_of(X509 *const *certs, size_t n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long len;

	for (size_t i = 0; i < n; i++)
		PEM_write_bio_X509(b, certs[i]);
	len = BIO_get_mem_data(b, &data);
	out = fc_xstrndup(data, (size_t)len);
	BIO_free(b);
	return out;
}

/* Root and leaf with the given leaf extensions; the signer holds the leaf
 * key (or another key when wrong_key). */
static EVP_PKEY *leaf_keygen(const char *kind)
{
	if (strcmp(kind, "RSA") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind);
}

static void fixture_make_kind(struct fixture *fx, const int *nids, const char *const *vals,
			      bool wrong_key, const char *kind)
{
	EVP_PKEY *leaf_key = leaf_keygen(kind);
	EVP_PKEY *other = wrong_key ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : NULL;
	struct fc_err err = {0};
	X509 *both[2];

	memset(fx, 0, sizeof(*fx));
	fx->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fx->root =
		make_cert("test TSA root", fx->root_key, NULL, fx->root_key, root_nids, root_vals);
	fx->leaf = make_cert("test TSA", leaf_key, fx->root, fx->root_key, nids, vals);
	both[0] = fx->leaf;
	both[1] = fx->root;
	fx->pem = pem_of(both, 2);
	CHECK(hsm_softkey_from_pkey(other ? other : leaf_key, HSM_RSA_PKCS1, "test key",
				    &fx->signer, &err) == FC_OK);
	if (other)
		EVP_PKEY_free(leaf_key);
}

static void fixture_make(struct fixture *fx, const int *nids, const char *const *vals,
			 bool wrong_key)
{
	fixture_make_kind(fx, nids, vals, wrong_key, "P-256");
}

static void fixture_free(struct fixture *fx)
{
	hsm_signer_free(fx->signer);
	X509_free(fx->leaf);
	X509_free(fx->root);
	EVP_PKEY_free(fx->root_key);
	free(fx->pem);
}

static struct tsa *tsa_make(struct fixture *fx, struct tsa_options *o)
{
	struct tsa *t = NULL;
	struct fc_err err = {0};

	o->signer = fx->signer;
	o->chain_pem = fx->pem;
	o->chain_pem_len = strlen(fx->pem);
	if (tsa_new(o, &t, &err) != FC_OK)
		fprintf(stderr, "tsa_new: %s\n", err.msg);
	return t;
}

/* --- requests ---------------------------------------------------------------------- */

/* DER TimeStampReq for digest (len bytes, hash nid), nonce (0 = none). */
static size_t make_tsq(uint8_t *out, int nid, const uint8_t *digest, size_t len, long nonce,
		       bool cert_req, const char *policy, bool ext)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	unsigned char *p = out;
	size_t n;

	X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL);
	TS_MSG_IMPRINT_set_algo(mi, alg);
	TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, (int)len);
	TS_REQ_set_version(req, 1);
	TS_REQ_set_msg_imprint(req, mi);
	if (nonce) {
		ASN1_INTEGER *ai = ASN1_INTEGER_new();

		ASN1_INTEGER_set(ai, nonce);
		TS_REQ_set_nonce(req, ai);
		ASN1_INTEGER_free(ai);
	}
	if (policy) {
		ASN1_OBJECT *o = OBJ_txt2obj(policy, 1);

		TS_REQ_set_policy_id(req, o);
		ASN1_OBJECT_free(o);
	}
	TS_REQ_set_cert_req(req, cert_req);
	if (ext) {
		X509_EXTENSION *e =
			X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "CA:FALSE");

		TS_REQ_add_ext(req, e, -1);
		X509_EXTENSION_free(e);
	}
	n = (size_t)i2d_TS_REQ(req, &p);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return n;
}

static enum tsa_refusal der_refusal(const uint8_t *der, size_t len)
{
	struct tsa_request *r = NULL;
	enum tsa_refusal why = TSA_REFUSE_NONE;
	struct fc_err err = {0};
	enum fc_status st = tsa_request_parse_der(der, len, &r, &why, &err);

	tsa_request_free(r);
	return st == FC_OK ? TSA_REFUSE_NONE : why;
}

static enum tsa_refusal json_refusal(const char *json)
{
	struct tsa_request *r = NULL;
	enum tsa_refusal why = TSA_REFUSE_NONE;
	struct fc_err err = {0};
	enum fc_status st =
		tsa_request_parse_json((const uint8_t *)json, strlen(json), &r, &why, &err);

	tsa_request_free(r);
	return st == FC_OK ? TSA_REFUSE_NONE : why;
}

static void test_parse_der(void)
{
	uint8_t d[64] = {1, 2, 3}, der[512];
	size_t n;
	struct tsa_request *r = NULL;
	enum tsa_refusal why;
	struct fc_err err = {0};

	n = make_tsq(der, NID_sha256, d, 32, 42, true, NULL, false);
	CHECK(tsa_request_parse_der(der, n, &r, &why, &err) == FC_OK);
	CHECK(r != NULL && r->hash_nid == NID_sha256 && r->digest_len == 32 && r->cert_req);
	CHECK(r != NULL && r->nonce != NULL && ASN1_INTEGER_get(r->nonce) == 42);
	CHECK(r != NULL && r->policy == NULL && !r->has_extensions);
	tsa_request_free(r);
	CHECK(der_refusal(der, n - 1) == TSA_REFUSE_MALFORMED);
	der[n] = 0;
	CHECK(der_refusal(der, n + 1) == TSA_REFUSE_MALFORMED); /* trailing byte */
	CHECK(der_refusal((const uint8_t *)"garbage", 7) == TSA_REFUSE_MALFORMED);
	CHECK(der_refusal(der, 0) == TSA_REFUSE_MALFORMED);
	n = make_tsq(der, NID_sha1, d, 20, 0, false, NULL, false);
	CHECK(der_refusal(der, n) == TSA_REFUSE_WEAK_HASH);
	n = make_tsq(der, NID_sha224, d, 28, 0, false, NULL, false);
	CHECK(der_refusal(der, n) == TSA_REFUSE_MALFORMED);
	n = make_tsq(der, NID_md5, d, 16, 0, false, NULL, false);
	CHECK(der_refusal(der, n) == TSA_REFUSE_MALFORMED);
	n = make_tsq(der, NID_sha512, d, 32, 0, false, NULL, false);
	CHECK(der_refusal(der, n) == TSA_REFUSE_DIGEST_LENGTH);
	n = make_tsq(der, NID_sha384, d, 48, 0, false, "1.2.3.4", true);
	CHECK(tsa_request_parse_der(der, n, &r, &why, &err) == FC_OK);
	CHECK(r != NULL && r->has_extensions && r->policy != NULL);
	tsa_request_free(r);
}

static void test_parse_json(void)
{
	const char *h = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="; /* sha256("hello") */
	char buf[2048];
	struct tsa_request *r = NULL;
	enum tsa_refusal why;
	struct fc_err err = {0};

	snprintf(buf, sizeof(buf), "{\"artifactHash\":\"%s\",\"hashAlgorithm\":\"sha256\"}", h);
	CHECK(json_refusal(buf) == TSA_REFUSE_NONE);
	snprintf(buf, sizeof(buf),
		 "{\"ARTIFACTHASH\":\"%s\",\"HashAlgorithm\":\"SHA256\",\"nonce\":7,"
		 "\"certificates\":true,\"tsaPolicyOID\":\"1.3.6.1.4.1.57264.2\"}",
		 h);
	CHECK(tsa_request_parse_json((const uint8_t *)buf, strlen(buf), &r, &why, &err) == FC_OK);
	CHECK(r != NULL && r->cert_req && r->nonce && ASN1_INTEGER_get(r->nonce) == 7);
	CHECK(r != NULL && r->policy && OBJ_obj2nid(r->policy) == NID_undef);
	CHECK(r != NULL && r->digest_len == 32 && r->digest[0] == 0x2c);
	tsa_request_free(r);
	snprintf(buf, sizeof(buf), "{\"artifactHash\":\"%s\",\"hashAlgorithm\":\"sha1\"}", h);
	CHECK(json_refusal(buf) == TSA_REFUSE_WEAK_HASH);
	snprintf(buf, sizeof(buf), "{\"artifactHash\":\"%s\",\"hashAlgorithm\":\"md5\"}", h);
	CHECK(json_refusal(buf) == TSA_REFUSE_MALFORMED);
	snprintf(buf, sizeof(buf), "{\"artifactHash\":\"%s\",\"hashAlgorithm\":\"sha512\"}", h);
	CHECK(json_refusal(buf) == TSA_REFUSE_DIGEST_LENGTH);
	CHECK(json_refusal("{\"artifactHash\":\"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ\","
			   "\"hashAlgorithm\":\"sha256\"}") == TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"artifactHash\":\"!!!!\",\"hashAlgorithm\":\"sha256\"}") ==
	      TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"artifactHash\":5,\"hashAlgorithm\":\"sha256\"}") ==
	      TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"certificates\":\"true\",\"hashAlgorithm\":\"sha256\"}") ==
	      TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"nonce\":\"12\",\"hashAlgorithm\":\"sha256\"}") ==
	      TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"nonce\":1.5,\"hashAlgorithm\":\"sha256\"}") == TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{") == TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("[]") == TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("null") == TSA_REFUSE_MALFORMED); /* no hash algorithm */
	CHECK(json_refusal("{\"hashAlgorithm\":\"sha256\",\"hashAlgorithm\":\"sha256\"}") ==
	      TSA_REFUSE_MALFORMED);
	CHECK(json_refusal("{\"hashAlgorithm\":\"sha256\",\"tsaPolicyOID\":\"x.y\"}") ==
	      TSA_REFUSE_LONG_OID);
	CHECK(json_refusal("{\"hashAlgorithm\":\"sha256\",\"tsaPolicyOID\":\"1..2\"}") ==
	      TSA_REFUSE_LONG_OID);
	CHECK(json_refusal("{\"hashAlgorithm\":\"sha256\",\"tsaPolicyOID\":\"-1.2\"}") ==
	      TSA_REFUSE_POLICY);
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "{\"hashAlgorithm\":\"sha256\",\"tsaPolicyOID\":\"1");
	for (int i = 0; i < 129; i++)
		strcat(buf, ".1");
	strcat(buf, "\"}");
	CHECK(json_refusal(buf) == TSA_REFUSE_LONG_OID);
	memset(buf, ' ', 1100);
	buf[1100] = '\0';
	CHECK(json_refusal(buf) == TSA_REFUSE_TOO_LARGE);
	CHECK_STR(tsa_refusal_message(TSA_REFUSE_MALFORMED), "Error generating timestamp response");
}

/* --- responses --------------------------------------------------------------------- */

/* Verify resp with OpenSSL's TS verifier (as `openssl ts -verify`): a
 * context made from the request (digest, nonce), root trusted, the leaf
 * given as untrusted for tokens that do not carry it. */
static bool ts_verify(struct fixture *fx, const uint8_t *der, size_t len, const uint8_t *digest,
		      long nonce, TS_RESP **out)
{
	const unsigned char *p = der;
	TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)len);
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	TS_VERIFY_CTX *ctx;
	bool ok;

	X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL);
	TS_MSG_IMPRINT_set_algo(mi, alg);
	TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, 32);
	TS_REQ_set_msg_imprint(req, mi);
	if (nonce) {
		ASN1_INTEGER_set(ai, nonce);
		TS_REQ_set_nonce(req, ai);
	}
	ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
	X509_STORE_add_cert(store, fx->root);
	TS_VERIFY_CTX_set_store(ctx, store);
	X509_up_ref(fx->leaf);
	sk_X509_push(untrusted, fx->leaf);
	TS_VERIFY_CTX_set_certs(ctx, untrusted);
	TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_SIGNER);
	ok = resp != NULL && TS_RESP_verify_response(ctx, resp) == 1;
	if (!ok)
		ERR_print_errors_fp(stderr);
	TS_VERIFY_CTX_free(ctx);
	ASN1_INTEGER_free(ai);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	if (out)
		*out = resp;
	else
		TS_RESP_free(resp);
	return ok;
}

static int token_certs(TS_RESP *resp)
{
	PKCS7 *p7 = TS_RESP_get_token(resp);

	return p7 && p7->d.sign->cert ? sk_X509_num(p7->d.sign->cert) : 0;
}

static void test_stamp(void)
{
	struct fixture fx;
	struct tsa_options o = {0};
	struct tsa *t;
	uint8_t d[32], tsq[512], *der = NULL;
	size_t n, len = 0;
	struct tsa_request *r = NULL;
	enum tsa_refusal why;
	struct fc_err err = {0};
	TS_RESP *resp = NULL;
	const ASN1_GENERALIZEDTIME *gt;

	fixture_make(&fx, leaf_nids, leaf_vals, false);
	t = tsa_make(&fx, &o);
	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	SHA256((const unsigned char *)"hello", 5, d);
	/* nonce and certReq */
	n = make_tsq(tsq, NID_sha256, d, 32, 12345, true, NULL, false);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	CHECK(tsa_stamp(t, r, 1795000000190LL, &der, &len, &why, &err) == FC_OK);
	CHECK(ts_verify(&fx, der, len, d, 12345, &resp));
	CHECK(resp && token_certs(resp) == 1);
	gt = resp ? TS_TST_INFO_get_time(TS_RESP_get_tst_info(resp)) : NULL;
	CHECK(gt && ASN1_STRING_length(gt) == 15); /* YYYYMMDDhhmmssZ */
	CHECK(resp && OBJ_cmp(TS_TST_INFO_get_policy_id(TS_RESP_get_tst_info(resp)),
			      t->default_policy) == 0);
	TS_RESP_free(resp);
	free(der);
	tsa_request_free(r);
	/* neither nonce nor certReq */
	n = make_tsq(tsq, NID_sha256, d, 32, 0, false, NULL, false);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	CHECK(tsa_stamp(t, r, 1795000000000LL, &der, &len, &why, &err) == FC_OK);
	CHECK(ts_verify(&fx, der, len, d, 0, &resp));
	CHECK(resp && token_certs(resp) == 0);
	TS_RESP_free(resp);
	free(der);
	tsa_request_free(r);
	/* an unaccepted policy, extensions */
	n = make_tsq(tsq, NID_sha256, d, 32, 0, false, "1.2.3.4", false);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	CHECK(tsa_stamp(t, r, 1795000000000LL, &der, &len, &why, &err) == FC_EINPUT &&
	      why == TSA_REFUSE_POLICY);
	tsa_request_free(r);
	n = make_tsq(tsq, NID_sha256, d, 32, 0, false, TSA_DEFAULT_POLICY_OID, true);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	CHECK(tsa_stamp(t, r, 1795000000000LL, &der, &len, &why, &err) == FC_EINPUT &&
	      why == TSA_REFUSE_EXTENSION);
	tsa_request_free(r);
	CHECK(strstr(tsa_chain_pem(t), "-----BEGIN CERTIFICATE-----") != NULL);
	tsa_free(t);
	/* the whole chain, and milliseconds */
	o.include_chain = true;
	o.precision = TSA_PRECISION_MILLIS;
	t = tsa_make(&fx, &o);
	n = make_tsq(tsq, NID_sha256, d, 32, 0, true, NULL, false);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	CHECK(t && tsa_stamp(t, r, 1795000000190LL, &der, &len, &why, &err) == FC_OK);
	CHECK(ts_verify(&fx, der, len, d, 0, &resp));
	CHECK(resp && token_certs(resp) == 2);
	gt = resp ? TS_TST_INFO_get_time(TS_RESP_get_tst_info(resp)) : NULL;
	CHECK(gt && memcmp(ASN1_STRING_get0_data(gt) + 14, ".191Z", 5) == 0);
	TS_RESP_free(resp);
	free(der);
	tsa_request_free(r);
	tsa_free(t);
out:
	fixture_free(&fx);
}

/* P-384 (SHA-384 throughout) and RSA (rsaEncryption, PKCS#1 v1.5). */
static void test_key_kinds(void)
{
	static const char *const kinds[] = {"P-384", "P-521", "RSA"};
	uint8_t d[32], tsq[512], *der = NULL;
	struct tsa_request *r = NULL;
	enum tsa_refusal why;
	struct fc_err err = {0};
	size_t n, len = 0;

	SHA256((const unsigned char *)"kinds", 5, d);
	n = make_tsq(tsq, NID_sha256, d, 32, 99, true, NULL, false);
	CHECK(tsa_request_parse_der(tsq, n, &r, &why, &err) == FC_OK);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct fixture fx;
		struct tsa_options o = {0};
		struct tsa *t;

		fixture_make_kind(&fx, leaf_nids, leaf_vals, false, kinds[i]);
		t = tsa_make(&fx, &o);
		CHECK(t != NULL);
		CHECK(t && tsa_stamp(t, r, 1795000000000LL, &der, &len, &why, &err) == FC_OK);
		CHECK(t && ts_verify(&fx, der, len, d, 99, NULL));
		free(der);
		der = NULL;
		tsa_free(t);
		fixture_free(&fx);
	}
	tsa_request_free(r);
}

static void test_gen_time(void)
{
	ASN1_GENERALIZEDTIME *g;

	g = tsa_gen_time(1795000000000LL, TSA_PRECISION_MILLIS);
	CHECK(g && strcmp((const char *)ASN1_STRING_get0_data(g), "20261118110640.001Z") == 0);
	ASN1_GENERALIZEDTIME_free(g);
	g = tsa_gen_time(1795000000999LL, TSA_PRECISION_MILLIS);
	CHECK(g && strcmp((const char *)ASN1_STRING_get0_data(g), "20261118110640.999Z") == 0);
	ASN1_GENERALIZEDTIME_free(g);
	g = tsa_gen_time(1795000000500LL, TSA_PRECISION_SECONDS);
	CHECK(g && strcmp((const char *)ASN1_STRING_get0_data(g), "20261118110640Z") == 0);
	ASN1_GENERALIZEDTIME_free(g);
	for (int ms = 0; ms < 1000; ms++) {
		char *s;

		g = tsa_gen_time(1795000000000LL + ms, TSA_PRECISION_MILLIS);
		s = g ? (char *)ASN1_STRING_get0_data(g) : NULL;
		CHECK(s && strlen(s) == 19 && s[17] != '0' && ASN1_GENERALIZEDTIME_check(g) == 1);
		ASN1_GENERALIZEDTIME_free(g);
	}
}

/* --- chain checks ---------------------------------------------------------------- */

static void expect_chain_refused(const int *nids, const char *const *vals, bool wrong_key,
				 const char *want)
{
	struct fixture fx;
	struct tsa_options o = {0};
	struct tsa *t = NULL;
	struct fc_err err = {0};

	fixture_make(&fx, nids, vals, wrong_key);
	o.signer = fx.signer;
	o.chain_pem = fx.pem;
	o.chain_pem_len = strlen(fx.pem);
	CHECK(tsa_new(&o, &t, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, want);
	tsa_free(t);
	fixture_free(&fx);
}

static void test_chain(void)
{
	static const int ca_nids[] = {NID_basic_constraints, NID_ext_key_usage, 0};
	static const char *const ca_vals[] = {"critical,CA:TRUE", "critical,timeStamping"};
	static const int soft_nids[] = {NID_ext_key_usage, 0};
	static const char *const soft_vals[] = {"timeStamping"};
	static const int two_nids[] = {NID_ext_key_usage, 0};
	static const char *const two_vals[] = {"critical,timeStamping,codeSigning"};
	static const int code_nids[] = {NID_ext_key_usage, 0};
	static const char *const code_vals[] = {"critical,codeSigning"};
	struct fixture fx;
	struct tsa_options o = {0};
	struct tsa *t = NULL;
	struct fc_err err = {0};

	expect_chain_refused(ca_nids, ca_vals, false, "is a CA");
	expect_chain_refused(soft_nids, soft_vals, false, "must be critical");
	expect_chain_refused(two_nids, two_vals, false, "exactly one");
	expect_chain_refused(code_nids, code_vals, false, "exactly one");
	expect_chain_refused(leaf_nids, leaf_vals, true, "not the private key");
	/* the leaf alone */
	fixture_make(&fx, leaf_nids, leaf_vals, false);
	o.signer = fx.signer;
	o.chain_pem = fx.pem;
	o.chain_pem_len = strstr(fx.pem, "-----END CERTIFICATE-----\n") - fx.pem + 26;
	CHECK(tsa_new(&o, &t, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "at least two");
	o.chain_pem_len = strlen(fx.pem);
	o.default_policy = "not an oid";
	CHECK(tsa_new(&o, &t, &err) == FC_ECONFIG);
	fixture_free(&fx);
}

/* --- the clock ------------------------------------------------------------------- */

static struct tsa_clock_status fake_clock;
static bool fake_readable;

static bool fake_probe(struct tsa_clock_status *st)
{
	*st = fake_clock;
	return fake_readable;
}

static void test_clock(void)
{
	char why[256] = "";
	struct fixture fx;
	struct tsa_options o = {.clock_check = true, .clock_max_error_us = 1000000};
	struct tsa *t;

	tsa_set_clock_probe(fake_probe);
	fake_readable = true;
	fake_clock = (struct tsa_clock_status){.synchronised = true, .maxerror_us = 5000};
	CHECK(tsa_clock_ok(1000000, why, sizeof(why)));
	fake_clock.synchronised = false;
	CHECK(!tsa_clock_ok(1000000, why, sizeof(why)));
	CHECK_CONTAINS(why, "STA_UNSYNC");
	fake_clock = (struct tsa_clock_status){.synchronised = true, .maxerror_us = 2000000};
	CHECK(!tsa_clock_ok(1000000, why, sizeof(why)));
	CHECK_CONTAINS(why, "maximum error");
	fake_readable = false;
	CHECK(!tsa_clock_ok(1000000, why, sizeof(why)));
	/* tsa_ready follows the clock unless the check is off */
	fake_readable = true;
	fake_clock = (struct tsa_clock_status){.synchronised = false};
	fixture_make(&fx, leaf_nids, leaf_vals, false);
	t = tsa_make(&fx, &o);
	CHECK(t && !tsa_ready(t, why, sizeof(why)));
	tsa_free(t);
	o.clock_check = false;
	t = tsa_make(&fx, &o);
	CHECK(t && tsa_ready(t, why, sizeof(why)));
	tsa_free(t);
	fixture_free(&fx);
	tsa_set_clock_probe(NULL);
}

int main(void)
{
	test_parse_der();
	test_parse_json();
	test_gen_time();
	test_stamp();
	test_key_kinds();
	test_chain();
	test_clock();
	return check_exit();
}
