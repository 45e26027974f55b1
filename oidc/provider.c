/*
 * One issuer's discovery document and JWKS cache (OpenID Connect Discovery
 * 1.0 4, RFC 7517 5).
 *
 * Threads. State lives behind one mutex. Fetches never run on the calling
 * thread: a request that needs one starts it on the verifier's fetch thread
 * (fetcher.c) and gets FC_EPENDING, its wake function queued; at most one
 * fetch (discovery and/or JWKS) is in flight per provider, and every
 * request that needs it waits for that one. When it ends, on the fetch
 * thread, its result is installed under the lock and each waiter is woken
 * exactly once, after the lock is released. The key set is reference
 * counted so that signature verification runs outside the lock while a
 * refresh replaces it. The provider itself is reference counted too: its
 * owner holds one reference and a fetch in flight another, so that an
 * owner may drop it (a meta-issuer cache evicting it) while a fetch ends.
 *
 * Fetch policy:
 *  - keys are fresh until fetched_at + TTL (Cache-Control max-age clamped to
 *    [jwks_min_ttl_s, jwks_max_ttl_s], else jwks_default_ttl_s); expired
 *    keys are refetched on the next request;
 *  - after a failed fetch, no new attempt for refetch_cooldown_s (the
 *    negative cache: requests meanwhile get the failure's reason at once);
 *    expired keys keep serving until expiry + stale_max_s;
 *  - an unknown kid (or a kid-less token no key verifies) forces a refetch,
 *    at most once per refetch_cooldown_s since the last attempt;
 *  - no fetch starts within OIDC_FETCH_MIN_GAP_MS of the end of the last
 *    one: the requests it woke call again and must get a decision, not
 *    another wait;
 *  - with a budget (meta-issuer tenants), a fetch for an issuer that never
 *    had keys takes one from the budget first (budget.c), or the request is
 *    refused with FC_EUNAVAIL.
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
#define SYNC_ROUNDS_MAX 8 /* oidc_provider_verify: waits before it gives up */

/* A fetched key set, shared by reference between the cache and verifiers. */
struct keyset {
	struct oidc_jwk_set *set;
	unsigned refs; /* under provider mu */
	int64_t fetched_ms;
	int64_t expires_ms;
};

/* A request waiting for the fetch in flight. */
struct waiter {
	struct waiter *next;
	oidc_wake_fn wake;
	void *arg;
};

/* What the fetch in flight produced so far. Set up under mu by the request
 * that starts the fetch, then used by the fetch thread alone until the
 * fetch ends and installs it under mu. */
struct fetch_result {
	char *jwks_uri_now; /* the JWKS being fetched */
	bool discovered;
	char *jwks_uri; /* from discovery, when discovered */
	char **algs;
	size_t n_algs;
	struct oidc_jwk_set *set;
	int max_age_s;
};

struct oidc_provider {
	char *issuer;
	char *discovery_url;
	char *ca_pem;
	const struct oidc_options *opts;
	struct oidc_fetcher *fetcher;
	struct oidc_budget *budget; /* NULL: fetches are not budgeted */
	atomic_uint refs;	    /* the owner's, plus one while a fetch is in flight */

	pthread_mutex_t mu;
	/* All below under mu. */
	bool fetching;		/* a fetch is in flight on the fetch thread */
	bool fetch_budgeted;	/* ... and holds a budget slot */
	struct waiter *waiters; /* woken when it ends */
	bool ended_once;	/* a fetch ended ... */
	int64_t ended_ms;	/* ... at this time */
	bool have_discovery;
	char *jwks_uri;
	bool algs_all; /* preloaded: every allowed alg */
	char **algs;   /* discovery's list ∩ our allow-list */
	size_t n_algs;
	struct keyset *keys;	 /* NULL until a JWKS was fetched */
	bool attempted;		 /* a fetch was attempted ... */
	int64_t last_attempt_ms; /* ... at this time */
	bool last_failed;
	struct fc_err last_err; /* reason of the last failure */
	bool stale_warned;	/* logged "serving stale keys" in this failure streak */

	struct fetch_result r; /* the fetch in flight's (see struct fetch_result) */

	atomic_uint n_discovery;
	atomic_uint n_jwks;
};

static void free_algs(char **algs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(algs[i]);
	free(algs);
}

