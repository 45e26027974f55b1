/*
 * Unit tests for the principal files of oidc/ (principal.c, principal_basic.c,
 * principal_ci.c, claims.c): claims to SAN, extensions and proof of
 * possession, per identity type, against fixtures in
 * tests/data/oidc/principal/ whose expected values come from Fulcio's own
 * tests, templates and docs; plus the refusals each type must make.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "oidc_int.h"

static struct cfg_identity *shipped;

static char *data_path(const char *name)
{
	const char *dir = getenv("FULCRUM_TEST_DATA");

	return fc_xasprintf("%s/%s", dir ? dir : "tests/data", name);
}

static json_t *load_json(const char *name)
{
	char *path = data_path(name);
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (j == NULL)
		fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
	free(path);
	return j;
}

static json_t *load_fixture(const char *name)
{
	char *rel = fc_xasprintf("oidc/principal/%s", name);
	json_t *j = load_json(rel);

	free(rel);
	return j;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A cfg_issuer described inline by a fixture (strings point into it). */
static void issuer_from_json(const json_t *o, struct cfg_issuer *iss)
{
	memset(iss, 0, sizeof(*iss));
	iss->issuer_url = (char *)jstr(o, "issuer_url");
	iss->key = iss->issuer_url;
	iss->client_id = (char *)"sigstore";
	iss->type_name = (char *)jstr(o, "type");
	iss->type = cfg_issuer_type_from_name(iss->type_name);
	iss->issuer_claim = (char *)jstr(o, "issuer_claim");
	iss->subject_domain = (char *)jstr(o, "subject_domain");
	iss->spiffe_trust_domain = (char *)jstr(o, "spiffe_trust_domain");
	iss->ci_provider = (char *)jstr(o, "ci_provider");
	iss->skip_email_verification = json_is_true(json_object_get(o, "skip_email_verification"));
}

static const struct cfg_issuer *config_issuer(const char *url)
{
	for (size_t i = 0; shipped && i < shipped->n_issuers; i++) {
		if (shipped->issuers[i].issuer_url &&
		    strcmp(shipped->issuers[i].issuer_url, url) == 0)
			return &shipped->issuers[i];
	}
	return NULL;
}

static const struct cfg_issuer *config_meta(const char *pattern)
{
	for (size_t i = 0; shipped && i < shipped->n_meta; i++) {
		if (strcmp(shipped->meta[i].key, pattern) == 0)
			return &shipped->meta[i];
	}
	return NULL;
}

static const char *san_type_name(enum oidc_san_type t)
{
	switch (t) {
	case OIDC_SAN_EMAIL: return "email";
	case OIDC_SAN_URI: return "uri";
	case OIDC_SAN_USERNAME: return "username";
	}
	return "?";
}

