/*
 * Unit tests for ca/cert.c and ca/chain.c: the leaf profile, the signing
 * path and the CA chain. Every field is checked on the DER re-parsed with
 * OpenSSL's getters, against bytes the test writes itself (Go's encodings),
 * and signatures with X509_verify; the chains that ca_chain_check must
 * refuse are built here with OpenSSL's own X509 API (independent of
 * cert.c). The openssl CLI verifies a leaf as an outside verifier.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca_int.h"
#include "check.h"

static char tmpdir[] = "/tmp/fulcrum-test-ca-cert-XXXXXX";

/* --- DER writing (for the expected bytes) -------------------------------- */

struct der {
	uint8_t b[8192];
	size_t n;
};

static void der_raw(struct der *d, const void *p, size_t n)
{
	if (d->n + n > sizeof(d->b))
		abort();
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

/* tag, X.690 definite length, contents */
static void der_tlv(struct der *d, uint8_t tag, const void *p, size_t n)
{
	uint8_t hdr[6];
	size_t h = 0;

	hdr[h++] = tag;
	if (n < 0x80) {
		hdr[h++] = (uint8_t)n;
	} else if (n < 0x100) {
		hdr[h++] = 0x81;
		hdr[h++] = (uint8_t)n;
	} else {
		hdr[h++] = 0x82;
		hdr[h++] = (uint8_t)(n >> 8);
		hdr[h++] = (uint8_t)n;
	}
	der_raw(d, hdr, h);
	der_raw(d, p, n);
}

/* --- identities ---------------------------------------------------------- */

#define EXT(oid, v, enc)                                                                           \
	{                                                                                          \
		(oid), (char *)(v), (enc)                                                          \
	}
#define SIGSTORE(x) "1.3.6.1.4.1.57264.1." #x

static const char long_uri[] =
	"https://github.com/octo-org/octo-repo/.github/workflows/release-and-publish-all-the-"
	"artifacts.yml@refs/heads/main-with-a-rather-long-branch-name-for-long-form-lengths";

static struct oidc_extension email_exts[] = {
	EXT(SIGSTORE(1), "https://accounts.example.com", OIDC_EXT_RAW),
	EXT(SIGSTORE(8), "https://accounts.example.com", OIDC_EXT_UTF8),
	EXT(SIGSTORE(24), "user-4711", OIDC_EXT_UTF8),
};

static struct oidc_extension github_exts[] = {
	EXT(SIGSTORE(1), "https://token.actions.githubusercontent.com", OIDC_EXT_RAW),
	EXT(SIGSTORE(2), "push", OIDC_EXT_RAW),
	EXT(SIGSTORE(3), "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", OIDC_EXT_RAW),
	EXT(SIGSTORE(4), "Release", OIDC_EXT_RAW),
	EXT(SIGSTORE(5), "octo-org/octo-repo", OIDC_EXT_RAW),
	EXT(SIGSTORE(6), "refs/heads/main", OIDC_EXT_RAW),
	EXT(SIGSTORE(8), "https://token.actions.githubusercontent.com", OIDC_EXT_UTF8),
	EXT(SIGSTORE(9), long_uri, OIDC_EXT_UTF8),
	EXT(SIGSTORE(10), "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", OIDC_EXT_UTF8),
	EXT(SIGSTORE(11), "github-hosted", OIDC_EXT_UTF8),
	EXT(SIGSTORE(12), "https://github.com/octo-org/octo-repo", OIDC_EXT_UTF8),
	EXT(SIGSTORE(14), "refs/heads/main", OIDC_EXT_UTF8),
	EXT(SIGSTORE(15), "123456", OIDC_EXT_UTF8),
	EXT(SIGSTORE(20), "push", OIDC_EXT_UTF8),
	EXT(SIGSTORE(22), "public", OIDC_EXT_UTF8),
	EXT(SIGSTORE(24), "repo:octo-org/octo-repo:ref:refs/heads/main", OIDC_EXT_UTF8),
};

static struct oidc_extension username_exts[] = {
	EXT(SIGSTORE(1), "https://idp.example.org", OIDC_EXT_RAW),
	EXT(SIGSTORE(8), "https://idp.example.org", OIDC_EXT_UTF8),
	/* non-ASCII: a UTF8String carries the UTF-8 bytes */
	EXT(SIGSTORE(24),
	    "J\xc3\xb6rg Z\xc3\xbc"
	    "rcher",
	    OIDC_EXT_UTF8),
};

static struct oidc_identity identities[] = {
	{.issuer = "https://accounts.example.com",
	 .san_type = OIDC_SAN_EMAIL,
	 .san = "alice@example.com",
	 .extensions = email_exts,
	 .n_extensions = sizeof(email_exts) / sizeof(email_exts[0])},
	{.issuer = "https://token.actions.githubusercontent.com",
	 .san_type = OIDC_SAN_URI,
	 .san = (char *)long_uri,
	 .extensions = github_exts,
	 .n_extensions = sizeof(github_exts) / sizeof(github_exts[0])},
	{.issuer = "https://idp.example.org",
	 .san_type = OIDC_SAN_USERNAME,
	 .san = "j\xc3\xb6rg!example.org",
	 .extensions = username_exts,
	 .n_extensions = sizeof(username_exts) / sizeof(username_exts[0])},
};
#define N_IDENTITIES (sizeof(identities) / sizeof(identities[0]))

/* --- helpers ------------------------------------------------------------- */

static X509 *reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509(x, &der);
	X509 *y;

	if (len <= 0)
		return NULL;
	p = der;
	y = d2i_X509(NULL, &p, len);
	if (y != NULL && p != der + len) {
		X509_free(y);
		y = NULL;
	}
	OPENSSL_free(der);
	return y;
}

static bool ext_value_is(X509_EXTENSION *ext, const uint8_t *want, size_t n)
{
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);

	return v != NULL && (size_t)ASN1_STRING_length(v) == n &&
	       memcmp(ASN1_STRING_get0_data(v), want, n) == 0;
}

/* Criticality as encoded: critical TRUE present, or the BOOLEAN omitted
 * (DER DEFAULT FALSE, as Go writes it). */
static int ext_encoded_critical(X509_EXTENSION *ext)
{
	unsigned char *der = NULL;
	int len = i2d_X509_EXTENSION(ext, &der);
	int res = -1;
	size_t off = 0;

	if (len < 4)
		goto out;
	/* SEQUENCE header */
	off = 1;
	off += der[off] < 0x80 ? 1 : 1 + (der[off] & 0x7f);
	/* OID */
	if (der[off] != 0x06)
		goto out;
	off += 2 + der[off + 1];
	if (off + 3 <= (size_t)len && der[off] == 0x01 && der[off + 1] == 0x01 &&
	    der[off + 2] == 0xff)
		res = 1;
	else if (off < (size_t)len && der[off] == 0x04)
		res = 0;
out:
	OPENSSL_free(der);
	return res;
}

