/*
 * core/link.c — selective-repeat ARQ between the collar's flash journal and the radio (cf/link.h has the
 * contract, the priorities and the ACK-horizon rule; this file is the mechanics).
 *
 * Record states, as the link sees them (nothing here is persistent: after a reboot every un-acked record in
 * the journal is simply backlog again, which is always safe because the gateway deduplicates on rec_seq):
 *
 *   new (fresh queues) --poll--> in flight --ACK--> acked (journal)
 *                                    |--RTO, ACK can speak about it--> retransmitted (tries < max_tries)
 *                                    '--RTO, above the horizon, or max_tries--> released
 *   backlog / released --backfill round (newest first) or repair (ACK shows a hole)--> in flight
 *
 * Times are uint32 ms that wrap (49 days); every comparison is on the signed difference.
 */
#include "cf/link.h"

#include <errno.h>
#include <string.h>

#include "cf/version.h"

#define DEF_TRIES 6u
#define DEF_IND_BLIND 3u
#define DEF_HOLD_MS 10000u
#define DEF_RTO_INIT_MS 1000u
#define DEF_RTO_MIN_MS 500u
#define DEF_RTO_MAX_MS 30000u
#define DEF_LOSS_MS 60000u
#define DEF_HELLO_MIN_MS 1000u
#define DEF_HELLO_MAX_MS 30000u
#define DEF_ROUND_MIN_MS 30000u
#define DEF_ROUND_MAX_MS 3600000u
#define IDLE_MS 3600000u /* next_deadline when nothing is pending: the caller wakes on events anyway */

static int after_eq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

static uint32_t rng_next(struct cf_link *l)
{
	/* xorshift32: jitter only needs to decorrelate collars that lost the same ACK, not to be secret */
	uint32_t x = l->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	l->rng = x;
	return x;
}

static uint32_t jitter(struct cf_link *l, uint32_t v)
{
	return v + rng_next(l) % (v / 4u + 1u);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t cur_rto(const struct cf_link *l)
{
	uint32_t rto;

	if (l->st.rtt_samples == 0)
		rto = l->cfg.rto_init_ms;
	else {
		uint32_t a = 2u * l->srtt_ms, b = l->srtt_ms + 4u * l->rttvar_ms;
		rto = a > b ? a : b;
	}
	if (rto < l->cfg.rto_min_ms)
		rto = l->cfg.rto_min_ms;
	return min_u32(rto, l->cfg.rto_max_ms);
}

static void rtt_sample(struct cf_link *l, uint32_t s)
{
	if (l->st.rtt_samples == 0) {
		l->srtt_ms = s;
		l->rttvar_ms = s / 2u;
	} else {
		uint32_t d = s > l->srtt_ms ? s - l->srtt_ms : l->srtt_ms - s;
		l->rttvar_ms = (3u * l->rttvar_ms + d) / 4u;
		l->srtt_ms = (7u * l->srtt_ms + s) / 8u;
	}
	l->st.rtt_samples++;
	l->st.srtt_ms = l->srtt_ms;
	l->st.rttvar_ms = l->rttvar_ms;
	l->st.rto_ms = cur_rto(l);
}

/* ---- in-flight table ---------------------------------------------------------------------------- */

static unsigned n_flight(const struct cf_link *l)
{
	unsigned n = 0;
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++)
		n += l->fl[i].used;
	return n;
}

static unsigned window(const struct cf_link *l)
{
	return min_u32(l->credit, l->cfg.max_window);
}

static int room(const struct cf_link *l)
{
	return n_flight(l) < window(l);
}

static int in_flight(const struct cf_link *l, uint32_t r)
{
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++) {
		const struct cf_link_flight *e = &l->fl[i];
		if (!e->used)
			continue;
		for (unsigned k = 0; k < e->n; k++)
			if (e->rec[k] == r)
				return 1;
	}
	return 0;
}

static int ind_in_flight(const struct cf_link *l)
{
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++)
		if (l->fl[i].used && l->fl[i].ind)
			return 1;
	return 0;
}

/* Records above the horizon are ones no ACK can confirm yet (protocol: cum + 64-bit sack). */
static int in_horizon(const struct cf_link *l, uint32_t r)
{
	return r > l->gw_cum && r - l->gw_cum <= CF_LINK_SACK_SPAN;
}

static void flight_add(struct cf_link *l, uint32_t now, const uint32_t *rec, unsigned n, int ind)
{
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++) {
		struct cf_link_flight *e = &l->fl[i];
		if (e->used)
			continue;
		if (n_flight(l) == 0)
			l->loss_ref_ms = now; /* the link-loss clock starts when something is outstanding */
		memset(e, 0, sizeof *e);
		e->used = 1;
		e->ind = (uint8_t)(ind != 0);
		e->n = (uint8_t)n;
		e->tries = 1;
		e->sent_ms = now;
		e->rto_ms = cur_rto(l);
		e->due_ms = now + jitter(l, e->rto_ms);
		memcpy(e->rec, rec, n * sizeof rec[0]);
		return;
	}
}

/* Drop acked records from every entry; a fully acked entry is done (and gives an RTT sample if it was
 * sent only once: Karn's rule, a retransmitted frame's ACK cannot say which copy it answers). */
static void flights_prune(struct cf_link *l, uint32_t now, int sample)
{
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++) {
		struct cf_link_flight *e = &l->fl[i];
		unsigned k = 0;
		if (!e->used)
			continue;
		for (unsigned m = 0; m < e->n; m++)
			if (!cf_journal_is_acked(l->j, e->rec[m]))
				e->rec[k++] = e->rec[m];
		e->n = (uint8_t)k;
		if (k == 0) {
			if (sample && e->tries == 1)
				rtt_sample(l, now - e->sent_ms);
			e->used = 0;
		}
	}
}

static void ind_scan_restart(struct cf_link *l)
{
	l->ind_scan = 1;
	l->ind_before = l->seen_next;
}

