/*
 * trust: the Sigstore trust files of a private deployment.
 *
 * trusted_root.json (protobuf-specs TrustedRoot, media type
 * "application/vnd.dev.sigstore.trustedroot+json;version=0.1") tells a
 * verifier which CA chains, CT log keys, timestamp authorities and Rekor
 * log keys to trust, each within a validity window; signing_config.json
 * (SigningConfig v0.2) tells a signer which services to use. Both are the
 * JSON that cosign v3 / sigstore-go, sigstore-python 4.x and sigstore-js 4.x
 * read; trust_config.json (ClientTrustConfig v0.1) is the two in one, for
 * sigstore-python's --trust-config.
 *
 * A builder collects entries of each kind. Any number of entries of a kind
 * may coexist, each with its own validFor window (an old CA chain with an
 * end, a new one without): that is how keys and CAs are rotated without
 * breaking the verification of what was signed before.
 */
#ifndef FULCRUM_TRUST_H
#define FULCRUM_TRUST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define TRUST_MEDIA_TRUSTED_ROOT "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
#define TRUST_MEDIA_SIGNING_CONFIG "application/vnd.dev.sigstore.signingconfig.v0.2+json"
#define TRUST_MEDIA_CLIENT_CONFIG "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"

/* Hard limits, checked before anything is parsed or allocated. */
#define TRUST_MAX_ENTRIES 32		  /* entries of one kind */
#define TRUST_MAX_CHAIN 8		  /* certificates in one chain */
#define TRUST_MAX_PEM_BYTES (256 * 1024)  /* a chain or key file, a fetched chain */
#define TRUST_MAX_DOC_BYTES (1024 * 1024) /* a trusted root or signing config */
#define TRUST_MAX_URL 2048

/* "Not given": a start that defaults (chain NotBefore or now), no end. */
#define TRUST_TIME_UNSET INT64_MIN

enum trust_kind {
	TRUST_CA = 0, /* certificateAuthorities + caUrls (Fulcio API) */
	TRUST_CTLOG,  /* ctlogs (verification only) */
	TRUST_TSA,    /* timestampAuthorities + tsaUrls (RFC 3161) */
	TRUST_TLOG,   /* tlogs + rekorTlogUrls (Rekor v1 or v2) */
	TRUST_OIDC,   /* oidcUrls (signing only) */
	TRUST_KINDS
};

/* What an entry says besides its key material. */
struct trust_entry {
	const char *url;      /* the service: baseUrl / uri / Service.url; may be NULL
			       * for a verification-only CA, CT log or TSA */
	const char *operator; /* NULL: the URL's host name */
	unsigned api_version; /* signing_config majorApiVersion (TLOG: 1 or 2, required;
			       * others: 0 means 1) */
	int64_t start, end;   /* validFor, seconds since the epoch, or TRUST_TIME_UNSET */
	bool no_sign;	      /* keep it out of signing_config (verification only) */
};

/* How a client picks among several Rekor logs or TSAs (ServiceSelector). */
enum trust_selector { TRUST_SEL_ANY = 0, TRUST_SEL_ALL, TRUST_SEL_EXACT };

struct trust_builder;

/* An empty builder; now is the time "now" defaults to (fc_now() in the
 * command, fixed in tests). Free with trust_builder_free. */
struct trust_builder *trust_builder_new(int64_t now);
void trust_builder_free(struct trust_builder *b);

/*
 * Add a CA chain (PEM, issuing CA first, root last; every certificate a
 * CA, each issued by the next). validFor.start defaults to the latest
 * NotBefore in the chain. name is used in messages. FC_ECONFIG with the
 * reason in err; nothing is added on failure.
 */
enum fc_status trust_add_ca(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			    size_t len, const char *name, struct fc_err *err);
/* Add a TSA chain (PEM: the time-stamping certificate, a non-CA with the
 * timeStamping EKU, first; then its CAs, root last; at least 2). */
enum fc_status trust_add_tsa(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			     size_t len, const char *name, struct fc_err *err);
/* Add a CT log by its PEM public key (logId = SHA-256 of the SPKI, RFC
 * 6962 3.2). validFor.start defaults to now. */
enum fc_status trust_add_ctlog(struct trust_builder *b, const struct trust_entry *e,
			       const char *pem, size_t len, const char *name, struct fc_err *err);
/* Add a Rekor log by its PEM public key. Rekor v2 (api_version 2): the
 * checkpoint origin is the URL's host name (sigstore-go derives it so) and
 * the logId is the signed-note key hash (SHA-256 of the SPKI for ECDSA, of
 * origin and key for Ed25519 and RSA). */
enum fc_status trust_add_tlog(struct trust_builder *b, const struct trust_entry *e, const char *pem,
			      size_t len, const char *name, struct fc_err *err);
