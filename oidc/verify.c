/*
 * The verifier: finds the configured issuer for a token, checks the
 * signature with that issuer's keys and the registered claims (RFC 7519
 * 4.1), then builds the principal.
 *
 * Check order follows go-oidc, which Fulcio uses: issuer, audience, expiry
 * and not-before first (cheap, and an expired token never costs a signature
 * verification, a JWKS fetch or a meta-issuer cache entry), then the
 * signature, then the principal.
 *
 * The verifier owns the fetch thread (fetcher.c) every provider fetches on,
 * the budget for new issuers (budget.c), which only meta-issuer tenants
 * draw on, and the cache of tenants (at most meta_cache_size; see
 * meta_victim_locked for what is evicted).
 */
#include <math.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "oidc_int.h"

#define VERIFY_ROUNDS_MAX 8 /* oidc_verify: waits before it gives up */

/* A concrete issuer made from a MetaIssuers pattern for one `iss` value. */
struct meta_entry {
	char *url;
	struct cfg_issuer issuer; /* copy of the pattern's entry, issuer_url = url */
	struct oidc_provider *provider;
	unsigned refs;	   /* the cache's reference plus one per request using it */
	uint64_t last_use; /* for least-recently-used eviction */
};

struct oidc_verifier {
	const struct cfg_identity *cfg;
	struct oidc_options opts;
	struct oidc_fetcher *fetcher; /* runs every provider's fetches */
	struct oidc_budget *budget;   /* first fetches of meta-issuer tenants */
	struct oidc_provider **fixed; /* one per cfg->issuers[i] */
	pthread_mutex_t meta_lock;
	struct meta_entry **meta; /* at most opts.meta_cache_size */
	size_t n_meta;
	uint64_t use_clock;
	EVP_MD *sha256; /* fetched once for token_id(); may be NULL */
};

/*
 * Fill o with the defaults documented in oidc.h (Fulcio's where Fulcio has
 * one). Nothing to free.
 */
void oidc_options_default(struct oidc_options *o)
{
	o->leeway_s = 60;
	o->http_timeout_ms = 10000;
	o->jwks_default_ttl_s = 3600;
	o->jwks_min_ttl_s = 60;
	o->jwks_max_ttl_s = 86400;
	o->refetch_cooldown_s = 30;
	o->stale_max_s = 86400;
	o->meta_cache_size = 100;
	o->new_issuer_rate = OIDC_NEW_ISSUER_RATE;
	o->new_issuer_burst = OIDC_NEW_ISSUER_BURST;
	o->max_new_fetches = OIDC_MAX_NEW_FETCHES;
}

/*
 * Make a verifier over cfg and start its fetch thread. Providers for the
 * fixed issuers are created here (no I/O); meta-issuer providers are
 * created on first use. FC_OK (free with oidc_verifier_free()), or
 * FC_EINTERNAL if the fetch thread cannot start.
 */
enum fc_status oidc_verifier_new(const struct cfg_identity *cfg, const struct oidc_options *opts,
				 struct oidc_verifier **out)
{
	struct oidc_verifier *v = fc_xcalloc(1, sizeof(*v));
	struct fc_err err = {0};

