/*
 * fulcrum tsa: an RFC 3161 time-stamp authority with sigstore
 * timestamp-authority's HTTP API. Flag names follow fulcrum ctlog's
 * (--listen, --private-key, --pkcs11-pin-file); sigstore's names are
 * accepted for the same things (--certificate-chain-path, --file-signer-
 * key-path, --default-policy-oid, ...).
 */
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "common.h"
#include "hsm.h"
#include "tsa.h"

/* The passphrase of an encrypted --private-key file. */
#define TSA_KEY_PASSWD_ENV "FULCRUM_TSA_KEY_PASSWD"

struct tsa_flags {
	const char *listen;
	const char *port_file;
	const char *chain_path;
	const char *private_key;
	const char *pin_file;
	const char *accepted; /* comma-separated */
	unsigned threads;
	unsigned long max_body;
	char *pass; /* FULCRUM_TSA_KEY_PASSWD, kept for reloads (wiped at exit) */
	char *pin;  /* FULCRUM_PKCS11_PIN, likewise */
	struct tsa_options o;
	struct fc_httpd_limits limits; /* the HTTP front's flags, TLS included */
};

static void tsa_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum tsa --certificate-chain FILE --private-key KEY [options]\n\n"
		"An RFC 3161 time-stamp authority with sigstore timestamp-authority's HTTP API:\n"
		"POST /api/v1/timestamp (application/timestamp-query DER, or JSON "
		"{\"artifactHash\",\n"
		"\"hashAlgorithm\", \"nonce\", \"certificates\", \"tsaPolicyOID\"}) answers an\n"
		"application/timestamp-reply; GET /api/v1/timestamp/certchain, GET /ping,\n"
		"GET /readyz.\n\n"
		"  --listen HOST:PORT        address to listen on (default 127.0.0.1:3000; port 0 "
		"= any)\n"
		"  --port-file FILE          write the bound port here once listening\n"
		"  --certificate-chain FILE  PEM chain: the signing certificate (critical "
		"ExtKeyUsage\n"
		"                            timeStamping only, not a CA) first, the root last\n"
		"  --private-key KEY         the signing key, ECDSA P-256/P-384/P-521 or RSA: a "
		"PEM\n"
		"                            file (encrypted: passphrase in %s), or an RFC 7512\n"
		"                            pkcs11: URI naming a key in a token\n"
		"  --pkcs11-pin-file FILE    PIN for a pkcs11: key, read at each login (else %s\n"
		"                            or pin-source)\n"
		"  --policy-oid OID          TSTInfo policy when the request names none\n"
		"                            (default %s)\n"
		"  --accepted-policy-oids L  reqPolicy values accepted, comma-separated (default: "
		"the\n"
		"                            --policy-oid); others are refused with 400\n"
		"  --include-chain-in-response  with certReq, put the whole chain in the token, "
		"not\n"
		"                            only the signing certificate\n"
		"  --time-precision s|ms     genTime in whole seconds (default, as sigstore's TSA) "
		"or\n"
		"                            with exactly three fractional digits\n"
		"  --clock-max-error DURATION  refuse to stamp (503, /readyz NOT_READY) while the\n"
		"                            kernel reports the clock unsynchronised or its "
		"maximum\n"
		"                            error over DURATION (default 1s, the stated "
		"accuracy;\n"
		"                            e.g. 250ms, 2s)\n"
		"  --no-clock-check          stamp whatever the clock's state (tests, "
		"development)\n"
		"  --no-intermediate-eku     do not require timeStamping on intermediate CAs\n"
		"  --use-http-201            answer 201 Created instead of 200 OK\n"
		"  --max-request-body-size N  bytes (default %d, at most %d)\n"
		"  --threads N               HTTP worker threads (default: number of "
		"CPUs)\n" FC_HTTPD_USAGE
		"  -v, --verbose             log every refused request and its reason\n"
		"  -h, --help                show this help\n\n"
		"sigstore's flag names are accepted too: --certificate-chain-path,\n"
		"--file-signer-key-path, --default-policy-oid, --disable-ntp-monitoring.\n"
		"A pkcs11: URI without object= or id= names the token's key of the chain's\n"
		"signing certificate.\n"
		"SIGHUP reloads the TLS certificate and key, and reads the chain and the signing\n"
		"key again and stamps with them from then on (requests in progress finish with\n"
		"the old ones; a chain or key that does not load is refused with a log line and\n"
		"the old ones stay). SIGTERM or SIGINT stops after the requests in progress.\n",
		TSA_KEY_PASSWD_ENV, HSM_P11_PIN_ENV, TSA_DEFAULT_POLICY_OID, TSA_MAX_BODY_DEFAULT,
		TSA_MAX_BODY_LIMIT);
}

