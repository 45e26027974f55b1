/*
 * The flag file of a command (Fulcio's `serve --config FILE`, read by
 * viper): a YAML or JSON mapping of flag names to values, read into one
 * flat JSON object for flags.c. What viper does and this reader follows:
 * names are matched without regard to case (flags.c), nested mappings make
 * dotted names ("ct-log: {tls-ca-cert: F}" is ct-log.tls-ca-cert), a value
 * left empty (or ~, null) is not set, and yaml.v3 refuses a name given
 * twice. A file whose format is not YAML or JSON (viper also reads TOML,
 * HCL, INI, .env and Java properties) is refused by its extension.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cmd.h"
#include "cmd_int.h"

/* Top-level names of Fulcio's identity configuration (YAML and JSON
 * spellings): such a file given to --config was meant for --config-path. */
static const char *const identity_keys[] = {"oidc-issuers", "meta-issuers", "ci-issuer-metadata",
					    "OIDCIssuers",  "MetaIssuers",  "CIIssuerMetadata"};

static bool is_identity_key(const char *k)
{
	for (size_t i = 0; i < sizeof(identity_keys) / sizeof(identity_keys[0]); i++)
		if (strcasecmp(k, identity_keys[i]) == 0)
			return true;
	return false;
}

static void identity_why(const char *key, char *why, size_t n)
{
	snprintf(why, n,
		 "this is an identity configuration (it has %s): give it with --config-path; "
		 "--config names a flag file (flag names and their values, as Fulcio's viper "
		 "reads it)",
		 key);
}

/* --- YAML ------------------------------------------------------------------------- */

struct yaml_rd {
	json_t *root;			 /* the flat result */
	char *path[CMD_FLAG_FILE_DEPTH]; /* dotted name of each open mapping ("" at the top) */
	int depth;			 /* open mappings */
	char *key;			 /* a name waiting for its value */
	json_t *list;			 /* the list being read */
	char *why;
	size_t n;
};

static bool yaml_fail(struct yaml_rd *r, const char *fmt, ...) FC_PRINTF(2, 3);
static bool yaml_fail(struct yaml_rd *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, r->n, fmt, ap);
	va_end(ap);
	return false;
}

/* The full dotted name of the pending key. */
static char *full_key(const struct yaml_rd *r)
{
	const char *base = r->path[r->depth];

	return fc_xasprintf("%s%s%s", base, *base ? "." : "", r->key);
}

/* Give the pending key its value (taken). */
static bool yaml_put(struct yaml_rd *r, json_t *v)
{
	char *k = full_key(r);
	bool ok = json_object_get(r->root, k) == NULL;

	if (ok) {
		json_object_set_new(r->root, k, v);
	} else {
		json_decref(v);
		yaml_fail(r, "%s is given twice", k);
	}
	free(k);
	free(r->key);
	r->key = NULL;
	return ok;
}

/* A plain scalar that YAML reads as null. */
static bool yaml_null(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;

	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
		strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

static bool yaml_scalar(struct yaml_rd *r, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (r->depth == 0)
		return yaml_fail(r, "a flag file is a mapping of flag names to values");
	if (r->list != NULL) {
		json_array_append_new(r->list, json_stringn(s, len));
		return true;
	}
	if (r->key == NULL) {
		if (r->depth == 1 && is_identity_key(s)) {
			identity_why(s, r->why, r->n);
			return false;
		}
		r->key = fc_xstrdup(s);
		return true;
	}
	return yaml_put(r, yaml_null(ev) ? json_null() : json_stringn(s, len));
}

static bool yaml_mapping_start(struct yaml_rd *r)
{
	if (r->list != NULL)
		return yaml_fail(r, "%s: a list of mappings is not a flag value", r->key);
	if (r->depth == 0) {
		r->path[1] = fc_xstrdup("");
		r->depth = 1;
		return true;
	}
	if (r->key == NULL)
		return yaml_fail(r, "a flag name must be a plain string");
	if (r->depth + 1 >= CMD_FLAG_FILE_DEPTH)
		return yaml_fail(r, "%s: mappings nested too deeply", r->key);
	r->path[r->depth + 1] = full_key(r);
	free(r->key);
	r->key = NULL;
	r->depth++;
	return true;
}

static bool yaml_event(struct yaml_rd *r, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT: return yaml_mapping_start(r);
	case YAML_MAPPING_END_EVENT:
		free(r->path[r->depth]);
		r->path[r->depth--] = NULL;
		return true;
	case YAML_SEQUENCE_START_EVENT:
		if (r->depth == 0)
			return yaml_fail(r, "a flag file is a mapping of flag names to values");
		if (r->list != NULL || r->key == NULL)
			return yaml_fail(r, "a list of lists is not a flag value");
		r->list = json_array();
		return true;
	case YAML_SEQUENCE_END_EVENT: {
		json_t *l = r->list;
		r->list = NULL;
		return yaml_put(r, l);
	}
	case YAML_SCALAR_EVENT: return yaml_scalar(r, ev);
	case YAML_ALIAS_EVENT:
		return yaml_fail(r, "YAML aliases (*name) are not read in a flag file");
	default: return true;
	}
}