/* Run fixture <name>.expected.json and compare everything. */
static void check_case(const char *name)
{
	char *fname = fc_xasprintf("%s.expected.json", name);
	json_t *exp = load_fixture(fname), *claims = NULL;
	struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
	struct cfg_issuer inline_iss, meta_iss;
	const struct cfg_issuer *iss = NULL;
	struct fc_err err = {0};
	enum fc_status st;

	free(fname);
	CHECK(exp != NULL);
	if (exp == NULL)
		goto out;
	if (jstr(exp, "claims")) {
		claims = load_fixture(jstr(exp, "claims"));
	} else {
		fname = fc_xasprintf("%s.claims.json", name);
		claims = load_fixture(fname);
		free(fname);
	}
	CHECK(claims != NULL);
	if (json_object_get(exp, "issuer")) {
		issuer_from_json(json_object_get(exp, "issuer"), &inline_iss);
		iss = &inline_iss;
	} else if (jstr(exp, "config_issuer")) {
		iss = config_issuer(jstr(exp, "config_issuer"));
	} else if (jstr(exp, "config_meta")) {
		/* a meta match: the concrete issuer takes the token's iss */
		const struct cfg_issuer *m = config_meta(jstr(exp, "config_meta"));
		if (m) {
			meta_iss = *m;
			meta_iss.issuer_url = (char *)jstr(claims, "iss");
			iss = &meta_iss;
		}
	}
	CHECK(iss != NULL);
	if (claims == NULL || iss == NULL)
		goto out;

	st = oidc_principal_build(shipped, iss, claims, id, &err);
	if (st != FC_OK)
		fprintf(stderr, "%s: %s: %s\n", name, fc_strerror(st), err.msg);
	CHECK(st == FC_OK);
	if (st != FC_OK)
		goto out;
	CHECK_STR(id->issuer_type, jstr(exp, "issuer_type"));
	CHECK_STR(san_type_name(id->san_type), jstr(exp, "san_type"));
	CHECK_STR(id->san, jstr(exp, "san"));
	CHECK_STR(id->pop_subject, jstr(exp, "pop_subject"));
	CHECK_STR(id->issuer, jstr(claims, "iss"));
	CHECK_STR(id->subject, jstr(claims, "sub"));

	json_t *want = json_object_get(exp, "extensions");
	if (id->n_extensions != json_array_size(want))
		fprintf(stderr, "%s: %zu extensions, want %zu\n", name, id->n_extensions,
			json_array_size(want));
	CHECK(id->n_extensions == json_array_size(want));
	for (size_t i = 0; i < json_array_size(want) && i < id->n_extensions; i++) {
		json_t *w = json_array_get(want, i);
		const char *enc = id->extensions[i].encoding == OIDC_EXT_RAW ? "raw" : "utf8";
		CHECK_STR(id->extensions[i].oid, jstr(w, "oid"));
		CHECK_STR(id->extensions[i].value, jstr(w, "value"));
		CHECK_STR(enc, jstr(w, "encoding"));
	}
out:
	oidc_identity_free(id);
	json_decref(claims);
	json_decref(exp);
}

/* --- refusals ---------------------------------------------------------------- */

/* Build from claims under cfg; expect status want and a message with msg. */
static void refuse_cfg(const struct cfg_identity *cfg, const struct cfg_issuer *iss, json_t *claims,
		       enum fc_status want, const char *msg)
{
	struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
	struct fc_err err = {0};
	enum fc_status st = oidc_principal_build(cfg, iss, claims, id, &err);

	if (st != want)
		fprintf(stderr, "got %s (%s), want %s\n", fc_strerror(st), err.msg,
			fc_strerror(want));
	CHECK(st == want);
	CHECK(err.status == want);
	CHECK_CONTAINS(err.msg, msg);
	/* nothing is written on failure */
	CHECK(id->san == NULL && id->pop_subject == NULL && id->extensions == NULL &&
	      id->issuer_type == NULL);
	oidc_identity_free(id);
}

static void refuse(const struct cfg_issuer *iss, json_t *claims, enum fc_status want,
		   const char *msg)
{
	refuse_cfg(shipped, iss, claims, want, msg);
}

static json_t *claims_of(const char *file)
{
	json_t *c = load_fixture(file);

	CHECK(c != NULL);
	return c ? c : json_object();
}

