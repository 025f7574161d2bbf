/*
 * boards/host/clock_host.c — host clocks (hal/clock_host.h). CLOCK_MONOTONIC: wall-clock steps (NTP, the
 * user) must not move the collar's time, exactly like an MCU tick counter.
 */
#define _POSIX_C_SOURCE 200809L
#include "hal/clock_host.h"

#include <errno.h>
#include <time.h>

static int64_t mono_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		return -1;
	}
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t host_now(const struct hal_clock *dev)
{
	const struct hal_clock_host *st = dev->ctx;
	int64_t ns = mono_ns();
	/* truncation to 32 bits is the documented wrap */
	return (uint32_t)((uint64_t)(ns - st->t0_ns) / 1000000u);
}

static const struct hal_clock_api host_api = {.now_ms = host_now};

int hal_clock_host_init(struct hal_clock *dev, struct hal_clock_host *st)
{
	int64_t ns = mono_ns();
	if (ns < 0) {
		return -errno;
	}
	st->t0_ns = ns;
	dev->api = &host_api;
	dev->ctx = st;
	return 0;
}

static uint32_t virt_now(const struct hal_clock *dev)
{
	const struct hal_clock_virt *st = dev->ctx;
	return st->now_ms;
}

static const struct hal_clock_api virt_api = {.now_ms = virt_now};

void hal_clock_virt_init(struct hal_clock *dev, struct hal_clock_virt *st, uint32_t start_ms)
{
	st->now_ms = start_ms;
	dev->api = &virt_api;
	dev->ctx = st;
}

void hal_clock_virt_set(struct hal_clock_virt *st, uint32_t t_ms)
{
	if ((int32_t)(t_ms - st->now_ms) > 0) {
		st->now_ms = t_ms;
	}
}
