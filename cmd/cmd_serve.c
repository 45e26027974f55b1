/*
 * fulcrum serve: the certificate authority. Flag names are Fulcio's where
 * Fulcio has them, so that a deployment can swap binaries.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca.h"
#include "cmd.h"
#include "common.h"
#include "config.h"
#include "ct.h"
#include "hsm.h"
#include "journal.h"
#include "oidc.h"
#include "ratelimit.h"
#include "signer.h"

/* Fulcio's default CT log URL (ct.h); "" turns CT off, explicitly. */
#define FULCIO_DEFAULT_CT_URL CT_DEFAULT_URL

/* The CT flags: several logs by repeating --ct-log-url with its
 * per-log flags in the same order, or a --ct-log-config file. */
struct serve_ct_flags {
	const char *url[CT_MAX_LOGS], *key[CT_MAX_LOGS], *origin[CT_MAX_LOGS], *op[CT_MAX_LOGS];
	size_t n_url, n_key, n_origin, n_op;
	const char *config;
	const char *tls_ca;
	unsigned timeout_ms, min_scts, min_ops, stagger_ms;
	bool has_stagger;
	bool off; /* the last --ct-log-url was "" */
};

struct serve_flags {
	const char *ca;
	const char *config_path;
	const char *fileca_cert;
	const char *fileca_key;
	const char *fileca_key_passwd; /* where it lies in argv: wiped, never copied here */
	bool fileca_watch;
	struct serve_ct_flags ct;
	struct cmd_pkcs11ca_flags pkcs11; /* --ca pkcs11ca (cmd_createca.c) */
	const char *rate_limit_config;    /* --rate-limit-config */
	const char *rate_limit_redis;     /* --rate-limit-redis */
	struct ca_server_options server;
	struct oidc_options oidc;
	const char *journal_dir;  /* --journal-dir */
	const char *user;         /* --user */
	bool no_signer;           /* --no-signer-process */
	struct signer_user user_ids;
	struct cmd_trust_files trust; /* --trusted-root, --signing-config (cmd_trust.c) */
};

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum serve --ca ephemeralca|fileca|pkcs11ca [options]\n\n"
		"Serves Fulcio's HTTP API (v2 and v1) for signing clients.\n\n"
		"CA:\n"
		"  --ca NAME                      ephemeralca (an in-memory P-256 root made at start,\n"
		"                                 for development), fileca or pkcs11ca\n"
		"  --fileca-cert FILE             PEM chain: issuing CA first, root last\n"
		"  --fileca-key FILE              PEM private key of the issuing CA\n"
		"  --fileca-key-passwd PASS       its passphrase (prefer the environment variable\n"
		"                                 FULCRUM_FILECA_KEY_PASSWD: flags show in ps)\n"
		"  --fileca-watch BOOL            reload key and chain when the files change\n"
		"                                 (default true; SIGHUP always reloads)\n"
		"  --pkcs11-config-path FILE      pkcs11ca: crypto11 JSON (Path, TokenLabel|\n"
		"                                 TokenSerial|SlotNumber, Pin, MaxSessions, ...;\n"
		"                                 default config/crypto11.conf)\n"
		"  --pkcs11-uri URI               pkcs11ca: RFC 7512 URI instead, e.g.\n"
		"                                 'pkcs11:token=fulcio;object=PKCS11CA?module-path=\n"
		"                                 /usr/lib/softhsm/libsofthsm2.so&pin-source=file:/p'\n"
		"  --pkcs11-pin-file FILE         read the PIN from FILE at each login (it is not\n"
		"                                 kept in memory); FULCRUM_PKCS11_PIN in the\n"
		"                                 environment wins over every other source\n"
		"  --hsm-caroot-id ID             CKA_ID (ASCII bytes, as Fulcio) of the issuing CA\n"
		"                                 certificate on the token; the chain above it is\n"
		"                                 read from the token's other certificates\n"
		"  --hsm-key-label LABEL          CKA_LABEL of the CA key (default: the URI's object,\n"
		"                                 else the token's key of the issuing certificate,\n"
		"                                 else PKCS11CA)\n"
		"  --hsm-chain FILE               PEM chain (issuing CA first, root last) instead of\n"
		"                                 the token's certificates (alias:\n"
		"                                 --aws-hsm-root-ca-path)\n"
		"  --hsm-rsa-pss                  sign with RSA-PSS (an RSA CA key)\n"
		"identity:\n"
		"  --config-path FILE             Fulcio identity configuration, JSON or YAML, read\n"
		"                                 again on SIGHUP (default %s;\n"
		"                                 if absent, Fulcio's built-in issuers)\n"
		"  --leeway SECONDS               clock skew allowed on token exp/nbf/iat (default 60)\n"
		"certificates:\n"
		"  --client-signing-algorithms L  comma-separated allow-list of client key algorithms\n"
		"                                 (default: Fulcio's seven)\n"
		"  --certificate-lifetime SECONDS validity of issued certificates (default 600)\n"
		"CT logs (every certificate is logged and carries its SCTs; too few, no certificate):\n"
		"  --ct-log-url URL               log prefix (default " CT_DEFAULT_URL ");\n"
		"                                 \"\" turns CT off (certificates without SCTs);\n"
		"                                 repeat it for several logs (at most 8)\n"
		"  --ct-log-public-key-path FILE  PEM public key of the log (required with a URL;\n"
		"                                 one per --ct-log-url, same order): every SCT is\n"
		"                                 verified with its log's key before issuing\n"
		"  --ct-log-origin HOST           Host header to send to the log (static-CT/TesseraCT;\n"
		"                                 none, or one per --ct-log-url)\n"
		"  --ct-log-operator NAME         who runs the log (none, or one per --ct-log-url;\n"
		"                                 default: each log is its own operator)\n"
		"  --ct-log-config FILE           the logs and the policy in a YAML or JSON file\n"
		"                                 instead of the flags above (docs/ct-client.md)\n"
		"  --ct-log-min-scts K            issue only with at least K verified SCTs (default 1)\n"
		"  --ct-log-min-operators M       ... from logs of at least M operators (default 1)\n"
		"  --ct-log-stagger DURATION      ask the next log after this long without enough\n"
		"                                 SCTs, or at once when one fails (default 500ms;\n"
		"                                 0 = every log at once)\n"
		"  --ct-log.tls-ca-cert FILE      extra PEM CA bundle for HTTPS to the logs\n"
		"  --ct-log-timeout DURATION      deadline of one certificate's submissions, retries\n"
		"                                 included (default 10s; e.g. 10s, 500ms, 30)\n"
		"rate limits (off unless a configuration is given; docs/ratelimit.md):\n"
		"  --rate-limit-config FILE       per-identity limits, JSON or YAML; over a limit\n"
		"                                 the answer is 429 with Retry-After\n"
		"  --rate-limit-redis URL         share the limits between replicas through Redis:\n"
		"                                 redis://HOST[:PORT][/DB] or a unix socket path;\n"
		"                                 while it is down, each replica limits on its own\n"
		"listeners:\n"
		"  --host, --http-host ADDR       API listen address (default 0.0.0.0)\n"
		"  --port, --http-port PORT       API port (default 8080; 0 = any free port)\n"
		"  --port-file FILE               write the bound API port here once listening\n"
		"  --metrics-port PORT            Prometheus metrics port, on the --host address\n"
		"                                 (default 2112; 0 = off): Fulcio's families and\n"
		"                                 labels, process_*, fulcrum_* (docs/operations.md)\n"
		"  --threads N                    worker threads (default: number of CPUs)\n"
		"  --trusted-root FILE            GET /api/v2/trustedRoot (written by fulcrum trust)\n"
		"  --signing-config FILE          GET /api/v2/signingConfig; both: /api/v2/trustConfig\n"
		"signer process (docs/signer.md):\n"
		"  --journal-dir DIR              issuance journal (default %s)\n"
		"  --user NAME                    run as root: the network process becomes NAME\n"
		"                                 (default " SIGNER_DEFAULT_USER ")\n"
		"  --no-signer-process            key in the network process, no checks, no journal\n"
		FC_HTTPD_USAGE
		"logs:\n"
		"  --log_type dev|prod            dev (default): one human line per event; prod:\n"
		"                                 one JSON object per line with Fulcio's keys\n"
		"                                 (severity, ts, caller, message), then fields;\n"
		"                                 one audit line per certificate in both\n"
		"  -v, --verbose                  log debug details\n"
		"  -h, --help                     show this help\n\n"
		"SIGHUP reloads the identity configuration (--config-path), the CA (fileca: key\n"
		"and chain; pkcs11ca: the chain and its key), the CT logs (--ct-log-config, or\n"
		"the key files) and the trust files; requests in flight finish with what they\n"
		"started with, and a file that does not load is logged and the one in use kept\n"
		"(docs/operations.md, \"Rotating keys\");\n"
		"SIGTERM or SIGINT stops after finishing the requests in flight.\n",
		CFG_DEFAULT_PATH, JOURNAL_DEFAULT_DIR);
}

