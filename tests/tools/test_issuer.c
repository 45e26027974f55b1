/*
 * test-issuer: a real OpenID Connect issuer on loopback for the test suite.
 *
 * It serves a discovery document (OpenID Connect Discovery 1.0 4) and a
 * JWKS (RFC 7517 5), mints compact JWS tokens on demand (RFC 7515 7.1) and
 * lets tests break itself in controlled ways (issuer down, huge or garbage
 * JWKS, redirects, key rotation). It deliberately does not use the oidc
 * module: it is an independent token maker that signs with OpenSSL EVP.
 *
 *   test-issuer --port-file FILE [--port N] [--issuer URL]
 *
 * Listens on 127.0.0.1 (port 0 = any free port), writes "<port>\n" to FILE
 * atomically once listening, runs until SIGTERM or SIGINT, exits 0.
 *
 * Routes (discovery and JWKS also answer under the path of --issuer):
 *   GET  /.well-known/openid-configuration
 *   GET  /jwks          (302 to /jwks-real when a redirect is configured)
 *   GET  /jwks-real
 *   GET  /tenant/NAME/.well-known/openid-configuration
 *   GET  /tenant/NAME/jwks
 *                       any number of tenants (NAME: [-_a-zA-Z0-9]+), each an
 *                       issuer of its own, http://127.0.0.1:PORT/tenant/NAME,
 *                       with the same keys: what a MetaIssuers pattern such as
 *                       http://127.0.0.1:PORT/tenant/ * matches
 *   GET  /stats         {"discovery": n, "jwks": n, "jwks_real": n, "mint": n,
 *                        "tenant_discovery": n, "tenant_jwks": n}
 *   POST /mint          JSON request, answers the compact JWS as text/plain
 *                       (a tenant's token: "claims": {"iss": its URL})
 *   POST /control       JSON request, answers {"ok":true}
 * See the brief in tests/README or the comments on handle_mint and
 * handle_control for the request fields.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common.h"

#define MAX_BODY (64 * 1024)	       /* request body cap */
#define HUGE_BYTES (50u * 1024 * 1024) /* "huge" JWKS size */
#define SLOW_DELAY_S 15		       /* "slow" JWKS delay */
#define HANG_S 600		       /* "hang": until stopped, in practice */
#define MAX_DELAY_MS 600000	       /* cap on the *_delay_ms controls */
#define TENANT_PREFIX "/tenant/"
#define TENANT_NAME_MAX 128
#define DEFAULT_EXP_S 600

enum key_type { KT_RSA, KT_EC256, KT_EC384, KT_EC521, KT_ED25519 };

struct key_def {
	const char *name;     /* name used by /mint's "key" */
	const char *kid_base; /* kid is "<kid_base>-<generation>" */
	enum key_type type;
	bool published;
};

static const struct key_def key_defs[] = {
	{"rsa", "rsa", KT_RSA, true},
	{"ec256", "ec256", KT_EC256, true},
	{"ec384", "ec384", KT_EC384, true},
	{"ec521", "ec521", KT_EC521, true},
	{"ed25519", "ed25519", KT_ED25519, true},
	/* Not published, but carrying a published kid ("signature from another key"). */
	{"rogue-rsa", "rsa", KT_RSA, false},
	{"rogue-ec256", "ec256", KT_EC256, false},
};
#define N_KEYS (sizeof(key_defs) / sizeof(key_defs[0]))

struct key {
	const struct key_def *def;
	char kid[32];
	EVP_PKEY *pkey;
};

enum jwks_mode { JWKS_OK, JWKS_DOWN, JWKS_HUGE, JWKS_HUGE_CL, JWKS_SLOW, JWKS_GARBAGE, JWKS_HANG };
enum disc_mode { DISC_OK, DISC_DOWN, DISC_HANG };
enum redirect_mode { REDIR_NONE, REDIR_SAME, REDIR_CROSS };

/* Everything below is guarded by state_mu. */
static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;
static struct key keys[N_KEYS];
static int generation;
static enum jwks_mode jwks_mode = JWKS_OK;
static enum disc_mode discovery_mode = DISC_OK;
static enum disc_mode tenant_mode = DISC_OK; /* every tenant's discovery */
static unsigned discovery_delay_ms, tenant_delay_ms;
static char *discovery_issuer; /* NULL: the real issuer */
static char *cache_control;    /* NULL: no header */
static json_t *algs;	       /* NULL: default list */
static enum redirect_mode jwks_redirect = REDIR_NONE;
static bool jwk_alg = true; /* publish "alg" in each JWK */
static unsigned n_discovery, n_jwks, n_jwks_real, n_mint, n_tenant_discovery, n_tenant_jwks;

/* Set once at start. */
static char *issuer;	  /* as advertised and used as default iss */
static char *issuer_base; /* issuer without trailing '/' */
static char *issuer_path; /* path part of issuer_base, "" for none */
static unsigned listen_port;

