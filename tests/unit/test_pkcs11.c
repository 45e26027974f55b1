/*
 * Unit tests for hsm/pkcs11*: the RFC 7512 PKCS#11 URI parser (the RFC's
 * own examples, percent-encoding, bad inputs), crypto11's JSON
 * configuration (every field, every error), PIN sources, and, on a private
 * SoftHSM2 token, signers for P-256, P-384, RSA PKCS#1 v1.5 and RSA-PSS
 * whose signatures are verified independently with OpenSSL; through the
 * fault-injecting shim, logging in again, the retry budget of a signature
 * and the generations p11_recover is told about (pkcs11_int.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "check.h"
#include "hsm.h"
#include "pkcs11_int.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"

static struct hsm_p11_config *uri_ok(const char *uri)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};

	if (hsm_p11_config_parse_uri(uri, &c, &err) != FC_OK) {
		fprintf(stderr, "unexpected refusal of %s: %s\n", uri, err.msg);
		return NULL;
	}
	return c;
}

static void uri_bad(const char *uri, const char *want)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};

	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_ECONFIG);
	CHECK(c == NULL);
	CHECK_CONTAINS(err.msg, want);
}

static void test_uri(void)
{
	struct hsm_p11_config *c;
	static const uint8_t id8[] = {0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91};

	/* RFC 7512 3.3 examples */
	CHECK((c = uri_ok("pkcs11:")) != NULL);
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:object=my-pubkey;type=public");
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->object_label, "my-pubkey");
		CHECK_STR(c->object_type, "public");
	}
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:object=my-key;type=private?pin-source=file:/etc/token");
	if (c)
		CHECK_STR(c->pin_source, "file:/etc/token");
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,"
		   "%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;"
		   "serial=?pin-source=file:/etc/token_pin");
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->token_label, "The Software PKCS#11 Softtoken");
		CHECK_STR(c->token_manufacturer, "Snake Oil, Inc.");
		CHECK_STR(c->token_model, "1.0");
		CHECK(c->object_id_len == sizeof(id8) &&
		      memcmp(c->object_id, id8, sizeof(id8)) == 0);
		CHECK_STR(c->token_serial, "");
		CHECK_STR(c->pin_source, "file:/etc/token_pin");
	}
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11");
	if (c)
		CHECK_STR(c->module_name, "mypkcs11");
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1");
	if (c)
		CHECK_STR(c->module_path, "/mnt/libmypkcs11.so.1");
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc."
		   "?pin-value=the-pin");
	if (c)
		CHECK_STR(c->pin, "the-pin");
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:slot-description=Sun%20Metaslot");
	if (c)
		CHECK_STR(c->slot_description, "Sun Metaslot");
	hsm_p11_config_free(c);
	c = uri_ok(
		"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token"
		"%20Library;library-version=1.23");
	if (c) {
		CHECK_STR(c->library_manufacturer, "Snake Oil, Inc.");
		CHECK_STR(c->library_description, "Soft Token Library");
		CHECK_STR(c->library_version, "1.23");
	}
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;"
		   "type=cert");
	if (c)
		CHECK_STR(c->token_label, "A name with a substring %;");
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-"
		   "certificate;type=cert");
	if (c)
		CHECK_STR(c->token_label, "Name with a small A with acute: \xc3\xa1");
	hsm_p11_config_free(c);
	/* unknown query attributes are ignored (RFC 7512 2.3) */
	c = uri_ok("pkcs11:token=my-token;object=my-certificate;type=cert?pin-source=file:/etc/"
		   "token_pin&vendor-bbb=value-b");
	CHECK(c != NULL);
	hsm_p11_config_free(c);
	/* slot-id, id as ASCII, case-insensitive scheme and hex */
	c = uri_ok("PKCS11:slot-id=42;id=99;object=PKCS11CA?module-path=/x.so");
	if (c) {
		CHECK(c->has_slot && c->slot == 42);
		CHECK(c->object_id_len == 2 && memcmp(c->object_id, "99", 2) == 0);
	}
	hsm_p11_config_free(c);
	c = uri_ok("pkcs11:id=%ba%Dd");
	if (c)
		CHECK(c->object_id_len == 2 && c->object_id[0] == 0xba && c->object_id[1] == 0xdd);
	hsm_p11_config_free(c);

	/* bad inputs */
	uri_bad("pkcs12:token=x", "does not start with");
	uri_bad("token=x", "does not start with");
	uri_bad("pkcs11:token=a b", "space");
	uri_bad("pkcs11:token=a#b", "'#'");
	uri_bad("pkcs11:token=x;token=y", "token appears twice");
	uri_bad("pkcs11:id=%4", "bad %-escape");
	uri_bad("pkcs11:id=%zz", "bad %-escape");
	uri_bad("pkcs11:object=a/b", "must be percent-encoded");
	uri_bad("pkcs11:object=a?pin-value=x&pin-source=/y", "pin-value and pin-source");
	uri_bad("pkcs11:type=secret", "type \"secret\"");
	uri_bad("pkcs11:slot-id=abc", "slot-id");
	uri_bad("pkcs11:slot-id=", "slot-id");
	uri_bad("pkcs11:library-version=1.", "library-version");
	uri_bad("pkcs11:library-version=x", "library-version");
	uri_bad("pkcs11:vendor-aaa=value-a", "unknown path attribute");
	uri_bad("pkcs11:module-path=/x.so", "belongs in the query");
	uri_bad("pkcs11:?token=x", "belongs in the path");
	uri_bad("pkcs11:token", "not name=value");
	uri_bad("pkcs11:;token=x", "empty path attribute");
	uri_bad("pkcs11:id=", "id is empty");
	uri_bad("pkcs11:object=%00x", "NUL");
	{
		/* a pin-value never appears in a message */
		struct hsm_p11_config *x = NULL;
		struct fc_err err = {0};
		CHECK(hsm_p11_config_parse_uri("pkcs11:?pin-value=sec%ZZret", &x, &err) ==
		      FC_ECONFIG);
		CHECK(strstr(err.msg, "sec") == NULL);
	}
	{
		char *big = malloc(HSM_P11_MAX_URI_LEN + 16);
		memcpy(big, "pkcs11:object=", 14);
		memset(big + 14, 'a', HSM_P11_MAX_URI_LEN);
		big[HSM_P11_MAX_URI_LEN + 14] = '\0';
		uri_bad(big, "longer than");
		free(big);
	}
}

