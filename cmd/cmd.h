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

/* The passphrase of a file CA key: read by `fulcrum serve --ca fileca`,
 * and by `fulcrum createca --file` to encrypt the keys it writes. */
#define CMD_FILECA_PASSWD_ENV "FULCRUM_FILECA_KEY_PASSWD"

/* args.c: a decimal unsigned integer of at most max. */
bool cmd_parse_uint(const char *s, unsigned long max, unsigned long *out);

int cmd_token_main(int argc, char **argv);
int cmd_serve_main(int argc, char **argv);
int cmd_createca_main(int argc, char **argv);
int cmd_ctlog_main(int argc, char **argv);
int cmd_tsa_main(int argc, char **argv);

/* --- pkcs11ca.c: the pkcs11ca CA of fulcrum serve, and tokens ------------------ */

struct ca_authority;
struct hsm_p11;
struct hsm_p11_config;

/* Fulcio's default crypto11 configuration path. */
#define CMD_PKCS11_DEFAULT_CONFIG "config/crypto11.conf"

/*
 * Open the token of --pkcs11-config-path (default CMD_PKCS11_DEFAULT_CONFIG)
 * or --pkcs11-uri (not both), settle the PIN source and log in; rw for
 * read-write sessions. FC_OK with *cfg_out and *out (free with
 * hsm_p11_config_free and hsm_p11_free), else the reason in err.
 */
enum fc_status cmd_p11_open(const char *config_path, const char *uri, const char *pin_file,
			    bool rw, struct hsm_p11_config **cfg_out, struct hsm_p11 **out,
			    struct fc_err *err);

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
