/*
 * config: the builtin functions of the claim templates, a port of Go's
 * text/template/funcs.go for the values this data can produce: index,
 * slice, len, not, the comparisons, html, js, urlquery, and print, printf,
 * println (through template_fmt.c). and, or and call are in
 * template_exec.c (they need the unevaluated arguments).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

static bool call_err(struct tmpl_exec *x, enum tmpl_fn fn, const char *fmt, ...) FC_PRINTF(3, 4);

/* Every builtin error reads "error calling <fn>: <reason>". */
static bool call_err(struct tmpl_exec *x, enum tmpl_fn fn, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return cfg_tmpl_errorf(x, "error calling %s: %s", cfg_tmpl_fns[fn].name, why);
}

/* indexArg: an int or byte in 0..cap. */
static bool index_arg(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *v, size_t cap,
		      size_t *out)
{
	int64_t i;

	switch (v->k) {
	case TV_INT: i = v->i; break;
	case TV_UINT8: i = v->u8; break;
	case TV_INVALID:
	case TV_NIL: return call_err(x, fn, "cannot index slice/array with nil");
	default:
		return call_err(x, fn, "cannot index slice/array with type %s",
				cfg_tmpl_type_name(v));
	}
	if (i < 0 || (uint64_t)i > cap)
		return call_err(x, fn, "index out of range: %" PRId64, i);
	*out = (size_t)i;
	return true;
}

/* index item k1 k2 ...: a byte of a string, the value of a map key (""
 * when absent: missingkey does not apply to index). */
static bool fn_index(struct tmpl_exec *x, const struct tmpl_val *argv, size_t argc,
		     struct tmpl_val *out)
{
	struct tmpl_val item = argv[0];

	if (item.k == TV_INVALID)
		return call_err(x, FN_INDEX, "index of untyped nil");
	for (size_t a = 1; a < argc; a++) {
		const struct tmpl_val *k = &argv[a];
		size_t i;

		if (item.k == TV_STRING) {
			if (!index_arg(x, FN_INDEX, k, item.s.n, &i))
				return false;
			if (i == item.s.n)
				return call_err(x, FN_INDEX, "reflect: string index out of range");
			item.u8 = (uint8_t)item.s.p[i];
			item.k = TV_UINT8;
		} else if (item.k == TV_MAP) {
			const struct tmpl_map *m = item.m;
			if (k->k == TV_INVALID)
				return call_err(x, FN_INDEX,
						"value is nil; should be of type string");
			if (k->k != TV_STRING)
				return call_err(x, FN_INDEX, "value has type %s; should be string",
						cfg_tmpl_type_name(k));
			item.k = TV_STRING;
			if (!cfg_tmpl_charge(x, k->s.n / 64))
				return false;
			if (!cfg_tmpl_map_get(x, m, k->s.p, k->s.n, &item.s)) {
				item.s.p = "";
				item.s.n = 0;
			}
		} else {
			return call_err(x, FN_INDEX, "can't index item of type %s",
					cfg_tmpl_type_name(&item));
		}
	}
	*out = item;
	return true;
}

/* slice s i j: s[i:j] of a string (the map cannot be sliced). */
static bool fn_slice(struct tmpl_exec *x, const struct tmpl_val *argv, size_t argc,
		     struct tmpl_val *out)
{
	const struct tmpl_val *item = &argv[0];
	size_t idx[3];

	if (item->k == TV_INVALID)
		return call_err(x, FN_SLICE, "slice of untyped nil");
	if (argc - 1 > 3)
		return call_err(x, FN_SLICE, "too many slice indexes: %zu", argc - 1);
	if (item->k != TV_STRING)
		return call_err(x, FN_SLICE, "can't slice item of type %s",
				cfg_tmpl_type_name(item));
	if (argc - 1 == 3)
		return call_err(x, FN_SLICE, "cannot 3-index slice a string");
	idx[0] = 0;
	idx[1] = item->s.n;
	for (size_t a = 1; a < argc; a++) {
		if (!index_arg(x, FN_SLICE, &argv[a], item->s.n, &idx[a - 1]))
			return false;
	}
	if (idx[0] > idx[1])
		return call_err(x, FN_SLICE, "invalid slice index: %zu > %zu", idx[0], idx[1]);
	out->k = TV_STRING;
	out->s.p = item->s.p + idx[0];
	out->s.n = idx[1] - idx[0];
	return true;
}

