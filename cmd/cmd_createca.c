/*
 * fulcrum createca: make the CA inside a PKCS#11 token (Fulcio's
 * cmd/app/createca.go, and more): the key pair if the label has none, a
 * self-signed root with the CA profile, optionally an intermediate with its
 * own token key (leaf <- intermediate <- root, as Sigstore's public
 * instance), stored on the token under the given ids and written as a PEM
 * chain. --file does the same with PEM files, for development.
 *
 * Also the pkcs11ca loader of `fulcrum serve` (cmd_pkcs11ca_load), so that
 * both commands read the token the same way.
 *
 * The certificate pieces shared with the leaf profile (serial, SubjectKeyId,
 * signing through a struct hsm_signer) come from ca.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "cmd.h"
#include "common.h"
#include "hsm.h"

/* Fulcio's createca: 10 years, root pathlen 1. */
#define CREATECA_YEARS 10
#define ROOT_PATHLEN 1
#define INTERMEDIATE_PATHLEN 0
/* Fulcio's default crypto11 configuration path. */
#define PKCS11_DEFAULT_CONFIG "config/crypto11.conf"
/* The environment variable holding the passphrase of --file keys. */
#define CA_KEY_PASSWD_ENV "FULCRUM_CA_KEY_PASSWD"

struct createca_flags {
	const char *config_path, *uri, *pin_file;
	const char *caroot_id, *key_label, *key_type;
	const char *org, *country, *province, *locality, *street, *postal, *cn;
	bool intermediate;
	const char *int_label, *int_id, *int_cn;
	const char *out;
	bool force, file_mode, aws;
	const char *key_out, *root_key_out;
};

static void createca_usage(FILE *f)
{
	fprintf(f,
		"usage: fulcrum createca (--pkcs11-config-path FILE | --pkcs11-uri URI)\n"
		"                        --hsm-caroot-id ID [options]\n"
		"       fulcrum createca --file --out CHAIN.pem --key-out KEY.pem [options]\n\n"
		"Creates the CA of fulcrum serve --ca pkcs11ca inside a PKCS#11 token: a key pair\n"
		"labelled --hsm-key-label (generated only if the token has none with that label;\n"
		"sensitive, not extractable), a self-signed root (10 years, critical\n"
		"BasicConstraints CA:TRUE pathlen 1, critical KeyUsage keyCertSign|cRLSign,\n"
		"SubjectKeyId), stored on the token as a certificate with CKA_ID = the ASCII\n"
		"bytes of --hsm-caroot-id (\"99\" is 0x39 0x39, as in Fulcio). Refuses to replace\n"
		"an existing certificate with that id unless --force.\n\n"
		"token:\n"
		"  --pkcs11-config-path FILE    crypto11 JSON (Path, TokenLabel|TokenSerial|\n"
		"                               SlotNumber, Pin, ...)\n"
		"  --pkcs11-uri URI             RFC 7512 URI instead, e.g. 'pkcs11:token=fulcio?\n"
		"                               module-path=/usr/lib/softhsm/libsofthsm2.so&\n"
		"                               pin-source=file:/etc/fulcrum/pin'\n"
		"  --pkcs11-pin-file FILE       read the PIN from FILE (first line); the\n"
		"                               environment variable %s wins over all\n"
		"  --hsm-caroot-id ID           CKA_ID of the root certificate (required)\n"
		"  --hsm-key-label LABEL        label of the root key (default %s)\n"
		"  --key-type TYPE              p256 (default), p384 or rsa3072, for a new key\n"
		"  --hsm softhsm|aws            aws: do not store certificates on the token\n"
		"                               (AWS CloudHSM cannot); --out is then required\n"
		"subject (Fulcio's flags; empty ones are left out):\n"
		"  --org NAME                   O (default \"Fulcio Root CA\")\n"
		"  --country C, --province ST, --locality L, --street-address S,\n"
		"  --postal-code P              the other attributes of Fulcio's root\n"
		"  --common-name CN             CN (fulcrum's addition; Fulcio sets none)\n"
		"intermediate:\n"
		"  --intermediate               also make an intermediate CA (pathlen 0, EKU\n"
		"                               codeSigning, 10 years) signed by the root, with a\n"
		"                               key of its own; fulcrum serve then issues with it\n"
		"  --intermediate-key-label L   its key label (default <key label>-intermediate)\n"
		"  --intermediate-id ID         its certificate's CKA_ID (default\n"
		"                               <caroot id>-intermediate)\n"
		"  --intermediate-common-name CN  its CN (default \"<CN or org> intermediate\")\n"
		"output:\n"
		"  --out FILE                   write the chain as PEM: issuing CA first, root\n"
		"                               last (for --hsm-chain, clients and CT logs)\n"
		"  --force                      replace existing certificates (and files)\n"
		"development (no token):\n"
		"  --file                       keys in PEM files instead of a token\n"
		"  --key-out FILE               the issuing CA's key (for --fileca-key)\n"
		"  --root-key-out FILE          the root key, with --intermediate\n"
		"                               keys are encrypted (PKCS#8, AES-256) with the\n"
		"                               passphrase in %s, else written unencrypted\n"
		"                               with mode 0600\n"
		"  -h, --help                   show this help\n\n"
		"Then serve with: fulcrum serve --ca pkcs11ca --pkcs11-config-path FILE\n"
		"  --hsm-caroot-id ID --hsm-key-label LABEL (with --intermediate: the\n"
		"  intermediate's id and key label; the chain is read from the token).\n",
		HSM_P11_PIN_ENV, HSM_P11_DEFAULT_KEY_LABEL, CA_KEY_PASSWD_ENV);
}

