/*
 * config: loading Fulcio's identity configuration (pkg/config/config.go
 * Load/Read/parseConfig) into struct cfg_identity.
 *
 * JSON is tried first, then YAML, as Fulcio does. Both forms become one
 * jansson tree with the JSON (PascalCase) key names; the structs are built
 * from that tree with a type check on every field, then validated.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* What the builder needs to say where a problem is. */
struct bctx {
	const char *name; /* file name for messages */
	bool yaml;	  /* spell keys as in YAML */
	struct fc_err *err;
};

/*
 * The field named by key in the JSON-form tree: exact match, else (JSON
 * files only) a case-insensitive one, as Go's encoding/json accepts. The
 * YAML converter has already spelled every key it kept exactly. Returns
 * the index, or n if none.
 */
static size_t find_field(const struct cfg_field *fields, size_t n, const char *key, bool yaml)
{
	size_t i = cfg_field_find(fields, n, key, false);

	if (i < n || yaml)
		return i;
	for (i = 0; i < n; i++)
		if (strcasecmp(fields[i].json, key) == 0)
			return i;
	return n;
}

/*
 * The key path of field f below parent, e.g. `OIDCIssuers["x"].ClientID`.
 * Caller frees.
 */
static char *field_path(const struct bctx *b, const char *parent, const struct cfg_field *f)
{
	return fc_xasprintf("%s.%s", parent, cfg_field_name(f, b->yaml));
}

/*
 * Sort member k (value v) of the mapping at `path` (NULL for the top level)
 * into parts[], indexed like fields[0..n): *out is the field's index, or n
 * for a key no field names (logged at LOG_DEBUG as an unknown `what`, to be
 * skipped). Returns false, with err set, when the field was given already
 * (under another spelling, since the parsers refuse repeated keys).
 */
static bool sort_member(struct bctx *b, const char *path, const char *what,
			const struct cfg_field *fields, size_t n, const json_t **parts,
			const char *k, const json_t *v, size_t *out)
{
	size_t i = find_field(fields, n, k, b->yaml);
	const char *fname;

	*out = i;
	if (i == n) {
		if (path != NULL)
			fc_log(LOG_DEBUG, "config: %s: %s: ignoring unknown %s \"%s\"", b->name,
			       path, what, k);
		else
			fc_log(LOG_DEBUG, "config: %s: ignoring unknown %s \"%s\"", b->name, what,
			       k);
		return true;
	}
	if (parts[i] != NULL) {
		fname = cfg_field_name(&fields[i], b->yaml);
		if (path != NULL)
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s.%s: given twice (as \"%s\")",
				   b->name, path, fname, k);
		else
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: given twice (as \"%s\")",
				   b->name, fname, k);
		return false;
	}
	parts[i] = v;
	return true;
}

/*
 * A JSON type's name for "must be a string, not an array" messages.
 */
static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/*
 * A string field: NULL for null or "" (Fulcio's zero value), else a copy.
 * Any other type is an error naming path.
 */
static bool get_str(struct bctx *b, const char *path, const json_t *v, char **out)
{
	*out = NULL;
	if (json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: must be a string, not %s", b->name,
			   path, jtype(v));
		return false;
	}
	if (json_string_length(v) != strlen(json_string_value(v))) {
		fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: NUL character in string", b->name,
			   path);
		return false;
	}
	if (json_string_length(v) > 0)
		*out = fc_xstrdup(json_string_value(v));
	return true;
}

/*
 * A mapping (or null, meaning empty); anything else is an error.
 */
static bool check_object(struct bctx *b, const char *path, const json_t *v)
{
	if (json_is_object(v) || json_is_null(v))
		return true;
	fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: must be a mapping, not %s", b->name, path,
		   jtype(v));
	return false;
}

/*
 * Store value v of issuer field f (at `path`) in iss.
 */
static bool set_issuer_field(struct bctx *b, const char *path, const struct cfg_field *f,
			     const json_t *v, struct cfg_issuer *iss)
{
	if (f->kind == CFG_FIELD_STR)
		return get_str(b, path, v, (char **)((char *)iss + f->off));
	if (!json_is_boolean(v) && !json_is_null(v)) {
		fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: must be true or false, not %s",
			   b->name, path, jtype(v));
		return false;
	}
	*(bool *)((char *)iss + f->off) = json_is_true(v);
	return true;
}

/*
 * Fill iss (key already set) from one OIDCIssuer object.
 */
