/*
 * fulcrum token: check an identity token exactly as the CA would, and say
 * which issuer, principal and certificate identity it yields, or precisely
 * why it is refused. Fulcio has no such tool; operators use it to debug an
 * issuer's configuration.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "common.h"
#include "config.h"
#include "oidc.h"

static void token_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum token [options] [TOKEN | -]\n\n"
		"Verifies an OIDC identity token against the identity configuration, fetching\n"
		"the issuer's discovery document and JWKS as the CA does. TOKEN is read from\n"
		"standard input when it is '-' or absent.\n\n"
		"On success prints one JSON object (issuer, type, subject, san_type, san,\n"
		"pop_subject, extensions, expires_at, token_id) and exits 0. A refused token\n"
		"exits 1 with the reason on standard error; usage or configuration errors\n"
		"exit 2.\n\n"
		"options:\n"
		"  --config-path FILE   Fulcio identity configuration, JSON or YAML\n"
		"                       (default %s; if that is absent,\n"
		"                       Fulcio's built-in default issuers)\n"
		"  --leeway SECONDS     clock skew allowed on exp, nbf and iat (default 60)\n"
		"  --http-timeout MS    timeout for discovery and JWKS fetches (default 10000)\n"
		"  -v, --verbose        log debug details to standard error\n"
		"  -h, --help           show this help\n",
		CFG_DEFAULT_PATH);
}

/* Read the token from stdin: at most one byte over the cap, so that an
 * oversized token is refused by the verifier with its own message. */
static char *read_token_stdin(size_t *len)
{
	struct fc_buf b;
	char chunk[4096];
	size_t n;

	fc_buf_init(&b, OIDC_MAX_TOKEN_LEN + 4096);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (!fc_buf_append(&b, chunk, n))
			break;
	}
	fc_memzero(chunk, sizeof(chunk));
	return fc_buf_steal(&b, len);
}

static const char *san_type_name(enum oidc_san_type t)
{
	switch (t) {
	case OIDC_SAN_EMAIL: return "email";
	case OIDC_SAN_URI: return "uri";
	case OIDC_SAN_USERNAME: return "othername";
	}
	return "unknown";
}

static json_t *identity_json(const struct oidc_identity *id)
{
	json_t *ext = json_object();
	json_t *enc = json_object();

	for (size_t i = 0; i < id->n_extensions; i++) {
		const struct oidc_extension *e = &id->extensions[i];
		json_object_set_new(ext, e->oid, json_string(e->value));
		json_object_set_new(
			enc, e->oid,
			json_string(e->encoding == OIDC_EXT_RAW ? "raw" : "utf8string"));
	}
	return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:o, s:o, s:I, s:s}", "issuer",
			 id->issuer, "type", id->issuer_type, "subject", id->subject, "san_type",
			 san_type_name(id->san_type), "san", id->san, "pop_subject",
			 id->pop_subject, "extensions", ext, "extension_encodings", enc,
			 "expires_at", (json_int_t)id->expires_at, "token_id", id->token_id);
}

static bool parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* Read the flags into *config_path and *opts; -1 to go on, else the exit
 * status. */
static int token_parse(int argc, char **argv, const char **config_path, struct oidc_options *opts)
{
	static const struct option longopts[] = {
		{"config-path", required_argument, NULL, 'c'},
		{"leeway", required_argument, NULL, 'l'},
		{"http-timeout", required_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': *config_path = optarg; break;
		case 'l':
			if (!parse_int(optarg, 0, 3600, &opts->leeway_s)) {
				fprintf(stderr, "fulcrum token: --leeway wants 0..3600 seconds\n");
				return CMD_EXIT_USAGE;
			}
			break;
		case 't':
			if (!parse_int(optarg, 100, 600000, &opts->http_timeout_ms)) {
				fprintf(stderr,
					"fulcrum token: --http-timeout wants 100..600000 ms\n");
				return CMD_EXIT_USAGE;
			}
			break;
		case 'v': fc_log_set_level(LOG_DEBUG); break;
		case 'h': token_usage(stdout); return CMD_EXIT_OK;
		default: token_usage(stderr); return CMD_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "fulcrum token: expected at most one TOKEN argument\n");
		return CMD_EXIT_USAGE;
	}
	return -1;
}

