/*
 * TLS on the front's listeners (docs/http.md, "TLS"). libmicrohttpd's TLS
 * is GnuTLS; the handshake runs on the connection inside MHD_run, on the
 * I/O side, also for the sockets the front accepts itself and hands over
 * with MHD_add_connection (0.9.75 daemon.c new_connection_prepare_ sets up
 * the GnuTLS session of every new connection of a TLS daemon).
 *
 * The certificate chain and key come from two PEM files, loaded into a
 * key set (struct tls_keys). A server's current set can be replaced
 * (fc_httpd_tls_reload, on SIGHUP) while connections are open: libmicro-
 * httpd is given a certificate callback (MHD_OPTION_HTTPS_CERT_CALLBACK,
 * gnutls_certificate_retrieve_function2), which GnuTLS calls once per
 * handshake; the callback pins the set that is current at that moment to
 * the connection (a reference held until libmicrohttpd reports the
 * connection closed, after its gnutls_deinit: daemon.c
 * MHD_cleanup_connections), so a session never loses the certificate and
 * key it was made with, and the next handshake gets the new set. A new
 * pair that does not load, whose key does not match its certificate, or
 * whose chain is out of order is refused and the old set stays.
 *
 * The key of this listener is not a signing key of the CA: it lives in the
 * network process, as any web server's does.
 */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common_int.h"

/* Protocol versions and the AEAD suites with forward secrecy only (TLS 1.3's
 * three, and ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2); no SHA-1
 * signatures; X25519, P-256 and P-384; the server's order. */
#define TLS_PRIO_COMMON                                                                            \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"                 \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"               \
	"+GROUP-SECP384R1:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1:%SERVER_PRECEDENCE"
#define TLS_PRIO_12 "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" TLS_PRIO_COMMON
#define TLS_PRIO_13 "NORMAL:-VERS-ALL:+VERS-TLS1.3:" TLS_PRIO_COMMON

/* One certificate chain and its key, shared by the connections whose
 * handshake used it; freed with its last reference. */
struct tls_keys {
	atomic_uint refs;
	gnutls_pcert_st *pcerts;
	unsigned n_pcerts;
	gnutls_privkey_t key;
	char serial[2 * FC_HTTPD_TLS_MAX_SERIAL + 1]; /* hex, for logs and tests */
	char *subject;
	time_t not_after;
};

struct fc_httpd_tls {
	char *cert_path;
	char *key_path;
	char *passphrase;     /* of an encrypted key, kept for reloads; wiped */
	unsigned min_version; /* 12 or 13 */
	pthread_mutex_t lock;
	struct tls_keys *current; /* one reference; under lock */
};

static void keys_release(struct tls_keys *k)
{
	if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	for (unsigned i = 0; i < k->n_pcerts; i++)
		gnutls_pcert_deinit(&k->pcerts[i]);
	free(k->pcerts);
	if (k->key)
		gnutls_privkey_deinit(k->key);
	free(k->subject);
	free(k);
}

/* The server's current set, with a reference for the caller. */
static struct tls_keys *keys_get(struct fc_httpd_tls *t)
{
	struct tls_keys *k;

	pthread_mutex_lock(&t->lock);
	k = t->current;
	atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&t->lock);
	return k;
}

