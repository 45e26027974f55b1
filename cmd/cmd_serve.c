/*
 * fulcrum serve: the certificate authority. Its flags are read as Fulcio's
 * `fulcio serve` reads them (cmd/flags.c: the command line, FULCIO_SERVE_*
 * environment variables, a --config flag file; no abbreviations), with
 * Fulcio's names, types and defaults, so that a deployment can swap
 * binaries; fulcrum's own flags come after them in each group.
 */
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
	struct cmd_list url, key, origin, op; /* as given; url settled by ct_settle */
	const char *config;
	const char *tls_ca;
	unsigned long timeout_ms, min_scts, min_ops, stagger_ms; /* 0: not given */
	bool has_stagger;
	bool off; /* the last --ct-log-url was "" */
};

struct serve_flags {
	const char *flag_file; /* -c, --config (read by cmd/flags.c) */
	const char *ca;
	const char *config_path; /* NULL: Fulcio's default, else built-in issuers */
	const char *fileca_cert;
	const char *fileca_key;
	char *fileca_key_passwd; /* a copy (its sources wiped); wiped by cmd_ca_open */
	bool fileca_watch;
	struct serve_ct_flags ct;
	struct cmd_pkcs11ca_flags pkcs11; /* --ca pkcs11ca (cmd_createca.c) */
	const char *hsm_chain;		  /* --hsm-chain */
	const char *aws_hsm_root;	  /* --aws-hsm-root-ca-path (Fulcio's name for it) */
	const char *rate_limit_config;	  /* --rate-limit-config */
	const char *rate_limit_redis;	  /* --rate-limit-redis */
	struct ca_server_options server;
	struct oidc_options oidc;
	unsigned long lifetime_ms; /* --certificate-lifetime */
	unsigned long leeway_s;	   /* --leeway */
	const char *journal_dir;   /* --journal-dir */
	const char *user;	   /* --user */
	bool no_signer;		   /* --no-signer-process */
	bool user_ignored;	   /* --user given without root: said once serving */
	bool verbose, help;
	struct signer_user user_ids;
	struct cmd_trust_files trust; /* --trusted-root, --signing-config (cmd_trust.c) */
};

/* One command, one set of flags: the table below points into it. */
static struct serve_flags F;

/* --- values that need more than a type ------------------------------------------- */

#define CA_CHOICES                                                                                 \
	"use --ca pkcs11ca (the CA key in an HSM, through PKCS#11), fileca (key and chain "        \
	"files) or ephemeralca (a throwaway key, for testing)"

/* --log_type: the log format, from now on (before the signer process is
 * forked, so that every process writes it). */
static bool parse_log_type(const char *v, void *target, char *why, size_t n)
{
	enum fc_log_format lf;

	(void)target;
	if (!fc_log_format_parse(v, &lf)) {
		snprintf(why, n, "dev or prod");
		return false;
	}
	fc_log_set_format(lf);
	return true;
}

static bool parse_ca(const char *v, void *target, char *why, size_t n)
{
	static const char *const theirs[][2] = {{"googleca", "Google Cloud CA Service"},
						{"kmsca", "a key in a cloud KMS"},
						{"tinkca", "a Tink keyset sealed by a cloud KMS"}};

	if (strcmp(v, "ephemeralca") == 0 || strcmp(v, "fileca") == 0 ||
	    strcmp(v, "pkcs11ca") == 0) {
		*(const char **)target = v;
		return true;
	}
	for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		if (strcmp(v, theirs[i][0]) == 0) {
			snprintf(why, n, "fulcrum has no %s CA (%s): " CA_CHOICES, v, theirs[i][1]);
			return false;
		}
	}
	snprintf(why, n, "no such CA: " CA_CHOICES);
	return false;
}

static bool parse_port(const char *v, void *target, char *why, size_t n)
{
	unsigned long p;

	if (!cmd_parse_uint(v, 65535, &p)) {
		snprintf(why, n, "not a port number (0 to 65535)");
		return false;
	}
	*(uint16_t *)target = (uint16_t)p;
	return true;
}

static bool parse_threads(const char *v, void *target, char *why, size_t n)
{
	unsigned long t;

	if (!cmd_parse_uint(v, 1024, &t) || t == 0) {
		snprintf(why, n, "not a whole number from 1 to 1024");
		return false;
	}
	*(unsigned *)target = (unsigned)t;
	return true;
}

