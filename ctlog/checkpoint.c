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
#include <openssl/sha.h>
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
	size_t olen = strlen(origin);
	uint8_t *buf = fc_xmalloc(olen + 2 + CTLOG_HASH_LEN);
	uint8_t h[CTLOG_HASH_LEN];

	memcpy(buf, origin, olen);
	buf[olen] = 0x0a;
	buf[olen + 1] = SIG_TYPE_RFC6962;
	memcpy(buf + olen + 2, log_id, CTLOG_HASH_LEN);
	SHA256(buf, olen + 2 + CTLOG_HASH_LEN, h);
	free(buf);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* RFC 6962 3.5 TreeHeadSignature input (50 bytes). */
static void tree_head_input(uint64_t ts, uint64_t size, const uint8_t root[CTLOG_HASH_LEN],
			    uint8_t out[50])
{
	out[0] = 0; /* v1 */
	out[1] = 1; /* tree_hash */
	for (int i = 0; i < 8; i++) {
		out[2 + i] = (uint8_t)(ts >> (56 - 8 * i));
		out[10 + i] = (uint8_t)(size >> (56 - 8 * i));
	}
	memcpy(out + 18, root, CTLOG_HASH_LEN);
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
				     const uint8_t root[CTLOG_HASH_LEN], uint64_t ts_ms, char **note,
				     size_t *note_len, struct fc_err *err)
{
	uint8_t thi[50];
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct fc_buf b, out;
	uint32_t kid = ctlog_note_key_id(origin, log_id);
	uint8_t kidb[4] = {(uint8_t)(kid >> 24), (uint8_t)(kid >> 16), (uint8_t)(kid >> 8),
			   (uint8_t)kid};
	char *body = NULL, *b64 = NULL;
	enum fc_status st;

	tree_head_input(ts_ms, size, root, thi);
	body = note_body(origin, size, root);
	/* A signer process checks the tree head against the note's body. */
	if ((st = hsm_sign_ctx(signer, thi, sizeof(thi),
			       &(struct hsm_sign_ctx){.kind = HSM_SIGN_CHECKPOINT, .note = body},
			       &sig, &sig_len, err)) != FC_OK) {
		free(body);
		return st;
	}
	fc_buf_init(&b, 0);
	fc_buf_append(&b, kidb, 4);
	for (int i = 0; i < 8; i++) {
		uint8_t c = (uint8_t)(ts_ms >> (56 - 8 * i));
		fc_buf_append(&b, &c, 1);
	}
	if ((st = ctlog_digitally_signed_encode(CTLOG_HASH_SHA256, CTLOG_SIG_ECDSA, sig, sig_len,
						&b)) != FC_OK) {
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
		fc_err_set(err, FC_EINPUT, "checkpoint: extension lines are not allowed "
					   "(static-ct-api)");
		goto out;
	}
	while (!found && next_line(&p, end, &line, &llen)) {
		uint8_t thi[50];
		const uint8_t *sig;
		size_t sig_len;
		EVP_MD_CTX *c;
		int ok;

		if (llen <= prefix_len || memcmp(line, NOTE_DASH, strlen(NOTE_DASH)) != 0 ||
		    memcmp(line + strlen(NOTE_DASH), origin, strlen(origin)) != 0 ||
		    line[prefix_len - 1] != ' ')
			continue;
		free(sb);
		sb = NULL;
		if (!fc_b64_decode_any(line + prefix_len, llen - prefix_len, &sb, &sb_len) ||
		    sb_len < 4 + 8 + 4)
			continue;
		if (((uint32_t)sb[0] << 24 | (uint32_t)sb[1] << 16 | (uint32_t)sb[2] << 8 | sb[3]) !=
		    kid)
			continue;
		for (int i = 0; i < 8; i++)
			ts = ts << 8 | sb[4 + i];
		if (sb[12] != CTLOG_HASH_SHA256 || sb[13] != CTLOG_SIG_ECDSA ||
		    (size_t)(sb[14] << 8 | sb[15]) != sb_len - 16) {
			fc_err_set(err, FC_EINPUT, "checkpoint: malformed TreeHeadSignature");
			goto out;
		}
		sig = sb + 16;
		sig_len = sb_len - 16;
		tree_head_input(ts, sz, rh, thi);
		if ((c = EVP_MD_CTX_new()) == NULL)
			goto out;
		ok = EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pub) == 1 &&
		     EVP_DigestVerify(c, sig, sig_len, thi, sizeof(thi)) == 1;
		EVP_MD_CTX_free(c);
		ERR_clear_error();
		if (!ok) {
			fc_err_set(err, FC_EINPUT, "checkpoint: the log's signature does not verify");
			goto out;
		}
		found = true;
	}
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
