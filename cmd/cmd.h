/*
 * The fulcrum subcommands. Each is a thin main over the module libraries:
 * it parses its own flags and returns the process exit status.
 */
#ifndef FULCRUM_CMD_H
#define FULCRUM_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "common.h"
#include "signer.h"

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
/* args.c: HOST:PORT of a --listen flag; *host allocated (caller frees). */
bool cmd_parse_listen(const char *s, char **host, uint16_t *port);

/* --- flags.c: flags read the way Fulcio's (pflag under viper) are -------------- */

enum cmd_flag_type {
	CMD_FLAG_STRING,   /* target: const char ** (points into argv, environ or the spec) */
	CMD_FLAG_SECRET,   /* target: char ** (an owned copy; fc_free_secret); the source wiped */
	CMD_FLAG_BOOL,	   /* target: bool *; --name alone means true */
	CMD_FLAG_UINT,	   /* target: unsigned long *, within [min, max] */
	CMD_FLAG_DURATION, /* target: unsigned long * milliseconds, within [min, max] ms */
	CMD_FLAG_LIST,	   /* target: struct cmd_list *; each --name adds one */
	CMD_FLAG_CUSTOM,   /* parse(value, target, why, n) */
	CMD_FLAG_IGNORED,  /* accepted, value unused; note says why (one start-up line) */
	CMD_FLAG_REFUSED,  /* an error: note says what fulcrum offers instead */
};

/* Where a flag's value came from, weakest first. */
enum cmd_flag_source { CMD_SRC_DEFAULT = 0, CMD_SRC_FILE, CMD_SRC_ENV, CMD_SRC_ARG };

#define CMD_LIST_MAX 16
struct cmd_list {
	const char *items[CMD_LIST_MAX];
	size_t n;
};

struct cmd_flag {
	const char *name;  /* the long name, without dashes */
	const char *alias; /* another long name, on the command line only (as pflag's
				* normalised names: viper reads neither environment nor file
				* under it), or NULL */
	char shorthand;	   /* -x, or 0 */
	enum cmd_flag_type type;
	void *target;
	unsigned long min, max; /* UINT, DURATION (ms) */
	unsigned long plain_ms; /* DURATION: a bare number counts this many ms (0: refused) */
	bool (*parse)(const char *value, void *target, char *why, size_t n); /* CUSTOM */
	const char *note;						     /* IGNORED, REFUSED */
	/* --help (cmd_flags_usage) */
	const char *group;	     /* a heading printed before this flag, or NULL */
	const char *metavar;	     /* the value's name ("FILE"), NULL for a BOOL */
	const char *help;	     /* lines separated by \n; NULL: listed by name only */
	enum cmd_flag_source source; /* out: where the value came from */
};

struct cmd_flags_spec {
	const char *command;	/* "serve", for messages */
	const char *env_prefix; /* "FULCIO_SERVE_", or NULL for no environment */
	const char *file_flag;	/* the STRING flag naming a flag file ("config"), or NULL */
	bool bool_value_arg;	/* "--bool false" also reads the next argument (a command
				 * without positional arguments; pflag wants --bool=false) */
	char **owned;		/* values read from the flag file (cmd_flags_release) */
	size_t n_owned;
	char **notes; /* warnings for cmd_flags_log_notes */
	size_t n_notes;
};

/*
 * Parse argv into flags: the command line, then PREFIX_NAME environment
 * variables, then the flag file, each only for flags a stronger source
 * left alone. -1 when all is read (positional arguments from *first_arg),
 * else CMD_EXIT_USAGE with the reason printed to stderr. Warnings (flag
 * file names that are no flag, ignored flags that were given) wait in
 * spec for cmd_flags_log_notes.
 */
int cmd_flags_parse(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n, int argc,
		    char **argv, int *first_arg);
/* Log the warnings of the parse (once, when the command has started) and
 * forget them. */
void cmd_flags_log_notes(struct cmd_flags_spec *spec);
/* True when the flag named name was given (command line, environment or
 * file). */
bool cmd_flag_given(const struct cmd_flag *flags, size_t n, const char *name);
/* The flags' part of --help: each flag once, with its shorthand, alias and
 * help, under its group's heading. */
