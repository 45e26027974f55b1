/*
 * Unit tests for the log server (ctlog/merkle.c, tiles.c, checkpoint.c,
 * entry.c, store.c, server.c): Merkle hashing against RFC 6962 vectors and
 * against a naive implementation written here from the RFC's definitions,
 * proofs for every size up to 64, tile arithmetic and paths (the
 * static-ct-api examples), the checkpoint note and its signature checked
 * with OpenSSL directly, the entry bytes, the chain checks (the leaf
 * signature verified without a parsed leaf key, every other algorithm on
 * the fallback, the cache of verified issuer chains), the entry log's
 * crash handling, the start-up consistency check, the request body, and
 * the pipeline: every SCT signed by a signer thread, never by the
 * sequencer.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ctlog_srv_int.h"

static char tmpdir[] = "/tmp/fulcrum-test-ctlog-XXXXXX";

static void hex(const char *h, uint8_t *out)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* --- a naive Merkle tree, straight from RFC 6962 2.1 ------------------ */

static void naive_mth(const ctlog_hash *leaves, uint64_t n, uint8_t out[32])
{
	uint8_t buf[65];
	uint64_t k = 1;

	if (n == 0) {
		SHA256(NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	while (2 * k < n)
		k *= 2;
	buf[0] = 1;
	naive_mth(leaves, k, buf + 1);
	naive_mth(leaves + k, n - k, buf + 33);
	SHA256(buf, 65, out);
}

static void test_vectors(void)
{
	/* the leaves of RFC 6962's reference test (certificate-transparency) */
	static const char *leaves[] = {"",
				       "00",
				       "10",
				       "2021",
				       "3031",
				       "40414243",
				       "5051525354555657",
				       "606162636465666768696a6b6c6d6e6f"};
	static const char *roots[] = {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	ctlog_hash h[8];
	uint8_t want[32], got[32], leaf[16], node[65];
	struct ctlog_tree *t = calloc(1, sizeof(*t));

	/* empty tree: SHA-256 of nothing */
	ctlog_tree_root(t, got);
	hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
	CHECK(memcmp(got, want, 32) == 0);
	for (int i = 0; i < 8; i++) {
		size_t n = strlen(leaves[i]) / 2;
		uint8_t pre[17] = {0};

		hex(leaves[i], leaf);
		ctlog_leaf_hash(leaf, n, h[i]);
		/* the 0x00 prefix */
		memcpy(pre + 1, leaf, n);
		SHA256(pre, n + 1, want);
		CHECK(memcmp(h[i], want, 32) == 0);
		ctlog_tree_append(t, h[i], NULL, NULL);
		ctlog_tree_root(t, got);
		hex(roots[i], want);
		CHECK(memcmp(got, want, 32) == 0);
		ctlog_mth((const ctlog_hash *)h, (uint64_t)i + 1, got);
		CHECK(memcmp(got, want, 32) == 0);
	}
	/* the 0x01 node prefix */
	node[0] = 1;
	memcpy(node + 1, h[0], 32);
	memcpy(node + 33, h[1], 32);
	SHA256(node, 65, want);
	ctlog_node_hash(h[0], h[1], got);
	CHECK(memcmp(got, want, 32) == 0);
	free(t);
}

struct tiles_seen {
	uint64_t full[CTLOG_TILE_LEVELS];
	uint64_t next[CTLOG_TILE_LEVELS];
	bool order_ok;
	ctlog_hash *leaves;
};

static enum fc_status on_full(void *ctx, int level, uint64_t n, const ctlog_hash *hashes)
{
	struct tiles_seen *ts = ctx;

	if (n != ts->next[level])
		ts->order_ok = false;
	ts->next[level]++;
	ts->full[level]++;
	if (level == 0 && memcmp(hashes, ts->leaves[n * 256], 256 * 32) != 0)
		ts->order_ok = false;
	return FC_OK;
}

/* The tile-based root equals the naive MTH at every size up to 600 and at
 * sizes around the level-1 and level-2 boundaries; full tiles are
 * reported in order with the right hashes. */
static void test_tree_vs_naive(void)
{
	const uint64_t max = 66000;
	ctlog_hash *leaves = malloc(max * sizeof(*leaves));
	struct ctlog_tree *t = calloc(1, sizeof(*t));
	struct tiles_seen ts = {.order_ok = true, .leaves = leaves};
	uint8_t a[32], b[32];
	int mismatches = 0;

	for (uint64_t i = 0; i < max; i++) {
		uint8_t v[8];
		for (int j = 0; j < 8; j++)
			v[j] = (uint8_t)(i >> (8 * j));
		ctlog_leaf_hash(v, 8, leaves[i]);
	}
	for (uint64_t i = 0; i < max; i++) {
		uint64_t n = i + 1;

		ctlog_tree_append(t, leaves[i], on_full, &ts);
		if (n <= 600 || n == 65535 || n == 65536 || n == 65537 || n == 65792 || n == max ||
		    n % 4099 == 0) {
			ctlog_tree_root(t, a);
			naive_mth(leaves, n, b);
			if (memcmp(a, b, 32) != 0)
				mismatches++;
		}
	}
	CHECK(mismatches == 0);
	CHECK(ts.order_ok);
	CHECK(ts.full[0] == max / 256);
	CHECK(ts.full[1] == 1);
	CHECK(ts.full[2] == 0);
	free(t);
	free(leaves);
}

/* Every inclusion and consistency proof for sizes 1..64 verifies, and a
 * proof with one bit flipped, or for a neighbouring index or size, does not. */
static void test_proofs(void)
{
	ctlog_hash leaves[64], proof[CTLOG_MAX_PROOF];
	uint8_t root[65][32];
	int bad = 0;

	for (int i = 0; i < 64; i++) {
		uint8_t v = (uint8_t)i;
		ctlog_leaf_hash(&v, 1, leaves[i]);
	}
	for (int n = 0; n <= 64; n++)
		naive_mth(leaves, (uint64_t)n, root[n]);
	for (uint64_t n = 1; n <= 64; n++) {
		for (uint64_t m = 0; m < n; m++) {
			size_t len = ctlog_inclusion_proof(leaves, n, m, proof);

			if (!ctlog_verify_inclusion(m, n, leaves[m], proof, len, root[n]))
				bad++;
			if (n > 1 &&
			    ctlog_verify_inclusion((m + 1) % n, n, leaves[m], proof, len, root[n]))
				bad++;
			if (len > 0) {
				proof[len - 1][0] ^= 1;
				if (ctlog_verify_inclusion(m, n, leaves[m], proof, len, root[n]))
					bad++;
			}
		}
		for (uint64_t m = 1; m <= n; m++) {
			size_t len = ctlog_consistency_proof(leaves, n, m, proof);

			if (!ctlog_verify_consistency(m, n, root[m], root[n], proof, len))
				bad++;
			if (m < n && m > 1 &&
			    ctlog_verify_consistency(m - 1, n, root[m - 1], root[n], proof, len))
				bad++;
			if (len > 0) {
				proof[0][5] ^= 0x80;
				if (ctlog_verify_consistency(m, n, root[m], root[n], proof, len))
					bad++;
			}
		}
	}
	CHECK(bad == 0);
	/* RFC 6962 2.1.3 example: PATH(d0, D[7]) has three nodes */
	CHECK(ctlog_inclusion_proof(leaves, 7, 0, proof) == 3);
	CHECK(ctlog_consistency_proof(leaves, 7, 3, proof) == 4);
	CHECK(ctlog_consistency_proof(leaves, 7, 4, proof) == 1);
}

static void test_tile_paths(void)
{
	struct {
		int level;
		uint64_t n;
		unsigned w;
		const char *path;
	} cases[] = {
		{0, 0, 0, "tile/0/000"},
		{0, 1234067, 0, "tile/0/x001/x234/067"},
		{1, 1234067, 17, "tile/1/x001/x234/067.p/17"},
		{-1, 5, 255, "tile/data/005.p/255"},
		{-1, 5, 256, "tile/data/005"},
		{2, 1000, 0, "tile/2/x001/000"},
		{5, 999, 1, "tile/5/999.p/1"},
		{0, UINT64_C(1000000000000), 0, "tile/0/x001/x000/x000/x000/000"},
	};
	static const char *bad[] = {
		"tile/0/x000/000", "tile/6/000",	 "tile/0/000.p/0",     "tile/0/000.p/256",
		"tile/0/0000",	   "tile/0/00",		 "tile/data/000.p/01", "tile/0/000/",
		"tile/0/x001",	   "tile/01/000",	 "tile//000",	       "tile/0/x001/x002/",
		"tile/0/001.p/",   "tile/data/x0a1/000", "tile/0/000.p/7x",    "checkpoint",
	};
	int level;
	uint64_t n;
	unsigned w;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = ctlog_tile_path(cases[i].level, cases[i].n, cases[i].w);

		CHECK_STR(p, cases[i].path);
		CHECK(ctlog_tile_path_parse(p, &level, &n, &w));
		CHECK(level == cases[i].level && n == cases[i].n &&
		      w == (cases[i].w >= 256 ? 0 : cases[i].w));
		free(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = ctlog_tile_path_parse(bad[i], &level, &n, &w);
		if (ok)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK(!ok);
	}
	/* static-ct-api: a tree of 70,000 has 273 full level-0 tiles, a partial
	 * one of width 112, a partial level-1 tile of width 17 and a partial
	 * level-2 tile of width 1; a tree of 256 a partial level-1 of width 1 */
	CHECK(ctlog_tile_width(70000, 0) == 112 && ctlog_tile_index(70000, 0) == 273);
	CHECK(ctlog_tile_width(70000, 1) == 17 && ctlog_tile_index(70000, 1) == 1);
	CHECK(ctlog_tile_width(70000, 2) == 1 && ctlog_tile_index(70000, 2) == 0);
	CHECK(ctlog_tile_width(70000, 3) == 0);
	CHECK(ctlog_tile_width(256, 0) == 0 && ctlog_tile_width(256, 1) == 1);
	CHECK(ctlog_tile_width(70000, -1) == 112);
}

/* --- keys and certificates made here with OpenSSL ------------------------ */

static EVP_PKEY *p256(void)
{
	return EVP_EC_gen("P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
		       int poison)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffffff) + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints,
		ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (!ca)
		add_ext(x, issuer, NID_ext_key_usage, "codeSigning");
	if (poison) {
		/* 1.3.6.1.4.1.11129.2.4.3, critical (poison == 1) or not, NULL */
		ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
		X509_EXTENSION *e;

		ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x05\x00", 2);
		e = X509_EXTENSION_create_by_NID(NULL, NID_ct_precert_poison, poison == 1, v);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		ASN1_OCTET_STRING_free(v);
	}
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

static char *b64_cert(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *b = fc_b64_encode(der, (size_t)n);

	OPENSSL_free(der);
	return b;
}

/* A certificate around tbs with orig's signature, to parse tbs with d2i_X509. */
static X509 *wrap_tbs(const uint8_t *tbs, size_t tbs_len, X509 *orig)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	unsigned char *a = NULL, *b = NULL, *der;
	int al, bl;
	size_t n;
	const unsigned char *p;
	X509 *x;

	X509_get0_signature(&sig, &alg, orig);
	al = i2d_X509_ALGOR(alg, &a);
	bl = i2d_ASN1_BIT_STRING(sig, &b);
	n = tbs_len + (size_t)al + (size_t)bl;
	der = malloc(n + 4);
	der[0] = 0x30;
	der[1] = 0x82;
	der[2] = (uint8_t)(n >> 8);
	der[3] = (uint8_t)n;
	memcpy(der + 4, tbs, tbs_len);
	memcpy(der + 4 + tbs_len, a, (size_t)al);
	memcpy(der + 4 + tbs_len + al, b, (size_t)bl);
	p = der;
	x = d2i_X509(NULL, &p, (long)(n + 4));
	free(der);
	OPENSSL_free(a);
	OPENSSL_free(b);
	return x;
}

static void test_entries(void)
{
	EVP_PKEY *rk = p256(), *lk = p256();
	X509 *root = make_cert("root", rk, NULL, NULL, true, 0);
	X509 *pre = make_cert("leaf", lk, root, rk, false, 1);
	X509 *nc = make_cert("leaf2", lk, root, rk, false, 2);
	char *pre_b64 = b64_cert(pre), *root_b64 = b64_cert(root), *nc_b64 = b64_cert(nc);
	char *roots_path = fc_xasprintf("%s/roots.pem", tmpdir), *body;
	FILE *f = fopen(roots_path, "w");
	struct ctlog_roots *roots = NULL;
	struct ctlog_policy pol = {0};
	struct ctlog_entry *e = NULL;
	struct fc_err err = {0};
	struct fc_buf te, leaf;
	uint8_t ikh[32], fp[32];
	unsigned char *spki = NULL, *der = NULL;
	int spki_len, der_len;

	PEM_write_X509(f, root);
	fclose(f);
	CHECK(ctlog_roots_load(roots_path, &roots, &err) == FC_OK);
	body = fc_xasprintf("{\"chain\":[\"%s\",\"%s\"]}", pre_b64, root_b64);
	CHECK(ctlog_entry_from_chain(roots, &pol, true, (const uint8_t *)body, strlen(body), &e,
				     &err) == FC_OK);
	free(body);
	if (e == NULL) {
		fprintf(stderr, "entry: %s\n", err.msg);
		goto out;
	}
	fc_buf_init(&te, 0);
	fc_buf_init(&leaf, 0);
	CHECK(ctlog_timestamped_entry(e, UINT64_C(0x0102030405060708), UINT64_C(0x0a0b0c0d0e),
				      &te) == FC_OK);
	/* timestamp | entry_type 1 | issuer_key_hash | TBS<2^24> | ext<2^16> */
	CHECK(memcmp(te.data, "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01", 10) == 0);
	spki_len = i2d_PUBKEY(rk, &spki);
	SHA256(spki, (size_t)spki_len, ikh);
	CHECK(memcmp(te.data + 10, ikh, 32) == 0);
	{
		size_t tbs_len = (size_t)te.data[42] << 16 | (size_t)te.data[43] << 8 | te.data[44];
		X509 *re = wrap_tbs(te.data + 45, tbs_len, pre);

		/* the poison is gone, nothing else */
		CHECK(re != NULL && X509_get_ext_by_NID(re, NID_ct_precert_poison, -1) < 0);
		CHECK(re != NULL && X509_get_ext_count(re) == X509_get_ext_count(pre) - 1);
		CHECK(re != NULL &&
		      X509_NAME_cmp(X509_get_subject_name(re), X509_get_subject_name(pre)) == 0);
		X509_free(re);
		CHECK(te.len == 45 + tbs_len + 2 + 8);
		CHECK(memcmp(te.data + te.len - 10, "\x00\x08\x00\x00\x05\x0a\x0b\x0c\x0d\x0e",
			     10) == 0);
	}
	/* TileLeaf: te | pre_certificate<2^24> | fingerprints<2^16> */
	ctlog_tile_leaf(e, te.data, te.len, &leaf);
	der_len = i2d_X509(pre, &der);
	CHECK(leaf.len == te.len + 3 + (size_t)der_len + 2 + 32);
	CHECK(memcmp(leaf.data + te.len + 3, der, (size_t)der_len) == 0);
	OPENSSL_free(der);
	der = NULL;
	der_len = i2d_X509(root, &der);
	SHA256(der, (size_t)der_len, fp);
	CHECK(memcmp(leaf.data + leaf.len - 34, "\x00\x20", 2) == 0);
	CHECK(memcmp(leaf.data + leaf.len - 32, fp, 32) == 0);
	CHECK(e->n_issuers == 1);
	fc_buf_free(&te);
	fc_buf_free(&leaf);
	ctlog_entry_free(e);
	e = NULL;
	/* the root may be left out: the log adds it to the issuers */
	body = fc_xasprintf("{\"chain\":[\"%s\"]}", pre_b64);
	CHECK(ctlog_entry_from_chain(roots, &pol, true, (const uint8_t *)body, strlen(body), &e,
				     &err) == FC_OK);
	CHECK(e != NULL && e->n_issuers == 1 && memcmp(e->fps[0], fp, 32) == 0);
	free(body);
	ctlog_entry_free(e);
	e = NULL;
	/* a non-critical poison is refused */
	fc_err_clear(&err);
	body = fc_xasprintf("{\"chain\":[\"%s\",\"%s\"]}", nc_b64, root_b64);
	CHECK(ctlog_entry_from_chain(roots, &pol, true, (const uint8_t *)body, strlen(body), &e,
				     &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "not critical");
	free(body);
	/* EKU filter */
	fc_err_clear(&err);
	pol.eku_mask = CTLOG_EKU_SERVER_AUTH;
	body = fc_xasprintf("{\"chain\":[\"%s\"]}", pre_b64);
	CHECK(ctlog_entry_from_chain(roots, &pol, true, (const uint8_t *)body, strlen(body), &e,
				     &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "extended key usage");
	free(body);
	{
		unsigned m = 0;
		CHECK(ctlog_eku_parse("CodeSigning,ServerAuth", &m, &err) == FC_OK &&
		      m == (CTLOG_EKU_CODE_SIGNING | CTLOG_EKU_SERVER_AUTH));
		CHECK(ctlog_eku_parse("", &m, &err) == FC_OK && m == CTLOG_EKU_ANY);
		CHECK(ctlog_eku_parse("CodeSign", &m, &err) == FC_ECONFIG);
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(spki);
	ctlog_roots_free(roots);
	free(roots_path);
	free(pre_b64);
	free(root_b64);
	free(nc_b64);
	X509_free(root);
	X509_free(pre);
	X509_free(nc);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(lk);
}

/* Sign x with key: SHA-256 for EC and RSA (PKCS#1 v1.5, or PSS when pss),
 * none for Ed25519. */
static void sign_cert(X509 *x, EVP_PKEY *key, bool pss)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	bool ed = EVP_PKEY_is_a(key, "ED25519");

	EVP_DigestSignInit(c, &pc, ed ? NULL : EVP_sha256(), NULL, key);
	if (pss) {
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
	}
	CHECK(X509_sign_ctx(x, c) > 0);
	EVP_MD_CTX_free(c);
}

/* A CA or leaf (precertificate) certificate signed by issuer's key. */
static X509 *make_signed(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
			 bool pss)
{
	X509 *x = make_cert(cn, key, issuer, issuer_key, ca, ca ? 0 : 1);

	sign_cert(x, issuer_key ? issuer_key : key, pss);
	return x;
}

static X509 *chain_root; /* the root of test_chain_checks */

static enum fc_status submit(const struct ctlog_roots *roots, X509 *const *chain, size_t n,
			     struct fc_err *err)
{
	struct ctlog_policy pol = {0};
	struct ctlog_entry *e = NULL;
	struct fc_buf body;
	enum fc_status st;

	fc_buf_init(&body, 0);
	fc_buf_append(&body, "{\"chain\":[", 10);
	for (size_t i = 0; i < n; i++) {
		char *b = b64_cert(chain[i]);

		if (i > 0)
			fc_buf_append(&body, ",", 1);
		fc_buf_append(&body, "\"", 1);
		fc_buf_append(&body, b, strlen(b));
		fc_buf_append(&body, "\"", 1);
		free(b);
	}
	fc_buf_append(&body, "]}", 2);
	fc_err_clear(err);
	st = ctlog_entry_from_chain(roots, &pol, true, body.data, body.len, &e, err);
	CHECK((st == FC_OK) == (e != NULL));
	/* the issuers sent, plus the root when it was left out */
	CHECK(e == NULL || e->n_issuers == (n == 1 || chain[n - 1] != chain_root ? n : n - 1));
	ctlog_entry_free(e);
	fc_buf_free(&body);
	return st;
}

/* leaf with one bit of its signature flipped */
static X509 *tamper(X509 *leaf)
{
	unsigned char *der = NULL;
	int n = i2d_X509(leaf, &der);
	const unsigned char *p = der;
	X509 *x;

	der[n - 5] ^= 0x01;
	x = d2i_X509(NULL, &p, n);
	OPENSSL_free(der);
	return x;
}

static void test_chain_checks(void)
{
	EVP_PKEY *rk = p256(), *ik = p256(), *lk = p256(),
		 *ek = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *xk = EVP_RSA_gen(2048), *other = p256();
	X509 *root = make_signed("root", rk, NULL, NULL, true, false);
	X509 *inter = make_signed("inter", ik, root, rk, true, false);
	X509 *ed = make_signed("ed-inter", ek, root, rk, true, false);
	X509 *rsa = make_signed("rsa-inter", xk, root, rk, true, false);
	X509 *leaf = make_signed("leaf", lk, inter, ik, false, false);
	X509 *ed_leaf = make_signed("leaf", lk, ed, ek, false, false);
	X509 *rsa_leaf = make_signed("leaf", lk, rsa, xk, false, false);
	X509 *pss_leaf = make_signed("leaf", lk, rsa, xk, false, true);
	X509 *forged = make_signed("leaf", lk, inter, other, false, false);
	X509 *bad = tamper(leaf), *bad_ed = tamper(ed_leaf), *bad_rsa = tamper(rsa_leaf);
	X509 *bad_pss = tamper(pss_leaf);
	char *roots_path = fc_xasprintf("%s/roots-chain.pem", tmpdir);
	FILE *f = fopen(roots_path, "w");
	struct ctlog_roots *roots = NULL;
	struct fc_err err = {0};

	PEM_write_X509(f, root);
	fclose(f);
	chain_root = root;
	CHECK(ctlog_roots_load(roots_path, &roots, &err) == FC_OK);
	if (roots == NULL)
		goto out;
	/* ECDSA (fast path), twice: the second finds the issuers cached */
	CHECK(submit(roots, (X509 *[]){leaf, inter, root}, 3, &err) == FC_OK);
	CHECK(submit(roots, (X509 *[]){leaf, inter, root}, 3, &err) == FC_OK);
	CHECK(submit(roots, (X509 *[]){leaf, inter}, 2, &err) == FC_OK);
	/* a cached issuer chain does not vouch for a leaf it did not sign */
	CHECK(submit(roots, (X509 *[]){bad, inter, root}, 3, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "chain[0] is not certified by chain[1]");
	CHECK(submit(roots, (X509 *[]){forged, inter, root}, 3, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "chain[0] is not certified by chain[1]");
	/* RSA PKCS#1 v1.5 (fast path), RSA-PSS and Ed25519 (fallback) */
	CHECK(submit(roots, (X509 *[]){rsa_leaf, rsa, root}, 3, &err) == FC_OK);
	CHECK(submit(roots, (X509 *[]){bad_rsa, rsa, root}, 3, &err) == FC_EINPUT);
	CHECK(submit(roots, (X509 *[]){pss_leaf, rsa, root}, 3, &err) == FC_OK);
	CHECK(submit(roots, (X509 *[]){bad_pss, rsa, root}, 3, &err) == FC_EINPUT);
	CHECK(submit(roots, (X509 *[]){ed_leaf, ed, root}, 3, &err) == FC_OK);
	CHECK(submit(roots, (X509 *[]){bad_ed, ed, root}, 3, &err) == FC_EINPUT);
	/* the leaf's key type must match its signature algorithm's */
	CHECK(submit(roots, (X509 *[]){leaf, rsa, root}, 3, &err) == FC_EINPUT);
	/* a leaf alone, signed by the root itself */
	{
		X509 *direct = make_signed("leaf", lk, root, rk, false, false);
		X509 *bad_direct = tamper(direct);

		CHECK(submit(roots, (X509 *[]){direct}, 1, &err) == FC_OK);
		CHECK(submit(roots, (X509 *[]){bad_direct}, 1, &err) == FC_EINPUT);
		CHECK_CONTAINS(err.msg, "does not end at a root");
		X509_free(direct);
		X509_free(bad_direct);
	}
	/* wrong order is found whether or not the right order was cached */
	CHECK(submit(roots, (X509 *[]){leaf, root, inter}, 3, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "not certified");
out:
	ctlog_roots_free(roots);
	free(roots_path);
	X509 *all[] = {root,	 inter,	 ed,  rsa,    leaf,    ed_leaf, rsa_leaf,
		       pss_leaf, forged, bad, bad_ed, bad_rsa, bad_pss};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		X509_free(all[i]);
	EVP_PKEY *keys[] = {rk, ik, lk, ek, xk, other};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(keys[i]);
}

/* The cache keeps at most cap chains, the oldest making room, and a chain
 * it dropped lives on while someone holds a reference. */
static void test_chain_cache(void)
{
	struct ctlog_chain_cache *k = ctlog_chain_cache_new(2);
	struct ctlog_issuers *a = ctlog_issuers_new(), *b = ctlog_issuers_new(),
			     *c = ctlog_issuers_new(), *got;
	uint8_t ka[32] = {1}, kb[32] = {2}, kc[32] = {3};

	ctlog_issuers_add(a, (const uint8_t *)"a", 1);
	ctlog_chain_cache_put(k, ka, a);
	ctlog_chain_cache_put(k, kb, b);
	ctlog_chain_cache_put(k, ka, a); /* already there: no second slot */
	got = ctlog_chain_cache_get(k, ka);
	CHECK(got == a);
	ctlog_chain_cache_put(k, kc, c); /* evicts a, the oldest */
	CHECK(ctlog_chain_cache_get(k, ka) == NULL);
	CHECK(got != NULL && got->n == 1 && got->lens[0] == 1); /* still alive */
	ctlog_issuers_unref(got);
	got = ctlog_chain_cache_get(k, kc);
	CHECK(got == c);
	ctlog_issuers_unref(got);
	ctlog_issuers_unref(a);
	ctlog_issuers_unref(b);
	ctlog_issuers_unref(c);
	ctlog_chain_cache_free(k);
}

static void test_checkpoint(void)
{
	struct hsm_signer *signer = NULL, *other = NULL;
	struct fc_err err = {0};
	uint8_t root[32], log_id[32], kh[32], got_root[32], thi[50];
	unsigned char *spki = NULL;
	int spki_len;
	char *note = NULL, *copy;
	size_t len = 0;
	uint64_t size = 0, ts = 0;
	const char *origin = "ct.example.com/2026h1";
	char *sigline, *b64;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	EVP_MD_CTX *c;
	uint8_t idbuf[64];

	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &signer, &err) == FC_OK);
	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &other, &err) == FC_OK);
	spki_len = i2d_PUBKEY(hsm_signer_public_key(signer), &spki);
	SHA256(spki, (size_t)spki_len, log_id);
	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)i;
	CHECK(ctlog_checkpoint_sign(signer, origin, log_id, 70000, root, 1763885123456, &note, &len,
				    &err) == FC_OK);
	/* body: origin, size, base64 root, blank line, signature line */
	CHECK(strncmp(note,
		      "ct.example.com/"
		      "2026h1\n70000\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
		      "\xe2\x80\x94 ct.example.com/2026h1 ",
		      strlen("ct.example.com/"
			     "2026h1\n70000\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
			     "\xe2\x80\x94 ct.example.com/2026h1 ")) == 0);
	CHECK(note[len - 1] == '\n' && strchr(note, '\0') == note + len);
	/* the signature line, decoded and checked with OpenSSL here */
	sigline = strstr(note, "\xe2\x80\x94 ") + 4 + strlen(origin) + 1;
	b64 = fc_xstrndup(sigline, strlen(sigline) - 1);
	CHECK(fc_b64_decode_any(b64, strlen(b64), &sig, &sig_len));
	memcpy(idbuf, origin, strlen(origin));
	idbuf[strlen(origin)] = '\n';
	idbuf[strlen(origin) + 1] = 0x05;
	memcpy(idbuf + strlen(origin) + 2, log_id, 32);
	SHA256(idbuf, strlen(origin) + 34, kh);
	CHECK(sig_len > 16 && memcmp(sig, kh, 4) == 0);
	CHECK(ctlog_note_key_id(origin, log_id) ==
	      ((uint32_t)kh[0] << 24 | (uint32_t)kh[1] << 16 | (uint32_t)kh[2] << 8 | kh[3]));
	CHECK(memcmp(sig + 4, "\x00\x00\x01\x9a\xaf\xbf\x07\x80", 8) == 0); /* 1763885123456 */
	CHECK(sig[12] == 4 && sig[13] == 3 && (size_t)(sig[14] << 8 | sig[15]) == sig_len - 16);
	thi[0] = 0;
	thi[1] = 1;
	memcpy(thi + 2, sig + 4, 8);
	memcpy(thi + 10, "\x00\x00\x00\x00\x00\x01\x11\x70", 8); /* 70000 */
	memcpy(thi + 18, root, 32);
	c = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, hsm_signer_public_key(signer)) ==
		      1 &&
	      EVP_DigestVerify(c, sig + 16, sig_len - 16, thi, sizeof(thi)) == 1);
	EVP_MD_CTX_free(c);
	/* ctlog_checkpoint_verify: accepts it, refuses changes */
	CHECK(ctlog_checkpoint_verify(note, len, origin, hsm_signer_public_key(signer), log_id,
				      &size, got_root, &ts, &err) == FC_OK);
	CHECK(size == 70000 && ts == 1763885123456 && memcmp(got_root, root, 32) == 0);
	copy = fc_xstrdup(note);
	copy[strlen(origin) + 5] = '1'; /* 70001 */
	CHECK(ctlog_checkpoint_verify(copy, len, origin, hsm_signer_public_key(signer), log_id,
				      &size, got_root, &ts, &err) == FC_EINPUT);
	free(copy);
	CHECK(ctlog_checkpoint_verify(note, len, "ct.example.com/other",
				      hsm_signer_public_key(signer), log_id, &size, got_root, &ts,
				      &err) == FC_EINPUT);
	CHECK(ctlog_checkpoint_verify(note, len, origin, hsm_signer_public_key(other), log_id,
				      &size, got_root, &ts, &err) == FC_EINPUT);
	/* a witness signature line before ours is ignored */
	{
		char *body_end = strstr(note, "\n\n") + 2;
		char *w = fc_xasprintf("%.*s\xe2\x80\x94 witness.example AAAAAAAA\n%s",
				       (int)(body_end - note), note, body_end);
		fc_err_clear(&err);
		CHECK(ctlog_checkpoint_verify(w, strlen(w), origin, hsm_signer_public_key(signer),
					      log_id, &size, got_root, &ts, &err) == FC_OK);
		free(w);
	}
	free(b64);
	free(sig);
	free(note);
	OPENSSL_free(spki);
	hsm_signer_free(signer);
	hsm_signer_free(other);
}

