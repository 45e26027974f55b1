/*
 * config: the parser of the claim templates, a port of Go's
 * text/template/parse/parse.go (Tree.Parse with the builtin functions
 * only, as template.New("").Parse does) producing the tree of
 * template_int.h. What Go refuses here is refused here; in addition
 * fulcrum refuses complex constants, templates longer than
 * CFG_TEMPLATE_MAX_LEN and nesting deeper than CFG_TEMPLATE_MAX_DEPTH.
 *
 * Go stops at the first error with a panic; here every function returns
 * NULL (or false) once p->failed is set, and callers pass that up.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "template_int.h"

struct parser {
	struct cfg_template *t;
	struct tmpl_lexer lex;
	struct tmpl_item_tok token[3]; /* three-token lookahead */
	int peek_count;
	/* of the tree being parsed ({{define}} and {{block}} start afresh) */
	struct tmpl_str *vars;
	size_t n_vars, cap_vars;
	int range_depth;
	/* fulcrum's cap on nesting of controls and parentheses */
	int depth;
	bool failed;
	struct fc_err *err;
};

const struct tmpl_fninfo cfg_tmpl_fns[FN_COUNT] = {
	[FN_AND] = {"and", 1, true, TP_VALUE, TP_VALUE},
	[FN_CALL] = {"call", 1, true, TP_VALUE, TP_VALUE},
	[FN_EQ] = {"eq", 1, true, TP_VALUE, TP_VALUE},
	[FN_GE] = {"ge", 2, false, TP_VALUE, TP_VALUE},
	[FN_GT] = {"gt", 2, false, TP_VALUE, TP_VALUE},
	[FN_HTML] = {"html", 0, true, TP_ANY, TP_ANY},
	[FN_INDEX] = {"index", 1, true, TP_VALUE, TP_VALUE},
	[FN_JS] = {"js", 0, true, TP_ANY, TP_ANY},
	[FN_LE] = {"le", 2, false, TP_VALUE, TP_VALUE},
	[FN_LEN] = {"len", 1, false, TP_VALUE, TP_VALUE},
	[FN_LT] = {"lt", 2, false, TP_VALUE, TP_VALUE},
	[FN_NE] = {"ne", 2, false, TP_VALUE, TP_VALUE},
	[FN_NOT] = {"not", 1, false, TP_VALUE, TP_VALUE},
	[FN_OR] = {"or", 1, true, TP_VALUE, TP_VALUE},
	[FN_PRINT] = {"print", 0, true, TP_ANY, TP_ANY},
	[FN_PRINTF] = {"printf", 1, true, TP_STRING, TP_ANY},
	[FN_PRINTLN] = {"println", 0, true, TP_ANY, TP_ANY},
	[FN_SLICE] = {"slice", 1, true, TP_VALUE, TP_VALUE},
	[FN_URLQUERY] = {"urlquery", 0, true, TP_ANY, TP_ANY},
};

/*
 * The builtin function spelled s[0..n), or FN_COUNT.
 */
enum tmpl_fn cfg_tmpl_fn_find(const char *s, size_t n)
{
	for (int i = 0; i < FN_COUNT; i++) {
		if (strlen(cfg_tmpl_fns[i].name) == n && memcmp(cfg_tmpl_fns[i].name, s, n) == 0)
			return (enum tmpl_fn)i;
	}
	return FN_COUNT;
}

/* --- errors, memory ---------------------------------------------------------- */

static bool perr(struct parser *p, size_t pos, const char *fmt, ...) FC_PRINTF(3, 4);

static bool perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char what[256];
	size_t line, col;
	va_list ap;

	if (p->failed)
		return false;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cfg_tmpl_line_col(p->t->text, p->t->len, pos, &line, &col);
	fc_err_set(p->err, FC_ECONFIG, "template: line %zu col %zu: %s", line, col, what);
	return false;
}

static void *palloc(struct parser *p, size_t n)
{
	void *m = cfg_tmpl_alloc(&p->t->arena, n);

	if (m == NULL)
		perr(p, p->lex.pos, "template too large to parse");
	return m;
}

