/*
 * Internals shared by the principal files, which call in one direction:
 * principal.c (the dispatch over identity types and the extension
 * rendering) calls the builders in principal_basic.c (email, username, uri,
 * spiffe, kubernetes, chainguard) and principal_ci.c (the CI types), which
 * call the helpers in claims.c. Only oidc/principal*.c and oidc/claims.c
 * include this header.
 */
#ifndef FULCRUM_OIDC_PRINCIPAL_INT_H
#define FULCRUM_OIDC_PRINCIPAL_INT_H

#include <jansson.h>

#include "oidc_int.h"

/* --- the Sigstore extensions, in pkg/certificate Render() order -------------- */

enum oidc_ext_field {
	EXT_ISSUER = 0, /* 1.1 raw, and 1.8 DER after the legacy GitHub ones */
	EXT_GH_TRIGGER,
	EXT_GH_SHA,
	EXT_GH_NAME,
	EXT_GH_REPOSITORY,
	EXT_GH_REF,
	EXT_BUILD_SIGNER_URI,
	EXT_BUILD_SIGNER_DIGEST,
	EXT_RUNNER_ENVIRONMENT,
	EXT_SOURCE_REPOSITORY_URI,
	EXT_SOURCE_REPOSITORY_DIGEST,
	EXT_SOURCE_REPOSITORY_REF,
	EXT_SOURCE_REPOSITORY_IDENTIFIER,
	EXT_SOURCE_REPOSITORY_OWNER_URI,
	EXT_SOURCE_REPOSITORY_OWNER_IDENTIFIER,
	EXT_BUILD_CONFIG_URI,
	EXT_BUILD_CONFIG_DIGEST,
	EXT_BUILD_TRIGGER,
	EXT_RUN_INVOCATION_URI,
	EXT_SOURCE_REPOSITORY_VISIBILITY,
	EXT_DEPLOYMENT_ENVIRONMENT,
	EXT_SUBJECT,
	EXT_N
};

/* Go field name of certificate.Extensions (the ExtensionTemplates key) and
 * OID, indexed by enum oidc_ext_field (defined in claims.c). Fields
 * before EXT_BUILD_SIGNER_URI are raw, the others DER. */
extern const struct oidc_ext_name {
	const char *field;
	const char *oid;
} oidc_ext_fields[EXT_N];

/* What a builder produces; owned strings, NULL or "" meaning absent. */
struct oidc_principal {
	enum oidc_san_type san_type;
	char *san;
	char *pop;
	char *ext[EXT_N];
};

/* What a builder reads; nothing owned. */
struct oidc_build_ctx {
	const struct cfg_identity *cfg;
	const struct cfg_issuer *iss;
	const json_t *claims;
	const char *issuer;  /* token iss */
	const char *subject; /* token sub, "" if absent */
};

/* --- claims.c: helpers for the builders ------------------------------------------ */

void oidc_ext_set(struct oidc_principal *p, enum oidc_ext_field f, const char *v);
void oidc_ext_set_owned(struct oidc_principal *p, enum oidc_ext_field f, char *v);

/* An extension copied from a claim: claim is an index into the claim
 * values a builder read (with oidc_claims_read). */
struct oidc_ext_claim {
	enum oidc_ext_field f;
	int claim;
};
void oidc_ext_from_claims(struct oidc_principal *p, const struct oidc_ext_claim *map, size_t n,
			  const char *const *v);

enum fc_status oidc_check_ia5(const char *what, const char *v, struct fc_err *err);
enum fc_status oidc_principal_set_uri_san(struct oidc_principal *p, const char *uri,
					  struct fc_err *err);
enum fc_status oidc_principal_uri_subject(const struct oidc_build_ctx *c, struct oidc_principal *p,
					  const char *uri, struct fc_err *err);

const char *oidc_json_type_name(const json_t *v);
enum fc_status oidc_claim_get(const json_t *obj, const char *name, json_type type,
			      const json_t **out, struct fc_err *err);
enum fc_status oidc_claim_str(const json_t *obj, const char *name, const char **out,
			      struct fc_err *err);
enum fc_status oidc_claim_required(const json_t *obj, const char *name, const char **out,
				   struct fc_err *err);
enum fc_status oidc_claims_read(const json_t *claims, const char *const *names, size_t n,
				const char **v, struct fc_err *err);

/* --- the builders, one per identity type --------------------------------------------- */

/*
 * Each fills p from c (SAN, PoP subject, extensions) as the Fulcio source
 * named at its definition does. FC_OK, else FC_EAUTH (a claim refused) or
 * FC_EINPUT (no certificate can be made) with the reason in err; p may then
 * hold partial results, which the caller clears.
 */

/* principal_basic.c */
enum fc_status oidc_principal_email(const struct oidc_build_ctx *c, struct oidc_principal *p,
				    struct fc_err *err);
enum fc_status oidc_principal_username(const struct oidc_build_ctx *c, struct oidc_principal *p,
				       struct fc_err *err);
enum fc_status oidc_principal_uri(const struct oidc_build_ctx *c, struct oidc_principal *p,
				  struct fc_err *err);
enum fc_status oidc_principal_spiffe(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err);
enum fc_status oidc_principal_kubernetes(const struct oidc_build_ctx *c, struct oidc_principal *p,
					 struct fc_err *err);
enum fc_status oidc_principal_chainguard(const struct oidc_build_ctx *c, struct oidc_principal *p,
					 struct fc_err *err);

/* principal_ci.c */
enum fc_status oidc_principal_github(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err);
enum fc_status oidc_principal_gitlab(const struct oidc_build_ctx *c, struct oidc_principal *p,
				     struct fc_err *err);
enum fc_status oidc_principal_buildkite(const struct oidc_build_ctx *c, struct oidc_principal *p,
					struct fc_err *err);
enum fc_status oidc_principal_codefresh(const struct oidc_build_ctx *c, struct oidc_principal *p,
					struct fc_err *err);
enum fc_status oidc_principal_ci_provider(const struct oidc_build_ctx *c, struct oidc_principal *p,
					  struct fc_err *err);

#endif /* FULCRUM_OIDC_PRINCIPAL_INT_H */