/* --- the entry log and the hash table ------------------------------------ */

static enum fc_status count_rec(void *ctx, const struct ctlog_record *r, struct fc_err *err)
{
	(*(uint64_t *)ctx)++;
	return FC_OK;
}

static void make_record(uint64_t index, struct fc_buf *payload)
{
	uint8_t key[32] = {0}, leaf[40] = {0};

	key[0] = (uint8_t)index;
	key[31] = 0x5a;
	/* a TimestampedEntry-shaped leaf ending in the leaf_index extension */
	leaf[39] = (uint8_t)index;
	leaf[34] = 5;
	ctlog_elog_add_record(payload, key, leaf, sizeof(leaf), sizeof(leaf),
			      (const uint8_t *)"sig", 3);
}

static void test_elog(void)
{
	char *path = fc_xasprintf("%s/entries.log", tmpdir);
	struct ctlog_elog l = {.fd = -1};
	struct fc_err err = {0};
	struct fc_buf p;
	uint64_t n = 0, end2;
	struct ctlog_record r;
	uint8_t *buf = NULL;
	struct stat sb;

	unlink(path);
	CHECK(ctlog_elog_open(path, 0, count_rec, &n, &l, &err) == FC_OK && l.count == 0);
	for (uint64_t b = 0; b < 3; b++) {
		fc_buf_init(&p, 0);
		make_record(2 * b, &p);
		make_record(2 * b + 1, &p);
		CHECK(ctlog_elog_append(&l, 2 * b, 2, &p, &err) == FC_OK);
		fc_buf_free(&p);
	}
	CHECK(l.count == 6);
	CHECK(ctlog_elog_read(&l, CTLOG_ELOG_HDR, &buf, &r, &err) == FC_OK && r.index == 0 &&
	      r.sig_len == 3 && memcmp(r.sig, "sig", 3) == 0);
	free(buf);
	end2 = l.end;
	ctlog_elog_close(&l);
	/* reopen: 6 records */
	n = 0;
	CHECK(ctlog_elog_open(path, 6, count_rec, &n, &l, &err) == FC_OK && n == 6 &&
	      l.end == end2);
	ctlog_elog_close(&l);
	/* a torn last batch above the checkpoint: cut off */
	truncate(path, (off_t)(end2 - 10));
	n = 0;
	CHECK(ctlog_elog_open(path, 4, count_rec, &n, &l, &err) == FC_OK && n == 4);
	ctlog_elog_close(&l);
	stat(path, &sb);
	CHECK((uint64_t)sb.st_size == end2 - (CTLOG_ELOG_HDR + 2 * (CTLOG_ELOG_REC_HDR + 43)));
	/* truncated below the checkpoint: refused, file untouched */
	truncate(path, (off_t)sb.st_size - 10);
	n = 0;
	fc_err_clear(&err);
	CHECK(ctlog_elog_open(path, 4, count_rec, &n, &l, &err) == FC_EIO);
	CHECK_CONTAINS(err.msg, "truncated or damaged");
	stat(path, &sb);
	CHECK((uint64_t)sb.st_size == end2 - (CTLOG_ELOG_HDR + 2 * (CTLOG_ELOG_REC_HDR + 43)) - 10);
	/* damage in a batch that is not the last: refused */
	{
		int fd = open(path, O_WRONLY);
		pwrite(fd, "\xff", 1, CTLOG_ELOG_HDR + 5);
		close(fd);
	}
	fc_err_clear(&err);
	CHECK(ctlog_elog_open(path, 0, count_rec, &n, &l, &err) == FC_EIO);
	CHECK_CONTAINS(err.msg, "damaged");
	free(path);
}

