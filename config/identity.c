/*
 * config: loading Fulcio's identity configuration (pkg/config/config.go
 * Load/Read/parseConfig) into struct cfg_identity.
 *
 * JSON is tried first, then YAML, as Fulcio does. Both forms become one
 * jansson tree with the JSON (PascalCase) key names; the structs are built
 * from that tree with a type check on every field, then validated.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

#define ISS_STR(json, yaml, member) \
	{ json, yaml, offsetof(struct cfg_issuer, member), CFG_FIELD_STR }

const struct cfg_field cfg_top_fields[] = {
	[CFG_TOP_OIDC] = { "OIDCIssuers", "oidc-issuers", 0, CFG_FIELD_STR },
	[CFG_TOP_META] = { "MetaIssuers", "meta-issuers", 0, CFG_FIELD_STR },
	[CFG_TOP_CI] = { "CIIssuerMetadata", "ci-issuer-metadata", 0, CFG_FIELD_STR },
};
const size_t cfg_n_top_fields = sizeof(cfg_top_fields) / sizeof(cfg_top_fields[0]);

/* OIDCIssuer's json and yaml tags. */
const struct cfg_field cfg_issuer_fields[] = {
	ISS_STR("IssuerURL", "issuer-url", issuer_url),
	ISS_STR("ClientID", "client-id", client_id),
	ISS_STR("Type", "type", type_name),
	ISS_STR("CIProvider", "ci-provider", ci_provider),
	ISS_STR("IssuerClaim", "issuer-claim", issuer_claim),
	ISS_STR("SubjectDomain", "subject-domain", subject_domain),
	ISS_STR("SPIFFETrustDomain", "spiffe-trust-domain", spiffe_trust_domain),
	ISS_STR("ChallengeClaim", "challenge-claim", challenge_claim),
	ISS_STR("Description", "description", description),
	ISS_STR("Contact", "contact", contact),
	ISS_STR("Environment", "environment", environment),
	ISS_STR("CACert", "ca-cert", ca_cert_pem),
	{ "SkipEmailVerification", "skip-email-verification",
	  offsetof(struct cfg_issuer, skip_email_verification), CFG_FIELD_BOOL },
};
const size_t cfg_n_issuer_fields = sizeof(cfg_issuer_fields) / sizeof(cfg_issuer_fields[0]);

/* IssuerMetadata's json and yaml tags. */
const struct cfg_field cfg_ci_fields[] = {
	[CFG_CI_DEFAULTS] = { "DefaultTemplateValues", "default-template-values", 0,
			      CFG_FIELD_STR },
	[CFG_CI_EXT] = { "ExtensionTemplates", "extension-templates", 0, CFG_FIELD_STR },
	[CFG_CI_SAN] = { "SubjectAlternativeNameTemplate", "subject-alternative-name-template",
			 0, CFG_FIELD_STR },
};
const size_t cfg_n_ci_fields = sizeof(cfg_ci_fields) / sizeof(cfg_ci_fields[0]);

/* Every field of certificate.Extensions (pkg/certificate/extensions.go).
 * `Issuer` has no tags, so yaml.v3 spells it in lower case. */
