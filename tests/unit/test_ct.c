/*
 * Unit tests of ct/ (the RFC 6962 wire format and the CA's CT client): SCT
 * serialisation and its refusals, the RFC 6962 3.2 signed data against
 * hand-built bytes, the SCT list (3.3), the add-chain JSON, SCT verification with keys made here,
 * durations, and the whole precert -> add-pre-chain -> final certificate
 * path of ca/authority.c against an in-process log, checked independently
 * with OpenSSL's own CT code (tests/tools/ct_oracle.h).
 */
#include <jansson.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tools/ct_oracle.h"
#include "ca_int.h"
#include "check.h"
#include "ct.h"

static const uint8_t ext8[8] = {0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x10, 0x92};

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v + i);
}

static struct ct_sct make_sct(size_t sig_len, bool with_ext)
{
	struct ct_sct s = {0};

	fill(s.log_id, 32, 0x10);
	s.timestamp = 0x0000019a077c225cULL;
	if (with_ext) {
		s.extensions = malloc(8);
		memcpy(s.extensions, ext8, 8);
		s.ext_len = 8;
	}
	s.hash_alg = CT_HASH_SHA256;
	s.sig_alg = CT_SIG_ECDSA;
	s.sig = malloc(sig_len);
	fill(s.sig, sig_len, 0x30);
	s.sig_len = sig_len;
	return s;
}

static bool sct_equal(const struct ct_sct *a, const struct ct_sct *b)
{
	return a->version == b->version && memcmp(a->log_id, b->log_id, 32) == 0 &&
	       a->timestamp == b->timestamp && a->ext_len == b->ext_len &&
	       (a->ext_len == 0 || memcmp(a->extensions, b->extensions, a->ext_len) == 0) &&
	       a->hash_alg == b->hash_alg && a->sig_alg == b->sig_alg && a->sig_len == b->sig_len &&
	       memcmp(a->sig, b->sig, a->sig_len) == 0;
}

/* --- TLS encoding ------------------------------------------------------------- */

