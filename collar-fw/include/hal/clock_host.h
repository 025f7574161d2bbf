/*
 * hal/clock_host.h — host board clocks: the monotonic clock (ms since hal_clock_host_init, so a process
 * start is a boot) and a virtual clock the board moves itself (replays "as fast as possible" with time
 * taken from the input's timestamps). Both never go backwards.
 */
#ifndef HAL_CLOCK_HOST_H
#define HAL_CLOCK_HOST_H

#include <stdint.h>

#include "hal/clock.h"

struct hal_clock_host {
	int64_t t0_ns; /* CLOCK_MONOTONIC at init */
};

struct hal_clock_virt {
	uint32_t now_ms;
};

/* @retval 0 ok  @retval -errno clock_gettime failed */
int hal_clock_host_init(struct hal_clock *dev, struct hal_clock_host *st);

void hal_clock_virt_init(struct hal_clock *dev, struct hal_clock_virt *st, uint32_t start_ms);
/* Move the virtual clock to t_ms; an earlier time (signed difference) leaves it where it is. */
void hal_clock_virt_set(struct hal_clock_virt *st, uint32_t t_ms);

#endif
