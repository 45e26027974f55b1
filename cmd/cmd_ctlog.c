/*
 * fulcrum ctlog: a Certificate Transparency log (RFC 6962 submission API,
 * Static CT API read path). Flag names follow TesseraCT's, with dashes.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "common.h"
#include "ctlog.h"
#include "hsm.h"

struct ctlog_flags {
	const char *listen;
	const char *port_file;
	const char *private_key;
	const char *pin_file;
	unsigned threads;
	struct ctlog_server_config cfg;
	struct fc_httpd_limits limits; /* the HTTP front's time limits and caps */
};

static void ctlog_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum ctlog --storage-dir DIR --roots FILE --private-key KEY --origin ORIGIN\n"
		"                     [options]\n\n"
		"A Certificate Transparency log: POST /ct/v1/add-chain, /ct/v1/add-pre-chain and\n"
		"GET /ct/v1/get-roots (RFC 6962), and the Static CT API read path (/checkpoint,\n"
		"/tile/..., /issuer/...) served from DIR, which any static web server can also serve.\n\n"
		"  --listen HOST:PORT        address to listen on (default 127.0.0.1:6962; port 0 = any)\n"
		"  --port-file FILE          write the bound port here once listening\n"
		"  --storage-dir DIR         the log's files (created if absent)\n"
		"  --roots FILE              PEM file of the roots whose chains are accepted\n"
		"  --private-key KEY         the log key, ECDSA P-256: a PEM file (SEC1 or PKCS#8), or\n"
		"                            an RFC 7512 pkcs11: URI naming a key in a token\n"
		"  --pkcs11-pin-file FILE    PIN for a pkcs11: key, read at each login (else %s\n"
		"                            or pin-source)\n"
		"  --origin ORIGIN           checkpoint origin: the submission prefix without scheme\n"
		"                            (e.g. ct.example.com/2026h1)\n"
		"  --batch-max-age DURATION  longest a submission waits for its batch (default %ums;\n"
		"                            e.g. 250ms, 1s)\n"
		"  --batch-max-size N        most entries per batch (default %u)\n"
		"  --ext-key-usages LIST     accept only leaves with one of these EKUs (comma-separated:\n"
		"                            ServerAuth, ClientAuth, CodeSigning, EmailProtection,\n"
		"                            TimeStamping, OCSPSigning, Any; default Any)\n"
		"  --not-after-start TIME    accept only leaves with NotAfter >= TIME (RFC 3339)\n"
		"  --not-after-limit TIME    accept only leaves with NotAfter < TIME (RFC 3339)\n"
		"  --threads N               HTTP worker threads (default: number of CPUs)\n"
		"  --sign-threads N          threads signing SCTs beside the sequencer (default:\n"
		"                            number of CPUs, at most 16)\n"
		FC_HTTPD_USAGE
		"  -v, --verbose             log each batch\n"
		"  -h, --help                show this help\n\n"
		"SIGHUP reloads the TLS certificate and key.\n"
		"SIGTERM or SIGINT stops after answering every pending submission.\n",
		HSM_P11_PIN_ENV, CTLOG_SRV_DEFAULT_BATCH_AGE_MS, CTLOG_SRV_DEFAULT_BATCH_SIZE);
}

/* "250ms", "1s", "1.5s", or a number of milliseconds. */
static bool parse_duration_ms(const char *s, unsigned *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return false;
	if (strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "ms") != 0 && *end != '\0')
		return false;
	if (v < 1 || v > 60000)
		return false;
	*out = (unsigned)v;
	return true;
}

/* RFC 3339 "2026-01-02T03:04:05Z" (or with a numeric offset). */
static bool parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t t, off = 0;

	if (p == NULL)
		return false;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") == 0) {
		off = 0;
	} else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');

		off = (h * 3600 + m * 60) * (p[0] == '+' ? 1 : -1);
	} else {
		return false;
	}
	t = (int64_t)timegm(&tm);
	*out = t - off;
	return true;
}

/*
 * The log key: a PEM file through the file signer, or a key in a PKCS#11
 * token named by an RFC 7512 URI (object= and/or id=).
 */
static enum fc_status open_signer(const struct ctlog_flags *f, struct hsm_signer **out,
				  struct fc_err *err)
{
	struct hsm_p11_config *pc = NULL;
	struct hsm_p11 *p11 = NULL;
	enum fc_status st;

