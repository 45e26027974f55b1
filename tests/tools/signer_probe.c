/*
 * signer_probe: speak the signer protocol (signer/signer.h) to the real
 * signer process of a running `fulcrum serve`, as a compromised network
 * process would. It takes a copy of the network process's end of the
 * socketpair (pidfd_getfd: the tests run as root) while that process is
 * stopped (SIGSTOP, SIGCONT when done), then:
 *
 *   rules     sends every hand-made TBS of tbs_cases.h and expects each
 *             refused with its reason; a valid certificate (and with --ct a
 *             precertificate and its final certificate) must be signed,
 *             with a signature that verifies, and its serial refused again
 *   garbage   sends a header that is not one: the signer must exit
 *   oversize  announces a message over SIGNER_MAX_PAYLOAD: the same
 *
 * Usage: signer_probe --pid NETPID --chain CHAIN.pem [--lifetime S] [--ct]
 *                     [--key-id N] rules|garbage|oversize
 * Prints TAP-like "ok - ..." / "FAIL - ..." lines; exit 0 if all passed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "signer_int.h"
#include "tbs_cases.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int failures;
static pid_t stopped_pid = -1;
static uint32_t next_id = 0x70000000;

#define OK(...) (printf("ok - "), printf(__VA_ARGS__), printf("\n"))
#define BAD(...) (failures++, printf("FAIL - "), printf(__VA_ARGS__), printf("\n"))

static void resume(void)
{
	if (stopped_pid > 0)
		kill(stopped_pid, SIGCONT);
	stopped_pid = -1;
}

/* The pid of net's child named name (/proc/PID/task/PID/children). */
static pid_t child_named(pid_t net, const char *name)
{
	char path[64], comm[64];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)net, (int)net);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fscanf(f, "%d", &pid) == 1) {
		FILE *c;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if ((c = fopen(path, "r")) != NULL && fgets(comm, sizeof(comm), c) != NULL &&
		    strncmp(comm, name, strlen(name)) == 0) {
			fclose(c);
			fclose(f);
			return pid;
		}
		if (c != NULL)
			fclose(c);
	}
	fclose(f);
	return -1;
}

/* A copy of the network process's end of its signer socket: the unix
 * socket whose peer (the socketpair's maker) is the supervisor. */
static int steal_link(pid_t net)
{
	pid_t sup = child_named(net, "fulcrum-superv");
	int pidfd = (int)syscall(SYS_pidfd_open, net, 0), fd = -1;
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)net);
	if (sup < 0 || pidfd < 0 || (d = opendir(path)) == NULL)
		return -1;
	while (fd < 0 && (de = readdir(d)) != NULL) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int n = atoi(de->d_name), dup;

		if (de->d_name[0] == '.' || (dup = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0)) < 0)
			continue;
		if (getsockopt(dup, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == sup)
			fd = dup;
		else
			close(dup);
	}
	closedir(d);
	close(pidfd);
	return fd;
}

