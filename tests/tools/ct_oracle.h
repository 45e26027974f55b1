/*
 * Test-only: independent checks of a certificate with an embedded SCT,
 * through OpenSSL's own CT code (SCT_LIST_validate) rather than ours, and
 * the RFC 6962 3.1 byte-identity of final and precertificate TBS.
 * Included by tests/unit/test_ct.c and tests/tools/fake_ctlog.c.
 */
#ifndef FULCRUM_TEST_CT_ORACLE_H
#define FULCRUM_TEST_CT_ORACLE_H

#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* DER TBS of cert without extension nid (must be present exactly once). */
static unsigned char *oracle_tbs_without(X509 *cert, int nid, int *len)
{
	X509 *copy = X509_dup(cert);
	X509_EXTENSION *ext;
	unsigned char *tbs = NULL;
	int idx;

	*len = 0;
	if (copy == NULL)
		return NULL;
	idx = X509_get_ext_by_NID(copy, nid, -1);
	if (idx >= 0 && X509_get_ext_by_NID(copy, nid, idx) < 0) {
		ext = X509_delete_ext(copy, idx);
		X509_EXTENSION_free(ext);
		*len = i2d_re_X509_tbs(copy, &tbs);
	}
	X509_free(copy);
	return *len > 0 ? tbs : NULL;
}

/*
 * final has exactly one non-critical SCT list extension and no poison;
 * precert has a critical poison; and TBS(final) - SCT list ==
 * TBS(precert) - poison. Returns true, or false with why.
 */
static bool oracle_tbs_match(X509 *final, X509 *precert, char *why, size_t cap)
{
	unsigned char *a = NULL, *b = NULL;
	int alen = 0, blen = 0, idx;
	bool ok = false;

	if (X509_get_ext_by_NID(final, NID_ct_precert_poison, -1) >= 0) {
		snprintf(why, cap, "the final certificate has the poison");
		goto out;
	}
	idx = X509_get_ext_by_NID(final, NID_ct_precert_scts, -1);
	if (idx < 0 || X509_get_ext_by_NID(final, NID_ct_precert_scts, idx) >= 0 ||
	    X509_EXTENSION_get_critical(X509_get_ext(final, idx))) {
		snprintf(why, cap, "the final certificate needs exactly one non-critical SCT list");
		goto out;
	}
	idx = X509_get_ext_by_NID(precert, NID_ct_precert_poison, -1);
	if (idx < 0 || !X509_EXTENSION_get_critical(X509_get_ext(precert, idx))) {
		snprintf(why, cap, "the precertificate has no critical poison");
		goto out;
	}
	a = oracle_tbs_without(final, NID_ct_precert_scts, &alen);
	b = oracle_tbs_without(precert, NID_ct_precert_poison, &blen);
	if (a == NULL || b == NULL || alen != blen || memcmp(a, b, (size_t)alen) != 0) {
		snprintf(why, cap,
			 "TBS(final) - SCT list != TBS(precert) - poison (%d vs %d bytes)", alen,
			 blen);
		goto out;
	}
	ok = true;
out:
	OPENSSL_free(a);
	OPENSSL_free(b);
	return ok;
}

/* "key = <base64 SPKI>" line of an OpenSSL CT log file for key, into f. */
static bool oracle_log_line(FILE *f, size_t i, EVP_PKEY *key)
{
	unsigned char *spki = NULL, b64[4096];
	int len, outl = 0, total = 0;
	EVP_ENCODE_CTX *enc = EVP_ENCODE_CTX_new();
	bool ok = false;

	if (enc == NULL || (len = i2d_PUBKEY(key, &spki)) <= 0 || len > 2000)
		goto out;
	EVP_EncodeInit(enc);
	if (EVP_EncodeUpdate(enc, b64, &outl, spki, len) != 1)
		goto out;
	total = outl;
	EVP_EncodeFinal(enc, b64 + total, &outl);
	total += outl;
	b64[total] = '\0';
	for (char *p = (char *)b64, *q = (char *)b64;; p++) /* drop the line breaks */
		if (*p != '\n' && (*q++ = *p) == '\0')
			break;
	ok = fprintf(f, "[log%zu]\ndescription = test log %zu\nkey = %s\n", i, i, b64) > 0;
out:
	EVP_ENCODE_CTX_free(enc);
	OPENSSL_free(spki);
	return ok;
}

/* An OpenSSL CTLOG_STORE of the n keys (loaded from a temporary file:
 * OpenSSL 3.0 has no public call to add a log to a store). NULL on error. */
