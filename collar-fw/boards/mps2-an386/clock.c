/*
 * clock.c — the board's time base (SysTick, 1 ms) and the CMSDK APB watchdog.
 *
 * board_clock_ms() is a monotonic millisecond counter incremented by the SysTick interrupt. board_ticks()
 * reads the CMSDK dual timer's first counter, free-running at 25 MHz: it is how the firmware measures the
 * cost of its own work (QEMU 7.2 has no DWT cycle counter; with -icount shift=0 one 40 ns tick is exactly
 * 40 instructions). It wraps every 171 s, so it measures intervals, not dates.
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "regs.h"

static volatile uint32_t clock_ms;

void board_systick_handler(void);
void board_systick_handler(void)
{
	clock_ms = clock_ms + 1u;
}

void board_clock_init(void)
{
	REG32(SYST_CSR) = 0;
	REG32(SYST_RVR) = BOARD_TICKS_PER_MS - 1u;
	REG32(SYST_CVR) = 0;
	/* SysTick at the lowest priority: the UART handlers must never wait behind it (SHPR3[31:24]). */
	REG32(SCB_SHPR3) = (REG32(SCB_SHPR3) & 0x00FFFFFFu) | (0xE0u << 24);
	REG32(SYST_CSR) = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;

	/* Dual timer 1, free-running 32-bit at SYSCLK, no interrupt: the measurement clock. */
	REG32(DUALTIMER1_CONTROL) = 0;
	REG32(DUALTIMER1_LOAD) = 0xFFFFFFFFu;
	REG32(DUALTIMER1_CONTROL) = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_32BIT;
}

uint32_t board_clock_ms(void)
{
	return clock_ms;
}

uint32_t board_ticks(void)
{
	/* Down-counter → up-counter. One register read: no combination of an interrupt-driven ms count with a
	 * timer value, whose wrap and interrupt QEMU (like hardware) need not present atomically. */
	return ~REG32(DUALTIMER1_VALUE);
}

void board_wdog_start(uint32_t timeout_ms)
{
	REG32(WDOG_LOCK) = WDOG_UNLOCK_KEY;
	REG32(WDOG_LOAD) = timeout_ms * BOARD_TICKS_PER_MS;
	REG32(WDOG_CTRL) = WDOG_CTRL_INTEN | WDOG_CTRL_RESEN;
	REG32(WDOG_LOCK) = 0; /* lock: a wild write cannot switch it off */
}

void board_wdog_kick(void)
{
	REG32(WDOG_LOCK) = WDOG_UNLOCK_KEY;
	REG32(WDOG_INTCLR) = 1u; /* clears the interrupt and reloads the counter */
	REG32(WDOG_LOCK) = 0;
}

static uint32_t dev_now_ms(const struct hal_clock *dev)
{
	(void)dev;
	return clock_ms;
}

static const struct hal_clock_api dev_api = {
	.now_ms = dev_now_ms,
};

void board_clock_dev(struct hal_clock *dev)
{
	dev->api = &dev_api;
	dev->ctx = NULL;
}
