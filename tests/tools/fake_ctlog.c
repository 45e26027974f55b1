/*
 * fake_ctlog: a TEST TOOL that misbehaves on command. It is not a CT log:
 * it keeps no tree, stores nothing but (optionally) the precertificates it
 * was sent, and exists only so that fault tests can drive the CA's CT
 * client through every failure a real log can produce.
 *
 *   fake_ctlog serve --port-file F --key-out PUB.pem [--mode M] [--delay-ms N]
 *                    [--roots PEM] [--record-dir DIR]
 *   fake_ctlog check --cert LEAF.pem --issuer CA.pem [--precert P.der] --log-key PUB.pem
 *                    [--log-key PUB2.pem ...] [--scts N]
 *
 * serve answers POST /ct/v1/add-pre-chain according to the mode; by default
 * ("ok") with an SCT correctly signed by its own P-256 key (made at start,
 * public half written to --key-out), over signed data computed with
 * fulcrum's ct/sct.c, with an 8-byte leaf_index extension as static-CT
 * logs send. Modes:
 *   ok          correct SCT (after --delay-ms, if set: "slow")
 *   400         400 with a reason
 *   429-once    429 + Retry-After: 1 on the first attempt of each chain, then ok
 *   503         503 forever
 *   500         500 (an unexpected status)
 *   garbage     200 with a body that is not JSON
 *   wrong-key   SCT signed by another key (log id still ours)
 *   wrong-id    SCT signed by our key, but carrying another log's id
 *   wrong-cert  SCT signed over a different TBS
 *   future      SCT with a timestamp one hour ahead
 *   hang        accept the request and never answer (until the mode changes
 *               or the tool stops)
 * GET /fake/mode?set=M[&delay_ms=N] switches at run time; GET /fake/stats
 * answers {"submissions":N,"ok":N}. GET /ct/v1/get-roots lists --roots.
 * --record-dir: each precert received is written as DIR/<SERIAL-HEX>.der.
 *
 * check runs the independent oracles of ct_oracle.h on an issued leaf: it
 * must carry N SCTs (default 1), each valid for one of the log keys given;
 * it prints which (by the order of --log-key).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ct_oracle.h"
#include "ct.h"

#define MAX_BODY (1024 * 1024)
#define SEEN_MAX 8192

static EVP_PKEY *log_key;   /* ours */
static EVP_PKEY *other_key; /* for wrong-key */
static uint8_t log_id[32];
static const char *record_dir;
static json_t *roots_json;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char mode[32] = "ok";
static unsigned delay_ms;
static uint8_t seen[SEEN_MAX][32]; /* 429-once: chains already pushed back */
static size_t n_seen;
static atomic_ulong n_submissions, n_ok, leaf_index;
static atomic_bool stopping;
static uint8_t other_id[32]; /* for wrong-id */

