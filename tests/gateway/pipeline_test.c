/*
 * tests/gateway/pipeline_test.c — the receive pipeline on frames built with proto/: good frames from
 * several collars, FIXB expansion, duplicates, replays, bad tags, unknown collars, CRC errors, hostile
 * msgpack, and the ACKs (cumulative + selective, batching every 4 or 100 ms on an injected clock).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>

#include "cf/journal.h"
#include "cf/link.h"
#include "gw/pipeline.h"
#include "hal/flash_emul.h"
#include "gw/spool.h"
#include "gw_sim.h"
#include "gw_testutil.h"
#include "proto/err.h"

#define MAX_ACKS 256

struct acks {
	unsigned n;
	unsigned link[MAX_ACKS];
	struct proto_hdr hdr[MAX_ACKS];
	struct proto_ack ack[MAX_ACKS];
	uint16_t collar[MAX_ACKS];
};

static struct acks acks;
static struct sim_collar col[4];
static struct gw_spool *spool;
static struct gw_pipeline *pipe_;
static struct gw_now now = {1000, 1718000000000ull};
static struct cf_link *radio_to; /* when set, ACKs also go over the "radio" to this real collar link */

/* The "link": deframe the ACK and check it with the right collar key. */
static int send_cb(void *arg, unsigned link, const uint8_t *wire, size_t len)
{
	(void)arg;
	struct proto_deframer d;
	uint8_t frame[PROTO_FRAME_MAX];
	size_t used, fl;
	proto_deframer_init(&d);
	cr_assert_eq(proto_deframer_push(&d, wire, len, &used, frame, sizeof frame, &fl), 1);
	uint16_t id = (uint16_t)(frame[2] | frame[3] << 8);
	const struct sim_collar *c = NULL;
	for (unsigned i = 0; i < 4; i++)
		if (col[i].id == id)
			c = &col[i];
	cr_assert_not_null(c, "ACK for an unknown collar %u", id);
	cr_assert_eq(sim_ack_parse(c, frame, fl, &acks.ack[acks.n], &acks.hdr[acks.n]), 0, "ACK tag/body");
	acks.link[acks.n] = link;
	acks.collar[acks.n] = id;
	acks.n++;
	if (radio_to != NULL)
		cr_assert_geq(cf_link_on_rx(radio_to, (uint32_t)now.mono_ms, wire, len), 0);
	if (acks.n == MAX_ACKS)
		acks.n = 0; /* long conversations keep only the latest */
	return 0;
}

static void start(struct gw_pipeline_opts *o)
{
	struct gw_spool_opts so = {tu_path("spool.db"), 1, 0};
	cr_assert_eq(gw_spool_open(&spool, &so), 0);
	struct gw_pipeline_opts def = GW_PIPELINE_OPTS_INIT;
	cr_assert_eq(gw_pipeline_new(&pipe_, spool, o ? o : &def, send_cb, NULL), 0);
	if (!col[0].id) { /* the simulated collars keep their state across a gateway restart */
		for (unsigned i = 0; i < 3; i++)
			sim_init(&col[i], (uint16_t)(0x100 + i), 5);
		sim_init(&col[3], 0x999, 5); /* not in the key table */
	}
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(gw_pipeline_collar_add(pipe_, col[i].id, col[i].key), 0);
	cr_assert_eq(gw_pipeline_restore(pipe_), 0);
}

static void stop(void)
{
	cr_assert_eq(gw_pipeline_flush(pipe_, &now), 0);
	gw_pipeline_free(pipe_);
	cr_assert_eq(gw_spool_close(spool), 0);
	pipe_ = NULL;
	spool = NULL;
}

static void setup(void)
{
	radio_to = NULL;
	tu_mkdir();
	memset(&acks, 0, sizeof acks);
	memset(col, 0, sizeof col);
	now.mono_ms = 1000;
}

static void feed(unsigned link, const uint8_t *w, int n)
{
	cr_assert_gt(n, 0);
	cr_assert_eq(gw_pipeline_input(pipe_, link, w, (size_t)n, NULL, &now), 0);
}

static void tick(uint64_t ms)
{
	now.mono_ms += ms;
	now.utc_ms += ms;
	cr_assert_eq(gw_pipeline_tick(pipe_, &now, NULL), 0);
}

static const struct gw_collar_info *info(unsigned i)
{
	return gw_pipeline_collar_at(pipe_, i);
}

static long long rows(const char *where)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM rec WHERE %s", where);
	return tu_sql_int(tu_path("spool.db"), sql);
}

