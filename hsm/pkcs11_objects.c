/*
 * Objects on a PKCS#11 token: finding keys and reading their public half,
 * generating key pairs and storing certificates (fulcrum createca), and
 * reading certificates back (the chain served by pkcs11ca). Attribute
 * values read from a token are capped at P11_MAX_ATTR_BYTES.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "pkcs11_int.h"

/* At most this many objects are read from one search. */
#define P11_MAX_FOUND 64

/* DER OIDs of the named curves (RFC 5480 2.1.1.1), for CKA_EC_PARAMS. */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

/*
 * "label \"PKCS11CA\" id \"99\"" (the id shown as text when printable,
 * else as hex) for messages. Caller frees.
 */
char *p11_key_name(const char *label, const uint8_t *id, size_t id_len)
{
	char idbuf[2 * HSM_P11_MAX_ATTR_LEN + 8];
	bool printable = id_len > 0;

	for (size_t i = 0; i < id_len; i++)
		printable &= id[i] >= 0x20 && id[i] < 0x7f && id[i] != '"';
	if (id == NULL || id_len == 0)
		idbuf[0] = '\0';
	else if (printable)
		snprintf(idbuf, sizeof(idbuf), "\"%.*s\"", (int)(id_len > 255 ? 255 : id_len),
			 (const char *)id);
	else {
		size_t o = 0;
		idbuf[o++] = '0';
		idbuf[o++] = 'x';
		for (size_t i = 0; i < id_len && o + 3 < sizeof(idbuf); i++)
			o += (size_t)snprintf(idbuf + o, sizeof(idbuf) - o, "%02x", id[i]);
		idbuf[o] = '\0';
	}
	if (label != NULL && idbuf[0] != '\0')
		return fc_xasprintf("label \"%s\" id %s", label, idbuf);
	if (label != NULL)
		return fc_xasprintf("label \"%s\"", label);
	return fc_xasprintf("id %s", idbuf);
}

/*
 * Find up to P11_MAX_FOUND objects of class cls with the given label
 * and/or id (NULL = any). *out malloc'd (caller frees), *n objects.
 * FC_EHSM / FC_EUNAVAIL with the module's rv in *rv_out on failure.
 */
enum fc_status p11_find_objects(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
				const char *label, const uint8_t *id, size_t id_len,
				CK_OBJECT_HANDLE **out, size_t *n, CK_RV *rv_out,
				struct fc_err *err)
{
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG nt = 0, got = 0;
	CK_OBJECT_HANDLE *found = fc_xcalloc(P11_MAX_FOUND, sizeof(*found));
	CK_RV rv;

