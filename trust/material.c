/*
 * Certificates and keys as the trust files carry them: PEM read strictly
 * (only the blocks expected, DER with nothing trailing), chains checked the
 * way the clients will use them, key types named as protobuf-specs names
 * them, and log ids computed as the clients compute them.
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#include "ct.h"
#include "trust_int.h"

/* One PEM block of a text: its label and DER (OPENSSL_free both). */
struct pem_block {
	char *name;
	char *header;
	unsigned char *der;
	long len;
};

static void pem_block_clear(struct pem_block *p)
{
	OPENSSL_free(p->name);
	OPENSSL_free(p->header);
	OPENSSL_free(p->der);
	memset(p, 0, sizeof(*p));
}

/* The next block of bio: 1 read, 0 no more blocks, -1 garbage. */
static int pem_next(BIO *bio, struct pem_block *p)
{
	unsigned long e;

	if (PEM_read_bio(bio, &p->name, &p->header, &p->der, &p->len) == 1)
		return 1;
	e = ERR_peek_last_error();
	ERR_clear_error();
	return ERR_GET_REASON(e) == PEM_R_NO_START_LINE ? 0 : -1;
}

static bool is_private_key_label(const char *name)
{
	return strstr(name, "PRIVATE KEY") != NULL;
}

/*
 * Parse every block of pem as a certificate: 1 to TRUST_MAX_CHAIN of them,
 * nothing else. FC_OK with certs[0..*n) (X509_free each), else FC_ECONFIG.
 */
enum fc_status trust_pem_certs(const char *pem, size_t len, const char *name, X509 **certs,
			       size_t *n, struct fc_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	struct pem_block p = {0};
	enum fc_status st = FC_ECONFIG;
	size_t k = 0;
	int r;

	if (bio == NULL || len > TRUST_MAX_PEM_BYTES) {
		fc_err_set(err, FC_ECONFIG, "%s: more than %d bytes", name, TRUST_MAX_PEM_BYTES);
		goto out;
	}
	while ((r = pem_next(bio, &p)) == 1) {
		const unsigned char *d = p.der;
		if (strcmp(p.name, "CERTIFICATE") != 0) {
			fc_err_set(err, FC_ECONFIG, "%s: block %zu is a %s, not a CERTIFICATE%s",
				   name, k + 1, p.name,
				   is_private_key_label(p.name) ? " (never put a private key here)"
								: "");
			goto out;
		}
		if (k == TRUST_MAX_CHAIN) {
			fc_err_set(err, FC_ECONFIG, "%s: more than %d certificates", name,
				   TRUST_MAX_CHAIN);
			goto out;
		}
		certs[k] = d2i_X509(NULL, &d, p.len);
		if (certs[k] == NULL || d != p.der + p.len) {
			X509_free(certs[k]);
			fc_err_set(err, FC_ECONFIG, "%s: certificate %zu is not valid DER", name,
				   k + 1);
			goto out;
		}
		k++;
		pem_block_clear(&p);
	}
	if (r < 0)
		fc_err_set(err, FC_ECONFIG, "%s: not PEM after certificate %zu", name, k);
	else if (k == 0)
		fc_err_set(err, FC_ECONFIG, "%s: no PEM CERTIFICATE in it", name);
	else
		st = FC_OK;
out:
	pem_block_clear(&p);
	BIO_free(bio);
	if (st != FC_OK) {
		while (k > 0)
			X509_free(certs[--k]);
	}
	*n = k;
	ERR_clear_error();
	return st;
}

static int64_t asn1_time_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static void subject_of(X509 *x, char *buf, size_t n)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)n);
}

/* A name attribute (first of its kind) as UTF-8, or "" (caller frees). */
static char *name_attr(X509 *x, int nid)
{
	X509_NAME *nm = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(nm, nid, -1);
	unsigned char *utf8 = NULL;
	char *s;
	int len;

	if (i < 0 || (len = ASN1_STRING_to_UTF8(
			      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)))) < 0)
		return fc_xstrdup("");
	s = fc_xstrndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return s;
}