static void json_bad(const char *json, const char *want)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};

	CHECK(hsm_p11_config_parse_crypto11(json, strlen(json), "t.json", &c, &err) == FC_ECONFIG);
	CHECK(c == NULL);
	CHECK_CONTAINS(err.msg, want);
	CHECK(strstr(err.msg, "s3cret") == NULL);
}

static void test_crypto11(void)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};
	const char *all = "{\"Path\":\"/usr/lib/softhsm/libsofthsm2.so\",\"TokenLabel\":\"fulcio\","
			  "\"Pin\":\"s3cret\",\"MaxSessions\":4,\"UserType\":1,"
			  "\"PoolWaitTimeout\":2500000000,\"LoginNotSupported\":false,"
			  "\"UseGCMIVFromHSM\":true,\"GCMIVLength\":12}";

	CHECK(hsm_p11_config_parse_crypto11(all, strlen(all), "t.json", &c, &err) == FC_OK);
	if (c) {
		CHECK_STR(c->module_path, "/usr/lib/softhsm/libsofthsm2.so");
		CHECK_STR(c->token_label, "fulcio");
		CHECK_STR(c->pin, "s3cret");
		CHECK(c->pin_from == HSM_P11_PIN_VALUE);
		CHECK(c->max_sessions == 4);
		CHECK(c->user_type == 1);
		CHECK(c->pool_wait_ms == 2500);
		CHECK(!c->login_not_supported);
	}
	hsm_p11_config_free(c);
	c = NULL;
	/* Fulcio's shipped example; Go's case-insensitive field names */
	const char *fulcio = "{\"Path\": \"/usr/lib/softhsm/libsofthsm2.so\", \"TokenLabel\": "
			     "\"fulcio\", \"Pin\": \"2324\"}";
	CHECK(hsm_p11_config_parse_crypto11(fulcio, strlen(fulcio), "f", &c, &err) == FC_OK);
	hsm_p11_config_free(c);
	c = NULL;
	const char *lower = "{\"path\":\"/m.so\",\"slotnumber\":3,\"loginnotsupported\":true,"
			    "\"usertype\":0,\"tokenlabel\":\"\"}";
	CHECK(hsm_p11_config_parse_crypto11(lower, strlen(lower), "l", &c, &err) == FC_OK);
	if (c) {
		CHECK(c->has_slot && c->slot == 3);
		CHECK(c->login_not_supported);
		CHECK(c->user_type == 0);
		CHECK(c->token_label == NULL); /* "" is unset, as crypto11 */
	}
	hsm_p11_config_free(c);
	c = NULL;
	const char *serial =
		"{\"Path\":\"/m.so\",\"TokenSerial\":\"abc123\",\"PoolWaitTimeout\":1}";
	CHECK(hsm_p11_config_parse_crypto11(serial, strlen(serial), "s", &c, &err) == FC_OK);
	if (c) {
		CHECK_STR(c->token_serial, "abc123");
		CHECK(c->pool_wait_ms == 1); /* rounded up, never 0 = forever */
	}
	hsm_p11_config_free(c);

	/* a field in two spellings: the last wins, the value it replaces is
	 * freed (LeakSanitizer would see it otherwise) */
	c = NULL;
	const char *twice = "{\"Path\":\"/a.so\",\"TokenLabel\":\"x\",\"Pin\":\"first-pin\","
			    "\"pin\":\"second-pin\",\"tokenlabel\":\"y\",\"path\":\"/b.so\"}";
	CHECK(hsm_p11_config_parse_crypto11(twice, strlen(twice), "t", &c, &err) == FC_OK);
	if (c) {
		CHECK_STR(c->module_path, "/b.so");
		CHECK_STR(c->token_label, "y");
		CHECK_STR(c->pin, "second-pin");
	}
	hsm_p11_config_free(c);
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"tokenlabel\":\"\"}", "exactly one of");

	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"Pin\":\"s3cret\"", "not valid JSON");
	json_bad("[1]", "not a JSON object");
	json_bad("{\"TokenLabel\":\"x\",\"Pin\":\"s3cret\"}",
		 "Path (the PKCS#11 module) is missing");
	json_bad("{\"Path\":\"/m.so\",\"Pin\":\"s3cret\"}", "exactly one of TokenLabel");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"SlotNumber\":1}", "exactly one of");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"TokenLabel\":\"y\"}",
		 "not valid JSON");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"Pin\":1234}", "Pin must be a string");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"MaxSessions\":-1}", "MaxSessions");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"MaxSessions\":\"8\"}", "MaxSessions");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"UserType\":7}", "UserType");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"PoolWaitTimeout\":\"5s\"}",
		 "PoolWaitTimeout");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"LoginNotSupported\":1}",
		 "LoginNotSupported");
	json_bad("{\"Path\":\"/m.so\",\"SlotNumber\":-2}", "SlotNumber");
	json_bad("{\"Path\":\"/m.so\",\"TokenLabel\":\"x\",\"TokenLable\":\"y\"}",
		 "unknown field \"TokenLable\"");
	json_bad("{\"Path\":2,\"TokenLabel\":\"x\"}", "Path must be a string");
}