/* "250ms", "1s", "1.5s" -> microseconds. */
static bool parse_duration_us(const char *s, int64_t *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return false;
	if (strcmp(end, "s") == 0)
		v *= 1e6;
	else if (strcmp(end, "ms") == 0)
		v *= 1e3;
	else if (strcmp(end, "us") != 0)
		return false;
	if (v > 3600e6)
		return false;
	*out = (int64_t)v;
	return true;
}

/* A secret of the environment (the key file's passphrase, the PIN):
 * copied, wiped there and unset; NULL when unset. Kept for reloads. */
static char *take_env_secret(const char *name)
{
	char *env = getenv(name), *copy;

	if (env == NULL)
		return NULL;
	copy = fc_xstrdup(env);
	fc_memzero(env, strlen(env));
	unsetenv(name);
	return copy;
}

/* The public key of the chain's first certificate (the signing
 * certificate); NULL when there is none. Caller frees. */
static EVP_PKEY *chain_leaf_key(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = leaf ? X509_get_pubkey(leaf) : NULL;

	ERR_clear_error();
	X509_free(leaf);
	BIO_free(bio);
	return key;
}

/*
 * The signing key: a PEM file through the file signer, or a key in a
 * PKCS#11 token named by an RFC 7512 URI (object= and/or id=, opened as
 * fulcrum ctlog opens its log key; neither: the token's key of the chain's
 * signing certificate, so that a new key is taken with its new chain).
 */
static enum fc_status open_signer(const struct tsa_flags *f, const char *pem, size_t pem_len,
				  struct hsm_signer **out, struct fc_err *err)
{
	struct hsm_p11_config *pc = NULL;
	struct hsm_p11 *p11 = NULL;
	EVP_PKEY *leaf_key = NULL;
	enum fc_status st;

	if (strncmp(f->private_key, "pkcs11:", 7) != 0)
		return hsm_softkey_load_pem(f->private_key, f->pass, HSM_RSA_PKCS1, out, err);
	if ((st = hsm_p11_config_parse_uri(f->private_key, &pc, err)) != FC_OK)
		goto out;
	if (pc->object_label == NULL && pc->object_id == NULL &&
	    (leaf_key = chain_leaf_key(pem, pem_len)) == NULL) {
		st = fc_err_set(err, FC_ECONFIG,
				"the pkcs11: URI names no key (object= or id=) and "
				"the chain has no certificate to find it by");
		goto out;
	}
	if (f->pin != NULL)
		setenv(HSM_P11_PIN_ENV, f->pin, 1); /* taken, wiped and unset by hsm/ */
	if ((st = hsm_p11_config_resolve_pin(pc, f->pin_file, err)) != FC_OK ||
	    (st = hsm_p11_open(pc, &p11, err)) != FC_OK)
		goto out;
	if (leaf_key != NULL)
		st = hsm_p11_signer_for_key(p11, leaf_key, HSM_RSA_PKCS1, out, err);
	else
		st = hsm_p11_signer_new(p11, pc->object_label, pc->object_id, pc->object_id_len,
					HSM_RSA_PKCS1, NULL, out, err);
out:
	EVP_PKEY_free(leaf_key);
	hsm_p11_free(p11); /* the signer keeps its own reference */
	hsm_p11_config_free(pc);
	return st;
}

