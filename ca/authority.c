/*
 * A certificate authority: one signer and the chain it issues under. Held by
 * reference so that a reload (SIGHUP) can swap it while requests that
 * started with the old one finish with it.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_int.h"

struct ca_authority {
	struct hsm_signer *signer;
	struct ca_chain *chain;
	atomic_uint refs;
	/* For CT submissions, encoded once: the chain as DER, and the
	 * issuer_key_hash of RFC 6962 3.2 (SHA-256 of the issuing CA's SPKI). */
	uint8_t **chain_der;
	size_t *chain_der_len;
	uint8_t issuer_key_hash[CT_LOG_ID_LEN];
};

/*
 * Make an authority from signer and chain (takes ownership of both, also on
 * failure). The chain must not be empty. Free with ca_authority_free (or
 * ca_authority_unref for the last reference).
 */
enum fc_status ca_authority_new(struct hsm_signer *signer, struct ca_chain *chain,
				struct ca_authority **out, struct fc_err *err)
{
	struct ca_authority *a;

	if (signer == NULL || chain == NULL || chain->n == 0) {
		hsm_signer_free(signer);
		ca_chain_free(chain);
		return fc_err_set(err, FC_ECONFIG,
				  "ca: a signer and a non-empty chain are required");
	}
	a = fc_xcalloc(1, sizeof(*a));
	a->signer = signer;
	a->chain = chain;
	atomic_init(&a->refs, 1);
	a->chain_der = fc_xcalloc(chain->n, sizeof(*a->chain_der));
	a->chain_der_len = fc_xcalloc(chain->n, sizeof(*a->chain_der_len));
	for (size_t i = 0; i < chain->n; i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(chain->certs[i], &der);
		if (n <= 0) {
			fc_log_ssl("ca: encode chain certificate");
			ca_authority_unref(a);
			return fc_err_set(err, FC_ECONFIG,
					  "ca: chain certificate %zu cannot be "
					  "encoded",
					  i);
		}
		a->chain_der[i] = der;
		a->chain_der_len[i] = (size_t)n;
	}
	if (ct_key_hash(X509_get0_pubkey(chain->certs[0]), a->issuer_key_hash) != FC_OK) {
		ca_authority_unref(a);
		return fc_err_set(err, FC_ECONFIG,
				  "ca: the issuing certificate's key cannot be "
				  "hashed");
	}
	*out = a;
	return FC_OK;
}

struct ca_authority *ca_authority_ref(struct ca_authority *a)
{
	atomic_fetch_add(&a->refs, 1);
	return a;
}

void ca_authority_unref(struct ca_authority *a)
{
	if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	for (size_t i = 0; a->chain_der != NULL && i < a->chain->n; i++)
		OPENSSL_free(a->chain_der[i]);
	free(a->chain_der);
	free(a->chain_der_len);
	hsm_signer_free(a->signer);
	ca_chain_free(a->chain);
	free(a);
}

void ca_authority_free(struct ca_authority *a)
{
	ca_authority_unref(a);
}

/*
 * The current authority of a server, which a reload swaps while requests
 * that started with the old one keep their reference (ca_int.h).
 */
void ca_authority_slot_init(struct ca_authority_slot *slot, struct ca_authority *a)
{
	pthread_mutex_init(&slot->lock, NULL);
	slot->a = a;
}

struct ca_authority *ca_authority_slot_get(struct ca_authority_slot *slot)
{
	struct ca_authority *a;

	pthread_mutex_lock(&slot->lock);
	a = ca_authority_ref(slot->a);
	pthread_mutex_unlock(&slot->lock);
	return a;
}

/* Swap in a (takes ownership); the old authority is released here and
 * freed when the last request holding it finishes. */
void ca_authority_slot_replace(struct ca_authority_slot *slot, struct ca_authority *a)
{
	struct ca_authority *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->a;
	slot->a = a;
	pthread_mutex_unlock(&slot->lock);
	ca_authority_unref(old);
}