static void test_sct_roundtrip(void)
{
	struct ct_sct s = make_sct(71, true), got = {0};
	struct fc_buf b;
	struct fc_err err = {0};
	static const uint8_t head[] = {0x00, 0x10, 0x11}; /* version, log id... */

	fc_buf_init(&b, 0);
	CHECK(ct_sct_encode(&s, &b) == FC_OK);
	CHECK(b.len == 1 + 32 + 8 + 2 + 8 + 1 + 1 + 2 + 71);
	CHECK(memcmp(b.data, head, sizeof(head)) == 0);
	/* timestamp big-endian at offset 33, extensions length at 41 */
	CHECK(b.data[33] == 0x00 && b.data[35] == 0x01 && b.data[36] == 0x9a && b.data[40] == 0x5c);
	CHECK(b.data[41] == 0x00 && b.data[42] == 0x08 && memcmp(b.data + 43, ext8, 8) == 0);
	CHECK(b.data[51] == 4 && b.data[52] == 3 && b.data[53] == 0 && b.data[54] == 71);
	CHECK(ct_sct_parse(b.data, b.len, &got, &err) == FC_OK);
	CHECK(sct_equal(&s, &got));
	ct_sct_clear(&got);

	/* every truncation is refused */
	for (size_t n = 0; n < b.len; n++) {
		struct fc_err e = {0};
		CHECK(ct_sct_parse(b.data, n, &got, &e) == FC_EINPUT);
	}
	/* trailing bytes */
	fc_buf_append(&b, "\x00", 1);
	fc_err_clear(&err);
	CHECK(ct_sct_parse(b.data, b.len, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "trailing");
	b.len--;
	/* version 1 */
	b.data[0] = 1;
	fc_err_clear(&err);
	CHECK(ct_sct_parse(b.data, b.len, &got, &err) == FC_EINPUT);
	CHECK_CONTAINS(err.msg, "version");
	b.data[0] = 0;
	/* an extensions length past the end */
	b.data[41] = 0xff;
	CHECK(ct_sct_parse(b.data, b.len, &got, NULL) == FC_EINPUT);
	b.data[41] = 0x00;
	/* a signature length one too long, one too short */
	b.data[54] = 72;
	CHECK(ct_sct_parse(b.data, b.len, &got, NULL) == FC_EINPUT);
	b.data[54] = 70;
	CHECK(ct_sct_parse(b.data, b.len, &got, NULL) == FC_EINPUT);
	b.data[54] = 71;
	CHECK(ct_sct_parse(b.data, b.len, &got, NULL) == FC_OK);
	ct_sct_clear(&got);

	/* empty extensions round trip too */
	{
		struct ct_sct e = make_sct(8, false), g2 = {0};
		fc_buf_reset(&b);
		CHECK(ct_sct_encode(&e, &b) == FC_OK && b.len == 1 + 32 + 8 + 2 + 4 + 8);
		CHECK(ct_sct_parse(b.data, b.len, &g2, NULL) == FC_OK && sct_equal(&e, &g2));
		CHECK(g2.extensions == NULL && g2.ext_len == 0);
		ct_sct_clear(&g2);
		ct_sct_clear(&e);
	}
	/* over-long fields are refused at encoding */
	{
		struct ct_sct big = make_sct(8, false);
		big.ext_len = 70000;
		CHECK(ct_sct_encode(&big, &b) == FC_EINPUT);
		big.ext_len = 0;
		ct_sct_clear(&big);
	}
	ct_sct_clear(&s);
	fc_buf_free(&b);
}

static void test_digitally_signed(void)
{
	static const uint8_t ds[] = {4, 3, 0, 3, 0xaa, 0xbb, 0xcc};
	uint8_t h = 0, a = 0, *sig = NULL;
	size_t len = 0;

	CHECK(ct_digitally_signed_parse(ds, sizeof(ds), &h, &a, &sig, &len, NULL) == FC_OK);
	CHECK(h == 4 && a == 3 && len == 3 && sig && sig[2] == 0xcc);
	free(sig);
	CHECK(ct_digitally_signed_parse(ds, sizeof(ds) - 1, &h, &a, &sig, &len, NULL) == FC_EINPUT);
	CHECK(ct_digitally_signed_parse(ds, 3, &h, &a, &sig, &len, NULL) == FC_EINPUT);
	{
		uint8_t longer[sizeof(ds) + 1];
		memcpy(longer, ds, sizeof(ds));
		longer[sizeof(ds)] = 0;
		CHECK(ct_digitally_signed_parse(longer, sizeof(longer), &h, &a, &sig, &len, NULL) ==
		      FC_EINPUT);
	}
}

/* --- signed data (RFC 6962 3.2) ---------------------------------------------- */

static void test_signed_data(void)
{
	uint8_t ikh[32];
	static const uint8_t tbs[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	uint8_t want[2 + 8 + 2 + 32 + 3 + 5 + 2 + 8];
	size_t o = 0;
	struct fc_buf b;

	memset(ikh, 0xaa, sizeof(ikh));
	want[o++] = 0x00; /* v1 */
	want[o++] = 0x00; /* certificate_timestamp */
	for (int i = 1; i <= 8; i++)
		want[o++] = (uint8_t)i; /* 0x0102030405060708 */
	want[o++] = 0x00;
	want[o++] = 0x01; /* precert_entry */
	memset(want + o, 0xaa, 32);
	o += 32;
	want[o++] = 0x00;
	want[o++] = 0x00;
	want[o++] = 0x05; /* TBS<1..2^24-1> */
	memcpy(want + o, tbs, 5);
	o += 5;
	want[o++] = 0x00;
	want[o++] = 0x08;
	memcpy(want + o, ext8, 8);
	o += 8;
	CHECK(o == sizeof(want));

	fc_buf_init(&b, 0);
	CHECK(ct_signed_data_precert(0x0102030405060708ULL, ikh, tbs, sizeof(tbs), ext8, 8, &b) ==
	      FC_OK);
	CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);

	/* x509 entry: entry_type 0, no issuer key hash, empty extensions */
	fc_buf_reset(&b);
	CHECK(ct_signed_data_x509(0x0102030405060708ULL, tbs, sizeof(tbs), NULL, 0, &b) == FC_OK);
	{
		static const uint8_t want_x[] = {0, 0, 1, 2, 3,	   4, 5, 6, 7, 8, 0,
						 0, 0, 0, 5, 0x30, 3, 2, 1, 5, 0, 0};
		CHECK(b.len == sizeof(want_x) && memcmp(b.data, want_x, sizeof(want_x)) == 0);
	}
	/* bounds */
	fc_buf_reset(&b);
	CHECK(ct_signed_data_precert(1, ikh, tbs, 0, NULL, 0, &b) == FC_EINPUT);
	CHECK(ct_signed_data_precert(1, ikh, tbs, sizeof(tbs), ext8, 0x10000, &b) == FC_EINPUT);
	CHECK(ct_signed_data_precert(1, NULL, tbs, sizeof(tbs), NULL, 0, &b) == FC_EINPUT);
	fc_buf_free(&b);
}

/* --- SCT list (RFC 6962 3.3) -------------------------------------------------- */

static void test_sct_list(void)
{
	/* 126-byte SCT: 47 fixed bytes + 79 signature bytes, no extensions,
	 * as in certificate-transparency.md A.1.6: 04 81 82 | 00 80 | 00 7e | 00 */
	struct ct_sct s = make_sct(79, false), *got = NULL;
	static const uint8_t want_head[] = {0x04, 0x81, 0x82, 0x00, 0x80, 0x00, 0x7e, 0x00};
	struct fc_buf b, one;
	size_t n = 0;
	struct fc_err err = {0};

	fc_buf_init(&b, 0);
	fc_buf_init(&one, 0);
	CHECK(ct_sct_encode(&s, &one) == FC_OK && one.len == 126);
	CHECK(ct_sct_list_ext_value(&s, 1, &b) == FC_OK);
	CHECK(b.len == 3 + 2 + 2 + 126 && memcmp(b.data, want_head, sizeof(want_head)) == 0);
	CHECK(memcmp(b.data + 7, one.data, one.len) == 0);
	/* the TLS list alone, and OpenSSL reads our extension value the same */
	{
		const unsigned char *p = b.data;
		STACK_OF(SCT) *sk = NULL;
		ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)b.len);
		CHECK(os != NULL && p == b.data + b.len);
		if (os) {
			p = os->data;
			sk = o2i_SCT_LIST(NULL, &p, (size_t)os->length);
			CHECK(sk != NULL && sk_SCT_num(sk) == 1);
			CHECK(sk && SCT_get_timestamp(sk_SCT_value(sk, 0)) == s.timestamp);
			SCT_LIST_free(sk);
		}
		ASN1_OCTET_STRING_free(os);
	}
	CHECK(ct_sct_list_parse(b.data + 3, b.len - 3, &got, &n, &err) == FC_OK);
	CHECK(n == 1 && got && sct_equal(&s, &got[0]));
	for (size_t i = 0; i < n; i++)
		ct_sct_clear(&got[i]);
	free(got);
	got = NULL;
	/* refusals: truncated, trailing, a wrong inner length, empty list */
	CHECK(ct_sct_list_parse(b.data + 3, b.len - 4, &got, &n, NULL) == FC_EINPUT);
	{
		uint8_t *t = malloc(b.len - 3 + 1);
		memcpy(t, b.data + 3, b.len - 3);
		t[b.len - 3] = 0;
		CHECK(ct_sct_list_parse(t, b.len - 2, &got, &n, NULL) == FC_EINPUT);
		t[3] = 0x7d; /* inner length one short: the SCT has a trailing byte */
		CHECK(ct_sct_list_parse(t, b.len - 3, &got, &n, NULL) == FC_EINPUT);
		free(t);
	}
	{
		static const uint8_t empty[] = {0x00, 0x00};
		CHECK(ct_sct_list_parse(empty, 2, &got, &n, NULL) == FC_EINPUT);
	}
	/* two SCTs */
	{
		struct ct_sct two[2] = {make_sct(70, true), make_sct(72, false)};
		fc_buf_reset(&b);
		CHECK(ct_sct_list_encode(two, 2, &b) == FC_OK);
		CHECK(ct_sct_list_parse(b.data, b.len, &got, &n, NULL) == FC_OK && n == 2);
		CHECK(got && sct_equal(&two[0], &got[0]) && sct_equal(&two[1], &got[1]));
		for (size_t i = 0; i < n; i++)
			ct_sct_clear(&got[i]);
		free(got);
		ct_sct_clear(&two[0]);
		ct_sct_clear(&two[1]);
	}
	CHECK(ct_sct_list_encode(&s, 0, &b) == FC_EINPUT);
	ct_sct_clear(&s);
	fc_buf_free(&b);
	fc_buf_free(&one);
}

