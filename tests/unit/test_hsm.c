/*
 * Unit tests for hsm/: the signer (its self-test included) and the softkey
 * backend. Signatures are checked independently with EVP_DigestVerify on
 * the public key; PEM fixtures are written at test time with OpenSSL's own
 * writers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "check.h"
#include "hsm.h"

static char tmpdir[] = "/tmp/fulcrum-test-hsm-XXXXXX";

static const char msg[] = "the TBSCertificate bytes";

/* Verify sig over msg with key using md and padding, independently of hsm/. */
static bool verify_sig(EVP_PKEY *key, const EVP_MD *md, int padding, const uint8_t *sig,
		       size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) != 1)
		goto out;
	if (padding == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)msg, sizeof(msg) - 1) == 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* True if key holds no private half (the signer's public key must not). */
static bool is_public_only(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PrivateKey(key, &der);

	OPENSSL_free(der);
	ERR_clear_error();
	return len <= 0;
}

struct kind_case {
	enum hsm_key_kind kind;
	const char *md; /* NULL = pure */
	int sig_nid;
	int pkey_id;
};

static const struct kind_case kinds[] = {
	{HSM_KEY_EC_P256, "SHA256", NID_ecdsa_with_SHA256, EVP_PKEY_EC},
	{HSM_KEY_EC_P384, "SHA384", NID_ecdsa_with_SHA384, EVP_PKEY_EC},
	{HSM_KEY_EC_P521, "SHA512", NID_ecdsa_with_SHA512, EVP_PKEY_EC},
	{HSM_KEY_RSA, "SHA256", NID_sha256WithRSAEncryption, EVP_PKEY_RSA},
	{HSM_KEY_ED25519, NULL, NID_ED25519, EVP_PKEY_ED25519},
};

static void test_generate_and_sign(void)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_case *kc = &kinds[i];
		struct fc_err err = {0};
		struct hsm_signer *s = NULL;
		uint8_t *sig = NULL;
		size_t sig_len = 0;
		const EVP_MD *md = kc->md ? EVP_get_digestbyname(kc->md) : NULL;

		CHECK(hsm_softkey_generate(kc->kind, &s, &err) == FC_OK);
		if (s == NULL) {
			fprintf(stderr, "  generate %d: %s\n", (int)kc->kind, err.msg);
			continue;
		}
		CHECK(hsm_signer_kind(s) == kc->kind);
		CHECK(hsm_signer_signature_nid(s) == kc->sig_nid);
		CHECK(hsm_signer_digest(s) == NULL
			      ? md == NULL
			      : md != NULL && EVP_MD_get_type(hsm_signer_digest(s)) ==
						      EVP_MD_get_type(md));
		CHECK(hsm_signer_ready(s));
		CHECK(hsm_signer_self_test(s, &err) == FC_OK);
		CHECK(EVP_PKEY_get_base_id(hsm_signer_public_key(s)) == kc->pkey_id);
		CHECK(is_public_only(hsm_signer_public_key(s)));
		CHECK_CONTAINS(hsm_signer_description(s), "ephemeral");
		if (kc->kind == HSM_KEY_RSA)
			CHECK(EVP_PKEY_get_bits(hsm_signer_public_key(s)) == 3072);
		CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) ==
		      FC_OK);
		CHECK(sig != NULL && sig_len > 0);
		CHECK(verify_sig(hsm_signer_public_key(s), md, RSA_PKCS1_PADDING, sig, sig_len));
		if (kc->pkey_id == EVP_PKEY_EC) {
			/* DER ECDSA-Sig-Value, not raw r||s */
			const unsigned char *p = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
			CHECK(es != NULL && p == sig + sig_len);
			ECDSA_SIG_free(es);
		}
		if (kc->kind == HSM_KEY_ED25519)
			CHECK(sig_len == 64);
		/* a different message must not verify */
		if (sig_len > 0) {
			sig[sig_len / 2] ^= 0x01;
			CHECK(!verify_sig(hsm_signer_public_key(s), md, RSA_PKCS1_PADDING, sig,
					  sig_len));
		}
		free(sig);
		hsm_signer_free(s);
	}
}

