/*
 * The CA certificate chain: loading it (issuing CA first, root last, as
 * Fulcio's fileca/kmsca chain files), checking it before serving with it
 * (Fulcio's pkg/ca/common.go VerifyCertChain, plus what Sigstore clients
 * check in CA certificates), and the self-signed root of ephemeralca.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

/* Hard limits on a chain file, checked before parsing. */
#define CA_CHAIN_MAX_CERTS 8
#define CA_CHAIN_MAX_PEM_BYTES (1024 * 1024)

/* The ephemeral root (Fulcio's pkg/ca/ephemeralca: 10 years, CA:TRUE
 * pathlen 1, KeyUsage certSign|cRLSign). */
#define EPHEMERAL_ORG "sigstore.dev"
#define EPHEMERAL_CN "fulcrum ephemeral CA"
#define EPHEMERAL_YEARS 10
#define EPHEMERAL_PATHLEN 1

static const char pem_begin[] = "-----BEGIN ";
static const char pem_dashes[] = "-----";

/*
 * Free the chain, its certificates and their PEM strings. NULL is fine.
 */
void ca_chain_free(struct ca_chain *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		X509_free(c->certs[i]);
		free(c->pem[i]);
	}
	free(c->certs);
	free(c->pem);
	free(c);
}

/*
 * Make a chain of the n certificates in certs (issuing CA first). The
 * chain takes ownership of the certificates (not of the array, which the
 * caller keeps), also when it fails. Returns the chain (free with
 * ca_chain_free), or NULL if n is 0 or a certificate cannot be PEM-encoded.
 */
struct ca_chain *ca_chain_from_certs(X509 **certs, size_t n)
{
	struct ca_chain *c;

	if (certs == NULL || n == 0)
		return NULL;
	c = fc_xcalloc(1, sizeof(*c));
	c->certs = fc_xcalloc(n, sizeof(*c->certs));
	c->pem = fc_xcalloc(n, sizeof(*c->pem));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		c->certs[i] = certs[i];
		certs[i] = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((c->pem[i] = ca_cert_pem(c->certs[i], false)) == NULL) {
			ca_chain_free(c);
			return NULL;
		}
	}
	return c;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Decode one PEM block text[0..len) that must be a CERTIFICATE. */
static enum fc_status decode_block(const char *text, size_t len, const char *name, size_t pos,
				   X509 **out, struct fc_err *err)
{
	BIO *bio = NULL;
	char *label = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long der_len = 0;
	X509 *x = NULL;
	enum fc_status st = FC_ECONFIG;

	if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL) {
		fc_log_ssl("ca: chain BIO");
		st = fc_err_set(err, FC_EINTERNAL, "chain: %s: cannot read", name);
		goto out;
	}
	if (PEM_read_bio(bio, &label, &header, &der, &der_len) != 1) {
		ERR_clear_error();
		fc_err_set(err, FC_ECONFIG, "chain: %s: certificate %zu: malformed PEM", name, pos);
		goto out;
	}
	if (strcmp(label, "CERTIFICATE") != 0) {
		fc_err_set(err, FC_ECONFIG,
			   "chain: %s: block %zu is \"%s\", not CERTIFICATE (only certificates "
			   "belong in a chain file)",
			   name, pos, label);
		goto out;
	}
	if (header != NULL && header[0] != '\0') {
		fc_err_set(err, FC_ECONFIG, "chain: %s: certificate %zu: unexpected PEM headers",
			   name, pos);
		goto out;
	}
	p = der;
	if ((x = d2i_X509(NULL, &p, der_len)) == NULL || p != der + der_len) {
		ERR_clear_error();
		fc_err_set(err, FC_ECONFIG,
			   "chain: %s: certificate %zu: not a DER X.509 certificate (RFC 5280 4.1)",
			   name, pos);
		goto out;
	}
	*out = x;
	x = NULL;
	st = FC_OK;
out:
	X509_free(x);
	OPENSSL_free(label);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return st;
}