static char tmpdir[] = "/tmp/fulcrum-test-pkcs11-XXXXXX";

static void test_pin_sources(void)
{
	struct hsm_p11_config *c = NULL;
	struct fc_err err = {0};
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pin", tmpdir);
	f = fopen(path, "w");
	fputs("file-pin\nsecond line\n", f);
	fclose(f);
	CHECK(hsm_p11_config_parse_uri("pkcs11:token=t?pin-value=uri-pin", &c, &err) == FC_OK);
	CHECK(c->pin_from == HSM_P11_PIN_VALUE);
	CHECK(hsm_p11_config_resolve_pin(c, path, &err) == FC_OK);
	/* a PIN file is not kept in memory: it is read again at each login */
	CHECK(c->pin_from == HSM_P11_PIN_FILE);
	CHECK(c->pin == NULL);
	CHECK_STR(c->pin_path, path);
	setenv(HSM_P11_PIN_ENV, "env-pin", 1);
	CHECK(hsm_p11_config_resolve_pin(c, path, &err) == FC_OK);
	CHECK(c->pin_from == HSM_P11_PIN_VALUE && c->pin_path == NULL);
	CHECK_STR(c->pin, "env-pin");
	CHECK(getenv(HSM_P11_PIN_ENV) == NULL); /* unset once read */
	hsm_p11_config_free(c);
	c = NULL;
	char uri[512];
	snprintf(uri, sizeof(uri), "pkcs11:token=t?pin-source=file://%s", path);
	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK);
	CHECK(c->pin_from == HSM_P11_PIN_NONE);
	CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_OK);
	CHECK(c->pin_from == HSM_P11_PIN_FILE && c->pin == NULL);
	CHECK_STR(c->pin_path, path);
	hsm_p11_config_free(c);
	c = NULL;
	/* a relative PIN file is remembered as an absolute path */
	{
		char cwd[256], want[600];
		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		CHECK(chdir(tmpdir) == 0);
		CHECK(hsm_p11_config_parse_uri("pkcs11:token=t", &c, &err) == FC_OK);
		CHECK(hsm_p11_config_resolve_pin(c, "pin", &err) == FC_OK);
		snprintf(want, sizeof(want), "%s/pin", tmpdir);
		CHECK_STR(c->pin_path, want);
		CHECK(chdir(cwd) == 0);
		hsm_p11_config_free(c);
		c = NULL;
	}
	/* an empty PIN file is refused at once, naming the file */
	{
		char empty[300];
		snprintf(empty, sizeof(empty), "%s/empty-pin", tmpdir);
		f = fopen(empty, "w");
		fputs("\n", f);
		fclose(f);
		CHECK(hsm_p11_config_parse_uri("pkcs11:token=t", &c, &err) == FC_OK);
		CHECK(hsm_p11_config_resolve_pin(c, empty, &err) == FC_ECONFIG);
		CHECK_CONTAINS(err.msg, "empty-pin: empty");
		hsm_p11_config_free(c);
		c = NULL;
		memset(&err, 0, sizeof(err));
	}
	/* crypto11 from a file: the Pin is not kept but read again from the file */
	{
		char json[300];
		snprintf(json, sizeof(json), "%s/crypto11.json", tmpdir);
		f = fopen(json, "w");
		fputs("{\"Path\":\"/m.so\",\"TokenLabel\":\"t\",\"Pin\":\"json-pin\"}", f);
		fclose(f);
		CHECK(hsm_p11_config_load_crypto11(json, &c, &err) == FC_OK);
		if (c) {
			CHECK(c->pin_from == HSM_P11_PIN_CRYPTO11 && c->pin == NULL);
			CHECK_STR(c->pin_path, json);
			CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_OK);
			CHECK(c->pin_from == HSM_P11_PIN_CRYPTO11);
			/* --pkcs11-pin-file wins over the file's Pin */
			CHECK(hsm_p11_config_resolve_pin(c, path, &err) == FC_OK);
			CHECK(c->pin_from == HSM_P11_PIN_FILE);
			CHECK_STR(c->pin_path, path);
		}
		hsm_p11_config_free(c);
		c = NULL;
		f = fopen(json, "w");
		fputs("{\"Path\":\"/m.so\",\"TokenLabel\":\"t\"}", f);
		fclose(f);
		CHECK(hsm_p11_config_load_crypto11(json, &c, &err) == FC_OK);
		if (c)
			CHECK(c->pin_from == HSM_P11_PIN_NONE && c->pin_path == NULL);
		hsm_p11_config_free(c);
		c = NULL;
	}
	CHECK(hsm_p11_config_parse_uri("pkcs11:token=t?pin-source=/nonexistent/pin", &c, &err) ==
	      FC_OK);
	CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "/nonexistent/pin");
	hsm_p11_config_free(c);
	c = NULL;
	memset(&err, 0, sizeof(err));
	CHECK(hsm_p11_config_parse_uri("pkcs11:token=t?pin-source=https://x/pin", &c, &err) ==
	      FC_OK);
	CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "only file: URIs");
	hsm_p11_config_free(c);
}