static void test_email_refusals(void)
{
	struct cfg_issuer iss = {.type = CFG_TYPE_EMAIL,
				 .type_name = (char *)"email",
				 .issuer_url = (char *)"https://accounts.google.com"};
	json_t *c = claims_of("email-google.claims.json");

	json_object_set_new(c, "email_verified", json_false());
	refuse(&iss, c, FC_EAUTH, "email_verified is false for \"alice@example.com\"");
	json_object_set_new(c, "email_verified", json_string("false"));
	refuse(&iss, c, FC_EAUTH, "email_verified is \"false\" for \"alice@example.com\"");
	json_object_set_new(c, "email_verified", json_string("yes"));
	refuse(&iss, c, FC_EAUTH, "email_verified is \"yes\"");
	json_object_set_new(c, "email_verified", json_integer(1));
	refuse(&iss, c, FC_EAUTH, "email_verified is a number");
	json_object_del(c, "email_verified");
	refuse(&iss, c, FC_EAUTH, "email_verified is missing for \"alice@example.com\"");

	/* SkipEmailVerification accepts an unverified address */
	{
		struct cfg_issuer skip = iss;
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		skip.skip_email_verification = true;
		json_object_set_new(c, "email_verified", json_false());
		CHECK(oidc_principal_build(NULL, &skip, c, id, &err) == FC_OK);
		CHECK_STR(id->san, "alice@example.com");
		oidc_identity_free(id);
	}

	json_object_set_new(c, "email_verified", json_true());
	json_object_set_new(c, "email", json_integer(42));
	refuse(&iss, c, FC_EAUTH, "claim \"email\" is a number, not a string");
	json_object_set_new(c, "email", json_string("alice@example"));
	refuse(&iss, c, FC_EAUTH, "email \"alice@example\" is not a valid email address");
	json_object_set_new(c, "email", json_string("alice example.com"));
	refuse(&iss, c, FC_EAUTH, "is not a valid email address");
	json_object_set_new(c, "email", json_string("alice@-example.com"));
	refuse(&iss, c, FC_EAUTH, "is not a valid email address");
	json_object_set_new(c, "email", json_string("alice..b@example.com"));
	refuse(&iss, c, FC_EAUTH, "is not a valid email address");
	json_object_del(c, "email");
	refuse(&iss, c, FC_EAUTH, "token has no email claim");
	json_decref(c);

	/* Dex: IssuerClaim must resolve */
	struct cfg_issuer dex = iss;
	dex.issuer_url = (char *)"https://oauth2.sigstore.dev/auth";
	dex.issuer_claim = (char *)"$.federated_claims.connector_id";
	c = claims_of("email-dex.claims.json");
	json_object_del(json_object_get(c, "federated_claims"), "connector_id");
	refuse(&dex, c, FC_EAUTH, "issuer claim $.federated_claims.connector_id");
	json_decref(c);
}

static void test_email_syntax(void)
{
	/* accepted by govalidator.IsEmail, and so by Fulcio */
	static const char *const good[] = {
		"a@b.co",
		"first.last+tag@sub.example.com",
		"x@example.com.",
		"\"john doe\"@example.com",
		"o'brien@example.ie",
		"user@xn--bcher-kva.example",
		"a_b@c_d.example.com",
	};
	static const char *const bad[] = {
		"a@b",
		"@example.com",
		"a@.com",
		"a@example.c0",
		"a@example.1com",
		"a.@example.com",
		".a@example.com",
		"a@example..com",
		"a@example.com..",
		"a@exa mple.com",
	};
	struct cfg_issuer iss = {.type = CFG_TYPE_EMAIL,
				 .type_name = (char *)"email",
				 .issuer_url = (char *)"https://accounts.google.com"};
	json_t *c = claims_of("email-google.claims.json");

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		json_object_set_new(c, "email", json_string(good[i]));
		if (oidc_principal_build(NULL, &iss, c, id, &err) != FC_OK)
			fprintf(stderr, "refused %s: %s\n", good[i], err.msg);
		CHECK(err.status == FC_OK);
		oidc_identity_free(id);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_set_new(c, "email", json_string(bad[i]));
		refuse(&iss, c, FC_EAUTH, "is not a valid email address");
	}
	json_decref(c);
}

