/*
 * tests/collar-fw/link_test.c — the collar's ARQ link (cf/link.h).
 *
 * Two halves. Unit tests drive one cf_link by hand with an injected clock: the test plays the gateway,
 * decodes every frame the link emits and writes the ACK/CMD frames it answers with. Scenario tests run the
 * link against the model gateway over the simulated lossy half-duplex channel (arq/arq_sim.c) and assert
 * that every journaled record is stored exactly once, unchanged, indications before backlog FIXes, nothing
 * lost after an hour-long outage, and the journal ends fully acked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arq_sim.h"
#include "cf/journal.h"
#include "cf/link.h"
#include "hal/flash_emul.h"
#include "proto/msg.h"

#define PAGES 64u
#define PSIZE 4096u
#define UTC0 1709251200000ull

static uint8_t mem[PAGES * PSIZE];
static struct hal_flash dev;
static struct hal_flash_emul em;
static struct cf_journal jr;
static struct cf_link lk;
static struct proto_hmac_key gkey;
static uint16_t gw_seq;

/* what the link sent, decoded */
struct out {
	struct proto_hdr h;
	uint8_t type;
	struct proto_msg m;
	size_t wire_len;
};
static struct out o;

static void setup_journal(void)
{
	cr_assert_eq(hal_flash_emul_init(&dev, &em, mem, NULL, PSIZE, PAGES, 8), 0);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	proto_hmac_init(&gkey, arq_key, sizeof arq_key);
	gw_seq = 0;
}

static struct cf_link_cfg base_cfg(void)
{
	struct cf_link_cfg c = {.collar_id = ARQ_COLLAR_ID, .key = arq_key, .seed = 7};
	return c;
}

static uint32_t add_fix(uint32_t t_ms)
{
	struct proto_fix f = {.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HDOP, .t_ms = UTC0 + t_ms, .hdop_c = 90};
	uint8_t b[PROTO_BODY_MAX];
	size_t n;
	uint32_t rec;
	f.rec_seq = cf_journal_next_seq(&jr);
	f.lat_e7 = -259655000 + (int32_t)(t_ms / 100u);
	f.lon_e7 = 325832000 + (int32_t)(t_ms / 50u);
	cr_assert_eq(proto_fix_encode(&f, b, sizeof b, &n), 0);
	cr_assert_eq(cf_journal_append(&jr, PROTO_T_FIX, b, n, &rec), 0);
	cr_assert_eq(rec, f.rec_seq);
	return rec;
}

static uint32_t add_ind(uint32_t t_ms)
{
	struct proto_ind in = {.has = PROTO_IND_HAS_T, .t_ms = UTC0 + t_ms, .kind = PROTO_IND_SIT,
	                       .src = PROTO_SRC_BUTTON};
	uint8_t b[PROTO_BODY_MAX];
	size_t n;
	uint32_t rec;
	in.rec_seq = cf_journal_next_seq(&jr);
	cr_assert_eq(proto_ind_encode(&in, b, sizeof b, &n), 0);
	cr_assert_eq(cf_journal_append(&jr, PROTO_T_IND, b, n, &rec), 0);
	return rec;
}

/* Poll once; 1 and o filled if a frame came out (verified with the collar key like a gateway would). */
static int poll_at(uint32_t now)
{
	uint8_t wire[PROTO_WIRE_MAX], frame[PROTO_FRAME_MAX];
	size_t len, flen, used, blen;
	const uint8_t *body;
	struct proto_deframer d;
	int rc = cf_link_poll(&lk, now, wire, sizeof wire, &len);

	cr_assert_geq(rc, 0, "poll: %d", rc);
	if (rc == 0) {
		cr_assert_eq(len, 0u);
		return 0;
	}
	memset(&o, 0, sizeof o);
	o.wire_len = len;
	proto_deframer_init(&d);
	cr_assert_eq(wire[0], 0);
	cr_assert_eq(proto_deframer_push(&d, wire, len, &used, frame, sizeof frame, &flen), 1);
	cr_assert_eq(used, len);
	cr_assert_eq(proto_frame_check(frame, flen, &o.h, &body, &blen), 0);
	cr_assert(o.h.flags & PROTO_F_AUTH);
	cr_assert_eq(proto_frame_verify(frame, flen, &gkey), 0);
	cr_assert_eq(o.h.collar_id, ARQ_COLLAR_ID);
	o.type = o.h.type;
	cr_assert_eq(proto_msg_decode(o.type, body, blen, &o.m, NULL), 0, "type %u", o.type);
	return 1;
}

/* rec_seqs carried by the last data frame */
static unsigned recs_of(uint32_t *r)
{
	if (o.type == PROTO_T_FIX) {
		r[0] = o.m.u.fix.rec_seq;
		return 1;
	}
	if (o.type == PROTO_T_IND) {
		r[0] = o.m.u.ind.rec_seq;
		return 1;
	}
	cr_assert_eq(o.type, PROTO_T_FIXB);
	for (unsigned i = 0; i < o.m.u.fixb.n; i++)
		r[i] = o.m.u.fixb.fix[i].rec_seq;
	return o.m.u.fixb.n;
}

static size_t gw_frame(uint8_t type, const uint8_t *body, size_t blen, uint8_t *wire, uint16_t collar)
{
	struct proto_hdr h = {.type = type, .collar_id = collar, .link_seq = gw_seq++, .boot_id = 3};
	size_t len;
	cr_assert_eq(proto_frame_encode(&h, body, blen, &gkey, wire, PROTO_WIRE_MAX, &len), 0);
	return len;
}

