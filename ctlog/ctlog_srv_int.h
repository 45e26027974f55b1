/*
 * ctlog (log server): helpers shared by the files of the log server and its
 * unit tests only; no other folder includes this header. The RFC 6962 wire
 * format (SCTs, signed data, DigitallySigned) comes from ct/'s public
 * header ct.h, which is also what the CA's CT client is built on.
 */
#ifndef FULCRUM_CTLOG_SRV_INT_H
#define FULCRUM_CTLOG_SRV_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdatomic.h>

#include "ct.h"
#include "ctlog.h"

#define CTLOG_HASH_LEN 32
#define CTLOG_TILE_WIDTH 256
/* Levels 0..5 (c2sp.org/static-ct-api): 256^6 = 2^48 leaves, more than a
 * 40-bit leaf_index can name. */
#define CTLOG_TILE_LEVELS 6
#define CTLOG_MAX_LEAF_INDEX ((UINT64_C(1) << 40) - 1)
/* The longest proof for a tree of at most 2^48 leaves. */
#define CTLOG_MAX_PROOF 64
/* A stored entry (TileLeaf) and a stored data tile. */
#define CTLOG_MAX_TILE_LEAF (CTLOG_SRV_MAX_CHAIN * 32 + 2 * CTLOG_SRV_MAX_CERT + 128)
#define CTLOG_MAX_FILE (CTLOG_TILE_WIDTH * (size_t)CTLOG_MAX_TILE_LEAF)
/* LeafIndex extension: type 0, length 5, 40-bit index. */
#define CTLOG_EXT_LEN 8
/* How long the integrator waits for a signer process that is being
 * restarted before a checkpoint's signature counts as failed. */
#define CTLOG_SIGNER_WAIT_MS 10000

typedef uint8_t ctlog_hash[CTLOG_HASH_LEN];

/* --- merkle.c: RFC 6962 2.1 Merkle tree hashing --------------------------- */

/* SHA-256(0x00 || leaf): the leaf hash of a MerkleTreeLeaf (RFC 6962 2.1). */
void ctlog_leaf_hash(const uint8_t *leaf, size_t len, uint8_t out[CTLOG_HASH_LEN]);
/* SHA-256(0x01 || left || right). */
void ctlog_node_hash(const uint8_t left[CTLOG_HASH_LEN], const uint8_t right[CTLOG_HASH_LEN],
		     uint8_t out[CTLOG_HASH_LEN]);
/* MTH over n already-hashed leaves (n = 0 gives SHA-256 of nothing). */
void ctlog_mth(const ctlog_hash *h, uint64_t n, uint8_t out[CTLOG_HASH_LEN]);
/* RFC 6962 2.1.1 PATH(m, D[n]) and 2.1.2 PROOF(m, D[n]) over n leaf hashes;
 * return the number of hashes written to proof (at most CTLOG_MAX_PROOF). */
size_t ctlog_inclusion_proof(const ctlog_hash *h, uint64_t n, uint64_t m, ctlog_hash *proof);
size_t ctlog_consistency_proof(const ctlog_hash *h, uint64_t n, uint64_t m, ctlog_hash *proof);
/* RFC 9162 2.1.3.2 and 2.1.4.2 verification. */
bool ctlog_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[CTLOG_HASH_LEN],
			    const ctlog_hash *proof, size_t n, const uint8_t root[CTLOG_HASH_LEN]);
bool ctlog_verify_consistency(uint64_t m, uint64_t n, const uint8_t root1[CTLOG_HASH_LEN],
			      const uint8_t root2[CTLOG_HASH_LEN], const ctlog_hash *proof,
			      size_t len);

/* SHA-256 of p[0..len) with a digest fetched once (OpenSSL 3.0's SHA256()
 * and EVP_sha256() look the algorithm up again at every call, which cost
 * the log more than the hashing itself), and that digest for multi-part
 * hashing. */
void ctlog_sha256(const void *p, size_t len, uint8_t out[CTLOG_HASH_LEN]);
const EVP_MD *ctlog_sha256_md(void);

/* --- body.c: the add-(pre-)chain body ------------------------------------- */

/* The chain of a body, as views of its base64 strings (s[i] NULL for an
 * element that is not a string); doc owns them. */
struct ctlog_chain_body {
	const char *s[CTLOG_SRV_MAX_CHAIN];
	size_t len[CTLOG_SRV_MAX_CHAIN];
	size_t n;
	json_t *doc;
};

/* Read {"chain": [...]} (RFC 6962 4.1): 1 to CTLOG_SRV_MAX_CHAIN elements.
 * FC_EINPUT with the reason; clear *out with ctlog_body_clear either way. */