static void crts_free(gnutls_x509_crt_t *crts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

/* What the log says of the leaf: serial (its value in hex, as openssl
 * prints it: without the DER encoding's leading zero byte), subject, end
 * of validity; a warning when the leaf is not valid now (it is served
 * anyway). */
static void describe_leaf(struct tls_keys *k, gnutls_x509_crt_t leaf, const char *path)
{
	unsigned char serial[FC_HTTPD_TLS_MAX_SERIAL + 1];
	size_t len = sizeof(serial), skip = 0;
	gnutls_datum_t dn = {NULL, 0};
	time_t now = time(NULL), nb = gnutls_x509_crt_get_activation_time(leaf);

	k->serial[0] = '\0';
	if (gnutls_x509_crt_get_serial(leaf, serial, &len) == GNUTLS_E_SUCCESS) {
		while (skip + 1 < len && serial[skip] == 0)
			skip++;
		for (size_t i = skip; i < len && i - skip < FC_HTTPD_TLS_MAX_SERIAL; i++)
			snprintf(k->serial + 2 * (i - skip), 3, "%02x", serial[i]);
	}
	k->subject = gnutls_x509_crt_get_dn3(leaf, &dn, 0) == GNUTLS_E_SUCCESS
			     ? fc_xstrndup((const char *)dn.data, dn.size)
			     : fc_xstrdup("?");
	gnutls_free(dn.data);
	k->not_after = gnutls_x509_crt_get_expiration_time(leaf);
	if (now < nb || now > k->not_after)
		fc_log(LOG_WARNING,
		       "httpd: tls: --tls-cert %s: serial=%s is not valid now "
		       "(clients will refuse it)",
		       path, k->serial);
}

/* The chain of cert_path, leaf first, each certificate issued by the next
 * (GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED), into k. */
static enum fc_status load_chain(struct tls_keys *k, const char *path, struct fc_err *err)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	char *pem = NULL;
	size_t len = 0;
	gnutls_datum_t d;
	struct fc_err rerr = {0};
	enum fc_status st;
	int rc;

	if ((st = fc_read_file(path, FC_HTTPD_TLS_MAX_FILE, &pem, &len, &rerr)) != FC_OK)
		return fc_err_set(err, st, "--tls-cert %s", rerr.msg);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	rc = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM,
					  GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	free(pem);
	if (rc < 0 || n == 0) {
		st = fc_err_set(err, FC_ECONFIG, "--tls-cert %s: %s", path,
				rc == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
					? "the chain is not in order (the leaf first, then each "
					  "certificate's issuer)"
				: rc < 0 ? gnutls_strerror(rc)
					 : "no certificate");
		goto out;
	}
	if (n > FC_HTTPD_TLS_MAX_CHAIN) {
		st = fc_err_set(err, FC_ECONFIG, "--tls-cert %s: more than %d certificates", path,
				FC_HTTPD_TLS_MAX_CHAIN);
		goto out;
	}
	k->pcerts = fc_xcalloc(n, sizeof(*k->pcerts));
	if ((rc = gnutls_pcert_import_x509_list(k->pcerts, crts, &n, 0)) < 0) {
		st = fc_err_set(err, FC_ECONFIG, "--tls-cert %s: %s", path, gnutls_strerror(rc));
		goto out;
	}
	k->n_pcerts = n;
	describe_leaf(k, crts[0], path);
	st = FC_OK;
out:
	crts_free(crts, n);
	return st;
}

/* The key of key_path (decrypted with pass if it is encrypted), into k. */
static enum fc_status load_key(struct tls_keys *k, const char *path, const char *pass,
			       struct fc_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	gnutls_datum_t d;
	enum fc_status st;
	int rc;

	if ((st = fc_read_secret_file(path, FC_HTTPD_TLS_MAX_FILE, "--tls-key", &pem, &len, NULL,
				      err)) != FC_OK)
		return st;
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	if (gnutls_privkey_init(&k->key) != GNUTLS_E_SUCCESS) {
		st = fc_err_set(err, FC_EINTERNAL, "--tls-key %s: out of memory", path);
	} else if ((rc = gnutls_privkey_import_x509_raw(k->key, &d, GNUTLS_X509_FMT_PEM, pass, 0)) <
		   0) {
		bool encrypted = strstr(pem, "ENCRYPTED") != NULL;
		st = fc_err_set(err, FC_ECONFIG, "--tls-key %s: %s", path,
				encrypted && pass == NULL
					? "the key is encrypted: give its passphrase "
					  "in " FC_HTTPD_TLS_KEY_PASSWD_ENV
				: encrypted ? "cannot decrypt it (wrong passphrase?)"
					    : gnutls_strerror(rc));
	}
	fc_memzero(pem, len);
	free(pem);
	return st;
}

