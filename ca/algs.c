/*
 * The --client-signing-algorithms registry (sigstore's algorithm registry):
 * Fulcio's names, its defaults, and the check of a (key, hash) pair.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ca_int.h"

/* --- the algorithm registry --------------------------------------------------- */

static const struct alg_def {
	enum ca_alg alg;
	const char *name; /* Fulcio's flag value */
	enum ca_key_family kind;
	int param; /* RSA: modulus bits; EC: curve NID */
	int hash;  /* digest NID; NID_undef for pure Ed25519 */
} alg_defs[] = {
	{CA_ALG_ECDSA_P256_SHA256, "ecdsa-sha2-256-nistp256", CA_KEY_EC, NID_X9_62_prime256v1,
	 NID_sha256},
	{CA_ALG_ECDSA_P384_SHA384, "ecdsa-sha2-384-nistp384", CA_KEY_EC, NID_secp384r1, NID_sha384},
	{CA_ALG_ECDSA_P521_SHA512, "ecdsa-sha2-512-nistp521", CA_KEY_EC, NID_secp521r1, NID_sha512},
	{CA_ALG_ECDSA_P384_SHA256, "ecdsa-sha2-256-nistp384", CA_KEY_EC, NID_secp384r1, NID_sha256},
	{CA_ALG_ECDSA_P521_SHA256, "ecdsa-sha2-256-nistp521", CA_KEY_EC, NID_secp521r1, NID_sha256},
	{CA_ALG_RSA2048_PKCS1_SHA256, "rsa-sign-pkcs1-2048-sha256", CA_KEY_RSA, 2048, NID_sha256},
	{CA_ALG_RSA3072_PKCS1_SHA256, "rsa-sign-pkcs1-3072-sha256", CA_KEY_RSA, 3072, NID_sha256},
	{CA_ALG_RSA4096_PKCS1_SHA256, "rsa-sign-pkcs1-4096-sha256", CA_KEY_RSA, 4096, NID_sha256},
	/* sigstore's registry matches (key type and size, hash) only, so a
	 * PSS entry admits the same pairs as its PKCS#1 twin. */
	{CA_ALG_RSA2048_PSS_SHA256, "rsa-sign-pss-2048-sha256", CA_KEY_RSA, 2048, NID_sha256},
	{CA_ALG_RSA3072_PSS_SHA256, "rsa-sign-pss-3072-sha256", CA_KEY_RSA, 3072, NID_sha256},
	{CA_ALG_RSA4096_PSS_SHA256, "rsa-sign-pss-4096-sha256", CA_KEY_RSA, 4096, NID_sha256},
	{CA_ALG_ED25519, "ed25519", CA_KEY_ED25519, 0, NID_undef},
	/* Ed25519ph is (Ed25519, SHA-512): never the pair of a PoP (pure
	 * Ed25519) nor of a CSR (PureEd25519), as in Fulcio. */
	{CA_ALG_ED25519_PH, "ed25519-ph", CA_KEY_ED25519, 0, NID_sha512},
};
#define N_ALG_DEFS (sizeof(alg_defs) / sizeof(alg_defs[0]))

static uint32_t alg_bit(enum ca_alg a)
{
	return (uint32_t)1 << (unsigned)a;
}

/*
 * Fulcio's default --client-signing-algorithms (inventory 3.3): ECDSA
 * P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, RSA PKCS#1 v1.5 2048/3072/4096
 * with SHA-256, Ed25519.
 */
void ca_algs_default(struct ca_algs *a)
{
	a->bits = alg_bit(CA_ALG_ECDSA_P256_SHA256) | alg_bit(CA_ALG_ECDSA_P384_SHA384) |
		  alg_bit(CA_ALG_ECDSA_P521_SHA512) | alg_bit(CA_ALG_RSA2048_PKCS1_SHA256) |
		  alg_bit(CA_ALG_RSA3072_PKCS1_SHA256) | alg_bit(CA_ALG_RSA4096_PKCS1_SHA256) |
		  alg_bit(CA_ALG_ED25519);
}

/*
 * Parse a comma-separated list of Fulcio algorithm names (the
 * --client-signing-algorithms flag); whitespace around a name is ignored.
 * Returns FC_OK and sets *out, else FC_ECONFIG with the reason in err (an
 * empty list, an empty name, an unknown name); *out is untouched then.
 */
enum fc_status ca_algs_parse(const char *list, struct ca_algs *out, struct fc_err *err)
{
	uint32_t bits = 0;
	const char *p = list;
	int pos = 0;

	if (list == NULL)
		return fc_err_set(err, FC_ECONFIG,
				  "--client-signing-algorithms: the list is empty");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		size_t i;

		pos++;
		while (n > 0 && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		if (n == 0) {
			if (end == NULL && pos == 1)
				return fc_err_set(err, FC_ECONFIG,
						  "--client-signing-algorithms: the list is empty");
			return fc_err_set(err, FC_ECONFIG,
					  "--client-signing-algorithms: name %d is empty", pos);
		}
		for (i = 0; i < N_ALG_DEFS; i++) {
			if (strlen(alg_defs[i].name) == n && memcmp(alg_defs[i].name, s, n) == 0)
				break;
		}
		if (i == N_ALG_DEFS) {
			char known[400];
			size_t used = 0;

			known[0] = '\0';
			for (size_t k = 0; k < N_ALG_DEFS && used < sizeof(known); k++) {
				int w = snprintf(known + used, sizeof(known) - used, "%s%s",
						 k ? ", " : "", alg_defs[k].name);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			return fc_err_set(err, FC_ECONFIG,
					  "--client-signing-algorithms: unknown signing algorithm "
					  "\"%.*s\" (known: %s)",
					  (int)(n > 64 ? 64 : n), s, known);
		}
		bits |= alg_bit(alg_defs[i].alg);
		if (end == NULL)
			break;
		p = end + 1;
	}
	out->bits = bits;
	return FC_OK;
}

/*
 * The registry check (sigstore IsAlgorithmPermitted): is (key, hash) the
 * pair of an algorithm in algs? FC_EINPUT "signing algorithm not permitted"
 * otherwise.
 */
enum fc_status ca_algs_check(const struct ca_key_info *ki, int hash, const struct ca_algs *algs,
			     struct fc_err *err)
{
	const char *name = NULL;
	int param = ki->kind == CA_KEY_RSA ? ki->bits : ki->kind == CA_KEY_EC ? ki->curve_nid : 0;

	for (size_t i = 0; i < N_ALG_DEFS; i++) {
		const struct alg_def *d = &alg_defs[i];
		if (d->kind != ki->kind || d->param != param || d->hash != hash)
			continue;
		if (algs->bits & alg_bit(d->alg))
			return FC_OK;
		if (name == NULL)
			name = d->name;
	}
	if (name != NULL)
		return fc_err_set_class(
			err, FC_CLASS_ALG_REFUSED, FC_EINPUT,
			CA_PFX_ALG_REFUSED "%s, %s (%s with %s: %s is not enabled in "
					   "--client-signing-algorithms)",
			ca_go_key_type(ki), ca_go_hash_name(hash), ki->desc,
			hash == NID_undef ? "no prehash" : ca_go_hash_name(hash), name);
	return fc_err_set_class(err, FC_CLASS_ALG_REFUSED, FC_EINPUT,
				CA_PFX_ALG_REFUSED
				"%s, %s (no signing algorithm covers %s with %s)",
				ca_go_key_type(ki), ca_go_hash_name(hash), ki->desc,
				hash == NID_undef ? "no prehash" : ca_go_hash_name(hash));
}