/*
 * Parse a PEM chain from memory (ca.h): only CERTIFICATE blocks separated
 * by whitespace, at most 8 of them; any other text or block is refused.
 * name says where the chain came from in messages. Returns FC_OK with *out
 * (free with ca_chain_free), else FC_ECONFIG with the reason in err.
 */
enum fc_status ca_chain_load_pem(const char *pem, size_t len, const char *name,
				 struct ca_chain **out, struct fc_err *err)
{
	X509 *certs[CA_CHAIN_MAX_CERTS] = {NULL};
	struct ca_chain *c = NULL;
	size_t n = 0, off = 0;
	enum fc_status st = FC_ECONFIG;

	if (name == NULL)
		name = "chain";
	if (pem == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "chain: %s: missing argument", name);
	if (len > CA_CHAIN_MAX_PEM_BYTES)
		return fc_err_set(err, FC_ECONFIG, "chain: %s: larger than %d bytes", name,
				  CA_CHAIN_MAX_PEM_BYTES);
	for (;;) {
		const char *begin, *label, *label_end, *end;
		char end_line[96];
		size_t label_len, rest;
		int m;

		while (off < len && is_space(pem[off]))
			off++;
		if (off == len)
			break;
		begin = pem + off;
		rest = len - off;
		if (rest < sizeof(pem_begin) - 1 ||
		    memcmp(begin, pem_begin, sizeof(pem_begin) - 1) != 0) {
			fc_err_set(err, FC_ECONFIG,
				   "chain: %s: unexpected text at byte %zu (only PEM CERTIFICATE "
				   "blocks "
				   "are allowed)",
				   name, off);
			goto out;
		}
		label = begin + sizeof(pem_begin) - 1;
		label_end = memmem(label, rest - (sizeof(pem_begin) - 1), pem_dashes,
				   sizeof(pem_dashes) - 1);
		label_len = label_end != NULL ? (size_t)(label_end - label) : 0;
		if (label_end == NULL || label_len == 0 || label_len > 64 ||
		    memchr(label, '\n', label_len) != NULL) {
			fc_err_set(err, FC_ECONFIG,
				   "chain: %s: malformed PEM BEGIN line at byte %zu", name, off);
			goto out;
		}
		m = snprintf(end_line, sizeof(end_line), "-----END %.*s-----", (int)label_len,
			     label);
		end = NULL;
		if (m > 0 && (size_t)m < sizeof(end_line))
			end = memmem(label_end, len - (size_t)(label_end - pem), end_line,
				     (size_t)m);
		if (end == NULL) {
			fc_err_set(err, FC_ECONFIG,
				   "chain: %s: PEM block at byte %zu has no END line", name, off);
			goto out;
		}
		if (n == CA_CHAIN_MAX_CERTS) {
			fc_err_set(err, FC_ECONFIG, "chain: %s: more than %d certificates", name,
				   CA_CHAIN_MAX_CERTS);
			goto out;
		}
		end += m;
		st = decode_block(begin, (size_t)(end - begin), name, n + 1, &certs[n], err);
		if (st != FC_OK)
			goto out;
		st = FC_ECONFIG;
		n++;
		off = (size_t)(end - pem);
	}
	if (n == 0) {
		fc_err_set(err, FC_ECONFIG, "chain: %s: no certificate", name);
		goto out;
	}
	if ((c = ca_chain_from_certs(certs, n)) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "chain: %s: cannot encode the certificates",
				name);
		goto out;
	}
	*out = c;
	st = FC_OK;
out:
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]); /* NULL after ca_chain_from_certs */
	return st;
}

/*
 * Read a PEM chain file (ca.h). Returns FC_OK with *out (free with
 * ca_chain_free), else FC_ECONFIG (also when the file cannot be read) with
 * the reason in err.
 */
enum fc_status ca_chain_load_file(const char *path, struct ca_chain **out, struct fc_err *err)
{
	struct fc_err ferr = {0};
	char *text = NULL;
	size_t len = 0;
	enum fc_status st;