static void oid_of(X509_EXTENSION *ext, char *buf, size_t n)
{
	OBJ_obj2txt(buf, (int)n, X509_EXTENSION_get_object(ext), 1);
}

/* SHA-1 of the subjectPublicKey bits of key, computed from i2d_PUBKEY. */
/* key's SubjectPublicKeyInfo as Go's MarshalPKIXPublicKey writes it: EC
 * points uncompressed, whatever form the key was parsed from. */
static int go_spki(EVP_PKEY *key, unsigned char **der)
{
	EVP_PKEY *copy = EVP_PKEY_dup(key);
	int len;

	if (EVP_PKEY_is_a(copy, "EC"))
		CHECK(EVP_PKEY_set_utf8_string_param(
			      copy, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			      OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) == 1);
	len = i2d_PUBKEY(copy, der);
	EVP_PKEY_free(copy);
	return len;
}

static void key_sha1(EVP_PKEY *key, uint8_t out[20])
{
	unsigned char *der = NULL;
	const unsigned char *p, *bits = NULL;
	int len = go_spki(key, &der), bits_len = 0;
	X509_PUBKEY *xp;

	p = der;
	xp = d2i_X509_PUBKEY(NULL, &p, len);
	CHECK(xp != NULL);
	CHECK(X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xp) == 1);
	SHA1(bits, (size_t)bits_len, out);
	X509_PUBKEY_free(xp);
	OPENSSL_free(der);
}

/* The expected SAN extension value, written by hand (Go's encoding). */
static void expected_san(const struct oidc_identity *id, struct der *out)
{
	static const uint8_t username_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01,
					       0x83, 0xbf, 0x30, 0x01, 0x07};
	struct der gn = {0}, on = {0}, v = {0}, u = {0};
	size_t len = strlen(id->san);

	switch (id->san_type) {
	case OIDC_SAN_EMAIL: der_tlv(&gn, 0x81, id->san, len); break;
	case OIDC_SAN_URI: der_tlv(&gn, 0x86, id->san, len); break;
	case OIDC_SAN_USERNAME:
		der_tlv(&u, 0x0c, id->san, len);
		der_tlv(&v, 0xa0, u.b, u.n);
		der_tlv(&on, 0x06, username_oid, sizeof(username_oid));
		der_raw(&on, v.b, v.n);
		der_tlv(&gn, 0xa0, on.b, on.n);
		break;
	}
	der_tlv(out, 0x30, gn.b, gn.n);
}

static bool run(const char *cmd)
{
	int rc = system(cmd);

	return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

static void write_pem(const char *path, const char *pem)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(pem, f);
	fclose(f);
}

static char *tmp_path(const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		abort();
	return p;
}

/* --- the leaf profile ---------------------------------------------------- */

struct ca_kind {
	const char *name;
	enum hsm_key_kind kind;
	bool pss;
	int sig_nid;
	int param_type; /* of both AlgorithmIdentifiers */
};

static const struct ca_kind ca_kinds[] = {
	{"P-256", HSM_KEY_EC_P256, false, NID_ecdsa_with_SHA256, V_ASN1_UNDEF},
	{"P-384", HSM_KEY_EC_P384, false, NID_ecdsa_with_SHA384, V_ASN1_UNDEF},
	{"RSA", HSM_KEY_RSA, false, NID_sha256WithRSAEncryption, V_ASN1_NULL},
	{"RSA-PSS", HSM_KEY_RSA, true, NID_rsassaPss, V_ASN1_SEQUENCE},
	{"Ed25519", HSM_KEY_ED25519, false, NID_ED25519, V_ASN1_UNDEF},
};

static struct hsm_signer *make_signer(const struct ca_kind *k)
{
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};

	if (k->pss) {
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		CHECK(hsm_softkey_from_pkey(key, HSM_RSA_PSS, "test pss CA", &s, &err) == FC_OK);
	} else {
		CHECK(hsm_softkey_generate(k->kind, &s, &err) == FC_OK);
	}
	if (s == NULL)
		fprintf(stderr, "  signer %s: %s\n", k->name, err.msg);
	return s;
}

/* Go's RSASSA-PSS-params for SHA-256 (crypto/x509 pssParametersSHA256). */
static const uint8_t go_pss_params[] = {
	0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48,
	0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
};

static void check_algor(const X509_ALGOR *alg, const struct ca_kind *k)
{
	const ASN1_OBJECT *obj = NULL;
	int ptype = -1;
	const void *pval = NULL;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	CHECK(OBJ_obj2nid(obj) == k->sig_nid);
	CHECK(ptype == k->param_type);
	if (k->param_type == V_ASN1_SEQUENCE) {
		const ASN1_STRING *s = pval;
		CHECK(s != NULL && (size_t)ASN1_STRING_length(s) == sizeof(go_pss_params) &&
		      memcmp(ASN1_STRING_get0_data(s), go_pss_params, sizeof(go_pss_params)) == 0);
	}
}

