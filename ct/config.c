/*
 * The CA's CT configuration file (--ct-log-config, ct.h): YAML or JSON,
 * read into the options of ct_client_new. Strict: unknown keys, duplicate
 * keys, values of the wrong type and out-of-range values are refused with
 * the key's path; nothing in the file is guessed.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "ct_int.h"

#define YAML_MAX_NODES 4096 /* nodes once aliases are expanded */
#define YAML_MAX_DEPTH 8

struct ct_config {
	json_t *doc; /* owns every string the options point to */
	struct ct_client_options o;
	struct ct_log_options logs[CT_MAX_LOGS];
};

/*
 * Parse "10s", "500ms", "1m", "2.5" (seconds) into milliseconds (ct.h).
 * FC_ECONFIG with the reason unless 1 ms <= value <= 10 min.
 */
enum fc_status ct_parse_duration_ms(const char *s, unsigned *ms, struct fc_err *err)
{
	double v;

	if (s == NULL || !fc_parse_duration(s, 1000, &v) || !(v >= 1.0 && v <= 600000.0))
		return fc_err_set(err, FC_ECONFIG,
				  "bad duration \"%s\" (use e.g. 10s, 500ms or 10; "
				  "1 ms to 10 min)",
				  s ? s : "");
	*ms = (unsigned)(v + 0.5);
	return FC_OK;
}

/* --- YAML to a JSON tree ------------------------------------------------------------ */

struct conv {
	yaml_document_t *doc;
	const char *name;
	size_t nodes;
	struct fc_err *err;
};

static json_t *yaml_node_json(struct conv *c, yaml_node_t *node, int depth);

/* A mapping: scalar keys, each once. */
static json_t *yaml_mapping_json(struct conv *c, yaml_node_t *node, int depth)
{
	json_t *obj = json_object();

	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		json_t *v;
		const char *key;

		if (k == NULL || k->type != YAML_SCALAR_NODE) {
			fc_err_set(c->err, FC_ECONFIG,
				   "ctlog: %s: line %zu: a key must be a string", c->name,
				   node->start_mark.line + 1);
			goto fail;
		}
		key = (const char *)k->data.scalar.value;
		if (json_object_get(obj, key) != NULL) {
			fc_err_set(c->err, FC_ECONFIG, "ctlog: %s: line %zu: key \"%s\" repeated",
				   c->name, k->start_mark.line + 1, key);
			goto fail;
		}
		if ((v = yaml_node_json(c, yaml_document_get_node(c->doc, p->value), depth + 1)) ==
		    NULL)
			goto fail;
		json_object_set_new(obj, key, v);
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* Any node: scalars become strings (the reader types them). */
static json_t *yaml_node_json(struct conv *c, yaml_node_t *node, int depth)
{
	json_t *arr;

	if (node == NULL || ++c->nodes > YAML_MAX_NODES || depth > YAML_MAX_DEPTH) {
		fc_err_set(c->err, FC_ECONFIG, "ctlog: %s: empty, too large or too deep", c->name);
		return NULL;
	}
	if (node->type == YAML_SCALAR_NODE)
		return json_stringn((const char *)node->data.scalar.value,
				    node->data.scalar.length);
	if (node->type == YAML_MAPPING_NODE)
		return yaml_mapping_json(c, node, depth);
	arr = json_array();
	for (yaml_node_item_t *it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		json_t *v = yaml_node_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
		if (v == NULL) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, v);
	}
	return arr;
}

/* One YAML document, its top level a mapping, into *out. FC_ECONFIG. */
static enum fc_status yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
				   struct fc_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv c = {.doc = &doc, .name = name, .err = err};
	yaml_node_t *root;
	enum fc_status st = FC_ECONFIG;

	if (yaml_parser_initialize(&parser) != 1)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: cannot start the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc) != 1) {
		fc_err_set(err, FC_ECONFIG, "ctlog: %s: YAML line %zu column %zu: %s", name,
			   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		return FC_ECONFIG;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE)
		fc_err_set(err, FC_ECONFIG, "ctlog: %s: the top level must be a mapping", name);
	else if ((*out = yaml_node_json(&c, root, 0)) != NULL)
		st = FC_OK;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return st;
}

/* --- typed reads ------------------------------------------------------------------- */

/* Every key of obj is one of allowed (NULL-terminated). */
static enum fc_status only_keys(const json_t *obj, const char *const *allowed, const char *path,
				const char *name, struct fc_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		for (i = 0; allowed[i] != NULL && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i] == NULL)
			return fc_err_set(err, FC_ECONFIG, "ctlog: %s: unknown key %s%s", name,
					  path, key);
	}
	return FC_OK;
}

/* A string value (or absent: *out NULL). */
static enum fc_status get_str(const json_t *obj, const char *key, const char *path,
			      const char *name, const char **out, struct fc_err *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return FC_OK;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: %s%s must be a non-empty string",
				  name, path, key);
	*out = json_string_value(v);
	return FC_OK;
}

