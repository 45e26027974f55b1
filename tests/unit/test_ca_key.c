/*
 * Unit tests for the client key files of ca/ (algs.c, keyparse.c, goodkey.c,
 * pop.c, csr.c): the algorithm registry, client key parsing, goodkey checks, proof of possession and CSRs. Every key is generated here
 * with OpenSSL (no mocked crypto); refused keys are built on purpose (RSA
 * 1024, e = 3, small factors, close primes, P-224, secp256k1, DSA, Ed448,
 * X25519). The ROCA vectors are public keys from titanous/rocacheck's tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ca_int.h"
#include "check.h"
#include "common.h"

#define SUBJECT "alice@example.com"

/* A 2048-bit key with the ROCA fingerprint, and one without (titanous/
 * rocacheck test vectors). */
static const char roca_bad_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlze9c7qGdjDLVR/ntk+4\n"
	"ZkfMcYsAnmfTFHfe3Xv7jRQqPCXCULtr0y0jG3aRJmEenoXO9uDveqr43gFB9yvA\n"
	"dLEhu0aJqpB7lNZ+yXsvfVp/96dkSN8oWYL/dd9Z7GQOvVniHUY3Xsd7zdw2eYOy\n"
	"HSXhhA2Ttwnj3c1jEYfC0y9q1cU99aL0ogGDqolcOvlkJu+mGb+6+WyboFa1gwRu\n"
	"kYxBHZWKiHCt/eihvXsPTzTlXmTXWdGJtA1xZDnCBWuZ90b5R0agXVIESTl0cCyH\n"
	"aQM/tLZmktJIU+Eu7ALBXemPg9kh3SCnYd3/YvDGCtYSXOWthHwlP5CImRBcQaNn\n"
	"cQIDAQAB\n"
	"-----END PUBLIC KEY-----\n";
static const char roca_good_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtA+5PaMwafUZVIU0kXo+\n"
	"u3EbF45Sw+11yOuYReWxp5dGLCmqk6Ukq+PvZ9Ygq7xrOQzuUx/dY1rFqB0tz3Z4\n"
	"KurqpK/aVwj+nEhRckEAtbls9qeGcMxdTgPvf8KJbjR6gw0jXdQKeLTIojXNtUSF\n"
	"PpOm0tsAT0SAqGHZF9jFzBOHlpyyhiWvtZpZaUQMXRQwoptaHug7tPBjZHm3n+ba\n"
	"JH8TVua9Kx8zVsrGBzZnGh7Ybap9ZxvNg2m0BMi/jMhoNr7c3eQBrrkcxqrb0GId\n"
	"Hbg94w9W7Ds3v01FPb6qjKbW8Z2ZAm1lGM/3imodT8z3hLXYDUGWXUTGuaRWWKr8\n"
	"+QIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

/* --- keys -------------------------------------------------------------------- */

static EVP_PKEY *k_p256, *k_p384, *k_p521, *k_rsa2048, *k_rsa3072, *k_rsa4096, *k_ed25519;
static EVP_PKEY *k_rsa1024, *k_rsa_e3, *k_p224, *k_secp256k1, *k_dsa, *k_ed448, *k_x25519;

static EVP_PKEY *must(EVP_PKEY *k, const char *what)
{
	if (k == NULL) {
		fprintf(stderr, "cannot generate %s\n", what);
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	return k;
}

static EVP_PKEY *gen_rsa_type(const char *type, int bits, unsigned long e)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	BIGNUM *bn = BN_new();
	EVP_PKEY *k = NULL;

	if (c != NULL && bn != NULL && BN_set_word(bn, e) == 1 && EVP_PKEY_keygen_init(c) == 1 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) == 1 &&
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(c, bn) == 1)
		EVP_PKEY_keygen(c, &k);
	BN_free(bn);
	EVP_PKEY_CTX_free(c);
	return must(k, "RSA key");
}

static EVP_PKEY *gen_rsa_e(int bits, unsigned long e)
{
	return gen_rsa_type("RSA", bits, e);
}

static EVP_PKEY *gen_dsa(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL), *kc = NULL;
	EVP_PKEY *params = NULL, *k = NULL;

	if (pc != NULL && EVP_PKEY_paramgen_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_dsa_paramgen_bits(pc, 1024) == 1 &&
	    EVP_PKEY_CTX_set_dsa_paramgen_q_bits(pc, 160) == 1 &&
	    EVP_PKEY_paramgen(pc, &params) == 1 &&
	    (kc = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL)) != NULL &&
	    EVP_PKEY_keygen_init(kc) == 1)
		EVP_PKEY_keygen(kc, &k);
	EVP_PKEY_free(params);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(pc);
	return must(k, "DSA key");
}

/* An RSA public key with the given modulus and exponent. */
static EVP_PKEY *rsa_from_n(const BIGNUM *n, unsigned long e)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *be = BN_new();
	EVP_PKEY *k = NULL;

	if (b != NULL && c != NULL && be != NULL && BN_set_word(be, e) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
	    (ps = OSSL_PARAM_BLD_to_param(b)) != NULL && EVP_PKEY_fromdata_init(c) == 1)
		EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, ps);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(be);
	return must(k, "RSA key from n");
}

/* n = f * q with q a random odd number free of factors below 1000, n of
 * exactly `bits` bits. */
