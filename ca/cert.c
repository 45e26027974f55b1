/*
 * The leaf certificate profile (Fulcio's pkg/ca/common.go MakeX509 through
 * Go's x509.CreateCertificate) and the signing path shared by every
 * certificate fulcrum makes.
 *
 * Certificates are built with OpenSSL's X509 API and signed by handing the
 * DER TBSCertificate to hsm_sign: the CA key may live in an HSM, so
 * X509_sign (which wants the private key) is never used.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

/* Serial numbers: 20 random bytes with the top bit cleared, as Go's
 * x509.CreateCertificate does (RFC 5280 4.1.2.2: positive, <= 20 octets). */
#define SERIAL_BYTES 20
#define SERIAL_TRIES 8

/* 1.3.6.1.4.1.57264.1.7: Fulcio's otherName SAN type for usernames. */
#define OID_OTHERNAME_USERNAME "1.3.6.1.4.1.57264.1.7"

/* Cap on one Sigstore extension value. Claims come from a token capped at
 * OIDC_MAX_TOKEN_LEN, so this only keeps lengths far from INT_MAX. */
#define CA_MAX_EXT_VALUE_BYTES (64 * 1024)

/* The latest NotAfter X.509 can express (RFC 5280 4.1.2.5: 99991231235959Z). */
#define CA_MAX_TIME INT64_C(253402300799)

/*
 * RSASSA-PSS-params for SHA-256, MGF1-SHA-256, salt 32, trailer 1 (RFC 4055
 * 3.1), byte for byte as Go's crypto/x509 writes them (hash parameters NULL).
 */
static const uint8_t pss_sha256_params[] = {
	0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48,
	0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
};

/* An unexpected OpenSSL failure: log the queue once, report FC_EINTERNAL. */
static enum fc_status ssl_fail(struct fc_err *err, const char *what)
{
	char line[128];

	snprintf(line, sizeof(line), "ca: %s", what);
	fc_log_ssl(line);
	return fc_err_set(err, FC_EINTERNAL, "ca: %s failed", what);
}

/* True if s is non-empty 7-bit ASCII (what an IA5String may hold). */
static bool is_ia5(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return false;
	return true;
}

/*
 * Give cert a fresh random serial: 20 bytes from fc_rand_bytes with the top
 * bit cleared (positive, at most 159 bits), never zero. Returns FC_OK, or
 * FC_EINTERNAL with the reason in err.
 */
enum fc_status ca_cert_set_serial(X509 *cert, struct fc_err *err)
{
	uint8_t raw[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	enum fc_status st = FC_EINTERNAL;
	int tries;

	for (tries = 0; tries < SERIAL_TRIES; tries++) {
		if (fc_rand_bytes(raw, sizeof(raw)) != FC_OK) {
			st = fc_err_set(err, FC_EINTERNAL, "ca: no randomness for the serial");
			goto out;
		}
		raw[0] &= 0x7f;
		BN_free(bn);
		if ((bn = BN_bin2bn(raw, (int)sizeof(raw), NULL)) == NULL) {
			st = ssl_fail(err, "serial BN_bin2bn");
			goto out;
		}
		if (!BN_is_zero(bn))
			break;
	}
	if (tries == SERIAL_TRIES) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: the random serial was zero %d times",
				SERIAL_TRIES);
		goto out;
	}
	if ((serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(cert, serial) != 1) {
		st = ssl_fail(err, "set serial");
		goto out;
	}
	st = FC_OK;
out:
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return st;
}

/*
 * Append the SubjectKeyId extension (non-critical): the SHA-1 of the
 * subjectPublicKey BIT STRING contents of cert's key (RFC 5280 4.2.1.2
 * method 1, as Go computes it). Returns FC_OK, or FC_EINTERNAL.
 */
enum fc_status ca_cert_add_skid(X509 *cert, struct fc_err *err)
{
	const unsigned char *bits = NULL;
	int bits_len = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	ASN1_OCTET_STRING *skid = NULL;
	enum fc_status st = FC_EINTERNAL;

