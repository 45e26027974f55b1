/*
 * principal_basic.c: the principals of the identity types that are not CI
 * jobs: email, username, uri, spiffe, kubernetes and chainguard-identity,
 * each following Fulcio's pkg/identity/<type>/principal.go. Each builder
 * reads the verified claims through claims.c and fills a struct
 * oidc_principal; principal.c picks the builder and renders the result.
 */
#include <stdlib.h>
#include <string.h>

#include "principal_int.h"

static bool is_empty(const char *s)
{
	return s == NULL || *s == '\0';
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

/*
 * The email type (Fulcio pkg/identity/email): SAN and PoP subject the
 * verified email claim; the issuer extension the token's iss, or the claim
 * IssuerClaim names. FC_OK, else FC_EAUTH (no email, not verified, not an
 * address, IssuerClaim missing) or FC_EINPUT (not IA5) with the reason in
 * err. The strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_email(const struct oidc_build_ctx *c, struct oidc_principal *p,
				    struct fc_err *err)
{
	const char *email, *issuer = c->issuer;
	enum fc_status st;

	if ((st = oidc_claim_str(c->claims, "email", &email, err)) != FC_OK)
		return st;
	if (*email == '\0')
		return fc_err_set(err, FC_EAUTH,
				  "token has no email claim (email issuers need one)");
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

/*
 * The username type (Fulcio pkg/identity/username): SAN the otherName
 * "sub!SubjectDomain", PoP subject the bare sub. FC_OK, else FC_EAUTH (sub
 * holds a '!' or is an email address) or FC_EINPUT (no SubjectDomain) with
 * the reason in err. The strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_username(const struct oidc_build_ctx *c, struct oidc_principal *p,
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

/*
 * The uri type (Fulcio pkg/identity/uri): sub is the URI SAN, with the same
 * scheme and exact hostname as SubjectDomain. FC_OK, else FC_EAUTH (sub is
 * an email address, not a URI, or of another scheme or host) or FC_EINPUT
 * (SubjectDomain does not parse, SAN not IA5) with the reason in err. The
 * strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_uri(const struct oidc_build_ctx *c, struct oidc_principal *p,
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
		st = fc_err_set(
			err, FC_EAUTH,
			"subject URI scheme (%s) must match expected domain URI scheme (%s)",
			sub.scheme, dom.scheme);
		goto out;
	}
	sh = oidc_url_hostname(&sub);
	dh = oidc_url_hostname(&dom);
	if (strcmp(sh, dh) != 0) {
		st = fc_err_set(err, FC_EAUTH,
				"subject hostname (%s) must match expected domain (%s)", sh, dh);
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

/*
 * The spiffe type (Fulcio pkg/identity/spiffe): sub, a SPIFFE ID in the
 * configured SPIFFETrustDomain, is the URI SAN. FC_OK, else FC_EAUTH (sub
 * not a SPIFFE ID, or of another trust domain) or FC_EINPUT (the configured
 * trust domain does not parse, SAN not IA5) with the reason in err. The
 * strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_spiffe(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err)
{
	char *want = NULL, *got = NULL;
	enum fc_status st;

	if (!cfg_spiffe_trust_domain_parse(
		    c->iss->spiffe_trust_domain ? c->iss->spiffe_trust_domain : "", &want)) {
		st = fc_err_set(err, FC_EINPUT,
				"unable to parse trust domain from configuration %s",
				c->iss->spiffe_trust_domain);
		goto out;
	}
	if (!cfg_spiffe_id_parse(c->subject, &got)) {
		st = fc_err_set(err, FC_EAUTH, "invalid spiffe ID provided: %s", c->subject);
		goto out;
	}
	if (strcmp(got, want) != 0) {
		st = fc_err_set(
			err, FC_EAUTH,
			"spiffe ID trust domain %s doesn't match configured trust domain %s", got,
			c->iss->spiffe_trust_domain);
		goto out;
	}
	st = oidc_principal_uri_subject(c, p, c->subject, err);
out:
	free(want);
	free(got);
	return st;
}

/*
 * The kubernetes type (Fulcio pkg/identity/kubernetes): SAN
 * https://kubernetes.io/namespaces/{ns}/serviceaccounts/{name} from the
 * "kubernetes.io" claim, whose names are not checked for emptiness (as in
 * Fulcio). FC_OK, else FC_EAUTH (a member of the wrong type) or FC_EINPUT
 * (SAN not IA5) with the reason in err. The strings put in p are freed by
 * the caller (with p).
 */
enum fc_status oidc_principal_kubernetes(const struct oidc_build_ctx *c, struct oidc_principal *p,
					 struct fc_err *err)
{
	const json_t *k8s, *sa, *pod;
	const char *ns = "", *name = "", *ignored;
	enum fc_status st;
	char *uri;

	if ((st = oidc_claim_get(c->claims, "kubernetes.io", JSON_OBJECT, &k8s, err)) != FC_OK)
		return st;
	if (k8s != NULL) {
		if ((st = oidc_claim_str(k8s, "namespace", &ns, err)) != FC_OK ||
		    (st = oidc_claim_get(k8s, "serviceaccount", JSON_OBJECT, &sa, err)) != FC_OK ||
		    (st = oidc_claim_get(k8s, "pod", JSON_OBJECT, &pod, err)) != FC_OK)
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

/*
 * The chainguard-identity type (Fulcio pkg/identity/chainguard): SAN
 * {iss}/{sub}; PoP subject as sigstore's oauthflow.SubjectFromToken: the
 * email if present (then it must be verified), else sub. FC_OK, else
 * FC_EAUTH (a claim of the wrong type, email not verified, no subject) or
 * FC_EINPUT (iss does not parse, SAN not IA5) with the reason in err. The
 * strings put in p are freed by the caller (with p).
 */
enum fc_status oidc_principal_chainguard(const struct oidc_build_ctx *c, struct oidc_principal *p,
					 struct fc_err *err)
{
	const json_t *act, *internal, *v;
	const char *email, *ignored, *k, *why = NULL;
	enum fc_status st;

	if ((st = oidc_claim_get(c->claims, "act", JSON_OBJECT, &act, err)) != FC_OK ||
	    (st = oidc_claim_get(c->claims, "internal", JSON_OBJECT, &internal, err)) != FC_OK)
		return st;
	if (act != NULL) {
		json_object_foreach((json_t *)act, k, v)
		{
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
