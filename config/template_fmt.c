/*
 * config: Go's fmt (print.go, format.go) for the claim templates: how
 * {{.}} prints a value, and print, println and printf. The port covers the
 * types a template over Fulcio's data can hold (bool, int, uint8, float64,
 * string, map[string]string and nil) with every verb, flag, width,
 * precision, argument index and error notation (%!d(string=x),
 * %!v(MISSING), %!(EXTRA ...)) of Go.
 *
 * One thing cannot be reproduced: %p of the map prints its address in
 * Go's memory. That is an execution error here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

static const char ldigits[] = "0123456789abcdefx";
static const char udigits[] = "0123456789ABCDEFX";

/* fmt's fmtFlags, width and precision */
struct fmtf {
	bool wid_present, prec_present, minus, plus, sharp, space, zero, plus_v, sharp_v;
	int wid, prec;
};

/* fmt's pp */
struct pp {
	struct tmpl_exec *x;
	struct tmpl_w *w;
	struct fmtf f;
	bool reordered, good_arg_num;
	bool failed;
};

static void print_arg(struct pp *p, const struct tmpl_val *v, int32_t verb);

/* --- format.go ------------------------------------------------------------------- */

static void write_padding(struct pp *p, long n)
{
	if (n <= 0)
		return;
	cfg_tmpl_putn(p->w, p->f.zero && !p->f.minus ? '0' : ' ', (size_t)n);
}

/* pad: b with padding to the width (counted in runes) */
static void pad(struct pp *p, const char *b, size_t n)
{
	long width;

	if (!p->f.wid_present || p->f.wid == 0) {
		cfg_tmpl_put(p->w, b, n);
		return;
	}
	width = (long)p->f.wid - (long)cfg_tmpl_rune_count(b, n);
	if (!p->f.minus) {
		write_padding(p, width);
		cfg_tmpl_put(p->w, b, n);
	} else {
		cfg_tmpl_put(p->w, b, n);
		write_padding(p, width);
	}
}

static void pad_string(struct pp *p, const char *s)
{
	pad(p, s, strlen(s));
}

/* pad with zero padding off */
static void pad_nozero(struct pp *p, const char *b, size_t n)
{
	bool old = p->f.zero;

	p->f.zero = false;
	pad(p, b, n);
	p->f.zero = old;
}

/* %U: U+0041, with # U+0041 'A' */
static void fmt_unicode(struct pp *p, uint64_t u)
{
	int prec = 4;
	size_t size = 68, i;
	char small[68], *buf = small;

	if (p->f.prec_present && p->f.prec > 4) {
		prec = p->f.prec;
		if ((size_t)prec + 9 > size)
			size = (size_t)prec + 9;
		buf = fc_xmalloc(size);
	}
	i = size;
	if (p->f.sharp && u <= TMPL_MAX_RUNE && cfg_tmpl_is_print((int32_t)u)) {
		char enc[4];
		size_t k = cfg_tmpl_encode_rune(enc, (int32_t)u);
		buf[--i] = '\'';
		i -= k;
		memcpy(buf + i, enc, k);
		buf[--i] = '\'';
		buf[--i] = ' ';
	}
	while (u >= 16) {
		buf[--i] = udigits[u & 0xf];
		prec--;
		u >>= 4;
	}
	buf[--i] = udigits[u];
	prec--;
	while (prec > 0) {
		buf[--i] = '0';
		prec--;
	}
	buf[--i] = '+';
	buf[--i] = 'U';
	pad_nozero(p, buf + i, size - i);
	if (buf != small)
		free(buf);
}

