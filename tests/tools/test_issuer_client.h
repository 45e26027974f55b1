/*
 * Start and drive tests/tools/test_issuer.c ($FULCRUM_TEST_ISSUER) from a C
 * test: each instance on a free loopback port, always stopped (TERM, then
 * KILL) at exit, also when the test dies of SIGABRT or SIGSEGV; the issuer
 * dies with its parent (PR_SET_PDEATHSIG). Helpers to call its routes
 * (/control, /mint, /stats). Header-only, like check.h; link with libcurl
 * and jansson.
 */
#ifndef FULCRUM_TEST_ISSUER_CLIENT_H
#define FULCRUM_TEST_ISSUER_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common.h"

#define TEST_ISSUERS_MAX 4

struct test_issuer {
	pid_t pid;
	unsigned port;
	char url[64]; /* http://127.0.0.1:PORT */
	char dir[64]; /* private temporary directory */
	char port_file[128];
};

static struct test_issuer *test_issuers[TEST_ISSUERS_MAX];

/* Stop ti: TERM, then KILL after 5 s. Returns its exit status (0 for a
 * clean exit; an ASan/LSan report makes it non-zero), or -1. */
static inline int test_issuer_stop(struct test_issuer *ti)
{
	int status = 0, rc = -1;

	if (ti->pid > 0) {
		kill(ti->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(ti->pid, &status, WNOHANG) == ti->pid) {
				ti->pid = -1;
				rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
				break;
			}
			usleep(50 * 1000);
		}
		if (ti->pid > 0) {
			kill(ti->pid, SIGKILL);
			waitpid(ti->pid, &status, 0);
			ti->pid = -1;
		}
	}
	if (ti->dir[0]) {
		unlink(ti->port_file);
		rmdir(ti->dir);
		ti->dir[0] = '\0';
	}
	return rc;
}

static inline void test_issuers_stop_all(void)
{
	for (int i = 0; i < TEST_ISSUERS_MAX; i++)
		if (test_issuers[i] != NULL)
			test_issuer_stop(test_issuers[i]);
}

static inline void test_issuers_on_fatal(int sig)
{
	/* Stop the children even when a check crashes us. */
	for (int i = 0; i < TEST_ISSUERS_MAX; i++)
		if (test_issuers[i] != NULL && test_issuers[i]->pid > 0)
			kill(test_issuers[i]->pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Register ti for the stop at exit; false if the table is full. */
static inline bool test_issuer_register(struct test_issuer *ti)
{
	static bool hooked;

	if (!hooked) {
		atexit(test_issuers_stop_all);
		signal(SIGABRT, test_issuers_on_fatal);
		signal(SIGSEGV, test_issuers_on_fatal);
		hooked = true;
	}
	for (int i = 0; i < TEST_ISSUERS_MAX; i++)
		if (test_issuers[i] == NULL || test_issuers[i] == ti) {
			test_issuers[i] = ti;
			return true;
		}
	return false;
}

/* Start an issuer into *ti (which must stay valid until it is stopped) and
 * wait until it listens (up to 15 s). */
static inline bool test_issuer_start(struct test_issuer *ti)
{
	const char *bin = getenv("FULCRUM_TEST_ISSUER");
	pid_t parent = getpid();
	unsigned port = 0;
	FILE *f;

	memset(ti, 0, sizeof(*ti));
	ti->pid = -1;
	if (bin == NULL) {
		fprintf(stderr, "FULCRUM_TEST_ISSUER is not set\n");
		return false;
	}
	strcpy(ti->dir, "/tmp/fc-iss-XXXXXX");
	if (mkdtemp(ti->dir) == NULL) {
		ti->dir[0] = '\0';
		return false;
	}
	snprintf(ti->port_file, sizeof(ti->port_file), "%s/port", ti->dir);
	if (!test_issuer_register(ti))
		return false;
	if ((ti->pid = fork()) < 0)
		return false;
	if (ti->pid == 0) {
		/* If the test dies without cleaning up, the issuer goes too. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		execl(bin, "test-issuer", "--port-file", ti->port_file, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && port == 0; i++) {
		int status;

		if (waitpid(ti->pid, &status, WNOHANG) == ti->pid) {
			ti->pid = -1;
			fprintf(stderr, "test-issuer exited early\n");
			return false;
		}
		if ((f = fopen(ti->port_file, "r")) != NULL) {
			if (fscanf(f, "%u", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port == 0)
			usleep(50 * 1000);
	}
	if (port == 0)
		return false;
	ti->port = port;
	snprintf(ti->url, sizeof(ti->url), "http://127.0.0.1:%u", port);
	return true;
}

static inline size_t test_issuer_collect(char *p, size_t size, size_t n, void *ud)
{
	return fc_buf_append(ud, p, size * n) ? size * n : 0;
}

/* POST body (or GET if body is NULL) to the issuer's path; returns the
 * body on 200 (caller frees), else NULL with a line on stderr. */
static inline char *test_issuer_call(const struct test_issuer *ti, const char *path,
				     const char *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct fc_buf b;
	char *url = fc_xasprintf("%s%s", ti->url, path);
	long status = 0;
	char *out = NULL;

	fc_buf_init(&b, 1 << 20);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, test_issuer_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
		out = fc_buf_steal(&b, NULL);
	else
		fprintf(stderr, "issuer call %s failed (HTTP %ld): %s\n", path, status,
			b.data ? (char *)b.data : "");
	fc_buf_free(&b);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
	return out;
}

/* POST /control json; true if the issuer took it. */
static inline bool test_issuer_control(const struct test_issuer *ti, const char *json)
{
	char *r = test_issuer_call(ti, "/control", json);
	bool ok = r != NULL && strstr(r, "\"ok\":true") != NULL;

	free(r);
	return ok;
}

/* POST /mint req: the compact JWS (caller frees), or NULL. */
static inline char *test_issuer_mint(const struct test_issuer *ti, const char *req)
{
	return test_issuer_call(ti, "/mint", req);
}

/* One counter of GET /stats (0 if it cannot be read). */
static inline unsigned test_issuer_stat(const struct test_issuer *ti, const char *name)
{
	char *r = test_issuer_call(ti, "/stats", NULL);
	json_t *j = r ? json_loads(r, 0, NULL) : NULL;
	unsigned n = (unsigned)json_integer_value(json_object_get(j, name));

	json_decref(j);
	free(r);
	return n;
}

#endif /* FULCRUM_TEST_ISSUER_CLIENT_H */
