/*
 * RFC 6962 wire structures shared by the CT client and the log server:
 * the SignedCertificateTimestamp (3.2), its signature input (3.2), the
 * SignedCertificateTimestampList (3.3), the add-chain response (4.1) and
 * the SCT checks a CA makes before embedding one. Every parser goes through
 * a bounded reader and refuses truncation and trailing bytes.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

/* --- helpers ------------------------------------------------------------------ */

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d;

	if (n == 0)
		return NULL;
	d = fc_xmalloc(n);
	memcpy(d, p, n);
	return d;
}

/* --- the SCT ------------------------------------------------------------------- */

/* Free what sct owns and zero it (ct.h). NULL is fine. */
void ct_sct_clear(struct ct_sct *sct)
{
	if (sct == NULL)
		return;
	free(sct->extensions);
	free(sct->sig);
	memset(sct, 0, sizeof(*sct));
}

/* Deep copy of src into dst (ct.h); dst is overwritten. */
void ct_sct_copy(struct ct_sct *dst, const struct ct_sct *src)
{
	*dst = *src;
	dst->extensions = dup_bytes(src->extensions, src->ext_len);
	dst->sig = dup_bytes(src->sig, src->sig_len);
}

/*
 * DigitallySigned (RFC 5246 4.7) appended to out. FC_EINPUT if the
 * signature is longer than 2^16-1, FC_ETOOBIG if out's cap is reached.
 */
enum fc_status ct_digitally_signed_encode(uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig,
					  size_t sig_len, struct fc_buf *out)
{
	if (sig_len > CT_MAX_SCT_SIGNATURE)
		return FC_EINPUT;
	if (!fc_buf_put_u8(out, hash_alg) || !fc_buf_put_u8(out, sig_alg) ||
	    !fc_buf_put_vec(out, 2, sig, sig_len))
		return FC_ETOOBIG;
	return FC_OK;
}

/* Read a DigitallySigned from r; r moves only on success. */
static bool rd_digitally_signed(struct fc_rd *r, uint8_t *hash_alg, uint8_t *sig_alg,
				const uint8_t **sig, size_t *sig_len)
{
	struct fc_rd t = *r;

	if (!fc_rd_u8(&t, hash_alg) || !fc_rd_u8(&t, sig_alg) ||
	    !fc_rd_vec(&t, 2, 0, CT_MAX_SCT_SIGNATURE, sig, sig_len))
		return false;
	*r = t;
	return true;
}

/*
 * Parse a DigitallySigned covering exactly p[0..len). *sig is malloc'd
 * (caller frees; NULL for an empty signature). FC_EINPUT with the reason.
 */
enum fc_status ct_digitally_signed_parse(const uint8_t *p, size_t len, uint8_t *hash_alg,
					 uint8_t *sig_alg, uint8_t **sig, size_t *sig_len,
					 struct fc_err *err)
{
	struct fc_rd r;
	const uint8_t *s;
	uint8_t h, a;
	size_t n;

	fc_rd_init(&r, p, len);
	if (!rd_digitally_signed(&r, &h, &a, &s, &n))
		return fc_err_set(err, FC_EINPUT,
				  "ctlog: RFC 5246 4.7: DigitallySigned is "
				  "truncated");
	if (!fc_rd_done(&r))
		return fc_err_set(err, FC_EINPUT,
				  "ctlog: RFC 5246 4.7: %zu trailing bytes after "
				  "DigitallySigned",
				  fc_rd_left(&r));
	*hash_alg = h;
	*sig_alg = a;
	*sig = dup_bytes(s, n);
	*sig_len = n;
	return FC_OK;
}

/*
 * Serialize sct (RFC 6962 3.2: version, LogID, timestamp, extensions,
 * DigitallySigned), appended to out. FC_EINPUT if a field is over its TLS
 * bound, FC_ETOOBIG if out's cap is reached.
 */
