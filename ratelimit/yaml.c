/*
 * The YAML form of the rate-limit configuration, read with libyaml's
 * document loader and turned into the jansson tree of the JSON form, so
 * that one reader (config.c) checks both. Scalars stay strings (config.c
 * reads numbers from strings too); aliases are resolved, counted each time
 * they are used, so that a few lines cannot expand to billions of nodes.
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ratelimit_int.h"

#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 200000

struct conv {
	yaml_document_t *doc;
	const char *name;
	struct fc_err *err;
	size_t nodes;
};

static json_t *convert(struct conv *c, yaml_node_t *node, int depth);

static bool plain_is(const yaml_node_t *n, const char *s)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static json_t *convert_scalar(struct conv *c, yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	json_t *s;

	if (plain_is(n, "") || plain_is(n, "~") || plain_is(n, "null") || plain_is(n, "Null") ||
	    plain_is(n, "NULL"))
		return json_null();
	if (memchr(v, '\0', n->data.scalar.length) != NULL ||
	    (s = json_stringn(v, n->data.scalar.length)) == NULL) {
		fc_err_set(c->err, FC_ECONFIG, "%s: line %zu: a NUL or invalid UTF-8 in a string",
			   c->name, n->start_mark.line + 1);
		return NULL;
	}
	return s;
}

static json_t *convert_mapping(struct conv *c, yaml_node_t *node, int depth)
{
	json_t *obj = json_object();

	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		json_t *v;
		char *key;

		if (k == NULL || k->type != YAML_SCALAR_NODE ||
		    memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL) {
			fc_err_set(c->err, FC_ECONFIG,
				   "%s: line %zu: a mapping key must be a string", c->name,
				   k ? k->start_mark.line + 1 : 0);
			goto fail;
		}
		key = fc_xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
		if (json_object_get(obj, key) != NULL) {
			fc_err_set(c->err, FC_ECONFIG, "%s: line %zu: key \"%s\" is given twice",
				   c->name, k->start_mark.line + 1, key);
			free(key);
			goto fail;
		}
		v = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1);
		if (v == NULL || json_object_set_new(obj, key, v) != 0) {
			fc_err_set(c->err, FC_ECONFIG,
				   "%s: line %zu: key \"%s\" is not valid UTF-8", c->name,
				   k->start_mark.line + 1, key);
			free(key);
			goto fail;
		}
		free(key);
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *convert(struct conv *c, yaml_node_t *node, int depth)
{
	json_t *arr;

	if (node == NULL || ++c->nodes > YAML_MAX_NODES || depth > YAML_MAX_DEPTH) {
		fc_err_set(c->err, FC_ECONFIG,
			   "%s: YAML document too large or too deep once "
			   "aliases are expanded",
			   c->name);
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: return convert_scalar(c, node);
	case YAML_MAPPING_NODE: return convert_mapping(c, node, depth);
	case YAML_SEQUENCE_NODE:
		arr = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			json_t *v = convert(c, yaml_document_get_node(c->doc, *it), depth + 1);
			if (v == NULL) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	default: fc_err_set(c->err, FC_ECONFIG, "%s: empty YAML node", c->name); return NULL;
	}
}

/*
 * One YAML document to JSON (ratelimit_int.h). An empty document is an
 * empty object; a second document is refused.
 */
enum fc_status rl_yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
			       struct fc_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, doc2;
	bool have_doc = false, have_doc2 = false;
	struct conv c = {.doc = &doc, .name = name, .err = err};
	yaml_node_t *root;
	json_t *res = NULL;

	if (yaml_parser_initialize(&parser) != 1)
		return fc_err_set(err, FC_ECONFIG, "%s: cannot start the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc) != 1)
		goto syntax;
	have_doc = true;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		res = json_object();
		goto out;
	}
	if (yaml_parser_load(&parser, &doc2) != 1)
		goto syntax;
	have_doc2 = true;
	if (yaml_document_get_root_node(&doc2) != NULL) {
		fc_err_set(err, FC_ECONFIG, "%s: more than one YAML document", name);
		goto out;
	}
	res = convert(&c, root, 0);
	goto out;
syntax:
	fc_err_set(err, FC_ECONFIG, "%s: YAML line %zu column %zu: %s", name,
		   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		   parser.problem ? parser.problem : "syntax error");
out:
	if (have_doc2)
		yaml_document_delete(&doc2);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (res == NULL)
		return FC_ECONFIG;
	*out = res;
	return FC_OK;
}
