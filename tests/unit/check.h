/*
 * A minimal test harness: CHECK records a failure and goes on; the test's
 * main returns check_exit() (0 if every check passed, 1 otherwise).
 */
#ifndef FULCRUM_CHECK_H
#define FULCRUM_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		check_count++;                                                                     \
		if (g_ == NULL || w_ == NULL ? g_ != w_ : strcmp(g_, w_) != 0) {                   \
			check_failures++;                                                          \
			fprintf(stderr, "FAIL %s:%d: %s == \"%s\", want \"%s\"\n", __FILE__,       \
				__LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");           \
		}                                                                                  \
	} while (0)

/* err message contains a substring */
#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		check_count++;                                                                     \
		if (h_ == NULL || strstr(h_, n_) == NULL) {                                        \
			check_failures++;                                                          \
			fprintf(stderr, "FAIL %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,  \
				__LINE__, h_ ? h_ : "(null)", n_);                                 \
		}                                                                                  \
	} while (0)

static inline int check_exit(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
