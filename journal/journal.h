/*
 * journal: the issuance journal. Before a certificate is signed an intent
 * record says what is about to be signed (serial, identity, issuer, token
 * id, key); after signing an outcome record says what came of it (the
 * signed certificate's hash and SCTs, or the failure). Records are JSON
 * lines, each carrying the SHA-256 of the line before it, in files named
 * by the sequence number of their first record and grown ahead with zeros
 * (the records end at the first NUL); a crash leaves at worst a torn last
 * line, never a gap.
 *
 * Appending is asynchronous: one thread writes every record queued since
 * its last write with one write() and one fdatasync() (group commit), then
 * calls each record's completion. A journal is safe to use from many
 * threads at once.
 */
#ifndef FULCRUM_JOURNAL_H
#define FULCRUM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

/* Where `fulcrum serve` keeps its journal unless told otherwise. */
#define JOURNAL_DEFAULT_DIR "/var/lib/fulcrum/journal"
/* A new file is started past this size, at each UTC day and at each open. */
#define JOURNAL_MAX_FILE_BYTES (64 * 1024 * 1024)
/* The longest record line (verify refuses longer ones). */
#define JOURNAL_MAX_LINE (64 * 1024)
/* Field limits, checked by the writer and by verify. */
#define JOURNAL_MAX_SERIAL 20 /* bytes (RFC 5280 4.1.2.2) */
#define JOURNAL_MAX_TEXT 4096 /* SAN, issuer, error text */
#define JOURNAL_MAX_TOKEN_ID 64
#define JOURNAL_MAX_SCTS 8

enum journal_kind {
	JOURNAL_PRECERT = 1, /* a precertificate (CT poison) */
	JOURNAL_CERT = 2,    /* a certificate a client receives */
};

/* What is about to be signed. Strings are copied. */
struct journal_intent {
	enum journal_kind kind;
	const uint8_t *serial; /* the certificate's serial number, big-endian */
	size_t serial_len;
	const char *san;	 /* the identity: the SubjectAltName value */
	const char *san_type;	 /* "email", "uri" or "username" */
	const char *issuer;	 /* the OIDC issuer URL from the certificate ("" if none) */
	const char *token_id;	 /* the identity token's id (never the token) */
	uint8_t spki_sha256[32]; /* SHA-256 of the subject's SubjectPublicKeyInfo */
	uint8_t tbs_sha256[32];	 /* SHA-256 of the TBSCertificate */
	uint32_t key_id;	 /* which CA key generation signs */
};

struct journal_sct {
	uint8_t log_id[32];
	uint64_t timestamp; /* milliseconds since the epoch */
};

/* What came of an intent. Strings and arrays are copied. */
struct journal_outcome {
	uint64_t intent_seq; /* the intent's sequence number */
	enum journal_kind kind;
	const uint8_t *serial;
	size_t serial_len;
	bool ok;
	uint8_t cert_sha256[32];	/* ok: SHA-256 of the signed certificate's DER */
	const struct journal_sct *scts; /* ok, JOURNAL_CERT through a CT log: its SCTs */
	size_t n_scts;
	const char *error; /* !ok: why nothing was signed */
};

/* How long an append waits before its completion is called. */
enum journal_wait {
	JOURNAL_WRITTEN = 1, /* in the file (survives the process, not a power loss) */
	JOURNAL_DURABLE = 2, /* fdatasync'd */
};

/* A record's completion, on the journal's thread: st FC_OK with the
 * record's sequence number, or FC_EIO (the journal failed; nothing more
 * will be written). Keep it short: the next batch waits for it. */
typedef void (*journal_done_fn)(void *arg, enum fc_status st, uint64_t seq);

struct journal;

/*
 * Open the journal in dir: create it (mode 0700, and its parents) if
 * absent, lock it (one writer per directory), find the last record of the
 * newest file and start a new file that continues the chain with an
 * "open" record, made durable before this returns. FC_OK with *out (free
 * with journal_close), else FC_ECONFIG / FC_EIO with the reason in err
 * (FC_EUNAVAIL when another process holds the lock).
 */
enum fc_status journal_open(const char *dir, struct journal **out, struct fc_err *err);

/* Write everything queued, stop the thread, close. NULL is fine. */
void journal_close(struct journal *j);

/* Call fn(arg) on the journal's thread after the completions of each
 * batch (e.g. to send the answers they queued at once). Set it before the
 * first append. */
void journal_on_batch(struct journal *j, void (*fn)(void *arg), void *arg);

/* Queue an intent (made durable before done is called) or an outcome
 * (written or durable, as w says). done is called exactly once. */
void journal_append_intent(struct journal *j, const struct journal_intent *r, journal_done_fn done,
			   void *arg);
void journal_append_outcome(struct journal *j, const struct journal_outcome *r, enum journal_wait w,
			    journal_done_fn done, void *arg);

/* What journal_verify found. */
struct journal_report {
	uint64_t files;
	uint64_t records;
	uint64_t intents;
	uint64_t outcomes;
	uint64_t failures;     /* outcomes with ok false */
	uint64_t open_intents; /* intents without an outcome */
	uint64_t torn_tails;   /* files ending in an incomplete line */
	uint64_t first_seq;    /* of the oldest record present */
	bool intact;	       /* the chain and every record are valid */
};

/*
 * Check the journal in dir: every file in order, every line a record of a
 * known type with valid fields, sequence numbers consecutive, each record's
 * prev the SHA-256 of the line before it (across files), each outcome
 * answering an earlier intent of the same kind and serial once. A torn
 * last line of a file (a crash while writing) is reported, not an error.
 * Findings and every intent without an outcome are printed to out. FC_OK
 * with *rep filled (rep->intact says whether the chain holds), else
 * FC_EIO / FC_ENOTFOUND when the directory cannot be read.
 */
enum fc_status journal_verify(const char *dir, FILE *out, struct journal_report *rep,
			      struct fc_err *err);

#endif /* FULCRUM_JOURNAL_H */