/* A TLS SCT list of the given SerializedSCTs, each with its length. */
static void list_of(struct fc_buf *out, const struct fc_buf *scts, size_t n)
{
	struct fc_buf inner;

	fc_buf_init(&inner, 0);
	for (size_t i = 0; i < n; i++)
		CHECK(fc_buf_put_vec(&inner, 2, scts[i].data, scts[i].len));
	fc_buf_reset(out);
	CHECK(fc_buf_put_vec(out, 2, inner.data, inner.len));
	fc_buf_free(&inner);
}

/* A refused list leaves the outputs as they were and says why. */
static void check_list_refused(const struct fc_buf *list, const char *why)
{
	struct ct_sct *got = (struct ct_sct *)(uintptr_t)0x1;
	size_t n = 77;
	struct fc_err err = {0};

	CHECK(ct_sct_list_parse(list->data, list->len, &got, &n, &err) == FC_EINPUT);
	CHECK(got == (struct ct_sct *)(uintptr_t)0x1 && n == 77);
	CHECK(err.status == FC_EINPUT);
	CHECK_CONTAINS(err.msg, why);
}

/* Regressions: the list parser returned FC_OK without setting its outputs
 * when a valid SCT was followed by a bad one, or past 16 SCTs. */
static void test_sct_list_refusals(void)
{
	struct ct_sct s = make_sct(8, false), *got = NULL;
	struct fc_buf list, items[CT_MAX_SCT_LIST + 1];
	static const uint8_t one_byte[] = {0x00};
	size_t n = 0;

	fc_buf_init(&list, 0);
	for (size_t i = 0; i < CT_MAX_SCT_LIST + 1; i++) {
		fc_buf_init(&items[i], 0);
		CHECK(ct_sct_encode(&s, &items[i]) == FC_OK);
	}
	/* 16 SCTs are fine */
	list_of(&list, items, CT_MAX_SCT_LIST);
	CHECK(ct_sct_list_parse(list.data, list.len, &got, &n, NULL) == FC_OK);
	CHECK(n == CT_MAX_SCT_LIST && got != NULL && sct_equal(&s, &got[15]));
	for (size_t i = 0; got != NULL && i < n; i++)
		ct_sct_clear(&got[i]);
	free(got);
	/* 17 are not */
	list_of(&list, items, CT_MAX_SCT_LIST + 1);
	check_list_refused(&list, "more than 16 SCTs");
	/* a valid SCT, then one whose length runs past the list */
	list_of(&list, items, 1);
	{
		struct fc_buf bad;
		fc_buf_init(&bad, 0);
		CHECK(fc_buf_append(&bad, list.data + 2, list.len - 2)); /* the first SCT */
		CHECK(fc_buf_put_u16(&bad, 0x0100) && fc_buf_append(&bad, "\x00", 1));
		fc_buf_reset(&list);
		CHECK(fc_buf_put_vec(&list, 2, bad.data, bad.len));
		fc_buf_free(&bad);
	}
	check_list_refused(&list, "SCT 1 length is wrong");
	/* a valid SCT, then an empty SerializedSCT (<1..2^16-1>) */
	fc_buf_free(&items[1]);
	fc_buf_init(&items[1], 0);
	list_of(&list, items, 2);
	check_list_refused(&list, "SCT 1 length is wrong");
	/* a valid SCT, then a one-byte one that is not an SCT */
	CHECK(fc_buf_append(&items[1], one_byte, 1));
	list_of(&list, items, 2);
	check_list_refused(&list, "SCT is truncated");
	for (size_t i = 0; i < CT_MAX_SCT_LIST + 1; i++)
		fc_buf_free(&items[i]);
	fc_buf_free(&list);
	ct_sct_clear(&s);
}

