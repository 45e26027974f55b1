/*
 * principal.c: verified token claims to exactly what Fulcio puts in the
 * certificate: the SAN, the Sigstore extensions (1.3.6.1.4.1.57264.1.x, in
 * Fulcio's order and encoding) and the string the client signs as proof of
 * possession (Fulcio's principal Name()).
 *
 * One builder per identity type, each following Fulcio's
 * pkg/identity/<type>/principal.go; pkg/identity/ciprovider/principal.go for
 * the templated CI providers; pkg/certificate/extensions.go for the order of
 * the extensions. Signature, iss, aud and exp were checked by verify.c.
 *
 * This file holds the dispatcher, the extension assembly, the claim helpers
 * and the simple types (email, username, uri, spiffe, kubernetes,
 * chainguard); principal_ci.c the CI types; gourl.c the Go net/url port
 * every URI SAN goes through; email.c govalidator's email check.
 */
#include <stdlib.h>
#include <string.h>

#include "principal_int.h"

/* --- the Sigstore extensions, in pkg/certificate Render() order -------------- */

#define OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8"

/* Go field name of certificate.Extensions (the ExtensionTemplates key) and
 * OID, per enum oidc_ext_field (declared in principal_int.h). */
const struct oidc_ext_name oidc_ext_fields[EXT_N] = {
	[EXT_ISSUER] = {"Issuer", "1.3.6.1.4.1.57264.1.1"},
	[EXT_GH_TRIGGER] = {"GithubWorkflowTrigger", "1.3.6.1.4.1.57264.1.2"},
	[EXT_GH_SHA] = {"GithubWorkflowSHA", "1.3.6.1.4.1.57264.1.3"},
	[EXT_GH_NAME] = {"GithubWorkflowName", "1.3.6.1.4.1.57264.1.4"},
	[EXT_GH_REPOSITORY] = {"GithubWorkflowRepository", "1.3.6.1.4.1.57264.1.5"},
	[EXT_GH_REF] = {"GithubWorkflowRef", "1.3.6.1.4.1.57264.1.6"},
	[EXT_BUILD_SIGNER_URI] = {"BuildSignerURI", "1.3.6.1.4.1.57264.1.9"},
	[EXT_BUILD_SIGNER_DIGEST] = {"BuildSignerDigest", "1.3.6.1.4.1.57264.1.10"},
	[EXT_RUNNER_ENVIRONMENT] = {"RunnerEnvironment", "1.3.6.1.4.1.57264.1.11"},
	[EXT_SOURCE_REPOSITORY_URI] = {"SourceRepositoryURI", "1.3.6.1.4.1.57264.1.12"},
	[EXT_SOURCE_REPOSITORY_DIGEST] = {"SourceRepositoryDigest", "1.3.6.1.4.1.57264.1.13"},
	[EXT_SOURCE_REPOSITORY_REF] = {"SourceRepositoryRef", "1.3.6.1.4.1.57264.1.14"},
	[EXT_SOURCE_REPOSITORY_IDENTIFIER] = {"SourceRepositoryIdentifier",
					      "1.3.6.1.4.1.57264.1.15"},
	[EXT_SOURCE_REPOSITORY_OWNER_URI] = {"SourceRepositoryOwnerURI", "1.3.6.1.4.1.57264.1.16"},
	[EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER] = {"SourceRepositoryOwnerIdentifier",
						    "1.3.6.1.4.1.57264.1.17"},
	[EXT_BUILD_CONFIG_URI] = {"BuildConfigURI", "1.3.6.1.4.1.57264.1.18"},
	[EXT_BUILD_CONFIG_DIGEST] = {"BuildConfigDigest", "1.3.6.1.4.1.57264.1.19"},
	[EXT_BUILD_TRIGGER] = {"BuildTrigger", "1.3.6.1.4.1.57264.1.20"},
	[EXT_RUN_INVOCATION_URI] = {"RunInvocationURI", "1.3.6.1.4.1.57264.1.21"},
	[EXT_SOURCE_REPOSITORY_VISIBILITY] = {"SourceRepositoryVisibilityAtSigning",
					      "1.3.6.1.4.1.57264.1.22"},
	[EXT_DEPLOYMENT_ENVIRONMENT] = {"DeploymentEnvironment", "1.3.6.1.4.1.57264.1.23"},
	[EXT_SUBJECT] = {"Subject", "1.3.6.1.4.1.57264.1.24"},
};