	if (X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, X509_get_X509_PUBKEY(cert)) != 1 ||
	    bits == NULL || bits_len <= 0) {
		st = ssl_fail(err, "SubjectKeyId: no public key");
		goto out;
	}
	if (EVP_Digest(bits, (size_t)bits_len, md, &md_len, EVP_sha1(), NULL) != 1) {
		st = ssl_fail(err, "SubjectKeyId SHA-1");
		goto out;
	}
	if ((skid = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(skid, md, (int)md_len) != 1 ||
	    X509_add1_ext_i2d(cert, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) != 1) {
		st = ssl_fail(err, "SubjectKeyId");
		goto out;
	}
	st = FC_OK;
out:
	ASN1_OCTET_STRING_free(skid);
	return st;
}

/* NotBefore and NotAfter from seconds since the epoch. */
static enum fc_status set_validity(X509 *x, int64_t not_before, int validity_s, struct fc_err *err)
{
	ASN1_TIME *nb = NULL, *na = NULL;
	enum fc_status st = FC_EINTERNAL;

	if (validity_s <= 0 || not_before < 0 || not_before > CA_MAX_TIME - validity_s) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: validity %lld + %ds is out of range",
				(long long)not_before, validity_s);
		goto out;
	}
	if ((nb = ASN1_TIME_set(NULL, (time_t)not_before)) == NULL ||
	    (na = ASN1_TIME_set(NULL, (time_t)(not_before + validity_s))) == NULL ||
	    X509_set1_notBefore(x, nb) != 1 || X509_set1_notAfter(x, na) != 1) {
		st = ssl_fail(err, "set validity");
		goto out;
	}
	st = FC_OK;
out:
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	return st;
}

/* KeyUsage digitalSignature (critical) and ExtKeyUsage codeSigning. */
static enum fc_status add_usages(X509 *x, struct fc_err *err)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *code_sign = NULL;
	enum fc_status st = FC_EINTERNAL;

	if ((ku = ASN1_BIT_STRING_new()) == NULL || ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1) {
		st = ssl_fail(err, "KeyUsage");
		goto out;
	}
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
	    (code_sign = OBJ_nid2obj(NID_code_sign)) == NULL ||
	    sk_ASN1_OBJECT_push(eku, code_sign) <= 0) {
		st = ssl_fail(err, "ExtKeyUsage");
		goto out;
	}
	if (X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1) {
		st = ssl_fail(err, "ExtKeyUsage");
		goto out;
	}
	st = FC_OK;
out:
	/* OBJ_nid2obj returns a static object: free the stack only */
	sk_ASN1_OBJECT_free(eku);
	ASN1_BIT_STRING_free(ku);
	return st;
}

/* AuthorityKeyId keyIdentifier = the issuer's SubjectKeyId; Go omits the
 * extension when the issuer has none, and so do we. */
static enum fc_status add_akid(X509 *x, X509 *issuer, struct fc_err *err)
{
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid = NULL;
	enum fc_status st = FC_EINTERNAL;

	if (skid == NULL) {
		ERR_clear_error();
		return FC_OK;
	}
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(skid)) == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1) {
		st = ssl_fail(err, "AuthorityKeyId");
		goto out;
	}
	st = FC_OK;
out:
	AUTHORITY_KEYID_free(akid);
	return st;
}

/* A GeneralName for the identity's SAN (RFC 5280 4.2.1.6); FC_EINPUT if
 * the value cannot be encoded. */
static enum fc_status make_general_name(const struct oidc_identity *id, GENERAL_NAME **out,
					struct fc_err *err)
{
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_UTF8STRING *utf8 = NULL;
	ASN1_TYPE *value = NULL;
	ASN1_OBJECT *type_id = NULL;
	enum fc_status st = FC_EINPUT;
	size_t len;