/* Verify sig over msg with pub, independently of hsm/. */
static bool verify(EVP_PKEY *pub, const EVP_MD *md, bool pss, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pub) != 1)
		goto out;
	if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* hsm_p11_signer_for_key: each key of the token is found by its public
 * half alone (its label and id unknown to the caller), and signs as that
 * key; a key the token does not hold is FC_ENOTFOUND. */
static void check_signer_for_key(struct hsm_p11 *p)
{
	static const char *const labels[] = {"ec256", "ec384", "rsa"};
	static const uint8_t msg[] = "found by its public key";
	struct fc_err err = {0};
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct hsm_signer *s = NULL;

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		struct hsm_signer *by_label = NULL, *by_key = NULL;
		uint8_t *sig = NULL;
		size_t sig_len = 0;

		CHECK(hsm_p11_signer_new(p, labels[i], NULL, 0, HSM_RSA_PKCS1, NULL, &by_label,
					 &err) == FC_OK);
		if (by_label == NULL)
			continue;
		CHECK(hsm_p11_signer_for_key(p, hsm_signer_public_key(by_label), HSM_RSA_PKCS1,
					     &by_key, &err) == FC_OK);
		CHECK(by_key != NULL && strstr(hsm_signer_description(by_key), labels[i]) != NULL);
		CHECK(by_key != NULL &&
		      hsm_sign(by_key, msg, sizeof(msg), &sig, &sig_len, &err) == FC_OK);
		CHECK(sig != NULL &&
		      verify(hsm_signer_public_key(by_label), hsm_signer_digest(by_label), false,
			     msg, sizeof(msg), sig, sig_len));
		free(sig);
		hsm_signer_free(by_key);
		hsm_signer_free(by_label);
	}
	memset(&err, 0, sizeof(err));
	CHECK(hsm_p11_signer_for_key(p, other, HSM_RSA_PKCS1, &s, &err) == FC_ENOTFOUND);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.msg, "no public-key object on the token holds");
	EVP_PKEY_free(other);
}

