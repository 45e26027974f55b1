/*
 * One issuer's discovery document and JWKS cache (OpenID Connect Discovery
 * 1.0 4, RFC 7517 5).
 *
 * State lives behind one mutex. At most one fetch (discovery and/or JWKS)
 * is in flight per provider; other requests that need it wait on a
 * condition variable and use its result instead of fetching again. The key
 * set is reference counted so that signature verification runs outside the
 * lock, and a refresh can replace it meanwhile.
 *
 * Fetch policy:
 *  - keys are fresh until fetched_at + TTL (Cache-Control max-age clamped to
 *    [jwks_min_ttl_s, jwks_max_ttl_s], else jwks_default_ttl_s); expired
 *    keys are refetched on the next request;
 *  - after a failed fetch, no new attempt for refetch_cooldown_s; meanwhile
 *    expired keys keep serving until expiry + stale_max_s, and requests
 *    without usable keys get the last failure's reason;
 *  - an unknown kid (or a kid-less token no key verifies) forces a refetch,
 *    at most once per refetch_cooldown_s since the last attempt.
 * Time is fc_mono_ms(), so tests can move it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oidc_int.h"

#define ALGS_MSG_MAX 160
#define KID_MSG_MAX 64

/* A fetched key set, shared by reference between the cache and verifiers. */
struct keyset {
	struct oidc_jwk_set *set;
	unsigned refs;        /* under provider mu */
	int64_t fetched_ms;
	int64_t expires_ms;
};

struct oidc_provider {
	char *issuer;
	char *discovery_url;
	char *ca_pem;
	const struct oidc_options *opts;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* All below under mu. */
	bool fetching;         /* a fetch is in flight (its thread holds no lock) */
	unsigned fetch_seq;    /* completed fetch attempts */
	bool have_discovery;
	char *jwks_uri;
	bool algs_all;         /* preloaded: every allowed alg */
	char **algs;           /* discovery's list ∩ our allow-list */
	size_t n_algs;
	struct keyset *keys;   /* NULL until a JWKS was fetched */
	bool attempted;        /* a fetch was attempted ... */
	int64_t last_attempt_ms; /* ... at this time */
	bool last_failed;
	struct fc_err last_err; /* reason of the last failure */
	bool stale_warned;     /* logged "serving stale keys" in this failure streak */

	atomic_uint n_discovery;
	atomic_uint n_jwks;
};

/* What one fetch produced; installed under the lock afterwards. */
struct fetch_result {
	bool discovered;
	char *jwks_uri;
	char **algs;
	size_t n_algs;
	struct oidc_jwk_set *set;
	int max_age_s;
};

static void free_algs(char **algs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(algs[i]);
	free(algs);
}

static void keyset_release_locked(struct keyset *ks)
{
	if (ks == NULL)
		return;
	if (--ks->refs == 0) {
		oidc_jwk_set_free(ks->set);
		free(ks);
	}
}