static void principal_clear(struct oidc_principal *p)
{
	free(p->san);
	free(p->pop);
	for (size_t i = 0; i < EXT_N; i++)
		free(p->ext[i]);
	memset(p, 0, sizeof(*p));
}

static void replace(char **dst, char *src)
{
	free(*dst);
	*dst = src;
}

/*
 * Set extension f of p to a copy of v (NULL: absent), freeing what was
 * there. p owns the copy; principal_clear() frees it.
 */
void oidc_ext_set(struct oidc_principal *p, enum oidc_ext_field f, const char *v)
{
	free(p->ext[f]);
	p->ext[f] = v ? fc_xstrdup(v) : NULL;
}

/*
 * Set extension f of p to v itself (NULL: absent), freeing what was there.
 * p takes ownership of v.
 */
void oidc_ext_set_owned(struct oidc_principal *p, enum oidc_ext_field f, char *v)
{
	free(p->ext[f]);
	p->ext[f] = v;
}

static bool is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Render as certificate.Extensions.Render() does: 1.1, 1.2-1.6 raw, 1.8 and
 * later as DER UTF8String, empty values left out. The values move from p
 * to *out (the issuer, which appears twice, is copied once). */
static void render_extensions(struct oidc_principal *p, struct oidc_extension **out,
			      size_t *n_out)
{
	struct oidc_extension *e = fc_xcalloc(EXT_N + 1, sizeof(*e));
	size_t n = 0;

	for (size_t f = 0; f < EXT_N; f++) {
		if (f == EXT_BUILD_SIGNER_URI) {
			e[n].oid = OID_ISSUER_V2;
			e[n].value = p->ext[EXT_ISSUER] ? p->ext[EXT_ISSUER] : fc_xstrdup("");
			p->ext[EXT_ISSUER] = NULL;
			e[n].encoding = OIDC_EXT_UTF8;
			n++;
		}
		if (is_empty(p->ext[f]))
			continue;
		e[n].oid = oidc_ext_fields[f].oid;
		if (f == EXT_ISSUER) {
			e[n].value = fc_xstrdup(p->ext[f]);
		} else {
			e[n].value = p->ext[f];
			p->ext[f] = NULL;
		}
		e[n].encoding = f < EXT_BUILD_SIGNER_URI ? OIDC_EXT_RAW : OIDC_EXT_UTF8;
		n++;
	}
	*out = e;
	*n_out = n;
}

/* --- claims ------------------------------------------------------------------ */

/*
 * The JSON type of v with its article ("a string", "an object", ...), for
 * refusal messages. Returns a static string.
 */
const char *oidc_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/*
 * A claim Fulcio decodes into a Go string field: absent or null reads as "",
 * any other non-string makes json.Unmarshal (and so the request) fail.
 * Returns FC_OK with *out pointing into obj (or at a static ""), else
 * FC_EAUTH with the reason in err. Nothing to free.
 */
enum fc_status oidc_claim_str(const json_t *obj, const char *name, const char **out,
			      struct fc_err *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = "";
	if (v == NULL || json_is_null(v))
		return FC_OK;
	if (!json_is_string(v))
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s, not a string", name,
				  oidc_json_type_name(v));
	*out = json_string_value(v);
	return FC_OK;
}

/*
 * A claim Fulcio requires to be a non-empty string (its principals' "claim
 * ... is missing / empty" checks). FC_OK with *out pointing into obj, else
 * FC_EAUTH with the reason in err. Nothing to free.
 */
enum fc_status oidc_claim_required(const json_t *obj, const char *name, const char **out,
				   struct fc_err *err)
{
	enum fc_status st = oidc_claim_str(obj, name, out, err);

	if (st != FC_OK)
		return st;
	if (**out == '\0')
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s", name,
				  json_object_get(obj, name) ? "empty" : "missing");
	return FC_OK;
}

/*
 * email_verified as sigstore's oauthflow reads it: JSON true, or the strings
 * "true" / "True". Absent, false, "false" and any other string are "not
 * verified"; a number, array or object is refused outright.
 */