	if (strncmp(f->private_key, "pkcs11:", 7) != 0)
		return hsm_softkey_load_pem(f->private_key, NULL, HSM_RSA_PKCS1, out, err);
	if ((st = cmd_p11_open(NULL, f->private_key, f->pin_file, false, &pc, &p11, err)) != FC_OK)
		return st;
	if (pc->object_label == NULL && pc->object_id == NULL)
		st = fc_err_set(err, FC_ECONFIG, "--private-key: the pkcs11: URI must name the key "
						 "(object= or id=)");
	else
		st = hsm_p11_signer_new(p11, pc->object_label, pc->object_id, pc->object_id_len,
					HSM_RSA_PKCS1, NULL, out, err);
	hsm_p11_free(p11); /* the signer keeps its own reference */
	hsm_p11_config_free(pc);
	return st;
}

static bool split_listen(const char *s, char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	size_t hl;

	if (colon == NULL || !cmd_parse_uint(colon + 1, 65535, &p))
		return false;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']')
		*host = fc_xstrndup(s + 1, hl - 2);
	else
		*host = fc_xstrndup(s, hl);
	if ((*host)[0] == '\0') {
		free(*host);
		*host = fc_xstrdup("0.0.0.0");
	}
	*port = (uint16_t)p;
	return true;
}

enum {
	OPT_LISTEN = 256,
	OPT_PORT_FILE,
	OPT_STORAGE,
	OPT_ROOTS,
	OPT_KEY,
	OPT_PIN_FILE,
	OPT_ORIGIN,
	OPT_AGE,
	OPT_SIZE,
	OPT_EKU,
	OPT_NA_START,
	OPT_NA_LIMIT,
	OPT_THREADS,
	OPT_SIGN_THREADS,
};

/* Read the flags into *f; -1 to go on, else the exit status. */
static int ctlog_parse(int argc, char **argv, struct ctlog_flags *f)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"port-file", required_argument, NULL, OPT_PORT_FILE},
		{"storage-dir", required_argument, NULL, OPT_STORAGE},
		{"roots", required_argument, NULL, OPT_ROOTS},
		{"private-key", required_argument, NULL, OPT_KEY},
		{"pkcs11-pin-file", required_argument, NULL, OPT_PIN_FILE},
		{"origin", required_argument, NULL, OPT_ORIGIN},
		{"batch-max-age", required_argument, NULL, OPT_AGE},
		{"batch-max-size", required_argument, NULL, OPT_SIZE},
		{"ext-key-usages", required_argument, NULL, OPT_EKU},
		{"not-after-start", required_argument, NULL, OPT_NA_START},
		{"not-after-limit", required_argument, NULL, OPT_NA_LIMIT},
		{"threads", required_argument, NULL, OPT_THREADS},
		FC_HTTPD_LONGOPTS,
		{"sign-threads", required_argument, NULL, OPT_SIGN_THREADS},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct fc_err err = {0};
	unsigned long v;
	int c, idx = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_LISTEN: f->listen = optarg; break;
		case OPT_PORT_FILE: f->port_file = optarg; break;
		case OPT_STORAGE: f->cfg.storage_dir = optarg; break;
		case OPT_ROOTS: f->cfg.roots_path = optarg; break;
		case OPT_KEY: f->private_key = optarg; break;
		case OPT_PIN_FILE: f->pin_file = optarg; break;
		case OPT_ORIGIN: f->cfg.origin = optarg; break;
		case OPT_AGE:
			if (!parse_duration_ms(optarg, &f->cfg.batch_max_age_ms))
				goto bad_value;
			break;
		case OPT_SIZE:
			if (!cmd_parse_uint(optarg, CTLOG_SRV_MAX_BATCH, &v) || v == 0)
				goto bad_value;
			f->cfg.batch_max_size = (unsigned)v;
			break;
		case OPT_EKU:
			if (ctlog_eku_parse(optarg, &f->cfg.eku_mask, &err) != FC_OK) {
				fprintf(stderr, "fulcrum ctlog: --ext-key-usages: %s\n", err.msg);
				return CMD_EXIT_USAGE;
			}
			break;
		case OPT_NA_START:
			if (!parse_rfc3339(optarg, &f->cfg.not_after_start))
				goto bad_value;
			f->cfg.has_not_after_start = true;
			break;
		case OPT_NA_LIMIT:
			if (!parse_rfc3339(optarg, &f->cfg.not_after_limit))
				goto bad_value;
			f->cfg.has_not_after_limit = true;
			break;
		case OPT_THREADS:
		case OPT_SIGN_THREADS:
			if (!cmd_parse_uint(optarg, c == OPT_THREADS ? 1024 : 16, &v))
				goto bad_value;
			*(c == OPT_THREADS ? &f->threads : &f->cfg.sign_threads) = (unsigned)v;
			break;
		case 'v': fc_log_set_level(LOG_DEBUG); break;
		case 'h': ctlog_usage(stdout); return CMD_EXIT_OK;
		default:
			if (c >= FC_HTTPD_OPT_FIRST && c <= FC_HTTPD_OPT_LAST) {
				if (fc_httpd_flag(&f->limits, c, optarg) != FC_OK)
					goto bad_value;
				break;
			}
			ctlog_usage(stderr);
			return CMD_EXIT_USAGE;
		}
	}
	if (optind != argc || f->cfg.storage_dir == NULL || f->cfg.roots_path == NULL ||
	    f->private_key == NULL || f->cfg.origin == NULL) {
		fprintf(stderr, "fulcrum ctlog: --storage-dir, --roots, --private-key and --origin "
				"are required\n\n");
		ctlog_usage(stderr);
		return CMD_EXIT_USAGE;
	}
	return -1;