static const char *const default_algs[] = {"RS256", "ES256", "ES384", "ES512",
					   "EdDSA", "PS256", "PS384", "PS512"};

/* --- keys ------------------------------------------------------------------ */

static EVP_PKEY *keygen(enum key_type t)
{
	switch (t) {
	case KT_RSA: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case KT_EC256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case KT_EC384: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case KT_EC521: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	case KT_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
	return NULL;
}

static size_t ec_coord_len(enum key_type t)
{
	switch (t) {
	case KT_EC256: return 32;
	case KT_EC384: return 48;
	case KT_EC521: return 66;
	default: return 0;
	}
}

static const char *default_alg(enum key_type t)
{
	switch (t) {
	case KT_RSA: return "RS256";
	case KT_EC256: return "ES256";
	case KT_EC384: return "ES384";
	case KT_EC521: return "ES512";
	case KT_ED25519: return "EdDSA";
	}
	return "none";
}

/* Generate a full key set for generation gen into out; false on failure. */
static bool keys_generate(struct key *out, int gen)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		out[i].def = &key_defs[i];
		snprintf(out[i].kid, sizeof(out[i].kid), "%s-%d", key_defs[i].kid_base, gen);
		if ((out[i].pkey = keygen(key_defs[i].type)) == NULL) {
			fc_log_ssl("test-issuer: key generation");
			return false;
		}
	}
	return true;
}

static void keys_free(struct key *ks)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		EVP_PKEY_free(ks[i].pkey);
		ks[i].pkey = NULL;
	}
}

static struct key *key_by_name_locked(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].def->name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool set_b64_bn(json_t *o, const char *member, const BIGNUM *bn, size_t pad)
{
	size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
	uint8_t *raw = fc_xmalloc(n ? n : 1);
	char *s = NULL;
	bool ok = false;

	if (BN_bn2binpad(bn, raw, (int)n) != (int)n)
		goto out;
	s = fc_b64url_encode(raw, n);
	ok = json_object_set_new(o, member, json_string(s)) == 0;
out:
	free(raw);
	free(s);
	return ok;
}

/* The public JWK of k (RFC 7518 6.2, 6.3; RFC 8037 2), or NULL. */
static json_t *key_to_jwk_locked(const struct key *k)
{
	json_t *j = json_pack("{s:s, s:s}", "kid", k->kid, "use", "sig");
	BIGNUM *a = NULL, *b = NULL;
	bool ok = false;

	if (j == NULL)
		return NULL;
	if (jwk_alg && json_object_set_new(j, "alg", json_string(default_alg(k->def->type))) != 0)
		goto out;
	switch (k->def->type) {
	case KT_RSA:
		if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &a) != 1 ||
		    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &b) != 1)
			goto out;
		ok = json_object_set_new(j, "kty", json_string("RSA")) == 0 &&
		     set_b64_bn(j, "n", a, 0) && set_b64_bn(j, "e", b, 0);
		break;
	case KT_EC256:
	case KT_EC384:
	case KT_EC521: {
		static const char *const crv[] = {"P-256", "P-384", "P-521"};
		size_t n = ec_coord_len(k->def->type);

		if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1 ||
		    EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1)
			goto out;
		ok = json_object_set_new(j, "kty", json_string("EC")) == 0 &&
		     json_object_set_new(j, "crv", json_string(crv[k->def->type - KT_EC256])) ==
			     0 &&
		     set_b64_bn(j, "x", a, n) && set_b64_bn(j, "y", b, n);
		break;
	}
	case KT_ED25519: {
		uint8_t raw[32];
		size_t n = sizeof(raw);
		char *x;

		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1 || n != sizeof(raw))
			goto out;
		x = fc_b64url_encode(raw, n);
		ok = json_object_set_new(j, "kty", json_string("OKP")) == 0 &&
		     json_object_set_new(j, "crv", json_string("Ed25519")) == 0 &&
		     json_object_set_new(j, "x", json_string(x)) == 0;
		free(x);
		break;
	}
	}
out:
	BN_free(a);
	BN_free(b);
	if (!ok) {
		fc_log_ssl("test-issuer: JWK export");
		json_decref(j);
		return NULL;
	}
	return j;
}

static char *jwks_text_locked(void)
{
	json_t *arr = json_array(), *doc = NULL;
	char *s = NULL;

	for (size_t i = 0; i < N_KEYS; i++) {
		json_t *jwk;

		if (!keys[i].def->published)
			continue;
		if ((jwk = key_to_jwk_locked(&keys[i])) == NULL)
			goto out;
		json_array_append_new(arr, jwk);
	}
	doc = json_pack("{s:O}", "keys", arr);
	if (doc)
		s = json_dumps(doc, JSON_COMPACT);
out:
	json_decref(arr);
	json_decref(doc);
	return s;
}

