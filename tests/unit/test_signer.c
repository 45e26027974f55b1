/*
 * Unit tests of signer/: the bounded and DER readers, the message codecs,
 * the certificate checks (every rule of tests/tools/tbs_cases.h, with and
 * without a CT log), the serial set (reuse, precertificate and final
 * certificate, expiry), and the SCT and checkpoint checks. The same
 * certificates go through a real signer process in
 * tests/integration/signer-refusals.sh.
 */
#include <openssl/obj_mac.h>

#include "check.h"
#include "signer_int.h"
#include "../tools/tbs_cases.h"

static struct tbs_env env;
static struct sg_ca_policy pol;

/* The policy the signer process builds for the issuing certificate. */
static void make_policy(X509 *issuer, bool ct)
{
	unsigned char *der = NULL;
	int len = i2d_X509_NAME(X509_get_subject_name(issuer), &der);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);

	free(pol.issuer_name);
	free(pol.issuer_skid);
	memset(&pol, 0, sizeof(pol));
	pol.issuer_name = malloc((size_t)len);
	memcpy(pol.issuer_name, der, (size_t)len);
	pol.issuer_name_len = (size_t)len;
	OPENSSL_free(der);
	pol.issuer_skid_len = (size_t)ASN1_STRING_length(skid);
	pol.issuer_skid = malloc(pol.issuer_skid_len);
	memcpy(pol.issuer_skid, ASN1_STRING_get0_data(skid), pol.issuer_skid_len);
	pol.sig_alg = sg_sig_alg_der(NID_ecdsa_with_SHA256, &pol.sig_alg_len);
	pol.lifetime_s = env.lifetime_s;
	pol.ct = ct;
}

static enum signer_refusal check(const struct tbs_out *o, struct sg_cert_info *info, char *why,
				 size_t n)
{
	return sg_check_cert(&pol, o->kind, o->der, o->len, fc_now(), info, why, n);
}

static void test_rules(bool ct)
{
	struct sg_serials *serials = sg_serials_new(1024);

	env.ct = ct;
	make_policy(env.issuer, ct);
	for (size_t i = 0; i < TBS_N_CASES; i++) {
		const struct tbs_case *c = &tbs_cases[i];
		struct sg_cert_info info;
		struct tbs_out o;
		char why[256] = "";
		enum signer_refusal got;

		if (c->mut == MUT_NO_TOKEN_ID)
			continue; /* checked by the server, after the certificate */
		CHECK(tbs_build_case(&env, c, &o));
		got = check(&o, &info, why, sizeof(why));
		if (got == SIGNER_OK && c->want == SIGNER_REFUSE_CT)
			got = sg_serials_claim(serials, &info, fc_now(), why, sizeof(why));
		if (got != c->want)
			fprintf(stderr, "case \"%s\" (ct=%d): got %s (%s), want %s\n", c->name, ct,
				signer_refusal_name(got), why, signer_refusal_name(c->want));
		CHECK(got == c->want);
		free(o.der);
	}
	sg_serials_free(serials);
}

/* A valid pair passes, a serial is refused the second time, a final
 * certificate needs its precertificate, byte for byte. */