enum fc_status ctlog_body_parse(const uint8_t *body, size_t len, struct ctlog_chain_body *out,
				struct fc_err *err);
void ctlog_body_clear(struct ctlog_chain_body *b);

/* --- tiles.c: the tree as tiles (c2sp.org/tlog-tiles, static-ct-api) ------ */

/*
 * The right edge of the tree: for each level, the hashes of the partial
 * tile at the current size ((size / 256^l) mod 256 of them). That is all
 * that is needed to extend the tree, write its tiles and compute its root.
 */
struct ctlog_tree {
	uint64_t size;
	ctlog_hash lvl[CTLOG_TILE_LEVELS][CTLOG_TILE_WIDTH];
};

/* Width of the partial tile at level (-1 = data, same as 0) for size. */
unsigned ctlog_tile_width(uint64_t size, int level);
/* Index of the partial tile at level for size. */
uint64_t ctlog_tile_index(uint64_t size, int level);

/* Called when the tile (level, n) becomes full; hashes holds its 256. */
typedef enum fc_status (*ctlog_full_tile_fn)(void *ctx, int level, uint64_t n,
					     const ctlog_hash *hashes);
/* Add one leaf hash; full tiles are reported to fn (may be NULL). */
enum fc_status ctlog_tree_append(struct ctlog_tree *t, const uint8_t leaf[CTLOG_HASH_LEN],
				 ctlog_full_tile_fn fn, void *ctx);
/* The Merkle Tree Hash of the tree. */
void ctlog_tree_root(const struct ctlog_tree *t, uint8_t out[CTLOG_HASH_LEN]);

/*
 * The path of a tile relative to the monitoring prefix: "tile/<L>/<N>" or
 * "tile/data/<N>" (level -1), N in 3-digit groups all but the last with an
 * "x" ("x001/x234/067"), plus ".p/<W>" when 0 < w < 256. Caller frees.
 */
char *ctlog_tile_path(int level, uint64_t n, unsigned w);
/* Parse such a path (no leading '/'); exactly the canonical form. */
bool ctlog_tile_path_parse(const char *path, int *level, uint64_t *n, unsigned *w);

/* --- chains.c: verified issuer chains, cached ----------------------------- */

/*
 * What the part of a submitted chain after the leaf amounts to once it has
 * been verified up to an accepted root. Shared by reference and never
 * changed once it is in a cache.
 */
struct ctlog_issuers {
	atomic_uint refs;
	X509 *first;		   /* the leaf's issuer: chain[1] (or the root) */
	bool first_signs_precerts; /* it carries the RFC 6962 3.1 precert signing EKU */
	uint8_t first_key_hash[CTLOG_HASH_LEN]; /* SHA-256 of its SubjectPublicKeyInfo */
	/* When first is a Precertificate Signing Certificate (RFC 6962 3.1):
	 * whether the CA that issued it (the final issuer, ders[1]) is known,
	 * and the SHA-256 of that CA's SubjectPublicKeyInfo (3.2). */
	bool has_final_issuer;
	uint8_t final_key_hash[CTLOG_HASH_LEN];
	/* first's key ready to verify leaves signed with SHA-256, -384, -512
	 * (copied for each use; NULL: the general path) and those digests */
	EVP_PKEY_CTX *vctx[3];
	EVP_MD *vmd[3];
	size_t n; /* chain[1..], then the root if it was not sent */
	uint8_t **ders;
	size_t *lens;
	ctlog_hash *fps; /* SHA-256 of each DER */
};

struct ctlog_issuers *ctlog_issuers_new(void); /* one reference, nothing in it */
void ctlog_issuers_add(struct ctlog_issuers *c, const uint8_t *der, size_t len);
void ctlog_issuers_unref(struct ctlog_issuers *c);

/* A thread-safe map from a 32-byte key to verified issuer chains, holding
 * at most cap of them (the oldest makes room). */
struct ctlog_chain_cache;
struct ctlog_chain_cache *ctlog_chain_cache_new(size_t cap);
void ctlog_chain_cache_free(struct ctlog_chain_cache *k);
/* A new reference to the chain stored under key, or NULL. */
struct ctlog_issuers *ctlog_chain_cache_get(struct ctlog_chain_cache *k,
					    const uint8_t key[CTLOG_HASH_LEN]);
/* Store c under key (the cache takes a reference of its own). */
void ctlog_chain_cache_put(struct ctlog_chain_cache *k, const uint8_t key[CTLOG_HASH_LEN],
			   struct ctlog_issuers *c);

