/*
 * main.c — the collar on mps2-an386: the board feeds the real firmware application, cf_app (collar-fw/core/
 * app.c, the same core as the host board `scentrack-collar`), from its UARTs and SysTick.
 *
 *   boot     banner (firmware version, boot count, cold/warm), the fault record the previous boot left
 *            (if any), an instruction-count calibration, the provisioning block (identity, key, report
 *            period), cf_app_init (mounts the journal on the data flash), JOURNAL lines, READY.
 *   loop     GNSS UART bytes -> cf_app_gnss_feed; sensor-bus lines -> cf_app_accel / cf_app_button (or a
 *            board command); radio UART bytes -> cf_app_radio_rx; then cf_app_tick and every frame
 *            cf_app_radio_poll returns goes out on the radio UART. The time is board_clock_ms() (the free-
 *            running timer, see clock.c). A port is read once a whole line / COBS frame is in its ring (the
 *            RX interrupt counts delimiters); tick + poll run when a record, frame or sensor line completed or
 *            cf_app_next_deadline() has come (a tick alone at least every TICK_MAX_MS, for the watchdog).
 *            Then WFI until the next interrupt (a byte, or SysTick every BOARD_TICK_MS).
 *   quiet    GNSS silent for GNSS_QUIET_MS after traffic (receiver off, end of a replayed log): the open
 *            epoch is closed (cf_app_gnss_flush) and SUMMARY lines give counts and costs.
 *
 * SENSOR BUS (UART2): text lines of at most SENSOR_LINE_MAX characters ending in '\n' (a '\r' before it is
 * an empty line, ignored), each stamped with board_clock_ms() when the loop reads it, within a tick of its
 * last byte (the IMU/handset have no clock of their own here):
 *   A <x_mg> <y_mg> <z_mg>   one accelerometer sample (cf/motion.h body frame, milli-g, -32768..32767);
 *                            a feeder must pace samples >= 1 ms apart (the classifier refuses equal times)
 *   B 1 | B 0                handler button pressed / released (raw level; cf_app debounces it)
 *   STATUS                   JOURNAL and SUMMARY lines now
 *   FAULT | HANG | DWT       board tests: a deliberate HardFault, a stuck main loop (watchdog), a DWT probe
 * Anything else is counted (sensor_bad) and reported on the console with the offending line.
 *
 * CONSOLE (UART0) lines the tests read: BOOT, FAULT, CAL, PROV, JOURNAL, READY; after each durable journal
 * append (cf_app's on_record hook) "J <rec_seq> <TYPE> <crc32c of the body>" and a decoded "FIX seq=..." or
 * "IND seq=..." line; "LINK up|down"; "SUMMARY ..." lines; "ERR ...".
 *
 * COSTS are measured with board_ticks() (40 ns; one tick = 40 instructions under QEMU's -icount shift=0,
 * checked at boot by the CAL line): cf_app_gnss_feed per NMEA line (the parser, plus FIX encode + journal
 * append when a line completes a record), cf_app_radio_poll per frame it returns (record selection, journal
 * reads, FIX/FIXB/IND encode, seal = CRC-32C + HMAC-SHA256, COBS), cf_app_radio_rx per chunk of radio bytes,
 * and the busy time of the whole loop since READY: everything but WFI, whether in the loop or waiting for a
 * transmitter (`txwait_insn`: idle on hardware too, while a UART shifts bytes out). The UART interrupts that
 * run inside a measured call (board_isr_ticks) and the console output of the on_record hook are subtracted
 * from the per-call meters; the busy time includes them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "regs.h"

#include "cf/app.h"
#include "cf/version.h"
#include "proto/crc32c.h"
#include "proto/frame.h"
#include "proto/hmac.h"
#include "proto/msg.h"

#define CONSOLE_BAUD 115200u
#define GNSS_BAUD 9600u
#define SENSOR_BAUD 115200u
#define RADIO_BAUD 57600u

/* GNSS silence that ends a burst: receivers talk at least once a second, so a whole second without a byte
 * means the receiver stopped (or a replayed log ended) and the open epoch will get no more sentences. */
#define GNSS_QUIET_MS 1000u
#define WDOG_MS 2000u       /* cf_app_tick kicks it (wdt_kick hook) when every subsystem is healthy */
#define TICK_MAX_MS 250u    /* cf_app_tick (it kicks the watchdog) at least this often, whatever the app's
                             * next deadline says */

/* Data flash: 64 pages of 4 KiB (the linker's JFLASH region), programmed in 8-byte units like an ECC NOR. */
#define JFLASH_PAGE_SIZE 4096u
#define JFLASH_PAGES 64u
#define JFLASH_PROG_UNIT 8u

/*
 * PROVISIONING BLOCK (linker symbol __prov_start, the 256 bytes after the journal's flash in the same
 * external part): what the USB dock writes (protocol.md PROVISION) and the board reads at boot. Little-endian:
 *   0  u32  magic 0x56504353 ("SCPV")      4  u16 version 1       6  u16 collar_id (1..65535)
 *   8  u8[32] collar key                   40 u32 rate_ms (fixed FIX report period; 0 = adaptive)
 *   44 u32  CRC-32C of bytes 0..43
 * Without a valid block the collar runs as DEV_COLLAR_ID with the development key (public by definition:
 * a collar that still has it is recognisable as unprovisioned) and the adaptive report period.
 */