bad_value:
	fprintf(stderr, "fulcrum ctlog: bad value \"%s\" for --%s\n", optarg, longopts[idx].name);
	return CMD_EXIT_USAGE;
}

/* Open the key and the log, serve until SIGTERM or SIGINT (SIGHUP reloads
 * the TLS certificate); the exit status. */
static int ctlog_run(struct ctlog_flags *f, const char *host, uint16_t port)
{
	struct fc_httpd_options ho = {.max_body = CTLOG_SRV_MAX_BODY, .name = "ctlog"};
	struct hsm_signer *signer = NULL;
	struct ctlog_server *server = NULL;
	struct fc_httpd *httpd = NULL;
	struct fc_err err = {0};
	sigset_t sigs;
	int rc = CMD_EXIT_USAGE;

	if (fc_httpd_tls_load(&f->limits, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: TLS: %s\n", err.msg);
		return CMD_EXIT_USAGE;
	}
	ho.host = host;
	ho.port = port;
	ho.threads = f->threads;
	ho.limits = f->limits;
	if (open_signer(f, &signer, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: --private-key: %s\n", err.msg);
		goto out;
	}
	f->cfg.signer = signer;
	/* Signals are taken by sigwait below; block them before any thread
	 * starts so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ctlog_server_open(&f->cfg, &server, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: %s\n", err.msg);
		rc = CMD_EXIT_REFUSED;
		goto out;
	}
	if (fc_httpd_start(&ho, ctlog_server_handle, server, &httpd, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: %s\n", err.msg);
		goto out;
	}
	if (f->port_file)
		fc_write_port_file(f->port_file, fc_httpd_port(httpd));
	fc_log(LOG_NOTICE, "ctlog: serving %s on %s:%u", f->cfg.origin, host, fc_httpd_port(httpd));
	for (int sig = 0; sig != SIGINT && sig != SIGTERM;)
		if ((sig = sigwaitinfo(&sigs, NULL)) == SIGHUP)
			fc_httpd_tls_reload(f->limits.tls);
	fc_log(LOG_NOTICE, "ctlog: stopping");
	rc = CMD_EXIT_OK;
out:
	fc_httpd_stop(httpd); /* waits for the answers the log still owes */
	fc_httpd_tls_free(f->limits.tls);
	ctlog_server_free(server);
	hsm_signer_free(signer);
	return rc;
}

/* fulcrum ctlog (see ctlog_usage). */
int cmd_ctlog_main(int argc, char **argv)
{
	struct ctlog_flags f = {.listen = "127.0.0.1:6962"};
	char *host = NULL;
	uint16_t port;
	int rc;

	if ((rc = ctlog_parse(argc, argv, &f)) >= 0)
		return rc;
	if (!split_listen(f.listen, &host, &port)) {
		fprintf(stderr, "fulcrum ctlog: bad value \"%s\" for --listen (HOST:PORT)\n", f.listen);
		return CMD_EXIT_USAGE;
	}
	rc = ctlog_run(&f, host, port);
	free(host);
	return rc;
}