/* The HTTP front's deadlines and caps (struct fc_httpd_limits). */
static bool parse_front_ms(const char *v, void *target, char *why, size_t n)
{
	if (fc_parse_duration_ms(v, target) == FC_OK)
		return true;
	snprintf(why, n, "not a duration from 1ms to 24h (Go syntax: 10s, 1m30s, 500ms)");
	return false;
}

static bool parse_front_count(const char *v, void *target, char *why, size_t n)
{
	unsigned long c;

	if (!cmd_parse_uint(v, 1000000, &c) || c == 0) {
		snprintf(why, n, "not a whole number from 1 to 1000000");
		return false;
	}
	*(uint32_t *)target = (uint32_t)c;
	return true;
}

static bool parse_front_per_ip(const char *v, void *target, char *why, size_t n)
{
	unsigned long c;

	if (!cmd_parse_uint(v, 1000000, &c)) {
		snprintf(why, n, "not a whole number from 0 (no cap) to 1000000");
		return false;
	}
	*(uint32_t *)target = c == 0 ? FC_HTTPD_NO_LIMIT : (uint32_t)c;
	return true;
}

/* The front's TLS files (fc_httpd_tls_load reads them). */
static bool parse_front_file(const char *v, void *target, char *why, size_t n)
{
	if (*v == '\0') {
		snprintf(why, n, "an empty file name");
		return false;
	}
	*(const char **)target = v;
	return true;
}

static bool parse_front_tls_min(const char *v, void *target, char *why, size_t n)
{
	if (strcmp(v, "1.2") != 0 && strcmp(v, "1.3") != 0) {
		snprintf(why, n, "1.2 or 1.3");
		return false;
	}
	*(unsigned *)target = strcmp(v, "1.3") == 0 ? 13 : 12;
	return true;
}

/* --- the flags: Fulcio's first in each group, then fulcrum's ---------------------- */

#define GRPC_NOTE "gRPC is not served: fulcrum serves Fulcio's HTTP API (v2 and v1) on --port"
#define KMS_NOTE "fulcrum has no KMS CA (Fulcio's kmsca): " CA_CHOICES
#define TINK_NOTE "fulcrum has no Tink CA (Fulcio's tinkca): " CA_CHOICES
#define GOOGLE_NOTE "fulcrum has no Google CA Service CA (Fulcio's googleca): " CA_CHOICES

#define STR(n, t, m, h)                                                                            \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_STRING, .target = t, .metavar = m, .help = h           \
	}
#define CUSTOM(n, t, fn, m, h)                                                                     \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_CUSTOM, .target = t, .parse = fn, .metavar = m,        \
		.help = h                                                                          \
	}
#define LIST(n, t, m, h)                                                                           \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_LIST, .target = t, .metavar = m, .help = h             \
	}
#define BOOL(n, t, h)                                                                              \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_BOOL, .target = t, .help = h                           \
	}
#define IGNORED(n)                                                                                 \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_IGNORED, .note = GRPC_NOTE                             \
	}
#define REFUSED(n, why)                                                                            \
	{                                                                                          \
		.name = n, .type = CMD_FLAG_REFUSED, .note = why                                   \
	}