#define PROV_MAGIC 0x56504353u
#define PROV_VERSION 1u
#define PROV_LEN 48u
#define DEV_COLLAR_ID 1u
static const uint8_t dev_key[32] = "scentrack-dev-key-unprovisioned";

#define SENSOR_LINE_MAX 64u

extern uint8_t __jflash_start[], __jflash_end[], __prov_start[];

/* A cost meter in board ticks (40 ns). */
struct meter {
	uint32_t n;
	uint32_t max_ticks;
	uint64_t sum_ticks;
};

static struct {
	struct cf_app app;
	struct hal_flash flash;
	struct hal_flash_ram flash_ram;
	struct hal_uart radio;
	struct cf_link_cfg lc;
	uint8_t key[32];
	uint16_t collar_id;
	uint32_t rate_ms;
	uint8_t wire[PROTO_WIRE_MAX];
	bool app_ok;
	int link_up;

	/* delimiters seen per port (board_uart_rx_delims), to know when a whole line/frame waits */
	uint32_t delims_seen[BOARD_UART_COUNT];
	uint32_t gnss_rx_seen;     /* board_uart_rx_bytes(GNSS) at the last look: arrival time for the quiet rule */
	bool gnss_arrived;         /* bytes arrived since the last summary */

	/* GNSS stream */
	uint32_t gnss_bytes;       /* since boot */
	uint32_t last_rx_ms;
	uint32_t line_ticks;       /* cf_app time of the NMEA line in progress */
	uint32_t excl_ticks;       /* console output inside the hooks: excluded from the meters */
	struct meter m_line;
	struct meter m_frame;
	struct meter m_rx;
	struct meter m_tick;       /* cf_app_tick + cf_app_next_deadline, per call */
	struct meter m_idle;       /* loop turns that found nothing to do (woken by a byte or the tick) */
	struct meter m_nopoll;     /* cf_app_radio_poll calls that returned no frame (the last of each turn) */
	uint32_t turns, sleeps, tick_work, tick_due;
	bool app_work;             /* a record, frame or sensor line since the last tick + poll */
	uint32_t work_gnss, work_radio, work_sensor; /* what set app_work, for the SUMMARY */
	uint32_t frame_bytes;

	/* busy time of the loop since READY (everything but WFI) */
	uint64_t sleep_ticks;
	uint64_t tx_wait0;         /* board_uart_wait_ticks() at READY */
	uint64_t since_ready;      /* board ticks since READY, 64-bit (board_ticks wraps every 171.8 s) */
	uint32_t last_ticks;

	/* sensor bus */
	char sline[SENSOR_LINE_MAX + 1u];
	size_t sline_len;
	bool sline_overlong;
	uint32_t sensor_bad;
	uint32_t accel_in, button_in;
} brd;

static void meter_add(struct meter *m, uint32_t t)
{
	m->n++;
	m->sum_ticks += t;
	if (t > m->max_ticks) {
		m->max_ticks = t;
	}
}

/* "name_n=N name_insn_mean=X name_insn_max=Y" in instructions (ticks x 40 under icount shift=0). */
static void line_meter(struct board_line *l, const char *name, const struct meter *m)
{
	board_line_str(l, " ");
	board_line_str(l, name);
	board_line_str(l, "_n=");
	board_line_u32(l, m->n);
	board_line_str(l, " ");
	board_line_str(l, name);
	board_line_str(l, "_insn_mean=");
	board_line_u64(l, m->n ? m->sum_ticks * 40u / m->n : 0u);
	board_line_str(l, " ");
	board_line_str(l, name);
	board_line_str(l, "_insn_max=");
	board_line_u64(l, (uint64_t)m->max_ticks * 40u);
}

static void print_err(const char *what, int err)
{
	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "ERR ");
	board_line_str(&l, what);
	board_line_str(&l, " ");
	board_line_i32(&l, err);
	board_line_emit(&l);
}

/* A journal failure: cf_app refuses everything until re-init, and re-init is a reboot (a watchdog reset
 * would do the same a moment later). */
static void app_failed(const char *what, int err) __attribute__((noreturn));
static void app_failed(const char *what, int err)
{
	print_err(what, err);
	board_uart_drain(BOARD_UART_CONSOLE);
	board_reset();
}

/* Ticks of thread-mode work since t0, less the interrupts and the excluded console output meanwhile. */
struct window {
	uint32_t t0, i0, x0;
};

static void window_start(struct window *w)
{
	w->i0 = board_isr_ticks();
	w->x0 = brd.excl_ticks;
	w->t0 = board_ticks();
}

static uint32_t window_ticks(const struct window *w)
{
	uint32_t t = board_ticks() - w->t0;
	uint32_t skip = (board_isr_ticks() - w->i0) + (brd.excl_ticks - w->x0);
	return t > skip ? t - skip : 0u;
}

/* ---- cf_app hooks ---------------------------------------------------------------------------------- */