/* Add an OpenID provider (signing_config oidcUrls only). */
enum fc_status trust_add_oidc(struct trust_builder *b, const struct trust_entry *e,
			      struct fc_err *err);
/* The Rekor (TRUST_TLOG) or TSA selector; count only for EXACT (> 0). */
enum fc_status trust_set_selector(struct trust_builder *b, enum trust_kind kind,
				  enum trust_selector sel, unsigned count, struct fc_err *err);
/* The URL clients post time-stamp requests to: url itself, or with
 * sigstore's /api/v1/timestamp when it has no path (caller frees). */
char *trust_tsa_url(const char *url);
/* Parse "ANY", "ALL" or "EXACT:N". */
bool trust_parse_selector(const char *s, enum trust_selector *sel, unsigned *count);

/* How many entries of a kind were added. */
size_t trust_count(const struct trust_builder *b, enum trust_kind kind);

/*
 * The documents (new references, keys in the order the clients' own files
 * use). trusted_root lists every entry; signing_config every entry with a
 * URL and without no_sign, newest validFor first per kind, and fails
 * (FC_ECONFIG) without a CA URL, since no client can sign then. Warnings
 * (e.g. "sigstore-python needs a Rekor log to sign") are logged.
 */
json_t *trust_trusted_root(const struct trust_builder *b);
enum fc_status trust_signing_config(const struct trust_builder *b, json_t **out,
				    struct fc_err *err);
/* {mediaType, trustedRoot, signingConfig}; takes no reference. */
json_t *trust_client_config(json_t *trusted_root, json_t *signing_config);

/* --- URLs (url.c) ------------------------------------------------------------------ */

/* The host of an http(s) URL, without port or IPv6 brackets, as Go's
 * url.Hostname() (sigstore-go's Rekor v2 origin): caller frees. NULL when
 * url is not http(s)://host... */
char *trust_url_host(const char *url);
/* A copy of url without trailing '/' (clients append "/api/..." by
 * concatenation); FC_ECONFIG naming what for a URL that is not
 * http(s)://host[:port][/path] (no query, fragment, user or spaces). */
enum fc_status trust_url_normalise(const char *url, const char *what, char **out,
				   struct fc_err *err);

/* --- time (RFC 3339, as protobuf's JSON mapping writes Timestamps) ----------- */

/* "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.5+01:00": seconds since the
 * epoch (fractions dropped). */
bool trust_parse_time(const char *s, int64_t *out);
/* t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void trust_format_time(int64_t t, char *buf, size_t n);

/* --- fetching from running services (fetch.c) ---------------------------------- */

/*
 * GET url (http or https, no redirects, at most max bytes, within
 * timeout_ms). FC_OK with *out (NUL-terminated, caller frees) on a 200;
 * FC_EUPSTREAM naming the URL and what went wrong otherwise.
 */
enum fc_status trust_fetch(const char *url, size_t max, long timeout_ms, char **out, size_t *len,
			   struct fc_err *err);
/* The CA's chains from GET <ca>/api/v2/trustBundle, each as one PEM text
 * (issuing CA first): *chains (n entries, free each and the array). */
enum fc_status trust_fetch_ca_chains(const char *ca_url, long timeout_ms, char ***chains, size_t *n,
				     struct fc_err *err);

/*
 * Check a Rekor v2 checkpoint (GET <url>/api/v2/checkpoint, a C2SP signed
 * note) against the key the trusted root will carry: its origin is the
 * URL's host name and one signature line has that name, the key's
 * checkpoint key id and a valid signature. FC_ECONFIG saying which part
 * disagrees (the clients would refuse every entry of that log).
 */
enum fc_status trust_check_checkpoint(const char *url, const char *key_pem, size_t key_len,
				      const char *note, size_t note_len, struct fc_err *err);

/* --- documents served by fulcrum serve ------------------------------------------ */

enum trust_doc { TRUST_DOC_TRUSTED_ROOT, TRUST_DOC_SIGNING_CONFIG };

/*
 * Check that text (len bytes) is a document of that kind as fulcrum serve
 * would hand it to clients: a JSON object (no duplicate keys) whose
 * mediaType is the one clients accept; *out gets the parsed document (may
 * be NULL). FC_ECONFIG naming the file (name) and the fault.
 */
enum fc_status trust_doc_check(const char *text, size_t len, enum trust_doc kind, const char *name,
			       json_t **out, struct fc_err *err);

/* Write doc to path atomically (a temporary file renamed over it), mode
 * 0644, two-space indented, keys in insertion order, final newline; "-"
 * writes to stdout. FC_EIO with the reason. */
enum fc_status trust_write_json(const char *path, json_t *doc, struct fc_err *err);

#endif /* FULCRUM_TRUST_H */