	if (path == NULL)
		return fc_err_set(err, FC_EINTERNAL, "chain: missing path");
	if (fc_read_file(path, CA_CHAIN_MAX_PEM_BYTES, &text, &len, &ferr) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "chain: %s", ferr.msg);
	st = ca_chain_load_pem(text, len, path, out, err);
	free(text);
	return st;
}

/* "CN=...,O=..." (RFC 2253) of cert's subject, for messages. */
static void subject_str(X509 *x, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;

	snprintf(buf, size, "empty subject");
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0 && data != NULL)
		snprintf(buf, size, "%.*s", (int)len, data);
	BIO_free(bio);
	ERR_clear_error();
}

/* A certificate time for messages. */
static void time_str(const ASN1_TIME *t, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;

	snprintf(buf, size, "?");
	if (bio == NULL)
		return;
	if (ASN1_TIME_print(bio, t) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0 &&
	    data != NULL)
		snprintf(buf, size, "%.*s", (int)len, data);
	BIO_free(bio);
	ERR_clear_error();
}

/* Write the reason to why (n bytes) and return false. */
static bool why_not(char *why, size_t n, const char *fmt, ...) FC_PRINTF(3, 4);
static bool why_not(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return false;
}

/* BasicConstraints, KeyUsage and ExtKeyUsage of a CA at position i. */
static bool check_ca_usages(const struct ca_chain *c, size_t i, X509 *x, const char *subj,
			    char *why, size_t n)
{
	uint32_t flags = X509_get_extension_flags(x);
	BASIC_CONSTRAINTS *bc;
	int crit = -1;
	long pl;

	if ((flags & EXFLAG_INVALID) != 0)
		return why_not(why, n,
			       "an extension cannot be parsed or appears twice (RFC 5280 4.2)");
	/* RFC 5280 4.2.1.9: CAs MUST mark BasicConstraints critical, and the
	 * clients check it (sigstore-python cert_is_ca). */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	if (bc == NULL || crit != 1 || !bc->ca) {
		BASIC_CONSTRAINTS_free(bc);
		return why_not(why, n, "%s",
			       crit == -1   ? "no BasicConstraints (a CA needs critical CA:TRUE)"
			       : crit == -2 ? "BasicConstraints appears twice"
			       : bc == NULL ? "BasicConstraints cannot be parsed"
			       : crit != 1  ? "BasicConstraints is not critical"
					    : "BasicConstraints has CA:FALSE");
	}
	/* pathLenConstraint counts the CA certificates below this one: the
	 * certificates before it in the chain (RFC 5280 4.2.1.9). */
	pl = bc->pathlen != NULL ? ASN1_INTEGER_get(bc->pathlen) : LONG_MAX;
	BASIC_CONSTRAINTS_free(bc);
	if (pl < 0 || (size_t)pl < i)
		return why_not(why, n,
			       "BasicConstraints pathlen %ld allows fewer than the %zu CA "
			       "certificate(s) below it",
			       pl, i);
	if ((flags & EXFLAG_KUSAGE) == 0)
		return why_not(why, n, "no KeyUsage (a CA needs keyCertSign)");
	if ((X509_get_key_usage(x) & KU_KEY_CERT_SIGN) == 0)
		return why_not(why, n, "KeyUsage lacks keyCertSign");
	/* EKU chaining: Go's Verify (run by Fulcio and by cosign/sigstore-go
	 * with codeSigning) refuses a chain where any certificate has an EKU
	 * without codeSigning or anyExtendedKeyUsage; Fulcio also wants the
	 * issuing intermediate to list codeSigning itself. */
	if ((flags & EXFLAG_XKUSAGE) != 0) {
		uint32_t xku = X509_get_extended_key_usage(x);
		if (i == 0 && c->n > 1 && (xku & XKU_CODE_SIGN) == 0)
			return why_not(why, n,
				       "ExtKeyUsage does not include codeSigning (the "
				       "issuing intermediate must allow code signing: EKU "
				       "chaining)");
		if ((xku & (XKU_CODE_SIGN | XKU_ANYEKU)) == 0)
			return why_not(why, n,
				       "ExtKeyUsage does not include codeSigning (EKU "
				       "chaining)");
	} else if (i == 0 && c->n > 1) {
		/* XXX Fulcio refuses this chain; clients accept it. */
		fc_log(LOG_WARNING,
		       "chain: certificate 1 (%s): intermediate without ExtKeyUsage "
		       "codeSigning (Fulcio would refuse this chain)",
		       subj);
	}
	return true;
}