TestSuite(gw_pipeline, .init = setup, .fini = tu_rmdir);

Test(gw_pipeline, good_frames_from_several_collars_are_stored_once_and_acked)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 64];
	int n = 0;
	/* Three collars interleaved on one link, as through a radio modem, in one read. */
	for (uint32_t s = 1; s <= 4; s++)
		for (unsigned i = 0; i < 3; i++)
			n += sim_fix_frame(&col[i], s, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	/* 4 records per collar: ACK-worthy, but by default FIXes wait for the group commit (100 ms) */
	cr_assert_eq(acks.n, 0);
	tick(100);
	cr_assert_eq(acks.n, 3);
	for (unsigned k = 0; k < 3; k++) {
		cr_assert_eq(acks.ack[k].cum, 4);
		cr_assert_eq(acks.ack[k].sack, 0);
		cr_assert_eq(acks.ack[k].credit, 8);
		cr_assert_eq(acks.ack[k].gw_ms, now.utc_ms);
		cr_assert_eq(acks.link[k], 0);
	}
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(info(i)->frames_ok, 4);
		cr_assert_eq(info(i)->records, 4);
		cr_assert_eq(info(i)->lost, 0);
		cr_assert_eq(info(i)->cum, 4);
	}
	cr_assert_eq(rows("1"), 12);
	stop();
}

Test(gw_pipeline, acks_batch_every_4_records_or_100_ms)
{
	struct gw_pipeline_opts o = GW_PIPELINE_OPTS_INIT;
	o.early_commit = 1;
	start(&o);
	uint8_t w[PROTO_WIRE_MAX * 8];
	int n = 0;
	for (uint32_t s = 1; s <= 3; s++)
		n += sim_fix_frame(&col[0], s, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	cr_assert_eq(acks.n, 0, "3 records: not yet");
	tick(99);
	cr_assert_eq(acks.n, 0, "99 ms: not yet");
	cr_assert_eq(rows("1"), 0, "and not committed either (group commit)");
	tick(1);
	cr_assert_eq(acks.n, 1, "100 ms after the first record");
	cr_assert_eq(acks.ack[0].cum, 3);
	cr_assert_eq(rows("1"), 3);

	/* A 4th record right after a commit: the early commit waits commit_gap_ms (10). */
	n = sim_fix_frame(&col[0], 4, w, sizeof w);
	n += sim_fix_frame(&col[0], 5, w + n, sizeof w - (size_t)n);
	n += sim_fix_frame(&col[0], 6, w + n, sizeof w - (size_t)n);
	n += sim_fix_frame(&col[0], 7, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	cr_assert_eq(acks.n, 1);
	uint64_t next;
	cr_assert_eq(gw_pipeline_tick(pipe_, &now, &next), 0);
	cr_assert_eq(next, now.mono_ms + 10, "the next deadline is the commit gap");
	tick(10);
	cr_assert_eq(acks.n, 2);
	cr_assert_eq(acks.ack[1].cum, 7);
	stop();
}

Test(gw_pipeline, by_default_fix_acks_follow_the_group_commit)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 8];
	int n = 0;
	for (uint32_t s = 1; s <= 6; s++)
		n += sim_fix_frame(&col[0], s, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	uint64_t next;
	cr_assert_eq(gw_pipeline_tick(pipe_, &now, &next), 0);
	cr_assert_eq(next, now.mono_ms + 100, "6 records >= ack_every, but no early commit: the group commit is next");
	tick(99);
	cr_assert_eq(acks.n, 0, "99 ms: no commit, no ACK");
	cr_assert_eq(rows("1"), 0);
	tick(1);
	cr_assert_eq(rows("1"), 6, "group commit at 100 ms");
	cr_assert_eq(acks.n, 1, "one ACK for the six");
	cr_assert_eq(acks.ack[0].cum, 6);
	stop();
}

Test(gw_pipeline, indication_is_committed_and_acked_at_once)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX];
	int n = sim_ind_frame(&col[1], 1, w, sizeof w);
	feed(2, w, n);
	cr_assert_eq(acks.n, 1);
	cr_assert_eq(acks.ack[0].cum, 1);
	cr_assert_eq(acks.link[0], 2, "ACK goes back on the link the collar was heard on");
	cr_assert_eq(rows("type = 4"), 1, "durable before the ACK");
	stop();
}

