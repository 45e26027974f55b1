/*
 * config: internals shared by the files of this module only. Sections
 * follow the files from the bottom (schema.c, which uses no other file of
 * the module) up; identity.c, the loader, is on top and declared in
 * config.h.
 */
#ifndef FULCRUM_CONFIG_INT_H
#define FULCRUM_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"

/* Limits on what a YAML document may expand to once aliases are resolved
 * (an alias bomb is a few lines of text and billions of nodes). */
#define CFG_YAML_MAX_DEPTH 64
#define CFG_YAML_MAX_NODES 200000

/* How a field is stored in its struct. */
enum cfg_field_kind {
	CFG_FIELD_STR,	/* char * */
	CFG_FIELD_BOOL, /* bool */
};

/* One known key: Fulcio's JSON spelling (the Go field or json tag), its YAML
 * spelling (yaml tag) and, for issuer fields, where it lives in struct
 * cfg_issuer. */
struct cfg_field {
	const char *json;
	const char *yaml;
	size_t off;
	enum cfg_field_kind kind;
};

/* --- schema.c: the data model (the bottom of this module) ----------------- */

/* Indexes into cfg_top_fields / cfg_ci_fields, and the sizes of all four. */
enum { CFG_TOP_OIDC = 0, CFG_TOP_META = 1, CFG_TOP_CI = 2, CFG_N_TOP_FIELDS };
enum { CFG_CI_DEFAULTS = 0, CFG_CI_EXT = 1, CFG_CI_SAN = 2, CFG_N_CI_FIELDS };
#define CFG_N_ISSUER_FIELDS 13
#define CFG_N_EXT_FIELDS 22

/* Top level (FulcioConfig), per issuer (OIDCIssuer), per CI provider
 * (IssuerMetadata) and per extension template (certificate.Extensions). */
extern const struct cfg_field cfg_top_fields[CFG_N_TOP_FIELDS];
extern const struct cfg_field cfg_issuer_fields[CFG_N_ISSUER_FIELDS];
extern const struct cfg_field cfg_ci_fields[CFG_N_CI_FIELDS];
extern const struct cfg_field cfg_ext_fields[CFG_N_EXT_FIELDS];

/* Spelling of a key in messages: YAML files are told about in YAML names. */
static inline const char *cfg_field_name(const struct cfg_field *f, bool yaml)
{
	return yaml ? f->yaml : f->json;
}

/* Index of the field spelled exactly `key` in JSON (by_yaml false) or in
 * YAML among fields[0..n), or n. */
size_t cfg_field_find(const struct cfg_field *fields, size_t n, const char *key, bool by_yaml);

/* `OIDCIssuers["key"]` or `meta-issuers["key"]` (caller frees). */
char *cfg_issuer_path(const struct cfg_issuer *iss, bool yaml);

/* `CIIssuerMetadata["name"]` or `ci-issuer-metadata["name"]` (caller frees). */
char *cfg_ci_path(const char *name, bool yaml);

/* --- yaml.c: the YAML form ---------------------------------------------------- */

/* Parse one YAML document and convert it to the JSON tree Fulcio's JSON
 * form would give (PascalCase keys; issuer URLs, provider names and claim
 * names untouched). Unknown keys are dropped (logged at LOG_DEBUG).
 * Returns FC_OK and *out (json_decref), else FC_ECONFIG with err set. */
enum fc_status cfg_yaml_to_json(const char *text, size_t len, const char *name, json_t **out,
				struct fc_err *err);

/* --- validate.c: checks at load time ------------------------------------------ */

/* Fulcio's validateConfig plus fulcrum's own checks. `yaml` selects the key
 * spelling used in messages. FC_OK or FC_ECONFIG. */
enum fc_status cfg_validate(const struct cfg_identity *cfg, bool yaml, const char *name,
			    struct fc_err *err);

/* FC_OK if text (NULL: nothing to check) parses as a template, else
 * FC_ECONFIG with the file name `name` and the key path in err. */
enum fc_status cfg_template_check(const char *name, const char *path, const char *text,
				  struct fc_err *err);

#endif /* FULCRUM_CONFIG_INT_H */