static struct cmd_flag serve_table[] = {
	{.name = "config",
	 .shorthand = 'c',
	 .type = CMD_FLAG_STRING,
	 .target = &F.flag_file,
	 .group = "flag file",
	 .metavar = "FILE",
	 .help = "Fulcio's flag file: YAML or JSON, flag names (no leading "
		 "dashes) to values, a list for a repeated flag. The command line wins "
		 "over the environment, which wins over this file. Not the "
		 "identity configuration: that is --config-path"},
	{.name = "ca",
	 .type = CMD_FLAG_CUSTOM,
	 .target = &F.ca,
	 .parse = parse_ca,
	 .group = "CA",
	 .metavar = "NAME",
	 .help = "ephemeralca (an in-memory P-256 root made at start, for "
		 "development), fileca or pkcs11ca; required"},
	STR("fileca-cert", &F.fileca_cert, "FILE", "PEM chain: issuing CA first, root last"),
	STR("fileca-key", &F.fileca_key, "FILE", "PEM private key of the issuing CA"),
	{.name = "fileca-key-passwd",
	 .type = CMD_FLAG_SECRET,
	 .target = &F.fileca_key_passwd,
	 .metavar = "PASS",
	 .help = "its passphrase (else FULCRUM_FILECA_KEY_PASSWD; a flag shows "
		 "in ps until fulcrum wipes it)"},
	BOOL("fileca-watch", &F.fileca_watch,
	     "reload key and chain when the files change (default true; "
	     "--fileca-watch=false; SIGHUP always reloads)"),
	STR("pkcs11-config-path", &F.pkcs11.config_path, "FILE",
	    "pkcs11ca: crypto11 JSON (Path, TokenLabel|TokenSerial|"
	    "SlotNumber, Pin, MaxSessions, ...; default " CMD_PKCS11_DEFAULT_CONFIG ")"),
	STR("hsm-caroot-id", &F.pkcs11.caroot_id, "ID",
	    "CKA_ID (ASCII bytes, as Fulcio) of the issuing CA certificate "
	    "on the token; the chain above it is read from the token's "
	    "other certificates"),
	STR("hsm-key-label", &F.pkcs11.key_label, "LABEL",
	    "CKA_LABEL of the CA key (default: the URI's object, else the token's key of "
	    "the issuing certificate, else PKCS11CA)"),
	STR("aws-hsm-root-ca-path", &F.aws_hsm_root, "FILE", "the same as --hsm-chain"),
	STR("pkcs11-uri", &F.pkcs11.uri, "URI",
	    "pkcs11ca: RFC 7512 URI instead of --pkcs11-config-path, e.g.\n"
	    "'pkcs11:token=fulcio;object=PKCS11CA\n"
	    "?module-path=/usr/lib/softhsm/libsofthsm2.so\n"
	    "&pin-source=file:/p'"),
	STR("pkcs11-pin-file", &F.pkcs11.pin_file, "FILE",
	    "read the PIN from FILE at each login (it is not kept in "
	    "memory); FULCRUM_PKCS11_PIN in the environment wins over "
	    "every other source"),
	STR("hsm-chain", &F.hsm_chain, "FILE",
	    "PEM chain (issuing CA first, root last) instead of the token's "
	    "certificates"),
	BOOL("hsm-rsa-pss", &F.pkcs11.rsa_pss, "sign with RSA-PSS (an RSA CA key)"),
	{.name = "config-path",
	 .type = CMD_FLAG_STRING,
	 .target = &F.config_path,
	 .group = "identity",
	 .metavar = "FILE",
	 .help = "Fulcio identity configuration, JSON or YAML (default " CFG_DEFAULT_PATH
		 ", else\n/etc/fulcio-config/config.json, else Fulcio's built-in "
		 "issuers); a path given here must exist"},
	{.name = "leeway",
	 .type = CMD_FLAG_UINT,
	 .target = &F.leeway_s,
	 .max = 3600,
	 .metavar = "SECONDS",
	 .help = "clock skew allowed on token exp/nbf/iat (default 60)"},
	{.name = "client-signing-algorithms",
	 .type = CMD_FLAG_STRING,
	 .target = &F.server.client_algs,
	 .group = "certificates",
	 .metavar = "L",
	 .help = "comma-separated allow-list of client key algorithms "
		 "(default: Fulcio's seven)"},
	{.name = "certificate-lifetime",
	 .type = CMD_FLAG_DURATION,
	 .target = &F.lifetime_ms,
	 .min = 60000,
	 .max = 168 * 3600000UL,
	 .plain_ms = 1000,
	 .metavar = "D",
	 .help = "validity of issued certificates, 1m to 168h (default 10m; "
		 "Go syntax, e.g. 20m, 1h30m, or a number of seconds)"},
	{.name = "ct-log-url",
	 .type = CMD_FLAG_LIST,
	 .target = &F.ct.url,
	 .group = "CT logs (no certificate without the SCTs the policy asks for)",
	 .metavar = "URL",
	 .help = "log prefix (default " CT_DEFAULT_URL "); "
		 "\"\" turns CT off (certificates without SCTs); "
		 "repeat it for several logs (at most 8)"},
	LIST("ct-log-public-key-path", &F.ct.key, "FILE",
	     "PEM public key of the log (required with a URL; one per "
	     "--ct-log-url, same order): every SCT is verified with its "
	     "log's key before issuing"),
	LIST("ct-log-origin", &F.ct.origin, "HOST",
	     "Host header to send to the log (static-CT/TesseraCT; none, or "
	     "one per --ct-log-url)"),
	STR("ct-log.tls-ca-cert", &F.ct.tls_ca, "FILE",
	    "extra PEM CA bundle for HTTPS to the logs"),
	LIST("ct-log-operator", &F.ct.op, "NAME",
	     "who runs the log (none, or one per --ct-log-url; default: each "
	     "log is its own operator)"),
	STR("ct-log-config", &F.ct.config, "FILE",
	    "the logs and the policy in a YAML or JSON file instead of the "
	    "flags above, read again on SIGHUP (docs/ct-client.md)"),
	{.name = "ct-log-min-scts",
	 .type = CMD_FLAG_UINT,
	 .target = &F.ct.min_scts,
	 .min = 1,
	 .max = CT_MAX_LOGS,
	 .metavar = "K",
	 .help = "issue only with at least K verified SCTs (default 1)"},
	{.name = "ct-log-min-operators",
	 .type = CMD_FLAG_UINT,
	 .target = &F.ct.min_ops,
	 .min = 1,
	 .max = CT_MAX_LOGS,
	 .metavar = "M",
	 .help = "... from logs of at least M operators (default 1)"},
	{.name = "ct-log-stagger",
	 .type = CMD_FLAG_DURATION,
	 .target = &F.ct.stagger_ms,
	 .max = 600000,
	 .plain_ms = 1000,
	 .metavar = "D",
	 .help = "ask the next log after this long without enough SCTs, or at "
		 "once when one fails (default 500ms; 0 = every log at once)"},
	{.name = "ct-log-timeout",
	 .type = CMD_FLAG_DURATION,
	 .target = &F.ct.timeout_ms,
	 .min = 1,
	 .max = 600000,
	 .plain_ms = 1000,
	 .metavar = "D",
	 .help = "deadline of one certificate's submissions, retries included "
		 "(default 10s; e.g. 10s, 500ms, 30)"},
	{.name = "rate-limit-config",
	 .type = CMD_FLAG_STRING,
	 .target = &F.rate_limit_config,
	 .group = "rate limits (off unless a configuration is given; docs/ratelimit.md)",
	 .metavar = "FILE",
	 .help = "per-identity limits, JSON or YAML; over a limit the answer "
		 "is 429 with Retry-After"},
	STR("rate-limit-redis", &F.rate_limit_redis, "URL",
	    "share the limits between replicas through Redis: "
	    "redis://HOST[:PORT][/DB] or a unix socket path; while it is "
	    "down, each replica limits on its own"),
	{.name = "host",
	 .alias = "http-host",
	 .type = CMD_FLAG_STRING,
	 .target = &F.server.host,
	 .group = "listeners",
	 .metavar = "ADDR",
	 .help = "API listen address (default 0.0.0.0)"},
	{.name = "port",
	 .alias = "http-port",
	 .type = CMD_FLAG_CUSTOM,
	 .target = &F.server.port,
	 .parse = parse_port,
	 .metavar = "PORT",
	 .help = "API port (default 8080; 0 = any free port)"},
	CUSTOM("metrics-port", &F.server.metrics_port, parse_port, "PORT",
	       "Prometheus metrics port (default 2112; 0 = off); HTTPS with "
	       "the API's --tls-cert when given"),
	STR("port-file", &F.server.port_file, "FILE",
	    "write the bound API port here once listening"),
	CUSTOM("threads", &F.server.threads, parse_threads, "N",
	       "worker threads (default: number of CPUs)"),
	STR("trusted-root", &F.trust.trusted_root_path, "FILE",
	    "GET /api/v2/trustedRoot (written by fulcrum trust)"),
	STR("signing-config", &F.trust.signing_config_path, "FILE",
	    "GET /api/v2/signingConfig; both: /api/v2/trustConfig"),
	{.name = "read-header-timeout",
	 .type = CMD_FLAG_CUSTOM,
	 .target = &F.server.http.read_header_ms,
	 .parse = parse_front_ms,
	 .group = "HTTP front (durations in Go syntax: 10s, 1m30s, 500ms)",
	 .metavar = "D",
	 .help = "whole request header, from its first byte (default 10s; not "
		 "reset by each byte)"},
	CUSTOM("idle-connection-timeout", &F.server.http.idle_ms, parse_front_ms, "D",
	       "idle keep-alive connections (default 30s)"),
	CUSTOM("read-timeout", &F.server.http.read_ms, parse_front_ms, "D",
	       "whole request, header and body (default 60s)"),
	CUSTOM("write-timeout", &F.server.http.write_ms, parse_front_ms, "D",
	       "sending an answer once it is ready (default 60s)"),
	CUSTOM("shutdown-timeout", &F.server.http.shutdown_ms, parse_front_ms, "D",
	       "on SIGTERM, how long requests in flight may take to finish; "
	       "then they are answered 503 (default 30s)"),
	CUSTOM("max-connections", &F.server.http.max_connections, parse_front_count, "N",
	       "open connections (default 4096); more are refused"),
	CUSTOM("max-connections-per-ip", &F.server.http.max_per_ip, parse_front_per_ip, "N",
	       "open connections from one client address (default 512; 0 = "
	       "no per-address cap)"),
	CUSTOM("max-requests-in-flight", &F.server.http.max_in_flight, parse_front_count, "N",
	       "requests queued, running or waiting for an answer (default "
	       "2048); more are answered 503 at once"),
	CUSTOM("tls-cert", &F.server.http.tls_cert_path, parse_front_file, "FILE",
	       "serve HTTPS (the API and the metrics port) with this PEM "
	       "certificate chain, the leaf first (default: plain HTTP); "
	       "SIGHUP reloads it and the key: new handshakes get them, open "
	       "connections keep theirs"),
	CUSTOM("tls-key", &F.server.http.tls_key_path, parse_front_file, "FILE",
	       "its PEM private key; the passphrase of an encrypted key "
	       "in " FC_HTTPD_TLS_KEY_PASSWD_ENV),
	CUSTOM("tls-min-version", &F.server.http.tls_min_version, parse_front_tls_min, "V",
	       "oldest TLS version accepted: 1.2 (default) or 1.3; either way "
	       "AEAD ciphers with ECDHE only"),
	{.name = "journal-dir",
	 .type = CMD_FLAG_STRING,
	 .target = &F.journal_dir,
	 .group = "signer process (docs/signer.md)",
	 .metavar = "DIR",
	 .help = "issuance journal (default " JOURNAL_DEFAULT_DIR ")"},
	STR("user", &F.user, "NAME",
	    "run as root: the network process becomes NAME (default " SIGNER_DEFAULT_USER ")"),
	BOOL("no-signer-process", &F.no_signer,
	     "key in the network process, no checks, no journal"),
	{.name = "log_type",
	 .type = CMD_FLAG_CUSTOM,
	 .parse = parse_log_type,
	 .group = "logging",
	 .metavar = "dev|prod",
	 .help = "dev (default): one human line per event; prod: one JSON object per line with "
		 "Fulcio's keys (severity, ts, caller, message), then fields; one audit line per "
		 "certificate in both"},
	{.name = "verbose",
	 .shorthand = 'v',
	 .type = CMD_FLAG_BOOL,
	 .target = &F.verbose,
	 .help = "log debug details"},
	{.name = "help",
	 .shorthand = 'h',
	 .type = CMD_FLAG_BOOL,
	 .target = &F.help,
	 .help = "show this help"},
	{.name = "grpc-host",
	 .type = CMD_FLAG_IGNORED,
	 .note = GRPC_NOTE,
	 .group = "Fulcio's gRPC flags (accepted; one start-up line says gRPC is not served)"},
	IGNORED("grpc-port"),
	IGNORED("grpc-tls-certificate"),
	IGNORED("grpc-tls-key"),
	IGNORED("legacy-unix-domain-socket"),
	{.name = "kms-resource",
	 .type = CMD_FLAG_REFUSED,
	 .note = KMS_NOTE,
	 .group = "Fulcio's KMS, Tink and Google CA flags: refused (fulcrum offers --ca pkcs11ca,\n"
		  "fileca and ephemeralca)"},
	REFUSED("kms-cert-chain-path", KMS_NOTE),
	REFUSED("gcp-kms-retries", KMS_NOTE),
	REFUSED("gcp-kms-timeout", KMS_NOTE),
	REFUSED("tink-kms-resource", TINK_NOTE),
	REFUSED("tink-keyset-path", TINK_NOTE),
	REFUSED("tink-cert-chain-path", TINK_NOTE),
	REFUSED("gcp_private_ca_parent", GOOGLE_NOTE),
};
#undef STR
#undef CUSTOM
#undef LIST
#undef BOOL
#undef IGNORED
#undef REFUSED
#define N_SERVE_FLAGS (sizeof(serve_table) / sizeof(serve_table[0]))

