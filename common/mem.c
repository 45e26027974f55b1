#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common.h"

static void oom(size_t n)
{
	fprintf(stderr, "fulcrum[crit]: out of memory allocating %zu bytes\n", n);
	abort();
}

void *fc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *fc_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *fc_xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

char *fc_xstrdup(const char *s)
{
	return fc_xstrndup(s, strlen(s));
}

char *fc_xstrndup(const char *s, size_t n)
{
	char *p = fc_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *fc_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return p;
}

/*
 * OPENSSL_cleanse is OpenSSL's portable explicit_bzero: the compiler cannot
 * drop it as a dead store.
 */
void fc_memzero(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

void fc_free_secret(char *s)
{
	if (s == NULL)
		return;
	fc_memzero(s, strlen(s));
	free(s);
}
