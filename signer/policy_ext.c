/*
 * The extensions of a certificate the signer agrees to sign: exactly those
 * of fulcrum's leaf profile, each with its criticality and value:
 *   KeyUsage            critical   digitalSignature only
 *   ExtKeyUsage                    codeSigning only
 *   SubjectKeyId                   SHA-1 of the subject key (RFC 5280 4.2.1.2)
 *   AuthorityKeyId                 the issuing CA's key id (iff it has one)
 *   SubjectAltName      critical   one email, URI or Sigstore username
 *   1.3.6.1.4.1.57264.1.x          Sigstore identity extensions, once each
 *   CT poison           critical   precertificates only (RFC 6962 3.1)
 *   SCT list                       final certificates through a CT log
 * No BasicConstraints: the signer never makes a CA.
 */
#include <stdio.h>
#include <string.h>

#include "signer_int.h"

static const uint8_t oid_ku[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_eku[] = {0x55, 0x1d, 0x25};
static const uint8_t oid_skid[] = {0x55, 0x1d, 0x0e};
static const uint8_t oid_akid[] = {0x55, 0x1d, 0x23};
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};
static const uint8_t oid_bc[] = {0x55, 0x1d, 0x13};
static const uint8_t oid_poison[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03};
static const uint8_t oid_scts[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02};
/* 1.3.6.1.4.1.57264.1 (Sigstore's OID arc for certificate extensions) */
static const uint8_t oid_sigstore[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01};
/* 1.3.6.1.4.1.57264.1.7: the otherName type of a username SAN */
static const uint8_t oid_username[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x07};

/* digitalSignature (RFC 5280 4.2.1.3) */
static const uint8_t ku_value[] = {0x03, 0x02, 0x07, 0x80};
/* SEQUENCE { id-kp-codeSigning } (RFC 5280 4.2.1.12) */
static const uint8_t eku_value[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
				    0x01, 0x05, 0x05, 0x07, 0x03, 0x03};
static const uint8_t null_value[] = {0x05, 0x00};

/* Which extensions were seen. */
struct seen {
	bool ku, eku, skid, akid, san;
	bool issuer_from_v2; /* info->issuer is 1.8's */
	uint8_t arcs[32];    /* Sigstore arcs 0..255, a bit each */
};

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF, no NUL (signer_int.h).
 */
bool sg_utf8_ok(const uint8_t *s, size_t n)
{
	return memchr(s, 0, n) == NULL && fc_utf8_valid(s, n);
}

/* The dotted form of an OID's contents, for messages. */
static void oid_text(const struct der *o, char *out, size_t n)
{
	size_t w = 0;
	uint64_t v = 0;

	out[0] = '\0';
	for (size_t i = 0; i < o->len && w + 24 < n; i++) {
		v = v << 7 | (o->p[i] & 0x7f);
		if (o->p[i] & 0x80)
			continue;
		if (w == 0)
			w += (size_t)snprintf(out, n, "%u.%llu", v < 80 ? (unsigned)(v / 40) : 2u,
					      (unsigned long long)(v < 80 ? v % 40 : v - 80));
		else
			w += (size_t)snprintf(out + w, n - w, ".%llu", (unsigned long long)v);
		v = 0;
	}
}

/* An IA5String SAN value: 1 or more characters, 7-bit, no NUL (what an
 * IA5String holds, as ca/ encodes it). */
static bool ia5_ok(const struct der *v)
{
	if (v->len == 0)
		return false;
	for (size_t i = 0; i < v->len; i++)
		if (v->p[i] == 0 || v->p[i] > 0x7f)
			return false;
	return true;
}

/* SubjectAltName: exactly one GeneralName, an rfc822Name, a URI, or an
 * otherName of type 1.3.6.1.4.1.57264.1.7 holding [0] EXPLICIT UTF8String. */