static EVP_PKEY *rsa_with_factor(unsigned f, int bits)
{
	BIGNUM *q = BN_new(), *n = BN_new();
	BN_CTX *ctx = BN_CTX_new();
	EVP_PKEY *k;

	for (;;) {
		bool clean = true;
		int qbits = bits + 1; /* f * q has `bits` bits about half the time */
		for (unsigned t = f; t > 0; t >>= 1)
			qbits--;
		BN_rand(q, qbits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
		for (unsigned p = 3; p < 1000 && clean; p += 2)
			if (BN_mod_word(q, p) == 0)
				clean = false;
		BN_set_word(n, f);
		BN_mul(n, n, q, ctx);
		if (clean && BN_num_bits(n) == bits)
			break;
	}
	k = rsa_from_n(n, 65537);
	BN_free(q);
	BN_free(n);
	BN_CTX_free(ctx);
	return k;
}

/* n = p * q with q the first prime above p + gap, both about bits/2. */
static EVP_PKEY *rsa_close_primes(int bits, int gap_bits)
{
	BIGNUM *p = BN_new(), *q = BN_new(), *n = BN_new();
	BN_CTX *ctx = BN_CTX_new();
	EVP_PKEY *k;

	BN_generate_prime_ex(p, bits / 2, 0, NULL, NULL, NULL);
	BN_copy(q, p);
	if (gap_bits > 0) {
		BIGNUM *g = BN_new();
		BN_set_bit(g, gap_bits);
		BN_add(q, q, g);
		BN_free(g);
		if (!BN_is_odd(q))
			BN_add_word(q, 1);
	}
	do
		BN_add_word(q, 2);
	while (BN_check_prime(q, ctx, NULL) != 1);
	BN_mul(n, p, q, ctx);
	k = rsa_from_n(n, 65537);
	BN_free(p);
	BN_free(q);
	BN_free(n);
	BN_CTX_free(ctx);
	return k;
}

/* --- encodings -------------------------------------------------------------------- */

static char *bio_take(BIO *b, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *s = fc_xmalloc((size_t)n + 1);

	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
	BIO_free(b);
	return s;
}

static char *pem_of(const char *type, const uint8_t *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());

	PEM_write_bio(b, type, "", der, (long)len);
	return bio_take(b, NULL);
}

static uint8_t *spki_der(EVP_PKEY *k, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	uint8_t *out = fc_xmalloc((size_t)n + 1);

	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}

static char *spki_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());

	PEM_write_bio_PUBKEY(b, k);
	return bio_take(b, NULL);
}

static char *pkcs1_pem(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PublicKey(k, &der);
	char *s = pem_of("RSA PUBLIC KEY", der, (size_t)n);

	OPENSSL_free(der);
	return s;
}

/* Sign msg with k: md NULL for Ed25519; pss selects RSA-PSS padding. */
static uint8_t *sign(EVP_PKEY *k, const EVP_MD *md, bool pss, const char *msg, size_t *len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	uint8_t *sig = NULL;
	size_t n = 0;

	if (EVP_DigestSignInit(m, &pc, md, NULL, k) != 1 ||
	    (pss && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1) ||
	    EVP_DigestSign(m, NULL, &n, (const unsigned char *)msg, strlen(msg)) != 1) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	sig = fc_xmalloc(n);
	if (EVP_DigestSign(m, sig, &n, (const unsigned char *)msg, strlen(msg)) != 1) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	EVP_MD_CTX_free(m);
	*len = n;
	return sig;
}

/* DER of a CSR for k signed with md (NULL for Ed25519), RSA-PSS if pss. */
static uint8_t *csr_der(EVP_PKEY *k, const EVP_MD *md, bool pss, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char *der = NULL;
	uint8_t *out;
	int n;

	X509_REQ_set_version(req, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1,
				   0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, k);
	if (EVP_DigestSignInit(m, &pc, md, NULL, k) != 1 ||
	    (pss && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1) ||
	    X509_REQ_sign_ctx(req, m) <= 0) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	n = i2d_X509_REQ(req, &der);
	out = fc_xmalloc((size_t)n + 1);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	EVP_MD_CTX_free(m);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return out;
}

static char *csr_pem(EVP_PKEY *k, const EVP_MD *md, bool pss, const char *type)
{
	size_t n;
	uint8_t *der = csr_der(k, md, pss, &n);
	char *s = pem_of(type, der, n);

	free(der);
	return s;
}

/* --- tests -------------------------------------------------------------------- */

