/*
 * config: execution of the claim templates, a port of Go's
 * text/template/exec.go with Option("missingkey=error") over the data
 * Fulcio passes (a map[string]string), so that the output, and whether
 * there is an error at all, are Go's.
 *
 * Differences, all resource limits: the output, the memory for values,
 * the work and the nesting of evaluation are capped (CFG_TEMPLATE_MAX_*);
 * Go has no such caps except 100000 nested {{template}} calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

enum wres { W_OK, W_ERR, W_BREAK, W_CONTINUE };

/*
 * Record an execution error at the current node (x->pos) with the
 * position in the template; the first error wins. Returns false.
 */
bool cfg_tmpl_errorf(struct tmpl_exec *x, const char *fmt, ...)
{
	char what[256];
	size_t line, col;
	va_list ap;

	if (x->err != NULL && x->err->status != FC_OK)
		return false;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cfg_tmpl_line_col(x->t->text, x->t->len, x->pos, &line, &col);
	fc_err_set(x->err, FC_EINPUT, "template: line %zu col %zu: executing: %s", line, col, what);
	return false;
}

/*
 * Count `units` of work; false with an error once the render has done
 * more than CFG_TEMPLATE_MAX_WORK.
 */
bool cfg_tmpl_charge(struct tmpl_exec *x, size_t units)
{
	x->work += units + 1;
	if (x->work > CFG_TEMPLATE_MAX_WORK)
		return cfg_tmpl_errorf(x, "more work than fulcrum allows for a template (%d units)",
				       CFG_TEMPLATE_MAX_WORK);
	return true;
}

/*
 * Move the contents of w into a string value in x's arena (w is freed).
 * False with an error if w overflowed or the arena is full.
 */
bool cfg_tmpl_w_to_val(struct tmpl_exec *x, struct tmpl_w *w, struct tmpl_val *out)
{
	char *p;

	if (w->full) {
		fc_buf_free(&w->b);
		return cfg_tmpl_errorf(x, "value larger than fulcrum allows (%d bytes)",
				       CFG_TEMPLATE_MAX_MEM);
	}
	p = cfg_tmpl_strdup(&x->arena, w->b.data ? (const char *)w->b.data : "", w->b.len);
	out->k = TV_STRING;
	out->s.p = p;
	out->s.n = w->b.len;
	fc_buf_free(&w->b);
	if (p == NULL)
		return cfg_tmpl_errorf(x, "values larger than fulcrum allows (%d bytes)",
				       CFG_TEMPLATE_MAX_MEM);
	return cfg_tmpl_charge(x, out->s.n / 64);
}

/* --- the data ------------------------------------------------------------------ */

static int kv_cmp(const struct cfg_kv *e, const char *k, size_t kn)
{
	size_t en = strlen(e->key);
	int c = memcmp(e->key, k, en < kn ? en : kn);

	if (c != 0)
		return c;
	return en < kn ? -1 : en > kn;
}

/*
 * The value of key k[0..kn) in the data. Returns false if it is not set
 * (a key with a NUL byte never is).
 */
