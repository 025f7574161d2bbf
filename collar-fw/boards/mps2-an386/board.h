/*
 * board.h — the collar on an MCU: Arm MPS2 with the AN386 FPGA image (Cortex-M4), as emulated by
 * qemu-system-arm -M mps2-an386. Board-only API; the firmware core (cf_*) never includes this file.
 *
 * Memory map used (QEMU hw/arm/mps2.c, AN385/AN386 layout; see README.md for the whole table):
 *   0x00000000  ZBT SSRAM1, 4 MiB   "flash": vector table, code, .rodata, .data load image (64 KiB used)
 *   0x20000000  ZBT SSRAM2/3, 4 MiB "SRAM": .data, .bss, stack (16 KiB used), then the .noinit fault record
 *   0x21000000  PSRAM, 16 MiB       external data flash for the journal (QEMU's machine RAM: can be backed by
 *                                   a file with -object memory-backend-file, so it persists across runs)
 * Peripherals: CMSDK APB UART0..4 (0x40004000, 0x40005000, 0x40006000, 0x40007000, 0x40009000; RX IRQ
 * 0, 2, 4, 18, 20 and TX IRQ one more; the overrun IRQs of UART0..2 are ORed into IRQ 12), CMSDK APB
 * watchdog at 0x40008000 on the NMI line, SysTick on the 25 MHz system clock.
 *
 * UART roles (the order of -serial options on QEMU's command line):
 *   BOARD_UART_CONSOLE 0  boot banner, fixes, summary, fault report (115200 8N1 on hardware)
 *   BOARD_UART_GNSS    1  NMEA 0183 from the receiver (9600..115200 on hardware)
 *   BOARD_UART_SENSOR  2  sensor bus: one text line per sample/event/command (see main.c)
 *   BOARD_UART_RADIO   3  radio modem: COBS frames out (and, later, ACK frames in)
 */
#ifndef BOARD_MPS2_AN386_H
#define BOARD_MPS2_AN386_H

#include <stddef.h>
#include <stdint.h>

#include "hal/clock.h"
#include "hal/flash.h"
#include "hal/uart.h"

#define BOARD_SYSCLK_HZ 25000000u /* MPS2 SYSCLK: SysTick, UARTs, watchdog */
#define BOARD_TICKS_PER_MS (BOARD_SYSCLK_HZ / 1000u)
/* SysTick period: how often an idle main loop wakes to look at its deadlines (10 ms: the collar's shortest
 * timer is the 20 ms button debounce; a 1 ms tick cost ~1 % of a 64 MHz part in idle wake-ups alone). The
 * millisecond clock itself comes from the free-running timer (clock.c), not from counting ticks. */
#define BOARD_TICK_MS 10u

enum board_uart {
	BOARD_UART_CONSOLE = 0,
	BOARD_UART_GNSS = 1,
	BOARD_UART_SENSOR = 2,
	BOARD_UART_RADIO = 3,
	BOARD_UART_COUNT = 4,
};

/* ---- clock (SysTick tick every BOARD_TICK_MS; milliseconds from the free-running timer) -------------- */

void board_clock_init(void);
/* Milliseconds since boot (wraps after 49.7 days; use differences). */
uint32_t board_clock_ms(void);
/* Free-running SYSCLK tick counter (25 MHz, 40 ns, wraps every 171.8 s): the firmware's cost clock.
 * Under `-icount shift=0` one guest instruction is 1 ns of virtual time, so one tick is exactly 40 retired
 * instructions (README.md, "Measuring"). Use differences: (uint32_t)(b - a). */
uint32_t board_ticks(void);
/* board_ticks spent in the UART interrupt handlers since boot (wraps): subtracted from thread-mode cost
 * measurements so that a sentence's parse cost does not include bytes that happened to arrive meanwhile. */
uint32_t board_isr_ticks(void);

/* ---- UARTs (CMSDK APB UART, interrupt-driven, bounded rings) ------------------------------------------ */

struct board_uart_stats {
	uint32_t rx_bytes;      /* bytes delivered into the RX ring */
	uint32_t tx_bytes;      /* bytes handed to the transmitter */
	uint32_t rx_overrun;    /* bytes the hardware lost (RX overrun flag): never expected in QEMU */
	uint32_t rx_throttled;  /* times the RX ring was full and reception paused until the reader caught up */
	uint32_t tx_dropped;    /* bytes refused by board_uart_write because the TX ring was full */
	uint32_t rx_isr_ticks;  /* board_ticks spent in this port's RX handler */
};

/* Configure port for baud 8N1 with RX and TX interrupts. @retval 0  @retval -EINVAL bad port/baud */
int board_uart_init(unsigned port, uint32_t baud);
/* Up to cap bytes from the RX ring (never blocks). Returns the count. */
size_t board_uart_read(unsigned port, void *buf, size_t cap);
/* Bytes waiting in the RX ring. */
size_t board_uart_rx_avail(unsigned port);
/* RX ring size in bytes. */
size_t board_uart_rx_size(unsigned port);
/* Bytes received since init (wraps). */
uint32_t board_uart_rx_bytes(unsigned port);
/* Count received `delim` bytes (a line's '\n', a COBS frame's 0x00) so the main loop can sleep until a
 * whole message is in the ring instead of waking up to read every byte. */
void board_uart_set_delim(unsigned port, uint8_t delim);
/* Delimiters received since init (wraps). */
uint32_t board_uart_rx_delims(unsigned port);
/* Queue all len bytes or none (never blocks). @retval 0 queued  @retval -EAGAIN ring full (counted) */
int board_uart_write(unsigned port, const void *buf, size_t len);
/* Queue len bytes, sleeping (WFI) while the ring is full: for the console, whose lines must not be lost.
 * Thread mode only. */
