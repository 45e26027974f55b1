/*
 * Unit tests for cmd/flags.c: flags read as Fulcio's pflag and viper read
 * them (command line, then FULCIO_SERVE_* environment, then a flag file),
 * Go durations, no abbreviations, secrets wiped from argv.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cmd.h"

struct vals {
	const char *ca, *config, *url, *host, *tls_ca;
	char *passwd;
	bool watch, verbose;
	unsigned long port, timeout_ms, lifetime_ms;
	struct cmd_list logs;
};

static struct vals v;
static struct cmd_flag flags[] = {
	{.name = "config", .shorthand = 'c', .type = CMD_FLAG_STRING, .target = &v.config},
	{.name = "ca", .type = CMD_FLAG_STRING, .target = &v.ca},
	{.name = "config-path", .type = CMD_FLAG_STRING, .target = &v.url},
	{.name = "host", .alias = "http-host", .type = CMD_FLAG_STRING, .target = &v.host},
	{.name = "fileca-key-passwd", .type = CMD_FLAG_SECRET, .target = &v.passwd},
	{.name = "fileca-watch", .type = CMD_FLAG_BOOL, .target = &v.watch},
	{.name = "verbose", .shorthand = 'v', .type = CMD_FLAG_BOOL, .target = &v.verbose},
	{.name = "port", .type = CMD_FLAG_UINT, .target = &v.port, .max = 65535},
	{.name = "ct-log-timeout",
	 .type = CMD_FLAG_DURATION,
	 .target = &v.timeout_ms,
	 .min = 1,
	 .max = 600000,
	 .plain_ms = 1000},
	{.name = "certificate-lifetime",
	 .type = CMD_FLAG_DURATION,
	 .target = &v.lifetime_ms,
	 .min = 60000,
	 .max = 604800000,
	 .plain_ms = 1000},
	{.name = "ct-log-url", .type = CMD_FLAG_LIST, .target = &v.logs},
	{.name = "grpc-port", .type = CMD_FLAG_IGNORED, .note = "gRPC is not served"},
	{.name = "kms-resource",
	 .type = CMD_FLAG_REFUSED,
	 .note = "fulcrum has no KMS CA; use --ca pkcs11ca"},
	{.name = "ct-log.tls-ca-cert", .type = CMD_FLAG_STRING, .target = &v.tls_ca},
	{.name = "grpc-host", .type = CMD_FLAG_IGNORED, .note = "gRPC is not served"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

/* The arguments of the last parse: flags point into them until the next. */
static char *argv[32];
static int argc;

/* Parse a NULL-terminated argument list (copied: parsing may wipe it). */
static int parse(struct cmd_flags_spec *spec, int *first, ...)
{
	va_list ap;
	const char *a;

	for (int i = 0; i < argc; i++)
		free(argv[i]);
	argc = 0;

	cmd_flags_release(spec);
	fc_free_secret(v.passwd);
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < N_FLAGS; i++)
		flags[i].source = CMD_SRC_DEFAULT;
	argv[argc++] = strdup("serve");
	va_start(ap, first);
	while ((a = va_arg(ap, const char *)) != NULL)
		argv[argc++] = strdup(a);
	va_end(ap);
	return cmd_flags_parse(spec, flags, N_FLAGS, argc, argv, first);
}

/* Write text to path (created or truncated). */
static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

/* True when spec holds a note containing s. */
static bool has_note(const struct cmd_flags_spec *spec, const char *s)
{
	for (size_t i = 0; i < spec->n_notes; i++)
		if (strstr(spec->notes[i], s) != NULL)
			return true;
	return false;
}

static void test_duration(void)
{
	double ms;

	CHECK(fc_parse_duration("10s", 0, &ms) && ms == 10000);
	CHECK(fc_parse_duration("1m30s", 0, &ms) && ms == 90000);
	CHECK(fc_parse_duration("1.5h", 0, &ms) && ms == 5400000);
	CHECK(fc_parse_duration("500ms", 0, &ms) && ms == 500);
	CHECK(fc_parse_duration("2us", 0, &ms) && ms == 0.002);
	CHECK(fc_parse_duration("0", 0, &ms) && ms == 0);
	CHECK(fc_parse_duration("10", 1000, &ms) && ms == 10000);
	CHECK(fc_parse_duration("2.5", 1000, &ms) && ms == 2500);
	CHECK(!fc_parse_duration("10", 0, &ms)); /* Go: missing unit */
	CHECK(!fc_parse_duration("", 1000, &ms));
	CHECK(!fc_parse_duration("1e3s", 0, &ms));
	CHECK(!fc_parse_duration("0x10s", 0, &ms));
	CHECK(!fc_parse_duration("-1s", 0, &ms));
	CHECK(!fc_parse_duration("10x", 0, &ms));
	CHECK(!fc_parse_duration("s", 0, &ms));
	CHECK(!fc_parse_duration(".s", 0, &ms));
}