bool cfg_tmpl_map_get(struct tmpl_exec *x, const struct tmpl_map *m, const char *k, size_t kn,
		      struct tmpl_str *out)
{
	if (memchr(k, '\0', kn) != NULL)
		return false;
	if (m->enumerable) {
		size_t lo = 0, hi = m->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = kv_cmp(&m->kv[mid], k, kn);
			if (c == 0) {
				out->p = m->kv[mid].value;
				out->n = strlen(out->p);
				return true;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return false;
	} else {
		char *key = fc_xstrndup(k, kn);
		const char *v = m->lookup(m->ctx, key);
		free(key);
		if (v == NULL)
			return false;
		out->p = v;
		out->n = strlen(v);
		return true;
	}
}

/*
 * The entries of the data in key order. When the caller gave only a
 * lookup function (cfg_template_render) they are unknown: an error.
 */
bool cfg_tmpl_map_entries(struct tmpl_exec *x, const struct tmpl_map *m, const struct cfg_kv **kv,
			  size_t *n)
{
	if (!m->enumerable)
		return cfg_tmpl_errorf(x, "this use of the claim map (range, len, printing it, or "
					  "its truth) needs every claim; the caller gave only a "
					  "lookup");
	*kv = m->kv;
	*n = m->n;
	return true;
}

/*
 * Go's name of the type of v, as %T and error messages print it.
 */
const char *cfg_tmpl_type_name(const struct tmpl_val *v)
{
	switch (v->k) {
	case TV_BOOL: return "bool";
	case TV_INT: return "int";
	case TV_UINT8: return "uint8";
	case TV_FLOAT: return "float64";
	case TV_STRING: return "string";
	case TV_MAP: return "map[string]string";
	case TV_NIL:
	case TV_INVALID: break;
	}
	return "<nil>";
}

/*
 * template.isTrue: false for the zero value of its type and for no value.
 * Returns false (error set) only for a map whose size is unknown.
 */
bool cfg_tmpl_truth(struct tmpl_exec *x, const struct tmpl_val *v, bool *truth)
{
	const struct cfg_kv *kv;
	size_t n;

	switch (v->k) {
	case TV_BOOL: *truth = v->b; return true;
	case TV_INT: *truth = v->i != 0; return true;
	case TV_UINT8: *truth = v->u8 != 0; return true;
	case TV_FLOAT: *truth = v->f != 0; return true;
	case TV_STRING: *truth = v->s.n > 0; return true;
	case TV_MAP:
		if (!cfg_tmpl_map_entries(x, v->m, &kv, &n))
			return false;
		*truth = n > 0;
		return true;
	case TV_NIL:
	case TV_INVALID: break;
	}
	*truth = false;
	return true;
}

/* --- variables --------------------------------------------------------------------- */

static bool push_var(struct tmpl_exec *x, struct tmpl_str name, const struct tmpl_val *v)
{
	if (x->n_vars == x->cap_vars) {
		if (x->cap_vars >= CFG_TEMPLATE_MAX_WORK / 16)
			return cfg_tmpl_errorf(x, "too many variables");
		x->cap_vars = x->cap_vars ? x->cap_vars * 2 : 16;
		x->vars = fc_xrealloc(x->vars, x->cap_vars * sizeof(*x->vars));
	}
	x->vars[x->n_vars].name = name;
	x->vars[x->n_vars].v = *v;
	x->n_vars++;
	return true;
}

static struct tmpl_var *find_var(struct tmpl_exec *x, struct tmpl_str name)
{
	for (size_t i = x->n_vars; i > x->var_base; i--) {
		struct tmpl_var *v = &x->vars[i - 1];
		if (v->name.n == name.n && memcmp(v->name.p, name.p, name.n) == 0)
			return v;
	}
	return NULL;
}

/* setVar: assign to the innermost variable of that name. */
static bool set_var(struct tmpl_exec *x, struct tmpl_str name, const struct tmpl_val *v)
{
	struct tmpl_var *var = find_var(x, name);

	if (var == NULL)
		return cfg_tmpl_errorf(x, "undefined variable: %.*s", (int)name.n, name.p);
	var->v = *v;
	return true;
}

/* --- evaluation ---------------------------------------------------------------------- */

static bool eval_pipeline(struct tmpl_exec *x, const struct tmpl_val *dot,
			  const struct tmpl_pipe *pipe, struct tmpl_val *out);
static bool eval_arg(struct tmpl_exec *x, const struct tmpl_val *dot, enum tmpl_param typ,
		     const struct tmpl_arg *a, struct tmpl_val *out);

static bool enter(struct tmpl_exec *x)
{
	if (++x->depth > CFG_TEMPLATE_MAX_EXEC_DEPTH)
		return cfg_tmpl_errorf(x, "evaluation nested deeper than fulcrum allows (%d)",
				       CFG_TEMPLATE_MAX_EXEC_DEPTH);
	return true;
}

/* notAFunction: a non-function followed by arguments. */
static bool not_a_function(struct tmpl_exec *x, size_t nargs, const struct tmpl_val *final)
{
	if (nargs > 1 || final != NULL)
		return cfg_tmpl_errorf(x, "can't give argument to non-function");
	return true;
}

/* evalField: .name on receiver; has_args: arguments follow. */
static bool eval_field(struct tmpl_exec *x, struct tmpl_str name, bool has_args,
		       const struct tmpl_val *receiver, struct tmpl_val *out)
{
	if (receiver->k == TV_INVALID)
		return cfg_tmpl_errorf(x, "nil data; no entry for key \"%.*s\"", (int)name.n,
				       name.p);
	if (receiver->k != TV_MAP)
		return cfg_tmpl_errorf(x, "can't evaluate field %.*s in type %s", (int)name.n,
				       name.p, cfg_tmpl_type_name(receiver));
	if (has_args)
		return cfg_tmpl_errorf(x, "%.*s is not a method but has arguments", (int)name.n,
				       name.p);
	out->k = TV_STRING;
	if (!cfg_tmpl_map_get(x, receiver->m, name.p, name.n, &out->s))
		return cfg_tmpl_errorf(x, "map has no entry for key \"%.*s\"", (int)name.n, name.p);
	return true;
}

/* evalFieldChain: receiver.a.b.c, the last with the command's arguments. */
static bool eval_field_chain(struct tmpl_exec *x, const struct tmpl_val *receiver,
			     const struct tmpl_str *idents, size_t n, size_t nargs,
			     const struct tmpl_val *final, struct tmpl_val *out)
{
	struct tmpl_val cur = *receiver;

	for (size_t i = 0; i + 1 < n; i++) {
		if (!eval_field(x, idents[i], false, &cur, &cur))
			return false;
	}
	return eval_field(x, idents[n - 1], nargs > 1 || final != NULL, &cur, out);
}

static bool eval_variable(struct tmpl_exec *x, const struct tmpl_arg *a, size_t nargs,
			  const struct tmpl_val *final, struct tmpl_val *out)
{
	struct tmpl_var *v = find_var(x, a->idents[0]);

	if (v == NULL)
		return cfg_tmpl_errorf(x, "undefined variable: %.*s", (int)a->idents[0].n,
				       a->idents[0].p);
	if (a->n_idents == 1) {
		if (!not_a_function(x, nargs, final))
			return false;
		*out = v->v;
		return true;
	}
	return eval_field_chain(x, &v->v, a->idents + 1, a->n_idents - 1, nargs, final, out);
}

static bool eval_chain(struct tmpl_exec *x, const struct tmpl_val *dot, const struct tmpl_arg *a,
		       size_t nargs, const struct tmpl_val *final, struct tmpl_val *out)
{
	struct tmpl_val base;

	if (!eval_arg(x, dot, TP_NONE, a->base, &base))
		return false;
	x->pos = a->pos;
	return eval_field_chain(x, &base, a->idents, a->n_idents, nargs, final, out);
}

/* idealConstant: a number literal where no type is known. */
static bool ideal_constant(struct tmpl_exec *x, const struct tmpl_arg *a, struct tmpl_val *out)
{
	x->pos = a->pos;
	switch (a->ideal) {
	case TI_FLOAT:
		out->k = TV_FLOAT;
		out->f = a->num.f;
		return true;
	case TI_INT:
		out->k = TV_INT;
		out->i = a->num.i;
		return true;
	case TI_OVERFLOW: return cfg_tmpl_errorf(x, "%.*s overflows int", (int)a->s.n, a->s.p);
	case TI_NONE: break;
	}
	out->k = TV_INVALID;
	return true;
}

/* validateType for the parameter kinds builtins have. */
static bool validate_type(struct tmpl_exec *x, const struct tmpl_val *v, enum tmpl_param typ,
			  struct tmpl_val *out)
{
	*out = *v;
	switch (typ) {
	case TP_ANY:
		if (v->k == TV_INVALID)
			out->k = TV_NIL;
		return true;
	case TP_STRING:
		if (v->k == TV_INVALID)
			return cfg_tmpl_errorf(x, "invalid value; expected string");
		if (v->k != TV_STRING)
			return cfg_tmpl_errorf(x, "wrong type for value; expected string; got %s",
					       cfg_tmpl_type_name(v));
		return true;
	case TP_NONE:
	case TP_VALUE: break;
	}
	return true;
}

static bool eval_call(struct tmpl_exec *x, const struct tmpl_val *dot, const struct tmpl_arg *fn,
		      struct tmpl_arg *const *args, size_t nargs, const struct tmpl_val *final,
		      struct tmpl_val *out);

/* evalArg: an argument evaluated for a parameter of kind typ. */
static bool eval_arg(struct tmpl_exec *x, const struct tmpl_val *dot, enum tmpl_param typ,
		     const struct tmpl_arg *a, struct tmpl_val *out)
{
	struct tmpl_val v;
	bool ok;

	x->pos = a->pos;
	switch (a->kind) {
	case TA_DOT: return validate_type(x, dot, typ, out);
	case TA_NIL:
		if (typ == TP_STRING)
			return cfg_tmpl_errorf(x, "cannot assign nil to string");
		out->k = typ == TP_ANY ? TV_NIL : TV_INVALID;
		return true;
	case TA_FIELD: ok = eval_field_chain(x, dot, a->idents, a->n_idents, 1, NULL, &v); break;
	case TA_VAR: ok = eval_variable(x, a, 0, NULL, &v); break;
	case TA_PIPE: ok = eval_pipeline(x, dot, a->pipe, &v); break;
	case TA_IDENT: ok = eval_call(x, dot, a, NULL, 0, NULL, &v); break;
	case TA_CHAIN: ok = eval_chain(x, dot, a, 0, NULL, &v); break;
	case TA_BOOL:
	case TA_NUMBER:
	case TA_STRING:
	default:
		if (typ == TP_STRING && a->kind != TA_STRING)
			return cfg_tmpl_errorf(x, "expected string; found %.*s",
					       a->kind == TA_BOOL ? (a->b ? 4 : 5) : (int)a->s.n,
					       a->kind == TA_BOOL ? (a->b ? "true" : "false")
								  : a->s.p);
		if (a->kind == TA_BOOL) {
			out->k = TV_BOOL;
			out->b = a->b;
			return true;
		}
		if (a->kind == TA_STRING) {
			out->k = TV_STRING;
			out->s = a->s;
			return true;
		}
		return ideal_constant(x, a, out);
	}
	if (!ok)
		return false;
	x->pos = a->pos;
	return validate_type(x, &v, typ, out);
}

/* and/or: the first argument that decides, else the last; the rest are
 * not evaluated. */
static bool eval_and_or(struct tmpl_exec *x, const struct tmpl_val *dot, enum tmpl_fn fn,
			struct tmpl_arg *const *args, size_t nargs, const struct tmpl_val *final,
			struct tmpl_val *out)
{
	bool t;