/* Does the key belong to the leaf? Compares their public keys (DER). */
static enum fc_status check_pair(struct tls_keys *k, const char *cert_path, const char *key_path,
				 struct fc_err *err)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
	bool same = false;

	if (gnutls_pubkey_init(&pub) == GNUTLS_E_SUCCESS &&
	    gnutls_pubkey_import_privkey(pub, k->key, 0, 0) == GNUTLS_E_SUCCESS &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) == GNUTLS_E_SUCCESS &&
	    gnutls_pubkey_export2(k->pcerts[0].pubkey, GNUTLS_X509_FMT_DER, &b) == GNUTLS_E_SUCCESS)
		same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (!same)
		return fc_err_set(err, FC_ECONFIG,
				  "--tls-key %s does not match the certificate "
				  "of --tls-cert %s",
				  key_path, cert_path);
	return FC_OK;
}

/* A new key set from t's files: FC_OK and *out (one reference), or the
 * reason in err. */
static enum fc_status keys_load(const struct fc_httpd_tls *t, struct tls_keys **out,
				struct fc_err *err)
{
	struct tls_keys *k = fc_xcalloc(1, sizeof(*k));
	enum fc_status st;

	atomic_init(&k->refs, 1);
	if ((st = load_chain(k, t->cert_path, err)) != FC_OK ||
	    (st = load_key(k, t->key_path, t->passphrase, err)) != FC_OK ||
	    (st = check_pair(k, t->cert_path, t->key_path, err)) != FC_OK) {
		keys_release(k);
		return st;
	}
	*out = k;
	return FC_OK;
}

/* The passphrase of an encrypted key: copied, then wiped from the
 * environment (NULL when unset). */
static char *take_passphrase(void)
{
	char *env = getenv(FC_HTTPD_TLS_KEY_PASSWD_ENV), *pass;

	if (env == NULL)
		return NULL;
	pass = fc_xstrdup(env);
	fc_memzero(env, strlen(env));
	unsetenv(FC_HTTPD_TLS_KEY_PASSWD_ENV);
	return pass;
}

static void log_serving(const struct fc_httpd_tls *t, const struct tls_keys *k, const char *what)
{
	char na[32] = "?";
	struct tm tm;

	if (gmtime_r(&k->not_after, &tm) != NULL)
		strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fc_log(LOG_NOTICE,
	       "httpd: tls: %s certificate serial=%s subject=\"%s\" not after %s "
	       "(%u in chain; %s, %s); TLS %s minimum",
	       what, k->serial, k->subject, na, k->n_pcerts, t->cert_path, t->key_path,
	       t->min_version == 13 ? "1.3" : "1.2");
}

/*
 * Load the certificate chain and key that l's TLS flags name (common.h):
 * FC_OK and l->tls set (free with fc_httpd_tls_free once every server
 * using it has stopped), FC_OK and l->tls NULL when no TLS flag was given
 * (plain HTTP), or FC_ECONFIG with the reason in err. Takes the key's
 * passphrase from FC_HTTPD_TLS_KEY_PASSWD_ENV and removes it from the
 * environment: call it before a thread that reads the environment starts.
 */
enum fc_status fc_httpd_tls_load(struct fc_httpd_limits *l, struct fc_err *err)
{
	struct fc_httpd_tls *t;
	enum fc_status st;

	l->tls = NULL;
	if (l->tls_cert_path == NULL && l->tls_key_path == NULL) {
		if (l->tls_min_version != 0)
			return fc_err_set(err, FC_ECONFIG,
					  "--tls-min-version needs --tls-cert "
					  "and --tls-key");
		return FC_OK;
	}
	if (l->tls_cert_path == NULL || l->tls_key_path == NULL)
		return fc_err_set(err, FC_ECONFIG, "--tls-cert and --tls-key go together");
	t = fc_xcalloc(1, sizeof(*t));
	t->cert_path = fc_xstrdup(l->tls_cert_path);
	t->key_path = fc_xstrdup(l->tls_key_path);
	t->passphrase = take_passphrase();
	t->min_version = l->tls_min_version == 13 ? 13 : 12;
	pthread_mutex_init(&t->lock, NULL);
	if ((st = keys_load(t, &t->current, err)) != FC_OK) {
		fc_httpd_tls_free(t);
		return st;
	}
	log_serving(t, t->current, "serving");
	l->tls = t;
	return FC_OK;
}

/*
 * Read t's files again and, if they load and match, serve the new chain
 * to every handshake from now on; connections already open keep theirs.
 * Otherwise log why at LOG_ERR and keep the current set. FC_OK, or the
 * status of the refusal. NULL (no TLS) is fine: FC_OK.
 */