/* A duration ("500ms", "10s"; with zero_ok also "0"). */
static enum fc_status get_duration(const json_t *obj, const char *key, const char *path,
				   const char *name, bool zero_ok, unsigned *out,
				   struct fc_err *err)
{
	const char *s = NULL;
	struct fc_err why = {0};

	if (get_str(obj, key, path, name, &s, err) != FC_OK)
		return FC_ECONFIG;
	if (s == NULL)
		return FC_OK;
	if (zero_ok && (strcmp(s, "0") == 0 || strcmp(s, "0s") == 0 || strcmp(s, "0ms") == 0)) {
		*out = 0;
		return FC_OK;
	}
	if (ct_parse_duration_ms(s, out, &why) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: %s%s: %s", name, path, key, why.msg);
	return FC_OK;
}

/* A count 0..max: a JSON integer or a string of digits (YAML). */
static enum fc_status get_count(const json_t *obj, const char *key, const char *path,
				const char *name, unsigned max, unsigned *out, struct fc_err *err)
{
	const json_t *v = json_object_get(obj, key);
	long long n = -1;

	if (v == NULL)
		return FC_OK;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (*s >= '0' && *s <= '9') {
			errno = 0;
			n = strtoll(s, &end, 10);
			if (errno != 0 || *end != '\0')
				n = -1;
		}
	}
	if (n < 0 || n > (long long)max)
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: %s: %s%s must be a whole number from 0 "
				  "to %u",
				  name, path, key, max);
	*out = (unsigned)n;
	return FC_OK;
}

/* RFC 3339 "2026-01-02T03:04:05Z" (or with a numeric offset). */
static bool parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t off = 0;

	if (p == NULL)
		return false;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") == 0) {
		off = 0;
	} else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':' &&
		   strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2) {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');

		off = (h * 3600 + m * 60) * (p[0] == '+' ? 1 : -1);
	} else {
		return false;
	}
	*out = (int64_t)timegm(&tm) - off;
	return true;
}

/* An RFC 3339 time, or absent (*has false). */
static enum fc_status get_time(const json_t *obj, const char *key, const char *path,
			       const char *name, bool *has, int64_t *out, struct fc_err *err)
{
	const char *s = NULL;

	*has = false;
	if (get_str(obj, key, path, name, &s, err) != FC_OK)
		return FC_ECONFIG;
	if (s == NULL)
		return FC_OK;
	if (!parse_rfc3339(s, out))
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: %s: %s%s: \"%s\" is not an RFC 3339 time "
				  "(e.g. 2026-07-01T00:00:00Z)",
				  name, path, key, s);
	*has = true;
	return FC_OK;
}

/* --- the document ---------------------------------------------------------------------- */

/* One entry of "logs". */
static enum fc_status read_log(const json_t *v, size_t i, const char *name,
			       struct ct_log_options *lo, struct fc_err *err)
{
	static const char *const keys[] = {
		"url",	       "public_key_path", "public_key",	     "operator", "origin",
		"tls_ca_cert", "not_after_start", "not_after_limit", NULL};
	char path[32];

	snprintf(path, sizeof(path), "logs[%zu].", i);
	if (!json_is_object(v))
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: logs[%zu] must be a mapping", name,
				  i);
	if (only_keys(v, keys, path, name, err) != FC_OK ||
	    get_str(v, "url", path, name, &lo->url, err) != FC_OK ||
	    get_str(v, "public_key_path", path, name, &lo->public_key_path, err) != FC_OK ||
	    get_str(v, "public_key", path, name, &lo->public_key_pem, err) != FC_OK ||
	    get_str(v, "operator", path, name, &lo->operator_name, err) != FC_OK ||
	    get_str(v, "origin", path, name, &lo->origin, err) != FC_OK ||
	    get_str(v, "tls_ca_cert", path, name, &lo->tls_ca_cert, err) != FC_OK ||
	    get_time(v, "not_after_start", path, name, &lo->has_not_after_start,
		     &lo->not_after_start, err) != FC_OK ||
	    get_time(v, "not_after_limit", path, name, &lo->has_not_after_limit,
		     &lo->not_after_limit, err) != FC_OK)
		return FC_ECONFIG;
	if (lo->url == NULL || lo->operator_name == NULL)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: %s needs url and operator", name,
				  path);
	if ((lo->public_key_path == NULL) == (lo->public_key_pem == NULL))
		return fc_err_set(err, FC_ECONFIG,
				  "ctlog: %s: %s needs exactly one of "
				  "public_key_path and public_key",
				  name, path);
	return FC_OK;
}

/* The "policy" and "breaker" mappings. */
static enum fc_status read_policy(const json_t *doc, const char *name, struct ct_client_options *o,
				  struct fc_err *err)
{
	static const char *const pkeys[] = {"min_scts", "min_operators", NULL};
	static const char *const bkeys[] = {"failures", "backoff", "max_backoff", "slow", NULL};
	const json_t *p = json_object_get(doc, "policy"), *b = json_object_get(doc, "breaker");
	unsigned failures = 0;

