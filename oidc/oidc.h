/*
 * oidc: verifies OpenID Connect identity tokens against the identity
 * configuration and turns them into a principal: who the caller is, what
 * the certificate will say (SAN and Sigstore extensions), and the string the
 * caller must sign to prove possession of its key.
 *
 * Verification (RFC 7515 compact JWS, RFC 7519 claims, OpenID Connect
 * Discovery 1.0) fetches discovery and JWKS documents with libcurl and keeps
 * the keys in a per-issuer cache. oidc never sees an X.509 structure: the
 * principal carries values and their encoding, `ca` builds the DER.
 *
 * Threads. A verifier is safe to use from many threads at once. It owns
 * one fetch thread, started by oidc_verifier_new (with every signal
 * blocked) and joined by oidc_verifier_free: every discovery and JWKS fetch
 * runs there, through libcurl's multi interface, and never on a caller's
 * thread. oidc_verify_nb never blocks on the network: it decides at once
 * when it can (keys cached, or the token refused before any key is needed)
 * and otherwise returns FC_EPENDING, after which wake(arg, st) is called
 * exactly once, from the fetch thread, when the fetch it waits for ends.
 * oidc_verify is the same verb waiting for that on the calling thread, for
 * callers that may block (`fulcrum token`, tests, benchmarks). A slow or
 * hanging issuer delays only the requests for its own tokens.
 *
 * New issuers. Fetches for issuers that never had keys (a MetaIssuers
 * tenant named in a token for the first time, or one whose discovery
 * failed) come out of a budget: new_issuer_rate per second in bursts of
 * new_issuer_burst, at most max_new_fetches at once; over it, a request is
 * refused at once with FC_EUNAVAIL. Configured (OIDCIssuers) issuers are a
 * fixed set bounded by the refetch cooldown, and are not budgeted: a flood
 * of invented tenants cannot lock them out. A failed fetch is remembered
 * for refetch_cooldown_s (requests meanwhile get its reason at once), and
 * at most meta_cache_size tenants are kept, the least recently used one
 * that is not in use (no fetch in flight) evicted first, tenants that
 * never had keys before those that did.
 */
#ifndef FULCRUM_OIDC_H
#define FULCRUM_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

/* Hard limits, checked before parsing. */
#define OIDC_MAX_TOKEN_LEN (16 * 1024)	     /* compact JWS, bytes */
#define OIDC_MAX_DISCOVERY_BYTES (64 * 1024) /* discovery document */
#define OIDC_MAX_JWKS_BYTES (256 * 1024)     /* JWKS document */
#define OIDC_MAX_JWKS_KEYS 64		     /* keys kept per issuer */
#define OIDC_MAX_REDIRECTS 3		     /* same-origin redirects */

/* Budget for fetches of issuers that never had keys (struct oidc_options). */
#define OIDC_NEW_ISSUER_RATE 5	 /* first fetches per second */
#define OIDC_NEW_ISSUER_BURST 10 /* ... at most this many at once after a lull */
#define OIDC_MAX_NEW_FETCHES 16	 /* ... in flight at once */
/* No fetch of an issuer starts within this long of the end of its last one:
 * the requests a fetch woke, calling again, get a decision, not a new wait. */
#define OIDC_FETCH_MIN_GAP_MS 2000

struct oidc_options {
	int leeway_s;		/* clock skew allowed on exp, nbf, iat (default 60) */
	int http_timeout_ms;	/* whole discovery or JWKS fetch (default 10000) */
	int jwks_default_ttl_s; /* key lifetime without Cache-Control (default 3600) */
	int jwks_min_ttl_s;	/* bounds on Cache-Control max-age (60) */
	int jwks_max_ttl_s;	/* (86400) */
	int refetch_cooldown_s; /* min gap between kid-miss refetches (default 30) */
	int stale_max_s;	/* serve expired keys this long while the issuer
	                            is unreachable (default 86400) */
	int meta_cache_size;	/* concrete issuers made from meta patterns (100) */
	int new_issuer_rate;	/* first fetches per second for issuers that never
	                            had keys (OIDC_NEW_ISSUER_RATE) */
	int new_issuer_burst;	/* (OIDC_NEW_ISSUER_BURST) */
	int max_new_fetches;	/* such fetches in flight at once (OIDC_MAX_NEW_FETCHES) */
};

/* Fill o with the defaults above. */
void oidc_options_default(struct oidc_options *o);

/* How a Sigstore extension's value is encoded in the certificate. */
enum oidc_ext_encoding {
	OIDC_EXT_RAW = 0,  /* the UTF-8 bytes themselves (1.1 - 1.6) */
	OIDC_EXT_UTF8 = 1, /* a DER UTF8String (1.8 and later) */
};