static size_t ack_wire(uint32_t cum, uint64_t sack, uint8_t credit, uint64_t gwt, uint8_t *wire)
{
	struct proto_ack a = {.cum = cum, .sack = sack};
	uint8_t b[PROTO_BODY_MAX];
	size_t n;
	if (credit) {
		a.has |= PROTO_ACK_HAS_CREDIT;
		a.credit = credit;
	}
	if (gwt) {
		a.has |= PROTO_ACK_HAS_GWT;
		a.gw_ms = gwt;
	}
	cr_assert_eq(proto_ack_encode(&a, b, sizeof b, &n), 0);
	return gw_frame(PROTO_T_ACK, b, n, wire, ARQ_COLLAR_ID);
}

static void ack_at(uint32_t now, uint32_t cum, uint64_t sack, uint8_t credit)
{
	uint8_t w[PROTO_WIRE_MAX];
	size_t n = ack_wire(cum, sack, credit, 0, w);
	cr_assert_eq(cf_link_on_rx(&lk, now, w, n), 1);
}

static size_t cmd_wire(const struct proto_cmd *c, uint8_t *wire)
{
	uint8_t b[PROTO_BODY_MAX];
	size_t n;
	cr_assert_eq(proto_cmd_encode(c, b, sizeof b, &n), 0);
	return gw_frame(PROTO_T_CMD, b, n, wire, ARQ_COLLAR_ID);
}

/* Bring the link up: HELLO, then the gateway's ACK. */
static void bring_up(uint32_t now, uint32_t cum, uint8_t credit)
{
	cr_assert_eq(poll_at(now), 1);
	cr_assert_eq(o.type, PROTO_T_HELLO);
	ack_at(now + 50u, cum, 0, credit);
	cr_assert(cf_link_is_up(&lk));
}

TestSuite(cf_link, .init = setup_journal);

Test(cf_link, boot_sends_hello_with_journal_state_and_nothing_else_until_acked)
{
	struct cf_link_cfg c = base_cfg();
	add_fix(0);
	add_fix(1000);
	add_ind(1500);
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	cr_assert_eq(poll_at(0), 1);
	cr_assert_eq(o.type, PROTO_T_HELLO);
	cr_assert_eq(o.m.u.hello.boot_id, cf_journal_boot_id(&jr));
	cr_assert_eq(o.h.boot_id, cf_journal_boot_id(&jr));
	cr_assert_eq(o.m.u.hello.oldest_seq, 1u);
	cr_assert_eq(o.m.u.hello.next_seq, 4u);
	cr_assert(o.m.u.hello.caps & PROTO_CAP_FIXB);
	cr_assert_eq(o.h.link_seq, 0);
	/* no data while down; the next HELLO after 1..1.25 s (jitter), then back-off doubles */
	cr_assert_eq(poll_at(10), 0);
	uint32_t d1 = cf_link_next_deadline(&lk, 10);
	cr_assert(d1 >= 1000u && d1 <= 1250u, "deadline %u", d1);
	cr_assert_eq(poll_at(d1 - 1u), 0);
	cr_assert_eq(poll_at(d1), 1);
	cr_assert_eq(o.type, PROTO_T_HELLO);
	cr_assert_eq(o.h.link_seq, 1);
	uint32_t d2 = cf_link_next_deadline(&lk, d1);
	cr_assert(d2 - d1 >= 2000u && d2 - d1 <= 2500u, "second interval %u", d2 - d1);
	cr_assert_eq(cf_link_stats(&lk)->tx_data, 0u);
}

Test(cf_link, backlog_indication_first_and_fixes_wait_until_it_is_acked)
{
	struct cf_link_cfg c = base_cfg();
	uint32_t r[16];
	add_fix(0);
	add_fix(1000);
	uint32_t ind = add_ind(1500);
	add_fix(2000);
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	cr_assert_eq(poll_at(100), 1);
	cr_assert_eq(o.type, PROTO_T_IND);
	cr_assert_eq(o.m.u.ind.rec_seq, ind);
	/* the window has room, but backfill waits for the indication's ACK */
	cr_assert_eq(poll_at(110), 0);
	ack_at(300, 0, 1ull << (ind - 1u), 8);
	cr_assert_eq(cf_link_stats(&lk)->rtt_samples, 1u);
	cr_assert_eq(poll_at(310), 1);
	cr_assert_eq(o.type, PROTO_T_FIXB);
	cr_assert_eq(recs_of(r), 3u);
	cr_assert_eq(r[0], 1u);
	cr_assert_eq(r[1], 2u);
	cr_assert_eq(r[2], 4u);
	ack_at(500, 4, 0, 8);
	cr_assert(cf_journal_is_acked(&jr, 4));
	cr_assert_eq(cf_link_in_flight(&lk), 0u);
}

