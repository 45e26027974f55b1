/*
 * Internals of the signer module, shared by its files and its unit tests.
 * No other module includes this header.
 *
 * The files, from the bottom up:
 *   der.c          the DER reader (over common/'s struct fc_rd)
 *   proto.c        messages: header, payload encoders and decoders
 *   policy_cert.c  the TBSCertificate checks (fields and public key)
 *   policy_ext.c   ... its extensions
 *   policy_log.c   the SCT and checkpoint checks
 *   serials.c      serial numbers already signed, precertificates waiting
 *   server.c       the signer process
 *   client.c       the network side: the link and the remote transport
 *   supervise.c    the supervisor and passing sockets
 *   privdrop.c     dropping privileges
 */
#ifndef FULCRUM_SIGNER_INT_H
#define FULCRUM_SIGNER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "signer.h"

/* --- der.c: DER over common/'s bounded reader (struct fc_rd) ----------------- */

/* One DER element (X.690 10: definite, minimal lengths; one-byte tags). */
struct der {
	const uint8_t *p;   /* the contents ... */
	size_t len;	    /* ... and their length */
	const uint8_t *tlv; /* the whole element */
	size_t tlv_len;
	uint8_t tag;
};

/* The next element of r (r->off moves past it). */
bool der_next(struct fc_rd *r, struct der *out);
/* The next element, which must have tag. */
bool der_expect(struct fc_rd *r, uint8_t tag, struct der *out);
/* The tag of the next element without reading it; false at the end. */
bool der_peek(const struct fc_rd *r, uint8_t *tag);
/* A reader over e's contents. */
void der_enter(const struct der *e, struct fc_rd *r);

#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_UTF8STRING 0x0c
#define DER_BOOLEAN 0x01
#define DER_UTCTIME 0x17
#define DER_GENTIME 0x18
#define DER_SEQUENCE 0x30
#define DER_CTX0 0xa0 /* [0] constructed */
#define DER_CTX3 0xa3 /* [3] constructed */

/* --- proto.c: messages ------------------------------------------------------------- */

struct sg_msg {
	uint16_t type;
	uint32_t req_id;
	uint32_t key_id;
	const uint8_t *payload;
	uint32_t len;
};

/* Decode a header: false if the zero field is not zero or the length is
 * over SIGNER_MAX_PAYLOAD. */
bool sg_hdr_decode(const uint8_t hdr[SIGNER_HDR_LEN], struct sg_msg *m);
/* Append a whole message (header and payload) to b. */
void sg_msg_encode(struct fc_buf *b, uint16_t type, uint32_t req_id, uint32_t key_id,
		   const void *payload, size_t len);

/* SIGN's payload. */
struct sg_sign_req {
	enum hsm_sign_kind kind;
	char token_id[HSM_SIGN_MAX_TOKEN_ID + 1];
	char note[HSM_SIGN_MAX_NOTE + 1];
	const uint8_t *msg;
	size_t msg_len;
};
void sg_sign_req_encode(struct fc_buf *b, const struct hsm_sign_ctx *ctx, const uint8_t *msg,
			size_t len);
/* False for anything but exactly one well-formed payload within the caps
 * (a NUL in the token id or note is malformed). */
bool sg_sign_req_decode(const uint8_t *p, size_t len, struct sg_sign_req *out);

/* KEY_INFO's payload. */
struct sg_key_info {
	uint8_t padding;
	const uint8_t *spki;
	size_t spki_len;
	const uint8_t *chain;
	size_t chain_len;
};
void sg_key_info_encode(struct fc_buf *b, uint8_t padding, const uint8_t *spki, size_t spki_len,
			const char *chain, size_t chain_len);
bool sg_key_info_decode(const uint8_t *p, size_t len, struct sg_key_info *out);

/* REFUSED / FAILED: a code and a text. */
void sg_code_text_encode(struct fc_buf *b, uint16_t code, const char *text);
bool sg_code_text_decode(const uint8_t *p, size_t len, uint16_t *code, char *text, size_t n);

/* --- policy: what the signer agrees to sign ---------------------------------------- */