/* Grow an arena array of `size`-byte elements to hold one more. */
static bool grow(struct parser *p, void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	if ((nv = palloc(p, ncap * size)) == NULL)
		return false;
	if (n > 0)
		memcpy(nv, *v, n * size);
	*v = nv;
	*cap = ncap;
	return true;
}

static struct tmpl_list *new_list(struct parser *p)
{
	return palloc(p, sizeof(struct tmpl_list));
}

static bool list_append(struct parser *p, struct tmpl_list *l, struct tmpl_node *n)
{
	if (!grow(p, (void **)&l->v, &l->cap, l->n, sizeof(*l->v)))
		return false;
	l->v[l->n++] = n;
	return true;
}

static struct tmpl_node *new_node(struct parser *p, enum tmpl_node_kind kind, size_t pos)
{
	struct tmpl_node *n = palloc(p, sizeof(*n));

	if (n != NULL) {
		n->kind = kind;
		n->pos = (uint32_t)pos;
	}
	return n;
}

static struct tmpl_arg *new_arg(struct parser *p, enum tmpl_arg_kind kind, size_t pos)
{
	struct tmpl_arg *a = palloc(p, sizeof(*a));

	if (a != NULL) {
		a->kind = kind;
		a->pos = (uint32_t)pos;
	}
	return a;
}

static bool add_ident(struct parser *p, struct tmpl_arg *a, size_t *cap, const char *s, size_t n)
{
	if (!grow(p, (void **)&a->idents, cap, a->n_idents, sizeof(*a->idents)))
		return false;
	a->idents[a->n_idents].p = s;
	a->idents[a->n_idents].n = n;
	a->n_idents++;
	return true;
}

/* --- tokens ------------------------------------------------------------------ */

static struct tmpl_item_tok next_tok(struct parser *p)
{
	if (p->peek_count > 0)
		p->peek_count--;
	else
		p->token[0] = cfg_tmpl_lex_next(&p->lex);
	return p->token[p->peek_count];
}

static void backup1(struct parser *p)
{
	p->peek_count++;
}

static void backup2(struct parser *p, struct tmpl_item_tok t1)
{
	p->token[1] = t1;
	p->peek_count = 2;
}

static void backup3(struct parser *p, struct tmpl_item_tok t2, struct tmpl_item_tok t1)
{
	p->token[1] = t1;
	p->token[2] = t2;
	p->peek_count = 3;
}

static struct tmpl_item_tok peek_tok(struct parser *p)
{
	if (p->peek_count > 0)
		return p->token[p->peek_count - 1];
	p->peek_count = 1;
	p->token[0] = cfg_tmpl_lex_next(&p->lex);
	return p->token[0];
}

static struct tmpl_item_tok next_non_space(struct parser *p)
{
	struct tmpl_item_tok t;

	do
		t = next_tok(p);
	while (t.typ == IT_SPACE);
	return t;
}

static struct tmpl_item_tok peek_non_space(struct parser *p)
{
	struct tmpl_item_tok t = next_non_space(p);

	backup1(p);
	return t;
}

/* item.String() of Go, shortened */
static const char *tok_desc(const struct tmpl_item_tok *t, char buf[48])
{
	if (t->typ == IT_EOF)
		return "EOF";
	if (t->typ > IT_KEYWORD)
		snprintf(buf, 48, "<%.*s>", (int)(t->len > 20 ? 20 : t->len), t->val);
	else
		snprintf(buf, 48, "\"%.*s\"%s", (int)(t->len > 20 ? 20 : t->len), t->val,
			 t->len > 20 ? "..." : "");
	return buf;
}

static bool unexpected(struct parser *p, const struct tmpl_item_tok *t, const char *context)
{
	char buf[48];

	if (t->typ == IT_ERROR)
		return perr(p, t->pos, "%.*s", (int)t->len, t->val);
	return perr(p, t->pos, "unexpected %s in %s", tok_desc(t, buf), context);
}

static bool expect(struct parser *p, enum tmpl_item typ, const char *context,
		   struct tmpl_item_tok *out)
{
	struct tmpl_item_tok t = next_non_space(p);

