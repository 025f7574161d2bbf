/*
 * startup.c — reset, vector table, fault capture and reset for the mps2-an386 collar image.
 *
 * Reset: copy .data from its load image in flash, zero .bss, paint the stack (for the high-water mark),
 * enable the divide-by-zero trap, run main(). No C library start-up code runs (-nostartfiles): the image
 * has no constructors, no stdio and no heap.
 *
 * Faults: MemManage, BusFault and UsageFault are left disabled on purpose, so every fault escalates to
 * HardFault (HFSR.FORCED) and one handler records them all: the exception frame (PC, LR, xPSR), CFSR,
 * HFSR, MMFAR, BFAR and the uptime go into a record in RAM that the start-up code never touches (the
 * NOINIT region of the linker script), then SYSRESETREQ reboots the chip. The next boot reports the record
 * on the console and clears it. The watchdog's NMI takes the same path.
 */
#include <assert.h>
#include <stdint.h>

#include "board.h"
#include "regs.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);

#define STACK_PAINT 0xC0115A7Au
#define FAULT_MAGIC 0xFA017EC0u
#define BOOT_MAGIC 0xB0075EEDu

/* The layout of the NOINIT region (256 bytes). */
struct noinit {
	struct board_fault_rec fault;
	uint32_t boot_magic;
	uint32_t boot_count;
	uint32_t fault_count;
	uint32_t boot_check; /* ~(boot_count ^ fault_count): RAM garbage at power-on is not a warm boot */
};
_Static_assert(sizeof(struct noinit) <= 256, "NOINIT region is 256 bytes (mps2_an386.ld)");

/* Placed by the linker script at ORIGIN(NOINIT): an address, not a section, so nothing initialises it. */
extern volatile struct noinit board_noinit;

static volatile struct noinit *noinit(void)
{
	return &board_noinit;
}

/* ---- reset ----------------------------------------------------------------------------------------- */

void board_reset_handler(void) __attribute__((noreturn, used));
void board_reset_handler(void)
{
	uint32_t *src = __data_load;
	for (uint32_t *dst = __data_start; dst < __data_end;) {
		*dst++ = *src++;
	}
	for (uint32_t *dst = __bss_start; dst < __bss_end;) {
		*dst++ = 0;
	}
	/* Paint the stack below our own frame: what main() and the ISRs later overwrite is the high-water mark.
	 * The margin keeps the paint loop off its own live frame. */
	uint32_t sp;
	__asm__ volatile("mov %0, sp" : "=r"(sp));
	for (uint32_t *w = __stack_bottom; (uintptr_t)w < sp - 64u; w++) {
		*w = STACK_PAINT;
	}
	REG32(SCB_CCR) |= SCB_CCR_DIV_0_TRP;
	(void)main();
	board_reset();
}

uint32_t board_stack_size(void)
{
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t board_stack_used(void)
{
	const uint32_t *w = __stack_bottom;
	while (w < __stack_top && *w == STACK_PAINT) {
		w++;
	}
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)w);
}

/* ---- faults ---------------------------------------------------------------------------------------- */

static uint32_t fault_check(const volatile struct board_fault_rec *r)
{
	return ~(r->magic ^ r->kind ^ r->pc ^ r->lr ^ r->xpsr ^ r->sp ^ r->exc_return ^ r->cfsr ^ r->hfsr ^
		 r->mmfar ^ r->bfar ^ r->uptime_ms);
}

void board_reset(void)
{
	__asm__ volatile("dsb" ::: "memory");
	REG32(SCB_AIRCR) = SCB_AIRCR_VECTKEY | SCB_AIRCR_SYSRESETREQ;
	__asm__ volatile("dsb" ::: "memory");
	for (;;) {
		__asm__ volatile("wfi");
	}
}

void board_fault_record_and_reset(uint32_t kind, const uint32_t *frame, uint32_t exc_return)
{
	volatile struct noinit *ni = noinit();
	volatile struct board_fault_rec *r = &ni->fault;
	uintptr_t f = (uintptr_t)frame;

	__asm__ volatile("cpsid i" ::: "memory");
	r->magic = FAULT_MAGIC;
	r->kind = kind;
	r->exc_return = exc_return;
	r->sp = (uint32_t)f;
	/* The frame is only read if it lies inside the stack: a fault caused by a wild stack pointer must
	 * not fault again here (that would lock the core up instead of rebooting it). */
	if (frame != NULL && f >= (uintptr_t)__stack_bottom && f + 32u <= (uintptr_t)__stack_top) {
		r->lr = frame[5];
		r->pc = frame[6];
		r->xpsr = frame[7];
	} else {
		r->lr = 0;
		r->pc = 0;
		r->xpsr = 0;
	}
	r->cfsr = REG32(SCB_CFSR);
	r->hfsr = REG32(SCB_HFSR);
	r->mmfar = REG32(SCB_MMFAR);
	r->bfar = REG32(SCB_BFAR);
	r->uptime_ms = board_clock_ms();
	r->check = fault_check(r);
	if (ni->boot_magic == BOOT_MAGIC) {
		ni->fault_count = ni->fault_count + 1u;
		ni->boot_check = ~(ni->boot_count ^ ni->fault_count);
	}
	board_reset();
}

void board_fault_hard_c(const uint32_t *frame, uint32_t exc_return) __attribute__((noreturn, used));
void board_fault_hard_c(const uint32_t *frame, uint32_t exc_return)
{
	board_fault_record_and_reset(BOARD_FAULT_HARD, frame, exc_return);
}

void board_fault_wdog_c(const uint32_t *frame, uint32_t exc_return) __attribute__((noreturn, used));
void board_fault_wdog_c(const uint32_t *frame, uint32_t exc_return)
{
	board_fault_record_and_reset(BOARD_FAULT_WATCHDOG, frame, exc_return);
}