static enum fc_status email_verified(const json_t *claims, const char *email, struct fc_err *err)
{
	const json_t *v = json_object_get(claims, "email_verified");

	if (v == NULL || json_is_null(v))
		return fc_err_set(err, FC_EAUTH, "email_verified is missing for \"%s\"", email);
	if (json_is_true(v))
		return FC_OK;
	if (json_is_false(v))
		return fc_err_set(err, FC_EAUTH, "email_verified is false for \"%s\"", email);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
			return FC_OK;
		return fc_err_set(err, FC_EAUTH, "email_verified is \"%s\" for \"%s\"", s, email);
	}
	return fc_err_set(err, FC_EAUTH, "email_verified is %s, not a boolean, for \"%s\"",
			  oidc_json_type_name(v), email);
}

/* --- the SAN ------------------------------------------------------------------- */

static bool is_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/*
 * Every SAN goes through Go's x509 encoder, which wants IA5 strings for
 * rfc822Name and URI (RFC 5280 4.2.1.6); Fulcio then fails the request.
 * FC_OK if v is ASCII, else FC_EINPUT naming `what` and v in err.
 */
enum fc_status oidc_check_ia5(const char *what, const char *v, struct fc_err *err)
{
	if (!is_ascii(v))
		return fc_err_set(err, FC_EINPUT, "%s \"%s\" cannot be encoded as an IA5String",
				  what, v);
	return FC_OK;
}

/*
 * Make uri, as url.Parse(uri).String() prints it, the URI SAN of p (Fulcio
 * puts a *url.URL in the certificate). FC_OK, else FC_EINPUT (does not parse,
 * or not IA5) with the reason in err. p owns the SAN.
 */
enum fc_status oidc_principal_set_uri_san(struct oidc_principal *p, const char *uri,
					  struct fc_err *err)
{
	const char *why = NULL;
	char *s = oidc_url_normalize(uri, &why);

	if (s == NULL)
		return fc_err_set(err, FC_EINPUT, "SAN URI \"%s\" does not parse: %s", uri, why);
	p->san_type = OIDC_SAN_URI;
	replace(&p->san, s);
	return oidc_check_ia5("SAN URI", s, err);
}

/*
 * The common ending of the types whose SAN is a URI and whose PoP subject is
 * the token's sub (uri, spiffe, kubernetes, buildkite-job): PoP sub, issuer
 * extension the token's iss, SAN uri as oidc_principal_set_uri_san() makes
 * it. Returns what oidc_principal_set_uri_san() returns; p owns the strings.
 */
enum fc_status oidc_principal_uri_subject(const struct oidc_build_ctx *c,
					  struct oidc_principal *p, const char *uri,
					  struct fc_err *err)
{
	p->pop = fc_xstrdup(c->subject);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	return oidc_principal_set_uri_san(p, uri, err);
}

/* --- JSONPath ------------------------------------------------------------------------ */

/*
 * Evaluate a JSONPath of the form $.a.b.c (or .a.b.c) on claims; returns the
 * string value or NULL if absent or not a string.
 */
const char *oidc_claims_path(const json_t *claims, const char *path)
{
	const json_t *cur = claims;
	const char *p = path;

	if (claims == NULL || path == NULL)
		return NULL;
	if (*p == '$')
		p++;
	if (*p != '.')
		return NULL;
	while (*p == '.') {
		const char *seg = ++p;
		size_t n = strcspn(seg, ".");
		if (n == 0 || !json_is_object(cur))
			return NULL;
		char stack[128], *key = n < sizeof(stack) ? stack : fc_xstrndup(seg, n);

		if (key == stack) {
			memcpy(stack, seg, n);
			stack[n] = '\0';
		}
		cur = json_object_get(cur, key);
		if (key != stack)
			free(key);
		if (cur == NULL)
			return NULL;
		p = seg + n;
	}
	if (*p != '\0')
		return NULL;
	return json_string_value(cur);
}

/* --- the identity types --------------------------------------------------------------- */

/* pkg/identity/email */
static enum fc_status build_email(const struct oidc_build_ctx *c, struct oidc_principal *p,
				  struct fc_err *err)
{
	const char *email, *issuer = c->issuer;
	enum fc_status st;

