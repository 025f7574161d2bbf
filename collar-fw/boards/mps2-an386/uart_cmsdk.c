/*
 * uart_cmsdk.c — Arm CMSDK APB UART driver: interrupt-driven, one bounded RX and TX ring per port.
 *
 * The CMSDK UART has a one-byte holding register each way and no FIFO, so the rings are the buffering.
 * Every ring is single-producer single-consumer (ISR on one side, the main loop on the other) with free-
 * running 16-bit indices, so neither side needs to mask interrupts to move data.
 *
 * RX when the ring is full: the ISR leaves the byte in the holding register and masks the port's RX
 * interrupt (counted in rx_throttled); board_uart_read() unmasks it once it has made room. QEMU delivers
 * the next character only when the holding register is empty, so under emulation this loses nothing.
 * On hardware a byte arriving meanwhile sets the overrun flag: the overrun interrupt (UART0..2) or the
 * next RX interrupt counts it in rx_overrun, so a slow main loop shows up as a number, never silently.
 *
 * TX: the CMSDK UART raises its TX interrupt when the holding register goes from full to empty, so a
 * transfer is started by writing the first byte by hand and the ISR then feeds the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "regs.h"

/*
 * Ring sizes per port (powers of two), sized for the 16 KiB RAM that cf_app (~7.3 KiB) shares with them:
 *   console  RX 16 (unused)   TX 512 (three console lines; the writer sleeps when it is full)
 *   GNSS     RX 512 (~0.5 s of NMEA at 9600 Bd)   TX 16 (unused)
 *   sensor   RX 256 (a dozen sensor lines: 50 Hz samples, the loop drains them every turn)   TX 16
 *   radio    RX 512 (two full frames of ACKs/CMDs)   TX 512 (one full frame + the next one's start)
 */
#define CONSOLE_RX 16u
#define CONSOLE_TX 512u
#define GNSS_RX 512u
#define GNSS_TX 16u
#define SENSOR_RX 256u
#define SENSOR_TX 16u
#define RADIO_RX 512u
#define RADIO_TX 512u

static uint8_t console_rx[CONSOLE_RX], console_tx[CONSOLE_TX], gnss_rx[GNSS_RX], gnss_tx[GNSS_TX];
static uint8_t sensor_rx[SENSOR_RX], sensor_tx[SENSOR_TX], radio_rx[RADIO_RX], radio_tx[RADIO_TX];

/* Read-only wiring (flash), separate from the state so that the rings stay in .bss, not .data. */
struct uart_cfg {
	uint32_t base;
	uint8_t rx_irq; /* TX irq is rx_irq + 1 */
	uint16_t rx_size, tx_size;
	uint8_t *rx, *tx;
};

static const struct uart_cfg cfgs[BOARD_UART_COUNT] = {
	{.base = 0x40004000u, .rx_irq = 0, .rx_size = CONSOLE_RX, .tx_size = CONSOLE_TX, .rx = console_rx,
	 .tx = console_tx},
	{.base = 0x40005000u, .rx_irq = 2, .rx_size = GNSS_RX, .tx_size = GNSS_TX, .rx = gnss_rx, .tx = gnss_tx},
	{.base = 0x40006000u, .rx_irq = 4, .rx_size = SENSOR_RX, .tx_size = SENSOR_TX, .rx = sensor_rx,
	 .tx = sensor_tx},
	{.base = 0x40007000u, .rx_irq = 18, .rx_size = RADIO_RX, .tx_size = RADIO_TX, .rx = radio_rx, .tx = radio_tx},
};

struct uart_port {
	uint32_t base;
	uint8_t rx_irq;
	volatile uint16_t rx_head, rx_tail; /* head: ISR writes; tail: reader */
	volatile uint16_t tx_head, tx_tail; /* head: writer; tail: ISR */
	volatile bool tx_busy;              /* a byte is in the holding register */
	volatile bool rx_masked;
	volatile struct board_uart_stats st;
	uint16_t rx_size, tx_size;          /* powers of two */
	uint8_t *rx, *tx;
	bool has_delim;
	uint8_t delim;                      /* end-of-message byte counted by the RX ISR ('\n', COBS 0x00) */
	volatile uint32_t rx_delims;
};