static int64_t add_years(int64_t now, int years)
{
	time_t t = (time_t)now;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return now + (int64_t)years * 365 * 86400;
	tm.tm_year += years;
	return (int64_t)timegm(&tm);
}

/* Go's pkix.Name encoding: PrintableString when the value allows it, else
 * UTF8String. Empty values are left out (Fulcio would write them empty). */
static bool name_add(X509_NAME *n, int nid, const char *v)
{
	int type = V_ASN1_PRINTABLESTRING;

	if (v == NULL || *v == '\0')
		return true;
	for (const char *c = v; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr(" '()+,-./:=?", *c) != NULL))
			type = V_ASN1_UTF8STRING;
	return X509_NAME_add_entry_by_NID(n, nid, type, (const unsigned char *)v, -1, -1, 0) == 1;
}

/* Subject in Go's ToRDNSequence order: C, ST, L, street, postalCode, O, CN. */
static X509_NAME *make_name(const struct createca_flags *f, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL || !name_add(n, NID_countryName, f->country) ||
	    !name_add(n, NID_stateOrProvinceName, f->province) ||
	    !name_add(n, NID_localityName, f->locality) ||
	    !name_add(n, NID_streetAddress, f->street) ||
	    !name_add(n, NID_postalCode, f->postal) ||
	    !name_add(n, NID_organizationName, f->org) || !name_add(n, NID_commonName, cn)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* A CA certificate for subject_key, signed by signer (issuer NULL = self-signed). */
static enum fc_status make_ca_cert(X509_NAME *subject, EVP_PKEY *subject_key, X509 *issuer,
				   struct hsm_signer *signer, int pathlen, bool eku_codesign,
				   int64_t not_before, int64_t not_after, X509 **out,
				   struct fc_err *err)
{
	X509 *x = NULL;
	ASN1_TIME *nb = NULL, *na = NULL;
	ASN1_BIT_STRING *ku = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	AUTHORITY_KEYID *akid = NULL;
	enum fc_status st = FC_EINTERNAL;

	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1)
		goto ssl_fail;
	if ((st = ca_cert_set_serial(x, err)) != FC_OK)
		goto out;
	st = FC_EINTERNAL;
	if (X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
	    (nb = ASN1_TIME_set(NULL, (time_t)not_before)) == NULL ||
	    (na = ASN1_TIME_set(NULL, (time_t)not_after)) == NULL ||
	    X509_set1_notBefore(x, nb) != 1 || X509_set1_notAfter(x, na) != 1 ||
	    X509_set_pubkey(x, subject_key) != 1)
		goto ssl_fail;
	/* Go's extension order: KeyUsage, ExtKeyUsage, BasicConstraints,
	 * SubjectKeyId, AuthorityKeyId. RFC 5280 4.2.1.3 and 4.2.1.9: both
	 * critical in a CA. */
	if ((ku = ASN1_BIT_STRING_new()) == NULL || ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 ||
	    ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1)
		goto ssl_fail;
	if (eku_codesign) {
		if ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
		    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_code_sign)) <= 0 ||
		    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1)
			goto ssl_fail;
	}
	if ((bc = BASIC_CONSTRAINTS_new()) == NULL || (bc->pathlen = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set(bc->pathlen, pathlen) != 1)
		goto ssl_fail;
	bc->ca = 0xff;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1)
		goto ssl_fail;
	if ((st = ca_cert_add_skid(x, err)) != FC_OK)
		goto out;
	st = FC_EINTERNAL;
	if (issuer != NULL && X509_get0_subject_key_id(issuer) != NULL) {
		if ((akid = AUTHORITY_KEYID_new()) == NULL ||
		    (akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer))) == NULL ||
		    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
				      X509V3_ADD_DEFAULT) != 1)
			goto ssl_fail;
	}
	if ((st = ca_cert_sign(x, signer, err)) != FC_OK)
		goto out;
	*out = x;
	x = NULL;
	st = FC_OK;
	goto out;
