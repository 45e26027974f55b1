/*
 * fulcrum trust: write the Sigstore trust files of a private deployment
 * (trusted_root.json, signing_config.json, trust_config.json) from files or
 * from the running services; and the loading of those files by fulcrum
 * serve, which hands them to clients.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ca.h"
#include "cmd.h"
#include "common.h"
#include "trust.h"

#define TRUST_MAX_SPECS (4 * TRUST_MAX_ENTRIES)
#define TRUST_DEFAULT_TIMEOUT_MS 10000

/* One --ca/--ct-log/--tsa/--rekor/--oidc value, split into its fields. */
struct trust_spec {
	enum trust_kind kind;
	struct trust_entry e;
	const char *chain_path; /* certificate-chain= */
	const char *key_path;	/* public-key= */
	const char *origin;	/* origin= (Rekor v2) */
	const char *checkpoint; /* checkpoint= (Rekor v2): a file or a URL */
	char *buf;		/* the value, split in place (owned) */
};

struct trust_flags {
	struct trust_spec specs[TRUST_MAX_SPECS];
	size_t n;
	const char *out_dir;
	const char *trusted_root;
	const char *signing_config;
	const char *trust_config;
	const char *selector[TRUST_KINDS]; /* TLOG and TSA */
	unsigned timeout_ms;
};

static const char *const kind_flag[TRUST_KINDS] = {"--ca", "--ct-log", "--tsa", "--rekor",
						   "--oidc"};

static void trust_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum trust [entries] --out-dir DIR\n"
		"       fulcrum trust [entries] [--trusted-root FILE] [--signing-config FILE]\n"
		"                     [--trust-config FILE]\n\n"
		"Writes the Sigstore trust files of a private deployment, as cosign v3\n"
		"(--trusted-root, --signing-config), sigstore-python (--trust-config) and\n"
		"sigstore-js read them: trusted_root.json (TrustedRoot, media type\n"
		"application/vnd.dev.sigstore.trustedroot+json;version=0.1), signing_config.json\n"
		"(SigningConfig v0.2) and trust_config.json (ClientTrustConfig v0.1: the two in\n"
		"one). fulcrum serve --trusted-root/--signing-config hands them to clients.\n\n"
		"Entries: each flag may be repeated, one entry per flag (an old and a new CA\n"
		"chain, two CT log keys...), each valid within its own window. The value is a\n"
		"comma-separated list of key=value fields (cosign trusted-root create's names):\n"
		"  --ca FIELDS        a certificate authority (fulcrum serve). Fields: url=URL "
		"(its\n"
		"                     base URL: caUrls, and the trusted root's uri),\n"
		"                     certificate-chain=FILE (PEM, issuing CA first, root last;\n"
		"                     without it, every chain of GET URL/api/v2/trustBundle),\n"
		"                     api-version=N (default 1, Fulcio's v2 API)\n"
		"                     (alias: --fulcio)\n"
		"  --ct-log FIELDS    a CT log (fulcrum ctlog, TesseraCT): url=URL, "
		"public-key=FILE\n"
		"                     (PEM, required; logId = SHA-256 of it) (alias: --ctfe)\n"
		"  --tsa FIELDS       an RFC 3161 timestamp authority (fulcrum tsa, sigstore's\n"
		"                     timestamp-server): url=URL (the time-stamp URL; a URL "
		"without\n"
		"                     a path gets /api/v1/timestamp), certificate-chain=FILE "
		"(PEM:\n"
		"                     the time-stamping certificate first, root last; without it,\n"
		"                     GET URL/certchain)\n"
		"  --rekor FIELDS     a Rekor log: url=URL, api-version=1|2 (required: 1 for "
		"Rekor,\n"
		"                     2 for Rekor v2 / rekor-tiles), public-key=FILE (PEM; for\n"
		"                     api-version=1 it defaults to GET URL/api/v1/log/publicKey).\n"
		"                     Rekor v2: the checkpoint origin is the URL's host (run\n"
		"                     rekor-tiles with --hostname HOST); origin=NAME only checks "
		"it.\n"
		"                     The log's checkpoint is checked against the key and origin:\n"
		"                     checkpoint=FILE|URL (rekor-tiles POSIX: STORAGE/checkpoint, "
		"or\n"
		"                     its read URL), default GET URL/api/v2/checkpoint if it "
		"answers\n"
		"  --oidc FIELDS      an OpenID provider for interactive sign-in: url=URL\n"
		"  Fields of every entry:\n"
		"    start-time=TIME  validFor start, RFC 3339 (default: the latest NotBefore of\n"
		"                     the chain; now for a key or a URL: when a log's entry is\n"
		"                     written again, give its original start)\n"
		"    end-time=TIME    validFor end: the old entry of a rotation, kept beside the\n"
		"                     new one, or a retired entry (default: none)\n"
		"    operator=NAME    operator of the service (default: the URL's host)\n"
		"    sign=false       keep the entry out of signing_config.json (verification "
		"only)\n"
		"Signing config:\n"
		"  --rekor-selector S     ANY (default), ALL or EXACT:N: how many Rekor logs a\n"
		"                         client writes to\n"
		"  --tsa-selector S       the same for TSAs\n"
		"Output (at least one):\n"
		"  --out-dir DIR          DIR/trusted_root.json, DIR/signing_config.json and\n"
		"                         DIR/trust_config.json (DIR is created)\n"
		"  --trusted-root FILE    the trusted root alone (\"-\": standard output)\n"
		"  --signing-config FILE  the signing config alone (needs a --ca url=)\n"
		"  --trust-config FILE    the client trust config alone\n"
		"Other:\n"
		"  --fetch-timeout DURATION  each GET from a service (default 10s; e.g. 500ms, "
		"30s)\n"
		"  -v, --verbose             log more\n"
		"  -h, --help                show this help\n\n"
		"Exit status: 0 written; 1 a service could not be read or the material was\n"
		"refused (the reason on standard error); 2 bad flags.\n");
}

