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
		snprintf(why, cap, "TBS(final) - SCT list != TBS(precert) - poison (%d vs %d bytes)",
			 alen, blen);
		goto out;
	}
	ok = true;
out:
	OPENSSL_free(a);
	OPENSSL_free(b);
	return ok;
}

/*
 * OpenSSL's CT validation of leaf's embedded SCTs (issuer = leaf's issuing
 * CA, log_key = the only trusted log): exactly one SCT, and it is
 * SCT_VALIDATION_STATUS_VALID. OpenSSL 3.0 has no public call to add a log
 * to a CTLOG_STORE, so the store is loaded from a small config file.
 */
static bool oracle_openssl_validate(X509 *leaf, X509 *issuer, EVP_PKEY *log_key, char *why,
				    size_t cap)
{
	STACK_OF(SCT) *scts = NULL;
	CTLOG_STORE *store = NULL;
	CT_POLICY_EVAL_CTX *ctx = NULL;
	unsigned char *spki = NULL;
	char path[] = "/tmp/fulcrum-ct-oracle-XXXXXX";
	int fd = -1, len;
	FILE *f = NULL;
	bool ok = false;
	EVP_ENCODE_CTX *enc = NULL;
	unsigned char b64[4096];
	int outl = 0, total = 0;

	scts = X509_get_ext_d2i(leaf, NID_ct_precert_scts, NULL, NULL);
	if (scts == NULL || sk_SCT_num(scts) != 1) {
		snprintf(why, cap, "d2i_SCT_LIST: want exactly one SCT, got %d",
			 scts ? sk_SCT_num(scts) : -1);
		goto out;
	}
	if ((len = i2d_PUBKEY(log_key, &spki)) <= 0 || len > 2000)
		goto fail_ssl;
	enc = EVP_ENCODE_CTX_new();
	EVP_EncodeInit(enc);
	if (EVP_EncodeUpdate(enc, b64, &outl, spki, len) != 1)
		goto fail_ssl;
	total = outl;
	EVP_EncodeFinal(enc, b64 + total, &outl);
	total += outl;
	b64[total] = '\0';
	for (char *p = (char *)b64, *q = (char *)b64;; p++) /* drop the line breaks */
		if (*p != '\n' && (*q++ = *p) == '\0')
			break;
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		goto fail_ssl;
	fd = -1;
	fprintf(f, "enabled_logs = testlog\n[testlog]\ndescription = test log\nkey = %s\n", b64);
	if (fclose(f) != 0) {
		f = NULL;
		goto fail_ssl;
	}
	f = NULL;
	if ((store = CTLOG_STORE_new()) == NULL || CTLOG_STORE_load_file(store, path) != 1 ||
	    (ctx = CT_POLICY_EVAL_CTX_new()) == NULL || CT_POLICY_EVAL_CTX_set1_cert(ctx, leaf) != 1 ||
	    CT_POLICY_EVAL_CTX_set1_issuer(ctx, issuer) != 1)
		goto fail_ssl;
	CT_POLICY_EVAL_CTX_set_shared_CTLOG_STORE(ctx, store);
	CT_POLICY_EVAL_CTX_set_time(ctx, (uint64_t)time(NULL) * 1000 + 1000);
	if (SCT_LIST_validate(scts, ctx) != 1 ||
	    SCT_get_validation_status(sk_SCT_value(scts, 0)) != SCT_VALIDATION_STATUS_VALID) {
		snprintf(why, cap, "SCT_LIST_validate: status %d (2 = valid)",
			 (int)SCT_get_validation_status(sk_SCT_value(scts, 0)));
		goto out;
	}
	ok = true;
	goto out;
fail_ssl:
	snprintf(why, cap, "OpenSSL CT setup failed: %s", ERR_reason_error_string(ERR_peek_error()));
out:
	ERR_clear_error();
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(path);
	EVP_ENCODE_CTX_free(enc);
	CT_POLICY_EVAL_CTX_free(ctx);
	CTLOG_STORE_free(store);
	OPENSSL_free(spki);
	SCT_LIST_free(scts);
	return ok;
}

#endif /* FULCRUM_TEST_CT_ORACLE_H */