/* fmtInteger: u in base with sign, precision, zero padding and # prefix */
static void fmt_integer(struct pp *p, uint64_t u, int base, bool is_signed, int32_t verb,
			const char *digits)
{
	bool negative = is_signed && (int64_t)u < 0;
	size_t size = 68, i;
	char small[68], *buf = small;
	long prec = 0;

	if (negative)
		u = 0 - u;
	if ((p->f.wid_present || p->f.prec_present) && (size_t)(3 + p->f.wid + p->f.prec) > size) {
		size = (size_t)(3 + p->f.wid + p->f.prec);
		buf = fc_xmalloc(size);
	}
	if (p->f.prec_present) {
		prec = p->f.prec;
		if (prec == 0 && u == 0) {
			bool old = p->f.zero;
			p->f.zero = false;
			write_padding(p, p->f.wid);
			p->f.zero = old;
			goto out;
		}
	} else if (p->f.zero && !p->f.minus && p->f.wid_present) {
		prec = p->f.wid;
		if (negative || p->f.plus || p->f.space)
			prec--;
	}
	i = size;
	while (u >= (uint64_t)base) {
		buf[--i] = digits[u % (uint64_t)base];
		u /= (uint64_t)base;
	}
	buf[--i] = digits[u];
	while (i > 0 && prec > (long)(size - i))
		buf[--i] = '0';
	if (p->f.sharp) {
		if (base == 2) {
			buf[--i] = 'b';
			buf[--i] = '0';
		} else if (base == 8 && buf[i] != '0') {
			buf[--i] = '0';
		} else if (base == 16) {
			buf[--i] = digits[16];
			buf[--i] = '0';
		}
	}
	if (verb == 'O') {
		buf[--i] = 'o';
		buf[--i] = '0';
	}
	if (negative)
		buf[--i] = '-';
	else if (p->f.plus)
		buf[--i] = '+';
	else if (p->f.space)
		buf[--i] = ' ';
	pad_nozero(p, buf + i, size - i);
out:
	if (buf != small)
		free(buf);
}

/* the first prec runes of s (all of it without a precision) */
static size_t truncated(const struct pp *p, const char *s, size_t n)
{
	size_t i = 0, w;
	long left;

	if (!p->f.prec_present)
		return n;
	left = p->f.prec;
	while (i < n) {
		if (--left < 0)
			return i;
		cfg_tmpl_decode_rune(s + i, n - i, &w);
		i += w;
	}
	return n;
}

static void fmt_s(struct pp *p, const char *s, size_t n)
{
	pad(p, s, truncated(p, s, n));
}

/* %x / %X of a string: hex of each byte, "% x" spaced, "%#x" 0x-prefixed */
static void fmt_sx(struct pp *p, const char *s, size_t n, const char *digits)
{
	size_t length = n, width;

	if (p->f.prec_present && (size_t)p->f.prec < length)
		length = (size_t)p->f.prec;
	width = 2 * length;
	if (width == 0) {
		if (p->f.wid_present)
			write_padding(p, p->f.wid);
		return;
	}
	if (p->f.space) {
		if (p->f.sharp)
			width *= 2;
		width += length - 1;
	} else if (p->f.sharp) {
		width += 2;
	}
	if (p->f.wid_present && (size_t)p->f.wid > width && !p->f.minus)
		write_padding(p, (long)((size_t)p->f.wid - width));
	if (p->f.sharp) {
		cfg_tmpl_putc(p->w, '0');
		cfg_tmpl_putc(p->w, digits[16]);
	}
	for (size_t i = 0; i < length; i++) {
		uint8_t c = (uint8_t)s[i];
		if (p->f.space && i > 0) {
			cfg_tmpl_putc(p->w, ' ');
			if (p->f.sharp) {
				cfg_tmpl_putc(p->w, '0');
				cfg_tmpl_putc(p->w, digits[16]);
			}
		}
		cfg_tmpl_putc(p->w, digits[c >> 4]);
		cfg_tmpl_putc(p->w, digits[c & 0xf]);
	}
	if (p->f.wid_present && (size_t)p->f.wid > width && p->f.minus)
		write_padding(p, (long)((size_t)p->f.wid - width));
}

/* pad the contents of a scratch writer */
static void pad_w(struct pp *p, struct tmpl_w *t)
{
	if (t->full)
		p->w->full = true;
	else
		pad(p, t->b.data ? (const char *)t->b.data : "", t->b.len);
	fc_buf_free(&t->b);
}

