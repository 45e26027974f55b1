/*
 * config: the byte and string machinery of the claim templates: a bump
 * arena, a capped output writer, UTF-8 as Go's unicode/utf8 decodes it,
 * and the parts of Go's strconv that text/template and fmt use (Unquote,
 * UnquoteChar, Quote, QuoteRune, CanBackquote, and the number literals of
 * parse.newNumber: ParseInt, ParseUint, ParseFloat with base prefixes and
 * underscores).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/* --- arena --------------------------------------------------------------- */

#define BLOCK_SIZE 8192

struct tmpl_block {
	struct tmpl_block *next;
	size_t size, used;
	max_align_t data[];
};

/*
 * Start an empty arena that hands out at most max bytes.
 */
void cfg_tmpl_arena_init(struct tmpl_arena *a, size_t max)
{
	a->head = NULL;
	a->used = 0;
	a->max = max;
}

/*
 * n zeroed bytes aligned for any type. Returns NULL (and allocates
 * nothing) once the arena's limit would be passed; the memory lives until
 * cfg_tmpl_arena_free.
 */
void *cfg_tmpl_alloc(struct tmpl_arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct tmpl_block *b = a->head;
	size_t need;
	void *p;

	if (n == 0)
		n = 1;
	if (n > a->max || a->used > a->max - n)
		return NULL;
	need = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < need) {
		size_t size = need > BLOCK_SIZE ? need : BLOCK_SIZE;
		b = fc_xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	a->used += n;
	memset(p, 0, n);
	return p;
}

/*
 * A NUL-terminated copy of s[0..n) in the arena, or NULL past its limit.
 */
char *cfg_tmpl_strdup(struct tmpl_arena *a, const char *s, size_t n)
{
	char *p = n < SIZE_MAX ? cfg_tmpl_alloc(a, n + 1) : NULL;

	if (p != NULL && n > 0)
		memcpy(p, s, n);
	return p;
}

/*
 * Free every block of the arena; it is empty (and usable) afterwards.
 */
void cfg_tmpl_arena_free(struct tmpl_arena *a)
{
	while (a->head != NULL) {
		struct tmpl_block *b = a->head;
		a->head = b->next;
		free(b);
	}
	a->used = 0;
}

/* --- writer ---------------------------------------------------------------- */

/*
 * An empty writer whose contents may not pass max bytes.
 */
void cfg_tmpl_w_init(struct tmpl_w *w, size_t max)
{
	fc_buf_init(&w->b, max);
	w->full = false;
}

/*
 * Append n bytes; a write that does not fit sets w->full and is dropped
 * (so are all later ones).
 */
void cfg_tmpl_put(struct tmpl_w *w, const void *p, size_t n)
{
	if (w->full || n == 0)
		return;
	if (!fc_buf_append(&w->b, p, n))
		w->full = true;
}

/*
 * Append one byte.
 */
void cfg_tmpl_putc(struct tmpl_w *w, char c)
{
	cfg_tmpl_put(w, &c, 1);
}

/*
 * Append a NUL-terminated string.
 */
void cfg_tmpl_puts(struct tmpl_w *w, const char *s)
{
	cfg_tmpl_put(w, s, strlen(s));
}

/*
 * Append n copies of c.
 */
void cfg_tmpl_putn(struct tmpl_w *w, char c, size_t n)
{
	char chunk[256];

	memset(chunk, c, sizeof(chunk));
	while (n > 0 && !w->full) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
		cfg_tmpl_put(w, chunk, k);
		n -= k;
	}
}

/*
 * Append the UTF-8 encoding of r (utf8.AppendRune: an invalid rune is
 * written as U+FFFD).
 */
void cfg_tmpl_put_rune(struct tmpl_w *w, int32_t r)
{
	char u[4];
	size_t n = cfg_tmpl_encode_rune(u, r);

	cfg_tmpl_put(w, u, n);
}

/* --- UTF-8 ----------------------------------------------------------------- */

