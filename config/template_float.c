/*
 * config: strconv.AppendFloat(v, fmt, prec, 64) for the claim templates'
 * fmt (printf "%g", "%.2f", "%x" ... of float constants, and {{1.5}}).
 *
 * The decimal digits come from the C library, which rounds exactly (the
 * binary value, ties to even) as Go does: "%.*e" for a number of
 * significant digits, "%.*f" for digits after the point, and the shortest
 * digit string that reads back as the same double for Go's "shortest"
 * precision (-1). The layout around the digits (formatDigits, fmtE, fmtF,
 * fmtB, fmtX) follows Go's internal/strconv/ftoa.go.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

/* decimalSlice: digits d[0..nd) with the decimal point before d[dp]. */
struct digs {
	char *d;
	int nd, dp;
};

/* Digits of a "%.*e" rendering of |v| (v not zero): "d.ddde±x". */
static void digs_from_e(struct digs *g, const char *s)
{
	const char *e = strchr(s, 'e');
	int nd = 0;

	for (const char *p = s; p < e; p++) {
		if (*p != '.')
			g->d[nd++] = *p;
	}
	g->dp = atoi(e + 1) + 1;
	while (nd > 0 && g->d[nd - 1] == '0')
		nd--;
	g->nd = nd;
}

/* n significant digits of |v| (v not zero), rounded to nearest even. */
static void digs_sig(struct digs *g, double v, int n)
{
	size_t size = (size_t)n + 32;
	char *s = fc_xmalloc(size);

	snprintf(s, size, "%.*e", n - 1, fabs(v));
	g->d = fc_xmalloc(size);
	digs_from_e(g, s);
	free(s);
}

/* The shortest digits that read back as v (v not zero). */
static void digs_shortest(struct digs *g, double v)
{
	char s[40];
	int n;

	for (n = 1; n < 17; n++) {
		snprintf(s, sizeof(s), "%.*e", n - 1, fabs(v));
		if (strtod(s, NULL) == fabs(v))
			break;
	}
	snprintf(s, sizeof(s), "%.*e", n - 1, fabs(v));
	g->d = fc_xmalloc(40);
	digs_from_e(g, s);
}

/* The digits of |v| rounded to prec places after the point. */
static void digs_fixed(struct digs *g, double v, int prec)
{
	size_t size = (size_t)prec + 400;
	char *s = fc_xmalloc(size);
	int nd = 0, dp = 0;
	bool point = false, lead = true;

	snprintf(s, size, "%.*f", prec, fabs(v));
	g->d = fc_xmalloc(size);
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			point = true;
			continue;
		}
		if (lead && *p == '0') {
			if (point)
				dp--;
			continue;
		}
		if (lead && !point)
			dp = 0;
		lead = false;
		g->d[nd++] = *p;
		if (!point)
			dp++;
	}
	while (nd > 0 && g->d[nd - 1] == '0')
		nd--;
	g->nd = nd;
	g->dp = nd == 0 ? 0 : dp;
	free(s);
}

/* %e: d.ddddde±dd */
static void fmt_e(struct tmpl_w *w, bool neg, const struct digs *d, int prec, char fmt)
{
	int exp = d->nd == 0 ? 0 : d->dp - 1;
	char e[16];

	if (neg)
		cfg_tmpl_putc(w, '-');
	cfg_tmpl_putc(w, d->nd != 0 ? d->d[0] : '0');
	if (prec > 0) {
		int i = 1, m = d->nd < prec + 1 ? d->nd : prec + 1;
		cfg_tmpl_putc(w, '.');
		if (i < m) {
			cfg_tmpl_put(w, d->d + i, (size_t)(m - i));
			i = m;
		}
		if (i <= prec)
			cfg_tmpl_putn(w, '0', (size_t)(prec - i + 1));
	}
	cfg_tmpl_putc(w, fmt);
	cfg_tmpl_putc(w, exp < 0 ? '-' : '+');
	snprintf(e, sizeof(e), "%02d", exp < 0 ? -exp : exp);
	cfg_tmpl_puts(w, e);
}

/* %f: ddddd.ddddd */
static void fmt_f(struct tmpl_w *w, bool neg, const struct digs *d, int prec)
{
	if (neg)
		cfg_tmpl_putc(w, '-');
	if (d->dp > 0) {
		int m = d->nd < d->dp ? d->nd : d->dp;
		cfg_tmpl_put(w, d->d, (size_t)m);
		if (m < d->dp)
			cfg_tmpl_putn(w, '0', (size_t)(d->dp - m));
	} else {
		cfg_tmpl_putc(w, '0');
	}
	if (prec > 0) {
		cfg_tmpl_putc(w, '.');
		for (int i = 0; i < prec; i++) {
			int j = d->dp + i;
			cfg_tmpl_putc(w, j >= 0 && j < d->nd ? d->d[j] : '0');
		}
	}
}