static void fetch_result_clear(struct fetch_result *r)
{
	free(r->jwks_uri_now);
	free(r->jwks_uri);
	free_algs(r->algs, r->n_algs);
	oidc_jwk_set_free(r->set);
	memset(r, 0, sizeof(*r));
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
		out[o++] = (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' && in[i] != '\\') ? in[i]
											    : '?';
	if (in[i] != '\0' && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/*
 * Make a provider for issuer_url. No I/O. ca_pem (may be NULL) is copied;
 * opts and fetcher (which runs its fetches) must outlive the provider;
 * budget (may be NULL: no budget) too. Free with oidc_provider_free().
 */
struct oidc_provider *oidc_provider_new(const char *issuer_url, const char *ca_pem,
					const struct oidc_options *opts,
					struct oidc_fetcher *fetcher, struct oidc_budget *budget)
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
	p->fetcher = fetcher;
	p->budget = budget;
	atomic_init(&p->refs, 1);
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->n_discovery, 0);
	atomic_init(&p->n_jwks, 0);
	return p;
}

static void provider_unref(struct oidc_provider *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	/* Last reference: no fetch in flight, so no waiter either. */
	keyset_release_locked(p->keys);
	fetch_result_clear(&p->r);
	pthread_mutex_destroy(&p->mu);
	free_algs(p->algs, p->n_algs);
	free(p->jwks_uri);
	free(p->ca_pem);
	free(p->discovery_url);
	free(p->issuer);
	free(p);
}

/*
 * Drop the owner's reference to p: it is freed now, or when the fetch in
 * flight ends (which wakes its waiters first). No verification may be
 * running on p. NULL is fine.
 */
void oidc_provider_free(struct oidc_provider *p)
{
	if (p != NULL)
		provider_unref(p);
}

static bool is_http_url(const char *s)
{
	return strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0;
}

/* id_token_signing_alg_values_supported (v, may be NULL) ∩ our allow-list
 * into r->algs (Discovery 1.0 3). */
static enum fc_status discovery_algs(struct oidc_provider *p, const json_t *v,
				     struct fetch_result *r, struct fc_err *err)
{
	size_t i;
	json_t *a;

	if (v == NULL) {
		/* Discovery 1.0 3: RS256 MUST be supported; go-oidc assumes it. */
		r->algs = fc_xcalloc(1, sizeof(char *));
		r->algs[r->n_algs++] = fc_xstrdup("RS256");
		return FC_OK;
	}
	if (!json_is_array(v))
		return fc_err_set(err, FC_EUPSTREAM,
				  "issuer %s: discovery: id_token_signing_alg_values_supported "
				  "is not an array",
				  p->issuer);
	r->algs = fc_xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, a)
	{
		const char *s = json_string_value(a);

		if (s == NULL)
			return fc_err_set(
				err, FC_EUPSTREAM,
				"issuer %s: discovery: id_token_signing_alg_values_supported "
				"holds a non-string",
				p->issuer);
		if (oidc_alg_allowed(s))
			r->algs[r->n_algs++] = fc_xstrdup(s);
	}
	return FC_OK;
}

/*
 * Check the discovery document in resp (Discovery 1.0 4.2, 4.3); fills
 * r->jwks_uri and r->algs. Fetch thread.
 */
static enum fc_status discovery_parse(struct oidc_provider *p,
				      const struct oidc_http_response *resp, struct fetch_result *r,
				      struct fc_err *err)
{
	json_error_t jerr;
	json_t *doc = NULL;
	const char *iss, *uri;
	enum fc_status st = FC_EUPSTREAM;

	if (resp->status != 200) {
		fc_err_set(err, FC_EUPSTREAM, "issuer %s: discovery failed: %s answered HTTP %ld",
			   p->issuer, p->discovery_url, resp->status);
		goto out;
	}
	doc = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		fc_err_set(err, FC_EUPSTREAM,
			   "issuer %s: discovery failed: the document is not a JSON object%s%s",
			   p->issuer, doc ? "" : ": ", doc ? "" : jerr.text);
		goto out;
	}
	if ((iss = json_string_value(json_object_get(doc, "issuer"))) == NULL) {
		fc_err_set(err, FC_EUPSTREAM,
			   "issuer %s: discovery document has no \"issuer\" string", p->issuer);
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
	if ((st = discovery_algs(p, json_object_get(doc, "id_token_signing_alg_values_supported"),
				 r, err)) != FC_OK)
		goto out;
	r->jwks_uri = fc_xstrdup(uri);
	r->discovered = true;
	st = FC_OK;
out:
	json_decref(doc);
	return st;
}

