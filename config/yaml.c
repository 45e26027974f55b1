/*
 * config: Fulcio's YAML form (yaml.v3 tags, kebab-case) converted to the
 * jansson tree of its JSON form, so that one builder reads both.
 *
 * libyaml's document loader resolves aliases to shared nodes; `<<` merge
 * keys are applied here, as yaml.v3 does. Only the keys that Fulcio's Go
 * structs name are renamed, and only where those structs apply: the keys of
 * oidc-issuers / meta-issuers (issuer URLs), of ci-issuer-metadata (provider
 * names) and of default-template-values (claim names) are kept verbatim.
 */
#include <string.h>

#include <yaml.h>

#include "config_int.h"

/* Where a mapping sits, which decides how its keys are treated. */
enum ctx {
	CTX_ROOT,     /* FulcioConfig */
	CTX_ISSUERS,  /* map issuer URL -> OIDCIssuer */
	CTX_ISSUER,   /* OIDCIssuer */
	CTX_CI_MAP,   /* map provider name -> IssuerMetadata */
	CTX_CI,	      /* IssuerMetadata */
	CTX_DEFAULTS, /* map claim -> default value */
	CTX_EXT,      /* certificate.Extensions */
	CTX_OTHER,    /* anything below a scalar field: kept as is */
};

struct conv {
	yaml_document_t *doc;
	const char *name;
	struct fc_err *err;
	size_t nodes; /* nodes converted so far, aliases counted each time */
};

static json_t *convert(struct conv *c, yaml_node_t *node, enum ctx ctx, int depth);

/*
 * The renaming table for a context, or NULL if its keys are data.
 */
static const struct cfg_field *ctx_fields(enum ctx ctx, size_t *n)
{
	switch (ctx) {
	case CTX_ROOT: *n = CFG_N_TOP_FIELDS; return cfg_top_fields;
	case CTX_ISSUER: *n = CFG_N_ISSUER_FIELDS; return cfg_issuer_fields;
	case CTX_CI: *n = CFG_N_CI_FIELDS; return cfg_ci_fields;
	case CTX_EXT: *n = CFG_N_EXT_FIELDS; return cfg_ext_fields;
	default: *n = 0; return NULL;
	}
}

/*
 * The context of the value stored under a key of a mapping in context ctx;
 * `field` is the index of the key in the renaming table (if any).
 */
static enum ctx child_ctx(enum ctx ctx, size_t field)
{
	switch (ctx) {
	case CTX_ROOT: return field == CFG_TOP_CI ? CTX_CI_MAP : CTX_ISSUERS;
	case CTX_ISSUERS: return CTX_ISSUER;
	case CTX_CI_MAP: return CTX_CI;
	case CTX_CI:
		if (field == CFG_CI_DEFAULTS)
			return CTX_DEFAULTS;
		if (field == CFG_CI_EXT)
			return CTX_EXT;
		return CTX_OTHER;
	default: return CTX_OTHER;
	}
}

static bool is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t l = strlen(s);
	return n->data.scalar.length == l && memcmp(n->data.scalar.value, s, l) == 0;
}

/*
 * A scalar as JSON: plain null/bool spellings of YAML 1.2's core schema
 * (which yaml.v3 follows) become null/true/false, everything else a string
 * (numbers too: every field Fulcio reads is a string or a bool).
 */
static json_t *convert_scalar(struct conv *c, yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	static const char *const trues[] = {"true", "True", "TRUE"};
	static const char *const falses[] = {"false", "False", "FALSE"};
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	json_t *s;

	if (is_plain(n)) {
		for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
			if (scalar_is(n, nulls[i]))
				return json_null();
		for (size_t i = 0; i < sizeof(trues) / sizeof(trues[0]); i++)
			if (scalar_is(n, trues[i]))
				return json_true();
		for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
			if (scalar_is(n, falses[i]))
				return json_false();
	}
	if (memchr(v, '\0', len) != NULL) {
		fc_err_set(c->err, FC_ECONFIG, "config: %s: line %zu: NUL character in a string",
			   c->name, n->start_mark.line + 1);
		return NULL;
	}
	if ((s = json_stringn(v, len)) == NULL)
		fc_err_set(c->err, FC_ECONFIG, "config: %s: line %zu: string is not valid UTF-8",
			   c->name, n->start_mark.line + 1);
	return s;
}