ssl_fail:
	fc_log_ssl("createca: certificate");
	st = fc_err_set(err, FC_EINTERNAL, "createca: cannot build the certificate");
out:
	X509_free(x);
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	ASN1_BIT_STRING_free(ku);
	BASIC_CONSTRAINTS_free(bc);
	sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj objects are static */
	AUTHORITY_KEYID_free(akid);
	return st;
}

/* Create path for writing: refuse an existing file unless force. */
static FILE *create_file(const char *path, mode_t mode, bool force, struct fc_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
	FILE *fp;

	if (fd < 0) {
		fc_err_set(err, FC_EIO, "createca: %s: %s%s", path, strerror(errno),
			   errno == EEXIST ? " (use --force to replace it)" : "");
		return NULL;
	}
	if (force)
		(void)fchmod(fd, mode);
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		fc_err_set(err, FC_EIO, "createca: %s: %s", path, strerror(errno));
	}
	return fp;
}

/* Write the chain (issuing CA first, root last) as PEM. */
static enum fc_status write_chain(const char *path, X509 **certs, size_t n, bool force,
				  struct fc_err *err)
{
	FILE *fp = create_file(path, 0644, force, err);
	bool ok = fp != NULL;

	if (fp == NULL)
		return FC_EIO;
	for (size_t i = 0; ok && i < n; i++)
		ok = PEM_write_X509(fp, certs[i]) == 1;
	if (fclose(fp) != 0 || !ok) {
		ERR_clear_error();
		return fc_err_set(err, FC_EIO, "createca: %s: write failed", path);
	}
	return FC_OK;
}

/* Write a private key (--file): PKCS#8 encrypted with the passphrase when
 * there is one, else plain; 0600 either way. */
static enum fc_status write_key(const char *path, EVP_PKEY *key, const char *pass, bool force,
				struct fc_err *err)
{
	FILE *fp = create_file(path, 0600, force, err);
	int ok;

	if (fp == NULL)
		return FC_EIO;
	if (pass != NULL)
		ok = PEM_write_PKCS8PrivateKey(fp, key, EVP_aes_256_cbc(), NULL, 0, NULL,
					       (void *)pass);
	else
		ok = PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(fp) != 0 || ok != 1) {
		ERR_clear_error();
		return fc_err_set(err, FC_EIO, "createca: %s: write failed", path);
	}
	return FC_OK;
}

static enum hsm_key_kind key_kind(const char *s, bool *ok)
{
	*ok = true;
	if (s == NULL || strcmp(s, "p256") == 0)
		return HSM_KEY_EC_P256;
	if (strcmp(s, "p384") == 0)
		return HSM_KEY_EC_P384;
	if (strcmp(s, "rsa3072") == 0)
		return HSM_KEY_RSA;
	*ok = false;
	return HSM_KEY_EC_P256;
}

/* A fresh in-memory key for --file. */
static EVP_PKEY *file_keygen(enum hsm_key_kind kind)
{
	switch (kind) {
	case HSM_KEY_EC_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case HSM_KEY_RSA:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	}
}

/* Open the token of the flags (config file or URI) and settle the PIN. */
static enum fc_status open_token(const char *config_path, const char *uri, const char *pin_file,
				 bool rw, struct hsm_p11_config **cfg_out, struct hsm_p11 **out,
				 struct fc_err *err)
{
	struct hsm_p11_config *cfg = NULL;
	enum fc_status st;