static void print_record(uint32_t rec_seq, uint8_t type, const uint8_t *body, size_t len)
{
	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "J ");
	board_line_u32(&l, rec_seq);
	board_line_str(&l, " ");
	board_line_str(&l, proto_type_name(type));
	board_line_str(&l, " ");
	board_line_hex32(&l, proto_crc32c(0, body, len));
	board_line_emit(&l);

	if (type == PROTO_T_FIX) {
		struct proto_fix f;
		if (proto_fix_decode(body, len, &f, NULL) != 0) {
			print_err("fix_decode", -EPROTO);
			return;
		}
		board_line_str(&l, "FIX seq=");
		board_line_u32(&l, rec_seq);
		board_line_str(&l, " t=");
		if (f.has & PROTO_FIX_HAS_T) {
			board_line_utc(&l, (int64_t)f.t_ms);
		} else {
			board_line_str(&l, "-");
		}
		board_line_str(&l, " lat=");
		board_line_fixed(&l, f.lat_e7, 7);
		board_line_str(&l, " lon=");
		board_line_fixed(&l, f.lon_e7, 7);
		if (f.has & PROTO_FIX_HAS_ALT) {
			board_line_str(&l, " alt=");
			board_line_fixed(&l, f.alt_mm, 3);
		}
		board_line_emit(&l);
	} else if (type == PROTO_T_IND) {
		struct proto_ind in;
		if (proto_ind_decode(body, len, &in, NULL) != 0) {
			print_err("ind_decode", -EPROTO);
			return;
		}
		board_line_str(&l, "IND seq=");
		board_line_u32(&l, rec_seq);
		board_line_str(&l, " kind=");
		board_line_u32(&l, in.kind);
		board_line_str(&l, " src=");
		board_line_u32(&l, in.src);
		if (in.has & PROTO_IND_HAS_POS) {
			board_line_str(&l, " lat=");
			board_line_fixed(&l, in.lat_e7, 7);
			board_line_str(&l, " lon=");
			board_line_fixed(&l, in.lon_e7, 7);
		}
		if (in.has & PROTO_IND_HAS_FIXREF) {
			board_line_str(&l, " fix_ref=");
			board_line_u32(&l, in.fix_ref);
		}
		board_line_emit(&l);
	}
}

static void on_record(void *ctx, uint32_t rec_seq, uint8_t type, const uint8_t *body, size_t len)
{
	(void)ctx;
	uint32_t t0 = board_ticks();
	print_record(rec_seq, type, body, len);
	brd.excl_ticks += board_ticks() - t0;
}

static void wdt_kick(void *ctx)
{
	(void)ctx;
	board_wdog_kick();
}

/* ---- GNSS ------------------------------------------------------------------------------------------ */

/* Feed one chunk; meter cf_app per NMEA line (a line ends at '\n'). */
static void gnss_feed(uint32_t now, const uint8_t *p, size_t n)
{
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) + 1u : n;
		struct window w;
		window_start(&w);
		int r = cf_app_gnss_feed(&brd.app, now, p, seg);
		brd.line_ticks += window_ticks(&w);
		if (r < 0) {
			app_failed("gnss_feed", r);
		}
		if (r > 0) {
			brd.app_work = true; /* a record completed: maybe journaled, maybe a frame to send */
			brd.work_gnss++;
		}
		if (nl) {
			meter_add(&brd.m_line, brd.line_ticks);
			brd.line_ticks = 0;
		}
		p += seg;
		n -= seg;
	}
}

/* Board ticks since READY (thread mode only; called at least every tick period, far below a wrap). */
static uint64_t ticks_since_ready(void)
{
	uint32_t t = board_ticks();
	brd.since_ready += (uint32_t)(t - brd.last_ticks);
	brd.last_ticks = t;
	return brd.since_ready;
}