enum fc_status fc_httpd_tls_reload(struct fc_httpd_tls *t)
{
	struct fc_err err = {0};
	struct tls_keys *k = NULL, *old;
	enum fc_status st;

	if (t == NULL)
		return FC_OK;
	if ((st = keys_load(t, &k, &err)) != FC_OK) {
		old = keys_get(t);
		fc_log(LOG_ERR, "httpd: tls: reload refused, still serving serial=%s: %s",
		       old->serial, err.msg);
		keys_release(old);
		return st;
	}
	pthread_mutex_lock(&t->lock);
	old = t->current;
	t->current = k;
	pthread_mutex_unlock(&t->lock);
	log_serving(t, k, "reloaded: now serving");
	keys_release(old); /* freed when the last connection using it closes */
	return FC_OK;
}

/*
 * After a privilege drop: can this process still read t's files? A
 * warning for each it cannot (a SIGHUP would then keep the current pair).
 * NULL is fine.
 */
void fc_httpd_tls_check_access(const struct fc_httpd_tls *t)
{
	if (t == NULL)
		return;
	if (access(t->cert_path, R_OK) != 0)
		fc_log(LOG_WARNING,
		       "httpd: tls: --tls-cert %s: %s for this user: SIGHUP cannot "
		       "reload it",
		       t->cert_path, strerror(errno));
	if (access(t->key_path, R_OK) != 0)
		fc_log(LOG_WARNING,
		       "httpd: tls: --tls-key %s: %s for this user: SIGHUP cannot "
		       "reload it",
		       t->key_path, strerror(errno));
}

/* Free t (NULL is fine): after every server that used it has stopped. */
void fc_httpd_tls_free(struct fc_httpd_tls *t)
{
	if (t == NULL)
		return;
	keys_release(t->current);
	fc_free_secret(t->passphrase);
	free(t->cert_path);
	free(t->key_path);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* GnuTLS's priority string for t (MHD_OPTION_HTTPS_PRIORITIES). */
const char *httpd_tls_priorities(const struct fc_httpd_tls *t)
{
	return t->min_version == 13 ? TLS_PRIO_13 : TLS_PRIO_12;
}

/*
 * The certificate of a handshake (gnutls_certificate_retrieve_function2,
 * through MHD_OPTION_HTTPS_CERT_CALLBACK; run inside MHD_run, on the I/O
 * side). libmicrohttpd sets the session's pointer to its connection
 * (daemon.c new_connection_prepare_), whose socket context is the front's
 * conn_ctx: the current set is pinned there on the first handshake and
 * served to any later one on the same connection. 0, or -1 to fail the
 * handshake.
 */
int httpd_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		       gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
		conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	struct conn_ctx *c = ci ? ci->socket_context : NULL;

	if (c == NULL || c->d->lim.tls == NULL)
		return -1;
	c->d->activity++; /* a ClientHello was read: the turn did something */
	if (c->tls_keys == NULL)
		c->tls_keys = keys_get(c->d->lim.tls);
	*pcert = c->tls_keys->pcerts;
	*pcert_length = c->tls_keys->n_pcerts;
	*pkey = c->tls_keys->key;
	return 0;
}

/* A connection of a TLS server starts: until its first request it counts
 * as a handshake that may be waiting for its client (httpd_io.c
 * loop_timeout). Nothing for plain HTTP. */
void httpd_tls_conn_start(struct conn_ctx *c)
{
	if (c->d->lim.tls == NULL)
		return;
	c->tls_handshaking = true;
	c->d->tls_handshakes++;
}

/* The first request of c has arrived: its handshake is over. */
void httpd_tls_conn_request(struct conn_ctx *c)
{
	if (!c->tls_handshaking)
		return;
	c->tls_handshaking = false;
	c->d->tls_handshakes--;
}

/* The connection of c is closed (and its GnuTLS session gone): drop its
 * key set; it no longer counts as a handshake. */
void httpd_tls_conn_end(struct conn_ctx *c)
{
	httpd_tls_conn_request(c);
	keys_release(c->tls_keys);
	c->tls_keys = NULL;
}