static bool fn_len(struct tmpl_exec *x, const struct tmpl_val *v, struct tmpl_val *out)
{
	const struct cfg_kv *kv;
	size_t n;

	out->k = TV_INT;
	switch (v->k) {
	case TV_STRING: out->i = (int64_t)v->s.n; return true;
	case TV_MAP:
		if (!cfg_tmpl_map_entries(x, v->m, &kv, &n))
			return false;
		out->i = (int64_t)n;
		return true;
	case TV_INVALID: return call_err(x, FN_LEN, "len of nil");
	default: return call_err(x, FN_LEN, "len of type %s", cfg_tmpl_type_name(v));
	}
}

/* --- comparisons -------------------------------------------------------------- */

enum bkind { K_INVALID, K_BOOL, K_INT, K_FLOAT, K_STRING, K_UINT };

static enum bkind basic_kind(const struct tmpl_val *v)
{
	switch (v->k) {
	case TV_BOOL: return K_BOOL;
	case TV_INT: return K_INT;
	case TV_UINT8: return K_UINT;
	case TV_FLOAT: return K_FLOAT;
	case TV_STRING: return K_STRING;
	default: return K_INVALID;
	}
}

static int str_cmp(const struct tmpl_str *a, const struct tmpl_str *b)
{
	int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);

	if (c != 0)
		return c;
	return a->n < b->n ? -1 : a->n > b->n;
}

/* eq a b: a == b for one pair; *err_set when they cannot be compared. */
static bool eq1(struct tmpl_exec *x, const struct tmpl_val *a, const struct tmpl_val *b,
		enum tmpl_fn fn, bool *truth)
{
	enum bkind k1 = basic_kind(a), k2 = basic_kind(b);

	*truth = false;
	if (k1 == K_STRING && k2 == K_STRING && !cfg_tmpl_charge(x, a->s.n / 64))
		return false;
	if (k1 != k2) {
		if (k1 == K_INT && k2 == K_UINT)
			*truth = a->i >= 0 && (uint64_t)a->i == b->u8;
		else if (k1 == K_UINT && k2 == K_INT)
			*truth = b->i >= 0 && a->u8 == (uint64_t)b->i;
		else if (a->k != TV_INVALID && b->k != TV_INVALID)
			return call_err(x, fn, "incompatible types for comparison: %s and %s",
					cfg_tmpl_type_name(a), cfg_tmpl_type_name(b));
		return true;
	}
	switch (k1) {
	case K_BOOL: *truth = a->b == b->b; return true;
	case K_INT: *truth = a->i == b->i; return true;
	case K_UINT: *truth = a->u8 == b->u8; return true;
	case K_FLOAT: *truth = a->f == b->f; return true;
	case K_STRING: *truth = str_cmp(&a->s, &b->s) == 0; return true;
	case K_INVALID: break;
	}
	/* the map or no value: only nil compares (equal when both are nil) */
	if (a->k == TV_INVALID || b->k == TV_INVALID) {
		*truth = a->k == b->k;
		return true;
	}
	return call_err(x, fn, "non-comparable type map[string]string");
}

static bool fn_eq(struct tmpl_exec *x, const struct tmpl_val *argv, size_t argc, bool *truth)
{
	*truth = false;
	if (argc < 2)
		return call_err(x, FN_EQ, "missing argument for comparison");
	for (size_t i = 1; i < argc; i++) {
		if (!eq1(x, &argv[0], &argv[i], FN_EQ, truth))
			return false;
		if (*truth)
			return true;
	}
	return true;
}

/* lt a b */
static bool lt(struct tmpl_exec *x, const struct tmpl_val *a, const struct tmpl_val *b,
	       enum tmpl_fn fn, bool *truth)
{
	enum bkind k1 = basic_kind(a), k2 = basic_kind(b);