static void test_softhsm(void)
{
	char conf[256], cmd[1024], uri[512];
	struct hsm_p11_config *c = NULL;
	struct hsm_p11 *p = NULL;
	struct fc_err err = {0};
	static const uint8_t msg[] = "the TBSCertificate";
	const struct {
		const char *label;
		enum hsm_key_kind kind;
		enum hsm_rsa_padding pad;
		const EVP_MD *(*md)(void);
		int nid;
	} keys[] = {
		{"ec256", HSM_KEY_EC_P256, HSM_RSA_PKCS1, EVP_sha256, NID_ecdsa_with_SHA256},
		{"ec384", HSM_KEY_EC_P384, HSM_RSA_PKCS1, EVP_sha384, NID_ecdsa_with_SHA384},
		{"rsa", HSM_KEY_RSA, HSM_RSA_PKCS1, EVP_sha256, NID_sha256WithRSAEncryption},
		{"rsa", HSM_KEY_RSA, HSM_RSA_PSS, EVP_sha256, NID_rsassaPss},
	};

	if (access(SOFTHSM, R_OK) != 0) {
		printf("SKIP softhsm: %s not installed\n", SOFTHSM);
		return;
	}
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	FILE *f = fopen(conf, "w");
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		tmpdir);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label unit --so-pin 0000 --pin 1111 "
		 ">/dev/null");
	CHECK(system(cmd) == 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=unit?module-path=%s&pin-value=1111", SOFTHSM);
	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK);
	c->read_write = true;
	c->max_sessions = 2;
	CHECK(hsm_p11_open(c, &p, &err) == FC_OK);
	if (p == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		hsm_p11_config_free(c);
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct hsm_signer *s = NULL;
		uint8_t *sig = NULL;
		size_t sig_len = 0;
		bool found = false;

		CHECK(hsm_p11_has_key(p, keys[i].label, NULL, 0, &found, &err) == FC_OK);
		if (!found)
			CHECK(hsm_p11_generate_key(p, keys[i].label, (const uint8_t *)keys[i].label,
						   strlen(keys[i].label), keys[i].kind,
						   &err) == FC_OK);
		CHECK(hsm_p11_signer_new(p, keys[i].label, NULL, 0, keys[i].pad, NULL, &s, &err) ==
		      FC_OK);
		if (s == NULL) {
			fprintf(stderr, "signer %s: %s\n", keys[i].label, err.msg);
			continue;
		}
		CHECK(hsm_signer_kind(s) == keys[i].kind);
		CHECK(hsm_signer_signature_nid(s) == keys[i].nid);
		CHECK(hsm_signer_ready(s));
		CHECK(hsm_sign(s, msg, sizeof(msg), &sig, &sig_len, &err) == FC_OK);
		CHECK(sig != NULL &&
		      verify(hsm_signer_public_key(s), keys[i].md(), keys[i].pad == HSM_RSA_PSS,
			     msg, sizeof(msg), sig, sig_len));
		free(sig);
		hsm_signer_free(s);
	}
	/* a missing key: FC_ENOTFOUND naming the label */
	{
		struct hsm_signer *s = NULL;
		memset(&err, 0, sizeof(err));
		CHECK(hsm_p11_signer_new(p, "nope", NULL, 0, HSM_RSA_PKCS1, NULL, &s, &err) ==
		      FC_ENOTFOUND);
		CHECK_CONTAINS(err.msg, "label \"nope\"");
	}
	/* PSS on an EC key is refused */
	{
		struct hsm_signer *s = NULL;
		memset(&err, 0, sizeof(err));
		CHECK(hsm_p11_signer_new(p, "ec256", NULL, 0, HSM_RSA_PSS, NULL, &s, &err) ==
		      FC_ECONFIG);
	}
	check_signer_for_key(p);
	hsm_p11_free(p);
	hsm_p11_config_free(c);
	c = NULL;
	/* a wrong PIN: FC_ECONFIG, the PIN not in the message */
	snprintf(uri, sizeof(uri), "pkcs11:token=unit?module-path=%s&pin-value=9999wrong", SOFTHSM);
	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK);
	memset(&err, 0, sizeof(err));
	p = NULL;
	CHECK(hsm_p11_open(c, &p, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "PIN is wrong");
	CHECK(strstr(err.msg, "9999wrong") == NULL);
	hsm_p11_free(p);
	hsm_p11_config_free(c);
}