/* %q of a string: "..." (`...` with # when possible, ASCII with +) */
static void fmt_q(struct pp *p, const char *s, size_t n)
{
	struct tmpl_w t;

	n = truncated(p, s, n);
	cfg_tmpl_w_init(&t, CFG_TEMPLATE_MAX_MEM);
	if (p->f.sharp && cfg_tmpl_can_backquote(s, n)) {
		cfg_tmpl_putc(&t, '`');
		cfg_tmpl_put(&t, s, n);
		cfg_tmpl_putc(&t, '`');
	} else {
		cfg_tmpl_quote(&t, s, n, p->f.plus);
	}
	pad_w(p, &t);
}

/* %c */
static void fmt_c(struct pp *p, uint64_t c)
{
	char enc[4];
	int32_t r = c > TMPL_MAX_RUNE ? TMPL_RUNE_ERROR : (int32_t)c;

	pad(p, enc, cfg_tmpl_encode_rune(enc, r));
}

/* %q of an integer: a quoted rune */
static void fmt_qc(struct pp *p, uint64_t c)
{
	int32_t r = c > TMPL_MAX_RUNE ? TMPL_RUNE_ERROR : (int32_t)c;
	struct tmpl_w t;

	cfg_tmpl_w_init(&t, 64);
	cfg_tmpl_quote_rune(&t, r, p->f.plus);
	pad_w(p, &t);
}

/* fmt.fmtFloat: strconv's digits, then sign, # and zero padding */
static void fmt_float(struct pp *p, double v, char verb, int prec)
{
	struct tmpl_w t;
	char *num, *tail = NULL;
	size_t n, tail_n = 0;

	if (p->f.prec_present)
		prec = p->f.prec;
	cfg_tmpl_w_init(&t, CFG_TEMPLATE_MAX_MEM);
	cfg_tmpl_putc(&t, '+');
	cfg_tmpl_format_float(&t, v, verb, prec);
	if (t.full) {
		p->w->full = true;
		fc_buf_free(&t.b);
		return;
	}
	num = (char *)t.b.data;
	n = t.b.len;
	if (num[1] == '-' || num[1] == '+') {
		num++;
		n--;
	}
	if (p->f.space && num[0] == '+' && !p->f.plus)
		num[0] = ' ';
	if (num[1] == 'I' || num[1] == 'N') {
		if (num[1] == 'N' && !p->f.space && !p->f.plus) {
			num++;
			n--;
		}
		pad_nozero(p, num, n);
		fc_buf_free(&t.b);
		return;
	}
	if (p->f.sharp && verb != 'b') {
		long digits = 0;
		bool point = false, nonzero = false;
		struct tmpl_w s;

		if (verb == 'v' || verb == 'g' || verb == 'G' || verb == 'x')
			digits = prec == -1 ? 6 : prec;
		for (size_t i = 1; i < n; i++) {
			char c = num[i];
			if (c == '.') {
				point = true;
			} else if (c == 'p' || c == 'P' ||
				   ((c == 'e' || c == 'E') && verb != 'x' && verb != 'X')) {
				tail = num + i;
				tail_n = n - i;
				n = i;
			} else {
				nonzero |= c != '0';
				if (nonzero)
					digits--;
			}
		}
		cfg_tmpl_w_init(&s, CFG_TEMPLATE_MAX_MEM);
		cfg_tmpl_put(&s, num, n);
		if (!point) {
			if (n == 2 && num[1] == '0')
				digits--;
			cfg_tmpl_putc(&s, '.');
		}
		if (digits > 0)
			cfg_tmpl_putn(&s, '0', (size_t)digits);
		cfg_tmpl_put(&s, tail, tail_n);
		fc_buf_free(&t.b);
		t = s;
		num = (char *)t.b.data;
		n = t.b.len;
	}
	if (p->f.plus || num[0] != '+') {
		if (p->f.zero && !p->f.minus && p->f.wid_present && (size_t)p->f.wid > n) {
			cfg_tmpl_putc(p->w, num[0]);
			write_padding(p, (long)((size_t)p->f.wid - n));
			cfg_tmpl_put(p->w, num + 1, n - 1);
		} else {
			pad(p, num, n);
		}
	} else {
		pad(p, num + 1, n - 1);
	}
	fc_buf_free(&t.b);
}

