/*
 * DER elements (X.690) for the signer's own reading of what it is asked to
 * sign, over common/'s bounded reader: every check is written so that it
 * cannot overflow, and the offset moves only on success.
 */
#include <string.h>

#include "signer_int.h"

/*
 * The next DER element: a one-byte tag (the high-tag-number form is not
 * used by anything the signer reads), a definite length in its shortest
 * form (at most 3 length octets), the contents within r. On failure
 * nothing is consumed.
 */
bool der_next(struct fc_rd *r, struct der *out)
{
	size_t save = r->off, start = r->off;
	uint8_t tag, first;
	size_t len = 0;

	if (!fc_rd_u8(r, &tag) || (tag & 0x1f) == 0x1f || !fc_rd_u8(r, &first))
		goto fail;
	if (first < 0x80) {
		len = first;
	} else {
		size_t n = first & 0x7f;
		const uint8_t *b;
		if (n == 0 || n > 3 || !fc_rd_bytes(r, n, &b) || b[0] == 0)
			goto fail;
		for (size_t i = 0; i < n; i++)
			len = len << 8 | b[i];
		if (len < 0x80)
			goto fail; /* the short form was due */
	}
	if (!fc_rd_bytes(r, len, &out->p))
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
bool der_expect(struct fc_rd *r, uint8_t tag, struct der *out)
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
bool der_peek(const struct fc_rd *r, uint8_t *tag)
{
	if (r->off >= r->len)
		return false;
	*tag = r->p[r->off];
	return true;
}

/* A reader over the contents of e. */
void der_enter(const struct der *e, struct fc_rd *r)
{
	fc_rd_init(r, e->p, e->len);
}