void board_uart_write_all(unsigned port, const void *buf, size_t len);
/* Wait until every queued byte has been handed to the transmitter. Thread mode only. */
void board_uart_drain(unsigned port);
/* board_ticks spent sleeping in board_uart_write_all / board_uart_drain for a transmitter (64-bit). */
uint64_t board_uart_wait_ticks(void);
void board_uart_get_stats(unsigned port, struct board_uart_stats *st);

/* The same ports and clock as the firmware core sees them (hal/uart.h, hal/clock.h device-class APIs).
 * hal_uart_write on these blocks (WFI) until every byte is queued, as hal/uart.h requires. */
void board_uart_dev(struct hal_uart *dev, unsigned port);
void board_clock_dev(struct hal_clock *dev);

/* ---- console formatting (no printf: newlib's pulls in the heap) ------------------------------------ */

struct board_line {
	char buf[160];
	size_t len;
	uint8_t truncated;
};
void board_line_init(struct board_line *l);
void board_line_str(struct board_line *l, const char *s);
void board_line_u32(struct board_line *l, uint32_t v);
void board_line_u64(struct board_line *l, uint64_t v);
void board_line_i32(struct board_line *l, int32_t v);
void board_line_hex32(struct board_line *l, uint32_t v);
/* v / 10^decimals with exactly `decimals` digits after the point, sign kept (-0.5 prints "-0.5"). */
void board_line_fixed(struct board_line *l, int64_t v, unsigned decimals);
/* ISO 8601 UTC with milliseconds: 2014-12-31T03:07:19.000Z (t_ms >= 0). */
void board_line_utc(struct board_line *l, int64_t t_ms);
/* Append "\r\n" and send on the console (blocking while its ring is full). */
void board_line_emit(struct board_line *l);

/* ---- faults, resets, watchdog ---------------------------------------------------------------------- */

enum board_fault_kind {
	BOARD_FAULT_NONE = 0,
	BOARD_FAULT_HARD = 1,     /* HardFault (or a configurable fault escalated to it) */
	BOARD_FAULT_WATCHDOG = 2, /* watchdog NMI: the main loop stopped kicking */
	BOARD_FAULT_ASSERT = 3,   /* __assert_func: pc = caller, lr = line */
};

/* Survives a warm reset in the .noinit RAM section (not rewritten by the loader nor by startup). */
struct board_fault_rec {
	uint32_t magic;
	uint32_t kind;       /* enum board_fault_kind */
	uint32_t pc;         /* stacked PC of the faulting instruction */
	uint32_t lr;         /* stacked LR */
	uint32_t xpsr;       /* stacked xPSR (IPSR says which exception was active) */
	uint32_t sp;         /* stack pointer at the fault (the exception frame's address) */
	uint32_t exc_return; /* EXC_RETURN of the fault handler: thread/handler mode, MSP/PSP */
	uint32_t cfsr;       /* SCB->CFSR: MemManage, BusFault, UsageFault status */
	uint32_t hfsr;       /* SCB->HFSR: FORCED (escalated), VECTTBL */
	uint32_t mmfar;
	uint32_t bfar;
	uint32_t uptime_ms;  /* board_clock_ms() at the fault */
	uint32_t check;      /* ~ (xor of the fields above): a half-written record is not reported */
};

struct board_boot_info {
	uint32_t boot_count;   /* boots since power-on (1 = cold) */
	uint32_t fault_count;  /* fault records written since power-on */
	int warm;              /* 1: RAM survived (reset request, watchdog, fault) */
	int have_fault;        /* 1: *fault holds the record left by the previous boot */
	struct board_fault_rec fault;
};

/* Called once at boot: reads and clears the persistent fault record, counts the boot. */
void board_boot_info(struct board_boot_info *bi);
/* Record a fault and reset (never returns). Used by the fault handlers and __assert_func. */
void board_fault_record_and_reset(uint32_t kind, const uint32_t *frame, uint32_t exc_return)
	__attribute__((noreturn));
void board_reset(void) __attribute__((noreturn));

/* Start the watchdog: NMI (recorded as a fault, then reset) if not kicked for timeout_ms; the
 * hardware's own reset on the second timeout backs that up. */
void board_wdog_start(uint32_t timeout_ms);
void board_wdog_kick(void);

/* ---- stack ----------------------------------------------------------------------------------------- */

/* Bytes of the stack region ever used (stack painted at reset; the first unpainted word from the
 * bottom is the high-water mark). */
uint32_t board_stack_used(void);
uint32_t board_stack_size(void);

/* ---- data flash (a RAM region with NOR rules, hal/flash.h) ----------------------------------------- */

struct hal_flash_ram {
	uint8_t *mem;
	uint32_t size;
	uint32_t n_programs;
	uint32_t n_erases;
	uint32_t n_violations; /* program asked to set a 0 bit to 1: refused with -EPERM */
	uint32_t n_misuse;     /* misaligned or out of range: -EINVAL */
};

/* mem: page_size * n_pages bytes the board reserves for the flash (linker symbol __jflash_start).
 * Content is kept as found: after a warm reset (or a file-backed PSRAM) it is the previous journal.
 * @retval 0  @retval -EINVAL bad geometry */
int hal_flash_ram_init(struct hal_flash *dev, struct hal_flash_ram *fr, uint8_t *mem, uint32_t page_size,
		       uint32_t n_pages, uint32_t prog_unit);

#endif