/* --- print.go --------------------------------------------------------------------- */

static void put_verb(struct pp *p, int32_t verb)
{
	cfg_tmpl_put_rune(p->w, verb);
}

/* %!verb(type=value) */
static void bad_verb(struct pp *p, int32_t verb, const struct tmpl_val *v)
{
	cfg_tmpl_puts(p->w, "%!");
	put_verb(p, verb);
	cfg_tmpl_putc(p->w, '(');
	if (v != NULL && v->k != TV_NIL && v->k != TV_INVALID) {
		cfg_tmpl_puts(p->w, cfg_tmpl_type_name(v));
		cfg_tmpl_putc(p->w, '=');
		print_arg(p, v, 'v');
	} else {
		cfg_tmpl_puts(p->w, "<nil>");
	}
	cfg_tmpl_putc(p->w, ')');
}

static void fmt_0x64(struct pp *p, uint64_t v, bool leading0x)
{
	bool sharp = p->f.sharp;

	p->f.sharp = leading0x;
	fmt_integer(p, v, 16, false, 'v', ldigits);
	p->f.sharp = sharp;
}

static void pp_fmt_integer(struct pp *p, const struct tmpl_val *a, int32_t verb)
{
	bool is_signed = a->k == TV_INT;
	uint64_t v = is_signed ? (uint64_t)a->i : a->u8;

	switch (verb) {
	case 'v':
		if (p->f.sharp_v && !is_signed)
			fmt_0x64(p, v, true);
		else
			fmt_integer(p, v, 10, is_signed, verb, ldigits);
		break;
	case 'd': fmt_integer(p, v, 10, is_signed, verb, ldigits); break;
	case 'b': fmt_integer(p, v, 2, is_signed, verb, ldigits); break;
	case 'o':
	case 'O': fmt_integer(p, v, 8, is_signed, verb, ldigits); break;
	case 'x': fmt_integer(p, v, 16, is_signed, verb, ldigits); break;
	case 'X': fmt_integer(p, v, 16, is_signed, verb, udigits); break;
	case 'c': fmt_c(p, v); break;
	case 'q': fmt_qc(p, v); break;
	case 'U': fmt_unicode(p, v); break;
	default: bad_verb(p, verb, a); break;
	}
}

static void pp_fmt_float(struct pp *p, const struct tmpl_val *a, int32_t verb)
{
	switch (verb) {
	case 'v': fmt_float(p, a->f, 'g', -1); break;
	case 'b':
	case 'g':
	case 'G':
	case 'x':
	case 'X': fmt_float(p, a->f, (char)verb, -1); break;
	case 'f':
	case 'e':
	case 'E': fmt_float(p, a->f, (char)verb, 6); break;
	case 'F': fmt_float(p, a->f, 'f', 6); break;
	default: bad_verb(p, verb, a); break;
	}
}

static void fmt_string(struct pp *p, const struct tmpl_val *a, int32_t verb)
{
	switch (verb) {
	case 'v':
		if (p->f.sharp_v)
			fmt_q(p, a->s.p, a->s.n);
		else
			fmt_s(p, a->s.p, a->s.n);
		break;
	case 's': fmt_s(p, a->s.p, a->s.n); break;
	case 'x': fmt_sx(p, a->s.p, a->s.n, ldigits); break;
	case 'X': fmt_sx(p, a->s.p, a->s.n, udigits); break;
	case 'q': fmt_q(p, a->s.p, a->s.n); break;
	default: bad_verb(p, verb, a); break;
	}
}

static bool fail(struct pp *p, bool ok)
{
	if (!ok)
		p->failed = true;
	return ok;
}