struct req {
	struct fc_buf body;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body, const char *retry_after)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t **sig, size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		  EVP_DigestSign(md, NULL, sig_len, msg, len) == 1 &&
		  (*sig = malloc(*sig_len)) != NULL &&
		  EVP_DigestSign(md, *sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

static void record(X509 *precert, const uint8_t *der, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(precert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char path[4096];
	FILE *f;

	if (hex != NULL) {
		snprintf(path, sizeof(path), "%s/%s.der", record_dir, hex);
		if ((f = fopen(path, "wb")) != NULL) {
			fwrite(der, 1, len, f);
			fclose(f);
		}
	}
	OPENSSL_free(hex);
	BN_free(bn);
}

/* Answer an add-pre-chain body in mode m. */
static enum MHD_Result add_pre_chain(struct MHD_Connection *conn, const struct fc_buf *body,
				     const char *m)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)body->data, body->len, 0, &jerr);
	json_t *chain = root ? json_object_get(root, "chain") : NULL;
	uint8_t *pre_der = NULL, *iss_der = NULL, *tbs = NULL, *sig = NULL;
	size_t pre_len = 0, iss_len = 0, sig_len = 0;
	X509 *pre = NULL, *iss = NULL;
	const unsigned char *p;
	uint8_t ikh[32], ext[8];
	struct ct_sct sct = {0};
	struct fc_buf sd;
	char *text = NULL;
	int tbs_len = 0;
	uint64_t idx;
	enum MHD_Result ret;

	fc_buf_init(&sd, 0);
	if (!json_is_array(chain) || json_array_size(chain) < 2 ||
	    !json_is_string(json_array_get(chain, 0)) ||
	    !json_is_string(json_array_get(chain, 1)) ||
	    !fc_b64_decode_any(json_string_value(json_array_get(chain, 0)),
			       json_string_length(json_array_get(chain, 0)), &pre_der, &pre_len) ||
	    !fc_b64_decode_any(json_string_value(json_array_get(chain, 1)),
			       json_string_length(json_array_get(chain, 1)), &iss_der, &iss_len)) {
		ret = reply(conn, 400, "text/plain", "fake_ctlog: bad add-pre-chain body", NULL);
		goto out;
	}
	p = pre_der;
	pre = d2i_X509(NULL, &p, (long)pre_len);
	p = iss_der;
	iss = d2i_X509(NULL, &p, (long)iss_len);
	if (pre == NULL || iss == NULL ||
	    (tbs = oracle_tbs_without(pre, NID_ct_precert_poison, &tbs_len)) == NULL) {
		ret = reply(conn, 400, "text/plain", "fake_ctlog: chain[0] is not a precertificate",
			    NULL);
		goto out;
	}
	if (record_dir)
		record(pre, pre_der, pre_len);
	if (ct_key_hash(X509_get0_pubkey(iss), ikh) != FC_OK)
		abort();
	idx = atomic_fetch_add(&leaf_index, 1);
	/* leaf_index extension (c2sp.org/static-ct-api): type 0, length 5. */
	ext[0] = 0;
	ext[1] = 0;
	ext[2] = 5;
	for (int i = 0; i < 5; i++)
		ext[3 + i] = (uint8_t)(idx >> (8 * (4 - i)));
	sct.version = 0;
	memcpy(sct.log_id, strcmp(m, "wrong-id") == 0 ? other_id : log_id, 32);
	sct.timestamp = (uint64_t)time(NULL) * 1000;
	if (strcmp(m, "future") == 0)
		sct.timestamp += 3600 * 1000;
	sct.extensions = ext;
	sct.ext_len = sizeof(ext);
	sct.hash_alg = CT_HASH_SHA256;
	sct.sig_alg = CT_SIG_ECDSA;
	if (strcmp(m, "wrong-cert") == 0)
		tbs[tbs_len - 1] ^= 0x01; /* another certificate's TBS */
	if (ct_signed_data_precert(sct.timestamp, ikh, tbs, (size_t)tbs_len, ext, sizeof(ext),
				   &sd) != FC_OK ||
	    !sign(strcmp(m, "wrong-key") == 0 ? other_key : log_key, sd.data, sd.len, &sig,
		  &sig_len))
		abort();
	sct.sig = sig;
	sct.sig_len = sig_len;
	text = ct_sct_to_json(&sct);
	atomic_fetch_add(&n_ok, 1);
	ret = reply(conn, 200, "application/json", text, NULL);
out:
	free(text);
	free(sig);
	OPENSSL_free(tbs);
	X509_free(pre);
	X509_free(iss);
	free(pre_der);
	free(iss_der);
	fc_buf_free(&sd);
	json_decref(root);
	return ret;
}

