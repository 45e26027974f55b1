/*
 * Hand-made TBSCertificates for the signer's checks, shared by
 * tests/unit/test_signer.c (the checks called directly) and
 * tests/tools/signer_probe.c (the same certificates sent to a real signer
 * process over its socket). Each case starts from the leaf ca/ builds for
 * an email identity, then breaks one rule; the TBS is what ca_cert_sign
 * would hand to the signer (a capturing backend takes it).
 */
#ifndef FULCRUM_TBS_CASES_H
#define FULCRUM_TBS_CASES_H

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_int.h"
#include "signer.h"

/* What every case builds on. */
struct tbs_env {
	X509 *issuer;	      /* the issuing CA certificate */
	EVP_PKEY *client_key; /* a P-256 client key */
	int lifetime_s;
	bool ct; /* the signer's certificates go through a CT log */
};

/* One TBS to send. */
struct tbs_out {
	uint8_t *der; /* malloc'd */
	size_t len;
	enum hsm_sign_kind kind;
	const char *token_id;
};

/* --- capturing the TBS ca_cert_sign would sign -------------------------------------- */

struct capture {
	uint8_t *der;
	size_t len;
};

static enum fc_status capture_sign(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
				   size_t *sig_len, struct fc_err *err)
{
	struct capture *c = impl;

	(void)err;
	free(c->der);
	c->der = malloc(len);
	memcpy(c->der, msg, len);
	c->len = len;
	*sig = malloc(8);
	memset(*sig, 0x30, 8);
	*sig_len = 8;
	return FC_OK;
}

static void capture_close(void *impl)
{
	struct capture *c = impl;

	free(c->der);
	free(c);
}

static const struct hsm_ops capture_ops = {.sign = capture_sign, .close = capture_close};

/* The TBS of x as ca_cert_sign makes it for the issuer's key: FC_OK. */
static bool tbs_capture(const struct tbs_env *e, X509 *x, struct tbs_out *o)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct hsm_signer *s = NULL;
	struct fc_err err = {0};

	if (hsm_signer_new(&capture_ops, c, X509_get0_pubkey(e->issuer), HSM_RSA_PKCS1, "capture",
			   &s, &err) != FC_OK)
		return false;
	/* The dummy signature does not verify: the TBS is all we want. */
	(void)ca_cert_sign(x, s, NULL, &err);
	ERR_clear_error();
	o->der = c->der;
	o->len = c->len;
	c->der = NULL;
	hsm_signer_free(s);
	return o->der != NULL;
}

/* --- the valid leaf and its pieces ---------------------------------------------------- */

static struct oidc_extension tbs_exts[] = {
	{"1.3.6.1.4.1.57264.1.1", (char *)"https://issuer.example", OIDC_EXT_RAW},
	{"1.3.6.1.4.1.57264.1.8", (char *)"https://issuer.example", OIDC_EXT_UTF8},
};

static X509 *tbs_leaf(const struct tbs_env *e, bool precert)
{
	struct oidc_identity id = {
		.issuer = (char *)"https://issuer.example",
		.san_type = OIDC_SAN_EMAIL,
		.san = (char *)"alice@example.com",
		.extensions = tbs_exts,
		.n_extensions = 2,
		.token_id = (char *)"test-token-1",
	};
	struct ca_leaf_params p = {
		.identity = &id,
		.subject_key = e->client_key,
		.issuer = e->issuer,
		.not_before = fc_now(),
		.validity_s = e->lifetime_s,
		.precert = precert,
	};
	X509 *x = NULL;
	struct fc_err err = {0};

	if (ca_leaf_build(&p, &x, &err) != FC_OK)
		return NULL;
	return x;
}

/* Replace (or add, when absent) extension nid with DER value val. */
static void tbs_set_ext(X509 *x, int nid, int crit, const uint8_t *val, size_t len)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;
	int idx = X509_get_ext_by_NID(x, nid, -1);

	ASN1_OCTET_STRING_set(os, val, (int)len);
	ext = X509_EXTENSION_create_by_NID(NULL, nid, crit, os);
	if (idx >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, idx));
	X509_add_ext(x, ext, idx >= 0 ? idx : -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
}