/* Check every field of leaf (already re-parsed from DER). */
static void check_leaf(X509 *leaf, const struct oidc_identity *id, EVP_PKEY *subject_key,
		       X509 *issuer, int64_t not_before, int validity_s, bool precert,
		       const struct ca_kind *k)
{
	static const uint8_t ku_der[] = {0x03, 0x02, 0x07, 0x80};
	static const uint8_t eku_der[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
					  0x01, 0x05, 0x05, 0x07, 0x03, 0x03};
	static const uint8_t null_der[] = {0x05, 0x00};
	const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	const ASN1_OCTET_STRING *issuer_skid = X509_get0_subject_key_id(issuer);
	const X509_ALGOR *tbs_alg = X509_get0_tbs_sigalg(leaf), *outer_alg = NULL;
	const ASN1_BIT_STRING *sig = NULL;
	unsigned char *name_der = NULL;
	uint8_t sha[20];
	struct der want = {0};
	char oid[128];
	size_t n_exts = 0, at = 0;
	int name_len;

	CHECK(X509_get_version(leaf) == X509_VERSION_3);
	/* serial: positive, non-zero, <= 159 bits */
	CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bits(bn) <= 159);
	BN_free(bn);
	/* validity */
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf), (time_t)not_before) == 0);
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), (time_t)(not_before + validity_s)) ==
	      0);
	/* empty subject, encoded as an empty SEQUENCE */
	CHECK(X509_NAME_entry_count(X509_get_subject_name(leaf)) == 0);
	name_len = i2d_X509_NAME(X509_get_subject_name(leaf), &name_der);
	CHECK(name_len == 2 && name_der[0] == 0x30 && name_der[1] == 0x00);
	OPENSSL_free(name_der);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(issuer)) == 0);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(leaf), subject_key) == 1);
	/* signature algorithm, both places */
	X509_get0_signature(&sig, &outer_alg, leaf);
	check_algor(tbs_alg, k);
	check_algor(outer_alg, k);
	CHECK(X509_ALGOR_cmp(tbs_alg, outer_alg) == 0);
	CHECK(X509_get_signature_nid(leaf) == k->sig_nid);
	CHECK(sig != NULL && (sig->flags & 0x07) == 0);

	/* extensions, in order */
	n_exts = 5 + id->n_extensions + (precert ? 1 : 0);
	CHECK((size_t)X509_get_ext_count(leaf) == n_exts);
	if ((size_t)X509_get_ext_count(leaf) != n_exts)
		return;

	X509_EXTENSION *e = X509_get_ext(leaf, (int)at++);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_key_usage);
	CHECK(ext_encoded_critical(e) == 1);
	CHECK(ext_value_is(e, ku_der, sizeof(ku_der)));

	e = X509_get_ext(leaf, (int)at++);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_ext_key_usage);
	CHECK(ext_encoded_critical(e) == 0);
	CHECK(ext_value_is(e, eku_der, sizeof(eku_der)));

	e = X509_get_ext(leaf, (int)at++);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_key_identifier);
	CHECK(ext_encoded_critical(e) == 0);
	key_sha1(subject_key, sha);
	memset(&want, 0, sizeof(want));
	der_tlv(&want, 0x04, sha, sizeof(sha));
	CHECK(ext_value_is(e, want.b, want.n));

	e = X509_get_ext(leaf, (int)at++);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_authority_key_identifier);
	CHECK(ext_encoded_critical(e) == 0);
	CHECK(issuer_skid != NULL);
	if (issuer_skid != NULL) {
		struct der kid = {0};
		der_tlv(&kid, 0x80, ASN1_STRING_get0_data(issuer_skid),
			(size_t)ASN1_STRING_length(issuer_skid));
		memset(&want, 0, sizeof(want));
		der_tlv(&want, 0x30, kid.b, kid.n);
		CHECK(ext_value_is(e, want.b, want.n));
	}

	e = X509_get_ext(leaf, (int)at++);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name);
	CHECK(ext_encoded_critical(e) == 1);
	memset(&want, 0, sizeof(want));
	expected_san(id, &want);
	CHECK(ext_value_is(e, want.b, want.n));

	for (size_t i = 0; i < id->n_extensions; i++) {
		const struct oidc_extension *ie = &id->extensions[i];
		e = X509_get_ext(leaf, (int)at++);
		oid_of(e, oid, sizeof(oid));
		CHECK_STR(oid, ie->oid);
		CHECK(ext_encoded_critical(e) == 0);
		memset(&want, 0, sizeof(want));
		if (ie->encoding == OIDC_EXT_RAW)
			der_raw(&want, ie->value, strlen(ie->value));
		else
			der_tlv(&want, 0x0c, ie->value, strlen(ie->value));
		CHECK(ext_value_is(e, want.b, want.n));
	}
	if (precert) {
		e = X509_get_ext(leaf, (int)at++);
		oid_of(e, oid, sizeof(oid));
		CHECK_STR(oid, "1.3.6.1.4.1.11129.2.4.3");
		CHECK(ext_encoded_critical(e) == 1);
		CHECK(ext_value_is(e, null_der, sizeof(null_der)));
	}
	CHECK(X509_get_ext_by_NID(leaf, NID_basic_constraints, -1) == -1);
	CHECK(X509_get_ext_by_NID(leaf, NID_ct_precert_poison, -1) ==
	      (precert ? (int)n_exts - 1 : -1));
	ERR_clear_error();
}

/* The leaf's SubjectPublicKeyInfo is byte for byte Go's encoding of the
 * client's key (EC points uncompressed, as Fulcio writes them). */
static void check_spki(X509 *leaf, EVP_PKEY *client_key)
{
	unsigned char *got = NULL, *want = NULL;
	int n_got = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &got);
	int n_want = go_spki(client_key, &want);

	CHECK(n_got > 0 && n_got == n_want && memcmp(got, want, (size_t)n_got) == 0);
	OPENSSL_free(got);
	OPENSSL_free(want);
}

/*
 * ca_cert_tbs_without on a signed precertificate: the TBS it returns is the
 * certificate's minus the poison and nothing else, and the certificate
 * itself is left as it was (same DER, signature still good), since it
 * takes the extension out and puts it back instead of copying.
 */
static void check_tbs_without(X509 *pre, EVP_PKEY *issuer_key)
{
	unsigned char *before = NULL, *after = NULL, *tbs_der = NULL;
	int n_before = i2d_X509(pre, &before), n_after, n_tbs;
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	struct fc_err err = {0};
	X509 *copy = X509_dup(pre);

	CHECK(ca_cert_tbs_without(pre, NID_ct_precert_poison, &tbs, &tbs_len, &err) == FC_OK);
	n_after = i2d_X509(pre, &after);
	CHECK(n_after == n_before && memcmp(before, after, (size_t)n_before) == 0);
	CHECK(X509_verify(pre, issuer_key) == 1);
	/* the oracle: a copy with the poison deleted */
	X509_EXTENSION_free(
		X509_delete_ext(copy, X509_get_ext_by_NID(copy, NID_ct_precert_poison, -1)));
	n_tbs = i2d_re_X509_tbs(copy, &tbs_der);
	CHECK(tbs != NULL && n_tbs > 0 && (size_t)n_tbs == tbs_len &&
	      memcmp(tbs, tbs_der, tbs_len) == 0);
	/* absent or twice: refused */
	CHECK(ca_cert_tbs_without(copy, NID_ct_precert_poison, &tbs_der, &tbs_len, &err) ==
	      FC_EINTERNAL);
	OPENSSL_free(tbs);
	OPENSSL_free(tbs_der);
	OPENSSL_free(before);
	OPENSSL_free(after);
	X509_free(copy);
}

