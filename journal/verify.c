/*
 * `fulcrum journal verify`: read every file of a journal directory in
 * chain order and check each record: its sequence number, its link to the
 * line before it, its fields for its type, and that each outcome answers
 * one earlier intent. What is found is printed; intents left without an
 * outcome are listed at the end (a crash between the two records, or a
 * signature whose fate is unknown).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal_int.h"

/* An intent waiting for its outcome. */
struct pending {
	uint64_t seq;
	enum journal_kind kind;
	char serial[2 * JOURNAL_MAX_SERIAL + 1];
	char *san;
	char *file;
	bool used;
};

struct vstate {
	FILE *out;
	struct journal_report *rep;
	const char *file; /* the file being read */
	uint64_t line_no;
	bool have_prev; /* a record was read before this one */
	uint64_t next_seq;
	uint8_t prev[JOURNAL_HASH_LEN];
	struct pending *pend; /* open addressing by seq, pend_cap slots */
	size_t pend_cap, pend_n;
};

/* Report a broken record: the chain is not intact. */
static bool bad(struct vstate *v, const char *fmt, ...) FC_PRINTF(2, 3);
static bool bad(struct vstate *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(v->out, "BROKEN %s:%" PRIu64 ": ", v->file, v->line_no);
	va_start(ap, fmt);
	vfprintf(v->out, fmt, ap);
	va_end(ap);
	fputc('\n', v->out);
	v->rep->intact = false;
	return false;
}

/* --- the set of intents waiting for an outcome -------------------------------- */

static struct pending *pend_slot(struct vstate *v, uint64_t seq)
{
	size_t i = (size_t)(seq * 0x9e3779b97f4a7c15ULL) & (v->pend_cap - 1);

	while (v->pend[i].used && v->pend[i].seq != seq)
		i = (i + 1) & (v->pend_cap - 1);
	return &v->pend[i];
}

static void pend_grow(struct vstate *v)
{
	struct pending *old = v->pend;
	size_t old_cap = v->pend_cap;

	v->pend_cap = old_cap ? old_cap * 2 : 1024;
	v->pend = fc_xcalloc(v->pend_cap, sizeof(*v->pend));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*pend_slot(v, old[i].seq) = old[i];
	free(old);
}

static void pend_add(struct vstate *v, uint64_t seq, enum journal_kind kind, const char *serial,
		     const char *san)
{
	struct pending *p;

	if ((v->pend_n + 1) * 2 > v->pend_cap)
		pend_grow(v);
	p = pend_slot(v, seq);
	p->used = true;
	p->seq = seq;
	p->kind = kind;
	snprintf(p->serial, sizeof(p->serial), "%s", serial);
	p->san = fc_xstrdup(san);
	p->file = fc_xstrdup(v->file);
	v->pend_n++;
}

/* Remove seq from the set (backward-shift deletion keeps probing valid). */
static void pend_del(struct vstate *v, struct pending *p)
{
	size_t i = (size_t)(p - v->pend), j = i;

	free(p->san);
	free(p->file);
	memset(p, 0, sizeof(*p));
	v->pend_n--;
	for (;;) {
		size_t home;
		j = (j + 1) & (v->pend_cap - 1);
		if (!v->pend[j].used)
			return;
		home = (size_t)(v->pend[j].seq * 0x9e3779b97f4a7c15ULL) & (v->pend_cap - 1);
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			v->pend[i] = v->pend[j];
			memset(&v->pend[j], 0, sizeof(v->pend[j]));
			i = j;
		}
	}
}

/* --- fields --------------------------------------------------------------------- */

static bool str_field(json_t *rec, const char *key, size_t lo, size_t hi, const char **out)
{
	json_t *v = json_object_get(rec, key);

	if (!json_is_string(v) || json_string_length(v) < lo || json_string_length(v) > hi)
		return false;
	*out = json_string_value(v);
	return true;
}

