/*
 * Submissions to the log: the accepted roots, the checks on a submitted
 * chain (RFC 6962 3.1, 4.1, 4.2), and the bytes of an entry once it has a
 * timestamp and an index: the TimestampedEntry (RFC 6962 3.4) with the
 * leaf_index extension and the TileLeaf of c2sp.org/static-ct-api.
 */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlog_srv_int.h"

/* RFC 6962 3.1 Precertificate Signing Certificate EKU. */
#define PRECERT_SIGNING_EKU_OID "1.3.6.1.4.1.11129.2.4.4"

struct root {
	X509 *x;
	uint8_t fp[CTLOG_HASH_LEN];
};

struct ctlog_roots {
	struct root *r;
	size_t n;
	char *json;
	size_t json_len;
	struct ctlog_chain_cache *verified; /* issuer chains already checked */
};

/* Distinct issuer chains remembered (CAs submitting to this log at once). */
#define VERIFIED_CHAINS 64

void ctlog_roots_free(struct ctlog_roots *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		X509_free(r->r[i].x);
	free(r->r);
	free(r->json);
	ctlog_chain_cache_free(r->verified);
	free(r);
}

size_t ctlog_roots_count(const struct ctlog_roots *r)
{
	return r->n;
}

const char *ctlog_roots_json(const struct ctlog_roots *r, size_t *len)
{
	*len = r->json_len;
	return r->json;
}

static bool cert_der(X509 *x, uint8_t **der, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);

	if (n <= 0)
		return false;
	*der = p;
	*len = (size_t)n;
	return true;
}

/*
 * The accepted roots from PEM text (name: where it came from, for
 * messages): every certificate in it (at least one, at most
 * CTLOG_SRV_MAX_ROOTS), and the get-roots answer (RFC 6962 4.7) built once.
 * FC_ECONFIG with the reason in err; free *out with ctlog_roots_free.
 */
enum fc_status ctlog_roots_parse(const char *pem, size_t pem_len, const char *name,
				 struct ctlog_roots **out, struct fc_err *err)
{
	struct ctlog_roots *r = fc_xcalloc(1, sizeof(*r));
	BIO *bio = NULL;
	X509 *x = NULL;
	json_t *arr = json_array(), *root = NULL;
	enum fc_status st = FC_ECONFIG;