static void test_serials(bool ct)
{
	struct sg_serials *serials = sg_serials_new(1024);
	struct sg_cert_info info, info2;
	struct tbs_out pre, fin, pre2, fin2;
	char why[256];

	env.ct = ct;
	make_policy(env.issuer, ct);
	CHECK(tbs_build_pair(&env, &pre, &fin));
	CHECK(check(&pre, &info, why, sizeof(why)) == SIGNER_OK);
	CHECK(info.serial_len >= 9 && info.spki != NULL);
	CHECK_STR(info.san_type, "email");
	CHECK(info.issuer_len == strlen("https://issuer.example"));
	CHECK(sg_serials_claim(serials, &info, fc_now(), why, sizeof(why)) == SIGNER_OK);
	CHECK(sg_serials_claim(serials, &info, fc_now(), why, sizeof(why)) ==
	      SIGNER_REFUSE_SERIAL_REUSED);
	if (ct) {
		CHECK(check(&fin, &info2, why, sizeof(why)) == SIGNER_OK);
		CHECK(info2.n_scts == 1 && info2.scts[0].log_id[0] == 0xab);
		CHECK(memcmp(info.core_hash, info2.core_hash, 32) == 0);
		/* too late */
		CHECK(sg_serials_claim(serials, &info2, fc_now() + SIGNER_PRECERT_TTL_S + 1, why,
				       sizeof(why)) == SIGNER_REFUSE_CT);
		CHECK(sg_serials_claim(serials, &info2, fc_now(), why, sizeof(why)) == SIGNER_OK);
		/* only once */
		CHECK(sg_serials_claim(serials, &info2, fc_now(), why, sizeof(why)) ==
		      SIGNER_REFUSE_CT);
		/* a final certificate that is not its precertificate: same serial,
		 * another key */
		CHECK(tbs_build_pair(&env, &pre2, &fin2));
		CHECK(check(&pre2, &info, why, sizeof(why)) == SIGNER_OK);
		CHECK(sg_serials_claim(serials, &info, fc_now(), why, sizeof(why)) == SIGNER_OK);
		CHECK(check(&fin, &info2, why, sizeof(why)) == SIGNER_OK);
		memcpy((uint8_t *)info2.serial, info.serial,
		       info.serial_len < info2.serial_len ? info.serial_len : info2.serial_len);
		info2.serial_len = info.serial_len;
		CHECK(sg_serials_claim(serials, &info2, fc_now(), why, sizeof(why)) ==
		      SIGNER_REFUSE_CT);
		CHECK_CONTAINS(why, "RFC 6962 3.1");
		free(pre2.der);
		free(fin2.der);
	} else {
		/* a precertificate without a CT log */
		CHECK(check(&(struct tbs_out){.der = pre.der,
					      .len = pre.len,
					      .kind = HSM_SIGN_PRECERT},
			    &info, why, sizeof(why)) == SIGNER_REFUSE_CT);
	}
	free(pre.der);
	free(fin.der);
	sg_serials_free(serials);
}

/* Generations: the latest per_gen serials are always remembered. */
static void test_serial_generations(void)
{
	struct sg_serials *s = sg_serials_new(16);
	struct sg_cert_info info = {0};
	uint8_t serial[10] = {0x40};
	char why[128];
	int refused = 0;

	info.serial = serial;
	info.serial_len = sizeof(serial);
	for (int i = 0; i < 100; i++) {
		serial[9] = (uint8_t)i;
		CHECK(sg_serials_claim(s, &info, 0, why, sizeof(why)) == SIGNER_OK);
	}
	for (int i = 84; i < 100; i++) {
		serial[9] = (uint8_t)i;
		refused += sg_serials_claim(s, &info, 0, why, sizeof(why)) ==
			   SIGNER_REFUSE_SERIAL_REUSED;
	}
	CHECK(refused == 16);
	sg_serials_free(s);
}