/* Free a frame's slot; its un-acked records are left to repair/backfill. rescan: an indication that the
 * ACK could confirm but did not must be found again by the IND scan, ahead of every backlog FIX. */
static void release(struct cf_link *l, struct cf_link_flight *e, int rescan)
{
	l->st.released++;
	if (e->ind && rescan)
		ind_scan_restart(l);
	e->used = 0;
}

/* ---- new records ------------------------------------------------------------------------------- */

static uint32_t fresh_floor(const struct cf_link *l)
{
	uint32_t f = l->seen_next;
	if (l->n_fresh_fix && l->fresh_fix[0].rec_seq < f)
		f = l->fresh_fix[0].rec_seq;
	if (l->n_fresh_ind && l->fresh_ind[0] < f)
		f = l->fresh_ind[0];
	return f;
}

static int in_fresh(const struct cf_link *l, uint32_t r)
{
	for (unsigned i = 0; i < l->n_fresh_ind; i++)
		if (l->fresh_ind[i] == r)
			return 1;
	for (unsigned i = 0; i < l->n_fresh_fix; i++)
		if (l->fresh_fix[i].rec_seq == r)
			return 1;
	return 0;
}

static int notice_new(struct cf_link *l, uint32_t now)
{
	uint32_t next = cf_journal_next_seq(l->j), r, after = l->seen_next - 1u;
	uint8_t type;
	int err;

	while (l->seen_next != next) {
		err = cf_journal_next_unacked(l->j, after, &r, &type);
		if (err == -ENOENT || (err == 0 && r >= next))
			break;
		if (err < 0)
			return err;
		after = r;
		if (type == PROTO_T_FIX) {
			if (l->n_fresh_fix == CF_LINK_FRESH_FIX_MAX) {
				/* The oldest waiting FIX becomes backlog: still in the journal, sent by backfill. */
				memmove(&l->fresh_fix[0], &l->fresh_fix[1],
				        (CF_LINK_FRESH_FIX_MAX - 1u) * sizeof l->fresh_fix[0]);
				l->n_fresh_fix--;
			}
			l->fresh_fix[l->n_fresh_fix].rec_seq = r;
			l->fresh_fix[l->n_fresh_fix].t_ms = now;
			l->n_fresh_fix++;
		} else if (l->n_fresh_ind < CF_LINK_FRESH_IND_MAX) {
			l->fresh_ind[l->n_fresh_ind++] = r;
		} else {
			l->seen_next = r + 1u;
			ind_scan_restart(l);
		}
	}
	l->seen_next = next;
	return 0;
}

/* ---- frames out --------------------------------------------------------------------------------- */

static int send_frame(struct cf_link *l, uint8_t type, size_t body_len, uint8_t *out, size_t cap,
                      size_t *len)
{
	struct proto_hdr h;
	size_t flen;

	if (l->link_seq > UINT16_MAX)
		return -EINVAL; /* poll bumps boot_id before building any frame */
	h.flags = 0;
	h.type = type;
	h.collar_id = l->cfg.collar_id;
	h.link_seq = (uint16_t)l->link_seq;
	h.boot_id = l->boot_id;
	if (proto_frame_seal(l->frame, sizeof l->frame, &h, body_len, &l->hkey, &flen) != 0 ||
	    proto_frame_wire(l->frame, flen, out, cap, len) != 0)
		return -EINVAL; /* every body is built within PROTO_BODY_MAX and cap was checked: a bug */
	l->link_seq++;
	l->st.tx_frames++;
	l->st.tx_bytes += (uint32_t)*len;
	if (l->cfg.budget_bps) {
		uint64_t c = (uint64_t)*len * 1000u;
		l->tokens_mb = l->tokens_mb > c ? l->tokens_mb - c : 0;
	}
	return 1;
}

static uint8_t *body_buf(struct cf_link *l)
{
	return l->frame + PROTO_HDR_LEN;
}

/* Read one record's body into the frame. @retval 0, -ENOENT (gone or unusable), -EIO */
static int load_single(struct cf_link *l, uint32_t r, uint8_t *type, size_t *body_len)
{
	int err = cf_journal_read(l->j, r, body_buf(l), PROTO_BODY_MAX, body_len, type);
	if (err == -ENOENT || err == -ENOBUFS) {
		if (!cf_journal_is_acked(l->j, r))
			l->st.rec_unreadable++;
		return -ENOENT;
	}
	return err;
}

/* Encode fix[from .. from+k) as one body: FIX when k == 1, else FIXB. *fit gets how many went in (a
 * FIXB keeps the longest prefix that fits). */
static int encode_fixes(struct cf_link *l, unsigned from, unsigned k, size_t *body_len, size_t *fit,
                        uint8_t *type)
{
	if (k == 1) {
		*fit = 1;
		*type = PROTO_T_FIX;
		return proto_fix_encode(&l->fix[from], body_buf(l), PROTO_BODY_MAX, body_len) == 0 ? 0 : -EINVAL;
	}
	if (proto_fixb_encode_fit(&l->fix[from], k, body_buf(l), PROTO_BODY_MAX, body_len, fit) != 0)
		return -EINVAL;
	if (*fit == 1) /* a lone fix is smaller as FIX than as a one-row FIXB */
		return encode_fixes(l, from, 1, body_len, fit, type);
	*type = PROTO_T_FIXB;
	return 0;
}

/*
 * Build a FIX or FIXB body from the FIX records rec[0..n) (ascending rec_seq). When they do not all fit,
 * newest_first keeps the newest ones (backfill), otherwise the oldest (new fixes, repairs).
 * rec[] is rewritten to the records actually carried: *used of them, starting at rec[0].
 * @retval 0 built   @retval -ENOENT none of them could be read   @retval -EIO
 */