	out->k = TV_INVALID;
	for (size_t i = 0; i < nargs; i++) {
		if (!eval_arg(x, dot, TP_VALUE, args[i], out) || !cfg_tmpl_truth(x, out, &t))
			return false;
		if (t == (fn == FN_OR))
			return true;
	}
	if (final != NULL)
		*out = *final;
	return true;
}

/* The parameter kind of argument i of a call with numIn arguments. */
static enum tmpl_param param_of(const struct tmpl_fninfo *info, size_t i)
{
	return i < info->fixed ? info->first : info->rest;
}

/*
 * evalCall: fn with the arguments args[0..nargs) and, if final is not NULL,
 * the value piped in as the last one.
 */
static bool eval_call(struct tmpl_exec *x, const struct tmpl_val *dot, const struct tmpl_arg *fn,
		      struct tmpl_arg *const *args, size_t nargs, const struct tmpl_val *final,
		      struct tmpl_val *out)
{
	const struct tmpl_fninfo *info = &cfg_tmpl_fns[fn->fn];
	size_t num_in = nargs + (final != NULL), i;
	struct tmpl_val local[8], *argv = local;
	bool ok = false;

	x->pos = fn->pos;
	if (info->variadic ? num_in < info->fixed : num_in != info->fixed)
		return cfg_tmpl_errorf(x, "wrong number of args for %s: want %s%zu got %zu",
				       info->name, info->variadic ? "at least " : "", info->fixed,
				       num_in);
	if (fn->fn == FN_AND || fn->fn == FN_OR)
		return eval_and_or(x, dot, fn->fn, args, nargs, final, out);
	if (num_in > sizeof(local) / sizeof(local[0]))
		argv = fc_xcalloc(num_in, sizeof(*argv));
	for (i = 0; i < nargs; i++) {
		if (!eval_arg(x, dot, param_of(info, i), args[i], &argv[i]))
			goto out;
	}
	x->pos = fn->pos;
	if (final != NULL && !validate_type(x, final, param_of(info, i), &argv[i]))
		goto out;
	if (fn->fn == FN_CALL) {
		/* No value of this data is a function. */
		if (argv[0].k == TV_INVALID)
			cfg_tmpl_errorf(x, "error calling call: call of nil");
		else
			cfg_tmpl_errorf(x, "error calling call: non-function of type %s",
					cfg_tmpl_type_name(&argv[0]));
		goto out;
	}
	ok = cfg_tmpl_builtin(x, fn->fn, argv, num_in, out);
	x->pos = fn->pos;
out:
	if (argv != local)
		free(argv);
	return ok;
}

/* evalCommand: one command of a pipeline; final is the value piped in. */
static bool eval_command(struct tmpl_exec *x, const struct tmpl_val *dot,
			 const struct tmpl_cmd *cmd, const struct tmpl_val *final,
			 struct tmpl_val *out)
{
	const struct tmpl_arg *first = cmd->args[0];