static bool hex_field(json_t *rec, const char *key, size_t nbytes)
{
	const char *s;
	uint8_t buf[JOURNAL_MAX_SERIAL > 32 ? JOURNAL_MAX_SERIAL : 32];

	return nbytes <= sizeof(buf) && str_field(rec, key, 2 * nbytes, 2 * nbytes, &s) &&
	       journal_unhex(s, buf, nbytes);
}

static bool int_field(json_t *rec, const char *key, json_int_t lo, json_int_t *out)
{
	json_t *v = json_object_get(rec, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo)
		return false;
	if (out != NULL)
		*out = json_integer_value(v);
	return true;
}

/* True if rec has no key outside allowed (a NULL-terminated list). */
static bool only_keys(json_t *rec, const char *const *allowed)
{
	const char *key;
	json_t *val;

	json_object_foreach(rec, key, val)
	{
		bool known = false;
		(void)val;
		for (const char *const *a = allowed; *a != NULL && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known)
			return false;
	}
	return true;
}

static bool kind_field(json_t *rec, enum journal_kind *kind)
{
	const char *k;

	if (!str_field(rec, "kind", 1, 16, &k))
		return false;
	if (strcmp(k, "precert") == 0)
		*kind = JOURNAL_PRECERT;
	else if (strcmp(k, "cert") == 0)
		*kind = JOURNAL_CERT;
	else
		return false;
	return true;
}

/* An even number of hex digits, 1 to JOURNAL_MAX_SERIAL bytes. */
static bool serial_field(json_t *rec, const char **serial)
{
	uint8_t buf[JOURNAL_MAX_SERIAL];
	size_t len;

	if (!str_field(rec, "serial", 2, 2 * JOURNAL_MAX_SERIAL, serial))
		return false;
	len = strlen(*serial);
	return len % 2 == 0 && journal_unhex(*serial, buf, len / 2);
}

/* --- records ---------------------------------------------------------------------- */

static bool check_intent(struct vstate *v, json_t *rec, uint64_t seq)
{
	static const char *const keys[] = {
		"seq",	    "prev",   "type",  "t",	      "kind",	    "serial", "san",
		"san_type", "issuer", "token", "spki_sha256", "tbs_sha256", "key",    NULL};
	enum journal_kind kind;
	const char *serial, *san, *san_type, *s;

	if (!only_keys(rec, keys))
		return bad(v, "intent %" PRIu64 ": unknown field", seq);
	if (!kind_field(rec, &kind) || !serial_field(rec, &serial) ||
	    !str_field(rec, "san", 1, JOURNAL_MAX_TEXT, &san) ||
	    !str_field(rec, "san_type", 1, 16, &san_type) ||
	    (strcmp(san_type, "email") != 0 && strcmp(san_type, "uri") != 0 &&
	     strcmp(san_type, "username") != 0) ||
	    !str_field(rec, "issuer", 0, JOURNAL_MAX_TEXT, &s) ||
	    !str_field(rec, "token", 1, JOURNAL_MAX_TOKEN_ID, &s) ||
	    !hex_field(rec, "spki_sha256", 32) || !hex_field(rec, "tbs_sha256", 32) ||
	    !int_field(rec, "key", 0, NULL))
		return bad(v, "intent %" PRIu64 ": a field is missing or malformed", seq);
	v->rep->intents++;
	pend_add(v, seq, kind, serial, san);
	return true;
}

static bool check_scts(json_t *scts)
{
	size_t i;
	json_t *s;

	if (!json_is_array(scts) || json_array_size(scts) == 0 ||
	    json_array_size(scts) > JOURNAL_MAX_SCTS)
		return false;
	json_array_foreach(scts, i, s)
	{
		static const char *const keys[] = {"log_id", "timestamp", NULL};
		if (!json_is_object(s) || !only_keys(s, keys) || !hex_field(s, "log_id", 32) ||
		    !int_field(s, "timestamp", 0, NULL))
			return false;
	}
	return true;
}

