/*
 * template_fuzz: the text/template subset of the CI-provider templates
 * (cfg_template_parse) and, for a template that parses, rendering
 * (cfg_template_render) with names starting with 'a' set and every other
 * name unset, so that both the value and the missing-key paths run.
 *
 * Seeds: fuzz/corpus/template (Fulcio's shipped templates and the
 * constructs of the subset).
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == 'a' ? "a-value" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *text = fuzz_strndup(d, n);
	struct cfg_template *t = NULL;
	struct fc_err err = {0};
	char *out = NULL, *again = NULL;
	enum fc_status st;

	fuzz_log_all();
	if (cfg_template_parse(text, &t, &err) != FC_OK) {
		FUZZ_CHECK(t == NULL);
		FUZZ_CHECK(err.status != FC_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		goto out;
	}
	fc_err_clear(&err);
	st = cfg_template_render(t, lookup, NULL, &out, &err);
	if (st != FC_OK) {
		FUZZ_CHECK(out == NULL);
		FUZZ_CHECK(err.status != FC_OK);
		goto out;
	}
	FUZZ_CHECK(out != NULL);
	/* rendering has no state: a second run gives the same text */
	FUZZ_CHECK(cfg_template_render(t, lookup, NULL, &again, NULL) == FC_OK);
	FUZZ_CHECK(strcmp(out, again) == 0);
out:
	free(again);
	free(out);
	cfg_template_free(t);
	free(text);
	return 0;
}