/* "true"/"false" for sign=. */
static bool parse_bool_field(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* One key=value field of a spec; false with the reason printed. */
static bool spec_field(struct trust_spec *s, const char *key, const char *val)
{
	const char *flag = kind_flag[s->kind];
	unsigned long v;
	bool sign;

	if (strcmp(key, "url") == 0)
		s->e.url = val;
	else if (strcmp(key, "operator") == 0)
		s->e.operator= val;
	else if (strcmp(key, "start-time") == 0 || strcmp(key, "end-time") == 0) {
		int64_t *t = key[0] == 's' ? &s->e.start : &s->e.end;
		if (!trust_parse_time(val, t)) {
			fprintf(stderr,
				"fulcrum trust: %s %s=%s: not an RFC 3339 time "
				"(2026-01-02T03:04:05Z)\n",
				flag, key, val);
			return false;
		}
	} else if (strcmp(key, "sign") == 0) {
		if (!parse_bool_field(val, &sign)) {
			fprintf(stderr, "fulcrum trust: %s sign=%s: true or false\n", flag, val);
			return false;
		}
		s->e.no_sign = !sign;
	} else if (strcmp(key, "api-version") == 0 && s->kind != TRUST_CTLOG) {
		if (!cmd_parse_uint(val, 9, &v) || v == 0) {
			fprintf(stderr,
				"fulcrum trust: %s api-version=%s: a major version (1, 2)\n", flag,
				val);
			return false;
		}
		s->e.api_version = (unsigned)v;
	} else if (strcmp(key, "certificate-chain") == 0 &&
		   (s->kind == TRUST_CA || s->kind == TRUST_TSA))
		s->chain_path = val;
	else if (strcmp(key, "public-key") == 0 &&
		 (s->kind == TRUST_CTLOG || s->kind == TRUST_TLOG))
		s->key_path = val;
	else if (strcmp(key, "origin") == 0 && s->kind == TRUST_TLOG)
		s->origin = val;
	else if (strcmp(key, "checkpoint") == 0 && s->kind == TRUST_TLOG)
		s->checkpoint = val;
	else {
		fprintf(stderr,
			"fulcrum trust: %s: unknown field \"%s\" (see fulcrum trust --help)\n",
			flag, key);
		return false;
	}
	return true;
}

/* Parse "k=v,k=v" into a new spec of kind. */
static bool spec_parse(struct trust_flags *f, enum trust_kind kind, const char *value)
{
	struct trust_spec *s;
	char *save = NULL, *tok;

	if (f->n == TRUST_MAX_SPECS) {
		fprintf(stderr, "fulcrum trust: more than %d entries\n", TRUST_MAX_SPECS);
		return false;
	}
	s = &f->specs[f->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->e.start = s->e.end = TRUST_TIME_UNSET;
	s->buf = fc_xstrdup(value);
	for (tok = strtok_r(s->buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL || eq == tok) {
			fprintf(stderr, "fulcrum trust: %s: \"%s\" is not key=value\n",
				kind_flag[kind], tok);
			return false;
		}
		*eq = '\0';
		if (!spec_field(s, tok, eq + 1))
			return false;
	}
	return true;
}

static void trust_flags_free(struct trust_flags *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->specs[i].buf);
}

/* Check what the flags ask for as a whole. -1 to go on, else the status. */
static int trust_check_flags(struct trust_flags *f)
{
	enum trust_selector sel;
	unsigned count;

	if (f->out_dir == NULL && f->trusted_root == NULL && f->signing_config == NULL &&
	    f->trust_config == NULL) {
		fprintf(stderr, "fulcrum trust: say where to write: --out-dir DIR, or "
				"--trusted-root/--signing-config/--trust-config FILE\n");
		return CMD_EXIT_USAGE;
	}
	if (f->n == 0) {
		fprintf(stderr, "fulcrum trust: no entry: give at least --ca (see --help)\n");
		return CMD_EXIT_USAGE;
	}
	for (int k = TRUST_TSA; k <= TRUST_TLOG; k++) {
		if (f->selector[k] != NULL && !trust_parse_selector(f->selector[k], &sel, &count)) {
			fprintf(stderr, "fulcrum trust: --%s-selector %s: ANY, ALL or EXACT:N\n",
				k == TRUST_TSA ? "tsa" : "rekor", f->selector[k]);
			return CMD_EXIT_USAGE;
		}
	}
	return -1;
}

/* Read the flags into *f. -1 to go on, else the exit status. */
static int trust_parse(int argc, char **argv, struct trust_flags *f)
{
	enum {
		OPT_CA = 256,
		OPT_CTLOG,
		OPT_TSA,
		OPT_REKOR,
		OPT_OIDC,
		OPT_OUT_DIR,
		OPT_TR,
		OPT_SC,
		OPT_TC,
		OPT_REKOR_SEL,
		OPT_TSA_SEL,
		OPT_TIMEOUT,
	};
	static const struct option longopts[] = {
		{"ca", required_argument, NULL, OPT_CA},
		{"fulcio", required_argument, NULL, OPT_CA},
		{"ct-log", required_argument, NULL, OPT_CTLOG},
		{"ctfe", required_argument, NULL, OPT_CTLOG},
		{"tsa", required_argument, NULL, OPT_TSA},
		{"rekor", required_argument, NULL, OPT_REKOR},
		{"oidc", required_argument, NULL, OPT_OIDC},
		{"out-dir", required_argument, NULL, OPT_OUT_DIR},
		{"trusted-root", required_argument, NULL, OPT_TR},
		{"signing-config", required_argument, NULL, OPT_SC},
		{"trust-config", required_argument, NULL, OPT_TC},
		{"rekor-selector", required_argument, NULL, OPT_REKOR_SEL},
		{"tsa-selector", required_argument, NULL, OPT_TSA_SEL},
		{"fetch-timeout", required_argument, NULL, OPT_TIMEOUT},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, idx = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_CA:
		case OPT_CTLOG:
		case OPT_TSA:
		case OPT_REKOR:
		case OPT_OIDC:
			if (!spec_parse(f, (enum trust_kind)(c - OPT_CA), optarg))
				return CMD_EXIT_USAGE;
			break;
		case OPT_OUT_DIR: f->out_dir = optarg; break;
		case OPT_TR: f->trusted_root = optarg; break;
		case OPT_SC: f->signing_config = optarg; break;
		case OPT_TC: f->trust_config = optarg; break;
		case OPT_REKOR_SEL: f->selector[TRUST_TLOG] = optarg; break;
		case OPT_TSA_SEL: f->selector[TRUST_TSA] = optarg; break;
		case OPT_TIMEOUT: {
			double ms;
			if (!fc_parse_duration(optarg, 1000, &ms) || ms < 1 || ms > 600000) {
				fprintf(stderr,
					"fulcrum trust: bad value \"%s\" for --fetch-timeout\n",
					optarg);
				return CMD_EXIT_USAGE;
			}
			f->timeout_ms = (unsigned)ms;
			break;
		}
		case 'v': fc_log_set_level(LOG_DEBUG); break;
		case 'h':
			signal(SIGPIPE, SIG_IGN); /* a reader may stop early (grep -q) */
			trust_usage(stdout);
			return CMD_EXIT_OK;
		default: trust_usage(stderr); return CMD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fulcrum trust: unexpected argument \"%s\"\n", argv[optind]);
		return CMD_EXIT_USAGE;
	}
	return trust_check_flags(f);
}