const struct cfg_field cfg_ext_fields[] = {
	{ "Issuer", "issuer", 0, CFG_FIELD_STR },
	{ "GithubWorkflowTrigger", "github-workflow-trigger", 0, CFG_FIELD_STR },
	{ "GithubWorkflowSHA", "github-workflow-sha", 0, CFG_FIELD_STR },
	{ "GithubWorkflowName", "github-workflow-name", 0, CFG_FIELD_STR },
	{ "GithubWorkflowRepository", "github-workflow-repository", 0, CFG_FIELD_STR },
	{ "GithubWorkflowRef", "github-workflow-ref", 0, CFG_FIELD_STR },
	{ "BuildSignerURI", "build-signer-uri", 0, CFG_FIELD_STR },
	{ "BuildSignerDigest", "build-signer-digest", 0, CFG_FIELD_STR },
	{ "RunnerEnvironment", "runner-environment", 0, CFG_FIELD_STR },
	{ "SourceRepositoryURI", "source-repository-uri", 0, CFG_FIELD_STR },
	{ "SourceRepositoryDigest", "source-repository-digest", 0, CFG_FIELD_STR },
	{ "SourceRepositoryRef", "source-repository-ref", 0, CFG_FIELD_STR },
	{ "SourceRepositoryIdentifier", "source-repository-identifier", 0, CFG_FIELD_STR },
	{ "SourceRepositoryOwnerURI", "source-repository-owner-uri", 0, CFG_FIELD_STR },
	{ "SourceRepositoryOwnerIdentifier", "source-repository-owner-identifier", 0,
	  CFG_FIELD_STR },
	{ "BuildConfigURI", "build-config-uri", 0, CFG_FIELD_STR },
	{ "BuildConfigDigest", "build-config-digest", 0, CFG_FIELD_STR },
	{ "BuildTrigger", "build-trigger", 0, CFG_FIELD_STR },
	{ "RunInvocationURI", "run-invocation-uri", 0, CFG_FIELD_STR },
	{ "SourceRepositoryVisibilityAtSigning", "source-repository-visibility-at-signing", 0,
	  CFG_FIELD_STR },
	{ "DeploymentEnvironment", "deployment-environment", 0, CFG_FIELD_STR },
	{ "Subject", "subject", 0, CFG_FIELD_STR },
};
const size_t cfg_n_ext_fields = sizeof(cfg_ext_fields) / sizeof(cfg_ext_fields[0]);

static const char *const type_names[] = {
	[CFG_TYPE_UNKNOWN] = NULL,
	[CFG_TYPE_EMAIL] = "email",
	[CFG_TYPE_USERNAME] = "username",
	[CFG_TYPE_URI] = "uri",
	[CFG_TYPE_SPIFFE] = "spiffe",
	[CFG_TYPE_KUBERNETES] = "kubernetes",
	[CFG_TYPE_GITHUB_WORKFLOW] = "github-workflow",
	[CFG_TYPE_GITLAB_PIPELINE] = "gitlab-pipeline",
	[CFG_TYPE_BUILDKITE_JOB] = "buildkite-job",
	[CFG_TYPE_CODEFRESH_WORKFLOW] = "codefresh-workflow",
	[CFG_TYPE_CHAINGUARD_IDENTITY] = "chainguard-identity",
	[CFG_TYPE_CI_PROVIDER] = "ci-provider",
};
#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

/* What the builder needs to say where a problem is. */
struct bctx {
	const char *name; /* file name for messages */
	bool yaml;        /* spell keys as in YAML */
	struct fc_err *err;
};

/*
 * Type from its configuration spelling (Fulcio's IssuerType constants);
 * CFG_TYPE_UNKNOWN for NULL or anything else.
 */
enum cfg_issuer_type cfg_issuer_type_from_name(const char *name)
{
	if (name == NULL)
		return CFG_TYPE_UNKNOWN;
	for (size_t i = 1; i < N_TYPES; i++)
		if (strcmp(type_names[i], name) == 0)
			return (enum cfg_issuer_type)i;
	return CFG_TYPE_UNKNOWN;
}

/*
 * Configuration spelling of a type; NULL for CFG_TYPE_UNKNOWN.
 */
const char *cfg_issuer_type_name(enum cfg_issuer_type t)
{
	if ((size_t)t >= N_TYPES)
		return NULL;
	return type_names[t];
}

/*
 * The claim advertised for the proof of possession (Fulcio's
 * issuerToChallengeClaim): ChallengeClaim if set, "email" for email
 * issuers, "sub" for every other known type, NULL for an unknown type.
 * The result points into iss or is static.
 */
const char *cfg_issuer_challenge_claim(const struct cfg_issuer *iss)
{
	if (iss == NULL)
		return NULL;
	if (iss->challenge_claim != NULL && iss->challenge_claim[0] != '\0')
		return iss->challenge_claim;
	if (iss->type == CFG_TYPE_EMAIL)
		return "email";
	if (iss->type == CFG_TYPE_UNKNOWN)
		return NULL;
	return "sub";
}

/*
 * CI provider metadata by name, or NULL (also for NULL arguments).
 */