/* Pass the exception frame (on whichever stack was active: EXC_RETURN bit 2) and EXC_RETURN to C. */
__attribute__((naked)) void board_hardfault_handler(void)
{
	__asm__ volatile("tst lr, #4\n\t"
			 "ite eq\n\t"
			 "mrseq r0, msp\n\t"
			 "mrsne r0, psp\n\t"
			 "mov r1, lr\n\t"
			 "b board_fault_hard_c\n\t");
}

__attribute__((naked)) void board_nmi_handler(void)
{
	__asm__ volatile("tst lr, #4\n\t"
			 "ite eq\n\t"
			 "mrseq r0, msp\n\t"
			 "mrsne r0, psp\n\t"
			 "mov r1, lr\n\t"
			 "b board_fault_wdog_c\n\t");
}

/* newlib's assert() ends here; its own version would print with fiprintf and pull in the heap. The
 * record keeps the caller's address and the line: enough to find the assert in the .map file. */
void __assert_func(const char *file, int line, const char *func, const char *expr)
{
	uint32_t frame[8] = {0};
	(void)file;
	(void)func;
	(void)expr;
	frame[5] = (uint32_t)line;
	frame[6] = (uint32_t)(uintptr_t)__builtin_return_address(0);
	board_fault_record_and_reset(BOARD_FAULT_ASSERT, frame, 0);
}

void board_boot_info(struct board_boot_info *bi)
{
	volatile struct noinit *ni = noinit();
	volatile struct board_fault_rec *r = &ni->fault;

	bi->warm = ni->boot_magic == BOOT_MAGIC && ni->boot_check == ~(ni->boot_count ^ ni->fault_count);
	if (!bi->warm) {
		ni->boot_magic = BOOT_MAGIC;
		ni->boot_count = 0;
		ni->fault_count = 0;
	}
	bi->have_fault = bi->warm && r->magic == FAULT_MAGIC && r->check == fault_check(r);
	if (bi->have_fault) {
		bi->fault.magic = r->magic;
		bi->fault.kind = r->kind;
		bi->fault.pc = r->pc;
		bi->fault.lr = r->lr;
		bi->fault.xpsr = r->xpsr;
		bi->fault.sp = r->sp;
		bi->fault.exc_return = r->exc_return;
		bi->fault.cfsr = r->cfsr;
		bi->fault.hfsr = r->hfsr;
		bi->fault.mmfar = r->mmfar;
		bi->fault.bfar = r->bfar;
		bi->fault.uptime_ms = r->uptime_ms;
		bi->fault.check = r->check;
	}
	r->magic = 0; /* reported once */
	ni->boot_count = ni->boot_count + 1u;
	ni->boot_check = ~(ni->boot_count ^ ni->fault_count);
	bi->boot_count = ni->boot_count;
	bi->fault_count = ni->fault_count;
}

/* ---- vector table ---------------------------------------------------------------------------------- */

static void default_handler(void)
{
	/* An interrupt nobody enabled: record it as a fault (IPSR in xPSR says which) rather than spin. */
	uint32_t frame[8] = {0};
	uint32_t ipsr;
	__asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
	frame[7] = ipsr;
	board_fault_record_and_reset(BOARD_FAULT_HARD, frame, 0);
}

void board_systick_handler(void);
void board_uart0_rx_handler(void);
void board_uart0_tx_handler(void);
void board_uart1_rx_handler(void);
void board_uart1_tx_handler(void);
void board_uart2_rx_handler(void);
void board_uart2_tx_handler(void);
void board_uart3_rx_handler(void);
void board_uart3_tx_handler(void);
void board_uart_ovr_handler(void);

#define N_IRQ 32u /* AN385/AN386 NVIC (QEMU num-irq 32) */

struct vector_table {
	const void *initial_sp;
	void (*exc[15])(void);
	void (*irq[N_IRQ])(void);
};

__attribute__((section(".isr_vector"), used)) static const struct vector_table vectors = {
	.initial_sp = __stack_top,
	.exc = {
		board_reset_handler,     /* 1 reset */
		board_nmi_handler,       /* 2 NMI: the watchdog */
		board_hardfault_handler, /* 3 */
		default_handler,         /* 4 MemManage (disabled: escalates) */
		default_handler,         /* 5 BusFault (disabled: escalates) */
		default_handler,         /* 6 UsageFault (disabled: escalates) */
		NULL, NULL, NULL, NULL,
		default_handler,         /* 11 SVCall */
		default_handler,         /* 12 DebugMonitor */
		NULL,
		default_handler,         /* 14 PendSV */
		board_systick_handler,   /* 15 */
	},
	.irq = {
		[0] = board_uart0_rx_handler,
		[1] = board_uart0_tx_handler,
		[2] = board_uart1_rx_handler,
		[3] = board_uart1_tx_handler,
		[4] = board_uart2_rx_handler,
		[5] = board_uart2_tx_handler,
		[6] = default_handler,  [7] = default_handler,  [8] = default_handler,  [9] = default_handler,
		[10] = default_handler, [11] = default_handler,
		[12] = board_uart_ovr_handler, /* UART0..2 overrun, ORed */
		[13] = default_handler, [14] = default_handler, [15] = default_handler, [16] = default_handler,
		[17] = default_handler,
		[18] = board_uart3_rx_handler,
		[19] = board_uart3_tx_handler,
		[20] = default_handler, [21] = default_handler, [22] = default_handler, [23] = default_handler,
		[24] = default_handler, [25] = default_handler, [26] = default_handler, [27] = default_handler,
		[28] = default_handler, [29] = default_handler, [30] = default_handler, [31] = default_handler,
	},
};