/* NotBefore <= now <= NotAfter. */
static bool check_validity(X509 *x, int64_t now, char *why, size_t n)
{
	const ASN1_TIME *nb = X509_get0_notBefore(x), *na = X509_get0_notAfter(x);
	int before = ASN1_TIME_cmp_time_t(nb, (time_t)now);
	int after = ASN1_TIME_cmp_time_t(na, (time_t)now);
	char when[64];

	if (before == -2 || after == -2)
		return why_not(why, n, "%s cannot be read",
			       before == -2 ? "NotBefore" : "NotAfter");
	if (before == 1) {
		time_str(nb, when, sizeof(when));
		return why_not(why, n, "not valid before %s", when);
	}
	if (after == -1) {
		time_str(na, when, sizeof(when));
		return why_not(why, n, "expired at %s", when);
	}
	return true;
}

/* x's names (never empty in a CA: RFC 5280 4.1.2.4, 4.1.2.6) and its link
 * to issuer: issuer name, AuthorityKeyId, signature. */
static bool check_link(X509 *x, X509 *issuer, size_t i, char *why, size_t n)
{
	const ASN1_OCTET_STRING *akid_kid = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *issuer_skid = X509_get0_subject_key_id(issuer);
	EVP_PKEY *ipub;

	if (X509_NAME_entry_count(X509_get_subject_name(x)) == 0)
		return why_not(why, n, "its subject is empty (RFC 5280 4.1.2.6)");
	if (X509_NAME_entry_count(X509_get_issuer_name(x)) == 0)
		return why_not(why, n, "its issuer is empty (RFC 5280 4.1.2.4)");
	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer)) != 0)
		return issuer == x
			       ? why_not(why, n,
					 "the last certificate must be a self-signed "
					 "root, but its issuer differs from its subject")
			       : why_not(why, n, "its issuer is not the subject of certificate %zu",
					 i + 2);
	if (akid_kid != NULL && issuer_skid != NULL &&
	    ASN1_OCTET_STRING_cmp(akid_kid, issuer_skid) != 0)
		return why_not(why, n, "its AuthorityKeyId is not the SubjectKeyId of %s",
			       issuer == x ? "itself" : "the next certificate");
	if ((ipub = X509_get0_pubkey(issuer)) == NULL)
		return why_not(why, n, "the issuer's public key cannot be parsed");
	if (X509_verify(x, ipub) != 1)
		return issuer == x ? why_not(why, n, "its self-signature does not verify")
				   : why_not(why, n,
					     "its signature does not verify with the key of "
					     "certificate %zu",
					     i + 2);
	return true;
}

/* Everything one certificate at position i (0 = issuing CA) must satisfy. */
static enum fc_status check_one(const struct ca_chain *c, size_t i, int64_t now, struct fc_err *err)
{
	X509 *x = c->certs[i];
	X509 *issuer = i + 1 < c->n ? c->certs[i + 1] : x;
	char subj[256], why[256];
	bool ok;