enum fc_status ct_sct_encode(const struct ct_sct *sct, struct fc_buf *out)
{
	if (sct->ext_len > CT_MAX_SCT_EXTENSIONS || sct->sig_len > CT_MAX_SCT_SIGNATURE)
		return FC_EINPUT;
	if (!fc_buf_put_u8(out, sct->version) || !fc_buf_append(out, sct->log_id, CT_LOG_ID_LEN) ||
	    !fc_buf_put_u64(out, sct->timestamp) ||
	    !fc_buf_put_vec(out, 2, sct->extensions, sct->ext_len))
		return FC_ETOOBIG;
	return ct_digitally_signed_encode(sct->hash_alg, sct->sig_alg, sct->sig, sct->sig_len, out);
}

/* Read one SCT from r (not necessarily to its end). */
static enum fc_status rd_sct(struct fc_rd *r, struct ct_sct *out, struct fc_err *err)
{
	const uint8_t *id, *ext, *sig;
	size_t ext_len, sig_len;
	uint64_t ts;
	uint8_t version, h, s;

	if (!fc_rd_u8(r, &version))
		return fc_err_set(err, FC_EINPUT, "ctlog: RFC 6962 3.2: empty SCT");
	if (version != 0)
		return fc_err_set(err, FC_EINPUT,
				  "ctlog: RFC 6962 3.2: SCT version %u is not v1 (0)",
				  (unsigned)version);
	if (!fc_rd_bytes(r, CT_LOG_ID_LEN, &id) || !fc_rd_u64(r, &ts) ||
	    !fc_rd_vec(r, 2, 0, CT_MAX_SCT_EXTENSIONS, &ext, &ext_len) ||
	    !rd_digitally_signed(r, &h, &s, &sig, &sig_len))
		return fc_err_set(err, FC_EINPUT, "ctlog: RFC 6962 3.2: SCT is truncated");
	memset(out, 0, sizeof(*out));
	out->version = 0;
	memcpy(out->log_id, id, CT_LOG_ID_LEN);
	out->timestamp = ts;
	out->extensions = dup_bytes(ext, ext_len);
	out->ext_len = ext_len;
	out->hash_alg = h;
	out->sig_alg = s;
	out->sig = dup_bytes(sig, sig_len);
	out->sig_len = sig_len;
	return FC_OK;
}

/*
 * Parse one serialized SCT covering exactly p[0..len) (RFC 6962 3.2).
 * FC_OK and *out (release with ct_sct_clear), else FC_EINPUT with the
 * reason; *out is untouched on failure.
 */
enum fc_status ct_sct_parse(const uint8_t *p, size_t len, struct ct_sct *out, struct fc_err *err)
{
	struct fc_rd r;
	struct ct_sct sct;
	enum fc_status st;

	fc_rd_init(&r, p, len);
	if ((st = rd_sct(&r, &sct, err)) != FC_OK)
		return st;
	if (!fc_rd_done(&r)) {
		ct_sct_clear(&sct);
		return fc_err_set(err, FC_EINPUT,
				  "ctlog: RFC 6962 3.2: %zu trailing bytes after "
				  "the SCT",
				  fc_rd_left(&r));
	}
	*out = sct;
	return FC_OK;
}

/* --- signature input (RFC 6962 3.2) ---------------------------------------------- */

static enum fc_status signed_data(uint64_t timestamp, enum ct_entry_type type, const uint8_t *ikh,
				  const uint8_t *body, size_t body_len, const uint8_t *ext,
				  size_t ext_len, struct fc_buf *out)
{
	if (body == NULL || body_len < 1 || body_len > CT_MAX_TBS ||
	    ext_len > CT_MAX_SCT_EXTENSIONS || (ext_len > 0 && ext == NULL))
		return FC_EINPUT;
	if (!fc_buf_put_u8(out, 0) || /* sct_version v1 */
	    !fc_buf_put_u8(out, 0) || /* signature_type certificate_timestamp */
	    !fc_buf_put_u64(out, timestamp) || !fc_buf_put_u16(out, (uint64_t)type) ||
	    (ikh != NULL && !fc_buf_append(out, ikh, CT_LOG_ID_LEN)) ||
	    !fc_buf_put_vec(out, 3, body, body_len) || !fc_buf_put_vec(out, 2, ext, ext_len))
		return FC_ETOOBIG;
	return FC_OK;
}