static bool send_all(int fd, const struct fc_buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = send(fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static bool read_all(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	while (n > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;
		if (poll(&pfd, 1, timeout_ms) <= 0 || (got = read(fd, p, n)) <= 0)
			return false;
		p += got;
		n -= (size_t)got;
	}
	return true;
}

/* Send one request and read answers until its own: its type and payload. */
static bool roundtrip(int fd, uint16_t type, uint32_t key_id, const struct fc_buf *payload,
		      struct sg_msg *ans, uint8_t **ans_payload)
{
	uint32_t id = next_id++;
	struct fc_buf b;
	bool ok;

	fc_buf_init(&b, 0);
	sg_msg_encode(&b, type, id, key_id, payload ? payload->data : NULL,
		      payload ? payload->len : 0);
	ok = send_all(fd, &b);
	fc_buf_free(&b);
	while (ok) {
		uint8_t hdr[SIGNER_HDR_LEN];
		*ans_payload = NULL;
		if (!read_all(fd, hdr, sizeof(hdr), 10000) || !sg_hdr_decode(hdr, ans))
			return false;
		*ans_payload = malloc(ans->len + 1);
		if (!read_all(fd, *ans_payload, ans->len, 10000))
			return false;
		if (ans->req_id == id)
			return true;
		free(*ans_payload); /* an answer to the stopped network process */
	}
	return false;
}

/* SIGN o: the answer's type, the refusal reason (REFUSED) and the
 * signature (SIGNED, malloc'd). */
static uint16_t sign(int fd, uint32_t key_id, const struct tbs_out *o, uint16_t *code, char *text,
		     size_t n, uint8_t **sig, size_t *sig_len)
{
	struct hsm_sign_ctx ctx = {.kind = o->kind, .token_id = o->token_id};
	struct fc_buf p;
	struct sg_msg ans;
	uint8_t *ap = NULL;
	uint16_t type = 0;
	struct fc_rd r;
	const uint8_t *s;

	fc_buf_init(&p, 0);
	sg_sign_req_encode(&p, &ctx, o->der, o->len);
	if (roundtrip(fd, SIGNER_MSG_SIGN, key_id, &p, &ans, &ap)) {
		type = ans.type;
		if (type == SIGNER_MSG_REFUSED || type == SIGNER_MSG_FAILED)
			sg_code_text_decode(ap, ans.len, code, text, n);
		fc_rd_init(&r, ap, ans.len);
		if (type == SIGNER_MSG_SIGNED && sig != NULL &&
		    fc_rd_vec(&r, 2, 1, 4096, &s, sig_len)) {
			*sig = malloc(*sig_len);
			memcpy(*sig, s, *sig_len);
		}
	}
	free(ap);
	fc_buf_free(&p);
	return type;
}

/* A valid TBS must be signed, by the CA key. */
static void expect_signed(int fd, uint32_t key_id, const struct tbs_env *e, const struct tbs_out *o,
			  const char *what)
{
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	uint16_t code = 0;
	char text[SIGNER_MAX_TEXT + 1] = "";
	uint16_t type = sign(fd, key_id, o, &code, text, sizeof(text), &sig, &sig_len);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool good = type == SIGNER_MSG_SIGNED && md != NULL &&
		    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					 X509_get0_pubkey(e->issuer)) == 1 &&
		    EVP_DigestVerify(md, sig, sig_len, o->der, o->len) == 1;

	if (good)
		OK("%s: signed, and the signature verifies with the CA key", what);
	else
		BAD("%s: answer type %u (%s) %s", what, type, signer_refusal_name(code), text);
	EVP_MD_CTX_free(md);
	free(sig);
}

static void expect_refused(int fd, uint32_t key_id, const struct tbs_out *o, const char *what,
			   enum signer_refusal want)
{
	uint16_t code = 0;
	char text[SIGNER_MAX_TEXT + 1] = "";
	uint16_t type = sign(fd, key_id, o, &code, text, sizeof(text), NULL, NULL);

	if (type == SIGNER_MSG_REFUSED && code == want)
		OK("%s: refused (%s): %s", what, signer_refusal_name(code), text);
	else
		BAD("%s: answer type %u reason %s (%s), want refused (%s)", what, type,
		    signer_refusal_name(code), text, signer_refusal_name(want));
}

static void run_rules(int fd, uint32_t key_id, const struct tbs_env *e)
{
	struct tbs_out pre, fin, o;

	for (size_t i = 0; i < TBS_N_CASES; i++) {
		if (!tbs_build_case(e, &tbs_cases[i], &o)) {
			BAD("%s: cannot build", tbs_cases[i].name);
			continue;
		}
		expect_refused(fd, key_id, &o, tbs_cases[i].name, tbs_cases[i].want);
		free(o.der);
	}
	if (!tbs_build_pair(e, &pre, &fin)) {
		BAD("cannot build a valid certificate");
		return;
	}
	expect_signed(fd, key_id, e, &pre,
		      e->ct ? "a valid precertificate" : "a valid certificate");
	expect_refused(fd, key_id, &pre, "the same serial again", SIGNER_REFUSE_SERIAL_REUSED);
	if (e->ct) {
		expect_signed(fd, key_id, e, &fin, "its final certificate (SCT list for poison)");
		expect_refused(fd, key_id, &fin, "the final certificate again", SIGNER_REFUSE_CT);
	}
	free(pre.der);
	free(fin.der);
}

/* Send raw bytes; the signer must close the socket (exit) within 5 s. */
static void expect_exit(int fd, const uint8_t *p, size_t n, const char *what)
{
	struct fc_buf b = {.data = (uint8_t *)p, .len = n};
	uint8_t buf[4096];
	bool eof = false;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	send_all(fd, &b);
	/* Answers to the network process's own requests may come first. */
	for (int64_t end = fc_mono_ms() + 5000; !eof && fc_mono_ms() < end;) {
		if (poll(&pfd, 1, 100) > 0) {
			ssize_t got = read(fd, buf, sizeof(buf));
			eof = got == 0 || (got < 0 && errno == ECONNRESET);
		}
	}
	if (eof)
		OK("%s: the signer process closed its socket (exited)", what);
	else
		BAD("%s: the signer process is still there", what);
}

static X509 *first_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},	    {"chain", required_argument, NULL, 'c'},
		{"lifetime", required_argument, NULL, 'l'}, {"ct", no_argument, NULL, 't'},
		{"key-id", required_argument, NULL, 'k'},   {NULL, 0, NULL, 0},
	};
	struct tbs_env e = {.lifetime_s = 600};
	const char *chain = NULL;
	uint32_t key_id = 1;
	pid_t net = 0;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': net = atoi(optarg); break;
		case 'c': chain = optarg; break;
		case 'l': e.lifetime_s = atoi(optarg); break;
		case 't': e.ct = true; break;
		case 'k': key_id = (uint32_t)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (net <= 0 || optind != argc - 1 ||
	    (strcmp(argv[optind], "rules") == 0 && chain == NULL)) {
		fprintf(stderr, "usage: signer_probe --pid NETPID --chain CHAIN.pem [--lifetime S] "
				"[--ct] [--key-id N] rules|garbage|oversize\n");
		return 2;
	}
	fc_log_set_level(LOG_CRIT); /* the capturing backend's dummy signatures */
	if (kill(net, SIGSTOP) != 0)
		return 2;
	stopped_pid = net;
	atexit(resume);
	usleep(100000);
	if ((fd = steal_link(net)) < 0) {
		BAD("no signer socket found in process %d", (int)net);
		return 1;
	}
	if (strcmp(argv[optind], "rules") == 0) {
		e.issuer = first_cert(chain);
		e.client_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (e.issuer == NULL)
			BAD("no certificate in %s", chain);
		else
			run_rules(fd, key_id, &e);
		X509_free(e.issuer);
		EVP_PKEY_free(e.client_key);
	} else if (strcmp(argv[optind], "garbage") == 0) {
		static const uint8_t junk[SIGNER_HDR_LEN] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
							     5,	   6,	 7,    8,    0, 0, 0, 0};
		expect_exit(fd, junk, sizeof(junk), "a header that is not one");
	} else {
		struct fc_buf b;
		fc_buf_init(&b, 0);
		sg_msg_encode(&b, SIGNER_MSG_SIGN, next_id, key_id, NULL, 0);
		/* the length field: one byte over the cap */
		b.data[12] = (uint8_t)((SIGNER_MAX_PAYLOAD + 1) >> 24);
		b.data[13] = (uint8_t)((SIGNER_MAX_PAYLOAD + 1) >> 16);
		b.data[14] = (uint8_t)((SIGNER_MAX_PAYLOAD + 1) >> 8);
		b.data[15] = (uint8_t)(SIGNER_MAX_PAYLOAD + 1);
		expect_exit(fd, b.data, b.len, "a message over the size cap");
		fc_buf_free(&b);
	}
	close(fd);
	resume();
	return failures ? 1 : 0;
}
