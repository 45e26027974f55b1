/*
 * The RFC 6962 2.1 Merkle tree: leaf and node hashes, the tree hash, and
 * inclusion and consistency proofs (generated as in RFC 6962 2.1.1-2.1.2,
 * verified as in RFC 9162 2.1.3.2 and 2.1.4.2). The log itself only needs
 * the hashes; proofs are here for the tests and for whoever reads the tiles.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctlog_srv_int.h"

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	if ((sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL)
		abort(); /* the default provider always has SHA-256 */
}

/* The SHA-256 digest, fetched once (ctlog_srv_int.h). */
const EVP_MD *ctlog_sha256_md(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

/* SHA-256 of p[0..len) with the digest fetched once (ctlog_srv_int.h). */
void ctlog_sha256(const void *p, size_t len, uint8_t out[CTLOG_HASH_LEN])
{
	if (EVP_Digest(p, len, out, NULL, ctlog_sha256_md(), NULL) != 1)
		abort(); /* SHA-256 cannot fail short of running out of memory */
}

/* SHA-256(0x00 || leaf) (RFC 6962 2.1). */
void ctlog_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[CTLOG_HASH_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	const uint8_t zero = 0x00;

	if (c == NULL || EVP_DigestInit_ex(c, ctlog_sha256_md(), NULL) != 1 ||
	    EVP_DigestUpdate(c, &zero, 1) != 1 || EVP_DigestUpdate(c, leaf, len) != 1 ||
	    EVP_DigestFinal_ex(c, out, NULL) != 1)
		abort(); /* SHA-256 cannot fail short of running out of memory */
	EVP_MD_CTX_free(c);
}

/* SHA-256(0x01 || left || right) (RFC 6962 2.1). */
void ctlog_node_hash(const uint8_t left[CTLOG_HASH_LEN], const uint8_t right[CTLOG_HASH_LEN],
		     uint8_t out[CTLOG_HASH_LEN])
{
	uint8_t buf[1 + 2 * CTLOG_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, CTLOG_HASH_LEN);
	memcpy(buf + 1 + CTLOG_HASH_LEN, right, CTLOG_HASH_LEN);
	ctlog_sha256(buf, sizeof(buf), out);
}

/* The largest power of two smaller than n (n > 1). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[n]) over leaf hashes (RFC 6962 2.1); MTH({}) = SHA-256(). */
void ctlog_mth(const ctlog_hash *h, uint64_t n, uint8_t out[CTLOG_HASH_LEN])
{
	uint8_t l[CTLOG_HASH_LEN], r[CTLOG_HASH_LEN];
	uint64_t k;

	if (n == 0) {
		ctlog_sha256("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, h[0], CTLOG_HASH_LEN);
		return;
	}
	k = split(n);
	ctlog_mth(h, k, l);
	ctlog_mth(h + k, n - k, r);
	ctlog_node_hash(l, r, out);
}

/* PATH(m, D[n]) (RFC 6962 2.1.1): returns the number of hashes. */
size_t ctlog_inclusion_proof(const ctlog_hash *h, uint64_t n, uint64_t m, ctlog_hash *proof)
{
	uint64_t k;
	size_t len;

	if (n <= 1 || m >= n)
		return 0;
	k = split(n);
	if (m < k) {
		len = ctlog_inclusion_proof(h, k, m, proof);
		ctlog_mth(h + k, n - k, proof[len]);
	} else {
		len = ctlog_inclusion_proof(h + k, n - k, m - k, proof);
		ctlog_mth(h, k, proof[len]);
	}
	return len + 1;
}

/* SUBPROOF(m, D[n], b) (RFC 6962 2.1.2). */
static size_t subproof(const ctlog_hash *h, uint64_t n, uint64_t m, bool b, ctlog_hash *proof)
{
	uint64_t k;
	size_t len;

	if (m == n) {
		if (b)
			return 0;
		ctlog_mth(h, n, proof[0]);
		return 1;
	}
	k = split(n);
	if (m <= k) {
		len = subproof(h, k, m, b, proof);
		ctlog_mth(h + k, n - k, proof[len]);
	} else {
		len = subproof(h + k, n - k, m - k, false, proof);
		ctlog_mth(h, k, proof[len]);
	}
	return len + 1;
}

/* PROOF(m, D[n]) (RFC 6962 2.1.2); empty when m is 0 or m >= n. */
size_t ctlog_consistency_proof(const ctlog_hash *h, uint64_t n, uint64_t m, ctlog_hash *proof)
{
	if (m == 0 || m >= n)
		return 0;
	return subproof(h, n, m, true, proof);
}

/*
 * One proof hash p on the way up to the root (RFC 9162 2.1.3.2 step 6,
 * 2.1.4.2 step 8): when fn is odd or fn == sn, p is a left sibling: fr
 * (if given) and sr become HASH(p || .), and fn and sn skip the levels
 * where fn is a left child; otherwise p is a right sibling of sr only.
 * Then both move up a level. False if sn is already 0 (proof too long).
 */
static bool climb(const uint8_t p[CTLOG_HASH_LEN], uint8_t *fr, uint8_t sr[CTLOG_HASH_LEN],
		  uint64_t *fn, uint64_t *sn)
{
	if (*sn == 0)
		return false;
	if ((*fn & 1) || *fn == *sn) {
		if (fr != NULL)
			ctlog_node_hash(p, fr, fr);
		ctlog_node_hash(p, sr, sr);
		while (!(*fn & 1) && *fn != 0) {
			*fn >>= 1;
			*sn >>= 1;
		}
	} else {
		ctlog_node_hash(sr, p, sr);
	}
	*fn >>= 1;
	*sn >>= 1;
	return true;
}

/* RFC 9162 2.1.3.2: verify an inclusion proof. */
bool ctlog_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[CTLOG_HASH_LEN],
			    const ctlog_hash *proof, size_t n, const uint8_t root[CTLOG_HASH_LEN])
{
	uint64_t fn = index, sn = size - 1;
	uint8_t r[CTLOG_HASH_LEN];

	if (index >= size)
		return false;
	memcpy(r, leaf, CTLOG_HASH_LEN);
	for (size_t i = 0; i < n; i++)
		if (!climb(proof[i], NULL, r, &fn, &sn))
			return false;
	return sn == 0 && memcmp(r, root, CTLOG_HASH_LEN) == 0;
}

/* RFC 9162 2.1.4.2: verify a consistency proof between sizes m <= n. */
bool ctlog_verify_consistency(uint64_t m, uint64_t n, const uint8_t root1[CTLOG_HASH_LEN],
			      const uint8_t root2[CTLOG_HASH_LEN], const ctlog_hash *proof,
			      size_t len)
{
	uint8_t fr[CTLOG_HASH_LEN], sr[CTLOG_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;

	if (m > n)
		return false;
	if (m == n)
		return len == 0 && memcmp(root1, root2, CTLOG_HASH_LEN) == 0;
	if (m == 0)
		return len == 0;
	if (len == 0)
		return false;
	/* If m is a power of two, the first tree's root is the first node. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root1, CTLOG_HASH_LEN);
		memcpy(sr, root1, CTLOG_HASH_LEN);
	} else {
		memcpy(fr, proof[0], CTLOG_HASH_LEN);
		memcpy(sr, proof[0], CTLOG_HASH_LEN);
		i = 1;
	}
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < len; i++)
		if (!climb(proof[i], fr, sr, &fn, &sn))
			return false;
	return sn == 0 && memcmp(fr, root1, CTLOG_HASH_LEN) == 0 &&
	       memcmp(sr, root2, CTLOG_HASH_LEN) == 0;
}
