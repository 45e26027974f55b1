/*
 * fulcrum journal verify DIR: check an issuance journal (journal/): the
 * hash chain across files, every record's fields, every outcome against
 * its intent; list the intents without an outcome.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "journal.h"

static void journal_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum journal verify DIR\n\n"
		"Checks the issuance journal in DIR (fulcrum serve --journal-dir, default %s):\n"
		"each record's link to the one before it (SHA-256, across files), its sequence\n"
		"number and fields, and that each outcome answers one earlier intent. Prints\n"
		"what it finds and every intent without an outcome (a crash between signing\n"
		"and recording, or a signature whose fate is unknown).\n\n"
		"Exit status: 0 the chain is intact, 1 it is not, 2 usage or unreadable files.\n",
		JOURNAL_DEFAULT_DIR);
}

/* fulcrum journal (see journal_usage). */
int cmd_journal_main(int argc, char **argv)
{
	struct journal_report rep;
	struct fc_err err = {0};

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		journal_usage(stdout);
		return CMD_EXIT_OK;
	}
	if (argc != 3 || strcmp(argv[1], "verify") != 0) {
		journal_usage(stderr);
		return CMD_EXIT_USAGE;
	}
	if (journal_verify(argv[2], stdout, &rep, &err) != FC_OK) {
		fprintf(stderr, "fulcrum journal: %s\n", err.msg);
		return CMD_EXIT_USAGE;
	}
	printf("%s: %llu file(s), %llu record(s) from %llu: %llu intent(s), %llu outcome(s) "
	       "(%llu failed), %llu intent(s) without an outcome, %llu torn tail(s): chain %s\n",
	       argv[2], (unsigned long long)rep.files, (unsigned long long)rep.records,
	       (unsigned long long)rep.first_seq, (unsigned long long)rep.intents,
	       (unsigned long long)rep.outcomes, (unsigned long long)rep.failures,
	       (unsigned long long)rep.open_intents, (unsigned long long)rep.torn_tails,
	       rep.intact ? "intact" : "BROKEN");
	return rep.intact ? CMD_EXIT_OK : CMD_EXIT_REFUSED;
}
