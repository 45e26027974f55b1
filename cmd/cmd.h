/*
 * The fulcrum subcommands. Each is a thin main over the module libraries:
 * it parses its own flags and returns the process exit status.
 */
#ifndef FULCRUM_CMD_H
#define FULCRUM_CMD_H

#include <stdbool.h>

#include "common.h"

/* Exit statuses shared by the subcommands. */
enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_REFUSED = 1, /* the input was checked and refused */
	CMD_EXIT_USAGE = 2,   /* bad flags or configuration */
};

/* args.c: a decimal unsigned integer of at most max. */
bool cmd_parse_uint(const char *s, unsigned long max, unsigned long *out);

int cmd_token_main(int argc, char **argv);
int cmd_serve_main(int argc, char **argv);
int cmd_createca_main(int argc, char **argv);
int cmd_ctlog_main(int argc, char **argv);

/* --- cmd_createca.c: the pkcs11ca CA of fulcrum serve ----------------------- */

struct ca_authority;

/* The pkcs11ca flags of fulcrum serve. */
struct cmd_pkcs11ca_flags {
	const char *config_path; /* --pkcs11-config-path (crypto11 JSON) */
	const char *uri;         /* --pkcs11-uri (RFC 7512) */
	const char *pin_file;    /* --pkcs11-pin-file */
	const char *caroot_id;   /* --hsm-caroot-id: CKA_ID as ASCII bytes */
	const char *key_label;   /* --hsm-key-label (NULL = the URI's object, else PKCS11CA) */
	const char *chain_path;  /* --hsm-chain / --aws-hsm-root-ca-path */
	bool rsa_pss;            /* --hsm-rsa-pss */
};

/* Open the token, find key, certificate and chain, check them; FC_OK with
 * *out, else a message naming what is wrong (module, token, PIN, label, id). */
enum fc_status cmd_pkcs11ca_load(const struct cmd_pkcs11ca_flags *f, struct ca_authority **out,
				 struct fc_err *err);

#endif
