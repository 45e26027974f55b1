/*
 * The log's signed tree head as a checkpoint (c2sp.org/tlog-checkpoint)
 * signed with an RFC 6962 note signature (c2sp.org/static-ct-api
 * "Checkpoints", c2sp.org/signed-note):
 *
 *   <origin>\n<size>\n<base64 root hash>\n
 *   \n
 *   — <origin> <base64(key ID (4) || timestamp (8) || TreeHeadSignature)>\n
 *
 * where the TreeHeadSignature is the RFC 6962 3.5 DigitallySigned over
 * version 0, signature_type tree_hash (1), timestamp, tree_size, root.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlog_srv_int.h"

#define NOTE_DASH "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_TYPE_RFC6962 0x05
#define MAX_NOTE 4096

/* First four bytes of SHA-256(origin || 0x0A || 0x05 || LogID). */
uint32_t ctlog_note_key_id(const char *origin, const uint8_t log_id[CTLOG_HASH_LEN])
{
	uint8_t h[CTLOG_HASH_LEN];
	struct fc_buf b;
	struct fc_rd r;
	uint32_t kid = 0;

	fc_buf_init(&b, 0);
	fc_buf_append_str(&b, origin);
	fc_buf_put_u8(&b, 0x0a);
	fc_buf_put_u8(&b, SIG_TYPE_RFC6962);
	fc_buf_append(&b, log_id, CTLOG_HASH_LEN);
	ctlog_sha256(b.data, b.len, h);
	fc_buf_free(&b);
	fc_rd_init(&r, h, sizeof(h));
	fc_rd_u32(&r, &kid);
	return kid;
}

/* RFC 6962 3.5 TreeHeadSignature input (50 bytes) into out: version v1,
 * signature_type tree_hash, timestamp, tree_size, sha256_root_hash. */
static void tree_head_input(uint64_t ts, uint64_t size, const uint8_t root[CTLOG_HASH_LEN],
			    struct fc_buf *out)
{
	fc_buf_put_u8(out, 0); /* v1 */
	fc_buf_put_u8(out, 1); /* tree_hash */
	fc_buf_put_u64(out, ts);
	fc_buf_put_u64(out, size);
	fc_buf_append(out, root, CTLOG_HASH_LEN);
}

static char *note_body(const char *origin, uint64_t size, const uint8_t root[CTLOG_HASH_LEN])
{
	char *r = fc_b64_encode(root, CTLOG_HASH_LEN);
	char *b = fc_xasprintf("%s\n%llu\n%s\n", origin, (unsigned long long)size, r);

	free(r);
	return b;
}

/*
 * Sign the checkpoint for (size, root) at ts_ms with the log key. Returns
 * FC_OK and *note (caller frees), or FC_EHSM with the reason in err.
 */
enum fc_status ctlog_checkpoint_sign(struct hsm_signer *signer, const char *origin,
				     const uint8_t log_id[CTLOG_HASH_LEN], uint64_t size,
				     const uint8_t root[CTLOG_HASH_LEN], uint64_t ts_ms,
				     char **note, size_t *note_len, struct fc_err *err)
{
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct fc_buf thi, b, out;
	char *body = NULL, *b64 = NULL;
	enum fc_status st;

	fc_buf_init(&thi, 0);
	tree_head_input(ts_ms, size, root, &thi);
	body = note_body(origin, size, root);
	/* A signer process checks the tree head against the note's body. */
	st = hsm_sign_ctx(signer, thi.data, thi.len,
			  &(struct hsm_sign_ctx){.kind = HSM_SIGN_CHECKPOINT, .note = body}, &sig,
			  &sig_len, err);
	fc_buf_free(&thi);
	if (st != FC_OK) {
		free(body);
		return st;
	}
	fc_buf_init(&b, 0);
	/* the signature: key ID, timestamp, TreeHeadSignature */
	fc_buf_put_u32(&b, ctlog_note_key_id(origin, log_id));
	fc_buf_put_u64(&b, ts_ms);
	if ((st = ct_digitally_signed_encode(CT_HASH_SHA256, CT_SIG_ECDSA, sig, sig_len, &b)) !=
	    FC_OK) {
		free(sig);
		free(body);
		fc_buf_free(&b);
		return fc_err_set(err, st, "ctlog: checkpoint signature too long");
	}
	b64 = fc_b64_encode(b.data, b.len);
	fc_buf_init(&out, 0);
	fc_buf_append_str(&out, body);
	fc_buf_append_str(&out, "\n" NOTE_DASH);
	fc_buf_append_str(&out, origin);
	fc_buf_append_str(&out, " ");
	fc_buf_append_str(&out, b64);
	fc_buf_append_str(&out, "\n");
	*note = fc_buf_steal(&out, note_len);
	free(body);
	free(b64);
	free(sig);
	fc_buf_free(&b);
	return FC_OK;
}

/* Next line of s (up to '\n', which must be there); advances *p. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return false;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return true;
}

/*
 * The bytes of one signature line: the key ID, the timestamp and the
 * TreeHeadSignature, a DigitallySigned (ECDSA, SHA-256) over the RFC 6962
 * 3.5 input for (timestamp, size, root) that must verify with pub.
 * FC_ENOTFOUND when the line is not this log's (too short, another key
 * ID); FC_EINPUT with the reason when it is but does not verify.
 */