static void keyset_release(struct oidc_provider *p, struct keyset *ks)
{
	if (ks == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	keyset_release_locked(ks);
	pthread_mutex_unlock(&p->mu);
}

/* A printable, bounded copy of an untrusted string for a message. */
static void sanitize(const char *in, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	for (; in[i] != '\0' && o + 4 < outlen && i < KID_MSG_MAX; i++)
		out[o++] = (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' && in[i] != '\\')
				   ? in[i]
				   : '?';
	if (in[i] != '\0' && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/*
 * Make a provider for issuer_url. No I/O. ca_pem (may be NULL) is copied;
 * opts must outlive the provider. Free with oidc_provider_free().
 */
struct oidc_provider *oidc_provider_new(const char *issuer_url, const char *ca_pem,
					const struct oidc_options *opts)
{
	struct oidc_provider *p = fc_xcalloc(1, sizeof(*p));
	size_t n = strlen(issuer_url);

	p->issuer = fc_xstrdup(issuer_url);
	/* Discovery 1.0 4: the issuer with any trailing '/' removed. */
	while (n > 0 && issuer_url[n - 1] == '/')
		n--;
	p->discovery_url =
		fc_xasprintf("%.*s/.well-known/openid-configuration", (int)n, issuer_url);
	p->ca_pem = ca_pem ? fc_xstrdup(ca_pem) : NULL;
	p->opts = opts;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	atomic_init(&p->n_discovery, 0);
	atomic_init(&p->n_jwks, 0);
	return p;
}

/*
 * Free p and its cache. No verification may be running on p. NULL is fine.
 */
void oidc_provider_free(struct oidc_provider *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	keyset_release_locked(p->keys);
	p->keys = NULL;
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free_algs(p->algs, p->n_algs);
	free(p->jwks_uri);
	free(p->ca_pem);
	free(p->discovery_url);
	free(p->issuer);
	free(p);
}

static bool is_http_url(const char *s)
{
	return strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0;
}

/*
 * Fetch and check the discovery document (Discovery 1.0 4.2, 4.3); fills
 * r->jwks_uri and r->algs. Runs without the lock.
 */
static enum fc_status discover(struct oidc_provider *p, struct fetch_result *r,
			       struct fc_err *err)
{
	struct oidc_http_response resp = { 0 };
	struct fc_err e = { 0 };
	json_error_t jerr;
	json_t *doc = NULL, *v;
	const char *iss, *uri;
	enum fc_status st = FC_EUPSTREAM;

	atomic_fetch_add(&p->n_discovery, 1);
	if (oidc_http_get(p->discovery_url, p->ca_pem, OIDC_MAX_DISCOVERY_BYTES,
			  p->opts->http_timeout_ms, &resp, &e) != FC_OK) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: discovery failed: %s", p->issuer, e.msg);
		goto out;
	}
	if (resp.status != 200) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: discovery failed: %s answered HTTP %ld",
			   p->issuer, p->discovery_url, resp.status);
		goto out;
	}
	doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		fc_err_set(err, FC_EUPSTREAM,
			   "issuer %s: discovery failed: the document is not a JSON object%s%s",
			   p->issuer, doc ? "" : ": ", doc ? "" : jerr.text);
		goto out;
	}
	if ((iss = json_string_value(json_object_get(doc, "issuer"))) == NULL) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: discovery document has no \"issuer\" string",
			   p->issuer);
		goto out;
	}
	if (strcmp(iss, p->issuer) != 0) {
		char shown[KID_MSG_MAX * 2 + 8];

		sanitize(iss, shown, sizeof(shown));
		fc_err_set(err, FC_EUPSTREAM,
			   "issuer %s: discovery document names issuer \"%s\", expected \"%s\" "
			   "(OpenID Connect Discovery 1.0 4.3)",
			   p->issuer, shown, p->issuer);
		goto out;
	}
	uri = json_string_value(json_object_get(doc, "jwks_uri"));
	if (uri == NULL || !is_http_url(uri)) {
		fc_err_set(err, FC_EUPSTREAM,
			   "issuer %s: discovery document has no http(s) \"jwks_uri\"", p->issuer);
		goto out;
	}
	v = json_object_get(doc, "id_token_signing_alg_values_supported");
	if (v == NULL) {
		/* Discovery 1.0 3: RS256 MUST be supported; go-oidc assumes it. */
		r->algs = fc_xcalloc(1, sizeof(char *));
		r->algs[r->n_algs++] = fc_xstrdup("RS256");
	} else {
		size_t i;
		json_t *a;

		if (!json_is_array(v)) {
			fc_err_set(err, FC_EUPSTREAM,
				   "issuer %s: discovery: id_token_signing_alg_values_supported "
				   "is not an array",
				   p->issuer);
			goto out;
		}
		r->algs = fc_xcalloc(json_array_size(v) + 1, sizeof(char *));
		json_array_foreach (v, i, a) {
			const char *s = json_string_value(a);

			if (s == NULL) {
				fc_err_set(err, FC_EUPSTREAM,
					   "issuer %s: discovery: id_token_signing_alg_values_supported "
					   "holds a non-string",
					   p->issuer);
				goto out;
			}
			if (oidc_alg_allowed(s))
				r->algs[r->n_algs++] = fc_xstrdup(s);
		}
	}
	r->jwks_uri = fc_xstrdup(uri);
	r->discovered = true;
	st = FC_OK;
out:
	json_decref(doc);
	oidc_http_response_free(&resp);
	return st;
}

/* Fetch and parse the JWKS at uri into r->set. Runs without the lock. */
static enum fc_status fetch_jwks(struct oidc_provider *p, const char *uri, struct fetch_result *r,
				 struct fc_err *err)
{
	struct oidc_http_response resp = { 0 };
	struct fc_err e = { 0 };
	enum fc_status st = FC_EUPSTREAM;

