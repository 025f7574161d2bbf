/*
 * tests/gateway/spool_test.c — the spool's durability rules, dedupe, disk budget and the upstream batch
 * interface (gw_spool_batch / gw_spool_acked / gw_spool_acked_seq).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>

#include "gw/spool.h"
#include "gw_sim.h"
#include "gw_testutil.h"
#include "proto/msg.h"

static struct gw_spool *open_spool(uint64_t max_bytes)
{
	struct gw_spool *s;
	struct gw_spool_opts o = {tu_path("spool.db"), 7, max_bytes};
	cr_assert_eq(gw_spool_open(&s, &o), 0);
	return s;
}

/* Insert one FIX record (one frame) for collar/seq. Returns gw_spool_put's result. */
static int put_fix(struct gw_spool *s, uint16_t collar, uint32_t seq, uint8_t type)
{
	struct proto_fix f;
	uint8_t body[PROTO_BODY_MAX], raw[64];
	size_t bl;
	sim_fix(collar, seq, &f);
	if (type == PROTO_T_IND) {
		struct proto_ind in = {0};
		in.rec_seq = seq;
		in.has = PROTO_IND_HAS_T;
		in.t_ms = 1718000000000ull;
		in.kind = PROTO_IND_SIT;
		in.src = PROTO_SRC_BUTTON;
		cr_assert_eq(proto_ind_encode(&in, body, sizeof body, &bl), 0);
	} else {
		cr_assert_eq(proto_fix_encode(&f, body, sizeof body, &bl), 0);
	}
	memset(raw, 0xA0 + (seq & 15), sizeof raw);
	gw_spool_frame_begin(s, raw, 20 + (seq % 30));
	struct gw_spool_rec r = {collar, type, 1, seq, 1718000000000ull + seq, 2, 0, 0, 0, 0, body, bl};
	return gw_spool_put(s, &r);
}

TestSuite(gw_spool, .init = tu_mkdir, .fini = tu_rmdir);

Test(gw_spool, records_are_visible_to_others_only_after_commit)
{
	struct gw_spool *s = open_spool(0);
	cr_assert_eq(put_fix(s, 1, 1, PROTO_T_FIX), 1);
	cr_assert_eq(put_fix(s, 1, 2, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_pending(s), 2);
	/* WAL: a reader sees only committed transactions. Before the commit the records are not durable. */
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_pending(s), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 2);
	gw_spool_close(s);
}