	v->cfg = cfg;
	if (opts)
		v->opts = *opts;
	else
		oidc_options_default(&v->opts);
	if (v->opts.meta_cache_size < 1)
		v->opts.meta_cache_size = 1;
	if (oidc_fetcher_new(&v->fetcher, &err) != FC_OK) {
		fc_log(LOG_ERR, "%s", err.msg);
		free(v);
		return FC_EINTERNAL;
	}
	v->budget = oidc_budget_new(&v->opts);
	v->fixed = fc_xcalloc(cfg->n_issuers ? cfg->n_issuers : 1, sizeof(*v->fixed));
	for (size_t i = 0; i < cfg->n_issuers; i++) {
		const struct cfg_issuer *iss = &cfg->issuers[i];
		const char *url = iss->issuer_url ? iss->issuer_url : iss->key;
		v->fixed[i] = oidc_provider_new(url, iss->ca_cert_pem, &v->opts, v->fetcher, NULL);
	}
	v->meta = fc_xcalloc((size_t)v->opts.meta_cache_size, sizeof(*v->meta));
	pthread_mutex_init(&v->meta_lock, NULL);
	/* SHA256() would fetch the digest again on every call. */
	if ((v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		ERR_clear_error();
	*out = v;
	return FC_OK;
}

static void meta_entry_unref_locked(struct meta_entry *e)
{
	if (--e->refs > 0)
		return;
	oidc_provider_free(e->provider);
	free(e->url);
	free(e);
}

/*
 * Stop the fetch thread (fetches in flight end, their waiters woken with
 * FC_EUNAVAIL), then free the providers, the meta-issuer cache and the
 * verifier (not the configuration it reads). No call may still be running
 * on it. NULL is fine.
 */
void oidc_verifier_free(struct oidc_verifier *v)
{
	if (v == NULL)
		return;
	oidc_fetcher_free(v->fetcher);
	for (size_t i = 0; i < v->cfg->n_issuers; i++)
		oidc_provider_free(v->fixed[i]);
	free(v->fixed);
	for (size_t i = 0; i < v->n_meta; i++)
		meta_entry_unref_locked(v->meta[i]);
	free(v->meta);
	pthread_mutex_destroy(&v->meta_lock);
	oidc_budget_free(v->budget);
	EVP_MD_free(v->sha256);
	free(v);
}

/*
 * The cache slot to reuse for a new tenant, or -1 if every entry is in
 * use (a request in it, or a fetch in flight). Among the others: tenants
 * that never had keys before those that did (a flood of invented tenants
 * then recycles its own entries, not those of real ones), entries whose
 * fetch ended more than OIDC_FETCH_MIN_GAP_MS ago before those whose
 * waiters may be about to call again; least recently used first.
 */
static long meta_victim_locked(struct oidc_verifier *v)
{
	long victim = -1;
	int best = 0;

	for (size_t i = 0; i < v->n_meta; i++) {
		struct meta_entry *e = v->meta[i];
		bool fetching, just_ended, has_keys;
		int rank;

		if (e->refs > 1)
			continue;
		oidc_provider_usage(e->provider, &fetching, &just_ended, &has_keys);
		if (fetching)
			continue;
		rank = (has_keys ? 2 : 0) + (just_ended ? 1 : 0);
		if (victim < 0 || rank < best ||
		    (rank == best && e->last_use < v->meta[victim]->last_use)) {
			victim = (long)i;
			best = rank;
		}
	}
	return victim;
}

/* A new cache entry for url from pattern, in slot (or appended). */
static struct meta_entry *meta_insert_locked(struct oidc_verifier *v,
					     const struct cfg_issuer *pattern, const char *url,
					     long slot)
{
	struct meta_entry *e = fc_xcalloc(1, sizeof(*e));

	e->url = fc_xstrdup(url);
	/* Fulcio copies these fields from the pattern, not SPIFFETrustDomain
	 * or ChallengeClaim (spiffe is refused as a meta issuer at load). */
	e->issuer = *pattern;
	e->issuer.issuer_url = e->url;
	e->issuer.spiffe_trust_domain = NULL;
	e->provider =
		oidc_provider_new(e->url, pattern->ca_cert_pem, &v->opts, v->fetcher, v->budget);
	e->refs = 1;
	if (slot < 0) {
		v->meta[v->n_meta++] = e;
	} else {
		meta_entry_unref_locked(v->meta[slot]);
		v->meta[slot] = e;
	}
	return e;
}

/*
 * The provider for a meta-issuer match, from the cache or made now (for a
 * new tenant only if the new-issuer budget has room, and a slot is free or
 * can be freed). FC_OK with *out holding a reference (release with
 * meta_release()), or FC_EUNAVAIL with the reason.
 */
static enum fc_status meta_acquire(struct oidc_verifier *v, const struct cfg_issuer *pattern,
				   const char *url, struct meta_entry **out, struct fc_err *err)
{
	struct meta_entry *e = NULL;
	enum fc_status st = FC_OK;
	long slot = -1;

	pthread_mutex_lock(&v->meta_lock);
	for (size_t i = 0; i < v->n_meta && e == NULL; i++)
		if (strcmp(v->meta[i]->url, url) == 0 && v->meta[i]->issuer.key == pattern->key)
			e = v->meta[i];
	if (e == NULL) {
		if ((st = oidc_budget_check(v->budget, url, err)) != FC_OK)
			goto out;
		if (v->n_meta == (size_t)v->opts.meta_cache_size &&
		    (slot = meta_victim_locked(v)) < 0) {
			st = fc_err_set(err, FC_EUNAVAIL,
					"issuer %s: too many new identity providers being looked "
					"up; retry later (all %d cached ones are in use)",
					url, v->opts.meta_cache_size);
			goto out;
		}
		e = meta_insert_locked(v, pattern, url, slot);
	}
	e->refs++;
	e->last_use = ++v->use_clock;
	*out = e;
out:
	pthread_mutex_unlock(&v->meta_lock);
	return st;
}

static void meta_release(struct oidc_verifier *v, struct meta_entry *e)
{
	pthread_mutex_lock(&v->meta_lock);
	meta_entry_unref_locked(e);
	pthread_mutex_unlock(&v->meta_lock);
}

/*
 * The provider of the fixed (OIDCIssuers) issuer whose IssuerURL (else
 * key) is issuer_url, for tests and benchmarks that preload keys; NULL if
 * none. The verifier owns it.
 */
struct oidc_provider *oidc_verifier_provider(struct oidc_verifier *v, const char *issuer_url)
{
	for (size_t i = 0; i < v->cfg->n_issuers; i++) {
		const struct cfg_issuer *c = &v->cfg->issuers[i];
		if (strcmp(c->issuer_url ? c->issuer_url : c->key, issuer_url) == 0)
			return v->fixed[i];
	}
	return NULL;
}

/* The verifier's fetcher (tests); owned by the verifier. */
struct oidc_fetcher *oidc_verifier_fetcher(struct oidc_verifier *v)
{
	return v->fetcher;
}

/* The verifier's new-issuer budget (tests); owned by the verifier. */
struct oidc_budget *oidc_verifier_budget(struct oidc_verifier *v)
{
	return v->budget;
}

/* How many meta-issuer tenants are cached now (tests). */
size_t oidc_verifier_meta_count(struct oidc_verifier *v)
{
	size_t n;

	pthread_mutex_lock(&v->meta_lock);
	n = v->n_meta;
	pthread_mutex_unlock(&v->meta_lock);
	return n;
}

/* Read a NumericDate claim (RFC 7519 2): a JSON number, possibly non-integer. */
static bool numeric_date(const json_t *claims, const char *name, bool *present, double *out)
{
	const json_t *j = json_object_get(claims, name);

	*present = j != NULL;
	if (j == NULL)
		return true;
	if (!json_is_number(j))
		return false;
	*out = json_number_value(j);
	return isfinite(*out);
}

/* A NumericDate as whole seconds, clamped to int64 (a double beyond it
 * cannot be converted: C leaves that undefined). */
static int64_t numeric_date_clamped(double d)
{
	if (d >= 9.2e18)
		return INT64_MAX;
	if (d <= -9.2e18)
		return INT64_MIN;
	return (int64_t)d;
}

static bool audience_contains(const json_t *aud, const char *want)
{
	size_t i;
	const json_t *a;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (json_is_array(aud)) {
		json_array_foreach(aud, i, a)
		{
			if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
				return true;
		}
	}
	return false;
}

/* RFC 7519 4.1.3 - 4.1.6 with our leeway (Fulcio: no exp leeway, 5 min nbf,
 * iat unchecked; we apply one small leeway to all three). */
static enum fc_status check_claims(const struct oidc_verifier *v, const struct cfg_issuer *iss,
				   const json_t *claims, struct fc_err *err)
{
	const json_t *aud = json_object_get(claims, "aud");
	int64_t now = fc_now();
	double exp = 0, nbf = 0, iat = 0;
	bool has_exp, has_nbf, has_iat;
	int leeway = v->opts.leeway_s;

	if (iss->client_id == NULL || !audience_contains(aud, iss->client_id)) {
		if (aud == NULL)
			return fc_err_set(err, FC_EAUTH, "token has no aud claim (want \"%s\")",
					  iss->client_id ? iss->client_id : "");
		if (json_is_string(aud))
			return fc_err_set(err, FC_EAUTH, "token aud \"%s\" is not \"%s\"",
					  json_string_value(aud),
					  iss->client_id ? iss->client_id : "");
		return fc_err_set(err, FC_EAUTH, "token aud does not contain \"%s\"",
				  iss->client_id ? iss->client_id : "");
	}
	if (!numeric_date(claims, "exp", &has_exp, &exp) || !has_exp)
		return fc_err_set(err, FC_EAUTH, "token exp claim is %s (RFC 7519 4.1.4)",
				  has_exp ? "not a number" : "missing");
	if ((double)now > exp + leeway)
		return fc_err_set(err, FC_EAUTH,
				  "token expired: exp %.0f is %.0f s before now %lld (leeway %d s)",
				  exp, (double)now - exp, (long long)now, leeway);
	if (!numeric_date(claims, "nbf", &has_nbf, &nbf))
		return fc_err_set(err, FC_EAUTH, "token nbf claim is not a number");
	if (has_nbf && nbf > (double)now + leeway)
		return fc_err_set(
			err, FC_EAUTH,
			"token not yet valid: nbf %.0f is %.0f s after now %lld (leeway %d s)", nbf,
			nbf - (double)now, (long long)now, leeway);
	if (!numeric_date(claims, "iat", &has_iat, &iat))
		return fc_err_set(err, FC_EAUTH, "token iat claim is not a number");
	if (has_iat && iat > (double)now + leeway)
		return fc_err_set(err, FC_EAUTH,
				  "token issued in the future: iat %.0f is %.0f s after now %lld "
				  "(leeway %d s)",
				  iat, iat - (double)now, (long long)now, leeway);
	return FC_OK;
}

/* jti if it is a short printable string, else the first 8 bytes of the
 * token's SHA-256 in hex: something to log that is not the token. */
static char *token_id(const struct oidc_verifier *v, const json_t *claims, const char *token,
		      size_t len)
{
	const json_t *jti = json_object_get(claims, "jti");
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[2 * 8 + 1];

	if (json_is_string(jti) && json_string_length(jti) > 0 && json_string_length(jti) <= 64) {
		const char *s = json_string_value(jti);
		bool printable = true;
		for (const char *c = s; *c; c++)
			printable &= *c > 0x20 && *c < 0x7f;
		if (printable)
			return fc_xstrdup(s);
	}
	if (v->sha256 == NULL || EVP_Digest(token, len, md, NULL, v->sha256, NULL) != 1) {
		ERR_clear_error();
		SHA256((const unsigned char *)token, len, md);
	}
	for (size_t i = 0; i < 8; i++) {
		hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hex[16] = '\0';
	return fc_xasprintf("sha256:%s", hex);
}

/* The configured issuer for iss: a fixed one (*provider set), or a
 * MetaIssuers pattern (*provider NULL); NULL if none. */
static const struct cfg_issuer *issuer_lookup(const struct oidc_verifier *v, const char *iss,
					      struct oidc_provider **provider)
{
	*provider = NULL;
	for (size_t i = 0; i < v->cfg->n_issuers; i++) {
		const struct cfg_issuer *c = &v->cfg->issuers[i];
		if (strcmp(c->issuer_url ? c->issuer_url : c->key, iss) == 0) {
			*provider = v->fixed[i];
			return c;
		}
	}
	for (size_t i = 0; i < v->cfg->n_meta; i++)
		if (oidc_meta_match(v->cfg->meta[i].key, iss))
			return &v->cfg->meta[i];
	return NULL;
}

/* The verified token's identity: its principal for issuer (iss: the
 * token's). */
static enum fc_status identity_build(const struct oidc_verifier *v, const struct cfg_issuer *issuer,
				     const char *iss, const struct oidc_jws *jws, const char *token,
				     size_t len, struct oidc_identity **out, struct fc_err *err)
{
	struct oidc_identity *id = fc_xcalloc(1, sizeof(*id));
	const char *sub = json_string_value(json_object_get(jws->claims, "sub"));
	enum fc_status st;

	id->issuer = fc_xstrdup(iss);
	if (sub != NULL)
		id->subject = fc_xstrdup(sub);
	id->expires_at =
		numeric_date_clamped(json_number_value(json_object_get(jws->claims, "exp")));
	id->token_id = token_id(v, jws->claims, token, len);
	if ((st = oidc_principal_build(v->cfg, issuer, jws->claims, id, err)) != FC_OK) {
		oidc_identity_free(id);
		return st;
	}
	*out = id;
	return FC_OK;
}

/*
 * Verify a token and build its principal without blocking on the network
 * (see oidc.h for the contract).
 */
enum fc_status oidc_verify_nb(struct oidc_verifier *v, const char *token, size_t len,
			      oidc_wake_fn wake, void *arg, struct oidc_identity **out,
			      struct fc_err *err)
{
	struct oidc_jws *jws = NULL;
	struct meta_entry *meta = NULL;
	const struct cfg_issuer *issuer;
	struct oidc_provider *provider;
	const char *iss;
	enum fc_status st;

	if ((st = oidc_jws_parse(token, len, &jws, err)) != FC_OK)
		goto out;
	iss = json_string_value(json_object_get(jws->claims, "iss"));
	if (iss == NULL) {
		st = fc_err_set(err, FC_EAUTH, "token has no iss claim, or it is not a string");
		goto out;
	}
	if ((issuer = issuer_lookup(v, iss, &provider)) == NULL) {
		st = fc_err_set(err, FC_EAUTH,
				"issuer \"%s\" is not configured (no OIDCIssuers entry and no "
				"MetaIssuers pattern matches)",
				iss);
		goto out;
	}
	/* A meta pattern's ClientID is its tenants': check before any cost. */
	if ((st = check_claims(v, issuer, jws->claims, err)) != FC_OK)
		goto out;
	if (provider == NULL) {
		if ((st = meta_acquire(v, issuer, iss, &meta, err)) != FC_OK)
			goto out;
		issuer = &meta->issuer;
		provider = meta->provider;
	}
	if ((st = oidc_provider_verify_nb(provider, jws, wake, arg, err)) != FC_OK)
		goto out;
	st = identity_build(v, issuer, iss, jws, token, len, out, err);
out:
	if (meta)
		meta_release(v, meta);
	oidc_jws_free(jws);
	return st;
}

/*
 * Verify a token and build its principal, waiting on this thread for the
 * fetches it needs (see oidc.h for the contract).
 */
enum fc_status oidc_verify(struct oidc_verifier *v, const char *token, size_t len,
			   struct oidc_identity **out, struct fc_err *err)
{
	struct oidc_sync s;
	enum fc_status st;

	oidc_sync_init(&s);
	for (int round = 1;; round++) {
		st = oidc_verify_nb(v, token, len, oidc_sync_wake, &s, out, err);
		if (st != FC_EPENDING)
			break;
		if (oidc_sync_wait(&s) == FC_EUNAVAIL) {
			st = fc_err_set(err, FC_EUNAVAIL,
					"the token's issuer could not be looked up: the verifier "
					"is shutting down");
			break;
		}
		if (round == VERIFY_ROUNDS_MAX) {
			/* Not reached: a call right after a fetch's end decides. */
			st = fc_err_set(err, FC_EUNAVAIL,
					"the token's issuer is still being looked up");
			break;
		}
	}
	oidc_sync_destroy(&s);
	return st;
}

/*
 * Free an identity and every string it owns. NULL is fine.
 */
void oidc_identity_free(struct oidc_identity *id)
{
	if (id == NULL)
		return;
	free(id->issuer);
	free(id->issuer_type);
	free(id->subject);
	free(id->san);
	free(id->pop_subject);
	for (size_t i = 0; i < id->n_extensions; i++)
		free(id->extensions[i].value);
	free(id->extensions);
	free(id->token_id);
	free(id);
}