static bool parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* The flags of fulcrum serve (serve_usage). */
enum {
	OPT_CA = 256, OPT_CONFIG, OPT_FILECA_CERT, OPT_FILECA_KEY, OPT_FILECA_PASSWD,
	OPT_FILECA_WATCH, OPT_CT_URL, OPT_CT_KEY, OPT_HOST, OPT_PORT, OPT_PORT_FILE,
	OPT_METRICS_PORT, OPT_THREADS, OPT_ALGS, OPT_LIFETIME, OPT_LEEWAY, OPT_LOG_TYPE,
	OPT_P11_CONFIG, OPT_P11_URI, OPT_P11_PIN_FILE, OPT_HSM_ID, OPT_HSM_LABEL,
	OPT_HSM_CHAIN, OPT_HSM_PSS, OPT_CT_ORIGIN, OPT_CT_TLS_CA, OPT_CT_TIMEOUT,
	OPT_CT_OPERATOR, OPT_CT_CONFIG, OPT_CT_MIN_SCTS, OPT_CT_MIN_OPS, OPT_CT_STAGGER,
	OPT_RL_CONFIG, OPT_RL_REDIS, OPT_TRUSTED_ROOT, OPT_SIGNING_CONFIG,
	OPT_JOURNAL_DIR, OPT_USER, OPT_NO_SIGNER,
};
static const struct option serve_longopts[] = {
	{"ca", required_argument, NULL, OPT_CA},
	{"config-path", required_argument, NULL, OPT_CONFIG},
	{"fileca-cert", required_argument, NULL, OPT_FILECA_CERT},
	{"fileca-key", required_argument, NULL, OPT_FILECA_KEY},
	{"fileca-key-passwd", required_argument, NULL, OPT_FILECA_PASSWD},
	{"fileca-watch", required_argument, NULL, OPT_FILECA_WATCH},
	{"ct-log-url", required_argument, NULL, OPT_CT_URL},
	{"ct-log-public-key-path", required_argument, NULL, OPT_CT_KEY},
	{"ct-log-origin", required_argument, NULL, OPT_CT_ORIGIN},
	{"ct-log.tls-ca-cert", required_argument, NULL, OPT_CT_TLS_CA},
	{"ct-log-timeout", required_argument, NULL, OPT_CT_TIMEOUT},
	{"ct-log-operator", required_argument, NULL, OPT_CT_OPERATOR},
	{"ct-log-config", required_argument, NULL, OPT_CT_CONFIG},
	{"ct-log-min-scts", required_argument, NULL, OPT_CT_MIN_SCTS},
	{"ct-log-min-operators", required_argument, NULL, OPT_CT_MIN_OPS},
	{"ct-log-stagger", required_argument, NULL, OPT_CT_STAGGER},
	{"host", required_argument, NULL, OPT_HOST},
	{"http-host", required_argument, NULL, OPT_HOST},
	{"port", required_argument, NULL, OPT_PORT},
	{"http-port", required_argument, NULL, OPT_PORT},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"client-signing-algorithms", required_argument, NULL, OPT_ALGS},
	{"certificate-lifetime", required_argument, NULL, OPT_LIFETIME},
	{"leeway", required_argument, NULL, OPT_LEEWAY},
	{"log_type", required_argument, NULL, OPT_LOG_TYPE},
	{"pkcs11-config-path", required_argument, NULL, OPT_P11_CONFIG},
	{"pkcs11-uri", required_argument, NULL, OPT_P11_URI},
	{"pkcs11-pin-file", required_argument, NULL, OPT_P11_PIN_FILE},
	{"hsm-caroot-id", required_argument, NULL, OPT_HSM_ID},
	{"hsm-key-label", required_argument, NULL, OPT_HSM_LABEL},
	{"hsm-chain", required_argument, NULL, OPT_HSM_CHAIN},
	{"aws-hsm-root-ca-path", required_argument, NULL, OPT_HSM_CHAIN},
	{"hsm-rsa-pss", no_argument, NULL, OPT_HSM_PSS},
	FC_HTTPD_LONGOPTS,
	{"rate-limit-config", required_argument, NULL, OPT_RL_CONFIG},
	{"rate-limit-redis", required_argument, NULL, OPT_RL_REDIS},
	{"trusted-root", required_argument, NULL, OPT_TRUSTED_ROOT},
	{"signing-config", required_argument, NULL, OPT_SIGNING_CONFIG},
	{"journal-dir", required_argument, NULL, OPT_JOURNAL_DIR},
	{"user", required_argument, NULL, OPT_USER},
	{"no-signer-process", no_argument, NULL, OPT_NO_SIGNER},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* One CT flag (by its long name) into f; false for a bad value or one
 * repetition too many (said on stderr). */