/* PEM text of the rsa key's public half (the "hs256-pubkey" HMAC key). */
static char *rsa_pub_pem_locked(void)
{
	struct key *k = key_by_name_locked("rsa");
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s = NULL;
	long n;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, k->pkey) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0)
		goto out;
	s = fc_xstrndup(p, (size_t)n);
out:
	BIO_free(bio);
	return s;
}

/* --- signing ------------------------------------------------------------------ */

static const EVP_MD *alg_md(const char *alg)
{
	const char *bits = alg + strlen(alg) - 3;

	if (strlen(alg) != 5)
		return NULL;
	if (strcmp(bits, "256") == 0)
		return EVP_sha256();
	if (strcmp(bits, "384") == 0)
		return EVP_sha384();
	if (strcmp(bits, "512") == 0)
		return EVP_sha512();
	return NULL;
}

/*
 * Sign in with k under alg (RFC 7518 3.3 - 3.5, RFC 8037 3.1). When alg
 * does not fit k, k's natural algorithm is used instead (the header then
 * names an alg the signature does not follow, which tests want).
 */
static bool sign_jws_locked(const struct key *k, const char *alg, const char *in, size_t inlen,
			    uint8_t **sig, size_t *siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = alg_md(alg);
	enum key_type t = k->def->type;
	uint8_t *der = NULL, *raw = NULL;
	size_t derlen = 0;
	ECDSA_SIG *es = NULL;
	bool pss = false, ok = false;

	if (mctx == NULL)
		goto out;
	if (t == KT_RSA) {
		if (md == NULL || (strncmp(alg, "RS", 2) != 0 && strncmp(alg, "PS", 2) != 0))
			md = EVP_sha256();
		else
			pss = alg[0] == 'P';
	} else if (t != KT_ED25519) {
		if (md == NULL || strncmp(alg, "ES", 2) != 0)
			md = alg_md(default_alg(t));
	} else {
		md = NULL;
	}
	if (EVP_DigestSignInit(mctx, &pctx, md, NULL, k->pkey) != 1)
		goto out;
	if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (EVP_DigestSign(mctx, NULL, &derlen, (const uint8_t *)in, inlen) != 1)
		goto out;
	der = fc_xmalloc(derlen);
	if (EVP_DigestSign(mctx, der, &derlen, (const uint8_t *)in, inlen) != 1)
		goto out;
	if (t == KT_RSA || t == KT_ED25519) {
		*sig = der;
		*siglen = derlen;
		der = NULL;
	} else {
		/* RFC 7518 3.4: JWS wants R || S, each padded to the coordinate size. */
		size_t n = ec_coord_len(t);
		const uint8_t *p = der;
		const BIGNUM *r, *s;

		if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		raw = fc_xmalloc(2 * n);
		if (BN_bn2binpad(r, raw, (int)n) != (int)n ||
		    BN_bn2binpad(s, raw + n, (int)n) != (int)n)
			goto out;
		*sig = raw;
		*siglen = 2 * n;
		raw = NULL;
	}
	ok = true;
out:
	if (!ok)
		fc_log_ssl("test-issuer: signing");
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	free(der);
	free(raw);
	return ok;
}

/* --- HTTP helpers ---------------------------------------------------------------- */

struct req {
	struct fc_buf body;
	bool too_big;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
			     const char *body, size_t len, const char *cc)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (cc)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (s == NULL)
		return reply(c, 500, "text/plain", "internal error\n", 15, NULL);
	ret = reply(c, status, "application/json", s, strlen(s), NULL);
	free(s);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return reply_json(c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result reply_redirect(struct MHD_Connection *c, const char *location)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
	ret = MHD_queue_response(c, MHD_HTTP_FOUND, r);
	MHD_destroy_response(r);
	return ret;
}

static const char huge_prefix[] = "{\"keys\":[";
static const char huge_pattern[] = "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AAAAAAAAAAAAAAAA\"},";

/* Produce HUGE_BYTES of JSON-looking bytes without ever holding them. */
static ssize_t huge_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	size_t plen = sizeof(huge_prefix) - 1, qlen = sizeof(huge_pattern) - 1, n;

	if (pos >= HUGE_BYTES)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = HUGE_BYTES - (size_t)pos;
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		uint64_t at = pos + i;
		buf[i] = at < plen ? huge_prefix[at] : huge_pattern[(at - plen) % qlen];
	}
	return (ssize_t)n;
}

