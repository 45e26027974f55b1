/*
 * fulcrum ctlog: a Certificate Transparency log (RFC 6962 submission API,
 * Static CT API read path). Flag names follow TesseraCT's, with dashes.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "common.h"
#include "ctlog.h"
#include "hsm.h"
#include "signer.h"

struct ctlog_flags {
	const char *listen;
	const char *port_file;
	const char *private_key;
	const char *pin_file;
	unsigned threads;
	struct ctlog_server_config cfg;
	const char *user; /* --user */
	bool no_signer;	  /* --no-signer-process */
	struct signer_user user_ids;
	char *pin;		       /* supervisor and signer: FULCRUM_PKCS11_PIN */
	char *key_uri;		       /* supervisor and signer: a pkcs11: URI with its pin-value */
	struct fc_httpd_limits limits; /* the HTTP front's time limits and caps */
};

static void ctlog_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum ctlog --storage-dir DIR --roots FILE --private-key KEY --origin "
		"ORIGIN\n"
		"                     [options]\n\n"
		"A Certificate Transparency log: POST /ct/v1/add-chain, /ct/v1/add-pre-chain and\n"
		"GET /ct/v1/get-roots (RFC 6962), and the Static CT API read path (/checkpoint,\n"
		"/tile/..., /issuer/...) served from DIR, which any static web server can also "
		"serve.\n\n"
		"  --listen HOST:PORT        address to listen on (default 127.0.0.1:6962; port 0 "
		"= any)\n"
		"  --port-file FILE          write the bound port here once listening\n"
		"  --storage-dir DIR         the log's files (created if absent)\n"
		"  --roots FILE              PEM file of the roots whose chains are accepted\n"
		"  --private-key KEY         the log key, ECDSA P-256: a PEM file (SEC1 or "
		"PKCS#8), or\n"
		"                            an RFC 7512 pkcs11: URI naming a key in a token\n"
		"  --pkcs11-pin-file FILE    PIN for a pkcs11: key, read at each login (else %s\n"
		"                            or pin-source)\n"
		"  --origin ORIGIN           checkpoint origin: the submission prefix without "
		"scheme\n"
		"                            (e.g. ct.example.com/2026h1); the submission API "
		"answers\n"
		"                            under its path too (/2026h1/ct/v1/...): with\n"
		"                            localhost:6962/test, at fulcrum serve's default\n"
		"                            --ct-log-url\n"
		"  --batch-max-age DURATION  longest a submission waits for its batch (default "
		"%ums;\n"
		"                            e.g. 250ms, 1s)\n"
		"  --batch-max-size N        most entries per batch (default %u)\n"
		"  --ext-key-usages LIST     accept only leaves with one of these EKUs "
		"(comma-separated:\n"
		"                            ServerAuth, ClientAuth, CodeSigning, "
		"EmailProtection,\n"
		"                            TimeStamping, OCSPSigning, Any; default Any)\n"
		"  --not-after-start TIME    accept only leaves with NotAfter >= TIME (RFC 3339)\n"
		"  --not-after-limit TIME    accept only leaves with NotAfter < TIME (RFC 3339)\n"
		"  --threads N               HTTP worker threads (default: number of CPUs)\n"
		"  --sign-threads N          threads signing SCTs beside the sequencer (default:\n"
		"                            number of CPUs, at most 16)\n"
		"  --user NAME               started as root, the network process becomes NAME\n"
		"                            (default " SIGNER_DEFAULT_USER
		"), which then owns DIR\n"
		"  --no-signer-process       keep the log key in the network process (no "
		"checks)\n" FC_HTTPD_USAGE "  -v, --verbose             log each batch\n"
		"  -h, --help                show this help\n\n"
		"SIGHUP reloads the TLS certificate and key.\n"
		"SIGTERM or SIGINT stops after answering every pending submission.\n",
		HSM_P11_PIN_ENV, CTLOG_SRV_DEFAULT_BATCH_AGE_MS, CTLOG_SRV_DEFAULT_BATCH_SIZE);
}

