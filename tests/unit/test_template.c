/*
 * Unit tests for config/template*.c: the claim templates' API (parse,
 * render with a lookup function or over key/value pairs), Fulcio's shipped
 * constructs, error reporting, and fulcrum's hard limits. That the output
 * and the errors are Go's for every construct is the differential test's
 * job (tests/template/).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static const struct cfg_kv claims[] = {
	{"url", "https://github.com"},
	{"job_workflow_ref", "octo/repo/.github/workflows/ci.yml@refs/heads/main"},
	{"ref_type", "branch"},
	{"ref", "main"},
	{"empty", ""},
	{"oidc.circleci.com/ssh-rerun", "true"},
	{"oidc.circleci.com/project-id", "p-123"},
	{"yes", "true"},
};
#define N_CLAIMS (sizeof(claims) / sizeof(claims[0]))

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; i < N_CLAIMS; i++)
		if (strcmp(claims[i].key, name) == 0)
			return claims[i].value;
	return NULL;
}

/* Parse and render (with lookup, or over claims when kv); returns the
 * output (caller frees) or NULL with err set. */
static char *render(const char *text, bool kv, struct fc_err *err)
{
	struct cfg_template *t = NULL;
	char *out = NULL;
	enum fc_status st;

	fc_err_clear(err);
	if (cfg_template_parse(text, &t, err) != FC_OK) {
		CHECK(t == NULL);
		return NULL;
	}
	if (kv)
		st = cfg_template_render_kv(t, claims, N_CLAIMS, &out, err);
	else
		st = cfg_template_render(t, lookup, NULL, &out, err);
	if (st != FC_OK) {
		CHECK(out == NULL);
		out = NULL;
	}
	cfg_template_free(t);
	return out;
}

/* Both render calls give want. */
static void check_render(const char *text, const char *want)
{
	struct fc_err err = {0};

	for (int kv = 0; kv < 2; kv++) {
		char *got = render(text, kv, &err);
		if (got == NULL)
			fprintf(stderr, "template %s: %s\n", text, err.msg);
		CHECK_STR(got, want);
		free(got);
	}
}

/* Rendering over claims gives want. */
static void check_render_kv(const char *text, const char *want)
{
	struct fc_err err = {0};
	char *got = render(text, true, &err);

	if (got == NULL)
		fprintf(stderr, "template %s: %s\n", text, err.msg);
	CHECK_STR(got, want);
	free(got);
}

static void check_fails(const char *text, bool kv, enum fc_status st, const char *want)
{
	struct fc_err err = {0};
	char *got = render(text, kv, &err);

	CHECK(got == NULL);
	CHECK(err.status == st);
	CHECK_CONTAINS(err.msg, want);
	free(got);
}

/* Fulcio's shipped templates and the constructs of the former subset. */
static void test_shipped_constructs(void)
{
	check_render("", "");
	check_render("no actions here", "no actions here");
	check_render("job_workflow_sha", "job_workflow_sha");
	check_render("{{ .url }}/{{ .job_workflow_ref }}",
		     "https://github.com/octo/repo/.github/workflows/ci.yml@refs/heads/main");
	check_render("{{.url}}", "https://github.com");
	check_render("a }} b", "a }} b");
	check_render("{{ index . \"oidc.circleci.com/project-id\" }}", "p-123");
	check_render("{{(index . \"oidc.circleci.com/project-id\")}}/x", "p-123/x");
	check_render("[{{ index . \"oidc.circleci.com/absent\" }}]", "[]");
	check_render("{{ index . `url` }}", "https://github.com");
	check_render("refs/{{if eq .ref_type \"branch\"}}heads/{{ else }}tags/{{end}}{{ .ref }}",
		     "refs/heads/main");
	check_render(
		"{{if eq .ref_type \"tag\"}}T{{else if eq .ref_type \"branch\"}}B{{else}}O{{end}}",
		"B");
	check_render("{{if eq .ref \"x\" \"main\"}}any{{end}}", "any");
	check_render("{{if ne .ref \"main\"}}n{{else}}e{{end}}", "e");
	check_render("{{if eq (index . \"oidc.circleci.com/ssh-rerun\") \"true\"}}ssh-rerun{{ else "
		     "}}\"\"{{end}}",
		     "ssh-rerun");
	check_render("{{if .empty}}full{{else}}empty{{end}}", "empty");
	check_render("{{ eq .ref \"main\" }}", "true");
	check_render("{{ not .empty }}", "true");
	check_render("{{ and .ref .empty }}|{{ or .empty .ref }}", "|main");
	check_render("{{ \"lit\\t\\u00e9\" }}", "lit\t\xc3\xa9");
	check_render("a  \n {{- .ref -}} \n  b", "amainb");
	check_render("x  {{- /* c */ -}}  y", "xy");
}

