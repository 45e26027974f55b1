#!/usr/bin/env bash
# One real test issuer per identity type; `fulcrum token` must yield the SAN,
# PoP subject and Sigstore extensions Fulcio would for each. (Exact values
# for every extension are pinned per type in tests/unit/test_oidc_principal.c;
# this test shows the whole path over HTTP.)
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || t_skip "jq not installed"

for n in email username uri spiffe k8s ghw gitlab buildkite codefresh chainguard ci; do
  issuer_start "$n"
done

cfg="$T_TMP/config.json"
jq -n --arg email "$email_URL" --arg username "$username_URL" --arg uri "$uri_URL" \
  --arg spiffe "$spiffe_URL" --arg k8s "$k8s_URL" --arg ghw "$ghw_URL" --arg gitlab "$gitlab_URL" \
  --arg buildkite "$buildkite_URL" --arg codefresh "$codefresh_URL" \
  --arg chainguard "$chainguard_URL" --arg ci "$ci_URL" '
  def iss($u; $t): {IssuerURL: $u, ClientID: "sigstore", Type: $t};
  {OIDCIssuers: {
     ($email): iss($email; "email"),
     ($username): (iss($username; "username") + {SubjectDomain: "127.0.0.1"}),
     ($uri): (iss($uri; "uri") + {SubjectDomain: "http://127.0.0.1"}),
     ($spiffe): (iss($spiffe; "spiffe") + {SPIFFETrustDomain: "example.org"}),
     ($k8s): iss($k8s; "kubernetes"),
     ($ghw): iss($ghw; "github-workflow"),
     ($gitlab): iss($gitlab; "gitlab-pipeline"),
     ($buildkite): iss($buildkite; "buildkite-job"),
     ($codefresh): iss($codefresh; "codefresh-workflow"),
     ($chainguard): iss($chainguard; "chainguard-identity"),
     ($ci): (iss($ci; "ci-provider") + {CIProvider: "github-workflow"})},
   CIIssuerMetadata: {"github-workflow": {
     DefaultTemplateValues: {url: "https://github.com"},
     ExtensionTemplates: {
       BuildSignerURI: "{{ .url }}/{{ .job_workflow_ref }}",
       RunnerEnvironment: "runner_environment",
       SourceRepositoryURI: "{{ .url }}/{{ .repository }}",
       SourceRepositoryRef: "ref",
       BuildTrigger: "event_name"},
     SubjectAlternativeNameTemplate: "{{ .url }}/{{ .job_workflow_ref }}"}}}' >"$cfg"

E=1.3.6.1.4.1.57264.1

tok=$(mint "$email_URL" '{"claims":{"sub":"1234","email":"alice@example.com","email_verified":"true"}}')
expect_identity "email" "$cfg" "$tok" '.san_type == "email" and .san == "alice@example.com"
  and .pop_subject == "alice@example.com" and .extensions["'$E'.1"] == "'"$email_URL"'"
  and .extensions["'$E'.8"] == "'"$email_URL"'" and .extensions["'$E'.24"] == "1234"'

tok=$(mint "$username_URL" '{"claims":{"sub":"alice"}}')
expect_identity "username" "$cfg" "$tok" '.san_type == "othername" and .san == "alice!127.0.0.1"
  and .pop_subject == "alice"'

tok=$(mint "$uri_URL" '{"claims":{"sub":"http://127.0.0.1/users/alice"}}')
expect_identity "uri" "$cfg" "$tok" '.san_type == "uri" and .san == "http://127.0.0.1/users/alice"
  and .pop_subject == "http://127.0.0.1/users/alice"'
tok=$(mint "$uri_URL" '{"claims":{"sub":"http://evil.example/users/alice"}}')
expect_refused "uri on another host" "$cfg" "$tok" 'evil.example'

tok=$(mint "$spiffe_URL" '{"claims":{"sub":"spiffe://example.org/ns/prod/sa/builder"}}')
expect_identity "spiffe" "$cfg" "$tok" '.san_type == "uri" and .san == "spiffe://example.org/ns/prod/sa/builder"'
tok=$(mint "$spiffe_URL" '{"claims":{"sub":"spiffe://other.org/ns/prod"}}')
expect_refused "spiffe in another trust domain" "$cfg" "$tok" 'other.org|trust domain'