static bool build_issuer(struct bctx *b, const char *ipath, const json_t *obj,
			 struct cfg_issuer *iss)
{
	const json_t *parts[CFG_N_ISSUER_FIELDS] = {NULL};
	const char *k;
	json_t *v;
	size_t i;

	if (!check_object(b, ipath, obj))
		return false;
	json_object_foreach((json_t *)obj, k, v)
	{
		char *path;
		bool ok;

		if (!sort_member(b, ipath, "key", cfg_issuer_fields, CFG_N_ISSUER_FIELDS, parts, k,
				 v, &i))
			return false;
		if (i == CFG_N_ISSUER_FIELDS)
			continue;
		path = field_path(b, ipath, &cfg_issuer_fields[i]);
		ok = set_issuer_field(b, path, &cfg_issuer_fields[i], v, iss);
		free(path);
		if (!ok)
			return false;
	}
	iss->type = cfg_issuer_type_from_name(iss->type_name);
	return true;
}

/*
 * Build the issuers of one map (OIDCIssuers or MetaIssuers), in file order.
 */
static bool build_issuers(struct bctx *b, const json_t *map, bool meta, struct cfg_issuer **out,
			  size_t *n)
{
	const struct cfg_field *top = &cfg_top_fields[meta ? CFG_TOP_META : CFG_TOP_OIDC];
	const char *k;
	json_t *v;

	if (map == NULL)
		return true;
	if (!check_object(b, cfg_field_name(top, b->yaml), map))
		return false;
	if (json_object_size(map) == 0)
		return true;
	*out = fc_xcalloc(json_object_size(map), sizeof(**out));
	json_object_foreach((json_t *)map, k, v)
	{
		struct cfg_issuer *iss = &(*out)[*n];
		char *ipath;
		bool ok;

		iss->key = fc_xstrdup(k);
		iss->is_meta = meta;
		(*n)++;
		ipath = cfg_issuer_path(iss, b->yaml);
		ok = build_issuer(b, ipath, v, iss);
		free(ipath);
		if (!ok)
			return false;
	}
	return true;
}