static void test_readers(void)
{
	static const uint8_t long_form_short[] = {0x30, 0x81, 0x01, 0x00};
	static const uint8_t high_tag[] = {0x1f, 0x01, 0x00};
	static const uint8_t leading_zero[] = {0x30, 0x82, 0x00, 0x80};
	static const uint8_t over[] = {0x30, 0x05, 0x00};
	static const uint8_t good[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	static const uint8_t vec[] = {0x00, 0x02, 0xaa, 0xbb, 0x01};
	const uint8_t *p;
	size_t n;
	struct fc_rd r;
	struct der d;

	fc_rd_init(&r, long_form_short, sizeof(long_form_short));
	CHECK(!der_next(&r, &d) && r.off == 0);
	fc_rd_init(&r, high_tag, sizeof(high_tag));
	CHECK(!der_next(&r, &d));
	fc_rd_init(&r, leading_zero, sizeof(leading_zero));
	CHECK(!der_next(&r, &d));
	fc_rd_init(&r, over, sizeof(over));
	CHECK(!der_next(&r, &d));
	fc_rd_init(&r, good, sizeof(good));
	CHECK(der_expect(&r, DER_SEQUENCE, &d) && d.len == 3 && d.tlv_len == 5 && fc_rd_done(&r));
	fc_rd_init(&r, vec, sizeof(vec));
	CHECK(fc_rd_vec(&r, 2, 1, 2, &p, &n) && n == 2 && p[0] == 0xaa && r.off == 4);
	CHECK(!fc_rd_vec(&r, 2, 0, 10, &p, &n) && r.off == 4);
	CHECK(sg_utf8_ok((const uint8_t *)"caf\xc3\xa9", 5));
	CHECK(!sg_utf8_ok((const uint8_t *)"\xc0\xaf", 2));
	CHECK(!sg_utf8_ok((const uint8_t *)"a\0b", 3));
}

static void test_codecs(void)
{
	struct hsm_sign_ctx ctx = {.kind = HSM_SIGN_CERT, .token_id = "jti-1"};
	uint8_t msg[3] = {1, 2, 3}, hdr[SIGNER_HDR_LEN];
	struct sg_sign_req req;
	struct sg_key_info ki;
	struct sg_msg m;
	struct fc_buf b;
	char text[16];
	uint16_t code;

	fc_buf_init(&b, 0);
	sg_msg_encode(&b, SIGNER_MSG_SIGN, 7, 2, msg, 3);
	CHECK(b.len == SIGNER_HDR_LEN + 3);
	CHECK(sg_hdr_decode(b.data, &m) && m.type == SIGNER_MSG_SIGN && m.req_id == 7 &&
	      m.key_id == 2 && m.len == 3);
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[3] = 1; /* the zero field */
	CHECK(!sg_hdr_decode(hdr, &m));
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[12] = 0x7f; /* an oversized length */
	CHECK(!sg_hdr_decode(hdr, &m));
	fc_buf_reset(&b);
	sg_sign_req_encode(&b, &ctx, msg, 3);
	CHECK(sg_sign_req_decode(b.data, b.len, &req) && req.kind == HSM_SIGN_CERT &&
	      strcmp(req.token_id, "jti-1") == 0 && req.msg_len == 3 && req.note[0] == '\0');
	CHECK(!sg_sign_req_decode(b.data, b.len - 1, &req));
	fc_buf_append(&b, "x", 1);
	CHECK(!sg_sign_req_decode(b.data, b.len, &req)); /* trailing byte */
	b.data[0] = 9;
	CHECK(!sg_sign_req_decode(b.data, b.len - 1, &req)); /* unknown kind */
	fc_buf_reset(&b);
	sg_sign_req_encode(&b, &(struct hsm_sign_ctx){.kind = HSM_SIGN_CERT, .token_id = "a"}, msg,
			   3);
	b.data[2] = 0; /* a NUL in the token id */
	CHECK(!sg_sign_req_decode(b.data, b.len, &req));
	fc_buf_reset(&b);
	sg_key_info_encode(&b, 1, msg, 3, "PEM", 3);
	CHECK(sg_key_info_decode(b.data, b.len, &ki) && ki.padding == 1 && ki.spki_len == 3 &&
	      ki.chain_len == 3);
	b.data[0] = 7;
	CHECK(!sg_key_info_decode(b.data, b.len, &ki));
	fc_buf_reset(&b);
	sg_code_text_encode(&b, 4, "a very long reason\n");
	CHECK(sg_code_text_decode(b.data, b.len, &code, text, sizeof(text)) && code == 4 &&
	      strcmp(text, "a very long rea") == 0);
	CHECK_STR(signer_refusal_name(SIGNER_REFUSE_SERIAL_REUSED), "serial_reused");
	CHECK_STR(signer_refusal_name((enum signer_refusal)999), "unknown");
	fc_buf_free(&b);
}

/* RFC 6962 3.2 signed data of a precert entry. */
static size_t sct_input(uint8_t *out, uint64_t ts, bool trailing)
{
	size_t n = 0;

	out[n++] = 0, out[n++] = 0;
	for (int i = 7; i >= 0; i--)
		out[n++] = (uint8_t)(ts >> (8 * i));
	out[n++] = 0, out[n++] = 1;
	memset(out + n, 0x11, 32), n += 32;
	out[n++] = 0, out[n++] = 0, out[n++] = 2;
	out[n++] = 0x30, out[n++] = 0;
	out[n++] = 0, out[n++] = 8; /* CtExtensions: leaf_index */
	out[n++] = 0, out[n++] = 0, out[n++] = 5;
	memset(out + n, 0, 5), n += 5;
	if (trailing)
		out[n++] = 0;
	return n;
}

static void test_log_checks(void)
{
	int64_t now = fc_now_ms();
	uint8_t buf[128], th[50] = {0, 1};
	char why[128], note[256], *root_b64;
	size_t n;

	n = sct_input(buf, (uint64_t)now, false);
	CHECK(sg_check_sct(buf, n, now, why, sizeof(why)) == SIGNER_OK);
	n = sct_input(buf, (uint64_t)now, true);
	CHECK(sg_check_sct(buf, n, now, why, sizeof(why)) == SIGNER_REFUSE_SCT);
	n = sct_input(buf, (uint64_t)(now - 3600000), false);
	CHECK(sg_check_sct(buf, n, now, why, sizeof(why)) == SIGNER_REFUSE_TIMESTAMP);
	buf[1] = 1; /* tree_hash, not certificate_timestamp */
	CHECK(sg_check_sct(buf, n, now, why, sizeof(why)) == SIGNER_REFUSE_SCT);

	for (int i = 0; i < 8; i++) {
		th[2 + i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
		th[10 + i] = (uint8_t)(42ULL >> (56 - 8 * i));
	}
	memset(th + 18, 0x5a, 32);
	root_b64 = fc_b64_encode(th + 18, 32);
	snprintf(note, sizeof(note), "log.example/2026\n42\n%s\n", root_b64);
	CHECK(sg_check_checkpoint("log.example/2026", th, 50, note, now, why, sizeof(why)) ==
	      SIGNER_OK);
	CHECK(sg_check_checkpoint("other.example", th, 50, note, now, why, sizeof(why)) ==
	      SIGNER_REFUSE_CHECKPOINT);
	snprintf(note, sizeof(note), "log.example/2026\n43\n%s\n", root_b64);
	CHECK(sg_check_checkpoint("log.example/2026", th, 50, note, now, why, sizeof(why)) ==
	      SIGNER_REFUSE_CHECKPOINT);
	snprintf(note, sizeof(note), "log.example/2026\n42\n%s\nextra\n", root_b64);
	CHECK(sg_check_checkpoint("log.example/2026", th, 50, note, now, why, sizeof(why)) ==
	      SIGNER_REFUSE_CHECKPOINT);
	CHECK(sg_check_checkpoint("log.example/2026", th, 49, note, now, why, sizeof(why)) ==
	      SIGNER_REFUSE_CHECKPOINT);
	free(root_b64);
}

int main(void)
{
	struct hsm_signer *ca = NULL;
	struct ca_chain *chain = NULL;
	struct fc_err err = {0};

	/* The capturing backend's dummy signatures are logged as errors. */
	fc_log_set_level(LOG_CRIT);
	CHECK(hsm_softkey_generate(HSM_KEY_EC_P256, &ca, &err) == FC_OK);
	CHECK(ca_chain_make_ephemeral(ca, &chain, &err) == FC_OK);
	env.issuer = chain->certs[0];
	env.client_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	env.lifetime_s = 600;
	test_readers();
	test_codecs();
	test_rules(false);
	test_rules(true);
	test_serials(false);
	test_serials(true);
	test_serial_generations();
	test_log_checks();
	free(pol.issuer_name);
	free(pol.issuer_skid);
	EVP_PKEY_free(env.client_key);
	ca_chain_free(chain);
	hsm_signer_free(ca);
	return check_exit();
}