/* Write text to path (replacing it). */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

/* The fault-injecting shim's next command (tests/tools/pkcs11_shim.c). */
static void shim_fault(const char *ctl, const char *cmd)
{
	char tmp[300];

	snprintf(tmp, sizeof(tmp), "%s.tmp", ctl);
	write_file(tmp, cmd);
	CHECK(rename(tmp, ctl) == 0);
}

/* Sign once with s; the status, the message in err. */
static enum fc_status sign_once(struct hsm_signer *s, struct fc_err *err)
{
	static const uint8_t msg[] = "relogin";
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum fc_status st;

	memset(err, 0, sizeof(*err));
	st = hsm_sign(s, msg, sizeof(msg) - 1, &sig, &sig_len, err);
	free(sig);
	return st;
}

#define RELOGIN_PIN "relogin-pin-5e1d07"

/*
 * After a fault the token is logged in again with the PIN read again from
 * its file (through the fault-injecting shim over SoftHSM2): a PIN file
 * that is gone gives an error naming it (not the PIN) and service resumes
 * once it is back; a PIN changed to a wrong one is refused once and not
 * offered again until the file changes. The same with a crypto11 file.
 */
static void test_relogin(void)
{
	const char *shim = getenv("FULCRUM_PKCS11_SHIM");
	char ctl[300], pin[300], away[300], json[300], uri[1024], cmd[512], text[600];
	struct hsm_p11_config *c = NULL;
	struct hsm_p11 *p = NULL;
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};
	bool found = false;

	if (shim == NULL || access(shim, R_OK) != 0 || access(SOFTHSM, R_OK) != 0) {
		printf("SKIP relogin: FULCRUM_PKCS11_SHIM or SoftHSM2 missing\n");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label relogin --so-pin 0000 --pin %s "
		 ">/dev/null",
		 RELOGIN_PIN);
	CHECK(system(cmd) == 0);
	snprintf(ctl, sizeof(ctl), "%s/fault", tmpdir);
	snprintf(pin, sizeof(pin), "%s/relogin-pin", tmpdir);
	snprintf(away, sizeof(away), "%s/relogin-pin.away", tmpdir);
	snprintf(json, sizeof(json), "%s/relogin.json", tmpdir);
	setenv("FULCRUM_SHIM_MODULE", SOFTHSM, 1);
	setenv("FULCRUM_SHIM_CONTROL", ctl, 1);
	write_file(ctl, "");
	write_file(pin, RELOGIN_PIN "\n");

	/* a PIN file (pin-source) */
	snprintf(uri, sizeof(uri), "pkcs11:token=relogin?module-path=%s&pin-source=file:%s", shim,
		 pin);
	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK);
	CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_OK);
	c->read_write = true;
	c->max_sessions = 2;
	CHECK(hsm_p11_open(c, &p, &err) == FC_OK);
	hsm_p11_config_free(c);
	c = NULL;
	if (p == NULL) {
		fprintf(stderr, "relogin: open: %s\n", err.msg);
		return;
	}
	CHECK(hsm_p11_has_key(p, "rl", NULL, 0, &found, &err) == FC_OK);
	if (!found)
		CHECK(hsm_p11_generate_key(p, "rl", (const uint8_t *)"rl", 2, HSM_KEY_EC_P256,
					   &err) == FC_OK);
	CHECK(hsm_p11_signer_new(p, "rl", NULL, 0, HSM_RSA_PKCS1, NULL, &s, &err) == FC_OK);
	hsm_p11_free(p);
	p = NULL;
	if (s == NULL) {
		fprintf(stderr, "relogin: signer: %s\n", err.msg);
		return;
	}
	CHECK(sign_once(s, &err) == FC_OK);

	/* the PIN file gone when the token must be logged in again */
	CHECK(rename(pin, away) == 0);
	shim_fault(ctl, "session-invalid once");
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "pkcs11 PIN file");
	CHECK_CONTAINS(err.msg, pin);
	CHECK(strstr(err.msg, RELOGIN_PIN) == NULL);
	/* back: the next attempt (after the recovery interval) logs in */
	CHECK(rename(away, pin) == 0);
	usleep(600 * 1000);
	CHECK(sign_once(s, &err) == FC_OK);

	/* the PIN file changed to a wrong PIN: refused once, not offered again */
	write_file(pin, "wrong-pin-0000\n");
	shim_fault(ctl, "session-closed once");
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "the PIN is wrong");
	CHECK_CONTAINS(err.msg, pin);
	CHECK(strstr(err.msg, "wrong-pin-0000") == NULL);
	usleep(600 * 1000);
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "not logging in again");
	CHECK_CONTAINS(err.msg, "has not changed since");
	/* the right PIN written back: logged in again */
	write_file(pin, RELOGIN_PIN "\n");
	usleep(600 * 1000);
	CHECK(sign_once(s, &err) == FC_OK);
	hsm_signer_free(s);
	s = NULL;

	/* the Pin of a crypto11 file, read again from the file */
	snprintf(text, sizeof(text),
		 "{\"Path\":\"%s\",\"TokenLabel\":\"relogin\",\"Pin\":\"%s\",\"MaxSessions\":2}",
		 shim, RELOGIN_PIN);
	write_file(json, text);
	CHECK(hsm_p11_config_load_crypto11(json, &c, &err) == FC_OK);
	if (c == NULL)
		return;
	CHECK(hsm_p11_config_resolve_pin(c, NULL, &err) == FC_OK);
	CHECK(c->pin_from == HSM_P11_PIN_CRYPTO11 && c->pin == NULL);
	CHECK(hsm_p11_open(c, &p, &err) == FC_OK);
	hsm_p11_config_free(c);
	c = NULL;
	if (p == NULL) {
		fprintf(stderr, "relogin: open crypto11: %s\n", err.msg);
		return;
	}
	CHECK(hsm_p11_signer_new(p, "rl", NULL, 0, HSM_RSA_PKCS1, NULL, &s, &err) == FC_OK);
	hsm_p11_free(p);
	if (s == NULL)
		return;
	snprintf(text, sizeof(text),
		 "{\"Path\":\"%s\",\"TokenLabel\":\"relogin\",\"Pin\":\"bad-json-pin\"}", shim);
	write_file(json, text);
	shim_fault(ctl, "device-error once");
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "the PIN is wrong");
	CHECK_CONTAINS(err.msg, json);
	CHECK(strstr(err.msg, "bad-json-pin") == NULL);
	CHECK(unlink(json) == 0);
	usleep(600 * 1000);
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "pkcs11 config");
	CHECK_CONTAINS(err.msg, json);
	snprintf(text, sizeof(text), "{\"Path\":\"%s\",\"TokenLabel\":\"relogin\",\"Pin\":\"%s\"}",
		 shim, RELOGIN_PIN);
	write_file(json, text);
	usleep(600 * 1000);
	CHECK(sign_once(s, &err) == FC_OK);
	hsm_signer_free(s);
}

