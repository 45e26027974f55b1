/*
 * principal_ci.c: the principals of the CI identity types: the deprecated
 * per-provider types (github-workflow, gitlab-pipeline, buildkite-job,
 * codefresh-workflow; Fulcio's pkg/identity/<provider>/principal.go) and
 * the templated ci-provider type (pkg/identity/ciprovider/principal.go),
 * whose templates see the token's claims flattened to strings as Go
 * prints them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "principal_int.h"

/* --- the deprecated per-provider CI types ------------------------------------------- */

/* The constant bases of the GitHub and GitLab URLs, parsed once (they always
 * parse) and then only read, by any number of threads. */
static struct oidc_url github_base, gitlab_base;
static pthread_once_t bases_once = PTHREAD_ONCE_INIT;

static void bases_parse(void)
{
	const char *why = NULL;

	(void)oidc_url_parse("https://github.com/", &github_base, &why);
	(void)oidc_url_parse("https://gitlab.com/", &gitlab_base, &why);
}

static const struct oidc_url *github_url(void)
{
	pthread_once(&bases_once, bases_parse);
	return &github_base;
}

static const struct oidc_url *gitlab_url(void)
{
	pthread_once(&bases_once, bases_parse);
	return &gitlab_base;
}

/*
 * The deprecated github-workflow type (Fulcio pkg/identity/github): SAN the
 * job workflow ref under https://github.com/, the legacy 1.2-1.6 extensions
 * and the 1.9-1.22 ones, every claim required. FC_OK, else FC_EAUTH (a claim
 * missing or not a string) or FC_EINPUT (SAN not IA5) with the reason in err.
 * The strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_github(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err)
{
	static const char *const names[] = {
		"job_workflow_ref",
		"sha",
		"event_name",
		"repository",
		"workflow",
		"ref",
		"job_workflow_sha",
		"runner_environment",
		"repository_id",
		"repository_owner",
		"repository_owner_id",
		"repository_visibility",
		"workflow_ref",
		"workflow_sha",
		"run_id",
		"run_attempt",
	};
	enum {
		JOB_WORKFLOW_REF,
		SHA,
		EVENT_NAME,
		REPOSITORY,
		WORKFLOW,
		REF,
		JOB_WORKFLOW_SHA,
		RUNNER_ENV,
		REPOSITORY_ID,
		REPOSITORY_OWNER,
		REPOSITORY_OWNER_ID,
		REPOSITORY_VISIBILITY,
		WORKFLOW_REF,
		WORKFLOW_SHA,
		RUN_ID,
		RUN_ATTEMPT,
		N
	};
	static const struct oidc_ext_claim exts[] = {
		{EXT_GH_TRIGGER, EVENT_NAME},
		{EXT_GH_SHA, SHA},
		{EXT_GH_NAME, WORKFLOW},
		{EXT_GH_REPOSITORY, REPOSITORY},
		{EXT_GH_REF, REF},
		{EXT_BUILD_SIGNER_DIGEST, JOB_WORKFLOW_SHA},
		{EXT_RUNNER_ENVIRONMENT, RUNNER_ENV},
		{EXT_SOURCE_REPOSITORY_DIGEST, SHA},
		{EXT_SOURCE_REPOSITORY_REF, REF},
		{EXT_SOURCE_REPOSITORY_IDENTIFIER, REPOSITORY_ID},
		{EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER, REPOSITORY_OWNER_ID},
		{EXT_BUILD_CONFIG_DIGEST, WORKFLOW_SHA},
		{EXT_BUILD_TRIGGER, EVENT_NAME},
		{EXT_SOURCE_REPOSITORY_VISIBILITY, REPOSITORY_VISIBILITY},
	};
	const char *v[N];
	enum fc_status st;

	if ((st = oidc_claims_read(c->claims, names, N, v, err)) != FC_OK)
		return st;
	/* oidc_claim_required's check, on the values already read. */
	for (size_t i = 0; i < N; i++) {
		if (*v[i] == '\0')
			return oidc_claim_required(c->claims, names[i], &v[i], err);
	}
	const struct oidc_url *base = github_url();
	const char *e1[] = {v[JOB_WORKFLOW_REF]};
	const char *e2[] = {v[REPOSITORY]};
	const char *e3[] = {v[REPOSITORY_OWNER]};
	const char *e4[] = {v[WORKFLOW_REF]};
	const char *e5[] = {v[REPOSITORY], "actions/runs", v[RUN_ID], "attempts", v[RUN_ATTEMPT]};

	p->san_type = OIDC_SAN_URI;
	p->san = oidc_url_join_parsed(base, e1, 1);
	p->pop = fc_xstrdup(c->subject);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	oidc_ext_from_claims(p, exts, sizeof(exts) / sizeof(exts[0]), v);
	oidc_ext_set(p, EXT_BUILD_SIGNER_URI, p->san);
	oidc_ext_set_owned(p, EXT_SOURCE_REPOSITORY_URI, oidc_url_join_parsed(base, e2, 1));
	oidc_ext_set_owned(p, EXT_SOURCE_REPOSITORY_OWNER_URI, oidc_url_join_parsed(base, e3, 1));
	oidc_ext_set_owned(p, EXT_BUILD_CONFIG_URI, oidc_url_join_parsed(base, e4, 1));
	oidc_ext_set_owned(p, EXT_RUN_INVOCATION_URI, oidc_url_join_parsed(base, e5, 5));
	return oidc_check_ia5("SAN URI", p->san, err);
}