static void test_command_line(void)
{
	struct cmd_flags_spec spec = {.command = "serve"};
	int first = 0;

	CHECK(parse(&spec, &first, "--ca", "fileca", "--port=8081", "--fileca-watch", "--http-host",
		    "127.0.0.1", "-v", "--ct-log-timeout", "1m", "pos", NULL) == -1);
	CHECK_STR(v.ca, "fileca");
	CHECK(v.port == 8081 && v.watch && v.verbose && v.timeout_ms == 60000);
	CHECK_STR(v.host, "127.0.0.1");
	CHECK(first == 10); /* "pos" */
	CHECK(parse(&spec, &first, "--fileca-watch=false", "-cfile.yaml", NULL) == -1);
	CHECK(!v.watch);
	CHECK_STR(v.config, "file.yaml");
	/* no abbreviations: --conf is not --config (nor --config-path) */
	CHECK(parse(&spec, &first, "--conf", "x", NULL) == CMD_EXIT_USAGE);
	CHECK(parse(&spec, &first, "--port", "65536", NULL) == CMD_EXIT_USAGE);
	CHECK(parse(&spec, &first, "--port", NULL) == CMD_EXIT_USAGE);
	CHECK(parse(&spec, &first, "--certificate-lifetime", "30s", NULL) == CMD_EXIT_USAGE);
	CHECK(parse(&spec, &first, "--certificate-lifetime", "10m", NULL) == -1 &&
	      v.lifetime_ms == 600000);
	CHECK(parse(&spec, &first, "--kms-resource", "gcpkms://x", NULL) == CMD_EXIT_USAGE);
	CHECK(parse(&spec, &first, "--grpc-port", "8081", NULL) == -1 &&
	      flags[11].source == CMD_SRC_ARG);
	CHECK(parse(&spec, &first, "--ct-log-url", "a", "--ct-log-url=b", NULL) == -1);
	CHECK(v.logs.n == 2 && strcmp(v.logs.items[1], "b") == 0);
	CHECK(parse(&spec, &first, "--", "--ca", NULL) == -1 && first == 2 && v.ca == NULL);
	cmd_flags_release(&spec);
}

static void test_secret_wiped(void)
{
	struct cmd_flags_spec spec = {.command = "serve"};
	char a0[] = "serve", a1[] = "--fileca-key-passwd", a2[] = "s3cret";
	char a3[] = "--fileca-key-passwd=other";
	char *av[] = {a0, a1, a2, a3};
	int first;

	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < N_FLAGS; i++)
		flags[i].source = CMD_SRC_DEFAULT;
	CHECK(cmd_flags_parse(&spec, flags, N_FLAGS, 3, av, &first) == -1);
	CHECK_STR(v.passwd, "s3cret");
	CHECK(memcmp(a2, "\0\0\0\0\0\0", 6) == 0);
	av[1] = a3;
	CHECK(cmd_flags_parse(&spec, flags, N_FLAGS, 2, av, &first) == -1);
	CHECK_STR(v.passwd, "other");
	CHECK(strcmp(a3, "--fileca-key-passwd=") == 0); /* the value is wiped in place */
	fc_free_secret(v.passwd);
	v.passwd = NULL;
}