/* --- JSON (RFC 6962 4.1) ------------------------------------------------------ */

static void test_json(void)
{
	struct ct_sct s = make_sct(70, true), got = {0};
	char *text = ct_sct_to_json(&s);
	struct fc_err err = {0};

	CHECK(ct_sct_from_json((const uint8_t *)text, strlen(text), &got, &err) == FC_OK);
	CHECK(sct_equal(&s, &got));
	CHECK_CONTAINS(text, "\"extensions\":\"AAAFAAAAEJI=\"");
	ct_sct_clear(&got);
	free(text);
	{
		static const char *bad[] = {
			"",
			"[]",
			"{\"sct_version\":0}",
			"{\"sct_version\":1,\"id\":\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8="
			"\","
			"\"timestamp\":1,\"extensions\":\"\",\"signature\":\"BAMAAA==\"}",
			"{\"sct_version\":0,\"id\":\"EBES\",\"timestamp\":1,\"extensions\":\"\","
			"\"signature\":\"BAMAAA==\"}",
			"{\"sct_version\":0,\"id\":\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8="
			"\","
			"\"timestamp\":\"1\",\"extensions\":\"\",\"signature\":\"BAMAAA==\"}",
			"{\"sct_version\":0,\"id\":\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8="
			"\","
			"\"timestamp\":1,\"extensions\":\"\",\"signature\":\"BAMAAQ==\"}",
			"{\"sct_version\":0,\"sct_version\":0,\"id\":"
			"\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnK"
			"CkqKywtLi8=\",\"timestamp\":1,\"extensions\":\"\",\"signature\":\"BAMAAA=="
			"\"}",
			"{\"sct_version\":0,\"id\":\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8="
			"\","
			"\"timestamp\":1,\"extensions\":\"!!\",\"signature\":\"BAMAAA==\"}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct fc_err e = {0};
			CHECK(ct_sct_from_json((const uint8_t *)bad[i], strlen(bad[i]), &got, &e) ==
			      FC_EUPSTREAM);
		}
		/* the minimal valid one (empty signature parses; it will not verify) */
		const char *ok = "{\"sct_version\":0,\"id\":\"EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkq"
				 "KywtLi8=\",\"timestamp\":1,\"extensions\":\"\",\"signature\":"
				 "\"BAMAAA==\"}";
		CHECK(ct_sct_from_json((const uint8_t *)ok, strlen(ok), &got, NULL) == FC_OK);
		CHECK(got.ext_len == 0 && got.sig_len == 0 && got.log_id[0] == 0x10);
		ct_sct_clear(&got);
	}
	ct_sct_clear(&s);
}

