/*
 * addchain_fuzz: the body of an add-chain / add-pre-chain request as the
 * log server reads it (ctlog_entry_from_chain in ctlog/entry.c): the JSON
 * {"chain": [base64 DER, ...]}, each certificate decoded and parsed, the
 * issuer chain verified up to an accepted root (then found in the cache of
 * verified chains), the leaf checked against the poison rules and the
 * policy, and the entry's bytes built. Each input is tried as add-chain and
 * as add-pre-chain, under an open policy and a restrictive one (the
 * CodeSigning EKU filter and a NotAfter window), against a fresh set of
 * roots so that every input runs the same way. A refused chain must come
 * with a reason; an accepted one must give its TimestampedEntry and
 * TileLeaf, its leaf must pass OpenSSL's X509_verify under its issuer, and
 * asking again (the issuers then come from the cache) must give the same
 * entry.
 *
 * The accepted roots are the two below (ECDSA P-256 and RSA 2048); the
 * seeds in fuzz/corpus/addchain are chains made with openssl under them
 * (leaf, intermediate and root; precertificates; a leaf signed by the root
 * alone; RSA PKCS#1 v1.5 and RSA-PSS signatures), plus refusals (another
 * root, wrong order, empty).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "ctlog_srv_int.h"
#include "fuzz.h"

static const char ROOTS[] = "-----BEGIN CERTIFICATE-----\n"
			    "MIIBiTCCATCgAwIBAgIUJzN95M/AjEk9OpOHRjwE/MDR4bkwCgYIKoZIzj0EAwIw\n"
			    "IzENMAsGA1UECgwEZnV6ejESMBAGA1UEAwwJZnV6eiByb290MB4XDTI2MTIwNjA5\n"
			    "Mzg1NFoXDTM2MTIwMzA5Mzg1NFowIzENMAsGA1UECgwEZnV6ejESMBAGA1UEAwwJ\n"
			    "ZnV6eiByb290MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE80iY83qJ5zm1RkTm\n"
			    "Caylw/9g3K8eIQb2iFFzIiUwAYu0tUB++/6bp/pJViRmmm2LKZQWjmzxeOk7gFxx\n"
			    "Bf2FlKNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0O\n"
			    "BBYEFKGJWaj0I58y4+Doer1t9BEtkw2AMAoGCCqGSM49BAMCA0cAMEQCIA3aO1fX\n"
			    "ovlZSCJzMYyY5AKj2T2aOaPVwZucGy5lROUkAiACSB9+sRS0KorHRmXgKbAWj/qP\n"
			    "NpzgxBcVnVGPSOifbw==\n"
			    "-----END CERTIFICATE-----\n"
			    "-----BEGIN CERTIFICATE-----\n"
			    "MIIDHjCCAgagAwIBAgIUfe438xoG6bsqTwLDWGEgbBm3vqAwDQYJKoZIhvcNAQEL\n"
			    "BQAwJzENMAsGA1UECgwEZnV6ejEWMBQGA1UEAwwNZnV6eiByc2Egcm9vdDAeFw0y\n"
			    "NjEyMDYwOTM4NTRaFw0zNjEyMDMwOTM4NTRaMCcxDTALBgNVBAoMBGZ1enoxFjAU\n"
			    "BgNVBAMMDWZ1enogcnNhIHJvb3QwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK\n"
			    "AoIBAQDBYnpJ1RU4RZtT971uvVT8QPESyK/DBOP2DeiIqE+6qi83NWwPLcAF8v62\n"
			    "Cm88IsWzA8njpwqu/m0qr0D88Zyiq8EIv05UV/F2oKFMb7vdcVh/FVbyUr9p94g7\n"
			    "p4QSjIXW8JvHggm4avHCZO+YY6wC593Onl1yAPgTPb8qckV6oNGbWAMOB0qkCeIm\n"
			    "HnEKMr/q7185CpcUk08PySvOiqF2JcMQ6b7D2ktWwtVDovmmQ2aBai1GOiAUhR5s\n"
			    "s8axFNumu371WxHiKVQBb6WwuvKCoLt45lYog59a4U5bPrHFPvGz7o9svf2dissG\n"
			    "TZhKSej2Xef2a2iSdGn/jy7hAcWNAgMBAAGjQjBAMA8GA1UdEwEB/wQFMAMBAf8w\n"
			    "DgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBQMfS8N3Z63iZflLGEKCeCmAOrNEDAN\n"
			    "BgkqhkiG9w0BAQsFAAOCAQEAakiU7WMbEzW8cTKvElpGH02wNoFJ0lzxWy+4pEvI\n"
			    "i/N6WpKikC1ba7M7ZAkmbDNvYD4Hi8Ut0yXCKluXu+QKsZIh+Sd4d9ZUbKJlQJDS\n"
			    "hJMiC8J6NlS2gwCXSRgkT85ZEf6Ryb7QQS2k92T20uMbEVrbhbk6sHjZkmPEWnUA\n"
			    "G3S6mlPtEF6JUozyf74VRfv2h+PLxM1zlpdwG476KQx9x1McB0fsJ0Zdgn98iH1X\n"
			    "r1Hod7xrRXCdP5Y3t6GbTgmsZFlDnPT+F2mFsB2bwGQAnvhdqhn/EOPwx/A52GoS\n"
			    "lF15z6SOrgtmBrESUTQQ2cfxJ5wat4dCnSl0aUrW4rc0nw==\n"
			    "-----END CERTIFICATE-----\n";

/*
 * An accepted leaf must also pass OpenSSL's own checks against its issuer
 * (the log verifies it without decoding the leaf's key, on a path of its
 * own): parsed in full, issued by e's first issuer, signature valid.
 */
