/*
 * claims.c: what every principal builder needs and nothing above it: the
 * Sigstore extension table, setting a principal's extensions and URI SAN,
 * reading claims with the types Fulcio's Go structs give them, the IA5
 * check Go's x509 encoder applies, and the $.a.b claim paths of
 * IssuerClaim.
 *
 * The principal files call in one direction: principal.c (the dispatch
 * over identity types) calls principal_basic.c and principal_ci.c (the
 * builders), which call this file; this file calls only gourl.c.
 */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "principal_int.h"

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

/* --- extensions and SAN ------------------------------------------------------ */

/*
 * Set extension f of p to a copy of v (NULL: absent), freeing what was
 * there. p owns the copy; the dispatcher frees it with p.
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

/*
 * Set the extensions listed in map from the claim values v (v[map[i].claim]
 * for extension map[i].f), as copies p owns.
 */
void oidc_ext_from_claims(struct oidc_principal *p, const struct oidc_ext_claim *map, size_t n,
			  const char *const *v)
{
	for (size_t i = 0; i < n; i++)
		oidc_ext_set(p, map[i].f, v[map[i].claim]);
}

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
	free(p->san);
	p->san = s;
	return oidc_check_ia5("SAN URI", s, err);
}

/*
 * The common ending of the types whose SAN is a URI and whose PoP subject is
 * the token's sub (uri, spiffe, kubernetes, buildkite-job): PoP sub, issuer
 * extension the token's iss, SAN uri as oidc_principal_set_uri_san() makes
 * it. Returns what oidc_principal_set_uri_san() returns; p owns the strings.
 */
enum fc_status oidc_principal_uri_subject(const struct oidc_build_ctx *c, struct oidc_principal *p,
					  const char *uri, struct fc_err *err)
{
	p->pop = fc_xstrdup(c->subject);
	oidc_ext_set(p, EXT_ISSUER, c->issuer);
	return oidc_principal_set_uri_san(p, uri, err);
}

/* --- claims ------------------------------------------------------------------ */

/*
 * The JSON type of v with its article ("a string", "an object", ...), for
 * refusal messages. Returns a static string.
 */
const char *oidc_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

/* What a claim of JSON type t must be, for refusal messages. */
static const char *wanted_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT: return "an object";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	default: return "something else";
	}
}

/*
 * A claim Go decodes into a field of JSON type `type` (string, object,
 * integer): absent or null reads as the zero value (*out NULL), any other
 * type makes json.Unmarshal (and so the request) fail. Returns FC_OK with
 * *out pointing into obj or NULL, else FC_EAUTH with the reason in err.
 * Nothing to free.
 */
enum fc_status oidc_claim_get(const json_t *obj, const char *name, json_type type,
			      const json_t **out, struct fc_err *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return FC_OK;
	/* A number read as a double (a document holding an integer beyond
	 * int64, see jws.c) still counts as an integer when it is one. */
	if (type == JSON_INTEGER && json_is_real(v) &&
	    json_real_value(v) == trunc(json_real_value(v)) && fabs(json_real_value(v)) < 9.2e18) {
		*out = v;
		return FC_OK;
	}
	if (json_typeof(v) != type)
		return fc_err_set(err, FC_EAUTH, "claim \"%s\" is %s, not %s", name,
				  oidc_json_type_name(v), wanted_name(type));
	*out = v;
	return FC_OK;
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
	const json_t *v;
	enum fc_status st = oidc_claim_get(obj, name, JSON_STRING, &v, err);

	*out = v != NULL ? json_string_value(v) : "";
	return st;
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
 * The string claims names[0..n) of claims, read in order as
 * oidc_claim_str() reads each into v[i]. FC_OK, else the first refusal
 * (FC_EAUTH, reason in err). Nothing to free.
 */
enum fc_status oidc_claims_read(const json_t *claims, const char *const *names, size_t n,
				const char **v, struct fc_err *err)
{
	enum fc_status st;

	for (size_t i = 0; i < n; i++) {
		if ((st = oidc_claim_str(claims, names[i], &v[i], err)) != FC_OK)
			return st;
	}
	return FC_OK;
}

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