/* How many failures the shim has injected so far (lines of ctl.count). */
static int shim_count(const char *ctl)
{
	char path[320];
	int n = 0, ch;
	FILE *f;

	snprintf(path, sizeof(path), "%s.count", ctl);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static int64_t fake_ms;
static int64_t fake_mono(void)
{
	return fake_ms;
}

/*
 * Through the shim over SoftHSM2: a signature is tried P11_SIGN_ATTEMPTS
 * times (one fault is retried invisibly, a second in the same call is
 * not), and p11_recover honours the generation it is given: a caller
 * whose failed sessions were replaced already cannot force an attempt
 * past the rate limit, one that saw the current sessions fail can.
 */
static void test_recover(void)
{
	const char *shim = getenv("FULCRUM_PKCS11_SHIM");
	char ctl[300], uri[1024], cmd[512];
	struct hsm_p11_config *c = NULL;
	struct hsm_p11 *p = NULL;
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};
	unsigned gen0, gen1;
	int before;

	if (shim == NULL || access(shim, R_OK) != 0 || access(SOFTHSM, R_OK) != 0) {
		printf("SKIP recover: FULCRUM_PKCS11_SHIM or SoftHSM2 missing\n");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label recover --so-pin 0000 --pin 2222 "
		 ">/dev/null");
	CHECK(system(cmd) == 0);
	snprintf(ctl, sizeof(ctl), "%s/fault-recover", tmpdir);
	setenv("FULCRUM_SHIM_MODULE", SOFTHSM, 1);
	setenv("FULCRUM_SHIM_CONTROL", ctl, 1);
	write_file(ctl, "");
	snprintf(uri, sizeof(uri), "pkcs11:token=recover?module-path=%s&pin-value=2222", shim);
	CHECK(hsm_p11_config_parse_uri(uri, &c, &err) == FC_OK);
	if (c == NULL)
		return;
	c->read_write = true;
	c->max_sessions = 2;
	CHECK(hsm_p11_open(c, &p, &err) == FC_OK);
	hsm_p11_config_free(c);
	if (p == NULL) {
		fprintf(stderr, "recover: open: %s\n", err.msg);
		return;
	}
	CHECK(hsm_p11_generate_key(p, "rc", (const uint8_t *)"rc", 2, HSM_KEY_EC_P256, &err) ==
	      FC_OK);
	CHECK(hsm_p11_signer_new(p, "rc", NULL, 0, HSM_RSA_PKCS1, NULL, &s, &err) == FC_OK);
	if (s == NULL) {
		fprintf(stderr, "recover: signer: %s\n", err.msg);
		hsm_p11_free(p);
		return;
	}

	/* the retry budget: one fault is retried, two in one call are not */
	before = shim_count(ctl);
	shim_fault(ctl, "session-invalid once");
	CHECK(sign_once(s, &err) == FC_OK);
	CHECK(shim_count(ctl) == before + 1);
	before = shim_count(ctl);
	shim_fault(ctl, "session-closed 2");
	CHECK(sign_once(s, &err) == FC_EUNAVAIL);
	CHECK_CONTAINS(err.msg, "CKR_SESSION_CLOSED");
	CHECK(shim_count(ctl) == before + P11_SIGN_ATTEMPTS);
	CHECK(sign_once(s, &err) == FC_OK); /* reconnects at once: a new fault */

	/* generations, on a clock of our own */
	fake_ms = 1000000;
	fc_set_mono_fn(fake_mono);
	gen0 = atomic_load(&p->generation);
	p11_mark_broken(p, gen0, CKR_DEVICE_ERROR, "test");
	CHECK(p11_recover(p, gen0, true, &err) == FC_OK);
	gen1 = atomic_load(&p->generation);
	CHECK(gen1 == gen0 + 1);
	/* broken again in gen1, and the attempt to reach the token fails */
	shim_fault(ctl, "device-error until cleared");
	p11_mark_broken(p, gen0, CKR_DEVICE_ERROR, "stale"); /* ignored: gen0 is gone */
	CHECK(!atomic_load(&p->broken));
	p11_mark_broken(p, gen1, CKR_DEVICE_ERROR, "test");
	CHECK(atomic_load(&p->broken));
	CHECK(p11_recover(p, gen1, true, &err) == FC_EUNAVAIL);
	CHECK(atomic_load(&p->last_attempt_ms) == 1000000);
	fake_ms += P11_RECOVER_INTERVAL_MS / 5;
	/* a fault seen on gen0's sessions does not force another attempt */
	CHECK(p11_recover(p, gen0, true, &err) == FC_EUNAVAIL);
	CHECK(atomic_load(&p->last_attempt_ms) == 1000000);
	CHECK(p11_recover(p, UINT_MAX, false, &err) == FC_EUNAVAIL);
	CHECK(atomic_load(&p->last_attempt_ms) == 1000000);
	/* one seen on the current sessions does */
	CHECK(p11_recover(p, gen1, true, &err) == FC_EUNAVAIL);
	CHECK(atomic_load(&p->last_attempt_ms) == fake_ms);
	CHECK(atomic_load(&p->generation) == gen1);
	/* the token back: the next attempt after the interval reconnects */
	shim_fault(ctl, "");
	fake_ms += P11_RECOVER_INTERVAL_MS;
	CHECK(p11_recover(p, gen0, true, &err) == FC_OK);
	CHECK(atomic_load(&p->generation) == gen1 + 1);
	CHECK(!atomic_load(&p->broken));
	fc_set_mono_fn(NULL);
	CHECK(sign_once(s, &err) == FC_OK);
	hsm_signer_free(s);
	hsm_p11_free(p);
}

int main(void)
{
	char cmd[128];

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_uri();
	test_crypto11();
	test_pin_sources();
	test_softhsm();
	test_relogin();
	test_recover();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_exit();
}
