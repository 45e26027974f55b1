/*
 * What the signer agrees to sign as a certificate: its own reading of the
 * TBSCertificate (RFC 5280 4.1) it is handed, independent of ca/'s builder,
 * field by field against the certificate fulcrum issues: v3, a serial of
 * 9 to 20 octets, the key's signature algorithm, the issuing CA's name, a
 * validity no longer than the lifetime starting about now, an empty
 * subject, a client key of a type fulcrum accepts, and exactly the
 * extensions of the profile (policy_ext.c). Anything else is refused with
 * its reason.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "signer_int.h"

/*
 * Record a refusal reason in why (n bytes) and return r, so that checks
 * read `return sg_refuse(SIGNER_REFUSE_X, why, n, "...")`.
 */
enum signer_refusal sg_refuse(enum signer_refusal r, char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && n > 0) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return r;
}

static EVP_MD *md_sha256, *md_sha1;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static void digest(EVP_MD *md, const EVP_MD *fallback, const void *p, size_t n, uint8_t *out)
{
	if (EVP_Digest(p, n, out, NULL, md != NULL ? md : fallback, NULL) != 1)
		abort(); /* a digest of memory cannot fail but for lack of memory */
}

/* SHA-256 of p[0..n) into out (signer_int.h). */
void sg_sha256(const void *p, size_t n, uint8_t out[32])
{
	pthread_once(&md_once, md_fetch);
	digest(md_sha256, EVP_sha256(), p, n, out);
}

/* SHA-1 of p[0..n) into out (signer_int.h): SubjectKeyId method 1. */
void sg_sha1(const void *p, size_t n, uint8_t out[20])
{
	pthread_once(&md_once, md_fetch);
	digest(md_sha1, EVP_sha1(), p, n, out);
}

/* The AlgorithmIdentifiers a CA key signs with, as Go and ca/cert.c write
 * them (RFC 5758 3.2: ECDSA without parameters; RFC 4055 5: RSA with NULL;
 * RFC 4055 3.1: PSS with SHA-256, MGF1-SHA-256, salt 32; RFC 8410 3). */
static const uint8_t alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t alg_ecdsa_sha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t alg_ecdsa_sha512[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
static const uint8_t alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const uint8_t alg_rsa_pss[] = {
	0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
	0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
};
static const uint8_t alg_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

/*
 * The DER AlgorithmIdentifier of a signature NID (signer_int.h), or NULL
 * for one fulcrum does not sign with.
 */
const uint8_t *sg_sig_alg_der(int nid, size_t *len)
{
#define ALG(a) (*len = sizeof(a), a)
	switch (nid) {
	case NID_ecdsa_with_SHA256: return ALG(alg_ecdsa_sha256);
	case NID_ecdsa_with_SHA384: return ALG(alg_ecdsa_sha384);
	case NID_ecdsa_with_SHA512: return ALG(alg_ecdsa_sha512);
	case NID_sha256WithRSAEncryption: return ALG(alg_rsa_sha256);
	case NID_rsassaPss: return ALG(alg_rsa_pss);
	case NID_ED25519: return ALG(alg_ed25519);
	default: return NULL;
	}
#undef ALG
}

/* --- time (RFC 5280 4.1.2.5) ---------------------------------------------------------- */

static bool digits(const uint8_t *p, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* A Time: UTCTime YYMMDDHHMMSSZ for 1950-2049, GeneralizedTime
 * YYYYMMDDHHMMSSZ from 2050 (RFC 5280 4.1.2.5.1-2), as seconds. */
static bool read_time(struct fc_rd *r, int64_t *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct der t;
	int y, mo, d, h, mi, s;
	size_t yl;

	if (!der_next(r, &t) || (t.tag != DER_UTCTIME && t.tag != DER_GENTIME))
		return false;
	yl = t.tag == DER_UTCTIME ? 2 : 4;
	if (t.len != yl + 11 || t.p[t.len - 1] != 'Z' || !digits(t.p, yl, &y) ||
	    !digits(t.p + yl, 2, &mo) || !digits(t.p + yl + 2, 2, &d) ||
	    !digits(t.p + yl + 4, 2, &h) || !digits(t.p + yl + 6, 2, &mi) ||
	    !digits(t.p + yl + 8, 2, &s))
		return false;
	if (t.tag == DER_UTCTIME)
		y += y < 50 ? 2000 : 1900;
	else if (y < 2050)
		return false; /* UTCTime was due */
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) || h > 23 ||
	    mi > 59 || s > 59)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return true;
}

