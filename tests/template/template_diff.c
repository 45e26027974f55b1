/*
 * template_diff: fulcrum's claim templates against Go's text/template.
 *
 * Reads the JSON written by tests/template/gorender (cases with Go's
 * outcome: "ok" with the output bytes in hex, "parse" or "exec"), renders
 * each case with cfg_template_parse and cfg_template_render_kv over the
 * same data, and compares: the same outcome, and for "ok" the same bytes.
 * Three outcomes are allowed to differ, as documented: a case marked
 * "unsupported" must be refused by fulcrum at parse time, one marked
 * "fulcrum_exec_error" must fail to render, and an output with a NUL byte
 * is an execution error in fulcrum.
 *
 * usage: template_diff [-v] RESULTS.json...
 * Exit 0 when every case agrees, 1 otherwise.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"

static int verbose;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode lower-case hex; NULL if it is not. */
static unsigned char *unhex(const char *s, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *out = malloc(len / 2 + 1);

	*n = len / 2;
	for (size_t i = 0; i < *n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	out[*n] = '\0';
	return out;
}

static void show(const char *label, const char *s, size_t n)
{
	fprintf(stderr, "  %s (%zu bytes): \"", label, n);
	for (size_t i = 0; i < n && i < 600; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"%s\n", n > 600 ? "..." : "");
}

/* The data of a case as key/value pairs (borrowed from the JSON). */
static struct cfg_kv *case_data(json_t *data, size_t *n)
{
	struct cfg_kv *kv = calloc(json_object_size(data) + 1, sizeof(*kv));
	const char *key;
	json_t *v;

	*n = 0;
	json_object_foreach(data, key, v)
	{
		kv[*n].key = (char *)key;
		kv[*n].value = (char *)json_string_value(v);
		(*n)++;
	}
	return kv;
}

/* fulcrum's outcome: "parse", "exec" or "ok" (then *out). */
static const char *fulcrum_run(const char *text, json_t *data, char **out, struct fc_err *err)
{
	struct cfg_template *t = NULL;
	struct cfg_kv *kv;
	size_t n;
	enum fc_status st;

	*out = NULL;
	if (cfg_template_parse(text, &t, err) != FC_OK)
		return "parse";
	kv = case_data(data, &n);
	st = cfg_template_render_kv(t, kv, n, out, err);
	free(kv);
	cfg_template_free(t);
	return st == FC_OK ? "ok" : "exec";
}

/* One case; returns 1 if fulcrum agrees with Go. */
static int check_case(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *go = json_string_value(json_object_get(c, "result"));
	const char *thex = json_string_value(json_object_get(c, "template_hex"));
	const char *text = json_string_value(json_object_get(c, "template"));
	const char *ohex = json_string_value(json_object_get(c, "out_hex"));
	bool unsupported = json_is_true(json_object_get(c, "unsupported"));
	bool exec_error = json_is_true(json_object_get(c, "fulcrum_exec_error"));
	unsigned char *tbuf = NULL, *want = NULL;
	size_t tlen = 0, wlen = 0;
	struct fc_err err = {0};
	const char *got;
	char *out = NULL;
	int ok = 0;

	if (thex != NULL) {
		tbuf = unhex(thex, &tlen);
		text = (const char *)tbuf;
	}
	if (text == NULL)
		text = "";
	if (strcmp(go, "ok") == 0)
		want = unhex(ohex != NULL ? ohex : "", &wlen);
	got = fulcrum_run(text, json_object_get(c, "data"), &out, &err);
	if (unsupported)
		ok = strcmp(got, "parse") == 0 && strstr(err.msg, "not supported") != NULL;
	else if (exec_error)
		ok = strcmp(got, "exec") == 0 && strstr(err.msg, "does not support") != NULL;
	else if (strcmp(go, "ok") == 0 && want != NULL && memchr(want, '\0', wlen) != NULL)
		ok = strcmp(got, "exec") == 0 && strstr(err.msg, "NUL") != NULL;
	else if (strcmp(go, got) != 0)
		ok = 0;
	else if (strcmp(go, "ok") == 0)
		ok = want != NULL && strlen(out) == wlen && memcmp(out, want, wlen) == 0;
	else
		ok = 1;
	if (!ok || verbose) {
		fprintf(stderr, "%s %s\n", ok ? "ok" : "MISMATCH", name ? name : "?");
		show("template", text, strlen(text));
		fprintf(stderr, "  go: %s %s\n", go, unsupported ? "(marked unsupported)" : "");
		if (want != NULL)
			show("go output", (const char *)want, wlen);
		if (json_string_value(json_object_get(c, "go_error")))
			fprintf(stderr, "  go error: %s\n",
				json_string_value(json_object_get(c, "go_error")));
		fprintf(stderr, "  fulcrum: %s\n", got);
		if (out != NULL)
			show("fulcrum output", out, strlen(out));
		if (err.status != FC_OK)
			fprintf(stderr, "  fulcrum error: %s\n", err.msg);
	}
	free(out);
	free(want);
	free(tbuf);
	return ok;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (int a = 1; a < argc; a++) {
		json_error_t jerr;
		json_t *root;
		size_t i;
		json_t *c;

		if (strcmp(argv[a], "-v") == 0) {
			verbose = 1;
			continue;
		}
		if ((root = json_load_file(argv[a], 0, &jerr)) == NULL || !json_is_array(root)) {
			fprintf(stderr, "template_diff: %s: %s\n", argv[a], jerr.text);
			return 2;
		}
		json_array_foreach(root, i, c)
		{
			if (check_case(c))
				passed++;
			else
				failed++;
		}
		json_decref(root);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