/*
 * Signature input of a precert entry (RFC 6962 3.2; ct.h), appended to
 * out. FC_EINPUT for a length outside its bound, FC_ETOOBIG at out's cap.
 */
enum fc_status ct_signed_data_precert(uint64_t timestamp,
				      const uint8_t issuer_key_hash[CT_LOG_ID_LEN],
				      const uint8_t *tbs, size_t tbs_len, const uint8_t *ext,
				      size_t ext_len, struct fc_buf *out)
{
	if (issuer_key_hash == NULL)
		return FC_EINPUT;
	return signed_data(timestamp, CT_ENTRY_PRECERT, issuer_key_hash, tbs, tbs_len, ext, ext_len,
			   out);
}

/* Signature input of an x509 entry (RFC 6962 3.2; ct.h). */
enum fc_status ct_signed_data_x509(uint64_t timestamp, const uint8_t *cert, size_t cert_len,
				   const uint8_t *ext, size_t ext_len, struct fc_buf *out)
{
	return signed_data(timestamp, CT_ENTRY_X509, NULL, cert, cert_len, ext, ext_len, out);
}

/* --- SCT list (RFC 6962 3.3) --------------------------------------------------------- */

/*
 * The TLS SignedCertificateTimestampList of scts[0..n), appended to out.
 * FC_EINPUT for n outside 1..CT_MAX_SCT_LIST or an SCT over its bounds.
 */
enum fc_status ct_sct_list_encode(const struct ct_sct *scts, size_t n, struct fc_buf *out)
{
	struct fc_buf list;
	enum fc_status st = FC_OK;

	if (n < 1 || n > CT_MAX_SCT_LIST)
		return FC_EINPUT;
	fc_buf_init(&list, 0xffff);
	for (size_t i = 0; i < n && st == FC_OK; i++) {
		struct fc_buf one;

		fc_buf_init(&one, 0xffff);
		if ((st = ct_sct_encode(&scts[i], &one)) == FC_OK &&
		    !fc_buf_put_vec(&list, 2, one.data, one.len))
			st = FC_EINPUT; /* SerializedSCT<1..2^16-1> overflows */
		fc_buf_free(&one);
	}
	if (st == FC_OK && !fc_buf_put_vec(out, 2, list.data, list.len))
		st = FC_ETOOBIG;
	fc_buf_free(&list);
	return st;
}

/*
 * The extnValue content of extension 1.3.6.1.4.1.11129.2.4.2: a DER OCTET
 * STRING wrapping the TLS list (RFC 6962 3.3), appended to out.
 */
enum fc_status ct_sct_list_ext_value(const struct ct_sct *scts, size_t n, struct fc_buf *out)
{
	struct fc_buf list;
	enum fc_status st;
	bool ok;

	fc_buf_init(&list, 0x10001);
	if ((st = ct_sct_list_encode(scts, n, &list)) != FC_OK)
		goto out;
	/* DER definite length (X.690 8.1.3): the list is at most 2 + 65535. */
	if (list.len > 0xffff) {
		st = FC_EINPUT;
		goto out;
	}
	ok = fc_buf_put_u8(out, 0x04);
	if (list.len >= 0x100)
		ok = ok && fc_buf_put_u8(out, 0x82) && fc_buf_put_u16(out, list.len);
	else if (list.len >= 0x80)
		ok = ok && fc_buf_put_u8(out, 0x81) && fc_buf_put_u8(out, list.len);
	else
		ok = ok && fc_buf_put_u8(out, list.len);
	if (!ok || !fc_buf_append(out, list.data, list.len))
		st = FC_ETOOBIG;
out:
	fc_buf_free(&list);
	return st;
}

