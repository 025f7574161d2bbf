/*
 * clock.c — the board's time base (SysTick, 1 ms) and the CMSDK APB watchdog.
 *
 * SysTick interrupts every BOARD_TICK_MS: it is the system tick that wakes the main loop from WFI and keeps
 * the time base below current. board_ticks() reads the CMSDK dual timer's first counter, free-running at 25 MHz: it
 * is how the firmware measures the cost of its own work (QEMU 7.2 has no DWT cycle counter; with -icount
 * shift=0 one 40 ns tick is exactly 40 instructions). It wraps every 171 s; board_clock_ms() counts its
 * ticks in whole milliseconds (25 000 ticks each), updated on every call and by every SysTick.
 *
 * Why the milliseconds are not simply SysTick interrupts counted: under QEMU's -icount with sleep, SysTick
 * (a ptimer re-armed when it fires) loses the lateness of every delivery, and a 1 ms period ran ~25 % slow
 * against the free-running timer (measured: 11.9 s of SysTick counts in 15.6 s). On hardware both come from
 * the same crystal and agree; here a slow clock made the collar see a 250 ms receiver period as ~190 ms and
 * skip fixes. Counting from the free-running timer keeps the clock right on both.
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "regs.h"

static uint32_t ticks_last; /* board_ticks() at the last update */
static uint32_t ms_count;   /* milliseconds since board_clock_init */
static uint32_t ms_frac;    /* ticks not yet a whole millisecond (< BOARD_TICKS_PER_MS) */

/* Advance the millisecond count by the timer ticks since the last call: 32-bit arithmetic only (the M4
 * divides in hardware; a 64-bit division is a library call of a few hundred instructions, and this runs
 * every loop turn). Interrupts masked: the SysTick handler updates the same state. Called at least every
 * tick, so the 32-bit tick delta never wraps. */
static uint32_t clock_update(void)
{
	uint32_t primask;
	__asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
	uint32_t t = board_ticks();
	ms_frac += t - ticks_last;
	ticks_last = t;
	if (ms_frac >= BOARD_TICKS_PER_MS) {
		ms_count += ms_frac / BOARD_TICKS_PER_MS;
		ms_frac %= BOARD_TICKS_PER_MS;
	}
	uint32_t ms = ms_count;
	__asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
	return ms;
}

void board_systick_handler(void);
void board_systick_handler(void)
{
	(void)clock_update(); /* keeps the tick delta of clock_update small */
}

void board_clock_init(void)
{
	/* Dual timer 1, free-running 32-bit at SYSCLK, no interrupt: the time base, started first. */
	REG32(DUALTIMER1_CONTROL) = 0;
	REG32(DUALTIMER1_LOAD) = 0xFFFFFFFFu;
	REG32(DUALTIMER1_CONTROL) = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_32BIT;
	ms_count = 0;
	ms_frac = 0;
	ticks_last = board_ticks();

	REG32(SYST_CSR) = 0;
	REG32(SYST_RVR) = BOARD_TICK_MS * BOARD_TICKS_PER_MS - 1u;
	REG32(SYST_CVR) = 0;
	/* SysTick at the lowest priority: the UART handlers must never wait behind it (SHPR3[31:24]). */
	REG32(SCB_SHPR3) = (REG32(SCB_SHPR3) & 0x00FFFFFFu) | (0xE0u << 24);
	REG32(SYST_CSR) = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

uint32_t board_clock_ms(void)
{
	return clock_update();
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
	return board_clock_ms();
}

static const struct hal_clock_api dev_api = {
	.now_ms = dev_now_ms,
};

void board_clock_dev(struct hal_clock *dev)
{
	dev->api = &dev_api;
	dev->ctx = NULL;
}