static struct cmd_flags_spec serve_spec = {
	.command = "serve",
	.env_prefix = "FULCIO_SERVE_",
	.file_flag = "config",
	.bool_value_arg = true, /* --fileca-watch false, as fulcrum always read it */
};

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum serve --ca ephemeralca|fileca|pkcs11ca [flags]\n\n"
		"Serves Fulcio's HTTP API (v2 and v1) for signing clients. The flags are read as\n"
		"`fulcio serve` reads them: Fulcio's names, types and defaults; names are never\n"
		"abbreviated. A flag not on the command line may come from the environment,\n"
		"FULCIO_SERVE_ + its name in upper case with the dashes kept (FULCIO_SERVE_CA,\n"
		"FULCIO_SERVE_CT-LOG-URL; an empty value is not read), else from the --config\n"
		"file.\n\n");
	cmd_flags_usage(f, serve_table, N_SERVE_FLAGS);
	fprintf(f,
		"\nSIGHUP reloads the identity configuration (--config-path), the CA (fileca: key\n"
		"and chain; pkcs11ca: the chain and its key), the CT logs (--ct-log-config, or\n"
		"the key files), the trust files and the TLS certificate and key; requests in\n"
		"flight finish with what they started with, and a file that does not load is\n"
		"logged and the one in use kept (docs/operations.md, \"Rotating keys\");\n"
		"SIGTERM or SIGINT stops after finishing the requests in flight.\n");
}