static void test_leaf_profile(void)
{
	EVP_PKEY *client_keys[5] = {
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
		EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
		EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
	};
	const size_t n_keys = sizeof(client_keys) / sizeof(client_keys[0]);

	/* the last one keeps its point compressed (the leaf takes the other
	 * path of set_subject_key) */
	CHECK(EVP_PKEY_set_utf8_string_param(client_keys[4],
					     OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1);

	for (size_t k = 0; k < sizeof(ca_kinds) / sizeof(ca_kinds[0]); k++) {
		struct hsm_signer *signer = make_signer(&ca_kinds[k]);
		struct ca_chain *chain = NULL;
		struct fc_err err = {0};

		if (signer == NULL)
			continue;
		CHECK(ca_chain_make_ephemeral(signer, &chain, &err) == FC_OK);
		if (chain == NULL) {
			fprintf(stderr, "  ephemeral %s: %s\n", ca_kinds[k].name, err.msg);
			hsm_signer_free(signer);
			continue;
		}
		CHECK(ca_chain_check(chain, hsm_signer_public_key(signer), &err) == FC_OK);
		for (size_t i = 0; i < N_IDENTITIES; i++) {
			for (int pre = 0; pre < 2; pre++) {
				EVP_PKEY *ck = client_keys[(i + k) % n_keys];
				struct ca_leaf_params p = {
					.identity = &identities[i],
					.subject_key = ck,
					.issuer = chain->certs[0],
					.not_before = fc_now(),
					.validity_s = CA_DEFAULT_VALIDITY_S,
					.precert = pre == 1,
				};
				X509 *leaf = NULL, *parsed;

				memset(&err, 0, sizeof(err));
				CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
				if (leaf == NULL) {
					fprintf(stderr, "  leaf %s/%zu: %s\n", ca_kinds[k].name, i,
						err.msg);
					continue;
				}
				CHECK(ca_cert_sign(leaf, signer, NULL, &err) == FC_OK);
				CHECK(X509_verify(leaf, hsm_signer_public_key(signer)) == 1);
				/* the encoding that goes out is the TBS that was signed */
				parsed = reparse(leaf);
				CHECK(parsed != NULL);
				if (parsed != NULL) {
					CHECK(X509_verify(parsed, hsm_signer_public_key(signer)) ==
					      1);
					check_leaf(parsed, &identities[i], ck, chain->certs[0],
						   p.not_before, p.validity_s, p.precert,
						   &ca_kinds[k]);
					check_spki(parsed, ck);
				}
				X509_free(parsed);
				if (pre == 1)
					check_tbs_without(leaf, hsm_signer_public_key(signer));
				X509_free(leaf);
			}
		}
		ca_chain_free(chain);
		hsm_signer_free(signer);
	}
	for (size_t i = 0; i < n_keys; i++)
		EVP_PKEY_free(client_keys[i]);
}

/* --- the ephemeral root ------------------------------------------------------ */

static void test_ephemeral_root(void)
{
	static const uint8_t ku_der[] = {0x03, 0x02, 0x01, 0x06};
	static const uint8_t bc_der[] = {0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x01};
	struct hsm_signer *s = NULL;
	struct ca_chain *c = NULL;
	struct fc_err err = {0};
	X509 *root;
	X509_NAME *subj;
	X509_NAME_ENTRY *ne;
	int64_t now = fc_now();
	struct tm tm;
	time_t t;
	uint8_t sha[20];

	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &s, &err) == FC_OK);
	CHECK(ca_chain_make_ephemeral(s, &c, &err) == FC_OK);
	if (c == NULL) {
		hsm_signer_free(s);
		return;
	}
	CHECK(c->n == 1);
	root = reparse(c->certs[0]);
	CHECK(root != NULL);
	if (root == NULL)
		goto out;
	CHECK(X509_verify(root, hsm_signer_public_key(s)) == 1);
	CHECK(X509_get_version(root) == X509_VERSION_3);
	subj = X509_get_subject_name(root);
	CHECK(X509_NAME_entry_count(subj) == 2);
	ne = X509_NAME_get_entry(subj, 0);
	CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_organizationName);
	CHECK(ASN1_STRING_type(X509_NAME_ENTRY_get_data(ne)) == V_ASN1_PRINTABLESTRING);
	CHECK_STR((const char *)ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(ne)),
		  "sigstore.dev");
	ne = X509_NAME_get_entry(subj, 1);
	CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_commonName);
	CHECK_STR((const char *)ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(ne)),
		  "fulcrum ephemeral CA");
	CHECK(X509_NAME_cmp(subj, X509_get_issuer_name(root)) == 0);
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(root), (time_t)now) <= 0);
	t = (time_t)now;
	gmtime_r(&t, &tm);
	tm.tm_year += 10;
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(root), timegm(&tm)) >= 0);
	CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(root), timegm(&tm) + 5) <= 0);
	CHECK(X509_get_ext_count(root) == 3);
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(root, 0))) == NID_key_usage);
	CHECK(ext_encoded_critical(X509_get_ext(root, 0)) == 1);
	CHECK(ext_value_is(X509_get_ext(root, 0), ku_der, sizeof(ku_der)));
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(root, 1))) ==
	      NID_basic_constraints);
	CHECK(ext_encoded_critical(X509_get_ext(root, 1)) == 1);
	CHECK(ext_value_is(X509_get_ext(root, 1), bc_der, sizeof(bc_der)));
	CHECK(OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(root, 2))) ==
	      NID_subject_key_identifier);
	CHECK(ext_encoded_critical(X509_get_ext(root, 2)) == 0);
	key_sha1(hsm_signer_public_key(s), sha);
	CHECK(X509_get0_subject_key_id(root) != NULL &&
	      ASN1_STRING_length(X509_get0_subject_key_id(root)) == 20 &&
	      memcmp(ASN1_STRING_get0_data(X509_get0_subject_key_id(root)), sha, 20) == 0);
	CHECK(X509_check_ca(root) >= 1);
	CHECK(X509_get_signature_nid(root) == NID_ecdsa_with_SHA256);
	CHECK(X509_get_ext_by_NID(root, NID_authority_key_identifier, -1) == -1);
	/* the chain's PEM is the certificate's */
	{
		char *pem = ca_cert_pem(c->certs[0], false);
		CHECK_STR(c->pem[0], pem);
		free(pem);
	}
	X509_free(root);
out:
	ca_chain_free(c);
	hsm_signer_free(s);
}

/* --- refusals and seams ------------------------------------------------------ */

static enum fc_status rand_ff(uint8_t *buf, size_t n)
{
	memset(buf, 0xff, n);
	return FC_OK;
}

static int zero_calls;
static enum fc_status rand_zero_then_ff(uint8_t *buf, size_t n)
{
	memset(buf, zero_calls++ < 3 ? 0x00 : 0xff, n);
	return FC_OK;
}

static enum fc_status rand_zero(uint8_t *buf, size_t n)
{
	memset(buf, 0, n);
	return FC_OK;
}