Test(cf_link, new_indication_jumps_the_queue_and_fixes_are_batched)
{
	struct cf_link_cfg c = base_cfg();
	uint32_t r[16];
	c.fix_batch = 5;
	c.fix_hold_ms = 8000;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	for (unsigned i = 0; i < 4; i++)
		add_fix(1000u * i);
	cr_assert_eq(poll_at(3000), 0, "4 fixes < batch 5 and none has waited 8 s");
	uint32_t ind = add_ind(3100);
	cr_assert_eq(poll_at(3200), 1);
	cr_assert_eq(o.type, PROTO_T_IND);
	cr_assert_eq(o.m.u.ind.rec_seq, ind);
	add_fix(4000);
	cr_assert_eq(poll_at(4000), 1);
	cr_assert_eq(o.type, PROTO_T_FIXB);
	cr_assert_eq(recs_of(r), 5u);
	cr_assert_eq(r[0], 1u);
	cr_assert_eq(r[4], 6u);
	ack_at(4200, 6, 0, 8);
	/* hold time: one lone fix goes once it has waited fix_hold_ms, as a plain FIX */
	add_fix(5000);
	cr_assert_eq(poll_at(5000), 0);
	uint32_t dl = cf_link_next_deadline(&lk, 5000);
	cr_assert_leq(dl, 5000u + 8000u);
	cr_assert_eq(poll_at(13000), 1);
	cr_assert_eq(o.type, PROTO_T_FIX);
	cr_assert_eq(o.m.u.fix.rec_seq, 7u);
}

Test(cf_link, full_batch_fills_one_frame)
{
	struct cf_link_cfg c = base_cfg();
	uint32_t r[16];
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	for (unsigned i = 0; i < 30; i++) /* fewer than CF_LINK_FRESH_FIX_MAX: all are "new" */
		add_fix(1000u * i);
	/* 30 waiting >= fix_batch 16: one full frame of the oldest 16 goes at once */
	cr_assert_eq(poll_at(40000), 1);
	cr_assert_eq(o.type, PROTO_T_FIXB);
	cr_assert_eq(recs_of(r), 16u);
	for (unsigned k = 0; k < 16; k++)
		cr_assert_eq(r[k], k + 1u, "new fixes go oldest first, consecutive");
	cr_assert_leq(o.wire_len, PROTO_WIRE_MAX);
	/* the other 14 wait for more company or for fix_hold_ms (10 s default) */
	cr_assert_eq(poll_at(40001), 0);
	ack_at(40300, 16, 0, 8);
	cr_assert_eq(cf_link_next_deadline(&lk, 40301), 50000u);
	cr_assert_eq(poll_at(50000), 1);
	cr_assert_eq(recs_of(r), 14u);
	cr_assert_eq(r[0], 17u);
	cr_assert_eq(r[13], 30u);
}

Test(cf_link, rto_backoff_new_link_seq_karn_and_release_after_max_tries)
{
	struct cf_link_cfg c = base_cfg();
	c.fix_batch = 1;
	c.max_tries = 3;
	c.rto_init_ms = 1000;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	add_fix(0);
	cr_assert_eq(poll_at(100), 1);
	uint16_t seq1 = o.h.link_seq;
	uint32_t due = cf_link_next_deadline(&lk, 100);
	cr_assert(due >= 1100u && due <= 1350u, "first rto %u", due);
	cr_assert_eq(poll_at(due - 1u), 0);
	cr_assert_eq(poll_at(due), 1);
	cr_assert_eq(o.type, PROTO_T_FIX);
	cr_assert_eq(o.m.u.fix.rec_seq, 1u);
	cr_assert_neq(o.h.link_seq, seq1, "a retransmission is a new frame");
	uint32_t due2 = cf_link_next_deadline(&lk, due);
	cr_assert(due2 - due >= 2000u && due2 - due <= 2500u, "doubled rto %u", due2 - due);
	cr_assert_eq(poll_at(due2), 1);
	cr_assert_eq(cf_link_stats(&lk)->retx, 2u);
	/* third transmission done: at the next expiry it is released, then repaired (the ACK horizon shows it) */
	uint32_t due3 = cf_link_next_deadline(&lk, due2);
	cr_assert_eq(poll_at(due3), 1);
	cr_assert_eq(cf_link_stats(&lk)->released, 1u);
	cr_assert_eq(cf_link_stats(&lk)->repairs, 1u);
	cr_assert_eq(o.m.u.fix.rec_seq, 1u);
	/* an ACK for a retransmitted frame gives no RTT sample (Karn) */
	uint32_t samples = cf_link_stats(&lk)->rtt_samples;
	ack_at(due3 + 10u, 1, 0, 8);
	cr_assert_eq(cf_link_stats(&lk)->rtt_samples, samples + 1u, "the repair was a first transmission");
	cr_assert_eq(cf_link_in_flight(&lk), 0u);
}

Test(cf_link, rtt_estimate_sets_rto)
{
	struct cf_link_cfg c = base_cfg();
	c.fix_batch = 1;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	cr_assert_eq(cf_link_stats(&lk)->srtt_ms, 0u);
	add_fix(0);
	cr_assert_eq(poll_at(1000), 1);
	ack_at(1200, 1, 0, 8);
	const struct cf_link_stats *st = cf_link_stats(&lk);
	cr_assert_eq(st->srtt_ms, 200u);
	cr_assert_eq(st->rttvar_ms, 100u);
	cr_assert_eq(st->rto_ms, 600u); /* max(500, 2*200, 200 + 4*100) */
	add_fix(2000);
	cr_assert_eq(poll_at(2000), 1);
	uint32_t due = cf_link_next_deadline(&lk, 2000);
	cr_assert(due >= 2600u && due <= 2750u, "rto from the estimate, with jitter: %u", due);
}