static void print_summary(void)
{
	struct board_uart_stats gs, rs;
	const struct cf_nmea_stats *s = &cf_app_nmea(&brd.app)->stats;
	const struct cf_app_stats *as = cf_app_stats(&brd.app);
	const struct cf_link_stats *ls = cf_app_link_stats(&brd.app);
	struct board_line l;

	board_uart_get_stats(BOARD_UART_GNSS, &gs);
	board_uart_get_stats(BOARD_UART_RADIO, &rs);
	board_line_init(&l);
	board_line_str(&l, "SUMMARY gnss_bytes=");
	board_line_u32(&l, brd.gnss_bytes);
	board_line_str(&l, " sentences_ok=");
	board_line_u32(&l, s->sentences_ok);
	board_line_str(&l, " bad_checksum=");
	board_line_u32(&l, s->bad_checksum + s->no_checksum);
	board_line_str(&l, " records=");
	board_line_u32(&l, as->fixes_in);
	board_line_str(&l, " no_pos=");
	board_line_u32(&l, as->fixes_no_pos);
	board_line_str(&l, " rate_skip=");
	board_line_u32(&l, as->fixes_rate_skip);
	board_line_emit(&l);

	board_line_str(&l, "SUMMARY journaled_fix=");
	board_line_u32(&l, as->fixes_journaled);
	board_line_str(&l, " journaled_ind=");
	board_line_u32(&l, as->ind_journaled);
	board_line_str(&l, " fix_encode_err=");
	board_line_u32(&l, as->fix_encode_err);
	board_line_str(&l, " journal_err=");
	board_line_u32(&l, as->journal_errors);
	board_line_str(&l, " sensor_bad=");
	board_line_u32(&l, brd.sensor_bad);
	board_line_str(&l, " accel_in=");
	board_line_u32(&l, brd.accel_in);
	board_line_str(&l, " accel_rejected=");
	board_line_u32(&l, as->accel_rejected);
	board_line_str(&l, " button_in=");
	board_line_u32(&l, brd.button_in);
	board_line_emit(&l);

	board_line_str(&l, "SUMMARY link tx_frames=");
	board_line_u32(&l, ls->tx_frames);
	board_line_str(&l, " tx_bytes=");
	board_line_u32(&l, ls->tx_bytes);
	board_line_str(&l, " retx=");
	board_line_u32(&l, ls->retx);
	board_line_str(&l, " backfill=");
	board_line_u32(&l, ls->backfill);
	board_line_str(&l, " rx_acks=");
	board_line_u32(&l, ls->rx_acks);
	board_line_str(&l, " rx_bad_frame=");
	board_line_u32(&l, ls->rx_bad_frame);
	board_line_str(&l, " rx_bad_tag=");
	board_line_u32(&l, ls->rx_bad_tag);
	board_line_emit(&l);

	board_line_str(&l, "SUMMARY cost");
	line_meter(&l, "line", &brd.m_line);
	line_meter(&l, "frame", &brd.m_frame);
	board_line_emit(&l);
	board_line_str(&l, "SUMMARY cost");
	line_meter(&l, "rx", &brd.m_rx);
	line_meter(&l, "tick", &brd.m_tick);
	board_line_emit(&l);
	board_line_str(&l, "SUMMARY cost");
	line_meter(&l, "nopoll", &brd.m_nopoll);
	line_meter(&l, "idle", &brd.m_idle);
	board_line_emit(&l);
	board_line_str(&l, "SUMMARY cost turns=");
	board_line_u32(&l, brd.turns);
	board_line_str(&l, " sleeps=");
	board_line_u32(&l, brd.sleeps);
	board_line_str(&l, " tick_work=");
	board_line_u32(&l, brd.tick_work);
	board_line_str(&l, " tick_due=");
	board_line_u32(&l, brd.tick_due);
	board_line_emit(&l);
	board_line_str(&l, "SUMMARY cost work_gnss=");
	board_line_u32(&l, brd.work_gnss);
	board_line_str(&l, " work_radio=");
	board_line_u32(&l, brd.work_radio);
	board_line_str(&l, " work_sensor=");
	board_line_u32(&l, brd.work_sensor);
	board_line_str(&l, " frame_bytes=");
	board_line_u32(&l, brd.frame_bytes);
	uint64_t since = ticks_since_ready();
	uint64_t idle = brd.sleep_ticks + (board_uart_wait_ticks() - brd.tx_wait0);
	board_line_str(&l, " busy_insn=");
	board_line_u64(&l, (since - (since < idle ? since : idle)) * 40u);
	board_line_str(&l, " txwait_insn=");
	board_line_u64(&l, (board_uart_wait_ticks() - brd.tx_wait0) * 40u);
	board_line_str(&l, " since_ready_ms=");
	board_line_u64(&l, since / BOARD_TICKS_PER_MS);
	board_line_emit(&l);

	board_line_str(&l, "SUMMARY stack_used=");
	board_line_u32(&l, board_stack_used());
	board_line_str(&l, " stack_size=");
	board_line_u32(&l, board_stack_size());
	board_line_str(&l, " gnss_rx_isr_insn_per_byte=");
	board_line_u64(&l, gs.rx_bytes ? (uint64_t)gs.rx_isr_ticks * 40u / gs.rx_bytes : 0u);
	board_line_str(&l, " gnss_rx_overrun=");
	board_line_u32(&l, gs.rx_overrun);
	board_line_str(&l, " gnss_rx_throttled=");
	board_line_u32(&l, gs.rx_throttled);
	board_line_str(&l, " radio_rx_overrun=");
	board_line_u32(&l, rs.rx_overrun);
	board_line_str(&l, " uptime_ms=");
	board_line_u32(&l, board_clock_ms());
	board_line_emit(&l);
}

/*
 * A port is worth reading when a whole message (line, frame) has arrived or its ring is half full. Reading
 * byte by byte as they trickle in (one interrupt per byte at 9600 Bd) cost more than the parsing itself.
 * Call with interrupts masked before WFI, or at any time.
 */
static bool port_ready(unsigned port)
{
	return board_uart_rx_delims(port) != brd.delims_seen[port] ||
	       board_uart_rx_avail(port) >= board_uart_rx_size(port) / 2u;
}

/* Read up to cap bytes. The delimiters count as seen only once the ring is empty (bytes left behind by a
 * full buffer are read next turn), and only those counted before the read (a line completing during the
 * read is noticed next turn). */
static size_t port_take(unsigned port, void *buf, size_t cap)
{
	uint32_t d = board_uart_rx_delims(port);
	size_t n = board_uart_read(port, buf, cap);
	if (n == 0 || board_uart_rx_avail(port) == 0) {
		brd.delims_seen[port] = d;
	}
	return n;
}

