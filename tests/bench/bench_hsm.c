/*
 * Signatures per second through hsm/ (hsm_sign on a PKCS#11 signer: pooled
 * sessions, software SHA-256, CKM_ECDSA, DER conversion) next to raw
 * C_Sign(CKM_ECDSA) on a session of our own, measured in the same run on the
 * same SoftHSM2 token, with 1 and 2 threads.
 *
 * Usage: bench_hsm [SECONDS] [MODULE]   (default 2 s per figure, SoftHSM2)
 * Makes a private SoftHSM2 token in a temporary directory; prints one line
 * per figure and the ratio hsm/raw.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "hsm.h"

static double secs = 2.0;
static const char *module = "/usr/lib/softhsm/libsofthsm2.so";
static struct hsm_signer *signer;
static CK_FUNCTION_LIST_PTR fl;
static CK_SLOT_ID slot;
static atomic_ulong done;
static atomic_bool stop;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *hsm_worker(void *arg)
{
	static const uint8_t msg[600] = {1}; /* about a TBSCertificate */

	(void)arg;
	while (!atomic_load(&stop)) {
		uint8_t *sig = NULL;
		size_t len = 0;
		struct fc_err err = {0};
		if (hsm_sign(signer, msg, sizeof(msg), &sig, &len, &err) != FC_OK) {
			fprintf(stderr, "bench_hsm: %s\n", err.msg);
			exit(1);
		}
		free(sig);
		atomic_fetch_add(&done, 1);
	}
	return NULL;
}

/* Raw: one session per thread, the key found once, C_SignInit + C_Sign
 * over a fixed 32-byte digest. */
static void *raw_worker(void *arg)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, "bench", 5}};
	CK_OBJECT_HANDLE key;
	CK_ULONG n = 0;
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE dgst[32] = {2}, sig[64];

	(void)arg;
	if (fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
	    fl->C_FindObjectsInit(s, t, 2) != CKR_OK ||
	    fl->C_FindObjects(s, &key, 1, &n) != CKR_OK || fl->C_FindObjectsFinal(s) != CKR_OK ||
	    n != 1) {
		fprintf(stderr, "bench_hsm: raw session setup failed\n");
		exit(1);
	}
	while (!atomic_load(&stop)) {
		CK_ULONG len = sizeof(sig);
		if (fl->C_SignInit(s, &mech, key) != CKR_OK ||
		    fl->C_Sign(s, dgst, sizeof(dgst), sig, &len) != CKR_OK) {
			fprintf(stderr, "bench_hsm: raw C_Sign failed\n");
			exit(1);
		}
		atomic_fetch_add(&done, 1);
	}
	fl->C_CloseSession(s);
	return NULL;
}

static double run(void *(*fn)(void *), int threads)
{
	pthread_t t[2];
	double t0;

	atomic_store(&done, 0);
	atomic_store(&stop, false);
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&done) / (now_s() - t0);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/fulcrum-bench-hsm-XXXXXX", conf[128], cmd[512], uri[512];
	struct hsm_p11_config *c = NULL;
	struct hsm_p11 *p = NULL;
	struct fc_err err = {0};
	CK_C_GetFunctionList getfl;
	CK_ULONG ns = 1;
	void *dl;
	bool found = false;

	if (argc > 1)
		secs = atof(argv[1]);
	if (argc > 2)
		module = argv[2];
	if (access(module, R_OK) != 0 || mkdtemp(dir) == NULL) {
		printf("bench_hsm: %s not installed\n", module);
		return 77;
	}
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	FILE *f = fopen(conf, "w");
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label bench --so-pin 0000 --pin 1111 "
		 ">/dev/null");
	if (system(cmd) != 0)
		return 1;
	snprintf(uri, sizeof(uri), "pkcs11:token=bench?module-path=%s&pin-value=1111", module);
	if (hsm_p11_config_parse_uri(uri, &c, &err) != FC_OK)
		return 1;
	c->read_write = true;
	c->max_sessions = 4;
	/* generate the key on a read-write session, then sign as serve does */
	if (hsm_p11_open(c, &p, &err) != FC_OK ||
	    hsm_p11_has_key(p, "bench", NULL, 0, &found, &err) != FC_OK ||
	    (!found && hsm_p11_generate_key(p, "bench", (const uint8_t *)"b", 1, HSM_KEY_EC_P256,
					    &err) != FC_OK)) {
		fprintf(stderr, "bench_hsm: %s\n", err.msg);
		return 1;
	}
	hsm_p11_free(p);
	p = NULL;
	c->read_write = false;
	if (hsm_p11_open(c, &p, &err) != FC_OK ||
	    hsm_p11_signer_new(p, "bench", NULL, 0, HSM_RSA_PKCS1, NULL, &signer, &err) != FC_OK) {
		fprintf(stderr, "bench_hsm: %s\n", err.msg);
		return 1;
	}
	/* the same module, already initialized by hsm/ */
	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	*(void **)&getfl = dlsym(dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&fl) != CKR_OK ||
	    fl->C_GetSlotList(CK_TRUE, NULL, &ns) != CKR_OK)
		return 1;
	{
		CK_SLOT_ID *slots = calloc(ns, sizeof(*slots));
		CK_TOKEN_INFO ti;
		fl->C_GetSlotList(CK_TRUE, slots, &ns);
		for (CK_ULONG i = 0; i < ns; i++)
			if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
			    memcmp(ti.label, "bench ", 6) == 0)
				slot = slots[i];
		free(slots);
	}
	printf("SoftHSM2 ECDSA P-256, %.1f s per figure (10 alternating rounds), %ld CPUs\n", secs,
	       sysconf(_SC_NPROCESSORS_ONLN));
	/* Alternate short rounds of each, so that load from elsewhere on the
	 * machine hits both figures alike. */
	secs /= 10;
	for (int th = 1; th <= 2; th++) {
		double raw = 0, hsm = 0;
		for (int r = 0; r < 10; r++) {
			raw += run(raw_worker, th) / 10;
			hsm += run(hsm_worker, th) / 10;
		}
		printf("threads=%d raw_C_Sign_per_s=%.0f hsm_sign_per_s=%.0f ratio=%.1f%%\n", th,
		       raw, hsm, 100.0 * hsm / raw);
	}
	hsm_signer_free(signer);
	hsm_p11_free(p);
	hsm_p11_config_free(c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