	if (pem_len > CTLOG_SRV_MAX_ROOTS_FILE ||
	    (bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		uint8_t *der = NULL;
		size_t der_len;
		char *b64;

		if (r->n == CTLOG_SRV_MAX_ROOTS) {
			fc_err_set(err, FC_ECONFIG, "ctlog: roots %s: more than %d certificates",
				   name, CTLOG_SRV_MAX_ROOTS);
			goto out;
		}
		if (!cert_der(x, &der, &der_len)) {
			fc_err_set(err, FC_ECONFIG,
				   "ctlog: roots %s: certificate %zu: cannot encode", name,
				   r->n + 1);
			goto out;
		}
		r->r = fc_xrealloc(r->r, (r->n + 1) * sizeof(*r->r));
		r->r[r->n].x = x;
		x = NULL;
		ctlog_sha256(der, der_len, r->r[r->n].fp);
		b64 = fc_b64_encode(der, der_len);
		json_array_append_new(arr, json_string(b64));
		free(b64);
		OPENSSL_free(der);
		r->n++;
	}
	ERR_clear_error(); /* the end of the text reads as "no start line" */
	if (r->n == 0) {
		fc_err_set(err, FC_ECONFIG, "ctlog: roots %s: no PEM certificate", name);
		goto out;
	}
	root = json_pack("{s:O}", "certificates", arr);
	if (root == NULL || (r->json = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	r->json_len = strlen(r->json);
	r->verified = ctlog_chain_cache_new(VERIFIED_CHAINS);
	*out = r;
	r = NULL;
	st = FC_OK;
out:
	json_decref(root);
	json_decref(arr);
	X509_free(x);
	BIO_free(bio);
	ctlog_roots_free(r);
	return st;
}

/* ctlog_roots_parse of the PEM file at path. FC_ECONFIG with the reason. */
enum fc_status ctlog_roots_load(const char *path, struct ctlog_roots **out, struct fc_err *err)
{
	char *pem = NULL;
	size_t pem_len = 0;
	enum fc_status st;

	if (fc_read_file(path, CTLOG_SRV_MAX_ROOTS_FILE, &pem, &pem_len, err) != FC_OK)
		st = FC_ECONFIG;
	else
		st = ctlog_roots_parse(pem, pem_len, path, out, err);
	free(pem);
	return st;
}

/* --- entries ----------------------------------------------------------- */

void ctlog_entry_free(struct ctlog_entry *e)
{
	if (e == NULL)
		return;
	fc_buf_free(&e->signed_entry);
	free(e->tbs);
	free(e->cert);
	ctlog_issuers_unref(e->chain);
	free(e);
}

/* True when the certificate carries the precertificate signing EKU. */
static bool is_precert_signing_cert(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	ASN1_OBJECT *want = OBJ_txt2obj(PRECERT_SIGNING_EKU_OID, 1);
	bool found = false;

	for (int i = 0; eku != NULL && want != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
			found = true;
	ASN1_OBJECT_free(want);
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

/* The leaf's EKU filter (TesseraCT's --ext_key_usages: the leaf only; a
 * leaf without the extension, or with anyExtendedKeyUsage, passes). */
static bool eku_allowed(X509 *leaf, unsigned mask)
{
	static const struct {
		unsigned ours;
		uint32_t xku;
	} map[] = {
		{CTLOG_EKU_SERVER_AUTH, XKU_SSL_SERVER},  {CTLOG_EKU_CLIENT_AUTH, XKU_SSL_CLIENT},
		{CTLOG_EKU_CODE_SIGNING, XKU_CODE_SIGN},  {CTLOG_EKU_EMAIL_PROTECTION, XKU_SMIME},
		{CTLOG_EKU_TIME_STAMPING, XKU_TIMESTAMP}, {CTLOG_EKU_OCSP_SIGNING, XKU_OCSP_SIGN},
	};
	uint32_t xku;

	if (mask == 0 || (mask & CTLOG_EKU_ANY))
		return true;
	if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE))
		return true;
	xku = X509_get_extended_key_usage(leaf);
	if (xku & XKU_ANYEKU)
		return true;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if ((mask & map[i].ours) && (xku & map[i].xku))
			return true;
	return false;
}

static bool asn1_time_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	*out = (int64_t)timegm(&tm);
	return true;
}

/* One DER element: where it starts, its header length, its whole length. */
struct der_el {
	const uint8_t *p;
	size_t hdr, len;
};

/* Read one DER element from r (X.690 8.1: a one-byte tag, a short or long
 * definite length of at most 3 bytes, the content); false, r unmoved, if
 * it is malformed or runs past the end. */
static bool rd_der(struct fc_rd *r, struct der_el *el)
{
	struct fc_rd t = *r;
	const uint8_t *content;
	uint8_t tag, l0;
	uint64_t n;

	if (!fc_rd_u8(&t, &tag) || !fc_rd_u8(&t, &l0))
		return false;
	if (l0 < 0x80)
		n = l0;
	else if ((l0 & 0x7f) == 0 || (l0 & 0x7f) > 3 || !fc_rd_uint(&t, l0 & 0x7f, &n))
		return false;
	el->p = r->p + r->off;
	el->hdr = t.off - r->off;
	if (!fc_rd_bytes(&t, (size_t)n, &content))
		return false;
	el->len = t.off - r->off;
	*r = t;
	return true;
}

/* The tbsCertificate and signatureValue elements of a certificate's DER
 * (RFC 5280 4.1: SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }); false if that is not its shape. */
static bool cert_parts(const uint8_t *der, size_t len, struct der_el *tbs, struct der_el *sig)
{
	struct fc_rd r, in;
	struct der_el cert, alg;

	fc_rd_init(&r, der, len);
	if (!rd_der(&r, &cert))
		return false;
	fc_rd_init(&in, cert.p + cert.hdr, cert.len - cert.hdr);
	return rd_der(&in, tbs) && rd_der(&in, &alg) && rd_der(&in, sig);
}

/* The TBSCertificate bytes inside a certificate's DER (RFC 5280 4.1). */
static bool tbs_of(const uint8_t *der, size_t len, const uint8_t **tbs, size_t *tbs_len)
{
	struct der_el t, sig;

	if (!cert_parts(der, len, &t, &sig))
		return false;
	*tbs = t.p;
	*tbs_len = t.len;
	return true;
}

/*
 * RFC 6962 3.2, for a precertificate issued by the Precertificate Signing
 * Certificate psc: the issuer becomes psc's issuer (the final issuer) and
 * the AuthorityKeyIdentifier psc's own (which names the final issuer's
 * key): the leaf's AKI value is replaced, removed if psc has none, added
 * last if only psc has one (as certificate-transparency-go's
 * BuildPrecertTBS does). False if OpenSSL fails.
 */
static bool rewrite_for_psc(X509 *leaf, X509 *psc)
{
	int li = X509_get_ext_by_NID(leaf, NID_authority_key_identifier, -1);
	int pi = X509_get_ext_by_NID(psc, NID_authority_key_identifier, -1);
	ASN1_OCTET_STRING *v = pi >= 0 ? X509_EXTENSION_get_data(X509_get_ext(psc, pi)) : NULL;
	X509_EXTENSION *ext = NULL;
	bool ok;

	if (X509_set_issuer_name(leaf, X509_get_issuer_name(psc)) != 1)
		return false;
	if (li >= 0 && v != NULL)
		return X509_EXTENSION_set_data(X509_get_ext(leaf, li), v) == 1;
	if (li >= 0) {
		X509_EXTENSION_free(X509_delete_ext(leaf, li));
		return true;
	}
	if (v == NULL)
		return true;
	ok = (ext = X509_EXTENSION_create_by_NID(NULL, NID_authority_key_identifier, 0, v)) !=
		     NULL &&
	     X509_add_ext(leaf, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * The precertificate's TBSCertificate without the poison (RFC 6962 3.2),
 * and with psc (a Precertificate Signing Certificate, or NULL) the issuer
 * and AKI of the final issuer. The TBS is re-encoded by OpenSSL as its own
 * CT code does; it must first re-encode to exactly the submitted bytes, so
 * that the only changes are the ones 3.2 asks for. This edits leaf: call
 * it last.
 */
static bool precert_tbs(X509 *leaf, X509 *psc, const uint8_t *der, size_t der_len,
			struct fc_buf *tbs, struct fc_err *err)
{
	unsigned char *re = NULL;
	const uint8_t *orig = NULL;
	size_t n_orig = 0;
	int n_re, idx;
	bool ok = false;

	n_re = i2d_re_X509_tbs(leaf, &re);
	if (!tbs_of(der, der_len, &orig, &n_orig) || n_re <= 0 || (size_t)n_re != n_orig ||
	    memcmp(orig, re, n_orig) != 0) {
		fc_err_set(err, FC_EINPUT, "precertificate TBSCertificate is not in DER");
		goto out;
	}
	OPENSSL_free(re);
	re = NULL;
	idx = X509_get_ext_by_NID(leaf, NID_ct_precert_poison, -1);
	X509_EXTENSION_free(X509_delete_ext(leaf, idx));
	if (psc != NULL && !rewrite_for_psc(leaf, psc)) {
		ERR_clear_error();
		fc_err_set(err, FC_EINPUT,
			   "RFC 6962 3.2: cannot give the precertificate the final "
			   "issuer's name and key identifier");
		goto out;
	}
	n_re = i2d_re_X509_tbs(leaf, &re);
	if (n_re <= 0 || !fc_buf_append(tbs, re, (size_t)n_re)) {
		ERR_clear_error();
		fc_err_set(err, FC_EINPUT,
			   "precertificate TBSCertificate cannot be re-encoded "
			   "without the poison");
		goto out;
	}
	ok = true;
out:
	OPENSSL_free(re);
	return ok;
}

/* The poison of RFC 6962 3.1: once, critical, value ASN.1 NULL. */
static enum fc_status check_poison(X509 *leaf, bool precert, struct fc_err *err)
{
	int idx = X509_get_ext_by_NID(leaf, NID_ct_precert_poison, -1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *v;

	if (!precert) {
		if (idx >= 0)
			return fc_err_set(err, FC_EINPUT,
					  "RFC 6962 4.1: add-chain got a "
					  "precertificate (use add-pre-chain)");
		return FC_OK;
	}
	if (idx < 0)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 4.2: add-pre-chain got a certificate "
				  "without the CT poison extension");
	if (X509_get_ext_by_NID(leaf, NID_ct_precert_poison, idx) >= 0)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 3.1: CT poison extension appears twice");
	ext = X509_get_ext(leaf, idx);
	if (X509_EXTENSION_get_critical(ext) != 1)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 3.1: CT poison extension is not critical");
	v = X509_EXTENSION_get_data(ext);
	if (ASN1_STRING_length(v) != 2 || ASN1_STRING_get0_data(v)[0] != 0x05 ||
	    ASN1_STRING_get0_data(v)[1] != 0x00)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 3.1: CT poison extension value is not "
				  "ASN.1 NULL");
	return FC_OK;
}

/* Decode chain[i] of b: base64 DER of one certificate, nothing after it.
 * With libctx keyless, the certificate's public key is left undecoded. */
static X509 *decode_cert(const struct ctlog_chain_body *b, size_t i, OSSL_LIB_CTX *libctx,
			 uint8_t **der, size_t *der_len, struct fc_err *err)
{
	const char *s = b->s[i];
	size_t slen = b->len[i];
	const unsigned char *p;
	X509 *x = NULL;

	if (s == NULL) {
		fc_err_set(err, FC_EINPUT, "chain[%zu]: not a string", i);
		return NULL;
	}
	if (slen > (CTLOG_SRV_MAX_CERT / 3 + 1) * 4) {
		fc_err_set(err, FC_ETOOBIG, "chain[%zu]: over %d bytes", i, CTLOG_SRV_MAX_CERT);
		return NULL;
	}
	if (slen == 0 || !fc_b64_decode_any(s, slen, der, der_len)) {
		fc_err_set(err, FC_EINPUT, "chain[%zu]: not base64", i);
		return NULL;
	}
	p = *der;
	x = X509_new_ex(libctx, NULL);
	if (x == NULL || d2i_X509(&x, &p, (long)*der_len) == NULL || p != *der + *der_len) {
		ERR_clear_error();
		X509_free(x);
		fc_err_set(err, FC_EINPUT, "chain[%zu]: not a DER X.509 certificate", i);
		return NULL;
	}
	/* EXFLAG_INVALID: duplicate or undecodable extensions (RFC 5280 4.2) */
	if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
		X509_free(x);
		fc_err_set(err, FC_EINPUT, "chain[%zu]: invalid or duplicate extensions", i);
		return NULL;
	}
	return x;
}

/* Does issuer certify subject (names, key identifiers, signature)? */
static bool certifies(X509 *issuer, X509 *subject)
{
	EVP_PKEY *k = X509_get0_pubkey(issuer);
	bool ok = k != NULL && X509_check_issued(issuer, subject) == X509_V_OK &&
		  X509_verify(subject, k) == 1;

	ERR_clear_error();
	return ok;
}

/* The BIT STRING after the TBSCertificate and signatureAlgorithm of a
 * certificate's DER, with no unused bits (as X509_verify insists). */
static bool signature_whole_bytes(const uint8_t *der, size_t len)
{
	struct der_el tbs, sig;

	return cert_parts(der, len, &tbs, &sig) && sig.p[0] == 0x03 && sig.hdr < sig.len &&
	       sig.p[sig.hdr] == 0; /* the unused-bits octet */
}

/* The slot of a SHA-2 digest in ctlog_issuers' prepared contexts. */
static size_t md_slot(int md)
{
	return md == NID_sha256 ? 0 : md == NID_sha384 ? 1 : 2;
}

/* Verify sig over tbs with the issuer's context prepared for digest slot
 * i: the digest with the algorithm fetched once, the signature on a copy
 * of the context (OpenSSL 3.0 fetches both algorithms again at every
 * EVP_DigestVerifyInit). */
static bool verify_prepared(const struct ctlog_issuers *c, size_t i, const ASN1_BIT_STRING *sig,
			    const uint8_t *tbs, size_t tbs_len)
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_dup(c->vctx[i]);
	bool ok = p != NULL && EVP_Digest(tbs, tbs_len, dg, &dl, c->vmd[i], NULL) == 1 &&
		  EVP_PKEY_verify(p, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig),
				  dg, dl) == 1;