/* Returns true if bytes were read (then call again: the ring may hold more). */
static bool gnss_poll(uint32_t now)
{
	uint8_t buf[64];
	uint32_t rb = board_uart_rx_bytes(BOARD_UART_GNSS);
	if (rb != brd.gnss_rx_seen) {
		brd.gnss_rx_seen = rb;
		brd.last_rx_ms = now; /* within a tick of the arrival: enough for a 1 s quiet rule */
		brd.gnss_arrived = true;
	}
	bool quiet = brd.gnss_arrived && now - brd.last_rx_ms >= GNSS_QUIET_MS;
	if (port_ready(BOARD_UART_GNSS) || (quiet && board_uart_rx_avail(BOARD_UART_GNSS) > 0)) {
		size_t n = port_take(BOARD_UART_GNSS, buf, sizeof buf);
		if (n == 0) {
			return false;
		}
		brd.gnss_bytes += (uint32_t)n;
		gnss_feed(now, buf, n);
		return true;
	}
	if (quiet) {
		brd.gnss_arrived = false;
		int f = cf_app_gnss_flush(&brd.app, now);
		if (f < 0) {
			app_failed("gnss_flush", f);
		}
		brd.app_work = true;
		print_summary();
		return true;
	}
	return false;
}

/* ---- radio ----------------------------------------------------------------------------------------- */

/* Returns true if bytes were read (then call again). */
static bool radio_rx(uint32_t now)
{
	uint8_t buf[128];
	if (!port_ready(BOARD_UART_RADIO)) {
		return false;
	}
	size_t n = port_take(BOARD_UART_RADIO, buf, sizeof buf);
	if (n == 0) {
		return false;
	}
	struct window w;
	window_start(&w);
	int r = cf_app_radio_rx(&brd.app, now, buf, n);
	meter_add(&brd.m_rx, window_ticks(&w));
	if (r < 0) {
		app_failed("radio_rx", r);
	}
	if (r > 0) {
		brd.app_work = true; /* an ACK/CMD: the window moved */
		brd.work_radio++;
	}
	return true;
}

static void radio_tx(uint32_t now)
{
	for (;;) {
		size_t len = 0;
		struct window w;
		window_start(&w);
		int r = cf_app_radio_poll(&brd.app, now, brd.wire, sizeof brd.wire, &len);
		uint32_t t = window_ticks(&w);
		if (r < 0) {
			app_failed("radio_poll", r);
		}
		if (r == 0) {
			meter_add(&brd.m_nopoll, t);
			return;
		}
		meter_add(&brd.m_frame, t);
		brd.frame_bytes += (uint32_t)len;
		/* blocks (WFI) until the frame is queued: a frame is never half-sent (hal/uart.h) */
		(void)hal_uart_write(&brd.radio, brd.wire, len);
	}
}

/* ---- journal --------------------------------------------------------------------------------------- */