static bool all_space(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/*
 * One ExtensionTemplates value (field f, at fpath), added to ci unless it
 * is empty or blank (Fulcio skips those). Issuer and Subject are checked
 * like every template (Fulcio parses every field) but dropped: Fulcio
 * always takes those two from the token.
 */
static bool add_ext(struct bctx *b, const char *fpath, const struct cfg_field *f, const json_t *v,
		    struct cfg_ci_provider *ci)
{
	char *s = NULL;
	bool ok;

	if (!get_str(b, fpath, v, &s))
		return false;
	if (s == NULL || all_space(s)) {
		free(s);
		return true;
	}
	if (strcmp(f->json, "Issuer") == 0 || strcmp(f->json, "Subject") == 0) {
		ok = cfg_template_check(b->name, fpath, s, b->err) == FC_OK;
		if (ok)
			fc_log(LOG_WARNING,
			       "config: %s: %s: ignored: the value always comes from the token",
			       b->name, fpath);
		free(s);
		return ok;
	}
	ci->extension_templates[ci->n_extension_templates].key = fc_xstrdup(f->json);
	ci->extension_templates[ci->n_extension_templates].value = s;
	ci->n_extension_templates++;
	return true;
}

/*
 * ExtensionTemplates: keys normalised to the Go field names, each value as
 * add_ext() keeps it.
 */
static bool build_ext(struct bctx *b, const char *cpath, const json_t *obj,
		      struct cfg_ci_provider *ci)
{
	const json_t *parts[CFG_N_EXT_FIELDS] = {NULL};
	const char *k;
	json_t *v;
	char *path;
	size_t i;
	bool ok = false;

	if (obj == NULL)
		return true;
	path = field_path(b, cpath, &cfg_ci_fields[CFG_CI_EXT]);
	if (!check_object(b, path, obj))
		goto out;
	if (json_object_size(obj) > 0)
		ci->extension_templates = fc_xcalloc(json_object_size(obj), sizeof(struct cfg_kv));
	json_object_foreach((json_t *)obj, k, v)
	{
		char *fpath;
		bool good;

		if (!sort_member(b, path, "extension", cfg_ext_fields, CFG_N_EXT_FIELDS, parts, k,
				 v, &i))
			goto out;
		if (i == CFG_N_EXT_FIELDS)
			continue;
		fpath = field_path(b, path, &cfg_ext_fields[i]);
		good = add_ext(b, fpath, &cfg_ext_fields[i], v, ci);
		free(fpath);
		if (!good)
			goto out;
	}
	ok = true;
out:
	free(path);
	return ok;
}

/*
 * DefaultTemplateValues: a map of claim name to string, in file order.
 */
static bool build_defaults(struct bctx *b, const char *cpath, const json_t *obj,
			   struct cfg_ci_provider *ci)
{
	const char *k;
	json_t *v;
	char *path;
	bool ok = false;

	if (obj == NULL)
		return true;
	path = field_path(b, cpath, &cfg_ci_fields[CFG_CI_DEFAULTS]);
	if (!check_object(b, path, obj))
		goto out;
	if (json_object_size(obj) > 0)
		ci->defaults = fc_xcalloc(json_object_size(obj), sizeof(struct cfg_kv));
	json_object_foreach((json_t *)obj, k, v)
	{
		char *vpath = fc_xasprintf("%s[\"%s\"]", path, k);
		char *s = NULL;
		bool good = get_str(b, vpath, v, &s);

		free(vpath);
		if (!good)
			goto out;
		ci->defaults[ci->n_defaults].key = fc_xstrdup(k);
		ci->defaults[ci->n_defaults].value = s ? s : fc_xstrdup("");
		ci->n_defaults++;
	}
	ok = true;
out:
	free(path);
	return ok;
}

/*
 * One IssuerMetadata entry.
 */
static bool build_ci(struct bctx *b, const char *name, const json_t *obj,
		     struct cfg_ci_provider *ci)
{
	const json_t *parts[CFG_N_CI_FIELDS] = {NULL};
	const char *k;
	json_t *v;
	char *cpath, *path = NULL;
	size_t i;
	bool ok = false;

	ci->name = fc_xstrdup(name);
	cpath = cfg_ci_path(name, b->yaml);
	if (!check_object(b, cpath, obj))
		goto out;
	json_object_foreach((json_t *)obj, k, v)
	{
		if (!sort_member(b, cpath, "key", cfg_ci_fields, CFG_N_CI_FIELDS, parts, k, v, &i))
			goto out;
	}
	if (!build_defaults(b, cpath, parts[CFG_CI_DEFAULTS], ci) ||
	    !build_ext(b, cpath, parts[CFG_CI_EXT], ci))
		goto out;
	if (parts[CFG_CI_SAN] != NULL) {
		path = field_path(b, cpath, &cfg_ci_fields[CFG_CI_SAN]);
		if (!get_str(b, path, parts[CFG_CI_SAN], &ci->san_template))
			goto out;
	}
	ok = true;
out:
	free(path);
	free(cpath);
	return ok;
}

/*
 * CIIssuerMetadata: the providers, in file order.
 */
static bool build_cis(struct bctx *b, const json_t *map, struct cfg_identity *cfg)
{
	const char *k;
	json_t *v;

	if (map == NULL)
		return true;
	if (!check_object(b, cfg_field_name(&cfg_top_fields[CFG_TOP_CI], b->yaml), map))
		return false;
	if (json_object_size(map) > 0)
		cfg->ci = fc_xcalloc(json_object_size(map), sizeof(*cfg->ci));
	json_object_foreach((json_t *)map, k, v)
	{
		cfg->n_ci++;
		if (!build_ci(b, k, v, &cfg->ci[cfg->n_ci - 1]))
			return false;
	}
	return true;
}

/*
 * Build the structs from the JSON-form tree. Returns FC_OK and *out, else
 * FC_ECONFIG with the key path in err.
 */
static enum fc_status build(struct bctx *b, const json_t *root, struct cfg_identity **out)
{
	const json_t *parts[CFG_N_TOP_FIELDS] = {NULL};
	struct cfg_identity *cfg = fc_xcalloc(1, sizeof(*cfg));
	enum fc_status st = FC_ECONFIG;
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(root)) {
		fc_err_set(b->err, FC_ECONFIG, "config: %s: top level must be a mapping", b->name);
		goto out;
	}
	json_object_foreach((json_t *)root, k, v)
	{
		if (!sort_member(b, NULL, "key", cfg_top_fields, CFG_N_TOP_FIELDS, parts, k, v, &i))
			goto out;
	}
	if (!build_issuers(b, parts[CFG_TOP_OIDC], false, &cfg->issuers, &cfg->n_issuers) ||
	    !build_issuers(b, parts[CFG_TOP_META], true, &cfg->meta, &cfg->n_meta) ||
	    !build_cis(b, parts[CFG_TOP_CI], cfg))
		goto out;
	*out = cfg;
	cfg = NULL;
	st = FC_OK;
out:
	cfg_identity_free(cfg);
	return st;
}

