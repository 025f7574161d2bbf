/*
 * tests/gateway/dock_test.c — the USB dock through libusb against an emulated cradle (umockdev testbed +
 * usbfs ioctl handler, tests/gateway/dock/collar_emu.c) serving a real collar journal.
 *
 * Set-up follows libusb's tests/umockdev.c: the executable links libumockdev-preload (no-as-needed), the
 * testbed is created inside each test before libusb_init, and libusb then sees only the mocked /sys and /dev.
 * Waiting is poll(2) on libusb's fds with a wall-clock bound that fails the test; nothing sleeps.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dock/collar_emu.h"
#include "gw/dock.h"
#include "gw/log.h"
#include "proto/err.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a sink that checks order and exactly-once ------------------------------------------------------- */

struct sink {
	uint8_t *seen;       /* count per rec_seq */
	uint8_t *type;       /* type per rec_seq as delivered */
	uint32_t cap;
	uint32_t last;       /* last rec_seq accepted */
	uint32_t accepted;
	uint32_t out_of_order, dup;
	uint32_t durable;    /* atomic: read by the emulator when it receives LOG_TRIM */
	uint32_t syncs;
	int fail_sync;
};

static int sink_rec(void *ctx, uint16_t collar_id, uint8_t type, uint32_t rec_seq, const uint8_t *body, size_t len)
{
	struct sink *s = ctx;
	(void)collar_id;
	(void)body;
	(void)len;
	if (rec_seq >= s->cap)
		return -ERANGE;
	if (rec_seq <= s->last)
		s->out_of_order++;
	if (s->seen[rec_seq]++)
		s->dup++;
	s->type[rec_seq] = type;
	s->last = rec_seq;
	s->accepted++;
	return 0;
}

static int sink_sync(void *ctx)
{
	struct sink *s = ctx;
	if (s->fail_sync)
		return -EIO;
	s->syncs++;
	__atomic_store_n(&s->durable, s->last, __ATOMIC_SEQ_CST);
	return 0;
}

static void sink_init(struct sink *s, uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->seen = calloc(cap, 1);
	s->type = calloc(cap, 1);
	cr_assert(s->seen && s->type);
}

static void sink_fini(struct sink *s)
{
	free(s->seen);
	free(s->type);
}

/* ---- harness ---------------------------------------------------------------------------------------- */

static struct emu *E;
static struct sink S;
static struct gw_dock *D;

static void setup_env(void)
{
	gw_log_set_level(GW_LOG_WARN);
}

static void open_dock(int force_rescan)
{
	struct gw_dock_opts o = {
		.vid = EMU_VID, .pid = EMU_PID, .io_timeout_ms = 2000, .rescan_ms = 20, .force_rescan = force_rescan,
		.sink = {.on_record = sink_rec, .sync = sink_sync, .ctx = &S},
	};
	cr_assert_eq(gw_dock_new(&D, &o), 0);
}

static void start(uint32_t page_size, uint32_t n_pages, uint16_t collar_id, uint32_t sink_cap)
{
	setup_env();
	E = calloc(1, sizeof(*E));
	cr_assert_not_null(E);
	int err = emu_init(E, page_size, n_pages, collar_id);
	if (err == -ENOSYS)
		cr_skip_test("umockdev testbed unavailable");
	cr_assert_eq(err, 0, "emulator init: %d", err);
	sink_init(&S, sink_cap);
	E->sink_durable = &S.durable;
}

static void stop(void)
{
	gw_dock_free(D);
	D = NULL;
	emu_fini(E);
	free(E);
	sink_fini(&S);
}

typedef int (*cond_fn)(void);

/* Drive the dock from poll(2) until cond holds; fail after limit_ms of wall time. */
static void run_until(cond_fn cond, uint64_t limit_ms, const char *what)
{
	uint64_t t0 = mono_ms();
	while (!cond()) {
		uint64_t now = mono_ms();
		cr_assert_lt(now - t0, limit_ms, "timed out after %llu ms waiting for %s", (unsigned long long)limit_ms,
		             what);
		struct pollfd fds[GW_DOCK_POLLFDS_MAX];
		int n = gw_dock_pollfds(D, fds, GW_DOCK_POLLFDS_MAX);
		cr_assert_geq(n, 0);
		int to = gw_dock_timeout_ms(D, now);
		if (to < 0 || to > 50)
			to = 50;
		cr_assert_geq(poll(fds, (nfds_t)n, to), 0);
		cr_assert_eq(gw_dock_service(D, mono_ms()), 0);
	}
}

