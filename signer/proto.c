/*
 * The messages between the network process and the signer process
 * (signer.h): a fixed 16-byte header and payloads of length-prefixed
 * fields, each decoder accepting exactly one well-formed payload within
 * the hard caps and nothing after it.
 */
#include <string.h>

#include "signer_int.h"

static const char *const refusal_names[SIGNER_REFUSE_COUNT] = {
	[SIGNER_OK] = "none",
	[SIGNER_REFUSE_KIND] = "kind",
	[SIGNER_REFUSE_DER] = "der",
	[SIGNER_REFUSE_VERSION] = "version",
	[SIGNER_REFUSE_SERIAL] = "serial",
	[SIGNER_REFUSE_SERIAL_REUSED] = "serial_reused",
	[SIGNER_REFUSE_SIG_ALG] = "signature_algorithm",
	[SIGNER_REFUSE_ISSUER] = "issuer",
	[SIGNER_REFUSE_VALIDITY] = "validity",
	[SIGNER_REFUSE_NOT_BEFORE] = "not_before",
	[SIGNER_REFUSE_SUBJECT] = "subject",
	[SIGNER_REFUSE_PUBLIC_KEY] = "public_key",
	[SIGNER_REFUSE_EXTENSION] = "extension",
	[SIGNER_REFUSE_CRITICAL] = "criticality",
	[SIGNER_REFUSE_CA] = "ca",
	[SIGNER_REFUSE_KEY_USAGE] = "key_usage",
	[SIGNER_REFUSE_EXT_KEY_USAGE] = "ext_key_usage",
	[SIGNER_REFUSE_SAN] = "san",
	[SIGNER_REFUSE_AKI] = "authority_key_id",
	[SIGNER_REFUSE_SKI] = "subject_key_id",
	[SIGNER_REFUSE_SIGSTORE_EXT] = "sigstore_extension",
	[SIGNER_REFUSE_CT] = "ct",
	[SIGNER_REFUSE_SCT_LIST] = "sct_list",
	[SIGNER_REFUSE_TOKEN_ID] = "token_id",
	[SIGNER_REFUSE_SCT] = "sct",
	[SIGNER_REFUSE_CHECKPOINT] = "checkpoint",
	[SIGNER_REFUSE_TIMESTAMP] = "timestamp",
};

/*
 * The metric label of a refusal reason (signer.h); "unknown" for a value
 * outside the enum (a newer signer).
 */
const char *signer_refusal_name(enum signer_refusal r)
{
	if ((unsigned)r >= SIGNER_REFUSE_COUNT)
		return "unknown";
	return refusal_names[r];
}

/*
 * Decode a message header (signer.h): type, request id, key id, payload
 * length. False when the reserved field is not zero or the length is over
 * SIGNER_MAX_PAYLOAD; the type is checked by whoever handles it.
 */
bool sg_hdr_decode(const uint8_t hdr[SIGNER_HDR_LEN], struct sg_msg *m)
{
	struct fc_rd r;
	uint16_t zero;

	fc_rd_init(&r, hdr, SIGNER_HDR_LEN);
	if (!fc_rd_u16(&r, &m->type) || !fc_rd_u16(&r, &zero) || !fc_rd_u32(&r, &m->req_id) ||
	    !fc_rd_u32(&r, &m->key_id) || !fc_rd_u32(&r, &m->len))
		return false;
	m->payload = NULL;
	return zero == 0 && m->len <= SIGNER_MAX_PAYLOAD;
}

/* Append a header and its payload to b. */
void sg_msg_encode(struct fc_buf *b, uint16_t type, uint32_t req_id, uint32_t key_id,
		   const void *payload, size_t len)
{
	fc_buf_put_u16(b, type);
	fc_buf_put_u16(b, 0);
	fc_buf_put_u32(b, req_id);
	fc_buf_put_u32(b, key_id);
	fc_buf_put_u32(b, len);
	if (len > 0)
		fc_buf_append(b, payload, len);
}

/* SIGN: u8 kind, u8 token id length + token id, u16 note length + note,
 * u32 message length + message. */
