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
 * A verifier is safe to use from many threads at once.
 */
#ifndef FULCRUM_OIDC_H
#define FULCRUM_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

/* Hard limits, checked before parsing. */
#define OIDC_MAX_TOKEN_LEN (16 * 1024)         /* compact JWS, bytes */
#define OIDC_MAX_DISCOVERY_BYTES (64 * 1024)   /* discovery document */
#define OIDC_MAX_JWKS_BYTES (256 * 1024)       /* JWKS document */
#define OIDC_MAX_JWKS_KEYS 64                  /* keys kept per issuer */
#define OIDC_MAX_REDIRECTS 3                   /* same-origin redirects */

struct oidc_options {
	int leeway_s;            /* clock skew allowed on exp, nbf, iat (default 60) */
	int http_timeout_ms;     /* whole discovery or JWKS fetch (default 10000) */
	int jwks_default_ttl_s;  /* key lifetime without Cache-Control (default 3600) */
	int jwks_min_ttl_s;      /* bounds on Cache-Control max-age (60) */
	int jwks_max_ttl_s;      /* (86400) */
	int refetch_cooldown_s;  /* min gap between kid-miss refetches (default 30) */
	int stale_max_s;         /* serve expired keys this long while the issuer
	                            is unreachable (default 86400) */
	int meta_cache_size;     /* concrete issuers made from meta patterns (100) */
};

/* Fill o with the defaults above. */
void oidc_options_default(struct oidc_options *o);

/* How a Sigstore extension's value is encoded in the certificate. */
enum oidc_ext_encoding {
	OIDC_EXT_RAW = 0,  /* the UTF-8 bytes themselves (1.1 - 1.6) */
	OIDC_EXT_UTF8 = 1, /* a DER UTF8String (1.8 and later) */
};

struct oidc_extension {
	const char *oid;   /* dotted, e.g. "1.3.6.1.4.1.57264.1.8"; static string */
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
	char *issuer;         /* the token's iss */
	char *issuer_type;    /* configured Type, e.g. "email" */
	char *subject;        /* the token's sub */
	enum oidc_san_type san_type;
	char *san;            /* SAN value */
	char *pop_subject;    /* what the client must sign (Fulcio's principal Name()) */
	struct oidc_extension *extensions; /* in certificate order (1.1, 1.2-1.6, 1.8 ... 1.24) */
	size_t n_extensions;
	int64_t expires_at;   /* the token's exp */
	char *token_id;       /* jti if present, else a SHA-256 prefix of the token
	                         (for logs: never log the token itself) */
};

void oidc_identity_free(struct oidc_identity *id);

struct oidc_verifier;

/*
 * Make a verifier over cfg (which must outlive it). opts may be NULL for the
 * defaults. No network traffic happens here; discovery is lazy.
 */
enum fc_status oidc_verifier_new(const struct cfg_identity *cfg, const struct oidc_options *opts,
				 struct oidc_verifier **out);
void oidc_verifier_free(struct oidc_verifier *v);

/*
 * Verify a compact JWS identity token and build its principal. On success
 * returns FC_OK and *out (free with oidc_identity_free). On refusal returns
 * FC_EAUTH (the token or its claims are refused), FC_ETOOBIG (over
 * OIDC_MAX_TOKEN_LEN), FC_EUPSTREAM (the issuer could not be reached and no
 * usable cached keys exist), or FC_EINPUT (the claims cannot make a
 * certificate, e.g. a CI template's claim is missing); err says exactly
 * which check failed, on which claim, with which value (never the token).
 */
enum fc_status oidc_verify(struct oidc_verifier *v, const char *token, size_t len,
			   struct oidc_identity **out, struct fc_err *err);

#endif /* FULCRUM_OIDC_H */