/* Is certs[i] issued (names, key ids, signature) by certs[i + 1]? */
static bool issued_by(X509 *child, X509 *parent)
{
	EVP_PKEY *pk = X509_get0_pubkey(parent);

	return X509_check_issued(parent, child) == X509_V_OK && pk != NULL &&
	       X509_verify(child, pk) == 1;
}

/* The per-certificate rules of a kind: CA chains hold CAs only; a TSA
 * chain starts with a time-stamping certificate. */
static enum fc_status check_roles(X509 **certs, size_t n, enum trust_kind kind, const char *name,
				  struct fc_err *err)
{
	char subj[256];

	for (size_t i = 0; i < n; i++) {
		bool ca = (X509_get_extension_flags(certs[i]) & EXFLAG_CA) != 0;
		bool want_ca = kind == TRUST_CA || i > 0;

		subject_of(certs[i], subj, sizeof(subj));
		if (ca != want_ca)
			return fc_err_set(
				err, FC_ECONFIG, "%s: certificate %zu (%s) %s", name, i + 1, subj,
				want_ca ? "is not a CA (BasicConstraints CA:TRUE): a chain lists "
					  "the "
					  "CA certificates, issuing CA first, root last"
					: "is a CA: a TSA chain starts with the time-stamping "
					  "certificate, then its CAs");
		if (kind == TRUST_TSA && i == 0 &&
		    ((X509_get_extension_flags(certs[0]) & EXFLAG_XKUSAGE) == 0 ||
		     (X509_get_extended_key_usage(certs[0]) & XKU_TIMESTAMP) == 0))
			return fc_err_set(err, FC_ECONFIG,
					  "%s: certificate 1 (%s) has no timeStamping EKU", name,
					  subj);
	}
	if (kind == TRUST_TSA && n < 2)
		return fc_err_set(err, FC_ECONFIG,
				  "%s: a TSA chain needs the time-stamping certificate and its "
				  "root (sigstore-js requires both)",
				  name);
	return FC_OK;
}

/* Each certificate is issued by the next; the last should be self-signed. */
static enum fc_status check_links(X509 **certs, size_t n, const char *name, struct fc_err *err)
{
	char a[256], b[256];

	for (size_t i = 0; i + 1 < n; i++) {
		if (!issued_by(certs[i], certs[i + 1])) {
			subject_of(certs[i], a, sizeof(a));
			subject_of(certs[i + 1], b, sizeof(b));
			ERR_clear_error();
			return fc_err_set(err, FC_ECONFIG,
					  "%s: certificate %zu (%s) is not issued by certificate "
					  "%zu (%s): order is issuing CA first, root last",
					  name, i + 1, a, i + 2, b);
		}
	}
	if (!issued_by(certs[n - 1], certs[n - 1])) {
		subject_of(certs[n - 1], a, sizeof(a));
		fc_log(LOG_WARNING,
		       "trust: %s: the last certificate (%s) is not self-signed: "
		       "clients will take it as the trust anchor",
		       name, a);
	}
	ERR_clear_error();
	return FC_OK;
}

/*
 * Check certs as kind wants them and move them into it (certs are freed
 * here in every case): DER, the subject (the root's for a CA, the
 * time-stamping certificate's for a TSA, as Sigstore's own files have
 * them) and the start default, the latest NotBefore.
 */
