/*
 * b64_fuzz: the base64 decoders (common/base64.c): strict base64url of
 * RFC 7515 2 (fc_b64url_decode) and protojson's lenient decoding
 * (fc_b64_decode_any), with the round trips they promise:
 *   - a strict decode succeeds only on the one canonical encoding, so
 *     fc_b64url_encode(decode(x)) == x;
 *   - what the strict decoder accepts, the lenient one accepts the same way;
 *   - decode(encode(x)) == x for both encoders, the input taken as bytes.
 *
 * Seeds: fuzz/corpus/b64.
 */
#include <string.h>

#include "fuzz.h"

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *in = (const char *)d;
	uint8_t *strict = NULL, *lenient = NULL, *back = NULL;
	size_t strict_len = 0, lenient_len = 0, back_len = 0;
	char *enc = NULL;

	if (fc_b64url_decode(in, n, &strict, &strict_len)) {
		FUZZ_CHECK(strict_len == n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
		FUZZ_CHECK(strict[strict_len] == '\0');
		enc = fc_b64url_encode(strict, strict_len);
		FUZZ_CHECK(strlen(enc) == n && memcmp(enc, in, n) == 0);
		free(enc);
		enc = NULL;
		FUZZ_CHECK(fc_b64_decode_any(in, n, &lenient, &lenient_len));
		FUZZ_CHECK(same(strict, strict_len, lenient, lenient_len));
		free(lenient);
		lenient = NULL;
	}
	if (fc_b64_decode_any(in, n, &lenient, &lenient_len)) {
		FUZZ_CHECK(lenient[lenient_len] == '\0');
		/* the canonical spellings of the same bytes decode to them */
		enc = fc_b64_encode(lenient, lenient_len);
		FUZZ_CHECK(fc_b64_decode_any(enc, strlen(enc), &back, &back_len));
		FUZZ_CHECK(same(lenient, lenient_len, back, back_len));
		free(back);
		back = NULL;
		free(enc);
		enc = fc_b64url_encode(lenient, lenient_len);
		FUZZ_CHECK(fc_b64url_decode(enc, strlen(enc), &back, &back_len));
		FUZZ_CHECK(same(lenient, lenient_len, back, back_len));
		free(back);
		back = NULL;
		free(enc);
		enc = NULL;
	}

	/* the input as bytes: both encoders round-trip */
	enc = fc_b64url_encode(d, n);
	FUZZ_CHECK(strlen(enc) == n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0));
	FUZZ_CHECK(fc_b64url_decode(enc, strlen(enc), &back, &back_len));
	FUZZ_CHECK(same(d, n, back, back_len));
	free(back);
	back = NULL;
	free(enc);
	enc = fc_b64_encode(d, n);
	FUZZ_CHECK(strlen(enc) == (n + 2) / 3 * 4);
	FUZZ_CHECK(fc_b64_decode_any(enc, strlen(enc), &back, &back_len));
	FUZZ_CHECK(same(d, n, back, back_len));

	free(back);
	free(enc);
	free(strict);
	free(lenient);
	return 0;
}
