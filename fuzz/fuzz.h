/*
 * fuzz: what every fuzz target shares.
 *
 * Each fuzz/<parser>_fuzz.c defines LLVMFuzzerTestOneInput, which feeds one
 * input to the real parser, checks the invariants the parser promises and
 * frees everything. The same file links either with libFuzzer
 * (run-libfuzzer.sh) or with driver.c, which replays the seed corpora plus
 * deterministic mutations for the regression suite (`meson test --suite
 * fuzz`). A violated invariant calls abort(), which both report as a crash.
 */
#ifndef FULCRUM_FUZZ_H
#define FULCRUM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* Abort (a crash for the fuzzer) unless cond holds. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

__attribute__((noreturn)) static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz: %s:%d: invariant violated: %s\n", file, line, what);
	abort();
}

/* Log everything, so that the formatting of every message runs too. The
 * drivers keep that noise out of the way: driver.c shows a target's stderr
 * only for an input that crashes, libFuzzer drops it with -close_fd_mask=2;
 * sanitizer reports are always shown. */
static inline void fuzz_log_all(void)
{
	fc_log_set_level(LOG_DEBUG);
}

/* A NUL-terminated copy of the input (for parsers that take a C string);
 * caller frees. The parser sees the text up to the first NUL. */
static inline char *fuzz_strndup(const uint8_t *d, size_t n)
{
	char *s = fc_xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		s[i] = (char)d[i];
	s[n] = '\0';
	return s;
}

#endif /* FULCRUM_FUZZ_H */
