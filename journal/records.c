/*
 * What the journal's writer and checker share: file names, the line hash
 * that chains records, hex, and the JSON of intent and outcome records.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <openssl/evp.h>

#include "journal_int.h"

/*
 * Parse "<16 digits>-<digits>.jsonl" into the first sequence number and the
 * creation time. Returns false for any other name.
 */
bool journal_file_name_parse(const char *name, uint64_t *first_seq, int64_t *created_ms)
{
	size_t len = strlen(name), slen = strlen(JOURNAL_SUFFIX), i;
	uint64_t seq = 0;
	int64_t ms = 0;

	if (len < 16 + 1 + 1 + slen || len > 16 + 1 + 19 + slen || name[16] != '-' ||
	    strcmp(name + len - slen, JOURNAL_SUFFIX) != 0)
		return false;
	for (i = 0; i < 16; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	}
	for (i = 17; i < len - slen; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		ms = ms * 10 + (name[i] - '0');
	}
	*first_seq = seq;
	*created_ms = ms;
	return true;
}

static int file_cmp(const void *a, const void *b)
{
	const struct journal_file *x = a, *y = b;

	if (x->first_seq != y->first_seq)
		return x->first_seq < y->first_seq ? -1 : 1;
	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * The journal files of dir sorted by first sequence number, then creation
 * time (journal_int.h). Returns FC_OK with *out and *n (free with
 * journal_files_free), FC_ENOTFOUND when dir does not exist, else FC_EIO;
 * the reason in err.
 */
enum fc_status journal_files_list(const char *dir, struct journal_file **out, size_t *n,
				  struct fc_err *err)
{
	struct journal_file *files = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return fc_err_set(err, errno == ENOENT ? FC_ENOTFOUND : FC_EIO, "journal: %s: %s",
				  dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		int64_t ms;

		if (!journal_file_name_parse(de->d_name, &seq, &ms))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			files = fc_xrealloc(files, cap * sizeof(*files));
		}
		files[count].name = fc_xstrdup(de->d_name);
		files[count].first_seq = seq;
		files[count].created_ms = ms;
		count++;
	}
	closedir(d);
	if (count > 0)
		qsort(files, count, sizeof(*files), file_cmp);
	*out = files;
	*n = count;
	return FC_OK;
}

/* Free what journal_files_list returned. */
void journal_files_free(struct journal_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].name);
	free(f);
}

static EVP_MD *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256 of one record line, without its newline: what the next record's
 * "prev" holds (the digest fetched once). */
void journal_line_hash(const char *line, size_t len, uint8_t out[JOURNAL_HASH_LEN])
{
	pthread_once(&md_once, md_fetch);
	if (EVP_Digest(line, len, out, NULL, md_sha256 ? md_sha256 : EVP_sha256(), NULL) != 1)
		abort(); /* a digest of memory cannot fail but for lack of memory */
}

/* Lower-case hex of in[0..n) into out, NUL-terminated. */
void journal_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode exactly 2 * n lower-case hex digits of s into out; false for
 * anything else (upper case, odd length, other characters). */
bool journal_unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Milliseconds since the epoch, from the wall clock (fc_now_ms). */
int64_t journal_now_ms(void)
{
	return fc_now_ms();
}

/* "precert" or "cert". */
const char *journal_kind_name(enum journal_kind k)
{
	return k == JOURNAL_PRECERT ? "precert" : "cert";
}

/* A string field, cut to JOURNAL_MAX_TEXT; invalid UTF-8 (which JSON
 * cannot carry) is replaced by its hex with a "hex:" prefix. */
static json_t *text(const char *s)
{
	size_t len = s ? strnlen(s, JOURNAL_MAX_TEXT) : 0;
	json_t *v = json_stringn(s ? s : "", len);
	char *hex;

	if (v != NULL)
		return v;
	hex = fc_xmalloc(4 + 2 * len + 1);
	memcpy(hex, "hex:", 4);
	journal_hex((const uint8_t *)s, len, hex + 4);
	v = json_string(hex);
	free(hex);
	return v;
}

/* The hex of a byte string as a JSON string (ASCII: no UTF-8 check). */
static json_t *hexj(const uint8_t *p, size_t n)
{
	char buf[2 * JOURNAL_MAX_TEXT + 1];
	size_t m = n < JOURNAL_MAX_TEXT ? n : JOURNAL_MAX_TEXT;

	journal_hex(p, m, buf);
	return json_stringn_nocheck(buf, 2 * m);
}

/* Set key (a literal of this file: valid UTF-8) to v in o. */
static void put(json_t *o, const char *key, json_t *v)
{
	json_object_set_new_nocheck(o, key, v);
}

/* A new record with its placeholder "seq" and "prev", type and time, in
 * that order. Built key by key rather than with json_pack: a record is
 * made twice per certificate, and the format parsing showed. */
static json_t *record(const char *type)
{
	json_t *o = json_object();

	put(o, "seq", json_integer(0));
	put(o, "prev", json_stringn_nocheck("", 0));
	put(o, "type", json_string_nocheck(type));
	put(o, "t", json_integer((json_int_t)journal_now_ms()));
	return o;
}

/*
 * The body of an intent record (journal_int.h): type, time, kind, serial,
 * identity, issuer, token id, hashes and key. Caller owns the result.
 */
json_t *journal_intent_json(const struct journal_intent *r)
{
	size_t slen = r->serial_len < JOURNAL_MAX_SERIAL ? r->serial_len : JOURNAL_MAX_SERIAL;
	json_t *o = record("intent");

	put(o, "kind", json_string_nocheck(journal_kind_name(r->kind)));
	put(o, "serial", hexj(r->serial, slen));
	put(o, "san", text(r->san));
	put(o, "san_type", text(r->san_type));
	put(o, "issuer", text(r->issuer));
	put(o, "token", text(r->token_id));
	put(o, "spki_sha256", hexj(r->spki_sha256, 32));
	put(o, "tbs_sha256", hexj(r->tbs_sha256, 32));
	put(o, "key", json_integer((json_int_t)r->key_id));
	return o;
}

/* The SCTs of an outcome: [{"log_id": hex, "timestamp": ms}, ...]. */
static json_t *scts_json(const struct journal_outcome *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < r->n_scts && i < JOURNAL_MAX_SCTS; i++) {
		json_t *sct = json_object();
		put(sct, "log_id", hexj(r->scts[i].log_id, 32));
		put(sct, "timestamp", json_integer((json_int_t)r->scts[i].timestamp));
		json_array_append_new(arr, sct);
	}
	return arr;
}

/*
 * The body of an outcome record (journal_int.h): the intent it answers,
 * kind, serial, and the certificate's hash and SCTs, or the error. Caller
 * owns the result.
 */
json_t *journal_outcome_json(const struct journal_outcome *r)
{
	size_t slen = r->serial_len < JOURNAL_MAX_SERIAL ? r->serial_len : JOURNAL_MAX_SERIAL;
	json_t *o = record("outcome");

	put(o, "intent", json_integer((json_int_t)r->intent_seq));
	put(o, "kind", json_string_nocheck(journal_kind_name(r->kind)));
	put(o, "serial", hexj(r->serial, slen));
	put(o, "ok", json_boolean(r->ok));
	if (r->ok) {
		put(o, "cert_sha256", hexj(r->cert_sha256, 32));
		if (r->kind == JOURNAL_CERT && r->n_scts > 0)
			put(o, "scts", scts_json(r));
	} else {
		put(o, "error", text(r->error ? r->error : "failed"));
	}
	return o;
}