	if ((st = oidc_claim_str(c->claims, "email", &email, err)) != FC_OK)
		return st;
	if (*email == '\0')
		return fc_err_set(err, FC_EAUTH, "token has no email claim (email issuers need one)");
	if (!c->iss->skip_email_verification &&
	    (st = email_verified(c->claims, email, err)) != FC_OK)
		return st;
	if (!oidc_is_email(email))
		return fc_err_set(err, FC_EAUTH, "email \"%s\" is not a valid email address",
				  email);
	if (!is_empty(c->iss->issuer_claim)) {
		issuer = oidc_claims_path(c->claims, c->iss->issuer_claim);
		if (issuer == NULL)
			return fc_err_set(err, FC_EAUTH,
					  "issuer claim %s is missing or not a string",
					  c->iss->issuer_claim);
	}
	p->san_type = OIDC_SAN_EMAIL;
	p->san = fc_xstrdup(email);
	p->pop = fc_xstrdup(email);
	oidc_ext_set(p, EXT_ISSUER, issuer);
	return oidc_check_ia5("email", email, err);
}

/* pkg/identity/username: SAN otherName "user!domain", PoP the bare name. */
static enum fc_status build_username(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err)
{
	if (strchr(c->subject, '!') != NULL)
		return fc_err_set(err, FC_EAUTH, "username \"%s\" cannot contain ! character",
				  c->subject);
	if (oidc_is_email(c->subject))
		return fc_err_set(err, FC_EAUTH, "username \"%s\" cannot be an email address",
				  c->subject);
	if (is_empty(c->iss->subject_domain))
		return fc_err_set(err, FC_EINPUT, "issuer %s has no SubjectDomain", c->issuer);
	p->san_type = OIDC_SAN_USERNAME;
	p->san = fc_xasprintf("%s!%s", c->subject, c->iss->subject_domain);
	p->pop = fc_xstrdup(c->subject);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	return FC_OK;
}

/* pkg/identity/uri: same scheme and exact hostname as SubjectDomain. */
static enum fc_status build_uri(const struct oidc_build_ctx *c, struct oidc_principal *p,
				struct fc_err *err)
{
	struct oidc_url sub, dom;
	const char *why = NULL;
	enum fc_status st = FC_EAUTH;
	char *sh = NULL, *dh = NULL;

	oidc_url_init(&sub);
	oidc_url_init(&dom);
	if (oidc_is_email(c->subject)) {
		st = fc_err_set(err, FC_EAUTH, "uri subject \"%s\" should not be an email address",
				c->subject);
		goto out;
	}
	oidc_url_free(&sub);
	if (!oidc_url_parse(c->subject, &sub, &why)) {
		st = fc_err_set(err, FC_EAUTH, "subject \"%s\" is not a URI: %s", c->subject, why);
		goto out;
	}
	oidc_url_free(&dom);
	if (!oidc_url_parse(c->iss->subject_domain ? c->iss->subject_domain : "", &dom, &why)) {
		st = fc_err_set(err, FC_EINPUT, "SubjectDomain \"%s\" is not a URI: %s",
				c->iss->subject_domain, why);
		goto out;
	}
	if (strcmp(sub.scheme, dom.scheme) != 0) {
		st = fc_err_set(err, FC_EAUTH,
				"subject URI scheme (%s) must match expected domain URI scheme (%s)",
				sub.scheme, dom.scheme);
		goto out;
	}
	sh = oidc_url_hostname(&sub);
	dh = oidc_url_hostname(&dom);
	if (strcmp(sh, dh) != 0) {
		st = fc_err_set(err, FC_EAUTH, "subject hostname (%s) must match expected domain (%s)",
				sh, dh);
		goto out;
	}
	st = oidc_principal_uri_subject(c, p, c->subject, err);
out:
	free(sh);
	free(dh);
	oidc_url_free(&sub);
	oidc_url_free(&dom);
	return st;
}

/* pkg/identity/spiffe */
static enum fc_status build_spiffe(const struct oidc_build_ctx *c, struct oidc_principal *p,
				   struct fc_err *err)
{
	char *want = NULL, *got = NULL;
	enum fc_status st;