/* 429-once: true the first time this body is seen. */
static bool first_time(const struct fc_buf *body)
{
	uint8_t h[32];
	unsigned int hl = 0;
	bool first = true;

	EVP_Digest(body->data, body->len, h, &hl, EVP_sha256(), NULL);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_seen && first; i++)
		first = memcmp(seen[i], h, 32) != 0;
	if (first)
		memcpy(seen[n_seen++ % SEEN_MAX], h, 32);
	if (n_seen > SEEN_MAX)
		n_seen = SEEN_MAX;
	pthread_mutex_unlock(&lock);
	return first;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct req *r = *state;
	char m[32];
	unsigned d;

	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		fc_buf_init(&r->body, MAX_BODY);
		*state = r;
		return MHD_YES;
	}
	if (*upload_len > 0) {
		if (!fc_buf_append(&r->body, upload, *upload_len))
			return MHD_NO;
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/fake/mode") == 0) {
		const char *set = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "set");
		const char *dm =
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "delay_ms");
		pthread_mutex_lock(&lock);
		if (set && strlen(set) < sizeof(mode))
			snprintf(mode, sizeof(mode), "%s", set);
		if (dm)
			delay_ms = (unsigned)strtoul(dm, NULL, 10);
		snprintf(m, sizeof(m), "%s", mode);
		pthread_mutex_unlock(&lock);
		fprintf(stderr, "fake_ctlog: mode %s delay %u ms\n", m, delay_ms);
		return reply(conn, 200, "text/plain", m, NULL);
	}
	if (strcmp(url, "/fake/stats") == 0) {
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"submissions\":%lu,\"ok\":%lu}",
			 atomic_load(&n_submissions), atomic_load(&n_ok));
		return reply(conn, 200, "application/json", buf, NULL);
	}
	if (strcmp(url, "/ct/v1/get-roots") == 0) {
		char *text = json_dumps(roots_json, JSON_COMPACT);
		enum MHD_Result ret = reply(conn, 200, "application/json", text, NULL);
		free(text);
		return ret;
	}
	if (strcmp(url, "/ct/v1/add-pre-chain") != 0 || strcmp(method, "POST") != 0)
		return reply(conn, 404, "text/plain", "fake_ctlog: not found", NULL);

	atomic_fetch_add(&n_submissions, 1);
	pthread_mutex_lock(&lock);
	snprintf(m, sizeof(m), "%s", mode);
	d = delay_ms;
	pthread_mutex_unlock(&lock);
	if (d > 0)
		usleep(d * 1000u); /* thread per connection: only this one waits */
	for (bool hang = strcmp(m, "hang") == 0; hang && !atomic_load(&stopping);) {
		usleep(50 * 1000);
		pthread_mutex_lock(&lock);
		hang = strcmp(mode, "hang") == 0;
		pthread_mutex_unlock(&lock);
	}
	if (strcmp(m, "hang") == 0)
		return reply(conn, 503, "text/plain", "fake_ctlog: no longer hanging", "0");
	if (strcmp(m, "400") == 0)
		return reply(conn, 400, "text/plain",
			     "fake_ctlog: chain does not chain to a known root (test mode 400)",
			     NULL);
	if (strcmp(m, "503") == 0)
		return reply(conn, 503, "text/plain", "fake_ctlog: pool full (test mode 503)", "0");
	if (strcmp(m, "500") == 0)
		return reply(conn, 500, "text/plain", "fake_ctlog: internal error (test mode 500)",
			     NULL);
	if (strcmp(m, "429-once") == 0 && first_time(&r->body))
		return reply(conn, 429, "text/plain", "fake_ctlog: slow down (test mode 429-once)",
			     "1");
	if (strcmp(m, "garbage") == 0)
		return reply(conn, 200, "application/json", "<html>not json at all", NULL);
	return add_pre_chain(conn, &r->body, m);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *state;

	if (r != NULL) {
		fc_buf_free(&r->body);
		free(r);
		*state = NULL;
	}
}

static EVP_PKEY *p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void load_roots(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		fprintf(stderr, "fake_ctlog: cannot open %s\n", path);
		exit(2);
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		unsigned char *der = NULL;
		int len = i2d_X509(x, &der);
		char *b64 = fc_b64_encode(der, (size_t)len);
		json_array_append_new(json_object_get(roots_json, "certificates"),
				      json_string(b64));
		free(b64);
		OPENSSL_free(der);
		X509_free(x);
	}
	ERR_clear_error();
	fclose(f);
}

static X509 *read_pem_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

/* check: the independent oracles on an issued leaf; --log-key repeated for
 * several logs, --scts N the number of SCTs the leaf must carry. */