/*
 * The key of a mapping pair as a string; NULL (err set) unless a scalar.
 */
static const char *key_string(struct conv *c, yaml_node_t *k, char **owned)
{
	*owned = NULL;
	if (k == NULL || k->type != YAML_SCALAR_NODE) {
		fc_err_set(c->err, FC_ECONFIG, "config: %s: line %zu: mapping key is not a string",
			   c->name, k ? k->start_mark.line + 1 : 0);
		return NULL;
	}
	if (memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
		fc_err_set(c->err, FC_ECONFIG, "config: %s: line %zu: NUL character in a key",
			   c->name, k->start_mark.line + 1);
		return NULL;
	}
	*owned = fc_xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
	return *owned;
}

static bool is_merge_key(const yaml_node_t *k)
{
	return k != NULL && k->type == YAML_SCALAR_NODE && is_plain(k) && scalar_is(k, "<<");
}

/*
 * Add one pair to obj (a mapping in context ctx): rename or keep the key,
 * drop unknown struct keys, convert the value. Explicit keys that repeat are
 * an error; keys from a merge (`merged`) never replace existing ones.
 */
static bool add_pair(struct conv *c, json_t *obj, json_t *seen, enum ctx ctx, yaml_node_t *k,
		     yaml_node_t *v, bool merged, int depth)
{
	size_t nfields, field = 0;
	const struct cfg_field *fields = ctx_fields(ctx, &nfields);
	const char *key, *out_key;
	char *owned = NULL;
	json_t *val = NULL;
	bool ok = false;

	if ((key = key_string(c, k, &owned)) == NULL)
		goto out;
	if (json_object_get(seen, key) != NULL) {
		if (merged) {
			ok = true; /* an explicit key wins over a merged one */
			goto out;
		}
		fc_err_set(c->err, FC_ECONFIG,
			   "config: %s: line %zu: mapping key \"%s\" already defined", c->name,
			   k->start_mark.line + 1, key);
		goto out;
	}
	json_object_set_new(seen, key, json_true());
	out_key = key;
	if (fields != NULL) {
		field = cfg_field_find(fields, nfields, key, true);
		if (field == nfields) {
			/* yaml.v3 ignores keys no struct field names (e.g. the
			 * `define:` list that only holds anchors). */
			fc_log(LOG_DEBUG, "config: %s: line %zu: ignoring unknown key \"%s\"",
			       c->name, k->start_mark.line + 1, key);
			ok = true;
			goto out;
		}
		out_key = fields[field].json;
	}
	if ((val = convert(c, v, child_ctx(ctx, field), depth + 1)) == NULL)
		goto out;
	json_object_set_new(obj, out_key, val);
	ok = true;
out:
	free(owned);
	return ok;
}

/*
 * Apply a `<<` value: one mapping or a sequence of mappings, earlier ones
 * taking precedence (YAML merge key type).
 */
static bool merge_into(struct conv *c, json_t *obj, json_t *seen, enum ctx ctx, yaml_node_t *v,
		       int depth)
{
	yaml_node_item_t *it;

	if (v == NULL)
		return false;
	if (v->type == YAML_MAPPING_NODE) {
		if (++c->nodes > CFG_YAML_MAX_NODES || depth > CFG_YAML_MAX_DEPTH) {
			fc_err_set(c->err, FC_ECONFIG,
				   "config: %s: document too large or too deep once aliases are "
				   "expanded",
				   c->name);
			return false;
		}
		for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
		     p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			yaml_node_t *pv = yaml_document_get_node(c->doc, p->value);
			if (is_merge_key(k)) {
				if (!merge_into(c, obj, seen, ctx, pv, depth + 1))
					return false;
				continue;
			}
			if (!add_pair(c, obj, seen, ctx, k, pv, true, depth))
				return false;
		}
		return true;
	}
	if (v->type == YAML_SEQUENCE_NODE) {
		for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
			yaml_node_t *m = yaml_document_get_node(c->doc, *it);
			if (m == NULL || m->type != YAML_MAPPING_NODE) {
				fc_err_set(c->err, FC_ECONFIG,
					   "config: %s: line %zu: `<<` needs mappings", c->name,
					   v->start_mark.line + 1);
				return false;
			}
			if (!merge_into(c, obj, seen, ctx, m, depth + 1))
				return false;
		}
		return true;
	}
	fc_err_set(c->err, FC_ECONFIG, "config: %s: line %zu: `<<` needs a mapping", c->name,
		   v->start_mark.line + 1);
	return false;
}

