/*
 * main.c — the collar on mps2-an386, for now: GNSS in, journal, one authenticated FIX frame per fix out.
 *
 *   boot     banner (firmware version, boot count, cold/warm), the fault record the previous boot left
 *            (if any), an instruction-count calibration, the journal mounted on the data flash.
 *   GNSS     UART bytes → cf_nmea_feed (the same core as the host board, unchanged) → for each record:
 *            a console line "FIX ..."; if it has a position: FIX body (proto_fix_encode) → cf_journal_append
 *            → frame sealed with the collar key → COBS on the radio UART.
 *   quiet    GNSS silent for GNSS_QUIET_MS after traffic (receiver off, end of a replayed log): the open
 *            epoch is closed (cf_nmea_flush) and a SUMMARY line gives counts and costs.
 *   sensor   one text line per command: FAULT (deliberate HardFault), HANG (stop kicking the watchdog),
 *            STATUS (journal counters), DWT (probe the cycle counter). Motion samples and the button come
 *            here when the app loop exists.
 *
 * Costs are measured with board_ticks() (40 ns resolution; one tick = 40 instructions under QEMU's
 * -icount shift=0, checked at boot by the CAL line) around: the parser per NMEA line, FIX encode + journal
 * append per fix, frame seal (CRC-32C + HMAC-SHA256) + COBS per fix. Console formatting is not included,
 * nor are the UART interrupts that happen to run inside a measured window (board_isr_ticks() is
 * subtracted); their own cost is reported per received GNSS byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "regs.h"

#include "cf/journal.h"
#include "cf/nmea.h"
#include "cf/version.h"
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
#define WDOG_MS 2000u       /* the main loop never blocks longer than a console line */

/* Data flash: 64 pages of 4 KiB (the linker's JFLASH region), programmed in 8-byte units like an ECC NOR. */
#define JFLASH_PAGE_SIZE 4096u
#define JFLASH_PAGES 64u
#define JFLASH_PROG_UNIT 8u

/* Identity until the USB dock provisions the collar (protocol.md: PROVISION). The key is a development
 * key, public by definition: a collar that still has it is recognisable as unprovisioned. */
#define DEV_COLLAR_ID 1u
static const uint8_t dev_key[32] = "scentrack-dev-key-unprovisioned";

#define SENSOR_LINE_MAX 64u

extern uint8_t __jflash_start[], __jflash_end[];

/* A cost meter in board ticks (40 ns). */
struct meter {
	uint32_t n;
	uint32_t max_ticks;
	uint64_t sum_ticks;
};

static struct {
	struct cf_nmea nmea;
	struct cf_journal journal;
	struct hal_flash flash;
	struct hal_flash_ram flash_ram;
	struct proto_hmac_key key;
	struct hal_uart gnss;  /* the HAL views the firmware core will take (hal/uart.h, hal/clock.h) */
	struct hal_uart radio;
	struct hal_clock clock;
	uint8_t frame[PROTO_FRAME_MAX];
	uint8_t wire[PROTO_WIRE_MAX];
	uint16_t link_seq;
	bool journal_ok;

	/* GNSS stream */
	uint32_t gnss_bytes;       /* since boot */
	uint32_t gnss_burst_bytes; /* since the last summary */
	uint32_t last_rx_ms;
	uint32_t line_ticks;       /* parser time of the NMEA line in progress */
	uint32_t records;          /* epoch records out of the parser */
	uint32_t journaled;
	uint32_t enc_errors;
	uint32_t journal_errors;
	uint32_t radio_dropped;
	struct meter m_line;
	struct meter m_journal;
	struct meter m_frame;

	/* sensor line */
	char sline[SENSOR_LINE_MAX + 1u];
	size_t sline_len;
	bool sline_overlong;
	uint32_t sensor_unknown;
} app;

static void meter_add(struct meter *m, uint32_t t)
{
	m->n++;
	m->sum_ticks += t;
	if (t > m->max_ticks) {
		m->max_ticks = t;
	}
}