	if (!cfg_spiffe_trust_domain_parse(
		    c->iss->spiffe_trust_domain ? c->iss->spiffe_trust_domain : "", &want)) {
		st = fc_err_set(err, FC_EINPUT, "unable to parse trust domain from configuration %s",
				c->iss->spiffe_trust_domain);
		goto out;
	}
	if (!cfg_spiffe_id_parse(c->subject, &got)) {
		st = fc_err_set(err, FC_EAUTH, "invalid spiffe ID provided: %s", c->subject);
		goto out;
	}
	if (strcmp(got, want) != 0) {
		st = fc_err_set(err, FC_EAUTH,
				"spiffe ID trust domain %s doesn't match configured trust domain %s",
				got, c->iss->spiffe_trust_domain);
		goto out;
	}
	st = oidc_principal_uri_subject(c, p, c->subject, err);
out:
	free(want);
	free(got);
	return st;
}

/* An object member Go decodes into a struct: absent or null is fine. */
static enum fc_status claim_obj(const json_t *obj, const char *name, const json_t **out,
				struct fc_err *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return FC_OK;
	if (!json_is_object(v))
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s, not an object", name,
				  oidc_json_type_name(v));
	*out = v;
	return FC_OK;
}

/* pkg/identity/kubernetes: names from the "kubernetes.io" claim, not
 * checked for emptiness (as in Fulcio). */
static enum fc_status build_kubernetes(const struct oidc_build_ctx *c, struct oidc_principal *p,
				       struct fc_err *err)
{
	const json_t *k8s, *sa, *pod;
	const char *ns = "", *name = "", *ignored;
	enum fc_status st;
	char *uri;

	if ((st = claim_obj(c->claims, "kubernetes.io", &k8s, err)) != FC_OK)
		return st;
	if (k8s != NULL) {
		if ((st = oidc_claim_str(k8s, "namespace", &ns, err)) != FC_OK ||
		    (st = claim_obj(k8s, "serviceaccount", &sa, err)) != FC_OK ||
		    (st = claim_obj(k8s, "pod", &pod, err)) != FC_OK)
			return st;
		if (sa != NULL && ((st = oidc_claim_str(sa, "name", &name, err)) != FC_OK ||
				   (st = oidc_claim_str(sa, "uid", &ignored, err)) != FC_OK))
			return st;
		if (pod != NULL && ((st = oidc_claim_str(pod, "name", &ignored, err)) != FC_OK ||
				    (st = oidc_claim_str(pod, "uid", &ignored, err)) != FC_OK))
			return st;
	}
	uri = fc_xasprintf("https://kubernetes.io/namespaces/%s/serviceaccounts/%s", ns, name);
	st = oidc_principal_uri_subject(c, p, uri, err);
	free(uri);
	return st;
}

/* pkg/identity/chainguard: SAN {iss}/{sub}; PoP as sigstore's
 * oauthflow.SubjectFromToken: the email if present (then it must be
 * verified), else sub. */
static enum fc_status build_chainguard(const struct oidc_build_ctx *c, struct oidc_principal *p,
				       struct fc_err *err)
{
	const json_t *act, *internal, *v;
	const char *email, *ignored, *k, *why = NULL;
	enum fc_status st;

	if ((st = claim_obj(c->claims, "act", &act, err)) != FC_OK ||
	    (st = claim_obj(c->claims, "internal", &internal, err)) != FC_OK)
		return st;
	if (act != NULL) {
		json_object_foreach((json_t *)act, k, v) {
			if ((st = oidc_claim_str(act, k, &ignored, err)) != FC_OK)
				return st;
		}
	}
	if (internal != NULL &&
	    (st = oidc_claim_str(internal, "service-principal", &ignored, err)) != FC_OK)
		return st;
	if ((st = oidc_claim_str(c->claims, "email", &email, err)) != FC_OK)
		return st;
	if (*email != '\0') {
		if ((st = email_verified(c->claims, email, err)) != FC_OK)
			return st;
		p->pop = fc_xstrdup(email);
	} else if (*c->subject != '\0') {
		p->pop = fc_xstrdup(c->subject);
	} else {
		return fc_err_set(err, FC_EAUTH, "no subject found in claims");
	}
	const char *elems[] = {c->subject};
	p->san = oidc_url_join(c->issuer, elems, 1, &why);
	if (p->san == NULL)
		return fc_err_set(err, FC_EINPUT, "issuer \"%s\" does not parse: %s", c->issuer,
				  why);
	p->san_type = OIDC_SAN_URI;
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	return oidc_check_ia5("SAN URI", p->san, err);
}

