/*
 * Unit tests of trust/: times and URLs, each kind of entry and its
 * refusals, the documents' shape (field by field, as the clients read
 * them), several entries per kind with their windows, the Rekor v2
 * checkpoint check, and the check of documents before they are served.
 * Fixtures: tests/data/trust (made by make-fixtures.py there).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "trust.h"

#define NOW 1790000000 /* 2026-09-21T14:13:20Z */

static char *fixture(const char *name, size_t *len)
{
	const char *dir = getenv("FULCRUM_TEST_DATA");
	char path[1024];
	char *data = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/trust/%s", dir ? dir : "tests/data", name);
	if (fc_read_file(path, 1 << 20, &data, &n, NULL) != FC_OK) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	if (len)
		*len = n;
	return data;
}

static struct trust_entry entry(const char *url)
{
	struct trust_entry e = {.url = url, .start = TRUST_TIME_UNSET, .end = TRUST_TIME_UNSET};
	return e;
}

/* Add a fixture of kind; the status, err filled. */
static enum fc_status add(struct trust_builder *b, enum trust_kind kind,
			  const struct trust_entry *e, const char *file, struct fc_err *err)
{
	size_t len;
	char *pem = fixture(file, &len);
	enum fc_status st;

	fc_err_clear(err);
	switch (kind) {
	case TRUST_CA: st = trust_add_ca(b, e, pem, len, file, err); break;
	case TRUST_TSA: st = trust_add_tsa(b, e, pem, len, file, err); break;
	case TRUST_CTLOG: st = trust_add_ctlog(b, e, pem, len, file, err); break;
	default: st = trust_add_tlog(b, e, pem, len, file, err); break;
	}
	free(pem);
	return st;
}

/* base64 of SHA-256 of the parts (a log id). */
static char *sha256_b64(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t md[32];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, a, alen);
	if (b)
		EVP_DigestUpdate(c, b, blen);
	EVP_DigestFinal_ex(c, md, &n);
	EVP_MD_CTX_free(c);
	return fc_b64_encode(md, sizeof(md));
}

/* The DER SPKI of a PEM public key fixture (OPENSSL_free). */
static uint8_t *spki_of(const char *file, size_t *len)
{
	char *pem = fixture(file, NULL);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	*len = n > 0 ? (size_t)n : 0;
	EVP_PKEY_free(k);
	BIO_free(bio);
	free(pem);
	return der;
}

static const char *jstr(json_t *doc, const char *path)
{
	json_t *v = doc;
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok))
				     : json_object_get(v, tok);
	return json_string_value(v);
}

static size_t jlen(json_t *doc, const char *key)
{
	return json_array_size(json_object_get(doc, key));
}

static void test_time(void)
{
	int64_t t = 0;
	char buf[32];

	CHECK(trust_parse_time("2026-01-02T03:04:05Z", &t) && t == 1767323045);
	CHECK(trust_parse_time("2026-01-02T04:04:05.250+01:00", &t) && t == 1767323045);
	CHECK(trust_parse_time("2026-01-01T22:04:05-05:00", &t) && t == 1767323045);
	CHECK(!trust_parse_time("2026-01-02 03:04:05Z", &t));
	CHECK(!trust_parse_time("2026-01-02T03:04:05", &t));
	CHECK(!trust_parse_time("2026-13-02T03:04:05Z", &t));
	CHECK(!trust_parse_time("2026-01-02T03:04:05Zjunk", &t));
	trust_format_time(1767323045, buf, sizeof(buf));
	CHECK_STR(buf, "2026-01-02T03:04:05Z");
}