	if (config_path != NULL && uri != NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11: give --pkcs11-config-path or --pkcs11-uri, not both");
	if (uri != NULL)
		st = hsm_p11_config_parse_uri(uri, &cfg, err);
	else
		st = hsm_p11_config_load_crypto11(config_path ? config_path : PKCS11_DEFAULT_CONFIG,
						  &cfg, err);
	if (st != FC_OK)
		return st;
	cfg->read_write = rw;
	if (rw && cfg->max_sessions == 0)
		cfg->max_sessions = 1; /* createca signs twice: no pool needed */
	if ((st = hsm_p11_config_resolve_pin(cfg, pin_file, err)) != FC_OK ||
	    (st = hsm_p11_open(cfg, out, err)) != FC_OK) {
		hsm_p11_config_free(cfg);
		return st;
	}
	*cfg_out = cfg;
	return FC_OK;
}

/* The signer for a token key: generated first when the label has none. */
static enum fc_status token_key(struct hsm_p11 *p, const char *label, const char *id,
				enum hsm_key_kind kind, struct hsm_signer **out, struct fc_err *err)
{
	bool found = false;
	enum fc_status st;

	if ((st = hsm_p11_has_key(p, label, NULL, 0, &found, err)) != FC_OK)
		return st;
	if (found) {
		fc_log(LOG_NOTICE, "createca: using the key already labelled \"%s\" on the token",
		       label);
	} else {
		if ((st = hsm_p11_generate_key(p, label, (const uint8_t *)id, strlen(id), kind,
					       err)) != FC_OK)
			return st;
		fc_log(LOG_NOTICE, "createca: generated a %s key labelled \"%s\" (id \"%s\")",
		       kind == HSM_KEY_RSA ? "RSA-3072" : kind == HSM_KEY_EC_P384 ? "P-384" : "P-256",
		       label, id);
	}
	return hsm_p11_signer_new(p, label, NULL, 0, HSM_RSA_PKCS1, NULL, out, err);
}

/* Refuse (or with --force, remove) certificates already under id. */
static enum fc_status clear_id(struct hsm_p11 *p, const char *id, bool force, struct fc_err *err)
{
	X509 **certs = NULL;
	size_t n = 0;
	enum fc_status st;