void cmd_flags_usage(FILE *out, const struct cmd_flag *flags, size_t n);
void cmd_flags_release(struct cmd_flags_spec *spec);

/* flags_file.c: a flag file's text (name: its path, whose extension picks
 * YAML or JSON) as one flat JSON object of flag names, as viper would read
 * it (cmd_int.h tells the rules). NULL with the reason in why, else the
 * object (json_decref). */
json_t *cmd_flag_file_parse(const char *name, const char *text, size_t len, char *why, size_t n);

int cmd_token_main(int argc, char **argv);
int cmd_journal_main(int argc, char **argv);
int cmd_serve_main(int argc, char **argv);
int cmd_createca_main(int argc, char **argv);
int cmd_ctlog_main(int argc, char **argv);
int cmd_trust_main(int argc, char **argv);

/* --- cmd_trust.c: the trust files fulcrum serve hands out ------------------------ */

struct ca_server;
struct ca_trust_docs;

struct cmd_trust_files {
	const char *trusted_root_path;	 /* --trusted-root, or NULL */
	const char *signing_config_path; /* --signing-config, or NULL */
	char *doc[3];			 /* as loaded: trusted root, signing config, both */
};

/* Read and check the files; docs points into t. FC_ECONFIG/FC_EIO naming
 * the file and the fault; t unchanged then. */
enum fc_status cmd_trust_files_load(struct cmd_trust_files *t, struct ca_trust_docs *docs,
				    struct fc_err *err);
/* Reload them into a running server (SIGHUP); failures are logged and the
 * server keeps the previous ones. */
void cmd_trust_files_reload(struct cmd_trust_files *t, struct ca_server *s);
void cmd_trust_files_clear(struct cmd_trust_files *t);
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
enum fc_status cmd_p11_open(const char *config_path, const char *uri, const char *pin_file, bool rw,
			    struct hsm_p11_config **cfg_out, struct hsm_p11 **out,
			    struct fc_err *err);

/* The pkcs11ca flags of fulcrum serve. */
struct cmd_pkcs11ca_flags {
	const char *config_path; /* --pkcs11-config-path (crypto11 JSON) */
	const char *uri;	 /* --pkcs11-uri (RFC 7512) */
	const char *pin_file;	 /* --pkcs11-pin-file */
	const char *caroot_id;	 /* --hsm-caroot-id: CKA_ID as ASCII bytes */
	const char *key_label;	 /* --hsm-key-label (NULL = the URI's object, else PKCS11CA) */
	const char *chain_path;	 /* --hsm-chain / --aws-hsm-root-ca-path */
	bool rsa_pss;		 /* --hsm-rsa-pss */
};

/* Open the token, find key, certificate and chain, check them; FC_OK with
 * the key's signer and the chain, else a message naming what is wrong
 * (module, token, PIN, label, id). */
struct ca_chain;
struct hsm_signer;
enum fc_status cmd_pkcs11ca_load(const struct cmd_pkcs11ca_flags *f, struct hsm_signer **signer_out,
				 struct ca_chain **chain_out, struct fc_err *err);

/* --- createca_root.c: createca --existing-root ---------------------------------- */

/*
 * The root a new intermediate or time-stamping certificate is made under:
 * its certificate from cert_file (PEM), else the token p's certificate
 * with CKA_ID caroot_id; its key from key_file (PEM; pass decrypts it),
 * else p's key labelled key_label (never generated here). The root must be
 * a CA with keyCertSign holding that key. FC_OK with *root (X509_free) and
 * *signer (hsm_signer_free), else the reason in err. p may be NULL (files).
 */
enum fc_status cmd_existing_root(struct hsm_p11 *p, const char *cert_file, const char *caroot_id,
				 const char *key_file, const char *key_label, const char *pass,
				 X509 **root, struct hsm_signer **signer, struct fc_err *err);

/* --- serve_ca.c: the CA key of fulcrum serve ----------------------------------------- */

struct ca_server;

