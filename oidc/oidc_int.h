/*
 * Internals of the oidc module, shared by its files and its unit tests.
 * No other module includes this header.
 */
#ifndef FULCRUM_OIDC_INT_H
#define FULCRUM_OIDC_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "oidc.h"

/* --- jws.c: compact JWS parsing (RFC 7515 7.1) ------------------------------ */

struct oidc_jws {
	json_t *header;        /* protected header object */
	json_t *claims;        /* payload object (RFC 7519 claims) */
	const char *alg;       /* header "alg" (points into header) */
	const char *kid;       /* header "kid" or NULL (points into header) */
	char *signing_input;   /* "<b64 header>.<b64 payload>" copy, NUL-terminated */
	size_t signing_input_len;
	uint8_t *sig;          /* decoded signature; both live in the struct's block */
	size_t sig_len;
};

/*
 * Parse a compact JWS: exactly three base64url parts, strict decoding, JSON
 * objects with duplicate keys refused, header "alg" a string in the
 * allow-list (RS/PS/ES 256/384/512, EdDSA; never none or HS*), "crit"
 * refused (we understand no extension), "b64" must not be false. Does not
 * verify anything else. FC_ETOOBIG over OIDC_MAX_TOKEN_LEN, else FC_EAUTH.
 */
enum fc_status oidc_jws_parse(const char *token, size_t len, struct oidc_jws **out,
			      struct fc_err *err);
void oidc_jws_free(struct oidc_jws *jws);

/* True if alg is one of the allowed JWS algorithms. */
bool oidc_alg_allowed(const char *alg);

/* --- jwk.c: JSON Web Keys (RFC 7517, RFC 7518 6, RFC 8037) ---------------- */

enum oidc_key_kind {
	OIDC_KEY_RSA = 1,
	OIDC_KEY_EC_P256,
	OIDC_KEY_EC_P384,
	OIDC_KEY_EC_P521,
	OIDC_KEY_ED25519,
};

struct oidc_jwk {
	char *kid;             /* may be NULL */
	char *alg;             /* declared "alg" or NULL */
	enum oidc_key_kind kind;
	EVP_PKEY *pkey;
	/* A verification context set up once for tmpl_alg (the declared alg,
	 * else the kind's usual one) and copied for each verification, which
	 * costs far less than EVP_DigestVerifyInit_ex. It is only ever read
	 * (EVP_MD_CTX_copy_ex takes it const), so threads share it
	 * (openssl-threads(7)). NULL if none: verification then sets up its
	 * own context. Owned by the key set. */
	EVP_MD_CTX *tmpl;
	const char *tmpl_alg;  /* static algorithm name, or NULL */
};

struct oidc_jwk_set {
	struct oidc_jwk *keys;
	size_t n;
};

/*
 * Parse a JWKS document. Keys that cannot verify signatures (use "enc",
 * unknown kty or crv, RSA under 2048 bits, private members present,
 * malformed values) are skipped with a LOG_DEBUG line; at most
 * OIDC_MAX_JWKS_KEYS are kept. FC_EUPSTREAM if the document is not a JWKS
 * or holds no usable key.
 */
enum fc_status oidc_jwks_parse(const char *json, size_t len, struct oidc_jwk_set **out,
			       struct fc_err *err);
void oidc_jwk_set_free(struct oidc_jwk_set *set);

/*
 * Verify jws's signature with key. The key kind must fit the algorithm
 * (RS*, PS* need RSA; ES256 P-256, ES384 P-384, ES512 P-521; EdDSA
 * Ed25519) and a declared key "alg" must equal the header alg. ES*
 * signatures are the raw r||s of RFC 7518 3.4 and are converted to DER.
 * FC_OK or FC_EAUTH with the reason.
 */
enum fc_status oidc_jws_verify(const struct oidc_jws *jws, const struct oidc_jwk *key,
			       struct fc_err *err);

/* --- fetch.c: bounded HTTP GET with libcurl ------------------------------------- */

struct oidc_http_response {
	long status;
	char *body;          /* NUL-terminated, caller frees */
	size_t len;
	int max_age_s;       /* Cache-Control max-age; 0 for no-store/no-cache (the
	                        provider clamps it up to jwks_min_ttl_s); -1 if absent */
};

/*
 * GET url with a whole-transfer timeout and a body cap (the transfer is
 * aborted as soon as the cap is passed: FC_ETOOBIG). Redirects are followed
 * only to the same origin (scheme, host, port), at most OIDC_MAX_REDIRECTS.
 * ca_pem, if non-NULL, is trusted for TLS in addition to the system roots.
 * Only http and https. FC_EUPSTREAM with the reason on any failure;
 * a non-2xx status is returned as FC_OK with resp->status set.
 */
enum fc_status oidc_http_get(const char *url, const char *ca_pem, size_t max_bytes, int timeout_ms,
			     struct oidc_http_response *resp, struct fc_err *err);
void oidc_http_response_free(struct oidc_http_response *resp);

/* --- provider.c: one issuer's discovery document and key cache -------------------- */

struct oidc_provider;