static struct uart_port ports[BOARD_UART_COUNT];

static void irq_enable(unsigned irq)
{
	REG32(NVIC_ISER0) = 1u << irq;
}

static void irq_disable(unsigned irq)
{
	REG32(NVIC_ICER0) = 1u << irq;
	__asm__ volatile("dsb\n\tisb" ::: "memory");
}

int board_uart_init(unsigned port, uint32_t baud)
{
	if (port >= BOARD_UART_COUNT || baud == 0 || BOARD_SYSCLK_HZ / baud < 16u) {
		return -EINVAL;
	}
	struct uart_port *u = &ports[port];
	u->base = cfgs[port].base;
	u->rx_irq = cfgs[port].rx_irq;
	u->rx_size = cfgs[port].rx_size;
	u->tx_size = cfgs[port].tx_size;
	u->rx = cfgs[port].rx;
	u->tx = cfgs[port].tx;
	REG32(u->base + UART_CTRL) = 0;
	REG32(u->base + UART_BAUDDIV) = BOARD_SYSCLK_HZ / baud; /* the CMSDK UART needs >= 16 */
	REG32(u->base + UART_INTSTATUS) = UART_INT_TX | UART_INT_RX | UART_INT_TXOVR | UART_INT_RXOVR;
	REG32(u->base + UART_STATE) = UART_STATE_TXOVR | UART_STATE_RXOVR;
	REG32(u->base + UART_CTRL) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_TXINT | UART_CTRL_RXINT |
				     UART_CTRL_RXOVRINT;
	irq_enable(u->rx_irq);
	irq_enable(u->rx_irq + 1u);
	if (port <= 2u) {
		irq_enable(12u); /* overrun of UART0..2 */
	}
	return 0;
}

/* ---- interrupt side -------------------------------------------------------------------------------- */

/* Ticks spent in the UART handlers, so that cost measurements in thread mode can leave them out. */
static volatile uint32_t isr_ticks;

uint32_t board_isr_ticks(void)
{
	return isr_ticks;
}

static void rx_isr_body(struct uart_port *u)
{
	uint32_t state = REG32(u->base + UART_STATE);
	if (state & UART_STATE_RXOVR) {
		u->st.rx_overrun = u->st.rx_overrun + 1u;
		REG32(u->base + UART_STATE) = UART_STATE_RXOVR;
	}
	if (!(state & UART_STATE_RXFULL)) {
		REG32(u->base + UART_INTSTATUS) = UART_INT_RX;
		return;
	}
	uint16_t head = u->rx_head;
	if ((uint16_t)(head - u->rx_tail) >= u->rx_size) {
		/* Ring full: keep the byte in the holding register, stop listening until the reader makes room.
		 * The RX interrupt stays pending in the UART, so unmasking resumes exactly here. */
		u->st.rx_throttled = u->st.rx_throttled + 1u;
		u->rx_masked = true;
		irq_disable(u->rx_irq);
		return;
	}
	REG32(u->base + UART_INTSTATUS) = UART_INT_RX;
	uint8_t c = (uint8_t)REG32(u->base + UART_DATA);
	u->rx[head & (u->rx_size - 1u)] = c;
	u->rx_head = (uint16_t)(head + 1u);
	if (u->has_delim && c == u->delim) {
		u->rx_delims = u->rx_delims + 1u;
	}
	u->st.rx_bytes = u->st.rx_bytes + 1u;
}

static void rx_isr(struct uart_port *u)
{
	uint32_t t0 = board_ticks();
	rx_isr_body(u);
	uint32_t dt = board_ticks() - t0;
	isr_ticks = isr_ticks + dt;
	u->st.rx_isr_ticks = u->st.rx_isr_ticks + dt;
}