Test(gw_pipeline, fixb_expands_into_fix_records_with_raw_once)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX];
	int n = sim_fixb_frame(&col[0], 10, 8, w, sizeof w);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(info(0)->frames_ok, 1);
	cr_assert_eq(info(0)->records, 8);
	stop();
	cr_assert_eq(rows("type = 2"), 8);
	cr_assert_eq(rows("raw IS NOT NULL"), 1);
	cr_assert_eq(rows("rec_seq BETWEEN 10 AND 17"), 8);
	/* Each stored body is a single FIX that decodes to what the collar sent. */
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open(tu_path("spool.db"), &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT rec_seq, body FROM rec ORDER BY id", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct proto_fix got, want;
		cr_assert_eq(proto_fix_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &got, NULL),
		             0);
		sim_fix(col[0].id, (uint32_t)sqlite3_column_int(st, 0), &want);
		cr_assert_eq(memcmp(&got, &want, sizeof got), 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(gw_pipeline, duplicates_are_stored_once_and_reacked)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX];
	int n = sim_ind_frame(&col[0], 1, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(acks.n, 1);
	/* The collar missed the ACK and retransmits (new link_seq, same rec_seq). */
	n = sim_ind_frame(&col[0], 1, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->duplicates, 1);
	cr_assert_eq(info(0)->records, 1);
	cr_assert_eq(acks.n, 2, "a duplicate IND is re-ACKed at once");
	cr_assert_eq(acks.ack[1].cum, 1);
	cr_assert_neq(acks.hdr[1].link_seq, acks.hdr[0].link_seq, "ACK frames never reuse a link_seq");
	stop();
	cr_assert_eq(rows("1"), 1);
}

Test(gw_pipeline, replayed_and_stale_frames_are_refused)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX], w2[PROTO_WIRE_MAX];
	int n = sim_fix_frame(&col[0], 1, w, sizeof w);
	feed(0, w, n);
	feed(0, w, n); /* the same bytes again: a replay */
	cr_assert_eq(info(0)->replays, 1);
	/* Out of order within 64: accepted once. */
	col[0].link_seq = 10;
	int n2 = sim_fix_frame(&col[0], 2, w2, sizeof w2);
	col[0].link_seq = 5;
	n = sim_fix_frame(&col[0], 3, w, sizeof w);
	feed(0, w2, n2);
	feed(0, w, n);
	cr_assert_eq(info(0)->replays, 1);
	cr_assert_eq(info(0)->frames_ok, 3);
	cr_assert_eq(info(0)->lost, 9 - 1, "gap 1..10 = 8 lost, then 5 arrived late: 8 - 1 + 1");
	feed(0, w, n);
	cr_assert_eq(info(0)->replays, 2);
	/* An older boot_id is refused; a newer one starts a new window. */
	col[0].boot_id = 4;
	n = sim_fix_frame(&col[0], 4, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->replays, 3);
	col[0].boot_id = 6;
	col[0].link_seq = 0;
	n = sim_fix_frame(&col[0], 4, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->frames_ok, 4);
	cr_assert_eq(info(0)->boot_id, 6);
	stop();

	/* The window survives a restart: the boot-5 frame is still stale. */
	start(NULL);
	col[0].boot_id = 5;
	col[0].link_seq = 20;
	n = sim_fix_frame(&col[0], 9, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->replays, 1);
	cr_assert_eq(info(0)->boot_id, 6);
	stop();
}