tok=$(mint "$k8s_URL" '{"claims":{"sub":"system:serviceaccount:prod:builder","kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"builder","uid":"x"}}}}')
expect_identity "kubernetes" "$cfg" "$tok" '.san == "https://kubernetes.io/namespaces/prod/serviceaccounts/builder"
  and .pop_subject == "system:serviceaccount:prod:builder"'

gh='"sub":"repo:acme/app:ref:refs/heads/main","job_workflow_ref":"acme/app/.github/workflows/release.yml@refs/heads/main","sha":"1111111111111111111111111111111111111111","event_name":"push","repository":"acme/app","workflow":"release","ref":"refs/heads/main","job_workflow_sha":"2222222222222222222222222222222222222222","runner_environment":"github-hosted","repository_id":"42","repository_owner":"acme","repository_owner_id":"7","repository_visibility":"public","workflow_ref":"acme/app/.github/workflows/release.yml@refs/heads/main","workflow_sha":"2222222222222222222222222222222222222222","run_id":"99","run_attempt":"1"'
tok=$(mint "$ghw_URL" "{\"claims\":{$gh}}")
expect_identity "github-workflow" "$cfg" "$tok" '.san_type == "uri"
  and .san == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
  and .pop_subject == "repo:acme/app:ref:refs/heads/main"
  and .extensions["'$E'.2"] == "push" and .extension_encodings["'$E'.2"] == "raw"
  and .extensions["'$E'.3"] == "1111111111111111111111111111111111111111"
  and .extensions["'$E'.12"] == "https://github.com/acme/app"
  and .extension_encodings["'$E'.12"] == "utf8string"'
tok=$(mint "$ci_URL" "{\"claims\":{$gh}}")
expect_identity "ci-provider (GitHub templates)" "$cfg" "$tok" '
  .san == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
  and .extensions["'$E'.9"] == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
  and .extensions["'$E'.11"] == "github-hosted" and .extensions["'$E'.14"] == "refs/heads/main"
  and .extensions["'$E'.20"] == "push" and .extensions["'$E'.24"] == "repo:acme/app:ref:refs/heads/main"
  and (.extensions | has("'$E'.2") | not)'
tok=$(mint "$ci_URL" '{"claims":{"sub":"repo:acme/app","repository":"acme/app"}}')
expect_refused "ci-provider template claim missing" "$cfg" "$tok" 'job_workflow_ref'

gl='"sub":"project_path:acme/app:ref_type:branch:ref:main","project_path":"acme/app","pipeline_source":"push","pipeline_id":"10","ci_config_ref_uri":"gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main","ci_config_sha":"3333333333333333333333333333333333333333","job_id":"20","ref":"main","ref_type":"branch","namespace_path":"acme","namespace_id":"5","project_id":"6","sha":"4444444444444444444444444444444444444444","runner_environment":"gitlab-hosted","runner_id":30,"project_visibility":"public"'
tok=$(mint "$gitlab_URL" "{\"claims\":{$gl}}")
expect_identity "gitlab-pipeline" "$cfg" "$tok" '.san == "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main"
  and .extensions["'$E'.14"] == "refs/heads/main"'

tok=$(mint "$buildkite_URL" '{"claims":{"sub":"organization:acme:pipeline:app","organization_slug":"acme","pipeline_slug":"app"}}')
expect_identity "buildkite-job" "$cfg" "$tok" '.san == "https://buildkite.com/acme/app"
  and .pop_subject == "organization:acme:pipeline:app"'

tok=$(mint "$codefresh_URL" '{"claims":{"sub":"account:1:pipeline:2","account_id":"1","account_name":"acme","pipeline_id":"2","pipeline_name":"build","workflow_id":"3"}}')
expect_identity "codefresh-workflow" "$cfg" "$tok" '.san == "https://g.codefresh.io/acme/build:1/2"'

tok=$(mint "$chainguard_URL" '{"claims":{"sub":"abc/def"}}')
expect_identity "chainguard-identity" "$cfg" "$tok" '.san == "'"$chainguard_URL"'/abc/def" and .pop_subject == "abc/def"'

t_done