Test(cf_link, window_follows_gateway_credit)
{
	struct cf_link_cfg c = base_cfg();
	c.fix_batch = 1;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 2);
	cr_assert_eq(cf_link_window(&lk), 2u);
	/* fix_batch 1: each fix goes as soon as it is noticed, one frame each when polled one by one */
	for (unsigned i = 0; i < 3; i++) {
		add_fix(i);
		(void)poll_at(100u + i);
	}
	cr_assert_eq(cf_link_stats(&lk)->tx_data, 2u, "credit 2: two frames in flight");
	cr_assert_eq(cf_link_in_flight(&lk), 2u);
	cr_assert_eq(poll_at(110), 0);
	ack_at(200, 1, 0, 64);
	cr_assert_eq(cf_link_window(&lk), CF_LINK_WINDOW_MAX, "never more than 8, whatever the credit");
	for (unsigned i = 3; i < 12; i++) {
		add_fix(i);
		(void)poll_at(210u + i);
	}
	cr_assert_eq(cf_link_in_flight(&lk), CF_LINK_WINDOW_MAX);
	cr_assert_eq(poll_at(300), 0);
}

Test(cf_link, selective_ack_prunes_and_retransmission_carries_only_the_missing)
{
	struct cf_link_cfg c = base_cfg();
	uint32_t r[16];
	c.fix_batch = 6;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	for (unsigned i = 0; i < 6; i++)
		add_fix(1000u * i);
	cr_assert_eq(poll_at(6000), 1);
	cr_assert_eq(recs_of(r), 6u);
	/* stored: 1, 2, 4, 6 (cum 2, sack bits for 4 and 6) */
	ack_at(6300, 2, (1ull << (4 - 3)) | (1ull << (6 - 3)), 8);
	cr_assert(cf_journal_is_acked(&jr, 4));
	cr_assert_not(cf_journal_is_acked(&jr, 3));
	uint32_t due = cf_link_next_deadline(&lk, 6300);
	cr_assert_eq(poll_at(due), 1);
	cr_assert_eq(recs_of(r), 2u);
	cr_assert_eq(r[0], 3u);
	cr_assert_eq(r[1], 5u);
	ack_at(due + 300u, 6, 0, 8);
	cr_assert_eq(cf_link_in_flight(&lk), 0u);
}

Test(cf_link, ack_naming_unissued_records_is_refused)
{
	struct cf_link_cfg c = base_cfg();
	uint8_t w[PROTO_WIRE_MAX];
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	add_fix(0);
	size_t n = ack_wire(50, 0, 8, 0, w);
	cr_assert_eq(cf_link_on_rx(&lk, 10, w, n), 0);
	cr_assert_eq(cf_link_stats(&lk)->rx_ack_range, 1u);
	cr_assert_not(cf_journal_is_acked(&jr, 1));
	cr_assert_not(cf_link_is_up(&lk));
}

static uint32_t cmd_calls, cmd_last_period;
static uint8_t on_cmd(void *ctx, const struct proto_cmd *cmd, uint32_t now_ms)
{
	(void)ctx;
	(void)now_ms;
	cmd_calls++;
	if (cmd->op == PROTO_OP_SET_RATE) {
		cmd_last_period = cmd->period_ms;
		return PROTO_RES_DONE;
	}
	if (cmd->op == PROTO_OP_SET_MODE)
		return 77; /* not a result: reported as FAILED */
	return PROTO_RES_UNSUPPORTED;
}

Test(cf_link, commands_are_idempotent_by_cmd_id)
{
	struct cf_link_cfg c = base_cfg();
	uint8_t w[PROTO_WIRE_MAX];
	struct proto_cmd cmd = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 20, .op = PROTO_OP_SET_RATE, .period_ms = 10000};
	c.on_cmd = on_cmd;
	cmd_calls = 0;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	cr_assert_eq(cf_link_on_rx(&lk, 100, w, cmd_wire(&cmd, w)), 1);
	cr_assert_eq(cmd_calls, 1u);
	cr_assert_eq(cmd_last_period, 10000u);
	cr_assert_eq(poll_at(110), 1);
	cr_assert_eq(o.type, PROTO_T_CMD_ACK);
	cr_assert_eq(o.m.u.cmd_ack.cmd_id, 20u);
	cr_assert_eq(o.m.u.cmd_ack.result, PROTO_RES_DONE);
	/* the gateway did not hear the CMD_ACK and retries: same answer, command not run again */
	cmd.retry = 1;
	cr_assert_eq(cf_link_on_rx(&lk, 3000, w, cmd_wire(&cmd, w)), 1);
	cr_assert_eq(cmd_calls, 1u);
	cr_assert_eq(poll_at(3010), 1);
	cr_assert_eq(o.type, PROTO_T_CMD_ACK);
	cr_assert_eq(o.m.u.cmd_ack.result, PROTO_RES_DONE);
	cr_assert_eq(cf_link_stats(&lk)->cmd_dup, 1u);
	/* STATUS_NOW is the link's own: CMD_ACK then a STATUS frame */
	struct proto_cmd st = {.cmd_id = 21, .op = PROTO_OP_STATUS_NOW};
	cf_link_set_health(&lk, PROTO_STATUS_HAS_BATT | PROTO_STATUS_HAS_TEMP, 3900, 0, 312);
	cr_assert_eq(cf_link_on_rx(&lk, 4000, w, cmd_wire(&st, w)), 1);
	cr_assert_eq(poll_at(4010), 1);
	cr_assert_eq(o.type, PROTO_T_CMD_ACK);
	cr_assert_eq(poll_at(4020), 1);
	cr_assert_eq(o.type, PROTO_T_STATUS);
	cr_assert_eq(o.m.u.status.batt_mv, 3900);
	cr_assert_eq(o.m.u.status.temp_dc, 312);
	cr_assert_eq(o.m.u.status.backlog, 0u);
	cr_assert_not(o.m.u.status.has & PROTO_STATUS_HAS_BATTPCT);
	/* a callback answer that is not a result is reported as FAILED */
	struct proto_cmd md = {.has = PROTO_CMD_HAS_MODE, .cmd_id = 22, .op = PROTO_OP_SET_MODE, .mode = PROTO_MODE_SEARCH};
	cr_assert_eq(cf_link_on_rx(&lk, 5000, w, cmd_wire(&md, w)), 1);
	cr_assert_eq(poll_at(5010), 1);
	cr_assert_eq(o.m.u.cmd_ack.result, PROTO_RES_FAILED);
	/* far older than anything remembered: refused, not run, not answered */
	for (uint32_t id = 23; id < 40; id++) {
		struct proto_cmd x = {.cmd_id = id, .op = PROTO_OP_REBOOT};
		cr_assert_eq(cf_link_on_rx(&lk, 6000, w, cmd_wire(&x, w)), 1);
		while (poll_at(6000) == 1)
			;
	}
	uint32_t calls = cmd_calls;
	cmd.retry = 2;
	cr_assert_eq(cf_link_on_rx(&lk, 7000, w, cmd_wire(&cmd, w)), 1);
	cr_assert_eq(cmd_calls, calls);
	cr_assert_eq(cf_link_stats(&lk)->cmd_stale, 1u);
	cr_assert_eq(poll_at(7010), 0);
}