static void test_env_and_file(void)
{
	struct cmd_flags_spec spec = {
		.command = "serve", .env_prefix = "FULCIO_SERVE_", .file_flag = "config"};
	char path[] = "/tmp/fulcrum-flags-XXXXXX";
	int fd = mkstemp(path), first;
	const char *yaml = "ca: pkcs11ca\nport: 9000\nfileca-watch: false\n"
			   "ct-log-url:\n  - http://a\n  - http://b\nhost: 10.0.0.1\n"
			   "unknown-key: 1\n";

	CHECK(fd >= 0 && write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml));
	close(fd);
	setenv("FULCIO_SERVE_PORT", "9001", 1);
	setenv("FULCIO_SERVE_FILECA-KEY-PASSWD", "from-env", 1);
	/* command line > environment > file > default */
	CHECK(parse(&spec, &first, "--config", path, "--host", "127.0.0.2", NULL) == -1);
	CHECK_STR(v.ca, "pkcs11ca");	/* file */
	CHECK(v.port == 9001);		/* environment over file */
	CHECK_STR(v.host, "127.0.0.2"); /* command line over file */
	CHECK(!v.watch);		/* file */
	CHECK(v.logs.n == 2 && strcmp(v.logs.items[0], "http://a") == 0);
	CHECK_STR(v.passwd, "from-env");
	CHECK(getenv("FULCIO_SERVE_FILECA-KEY-PASSWD") == NULL); /* taken out of environ */
	unsetenv("FULCIO_SERVE_PORT");
	/* a JSON flag file, and a bad value in it named with its file */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "{\"ca\": \"fileca\", \"port\": 70000}", 31) == 31);
	close(fd);
	CHECK(parse(&spec, &first, "-c", path, NULL) == CMD_EXIT_USAGE);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "{\"ca\": \"fileca\", \"port\": 7000}", 30) == 30);
	close(fd);
	CHECK(parse(&spec, &first, "-c", path, NULL) == -1 && v.port == 7000);
	CHECK_STR(v.ca, "fileca");
	CHECK(parse(&spec, &first, "-c", "/nonexistent/flags.yaml", NULL) == CMD_EXIT_USAGE);
	unlink(path);
	cmd_flags_release(&spec);
	fc_free_secret(v.passwd);
	v.passwd = NULL;
}

/* What viper does with the environment: dashes kept, empty values unset,
 * the flag file named on the command line only. */
static void test_env_rules(void)
{
	struct cmd_flags_spec spec = {
		.command = "serve", .env_prefix = "FULCIO_SERVE_", .file_flag = "config"};
	int first;

	setenv("FULCIO_SERVE_CA", "", 1);			     /* empty: not set */
	setenv("FULCIO_SERVE_CONFIG-PATH", "/x.yaml", 1);	     /* dashes kept */
	setenv("FULCIO_SERVE_CT_LOG_TIMEOUT", "5s", 1);		     /* underscores: not read */
	setenv("FULCIO_SERVE_CONFIG", "/nonexistent/flags.yaml", 1); /* not read */
	setenv("FULCIO_SERVE_CT-LOG.TLS-CA-CERT", "/ca.pem", 1);
	CHECK(parse(&spec, &first, NULL) == -1);
	CHECK(v.ca == NULL && v.timeout_ms == 0 && v.config == NULL);
	CHECK_STR(v.url, "/x.yaml");
	CHECK_STR(v.tls_ca, "/ca.pem");
	CHECK(has_note(&spec, "FULCIO_SERVE_CT_LOG_TIMEOUT is not read"));
	CHECK(has_note(&spec, "FULCIO_SERVE_CT-LOG-TIMEOUT"));
	CHECK(has_note(&spec, "FULCIO_SERVE_CONFIG is not read"));
	CHECK(cmd_flag_given(flags, N_FLAGS, "config-path"));
	CHECK(!cmd_flag_given(flags, N_FLAGS, "ca"));
	unsetenv("FULCIO_SERVE_CA");
	unsetenv("FULCIO_SERVE_CONFIG-PATH");
	unsetenv("FULCIO_SERVE_CT_LOG_TIMEOUT");
	unsetenv("FULCIO_SERVE_CONFIG");
	unsetenv("FULCIO_SERVE_CT-LOG.TLS-CA-CERT");
	cmd_flags_log_notes(&spec);
	CHECK(spec.n_notes == 0);
	cmd_flags_release(&spec);
}

/* What viper does with the flag file: names in any case, nested mappings
 * as dotted names, empty values unset, aliases not read; what yaml.v3
 * refuses; and an identity configuration given by mistake. */