static void test_map(void)
{
	struct ctlog_map m = {0};
	uint8_t k[32] = {0};
	uint64_t v;
	int bad = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		memcpy(k + 8, &i, 4);
		k[7] = (uint8_t)(i % 37); /* 37 clusters of colliding home slots */
		ctlog_map_put(&m, k, i);
	}
	for (uint32_t i = 0; i < 5000; i += 2) {
		memcpy(k + 8, &i, 4);
		k[7] = (uint8_t)(i % 37);
		ctlog_map_del(&m, k);
	}
	for (uint32_t i = 0; i < 5000; i++) {
		bool found;
		memcpy(k + 8, &i, 4);
		k[7] = (uint8_t)(i % 37);
		found = ctlog_map_get(&m, k, &v);
		if (found != (i % 2 == 1) || (found && v != i))
			bad++;
	}
	CHECK(bad == 0 && m.n == 2500);
	ctlog_map_free(&m);
}

/* --- the server's start-up check ------------------------------------------ */

static void test_open(void)
{
	struct hsm_signer *signer = NULL, *other = NULL;
	struct ctlog_server *s = NULL;
	struct fc_err err = {0};
	char *store = fc_xasprintf("%s/store", tmpdir),
	     *roots = fc_xasprintf("%s/roots.pem", tmpdir);
	char *cp = fc_xasprintf("%s/checkpoint", store), *data = NULL;
	struct ctlog_server_config cfg = {
		.storage_dir = store, .roots_path = roots, .origin = "localhost/unit"};
	size_t len = 0;

	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &signer, &err) == FC_OK);
	CHECK(hsm_softkey_generate(HSM_KEY_EC_P384, &other, &err) == FC_OK);
	cfg.signer = other;
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "P-256");
	cfg.signer = signer;
	fc_err_clear(&err);
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_OK);
	if (s == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		goto out;
	}
	/* a fresh log publishes an empty checkpoint */
	CHECK(fc_read_file(cp, 4096, &data, &len, NULL) == FC_OK);
	CHECK(data &&
	      strncmp(data, "localhost/unit\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
		      62) == 0);
	free(data);
	data = NULL;
	/* locked while open */
	{
		struct ctlog_server *s2 = NULL;
		fc_err_clear(&err);
		CHECK(ctlog_server_open(&cfg, &s2, &err) == FC_EIO);
		CHECK_CONTAINS(err.msg, "lock");
	}
	ctlog_server_free(s);
	s = NULL;
	/* reopen: fine; with another origin: refused */
	fc_err_clear(&err);
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_OK);
	ctlog_server_free(s);
	s = NULL;
	cfg.origin = "localhost/other";
	fc_err_clear(&err);
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_EIO);
	CHECK_CONTAINS(err.msg, "origin");
	cfg.origin = "https://localhost/x";
	fc_err_clear(&err);
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_ECONFIG);
out:
	ctlog_server_free(s);
	hsm_signer_free(signer);
	hsm_signer_free(other);
	free(store);
	free(roots);
	free(cp);
}

