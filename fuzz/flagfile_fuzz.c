/*
 * flagfile_fuzz: the flag file of fulcrum serve (cmd/flags_file.c,
 * --config), YAML or JSON, on untrusted bytes. The first byte picks the
 * name the text is read under (.yaml, .json, no extension: sniffed). What
 * it accepts must be one flat object; a YAML file gives only strings,
 * nulls and lists of strings; a refusal says why.
 *
 * Seeds: fuzz/corpus/flagfile.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fuzz.h"

/* A value read from YAML: a string, null, or a list of strings. */
static bool yaml_value(const json_t *v)
{
	size_t i;
	json_t *item;

	if (json_is_string(v) || json_is_null(v))
		return true;
	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const char *const names[] = {"flags.yaml", "flags.json", "flags"};
	const char *name;
	const char *key;
	char why[320] = "";
	json_t *root, *v;

	if (n == 0)
		return 0;
	name = names[d[0] % 3];
	root = cmd_flag_file_parse(name, (const char *)d + 1, n - 1, why, sizeof(why));
	if (root == NULL) {
		FUZZ_CHECK(why[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(json_is_object(root));
	json_object_foreach(root, key, v)
	{
		FUZZ_CHECK(!json_is_object(v)); /* nested mappings are flattened */
		if (d[0] % 3 == 0)
			FUZZ_CHECK(yaml_value(v));
	}
	json_decref(root);
	return 0;
}