static bool ct_flag(struct serve_ct_flags *f, const char *name, const char *arg)
{
	static const char *const rep[] = {"ct-log-url", "ct-log-public-key-path", "ct-log-origin",
					  "ct-log-operator"};
	const char **lists[] = {f->url, f->key, f->origin, f->op};
	size_t *counts[] = {&f->n_url, &f->n_key, &f->n_origin, &f->n_op};
	unsigned long v;

	if (strcmp(name, "ct-log-url") == 0 && *arg == '\0') {
		f->n_url = 0; /* "" turns CT off, and forgets the URLs given before */
		f->off = true;
		return true;
	}
	if (strcmp(name, "ct-log-url") == 0)
		f->off = false;
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(name, rep[i]) != 0)
			continue;
		if (*counts[i] == CT_MAX_LOGS) {
			fprintf(stderr, "fulcrum serve: at most %d CT logs\n", CT_MAX_LOGS);
			return false;
		}
		lists[i][(*counts[i])++] = arg;
		return true;
	}
	if (strcmp(name, "ct-log-config") == 0)
		f->config = arg;
	else if (strcmp(name, "ct-log.tls-ca-cert") == 0)
		f->tls_ca = arg;
	else if (strcmp(name, "ct-log-timeout") == 0)
		return ct_parse_duration_ms(arg, &f->timeout_ms, NULL) == FC_OK;
	else if (strcmp(name, "ct-log-stagger") == 0 && strcmp(arg, "0") == 0)
		f->has_stagger = true, f->stagger_ms = 0;
	else if (strcmp(name, "ct-log-stagger") == 0)
		return (f->has_stagger = true) &&
		       ct_parse_duration_ms(arg, &f->stagger_ms, NULL) == FC_OK;
	else if (!cmd_parse_uint(arg, CT_MAX_LOGS, &v) || v == 0)
		return false;
	else if (strcmp(name, "ct-log-min-scts") == 0)
		f->min_scts = (unsigned)v;
	else
		f->min_ops = (unsigned)v;
	return true;
}

