/*
 * The tree as tiles (c2sp.org/tlog-tiles, c2sp.org/static-ct-api): the
 * right edge kept in memory, full tiles reported as they complete, the
 * root computed from the partial tiles, and tile path encoding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlog_srv_int.h"

static uint64_t pow256(int level)
{
	return UINT64_C(1) << (8 * level);
}

/* (size / 256^level) mod 256; the data tiles follow level 0. */
unsigned ctlog_tile_width(uint64_t size, int level)
{
	if (level < 0)
		level = 0;
	return (unsigned)((size / pow256(level)) % CTLOG_TILE_WIDTH);
}

/* size / 256^(level+1): the index of the partial tile at level. */
uint64_t ctlog_tile_index(uint64_t size, int level)
{
	if (level < 0)
		level = 0;
	return size / pow256(level + 1);
}

/*
 * Add one leaf hash at the right edge. When a level's tile fills up, it is
 * reported to fn, and its tree hash (MTH of its 256 hashes, a perfect
 * subtree) is carried to the level above. FC_ETOOBIG past 2^40 leaves.
 */
enum fc_status ctlog_tree_append(struct ctlog_tree *t, const uint8_t leaf[CTLOG_HASH_LEN],
				 ctlog_full_tile_fn fn, void *ctx)
{
	uint8_t carry[CTLOG_HASH_LEN];
	uint64_t size = t->size + 1;
	enum fc_status st;

	if (t->size >= CTLOG_MAX_LEAF_INDEX)
		return FC_ETOOBIG;
	memcpy(carry, leaf, CTLOG_HASH_LEN);
	for (int l = 0; l < CTLOG_TILE_LEVELS; l++) {
		/* the width at level l before this leaf */
		unsigned w = ctlog_tile_width(t->size, l);

		memcpy(t->lvl[l][w], carry, CTLOG_HASH_LEN);
		if (w + 1 < CTLOG_TILE_WIDTH)
			break;
		/* tile (l, size / 256^(l+1) - 1) is now full */
		if (fn != NULL && (st = fn(ctx, l, size / pow256(l + 1) - 1,
					   (const ctlog_hash *)t->lvl[l])) != FC_OK)
			return st;
		ctlog_mth((const ctlog_hash *)t->lvl[l], CTLOG_TILE_WIDTH, carry);
	}
	t->size = size;
	return FC_OK;
}

/*
 * The root: each partial tile's hashes are perfect subtrees of 256^l
 * leaves; split each tile's width into powers of two (left to right, top
 * level first) to get the perfect subtrees of the binary decomposition of
 * the size, then fold them from the right (RFC 6962 2.1).
 */
void ctlog_tree_root(const struct ctlog_tree *t, uint8_t out[CTLOG_HASH_LEN])
{
	ctlog_hash sub[CTLOG_TILE_LEVELS * 8];
	size_t n = 0;

	for (int l = CTLOG_TILE_LEVELS - 1; l >= 0; l--) {
		unsigned w = ctlog_tile_width(t->size, l), off = 0;

		for (int b = 7; b >= 0; b--) {
			if (!(w & (1u << b)))
				continue;
			ctlog_mth((const ctlog_hash *)t->lvl[l] + off, 1u << b, sub[n++]);
			off += 1u << b;
		}
	}
	if (n == 0) {
		ctlog_mth(NULL, 0, out);
		return;
	}
	memcpy(out, sub[n - 1], CTLOG_HASH_LEN);
	for (size_t i = n - 1; i-- > 0;)
		ctlog_node_hash(sub[i], out, out);
}

/*
 * "tile/<L>/<N>[.p/<W>]" with N in 3-digit groups, every group but the
 * last prefixed with 'x' (c2sp.org/tlog-tiles). Caller frees.
 */
char *ctlog_tile_path(int level, uint64_t n, unsigned w)
{
	char groups[64], lv[16];
	char tmp[8];
	size_t len = 0;
	uint64_t div = 1;

	while (n / div >= 1000)
		div *= 1000;
	groups[0] = '\0';
	for (; div > 1; div /= 1000) {
		snprintf(tmp, sizeof(tmp), "x%03u/", (unsigned)((n / div) % 1000));
		memcpy(groups + len, tmp, 6);
		len += 5;
		groups[len] = '\0';
	}
	snprintf(tmp, sizeof(tmp), "%03u", (unsigned)(n % 1000));
	memcpy(groups + len, tmp, 4);
	if (level < 0)
		snprintf(lv, sizeof(lv), "data");
	else
		snprintf(lv, sizeof(lv), "%d", level);
	if (w > 0 && w < CTLOG_TILE_WIDTH)
		return fc_xasprintf("tile/%s/%s.p/%u", lv, groups, w);
	return fc_xasprintf("tile/%s/%s", lv, groups);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parse a tile path; only the canonical encoding is accepted (the path is
 * re-encoded and compared), so each tile has exactly one name. */
bool ctlog_tile_path_parse(const char *path, int *level, uint64_t *n, unsigned *w)
{
	const char *p = path;
	uint64_t v = 0;
	unsigned width = 0;
	int lv;
	char *canon;
	bool ok;

	if (strncmp(p, "tile/", 5) != 0)
		return false;
	p += 5;
	if (strncmp(p, "data/", 5) == 0) {
		lv = -1;
		p += 5;
	} else if (p[0] >= '0' && p[0] <= '5' && p[1] == '/') {
		lv = p[0] - '0';
		p += 2;
	} else {
		return false;
	}
	/* at most 5 groups: 10^15 > 2^48 */
	for (int g = 0; g < 6; g++) {
		bool last = p[0] != 'x';

		if (!last)
			p++;
		if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
			return false;
		v = v * 1000 + (uint64_t)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
		p += 3;
		if (last)
			break;
		if (*p++ != '/')
			return false;
		if (g == 5)
			return false;
	}
	if (strncmp(p, ".p/", 3) == 0) {
		p += 3;
		for (int i = 0; i < 3 && is_digit(*p); i++)
			width = width * 10 + (unsigned)(*p++ - '0');
		if (width == 0 || width >= CTLOG_TILE_WIDTH)
			return false;
	}
	if (*p != '\0')
		return false;
	canon = ctlog_tile_path(lv, v, width);
	ok = strcmp(canon, path) == 0;
	free(canon);
	if (!ok)
		return false;
	*level = lv;
	*n = v;
	*w = width;
	return true;
}