/* --- after the flags are read ------------------------------------------------------ */

/* The CT logs as the flags gave them: --ct-log-url "" turns CT off and
 * forgets the URLs before it; at most CT_MAX_LOGS of each list. False
 * (said on stderr) otherwise. */
static bool ct_settle(struct serve_ct_flags *f)
{
	const struct cmd_list *lists[] = {&f->url, &f->key, &f->origin, &f->op};
	size_t last = f->url.n;

	for (size_t i = 0; i < f->url.n; i++)
		if (f->url.items[i][0] == '\0')
			last = i;
	if (last < f->url.n) {
		memmove(f->url.items, f->url.items + last + 1,
			(f->url.n - last - 1) * sizeof(f->url.items[0]));
		f->url.n -= last + 1;
		f->off = f->url.n == 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (lists[i]->n > CT_MAX_LOGS) {
			fprintf(stderr, "fulcrum serve: at most %d CT logs\n", CT_MAX_LOGS);
			return false;
		}
	}
	f->has_stagger = cmd_flag_given(serve_table, N_SERVE_FLAGS, "ct-log-stagger");
	return true;
}

/* The CT flags together: each log has its key (and, when given at all,
 * its origin and operator), and a configuration file is not mixed with
 * logs named by flags. False (said on stderr) otherwise. */