	if ((p != NULL && !json_is_object(p)) || (b != NULL && !json_is_object(b)))
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: policy and breaker must be mappings",
				  name);
	if (p != NULL &&
	    (only_keys(p, pkeys, "policy.", name, err) != FC_OK ||
	     get_count(p, "min_scts", "policy.", name, CT_MAX_LOGS, &o->min_scts, err) != FC_OK ||
	     get_count(p, "min_operators", "policy.", name, CT_MAX_LOGS, &o->min_operators, err) !=
		     FC_OK))
		return FC_ECONFIG;
	if (b == NULL)
		return FC_OK;
	if (only_keys(b, bkeys, "breaker.", name, err) != FC_OK ||
	    get_count(b, "failures", "breaker.", name, 1000, &failures, err) != FC_OK ||
	    get_duration(b, "backoff", "breaker.", name, false, &o->breaker_backoff_ms, err) !=
		    FC_OK ||
	    get_duration(b, "max_backoff", "breaker.", name, false, &o->breaker_max_backoff_ms,
			 err) != FC_OK ||
	    get_duration(b, "slow", "breaker.", name, false, &o->slow_ms, err) != FC_OK)
		return FC_ECONFIG;
	if (json_object_get(b, "failures") != NULL)
		o->breaker_failures = failures == 0 ? -1 : (int)failures; /* 0: never open */
	return FC_OK;
}

/* The whole document into cfg. */
static enum fc_status read_doc(struct ct_config *cfg, const char *name, struct fc_err *err)
{
	static const char *const keys[] = {"logs", "timeout", "stagger", "policy", "breaker", NULL};
	const json_t *logs = json_object_get(cfg->doc, "logs");
	struct ct_client_options *o = &cfg->o;

	o->stagger_ms = CT_DEFAULT_STAGGER_MS;
	if (only_keys(cfg->doc, keys, "", name, err) != FC_OK ||
	    get_duration(cfg->doc, "timeout", "", name, false, &o->timeout_ms, err) != FC_OK ||
	    get_duration(cfg->doc, "stagger", "", name, true, &o->stagger_ms, err) != FC_OK ||
	    read_policy(cfg->doc, name, o, err) != FC_OK)
		return FC_ECONFIG;
	if (!json_is_array(logs) || json_array_size(logs) == 0 ||
	    json_array_size(logs) > CT_MAX_LOGS)
		return fc_err_set(err, FC_ECONFIG, "ctlog: %s: \"logs\" must list 1 to %d logs",
				  name, CT_MAX_LOGS);
	for (size_t i = 0; i < json_array_size(logs); i++)
		if (read_log(json_array_get(logs, i), i, name, &cfg->logs[i], err) != FC_OK)
			return FC_ECONFIG;
	o->logs = cfg->logs;
	o->n_logs = json_array_size(logs);
	return FC_OK;
}

/*
 * Parse a CT configuration (ct.h) from text: JSON if it starts with '{'
 * (duplicate keys refused), YAML otherwise. name is for messages.
 * FC_ECONFIG with the key's path; free *out with ct_config_free.
 */
enum fc_status ct_config_parse(const char *text, size_t len, const char *name,
			       struct ct_config **out, struct fc_err *err)
{
	struct ct_config *cfg = fc_xcalloc(1, sizeof(*cfg));
	size_t skip = strspn(text, " \t\r\n");
	json_error_t jerr;

	if (skip < len && text[skip] == '{') {
		cfg->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (cfg->doc == NULL || !json_is_object(cfg->doc)) {
			fc_err_set(err, FC_ECONFIG, "ctlog: %s: JSON line %d: %s", name, jerr.line,
				   cfg->doc ? "the top level must be an object" : jerr.text);
			goto fail;
		}
	} else if (yaml_to_json(text, len, name, &cfg->doc, err) != FC_OK) {
		goto fail;
	}
	if (read_doc(cfg, name, err) != FC_OK)
		goto fail;
	*out = cfg;
	return FC_OK;
fail:
	ct_config_free(cfg);
	return FC_ECONFIG;
}

/* ct_config_parse of the file at path (at most CT_MAX_CONFIG bytes). */
enum fc_status ct_config_load(const char *path, struct ct_config **out, struct fc_err *err)
{
	char *text = NULL;
	size_t len = 0;
	enum fc_status st;

	if (fc_read_file(path, CT_MAX_CONFIG, &text, &len, err) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "ctlog: CT configuration %s cannot be read",
				  path);
	st = ct_config_parse(text, len, path, out, err);
	free(text);
	return st;
}

/* The options read from the file; they point into cfg. */
struct ct_client_options *ct_config_options(struct ct_config *cfg)
{
	return &cfg->o;
}

/* Free a configuration and what its options point to (NULL is fine). */
void ct_config_free(struct ct_config *cfg)
{
	if (cfg == NULL)
		return;
	json_decref(cfg->doc);
	free(cfg);
}