/*
 * Decode one rune as utf8.DecodeRuneInString: (RuneError, 1) for a byte
 * that does not start a valid, shortest, non-surrogate encoding; (RuneError,
 * 0) for empty input.
 */
int32_t cfg_tmpl_decode_rune(const char *s, size_t n, size_t *width)
{
	const uint8_t *p = (const uint8_t *)s;
	uint32_t c, r;
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;

	if (n == 0) {
		*width = 0;
		return TMPL_RUNE_ERROR;
	}
	c = p[0];
	if (c < 0x80) {
		*width = 1;
		return (int32_t)c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		r = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		r = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		r = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*width = 1;
		return TMPL_RUNE_ERROR;
	}
	if (n < len || p[1] < lo || p[1] > hi) {
		*width = 1;
		return TMPL_RUNE_ERROR;
	}
	r = r << 6 | (p[1] & 0x3f);
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf) {
			*width = 1;
			return TMPL_RUNE_ERROR;
		}
		r = r << 6 | (p[i] & 0x3f);
	}
	*width = len;
	return (int32_t)r;
}

/*
 * Decode the last rune of s[0..n) as utf8.DecodeLastRuneInString.
 */
int32_t cfg_tmpl_decode_last_rune(const char *s, size_t n, size_t *width)
{
	size_t start, lim, w;
	int32_t r;

	if (n == 0) {
		*width = 0;
		return TMPL_RUNE_ERROR;
	}
	if ((uint8_t)s[n - 1] < 0x80) {
		*width = 1;
		return (uint8_t)s[n - 1];
	}
	lim = n >= 4 ? n - 4 : 0;
	start = n - 1;
	while (start > lim && ((uint8_t)s[start] & 0xc0) == 0x80)
		start--;
	r = cfg_tmpl_decode_rune(s + start, n - start, &w);
	if (start + w != n) {
		*width = 1;
		return TMPL_RUNE_ERROR;
	}
	*width = w;
	return r;
}

/*
 * utf8.EncodeRune: out gets 1 to 4 bytes, returned; a surrogate or a value
 * outside Unicode is encoded as U+FFFD.
 */