void sg_sign_req_encode(struct fc_buf *b, const struct hsm_sign_ctx *ctx, const uint8_t *msg,
			size_t len)
{
	const char *tok = ctx && ctx->token_id ? ctx->token_id : "";
	const char *note = ctx && ctx->note ? ctx->note : "";
	size_t tlen = strnlen(tok, HSM_SIGN_MAX_TOKEN_ID + 1);
	size_t nlen = strnlen(note, HSM_SIGN_MAX_NOTE + 1);
	uint8_t x[2] = {(uint8_t)(ctx ? ctx->kind : HSM_SIGN_ANY), (uint8_t)tlen};

	/* Over-long fields are sent as they are: the signer refuses them. */
	fc_buf_append(b, x, 2);
	fc_buf_append(b, tok, tlen);
	fc_buf_put_u16(b, nlen);
	fc_buf_append(b, note, nlen);
	fc_buf_put_u32(b, len);
	fc_buf_append(b, msg, len);
}

/* A text field of n bytes without NUL, copied NUL-terminated into out
 * (cap + 1 bytes). */
static bool copy_text(const uint8_t *p, size_t n, size_t cap, char *out)
{
	if (n > cap || memchr(p, '\0', n) != NULL)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/*
 * Decode SIGN's payload into *out (msg points into p). False for a kind
 * outside enum hsm_sign_kind, a field over its cap, a NUL inside a text
 * field, an empty or over-long message, or trailing bytes.
 */
bool sg_sign_req_decode(const uint8_t *p, size_t len, struct sg_sign_req *out)
{
	const uint8_t *tok, *note;
	size_t tlen, nlen;
	uint8_t kind;
	struct fc_rd r;

	fc_rd_init(&r, p, len);
	if (!fc_rd_u8(&r, &kind) || kind > HSM_SIGN_CHECKPOINT ||
	    !fc_rd_vec(&r, 1, 0, HSM_SIGN_MAX_TOKEN_ID, &tok, &tlen) ||
	    !fc_rd_vec(&r, 2, 0, HSM_SIGN_MAX_NOTE, &note, &nlen) ||
	    !fc_rd_vec(&r, 4, 1, SIGNER_MAX_MSG, &out->msg, &out->msg_len) || !fc_rd_done(&r))
		return false;
	out->kind = (enum hsm_sign_kind)kind;
	return copy_text(tok, tlen, HSM_SIGN_MAX_TOKEN_ID, out->token_id) &&
	       copy_text(note, nlen, HSM_SIGN_MAX_NOTE, out->note);
}

/* KEY_INFO: u8 padding, u32 SPKI length + SPKI DER, u32 chain length +
 * PEM chain (empty for a log key). */
void sg_key_info_encode(struct fc_buf *b, uint8_t padding, const uint8_t *spki, size_t spki_len,
			const char *chain, size_t chain_len)
{
	fc_buf_put_u8(b, padding);
	fc_buf_put_vec(b, 4, spki, spki_len);
	fc_buf_put_vec(b, 4, chain, chain_len);
}

/* Decode KEY_INFO's payload (pointers into p); false unless well-formed. */
bool sg_key_info_decode(const uint8_t *p, size_t len, struct sg_key_info *out)
{
	struct fc_rd r;

	fc_rd_init(&r, p, len);
	return fc_rd_u8(&r, &out->padding) && out->padding <= HSM_RSA_PSS &&
	       fc_rd_vec(&r, 4, 1, 4096, &out->spki, &out->spki_len) &&
	       fc_rd_vec(&r, 4, 0, SIGNER_MAX_CHAIN, &out->chain, &out->chain_len) &&
	       fc_rd_done(&r);
}

/* REFUSED and FAILED: u16 code, u16 text length + text (cut to
 * SIGNER_MAX_TEXT). */
void sg_code_text_encode(struct fc_buf *b, uint16_t code, const char *text)
{
	size_t n = strnlen(text ? text : "", SIGNER_MAX_TEXT);

	fc_buf_put_u16(b, code);
	fc_buf_put_vec(b, 2, text ? text : "", n);
}

/* Decode a code and its text into text (n bytes, NUL-terminated). */
bool sg_code_text_decode(const uint8_t *p, size_t len, uint16_t *code, char *text, size_t n)
{
	const uint8_t *t;
	size_t tlen;
	struct fc_rd r;

	fc_rd_init(&r, p, len);
	if (!fc_rd_u16(&r, code) || !fc_rd_vec(&r, 2, 0, SIGNER_MAX_TEXT, &t, &tlen) ||
	    !fc_rd_done(&r) || n == 0)
		return false;
	if (tlen >= n)
		tlen = n - 1;
	memcpy(text, t, tlen);
	text[tlen] = '\0';
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)text[i] < 0x20)
			text[i] = '?'; /* a text for a log line */
	return true;
}