const struct cfg_ci_provider *cfg_ci_provider_find(const struct cfg_identity *cfg,
						   const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_ci; i++)
		if (strcmp(cfg->ci[i].name, name) == 0)
			return &cfg->ci[i];
	return NULL;
}

/*
 * The key path of an issuer for messages, e.g. `OIDCIssuers["https://x"]`
 * or, for YAML files, `meta-issuers["https://oidc.eks.*.amazonaws.com"]`. Caller frees.
 */
char *cfg_issuer_path(const struct cfg_issuer *iss, bool yaml)
{
	const struct cfg_field *f = &cfg_top_fields[iss->is_meta ? CFG_TOP_META : CFG_TOP_OIDC];
	return fc_xasprintf("%s[\"%s\"]", cfg_field_name(f, yaml), iss->key);
}

static void free_kvs(struct cfg_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void issuer_clear(struct cfg_issuer *iss)
{
	free(iss->key);
	for (size_t i = 0; i < cfg_n_issuer_fields; i++)
		if (cfg_issuer_fields[i].kind == CFG_FIELD_STR)
			free(*(char **)((char *)iss + cfg_issuer_fields[i].off));
}

/*
 * Free a configuration and everything it owns. NULL is fine.
 */
void cfg_identity_free(struct cfg_identity *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_issuers; i++)
		issuer_clear(&cfg->issuers[i]);
	free(cfg->issuers);
	for (size_t i = 0; i < cfg->n_meta; i++)
		issuer_clear(&cfg->meta[i]);
	free(cfg->meta);
	for (size_t i = 0; i < cfg->n_ci; i++) {
		free(cfg->ci[i].name);
		free_kvs(cfg->ci[i].defaults, cfg->ci[i].n_defaults);
		free_kvs(cfg->ci[i].extension_templates, cfg->ci[i].n_extension_templates);
		free(cfg->ci[i].san_template);
	}
	free(cfg->ci);
	free(cfg);
}

/*
 * The field named by key in the JSON-form tree: exact match, else (JSON
 * files only) a case-insensitive one, as Go's encoding/json accepts. The
 * YAML converter has already spelled every key it kept exactly. Returns
 * the index, or n if none.
 */
static size_t find_field(const struct cfg_field *fields, size_t n, const char *key, bool yaml)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].json, key) == 0)
			return i;
	if (yaml)
		return n;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(fields[i].json, key) == 0)
			return i;
	return n;
}

/*
 * A JSON type's name for "must be a string, not an array" messages.
 */
static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
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
 * Fill iss (key already set) from one OIDCIssuer object.
 */
static bool build_issuer(struct bctx *b, const char *ipath, const json_t *obj,
			 struct cfg_issuer *iss)
{
	bool seen[sizeof(cfg_issuer_fields) / sizeof(cfg_issuer_fields[0])] = { false };
	const char *k;
	json_t *v;
	char *path = NULL;
	bool ok = false;