static enum fc_status check_note_sig(const uint8_t *sb, size_t sb_len, uint32_t kid, EVP_PKEY *pub,
				     uint64_t size, const uint8_t root[CTLOG_HASH_LEN],
				     uint64_t *ts, struct fc_err *err)
{
	struct fc_rd r;
	uint32_t got = 0;
	uint64_t t = 0;
	uint8_t h = 0, a = 0, *sig = NULL;
	size_t sig_len = 0;
	struct fc_buf thi;
	EVP_MD_CTX *c = NULL;
	enum fc_status st = FC_EINPUT;

	fc_rd_init(&r, sb, sb_len);
	if (sb_len < 4 + 8 + 4 || !fc_rd_u32(&r, &got) || got != kid || !fc_rd_u64(&r, &t))
		return FC_ENOTFOUND;
	if (ct_digitally_signed_parse(sb + r.off, fc_rd_left(&r), &h, &a, &sig, &sig_len, NULL) !=
		    FC_OK ||
	    h != CT_HASH_SHA256 || a != CT_SIG_ECDSA) {
		free(sig);
		return fc_err_set(err, FC_EINPUT, "checkpoint: malformed TreeHeadSignature");
	}
	fc_buf_init(&thi, 0);
	tree_head_input(t, size, root, &thi);
	if ((c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(c, sig, sig_len, thi.data, thi.len) != 1)
		fc_err_set(err, FC_EINPUT, "checkpoint: the log's signature does not verify");
	else
		st = FC_OK;
	ERR_clear_error();
	EVP_MD_CTX_free(c);
	fc_buf_free(&thi);
	free(sig);
	if (st == FC_OK)
		*ts = t;
	return st;
}

/*
 * Parse a checkpoint and check the log's RFC 6962 note signature with pub
 * (other signature lines are ignored, as c2sp.org/signed-note asks).
 * FC_EINPUT with the reason in err.
 */
enum fc_status ctlog_checkpoint_verify(const char *note, size_t len, const char *origin,
				       EVP_PKEY *pub, const uint8_t log_id[CTLOG_HASH_LEN],
				       uint64_t *size, uint8_t root[CTLOG_HASH_LEN],
				       uint64_t *ts_ms, struct fc_err *err)
{
	const char *p = note, *end = note + len, *line;
	size_t llen, prefix_len = strlen(NOTE_DASH) + strlen(origin) + 1;
	uint64_t sz = 0, ts = 0;
	uint8_t *rh = NULL, *sb = NULL;
	size_t rh_len = 0, sb_len = 0;
	uint32_t kid = ctlog_note_key_id(origin, log_id);
	bool found = false;
	enum fc_status st = FC_EINPUT;

	if (len > MAX_NOTE || memchr(note, '\0', len) != NULL)
		return fc_err_set(err, FC_EINPUT, "checkpoint: too long or not text");
	if (!next_line(&p, end, &line, &llen) || llen != strlen(origin) ||
	    memcmp(line, origin, llen) != 0)
		return fc_err_set(err, FC_EINPUT, "checkpoint: origin line is not \"%s\"", origin);
	if (!next_line(&p, end, &line, &llen) || !parse_u64(line, llen, &sz))
		return fc_err_set(err, FC_EINPUT, "checkpoint: bad tree size line");
	if (!next_line(&p, end, &line, &llen) || !fc_b64_decode_any(line, llen, &rh, &rh_len) ||
	    rh_len != CTLOG_HASH_LEN) {
		fc_err_set(err, FC_EINPUT, "checkpoint: bad root hash line");
		goto out;
	}
	if (!next_line(&p, end, &line, &llen) || llen != 0) {
		fc_err_set(err, FC_EINPUT,
			   "checkpoint: extension lines are not allowed "
			   "(static-ct-api)");
		goto out;
	}
	while (!found && next_line(&p, end, &line, &llen)) {
		if (llen <= prefix_len || memcmp(line, NOTE_DASH, strlen(NOTE_DASH)) != 0 ||
		    memcmp(line + strlen(NOTE_DASH), origin, strlen(origin)) != 0 ||
		    line[prefix_len - 1] != ' ')
			continue;
		free(sb);
		sb = NULL;
		if (!fc_b64_decode_any(line + prefix_len, llen - prefix_len, &sb, &sb_len))
			continue;
		st = check_note_sig(sb, sb_len, kid, pub, sz, rh, &ts, err);
		if (st == FC_ENOTFOUND)
			continue;
		if (st != FC_OK)
			goto out;
		found = true;
	}
	st = FC_EINPUT;
	if (!found) {
		fc_err_set(err, FC_EINPUT, "checkpoint: no signature by this log's key");
		goto out;
	}
	*size = sz;
	memcpy(root, rh, CTLOG_HASH_LEN);
	*ts_ms = ts;
	st = FC_OK;
out:
	free(rh);
	free(sb);
	return st;
}
