/*
 * jwks_fuzz: JWK Set parsing (oidc_jwks_parse: RFC 7517 5, RFC 7518 6,
 * RFC 8037), the document an issuer's jwks_uri serves.
 *
 * Seeds: fuzz/corpus/jwks (test-issuer's JWKS, one key per kind, keys that
 * must be skipped).
 */
#include <string.h>

#include "fuzz.h"
#include "oidc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct oidc_jwk_set *set = NULL;
	struct fc_err err = {0};

	fuzz_log_all();
	if (oidc_jwks_parse((const char *)d, n, &set, &err) != FC_OK) {
		FUZZ_CHECK(set == NULL);
		FUZZ_CHECK(err.status != FC_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		return 0;
	}
	/* at least one usable key, at most the cap, each with a public key */
	FUZZ_CHECK(set->n >= 1 && set->n <= OIDC_MAX_JWKS_KEYS);
	for (size_t i = 0; i < set->n; i++) {
		const struct oidc_jwk *k = &set->keys[i];

		FUZZ_CHECK(k->pkey != NULL);
		FUZZ_CHECK(k->kind >= OIDC_KEY_RSA && k->kind <= OIDC_KEY_ED25519);
		if (k->alg != NULL)
			FUZZ_CHECK(oidc_alg_allowed(k->alg));
	}
	oidc_jwk_set_free(set);
	return 0;
}
