/*
 * config_fuzz: the identity configuration loader (cfg_identity_load_mem):
 * JSON with PascalCase keys or YAML with kebab-case keys (libyaml, anchors,
 * merge keys), then the whole validation, including the parsing of every
 * CI-provider template.
 *
 * Seeds: tests/data/config (the unit-test fixtures, good and bad) and
 * fuzz/corpus/config (small documents of each shape).
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct cfg_identity *cfg = NULL;
	struct fc_err err = {0};

	fuzz_log_all();
	if (cfg_identity_load_mem((const char *)d, n, "fuzz", &cfg, &err) != FC_OK) {
		FUZZ_CHECK(cfg == NULL);
		FUZZ_CHECK(err.status != FC_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		return 0;
	}
	/* what other modules read from a loaded configuration */
	for (size_t i = 0; i < cfg->n_issuers + cfg->n_meta; i++) {
		const struct cfg_issuer *iss =
			i < cfg->n_issuers ? &cfg->issuers[i] : &cfg->meta[i - cfg->n_issuers];

		FUZZ_CHECK(iss->key != NULL);
		FUZZ_CHECK(iss->type != CFG_TYPE_UNKNOWN);
		FUZZ_CHECK(cfg_issuer_type_from_name(cfg_issuer_type_name(iss->type)) == iss->type);
		FUZZ_CHECK(cfg_issuer_challenge_claim(iss) != NULL);
		if (iss->type == CFG_TYPE_CI_PROVIDER)
			FUZZ_CHECK(cfg_ci_provider_find(cfg, iss->ci_provider) != NULL);
	}
	cfg_identity_free(cfg);
	return 0;
}