static void test_pss(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct fc_err err = {0};
	struct hsm_signer *s = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	CHECK(key != NULL);
	CHECK(hsm_softkey_from_pkey(key, HSM_RSA_PSS, "test pss", &s, &err) == FC_OK);
	if (s == NULL)
		return;
	CHECK(hsm_signer_signature_nid(s) == NID_rsassaPss);
	CHECK(EVP_MD_get_type(hsm_signer_digest(s)) == NID_sha256);
	CHECK_STR(hsm_signer_description(s), "test pss");
	CHECK(hsm_signer_self_test(s, &err) == FC_OK);
	CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) == FC_OK);
	CHECK(sig_len == 256);
	CHECK(verify_sig(hsm_signer_public_key(s), EVP_sha256(), RSA_PKCS1_PSS_PADDING, sig,
			 sig_len));
	CHECK(!verify_sig(hsm_signer_public_key(s), EVP_sha256(), RSA_PKCS1_PADDING, sig, sig_len));
	free(sig);
	hsm_signer_free(s);

	/* PSS on a non-RSA key is a configuration error */
	memset(&err, 0, sizeof(err));
	s = NULL;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(hsm_softkey_from_pkey(key, HSM_RSA_PSS, "ec pss", &s, &err) == FC_ECONFIG);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.msg, "PSS padding needs an RSA key");
}

static void test_refused_keys(void)
{
	struct {
		EVP_PKEY *key;
		const char *want;
	} cases[] = {
		{EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
		 "RSA 1024-bit keys are not allowed"},
		{EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"), "EC curve secp224r1 is not allowed"},
		{EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"),
		 "EC curve secp256k1 is not allowed"},
		{EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), "key type ED448 is not allowed"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fc_err err = {0};
		struct hsm_signer *s = NULL;

		CHECK(cases[i].key != NULL);
		CHECK(hsm_softkey_from_pkey(cases[i].key, HSM_RSA_PKCS1, "refused", &s, &err) ==
		      FC_ECONFIG);
		CHECK(s == NULL);
		CHECK_CONTAINS(err.msg, cases[i].want);
	}

	/* a public-only key cannot sign: refused at wrap time */
	{
		EVP_PKEY *full = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		unsigned char *der = NULL;
		const unsigned char *p;
		int len = i2d_PUBKEY(full, &der);
		EVP_PKEY *pub;
		struct fc_err err = {0};
		struct hsm_signer *s = NULL;

		p = der;
		pub = d2i_PUBKEY(NULL, &p, len);
		CHECK(pub != NULL);
		CHECK(hsm_softkey_from_pkey(pub, HSM_RSA_PKCS1, "public only", &s, &err) != FC_OK);
		CHECK(s == NULL);
		CHECK(err.msg[0] != '\0');
		OPENSSL_free(der);
		EVP_PKEY_free(full);
		ERR_clear_error();
	}
}

/* --- a mock backend: hsm_signer_new's contract ---------------------------- */

struct mock {
	int closed;
	bool ready;
	enum fc_status result;
};

static int mock_closed;

static enum fc_status mock_sign(void *impl, const uint8_t *m, size_t len, uint8_t **sig,
				size_t *sig_len, struct fc_err *err)
{
	struct mock *mk = impl;

	(void)m;
	(void)len;
	if (mk->result != FC_OK)
		return fc_err_set(err, mk->result, "mock: device gone");
	*sig = malloc(4);
	memcpy(*sig, "\x30\x02\x01\x00", 4);
	*sig_len = 4;
	return FC_OK;
}

static bool mock_ready(void *impl)
{
	return ((struct mock *)impl)->ready;
}

static void mock_close(void *impl)
{
	mock_closed++;
	free(impl);
}

static const struct hsm_ops mock_ops = {
	.sign = mock_sign, .ready = mock_ready, .close = mock_close};

static void test_signer_contract(void)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *dsa_like = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	struct fc_err err = {0};
	struct hsm_signer *s = NULL;
	struct mock *mk;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	/* on failure the backend is closed */
	mock_closed = 0;
	mk = calloc(1, sizeof(*mk));
	CHECK(hsm_signer_new(&mock_ops, mk, dsa_like, HSM_RSA_PKCS1, "mock x25519", &s, &err) ==
	      FC_ECONFIG);
	CHECK(mock_closed == 1);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.msg, "mock x25519");

	memset(&err, 0, sizeof(err));
	mk = calloc(1, sizeof(*mk));
	mk->ready = false;
	mk->result = FC_EUNAVAIL;
	CHECK(hsm_signer_new(&mock_ops, mk, ec, HSM_RSA_PKCS1, "mock p384", &s, &err) == FC_OK);
	CHECK(s != NULL);
	CHECK(hsm_signer_kind(s) == HSM_KEY_EC_P384);
	CHECK(hsm_signer_signature_nid(s) == NID_ecdsa_with_SHA384);
	CHECK(!hsm_signer_ready(s));
	mk->ready = true;
	CHECK(hsm_signer_ready(s));
	/* the backend's status passes through unchanged */
	CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) ==
	      FC_EUNAVAIL);
	CHECK(err.status == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "device gone");
	CHECK(sig == NULL);
	mk->result = FC_OK;
	memset(&err, 0, sizeof(err));
	CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) == FC_OK);
	CHECK(sig_len == 4);
	free(sig);
	/* the self-test: a signature that does not verify is a configuration
	 * error naming the signer; the backend's own failure passes through */
	memset(&err, 0, sizeof(err));
	CHECK(hsm_signer_self_test(s, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "mock p384: the self-test signature does not verify");
	mk->result = FC_EUNAVAIL;
	memset(&err, 0, sizeof(err));
	CHECK(hsm_signer_self_test(s, &err) == FC_EUNAVAIL);
	mk->result = FC_OK;
	/* the signer holds its own reference to the public key */
	EVP_PKEY_free(ec);
	CHECK(EVP_PKEY_get_bits(hsm_signer_public_key(s)) == 384);
	hsm_signer_free(s);
	CHECK(mock_closed == 2);
	hsm_signer_free(NULL);
	EVP_PKEY_free(dsa_like);
}