	EVP_PKEY_CTX_free(p);
	return ok;
}

/* Prepare c's verification contexts of the leaf's issuer (first) for
 * SHA-256, -384 and -512 (ECDSA, or RSA PKCS#1 v1.5). A slot that cannot
 * be prepared stays NULL and takes the general path. */
static void prepare_verify(struct ctlog_issuers *c)
{
	static const char *const names[3] = {"SHA2-256", "SHA2-384", "SHA2-512"};
	EVP_PKEY *key = X509_get0_pubkey(c->first);

	for (size_t i = 0; key != NULL && i < 3; i++) {
		EVP_MD *md = EVP_MD_fetch(NULL, names[i], NULL);
		EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

		if (md != NULL && p != NULL && EVP_PKEY_verify_init(p) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(p, md) == 1) {
			c->vctx[i] = p;
			c->vmd[i] = md;
			p = NULL;
			md = NULL;
		}
		EVP_PKEY_CTX_free(p);
		EVP_MD_free(md);
	}
	ERR_clear_error();
}

/*
 * Does issuer certify x, whose DER is der (names, key identifiers,
 * signature)? A leaf is parsed without its own public key (decode_cert
 * with the keyless context: decoding a key costs OpenSSL 3.0 more than
 * the rest of the certificate together), so X509_verify cannot run on it.
 * ECDSA and RSA PKCS#1 v1.5 signatures with SHA-2 are verified here, over
 * the submitted TBSCertificate, with the checks X509_verify makes (inner
 * and outer algorithm equal, key type, whole-byte signature), through the
 * contexts prep (the leaf's issuers, or NULL) holds ready; anything else
 * is parsed again in full and left to X509_verify.
 */