/* No I/O here. ca_pem may be NULL. opts must outlive the provider. */
struct oidc_provider *oidc_provider_new(const char *issuer_url, const char *ca_pem,
					const struct oidc_options *opts);
void oidc_provider_free(struct oidc_provider *p);

/*
 * Verify jws's signature with this issuer's keys. Runs discovery on first
 * use (the document's "issuer" must equal issuer_url exactly), fetches the
 * JWKS, and keeps keys for their TTL (Cache-Control max-age clamped to
 * [jwks_min_ttl_s, jwks_max_ttl_s], else jwks_default_ttl_s). An unknown kid
 * triggers a refetch at most once per refetch_cooldown_s; while the issuer
 * is unreachable, expired keys keep serving for stale_max_s. The alg must be
 * in discovery's id_token_signing_alg_values_supported (RS256 if absent)
 * and in our allow-list. FC_EAUTH (signature / kid / alg refused) or
 * FC_EUPSTREAM (issuer unreachable and no usable keys), reason in err.
 */
enum fc_status oidc_provider_verify(struct oidc_provider *p, const struct oidc_jws *jws,
				    struct fc_err *err);

/* Install a JWKS without fetching (tests, benchmarks): the provider then
 * behaves as after a successful discovery advertising `algs` (NULL = all
 * allowed) and a JWKS fetch with the default TTL. */
enum fc_status oidc_provider_preload(struct oidc_provider *p, const char *jwks_json, size_t len,
				     struct fc_err *err);

/* Counters for tests: discovery and JWKS fetches attempted so far. */
void oidc_provider_stats(struct oidc_provider *p, unsigned *discovery_fetches,
			 unsigned *jwks_fetches);

/* --- match.c: meta-issuer wildcards --------------------------------------------------- */

/* Fulcio's MetaRegex: each '*' matches [-_a-zA-Z0-9]+, everything else
 * literally, the whole URL anchored. */
bool oidc_meta_match(const char *pattern, const char *url);

/* --- verify.c -------------------------------------------------------------------------- */

/* The provider of a fixed (OIDCIssuers) issuer, for tests and benchmarks
 * that preload keys with oidc_provider_preload(); NULL if not configured. */
struct oidc_provider *oidc_verifier_provider(struct oidc_verifier *v, const char *issuer_url);

/* --- gourl.c: Go's net/url, as Fulcio's URI SANs go through it ------------------------ */

/* url.URL: every string owned and never NULL once initialised ("" when
 * empty). */
struct oidc_url {
	char *scheme;      /* lower case, "" if none */
	char *opaque;      /* "" unless the URL is opaque (scheme:rootless) */
	bool has_user, has_password;
	char *username, *password;
	char *host;
	char *path, *raw_path; /* raw_path "" when the default escaping fits */
	char *raw_query;
	bool force_query, omit_host;
	char *fragment, *raw_fragment;
};

void oidc_url_init(struct oidc_url *u);
void oidc_url_free(struct oidc_url *u);
/* url.Parse(raw); false with a static reason in *why. Free u either way. */
bool oidc_url_parse(const char *raw, struct oidc_url *u, const char **why);
/* URL.String() and URL.Hostname(); never NULL, the caller frees. */
char *oidc_url_string(const struct oidc_url *u);
char *oidc_url_hostname(const struct oidc_url *u);
/* url.Parse(base).JoinPath(elems...).String(); NULL with *why if base does
 * not parse. The caller frees. */
char *oidc_url_join(const char *base, const char **elems, size_t n, const char **why);
/* base.JoinPath(elems...).String() for a base parsed once with
 * oidc_url_parse(); base is only read (threads may share it). The caller
 * frees. */
char *oidc_url_join_parsed(const struct oidc_url *base, const char **elems, size_t n);
/* url.Parse(s).String(); NULL with *why if s does not parse. The caller
 * frees. */
char *oidc_url_normalize(const char *s, const char **why);

/* --- email.c: govalidator.IsEmail -------------------------------------------------------- */

/* True if str is an email address as govalidator.IsEmail accepts it. */
bool oidc_is_email(const char *str);

/* --- principal.c: claims to principal, per identity type ------------------------------ */

/*
 * Fill id->issuer_type, san_type, san, pop_subject and extensions from the
 * verified claims, for issuer `iss` (a concrete issuer: for a meta match,
 * issuer_url is the token's iss). cfg gives CIIssuerMetadata. Returns FC_OK,
 * FC_EAUTH (a claim Fulcio requires is missing or refused: email not
 * verified, subject not a SPIFFE ID of the trust domain, ...) or FC_EINPUT
 * (a CI template cannot be rendered), with claim and value in err.
 */
enum fc_status oidc_principal_build(const struct cfg_identity *cfg, const struct cfg_issuer *iss,
				    const json_t *claims, struct oidc_identity *id,
				    struct fc_err *err);

/* claims.c: evaluate a JSONPath of the form $.a.b.c on claims; returns the
 * string value or NULL if absent or not a string. */
const char *oidc_claims_path(const json_t *claims, const char *path);

#endif /* FULCRUM_OIDC_INT_H */