static struct gw_dock_stats st(void)
{
	struct gw_dock_stats s;
	gw_dock_stats(D, &s);
	return s;
}

static int c_open(void) { return gw_dock_open_count(D) == 1; }
static int c_closed(void) { return gw_dock_open_count(D) == 0 && st().departures >= 1; }
static int c_idle(void) { return gw_dock_idle_count(D) == 1; }
static int c_two_arrivals(void) { return st().arrivals == 2 && gw_dock_open_count(D) == 1; }

/* n records: every 50th an IND (one that also decodes as a FIX), the rest FIXes. */
static uint32_t fill_journal(uint32_t n, uint8_t *kind)
{
	uint32_t last = 0;
	for (uint32_t i = 0; i < n; i++) {
		int ind = i % 50u == 49u;
		last = ind ? emu_append_ind(E) : emu_append_fix(E);
		cr_assert_neq(last, 0u, "journal append %u failed", i);
		if (kind)
			kind[last] = ind ? PROTO_T_IND : PROTO_T_FIX;
	}
	struct cf_journal_stats js;
	cr_assert_eq(cf_journal_stats(&E->j, &js), 0);
	cr_assert_eq(js.thinned, 0u, "journal too small for the test: %u fixes thinned", js.thinned);
	return last;
}

static void assert_all_once(uint32_t last, const uint8_t *kind)
{
	cr_assert_eq(S.dup, 0u, "%u records delivered twice", S.dup);
	cr_assert_eq(S.out_of_order, 0u);
	for (uint32_t s = 1; s <= last; s++) {
		cr_assert_eq(S.seen[s], 1, "rec_seq %u delivered %u times", s, S.seen[s]);
		if (kind)
			cr_assert_eq(S.type[s], kind[s], "rec_seq %u typed %u, journaled as %u", s, S.type[s], kind[s]);
	}
	cr_assert_eq(S.accepted, last);
}

/* ---- tests ------------------------------------------------------------------------------------------ */

Test(dock, hotplug_enumerate_add_remove, .timeout = 60)
{
	start(4096, 8, 0x0101, 16);
	emu_plug(E); /* present before the dock starts: found by LIBUSB_HOTPLUG_ENUMERATE */
	open_dock(0);
	cr_assert_eq(gw_dock_hotplug(D), 1, "libusb reports no hotplug under umockdev");
	run_until(c_open, 10000, "enumerated device opened");
	run_until(c_idle, 10000, "empty journal: session idle");
	cr_assert_eq(st().sessions, 1u);
	emu_unplug(E);
	run_until(c_closed, 10000, "removal seen and device closed");
	cr_assert_eq(st().departures, 1u);
	emu_plug(E);
	run_until(c_two_arrivals, 10000, "re-plug seen by hotplug");
	run_until(c_idle, 10000, "second session idle");
	cr_assert_eq(st().sessions, 2u);
	cr_assert_eq(E->ioctl_unknown, 0u);
	stop();
}

Test(dock, enumeration_fallback_add_remove, .timeout = 60)
{
	start(4096, 8, 0x0101, 16);
	open_dock(1);
	cr_assert_eq(gw_dock_hotplug(D), 0);
	emu_plug(E);
	run_until(c_open, 10000, "device found by periodic enumeration");
	run_until(c_idle, 10000, "session idle");
	emu_unplug(E);
	run_until(c_closed, 10000, "removal found by enumeration");
	stop();
}

static uint32_t g_last;
static int c_done(void) { return S.accepted >= g_last && E->last_trim >= g_last && c_idle(); }
static int c_half(void) { return S.accepted >= 2000; }