static enum signer_refusal check_san(const struct der *val, struct sg_cert_info *info, char *why,
				     size_t n)
{
	struct fc_rd r, g, o;
	struct der names, gn, type, wrap, u;

	fc_rd_init(&r, val->p, val->len);
	if (!der_expect(&r, DER_SEQUENCE, &names) || !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_SAN, why, n, "malformed SubjectAltName");
	der_enter(&names, &g);
	if (!der_next(&g, &gn) || !fc_rd_done(&g))
		return sg_refuse(SIGNER_REFUSE_SAN, why, n, "not exactly one name");
	if (gn.tag == 0x81 || gn.tag == 0x86) {
		if (!ia5_ok(&gn))
			return sg_refuse(SIGNER_REFUSE_SAN, why, n, "the name is not an IA5String");
		info->san = gn.p;
		info->san_len = gn.len;
		info->san_type = gn.tag == 0x81 ? "email" : "uri";
		return SIGNER_OK;
	}
	if (gn.tag != 0xa0)
		return sg_refuse(SIGNER_REFUSE_SAN, why, n, "a name of type [%u]", gn.tag & 0x1fu);
	der_enter(&gn, &o);
	if (!der_expect(&o, DER_OID, &type) || type.len != sizeof(oid_username) ||
	    memcmp(type.p, oid_username, sizeof(oid_username)) != 0 ||
	    !der_expect(&o, DER_CTX0, &wrap) || !fc_rd_done(&o))
		return sg_refuse(SIGNER_REFUSE_SAN, why, n, "an otherName that is not a username");
	der_enter(&wrap, &o);
	if (!der_expect(&o, DER_UTF8STRING, &u) || !fc_rd_done(&o) || u.len == 0 ||
	    !sg_utf8_ok(u.p, u.len))
		return sg_refuse(SIGNER_REFUSE_SAN, why, n, "a username that is not UTF-8");
	info->san = u.p;
	info->san_len = u.len;
	info->san_type = "username";
	return SIGNER_OK;
}

/* The SCT list (RFC 6962 3.3): an OCTET STRING holding a
 * SignedCertificateTimestampList of v1 SCTs. Their log ids and timestamps
 * go to info for the journal. */
static enum signer_refusal check_sct_list(const struct der *val, struct sg_cert_info *info,
					  char *why, size_t n)
{
	struct fc_rd r, l, s;
	struct der os;
	const uint8_t *list, *sct, *id, *b;
	size_t list_len, sct_len, bl;
	uint8_t version, hash, sig;

	fc_rd_init(&r, val->p, val->len);
	if (!der_expect(&r, DER_OCTET_STRING, &os) || !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_SCT_LIST, why, n, "not an OCTET STRING");
	fc_rd_init(&r, os.p, os.len);
	if (!fc_rd_vec(&r, 2, 1, 65535, &list, &list_len) || !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_SCT_LIST, why, n, "malformed list");
	fc_rd_init(&l, list, list_len);
	while (!fc_rd_done(&l)) {
		struct journal_sct *out = &info->scts[info->n_scts];
		if (info->n_scts == JOURNAL_MAX_SCTS || !fc_rd_vec(&l, 2, 1, 65535, &sct, &sct_len))
			return sg_refuse(SIGNER_REFUSE_SCT_LIST, why, n,
					 "malformed or too many SCTs");
		fc_rd_init(&s, sct, sct_len);
		if (!fc_rd_u8(&s, &version) || version != 0 || !fc_rd_bytes(&s, 32, &id) ||
		    !fc_rd_u64(&s, &out->timestamp) || !fc_rd_vec(&s, 2, 0, 65535, &b, &bl) ||
		    !fc_rd_u8(&s, &hash) || !fc_rd_u8(&s, &sig) ||
		    !fc_rd_vec(&s, 2, 1, 65535, &b, &bl) || !fc_rd_done(&s))
			return sg_refuse(SIGNER_REFUSE_SCT_LIST, why, n, "a malformed v1 SCT");
		memcpy(out->log_id, id, 32);
		info->n_scts++;
	}
	return SIGNER_OK;
}

/* A Sigstore extension 1.3.6.1.4.1.57264.1.<arc>, once each: 1 to 6 raw
 * bytes as Fulcio writes its v1 extensions, 8 and later a DER UTF8String;
 * 7 is the username SAN type, not an extension. The OIDC issuer (arc 8,
 * else arc 1) goes to info for the journal. */