Test(gw_spool, wal_and_synchronous_full)
{
	struct gw_spool *s = open_spool(0);
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open(tu_path("spool.db"), &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	gw_spool_close(s);
}

Test(gw_spool, dedupes_on_collar_and_rec_seq_pending_and_committed)
{
	struct gw_spool *s = open_spool(0);
	cr_assert_eq(put_fix(s, 1, 5, PROTO_T_FIX), 1);
	cr_assert_eq(put_fix(s, 1, 5, PROTO_T_FIX), 0, "duplicate inside the open transaction");
	cr_assert_eq(put_fix(s, 2, 5, PROTO_T_FIX), 1, "same rec_seq, other collar");
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(put_fix(s, 1, 5, PROTO_T_FIX), 0, "duplicate of a committed record");
	cr_assert_eq(gw_spool_has(s, 1, 5), 1);
	cr_assert_eq(gw_spool_has(s, 1, 6), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	gw_spool_close(s);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 2);
}

static int commits, rollbacks;
static void count_commit(void *arg, int ok, unsigned n)
{
	(void)arg;
	(void)n;
	if (ok)
		commits++;
	else
		rollbacks++;
}

Test(gw_spool, commit_subscribers_hear_every_commit)
{
	struct gw_spool *s = open_spool(0);
	gw_spool_on_commit(s, count_commit, NULL);
	cr_assert_eq(gw_spool_commit(s), 0, "nothing pending: no-op");
	cr_assert_eq(commits, 0);
	cr_assert_eq(put_fix(s, 1, 1, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(commits, 1);
	gw_spool_close(s);
}

Test(gw_spool, collar_state_and_boot_counter_persist)
{
	struct gw_spool *s = open_spool(0);
	uint16_t b1 = gw_spool_boot_id(s);
	struct gw_spool_collar c = {9, 1, 3, 777, 41};
	cr_assert_eq(gw_spool_collar_save(s, &c), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	gw_spool_close(s);
	s = open_spool(0);
	cr_assert_eq(gw_spool_boot_id(s), (uint16_t)(b1 + 1), "boot counter bumps on every open");
	gw_spool_close(s);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT link_seq FROM collar WHERE collar_id = 9"), 777);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT cum FROM collar WHERE collar_id = 9"), 41);
}

/* --- upstream batches --------------------------------------------------------------------------------- */

static uint8_t body_a[PROTO_BATCH_BODY_MAX], body_b[PROTO_BATCH_BODY_MAX];

Test(gw_spool, batch_is_rebuilt_byte_identical_across_restart)
{
	struct gw_spool *s = open_spool(0);
	for (uint32_t i = 1; i <= 150; i++)
		cr_assert_eq(put_fix(s, (uint16_t)(1 + i % 3), i, i % 10 ? PROTO_T_FIX : PROTO_T_IND), 1);
	size_t la, lb;
	uint64_t sa, sb;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &la, &sa), 0,
	             "uncommitted records never go upstream");
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &la, &sa), 1);
	cr_assert_eq(sa, 1);
	cr_assert_eq(gw_spool_batch(s, 0, body_b, sizeof body_b, &lb, &sb), 1);
	cr_assert_eq(sb, 1);
	cr_assert_eq(la, lb);
	cr_assert_eq(memcmp(body_a, body_b, la), 0);
	gw_spool_close(s);

	s = open_spool(0);
	cr_assert_eq(gw_spool_batch(s, 0, body_b, sizeof body_b, &lb, &sb), 1);
	cr_assert_eq(sb, 1);
	cr_assert_eq(lb, la);
	cr_assert_eq(memcmp(body_a, body_b, la), 0, "resend after a restart is byte-identical");

	/* Contents: 64 records in spool order, gw_id 7, each with raw (one frame per record here). */
	static struct proto_batch b;
	cr_assert_eq(proto_batch_decode(body_a, la, &b, NULL), 0);
	cr_assert_eq(b.gw_id, 7);
	cr_assert_eq(b.gw_seq, 1);
	cr_assert_eq(b.n, PROTO_BATCH_RECS_MAX);
	for (unsigned i = 0; i < b.n; i++) {
		cr_assert_eq(b.rec[i].rec_seq, i + 1);
		cr_assert_eq(b.rec[i].collar_id, 1 + (i + 1) % 3);
		cr_assert(b.rec[i].has & PROTO_REC_HAS_RAW);
		cr_assert_eq(b.rec[i].raw.len, 20 + (i + 1) % 30);
		cr_assert_eq(b.rec[i].rx_ms, 1718000000000ull + i + 1);
		cr_assert_eq(b.rec[i].link, 2);
		cr_assert_eq(b.rec[i].type, (i + 1) % 10 ? PROTO_T_FIX : PROTO_T_IND);
	}
	/* The next batches continue in order; then nothing. */
	cr_assert_eq(gw_spool_batch(s, 1, body_b, sizeof body_b, &lb, &sb), 1);
	cr_assert_eq(sb, 2);
	cr_assert_eq(proto_batch_decode(body_b, lb, &b, NULL), 0);
	cr_assert_eq(b.rec[0].rec_seq, 65);
	cr_assert_eq(gw_spool_batch(s, 2, body_b, sizeof body_b, &lb, &sb), 1);
	cr_assert_eq(sb, 3);
	cr_assert_eq(proto_batch_decode(body_b, lb, &b, NULL), 0);
	cr_assert_eq(b.n, 150 - 128);
	cr_assert_eq(gw_spool_batch(s, 3, body_b, sizeof body_b, &lb, &sb), 0);
	gw_spool_close(s);
}