	tmpl[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	if (label != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	if (id != NULL && id_len > 0)
		tmpl[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
	rv = p->f->C_FindObjectsInit(s, tmpl, nt);
	if (rv == CKR_OK) {
		rv = p->f->C_FindObjects(s, found, P11_MAX_FOUND, &got);
		CK_RV rv2 = p->f->C_FindObjectsFinal(s);
		if (rv == CKR_OK)
			rv = rv2;
	}
	*rv_out = rv;
	if (rv != CKR_OK) {
		free(found);
		return fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_EHSM,
				  "%s: C_FindObjects: %s", p->desc, p11_rv_name(rv));
	}
	*out = found;
	*n = got;
	return FC_OK;
}

/*
 * Read one attribute of variable length (two calls: size, then value).
 * Returns the module's rv; *out is malloc'd (caller frees) on CKR_OK.
 */
CK_RV p11_get_attr(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		   CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	if ((rv = p->f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > P11_MAX_ATTR_BYTES)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = fc_xmalloc(a.ulValueLen + 1);
	if ((rv = p->f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/*
 * Find the key's private-key object; exactly one must match. Sets
 * k->handle and k->type. FC_ENOTFOUND when none matches, FC_ECONFIG when
 * several do or the key type is not EC or RSA, FC_EUNAVAIL on a fault.
 */
enum fc_status p11_key_find(struct hsm_p11 *p, CK_SESSION_HANDLE s, struct p11_key *k,
			    CK_RV *rv_out, struct fc_err *err)
{
	CK_OBJECT_HANDLE *found = NULL;
	CK_KEY_TYPE type = 0;
	CK_ATTRIBUTE a = {CKA_KEY_TYPE, &type, sizeof(type)};
	size_t n = 0;
	char *name = p11_key_name(k->label, k->id, k->id_len);
	enum fc_status st;

	st = p11_find_objects(p, s, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, &found, &n, rv_out,
			      err);
	if (st != FC_OK)
		goto out;
	st = FC_ECONFIG;
	if (n == 0) {
		st = fc_err_set(err, FC_ENOTFOUND,
				"%s: no private key with %s on the token (wrong --hsm-key-label "
				"or id?)",
				p->desc, name);
		goto out;
	}
	if (n > 1) {
		fc_err_set(err, FC_ECONFIG,
			   "%s: %zu private keys have %s; give an id as well to pick one", p->desc,
			   n, name);
		goto out;
	}
	if ((*rv_out = p->f->C_GetAttributeValue(s, found[0], &a, 1)) != CKR_OK) {
		st = fc_err_set(err, p11_rv_is_fault(*rv_out) ? FC_EUNAVAIL : FC_EHSM,
				"%s: key %s: CKA_KEY_TYPE: %s", p->desc, name,
				p11_rv_name(*rv_out));
		goto out;
	}
	if (type != CKK_EC && type != CKK_RSA) {
		fc_err_set(err, FC_ECONFIG, "%s: key %s is neither EC nor RSA (CKK 0x%lx)", p->desc,
			   name, (unsigned long)type);
		goto out;
	}
	k->handle = found[0];
	k->type = type;
	st = FC_OK;
out:
	free(found);
	free(name);
	return st;
}

/* The curve's group name for a DER OID in CKA_EC_PARAMS; NULL if not
 * allowed. */
static const char *curve_name(const uint8_t *der, size_t len)
{
	if (len == sizeof(oid_p256) && memcmp(der, oid_p256, len) == 0)
		return "P-256";
	if (len == sizeof(oid_p384) && memcmp(der, oid_p384, len) == 0)
		return "P-384";
	return NULL;
}

/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40 curr 2.3.3); some
 * modules return the bare point. Point *pt into buf. */
static bool ec_point(const uint8_t *buf, size_t len, const uint8_t **pt, size_t *pt_len)
{
	ASN1_OCTET_STRING *os = NULL;
	const unsigned char *q = buf;

	if (len > 2 && buf[0] == 0x04 &&
	    (os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len)) != NULL && q == buf + len) {
		size_t off = len - (size_t)ASN1_STRING_length(os);
		ASN1_OCTET_STRING_free(os);
		*pt = buf + off;
		*pt_len = len - off;
		return true;
	}
	ASN1_OCTET_STRING_free(os);
	ERR_clear_error();
	if (len > 0 && buf[0] == 0x04 && len % 2 == 1) {
		*pt = buf;
		*pt_len = len;
		return true;
	}
	return false;
}

static enum fc_status pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	enum fc_status st = FC_ECONFIG;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	st = FC_OK;
out:
	ERR_clear_error();
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return st;
}

/* Build the public key of public-key object o. */
static enum fc_status read_public(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
				  CK_KEY_TYPE type, const char *name, EVP_PKEY **out,
				  struct fc_err *err)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = NULL, *e = NULL;
	const uint8_t *pt;
	size_t pt_len;
	const char *curve;
	CK_RV rv;
	enum fc_status st = FC_ECONFIG;

	if (bld == NULL)
		abort();
	if (type == CKK_EC) {
		if ((rv = p11_get_attr(p, s, o, CKA_EC_PARAMS, &a, &alen)) != CKR_OK ||
		    (rv = p11_get_attr(p, s, o, CKA_EC_POINT, &b, &blen)) != CKR_OK) {
			st = fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_ECONFIG,
					"%s: public key %s: CKA_EC_PARAMS/CKA_EC_POINT: %s",
					p->desc, name, p11_rv_name(rv));
			goto out;
		}
		if ((curve = curve_name(a, alen)) == NULL) {
			fc_err_set(err, FC_ECONFIG,
				   "%s: key %s: the curve is not P-256 or P-384 (or not a named "
				   "curve)",
				   p->desc, name);
			goto out;
		}
		if (!ec_point(b, blen, &pt, &pt_len) ||
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) !=
			    1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, pt_len) !=
			    1 ||
		    pkey_from_params("EC", bld, out) != FC_OK) {
			fc_err_set(err, FC_ECONFIG,
				   "%s: key %s: CKA_EC_POINT is not a valid %s point", p->desc,
				   name, curve);
			goto out;
		}
	} else {
		if ((rv = p11_get_attr(p, s, o, CKA_MODULUS, &a, &alen)) != CKR_OK ||
		    (rv = p11_get_attr(p, s, o, CKA_PUBLIC_EXPONENT, &b, &blen)) != CKR_OK) {
			st = fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_ECONFIG,
					"%s: public key %s: CKA_MODULUS/CKA_PUBLIC_EXPONENT: %s",
					p->desc, name, p11_rv_name(rv));
			goto out;
		}
		if ((n = BN_bin2bn(a, (int)alen, NULL)) == NULL ||
		    (e = BN_bin2bn(b, (int)blen, NULL)) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
		    pkey_from_params("RSA", bld, out) != FC_OK) {
			ERR_clear_error();
			fc_err_set(err, FC_ECONFIG, "%s: key %s: not a valid RSA public key",
				   p->desc, name);
			goto out;
		}
	}
	st = FC_OK;
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	free(a);
	free(b);
	return st;
}