static int build_fixes(struct cf_link *l, uint32_t *rec, unsigned n, int newest_first, unsigned *used,
                       size_t *body_len, uint8_t *type)
{
	unsigned m = 0;
	size_t blen, fit;
	uint8_t t;
	int err;

	for (unsigned i = 0; i < n; i++) {
		err = load_single(l, rec[i], &t, &blen);
		if (err == -ENOENT)
			continue;
		if (err < 0)
			return err;
		if (t != PROTO_T_FIX || proto_fix_decode(body_buf(l), blen, &l->fix[m], NULL) != 0) {
			l->st.rec_unreadable++; /* cannot happen with bodies the application encoded */
			continue;
		}
		rec[m++] = rec[i];
	}
	if (m == 0)
		return -ENOENT;
	if (!newest_first) {
		if ((err = encode_fixes(l, 0, m, body_len, &fit, type)) != 0)
			return err;
		*used = (unsigned)fit;
		return 0;
	}
	/* The newest k that fit: a shorter batch is never longer on the wire, so search down from m. */
	for (unsigned k = m; k >= 1; k--) {
		if ((err = encode_fixes(l, m - k, k, body_len, &fit, type)) != 0)
			return err;
		if (fit == k) {
			memmove(rec, rec + (m - k), k * sizeof rec[0]);
			*used = k;
			return 0;
		}
	}
	return -EINVAL;
}

static int send_hello(struct cf_link *l, uint8_t *out, size_t cap, size_t *len)
{
	struct proto_hello h;
	size_t blen;
	uint32_t next = cf_journal_next_seq(l->j), oldest = cf_journal_oldest_seq(l->j);
	uint32_t ack_cum = cf_journal_ack_cum(l->j);
	int err;

	memset(&h, 0, sizeof h);
	size_t n = strlen(cf_version_string);
	if (n > PROTO_HELLO_FW_MAX)
		n = PROTO_HELLO_FW_MAX;
	memcpy(h.fw, cf_version_string, n);
	h.schema = PROTO_SCHEMA_VERSION;
	h.boot_id = l->boot_id;
	h.next_seq = next;
	/* "oldest still in the journal": with nothing stored, nothing below next can ever come */
	h.oldest_seq = oldest ? oldest : next;
	if (ack_cum > 0 && ack_cum < next) {
		/* a gateway that never heard of this collar starts its cumulative ack here, not at 1 */
		h.has |= PROTO_HELLO_HAS_ACKCUM;
		h.ack_cum = ack_cum;
	}
	h.caps = (l->cfg.caps | PROTO_CAP_FIXB) & PROTO_CAP_KNOWN;
	if (l->health_has & PROTO_STATUS_HAS_BATT) {
		h.has |= PROTO_HELLO_HAS_BATT;
		h.batt_mv = l->batt_mv;
	}
	if (proto_hello_encode(&h, body_buf(l), PROTO_BODY_MAX, &blen) != 0)
		return -EINVAL;
	err = send_frame(l, PROTO_T_HELLO, blen, out, cap, len);
	if (err == 1)
		l->st.tx_hello++;
	return err;
}

static int send_status(struct cf_link *l, uint8_t *out, size_t cap, size_t *len)
{
	struct cf_journal_stats js;
	struct proto_status s;
	size_t blen;
	int err = cf_journal_stats(l->j, &js);

	if (err < 0)
		return err;
	memset(&s, 0, sizeof s);
	s.has = l->health_has & (PROTO_STATUS_HAS_BATT | PROTO_STATUS_HAS_BATTPCT | PROTO_STATUS_HAS_TEMP);
	s.batt_mv = l->batt_mv;
	s.batt_pct = l->batt_pct;
	s.temp_dc = l->temp_dc;
	s.backlog = js.backlog;
	s.tx_frames = l->st.tx_frames + 1u; /* this STATUS included */
	s.retx = l->st.retx;
	s.acks = l->st.rx_acks;
	if (proto_status_encode(&s, body_buf(l), PROTO_BODY_MAX, &blen) != 0)
		return -EINVAL;
	err = send_frame(l, PROTO_T_STATUS, blen, out, cap, len);
	if (err == 1)
		l->st.tx_status++;
	return err;
}

static int send_cmd_ack(struct cf_link *l, uint8_t *out, size_t cap, size_t *len)
{
	size_t blen;
	int err;

	if (proto_cmd_ack_encode(&l->cmdack_q[0], body_buf(l), PROTO_BODY_MAX, &blen) != 0)
		return -EINVAL;
	err = send_frame(l, PROTO_T_CMD_ACK, blen, out, cap, len);
	if (err == 1) {
		l->st.tx_cmd_ack++;
		l->n_cmdack--;
		memmove(&l->cmdack_q[0], &l->cmdack_q[1], l->n_cmdack * sizeof l->cmdack_q[0]);
	}
	return err;
}

/* GONE: see cf/link.h. Returns 1 (frame), 0 (nothing to state now) or <0. */
static int step_gone(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	struct proto_gone g;
	uint32_t rto;
	size_t blen;
	int err;

	if (l->gw_cum >= cf_journal_gone_max(l->j))
		return 0; /* nothing gone above the gateway's ack point */
	if (l->gone_cum == l->gw_cum && !after_eq(now, l->gone_due_ms))
		return 0;
	rto = 4u * cur_rto(l);
	if (rto < 5000u)
		rto = 5000u;
	l->gone_cum = l->gw_cum;
	l->gone_due_ms = now + rto;
	memset(&g, 0, sizeof g);
	err = cf_journal_gone(l->j, l->gw_cum, &g.first, &g.last, &g.map);
	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	if (g.map)
		g.has |= PROTO_GONE_HAS_MAP;
	if (proto_gone_encode(&g, body_buf(l), PROTO_BODY_MAX, &blen) != 0)
		return -EINVAL;
	err = send_frame(l, PROTO_T_GONE, blen, out, cap, len);
	if (err == 1)
		l->st.tx_gone++;
	return err;
}

/* Send one record that travels alone (IND and any other non-FIX type) and put it in flight. */
static int send_single(struct cf_link *l, uint32_t now, uint32_t r, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t type;
	size_t blen;
	int err = load_single(l, r, &type, &blen);

	if (err < 0)
		return err;
	err = send_frame(l, type, blen, out, cap, len);
	if (err == 1) {
		flight_add(l, now, &r, 1, type != PROTO_T_FIX);
		l->st.tx_data++;
		l->st.tx_records++;
	}
	return err;
}