/* --- the subject public key --------------------------------------------------------- */

static const uint8_t oid_ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t oid_ed25519[] = {0x2b, 0x65, 0x70};

static bool oid_is(const struct der *o, const uint8_t *want, size_t n)
{
	return o->len == n && memcmp(o->p, want, n) == 0;
}

/* A positive INTEGER in its shortest form (X.690 8.3.2). */
static bool positive_int(const struct der *i)
{
	return i->len > 0 && (i->p[0] & 0x80) == 0 &&
	       !(i->len > 1 && i->p[0] == 0 && i->p[1] < 0x80);
}

/* RSAPublicKey (RFC 8017 A.1.1) of 2048, 3072 or 4096 bits, e = 65537
 * (the sizes and exponent of sigstore's goodkey). */
static bool rsa_key_ok(const uint8_t *p, size_t len)
{
	struct fc_rd r, k;
	struct der seq, n, e;
	size_t bytes, bits;
	uint8_t top;

	fc_rd_init(&r, p, len);
	if (!der_expect(&r, DER_SEQUENCE, &seq) || !fc_rd_done(&r))
		return false;
	der_enter(&seq, &k);
	if (!der_expect(&k, DER_INTEGER, &n) || !der_expect(&k, DER_INTEGER, &e) ||
	    !fc_rd_done(&k) || !positive_int(&n) || !positive_int(&e))
		return false;
	bytes = n.len - (n.p[0] == 0);
	top = n.p[n.len - bytes];
	bits = 8 * (bytes - 1);
	for (; top != 0; top >>= 1)
		bits++;
	return (bits == 2048 || bits == 3072 || bits == 4096) && e.len == 3 &&
	       memcmp(e.p, "\x01\x00\x01", 3) == 0;
}

/*
 * The SubjectPublicKeyInfo (RFC 5280 4.1.2.7): EC P-256/P-384/P-521 with a
 * named curve and an uncompressed point (RFC 5480), RSA (RFC 3279 2.3.1,
 * NULL parameters), Ed25519 (RFC 8410 4). *bits: its subjectPublicKey.
 */
static enum signer_refusal check_spki(const struct der *spki, struct der *bits, char *why, size_t n)
{
	struct fc_rd r, a;
	struct der alg, oid, param;
	size_t point = 0;