/* Check and parse the JWKS in resp (from r->jwks_uri_now) into r->set.
 * Fetch thread. */
static enum fc_status jwks_parse(struct oidc_provider *p, const struct oidc_http_response *resp,
				 struct fetch_result *r, struct fc_err *err)
{
	struct fc_err e = {0};

	if (resp->status != 200)
		return fc_err_set(err, FC_EUPSTREAM,
				  "issuer %s: JWKS fetch failed: %s answered HTTP %ld", p->issuer,
				  r->jwks_uri_now, resp->status);
	if (oidc_jwks_parse(resp->body, resp->len, &r->set, &e) != FC_OK)
		return fc_err_set(err, FC_EUPSTREAM, "issuer %s: JWKS from %s refused: %s",
				  p->issuer, r->jwks_uri_now, e.msg);
	r->max_age_s = resp->max_age_s;
	return FC_OK;
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

/* Install what the fetch produced (st, the reason in e on failure). */
static void install_result_locked(struct oidc_provider *p, enum fc_status st,
				  const struct fc_err *e, bool aborted, int64_t now)
{
	struct fetch_result *r = &p->r;

	if (r->discovered) {
		free(p->jwks_uri);
		free_algs(p->algs, p->n_algs);
		p->jwks_uri = r->jwks_uri;
		p->algs = r->algs;
		p->n_algs = r->n_algs;
		p->algs_all = false;
		p->have_discovery = true;
		r->jwks_uri = NULL;
		r->algs = NULL;
		r->n_algs = 0;
	}
	if (st == FC_OK) {
		install_keys_locked(p, r->set, r->max_age_s, now);
		r->set = NULL;
		if (p->last_failed)
			fc_log(LOG_NOTICE, "oidc: issuer %s: keys fetched again", p->issuer);
		p->last_failed = false;
		p->stale_warned = false;
		fc_err_clear(&p->last_err);
	} else {
		if (!p->last_failed)
			fc_log(aborted ? LOG_DEBUG : LOG_WARNING, "oidc: %s", e->msg);
		p->last_failed = true;
		fc_err_clear(&p->last_err);
		fc_err_set(&p->last_err, e->status ? e->status : st, "%s", e->msg);
	}
}

/*
 * The fetch in flight ended with st (reason in e); wake is what waiters
 * are told: FC_OK, FC_EUPSTREAM, or FC_EUNAVAIL if the fetcher stopped.
 * Installs the result, frees the budget slot, wakes every waiter once
 * (outside the lock) and drops the fetch's reference. Fetch thread.
 */
static void fetch_end(struct oidc_provider *p, enum fc_status st, const struct fc_err *e,
		      enum fc_status wake)
{
	struct waiter *w, *next;
	bool budgeted;

	pthread_mutex_lock(&p->mu);
	install_result_locked(p, st, e, wake == FC_EUNAVAIL, fc_mono_ms());
	fetch_result_clear(&p->r);
	p->fetching = false;
	p->ended_once = true;
	p->ended_ms = fc_mono_ms();
	budgeted = p->fetch_budgeted;
	p->fetch_budgeted = false;
	w = p->waiters;
	p->waiters = NULL;
	pthread_mutex_unlock(&p->mu);

