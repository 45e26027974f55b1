/*
 * config: the subset of Go's text/template that Fulcio's CI-provider
 * templates use (pkg/identity/ciprovider/principal.go executes them with
 * Option("missingkey=error") over a map[string]string of claims merged over
 * DefaultTemplateValues).
 *
 * Supported: literal text; actions {{ X }} printing X; comment actions;
 * trim markers "{{- " and " -}}"; {{if X}} ... {{else if Y}} ... {{else}}
 * ... {{end}}; and as X: .name, "string" and `raw` literals, true/false,
 * (X), and the functions index (index . "key"), eq, ne, not, and, or.
 *
 * As in Go over a map[string]string: `.name` with no such key is an error
 * (missingkey=error), while `index . "name"` with no such key yields "" (the
 * map's zero value; missingkey does not apply to index). eq/ne compare two
 * strings or two booleans; printing a boolean prints true/false; "" is false
 * in if/not/and/or.
 *
 * Whether a configured value is a template at all is the caller's rule
 * (Fulcio: only values containing "{{"; others name a claim).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "config_int.h"

/* Rendered output above this is refused. */
#define TMPL_MAX_OUT (256 * 1024)
/* Nesting of if and parentheses. */
#define TMPL_MAX_DEPTH 32

enum fn { FN_INDEX, FN_EQ, FN_NE, FN_NOT, FN_AND, FN_OR };

enum expr_kind {
	EX_DOT,    /* `.`, only as index's first argument */
	EX_FIELD,  /* .name */
	EX_STRING, /* "..." or `...` */
	EX_BOOL,   /* true / false */
	EX_CALL,   /* fn args... */
};

struct expr {
	enum expr_kind kind;
	char *s; /* field name or string value */
	bool b;
	enum fn fn;
	struct expr **args;
	size_t nargs;
};

enum node_kind { ND_TEXT, ND_ACTION, ND_IF };

struct tlist {
	struct tnode **v;
	size_t n;
};

struct tnode {
	enum node_kind kind;
	char *text; /* ND_TEXT */
	size_t len;
	struct expr *e;          /* ND_ACTION: printed; ND_IF: condition */
	struct tlist then, els;  /* ND_IF */
};

struct cfg_template {
	struct tlist root;
};

/* How a list of nodes ended. */
enum term { TERM_EOF, TERM_END, TERM_ELSE, TERM_ELSE_IF };

struct parser {
	const char *src;
	size_t len, pos;
	bool trim_next; /* the last action ended with " -}}" */
	size_t act;     /* offset of the current action's "{{", for messages */
	int depth;
	struct fc_err *err;
};

static const struct {
	const char *name;
	enum fn fn;
	size_t min, max; /* arity; max 0 = no limit */
} funcs[] = {
	{ "index", FN_INDEX, 2, 2 }, { "eq", FN_EQ, 2, 0 },  { "ne", FN_NE, 2, 2 },
	{ "not", FN_NOT, 1, 1 },     { "and", FN_AND, 1, 0 }, { "or", FN_OR, 1, 0 },
};

static void expr_free(struct expr *e)
{
	if (e == NULL)
		return;
	free(e->s);
	for (size_t i = 0; i < e->nargs; i++)
		expr_free(e->args[i]);
	free(e->args);
	free(e);
}