	subject_str(x, subj, sizeof(subj));
	/* sigstore-python's cert_is_ca wants v3 */
	ok = X509_get_version(x) == X509_VERSION_3 ||
	     why_not(why, sizeof(why), "not an X.509 v3 certificate");
	ok = ok && check_ca_usages(c, i, x, subj, why, sizeof(why)) &&
	     check_validity(x, now, why, sizeof(why)) && check_link(x, issuer, i, why, sizeof(why));
	ERR_clear_error();
	if (!ok)
		return fc_err_set(err, FC_ECONFIG, "chain: certificate %zu (%s): %s", i + 1, subj,
				  why);
	return FC_OK;
}

/*
 * Check a chain before serving with it (ca.h; Fulcio's VerifyCertChain and
 * the CA rules of RFC 5280 4.2.1.3 and 4.2.1.9). Returns FC_OK, or
 * FC_ECONFIG naming the certificate (1 = issuing CA) and what is wrong.
 */
enum fc_status ca_chain_check(const struct ca_chain *c, EVP_PKEY *pub, struct fc_err *err)
{
	int64_t now = fc_now();
	EVP_PKEY *cpub;
	char subj[256];

	if (c == NULL || c->n == 0)
		return fc_err_set(err, FC_ECONFIG, "chain: no certificate");
	if (pub == NULL)
		return fc_err_set(err, FC_EINTERNAL, "chain: no signer key to check against");
	subject_str(c->certs[0], subj, sizeof(subj));
	if ((cpub = X509_get0_pubkey(c->certs[0])) == NULL || EVP_PKEY_eq(cpub, pub) != 1) {
		ERR_clear_error();
		return fc_err_set(
			err, FC_ECONFIG,
			"chain: certificate 1 (%s): its public key is not the signer's key "
			"(the issuing CA comes first in the chain file)",
			subj);
	}
	for (size_t i = 0; i < c->n; i++) {
		enum fc_status st = check_one(c, i, now, err);
		if (st != FC_OK)
			return st;
	}
	return FC_OK;
}

/*
 * Make the self-signed root of ephemeralca (ca.h), signed through signer
 * with ca_cert_sign like every other certificate. Like Fulcio's
 * pkg/ca/ephemeralca: NotBefore now, NotAfter 10 years on, KeyUsage
 * certSign|cRLSign (critical), BasicConstraints CA:TRUE pathlen 1
 * (critical), SubjectKeyId, no AuthorityKeyId (self-signed). The subject is
 * O=sigstore.dev, CN=fulcrum ephemeral CA (Fulcio's has a street address
 * in Kirkland; a name that says what it is serves operators better).
 * Returns FC_OK with a one-certificate chain in *out (free with
 * ca_chain_free), else FC_EINTERNAL / the signer's status.
 */
enum fc_status ca_chain_make_ephemeral(struct hsm_signer *signer, struct ca_chain **out,
				       struct fc_err *err)
{
	struct ca_cacert_params p = {
		.subject_key = signer ? hsm_signer_public_key(signer) : NULL,
		.pathlen = EPHEMERAL_PATHLEN,
		.not_before = fc_now(),
	};
	X509_NAME *name = NULL;
	X509 *x = NULL;
	struct ca_chain *c;
	enum fc_status st;

	if (signer == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "chain: ephemeral root: missing argument");
	p.not_after = ca_add_years(p.not_before, EPHEMERAL_YEARS);
	if ((name = X509_NAME_new()) == NULL ||
	    !ca_name_add(name, NID_organizationName, EPHEMERAL_ORG) ||
	    !ca_name_add(name, NID_commonName, EPHEMERAL_CN)) {
		fc_log_ssl("ca: ephemeral root name");
		st = fc_err_set(err, FC_EINTERNAL, "chain: ephemeral root: name failed");
		goto out;
	}
	p.subject = name;
	if ((st = ca_cacert_build(&p, signer, &x, err)) != FC_OK)
		goto out;
	if ((c = ca_chain_from_certs(&x, 1)) == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "chain: ephemeral root: PEM encoding failed");
		goto out;
	}
	*out = c;
	st = FC_OK;
out:
	X509_NAME_free(name);
	X509_free(x); /* NULL once the chain owns it */
	return st;
}