	if (id->san == NULL || id->san[0] == '\0')
		return fc_err_set(err, FC_EINPUT, "ca: the identity has an empty SAN");
	len = strlen(id->san);
	if (len > CA_MAX_EXT_VALUE_BYTES)
		return fc_err_set(err, FC_EINPUT, "ca: the SAN is longer than %d bytes",
				  CA_MAX_EXT_VALUE_BYTES);
	if ((gn = GENERAL_NAME_new()) == NULL) {
		st = ssl_fail(err, "SubjectAltName");
		goto out;
	}
	switch (id->san_type) {
	case OIDC_SAN_EMAIL:
	case OIDC_SAN_URI:
		/* Go: "x509: %q cannot be encoded as an IA5String" */
		if (!is_ia5(id->san)) {
			st = fc_err_set(err, FC_EINPUT,
					"ca: SAN %s \"%s\" cannot be encoded as an IA5String "
					"(RFC 5280 4.2.1.6)",
					id->san_type == OIDC_SAN_EMAIL ? "email" : "URI", id->san);
			goto out;
		}
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    ASN1_STRING_set(ia5, id->san, (int)len) != 1) {
			st = ssl_fail(err, "SubjectAltName");
			goto out;
		}
		GENERAL_NAME_set0_value(gn, id->san_type == OIDC_SAN_EMAIL ? GEN_EMAIL : GEN_URI,
					ia5);
		ia5 = NULL;
		break;
	case OIDC_SAN_USERNAME:
		/* otherName { type-id 1.3.6.1.4.1.57264.1.7, value [0] EXPLICIT
		 * UTF8String }, byte for byte sigstore's
		 * cryptoutils.MarshalOtherNameSAN. */
		if (!fc_utf8_valid((const uint8_t *)id->san, len)) {
			st = fc_err_set(err, FC_EINPUT, "ca: username SAN is not valid UTF-8");
			goto out;
		}
		if ((type_id = OBJ_txt2obj(OID_OTHERNAME_USERNAME, 1)) == NULL ||
		    (utf8 = ASN1_UTF8STRING_new()) == NULL ||
		    ASN1_STRING_set(utf8, id->san, (int)len) != 1 ||
		    (value = ASN1_TYPE_new()) == NULL) {
			st = ssl_fail(err, "SubjectAltName otherName");
			goto out;
		}
		ASN1_TYPE_set(value, V_ASN1_UTF8STRING, utf8);
		utf8 = NULL;
		if (GENERAL_NAME_set0_othername(gn, type_id, value) != 1) {
			st = ssl_fail(err, "SubjectAltName otherName");
			goto out;
		}
		type_id = NULL;
		value = NULL;
		break;
	default:
		st = fc_err_set(err, FC_EINTERNAL, "ca: unknown SAN type %d", (int)id->san_type);
		goto out;
	}
	*out = gn;
	gn = NULL;
	st = FC_OK;
out:
	ASN1_OBJECT_free(type_id);
	ASN1_TYPE_free(value);
	ASN1_UTF8STRING_free(utf8);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	return st;
}

/* SubjectAltName, critical (the subject is empty: RFC 5280 4.2.1.6), with
 * exactly one GeneralName. */
static enum fc_status add_san(X509 *x, const struct oidc_identity *id, struct fc_err *err)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	enum fc_status st;

	if ((st = make_general_name(id, &gn, err)) != FC_OK)
		goto out;
	st = FC_EINTERNAL;
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL || sk_GENERAL_NAME_push(gens, gn) <= 0) {
		st = ssl_fail(err, "SubjectAltName");
		goto out;
	}
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT) != 1) {
		st = ssl_fail(err, "SubjectAltName");
		goto out;
	}
	st = FC_OK;
out:
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return st;
}

/* Append a non-critical (or critical) extension whose value is der. */
static enum fc_status add_raw_ext(X509 *x, ASN1_OBJECT *obj, int crit, const uint8_t *der,
				  size_t len, struct fc_err *err)
{
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	enum fc_status st = FC_EINTERNAL;

	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, der, (int)len) != 1 ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1) {
		st = ssl_fail(err, "add extension");
		goto out;
	}
	st = FC_OK;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	return st;
}