/* --- gathering the material ------------------------------------------------------ */

/* A PEM file named by a field. */
static enum fc_status read_pem(const char *path, char **out, size_t *len, struct fc_err *err)
{
	return fc_read_file(path, TRUST_MAX_PEM_BYTES, out, len, err);
}

/* --ca: a chain file, or every chain the CA serves. */
static enum fc_status add_ca(const struct trust_flags *f, struct trust_builder *b,
			     const struct trust_spec *s, struct fc_err *err)
{
	char **chains = NULL, *pem = NULL, name[TRUST_MAX_URL + 64];
	size_t n = 0, len = 0;
	enum fc_status st;

	if (s->chain_path != NULL) {
		if ((st = read_pem(s->chain_path, &pem, &len, err)) == FC_OK)
			st = trust_add_ca(b, &s->e, pem, len, s->chain_path, err);
		free(pem);
		return st;
	}
	if (s->e.url == NULL)
		return fc_err_set(err, FC_ECONFIG, "--ca needs certificate-chain=FILE or url=URL");
	if ((st = trust_fetch_ca_chains(s->e.url, f->timeout_ms, &chains, &n, err)) != FC_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s/api/v2/trustBundle chain %zu", s->e.url, i + 1);
		if (st == FC_OK)
			st = trust_add_ca(b, &s->e, chains[i], strlen(chains[i]), name, err);
		free(chains[i]);
	}
	free(chains);
	if (st == FC_OK)
		fc_log(LOG_INFO, "trust: --ca %s: %zu chain%s from its trust bundle", s->e.url, n,
		       n == 1 ? "" : "s");
	return st;
}