	atomic_fetch_add(&p->n_jwks, 1);
	if (oidc_http_get(uri, p->ca_pem, OIDC_MAX_JWKS_BYTES, p->opts->http_timeout_ms, &resp,
			  &e) != FC_OK) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: JWKS fetch failed: %s", p->issuer, e.msg);
		goto out;
	}
	if (resp.status != 200) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: JWKS fetch failed: %s answered HTTP %ld",
			   p->issuer, uri, resp.status);
		goto out;
	}
	if (oidc_jwks_parse(resp.body, resp.len, &r->set, &e) != FC_OK) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: JWKS from %s refused: %s", p->issuer, uri,
			   e.msg);
		goto out;
	}
	r->max_age_s = resp.max_age_s;
	st = FC_OK;
out:
	oidc_http_response_free(&resp);
	return st;
}

static int64_t ttl_ms(const struct oidc_options *o, int max_age_s)
{
	int64_t ttl = o->jwks_default_ttl_s;

	if (max_age_s >= 0) {
		ttl = max_age_s;
		if (ttl < o->jwks_min_ttl_s)
			ttl = o->jwks_min_ttl_s;
		if (ttl > o->jwks_max_ttl_s)
			ttl = o->jwks_max_ttl_s;
	}
	return ttl * 1000;
}

static void install_keys_locked(struct oidc_provider *p, struct oidc_jwk_set *set, int max_age_s,
				int64_t now)
{
	struct keyset *ks = fc_xcalloc(1, sizeof(*ks));

	ks->set = set;
	ks->refs = 1;
	ks->fetched_ms = now;
	ks->expires_ms = now + ttl_ms(p->opts, max_age_s);
	keyset_release_locked(p->keys);
	p->keys = ks;
}

/*
 * Run one fetch (discovery if not done yet, then the JWKS). Called with mu
 * held and p->fetching false; drops mu while on the network and holds it
 * again on return.
 */
static void fetch_locked(struct oidc_provider *p)
{
	struct fetch_result r = { 0 };
	struct fc_err e = { 0 };
	char *uri = p->have_discovery && p->jwks_uri ? fc_xstrdup(p->jwks_uri) : NULL;
	bool need_discovery = uri == NULL;
	enum fc_status st = FC_OK;
	int64_t now;

	p->fetching = true;
	p->attempted = true;
	p->last_attempt_ms = fc_mono_ms();
	pthread_mutex_unlock(&p->mu);

	if (need_discovery && (st = discover(p, &r, &e)) == FC_OK)
		uri = fc_xstrdup(r.jwks_uri);
	if (st == FC_OK)
		st = fetch_jwks(p, uri, &r, &e);

	pthread_mutex_lock(&p->mu);
	now = fc_mono_ms();
	if (r.discovered) {
		free(p->jwks_uri);
		free_algs(p->algs, p->n_algs);
		p->jwks_uri = r.jwks_uri;
		p->algs = r.algs;
		p->n_algs = r.n_algs;
		p->algs_all = false;
		p->have_discovery = true;
		r.jwks_uri = NULL;
		r.algs = NULL;
		r.n_algs = 0;
	}
	if (st == FC_OK) {
		install_keys_locked(p, r.set, r.max_age_s, now);
		r.set = NULL;
		if (p->last_failed)
			fc_log(LOG_NOTICE, "oidc: issuer %s: keys fetched again", p->issuer);
		p->last_failed = false;
		p->stale_warned = false;
		fc_err_clear(&p->last_err);
	} else {
		if (!p->last_failed)
			fc_log(LOG_WARNING, "oidc: %s", e.msg);
		p->last_failed = true;
		fc_err_clear(&p->last_err);
		fc_err_set(&p->last_err, e.status, "%s", e.msg);
	}
	p->fetching = false;
	p->fetch_seq++;
	pthread_cond_broadcast(&p->cv);

	oidc_jwk_set_free(r.set);
	free_algs(r.algs, r.n_algs);
	free(r.jwks_uri);
	free(uri);
}

/*
 * Take a reference to the keys to verify with (release with
 * keyset_release). force: the caller saw an unknown kid and wants fresh
 * keys, subject to the cooldown.
 */
static enum fc_status keys_acquire(struct oidc_provider *p, bool force, struct keyset **out,
				   struct fc_err *err)
{
	const struct oidc_options *o = p->opts;
	int64_t cooldown = (int64_t)o->refetch_cooldown_s * 1000, now;
	unsigned seq;
	enum fc_status st;