/* "250ms", "1s", "1.5s", or a number of milliseconds, up to a minute. */
static bool parse_duration_ms(const char *s, unsigned *out)
{
	double v;

	if (!fc_parse_duration(s, 1, &v) || v < 1 || v > 60000)
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
		st = fc_err_set(err, FC_ECONFIG,
				"--private-key: the pkcs11: URI must name the key "
				"(object= or id=)");
	else
		st = hsm_p11_signer_new(p11, pc->object_label, pc->object_id, pc->object_id_len,
					HSM_RSA_PKCS1, NULL, out, err);
	hsm_p11_free(p11); /* the signer keeps its own reference */
	hsm_p11_config_free(pc);
	return st;
}

/* --- the log key in a signer process ------------------------------------------------ */

/* signer_config.load: in the signer process, the log key. */
static enum fc_status signer_load(void *arg, struct signer_key *out, struct fc_err *err)
{
	struct ctlog_flags f = *(const struct ctlog_flags *)arg;

	if (f.key_uri != NULL)
		f.private_key = f.key_uri; /* the copy that still holds its pin-value */
	if (f.pin != NULL)
		setenv(HSM_P11_PIN_ENV, f.pin, 1); /* taken, wiped and unset by hsm/ */
	out->chain_pem = NULL;
	return open_signer(&f, &out->signer, err);
}

/* The signer process's main (signer_child.run). */
static int signer_run(void *arg, int fd)
{
	const struct ctlog_flags *f = arg;
	struct signer_config cfg = {
		.role = SIGNER_ROLE_LOG,
		.load = signer_load,
		.load_arg = arg,
		.origin = f->cfg.origin,
	};

	return signer_serve(fd, &cfg);
}

/* Wipe the secrets of argv and the environment where they lie (arg: the
 * flags). */
static void wipe_secrets(void *arg)
{
	const struct ctlog_flags *f = arg;

	cmd_wipe_env(HSM_P11_PIN_ENV);
	cmd_wipe_uri_pin((char *)f->private_key);
}

/* signer_child.prepare: the supervisor keeps what a new signer needs. */
static void signer_prepare(void *arg)
{
	struct ctlog_flags *f = arg;

	f->pin = cmd_secret_keep(getenv(HSM_P11_PIN_ENV));
	if (strstr(f->private_key, "pin-value=") != NULL)
		f->key_uri = cmd_secret_keep(f->private_key);
	wipe_secrets(f);
	/* The listener's TLS key is the network process's: it keeps the
	 * passphrase through its new start (fc_httpd_tls_load). */
	cmd_wipe_env(FC_HTTPD_TLS_KEY_PASSWD_ENV);
}

/* A new signer process with another key cannot serve this log. */
static void on_event(void *arg, struct signer_link *l, enum signer_event ev)
{
	const uint32_t *key_id = arg;

	if (ev == SIGNER_EVENT_ATTACHED && !signer_link_key_live(l, *key_id))
		fc_log(LOG_CRIT, "ctlog: the new signer process does not hold the log key it had: "
				 "nothing is signed until fulcrum ctlog restarts");
}

/* Who owns the storage once the network process drops to --user. */
static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) == 0 ? 0 : -1;
}

/* Started as root, the log's storage becomes the unprivileged user's (it
 * writes tiles and checkpoints there after the drop). */
static enum fc_status own_storage(const struct ctlog_flags *f, struct fc_err *err)
{
	if (geteuid() != 0 || f->no_signer)
		return FC_OK;
	chown_uid = f->user_ids.uid;
	chown_gid = f->user_ids.gid;
	if (nftw(f->cfg.storage_dir, chown_one, 32, FTW_PHYS) != 0)
		return fc_err_set(err, FC_EIO, "cannot give %s to %s", f->cfg.storage_dir,
				  f->user_ids.name);
	return FC_OK;
}

/* The log key: in a signer process (the supervisor is forked here, before
 * anything secret is read), or in this one with --no-signer-process. */
static enum fc_status take_key(struct ctlog_flags *f, struct cmd_privsep *ps, uint32_t *key_id,
			       struct hsm_signer **out, struct fc_err *err)
{
	struct signer_child child = {.prepare = signer_prepare, .run = signer_run, .arg = f};
	struct signer_loaded ld;
	enum fc_status st;