static bool certified_by(X509 *issuer, X509 *x, const uint8_t *der, size_t der_len,
			 const struct ctlog_issuers *prep)
{
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *oid;
	const uint8_t *tbs;
	size_t tbs_len;
	int md = NID_undef, pk = NID_undef;
	EVP_MD_CTX *c = NULL;
	bool ok = false;

	if (key == NULL || X509_check_issued(issuer, x) != X509_V_OK)
		goto out;
	X509_get0_signature(&sig, &alg, x);
	X509_ALGOR_get0(&oid, NULL, NULL, alg);
	if (!OBJ_find_sigid_algs(OBJ_obj2nid(oid), &md, &pk) ||
	    !(md == NID_sha256 || md == NID_sha384 || md == NID_sha512) ||
	    !(pk == NID_X9_62_id_ecPublicKey || pk == NID_rsaEncryption)) {
		const unsigned char *p = der;
		X509 *full = d2i_X509(NULL, &p, (long)der_len);

		ok = full != NULL && certifies(issuer, full);
		X509_free(full);
		goto out;
	}
	if (X509_ALGOR_cmp(alg, X509_get0_tbs_sigalg(x)) != 0 ||
	    !EVP_PKEY_is_a(key, pk == NID_rsaEncryption ? "RSA" : "EC") ||
	    !signature_whole_bytes(der, der_len) || !tbs_of(der, der_len, &tbs, &tbs_len))
		goto out;
	if (prep != NULL && prep->vctx[md_slot(md)] != NULL) {
		ok = verify_prepared(prep, md_slot(md), sig, tbs, tbs_len);
		goto out;
	}
	ok = (c = EVP_MD_CTX_new()) != NULL &&
	     EVP_DigestVerifyInit_ex(c, NULL, OBJ_nid2sn(md), NULL, NULL, key, NULL) == 1 &&
	     EVP_DigestVerify(c, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig), tbs,
			      tbs_len) == 1;