static void journal_report(void)
{
	struct cf_journal *j = cf_app_journal(&brd.app);
	struct cf_journal_stats st;
	struct board_line l;
	int err = cf_journal_stats(j, &st);
	if (err < 0) {
		print_err("journal_stats", err);
		return;
	}
	board_line_init(&l);
	board_line_str(&l, "JOURNAL boot_id=");
	board_line_u32(&l, st.boot_id);
	board_line_str(&l, " next_seq=");
	board_line_u32(&l, st.next_seq);
	board_line_str(&l, " records=");
	board_line_u32(&l, st.n_records);
	board_line_str(&l, " backlog=");
	board_line_u32(&l, st.backlog);
	board_line_str(&l, " used_bytes=");
	board_line_u32(&l, st.used_bytes);
	board_line_str(&l, " capacity_bytes=");
	board_line_u32(&l, st.capacity_bytes);
	board_line_str(&l, " mount_bad=");
	board_line_u32(&l, st.mount_bad);
	board_line_emit(&l);

	if (st.newest_seq == 0) {
		return;
	}
	/* Read back the newest record through the same decoder the gateway uses: proof that it survived. */
	uint8_t body[CF_JOURNAL_BODY_MAX];
	size_t len = 0;
	uint8_t type = 0;
	struct proto_fix pf;
	err = cf_journal_read(j, st.newest_seq, body, sizeof body, &len, &type);
	if (err == 0 && type == PROTO_T_FIX) {
		err = proto_fix_decode(body, len, &pf, NULL);
	}
	if (err < 0) {
		print_err("journal_read_newest", err);
		return;
	}
	board_line_str(&l, "JOURNAL newest seq=");
	board_line_u32(&l, st.newest_seq);
	board_line_str(&l, " type=");
	board_line_str(&l, proto_type_name(type));
	if (type == PROTO_T_FIX) {
		board_line_str(&l, " t=");
		if (pf.has & PROTO_FIX_HAS_T) {
			board_line_utc(&l, (int64_t)pf.t_ms);
		} else {
			board_line_str(&l, "-");
		}
		board_line_str(&l, " lat=");
		board_line_fixed(&l, pf.lat_e7, 7);
		board_line_str(&l, " lon=");
		board_line_fixed(&l, pf.lon_e7, 7);
	}
	board_line_emit(&l);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Identity from the provisioning block, else the development identity. */
static void provisioning(void)
{
	const uint8_t *p = __prov_start;
	struct board_line l;
	board_line_init(&l);
	uint16_t id = (uint16_t)(p[6] | p[7] << 8);
	if (le32(p) == PROV_MAGIC && (p[4] | p[5] << 8) == PROV_VERSION && id != 0 &&
	    le32(p + 44) == proto_crc32c(0, p, 44)) {
		brd.collar_id = id;
		memcpy(brd.key, p + 8, sizeof brd.key);
		brd.rate_ms = le32(p + 40);
		board_line_str(&l, "PROV provisioned");
	} else {
		brd.collar_id = DEV_COLLAR_ID;
		memcpy(brd.key, dev_key, sizeof brd.key);
		brd.rate_ms = 0;
		board_line_str(&l, le32(p) == PROV_MAGIC ? "PROV development (bad provisioning block)"
		                                         : "PROV development");
	}
	board_line_str(&l, " collar_id=");
	board_line_u32(&l, brd.collar_id);
	board_line_str(&l, " rate_ms=");
	board_line_u32(&l, brd.rate_ms);
	board_line_emit(&l);
}

static void app_start(void)
{
	int err = hal_flash_ram_init(&brd.flash, &brd.flash_ram, __jflash_start, JFLASH_PAGE_SIZE, JFLASH_PAGES,
				     JFLASH_PROG_UNIT);
	if (err == 0 && (uint32_t)(__jflash_end - __jflash_start) < JFLASH_PAGE_SIZE * JFLASH_PAGES) {
		err = -EINVAL; /* the linker's JFLASH region is smaller than the geometry */
	}
	if (err < 0) {
		print_err("flash", err);
		return;
	}
	struct cf_app_cfg cfg;
	cf_app_cfg_default(&cfg);
	memset(&brd.lc, 0, sizeof brd.lc);
	brd.lc.status_ms = 60000u;
	cfg.collar_id = brd.collar_id;
	cfg.key = brd.key;
	cfg.rate_ms = brd.rate_ms;
	cfg.seed = brd.collar_id;
	cfg.link = &brd.lc;
	cfg.on_record = on_record;
	cfg.wdt_kick = wdt_kick;
	err = cf_app_init(&brd.app, &cfg, &brd.flash, board_clock_ms());
	if (err < 0) {
		/* The journal cannot be mounted: nothing can be kept, so nothing is sent either. The console
		 * says so; the watchdog is not started, so a technician can read it. */
		print_err("cf_app_init", err);
		return;
	}
	brd.app_ok = true;
	journal_report();
}

/* ---- board tests and boot ------------------------------------------------------------------------ */

static void dwt_probe(void)
{
	struct board_line l;
	REG32(DEMCR) |= DEMCR_TRCENA;
	REG32(DWT_CYCCNT) = 0;
	REG32(DWT_CTRL) |= DWT_CTRL_CYCCNTENA;
	uint32_t ctrl = REG32(DWT_CTRL);
	uint32_t a = REG32(DWT_CYCCNT);
	for (volatile int i = 0; i < 100; i++) {
	}
	uint32_t b = REG32(DWT_CYCCNT);
	board_line_init(&l);
	board_line_str(&l, "DWT ctrl=");
	board_line_hex32(&l, ctrl);
	board_line_str(&l, " cyccnt_delta=");
	board_line_u32(&l, b - a);
	board_line_str(&l, b != a ? " counting" : " not-counting");
	board_line_emit(&l);
}

__attribute__((noinline)) static void deliberate_fault(void)
{
	/* A permanently undefined instruction: UsageFault (UNDEFINSTR), escalated to HardFault. */
	__asm__ volatile("udf #0x5c");
}

/* ---- boot ------------------------------------------------------------------------------------------ */

static const char *fault_name(uint32_t kind)
{
	switch (kind) {
	case BOARD_FAULT_HARD:
		return "hardfault";
	case BOARD_FAULT_WATCHDOG:
		return "watchdog";
	case BOARD_FAULT_ASSERT:
		return "assert";
	default:
		return "unknown";
	}
}

static void boot_banner(void)
{
	struct board_boot_info bi;
	struct board_line l;

	board_boot_info(&bi);
	board_line_init(&l);
	board_line_str(&l, "BOOT ");
	board_line_str(&l, cf_version_string);
	board_line_str(&l, " board=mps2-an386 boot=");
	board_line_u32(&l, bi.boot_count);
	board_line_str(&l, bi.warm ? " warm" : " cold");
	board_line_str(&l, " faults=");
	board_line_u32(&l, bi.fault_count);
	board_line_emit(&l);
	if (bi.have_fault) {
		const struct board_fault_rec *r = &bi.fault;
		board_line_str(&l, "FAULT ");
		board_line_str(&l, fault_name(r->kind));
		board_line_str(&l, " pc=");
		board_line_hex32(&l, r->pc);
		board_line_str(&l, " lr=");
		board_line_hex32(&l, r->lr);
		board_line_str(&l, " xpsr=");
		board_line_hex32(&l, r->xpsr);
		board_line_str(&l, " sp=");
		board_line_hex32(&l, r->sp);
		board_line_emit(&l);
		board_line_str(&l, "FAULT cfsr=");
		board_line_hex32(&l, r->cfsr);
		board_line_str(&l, " hfsr=");
		board_line_hex32(&l, r->hfsr);
		board_line_str(&l, " mmfar=");
		board_line_hex32(&l, r->mmfar);
		board_line_str(&l, " bfar=");
		board_line_hex32(&l, r->bfar);
		board_line_str(&l, " exc_return=");
		board_line_hex32(&l, r->exc_return);
		board_line_str(&l, " uptime_ms=");
		board_line_u32(&l, r->uptime_ms);
		board_line_emit(&l);
	}
}

/* 50000 iterations of a 2-instruction loop: with -icount shift=0 the ticks times 40 must be ~100000. */
static void calibrate(void)
{
	uint32_t n = 50000u;
	uint32_t t0 = board_ticks();
	__asm__ volatile("1: subs %0, %0, #1\n\t"
			 "bne 1b"
			 : "+r"(n)::"cc");
	uint32_t t1 = board_ticks();
	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "CAL loop_insn=100000 measured_insn=");
	board_line_u64(&l, (uint64_t)(uint32_t)(t1 - t0) * 40u);
	board_line_emit(&l);
}