/* Sleep up to ms milliseconds; returns early when the issuer is stopping. */
static void sleep_interruptible_ms(long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&state_mu);
	while (!stopping) {
		if (pthread_cond_timedwait(&stop_cv, &state_mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&state_mu);
}

static void sleep_interruptible(int s)
{
	sleep_interruptible_ms((long)s * 1000);
}

/* --- routes --------------------------------------------------------------------- */

/*
 * The discovery document of the issuer (tenant NULL) or of a tenant, after
 * the configured delay; 503 when down, no answer until stopped when
 * hanging.
 */
static enum MHD_Result handle_discovery(struct MHD_Connection *c, const char *tenant)
{
	json_t *doc, *a;
	char *iss, *base, *jwks_uri, *token, *auth;
	enum disc_mode mode;
	unsigned delay_ms;

	pthread_mutex_lock(&state_mu);
	if (tenant) {
		n_tenant_discovery++;
		mode = tenant_mode;
		delay_ms = tenant_delay_ms;
		iss = fc_xasprintf("http://127.0.0.1:%u" TENANT_PREFIX "%s", listen_port, tenant);
		base = fc_xstrdup(iss);
	} else {
		n_discovery++;
		mode = discovery_mode;
		delay_ms = discovery_delay_ms;
		iss = fc_xstrdup(discovery_issuer ? discovery_issuer : issuer);
		base = fc_xstrdup(issuer_base);
	}
	a = algs ? json_deep_copy(algs) : json_array();
	if (algs == NULL)
		for (size_t i = 0; i < sizeof(default_algs) / sizeof(default_algs[0]); i++)
			json_array_append_new(a, json_string(default_algs[i]));
	jwks_uri = fc_xasprintf("%s/jwks", base);
	token = fc_xasprintf("%s/token", base);
	auth = fc_xasprintf("%s/auth", base);
	doc = json_pack("{s:s, s:s, s:o, s:[s], s:[s], s:s, s:s}", "issuer", iss, "jwks_uri",
			jwks_uri, "id_token_signing_alg_values_supported", a,
			"response_types_supported", "id_token", "subject_types_supported", "public",
			"token_endpoint", token, "authorization_endpoint", auth);
	pthread_mutex_unlock(&state_mu);
	free(iss);
	free(base);
	free(jwks_uri);
	free(token);
	free(auth);
	if (delay_ms > 0)
		sleep_interruptible_ms(delay_ms);
	if (mode == DISC_HANG)
		sleep_interruptible(HANG_S);
	if (mode != DISC_OK) {
		json_decref(doc);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "discovery down\n", 15,
			     NULL);
	}
	return reply_json(c, MHD_HTTP_OK, doc);
}

/* A tenant's JWKS: the issuer's keys. */
static enum MHD_Result handle_tenant_jwks(struct MHD_Connection *c)
{
	char *text;
	enum MHD_Result ret;

	pthread_mutex_lock(&state_mu);
	n_tenant_jwks++;
	text = jwks_text_locked();
	pthread_mutex_unlock(&state_mu);
	if (text == NULL)
		return reply(c, 500, "text/plain", "internal error\n", 15, NULL);
	ret = reply(c, MHD_HTTP_OK, "application/json", text, strlen(text), NULL);
	free(text);
	return ret;
}

/* GET /tenant/NAME/...: the tenant's discovery or JWKS, else 404. */
static enum MHD_Result handle_tenant(struct MHD_Connection *c, const char *url)
{
	const char *name = url + strlen(TENANT_PREFIX), *rest;
	char tenant[TENANT_NAME_MAX + 1];
	size_t n = 0;

	while ((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= 'A' && name[n] <= 'Z') ||
	       (name[n] >= '0' && name[n] <= '9') || name[n] == '-' || name[n] == '_')
		n++;
	rest = name + n;
	if (n == 0 || n > TENANT_NAME_MAX)
		return reply_error(c, MHD_HTTP_NOT_FOUND, "no such tenant");
	memcpy(tenant, name, n);
	tenant[n] = '\0';
	if (strcmp(rest, "/.well-known/openid-configuration") == 0)
		return handle_discovery(c, tenant);
	if (strcmp(rest, "/jwks") == 0)
		return handle_tenant_jwks(c);
	return reply_error(c, MHD_HTTP_NOT_FOUND, "no such route");
}

static enum MHD_Result handle_jwks(struct MHD_Connection *c, bool real)
{
	enum jwks_mode mode;
	enum redirect_mode redir;
	char *text = NULL, *cc = NULL, *loc = NULL;
	enum MHD_Result ret;

	pthread_mutex_lock(&state_mu);
	if (real)
		n_jwks_real++;
	else
		n_jwks++;
	mode = jwks_mode;
	redir = real ? REDIR_NONE : jwks_redirect;
	if (cache_control)
		cc = fc_xstrdup(cache_control);
	if (mode == JWKS_OK || mode == JWKS_SLOW)
		text = jwks_text_locked();
	pthread_mutex_unlock(&state_mu);