/* --- the request body ------------------------------------------------------ */

static void body_case(const char *text, enum fc_status want, size_t n, const char *first,
		      const char *why)
{
	struct ctlog_chain_body b;
	struct fc_err err = {0};
	enum fc_status st = ctlog_body_parse((const uint8_t *)text, strlen(text), &b, &err);

	CHECK(st == want);
	if (st != want)
		fprintf(stderr, "body %s: %d (%s)\n", text, st, err.msg);
	if (want == FC_OK) {
		CHECK(b.n == n);
		if (first == NULL)
			CHECK(b.s[0] == NULL);
		else
			CHECK(b.s[0] != NULL && b.len[0] == strlen(first) &&
			      memcmp(b.s[0], first, b.len[0]) == 0);
	} else {
		CHECK_CONTAINS(err.msg, why);
	}
	ctlog_body_clear(&b);
}

static void test_body(void)
{
	body_case("{\"chain\":[\"QUJD\",\"REVG\"]}", FC_OK, 2, "QUJD", NULL);
	body_case(" {\n\t\"chain\" : [ \"QU+/\" ,\r\n\"RA==\" ] }\n", FC_OK, 2, "QU+/", NULL);
	body_case("{\"chain\":[\"QU\\/D\"]}", FC_OK, 1, "QU/D", NULL); /* an escape */
	body_case("{\"chain\":[1,\"QUJD\"]}", FC_OK, 2, NULL, NULL);
	body_case("{\"chain\":[\"QUJD\"],\"x\":1}", FC_OK, 1, "QUJD", NULL);
	body_case("{\"chain\":[]}", FC_EINPUT, 0, NULL, "\"chain\" is empty");
	body_case("{\"chain\":[\"a\"],\"chain\":[\"b\"]}", FC_EINPUT, 0, NULL, "not a JSON object");
	body_case("{\"chain\":[\"a\"]} x", FC_EINPUT, 0, NULL, "not a JSON object");
	body_case("{\"chain\":[\"a\"", FC_EINPUT, 0, NULL, "not a JSON object");
	body_case("{\"chains\":[\"a\"]}", FC_EINPUT, 0, NULL, "missing or not an array");
	body_case("{\"chain\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
		  "\"a\",\"a\"]}",
		  FC_EINPUT, 0, NULL, "11 certificates, over the limit of 10");
	body_case("[]", FC_EINPUT, 0, NULL, "not a JSON object");
	body_case("", FC_EINPUT, 0, NULL, "not a JSON object");
}