Test(gw_pipeline, bad_tags_unknown_collars_crc_errors_and_hostile_msgpack_are_counted)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 16];
	int n = 0, k;
	/* 1: wrong key */
	struct sim_collar forger = col[1];
	sim_key(0x777, forger.key);
	proto_hmac_init(&forger.hk, forger.key, sizeof forger.key);
	n += sim_fix_frame(&forger, 1, w + n, sizeof w - (size_t)n);
	/* 2: no tag at all */
	{
		struct proto_fix f;
		uint8_t body[PROTO_BODY_MAX];
		size_t bl;
		sim_fix(col[1].id, 1, &f);
		cr_assert_eq(proto_fix_encode(&f, body, sizeof body, &bl), 0);
		n += sim_seal(&col[1], PROTO_T_FIX, 0, body, bl, 0, w + n, sizeof w - (size_t)n);
	}
	/* 3: unknown collar */
	n += sim_fix_frame(&col[3], 1, w + n, sizeof w - (size_t)n);
	/* 4: a bit flip (CRC) */
	k = sim_fix_frame(&col[2], 1, w + n, sizeof w - (size_t)n);
	w[n + 20] ^= 0x10;
	n += k;
	/* 5: hostile msgpack, authentic: map16 claiming 65535 pairs in 5 bytes */
	{
		const uint8_t evil[] = {0xde, 0xff, 0xff, 0x01, 0x02};
		n += sim_seal(&col[2], PROTO_T_FIX, 0, evil, sizeof evil, 1, w + n, sizeof w - (size_t)n);
	}
	/* 6: a gateway type on the radio */
	n += sim_seal(&col[2], PROTO_T_ACK, 0, (const uint8_t[]){0x80}, 1, 1, w + n, sizeof w - (size_t)n);
	/* 7: garbage without delimiters, longer than any frame */
	for (int i = 0; i < 600; i++)
		w[n++] = (uint8_t)(1 + i % 250);
	/* and the good frames after all of it must survive */
	n += sim_ind_frame(&col[2], 1, w + n, sizeof w - (size_t)n);
	n += sim_ind_frame(&col[1], 1, w + n, sizeof w - (size_t)n);
	/* byte by byte, the hardest chunking */
	for (int i = 0; i < n; i++)
		feed(0, w + i, 1);
	const struct gw_pipeline_totals *t = gw_pipeline_totals(pipe_);
	const struct gw_link_rx *rx = gw_pipeline_link_rx(pipe_, 0);
	cr_assert_eq(info(1)->auth_fail, 2);
	cr_assert_eq(t->auth_fail, 2);
	cr_assert_eq(t->unknown_collar, 1);
	cr_assert_eq(t->last_unknown_collar, 0x999);
	cr_assert_eq(info(2)->crc_fail, 1);
	cr_assert_eq(rx->err_by[-PROTO_EFRAME_CRC], 1);
	cr_assert_eq(info(2)->malformed, 1);
	cr_assert_eq(info(2)->malformed_by[-PROTO_EMP_COUNT], 1, "refused by the pre-validator");
	cr_assert_eq(rx->err_by[-PROTO_EFRAME_TYPE], 1);
	cr_assert_eq(rx->err_by[-PROTO_EFRAME_LONG], 1);
	cr_assert_eq(info(1)->records, 1);
	cr_assert_eq(info(2)->records, 1);
	cr_assert_eq(acks.n, 2, "both good indications ACKed");
	stop();
	cr_assert_eq(rows("1"), 2);
}

Test(gw_pipeline, sack_reports_durable_records_above_a_gap)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 8];
	int n = 0;
	const uint32_t seqs[] = {1, 2, 4, 6, 70};
	for (unsigned i = 0; i < 5; i++)
		n += sim_fix_frame(&col[0], seqs[i], w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(acks.n, 1);
	cr_assert_eq(acks.ack[0].cum, 2);
	cr_assert_eq(acks.ack[0].sack, (1ull << 1) | (1ull << 3), "4 and 6; 70 is beyond the 64-bit sack");
	cr_assert(sim_acked(&acks.ack[0], 4));
	cr_assert(!sim_acked(&acks.ack[0], 3));
	/* Fill the gaps: cum moves over everything durable, 70 included once 3..69 arrive. */
	n = sim_fix_frame(&col[0], 3, w, sizeof w);
	n += sim_fix_frame(&col[0], 5, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(acks.ack[acks.n - 1].cum, 6);
	cr_assert_eq(acks.ack[acks.n - 1].sack, 1ull << 63, "70 = cum + 1 + 63");
	stop();
}

Test(gw_pipeline, hello_moves_the_ack_point_over_what_the_collar_no_longer_has)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX];
	int n = sim_hello_frame(&col[0], 5000, 5003, w, sizeof w);
	feed(0, w, n);
	n = sim_ind_frame(&col[0], 5001, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(acks.ack[acks.n - 1].cum, 4999, "5000 not stored yet");
	cr_assert_eq(acks.ack[acks.n - 1].sack, 1u << 1, "5001 = cum + 1 + 1, sack %llx cum %u n %u", (unsigned long long)acks.ack[acks.n - 1].sack, acks.ack[acks.n - 1].cum, acks.n);
	cr_assert(info(0)->has_batt);
	cr_assert_eq(info(0)->batt_mv, 3900);
	stop();
	/* The ack point persists. */
	start(NULL);
	cr_assert_eq(info(0)->cum, 4999);
	stop();
}