/* Release the slot's reference (NULL is fine) and the slot. */
void ca_authority_slot_destroy(struct ca_authority_slot *slot)
{
	ca_authority_unref(slot->a);
	slot->a = NULL;
	pthread_mutex_destroy(&slot->lock);
}

const struct ca_chain *ca_authority_chain(const struct ca_authority *a)
{
	return a->chain;
}

struct hsm_signer *ca_authority_signer(const struct ca_authority *a)
{
	return a->signer;
}

void ca_issued_free(struct ca_issued *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->pem[i]);
	free(c->pem);
	free(c->serial_hex);
	free(c->scts);
	free(c);
}

static char *serial_hex(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char *res = fc_xstrdup(hex ? hex : "?");

	OPENSSL_free(hex);
	BN_free(bn);
	return res;
}

/* The answer for leaf: its PEM, then the chain's. */
/* The SHA-256 of the leaf's SubjectPublicKeyInfo as the certificate holds
 * it, in hex (the audit line's key hash). The X509_PUBKEY is encoded as it
 * is: i2d_PUBKEY of the EVP_PKEY would build an OpenSSL 3 encoder, a sixth
 * of an issuance's CPU. */
static void spki_sha256_hex(X509 *leaf, char out[2 * 32 + 1])
{
	unsigned char *der = NULL, md[32];
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);

	if (len <= 0 || SHA256(der, (size_t)len, md) == NULL) {
		ERR_clear_error();
		snprintf(out, 2 * 32 + 1, "unknown");
	} else {
		for (size_t i = 0; i < sizeof(md); i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
	OPENSSL_free(der);
}

static struct ca_issued *make_issued(const struct ca_authority *a, X509 *leaf)
{
	struct ca_issued *issued = fc_xcalloc(1, sizeof(*issued));

	issued->n = 1 + a->chain->n;
	issued->pem = fc_xcalloc(issued->n, sizeof(char *));
	issued->pem[0] = ca_cert_pem(leaf, true);
	for (size_t i = 0; i < a->chain->n; i++)
		issued->pem[i + 1] = ca_cert_pem(a->chain->certs[i], true);
	issued->serial_hex = serial_hex(leaf);
	spki_sha256_hex(leaf, issued->key_sha256);
	return issued;
}

/* --- without waiting for the signer ---------------------------------------------- */

/*
 * One certificate on its way: its signature is asked for without waiting
 * (hsm_sign_async: a signer process answers on its link's thread), and
 * with a CT log the precertificate is logged before the final certificate
 * is signed. Each step runs where the previous one completed.
 */
struct issue {
	struct ca_authority *a; /* a reference, released with the issue */
	X509 *cert;		/* the leaf, precertificate, then final certificate */
	unsigned char *tbs;	/* the TBS being signed (OPENSSL_free) */
	struct ct_client *ct;	/* NULL: no CT log */
	uint8_t *ct_tbs;	/* precert TBS without the poison (OPENSSL_malloc) */
	size_t ct_tbs_len;
	char *token_id;		    /* the identity token's id, for every signature */
	struct ca_issued_sct *scts; /* the SCTs embedded in the final certificate */
	size_t n_scts;
	ca_issue_done_fn done;
	ca_issue_gone_fn gone; /* NULL: never; asked before the final signature */
	void *arg;
};

static struct issue *issue_new(struct ca_authority *a, const struct oidc_identity *identity,
			       ca_issue_done_fn done, void *arg)
{
	struct issue *is = fc_xcalloc(1, sizeof(*is));

	is->a = ca_authority_ref(a);
	is->token_id = identity->token_id ? fc_xstrdup(identity->token_id) : NULL;
	is->done = done;
	is->arg = arg;
	return is;
}

static void issue_free(struct issue *is)
{
	if (is == NULL)
		return;
	ca_authority_unref(is->a);
	X509_free(is->cert);
	OPENSSL_free(is->tbs);
	OPENSSL_free(is->ct_tbs);
	free(is->token_id);
	free(is->scts);
	free(is);
}

/* The end: the answer (is->cert signed) or the failure, to done; is freed. */
static void issue_end(struct issue *is, enum fc_status st, const struct fc_err *err)
{
	ca_issue_done_fn done = is->done;
	void *arg = is->arg;
	struct ca_issued *issued = st == FC_OK ? make_issued(is->a, is->cert) : NULL;

	if (issued != NULL) {
		issued->scts = is->scts;
		issued->n_scts = is->n_scts;
		is->scts = NULL;
	}
	issue_free(is);
	done(arg, st, issued, err);
}

/* Ask for is->cert's signature as kind; next(is, ...) receives it. */
static void sign_then(struct issue *is, enum hsm_sign_kind kind, hsm_sign_done_fn next)
{
	struct hsm_sign_ctx ctx = {.kind = kind, .token_id = is->token_id};
	struct fc_err err = {0};
	size_t tbs_len = 0;
	enum fc_status st;

	OPENSSL_free(is->tbs);
	is->tbs = NULL;
	if ((st = ca_cert_sign_begin(is->cert, is->a->signer, &is->tbs, &tbs_len, &err)) != FC_OK) {
		issue_end(is, st, &err);
		return;
	}
	hsm_sign_async(is->a->signer, is->tbs, tbs_len, &ctx, next, is);
}

/* Install the signature the signer made: FC_OK, or the failure in err. */
static enum fc_status signed_in(struct issue *is, enum fc_status st, uint8_t *sig, size_t sig_len,
				const struct fc_err *serr, struct fc_err *err)
{
	if (st != FC_OK) {
		if (serr != NULL)
			*err = *serr;
		return st;
	}
	st = ca_cert_sign_finish(is->cert, sig, sig_len, err);
	free(sig);
	return st;
}

/* A certificate (no CT log, or the final one) is signed: the end. */
static void cert_signed(void *arg, enum fc_status st, uint8_t *sig, size_t sig_len,
			const struct fc_err *serr)
{
	struct issue *is = arg;
	struct fc_err err = {0};

	st = signed_in(is, st, sig, sig_len, serr, &err);
	issue_end(is, st, &err);
}

/* Build the leaf (or the precertificate) for identity and key, valid from
 * now, into is->cert. */
static enum fc_status build_leaf(struct issue *is, const struct oidc_identity *identity,
				 EVP_PKEY *key, int validity_s, bool precert, struct fc_err *err)
{
	struct ca_leaf_params p = {
		.identity = identity,
		.subject_key = key,
		.issuer = is->a->chain->certs[0],
		.not_before = fc_now(),
		.validity_s = validity_s,
		.precert = precert,
	};

	return ca_leaf_build(&p, &is->cert, err);
}

/*
 * Issue without a CT log, without waiting for the signature (ca_int.h):
 * the leaf is built here, done gets the answer once it is signed.
 */
enum fc_status ca_authority_issue_async(struct ca_authority *a,
					const struct oidc_identity *identity, EVP_PKEY *key,
					int validity_s, ca_issue_done_fn done, void *arg,
					struct fc_err *err)
{
	struct issue *is = issue_new(a, identity, done, arg);
	enum fc_status st;

	if ((st = build_leaf(is, identity, key, validity_s, false, err)) != FC_OK) {
		issue_free(is);
		return st;
	}
	sign_then(is, HSM_SIGN_CERT, cert_signed);
	return FC_OK;
}

/* --- with a CT log (RFC 6962 3.1, certificate-transparency.md A.1) -------------- */

/*
 * The final certificate: the precert with the SCT list extension
 * (1.3.6.1.4.1.11129.2.4.2, non-critical, RFC 6962 3.3) holding scts[0..n)
 * where the poison was, checked: its TBS minus the SCT list is the precert's TBS minus the
 * poison, byte for byte. The precertificate becomes the final certificate
 * in place (no copy, which OpenSSL 3.0 makes by re-parsing it).
 */
static enum fc_status make_final(struct issue *is, const struct ct_sct *scts, size_t n,
				 struct fc_err *err)
{
	X509 *final = is->cert;
	X509_EXTENSION *poison = NULL, *ext = NULL;
	ASN1_OCTET_STRING *os = NULL;
	struct fc_buf value;
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	enum fc_status st = FC_EINTERNAL;
	int idx;

	fc_buf_init(&value, 0);
	idx = X509_get_ext_by_NID(final, NID_ct_precert_poison, -1);
	if (idx < 0 || idx != X509_get_ext_count(final) - 1) {
		st = fc_err_set(err, FC_EINTERNAL,
				"ca: the precertificate's poison is not its last "
				"extension");
		goto out;
	}
	poison = X509_delete_ext(final, idx);
	if (ct_sct_list_ext_value(scts, n, &value) != FC_OK ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, value.data, (int)value.len) != 1 ||
	    (ext = X509_EXTENSION_create_by_NID(NULL, NID_ct_precert_scts, 0, os)) == NULL ||
	    X509_add_ext(final, ext, idx) != 1) {
		fc_log_ssl("ca: SCT list extension");
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot add the SCT list extension");
		goto out;
	}
	/* OpenSSL 3.0's X509_add_ext/X509_delete_ext keep the cached DER:
	 * mark it modified (i2d_re_X509_tbs) so that everything below encodes
	 * the new extensions. */
	if (i2d_re_X509_tbs(final, NULL) <= 0) {
		fc_log_ssl("ca: encode final TBSCertificate");
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot encode the final certificate");
		goto out;
	}
	/* RFC 6962 3.1: the logged TBS and the issued one must not differ
	 * but for the poison / SCT list. */
	if ((st = ca_cert_tbs_without(final, NID_ct_precert_scts, &tbs, &tbs_len, err)) != FC_OK)
		goto out;
	if (tbs_len != is->ct_tbs_len || memcmp(tbs, is->ct_tbs, tbs_len) != 0)
		st = fc_err_set(err, FC_EINTERNAL,
				"ca: RFC 6962 3.1: the final TBS without the SCT "
				"list differs from the logged precert TBS");
out:
	OPENSSL_free(tbs);
	ASN1_OCTET_STRING_free(os);
	X509_EXTENSION_free(ext);
	X509_EXTENSION_free(poison);
	fc_buf_free(&value);
	return st;
}