	if (redir == REDIR_SAME)
		loc = fc_xasprintf("%s/jwks-real", issuer_path);
	else if (redir == REDIR_CROSS)
		loc = fc_xasprintf("http://localhost:%u%s/jwks-real", listen_port, issuer_path);
	if (loc) {
		ret = reply_redirect(c, loc);
		goto out;
	}
	switch (mode) {
	case JWKS_DOWN:
		ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "jwks down\n", 10, NULL);
		break;
	case JWKS_GARBAGE:
		ret = reply(c, MHD_HTTP_OK, "application/json", "<html>this is not json", 22, cc);
		break;
	case JWKS_HUGE:
	case JWKS_HUGE_CL: {
		struct MHD_Response *r = MHD_create_response_from_callback(
			mode == JWKS_HUGE ? MHD_SIZE_UNKNOWN : HUGE_BYTES, 64 * 1024, huge_reader,
			NULL, NULL);

		if (r == NULL) {
			ret = MHD_NO;
			break;
		}
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		break;
	}
	case JWKS_HANG:
		sleep_interruptible(HANG_S);
		ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "jwks down\n", 10, NULL);
		break;
	case JWKS_SLOW:
		sleep_interruptible(SLOW_DELAY_S);
		/* fall through */
	case JWKS_OK:
		if (text == NULL)
			ret = reply(c, 500, "text/plain", "internal error\n", 15, NULL);
		else
			ret = reply(c, MHD_HTTP_OK, "application/json", text, strlen(text), cc);
		break;
	default: ret = MHD_NO;
	}
out:
	free(loc);
	free(text);
	free(cc);
	return ret;
}

static enum MHD_Result handle_stats(struct MHD_Connection *c)
{
	json_t *j;

	pthread_mutex_lock(&state_mu);
	j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "discovery", (json_int_t)n_discovery,
		      "jwks", (json_int_t)n_jwks, "jwks_real", (json_int_t)n_jwks_real, "mint",
		      (json_int_t)n_mint, "tenant_discovery", (json_int_t)n_tenant_discovery,
		      "tenant_jwks", (json_int_t)n_tenant_jwks);
	pthread_mutex_unlock(&state_mu);
	return reply_json(c, MHD_HTTP_OK, j);
}

static char *b64url_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	char *b;

	if (s == NULL)
		return NULL;
	b = fc_b64url_encode((const uint8_t *)s, strlen(s));
	free(s);
	return b;
}

/*
 * POST /mint {"claims", "defaults", "key", "alg", "kid", "header_extra",
 * "mode", "raw_payload"}: answer a compact JWS (text/plain).
 */
static enum MHD_Result handle_mint(struct MHD_Connection *c, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *claims = NULL, *header = NULL, *v;
	const char *key_name = "rsa", *mode = "normal", *alg = NULL, *why = NULL;
	char *h64 = NULL, *p64 = NULL, *input = NULL, *s64 = NULL, *token = NULL, *pem = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	bool defaults = true, locked = false;
	struct key *k;
	enum MHD_Result ret;

	if (req == NULL || !json_is_object(req)) {
		why = "body is not a JSON object";
		goto bad;
	}
	if ((v = json_object_get(req, "claims")) != NULL) {
		if (!json_is_object(v)) {
			why = "claims must be an object";
			goto bad;
		}
		claims = json_deep_copy(v);
	} else {
		claims = json_object();
	}
	if ((v = json_object_get(req, "defaults")) != NULL) {
		if (!json_is_boolean(v)) {
			why = "defaults must be a boolean";
			goto bad;
		}
		defaults = json_is_true(v);
	}
	if ((v = json_object_get(req, "key")) != NULL &&
	    (key_name = json_string_value(v)) == NULL) {
		why = "key must be a string";
		goto bad;
	}
	if ((v = json_object_get(req, "mode")) != NULL && (mode = json_string_value(v)) == NULL) {
		why = "mode must be a string";
		goto bad;
	}
	if (strcmp(mode, "normal") != 0 && strcmp(mode, "none") != 0 &&
	    strcmp(mode, "hs256-pubkey") != 0) {
		why = "mode must be normal, none or hs256-pubkey";
		goto bad;
	}
	if ((v = json_object_get(req, "alg")) != NULL && (alg = json_string_value(v)) == NULL) {
		why = "alg must be a string";
		goto bad;
	}
	if (strcmp(mode, "hs256-pubkey") == 0)
		key_name = "rsa";

	pthread_mutex_lock(&state_mu);
	locked = true;
	n_mint++;
	if ((k = key_by_name_locked(key_name)) == NULL) {
		why = "unknown key name";
		goto bad;
	}
	if (strcmp(mode, "none") == 0)
		alg = "none";
	else if (strcmp(mode, "hs256-pubkey") == 0)
		alg = "HS256";
	else if (alg == NULL)
		alg = default_alg(k->def->type);
	header = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
	v = json_object_get(req, "kid");
	if (v == NULL || strcmp(mode, "hs256-pubkey") == 0) {
		json_object_set_new(header, "kid", json_string(k->kid));
	} else if (json_is_string(v)) {
		json_object_set(header, "kid", v);
	} else if (!json_is_null(v)) {
		why = "kid must be a string or null";
		goto bad;
	}
	if ((v = json_object_get(req, "header_extra")) != NULL) {
		if (!json_is_object(v)) {
			why = "header_extra must be an object";
			goto bad;
		}
		json_object_update(header, v);
	}
	if ((v = json_object_get(req, "raw_payload")) != NULL) {
		if (!json_is_string(v)) {
			why = "raw_payload must be a string";
			goto bad;
		}
		p64 = fc_b64url_encode((const uint8_t *)json_string_value(v),
				       json_string_length(v));
	} else {
		if (defaults) {
			int64_t now = fc_now();

			if (json_object_get(claims, "iss") == NULL)
				json_object_set_new(claims, "iss", json_string(issuer));
			if (json_object_get(claims, "iat") == NULL)
				json_object_set_new(claims, "iat", json_integer(now));
			if (json_object_get(claims, "exp") == NULL)
				json_object_set_new(claims, "exp",
						    json_integer(now + DEFAULT_EXP_S));
			if (json_object_get(claims, "aud") == NULL)
				json_object_set_new(claims, "aud", json_string("sigstore"));
			if (json_object_get(claims, "sub") == NULL)
				json_object_set_new(claims, "sub", json_string("test-subject"));
		}
		p64 = b64url_json(claims);
	}
	h64 = b64url_json(header);
	if (h64 == NULL || p64 == NULL) {
		why = "cannot serialise the token";
		goto bad;
	}
	input = fc_xasprintf("%s.%s", h64, p64);
	if (strcmp(mode, "none") == 0) {
		s64 = fc_xstrdup("");
	} else if (strcmp(mode, "hs256-pubkey") == 0) {
		uint8_t mac[EVP_MAX_MD_SIZE];
		size_t maclen = 0;

		if ((pem = rsa_pub_pem_locked()) == NULL ||
		    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, strlen(pem),
			      (const uint8_t *)input, strlen(input), mac, sizeof(mac),
			      &maclen) == NULL) {
			why = "HMAC failed";
			goto bad;
		}
		s64 = fc_b64url_encode(mac, maclen);
	} else {
		if (!sign_jws_locked(k, alg, input, strlen(input), &sig, &siglen)) {
			why = "signing failed";
			goto bad;
		}
		s64 = fc_b64url_encode(sig, siglen);
	}
	pthread_mutex_unlock(&state_mu);
	locked = false;
	token = fc_xasprintf("%s.%s", input, s64);
	ret = reply(c, MHD_HTTP_OK, "text/plain", token, strlen(token), NULL);
	goto out;
