/*
 * signer_fuzz: what the signer process reads from the network process, on
 * untrusted bytes: the message header and payload decoders, the
 * TBSCertificate checks (a precertificate and a certificate, with and
 * without a CT log), the SCT and checkpoint checks. A certificate that
 * passes must have handed out a serial and a public key inside the input.
 *
 * Seeds: fuzz/corpus/signer.
 */
#include <string.h>

#include <openssl/obj_mac.h>

#include "fuzz.h"
#include "signer_int.h"

/* The issuing CA of the seeds: CN=Test (tests/.../corpus/signer). */
static uint8_t issuer[] = {0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55,
			   0x04, 0x03, 0x0c, 0x04, 'T',	 'e',  's',  't'};
static uint8_t skid[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

static void check_cert(const uint8_t *d, size_t n, enum hsm_sign_kind kind, bool ct)
{
	struct sg_ca_policy p = {.issuer_name = issuer,
				 .issuer_name_len = sizeof(issuer),
				 .issuer_skid = ct ? skid : NULL,
				 .issuer_skid_len = ct ? 20 : 0,
				 .lifetime_s = 600,
				 .ct = ct};
	struct sg_cert_info info;
	char why[256];

	p.sig_alg = sg_sig_alg_der(NID_ecdsa_with_SHA256, &p.sig_alg_len);
	if (sg_check_cert(&p, kind, d, n, fc_now(), &info, why, sizeof(why)) == SIGNER_OK) {
		FUZZ_CHECK(info.serial >= d && info.serial + info.serial_len <= d + n);
		FUZZ_CHECK(info.spki >= d && info.spki + info.spki_len <= d + n);
		FUZZ_CHECK(info.serial_len >= 9 && info.serial_len <= 20);
		FUZZ_CHECK(info.san != NULL && info.san_len > 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct sg_msg m;
	struct sg_sign_req req;
	struct sg_key_info ki;
	char text[64], why[256];
	uint16_t code;

	if (n >= SIGNER_HDR_LEN && sg_hdr_decode(d, &m))
		FUZZ_CHECK(m.len <= SIGNER_MAX_PAYLOAD);
	if (sg_sign_req_decode(d, n, &req)) {
		FUZZ_CHECK(req.msg >= d && req.msg + req.msg_len <= d + n);
		FUZZ_CHECK(strlen(req.token_id) <= HSM_SIGN_MAX_TOKEN_ID);
		check_cert(req.msg, req.msg_len, req.kind, false);
	}
	if (sg_key_info_decode(d, n, &ki))
		FUZZ_CHECK(ki.spki + ki.spki_len <= d + n && ki.chain + ki.chain_len <= d + n);
	if (sg_code_text_decode(d, n, &code, text, sizeof(text)))
		FUZZ_CHECK(strlen(text) < sizeof(text));
	check_cert(d, n, HSM_SIGN_CERT, false);
	check_cert(d, n, HSM_SIGN_PRECERT, true);
	check_cert(d, n, HSM_SIGN_CERT, true);
	(void)sg_check_sct(d, n, fc_now_ms(), why, sizeof(why));
	(void)sg_check_checkpoint("log.example/1", d, n, "log.example/1\n42\nWlpa\n", fc_now_ms(),
				  why, sizeof(why));
	return 0;
}