/* The leaf_index extension of sct (c2sp.org/static-ct-api: CtExtensions
 * holding Extension { uint8 type 0; opaque data<0..2^16-1> = uint40 }),
 * or -1 when it has none. */
static int64_t sct_leaf_index(const struct ct_sct *sct)
{
	struct fc_rd r;
	uint8_t type;
	const uint8_t *data;
	size_t n;

	fc_rd_init(&r, sct->extensions, sct->ext_len);
	while (fc_rd_u8(&r, &type) && fc_rd_vec(&r, 2, 0, 0xffff, &data, &n)) {
		if (type == 0 && n == 5) {
			struct fc_rd d;
			uint64_t index;
			fc_rd_init(&d, data, n);
			return fc_rd_uint(&d, 5, &index) ? (int64_t)index : -1;
		}
	}
	return -1;
}

/* Note which logs signed the SCTs embedded in is->cert, and their leaf
 * indexes (for the audit line; issue_end hands them to the answer). */
static void note_scts(struct issue *is, const struct ct_sct *scts, size_t n)
{
	is->scts = fc_xcalloc(n ? n : 1, sizeof(*is->scts));
	is->n_scts = n;
	for (size_t i = 0; i < n; i++) {
		memcpy(is->scts[i].log_id, scts[i].log_id, CT_LOG_ID_LEN);
		is->scts[i].leaf_index = sct_leaf_index(&scts[i]);
	}
}

