/*
 * The existing root of `fulcrum createca --existing-root`: a new
 * intermediate (or time-stamping certificate) is made under a root that
 * is already in service, to rotate the issuing key without changing what
 * clients trust as the root. The root certificate comes from a PEM file or
 * from the token (by its CKA_ID); its key from a PEM file (an offline
 * root) or from the token (by its label). Nothing about the root is made
 * or changed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cmd.h"
#include "common.h"
#include "hsm.h"

/* The root certificate of a PEM file: exactly one certificate. */
static enum fc_status root_from_file(const char *path, X509 **out, struct fc_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *cert = NULL, *more = NULL;
	enum fc_status st;

	if ((st = fc_read_file(path, 256 * 1024, &pem, &len, err)) != FC_OK)
		return st;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		st = fc_err_set(err, FC_ECONFIG, "createca: --root-cert %s: no PEM certificate",
				path);
	} else if ((more = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		st = fc_err_set(
			err, FC_ECONFIG,
			"createca: --root-cert %s: more than one certificate (give the root "
			"alone)",
			path);
	} else {
		*out = cert;
		cert = NULL;
	}
	ERR_clear_error();
	X509_free(more);
	X509_free(cert);
	BIO_free(bio);
	free(pem);
	return st;
}

/* The root certificate stored on the token under CKA_ID id: exactly one. */
static enum fc_status root_from_token(struct hsm_p11 *p, const char *id, X509 **out,
				      struct fc_err *err)
{
	X509 **certs = NULL;
	size_t n = 0;
	enum fc_status st;

	st = hsm_p11_find_certs(p, NULL, (const uint8_t *)id, strlen(id), &certs, &n, err);
	if (st == FC_OK && n != 1)
		st = fc_err_set(err, FC_ECONFIG,
				"createca: --existing-root: %zu certificates on the token have id "
				"\"%s\" (exactly one root is needed; or give --root-cert)",
				n, id);
	if (st == FC_OK) {
		*out = certs[0];
		certs[0] = NULL;
	}
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	free(certs);
	return st;
}

/* The root's key on the token: it must exist (it is never generated). */
static enum fc_status root_key_on_token(struct hsm_p11 *p, const char *label,
					struct hsm_signer **out, struct fc_err *err)
{
	bool found = false;
	enum fc_status st;

	if ((st = hsm_p11_has_key(p, label, NULL, 0, &found, err)) != FC_OK)
		return st;
	if (!found)
		return fc_err_set(err, FC_ECONFIG,
				  "createca: --existing-root: no key labelled \"%s\" on the token "
				  "(--hsm-key-label names the root's key; or give --root-key)",
				  label);
	return hsm_p11_signer_new(p, label, NULL, 0, HSM_RSA_PKCS1, NULL, out, err);
}

/* The root can sign certificates: a CA (RFC 5280 4.2.1.9) whose KeyUsage,
 * if any, has keyCertSign (4.2.1.3), and whose key is the signer's. */
static enum fc_status root_check(X509 *root, struct hsm_signer *signer, struct fc_err *err)
{
	uint32_t ku = X509_get_key_usage(root);
	enum fc_status st = FC_OK;

	if (X509_check_ca(root) < 1)
		st = fc_err_set(err, FC_ECONFIG,
				"createca: --existing-root: the root certificate is not a CA "
				"(RFC 5280 4.2.1.9)");
	else if ((X509_get_extension_flags(root) & EXFLAG_KUSAGE) && !(ku & KU_KEY_CERT_SIGN))
		st = fc_err_set(err, FC_ECONFIG,
				"createca: --existing-root: the root's KeyUsage lacks keyCertSign "
				"(RFC 5280 4.2.1.3)");
	else if (EVP_PKEY_eq(X509_get0_pubkey(root), hsm_signer_public_key(signer)) != 1)
		st = fc_err_set(err, FC_ECONFIG,
				"createca: --existing-root: the root key is not the root "
				"certificate's");
	ERR_clear_error();
	return st;
}

/*
 * The existing root (cmd.h): its certificate from cert_file, else from the
 * token p under CKA_ID caroot_id; its key from key_file (PEM, decrypted
 * with pass when given), else the token's key labelled key_label. Checked:
 * a CA with keyCertSign, holding that key. FC_OK with *root (X509_free)
 * and *signer (hsm_signer_free), else the reason in err.
 */
enum fc_status cmd_existing_root(struct hsm_p11 *p, const char *cert_file, const char *caroot_id,
				 const char *key_file, const char *key_label, const char *pass,
				 X509 **root, struct hsm_signer **signer, struct fc_err *err)
{
	X509 *cert = NULL;
	struct hsm_signer *key = NULL;
	enum fc_status st;

	if (cert_file != NULL)
		st = root_from_file(cert_file, &cert, err);
	else if (p != NULL && caroot_id != NULL)
		st = root_from_token(p, caroot_id, &cert, err);
	else
		st = fc_err_set(err, FC_ECONFIG, "createca: --existing-root needs --root-cert");
	if (st != FC_OK)
		goto out;
	if (key_file != NULL)
		st = hsm_softkey_load_pem(key_file, pass, HSM_RSA_PKCS1, &key, err);
	else if (p != NULL)
		st = root_key_on_token(p, key_label, &key, err);
	else
		st = fc_err_set(err, FC_ECONFIG, "createca: --existing-root needs --root-key");
	if (st != FC_OK || (st = root_check(cert, key, err)) != FC_OK)
		goto out;
	*root = cert;
	*signer = key;
	cert = NULL;
	key = NULL;
out:
	X509_free(cert);
	hsm_signer_free(key);
	return st;
}