	if (out != NULL)
		*out = t;
	if (t.typ != typ)
		return unexpected(p, &t, context);
	return true;
}

static bool enter(struct parser *p, size_t pos)
{
	if (++p->depth > CFG_TEMPLATE_MAX_DEPTH)
		return perr(p, pos, "nested deeper than %d levels (fulcrum's limit)",
			    CFG_TEMPLATE_MAX_DEPTH);
	return true;
}

/* --- variables, trees ---------------------------------------------------------- */

static bool push_var(struct parser *p, const char *s, size_t n)
{
	if (!grow(p, (void **)&p->vars, &p->cap_vars, p->n_vars, sizeof(*p->vars)))
		return false;
	p->vars[p->n_vars].p = s;
	p->vars[p->n_vars].n = n;
	p->n_vars++;
	return true;
}

/* Enter a new tree ({{define}} or {{block}}); the caller restores *save. */
static bool start_tree(struct parser *p, struct parser *save)
{
	*save = *p;
	p->vars = NULL;
	p->n_vars = p->cap_vars = 0;
	p->range_depth = 0;
	return push_var(p, "$", 1);
}

static void end_tree(struct parser *p, const struct parser *save)
{
	p->vars = save->vars;
	p->n_vars = save->n_vars;
	p->cap_vars = save->cap_vars;
	p->range_depth = save->range_depth;
}

/* parse.IsEmptyTree: nothing but white space (unicode.IsSpace) in text. */
static bool is_empty_tree(const struct tmpl_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct tmpl_node *n = l->v[i];
		size_t w;

		if (n->kind != TN_TEXT)
			return false;
		for (size_t j = 0; j < n->text.n; j += w) {
			int32_t r = cfg_tmpl_decode_rune(n->text.p + j, n->text.n - j, &w);
			if (!cfg_tmpl_is_space(r) || (r == TMPL_RUNE_ERROR && w == 1))
				return false;
		}
	}
	return true;
}

/* parse.(*Tree).add: a later definition replaces only an empty one; two
 * non-empty definitions of a name are an error. */
static bool add_tree(struct parser *p, struct tmpl_str name, struct tmpl_list *root, size_t pos)
{
	struct cfg_template *t = p->t;
	struct tmpl_tree *tree;

	for (size_t i = 0; i < t->n_trees; i++) {
		tree = t->trees[i];
		if (tree->name.n != name.n || memcmp(tree->name.p, name.p, name.n) != 0)
			continue;
		if (is_empty_tree(tree->root)) {
			tree->root = root;
			return true;
		}
		if (!is_empty_tree(root))
			return perr(p, pos, "multiple definition of template \"%.*s\"", (int)name.n,
				    name.p);
		return true;
	}
	if (!grow(p, (void **)&t->trees, &t->cap_trees, t->n_trees, sizeof(*t->trees)))
		return false;
	if ((tree = palloc(p, sizeof(*tree))) == NULL)
		return false;
	tree->name = name;
	tree->root = root;
	t->trees[t->n_trees++] = tree;
	return true;
}

/* --- operands -------------------------------------------------------------------- */

static struct tmpl_pipe *pipeline(struct parser *p, const char *context, enum tmpl_item end);

static struct tmpl_arg *new_number(struct parser *p, const struct tmpl_item_tok *t)
{
	struct tmpl_arg *a = new_arg(p, TA_NUMBER, t->pos);
	const char *s = t->val;
	size_t n = t->len;
	bool hex_int, dotted = false;