/* --- verification ---------------------------------------------------------------- */

static EVP_PKEY *p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Sign msg with key (SHA-256), independently of the code under test. */
static void sign_into(EVP_PKEY *key, const uint8_t *msg, size_t len, struct ct_sct *s)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 0;

	free(s->sig);
	s->sig = NULL;
	CHECK(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1);
	CHECK(EVP_DigestSign(md, NULL, &n, msg, len) == 1);
	s->sig = malloc(n);
	CHECK(EVP_DigestSign(md, s->sig, &n, msg, len) == 1);
	s->sig_len = n;
	EVP_MD_CTX_free(md);
}

static void test_verify(void)
{
	EVP_PKEY *key = p256(), *other = p256();
	uint8_t ikh[32];
	static const uint8_t tbs[] = {0x30, 0x03, 0x02, 0x01, 0x07};
	struct ct_sct s = make_sct(4, true);
	int64_t now = (int64_t)time(NULL) * 1000;
	struct fc_buf sd;
	struct fc_err err = {0};

	memset(ikh, 0x5a, sizeof(ikh));
	CHECK(key && other);
	CHECK(ct_key_hash(key, s.log_id) == FC_OK);
	s.timestamp = (uint64_t)now;
	fc_buf_init(&sd, 0);
	CHECK(ct_signed_data_precert(s.timestamp, ikh, tbs, sizeof(tbs), s.extensions, s.ext_len,
				     &sd) == FC_OK);
	sign_into(key, sd.data, sd.len, &s);
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, &err) == FC_OK);

	/* another key: log id differs */
	fc_err_clear(&err);
	CHECK(ct_sct_verify(&s, other, sd.data, sd.len, now, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "log id");
	/* signed by another key under our id */
	sign_into(other, sd.data, sd.len, &s);
	fc_err_clear(&err);
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, &err) == FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "does not verify");
	sign_into(key, sd.data, sd.len, &s);
	/* other data (another TBS) */
	sd.data[sd.len - 11] ^= 1;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_EUPSTREAM);
	sd.data[sd.len - 11] ^= 1;
	/* the extensions are covered by the signature */
	sd.data[sd.len - 1] ^= 1;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_EUPSTREAM);
	sd.data[sd.len - 1] ^= 1;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_OK);
	/* clock: the SCT 61 s ahead of us fails, 59 s passes; a day old fails */
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now - 61000, NULL) == FC_EUPSTREAM);
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now - 59000, NULL) == FC_OK);
	fc_err_clear(&err);
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now + CT_SCT_MAX_AGE_MS + 1, &err) ==
	      FC_EUPSTREAM);
	CHECK_CONTAINS(err.msg, "old");
	/* algorithm fields */
	s.sig_alg = CT_SIG_RSA;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_EUPSTREAM);
	s.sig_alg = CT_SIG_ECDSA;
	s.hash_alg = 5;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_EUPSTREAM);
	s.hash_alg = CT_HASH_SHA256;
	s.version = 1;
	CHECK(ct_sct_verify(&s, key, sd.data, sd.len, now, NULL) == FC_EUPSTREAM);
	s.version = 0;

	/* OpenSSL's own SCT code computes the same LogID */
	{
		unsigned char *der = NULL;
		int len = i2d_PUBKEY(key, &der);
		uint8_t md[32];
		CHECK(len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1);
		CHECK(memcmp(md, s.log_id, 32) == 0);
		OPENSSL_free(der);
	}
	ct_sct_clear(&s);
	fc_buf_free(&sd);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void test_duration(void)
{
	unsigned ms = 0;

	CHECK(ct_parse_duration_ms("10s", &ms, NULL) == FC_OK && ms == 10000);
	CHECK(ct_parse_duration_ms("500ms", &ms, NULL) == FC_OK && ms == 500);
	CHECK(ct_parse_duration_ms("10", &ms, NULL) == FC_OK && ms == 10000);
	CHECK(ct_parse_duration_ms("2.5", &ms, NULL) == FC_OK && ms == 2500);
	CHECK(ct_parse_duration_ms("1m", &ms, NULL) == FC_OK && ms == 60000);
	CHECK(ct_parse_duration_ms("0", &ms, NULL) == FC_ECONFIG);
	CHECK(ct_parse_duration_ms("-1s", &ms, NULL) == FC_ECONFIG);
	CHECK(ct_parse_duration_ms("10h", &ms, NULL) == FC_ECONFIG);
	CHECK(ct_parse_duration_ms("", &ms, NULL) == FC_ECONFIG);
	CHECK(ct_parse_duration_ms("11m", &ms, NULL) == FC_ECONFIG);
	CHECK(ct_parse_duration_ms("5 s", &ms, NULL) == FC_ECONFIG);
}