/*
 * The frame's own cost, apart from the link's choice of records: seal (CRC-32C + HMAC-SHA256 with a
 * precomputed key) + COBS of a 60-byte body, the size of a typical FIX. brd.wire is free at boot; the
 * temporary key lives on the stack (counted in the high-water mark).
 */
static void calibrate_seal(void)
{
	struct proto_hmac_key key;
	uint8_t frame[PROTO_FRAME_MAX];
	struct proto_hdr hdr = {.flags = 0, .type = PROTO_T_FIX, .collar_id = 1, .link_seq = 0, .boot_id = 1};
	size_t flen = 0, wlen = 0;
	proto_hmac_init(&key, dev_key, sizeof dev_key);
	for (size_t i = 0; i < sizeof frame; i++) {
		frame[i] = (uint8_t)(i * 7u + 1u);
	}
	struct window w;
	window_start(&w);
	int err = proto_frame_seal(frame, sizeof frame, &hdr, 60u, &key, &flen);
	if (err == 0) {
		err = proto_frame_wire(frame, flen, brd.wire, sizeof brd.wire, &wlen);
	}
	uint32_t t = window_ticks(&w);
	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "CAL seal_cobs_insn=");
	board_line_u64(&l, (uint64_t)t * 40u);
	board_line_str(&l, " body=60 wire=");
	board_line_u32(&l, (uint32_t)wlen);
	board_line_str(&l, err == 0 ? "" : " failed");
	board_line_emit(&l);
}

/* ---- sensor bus ------------------------------------------------------------------------------------ */

/* Parse a decimal int in [lo, hi] at *s, advancing past it and one following space. */
static int parse_int(const char **s, int32_t lo, int32_t hi, int32_t *out)
{
	const char *p = *s;
	bool neg = false;
	int32_t v = 0;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9') {
		return -EINVAL;
	}
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > 100000) {
			return -ERANGE;
		}
		p++;
	}
	if (neg) {
		v = -v;
	}
	if (v < lo || v > hi || (*p != ' ' && *p != '\0')) {
		return -EINVAL;
	}
	*s = *p == ' ' ? p + 1 : p;
	*out = v;
	return 0;
}

static void sensor_bad(const char *s)
{
	brd.sensor_bad++;
	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "ERR sensor: bad line '");
	board_line_str(&l, s);
	board_line_str(&l, "'");
	board_line_emit(&l);
}

static void sensor_line(const char *s, uint32_t now)
{
	int err = 0;
	if (s[0] == 'A' && s[1] == ' ') {
		const char *p = s + 2;
		int32_t x, y, z;
		if (parse_int(&p, INT16_MIN, INT16_MAX, &x) || parse_int(&p, INT16_MIN, INT16_MAX, &y) ||
		    parse_int(&p, INT16_MIN, INT16_MAX, &z) || *p != '\0') {
			sensor_bad(s);
			return;
		}
		struct cf_accel_sample smp = {.t_ms = now, .x_mg = (int16_t)x, .y_mg = (int16_t)y, .z_mg = (int16_t)z};
		brd.accel_in++;
		err = brd.app_ok ? cf_app_accel(&brd.app, &smp) : 0;
	} else if (s[0] == 'B' && s[1] == ' ' && (s[2] == '0' || s[2] == '1') && s[3] == '\0') {
		brd.button_in++;
		err = brd.app_ok ? cf_app_button(&brd.app, now, s[2] == '1') : 0;
	} else if (strcmp(s, "FAULT") == 0) {
		board_uart_drain(BOARD_UART_CONSOLE);
		deliberate_fault();
	} else if (strcmp(s, "HANG") == 0) {
		board_uart_drain(BOARD_UART_CONSOLE);
		/* The classic stuck main loop: waiting for an event that never comes (a reply without a timeout).
		 * Interrupts keep running, so only the watchdog notices. */
		for (;;) {
			__asm__ volatile("wfi");
		}
	} else if (strcmp(s, "STATUS") == 0) {
		if (brd.app_ok) {
			journal_report();
			print_summary();
		}
	} else if (strcmp(s, "DWT") == 0) {
		dwt_probe();
	} else if (s[0] != '\0') {
		sensor_bad(s);
	}
	if (err < 0) {
		app_failed("sensor", err);
	}
}