/* One Sigstore extension (1.3.6.1.4.1.57264.1.x), non-critical: raw bytes
 * (1.1 - 1.6) or a DER UTF8String (1.8 and later). */
static enum fc_status add_identity_ext(X509 *x, const struct oidc_extension *e, struct fc_err *err)
{
	ASN1_OBJECT *obj = NULL;
	ASN1_UTF8STRING *utf8 = NULL;
	unsigned char *der = NULL;
	int der_len;
	size_t len;
	enum fc_status st = FC_EINPUT;

	if (e->oid == NULL || e->value == NULL) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: extension without OID or value");
		goto out;
	}
	if ((obj = OBJ_txt2obj(e->oid, 1)) == NULL) {
		ERR_clear_error();
		st = fc_err_set(err, FC_EINPUT, "ca: extension OID \"%s\" is not a dotted OID",
				e->oid);
		goto out;
	}
	/* RFC 5280 4.2: a certificate MUST NOT include more than one instance
	 * of a particular extension. */
	if (X509_get_ext_by_OBJ(x, obj, -1) >= 0) {
		st = fc_err_set(err, FC_EINPUT, "ca: extension %s appears twice", e->oid);
		goto out;
	}
	len = strlen(e->value);
	if (len > CA_MAX_EXT_VALUE_BYTES) {
		st = fc_err_set(err, FC_EINPUT, "ca: extension %s: value longer than %d bytes",
				e->oid, CA_MAX_EXT_VALUE_BYTES);
		goto out;
	}
	switch (e->encoding) {
	case OIDC_EXT_RAW: st = add_raw_ext(x, obj, 0, (const uint8_t *)e->value, len, err); break;
	case OIDC_EXT_UTF8:
		if (!fc_utf8_valid((const uint8_t *)e->value, len)) {
			st = fc_err_set(err, FC_EINPUT,
					"ca: extension %s: value is not valid UTF-8", e->oid);
			goto out;
		}
		if ((utf8 = ASN1_UTF8STRING_new()) == NULL ||
		    ASN1_STRING_set(utf8, e->value, (int)len) != 1 ||
		    (der_len = i2d_ASN1_UTF8STRING(utf8, &der)) <= 0) {
			st = ssl_fail(err, "UTF8String extension");
			goto out;
		}
		st = add_raw_ext(x, obj, 0, der, (size_t)der_len, err);
		break;
	default:
		st = fc_err_set(err, FC_EINTERNAL, "ca: extension %s: unknown encoding %d", e->oid,
				(int)e->encoding);
		break;
	}
out:
	OPENSSL_free(der);
	ASN1_UTF8STRING_free(utf8);
	ASN1_OBJECT_free(obj);
	return st;
}

/* The CT poison (RFC 6962 3.1): critical, value ASN.1 NULL. */
static enum fc_status add_poison(X509 *x, struct fc_err *err)
{
	static const uint8_t asn1_null[] = {0x05, 0x00};
	ASN1_OBJECT *obj = OBJ_nid2obj(NID_ct_precert_poison);

	if (obj == NULL)
		return ssl_fail(err, "CT poison OID");
	return add_raw_ext(x, obj, 1, asn1_null, sizeof(asn1_null), err);
}

/*
 * The leaf's SubjectPublicKeyInfo. X509_set_pubkey costs OpenSSL 3.0 an
 * encoder and a decoder per call (it encodes the key, then parses the
 * result back), a good part of a certificate's cost. For EC keys on a named
 * curve, what every Sigstore client sends, the algorithm, curve and point
 * are set directly, the point uncompressed (EVP_PKEY_get1_encoded_public_key
 * gives that form whatever form the client sent), as Go's
 * MarshalPKIXPublicKey writes them; other keys take X509_set_pubkey.
 */