Test(gw_pipeline, ack_state_is_rebuilt_from_the_spool_after_restart)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 4];
	int n = sim_fix_frame(&col[0], 1, w, sizeof w);
	n += sim_fix_frame(&col[0], 3, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	stop();
	start(NULL);
	n = sim_ind_frame(&col[0], 2, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(acks.ack[acks.n - 1].cum, 3, "1 and 3 from the spool, 2 now");
	n = sim_fix_frame(&col[0], 3, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->duplicates, 1);
	stop();
}

Test(gw_pipeline, status_battery_and_loss_statistics)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX];
	int n = sim_status_frame(&col[0], 3711, w, sizeof w);
	feed(0, w, n);
	col[0].link_seq += 3; /* three frames lost on air */
	n = sim_status_frame(&col[0], 3700, w, sizeof w);
	feed(0, w, n);
	cr_assert_eq(info(0)->batt_mv, 3700);
	cr_assert_eq(info(0)->lost, 3);
	cr_assert_eq(gw_collar_loss_bp(info(0)), 6000, "3 lost / 5 sent");
	cr_assert(!info(0)->has_rssi, "the serial modem gives no RSSI: absent, not 0");
	stop();
	cr_assert_eq(rows("type = 5 AND rec_seq IS NULL"), 2);
}

/* The real collar (cf_journal on the NOR emulator + cf_link) against the real pipeline. The journal is far
 * too small for what was logged while no gateway listened: the storage-full policy thinned un-acked FIXes.
 * Those rec_seqs can never come; the collar's GONE statements let the gateway's cumulative ack pass every
 * gap: cum reaches the last rec_seq, the gaps are counted as thinned (not records, not lost frames), and
 * the cum survives a gateway restart. */
Test(gw_pipeline, real_collar_with_a_thinned_journal_gets_the_cumulative_ack_past_every_gap)
{
	enum { PAGE = 1024, PAGES = 8 };
	static uint8_t mem[PAGE * PAGES];
	static struct cf_journal j;
	static struct cf_link l;
	struct hal_flash dev;
	struct hal_flash_emul em;
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	uint32_t inds = 0;

	start(NULL);
	cr_assert_eq(hal_flash_emul_init(&dev, &em, mem, NULL, PAGE, PAGES, 8), 0);
	cr_assert_eq(cf_journal_mount(&j, &dev), 0);
	/* an hour-long outage in miniature: 400 FIXes and every 50th record an IND, nothing acked */
	for (uint32_t i = 1; i <= 400; i++) {
		if (i % 50 == 0) {
			struct proto_ind e = {.has = PROTO_IND_HAS_T, .rec_seq = i, .t_ms = 1718000000000ull + i * 1000ull,
			                      .kind = PROTO_IND_SCRATCH, .src = PROTO_SRC_CLASSIFIER};
			cr_assert_eq(proto_ind_encode(&e, body, sizeof body, &blen), 0);
			cr_assert_eq(cf_journal_append(&j, PROTO_T_IND, body, blen, NULL), 0);
			inds++;
			continue;
		}
		struct proto_fix f;
		sim_fix(col[0].id, i, &f);
		cr_assert_eq(proto_fix_encode(&f, body, sizeof body, &blen), 0);
		cr_assert_eq(cf_journal_append(&j, PROTO_T_FIX, body, blen, NULL), 0);
	}
	struct cf_journal_stats js;
	cr_assert_eq(cf_journal_stats(&j, &js), 0);
	cr_assert_gt(js.thinned, 100u, "the journal must have thinned");
	cr_assert_eq(js.ind_dropped, 0u);
	uint32_t floor0 = js.oldest_seq - 1u; /* HELLO: nothing below the oldest stored record can come */

	struct cf_link_cfg lc = {.collar_id = col[0].id, .key = col[0].key, .seed = 7};
	cr_assert_eq(cf_link_init(&l, &lc, &j, (uint32_t)now.mono_ms), 0);
	radio_to = &l;
	for (int step = 0; step < 20000 && info(0)->cum < 400u; step++) {
		int r = cf_link_poll(&l, (uint32_t)now.mono_ms, wire, sizeof wire, &wlen);
		cr_assert_geq(r, 0);
		if (r == 1) {
			feed(0, wire, (int)wlen);
			tick(20);
		} else {
			uint32_t d = cf_link_next_deadline(&l, (uint32_t)now.mono_ms) - (uint32_t)now.mono_ms;
			tick(d < 20u || d > 3600000u ? 20u : d);
		}
	}
	radio_to = NULL;
	const struct gw_collar_info *c = info(0);
	cr_log_info("thinned on the collar %u, settled as thinned at the gateway %llu, records %llu, GONE frames %u",
	            js.thinned, (unsigned long long)c->thinned, (unsigned long long)c->records, cf_link_stats(&l)->tx_gone);
	cr_assert_eq(c->cum, 400u, "the cumulative ack passes every gap (cum %u)", c->cum);
	cr_assert_gt(cf_link_stats(&l)->tx_gone, 0u);
	long long stored = rows("type IN (2, 4)");
	cr_assert_eq(stored + (long long)c->thinned + floor0, 400, "every rec_seq stored, thinned or below the "
	             "HELLO floor, never two of them (stored %lld thinned %llu floor %u)", stored,
	             (unsigned long long)c->thinned, floor0);
	cr_assert_eq(rows("type = 4"), (long long)inds, "every indication stored");
	cr_assert_eq(c->lost, 0u, "gone records are not lost frames");
	cr_assert_eq(cf_journal_stats(&j, &js), 0);
	/* the ACK markers themselves filled pages: the journal thinned more while it drained */
	cr_assert_leq(c->thinned + floor0, js.thinned, "only what the journal thinned is counted as thinned");
	cr_assert_eq(js.backlog, 0u, "the collar's journal is fully acked");
	stop();
	start(NULL);
	cr_assert_eq(info(0)->cum, 400u, "the ack point passed the gaps persists");
	stop();
}