/* Send FIX records rec[0..n) ascending as one FIX/FIXB and put what went in flight. *used: how many. */
static int send_fixes(struct cf_link *l, uint32_t now, uint32_t *rec, unsigned n, int newest_first,
                      unsigned *used, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t type;
	size_t blen;
	int err = build_fixes(l, rec, n, newest_first, used, &blen, &type);

	if (err < 0)
		return err;
	err = send_frame(l, type, blen, out, cap, len);
	if (err == 1) {
		flight_add(l, now, rec, *used, 0);
		l->st.tx_data++;
		l->st.tx_records += *used;
	}
	return err;
}

/* Retransmit a due entry: what of it is still un-acked, re-read from the journal, with a new link_seq. */
static int retransmit(struct cf_link *l, uint32_t now, struct cf_link_flight *e, uint8_t *out, size_t cap,
                      size_t *len)
{
	uint8_t type;
	size_t blen;
	unsigned used;
	int err;

	if (e->ind || e->n == 1) {
		err = load_single(l, e->rec[0], &type, &blen);
		used = 1;
	} else {
		err = build_fixes(l, e->rec, e->n, 0, &used, &blen, &type);
	}
	if (err == -ENOENT) {
		e->used = 0; /* nothing left to carry (the journal no longer has it: counted) */
		return 0;
	}
	if (err < 0)
		return err;
	err = send_frame(l, type, blen, out, cap, len);
	if (err != 1)
		return err;
	/* Records that no longer fit (a re-encoded batch can grow) go back to repair/backfill. */
	e->n = (uint8_t)used;
	e->tries++;
	e->rto_ms = min_u32(2u * e->rto_ms, l->cfg.rto_max_ms);
	e->due_ms = now + jitter(l, e->rto_ms);
	l->st.retx++;
	l->st.tx_data++;
	l->st.tx_records += used;
	return 1;
}

/* ---- link state ---------------------------------------------------------------------------------- */

static void round_start(struct cf_link *l)
{
	l->in_round = 1;
	l->bf_before = fresh_floor(l);
	l->round_cum = l->gw_cum;
	l->st.rounds++;
}

static void link_up(struct cf_link *l)
{
	l->up = 1;
	l->st.link_ups++;
	/* What waited for the link is history now: INDs first (scan), then FIXes newest first (round). */
	l->n_fresh_fix = 0;
	l->n_fresh_ind = 0;
	ind_scan_restart(l);
	l->round_wait_ms = 0;
	round_start(l);
}

static void link_down(struct cf_link *l, uint32_t now)
{
	l->up = 0;
	l->st.link_losses++;
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++)
		l->fl[i].used = 0; /* still un-acked in the journal: backlog after the link comes back */
	l->hello_iv_ms = l->cfg.hello_min_ms;
	l->hello_due_ms = now;
}

/* Expired RTOs: decide retransmit (left due) or release. */
static void expire(struct cf_link *l, uint32_t now)
{
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++) {
		struct cf_link_flight *e = &l->fl[i];
		int speakable = 0;
		if (!e->used || !after_eq(now, e->due_ms))
			continue;
		for (unsigned k = 0; k < e->n; k++)
			speakable |= in_horizon(l, e->rec[k]);
		if (speakable) {
			if (e->tries >= l->cfg.max_tries)
				release(l, e, 1);
		} else if (!e->ind || e->tries >= l->cfg.ind_blind_tries) {
			/* No ACK can confirm it before the backfill round reaches below it: a FIX waits for the
			 * repair phase; an IND is sent ind_blind_tries times first, so that it arrives before the
			 * backlog FIXes unless every copy is lost (then it is repaired like a FIX). */
			release(l, e, 0);
		}
	}
}

static struct cf_link_flight *due_entry(struct cf_link *l, uint32_t now, int ind)
{
	struct cf_link_flight *best = NULL;
	for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++) {
		struct cf_link_flight *e = &l->fl[i];
		if (!e->used || !e->ind != !ind || !after_eq(now, e->due_ms))
			continue;
		if (best == NULL || (int32_t)(e->due_ms - best->due_ms) < 0)
			best = e;
	}
	return best;
}

static void budget_refill(struct cf_link *l, uint32_t now)
{
	uint64_t cap = (uint64_t)l->cfg.budget_burst * 1000u;
	l->tokens_mb += (uint64_t)(now - l->tokens_ms) * l->cfg.budget_bps;
	if (l->tokens_mb > cap)
		l->tokens_mb = cap;
	l->tokens_ms = now;
}

/* Any indication the gateway may not have yet, that the link knows of without scanning the journal. */
static int ind_outstanding(const struct cf_link *l)
{
	return l->n_fresh_ind > 0 || l->ind_scan || ind_in_flight(l);
}

/* Backlog IND scan, newest first: the next un-acked non-FIX record not in flight. */
static int step_ind_scan(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	uint32_t r;
	uint8_t type;
	int err;

	while (l->ind_scan) {
		err = cf_journal_prev_unacked(l->j, l->ind_before, &r, &type);
		if (err == -ENOENT) {
			l->ind_scan = 0;
			break;
		}
		if (err < 0)
			return err;
		l->ind_before = r;
		if (type == PROTO_T_FIX || in_flight(l, r) || in_fresh(l, r))
			continue;
		err = send_single(l, now, r, out, cap, len);
		if (err != 0)
			return err;
	}
	return 0;
}

static int step_fresh_ind(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	while (l->n_fresh_ind) {
		uint32_t r = l->fresh_ind[0];
		int err;
		l->n_fresh_ind--;
		memmove(&l->fresh_ind[0], &l->fresh_ind[1], l->n_fresh_ind * sizeof l->fresh_ind[0]);
		if (cf_journal_is_acked(l->j, r) || in_flight(l, r))
			continue;
		err = send_single(l, now, r, out, cap, len);
		if (err != 0)
			return err;
	}
	return 0;
}