enum {
	OPT_LISTEN = 256,
	OPT_PORT_FILE,
	OPT_CHAIN,
	OPT_KEY,
	OPT_PIN_FILE,
	OPT_POLICY,
	OPT_ACCEPTED,
	OPT_INCLUDE_CHAIN,
	OPT_PRECISION,
	OPT_CLOCK_MAX,
	OPT_NO_CLOCK,
	OPT_NO_INT_EKU,
	OPT_HTTP201,
	OPT_MAX_BODY,
	OPT_THREADS,
};

static const struct option tsa_longopts[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"certificate-chain", required_argument, NULL, OPT_CHAIN},
	{"certificate-chain-path", required_argument, NULL, OPT_CHAIN},
	{"private-key", required_argument, NULL, OPT_KEY},
	{"file-signer-key-path", required_argument, NULL, OPT_KEY},
	{"pkcs11-pin-file", required_argument, NULL, OPT_PIN_FILE},
	{"policy-oid", required_argument, NULL, OPT_POLICY},
	{"default-policy-oid", required_argument, NULL, OPT_POLICY},
	{"accepted-policy-oids", required_argument, NULL, OPT_ACCEPTED},
	{"include-chain-in-response", no_argument, NULL, OPT_INCLUDE_CHAIN},
	{"time-precision", required_argument, NULL, OPT_PRECISION},
	{"clock-max-error", required_argument, NULL, OPT_CLOCK_MAX},
	{"no-clock-check", no_argument, NULL, OPT_NO_CLOCK},
	{"disable-ntp-monitoring", no_argument, NULL, OPT_NO_CLOCK},
	{"no-intermediate-eku", no_argument, NULL, OPT_NO_INT_EKU},
	{"use-http-201", no_argument, NULL, OPT_HTTP201},
	{"max-request-body-size", required_argument, NULL, OPT_MAX_BODY},
	{"threads", required_argument, NULL, OPT_THREADS},
	FC_HTTPD_LONGOPTS,
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* One flag with a value that needs checking; false for a bad value. */
static bool parse_value(int c, const char *arg, struct tsa_flags *f)
{
	unsigned long v;

	switch (c) {
	case OPT_PRECISION:
		if (strcmp(arg, "s") != 0 && strcmp(arg, "ms") != 0)
			return false;
		f->o.precision =
			strcmp(arg, "ms") == 0 ? TSA_PRECISION_MILLIS : TSA_PRECISION_SECONDS;
		return true;
	case OPT_CLOCK_MAX: return parse_duration_us(arg, &f->o.clock_max_error_us);
	case OPT_MAX_BODY:
		if (!cmd_parse_uint(arg, TSA_MAX_BODY_LIMIT, &v) || v < TSA_MAX_JSON_BODY)
			return false;
		f->max_body = v;
		return true;
	case OPT_THREADS:
		if (!cmd_parse_uint(arg, 1024, &v))
			return false;
		f->threads = (unsigned)v;
		return true;
	default: return false;
	}
}