/*
 * The SerializedSCTs of a list's content lr, each length-prefixed and
 * parsed to its exact end, into scts[*count..] (room for CT_MAX_SCT_LIST).
 * FC_EINPUT with the reason at the first bad one or past the limit; the
 * SCTs parsed so far stay in scts[0..*count) for the caller to clear.
 */
static enum fc_status rd_sct_list(struct fc_rd *lr, struct ct_sct *scts, size_t *count,
				  struct fc_err *err)
{
	const uint8_t *one;
	size_t one_len;

	while (!fc_rd_done(lr)) {
		if (*count == CT_MAX_SCT_LIST)
			return fc_err_set(err, FC_EINPUT, "ctlog: RFC 6962 3.3: more than %d SCTs",
					  CT_MAX_SCT_LIST);
		if (!fc_rd_vec(lr, 2, 1, 0xffff, &one, &one_len))
			return fc_err_set(err, FC_EINPUT,
					  "ctlog: RFC 6962 3.3: SCT %zu length is wrong", *count);
		if (ct_sct_parse(one, one_len, &scts[*count], err) != FC_OK)
			return FC_EINPUT; /* the reason is ct_sct_parse's */
		(*count)++;
	}
	return FC_OK;
}

/*
 * Parse a TLS SignedCertificateTimestampList (RFC 6962 3.3) covering
 * exactly p[0..len): at least one and at most CT_MAX_SCT_LIST SCTs, each
 * length-prefixed and parsed to its exact end. *out (array of *n; clear
 * each, free the array) on success; FC_EINPUT with the reason otherwise,
 * and then *out and *n are untouched.
 */
enum fc_status ct_sct_list_parse(const uint8_t *p, size_t len, struct ct_sct **out, size_t *n,
				 struct fc_err *err)
{
	struct fc_rd r, lr;
	struct ct_sct *scts = NULL;
	const uint8_t *list;
	size_t list_len, count = 0;
	enum fc_status st = FC_EINPUT;

	fc_rd_init(&r, p, len);
	if (!fc_rd_vec(&r, 2, 1, 0xffff, &list, &list_len)) {
		fc_err_set(err, FC_EINPUT, "ctlog: RFC 6962 3.3: SCT list length is wrong");
		goto out;
	}
	if (!fc_rd_done(&r)) {
		fc_err_set(err, FC_EINPUT,
			   "ctlog: RFC 6962 3.3: %zu trailing bytes after the SCT "
			   "list",
			   fc_rd_left(&r));
		goto out;
	}
	fc_rd_init(&lr, list, list_len);
	scts = fc_xcalloc(CT_MAX_SCT_LIST, sizeof(*scts));
	if ((st = rd_sct_list(&lr, scts, &count, err)) != FC_OK)
		goto out;
	*out = scts;
	*n = count;
	scts = NULL;
	count = 0;
out:
	for (size_t i = 0; scts != NULL && i < count; i++)
		ct_sct_clear(&scts[i]);
	free(scts);
	return st;
}

/* --- keys ---------------------------------------------------------------------------- */

/* SHA-256 of key's DER SubjectPublicKeyInfo (RFC 6962 3.2 LogID). */
enum fc_status ct_key_hash(EVP_PKEY *key, uint8_t out[CT_LOG_ID_LEN])
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len;
	enum fc_status st = FC_EINTERNAL;

	if (key == NULL || (len = i2d_PUBKEY(key, &der)) <= 0) {
		fc_log_ssl("ctlog: encode SubjectPublicKeyInfo");
		goto out;
	}
	if (EVP_Digest(der, (size_t)len, out, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != CT_LOG_ID_LEN) {
		fc_log_ssl("ctlog: SHA-256 of SubjectPublicKeyInfo");
		goto out;
	}
	st = FC_OK;
out:
	OPENSSL_free(der);
	return st;
}

/* --- add-chain response (RFC 6962 4.1) ------------------------------------------------ */

