/*
 * Time-stamp requests: the DER TimeStampReq of RFC 3161 2.4.1 and sigstore
 * timestamp-authority's JSON form, checked in the order sigstore's TSA
 * checks them (pkg/api/timestamp.go, pkg/verification/verify_request.go) so
 * that every refusal carries the same message.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ts.h>

#include "tsa_int.h"

/*
 * The client-facing message of a refusal, as sigstore timestamp-authority
 * words it (pkg/api/error.go); a static string.
 */
const char *tsa_refusal_message(enum tsa_refusal why)
{
	switch (why) {
	case TSA_REFUSE_WEAK_HASH: return "Weak hash algorithm in timestamp request";
	case TSA_REFUSE_DIGEST_LENGTH:
		return "Message digest has incorrect length for specified algorithm";
	case TSA_REFUSE_POLICY:
		return "unaccepted policy: requested TSA policy is not supported by the TSA";
	case TSA_REFUSE_EXTENSION:
		return "unaccepted extension: requested extensions are not supported by the TSA";
	case TSA_REFUSE_LONG_OID: return "OID should be comprised of at most 128 components";
	case TSA_REFUSE_TOO_LARGE: return "timestamp request is too large";
	default: return "Error generating timestamp response";
	}
}

/*
 * Free a parsed request. NULL is fine.
 */
void tsa_request_free(struct tsa_request *r)
{
	if (r == NULL)
		return;
	ASN1_INTEGER_free(r->nonce);
	ASN1_OBJECT_free(r->policy);
	free(r);
}

static enum fc_status refuse(enum tsa_refusal *why, enum tsa_refusal w, struct fc_err *err,
			     const char *what)
{
	*why = w;
	return fc_err_set(err, FC_EINPUT, "tsa: RFC 3161 2.4.1: %s", what);
}

/* The digest length of a supported hash, 0 for SHA-1 and anything else. */
static size_t digest_size(int nid)
{
	switch (nid) {
	case NID_sha256: return 32;
	case NID_sha384: return 48;
	case NID_sha512: return 64;
	default: return 0;
	}
}

/*
 * The checks shared by both forms (sigstore's VerifyRequest): a weak or
 * unknown hash, then the digest's length. The policy and extensions are
 * judged by tsa_stamp, which knows the accepted policies.
 */
static enum fc_status check_hash(const struct tsa_request *r, enum tsa_refusal *why,
				 struct fc_err *err)
{
	size_t want = digest_size(r->hash_nid);

	if (r->hash_nid == NID_sha1)
		return refuse(why, TSA_REFUSE_WEAK_HASH, err,
			      "SHA-1 is refused: use SHA-256, SHA-384 or SHA-512");
	if (want == 0)
		return refuse(why, TSA_REFUSE_MALFORMED, err,
			      "unsupported hash algorithm (SHA-256, SHA-384 or SHA-512)");
	if (r->digest_len != want) {
		*why = TSA_REFUSE_DIGEST_LENGTH;
		return fc_err_set(err, FC_EINPUT,
				  "tsa: RFC 3161 2.4.1: digest of %zu bytes for %s (want %zu)",
				  r->digest_len, OBJ_nid2sn(r->hash_nid), want);
	}
	return FC_OK;
}

/* The fields of a decoded TimeStampReq, copied into r. */
static enum fc_status from_ts_req(TS_REQ *req, struct tsa_request *r, enum tsa_refusal *why,
				  struct fc_err *err)
{
	TS_MSG_IMPRINT *mi = TS_REQ_get_msg_imprint(req);
	X509_ALGOR *alg = TS_MSG_IMPRINT_get_algo(mi);
	ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(mi);
	const ASN1_OBJECT *obj = NULL;
	const ASN1_INTEGER *nonce = TS_REQ_get_nonce(req);
	const ASN1_OBJECT *policy = TS_REQ_get_policy_id(req);
	STACK_OF(X509_EXTENSION) *exts = TS_REQ_get_exts(req);
	int len = ASN1_STRING_length(msg);

	/* digitorus/timestamp's ParseRequest refuses an empty digest before
	 * it looks at the algorithm. */
	if (len <= 0)
		return refuse(why, TSA_REFUSE_MALFORMED, err, "empty hashedMessage");
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	r->hash_nid = OBJ_obj2nid(obj);
	if ((size_t)len > sizeof(r->digest)) {
		r->digest_len = (size_t)len; /* reported as a length mismatch, as sigstore */
	} else {
		memcpy(r->digest, ASN1_STRING_get0_data(msg), (size_t)len);
		r->digest_len = (size_t)len;
	}
	r->cert_req = TS_REQ_get_cert_req(req) != 0;
	r->has_extensions = exts != NULL && sk_X509_EXTENSION_num(exts) > 0;
	if ((nonce != NULL && (r->nonce = ASN1_INTEGER_dup(nonce)) == NULL) ||
	    (policy != NULL && (r->policy = OBJ_dup(policy)) == NULL)) {
		fc_log_ssl("tsa: request copy");
		return fc_err_set(err, FC_EINTERNAL, "tsa: cannot copy the request");
	}
	return check_hash(r, why, err);
}