static int step_fresh_fix(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	unsigned n = 0, used, take;
	int err;

	if (l->n_fresh_fix == 0 ||
	    (l->n_fresh_fix < l->cfg.fix_batch && !after_eq(now, l->fresh_fix[0].t_ms + l->cfg.fix_hold_ms)))
		return 0;
	for (take = 0; take < l->n_fresh_fix && n < CF_LINK_FRAME_RECS; take++) {
		uint32_t r = l->fresh_fix[take].rec_seq;
		if (!cf_journal_is_acked(l->j, r) && !in_flight(l, r))
			l->cand[n++] = r;
	}
	used = 0;
	err = n ? send_fixes(l, now, l->cand, n, 0, &used, out, cap, len) : 0;
	if (err == -ENOENT)
		err = 0, used = n;
	if (err < 0)
		return err;
	/* Drop from the queue everything up to the last record carried (and what was skipped before it). */
	if (used < n) {
		uint32_t last = l->cand[used - 1u];
		for (take = 0; take < l->n_fresh_fix && l->fresh_fix[take].rec_seq <= last; take++)
			;
	}
	l->n_fresh_fix = (uint8_t)(l->n_fresh_fix - take);
	memmove(&l->fresh_fix[0], &l->fresh_fix[take], l->n_fresh_fix * sizeof l->fresh_fix[0]);
	return err;
}

/* Repair: un-acked records in the ACK horizon that are not in flight (the ACK shows them missing). */
static int step_repair(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	uint32_t floor = fresh_floor(l), after = l->gw_cum, r;
	unsigned n = 0, used;
	uint8_t type;
	int err;

	for (;;) {
		err = cf_journal_next_unacked(l->j, after, &r, &type);
		if (err == -ENOENT || (err == 0 && (!in_horizon(l, r) || r >= floor)))
			break;
		if (err < 0)
			return err;
		after = r;
		if (in_flight(l, r))
			continue;
		if (type != PROTO_T_FIX) {
			if (n)
				break; /* send the FIXes gathered so far first; the IND is next */
			err = send_single(l, now, r, out, cap, len);
			if (err == -ENOENT)
				continue;
			if (err == 1)
				l->st.repairs++;
			return err;
		}
		l->cand[n++] = r;
		if (n == CF_LINK_FRAME_RECS)
			break;
	}
	if (n == 0)
		return 0;
	err = send_fixes(l, now, l->cand, n, 0, &used, out, cap, len);
	if (err == -ENOENT)
		return 0;
	if (err == 1)
		l->st.repairs++;
	return err;
}

/* Backfill round: walk down from bf_before, gather up to a frame of un-acked FIXes, send the newest. */
static int step_backfill(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	for (;;) {
		uint32_t r, before = l->bf_before;
		unsigned n = 0, used;
		uint8_t type;
		int err;

		while (n < CF_LINK_FRAME_RECS) {
			err = cf_journal_prev_unacked(l->j, before, &r, &type);
			if (err == -ENOENT)
				break;
			if (err < 0)
				return err;
			before = r;
			if (type != PROTO_T_FIX || in_flight(l, r))
				continue; /* INDs are the IND scan's */
			l->cand[CF_LINK_FRAME_RECS - 1u - n] = r; /* fill from the end: ascending order */
			n++;
		}
		if (n == 0) {
			/* Round complete. One that did not move the gateway's cum backs off (thinned gaps). */
			l->in_round = 0;
			if (l->gw_cum == l->round_cum)
				l->round_wait_ms = l->round_wait_ms
				                           ? min_u32(2u * l->round_wait_ms, l->cfg.round_backoff_max_ms)
				                           : l->cfg.round_backoff_min_ms;
			else
				l->round_wait_ms = 0;
			l->round_ok_ms = now + l->round_wait_ms;
			return 0;
		}
		uint32_t *c = &l->cand[CF_LINK_FRAME_RECS - n];
		err = send_fixes(l, now, c, n, 1, &used, out, cap, len);
		if (err == -ENOENT) {
			l->bf_before = before; /* none readable: walk on */
			continue;
		}
		if (err < 0)
			return err;
		l->bf_before = c[0]; /* the oldest carried; the ones below it that did not fit come next */
		l->st.backfill++;
		return err;
	}
}

static int backlog_below(struct cf_link *l, uint32_t floor, int *yes)
{
	uint32_t r;
	uint8_t type;
	int err = cf_journal_prev_unacked(l->j, floor, &r, &type);
	if (err < 0 && err != -ENOENT)
		return err;
	*yes = err == 0;
	return 0;
}

static void cmd_mem_load(struct cf_link *l);

/* ---- public ---------------------------------------------------------------------------------------- */