static bool ct_flags_check(const struct serve_ct_flags *f)
{
	const char *url = f->url.n ? f->url.items[0] : FULCIO_DEFAULT_CT_URL;
	size_t n_url = f->url.n, n_key = f->key.n, n_origin = f->origin.n, n_op = f->op.n;

	if (f->config != NULL) {
		if (n_url + n_key + n_origin + n_op == 0)
			return true;
		fprintf(stderr,
			"fulcrum serve: --ct-log-config names the logs: it cannot be combined "
			"with --ct-log-url, --ct-log-public-key-path, --ct-log-origin or "
			"--ct-log-operator\n");
		return false;
	}
	if (f->off)
		return true; /* CT off, explicitly */
	if (n_url <= 1 && n_key == 0) {
		fprintf(stderr,
			"fulcrum serve: --ct-log-url %s needs --ct-log-public-key-path (the "
			"log's PEM public key, to verify every SCT before issuing); to issue "
			"without CT, say so with --ct-log-url=\"\"\n",
			url);
		return false;
	}
	if (n_key != (n_url ? n_url : 1) || (n_origin && n_origin != n_key) ||
	    (n_op && n_op != n_key)) {
		fprintf(stderr,
			"fulcrum serve: give --ct-log-public-key-path once per --ct-log-url, "
			"and --ct-log-origin and --ct-log-operator not at all or once per "
			"--ct-log-url, in the same order (%zu URLs, %zu keys, %zu origins, "
			"%zu operators)\n",
			n_url, n_key, n_origin, n_op);
		return false;
	}
	return true;
}

