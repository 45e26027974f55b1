/*
 * clientkey_fuzz: the client's key and CSR parsers of ca/ on untrusted
 * bytes, as a signingCert request delivers them: the v2 PEM public key
 * (ca_client_key_parse without DER), the v1 bytes field (PEM or DER SPKI),
 * and the PEM CSR (ca_csr_verify), each followed by the strength check
 * where a key came out. Invariants: a refusal is FC_EINPUT with a class
 * and a message starting with that class's prefix (the HTTP layer answers
 * from the class), and leaves no key behind; an accepted key passes the
 * parser's own promise (a type Go can parse).
 *
 * Seeds: fuzz/corpus/clientkey (keys of each kind in PEM and DER, CSRs).
 */
#include <string.h>

#include "ca_int.h"
#include "fuzz.h"

static void check_refusal(enum fc_status st, const struct fc_err *err)
{
	static const struct {
		enum fc_class cls;
		const char *prefix;
	} prefixes[] = {
		{FC_CLASS_KEY_PARSE, CA_PFX_KEY_PARSE},
		{FC_CLASS_KEY_INSECURE, CA_PFX_KEY_INSECURE},
		{FC_CLASS_SIGNATURE, CA_PFX_SIGNATURE},
		{FC_CLASS_CSR, CA_PFX_CSR},
		{FC_CLASS_ALG_UNKNOWN, CA_PFX_ALG_UNKNOWN},
		{FC_CLASS_ALG_REFUSED, CA_PFX_ALG_REFUSED},
	};
	bool found = false;

	FUZZ_CHECK(err->status == st);
	FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
	if (st != FC_EINPUT)
		return; /* an OpenSSL failure: FC_EINTERNAL, unclassified */
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (prefixes[i].cls == err->cls) {
			FUZZ_CHECK(strncmp(err->msg, prefixes[i].prefix,
					   strlen(prefixes[i].prefix)) == 0);
			found = true;
		}
	}
	FUZZ_CHECK(found);
}

static void parse_key(const uint8_t *d, size_t n, bool allow_der)
{
	struct fc_err err = {0};
	EVP_PKEY *key = NULL;
	struct ca_key_info ki;
	enum fc_status st = ca_client_key_parse(d, n, allow_der, &key, &err);

	if (st != FC_OK) {
		FUZZ_CHECK(key == NULL);
		check_refusal(st, &err);
		return;
	}
	FUZZ_CHECK(key != NULL);
	ca_key_info_get(key, &ki);
	FUZZ_CHECK(ca_go_unparseable(key, &ki) == NULL);
	fc_err_clear(&err);
	if ((st = ca_client_key_check(key, &err)) != FC_OK)
		check_refusal(st, &err);
	EVP_PKEY_free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ca_algs algs;
	struct fc_err err = {0};
	EVP_PKEY *key = NULL;
	enum fc_status st;

	fuzz_log_all();
	parse_key(d, n, false);
	parse_key(d, n, true);
	ca_algs_default(&algs);
	st = ca_csr_verify(d, n, &algs, &key, &err);
	if (st != FC_OK) {
		FUZZ_CHECK(key == NULL);
		check_refusal(st, &err);
	}
	EVP_PKEY_free(key);
	return 0;
}