/* "name_insn_mean=X name_insn_max=Y" in instructions (ticks x 40 under icount shift=0). */
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

/* ---- cf_fix → FIX body ----------------------------------------------------------------------------- */

/*
 * Map a parser record to the FIX message (protocol.md §FIX). Only records with a position become FIXes
 * (lat/lon are required keys); the time is UTC when the parser knew the date and it is in the protocol's
 * range, else the monotonic ms since boot. Optional fields the protocol would refuse (an altitude outside
 * -1 km..20 km, HDOP above 99.99...) are left out rather than clamped: absent means unknown, never wrong.
 */
static bool fix_to_proto(const struct cf_fix *f, uint32_t rec_seq, uint32_t now_ms, struct proto_fix *p)
{
	if (!(f->has & CF_FIX_HAS_POS)) {
		return false;
	}
	memset(p, 0, sizeof *p);
	p->rec_seq = rec_seq;
	p->lat_e7 = f->lat_e7;
	p->lon_e7 = f->lon_e7;
	if ((f->has & CF_FIX_HAS_TIME) && f->t_ms >= (int64_t)PROTO_UTC_MS_MIN && f->t_ms < (int64_t)PROTO_UTC_MS_MAX) {
		p->has |= PROTO_FIX_HAS_T;
		p->t_ms = (uint64_t)f->t_ms;
		if (f->tq_flags & CF_TQ_ROLLOVER) {
			p->has |= PROTO_FIX_HAS_TQ;
			p->tq = PROTO_TQ_ROLLOVER;
		}
	} else {
		p->has |= PROTO_FIX_HAS_TMONO;
		p->t_mono_ms = now_ms;
	}
	if ((f->has & CF_FIX_HAS_ALT) && f->alt_mm >= -1000000 && f->alt_mm <= 20000000) {
		p->has |= PROTO_FIX_HAS_ALT;
		p->alt_mm = f->alt_mm;
	}
	if ((f->has & CF_FIX_HAS_HDOP) && f->hdop_c <= 9999u) {
		p->has |= PROTO_FIX_HAS_HDOP;
		p->hdop_c = f->hdop_c;
	}
	if ((f->has & CF_FIX_HAS_HACC) && f->h_acc_mm <= 100000000u) {
		p->has |= PROTO_FIX_HAS_HACC;
		p->h_acc_mm = f->h_acc_mm;
	}
	if ((f->has & CF_FIX_HAS_GGA_Q) && f->gga_q <= 8u) {
		p->has |= PROTO_FIX_HAS_Q;
		p->gga_q = f->gga_q;
	}
	if ((f->has & CF_FIX_HAS_FAA) && f->faa_mode != '\0' && strchr("ADEFMNPRS", f->faa_mode) != NULL) {
		p->has |= PROTO_FIX_HAS_MODE;
		p->faa_mode = (uint8_t)f->faa_mode;
	}
	if ((f->has & CF_FIX_HAS_FIX_DIM) && f->fix_dim >= 1u && f->fix_dim <= 3u) {
		p->has |= PROTO_FIX_HAS_DIM;
		p->fix_dim = f->fix_dim;
	}
	if (f->has & CF_FIX_HAS_NSAT) {
		p->has |= PROTO_FIX_HAS_NSAT;
		p->nsat = f->nsat;
	}
	if (f->has & CF_FIX_HAS_SOG) {
		p->has |= PROTO_FIX_HAS_SOG;
		p->sog_cms = f->sog_cms;
	}
	if ((f->has & CF_FIX_HAS_COG) && f->cog_cdeg <= 35999u) {
		p->has |= PROTO_FIX_HAS_COG;
		p->cog_cdeg = f->cog_cdeg;
	}
	return true;
}

/* ---- per record -------------------------------------------------------------------------------------- */

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