/* What the flags' values become beyond their targets, and the flags that
 * go together: -1 to go on, else the exit status. */
static int serve_check(struct serve_flags *f)
{
	if (f->verbose)
		fc_log_set_level(LOG_DEBUG);
	f->server.validity_s = (int)(f->lifetime_ms / 1000);
	f->oidc.leeway_s = (int)f->leeway_s;
	if (f->hsm_chain != NULL && f->aws_hsm_root != NULL &&
	    strcmp(f->hsm_chain, f->aws_hsm_root) != 0) {
		fprintf(stderr,
			"fulcrum serve: --hsm-chain and --aws-hsm-root-ca-path name the same "
			"file: give one of them\n");
		return CMD_EXIT_USAGE;
	}
	f->pkcs11.chain_path = f->hsm_chain != NULL ? f->hsm_chain : f->aws_hsm_root;
	if (f->ca == NULL) {
		fprintf(stderr,
			"fulcrum serve: --ca is required: ephemeralca, fileca or pkcs11ca\n");
		return CMD_EXIT_USAGE;
	}
	if (strcmp(f->ca, "fileca") == 0 && (f->fileca_cert == NULL || f->fileca_key == NULL)) {
		fprintf(stderr, "fulcrum serve: fileca needs --fileca-cert and --fileca-key\n");
		return CMD_EXIT_USAGE;
	}
	if (!ct_settle(&f->ct) || !ct_flags_check(&f->ct))
		return CMD_EXIT_USAGE;
	return -1;
}

/*
 * Read the flags into F (the command line, FULCIO_SERVE_* variables, the
 * --config file). The passphrase is copied once, wiped where it lay, and
 * handed to the supervisor, or to serve_ca.c with --no-signer-process,
 * which wipe the copy (cmd_ca_open). -1 to go on, else the exit status.
 */
static int serve_parse(int argc, char **argv)
{
	int first = argc, rc;

	rc = cmd_flags_parse(&serve_spec, serve_table, N_SERVE_FLAGS, argc, argv, &first);
	if (F.help) {
		/* The help is longer than a pipe's buffer: a reader that stops
		 * early (grep -q) must not turn it into a SIGPIPE death. */
		signal(SIGPIPE, SIG_IGN);
		serve_usage(stdout);
		return CMD_EXIT_OK;
	}
	if (rc >= 0)
		return rc;
	if (first < argc) {
		fprintf(stderr,
			"fulcrum serve: unexpected argument \"%s\" (fulcrum serve takes "
			"flags only)\n",
			argv[first]);
		return CMD_EXIT_USAGE;
	}
	return serve_check(&F);
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
	struct ct_client_options co = {.logs = logs, .stagger_ms = CT_DEFAULT_STAGGER_MS}, *o = &co;
	struct ct_config *cfg = NULL;
	enum fc_status st;

	*out = NULL;
	if (f->config == NULL && f->off) {
		fc_log(LOG_WARNING,
		       "serve: no CT log: certificates are issued without SCTs and are "
		       "not publicly auditable (--ct-log-url=\"\")");
		return FC_OK;
	}
	if (f->config != NULL) {
		if ((st = ct_config_load(f->config, &cfg, err)) != FC_OK)
			return st;
		o = ct_config_options(cfg);
	}
	/* without --ct-log-url, Fulcio's default log */
	for (size_t i = 0; f->config == NULL && i < f->key.n; i++) {
		logs[i] = (struct ct_log_options){.public_key_path = f->key.items[i]};
		logs[i].url = f->url.n ? f->url.items[i] : FULCIO_DEFAULT_CT_URL;
		logs[i].origin = f->origin.n ? f->origin.items[i] : NULL;
		logs[i].operator_name = f->op.n ? f->op.items[i] : NULL;
		co.n_logs = i + 1;
	}
	o->tls_ca_cert = f->tls_ca ? f->tls_ca : o->tls_ca_cert;
	o->timeout_ms = f->timeout_ms ? (unsigned)f->timeout_ms : o->timeout_ms;
	o->min_scts = f->min_scts ? (unsigned)f->min_scts : o->min_scts;
	o->min_operators = f->min_ops ? (unsigned)f->min_ops : o->min_operators;
	o->stagger_ms = f->has_stagger ? (unsigned)f->stagger_ms : o->stagger_ms;
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
		return f->rate_limit_redis == NULL
			       ? FC_OK
			       : fc_err_set(err, FC_ECONFIG,
					    "--rate-limit-redis needs --rate-limit-config");
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
		fc_log(LOG_ERR,
		       "serve: reload of the identity configuration refused, keeping the one "
		       "in use: %s",
		       err.msg);
		ca_server_identity_reload_failed(server);
		cfg_identity_free(cfg);
		return;
	}
	fc_log(LOG_NOTICE,
	       "serve: reloaded the identity configuration from %s: %zu issuers, %zu "
	       "meta-issuers",
	       path, cfg->n_issuers, cfg->n_meta);
	ca_server_replace_identity(server, cfg, verifier);
}