/*
 * GitLab's ref as a git ref: refs/heads/<ref> for a branch, refs/tags/<ref>
 * for a tag. FC_OK and *out (caller frees), else FC_EAUTH with the reason
 * in err.
 */
static enum fc_status gitlab_ref(const char *ref_type, const char *ref, char **out,
				 struct fc_err *err)
{
	if (strcmp(ref_type, "branch") == 0)
		*out = fc_xasprintf("refs/heads/%s", ref);
	else if (strcmp(ref_type, "tag") == 0)
		*out = fc_xasprintf("refs/tags/%s", ref);
	else
		return fc_err_set(err, FC_EAUTH, "unexpected ref_type \"%s\" (want branch or tag)",
				  ref_type);
	return FC_OK;
}

/*
 * ci_config_ref_uri (which has no scheme) as an https URL: parse, force
 * https, print. FC_OK and *out (caller frees), else FC_EINPUT with the
 * reason in err.
 */
static enum fc_status gitlab_config_uri(const char *raw, char **out, struct fc_err *err)
{
	struct oidc_url u;
	const char *why = NULL;

	if (!oidc_url_parse(raw, &u, &why)) {
		oidc_url_free(&u);
		return fc_err_set(err, FC_EINPUT, "ci_config_ref_uri \"%s\" does not parse: %s",
				  raw, why);
	}
	free(u.scheme);
	u.scheme = fc_xstrdup("https");
	*out = oidc_url_string(&u);
	oidc_url_free(&u);
	return FC_OK;
}

/*
 * The deprecated gitlab-pipeline type (Fulcio pkg/identity/gitlabcom): SAN
 * ci_config_ref_uri as an https URL, extensions from the project, namespace,
 * job and ref claims. FC_OK, else FC_EAUTH (a claim missing, of the wrong
 * type, or a ref_type other than branch or tag) or FC_EINPUT (the config URI
 * does not parse, SAN not IA5) with the reason in err. The strings put in p
 * are freed by the caller (with p).
 */