	if (budgeted)
		oidc_budget_release(p->budget);
	for (; w != NULL; w = next) {
		next = w->next;
		w->wake(w->arg, wake);
		free(w);
	}
	provider_unref(p);
}

/* What waiters are told about a GET that ended with st. */
static enum fc_status wake_status(enum fc_status get_st)
{
	return get_st == FC_EUNAVAIL ? FC_EUNAVAIL : FC_EUPSTREAM;
}

/* The JWKS GET ended (fetcher callback, fetch thread). */
static void on_jwks(void *arg, enum fc_status st, struct oidc_http_response *resp,
		    const struct fc_err *gerr)
{
	struct oidc_provider *p = arg;
	struct fc_err e = {0};

	if (st != FC_OK) {
		fc_err_set(&e, FC_EUPSTREAM, "issuer %s: JWKS fetch failed: %s", p->issuer,
			   gerr->msg);
		fetch_end(p, FC_EUPSTREAM, &e, wake_status(st));
		return;
	}
	st = jwks_parse(p, resp, &p->r, &e);
	fetch_end(p, st, &e, st == FC_OK ? FC_OK : FC_EUPSTREAM);
}

/* Submit the GET of the JWKS at uri (r->jwks_uri_now takes a copy). */
static enum fc_status submit_jwks(struct oidc_provider *p, const char *uri, struct fc_err *err)
{
	free(p->r.jwks_uri_now);
	p->r.jwks_uri_now = fc_xstrdup(uri);
	atomic_fetch_add(&p->n_jwks, 1);
	return oidc_fetcher_get(p->fetcher, uri, p->ca_pem, OIDC_MAX_JWKS_BYTES,
				p->opts->http_timeout_ms, on_jwks, p, err);
}

/* The discovery GET ended (fetcher callback, fetch thread): go on with
 * the JWKS, or end the fetch. */
static void on_discovery(void *arg, enum fc_status st, struct oidc_http_response *resp,
			 const struct fc_err *gerr)
{
	struct oidc_provider *p = arg;
	struct fc_err e = {0}, se = {0};

	if (st != FC_OK) {
		fc_err_set(&e, FC_EUPSTREAM, "issuer %s: discovery failed: %s", p->issuer,
			   gerr->msg);
		fetch_end(p, FC_EUPSTREAM, &e, wake_status(st));
		return;
	}
	if (discovery_parse(p, resp, &p->r, &e) != FC_OK) {
		fetch_end(p, FC_EUPSTREAM, &e, FC_EUPSTREAM);
		return;
	}
	if ((st = submit_jwks(p, p->r.jwks_uri, &se)) != FC_OK) {
		fc_err_set(&e, FC_EUPSTREAM, "issuer %s: JWKS fetch failed: %s", p->issuer, se.msg);
		fetch_end(p, FC_EUPSTREAM, &e, wake_status(st));
	}
}

/*
 * Start a fetch on the fetch thread: discovery if not done yet, then the
 * JWKS. Called with mu held and no fetch in flight; budgeted: it holds a
 * budget slot. FC_OK: in flight, its end wakes the waiters. Otherwise (the
 * fetcher is stopping) the attempt is recorded as failed, the slot given
 * back, and the status returned.
 */
static enum fc_status fetch_start_locked(struct oidc_provider *p, bool budgeted, int64_t now)
{
	struct fc_err e = {0}, fe = {0};
	enum fc_status st;

	p->attempted = true;
	p->last_attempt_ms = now;
	p->fetching = true;
	p->fetch_budgeted = budgeted;
	atomic_fetch_add(&p->refs, 1); /* the fetch's, dropped by fetch_end */
	fetch_result_clear(&p->r);
	if (p->have_discovery && p->jwks_uri) {
		if ((st = submit_jwks(p, p->jwks_uri, &fe)) != FC_OK)
			fc_err_set(&e, st, "issuer %s: JWKS fetch failed: %s", p->issuer, fe.msg);
	} else {
		atomic_fetch_add(&p->n_discovery, 1);
		if ((st = oidc_fetcher_get(p->fetcher, p->discovery_url, p->ca_pem,
					   OIDC_MAX_DISCOVERY_BYTES, p->opts->http_timeout_ms,
					   on_discovery, p, &fe)) != FC_OK)
			fc_err_set(&e, st, "issuer %s: discovery failed: %s", p->issuer, fe.msg);
	}
	if (st == FC_OK)
		return FC_OK;
	p->fetching = false;
	p->fetch_budgeted = false;
	atomic_fetch_sub(&p->refs, 1); /* the owner's remains */
	install_result_locked(p, st, &e, true, now);
	fetch_result_clear(&p->r);
	if (budgeted)
		oidc_budget_release(p->budget);
	return st;
}

/* Should a request start a fetch now? force: it saw an unknown kid. */
static bool fetch_wanted_locked(const struct oidc_provider *p, bool force, int64_t now)
{
	int64_t cooldown = (int64_t)p->opts->refetch_cooldown_s * 1000;
	bool fresh = p->keys != NULL && now < p->keys->expires_ms;

	if (fresh && !force)
		return false;
	if (p->ended_once && now - p->ended_ms < OIDC_FETCH_MIN_GAP_MS)
		return false; /* those it woke decide with its result */
	if (!p->attempted)
		return true;
	if (!force && !p->last_failed)
		return true; /* keys expired (or none): refresh on demand */
	return now - p->last_attempt_ms >= cooldown;
}

/*
 * The decision with the keys at hand: a reference to usable keys in *out
 * (release with keyset_release), or FC_EUPSTREAM with the reason.
 */
static enum fc_status keys_pick_locked(struct oidc_provider *p, int64_t now, struct keyset **out,
				       struct fc_err *err)
{
	const struct oidc_options *o = p->opts;

