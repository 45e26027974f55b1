/*
 * sct_fuzz: the SCT parsers of ct/sct.c on untrusted bytes: one
 * serialized SCT, an SCT list, a DigitallySigned and the add-chain JSON
 * answer, with the round trip they promise: what ct_sct_parse accepts,
 * ct_sct_encode writes back byte for byte (and likewise for the list).
 *
 * Seeds: fuzz/corpus/sct.
 */
#include <stdlib.h>
#include <string.h>

#include "ct.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ct_sct sct = {0}, *list = NULL;
	struct fc_buf b;
	size_t count = 0;
	uint8_t h, a, *sig = NULL;
	size_t sig_len = 0;

	fc_buf_init(&b, 0);
	if (ct_sct_parse(d, n, &sct, NULL) == FC_OK) {
		FUZZ_CHECK(ct_sct_encode(&sct, &b) == FC_OK);
		FUZZ_CHECK(b.len == n && memcmp(b.data, d, n) == 0);
		ct_sct_clear(&sct);
	}
	fc_buf_reset(&b);
	if (ct_sct_list_parse(d, n, &list, &count, NULL) == FC_OK) {
		FUZZ_CHECK(count >= 1 && count <= CT_MAX_SCT_LIST);
		FUZZ_CHECK(ct_sct_list_encode(list, count, &b) == FC_OK);
		FUZZ_CHECK(b.len == n && memcmp(b.data, d, n) == 0);
		for (size_t i = 0; i < count; i++)
			ct_sct_clear(&list[i]);
		free(list);
	}
	if (ct_digitally_signed_parse(d, n, &h, &a, &sig, &sig_len, NULL) == FC_OK)
		FUZZ_CHECK(n == 4 + sig_len);
	free(sig);
	if (ct_sct_from_json(d, n, &sct, NULL) == FC_OK) {
		char *text = ct_sct_to_json(&sct);
		struct ct_sct again = {0};
		FUZZ_CHECK(ct_sct_from_json((const uint8_t *)text, strlen(text), &again, NULL) ==
			   FC_OK);
		FUZZ_CHECK(again.timestamp == sct.timestamp && again.sig_len == sct.sig_len &&
			   again.ext_len == sct.ext_len);
		ct_sct_clear(&again);
		free(text);
		ct_sct_clear(&sct);
	}
	fc_buf_free(&b);
	return 0;
}