/* --- PEM loading --------------------------------------------------------- */

enum pem_form {
	FORM_PKCS8,
	FORM_PKCS8_ENC,
	FORM_TRAD,     /* SEC1 "EC PRIVATE KEY" / PKCS#1 "RSA PRIVATE KEY" */
	FORM_TRAD_ENC, /* RFC 1423 Proc-Type/DEK-Info */
};

static const char passphrase[] = "correct horse battery staple";

static char *write_key(const char *name, EVP_PKEY *key, enum pem_form form)
{
	char *path = NULL;
	BIO *bio;
	int ok = 0;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	bio = BIO_new_file(path, "w");
	if (bio == NULL)
		abort();
	switch (form) {
	case FORM_PKCS8: ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL); break;
	case FORM_PKCS8_ENC:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase,
						   (int)strlen(passphrase), NULL, NULL);
		break;
	case FORM_TRAD:
		ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL);
		break;
	case FORM_TRAD_ENC:
		ok = PEM_write_bio_PrivateKey_traditional(bio, key, EVP_aes_128_cbc(),
							  (unsigned char *)passphrase,
							  (int)strlen(passphrase), NULL, NULL);
		break;
	}
	BIO_free(bio);
	CHECK(ok == 1);
	return path;
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void sign_and_verify_loaded(struct hsm_signer *s, EVP_PKEY *orig)
{
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct fc_err err = {0};

	CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) == FC_OK);
	/* verify with the original key: the loaded key is the same key */
	CHECK(verify_sig(orig, hsm_signer_digest(s), RSA_PKCS1_PADDING, sig, sig_len));
	CHECK(EVP_PKEY_eq(orig, hsm_signer_public_key(s)) == 1);
	free(sig);
}