	der_enter(spki, &r);
	if (!der_expect(&r, DER_SEQUENCE, &alg) || !der_expect(&r, DER_BIT_STRING, bits) ||
	    !fc_rd_done(&r) || bits->len < 1 || bits->p[0] != 0)
		return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n, "malformed public key");
	der_enter(&alg, &a);
	if (!der_expect(&a, DER_OID, &oid))
		return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n, "malformed key algorithm");
	if (oid_is(&oid, oid_ec, sizeof(oid_ec))) {
		if (!der_expect(&a, DER_OID, &param) || !fc_rd_done(&a))
			return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n,
					 "EC key without a named curve");
		if (oid_is(&param, oid_p256, sizeof(oid_p256)))
			point = 65;
		else if (oid_is(&param, oid_p384, sizeof(oid_p384)))
			point = 97;
		else if (oid_is(&param, oid_p521, sizeof(oid_p521)))
			point = 133;
		if (point == 0 || bits->len != 1 + point || bits->p[1] != 0x04)
			return sg_refuse(
				SIGNER_REFUSE_PUBLIC_KEY, why, n,
				"EC key not on P-256/P-384/P-521 as an uncompressed point");
		return SIGNER_OK;
	}
	if (oid_is(&oid, oid_rsa, sizeof(oid_rsa))) {
		if (!der_expect(&a, DER_NULL, &param) || param.len != 0 || !fc_rd_done(&a) ||
		    !rsa_key_ok(bits->p + 1, bits->len - 1))
			return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n,
					 "RSA key not of 2048, 3072 or 4096 bits with e=65537");
		return SIGNER_OK;
	}
	if (oid_is(&oid, oid_ed25519, sizeof(oid_ed25519))) {
		if (!fc_rd_done(&a) || bits->len != 33)
			return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n, "malformed Ed25519 key");
		return SIGNER_OK;
	}
	return sg_refuse(SIGNER_REFUSE_PUBLIC_KEY, why, n, "a key type fulcrum does not accept");
}

/* --- the TBSCertificate ----------------------------------------------------------------- */

/* Validity: NotAfter after NotBefore by at most the lifetime; NotBefore
 * near now unless this is a final certificate (its precertificate's
 * NotBefore was checked, and serials.c bounds the time between them). */
static enum signer_refusal check_validity(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
					  const struct der *v, int64_t now,
					  struct sg_cert_info *info, char *why, size_t n)
{
	struct fc_rd r;
	int64_t nb, na;

	der_enter(v, &r);
	if (!read_time(&r, &nb) || !read_time(&r, &na) || !fc_rd_done(&r))
		return sg_refuse(SIGNER_REFUSE_VALIDITY, why, n, "malformed validity");
	if (na <= nb || na - nb > p->lifetime_s)
		return sg_refuse(SIGNER_REFUSE_VALIDITY, why, n,
				 "validity of %lld s (the lifetime is %d s)", (long long)(na - nb),
				 p->lifetime_s);
	if (!(kind == HSM_SIGN_CERT && p->ct) &&
	    (nb < now - SIGNER_SKEW_PAST_S || nb > now + SIGNER_SKEW_FUTURE_S))
		return sg_refuse(SIGNER_REFUSE_NOT_BEFORE, why, n,
				 "NotBefore is %lld s away from now", (long long)(nb - now));
	info->not_before = nb;
	return SIGNER_OK;
}

/* Append an element to the core (the TBS fields the precertificate and its
 * final certificate share). */
static void core_add(struct fc_buf *core, const struct der *e)
{
	fc_buf_append(core, e->tlv, e->tlv_len);
}

/* The fields before the extensions: version, serial, signature algorithm,
 * issuer, validity, subject, subject public key. */
static enum signer_refusal check_fields(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
					struct fc_rd *r, int64_t now, struct sg_cert_info *info,
					struct der *bits, struct fc_buf *core, char *why, size_t n)
{
	static const uint8_t v3[] = {0x02, 0x01, 0x02};
	struct der ver, serial, alg, issuer, validity, subject, spki;
	enum signer_refusal rf;