static void test_leaf_refusals(struct hsm_signer *signer, X509 *issuer)
{
	EVP_PKEY *ck = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct oidc_extension dup_exts[] = {
		EXT(SIGSTORE(1), "https://a.example", OIDC_EXT_RAW),
		EXT(SIGSTORE(1), "https://b.example", OIDC_EXT_RAW),
	};
	struct oidc_extension san_dup[] = {EXT("2.5.29.17", "x", OIDC_EXT_RAW)};
	struct oidc_extension bad_oid[] = {EXT("not-an-oid", "x", OIDC_EXT_RAW)};
	struct oidc_extension bad_utf8[] = {EXT(SIGSTORE(8), "caf\xe9", OIDC_EXT_UTF8)};
	struct oidc_extension surrogate[] = {EXT(SIGSTORE(8), "\xed\xa0\x80", OIDC_EXT_UTF8)};
	struct oidc_extension overlong[] = {EXT(SIGSTORE(8), "\xc0\xaf", OIDC_EXT_UTF8)};
	struct oidc_extension raw_binary[] = {EXT(SIGSTORE(1), "caf\xe9", OIDC_EXT_RAW)};
	struct oidc_extension with_empty[] = {
		EXT(SIGSTORE(1), "https://a.example", OIDC_EXT_RAW),
		EXT(SIGSTORE(2), "", OIDC_EXT_RAW),
		EXT(SIGSTORE(8), "https://a.example", OIDC_EXT_UTF8),
	};
	struct {
		enum oidc_san_type type;
		const char *san;
		struct oidc_extension *exts;
		size_t n;
		enum fc_status want;
		const char *msg;
	} cases[] = {
		{OIDC_SAN_EMAIL, "zo\xc3\xab@example.com", NULL, 0, FC_EINPUT, "IA5String"},
		{OIDC_SAN_URI, "https://example.com/\xc3\xa9", NULL, 0, FC_EINPUT, "IA5String"},
		{OIDC_SAN_USERNAME, "bad\xff!example.com", NULL, 0, FC_EINPUT, "not valid UTF-8"},
		{OIDC_SAN_EMAIL, "", NULL, 0, FC_EINPUT, "empty SAN"},
		{OIDC_SAN_EMAIL, "a@example.com", dup_exts, 2, FC_EINPUT, "appears twice"},
		{OIDC_SAN_EMAIL, "a@example.com", san_dup, 1, FC_EINPUT, "2.5.29.17 appears twice"},
		{OIDC_SAN_EMAIL, "a@example.com", bad_oid, 1, FC_EINPUT, "not a dotted OID"},
		{OIDC_SAN_EMAIL, "a@example.com", bad_utf8, 1, FC_EINPUT, "not valid UTF-8"},
		{OIDC_SAN_EMAIL, "a@example.com", surrogate, 1, FC_EINPUT, "not valid UTF-8"},
		{OIDC_SAN_EMAIL, "a@example.com", overlong, 1, FC_EINPUT, "not valid UTF-8"},
		{OIDC_SAN_EMAIL, "a@example.com", raw_binary, 1, FC_OK, NULL},
		{OIDC_SAN_EMAIL, "a@example.com", with_empty, 3, FC_OK, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct oidc_identity id = {.san_type = cases[i].type,
					   .san = (char *)cases[i].san,
					   .extensions = cases[i].exts,
					   .n_extensions = cases[i].n};
		struct ca_leaf_params p = {.identity = &id,
					   .subject_key = ck,
					   .issuer = issuer,
					   .not_before = fc_now(),
					   .validity_s = 600};
		struct fc_err err = {0};
		X509 *leaf = NULL;

		CHECK(ca_leaf_build(&p, &leaf, &err) == cases[i].want);
		if (cases[i].want != FC_OK) {
			CHECK(leaf == NULL);
			CHECK(err.status == cases[i].want);
			CHECK_CONTAINS(err.msg, cases[i].msg);
		} else {
			CHECK(leaf != NULL);
		}
		if (leaf != NULL && cases[i].exts == with_empty) {
			/* the empty value is not emitted (Fulcio never emits one) */
			CHECK(X509_get_ext_count(leaf) == 5 + 2);
			ASN1_OBJECT *o2 = OBJ_txt2obj(SIGSTORE(2), 1);
			CHECK(X509_get_ext_by_OBJ(leaf, o2, -1) == -1);
			ASN1_OBJECT_free(o2);
		}
		X509_free(leaf);
	}
	ERR_clear_error();

	/* serials: top bit cleared, never zero; the seam decides */
	{
		struct ca_leaf_params p = {.identity = &identities[0],
					   .subject_key = ck,
					   .issuer = issuer,
					   .not_before = fc_now(),
					   .validity_s = 60};
		struct fc_err err = {0};
		X509 *leaf = NULL;
		BIGNUM *bn;

		fc_set_rand_fn(rand_ff);
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
		bn = leaf ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL) : NULL;
		CHECK(bn != NULL && BN_num_bits(bn) == 159 && !BN_is_negative(bn));
		/* DER: 20 content octets, no leading 00 */
		CHECK(leaf != NULL && ASN1_STRING_length(X509_get0_serialNumber(leaf)) == 20);
		BN_free(bn);
		X509_free(leaf);
		leaf = NULL;

		zero_calls = 0;
		fc_set_rand_fn(rand_zero_then_ff);
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
		CHECK(zero_calls == 4);
		bn = leaf ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL) : NULL;
		CHECK(bn != NULL && !BN_is_zero(bn));
		BN_free(bn);
		X509_free(leaf);
		leaf = NULL;

		fc_set_rand_fn(rand_zero);
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_EINTERNAL);
		CHECK(leaf == NULL);
		CHECK_CONTAINS(err.msg, "serial");
		fc_set_rand_fn(NULL);

		/* validity out of range */
		memset(&err, 0, sizeof(err));
		p.validity_s = 0;
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_EINTERNAL);
		CHECK(leaf == NULL);
	}

	/* issuer without SKID: no AKID */
	{
		X509 *bare = X509_new();
		EVP_PKEY *bk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		struct ca_leaf_params p = {.identity = &identities[0],
					   .subject_key = ck,
					   .issuer = bare,
					   .not_before = fc_now(),
					   .validity_s = 60};
		struct fc_err err = {0};
		X509 *leaf = NULL;

		X509_set_version(bare, X509_VERSION_3);
		X509_NAME_add_entry_by_txt(X509_get_subject_name(bare), "CN", MBSTRING_ASC,
					   (const unsigned char *)"No SKID", -1, -1, 0);
		X509_set_pubkey(bare, bk);
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
		CHECK(leaf != NULL &&
		      X509_get_ext_by_NID(leaf, NID_authority_key_identifier, -1) == -1);
		CHECK(leaf != NULL &&
		      X509_get_ext_count(leaf) == 4 + (int)identities[0].n_extensions);
		X509_free(leaf);
		X509_free(bare);
		EVP_PKEY_free(bk);
		ERR_clear_error();
	}
	(void)signer;
	EVP_PKEY_free(ck);
}

/* A backend that signs with another signer's key, or fails. */
struct bad_backend {
	struct hsm_signer *other;
	enum fc_status fail;
};

