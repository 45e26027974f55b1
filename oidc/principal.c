/*
 * principal.c: verified token claims to exactly what Fulcio puts in the
 * certificate: the SAN, the Sigstore extensions (1.3.6.1.4.1.57264.1.x, in
 * Fulcio's order and encoding) and the string the client signs as proof of
 * possession (Fulcio's principal Name()). Signature, iss, aud and exp were
 * checked by verify.c.
 *
 * This file is the top of the principal files: it picks the builder of the
 * issuer's identity type, checks what every type must yield, and renders
 * the extensions (pkg/certificate/extensions.go order). The builders, one
 * per type following Fulcio's pkg/identity/<type>/principal.go, are in
 * principal_basic.c (email, username, uri, spiffe, kubernetes, chainguard)
 * and principal_ci.c (the CI types); below them, claims.c holds the claim
 * and extension helpers, gourl.c the Go net/url port every URI SAN goes
 * through, email.c govalidator's email check.
 */
#include <stdlib.h>
#include <string.h>

#include "principal_int.h"

#define OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8"

/* The builder of each identity type (NULL: none; CFG_TYPE_UNKNOWN). */
static enum fc_status (*const builders[])(const struct oidc_build_ctx *c, struct oidc_principal *p,
					  struct fc_err *err) = {
	[CFG_TYPE_EMAIL] = oidc_principal_email,
	[CFG_TYPE_USERNAME] = oidc_principal_username,
	[CFG_TYPE_URI] = oidc_principal_uri,
	[CFG_TYPE_SPIFFE] = oidc_principal_spiffe,
	[CFG_TYPE_KUBERNETES] = oidc_principal_kubernetes,
	[CFG_TYPE_GITHUB_WORKFLOW] = oidc_principal_github,
	[CFG_TYPE_GITLAB_PIPELINE] = oidc_principal_gitlab,
	[CFG_TYPE_BUILDKITE_JOB] = oidc_principal_buildkite,
	[CFG_TYPE_CODEFRESH_WORKFLOW] = oidc_principal_codefresh,
	[CFG_TYPE_CHAINGUARD_IDENTITY] = oidc_principal_chainguard,
	[CFG_TYPE_CI_PROVIDER] = oidc_principal_ci_provider,
};
#define N_BUILDERS (sizeof(builders) / sizeof(builders[0]))

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

static bool is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Render as certificate.Extensions.Render() does: 1.1, 1.2-1.6 raw, 1.8 and
 * later as DER UTF8String, empty values left out. The values move from p
 * to *out (the issuer, which appears twice, is copied once). */
static void render_extensions(struct oidc_principal *p, struct oidc_extension **out, size_t *n_out)
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

	if ((size_t)iss->type < N_BUILDERS && builders[iss->type] != NULL)
		st = builders[iss->type](&c, &p, &why);
	else
		st = fc_err_set(&why, FC_EAUTH, "issuer %s has an unsupported type \"%s\"",
				c.issuer, iss->type_name ? iss->type_name : "");
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