Test(dock, full_download_5000_fragmented, .timeout = 120)
{
	start(4096, 256, 0x0102, 8192);
	uint8_t *kind = calloc(8192, 1);
	g_last = fill_journal(5000, kind);
	emu_plug(E);
	open_dock(0);
	run_until(c_done, 60000, "5000 records and the final LOG_TRIM");
	assert_all_once(g_last, kind);
	struct gw_dock_stats s = st();
	cr_assert_eq(s.records, 5000u);
	cr_assert_eq(s.downloads_done, 1u);
	cr_assert_eq(s.frames_bad + s.frag_bad + s.msgs_bad + s.records_bad + s.gaps, 0u);
	cr_assert_gt(E->frag_frames, 5000u / 16u, "LOG_DATA should travel fragmented (%u FRAG frames)", E->frag_frames);
	cr_assert_eq(E->trim_violations, 0u, "LOG_TRIM arrived before the sink reported the records durable");
	cr_assert_geq(E->trims, 2u);
	cr_assert_eq(E->last_trim, g_last);
	cr_assert_eq(cf_journal_is_acked(&E->j, g_last), 1);
	cr_assert_gt(s.xfer_ok, 0u);
	cr_assert_eq(s.xfer_failed, 0u);
	free(kind);
	stop();
}

Test(dock, unplug_mid_download_resumes, .timeout = 120)
{
	start(4096, 256, 0x0103, 8192);
	uint8_t *kind = calloc(8192, 1);
	g_last = fill_journal(5000, kind);
	E->stall_after = 2345; /* the cradle stops delivering here: the unplug lands mid-LOG_READ */
	emu_plug(E);
	open_dock(0);
	run_until(c_half, 60000, "first part of the download");
	emu_unplug(E);
	run_until(c_closed, 10000, "unplug seen");
	uint32_t got = S.accepted;
	cr_assert_lt(got, 5000u);
	cr_assert_eq(S.durable, S.last, "records received before the unplug were synced at the unplug");
	uint32_t resume = 0;
	cr_assert_eq(gw_dock_resume_get(D, 0x0103, &resume), 0);
	cr_assert_eq(resume, S.last + 1u);
	E->stall_after = 0;
	emu_plug(E);
	run_until(c_done, 60000, "the rest of the download after re-plug");
	assert_all_once(g_last, kind);
	struct gw_dock_stats s = st();
	cr_assert_eq(s.resumptions, 1u);
	cr_assert_eq(s.sessions, 2u);
	cr_assert_eq(E->trim_violations, 0u);
	cr_assert_eq(E->last_trim, g_last);
	free(kind);
	stop();
}

static int key_src(void *ctx, uint16_t collar_id, uint8_t key[PROTO_KEY_LEN])
{
	(void)ctx;
	for (unsigned i = 0; i < PROTO_KEY_LEN; i++)
		key[i] = (uint8_t)(0xA5u ^ (i * 7u) ^ collar_id);
	return 0;
}

static int c_provisioned(void) { return st().provisionings == 1 && c_idle(); }

Test(dock, provision_round_trip, .timeout = 60)
{
	start(4096, 8, 0 /* unprovisioned */, 16);
	emu_plug(E);
	open_dock(0);
	struct gw_dock_provision p = {
		.collar_id = 0x0207, .species = PROTO_SPECIES_DOG, .report_ms = 1000, .status_ms = 60000,
		.utc_ms = 1700000000123ull, .key = key_src,
	};
	cr_assert_eq(gw_dock_provision(D, &p), 0);
	struct gw_dock_provision bad = p;
	bad.report_ms = 10; /* below 200 ms */
	cr_assert_eq(gw_dock_provision(D, &bad), -EBUSY);
	run_until(c_provisioned, 10000, "PROVISION confirmed by LOG_LIST");
	cr_assert_eq(E->provisioned, 1);
	cr_assert_eq(E->prov.collar_id, 0x0207);
	cr_assert_eq(E->prov.species, PROTO_SPECIES_DOG);
	cr_assert_eq(E->prov.report_ms, 1000u);
	cr_assert_eq(E->prov.status_ms, 60000u);
	cr_assert_eq(E->prov.utc_ms, 1700000000123ull);
	uint8_t want[PROTO_KEY_LEN];
	key_src(NULL, 0x0207, want);
	cr_assert_arr_eq(E->prov.key, want, PROTO_KEY_LEN);
	cr_assert_eq(gw_dock_provision_pending(D), 0);
	stop();
}

