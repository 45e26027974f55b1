/*
 * fulcrum createca: make the CA inside a PKCS#11 token (Fulcio's
 * cmd/app/createca.go, and more): the key pair if the label has none, a
 * self-signed root with the CA profile, optionally an intermediate with its
 * own token key (leaf <- intermediate <- root, as Sigstore's public
 * instance), stored on the token under the given ids and written as a PEM
 * chain. --file does the same with PEM files, for development. --tsa makes
 * the chain of `fulcrum tsa` instead: the root and a time-stamping
 * certificate (ca.h's ca_tsacert_build) with a token key of its own.
 *
 * The certificates are ca.h's CA profile (ca_cacert_build); the token is
 * opened as `fulcrum serve --ca pkcs11ca` opens it (pkcs11ca.c).
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
#include <openssl/x509.h>

#include "ca.h"
#include "cmd.h"
#include "common.h"
#include "hsm.h"

/* Fulcio's createca: 10 years, root pathlen 1. */
#define CREATECA_YEARS 10
#define ROOT_PATHLEN 1
#define INTERMEDIATE_PATHLEN 0

struct createca_flags {
	const char *config_path, *uri, *pin_file;
	const char *caroot_id, *key_label, *key_type;
	const char *org, *country, *province, *locality, *street, *postal, *cn;
	bool intermediate, tsa;
	const char *int_label, *int_id, *int_cn;
	const char *tsa_label, *tsa_id, *tsa_cn;
	const char *out;
	bool force, file_mode, aws;
	const char *key_out, *root_key_out;
	bool existing_root;		  /* --existing-root: no new root */
	const char *root_cert, *root_key; /* its certificate and key files */
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
		"rotation (a new issuing key under the root already in service):\n"
		"  --existing-root              make no root: sign the new intermediate (or with\n"
		"                               --tsa the new time-stamping certificate) with the\n"
		"                               existing one; its new key is generated (in the\n"
		"                               token: under a label that has no key yet), the\n"
		"                               root is not changed, and its NotAfter bounds the\n"
		"                               new certificate's; the new subject is the root's\n"
		"                               with the CN of --intermediate-common-name (or\n"
		"                               --tsa-common-name; default \"<root CN> "
		"intermediate\n"
		"                               <date>\"), --org and the like are not used\n"
		"  --root-cert FILE             the root certificate (PEM); default: the token's\n"
		"                               certificate with id --hsm-caroot-id\n"
		"  --root-key FILE              the root key (PEM, an offline root; passphrase in\n"
		"                               %s); default: the token's key\n"
		"                               labelled --hsm-key-label\n"
		"time-stamp authority (the chain of fulcrum tsa; not with --intermediate):\n"
		"  --tsa                        make the root and, signed by it, a time-stamping\n"
		"                               certificate (critical ExtKeyUsage timeStamping\n"
		"                               only, critical KeyUsage digitalSignature, "
		"CA:FALSE,\n"
		"                               10 years) with a key of its own; --out is "
		"required\n"
		"  --tsa-key-label L            its key label (default <key label>-tsa)\n"
		"  --tsa-id ID                  its certificate's CKA_ID (default <caroot "
		"id>-tsa)\n"
		"  --tsa-common-name CN         its CN (default \"<CN or org> Timestamping\")\n"
		"output:\n"
		"  --out FILE                   write the chain as PEM: issuing CA first, root\n"
		"                               last (for --hsm-chain, clients and CT logs)\n"
		"  --force                      replace existing certificates (and files)\n"
		"development (no token):\n"
		"  --file                       keys in PEM files instead of a token\n"
		"  --key-out FILE               the issuing CA's key (for --fileca-key), or with\n"
		"                               --tsa the time-stamping key (for fulcrum tsa)\n"
		"  --root-key-out FILE          the root key, with --intermediate or --tsa\n"
		"                               keys are encrypted (PKCS#8, AES-256) with the\n"
		"                               passphrase in %s, else written unencrypted\n"
		"                               with mode 0600\n"
		"  -h, --help                   show this help\n\n"
		"Then serve with: fulcrum serve --ca pkcs11ca --pkcs11-config-path FILE\n"
		"  --hsm-caroot-id ID --hsm-key-label LABEL (with --intermediate: the\n"
		"  intermediate's id and key label; the chain is read from the token).\n",
		HSM_P11_PIN_ENV, HSM_P11_DEFAULT_KEY_LABEL, CMD_FILECA_PASSWD_ENV,
		CMD_FILECA_PASSWD_ENV);
}

