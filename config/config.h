/*
 * config: Fulcio's identity configuration (OIDCIssuers, MetaIssuers,
 * CIIssuerMetadata), read unchanged from JSON (PascalCase keys) or YAML
 * (kebab-case keys), and validated at load time.
 *
 * The loaded configuration is plain read-only data: other modules read the
 * fields directly. Strings that Fulcio leaves empty are NULL here.
 */
#ifndef FULCRUM_CONFIG_H
#define FULCRUM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* An identity configuration file larger than this is refused. */
#define CFG_MAX_FILE_BYTES (4 * 1024 * 1024)

/* Fulcio's default --config-path. */
#define CFG_DEFAULT_PATH "/etc/fulcio-config/config.yaml"

enum cfg_issuer_type {
	CFG_TYPE_UNKNOWN = 0,
	CFG_TYPE_EMAIL,
	CFG_TYPE_USERNAME,
	CFG_TYPE_URI,
	CFG_TYPE_SPIFFE,
	CFG_TYPE_KUBERNETES,
	CFG_TYPE_GITHUB_WORKFLOW,
	CFG_TYPE_GITLAB_PIPELINE,
	CFG_TYPE_BUILDKITE_JOB,
	CFG_TYPE_CODEFRESH_WORKFLOW,
	CFG_TYPE_CHAINGUARD_IDENTITY,
	CFG_TYPE_CI_PROVIDER,
};

/* One OIDCIssuers or MetaIssuers entry. */
struct cfg_issuer {
	char *key;         /* the map key: issuer URL, or wildcard pattern for meta */
	bool is_meta;      /* from MetaIssuers */
	char *issuer_url;  /* IssuerURL (NULL for meta entries that omit it) */
	char *client_id;   /* ClientID: required `aud` */
	char *type_name;   /* Type, as written */
	enum cfg_issuer_type type;
	char *ci_provider;          /* CIProvider */
	char *issuer_claim;         /* IssuerClaim (JSONPath such as $.a.b) */
	char *subject_domain;       /* SubjectDomain */
	char *spiffe_trust_domain;  /* SPIFFETrustDomain */
	char *challenge_claim;      /* ChallengeClaim as written */
	char *description, *contact, *environment; /* informational */
	char *ca_cert_pem;          /* CACert (PEM text) */
	bool skip_email_verification;
};

struct cfg_kv {
	char *key;
	char *value;
};

/* One CIIssuerMetadata entry. */
struct cfg_ci_provider {
	char *name;
	struct cfg_kv *defaults; /* DefaultTemplateValues */
	size_t n_defaults;
	/* ExtensionTemplates, keys normalised to Fulcio's Go field names
	 * (JSON spelling), e.g. "BuildSignerURI", "GithubWorkflowTrigger". */
	struct cfg_kv *extension_templates;
	size_t n_extension_templates;
	char *san_template; /* SubjectAlternativeNameTemplate */
};

struct cfg_identity {
	struct cfg_issuer *issuers; /* OIDCIssuers, in file order */
	size_t n_issuers;
	struct cfg_issuer *meta;    /* MetaIssuers, in file order */
	size_t n_meta;
	struct cfg_ci_provider *ci; /* CIIssuerMetadata, in file order */
	size_t n_ci;
};

/*
 * Load and validate a configuration file. JSON is tried first, then YAML,
 * as Fulcio does. If path is Fulcio's default path and it does not exist,
 * the same name with ".json" is tried. Returns FC_OK and *out (free with
 * cfg_identity_free), FC_ENOTFOUND if the file does not exist, else
 * FC_ECONFIG with the key path and the problem in err.
 */
enum fc_status cfg_identity_load_file(const char *path, struct cfg_identity **out,
				      struct fc_err *err);

/* The same, from memory; `name` is used in messages. */
enum fc_status cfg_identity_load_mem(const char *text, size_t len, const char *name,
				     struct cfg_identity **out, struct fc_err *err);

/* Fulcio's built-in DefaultConfig (used when no file exists). */
enum fc_status cfg_identity_default(struct cfg_identity **out);

void cfg_identity_free(struct cfg_identity *cfg);

/* CI provider metadata by name, or NULL. */
const struct cfg_ci_provider *cfg_ci_provider_find(const struct cfg_identity *cfg,
						   const char *name);

/* Type from its configuration spelling ("email", "github-workflow", ...);
 * CFG_TYPE_UNKNOWN if not a known type. */
enum cfg_issuer_type cfg_issuer_type_from_name(const char *name);
const char *cfg_issuer_type_name(enum cfg_issuer_type t);

/* The claim advertised for the proof of possession: ChallengeClaim if set,
 * else "email" for email issuers and "sub" for every other type. NULL for
 * an unknown type without ChallengeClaim. */
const char *cfg_issuer_challenge_claim(const struct cfg_issuer *iss);

/*
 * SPIFFE names as go-spiffe v2 reads them. cfg_spiffe_id_parse is
 * spiffeid.FromString ("spiffe://<trust domain>[/<segment>...]");
 * cfg_spiffe_trust_domain_parse is spiffeid.TrustDomainFromString (a trust
 * domain name, or a SPIFFE ID whose trust domain is taken), as
 * SPIFFETrustDomain is read. Both return true and, if td is not NULL, *td =
 * the trust domain name (caller frees); false if s does not parse.
 */
bool cfg_spiffe_id_parse(const char *s, char **td);
bool cfg_spiffe_trust_domain_parse(const char *s, char **td);

/*
 * The subset of Go's text/template that Fulcio's CI-provider templates use:
 * literal text, {{ .name }}, {{ index . "name" }}, and
 * {{ if eq <arg> <arg> }} ... {{ else }} ... {{ end }} (also `if .name`,
 * `else if`, `ne`), with Go's trimming markers {{- and -}}. A missing name is
 * an error, as with Go's missingkey=error.
 */
struct cfg_template;

/* Parse a template; on a syntax error FC_ECONFIG with the position in err. */
enum fc_status cfg_template_parse(const char *text, struct cfg_template **out, struct fc_err *err);
void cfg_template_free(struct cfg_template *t);

/* Render with a lookup function that returns the value of a name, or NULL
 * if the name is not set. *out is NUL-terminated, caller frees. FC_EINPUT
 * (with the missing name in err) if the template needs an unset name. */
enum fc_status cfg_template_render(const struct cfg_template *t,
				   const char *(*lookup)(void *ctx, const char *name), void *ctx,
				   char **out, struct fc_err *err);

#endif /* FULCRUM_CONFIG_H */
