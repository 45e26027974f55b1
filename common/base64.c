/*
 * base64 and base64url (RFC 4648). Encoding uses OpenSSL's EVP_EncodeBlock;
 * decoding is our own because OpenSSL's decoder accepts neither the URL-safe
 * alphabet nor the strictness a JWS needs (RFC 7515 2: no padding, no
 * whitespace, one encoding per value).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common.h"

enum { B64_STD = 1, B64_URL = 2 };

/* Value of c in the alphabets allowed by `which`, or -1. */
static int b64_value(unsigned char c, int which)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if ((which & B64_STD) && c == '+')
		return 62;
	if ((which & B64_STD) && c == '/')
		return 63;
	if ((which & B64_URL) && c == '-')
		return 62;
	if ((which & B64_URL) && c == '_')
		return 63;
	return -1;
}

/*
 * Decode unpadded data in the given alphabets. strict_bits demands that the
 * unused low bits of the last character are zero (canonical encoding).
 */
static bool b64_decode(const char *in, size_t inlen, int which, bool strict_bits, uint8_t **out,
		       size_t *outlen)
{
	uint8_t *res;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (inlen % 4 == 1)
		return false;
	res = fc_xmalloc(inlen / 4 * 3 + 3 + 1);
	for (size_t i = 0; i < inlen; i++) {
		int v = b64_value((unsigned char)in[i], which);
		if (v < 0) {
			free(res);
			return false;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			res[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (strict_bits && acc != 0) {
		free(res);
		return false;
	}
	res[o] = '\0';
	*out = res;
	*outlen = o;
	return true;
}

/* --- strict base64url: table-driven, since every token pays it ---------------- */

/* value + 1 of each base64url character; 0 for anything else */
static const uint8_t b64url_value[256] = {
	['A'] = 1,  ['B'] = 2,	['C'] = 3,  ['D'] = 4,	['E'] = 5,  ['F'] = 6,	['G'] = 7,
	['H'] = 8,  ['I'] = 9,	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
	['_'] = 64,
};

/*
 * Strict base64url without padding (RFC 7515 2) into out, which must hold
 * FC_B64URL_DECODED_MAX(n) bytes. False on any deviation from the one
 * canonical encoding: padding, a character outside the alphabet, a length
 * of 1 mod 4, non-zero trailing bits.
 */
bool fc_b64url_decode_into(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, full = n / 4;
	int a, b, c, d;

	if (n % 4 == 1)
		return false;
	for (size_t i = 0; i < full; i++, s += 4) {
		a = b64url_value[s[0]] - 1;
		b = b64url_value[s[1]] - 1;
		c = b64url_value[s[2]] - 1;
		d = b64url_value[s[3]] - 1;
		if ((a | b | c | d) < 0)
			return false;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)((b & 0xf) << 4 | c >> 2);
		out[o++] = (uint8_t)((c & 0x3) << 6 | d);
	}
	switch (n % 4) {
	case 2:
		a = b64url_value[s[0]] - 1;
		b = b64url_value[s[1]] - 1;
		if ((a | b) < 0 || (b & 0xf) != 0)
			return false;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		break;
	case 3:
		a = b64url_value[s[0]] - 1;
		b = b64url_value[s[1]] - 1;
		c = b64url_value[s[2]] - 1;
		if ((a | b | c) < 0 || (c & 0x3) != 0)
			return false;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)((b & 0xf) << 4 | c >> 2);
		break;
	}
	*outlen = o;
	return true;
}

/*
 * The same into a fresh NUL-terminated buffer (caller frees *out).
 */
bool fc_b64url_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	uint8_t *res = fc_xmalloc(FC_B64URL_DECODED_MAX(inlen) + 1);

	if (!fc_b64url_decode_into(in, inlen, res, outlen)) {
		free(res);
		return false;
	}
	res[*outlen] = '\0';
	*out = res;
	return true;
}

/*
 * protojson's lenient rule: standard or URL-safe, padded or not. Padding, if
 * present, must be complete and only at the end.
 */
bool fc_b64_decode_any(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	size_t pad = 0;

	while (pad < 2 && inlen > pad && in[inlen - 1 - pad] == '=')
		pad++;
	if (pad > 0 && inlen % 4 != 0)
		return false;
	return b64_decode(in, inlen - pad, B64_STD | B64_URL, false, out, outlen);
}

char *fc_b64_encode(const uint8_t *in, size_t inlen)
{
	size_t cap = (inlen + 2) / 3 * 4 + 1;
	char *res = fc_xmalloc(cap);

	/* EVP_EncodeBlock takes an int length; our inputs are far below that. */
	EVP_EncodeBlock((unsigned char *)res, in, (int)inlen);
	return res;
}

char *fc_b64url_encode(const uint8_t *in, size_t inlen)
{
	char *res = fc_b64_encode(in, inlen);
	size_t n = strlen(res);

	while (n > 0 && res[n - 1] == '=')
		res[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (res[i] == '+')
			res[i] = '-';
		else if (res[i] == '/')
			res[i] = '_';
	}
	return res;
}

char *fc_hex_encode(const uint8_t *in, size_t inlen)
{
	static const char digits[] = "0123456789abcdef";
	char *res = fc_xmalloc(inlen * 2 + 1);

	for (size_t i = 0; i < inlen; i++) {
		res[2 * i] = digits[in[i] >> 4];
		res[2 * i + 1] = digits[in[i] & 15];
	}
	res[inlen * 2] = '\0';
	return res;
}

/*
 * The value of one hexadecimal digit (either case), or -1 for any other
 * character.
 */
int fc_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
