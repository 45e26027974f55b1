/* Unit tests for common/: base64 codecs, bounded buffers, errors, seams,
 * deadlines, the bounded big-endian reader and writer. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"

static bool url_decodes_to(const char *in, const char *want)
{
	uint8_t *out = NULL;
	size_t n = 0;
	bool ok = fc_b64url_decode(in, strlen(in), &out, &n) && n == strlen(want) &&
		  memcmp(out, want, n) == 0;
	free(out);
	return ok;
}

static bool url_refused(const char *in)
{
	uint8_t *out = NULL;
	size_t n = 0;
	bool ok = fc_b64url_decode(in, strlen(in), &out, &n);
	free(out);
	return !ok;
}

static bool any_decodes_to(const char *in, const uint8_t *want, size_t wlen)
{
	uint8_t *out = NULL;
	size_t n = 0;
	bool ok = fc_b64_decode_any(in, strlen(in), &out, &n) && n == wlen &&
		  memcmp(out, want, n) == 0;
	free(out);
	return ok;
}

static void test_base64(void)
{
	static const uint8_t bin[] = {0xfb, 0xff, 0xbf, 0x01};
	char *s;

	/* RFC 4648 10 test vectors, unpadded */
	CHECK(url_decodes_to("", ""));
	CHECK(url_decodes_to("Zg", "f"));
	CHECK(url_decodes_to("Zm8", "fo"));
	CHECK(url_decodes_to("Zm9v", "foo"));
	CHECK(url_decodes_to("Zm9vYg", "foob"));
	CHECK(url_decodes_to("Zm9vYmE", "fooba"));
	CHECK(url_decodes_to("Zm9vYmFy", "foobar"));
	/* strictness: padding, std alphabet, whitespace, length 1 mod 4,
	 * non-canonical trailing bits */
	CHECK(url_refused("Zg=="));
	CHECK(url_refused("+/8"));
	CHECK(url_refused("Zm9v Yg"));
	CHECK(url_refused("Zm9vY"));
	CHECK(url_refused("Zh"));  /* 'h' leaves non-zero low bits */
	CHECK(url_refused("Zm9")); /* "fo" is Zm8; Zm9 has a stray bit */
	CHECK(url_decodes_to("-_8", "\xfb\xff"));

	/* lenient protojson decoding: both alphabets, with or without padding */
	CHECK(any_decodes_to("+/+/AQ==", bin, 4));
	CHECK(any_decodes_to("-_-_AQ==", bin, 4));
	CHECK(any_decodes_to("+/+/AQ", bin, 4));
	CHECK(!any_decodes_to("+/+/AQ=", bin, 4));
	CHECK(!any_decodes_to("+/+/A Q==", bin, 4));

	s = fc_b64_encode(bin, 4);
	CHECK_STR(s, "+/+/AQ==");
	free(s);
	s = fc_b64url_encode(bin, 4);
	CHECK_STR(s, "-_-_AQ");
	free(s);
	s = fc_hex_encode(bin, 4);
	CHECK_STR(s, "fbffbf01");
	free(s);
}

static void test_buf(void)
{
	struct fc_buf b;
	char *s;
	size_t n;

	fc_buf_init(&b, 10);
	CHECK(fc_buf_append_str(&b, "hello"));
	CHECK(fc_buf_append_str(&b, "world"));
	CHECK(!fc_buf_append_str(&b, "!")); /* would pass the cap */
	CHECK(b.len == 10);
	CHECK(!fc_buf_append(&b, "x", SIZE_MAX)); /* no overflow in the check */
	s = fc_buf_steal(&b, &n);
	CHECK_STR(s, "helloworld");
	CHECK(n == 10 && b.data == NULL);
	free(s);
	fc_buf_free(&b);
}