	pthread_mutex_lock(&p->mu);
	seq = p->fetch_seq;
	for (;;) {
		bool fresh, may_fetch;

		now = fc_mono_ms();
		fresh = p->keys != NULL && now < p->keys->expires_ms;
		if (fresh && !force)
			break;
		if (p->fetching) {
			/* Coalesce: wait for the fetch in flight and use its result. */
			while (p->fetching)
				pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		if (p->fetch_seq != seq)
			break; /* a fetch completed while we waited: take its result */
		may_fetch = !p->attempted || now - p->last_attempt_ms >= cooldown;
		if (!force && !p->last_failed)
			may_fetch = true; /* keys expired (or none): refresh on demand */
		if (!may_fetch)
			break;
		fetch_locked(p);
		break;
	}

	now = fc_mono_ms();
	if (p->keys != NULL && now < p->keys->expires_ms) {
		/* fresh */
	} else if (p->keys != NULL &&
		   now - p->keys->expires_ms < (int64_t)o->stale_max_s * 1000) {
		if (!p->stale_warned) {
			fc_log(LOG_WARNING,
			       "oidc: issuer %s: serving keys expired %lld s ago: %s", p->issuer,
			       (long long)((now - p->keys->expires_ms) / 1000),
			       p->last_err.msg[0] ? p->last_err.msg : "refresh pending");
			p->stale_warned = true;
		}
	} else if (p->keys != NULL) {
		st = fc_err_set(err, FC_EUPSTREAM,
				"issuer %s: cached keys expired %lld s ago (over stale_max_s=%d) "
				"and cannot be refreshed: %s",
				p->issuer, (long long)((now - p->keys->expires_ms) / 1000),
				o->stale_max_s, p->last_err.msg[0] ? p->last_err.msg : "no fetch yet");
		goto out;
	} else {
		st = fc_err_set(err, FC_EUPSTREAM, "%s",
				p->last_err.msg[0] ? p->last_err.msg
						   : "issuer has no keys yet");
		goto out;
	}
	p->keys->refs++;
	*out = p->keys;
	st = FC_OK;
out:
	pthread_mutex_unlock(&p->mu);
	return st;
}

static bool kind_fits(enum oidc_key_kind kind, const char *alg)
{
	if (alg[0] == 'R' || alg[0] == 'P')
		return kind == OIDC_KEY_RSA;
	if (strcmp(alg, "ES256") == 0)
		return kind == OIDC_KEY_EC_P256;
	if (strcmp(alg, "ES384") == 0)
		return kind == OIDC_KEY_EC_P384;
	if (strcmp(alg, "ES512") == 0)
		return kind == OIDC_KEY_EC_P521;
	if (strcmp(alg, "EdDSA") == 0)
		return kind == OIDC_KEY_ED25519;
	return false;
}

/* Is alg in discovery's id_token_signing_alg_values_supported? If not,
 * writes the list into shown. */
static bool alg_advertised(struct oidc_provider *p, const char *alg, char *shown, size_t len)
{
	bool ok = false;
	size_t o = 0;

	pthread_mutex_lock(&p->mu);
	if (p->algs_all) {
		ok = true;
		goto out;
	}
	for (size_t i = 0; i < p->n_algs; i++)
		if (strcmp(p->algs[i], alg) == 0)
			ok = true;
	shown[0] = '\0';
	for (size_t i = 0; !ok && i < p->n_algs && o + 1 < len; i++) {
		int n = snprintf(shown + o, len - o, "%s%s", i ? ", " : "", p->algs[i]);

		if (n < 0)
			break;
		o += (size_t)n;
	}
out:
	pthread_mutex_unlock(&p->mu);
	return ok;
}

enum try_result { TRY_OK, TRY_NO_KEY, TRY_FAILED };

/* Try the keys that may have signed jws; the first failure's reason goes to err. */
static enum try_result try_keys(const struct keyset *ks, const struct oidc_jws *jws,
				struct fc_err *first)
{
	size_t tried = 0;