/* Add an extension by dotted OID. */
static void tbs_add_oid_ext(X509 *x, const char *oid, int crit, const uint8_t *val, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	ASN1_OCTET_STRING_set(os, val, (int)len);
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
}

/* Flip the criticality of extension nid. */
static void tbs_flip_crit(X509 *x, int nid)
{
	X509_EXTENSION *ext = X509_get_ext(x, X509_get_ext_by_NID(x, nid, -1));

	X509_EXTENSION_set_critical(ext, !X509_EXTENSION_get_critical(ext));
}

static void tbs_drop_ext(X509 *x, int nid)
{
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, nid, -1)));
}

/* An SCT list extension value with one v1 SCT (RFC 6962 3.3). */
static size_t tbs_sct_list(uint8_t *out)
{
	uint8_t sct[64 + 2 + 47];
	size_t n = 0, o = 0;
	uint64_t ts = (uint64_t)fc_now_ms();

	sct[n++] = 0;			    /* v1 */
	memset(sct + n, 0xab, 32), n += 32; /* log id */
	for (int i = 7; i >= 0; i--)
		sct[n++] = (uint8_t)(ts >> (8 * i));
	sct[n++] = 0, sct[n++] = 0; /* no extensions */
	sct[n++] = 4, sct[n++] = 3; /* SHA-256, ECDSA */
	sct[n++] = 0, sct[n++] = 8;
	memset(sct + n, 0x30, 8), n += 8;
	out[o++] = 0x04, out[o++] = (uint8_t)(n + 4);
	out[o++] = 0, out[o++] = (uint8_t)(n + 2);
	out[o++] = 0, out[o++] = (uint8_t)n;
	memcpy(out + o, sct, n);
	return o + n;
}

/* The final certificate of a precertificate: the poison replaced by an
 * SCT list at its place. */