enum fc_status trust_chain_take(struct trust_item *it, X509 **certs, size_t n, const char *name,
				int64_t now, struct fc_err *err)
{
	enum fc_status st;
	int64_t nb_max = INT64_MIN, na_min = INT64_MAX;
	X509 *named;

	if ((st = check_roles(certs, n, it->kind, name, err)) != FC_OK ||
	    (st = check_links(certs, n, name, err)) != FC_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(certs[i], &der);
		int64_t nb = asn1_time_epoch(X509_get0_notBefore(certs[i]));
		int64_t na = asn1_time_epoch(X509_get0_notAfter(certs[i]));

		if (len <= 0) {
			st = fc_err_set(err, FC_EINTERNAL, "%s: cannot encode certificate %zu",
					name, i + 1);
			goto out;
		}
		it->der[i] = fc_xmalloc((size_t)len);
		memcpy(it->der[i], der, (size_t)len);
		it->der_len[i] = (size_t)len;
		it->n_der = i + 1;
		OPENSSL_free(der);
		nb_max = nb > nb_max ? nb : nb_max;
		na_min = na < na_min ? na : na_min;
	}
	named = it->kind == TRUST_CA ? certs[n - 1] : certs[0];
	it->org = name_attr(named, NID_organizationName);
	it->cn = name_attr(named, NID_commonName);
	if (it->start == TRUST_TIME_UNSET)
		it->start = nb_max;
	if (it->end == TRUST_TIME_UNSET && na_min < now) {
		char when[32];
		trust_format_time(na_min, when, sizeof(when));
		fc_log(LOG_WARNING, "trust: %s: a certificate of the chain expired at %s", name,
		       when);
	}
out:
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	return st;
}

/*
 * One PEM public key (SubjectPublicKeyInfo) and nothing else. A private
 * key is refused rather than reduced to its public half: trust files are
 * made where private keys should not be.
 */
enum fc_status trust_pem_pubkey(const char *pem, size_t len, const char *name, EVP_PKEY **key,
				struct fc_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	struct pem_block p = {0}, extra = {0};
	enum fc_status st = FC_ECONFIG;
	const unsigned char *d;

	*key = NULL;
	if (bio == NULL || len > TRUST_MAX_PEM_BYTES || pem_next(bio, &p) != 1) {
		fc_err_set(err, FC_ECONFIG, "%s: not a PEM public key", name);
		goto out;
	}
	if (is_private_key_label(p.name)) {
		fc_err_set(err, FC_ECONFIG,
			   "%s is a private key: give its public key (openssl "
			   "pkey -in KEY -pubout -out KEY.pub)",
			   name);
		goto out;
	}
	if (strcmp(p.name, "PUBLIC KEY") != 0) {
		fc_err_set(err, FC_ECONFIG,
			   "%s: a %s block, want PUBLIC KEY (SubjectPublicKeyInfo%s)", name, p.name,
			   strcmp(p.name, "RSA PUBLIC KEY") == 0
				   ? "; convert with openssl rsa -RSAPublicKey_in -pubout"
				   : "");
		goto out;
	}
	if (pem_next(bio, &extra) != 0) {
		fc_err_set(err, FC_ECONFIG, "%s: more than one PEM block (want one public key)",
			   name);
		goto out;
	}
	d = p.der;
	*key = d2i_PUBKEY(NULL, &d, p.len);
	if (*key == NULL || d != p.der + p.len) {
		EVP_PKEY_free(*key);
		*key = NULL;
		fc_err_set(err, FC_ECONFIG, "%s: the public key is not valid DER", name);
		goto out;
	}
	st = FC_OK;
out:
	pem_block_clear(&p);
	pem_block_clear(&extra);
	BIO_free(bio);
	ERR_clear_error();
	return st;
}

static int ec_curve_nid(EVP_PKEY *key)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) != 1)
		return NID_undef;
	return OBJ_sn2nid(group);
}

/* protobuf-specs PublicKeyDetails for key, or NULL for a type clients do
 * not take for a log. */