/* Journal the fix and send it; returns the rec_seq (0: not journaled). */
static uint32_t store_and_send(const struct cf_fix *f)
{
	struct proto_fix pf;
	size_t body_len, frame_len, wire_len;
	uint32_t rec_seq = 0;
	uint8_t *body = app.frame + PROTO_HDR_LEN;

	if (!app.journal_ok) {
		return 0;
	}
	uint32_t i0 = board_isr_ticks();
	uint32_t t0 = board_ticks();
	/* rec_seq is part of the body, so encode with the number the append will issue (single owner: nothing
	 * else appends in between), then check that it did. */
	if (!fix_to_proto(f, cf_journal_next_seq(&app.journal), hal_clock_now_ms(&app.clock), &pf)) {
		return 0;
	}
	int err = proto_fix_encode(&pf, body, PROTO_BODY_MAX, &body_len);
	if (err < 0) {
		app.enc_errors++;
		print_err("fix_encode", err);
		return 0;
	}
	err = cf_journal_append(&app.journal, PROTO_T_FIX, body, body_len, &rec_seq);
	if (err < 0 || rec_seq != pf.rec_seq) {
		app.journal_errors++;
		print_err("journal_append", err < 0 ? err : -EPROTO);
		return 0;
	}
	uint32_t t1 = board_ticks();
	uint32_t i1 = board_isr_ticks();
	meter_add(&app.m_journal, (uint32_t)(t1 - t0) - (uint32_t)(i1 - i0));
	app.journaled++;

	struct proto_hdr hdr = {
		.flags = 0,
		.type = PROTO_T_FIX,
		.collar_id = DEV_COLLAR_ID,
		.link_seq = app.link_seq++,
		.boot_id = cf_journal_boot_id(&app.journal),
	};
	err = proto_frame_seal(app.frame, sizeof app.frame, &hdr, body_len, &app.key, &frame_len);
	if (err == 0) {
		err = proto_frame_wire(app.frame, frame_len, app.wire, sizeof app.wire, &wire_len);
	}
	if (err < 0) {
		app.enc_errors++;
		print_err("frame", err);
		return rec_seq;
	}
	meter_add(&app.m_frame, (uint32_t)(board_ticks() - t1) - (uint32_t)(board_isr_ticks() - i1));
	err = hal_uart_write(&app.radio, app.wire, wire_len);
	if (err < 0) {
		/* The journal has the record: a lost frame costs airtime later (ARQ backfill), never the record. */
		app.radio_dropped++;
	}
	return rec_seq;
}

/* One console line per parser record, in the fields the host's --decode prints (gpsd TPV names). */
static void on_record(const struct cf_fix *f)
{
	app.records++;
	uint32_t rec_seq = store_and_send(f);

	struct board_line l;
	board_line_init(&l);
	board_line_str(&l, "FIX ");
	board_line_u32(&l, app.records);
	board_line_str(&l, " t=");
	if (f->has & CF_FIX_HAS_TIME) {
		board_line_utc(&l, f->t_ms);
	} else {
		board_line_str(&l, "-");
	}
	board_line_str(&l, " mode=");
	board_line_i32(&l, cf_fix_mode(f));
	if (f->has & CF_FIX_HAS_POS) {
		board_line_str(&l, " lat=");
		board_line_fixed(&l, f->lat_e7, 7);
		board_line_str(&l, " lon=");
		board_line_fixed(&l, f->lon_e7, 7);
	}
	if (f->has & CF_FIX_HAS_ALT) {
		board_line_str(&l, " alt=");
		board_line_fixed(&l, f->alt_mm, 3);
	}
	if (rec_seq != 0) {
		board_line_str(&l, " seq=");
		board_line_u32(&l, rec_seq);
	}
	board_line_emit(&l);
}

/* ---- GNSS ------------------------------------------------------------------------------------------ */

