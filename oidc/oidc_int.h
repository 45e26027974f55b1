/*
 * Internals of the oidc module, shared by its files and its unit tests.
 * No other module includes this header.
 */
#ifndef FULCRUM_OIDC_INT_H
#define FULCRUM_OIDC_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "oidc.h"

/* --- jws.c: compact JWS parsing (RFC 7515 7.1) ------------------------------ */

struct oidc_jws {
	json_t *header;	     /* protected header object */
	json_t *claims;	     /* payload object (RFC 7519 claims) */
	const char *alg;     /* header "alg" (points into header) */
	const char *kid;     /* header "kid" or NULL (points into header) */
	char *signing_input; /* "<b64 header>.<b64 payload>" copy, NUL-terminated */
	size_t signing_input_len;
	uint8_t *sig; /* decoded signature; both live in the struct's block */
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
	char *kid; /* may be NULL */
	char *alg; /* declared "alg" or NULL */
	enum oidc_key_kind kind;
	EVP_PKEY *pkey;
	/* A verification context set up once for tmpl_alg (the declared alg,
	 * else the kind's usual one) and copied for each verification, which
	 * costs far less than EVP_DigestVerifyInit_ex. It is only ever read
	 * (EVP_MD_CTX_copy_ex takes it const), so threads share it
	 * (openssl-threads(7)). NULL if none: verification then sets up its
	 * own context. Owned by the key set. */
	EVP_MD_CTX *tmpl;
	const char *tmpl_alg; /* static algorithm name, or NULL */
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

/* --- fetch.c: one bounded HTTP GET, driven by the fetch thread ---------------------- */

struct oidc_http_response {
	long status;
	char *body; /* NUL-terminated, caller frees */
	size_t len;
	int max_age_s; /* Cache-Control max-age; 0 for no-store/no-cache (the
	                        provider clamps it up to jwks_min_ttl_s); -1 if absent */
};

void oidc_http_response_free(struct oidc_http_response *resp);

/*
 * A GET with a whole-GET timeout and a body cap (the transfer is aborted as
 * soon as the cap is passed: FC_ETOOBIG). Redirects are followed only to
 * the same origin (scheme, host, port), at most OIDC_MAX_REDIRECTS. ca_pem,
 * if non-NULL, is trusted for TLS in addition to the system roots. Only
 * http and https. A state machine over a libcurl multi handle: only the
 * fetch thread (fetcher.c) drives it.
 */
struct oidc_get;

struct oidc_get *oidc_get_new(const char *url, const char *ca_pem, size_t max_bytes,
			      int timeout_ms);
void oidc_get_free(struct oidc_get *g);
/* Start the next transfer on multi (priv: CURLOPT_PRIVATE); false if g is
 * over instead (read oidc_get_outcome). */
bool oidc_get_start(struct oidc_get *g, CURLM *multi, void *priv);
/* Its transfer ended with rc: true if g is over, false if a redirect hop
 * is running. */
bool oidc_get_hop_done(struct oidc_get *g, CURLM *multi, CURLcode rc, void *priv);
/* End g now with st and why (stopping). */
void oidc_get_abort(struct oidc_get *g, CURLM *multi, enum fc_status st, const char *why);
/* Once over: FC_OK with *resp for any final HTTP status (non-2xx
 * included), else FC_ETOOBIG, FC_EUPSTREAM, FC_EUNAVAIL or FC_EINTERNAL
 * with the URL (without its query) and the reason in err. */
enum fc_status oidc_get_outcome(struct oidc_get *g, struct oidc_http_response *resp,
				struct fc_err *err);

/* --- fetcher.c: the fetch thread ---------------------------------------------------- */

struct oidc_fetcher;

/* The outcome of a GET (oidc_get_outcome's), on the fetch thread; resp is
 * freed after the callback returns unless it takes resp->body. */
typedef void (*oidc_get_done_fn)(void *arg, enum fc_status st, struct oidc_http_response *resp,
				 const struct fc_err *err);

/* Start the fetch thread (signals blocked in it). FC_EINTERNAL if it
 * cannot start. */
enum fc_status oidc_fetcher_new(struct oidc_fetcher **out, struct fc_err *err);
/* Stop it: queued and running GETs end with FC_EUNAVAIL (their callbacks
 * run on the fetch thread before it is joined). Not from a callback. */
void oidc_fetcher_free(struct oidc_fetcher *f);
/* Submit a GET; FC_OK: done is called exactly once on the fetch thread.
 * FC_EUNAVAIL if stopping (done never called). Any thread. */
enum fc_status oidc_fetcher_get(struct oidc_fetcher *f, const char *url, const char *ca_pem,
				size_t max_bytes, int timeout_ms, oidc_get_done_fn done, void *arg,
				struct fc_err *err);
/* GETs submitted so far (tests). */
unsigned oidc_fetcher_gets(struct oidc_fetcher *f);
/* A GET on f's thread, waited for (tests and tools; never on the fetch
 * thread): FC_OK with *resp (oidc_http_response_free) for any final HTTP
 * status, non-2xx included; else the status with the reason in err. */
enum fc_status oidc_http_get(struct oidc_fetcher *f, const char *url, const char *ca_pem,
			     size_t max_bytes, int timeout_ms, struct oidc_http_response *resp,
			     struct fc_err *err);

/* Waiting on one thread for a wake from another: a blocking caller of a
 * non-blocking verb passes oidc_sync_wake and the struct as its wake. */
struct oidc_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
	enum fc_status st;
};