enum fc_status oidc_principal_gitlab(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err)
{
	static const char *const names[] = {
		"project_path",
		"project_id",
		"pipeline_source",
		"pipeline_id",
		"ci_config_ref_uri",
		"ci_config_sha",
		"namespace_path",
		"namespace_id",
		"job_id",
		"ref",
		"ref_type",
		"sha",
		"runner_environment",
		"project_visibility",
	};
	enum {
		PROJECT_PATH,
		PROJECT_ID,
		PIPELINE_SOURCE,
		PIPELINE_ID,
		CI_CONFIG_REF_URI,
		CI_CONFIG_SHA,
		NAMESPACE_PATH,
		NAMESPACE_ID,
		JOB_ID,
		REF,
		REF_TYPE,
		SHA,
		RUNNER_ENV,
		PROJECT_VISIBILITY,
		N
	};
	/* Checked in Fulcio's order; ci_config_sha and project_visibility are
	 * optional. */
	static const int required[] = {
		PROJECT_PATH, PIPELINE_SOURCE, PIPELINE_ID,  CI_CONFIG_REF_URI, JOB_ID, REF,
		REF_TYPE,     NAMESPACE_PATH,  NAMESPACE_ID, PROJECT_ID,	SHA,	RUNNER_ENV,
	};
	static const struct oidc_ext_claim exts[] = {
		{EXT_BUILD_CONFIG_DIGEST, CI_CONFIG_SHA},
		{EXT_BUILD_SIGNER_DIGEST, CI_CONFIG_SHA},
		{EXT_RUNNER_ENVIRONMENT, RUNNER_ENV},
		{EXT_SOURCE_REPOSITORY_DIGEST, SHA},
		{EXT_SOURCE_REPOSITORY_IDENTIFIER, PROJECT_ID},
		{EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER, NAMESPACE_ID},
		{EXT_BUILD_TRIGGER, PIPELINE_SOURCE},
		{EXT_SOURCE_REPOSITORY_VISIBILITY, PROJECT_VISIBILITY},
	};
	const char *v[N];
	const json_t *runner;
	enum fc_status st;
	char *ref = NULL, *san = NULL;

	if ((st = oidc_claims_read(c->claims, names, N, v, err)) != FC_OK ||
	    (st = oidc_claim_get(c->claims, "runner_id", JSON_INTEGER, &runner, err)) != FC_OK)
		return st;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if ((st = oidc_claim_required(c->claims, names[required[i]], &v[required[i]],
					      err)) != FC_OK)
			return st;
	}
	if (runner == NULL || json_number_value(runner) == 0)
		return fc_err_set(err, FC_EAUTH, "claim \"runner_id\" is %s",
				  runner == NULL ? "missing" : "0");
	if ((st = gitlab_ref(v[REF_TYPE], v[REF], &ref, err)) != FC_OK)
		return st;
	if ((st = gitlab_config_uri(v[CI_CONFIG_REF_URI], &san, err)) != FC_OK) {
		free(ref);
		return st;
	}

	const struct oidc_url *base = gitlab_url();
	const char *e1[] = {v[PROJECT_PATH]};
	const char *e2[] = {v[NAMESPACE_PATH]};
	const char *e3[] = {v[PROJECT_PATH], "/-/jobs/", v[JOB_ID]};

	p->san_type = OIDC_SAN_URI;
	p->san = san;
	p->pop = fc_xstrdup(c->subject);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	oidc_ext_from_claims(p, exts, sizeof(exts) / sizeof(exts[0]), v);
	oidc_ext_set(p, EXT_BUILD_CONFIG_URI, san);
	oidc_ext_set(p, EXT_BUILD_SIGNER_URI, san);
	oidc_ext_set_owned(p, EXT_SOURCE_REPOSITORY_URI, oidc_url_join_parsed(base, e1, 1));
	oidc_ext_set_owned(p, EXT_SOURCE_REPOSITORY_REF, ref);
	oidc_ext_set_owned(p, EXT_SOURCE_REPOSITORY_OWNER_URI, oidc_url_join_parsed(base, e2, 1));
	oidc_ext_set_owned(p, EXT_RUN_INVOCATION_URI, oidc_url_join_parsed(base, e3, 3));
	return oidc_check_ia5("SAN URI", san, err);
}