static void tbs_to_final(X509 *x)
{
	uint8_t val[128];
	size_t n = tbs_sct_list(val);
	int idx = X509_get_ext_by_NID(x, NID_ct_precert_poison, -1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	X509_EXTENSION_free(X509_delete_ext(x, idx));
	ASN1_OCTET_STRING_set(os, val, (int)n);
	ext = X509_EXTENSION_create_by_NID(NULL, NID_ct_precert_scts, 0, os);
	X509_add_ext(x, ext, idx);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
}

/* --- the cases ------------------------------------------------------------------------------ */

enum tbs_mut {
	MUT_NONE,
	MUT_TRAILING, /* a byte after the TBS */
	MUT_VERSION1,
	MUT_SERIAL_SHORT,
	MUT_SIG_ALG,
	MUT_ISSUER,
	MUT_VALIDITY_LONG,
	MUT_NOT_BEFORE_OLD,
	MUT_SUBJECT,
	MUT_KEY_P224,
	MUT_KEY_RSA1024,
	MUT_EXT_UNKNOWN,
	MUT_EXT_DUPLICATE,
	MUT_EXT_MISSING_KU,
	MUT_BASIC_CONSTRAINTS_CA,
	MUT_KU_CERTSIGN,
	MUT_KU_NOT_CRITICAL,
	MUT_EKU_SERVERAUTH,
	MUT_SAN_TWO_NAMES,
	MUT_SAN_DNS,
	MUT_SAN_NOT_CRITICAL,
	MUT_AKI_OTHER,
	MUT_SKI_OTHER,
	MUT_SIGSTORE_CRITICAL,
	MUT_SIGSTORE_NOT_UTF8,
	MUT_POISON_ON_CERT,
	MUT_SCT_LIST_NO_CT,
	MUT_NO_TOKEN_ID,
	MUT_KIND_SCT,
};

struct tbs_case {
	const char *name;
	enum tbs_mut mut;
	enum signer_refusal want;
};

/* Every rule of the certificate profile, each broken once (signer/policy_*.c). */
static const struct tbs_case tbs_cases[] = {
	{"bytes after the TBS", MUT_TRAILING, SIGNER_REFUSE_DER},
	{"v1 certificate", MUT_VERSION1, SIGNER_REFUSE_VERSION},
	{"serial of 8 octets (64 bits)", MUT_SERIAL_SHORT, SIGNER_REFUSE_SERIAL},
	{"signature algorithm not the key's", MUT_SIG_ALG, SIGNER_REFUSE_SIG_ALG},
	{"issuer not the CA", MUT_ISSUER, SIGNER_REFUSE_ISSUER},
	{"validity longer than the lifetime", MUT_VALIDITY_LONG, SIGNER_REFUSE_VALIDITY},
	{"NotBefore an hour ago", MUT_NOT_BEFORE_OLD, SIGNER_REFUSE_NOT_BEFORE},
	{"non-empty subject", MUT_SUBJECT, SIGNER_REFUSE_SUBJECT},
	{"P-224 subject key", MUT_KEY_P224, SIGNER_REFUSE_PUBLIC_KEY},
	{"RSA-1024 subject key", MUT_KEY_RSA1024, SIGNER_REFUSE_PUBLIC_KEY},
	{"unknown extension", MUT_EXT_UNKNOWN, SIGNER_REFUSE_EXTENSION},
	{"duplicate extension", MUT_EXT_DUPLICATE, SIGNER_REFUSE_EXTENSION},
	{"no KeyUsage", MUT_EXT_MISSING_KU, SIGNER_REFUSE_EXTENSION},
	{"BasicConstraints CA:TRUE", MUT_BASIC_CONSTRAINTS_CA, SIGNER_REFUSE_CA},
	{"KeyUsage keyCertSign", MUT_KU_CERTSIGN, SIGNER_REFUSE_KEY_USAGE},
	{"KeyUsage not critical", MUT_KU_NOT_CRITICAL, SIGNER_REFUSE_CRITICAL},
	{"ExtKeyUsage serverAuth", MUT_EKU_SERVERAUTH, SIGNER_REFUSE_EXT_KEY_USAGE},
	{"SAN with two names", MUT_SAN_TWO_NAMES, SIGNER_REFUSE_SAN},
	{"SAN with a DNS name", MUT_SAN_DNS, SIGNER_REFUSE_SAN},
	{"SAN not critical", MUT_SAN_NOT_CRITICAL, SIGNER_REFUSE_CRITICAL},
	{"AuthorityKeyId of another CA", MUT_AKI_OTHER, SIGNER_REFUSE_AKI},
	{"SubjectKeyId of another key", MUT_SKI_OTHER, SIGNER_REFUSE_SKI},
	{"critical Sigstore extension", MUT_SIGSTORE_CRITICAL, SIGNER_REFUSE_CRITICAL},
	{"Sigstore 1.9 not a UTF8String", MUT_SIGSTORE_NOT_UTF8, SIGNER_REFUSE_SIGSTORE_EXT},
	{"CT poison on a certificate", MUT_POISON_ON_CERT, SIGNER_REFUSE_CT},
	{"SCT list without a CT log", MUT_SCT_LIST_NO_CT, SIGNER_REFUSE_CT},
	{"no token id", MUT_NO_TOKEN_ID, SIGNER_REFUSE_TOKEN_ID},
	{"a certificate sent as an SCT", MUT_KIND_SCT, SIGNER_REFUSE_KIND},
};
#define TBS_N_CASES (sizeof(tbs_cases) / sizeof(tbs_cases[0]))

static void tbs_set_name(X509 *x, bool issuer, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	if (issuer)
		X509_set_issuer_name(x, n);
	else
		X509_set_subject_name(x, n);
	X509_NAME_free(n);
}

static void tbs_set_key(X509 *x, const char *alg, const char *param, size_t bits)
{
	EVP_PKEY *k = param ? EVP_PKEY_Q_keygen(NULL, NULL, alg, param)
			    : EVP_PKEY_Q_keygen(NULL, NULL, alg, bits);

	X509_set_pubkey(x, k);
	EVP_PKEY_free(k);
	/* keep the SubjectKeyId the key's, so that only the key type is wrong */
	tbs_drop_ext(x, NID_subject_key_identifier);
	ca_cert_add_skid(x, NULL);
}

static void tbs_set_serial_bytes(X509 *x, size_t n)
{
	uint8_t raw[20];
	BIGNUM *bn;
	ASN1_INTEGER *i;

	fc_rand_bytes(raw, n);
	raw[0] = (raw[0] & 0x7f) | 0x40; /* positive, n octets exactly */
	bn = BN_bin2bn(raw, (int)n, NULL);
	i = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(x, i);
	ASN1_INTEGER_free(i);
	BN_free(bn);
}

/* Mutations on the certificate, before its TBS is taken. */
static void tbs_mutate_x509(const struct tbs_env *e, X509 *x, enum tbs_mut m)
{
	static const uint8_t eku_server[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
					     0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
	static const uint8_t ku_certsign[] = {0x03, 0x02, 0x02, 0x04};
	static const uint8_t bc_ca[] = {0x30, 0x03, 0x01, 0x01, 0xff};
	static const uint8_t san_two[] = {0x30, 0x26, 0x81, 0x11, 'a', 'l', 'i', 'c', 'e', '@',
					  'e',	'x',  'a',  'm',  'p', 'l', 'e', '.', 'c', 'o',
					  'm',	0x81, 0x11, 'm',  'a', 'l', 'l', 'y', '@', 'e',
					  'x',	'a',  'm',  'p',  'l', 'e', '.', 'c', 'o', 'm'};
	static const uint8_t san_dns[] = {0x30, 0x0d, 0x82, 0x0b, 'e', 'x', 'a', 'm',
					  'p',	'l',  'e',  '.',  'c', 'o', 'm'};
	static const uint8_t other_id[] = {0x30, 0x16, 0x80, 0x14, 1,  2,  3,  4,  5,  6,  7,  8,
					   9,	 10,   11,   12,   13, 14, 15, 16, 17, 18, 19, 20};
	static const uint8_t raw_issuer[] = {'h', 't', 't', 'p', 's', ':', '/', '/', 'x'};
	uint8_t sct[128];
	int64_t nb = fc_now();

	switch (m) {
	case MUT_VERSION1: X509_set_version(x, X509_VERSION_1); break;
	case MUT_SERIAL_SHORT: tbs_set_serial_bytes(x, 8); break;
	case MUT_ISSUER: tbs_set_name(x, true, "Someone Else CA"); break;
	case MUT_VALIDITY_LONG:
		X509_time_adj_ex(X509_getm_notAfter(x), 0, e->lifetime_s + 60,
				 &(time_t){(time_t)nb});
		break;
	case MUT_NOT_BEFORE_OLD:
		X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &(time_t){(time_t)nb});
		X509_time_adj_ex(X509_getm_notAfter(x), 0, -3600 + e->lifetime_s,
				 &(time_t){(time_t)nb});
		break;
	case MUT_SUBJECT: tbs_set_name(x, false, "evil"); break;
	case MUT_KEY_P224: tbs_set_key(x, "EC", "P-224", 0); break;
	case MUT_KEY_RSA1024: tbs_set_key(x, "RSA", NULL, 1024); break;
	case MUT_EXT_UNKNOWN:
		tbs_add_oid_ext(x, "1.2.3.4.5", 0, (const uint8_t *)"\x05\x00", 2);
		break;
	case MUT_EXT_DUPLICATE:
		tbs_add_oid_ext(x, "2.5.29.37", 0, eku_server, sizeof(eku_server));
		break;
	case MUT_EXT_MISSING_KU: tbs_drop_ext(x, NID_key_usage); break;
	case MUT_BASIC_CONSTRAINTS_CA:
		tbs_set_ext(x, NID_basic_constraints, 1, bc_ca, sizeof(bc_ca));
		break;
	case MUT_KU_CERTSIGN:
		tbs_set_ext(x, NID_key_usage, 1, ku_certsign, sizeof(ku_certsign));
		break;
	case MUT_KU_NOT_CRITICAL: tbs_flip_crit(x, NID_key_usage); break;
	case MUT_EKU_SERVERAUTH:
		tbs_set_ext(x, NID_ext_key_usage, 0, eku_server, sizeof(eku_server));
		break;
	case MUT_SAN_TWO_NAMES:
		tbs_set_ext(x, NID_subject_alt_name, 1, san_two, sizeof(san_two));
		break;
	case MUT_SAN_DNS: tbs_set_ext(x, NID_subject_alt_name, 1, san_dns, sizeof(san_dns)); break;
	case MUT_SAN_NOT_CRITICAL: tbs_flip_crit(x, NID_subject_alt_name); break;
	case MUT_AKI_OTHER:
		tbs_set_ext(x, NID_authority_key_identifier, 0, other_id, sizeof(other_id));
		break;
	case MUT_SKI_OTHER: tbs_set_ext(x, NID_subject_key_identifier, 0, other_id + 2, 22); break;
	case MUT_SIGSTORE_CRITICAL:
		tbs_add_oid_ext(x, "1.3.6.1.4.1.57264.1.9", 1, (const uint8_t *)"\x0c\x01x", 3);
		break;
	case MUT_SIGSTORE_NOT_UTF8:
		tbs_add_oid_ext(x, "1.3.6.1.4.1.57264.1.9", 0, raw_issuer, sizeof(raw_issuer));
		break;
	case MUT_POISON_ON_CERT:
		if (!e->ct) /* a precertificate has it already */
			tbs_add_oid_ext(x, "1.3.6.1.4.1.11129.2.4.3", 1,
					(const uint8_t *)"\x05\x00", 2);
		break;
	case MUT_SCT_LIST_NO_CT:
		if (e->ct) { /* a final certificate whose precertificate was never signed */
			tbs_to_final(x);
		} else {
			size_t n = tbs_sct_list(sct);
			tbs_add_oid_ext(x, "1.3.6.1.4.1.11129.2.4.2", 0, sct, n);
		}
		break;
	default: break;
	}
}

/*
 * Build case c's TBS into *o: the leaf (a certificate, or with e->ct a
 * precertificate), broken as c says.
 */
static bool tbs_build_case(const struct tbs_env *e, const struct tbs_case *c, struct tbs_out *o)
{
	X509 *x = tbs_leaf(e, e->ct);
	bool ok;

	memset(o, 0, sizeof(*o));
	if (x == NULL)
		return false;
	o->kind = e->ct ? HSM_SIGN_PRECERT : HSM_SIGN_CERT;
	if (c->mut == MUT_KIND_SCT)
		o->kind = HSM_SIGN_SCT;
	else if (c->mut == MUT_POISON_ON_CERT || c->mut == MUT_SCT_LIST_NO_CT)
		o->kind = HSM_SIGN_CERT;
	o->token_id = c->mut == MUT_NO_TOKEN_ID ? "" : "test-token-1";
	tbs_mutate_x509(e, x, c->mut);
	if (c->mut == MUT_SIG_ALG) {
		/* a TBS made for another algorithm: an RSA issuer key */
		struct tbs_env other = *e;
		EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		X509 *iss = X509_dup(e->issuer);
		X509_set_pubkey(iss, rsa);
		other.issuer = iss;
		ok = tbs_capture(&other, x, o);
		X509_free(iss);
		EVP_PKEY_free(rsa);
	} else {
		ok = tbs_capture(e, x, o);
	}
	if (ok && c->mut == MUT_TRAILING) {
		o->der = realloc(o->der, o->len + 1);
		o->der[o->len++] = 0;
	}
	X509_free(x);
	return ok;
}

/* A valid precertificate and its final certificate (e->ct), or a valid
 * certificate (both the same then). */
static bool tbs_build_pair(const struct tbs_env *e, struct tbs_out *pre, struct tbs_out *fin)
{
	X509 *x = tbs_leaf(e, e->ct);
	bool ok;

	memset(pre, 0, sizeof(*pre));
	memset(fin, 0, sizeof(*fin));
	if (x == NULL)
		return false;
	pre->kind = e->ct ? HSM_SIGN_PRECERT : HSM_SIGN_CERT;
	pre->token_id = fin->token_id = "test-token-1";
	fin->kind = HSM_SIGN_CERT;
	ok = tbs_capture(e, x, pre);
	if (ok && e->ct) {
		tbs_to_final(x);
		ok = tbs_capture(e, x, fin);
	}
	X509_free(x);
	return ok;
}

#endif /* FULCRUM_TBS_CASES_H */