static void tx_isr(struct uart_port *u)
{
	uint32_t t0 = board_ticks();
	REG32(u->base + UART_INTSTATUS) = UART_INT_TX;
	uint16_t tail = u->tx_tail;
	if (tail == u->tx_head) {
		u->tx_busy = false;
		isr_ticks = isr_ticks + (board_ticks() - t0);
		return;
	}
	u->tx_tail = (uint16_t)(tail + 1u);
	u->st.tx_bytes = u->st.tx_bytes + 1u;
	REG32(u->base + UART_DATA) = u->tx[tail & (u->tx_size - 1u)];
	isr_ticks = isr_ticks + (board_ticks() - t0);
}

void board_uart0_rx_handler(void);
void board_uart0_tx_handler(void);
void board_uart1_rx_handler(void);
void board_uart1_tx_handler(void);
void board_uart2_rx_handler(void);
void board_uart2_tx_handler(void);
void board_uart3_rx_handler(void);
void board_uart3_tx_handler(void);
void board_uart_ovr_handler(void);

void board_uart0_rx_handler(void) { rx_isr(&ports[0]); }
void board_uart0_tx_handler(void) { tx_isr(&ports[0]); }
void board_uart1_rx_handler(void) { rx_isr(&ports[1]); }
void board_uart1_tx_handler(void) { tx_isr(&ports[1]); }
void board_uart2_rx_handler(void) { rx_isr(&ports[2]); }
void board_uart2_tx_handler(void) { tx_isr(&ports[2]); }
void board_uart3_rx_handler(void) { rx_isr(&ports[3]); }
void board_uart3_tx_handler(void) { tx_isr(&ports[3]); }

void board_uart_ovr_handler(void)
{
	for (unsigned i = 0; i < 3u; i++) {
		struct uart_port *u = &ports[i];
		uint32_t is = REG32(u->base + UART_INTSTATUS);
		if (is & UART_INT_RXOVR) {
			u->st.rx_overrun = u->st.rx_overrun + 1u;
		}
		/* clearing the interrupt bit clears the STATE overrun flag too */
		REG32(u->base + UART_INTSTATUS) = is & (UART_INT_RXOVR | UART_INT_TXOVR);
	}
}

/* ---- thread side ----------------------------------------------------------------------------------- */

size_t board_uart_read(unsigned port, void *buf, size_t cap)
{
	if (port >= BOARD_UART_COUNT) {
		return 0;
	}
	struct uart_port *u = &ports[port];
	uint8_t *out = buf;
	size_t n = 0;
	uint16_t tail = u->rx_tail;
	while (n < cap && tail != u->rx_head) {
		out[n++] = u->rx[tail & (u->rx_size - 1u)];
		tail = (uint16_t)(tail + 1u);
	}
	u->rx_tail = tail;
	if (n > 0 && u->rx_masked) {
		u->rx_masked = false;
		irq_enable(u->rx_irq);
	}
	return n;
}

void board_uart_set_delim(unsigned port, uint8_t delim)
{
	if (port < BOARD_UART_COUNT) {
		ports[port].delim = delim;
		ports[port].has_delim = true;
	}
}

uint32_t board_uart_rx_delims(unsigned port)
{
	return port < BOARD_UART_COUNT ? ports[port].rx_delims : 0u;
}

uint32_t board_uart_rx_bytes(unsigned port)
{
	return port < BOARD_UART_COUNT ? ports[port].st.rx_bytes : 0u;
}

size_t board_uart_rx_size(unsigned port)
{
	return port < BOARD_UART_COUNT ? ports[port].rx_size : 0u;
}

size_t board_uart_rx_avail(unsigned port)
{
	if (port >= BOARD_UART_COUNT) {
		return 0;
	}
	return (uint16_t)(ports[port].rx_head - ports[port].rx_tail);
}