/*
 * The deprecated buildkite-job type (Fulcio pkg/identity/buildkite): SAN
 * https://buildkite.com/{organization_slug}/{pipeline_slug}, PoP sub, only
 * the issuer extension. FC_OK, else FC_EAUTH (a slug missing) or FC_EINPUT
 * (the SAN does not parse or is not IA5) with the reason in err. The strings
 * put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_buildkite(const struct oidc_build_ctx *c, struct oidc_principal *p,
					struct fc_err *err)
{
	const char *org, *pipeline;
	enum fc_status st;
	char *uri;

	if ((st = oidc_claim_str(c->claims, "organization_slug", &org, err)) != FC_OK ||
	    (st = oidc_claim_str(c->claims, "pipeline_slug", &pipeline, err)) != FC_OK ||
	    (st = oidc_claim_required(c->claims, "organization_slug", &org, err)) != FC_OK ||
	    (st = oidc_claim_required(c->claims, "pipeline_slug", &pipeline, err)) != FC_OK)
		return st;
	uri = fc_xasprintf("https://buildkite.com/%s/%s", org, pipeline);
	st = oidc_principal_uri_subject(c, p, uri, err);
	free(uri);
	return st;
}

/*
 * The deprecated codefresh-workflow type (Fulcio pkg/identity/codefresh):
 * SAN {platform_url}/{account_name}/{pipeline_name}:{account_id}/{pipeline_id}
 * (platform_url defaulting to https://g.codefresh.io), build URLs under
 * {platform_url}/build/{workflow_id}, the build config URI
 * {platform_url}/api/pipelines/{pipeline_id} (Fulcio v1.8.8). FC_OK, else FC_EAUTH (a required id
 * missing) or FC_EINPUT (platform_url does not parse, SAN not IA5) with the
 * reason in err. The strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_codefresh(const struct oidc_build_ctx *c, struct oidc_principal *p,
					struct fc_err *err)
{
	static const char *const names[] = {
		"account_id",
		"account_name",
		"pipeline_id",
		"pipeline_name",
		"workflow_id",
		"initiator",
		"scm_repo_url",
		"scm_user_name",
		"scm_ref",
		"scm_pull_request_target_branch",
		"runner_environment",
		"platform_url",
	};
	enum {
		ACCOUNT_ID,
		ACCOUNT_NAME,
		PIPELINE_ID,
		PIPELINE_NAME,
		WORKFLOW_ID,
		INITIATOR,
		SCM_REPO_URL,
		SCM_USER_NAME,
		SCM_REF,
		SCM_PR_TARGET,
		RUNNER_ENV,
		PLATFORM_URL,
		N
	};
	const char *v[N];
	const char *why = NULL;
	enum fc_status st;
	char *seg, *build;

	if ((st = oidc_claims_read(c->claims, names, N, v, err)) != FC_OK)
		return st;
	if ((st = oidc_claim_required(c->claims, "account_id", &v[ACCOUNT_ID], err)) != FC_OK ||
	    (st = oidc_claim_required(c->claims, "pipeline_id", &v[PIPELINE_ID], err)) != FC_OK ||
	    (st = oidc_claim_required(c->claims, "workflow_id", &v[WORKFLOW_ID], err)) != FC_OK)
		return st;
	if (*v[PLATFORM_URL] == '\0')
		v[PLATFORM_URL] = "https://g.codefresh.io";

	seg = fc_xasprintf("%s:%s/%s", v[PIPELINE_NAME], v[ACCOUNT_ID], v[PIPELINE_ID]);
	const char *san_elems[] = {v[ACCOUNT_NAME], seg};
	const char *build_elems[] = {"build", v[WORKFLOW_ID]};
	const char *config_elems[] = {"api", "pipelines", v[PIPELINE_ID]};
	p->san = oidc_url_join(v[PLATFORM_URL], san_elems, 2, &why);
	free(seg);
	if (p->san == NULL)
		return fc_err_set(err, FC_EINPUT, "platform_url \"%s\" does not parse: %s",
				  v[PLATFORM_URL], why);
	p->san_type = OIDC_SAN_URI;
	p->pop = fc_xstrdup(c->subject);
	build = oidc_url_join(v[PLATFORM_URL], build_elems, 2, &why);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	oidc_ext_set(p, EXT_BUILD_SIGNER_URI, build);
	oidc_ext_set(p, EXT_RUNNER_ENVIRONMENT, v[RUNNER_ENV]);
	oidc_ext_set(p, EXT_SOURCE_REPOSITORY_URI, v[SCM_REPO_URL]);
	oidc_ext_set(p, EXT_SOURCE_REPOSITORY_REF, v[SCM_REF]);
	oidc_ext_set_owned(p, EXT_BUILD_CONFIG_URI,
			   oidc_url_join(v[PLATFORM_URL], config_elems, 3, &why));
	oidc_ext_set_owned(p, EXT_RUN_INVOCATION_URI, build);
	return oidc_check_ia5("SAN URI", p->san, err);
}

/* --- Go number and %v formatting -------------------------------------------------- */