static void test_err(void)
{
	struct fc_err err = {0};

	CHECK(fc_err_set(&err, FC_EAUTH, "first %s", "reason\nforged: line") == FC_EAUTH);
	CHECK(fc_err_set(&err, FC_EINPUT, "second") == FC_EINPUT);
	CHECK(err.status == FC_EAUTH);
	CHECK_STR(err.msg, "first reason?forged: line"); /* first wins; no newline */
	fc_err_clear(&err);
	CHECK(err.status == FC_OK && err.msg[0] == '\0');
	CHECK(fc_err_set(NULL, FC_EIO, "ignored") == FC_EIO);
	CHECK_STR(fc_strerror(FC_EAUTH), "identity token refused");
	CHECK_STR(fc_strerror((enum fc_status)999), "unknown status");
}

static int64_t fixed_now(void)
{
	return 1700000000;
}

static enum fc_status fixed_rand(uint8_t *buf, size_t n)
{
	memset(buf, 0xab, n);
	return FC_OK;
}

static void test_seams(void)
{
	uint8_t r[4];
	int64_t real = fc_now();

	fc_set_now_fn(fixed_now);
	CHECK(fc_now() == 1700000000);
	fc_set_now_fn(NULL);
	CHECK(fc_now() >= real);
	fc_set_rand_fn(fixed_rand);
	CHECK(fc_rand_bytes(r, sizeof(r)) == FC_OK && r[0] == 0xab && r[3] == 0xab);
	fc_set_rand_fn(NULL);
	CHECK(fc_rand_bytes(r, sizeof(r)) == FC_OK);
	CHECK(fc_mono_ms() > 0);
}

static int64_t fixed_now_ms(void)
{
	return 1700000000999;
}
static int64_t fake_mono;
static int64_t fake_mono_fn(void)
{
	return fake_mono;
}

static void test_wall_ms(void)
{
	int64_t before = fc_now(), ms = fc_now_ms();

	CHECK(ms / 1000 >= before && ms / 1000 <= fc_now());
	/* a seconds clock drives the milliseconds too, and the other way round */
	fc_set_now_fn(fixed_now);
	CHECK(fc_now() == 1700000000 && fc_now_ms() == 1700000000000);
	fc_set_now_ms_fn(fixed_now_ms);
	CHECK(fc_now() == 1700000000 && fc_now_ms() == 1700000000999);
	fc_set_now_ms_fn(NULL);
	CHECK(fc_now() >= before && fc_now_ms() >= ms);
}

static void test_deadline(void)
{
	struct timespec ts, real;
	int64_t d;

	fc_set_mono_fn(fake_mono_fn);
	fake_mono = 1000;
	d = fc_deadline_ms(250);
	CHECK(d == 1250 && fc_deadline_left_ms(d) == 250 && !fc_deadline_expired(d));
	fake_mono = 1249;
	CHECK(fc_deadline_left_ms(d) == 1 && !fc_deadline_expired(d));
	fake_mono = 1250;
	CHECK(fc_deadline_left_ms(d) == 0 && fc_deadline_expired(d));
	fake_mono = 9000;
	CHECK(fc_deadline_left_ms(d) == 0 && fc_deadline_expired(d));
	/* no overflow near the end of time */
	fake_mono = INT64_MAX - 10;
	CHECK(fc_deadline_ms(100) == INT64_MAX && !fc_deadline_expired(INT64_MAX));
	/* the absolute time is the real monotonic clock plus what is left */
	fake_mono = 0;
	clock_gettime(CLOCK_MONOTONIC, &real);
	fc_deadline_timespec(1500, &ts);
	CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
	d = (ts.tv_sec - real.tv_sec) * 1000 + (ts.tv_nsec - real.tv_nsec) / 1000000;
	CHECK(d >= 1500 && d < 2500);  /* generous: the machine may be loaded */
	fc_deadline_timespec(-5, &ts); /* past: now */
	d = (ts.tv_sec - real.tv_sec) * 1000 + (ts.tv_nsec - real.tv_nsec) / 1000000;
	CHECK(d >= 0 && d < 1000);
	fc_set_mono_fn(NULL);
	CHECK(fc_deadline_left_ms(fc_deadline_ms(60000)) > 59000);
}

