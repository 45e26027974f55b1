/*
 * principal_fuzz: verified claims to a principal (oidc_principal_build),
 * for every identity type: email (plain, with IssuerClaim, with
 * SkipEmailVerification), username, uri, spiffe, kubernetes, the built-in
 * CI types, chainguard-identity, and ci-provider with Fulcio's GitHub,
 * GitLab and CircleCI templates and one exercising the whole template
 * subset; meta issuers when the token's iss matches their pattern. This is
 * where claim values reach URL parsing, escaping and template rendering.
 *
 * The input is the claims object as JSON, parsed as verify.c does
 * (duplicate keys refused). Seeds: tests/data/oidc/principal and
 * fuzz/corpus/principal.
 */
#include <string.h>

#include "fuzz.h"
#include "oidc_int.h"

/* One issuer of every type (also fuzz/corpus/config/principal-fuzz.json). */
static const char CONFIG[] =
	"{\"OIDCIssuers\": {\n"
	"  \"https://email.example.com\": {\"IssuerURL\": \"https://email.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"email\"},\n"
	"  \"https://dex.example.com\": {\"IssuerURL\": \"https://dex.example.com\", \"ClientID\": "
	"\"sigstore\", \"Type\": \"email\", \"IssuerClaim\": "
	"\"$.federated_claims.connector_id\"},\n"
	"  \"https://skip.example.com\": {\"IssuerURL\": \"https://skip.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"email\", \"SkipEmailVerification\": true, "
	"\"ChallengeClaim\": \"upn\"},\n"
	"  \"https://username.example.com\": {\"IssuerURL\": \"https://username.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"username\", \"SubjectDomain\": \"example.com\"},\n"
	"  \"https://uri.example.com\": {\"IssuerURL\": \"https://uri.example.com\", \"ClientID\": "
	"\"sigstore\", \"Type\": \"uri\", \"SubjectDomain\": \"https://example.com\"},\n"
	"  \"https://spiffe.example.com\": {\"IssuerURL\": \"https://spiffe.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"spiffe\", \"SPIFFETrustDomain\": "
	"\"example.org\"},\n"
	"  \"https://k8s.example.com\": {\"IssuerURL\": \"https://k8s.example.com\", \"ClientID\": "
	"\"sigstore\", \"Type\": \"kubernetes\"},\n"
	"  \"https://gh.example.com\": {\"IssuerURL\": \"https://gh.example.com\", \"ClientID\": "
	"\"sigstore\", \"Type\": \"github-workflow\"},\n"
	"  \"https://gitlab.example.com\": {\"IssuerURL\": \"https://gitlab.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"gitlab-pipeline\"},\n"
	"  \"https://buildkite.example.com\": {\"IssuerURL\": \"https://buildkite.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"buildkite-job\"},\n"
	"  \"https://codefresh.example.com\": {\"IssuerURL\": \"https://codefresh.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"codefresh-workflow\"},\n"
	"  \"https://chainguard.example.com\": {\"IssuerURL\": \"https://chainguard.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"chainguard-identity\"},\n"
	"  \"https://ci-github.example.com\": {\"IssuerURL\": \"https://ci-github.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"ci-provider\", \"CIProvider\": "
	"\"github-workflow\"},\n"
	"  \"https://ci-gitlab.example.com\": {\"IssuerURL\": \"https://ci-gitlab.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"ci-provider\", \"CIProvider\": "
	"\"gitlab-pipeline\"},\n"
	"  \"https://ci-circleci.example.com\": {\"IssuerURL\": "
	"\"https://ci-circleci.example.com\", \"ClientID\": \"sigstore\", \"Type\": "
	"\"ci-provider\", \"CIProvider\": \"circleci-job\"},\n"
	"  \"https://ci-fuzz.example.com\": {\"IssuerURL\": \"https://ci-fuzz.example.com\", "
	"\"ClientID\": \"sigstore\", \"Type\": \"ci-provider\", \"CIProvider\": \"fuzz-ci\"}\n"
	"}, \"MetaIssuers\": {\n"
	"  \"https://*.oic.prod-aks.azure.com/*/*/\": {\"ClientID\": \"sigstore\", \"Type\": "
	"\"kubernetes\"},\n"
	"  \"https://oidc.eks.*.amazonaws.com/id/*\": {\"ClientID\": \"sigstore\", \"Type\": "
	"\"kubernetes\"},\n"
	"  \"https://token.actions.githubusercontent.com/*\": {\"ClientID\": \"sigstore\", "
	"\"Type\": \"ci-provider\", \"CIProvider\": \"github-workflow\"}\n"
	"}, \"CIIssuerMetadata\": {\n"
	"  \"github-workflow\": {\n"
	"    \"DefaultTemplateValues\": {\"url\": \"https://github.com\", \"environment\": \"\"},\n"
	"    \"ExtensionTemplates\": {\n"
	"      \"GithubWorkflowTrigger\": \"event_name\",\n"
	"      \"GithubWorkflowSHA\": \"sha\",\n"
	"      \"GithubWorkflowName\": \"workflow\",\n"
	"      \"GithubWorkflowRepository\": \"repository\",\n"
	"      \"GithubWorkflowRef\": \"ref\",\n"
	"      \"BuildSignerURI\": \"{{ .url }}/{{ .job_workflow_ref }}\",\n"
	"      \"BuildSignerDigest\": \"job_workflow_sha\",\n"
	"      \"RunnerEnvironment\": \"runner_environment\",\n"
	"      \"SourceRepositoryURI\": \"{{ .url }}/{{ .repository }}\",\n"
	"      \"SourceRepositoryDigest\": \"sha\",\n"
	"      \"SourceRepositoryRef\": \"ref\",\n"
	"      \"SourceRepositoryIdentifier\": \"repository_id\",\n"
	"      \"SourceRepositoryOwnerURI\": \"{{ .url }}/{{ .repository_owner }}\",\n"
	"      \"SourceRepositoryOwnerIdentifier\": \"repository_owner_id\",\n"
	"      \"BuildConfigURI\": \"{{ .url }}/{{ .workflow_ref }}\",\n"
	"      \"BuildConfigDigest\": \"workflow_sha\",\n"
	"      \"BuildTrigger\": \"event_name\",\n"
	"      \"RunInvocationURI\": \"{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id "
	"}}/attempts/{{ .run_attempt }}\",\n"
	"      \"SourceRepositoryVisibilityAtSigning\": \"repository_visibility\",\n"
	"      \"DeploymentEnvironment\": \"environment\"\n"
	"    },\n"
	"    \"SubjectAlternativeNameTemplate\": \"{{ .url }}/{{ .job_workflow_ref }}\"\n"
	"  },\n"
	"  \"gitlab-pipeline\": {\n"
	"    \"DefaultTemplateValues\": {\"url\": \"https://gitlab.com\", \"environment\": \"\"},\n"
	"    \"ExtensionTemplates\": {\n"
	"      \"BuildSignerURI\": \"https://{{ .ci_config_ref_uri }}\",\n"
	"      \"BuildSignerDigest\": \"ci_config_sha\",\n"
	"      \"RunnerEnvironment\": \"runner_environment\",\n"
	"      \"SourceRepositoryURI\": \"{{ .url }}/{{ .project_path }}\",\n"
	"      \"SourceRepositoryDigest\": \"sha\",\n"
	"      \"SourceRepositoryRef\": \"refs/{{if eq .ref_type \\\"branch\\\"}}heads/{{ else "
	"}}tags/{{end}}{{ .ref }}\",\n"
	"      \"SourceRepositoryIdentifier\": \"project_id\",\n"
	"      \"SourceRepositoryOwnerURI\": \"{{ .url }}/{{ .namespace_path }}\",\n"
	"      \"SourceRepositoryOwnerIdentifier\": \"namespace_id\",\n"
	"      \"BuildConfigURI\": \"https://{{ .ci_config_ref_uri }}\",\n"
	"      \"BuildConfigDigest\": \"ci_config_sha\",\n"
	"      \"BuildTrigger\": \"pipeline_source\",\n"
	"      \"RunInvocationURI\": \"{{ .url }}/{{ .project_path }}/-/jobs/{{ .job_id }}\",\n"
	"      \"SourceRepositoryVisibilityAtSigning\": \"project_visibility\",\n"
	"      \"DeploymentEnvironment\": \"environment\"\n"
	"    },\n"
	"    \"SubjectAlternativeNameTemplate\": \"https://{{ .ci_config_ref_uri }}\"\n"
	"  },\n"
	"  \"circleci-job\": {\n"
	"    \"DefaultTemplateValues\": {\"api_url\": \"https://circleci.com/api/v2\", "
	"\"platform_url\": \"https://app.circleci.com/\"},\n"
	"    \"ExtensionTemplates\": {\n"
	"      \"BuildConfigURI\": \"{{.api_url}}/pipeline/{{(index . "
	"\\\"oidc.circleci.com/pipeline-id\\\")}}/config\",\n"
	"      \"BuildSignerURI\": \"{{.api_url}}/projects/{{(index . "
	"\\\"oidc.circleci.com/project-id\\\")}}/pipeline-definitions/{{(index . "
	"\\\"oidc.circleci.com/pipeline-definition-id\\\")}}\",\n"
	"      \"RunInvocationURI\": \"{{.platform_url}}/workflow/{{(index . "
	"\\\"oidc.circleci.com/workflow-id\\\")}}/job/{{(index . "
	"\\\"oidc.circleci.com/job-id\\\")}}\",\n"
	"      \"RunnerEnvironment\": \"{{if eq (index . \\\"oidc.circleci.com/ssh-rerun\\\") "
	"\\\"true\\\"}}ssh-rerun{{ else }}\\\"\\\"{{end}}\",\n"
	"      \"SourceRepositoryRef\": \"{{index . \\\"oidc.circleci.com/vcs-ref\\\"}}\",\n"
	"      \"SourceRepositoryURI\": \"{{index . \\\"oidc.circleci.com/vcs-origin\\\"}}\"\n"
	"    },\n"
	"    \"SubjectAlternativeNameTemplate\": \"{{.api_url}}/projects/{{(index . "
	"\\\"oidc.circleci.com/project-id\\\")}}/pipeline-definitions/{{(index . "
	"\\\"oidc.circleci.com/pipeline-definition-id\\\")}}\"\n"
	"  },\n"
	"  \"fuzz-ci\": {\n"
	"    \"DefaultTemplateValues\": {\"url\": \"https://ci.example.com\", \"a\": \"x\"},\n"
	"    \"ExtensionTemplates\": {\n"
	"      \"BuildSignerURI\": \"{{ .url }}/{{ index . \\\"repo/name\\\" }}\",\n"
	"      \"RunnerEnvironment\": \"{{- if and .runner (ne .runner \\\"\\\") -}} {{ .runner }} "
	"{{- else if not .hosted }}self{{ else }}hosted{{ end -}}\",\n"
	"      \"SourceRepositoryURI\": \"{{ .url }}/{{ .repository }}\",\n"
	"      \"SourceRepositoryRef\": \"refs/{{if eq .ref_type \\\"branch\\\"}}heads/{{ else if "
	"eq .ref_type `tag` }}tags/{{ else }}other/{{end}}{{ .ref }}\",\n"
	"      \"BuildTrigger\": \"{{ if or (eq .event \\\"push\\\") (eq .event \\\"tag\\\") }}{{ "
	".event }}{{ else }}{{ \\\"manual\\\" }}{{ end }}\",\n"
	"      \"SourceRepositoryDigest\": \"sha\",\n"
	"      \"RunInvocationURI\": \"{{ .url }}/runs/{{ .run_id }}{{/* a comment */}}\",\n"
	"      \"DeploymentEnvironment\": \"environment\"\n"
	"    },\n"
	"    \"SubjectAlternativeNameTemplate\": \"{{ .url }}/{{ .repository }}/{{ index . "
	"\\\"workflow\\\" }}\"\n"
	"  }\n"
	"}}\n";