	if (p->keys == NULL)
		return fc_err_set(err, FC_EUPSTREAM, "%s",
				  p->last_err.msg[0] ? p->last_err.msg : "issuer has no keys yet");
	if (now >= p->keys->expires_ms &&
	    now - p->keys->expires_ms >= (int64_t)o->stale_max_s * 1000)
		return fc_err_set(err, FC_EUPSTREAM,
				  "issuer %s: cached keys expired %lld s ago (over stale_max_s=%d) "
				  "and cannot be refreshed: %s",
				  p->issuer, (long long)((now - p->keys->expires_ms) / 1000),
				  o->stale_max_s,
				  p->last_err.msg[0] ? p->last_err.msg : "no fetch yet");
	if (now >= p->keys->expires_ms && !p->stale_warned) {
		fc_log(LOG_WARNING, "oidc: issuer %s: serving keys expired %lld s ago: %s",
		       p->issuer, (long long)((now - p->keys->expires_ms) / 1000),
		       p->last_err.msg[0] ? p->last_err.msg : "refresh pending");
		p->stale_warned = true;
	}
	p->keys->refs++;
	*out = p->keys;
	return FC_OK;
}

/* Queue the caller to be woken when the fetch in flight ends. */
static enum fc_status wait_locked(struct oidc_provider *p, oidc_wake_fn wake, void *arg)
{
	struct waiter *w = fc_xmalloc(sizeof(*w));