/* printValue of the map: map[k:v k:v] (sorted), %#v map[string]string{"k":"v"} */
static void print_map(struct pp *p, const struct tmpl_val *m, int32_t verb)
{
	const struct cfg_kv *kv;
	size_t n;

	if (!fail(p, cfg_tmpl_map_entries(p->x, m->m, &kv, &n)))
		return;
	cfg_tmpl_puts(p->w, p->f.sharp_v ? "map[string]string{" : "map[");
	for (size_t i = 0; i < n; i++) {
		struct tmpl_val k = {.k = TV_STRING}, v = {.k = TV_STRING};

		if (i > 0)
			cfg_tmpl_puts(p->w, p->f.sharp_v ? ", " : " ");
		k.s.p = kv[i].key;
		k.s.n = strlen(kv[i].key);
		v.s.p = kv[i].value;
		v.s.n = strlen(kv[i].value);
		fmt_string(p, &k, verb);
		cfg_tmpl_putc(p->w, ':');
		fmt_string(p, &v, verb);
	}
	cfg_tmpl_putc(p->w, p->f.sharp_v ? '}' : ']');
}

/* printArg: one operand with one verb */
static void print_arg(struct pp *p, const struct tmpl_val *v, int32_t verb)
{
	if (v->k == TV_NIL || v->k == TV_INVALID) {
		if (verb == 'T' || verb == 'v')
			pad_string(p, "<nil>");
		else
			bad_verb(p, verb, NULL);
		return;
	}
	if (verb == 'T') {
		const char *t = cfg_tmpl_type_name(v);
		fmt_s(p, t, strlen(t));
		return;
	}
	if (verb == 'p') {
		if (v->k == TV_MAP)
			fail(p,
			     cfg_tmpl_errorf(p->x, "printf %%p of the claim map prints an address "
						   "in Go's memory; fulcrum does not support it"));
		else
			bad_verb(p, verb, v);
		return;
	}
	switch (v->k) {
	case TV_BOOL:
		if (verb == 't' || verb == 'v')
			pad_string(p, v->b ? "true" : "false");
		else
			bad_verb(p, verb, v);
		break;
	case TV_FLOAT: pp_fmt_float(p, v, verb); break;
	case TV_INT:
	case TV_UINT8: pp_fmt_integer(p, v, verb); break;
	case TV_STRING: fmt_string(p, v, verb); break;
	case TV_MAP:
		if (verb == 'w')
			bad_verb(p, verb, v);
		else
			print_map(p, v, verb);
		break;
	default: break;
	}
}

/* parsenum: a decimal number in s[start..end), at most 1e6 */
static bool parse_num(const char *s, size_t start, size_t end, int *num, size_t *newi)
{
	bool isnum = false;
	size_t i;

	*num = 0;
	for (i = start; i < end && s[i] >= '0' && s[i] <= '9'; i++) {
		if (*num > 1000000) {
			*num = 0;
			*newi = end;
			return false;
		}
		*num = *num * 10 + (s[i] - '0');
		isnum = true;
	}
	*newi = i;
	return isnum;
}

/* argNumber: an explicit argument index [n] at format[*i] */
static bool arg_number(struct pp *p, size_t *arg_num, const char *s, size_t end, size_t *i,
		       size_t nargs)
{
	size_t j, newi;
	int idx;

	if (*i >= end || s[*i] != '[')
		return false;
	p->reordered = true;
	if (end - *i < 3) {
		p->good_arg_num = false;
		*i += 1;
		return false;
	}
	for (j = *i + 1; j < end; j++) {
		if (s[j] != ']')
			continue;
		if (!parse_num(s, *i + 1, j, &idx, &newi) || newi != j) {
			p->good_arg_num = false;
			*i = j + 1;
			return false;
		}
		*i = j + 1;
		if (idx - 1 >= 0 && (size_t)(idx - 1) < nargs) {
			*arg_num = (size_t)(idx - 1);
			return true;
		}
		p->good_arg_num = false;
		return true;
	}
	p->good_arg_num = false;
	*i += 1;
	return false;
}