/* Feed one chunk; time the parser per NMEA line (a line ends at '\n'), excluding the records' handling. */
static void gnss_feed(const uint8_t *p, size_t n)
{
	struct cf_fix fix;
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) + 1u : n;
		const uint8_t *q = p;
		size_t left = seg;
		uint32_t i0 = board_isr_ticks();
		uint32_t t0 = board_ticks();
		for (;;) {
			size_t used = 0;
			int r = cf_nmea_feed(&app.nmea, q, left, &used, &fix);
			q += used;
			left -= used;
			if (r != 1) {
				break;
			}
			app.line_ticks += (uint32_t)(board_ticks() - t0) - (uint32_t)(board_isr_ticks() - i0);
			on_record(&fix);
			i0 = board_isr_ticks();
			t0 = board_ticks();
		}
		app.line_ticks += (uint32_t)(board_ticks() - t0) - (uint32_t)(board_isr_ticks() - i0);
		if (nl) {
			meter_add(&app.m_line, app.line_ticks);
			app.line_ticks = 0;
		}
		p += seg;
		n -= seg;
	}
}

static void print_summary(void)
{
	struct board_uart_stats gs, rs;
	const struct cf_nmea_stats *s = &app.nmea.stats;
	struct board_line l;

	board_uart_get_stats(BOARD_UART_GNSS, &gs);
	board_uart_get_stats(BOARD_UART_RADIO, &rs);
	board_line_init(&l);
	board_line_str(&l, "SUMMARY gnss_bytes=");
	board_line_u32(&l, app.gnss_bytes);
	board_line_str(&l, " sentences_ok=");
	board_line_u32(&l, s->sentences_ok);
	board_line_str(&l, " bad_checksum=");
	board_line_u32(&l, s->bad_checksum + s->no_checksum);
	board_line_str(&l, " records=");
	board_line_u32(&l, app.records);
	board_line_str(&l, " journaled=");
	board_line_u32(&l, app.journaled);
	board_line_str(&l, " enc_err=");
	board_line_u32(&l, app.enc_errors);
	board_line_str(&l, " journal_err=");
	board_line_u32(&l, app.journal_errors);
	board_line_emit(&l);

	board_line_str(&l, "SUMMARY cost");
	line_meter(&l, "line", &app.m_line);
	line_meter(&l, "journal", &app.m_journal);
	board_line_emit(&l);
	board_line_str(&l, "SUMMARY cost");
	line_meter(&l, "frame", &app.m_frame);
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
	board_line_str(&l, " radio_bytes=");
	board_line_u32(&l, rs.tx_bytes);
	board_line_str(&l, " radio_dropped=");
	board_line_u32(&l, app.radio_dropped);
	board_line_str(&l, " uptime_ms=");
	board_line_u32(&l, board_clock_ms());
	board_line_emit(&l);
}

static void gnss_poll(void)
{
	uint8_t buf[64];
	int r = hal_uart_read(&app.gnss, buf, sizeof buf);
	uint32_t now = hal_clock_now_ms(&app.clock);
	if (r < 0) {
		print_err("gnss_read", r);
		return;
	}
	size_t n = (size_t)r;
	if (n > 0) {
		app.gnss_bytes += (uint32_t)n;
		app.gnss_burst_bytes += (uint32_t)n;
		app.last_rx_ms = now;
		gnss_feed(buf, n);
		return;
	}
	if (app.gnss_burst_bytes > 0 && now - app.last_rx_ms >= GNSS_QUIET_MS) {
		struct cf_fix fix;
		while (cf_nmea_flush(&app.nmea, &fix) == 1) {
			on_record(&fix);
		}
		app.gnss_burst_bytes = 0;
		board_uart_drain(BOARD_UART_RADIO);
		print_summary();
	}
}

/* ---- journal --------------------------------------------------------------------------------------- */