/* Subject in Go's ToRDNSequence order: C, ST, L, street, postalCode, O, CN. */
static X509_NAME *make_name(const struct createca_flags *f, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL || !ca_name_add(n, NID_countryName, f->country) ||
	    !ca_name_add(n, NID_stateOrProvinceName, f->province) ||
	    !ca_name_add(n, NID_localityName, f->locality) ||
	    !ca_name_add(n, NID_streetAddress, f->street) ||
	    !ca_name_add(n, NID_postalCode, f->postal) ||
	    !ca_name_add(n, NID_organizationName, f->org) || !ca_name_add(n, NID_commonName, cn)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}
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
	case HSM_KEY_EC_P384: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case HSM_KEY_RSA: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	}
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
		       kind == HSM_KEY_RSA	 ? "RSA-3072"
		       : kind == HSM_KEY_EC_P384 ? "P-384"
						 : "P-256",
		       label, id);
	}
	return hsm_p11_signer_new(p, label, NULL, 0, HSM_RSA_PKCS1, NULL, out, err);
}

/* --existing-root: a fresh key for the new certificate, generated under a
 * label that has none yet (reusing a key would rotate nothing). */
static enum fc_status token_new_key(struct hsm_p11 *p, const char *label, const char *id,
				    enum hsm_key_kind kind, struct hsm_signer **out,
				    struct fc_err *err)
{
	bool found = false;
	enum fc_status st;

	if ((st = hsm_p11_has_key(p, label, NULL, 0, &found, err)) != FC_OK)
		return st;
	if (found)
		return fc_err_set(err, FC_ECONFIG,
				  "createca: a key labelled \"%s\" is already on the token: a "
				  "rotation needs a new key (choose a new key label)",
				  label);
	return token_key(p, label, id, kind, out, err);
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
		fc_log(LOG_NOTICE, "createca: --force: removed %zu certificate(s) with id \"%s\"",
		       n, id);
	return st;
}

/* Whether a second certificate is made under the root: an intermediate
 * or, with --tsa, the time-stamping certificate. */
static bool second_cert(const struct createca_flags *f)
{
	return f->intermediate || f->tsa;
}

/* What createca makes: the root and, with --intermediate, an intermediate
 * (with --tsa, the time-stamping certificate in its place). */
struct createca_state {
	enum hsm_key_kind kind;
	char *int_label, *int_id, *int_cn;
	char *pass; /* --file key passphrase (a copy; wiped) */
	struct hsm_p11_config *cfg;
	struct hsm_p11 *p;
	struct hsm_signer *root_signer, *int_signer;
	X509 *root, *inter;
};

static void createca_state_clear(struct createca_state *s)
{
	X509_free(s->root);
	X509_free(s->inter);
	hsm_signer_free(s->root_signer);
	hsm_signer_free(s->int_signer);
	hsm_p11_free(s->p);
	hsm_p11_config_free(s->cfg);
	free(s->int_label);
	free(s->int_id);
	free(s->int_cn);
	fc_free_secret(s->pass);
}

/* The passphrase of the key files (written, and --root-key read): taken
 * from the environment and wiped there. */
static void take_passphrase(struct createca_state *s)
{
	char *env = getenv(CMD_FILECA_PASSWD_ENV);

	if (env == NULL)
		return;
	s->pass = fc_xstrdup(env);
	fc_memzero(env, strlen(env));
	unsetenv(CMD_FILECA_PASSWD_ENV);
}