/* --- entry.c: chains, entries (RFC 6962 3, static-ct-api TileLeaf) -------- */

struct ctlog_roots;

/* The accepted roots: every certificate of a PEM file (ctlog_roots_load)
 * or text (ctlog_roots_parse; name is for messages), at least one and at
 * most CTLOG_SRV_MAX_ROOTS. FC_ECONFIG with the reason in err. */
enum fc_status ctlog_roots_load(const char *path, struct ctlog_roots **out, struct fc_err *err);
enum fc_status ctlog_roots_parse(const char *pem, size_t pem_len, const char *name,
				 struct ctlog_roots **out, struct fc_err *err);
void ctlog_roots_free(struct ctlog_roots *r);
size_t ctlog_roots_count(const struct ctlog_roots *r);
/* The get-roots JSON (RFC 6962 4.7), built once. */
const char *ctlog_roots_json(const struct ctlog_roots *r, size_t *len);

struct ctlog_policy {
	unsigned eku_mask;
	bool has_not_after_start;
	int64_t not_after_start;
	bool has_not_after_limit;
	int64_t not_after_limit;
};

/* A checked submission, before it has an index. */
struct ctlog_entry {
	bool precert;
	uint8_t key[CTLOG_HASH_LEN]; /* dedupe key: SHA-256(entry_type || signed_entry) */
	struct fc_buf signed_entry;  /* x509: ASN.1Cert<1..2^24-1>; precert: PreCert */
	uint8_t issuer_key_hash[CTLOG_HASH_LEN]; /* precert only */
	uint8_t *tbs;				 /* precert: TBSCertificate without the poison */
	size_t tbs_len;
	uint8_t *cert; /* the submitted certificate or precertificate */
	size_t cert_len;
	struct ctlog_issuers *chain; /* its verified issuers (a reference; read-only) */
	/* chain[1..] plus the root if it was not sent: views of chain's arrays */
	size_t n_issuers;
	uint8_t *const *issuers; /* DER of each */
	const size_t *issuer_lens;
	const ctlog_hash *fps; /* SHA-256 of each */
};

/*
 * Check an add-chain (precert false) or add-pre-chain body (RFC 6962 4.1,
 * 4.2): JSON {"chain": [base64 DER...]}, each certificate signed by the
 * next, the last one a root or signed by one, the leaf a precertificate
 * (critical poison with a NULL value) exactly when precert is true, and
 * the policy filters. A precertificate may be signed by a Precertificate
 * Signing Certificate (RFC 6962 3.1: chain[1] with EKU
 * 1.3.6.1.4.1.11129.2.4.4, issued by the final issuer that follows it):
 * the entry then names the final issuer's key hash, and its TBS the final
 * issuer's name and the signing certificate's AuthorityKeyIdentifier
 * (3.2). FC_EINPUT / FC_ETOOBIG with the reason in err. Free *out with
 * ctlog_entry_free.
 */
enum fc_status ctlog_entry_from_chain(const struct ctlog_roots *roots,
				      const struct ctlog_policy *pol, bool precert,
				      const uint8_t *body, size_t len, struct ctlog_entry **out,
				      struct fc_err *err);
void ctlog_entry_free(struct ctlog_entry *e);

/* TimestampedEntry (RFC 6962 3.4) with the leaf_index extension, built
 * with ct/sct.c's ct_signed_data_*. */
enum fc_status ctlog_timestamped_entry(const struct ctlog_entry *e, uint64_t ts_ms, uint64_t index,
				       struct fc_buf *te);
/* TileLeaf (static-ct-api): te || [pre_certificate] || fingerprints;
 * false if a length is over its TLS bound. */
bool ctlog_tile_leaf(const struct ctlog_entry *e, const uint8_t *te, size_t te_len,
		     struct fc_buf *leaf);
/* The RFC 6962 3.2 SCT signature input for te: 0x00 0x00 || te. It is
 * also the MerkleTreeLeaf, so the leaf hash is ctlog_leaf_hash of it. */
void ctlog_sct_input(const uint8_t *te, size_t te_len, struct fc_buf *out);

/* --- checkpoint.c: the signed tree head as a note ------------------------- */

/* The RFC 6962 note key ID: SHA-256(origin || 0x0A || 0x05 || log_id)[:4]. */
uint32_t ctlog_note_key_id(const char *origin, const uint8_t log_id[CTLOG_HASH_LEN]);

/* Sign a checkpoint (c2sp.org/tlog-checkpoint, static-ct-api
 * RFC6962NoteSignature); *note (caller frees) is the whole file. */