static void test_reader(void)
{
	static const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
				    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13};
	struct fc_rd r;
	uint8_t u8 = 0, cp[3];
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	const uint8_t *p;

	fc_rd_init(&r, d, sizeof(d));
	CHECK(fc_rd_u8(&r, &u8) && u8 == 0x01);
	CHECK(fc_rd_u16(&r, &u16) && u16 == 0x0203);
	CHECK(fc_rd_u24(&r, &u32) && u32 == 0x040506);
	CHECK(fc_rd_u32(&r, &u32) && u32 == 0x0708090a);
	CHECK(fc_rd_u64(&r, &u64) && u64 == 0x0b0c0d0e0f101112ULL);
	CHECK(r.off == 18 && fc_rd_left(&r) == 1 && !fc_rd_done(&r));
	/* one byte left: every wider read fails and moves nothing */
	CHECK(!fc_rd_u16(&r, &u16) && !fc_rd_u24(&r, &u32) && !fc_rd_u32(&r, &u32));
	CHECK(!fc_rd_u64(&r, &u64) && !fc_rd_bytes(&r, 2, &p) && !fc_rd_copy(&r, cp, 2));
	CHECK(r.off == 18 && u16 == 0x0203);
	CHECK(fc_rd_bytes(&r, 1, &p) && p == d + 18 && fc_rd_done(&r));
	CHECK(fc_rd_bytes(&r, 0, &p) && fc_rd_done(&r)); /* zero bytes at the end */
	CHECK(!fc_rd_u8(&r, &u8) && r.off == sizeof(d));
	/* widths outside 1..8 */
	fc_rd_init(&r, d, sizeof(d));
	CHECK(!fc_rd_uint(&r, 0, &u64) && !fc_rd_uint(&r, 9, &u64) && r.off == 0);
	CHECK(fc_rd_uint(&r, 5, &u64) && u64 == 0x0102030405ULL);
	CHECK(fc_rd_copy(&r, cp, 3) && cp[0] == 0x06 && cp[2] == 0x08);
	/* off + n overflowing size_t is refused, not wrapped */
	fc_rd_init(&r, d, sizeof(d));
	r.off = 5;
	CHECK(!fc_rd_bytes(&r, SIZE_MAX, &p) && !fc_rd_bytes(&r, SIZE_MAX - 4, &p) && r.off == 5);
	r.off = sizeof(d) + 1; /* a corrupted reader reads nothing */
	CHECK(!fc_rd_bytes(&r, 0, &p) && fc_rd_left(&r) == 0);
	/* an empty reader over NULL */
	fc_rd_init(&r, NULL, 0);
	CHECK(fc_rd_done(&r) && fc_rd_bytes(&r, 0, &p) && p == NULL && !fc_rd_u8(&r, &u8));
}

static void test_reader_vec(void)
{
	static const uint8_t v[] = {0x00, 0x03, 'a', 'b', 'c', 0x02, 'x'};
	struct fc_rd r;
	const uint8_t *p = NULL;
	size_t n = 0;

	fc_rd_init(&r, v, sizeof(v));
	CHECK(!fc_rd_vec(&r, 2, 4, 10, &p, &n) && r.off == 0); /* under lo */
	CHECK(!fc_rd_vec(&r, 2, 0, 2, &p, &n) && r.off == 0);  /* over hi */
	CHECK(fc_rd_vec(&r, 2, 3, 3, &p, &n) && n == 3 && memcmp(p, "abc", 3) == 0);
	CHECK(r.off == 5);
	/* a length past the end: nothing moves, not even over the length */
	CHECK(!fc_rd_vec(&r, 1, 0, 255, &p, &n) && r.off == 5);
	CHECK(!fc_rd_vec(&r, 0, 0, 255, &p, &n) && !fc_rd_vec(&r, 9, 0, 255, &p, &n));
	/* a length prefix cut short */
	fc_rd_init(&r, v, 1);
	CHECK(!fc_rd_vec(&r, 2, 0, 0xffff, &p, &n) && r.off == 0);
	/* an 8-byte length near SIZE_MAX */
	{
		static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0};
		fc_rd_init(&r, huge, sizeof(huge));
		CHECK(!fc_rd_vec(&r, 8, 0, SIZE_MAX, &p, &n) && r.off == 0);
	}
	/* an empty vector */
	{
		static const uint8_t empty[] = {0x00, 0x00};
		fc_rd_init(&r, empty, sizeof(empty));
		CHECK(fc_rd_vec(&r, 2, 0, 10, &p, &n) && n == 0 && fc_rd_done(&r));
	}
}