/* The CT flags together: each log has its key (and, when given at all,
 * its origin and operator), and a configuration file is not mixed with
 * logs named by flags. False (said on stderr) otherwise. */
static bool ct_flags_check(const struct serve_ct_flags *f)
{
	const char *url = f->n_url ? f->url[0] : FULCIO_DEFAULT_CT_URL;

	if (f->config != NULL) {
		if (f->n_url + f->n_key + f->n_origin + f->n_op == 0)
			return true;
		fprintf(stderr, "fulcrum serve: --ct-log-config names the logs: it cannot be combined "
				"with --ct-log-url, --ct-log-public-key-path, --ct-log-origin or "
				"--ct-log-operator\n");
		return false;
	}
	if (f->off)
		return true; /* CT off, explicitly */
	if (f->n_url <= 1 && f->n_key == 0) {
		fprintf(stderr, "fulcrum serve: --ct-log-url %s needs --ct-log-public-key-path (the "
				"log's PEM public key, to verify every SCT before issuing); to issue "
				"without CT, say so with --ct-log-url=\"\"\n",
			url);
		return false;
	}
	if (f->n_key != (f->n_url ? f->n_url : 1) || (f->n_origin && f->n_origin != f->n_key) ||
	    (f->n_op && f->n_op != f->n_key)) {
		fprintf(stderr, "fulcrum serve: give --ct-log-public-key-path once per --ct-log-url, "
				"and --ct-log-origin and --ct-log-operator not at all or once per "
				"--ct-log-url, in the same order (%zu URLs, %zu keys, %zu origins, "
				"%zu operators)\n",
			f->n_url, f->n_key, f->n_origin, f->n_op);
		return false;
	}
	return true;
}

/* --log_type: the log format, from now on (before the signer process is
 * forked, so that every process writes it). False for a bad value. */