	*truth = false;
	if (k1 == K_INVALID || k2 == K_INVALID)
		return call_err(x, fn, "invalid type for comparison");
	if (k1 == K_STRING && k2 == K_STRING && !cfg_tmpl_charge(x, a->s.n / 64))
		return false;
	if (k1 != k2) {
		if (k1 == K_INT && k2 == K_UINT)
			*truth = a->i < 0 || (uint64_t)a->i < b->u8;
		else if (k1 == K_UINT && k2 == K_INT)
			*truth = b->i >= 0 && a->u8 < (uint64_t)b->i;
		else
			return call_err(x, fn, "incompatible types for comparison: %s and %s",
					cfg_tmpl_type_name(a), cfg_tmpl_type_name(b));
		return true;
	}
	switch (k1) {
	case K_INT: *truth = a->i < b->i; return true;
	case K_UINT: *truth = a->u8 < b->u8; return true;
	case K_FLOAT: *truth = a->f < b->f; return true;
	case K_STRING: *truth = str_cmp(&a->s, &b->s) < 0; return true;
	default: return call_err(x, fn, "invalid type for comparison");
	}
}

/* ne, lt, le, gt, ge of two values. */
static bool compare(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *a,
		    const struct tmpl_val *b, bool *truth)
{
	bool less = false;

	switch (fn) {
	case FN_NE:
		if (!eq1(x, a, b, fn, truth))
			return false;
		*truth = !*truth;
		return true;
	case FN_LT: return lt(x, a, b, fn, truth);
	case FN_GE:
		if (!lt(x, a, b, fn, &less))
			return false;
		*truth = !less;
		return true;
	default: /* le, gt: < or == */
		if (!lt(x, a, b, fn, &less))
			return false;
		if (!less && !eq1(x, a, b, fn, &less))
			return false;
		*truth = fn == FN_LE ? less : !less;
		return true;
	}
}

/* --- escapers --------------------------------------------------------------------- */

/* evalArgs: one string as is, else fmt.Sprint with nil as "<no value>". */
static bool eval_args(struct tmpl_exec *x, const struct tmpl_val *argv, size_t argc,
		      struct tmpl_val *out)
{
	struct tmpl_val *a;
	struct tmpl_w w;

	if (argc == 1 && argv[0].k == TV_STRING) {
		*out = argv[0];
		return true;
	}
	a = fc_xcalloc(argc + 1, sizeof(*a));
	for (size_t i = 0; i < argc; i++) {
		a[i] = argv[i];
		if (a[i].k == TV_NIL || a[i].k == TV_INVALID) {
			a[i].k = TV_STRING;
			a[i].s.p = "<no value>";
			a[i].s.n = 10;
		}
	}
	cfg_tmpl_w_init(&w, CFG_TEMPLATE_MAX_MEM);
	if (!cfg_tmpl_sprint(x, &w, a, argc, false)) {
		fc_buf_free(&w.b);
		free(a);
		return false;
	}
	free(a);
	return cfg_tmpl_w_to_val(x, &w, out);
}

/* template.HTMLEscapeString */
static void html_escape(struct tmpl_w *w, const struct tmpl_str *s)
{
	for (size_t i = 0; i < s->n; i++) {
		switch (s->p[i]) {
		case '\0': cfg_tmpl_puts(w, "\xef\xbf\xbd"); break;
		case '"': cfg_tmpl_puts(w, "&#34;"); break;
		case '\'': cfg_tmpl_puts(w, "&#39;"); break;
		case '&': cfg_tmpl_puts(w, "&amp;"); break;
		case '<': cfg_tmpl_puts(w, "&lt;"); break;
		case '>': cfg_tmpl_puts(w, "&gt;"); break;
		default: cfg_tmpl_putc(w, s->p[i]); break;
		}
	}
}