/* Shortest decimal digits that read back as d (d > 0): digits in dig,
 * decimal point position dp (value = 0.dig x 10^dp). */
static void float_shortest(double d, char dig[32], int *nd, int *dp)
{
	char buf[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d || prec == 17)
			break;
	}
	/* buf is d.ddddde[+-]xx */
	int n = 0;
	char *e = strchr(buf, 'e');
	for (char *c = buf; c < e; c++) {
		if (*c >= '0' && *c <= '9')
			dig[n++] = *c;
	}
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	*nd = n;
	*dp = atoi(e + 1) + 1;
}

/* strconv.FormatFloat(d, 'f', -1, 64) (shortest digits, fixed notation) or,
 * with g true, Go's %v of a float64 (strconv 'g' with the shortest digits:
 * exponent form, at least two exponent digits, when the decimal exponent is
 * below -4 or at least 6). */
static void go_format_float(struct fc_buf *b, double d, bool g)
{
	char dig[32], tmp[16];
	int nd, dp;

	if (signbit(d))
		fc_buf_append_str(b, "-");
	d = fabs(d);
	if (d == 0) {
		fc_buf_append_str(b, "0");
		return;
	}
	float_shortest(d, dig, &nd, &dp);
	if (g && (dp - 1 < -4 || dp - 1 >= 6)) {
		int x = dp - 1;
		fc_buf_append(b, dig, 1);
		if (nd > 1) {
			fc_buf_append_str(b, ".");
			fc_buf_append(b, dig + 1, (size_t)nd - 1);
		}
		snprintf(tmp, sizeof(tmp), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
		fc_buf_append_str(b, tmp);
		return;
	}
	if (dp > 0) {
		for (int i = 0; i < dp; i++)
			fc_buf_append(b, i < nd ? &dig[i] : "0", 1);
	} else {
		fc_buf_append_str(b, "0");
	}
	if (nd > dp) {
		fc_buf_append_str(b, ".");
		for (int i = dp; i < nd; i++)
			fc_buf_append(b, i < 0 ? "0" : &dig[i], 1);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's fmt %v of a value decoded by encoding/json into interface{}. */
static void go_fmt_v(struct fc_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: fc_buf_append(b, json_string_value(v), json_string_length(v)); break;
	case JSON_TRUE: fc_buf_append_str(b, "true"); break;
	case JSON_FALSE: fc_buf_append_str(b, "false"); break;
	case JSON_NULL: fc_buf_append_str(b, "<nil>"); break;
	case JSON_INTEGER:
	case JSON_REAL: go_format_float(b, json_number_value(v), true); break;
	case JSON_ARRAY:
		fc_buf_append_str(b, "[");
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				fc_buf_append_str(b, " ");
			go_fmt_v(b, json_array_get(v, i));
		}
		fc_buf_append_str(b, "]");
		break;
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		const char **keys = fc_xcalloc(n + 1, sizeof(*keys));
		const char *k;
		json_t *val;
		json_object_foreach((json_t *)v, k, val) keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
		fc_buf_append_str(b, "map[");
		for (i = 0; i < n; i++) {
			if (i > 0)
				fc_buf_append_str(b, " ");
			fc_buf_append_str(b, keys[i]);
			fc_buf_append_str(b, ":");
			go_fmt_v(b, json_object_get(v, keys[i]));
		}
		fc_buf_append_str(b, "]");
		free(keys);
		break;
	}
	}
}