Test(cf_link, commands_without_a_callback_are_unsupported)
{
	struct cf_link_cfg c = base_cfg();
	uint8_t w[PROTO_WIRE_MAX];
	struct proto_cmd cmd = {.has = PROTO_CMD_HAS_UTC, .cmd_id = 1, .op = PROTO_OP_TIME_SET, .utc_ms = UTC0};
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	/* answered even while the link is down (a CMD proves the gateway hears us) */
	cr_assert_eq(cf_link_on_rx(&lk, 5, w, cmd_wire(&cmd, w)), 1);
	cr_assert_eq(poll_at(10), 1);
	cr_assert_eq(o.type, PROTO_T_CMD_ACK);
	cr_assert_eq(o.m.u.cmd_ack.result, PROTO_RES_UNSUPPORTED);
}

Test(cf_link, link_seq_wrap_bumps_and_persists_boot_id)
{
	struct cf_link_cfg c = base_cfg();
	c.first_link_seq = 65534;
	uint16_t boot0 = cf_journal_boot_id(&jr);
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	cr_assert_eq(poll_at(0), 1);
	cr_assert_eq(o.h.link_seq, 65534);
	cr_assert_eq(o.h.boot_id, boot0);
	cr_assert_eq(poll_at(5000), 1);
	cr_assert_eq(o.h.link_seq, 65535);
	cr_assert_eq(poll_at(20000), 1);
	cr_assert_eq(o.h.link_seq, 0);
	cr_assert_eq(o.h.boot_id, boot0 + 1u, "(boot_id, link_seq) must never repeat");
	cr_assert_eq(o.m.u.hello.boot_id, boot0 + 1u);
	cr_assert_eq(cf_link_stats(&lk)->boot_bumps, 1u);
	cr_assert_eq(cf_link_boot_id(&lk), boot0 + 1u);
	/* persisted: a remount (reboot) continues above it */
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	cr_assert_gt(cf_journal_boot_id(&jr), boot0 + 1u);
}

Test(cf_link, link_loss_goes_back_to_hello_and_resends_after_the_ack)
{
	struct cf_link_cfg c = base_cfg();
	uint32_t r[16];
	c.fix_batch = 1;
	c.link_loss_ms = 20000;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	add_fix(0);
	cr_assert_eq(poll_at(100), 1);
	uint32_t t = 100;
	unsigned hellos = 0;
	while (t < 60000) {
		t = cf_link_next_deadline(&lk, t);
		if (poll_at(t) && o.type == PROTO_T_HELLO)
			hellos++;
	}
	cr_assert_eq(cf_link_stats(&lk)->link_losses, 1u);
	cr_assert_not(cf_link_is_up(&lk));
	cr_assert_geq(hellos, 3u);
	cr_assert_eq(cf_link_in_flight(&lk), 0u);
	add_fix(60000);
	ack_at(60100, 0, 0, 8);
	cr_assert(cf_link_is_up(&lk));
	/* rec 2 was appended after the last poll: new, and new fixes go before backfill (fix_batch 1: at
	 * once); rec 1 waited through the outage: backlog, right after it */
	cr_assert_eq(poll_at(60200), 1);
	cr_assert_eq(recs_of(r), 1u);
	cr_assert_eq(r[0], 2u);
	cr_assert_eq(poll_at(60201), 1, "the backlog goes at once after link-up");
	cr_assert_eq(recs_of(r), 1u);
	cr_assert_eq(r[0], 1u);
}

Test(cf_link, airtime_budget_caps_bytes_on_air)
{
	struct cf_link_cfg c = base_cfg();
	c.fix_batch = 1;
	c.budget_bps = 50;
	c.budget_burst = PROTO_WIRE_MAX;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	bring_up(0, 0, 8);
	uint32_t bytes = (uint32_t)o.wire_len, t = 0, next_fix = 0, frames = 0;
	while (t <= 120000) {
		while (next_fix <= t) { /* 10 fixes a second: far more than 50 B/s can carry */
			add_fix(next_fix);
			next_fix += 100;
		}
		if (poll_at(t) == 1) {
			uint32_t r[16];
			unsigned n = recs_of(r);
			bytes += (uint32_t)o.wire_len;
			frames++;
			/* new fixes go in order: ack exactly what was sent, so the window never limits */
			ack_at(t + 1u, r[n - 1u], 0, 8);
			continue;
		}
		uint32_t d = cf_link_next_deadline(&lk, t);
		if (d > next_fix)
			d = next_fix;
		t = d > t ? d : t + 1u;
	}
	/* budget: the initial bucket plus 50 B/s for 120 s */
	cr_assert_leq(bytes, PROTO_WIRE_MAX + 50u * 120u, "%u bytes", bytes);
	cr_assert_geq(bytes, 50u * 120u * 3u / 4u, "the budget is used, not starved: %u B in %u frames", bytes, frames);
}

