/*
 * Unit tests for config/: loading Fulcio's shipped configuration from YAML
 * and JSON, refusal of broken files with precise messages (templates that
 * do not parse among them), and the built-in default. The templates
 * themselves: test_template.c.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static char *fixture(const char *file)
{
	const char *dir = getenv("FULCRUM_TEST_DATA");

	return fc_xasprintf("%s/config/%s", dir ? dir : "tests/data", file);
}

/* Load a fixture; on failure leave the message in err. */
static enum fc_status load(const char *file, struct cfg_identity **cfg, struct fc_err *err)
{
	char *path = fixture(file);
	enum fc_status st;

	fc_err_clear(err);
	*cfg = NULL;
	st = cfg_identity_load_file(path, cfg, err);
	free(path);
	return st;
}

static enum fc_status load_str(const char *text, struct cfg_identity **cfg, struct fc_err *err)
{
	fc_err_clear(err);
	*cfg = NULL;
	return cfg_identity_load_mem(text, strlen(text), "inline", cfg, err);
}

static const struct cfg_issuer *find_issuer(const struct cfg_issuer *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return &v[i];
	return NULL;
}

static const char *kv_get(const struct cfg_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static void same_issuer(const struct cfg_issuer *a, const struct cfg_issuer *b)
{
	CHECK_STR(a->key, b->key);
	CHECK(a->is_meta == b->is_meta);
	CHECK_STR(a->issuer_url, b->issuer_url);
	CHECK_STR(a->client_id, b->client_id);
	CHECK_STR(a->type_name, b->type_name);
	CHECK(a->type == b->type);
	CHECK_STR(a->ci_provider, b->ci_provider);
	CHECK_STR(a->issuer_claim, b->issuer_claim);
	CHECK_STR(a->subject_domain, b->subject_domain);
	CHECK_STR(a->spiffe_trust_domain, b->spiffe_trust_domain);
	CHECK_STR(a->challenge_claim, b->challenge_claim);
	CHECK_STR(a->description, b->description);
	CHECK_STR(a->contact, b->contact);
	CHECK_STR(a->environment, b->environment);
	CHECK_STR(a->ca_cert_pem, b->ca_cert_pem);
	CHECK(a->skip_email_verification == b->skip_email_verification);
}

static void same_kvs(const struct cfg_kv *a, size_t na, const struct cfg_kv *b, size_t nb)
{
	CHECK(na == nb);
	for (size_t i = 0; i < na && i < nb; i++) {
		CHECK_STR(a[i].key, b[i].key);
		CHECK_STR(a[i].value, b[i].value);
	}
}

/* Every template of a configuration must parse. */
static void all_templates_parse(const struct cfg_identity *cfg)
{
	for (size_t i = 0; i < cfg->n_ci; i++) {
		const struct cfg_ci_provider *ci = &cfg->ci[i];
		struct cfg_template *t = NULL;
		struct fc_err err = {0};

		for (size_t j = 0; j < ci->n_extension_templates; j++) {
			CHECK(cfg_template_parse(ci->extension_templates[j].value, &t, &err) ==
			      FC_OK);
			cfg_template_free(t);
			t = NULL;
		}
		CHECK(cfg_template_parse(ci->san_template, &t, &err) == FC_OK);
		cfg_template_free(t);
	}
}

static void test_shipped(void)
{
	struct cfg_identity *y = NULL, *j = NULL;
	const struct cfg_ci_provider *gh, *cc, *gl;
	const struct cfg_issuer *iss;
	struct fc_err err = {0};

	CHECK(load("fulcio-shipped.yaml", &y, &err) == FC_OK);
	if (err.status != FC_OK)
		fprintf(stderr, "yaml: %s\n", err.msg);
	CHECK(load("fulcio-shipped.json", &j, &err) == FC_OK);
	if (err.status != FC_OK)
		fprintf(stderr, "json: %s\n", err.msg);
	if (y == NULL || j == NULL)
		goto out;

	/* Counts. */
	CHECK(y->n_issuers == 22);
	CHECK(y->n_meta == 9);
	CHECK(y->n_ci == 6);

	/* YAML and JSON give identical structures, field by field, in order. */
	CHECK(y->n_issuers == j->n_issuers && y->n_meta == j->n_meta && y->n_ci == j->n_ci);
	for (size_t i = 0; i < y->n_issuers && i < j->n_issuers; i++)
		same_issuer(&y->issuers[i], &j->issuers[i]);
	for (size_t i = 0; i < y->n_meta && i < j->n_meta; i++)
		same_issuer(&y->meta[i], &j->meta[i]);
	for (size_t i = 0; i < y->n_ci && i < j->n_ci; i++) {
		CHECK_STR(y->ci[i].name, j->ci[i].name);
		same_kvs(y->ci[i].defaults, y->ci[i].n_defaults, j->ci[i].defaults,
			 j->ci[i].n_defaults);
		same_kvs(y->ci[i].extension_templates, y->ci[i].n_extension_templates,
			 j->ci[i].extension_templates, j->ci[i].n_extension_templates);
		CHECK_STR(y->ci[i].san_template, j->ci[i].san_template);
	}
	all_templates_parse(y);

	/* Spot checks on exact values. */
	iss = find_issuer(y->issuers, y->n_issuers, "https://oauth2.sigstore.dev/auth");
	CHECK(iss != NULL);
	if (iss) {
		CHECK(iss->type == CFG_TYPE_EMAIL);
		CHECK_STR(iss->issuer_claim, "$.federated_claims.connector_id");
		CHECK_STR(iss->client_id, "sigstore");
		CHECK_STR(cfg_issuer_challenge_claim(iss), "email");
		CHECK(!iss->skip_email_verification);
	}
	iss = find_issuer(y->issuers, y->n_issuers, "https://issuer.hello.coop");
	CHECK(iss != NULL);
	if (iss)
		CHECK_STR(iss->description, "Hell\xc5\x8d OIDC auth");
	iss = find_issuer(y->issuers, y->n_issuers, "https://token.actions.githubusercontent.com");
	CHECK(iss != NULL);
	if (iss) {
		CHECK(iss->type == CFG_TYPE_CI_PROVIDER);
		CHECK_STR(iss->ci_provider, "github-workflow"); /* through the alias */
		CHECK_STR(cfg_issuer_challenge_claim(iss), "sub");
		CHECK(iss->is_meta == false);
	}
	iss = find_issuer(y->issuers, y->n_issuers, "https://stage-oidc.buddyusercontent.com");
	CHECK(iss != NULL);
	if (iss)
		CHECK_STR(iss->environment, "staging");
	iss = find_issuer(y->issuers, y->n_issuers, "https://issuer.enforce.dev");
	CHECK(iss != NULL && iss->type == CFG_TYPE_CHAINGUARD_IDENTITY);

	iss = find_issuer(y->meta, y->n_meta, "https://oidc.eks.*.amazonaws.com/id/*");
	CHECK(iss != NULL);
	if (iss) {
		CHECK(iss->is_meta);
		CHECK(iss->type == CFG_TYPE_KUBERNETES);
		CHECK(iss->issuer_url == NULL);
		CHECK_STR(iss->client_id, "sigstore");
	}
	CHECK(find_issuer(
		      y->meta, y->n_meta,
		      "https://container.googleapis.com/v1/projects/*/locations/*/clusters/*") !=
	      NULL);
	iss = find_issuer(y->meta, y->n_meta, "https://oidc.circleci.com/org/*");
	CHECK(iss != NULL && iss->type == CFG_TYPE_CI_PROVIDER);
	if (iss)
		CHECK_STR(iss->ci_provider, "circleci-job");

	gh = cfg_ci_provider_find(y, "github-workflow");
	CHECK(gh != NULL);
	if (gh) {
		CHECK_STR(kv_get(gh->extension_templates, gh->n_extension_templates,
				 "BuildSignerURI"),
			  "{{ .url }}/{{ .job_workflow_ref }}");
		CHECK_STR(kv_get(gh->extension_templates, gh->n_extension_templates,
				 "GithubWorkflowSHA"),
			  "sha");
		CHECK_STR(kv_get(gh->extension_templates, gh->n_extension_templates,
				 "RunInvocationURI"),
			  "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/"
			  "{{ .run_attempt }}");
		CHECK_STR(kv_get(gh->extension_templates, gh->n_extension_templates,
				 "DeploymentEnvironment"),
			  "environment");
		CHECK(gh->n_extension_templates == 20);
		CHECK_STR(kv_get(gh->defaults, gh->n_defaults, "url"), "https://github.com");
		CHECK_STR(kv_get(gh->defaults, gh->n_defaults, "environment"), "");
		CHECK_STR(gh->san_template, "{{ .url }}/{{ .job_workflow_ref }}");
	}
	gl = cfg_ci_provider_find(y, "gitlab-pipeline");
	CHECK(gl != NULL);
	if (gl)
		CHECK_STR(kv_get(gl->extension_templates, gl->n_extension_templates,
				 "SourceRepositoryRef"),
			  "refs/{{if eq .ref_type \"branch\"}}heads/{{ else }}tags/{{end}}{{ .ref "
			  "}}");
	cc = cfg_ci_provider_find(y, "circleci-job");
	CHECK(cc != NULL);
	if (cc) {
		CHECK(cc->n_defaults == 2);
		CHECK_STR(kv_get(cc->defaults, cc->n_defaults, "api_url"),
			  "https://circleci.com/api/v2");
		CHECK_STR(kv_get(cc->defaults, cc->n_defaults, "platform_url"),
			  "https://app.circleci.com/");
		CHECK_STR(kv_get(cc->extension_templates, cc->n_extension_templates,
				 "RunnerEnvironment"),
			  "{{if eq (index . \"oidc.circleci.com/ssh-rerun\") \"true\"}}ssh-rerun"
			  "{{ else }}\"\"{{end}}");
	}
	CHECK(cfg_ci_provider_find(y, "no-such-provider") == NULL);
	CHECK(cfg_ci_provider_find(NULL, "github-workflow") == NULL);
out:
	cfg_identity_free(y);
	cfg_identity_free(j);
}

static void test_features(void)
{
	struct cfg_identity *cfg = NULL;
	const struct cfg_issuer *iss;
	struct fc_err err = {0};

	CHECK(load("good-features.yaml", &cfg, &err) == FC_OK);
	if (cfg == NULL) {
		fprintf(stderr, "good-features: %s\n", err.msg);
		return;
	}
	CHECK(cfg->n_issuers == 4);
	iss = find_issuer(cfg->issuers, cfg->n_issuers, "https://accounts.example.com");
	CHECK(iss != NULL && iss->type == CFG_TYPE_URI);
	if (iss) {
		CHECK_STR(iss->client_id, "sigstore"); /* from the merge key */
		CHECK_STR(iss->contact, "security@example.com");
	}
	iss = find_issuer(cfg->issuers, cfg->n_issuers, "https://idp.corp.example.com");
	CHECK(iss != NULL);
	if (iss) {
		CHECK(iss->skip_email_verification);
		CHECK_STR(iss->contact, "idp-team@example.com"); /* explicit beats merged */
		CHECK(iss->ca_cert_pem != NULL &&
		      strncmp(iss->ca_cert_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
		CHECK_STR(cfg_issuer_challenge_claim(iss), "upn");
	}
	iss = find_issuer(cfg->issuers, cfg->n_issuers, "https://spiffe-oidc.example.com");
	CHECK(iss != NULL && iss->type == CFG_TYPE_SPIFFE);
	if (iss)
		CHECK_STR(iss->spiffe_trust_domain, "example.com");
	cfg_identity_free(cfg);
}

struct bad_case {
	const char *file;
	const char *want;
};

static void test_bad(void)
{
	static const struct bad_case cases[] = {
		{"bad-unknown-type.yaml",
		 "oidc-issuers[\"https://accounts.example.com\"].type: unknown type \"emial\"; "
		 "valid types: email, username"},
		{"bad-missing-clientid.json",
		 "OIDCIssuers[\"https://accounts.example.com\"].ClientID: missing"},
		{"bad-meta-pattern.yaml",
		 "meta-issuers[\"oidc.eks.*.amazonaws.com/id/*\"]: pattern is not an http(s) URL"},
		{"bad-spiffe-no-td.json",
		 "OIDCIssuers[\"https://spiffe-oidc.example.com\"].SPIFFETrustDomain: missing"},
		{"bad-spiffe-td.yaml",
		 "spiffe-trust-domain: \"Example.COM\" is not a valid SPIFFE"},
		{"bad-spiffe-meta.yaml",
		 "meta-issuers[\"https://*.spiffe.example.com\"].type: SPIFFE meta issuers not "
		 "supported"},
		{"bad-issuer-claim-type.json",
		 "OIDCIssuers[\"https://k8s.example.com\"].IssuerClaim: only email issuers can use "
		 "issuer claim mapping (type is \"kubernetes\")"},
		{"bad-unknown-ci-provider.yaml",
		 "ci-provider: \"jenkins-job\" is not defined in ci-issuer-metadata"},
		{"bad-template-syntax.yaml",
		 "ci-issuer-metadata[\"example-ci\"].extension-templates.build-signer-uri: "
		 "template: line 1 col 12: unclosed action"},
		{"bad-cacert.json",
		 "OIDCIssuers[\"https://idp.corp.example.com\"].CACert: no PEM certificate"},
		{"bad-dup-key.json", "duplicate object key"},
		{"bad-dup-key.yaml", "line 6: mapping key \"client-id\" already defined"},
		{"bad-wrong-type.json",
		 "OIDCIssuers[\"https://x\"].ClientID: must be a string, not a number"},
		{"bad-uri-scheme.yaml",
		 "subject-domain: scheme \"http\" does not match the issuer's scheme \"https\""},
		{"bad-uri-domain.json", "SubjectDomain: hostname \"example.org\" and the issuer's "
					"\"accounts.example.com\" "
					"do not share their last two labels"},
		{"bad-username-scheme.json",
		 "SubjectDomain: \"https://example.com\" must not contain a scheme for username"},
		{"bad-issuer-url.yaml",
		 "issuer-url: \"accounts.example.com\" is not an http(s) URL with a host"},
		{"bad-skip-email.yaml",
		 "skip-email-verification: must be true or false, not a string"},
		{"bad-san-empty.json",
		 "CIIssuerMetadata[\"example-ci\"].SubjectAlternativeNameTemplate: empty, but "
		 "OIDCIssuers[\"https://ci.example.com\"] uses it"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg_identity *cfg = NULL;
		struct fc_err err = {0};
		enum fc_status st = load(cases[i].file, &cfg, &err);

		if (st == FC_OK)
			fprintf(stderr, "FAIL: %s was accepted\n", cases[i].file);
		CHECK(st == FC_ECONFIG);
		CHECK(cfg == NULL);
		CHECK(err.status == FC_ECONFIG);
		CHECK_CONTAINS(err.msg, cases[i].want);
		CHECK_CONTAINS(err.msg, cases[i].file); /* the file is named */
		cfg_identity_free(cfg);
	}
}

static void test_load_edges(void)
{
	struct cfg_identity *cfg = NULL;
	struct fc_err err = {0};
	char *big;

	/* A missing file is FC_ENOTFOUND (the caller falls back to the default). */
	CHECK(load("no-such-file.yaml", &cfg, &err) == FC_ENOTFOUND);
	CHECK(err.status == FC_ENOTFOUND);
	/* Fulcio's default path falls back to the same path ending in .json
	 * instead of .yaml (serve.go: strings.TrimSuffix(cp, ".yaml") + ".json"). */
	fc_err_clear(&err);
	CHECK(cfg_identity_load_file(CFG_DEFAULT_PATH, &cfg, &err) == FC_ENOTFOUND);
	CHECK(cfg == NULL);
	CHECK_CONTAINS(err.msg, "/etc/fulcio-config/config.json");

	/* Empty input: no issuers, as in Fulcio. */
	CHECK(load_str("", &cfg, &err) == FC_OK);
	CHECK(cfg != NULL && cfg->n_issuers == 0 && cfg->n_meta == 0 && cfg->n_ci == 0);
	cfg_identity_free(cfg);

	/* JSON: case-insensitive field names (Go's encoding/json), unknown keys
	 * ignored, map key differing from IssuerURL accepted (with a warning). */
	CHECK(load_str(
		      "{\"oidcissuers\": {\"https://a.example.com\": {\"issuerurl\": "
		      "\"https://b.example.com\", \"clientid\": \"sigstore\", \"type\": \"email\", "
		      "\"Flavour\": \"x\"}}, \"Extra\": 1}",
		      &cfg, &err) == FC_OK);
	CHECK(cfg != NULL && cfg->n_issuers == 1);
	if (cfg && cfg->n_issuers == 1) {
		CHECK_STR(cfg->issuers[0].key, "https://a.example.com");
		CHECK_STR(cfg->issuers[0].issuer_url, "https://b.example.com");
		CHECK_STR(cfg->issuers[0].client_id, "sigstore");
	}
	cfg_identity_free(cfg);

	/* JSON: one field under two spellings. */
	CHECK(load_str("{\"OIDCIssuers\": {\"https://a.example.com\": {\"ClientID\": \"a\", "
		       "\"clientid\": \"b\"}}}",
		       &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "ClientID: given twice (as \"clientid\")");

	/* JSON: wrong container type. */
	CHECK(load_str("{\"OIDCIssuers\": []}", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "OIDCIssuers: must be a mapping, not a list");

	/* YAML: keys that are not Fulcio's YAML names are ignored (yaml.v3
	 * does not fold case): ClientID here is not client-id. */
	CHECK(load_str("oidc-issuers:\n  https://a.example.com:\n    issuer-url: "
		       "https://a.example.com\n    ClientID: sigstore\n    type: email\n",
		       &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "oidc-issuers[\"https://a.example.com\"].client-id: missing");

	/* YAML: Issuer/Subject templates are checked then dropped; empty ones
	 * are left out; extension keys come out in Go field spelling. */
	CHECK(load_str("oidc-issuers:\n"
		       "  https://ci.example.com:\n"
		       "    issuer-url: https://ci.example.com\n"
		       "    client-id: sigstore\n"
		       "    type: ci-provider\n"
		       "    ci-provider: x\n"
		       "ci-issuer-metadata:\n"
		       "  x:\n"
		       "    default-template-values:\n"
		       "      build-trigger: kept\n"
		       "      client-id: verbatim\n"
		       "    extension-templates:\n"
		       "      issuer: \"{{ .iss }}\"\n"
		       "      subject: sub\n"
		       "      build-trigger: \"\"\n"
		       "      github-workflow-ref: ref\n"
		       "      flux-capacitor: x\n"
		       "    subject-alternative-name-template: \"https://ci.example.com/{{ .sub "
		       "}}\"\n",
		       &cfg, &err) == FC_OK);
	if (cfg != NULL) {
		CHECK(cfg->n_ci == 1);
		CHECK(cfg->ci[0].n_extension_templates == 1);
		CHECK_STR(cfg->ci[0].extension_templates[0].key, "GithubWorkflowRef");
		CHECK_STR(cfg->ci[0].extension_templates[0].value, "ref");
		/* Claim names under default-template-values are data, not keys. */
		CHECK(cfg->ci[0].n_defaults == 2);
		CHECK_STR(kv_get(cfg->ci[0].defaults, cfg->ci[0].n_defaults, "build-trigger"),
			  "kept");
		CHECK_STR(kv_get(cfg->ci[0].defaults, cfg->ci[0].n_defaults, "client-id"),
			  "verbatim");
	} else {
		fprintf(stderr, "ext: %s\n", err.msg);
	}
	cfg_identity_free(cfg);

	/* YAML: a meta-issuer whose IssuerURL differs is fine; two documents,
	 * a sequence at the top, syntax errors and alias bombs are not. */
	CHECK(load_str("a: 1\n---\nb: 2\n", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "more than one YAML document");
	CHECK(load_str("- a\n- b\n", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "top level must be a mapping");
	CHECK(load_str("oidc-issuers: [\n", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "YAML line");
	CHECK(load_str("{\"OIDCIssuers\": {\n", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "JSON line");
	CHECK(load_str("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		       "oidc-issuers:\n  https://a.example.com:\n    description: [*e, *e, *e]\n",
		       &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "too large or too deep");
	CHECK(load_str("oidc-issuers:\n  https://a.example.com: &a\n    description: [*a]\n", &cfg,
		       &err) == FC_ECONFIG);
	CHECK(err.status == FC_ECONFIG);

	/* Over the size cap. */
	big = fc_xmalloc(CFG_MAX_FILE_BYTES + 2);
	memset(big, ' ', CFG_MAX_FILE_BYTES + 1);
	big[CFG_MAX_FILE_BYTES + 1] = '\0';
	fc_err_clear(&err);
	CHECK(cfg_identity_load_mem(big, CFG_MAX_FILE_BYTES + 1, "big", &cfg, &err) == FC_ECONFIG);
	CHECK_CONTAINS(err.msg, "larger than");
	free(big);
}

static void test_types(void)
{
	struct cfg_issuer iss = {0};

	CHECK(cfg_issuer_type_from_name("email") == CFG_TYPE_EMAIL);
	CHECK(cfg_issuer_type_from_name("github-workflow") == CFG_TYPE_GITHUB_WORKFLOW);
	CHECK(cfg_issuer_type_from_name("ci-provider") == CFG_TYPE_CI_PROVIDER);
	CHECK(cfg_issuer_type_from_name("chainguard-identity") == CFG_TYPE_CHAINGUARD_IDENTITY);
	CHECK(cfg_issuer_type_from_name("Email") == CFG_TYPE_UNKNOWN);
	CHECK(cfg_issuer_type_from_name(NULL) == CFG_TYPE_UNKNOWN);
	CHECK_STR(cfg_issuer_type_name(CFG_TYPE_CODEFRESH_WORKFLOW), "codefresh-workflow");
	CHECK(cfg_issuer_type_name(CFG_TYPE_UNKNOWN) == NULL);
	for (int t = CFG_TYPE_EMAIL; t <= CFG_TYPE_CI_PROVIDER; t++)
		CHECK(cfg_issuer_type_from_name(cfg_issuer_type_name((enum cfg_issuer_type)t)) ==
		      (enum cfg_issuer_type)t);

	iss.type = CFG_TYPE_UNKNOWN;
	CHECK(cfg_issuer_challenge_claim(&iss) == NULL);
	iss.type = CFG_TYPE_KUBERNETES;
	CHECK_STR(cfg_issuer_challenge_claim(&iss), "sub");
	iss.type = CFG_TYPE_EMAIL;
	CHECK_STR(cfg_issuer_challenge_claim(&iss), "email");
	iss.challenge_claim = "preferred_username";
	CHECK_STR(cfg_issuer_challenge_claim(&iss), "preferred_username");
}

static void test_default(void)
{
	struct cfg_identity *cfg = NULL;
	const struct cfg_issuer *iss;

	CHECK(cfg_identity_default(&cfg) == FC_OK);
	if (cfg == NULL)
		return;
	CHECK(cfg->n_issuers == 3);
	CHECK(cfg->n_meta == 0);
	CHECK(cfg->n_ci == 0);
	iss = find_issuer(cfg->issuers, cfg->n_issuers, "https://oauth2.sigstore.dev/auth");
	CHECK(iss != NULL);
	if (iss) {
		CHECK_STR(iss->issuer_url, "https://oauth2.sigstore.dev/auth");
		CHECK_STR(iss->client_id, "sigstore");
		CHECK(iss->type == CFG_TYPE_EMAIL);
		CHECK_STR(iss->type_name, "email");
		CHECK_STR(iss->issuer_claim, "$.federated_claims.connector_id");
	}
	iss = find_issuer(cfg->issuers, cfg->n_issuers, "https://accounts.google.com");
	CHECK(iss != NULL && iss->type == CFG_TYPE_EMAIL && iss->issuer_claim == NULL);
	iss = find_issuer(cfg->issuers, cfg->n_issuers,
			  "https://token.actions.githubusercontent.com");
	CHECK(iss != NULL && iss->type == CFG_TYPE_GITHUB_WORKFLOW);
	if (iss) {
		CHECK_STR(iss->client_id, "sigstore");
		CHECK_STR(iss->type_name, "github-workflow");
	}
	cfg_identity_free(cfg);
	cfg_identity_free(NULL);
}

int main(void)
{
	fc_log_set_level(LOG_ERR); /* keep the expected warnings quiet */
	test_shipped();
	test_features();
	test_bad();
	test_load_edges();
	test_types();
	test_default();
	return check_exit();
}