out:
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok;
}

/*
 * The cache key of chain[1..]: SHA-256 over each element's length and
 * base64 text. False when an element is not a string (nothing to cache).
 */
static bool issuers_key(const struct ctlog_chain_body *chain, uint8_t key[CTLOG_HASH_LEN])
{
	struct fc_buf b;
	bool ok = true;

	fc_buf_init(&b, 0);
	for (size_t i = 1; i < chain->n && ok; i++)
		ok = chain->s[i] != NULL && fc_buf_put_u64(&b, chain->len[i]) &&
		     fc_buf_append(&b, chain->s[i], chain->len[i]);
	if (ok)
		ctlog_sha256(b.data, b.len, key);
	fc_buf_free(&b);
	return ok;
}

/* Fill in what the entry needs to know about the leaf's issuer: its key
 * hash and, for a Precertificate Signing Certificate, the key hash of the
 * CA that issued it (the next element, RFC 6962 3.2). */
static bool issuers_finish(struct ctlog_issuers *c, X509 *first)
{
	c->first = first;
	X509_up_ref(first);
	prepare_verify(c);
	c->first_signs_precerts = is_precert_signing_cert(first);
	if (c->first_signs_precerts && c->n >= 2) {
		const unsigned char *p = c->ders[1];
		X509 *final = d2i_X509(NULL, &p, (long)c->lens[1]);

		c->has_final_issuer = final != NULL && ct_key_hash(X509_get0_pubkey(final),
								   c->final_key_hash) == FC_OK;
		X509_free(final);
		ERR_clear_error();
	}
	return ct_key_hash(X509_get0_pubkey(first), c->first_key_hash) == FC_OK;
}

static void issuers_add_cert(struct ctlog_issuers *c, X509 *x)
{
	uint8_t *der = NULL;
	size_t len = 0;

	if (!cert_der(x, &der, &len))
		abort(); /* a parsed certificate always re-encodes, short of memory */
	ctlog_issuers_add(c, der, len);
	OPENSSL_free(der);
}

/* The accepted root that certifies x (DER der), itself a CA; NULL with
 * the reason in err. */
static const struct root *certifying_root(const struct ctlog_roots *roots, X509 *x,
					  const uint8_t *der, size_t der_len, struct fc_err *err)
{
	const struct root *anchor = NULL;

	for (size_t i = 0; i < roots->n && anchor == NULL; i++)
		if (certified_by(roots->r[i].x, x, der, der_len, NULL))
			anchor = &roots->r[i];
	if (anchor == NULL) {
		fc_err_set(err, FC_EINPUT,
			   "RFC 6962 4.1: the chain does not end at a root "
			   "accepted by this log");
		return NULL;
	}
	if (X509_check_ca(anchor->x) == 0) {
		fc_err_set(err, FC_EINPUT, "the accepted root is not a CA");
		return NULL;
	}
	return anchor;
}

/*
 * Check chain[1..n-1] (n > 1): each element certified by the next, in the
 * order given (RFC 6962 4.1: "each of which certifies the one preceding
 * it"), each a CA, and the last one an accepted root or certified by one
 * (the root is then appended). NULL with the reason in err.
 */
