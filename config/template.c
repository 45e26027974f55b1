/*
 * config: the claim templates' API (config.h): parse a template once,
 * render it over a claim set. The work is done by template_parse.c and
 * template_exec.c, which port Go's text/template (see template_int.h).
 *
 * Whether a configured value is a template at all is the caller's rule
 * (Fulcio: only values containing "{{"; others name a claim).
 */
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/*
 * Free a parsed template. NULL is fine.
 */
void cfg_template_free(struct cfg_template *t)
{
	if (t == NULL)
		return;
	cfg_tmpl_arena_free(&t->arena);
	free(t);
}

/*
 * Parse a template as text/template's Parse does (the text outside any
 * {{define}} is the template that renders). Returns FC_OK and *out (free
 * with cfg_template_free), else FC_ECONFIG with the line, column and
 * reason in err: Go's parse errors, and fulcrum's refusals (complex
 * constants, a text over CFG_TEMPLATE_MAX_LEN, nesting over
 * CFG_TEMPLATE_MAX_DEPTH).
 */
enum fc_status cfg_template_parse(const char *text, struct cfg_template **out, struct fc_err *err)
{
	struct cfg_template *t;
	size_t len;
	char *copy;

	if (text == NULL || out == NULL)
		return fc_err_set(err, FC_ECONFIG, "template: no text");
	len = strlen(text);
	if (len > CFG_TEMPLATE_MAX_LEN)
		return fc_err_set(err, FC_ECONFIG, "template: longer than %d bytes",
				  CFG_TEMPLATE_MAX_LEN);
	t = fc_xcalloc(1, sizeof(*t));
	cfg_tmpl_arena_init(&t->arena, CFG_TEMPLATE_MAX_MEM);
	copy = cfg_tmpl_strdup(&t->arena, text, len);
	if (copy == NULL) {
		cfg_template_free(t);
		return fc_err_set(err, FC_ECONFIG, "template: too large");
	}
	t->text = copy;
	t->len = len;
	if (cfg_tmpl_parse(t, err) != FC_OK) {
		cfg_template_free(t);
		return FC_ECONFIG;
	}
	*out = t;
	return FC_OK;
}

/* Execute over the data m; the common part of both render calls. */
static enum fc_status render(const struct cfg_template *t, const struct tmpl_map *m, char **out,
			     struct fc_err *err)
{
	struct fc_err local = {0};
	struct tmpl_exec x = {.t = t, .data = m, .err = err != NULL ? err : &local};
	enum fc_status st = FC_EINPUT;

	if (x.err->status != FC_OK)
		fc_err_clear(x.err);
	cfg_tmpl_arena_init(&x.arena, CFG_TEMPLATE_MAX_MEM);
	cfg_tmpl_w_init(&x.out, CFG_TEMPLATE_MAX_OUT);
	if (!cfg_tmpl_execute(&x))
		goto out;
	if (x.out.b.data != NULL && memchr(x.out.b.data, '\0', x.out.b.len) != NULL) {
		fc_err_set(x.err, FC_EINPUT, "template: the output contains a NUL byte");
		goto out;
	}
	*out = fc_buf_steal(&x.out.b, NULL);
	st = FC_OK;
out:
	if (st != FC_OK && x.err->status == FC_OK)
		fc_err_set(x.err, FC_EINPUT, "template: execution failed");
	fc_buf_free(&x.out.b);
	free(x.vars);
	cfg_tmpl_arena_free(&x.arena);
	return st;
}

/* By key, and for the same key by place in the caller's array. */
static int kv_ptr_order(const void *a, const void *b)
{
	const struct cfg_kv *x = *(const struct cfg_kv *const *)a;
	const struct cfg_kv *y = *(const struct cfg_kv *const *)b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/*
 * Render t over the key/value pairs kv[0..n): a NULL key is skipped, a NULL
 * value is "", and of a key given twice the first pair counts. Returns
 * FC_OK and *out (NUL-terminated, caller frees), else FC_EINPUT with Go's
 * execution error (or the limit passed) in err.
 */
enum fc_status cfg_template_render_kv(const struct cfg_template *t, const struct cfg_kv *kv,
				      size_t n, char **out, struct fc_err *err)
{
	struct tmpl_map m = {.enumerable = true};
	const struct cfg_kv **order;
	struct cfg_kv *uniq;
	size_t k = 0, u = 0;
	enum fc_status st;

	if (t == NULL || out == NULL || (kv == NULL && n > 0))
		return fc_err_set(err, FC_EINTERNAL, "template: bad arguments");
	order = fc_xcalloc(n + 1, sizeof(*order));
	uniq = fc_xcalloc(n + 1, sizeof(*uniq));
	for (size_t i = 0; i < n; i++) {
		if (kv[i].key != NULL)
			order[k++] = &kv[i];
	}
	qsort(order, k, sizeof(*order), kv_ptr_order);
	for (size_t i = 0; i < k; i++) {
		if (u > 0 && strcmp(uniq[u - 1].key, order[i]->key) == 0)
			continue;
		uniq[u].key = order[i]->key;
		uniq[u].value = order[i]->value != NULL ? order[i]->value : "";
		u++;
	}
	m.kv = uniq;
	m.n = u;
	st = render(t, &m, out, err);
	free(order);
	free(uniq);
	return st;
}

/*
 * Render t with a lookup function (value of a name, or NULL when it is not
 * set; the string must stay valid during the call). Returns as
 * cfg_template_render_kv; a template that needs every key fails.
 */
enum fc_status cfg_template_render(const struct cfg_template *t,
				   const char *(*lookup)(void *ctx, const char *name), void *ctx,
				   char **out, struct fc_err *err)
{
	struct tmpl_map m = {.lookup = lookup, .ctx = ctx};

	if (t == NULL || lookup == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "template: bad arguments");
	return render(t, &m, out, err);
}
