/*
 * Clock and randomness behind replaceable function pointers, so tests can
 * pin time (token expiry) and randomness (serial numbers).
 */
#include <time.h>

#include <openssl/rand.h>

#include "common.h"

static int64_t default_now(void)
{
	return (int64_t)time(NULL);
}

static int64_t default_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum fc_status default_rand(uint8_t *buf, size_t n)
{
	/* RAND_bytes takes an int; callers ask for a few dozen bytes at most. */
	if (n > (size_t)INT32_MAX || RAND_bytes(buf, (int)n) != 1) {
		fc_log_ssl("common: RAND_bytes failed");
		return FC_EINTERNAL;
	}
	return FC_OK;
}

static int64_t (*now_fn)(void) = default_now;
static int64_t (*mono_fn)(void) = default_mono_ms;
static enum fc_status (*rand_fn)(uint8_t *, size_t) = default_rand;

int64_t fc_now(void) { return now_fn(); }
int64_t fc_mono_ms(void) { return mono_fn(); }
enum fc_status fc_rand_bytes(uint8_t *buf, size_t n) { return rand_fn(buf, n); }

void fc_set_now_fn(int64_t (*fn)(void)) { now_fn = fn ? fn : default_now; }
void fc_set_mono_fn(int64_t (*fn)(void)) { mono_fn = fn ? fn : default_mono_ms; }
void fc_set_rand_fn(enum fc_status (*fn)(uint8_t *, size_t)) { rand_fn = fn ? fn : default_rand; }
