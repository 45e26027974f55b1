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
	char *key;	  /* the map key: issuer URL, or wildcard pattern for meta */
	bool is_meta;	  /* from MetaIssuers */
	char *issuer_url; /* IssuerURL (NULL for meta entries that omit it) */
	char *client_id;  /* ClientID: required `aud` */
	char *type_name;  /* Type, as written */
	enum cfg_issuer_type type;
	char *ci_provider;			   /* CIProvider */
	char *issuer_claim;			   /* IssuerClaim (JSONPath such as $.a.b) */
	char *subject_domain;			   /* SubjectDomain */
	char *spiffe_trust_domain;		   /* SPIFFETrustDomain */
	char *challenge_claim;			   /* ChallengeClaim as written */
	char *description, *contact, *environment; /* informational */
	char *ca_cert_pem;			   /* CACert (PEM text) */
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
	struct cfg_issuer *meta; /* MetaIssuers, in file order */
	size_t n_meta;
	struct cfg_ci_provider *ci; /* CIIssuerMetadata, in file order */
	size_t n_ci;
};

/*
 * Load and validate a configuration file. JSON is tried first, then YAML,
 * as Fulcio does. If path is Fulcio's default path and it does not exist,
 * the same path ending in ".json" instead of ".yaml" is tried. Returns
 * FC_OK and *out (free with cfg_identity_free), FC_ENOTFOUND if the file
 * does not exist, else FC_ECONFIG with the key path and the problem in err.
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
 * Claim templates: Go's text/template as Fulcio runs the CIIssuerMetadata
 * values that contain "{{" (template.New("").Option("missingkey=error"),
 * executed over a map[string]string of the token's claims merged over
 * DefaultTemplateValues). Everything text/template accepts is accepted,
 * with Go's output and Go's errors (a parse error at load time, an
 * execution error when rendering), except complex constants, which are
 * refused at parse time. docs/identity-and-api.md lists the differences.
 */
struct cfg_template;

/* Hard limits (Go has none of these but the depth of {{template}} calls). */
#define CFG_TEMPLATE_MAX_LEN (64 * 1024)	/* template text, bytes */
#define CFG_TEMPLATE_MAX_DEPTH 100		/* nesting of controls and ( ) */
#define CFG_TEMPLATE_MAX_OUT (256 * 1024)	/* rendered output, bytes */
#define CFG_TEMPLATE_MAX_MEM (16 * 1024 * 1024) /* values made while rendering */
#define CFG_TEMPLATE_MAX_EXEC_DEPTH 400		/* nested evaluation and calls */
#define CFG_TEMPLATE_MAX_WORK (1000 * 1000)	/* steps and bytes/64 handled */

/* Parse a template; on a syntax error FC_ECONFIG with the position in err. */
enum fc_status cfg_template_parse(const char *text, struct cfg_template **out, struct fc_err *err);
void cfg_template_free(struct cfg_template *t);

/* Render over the data given as key/value pairs (a key given twice: the
 * first wins, so claims listed before defaults take precedence). *out is
 * NUL-terminated, caller frees. FC_EINPUT with the reason in err when Go
 * would fail to execute the template (e.g. a missing key with .name), when
 * a limit is passed, or when the output would contain a NUL byte. */
enum fc_status cfg_template_render_kv(const struct cfg_template *t, const struct cfg_kv *kv,
				      size_t n, char **out, struct fc_err *err);

/* The same with a lookup function that returns the value of a name, or
 * NULL if the name is not set. Templates that need every key (range over
 * the map, len of it, printing it, its truth value) fail with FC_EINPUT. */
enum fc_status cfg_template_render(const struct cfg_template *t,
				   const char *(*lookup)(void *ctx, const char *name), void *ctx,
				   char **out, struct fc_err *err);

#endif /* FULCRUM_CONFIG_H */