	st = hsm_p11_find_certs(p, NULL, (const uint8_t *)id, strlen(id), &certs, &n, err);
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	free(certs);
	if (st != FC_OK || n == 0)
		return st;
	if (!force)
		return fc_err_set(err, FC_ECONFIG,
				  "createca: a certificate already exists on the token with id "
				  "\"%s\" (use --force to replace it)",
				  id);
	if ((st = hsm_p11_delete_certs(p, (const uint8_t *)id, strlen(id), &n, err)) == FC_OK)
		fc_log(LOG_NOTICE, "createca: --force: removed %zu certificate(s) with id \"%s\"", n,
		       id);
	return st;
}

static int createca_run(struct createca_flags *f)
{
	struct hsm_p11_config *cfg = NULL;
	struct hsm_p11 *p = NULL;
	struct hsm_signer *root_signer = NULL, *int_signer = NULL;
	EVP_PKEY *root_key = NULL, *int_key = NULL;
	X509_NAME *root_name = NULL, *int_name = NULL;
	X509 *root = NULL, *inter = NULL, *chain[2];
	struct fc_err err = {0};
	char *int_label = NULL, *int_id = NULL, *int_cn = NULL, *pass = NULL;
	const char *cn_base = f->cn != NULL && *f->cn ? f->cn : f->org;
	int64_t now = fc_now(), not_after = add_years(now, CREATECA_YEARS);
	enum hsm_key_kind kind;
	enum fc_status st = FC_OK;
	bool ok;
	int rc = CMD_EXIT_USAGE;

	kind = key_kind(f->key_type, &ok);
	if (!ok) {
		fprintf(stderr, "fulcrum createca: --key-type must be p256, p384 or rsa3072\n");
		goto out;
	}
	if (f->country != NULL && *f->country != '\0' && strlen(f->country) != 2) {
		fprintf(stderr, "fulcrum createca: --country must be a two-letter code\n");
		goto out;
	}
	int_label = fc_xasprintf("%s-intermediate", f->key_label);
	if (f->int_label != NULL) {
		free(int_label);
		int_label = fc_xstrdup(f->int_label);
	}
	int_cn = f->int_cn != NULL ? fc_xstrdup(f->int_cn) : fc_xasprintf("%s intermediate", cn_base);
	if ((root_name = make_name(f, f->cn)) == NULL ||
	    (int_name = make_name(f, int_cn)) == NULL) {
		fprintf(stderr, "fulcrum createca: a subject attribute cannot be encoded\n");
		goto out;
	}
	rc = CMD_EXIT_REFUSED;
	if (f->file_mode) {
		char *env = getenv(CA_KEY_PASSWD_ENV);
		if (env != NULL) {
			pass = fc_xstrdup(env);
			fc_memzero(env, strlen(env));
			unsetenv(CA_KEY_PASSWD_ENV);
		} else {
			fc_log(LOG_WARNING, "createca: %s is not set: writing unencrypted keys (mode "
					    "0600)",
			       CA_KEY_PASSWD_ENV);
		}
		if ((root_key = file_keygen(kind)) == NULL ||
		    (f->intermediate && (int_key = file_keygen(kind)) == NULL)) {
			fc_log_ssl("createca: key generation");
			st = fc_err_set(&err, FC_EINTERNAL, "createca: key generation failed");
			goto fail;
		}
		st = write_key(f->intermediate ? f->root_key_out : f->key_out, root_key, pass,
			       f->force, &err);
		if (st == FC_OK && f->intermediate)
			st = write_key(f->key_out, int_key, pass, f->force, &err);
		if (st != FC_OK)
			goto fail;
		st = hsm_softkey_from_pkey(root_key, HSM_RSA_PKCS1, "root key", &root_signer, &err);
		root_key = NULL;
		if (st == FC_OK && f->intermediate) {
			st = hsm_softkey_from_pkey(int_key, HSM_RSA_PKCS1, "intermediate key",
						   &int_signer, &err);
			int_key = NULL;
		}
		if (st != FC_OK)
			goto fail;
	} else {
		int_id = f->int_id != NULL ? fc_xstrdup(f->int_id)
					   : fc_xasprintf("%s-intermediate", f->caroot_id);
		if ((st = open_token(f->config_path, f->uri, f->pin_file, true, &cfg, &p, &err)) !=
		    FC_OK)
			goto fail;
		if (!f->aws && ((st = clear_id(p, f->caroot_id, f->force, &err)) != FC_OK ||
				(f->intermediate &&
				 (st = clear_id(p, int_id, f->force, &err)) != FC_OK)))
			goto fail;
		if ((st = token_key(p, f->key_label, f->caroot_id, kind, &root_signer, &err)) !=
		    FC_OK)
			goto fail;
		if (f->intermediate &&
		    (st = token_key(p, int_label, int_id, kind, &int_signer, &err)) != FC_OK)
			goto fail;
	}
	st = make_ca_cert(root_name, hsm_signer_public_key(root_signer), NULL, root_signer,
			  ROOT_PATHLEN, false, now, not_after, &root, &err);
	if (st == FC_OK && f->intermediate)
		st = make_ca_cert(int_name, hsm_signer_public_key(int_signer), root, root_signer,
				  INTERMEDIATE_PATHLEN, true, now, not_after, &inter, &err);
	if (st != FC_OK)
		goto fail;
	if (p != NULL && !f->aws) {
		st = hsm_p11_store_cert(p, f->key_label, (const uint8_t *)f->caroot_id,
					strlen(f->caroot_id), root, &err);
		if (st == FC_OK && inter != NULL)
			st = hsm_p11_store_cert(p, int_label, (const uint8_t *)int_id,
						strlen(int_id), inter, &err);
		if (st != FC_OK)
			goto fail;
	}
	chain[0] = inter != NULL ? inter : root;
	chain[1] = root;
	if (f->out != NULL &&
	    (st = write_chain(f->out, chain, inter != NULL ? 2 : 1, f->force, &err)) != FC_OK)
		goto fail;

	printf("root CA created: %s\n", f->cn ? f->cn : f->org);
	if (inter != NULL)
		printf("intermediate CA created: %s\n", int_cn);
	if (f->out != NULL)
		printf("chain (issuing CA first, root last) written to %s\n", f->out);
	if (f->file_mode)
		printf("serve with: fulcrum serve --ca fileca --fileca-cert %s --fileca-key %s%s\n",
		       f->out, f->key_out, pass ? " (passphrase in FULCRUM_FILECA_KEY_PASSWD)" : "");
	else if (!f->aws)
		printf("serve with: fulcrum serve --ca pkcs11ca %s%s --hsm-caroot-id %s "
		       "--hsm-key-label %s\n",
		       f->uri ? "--pkcs11-uri " : "--pkcs11-config-path ",
		       f->uri ? "URI" : (f->config_path ? f->config_path : PKCS11_DEFAULT_CONFIG),
		       inter != NULL ? int_id : f->caroot_id, inter != NULL ? int_label : f->key_label);
	else
		printf("serve with: fulcrum serve --ca pkcs11ca ... --hsm-chain %s --hsm-key-label "
		       "%s\n",
		       f->out, inter != NULL ? int_label : f->key_label);
	rc = CMD_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "fulcrum createca: %s\n", err.msg[0] ? err.msg : fc_strerror(st));
out:
	X509_free(root);
	X509_free(inter);
	X509_NAME_free(root_name);
	X509_NAME_free(int_name);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	hsm_signer_free(root_signer);
	hsm_signer_free(int_signer);
	hsm_p11_free(p);
	hsm_p11_config_free(cfg);
	free(int_label);
	free(int_id);
	free(int_cn);
	fc_free_secret(pass);
	return rc;
}