/*
 * The public half of key k: the public-key object with the private key's
 * CKA_ID, else with its label (exactly one must match). FC_ENOTFOUND when
 * the token holds none, else FC_ECONFIG / FC_EUNAVAIL with the reason.
 */
enum fc_status p11_key_public(struct hsm_p11 *p, CK_SESSION_HANDLE s, struct p11_key *k,
			      EVP_PKEY **out, struct fc_err *err)
{
	CK_OBJECT_HANDLE *found = NULL;
	uint8_t *id = NULL;
	size_t id_len = 0, n = 0;
	char *name = p11_key_name(k->label, k->id, k->id_len);
	CK_RV rv;
	enum fc_status st;

	if (k->id != NULL) {
		id = fc_xmalloc(k->id_len);
		memcpy(id, k->id, k->id_len);
		id_len = k->id_len;
	} else if (p11_get_attr(p, s, k->handle, CKA_ID, &id, &id_len) != CKR_OK) {
		id = NULL;
		id_len = 0;
	}
	if (id_len > 0) {
		st = p11_find_objects(p, s, CKO_PUBLIC_KEY, NULL, id, id_len, &found, &n, &rv, err);
		if (st != FC_OK)
			goto out;
	}
	if (n != 1 && k->label != NULL) {
		free(found);
		found = NULL;
		st = p11_find_objects(p, s, CKO_PUBLIC_KEY, k->label, NULL, 0, &found, &n, &rv,
				      err);
		if (st != FC_OK)
			goto out;
	}
	if (n != 1) {
		st = FC_ENOTFOUND;
		goto out;
	}
	st = read_public(p, s, found[0], k->type, name, out, err);
out:
	free(found);
	free(id);
	free(name);
	return st;
}

/* Where the public-key object holding pub is: its CKA_ID (*id, *id_len)
 * or, without one, its CKA_LABEL (*label); both malloc'd. FC_ENOTFOUND
 * when no public-key object on the token is pub. */
