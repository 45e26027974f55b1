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
	const char *ca, *config, *url, *host;
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
	{.name = "ct-log-timeout", .type = CMD_FLAG_DURATION, .target = &v.timeout_ms, .min = 1,
	 .max = 600000, .plain_ms = 1000},
	{.name = "certificate-lifetime", .type = CMD_FLAG_DURATION, .target = &v.lifetime_ms,
	 .min = 60000, .max = 604800000, .plain_ms = 1000},
	{.name = "ct-log-url", .type = CMD_FLAG_LIST, .target = &v.logs},
	{.name = "grpc-port", .type = CMD_FLAG_IGNORED, .note = "gRPC is not served"},
	{.name = "kms-resource", .type = CMD_FLAG_REFUSED,
	 .note = "fulcrum has no KMS CA; use --ca pkcs11ca"},
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

	CHECK(parse(&spec, &first, "--ca", "fileca", "--port=8081", "--fileca-watch",
		    "--http-host", "127.0.0.1", "-v", "--ct-log-timeout", "1m", "pos", NULL) == -1);
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
	struct cmd_flags_spec spec = {.command = "serve", .env_prefix = "FULCIO_SERVE_",
				      .file_flag = "config"};
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
	CHECK_STR(v.ca, "pkcs11ca");          /* file */
	CHECK(v.port == 9001);                /* environment over file */
	CHECK_STR(v.host, "127.0.0.2");       /* command line over file */
	CHECK(!v.watch);                      /* file */
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

int main(void)
{
	test_duration();
	test_command_line();
	test_secret_wiped();
	test_env_and_file();
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return check_exit();
}