static void test_username_uri_spiffe_refusals(void)
{
	struct cfg_issuer user = {.type = CFG_TYPE_USERNAME,
				  .type_name = (char *)"username",
				  .issuer_url = (char *)"https://accounts.example.com",
				  .subject_domain = (char *)"example.com"};
	struct cfg_issuer uri = user;
	struct cfg_issuer spiffe = {.type = CFG_TYPE_SPIFFE,
				    .type_name = (char *)"spiffe",
				    .issuer_url = (char *)"https://oidc-discovery.example.org",
				    .spiffe_trust_domain = (char *)"example.org"};
	json_t *c = claims_of("username.claims.json");

	json_object_set_new(c, "sub", json_string("alice!evil.com"));
	refuse(&user, c, FC_EAUTH, "username \"alice!evil.com\" cannot contain ! character");
	json_object_set_new(c, "sub", json_string("alice@example.com"));
	refuse(&user, c, FC_EAUTH, "cannot be an email address");

	uri.type = CFG_TYPE_URI;
	uri.type_name = (char *)"uri";
	uri.subject_domain = (char *)"https://example.com";
	json_object_set_new(c, "sub", json_string("https://evil.com/users/alice"));
	refuse(&uri, c, FC_EAUTH,
	       "subject hostname (evil.com) must match expected domain (example.com)");
	json_object_set_new(c, "sub", json_string("https://sub.example.com/alice"));
	refuse(&uri, c, FC_EAUTH, "subject hostname (sub.example.com)");
	json_object_set_new(c, "sub", json_string("http://example.com/alice"));
	refuse(&uri, c, FC_EAUTH,
	       "subject URI scheme (http) must match expected domain URI scheme (https)");
	json_object_set_new(c, "sub", json_string("alice@example.com"));
	refuse(&uri, c, FC_EAUTH, "should not be an email address");
	json_object_set_new(c, "sub", json_string("https://example.com/a\nb"));
	refuse(&uri, c, FC_EAUTH, "invalid control character");
	/* a port does not change the hostname; the SAN is Go's url.String() */
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		json_object_set_new(c, "sub", json_string("HTTPS://example.com:8443/users/a b"));
		CHECK(oidc_principal_build(NULL, &uri, c, id, &err) == FC_OK);
		CHECK_STR(id->san, "https://example.com:8443/users/a%20b");
		CHECK_STR(id->pop_subject, "HTTPS://example.com:8443/users/a b");
		oidc_identity_free(id);
	}
	json_decref(c);

	c = claims_of("spiffe.claims.json");
	json_object_set_new(c, "sub", json_string("spiffe://other.org/ns/prod/sa/builder"));
	refuse(&spiffe, c, FC_EAUTH,
	       "spiffe ID trust domain other.org doesn't match configured trust domain "
	       "example.org");
	static const char *const bad_ids[] = {
		"https://example.org/ns",
		"spiffe://Example.org/ns",
		"spiffe://example.org/a//b",
		"spiffe://example.org/a/",
		"spiffe://example.org/./a",
		"spiffe://example.org/a/..",
		"spiffe:///a",
		"spiffe://example.org/a b",
		"",
	};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		json_object_set_new(c, "sub", json_string(bad_ids[i]));
		refuse(&spiffe, c, FC_EAUTH, "invalid spiffe ID provided");
	}
	/* a bare trust domain is a valid SPIFFE ID */
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		json_object_set_new(c, "sub", json_string("spiffe://example.org"));
		CHECK(oidc_principal_build(NULL, &spiffe, c, id, &err) == FC_OK);
		CHECK_STR(id->san, "spiffe://example.org");
		oidc_identity_free(id);
	}
	json_decref(c);
}