Test(gw_spool, batches_never_split_a_frame_and_carry_raw_once)
{
	struct gw_spool *s = open_spool(0);
	uint8_t raw[200];
	memset(raw, 0x5A, sizeof raw);
	uint32_t seq = 1;
	/* 5 frames of 16 fixes: 80 records. Frame 4 (records 49..64) fits; frame 5 starts at 65. Shift by one
	 * single-record frame first so that a frame (records 50..65) crosses the 64 boundary. */
	cr_assert_eq(put_fix(s, 1, seq++, PROTO_T_FIX), 1);
	for (unsigned fr = 0; fr < 5; fr++) {
		gw_spool_frame_begin(s, raw, 100 + fr);
		for (unsigned k = 0; k < 16; k++, seq++) {
			struct proto_fix f;
			uint8_t body[PROTO_BODY_MAX];
			size_t bl;
			sim_fix(1, seq, &f);
			cr_assert_eq(proto_fix_encode(&f, body, sizeof body, &bl), 0);
			struct gw_spool_rec r = {1, PROTO_T_FIX, 1, seq, 1718000000000ull, 0, 1, 1, -97, 55, body, bl};
			cr_assert_eq(gw_spool_put(s, &r), 1);
		}
	}
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec WHERE raw IS NOT NULL"), 6,
	             "raw stored once per frame");
	size_t l;
	uint64_t g;
	static struct proto_batch b;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(proto_batch_decode(body_a, l, &b, NULL), 0);
	cr_assert_eq(b.n, 49, "1 + 3 whole frames of 16; the 4th frame would cross 64");
	cr_assert(b.rec[1].has & PROTO_REC_HAS_RAW);
	for (unsigned i = 2; i < 17; i++) {
		cr_assert(b.rec[i].has & PROTO_REC_HAS_RAWREF);
		cr_assert_eq(b.rec[i].raw_ref, 1);
	}
	cr_assert(b.rec[5].has & PROTO_REC_HAS_RSSI);
	cr_assert_eq(b.rec[5].rssi_dbm, -97);
	cr_assert_eq(b.rec[5].snr_db10, 55);
	cr_assert_eq(gw_spool_batch(s, g, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(proto_batch_decode(body_a, l, &b, NULL), 0);
	cr_assert_eq(b.n, 32);
	cr_assert(b.rec[0].has & PROTO_REC_HAS_RAW, "a frame's raw travels in the batch that holds the frame");
	gw_spool_close(s);
}

/* Put fixes seq lo..hi of collar 1 as records of the frame begun last (no frame_begin here). */
static void put_frame_fixes(struct gw_spool *s, uint32_t lo, uint32_t hi)
{
	for (uint32_t seq = lo; seq <= hi; seq++) {
		struct proto_fix f;
		uint8_t body[PROTO_BODY_MAX];
		size_t bl;
		sim_fix(1, seq, &f);
		cr_assert_eq(proto_fix_encode(&f, body, sizeof body, &bl), 0);
		struct gw_spool_rec r = {1, PROTO_T_FIX, 1, seq, 1718000000000ull, 0, 0, 0, 0, 0, body, bl};
		cr_assert_eq(gw_spool_put(s, &r), 1);
	}
}

Test(gw_spool, batches_are_numbered_in_the_records_commit_and_never_span_two_commits)
{
	struct gw_spool *s = open_spool(0);
	uint8_t raw[120];
	memset(raw, 0x3C, sizeof raw);
	/* A frame whose records are split by a commit (the pipeline never does this; the spool must still
	 * keep every batch self-contained): the second part carries the frame's raw bytes again. */
	gw_spool_frame_begin(s, raw, sizeof raw);
	put_frame_fixes(s, 1, 3);
	size_t l;
	uint64_t g;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 0, "nothing committed yet");
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec WHERE gw_seq = 1"), 3,
	             "numbered by the commit that made the records durable: no commit of its own");
	put_frame_fixes(s, 4, 5);
	cr_assert_eq(gw_spool_batch(s, 1, body_a, sizeof body_a, &l, &g), 0, "batch 2 is still open");
	cr_assert_eq(gw_spool_commit(s), 0);
	static struct proto_batch b;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(g, 1);
	cr_assert_eq(proto_batch_decode(body_a, l, &b, NULL), 0);
	cr_assert_eq(b.n, 3);
	cr_assert(b.rec[0].has & PROTO_REC_HAS_RAW);
	cr_assert(b.rec[2].has & PROTO_REC_HAS_RAWREF);
	cr_assert_eq(gw_spool_batch(s, 1, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(g, 2);
	cr_assert_eq(proto_batch_decode(body_a, l, &b, NULL), 0);
	cr_assert_eq(b.n, 2);
	cr_assert_eq(b.rec[0].rec_seq, 4);
	cr_assert(b.rec[0].has & PROTO_REC_HAS_RAW, "the frame's raw again, inside this batch");
	cr_assert_eq(b.rec[0].raw.len, sizeof raw);
	cr_assert_eq(memcmp(b.rec[0].raw.p, raw, sizeof raw), 0);
	cr_assert(b.rec[1].has & PROTO_REC_HAS_RAWREF);
	cr_assert_eq(b.rec[1].raw_ref, 0);
	cr_assert_eq(gw_spool_batch(s, 2, body_a, sizeof body_a, &l, &g), 0);
	gw_spool_close(s);
	/* the numbering is persistent: a new record after a restart opens batch 3 */
	s = open_spool(0);
	cr_assert_eq(put_fix(s, 2, 1, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_batch(s, 2, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(g, 3);
	gw_spool_close(s);
}

/* A spool of schema 1 (before session 3: an index on rec.gw_seq, and records numbered only when the
 * upstream asked, so committed records may have no gw_seq yet) is migrated at open: batches already sent
 * stay byte-identical, the unnumbered records are numbered with the same rules, the acked mark holds. */
Test(gw_spool, schema_1_spool_is_migrated_at_open)
{
	struct gw_spool *s = open_spool(0);
	for (uint32_t i = 1; i <= 200; i++)
		cr_assert_eq(put_fix(s, 1, i, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	size_t l, la;
	uint64_t g;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(gw_spool_batch(s, 1, body_a, sizeof body_a, &la, &g), 1); /* batch 2, as sent before */
	cr_assert_eq(g, 2);
	cr_assert_eq(gw_spool_acked(s, 1), 0);
	cr_assert_eq(gw_spool_close(s), 0);
	/* Rewrite it as schema 1 would have left it: batches 1..2 numbered (1 acked), 129..200 not. */
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(tu_path("spool.db"), &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
	                          "DROP TABLE batch;"
	                          "CREATE INDEX rec_gw ON rec(gw_seq) WHERE gw_seq IS NOT NULL;"
	                          "UPDATE rec SET gw_seq = NULL WHERE id > 128;"
	                          "UPDATE meta SET v = 1 WHERE k = 'schema';"
	                          "UPDATE meta SET v = 128 WHERE k = 'assigned_upto';"
	                          "UPDATE meta SET v = 3 WHERE k = 'next_gw_seq';"
	                          "DELETE FROM meta WHERE k = 'acked_id';",
	                          NULL, NULL, NULL),
	             SQLITE_OK);
	sqlite3_close(db);
	s = open_spool(0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT v FROM meta WHERE k = 'schema'"), 2);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM sqlite_master WHERE name = 'rec_gw'"), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec WHERE gw_seq IS NULL"), 0);
	uint64_t acked = 0, unacked = 0;
	cr_assert_eq(gw_spool_acked_seq(s, &acked), 0);
	cr_assert_eq(acked, 1);
	cr_assert_eq(gw_spool_unacked(s, &unacked), 0);
	cr_assert_eq(unacked, 136, "every record after batch 1");
	cr_assert_eq(gw_spool_batch(s, 0, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 2, "resend from the acked mark");
	cr_assert_eq(l, la);
	cr_assert_eq(memcmp(body_a, body_b, la), 0, "batch 2 unchanged");
	static struct proto_batch b;
	cr_assert_eq(gw_spool_batch(s, 2, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 3);
	cr_assert_eq(proto_batch_decode(body_b, l, &b, NULL), 0);
	cr_assert_eq(b.n, 64);
	cr_assert_eq(b.rec[0].rec_seq, 129);
	cr_assert_eq(gw_spool_batch(s, 3, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 4);
	cr_assert_eq(proto_batch_decode(body_b, l, &b, NULL), 0);
	cr_assert_eq(b.n, 8);
	cr_assert_eq(put_fix(s, 1, 201, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_batch(s, 4, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 5, "numbering continues after the migrated batches");
	/* acking through the migrated batches trims by their id ranges (cum 300 covers every rec_seq) */
	struct gw_spool_collar c = {1, 0, 0, 0, 300};
	cr_assert_eq(gw_spool_collar_save(s, &c), 0);
	cr_assert_eq(gw_spool_acked(s, 4), 0); /* the first ack of a run trims at once */
	cr_assert_geq(gw_spool_trim(s), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 1);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT MIN(rec_seq) FROM rec"), 201);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT MIN(gw_seq) FROM batch"), 5, "acked batch rows trimmed");
	gw_spool_close(s);
}

Test(gw_spool, acked_is_persistent_and_trims_only_what_dedupe_no_longer_needs)
{
	struct gw_spool *s = open_spool(0);
	for (uint32_t i = 1; i <= 100; i++)
		cr_assert_eq(put_fix(s, 1, i, PROTO_T_FIX), 1);
	struct gw_spool_collar c = {1, 0, 0, 0, 50}; /* durable cum of collar 1: 50 */
	cr_assert_eq(gw_spool_collar_save(s, &c), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	size_t l;
	uint64_t g, acked = 99;
	cr_assert_eq(gw_spool_acked(s, 3), -EINVAL, "100 records committed in one commit: batches 1 and 2 only");
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(gw_spool_batch(s, 1, body_a, sizeof body_a, &l, &g), 1);
	cr_assert_eq(g, 2);
	cr_assert_eq(gw_spool_acked_seq(s, &acked), 0);
	cr_assert_eq(acked, 0);
	cr_assert_eq(gw_spool_acked(s, 1), 0);
	/* Batch 1 = records 1..64; those <= cum 50 go, 51..64 stay for dedupe. */
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 50);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT MIN(rec_seq) FROM rec"), 51);
	cr_assert_eq(put_fix(s, 1, 60, PROTO_T_FIX), 0, "still deduplicated");
	gw_spool_close(s);

	s = open_spool(0);
	cr_assert_eq(gw_spool_acked_seq(s, &acked), 0);
	cr_assert_eq(acked, 1, "persisted");
	cr_assert_eq(gw_spool_batch(s, 0, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 2, "after below the acked point starts after it");
	cr_assert_eq(gw_spool_batch(s, 2, body_b, sizeof body_b, &l, &g), 0);
	/* cum moves to 100, the cron trims again. */
	c.cum = 100;
	cr_assert_eq(gw_spool_collar_save(s, &c), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_acked(s, 2), 0);
	cr_assert_eq(tu_sql_int(tu_path("spool.db"), "SELECT COUNT(*) FROM rec"), 0);
	/* gw_seq numbering never restarts, even with an empty spool. */
	cr_assert_eq(put_fix(s, 1, 101, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	cr_assert_eq(gw_spool_batch(s, 2, body_b, sizeof body_b, &l, &g), 1);
	cr_assert_eq(g, 3);
	gw_spool_close(s);
}

Test(gw_spool, small_buffer_is_enobufs)
{
	struct gw_spool *s = open_spool(0);
	cr_assert_eq(put_fix(s, 1, 1, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	size_t l;
	uint64_t g;
	cr_assert_eq(gw_spool_batch(s, 0, body_a, 10, &l, &g), -ENOBUFS);
	cr_assert_eq(gw_spool_batch(s, 0, body_a, sizeof body_a, &l, &g), 1);
	gw_spool_close(s);
}

Test(gw_spool, disk_budget_refuses_fixes_never_indications)
{
	struct gw_spool *s = open_spool(0);
	for (uint32_t i = 1; i <= 2000; i++)
		cr_assert_eq(put_fix(s, 1, i, PROTO_T_FIX), 1);
	cr_assert_eq(gw_spool_commit(s), 0);
	struct gw_spool_stats st;
	gw_spool_stats(s, &st);
	gw_spool_close(s);
	s = open_spool(0); /* the clean close checkpointed the WAL away: measure the file alone */
	gw_spool_stats(s, &st);
	uint64_t used = st.used_bytes;
	cr_assert_gt(used, 100000);
	gw_spool_close(s);

	/* Reopen with a budget below what is used: full at the first commit/stats refresh. */
	s = open_spool(used / 2);
	gw_spool_stats(s, &st);
	cr_assert(st.full);
	cr_assert_eq(put_fix(s, 1, 3000, PROTO_T_FIX), -ENOSPC, "fixes refused: the collar keeps them");
	cr_assert_eq(put_fix(s, 1, 3001, PROTO_T_IND), 1, "indications are never refused by the budget");
	cr_assert_eq(gw_spool_commit(s), 0);
	gw_spool_stats(s, &st);
	cr_assert_eq(st.refused, 1);
	/* The core acks everything, records are trimmed: below 90 % fixes are accepted again. */
	struct gw_spool_collar c = {1, 0, 0, 0, 3001};
	cr_assert_eq(gw_spool_collar_save(s, &c), 0);
	cr_assert_eq(gw_spool_commit(s), 0);
	size_t l;
	uint64_t g = 0, last = 0;
	while (gw_spool_batch(s, last, body_a, sizeof body_a, &l, &g) == 1)
		last = g;
	cr_assert_eq(gw_spool_acked(s, last), 0);
	gw_spool_stats(s, &st);
	cr_assert(!st.full, "used %llu of %llu", (unsigned long long)st.used_bytes, (unsigned long long)used / 2);
	cr_assert_eq(put_fix(s, 1, 3002, PROTO_T_FIX), 1);
	gw_spool_close(s);
}