/*
 * A claim as the CI-provider templates see it (ciprovider mapValuesToString,
 * Fulcio HEAD): numbers are float64 in Go, printed without exponent (whole
 * numbers as integers, others with the shortest digits); strings as-is;
 * booleans true/false; null "<nil>"; arrays and objects as Go's %v prints
 * them ("[a b]", "map[k:v]" with sorted keys, nested numbers in %g form).
 */
static char *flatten_claim(const json_t *v)
{
	struct fc_buf b;

	fc_buf_init(&b, 0);
	if (json_is_number(v))
		go_format_float(&b, json_number_value(v), false);
	else
		go_fmt_v(&b, v);
	return fc_buf_steal(&b, NULL);
}

/* --- ci-provider: templates from CIIssuerMetadata ------------------------------------- */

/* The data every template of one token sees: Fulcio's map[string]string
 * of the flattened claims merged over DefaultTemplateValues (claims win),
 * as key/value pairs with the claims first (cfg_template_render_kv takes
 * the first of a repeated key). */
struct tmpl_ctx {
	const struct cfg_ci_provider *prov;
	struct cfg_kv *kv;
	size_t n;	 /* pairs in kv */
	size_t n_claims; /* the first n_claims pairs are claims (values owned) */
};

static void tmpl_ctx_init(struct tmpl_ctx *t, const json_t *claims,
			  const struct cfg_ci_provider *prov)
{
	size_t n = json_object_size(claims), i = 0;
	const char *key;
	json_t *v;

	t->prov = prov;
	t->kv = fc_xcalloc(n + prov->n_defaults, sizeof(*t->kv));
	json_object_foreach((json_t *)claims, key, v)
	{
		t->kv[i].key = (char *)key; /* borrowed from the claims */
		t->kv[i++].value = flatten_claim(v);
	}
	t->n_claims = i;
	for (size_t d = 0; d < prov->n_defaults; d++, i++) {
		t->kv[i].key = prov->defaults[d].key;
		t->kv[i].value = prov->defaults[d].value ? prov->defaults[d].value : "";
	}
	t->n = i;
}

/* A plain (non-template) name: the claim, else the default; NULL if none. */
static const char *tmpl_lookup(const struct tmpl_ctx *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->kv[i].key != NULL && strcmp(t->kv[i].key, name) == 0)
			return t->kv[i].value;
	}
	return NULL;
}

static void tmpl_ctx_free(struct tmpl_ctx *t)
{
	for (size_t i = 0; i < t->n_claims; i++)
		free(t->kv[i].value);
	free(t->kv);
}

static bool blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++) {
		if (strchr(" \t\n\v\f\r", *s) == NULL)
			return false;
	}
	return true;
}

/* applyTemplateOrReplace: a text with "{{" is a template, anything else
 * names a claim or default copied verbatim. */