static void test_k8s_chainguard_refusals(void)
{
	struct cfg_issuer k8s = {.type = CFG_TYPE_KUBERNETES,
				 .type_name = (char *)"kubernetes",
				 .issuer_url = (char *)"https://kubernetes.default.svc"};
	struct cfg_issuer cg = {.type = CFG_TYPE_CHAINGUARD_IDENTITY,
				.type_name = (char *)"chainguard-identity",
				.issuer_url = (char *)"https://issuer.enforce.dev"};
	json_t *c = claims_of("kubernetes.claims.json");

	json_object_set_new(c, "kubernetes.io", json_string("default"));
	refuse(&k8s, c, FC_EAUTH, "claim \"kubernetes.io\" is a string, not an object");
	json_decref(c);

	c = claims_of("chainguard.claims.json");
	/* with an email, the PoP is the email, which must be verified */
	json_object_set_new(c, "email", json_string("carol@example.com"));
	refuse(&cg, c, FC_EAUTH, "email_verified is missing for \"carol@example.com\"");
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		json_object_set_new(c, "email_verified", json_true());
		CHECK(oidc_principal_build(NULL, &cg, c, id, &err) == FC_OK);
		CHECK_STR(id->pop_subject, "carol@example.com");
		CHECK_STR(id->san, "https://issuer.enforce.dev/"
				   "8a3f2bd74ecd3ee5a25ae2b85e8d7a0d24d4c7e3/b1c2d3e4f5a6b7c8");
		oidc_identity_free(id);
	}
	json_object_set_new(c, "act", json_pack("{s:i}", "iss", 1));
	refuse(&cg, c, FC_EAUTH, "claim \"iss\" is a number, not a string");
	json_object_del(c, "act");
	json_object_del(c, "email");
	json_object_del(c, "sub");
	refuse(&cg, c, FC_EAUTH, "no subject found in claims");
	json_decref(c);
}

static void test_ci_type_refusals(void)
{
	struct cfg_issuer gh = {.type = CFG_TYPE_GITHUB_WORKFLOW,
				.type_name = (char *)"github-workflow",
				.issuer_url =
					(char *)"https://token.actions.githubusercontent.com"};
	struct cfg_issuer gl = {.type = CFG_TYPE_GITLAB_PIPELINE,
				.type_name = (char *)"gitlab-pipeline",
				.issuer_url = (char *)"https://gitlab.com"};
	struct cfg_issuer bk = {.type = CFG_TYPE_BUILDKITE_JOB,
				.type_name = (char *)"buildkite-job",
				.issuer_url = (char *)"https://agent.buildkite.com"};
	struct cfg_issuer cf = {.type = CFG_TYPE_CODEFRESH_WORKFLOW,
				.type_name = (char *)"codefresh-workflow",
				.issuer_url = (char *)"https://oidc.codefresh.io"};
	json_t *c = claims_of("github-actions.claims.json");

	json_object_del(c, "job_workflow_ref");
	refuse(&gh, c, FC_EAUTH, "claim \"job_workflow_ref\" is missing");
	json_object_set_new(c, "job_workflow_ref", json_string(""));
	refuse(&gh, c, FC_EAUTH, "claim \"job_workflow_ref\" is empty");
	json_object_set_new(c, "job_workflow_ref",
			    json_string("o/r/.github/workflows/a b.yml@refs/heads/x"));
	json_object_del(c, "repository_visibility");
	refuse(&gh, c, FC_EAUTH, "claim \"repository_visibility\" is missing");
	json_object_set_new(c, "repository_visibility", json_string("private"));
	json_object_set_new(c, "run_id", json_integer(42));
	refuse(&gh, c, FC_EAUTH, "claim \"run_id\" is a number, not a string");
	/* URLs are built as Go's url.JoinPath + String() build them */
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		json_object_set_new(c, "run_id", json_string("42"));
		json_object_set_new(c, "repository", json_string("o/r/../x"));
		CHECK(oidc_principal_build(NULL, &gh, c, id, &err) == FC_OK);
		CHECK_STR(id->san,
			  "https://github.com/o/r/.github/workflows/a%20b.yml@refs/heads/x");
		CHECK(id->n_extensions > 10);
		for (size_t i = 0; i < id->n_extensions; i++) {
			if (strcmp(id->extensions[i].oid, "1.3.6.1.4.1.57264.1.12") == 0)
				CHECK_STR(id->extensions[i].value, "https://github.com/o/x");
			if (strcmp(id->extensions[i].oid, "1.3.6.1.4.1.57264.1.5") == 0)
				CHECK_STR(id->extensions[i].value, "o/r/../x");
		}
		oidc_identity_free(id);
	}
	json_decref(c);

	c = claims_of("gitlab.claims.json");
	json_object_set_new(c, "ref_type", json_string("merge_request"));
	refuse(&gl, c, FC_EAUTH, "unexpected ref_type \"merge_request\"");
	json_object_set_new(c, "ref_type", json_string("tag"));
	json_object_set_new(c, "runner_id", json_integer(0));
	refuse(&gl, c, FC_EAUTH, "claim \"runner_id\" is 0");
	json_object_del(c, "runner_id");
	refuse(&gl, c, FC_EAUTH, "claim \"runner_id\" is missing");
	json_object_set_new(c, "runner_id", json_string("12"));
	refuse(&gl, c, FC_EAUTH, "claim \"runner_id\" is a string, not an integer");
	json_object_set_new(c, "runner_id", json_integer(12));
	json_object_del(c, "project_path");
	refuse(&gl, c, FC_EAUTH, "claim \"project_path\" is missing");
	json_object_set_new(c, "project_path", json_string("cpanato/testing-cosign"));
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		CHECK(oidc_principal_build(NULL, &gl, c, id, &err) == FC_OK);
		for (size_t i = 0; i < id->n_extensions; i++) {
			if (strcmp(id->extensions[i].oid, "1.3.6.1.4.1.57264.1.14") == 0)
				CHECK_STR(id->extensions[i].value, "refs/tags/main");
		}
		oidc_identity_free(id);
	}
	json_decref(c);

	c = claims_of("buildkite.claims.json");
	json_object_del(c, "pipeline_slug");
	refuse(&bk, c, FC_EAUTH, "claim \"pipeline_slug\" is missing");
	json_decref(c);

	c = claims_of("codefresh.claims.json");
	json_object_del(c, "workflow_id");
	refuse(&cf, c, FC_EAUTH, "claim \"workflow_id\" is missing");
	json_object_set_new(c, "workflow_id", json_string("w1"));
	json_object_del(c, "platform_url");
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		CHECK(oidc_principal_build(NULL, &cf, c, id, &err) == FC_OK);
		CHECK_STR(id->san, "https://g.codefresh.io/codefresh-account/oidc-test/get-token:"
				   "628a80b693a15c0f9c13ab75/65e5a53e52853dc51a5b0cc1");
		oidc_identity_free(id);
	}
	json_decref(c);
}

