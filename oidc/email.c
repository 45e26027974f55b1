/*
 * email.c: the email address syntax check Fulcio applies, a port of
 * govalidator.IsEmail (its rxEmail regular expression written out as code,
 * matching rune by rune as Go's regexp does on UTF-8).
 */
#include <stdint.h>
#include <string.h>

#include "oidc_int.h"

/* Decode one rune as Go does: an invalid sequence is U+FFFD of width 1. */
static size_t utf8_rune(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0) {
		*cp = 0xFFFD;
		return 0;
	}
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (n < len) {
		*cp = 0xFFFD;
		return 1;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		c = c << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF)) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c;
	return len;
}

/*
 * govalidator's Email pattern, written out as code. Classes: U is the Unicode
 * ranges U+00A0-U+D7FF, U+F900-U+FDCF, U+FDF0-U+FFEF. The local part is a
 * dot-atom or an RFC 5322 quoted string; the domain is
 * (L\.)+T\.? with L = A | A M* A and T = B | B N* B, where A is alnum or U,
 * M adds - . _ ~, B is a letter or U and N is alnum - _ ~ U. Since L may
 * contain dots, (L\.)+ is any string that starts and ends with an A and
 * continues with M; T follows the last dot.
 */
static bool email_u(uint32_t c)
{
	return (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
	       (c >= 0xFDF0 && c <= 0xFFEF);
}

static bool email_alpha(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool email_alnum(uint32_t c)
{
	return email_alpha(c) || (c >= '0' && c <= '9');
}

static bool email_atext(uint32_t c)
{
	return email_alnum(c) || (c < 0x80 && c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", (int)c)) ||
	       email_u(c);
}

static bool email_dot_atom(const unsigned char *s, size_t n)
{
	size_t i = 0, atom = 0;
	uint32_t c;

	while (i < n) {
		size_t w = utf8_rune(s + i, n - i, &c);
		if (c == '.') {
			if (atom == 0)
				return false;
			atom = 0;
		} else if (email_atext(c)) {
			atom++;
		} else {
			return false;
		}
		i += w;
	}
	return atom > 0;
}

static bool email_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static bool email_quoted(const unsigned char *s, size_t n)
{
	size_t i = 1;
	uint32_t c;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	n--; /* the closing quote */
	while (i < n) {
		if (email_wsp(s[i]) || s[i] == '\r') {
			/* FWS = ((WSP)* CRLF)? (WSP)+ */
			size_t j = i, k;
			while (j < n && email_wsp(s[j]))
				j++;
			if (j + 1 < n && s[j] == '\r' && s[j + 1] == '\n') {
				k = j + 2;
				j = k;
				while (j < n && email_wsp(s[j]))
					j++;
				if (j == k)
					return false;
			} else if (j == i) {
				return false;
			}
			i = j;
			continue;
		}
		size_t w = utf8_rune(s + i, n - i, &c);
		if (c == '\\') {
			i += w;
			if (i >= n)
				return false;
			w = utf8_rune(s + i, n - i, &c);
			if (!((c >= 0x01 && c <= 0x09) || c == 0x0b || c == 0x0c ||
			      (c >= 0x0d && c <= 0x7f) || email_u(c)))
				return false;
		} else if (!((c >= 0x01 && c <= 0x08) || c == 0x0b || c == 0x0c ||
			     (c >= 0x0e && c <= 0x1f) || c == 0x7f || c == 0x21 ||
			     (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || email_u(c))) {
			return false;
		}
		i += w;
	}
	return true;
}

/* Runes of s[0..n) as a sequence check: first in `first`, last in `last`,
 * the rest in `mid`; a single rune must be in `first` (and `last`). */
static bool email_label(const unsigned char *s, size_t n, bool (*first)(uint32_t),
			bool (*mid)(uint32_t))
{
	size_t i = 0, count = 0;
	uint32_t c, prev = 0;

	if (n == 0)
		return false;
	while (i < n) {
		size_t w = utf8_rune(s + i, n - i, &c);
		if (count == 0 ? !first(c) : !mid(c) && !first(c))
			return false;
		prev = c;
		count++;
		i += w;
	}
	return first(prev);
}

static bool email_a(uint32_t c)
{
	return email_alnum(c) || email_u(c);
}

static bool email_m(uint32_t c)
{
	return email_a(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool email_b(uint32_t c)
{
	return email_alpha(c) || email_u(c);
}

static bool email_n(uint32_t c)
{
	return email_a(c) || c == '-' || c == '_' || c == '~';
}

/*
 * govalidator.IsEmail (asaskevich/govalidator validator.go, the rxEmail
 * pattern), which Fulcio's pkg/identity/email and pkg/identity/username
 * apply: true if str is a syntactically valid address as that pattern
 * reads it. str is NUL-terminated UTF-8 (an invalid byte is U+FFFD, as in
 * Go); nothing is allocated.
 */
bool oidc_is_email(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);
	const unsigned char *at = NULL, *dot = NULL;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '@')
			at = s + i;
	}
	if (at == NULL)
		return false;
	size_t local_n = (size_t)(at - s);
	if (!email_dot_atom(s, local_n) && !email_quoted(s, local_n))
		return false;
	const unsigned char *d = at + 1;
	size_t dn = n - local_n - 1;
	if (dn > 0 && d[dn - 1] == '.')
		dn--;
	for (size_t i = 0; i < dn; i++) {
		if (d[i] == '.')
			dot = d + i;
	}
	if (dot == NULL)
		return false;
	return email_label(d, (size_t)(dot - d), email_a, email_m) &&
	       email_label(dot + 1, dn - (size_t)(dot - d) - 1, email_b, email_n);
}
