/*
 * fulcrum: a short-lived code-signing certificate authority, wire-compatible
 * with Sigstore's Fulcio. One executable; the first argument names the role.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "common.h"

#ifndef FULCRUM_VERSION
#define FULCRUM_VERSION "0.1.0"
#endif

/* The whole command line, for a network process that starts itself again
 * (cmd/privsep.c). */
char **cmd_argv;

struct command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"serve", cmd_serve_main,
	 "serve Fulcio's HTTP API: verify identity tokens and issue short-lived code-signing "
	 "certificates"},
	{"createca", cmd_createca_main,
	 "create the CA (root, optionally an intermediate) inside a PKCS#11 token, or as "
	 "PEM files for development"},
	{"ctlog", cmd_ctlog_main,
	 "run a Certificate Transparency log (RFC 6962 submission API, Static CT API read "
	 "path)"},
	{"journal", cmd_journal_main,
	 "check the issuance journal: its hash chain, its records, intents without an "
	 "outcome"},
	{"trust", cmd_trust_main,
	 "write the Sigstore trust files (trusted_root.json, signing_config.json) of the "
	 "deployment, from files or from the running services"},
	{"tsa", cmd_tsa_main,
	 "run an RFC 3161 time-stamp authority (sigstore timestamp-authority's HTTP API)"},
	{"token", cmd_token_main,
	 "verify an OIDC identity token against the identity configuration and show the "
	 "certificate identity it would yield, or exactly why it is refused"},
};

/*
 * Everything jansson frees is wiped first: request bodies carry identity
 * tokens and a crypto11 file carries the HSM PIN, and jansson's parser
 * copies them through buffers of its own (the tokenizer's string buffer)
 * that would otherwise stay readable in freed heap.
 */
static void json_free_wiped(void *p)
{
	if (p == NULL)
		return;
	fc_memzero(p, malloc_usable_size(p));
	free(p);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fulcrum <command> [options]\n"
		   "       fulcrum --help | --version\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'fulcrum <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	int rc;

	json_set_alloc_funcs(malloc, json_free_wiped); /* before any JSON is made */
	if (argc < 2) {
		usage(stderr);
		return CMD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("fulcrum %s\n", FULCRUM_VERSION);
		return CMD_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
				fc_log(LOG_ERR, "fulcrum: libcurl initialisation failed");
				return CMD_EXIT_USAGE;
			}
			cmd_argv = argv;
			rc = commands[i].main(argc - 1, argv + 1);
			curl_global_cleanup();
			return rc;
		}
	}
	fprintf(stderr, "fulcrum: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return CMD_EXIT_USAGE;
}