	if (a == NULL)
		return NULL;
	a->s.p = s;
	a->s.n = n;
	if (t->typ == IT_COMPLEX)
		return perr(p, t->pos, "complex constant %.*s is not supported", (int)n, s), NULL;
	switch (cfg_tmpl_parse_number(s, n, t->typ == IT_CHAR_CONSTANT, &a->num)) {
	case TMPL_NUM_COMPLEX:
		return perr(p, t->pos, "complex constant %.*s is not supported", (int)n, s), NULL;
	case TMPL_NUM_BAD:
		return perr(p, t->pos, "illegal number syntax: \"%.*s\"", (int)n, s), NULL;
	case TMPL_NUM_OK: break;
	}
	for (size_t i = 0; i < n; i++)
		dotted |= strchr(".eEpP", s[i]) != NULL && s[i] != '\0';
	hex_int = n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
		  memchr(s, 'p', n) == NULL && memchr(s, 'P', n) == NULL;
	/* exec.go's idealConstant */
	if (a->num.is_float && !hex_int && s[0] != '\'' && dotted)
		a->ideal = TI_FLOAT;
	else if (a->num.is_int)
		a->ideal = TI_INT;
	else if (a->num.is_uint)
		a->ideal = TI_OVERFLOW;
	else
		a->ideal = TI_NONE;
	return a;
}

static struct tmpl_arg *use_var(struct parser *p, const struct tmpl_item_tok *t)
{
	struct tmpl_arg *a = new_arg(p, TA_VAR, t->pos);
	size_t cap = 0;

	if (a == NULL || !add_ident(p, a, &cap, t->val, t->len))
		return NULL;
	for (size_t i = 0; i < p->n_vars; i++) {
		if (p->vars[i].n == t->len && memcmp(p->vars[i].p, t->val, t->len) == 0)
			return a;
	}
	return perr(p, t->pos, "undefined variable \"%.*s\"", (int)t->len, t->val), NULL;
}

static struct tmpl_arg *string_arg(struct parser *p, const struct tmpl_item_tok *t)
{
	struct tmpl_arg *a = new_arg(p, TA_STRING, t->pos);
	bool oom;

	if (a == NULL)
		return NULL;
	if (!cfg_tmpl_unquote(&p->t->arena, t->val, t->len, &a->s, &oom)) {
		if (oom)
			return perr(p, t->pos, "template too large to parse"), NULL;
		return perr(p, t->pos, "invalid syntax in string literal"), NULL;
	}
	return a;
}

static struct tmpl_arg *paren_arg(struct parser *p, const struct tmpl_item_tok *t)
{
	struct tmpl_arg *a = new_arg(p, TA_PIPE, t->pos);

	if (a == NULL || !enter(p, t->pos))
		return NULL;
	a->pipe = pipeline(p, "parenthesized pipeline", IT_RIGHT_PAREN);
	p->depth--;
	return a->pipe != NULL ? a : NULL;
}

/* term: a literal, a function name, ., .Field, $x, or (pipeline). NULL
 * without p->failed: the next token is not a term (it is left unread). */
static struct tmpl_arg *term(struct parser *p)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_arg *a = NULL;
	size_t cap = 0;

	switch (t.typ) {
	case IT_IDENTIFIER:
		if ((a = new_arg(p, TA_IDENT, t.pos)) == NULL)
			return NULL;
		a->s.p = t.val;
		a->s.n = t.len;
		if ((a->fn = cfg_tmpl_fn_find(t.val, t.len)) == FN_COUNT)
			return perr(p, t.pos, "function \"%.*s\" not defined", (int)t.len, t.val),
			       NULL;
		return a;
	case IT_DOT: return new_arg(p, TA_DOT, t.pos);
	case IT_NIL: return new_arg(p, TA_NIL, t.pos);
	case IT_VARIABLE: return use_var(p, &t);
	case IT_FIELD:
		if ((a = new_arg(p, TA_FIELD, t.pos)) == NULL ||
		    !add_ident(p, a, &cap, t.val + 1, t.len - 1))
			return NULL;
		return a;
	case IT_BOOL:
		if ((a = new_arg(p, TA_BOOL, t.pos)) != NULL)
			a->b = t.len == 4;
		return a;
	case IT_CHAR_CONSTANT:
	case IT_COMPLEX:
	case IT_NUMBER: return new_number(p, &t);
	case IT_LEFT_PAREN: return paren_arg(p, &t);
	case IT_STRING:
	case IT_RAW_STRING: return string_arg(p, &t);
	default: backup1(p); return NULL;
	}
}