Test(dock, provision_rejects_bad_config, .timeout = 30)
{
	start(4096, 8, 0, 16);
	open_dock(0);
	struct gw_dock_provision p = {.collar_id = 0x0207, .species = PROTO_SPECIES_RAT, .report_ms = 10, .key = key_src};
	cr_assert_eq(gw_dock_provision(D, &p), -EINVAL);
	p.report_ms = 1000;
	p.collar_id = 0;
	cr_assert_eq(gw_dock_provision(D, &p), -EINVAL);
	p.collar_id = 3;
	p.species = 9;
	cr_assert_eq(gw_dock_provision(D, &p), -EINVAL);
	stop();
}

Test(dock, hostile_input_counted, .timeout = 120)
{
	start(4096, 64, 0x0104, 2048);
	uint8_t *kind = calloc(2048, 1);
	g_last = fill_journal(1000, kind);
	emu_plug(E);
	/* before anything the collar says: garbage, a truncated frame, a fragment chain longer than any
	 * message, a fragment out of sequence, a LOG_DATA whose body is not msgpack, an unexpected type */
	uint8_t junk[700];
	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131u + 7u);
	emu_inject(E, junk, sizeof(junk));
	uint8_t wire[PROTO_WIRE_MAX];
	size_t wl;
	struct proto_hdr h = {.type = PROTO_T_LOG_LIST, .collar_id = 0x0104, .link_seq = 9000};
	uint8_t lb[] = {0x84, 0x01, 0x01, 0x02, 0x05, 0x03, 0x04, 0x04, 0x01};
	cr_assert_eq(proto_frame_encode(&h, lb, sizeof(lb), NULL, wire, sizeof(wire), &wl), 0);
	emu_inject(E, wire, wl / 2);
	uint8_t zero = 0;
	emu_inject(E, &zero, 1);
	static uint8_t big[PROTO_LOG_DATA_BODY_MAX + 600];
	memset(big, 0xC4, sizeof(big));
	emu_send_frames(E, PROTO_T_LOG_DATA, big, sizeof(big), PROTO_BODY_MAX);
	h.type = PROTO_T_LOG_DATA;
	h.flags = PROTO_F_FRAG;
	cr_assert_eq(proto_frame_encode(&h, big, 100, NULL, wire, sizeof(wire), &wl), 0);
	emu_inject(E, wire, wl);
	h.flags = 0;
	h.link_seq = 9005; /* not 9001 */
	cr_assert_eq(proto_frame_encode(&h, big, 50, NULL, wire, sizeof(wire), &wl), 0);
	emu_inject(E, wire, wl);
	h.link_seq = 9100;
	cr_assert_eq(proto_frame_encode(&h, big, 50, NULL, wire, sizeof(wire), &wl), 0);
	emu_inject(E, wire, wl);
	h.type = PROTO_T_FIX;
	h.link_seq = 9101;
	cr_assert_eq(proto_frame_encode(&h, lb, sizeof(lb), NULL, wire, sizeof(wire), &wl), 0);
	emu_inject(E, wire, wl);
	open_dock(0);
	run_until(c_done, 60000, "download after hostile input");
	assert_all_once(g_last, kind);
	struct gw_dock_stats s = st();
	cr_assert_gt(s.frames_bad, 0u, "garbage and the truncated frame must be counted");
	cr_assert_geq(s.frag_bad, 2u, "oversized chain and the out-of-sequence fragment must be counted");
	cr_assert_geq(s.msgs_bad, 2u, "undecodable LOG_DATA and the FIX must be counted");
	cr_assert_eq(E->trim_violations, 0u);
	free(kind);
	stop();
}

/* ---- pure helpers, no USB --------------------------------------------------------------------------- */

