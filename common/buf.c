#include <stdlib.h>
#include <string.h>

#include "common.h"

void fc_buf_init(struct fc_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

/*
 * Append n bytes, growing geometrically. Refuses (and leaves b untouched)
 * when the result would exceed b->max; the check is written so that it
 * cannot overflow.
 */
bool fc_buf_append(struct fc_buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t want = b->cap ? b->cap : 256;
		while (want < b->len + n + 1)
			want *= 2;
		b->data = fc_xrealloc(b->data, want);
		b->cap = want;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

bool fc_buf_append_str(struct fc_buf *b, const char *s)
{
	return fc_buf_append(b, s, strlen(s));
}

void fc_buf_reset(struct fc_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void fc_buf_free(struct fc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void fc_buf_wipe_free(struct fc_buf *b)
{
	fc_memzero(b->data, b->cap);
	fc_buf_free(b);
}

char *fc_buf_steal(struct fc_buf *b, size_t *len)
{
	char *p = (char *)b->data;

	if (len)
		*len = b->len;
	if (p == NULL)
		p = fc_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