/* Start the transmitter if idle. Interrupts are masked so that the TX ISR cannot race the idle check. */
static void tx_kick(struct uart_port *u)
{
	uint32_t primask;
	__asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
	if (!u->tx_busy && u->tx_tail != u->tx_head) {
		uint16_t tail = u->tx_tail;
		u->tx_busy = true;
		u->tx_tail = (uint16_t)(tail + 1u);
		u->st.tx_bytes = u->st.tx_bytes + 1u;
		REG32(u->base + UART_DATA) = u->tx[tail & (u->tx_size - 1u)];
	}
	__asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

static size_t tx_free(const struct uart_port *u)
{
	return (size_t)u->tx_size - (uint16_t)(u->tx_head - u->tx_tail);
}

static void tx_put(struct uart_port *u, const uint8_t *p, size_t len)
{
	uint16_t head = u->tx_head;
	for (size_t i = 0; i < len; i++) {
		u->tx[(uint16_t)(head + i) & (u->tx_size - 1u)] = p[i];
	}
	__asm__ volatile("dmb" ::: "memory");
	u->tx_head = (uint16_t)(head + len);
}

int board_uart_write(unsigned port, const void *buf, size_t len)
{
	if (port >= BOARD_UART_COUNT) {
		return -EINVAL;
	}
	struct uart_port *u = &ports[port];
	if (len > tx_free(u)) {
		u->st.tx_dropped = u->st.tx_dropped + (uint32_t)len;
		return -EAGAIN;
	}
	tx_put(u, buf, len);
	tx_kick(u);
	return 0;
}

/* Ticks spent in WFI waiting for a transmitter (interrupts that ran meanwhile excluded): the CPU is idle
 * there, as it would be on hardware while a UART shifts bytes out at its baud rate. Thread mode only. */
static uint64_t wait_ticks;

uint64_t board_uart_wait_ticks(void)
{
	return wait_ticks;
}

static void tx_wait(void)
{
	uint32_t i0 = isr_ticks;
	uint32_t t0 = board_ticks();
	__asm__ volatile("wfi");
	uint32_t t = board_ticks() - t0;
	uint32_t isr = isr_ticks - i0;
	wait_ticks += t > isr ? t - isr : 0u;
}

void board_uart_write_all(unsigned port, const void *buf, size_t len)
{
	if (port >= BOARD_UART_COUNT) {
		return;
	}
	struct uart_port *u = &ports[port];
	const uint8_t *p = buf;
	while (len > 0) {
		size_t room = tx_free(u);
		if (room == 0) {
			tx_kick(u);
			tx_wait();
			continue;
		}
		size_t n = len < room ? len : room;
		tx_put(u, p, n);
		tx_kick(u);
		p += n;
		len -= n;
	}
}

void board_uart_drain(unsigned port)
{
	if (port >= BOARD_UART_COUNT) {
		return;
	}
	struct uart_port *u = &ports[port];
	while (u->tx_tail != u->tx_head || u->tx_busy) {
		tx_kick(u);
		tx_wait();
	}
}

void board_uart_get_stats(unsigned port, struct board_uart_stats *st)
{
	if (port >= BOARD_UART_COUNT) {
		memset(st, 0, sizeof *st);
		return;
	}
	const volatile struct board_uart_stats *s = &ports[port].st;
	st->rx_bytes = s->rx_bytes;
	st->tx_bytes = s->tx_bytes;
	st->rx_overrun = s->rx_overrun;
	st->rx_throttled = s->rx_throttled;
	st->tx_dropped = s->tx_dropped;
	st->rx_isr_ticks = s->rx_isr_ticks;
}

/* ---- hal/uart.h view ------------------------------------------------------------------------------- */

static unsigned dev_port(const struct hal_uart *dev)
{
	return (unsigned)((const struct uart_port *)dev->ctx - ports);
}

static int dev_read(const struct hal_uart *dev, void *buf, size_t cap)
{
	size_t n = board_uart_read(dev_port(dev), buf, cap > INT32_MAX ? INT32_MAX : cap);
	return (int)n;
}

static int dev_write(const struct hal_uart *dev, const void *buf, size_t len)
{
	board_uart_write_all(dev_port(dev), buf, len);
	return 0;
}

static const struct hal_uart_api dev_api = {
	.read = dev_read,
	.write = dev_write,
};

void board_uart_dev(struct hal_uart *dev, unsigned port)
{
	dev->api = &dev_api;
	dev->ctx = &ports[port < BOARD_UART_COUNT ? port : 0];
}