static void test_ci_provider_refusals(void)
{
	const struct cfg_issuer *gh = config_issuer("https://token.actions.githubusercontent.com");
	const struct cfg_issuer *cf = config_issuer("https://oidc.codefresh.io");
	json_t *c;

	CHECK(gh != NULL && cf != NULL);
	if (gh == NULL || cf == NULL)
		return;
	c = claims_of("github-actions.claims.json");
	json_object_del(c, "job_workflow_ref");
	refuse(gh, c, FC_EINPUT, "job_workflow_ref");
	json_decref(c);

	c = claims_of("github-actions.claims.json");
	json_object_del(c, "repository_visibility");
	refuse(gh, c, FC_EINPUT, "claim \"repository_visibility\" is missing");
	json_decref(c);

	/* an optional claim with a default in the shipped config */
	{
		struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
		struct fc_err err = {0};
		c = claims_of("github-actions.claims.json");
		json_object_del(c, "environment");
		CHECK(oidc_principal_build(shipped, gh, c, id, &err) == FC_OK);
		for (size_t i = 0; i < id->n_extensions; i++)
			CHECK(strcmp(id->extensions[i].oid, "1.3.6.1.4.1.57264.1.23") != 0);
		oidc_identity_free(id);
		json_decref(c);
	}

	c = claims_of("codefresh.claims.json");
	json_object_del(c, "workflow_id");
	refuse(cf, c, FC_EINPUT, "workflow_id");
	json_decref(c);

	struct cfg_issuer none = *gh;
	none.ci_provider = (char *)"no-such-provider";
	c = claims_of("github-actions.claims.json");
	refuse(&none, c, FC_EINPUT, "metadata not found for ci provider no-such-provider");
	json_decref(c);
}