Test(dock, reasm_bounds)
{
	struct gw_dock_reasm r;
	gw_dock_reasm_init(&r);
	uint8_t body[PROTO_BODY_MAX];
	memset(body, 0x11, sizeof(body));
	const uint8_t *msg;
	size_t len;
	struct proto_hdr h = {.flags = PROTO_F_FRAG, .type = PROTO_T_LOG_DATA, .collar_id = 5, .link_seq = 65534};
	unsigned frames = 0;
	int rc = 0;
	/* keep fragmenting across the link_seq wrap until the buffer would overflow */
	while ((rc = gw_dock_reasm_push(&r, &h, body, sizeof(body), &msg, &len)) == 0) {
		h.link_seq++;
		frames++;
		cr_assert_lt(frames, 100u);
	}
	cr_assert_eq(rc, -EMSGSIZE);
	cr_assert_eq(frames, PROTO_LOG_DATA_BODY_MAX / PROTO_BODY_MAX);
	h.link_seq++;
	cr_assert_eq(gw_dock_reasm_push(&r, &h, body, 10, &msg, &len), 0); /* still skipping */
	h.flags = 0;
	h.link_seq++;
	cr_assert_eq(gw_dock_reasm_push(&r, &h, body, 10, &msg, &len), 0); /* last of the refused one */
	h.link_seq++;
	cr_assert_eq(gw_dock_reasm_push(&r, &h, body, 10, &msg, &len), 1); /* a fresh single frame */
	cr_assert_eq(len, 10u);
	cr_assert_eq(r.overflow, 1u);
	/* two fragments then a gap: the partial message is dropped, the new frame stands alone */
	h.flags = PROTO_F_FRAG;
	cr_assert_eq(gw_dock_reasm_push(&r, &h, body, 20, &msg, &len), 0);
	h.link_seq += 2;
	h.flags = 0;
	cr_assert_eq(gw_dock_reasm_push(&r, &h, body, 7, &msg, &len), 1);
	cr_assert_eq(len, 7u);
	cr_assert_eq(r.broken, 1u);
}

Test(dock, classify_ind_that_also_decodes_as_fix)
{
	struct proto_ind in = {
		.has = PROTO_IND_HAS_T | PROTO_IND_HAS_DUR, .rec_seq = 77, .t_ms = 1700000000000ull,
		.kind = PROTO_IND_SCRATCH, .dur_ms = 3000, .src = PROTO_SRC_BUTTON,
	};
	uint8_t b[PROTO_BODY_MAX];
	size_t len;
	cr_assert_eq(proto_ind_encode(&in, b, sizeof(b), &len), 0);
	struct proto_fix f;
	cr_assert_eq(proto_fix_decode(b, len, &f, NULL), 0, "premise: this IND body is also a valid FIX");
	uint32_t first, last;
	cr_assert_eq(gw_dock_classify(b, len, &first, &last), PROTO_T_IND);
	cr_assert_eq(first, 77u);
	uint8_t junk[] = {0x81, 0x01, 0xc0};
	cr_assert_lt(gw_dock_classify(junk, sizeof(junk), &first, &last), 0);
}

/* ---- measurement ------------------------------------------------------------------------------------ */

Test(dock, bench_day_offload, .timeout = 300)
{
	/* a day at 1 Hz plus INDs: 86,400 fixes, 1 IND every 50 records (~1,760) */
	start(65536, 256, 0x0105, 90000);
	uint32_t n = 86400u + 86400u / 49u;
	uint64_t t0 = mono_ms();
	g_last = fill_journal(n, NULL);
	uint64_t t1 = mono_ms();
	emu_plug(E);
	open_dock(0);
	uint64_t t2 = mono_ms();
	run_until(c_done, 240000, "a day's journal");
	uint64_t t3 = mono_ms();
	assert_all_once(g_last, NULL);
	struct gw_dock_stats s = st();
	double secs = (double)(t3 - t2) / 1000.0;
	/* EMULATED USB (umockdev ioctl round trips, not a bus); collar_side_s = the emulated collar's journal
	 * reads + LOG_DATA encoding, which run on the same CPU inside the emulated transfers. */
	fprintf(stderr, "DOCK_BENCH (emulated USB) records=%u seconds=%.3f rate=%.0f/s bytes_in=%llu in_xfers=%llu "
	        "collar_side_s=%.3f journal_build_s=%.3f\n", g_last, secs, g_last / secs,
	        (unsigned long long)s.bytes_in, (unsigned long long)s.xfer_ok, (double)E->produce_ns / 1e9,
	        (double)(t1 - t0) / 1000.0);
	cr_assert_eq(E->trim_violations, 0u);
	stop();
}
