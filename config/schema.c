/*
 * config: the data model every other file of this module works on, and the
 * place to start reading. The key tables of Fulcio's Go structs
 * (pkg/config/config.go FulcioConfig, OIDCIssuer, IssuerMetadata and
 * pkg/certificate/extensions.go Extensions) with their JSON and YAML
 * spellings, the identity type names, lookups on a loaded configuration,
 * the key paths used in messages, and the destructor.
 *
 * Within config/ the calls point one way: identity.c (loading) uses
 * yaml.c, validate.c and this file; validate.c uses template.c, spiffe.c
 * and this file; yaml.c and defaults.c use this file only; template.c,
 * spiffe.c and this file use nothing else in the module.
 */
#include <stddef.h>
#include <string.h>

#include "config_int.h"

#define ISS_STR(json, yaml, member)                                                                \
	{                                                                                          \
		json, yaml, offsetof(struct cfg_issuer, member), CFG_FIELD_STR                     \
	}

const struct cfg_field cfg_top_fields[] = {
	[CFG_TOP_OIDC] = {"OIDCIssuers", "oidc-issuers", 0, CFG_FIELD_STR},
	[CFG_TOP_META] = {"MetaIssuers", "meta-issuers", 0, CFG_FIELD_STR},
	[CFG_TOP_CI] = {"CIIssuerMetadata", "ci-issuer-metadata", 0, CFG_FIELD_STR},
};

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
	{"SkipEmailVerification", "skip-email-verification",
	 offsetof(struct cfg_issuer, skip_email_verification), CFG_FIELD_BOOL},
};

/* IssuerMetadata's json and yaml tags. */
const struct cfg_field cfg_ci_fields[] = {
	[CFG_CI_DEFAULTS] = {"DefaultTemplateValues", "default-template-values", 0, CFG_FIELD_STR},
	[CFG_CI_EXT] = {"ExtensionTemplates", "extension-templates", 0, CFG_FIELD_STR},
	[CFG_CI_SAN] = {"SubjectAlternativeNameTemplate", "subject-alternative-name-template", 0,
			CFG_FIELD_STR},
};

/* Every field of certificate.Extensions (pkg/certificate/extensions.go).
 * `Issuer` has no tags, so yaml.v3 spells it in lower case. */
const struct cfg_field cfg_ext_fields[] = {
	{"Issuer", "issuer", 0, CFG_FIELD_STR},
	{"GithubWorkflowTrigger", "github-workflow-trigger", 0, CFG_FIELD_STR},
	{"GithubWorkflowSHA", "github-workflow-sha", 0, CFG_FIELD_STR},
	{"GithubWorkflowName", "github-workflow-name", 0, CFG_FIELD_STR},
	{"GithubWorkflowRepository", "github-workflow-repository", 0, CFG_FIELD_STR},
	{"GithubWorkflowRef", "github-workflow-ref", 0, CFG_FIELD_STR},
	{"BuildSignerURI", "build-signer-uri", 0, CFG_FIELD_STR},
	{"BuildSignerDigest", "build-signer-digest", 0, CFG_FIELD_STR},
	{"RunnerEnvironment", "runner-environment", 0, CFG_FIELD_STR},
	{"SourceRepositoryURI", "source-repository-uri", 0, CFG_FIELD_STR},
	{"SourceRepositoryDigest", "source-repository-digest", 0, CFG_FIELD_STR},
	{"SourceRepositoryRef", "source-repository-ref", 0, CFG_FIELD_STR},
	{"SourceRepositoryIdentifier", "source-repository-identifier", 0, CFG_FIELD_STR},
	{"SourceRepositoryOwnerURI", "source-repository-owner-uri", 0, CFG_FIELD_STR},
	{"SourceRepositoryOwnerIdentifier", "source-repository-owner-identifier", 0, CFG_FIELD_STR},
	{"BuildConfigURI", "build-config-uri", 0, CFG_FIELD_STR},
	{"BuildConfigDigest", "build-config-digest", 0, CFG_FIELD_STR},
	{"BuildTrigger", "build-trigger", 0, CFG_FIELD_STR},
	{"RunInvocationURI", "run-invocation-uri", 0, CFG_FIELD_STR},
	{"SourceRepositoryVisibilityAtSigning", "source-repository-visibility-at-signing", 0,
	 CFG_FIELD_STR},
	{"DeploymentEnvironment", "deployment-environment", 0, CFG_FIELD_STR},
	{"Subject", "subject", 0, CFG_FIELD_STR},
};

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

/*
 * The index of the field spelled exactly `key` in JSON (by_yaml false) or
 * in YAML (by_yaml true) among fields[0..n), or n if none.
 */
size_t cfg_field_find(const struct cfg_field *fields, size_t n, const char *key, bool by_yaml)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cfg_field_name(&fields[i], by_yaml), key) == 0)
			return i;
	return n;
}

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
const struct cfg_ci_provider *cfg_ci_provider_find(const struct cfg_identity *cfg, const char *name)
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

/*
 * The key path of a CI provider for messages, e.g.
 * `CIIssuerMetadata["GitHubWorkflow"]` or, for YAML files,
 * `ci-issuer-metadata["GitHubWorkflow"]`. Caller frees.
 */
char *cfg_ci_path(const char *name, bool yaml)
{
	return fc_xasprintf("%s[\"%s\"]", cfg_field_name(&cfg_top_fields[CFG_TOP_CI], yaml), name);
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
	for (size_t i = 0; i < CFG_N_ISSUER_FIELDS; i++)
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