static bool set_subject_key(X509 *x, EVP_PKEY *key)
{
	char group[80];
	size_t group_len = 0;
	unsigned char *point = NULL;
	size_t point_len = 0;
	int curve = NID_undef;

	if (EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &group_len) == 1)
		curve = OBJ_txt2nid(group);
	if (curve != NID_undef)
		point_len = EVP_PKEY_get1_encoded_public_key(key, &point);
	if (point_len == 0 || point[0] != POINT_CONVERSION_UNCOMPRESSED) {
		OPENSSL_free(point);
		ERR_clear_error();
		return X509_set_pubkey(x, key) == 1;
	}
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
				   V_ASN1_OBJECT, OBJ_nid2obj(curve), point, (int)point_len) != 1) {
		OPENSSL_free(point);
		return false;
	}
	return true;
}

/*
 * Build the unsigned leaf (ca_int.h; Fulcio's MakeX509 + Go's
 * x509.CreateCertificate field order, RFC 5280 4.1). Returns FC_OK with
 * *out (caller frees with X509_free; sign it with ca_cert_sign), else
 * FC_EINPUT (the identity cannot be encoded) or FC_EINTERNAL with the
 * reason in err.
 */
enum fc_status ca_leaf_build(const struct ca_leaf_params *p, X509 **out, struct fc_err *err)
{
	const struct oidc_identity *id;
	X509 *x = NULL;
	X509_NAME *subject = NULL;
	enum fc_status st = FC_EINTERNAL;

	if (p == NULL || p->identity == NULL || p->subject_key == NULL || p->issuer == NULL ||
	    out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ca: leaf: missing parameter");
	id = p->identity;
	if (id->n_extensions > 0 && id->extensions == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ca: leaf: extensions missing");

	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1) {
		st = ssl_fail(err, "leaf X509_new");
		goto out;
	}
	if ((st = ca_cert_set_serial(x, err)) != FC_OK)
		goto out;
	if ((st = set_validity(x, p->not_before, p->validity_s, err)) != FC_OK)
		goto out;
	/* Subject: empty (an empty SEQUENCE, as Go writes it). */
	if ((subject = X509_NAME_new()) == NULL || X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(p->issuer)) != 1 ||
	    !set_subject_key(x, p->subject_key)) {
		st = ssl_fail(err, "leaf names and key");
		goto out;
	}
	/* Extensions, in Go's order: KU, EKU, SKID, AKID, SAN, extra. */
	if ((st = add_usages(x, err)) != FC_OK || (st = ca_cert_add_skid(x, err)) != FC_OK ||
	    (st = add_akid(x, p->issuer, err)) != FC_OK || (st = add_san(x, id, err)) != FC_OK)
		goto out;
	for (size_t i = 0; i < id->n_extensions; i++) {
		/* Fulcio never emits an empty value (certificate.Extensions.Render) */
		if (id->extensions[i].value != NULL && id->extensions[i].value[0] == '\0')
			continue;
		if ((st = add_identity_ext(x, &id->extensions[i], err)) != FC_OK)
			goto out;
	}
	if (p->precert && (st = add_poison(x, err)) != FC_OK)
		goto out;
	*out = x;
	x = NULL;
	st = FC_OK;
out:
	X509_NAME_free(subject);
	X509_free(x);
	return st;
}

/* Write the signer's AlgorithmIdentifier into alg (RFC 5758 3.2 ECDSA and
 * RFC 8410 3 Ed25519: parameters absent; RFC 4055 5 sha256WithRSA: NULL;
 * RFC 4055 3.1 RSASSA-PSS: the parameters above). */
static enum fc_status set_algor(X509_ALGOR *alg, struct hsm_signer *signer, struct fc_err *err)
{
	int nid = hsm_signer_signature_nid(signer);
	ASN1_OBJECT *obj = OBJ_nid2obj(nid);
	ASN1_STRING *params = NULL;