/* What a certificate must match, per key (from the issuing certificate). */
struct sg_ca_policy {
	uint8_t *issuer_name; /* DER Name: the issuing CA's subject */
	size_t issuer_name_len;
	uint8_t *issuer_skid; /* its SubjectKeyId (NULL: none, then no AKI) */
	size_t issuer_skid_len;
	const uint8_t *sig_alg; /* the key's AlgorithmIdentifier, DER */
	size_t sig_alg_len;
	int lifetime_s;
	bool ct;
};

/* What the checks found in a certificate, for the serial set and the
 * journal. Pointers are into the TBS. */
struct sg_cert_info {
	const uint8_t *serial;
	size_t serial_len;
	const uint8_t *san;
	size_t san_len;
	const char *san_type;  /* "email", "uri", "username" */
	const uint8_t *issuer; /* the OIDC issuer URL (1.3.6.1.4.1.57264.1.8, else .1.1) */
	size_t issuer_len;
	const uint8_t *spki; /* SubjectPublicKeyInfo, DER */
	size_t spki_len;
	int64_t not_before;
	bool poison;
	bool sct_list;
	struct journal_sct scts[JOURNAL_MAX_SCTS];
	size_t n_scts;
	uint8_t core_hash[32]; /* the TBS without poison or SCT list (RFC 6962 3.1) */
};

/* SHA-256 and SHA-1 with digests fetched once (OpenSSL 3's one-shot
 * SHA256() fetches the algorithm at every call). */
void sg_sha256(const void *p, size_t n, uint8_t out[32]);
void sg_sha1(const void *p, size_t n, uint8_t out[20]);

/* The AlgorithmIdentifier DER of a signature NID (hsm_signer_signature_nid);
 * NULL for an unknown one. */
const uint8_t *sg_sig_alg_der(int nid, size_t *len);

/*
 * Check a TBSCertificate against p for kind (HSM_SIGN_PRECERT or
 * HSM_SIGN_CERT) at now: SIGNER_OK with *info filled, else the refusal
 * with the reason in why.
 */
enum signer_refusal sg_check_cert(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
				  const uint8_t *tbs, size_t len, int64_t now,
				  struct sg_cert_info *info, char *why, size_t why_len);
/* policy_ext.c: the extensions ([3] contents) of a TBS. */
enum signer_refusal sg_check_extensions(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
					struct fc_rd *exts, const struct der *spki_bits,
					struct sg_cert_info *info, struct fc_buf *core, char *why,
					size_t why_len);
/* Strict UTF-8 (RFC 3629). */
bool sg_utf8_ok(const uint8_t *s, size_t n);
/* The refusal r with the reason printf'd into why. */
enum signer_refusal sg_refuse(enum signer_refusal r, char *why, size_t n, const char *fmt, ...)
	FC_PRINTF(4, 5);

/* An SCT's signed data (RFC 6962 3.2) with its timestamp near now_ms. */
enum signer_refusal sg_check_sct(const uint8_t *msg, size_t len, int64_t now_ms, char *why,
				 size_t why_len);
/* A checkpoint's tree head (RFC 6962 3.5, 50 bytes) and the note body it
 * belongs to: origin, tree size and root hash lines only, matching. */
enum signer_refusal sg_check_checkpoint(const char *origin, const uint8_t *msg, size_t len,
					const char *note, int64_t now_ms, char *why,
					size_t why_len);

/* --- serials.c ------------------------------------------------------------------------ */

struct sg_serials;
struct sg_serials *sg_serials_new(size_t per_gen);
void sg_serials_free(struct sg_serials *s);
/*
 * Claim info's serial for kind at now: a precertificate or a certificate
 * without CT takes a serial never seen (and a precertificate leaves its
 * core hash waiting for its final certificate); a final certificate
 * (SCT list) must match a precertificate waiting with the same serial and
 * core hash, younger than SIGNER_PRECERT_TTL_S. SIGNER_OK, or
 * SIGNER_REFUSE_SERIAL_REUSED / SIGNER_REFUSE_CT with the reason.
 */
enum signer_refusal sg_serials_claim(struct sg_serials *s, const struct sg_cert_info *info,
				     int64_t now, char *why, size_t why_len);

#endif /* FULCRUM_SIGNER_INT_H */
