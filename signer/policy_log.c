/*
 * What the log's signer (`fulcrum ctlog`) agrees to sign: an SCT's signed
 * data (RFC 6962 3.2) and the tree head of a checkpoint (RFC 6962 3.5 in
 * c2sp.org/signed-note form) of its own origin, each with a timestamp near
 * now. Nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer_int.h"

static bool ts_near(uint64_t ts, int64_t now_ms)
{
	int64_t t = (int64_t)ts;

	return ts <= INT64_MAX && t >= now_ms - SIGNER_SKEW_PAST_S * 1000 &&
	       t <= now_ms + SIGNER_SKEW_FUTURE_S * 1000;
}

/* One DER SEQUENCE exactly: a certificate or a TBSCertificate. */
static bool one_sequence(const uint8_t *p, size_t n)
{
	struct fc_rd r;
	struct der d;

	fc_rd_init(&r, p, n);
	return der_expect(&r, DER_SEQUENCE, &d) && fc_rd_done(&r);
}

/*
 * An SCT's signed data (signer_int.h): version v1, signature_type
 * certificate_timestamp, a timestamp near now_ms, an x509_entry (a
 * certificate) or a precert_entry (issuer key hash and a TBSCertificate),
 * then CtExtensions made of whole (type, length, value) entries, and
 * nothing after. SIGNER_OK, or SIGNER_REFUSE_SCT / _TIMESTAMP with why.
 */
enum signer_refusal sg_check_sct(const uint8_t *msg, size_t len, int64_t now_ms, char *why,
				 size_t why_len)
{
	struct fc_rd r, e;
	uint8_t version, type, etype;
	uint16_t entry_type;
	uint64_t ts;
	const uint8_t *b, *exts;
	size_t bl, exts_len;

	fc_rd_init(&r, msg, len);
	if (!fc_rd_u8(&r, &version) || version != 0 || !fc_rd_u8(&r, &type) || type != 0 ||
	    !fc_rd_u64(&r, &ts) || !fc_rd_u16(&r, &entry_type))
		return sg_refuse(SIGNER_REFUSE_SCT, why, why_len,
				 "not v1 certificate_timestamp signed data");
	if (entry_type == 1 && !fc_rd_bytes(&r, 32, &b))
		return sg_refuse(SIGNER_REFUSE_SCT, why, why_len, "no issuer key hash");
	if (entry_type > 1 || !fc_rd_vec(&r, 3, 1, (1u << 24) - 1, &b, &bl) || !one_sequence(b, bl))
		return sg_refuse(SIGNER_REFUSE_SCT, why, why_len,
				 "an entry that is not one DER certificate or TBSCertificate");
	if (!fc_rd_vec(&r, 2, 0, 65535, &exts, &exts_len) || !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_SCT, why, why_len,
				 "malformed extensions or trailing bytes");
	fc_rd_init(&e, exts, exts_len);
	while (!fc_rd_done(&e))
		if (!fc_rd_u8(&e, &etype) || !fc_rd_vec(&e, 2, 0, 65535, &b, &bl))
			return sg_refuse(SIGNER_REFUSE_SCT, why, why_len,
					 "a malformed CT extension");
	if (!ts_near(ts, now_ms))
		return sg_refuse(SIGNER_REFUSE_TIMESTAMP, why, why_len,
				 "the SCT timestamp is %lld ms away from now",
				 (long long)((int64_t)ts - now_ms));
	return SIGNER_OK;
}

/* The next line of the note (up to its '\n'), as a NUL-terminated copy in
 * out (n bytes); false when there is none or it is too long. */
static bool note_line(const char **p, char *out, size_t n)
{
	const char *nl = strchr(*p, '\n');
	size_t len;

	if (nl == NULL || (len = (size_t)(nl - *p)) >= n)
		return false;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p = nl + 1;
	return true;
}

/*
 * A checkpoint (signer_int.h): msg is the 50-byte tree head (version 0,
 * signature_type tree_hash, timestamp near now_ms, tree size, root hash)
 * and note its body: the configured origin, the same tree size in decimal,
 * the same root hash in base64, one per line, and nothing else.
 */
enum signer_refusal sg_check_checkpoint(const char *origin, const uint8_t *msg, size_t len,
					const char *note, int64_t now_ms, char *why, size_t why_len)
{
	char line1[HSM_SIGN_MAX_NOTE + 1], line2[32], line3[64], want[32];
	const char *p = note;
	const uint8_t *root;
	uint8_t version, type;
	uint64_t ts, size;
	struct fc_rd r;
	char *root_b64;
	bool same;

	fc_rd_init(&r, msg, len);
	if (!fc_rd_u8(&r, &version) || version != 0 || !fc_rd_u8(&r, &type) || type != 1 ||
	    !fc_rd_u64(&r, &ts) || !fc_rd_u64(&r, &size) || !fc_rd_bytes(&r, 32, &root) ||
	    !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_CHECKPOINT, why, why_len, "not a v1 tree head");
	if (!note_line(&p, line1, sizeof(line1)) || !note_line(&p, line2, sizeof(line2)) ||
	    !note_line(&p, line3, sizeof(line3)) || *p != '\0')
		return sg_refuse(SIGNER_REFUSE_CHECKPOINT, why, why_len,
				 "the note body is not three lines");
	if (origin == NULL || strcmp(line1, origin) != 0)
		return sg_refuse(SIGNER_REFUSE_CHECKPOINT, why, why_len,
				 "the origin line is not this log's origin");
	snprintf(want, sizeof(want), "%llu", (unsigned long long)size);
	root_b64 = fc_b64_encode(root, 32);
	same = strcmp(line2, want) == 0 && strcmp(line3, root_b64) == 0;
	free(root_b64);
	if (!same)
		return sg_refuse(SIGNER_REFUSE_CHECKPOINT, why, why_len,
				 "the note's size or root hash is not the tree head's");
	if (!ts_near(ts, now_ms))
		return sg_refuse(SIGNER_REFUSE_TIMESTAMP, why, why_len,
				 "the checkpoint timestamp is %lld ms away from now",
				 (long long)((int64_t)ts - now_ms));
	return SIGNER_OK;
}