/*
 * Parse a DER TimeStampReq (tsa.h). OpenSSL's decoder reads it; the bytes
 * must be exactly one TimeStampReq.
 */
enum fc_status tsa_request_parse_der(const uint8_t *der, size_t len, struct tsa_request **out,
				     enum tsa_refusal *why, struct fc_err *err)
{
	const unsigned char *p = der;
	TS_REQ *req = NULL;
	struct tsa_request *r = NULL;
	enum fc_status st;

	*why = TSA_REFUSE_NONE;
	if (len == 0 || len > TSA_MAX_BODY_LIMIT)
		return refuse(why, TSA_REFUSE_MALFORMED, err, "no TimeStampReq");
	if ((req = d2i_TS_REQ(NULL, &p, (long)len)) == NULL || p != der + len) {
		ERR_clear_error();
		st = refuse(why, TSA_REFUSE_MALFORMED, err,
			    req == NULL ? "not a DER TimeStampReq"
					: "bytes after the TimeStampReq");
		goto out;
	}
	r = fc_xcalloc(1, sizeof(*r));
	if ((st = from_ts_req(req, r, why, err)) != FC_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	TS_REQ_free(req);
	tsa_request_free(r);
	return st;
}

/* --- JSON ------------------------------------------------------------------------- */

/* The member of obj whose key equals name in any case (Go's encoding/json
 * matches struct fields that way); the last one wins, as in Go. */
static json_t *member(json_t *obj, const char *name)
{
	const char *k;
	json_t *v, *found = NULL;

	json_object_foreach(obj, k, v) if (strcasecmp(k, name) == 0) found = v;
	return found;
}

/* A JSON string member (null or absent: ""); false for another type. */
static bool member_string(json_t *obj, const char *name, const char **out)
{
	json_t *v = member(obj, name);

	*out = "";
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = json_string_value(v);
	return true;
}

/* sigstore's hash names, in any case (strings.ToLower). */
static int hash_by_name(const char *s)
{
	if (strcasecmp(s, "sha256") == 0)
		return NID_sha256;
	if (strcasecmp(s, "sha384") == 0)
		return NID_sha384;
	if (strcasecmp(s, "sha512") == 0)
		return NID_sha512;
	if (strcasecmp(s, "sha1") == 0)
		return NID_sha1;
	return NID_undef;
}

/* Result of parsing a JSON tsaPolicyOID. */
enum oid_parse {
	OID_OK,	     /* *out is the OID */
	OID_BAD,     /* does not parse (sigstore: "OID should be comprised ...") */
	OID_NOT_OID, /* parses into integers that make no OID: never accepted */
};

/*
 * Parse a dotted OID as sigstore's parseOID does (at most 128 dots, each
 * arc a decimal integer that fits an int64, a sign allowed), then encode it
 * with OpenSSL. Arcs that make no valid OID (negative, first arc > 2, ...)
 * cannot equal an accepted policy: OID_NOT_OID.
 */
static enum oid_parse parse_policy(const char *s, ASN1_OBJECT **out)
{
	char norm[4096];
	size_t used = 0, dots = 0;
	bool valid = true;
	long long first = 0;

	for (const char *c = s; *c; c++)
		dots += *c == '.';
	if (dots > TSA_MAX_OID_ARCS)
		return OID_BAD;
	for (size_t i = 0; i <= dots; i++) {
		char *end;
		long long v;
		int n;

		if (*s == '\0' || *s == '.' || isspace((unsigned char)*s))
			return OID_BAD;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || (*end != '.' && *end != '\0'))
			return OID_BAD;
		s = *end == '.' ? end + 1 : end;
		valid = valid && v >= 0 && !(i == 0 && v > 2) && !(i == 1 && first < 2 && v >= 40);
		first = i == 0 ? v : first;
		n = snprintf(norm + used, sizeof(norm) - used, "%s%lld", i ? "." : "", v);
		if (n < 0 || (size_t)n >= sizeof(norm) - used)
			return OID_BAD;
		used += (size_t)n;
	}
	if (!valid || dots == 0 || (*out = OBJ_txt2obj(norm, 1)) == NULL) {
		ERR_clear_error();
		return OID_NOT_OID;
	}
	return OID_OK;
}

