/*
 * The TSA's certificate chain: loaded once, checked the way sigstore
 * timestamp-authority checks it (pkg/x509/x509.go VerifyCertChain) and RFC
 * 3161 2.3 requires, with OpenSSL's own path validation for the
 * time-stamping purpose on top.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "tsa_int.h"

static enum fc_status chain_fail(struct fc_err *err, const char *what)
{
	ERR_clear_error();
	return fc_err_set(err, FC_ECONFIG, "tsa: certificate chain: %s", what);
}

/* The certificates of a PEM text, in order. */
static enum fc_status read_pem(struct tsa *t, const char *pem, size_t len, struct fc_err *err)
{
	BIO *bio = NULL;
	X509 *x;
	enum fc_status st = FC_OK;

	if (len == 0 || len > TSA_MAX_CHAIN_FILE || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return chain_fail(err, "empty or over 256 KiB");
	t->chain = fc_xcalloc(TSA_MAX_CHAIN, sizeof(*t->chain));
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (t->n_chain == TSA_MAX_CHAIN) {
			X509_free(x);
			st = chain_fail(err, "more than 8 certificates");
			break;
		}
		t->chain[t->n_chain++] = x;
	}
	ERR_clear_error(); /* the end of the PEM text */
	BIO_free(bio);
	if (st == FC_OK && t->n_chain < 2)
		st = chain_fail(err, "it must hold the signing certificate and its root "
				     "(at least two certificates)");
	return st;
}

/* True if cert carries ExtKeyUsage timeStamping; *n_eku and *critical
 * describe the extension (0 and false when absent). */
static bool has_ts_eku(X509 *cert, int *n_eku, bool *critical)
{
	int crit = 0;
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	bool found = false;

	*n_eku = eku ? sk_ASN1_OBJECT_num(eku) : 0;
	*critical = eku != NULL && crit == 1;
	for (int i = 0; i < *n_eku; i++)
		found = found || OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_time_stamp;
	EXTENDED_KEY_USAGE_free(eku);
	ERR_clear_error();
	return found;
}

/* RFC 3161 2.3 for the leaf, and the roles of the others. */
static enum fc_status check_profile(struct tsa *t, bool intermediate_eku, struct fc_err *err)
{
	X509 *leaf = t->chain[0];
	int n_eku;
	bool critical;

	if (X509_check_ca(leaf) != 0)
		return chain_fail(err, "the signing certificate (the first) is a CA; RFC 3161 2.3 "
				       "wants an end-entity certificate");
	if (!has_ts_eku(leaf, &n_eku, &critical) || n_eku != 1)
		return chain_fail(err, "the signing certificate must have exactly one "
				       "ExtKeyUsage, timeStamping (RFC 3161 2.3)");
	if (!critical)
		return chain_fail(err, "the signing certificate's ExtKeyUsage must be critical "
				       "(RFC 3161 2.3)");
	for (size_t i = 1; i < t->n_chain; i++) {
		if (X509_check_ca(t->chain[i]) == 0)
			return fc_err_set(err, FC_ECONFIG,
					  "tsa: certificate chain: certificate %zu is not a CA",
					  i + 1);
		if (intermediate_eku && i + 1 < t->n_chain &&
		    !has_ts_eku(t->chain[i], &n_eku, &critical))
			return fc_err_set(
				err, FC_ECONFIG,
				"tsa: certificate chain: intermediate %zu lacks ExtKeyUsage "
				"timeStamping (EKU chaining; --no-intermediate-eku to allow)",
				i + 1);
	}
	return FC_OK;
}

/* OpenSSL's path validation from the leaf to the last certificate, for the
 * time-stamping purpose, at the current time. */
static enum fc_status verify_path(struct tsa *t, struct fc_err *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	enum fc_status st = FC_ECONFIG;
	int rc;

	if (store == NULL || ctx == NULL || untrusted == NULL ||
	    X509_STORE_add_cert(store, t->chain[t->n_chain - 1]) != 1)
		goto out;
	for (size_t i = 1; i + 1 < t->n_chain; i++)
		if (!sk_X509_push(untrusted, t->chain[i]))
			goto out;
	if (X509_STORE_CTX_init(ctx, store, t->chain[0], untrusted) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_TIMESTAMP_SIGN) != 1)
		goto out;
	rc = X509_verify_cert(ctx);
	if (rc != 1) {
		fc_err_set(err, FC_ECONFIG, "tsa: certificate chain: %s",
			   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto done;
	}
	st = FC_OK;
	goto done;
out:
	fc_err_set(err, FC_ECONFIG, "tsa: certificate chain: cannot be verified");
	ERR_clear_error();
done:
	sk_X509_free(untrusted); /* the certificates are t's */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return st;
}

/* The signer must hold the leaf's key, of a kind PKCS#7 signs with. */
static enum fc_status check_key(struct tsa *t, struct fc_err *err)
{
	int nid = hsm_signer_signature_nid(t->signer);

	if (EVP_PKEY_eq(X509_get0_pubkey(t->chain[0]), hsm_signer_public_key(t->signer)) != 1) {
		ERR_clear_error();
		return fc_err_set(err, FC_ECONFIG,
				  "tsa: the signing certificate's key is not the "
				  "private key's (--private-key)");
	}
	if (nid != NID_ecdsa_with_SHA256 && nid != NID_ecdsa_with_SHA384 &&
	    nid != NID_ecdsa_with_SHA512 && nid != NID_sha256WithRSAEncryption)
		return fc_err_set(err, FC_ECONFIG,
				  "tsa: the key must be ECDSA (P-256, P-384, "
				  "P-521) or RSA with PKCS#1 v1.5");
	t->md = hsm_signer_digest(t->signer);
	return FC_OK;
}

/* The PEM text of the chain, as sigstore re-encodes it for certchain. */
static enum fc_status make_pem(struct tsa *t, struct fc_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	bool ok = bio != NULL;

	for (size_t i = 0; ok && i < t->n_chain; i++)
		ok = PEM_write_bio_X509(bio, t->chain[i]) == 1;
	if (!ok || (n = BIO_get_mem_data(bio, &data)) <= 0) {
		BIO_free(bio);
		return chain_fail(err, "cannot be written as PEM");
	}
	t->chain_pem = fc_xstrndup(data, (size_t)n);
	BIO_free(bio);
	return FC_OK;
}

/*
 * Load the chain into t and check it (see tsa_new in tsa.h). FC_OK, else
 * FC_ECONFIG with the reason in err.
 */
enum fc_status tsa_chain_load(struct tsa *t, const char *pem, size_t len, bool intermediate_eku,
			      struct fc_err *err)
{
	enum fc_status st;

	if ((st = read_pem(t, pem, len, err)) != FC_OK ||
	    (st = check_profile(t, intermediate_eku, err)) != FC_OK ||
	    (st = verify_path(t, err)) != FC_OK || (st = check_key(t, err)) != FC_OK)
		return st;
	return make_pem(t, err);
}