/* --tsa: a chain file, or the TSA's certchain. */
static enum fc_status add_tsa(const struct trust_flags *f, struct trust_builder *b,
			      const struct trust_spec *s, struct fc_err *err)
{
	char *pem = NULL, *url = NULL, *src = NULL;
	size_t len = 0;
	enum fc_status st;

	if (s->e.url != NULL) {
		url = trust_tsa_url(s->e.url);
		if (strcmp(url, s->e.url) != 0)
			fc_log(LOG_NOTICE, "trust: --tsa %s has no path: the TSA URL is %s",
			       s->e.url, url);
	}
	if (s->chain_path != NULL) {
		st = read_pem(s->chain_path, &pem, &len, err);
		src = fc_xstrdup(s->chain_path);
	} else if (url != NULL) {
		src = fc_xasprintf("%s/certchain", url);
		st = trust_fetch(src, TRUST_MAX_PEM_BYTES, f->timeout_ms, &pem, &len, err);
	} else {
		st = fc_err_set(err, FC_ECONFIG, "--tsa needs certificate-chain=FILE or url=URL");
	}
	if (st == FC_OK)
		st = trust_add_tsa(b, &s->e, pem, len, src, err);
	free(src);
	free(pem);
	free(url);
	return st;
}

/* The Rekor v2 checkpoint to check: checkpoint= (a file, or a URL), else
 * GET URL/api/v2/checkpoint. NULL (and a warning) when there is none. */