/* --file --existing-root: the root from its files, a fresh key for the
 * new certificate written to --key-out. */
static enum fc_status file_new_key(const struct createca_flags *f, struct createca_state *s,
				   struct fc_err *err)
{
	EVP_PKEY *key = NULL;
	enum fc_status st;

	if ((st = cmd_existing_root(NULL, f->root_cert, NULL, f->root_key, NULL, s->pass, &s->root,
				    &s->root_signer, err)) != FC_OK)
		return st;
	if ((key = file_keygen(s->kind)) == NULL) {
		fc_log_ssl("createca: key generation");
		return fc_err_set(err, FC_EINTERNAL, "createca: key generation failed");
	}
	if ((st = write_key(f->key_out, key, s->pass, f->force, err)) != FC_OK) {
		EVP_PKEY_free(key);
		return st;
	}
	return hsm_softkey_from_pkey(key, HSM_RSA_PKCS1,
				     f->tsa ? "time-stamping key" : "intermediate key",
				     &s->int_signer, err);
}

/* --file: fresh keys written as PEM files, signers over them in memory. */
static enum fc_status file_signers(const struct createca_flags *f, struct createca_state *s,
				   struct fc_err *err)
{
	EVP_PKEY *root_key = NULL, *int_key = NULL;
	enum fc_status st;

	take_passphrase(s);
	if (s->pass == NULL)
		fc_log(LOG_WARNING, "createca: %s is not set: writing unencrypted keys (mode 0600)",
		       CMD_FILECA_PASSWD_ENV);
	if (f->existing_root)
		return file_new_key(f, s, err);
	if ((root_key = file_keygen(s->kind)) == NULL ||
	    (second_cert(f) && (int_key = file_keygen(s->kind)) == NULL)) {
		fc_log_ssl("createca: key generation");
		st = fc_err_set(err, FC_EINTERNAL, "createca: key generation failed");
		goto out;
	}
	st = write_key(second_cert(f) ? f->root_key_out : f->key_out, root_key, s->pass, f->force,
		       err);
	if (st == FC_OK && second_cert(f))
		st = write_key(f->key_out, int_key, s->pass, f->force, err);
	if (st != FC_OK)
		goto out;
	st = hsm_softkey_from_pkey(root_key, HSM_RSA_PKCS1, "root key", &s->root_signer, err);
	root_key = NULL;
	if (st == FC_OK && second_cert(f))
		st = hsm_softkey_from_pkey(int_key, HSM_RSA_PKCS1,
					   f->tsa ? "time-stamping key" : "intermediate key",
					   &s->int_signer, err);
	int_key = NULL;
out:
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	return st;
}

/* The token: refuse to overwrite certificates (unless --force), then the
 * keys, generated where the labels have none. */
static enum fc_status token_signers(const struct createca_flags *f, struct createca_state *s,
				    struct fc_err *err)
{
	enum fc_status st;

	if (f->tsa)
		s->int_id = f->tsa_id != NULL ? fc_xstrdup(f->tsa_id)
					      : fc_xasprintf("%s-tsa", f->caroot_id);
	else
		s->int_id = f->int_id != NULL ? fc_xstrdup(f->int_id)
					      : fc_xasprintf("%s-intermediate", f->caroot_id);
	if ((st = cmd_p11_open(f->config_path, f->uri, f->pin_file, true, &s->cfg, &s->p, err)) !=
	    FC_OK)
		return st;
	if (f->existing_root) {
		take_passphrase(s); /* of a --root-key file */
		if ((!f->aws && (st = clear_id(s->p, s->int_id, f->force, err)) != FC_OK) ||
		    (st = cmd_existing_root(s->p, f->root_cert, f->caroot_id, f->root_key,
					    f->key_label, s->pass, &s->root, &s->root_signer,
					    err)) != FC_OK)
			return st;
		return token_new_key(s->p, s->int_label, s->int_id, s->kind, &s->int_signer, err);
	}
	if (!f->aws &&
	    ((st = clear_id(s->p, f->caroot_id, f->force, err)) != FC_OK ||
	     (second_cert(f) && (st = clear_id(s->p, s->int_id, f->force, err)) != FC_OK)))
		return st;
	if ((st = token_key(s->p, f->key_label, f->caroot_id, s->kind, &s->root_signer, err)) !=
	    FC_OK)
		return st;
	if (second_cert(f))
		st = token_key(s->p, s->int_label, s->int_id, s->kind, &s->int_signer, err);
	return st;
}