enum fc_status ctlog_checkpoint_sign(struct hsm_signer *signer, const char *origin,
				     const uint8_t log_id[CTLOG_HASH_LEN], uint64_t size,
				     const uint8_t root[CTLOG_HASH_LEN], uint64_t ts_ms,
				     char **note, size_t *note_len, struct fc_err *err);
/* Parse a checkpoint and verify the log's signature line with pub. */
enum fc_status ctlog_checkpoint_verify(const char *note, size_t len, const char *origin,
				       EVP_PKEY *pub, const uint8_t log_id[CTLOG_HASH_LEN],
				       uint64_t *size, uint8_t root[CTLOG_HASH_LEN],
				       uint64_t *ts_ms, struct fc_err *err);

/* --- store.c: files, the entry log, the dedupe table ----------------------- */

/* A set of files to publish together: written to temporary files, synced
 * (syncfs), renamed into place, synced again. */
struct ctlog_fileset {
	char **paths; /* relative to the storage directory */
	uint8_t **data;
	size_t *lens;
	size_t n;
};
void ctlog_fileset_add(struct ctlog_fileset *fs, char *path, const void *data, size_t len);
enum fc_status ctlog_fileset_commit(const char *dir, struct ctlog_fileset *fs, struct fc_err *err);
void ctlog_fileset_clear(struct ctlog_fileset *fs);

/* Hash table from a 32-byte key to a 64-bit value (linear probing). */
struct ctlog_map {
	ctlog_hash *keys;
	uint64_t *vals;
	size_t cap; /* power of two, or 0 */
	size_t n;
};
bool ctlog_map_get(const struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN], uint64_t *val);
void ctlog_map_put(struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN], uint64_t val);
void ctlog_map_del(struct ctlog_map *m, const uint8_t key[CTLOG_HASH_LEN]);
void ctlog_map_free(struct ctlog_map *m);

/*
 * The entry log: the durable record of every sequenced entry, appended
 * one batch at a time (one write, one fdatasync). A batch is
 *   magic "FCTLOG01" | first_index u64 | count u32 | payload_len u32 |
 *   SHA-256(payload) | payload
 * and the payload is count records
 *   key[32] | te_len u32 | leaf_len u32 | sig_len u16 | leaf | sct_sig
 * where leaf is the TileLeaf, te_len the length of its TimestampedEntry
 * prefix and sct_sig the SCT's DigitallySigned.
 */
#define CTLOG_ELOG_MAGIC "FCTLOG01"
#define CTLOG_ELOG_HDR 56
#define CTLOG_ELOG_REC_HDR 42

struct ctlog_record {
	uint64_t index;
	uint64_t offset;     /* of the record in the file */
	uint64_t timestamp;  /* of the TimestampedEntry (ms): the SCT's */
	uint64_t leaf_index; /* from its extension */
	const uint8_t *key;
	const uint8_t *leaf;
	size_t leaf_len, te_len;
	const uint8_t *sig;
	size_t sig_len;
};

struct ctlog_elog {
	int fd;
	uint64_t end;	/* bytes of whole batches */
	uint64_t count; /* entries */
};

typedef enum fc_status (*ctlog_record_fn)(void *ctx, const struct ctlog_record *r,
					  struct fc_err *err);
/*
 * Open (creating) the entry log and read it through, calling fn for each
 * record. A torn last batch (crash while appending: never acknowledged) is
 * cut off with a notice, unless it holds entries below published (the
 * size of the last checkpoint); any other damage is FC_EIO with the reason.
 */
enum fc_status ctlog_elog_open(const char *path, uint64_t published, ctlog_record_fn fn, void *ctx,
			       struct ctlog_elog *out, struct fc_err *err);
/* Append one batch (payload built with ctlog_elog_add_record, which is
 * false if a length does not fit its field) and fdatasync. */
bool ctlog_elog_add_record(struct fc_buf *payload, const uint8_t key[CTLOG_HASH_LEN],
			   const uint8_t *leaf, size_t leaf_len, size_t te_len, const uint8_t *sig,
			   size_t sig_len);
enum fc_status ctlog_elog_append(struct ctlog_elog *l, uint64_t first_index, uint32_t count,
				 const struct fc_buf *payload, struct fc_err *err);
/* Read the record at offset (from a scan); *buf holds it (caller frees). */
enum fc_status ctlog_elog_read(const struct ctlog_elog *l, uint64_t offset, uint8_t **buf,
			       struct ctlog_record *r, struct fc_err *err);
void ctlog_elog_close(struct ctlog_elog *l);

#endif /* FULCRUM_CTLOG_SRV_INT_H */