/* operand: term .Field* */
static struct tmpl_arg *operand(struct parser *p)
{
	struct tmpl_arg *a = term(p), *chain;
	size_t cap;

	if (a == NULL || peek_tok(p).typ != IT_FIELD)
		return a;
	switch (a->kind) {
	case TA_FIELD:
	case TA_VAR:
		chain = a;
		cap = a->n_idents;
		break;
	case TA_BOOL:
	case TA_STRING:
	case TA_NUMBER:
	case TA_NIL:
	case TA_DOT: return perr(p, peek_tok(p).pos, "unexpected . after term"), NULL;
	default:
		if ((chain = new_arg(p, TA_CHAIN, peek_tok(p).pos)) == NULL)
			return NULL;
		chain->base = a;
		cap = 0;
		break;
	}
	while (peek_tok(p).typ == IT_FIELD) {
		struct tmpl_item_tok f = next_tok(p);
		if (!add_ident(p, chain, &cap, f.val + 1, f.len - 1))
			return NULL;
	}
	return chain;
}

/* command: operand (space operand)*, up to "|", "}}" or ")". */
static struct tmpl_cmd *command(struct parser *p)
{
	struct tmpl_cmd *c = palloc(p, sizeof(*c));
	size_t cap = 0;

	if (c == NULL)
		return NULL;
	c->pos = (uint32_t)peek_non_space(p).pos;
	for (;;) {
		struct tmpl_arg *a;
		struct tmpl_item_tok t;

		peek_non_space(p);
		a = operand(p);
		if (p->failed)
			return NULL;
		if (a != NULL) {
			if (!grow(p, (void **)&c->args, &cap, c->n, sizeof(*c->args)))
				return NULL;
			c->args[c->n++] = a;
		}
		t = next_tok(p);
		if (t.typ == IT_SPACE)
			continue;
		if (t.typ == IT_RIGHT_DELIM || t.typ == IT_RIGHT_PAREN)
			backup1(p);
		else if (t.typ != IT_PIPE)
			return unexpected(p, &t, "operand"), NULL;
		break;
	}
	if (c->n == 0)
		return perr(p, c->pos, "empty command"), NULL;
	return c;
}

static bool check_pipeline(struct parser *p, const struct tmpl_pipe *pipe, const char *context)
{
	if (pipe->n_cmds == 0)
		return perr(p, pipe->pos, "missing value for %s", context);
	for (size_t i = 1; i < pipe->n_cmds; i++) {
		switch (pipe->cmds[i]->args[0]->kind) {
		case TA_BOOL:
		case TA_DOT:
		case TA_NIL:
		case TA_NUMBER:
		case TA_STRING:
			return perr(p, pipe->cmds[i]->pos,
				    "non executable command in pipeline stage %zu", i + 1);
		default: break;
		}
	}
	return true;
}

static bool add_decl(struct parser *p, struct tmpl_pipe *pipe, size_t *cap,
		     const struct tmpl_item_tok *v)
{
	if (!grow(p, (void **)&pipe->decl, cap, pipe->n_decl, sizeof(*pipe->decl)))
		return false;
	pipe->decl[pipe->n_decl].p = v->val;
	pipe->decl[pipe->n_decl].n = v->len;
	pipe->n_decl++;
	return push_var(p, v->val, v->len);
}

/* The declarations of a pipeline: $x := / $x = / (range) $i, $e :=. */
static bool declarations(struct parser *p, struct tmpl_pipe *pipe, const char *context)
{
	size_t cap = 0;
	bool is_range = strcmp(context, "range") == 0;

	while (peek_non_space(p).typ == IT_VARIABLE) {
		struct tmpl_item_tok v = next_tok(p);
		struct tmpl_item_tok after = peek_tok(p);
		struct tmpl_item_tok nx = peek_non_space(p);

		if (nx.typ == IT_ASSIGN || nx.typ == IT_DECLARE) {
			pipe->is_assign = nx.typ == IT_ASSIGN;
			next_non_space(p);
			return add_decl(p, pipe, &cap, &v);
		}
		if (nx.typ == IT_CHAR && nx.len == 1 && nx.val[0] == ',') {
			enum tmpl_item k;
			next_non_space(p);
			if (!add_decl(p, pipe, &cap, &v))
				return false;
			if (!is_range || pipe->n_decl >= 2)
				return perr(p, nx.pos, "too many declarations in %s", context);
			k = peek_non_space(p).typ;
			if (k != IT_VARIABLE && k != IT_RIGHT_DELIM && k != IT_RIGHT_PAREN)
				return perr(p, nx.pos, "range can only initialize variables");
			continue;
		}
		if (after.typ == IT_SPACE)
			backup3(p, v, after);
		else
			backup2(p, v);
		return true;
	}
	return true;
}