static void journal_report(void)
{
	struct cf_journal_stats st;
	struct board_line l;
	int err = cf_journal_stats(&app.journal, &st);
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
	err = cf_journal_read(&app.journal, st.newest_seq, body, sizeof body, &len, &type);
	if (err == 0 && type == PROTO_T_FIX) {
		err = proto_fix_decode(body, len, &pf, NULL);
	}
	if (err < 0) {
		print_err("journal_read_newest", err);
		return;
	}
	board_line_str(&l, "JOURNAL newest seq=");
	board_line_u32(&l, st.newest_seq);
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

static void journal_start(void)
{
	int err = hal_flash_ram_init(&app.flash, &app.flash_ram, __jflash_start, JFLASH_PAGE_SIZE, JFLASH_PAGES,
				     JFLASH_PROG_UNIT);
	if (err == 0 && (uint32_t)(__jflash_end - __jflash_start) < JFLASH_PAGE_SIZE * JFLASH_PAGES) {
		err = -EINVAL; /* the linker's JFLASH region is smaller than the geometry */
	}
	if (err == 0) {
		err = cf_journal_mount(&app.journal, &app.flash);
	}
	if (err < 0) {
		/* Keep running: fixes still go to the console and the radio, counted as not journaled. */
		print_err("journal_mount", err);
		return;
	}
	app.journal_ok = true;
	journal_report();
}

/* ---- sensor / command line ------------------------------------------------------------------------- */

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

static void sensor_line(const char *s)
{
	if (strcmp(s, "FAULT") == 0) {
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
		if (app.journal_ok) {
			journal_report();
		}
		print_summary();
	} else if (strcmp(s, "DWT") == 0) {
		dwt_probe();
	} else if (s[0] != '\0') {
		app.sensor_unknown++;
		struct board_line l;
		board_line_init(&l);
		board_line_str(&l, "ERR sensor: unknown line '");
		board_line_str(&l, s);
		board_line_str(&l, "'");
		board_line_emit(&l);
	}
}

static void sensor_poll(void)
{
	uint8_t buf[32];
	size_t n = board_uart_read(BOARD_UART_SENSOR, buf, sizeof buf);
	for (size_t i = 0; i < n; i++) {
		char c = (char)buf[i];
		if (c == '\n' || c == '\r') {
			app.sline[app.sline_len] = '\0';
			if (app.sline_overlong) {
				sensor_line("(overlong)");
			} else {
				sensor_line(app.sline);
			}
			app.sline_len = 0;
			app.sline_overlong = false;
		} else if (app.sline_len < SENSOR_LINE_MAX) {
			app.sline[app.sline_len++] = c;
		} else {
			app.sline_overlong = true;
		}
	}
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

int main(void)
{
	board_clock_init();
	for (unsigned i = 0; i < BOARD_UART_COUNT; i++) {
		static const uint32_t baud[BOARD_UART_COUNT] = {CONSOLE_BAUD, GNSS_BAUD, SENSOR_BAUD, RADIO_BAUD};
		(void)board_uart_init(i, baud[i]);
	}
	board_uart_dev(&app.gnss, BOARD_UART_GNSS);
	board_uart_dev(&app.radio, BOARD_UART_RADIO);
	board_clock_dev(&app.clock);
	__asm__ volatile("cpsie i" ::: "memory");

	boot_banner();
	calibrate();
	proto_hmac_init(&app.key, dev_key, sizeof dev_key);
	cf_nmea_init(&app.nmea, NULL);
	journal_start();
	board_wdog_start(WDOG_MS);
	board_uart_write_all(BOARD_UART_CONSOLE, "READY\r\n", 7);

	for (;;) {
		board_wdog_kick();
		gnss_poll();
		sensor_poll();
		/* Sleep only if no byte is waiting. With PRIMASK set, an interrupt arriving between the check and
		 * WFI still ends the WFI (it is held pending, not lost) and runs right after cpsie. */
		__asm__ volatile("cpsid i" ::: "memory");
		if (board_uart_rx_avail(BOARD_UART_GNSS) == 0 && board_uart_rx_avail(BOARD_UART_SENSOR) == 0) {
			__asm__ volatile("wfi" ::: "memory");
		}
		__asm__ volatile("cpsie i" ::: "memory");
	}
}