static enum fc_status pub_object_of(struct hsm_p11 *p, CK_SESSION_HANDLE s, EVP_PKEY *pub,
				    uint8_t **id, size_t *id_len, char **label, struct fc_err *err)
{
	CK_OBJECT_HANDLE *objs = NULL, match = CK_INVALID_HANDLE;
	size_t nobj = 0, llen = 0;
	uint8_t *lab = NULL;
	CK_RV rv;
	enum fc_status st;

	st = p11_find_objects(p, s, CKO_PUBLIC_KEY, NULL, NULL, 0, &objs, &nobj, &rv, err);
	for (size_t i = 0; st == FC_OK && i < nobj && match == CK_INVALID_HANDLE; i++) {
		CK_KEY_TYPE type = 0;
		CK_ATTRIBUTE a = {CKA_KEY_TYPE, &type, sizeof(type)};
		struct fc_err ignored = {0};
		EVP_PKEY *pk = NULL;

		if (p->f->C_GetAttributeValue(s, objs[i], &a, 1) != CKR_OK ||
		    (type != CKK_EC && type != CKK_RSA) ||
		    read_public(p, s, objs[i], type, "(search)", &pk, &ignored) != FC_OK)
			continue; /* another kind of key: not ours */
		if (EVP_PKEY_eq(pk, pub) == 1)
			match = objs[i];
		ERR_clear_error();
		EVP_PKEY_free(pk);
	}
	free(objs);
	if (st != FC_OK)
		return st;
	if (match == CK_INVALID_HANDLE)
		return fc_err_set(err, FC_ENOTFOUND,
				  "%s: no public-key object on the token holds the certificate's "
				  "key",
				  p->desc);
	if (p11_get_attr(p, s, match, CKA_ID, id, id_len) != CKR_OK || *id_len == 0) {
		free(*id);
		*id = NULL;
		*id_len = 0;
	}
	if (*id == NULL && p11_get_attr(p, s, match, CKA_LABEL, &lab, &llen) == CKR_OK &&
	    llen > 0) {
		lab[llen] = '\0'; /* p11_get_attr leaves room for it */
		*label = (char *)lab;
		lab = NULL;
	}
	free(lab);
	if (*id == NULL && *label == NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "%s: the public-key object of the certificate's key has neither "
				  "CKA_ID nor CKA_LABEL: its private key cannot be found",
				  p->desc);
	return FC_OK;
}

/*
 * A signer for the token's private key whose public half is pub (hsm.h):
 * the public-key object holding pub (EC point, RSA modulus and exponent),
 * then the private key with its CKA_ID (else its CKA_LABEL), checked by
 * hsm_p11_signer_new. FC_ENOTFOUND when no public-key object is pub,
 * else as hsm_p11_signer_new.
 */
enum fc_status hsm_p11_signer_for_key(struct hsm_p11 *p, EVP_PKEY *pub,
				      enum hsm_rsa_padding padding, struct hsm_signer **out,
				      struct fc_err *err)
{
	CK_SESSION_HANDLE s;
	uint8_t *id = NULL;
	size_t id_len = 0;
	char *label = NULL;
	enum fc_status st;