/* The CT client's completion (on its I/O thread): the SCTs that met the
 * policy, or why there are not enough; then the final certificate is
 * signed, without waiting. */
static void ct_done(void *arg, enum fc_status st, const struct ct_sct *scts, size_t n,
		    const struct fc_err *cterr)
{
	struct issue *is = arg;
	struct fc_err err = {0};

	if (st != FC_OK) {
		err = *cterr;
		err.cls = FC_CLASS_CT_LOG;
		issue_end(is, st, &err);
		return;
	}
	if (is->gone != NULL && is->gone(is->arg))
		st = fc_err_set(&err, FC_EUNAVAIL, "the client went away before issuance");
	else
		st = make_final(is, scts, n, &err);
	if (st != FC_OK) {
		issue_end(is, st, &err);
		return;
	}
	note_scts(is, scts, n);
	sign_then(is, HSM_SIGN_CERT, cert_signed);
}

/* cert's NotAfter in seconds since the epoch (0 if unreadable): the CT
 * client submits it only to the logs whose shard takes it. */
static int64_t not_after_of(X509 *cert)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* The precertificate is signed: submit it with the chain to the log
 * (RFC 6962 4.1: precert, issuing CA, ..., root). */
static void precert_signed(void *arg, enum fc_status st, uint8_t *sig, size_t sig_len,
			   const struct fc_err *serr)
{
	struct issue *is = arg;
	struct ca_authority *a = is->a;
	const uint8_t *chain[CT_MAX_CHAIN];
	size_t chain_len[CT_MAX_CHAIN];
	struct ct_precert pc = {0};
	struct fc_err err = {0};
	unsigned char *der = NULL;
	int der_len = 0;

	if ((st = signed_in(is, st, sig, sig_len, serr, &err)) == FC_OK &&
	    (st = ca_cert_tbs_without(is->cert, NID_ct_precert_poison, &is->ct_tbs, &is->ct_tbs_len,
				      &err)) == FC_OK &&
	    (der_len = i2d_X509(is->cert, &der)) <= 0) {
		fc_log_ssl("ca: encode precertificate");
		st = fc_err_set(&err, FC_EINTERNAL, "ca: cannot encode the precertificate");
	}
	if (st != FC_OK) {
		issue_end(is, st, &err);
		return;
	}
	chain[0] = der;
	chain_len[0] = (size_t)der_len;
	for (size_t i = 0; i < a->chain->n; i++) {
		chain[i + 1] = a->chain_der[i];
		chain_len[i + 1] = a->chain_der_len[i];
	}
	pc.chain = chain;
	pc.chain_len = chain_len;
	pc.n = 1 + a->chain->n;
	pc.issuer_key_hash = a->issuer_key_hash;
	pc.tbs = is->ct_tbs;
	pc.tbs_len = is->ct_tbs_len;
	pc.not_after = not_after_of(is->cert);
	st = ct_client_submit_precert(is->ct, &pc, ct_done, is, &err);
	OPENSSL_free(der);
	if (st != FC_OK)
		issue_end(is, st, &err); /* the log's client refused it at once */
}

/*
 * Issue through ct (ca_int.h): the precert built here, its signature, the
 * submission and the final certificate each where the step before
 * completed.
 */
enum fc_status ca_authority_issue_ct(struct ca_authority *a, struct ct_client *ct,
				     const struct oidc_identity *identity, EVP_PKEY *key,
				     int validity_s, ca_issue_done_fn done, ca_issue_gone_fn gone,
				     void *arg, struct fc_err *err)
{
	struct issue *is;
	enum fc_status st;

	if (1 + a->chain->n > CT_MAX_CHAIN)
		return fc_err_set(err, FC_EINTERNAL, "ca: the chain is too long for a CT log");
	is = issue_new(a, identity, done, arg);
	is->ct = ct;
	is->gone = gone;
	if ((st = build_leaf(is, identity, key, validity_s, true, err)) != FC_OK) {
		issue_free(is);
		return st;
	}
	sign_then(is, HSM_SIGN_PRECERT, precert_signed);
	return FC_OK;
}