/* base64.StdEncoding.DecodeString: standard alphabet, padded, with CR
 * and LF ignored. */
static bool b64_std_decode(const char *in, uint8_t *out, size_t max, size_t *outlen)
{
	char buf[TSA_MAX_JSON_BODY + 1];
	size_t n = 0;
	uint8_t *dec = NULL;
	size_t declen = 0;
	bool ok;

	for (; *in; in++) {
		if (*in == '\r' || *in == '\n')
			continue;
		if (!isalnum((unsigned char)*in) && *in != '+' && *in != '/' && *in != '=')
			return false;
		if (n >= TSA_MAX_JSON_BODY)
			return false;
		buf[n++] = *in;
	}
	buf[n] = '\0';
	if (n % 4 != 0)
		return false;
	if (n == 0) {
		*outlen = 0;
		return true;
	}
	ok = fc_b64_decode_any(buf, n, &dec, &declen);
	if (ok && declen > max)
		declen = max + 1; /* reported as a length mismatch */
	else if (ok)
		memcpy(out, dec, declen);
	free(dec);
	*outlen = declen;
	return ok;
}

/* "nonce": an integer (null or absent: none). */
static bool json_nonce(json_t *obj, ASN1_INTEGER **out)
{
	json_t *v = member(obj, "nonce");

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v))
		return false;
	if ((*out = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_int64(*out, (int64_t)json_integer_value(v)) != 1) {
		ERR_clear_error();
		return false;
	}
	return true;
}

/* The JSON fields, in sigstore's order of checks: decoding, hash
 * algorithm, policy OID, base64 digest, then VerifyRequest. */
static enum fc_status from_json(json_t *root, struct tsa_request *r, enum tsa_refusal *why,
				struct fc_err *err)
{
	const char *hash = "", *alg = "", *policy = "";
	json_t *certs = member(root, "certificates");

	if (!member_string(root, "artifactHash", &hash) ||
	    !member_string(root, "hashAlgorithm", &alg) ||
	    !member_string(root, "tsaPolicyOID", &policy) || !json_nonce(root, &r->nonce) ||
	    (certs != NULL && !json_is_boolean(certs) && !json_is_null(certs)))
		return refuse(why, TSA_REFUSE_MALFORMED, err,
			      "JSON request: a field has the wrong type");
	r->cert_req = certs != NULL && json_is_true(certs);
	r->hash_nid = hash_by_name(alg);
	if (r->hash_nid == NID_sha1)
		return refuse(why, TSA_REFUSE_WEAK_HASH, err, "SHA-1 is refused");
	if (r->hash_nid == NID_undef)
		return refuse(why, TSA_REFUSE_MALFORMED, err, "unsupported hashAlgorithm");
	if (*policy != '\0') {
		enum oid_parse op = parse_policy(policy, &r->policy);

		if (op == OID_BAD)
			return refuse(why, TSA_REFUSE_LONG_OID, err, "tsaPolicyOID does not parse");
		if (op == OID_NOT_OID)
			return refuse(why, TSA_REFUSE_POLICY, err, "tsaPolicyOID is not an OID");
	}
	if (!b64_std_decode(hash, r->digest, sizeof(r->digest), &r->digest_len))
		return refuse(why, TSA_REFUSE_MALFORMED, err, "artifactHash is not base64");
	return check_hash(r, why, err);
}

/*
 * Parse sigstore's JSON request (tsa.h). jansson reads it (duplicate keys
 * refused); the top level must be an object or null, as Go's decoder has it.
 */
enum fc_status tsa_request_parse_json(const uint8_t *body, size_t len, struct tsa_request **out,
				      enum tsa_refusal *why, struct fc_err *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	struct tsa_request *r = NULL;
	enum fc_status st;

	*why = TSA_REFUSE_NONE;
	if (len > TSA_MAX_JSON_BODY)
		return refuse(why, TSA_REFUSE_TOO_LARGE, err, "JSON request over 1024 bytes");
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL || !(json_is_object(root) || json_is_null(root))) {
		st = refuse(why, TSA_REFUSE_MALFORMED, err, "JSON request: not a JSON object");
		goto out;
	}
	if (json_is_null(root)) {
		json_decref(root);
		root = json_object();
	}
	r = fc_xcalloc(1, sizeof(*r));
	if ((st = from_json(root, r, why, err)) != FC_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	json_decref(root);
	tsa_request_free(r);
	return st;
}