struct oidc_extension {
	const char *oid; /* dotted, e.g. "1.3.6.1.4.1.57264.1.8"; static string */
	char *value;
	enum oidc_ext_encoding encoding;
};

enum oidc_san_type {
	OIDC_SAN_EMAIL = 1,    /* rfc822Name */
	OIDC_SAN_URI = 2,      /* uniformResourceIdentifier */
	OIDC_SAN_USERNAME = 3, /* otherName 1.3.6.1.4.1.57264.1.7, UTF8String "user!domain" */
};

/* The verified caller. All strings are owned by the identity. */
struct oidc_identity {
	char *issuer;	   /* the token's iss */
	char *issuer_type; /* configured Type, e.g. "email" */
	char *subject;	   /* the token's sub */
	enum oidc_san_type san_type;
	char *san;	   /* SAN value */
	char *pop_subject; /* what the client must sign (Fulcio's principal Name()) */
	struct oidc_extension *extensions; /* in certificate order (1.1, 1.2-1.6, 1.8 ... 1.24) */
	size_t n_extensions;
	int64_t expires_at; /* the token's exp */
	char *token_id;	    /* jti if present, else a SHA-256 prefix of the token
	                         (for logs: never log the token itself) */
};

void oidc_identity_free(struct oidc_identity *id);

struct oidc_verifier;

/*
 * Make a verifier over cfg (which must outlive it) and start its fetch
 * thread. opts may be NULL for the defaults. No network traffic happens
 * here; discovery is lazy. FC_OK, or FC_EINTERNAL if the thread cannot
 * start.
 */
enum fc_status oidc_verifier_new(const struct cfg_identity *cfg, const struct oidc_options *opts,
				 struct oidc_verifier **out);

/*
 * Stop the fetch thread and free the verifier. Fetches in flight are
 * aborted at once, and the wake function of every request still waiting
 * for one is called, with FC_EUNAVAIL, from the fetch thread before this
 * returns; those requests must not call oidc_verify_nb again. No call may
 * still be running on v. NULL is fine.
 */
void oidc_verifier_free(struct oidc_verifier *v);

/*
 * Verify a compact JWS identity token and build its principal, waiting for
 * any fetch it needs (on the calling thread, which does not fetch). On
 * success returns FC_OK and *out (free with oidc_identity_free). On refusal
 * returns FC_EAUTH (the token or its claims are refused), FC_ETOOBIG (over
 * OIDC_MAX_TOKEN_LEN), FC_EUPSTREAM (the issuer could not be reached and no
 * usable cached keys exist), FC_EUNAVAIL (a new issuer over the budget, or
 * the verifier shutting down: retry later), or FC_EINPUT (the claims cannot
 * make a certificate, e.g. a CI template's claim is missing); err says
 * exactly which check failed, on which claim, with which value (never the
 * token).
 */
enum fc_status oidc_verify(struct oidc_verifier *v, const char *token, size_t len,
			   struct oidc_identity **out, struct fc_err *err);

/*
 * Called once, on the fetch thread, when the fetch a pending verification
 * waits for ends. st is FC_OK (keys fetched) or FC_EUPSTREAM (the fetch
 * failed): call oidc_verify_nb again with the same token to get the
 * decision; or FC_EUNAVAIL: the verifier is being freed, do not call it
 * again (answer as for FC_EUNAVAIL). It runs on the fetch thread, which
 * every fetch shares: it must return quickly and must not call oidc_verify
 * or oidc_verify_nb itself (hand the work back to the caller's thread, e.g.
 * by resuming a suspended connection).
 */
typedef void (*oidc_wake_fn)(void *arg, enum fc_status st);

/*
 * Verify as oidc_verify, without ever blocking on the network. When the
 * token can be decided now (its issuer's keys are cached, or it is refused
 * before any key is needed), returns what oidc_verify returns. Otherwise
 * (a discovery or JWKS fetch for its issuer is under way, started by this
 * call or shared with other requests for the same issuer) returns
 * FC_EPENDING with *out and err untouched, and wake(arg, st) (non-NULL) is
 * called exactly once when that fetch ends, from the fetch thread, possibly
 * before this call returns. The caller then calls oidc_verify_nb again,
 * which decides: within OIDC_FETCH_MIN_GAP_MS of a fetch's end no new
 * fetch starts for that issuer, so a prompt second call verifies the token
 * or refuses it (FC_EUPSTREAM with the fetch's failure for an unreachable
 * issuer). A caller that comes back later than that may find a new fetch
 * warranted (its issuer's keys expired again) and get FC_EPENDING once more.
 */
enum fc_status oidc_verify_nb(struct oidc_verifier *v, const char *token, size_t len,
			      oidc_wake_fn wake, void *arg, struct oidc_identity **out,
			      struct fc_err *err);

#endif /* FULCRUM_OIDC_H */