/* template.JSEscapeString */
static void js_escape(struct tmpl_w *w, const struct tmpl_str *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < s->n; i++) {
		uint8_t c = (uint8_t)s->p[i];
		size_t size;
		int32_t r;
		char u[12];

		if (c >= 0x80) {
			r = cfg_tmpl_decode_rune(s->p + i, s->n - i, &size);
			if (cfg_tmpl_is_print(r)) {
				cfg_tmpl_put(w, s->p + i, size);
			} else {
				snprintf(u, sizeof(u), "\\u%04X", (unsigned)r);
				cfg_tmpl_puts(w, u);
			}
			i += size - 1;
			continue;
		}
		switch (c) {
		case '\\': cfg_tmpl_puts(w, "\\\\"); break;
		case '\'': cfg_tmpl_puts(w, "\\'"); break;
		case '"': cfg_tmpl_puts(w, "\\\""); break;
		case '<': cfg_tmpl_puts(w, "\\u003C"); break;
		case '>': cfg_tmpl_puts(w, "\\u003E"); break;
		case '&': cfg_tmpl_puts(w, "\\u0026"); break;
		case '=': cfg_tmpl_puts(w, "\\u003D"); break;
		default:
			if (c < ' ') {
				u[0] = '\\';
				u[1] = 'u';
				u[2] = '0';
				u[3] = '0';
				u[4] = hex[c >> 4];
				u[5] = hex[c & 15];
				cfg_tmpl_put(w, u, 6);
			} else {
				cfg_tmpl_putc(w, (char)c);
			}
		}
	}
}

/* url.QueryEscape: unreserved bytes stay, space is '+', the rest %XX. */
static void query_escape(struct tmpl_w *w, const struct tmpl_str *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < s->n; i++) {
		uint8_t c = (uint8_t)s->p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			cfg_tmpl_putc(w, (char)c);
		} else if (c == ' ') {
			cfg_tmpl_putc(w, '+');
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			cfg_tmpl_put(w, e, 3);
		}
	}
}

static bool escaper(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *argv, size_t argc,
		    struct tmpl_val *out)
{
	struct tmpl_val s;
	struct tmpl_w w;

	if (!eval_args(x, argv, argc, &s) || !cfg_tmpl_charge(x, s.s.n / 16))
		return false;
	cfg_tmpl_w_init(&w, CFG_TEMPLATE_MAX_MEM);
	if (fn == FN_HTML)
		html_escape(&w, &s.s);
	else if (fn == FN_JS)
		js_escape(&w, &s.s);
	else
		query_escape(&w, &s.s);
	return cfg_tmpl_w_to_val(x, &w, out);
}

static bool printer(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *argv, size_t argc,
		    struct tmpl_val *out)
{
	struct tmpl_w w;
	bool ok;

	cfg_tmpl_w_init(&w, CFG_TEMPLATE_MAX_MEM);
	if (fn == FN_PRINTF)
		ok = cfg_tmpl_sprintf(x, &w, argv[0].s, argv + 1, argc - 1);
	else
		ok = cfg_tmpl_sprint(x, &w, argv, argc, fn == FN_PRINTLN);
	if (!ok) {
		fc_buf_free(&w.b);
		return false;
	}
	return cfg_tmpl_w_to_val(x, &w, out);
}

/*
 * Apply builtin fn (not and, or or call) to evaluated arguments whose
 * number was checked against the function's signature. Returns true with
 * the result in *out, else false with the error set.
 */
bool cfg_tmpl_builtin(struct tmpl_exec *x, enum tmpl_fn fn, const struct tmpl_val *argv,
		      size_t argc, struct tmpl_val *out)
{
	bool truth;

	switch (fn) {
	case FN_INDEX: return fn_index(x, argv, argc, out);
	case FN_SLICE: return fn_slice(x, argv, argc, out);
	case FN_LEN: return fn_len(x, &argv[0], out);
	case FN_NOT:
		if (!cfg_tmpl_truth(x, &argv[0], &truth))
			return false;
		out->k = TV_BOOL;
		out->b = !truth;
		return true;
	case FN_EQ:
	case FN_NE:
	case FN_LT:
	case FN_LE:
	case FN_GT:
	case FN_GE:
		if (!(fn == FN_EQ ? fn_eq(x, argv, argc, &truth)
				  : compare(x, fn, &argv[0], &argv[1], &truth)))
			return false;
		out->k = TV_BOOL;
		out->b = truth;
		return true;
	case FN_HTML:
	case FN_JS:
	case FN_URLQUERY: return escaper(x, fn, argv, argc, out);
	case FN_PRINT:
	case FN_PRINTF:
	case FN_PRINTLN: return printer(x, fn, argv, argc, out);
	default: break;
	}
	return cfg_tmpl_errorf(x, "%s is not a builtin", cfg_tmpl_fns[fn].name);
}
