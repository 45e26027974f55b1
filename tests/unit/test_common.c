/* Unit tests for common/: base64 codecs, bounded buffers, errors, seams. */
#include <stdlib.h>
#include <string.h>
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
	CHECK(url_refused("Zm9"));  /* "fo" is Zm8; Zm9 has a stray bit */
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
	CHECK(!fc_buf_append_str(&b, "!"));    /* would pass the cap */
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

static int64_t fixed_now(void) { return 1700000000; }

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
	test_read_file();
	return check_exit();
}