static struct cfg_identity *cfg;

static void free_cfg(void)
{
	cfg_identity_free(cfg);
	cfg = NULL;
}

static void init_once(void)
{
	struct fc_err err = {0};

	if (cfg != NULL)
		return;
	fuzz_log_all();
	if (cfg_identity_load_mem(CONFIG, sizeof(CONFIG) - 1, "principal_fuzz", &cfg, &err) !=
	    FC_OK)
		fprintf(stderr, "principal_fuzz: %s\n", err.msg);
	FUZZ_CHECK(cfg != NULL);
	FUZZ_CHECK(cfg->n_issuers == 16 && cfg->n_meta == 3 && cfg->n_ci == 4);
	atexit(free_cfg);
}

static void build_one(const struct cfg_issuer *iss, const json_t *claims)
{
	struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
	struct fc_err err = {0};

	if (oidc_principal_build(cfg, iss, claims, id, &err) != FC_OK) {
		/* a refusal writes nothing but the reason */
		FUZZ_CHECK(err.status != FC_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		FUZZ_CHECK(id->issuer_type == NULL && id->san == NULL && id->pop_subject == NULL);
		FUZZ_CHECK(id->extensions == NULL && id->n_extensions == 0);
		oidc_identity_free(id);
		return;
	}
	FUZZ_CHECK(id->issuer_type != NULL && id->san != NULL && id->pop_subject != NULL);
	FUZZ_CHECK(id->san_type == OIDC_SAN_EMAIL || id->san_type == OIDC_SAN_URI ||
		   id->san_type == OIDC_SAN_USERNAME);
	/* 1.1 and 1.8 (the issuer) are always there */
	FUZZ_CHECK(id->extensions != NULL && id->n_extensions >= 2);
	for (size_t i = 0; i < id->n_extensions; i++)
		FUZZ_CHECK(id->extensions[i].oid != NULL && id->extensions[i].value != NULL);
	oidc_identity_free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	json_error_t jerr;
	json_t *claims;
	const char *iss;

	init_once();
	claims = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(claims)) {
		json_decref(claims);
		return 0;
	}
	for (size_t i = 0; i < cfg->n_issuers; i++)
		build_one(&cfg->issuers[i], claims);
	/* a meta issuer becomes a concrete one with the token's iss */
	iss = json_string_value(json_object_get(claims, "iss"));
	for (size_t i = 0; iss != NULL && i < cfg->n_meta; i++) {
		struct cfg_issuer concrete = cfg->meta[i];

		if (!oidc_meta_match(concrete.key, iss))
			continue;
		concrete.issuer_url = (char *)iss;
		build_one(&concrete, claims);
	}
	json_decref(claims);
	return 0;
}