static struct ctlog_issuers *verify_issuers(const struct ctlog_roots *roots,
					    const struct ctlog_chain_body *chain, size_t n,
					    struct fc_err *err)
{
	X509 *certs[CTLOG_SRV_MAX_CHAIN] = {NULL};
	struct ctlog_issuers *c = ctlog_issuers_new();
	const struct root *anchor = NULL;
	bool ok = false;
	size_t i;

	for (i = 1; i < n; i++) {
		uint8_t *der = NULL;
		size_t der_len = 0;

		certs[i] = decode_cert(chain, i, NULL, &der, &der_len, err);
		if (certs[i] != NULL)
			ctlog_issuers_add(c, der, der_len);
		free(der);
		if (certs[i] == NULL)
			goto out;
	}
	for (i = 1; i < n; i++) {
		if (i > 1 && !certifies(certs[i], certs[i - 1])) {
			fc_err_set(err, FC_EINPUT,
				   "RFC 6962 4.1: chain[%zu] is not certified by "
				   "chain[%zu] (bad signature, or wrong order)",
				   i - 1, i);
			goto out;
		}
		if (X509_check_ca(certs[i]) != 1) {
			fc_err_set(err, FC_EINPUT, "chain[%zu] is not a CA certificate", i);
			goto out;
		}
	}
	for (i = 0; i < roots->n && anchor == NULL; i++)
		if (memcmp(roots->r[i].fp, c->fps[c->n - 1], CTLOG_HASH_LEN) == 0)
			anchor = &roots->r[i];
	if (anchor == NULL) {
		anchor = certifying_root(roots, certs[n - 1], c->ders[c->n - 1], c->lens[c->n - 1],
					 err);
		if (anchor == NULL)
			goto out;
		issuers_add_cert(c, anchor->x);
	}
	ok = issuers_finish(c, certs[1]);
out:
	for (i = 0; i < CTLOG_SRV_MAX_CHAIN; i++)
		X509_free(certs[i]);
	if (!ok) {
		ctlog_issuers_unref(c);
		c = NULL;
	}
	return c;
}

/* A chain of the leaf alone: the accepted root that certifies it. */
static struct ctlog_issuers *root_of_lone_leaf(const struct ctlog_roots *roots, X509 *leaf,
					       const uint8_t *der, size_t der_len,
					       struct fc_err *err)
{
	const struct root *anchor = certifying_root(roots, leaf, der, der_len, err);
	struct ctlog_issuers *c;

	if (anchor == NULL)
		return NULL;
	c = ctlog_issuers_new();
	issuers_add_cert(c, anchor->x);
	if (!issuers_finish(c, anchor->x)) {
		ctlog_issuers_unref(c);
		return NULL;
	}
	c->first_signs_precerts = false; /* a root is not a precertificate signer here */
	return c;
}

/*
 * The verified issuers of chain (leaf first, the leaf x with DER der):
 * for a lone leaf the accepted root that certifies it; otherwise chain[1..]
 * verified up to an accepted root once, then taken from roots' cache. A
 * new reference, or NULL with the reason in err.
 */
static struct ctlog_issuers *issuers_of(const struct ctlog_roots *roots,
					const struct ctlog_chain_body *chain, X509 *x,
					const uint8_t *der, size_t der_len, struct fc_err *err)
{
	size_t n = chain->n;
	struct ctlog_issuers *issuers = NULL;
	uint8_t key[CTLOG_HASH_LEN];
	bool cacheable;

	if (n == 1)
		return root_of_lone_leaf(roots, x, der, der_len, err);
	cacheable = issuers_key(chain, key);
	if (cacheable && (issuers = ctlog_chain_cache_get(roots->verified, key)) != NULL)
		return issuers;
	issuers = verify_issuers(roots, chain, n, err);
	if (issuers != NULL && cacheable)
		ctlog_chain_cache_put(roots->verified, key, issuers);
	return issuers;
}

/* The log's filters on the leaf (--ext-key-usages, --not-after-start,
 * --not-after-limit). FC_EINPUT with the reason. */
static enum fc_status check_policy(X509 *leaf, const struct ctlog_policy *pol, struct fc_err *err)
{
	int64_t na;

	if (!eku_allowed(leaf, pol->eku_mask))
		return fc_err_set(err, FC_EINPUT,
				  "leaf extended key usage is not accepted by this "
				  "log");
	if (!pol->has_not_after_start && !pol->has_not_after_limit)
		return FC_OK;
	if (!asn1_time_epoch(X509_get0_notAfter(leaf), &na))
		return fc_err_set(err, FC_EINPUT, "leaf NotAfter is unreadable");
	if (pol->has_not_after_start && na < pol->not_after_start)
		return fc_err_set(err, FC_EINPUT,
				  "leaf NotAfter is before this log's "
				  "not-after-start");
	if (pol->has_not_after_limit && na >= pol->not_after_limit)
		return fc_err_set(err, FC_EINPUT,
				  "leaf NotAfter is not before this log's "
				  "not-after-limit");
	return FC_OK;
}