/* --- the whole path against an in-process log ---------------------------------- */

enum log_mode { LOG_OK, LOG_400, LOG_503, LOG_429_ONCE, LOG_WRONG_CERT, LOG_HOLD };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum log_mode mode;
	EVP_PKEY *key;
	uint8_t log_id[32];
	uint8_t *precert; /* the last one received */
	size_t precert_len;
	unsigned hits;
	struct fc_http_exchange *held;
	/* completion */
	bool done;
	enum fc_status st;
	bool ct_failure;
	struct ca_issued *issued;
	char msg[FC_ERR_MSG_MAX];
} lg = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void log_handle(void *ctx, struct fc_http_exchange *x)
{
	size_t len = 0;
	const uint8_t *body = fc_http_body(x, &len);
	json_t *root = json_loadb((const char *)body, len, 0, NULL);
	json_t *chain = json_object_get(root, "chain");
	uint8_t *pre = NULL, *iss = NULL;
	size_t pre_len = 0, iss_len = 0;
	X509 *pc = NULL, *ic = NULL;
	const unsigned char *p;
	uint8_t ikh[32];
	unsigned char *tbs = NULL;
	int tbs_len = 0;
	struct ct_sct s = {0};
	struct fc_buf sd;
	char *text;
	enum log_mode mode;
	unsigned hits;

	pthread_mutex_lock(&lg.lock);
	mode = lg.mode;
	hits = ++lg.hits;
	pthread_mutex_unlock(&lg.lock);
	fc_buf_init(&sd, 0);
	CHECK(strcmp(fc_http_path(x), "/log/ct/v1/add-pre-chain") == 0);
	CHECK(json_is_array(chain) && json_array_size(chain) == 2);
	CHECK(fc_b64_decode_any(json_string_value(json_array_get(chain, 0)),
				json_string_length(json_array_get(chain, 0)), &pre, &pre_len));
	CHECK(fc_b64_decode_any(json_string_value(json_array_get(chain, 1)),
				json_string_length(json_array_get(chain, 1)), &iss, &iss_len));
	p = pre;
	pc = d2i_X509(NULL, &p, (long)pre_len);
	p = iss;
	ic = d2i_X509(NULL, &p, (long)iss_len);
	CHECK(pc && ic);
	pthread_mutex_lock(&lg.lock);
	free(lg.precert);
	lg.precert = pre;
	lg.precert_len = pre_len;
	pre = NULL;
	pthread_mutex_unlock(&lg.lock);

	if (mode == LOG_400) {
		fc_http_respond(x, 400, "text/plain", "no path to a root", 17);
		goto out;
	}
	if (mode == LOG_503 || (mode == LOG_429_ONCE && hits == 1)) {
		fc_http_add_header(x, "Retry-After", "1");
		fc_http_respond(x, mode == LOG_503 ? 503 : 429, "text/plain", "later", 5);
		goto out;
	}
	if (mode == LOG_HOLD) {
		pthread_mutex_lock(&lg.lock);
		lg.held = x;
		pthread_cond_broadcast(&lg.cond);
		pthread_mutex_unlock(&lg.lock);
		goto out;
	}
	tbs = oracle_tbs_without(pc, NID_ct_precert_poison, &tbs_len);
	CHECK(tbs != NULL);
	CHECK(ct_key_hash(X509_get0_pubkey(ic), ikh) == FC_OK);
	s.log_id[0] = 0;
	memcpy(s.log_id, lg.log_id, 32);
	s.timestamp = (uint64_t)time(NULL) * 1000;
	s.extensions = malloc(8);
	memcpy(s.extensions, ext8, 8);
	s.ext_len = 8;
	s.hash_alg = CT_HASH_SHA256;
	s.sig_alg = CT_SIG_ECDSA;
	if (mode == LOG_WRONG_CERT)
		tbs[10] ^= 1;
	CHECK(ct_signed_data_precert(s.timestamp, ikh, tbs, (size_t)tbs_len, ext8, 8, &sd) ==
	      FC_OK);
	sign_into(lg.key, sd.data, sd.len, &s);
	text = ct_sct_to_json(&s);
	fc_http_respond(x, 200, "application/json", text, strlen(text));
	free(text);
out:
	ct_sct_clear(&s);
	fc_buf_free(&sd);
	OPENSSL_free(tbs);
	X509_free(pc);
	X509_free(ic);
	free(pre);
	free(iss);
	json_decref(root);
}