struct cmd_ca_opts {
	const char *ca; /* ephemeralca, fileca or pkcs11ca */
	const char *fileca_cert;
	const char *fileca_key;
	char *passwd; /* --fileca-key-passwd: the caller's copy, wiped
					   * by cmd_ca_open (NULL: the environment's) */
	bool fileca_watch;
	struct cmd_pkcs11ca_flags pkcs11;
	int validity_s; /* the certificate lifetime */
	bool ct;	/* certificates go through a CT log */
	const char *journal_dir;
	bool no_signer; /* --no-signer-process */
};

struct cmd_ca;
/* Start the key side (the supervisor and its signer process, unless
 * no_signer) and wipe the secrets of argv and the environment here. */
enum fc_status cmd_ca_open(const struct cmd_ca_opts *o, struct cmd_ca **out, struct fc_err *err);
/* A new authority over the configured key. */
enum fc_status cmd_ca_authority(struct cmd_ca *c, struct ca_authority **out, struct fc_err *err);
/* Where reloads go once serving. */
void cmd_ca_set_server(struct cmd_ca *c, struct ca_server *server);
/* Reload (fileca, pkcs11ca): a new authority, or the current one kept on
 * failure. */
void cmd_ca_reload(struct cmd_ca *c, const char *why);
/* Makes a CT client from serve's CT flags or --ct-log-config, read again
 * (FC_OK with *out; NULL when CT is off). */
struct ct_client;
typedef enum fc_status (*cmd_ct_build_fn)(void *arg, struct ct_client **out, struct fc_err *err);
/* SIGHUP rebuilds the CT client with build(arg) and swaps it in. */
void cmd_ca_set_ct_source(struct cmd_ca *c, cmd_ct_build_fn build, void *arg);
/* The signal wait's hook, at every wake (hup: a SIGHUP arrived): reloads
 * the CA and the CT logs on SIGHUP, the fileca files on change with
 * --no-signer-process, and frees what reloads replaced once unused. */
void cmd_ca_tick(struct cmd_ca *c, bool hup);
/* --no-signer-process: true when --fileca-watch sees the files changed. */
bool cmd_ca_files_changed(struct cmd_ca *c);
/* The signer side for /metrics, NULL with --no-signer-process. */
struct cmd_privsep *cmd_ca_privsep(struct cmd_ca *c);
void cmd_ca_free(struct cmd_ca *c);

/* --- privsep.c: the network process and its signer process ------------------------ */

/* The supervisor and the link to the current signer process. */
struct cmd_privsep {
	struct signer_supervisor sup;
	struct signer_link *link;
};

/* main's argv, whole (fulcrum.c). */
extern char **cmd_argv;

/*
 * Fork the supervisor and take its first signer (signer.h). In between,
 * wipe(child->arg) wipes the secrets of argv and the environment, and this
 * process starts itself again (execve of /proc/self/exe with the same,
 * wiped, command line), so that the network process's image never held a
 * secret; the new image finds its supervisor through the environment and
 * goes on from here.
 */
enum fc_status cmd_privsep_start(const struct signer_child *child, void (*wipe)(void *arg),
				 signer_attached_fn attached, void *arg, struct cmd_privsep *ps,
				 struct fc_err *err);
/* Close the link and wait for the supervisor (and so the signer) to exit. */
void cmd_privsep_stop(struct cmd_privsep *ps);
/* Become user if running as root; who names the command in the log. */
enum fc_status cmd_privsep_drop(const struct signer_user *user, const char *who,
				struct fc_err *err);
/* ca_server_options.metrics_extra: the signer's refusals and restarts (arg:
 * the struct cmd_privsep). */
void cmd_privsep_metrics(void *arg, struct fc_buf *b);

/* A copy of a secret on locked pages left out of core dumps (free with
 * cmd_secret_free, which wipes it); NULL for NULL. */
char *cmd_secret_keep(const char *s);
void cmd_secret_free(char *s);
/* Wipe an environment variable's value where it lies, and unset it. */
void cmd_wipe_env(const char *name);
/* Overwrite the values of pin-value= in a PKCS#11 URI held in argv. */
void cmd_wipe_uri_pin(char *uri);

#endif