static char *rekor_checkpoint(const struct trust_flags *f, const struct trust_spec *s,
			      const char *base, size_t *len)
{
	const char *src = s->checkpoint;
	char *url = NULL, *note = NULL;
	struct fc_err ferr = {0};
	enum fc_status st;

	if (src != NULL && strncmp(src, "http://", 7) != 0 && strncmp(src, "https://", 8) != 0)
		st = fc_read_file(src, 64 * 1024, &note, len, &ferr);
	else {
		url = src ? fc_xstrdup(src) : fc_xasprintf("%s/api/v2/checkpoint", base);
		st = trust_fetch(url, 64 * 1024, f->timeout_ms, &note, len, &ferr);
	}
	if (st != FC_OK)
		fc_log(src ? LOG_ERR : LOG_WARNING,
		       "trust: --rekor %s: key and origin not checked against the log's checkpoint "
		       "(give checkpoint=FILE|URL: rekor-tiles POSIX keeps it in "
		       "STORAGE/checkpoint): %s",
		       base, ferr.msg);
	free(url);
	return st == FC_OK ? note : NULL;
}

/* Rekor v2: the origin= field (if any) and the log's checkpoint must
 * agree with what the clients will derive from the URL and key. */
static enum fc_status check_rekor_v2(const struct trust_flags *f, const struct trust_spec *s,
				     const char *key, size_t key_len, struct fc_err *err)
{
	char *host = trust_url_host(s->e.url), *base = NULL, *note = NULL;
	size_t len = 0;
	enum fc_status st = FC_OK;

	if (s->origin != NULL && (host == NULL || strcmp(s->origin, host) != 0))
		st = fc_err_set(err, FC_ECONFIG,
				"--rekor origin=%s: clients take a Rekor v2 "
				"log's origin from the host of its url (%s)",
				s->origin, host ? host : s->e.url);
	free(host);
	if (st != FC_OK || trust_url_normalise(s->e.url, "--rekor url", &base, err) != FC_OK)
		return FC_ECONFIG;
	note = rekor_checkpoint(f, s, base, &len);
	if (note == NULL && s->checkpoint != NULL)
		st = fc_err_set(err, FC_ECONFIG, "--rekor %s: cannot read checkpoint=%s", base,
				s->checkpoint);
	else if (note != NULL &&
		 (st = trust_check_checkpoint(base, key, key_len, note, len, err)) == FC_OK)
		fc_log(LOG_INFO,
		       "trust: --rekor %s: its checkpoint has the URL's host as origin and "
		       "is signed by public-key",
		       base);
	free(note);
	free(base);
	return st;
}

/* --rekor: the key from its file (or, Rekor v1, from the log). */
static enum fc_status add_rekor(const struct trust_flags *f, struct trust_builder *b,
				const struct trust_spec *s, struct fc_err *err)
{
	char *pem = NULL, *src = NULL, *base = NULL;
	size_t len = 0;
	enum fc_status st;

	if (s->e.url == NULL || (s->e.api_version != 1 && s->e.api_version != 2))
		return trust_add_tlog(b, &s->e, "", 0, "--rekor", err); /* says what is missing */
	if (s->key_path != NULL) {
		st = read_pem(s->key_path, &pem, &len, err);
		src = fc_xstrdup(s->key_path);
	} else if (s->e.api_version == 2) {
		st = fc_err_set(err, FC_ECONFIG,
				"--rekor %s api-version=2 needs public-key=FILE "
				"(Rekor v2 does not serve its key)",
				s->e.url);
	} else if ((st = trust_url_normalise(s->e.url, "--rekor url", &base, err)) == FC_OK) {
		src = fc_xasprintf("%s/api/v1/log/publicKey", base);
		st = trust_fetch(src, TRUST_MAX_PEM_BYTES, f->timeout_ms, &pem, &len, err);
	}
	if (st == FC_OK && s->e.api_version == 2)
		st = check_rekor_v2(f, s, pem, len, err);
	if (st == FC_OK)
		st = trust_add_tlog(b, &s->e, pem, len, src, err);
	free(base);
	free(src);
	free(pem);
	return st;
}

