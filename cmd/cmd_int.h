/*
 * Private to cmd/: what the flag parser (flags.c) and the flag-file reader
 * (flags_file.c) share.
 */
#ifndef FULCRUM_CMD_INT_H
#define FULCRUM_CMD_INT_H

#include <jansson.h>
#include <stddef.h>

/* A flag file is small; more is a mistake (or an attack on a log line). */
#define CMD_FLAG_FILE_MAX (256 * 1024)
/* Mappings nested in a flag file (viper's "ct-log: {tls-ca-cert: F}"). */
#define CMD_FLAG_FILE_DEPTH 8

/*
 * Read a flag file (viper's --config: YAML or JSON) into one flat JSON
 * object: each name (nested mappings joined with dots, as viper's keys)
 * maps to a scalar, a list of scalars, or null (a YAML value left empty,
 * ~ or null, which viper treats as not set). Refuses a file that is an
 * identity configuration, a format other than YAML and JSON, a name given
 * twice, and lists of lists or mappings. NULL with the reason in why, else
 * the object (json_decref). Text that passed through is wiped: a flag file
 * may hold a passphrase.
 */
json_t *cmd_flag_file_read(const char *path, char *why, size_t n);

#endif