/*
 * fulcrum createca (see createca_usage). Returns CMD_EXIT_OK, CMD_EXIT_USAGE
 * for bad flags, CMD_EXIT_REFUSED when the token or files refuse.
 */
int cmd_createca_main(int argc, char **argv)
{
	enum {
		OPT_CONFIG = 256, OPT_URI, OPT_PIN_FILE, OPT_ID, OPT_LABEL, OPT_KEY_TYPE, OPT_ORG,
		OPT_COUNTRY, OPT_PROVINCE, OPT_LOCALITY, OPT_STREET, OPT_POSTAL, OPT_CN, OPT_INTER,
		OPT_INT_LABEL, OPT_INT_ID, OPT_INT_CN, OPT_OUT, OPT_FORCE, OPT_FILE, OPT_KEY_OUT,
		OPT_ROOT_KEY_OUT, OPT_HSM,
	};
	static const struct option longopts[] = {
		{"pkcs11-config-path", required_argument, NULL, OPT_CONFIG},
		{"pkcs11-uri", required_argument, NULL, OPT_URI},
		{"pkcs11-pin-file", required_argument, NULL, OPT_PIN_FILE},
		{"hsm-caroot-id", required_argument, NULL, OPT_ID},
		{"hsm-key-label", required_argument, NULL, OPT_LABEL},
		{"key-type", required_argument, NULL, OPT_KEY_TYPE},
		{"org", required_argument, NULL, OPT_ORG},
		{"country", required_argument, NULL, OPT_COUNTRY},
		{"province", required_argument, NULL, OPT_PROVINCE},
		{"locality", required_argument, NULL, OPT_LOCALITY},
		{"street-address", required_argument, NULL, OPT_STREET},
		{"postal-code", required_argument, NULL, OPT_POSTAL},
		{"common-name", required_argument, NULL, OPT_CN},
		{"intermediate", no_argument, NULL, OPT_INTER},
		{"intermediate-key-label", required_argument, NULL, OPT_INT_LABEL},
		{"intermediate-id", required_argument, NULL, OPT_INT_ID},
		{"intermediate-common-name", required_argument, NULL, OPT_INT_CN},
		{"out", required_argument, NULL, OPT_OUT},
		{"force", no_argument, NULL, OPT_FORCE},
		{"file", no_argument, NULL, OPT_FILE},
		{"key-out", required_argument, NULL, OPT_KEY_OUT},
		{"root-key-out", required_argument, NULL, OPT_ROOT_KEY_OUT},
		{"hsm", required_argument, NULL, OPT_HSM},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct createca_flags f = {.key_label = HSM_P11_DEFAULT_KEY_LABEL, .org = "Fulcio Root CA"};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: f.config_path = optarg; break;
		case OPT_URI: f.uri = optarg; break;
		case OPT_PIN_FILE: f.pin_file = optarg; break;
		case OPT_ID: f.caroot_id = optarg; break;
		case OPT_LABEL: f.key_label = optarg; break;
		case OPT_KEY_TYPE: f.key_type = optarg; break;
		case OPT_ORG: f.org = optarg; break;
		case OPT_COUNTRY: f.country = optarg; break;
		case OPT_PROVINCE: f.province = optarg; break;
		case OPT_LOCALITY: f.locality = optarg; break;
		case OPT_STREET: f.street = optarg; break;
		case OPT_POSTAL: f.postal = optarg; break;
		case OPT_CN: f.cn = optarg; break;
		case OPT_INTER: f.intermediate = true; break;
		case OPT_INT_LABEL: f.int_label = optarg; break;
		case OPT_INT_ID: f.int_id = optarg; break;
		case OPT_INT_CN: f.int_cn = optarg; break;
		case OPT_OUT: f.out = optarg; break;
		case OPT_FORCE: f.force = true; break;
		case OPT_FILE: f.file_mode = true; break;
		case OPT_KEY_OUT: f.key_out = optarg; break;
		case OPT_ROOT_KEY_OUT: f.root_key_out = optarg; break;
		case OPT_HSM:
			if (strcmp(optarg, "aws") == 0)
				f.aws = true;
			else if (strcmp(optarg, "softhsm") != 0) {
				fprintf(stderr, "fulcrum createca: --hsm must be softhsm or aws\n");
				return CMD_EXIT_USAGE;
			}
			break;
		case 'h': createca_usage(stdout); return CMD_EXIT_OK;
		default: createca_usage(stderr); return CMD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fulcrum createca: unexpected argument \"%s\"\n", argv[optind]);
		return CMD_EXIT_USAGE;
	}
	if (f.file_mode) {
		if (f.out == NULL || f.key_out == NULL || (f.intermediate && f.root_key_out == NULL)) {
			fprintf(stderr, "fulcrum createca: --file needs --out and --key-out (and "
					"--root-key-out with --intermediate)\n");
			return CMD_EXIT_USAGE;
		}
		if (f.config_path || f.uri || f.caroot_id) {
			fprintf(stderr, "fulcrum createca: --file makes no use of a token\n");
			return CMD_EXIT_USAGE;
		}
	} else {
		if (f.caroot_id == NULL || *f.caroot_id == '\0' ||
		    strlen(f.caroot_id) > HSM_P11_MAX_ATTR_LEN) {
			fprintf(stderr, "fulcrum createca: --hsm-caroot-id is required (1 to %d "
					"characters)\n",
				HSM_P11_MAX_ATTR_LEN);
			return CMD_EXIT_USAGE;
		}
		if (f.aws && f.out == NULL) {
			fprintf(stderr, "fulcrum createca: --hsm aws stores nothing on the token: "
					"--out is required\n");
			return CMD_EXIT_USAGE;
		}
	}
	if (*f.key_label == '\0' || strlen(f.key_label) > HSM_P11_MAX_ATTR_LEN) {
		fprintf(stderr, "fulcrum createca: bad --hsm-key-label\n");
		return CMD_EXIT_USAGE;
	}
	return createca_run(&f);
}