	if (!cfg_tmpl_charge(x, 0))
		return false;
	x->pos = first->pos;
	switch (first->kind) {
	case TA_FIELD:
		return eval_field_chain(x, dot, first->idents, first->n_idents, cmd->n, final, out);
	case TA_CHAIN: return eval_chain(x, dot, first, cmd->n, final, out);
	case TA_IDENT: return eval_call(x, dot, first, cmd->args + 1, cmd->n - 1, final, out);
	case TA_VAR: return eval_variable(x, first, cmd->n, final, out);
	case TA_PIPE:
		if (!not_a_function(x, cmd->n, final))
			return false;
		return eval_pipeline(x, dot, first->pipe, out);
	default: break;
	}
	if (!not_a_function(x, cmd->n, final))
		return false;
	switch (first->kind) {
	case TA_BOOL:
		out->k = TV_BOOL;
		out->b = first->b;
		return true;
	case TA_DOT: *out = *dot; return true;
	case TA_NIL: return cfg_tmpl_errorf(x, "nil is not a command");
	case TA_STRING:
		out->k = TV_STRING;
		out->s = first->s;
		return true;
	default: return ideal_constant(x, first, out);
	}
}

/* evalPipeline: the commands, each piped into the next; the declared
 * variables are pushed (or assigned). No pipeline is no value. */
static bool eval_pipeline(struct tmpl_exec *x, const struct tmpl_val *dot,
			  const struct tmpl_pipe *pipe, struct tmpl_val *out)
{
	struct tmpl_val v = {.k = TV_INVALID};

	out->k = TV_INVALID;
	if (pipe == NULL)
		return true;
	if (!enter(x))
		return false;
	for (size_t i = 0; i < pipe->n_cmds; i++) {
		struct tmpl_val prev = v;
		if (!eval_command(x, dot, pipe->cmds[i], i > 0 ? &prev : NULL, &v))
			return false;
	}
	x->pos = pipe->pos;
	for (size_t i = 0; i < pipe->n_decl; i++) {
		bool ok = pipe->is_assign ? set_var(x, pipe->decl[i], &v)
					  : push_var(x, pipe->decl[i], &v);
		if (!ok)
			return false;
	}
	x->depth--;
	*out = v;
	return true;
}

/* --- walking ---------------------------------------------------------------------------- */

static enum wres walk_list(struct tmpl_exec *x, const struct tmpl_val *dot,
			   const struct tmpl_list *l);

/* printValue: fmt.Fprint of the value; no value prints "<no value>". */
static bool print_value(struct tmpl_exec *x, const struct tmpl_val *v)
{
	if (v->k == TV_INVALID)
		cfg_tmpl_puts(&x->out, "<no value>");
	else if (!cfg_tmpl_sprint(x, &x->out, v, 1, false))
		return false;
	if (x->out.full)
		return cfg_tmpl_errorf(x, "output larger than %d bytes", CFG_TEMPLATE_MAX_OUT);
	return true;
}

static enum wres walk_if_with(struct tmpl_exec *x, const struct tmpl_val *dot,
			      const struct tmpl_node *n)
{
	size_t mark = x->n_vars;
	struct tmpl_val v;
	enum wres r = W_OK;
	bool truth;

	if (!eval_pipeline(x, dot, n->pipe, &v) || !cfg_tmpl_truth(x, &v, &truth))
		return W_ERR;
	if (truth)
		r = walk_list(x, n->kind == TN_WITH ? &v : dot, n->list);
	else if (n->else_list != NULL)
		r = walk_list(x, dot, n->else_list);
	x->n_vars = mark;
	return r;
}

/* One iteration of a range: set the variables, run the body. */
static enum wres range_iteration(struct tmpl_exec *x, const struct tmpl_node *n, size_t mark,
				 const struct tmpl_val *index, const struct tmpl_val *elem)
{
	const struct tmpl_pipe *pipe = n->pipe;
	enum wres r;

	x->pos = n->pos;
	if (pipe->n_decl > 0) {
		/* with two variables the first gets the index; := sets the
		 * variables on top of the stack, = the ones of those names */
		if (pipe->is_assign) {
			if (!set_var(x, pipe->decl[0], pipe->n_decl > 1 ? index : elem))
				return W_ERR;
		} else {
			x->vars[x->n_vars - 1].v = *elem;
		}
	}
	if (pipe->n_decl > 1) {
		if (pipe->is_assign) {
			if (!set_var(x, pipe->decl[1], elem))
				return W_ERR;
		} else {
			x->vars[x->n_vars - 2].v = *index;
		}
	}
	r = walk_list(x, elem, n->list);
	x->n_vars = mark;
	return r == W_CONTINUE ? W_OK : r;
}

/* The body over 0..count-1 (range over an integer). */
static enum wres range_count(struct tmpl_exec *x, const struct tmpl_node *n, size_t mark,
			     const struct tmpl_val *v, bool *ran)
{
	struct tmpl_val none = {.k = TV_INVALID}, e = *v;
	int64_t count = v->k == TV_INT ? v->i : v->u8;

	if (n->pipe->n_decl > 1) {
		cfg_tmpl_errorf(x, "can't use %lld to iterate over more than one variable",
				(long long)count);
		return W_ERR;
	}
	for (int64_t i = 0; i < count; i++) {
		enum wres r;
		if (v->k == TV_INT)
			e.i = i;
		else
			e.u8 = (uint8_t)i;
		*ran = true;
		if (!cfg_tmpl_charge(x, 0))
			return W_ERR;
		if ((r = range_iteration(x, n, mark, &none, &e)) != W_OK)
			return r;
	}
	return W_OK;
}

/* The body over the map's entries in key order. */
static enum wres range_map(struct tmpl_exec *x, const struct tmpl_node *n, size_t mark,
			   const struct tmpl_val *v, bool *ran)
{
	const struct cfg_kv *kv;
	size_t count;

	if (!cfg_tmpl_map_entries(x, v->m, &kv, &count))
		return W_ERR;
	for (size_t i = 0; i < count; i++) {
		struct tmpl_val key = {.k = TV_STRING}, val = {.k = TV_STRING};
		enum wres r;

		key.s.p = kv[i].key;
		key.s.n = strlen(kv[i].key);
		val.s.p = kv[i].value;
		val.s.n = strlen(kv[i].value);
		*ran = true;
		if (!cfg_tmpl_charge(x, 0))
			return W_ERR;
		if ((r = range_iteration(x, n, mark, &key, &val)) != W_OK)
			return r;
	}
	return W_OK;
}

static enum wres walk_range(struct tmpl_exec *x, const struct tmpl_val *dot,
			    const struct tmpl_node *n)
{
	size_t mark0 = x->n_vars, mark;
	enum wres r = W_OK;
	struct tmpl_val v;
	bool ran = false;

	x->pos = n->pos;
	if (!eval_pipeline(x, dot, n->pipe, &v))
		return W_ERR;
	mark = x->n_vars;
	x->pos = n->pos;
	switch (v.k) {
	case TV_INT:
	case TV_UINT8: r = range_count(x, n, mark, &v, &ran); break;
	case TV_MAP: r = range_map(x, n, mark, &v, &ran); break;
	case TV_INVALID: break;
	default:
		cfg_tmpl_errorf(x, "range can't iterate over a %s", cfg_tmpl_type_name(&v));
		r = W_ERR;
		break;
	}
	if (r == W_OK && !ran && n->else_list != NULL)
		r = walk_list(x, dot, n->else_list);
	x->n_vars = mark0;
	return r == W_BREAK ? W_OK : r;
}

static const struct tmpl_tree *find_tree(const struct cfg_template *t, struct tmpl_str name)
{
	for (size_t i = 0; i < t->n_trees; i++) {
		const struct tmpl_tree *tree = t->trees[i];
		if (tree->name.n == name.n && memcmp(tree->name.p, name.p, name.n) == 0)
			return tree;
	}
	return NULL;
}

/* {{template "name" pipeline}}: the named template with the value as dot
 * and only $ defined. */
static enum wres walk_template(struct tmpl_exec *x, const struct tmpl_val *dot,
			       const struct tmpl_node *n)
{
	const struct tmpl_tree *tree = find_tree(x->t, n->text);
	size_t base = x->var_base, mark;
	struct tmpl_str dollar = {"$", 1};
	struct tmpl_val v;
	enum wres r;

	x->pos = n->pos;
	if (tree == NULL) {
		cfg_tmpl_errorf(x, "template \"%.*s\" not defined", (int)n->text.n, n->text.p);
		return W_ERR;
	}
	if (!eval_pipeline(x, dot, n->pipe, &v) || !enter(x))
		return W_ERR;
	mark = x->n_vars;
	x->var_base = mark;
	if (!push_var(x, dollar, &v))
		return W_ERR;
	r = walk_list(x, &v, tree->root);
	x->n_vars = mark;
	x->var_base = base;
	x->depth--;
	return r;
}

static enum wres walk(struct tmpl_exec *x, const struct tmpl_val *dot, const struct tmpl_node *n)
{
	struct tmpl_val v;
	enum wres r = W_OK;