static bool check_outcome(struct vstate *v, json_t *rec, uint64_t seq)
{
	static const char *const keys[] = {"seq",	  "prev", "type",   "t",
					   "intent",	  "kind", "serial", "ok",
					   "cert_sha256", "scts", "error",  NULL};
	enum journal_kind kind;
	const char *serial, *s;
	json_int_t intent;
	json_t *ok = json_object_get(rec, "ok"), *scts = json_object_get(rec, "scts");
	struct pending *p;

	if (!only_keys(rec, keys))
		return bad(v, "outcome %" PRIu64 ": unknown field", seq);
	if (!int_field(rec, "intent", 1, &intent) || !kind_field(rec, &kind) ||
	    !serial_field(rec, &serial) || !json_is_boolean(ok) ||
	    (json_is_true(ok) &&
	     (!hex_field(rec, "cert_sha256", 32) || json_object_get(rec, "error") != NULL ||
	      (scts != NULL && (kind != JOURNAL_CERT || !check_scts(scts))))) ||
	    (json_is_false(ok) && (!str_field(rec, "error", 1, JOURNAL_MAX_TEXT, &s) ||
				   json_object_get(rec, "cert_sha256") != NULL || scts != NULL)))
		return bad(v, "outcome %" PRIu64 ": a field is missing or malformed", seq);
	p = v->pend_cap ? pend_slot(v, (uint64_t)intent) : NULL;
	if (p == NULL || !p->used)
		return bad(v,
			   "outcome %" PRIu64 " answers intent %lld, which is not an earlier "
			   "intent still waiting for its outcome",
			   seq, (long long)intent);
	if (p->kind != kind || strcmp(p->serial, serial) != 0)
		return bad(v, "outcome %" PRIu64 ": kind or serial differ from intent %lld", seq,
			   (long long)intent);
	pend_del(v, p);
	v->rep->outcomes++;
	if (json_is_false(ok))
		v->rep->failures++;
	return true;
}

static bool check_open(struct vstate *v, json_t *rec, uint64_t seq)
{
	static const char *const keys[] = {"seq", "prev", "type", "t", "pid", "version", NULL};
	const char *s;

	if (!only_keys(rec, keys) || !int_field(rec, "pid", 1, NULL) ||
	    !str_field(rec, "version", 1, 16, &s))
		return bad(v, "open record %" PRIu64 ": a field is missing or malformed", seq);
	return true;
}

/* One complete line: the chain link, then the fields of its type. */
static bool check_line(struct vstate *v, const char *line, size_t len)
{
	uint8_t prev[JOURNAL_HASH_LEN];
	const char *prev_hex, *type;
	json_int_t seq;
	json_t *rec;
	bool ok = false;

	v->line_no++;
	v->rep->records++;
	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(rec)) {
		bad(v, "not a JSON object");
		goto out;
	}
	if (!int_field(rec, "seq", 1, &seq) || !str_field(rec, "prev", 64, 64, &prev_hex) ||
	    !journal_unhex(prev_hex, prev, sizeof(prev)) || !int_field(rec, "t", 1, NULL) ||
	    !str_field(rec, "type", 1, 16, &type)) {
		bad(v, "seq, prev, t or type missing or malformed");
		goto out;
	}
	if (!v->have_prev) {
		v->rep->first_seq = (uint64_t)seq;
		if (seq == 1 && memcmp(prev, (uint8_t[JOURNAL_HASH_LEN]){0}, sizeof(prev)) != 0) {
			bad(v, "the first record's prev is not zero");
			goto out;
		}
		if (seq != 1)
			fprintf(v->out,
				"note: the journal starts at record %lld (older files are "
				"absent): its link to them is not checked\n",
				(long long)seq);
	} else if ((uint64_t)seq != v->next_seq) {
		bad(v, "record %lld where %" PRIu64 " was expected", (long long)seq, v->next_seq);
		goto out;
	} else if (memcmp(prev, v->prev, sizeof(prev)) != 0) {
		bad(v, "record %lld: prev is not the hash of record %" PRIu64, (long long)seq,
		    v->next_seq - 1);
		goto out;
	}
	if (strcmp(type, "intent") == 0)
		ok = check_intent(v, rec, (uint64_t)seq);
	else if (strcmp(type, "outcome") == 0)
		ok = check_outcome(v, rec, (uint64_t)seq);
	else if (strcmp(type, "open") == 0)
		ok = check_open(v, rec, (uint64_t)seq);
	else
		bad(v, "record %lld: unknown type \"%s\"", (long long)seq, type);