static json_t *convert_mapping(struct conv *c, yaml_node_t *node, enum ctx ctx, int depth)
{
	json_t *obj = json_object(), *seen = json_object();
	yaml_node_pair_t *p;
	bool ok = false;

	/* Explicit keys first, so that they win over merged ones whatever the
	 * order in the text. */
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (is_merge_key(k))
			continue;
		if (!add_pair(c, obj, seen, ctx, k, yaml_document_get_node(c->doc, p->value), false,
			      depth))
			goto out;
	}
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		if (!is_merge_key(k))
			continue;
		if (!merge_into(c, obj, seen, ctx, yaml_document_get_node(c->doc, p->value), depth))
			goto out;
	}
	ok = true;
out:
	json_decref(seen);
	if (!ok) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *convert(struct conv *c, yaml_node_t *node, enum ctx ctx, int depth)
{
	json_t *arr;

	if (node == NULL) {
		fc_err_set(c->err, FC_ECONFIG, "config: %s: dangling YAML node", c->name);
		return NULL;
	}
	if (++c->nodes > CFG_YAML_MAX_NODES || depth > CFG_YAML_MAX_DEPTH) {
		fc_err_set(c->err, FC_ECONFIG,
			   "config: %s: document too large or too deep once aliases are expanded",
			   c->name);
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: return convert_scalar(c, node);
	case YAML_MAPPING_NODE: return convert_mapping(c, node, ctx, depth);
	case YAML_SEQUENCE_NODE:
		arr = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			json_t *v = convert(c, yaml_document_get_node(c->doc, *it), CTX_OTHER,
					    depth + 1);
			if (v == NULL) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	default:
		fc_err_set(c->err, FC_ECONFIG, "config: %s: empty YAML node", c->name);
		return NULL;
	}
}

/*
 * Parse one YAML document (Fulcio's kebab-case form) into the JSON tree of
 * the equivalent JSON file. An empty document gives an empty object; a
 * second document, a top level that is not a mapping, a repeated key, or a
 * document that expands past CFG_YAML_MAX_NODES / CFG_YAML_MAX_DEPTH is
 * refused. Returns FC_OK and *out (caller json_decref's), else FC_ECONFIG
 * with the line in err.
 */
enum fc_status cfg_yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
				struct fc_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	bool have_doc = false, have_doc2 = false;
	struct conv c = {.doc = &doc, .name = name, .err = err};
	enum fc_status st = FC_ECONFIG;
	yaml_node_t *root;
	json_t *res = NULL;

	if (yaml_parser_initialize(&parser) != 1) {
		fc_err_set(err, FC_ECONFIG, "config: %s: cannot initialise the YAML parser", name);
		return FC_ECONFIG;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc) != 1) {
		fc_err_set(err, FC_ECONFIG, "config: %s: YAML line %zu column %zu: %s%s%s", name,
			   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "syntax error",
			   parser.context ? " " : "", parser.context ? parser.context : "");
		goto out;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		res = json_object(); /* empty file: no issuers, as in Fulcio */
		st = FC_OK;
		goto out;
	}
	if (yaml_parser_load(&parser, &doc2) != 1) {
		fc_err_set(err, FC_ECONFIG, "config: %s: YAML line %zu column %zu: %s", name,
			   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "syntax error");
		goto out;
	}
	have_doc2 = true;
	if (yaml_document_get_root_node(&doc2) != NULL) {
		fc_err_set(err, FC_ECONFIG, "config: %s: more than one YAML document", name);
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		fc_err_set(err, FC_ECONFIG, "config: %s: top level must be a mapping", name);
		goto out;
	}
	if ((res = convert(&c, root, CTX_ROOT, 0)) == NULL)
		goto out;
	st = FC_OK;
out:
	if (st == FC_OK) {
		*out = res;
		res = NULL;
	}
	json_decref(res);
	if (have_doc2)
		yaml_document_delete(&doc2);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return st;
}