/* Claims flattened as Fulcio HEAD's mapValuesToString does. */
static void test_ci_flatten(void)
{
	struct cfg_kv tmpl[] = {
		{(char *)"BuildSignerURI", (char *)"{{ .f_whole }}|{{ .f_frac }}|{{ .f_big }}"},
		{(char *)"BuildSignerDigest", (char *)"i_big"},
		{(char *)"RunnerEnvironment", (char *)"{{ .b }}|{{ .n }}|{{ .tiny }}"},
		{(char *)"SourceRepositoryURI", (char *)"arr"},
		{(char *)"SourceRepositoryDigest", (char *)"obj"},
		{(char *)"SourceRepositoryRef", (char *)"dflt"},
		{(char *)"SourceRepositoryIdentifier", (char *)"over"},
		{(char *)"Issuer", (char *)"not-a-claim"},
		{(char *)"Subject", (char *)"not-a-claim"},
		/* the whole merged map, as Go ranges over it (sorted keys) */
		{(char *)"BuildTrigger",
		 (char *)"{{ range $k, $v := . }}{{ if or (eq $k \"dflt\") "
			 "(eq $k \"over\") }}{{ $k }}={{ $v }};{{ end }}{{ end }}"},
	};
	struct cfg_kv defaults[] = {{(char *)"dflt", (char *)"from-default"},
				    {(char *)"over", (char *)"default-loses"}};
	struct cfg_ci_provider prov = {
		.name = (char *)"flat",
		.defaults = defaults,
		.n_defaults = 2,
		.extension_templates = tmpl,
		.n_extension_templates = sizeof(tmpl) / sizeof(tmpl[0]),
		.san_template = (char *)"https://ci.example.com/{{ .sub }}",
	};
	struct cfg_identity cfg = {.ci = &prov, .n_ci = 1};
	struct cfg_issuer iss = {.type = CFG_TYPE_CI_PROVIDER,
				 .type_name = (char *)"ci-provider",
				 .issuer_url = (char *)"https://ci.example.com",
				 .ci_provider = (char *)"flat"};
	json_t *c = json_pack("{s:s, s:s, s:f, s:f, s:f, s:I, s:b, s:n, s:f, s:[s,i,f,f], "
			      "s:{s:i, s:s, s:{s:b}}, s:s}",
			      "iss", "https://ci.example.com", "sub", "job/7", "f_whole", 1.0,
			      "f_frac", 1.4, "f_big", 1753000000.0, "i_big", (json_int_t)1000000,
			      "b", 1, "n", "tiny", 0.0000001, "arr", "a", 1, 1e6, 2.5e-5, "obj",
			      "z", 2, "a", "x", "m", "t", 0, "over", "claim-wins");
	struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
	struct fc_err err = {0};
	static const char *const want[][2] = {
		{"1.3.6.1.4.1.57264.1.1", "https://ci.example.com"},
		{"1.3.6.1.4.1.57264.1.8", "https://ci.example.com"},
		{"1.3.6.1.4.1.57264.1.9", "1|1.4|1753000000"},
		{"1.3.6.1.4.1.57264.1.10", "1000000"},
		{"1.3.6.1.4.1.57264.1.11", "true|<nil>|0.0000001"},
		{"1.3.6.1.4.1.57264.1.12", "[a 1 1e+06 2.5e-05]"},
		{"1.3.6.1.4.1.57264.1.13", "map[a:x m:map[t:false] z:2]"},
		{"1.3.6.1.4.1.57264.1.14", "from-default"},
		{"1.3.6.1.4.1.57264.1.15", "claim-wins"},
		{"1.3.6.1.4.1.57264.1.20", "dflt=from-default;over=claim-wins;"},
		{"1.3.6.1.4.1.57264.1.24", "job/7"},
	};

	CHECK(c != NULL);
	if (oidc_principal_build(&cfg, &iss, c, id, &err) != FC_OK)
		fprintf(stderr, "flatten: %s\n", err.msg);
	CHECK(err.status == FC_OK);
	CHECK_STR(id->san, "https://ci.example.com/job/7");
	CHECK(id->n_extensions == sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < id->n_extensions && i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_STR(id->extensions[i].oid, want[i][0]);
		CHECK_STR(id->extensions[i].value, want[i][1]);
	}
	oidc_identity_free(id);

	/* an empty SAN, and a template key missing from claims and defaults */
	prov.san_template = (char *)"{{ .empty }}";
	json_object_set_new(c, "empty", json_string(""));
	refuse_cfg(&cfg, &iss, c, FC_EINPUT, "SAN template renders empty");
	prov.san_template = (char *)"https://ci.example.com/{{ .nope }}";
	refuse_cfg(&cfg, &iss, c, FC_EINPUT, "map has no entry for key \"nope\"");
	prov.san_template = (char *)"  ";
	refuse_cfg(&cfg, &iss, c, FC_EINPUT, "SubjectAlternativeNameTemplate should not be empty");
	prov.san_template = (char *)"https://ci.example.com/{{ .sub }}";
	tmpl[1].value = (char *)"no_such_claim";
	refuse_cfg(&cfg, &iss, c, FC_EINPUT,
		   "ci-provider flat: BuildSignerDigest: claim \"no_such_claim\" is missing");
	json_decref(c);
}