bad:
	if (locked)
		pthread_mutex_unlock(&state_mu);
	ret = reply_error(c, MHD_HTTP_BAD_REQUEST, why);
out:
	json_decref(req);
	json_decref(claims);
	json_decref(header);
	free(h64);
	free(p64);
	free(input);
	free(s64);
	free(token);
	free(pem);
	free(sig);
	return ret;
}

/* "ok", "down" or "hang" into *mode; false if v is none of them. */
static bool parse_disc_mode(const json_t *v, int *mode)
{
	static const char *const names[] = {"ok", "down", "hang"};

	for (size_t i = 0; json_is_string(v) && i < sizeof(names) / sizeof(*names); i++)
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*mode = (int)i;
			return true;
		}
	return false;
}

/* A delay in ms (0 .. MAX_DELAY_MS) into *ms; false if v is not one. */
static bool parse_delay(const json_t *v, long *ms)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MAX_DELAY_MS)
		return false;
	*ms = (long)json_integer_value(v);
	return true;
}

/* The controls of the issuer's and its tenants' discovery: "discovery",
 * "tenant_discovery" (ok, down, hang), "discovery_delay_ms",
 * "tenant_delay_ms"; -1 where absent. NULL, or why the request is bad. */
static const char *parse_discovery_controls(const json_t *req, int *disc, int *tdisc, long *delay,
					    long *tdelay)
{
	const json_t *v;

	*disc = *tdisc = -1;
	*delay = *tdelay = -1;
	if ((v = json_object_get(req, "discovery")) != NULL && !parse_disc_mode(v, disc))
		return "discovery must be ok, down or hang";
	if ((v = json_object_get(req, "tenant_discovery")) != NULL && !parse_disc_mode(v, tdisc))
		return "tenant_discovery must be ok, down or hang";
	if ((v = json_object_get(req, "discovery_delay_ms")) != NULL && !parse_delay(v, delay))
		return "discovery_delay_ms must be an integer from 0 to 600000";
	if ((v = json_object_get(req, "tenant_delay_ms")) != NULL && !parse_delay(v, tdelay))
		return "tenant_delay_ms must be an integer from 0 to 600000";
	return NULL;
}

/*
 * POST /control {"jwks", "discovery", "discovery_issuer", "cache_control",
 * "algs", "rotate", "jwks_redirect", "jwk_alg", "reset_stats",
 * "discovery_delay_ms", "tenant_discovery", "tenant_delay_ms"}: change
 * behaviour; state persists until changed. "jwks" and "discovery" may be
 * "hang" (no answer until the issuer stops). The whole request is validated
 * before anything changes.
 */