static enum signer_refusal check_sigstore(const struct der *oid, const struct der *val,
					  struct seen *seen, struct sg_cert_info *info, char *why,
					  size_t n)
{
	size_t i = sizeof(oid_sigstore);
	unsigned arc = 0;
	struct fc_rd r;
	struct der u;

	if (oid->len == i || oid->p[i] == 0x80)
		return sg_refuse(SIGNER_REFUSE_SIGSTORE_EXT, why, n, "malformed Sigstore OID");
	for (; i < oid->len && arc <= 255; i++) {
		arc = arc << 7 | (oid->p[i] & 0x7fu);
		if (!(oid->p[i] & 0x80) && i + 1 != oid->len)
			return sg_refuse(SIGNER_REFUSE_SIGSTORE_EXT, why, n,
					 "a Sigstore OID too deep");
	}
	if (arc == 0 || arc == 7 || arc > 255 || (oid->p[oid->len - 1] & 0x80))
		return sg_refuse(SIGNER_REFUSE_SIGSTORE_EXT, why, n, "Sigstore extension arc %u",
				 arc);
	if (seen->arcs[arc / 8] & (1u << (arc % 8)))
		return sg_refuse(SIGNER_REFUSE_EXTENSION, why, n, "Sigstore extension 1.%u twice",
				 arc);
	seen->arcs[arc / 8] |= (uint8_t)(1u << (arc % 8));
	if (val->len == 0)
		return sg_refuse(SIGNER_REFUSE_SIGSTORE_EXT, why, n, "empty extension 1.%u", arc);
	if (arc >= 8) {
		fc_rd_init(&r, val->p, val->len);
		if (!der_expect(&r, DER_UTF8STRING, &u) || !fc_rd_done(&r) || u.len == 0 ||
		    !sg_utf8_ok(u.p, u.len))
			return sg_refuse(SIGNER_REFUSE_SIGSTORE_EXT, why, n,
					 "extension 1.%u is not a UTF8String", arc);
		if (arc == 8) {
			info->issuer = u.p;
			info->issuer_len = u.len;
			seen->issuer_from_v2 = true;
		}
	} else if (arc == 1 && !seen->issuer_from_v2) {
		info->issuer = val->p;
		info->issuer_len = val->len;
	}
	return SIGNER_OK;
}

static bool is(const struct der *oid, const uint8_t *want, size_t n)
{
	return oid->len == n && memcmp(oid->p, want, n) == 0;
}

static bool value_is(const struct der *val, const uint8_t *want, size_t n)
{
	return val->len == n && memcmp(val->p, want, n) == 0;
}

/* SubjectKeyId: the SHA-1 of the subjectPublicKey bits (method 1). */
static bool skid_ok(const struct der *val, const struct der *bits)
{
	uint8_t md[20];

	sg_sha1(bits->p + 1, bits->len - 1, md);
	return val->len == 2 + sizeof(md) && val->p[0] == DER_OCTET_STRING &&
	       val->p[1] == sizeof(md) && memcmp(val->p + 2, md, sizeof(md)) == 0;
}

/* AuthorityKeyId: SEQUENCE { [0] the issuing CA's key id } and nothing else. */
static bool akid_ok(const struct sg_ca_policy *p, const struct der *val)
{
	size_t k = p->issuer_skid_len;

	return p->issuer_skid != NULL && k < 126 && val->len == 4 + k &&
	       val->p[0] == DER_SEQUENCE && val->p[1] == 2 + k && val->p[2] == 0x80 &&
	       val->p[3] == k && memcmp(val->p + 4, p->issuer_skid, k) == 0;
}

/* One extension of the profile; *core_skip for the two that differ
 * between a precertificate and its final certificate. */
static enum signer_refusal check_one(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
				     const struct der *oid, bool crit, const struct der *val,
				     const struct der *bits, struct seen *seen,
				     struct sg_cert_info *info, bool *core_skip, char *why,
				     size_t n)
{
	bool *once = is(oid, oid_ku, 3)	       ? &seen->ku
		     : is(oid, oid_eku, 3)     ? &seen->eku
		     : is(oid, oid_skid, 3)    ? &seen->skid
		     : is(oid, oid_akid, 3)    ? &seen->akid
		     : is(oid, oid_san, 3)     ? &seen->san
		     : is(oid, oid_poison, 10) ? &info->poison
		     : is(oid, oid_scts, 10)   ? &info->sct_list
					       : NULL;
	bool want_crit = once == &seen->ku || once == &seen->san || once == &info->poison;
	char text[96];

	if (is(oid, oid_bc, 3))
		return sg_refuse(val->len > 2 && val->p[2] == DER_BOOLEAN ? SIGNER_REFUSE_CA
									  : SIGNER_REFUSE_EXTENSION,
				 why, n, "BasicConstraints: the signer never makes a CA");
	if (oid->len > sizeof(oid_sigstore) &&
	    memcmp(oid->p, oid_sigstore, sizeof(oid_sigstore)) == 0)
		return crit ? sg_refuse(SIGNER_REFUSE_CRITICAL, why, n,
					"critical Sigstore extension")
			    : check_sigstore(oid, val, seen, info, why, n);
	oid_text(oid, text, sizeof(text));
	if (once == NULL)
		return sg_refuse(SIGNER_REFUSE_EXTENSION, why, n, "extension %s is not allowed",
				 text);
	if (*once)
		return sg_refuse(SIGNER_REFUSE_EXTENSION, why, n, "extension %s twice", text);
	*once = true;
	if (crit != want_crit)
		return sg_refuse(SIGNER_REFUSE_CRITICAL, why, n, "extension %s %s critical", text,
				 want_crit ? "must be" : "must not be");
	*core_skip = once == &info->poison || once == &info->sct_list;
	if (once == &seen->ku && !value_is(val, ku_value, sizeof(ku_value)))
		return sg_refuse(SIGNER_REFUSE_KEY_USAGE, why, n,
				 "KeyUsage is not digitalSignature");
	if (once == &seen->eku && !value_is(val, eku_value, sizeof(eku_value)))
		return sg_refuse(SIGNER_REFUSE_EXT_KEY_USAGE, why, n,
				 "ExtKeyUsage is not codeSigning");
	if (once == &seen->skid && !skid_ok(val, bits))
		return sg_refuse(SIGNER_REFUSE_SKI, why, n, "SubjectKeyId is not the key's");
	if (once == &seen->akid && !akid_ok(p, val))
		return sg_refuse(SIGNER_REFUSE_AKI, why, n,
				 "AuthorityKeyId is not the CA's key id");
	if (once == &seen->san)
		return check_san(val, info, why, n);
	if (once == &info->poison && (kind != HSM_SIGN_PRECERT || !value_is(val, null_value, 2)))
		return sg_refuse(SIGNER_REFUSE_CT, why, n, "a CT poison outside a precertificate");
	if (once == &info->sct_list && (kind != HSM_SIGN_CERT || !p->ct))
		return sg_refuse(SIGNER_REFUSE_CT, why, n, "an SCT list without a CT log");
	if (once == &info->sct_list)
		return check_sct_list(val, info, why, n);
	return SIGNER_OK;
}

