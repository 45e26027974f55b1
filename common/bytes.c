/*
 * Bounded big-endian reading and writing of binary structures: the TLS
 * presentation language (RFC 5246 4, RFC 8446 3) that Certificate
 * Transparency uses for SCTs, entries and tree heads, and the fixed-layout
 * records of the log's storage.
 *
 * The reader never reads past len: every bounds check is written so that
 * it cannot overflow, and off moves only when a read succeeds. The writers
 * append to a struct fc_buf and leave it unchanged when they fail (its cap
 * would be passed, or a value does not fit its width).
 */
#include <string.h>

#include "common.h"

/* Start reading p[0..len). */
void fc_rd_init(struct fc_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

/* Bytes left to read (0 if off is somehow past len). */
size_t fc_rd_left(const struct fc_rd *r)
{
	return r->off > r->len ? 0 : r->len - r->off;
}

/* True when every byte has been read. */
bool fc_rd_done(const struct fc_rd *r)
{
	return r->off == r->len;
}

/*
 * Take the next n bytes: *out points into the reader's buffer (not a
 * copy). False, and nothing moves, if fewer than n bytes are left.
 */
bool fc_rd_bytes(struct fc_rd *r, size_t n, const uint8_t **out)
{
	if (r->off > r->len || n > r->len - r->off)
		return false;
	*out = r->p == NULL ? NULL : r->p + r->off;
	r->off += n;
	return true;
}

/* Copy the next n bytes into out. False, and nothing moves, if short. */
bool fc_rd_copy(struct fc_rd *r, void *out, size_t n)
{
	const uint8_t *p;

	if (!fc_rd_bytes(r, n, &p))
		return false;
	if (n > 0)
		memcpy(out, p, n);
	return true;
}

/*
 * An unsigned big-endian integer of width bytes (1 to 8). False, and
 * nothing moves, for another width or if fewer than width bytes are left.
 */
bool fc_rd_uint(struct fc_rd *r, size_t width, uint64_t *v)
{
	const uint8_t *b;
	uint64_t x = 0;

	if (width < 1 || width > 8 || !fc_rd_bytes(r, width, &b))
		return false;
	for (size_t i = 0; i < width; i++)
		x = x << 8 | b[i];
	*v = x;
	return true;
}

/* fc_rd_uint of width 1, into a uint8_t. */
bool fc_rd_u8(struct fc_rd *r, uint8_t *v)
{
	uint64_t x;

	return fc_rd_uint(r, 1, &x) && (*v = (uint8_t)x, true);
}

/* fc_rd_uint of width 2, into a uint16_t. */
bool fc_rd_u16(struct fc_rd *r, uint16_t *v)
{
	uint64_t x;

	return fc_rd_uint(r, 2, &x) && (*v = (uint16_t)x, true);
}

/* fc_rd_uint of width 3, into a uint32_t. */
bool fc_rd_u24(struct fc_rd *r, uint32_t *v)
{
	uint64_t x;

	return fc_rd_uint(r, 3, &x) && (*v = (uint32_t)x, true);
}

/* fc_rd_uint of width 4, into a uint32_t. */
bool fc_rd_u32(struct fc_rd *r, uint32_t *v)
{
	uint64_t x;

	return fc_rd_uint(r, 4, &x) && (*v = (uint32_t)x, true);
}

/* fc_rd_uint of width 8. */
bool fc_rd_u64(struct fc_rd *r, uint64_t *v)
{
	return fc_rd_uint(r, 8, v);
}

/*
 * A variable-length vector opaque x<lo..hi> (RFC 5246 4.3): a width-byte
 * length, then that many bytes, which *out points to. False, and nothing
 * moves, if the length is outside lo..hi or runs past the end.
 */
bool fc_rd_vec(struct fc_rd *r, size_t width, size_t lo, size_t hi, const uint8_t **out, size_t *n)
{
	struct fc_rd t = *r;
	uint64_t len;

	if (!fc_rd_uint(&t, width, &len) || len < lo || len > hi ||
	    !fc_rd_bytes(&t, (size_t)len, out))
		return false;
	*n = (size_t)len;
	*r = t;
	return true;
}

/* The largest value width bytes hold (width 1 to 8). */
static uint64_t width_max(size_t width)
{
	return width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
}

/* Room for n more bytes in b without passing its cap (cannot overflow). */
static bool has_room(const struct fc_buf *b, size_t n)
{
	return n <= b->max && b->len <= b->max - n;
}

/*
 * Append v as a width-byte big-endian integer (width 1 to 8). False, and
 * b unchanged, for another width, a v that does not fit, or at b's cap.
 */
bool fc_buf_put_uint(struct fc_buf *b, size_t width, uint64_t v)
{
	uint8_t tmp[8];

	if (width < 1 || width > 8 || v > width_max(width))
		return false;
	for (size_t i = 0; i < width; i++)
		tmp[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	return fc_buf_append(b, tmp, width);
}

/* fc_buf_put_uint of width 1: false if v does not fit. */
bool fc_buf_put_u8(struct fc_buf *b, uint64_t v)
{
	return fc_buf_put_uint(b, 1, v);
}

/* fc_buf_put_uint of width 2: false if v does not fit. */
bool fc_buf_put_u16(struct fc_buf *b, uint64_t v)
{
	return fc_buf_put_uint(b, 2, v);
}

/* fc_buf_put_uint of width 3: false if v does not fit. */
bool fc_buf_put_u24(struct fc_buf *b, uint64_t v)
{
	return fc_buf_put_uint(b, 3, v);
}

/* fc_buf_put_uint of width 4: false if v does not fit. */
bool fc_buf_put_u32(struct fc_buf *b, uint64_t v)
{
	return fc_buf_put_uint(b, 4, v);
}

/* fc_buf_put_uint of width 8: false if v does not fit. */
bool fc_buf_put_u64(struct fc_buf *b, uint64_t v)
{
	return fc_buf_put_uint(b, 8, v);
}

/*
 * Append the vector opaque x<0..2^(8*width)-1>: n as a width-byte length,
 * then p[0..n). False, and b unchanged, if n does not fit the width or the
 * whole vector would pass b's cap.
 */
bool fc_buf_put_vec(struct fc_buf *b, size_t width, const void *p, size_t n)
{
	if (width < 1 || width > 8 || (uint64_t)n > width_max(width) || n > SIZE_MAX - width ||
	    !has_room(b, width + n))
		return false;
	if (!fc_buf_put_uint(b, width, n))
		return false;
	return n == 0 || fc_buf_append(b, p, n);
}

/*
 * Strict UTF-8 (RFC 3629 3): no overlong forms, no surrogates, nothing past
 * U+10FFFF. Go's encoding/asn1 refuses to marshal anything else as a
 * UTF8String, so neither the CA nor the signer lets it into a certificate.
 */
bool fc_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}