static enum MHD_Result handle_control(struct MHD_Connection *c, const char *body, size_t len)
{
	static const char *const jwks_names[] = {"ok",	 "down",    "huge", "huge-cl",
						 "slow", "garbage", "hang"};
	static const char *const redir_names[] = {"none", "same-origin", "cross-origin"};
	json_error_t jerr;
	json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *v, *di, *cc, *al;
	int jm = -1, rm = -1, disc = -1, tdisc = -1;
	long delay = -1, tdelay = -1;
	const char *why = NULL;
	struct key fresh[N_KEYS];
	bool rotate = false;

	memset(fresh, 0, sizeof(fresh));
	if (req == NULL || !json_is_object(req)) {
		why = "body is not a JSON object";
		goto bad;
	}
	if ((v = json_object_get(req, "jwks")) != NULL) {
		for (size_t i = 0;
		     json_is_string(v) && i < sizeof(jwks_names) / sizeof(*jwks_names); i++)
			if (strcmp(json_string_value(v), jwks_names[i]) == 0)
				jm = (int)i;
		if (jm < 0) {
			why = "jwks must be ok, down, huge, huge-cl, slow, garbage or hang";
			goto bad;
		}
	}
	if ((v = json_object_get(req, "jwks_redirect")) != NULL) {
		for (size_t i = 0;
		     json_is_string(v) && i < sizeof(redir_names) / sizeof(*redir_names); i++)
			if (strcmp(json_string_value(v), redir_names[i]) == 0)
				rm = (int)i;
		if (rm < 0) {
			why = "jwks_redirect must be none, same-origin or cross-origin";
			goto bad;
		}
	}
	if ((why = parse_discovery_controls(req, &disc, &tdisc, &delay, &tdelay)) != NULL)
		goto bad;
	di = json_object_get(req, "discovery_issuer");
	cc = json_object_get(req, "cache_control");
	al = json_object_get(req, "algs");
	if ((di && !json_is_string(di) && !json_is_null(di)) ||
	    (cc && !json_is_string(cc) && !json_is_null(cc))) {
		why = "discovery_issuer and cache_control must be strings or null";
		goto bad;
	}
	if (al && !json_is_null(al)) {
		size_t i;

		if (!json_is_array(al)) {
			why = "algs must be an array of strings or null";
			goto bad;
		}
		json_array_foreach(al, i, v) if (!json_is_string(v))
		{
			why = "algs must be an array of strings or null";
			goto bad;
		}
	}
	if ((v = json_object_get(req, "rotate")) != NULL && !json_is_boolean(v)) {
		why = "rotate must be a boolean";
		goto bad;
	}
	rotate = json_is_true(v);
	if ((v = json_object_get(req, "jwk_alg")) != NULL && !json_is_boolean(v)) {
		why = "jwk_alg must be a boolean";
		goto bad;
	}
	if ((v = json_object_get(req, "reset_stats")) != NULL && !json_is_boolean(v)) {
		why = "reset_stats must be a boolean";
		goto bad;
	}
	if (rotate) {
		int gen;

		pthread_mutex_lock(&state_mu);
		gen = generation + 1;
		pthread_mutex_unlock(&state_mu);
		if (!keys_generate(fresh, gen)) {
			keys_free(fresh);
			json_decref(req);
			return reply_error(c, 500, "key generation failed");
		}
	}

