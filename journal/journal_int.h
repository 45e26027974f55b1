/*
 * Internals of the journal, shared by its writer (journal.c), its checker
 * (verify.c) and the unit tests. No other module includes this header.
 */
#ifndef FULCRUM_JOURNAL_INT_H
#define FULCRUM_JOURNAL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/* File names: "<first seq, 16 digits>-<creation time, ms, 13+ digits>.jsonl",
 * so that names sort in chain order. The lock file is not a journal file. */
#define JOURNAL_SUFFIX ".jsonl"
#define JOURNAL_LOCK_NAME ".lock"
#define JOURNAL_HASH_LEN 32
/* A file's last complete line is searched for in its last bytes: at most
 * two lines' worth. */
#define JOURNAL_TAIL_BYTES (2 * JOURNAL_MAX_LINE)
/* Files grow by this much of zeros ahead of the records, so that a sync
 * need not write the file's size too (half the cost of an append). The
 * records end at the first NUL. */
#define JOURNAL_PREALLOC (1024 * 1024)

/* One file of the journal directory. */
struct journal_file {
	char *name;	    /* within the directory */
	uint64_t first_seq; /* from the name */
	int64_t created_ms; /* from the name */
};

/* The journal files of dir in chain order: FC_OK with *out (free with
 * journal_files_free) and *n, else FC_ENOTFOUND / FC_EIO with the reason. */
enum fc_status journal_files_list(const char *dir, struct journal_file **out, size_t *n,
				  struct fc_err *err);
void journal_files_free(struct journal_file *f, size_t n);
/* Parse a journal file name; false if name is not one. */
bool journal_file_name_parse(const char *name, uint64_t *first_seq, int64_t *created_ms);

/* SHA-256 of a record line (without its newline). */
void journal_line_hash(const char *line, size_t len, uint8_t out[JOURNAL_HASH_LEN]);
/* Lower-case hex into out (2 * n + 1 bytes). */
void journal_hex(const uint8_t *in, size_t n, char *out);
/* Strict lower-case hex of exactly n bytes (2 * n characters). */
bool journal_unhex(const char *s, uint8_t *out, size_t n);
/* Milliseconds since the epoch (wall clock). */
int64_t journal_now_ms(void);

/* The records, "seq" and "prev" first with placeholder values, which the
 * writer sets. */
json_t *journal_intent_json(const struct journal_intent *r);
json_t *journal_outcome_json(const struct journal_outcome *r);
const char *journal_kind_name(enum journal_kind k);

#endif /* FULCRUM_JOURNAL_INT_H */
