/*
 * template_fuzz: the claim templates (Go's text/template): parsing
 * (cfg_template_parse) and, for a template that parses, rendering both
 * ways: with a lookup function (cfg_template_render: names starting with
 * 'a' set, every other name unset, so that both the value and the
 * missing-key paths run) and over key/value pairs
 * (cfg_template_render_kv: range, len and printing of the whole map).
 * Rendering has no state: a second run gives the same outcome.
 *
 * Seeds: fuzz/corpus/template (Fulcio's shipped templates and one file per
 * construct of text/template).
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static const struct cfg_kv kv[] = {
	{"a", "abc"},
	{"b", ""},
	{"n", "42"},
	{"sp ace", "x y"},
	{"uni", "\xc3\xa9\xe2\x82\xac"},
	{"q", "<'\"&>"},
	{"a", "ignored: the first a counts"},
};

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == 'a' ? "a-value" : NULL;
}

/* Render one way twice; the outcome must be the same. */
static void render_twice(const struct cfg_template *t, bool with_kv)
{
	struct fc_err err = {0}, err2 = {0};
	char *out = NULL, *again = NULL;
	enum fc_status st, st2;

	if (with_kv) {
		st = cfg_template_render_kv(t, kv, sizeof(kv) / sizeof(kv[0]), &out, &err);
		st2 = cfg_template_render_kv(t, kv, sizeof(kv) / sizeof(kv[0]), &again, &err2);
	} else {
		st = cfg_template_render(t, lookup, NULL, &out, &err);
		st2 = cfg_template_render(t, lookup, NULL, &again, &err2);
	}
	FUZZ_CHECK(st == st2);
	if (st != FC_OK) {
		FUZZ_CHECK(out == NULL && again == NULL);
		FUZZ_CHECK(err.status == st);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		FUZZ_CHECK(strcmp(err.msg, err2.msg) == 0);
		return;
	}
	FUZZ_CHECK(out != NULL && again != NULL);
	FUZZ_CHECK(strlen(out) <= CFG_TEMPLATE_MAX_OUT);
	FUZZ_CHECK(strcmp(out, again) == 0);
	free(again);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *text = fuzz_strndup(d, n);
	struct cfg_template *t = NULL;
	struct fc_err err = {0};

	fuzz_log_all();
	if (cfg_template_parse(text, &t, &err) != FC_OK) {
		FUZZ_CHECK(t == NULL);
		FUZZ_CHECK(err.status == FC_ECONFIG);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		goto out;
	}
	render_twice(t, false);
	render_twice(t, true);
out:
	cfg_template_free(t);
	free(text);
	return 0;
}