/* pipeline: declarations? command ('|' command)* up to `end`. */
static struct tmpl_pipe *pipeline(struct parser *p, const char *context, enum tmpl_item end)
{
	struct tmpl_pipe *pipe = palloc(p, sizeof(*pipe));
	size_t cap = 0;

	if (pipe == NULL)
		return NULL;
	pipe->pos = (uint32_t)peek_non_space(p).pos;
	if (!declarations(p, pipe, context))
		return NULL;
	for (;;) {
		struct tmpl_item_tok t = next_non_space(p);
		struct tmpl_cmd *c;

		if (t.typ == end)
			return check_pipeline(p, pipe, context) ? pipe : NULL;
		switch (t.typ) {
		case IT_BOOL:
		case IT_CHAR_CONSTANT:
		case IT_COMPLEX:
		case IT_DOT:
		case IT_FIELD:
		case IT_IDENTIFIER:
		case IT_NUMBER:
		case IT_NIL:
		case IT_RAW_STRING:
		case IT_STRING:
		case IT_VARIABLE:
		case IT_LEFT_PAREN:
			backup1(p);
			if ((c = command(p)) == NULL ||
			    !grow(p, (void **)&pipe->cmds, &cap, pipe->n_cmds, sizeof(*pipe->cmds)))
				return NULL;
			pipe->cmds[pipe->n_cmds++] = c;
			break;
		default: return unexpected(p, &t, context), NULL;
		}
	}
}

/* --- actions ---------------------------------------------------------------------- */

static struct tmpl_list *item_list(struct parser *p, struct tmpl_node **end);
static struct tmpl_node *control(struct parser *p, enum tmpl_node_kind kind, size_t pos);

/* The else branch of a control: {{else}} ... {{end}}, or an {{else if}} /
 * {{else with}} chain that shares the {{end}}. */
static struct tmpl_list *else_branch(struct parser *p, enum tmpl_node_kind kind,
				     const struct tmpl_node *els)
{
	struct tmpl_list *l;
	struct tmpl_node *n, *end = NULL;
	char buf[48];

	if ((kind == TN_IF && peek_tok(p).typ == IT_IF) ||
	    (kind == TN_WITH && peek_tok(p).typ == IT_WITH)) {
		next_tok(p);
		if ((l = new_list(p)) == NULL || (n = control(p, kind, els->pos)) == NULL ||
		    !list_append(p, l, n))
			return NULL;
		return l;
	}
	if ((l = item_list(p, &end)) == NULL)
		return NULL;
	if (end->kind != TN_END) {
		snprintf(buf, sizeof(buf), "%s", end->kind == TN_ELSE ? "{{else}}" : "?");
		return perr(p, end->pos, "expected end; found %s", buf), NULL;
	}
	return l;
}

/* parseControl: {{if|with|range pipeline}} list [{{else}} list] {{end}} */
static struct tmpl_node *control(struct parser *p, enum tmpl_node_kind kind, size_t pos)
{
	static const char *const names[] = {
		[TN_IF] = "if", [TN_WITH] = "with", [TN_RANGE] = "range"};
	size_t saved_vars = p->n_vars;
	struct tmpl_node *n = new_node(p, kind, pos), *end = NULL;