/*
 * The leaf's own checks, once its issuers are known: the poison exactly
 * when precert (RFC 6962 3.1), a precertificate signing certificate only
 * above a precertificate and followed by its issuer, the policy, and
 * (when an issuer was sent) its signature by chain[1].
 * FC_EINPUT with the reason.
 */
static enum fc_status check_leaf(const struct ctlog_entry *e, X509 *leaf,
				 const struct ctlog_policy *pol, bool precert, bool lone,
				 struct fc_err *err)
{
	enum fc_status st;

	if ((st = check_poison(leaf, precert, err)) != FC_OK)
		return st;
	if (!precert && e->chain->first_signs_precerts)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 3.1: chain[1] is a precertificate signing "
				  "certificate: it signs precertificates only");
	if (precert && e->chain->first_signs_precerts && !e->chain->has_final_issuer)
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 3.1: the precertificate signing "
				  "certificate must be followed by the CA that issued "
				  "it");
	if ((st = check_policy(leaf, pol, err)) != FC_OK)
		return st;
	if (!lone && !certified_by(e->chain->first, leaf, e->cert, e->cert_len, e->chain))
		return fc_err_set(err, FC_EINPUT,
				  "RFC 6962 4.1: chain[0] is not certified by "
				  "chain[1] (bad signature, or wrong order)");
	return FC_OK;
}

/*
 * The entry's signed_entry (RFC 6962 3.4: the ASN.1Cert, or the PreCert
 * of issuer_key_hash and the TBSCertificate without the poison, rewritten
 * for a precertificate signing certificate, which edits leaf) and its
 * dedupe key SHA-256(entry_type || signed_entry).
 * FC_EINPUT with the reason.
 */
static enum fc_status build_signed_entry(struct ctlog_entry *e, X509 *leaf, bool precert,
					 struct fc_err *err)
{
	uint8_t et[2] = {0, precert ? 1 : 0};
	struct fc_buf tbs;
	EVP_MD_CTX *c;
	bool ok;

	if (precert) {
		bool psc = e->chain->first_signs_precerts;

		/* RFC 6962 3.2: the key hash of the CA that signs the final
		 * certificate: chain[1], or with a precertificate signing
		 * certificate the CA that issued it */
		memcpy(e->issuer_key_hash,
		       psc ? e->chain->final_key_hash : e->chain->first_key_hash, CTLOG_HASH_LEN);
		fc_buf_init(&tbs, 0);
		if (!precert_tbs(leaf, psc ? e->chain->first : NULL, e->cert, e->cert_len, &tbs,
				 err)) {
			fc_buf_free(&tbs);
			return FC_EINPUT;
		}
		e->tbs = tbs.data; /* the entry owns it now */
		e->tbs_len = tbs.len;
		ok = fc_buf_append(&e->signed_entry, e->issuer_key_hash, CTLOG_HASH_LEN) &&
		     fc_buf_put_vec(&e->signed_entry, 3, e->tbs, e->tbs_len);
	} else {
		ok = fc_buf_put_vec(&e->signed_entry, 3, e->cert, e->cert_len);
	}
	if (!ok)
		return fc_err_set(err, FC_EINPUT, "%s is over 2^24-1 bytes",
				  precert ? "precertificate TBSCertificate" : "certificate");
	if ((c = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(c, ctlog_sha256_md(), NULL) != 1 ||
	    EVP_DigestUpdate(c, et, 2) != 1 ||
	    EVP_DigestUpdate(c, e->signed_entry.data, e->signed_entry.len) != 1 ||
	    EVP_DigestFinal_ex(c, e->key, NULL) != 1)
		abort(); /* SHA-256 cannot fail short of memory */
	EVP_MD_CTX_free(c);
	e->precert = precert;
	return FC_OK;
}

/*
 * Check a submitted chain and build the entry (see ctlog_srv_int.h). The
 * chain after the leaf is verified once and then found in roots' cache;
 * the leaf is parsed and its signature checked every time.
 */
enum fc_status ctlog_entry_from_chain(const struct ctlog_roots *roots,
				      const struct ctlog_policy *pol, bool precert,
				      const uint8_t *body, size_t len, struct ctlog_entry **out,
				      struct fc_err *err)
{
	struct ctlog_entry *e = fc_xcalloc(1, sizeof(*e));
	struct ctlog_chain_body chain;
	X509 *leaf = NULL;
	enum fc_status st = FC_EINPUT;