/* intFromArg: a * width or precision */
static bool int_from_arg(const struct tmpl_val *a, size_t nargs, size_t *arg_num, int *num)
{
	bool is_int = false;
	int64_t n = 0;

	*num = 0;
	if (*arg_num >= nargs)
		return false;
	if (a[*arg_num].k == TV_INT) {
		n = a[*arg_num].i;
		is_int = true;
	} else if (a[*arg_num].k == TV_UINT8) {
		n = a[*arg_num].u8;
		is_int = true;
	}
	(*arg_num)++;
	if (n > 1000000 || n < -1000000)
		return false;
	*num = (int)n;
	return is_int;
}

/* The flags, width, precision and argument index of one verb; *i is just
 * after the '%'. Returns false when the format ends before the verb. */
static bool parse_spec(struct pp *p, const char *s, size_t end, size_t *i, size_t *arg_num,
		       const struct tmpl_val *a, size_t nargs, bool *after_index)
{
	*after_index = arg_number(p, arg_num, s, end, i, nargs);
	if (*i < end && s[*i] == '*') {
		(*i)++;
		p->f.wid_present = int_from_arg(a, nargs, arg_num, &p->f.wid);
		if (!p->f.wid_present)
			cfg_tmpl_puts(p->w, "%!(BADWIDTH)");
		if (p->f.wid < 0) {
			p->f.wid = -p->f.wid;
			p->f.minus = true;
			p->f.zero = false;
		}
		*after_index = false;
	} else {
		p->f.wid_present = parse_num(s, *i, end, &p->f.wid, i);
		if (*after_index && p->f.wid_present)
			p->good_arg_num = false;
	}
	if (*i + 1 < end && s[*i] == '.') {
		(*i)++;
		if (*after_index)
			p->good_arg_num = false;
		*after_index = arg_number(p, arg_num, s, end, i, nargs);
		if (*i < end && s[*i] == '*') {
			(*i)++;
			p->f.prec_present = int_from_arg(a, nargs, arg_num, &p->f.prec);
			if (p->f.prec < 0) {
				p->f.prec = 0;
				p->f.prec_present = false;
			}
			if (!p->f.prec_present)
				cfg_tmpl_puts(p->w, "%!(BADPREC)");
			*after_index = false;
		} else {
			p->f.prec_present = parse_num(s, *i, end, &p->f.prec, i);
			if (!p->f.prec_present) {
				p->f.prec = 0;
				p->f.prec_present = true;
			}
		}
	}
	if (!*after_index)
		*after_index = arg_number(p, arg_num, s, end, i, nargs);
	if (*i >= end) {
		cfg_tmpl_puts(p->w, "%!(NOVERB)");
		return false;
	}
	return true;
}

/* The flags right after '%'; a lower-case verb met there with an argument
 * left is printed at once (doPrintf's simpleFormat). Returns true if it
 * printed one. */
static bool simple_format(struct pp *p, const char *s, size_t end, size_t *i, size_t *arg_num,
			  const struct tmpl_val *a, size_t nargs)
{
	for (; *i < end; (*i)++) {
		char c = s[*i];
		switch (c) {
		case '#': p->f.sharp = true; break;
		case '0': p->f.zero = true; break;
		case '+': p->f.plus = true; break;
		case '-': p->f.minus = true; break;
		case ' ': p->f.space = true; break;
		default:
			if (c >= 'a' && c <= 'z' && *arg_num < nargs) {
				if (c == 'v' || c == 'w') {
					p->f.sharp_v = p->f.sharp;
					p->f.sharp = false;
					p->f.plus_v = p->f.plus;
					p->f.plus = false;
				}
				print_arg(p, &a[*arg_num], c);
				(*arg_num)++;
				(*i)++;
				return true;
			}
			return false;
		}
	}
	return false;
}