static void test_claims_path(void)
{
	json_t *c = json_pack("{s:{s:s, s:i}, s:s}", "federated_claims", "connector_id",
			      "https://github.com/login/oauth", "user_id", 5, "top", "v");

	CHECK_STR(oidc_claims_path(c, "$.federated_claims.connector_id"),
		  "https://github.com/login/oauth");
	CHECK_STR(oidc_claims_path(c, ".federated_claims.connector_id"),
		  "https://github.com/login/oauth");
	CHECK_STR(oidc_claims_path(c, "$.top"), "v");
	CHECK(oidc_claims_path(c, "$.federated_claims.user_id") == NULL);
	CHECK(oidc_claims_path(c, "$.federated_claims") == NULL);
	CHECK(oidc_claims_path(c, "$.missing.x") == NULL);
	CHECK(oidc_claims_path(c, "$..top") == NULL);
	CHECK(oidc_claims_path(c, "top") == NULL);
	CHECK(oidc_claims_path(c, "$") == NULL);
	json_decref(c);
}

int main(void)
{
	static const char *const cases[] = {
		"email-google",
		"email-dex",
		"email-cognito",
		"username",
		"uri",
		"spiffe",
		"kubernetes",
		"github-workflow",
		"gitlab-pipeline",
		"buildkite-job",
		"codefresh-workflow",
		"chainguard-identity",
		"ci-github",
		"ci-gitlab",
		"ci-buildkite",
		"ci-codefresh",
		"ci-circleci",
	};
	struct fc_err err = {0};
	char *path = data_path("config/fulcio-shipped.yaml");

	fc_log_set_level(LOG_WARNING);
	if (cfg_identity_load_file(path, &shipped, &err) != FC_OK)
		fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
	CHECK(shipped != NULL);
	free(path);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i]);
	test_email_refusals();
	test_email_syntax();
	test_username_uri_spiffe_refusals();
	test_k8s_chainguard_refusals();
	test_ci_type_refusals();
	test_ci_provider_refusals();
	test_ci_flatten();
	test_claims_path();
	cfg_identity_free(shipped);
	return check_exit();
}