	if (n == NULL || !enter(p, pos))
		return NULL;
	if ((n->pipe = pipeline(p, names[kind], IT_RIGHT_DELIM)) == NULL)
		return NULL;
	if (kind == TN_RANGE)
		p->range_depth++;
	if ((n->list = item_list(p, &end)) == NULL)
		return NULL;
	if (kind == TN_RANGE)
		p->range_depth--;
	if (end->kind == TN_ELSE && (n->else_list = else_branch(p, kind, end)) == NULL)
		return NULL;
	p->n_vars = saved_vars;
	p->depth--;
	return n;
}

static bool template_name(struct parser *p, const struct tmpl_item_tok *t, const char *context,
			  struct tmpl_str *name)
{
	bool oom;

	if (t->typ != IT_STRING && t->typ != IT_RAW_STRING)
		return unexpected(p, t, context);
	if (!cfg_tmpl_unquote(&p->t->arena, t->val, t->len, name, &oom))
		return perr(p, t->pos,
			    oom ? "template too large to parse"
				: "invalid syntax in template name");
	return true;
}

/* {{block "name" pipeline}} list {{end}}: defines name, then runs it. */
static struct tmpl_node *block_control(struct parser *p, size_t pos)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_node *n = new_node(p, TN_TEMPLATE, pos), *end = NULL;
	struct tmpl_list *root;
	struct parser save;

	if (n == NULL || !template_name(p, &t, "block clause", &n->text))
		return NULL;
	if ((n->pipe = pipeline(p, "block clause", IT_RIGHT_DELIM)) == NULL)
		return NULL;
	if (!enter(p, pos) || !start_tree(p, &save))
		return NULL;
	root = item_list(p, &end);
	end_tree(p, &save);
	p->depth--;
	if (root == NULL)
		return NULL;
	if (end->kind != TN_END)
		return perr(p, end->pos, "unexpected {{else}} in block clause"), NULL;
	if (!add_tree(p, n->text, root, t.pos))
		return NULL;
	return n;
}

/* {{template "name"}} or {{template "name" pipeline}} */
static struct tmpl_node *template_control(struct parser *p, size_t pos)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_node *n = new_node(p, TN_TEMPLATE, pos);

	if (n == NULL || !template_name(p, &t, "template clause", &n->text))
		return NULL;
	if (next_non_space(p).typ != IT_RIGHT_DELIM) {
		backup1(p);
		if ((n->pipe = pipeline(p, "template clause", IT_RIGHT_DELIM)) == NULL)
			return NULL;
	}
	return n;
}

/* {{break}} / {{continue}}, only inside {{range}} */
static struct tmpl_node *loop_control(struct parser *p, enum tmpl_node_kind kind, size_t pos)
{
	const char *what = kind == TN_BREAK ? "{{break}}" : "{{continue}}";
	struct tmpl_item_tok t = next_non_space(p);

	if (t.typ != IT_RIGHT_DELIM)
		return unexpected(p, &t, what), NULL;
	if (p->range_depth == 0)
		return perr(p, pos, "%s outside {{range}}", what), NULL;
	return new_node(p, kind, pos);
}

/* {{else}}, or the else of {{else if ...}} / {{else with ...}} (the if or
 * with is left for the control to read). */
static struct tmpl_node *else_control(struct parser *p)
{
	struct tmpl_item_tok t = peek_non_space(p);

	if (t.typ == IT_IF || t.typ == IT_WITH)
		return new_node(p, TN_ELSE, t.pos);
	if (!expect(p, IT_RIGHT_DELIM, "else", &t))
		return NULL;
	return new_node(p, TN_ELSE, t.pos);
}

/* An action after its "{{": a control, or a pipeline to print. */
static struct tmpl_node *action(struct parser *p)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_node *n;

	switch (t.typ) {
	case IT_BLOCK: return block_control(p, t.pos);
	case IT_BREAK: return loop_control(p, TN_BREAK, t.pos);
	case IT_CONTINUE: return loop_control(p, TN_CONTINUE, t.pos);
	case IT_ELSE: return else_control(p);
	case IT_END:
		if (!expect(p, IT_RIGHT_DELIM, "end", &t))
			return NULL;
		return new_node(p, TN_END, t.pos);
	case IT_IF: return control(p, TN_IF, t.pos);
	case IT_RANGE: return control(p, TN_RANGE, t.pos);
	case IT_TEMPLATE: return template_control(p, t.pos);
	case IT_WITH: return control(p, TN_WITH, t.pos);
	default: break;
	}
	backup1(p);
	t = peek_tok(p);
	if ((n = new_node(p, TN_ACTION, t.pos)) == NULL ||
	    (n->pipe = pipeline(p, "command", IT_RIGHT_DELIM)) == NULL)
		return NULL;
	return n;
}