static enum fc_status bad_sign(void *impl, const uint8_t *m, size_t len, uint8_t **sig,
			       size_t *sig_len, struct fc_err *err)
{
	struct bad_backend *b = impl;

	if (b->fail != FC_OK)
		return fc_err_set(err, b->fail, "test: token removed");
	return hsm_sign(b->other, m, len, sig, sig_len, err);
}

static void bad_close(void *impl)
{
	struct bad_backend *b = impl;

	hsm_signer_free(b->other);
	free(b);
}

/* A device fulcrum does not control, as a PKCS#11 token is: hsm/ verifies
 * what it returns. */
static const struct hsm_ops bad_ops = {.sign = bad_sign, .close = bad_close, .verify_output = true};

static void test_sign_failures(X509 *issuer)
{
	EVP_PKEY *pub = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ck = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct bad_backend *b = calloc(1, sizeof(*b));
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};
	struct ca_leaf_params p = {.identity = &identities[0],
				   .subject_key = ck,
				   .issuer = issuer,
				   .not_before = fc_now(),
				   .validity_s = 60};
	X509 *leaf = NULL;

	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &b->other, &err) == FC_OK);
	CHECK(hsm_signer_new(&bad_ops, b, pub, HSM_RSA_PKCS1, "wrong-key HSM", &s, &err) == FC_OK);
	CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
	/* a signature that does not verify never makes a certificate */
	CHECK(ca_cert_sign(leaf, s, NULL, &err) == FC_EHSM);
	CHECK_CONTAINS(err.msg, "does not verify");
	CHECK_CONTAINS(err.msg, "wrong-key HSM");
	/* the backend's status passes through */
	b->fail = FC_EUNAVAIL;
	memset(&err, 0, sizeof(err));
	CHECK(ca_cert_sign(leaf, s, NULL, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "token removed");
	X509_free(leaf);
	hsm_signer_free(s);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ck);
	ERR_clear_error();
}

/* --- chains built here with OpenSSL alone ---------------------------------- */

struct ca_opts {
	const char *cn;
	const char *bc;	 /* BasicConstraints conf, NULL = none */
	const char *ku;	 /* KeyUsage conf, NULL = none */
	const char *eku; /* ExtKeyUsage conf, NULL = none */
	bool skid;
	long nb_off, na_off; /* seconds from now */
};

static void add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);

	CHECK(ext != NULL);
	CHECK(X509_add_ext(x, ext, -1) == 1);
	X509_EXTENSION_free(ext);
}

/* A CA certificate for key, issued by issuer (NULL: self-signed) and
 * signed with sign_key (X509_sign, independent of cert.c). */
static X509 *make_ca(const struct ca_opts *o, EVP_PKEY *key, X509 *issuer, EVP_PKEY *sign_key)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	static long next_serial = 1000;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(serial, next_serial++);
	X509_set_serialNumber(x, serial);
	ASN1_INTEGER_free(serial);
	if (o->cn != NULL) /* NULL: an empty subject */
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					   (const unsigned char *)o->cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_time_adj_ex(X509_getm_notBefore(x), 0, o->nb_off, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, o->na_off, NULL);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (o->bc)
		add_conf_ext(x, &ctx, NID_basic_constraints, o->bc);
	if (o->ku)
		add_conf_ext(x, &ctx, NID_key_usage, o->ku);
	if (o->eku)
		add_conf_ext(x, &ctx, NID_ext_key_usage, o->eku);
	if (o->skid)
		add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	CHECK(X509_sign(x, sign_key, EVP_sha256()) > 0);
	return x;
}

static struct ca_chain *chain_of(X509 *a, X509 *b)
{
	X509 *certs[2] = {a, b};

	X509_up_ref(a);
	if (b != NULL)
		X509_up_ref(b);
	return ca_chain_from_certs(certs, b != NULL ? 2 : 1);
}

static const struct ca_opts root_opts = {"Test Root",
					 "critical,CA:TRUE,pathlen:1",
					 "critical,keyCertSign,cRLSign",
					 NULL,
					 true,
					 -3600,
					 86400 * 365};
static const struct ca_opts inter_opts = {"Test Intermediate",
					  "critical,CA:TRUE,pathlen:0",
					  "critical,keyCertSign,cRLSign",
					  "codeSigning",
					  true,
					  -3600,
					  86400 * 180};

static void expect_refused(struct ca_chain *c, EVP_PKEY *pub, const char *want)
{
	struct fc_err err = {0};

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(ca_chain_check(c, pub, &err) == FC_ECONFIG);
	CHECK(err.status == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, want);
	ca_chain_free(c);
}

static void test_chain_check(void)
{
	EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *root = make_ca(&root_opts, root_key, NULL, root_key);
	X509 *inter = make_ca(&inter_opts, inter_key, root, root_key);
	struct ca_opts o;
	struct fc_err err = {0};
	struct ca_chain *c;
	X509 *bad;

	/* good: root + intermediate */
	c = chain_of(inter, root);
	CHECK(ca_chain_check(c, inter_key, &err) == FC_OK);
	if (err.status != FC_OK)
		fprintf(stderr, "  good chain: %s\n", err.msg);
	ca_chain_free(c);
	/* good: the root alone, signing itself */
	c = chain_of(root, NULL);
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_check(c, root_key, &err) == FC_OK);
	ca_chain_free(c);
	/* good: intermediate without EKU (Fulcio refuses; logged) */
	o = inter_opts;
	o.eku = NULL;
	bad = make_ca(&o, inter_key, root, root_key);
	c = chain_of(bad, root);
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_check(c, inter_key, &err) == FC_OK);
	ca_chain_free(c);
	X509_free(bad);

	/* a root with an empty subject (and so an empty issuer) */
	o = root_opts;
	o.cn = NULL;
	bad = make_ca(&o, root_key, NULL, root_key);
	expect_refused(
		chain_of(bad, NULL), root_key,
		"chain: certificate 1 (empty subject): its subject is empty (RFC 5280 4.1.2.6)");
	X509_free(bad);

	/* key mismatch */
	expect_refused(chain_of(inter, root), other_key,
		       "chain: certificate 1 (CN=Test Intermediate): its public key is not the "
		       "signer's key");
	/* wrong order */
	expect_refused(
		chain_of(root, inter), root_key,
		"certificate 1 (CN=Test Root): its issuer is not the subject of certificate 2");