	if (obj == NULL)
		return ssl_fail(err, "signature algorithm OID");
	switch (nid) {
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
	case NID_ED25519:
		if (X509_ALGOR_set0(alg, obj, V_ASN1_UNDEF, NULL) != 1)
			return ssl_fail(err, "signature algorithm");
		return FC_OK;
	case NID_sha256WithRSAEncryption:
		if (X509_ALGOR_set0(alg, obj, V_ASN1_NULL, NULL) != 1)
			return ssl_fail(err, "signature algorithm");
		return FC_OK;
	case NID_rsassaPss:
		if ((params = ASN1_STRING_new()) == NULL ||
		    ASN1_STRING_set(params, pss_sha256_params, (int)sizeof(pss_sha256_params)) !=
			    1 ||
		    X509_ALGOR_set0(alg, obj, V_ASN1_SEQUENCE, params) != 1) {
			ASN1_STRING_free(params);
			return ssl_fail(err, "RSASSA-PSS parameters");
		}
		return FC_OK;
	default:
		return fc_err_set(err, FC_EINTERNAL, "ca: signer %s: unsupported algorithm %d",
				  hsm_signer_description(signer), nid);
	}
}

/*
 * The first half of signing cert with signer (ca_int.h): both signature
 * AlgorithmIdentifiers set from the signer (RFC 5280 4.1.1.2 and
 * 4.1.2.3), and the DER TBSCertificate to sign. OpenSSL has no setter for
 * the two AlgorithmIdentifiers outside X509_sign*; the getters hand out
 * pointers into cert, which is ours to modify, so their const is cast away
 * here (as X509_sign does internally). Returns FC_OK with *tbs
 * (OPENSSL_free) and *tbs_len, else FC_EINTERNAL with the reason in err.
 */
enum fc_status ca_cert_sign_begin(X509 *cert, struct hsm_signer *signer, unsigned char **tbs,
				  size_t *tbs_len, struct fc_err *err)
{
	X509_ALGOR *tbs_alg, *outer_alg;
	const X509_ALGOR *c_alg = NULL;
	const ASN1_BIT_STRING *c_sig = NULL;
	enum fc_status st;
	int n;

	if (cert == NULL || signer == NULL)
		return fc_err_set(err, FC_EINTERNAL, "ca: sign: missing argument");
	tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(cert);
	X509_get0_signature(&c_sig, &c_alg, cert);
	outer_alg = (X509_ALGOR *)c_alg;
	if (tbs_alg == NULL || outer_alg == NULL || c_sig == NULL)
		return fc_err_set(err, FC_EINTERNAL,
				  "ca: sign: certificate without algorithm fields");
	if ((st = set_algor(tbs_alg, signer, err)) != FC_OK ||
	    (st = set_algor(outer_alg, signer, err)) != FC_OK)
		return st;
	/* i2d_re_X509_tbs re-encodes the TBS and caches that encoding: i2d_X509
	 * afterwards emits exactly these bytes. */
	*tbs = NULL;
	if ((n = i2d_re_X509_tbs(cert, tbs)) <= 0)
		return ssl_fail(err, "encode TBSCertificate");
	*tbs_len = (size_t)n;
	return FC_OK;
}

/*
 * The second half (ca_int.h): install sig as cert's signature. Go's
 * CreateCertificate verifies every signature it makes; here hsm/ verifies
 * those of a PKCS#11 token (the device that can fault) where they are
 * made, and a key in memory signs with OpenSSL, whose RSA checks its own
 * CRT result, so a second verification per certificate (a fifth of the
 * CPU of an issuance) buys nothing. Returns FC_OK or FC_EINTERNAL, with
 * the reason in err.
 */
enum fc_status ca_cert_sign_finish(X509 *cert, const uint8_t *sig, size_t sig_len,
				   struct fc_err *err)
{
	const X509_ALGOR *c_alg = NULL;
	const ASN1_BIT_STRING *c_sig = NULL;
	ASN1_BIT_STRING *sig_bits;

	X509_get0_signature(&c_sig, &c_alg, cert);
	sig_bits = (ASN1_BIT_STRING *)c_sig;
	/* ASN1_BIT_STRING_set copies sig (its prototype lacks the const). */
	if (sig_len > INT_MAX ||
	    ASN1_BIT_STRING_set(sig_bits, (unsigned char *)sig, (int)sig_len) != 1)
		return ssl_fail(err, "install signature");
	/* A signature is whole octets: no unused bits (X.690 8.6.2.2). */
	sig_bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig_bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	return FC_OK;
}