/* Read the flags into *f; -1 to go on, else the exit status. */
static int tsa_parse(int argc, char **argv, struct tsa_flags *f)
{
	int c, idx = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", tsa_longopts, &idx)) != -1) {
		switch (c) {
		case OPT_LISTEN: f->listen = optarg; break;
		case OPT_PORT_FILE: f->port_file = optarg; break;
		case OPT_CHAIN: f->chain_path = optarg; break;
		case OPT_KEY: f->private_key = optarg; break;
		case OPT_PIN_FILE: f->pin_file = optarg; break;
		case OPT_POLICY: f->o.default_policy = optarg; break;
		case OPT_ACCEPTED: f->accepted = optarg; break;
		case OPT_INCLUDE_CHAIN: f->o.include_chain = true; break;
		case OPT_NO_CLOCK: f->o.clock_check = false; break;
		case OPT_NO_INT_EKU: f->o.no_intermediate_eku = true; break;
		case OPT_HTTP201: f->o.http_201 = true; break;
		case 'v': fc_log_set_level(LOG_DEBUG); break;
		case 'h': tsa_usage(stdout); return CMD_EXIT_OK;
		case '?': tsa_usage(stderr); return CMD_EXIT_USAGE;
		default:
			if (c >= FC_HTTPD_OPT_FIRST && c <= FC_HTTPD_OPT_LAST
				    ? fc_httpd_flag(&f->limits, c, optarg) != FC_OK
				    : !parse_value(c, optarg, f)) {
				fprintf(stderr, "fulcrum tsa: bad value \"%s\" for --%s\n", optarg,
					tsa_longopts[idx].name);
				return CMD_EXIT_USAGE;
			}
		}
	}
	if (optind != argc || f->chain_path == NULL || f->private_key == NULL) {
		fprintf(stderr,
			"fulcrum tsa: --certificate-chain and --private-key are required\n\n");
		tsa_usage(stderr);
		return CMD_EXIT_USAGE;
	}
	return -1;
}

/* Split --accepted-policy-oids into at most TSA_MAX_POLICIES strings
 * (pointers into buf, which the caller frees). */
static bool split_policies(char *buf, const char **out, size_t *n)
{
	char *save = NULL;

	*n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (*n == TSA_MAX_POLICIES)
			return false;
		out[(*n)++] = tok;
	}
	return true;
}

/*
 * The TSA the flags describe: the chain read, the key opened, both checked
 * together (tsa_new). FC_OK with *t and *signer (the TSA borrows it),
 * else the reason in err, naming the flag at fault.
 */
static enum fc_status load_tsa(struct tsa_flags *f, struct tsa **t, struct hsm_signer **signer,
			       struct fc_err *err)
{
	struct tsa_options o = f->o;
	struct fc_err e = {0};
	char *pem = NULL;
	size_t len = 0;
	enum fc_status st;

	*t = NULL;
	*signer = NULL;
	if ((st = fc_read_file(f->chain_path, TSA_MAX_CHAIN_FILE, &pem, &len, &e)) != FC_OK)
		return fc_err_set(err, st, "--certificate-chain: %s", e.msg);
	if ((st = open_signer(f, pem, len, signer, &e)) != FC_OK) {
		free(pem);
		return fc_err_set(err, st, "--private-key: %s", e.msg);
	}
	o.signer = *signer;
	o.chain_pem = pem;
	o.chain_pem_len = len;
	if ((st = tsa_new(&o, t, err)) != FC_OK) {
		hsm_signer_free(*signer);
		*signer = NULL;
	}
	free(pem);
	return st;
}

/* SIGHUP: the chain and key read again and served from now on; the
 * current ones stay when they do not load. */
static void tsa_reload(struct tsa_flags *f, struct tsa_holder *hd)
{
	struct hsm_signer *signer = NULL;
	struct tsa *t = NULL;
	struct fc_err err = {0};

	if (load_tsa(f, &t, &signer, &err) != FC_OK) {
		fc_log(LOG_ERR,
		       "tsa: SIGHUP: reload refused, still stamping with the current key "
		       "and chain: %s",
		       err.msg);
		return;
	}
	fc_log(LOG_NOTICE, "tsa: SIGHUP: reloaded the key (%s) and the chain from %s",
	       hsm_signer_description(signer), f->chain_path);
	tsa_holder_replace(hd, t, signer);
}

/* Serve until SIGTERM or SIGINT; SIGHUP reloads the TLS certificate and
 * the key and chain. */