	x->pos = n->pos;
	if (!cfg_tmpl_charge(x, 0))
		return W_ERR;
	switch (n->kind) {
	case TN_TEXT:
		cfg_tmpl_put(&x->out, n->text.p, n->text.n);
		if (x->out.full) {
			cfg_tmpl_errorf(x, "output larger than %d bytes", CFG_TEMPLATE_MAX_OUT);
			return W_ERR;
		}
		return cfg_tmpl_charge(x, n->text.n / 64) ? W_OK : W_ERR;
	case TN_ACTION:
		if (!eval_pipeline(x, dot, n->pipe, &v))
			return W_ERR;
		if (n->pipe->n_decl == 0 && !print_value(x, &v))
			return W_ERR;
		return W_OK;
	case TN_BREAK: return W_BREAK;
	case TN_CONTINUE: return W_CONTINUE;
	case TN_IF:
	case TN_WITH:
	case TN_RANGE:
	case TN_TEMPLATE:
		if (!enter(x))
			return W_ERR;
		if (n->kind == TN_RANGE)
			r = walk_range(x, dot, n);
		else if (n->kind == TN_TEMPLATE)
			r = walk_template(x, dot, n);
		else
			r = walk_if_with(x, dot, n);
		x->depth--;
		return r;
	case TN_END:
	case TN_ELSE: break;
	}
	return W_OK;
}

static enum wres walk_list(struct tmpl_exec *x, const struct tmpl_val *dot,
			   const struct tmpl_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		enum wres r = walk(x, dot, l->v[i]);
		if (r != W_OK)
			return r;
	}
	return W_OK;
}

/*
 * template.Execute of the template named "" with the map x->data as dot
 * and $. Returns true with the output in x->out, else false with the
 * error in x->err.
 */
bool cfg_tmpl_execute(struct tmpl_exec *x)
{
	struct tmpl_str main_name = {"", 0}, dollar = {"$", 1};
	const struct tmpl_tree *tree = find_tree(x->t, main_name);
	struct tmpl_val dot = {.k = TV_MAP};

	dot.m = x->data;
	if (tree == NULL)
		return cfg_tmpl_errorf(x, "incomplete or empty template");
	if (!push_var(x, dollar, &dot))
		return false;
	return walk_list(x, &dot, tree->root) == W_OK;
}