	fc_buf_init(&e->signed_entry, 0);
	if (ctlog_body_parse(body, len, &chain, err) != FC_OK)
		goto out;
	/* the leaf's own key is never used: parse it without decoding it */
	leaf = decode_cert(&chain, 0, fc_keyless_libctx(), &e->cert, &e->cert_len, err);
	if (leaf == NULL ||
	    (e->chain = issuers_of(roots, &chain, leaf, e->cert, e->cert_len, err)) == NULL) {
		st = err ? err->status : FC_EINPUT;
		goto out;
	}
	/* the issuers' arrays, as the entry shows them */
	e->n_issuers = e->chain->n;
	e->issuers = e->chain->ders;
	e->issuer_lens = e->chain->lens;
	e->fps = e->chain->fps;
	if ((st = check_leaf(e, leaf, pol, precert, chain.n == 1, err)) != FC_OK ||
	    (st = build_signed_entry(e, leaf, precert, err)) != FC_OK)
		goto out;
	*out = e;
	e = NULL;
out:
	X509_free(leaf);
	ctlog_body_clear(&chain);
	ctlog_entry_free(e);
	return st;
}

/*
 * TimestampedEntry (RFC 6962 3.4) with the CtExtensions holding the
 * leaf_index (c2sp.org/static-ct-api): the SCT signature input built by
 * ct/sct.c (RFC 6962 3.2) without its first two bytes. FC_EINPUT if a
 * length is outside its TLS bound.
 */
enum fc_status ctlog_timestamped_entry(const struct ctlog_entry *e, uint64_t ts_ms, uint64_t index,
				       struct fc_buf *te)
{
	struct fc_buf ext, sd;
	enum fc_status st = FC_EINPUT;

	fc_buf_init(&ext, CTLOG_EXT_LEN);
	fc_buf_init(&sd, 0);
	/* Extension { leaf_index(0), extension_data<0..2^16-1> = uint40 } */
	if (!fc_buf_put_u8(&ext, 0) || !fc_buf_put_u16(&ext, 5) || !fc_buf_put_uint(&ext, 5, index))
		goto out;
	if (e->precert)
		st = ct_signed_data_precert(ts_ms, e->issuer_key_hash, e->tbs, e->tbs_len, ext.data,
					    ext.len, &sd);
	else
		st = ct_signed_data_x509(ts_ms, e->cert, e->cert_len, ext.data, ext.len, &sd);
	if (st == FC_OK && !fc_buf_append(te, sd.data + 2, sd.len - 2))
		st = FC_ETOOBIG;
out:
	fc_buf_free(&ext);
	fc_buf_free(&sd);
	return st;
}

/*
 * TileLeaf (c2sp.org/static-ct-api "Log entries"): te, the precertificate
 * (ASN.1Cert<1..2^24-1>) for a precert entry, and the issuers'
 * fingerprints (Fingerprint<0..2^16-1>). False if a length is over its
 * bound or leaf's cap is reached.
 */
bool ctlog_tile_leaf(const struct ctlog_entry *e, const uint8_t *te, size_t te_len,
		     struct fc_buf *leaf)
{
	return fc_buf_append(leaf, te, te_len) &&
	       (!e->precert || fc_buf_put_vec(leaf, 3, e->cert, e->cert_len)) &&
	       fc_buf_put_vec(leaf, 2, e->fps, e->n_issuers * CTLOG_HASH_LEN);
}

/* 0x00 (v1) 0x00 (certificate_timestamp / timestamped_entry) || te. */
void ctlog_sct_input(const uint8_t *te, size_t te_len, struct fc_buf *out)
{
	static const uint8_t hdr[2] = {0x00, 0x00};

	fc_buf_append(out, hdr, 2);
	fc_buf_append(out, te, te_len);
}

/* See ctlog.h. */
enum fc_status ctlog_eku_parse(const char *list, unsigned *mask, struct fc_err *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{"ServerAuth", CTLOG_EKU_SERVER_AUTH},
		{"ClientAuth", CTLOG_EKU_CLIENT_AUTH},
		{"CodeSigning", CTLOG_EKU_CODE_SIGNING},
		{"EmailProtection", CTLOG_EKU_EMAIL_PROTECTION},
		{"TimeStamping", CTLOG_EKU_TIME_STAMPING},
		{"OCSPSigning", CTLOG_EKU_OCSP_SIGNING},
		{"Any", CTLOG_EKU_ANY},
	};
	unsigned m = 0;
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0) {
				m |= names[i].bit;
				found = true;
			}
		}
		if (!found && len > 0)
			return fc_err_set(err, FC_ECONFIG, "unknown extended key usage \"%.*s\"",
					  (int)len, p);
		p += len;
		if (*p == ',')
			p++;
	}
	*mask = m ? m : CTLOG_EKU_ANY;
	return FC_OK;
}