const char *trust_key_details(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		switch (ec_curve_nid(key)) {
		case NID_X9_62_prime256v1: return "PKIX_ECDSA_P256_SHA_256";
		case NID_secp384r1: return "PKIX_ECDSA_P384_SHA_384";
		case NID_secp521r1: return "PKIX_ECDSA_P521_SHA_512";
		default: return NULL;
		}
	case EVP_PKEY_RSA:
		switch (EVP_PKEY_get_bits(key)) {
		case 2048: return "PKIX_RSA_PKCS1V15_2048_SHA256";
		case 3072: return "PKIX_RSA_PKCS1V15_3072_SHA256";
		case 4096: return "PKIX_RSA_PKCS1V15_4096_SHA256";
		default: return NULL;
		}
	case EVP_PKEY_ED25519: return "PKIX_ED25519";
	default: return NULL;
	}
}

/* The DER SubjectPublicKeyInfo of key, as OpenSSL (and Go) encode it. */
enum fc_status trust_spki(EVP_PKEY *key, uint8_t **der, size_t *len, struct fc_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(key, &p);

	if (n <= 0) {
		ERR_clear_error();
		return fc_err_set(err, FC_EINTERNAL, "cannot encode a public key");
	}
	*der = p;
	*len = (size_t)n;
	return FC_OK;
}

/* SHA-256 over the concatenation of parts. */
static bool sha256_parts(const void *const *parts, const size_t *lens, size_t n,
			 uint8_t out[TRUST_LOG_ID_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int olen = 0;
	bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(md, out, &olen) == 1 && olen == TRUST_LOG_ID_LEN;
	EVP_MD_CTX_free(md);
	return ok;
}

/*
 * The signed-note key hash of key under origin (C2SP signed-note, with
 * rekor-tiles' ECDSA and RSA variants; pkg/note KeyHash): the Rekor v2
 * logId, whose first 4 bytes are the checkpoint key id.
 */
enum fc_status trust_note_key_id(EVP_PKEY *key, const char *origin, uint8_t out[TRUST_LOG_ID_LEN],
				 struct fc_err *err)
{
	static const char rsa_id[] = "\xffPKIX-RSA-PKCS#1v1.5";
	uint8_t raw[32], *spki = NULL;
	size_t raw_len = sizeof(raw), spki_len = 0;
	enum fc_status st = FC_OK;
	bool ok;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (ct_key_hash(key, out) != FC_OK)
			return fc_err_set(err, FC_EINTERNAL, "cannot hash a public key");
		return FC_OK;
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(key, raw, &raw_len) != 1 || raw_len != 32)
			return fc_err_set(err, FC_EINTERNAL, "cannot read an Ed25519 key");
		ok = sha256_parts((const void *[]){origin, "\n\x01", raw},
				  (size_t[]){strlen(origin), 2, raw_len}, 3, out);
		break;
	case EVP_PKEY_RSA:
		if ((st = trust_spki(key, &spki, &spki_len, err)) != FC_OK)
			return st;
		ok = sha256_parts((const void *[]){origin, "\n", rsa_id, spki},
				  (size_t[]){strlen(origin), 1, sizeof(rsa_id) - 1, spki_len}, 4,
				  out);
		OPENSSL_free(spki);
		break;
	default: return fc_err_set(err, FC_ECONFIG, "unsupported key type for a log");
	}
	return ok ? FC_OK : fc_err_set(err, FC_EINTERNAL, "SHA-256 failed");
}

/* A signed-note signature by key over msg: ECDSA (DER) with the curve's
 * hash, RSA PKCS#1 v1.5 SHA-256, or Ed25519 (pure). */
bool trust_note_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
		       size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *h = NULL;
	bool ok;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
		int nid = ec_curve_nid(key);
		h = nid == NID_secp384r1   ? EVP_sha384()
		    : nid == NID_secp521r1 ? EVP_sha512()
					   : EVP_sha256();
	} else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		h = EVP_sha256();
	}
	ok = md != NULL && EVP_DigestVerifyInit(md, NULL, h, NULL, key) == 1 &&
	     EVP_DigestVerify(md, sig, sig_len, msg, msg_len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}