/*
 * Sign cert through signer (ca_int.h): ca_cert_sign_begin, the DER
 * TBSCertificate (RFC 5280 4.1.1.1) signed by hsm_sign_ctx with ctx (may
 * be NULL), ca_cert_sign_finish. Returns FC_OK, or the signer's FC_EHSM /
 * FC_EUNAVAIL, or FC_EINTERNAL, with the reason in err.
 */
enum fc_status ca_cert_sign(X509 *cert, struct hsm_signer *signer, const struct hsm_sign_ctx *ctx,
			    struct fc_err *err)
{
	unsigned char *tbs = NULL;
	size_t tbs_len = 0;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum fc_status st;

	if ((st = ca_cert_sign_begin(cert, signer, &tbs, &tbs_len, err)) == FC_OK &&
	    (st = hsm_sign_ctx(signer, tbs, tbs_len, ctx, &sig, &sig_len, err)) == FC_OK)
		st = ca_cert_sign_finish(cert, sig, sig_len, err);
	OPENSSL_free(tbs);
	free(sig);
	return st;
}

/*
 * The PEM text of cert (RFC 7468 5.1): trimmed = without the final newline
 * (signingCert's form), else with it (trustBundle's form). Returns a
 * NUL-terminated string (caller frees), or NULL if cert cannot be encoded.
 */
char *ca_cert_pem(X509 *cert, bool trimmed)
{
	BIO *bio = NULL;
	char *data = NULL;
	char *pem = NULL;
	long len;

	if (cert == NULL)
		return NULL;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(bio, cert) != 1) {
		fc_log_ssl("ca: PEM encoding of a certificate");
		goto out;
	}
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || data == NULL) {
		fc_log_ssl("ca: PEM encoding of a certificate");
		goto out;
	}
	if (trimmed && data[len - 1] == '\n')
		len--;
	pem = fc_xstrndup(data, (size_t)len);
out:
	BIO_free(bio);
	return pem;
}

/*
 * The DER TBSCertificate of cert with extension nid removed (ca_int.h):
 * the TBS a CT log signs for a precertificate (RFC 6962 3.2), and the one
 * the final certificate must share with it (3.1). The extension is taken
 * out of cert, the TBS encoded, and the extension put back at its place,
 * so cert encodes as before (DER has one encoding); this avoids a copy,
 * which OpenSSL 3.0 makes by re-parsing the certificate, public key
 * included. *out (OPENSSL_free) and *len on success, else FC_EINTERNAL.
 */
enum fc_status ca_cert_tbs_without(X509 *cert, int nid, uint8_t **out, size_t *len,
				   struct fc_err *err)
{
	X509_EXTENSION *ext = NULL;
	unsigned char *tbs = NULL;
	enum fc_status st = FC_EINTERNAL;
	int idx, n;

	idx = X509_get_ext_by_NID(cert, nid, -1);
	if (idx < 0 || X509_get_ext_by_NID(cert, nid, idx) >= 0)
		return fc_err_set(err, FC_EINTERNAL, "ca: certificate has %s extension %s",
				  idx < 0 ? "no" : "more than one", OBJ_nid2sn(nid));
	ext = X509_delete_ext(cert, idx);
	n = i2d_re_X509_tbs(cert, &tbs);
	/* X509_add_ext adds a copy; re-encoding marks the TBS modified so that
	 * cert's cached DER is the restored one. */
	if (X509_add_ext(cert, ext, idx) != 1 || i2d_re_X509_tbs(cert, NULL) <= 0) {
		st = ssl_fail(err, "restore the extension");
		goto out;
	}
	if (n <= 0) {
		st = ssl_fail(err, "encode TBSCertificate");
		goto out;
	}
	*out = tbs;
	*len = (size_t)n;
	tbs = NULL;
	st = FC_OK;
out:
	OPENSSL_free(tbs);
	X509_EXTENSION_free(ext);
	return st;
}