	w->wake = wake;
	w->arg = arg;
	w->next = p->waiters;
	p->waiters = w;
	return FC_EPENDING;
}

/*
 * Take a reference to the keys to verify with (release with
 * keyset_release). force: the caller saw an unknown kid and wants fresh
 * keys, subject to the cooldown. Returns FC_OK, FC_EUPSTREAM (no usable
 * keys), FC_EUNAVAIL (a first fetch over the budget), or FC_EPENDING: a
 * fetch is in flight and wake(arg, ...) will be called once when it ends.
 */
static enum fc_status keys_acquire(struct oidc_provider *p, bool force, oidc_wake_fn wake,
				   void *arg, struct keyset **out, struct fc_err *err)
{
	enum fc_status st;
	int64_t now;
	bool fresh, budgeted = false;

	pthread_mutex_lock(&p->mu);
	now = fc_mono_ms();
	fresh = p->keys != NULL && now < p->keys->expires_ms;
	if (p->fetching && (!fresh || force)) {
		/* Coalesce: wait for the fetch in flight and use its result. */
		st = wait_locked(p, wake, arg);
		goto out;
	}
	if (!p->fetching && fetch_wanted_locked(p, force, now)) {
		if (p->budget != NULL && p->keys == NULL) {
			if ((st = oidc_budget_take(p->budget, p->issuer, err)) != FC_OK)
				goto out;
			budgeted = true;
		}
		if (fetch_start_locked(p, budgeted, now) == FC_OK) {
			st = wait_locked(p, wake, arg);
			goto out;
		}
	}
	st = keys_pick_locked(p, now, out, err);
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
		struct fc_err e = {0};

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

/* The refusal for a token no key verified (tr is not TRY_OK). */
static enum fc_status refuse(const struct oidc_jws *jws, enum try_result tr, const char *alg,
			     const struct fc_err *first, struct fc_err *err)
{
	char kid[KID_MSG_MAX + 8];

	if (tr != TRY_NO_KEY)
		return fc_err_set(err, first->status ? first->status : FC_EAUTH, "%s",
				  first->msg[0] ? first->msg : "signature verification failed");
	if (jws->kid == NULL)
		return fc_err_set(err, FC_EAUTH,
				  "token has no kid and no key in the issuer's JWKS fits alg %s",
				  alg);
	sanitize(jws->kid, kid, sizeof(kid));
	return fc_err_set(err, FC_EAUTH, "no key with kid \"%s\" in the issuer's JWKS", kid);
}

/*
 * Verify jws's signature with this issuer's keys (RFC 7515 5.2) without
 * blocking; see the policy and threads at the top of this file. Returns
 * FC_OK, FC_EAUTH (alg not advertised, unknown kid, bad signature),
 * FC_EUPSTREAM (no usable keys), FC_EUNAVAIL (a first fetch over the
 * budget), with the reason in err; or FC_EPENDING: a fetch is in flight,
 * wake(arg, st) will be called once from the fetch thread when it ends,
 * and the caller then calls again (unless st is FC_EUNAVAIL: the fetcher
 * stopped).
 */
enum fc_status oidc_provider_verify_nb(struct oidc_provider *p, const struct oidc_jws *jws,
				       oidc_wake_fn wake, void *arg, struct fc_err *err)
{
	struct keyset *ks = NULL;
	struct fc_err first = {0};
	char alg[KID_MSG_MAX + 8], shown[ALGS_MSG_MAX];
	enum try_result tr;
	enum fc_status st;

	sanitize(jws->alg ? jws->alg : "", alg, sizeof(alg));
	if (jws->alg == NULL || !oidc_alg_allowed(jws->alg))
		return fc_err_set(err, FC_EAUTH, "token header: alg \"%s\" is not allowed", alg);
	if ((st = keys_acquire(p, false, wake, arg, &ks, err)) != FC_OK)
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

		st = keys_acquire(p, true, wake, arg, &again, NULL);
		if (st == FC_EPENDING)
			goto out;
		if (st == FC_OK && again != ks) {
			keyset_release(p, ks);
			ks = again;
			fc_err_clear(&first);
			tr = try_keys(ks, jws, &first);
		} else if (st == FC_OK) {
			keyset_release(p, again);
		}
	}
	st = tr == TRY_OK ? FC_OK : refuse(jws, tr, alg, &first, err);
out:
	keyset_release(p, ks);
	return st;
}

/*
 * Verify jws's signature with this issuer's keys, waiting (on the calling
 * thread, which never fetches) for the fetches it needs: the statuses of
 * oidc_provider_verify_nb but FC_EPENDING; FC_EUNAVAIL also if the fetcher
 * stopped meanwhile.
 */
enum fc_status oidc_provider_verify(struct oidc_provider *p, const struct oidc_jws *jws,
				    struct fc_err *err)
{
	struct oidc_sync s;
	enum fc_status st;

	oidc_sync_init(&s);
	for (int round = 1;; round++) {
		if ((st = oidc_provider_verify_nb(p, jws, oidc_sync_wake, &s, err)) != FC_EPENDING)
			break;
		if (oidc_sync_wait(&s) == FC_EUNAVAIL) {
			st = fc_err_set(err, FC_EUNAVAIL,
					"issuer %s: the verifier is shutting down", p->issuer);
			break;
		}
		if (round == SYNC_ROUNDS_MAX) {
			/* Not reached: each round after the first decides. */
			st = fc_err_set(err, FC_EUNAVAIL, "issuer %s: keys still being fetched",
					p->issuer);
			break;
		}
	}
	oidc_sync_destroy(&s);
	return st;
}

/*
 * For an owner's cache of providers (any pointer may be NULL): is a fetch
 * in flight; did one end less than OIDC_FETCH_MIN_GAP_MS ago (its waiters
 * may be about to call again); did p ever have keys?
 */
void oidc_provider_usage(struct oidc_provider *p, bool *fetching, bool *just_ended, bool *has_keys)
{
	pthread_mutex_lock(&p->mu);
	if (fetching)
		*fetching = p->fetching;
	if (just_ended)
		*just_ended = p->ended_once && fc_mono_ms() - p->ended_ms < OIDC_FETCH_MIN_GAP_MS;
	if (has_keys)
		*has_keys = p->keys != NULL;
	pthread_mutex_unlock(&p->mu);
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