static void issued_cb(void *arg, enum fc_status st, struct ca_issued *issued,
		      const struct fc_err *err)
{
	bool ct_failure = err != NULL && err->cls == FC_CLASS_CT_LOG;

	pthread_mutex_lock(&lg.lock);
	lg.done = true;
	lg.st = st;
	lg.ct_failure = ct_failure;
	lg.issued = issued;
	snprintf(lg.msg, sizeof(lg.msg), "%s", err ? err->msg : "");
	pthread_cond_broadcast(&lg.cond);
	pthread_mutex_unlock(&lg.lock);
}

static void wait_done(void)
{
	pthread_mutex_lock(&lg.lock);
	while (!lg.done)
		pthread_cond_wait(&lg.cond, &lg.lock);
	pthread_mutex_unlock(&lg.lock);
}

static X509 *pem_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

static enum fc_status issue_once(struct ca_authority *a, struct ct_client *ct,
				 const struct oidc_identity *id, EVP_PKEY *subject,
				 enum log_mode mode)
{
	struct fc_err err = {0};
	enum fc_status st;

	pthread_mutex_lock(&lg.lock);
	lg.mode = mode;
	lg.hits = 0;
	lg.done = false;
	lg.issued = NULL;
	pthread_mutex_unlock(&lg.lock);
	st = ca_authority_issue_ct(a, ct, id, subject, 600, issued_cb, NULL, NULL, &err);
	CHECK(st == FC_OK);
	if (st != FC_OK)
		return st;
	wait_done();
	return lg.st;
}