#define REFUSE_INTER(field, value, want)                                                           \
	do {                                                                                       \
		o = inter_opts;                                                                    \
		o.field = value;                                                                   \
		bad = make_ca(&o, inter_key, root, root_key);                                      \
		expect_refused(chain_of(bad, root), inter_key, want);                              \
		X509_free(bad);                                                                    \
	} while (0)

	REFUSE_INTER(
		bc, "CA:TRUE,pathlen:0",
		"chain: certificate 1 (CN=Test Intermediate): BasicConstraints is not critical");
	REFUSE_INTER(bc, "critical,CA:FALSE",
		     "chain: certificate 1 (CN=Test Intermediate): BasicConstraints has CA:FALSE");
	REFUSE_INTER(bc, NULL, "certificate 1 (CN=Test Intermediate): no BasicConstraints");
	REFUSE_INTER(ku, "critical,digitalSignature,cRLSign",
		     "certificate 1 (CN=Test Intermediate): KeyUsage lacks keyCertSign");
	REFUSE_INTER(ku, NULL, "certificate 1 (CN=Test Intermediate): no KeyUsage");
	REFUSE_INTER(eku, "serverAuth",
		     "certificate 1 (CN=Test Intermediate): ExtKeyUsage does not include "
		     "codeSigning");
	REFUSE_INTER(eku, "anyExtendedKeyUsage",
		     "certificate 1 (CN=Test Intermediate): ExtKeyUsage does not include "
		     "codeSigning");
	REFUSE_INTER(na_off, -60, "certificate 1 (CN=Test Intermediate): expired at");
	REFUSE_INTER(nb_off, 3600, "certificate 1 (CN=Test Intermediate): not valid before");
#undef REFUSE_INTER

	/* broken signature link: names and AKID match, the key does not */
	bad = make_ca(&inter_opts, inter_key, root, other_key);
	expect_refused(chain_of(bad, root), inter_key,
		       "certificate 1 (CN=Test Intermediate): its signature does not verify with "
		       "the key of certificate 2");
	X509_free(bad);
	/* last certificate not self-signed */
	expect_refused(chain_of(inter, NULL), inter_key,
		       "certificate 1 (CN=Test Intermediate): the last certificate must be a "
		       "self-signed root");
	/* root problems: expired, pathlen too small, non-critical BC */
	{
		X509 *r2, *i2;
		o = root_opts;
		o.na_off = -1;
		o.nb_off = -7200;
		r2 = make_ca(&o, root_key, NULL, root_key);
		i2 = make_ca(&inter_opts, inter_key, r2, root_key);
		expect_refused(chain_of(i2, r2), inter_key,
			       "certificate 2 (CN=Test Root): expired at");
		X509_free(r2);
		X509_free(i2);

		o = root_opts;
		o.bc = "critical,CA:TRUE,pathlen:0";
		r2 = make_ca(&o, root_key, NULL, root_key);
		i2 = make_ca(&inter_opts, inter_key, r2, root_key);
		expect_refused(chain_of(i2, r2), inter_key,
			       "certificate 2 (CN=Test Root): BasicConstraints pathlen 0");
		X509_free(r2);
		X509_free(i2);

		/* a root whose self-signature is broken */
		o = root_opts;
		r2 = make_ca(&o, root_key, NULL, other_key);
		expect_refused(chain_of(r2, NULL), root_key,
			       "certificate 1 (CN=Test Root): its self-signature does not verify");
		X509_free(r2);
	}
	/* AKID that names another key */
	{
		X509 *r2 = make_ca(&root_opts, other_key, NULL, other_key);
		X509 *i2 = make_ca(&inter_opts, inter_key, r2, root_key);
		/* i2: issuer name "Test Root" and AKID of other_key's root */
		expect_refused(chain_of(i2, root), inter_key,
			       "certificate 1 (CN=Test Intermediate): its AuthorityKeyId is not "
			       "the SubjectKeyId of the next certificate");
		X509_free(r2);
		X509_free(i2);
	}
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_check(NULL, inter_key, &err) == FC_ECONFIG);

	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(other_key);
	ERR_clear_error();
}

/* --- PEM --------------------------------------------------------------- */

