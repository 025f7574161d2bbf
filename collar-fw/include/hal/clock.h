/*
 * hal/clock.h — the collar's millisecond clock (the only source of time: the core never reads one itself,
 * every cf_* call takes now_ms from here).
 *
 * now_ms wraps after 49.7 days; users compare times by signed difference. It never goes backwards.
 * Host implementations (boards/host/clock_host.c): the monotonic clock, and a virtual clock the board
 * advances itself (scentrack-collar --fast replays logs as fast as possible with time taken from them).
 */
#ifndef HAL_CLOCK_H
#define HAL_CLOCK_H

#include <stdint.h>

struct hal_clock;

struct hal_clock_api {
	uint32_t (*now_ms)(const struct hal_clock *dev);
};

struct hal_clock {
	const struct hal_clock_api *api;
	void *ctx;
};

static inline uint32_t hal_clock_now_ms(const struct hal_clock *dev)
{
	return dev->api->now_ms(dev);
}

#endif