static bool starts_like_json(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '{')
			return true;
		if (!isspace((unsigned char)text[i]))
			return false;
	}
	return false;
}

/*
 * Parse and validate a configuration held in memory; `name` (a file name)
 * is used in messages. JSON first (duplicate keys refused), else YAML.
 * Returns FC_OK and *out (free with cfg_identity_free), else FC_ECONFIG
 * with the key path and the problem in err.
 */
enum fc_status cfg_identity_load_mem(const char *text, size_t len, const char *name,
				     struct cfg_identity **out, struct fc_err *err)
{
	struct cfg_identity *cfg = NULL;
	struct bctx b = {.name = name ? name : "(config)", .err = err};
	struct fc_err yerr = {0};
	enum fc_status st = FC_ECONFIG;
	json_error_t jerr;
	json_t *root = NULL;

	if (text == NULL || out == NULL)
		return fc_err_set(err, FC_ECONFIG, "config: %s: no input", b.name);
	if (len > CFG_MAX_FILE_BYTES)
		return fc_err_set(err, FC_ECONFIG, "config: %s: larger than %d bytes", b.name,
				  CFG_MAX_FILE_BYTES);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL && json_error_code(&jerr) == json_error_duplicate_key) {
		/* Go would take the last value; a repeated key is almost
		 * always a mistake, so fulcrum refuses it. */
		fc_err_set(err, FC_ECONFIG, "config: %s: JSON line %d column %d: %s", b.name,
			   jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (root == NULL) {
		if (cfg_yaml_to_json(text, len, b.name, &root, &yerr) != FC_OK) {
			if (starts_like_json(text, len))
				fc_err_set(err, FC_ECONFIG,
					   "config: %s: JSON line %d column %d: %s (as YAML: %s)",
					   b.name, jerr.line, jerr.column, jerr.text, yerr.msg);
			else
				fc_err_set(err, yerr.status, "%s", yerr.msg);
			goto out;
		}
		b.yaml = true;
	}
	if (build(&b, root, &cfg) != FC_OK || cfg_validate(cfg, b.yaml, b.name, err) != FC_OK)
		goto out;
	*out = cfg;
	cfg = NULL;
	st = FC_OK;
out:
	json_decref(root);
	cfg_identity_free(cfg);
	return st;
}

/*
 * Load and validate a configuration file of at most CFG_MAX_FILE_BYTES. If
 * path is Fulcio's default path and does not exist, the same path ending
 * in ".json" instead of ".yaml" is tried (Fulcio's serve.go). Returns
 * FC_OK and *out (free with cfg_identity_free), FC_ENOTFOUND if no file
 * exists (the caller then uses cfg_identity_default, as Fulcio does), else
 * FC_ECONFIG with err set.
 */
enum fc_status cfg_identity_load_file(const char *path, struct cfg_identity **out,
				      struct fc_err *err)
{
	struct fc_err rerr = {0};
	enum fc_status st;
	char *text = NULL, *alt = NULL;
	size_t len = 0;

	if (path == NULL)
		return fc_err_set(err, FC_ECONFIG, "config: no path given");
	st = fc_read_file(path, CFG_MAX_FILE_BYTES, &text, &len, &rerr);
	if (st == FC_ENOTFOUND && strcmp(path, CFG_DEFAULT_PATH) == 0) {
		/* Fulcio: strings.TrimSuffix(cp, ".yaml") + ".json" */
		alt = fc_xasprintf("%.*s.json", (int)(strlen(path) - strlen(".yaml")), path);
		fc_err_clear(&rerr);
		st = fc_read_file(alt, CFG_MAX_FILE_BYTES, &text, &len, &rerr);
		if (st == FC_OK)
			path = alt;
		else if (st == FC_ENOTFOUND) {
			fc_err_clear(&rerr);
			fc_err_set(&rerr, FC_ENOTFOUND, "%s: neither it nor %s exists",
				   CFG_DEFAULT_PATH, alt);
		}
	}
	if (st == FC_ENOTFOUND) {
		fc_err_set(err, FC_ENOTFOUND, "config: %s", rerr.msg);
		goto out;
	}
	if (st != FC_OK) {
		st = fc_err_set(err, FC_ECONFIG, "config: %s", rerr.msg);
		goto out;
	}
	st = cfg_identity_load_mem(text, len, path, out, err);
out:
	free(text);
	free(alt);
	return st;
}