static int tsa_serve(struct tsa_flags *f, struct tsa_holder *hd, struct fc_httpd_options *ho)
{
	struct fc_httpd *httpd = NULL;
	struct fc_err err = {0};
	char why[256];
	sigset_t sigs;

	/* Signals are taken by sigwait below; block them before any thread
	 * starts so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (fc_httpd_start(ho, tsa_holder_handle, hd, &httpd, &err) != FC_OK) {
		fprintf(stderr, "fulcrum tsa: %s\n", err.msg);
		return CMD_EXIT_USAGE;
	}
	if (f->port_file)
		fc_write_port_file(f->port_file, fc_httpd_port(httpd));
	fc_log(LOG_NOTICE, "tsa: serving on %s:%u", ho->host, fc_httpd_port(httpd));
	if (!tsa_holder_ready(hd, why, sizeof(why)))
		fc_log(LOG_WARNING, "tsa: not ready, timestamp requests get 503: %s", why);
	for (;;) {
		int sig = sigwaitinfo(&sigs, NULL);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP) {
			fc_httpd_tls_reload(ho->limits.tls);
			tsa_reload(f, hd);
		}
	}
	fc_log(LOG_NOTICE, "tsa: stopping");
	fc_httpd_stop(httpd);
	return CMD_EXIT_OK;
}

/*
 * fulcrum tsa (see tsa_usage). Returns CMD_EXIT_OK after a signal,
 * CMD_EXIT_USAGE for bad flags or configuration.
 */
int cmd_tsa_main(int argc, char **argv)
{
	struct tsa_flags f = {
		.listen = "127.0.0.1:3000",
		.max_body = TSA_MAX_BODY_DEFAULT,
		.o = {.clock_check = true, .clock_max_error_us = 1000000},
	};
	struct fc_httpd_options ho = {.name = "tsa"};
	const char *accepted[TSA_MAX_POLICIES];
	struct hsm_signer *signer = NULL;
	struct tsa_holder *hd = NULL;
	struct tsa *t = NULL;
	struct fc_err err = {0};
	char *host = NULL, *acc_buf = NULL;
	int rc;

	if ((rc = tsa_parse(argc, argv, &f)) >= 0)
		return rc;
	rc = CMD_EXIT_USAGE;
	if (fc_httpd_tls_load(&f.limits, &err) != FC_OK) {
		fprintf(stderr, "fulcrum tsa: TLS: %s\n", err.msg);
		goto out;
	}
	f.pass = take_env_secret(TSA_KEY_PASSWD_ENV);
	f.pin = take_env_secret(HSM_P11_PIN_ENV);
	if (!cmd_parse_listen(f.listen, &host, &ho.port)) {
		fprintf(stderr, "fulcrum tsa: bad value \"%s\" for --listen (HOST:PORT)\n",
			f.listen);
		goto out;
	}
	if (f.accepted != NULL) {
		acc_buf = fc_xstrdup(f.accepted);
		if (!split_policies(acc_buf, accepted, &f.o.n_accepted)) {
			fprintf(stderr, "fulcrum tsa: at most %d --accepted-policy-oids\n",
				TSA_MAX_POLICIES);
			goto out;
		}
		f.o.accepted_policies = accepted;
	}
	if (load_tsa(&f, &t, &signer, &err) != FC_OK) {
		fprintf(stderr, "fulcrum tsa: %s\n", err.msg);
		goto out;
	}
	hd = tsa_holder_new(t, signer);
	ho.host = host;
	ho.threads = f.threads;
	ho.max_body = f.max_body;
	ho.limits = f.limits;
	rc = tsa_serve(&f, hd, &ho);
out:
	fc_httpd_tls_free(f.limits.tls); /* the server has stopped */
	tsa_holder_free(hd);
	fc_free_secret(f.pass);
	fc_free_secret(f.pin);
	free(acc_buf);
	free(host);
	return rc;
}