static void test_load_pem(void)
{
	struct {
		const char *name;
		const char *alg;
		const char *param; /* curve, or NULL */
		size_t bits;
		enum pem_form form;
		const char *marker;
	} cases[] = {
		{"p256-pkcs8.pem", "EC", "P-256", 0, FORM_PKCS8, "BEGIN PRIVATE KEY"},
		{"p384-pkcs8enc.pem", "EC", "P-384", 0, FORM_PKCS8_ENC,
		 "BEGIN ENCRYPTED PRIVATE KEY"},
		{"p521-sec1.pem", "EC", "P-521", 0, FORM_TRAD, "BEGIN EC PRIVATE KEY"},
		{"p256-sec1enc.pem", "EC", "P-256", 0, FORM_TRAD_ENC, "DEK-Info: AES-128-CBC"},
		{"rsa-pkcs1.pem", "RSA", NULL, 2048, FORM_TRAD, "BEGIN RSA PRIVATE KEY"},
		{"rsa-pkcs1enc.pem", "RSA", NULL, 2048, FORM_TRAD_ENC, "Proc-Type: 4,ENCRYPTED"},
		{"rsa-pkcs8enc.pem", "RSA", NULL, 3072, FORM_PKCS8_ENC,
		 "BEGIN ENCRYPTED PRIVATE KEY"},
		{"ed25519-pkcs8.pem", "ED25519", NULL, 0, FORM_PKCS8, "BEGIN PRIVATE KEY"},
		{"ed25519-pkcs8enc.pem", "ED25519", NULL, 0, FORM_PKCS8_ENC,
		 "BEGIN ENCRYPTED PRIVATE KEY"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *key;
		char *path;
		bool enc = cases[i].form == FORM_PKCS8_ENC || cases[i].form == FORM_TRAD_ENC;
		struct fc_err err = {0};
		struct hsm_signer *s = NULL;

		if (cases[i].param != NULL)
			key = EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg, cases[i].param);
		else if (cases[i].bits != 0)
			key = EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg, cases[i].bits);
		else
			key = EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg);
		CHECK(key != NULL);
		path = write_key(cases[i].name, key, cases[i].form);
		CHECK(file_contains(path, cases[i].marker));

		/* right passphrase (also given for the plain keys: ignored) */
		CHECK(hsm_softkey_load_pem(path, passphrase, HSM_RSA_PKCS1, &s, &err) == FC_OK);
		if (s == NULL) {
			fprintf(stderr, "  %s: %s\n", cases[i].name, err.msg);
		} else {
			sign_and_verify_loaded(s, key);
			CHECK_CONTAINS(hsm_signer_description(s), cases[i].name);
			CHECK(is_public_only(hsm_signer_public_key(s)));
			hsm_signer_free(s);
			s = NULL;
		}

		/* no passphrase */
		memset(&err, 0, sizeof(err));
		if (enc) {
			CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) ==
			      FC_ECONFIG);
			CHECK(s == NULL);
			CHECK_CONTAINS(err.msg, "encrypted and no passphrase was given");
			CHECK_CONTAINS(err.msg, cases[i].name);
		} else {
			CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) == FC_OK);
			hsm_signer_free(s);
			s = NULL;
		}

		/* wrong passphrase */
		if (enc) {
			static const char wrong[] = "Tr0ub4dor&3-wrong";
			memset(&err, 0, sizeof(err));
			CHECK(hsm_softkey_load_pem(path, wrong, HSM_RSA_PKCS1, &s, &err) ==
			      FC_ECONFIG);
			CHECK(s == NULL);
			CHECK_CONTAINS(err.msg, "wrong passphrase");
			CHECK(strstr(err.msg, wrong) == NULL);
			CHECK(strstr(err.msg, passphrase) == NULL);
		}
		unlink(path);
		free(path);
		EVP_PKEY_free(key);
	}

	/* RSA with PSS padding from a file */
	{
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		char *path = write_key("rsa-pss.pem", key, FORM_PKCS8);
		struct fc_err err = {0};
		struct hsm_signer *s = NULL;
		uint8_t *sig = NULL;
		size_t sig_len = 0;

		CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PSS, &s, &err) == FC_OK);
		if (s != NULL) {
			CHECK(hsm_signer_signature_nid(s) == NID_rsassaPss);
			CHECK(hsm_sign(s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len,
				       &err) == FC_OK);
			CHECK(verify_sig(key, EVP_sha256(), RSA_PKCS1_PSS_PADDING, sig, sig_len));
			free(sig);
			hsm_signer_free(s);
		}
		unlink(path);
		free(path);
		EVP_PKEY_free(key);
	}
}