static bool log_type_flag(const char *arg)
{
	enum fc_log_format lf;

	if (!fc_log_format_parse(arg, &lf))
		return false;
	fc_log_set_format(lf);
	return true;
}

/* The flags that go together: -1 to go on, else the exit status. */
static int serve_check(const struct serve_flags *f)
{
	if (f->ca == NULL || (strcmp(f->ca, "ephemeralca") != 0 && strcmp(f->ca, "fileca") != 0 &&
			     strcmp(f->ca, "pkcs11ca") != 0)) {
		fprintf(stderr, "fulcrum serve: --ca must be ephemeralca, fileca or pkcs11ca\n");
		return CMD_EXIT_USAGE;
	}
	if (strcmp(f->ca, "fileca") == 0 && (f->fileca_cert == NULL || f->fileca_key == NULL)) {
		fprintf(stderr, "fulcrum serve: fileca needs --fileca-cert and --fileca-key\n");
		return CMD_EXIT_USAGE;
	}
	if (!ct_flags_check(&f->ct))
		return CMD_EXIT_USAGE;
	return -1;
}

/*
 * Read the flags into *f. Secrets are not copied: the passphrase (flag or
 * FULCRUM_FILECA_KEY_PASSWD) is taken by the supervisor, or by serve_ca.c
 * with --no-signer-process, and wiped where it lies (serve_ca.c), so that
 * no process shows it in ps or /proc/PID/environ. -1 to go on, else the
 * exit status.
 */
static int serve_parse(int argc, char **argv, struct serve_flags *f)
{
	unsigned long v;
	int c, idx = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", serve_longopts, &idx)) != -1) {
		switch (c) {
		case OPT_CA: f->ca = optarg; break;
		case OPT_CONFIG: f->config_path = optarg; break;
		case OPT_FILECA_CERT: f->fileca_cert = optarg; break;
		case OPT_FILECA_KEY: f->fileca_key = optarg; break;
		case OPT_FILECA_PASSWD: f->fileca_key_passwd = optarg; break;
		case OPT_FILECA_WATCH:
			if (!parse_bool(optarg, &f->fileca_watch))
				goto bad_value;
			break;
		case OPT_CT_URL: case OPT_CT_KEY: case OPT_CT_ORIGIN: case OPT_CT_TLS_CA:
		case OPT_CT_TIMEOUT: case OPT_CT_OPERATOR: case OPT_CT_CONFIG: case OPT_CT_MIN_SCTS:
		case OPT_CT_MIN_OPS: case OPT_CT_STAGGER:
			if (!ct_flag(&f->ct, serve_longopts[idx].name, optarg))
				goto bad_value;
			break;
		case OPT_HOST: f->server.host = optarg; break;
		case OPT_PORT:
			if (!cmd_parse_uint(optarg, 65535, &v))
				goto bad_value;
			f->server.port = (uint16_t)v;
			break;
		case OPT_PORT_FILE: f->server.port_file = optarg; break;
		case OPT_METRICS_PORT:
			if (!cmd_parse_uint(optarg, 65535, &v))
				goto bad_value;
			f->server.metrics_port = (uint16_t)v;
			break;
		case OPT_THREADS:
			if (!cmd_parse_uint(optarg, 1024, &v) || v == 0)
				goto bad_value;
			f->server.threads = (unsigned)v;
			break;
		case OPT_ALGS: f->server.client_algs = optarg; break;
		case OPT_LIFETIME:
			if (!cmd_parse_uint(optarg, 7 * 24 * 3600, &v) || v < 60)
				goto bad_value;
			f->server.validity_s = (int)v;
			break;
		case OPT_LEEWAY:
			if (!cmd_parse_uint(optarg, 3600, &v))
				goto bad_value;
			f->oidc.leeway_s = (int)v;
			break;
		case OPT_LOG_TYPE:
			if (!log_type_flag(optarg))
				goto bad_value;
			break;
		case OPT_P11_CONFIG: f->pkcs11.config_path = optarg; break;
		case OPT_P11_URI: f->pkcs11.uri = optarg; break;
		case OPT_P11_PIN_FILE: f->pkcs11.pin_file = optarg; break;
		case OPT_HSM_ID: f->pkcs11.caroot_id = optarg; break;
		case OPT_HSM_LABEL: f->pkcs11.key_label = optarg; break;
		case OPT_HSM_CHAIN: f->pkcs11.chain_path = optarg; break;
		case OPT_HSM_PSS: f->pkcs11.rsa_pss = true; break;
		case OPT_JOURNAL_DIR: f->journal_dir = optarg; break;
		case OPT_USER: f->user = optarg; break;
		case OPT_NO_SIGNER: f->no_signer = true; break;
		case OPT_RL_CONFIG: f->rate_limit_config = optarg; break;
		case OPT_RL_REDIS: f->rate_limit_redis = optarg; break;
		case OPT_TRUSTED_ROOT: f->trust.trusted_root_path = optarg; break;
		case OPT_SIGNING_CONFIG: f->trust.signing_config_path = optarg; break;
		case 'v': fc_log_set_level(LOG_DEBUG); break;
		case 'h':
			/* The help is longer than a pipe's buffer: a reader that stops
			 * early (grep -q) must not turn it into a SIGPIPE death. */
			signal(SIGPIPE, SIG_IGN);
			serve_usage(stdout);
			return CMD_EXIT_OK;
		default:
			if (c >= FC_HTTPD_OPT_FIRST && c <= FC_HTTPD_OPT_LAST) {
				if (fc_httpd_flag(&f->server.http, c, optarg) != FC_OK)
					goto bad_value;
				break;
			}
			serve_usage(stderr);
			return CMD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fulcrum serve: unexpected argument \"%s\"\n", argv[optind]);
		return CMD_EXIT_USAGE;
	}
	return serve_check(f);
