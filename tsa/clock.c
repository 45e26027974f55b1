/*
 * Is the system clock fit to put a time on a token? The kernel knows: a
 * time daemon (chronyd, ntpd, systemd-timesyncd) that disciplines the clock
 * clears STA_UNSYNC in the kernel's NTP state and keeps its maximum error
 * estimate (maxerror, microseconds) up to date; with no daemon, or one that
 * lost its sources, STA_UNSYNC is set or maxerror grows by 500 ppm a second
 * until the kernel sets STA_UNSYNC itself (16 s). adjtimex(2) with no mode
 * bits only reads that state, needs no privilege, and works in a container
 * (the clock is the host's).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <sys/timex.h>

#include "tsa_int.h"

static bool kernel_probe(struct tsa_clock_status *st)
{
	struct timex tx = {0}; /* modes 0: read only */
	int state = adjtimex(&tx);

	if (state == -1)
		return false;
	st->synchronised = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
	st->maxerror_us = (int64_t)tx.maxerror;
	return true;
}

static bool (*_Atomic probe_fn)(struct tsa_clock_status *) = kernel_probe;

/*
 * Replace the kernel query (tests); NULL restores adjtimex(2).
 */
void tsa_set_clock_probe(bool (*fn)(struct tsa_clock_status *st))
{
	atomic_store(&probe_fn, fn ? fn : kernel_probe);
}

/*
 * Judge the clock (tsa.h): synchronised, and a maximum error of at most
 * max_error_us. Returns true, or false with the reason in why.
 */
bool tsa_clock_ok(int64_t max_error_us, char *why, size_t n)
{
	struct tsa_clock_status st = {0};
	bool (*fn)(struct tsa_clock_status *) = atomic_load(&probe_fn);

	if (!fn(&st)) {
		snprintf(why, n, "the clock's synchronisation state cannot be read (adjtimex)");
		return false;
	}
	if (!st.synchronised) {
		snprintf(why, n, "the system clock is not synchronised (adjtimex: STA_UNSYNC)");
		return false;
	}
	if (st.maxerror_us > max_error_us) {
		snprintf(why, n,
			 "the system clock's maximum error is %lld us, over the %lld us allowed",
			 (long long)st.maxerror_us, (long long)max_error_us);
		return false;
	}
	return true;
}