Test(cf_link, gateway_time_is_exposed_for_the_rollover_snap)
{
	struct cf_link_cfg c = base_cfg();
	uint8_t w[PROTO_WIRE_MAX];
	uint64_t utc;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	cr_assert_eq(cf_link_gateway_utc(&lk, 0, &utc), -ENOENT);
	size_t n = ack_wire(0, 0, 4, UTC0 + 5000u, w);
	cr_assert_eq(cf_link_on_rx(&lk, 1000, w, n), 1);
	cr_assert_eq(cf_link_gateway_utc(&lk, 4000, &utc), 0);
	cr_assert_eq(utc, UTC0 + 8000u);
}

Test(cf_link, init_refuses_bad_configuration)
{
	struct cf_link_cfg c = base_cfg();
	c.collar_id = 0;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), -EINVAL);
	c = base_cfg();
	c.key = NULL;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), -EINVAL);
	c = base_cfg();
	c.max_window = 9;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), -EINVAL);
	c = base_cfg();
	c.budget_burst = 100;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), -EINVAL);
	c = base_cfg();
	c.rto_min_ms = 40000;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), -EINVAL);
	c = base_cfg();
	cr_assert_eq(cf_link_init(&lk, &c, NULL, 0), -EINVAL);
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	uint8_t small[100];
	size_t len;
	cr_assert_eq(cf_link_poll(&lk, 0, small, sizeof small, &len), -ENOBUFS);
}

Test(cf_link, hostile_bytes_never_crash_and_are_counted)
{
	struct cf_link_cfg c = base_cfg();
	uint8_t w[PROTO_WIRE_MAX + 32], buf[600];
	uint64_t rng = 0xfeedull;
	struct proto_cmd cmd = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 1, .op = PROTO_OP_SET_RATE, .period_ms = 1000};
	c.on_cmd = on_cmd;
	cmd_calls = 0;
	cr_assert_eq(cf_link_init(&lk, &c, &jr, 0), 0);
	for (unsigned i = 0; i < 20; i++)
		add_fix(i * 1000u);
	bring_up(0, 0, 8);
	uint32_t t = 100;
	for (unsigned it = 0; it < 20000; it++, t++) {
		size_t n;
		unsigned kind = (unsigned)(arq_rand(&rng) % 6u);
		if (kind == 0) { /* pure noise, any length, any bytes */
			n = (size_t)(arq_rand(&rng) % sizeof buf);
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)arq_rand(&rng);
			cr_assert_geq(cf_link_on_rx(&lk, t, buf, n), 0);
			continue;
		}
		if (kind <= 2)
			n = ack_wire((uint32_t)(arq_rand(&rng) % 30u), arq_rand(&rng), (uint8_t)(1u + arq_rand(&rng) % 64u),
			             UTC0, w);
		else
			n = cmd_wire(&cmd, w);
		/* flip 1..8 random bits, or truncate, or flip a bit and re-seal the CRC only (tag must catch it) */
		unsigned flips = 1u + (unsigned)(arq_rand(&rng) % 8u);
		if (kind == 4) {
			n = 1u + (size_t)(arq_rand(&rng) % n);
		} else {
			for (unsigned f = 0; f < flips; f++) {
				size_t bit = (size_t)(arq_rand(&rng) % (n * 8u));
				w[bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
			}
		}
		cr_assert_geq(cf_link_on_rx(&lk, t, w, n), 0);
		size_t len;
		int pr = cf_link_poll(&lk, t, buf, sizeof buf, &len);
		cr_assert_geq(pr, 0);
	}
	const struct cf_link_stats *st = cf_link_stats(&lk);
	cr_assert_gt(st->rx_bad_frame, 1000u);
	cr_assert_leq(cmd_calls, 1u, "a corrupted CMD is never run (only an intact copy could be)");
	/* a frame for another collar, and one sealed with the wrong key, are refused */
	struct proto_ack a = {.cum = 0};
	uint8_t b[64];
	size_t bl, n;
	cr_assert_eq(proto_ack_encode(&a, b, sizeof b, &bl), 0);
	n = gw_frame(PROTO_T_ACK, b, bl, w, ARQ_COLLAR_ID + 1u);
	uint32_t other = st->rx_other_collar;
	cr_assert_eq(cf_link_on_rx(&lk, t, w, n), 0);
	cr_assert_eq(st->rx_other_collar, other + 1u);
	struct proto_hmac_key wrong;
	uint8_t wk[PROTO_KEY_LEN] = {1};
	proto_hmac_init(&wrong, wk, sizeof wk);
	struct proto_hdr h = {.type = PROTO_T_ACK, .collar_id = ARQ_COLLAR_ID};
	cr_assert_eq(proto_frame_encode(&h, b, bl, &wrong, w, sizeof w, &n), 0);
	uint32_t tags = st->rx_bad_tag;
	cr_assert_eq(cf_link_on_rx(&lk, t, w, n), 0);
	cr_assert_eq(st->rx_bad_tag, tags + 1u);
	/* unauthenticated frame: refused as a bad tag */
	cr_assert_eq(proto_frame_encode(&h, b, bl, NULL, w, sizeof w, &n), 0);
	cr_assert_eq(cf_link_on_rx(&lk, t, w, n), 0);
	cr_assert_eq(st->rx_bad_tag, tags + 2u);
	/* a good ACK right after garbage without a delimiter still gets through (COBS resync) */
	uint8_t mix[PROTO_WIRE_MAX + 16];
	memset(mix, 0x41, 16);
	n = ack_wire(20, 0, 8, 0, mix + 16);
	cr_assert_eq(cf_link_on_rx(&lk, t, mix, n + 16u), 1);
	cr_assert(cf_journal_is_acked(&jr, 20));
}

