/*
 * jws_fuzz: compact JWS parsing (oidc_jws_parse, RFC 7515 7.1) and, for a
 * token that parses, signature checking against fixed keys of every kind
 * (oidc_jws_verify), which decodes the attacker's signature bytes (the
 * ES* R || S to DER conversion of RFC 7518 3.4).
 *
 * Seeds: fuzz/corpus/jws, tokens signed by tests/tools/test-issuer with the
 * keys of TEST_JWKS below (one per key kind, PS256, a crit header, alg none).
 */
#include <string.h>

#include "fuzz.h"
#include "oidc_int.h"

/* The public keys of test-issuer's run that signed the corpus tokens. */
static const char TEST_JWKS[] =
	"{\"keys\":[{\"kid\":\"rsa-1\",\"use\":\"sig\",\"alg\":\"RS256\",\"kty\":\"RSA\",\"n\":"
	"\"r6RRuQVOki-6gF0ly"
	"XgtoQ9bagpajv6ac21Yem2NrrIWFm9iF-t9ni-xju0j5ed80V3xTUg5hloR9ncg2CYJWmpV8ffnn0Q4c5RRS"
	"TrIb9aDbNlxHfTsFpJnQAb1C3i_R5DmK4Bx4o13pe8tCtw1nTHtxe3Ei_qytMC-ybAlv2aAHfL1K0Ol3ytOk"
	"XSQvxiZGKbC8auP9s1WSHGw0ghXhlpoqT7Q965z3Kkh5xD7p9DIbEMCiC1wRjsMwwsf_5BXkM8CzP5znfGU7"
	"YQNfAqmCaE9qZDMp9zHBCItQuNQeGldzqwcKmVp8YYGQUfcJ_GcVtVwq45A1cUDdfJ6IFDdbQ\",\"e\":\"AQAB"
	"\"},{\"kid\":\"ec256-1\",\"use\":\"sig\",\"alg\":\"ES256\",\"kty\":\"EC\",\"crv\":\"P-"
	"256\",\"x\":\"3uYjhyGl"
	"KY54Fll3LafdDstSgNlvXN0om688hCG9MoE\",\"y\":\"xx9y6RNKVErzgwD3Ikk4NbEabpBjHRqREwAmdvDPeW"
	"8\"},{\"kid\":\"ec384-1\",\"use\":\"sig\",\"alg\":\"ES384\",\"kty\":\"EC\",\"crv\":\"P-"
	"384\",\"x\":\"gE28_pC"
	"sgOH5xVbRbST7TPcOO_nS6ded64jQrrYzZrMw-mP97b1D4ka_MnHFFCQn\",\"y\":\"UvfovuruAbgQ5-Acv8fx"
	"cTuqCWkIvcY_ZCv42qufJ63nfrxibmGto__pMSpJtLPN\"},{\"kid\":\"ec521-1\",\"use\":\"sig\","
	"\"alg\":\"E"
	"S512\",\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AVlN9t5Bo_NZnILnqKvK88UOpcV3Tzz80_"
	"z0whM0CD3AMXHG"
	"T7WHF2t0p-XJf12JVCwkfOKWTpgQrB8b0dYWxTxN\",\"y\":\"AOfPnSdekQTGWzgJebN7Mc8JHPxmTqZ1RCQ0_"
	"HjyUHU3-P_oAWqRQEz3JvTAKxzLmue7dDqyfRCh3PNpas2VQZlH\"},{\"kid\":\"ed25519-1\",\"use\":"
	"\"sig\""
	",\"alg\":\"EdDSA\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
	"\"mUoExyyjFGlC0qfzQ9OGA7AZb3jG3rl33FX_"
	"gB0R1ls\"}]}";

static struct oidc_jwk_set *keys;

static void free_keys(void)
{
	oidc_jwk_set_free(keys);
	keys = NULL;
}

static void init_once(void)
{
	struct fc_err err = {0};

	if (keys != NULL)
		return;
	fuzz_log_all();
	FUZZ_CHECK(oidc_jwks_parse(TEST_JWKS, sizeof(TEST_JWKS) - 1, &keys, &err) == FC_OK);
	FUZZ_CHECK(keys->n == 5);
	atexit(free_keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct oidc_jws *jws = NULL;
	struct fc_err err = {0};

	init_once();
	if (oidc_jws_parse((const char *)d, n, &jws, &err) != FC_OK) {
		FUZZ_CHECK(jws == NULL);
		FUZZ_CHECK(err.status != FC_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		return 0;
	}
	FUZZ_CHECK(json_is_object(jws->header) && json_is_object(jws->claims));
	FUZZ_CHECK(jws->alg != NULL && oidc_alg_allowed(jws->alg));
	/* the signing input is the token up to its second '.' */
	FUZZ_CHECK(jws->signing_input != NULL && jws->signing_input_len < n);
	FUZZ_CHECK(memcmp(jws->signing_input, d, jws->signing_input_len) == 0);
	FUZZ_CHECK(d[jws->signing_input_len] == '.');
	FUZZ_CHECK(jws->signing_input[jws->signing_input_len] == '\0');

	for (size_t i = 0; i < keys->n; i++) {
		struct fc_err verr = {0};

		if (oidc_jws_verify(jws, &keys->keys[i], &verr) != FC_OK)
			FUZZ_CHECK(verr.status != FC_OK);
	}
	oidc_jws_free(jws);
	return 0;
}