	if (!check_object(b, ipath, obj))
		return false;
	json_object_foreach((json_t *)obj, k, v) {
		size_t i = find_field(cfg_issuer_fields, cfg_n_issuer_fields, k, b->yaml);
		const struct cfg_field *f = &cfg_issuer_fields[i];

		if (i == cfg_n_issuer_fields) {
			fc_log(LOG_DEBUG, "config: %s: %s: ignoring unknown key \"%s\"", b->name,
			       ipath, k);
			continue;
		}
		free(path);
		path = fc_xasprintf("%s.%s", ipath, cfg_field_name(f, b->yaml));
		if (seen[i]) {
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: given twice (as \"%s\")",
				   b->name, path, k);
			goto out;
		}
		seen[i] = true;
		if (f->kind == CFG_FIELD_BOOL) {
			if (!json_is_boolean(v) && !json_is_null(v)) {
				fc_err_set(b->err, FC_ECONFIG,
					   "config: %s: %s: must be true or false, not %s", b->name,
					   path, jtype(v));
				goto out;
			}
			*(bool *)((char *)iss + f->off) = json_is_true(v);
		} else if (!get_str(b, path, v, (char **)((char *)iss + f->off))) {
			goto out;
		}
	}
	iss->type = cfg_issuer_type_from_name(iss->type_name);
	ok = true;
out:
	free(path);
	return ok;
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
	json_object_foreach((json_t *)map, k, v) {
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
 * ExtensionTemplates: keys normalised to the Go field names. Empty and
 * blank templates are left out (Fulcio skips them). Issuer and Subject are
 * checked like every template (Fulcio parses every field) but dropped:
 * Fulcio always takes those two from the token.
 */
static bool build_ext(struct bctx *b, const char *cpath, const json_t *obj,
		      struct cfg_ci_provider *ci)
{
	bool seen[sizeof(cfg_ext_fields) / sizeof(cfg_ext_fields[0])] = { false };
	const char *k;
	json_t *v;
	char *path = NULL, *s = NULL;
	bool ok = false;

	if (obj == NULL)
		return true;
	path = fc_xasprintf("%s.%s", cpath, cfg_field_name(&cfg_ci_fields[CFG_CI_EXT], b->yaml));
	if (!check_object(b, path, obj))
		goto out;
	if (json_object_size(obj) > 0)
		ci->extension_templates = fc_xcalloc(json_object_size(obj), sizeof(struct cfg_kv));
	json_object_foreach((json_t *)obj, k, v) {
		size_t i = find_field(cfg_ext_fields, cfg_n_ext_fields, k, b->yaml);
		const struct cfg_field *f = &cfg_ext_fields[i];
		char *fpath;

		if (i == cfg_n_ext_fields) {
			fc_log(LOG_DEBUG, "config: %s: %s: ignoring unknown extension \"%s\"",
			       b->name, path, k);
			continue;
		}
		fpath = fc_xasprintf("%s.%s", path, cfg_field_name(f, b->yaml));
		if (seen[i]) {
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: given twice (as \"%s\")",
				   b->name, fpath, k);
			free(fpath);
			goto out;
		}
		seen[i] = true;
		if (!get_str(b, fpath, v, &s)) {
			free(fpath);
			goto out;
		}
		if (s == NULL || all_space(s)) {
			free(fpath);
			free(s);
			s = NULL;
			continue;
		}
		if (strcmp(f->json, "Issuer") == 0 || strcmp(f->json, "Subject") == 0) {
			struct cfg_template *t = NULL;
			struct fc_err terr = { 0 };

			if (cfg_template_parse(s, &t, &terr) != FC_OK) {
				fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: %s", b->name, fpath,
					   terr.msg);
				free(fpath);
				goto out;
			}
			cfg_template_free(t);
			fc_log(LOG_WARNING,
			       "config: %s: %s: ignored: the value always comes from the token",
			       b->name, fpath);
			free(fpath);
			free(s);
			s = NULL;
			continue;
		}
		free(fpath);
		ci->extension_templates[ci->n_extension_templates].key = fc_xstrdup(f->json);
		ci->extension_templates[ci->n_extension_templates].value = s;
		ci->n_extension_templates++;
		s = NULL;
	}
	ok = true;
out:
	free(s);
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
	path = fc_xasprintf("%s.%s", cpath,
			    cfg_field_name(&cfg_ci_fields[CFG_CI_DEFAULTS], b->yaml));
	if (!check_object(b, path, obj))
		goto out;
	if (json_object_size(obj) > 0)
		ci->defaults = fc_xcalloc(json_object_size(obj), sizeof(struct cfg_kv));
	json_object_foreach((json_t *)obj, k, v) {
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
	const json_t *parts[sizeof(cfg_ci_fields) / sizeof(cfg_ci_fields[0])] = { NULL };
	const char *k;
	json_t *v;
	char *cpath, *path = NULL;
	bool ok = false;

	ci->name = fc_xstrdup(name);
	cpath = fc_xasprintf("%s[\"%s\"]", cfg_field_name(&cfg_top_fields[CFG_TOP_CI], b->yaml),
			     name);
	if (!check_object(b, cpath, obj))
		goto out;
	json_object_foreach((json_t *)obj, k, v) {
		size_t i = find_field(cfg_ci_fields, cfg_n_ci_fields, k, b->yaml);

		if (i == cfg_n_ci_fields) {
			fc_log(LOG_DEBUG, "config: %s: %s: ignoring unknown key \"%s\"", b->name,
			       cpath, k);
			continue;
		}
		if (parts[i] != NULL) {
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s.%s: given twice (as \"%s\")",
				   b->name, cpath, cfg_field_name(&cfg_ci_fields[i], b->yaml), k);
			goto out;
		}
		parts[i] = v;
	}
	if (!build_defaults(b, cpath, parts[CFG_CI_DEFAULTS], ci) ||
	    !build_ext(b, cpath, parts[CFG_CI_EXT], ci))
		goto out;
	if (parts[CFG_CI_SAN] != NULL) {
		path = fc_xasprintf("%s.%s", cpath,
				    cfg_field_name(&cfg_ci_fields[CFG_CI_SAN], b->yaml));
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
 * Build the structs from the JSON-form tree. Returns FC_OK and *out, else
 * FC_ECONFIG with the key path in err.
 */
static enum fc_status build(struct bctx *b, const json_t *root, struct cfg_identity **out)
{
	const json_t *parts[sizeof(cfg_top_fields) / sizeof(cfg_top_fields[0])] = { NULL };
	struct cfg_identity *cfg = fc_xcalloc(1, sizeof(*cfg));
	enum fc_status st = FC_ECONFIG;
	const char *k;
	json_t *v;

	if (!json_is_object(root)) {
		fc_err_set(b->err, FC_ECONFIG, "config: %s: top level must be a mapping", b->name);
		goto out;
	}
	json_object_foreach((json_t *)root, k, v) {
		size_t i = find_field(cfg_top_fields, cfg_n_top_fields, k, b->yaml);

		if (i == cfg_n_top_fields) {
			fc_log(LOG_DEBUG, "config: %s: ignoring unknown key \"%s\"", b->name, k);
			continue;
		}
		if (parts[i] != NULL) {
			fc_err_set(b->err, FC_ECONFIG, "config: %s: %s: given twice (as \"%s\")",
				   b->name, cfg_field_name(&cfg_top_fields[i], b->yaml), k);
			goto out;
		}
		parts[i] = v;
	}
	if (!build_issuers(b, parts[CFG_TOP_OIDC], false, &cfg->issuers, &cfg->n_issuers) ||
	    !build_issuers(b, parts[CFG_TOP_META], true, &cfg->meta, &cfg->n_meta))
		goto out;
	if (parts[CFG_TOP_CI] != NULL) {
		const json_t *ci = parts[CFG_TOP_CI];

		if (!check_object(b, cfg_field_name(&cfg_top_fields[CFG_TOP_CI], b->yaml), ci))
			goto out;
		if (json_object_size(ci) > 0)
			cfg->ci = fc_xcalloc(json_object_size(ci), sizeof(*cfg->ci));
		json_object_foreach((json_t *)ci, k, v) {
			cfg->n_ci++;
			if (!build_ci(b, k, v, &cfg->ci[cfg->n_ci - 1]))
				goto out;
		}
	}
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
	struct bctx b = { .name = name ? name : "(config)", .err = err };
	struct fc_err yerr = { 0 };
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
 * path is Fulcio's default path and does not exist, the same name with
 * ".json" is tried (Fulcio's serve.go). Returns FC_OK and *out (free with
 * cfg_identity_free), FC_ENOTFOUND if no file exists (the caller then uses
 * cfg_identity_default, as Fulcio does), else FC_ECONFIG with err set.
 */
enum fc_status cfg_identity_load_file(const char *path, struct cfg_identity **out,
				      struct fc_err *err)
{
	struct fc_err rerr = { 0 };
	enum fc_status st;
	char *text = NULL, *alt = NULL;
	size_t len = 0;

	if (path == NULL)
		return fc_err_set(err, FC_ECONFIG, "config: no path given");
	st = fc_read_file(path, CFG_MAX_FILE_BYTES, &text, &len, &rerr);
	if (st == FC_ENOTFOUND && strcmp(path, CFG_DEFAULT_PATH) == 0) {
		alt = fc_xasprintf("%s.json", path);
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