/* Wipe what libyaml copied of the text (it frees without wiping). */
static void yaml_wipe(yaml_parser_t *p, yaml_event_t *ev)
{
	if (ev != NULL && ev->type == YAML_SCALAR_EVENT)
		fc_memzero(ev->data.scalar.value, ev->data.scalar.length);
	if (p != NULL && p->buffer.start != NULL)
		fc_memzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p != NULL && p->raw_buffer.start != NULL)
		fc_memzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static json_t *yaml_flags(const char *text, size_t len, char *why, size_t n)
{
	struct yaml_rd r = {.root = json_object(), .why = why, .n = n};
	yaml_parser_t parser;
	yaml_event_t ev;
	bool ok = true, done = false;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (ok && !done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ok = yaml_fail(&r, "line %zu: %s", parser.problem_mark.line + 1,
				       parser.problem ? parser.problem : "YAML error");
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		ok = yaml_event(&r, &ev);
		yaml_wipe(NULL, &ev);
		yaml_event_delete(&ev);
	}
	yaml_wipe(&parser, NULL);
	yaml_parser_delete(&parser);
	for (int i = 0; i < CMD_FLAG_FILE_DEPTH; i++)
		free(r.path[i]);
	free(r.key);
	json_decref(r.list);
	if (!ok) {
		json_decref(r.root);
		return NULL;
	}
	return r.root;
}

/* --- JSON ------------------------------------------------------------------------- */

/* Copy obj's members into flat, nested objects as dotted names. */
static bool json_flatten(json_t *flat, const char *prefix, json_t *obj, int depth, char *why,
			 size_t n)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
	{
		char *name = *prefix ? fc_xasprintf("%s.%s", prefix, k) : fc_xstrdup(k);
		bool ok = true;

		if (depth == 0 && is_identity_key(k)) {
			identity_why(k, why, n);
			ok = false;
		} else if (json_is_object(v) && depth + 1 >= CMD_FLAG_FILE_DEPTH) {
			snprintf(why, n, "%s: objects nested too deeply", name);
			ok = false;
		} else if (json_is_object(v)) {
			ok = json_flatten(flat, name, v, depth + 1, why, n);
		} else {
			json_object_set(flat, name, v);
		}
		free(name);
		if (!ok)
			return false;
	}
	return true;
}

static json_t *json_flags(const char *text, size_t len, char *why, size_t n)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *flat = NULL;

	if (doc == NULL) {
		snprintf(why, n, "line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc))
		snprintf(why, n, "a flag file is an object of flag names and values");
	else if (json_flatten(flat = json_object(), "", doc, 0, why, n)) {
		json_decref(doc);
		return flat;
	}
	json_decref(flat);
	json_decref(doc);
	return NULL;
}

/* --- the file ------------------------------------------------------------------ */

/* The format by the extension (viper's rule), or by the first character. */
static int file_format(const char *path, const char *text, size_t len, char *why, size_t n)
{
	static const char *const other[] = {"toml",  "hcl",  "tfvars", "ini",	"properties",
					    "props", "prop", "env",    "dotenv"};
	const char *slash = strrchr(path, '/'), *dot = strrchr(slash ? slash : path, '.');
	const char *ext = dot != NULL ? dot + 1 : "";

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		if (strcasecmp(ext, other[i]) == 0) {
			snprintf(why, n,
				 "fulcrum reads flag files in YAML or JSON (.yaml, .yml, "
				 ".json), not .%s",
				 ext);
			return -1;
		}
	}
	if (strcasecmp(ext, "json") == 0)
		return 1;
	if (strcasecmp(ext, "yaml") == 0 || strcasecmp(ext, "yml") == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
			return text[i] == '{' ? 1 : 0;
	}
	return 0;
}

/*
 * A flag file's text as one flat JSON object (cmd.h); name is its path,
 * for the format. NULL with the reason in why, else the object
 * (json_decref).
 */
json_t *cmd_flag_file_parse(const char *name, const char *text, size_t len, char *why, size_t n)
{
	int fmt = file_format(name, text, len, why, n);

	if (fmt == 1)
		return json_flags(text, len, why, n);
	if (fmt == 0)
		return yaml_flags(text, len, why, n);
	return NULL;
}

/* Read path as a flag file (cmd_int.h). */
json_t *cmd_flag_file_read(const char *path, char *why, size_t n)
{
	struct fc_err err = {0};
	char *text = NULL;
	size_t len = 0;
	json_t *root;

	if (fc_read_secret_file(path, CMD_FLAG_FILE_MAX, "flag file", &text, &len, NULL, &err) !=
	    FC_OK) {
		snprintf(why, n, "%s", err.msg);
		return NULL;
	}
	root = cmd_flag_file_parse(path, text, len, why, n);
	fc_memzero(text, len);
	free(text);
	return root;
}