/* --- fulcrum serve --ca pkcs11ca ------------------------------------------------------ */

/* Append to chain the certificates of pool that issued its last one,
 * until a self-issued root (RFC 5280 6.1: subject/issuer and signature). */
static size_t chain_from_pool(X509 **chain, size_t n, size_t max, X509 **pool, size_t npool)
{
	while (n < max) {
		X509 *cur = chain[n - 1], *next = NULL;

		if (X509_check_issued(cur, cur) == X509_V_OK)
			break; /* self-issued: the root */
		for (size_t i = 0; i < npool && next == NULL; i++) {
			EVP_PKEY *k;
			if (pool[i] == NULL || X509_cmp(pool[i], cur) == 0 ||
			    X509_check_issued(pool[i], cur) != X509_V_OK)
				continue;
			if ((k = X509_get0_pubkey(pool[i])) != NULL && X509_verify(cur, k) == 1) {
				next = pool[i];
				pool[i] = NULL;
			}
		}
		ERR_clear_error();
		if (next == NULL)
			break;
		chain[n++] = next;
	}
	return n;
}

/*
 * Load the pkcs11ca CA of fulcrum serve (cmd.h): open the token, find the
 * key, the issuing certificate (by --hsm-caroot-id, else the URI's id,
 * else the key label) and the chain (--hsm-chain, else the certificates on
 * the token that issued it, up to the root), check that the key is the
 * certificate's and the chain (ca_chain_check). Returns FC_OK with *out,
 * else the status with a message saying which of module, token, PIN,
 * label or id is wrong (never the PIN).
 */
enum fc_status cmd_pkcs11ca_load(const struct cmd_pkcs11ca_flags *f, struct ca_authority **out,
				 struct fc_err *err)
{
	struct hsm_p11_config *cfg = NULL;
	struct hsm_p11 *p = NULL;
	struct hsm_signer *signer = NULL;
	struct ca_chain *chain = NULL;
	X509 **found = NULL, **all = NULL, *certs[8] = {NULL};
	size_t nfound = 0, nall = 0, n = 0;
	const char *label = f->key_label;
	const uint8_t *key_id = NULL, *cert_id = NULL;
	size_t key_id_len = 0, cert_id_len = 0;
	const char *cert_label = NULL;
	char *what = NULL;
	enum fc_status st;