static struct tmpl_node *text_or_action(struct parser *p)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_node *n;

	switch (t.typ) {
	case IT_TEXT:
		if ((n = new_node(p, TN_TEXT, t.pos)) != NULL) {
			n->text.p = t.val;
			n->text.n = t.len;
		}
		return n;
	case IT_LEFT_DELIM: return action(p);
	default: return unexpected(p, &t, "input"), NULL;
	}
}

/* textOrAction* up to {{end}} or {{else}}, which is put in *end. */
static struct tmpl_list *item_list(struct parser *p, struct tmpl_node **end)
{
	struct tmpl_list *l = new_list(p);
	struct tmpl_item_tok t;

	if (l == NULL)
		return NULL;
	while ((t = peek_non_space(p)).typ != IT_EOF) {
		struct tmpl_node *n = text_or_action(p);
		if (n == NULL)
			return NULL;
		if (n->kind == TN_END || n->kind == TN_ELSE) {
			*end = n;
			return l;
		}
		if (!list_append(p, l, n))
			return NULL;
	}
	return perr(p, t.pos, "unexpected EOF"), NULL;
}

/* {{define "name"}} list {{end}}, after the define keyword */
static bool definition(struct parser *p)
{
	struct tmpl_item_tok t = next_non_space(p);
	struct tmpl_node *end = NULL;
	struct tmpl_list *root;
	struct tmpl_str name;
	struct parser save;

	if (!template_name(p, &t, "define clause", &name) ||
	    !expect(p, IT_RIGHT_DELIM, "define clause", NULL))
		return false;
	if (!enter(p, t.pos) || !start_tree(p, &save))
		return false;
	root = item_list(p, &end);
	end_tree(p, &save);
	p->depth--;
	if (root == NULL)
		return false;
	if (end->kind != TN_END)
		return perr(p, end->pos, "unexpected {{else}} in define clause");
	return add_tree(p, name, root, t.pos);
}

/*
 * parse.Parse: the top level of the text, with its {{define}}s, into t's
 * trees. Returns FC_OK, else FC_ECONFIG with the line, column and reason
 * in err. t->arena, t->text and t->len must be set.
 */
enum fc_status cfg_tmpl_parse(struct cfg_template *t, struct fc_err *err)
{
	struct parser p = {.t = t, .err = err};
	struct tmpl_str main_name = {"", 0};
	struct tmpl_list *root;

	cfg_tmpl_lex_init(&p.lex, t->text, t->len);
	if (!push_var(&p, "$", 1) || (root = new_list(&p)) == NULL)
		return FC_ECONFIG;
	while (peek_tok(&p).typ != IT_EOF) {
		struct tmpl_node *n;

		if (peek_tok(&p).typ == IT_LEFT_DELIM) {
			struct tmpl_item_tok delim = next_tok(&p);
			if (next_non_space(&p).typ == IT_DEFINE) {
				if (!definition(&p))
					return FC_ECONFIG;
				continue;
			}
			backup2(&p, delim);
		}
		if ((n = text_or_action(&p)) == NULL)
			return FC_ECONFIG;
		if (n->kind == TN_END || n->kind == TN_ELSE) {
			perr(&p, n->pos, "unexpected %s",
			     n->kind == TN_END ? "{{end}}" : "{{else}}");
			return FC_ECONFIG;
		}
		if (!list_append(&p, root, n))
			return FC_ECONFIG;
	}
	if (!add_tree(&p, main_name, root, p.lex.pos))
		return FC_ECONFIG;
	return FC_OK;
}