/* A gateway that never saw this collar (fresh spool) starts its cumulative ack at the collar's own ack
 * point from HELLO instead of waiting for rec_seq 1, which the collar will never send again. */
Test(gw_pipeline, hello_ack_cum_starts_a_fresh_gateway_at_the_collars_ack_point)
{
	start(NULL);
	struct proto_hello h = {.has = PROTO_HELLO_HAS_ACKCUM, .fw = "t", .schema = PROTO_SCHEMA_VERSION,
	                        .boot_id = 5, .oldest_seq = 1, .next_seq = 900, .ack_cum = 850};
	uint8_t body[PROTO_BODY_MAX], w[PROTO_WIRE_MAX * 2];
	size_t blen;
	cr_assert_eq(proto_hello_encode(&h, body, sizeof body, &blen), 0);
	int n = sim_seal(&col[0], PROTO_T_HELLO, 0, body, blen, 1, w, sizeof w);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(info(0)->cum, 850u);
	n = sim_fix_frame(&col[0], 851, w, sizeof w);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(acks.ack[acks.n - 1].cum, 851u);
	cr_assert_eq(info(0)->thinned, 0u, "acked elsewhere is not thinned");
	stop();
}

static int gone_frame(struct sim_collar *c, uint32_t first, uint32_t last, uint64_t map, uint8_t *w, size_t cap)
{
	struct proto_gone g = {.has = map ? PROTO_GONE_HAS_MAP : 0, .first = first, .last = last, .map = map};
	uint8_t body[PROTO_BODY_MAX];
	size_t blen;
	cr_assert_eq(proto_gone_encode(&g, body, sizeof body, &blen), 0);
	return sim_seal(c, PROTO_T_GONE, 0, body, blen, 1, w, cap);
}

/* GONE settles only what is neither durable nor waiting in the open transaction, never counts those as
 * thinned, and a statement about a huge range costs at most the ring's width. */
Test(gw_pipeline, gone_settles_only_what_was_never_received)
{
	start(NULL);
	uint8_t w[PROTO_WIRE_MAX * 4];
	int n = sim_fix_frame(&col[0], 1, w, sizeof w);
	n += sim_fix_frame(&col[0], 2, w + n, sizeof w - (size_t)n);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(info(0)->cum, 2u);
	n = sim_fix_frame(&col[0], 5, w, sizeof w); /* received, its commit still open */
	feed(0, w, n);
	n = gone_frame(&col[0], 3, 4, 0x3, w, sizeof w); /* 3, 4 and (map) 6, 7 gone */
	feed(0, w, n);
	tick(100);
	cr_assert_eq(info(0)->cum, 7u);
	cr_assert_eq(info(0)->thinned, 4u, "3, 4, 6, 7: not 5, which arrived");
	cr_assert_eq(rows("rec_seq = 5"), 1);
	cr_assert_eq(info(0)->lost, 0u);
	/* a statement naming everything up to 2^32: settles the ring's 1024, instantly */
	n = gone_frame(&col[0], 1, UINT32_MAX - 70u, 0, w, sizeof w);
	feed(0, w, n);
	tick(100);
	cr_assert_eq(info(0)->cum, 7u + GW_ACK_WIN);
	cr_assert_eq(info(0)->thinned, 4u + GW_ACK_WIN);
	stop();
}