out:
	/* Go on from this record whatever it held, to report what follows. */
	v->have_prev = true;
	v->next_seq = (json_is_integer(json_object_get(rec, "seq"))
			       ? (uint64_t)json_integer_value(json_object_get(rec, "seq"))
			       : v->next_seq) +
		      1;
	journal_line_hash(line, len, v->prev);
	json_decref(rec);
	return ok;
}

/* Every line of one file; a last line without its newline is a torn tail. */
static enum fc_status check_file(struct vstate *v, const char *dir, const char *name,
				 struct fc_err *err)
{
	char *path = fc_xasprintf("%s/%s", dir, name);
	char *text = NULL;
	size_t len = 0, off = 0;
	enum fc_status st;

	st = fc_read_file(path,
			  (size_t)JOURNAL_MAX_FILE_BYTES + 4 * JOURNAL_MAX_LINE + JOURNAL_PREALLOC,
			  &text, &len, err);
	free(path);
	if (st != FC_OK)
		return st;
	while (len > 0 && text[len - 1] == '\0')
		len--; /* the zeros ahead of the records */
	v->file = name;
	v->line_no = 0;
	v->rep->files++;
	while (off < len) {
		char *nl = memchr(text + off, '\n', len - off);
		if (nl == NULL) {
			fprintf(v->out,
				"note: %s ends in a torn record of %zu bytes (a crash while "
				"writing; it was never acknowledged)\n",
				name, len - off);
			v->rep->torn_tails++;
			break;
		}
		if ((size_t)(nl - (text + off)) > JOURNAL_MAX_LINE)
			bad(v, "a line longer than %d bytes", JOURNAL_MAX_LINE);
		else
			check_line(v, text + off, (size_t)(nl - (text + off)));
		off = (size_t)(nl - text) + 1;
	}
	free(text);
	return FC_OK;
}

/* List, and free, the intents left without an outcome. */
static void report_open(struct vstate *v)
{
	for (size_t i = 0; i < v->pend_cap; i++) {
		struct pending *p = &v->pend[i];
		if (!p->used)
			continue;
		fprintf(v->out,
			"intent without outcome: record %" PRIu64 " (%s) %s serial %s san %s\n",
			p->seq, p->file, journal_kind_name(p->kind), p->serial, p->san);
		free(p->san);
		free(p->file);
	}
	v->rep->open_intents = v->pend_n;
	free(v->pend);
}

/*
 * Check the journal in dir (journal.h). Returns FC_OK with *rep (intact
 * or not), else FC_ENOTFOUND / FC_EIO when a file cannot be read, with
 * the reason in err.
 */
enum fc_status journal_verify(const char *dir, FILE *out, struct journal_report *rep,
			      struct fc_err *err)
{
	struct vstate v = {.out = out, .rep = rep};
	struct journal_file *files = NULL;
	size_t n = 0;
	enum fc_status st;

	memset(rep, 0, sizeof(*rep));
	rep->intact = true;
	if ((st = journal_files_list(dir, &files, &n, err)) != FC_OK)
		return st;
	for (size_t i = 0; i < n && st == FC_OK; i++)
		st = check_file(&v, dir, files[i].name, err);
	report_open(&v);
	journal_files_free(files, n);
	return st;
}