static void test_file_rules(void)
{
	struct cmd_flags_spec spec = {
		.command = "serve", .env_prefix = "FULCIO_SERVE_", .file_flag = "config"};
	const char *yaml =
		"CA: fileca\nct-log:\n  tls-ca-cert: /ca.pem\nconfig-path:\n"
		"http-host: 10.0.0.9\nconfig: other.yaml\nfileca-key-passwd: 'from file'\n";
	char dir[] = "/tmp/fulcrum-flags-XXXXXX", path[64], json[64], toml[64];
	int first;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/flags.yaml", dir);
	snprintf(json, sizeof(json), "%s/flags.json", dir);
	snprintf(toml, sizeof(toml), "%s/flags.toml", dir);
	put_file(path, yaml);
	CHECK(parse(&spec, &first, "--config", path, NULL) == -1);
	CHECK_STR(v.ca, "fileca");
	CHECK_STR(v.tls_ca, "/ca.pem");
	CHECK(v.url == NULL && !cmd_flag_given(flags, N_FLAGS, "config-path"));
	CHECK(v.host == NULL);
	CHECK(has_note(&spec, "\"http-host\" is not read"));
	CHECK(has_note(&spec, "\"config\" is not read"));
	CHECK_STR(v.passwd, "from file");
	for (size_t i = 0; i < spec.n_owned; i++) /* the file's copy is wiped */
		CHECK(strcmp(spec.owned[i], "from file") != 0);
	/* the same in JSON, nested */
	put_file(json, "{\"ct-log\": {\"tls-ca-cert\": \"/b.pem\"}, \"port\": 7, \"ca\": null}");
	CHECK(parse(&spec, &first, "-c", json, NULL) == -1);
	CHECK_STR(v.tls_ca, "/b.pem");
	CHECK(v.port == 7 && v.ca == NULL);
	put_file(json, "{\"MetaIssuers\": {}}");
	CHECK(parse(&spec, &first, "-c", json, NULL) == CMD_EXIT_USAGE);
	unlink(json);
	put_file(path, "ca: a\nca: b\n"); /* yaml.v3: a name given twice */
	CHECK(parse(&spec, &first, "-c", path, NULL) == CMD_EXIT_USAGE);
	put_file(path, "oidc-issuers:\n  https://x:\n    client-id: sigstore\n");
	CHECK(parse(&spec, &first, "-c", path, NULL) == CMD_EXIT_USAGE);
	put_file(path, "ct-log-url:\n  - [a]\n");
	CHECK(parse(&spec, &first, "-c", path, NULL) == CMD_EXIT_USAGE);
	unlink(path);
	put_file(toml, "ca = \"fileca\"\n"); /* viper reads TOML; fulcrum says it does not */
	CHECK(parse(&spec, &first, "-c", toml, NULL) == CMD_EXIT_USAGE);
	unlink(toml);
	rmdir(dir);
	cmd_flags_release(&spec);
	fc_free_secret(v.passwd);
	v.passwd = NULL;
}

/* Ignored flags: one note for all of a kind; "--bool false" with
 * bool_value_arg. */
static void test_ignored_and_bools(void)
{
	struct cmd_flags_spec spec = {.command = "serve", .bool_value_arg = true};
	int first;

	CHECK(parse(&spec, &first, "--grpc-port", "1", "--grpc-host=h", "--fileca-watch", "false",
		    NULL) == -1);
	CHECK(spec.n_notes == 1 && has_note(&spec, "gRPC is not served") &&
	      has_note(&spec, "--grpc-port, --grpc-host"));
	CHECK(!v.watch && first == 6);
	CHECK(parse(&spec, &first, "--fileca-watch", "--ca", "x", NULL) == -1 && v.watch);
	CHECK(spec.n_notes == 0); /* no ignored flag given */
	cmd_flags_release(&spec);
	spec.bool_value_arg = false; /* pflag: the next argument is positional */
	CHECK(parse(&spec, &first, "--fileca-watch", "false", NULL) == -1 && v.watch && first == 2);
	cmd_flags_release(&spec);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* --help: each flag once, its alias and shorthand beside it, the help
 * wrapped, flags without help listed by name. */
static void test_usage(void)
{
	char *text = NULL;
	size_t len = 0, col = 0;
	FILE *f = open_memstream(&text, &len);

	flags[0].help = "the flag file (a long help text that is wrapped at eighty columns "
			"by the printer, word by word, so that no line is too long)";
	flags[0].metavar = "FILE";
	flags[3].help = "listen address";
	flags[3].group = "listeners";
	cmd_flags_usage(f, flags, N_FLAGS);
	fclose(f);
	CHECK_CONTAINS(text, "  -c, --config FILE");
	CHECK_CONTAINS(text, "listeners:\n  --host, --http-host");
	CHECK_CONTAINS(text, "--kms-resource");
	CHECK(count(text, "--grpc-port") == 1 && count(text, "--http-host") == 1);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n') {
			CHECK(col <= 80);
			col = 0;
		} else {
			col++;
		}
	}
	free(text);
	flags[0].help = NULL;
	flags[3].help = NULL;
	flags[3].group = NULL;
}

int main(void)
{
	test_duration();
	test_command_line();
	test_secret_wiped();
	test_env_and_file();
	test_env_rules();
	test_file_rules();
	test_ignored_and_bools();
	test_usage();
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return check_exit();
}