Test(cf_link, report_rate_policy)
{
	struct cf_rate_in in = {.mode = PROTO_MODE_SEARCH};
	cr_assert_eq(cf_link_report_period_ms(&in), 1000u);
	in.stationary = 1;
	cr_assert_eq(cf_link_report_period_ms(&in), 10000u);
	in.indicating = 1;
	cr_assert_eq(cf_link_report_period_ms(&in), 1000u, "around an indication, full rate");
	in.override_ms = 2500;
	cr_assert_eq(cf_link_report_period_ms(&in), 2500u, "CMD SET_RATE wins");
	struct cf_rate_in tr = {.mode = PROTO_MODE_TRANSIT};
	cr_assert_eq(cf_link_report_period_ms(&tr), 5000u);
	struct cf_rate_in sb = {.mode = PROTO_MODE_STANDBY, .stationary = 1};
	cr_assert_eq(cf_link_report_period_ms(&sb), 60000u);
	struct cf_rate_in un = {0};
	cr_assert_eq(cf_link_report_period_ms(&un), 1000u);
}

/* ---- scenarios over the simulated channel ------------------------------------------------------------ */

static void assert_exactly_once(const struct arq_scn *s, const struct arq_result *r, int rc)
{
	cr_assert_eq(rc, 0, "%s: did not drain within the limit (stored %u of %u)", s->name, r->stored, r->records);
	cr_assert_gt(r->records, 0u);
	cr_assert_eq(r->stored, r->records, "%s", s->name);
	cr_assert_eq(r->missing, 0u, "%s: lost records", s->name);
	cr_assert_eq(r->mismatches, 0u, "%s: stored content differs from the journal", s->name);
	cr_assert_eq(r->invented, 0u, "%s", s->name);
	cr_assert(r->journal_fully_acked, "%s: journal not fully acked", s->name);
	cr_assert_eq(r->thinned, 0u);
	cr_assert_eq(r->ind_order_violations, 0u, "%s: %u backlog FIXes stored before an indication", s->name,
	             r->ind_order_violations);
}

static struct arq_scn scn(const char *name, struct arq_chan_cfg ch, uint32_t seed)
{
	struct arq_scn s = {.name = name, .seed = seed, .ch = ch, .duration_ms = 1800000, .fix_period_ms = 1000,
	                    .ind_per_hour = 6, .drain_limit_ms = 1200000};
	return s;
}

Test(cf_link_sim, clean_channel_every_record_once_with_batching, .timeout = 120)
{
	struct arq_scn s = scn("clean 9600", arq_chan_uart9600(), 1);
	struct arq_result r;
	s.link.fix_hold_ms = 15000;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_eq(r.dup_records, 0u, "nothing to retransmit on a clean channel");
	cr_assert_eq(r.link.retx, 0u);
	cr_assert_gt((double)r.records / r.link.tx_data, 10.0, "FIXB batches: %u records in %u frames", r.records,
	             r.link.tx_data);
	cr_assert_leq(r.fresh_latency_max_ms, 17000u);
}

Test(cf_link_sim, bernoulli_loss_10_percent, .timeout = 120)
{
	struct arq_scn s = scn("bernoulli 10%", arq_chan_uart9600(), 2);
	struct arq_result r;
	s.ch.p_loss = 0.10;
	s.cmd_every_ms = 60000;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_gt(r.ch.lost[0] + r.ch.lost[1], 20u);
	cr_assert_gt(r.link.retx, 0u);
	cr_assert_gt(r.dup_records, 0u, "lost ACKs make retransmissions the store must drop");
	cr_assert_eq(r.cmds_double_executed, 0u);
	cr_assert_eq(r.cmds_executed, r.cmds_sent);
	cr_assert_geq(r.cmd_acks_ok + 1u, r.cmds_sent);
}

Test(cf_link_sim, gilbert_elliott_bursts, .timeout = 120)
{
	struct arq_scn s = scn("gilbert-elliott", arq_chan_lora5k(), 3);
	struct arq_result r;
	s.ch.ge_p_gb = 0.03;
	s.ch.ge_p_bg = 0.15;
	s.ch.ge_loss_bad = 0.95;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_gt(r.ch.lost[0], 10u);
}

Test(cf_link_sim, bit_errors_duplication_reordering_and_noise, .timeout = 120)
{
	struct arq_scn s = scn("ber+dup+reorder", arq_chan_lora5k(), 4);
	struct arq_result r;
	s.ch.ber = 2e-4;
	s.ch.p_dup = 0.08;
	s.ch.p_reorder = 0.08;
	s.ch.reorder_ms = 700;
	s.garbage_every_ms = 7000;
	s.cmd_every_ms = 90000;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_gt(r.ch.corrupted[0] + r.ch.corrupted[1], 10u);
	cr_assert_gt(r.gw_bad_crc + r.link.rx_bad_frame, 10u, "corrupted frames are dropped by CRC");
	cr_assert_gt(r.replays, 0u, "wire duplicates are caught by the replay window");
	cr_assert_eq(r.cmds_double_executed, 0u);
}