bad_value:
	fprintf(stderr, "fulcrum serve: bad value \"%s\" for --%s\n", optarg, serve_longopts[idx].name);
	return CMD_EXIT_USAGE;
}

/* The identity configuration: --config-path, else Fulcio's default path,
 * else (that file absent) Fulcio's built-in issuers. */
static enum fc_status load_identity(const struct serve_flags *f, struct cfg_identity **cfg,
				    struct fc_err *err)
{
	enum fc_status st;

	st = cfg_identity_load_file(f->config_path ? f->config_path : CFG_DEFAULT_PATH, cfg, err);
	if (st == FC_ENOTFOUND && f->config_path == NULL) {
		fc_log(LOG_WARNING, "serve: %s not found, using Fulcio's built-in issuers",
		       CFG_DEFAULT_PATH);
		fc_err_clear(err);
		st = cfg_identity_default(cfg);
	}
	return st;
}

/* The CT client of --ct-log-config or --ct-log-url, or none with
 * --ct-log-url "". The flags given beside a configuration file (timeout,
 * TLS CA bundle, policy, stagger) win over its values. */
static enum fc_status make_ct_client(const struct serve_ct_flags *f, struct ct_client **out,
				     struct fc_err *err)
{
	struct ct_log_options logs[CT_MAX_LOGS];
	struct ct_client_options co = {.logs = logs, .stagger_ms = CT_DEFAULT_STAGGER_MS},
				 *o = &co;
	struct ct_config *cfg = NULL;
	enum fc_status st;

	*out = NULL;
	if (f->config == NULL && f->off) {
		fc_log(LOG_WARNING, "serve: no CT log: certificates are issued without SCTs and are "
				    "not publicly auditable (--ct-log-url=\"\")");
		return FC_OK;
	}
	if (f->config != NULL) {
		if ((st = ct_config_load(f->config, &cfg, err)) != FC_OK)
			return st;
		o = ct_config_options(cfg);
	}
	/* without --ct-log-url, Fulcio's default log */
	for (size_t i = 0; f->config == NULL && i < f->n_key; i++) {
		logs[i] = (struct ct_log_options){.public_key_path = f->key[i]};
		logs[i].url = f->n_url ? f->url[i] : FULCIO_DEFAULT_CT_URL;
		logs[i].origin = f->n_origin ? f->origin[i] : NULL;
		logs[i].operator_name = f->n_op ? f->op[i] : NULL;
		co.n_logs = i + 1;
	}
	o->tls_ca_cert = f->tls_ca ? f->tls_ca : o->tls_ca_cert;
	o->timeout_ms = f->timeout_ms ? f->timeout_ms : o->timeout_ms;
	o->min_scts = f->min_scts ? f->min_scts : o->min_scts;
	o->min_operators = f->min_ops ? f->min_ops : o->min_operators;
	o->stagger_ms = f->has_stagger ? f->stagger_ms : o->stagger_ms;
	st = ct_client_new(o, out, err);
	ct_config_free(cfg);
	return st;
}

/* cmd_ct_build_fn: the CT client of the flags, read again on SIGHUP. */
static enum fc_status rebuild_ct_client(void *arg, struct ct_client **out, struct fc_err *err)
{
	return make_ct_client(arg, out, err);
}