size_t cfg_tmpl_encode_rune(char out[4], int32_t r)
{
	uint32_t c = (uint32_t)r;
	uint8_t *u = (uint8_t *)out;

	if (r < 0 || c > TMPL_MAX_RUNE || (c >= 0xd800 && c <= 0xdfff))
		c = TMPL_RUNE_ERROR;
	if (c < 0x80) {
		u[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (uint8_t)(0xc0 | c >> 6);
		u[1] = (uint8_t)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		u[0] = (uint8_t)(0xe0 | c >> 12);
		u[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (c & 0x3f));
		return 3;
	}
	u[0] = (uint8_t)(0xf0 | c >> 18);
	u[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
	u[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
	u[3] = (uint8_t)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * Number of runes in s[0..n), an invalid byte counting as one.
 */
size_t cfg_tmpl_rune_count(const char *s, size_t n)
{
	size_t count = 0, w;

	for (size_t i = 0; i < n; i += w) {
		cfg_tmpl_decode_rune(s + i, n - i, &w);
		count++;
	}
	return count;
}

/*
 * Whether s[0..n) is entirely valid UTF-8.
 */
bool cfg_tmpl_valid_utf8(const char *s, size_t n)
{
	size_t w;

	for (size_t i = 0; i < n; i += w) {
		if (cfg_tmpl_decode_rune(s + i, n - i, &w) == TMPL_RUNE_ERROR && w == 1)
			return false;
	}
	return true;
}

/* --- strconv: unquoting ------------------------------------------------------ */

static bool valid_rune(int64_t r)
{
	return (r >= 0 && r < 0xd800) || (r > 0xdfff && r <= TMPL_MAX_RUNE);
}

/* The escape after a backslash: s points after the backslash. */
static bool unquote_escape(const char *s, size_t n, char quote, int32_t *value, bool *multibyte,
			   size_t *used)
{
	size_t k;
	int64_t v = 0;
	char c;

	if (n < 1)
		return false;
	c = s[0];
	*used = 1;
	switch (c) {
	case 'a': *value = '\a'; return true;
	case 'b': *value = '\b'; return true;
	case 'f': *value = '\f'; return true;
	case 'n': *value = '\n'; return true;
	case 'r': *value = '\r'; return true;
	case 't': *value = '\t'; return true;
	case 'v': *value = '\v'; return true;
	case '\\': *value = '\\'; return true;
	case '\'':
	case '"':
		if (c != quote)
			return false;
		*value = c;
		return true;
	case 'x':
	case 'u':
	case 'U':
		k = c == 'x' ? 2 : c == 'u' ? 4 : 8;
		if (n - 1 < k)
			return false;
		for (size_t j = 0; j < k; j++) {
			int x = fc_hex_digit(s[1 + j]);
			if (x < 0)
				return false;
			v = v << 4 | x;
		}
		*used = 1 + k;
		if (c != 'x') {
			if (!valid_rune(v))
				return false;
			*multibyte = true;
		}
		*value = (int32_t)v;
		return true;
	default:
		if (c < '0' || c > '7' || n < 3)
			return false;
		v = c - '0';
		for (size_t j = 1; j < 3; j++) {
			if (s[j] < '0' || s[j] > '7')
				return false;
			v = v << 3 | (s[j] - '0');
		}
		if (v > 255)
			return false;
		*used = 3;
		*value = (int32_t)v;
		return true;
	}
}

/*
 * strconv.UnquoteChar: the first character or escape sequence of s[0..n)
 * in a literal quoted by `quote`. Returns false on a syntax error; else
 * *value, *multibyte (whether it must be written as UTF-8) and *used.
 */
bool cfg_tmpl_unquote_char(const char *s, size_t n, char quote, int32_t *value, bool *multibyte,
			   size_t *used)
{
	uint8_t c;

	*multibyte = false;
	if (n == 0)
		return false;
	c = (uint8_t)s[0];
	if (c == (uint8_t)quote && (quote == '\'' || quote == '"'))
		return false;
	if (c >= 0x80) {
		*value = cfg_tmpl_decode_rune(s, n, used);
		*multibyte = true;
		return true;
	}
	if (c != '\\') {
		*value = c;
		*used = 1;
		return true;
	}
	if (!unquote_escape(s + 1, n - 1, quote, value, multibyte, used))
		return false;
	(*used)++;
	return true;
}

/* The body of a "..." literal with escapes or invalid UTF-8 in it. */
static bool unquote_escaped(struct tmpl_arena *a, const char *s, size_t n, struct tmpl_str *out,
			    bool *oom)
{
	struct tmpl_w w;
	size_t i = 1;
	bool ok = false;

	cfg_tmpl_w_init(&w, 0);
	while (i < n && s[i] != '"') {
		int32_t r;
		bool multi;
		size_t used;

		if (s[i] == '\n' || !cfg_tmpl_unquote_char(s + i, n - i, '"', &r, &multi, &used))
			goto out;
		i += used;
		if (r < 0x80 || !multi)
			cfg_tmpl_putc(&w, (char)r);
		else
			cfg_tmpl_put_rune(&w, r);
	}
	if (i + 1 != n)
		goto out;
	out->n = w.b.len;
	out->p = cfg_tmpl_strdup(a, w.b.data ? (const char *)w.b.data : "", w.b.len);
	if (out->p == NULL)
		*oom = true;
	else
		ok = true;
out:
	fc_buf_free(&w.b);
	return ok;
}

/*
 * strconv.Unquote of a whole "..." or `...` literal s[0..n). The value is
 * put in the arena (NUL-terminated). A raw literal loses its '\r' bytes.
 * Returns false on a syntax error, or with *oom set when a is full.
 */
bool cfg_tmpl_unquote(struct tmpl_arena *a, const char *s, size_t n, struct tmpl_str *out,
		      bool *oom)
{
	char *p;
	size_t k = 0;

	*oom = false;
	if (n < 2 || s[0] != s[n - 1])
		return false;
	if (s[0] == '`') {
		if (memchr(s + 1, '`', n - 2) != NULL)
			return false;
		if ((p = cfg_tmpl_alloc(a, n - 1)) == NULL) {
			*oom = true;
			return false;
		}
		for (size_t i = 1; i + 1 < n; i++) {
			if (s[i] != '\r')
				p[k++] = s[i];
		}
		out->p = p;
		out->n = k;
		return true;
	}
	if (s[0] != '"')
		return false;
	if (memchr(s + 1, '\\', n - 2) == NULL && memchr(s + 1, '\n', n - 2) == NULL &&
	    memchr(s + 1, '"', n - 2) == NULL && cfg_tmpl_valid_utf8(s + 1, n - 2)) {
		out->n = n - 2;
		out->p = cfg_tmpl_strdup(a, s + 1, n - 2);
		*oom = out->p == NULL;
		return out->p != NULL;
	}
	return unquote_escaped(a, s, n, out, oom);
}

/* --- strconv: quoting ------------------------------------------------------- */

static const char lowerhex[] = "0123456789abcdef";

/* appendEscapedRune */
static void put_escaped_rune(struct tmpl_w *w, int32_t r, char quote, bool ascii)
{
	char buf[10];

	if (r == quote || r == '\\') {
		cfg_tmpl_putc(w, '\\');
		cfg_tmpl_putc(w, (char)r);
		return;
	}
	if (ascii ? r < 0x80 && cfg_tmpl_is_print(r) : cfg_tmpl_is_print(r)) {
		cfg_tmpl_put_rune(w, r);
		return;
	}
	switch (r) {
	case '\a': cfg_tmpl_puts(w, "\\a"); return;
	case '\b': cfg_tmpl_puts(w, "\\b"); return;
	case '\f': cfg_tmpl_puts(w, "\\f"); return;
	case '\n': cfg_tmpl_puts(w, "\\n"); return;
	case '\r': cfg_tmpl_puts(w, "\\r"); return;
	case '\t': cfg_tmpl_puts(w, "\\t"); return;
	case '\v': cfg_tmpl_puts(w, "\\v"); return;
	default: break;
	}
	if (r < ' ' || r == 0x7f) {
		buf[0] = '\\';
		buf[1] = 'x';
		buf[2] = lowerhex[(r >> 4) & 0xf];
		buf[3] = lowerhex[r & 0xf];
		cfg_tmpl_put(w, buf, 4);
		return;
	}
	if (!valid_rune(r))
		r = TMPL_RUNE_ERROR;
	if (r < 0x10000) {
		buf[0] = '\\';
		buf[1] = 'u';
		for (int i = 0; i < 4; i++)
			buf[2 + i] = lowerhex[(r >> (12 - 4 * i)) & 0xf];
		cfg_tmpl_put(w, buf, 6);
		return;
	}
	buf[0] = '\\';
	buf[1] = 'U';
	for (int i = 0; i < 8; i++)
		buf[2 + i] = lowerhex[(r >> (28 - 4 * i)) & 0xf];
	cfg_tmpl_put(w, buf, 10);
}

/*
 * strconv.Quote (ascii false) or strconv.QuoteToASCII (ascii true) of
 * s[0..n): a double-quoted Go literal; invalid bytes become \xNN.
 */
void cfg_tmpl_quote(struct tmpl_w *w, const char *s, size_t n, bool ascii)
{
	size_t width;

	cfg_tmpl_putc(w, '"');
	for (size_t i = 0; i < n; i += width) {
		int32_t r = cfg_tmpl_decode_rune(s + i, n - i, &width);
		if (width == 1 && r == TMPL_RUNE_ERROR) {
			char buf[4] = {'\\', 'x', lowerhex[(uint8_t)s[i] >> 4],
				       lowerhex[(uint8_t)s[i] & 0xf]};
			cfg_tmpl_put(w, buf, 4);
			continue;
		}
		put_escaped_rune(w, r, '"', ascii);
	}
	cfg_tmpl_putc(w, '"');
}

/*
 * strconv.QuoteRune / QuoteRuneToASCII: a single-quoted Go literal; an
 * invalid rune is quoted as U+FFFD.
 */
void cfg_tmpl_quote_rune(struct tmpl_w *w, int32_t r, bool ascii)
{
	if (!valid_rune(r))
		r = TMPL_RUNE_ERROR;
	cfg_tmpl_putc(w, '\'');
	put_escaped_rune(w, r, '\'', ascii);
	cfg_tmpl_putc(w, '\'');
}

/*
 * strconv.CanBackquote: s can be written as a `raw` literal unchanged.
 */
bool cfg_tmpl_can_backquote(const char *s, size_t n)
{
	size_t width;

	for (size_t i = 0; i < n; i += width) {
		int32_t r = cfg_tmpl_decode_rune(s + i, n - i, &width);
		if (width > 1) {
			if (r == 0xfeff)
				return false;
			continue;
		}
		if (r == TMPL_RUNE_ERROR)
			return false;
		if ((r < ' ' && r != '\t') || r == '`' || r == 0x7f)
			return false;
	}
	return true;
}

/* --- strconv: numbers ---------------------------------------------------------- */

static char lower(char c)
{
	return (char)(c | ('x' - 'X'));
}

/* strconv's underscoreOK: underscores only between digits (or after a base
 * prefix). */
static bool underscore_ok(const char *s, size_t n)
{
	char saw = '^';
	size_t i = 0;
	bool hex = false;

	if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
		s++;
		n--;
	}
	if (n >= 2 && s[0] == '0' &&
	    (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
		i = 2;
		saw = '0';
		hex = lower(s[1]) == 'x';
	}
	for (; i < n; i++) {
		if ((s[i] >= '0' && s[i] <= '9') ||
		    (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
			saw = '0';
			continue;
		}
		if (s[i] == '_') {
			if (saw != '0')
				return false;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return false;
		saw = '!';
	}
	return saw != '_';
}

/* strconv.ParseUint(s, 0, 64). */
static bool parse_uint(const char *s, size_t n, uint64_t *out)
{
	const char *s0 = s;
	size_t n0 = n;
	unsigned base = 10;
	bool underscores = false;
	uint64_t v = 0;

	*out = 0;
	if (n == 0)
		return false;
	if (s[0] == '0') {
		if (n >= 3 && lower(s[1]) == 'b')
			base = 2, s += 2, n -= 2;
		else if (n >= 3 && lower(s[1]) == 'o')
			base = 8, s += 2, n -= 2;
		else if (n >= 3 && lower(s[1]) == 'x')
			base = 16, s += 2, n -= 2;
		else
			base = 8, s += 1, n -= 1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c == '_') {
			underscores = true;
			continue;
		}
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (lower(c) >= 'a' && lower(c) <= 'z')
			d = (unsigned)(lower(c) - 'a' + 10);
		else
			return false;
		if (d >= base)
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false; /* range */
		v = v * base + d;
	}
	if (underscores && !underscore_ok(s0, n0))
		return false;
	*out = v;
	return true;
}

/* strconv.ParseInt(s, 0, 64). */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
	bool neg = false;
	uint64_t u;

	*out = 0;
	if (n == 0)
		return false;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (!parse_uint(s, n, &u))
		return false;
	if (!neg && u > (uint64_t)INT64_MAX)
		return false;
	if (neg && u > (uint64_t)INT64_MAX + 1)
		return false;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

/* strconv's readFloat, as a syntax check: the whole of s[0..n) must be a
 * Go float literal (decimal, or hexadecimal with a p exponent). */
static bool float_syntax(const char *s, size_t n)
{
	size_t i = 0;
	bool hex = false, sawdot = false, sawdigits = false, underscores = false;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i + 2 < n && s[i] == '0' && lower(s[i + 1]) == 'x') {
		hex = true;
		i += 2;
	}
	for (; i < n; i++) {
		char c = s[i];
		if (c == '_') {
			underscores = true;
		} else if (c == '.') {
			if (sawdot)
				break;
			sawdot = true;
		} else if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
			sawdigits = true;
		} else {
			break;
		}
	}
	if (!sawdigits)
		return false;
	if (i < n && lower(s[i]) == (hex ? 'p' : 'e')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
			underscores |= s[i] == '_';
			i++;
		}
	} else if (hex) {
		return false;
	}
	if (underscores && !underscore_ok(s, i))
		return false;
	return i == n;
}

/* strconv.ParseFloat(s, 64): false on a syntax error or overflow (an
 * underflow to zero or a denormal is fine, as in Go). */
static bool parse_float(const char *s, size_t n, double *out)
{
	char *buf, *end = NULL;
	size_t k = 0;
	bool ok;

	if (!float_syntax(s, n))
		return false;
	buf = fc_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '_')
			buf[k++] = s[i];
	}
	buf[k] = '\0';
	*out = strtod(buf, &end);
	ok = end == buf + k && !isinf(*out);
	free(buf);
	return ok;
}