	if ((st = open_token(f->config_path, f->uri, f->pin_file, false, &cfg, &p, err)) != FC_OK)
		goto out;
	if (label == NULL && f->uri != NULL && cfg->object_label == NULL && cfg->object_id == NULL)
		label = HSM_P11_DEFAULT_KEY_LABEL;
	else if (label == NULL && f->uri != NULL)
		label = cfg->object_label;
	else if (label == NULL)
		label = HSM_P11_DEFAULT_KEY_LABEL;
	if (f->uri != NULL && cfg->object_id != NULL) {
		key_id = cfg->object_id;
		key_id_len = cfg->object_id_len;
	}
	if (f->caroot_id != NULL) {
		cert_id = (const uint8_t *)f->caroot_id; /* ASCII bytes, as Fulcio */
		cert_id_len = strlen(f->caroot_id);
	} else if (key_id != NULL) {
		cert_id = key_id;
		cert_id_len = key_id_len;
	} else if (f->chain_path == NULL) {
		cert_label = label;
	}

	/* The chain: a file, or the token's certificates. */
	if (f->chain_path != NULL) {
		if ((st = ca_chain_load_file(f->chain_path, &chain, err)) != FC_OK)
			goto out;
	}
	if (cert_id != NULL || cert_label != NULL) {
		what = cert_id != NULL ? fc_xasprintf("id \"%.*s\"", (int)cert_id_len, cert_id)
				       : fc_xasprintf("label \"%s\"", cert_label);
		st = hsm_p11_find_certs(p, cert_label, cert_id, cert_id_len, &found, &nfound, err);
		if (st != FC_OK)
			goto out;
		if (nfound == 0) {
			st = fc_err_set(err, FC_ECONFIG,
					"pkcs11ca: %s: no certificate with %s on the token (wrong "
					"--hsm-caroot-id?)",
					hsm_p11_description(p), what);
			goto out;
		}
		if (nfound > 1) {
			st = fc_err_set(err, FC_ECONFIG,
					"pkcs11ca: %s: %zu certificates have %s; ids must be unique",
					hsm_p11_description(p), nfound, what);
			goto out;
		}
		if (chain != NULL && X509_cmp(found[0], chain->certs[0]) != 0) {
			st = fc_err_set(err, FC_ECONFIG,
					"pkcs11ca: the certificate with %s on the token is not the "
					"first certificate of %s",
					what, f->chain_path);
			goto out;
		}
	}
	if (chain == NULL) {
		if ((st = hsm_p11_find_certs(p, NULL, NULL, 0, &all, &nall, err)) != FC_OK)
			goto out;
		certs[0] = found[0];
		found[0] = NULL;
		n = chain_from_pool(certs, 1, sizeof(certs) / sizeof(certs[0]), all, nall);
		chain = ca_chain_from_certs(certs, n); /* owns certs[], also on failure */
		n = 0;
		if (chain == NULL) {
			st = fc_err_set(err, FC_EINTERNAL, "pkcs11ca: cannot encode the chain");
			goto out;
		}
	}

	/* The key, checked against the issuing certificate. */
	st = hsm_p11_signer_new(p, label, key_id, key_id_len,
				f->rsa_pss ? HSM_RSA_PSS : HSM_RSA_PKCS1,
				X509_get0_pubkey(chain->certs[0]), &signer, err);
	if (st != FC_OK)
		goto out;
	if (EVP_PKEY_eq(hsm_signer_public_key(signer), X509_get0_pubkey(chain->certs[0])) != 1) {
		ERR_clear_error();
		char *kname = fc_xasprintf("label \"%s\"", label ? label : "");
		st = fc_err_set(err, FC_ECONFIG,
				"pkcs11ca: the key with %s and the certificate with %s do not match "
				"(wrong --hsm-key-label or --hsm-caroot-id?)",
				kname, what ? what : f->chain_path);
		free(kname);
		goto out;
	}
	if ((st = ca_chain_check(chain, hsm_signer_public_key(signer), err)) != FC_OK)
		goto out;
	fc_log(LOG_INFO, "pkcs11ca: %s; chain of %zu certificate(s)", hsm_signer_description(signer),
	       chain->n);
	st = ca_authority_new(signer, chain, out, err);
	signer = NULL;
	chain = NULL;
out:
	for (size_t i = 0; i < nfound; i++)
		X509_free(found[i]);
	free(found);
	for (size_t i = 0; i < nall; i++)
		X509_free(all[i]);
	free(all);
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	free(what);
	hsm_signer_free(signer);
	ca_chain_free(chain);
	hsm_p11_free(p);
	hsm_p11_config_free(cfg);
	return st;
}