static CTLOG_STORE *oracle_store(EVP_PKEY *const *keys, size_t n)
{
	char path[] = "/tmp/fulcrum-ct-oracle-XXXXXX";
	CTLOG_STORE *store = NULL;
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	bool ok = f != NULL && fprintf(f, "enabled_logs = ") > 0;

	for (size_t i = 0; ok && i < n; i++)
		ok = fprintf(f, "%slog%zu", i ? "," : "", i) > 0;
	ok = ok && fprintf(f, "\n") > 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = oracle_log_line(f, i, keys[i]);
	if (f != NULL && fclose(f) != 0)
		ok = false;
	else if (f == NULL && fd >= 0)
		close(fd);
	if (ok &&
	    ((store = CTLOG_STORE_new()) == NULL || CTLOG_STORE_load_file(store, path) != 1)) {
		CTLOG_STORE_free(store);
		store = NULL;
	}
	if (fd >= 0)
		unlink(path);
	return store;
}

/*
 * OpenSSL's CT validation of leaf's embedded SCTs (issuer = leaf's issuing
 * CA, keys[0..n) = the trusted logs): exactly want SCTs, each
 * SCT_VALIDATION_STATUS_VALID; which[i] (may be NULL) receives the index
 * in keys of the log of SCT i. Returns true, or false with why.
 */
static bool oracle_openssl_validate_logs(X509 *leaf, X509 *issuer, EVP_PKEY *const *keys, size_t n,
					 int want, int *which, char *why, size_t cap)
{
	STACK_OF(SCT) *scts = X509_get_ext_d2i(leaf, NID_ct_precert_scts, NULL, NULL);
	CTLOG_STORE *store = NULL;
	CT_POLICY_EVAL_CTX *ctx = NULL;
	bool ok = false;

	if (scts == NULL || sk_SCT_num(scts) != want) {
		snprintf(why, cap, "d2i_SCT_LIST: want %d SCT(s), got %d", want,
			 scts ? sk_SCT_num(scts) : -1);
		goto out;
	}
	if ((store = oracle_store(keys, n)) == NULL || (ctx = CT_POLICY_EVAL_CTX_new()) == NULL ||
	    CT_POLICY_EVAL_CTX_set1_cert(ctx, leaf) != 1 ||
	    CT_POLICY_EVAL_CTX_set1_issuer(ctx, issuer) != 1) {
		snprintf(why, cap, "OpenSSL CT setup failed: %s",
			 ERR_reason_error_string(ERR_peek_error()));
		goto out;
	}
	CT_POLICY_EVAL_CTX_set_shared_CTLOG_STORE(ctx, store);
	CT_POLICY_EVAL_CTX_set_time(ctx, (uint64_t)time(NULL) * 1000 + 1000);
	if (SCT_LIST_validate(scts, ctx) != 1) {
		snprintf(why, cap, "SCT_LIST_validate refuses the list");
		goto out;
	}
	for (int i = 0; i < want; i++) {
		SCT *sct = sk_SCT_value(scts, i);
		unsigned char *id = NULL;
		size_t id_len = SCT_get0_log_id(sct, &id);

		if (SCT_get_validation_status(sct) != SCT_VALIDATION_STATUS_VALID) {
			snprintf(why, cap, "SCT %d: validation status %d (2 = valid)", i,
				 (int)SCT_get_validation_status(sct));
			goto out;
		}
		for (size_t k = 0; which != NULL && k < n; k++) {
			unsigned char *spki = NULL, h[32];
			int len = i2d_PUBKEY(keys[k], &spki);
			if (len > 0 &&
			    EVP_Digest(spki, (size_t)len, h, NULL, EVP_sha256(), NULL) == 1 &&
			    id_len == 32 && memcmp(h, id, 32) == 0)
				which[i] = (int)k;
			OPENSSL_free(spki);
		}
	}
	ok = true;
out:
	ERR_clear_error();
	CT_POLICY_EVAL_CTX_free(ctx);
	CTLOG_STORE_free(store);
	SCT_LIST_free(scts);
	return ok;
}

/* The same with one trusted log and exactly one SCT. */
static inline bool oracle_openssl_validate(X509 *leaf, X509 *issuer, EVP_PKEY *log_key, char *why,
					   size_t cap)
{
	return oracle_openssl_validate_logs(leaf, issuer, &log_key, 1, 1, NULL, why, cap);
}

#endif /* FULCRUM_TEST_CT_ORACLE_H */
