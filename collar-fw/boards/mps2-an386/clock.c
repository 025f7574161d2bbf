/*
 * clock.c — the board's time base (SysTick, 1 ms) and the CMSDK APB watchdog.
 *
 * SysTick interrupts every ms: it is the system tick that wakes the main loop from WFI and keeps the time
 * base below current. board_ticks() reads the CMSDK dual timer's first counter, free-running at 25 MHz: it
 * is how the firmware measures the cost of its own work (QEMU 7.2 has no DWT cycle counter; with -icount
 * shift=0 one 40 ns tick is exactly 40 instructions). It wraps every 171 s; the SysTick handler extends it
 * to 64 bits, and board_clock_ms() is that count / 25000.
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

static volatile uint32_t ticks_hi;   /* wraps of board_ticks() */
static volatile uint32_t ticks_last; /* board_ticks() at the last extension */

/* 64-bit SYSCLK ticks since boot. Interrupts masked: the SysTick handler extends the same state. */
static uint64_t ticks64(void)
{
	uint32_t primask;
	__asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
	uint32_t t = board_ticks();
	if (t < ticks_last) {
		ticks_hi = ticks_hi + 1u;
	}
	ticks_last = t;
	uint64_t v = (uint64_t)ticks_hi << 32 | t;
	__asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
	return v;
}

void board_systick_handler(void);
void board_systick_handler(void)
{
	(void)ticks64(); /* at least once per wrap (171 s) of the timer */
}

void board_clock_init(void)
{
	/* Dual timer 1, free-running 32-bit at SYSCLK, no interrupt: the time base, started first. */
	REG32(DUALTIMER1_CONTROL) = 0;
	REG32(DUALTIMER1_LOAD) = 0xFFFFFFFFu;
	REG32(DUALTIMER1_CONTROL) = DUALTIMER_CTRL_ENABLE | DUALTIMER_CTRL_32BIT;
	ticks_hi = 0;
	ticks_last = board_ticks();

	REG32(SYST_CSR) = 0;
	REG32(SYST_RVR) = BOARD_TICKS_PER_MS - 1u;
	REG32(SYST_CVR) = 0;
	/* SysTick at the lowest priority: the UART handlers must never wait behind it (SHPR3[31:24]). */
	REG32(SCB_SHPR3) = (REG32(SCB_SHPR3) & 0x00FFFFFFu) | (0xE0u << 24);
	REG32(SYST_CSR) = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

uint32_t board_clock_ms(void)
{
	return (uint32_t)(ticks64() / BOARD_TICKS_PER_MS);
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