int cf_link_init(struct cf_link *l, const struct cf_link_cfg *cfg, struct cf_journal *j, uint32_t now_ms)
{
	struct cf_journal_stats js;
	int err;

	if (l == NULL || cfg == NULL || j == NULL || cfg->collar_id == 0 || cfg->key == NULL ||
	    cfg->max_window > CF_LINK_WINDOW_MAX || cfg->fix_batch > PROTO_FIXB_MAX ||
	    (cfg->budget_burst != 0 && cfg->budget_burst < PROTO_WIRE_MAX))
		return -EINVAL;
	if ((err = cf_journal_stats(j, &js)) < 0)
		return err;
	memset(l, 0, sizeof *l);
	l->cfg = *cfg;
	l->cfg.key = NULL;
#define DEFAULT(f, v) \
	if (l->cfg.f == 0) \
		l->cfg.f = (v)
	DEFAULT(max_window, CF_LINK_WINDOW_MAX);
	DEFAULT(max_tries, DEF_TRIES);
	DEFAULT(ind_blind_tries, DEF_IND_BLIND);
	DEFAULT(fix_batch, PROTO_FIXB_MAX);
	DEFAULT(fix_hold_ms, DEF_HOLD_MS);
	DEFAULT(rto_init_ms, DEF_RTO_INIT_MS);
	DEFAULT(rto_min_ms, DEF_RTO_MIN_MS);
	DEFAULT(rto_max_ms, DEF_RTO_MAX_MS);
	DEFAULT(link_loss_ms, DEF_LOSS_MS);
	DEFAULT(hello_min_ms, DEF_HELLO_MIN_MS);
	DEFAULT(hello_max_ms, DEF_HELLO_MAX_MS);
	DEFAULT(round_backoff_min_ms, DEF_ROUND_MIN_MS);
	DEFAULT(round_backoff_max_ms, DEF_ROUND_MAX_MS);
	DEFAULT(budget_burst, 2u * PROTO_WIRE_MAX);
	DEFAULT(seed, 0x9E3779B9u);
#undef DEFAULT
	if (l->cfg.rto_min_ms > l->cfg.rto_max_ms || l->cfg.hello_min_ms > l->cfg.hello_max_ms ||
	    l->cfg.round_backoff_min_ms > l->cfg.round_backoff_max_ms)
		return -EINVAL;
	proto_hmac_init(&l->hkey, cfg->key, PROTO_KEY_LEN);
	proto_deframer_init(&l->rx);
	l->j = j;
	l->rng = l->cfg.seed;
	l->boot_id = cf_journal_boot_id(j);
	l->link_seq = l->cfg.first_link_seq;
	l->credit = 1; /* until the gateway says more */
	l->hello_iv_ms = l->cfg.hello_min_ms;
	l->hello_due_ms = now_ms;
	l->status_due_ms = now_ms + l->cfg.status_ms;
	cmd_mem_load(l);
	l->gw_cum = js.ack_cum;
	l->gone_cum = js.ack_cum - 1u; /* differs from gw_cum: the first link-up looks for gone records */
	l->seen_next = cf_journal_next_seq(j);
	l->tokens_mb = (uint64_t)l->cfg.budget_burst * 1000u;
	l->tokens_ms = now_ms;
	l->st.rto_ms = cur_rto(l);
	return 0;
}

int cf_link_poll(struct cf_link *l, uint32_t now, uint8_t *out, size_t cap, size_t *len)
{
	struct cf_link_flight *e;
	int err, more;

	if (l == NULL || out == NULL || len == NULL)
		return -EINVAL;
	*len = 0;
	if (cap < PROTO_WIRE_MAX)
		return -ENOBUFS;
	if (l->link_seq > UINT16_MAX) {
		/* (boot_id, link_seq) must never repeat: a new epoch before the counter starts over, and before
		 * any body (HELLO carries boot_id) is built. */
		uint16_t b;
		if ((err = cf_journal_bump_boot(l->j, &b)) < 0)
			return err;
		l->boot_id = b;
		l->link_seq = 0;
		l->st.boot_bumps++;
	}
	if ((err = notice_new(l, now)) < 0)
		return err;
	if (l->up && n_flight(l) && after_eq(now, l->loss_ref_ms + l->cfg.link_loss_ms))
		link_down(l, now);
	if (l->cfg.budget_bps) {
		budget_refill(l, now);
		l->budget_blocked = l->tokens_mb < (uint64_t)PROTO_WIRE_MAX * 1000u;
		if (l->budget_blocked)
			return 0; /* a frame could be up to PROTO_WIRE_MAX: wait for the bucket */
	}
	if (l->n_cmdack)
		return send_cmd_ack(l, out, cap, len);
	if (!l->up) {
		if (!after_eq(now, l->hello_due_ms))
			return 0;
		l->hello_due_ms = now + jitter(l, l->hello_iv_ms);
		l->hello_iv_ms = min_u32(2u * l->hello_iv_ms, l->cfg.hello_max_ms);
		return send_hello(l, out, cap, len);
	}
	expire(l, now);
	if ((e = due_entry(l, now, 1)) != NULL)
		return retransmit(l, now, e, out, cap, len);
	if (room(l) && (err = step_fresh_ind(l, now, out, cap, len)) != 0)
		return err;
	if (room(l) && (err = step_ind_scan(l, now, out, cap, len)) != 0)
		return err;
	if ((err = step_gone(l, now, out, cap, len)) != 0)
		return err;
	if (l->status_req) {
		l->status_req = 0;
		return send_status(l, out, cap, len);
	}
	if (room(l) && (err = step_fresh_fix(l, now, out, cap, len)) != 0)
		return err;
	if ((e = due_entry(l, now, 0)) != NULL) {
		err = retransmit(l, now, e, out, cap, len);
		if (err != 0)
			return err;
	}
	if (room(l) && !ind_outstanding(l)) {
		if (l->in_round && (err = step_backfill(l, now, out, cap, len)) != 0)
			return err;
		if (!l->in_round) {
			if ((err = step_repair(l, now, out, cap, len)) != 0)
				return err;
			if (n_flight(l) == 0 && after_eq(now, l->round_ok_ms)) {
				if ((err = backlog_below(l, fresh_floor(l), &more)) < 0)
					return err;
				if (more) {
					round_start(l);
					if ((err = step_backfill(l, now, out, cap, len)) != 0)
						return err;
				}
			}
		}
	}
	if (l->cfg.status_ms && after_eq(now, l->status_due_ms)) {
		l->status_due_ms = now + l->cfg.status_ms;
		return send_status(l, out, cap, len);
	}
	return 0;
}