static void test_url(void)
{
	char *s = NULL;
	struct fc_err err = {0};

	s = trust_url_host("http://127.0.0.1:3000/api/v1/timestamp");
	CHECK_STR(s, "127.0.0.1");
	free(s);
	s = trust_url_host("https://[::1]:8443");
	CHECK_STR(s, "::1");
	free(s);
	s = trust_url_host("https://rekor.example.com");
	CHECK_STR(s, "rekor.example.com");
	free(s);
	CHECK(trust_url_host("ftp://x") == NULL && trust_url_host("http://") == NULL);
	CHECK(trust_url_normalise("https://ca.example.com//", "--ca url", &s, &err) == FC_OK);
	CHECK_STR(s, "https://ca.example.com");
	free(s);
	CHECK(trust_url_normalise("http://a b", "--ca url", &s, &err) == FC_ECONFIG);
	CHECK(trust_url_normalise("http://u@h/", "--ca url", &s, &err) == FC_ECONFIG);
	CHECK(trust_url_normalise("http://h/?q", "--ca url", &s, &err) == FC_ECONFIG);
	CHECK(trust_url_normalise("file:///etc", "--ca url", &s, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "--ca url");
	s = trust_tsa_url("http://127.0.0.1:3000/");
	CHECK_STR(s, "http://127.0.0.1:3000/api/v1/timestamp");
	free(s);
	s = trust_tsa_url("http://tsa/x/api/v1/timestamp");
	CHECK_STR(s, "http://tsa/x/api/v1/timestamp");
	free(s);
}

/* A CA chain and a TSA chain: shape, subject, windows. */
static void test_chains(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct trust_entry e = entry("https://fulcio.example.com/");
	struct fc_err err = {0};
	json_t *root;

	CHECK(add(b, TRUST_CA, &e, "ca-chain.pem", &err) == FC_OK);
	e = entry(NULL);
	e.start = 1700000000;
	e.end = 1780000000;
	CHECK(add(b, TRUST_CA, &e, "ca-root.pem", &err) == FC_OK); /* retired, no URL */
	e = entry("http://127.0.0.1:3000");
	e.operator= "tsa.example.com";
	CHECK(add(b, TRUST_TSA, &e, "tsa-chain.pem", &err) == FC_OK);
	root = trust_trusted_root(b);
	CHECK_STR(jstr(root, "mediaType"), TRUST_MEDIA_TRUSTED_ROOT);
	CHECK(jlen(root, "tlogs") == 0 && jlen(root, "ctlogs") == 0);
	CHECK(jlen(root, "certificateAuthorities") == 2 && jlen(root, "timestampAuthorities") == 1);
	CHECK_STR(jstr(root, "certificateAuthorities.0.uri"), "https://fulcio.example.com");
	CHECK_STR(jstr(root, "certificateAuthorities.0.subject.organization"), "fulcrum test");
	CHECK_STR(jstr(root, "certificateAuthorities.0.subject.commonName"), "fulcrum test root");
	CHECK_STR(jstr(root, "certificateAuthorities.0.validFor.start"), "2026-02-01T00:00:00Z");
	CHECK(jstr(root, "certificateAuthorities.0.validFor.end") == NULL);
	CHECK_STR(jstr(root, "certificateAuthorities.0.operator"), "fulcio.example.com");
	CHECK(json_array_size(json_object_get(
		      json_object_get(
			      json_array_get(json_object_get(root, "certificateAuthorities"), 0),
			      "certChain"),
		      "certificates")) == 2);
	CHECK(json_object_get(json_array_get(json_object_get(root, "certificateAuthorities"), 1),
			      "uri") == NULL);
	CHECK_STR(jstr(root, "certificateAuthorities.1.validFor.start"), "2023-11-14T22:13:20Z");
	CHECK_STR(jstr(root, "certificateAuthorities.1.validFor.end"), "2026-05-28T20:26:40Z");
	CHECK_STR(jstr(root, "timestampAuthorities.0.uri"),
		  "http://127.0.0.1:3000/api/v1/timestamp");
	CHECK_STR(jstr(root, "timestampAuthorities.0.subject.commonName"),
		  "fulcrum test timestamping");
	CHECK_STR(jstr(root, "timestampAuthorities.0.validFor.start"), "2026-03-01T00:00:00Z");
	CHECK_STR(jstr(root, "timestampAuthorities.0.operator"), "tsa.example.com");
	json_decref(root);
	trust_builder_free(b);
}

static void test_chain_refusals(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct trust_entry e = entry(NULL);
	struct fc_err err = {0};

	CHECK(add(b, TRUST_CA, &e, "ca-reversed.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "is not issued by certificate 2");
	CHECK(add(b, TRUST_CA, &e, "leaf-chain.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "is not a CA");
	CHECK(add(b, TRUST_CA, &e, "private.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "not a CERTIFICATE (never put a private key here)");
	CHECK(add(b, TRUST_CA, &e, "ct.pub", &err) == FC_ECONFIG);
	CHECK(add(b, TRUST_CA, &e, "tsa-chain.pem", &err) == FC_ECONFIG);
	CHECK(add(b, TRUST_TSA, &e, "ca-chain.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "is a CA: a TSA chain starts with the time-stamping certificate");
	CHECK(add(b, TRUST_TSA, &e, "tsa-ca-only.pem", &err) == FC_ECONFIG);
	CHECK(add(b, TRUST_TSA, &e, "leaf-chain.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "has no timeStamping EKU");
	e.start = 1790000000;
	e.end = 1780000000;
	CHECK(add(b, TRUST_CA, &e, "ca-chain.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "end-time is not after start-time");
	e = entry("ftp://x");
	CHECK(add(b, TRUST_CA, &e, "ca-chain.pem", &err) == FC_ECONFIG);
	CHECK(trust_count(b, TRUST_CA) == 0 && trust_count(b, TRUST_TSA) == 0);
	trust_builder_free(b);
}

/* CT and Rekor logs: key details, log ids (RFC 6962 and signed-note). */
static void test_logs(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct trust_entry e = entry("http://127.0.0.1:6962");
	struct fc_err err = {0};
	uint8_t *spki;
	size_t spki_len;
	char *want;
	json_t *root;
	EVP_PKEY *ed;
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);
	char *pem;
	BIO *bio;

	CHECK(add(b, TRUST_CTLOG, &e, "ct.pub", &err) == FC_OK);
	e = entry("http://127.0.0.1:3001");
	e.api_version = 2;
	CHECK(add(b, TRUST_TLOG, &e, "rekor.pub", &err) == FC_OK);
	e = entry("http://127.0.0.1:3002");
	e.api_version = 2;
	CHECK(add(b, TRUST_TLOG, &e, "ed25519.pub", &err) == FC_OK);
	e = entry("https://rekor.example.com");
	e.api_version = 1;
	CHECK(add(b, TRUST_TLOG, &e, "rsa2048.pub", &err) == FC_OK);
	root = trust_trusted_root(b);

	spki = spki_of("ct.pub", &spki_len);
	want = sha256_b64(spki, spki_len, NULL, 0);
	CHECK_STR(jstr(root, "ctlogs.0.logId.keyId"), want);
	free(want);
	want = fc_b64_encode(spki, spki_len);
	CHECK_STR(jstr(root, "ctlogs.0.publicKey.rawBytes"), want);
	free(want);
	OPENSSL_free(spki);
	CHECK_STR(jstr(root, "ctlogs.0.baseUrl"), "http://127.0.0.1:6962");
	CHECK_STR(jstr(root, "ctlogs.0.hashAlgorithm"), "SHA2_256");
	CHECK_STR(jstr(root, "ctlogs.0.publicKey.keyDetails"), "PKIX_ECDSA_P256_SHA_256");
	CHECK_STR(jstr(root, "ctlogs.0.publicKey.validFor.start"), "2026-09-21T14:13:20Z");
	CHECK(json_object_get(json_array_get(json_object_get(root, "ctlogs"), 0), "operator") ==
	      NULL);

	spki = spki_of("rekor.pub", &spki_len);
	want = sha256_b64(spki, spki_len, NULL, 0); /* ECDSA: the SPKI's hash, v2 too */
	CHECK_STR(jstr(root, "tlogs.0.logId.keyId"), want);
	free(want);
	OPENSSL_free(spki);

	pem = fixture("ed25519.pub", NULL);
	bio = BIO_new_mem_buf(pem, -1);
	ed = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	EVP_PKEY_get_raw_public_key(ed, raw, &raw_len);
	want = sha256_b64("127.0.0.1\n\x01", 11, raw, raw_len); /* signed-note Ed25519 */
	CHECK_STR(jstr(root, "tlogs.1.logId.keyId"), want);
	CHECK_STR(jstr(root, "tlogs.1.publicKey.keyDetails"), "PKIX_ED25519");
	free(want);
	EVP_PKEY_free(ed);
	BIO_free(bio);
	free(pem);

	spki = spki_of("rsa2048.pub", &spki_len);
	want = sha256_b64(spki, spki_len, NULL, 0); /* Rekor v1: RFC 6962 */
	CHECK_STR(jstr(root, "tlogs.2.logId.keyId"), want);
	CHECK_STR(jstr(root, "tlogs.2.publicKey.keyDetails"), "PKIX_RSA_PKCS1V15_2048_SHA256");
	free(want);
	OPENSSL_free(spki);
	json_decref(root);
	trust_builder_free(b);
}

static void test_log_refusals(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct trust_entry e = entry("http://127.0.0.1:6962");
	struct fc_err err = {0};

	CHECK(add(b, TRUST_CTLOG, &e, "private.pem", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "is a private key: give its public key");
	CHECK(add(b, TRUST_CTLOG, &e, "p224.pub", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "ECDSA P-256/P-384/P-521");
	CHECK(add(b, TRUST_CTLOG, &e, "ca-chain.pem", &err) == FC_ECONFIG);
	CHECK(add(b, TRUST_CTLOG, &e, "ct.pub", &err) == FC_OK);
	e = entry("http://127.0.0.1:6963");
	CHECK(add(b, TRUST_CTLOG, &e, "ct.pub", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "one key is one log");
	e = entry(NULL);
	CHECK(add(b, TRUST_CTLOG, &e, "rekor.pub", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "--ct-log needs url=");
	e = entry("http://127.0.0.1:3001");
	CHECK(add(b, TRUST_TLOG, &e, "rekor.pub", &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "api-version=1 (Rekor) or api-version=2");
	CHECK(trust_count(b, TRUST_CTLOG) == 1 && trust_count(b, TRUST_TLOG) == 0);
	trust_builder_free(b);
}

/* Services: newest first, one per URL, verification-only left out. */
static void test_signing_config(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct trust_entry e = entry("https://ca-old.example.com");
	struct fc_err err = {0};
	json_t *sc = NULL, *root, *tc;

	CHECK(trust_signing_config(b, &sc, &err) == FC_ECONFIG && sc == NULL);
	CHECK_CONTAINS(err.msg, "needs a CA URL");
	e.end = NOW + 86400;
	CHECK(add(b, TRUST_CA, &e, "ca-root.pem", &err) == FC_OK);
	e = entry("https://ca.example.com");
	CHECK(add(b, TRUST_CA, &e, "ca-chain.pem", &err) == FC_OK);
	CHECK(add(b, TRUST_CA, &e, "ca-root.pem", &err) == FC_OK); /* second chain, same CA */
	e = entry("https://ct.example.com");
	e.no_sign = true;
	CHECK(add(b, TRUST_CTLOG, &e, "ct.pub", &err) == FC_OK);
	e = entry("https://tsa.example.com");
	e.no_sign = true;
	CHECK(add(b, TRUST_TSA, &e, "tsa-chain.pem", &err) == FC_OK);
	e = entry("https://rekor.example.com");
	e.api_version = 2;
	e.operator= "example.com";
	CHECK(add(b, TRUST_TLOG, &e, "rekor.pub", &err) == FC_OK);
	e = entry("https://idp.example.com");
	CHECK(trust_add_oidc(b, &e, &err) == FC_OK);
	CHECK(trust_set_selector(b, TRUST_TLOG, TRUST_SEL_EXACT, 1, &err) == FC_OK);
	CHECK(trust_signing_config(b, &sc, &err) == FC_OK);
	CHECK_STR(jstr(sc, "mediaType"), TRUST_MEDIA_SIGNING_CONFIG);
	CHECK(jlen(sc, "caUrls") == 2 && jlen(sc, "tsaUrls") == 0 && jlen(sc, "oidcUrls") == 1);
	CHECK_STR(jstr(sc, "caUrls.0.url"), "https://ca.example.com");
	CHECK_STR(jstr(sc, "caUrls.0.validFor.start"), "2026-02-01T00:00:00Z");
	CHECK_STR(jstr(sc, "caUrls.1.url"), "https://ca-old.example.com");
	CHECK_STR(jstr(sc, "caUrls.1.validFor.end"), "2026-09-22T14:13:20Z");
	CHECK_STR(jstr(sc, "caUrls.1.operator"), "ca-old.example.com");
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(sc, "caUrls"), 0),
						 "majorApiVersion")) == 1);
	CHECK(json_integer_value(
		      json_object_get(json_array_get(json_object_get(sc, "rekorTlogUrls"), 0),
				      "majorApiVersion")) == 2);
	CHECK_STR(jstr(sc, "rekorTlogUrls.0.operator"), "example.com");
	CHECK_STR(jstr(sc, "rekorTlogConfig.selector"), "EXACT");
	CHECK(json_integer_value(
		      json_object_get(json_object_get(sc, "rekorTlogConfig"), "count")) == 1);
	CHECK(json_object_get(sc, "tsaConfig") == NULL); /* no TSA to select */
	root = trust_trusted_root(b);
	CHECK(jlen(root, "certificateAuthorities") == 3 && jlen(root, "timestampAuthorities") == 1);
	tc = trust_client_config(root, sc);
	CHECK_STR(jstr(tc, "mediaType"), TRUST_MEDIA_CLIENT_CONFIG);
	CHECK_STR(jstr(tc, "trustedRoot.mediaType"), TRUST_MEDIA_TRUSTED_ROOT);
	CHECK_STR(jstr(tc, "signingConfig.mediaType"), TRUST_MEDIA_SIGNING_CONFIG);
	json_decref(tc);
	json_decref(root);
	json_decref(sc);
	trust_builder_free(b);
}

static void test_selector(void)
{
	enum trust_selector sel;
	unsigned n;

	CHECK(trust_parse_selector("ANY", &sel, &n) && sel == TRUST_SEL_ANY);
	CHECK(trust_parse_selector("ALL", &sel, &n) && sel == TRUST_SEL_ALL);
	CHECK(trust_parse_selector("EXACT:2", &sel, &n) && sel == TRUST_SEL_EXACT && n == 2);
	CHECK(!trust_parse_selector("EXACT:0", &sel, &n));
	CHECK(!trust_parse_selector("EXACT:", &sel, &n));
	CHECK(!trust_parse_selector("SOME", &sel, &n));
}

static void test_checkpoint(void)
{
	size_t klen, nlen;
	char *key = fixture("rekor.pub", &klen), *note = fixture("checkpoint", &nlen);
	char *other = fixture("ct.pub", NULL);
	struct fc_err err = {0};

	CHECK(trust_check_checkpoint("http://127.0.0.1:3001", key, klen, note, nlen, &err) ==
	      FC_OK);
	fc_err_clear(&err);
	CHECK(trust_check_checkpoint("http://localhost:3001", key, klen, note, nlen, &err) ==
	      FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "origin is \"127.0.0.1\"");
	CHECK_CONTAINS(err.msg, "--hostname localhost");
	fc_err_clear(&err);
	CHECK(trust_check_checkpoint("http://127.0.0.1:3001", other, strlen(other), note, nlen,
				     &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "has no signature by public-key");
	note[nlen - 10] ^= 1; /* a signature that does not verify */
	fc_err_clear(&err);
	CHECK(trust_check_checkpoint("http://127.0.0.1:3001", key, klen, note, nlen, &err) !=
	      FC_OK);
	fc_err_clear(&err);
	CHECK(trust_check_checkpoint("http://127.0.0.1:3001", key, klen, "127.0.0.1\n1\n", 12,
				     &err) == FC_EUPSTREAM);
	free(key);
	free(note);
	free(other);
}

static void test_doc_check(void)
{
	struct trust_builder *b = trust_builder_new(NOW);
	struct fc_err err = {0};
	json_t *root = trust_trusted_root(b), *out = NULL;
	char *text = json_dumps(root, 0);
	char tmpl[] = "/tmp/trust-test-XXXXXX";
	char *back = NULL, path[64];
	size_t len = 0;
	int fd;

	CHECK(trust_doc_check(text, strlen(text), TRUST_DOC_TRUSTED_ROOT, "tr", &out, &err) ==
		      FC_OK &&
	      out != NULL);
	json_decref(out);
	CHECK(trust_doc_check(text, strlen(text), TRUST_DOC_SIGNING_CONFIG, "sc", NULL, &err) ==
	      FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "mediaType");
	fc_err_clear(&err);
	CHECK(trust_doc_check("{\"a\":1,\"a\":2}", 13, TRUST_DOC_TRUSTED_ROOT, "x", NULL, &err) ==
	      FC_ECONFIG);
	fc_err_clear(&err);
	CHECK(trust_doc_check("[]", 2, TRUST_DOC_TRUSTED_ROOT, "x", NULL, &err) == FC_ECONFIG);
	fc_err_clear(&err);
	json_object_del(root, "ctlogs");
	free(text);
	text = json_dumps(root, 0);
	CHECK(trust_doc_check(text, strlen(text), TRUST_DOC_TRUSTED_ROOT, "x", NULL, &err) ==
	      FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "\"ctlogs\"");
	/* written atomically, indented, read back equal */
	fd = mkstemp(tmpl);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s", tmpl);
	CHECK(trust_write_json(path, root, &err) == FC_OK);
	CHECK(fc_read_file(path, 1 << 20, &back, &len, NULL) == FC_OK);
	CHECK(back != NULL && strstr(back, "\n  \"mediaType\"") != NULL && back[len - 1] == '\n');
	unlink(path);
	free(back);
	free(text);
	json_decref(root);
	trust_builder_free(b);
}

int main(void)
{
	fc_log_set_level(LOG_ERR);
	test_time();
	test_url();
	test_chains();
	test_chain_refusals();
	test_logs();
	test_log_refusals();
	test_signing_config();
	test_selector();
	test_checkpoint();
	test_doc_check();
	return check_exit();
}