/* The token: the argument, or standard input for "-" or none; without the
 * line ending `echo` or a file adds. NULL when there is none (caller wipes
 * and frees). */
static char *token_read(const char *arg, size_t *len)
{
	char *token;

	if (arg != NULL && strcmp(arg, "-") != 0) {
		token = fc_xstrdup(arg);
		*len = strlen(token);
	} else {
		token = read_token_stdin(len);
	}
	while (*len > 0 &&
	       (token[*len - 1] == '\n' || token[*len - 1] == '\r' || token[*len - 1] == ' '))
		token[--*len] = '\0';
	if (*len == 0) {
		free(token);
		return NULL;
	}
	return token;
}

/* Verify token against cfg and print the identity; the exit status. */
static int token_verify_print(const struct cfg_identity *cfg, const struct oidc_options *opts,
			      const char *token, size_t token_len)
{
	struct oidc_verifier *verifier = NULL;
	struct oidc_identity *id = NULL;
	struct fc_err err = {0};
	json_t *out_json = NULL;
	enum fc_status st;
	int rc = CMD_EXIT_REFUSED;

	if ((st = oidc_verifier_new(cfg, opts, &verifier)) != FC_OK) {
		fprintf(stderr, "fulcrum token: %s\n", fc_strerror(st));
		return CMD_EXIT_USAGE;
	}
	st = oidc_verify(verifier, token, token_len, &id, &err);
	if (st != FC_OK) {
		fprintf(stderr, "fulcrum token: refused: %s\n",
			err.msg[0] ? err.msg : fc_strerror(st));
		goto out;
	}
	out_json = identity_json(id);
	if (out_json == NULL ||
	    json_dumpf(out_json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		fprintf(stderr, "fulcrum token: cannot write the result\n");
		goto out;
	}
	fputc('\n', stdout);
	rc = CMD_EXIT_OK;
out:
	json_decref(out_json);
	oidc_identity_free(id);
	oidc_verifier_free(verifier);
	return rc;
}

/*
 * fulcrum token (see token_usage): CMD_EXIT_OK with the identity printed,
 * CMD_EXIT_REFUSED with the reason, CMD_EXIT_USAGE for bad flags or
 * configuration.
 */
int cmd_token_main(int argc, char **argv)
{
	const char *config_path = NULL;
	struct cfg_identity *cfg = NULL;
	struct oidc_options opts;
	struct fc_err err = {0};
	char *token = NULL;
	size_t token_len = 0;
	enum fc_status st;
	int rc;

	oidc_options_default(&opts);
	if ((rc = token_parse(argc, argv, &config_path, &opts)) >= 0)
		return rc;
	rc = CMD_EXIT_USAGE;
	/* An explicit path must exist; without one, Fulcio's default path is
	 * tried and, if absent, Fulcio's built-in configuration is used. */
	st = cfg_identity_load_file(config_path ? config_path : CFG_DEFAULT_PATH, &cfg, &err);
	if (st == FC_ENOTFOUND && config_path == NULL) {
		fprintf(stderr, "fulcrum token: %s not found, using the built-in default issuers\n",
			CFG_DEFAULT_PATH);
		fc_err_clear(&err);
		st = cfg_identity_default(&cfg);
	}
	if (st != FC_OK) {
		fprintf(stderr, "fulcrum token: configuration: %s\n",
			err.msg[0] ? err.msg : fc_strerror(st));
		goto out;
	}
	if ((token = token_read(optind < argc ? argv[optind] : NULL, &token_len)) == NULL) {
		fprintf(stderr, "fulcrum token: no token given\n");
		goto out;
	}
	rc = token_verify_print(cfg, &opts, token, token_len);
out:
	cfg_identity_free(cfg);
	if (token) {
		fc_memzero(token, token_len);
		free(token);
	}
	return rc;
}