	pthread_mutex_lock(&state_mu);
	if (jm >= 0)
		jwks_mode = (enum jwks_mode)jm;
	if (rm >= 0)
		jwks_redirect = (enum redirect_mode)rm;
	if (disc >= 0)
		discovery_mode = (enum disc_mode)disc;
	if (tdisc >= 0)
		tenant_mode = (enum disc_mode)tdisc;
	if (delay >= 0)
		discovery_delay_ms = (unsigned)delay;
	if (tdelay >= 0)
		tenant_delay_ms = (unsigned)tdelay;
	if (di) {
		free(discovery_issuer);
		discovery_issuer = json_is_string(di) ? fc_xstrdup(json_string_value(di)) : NULL;
	}
	if (cc) {
		free(cache_control);
		cache_control = json_is_string(cc) ? fc_xstrdup(json_string_value(cc)) : NULL;
	}
	if (al) {
		json_decref(algs);
		algs = json_is_array(al) ? json_deep_copy(al) : NULL;
	}
	if ((v = json_object_get(req, "jwk_alg")) != NULL)
		jwk_alg = json_is_true(v);
	if (json_is_true(json_object_get(req, "reset_stats")))
		n_discovery = n_jwks = n_jwks_real = n_mint = n_tenant_discovery = n_tenant_jwks =
			0;
	if (rotate) {
		keys_free(keys);
		memcpy(keys, fresh, sizeof(keys));
		generation++;
	}
	pthread_mutex_unlock(&state_mu);
	json_decref(req);
	return reply_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
bad:
	json_decref(req);
	return reply_error(c, MHD_HTTP_BAD_REQUEST, why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;
	size_t plen = strlen(issuer_path);
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	if (r == NULL) {
		r = fc_xcalloc(1, sizeof(*r));
		fc_buf_init(&r->body, MAX_BODY);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!fc_buf_append(&r->body, upload_data, *upload_data_size))
			r->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");

	if (get && strncmp(url, TENANT_PREFIX, strlen(TENANT_PREFIX)) == 0)
		return handle_tenant(c, url);
	/* Discovery and JWKS also answer under the issuer's own path. */
	if (plen > 0 && strncmp(url, issuer_path, plen) == 0 && url[plen] == '/')
		url += plen;
	if (get && strcmp(url, "/.well-known/openid-configuration") == 0)
		return handle_discovery(c, NULL);
	if (get && strcmp(url, "/jwks") == 0)
		return handle_jwks(c, false);
	if (get && strcmp(url, "/jwks-real") == 0)
		return handle_jwks(c, true);
	if (get && strcmp(url, "/stats") == 0)
		return handle_stats(c);
	if (post && strcmp(url, "/mint") == 0)
		return handle_mint(c, (const char *)r->body.data, r->body.len);
	if (post && strcmp(url, "/control") == 0)
		return handle_control(c, (const char *)r->body.data, r->body.len);
	return reply_error(c, MHD_HTTP_NOT_FOUND, "no such route");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	if (r == NULL)
		return;
	fc_buf_free(&r->body);
	free(r);
	*con_cls = NULL;
}

/* libmicrohttpd's own messages (e.g. a client hanging up on the "huge"
 * JWKS, which is what tests want) are debug noise here. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	fc_vlog(LOG_DEBUG, fmt, ap);
}

/* --- main ------------------------------------------------------------------------ */

static int write_port_file(const char *path, unsigned port)
{
	char *tmp = fc_xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int rc = -1;

	if (f == NULL)
		goto out;
	if (fprintf(f, "%u\n", port) < 0) {
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0)
		goto out;
	if (rename(tmp, path) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		fc_log(LOG_ERR, "test-issuer: %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: test-issuer --port-file FILE [--port N] [--issuer URL]\n");
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *issuer_arg = NULL;
	unsigned long port = 0;
	struct sockaddr_in sa;
	struct MHD_Daemon *d = NULL;
	socklen_t salen;
	sigset_t set;
	int sig, rc = 1, lfd = -1, one = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
			port_file = argv[++i];
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			char *end;

			errno = 0;
			port = strtoul(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || port > 65535) {
				usage();
				return 2;
			}
		} else if (strcmp(argv[i], "--issuer") == 0 && i + 1 < argc) {
			issuer_arg = argv[++i];
		} else {
			usage();
			return 2;
		}
	}
	if (port_file == NULL) {
		usage();
		return 2;
	}

	/* Signals are taken synchronously by sigwait in main; every thread
	 * (MHD's included) inherits the blocked mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	generation = 1;
	if (!keys_generate(keys, generation))
		goto out;

	/* Bind first, so that the issuer URL is known before any request
	 * thread can read it. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	salen = sizeof(sa);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		fc_log(LOG_ERR, "test-issuer: cannot listen on 127.0.0.1:%lu: %s", port,
		       strerror(errno));
		goto out;
	}
	listen_port = ntohs(sa.sin_port);
	issuer = issuer_arg ? fc_xstrdup(issuer_arg)
			    : fc_xasprintf("http://127.0.0.1:%u", listen_port);
	issuer_base = fc_xstrdup(issuer);
	for (size_t n = strlen(issuer_base); n > 0 && issuer_base[n - 1] == '/'; n--)
		issuer_base[n - 1] = '\0';
	{
		const char *p = strstr(issuer_base, "://");

		p = p ? strchr(p + 3, '/') : NULL;
		issuer_path = fc_xstrdup(p ? p : "");
	}
	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, lfd,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (d == NULL) {
		fc_log(LOG_ERR, "test-issuer: cannot start the HTTP daemon");
		goto out;
	}
	lfd = -1; /* the daemon owns it now */
	if (write_port_file(port_file, listen_port) != 0)
		goto out;
	fc_log(LOG_INFO, "test-issuer: listening on 127.0.0.1:%u, issuer %s", listen_port, issuer);

	for (;;) {
		if (sigwait(&set, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	rc = 0;
out:
	pthread_mutex_lock(&state_mu);
	stopping = true;
	pthread_cond_broadcast(&stop_cv);
	pthread_mutex_unlock(&state_mu);
	if (d)
		MHD_stop_daemon(d);
	if (lfd >= 0)
		close(lfd);
	keys_free(keys);
	free(issuer);
	free(issuer_base);
	free(issuer_path);
	free(discovery_issuer);
	free(cache_control);
	json_decref(algs);
	return rc;
}