/* Constructs beyond the shipped ones (Go's results; the differential test
 * has many more). */
static void test_go_constructs(void)
{
	check_render("{{ printf \"%s-%5s-%q\" .ref .ref .ref }}", "main- main-\"main\"");
	check_render("{{ .ref | printf \"%s!\" }}", "main!");
	check_render("{{ $r := .ref }}{{ $r }}{{ $r = \"x\" }}{{ $r }}", "mainx");
	check_render("{{ with .ref }}{{ . }}{{ else }}none{{ end }}", "main");
	check_render("{{ len .ref }} {{ slice .ref 1 3 }} {{ index .ref 0 }}", "4 ai 109");
	check_render("{{ lt .ref \"n\" }} {{ ge 2 1 }} {{ le 1.5 1.5 }}", "true true true");
	check_render("{{ html \"<a>\" }}{{ urlquery \"a b\" }}{{ js \"'\" }}", "&lt;a&gt;a+b\\'");
	check_render("{{ print 1 2 \"x\" }}|{{ println .ref }}", "1 2x|main\n");
	check_render("{{ range 3 }}{{ . }}{{ end }}", "012");
	check_render("{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" .ref }}", "<main>");
	check_render("{{ block \"b\" .ref }}[{{ . }}]{{ end }}", "[main]");
	check_render("{{ 0x10 }} {{ 1e3 }} {{ 'a' }} {{ 1.5 }} {{ print nil }}",
		     "16 1000 97 1.5 <nil>");
	/* needing the whole map: only over key/value pairs */
	check_render_kv("{{ range $k, $v := . }}{{ if eq $k \"ref\" \"url\" }}{{ $k }}={{ $v }};{{ "
			"end }}{{ end }}",
			"ref=main;url=https://github.com;");
	check_render_kv("{{ len . }}", "8");
	check_render_kv("{{ if . }}some{{ end }}", "some");
	check_fails("{{ range . }}{{ end }}", false, FC_EINPUT, "needs every claim");
	check_fails("{{ len . }}", false, FC_EINPUT, "needs every claim");
}

/* Go's errors: parse errors at parse time (FC_ECONFIG), execution errors
 * when rendering (FC_EINPUT), only when the construct runs. */
static void test_errors(void)
{
	check_fails("{{ .nope }}", true, FC_EINPUT, "map has no entry for key \"nope\"");
	check_fails("{{if eq .nope \"x\"}}{{end}}", false, FC_EINPUT, "key \"nope\"");
	check_fails("{{ eq .ref true }}", true, FC_EINPUT, "incompatible types");
	check_fails("{{ .url.host }}", true, FC_EINPUT, "can't evaluate field host in type string");
	check_fails("{{ .url \"x\" }}", true, FC_EINPUT, "url is not a method but has arguments");
	check_fails("{{ index .url \"x\" }}", true, FC_EINPUT,
		    "cannot index slice/array with type string");
	check_fails("{{ eq .ref }}", true, FC_EINPUT, "missing argument for comparison");
	check_fails("{{ len 3 }}", true, FC_EINPUT, "len of type int");
	check_fails("{{ range .ref }}{{ end }}", true, FC_EINPUT,
		    "range can't iterate over a string");
	check_fails("{{ template \"nope\" }}", true, FC_EINPUT, "template \"nope\" not defined");
	check_fails("{{ call .ref }}", true, FC_EINPUT, "non-function");
	check_fails("{{ 18446744073709551615 }}", true, FC_EINPUT, "overflows int");
	check_render("{{ if false }}{{ .nope }}{{ index }}{{ len 3 }}{{ end }}ok", "ok");

	check_fails("{{ .url ", true, FC_ECONFIG, "line 1 col 1: unclosed action");
	check_fails("{{ .url }", true, FC_ECONFIG, "line 1 col 9: unexpected \"}\" in operand");
	check_fails("{{if .url}}x", true, FC_ECONFIG, "unexpected EOF");
	check_fails("x{{end}}", true, FC_ECONFIG, "unexpected {{end}}");
	check_fails("x{{else}}", true, FC_ECONFIG, "unexpected {{else}}");
	check_fails("{{if .a}}1{{else}}2{{else}}3{{end}}", true, FC_ECONFIG,
		    "expected end; found {{else}}");
	check_fails("{{}}", true, FC_ECONFIG, "missing value for command");
	check_fails("{{ nofunc .url }}", true, FC_ECONFIG, "function \"nofunc\" not defined");
	check_fails("{{ $x }}", true, FC_ECONFIG, "undefined variable \"$x\"");
	check_fails("{{ \"unterminated }}", true, FC_ECONFIG, "unterminated quoted string");
	check_fails("{{ (index . \"x\" }}", true, FC_ECONFIG, "unclosed left paren");
	check_fails("{{/* open }}", true, FC_ECONFIG, "unclosed comment");
	check_fails("{{ break }}", true, FC_ECONFIG, "{{break}} outside {{range}}");
	check_fails("{{ \"a\" | \"b\" }}", true, FC_ECONFIG,
		    "non executable command in pipeline stage 2");
	check_fails("{{ 1.x }}", true, FC_ECONFIG, "bad number syntax");
	check_fails("{{ \"x\".y }}", true, FC_ECONFIG, "unexpected . after term");
	check_fails("{{define \"a\"}}1{{end}}{{define \"a\"}}2{{end}}", true, FC_ECONFIG,
		    "multiple definition of template \"a\"");
	check_fails("\n\n  {{ .url", true, FC_ECONFIG, "line 3 col 3: unclosed action");
	/* refused by fulcrum although Go accepts it */
	check_fails("{{ 1i }}", true, FC_ECONFIG, "complex constant 1i is not supported");
	check_fails("{{ printf \"%p\" . }}", true, FC_EINPUT, "%p of the claim map");
	check_fails("{{ printf \"%c\" 0 }}", true, FC_EINPUT, "NUL byte");
}