static int check_main(int argc, char **argv)
{
	const char *cert = NULL, *issuer = NULL, *precert = NULL, *keys[8];
	EVP_PKEY *pub[8] = {NULL};
	X509 *leaf = NULL, *iss = NULL, *pre = NULL;
	size_t n_keys = 0;
	int want = 1, which[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, rc = 1;
	char why[512] = "", logs[64] = "";
	FILE *f;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--cert") == 0)
			cert = argv[i + 1];
		else if (strcmp(argv[i], "--issuer") == 0)
			issuer = argv[i + 1];
		else if (strcmp(argv[i], "--precert") == 0)
			precert = argv[i + 1];
		else if (strcmp(argv[i], "--log-key") == 0 && n_keys < 8)
			keys[n_keys++] = argv[i + 1];
		else if (strcmp(argv[i], "--scts") == 0)
			want = atoi(argv[i + 1]);
	}
	if (!cert || !issuer || n_keys == 0 || want < 1 || want > 8) {
		fprintf(stderr,
			"usage: fake_ctlog check --cert L --issuer I --log-key K [--log-key K2 "
			"...] [--scts N] [--precert P]\n");
		return 2;
	}
	leaf = read_pem_cert(cert);
	iss = read_pem_cert(issuer);
	for (size_t i = 0; i < n_keys; i++)
		if ((f = fopen(keys[i], "r")) != NULL) {
			pub[i] = PEM_read_PUBKEY(f, NULL, NULL, NULL);
			fclose(f);
		}
	if (precert && (f = fopen(precert, "rb")) != NULL) {
		pre = d2i_X509_fp(f, NULL);
		fclose(f);
	}
	for (size_t i = 0; i < n_keys; i++)
		if (pub[i] == NULL)
			leaf = NULL;
	if (!leaf || !iss || (precert && !pre)) {
		fprintf(stderr, "fake_ctlog check: cannot read the inputs\n");
		goto out;
	}
	if (pre && !oracle_tbs_match(leaf, pre, why, sizeof(why))) {
		printf("TBS check failed: %s\n", why);
		goto out;
	}
	if (!oracle_openssl_validate_logs(leaf, iss, pub, n_keys, want, which, why, sizeof(why))) {
		printf("OpenSSL SCT validation failed: %s\n", why);
		goto out;
	}
	for (int i = 0; i < want; i++)
		snprintf(logs + strlen(logs), sizeof(logs) - strlen(logs), "%s%d", i ? "," : "",
			 which[i]);
	printf("ok: %sOpenSSL SCT_LIST_validate accepts the %d embedded SCT%s (logs %s)\n",
	       pre ? "TBS(final)-SCT == TBS(precert)-poison; " : "", want, want == 1 ? "" : "s",
	       logs);
	rc = 0;
out:
	X509_free(leaf);
	X509_free(iss);
	X509_free(pre);
	for (size_t i = 0; i < n_keys; i++)
		EVP_PKEY_free(pub[i]);
	return rc;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *key_out = NULL, *roots = NULL;
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	sigset_t sigs;
	FILE *f;
	int sig;

	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return check_main(argc, argv);
	if (argc < 2 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: fake_ctlog serve|check ... (a test tool, not a CT log)\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[i + 1];
		else if (strcmp(argv[i], "--key-out") == 0)
			key_out = argv[i + 1];
		else if (strcmp(argv[i], "--mode") == 0)
			snprintf(mode, sizeof(mode), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--delay-ms") == 0)
			delay_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--roots") == 0)
			roots = argv[i + 1];
		else if (strcmp(argv[i], "--record-dir") == 0)
			record_dir = argv[i + 1];
	}
	if (port_file == NULL || key_out == NULL) {
		fprintf(stderr, "fake_ctlog serve needs --port-file and --key-out\n");
		return 2;
	}
	if ((log_key = p256()) == NULL || (other_key = p256()) == NULL ||
	    ct_key_hash(log_key, log_id) != FC_OK || ct_key_hash(other_key, other_id) != FC_OK)
		return 1;
	if ((f = fopen(key_out, "w")) == NULL || PEM_write_PUBKEY(f, log_key) != 1 ||
	    fclose(f) != 0)
		return 1;
	roots_json = json_pack("{s:[]}", "certificates");
	if (roots)
		load_roots(roots);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
		NULL, NULL, handle, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "fake_ctlog: cannot start\n");
		return 1;
	}
	{
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%u\n", info->port) < 0 ||
		    fclose(f) != 0 || rename(tmp, port_file) != 0)
			return 1;
		fprintf(stderr, "fake_ctlog: TEST TOOL (not a CT log) on 127.0.0.1:%u mode %s\n",
			info->port, mode);
	}
	sigwait(&sigs, &sig);
	atomic_store(&stopping, true); /* hanging requests end */
	MHD_stop_daemon(d);
	json_decref(roots_json);
	EVP_PKEY_free(log_key);
	EVP_PKEY_free(other_key);
	return 0;
}