Test(cf_link_sim, hour_long_outage_nothing_lost_indications_first_9600, .timeout = 300)
{
	struct arq_scn s = scn("1 h outage 9600", arq_chan_uart9600(), 5);
	struct arq_result r;
	s.duration_ms = 2u * 3600000u;
	s.ch.p_loss = 0.03;
	s.ch.n_outage = 1;
	s.ch.outage[0].start_ms = 1800000;
	s.ch.outage[0].end_ms = 1800000 + 3600000;
	s.drain_limit_ms = 3600000;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_eq(r.link.link_losses, 1u);
	cr_assert_geq(r.backlog_inds_checked, 4u, "the outage journaled indications");
	cr_assert_gt(r.backlog_fixes_checked, 3000u);
	cr_assert_gt(r.drain_ms, 0u);
	cr_assert_lt(r.drain_ms, 300000u, "hour of backlog drained in %u ms", r.drain_ms);
	/* newest-first backfill + the ACK horizon: the backlog costs little more than one send per record */
	cr_assert_lt((double)r.link.tx_records / r.records, 1.3, "%u sends for %u records", r.link.tx_records,
	             r.records);
}

Test(cf_link_sim, hour_long_outage_lora_with_bursts, .timeout = 300)
{
	struct arq_scn s = scn("1 h outage lora", arq_chan_lora5k(), 6);
	struct arq_result r;
	s.duration_ms = 2u * 3600000u;
	s.ch.ge_p_gb = 0.02;
	s.ch.ge_p_bg = 0.25;
	s.ch.ge_loss_bad = 0.9;
	s.ch.n_outage = 2;
	s.ch.outage[0].start_ms = 600000;
	s.ch.outage[0].end_ms = 600000 + 3600000;
	s.ch.outage[1].start_ms = 5400000;
	s.ch.outage[1].end_ms = 5400000 + 300000;
	s.drain_limit_ms = 3600000;
	int rc = arq_run(&s, &r);
	assert_exactly_once(&s, &r, rc);
	cr_assert_eq(r.link.link_losses, 2u);
	cr_assert_gt(r.drain_ms, 0u);
}

Test(cf_link_sim, deterministic_for_a_seed, .timeout = 120)
{
	struct arq_scn s = scn("determinism", arq_chan_lora5k(), 9);
	struct arq_result a, b;
	s.duration_ms = 600000;
	s.ch.p_loss = 0.1;
	s.ch.ber = 1e-4;
	cr_assert_eq(arq_run(&s, &a), 0);
	cr_assert_eq(arq_run(&s, &b), 0);
	cr_assert_eq(a.ch.air_bytes[0], b.ch.air_bytes[0]);
	cr_assert_eq(a.ch.air_bytes[1], b.ch.air_bytes[1]);
	cr_assert_eq(a.link.retx, b.link.retx);
	cr_assert_eq(a.all_acked_ms, b.all_acked_ms);
}

/* A journal far too small for the outage: the storage-full policy thins un-acked FIXes (every IND kept).
 * Those rec_seqs can never be sent; without the GONE statement the gateway's cum would stall below the
 * first of them forever. Every record that was not thinned arrives exactly once, every rec_seq the collar
 * declares gone is one its journal really dropped (a FIX), and the gateway's cum reaches the end. */
Test(cf_link_sim, full_journal_thins_and_gone_lets_the_ack_pass_the_gaps, .timeout = 120)
{
	struct arq_scn s = scn("thinning 9600", arq_chan_uart9600(), 11);
	struct arq_result r;
	s.duration_ms = 2400000;
	s.ind_per_hour = 12;
	s.journal_pages = 8; /* 32 KiB: ~6 usable pages, a few hundred records */
	s.ch.p_loss = 0.05;
	s.ch.n_outage = 1;
	s.ch.outage[0].start_ms = 300000;
	s.ch.outage[0].end_ms = 300000 + 1500000;
	s.drain_limit_ms = 1800000;
	int rc = arq_run(&s, &r);
	cr_log_info("thinning: %u records, %u stored, %u thinned on the collar, %u settled by GONE, %u by the HELLO floor, "
	            "%u GONE frames, drained in %u ms", r.records, r.stored, r.thinned, r.gw_gone, r.gw_floor, r.tx_gone,
	            r.drain_ms);
	cr_assert_eq(rc, 0, "did not drain: the gateway's cum stalled (stored %u of %u, gone %u)", r.stored, r.records,
	             r.gw_gone);
	cr_assert_gt(r.thinned, 100u, "the scenario must thin");
	cr_assert_gt(r.gw_gone, 0u);
	cr_assert_gt(r.tx_gone, 0u);
	cr_assert_leq(r.gw_gone + r.gw_floor, r.thinned, "only thinned records are declared gone");
	cr_assert_eq(r.gone_false, 0u, "a record declared gone was still in the journal, or an IND");
	cr_assert_eq(r.missing_not_gone, 0u, "a record neither stored nor declared gone");
	cr_assert_eq(r.stored + r.gw_gone + r.gw_floor - r.gone_late, r.records, "every rec_seq stored or gone, once");
	cr_assert_eq(r.mismatches, 0u);
	cr_assert_eq(r.invented, 0u);
	cr_assert(r.journal_fully_acked);
	cr_assert_geq(r.inds, 1u);
}