/* One entry, whatever its kind. */
static enum fc_status add_spec(const struct trust_flags *f, struct trust_builder *b,
			       const struct trust_spec *s, struct fc_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	enum fc_status st;

	switch (s->kind) {
	case TRUST_CA: return add_ca(f, b, s, err);
	case TRUST_TSA: return add_tsa(f, b, s, err);
	case TRUST_TLOG: return add_rekor(f, b, s, err);
	case TRUST_OIDC: return trust_add_oidc(b, &s->e, err);
	case TRUST_CTLOG:
		if (s->key_path == NULL)
			return fc_err_set(err, FC_ECONFIG,
					  "--ct-log needs public-key=FILE (the log's "
					  "PEM public key)");
		if ((st = read_pem(s->key_path, &pem, &len, err)) == FC_OK)
			st = trust_add_ctlog(b, &s->e, pem, len, s->key_path, err);
		free(pem);
		return st;
	default: return fc_err_set(err, FC_EINTERNAL, "unknown entry kind");
	}
}

/* --- writing ---------------------------------------------------------------------- */

/* The output paths: --out-dir's three, or the ones given one by one. */
static enum fc_status out_paths(const struct trust_flags *f, char **tr, char **sc, char **tc,
				struct fc_err *err)
{
	*tr = f->trusted_root ? fc_xstrdup(f->trusted_root) : NULL;
	*sc = f->signing_config ? fc_xstrdup(f->signing_config) : NULL;
	*tc = f->trust_config ? fc_xstrdup(f->trust_config) : NULL;
	if (f->out_dir == NULL)
		return FC_OK;
	if (mkdir(f->out_dir, 0755) != 0 && errno != EEXIST)
		return fc_err_set(err, FC_EIO, "--out-dir %s: %s", f->out_dir, strerror(errno));
	if (*tr == NULL)
		*tr = fc_xasprintf("%s/trusted_root.json", f->out_dir);
	if (*sc == NULL)
		*sc = fc_xasprintf("%s/signing_config.json", f->out_dir);
	if (*tc == NULL)
		*tc = fc_xasprintf("%s/trust_config.json", f->out_dir);
	return FC_OK;
}

/* Make the documents asked for and write them. */
static enum fc_status write_outputs(const struct trust_flags *f, struct trust_builder *b,
				    struct fc_err *err)
{
	char *tr = NULL, *sc = NULL, *tc = NULL;
	json_t *root = trust_trusted_root(b), *signing = NULL, *client = NULL;
	enum fc_status st;

	if ((st = out_paths(f, &tr, &sc, &tc, err)) != FC_OK)
		goto out;
	if ((sc != NULL || tc != NULL) && (st = trust_signing_config(b, &signing, err)) != FC_OK)
		goto out;
	if (tc != NULL)
		client = trust_client_config(root, signing);
	if ((tr != NULL && (st = trust_write_json(tr, root, err)) != FC_OK) ||
	    (sc != NULL && (st = trust_write_json(sc, signing, err)) != FC_OK) ||
	    (tc != NULL && (st = trust_write_json(tc, client, err)) != FC_OK))
		goto out;
	fc_log(LOG_NOTICE,
	       "trust: wrote%s%s%s%s%s%s: %zu CA chain(s), %zu CT log(s), %zu TSA(s), "
	       "%zu Rekor log(s), %zu OIDC provider(s)",
	       tr ? " " : "", tr ? tr : "", sc ? " " : "", sc ? sc : "", tc ? " " : "",
	       tc ? tc : "", trust_count(b, TRUST_CA), trust_count(b, TRUST_CTLOG),
	       trust_count(b, TRUST_TSA), trust_count(b, TRUST_TLOG), trust_count(b, TRUST_OIDC));
out:
	json_decref(root);
	json_decref(signing);
	json_decref(client);
	free(tr);
	free(sc);
	free(tc);
	return st;
}

/* Gather every entry, then write. The exit status. */
static int trust_run(const struct trust_flags *f)
{
	struct trust_builder *b = trust_builder_new(fc_now());
	struct fc_err err = {0};
	enum fc_status st = FC_OK;
	enum trust_selector sel;
	unsigned count;

	for (int k = TRUST_TSA; k <= TRUST_TLOG && st == FC_OK; k++)
		if (f->selector[k] != NULL && trust_parse_selector(f->selector[k], &sel, &count))
			st = trust_set_selector(b, (enum trust_kind)k, sel, count, &err);
	for (size_t i = 0; i < f->n && st == FC_OK; i++)
		st = add_spec(f, b, &f->specs[i], &err);
	if (st == FC_OK)
		st = write_outputs(f, b, &err);
	trust_builder_free(b);
	if (st == FC_OK)
		return CMD_EXIT_OK;
	fprintf(stderr, "fulcrum trust: %s\n", err.msg);
	return CMD_EXIT_REFUSED;
}