static void test_load_pem_refused(void)
{
	struct {
		const char *name;
		EVP_PKEY *key;
		const char *want;
	} cases[] = {
		{"rsa1024.pem", EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
		 "RSA 1024-bit keys are not allowed"},
		{"p224.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"),
		 "EC curve secp224r1 is not allowed"},
		{"ed448.pem", EVP_PKEY_Q_keygen(NULL, NULL, "ED448"),
		 "key type ED448 is not allowed"},
	};
	struct fc_err err = {0};
	struct hsm_signer *s = NULL;
	char *path = NULL;
	FILE *f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = write_key(cases[i].name, cases[i].key, FORM_PKCS8);
		memset(&err, 0, sizeof(err));
		CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) == FC_ECONFIG);
		CHECK(s == NULL);
		CHECK_CONTAINS(err.msg, cases[i].want);
		CHECK_CONTAINS(err.msg, cases[i].name);
		unlink(path);
		free(path);
		EVP_PKEY_free(cases[i].key);
	}

	/* a public key, garbage, an empty file, a missing file */
	{
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		BIO *bio;

		if (asprintf(&path, "%s/public.pem", tmpdir) < 0)
			abort();
		bio = BIO_new_file(path, "w");
		CHECK(PEM_write_bio_PUBKEY(bio, key) == 1);
		BIO_free(bio);
		memset(&err, 0, sizeof(err));
		CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) == FC_ECONFIG);
		CHECK_CONTAINS(err.msg, "no PEM private key found");
		unlink(path);
		free(path);
		EVP_PKEY_free(key);
	}
	if (asprintf(&path, "%s/garbage.pem", tmpdir) < 0)
		abort();
	f = fopen(path, "w");
	fputs("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) == FC_ECONFIG);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.msg, "no PEM private key found");
	f = fopen(path, "w");
	fclose(f);
	memset(&err, 0, sizeof(err));
	CHECK(hsm_softkey_load_pem(path, NULL, HSM_RSA_PKCS1, &s, &err) == FC_ECONFIG);
	unlink(path);
	free(path);

	memset(&err, 0, sizeof(err));
	CHECK(hsm_softkey_load_pem("/nonexistent/fulcrum/ca.key", NULL, HSM_RSA_PKCS1, &s, &err) ==
	      FC_ECONFIG);
	CHECK(s == NULL);
	CHECK(err.msg[0] != '\0');
}

/* --- many threads, one signer (hsm.h: safe from many threads at once) --- */

#define N_THREADS 8
#define N_SIGS 25

struct thread_arg {
	struct hsm_signer *s;
	int ok;
};

static void *sign_loop(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < N_SIGS; i++) {
		struct fc_err err = {0};
		uint8_t *sig = NULL;
		size_t sig_len = 0;

		if (hsm_sign(a->s, (const uint8_t *)msg, sizeof(msg) - 1, &sig, &sig_len, &err) ==
			    FC_OK &&
		    verify_sig(hsm_signer_public_key(a->s), hsm_signer_digest(a->s),
			       RSA_PKCS1_PADDING, sig, sig_len))
			a->ok++;
		free(sig);
	}
	return NULL;
}

static void test_threads(void)
{
	enum hsm_key_kind ks[] = {HSM_KEY_EC_P256, HSM_KEY_ED25519};

	for (size_t k = 0; k < sizeof(ks) / sizeof(ks[0]); k++) {
		struct hsm_signer *s = NULL;
		struct fc_err err = {0};
		pthread_t th[N_THREADS];
		struct thread_arg args[N_THREADS];
		int total = 0;

		CHECK(hsm_softkey_generate(ks[k], &s, &err) == FC_OK);
		if (s == NULL)
			continue;
		for (int i = 0; i < N_THREADS; i++) {
			args[i].s = s;
			args[i].ok = 0;
			CHECK(pthread_create(&th[i], NULL, sign_loop, &args[i]) == 0);
		}
		for (int i = 0; i < N_THREADS; i++) {
			pthread_join(th[i], NULL);
			total += args[i].ok;
		}
		CHECK(total == N_THREADS * N_SIGS);
		hsm_signer_free(s);
	}
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_generate_and_sign();
	test_pss();
	test_refused_keys();
	test_signer_contract();
	test_load_pem();
	test_load_pem_refused();
	test_threads();
	rmdir(tmpdir);
	return check_exit();
}