/* What must be there once all extensions are read. */
static enum signer_refusal check_present(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
					 const struct seen *seen, const struct sg_cert_info *info,
					 char *why, size_t n)
{
	if (!seen->ku || !seen->eku || !seen->skid || !seen->san)
		return sg_refuse(SIGNER_REFUSE_EXTENSION, why, n, "missing %s",
				 !seen->ku     ? "KeyUsage"
				 : !seen->eku  ? "ExtKeyUsage"
				 : !seen->skid ? "SubjectKeyId"
					       : "SubjectAltName");
	if (seen->akid != (p->issuer_skid != NULL))
		return sg_refuse(SIGNER_REFUSE_AKI, why, n, "AuthorityKeyId %s",
				 seen->akid ? "without an issuer key id" : "missing");
	if (kind == HSM_SIGN_PRECERT && (!p->ct || !info->poison))
		return sg_refuse(SIGNER_REFUSE_CT, why, n, "a precertificate %s",
				 p->ct ? "without the poison" : "without a CT log");
	if (kind == HSM_SIGN_CERT && p->ct && !info->sct_list)
		return sg_refuse(SIGNER_REFUSE_CT, why, n, "a certificate without an SCT list");
	return SIGNER_OK;
}

/*
 * Check every extension of exts (the SEQUENCE's contents) against the
 * profile (signer_int.h), adding each but the poison and the SCT list to
 * core. SIGNER_OK or the refusal and why.
 */
enum signer_refusal sg_check_extensions(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
					struct fc_rd *exts, const struct der *spki_bits,
					struct sg_cert_info *info, struct fc_buf *core, char *why,
					size_t why_len)
{
	struct seen seen;
	enum signer_refusal rf;

	memset(&seen, 0, sizeof(seen));
	while (!fc_rd_done(exts)) {
		struct der ext, oid, crit, val;
		struct fc_rd e;
		bool critical = false, skip = false;
		uint8_t tag;

		if (!der_expect(exts, DER_SEQUENCE, &ext))
			return sg_refuse(SIGNER_REFUSE_DER, why, why_len, "malformed extension");
		der_enter(&ext, &e);
		if (!der_expect(&e, DER_OID, &oid) || oid.len == 0)
			return sg_refuse(SIGNER_REFUSE_DER, why, why_len, "extension without OID");
		if (der_peek(&e, &tag) && tag == DER_BOOLEAN) {
			/* DER: TRUE is 0xff, and FALSE (the default) is left out. */
			if (!der_next(&e, &crit) || crit.len != 1 || crit.p[0] != 0xff)
				return sg_refuse(SIGNER_REFUSE_DER, why, why_len,
						 "malformed critical flag");
			critical = true;
		}
		if (!der_expect(&e, DER_OCTET_STRING, &val) || !fc_rd_done(&e))
			return sg_refuse(SIGNER_REFUSE_DER, why, why_len,
					 "malformed extension value");
		rf = check_one(p, kind, &oid, critical, &val, spki_bits, &seen, info, &skip, why,
			       why_len);
		if (rf != SIGNER_OK)
			return rf;
		if (!skip)
			fc_buf_append(core, ext.tlv, ext.tlv_len);
	}
	return check_present(p, kind, &seen, info, why, why_len);
}