/* formatDigits */
static void format_digits(struct tmpl_w *w, bool shortest, bool neg, const struct digs *d, int prec,
			  char fmt)
{
	int eprec, exp;

	switch (fmt) {
	case 'e':
	case 'E': fmt_e(w, neg, d, prec, fmt); return;
	case 'f': fmt_f(w, neg, d, prec); return;
	default: /* g, G */
		eprec = prec;
		if (eprec > d->nd && d->nd >= d->dp)
			eprec = d->nd;
		if (shortest)
			eprec = 6;
		exp = d->dp - 1;
		if (exp < -4 || exp >= eprec) {
			if (prec > d->nd)
				prec = d->nd;
			fmt_e(w, neg, d, prec - 1, (char)(fmt + 'e' - 'g'));
			return;
		}
		if (prec > d->dp)
			prec = d->nd;
		fmt_f(w, neg, d, prec - d->dp > 0 ? prec - d->dp : 0);
	}
}

/* %b: mantissa p exponent, decimal */
static void fmt_b(struct tmpl_w *w, bool neg, uint64_t mant, int exp)
{
	char s[48];

	snprintf(s, sizeof(s), "%s%llup%s%d", neg ? "-" : "", (unsigned long long)mant,
		 exp - 52 >= 0 ? "+" : "", exp - 52);
	cfg_tmpl_puts(w, s);
}

/* %x: -0x1.23abcp+20 */
static void fmt_x(struct tmpl_w *w, int prec, char fmt, bool neg, uint64_t mant, int exp)
{
	const char *hex = fmt == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	char s[16];

	if (mant == 0)
		exp = 0;
	mant <<= 60 - 52;
	while (mant != 0 && (mant & (1ULL << 60)) == 0) {
		mant <<= 1;
		exp--;
	}
	if (prec >= 0 && prec < 15) {
		unsigned shift = (unsigned)prec * 4;
		uint64_t extra = (mant << shift) & ((1ULL << 60) - 1);
		mant >>= 60 - shift;
		if ((extra | (mant & 1)) > (1ULL << 59))
			mant++;
		mant <<= 60 - shift;
		if (mant & (1ULL << 61)) {
			mant >>= 1;
			exp++;
		}
	}
	if (neg)
		cfg_tmpl_putc(w, '-');
	cfg_tmpl_putc(w, '0');
	cfg_tmpl_putc(w, fmt);
	cfg_tmpl_putc(w, (char)('0' + ((mant >> 60) & 1)));
	mant <<= 4;
	if (prec < 0 && mant != 0) {
		cfg_tmpl_putc(w, '.');
		while (mant != 0) {
			cfg_tmpl_putc(w, hex[(mant >> 60) & 15]);
			mant <<= 4;
		}
	} else if (prec > 0) {
		cfg_tmpl_putc(w, '.');
		for (int i = 0; i < prec; i++) {
			cfg_tmpl_putc(w, hex[(mant >> 60) & 15]);
			mant <<= 4;
		}
	}
	cfg_tmpl_putc(w, fmt == 'X' ? 'P' : 'p');
	cfg_tmpl_putc(w, exp < 0 ? '-' : '+');
	snprintf(s, sizeof(s), "%02d", exp < 0 ? -exp : exp);
	cfg_tmpl_puts(w, s);
}

/*
 * strconv.AppendFloat(v, fmt, prec, 64): fmt is one of b e E f g G x X and
 * prec -1 asks for the shortest digits that identify v. The result is
 * appended to w.
 */
void cfg_tmpl_format_float(struct tmpl_w *w, double v, char fmt, int prec)
{
	uint64_t bits, mant;
	struct digs d = {NULL, 0, 0};
	bool neg, shortest = prec < 0;
	int exp;

	memcpy(&bits, &v, sizeof(bits));
	neg = bits >> 63 != 0;
	exp = (int)(bits >> 52) & 0x7ff;
	mant = bits & ((1ULL << 52) - 1);
	if (exp == 0x7ff) {
		cfg_tmpl_puts(w, mant != 0 ? "NaN" : neg ? "-Inf" : "+Inf");
		return;
	}
	if (exp == 0)
		exp++;
	else
		mant |= 1ULL << 52;
	exp -= 1023;
	if (fmt == 'b') {
		fmt_b(w, neg, mant, exp);
		return;
	}
	if (fmt == 'x' || fmt == 'X') {
		fmt_x(w, prec, fmt, neg, mant, exp);
		return;
	}
	if (mant == 0) {
		format_digits(w, shortest, neg, &d, prec, fmt);
		return;
	}
	if (shortest) {
		digs_shortest(&d, v);
		if (fmt == 'e' || fmt == 'E')
			prec = d.nd - 1 > 0 ? d.nd - 1 : 0;
		else if (fmt == 'f')
			prec = d.nd - d.dp > 0 ? d.nd - d.dp : 0;
		else
			prec = d.nd;
	} else if (fmt == 'f') {
		digs_fixed(&d, v, prec);
	} else {
		if ((fmt == 'g' || fmt == 'G') && prec == 0)
			prec = 1;
		digs_sig(&d, v, fmt == 'e' || fmt == 'E' ? prec + 1 : prec);
	}
	format_digits(w, shortest, neg, &d, prec, fmt);
	free(d.d);
}