void oidc_sync_init(struct oidc_sync *s);
void oidc_sync_wake(void *arg, enum fc_status st);  /* an oidc_wake_fn */
enum fc_status oidc_sync_wait(struct oidc_sync *s); /* the status the wake passed */
void oidc_sync_destroy(struct oidc_sync *s);

/* --- budget.c: fetches for issuers that never had keys ---------------------------- */

struct oidc_budget;

/* new_issuer_rate per second, bursts of new_issuer_burst, max_new_fetches
 * at once (each at least 1). */
struct oidc_budget *oidc_budget_new(const struct oidc_options *o);
void oidc_budget_free(struct oidc_budget *b);
/* Take a token and a running slot, or FC_EUNAVAIL ("too many new identity
 * providers being looked up; retry later"). */
enum fc_status oidc_budget_take(struct oidc_budget *b, const char *issuer, struct fc_err *err);
/* Would a take succeed now? Takes nothing; a refusal is counted. */
enum fc_status oidc_budget_check(struct oidc_budget *b, const char *issuer, struct fc_err *err);
/* Give back the running slot of a fetch that ended. */
void oidc_budget_release(struct oidc_budget *b);
/* Takes granted and lookups refused so far (tests). */
void oidc_budget_stats(struct oidc_budget *b, unsigned *granted, unsigned *refused);

/* --- provider.c: one issuer's discovery document and key cache -------------------- */

struct oidc_provider;

/* No I/O here. ca_pem may be NULL. opts, fetcher (which runs the
 * provider's fetches) and budget (NULL: none) must outlive the provider. */
struct oidc_provider *oidc_provider_new(const char *issuer_url, const char *ca_pem,
					const struct oidc_options *opts,
					struct oidc_fetcher *fetcher, struct oidc_budget *budget);
/* Drop the owner's reference (a fetch in flight keeps it until it ends). */
void oidc_provider_free(struct oidc_provider *p);

/*
 * Verify jws's signature with this issuer's keys, never fetching on the
 * calling thread. Runs discovery on first use (the document's "issuer" must
 * equal issuer_url exactly), fetches the JWKS, and keeps keys for their TTL
 * (Cache-Control max-age clamped to [jwks_min_ttl_s, jwks_max_ttl_s], else
 * jwks_default_ttl_s). An unknown kid triggers a refetch at most once per
 * refetch_cooldown_s; while the issuer is unreachable, expired keys keep
 * serving for stale_max_s. The alg must be in discovery's
 * id_token_signing_alg_values_supported (RS256 if absent) and in our
 * allow-list. FC_EAUTH (signature / kid / alg refused), FC_EUPSTREAM
 * (issuer unreachable and no usable keys), FC_EUNAVAIL (first fetch over
 * the budget), reason in err; or FC_EPENDING as oidc_verify_nb.
 */
enum fc_status oidc_provider_verify_nb(struct oidc_provider *p, const struct oidc_jws *jws,
				       oidc_wake_fn wake, void *arg, struct fc_err *err);
/* The same, waiting for the fetches it needs (never FC_EPENDING). */
enum fc_status oidc_provider_verify(struct oidc_provider *p, const struct oidc_jws *jws,
				    struct fc_err *err);

/* For a cache of providers: a fetch in flight, one ended less than
 * OIDC_FETCH_MIN_GAP_MS ago, ever had keys (any pointer may be NULL). */
void oidc_provider_usage(struct oidc_provider *p, bool *fetching, bool *just_ended, bool *has_keys);

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
/* The verifier's fetcher and new-issuer budget (tests). */
struct oidc_fetcher *oidc_verifier_fetcher(struct oidc_verifier *v);
struct oidc_budget *oidc_verifier_budget(struct oidc_verifier *v);
/* Meta-issuer tenants in the cache now (tests). */
size_t oidc_verifier_meta_count(struct oidc_verifier *v);

/* --- gourl.c: Go's net/url, as Fulcio's URI SANs go through it ------------------------ */

/* url.URL: every string owned and never NULL once initialised ("" when
 * empty). */
struct oidc_url {
	char *scheme; /* lower case, "" if none */
	char *opaque; /* "" unless the URL is opaque (scheme:rootless) */
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