	for (size_t i = 0; i < ks->set->n; i++) {
		const struct oidc_jwk *k = &ks->set->keys[i];
		struct fc_err e = { 0 };

		if (jws->kid != NULL) {
			if (k->kid == NULL || strcmp(k->kid, jws->kid) != 0)
				continue;
		} else if (!kind_fits(k->kind, jws->alg)) {
			continue;
		}
		tried++;
		if (oidc_jws_verify(jws, k, &e) == FC_OK)
			return TRY_OK;
		fc_err_set(first, e.status ? e.status : FC_EAUTH, "%s", e.msg);
	}
	return tried ? TRY_FAILED : TRY_NO_KEY;
}

/*
 * Verify jws's signature with this issuer's keys (RFC 7515 5.2), running
 * discovery and the JWKS fetch as needed; see the policy at the top of this
 * file. Returns FC_OK, FC_EAUTH (alg not advertised, unknown kid, bad
 * signature) or FC_EUPSTREAM (no usable keys), with the reason in err.
 */
enum fc_status oidc_provider_verify(struct oidc_provider *p, const struct oidc_jws *jws,
				    struct fc_err *err)
{
	struct keyset *ks = NULL;
	struct fc_err first = { 0 };
	char kid[KID_MSG_MAX + 8], alg[KID_MSG_MAX + 8], shown[ALGS_MSG_MAX];
	enum try_result tr;
	enum fc_status st;

	sanitize(jws->alg ? jws->alg : "", alg, sizeof(alg));
	if (jws->alg == NULL || !oidc_alg_allowed(jws->alg))
		return fc_err_set(err, FC_EAUTH, "token header: alg \"%s\" is not allowed", alg);
	if ((st = keys_acquire(p, false, &ks, err)) != FC_OK)
		return st;
	if (!alg_advertised(p, jws->alg, shown, sizeof(shown))) {
		st = fc_err_set(err, FC_EAUTH,
				"token header: alg \"%s\" is not in issuer %s's "
				"id_token_signing_alg_values_supported [%s]",
				alg, p->issuer, shown);
		goto out;
	}
	tr = try_keys(ks, jws, &first);
	if (tr == TRY_NO_KEY || (tr == TRY_FAILED && jws->kid == NULL)) {
		/* Unknown kid, or no key verified a kid-less token: maybe the
		 * issuer rotated its keys. Refetch, within the cooldown. */
		struct keyset *again = NULL;

		if (keys_acquire(p, true, &again, NULL) == FC_OK) {
			if (again != ks) {
				keyset_release(p, ks);
				ks = again;
				fc_err_clear(&first);
				tr = try_keys(ks, jws, &first);
			} else {
				keyset_release(p, again);
			}
		}
	}
	switch (tr) {
	case TRY_OK:
		st = FC_OK;
		break;
	case TRY_NO_KEY:
		if (jws->kid != NULL) {
			sanitize(jws->kid, kid, sizeof(kid));
			st = fc_err_set(err, FC_EAUTH, "no key with kid \"%s\" in the issuer's JWKS",
					kid);
		} else {
			st = fc_err_set(err, FC_EAUTH,
					"token has no kid and no key in the issuer's JWKS fits "
					"alg %s",
					alg);
		}
		break;
	default:
		st = fc_err_set(err, first.status ? first.status : FC_EAUTH, "%s",
				first.msg[0] ? first.msg : "signature verification failed");
		break;
	}
out:
	keyset_release(p, ks);
	return st;
}

/*
 * Install jwks_json as this provider's keys, as if fetched now with the
 * default TTL, and accept every allowed alg (tests, benchmarks). Discovery
 * still runs if the keys later need a refresh. FC_OK, or the
 * oidc_jwks_parse status with the reason in err.
 */
enum fc_status oidc_provider_preload(struct oidc_provider *p, const char *jwks_json, size_t len,
				     struct fc_err *err)
{
	struct oidc_jwk_set *set = NULL;
	enum fc_status st;

	if ((st = oidc_jwks_parse(jwks_json, len, &set, err)) != FC_OK)
		return st;
	pthread_mutex_lock(&p->mu);
	if (!p->have_discovery)
		p->algs_all = true;
	install_keys_locked(p, set, -1, fc_mono_ms());
	p->attempted = true;
	p->last_attempt_ms = fc_mono_ms();
	p->last_failed = false;
	fc_err_clear(&p->last_err);
	pthread_mutex_unlock(&p->mu);
	return FC_OK;
}

/*
 * Report how many discovery and JWKS fetches p attempted so far (either
 * pointer may be NULL).
 */
void oidc_provider_stats(struct oidc_provider *p, unsigned *discovery_fetches,
			 unsigned *jwks_fetches)
{
	if (discovery_fetches)
		*discovery_fetches = atomic_load(&p->n_discovery);
	if (jwks_fetches)
		*jwks_fetches = atomic_load(&p->n_jwks);
}