static void test_writer(void)
{
	struct fc_buf b;
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
				       0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b};

	fc_buf_init(&b, 0);
	CHECK(fc_buf_put_u8(&b, 1) && fc_buf_put_u16(&b, 0x0203) && fc_buf_put_u24(&b, 0x040506));
	CHECK(fc_buf_put_u32(&b, 0x0708090a) && fc_buf_put_u64(&b, 0x0b));
	CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
	/* values that do not fit their width, and bad widths */
	CHECK(!fc_buf_put_u8(&b, 0x100) && !fc_buf_put_u16(&b, 0x10000));
	CHECK(!fc_buf_put_u24(&b, 0x1000000) && !fc_buf_put_u32(&b, 0x100000000ULL));
	CHECK(fc_buf_put_u24(&b, 0xffffff) && fc_buf_put_uint(&b, 5, 0xffffffffffULL));
	CHECK(!fc_buf_put_uint(&b, 5, 0x10000000000ULL) && !fc_buf_put_uint(&b, 0, 0));
	CHECK(!fc_buf_put_uint(&b, 9, 0) && b.len == sizeof(want) + 3 + 5);
	fc_buf_reset(&b);
	/* vectors: a length over the width, then one that fits */
	{
		static uint8_t big[0x10000];
		CHECK(!fc_buf_put_vec(&b, 1, big, 0x100) && !fc_buf_put_vec(&b, 2, big, 0x10000));
		CHECK(b.len == 0);
		CHECK(fc_buf_put_vec(&b, 1, big, 0xff) && b.len == 0x100 && b.data[0] == 0xff);
		CHECK(fc_buf_put_vec(&b, 3, NULL, 0) && b.len == 0x103);
		CHECK(!fc_buf_put_vec(&b, 8, big, SIZE_MAX - 4) && b.len == 0x103);
	}
	fc_buf_free(&b);
	/* the cap: a vector that would pass it leaves the buffer unchanged */
	fc_buf_init(&b, 6);
	CHECK(fc_buf_put_vec(&b, 2, "abc", 3) && b.len == 5);
	CHECK(!fc_buf_put_vec(&b, 1, "a", 1) && b.len == 5); /* 5 + 2 > 6 */
	CHECK(!fc_buf_put_u16(&b, 1) && b.len == 5 && fc_buf_put_u8(&b, 7) && b.len == 6);
	CHECK(!fc_buf_put_vec(&b, 1, NULL, 0) && b.len == 6);
	CHECK(memcmp(b.data,
		     "\x00\x03"
		     "abc\x07",
		     6) == 0);
	fc_buf_free(&b);
}

static void test_read_file(void)
{
	struct fc_err err = {0};
	char *data = NULL;
	size_t n;
	char path[] = "/tmp/fulcrum-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("0123456789", f);
	fclose(f);
	CHECK(fc_read_file(path, 10, &data, &n, &err) == FC_OK && n == 10);
	CHECK_STR(data, "0123456789");
	free(data);
	CHECK(fc_read_file(path, 9, &data, &n, &err) == FC_ETOOBIG);
	CHECK_CONTAINS(err.msg, "larger than 9 bytes");
	fc_err_clear(&err);
	unlink(path);
	CHECK(fc_read_file(path, 10, &data, &n, &err) == FC_ENOTFOUND);
	CHECK_CONTAINS(err.msg, "No such file");
}

int main(void)
{
	test_base64();
	test_buf();
	test_err();
	test_seams();
	test_wall_ms();
	test_deadline();
	test_reader();
	test_reader_vec();
	test_writer();
	test_read_file();
	return check_exit();
}