static bool has_any(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\0' && strchr(set, s[i]) != NULL)
			return true;
	}
	return false;
}

/* A character constant: 'x', '\n', '\u00e9' ... */
static enum tmpl_num_res parse_char(const char *s, size_t n, struct tmpl_num *out)
{
	int32_t r;
	bool multi;
	size_t used;

	if (n < 2 || !cfg_tmpl_unquote_char(s + 1, n - 1, '\'', &r, &multi, &used))
		return TMPL_NUM_BAD;
	if (1 + used + 1 != n || s[n - 1] != '\'')
		return TMPL_NUM_BAD;
	out->is_int = out->is_uint = out->is_float = true;
	out->i = r;
	out->u = (uint64_t)r;
	out->f = r;
	return TMPL_NUM_OK;
}

/*
 * A number literal as parse.(*Tree).newNumber reads it: integers with base
 * prefixes and underscores first, then floats; a float literal without
 * '.', 'e' or 'p' is an integer too large (an error). Imaginary and complex
 * literals are reported as TMPL_NUM_COMPLEX.
 */
enum tmpl_num_res cfg_tmpl_parse_number(const char *s, size_t n, bool is_char, struct tmpl_num *out)
{
	double f;

	memset(out, 0, sizeof(*out));
	if (is_char)
		return parse_char(s, n, out);
	if (n > 0 && s[n - 1] == 'i' && parse_float(s, n - 1, &f))
		return TMPL_NUM_COMPLEX;
	out->is_uint = parse_uint(s, n, &out->u);
	out->is_int = parse_int(s, n, &out->i);
	if (out->is_int && out->i == 0)
		out->is_uint = true; /* -0 */
	if (out->is_int) {
		out->is_float = true;
		out->f = (double)out->i;
	} else if (out->is_uint) {
		out->is_float = true;
		out->f = (double)out->u;
	} else if (parse_float(s, n, &f)) {
		if (!has_any(s, n, ".eEpP"))
			return TMPL_NUM_BAD; /* integer overflow */
		out->is_float = true;
		out->f = f;
		if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 &&
		    (double)(int64_t)f == f) {
			out->is_int = true;
			out->i = (int64_t)f;
		}
		if (f >= 0 && f < 18446744073709551616.0 && (double)(uint64_t)f == f) {
			out->is_uint = true;
			out->u = (uint64_t)f;
		}
	}
	if (!out->is_int && !out->is_uint && !out->is_float)
		return TMPL_NUM_BAD;
	return TMPL_NUM_OK;
}

/*
 * Line and column (both counted from 1, the column in bytes) of offset pos
 * in text[0..len).
 */
void cfg_tmpl_line_col(const char *text, size_t len, size_t pos, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < pos && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}
