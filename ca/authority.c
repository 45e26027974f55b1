/*
 * A certificate authority: one signer and the chain it issues under. Held by
 * reference so that a reload (SIGHUP) can swap it while requests that
 * started with the old one finish with it.
 */
#include <openssl/bn.h>
#include <stdatomic.h>
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
		return fc_err_set(err, FC_ECONFIG, "ca: a signer and a non-empty chain are required");
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
			return fc_err_set(err, FC_ECONFIG, "ca: chain certificate %zu cannot be "
							   "encoded", i);
		}
		a->chain_der[i] = der;
		a->chain_der_len[i] = (size_t)n;
	}
	if (ct_key_hash(X509_get0_pubkey(chain->certs[0]), a->issuer_key_hash) != FC_OK) {
		ca_authority_unref(a);
		return fc_err_set(err, FC_ECONFIG, "ca: the issuing certificate's key cannot be "
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
static struct ca_issued *make_issued(const struct ca_authority *a, X509 *leaf)
{
	struct ca_issued *issued = fc_xcalloc(1, sizeof(*issued));

	issued->n = 1 + a->chain->n;
	issued->pem = fc_xcalloc(issued->n, sizeof(char *));
	issued->pem[0] = ca_cert_pem(leaf, true);
	for (size_t i = 0; i < a->chain->n; i++)
		issued->pem[i + 1] = ca_cert_pem(a->chain->certs[i], true);
	issued->serial_hex = serial_hex(leaf);
	return issued;
}

/* Build the leaf (or the precertificate) for identity and key, valid
 * from now, and sign it with the CA key. *out on success. */
static enum fc_status build_signed(struct ca_authority *a, const struct oidc_identity *identity,
				   EVP_PKEY *key, int validity_s, bool precert, X509 **out,
				   struct fc_err *err)
{
	struct ca_leaf_params p = {
		.identity = identity,
		.subject_key = key,
		.issuer = a->chain->certs[0],
		.not_before = fc_now(),
		.validity_s = validity_s,
		.precert = precert,
	};
	X509 *x = NULL;
	enum fc_status st;

	if ((st = ca_leaf_build(&p, &x, err)) != FC_OK)
		return st;
	if ((st = ca_cert_sign(x, a->signer, err)) != FC_OK) {
		X509_free(x);
		return st;
	}
	*out = x;
	return FC_OK;
}

/*
 * Issue one certificate (see ca_int.h). Without a CT log the leaf is built
 * once and signed once.
 */
enum fc_status ca_authority_issue(struct ca_authority *a, const struct oidc_identity *identity,
				  EVP_PKEY *key, int validity_s, struct ca_issued **out,
				  struct fc_err *err)
{
	struct ca_issued *issued = NULL;
	X509 *leaf = NULL;
	enum fc_status st;

	if ((st = build_signed(a, identity, key, validity_s, false, &leaf, err)) != FC_OK)
		goto out;
	issued = make_issued(a, leaf);
	*out = issued;
	issued = NULL;
	st = FC_OK;
out:
	ca_issued_free(issued);
	X509_free(leaf);
	return st;
}

/* --- with a CT log (RFC 6962 3.1, certificate-transparency.md A.1) -------------- */

/* One precertificate waiting for its SCT. */
struct ct_issue {
	struct ca_authority *a;   /* a reference, released in ct_done */
	X509 *precert;            /* signed, with the poison last */
	uint8_t *tbs;             /* precert TBS without the poison (OPENSSL_malloc) */
	size_t tbs_len;
	ca_issue_done_fn done;
	ca_issue_gone_fn gone;
	void *arg;
};

static void ct_issue_free(struct ct_issue *ci)
{
	if (ci == NULL)
		return;
	ca_authority_unref(ci->a);
	X509_free(ci->precert);
	OPENSSL_free(ci->tbs);
	free(ci);
}

/*
 * The final certificate: the precert with the SCT list extension
 * (1.3.6.1.4.1.11129.2.4.2, non-critical, RFC 6962 3.3) holding scts[0..n)
 * where the poison was, then checked (its TBS minus the SCT list is the precert's TBS minus
 * the poison, byte for byte) and signed by the same key. *out on success.
 */
static enum fc_status make_final(struct ct_issue *ci, const struct ct_sct *scts, size_t n,
				 X509 **out, struct fc_err *err)
{
	X509 *final = NULL;
	X509_EXTENSION *poison = NULL, *ext = NULL;
	ASN1_OCTET_STRING *os = NULL;
	struct fc_buf value;
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	enum fc_status st = FC_EINTERNAL;
	int idx;

	fc_buf_init(&value, 0);
	/* The precertificate has been logged: it becomes the final certificate
	 * (no copy, which OpenSSL 3.0 makes by re-parsing it). */
	final = ci->precert;
	ci->precert = NULL;
	idx = X509_get_ext_by_NID(final, NID_ct_precert_poison, -1);
	if (idx < 0 || idx != X509_get_ext_count(final) - 1) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: the precertificate's poison is not its last "
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
	if (tbs_len != ci->tbs_len || memcmp(tbs, ci->tbs, tbs_len) != 0) {
		st = fc_err_set(err, FC_EINTERNAL, "ca: RFC 6962 3.1: the final TBS without the SCT "
						   "list differs from the logged precert TBS");
		goto out;
	}
	if ((st = ca_cert_sign(final, ci->a->signer, err)) != FC_OK)
		goto out;
	*out = final;
	final = NULL;
	st = FC_OK;
out:
	OPENSSL_free(tbs);
	ASN1_OCTET_STRING_free(os);
	X509_EXTENSION_free(ext);
	X509_EXTENSION_free(poison);
	fc_buf_free(&value);
	X509_free(final);
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

/* Note which logs signed the SCTs in issued (for the audit line). */
static void note_scts(struct ca_issued *issued, const struct ct_sct *scts, size_t n)
{
	issued->scts = fc_xcalloc(n ? n : 1, sizeof(*issued->scts));
	issued->n_scts = n;
	for (size_t i = 0; i < n; i++) {
		memcpy(issued->scts[i].log_id, scts[i].log_id, CT_LOG_ID_LEN);
		issued->scts[i].leaf_index = sct_leaf_index(&scts[i]);
	}
}

/* The CT client's completion (on its I/O thread): the SCTs that met the
 * policy, or why there are not enough. */
static void ct_done(void *arg, enum fc_status st, const struct ct_sct *scts, size_t n,
		    const struct fc_err *cterr)
{
	struct ct_issue *ci = arg;
	ca_issue_done_fn done = ci->done;
	void *done_arg = ci->arg;
	struct ca_issued *issued = NULL;
	struct fc_err err = {0};
	X509 *final = NULL;

	if (st != FC_OK) {
		err = *cterr;
		err.cls = FC_CLASS_CT_LOG;
		ct_issue_free(ci);
		done(done_arg, st, NULL, &err);
		return;
	}
	if (ci->gone != NULL && ci->gone(done_arg))
		st = fc_err_set(&err, FC_EUNAVAIL, "the client went away before issuance");
	else
		st = make_final(ci, scts, n, &final, &err);
	if (st == FC_OK) {
		issued = make_issued(ci->a, final);
		note_scts(issued, scts, n);
	}
	X509_free(final);
	ct_issue_free(ci);
	done(done_arg, st, issued, &err);
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

/*
 * Issue through ct (ca_int.h): precert built and signed here, on the
 * caller's thread; the rest happens in ct_done, with the SCTs of every
 * log that answered until the policy was met.
 */
enum fc_status ca_authority_issue_ct(struct ca_authority *a, struct ct_client *ct,
				     const struct oidc_identity *identity, EVP_PKEY *key,
				     int validity_s, ca_issue_done_fn done, ca_issue_gone_fn gone,
				     void *arg, struct fc_err *err)
{
	const uint8_t *chain[CT_MAX_CHAIN];
	size_t chain_len[CT_MAX_CHAIN];
	struct ct_issue *ci = NULL;
	unsigned char *der = NULL;
	int der_len;
	struct ct_precert pc = {0};
	enum fc_status st;

	if (1 + a->chain->n > CT_MAX_CHAIN)
		return fc_err_set(err, FC_EINTERNAL, "ca: the chain is too long for a CT log");
	ci = fc_xcalloc(1, sizeof(*ci));
	ci->a = ca_authority_ref(a);
	ci->done = done;
	ci->gone = gone;
	ci->arg = arg;
	if ((st = build_signed(a, identity, key, validity_s, true, &ci->precert, err)) != FC_OK)
		goto fail;
	if ((st = ca_cert_tbs_without(ci->precert, NID_ct_precert_poison, &ci->tbs, &ci->tbs_len,
				      err)) != FC_OK)
		goto fail;
	if ((der_len = i2d_X509(ci->precert, &der)) <= 0) {
		fc_log_ssl("ca: encode precertificate");
		st = fc_err_set(err, FC_EINTERNAL, "ca: cannot encode the precertificate");
		goto fail;
	}
	/* RFC 6962 4.1: precert, issuing CA, ..., root. */
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
	pc.tbs = ci->tbs;
	pc.tbs_len = ci->tbs_len;
	pc.not_after = not_after_of(ci->precert);
	st = ct_client_submit_precert(ct, &pc, ct_done, ci, err);
	OPENSSL_free(der);
	if (st != FC_OK)
		goto fail;
	return FC_OK; /* ci now belongs to ct_done */
fail:
	ct_issue_free(ci);
	return st;
}