/* The rate limiter of --rate-limit-config (shared through
 * --rate-limit-redis), or none without a configuration. */
static enum fc_status make_rate_limiter(const struct serve_flags *f, struct rl_limiter **out,
					struct fc_err *err)
{
	struct rl_options o = {.redis = f->rate_limit_redis, .redis_conns = f->server.threads};
	struct rl_config *cfg = NULL;
	enum fc_status st;

	*out = NULL;
	if (f->rate_limit_config == NULL)
		return f->rate_limit_redis == NULL ? FC_OK
			: fc_err_set(err, FC_ECONFIG, "--rate-limit-redis needs --rate-limit-config");
	if ((st = rl_config_load_file(f->rate_limit_config, &cfg, err)) != FC_OK)
		return st;
	return rl_limiter_new(cfg, &o, out, err);
}

/* Reload the identity configuration (SIGHUP); a file that does not load
 * is refused in one line naming it and why, and the current one kept. */
static void reload_identity(const struct serve_flags *f, struct ca_server *server)
{
	const char *path = f->config_path ? f->config_path : CFG_DEFAULT_PATH;
	struct cfg_identity *cfg = NULL;
	struct oidc_verifier *verifier = NULL;
	struct fc_err err = {0};
	enum fc_status st;

	if ((st = load_identity(f, &cfg, &err)) == FC_OK &&
	    (st = oidc_verifier_new(cfg, &f->oidc, &verifier)) != FC_OK)
		fc_err_set(&err, st, "%s: %s", path, fc_strerror(st));
	if (st != FC_OK) {
		fc_log(LOG_ERR, "serve: reload of the identity configuration refused, keeping the one "
				"in use: %s", err.msg);
		ca_server_identity_reload_failed(server);
		cfg_identity_free(cfg);
		return;
	}
	fc_log(LOG_NOTICE, "serve: reloaded the identity configuration from %s: %zu issuers, %zu "
			   "meta-issuers",
	       path, cfg->n_issuers, cfg->n_meta);
	ca_server_replace_identity(server, cfg, verifier);
}

/* Serve until SIGTERM or SIGINT; SIGHUP reloads the identity configuration,
 * the trust files, the CA and the CT logs (cmd_ca_tick, serve_ca.c: a change
 * of the fileca files too, with --fileca-watch: seen by the supervisor, or
 * there with --no-signer-process). */
static void serve_wait(struct serve_flags *f, const sigset_t *sigs, struct cmd_ca *ca,
		       struct ca_server *server)
{
	for (;;) {
		struct timespec poll = {.tv_sec = 2};
		int sig = sigtimedwait(sigs, NULL, &poll);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP) {
			reload_identity(f, server);
			cmd_trust_files_reload(&f->trust, server);
		}
		cmd_ca_tick(ca, sig == SIGHUP);
	}
	fc_log(LOG_NOTICE, "serve: stopping");
}

/* The key side's options from the flags. */
static void ca_opts(const struct serve_flags *f, struct cmd_ca_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ca = f->ca;
	o->fileca_cert = f->fileca_cert;
	o->fileca_key = f->fileca_key;
	o->passwd_arg = f->fileca_key_passwd;
	o->fileca_watch = f->fileca_watch;
	o->pkcs11 = f->pkcs11;
	o->validity_s = f->server.validity_s > 0 ? f->server.validity_s : CA_DEFAULT_VALIDITY_S;
	o->ct = f->ct.config != NULL || !f->ct.off; /* precertificates to sign */
	o->journal_dir = f->journal_dir ? f->journal_dir : JOURNAL_DEFAULT_DIR;
	o->no_signer = f->no_signer;
}

/* Before the fork: who the network process becomes. */
static enum fc_status signer_prepare_flags(struct serve_flags *f, struct fc_err *err)
{
	if (f->no_signer) {
		fc_log(LOG_WARNING, "serve: --no-signer-process: the CA key is in the network "
				    "process, nothing checks what it signs and nothing is journaled");
		return FC_OK;
	}
	if (geteuid() != 0) {
		if (f->user != NULL)
			fc_log(LOG_WARNING, "serve: --user %s: not running as root, nothing to drop",
			       f->user);
		return FC_OK;
	}
	return signer_user_lookup(f->user ? f->user : SIGNER_DEFAULT_USER, &f->user_ids, err);
}