static void test_pem(void)
{
	EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *root = make_ca(&root_opts, root_key, NULL, root_key);
	X509 *inter = make_ca(&inter_opts, inter_key, root, root_key);
	char *root_pem = ca_cert_pem(root, false);
	char *inter_pem = ca_cert_pem(inter, false);
	char *trimmed = ca_cert_pem(inter, true);
	size_t tlen = trimmed ? strlen(trimmed) : 0;
	struct ca_chain *c = NULL;
	struct fc_err err = {0};
	char *text = NULL, *path;
	EVP_PKEY *ek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio;
	char *key_pem = NULL;
	long key_len;

	CHECK(root_pem != NULL && inter_pem != NULL && trimmed != NULL);
	if (root_pem == NULL || inter_pem == NULL || trimmed == NULL)
		goto out;
	/* trimmed: no final newline; untrimmed: exactly one more "\n" */
	CHECK(tlen > 30 && strcmp(trimmed + tlen - 25, "-----END CERTIFICATE-----") == 0);
	CHECK(strlen(inter_pem) == tlen + 1 && inter_pem[tlen] == '\n' &&
	      strncmp(inter_pem, trimmed, tlen) == 0);
	CHECK(strncmp(inter_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);

	/* round trip, with CRLF and blank lines around */
	if (asprintf(&text, "\n%s\r\n%s\n\n", inter_pem, root_pem) < 0)
		abort();
	CHECK(ca_chain_load_pem(text, strlen(text), "test chain", &c, &err) == FC_OK);
	CHECK(c != NULL && c->n == 2);
	if (c != NULL && c->n == 2) {
		CHECK(X509_cmp(c->certs[0], inter) == 0);
		CHECK(X509_cmp(c->certs[1], root) == 0);
		CHECK_STR(c->pem[0], inter_pem);
		CHECK_STR(c->pem[1], root_pem);
		CHECK(ca_chain_check(c, inter_key, &err) == FC_OK);
	}
	ca_chain_free(c);
	c = NULL;
	free(text);
	/* trimmed form is accepted too */
	CHECK(ca_chain_load_pem(trimmed, tlen, "trimmed", &c, &err) == FC_OK);
	ca_chain_free(c);
	c = NULL;

	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, ek, NULL, NULL, 0, NULL, NULL);
	key_len = BIO_get_mem_data(bio, &key_pem);

	struct {
		const char *a, *b;
		const char *want;
	} bad[] = {
		{inter_pem, "junk\n", "unexpected text at byte"},
		{"# a comment\n", inter_pem, "unexpected text at byte 0"},
		{"", "", "no certificate"},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n", "", "has no END line"},
		{"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "",
		 "certificate 1: malformed PEM"},
		{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "",
		 "certificate 1: not a DER X.509 certificate"},
		{"-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n",
		 "", "block 1 is \"TRUSTED CERTIFICATE\", not CERTIFICATE"},
		{"-----BEGIN -----\n", "", "malformed PEM BEGIN line"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (asprintf(&text, "%s%s", bad[i].a, bad[i].b) < 0)
			abort();
		memset(&err, 0, sizeof(err));
		CHECK(ca_chain_load_pem(text, strlen(text), "bad", &c, &err) == FC_ECONFIG);
		CHECK(c == NULL);
		CHECK_CONTAINS(err.msg, bad[i].want);
		CHECK_CONTAINS(err.msg, "chain: bad: ");
		free(text);
	}
	/* a private key in a chain file */
	if (asprintf(&text, "%s%.*s", inter_pem, (int)key_len, key_pem) < 0)
		abort();
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_load_pem(text, strlen(text), "bad", &c, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "block 2 is \"PRIVATE KEY\", not CERTIFICATE");
	free(text);
	BIO_free(bio);
	/* 8 certificates load, 9 do not */
	{
		struct fc_buf b;
		fc_buf_init(&b, 0);
		for (int i = 0; i < 8; i++)
			fc_buf_append_str(&b, root_pem);
		memset(&err, 0, sizeof(err));
		CHECK(ca_chain_load_pem((const char *)b.data, b.len, "eight", &c, &err) == FC_OK);
		CHECK(c != NULL && c->n == 8);
		ca_chain_free(c);
		c = NULL;
		fc_buf_append_str(&b, root_pem);
		memset(&err, 0, sizeof(err));
		CHECK(ca_chain_load_pem((const char *)b.data, b.len, "nine", &c, &err) ==
		      FC_ECONFIG);
		CHECK_CONTAINS(err.msg, "more than 8 certificates");
		fc_buf_free(&b);
	}
	/* from a file; a missing file */
	path = tmp_path("chain.pem");
	if (asprintf(&text, "%s%s", inter_pem, root_pem) < 0)
		abort();
	write_pem(path, text);
	free(text);
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_load_file(path, &c, &err) == FC_OK);
	CHECK(c != NULL && c->n == 2);
	ca_chain_free(c);
	c = NULL;
	unlink(path);
	free(path);
	memset(&err, 0, sizeof(err));
	CHECK(ca_chain_load_file("/nonexistent/chain.pem", &c, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "/nonexistent/chain.pem");
	CHECK(ca_cert_pem(NULL, true) == NULL);
out:
	free(root_pem);
	free(inter_pem);
	free(trimmed);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(ek);
	ERR_clear_error();
}

/* --- an outside verifier: the openssl CLI -------------------------------- */

static void test_openssl_cli(void)
{
	EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ck = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *root = make_ca(&root_opts, root_key, NULL, root_key);
	X509 *inter = make_ca(&inter_opts, inter_key, root, root_key);
	char *root_path = tmp_path("root.pem"), *inter_path = tmp_path("intermediate.pem");
	char *leaf_path = tmp_path("leaf.pem");
	char *pem, *cmd = NULL;
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};

	pem = ca_cert_pem(root, false);
	write_pem(root_path, pem);
	free(pem);
	pem = ca_cert_pem(inter, false);
	write_pem(inter_path, pem);
	free(pem);

	/* leaves of each SAN type, issued by the intermediate's key */
	EVP_PKEY_up_ref(inter_key);
	CHECK(hsm_softkey_from_pkey(inter_key, HSM_RSA_PKCS1, "intermediate", &s, &err) == FC_OK);
	for (size_t i = 0; s != NULL && i < N_IDENTITIES; i++) {
		struct ca_leaf_params p = {.identity = &identities[i],
					   .subject_key = ck,
					   .issuer = inter,
					   .not_before = fc_now() - 1,
					   .validity_s = 600};
		X509 *leaf = NULL;

		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
		CHECK(ca_cert_sign(leaf, s, NULL, &err) == FC_OK);
		pem = ca_cert_pem(leaf, true);
		write_pem(leaf_path, pem);
		free(pem);
		if (asprintf(&cmd,
			     "openssl verify -x509_strict -CAfile %s -untrusted %s %s >/dev/null "
			     "2>&1",
			     root_path, inter_path, leaf_path) < 0)
			abort();
		CHECK(run(cmd));
		free(cmd);
		if (asprintf(&cmd, "openssl x509 -noout -text -in %s >/dev/null 2>&1", leaf_path) <
		    0)
			abort();
		CHECK(run(cmd));
		free(cmd);
		X509_free(leaf);
	}
	hsm_signer_free(s);
	s = NULL;

	/* each CA kind's ephemeral root verifies its leaf */
	for (size_t k = 0; k < sizeof(ca_kinds) / sizeof(ca_kinds[0]); k++) {
		struct hsm_signer *cs = make_signer(&ca_kinds[k]);
		struct ca_chain *c = NULL;
		struct ca_leaf_params p = {.identity = &identities[k % N_IDENTITIES],
					   .subject_key = ck,
					   .not_before = fc_now() - 1,
					   .validity_s = 600};
		X509 *leaf = NULL;

		if (cs == NULL || ca_chain_make_ephemeral(cs, &c, &err) != FC_OK) {
			CHECK(0);
			hsm_signer_free(cs);
			continue;
		}
		p.issuer = c->certs[0];
		write_pem(root_path, c->pem[0]);
		CHECK(ca_leaf_build(&p, &leaf, &err) == FC_OK);
		CHECK(ca_cert_sign(leaf, cs, NULL, &err) == FC_OK);
		pem = ca_cert_pem(leaf, false);
		write_pem(leaf_path, pem);
		free(pem);
		if (asprintf(&cmd, "openssl verify -x509_strict -CAfile %s %s >/dev/null 2>&1",
			     root_path, leaf_path) < 0)
			abort();
		CHECK(run(cmd));
		if (!run(cmd))
			fprintf(stderr, "  openssl verify failed for CA kind %s\n",
				ca_kinds[k].name);
		free(cmd);
		X509_free(leaf);
		ca_chain_free(c);
		hsm_signer_free(cs);
	}

	unlink(root_path);
	unlink(inter_path);
	unlink(leaf_path);
	free(root_path);
	free(inter_path);
	free(leaf_path);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(ck);
}

int main(void)
{
	struct hsm_signer *s = NULL;
	struct ca_chain *c = NULL;
	struct fc_err err = {0};

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	fc_log_set_level(LOG_ERR);
	test_leaf_profile();
	test_ephemeral_root();
	if (hsm_softkey_generate(HSM_KEY_EC_P256, &s, &err) == FC_OK &&
	    ca_chain_make_ephemeral(s, &c, &err) == FC_OK) {
		test_leaf_refusals(s, c->certs[0]);
		test_sign_failures(c->certs[0]);
	} else {
		CHECK(0);
	}
	ca_chain_free(c);
	hsm_signer_free(s);
	test_chain_check();
	test_pem();
	test_openssl_cli();
	rmdir(tmpdir);
	return check_exit();
}
