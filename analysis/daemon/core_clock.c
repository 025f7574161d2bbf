/*
 * analysis/daemon/core_clock.c — the daemon's two clocks, in one place. Monotonic for timeouts, periods and
 * durations (never jumps); UTC wall time only for what a person reads (status, event time stamps).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <time.h>

#include "core.h"

uint64_t core_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t core_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t core_utc_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