uint32_t cf_link_next_deadline(const struct cf_link *l, uint32_t now)
{
	uint32_t best = now + IDLE_MS;
#define CAND(t)                                          \
	do {                                                 \
		uint32_t t_ = (t);                               \
		if ((int32_t)(t_ - best) < 0)                    \
			best = after_eq(t_, now) ? t_ : now;         \
	} while (0)

	if (l->n_cmdack)
		CAND(now);
	if (!l->up) {
		CAND(l->hello_due_ms);
	} else {
		if (l->status_req)
			CAND(now);
		for (unsigned i = 0; i < CF_LINK_WINDOW_MAX; i++)
			if (l->fl[i].used)
				CAND(l->fl[i].due_ms);
		if (n_flight(l))
			CAND(l->loss_ref_ms + l->cfg.link_loss_ms);
		if (l->n_fresh_fix && room(l))
			CAND(l->fresh_fix[0].t_ms + l->cfg.fix_hold_ms);
		if (!l->in_round && (int32_t)(l->round_ok_ms - now) > 0)
			CAND(l->round_ok_ms);
		if (l->gw_cum < cf_journal_gone_max(l->j))
			CAND(l->gone_cum == l->gw_cum ? l->gone_due_ms : now);
		if (l->cfg.status_ms)
			CAND(l->status_due_ms);
	}
#undef CAND
	if (l->cfg.budget_bps) {
		uint64_t need = (uint64_t)PROTO_WIRE_MAX * 1000u, cap = (uint64_t)l->cfg.budget_burst * 1000u;
		uint64_t tok = l->tokens_mb + (uint64_t)(now - l->tokens_ms) * l->cfg.budget_bps;
		if (tok > cap)
			tok = cap;
		if (tok < need) {
			/* nothing can go before the bucket holds a whole frame; when poll stopped for the budget,
			 * work may be waiting that no timer represents: wake exactly then */
			uint32_t t = now + (uint32_t)((need - tok + l->cfg.budget_bps - 1u) / l->cfg.budget_bps);
			if (l->budget_blocked || (int32_t)(t - best) > 0)
				best = t;
		}
	}
	return best;
}

/* ---- receive --------------------------------------------------------------------------------------- */

static void on_ack(struct cf_link *l, uint32_t now, const struct proto_ack *a, int *rc)
{
	int err = cf_journal_ack(l->j, a->cum, a->sack);

	if (err == -ERANGE) {
		l->st.rx_ack_range++; /* the gateway names records this journal never issued: believe nothing */
		return;
	}
	if (err < 0) {
		*rc = err;
		return;
	}
	l->st.rx_acks++;
	l->st.rx_frames++;
	if (a->cum > l->gw_cum)
		l->gw_cum = a->cum;
	if (a->has & PROTO_ACK_HAS_CREDIT)
		l->credit = (uint8_t)min_u32(a->credit, CF_LINK_WINDOW_MAX);
	if (a->has & PROTO_ACK_HAS_GWT) {
		l->gw_ms = a->gw_ms;
		l->gw_rx_ms = now;
		l->have_gw_time = 1;
	}
	l->have_ack = 1;
	l->last_ack_ms = now;
	l->loss_ref_ms = now;
	flights_prune(l, now, 1);
	if (!l->up)
		link_up(l);
}

/* CMD memory <-> journal app state bytes 0..8: u32 cmd_high, u8 bitmap (bit i: cmd_high - i ran),
 * u32 results (nibble i: the result of cmd_high - i). Ids further below are refused as stale anyway. */
static int cmd_mem_save(struct cf_link *l)
{
	uint8_t st[CF_JOURNAL_APP_STATE], ran = 0;
	uint32_t res = 0;

	cf_journal_app_state(l->j, st);
	for (unsigned i = 0; i < CF_LINK_CMD_MEMORY; i++) {
		const struct cf_link_cmd_mem *m = &l->cmd_mem[i];
		uint32_t d = l->cmd_high - m->cmd_id;
		if (!m->used || m->cmd_id > l->cmd_high || d >= CF_LINK_CMD_MEMORY)
			continue;
		ran = (uint8_t)(ran | (1u << d));
		res |= (uint32_t)(m->result & 0xFu) << (4u * d);
	}
	for (unsigned b = 0; b < 4; b++) {
		st[b] = (uint8_t)(l->cmd_high >> (8u * b));
		st[5u + b] = (uint8_t)(res >> (8u * b));
	}
	st[4] = ran;
	return cf_journal_app_state_set(l->j, st);
}

static void cmd_mem_load(struct cf_link *l)
{
	uint8_t st[CF_JOURNAL_APP_STATE];
	uint32_t high = 0, res = 0;

	cf_journal_app_state(l->j, st);
	for (unsigned b = 0; b < 4; b++) {
		high |= (uint32_t)st[b] << (8u * b);
		res |= (uint32_t)st[5u + b] << (8u * b);
	}
	if (st[4] == 0)
		return; /* no CMD ever ran */
	l->have_cmd = 1;
	l->cmd_high = high;
	for (unsigned d = 0; d < CF_LINK_CMD_MEMORY && d <= high; d++) {
		if (!((unsigned)st[4] >> d & 1u))
			continue;
		l->cmd_mem[l->cmd_mem_next].cmd_id = high - d;
		l->cmd_mem[l->cmd_mem_next].result = (uint8_t)(res >> (4u * d) & 0xFu);
		l->cmd_mem[l->cmd_mem_next].used = 1;
		l->cmd_mem_next = (uint8_t)((l->cmd_mem_next + 1u) % CF_LINK_CMD_MEMORY);
	}
}

static void queue_cmd_ack(struct cf_link *l, uint32_t cmd_id, uint8_t result)
{
	if (l->n_cmdack == CF_LINK_CMDACK_QUEUE) {
		/* the oldest answer goes: its CMD will be retried and answered from memory */
		l->n_cmdack--;
		memmove(&l->cmdack_q[0], &l->cmdack_q[1], l->n_cmdack * sizeof l->cmdack_q[0]);
	}
	memset(&l->cmdack_q[l->n_cmdack], 0, sizeof l->cmdack_q[0]);
	l->cmdack_q[l->n_cmdack].cmd_id = cmd_id;
	l->cmdack_q[l->n_cmdack].result = result;
	l->n_cmdack++;
}

