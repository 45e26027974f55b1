/*
 * Bounded readers over untrusted bytes: big-endian integers and vectors
 * (the TLS-style structures of the protocol and of RFC 6962), and DER
 * elements (X.690) for the signer's own reading of what it is asked to
 * sign. Every check is written so that it cannot overflow, and the
 * offset moves only on success.
 */
#include <string.h>

#include "signer_int.h"

/* Start reading p[0..len). */
void sg_rd_init(struct sg_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

/* True when every byte has been read. */
bool sg_rd_done(const struct sg_rd *r)
{
	return r->off == r->len;
}

/* The next n bytes, in place. */
bool sg_rd_bytes(struct sg_rd *r, size_t n, const uint8_t **out)
{
	if (r->off > r->len || n > r->len - r->off)
		return false;
	*out = r->p + r->off;
	r->off += n;
	return true;
}

static bool rd_uint(struct sg_rd *r, size_t width, uint64_t *v)
{
	const uint8_t *b;
	uint64_t x = 0;

	if (!sg_rd_bytes(r, width, &b))
		return false;
	for (size_t i = 0; i < width; i++)
		x = x << 8 | b[i];
	*v = x;
	return true;
}

/* Big-endian unsigned integers of 1, 2, 4 and 8 bytes. */
bool sg_rd_u8(struct sg_rd *r, uint8_t *v)
{
	uint64_t x;

	if (!rd_uint(r, 1, &x))
		return false;
	*v = (uint8_t)x;
	return true;
}

bool sg_rd_u16(struct sg_rd *r, uint16_t *v)
{
	uint64_t x;

	if (!rd_uint(r, 2, &x))
		return false;
	*v = (uint16_t)x;
	return true;
}

bool sg_rd_u32(struct sg_rd *r, uint32_t *v)
{
	uint64_t x;

	if (!rd_uint(r, 4, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool sg_rd_u64(struct sg_rd *r, uint64_t *v)
{
	return rd_uint(r, 8, v);
}

/*
 * A vector: a width-byte length (1 to 4) then that many bytes, lo to hi of
 * them. On failure nothing is consumed.
 */
bool sg_rd_vec(struct sg_rd *r, size_t width, size_t lo, size_t hi, const uint8_t **out,
	       size_t *n)
{
	size_t save = r->off;
	uint64_t len;

	if (width < 1 || width > 4 || !rd_uint(r, width, &len) || len < lo || len > hi ||
	    !sg_rd_bytes(r, (size_t)len, out)) {
		r->off = save;
		return false;
	}
	*n = (size_t)len;
	return true;
}

/*
 * The next DER element: a one-byte tag (the high-tag-number form is not
 * used by anything the signer reads), a definite length in its shortest
 * form (at most 3 length octets), the contents within r. On failure
 * nothing is consumed.
 */
bool der_next(struct sg_rd *r, struct der *out)
{
	size_t save = r->off, start = r->off;
	uint8_t tag, first;
	size_t len = 0;

	if (!sg_rd_u8(r, &tag) || (tag & 0x1f) == 0x1f || !sg_rd_u8(r, &first))
		goto fail;
	if (first < 0x80) {
		len = first;
	} else {
		size_t n = first & 0x7f;
		const uint8_t *b;
		if (n == 0 || n > 3 || !sg_rd_bytes(r, n, &b) || b[0] == 0)
			goto fail;
		for (size_t i = 0; i < n; i++)
			len = len << 8 | b[i];
		if (len < 0x80)
			goto fail; /* the short form was due */
	}
	if (!sg_rd_bytes(r, len, &out->p))
		goto fail;
	out->len = len;
	out->tag = tag;
	out->tlv = r->p + start;
	out->tlv_len = r->off - start;
	return true;
fail:
	r->off = save;
	return false;
}

/* The next element, with the given tag. */
bool der_expect(struct sg_rd *r, uint8_t tag, struct der *out)
{
	size_t save = r->off;

	if (!der_next(r, out))
		return false;
	if (out->tag != tag) {
		r->off = save;
		return false;
	}
	return true;
}

/* The tag of the next element, if there is one. */
bool der_peek(const struct sg_rd *r, uint8_t *tag)
{
	if (r->off >= r->len)
		return false;
	*tag = r->p[r->off];
	return true;
}

/* A reader over the contents of e. */
void der_enter(const struct der *e, struct sg_rd *r)
{
	sg_rd_init(r, e->p, e->len);
}