/* Serve until SIGTERM or SIGINT; SIGHUP reloads the TLS certificate, the
 * identity configuration, the trust files, the CA and the CT logs
 * (cmd_ca_tick, serve_ca.c: a change of the fileca files too, with
 * --fileca-watch: seen by the supervisor, or there with
 * --no-signer-process). */
static void serve_wait(struct serve_flags *f, const sigset_t *sigs, struct cmd_ca *ca,
		       struct ca_server *server)
{
	for (;;) {
		struct timespec poll = {.tv_sec = 2};
		int sig = sigtimedwait(sigs, NULL, &poll);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP) {
			fc_httpd_tls_reload(f->server.http.tls);
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
	o->passwd = f->fileca_key_passwd;
	o->fileca_watch = f->fileca_watch;
	o->pkcs11 = f->pkcs11;
	o->validity_s = f->server.validity_s;
	o->ct = f->ct.config != NULL || !f->ct.off; /* precertificates to sign */
	o->journal_dir = f->journal_dir ? f->journal_dir : JOURNAL_DEFAULT_DIR;
	o->no_signer = f->no_signer;
}

/* Before the fork: who the network process becomes. */
static enum fc_status signer_prepare_flags(struct serve_flags *f, struct fc_err *err)
{
	if (f->no_signer) {
		fc_log(LOG_WARNING,
		       "serve: --no-signer-process: the CA key is in the network "
		       "process, nothing checks what it signs and nothing is journaled");
		return FC_OK;
	}
	if (geteuid() != 0) {
		f->user_ignored = f->user != NULL; /* said once, in the image that serves */
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

/* Signals are taken by sigwait (serve_wait); block them before any thread
 * starts so that every thread inherits the mask (the supervisor, forked
 * later, ignores them; exec keeps the mask for the image started again). */
static void block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
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

	/* Before the signer link's threads start (cmd_ca_open): a signal they
	 * did not block would take its default action (SIGHUP: the end). */
	block_signals(&sigs);
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
	cmd_flags_log_notes(&serve_spec); /* here: once, in the image that serves */
	if (f->user_ignored)
		fc_log(LOG_WARNING, "serve: --user %s: not running as root, nothing to drop",
		       f->user);
	/* The listeners' key stays in this process (docs/http.md, "TLS"). */
	if (fc_httpd_tls_load(&f->server.http, &err) != FC_OK) {
		start_failed("TLS", err.msg);
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
	fc_httpd_tls_check_access(f->server.http.tls);
	serve_wait(f, &sigs, ca, server);
	rc = CMD_EXIT_OK;
out:
	if (ca != NULL)
		cmd_ca_set_server(ca, NULL);
	ca_server_stop(server); /* answers every request, CT submissions included */
	fc_httpd_tls_free(f->server.http.tls);
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
	int rc;

	/* The help takes more than one write: a reader that stops early
	 * (grep -q) must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	F.fileca_watch = true;
	ca_server_options_default(&F.server);
	oidc_options_default(&F.oidc);
	F.lifetime_ms = (unsigned long)CA_DEFAULT_VALIDITY_S * 1000;
	F.leeway_s = (unsigned long)F.oidc.leeway_s;
	if ((rc = serve_parse(argc, argv)) < 0)
		rc = serve_run(&F);
	else if (rc != CMD_EXIT_OK)
		cmd_flags_log_notes(&serve_spec); /* what was ignored may explain the error */
	cmd_trust_files_clear(&F.trust);
	fc_free_secret(F.fileca_key_passwd);
	F.fileca_key_passwd = NULL;
	cmd_flags_release(&serve_spec);
	return rc;
}