/* Why the server cannot start: "fulcrum serve: WHAT: MSG" on stderr, or a
 * log line with --log_type prod (every line is JSON then). */
static void start_failed(const char *what, const char *msg)
{
	if (fc_log_get_format() == FC_LOG_PROD)
		fc_log(LOG_ERR, "serve: %s%s%s", what ? what : "", what ? ": " : "", msg);
	else
		fprintf(stderr, "fulcrum serve: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
}

/* Load what the flags name, start the listeners and serve; the exit status. */
static int serve_run(struct serve_flags *f)
{
	struct cfg_identity *cfg = NULL;
	struct oidc_verifier *verifier = NULL;
	struct ca_authority *authority = NULL;
	struct ca_server *server = NULL;
	struct ct_client *ct = NULL;
	struct cmd_ca *ca = NULL;
	struct cmd_ca_opts co;
	struct rl_limiter *limiter = NULL;
	struct fc_err err = {0};
	sigset_t sigs;
	enum fc_status st;
	int rc = CMD_EXIT_USAGE;

	if (signer_prepare_flags(f, &err) != FC_OK) {
		start_failed(NULL, err.msg);
		goto out;
	}
	/* First of all, before any secret is read or any thread started. */
	ca_opts(f, &co);
	if (cmd_ca_open(&co, &ca, &err) != FC_OK) {
		start_failed("signer process", err.msg);
		goto out;
	}
	if (load_identity(f, &cfg, &err) != FC_OK) {
		start_failed("configuration", err.msg);
		goto out;
	}
	if (cmd_trust_files_load(&f->trust, &f->server.trust, &err) != FC_OK) {
		start_failed("trust files", err.msg);
		goto out;
	}
	if (cmd_ca_authority(ca, &authority, &err) != FC_OK) {
		start_failed("CA", err.msg);
		goto out;
	}
	if ((st = oidc_verifier_new(cfg, &f->oidc, &verifier)) != FC_OK) {
		start_failed("identity", fc_strerror(st));
		goto out;
	}
	/* Signals are taken by sigwait; block them before any thread starts
	 * so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (make_ct_client(&f->ct, &ct, &err) != FC_OK) {
		start_failed("CT log", err.msg);
		goto out;
	}
	f->server.ct = ct;
	if (ct != NULL)
		cmd_ca_set_ct_source(ca, rebuild_ct_client, &f->ct);
	if (cmd_ca_privsep(ca) != NULL) {
		f->server.metrics_extra = cmd_privsep_metrics;
		f->server.metrics_extra_arg = cmd_ca_privsep(ca);
	}
	if (make_rate_limiter(f, &limiter, &err) != FC_OK) {
		start_failed("rate limits", err.msg);
		goto out;
	}
	f->server.ratelimit = limiter;
	if (ca_server_start(&f->server, verifier, cfg, authority, &server, &err) != FC_OK) {
		start_failed(NULL, err.msg);
		goto out;
	}
	authority = NULL; /* the server owns them now */
	verifier = NULL;
	cfg = NULL;
	cmd_ca_set_server(ca, server);
	/* Everything is read and the listeners are bound: drop privileges. */
	if (!f->no_signer && cmd_privsep_drop(&f->user_ids, "serve", &err) != FC_OK) {
		start_failed("cannot drop privileges", err.msg);
		rc = CMD_EXIT_REFUSED;
		goto out;
	}
	serve_wait(f, &sigs, ca, server);
	rc = CMD_EXIT_OK;
out:
	if (ca != NULL)
		cmd_ca_set_server(ca, NULL);
	ca_server_stop(server); /* answers every request, CT submissions included */
	ct_client_free(ct);
	rl_limiter_free(limiter);
	ca_authority_free(authority);
	oidc_verifier_free(verifier);
	cfg_identity_free(cfg);
	cmd_ca_free(ca); /* the signer process and the supervisor, last */
	return rc;
}

/* fulcrum serve (see serve_usage): CMD_EXIT_OK after a clean stop,
 * CMD_EXIT_USAGE for bad flags or what they name. */
int cmd_serve_main(int argc, char **argv)
{
	struct serve_flags f = {.fileca_watch = true};
	int rc;

	/* The help takes more than one write: a reader that stops early
	 * (grep -q) must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	ca_server_options_default(&f.server);
	oidc_options_default(&f.oidc);
	if ((rc = serve_parse(argc, argv, &f)) < 0)
		rc = serve_run(&f);
	cmd_trust_files_clear(&f.trust);
	return rc;
}