/* fulcrum trust (see trust_usage): CMD_EXIT_OK once the files are
 * written, CMD_EXIT_REFUSED when the material is refused or a service
 * cannot be read, CMD_EXIT_USAGE for bad flags. */
int cmd_trust_main(int argc, char **argv)
{
	static struct trust_flags f; /* large: not on the stack */
	int rc;

	memset(&f, 0, sizeof(f));
	f.timeout_ms = TRUST_DEFAULT_TIMEOUT_MS;
	if ((rc = trust_parse(argc, argv, &f)) < 0)
		rc = trust_run(&f);
	trust_flags_free(&f);
	return rc;
}

/* --- fulcrum serve --trusted-root / --signing-config ----------------------------- */

/*
 * Read and check the trust files (trust_doc_check) and make the
 * ClientTrustConfig of both; docs then points into t (valid until the
 * next load or cmd_trust_files_clear). Paths that are NULL are not served.
 * FC_OK, else the reason in err and t unchanged.
 */
enum fc_status cmd_trust_files_load(struct cmd_trust_files *t, struct ca_trust_docs *docs,
				    struct fc_err *err)
{
	const char *paths[2] = {t->trusted_root_path, t->signing_config_path};
	char *doc[3] = {NULL, NULL, NULL};
	json_t *parsed[2] = {NULL, NULL};
	enum fc_status st = FC_OK;
	size_t len;

	for (int i = 0; i < 2 && st == FC_OK; i++) {
		if (paths[i] == NULL)
			continue;
		if ((st = fc_read_file(paths[i], TRUST_MAX_DOC_BYTES, &doc[i], &len, err)) == FC_OK)
			st = trust_doc_check(doc[i], len,
					     i == 0 ? TRUST_DOC_TRUSTED_ROOT
						    : TRUST_DOC_SIGNING_CONFIG,
					     paths[i], &parsed[i], err);
	}
	if (st == FC_OK && parsed[0] != NULL && parsed[1] != NULL) {
		json_t *tc = trust_client_config(parsed[0], parsed[1]);
		doc[2] = json_dumps(tc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(tc);
	}
	json_decref(parsed[0]);
	json_decref(parsed[1]);
	if (st != FC_OK) {
		for (int i = 0; i < 3; i++)
			free(doc[i]);
		return st;
	}
	for (int i = 0; i < 3; i++) {
		free(t->doc[i]);
		t->doc[i] = doc[i];
	}
	docs->trusted_root = t->doc[0];
	docs->signing_config = t->doc[1];
	docs->trust_config = t->doc[2];
	return FC_OK;
}

/* SIGHUP: read the files again and serve them; on any failure keep
 * serving the ones loaded before. */
void cmd_trust_files_reload(struct cmd_trust_files *t, struct ca_server *s)
{
	struct ca_trust_docs docs;
	struct fc_err err = {0};

	if (t->trusted_root_path == NULL && t->signing_config_path == NULL)
		return;
	if (cmd_trust_files_load(t, &docs, &err) != FC_OK) {
		fc_log(LOG_ERR,
		       "serve: reload of the trust files refused, still serving the "
		       "previous ones: %s",
		       err.msg);
		return;
	}
	ca_server_set_trust(s, &docs);
	fc_log(LOG_NOTICE, "serve: reloaded the trust files%s%s%s%s",
	       t->trusted_root_path ? " " : "", t->trusted_root_path ? t->trusted_root_path : "",
	       t->signing_config_path ? " " : "",
	       t->signing_config_path ? t->signing_config_path : "");
}

void cmd_trust_files_clear(struct cmd_trust_files *t)
{
	for (int i = 0; i < 3; i++) {
		free(t->doc[i]);
		t->doc[i] = NULL;
	}
}