	if (f->no_signer) {
		fc_log(LOG_WARNING, "ctlog: --no-signer-process: the log key is in the network "
				    "process and nothing checks what it signs");
		return open_signer(f, out, err);
	}
	if (geteuid() == 0 && (st = signer_user_lookup(f->user ? f->user : SIGNER_DEFAULT_USER,
						       &f->user_ids, err)) != FC_OK)
		return st;
	st = cmd_privsep_start(&child, wipe_secrets, on_event, key_id, ps, err);
	if (st != FC_OK)
		return st;
	if ((st = signer_link_load(ps->link, &ld, err)) != FC_OK)
		return st;
	*key_id = ld.key_id;
	*out = ld.signer;
	return FC_OK;
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
	OPT_USER,
	OPT_NO_SIGNER,
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
		{"sign-threads", required_argument, NULL, OPT_SIGN_THREADS},
		{"user", required_argument, NULL, OPT_USER},
		{"no-signer-process", no_argument, NULL, OPT_NO_SIGNER},
		FC_HTTPD_LONGOPTS,
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
		case OPT_USER: f->user = optarg; break;
		case OPT_NO_SIGNER: f->no_signer = true; break;
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

/* With a signer process: give the storage to --user, become it, and check
 * that it can still use the storage. */
static enum fc_status drop(const struct ctlog_flags *f, struct fc_err *err)
{
	enum fc_status st;

	if (f->no_signer)
		return FC_OK;
	if ((st = own_storage(f, err)) != FC_OK ||
	    (st = cmd_privsep_drop(&f->user_ids, "ctlog", err)) != FC_OK)
		return fc_err_set(err, st, "cannot drop privileges");
	if (access(f->cfg.storage_dir, R_OK | W_OK | X_OK) != 0)
		return fc_err_set(
			err, FC_ECONFIG,
			"--storage-dir %s cannot be used by the network process (%s) after "
			"it dropped privileges: make its parent directories searchable by "
			"--user",
			f->cfg.storage_dir, strerror(errno));
	return FC_OK;
}

/* Open the key and the log, serve until SIGTERM or SIGINT (SIGHUP reloads
 * the TLS certificate); the exit status. */
static int ctlog_run(struct ctlog_flags *f, const char *host, uint16_t port)
{
	struct fc_httpd_options ho = {.max_body = CTLOG_SRV_MAX_BODY, .name = "ctlog"};
	struct hsm_signer *signer = NULL;
	struct ctlog_server *server = NULL;
	struct fc_httpd *httpd = NULL;
	struct cmd_privsep ps = {.sup = {.pid = -1, .control_fd = -1}};
	struct fc_err err = {0};
	uint32_t key_id = 0;
	sigset_t sigs;
	int rc = CMD_EXIT_USAGE;

	/* Signals are taken by sigwait below; block them before any thread
	 * starts (the signer link's, in take_key) so that every thread
	 * inherits the mask: a thread that did not block SIGHUP would die of it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (take_key(f, &ps, &key_id, &signer, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: --private-key: %s\n", err.msg);
		goto out;
	}
	/* After the signer process is forked: the listener's key stays here. */
	if (fc_httpd_tls_load(&f->limits, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: TLS: %s\n", err.msg);
		goto out;
	}
	ho.host = host;
	ho.port = port;
	ho.threads = f->threads;
	ho.limits = f->limits;
	f->cfg.signer = signer;
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
	/* Everything is read and the listener is bound: drop privileges. */
	if (drop(f, &err) != FC_OK) {
		fprintf(stderr, "fulcrum ctlog: %s\n", err.msg);
		rc = CMD_EXIT_REFUSED;
		goto out;
	}
	fc_httpd_tls_check_access(f->limits.tls);
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
	if (ps.sup.pid > 0)
		cmd_privsep_stop(&ps);
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
	if (!cmd_parse_listen(f.listen, &host, &port)) {
		fprintf(stderr, "fulcrum ctlog: bad value \"%s\" for --listen (HOST:PORT)\n",
			f.listen);
		return CMD_EXIT_USAGE;
	}
	rc = ctlog_run(&f, host, port);
	free(host);
	return rc;
}