static void test_algs(void)
{
	struct ca_algs a = {0}, d;
	struct fc_err err = {0};
	static const char *all =
		"ecdsa-sha2-256-nistp256,ecdsa-sha2-384-nistp384,ecdsa-sha2-512-nistp521,"
		"ecdsa-sha2-256-nistp384,ecdsa-sha2-256-nistp521,rsa-sign-pkcs1-2048-sha256,"
		"rsa-sign-pkcs1-3072-sha256,rsa-sign-pkcs1-4096-sha256,rsa-sign-pss-2048-sha256,"
		"rsa-sign-pss-3072-sha256,rsa-sign-pss-4096-sha256,ed25519,ed25519-ph";

	ca_algs_default(&d);
	CHECK(__builtin_popcount(d.bits) == 7);
	CHECK(ca_algs_parse("ecdsa-sha2-256-nistp256,ecdsa-sha2-384-nistp384,"
			    "ecdsa-sha2-512-nistp521,rsa-sign-pkcs1-2048-sha256,"
			    "rsa-sign-pkcs1-3072-sha256,rsa-sign-pkcs1-4096-sha256,ed25519",
			    &a, &err) == FC_OK);
	CHECK(a.bits == d.bits);

	CHECK(ca_algs_parse(all, &a, &err) == FC_OK);
	CHECK(__builtin_popcount(a.bits) == 13);
	CHECK(ca_algs_parse(" ed25519 ,\tecdsa-sha2-256-nistp256\n", &a, &err) == FC_OK);
	CHECK(a.bits == ((1u << CA_ALG_ED25519) | (1u << CA_ALG_ECDSA_P256_SHA256)));

	a.bits = 12345;
	fc_err_clear(&err);
	CHECK(ca_algs_parse("", &a, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "empty");
	CHECK(a.bits == 12345); /* untouched on failure */
	fc_err_clear(&err);
	CHECK(ca_algs_parse("   ", &a, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "the list is empty");
	fc_err_clear(&err);
	CHECK(ca_algs_parse(NULL, &a, &err) == FC_ECONFIG);
	fc_err_clear(&err);
	CHECK(ca_algs_parse("ed25519,,ecdsa-sha2-256-nistp256", &a, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "name 2 is empty");
	fc_err_clear(&err);
	CHECK(ca_algs_parse("ed25519,", &a, &err) == FC_ECONFIG);
	fc_err_clear(&err);
	CHECK(ca_algs_parse("ed25519, ecdsa-sha2-256-nistp999", &a, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "unknown signing algorithm \"ecdsa-sha2-256-nistp999\"");
	CHECK_CONTAINS(err.msg, "known: ecdsa-sha2-256-nistp256");
	fc_err_clear(&err);
	CHECK(ca_algs_parse("ED25519", &a, &err) == FC_ECONFIG); /* exact names */
	fc_err_clear(&err);
	/* the old sigstore typo is not a name */
	CHECK(ca_algs_parse("rsa-sign-pss-4092-sha256", &a, &err) == FC_ECONFIG);
	CHECK(a.bits == 12345);
}

/* Parse PEM text; returns the status, frees the key. */
static enum fc_status parse_str(const char *s, bool allow_der, struct fc_err *err)
{
	EVP_PKEY *k = NULL;
	enum fc_status st;

	fc_err_clear(err);
	st = ca_client_key_parse((const uint8_t *)s, strlen(s), allow_der, &k, err);
	CHECK((st == FC_OK) == (k != NULL));
	EVP_PKEY_free(k);
	return st;
}

static void test_parse_one(EVP_PKEY *k, const char *what)
{
	struct fc_err err = {0};
	EVP_PKEY *got = NULL;
	char *pem = spki_pem(k);
	size_t dlen;
	uint8_t *der = spki_der(k, &dlen);

	if (parse_str(pem, false, &err) != FC_OK)
		fprintf(stderr, "  %s: %s\n", what, err.msg);
	fc_err_clear(&err);
	CHECK(ca_client_key_parse((const uint8_t *)pem, strlen(pem), false, &got, &err) == FC_OK);
	CHECK(got != NULL && EVP_PKEY_eq(got, k) == 1);
	EVP_PKEY_free(got);
	got = NULL;
	/* DER: only with allow_der */
	CHECK(ca_client_key_parse(der, dlen, true, &got, &err) == FC_OK);
	CHECK(got != NULL && EVP_PKEY_eq(got, k) == 1);
	EVP_PKEY_free(got);
	got = NULL;
	fc_err_clear(&err);
	CHECK(ca_client_key_parse(der, dlen, false, &got, &err) == FC_EINPUT);
	CHECK(got == NULL);
	CHECK_STR(err.msg, "public key could not be parsed: not PEM (no \"-----BEGIN\" line)");
	/* truncated DER */
	fc_err_clear(&err);
	CHECK(ca_client_key_parse(der, dlen - 1, true, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg,
		       "public key could not be parsed: SubjectPublicKeyInfo does not decode");
	/* trailing byte after the DER */
	der[dlen] = 0;
	fc_err_clear(&err);
	CHECK(ca_client_key_parse(der, dlen + 1, true, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: 1 trailing bytes after the DER key");
	free(der);
	free(pem);
}

/*
 * EC keys take a path of their own (parsed without OpenSSL's decoder, then
 * imported): a compressed point gives the same key, a point off the curve
 * and a curve outside P-256/384/521 are refused as d2i_PUBKEY refuses them.
 */
static void test_parse_ec_edges(void)
{
	struct fc_err err = {0};
	EVP_PKEY *compressed = EVP_PKEY_dup(k_p256), *got = NULL;
	uint8_t *der;
	size_t dlen;
	char *pem;

	CHECK(EVP_PKEY_set_utf8_string_param(compressed, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1);
	der = spki_der(compressed, &dlen);
	CHECK(dlen == 59); /* 26 bytes of SPKI around a 33-byte point */
	/* OpenSSL reads a compressed point; Go's elliptic.Unmarshal does not */
	CHECK(ca_client_key_parse(der, dlen, true, &got, &err) == FC_EINPUT);
	CHECK(got == NULL);
	CHECK_STR(err.msg, "public key could not be parsed: EC points in compressed form are not "
			   "supported");
	free(der);
	fc_err_clear(&err);
	/* the last byte of the point changed: (almost surely) off the curve */
	der = spki_der(k_p256, &dlen);
	der[dlen - 1] ^= 0x01;
	{
		const unsigned char *p = der;
		EVP_PKEY *ref = d2i_PUBKEY(NULL, &p, (long)dlen);

		CHECK(ref == NULL); /* OpenSSL's own parser refuses it too */
		EVP_PKEY_free(ref);
		ERR_clear_error();
	}
	pem = pem_of("PUBLIC KEY", der, dlen);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg,
		       "public key could not be parsed: SubjectPublicKeyInfo does not decode");
	free(pem);
	free(der);
	/* P-224 takes the usual path, parses, and is refused by the key check */
	der = spki_der(k_p224, &dlen);
	CHECK(ca_client_key_parse(der, dlen, true, &got, &err) == FC_OK);
	CHECK(got != NULL && EVP_PKEY_eq(got, k_p224) == 1);
	EVP_PKEY_free(got);
	free(der);
	EVP_PKEY_free(compressed);
}

/* DER made BER: the outer SEQUENCE with an indefinite length (X.690 8.1.3.6). */
static uint8_t *ber_indefinite(const uint8_t *der, size_t len, size_t *out_len)
{
	size_t hdr = der[1] < 0x80 ? 2 : 2 + (der[1] & 0x7f);
	uint8_t *ber = fc_xmalloc(len + 4);

	ber[0] = der[0];
	ber[1] = 0x80;
	memcpy(ber + 2, der + hdr, len - hdr);
	ber[2 + len - hdr] = 0;
	ber[3 + len - hdr] = 0;
	*out_len = len - hdr + 4;
	return ber;
}

/* What OpenSSL reads and Go's x509 refuses, so fulcrum refuses too: BER,
 * explicit curve parameters (even P-256's), compressed points (above). */
static void test_parse_go_refusals(void)
{
	struct fc_err err = {0};
	EVP_PKEY *explicit_key = EVP_PKEY_dup(k_p256), *got = NULL;
	uint8_t *der, *ber;
	size_t dlen, blen;
	char *pem;

	der = spki_der(k_p256, &dlen);
	ber = ber_indefinite(der, dlen, &blen);
	{
		const unsigned char *p = ber;
		EVP_PKEY *ref = d2i_PUBKEY(NULL, &p, (long)blen);

		CHECK(ref != NULL && EVP_PKEY_eq(ref, k_p256) == 1); /* OpenSSL reads BER */
		EVP_PKEY_free(ref);
	}
	CHECK(ca_client_key_parse(ber, blen, true, &got, &err) == FC_EINPUT && got == NULL);
	CHECK_CONTAINS(err.msg, "public key could not be parsed: not DER");
	pem = pem_of("PUBLIC KEY", ber, blen);
	fc_err_clear(&err);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key could not be parsed: not DER");
	free(pem);
	free(ber);
	free(der);

	CHECK(EVP_PKEY_set_utf8_string_param(explicit_key, OSSL_PKEY_PARAM_EC_ENCODING,
					     OSSL_PKEY_EC_ENCODING_EXPLICIT) == 1);
	der = spki_der(explicit_key, &dlen);
	CHECK(dlen > 200); /* the curve's parameters are inside */
	fc_err_clear(&err);
	CHECK(ca_client_key_parse(der, dlen, true, &got, &err) == FC_EINPUT && got == NULL);
	CHECK_STR(err.msg, "public key could not be parsed: EC keys with explicit curve parameters "
			   "are not supported");
	free(der);
	EVP_PKEY_free(explicit_key);
}

static enum fc_status check_key_status(EVP_PKEY *k)
{
	struct fc_err err = {0};
	enum fc_status st = ca_client_key_check(k, &err);

	if (st == FC_OK)
		return st;
	CHECK_CONTAINS(err.msg, "public key is insecure: ");
	return st;
}

static void test_parse(void)
{
	test_parse_go_refusals();
	struct fc_err err = {0};
	EVP_PKEY *got = NULL;
	char *pem, *s, *crlf;
	size_t n, dlen;
	uint8_t *der;

	test_parse_one(k_p256, "P-256");
	test_parse_one(k_p384, "P-384");
	test_parse_one(k_p521, "P-521");
	test_parse_one(k_rsa2048, "RSA-2048");
	test_parse_one(k_ed25519, "Ed25519");
	test_parse_ec_edges();

	/* PKCS#1 RSA PUBLIC KEY */
	pem = pkcs1_pem(k_rsa3072);
	CHECK_CONTAINS(pem, "-----BEGIN RSA PUBLIC KEY-----");
	CHECK(ca_client_key_parse((const uint8_t *)pem, strlen(pem), false, &got, &err) == FC_OK);
	CHECK(got != NULL && EVP_PKEY_eq(got, k_rsa3072) == 1);
	CHECK(got != NULL && ca_client_key_check(got, &err) == FC_OK);
	EVP_PKEY_free(got);
	got = NULL;
	free(pem);
	/* an SPKI inside an RSA PUBLIC KEY block is refused */
	der = spki_der(k_rsa2048, &dlen);
	pem = pem_of("RSA PUBLIC KEY", der, dlen);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key could not be parsed: ");
	free(pem);
	/* an SPKI with a trailing byte inside a valid PEM block */
	der[dlen] = 0;
	pem = pem_of("PUBLIC KEY", der, dlen + 1);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: 1 trailing bytes after the DER key");
	free(pem);
	/* wrong block type */
	pem = pem_of("CERTIFICATE", der, dlen);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: PEM block type \"CERTIFICATE\" is "
			   "neither PUBLIC KEY nor RSA PUBLIC KEY");
	free(pem);
	free(der);

	/* whitespace around the block and CRLF line ends are fine */
	pem = spki_pem(k_p256);
	s = fc_xasprintf("\n \t\r\n%s\n\n  ", pem);
	CHECK(parse_str(s, false, &err) == FC_OK);
	free(s);
	crlf = fc_xmalloc(strlen(pem) * 2 + 1);
	n = 0;
	for (const char *c = pem; *c; c++) {
		if (*c == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *c;
	}
	crlf[n] = '\0';
	CHECK(parse_str(crlf, false, &err) == FC_OK);
	free(crlf);
	/* a PEM without its final newline (as trimmed by clients) */
	s = fc_xstrndup(pem, strlen(pem) - 1);
	CHECK(parse_str(s, false, &err) == FC_OK);
	free(s);

	/* two blocks */
	s = fc_xasprintf("%s%s", pem, pem);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: PEM: more than one PEM block");
	free(s);
	/* trailing and leading garbage */
	s = fc_xasprintf("%sgarbage\n", pem);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: PEM: data after the PEM block");
	free(s);
	s = fc_xasprintf("x%s", pem);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: not PEM (no \"-----BEGIN\" line)");
	free(s);
	/* truncated PEM */
	s = fc_xstrndup(pem, strlen(pem) / 2);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key could not be parsed: PEM: ");
	free(s);
	/* a headers line */
	s = fc_xasprintf("-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n%s",
			 strchr(pem, '\n') + 1);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: PEM: PEM headers are not accepted");
	free(s);
	/* mismatched END */
	s = fc_xstrdup(pem);
	memcpy(strstr(s, "-----END PUBLIC KEY") + 9, "PUBLIK", 6);
	CHECK(parse_str(s, false, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "does not match");
	free(s);
	free(pem);

	/* garbage PEM */
	CHECK(parse_str("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", false,
			&err) == FC_EINPUT);
	CHECK_STR(err.msg,
		  "public key could not be parsed: PEM: invalid character in the base64 body");
	CHECK(parse_str("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", false,
			&err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg,
		       "public key could not be parsed: SubjectPublicKeyInfo does not decode");
	CHECK(parse_str("-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n", false,
			&err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "not padded");
	CHECK(parse_str("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n", false, &err) ==
	      FC_EINPUT);
	CHECK(parse_str("-----BEGIN PUBLIC KEY-----", false, &err) == FC_EINPUT);
	CHECK(parse_str("garbage", true, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg,
		       "public key could not be parsed: SubjectPublicKeyInfo does not decode");
	fc_err_clear(&err);
	CHECK(ca_client_key_parse((const uint8_t *)"", 0, true, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: no public key in the request");
	/* over the size limit */
	s = fc_xmalloc(70000);
	memset(s, ' ', 70000);
	fc_err_clear(&err);
	CHECK(ca_client_key_parse((const uint8_t *)s, 70000, true, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "over the 65536-byte limit");
	free(s);

	/* keys Go cannot parse: "could not be parsed" */
	pem = spki_pem(k_secp256k1);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg,
		  "public key could not be parsed: EC curve is not supported (ECDSA secp256k1)");
	free(pem);
	pem = spki_pem(k_ed448);
	CHECK(parse_str(pem, false, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key could not be parsed: key type is not supported (Ed448)");
	free(pem);
	{
		/* id-RSASSA-PSS keys: Go's x509 does not parse them */
		EVP_PKEY *k = gen_rsa_type("RSA-PSS", 2048, 65537);
		pem = spki_pem(k);
		CHECK(parse_str(pem, false, &err) == FC_EINPUT);
		CHECK_STR(err.msg,
			  "public key could not be parsed: key type is not supported (RSA-PSS)");
		CHECK(check_key_status(k) == FC_EINPUT);
		free(pem);
		EVP_PKEY_free(k);
	}
	/* keys Go parses but goodkey refuses: parse succeeds */
	pem = spki_pem(k_p224);
	CHECK(parse_str(pem, false, &err) == FC_OK);
	free(pem);
	pem = spki_pem(k_dsa);
	CHECK(parse_str(pem, false, &err) == FC_OK);
	free(pem);
	pem = spki_pem(k_x25519);
	CHECK(parse_str(pem, false, &err) == FC_OK);
	free(pem);
	pem = spki_pem(k_rsa1024);
	CHECK(parse_str(pem, false, &err) == FC_OK);
	free(pem);
}

/* Check k; returns the status and leaves the message in err. */
static enum fc_status check_key(EVP_PKEY *k, struct fc_err *err)
{
	fc_err_clear(err);
	return ca_client_key_check(k, err);
}

/* Round-trip through PEM then check, as a request would. */
static enum fc_status check_via_pem(EVP_PKEY *k, struct fc_err *err)
{
	char *pem = spki_pem(k);
	EVP_PKEY *got = NULL;
	enum fc_status st;

	fc_err_clear(err);
	st = ca_client_key_parse((const uint8_t *)pem, strlen(pem), false, &got, err);
	if (st == FC_OK)
		st = ca_client_key_check(got, err);
	EVP_PKEY_free(got);
	free(pem);
	return st;
}

static void test_check(void)
{
	struct fc_err err = {0};
	EVP_PKEY *k;
	struct timespec t0, t1;
	double us;
	const int reps = 20;

	CHECK(check_key(k_p256, &err) == FC_OK);
	CHECK(check_key(k_p384, &err) == FC_OK);
	CHECK(check_key(k_p521, &err) == FC_OK);
	/* a P-256 key whose point is the point at infinity (made by hand:
	 * no SubjectPublicKeyInfo parses to one) */
	{
		unsigned char inf = 0x00;
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
							 0),
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, &inf, 1),
			OSSL_PARAM_construct_end(),
		};
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		EVP_PKEY *bad = NULL;

		if (EVP_PKEY_fromdata_init(c) == 1 &&
		    EVP_PKEY_fromdata(c, &bad, EVP_PKEY_PUBLIC_KEY, params) == 1) {
			CHECK(check_key(bad, &err) == FC_EINPUT);
			CHECK_CONTAINS(err.msg, "the EC point is not a valid P-256 public key");
		} else {
			fprintf(stderr, "  (OpenSSL refuses to import the point at infinity)\n");
		}
		ERR_clear_error();
		EVP_PKEY_free(bad);
		EVP_PKEY_CTX_free(c);
	}
	CHECK(check_key(k_rsa2048, &err) == FC_OK);
	CHECK(check_key(k_rsa3072, &err) == FC_OK);
	CHECK(check_via_pem(k_rsa4096, &err) == FC_OK);
	CHECK(check_key(k_ed25519, &err) == FC_OK);

	CHECK(check_via_pem(k_rsa1024, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA keys of 1024 bits are not allowed (2048, "
			   "3072 or 4096)");
	CHECK(check_via_pem(k_rsa_e3, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA public exponent 3 is not allowed (65537)");
	CHECK(check_via_pem(k_p224, &err) == FC_EINPUT);
	CHECK_STR(err.msg,
		  "public key is insecure: EC curve P-224 is not allowed (P-256, P-384, P-521)");
	CHECK(check_key(k_secp256k1, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: EC curve secp256k1 is not allowed (P-256, "
			   "P-384, P-521)");
	CHECK(check_via_pem(k_dsa, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: DSA keys are not allowed");
	CHECK(check_key(k_ed448, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: Ed448 keys are not allowed");
	CHECK(check_via_pem(k_x25519, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: X25519 keys are not allowed");

	/* RSA 2048 with e = 65537 but a modulus of 3 * q */
	k = rsa_with_factor(3, 2048);
	CHECK(check_via_pem(k, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA modulus is divisible by 3");
	EVP_PKEY_free(k);
	/* 997: beyond boulder's 751, within our 1000 */
	k = rsa_with_factor(997, 3072);
	CHECK(check_via_pem(k, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA modulus is divisible by 997");
	EVP_PKEY_free(k);
	/* even modulus */
	k = rsa_with_factor(2, 2048);
	CHECK(check_key(k, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA modulus is even");
	EVP_PKEY_free(k);

	/* Fermat: neighbouring primes (found in round 1), primes 2^516 apart
	 * (about 32 rounds) and 2^530 apart (about 2^33 rounds: accepted) */
	k = rsa_close_primes(2048, 0);
	CHECK(check_via_pem(k, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: RSA modulus factors by Fermat's method");
	EVP_PKEY_free(k);
	k = rsa_close_primes(2048, 516);
	CHECK(check_key(k, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "Fermat");
	EVP_PKEY_free(k);
	k = rsa_close_primes(2048, 530);
	CHECK(check_key(k, &err) == FC_OK);
	EVP_PKEY_free(k);

	/* ROCA */
	CHECK(parse_str(roca_bad_pem, false, &err) == FC_OK);
	{
		EVP_PKEY *rk = NULL;
		fc_err_clear(&err);
		CHECK(ca_client_key_parse((const uint8_t *)roca_bad_pem, strlen(roca_bad_pem),
					  false, &rk, &err) == FC_OK);
		CHECK(check_key(rk, &err) == FC_EINPUT);
		CHECK_CONTAINS(err.msg, "public key is insecure: RSA key has the ROCA fingerprint");
		EVP_PKEY_free(rk);
		rk = NULL;
		fc_err_clear(&err);
		CHECK(ca_client_key_parse((const uint8_t *)roca_good_pem, strlen(roca_good_pem),
					  false, &rk, &err) == FC_OK);
		CHECK(check_key(rk, &err) == FC_OK);
		EVP_PKEY_free(rk);
	}

	/* cost of the whole check on RSA-4096 (Fermat dominates) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < reps; i++)
		CHECK(check_key(k_rsa4096, &err) == FC_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
	     reps;
	printf("ca_client_key_check(RSA-4096): %.0f us per call\n", us);
}

static enum fc_status pop(EVP_PKEY *k, const char *msg, const uint8_t *sig, size_t n,
			  const struct ca_algs *algs, struct fc_err *err)
{
	fc_err_clear(err);
	return ca_pop_verify(k, msg, sig, n, algs, err);
}

static void pop_ok(EVP_PKEY *k, const EVP_MD *md, const struct ca_algs *algs, const char *what)
{
	struct fc_err err = {0};
	size_t n;
	uint8_t *sig = sign(k, md, false, SUBJECT, &n);

	if (pop(k, SUBJECT, sig, n, algs, &err) != FC_OK) {
		check_count++;
		check_failures++;
		fprintf(stderr, "FAIL: PoP %s: %s\n", what, err.msg);
	}
	/* another subject */
	CHECK(pop(k, "mallory@example.com", sig, n, algs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signature could not be verified: proof of possession: ");
	CHECK_CONTAINS(err.msg, "over \"mallory@example.com\" does not verify");
	free(sig);
}

static void test_pop(void)
{
	struct ca_algs defs, only256, a;
	struct fc_err err = {0};
	uint8_t *sig, *bad;
	size_t n;
	char longmsg[300];

	ca_algs_default(&defs);
	CHECK(ca_algs_parse("ecdsa-sha2-256-nistp256", &only256, &err) == FC_OK);

	pop_ok(k_p256, EVP_sha256(), &defs, "P-256");
	pop_ok(k_p384, EVP_sha384(), &defs, "P-384");
	pop_ok(k_p521, EVP_sha512(), &defs, "P-521");
	pop_ok(k_rsa2048, EVP_sha256(), &defs, "RSA-2048");
	pop_ok(k_rsa3072, EVP_sha256(), &defs, "RSA-3072");
	pop_ok(k_rsa4096, EVP_sha256(), &defs, "RSA-4096");
	pop_ok(k_ed25519, NULL, &defs, "Ed25519");

	/* the exact wording for a wrong subject */
	sig = sign(k_p256, EVP_sha256(), false, SUBJECT, &n);
	CHECK(pop(k_p256, "bob@example.com", sig, n, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: proof of possession: ECDSA P-256 "
			   "SHA-256 signature over \"bob@example.com\" does not verify");
	/* another key */
	CHECK(pop(k_p384, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signature could not be verified: ");
	{
		EVP_PKEY *other = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "P-256");
		CHECK(pop(other, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
		CHECK_CONTAINS(err.msg, "does not verify");
		EVP_PKEY_free(other);
	}
	/* trailing byte after the DER signature */
	bad = fc_xmalloc(n + 1);
	memcpy(bad, sig, n);
	bad[n] = 0;
	CHECK(pop(k_p256, SUBJECT, bad, n + 1, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signature could not be verified: proof of possession: ECDSA P-256 "
				"signature is not a DER ECDSA-Sig-Value");
	free(bad);
	/* raw r||s */
	{
		ECDSA_SIG *es;
		const unsigned char *p = sig;
		const BIGNUM *r, *s;
		uint8_t raw[64];

		es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, raw, 32);
		BN_bn2binpad(s, raw + 32, 32);
		CHECK(pop(k_p256, SUBJECT, raw, sizeof(raw), &defs, &err) == FC_EINPUT);
		CHECK_CONTAINS(err.msg, "not a DER ECDSA-Sig-Value");
		ECDSA_SIG_free(es);
	}
	/* empty and oversized */
	CHECK(pop(k_p256, SUBJECT, sig, 0, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: proof of possession is empty");
	CHECK(pop(k_p256, SUBJECT, NULL, 0, &defs, &err) == FC_EINPUT);
	free(sig);
	sig = fc_xcalloc(1, 2000);
	CHECK(pop(k_p256, SUBJECT, sig, 2000, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "at most 1024");
	free(sig);

	/* P-384 signed with SHA-256: Fulcio verifies with SHA-384 */
	sig = sign(k_p384, EVP_sha256(), false, SUBJECT, &n);
	CHECK(pop(k_p384, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: proof of possession: ECDSA P-384 "
			   "SHA-384 signature over \"alice@example.com\" does not verify");
	free(sig);
	/* P-256 signed with SHA-512 */
	sig = sign(k_p256, EVP_sha512(), false, SUBJECT, &n);
	CHECK(pop(k_p256, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	free(sig);
	/* RSA with SHA-384 */
	sig = sign(k_rsa2048, EVP_sha384(), false, SUBJECT, &n);
	CHECK(pop(k_rsa2048, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "RSA 2048-bit PKCS#1 v1.5 SHA-256 signature over");
	free(sig);
	/* RSA-PSS PoP */
	sig = sign(k_rsa2048, EVP_sha256(), true, SUBJECT, &n);
	CHECK(pop(k_rsa2048, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg,
		       "signature could not be verified: proof of possession: RSA 2048-bit "
		       "PKCS#1 v1.5 SHA-256 signature over \"alice@example.com\" does not verify");
	/* wrong length for the modulus */
	CHECK(pop(k_rsa2048, SUBJECT, sig, n - 1, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: proof of possession: RSA 2048-bit "
			   "signature is 255 bytes, not 256");
	free(sig);
	/* Ed25519: wrong length, Ed25519ph-like prehash not accepted */
	sig = sign(k_ed25519, NULL, false, SUBJECT, &n);
	CHECK(pop(k_ed25519, SUBJECT, sig, n - 1, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "Ed25519 signature is 63 bytes, not 64");
	sig[10] ^= 1;
	CHECK(pop(k_ed25519, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: proof of possession: Ed25519 "
			   "signature over \"alice@example.com\" does not verify");
	sig[10] ^= 1;

	/* registry: only P-256 */
	CHECK(pop(k_ed25519, SUBJECT, sig, n, &only256, &err) == FC_EINPUT);
	CHECK_STR(err.msg,
		  "signing algorithm not permitted: ed25519.PublicKey, unknown hash value 0 "
		  "(Ed25519 with no prehash: ed25519 is not enabled in "
		  "--client-signing-algorithms)");
	free(sig);
	sig = sign(k_rsa4096, EVP_sha256(), false, SUBJECT, &n);
	CHECK(pop(k_rsa4096, SUBJECT, sig, n, &only256, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signing algorithm not permitted: *rsa.PublicKey, SHA-256 (");
	/* sigstore's registry matches (key, hash): a PSS entry admits PKCS#1 */
	CHECK(ca_algs_parse("rsa-sign-pss-4096-sha256", &a, &err) == FC_OK);
	CHECK(pop(k_rsa4096, SUBJECT, sig, n, &a, &err) == FC_OK);
	free(sig);
	sig = sign(k_p384, EVP_sha384(), false, SUBJECT, &n);
	CHECK(pop(k_p384, SUBJECT, sig, n, &only256, &err) == FC_EINPUT);
	CHECK_STR(err.msg,
		  "signing algorithm not permitted: *ecdsa.PublicKey, SHA-384 (ECDSA P-384 "
		  "with SHA-384: ecdsa-sha2-384-nistp384 is not enabled in "
		  "--client-signing-algorithms)");
	/* ecdsa-sha2-256-nistp384 does not cover a PoP (which hashes with SHA-384) */
	CHECK(ca_algs_parse("ecdsa-sha2-256-nistp384", &a, &err) == FC_OK);
	CHECK(pop(k_p384, SUBJECT, sig, n, &a, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signing algorithm not permitted: *ecdsa.PublicKey, SHA-384");
	free(sig);
	/* a key goodkey refuses never gets past the registry */
	sig = sign(k_rsa1024, EVP_sha256(), false, SUBJECT, &n);
	CHECK(pop(k_rsa1024, SUBJECT, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signing algorithm not permitted: *rsa.PublicKey, SHA-256 (no signing "
			   "algorithm covers RSA 1024-bit with SHA-256)");
	free(sig);
	/* a long subject is quoted in part */
	memset(longmsg, 'a', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	sig = sign(k_p256, EVP_sha256(), false, SUBJECT, &n);
	CHECK(pop(k_p256, longmsg, sig, n, &defs, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "aaa...\" does not verify");
	CHECK(strlen(err.msg) < 300);
	/* control characters in the subject do not reach the message */
	CHECK(pop(k_p256, "a\nb", sig, n, &defs, &err) == FC_EINPUT);
	CHECK(strchr(err.msg, '\n') == NULL);
	free(sig);
}

static enum fc_status csr(const char *pem, const struct ca_algs *algs, EVP_PKEY **key,
			  struct fc_err *err)
{
	fc_err_clear(err);
	return ca_csr_verify((const uint8_t *)pem, strlen(pem), algs, key, err);
}

static void csr_ok(EVP_PKEY *k, const EVP_MD *md, const char *what)
{
	struct ca_algs defs;
	struct fc_err err = {0};
	EVP_PKEY *got = NULL;
	char *pem = csr_pem(k, md, false, "CERTIFICATE REQUEST");

	ca_algs_default(&defs);
	if (csr(pem, &defs, &got, &err) != FC_OK) {
		check_count++;
		check_failures++;
		fprintf(stderr, "FAIL: CSR %s: %s\n", what, err.msg);
	}
	CHECK(got != NULL && EVP_PKEY_eq(got, k) == 1);
	EVP_PKEY_free(got);
	free(pem);
}

static void test_csr(void)
{
	struct ca_algs defs, a;
	struct fc_err err = {0};
	EVP_PKEY *got = NULL;
	char *pem, *s;
	uint8_t *der;
	size_t n;

	ca_algs_default(&defs);
	csr_ok(k_p256, EVP_sha256(), "P-256");
	csr_ok(k_p384, EVP_sha384(), "P-384");
	csr_ok(k_p521, EVP_sha512(), "P-521");
	csr_ok(k_rsa2048, EVP_sha256(), "RSA-2048");
	csr_ok(k_rsa3072, EVP_sha256(), "RSA-3072");
	csr_ok(k_rsa4096, EVP_sha256(), "RSA-4096");
	csr_ok(k_ed25519, NULL, "Ed25519");

	/* Go refuses a BER request and a key with explicit curve parameters */
	der = csr_der(k_p256, EVP_sha256(), false, &n);
	{
		size_t blen;
		uint8_t *ber = ber_indefinite(der, n, &blen);

		pem = pem_of("CERTIFICATE REQUEST", ber, blen);
		fc_err_clear(&err);
		CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT && got == NULL);
		CHECK_CONTAINS(err.msg, "certificate signing request could not be parsed: not DER");
		free(pem);
		free(ber);
	}
	free(der);
	{
		EVP_PKEY *ek = EVP_PKEY_dup(k_p256);

		CHECK(EVP_PKEY_set_utf8_string_param(ek, OSSL_PKEY_PARAM_EC_ENCODING,
						     OSSL_PKEY_EC_ENCODING_EXPLICIT) == 1);
		pem = csr_pem(ek, EVP_sha256(), false, "CERTIFICATE REQUEST");
		fc_err_clear(&err);
		CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT && got == NULL);
		CHECK_STR(err.msg,
			  "certificate signing request could not be parsed: its public key: "
			  "EC keys with explicit curve parameters are not supported");
		free(pem);
		EVP_PKEY_free(ek);
	}

	/* NEW CERTIFICATE REQUEST */
	pem = csr_pem(k_p256, EVP_sha256(), false, "NEW CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_OK);
	CHECK(got != NULL);
	EVP_PKEY_free(got);
	got = NULL;
	free(pem);

	/* DER refused, wrong PEM type refused */
	der = csr_der(k_p256, EVP_sha256(), false, &n);
	fc_err_clear(&err);
	CHECK(ca_csr_verify(der, n, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "certificate signing request could not be parsed: not PEM (no "
			   "\"-----BEGIN\" line; DER is not accepted)");
	pem = pem_of("CERTIFICATE", der, n);
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "certificate signing request could not be parsed: PEM block type "
			   "\"CERTIFICATE\" is not CERTIFICATE REQUEST");
	free(pem);
	/* trailing byte inside the block, truncated DER */
	der[n] = 0;
	pem = pem_of("CERTIFICATE REQUEST", der, n + 1);
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "certificate signing request could not be parsed: 1 trailing bytes "
			   "after the DER request");
	free(pem);
	pem = pem_of("CERTIFICATE REQUEST", der, n - 3);
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "certificate signing request could not be parsed: PKCS#10 DER does "
				"not decode");
	free(pem);
	/* broken self-signature: flip a bit of the last signature byte */
	der[n - 1] ^= 1;
	pem = pem_of("CERTIFICATE REQUEST", der, n);
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signature could not be verified: the certificate signing request's "
			   "self-signature does not verify with its ECDSA P-256 key");
	CHECK(got == NULL);
	free(pem);
	free(der);
	/* two blocks */
	pem = csr_pem(k_p256, EVP_sha256(), false, "CERTIFICATE REQUEST");
	s = fc_xasprintf("%s%s", pem, pem);
	CHECK(csr(s, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "certificate signing request could not be parsed: PEM: more than one "
			   "PEM block");
	free(s);
	free(pem);
	fc_err_clear(&err);
	CHECK(ca_csr_verify((const uint8_t *)"", 0, &defs, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "certificate signing request could not be parsed: ");

	/* Ed25519 broken self-signature */
	der = csr_der(k_ed25519, NULL, false, &n);
	der[n - 5] ^= 0x40;
	pem = pem_of("CERTIFICATE REQUEST", der, n);
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signature could not be verified: ");
	free(pem);
	free(der);

	/* RSA-PSS CSR: unrecognized signature algorithm */
	pem = csr_pem(k_rsa2048, EVP_sha256(), true, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "unrecognized signature algorithm: SHA256-RSAPSS");
	free(pem);
	/* SHA-1 */
	pem = csr_pem(k_rsa2048, EVP_sha1(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "unrecognized signature algorithm: SHA1-RSA");
	free(pem);

	/* P-384 signed with SHA-256: refused by default, allowed with
	 * ecdsa-sha2-256-nistp384 */
	pem = csr_pem(k_p384, EVP_sha256(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signing algorithm not permitted: *ecdsa.PublicKey, SHA-256 (ECDSA "
			   "P-384 with SHA-256: ecdsa-sha2-256-nistp384 is not enabled in "
			   "--client-signing-algorithms)");
	CHECK(got == NULL);
	CHECK(ca_algs_parse("ecdsa-sha2-256-nistp384", &a, &err) == FC_OK);
	CHECK(csr(pem, &a, &got, &err) == FC_OK);
	EVP_PKEY_free(got);
	got = NULL;
	free(pem);
	/* RSA with SHA-512: no registry entry covers it */
	pem = csr_pem(k_rsa2048, EVP_sha512(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "signing algorithm not permitted: *rsa.PublicKey, SHA-512 (no signing "
			   "algorithm covers RSA 2048-bit with SHA-512)");
	free(pem);
	/* registry narrowed to P-256: an Ed25519 CSR is refused */
	CHECK(ca_algs_parse("ecdsa-sha2-256-nistp256", &a, &err) == FC_OK);
	pem = csr_pem(k_ed25519, NULL, false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &a, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "signing algorithm not permitted: ed25519.PublicKey, unknown hash "
				"value 0");
	free(pem);

	/* weak keys in CSRs */
	pem = csr_pem(k_rsa1024, EVP_sha256(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "public key is insecure: RSA keys of 1024 bits are not allowed (2048, "
			   "3072 or 4096)");
	free(pem);
	pem = csr_pem(k_p224, EVP_sha256(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: EC curve P-224 is not allowed");
	free(pem);
	pem = csr_pem(k_secp256k1, EVP_sha256(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_STR(err.msg, "certificate signing request could not be parsed: its public key: EC "
			   "curve is not supported (ECDSA secp256k1)");
	free(pem);
	pem = csr_pem(k_dsa, EVP_sha256(), false, "CERTIFICATE REQUEST");
	CHECK(csr(pem, &defs, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "public key is insecure: DSA keys are not allowed");
	free(pem);
	CHECK(got == NULL);
}

int main(void)
{
	k_p256 = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "P-256");
	k_p384 = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "P-384");
	k_p521 = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), "P-521");
	k_p224 = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"), "P-224");
	k_secp256k1 = must(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"), "secp256k1");
	k_ed25519 = must(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "Ed25519");
	k_ed448 = must(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), "Ed448");
	k_x25519 = must(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), "X25519");
	k_rsa1024 = gen_rsa_e(1024, 65537);
	k_rsa_e3 = gen_rsa_e(2048, 3);
	k_rsa2048 = gen_rsa_e(2048, 65537);
	k_rsa3072 = gen_rsa_e(3072, 65537);
	k_rsa4096 = gen_rsa_e(4096, 65537); /* slow: generated once */
	k_dsa = gen_dsa();

	test_algs();
	test_parse();
	test_check();
	test_pop();
	test_csr();

	EVP_PKEY_free(k_p256);
	EVP_PKEY_free(k_p384);
	EVP_PKEY_free(k_p521);
	EVP_PKEY_free(k_p224);
	EVP_PKEY_free(k_secp256k1);
	EVP_PKEY_free(k_ed25519);
	EVP_PKEY_free(k_ed448);
	EVP_PKEY_free(k_x25519);
	EVP_PKEY_free(k_rsa1024);
	EVP_PKEY_free(k_rsa_e3);
	EVP_PKEY_free(k_rsa2048);
	EVP_PKEY_free(k_rsa3072);
	EVP_PKEY_free(k_rsa4096);
	EVP_PKEY_free(k_dsa);
	return check_exit();
}