/* The JSON answer for sct (caller frees), built with jansson. */
char *ct_sct_to_json(const struct ct_sct *sct)
{
	struct fc_buf ds;
	char *id = fc_b64_encode(sct->log_id, CT_LOG_ID_LEN);
	char *ext = fc_b64_encode(sct->extensions ? sct->extensions : (const uint8_t *)"",
				  sct->ext_len);
	char *sig = NULL, *text;
	json_t *o;

	fc_buf_init(&ds, 0);
	if (ct_digitally_signed_encode(sct->hash_alg, sct->sig_alg, sct->sig, sct->sig_len, &ds) !=
	    FC_OK)
		abort(); /* only an over-long signature, which no signer makes */
	sig = fc_b64_encode(ds.data, ds.len);
	o = json_pack("{s:i, s:s, s:I, s:s, s:s}", "sct_version", (int)sct->version, "id", id,
		      "timestamp", (json_int_t)sct->timestamp, "extensions", ext, "signature", sig);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text == NULL)
		abort(); /* jansson fails here only on out of memory */
	json_decref(o);
	fc_buf_free(&ds);
	free(id);
	free(ext);
	free(sig);
	return text;
}

/* Strict standard base64 (RFC 4648 4, padded): re-encoding must give the
 * input back, so no variant spelling passes. */
static bool b64_strict(const char *s, uint8_t **out, size_t *len)
{
	char *again;
	bool same;

	if (!fc_b64_decode_any(s, strlen(s), out, len))
		return false;
	again = fc_b64_encode(*out, *len);
	same = strcmp(again, s) == 0;
	free(again);
	if (!same) {
		free(*out);
		*out = NULL;
	}
	return same;
}

/*
 * Parse an add-(pre-)chain response body (RFC 6962 4.1): sct_version (0),
 * id (32 bytes), timestamp (ms, non-negative integer), extensions and
 * signature (DigitallySigned), all base64. FC_EUPSTREAM with the reason;
 * *out (ct_sct_clear) on success only.
 */
enum fc_status ct_sct_from_json(const uint8_t *body, size_t len, struct ct_sct *out,
				struct fc_err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	uint8_t *id = NULL, *ext = NULL, *ds = NULL;
	size_t id_len = 0, ext_len = 0, ds_len = 0;
	struct ct_sct sct = {0};
	struct fc_err perr = {0};
	enum fc_status st = FC_EUPSTREAM;

	if (len > CT_MAX_RESPONSE) {
		fc_err_set(err, st, "the log's answer is over %d bytes", CT_MAX_RESPONSE);
		goto out;
	}
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		fc_err_set(err, st, "RFC 6962 4.1: the log's answer is not a JSON object%s%s",
			   root ? "" : ": ", root ? "" : jerr.text);
		goto out;
	}
	v = json_object_get(root, "sct_version");
	if (!json_is_integer(v) || json_integer_value(v) != 0) {
		fc_err_set(err, st, "RFC 6962 4.1: sct_version is missing or not 0");
		goto out;
	}
	v = json_object_get(root, "timestamp");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		fc_err_set(err, st,
			   "RFC 6962 4.1: timestamp is missing or not a non-negative "
			   "integer");
		goto out;
	}
	sct.timestamp = (uint64_t)json_integer_value(v);
	v = json_object_get(root, "id");
	if (!json_is_string(v) || !b64_strict(json_string_value(v), &id, &id_len) ||
	    id_len != CT_LOG_ID_LEN) {
		fc_err_set(err, st, "RFC 6962 4.1: id is missing or not 32 bytes of base64");
		goto out;
	}
	memcpy(sct.log_id, id, CT_LOG_ID_LEN);
	v = json_object_get(root, "extensions");
	if (!json_is_string(v) || !b64_strict(json_string_value(v), &ext, &ext_len) ||
	    ext_len > CT_MAX_SCT_EXTENSIONS) {
		fc_err_set(err, st, "RFC 6962 4.1: extensions is missing or not base64");
		goto out;
	}
	v = json_object_get(root, "signature");
	if (!json_is_string(v) || !b64_strict(json_string_value(v), &ds, &ds_len)) {
		fc_err_set(err, st, "RFC 6962 4.1: signature is missing or not base64");
		goto out;
	}
	if (ct_digitally_signed_parse(ds, ds_len, &sct.hash_alg, &sct.sig_alg, &sct.sig,
				      &sct.sig_len, &perr) != FC_OK) {
		fc_err_set(err, st, "%s", perr.msg);
		goto out;
	}
	sct.extensions = ext;
	sct.ext_len = ext_len;
	ext = NULL;
	*out = sct;
	memset(&sct, 0, sizeof(sct));
	st = FC_OK;