/* --existing-root: the new certificate ends no later than the root (RFC
 * 5280 6.1 checks each certificate's validity); FC_ECONFIG when the root
 * has expired or its NotAfter cannot be read. */
static enum fc_status bound_by_root(X509 *root, int64_t now, int64_t *not_after, struct fc_err *err)
{
	struct tm tm;
	int64_t end;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(root), &tm) != 1)
		return fc_err_set(err, FC_ECONFIG, "createca: the root's NotAfter cannot be read");
	end = (int64_t)timegm(&tm);
	if (end <= now)
		return fc_err_set(err, FC_ECONFIG,
				  "createca: --existing-root: the root has expired");
	if (end < *not_after)
		*not_after = end;
	return FC_OK;
}

/* --existing-root: the new certificate's subject is the root's without its
 * CN, and the CN given (default "<root CN or O> intermediate|Timestamping
 * <date>", a name of its own beside the one it replaces). NULL on failure. */
static X509_NAME *rotation_name(const struct createca_flags *f, struct createca_state *s)
{
	X509_NAME *n = X509_NAME_dup(X509_get_subject_name(s->root));
	const char *given = f->tsa ? f->tsa_cn : f->int_cn;
	char base[128] = "", day[16];
	int i;
	time_t now = (time_t)fc_now();
	struct tm tm;

	if (n == NULL)
		return NULL;
	if (X509_NAME_get_text_by_NID(n, NID_commonName, base, sizeof(base)) < 0)
		X509_NAME_get_text_by_NID(n, NID_organizationName, base, sizeof(base));
	while ((i = X509_NAME_get_index_by_NID(n, NID_commonName, -1)) >= 0)
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, i));
	if (given == NULL) {
		gmtime_r(&now, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		free(s->int_cn);
		s->int_cn = fc_xasprintf("%s%s%s %s", base, *base ? " " : "",
					 f->tsa ? "Timestamping" : "intermediate", day);
	}
	if (!ca_name_add(n, NID_commonName, s->int_cn)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* The root (self-signed) and the intermediate it signs, ten years each. */
static enum fc_status make_certs(const struct createca_flags *f, struct createca_state *s,
				 struct fc_err *err)
{
	int64_t now = fc_now();
	struct ca_cacert_params p = {
		.subject_key = hsm_signer_public_key(s->root_signer),
		.pathlen = ROOT_PATHLEN,
		.not_before = now,
		.not_after = ca_add_years(now, CREATECA_YEARS),
	};
	X509_NAME *root_name = make_name(f, f->cn), *int_name = NULL;
	enum fc_status st;

	int_name = f->existing_root ? rotation_name(f, s) : make_name(f, s->int_cn);
	if (root_name == NULL || int_name == NULL) {
		st = fc_err_set(err, FC_ECONFIG, "createca: a subject attribute cannot be encoded");
		goto out;
	}
	p.subject = root_name;
	if (f->existing_root) {
		if ((st = bound_by_root(s->root, now, &p.not_after, err)) != FC_OK)
			goto out;
	} else if ((st = ca_cacert_build(&p, s->root_signer, &s->root, err)) != FC_OK ||
		   !second_cert(f)) {
		goto out;
	}
	if (f->tsa) {
		struct ca_tsacert_params tp = {
			.subject = int_name,
			.subject_key = hsm_signer_public_key(s->int_signer),
			.issuer = s->root,
			.not_before = now,
			.not_after = p.not_after,
		};

		st = ca_tsacert_build(&tp, s->root_signer, &s->inter, err);
		goto out;
	}
	p.subject = int_name;
	p.subject_key = hsm_signer_public_key(s->int_signer);
	p.issuer = s->root;
	p.pathlen = INTERMEDIATE_PATHLEN;
	p.eku_codesign = true;
	st = ca_cacert_build(&p, s->root_signer, &s->inter, err);
out:
	X509_NAME_free(root_name);
	X509_NAME_free(int_name);
	return st;
}

/* Store the certificates on the token (unless --hsm aws) and write --out. */
static enum fc_status keep_certs(const struct createca_flags *f, struct createca_state *s,
				 struct fc_err *err)
{
	X509 *chain[2] = {s->inter != NULL ? s->inter : s->root, s->root};
	enum fc_status st = FC_OK;

	if (s->p != NULL && !f->aws) {
		if (!f->existing_root)
			st = hsm_p11_store_cert(s->p, f->key_label, (const uint8_t *)f->caroot_id,
						strlen(f->caroot_id), s->root, err);
		if (st == FC_OK && s->inter != NULL)
			st = hsm_p11_store_cert(s->p, s->int_label, (const uint8_t *)s->int_id,
						strlen(s->int_id), s->inter, err);
	}
	if (st == FC_OK && f->out != NULL)
		st = write_chain(f->out, chain, s->inter != NULL ? 2 : 1, f->force, err);
	return st;
}

/* With --tsa: what was made, and the fulcrum tsa flags that use it. */
static void print_tsa_steps(const struct createca_flags *f, const struct createca_state *s)
{
	const struct hsm_p11_config *c = s->cfg;

	printf("time-stamping certificate created: %s\n", s->int_cn);
	printf("chain (time-stamping certificate first, root last) written to %s\n", f->out);
	if (f->file_mode)
		printf("serve with: fulcrum tsa --certificate-chain %s --private-key %s%s\n",
		       f->out, f->key_out,
		       s->pass ? " (passphrase in FULCRUM_TSA_KEY_PASSWD)" : "");
	else
		printf("serve with: fulcrum tsa --certificate-chain %s --private-key "
		       "'pkcs11:token=%s;object=%s?module-path=%s' --pkcs11-pin-file FILE\n",
		       f->out, c && c->token_label ? c->token_label : "TOKEN", s->int_label,
		       c && c->module_path ? c->module_path : "MODULE");
}

/* --existing-root: what was made, and how the running service switches
 * to it (docs/operations.md, "Rotating keys"). */
static void print_rotation_steps(const struct createca_flags *f, const struct createca_state *s)
{
	char root[256];

	X509_NAME_oneline(X509_get_subject_name(s->root), root, sizeof(root));
	printf("%s created under the existing root %s: %s\n",
	       f->tsa ? "time-stamping certificate" : "intermediate CA", root, s->int_cn);
	if (f->out != NULL)
		printf("chain (new certificate first, root last) written to %s\n", f->out);
	if (!f->file_mode)
		printf("its key: label \"%s\", certificate id \"%s\" on the token\n", s->int_label,
		       s->int_id);
	printf("switch to it: add the chain to the trusted root (fulcrum trust, the old entry "
	       "with end-time=), then\n");
	if (f->tsa)
		printf("  fulcrum tsa: put it in place of --certificate-chain (%s), "
		       "and send SIGHUP\n",
		       f->file_mode ? "and the key in place of --private-key"
				    : "--private-key a pkcs11: URI without object= or id=");
	else
		printf("  fulcrum serve: put it in place of %s, and send SIGHUP\n",
		       f->file_mode ? "--fileca-cert (and the key in place of --fileca-key)"
				    : "--hsm-chain (pkcs11ca without --hsm-key-label)");
}

/* What was made, and the fulcrum serve flags that use it. */
static void print_next_steps(const struct createca_flags *f, const struct createca_state *s)
{
	bool inter = s->inter != NULL;

	if (f->existing_root) {
		print_rotation_steps(f, s);
		return;
	}
	printf("root CA created: %s\n", f->cn ? f->cn : f->org);
	if (f->tsa) {
		print_tsa_steps(f, s);
		return;
	}
	if (inter)
		printf("intermediate CA created: %s\n", s->int_cn);
	if (f->out != NULL)
		printf("chain (issuing CA first, root last) written to %s\n", f->out);
	if (f->file_mode)
		printf("serve with: fulcrum serve --ca fileca --fileca-cert %s --fileca-key %s%s\n",
		       f->out, f->key_out,
		       s->pass ? " (passphrase in FULCRUM_FILECA_KEY_PASSWD)" : "");
	else if (!f->aws)
		printf("serve with: fulcrum serve --ca pkcs11ca %s%s --hsm-caroot-id %s "
		       "--hsm-key-label %s\n",
		       f->uri ? "--pkcs11-uri " : "--pkcs11-config-path ",
		       f->uri ? "URI"
			      : (f->config_path ? f->config_path : CMD_PKCS11_DEFAULT_CONFIG),
		       inter ? s->int_id : f->caroot_id, inter ? s->int_label : f->key_label);
	else
		printf("serve with: fulcrum serve --ca pkcs11ca ... --hsm-chain %s --hsm-key-label "
		       "%s\n",
		       f->out, inter ? s->int_label : f->key_label);
}

/* Make the CA the checked flags describe; the exit status. */
static int createca_run(const struct createca_flags *f, enum hsm_key_kind kind)
{
	struct createca_state s = {.kind = kind};
	const char *cn_base = f->cn != NULL && *f->cn ? f->cn : f->org;
	struct fc_err err = {0};
	enum fc_status st;

	if (f->tsa) {
		s.int_label = f->tsa_label != NULL ? fc_xstrdup(f->tsa_label)
						   : fc_xasprintf("%s-tsa", f->key_label);
		s.int_cn = f->tsa_cn != NULL  ? fc_xstrdup(f->tsa_cn)
			   : *cn_base != '\0' ? fc_xasprintf("%s Timestamping", cn_base)
					      : fc_xstrdup("Timestamping");
	} else {
		s.int_label = f->int_label != NULL ? fc_xstrdup(f->int_label)
						   : fc_xasprintf("%s-intermediate", f->key_label);
		s.int_cn = f->int_cn != NULL  ? fc_xstrdup(f->int_cn)
			   : *cn_base != '\0' ? fc_xasprintf("%s intermediate", cn_base)
					      : fc_xstrdup("intermediate");
	}
	st = f->file_mode ? file_signers(f, &s, &err) : token_signers(f, &s, &err);
	if (st == FC_OK)
		st = make_certs(f, &s, &err);
	if (st == FC_OK)
		st = keep_certs(f, &s, &err);
	if (st == FC_OK)
		print_next_steps(f, &s);
	else
		fprintf(stderr, "fulcrum createca: %s\n", err.msg[0] ? err.msg : fc_strerror(st));
	createca_state_clear(&s);
	return st == FC_OK ? CMD_EXIT_OK : CMD_EXIT_REFUSED;
}

/* The flags of fulcrum createca (createca_usage). */
enum {
	OPT_CONFIG = 256,
	OPT_URI,
	OPT_PIN_FILE,
	OPT_ID,
	OPT_LABEL,
	OPT_KEY_TYPE,
	OPT_ORG,
	OPT_COUNTRY,
	OPT_PROVINCE,
	OPT_LOCALITY,
	OPT_STREET,
	OPT_POSTAL,
	OPT_CN,
	OPT_INTER,
	OPT_INT_LABEL,
	OPT_INT_ID,
	OPT_INT_CN,
	OPT_OUT,
	OPT_FORCE,
	OPT_FILE,
	OPT_KEY_OUT,
	OPT_ROOT_KEY_OUT,
	OPT_HSM,
	OPT_TSA,
	OPT_TSA_LABEL,
	OPT_TSA_ID,
	OPT_TSA_CN,
	OPT_EXISTING_ROOT,
	OPT_ROOT_CERT,
	OPT_ROOT_KEY,
};
static const struct option createca_longopts[] = {
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
	{"tsa", no_argument, NULL, OPT_TSA},
	{"tsa-key-label", required_argument, NULL, OPT_TSA_LABEL},
	{"tsa-id", required_argument, NULL, OPT_TSA_ID},
	{"tsa-common-name", required_argument, NULL, OPT_TSA_CN},
	{"existing-root", no_argument, NULL, OPT_EXISTING_ROOT},
	{"root-cert", required_argument, NULL, OPT_ROOT_CERT},
	{"root-key", required_argument, NULL, OPT_ROOT_KEY},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/*
 * Read the flags into *f. Returns -1 to go on, else the exit status (help
 * shown, or a bad flag).
 */
static int createca_parse(int argc, char **argv, struct createca_flags *f)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", createca_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: f->config_path = optarg; break;
		case OPT_URI: f->uri = optarg; break;
		case OPT_PIN_FILE: f->pin_file = optarg; break;
		case OPT_ID: f->caroot_id = optarg; break;
		case OPT_LABEL: f->key_label = optarg; break;
		case OPT_KEY_TYPE: f->key_type = optarg; break;
		case OPT_ORG: f->org = optarg; break;
		case OPT_COUNTRY: f->country = optarg; break;
		case OPT_PROVINCE: f->province = optarg; break;
		case OPT_LOCALITY: f->locality = optarg; break;
		case OPT_STREET: f->street = optarg; break;
		case OPT_POSTAL: f->postal = optarg; break;
		case OPT_CN: f->cn = optarg; break;
		case OPT_INTER: f->intermediate = true; break;
		case OPT_INT_LABEL: f->int_label = optarg; break;
		case OPT_INT_ID: f->int_id = optarg; break;
		case OPT_INT_CN: f->int_cn = optarg; break;
		case OPT_OUT: f->out = optarg; break;
		case OPT_FORCE: f->force = true; break;
		case OPT_FILE: f->file_mode = true; break;
		case OPT_KEY_OUT: f->key_out = optarg; break;
		case OPT_ROOT_KEY_OUT: f->root_key_out = optarg; break;
		case OPT_TSA: f->tsa = true; break;
		case OPT_TSA_LABEL: f->tsa_label = optarg; break;
		case OPT_TSA_ID: f->tsa_id = optarg; break;
		case OPT_TSA_CN: f->tsa_cn = optarg; break;
		case OPT_EXISTING_ROOT: f->existing_root = true; break;
		case OPT_ROOT_CERT: f->root_cert = optarg; break;
		case OPT_ROOT_KEY: f->root_key = optarg; break;
		case OPT_HSM:
			if (strcmp(optarg, "aws") == 0)
				f->aws = true;
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
	return -1;
}

static bool blank(const char *s)
{
	return s == NULL || *s == '\0';
}

/* The flags of --existing-root; -1 to go on, else CMD_EXIT_USAGE. */
static int check_rotation(const struct createca_flags *f)
{
	if (!f->existing_root) {
		if (f->root_cert == NULL && f->root_key == NULL)
			return -1;
		fprintf(stderr, "fulcrum createca: --root-cert and --root-key go with "
				"--existing-root\n");
		return CMD_EXIT_USAGE;
	}
	if (!second_cert(f)) {
		fprintf(stderr, "fulcrum createca: --existing-root makes a new intermediate "
				"(--intermediate) or time-stamping certificate (--tsa)\n");
		return CMD_EXIT_USAGE;
	}
	if (f->root_key_out != NULL) {
		fprintf(stderr, "fulcrum createca: --existing-root makes no root key: "
				"--root-key-out does not go with it\n");
		return CMD_EXIT_USAGE;
	}
	if ((f->file_mode && (f->root_cert == NULL || f->root_key == NULL)) ||
	    (f->aws && f->root_cert == NULL)) {
		fprintf(stderr,
			"fulcrum createca: --existing-root needs --root-cert%s (the root is "
			"not on a token)\n",
			f->file_mode ? " and --root-key" : "");
		return CMD_EXIT_USAGE;
	}
	return -1;
}

/* Check the flags that go together; -1 to go on, else CMD_EXIT_USAGE. */
static int createca_check(const struct createca_flags *f, enum hsm_key_kind *kind)
{
	bool ok;

	*kind = key_kind(f->key_type, &ok);
	if (!ok) {
		fprintf(stderr, "fulcrum createca: --key-type must be p256, p384 or rsa3072\n");
		return CMD_EXIT_USAGE;
	}
	if (f->country != NULL && *f->country != '\0' && strlen(f->country) != 2) {
		fprintf(stderr, "fulcrum createca: --country must be a two-letter code\n");
		return CMD_EXIT_USAGE;
	}
	if (blank(f->org) && blank(f->cn) && blank(f->country) && blank(f->province) &&
	    blank(f->locality) && blank(f->street) && blank(f->postal)) {
		fprintf(stderr, "fulcrum createca: the subject would be empty (RFC 5280 4.1.2.6): "
				"give --org or --common-name\n");
		return CMD_EXIT_USAGE;
	}
	if (f->tsa && (f->intermediate || f->out == NULL)) {
		fprintf(stderr, "fulcrum createca: --tsa needs --out and makes no intermediate\n");
		return CMD_EXIT_USAGE;
	}
	if (!f->tsa && (f->tsa_label || f->tsa_id || f->tsa_cn)) {
		fprintf(stderr, "fulcrum createca: --tsa-key-label, --tsa-id and --tsa-common-name "
				"go with --tsa\n");
		return CMD_EXIT_USAGE;
	}
	if (f->file_mode) {
		if (f->out == NULL || f->key_out == NULL ||
		    (second_cert(f) && !f->existing_root && f->root_key_out == NULL)) {
			fprintf(stderr, "fulcrum createca: --file needs --out and --key-out (and "
					"--root-key-out with --intermediate or --tsa)\n");
			return CMD_EXIT_USAGE;
		}
		if (f->config_path || f->uri || f->caroot_id) {
			fprintf(stderr, "fulcrum createca: --file makes no use of a token\n");
			return CMD_EXIT_USAGE;
		}
	} else {
		if (f->caroot_id == NULL || *f->caroot_id == '\0' ||
		    strlen(f->caroot_id) > HSM_P11_MAX_ATTR_LEN) {
			fprintf(stderr,
				"fulcrum createca: --hsm-caroot-id is required (1 to %d "
				"characters)\n",
				HSM_P11_MAX_ATTR_LEN);
			return CMD_EXIT_USAGE;
		}
		if (f->aws && f->out == NULL) {
			fprintf(stderr, "fulcrum createca: --hsm aws stores nothing on the token: "
					"--out is required\n");
			return CMD_EXIT_USAGE;
		}
	}
	if (*f->key_label == '\0' || strlen(f->key_label) > HSM_P11_MAX_ATTR_LEN) {
		fprintf(stderr, "fulcrum createca: bad --hsm-key-label\n");
		return CMD_EXIT_USAGE;
	}
	return check_rotation(f);
}

/*
 * fulcrum createca (see createca_usage). Returns CMD_EXIT_OK, CMD_EXIT_USAGE
 * for bad flags, CMD_EXIT_REFUSED when the token or files refuse.
 */
int cmd_createca_main(int argc, char **argv)
{
	struct createca_flags f = {.key_label = HSM_P11_DEFAULT_KEY_LABEL, .org = "Fulcio Root CA"};
	enum hsm_key_kind kind;
	int rc;

	if ((rc = createca_parse(argc, argv, &f)) >= 0 || (rc = createca_check(&f, &kind)) >= 0)
		return rc;
	return createca_run(&f, kind);
}