/* Key/value data: the first of two equal keys counts, NULL keys are
 * skipped, NULL values are "". */
static void test_kv(void)
{
	static const struct cfg_kv kv[] = {
		{"b", "claim"},
		{NULL, "skipped"},
		{"a", NULL},
		{"b", "default"},
	};
	struct cfg_template *t = NULL;
	struct fc_err err = {0};
	char *out = NULL;

	CHECK(cfg_template_parse("{{ . }}|{{ .b }}|{{ len . }}", &t, &err) == FC_OK);
	CHECK(cfg_template_render_kv(t, kv, 4, &out, &err) == FC_OK);
	CHECK_STR(out, "map[a: b:claim]|claim|2");
	free(out);
	out = NULL;
	CHECK(cfg_template_render_kv(t, NULL, 0, &out, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "map has no entry for key \"b\"");
	CHECK(out == NULL);
	cfg_template_free(t);
	cfg_template_free(NULL);
	CHECK(cfg_template_parse(NULL, &t, &err) == FC_ECONFIG);
}

/* The hard limits. */
static void test_limits(void)
{
	size_t n = CFG_TEMPLATE_MAX_LEN + 1;
	char *big = malloc(n + 1), *deep;
	struct cfg_template *t = NULL;
	struct fc_err err = {0};
	size_t k = 0;

	memset(big, 'x', n);
	big[n] = '\0';
	CHECK(cfg_template_parse(big, &t, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "longer than");
	big[n - 1] = '\0';
	CHECK(cfg_template_parse(big, &t, &err) == FC_OK);
	cfg_template_free(t);
	free(big);

	/* nesting: parentheses and controls */
	deep = malloc(16 * (CFG_TEMPLATE_MAX_DEPTH + 2) + 16);
	k += (size_t)sprintf(deep, "{{ ");
	for (int i = 0; i <= CFG_TEMPLATE_MAX_DEPTH; i++)
		deep[k++] = '(';
	deep[k++] = '1';
	for (int i = 0; i <= CFG_TEMPLATE_MAX_DEPTH; i++)
		deep[k++] = ')';
	strcpy(deep + k, " }}");
	check_fails(deep, true, FC_ECONFIG, "nested deeper than");
	k = 0;
	for (int i = 0; i <= CFG_TEMPLATE_MAX_DEPTH; i++)
		k += (size_t)sprintf(deep + k, "{{if 1}}");
	for (int i = 0; i <= CFG_TEMPLATE_MAX_DEPTH; i++)
		k += (size_t)sprintf(deep + k, "{{end}}");
	check_fails(deep, true, FC_ECONFIG, "nested deeper than");
	free(deep);

	/* output, memory, work, recursion */
	check_fails("{{ printf \"%300000s\" \"x\" }}", true, FC_EINPUT, "output larger than");
	check_render("{{ len (printf \"%300000s\" \"x\") }}", "300000");
	check_fails("{{ range 9999999 }}{{ end }}", true, FC_EINPUT, "more work than");
	check_fails("{{ $s := \"\" }}{{ range 100 }}{{ $s = printf \"%s%s\" $s (printf "
		    "\"%500000s\" \"\") }}{{ end }}",
		    true, FC_EINPUT, "larger than fulcrum allows");
	check_fails("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}", true,
		    FC_EINPUT, "nested deeper than fulcrum allows");
	check_render("{{ define \"r\" }}{{ if . }}{{ template \"r\" slice . 1 }}.{{ end }}{{ end }}"
		     "{{ template \"r\" \"abcde\" }}",
		     ".....");
}

int main(void)
{
	fc_log_set_level(LOG_ERR);
	test_shipped_constructs();
	test_go_constructs();
	test_errors();
	test_kv();
	test_limits();
	return check_exit();
}