/* --- entry point ------------------------------------------------------------------------ */

/*
 * Build the principal for issuer `iss` from verified claims (see oidc_int.h).
 * Fills id->issuer_type, san_type, san, pop_subject and extensions (and
 * issuer / subject when still NULL) only on success. FC_EAUTH when the token
 * is refused on its identity, FC_EINPUT when no certificate can be made from
 * it; the reason, naming the claim and its value, goes to err.
 */
enum fc_status oidc_principal_build(const struct cfg_identity *cfg, const struct cfg_issuer *iss,
				    const json_t *claims, struct oidc_identity *id,
				    struct fc_err *err)
{
	struct oidc_principal p = {0};
	struct fc_err why = {0};
	struct oidc_build_ctx c;
	enum fc_status st;
	const char *type_name;

	c.cfg = cfg;
	c.iss = iss;
	c.claims = claims;
	c.issuer = json_string_value(json_object_get(claims, "iss"));
	if (c.issuer == NULL)
		c.issuer = iss->issuer_url ? iss->issuer_url : "";
	c.subject = json_string_value(json_object_get(claims, "sub"));
	if (c.subject == NULL)
		c.subject = "";

	switch (iss->type) {
	case CFG_TYPE_EMAIL:
		st = build_email(&c, &p, &why);
		break;
	case CFG_TYPE_USERNAME:
		st = build_username(&c, &p, &why);
		break;
	case CFG_TYPE_URI:
		st = build_uri(&c, &p, &why);
		break;
	case CFG_TYPE_SPIFFE:
		st = build_spiffe(&c, &p, &why);
		break;
	case CFG_TYPE_KUBERNETES:
		st = build_kubernetes(&c, &p, &why);
		break;
	case CFG_TYPE_GITHUB_WORKFLOW:
		st = oidc_principal_github(&c, &p, &why);
		break;
	case CFG_TYPE_GITLAB_PIPELINE:
		st = oidc_principal_gitlab(&c, &p, &why);
		break;
	case CFG_TYPE_BUILDKITE_JOB:
		st = oidc_principal_buildkite(&c, &p, &why);
		break;
	case CFG_TYPE_CODEFRESH_WORKFLOW:
		st = oidc_principal_codefresh(&c, &p, &why);
		break;
	case CFG_TYPE_CHAINGUARD_IDENTITY:
		st = build_chainguard(&c, &p, &why);
		break;
	case CFG_TYPE_CI_PROVIDER:
		st = oidc_principal_ci_provider(&c, &p, &why);
		break;
	case CFG_TYPE_UNKNOWN:
	default:
		st = fc_err_set(&why, FC_EAUTH, "issuer %s has an unsupported type \"%s\"",
				c.issuer, iss->type_name ? iss->type_name : "");
		break;
	}
	if (st == FC_OK && is_empty(p.ext[EXT_ISSUER]))
		st = fc_err_set(&why, FC_EINPUT, "extensions must have a non-empty issuer url");
	if (st != FC_OK) {
		/* reported once, by whoever reports err */
		fc_err_set(err, st, "%s", why.msg);
		goto out;
	}
	oidc_ext_set(&p, EXT_SUBJECT, c.subject);

	type_name = iss->type_name ? iss->type_name : cfg_issuer_type_name(iss->type);
	free(id->issuer_type);
	id->issuer_type = fc_xstrdup(type_name ? type_name : "");
	if (id->issuer == NULL)
		id->issuer = fc_xstrdup(c.issuer);
	if (id->subject == NULL)
		id->subject = fc_xstrdup(c.subject);
	id->san_type = p.san_type;
	replace(&id->san, p.san);
	p.san = NULL;
	replace(&id->pop_subject, p.pop);
	p.pop = NULL;
	for (size_t i = 0; i < id->n_extensions; i++)
		free(id->extensions[i].value);
	free(id->extensions);
	render_extensions(&p, &id->extensions, &id->n_extensions);
	st = FC_OK;
out:
	principal_clear(&p);
	return st;
}