	if (p == NULL || pub == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: signer: no public key to look for");
	if ((st = p11_session_begin(p, &s, NULL, err)) != FC_OK)
		return st;
	st = pub_object_of(p, s, pub, &id, &id_len, &label, err);
	p11_session_end(p, s);
	if (st == FC_OK)
		st = hsm_p11_signer_new(p, label, id, id_len, padding, pub, out, err);
	free(id);
	free(label);
	return st;
}

/*
 * Is there a private key with that label (and id, if given)? Sets *found.
 * Returns FC_OK, or FC_EHSM / FC_EUNAVAIL with the reason.
 */
enum fc_status hsm_p11_has_key(struct hsm_p11 *p, const char *label, const uint8_t *id,
			       size_t id_len, bool *found, struct fc_err *err)
{
	CK_OBJECT_HANDLE *objs = NULL;
	CK_SESSION_HANDLE s;
	size_t n = 0;
	CK_RV rv;
	enum fc_status st;

	if ((st = p11_session_begin(p, &s, NULL, err)) != FC_OK)
		return st;
	st = p11_find_objects(p, s, CKO_PRIVATE_KEY, label, id, id_len, &objs, &n, &rv, err);
	p11_session_end(p, s);
	free(objs);
	if (st == FC_OK)
		*found = n > 0;
	return st;
}

/*
 * Generate a key pair on the token (hsm.h): both halves CKA_TOKEN with
 * label and id; the private key CKA_PRIVATE, CKA_SENSITIVE, not
 * CKA_EXTRACTABLE, CKA_SIGN. Returns FC_OK, FC_ECONFIG for a kind the
 * token cannot make, else FC_EHSM with the module's reason.
 */
enum fc_status hsm_p11_generate_key(struct hsm_p11 *p, const char *label, const uint8_t *id,
				    size_t id_len, enum hsm_key_kind kind, struct fc_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_BYTE exp[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pub[10], priv[10];
	CK_ULONG np = 0, nk = 0;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_OK;
	enum fc_status st;

	if (label == NULL || id == NULL || id_len == 0)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: generate: label and id are needed");
	pub[np++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	pub[np++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
	pub[np++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &no, sizeof(no)};
	pub[np++] = (CK_ATTRIBUTE){CKA_WRAP, &no, sizeof(no)};
	pub[np++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	pub[np++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
	switch (kind) {
	case HSM_KEY_EC_P256:
		pub[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
		break;
	case HSM_KEY_EC_P384:
		pub[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)};
		break;
	case HSM_KEY_RSA:
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[np++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub[np++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, exp, sizeof(exp)};
		break;
	default:
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11: only P-256, P-384 and RSA-3072 keys are generated");
	}
	priv[nk++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, sizeof(yes)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_DECRYPT, &no, sizeof(no)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_UNWRAP, &no, sizeof(no)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	priv[nk++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
	if ((st = p11_session_begin(p, &s, NULL, err)) != FC_OK)
		return st;
	rv = p->f->C_GenerateKeyPair(s, &mech, pub, np, priv, nk, &hpub, &hpriv);
	p11_session_end(p, s);
	if (rv != CKR_OK)
		return fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_EHSM,
				  "%s: C_GenerateKeyPair (label \"%s\"): %s", p->desc, label,
				  p11_rv_name(rv));
	return FC_OK;
}

/*
 * Parse the X.509 certificates among objs[0..nobj) into certs (room for
 * nobj), counting them in *got; objects of another certificate type are
 * passed over. FC_EHSM / FC_EUNAVAIL when CKA_VALUE cannot be read,
 * FC_ECONFIG for a value that is not DER X.509.
 */
static enum fc_status certs_read(struct hsm_p11 *p, CK_SESSION_HANDLE s,
				 const CK_OBJECT_HANDLE *objs, size_t nobj, X509 **certs,
				 size_t *got, struct fc_err *err)
{
	enum fc_status st = FC_OK;

	for (size_t i = 0; st == FC_OK && i < nobj; i++) {
		CK_CERTIFICATE_TYPE ct = 0;
		CK_ATTRIBUTE a = {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)};
		uint8_t *der = NULL;
		size_t len = 0;
		const unsigned char *q;
		CK_RV rv;

		if (p->f->C_GetAttributeValue(s, objs[i], &a, 1) != CKR_OK || ct != CKC_X_509)
			continue;
		if ((rv = p11_get_attr(p, s, objs[i], CKA_VALUE, &der, &len)) != CKR_OK)
			return fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_EHSM,
					  "%s: certificate CKA_VALUE: %s", p->desc,
					  p11_rv_name(rv));
		q = der;
		certs[*got] = d2i_X509(NULL, &q, (long)len);
		if (certs[*got] == NULL || q != der + len) {
			ERR_clear_error();
			X509_free(certs[*got]);
			certs[*got] = NULL;
			st = fc_err_set(err, FC_ECONFIG,
					"%s: a certificate on the token is not DER X.509 (RFC 5280 "
					"4.1)",
					p->desc);
		} else {
			(*got)++;
		}
		free(der);
	}
	return st;
}

/*
 * The X.509 certificates with that label and/or id (hsm.h). Returns FC_OK
 * with *out (an array of *n certificates; free each with X509_free, then
 * the array), else FC_EHSM / FC_EUNAVAIL, or FC_ECONFIG for a certificate
 * that does not parse.
 */
enum fc_status hsm_p11_find_certs(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, X509 ***out, size_t *n, struct fc_err *err)
{
	CK_OBJECT_HANDLE *objs = NULL;
	CK_SESSION_HANDLE s;
	X509 **certs = NULL;
	size_t nobj = 0, got = 0;
	CK_RV rv = CKR_OK;
	enum fc_status st;

	if ((st = p11_session_begin(p, &s, NULL, err)) != FC_OK)
		return st;
	st = p11_find_objects(p, s, CKO_CERTIFICATE, label, id, id_len, &objs, &nobj, &rv, err);
	if (st == FC_OK) {
		certs = fc_xcalloc(nobj + 1, sizeof(*certs));
		st = certs_read(p, s, objs, nobj, certs, &got, err);
	}
	p11_session_end(p, s);
	free(objs);
	if (st != FC_OK) {
		for (size_t i = 0; certs != NULL && i < got; i++)
			X509_free(certs[i]);
		free(certs);
		return st;
	}
	*out = certs;
	*n = got;
	return FC_OK;
}

/* DER of an i2d-encodable value; caller frees with OPENSSL_free. */
static int der_of_name(const X509_NAME *name, unsigned char **out)
{
	return i2d_X509_NAME(name, out);
}

/*
 * Store cert on the token (hsm.h). Returns FC_OK, else FC_EHSM /
 * FC_EUNAVAIL with the module's reason.
 */
enum fc_status hsm_p11_store_cert(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, X509 *cert, struct fc_err *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int der_len, subj_len, iss_len, ser_len;
	CK_ATTRIBUTE t[10];
	CK_ULONG nt = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_OK;
	enum fc_status st = FC_EINTERNAL;

	if (label == NULL || id == NULL || id_len == 0 || cert == NULL)
		return fc_err_set(err, FC_EINTERNAL,
				  "pkcs11: store: label, id and cert are needed");
	if ((der_len = i2d_X509(cert, &der)) <= 0 ||
	    (subj_len = der_of_name(X509_get_subject_name(cert), &subj)) <= 0 ||
	    (iss_len = der_of_name(X509_get_issuer_name(cert), &iss)) <= 0 ||
	    (ser_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser)) <= 0) {
		fc_log_ssl("pkcs11: encode certificate");
		st = fc_err_set(err, FC_EINTERNAL, "pkcs11: cannot encode the certificate");
		goto out;
	}
	t[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	t[nt++] = (CK_ATTRIBUTE){CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)};
	t[nt++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	t[nt++] = (CK_ATTRIBUTE){CKA_PRIVATE, &no, sizeof(no)};
	t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	t[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
	t[nt++] = (CK_ATTRIBUTE){CKA_SUBJECT, subj, (CK_ULONG)subj_len};
	t[nt++] = (CK_ATTRIBUTE){CKA_ISSUER, iss, (CK_ULONG)iss_len};
	t[nt++] = (CK_ATTRIBUTE){CKA_SERIAL_NUMBER, ser, (CK_ULONG)ser_len};
	t[nt++] = (CK_ATTRIBUTE){CKA_VALUE, der, (CK_ULONG)der_len};
	if ((st = p11_session_begin(p, &s, NULL, err)) != FC_OK)
		goto out;
	rv = p->f->C_CreateObject(s, t, nt, &h);
	p11_session_end(p, s);
	if (rv != CKR_OK) {
		st = fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_EHSM,
				"%s: C_CreateObject (certificate \"%s\"): %s", p->desc, label,
				p11_rv_name(rv));
		goto out;
	}
	st = FC_OK;
out:
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return st;
}

/*
 * Destroy the certificates with that id (hsm.h); *n says how many.
 * Returns FC_OK, else FC_EHSM / FC_EUNAVAIL with the module's reason.
 */
enum fc_status hsm_p11_delete_certs(struct hsm_p11 *p, const uint8_t *id, size_t id_len, size_t *n,
				    struct fc_err *err)
{
	CK_OBJECT_HANDLE *objs = NULL;
	CK_SESSION_HANDLE s;
	size_t nobj = 0, done = 0;
	CK_RV rv = CKR_OK;
	enum fc_status st;

	if (id == NULL || id_len == 0)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: delete: no id");
	if ((st = p11_session_begin(p, &s, NULL, err)) == FC_OK) {
		st = p11_find_objects(p, s, CKO_CERTIFICATE, NULL, id, id_len, &objs, &nobj, &rv,
				      err);
		for (size_t i = 0; st == FC_OK && i < nobj; i++) {
			if ((rv = p->f->C_DestroyObject(s, objs[i])) != CKR_OK)
				st = fc_err_set(err, FC_EHSM, "%s: C_DestroyObject: %s", p->desc,
						p11_rv_name(rv));
			else
				done++;
		}
		p11_session_end(p, s);
	}
	free(objs);
	if (n != NULL)
		*n = done;
	return st;
}