static void list_free(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct tnode *nd = l->v[i];
		free(nd->text);
		expr_free(nd->e);
		list_free(&nd->then);
		list_free(&nd->els);
		free(nd);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Free a parsed template. NULL is fine.
 */
void cfg_template_free(struct cfg_template *t)
{
	if (t == NULL)
		return;
	list_free(&t->root);
	free(t);
}

static struct tnode *list_add(struct tlist *l, enum node_kind kind)
{
	struct tnode *nd = fc_xcalloc(1, sizeof(*nd));

	nd->kind = kind;
	l->v = fc_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = nd;
	return nd;
}

/* --- parsing --------------------------------------------------------------- */

static bool perr(struct parser *p, size_t at, const char *fmt, ...) FC_PRINTF(3, 4);

static bool perr(struct parser *p, size_t at, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	char what[200];
	va_list ap;

	for (size_t i = 0; i < at && i < p->len; i++) {
		if (p->src[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fc_err_set(p->err, FC_ECONFIG, "template: line %zu col %zu: %s", line, col, what);
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->len && is_space(p->src[p->pos]))
		p->pos++;
}

static bool starts(const struct parser *p, const char *s)
{
	size_t l = strlen(s);
	return p->len - p->pos >= l && memcmp(p->src + p->pos, s, l) == 0;
}

/*
 * At the end of an action: "}}" or, after a space, "-}}". Consumes it.
 */
static bool at_close(struct parser *p, bool consume)
{
	if (starts(p, "}}")) {
		if (consume)
			p->pos += 2;
		return true;
	}
	if (starts(p, "-}}") && p->pos > 0 && is_space(p->src[p->pos - 1])) {
		if (consume) {
			p->pos += 3;
			p->trim_next = true;
		}
		return true;
	}
	return false;
}

static bool is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static char *read_ident(struct parser *p)
{
	size_t s = p->pos;

	while (p->pos < p->len && is_ident(p->src[p->pos]))
		p->pos++;
	return fc_xstrndup(p->src + s, p->pos - s);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_utf8(struct fc_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	fc_buf_append(b, u, n);
}

/*
 * A Go string literal: "..." with Go's escapes, or `...` raw (carriage
 * returns dropped, as Go does). NUL characters are refused.
 */
static bool read_string(struct parser *p, char **out)
{
	static const char simple_from[] = "abfnrtv\\\"";
	static const char simple_to[] = "\a\b\f\n\r\t\v\\\"";
	size_t start = p->pos;
	char q = p->src[p->pos++];
	const char *esc;
	struct fc_buf b;

	fc_buf_init(&b, 0);
	for (;;) {
		char c;

		if (p->pos >= p->len || (q == '"' && p->src[p->pos] == '\n')) {
			fc_buf_free(&b);
			return perr(p, start, "unterminated string");
		}
		c = p->src[p->pos++];
		if (c == q)
			break;
		if (q == '`') {
			if (c != '\r')
				fc_buf_append(&b, &c, 1);
			continue;
		}
		if (c != '\\') {
			fc_buf_append(&b, &c, 1);
			continue;
		}
		if (p->pos >= p->len)
			continue; /* reported as unterminated next round */
		c = p->src[p->pos++];
		if ((esc = strchr(simple_from, c)) != NULL && c != '\0') {
			fc_buf_append(&b, &simple_to[esc - simple_from], 1);
			continue;
		}
		switch (c) {
		case 'x':
		case 'u':
		case 'U': {
			size_t nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t v = 0;

			for (size_t i = 0; i < nd; i++) {
				int h = p->pos < p->len ? hexval(p->src[p->pos]) : -1;
				if (h < 0) {
					fc_buf_free(&b);
					return perr(p, p->pos, "bad escape in string");
				}
				v = v << 4 | (uint32_t)h;
				p->pos++;
			}
			if (v == 0 || (c != 'x' && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)))) {
				fc_buf_free(&b);
				return perr(p, p->pos, "bad escape in string");
			}
			if (c == 'x') {
				uint8_t u = (uint8_t)v;
				fc_buf_append(&b, &u, 1);
			} else {
				put_utf8(&b, v);
			}
			break;
		}
		default:
			fc_buf_free(&b);
			return perr(p, p->pos - 1, "unsupported escape in string");
		}
	}
	if (b.data != NULL && memchr(b.data, '\0', b.len) != NULL) {
		fc_buf_free(&b);
		return perr(p, start, "NUL character in string");
	}
	*out = fc_buf_steal(&b, NULL);
	return true;
}

static struct expr *parse_command(struct parser *p, bool in_paren);

/*
 * One operand: .name, ., a string, true/false, (command), or a function
 * name (returned as EX_CALL without arguments; the caller collects them).
 */
static struct expr *parse_operand(struct parser *p)
{
	struct expr *e = NULL;
	size_t at;
	char *id;

	skip_space(p);
	at = p->pos;
	if (p->pos >= p->len)
		return perr(p, at, "unclosed action"), NULL;
	if (p->src[p->pos] == '.') {
		p->pos++;
		e = fc_xcalloc(1, sizeof(*e));
		if (p->pos < p->len && is_ident_start(p->src[p->pos])) {
			e->kind = EX_FIELD;
			e->s = read_ident(p);
			if (p->pos < p->len && p->src[p->pos] == '.') {
				expr_free(e);
				return perr(p, at, "nested fields are not supported"), NULL;
			}
		} else if (p->pos < p->len && (is_ident(p->src[p->pos]) || p->src[p->pos] == '.')) {
			expr_free(e);
			return perr(p, at, "bad field name"), NULL;
		} else {
			e->kind = EX_DOT;
		}
		return e;
	}
	if (p->src[p->pos] == '"' || p->src[p->pos] == '`') {
		e = fc_xcalloc(1, sizeof(*e));
		e->kind = EX_STRING;
		if (!read_string(p, &e->s)) {
			expr_free(e);
			return NULL;
		}
		return e;
	}
	if (p->src[p->pos] == '(') {
		if (++p->depth > TMPL_MAX_DEPTH)
			return perr(p, at, "nested too deeply"), NULL;
		p->pos++;
		e = parse_command(p, true);
		p->depth--;
		if (e == NULL)
			return NULL;
		skip_space(p);
		if (p->pos >= p->len || p->src[p->pos] != ')') {
			expr_free(e);
			return perr(p, at, "unclosed left paren"), NULL;
		}
		p->pos++;
		return e;
	}
	if (is_ident_start(p->src[p->pos])) {
		id = read_ident(p);
		if (strcmp(id, "true") == 0 || strcmp(id, "false") == 0) {
			e = fc_xcalloc(1, sizeof(*e));
			e->kind = EX_BOOL;
			e->b = id[0] == 't';
			free(id);
			return e;
		}
		for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
			if (strcmp(funcs[i].name, id) == 0) {
				e = fc_xcalloc(1, sizeof(*e));
				e->kind = EX_CALL;
				e->fn = funcs[i].fn;
				e->s = id; /* kept for messages */
				return e;
			}
		}
		perr(p, at, "function \"%s\" not defined or not supported", id);
		free(id);
		return NULL;
	}
	if (p->src[p->pos] == '$')
		return perr(p, at, "variables are not supported"), NULL;
	if (p->src[p->pos] == '|')
		return perr(p, at, "pipelines with | are not supported"), NULL;
	if (at_close(p, false) || p->src[p->pos] == ')')
		return perr(p, at, "missing value for command"), NULL;
	return perr(p, at, "unexpected character in action"), NULL;
}

static bool at_command_end(struct parser *p, bool in_paren)
{
	skip_space(p);
	if (p->pos >= p->len)
		return true;
	if (in_paren && p->src[p->pos] == ')')
		return true;
	return at_close(p, false);
}

/*
 * A command: an operand alone, or a function and its arguments; ends at
 * the action's close (or at ')' inside parentheses), which is not consumed.
 */
static struct expr *parse_command(struct parser *p, bool in_paren)
{
	struct expr *e = parse_operand(p);
	size_t at = p->pos;
	size_t fi = 0;

	if (e == NULL)
		return NULL;
	if (e->kind != EX_CALL || e->nargs > 0) {
		if (!at_command_end(p, in_paren)) {
			char c = p->src[p->pos];
			expr_free(e);
			if (c == '|')
				return perr(p, p->act, "pipelines with | are not supported"), NULL;
			if (c == '}')
				return perr(p, p->act, "unexpected \"}\" in action"), NULL;
			return perr(p, p->act, "arguments are only allowed after a function"),
			       NULL;
		}
		if (e->kind == EX_DOT) {
			expr_free(e);
			return perr(p, at, "`.` is only supported as index's first argument"),
			       NULL;
		}
		return e;
	}
	while (!at_command_end(p, in_paren)) {
		struct expr *a = parse_operand(p);
		if (a == NULL) {
			expr_free(e);
			return NULL;
		}
		if (a->kind == EX_CALL && a->nargs == 0) {
			perr(p, at, "function \"%s\" needs parentheses when used as an argument",
			     a->s);
			expr_free(a);
			expr_free(e);
			return NULL;
		}
		e->args = fc_xrealloc(e->args, (e->nargs + 1) * sizeof(*e->args));
		e->args[e->nargs++] = a;
	}
	while (funcs[fi].fn != e->fn)
		fi++;
	if (e->nargs < funcs[fi].min || (funcs[fi].max != 0 && e->nargs > funcs[fi].max)) {
		perr(p, at, "wrong number of arguments for %s", e->s);
		expr_free(e);
		return NULL;
	}
	for (size_t i = 0; i < e->nargs; i++) {
		bool dot_ok = e->fn == FN_INDEX && i == 0;
		if ((e->args[i]->kind == EX_DOT) != dot_ok) {
			perr(p, at,
			     dot_ok ? "index is only supported on `.` (%s . \"key\")"
				    : "`.` is only supported as index's first argument (in %s)",
			     e->s);
			expr_free(e);
			return NULL;
		}
	}
	return e;
}

static bool parse_list(struct parser *p, struct tlist *l, enum term *term, struct expr **cond);

/*
 * Close an action: "}}" or " -}}".
 */
static bool expect_close(struct parser *p, size_t at)
{
	skip_space(p);
	if (at_close(p, true))
		return true;
	return perr(p, at, p->pos >= p->len ? "unclosed action" : "unexpected text in action");
}

/*
 * The rest of an {{if}} whose condition is parsed: its branches up to the
 * {{end}} it shares with any {{else if}}.
 */
static bool parse_if_rest(struct parser *p, struct tnode *nd, size_t at)
{
	struct expr *cond = NULL;
	enum term t;
	bool ok;

	if (++p->depth > TMPL_MAX_DEPTH)
		return perr(p, at, "nested too deeply");
	if (!parse_list(p, &nd->then, &t, &cond))
		return false;
	switch (t) {
	case TERM_END:
		ok = true;
		break;
	case TERM_ELSE:
		ok = parse_list(p, &nd->els, &t, &cond);
		if (ok && t != TERM_END) {
			expr_free(cond);
			ok = perr(p, at, t == TERM_EOF ? "unexpected EOF: {{if}} without {{end}}"
						       : "{{else}} after {{else}}");
		}
		break;
	case TERM_ELSE_IF: {
		struct tnode *inner = list_add(&nd->els, ND_IF);
		inner->e = cond;
		ok = parse_if_rest(p, inner, at);
		break;
	}
	default:
		ok = perr(p, at, "unexpected EOF: {{if}} without {{end}}");
		break;
	}
	p->depth--;
	return ok;
}

/*
 * Parse one action after its "{{" (and trim marker). Adds a node to l, or
 * reports a terminator (end / else / else if) in *term.
 */
static bool parse_action(struct parser *p, struct tlist *l, bool *is_term, enum term *term,
			 struct expr **cond)
{
	size_t at = p->act;
	struct tnode *nd;
	struct expr *e;

	*is_term = false;
	if (starts(p, "/*")) {
		const char *end = NULL;
		for (size_t i = p->pos + 2; i + 1 < p->len; i++) {
			if (p->src[i] == '*' && p->src[i + 1] == '/') {
				end = p->src + i;
				break;
			}
		}
		if (end == NULL)
			return perr(p, at, "unclosed comment");
		p->pos = (size_t)(end - p->src) + 2;
		if (at_close(p, true))
			return true;
		if (p->pos < p->len && is_space(p->src[p->pos])) {
			p->pos++;
			if (starts(p, "-}}")) {
				p->pos += 3;
				p->trim_next = true;
				return true;
			}
		}
		return perr(p, at, "comment ends before closing delimiter");
	}
	skip_space(p);
	if (p->pos < p->len && is_ident_start(p->src[p->pos])) {
		size_t save = p->pos;
		char *kw = read_ident(p);

		if (strcmp(kw, "end") == 0 || strcmp(kw, "else") == 0) {
			bool is_else = kw[0] == 'e' && kw[1] == 'l';
			free(kw);
			*is_term = true;
			*term = is_else ? TERM_ELSE : TERM_END;
			skip_space(p);
			if (is_else && starts(p, "if") &&
			    (p->pos + 2 >= p->len || !is_ident(p->src[p->pos + 2]))) {
				p->pos += 2;
				if ((*cond = parse_command(p, false)) == NULL)
					return false;
				*term = TERM_ELSE_IF;
			}
			if (!expect_close(p, at)) {
				/* callers own *cond only on success */
				expr_free(*cond);
				*cond = NULL;
				return false;
			}
			return true;
		}
		if (strcmp(kw, "if") == 0) {
			free(kw);
			if ((e = parse_command(p, false)) == NULL)
				return false;
			nd = list_add(l, ND_IF);
			nd->e = e;
			if (!expect_close(p, at))
				return false;
			return parse_if_rest(p, nd, at);
		}
		if (strcmp(kw, "range") == 0 || strcmp(kw, "with") == 0 ||
		    strcmp(kw, "define") == 0 || strcmp(kw, "template") == 0 ||
		    strcmp(kw, "block") == 0 || strcmp(kw, "break") == 0 ||
		    strcmp(kw, "continue") == 0) {
			perr(p, at, "{{%s}} is not supported", kw);
			free(kw);
			return false;
		}
		free(kw);
		p->pos = save;
	}
	if ((e = parse_command(p, false)) == NULL)
		return false;
	nd = list_add(l, ND_ACTION);
	nd->e = e;
	return expect_close(p, at);
}

/*
 * Text and actions up to the end of input or a terminating action.
 */
static bool parse_list(struct parser *p, struct tlist *l, enum term *term, struct expr **cond)
{
	for (;;) {
		const char *open = NULL;
		size_t start = p->pos, stop;
		bool trim_left = false, is_term;

		for (size_t i = p->pos; i + 1 < p->len; i++) {
			if (p->src[i] == '{' && p->src[i + 1] == '{') {
				open = p->src + i;
				break;
			}
		}
		stop = open ? (size_t)(open - p->src) : p->len;
		if (open != NULL && stop + 3 < p->len && p->src[stop + 2] == '-' &&
		    is_space(p->src[stop + 3]))
			trim_left = true;
		if (p->trim_next) {
			while (start < stop && is_space(p->src[start]))
				start++;
			p->trim_next = false;
		}
		if (trim_left) {
			while (stop > start && is_space(p->src[stop - 1]))
				stop--;
		}
		if (stop > start) {
			struct tnode *nd = list_add(l, ND_TEXT);
			nd->text = fc_xstrndup(p->src + start, stop - start);
			nd->len = stop - start;
		}
		if (open == NULL) {
			p->pos = p->len;
			*term = TERM_EOF;
			return true;
		}
		p->act = (size_t)(open - p->src);
		p->pos = p->act + (trim_left ? 4 : 2);
		if (!parse_action(p, l, &is_term, term, cond))
			return false;
		if (is_term)
			return true;
	}
}

/*
 * Parse a template of the supported subset (see the top of this file).
 * Returns FC_OK and *out (free with cfg_template_free), else FC_ECONFIG
 * with the line and column of the problem in err.
 */
enum fc_status cfg_template_parse(const char *text, struct cfg_template **out, struct fc_err *err)
{
	struct parser p = { .src = text, .len = text ? strlen(text) : 0, .err = err };
	struct cfg_template *t = fc_xcalloc(1, sizeof(*t));
	struct expr *cond = NULL;
	enum term term = TERM_EOF;

	if (text == NULL || out == NULL) {
		cfg_template_free(t);
		return fc_err_set(err, FC_ECONFIG, "template: no text");
	}
	if (!parse_list(&p, &t->root, &term, &cond))
		goto fail;
	if (term != TERM_EOF) {
		expr_free(cond);
		perr(&p, p.pos, term == TERM_END ? "unexpected {{end}}" : "unexpected {{else}}");
		goto fail;
	}
	*out = t;
	return FC_OK;
fail:
	cfg_template_free(t);
	return FC_ECONFIG;
}

/* --- rendering ----------------------------------------------------------- */

enum vtype { V_STR, V_BOOL };

struct val {
	enum vtype t;
	const char *s; /* borrowed: from the template or from lookup */
	bool b;
};

struct rctx {
	const char *(*lookup)(void *ctx, const char *name);
	void *ctx;
	struct fc_err *err;
};

static bool truth(const struct val *v)
{
	return v->t == V_BOOL ? v->b : v->s[0] != '\0';
}

static bool eval(struct rctx *r, const struct expr *e, struct val *out);

static bool eval_str(struct rctx *r, const struct expr *e, const char *fn, struct val *v)
{
	if (!eval(r, e, v))
		return false;
	if (v->t != V_STR) {
		fc_err_set(r->err, FC_EINPUT, "template: %s: key has type bool; should be string",
			   fn);
		return false;
	}
	return true;
}

static bool eval_call(struct rctx *r, const struct expr *e, struct val *out)
{
	struct val a, b;

	switch (e->fn) {
	case FN_INDEX:
		if (!eval_str(r, e->args[1], "index", &a))
			return false;
		out->t = V_STR;
		out->s = r->lookup(r->ctx, a.s);
		if (out->s == NULL)
			out->s = ""; /* the zero value of a map[string]string */
		return true;
	case FN_EQ:
	case FN_NE:
		if (!eval(r, e->args[0], &a))
			return false;
		out->t = V_BOOL;
		out->b = false;
		for (size_t i = 1; i < e->nargs; i++) {
			if (!eval(r, e->args[i], &b))
				return false;
			if (a.t != b.t) {
				fc_err_set(r->err, FC_EINPUT,
					   "template: %s: incompatible types for comparison", e->s);
				return false;
			}
			if (a.t == V_BOOL ? a.b == b.b : strcmp(a.s, b.s) == 0)
				out->b = true;
		}
		if (e->fn == FN_NE)
			out->b = !out->b;
		return true;
	case FN_NOT:
		if (!eval(r, e->args[0], &a))
			return false;
		out->t = V_BOOL;
		out->b = !truth(&a);
		return true;
	case FN_AND:
	case FN_OR:
		/* The first argument that decides, else the last (short-circuit). */
		for (size_t i = 0; i < e->nargs; i++) {
			if (!eval(r, e->args[i], out))
				return false;
			if (truth(out) == (e->fn == FN_OR))
				return true;
		}
		return true;
	}
	return false;
}

static bool eval(struct rctx *r, const struct expr *e, struct val *out)
{
	switch (e->kind) {
	case EX_FIELD:
		out->t = V_STR;
		out->s = r->lookup(r->ctx, e->s);
		if (out->s == NULL) {
			fc_err_set(r->err, FC_EINPUT,
				   "template: executing at <.%s>: map has no entry for key \"%s\"",
				   e->s, e->s);
			return false;
		}
		return true;
	case EX_STRING:
		out->t = V_STR;
		out->s = e->s;
		return true;
	case EX_BOOL:
		out->t = V_BOOL;
		out->b = e->b;
		return true;
	case EX_CALL:
		return eval_call(r, e, out);
	case EX_DOT:
		break; /* refused by the parser */
	}
	fc_err_set(r->err, FC_EINTERNAL, "template: cannot evaluate `.`");
	return false;
}

static bool render_list(struct rctx *r, const struct tlist *l, struct fc_buf *b)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct tnode *nd = l->v[i];
		struct val v;
		bool ok = true;

		switch (nd->kind) {
		case ND_TEXT:
			ok = fc_buf_append(b, nd->text, nd->len);
			break;
		case ND_ACTION:
			if (!eval(r, nd->e, &v))
				return false;
			ok = fc_buf_append_str(b, v.t == V_STR ? v.s : v.b ? "true" : "false");
			break;
		case ND_IF:
			if (!eval(r, nd->e, &v))
				return false;
			if (!render_list(r, truth(&v) ? &nd->then : &nd->els, b))
				return false;
			break;
		}
		if (!ok) {
			fc_err_set(r->err, FC_EINPUT, "template: output larger than %d bytes",
				   TMPL_MAX_OUT);
			return false;
		}
	}
	return true;
}

/*
 * Execute a parsed template over the names that lookup resolves (the value
 * must stay valid during the call; NULL means "not set"). Returns FC_OK and
 * *out (NUL-terminated, caller frees), else FC_EINPUT naming the missing key
 * or the type error in err.
 */
enum fc_status cfg_template_render(const struct cfg_template *t,
				   const char *(*lookup)(void *ctx, const char *name), void *ctx,
				   char **out, struct fc_err *err)
{
	struct rctx r = { .lookup = lookup, .ctx = ctx, .err = err };
	struct fc_buf b;

	if (t == NULL || lookup == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "template: bad arguments");
	fc_buf_init(&b, TMPL_MAX_OUT);
	if (!render_list(&r, &t->root, &b)) {
		fc_buf_free(&b);
		return err && err->status != FC_OK ? err->status : FC_EINPUT;
	}
	*out = fc_buf_steal(&b, NULL);
	return FC_OK;
}