static void test_issue_path(void)
{
	struct fc_httpd_options ho = {
		.host = "127.0.0.1", .threads = 2, .max_body = 1 << 20, .name = "fake-log"};
	struct fc_httpd *d = NULL;
	struct hsm_signer *signer = NULL;
	struct ca_chain *chain = NULL;
	struct ca_authority *a = NULL;
	struct ct_client *ct = NULL;
	struct fc_err err = {0};
	EVP_PKEY *subject = p256();
	char keypath[] = "/tmp/fulcrum-test-ctlog-key-XXXXXX";
	struct oidc_extension ext1 = {.oid = "1.3.6.1.4.1.57264.1.1",
				      .value = "https://issuer.example",
				      .encoding = OIDC_EXT_RAW};
	struct oidc_identity id = {.issuer = "https://issuer.example",
				   .san_type = OIDC_SAN_EMAIL,
				   .san = "alice@example.com",
				   .extensions = &ext1,
				   .n_extensions = 1};
	char why[512] = "";
	char *url = NULL;
	int fd;
	FILE *f;

	lg.key = p256();
	CHECK(ct_key_hash(lg.key, lg.log_id) == FC_OK);
	fd = mkstemp(keypath);
	CHECK(fd >= 0 && (f = fdopen(fd, "w")) != NULL);
	CHECK(PEM_write_PUBKEY(f, lg.key) == 1);
	fclose(f);

	CHECK(fc_httpd_start(&ho, log_handle, NULL, &d, &err) == FC_OK);
	url = fc_xasprintf("http://127.0.0.1:%u/log/", fc_httpd_port(d));
	{
		struct ct_client_options co = {
			.url = url, .public_key_path = keypath, .timeout_ms = 2500};
		CHECK(ct_client_new(&co, &ct, &err) == FC_OK);
		CHECK(ct && memcmp(ct_client_log_id(ct, 0), lg.log_id, 32) == 0);
		/* a URL without a key is refused */
		struct ct_client *none = NULL;
		co.public_key_path = NULL;
		CHECK(ct_client_new(&co, &none, NULL) == FC_ECONFIG && none == NULL);
	}
	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &signer, &err) == FC_OK);
	CHECK(ca_chain_make_ephemeral(signer, &chain, &err) == FC_OK);
	CHECK(ca_authority_new(signer, chain, &a, &err) == FC_OK);
	if (ct == NULL || a == NULL)
		goto out;

	/* happy path; the final certificate checked by OpenSSL's CT code */
	CHECK(issue_once(a, ct, &id, subject, LOG_OK) == FC_OK);
	if (lg.st != FC_OK)
		fprintf(stderr, "happy path: %s\n", lg.msg);
	CHECK(lg.issued != NULL && lg.issued->n == 2);
	if (lg.issued != NULL) {
		X509 *leaf = pem_x509(lg.issued->pem[0]), *root = pem_x509(lg.issued->pem[1]);
		const unsigned char *p = lg.precert;
		X509 *pre = d2i_X509(NULL, &p, (long)lg.precert_len);
		CHECK(leaf && root && pre);
		CHECK(oracle_tbs_match(leaf, pre, why, sizeof(why)));
		if (why[0])
			fprintf(stderr, "tbs: %s\n", why);
		why[0] = '\0';
		CHECK(oracle_openssl_validate(leaf, root, lg.key, why, sizeof(why)));
		if (why[0])
			fprintf(stderr, "openssl: %s\n", why);
		CHECK(X509_verify(leaf, X509_get0_pubkey(root)) == 1);
		CHECK(X509_verify(pre, X509_get0_pubkey(root)) == 1);
		CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(pre)) ==
		      0);
		/* with another log key, OpenSSL refuses it */
		{
			EVP_PKEY *k2 = p256();
			CHECK(!oracle_openssl_validate(leaf, root, k2, why, sizeof(why)));
			EVP_PKEY_free(k2);
		}
		X509_free(leaf);
		X509_free(root);
		X509_free(pre);
	}
	ca_issued_free(lg.issued);

	/* 429 + Retry-After: 1, then an SCT */
	{
		int64_t t0 = fc_mono_ms();
		CHECK(issue_once(a, ct, &id, subject, LOG_429_ONCE) == FC_OK);
		CHECK(lg.hits == 2 && fc_mono_ms() - t0 >= 1000);
		ca_issued_free(lg.issued);
	}
	/* failures: nothing issued, and the right status */
	CHECK(issue_once(a, ct, &id, subject, LOG_400) == FC_EINTERNAL);
	CHECK(lg.issued == NULL && lg.ct_failure && lg.hits == 1);
	CHECK_CONTAINS(lg.msg, "no path to a root");
	CHECK(issue_once(a, ct, &id, subject, LOG_WRONG_CERT) == FC_EUPSTREAM);
	CHECK(lg.issued == NULL && lg.ct_failure);
	CHECK_CONTAINS(lg.msg, "does not verify");
	{
		int64_t t0 = fc_mono_ms();
		CHECK(issue_once(a, ct, &id, subject, LOG_503) == FC_EUNAVAIL);
		CHECK(lg.issued == NULL && lg.ct_failure && lg.hits >= 2);
		CHECK(fc_mono_ms() - t0 < 4000);
		CHECK_CONTAINS(lg.msg, "503");
	}
	/* a submission in flight when the client stops fails, once */
	{
		struct fc_err e = {0};
		pthread_mutex_lock(&lg.lock);
		lg.mode = LOG_HOLD;
		lg.done = false;
		lg.held = NULL;
		pthread_mutex_unlock(&lg.lock);
		CHECK(ca_authority_issue_ct(a, ct, &id, subject, 600, issued_cb, NULL, NULL, &e) ==
		      FC_OK);
		pthread_mutex_lock(&lg.lock);
		while (lg.held == NULL)
			pthread_cond_wait(&lg.cond, &lg.lock);
		pthread_mutex_unlock(&lg.lock);
		CHECK(ct_client_in_flight(ct) == 1);
		ct_client_free(ct);
		ct = NULL;
		CHECK(lg.done && lg.st == FC_EUNAVAIL && lg.issued == NULL);
		CHECK_CONTAINS(lg.msg, "shutting down");
		fc_http_respond(lg.held, 503, "text/plain", "", 0);
	}
out:
	ct_client_free(ct);
	ca_authority_free(a);
	fc_httpd_stop(d);
	unlink(keypath);
	free(url);
	free(lg.precert);
	EVP_PKEY_free(lg.key);
	EVP_PKEY_free(subject);
}

int main(void)
{
	fc_log_set_level(LOG_WARNING);
	test_sct_roundtrip();
	test_digitally_signed();
	test_signed_data();
	test_sct_list();
	test_sct_list_refusals();
	test_json();
	test_verify();
	test_duration();
	test_issue_path();
	return check_exit();
}