/* --- the pipeline: who signs what ----------------------------------------- */

/* A signer around a real one that notes which thread asked for each
 * signature: SCTs (RFC 6962 3.2 input: version 0, signature type 0) and
 * checkpoints (tree_hash, type 1). */
static struct {
	pthread_mutex_t lock;
	struct hsm_signer *real;
	unsigned sct_by_signers, sct_elsewhere, cp_by_store, cp_elsewhere;
} who = {.lock = PTHREAD_MUTEX_INITIALIZER};

static enum fc_status who_sign(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
			       size_t *sig_len, struct fc_err *err)
{
	char name[16] = "";
	bool sct = len > 2 && msg[0] == 0 && msg[1] == 0;

	pthread_getname_np(pthread_self(), name, sizeof(name));
	pthread_mutex_lock(&who.lock);
	if (sct && strcmp(name, "ctlog-sign") == 0)
		who.sct_by_signers++;
	else if (sct)
		who.sct_elsewhere++;
	else if (strcmp(name, "ctlog-store") == 0)
		who.cp_by_store++;
	else
		who.cp_elsewhere++;
	pthread_mutex_unlock(&who.lock);
	return hsm_sign(who.real, msg, len, sig, sig_len, err);
}

static void who_close(void *impl)
{
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* POST body to url; the HTTP status (0 if the transfer failed). */
static long post(const char *url, const char *body)
{
	CURL *e = curl_easy_init();
	long status = 0;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return status;
}

/* Every SCT is signed by a signer thread, never by the sequencer or an
 * HTTP worker; checkpoints by the integrator (the empty tree's at open
 * by the opening thread). */
static void test_pipeline(void)
{
	static const struct hsm_ops ops = {.sign = who_sign, .close = who_close};
	EVP_PKEY *rk = p256(), *lk = p256();
	X509 *root = make_cert("root", rk, NULL, NULL, true, 0);
	char *store = fc_xasprintf("%s/pipe", tmpdir),
	     *roots = fc_xasprintf("%s/pipe-roots.pem", tmpdir);
	struct ctlog_server_config cfg = {.storage_dir = store,
					  .roots_path = roots,
					  .origin = "localhost/pipe",
					  .batch_max_age_ms = 5,
					  .sign_threads = 2};
	struct fc_httpd_options ho = {
		.host = "127.0.0.1", .threads = 2, .max_body = 1 << 20, .name = "pipe"};
	struct hsm_signer *signer = NULL;
	struct ctlog_server *s = NULL;
	struct fc_httpd *d = NULL;
	struct fc_err err = {0};
	char *url = NULL;
	FILE *f = fopen(roots, "w");
	unsigned ok = 0;

	PEM_write_X509(f, root);
	fclose(f);
	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &who.real, &err) == FC_OK);
	CHECK(hsm_signer_new(&ops, NULL, hsm_signer_public_key(who.real), HSM_RSA_PKCS1, "recorder",
			     &signer, &err) == FC_OK);
	cfg.signer = signer;
	CHECK(ctlog_server_open(&cfg, &s, &err) == FC_OK);
	CHECK(s && fc_httpd_start(&ho, ctlog_server_handle, s, &d, &err) == FC_OK);
	if (d == NULL)
		goto out;
	url = fc_xasprintf("http://127.0.0.1:%u/ct/v1/add-pre-chain", fc_httpd_port(d));
	for (int i = 0; i < 12; i++) {
		X509 *pre = make_cert("leaf", lk, root, rk, false, 1);
		char *a = b64_cert(pre), *b = b64_cert(root);
		char *body = fc_xasprintf("{\"chain\":[\"%s\",\"%s\"]}", a, b);

		ok += post(url, body) == 200;
		free(body);
		free(a);
		free(b);
		X509_free(pre);
	}
	CHECK(ok == 12);
	fc_httpd_stop(d);
	d = NULL;
	ctlog_server_free(s);
	s = NULL;
	CHECK(who.sct_by_signers == 12 && who.sct_elsewhere == 0);
	CHECK(who.cp_by_store >= 1 && who.cp_elsewhere == 1);
	if (who.sct_elsewhere || who.cp_elsewhere != 1)
		fprintf(stderr,
			"pipeline: SCTs %u by signers, %u elsewhere; checkpoints %u by the "
			"integrator, %u elsewhere\n",
			who.sct_by_signers, who.sct_elsewhere, who.cp_by_store, who.cp_elsewhere);
out:
	fc_httpd_stop(d);
	ctlog_server_free(s);
	hsm_signer_free(signer);
	hsm_signer_free(who.real);
	X509_free(root);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(lk);
	free(url);
	free(store);
	free(roots);
}

int main(void)
{
	char *cmd;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	fc_log_set_level(LOG_WARNING);
	test_vectors();
	test_tree_vs_naive();
	test_proofs();
	test_tile_paths();
	test_entries();
	test_chain_checks();
	test_chain_cache();
	test_checkpoint();
	test_elog();
	test_map();
	test_open();
	test_body();
	test_pipeline();
	cmd = fc_xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return check_exit();
}
