/*
 * ctconfig_fuzz: the CA's CT configuration file (ct/config.c,
 * --ct-log-config) on untrusted bytes, YAML or JSON. What it accepts must
 * hold: 1 to CT_MAX_LOGS logs, each with a URL, an operator and exactly
 * one form of key, shard windows as given, durations within their bounds.
 *
 * Seeds: fuzz/corpus/ctconfig.
 */
#include <stdlib.h>
#include <string.h>

#include "ct.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ct_config *cfg = NULL;
	struct fc_err err = {0};
	char *text = malloc(n + 1);

	if (text == NULL)
		return 0;
	memcpy(text, d, n);
	text[n] = '\0';
	if (ct_config_parse(text, n, "fuzz", &cfg, &err) == FC_OK) {
		const struct ct_client_options *o = ct_config_options(cfg);

		FUZZ_CHECK(o->n_logs >= 1 && o->n_logs <= CT_MAX_LOGS && o->logs != NULL);
		FUZZ_CHECK(o->timeout_ms <= 600000 && o->stagger_ms <= 600000);
		FUZZ_CHECK(o->min_scts <= CT_MAX_LOGS && o->min_operators <= CT_MAX_LOGS);
		for (size_t i = 0; i < o->n_logs; i++) {
			const struct ct_log_options *l = &o->logs[i];

			FUZZ_CHECK(l->url != NULL && *l->url != '\0');
			FUZZ_CHECK(l->operator_name != NULL && *l->operator_name != '\0');
			FUZZ_CHECK((l->public_key_path == NULL) != (l->public_key_pem == NULL));
		}
		ct_config_free(cfg);
	} else {
		FUZZ_CHECK(cfg == NULL && err.status == FC_ECONFIG && err.msg[0] != '\0');
	}
	free(text);
	return 0;
}