out:
	ct_sct_clear(&sct);
	free(id);
	free(ext);
	free(ds);
	json_decref(root);
	return st;
}

/* --- verification (certificate-transparency.md A.1.5) --------------------------------- */

/*
 * Check sct against log_key over signed_data and against the clock (see
 * ct.h). FC_OK, or FC_EUPSTREAM with the reason in err.
 */
enum fc_status ct_sct_verify(const struct ct_sct *sct, EVP_PKEY *log_key,
			     const uint8_t *signed_data_p, size_t signed_len, int64_t now_ms,
			     struct fc_err *err)
{
	uint8_t want_id[CT_LOG_ID_LEN];

	if (ct_key_hash(log_key, want_id) != FC_OK)
		return fc_err_set(err, FC_EINTERNAL, "cannot hash the log's public key");
	return ct_sct_verify_id(sct, log_key, want_id, signed_data_p, signed_len, now_ms, err);
}

enum fc_status ct_sct_verify_id(const struct ct_sct *sct, EVP_PKEY *log_key,
				const uint8_t want_id[CT_LOG_ID_LEN], const uint8_t *signed_data_p,
				size_t signed_len, int64_t now_ms, struct fc_err *err)
{
	EVP_MD_CTX *md = NULL;
	int type;
	uint8_t want_sig;
	enum fc_status st = FC_EUPSTREAM;

	if (sct->version != 0)
		return fc_err_set(err, st, "RFC 6962 3.2: SCT version %u is not v1",
				  (unsigned)sct->version);
	if (CRYPTO_memcmp(want_id, sct->log_id, CT_LOG_ID_LEN) != 0)
		return fc_err_set(err, st,
				  "RFC 6962 3.2: the SCT's log id is not the configured "
				  "log's (SHA-256 of its public key)");
	type = EVP_PKEY_get_base_id(log_key);
	want_sig = type == EVP_PKEY_EC ? CT_SIG_ECDSA : type == EVP_PKEY_RSA ? CT_SIG_RSA : 0;
	if (sct->hash_alg != CT_HASH_SHA256 || sct->sig_alg != want_sig)
		return fc_err_set(err, st,
				  "RFC 6962 2.1.4: SCT signed with hash %u / signature %u, "
				  "want SHA-256 (4) / %u for the log's key",
				  sct->hash_alg, sct->sig_alg, want_sig);
	if (sct->timestamp > (uint64_t)INT64_MAX ||
	    (int64_t)sct->timestamp > now_ms + CT_SCT_FUTURE_SKEW_MS)
		return fc_err_set(err, st, "SCT timestamp %llu is in the future (now %lld ms)",
				  (unsigned long long)sct->timestamp, (long long)now_ms);
	if ((int64_t)sct->timestamp < now_ms - CT_SCT_MAX_AGE_MS)
		return fc_err_set(err, st,
				  "SCT timestamp %llu is more than a day old (now %lld ms)",
				  (unsigned long long)sct->timestamp, (long long)now_ms);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, log_key) != 1) {
		fc_log_ssl("ctlog: SCT verify init");
		st = fc_err_set(err, FC_EINTERNAL, "cannot set up SCT verification");
		goto out;
	}
	if (EVP_DigestVerify(md, sct->sig, sct->sig_len, signed_data_p, signed_len) != 1) {
		ERR_clear_error();
		st = fc_err_set(err, st,
				"RFC 6962 3.2: the SCT signature does not verify with the "
				"log's key over this precertificate");
		goto out;
	}
	st = FC_OK;
out:
	EVP_MD_CTX_free(md);
	return st;
}
