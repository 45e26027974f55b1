/*
 * The fulcrum subcommands. Each is a thin main over the module libraries:
 * it parses its own flags and returns the process exit status.
 */
#ifndef FULCRUM_CMD_H
#define FULCRUM_CMD_H

/* Exit statuses shared by the subcommands. */
enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_REFUSED = 1, /* the input was checked and refused */
	CMD_EXIT_USAGE = 2,   /* bad flags or configuration */
};

int cmd_token_main(int argc, char **argv);
int cmd_serve_main(int argc, char **argv);

#endif