/* Returns true if bytes were read (then call again). */
static bool sensor_poll(uint32_t now)
{
	uint8_t buf[32];
	if (!port_ready(BOARD_UART_SENSOR)) {
		return false;
	}
	size_t n = port_take(BOARD_UART_SENSOR, buf, sizeof buf);
	for (size_t i = 0; i < n; i++) {
		char c = (char)buf[i];
		if (c == '\n' || c == '\r') {
			brd.sline[brd.sline_len] = '\0';
			sensor_line(brd.sline_overlong ? "(overlong)" : brd.sline, now);
			brd.app_work = true;
			brd.work_sensor++;
			brd.sline_len = 0;
			brd.sline_overlong = false;
		} else if (brd.sline_len < SENSOR_LINE_MAX) {
			brd.sline[brd.sline_len++] = c;
		} else {
			brd.sline_overlong = true;
		}
	}
	return n > 0;
}

int main(void)
{
	board_clock_init();
	for (unsigned i = 0; i < BOARD_UART_COUNT; i++) {
		static const uint32_t baud[BOARD_UART_COUNT] = {CONSOLE_BAUD, GNSS_BAUD, SENSOR_BAUD, RADIO_BAUD};
		(void)board_uart_init(i, baud[i]);
	}
	board_uart_set_delim(BOARD_UART_GNSS, '\n');
	board_uart_set_delim(BOARD_UART_SENSOR, '\n');
	board_uart_set_delim(BOARD_UART_RADIO, 0x00); /* COBS frame delimiter */
	board_uart_dev(&brd.radio, BOARD_UART_RADIO);
	__asm__ volatile("cpsie i" ::: "memory");

	boot_banner();
	calibrate();
	calibrate_seal();
	provisioning();
	app_start();
	if (brd.app_ok) {
		board_wdog_start(WDOG_MS);
	}
	board_uart_write_all(BOARD_UART_CONSOLE, "READY\r\n", 7);
	brd.last_ticks = board_ticks();
	brd.tx_wait0 = board_uart_wait_ticks();

	uint32_t last_tick_ms = board_clock_ms();
	uint32_t deadline = last_tick_ms; /* cf_app_next_deadline after the last cf_app call: due now */
	bool work = true; /* the first turn ticks and polls (HELLO) */
	uint32_t turn_t0 = board_ticks(), turn_i0 = board_isr_ticks();
	for (;;) {
		uint32_t now = board_clock_ms();
		bool idle_turn = true;
		brd.turns++;
		if (brd.app_ok) {
			/* All waiting input first (the rings bound it), then one tick + poll for all of it: the link's
			 * poll and deadline are the expensive calls (they look at the journal), bytes are cheap. */
			bool more;
			do {
				more = gnss_poll(now);
				more |= sensor_poll(now);
				more |= radio_rx(now);
				idle_turn &= !more;
			} while (more);
			/* Bytes alone are not work for the application: a GNSS byte arrives every ~1 ms at 9600 Bd and
			 * most of them only advance the parser. Tick + poll when a record, a frame or a sensor line
			 * completed, or a deadline came. */
			work |= brd.app_work;
			brd.app_work = false;
			/* The deadline only moves when cf_app is called, so it is computed once after each batch of
			 * calls; an idle wake-up (SysTick, every BOARD_TICK_MS) costs a comparison. */
			bool due = (int32_t)(deadline - now) <= 0;
			if (work || due || now - last_tick_ms >= TICK_MAX_MS) {
				idle_turn = false;
				brd.tick_work += work ? 1u : 0u;
				brd.tick_due += !work && due ? 1u : 0u;
				struct window w;
				window_start(&w);
				int err = cf_app_tick(&brd.app, now);
				if (err < 0) {
					app_failed("tick", err);
				}
				uint32_t tt = window_ticks(&w);
				last_tick_ms = now;
				/* A tick that is only the watchdog's (TICK_MAX_MS) does not poll the link: polling costs a
				 * journal scan and nothing is due. */
				if (work || due) {
					radio_tx(now);
				}
				int up = cf_app_link_is_up(&brd.app);
				if (up != brd.link_up) {
					brd.link_up = up;
					board_uart_write_all(BOARD_UART_CONSOLE, up ? "LINK up\r\n" : "LINK down\r\n", up ? 9u : 11u);
				}
				window_start(&w);
				deadline = cf_app_next_deadline(&brd.app, now);
				meter_add(&brd.m_tick, tt + window_ticks(&w));
			}
		} else {
			(void)sensor_poll(now); /* FAULT/HANG/DWT still work without a journal */
		}
		work = false;
		if (idle_turn) {
			uint32_t t = board_ticks() - turn_t0, isr = board_isr_ticks() - turn_i0;
			meter_add(&brd.m_idle, t > isr ? t - isr : 0u);
		}
		/* Sleep only if no byte is waiting. With PRIMASK set, an interrupt arriving between the check and
		 * WFI still ends the WFI (it is held pending, not lost) and runs right after cpsie. The SysTick
		 * interrupt ends it every BOARD_TICK_MS. */
		__asm__ volatile("cpsid i" ::: "memory");
		if (!port_ready(BOARD_UART_GNSS) && !port_ready(BOARD_UART_SENSOR) && !port_ready(BOARD_UART_RADIO)) {
			brd.sleeps++;
			uint64_t s0 = ticks_since_ready();
			__asm__ volatile("wfi" ::: "memory");
			brd.sleep_ticks += ticks_since_ready() - s0;
		}
		turn_t0 = board_ticks();
		turn_i0 = board_isr_ticks();
		__asm__ volatile("cpsie i" ::: "memory");
	}
}