static void check_leaf_independently(const struct ctlog_entry *e)
{
	const unsigned char *p = e->cert, *q = e->issuers[0];
	X509 *leaf = d2i_X509(NULL, &p, (long)e->cert_len);
	X509 *issuer = d2i_X509(NULL, &q, (long)e->issuer_lens[0]);

	FUZZ_CHECK(leaf != NULL && issuer != NULL);
	FUZZ_CHECK(X509_check_issued(issuer, leaf) == X509_V_OK);
	FUZZ_CHECK(X509_verify(leaf, X509_get0_pubkey(issuer)) == 1);
	X509_free(leaf);
	X509_free(issuer);
}

/* Try body as one kind of submission under one policy; the entry's key
 * (all zero when refused) goes to key. */
static enum fc_status try_chain(const struct ctlog_roots *roots, const struct ctlog_policy *pol,
				bool precert, const uint8_t *d, size_t n,
				uint8_t key[CTLOG_HASH_LEN])
{
	struct ctlog_entry *e = NULL;
	struct fc_err err = {0};
	struct fc_buf te, leaf;
	enum fc_status st;

	memset(key, 0, CTLOG_HASH_LEN);
	st = ctlog_entry_from_chain(roots, pol, precert, d, n, &e, &err);
	if (st != FC_OK) {
		FUZZ_CHECK(e == NULL);
		FUZZ_CHECK(st == FC_EINPUT || st == FC_ETOOBIG);
		FUZZ_CHECK(err.status == st && err.msg[0] != '\0');
		return st;
	}
	FUZZ_CHECK(e != NULL && e->precert == precert && e->cert_len > 0);
	FUZZ_CHECK(e->n_issuers >= 1 && e->signed_entry.len > 3);
	FUZZ_CHECK(!precert || (e->tbs != NULL && e->tbs_len > 0));
	check_leaf_independently(e);
	fc_buf_init(&te, 0);
	fc_buf_init(&leaf, 0);
	FUZZ_CHECK(ctlog_timestamped_entry(e, 1, 2, &te) == FC_OK);
	FUZZ_CHECK(ctlog_tile_leaf(e, te.data, te.len, &leaf));
	fc_buf_free(&te);
	fc_buf_free(&leaf);
	memcpy(key, e->key, CTLOG_HASH_LEN);
	ctlog_entry_free(e);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const struct ctlog_policy open = {.eku_mask = CTLOG_EKU_ANY};
	static const struct ctlog_policy strict = {
		.eku_mask = CTLOG_EKU_CODE_SIGNING,
		.has_not_after_start = true,
		.not_after_start = 946684800, /* 2000-01-01 */
		.has_not_after_limit = true,
		.not_after_limit = 4102444800, /* 2100-01-01 */
	};
	struct ctlog_roots *roots = NULL;
	struct fc_err err = {0};

	if (n > CTLOG_SRV_MAX_BODY)
		return 0; /* the HTTP layer refuses larger bodies before parsing */
	if (ctlog_roots_parse(ROOTS, sizeof(ROOTS) - 1, "fuzz", &roots, &err) != FC_OK) {
		fprintf(stderr, "addchain_fuzz: roots: %s\n", err.msg);
		abort();
	}
	for (int precert = 0; precert < 2; precert++) {
		uint8_t k1[CTLOG_HASH_LEN], k2[CTLOG_HASH_LEN];
		enum fc_status st1 = try_chain(roots, &open, precert, d, n, k1);
		/* again, the issuers now from the cache: the same answer */
		enum fc_status st2 = try_chain(roots, &open, precert, d, n, k2);

		FUZZ_CHECK(st1 == st2 && memcmp(k1, k2, sizeof(k1)) == 0);
		try_chain(roots, &strict, precert, d, n, k2);
	}
	ctlog_roots_free(roots);
	return 0;
}