static void on_cmd(struct cf_link *l, uint32_t now, const struct proto_cmd *c, int *rc)
{
	int err;
	uint8_t res;

	l->st.rx_cmds++;
	l->st.rx_frames++;
	for (unsigned i = 0; i < CF_LINK_CMD_MEMORY; i++) {
		if (l->cmd_mem[i].used && l->cmd_mem[i].cmd_id == c->cmd_id) {
			l->st.cmd_dup++;
			queue_cmd_ack(l, c->cmd_id, l->cmd_mem[i].result);
			return;
		}
	}
	if (l->have_cmd && c->cmd_id < l->cmd_high && l->cmd_high - c->cmd_id >= CF_LINK_CMD_MEMORY) {
		l->st.cmd_stale++; /* older than anything remembered: cannot tell whether it already ran */
		return;
	}
	if (c->op == PROTO_OP_STATUS_NOW) {
		l->status_req = 1;
		res = PROTO_RES_DONE;
	} else if (l->cfg.on_cmd != NULL) {
		res = l->cfg.on_cmd(l->cfg.cmd_ctx, c, now);
		if (res < PROTO_RES_DONE || res > PROTO_RES_FAILED || res == PROTO_RES_IN_PROGRESS)
			res = PROTO_RES_FAILED; /* IN_PROGRESS would need a progress follow-up this link does not do */
	} else {
		res = PROTO_RES_UNSUPPORTED;
	}
	l->cmd_mem[l->cmd_mem_next].cmd_id = c->cmd_id;
	l->cmd_mem[l->cmd_mem_next].result = res;
	l->cmd_mem[l->cmd_mem_next].used = 1;
	l->cmd_mem_next = (uint8_t)((l->cmd_mem_next + 1u) % CF_LINK_CMD_MEMORY);
	if (!l->have_cmd || c->cmd_id > l->cmd_high)
		l->cmd_high = c->cmd_id;
	l->have_cmd = 1;
	/* durable before it is acknowledged: a reboot must not run it again when the gateway retries */
	err = cmd_mem_save(l);
	if (err < 0) {
		*rc = err;
		return;
	}
	queue_cmd_ack(l, c->cmd_id, res);
}

static void on_frame(struct cf_link *l, uint32_t now, size_t flen, int *rc)
{
	struct proto_hdr h;
	const uint8_t *body;
	size_t blen;
	union {
		struct proto_ack ack;
		struct proto_cmd cmd;
	} m;

	if (proto_frame_check(l->rxframe, flen, &h, &body, &blen) != 0 || (h.flags & PROTO_F_FRAG)) {
		l->st.rx_bad_frame++;
		return;
	}
	if ((h.type != PROTO_T_ACK && h.type != PROTO_T_CMD) || h.collar_id != l->cfg.collar_id) {
		l->st.rx_other_collar++;
		return;
	}
	if (proto_frame_verify(l->rxframe, flen, &l->hkey) != 0) {
		l->st.rx_bad_tag++;
		return;
	}
	if (h.type == PROTO_T_ACK) {
		if (proto_ack_decode(body, blen, &m.ack, NULL) != 0) {
			l->st.rx_bad_msg++;
			return;
		}
		on_ack(l, now, &m.ack, rc);
	} else {
		if (proto_cmd_decode(body, blen, &m.cmd, NULL) != 0) {
			l->st.rx_bad_msg++;
			return;
		}
		on_cmd(l, now, &m.cmd, rc);
	}
}

int cf_link_on_rx(struct cf_link *l, uint32_t now, const uint8_t *bytes, size_t len)
{
	uint32_t before;
	size_t used, flen;
	int rc = 0, r;

	if (l == NULL || (bytes == NULL && len))
		return -EINVAL;
	before = l->st.rx_frames;
	l->st.rx_bytes += (uint32_t)len;
	while (len) {
		r = proto_deframer_push(&l->rx, bytes, len, &used, l->rxframe, sizeof l->rxframe, &flen);
		bytes += used;
		len -= used;
		if (r < 0)
			l->st.rx_bad_frame++;
		else if (r == 1)
			on_frame(l, now, flen, &rc);
		else
			break;
	}
	return rc < 0 ? rc : (int)(l->st.rx_frames - before);
}

void cf_link_set_health(struct cf_link *l, uint32_t has, uint16_t batt_mv, uint8_t batt_pct, int16_t temp_dc)
{
	l->health_has = (uint8_t)(has & (PROTO_STATUS_HAS_BATT | PROTO_STATUS_HAS_BATTPCT | PROTO_STATUS_HAS_TEMP));
	l->batt_mv = batt_mv;
	l->batt_pct = batt_pct;
	l->temp_dc = temp_dc;
}

void cf_link_request_status(struct cf_link *l)
{
	l->status_req = 1;
}

int cf_link_gateway_utc(const struct cf_link *l, uint32_t now_ms, uint64_t *utc_ms)
{
	if (!l->have_gw_time)
		return -ENOENT;
	*utc_ms = l->gw_ms + (uint32_t)(now_ms - l->gw_rx_ms);
	return 0;
}

int cf_link_is_up(const struct cf_link *l)
{
	return l->up;
}

unsigned cf_link_window(const struct cf_link *l)
{
	return window(l);
}

unsigned cf_link_in_flight(const struct cf_link *l)
{
	return n_flight(l);
}

uint16_t cf_link_boot_id(const struct cf_link *l)
{
	return l->boot_id;
}

const struct cf_link_stats *cf_link_stats(const struct cf_link *l)
{
	return &l->st;
}

uint32_t cf_link_report_period_ms(const struct cf_rate_in *in)
{
	if (in->override_ms)
		return in->override_ms;
	if (in->indicating)
		return CF_RATE_SEARCH_MS;
	switch (in->mode) {
	case PROTO_MODE_TRANSIT:
		return CF_RATE_TRANSIT_MS;
	case PROTO_MODE_STANDBY:
		return CF_RATE_STANDBY_MS;
	default:
		return in->stationary ? CF_RATE_STATIONARY_MS : CF_RATE_SEARCH_MS;
	}
}