	if (!der_expect(r, DER_CTX0, &ver) || ver.len != sizeof(v3) || memcmp(ver.p, v3, 3) != 0)
		return sg_refuse(SIGNER_REFUSE_VERSION, why, n, "not a v3 certificate");
	if (!der_expect(r, DER_INTEGER, &serial))
		return sg_refuse(SIGNER_REFUSE_DER, why, n, "no serial number");
	if (!positive_int(&serial) || serial.len < 9 || serial.len > 20)
		return sg_refuse(SIGNER_REFUSE_SERIAL, why, n,
				 "the serial is not a positive integer of 9 to 20 octets (%zu)",
				 serial.len);
	if (!der_expect(r, DER_SEQUENCE, &alg) || alg.tlv_len != p->sig_alg_len ||
	    memcmp(alg.tlv, p->sig_alg, p->sig_alg_len) != 0)
		return sg_refuse(SIGNER_REFUSE_SIG_ALG, why, n,
				 "not the key's signature algorithm");
	if (!der_expect(r, DER_SEQUENCE, &issuer) || issuer.tlv_len != p->issuer_name_len ||
	    memcmp(issuer.tlv, p->issuer_name, p->issuer_name_len) != 0)
		return sg_refuse(SIGNER_REFUSE_ISSUER, why, n, "the issuer is not the issuing CA");
	if (!der_expect(r, DER_SEQUENCE, &validity))
		return sg_refuse(SIGNER_REFUSE_DER, why, n, "no validity");
	if ((rf = check_validity(p, kind, &validity, now, info, why, n)) != SIGNER_OK)
		return rf;
	if (!der_expect(r, DER_SEQUENCE, &subject) || subject.len != 0)
		return sg_refuse(SIGNER_REFUSE_SUBJECT, why, n, "the subject is not empty");
	if (!der_expect(r, DER_SEQUENCE, &spki))
		return sg_refuse(SIGNER_REFUSE_DER, why, n, "no subject public key");
	if ((rf = check_spki(&spki, bits, why, n)) != SIGNER_OK)
		return rf;
	info->serial = serial.p;
	info->serial_len = serial.len;
	info->spki = spki.tlv;
	info->spki_len = spki.tlv_len;
	core_add(core, &ver);
	core_add(core, &serial);
	core_add(core, &alg);
	core_add(core, &issuer);
	core_add(core, &validity);
	core_add(core, &subject);
	core_add(core, &spki);
	return SIGNER_OK;
}

/*
 * Check tbs as a certificate of kind (signer_int.h). Returns SIGNER_OK with
 * *info (pointers into tbs), else the refusal and why.
 */
enum signer_refusal sg_check_cert(const struct sg_ca_policy *p, enum hsm_sign_kind kind,
				  const uint8_t *tbs, size_t len, int64_t now,
				  struct sg_cert_info *info, char *why, size_t why_len)
{
	struct fc_rd top, r, x;
	struct der seq, exts_w, exts, bits;
	struct fc_buf core;
	enum signer_refusal rf;

	memset(info, 0, sizeof(*info));
	if (kind != HSM_SIGN_PRECERT && kind != HSM_SIGN_CERT)
		return sg_refuse(SIGNER_REFUSE_KIND, why, why_len, "not a certificate");
	fc_rd_init(&top, tbs, len);
	if (!der_expect(&top, DER_SEQUENCE, &seq) || !fc_rd_done(&top))
		return sg_refuse(SIGNER_REFUSE_DER, why, why_len, "not one DER SEQUENCE");
	der_enter(&seq, &r);
	fc_buf_init(&core, 0);
	rf = check_fields(p, kind, &r, now, info, &bits, &core, why, why_len);
	if (rf == SIGNER_OK && (!der_expect(&r, DER_CTX3, &exts_w) || !fc_rd_done(&r)))
		rf = sg_refuse(SIGNER_REFUSE_DER, why, why_len,
			       "unique identifiers, no extensions, or bytes after them");
	if (rf == SIGNER_OK) {
		der_enter(&exts_w, &x);
		if (!der_expect(&x, DER_SEQUENCE, &exts) || !fc_rd_done(&x) || exts.len == 0)
			rf = sg_refuse(SIGNER_REFUSE_DER, why, why_len, "malformed extensions");
	}
	if (rf == SIGNER_OK) {
		der_enter(&exts, &x);
		rf = sg_check_extensions(p, kind, &x, &bits, info, &core, why, why_len);
	}
	if (rf == SIGNER_OK)
		sg_sha256(core.data, core.len, info->core_hash);
	fc_buf_free(&core);
	return rf;
}