static enum fc_status apply_template(struct tmpl_ctx *t, const char *field, const char *text,
				     char **out, struct fc_err *err)
{
	struct cfg_template *tmpl = NULL;
	struct fc_err terr = {0};
	enum fc_status st;

	if (strstr(text, "{{") == NULL) {
		const char *v = tmpl_lookup(t, text);
		if (v == NULL)
			return fc_err_set(err, FC_EINPUT,
					  "ci-provider %s: %s: claim \"%s\" is missing (not in the "
					  "token's claims nor in DefaultTemplateValues)",
					  t->prov->name, field, text);
		*out = fc_xstrdup(v);
		return FC_OK;
	}
	if ((st = cfg_template_parse(text, &tmpl, &terr)) != FC_OK)
		return fc_err_set(err, FC_EINPUT, "ci-provider %s: %s: template does not parse: %s",
				  t->prov->name, field, terr.msg);
	st = cfg_template_render_kv(tmpl, t->kv, t->n, out, &terr);
	cfg_template_free(tmpl);
	if (st != FC_OK)
		return fc_err_set(err, FC_EINPUT, "ci-provider %s: %s: %s", t->prov->name, field,
				  terr.msg);
	return FC_OK;
}

static const char *template_for(const struct cfg_ci_provider *prov, const char *field)
{
	for (size_t i = 0; i < prov->n_extension_templates; i++) {
		if (prov->extension_templates[i].key &&
		    strcmp(prov->extension_templates[i].key, field) == 0)
			return prov->extension_templates[i].value;
	}
	return NULL;
}

/*
 * The ci-provider type (Fulcio pkg/identity/ciprovider/principal.go): the
 * SAN and each extension rendered from the issuer's CIIssuerMetadata
 * templates over the flattened claims and DefaultTemplateValues; 1.1 is the
 * token's iss and 1.24 its sub whatever the templates say. FC_OK, else
 * FC_EINPUT (no metadata for the provider, a template that does not parse or
 * render, an empty SAN) or the status of the SAN check, with the reason in
 * err. The strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_ci_provider(const struct oidc_build_ctx *c, struct oidc_principal *p,
					  struct fc_err *err)
{
	const struct cfg_ci_provider *prov = NULL;
	struct tmpl_ctx t = {0};
	enum fc_status st;
	char *san = NULL;

	if (c->iss->ci_provider != NULL && *c->iss->ci_provider != '\0')
		prov = cfg_ci_provider_find(c->cfg, c->iss->ci_provider);
	if (prov == NULL)
		return fc_err_set(err, FC_EINPUT,
				  "metadata not found for ci provider %s, issuer: %s",
				  c->iss->ci_provider ? c->iss->ci_provider : "(none)", c->issuer);
	tmpl_ctx_init(&t, c->claims, prov);
	if (blank(prov->san_template)) {
		st = fc_err_set(
			err, FC_EINPUT,
			"ci-provider %s: SubjectAlternativeNameTemplate should not be empty",
			prov->name);
		goto out;
	}
	if ((st = apply_template(&t, "SubjectAlternativeName", prov->san_template, &san, err)) !=
	    FC_OK)
		goto out;
	if (*san == '\0') {
		st = fc_err_set(err, FC_EINPUT, "ci-provider %s: the SAN template renders empty",
				prov->name);
		goto out;
	}
	if ((st = oidc_principal_set_uri_san(p, san, err)) != FC_OK)
		goto out;
	for (size_t f = 0; f < EXT_N; f++) {
		const char *text = template_for(prov, oidc_ext_fields[f].field);
		char *v = NULL;
		if (f == EXT_ISSUER || f == EXT_SUBJECT || blank(text))
			continue;
		if ((st = apply_template(&t, oidc_ext_fields[f].field, text, &v, err)) != FC_OK)
			goto out;
		oidc_ext_set_owned(p, f, v);
	}
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	p->pop = fc_xstrdup(c->subject);
	st = FC_OK;
out:
	free(san);
	tmpl_ctx_free(&t);
	return st;
}
