/*
 * Clock and randomness behind replaceable function pointers, so tests can
 * pin time (token expiry, SCT timestamps) and randomness (serial numbers);
 * and deadlines on the monotonic clock, computed through the same seam.
 */
#include <time.h>

#include <openssl/rand.h>

#include "common.h"

static int64_t default_now(void)
{
	return (int64_t)time(NULL);
}

static int64_t default_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* The wall clock as a test set it, in seconds or in milliseconds (at most
 * one of the two is set; neither: the real clock). */
static int64_t (*now_fn)(void);
static int64_t (*now_ms_fn)(void);
static int64_t (*mono_fn)(void) = default_mono_ms;
static enum fc_status (*rand_fn)(uint8_t *, size_t) = default_rand;

/* Seconds since the epoch: the test's clock if one is set, else time(). */
int64_t fc_now(void)
{
	if (now_ms_fn != NULL)
		return now_ms_fn() / 1000;
	return now_fn != NULL ? now_fn() : default_now();
}

/* Milliseconds since the epoch, from the same clock as fc_now(). */
int64_t fc_now_ms(void)
{
	if (now_ms_fn != NULL)
		return now_ms_fn();
	return now_fn != NULL ? now_fn() * 1000 : default_now_ms();
}

int64_t fc_mono_ms(void)
{
	return mono_fn();
}
enum fc_status fc_rand_bytes(uint8_t *buf, size_t n)
{
	return rand_fn(buf, n);
}

/* Replace the wall clock (seconds; fc_now_ms follows); NULL restores it. */
void fc_set_now_fn(int64_t (*fn)(void))
{
	now_fn = fn;
	now_ms_fn = NULL;
}

/* Replace the wall clock (milliseconds; fc_now follows); NULL restores it. */
void fc_set_now_ms_fn(int64_t (*fn)(void))
{
	now_ms_fn = fn;
	now_fn = NULL;
}

void fc_set_mono_fn(int64_t (*fn)(void))
{
	mono_fn = fn ? fn : default_mono_ms;
}
void fc_set_rand_fn(enum fc_status (*fn)(uint8_t *, size_t))
{
	rand_fn = fn ? fn : default_rand;
}

/* --- deadlines ---------------------------------------------------------- */

/* fc_mono_ms() + timeout_ms, saturating instead of overflowing. */
int64_t fc_deadline_ms(int64_t timeout_ms)
{
	int64_t now = fc_mono_ms();

	if (timeout_ms > 0 && now > INT64_MAX - timeout_ms)
		return INT64_MAX;
	return now + timeout_ms;
}

/* Milliseconds until deadline (a value from fc_deadline_ms), 0 once past. */
int64_t fc_deadline_left_ms(int64_t deadline)
{
	int64_t now = fc_mono_ms();

	return deadline <= now ? 0 : deadline - now;
}

/* True once the monotonic clock has reached deadline. */
bool fc_deadline_expired(int64_t deadline)
{
	return fc_mono_ms() >= deadline;
}

/*
 * deadline as an absolute CLOCK_MONOTONIC time, for pthread_cond_timedwait
 * on a condition variable set to that clock. The time left is measured
 * with fc_mono_ms(), so a test that moves that clock moves the wait too.
 */
void fc_deadline_timespec(int64_t deadline, struct timespec *ts)
{
	int64_t wait = fc_deadline_left_ms(deadline);
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (wait > (int64_t)1000 * 86400 * 365)
		wait = (int64_t)1000 * 86400 * 365; /* a year is "forever" enough */
	ts->tv_sec = now.tv_sec + (time_t)(wait / 1000);
	ts->tv_nsec = now.tv_nsec + (long)(wait % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}