static void extra_args(struct pp *p, const struct tmpl_val *a, size_t nargs, size_t arg_num)
{
	memset(&p->f, 0, sizeof(p->f));
	cfg_tmpl_puts(p->w, "%!(EXTRA ");
	for (size_t k = arg_num; k < nargs; k++) {
		if (k > arg_num)
			cfg_tmpl_puts(p->w, ", ");
		if (a[k].k == TV_NIL || a[k].k == TV_INVALID) {
			cfg_tmpl_puts(p->w, "<nil>");
			continue;
		}
		cfg_tmpl_puts(p->w, cfg_tmpl_type_name(&a[k]));
		cfg_tmpl_putc(p->w, '=');
		print_arg(p, &a[k], 'v');
	}
	cfg_tmpl_putc(p->w, ')');
}

/* doPrintf */
static void do_printf(struct pp *p, const char *s, size_t end, const struct tmpl_val *a,
		      size_t nargs)
{
	size_t i = 0, arg_num = 0, w;
	bool after_index = false;

	p->reordered = false;
	while (i < end && !p->failed) {
		size_t last = i;
		int32_t verb;

		p->good_arg_num = true;
		while (i < end && s[i] != '%')
			i++;
		cfg_tmpl_put(p->w, s + last, i - last);
		if (i >= end)
			break;
		i++;
		memset(&p->f, 0, sizeof(p->f));
		if (simple_format(p, s, end, &i, &arg_num, a, nargs))
			continue;
		if (!parse_spec(p, s, end, &i, &arg_num, a, nargs, &after_index))
			break;
		verb = cfg_tmpl_decode_rune(s + i, end - i, &w);
		i += w;
		if (verb == '%') {
			cfg_tmpl_putc(p->w, '%');
		} else if (!p->good_arg_num) {
			cfg_tmpl_puts(p->w, "%!");
			put_verb(p, verb);
			cfg_tmpl_puts(p->w, "(BADINDEX)");
		} else if (arg_num >= nargs) {
			cfg_tmpl_puts(p->w, "%!");
			put_verb(p, verb);
			cfg_tmpl_puts(p->w, "(MISSING)");
		} else {
			if (verb == 'v' || verb == 'w') {
				p->f.sharp_v = p->f.sharp;
				p->f.sharp = false;
				p->f.plus_v = p->f.plus;
				p->f.plus = false;
			}
			print_arg(p, &a[arg_num], verb);
			arg_num++;
		}
	}
	if (!p->failed && !p->reordered && arg_num < nargs)
		extra_args(p, a, nargs, arg_num);
}

/*
 * fmt.Sprintf(format, argv...) appended to w. Returns false (error set)
 * only for what fulcrum cannot reproduce (see the top of this file) or a
 * map that cannot be enumerated; w->full tells if the output was cut.
 */
bool cfg_tmpl_sprintf(struct tmpl_exec *x, struct tmpl_w *w, struct tmpl_str format,
		      const struct tmpl_val *argv, size_t argc)
{
	struct pp p = {.x = x, .w = w};
	size_t before = w->b.len;

	if (!cfg_tmpl_charge(x, format.n / 16 + argc))
		return false;
	do_printf(&p, format.p, format.n, argv, argc);
	return !p.failed && cfg_tmpl_charge(x, (w->b.len - before) / 64);
}

/*
 * fmt.Sprint (spaces between operands when neither is a string) or, with
 * ln, fmt.Sprintln (spaces always, a newline at the end), appended to w.
 * Returns false (error set) as cfg_tmpl_sprintf.
 */
bool cfg_tmpl_sprint(struct tmpl_exec *x, struct tmpl_w *w, const struct tmpl_val *argv,
		     size_t argc, bool ln)
{
	struct pp p = {.x = x, .w = w};
	size_t before = w->b.len;
	bool prev_string = false;

	if (!cfg_tmpl_charge(x, argc))
		return false;
	for (size_t i = 0; i < argc && !p.failed; i++) {
		bool is_string = argv[i].k == TV_STRING;
		if (i > 0 && (ln || (!is_string && !prev_string)))
			cfg_tmpl_putc(w, ' ');
		print_arg(&p, &argv[i], 'v');
		prev_string = is_string;
	}
	if (ln)
		cfg_tmpl_putc(w, '\n');
	return !p.failed && cfg_tmpl_charge(x, (w->b.len - before) / 64);
}
