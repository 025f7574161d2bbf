/*
 * gw/src/pipeline.c — frame validation, dedupe, spool, ACKs (see gw/pipeline.h for the rules).
 *
 * State per collar lives in a dense array indexed through idx_of[collar_id] (65536 × 2 bytes): an unknown
 * collar costs one table lookup and a counter, never an allocation, so a flood of made-up collar ids cannot
 * grow memory.
 *
 * The ACK window: cum is the highest rec_seq such that every rec_seq <= cum is durable. Above it, a ring of
 * GW_ACK_WIN bits (bit seq % GW_ACK_WIN) says which rec_seq in (cum, cum + GW_ACK_WIN] are durable. Records
 * stored beyond that are still deduplicated (the spool's unique index) and folded in from the spool when cum
 * gets near them (`beyond`). Only the commit callback sets bits: what the window says is what an ACK may say.
 */
#define _GNU_SOURCE
#include "gw/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw/keys.h"
#include "gw/log.h"
#include "proto/err.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define ACK_WORDS (GW_ACK_WIN / 64u)

struct collar {
	struct gw_collar_info info;
	struct proto_hmac_key key;
	uint64_t rwin;                /* replay: bit i = link_seq (info.link_seq - i) accepted */
	uint64_t ackwin[ACK_WORDS];   /* durable rec_seq ring above cum */
	uint32_t hello_floor;         /* from HELLO: everything <= floor is stored or gone from the collar */
	uint32_t n_pending;           /* this collar's records in the open transaction */
	unsigned ack_count;           /* records durable (or duplicates heard) since the last ACK */
	uint64_t ack_due;             /* monotonic ms an ACK is owed by; 0 = nothing owed */
	uint16_t tx_seq;              /* link_seq of our next ACK frame to this collar */
	uint8_t ack_now;
	uint8_t beyond;               /* records stored above cum + GW_ACK_WIN */
	uint8_t dirty;                /* replay window or cum changed since the last save */
	uint8_t armed;                /* in p->armed */
	uint8_t touched;              /* in p->touched */
	uint8_t n_cmd;                /* CMDs from the core waiting for the collar's CMD_ACK */
	struct proto_cmd cmdq[GW_CMD_QUEUE];
};

struct pend {
	uint16_t idx;
	uint32_t rec_seq;
};

struct gw_pipeline {
	struct gw_spool *spool;
	struct gw_pipeline_opts o;
	gw_pipeline_send_fn send;
	void *send_arg;
	struct collar *c;
	size_t n;
	uint16_t idx_of[65536]; /* collar_id → index + 1; 0 = unknown */
	struct proto_deframer df[GW_LINKS_MAX];
	uint64_t link_off[GW_LINKS_MAX]; /* bytes consumed on the link: "where" in error logs */
	struct gw_link_rx rx[GW_LINKS_MAX];
	struct gw_log_limiter lim[GW_LINKS_MAX];
	struct pend pend[GW_PENDING_MAX + PROTO_FIXB_MAX]; /* checked between frames: one FIXB may overshoot */
	unsigned n_pend;
	uint16_t armed[GW_COLLARS_MAX];
	size_t n_armed;
	uint16_t touched[GW_COLLARS_MAX];
	size_t n_touched;
	uint64_t commit_due;
	uint64_t last_commit_ms;
	int urgent;
	uint16_t epoch;
	struct gw_pipeline_totals tot;
	struct proto_msg msg;
	uint8_t frame[PROTO_FRAME_MAX];
	uint8_t body[PROTO_BODY_MAX];
};

static void on_commit(void *arg, int ok, unsigned records);

static unsigned err_slot(int code)
{
	unsigned i = (unsigned)-code;
	return i < GW_ERR_SLOTS ? i : 0;
}

int gw_pipeline_new(struct gw_pipeline **out, struct gw_spool *s, const struct gw_pipeline_opts *o,
                    gw_pipeline_send_fn send, void *send_arg)
{
	*out = NULL;
	if (!s || !o || !send || !o->ack_every || !o->commit_max || o->commit_max > GW_PENDING_MAX ||
	    o->credit > 64)
		return -EINVAL;
	struct gw_pipeline *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->c = calloc(GW_COLLARS_MAX, sizeof *p->c);
	if (!p->c) {
		free(p);
		return -ENOMEM;
	}
	p->spool = s;
	p->o = *o;
	p->send = send;
	p->send_arg = send_arg;
	p->epoch = gw_spool_boot_id(s);
	for (unsigned i = 0; i < GW_LINKS_MAX; i++)
		proto_deframer_init(&p->df[i]);
	gw_spool_on_commit(s, on_commit, p);
	*out = p;
	return 0;
}

void gw_pipeline_free(struct gw_pipeline *p)
{
	if (!p)
		return;
	/* Keys are secrets: do not leave them in freed heap. */
	explicit_bzero(p->c, GW_COLLARS_MAX * sizeof *p->c);
	free(p->c);
	free(p);
}

int gw_pipeline_collar_add(struct gw_pipeline *p, uint16_t collar_id, const uint8_t key[PROTO_KEY_LEN])
{
	if (!collar_id || !key)
		return -EINVAL;
	if (p->idx_of[collar_id])
		return -EEXIST;
	if (p->n >= GW_COLLARS_MAX)
		return -ENOSPC;
	struct collar *c = &p->c[p->n];
	memset(c, 0, sizeof *c);
	c->info.collar_id = collar_id;
	proto_hmac_init(&c->key, key, PROTO_KEY_LEN);
	p->n++;
	p->idx_of[collar_id] = (uint16_t)p->n;
	return 0;
}

int gw_pipeline_keys_reload(struct gw_pipeline *p, const struct gw_key *keys, size_t n, unsigned *added,
                            unsigned *changed, unsigned *removed)
{
	unsigned a = 0, ch = 0, rm = 0;
	/* Removed collars keep their state (counters, ack window) but become unknown: their frames are refused
	 * from now on. A collar that comes back gets its old state again. */
	for (size_t i = 0; i < p->n; i++) {
		uint16_t id = p->c[i].info.collar_id;
		size_t k;
		for (k = 0; k < n && keys[k].collar_id != id; k++)
			;
		if (k == n && p->idx_of[id]) {
			p->idx_of[id] = 0;
			rm++;
		}
	}
	for (size_t k = 0; k < n; k++) {
		uint16_t id = keys[k].collar_id;
		struct proto_hmac_key hk;
		memset(&hk, 0, sizeof hk); /* collar_add's state was zeroed first too: memcmp sees no padding noise */
		proto_hmac_init(&hk, keys[k].key, PROTO_KEY_LEN);
		size_t i;
		for (i = 0; i < p->n && p->c[i].info.collar_id != id; i++)
			;
		if (i < p->n) {
			if (!p->idx_of[id]) {
				p->idx_of[id] = (uint16_t)(i + 1);
				a++;
			} else if (memcmp(&p->c[i].key, &hk, sizeof hk) != 0) {
				ch++;
			}
			p->c[i].key = hk;
		} else {
			int err = gw_pipeline_collar_add(p, id, keys[k].key);
			if (err < 0) {
				explicit_bzero(&hk, sizeof hk);
				return err;
			}
			a++;
		}
		explicit_bzero(&hk, sizeof hk);
	}
	if (added)
		*added = a;
	if (changed)
		*changed = ch;
	if (removed)
		*removed = rm;
	return 0;
}

/* --- ack window ------------------------------------------------------------------------------------ */

static int win_get(const struct collar *c, uint32_t seq)
{
	if (seq <= c->info.cum || (uint64_t)seq > (uint64_t)c->info.cum + GW_ACK_WIN)
		return 0;
	unsigned b = seq % GW_ACK_WIN;
	return (int)(c->ackwin[b / 64u] >> (b % 64u) & 1u);
}

static void win_put(struct collar *c, uint32_t seq, int on)
{
	unsigned b = seq % GW_ACK_WIN;
	if (on)
		c->ackwin[b / 64u] |= 1ull << (b % 64u);
	else
		c->ackwin[b / 64u] &= ~(1ull << (b % 64u));
}

struct refill {
	struct collar *c;
	unsigned n;
};

static void refill_cb(void *arg, uint32_t seq)
{
	struct refill *r = arg;
	if (seq > r->c->info.cum && (uint64_t)seq <= (uint64_t)r->c->info.cum + GW_ACK_WIN) {
		win_put(r->c, seq, 1);
		r->n++;
	}
}

static void count_cb(void *arg, uint32_t seq)
{
	(void)seq;
	++*(unsigned *)arg;
}

/* Move cum over everything durable (and up to the HELLO floor). Runs only when no transaction is open, so
 * what the spool returns while refilling is durable. */
static void win_advance(struct gw_pipeline *p, struct collar *c)
{
	uint32_t start = c->info.cum, old = c->info.cum;
	if (c->hello_floor > c->info.cum) {
		uint64_t top = (uint64_t)c->info.cum + GW_ACK_WIN;
		for (uint64_t s = (uint64_t)c->info.cum + 1; s <= c->hello_floor && s <= top; s++)
			win_put(c, (uint32_t)s, 0);
		c->info.cum = c->hello_floor;
		c->beyond = 1; /* the ring moved: what is now inside it may already be in the spool */
	}
	for (;;) {
		while (c->info.cum < UINT32_MAX && win_get(c, c->info.cum + 1)) {
			win_put(c, c->info.cum + 1, 0);
			c->info.cum++;
		}
		if (!c->beyond || c->info.cum == old)
			break;
		/* The ring slid from old to cum: the rec_seqs that just entered its top may be in the spool. */
		uint64_t lo = (uint64_t)old + GW_ACK_WIN;
		if (lo < c->info.cum)
			lo = c->info.cum;
		uint64_t hi = (uint64_t)c->info.cum + GW_ACK_WIN;
		if (hi > UINT32_MAX)
			hi = UINT32_MAX;
		old = c->info.cum;
		struct refill r = {c, 0};
		if (gw_spool_seqs(p->spool, c->info.collar_id, (uint32_t)lo, (uint32_t)hi, refill_cb, &r) < 0 || !r.n)
			break;
	}
	if (c->beyond) {
		unsigned more = 0;
		uint64_t hi = (uint64_t)c->info.cum + GW_ACK_WIN;
		if (hi < UINT32_MAX && gw_spool_seqs(p->spool, c->info.collar_id, (uint32_t)hi, UINT32_MAX, count_cb, &more) == 0 &&
		    !more)
			c->beyond = 0;
	}
	if (c->info.cum != start)
		c->dirty = 1;
}

static void touch(struct gw_pipeline *p, struct collar *c)
{
	if (c->touched)
		return;
	c->touched = 1;
	p->touched[p->n_touched++] = (uint16_t)(c - p->c);
}

static void arm(struct gw_pipeline *p, struct collar *c, uint64_t now)
{
	if (!c->ack_due)
		c->ack_due = now + p->o.ack_ms;
	if (!c->armed) {
		c->armed = 1;
		p->armed[p->n_armed++] = (uint16_t)(c - p->c);
	}
}

/* The spool committed (records are durable) or rolled back (they are gone). */
static void on_commit(void *arg, int ok, unsigned records)
{
	struct gw_pipeline *p = arg;
	(void)records;
	if (ok) {
		p->tot.commits++;
		for (unsigned i = 0; i < p->n_pend; i++) {
			struct collar *c = &p->c[p->pend[i].idx];
			uint32_t seq = p->pend[i].rec_seq;
			if (seq > c->info.cum && (uint64_t)seq <= (uint64_t)c->info.cum + GW_ACK_WIN)
				win_put(c, seq, 1);
			else if (seq > c->info.cum)
				c->beyond = 1;
			c->ack_count++;
			touch(p, c);
		}
	} else {
		p->tot.commit_errors++;
		if (p->n_pend)
			gw_log(GW_LOG_ERR, "pipeline", "spool rolled back %u records: not ACKed, the collars will resend",
			       p->n_pend);
	}
	p->n_pend = 0;
	p->commit_due = 0;
	for (size_t i = 0; i < p->n_touched; i++) {
		struct collar *c = &p->c[p->touched[i]];
		c->touched = 0;
		c->n_pending = 0;
		if (!ok)
			continue;
		win_advance(p, c);
		if (c->ack_count >= p->o.ack_every)
			c->ack_now = 1;
	}
	p->n_touched = 0;
}

/* --- restore ----------------------------------------------------------------------------------------- */

static void restore_cb(void *arg, const struct gw_spool_collar *sc)
{
	struct gw_pipeline *p = arg;
	uint16_t i = p->idx_of[sc->collar_id];
	if (!i) {
		gw_log(GW_LOG_NOTE, "pipeline", "spool knows collar %u, the key table does not: ignored",
		       sc->collar_id);
		return;
	}
	struct collar *c = &p->c[i - 1];
	c->info.has_replay = sc->has_replay;
	c->info.boot_id = sc->boot_id;
	c->info.link_seq = sc->link_seq;
	c->rwin = 1; /* only the highest is remembered: older in-window frames are refused after a restart */
	c->info.cum = sc->cum;
}

int gw_pipeline_restore(struct gw_pipeline *p)
{
	int err = gw_spool_collar_each(p->spool, restore_cb, p);
	if (err < 0)
		return err;
	for (size_t i = 0; i < p->n; i++) {
		struct collar *c = &p->c[i];
		struct refill r = {c, 0};
		uint64_t hi = (uint64_t)c->info.cum + GW_ACK_WIN;
		err = gw_spool_seqs(p->spool, c->info.collar_id, c->info.cum, hi > UINT32_MAX ? UINT32_MAX : (uint32_t)hi,
		                    refill_cb, &r);
		if (err < 0)
			return err;
		c->beyond = 1; /* let win_advance look above the ring once */
		win_advance(p, c);
	}
	return 0;
}

/* --- ACKs ---------------------------------------------------------------------------------------------- */

/* One sealed frame to the collar on link (our link_seq, our epoch). */
static int send_to_collar(struct gw_pipeline *p, struct collar *c, unsigned link, uint8_t type, const uint8_t *body,
                          size_t blen)
{
	uint8_t wire[PROTO_WIRE_MAX];
	size_t wlen;
	if (c->tx_seq == UINT16_MAX) {
		/* (epoch, link_seq) must never repeat for a collar: take a new gateway epoch before wrapping. */
		p->epoch = (uint16_t)(p->epoch % 65535u + 1u);
		for (size_t i = 0; i < p->n; i++)
			p->c[i].tx_seq = 0;
	}
	struct proto_hdr h = {0, type, c->info.collar_id, c->tx_seq++, p->epoch};
	int err = proto_frame_encode(&h, body, blen, &c->key, wire, sizeof wire, &wlen);
	if (err < 0)
		return err;
	return p->send(p->send_arg, link, wire, wlen);
}

/* The queued CMDs ride behind every ACK until the collar answers them (see gw_pipeline_cmd_queue). */
static void send_cmds(struct gw_pipeline *p, struct collar *c, unsigned link)
{
	uint8_t body[PROTO_BODY_MAX];
	size_t blen;
	unsigned k = 0;
	for (unsigned i = 0; i < c->n_cmd; i++) {
		struct proto_cmd *cmd = &c->cmdq[i];
		if (cmd->retry >= GW_CMD_RETRIES) {
			p->tot.cmds_dropped++;
			gw_log(GW_LOG_WARN, "pipeline", "collar %u: CMD %u unanswered after %u sends: dropped",
			       c->info.collar_id, cmd->cmd_id, GW_CMD_RETRIES);
			continue;
		}
		if (proto_cmd_encode(cmd, body, sizeof body, &blen) == 0 &&
		    send_to_collar(p, c, link, PROTO_T_CMD, body, blen) >= 0) {
			p->tot.cmds_sent++;
			cmd->retry++;
		}
		c->cmdq[k++] = *cmd;
	}
	c->n_cmd = (uint8_t)k;
}

int gw_pipeline_cmd_queue(struct gw_pipeline *p, uint16_t collar_id, const struct proto_cmd *cmd, uint64_t now_mono_ms)
{
	uint16_t i = p->idx_of[collar_id];
	if (!i) {
		p->tot.cmds_refused++;
		return -ENOENT;
	}
	struct collar *c = &p->c[i - 1];
	for (unsigned k = 0; k < c->n_cmd; k++)
		if (c->cmdq[k].cmd_id == cmd->cmd_id)
			return 0;
	if (c->n_cmd >= GW_CMD_QUEUE) {
		p->tot.cmds_refused++;
		return -ENOSPC;
	}
	c->cmdq[c->n_cmd] = *cmd;
	c->cmdq[c->n_cmd].retry = 0;
	c->n_cmd++;
	p->tot.cmds_queued++;
	if (c->info.has_seen) {
		c->ack_now = 1;
		arm(p, c, now_mono_ms);
	}
	return 0;
}

static void send_ack(struct gw_pipeline *p, struct collar *c, const struct gw_now *now)
{
	struct proto_ack a = {0};
	a.cum = c->info.cum;
	for (unsigned i = 0; i < 64; i++)
		if ((uint64_t)a.cum + 1 + i <= UINT32_MAX && win_get(c, a.cum + 1 + i))
			a.sack |= 1ull << i;
	if (now->utc_ms >= PROTO_UTC_MS_MIN && now->utc_ms < PROTO_UTC_MS_MAX) {
		a.has |= PROTO_ACK_HAS_GWT;
		a.gw_ms = now->utc_ms;
	}
	if (p->o.credit) {
		a.has |= PROTO_ACK_HAS_CREDIT;
		a.credit = p->o.credit;
	}
	c->ack_now = 0;
	c->ack_due = 0;
	c->ack_count = 0;

	uint8_t body[32], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	int err = proto_ack_encode(&a, body, sizeof body, &blen);
	if (err < 0) {
		gw_log(GW_LOG_ERR, "pipeline", "collar %u: ACK encode: %s", c->info.collar_id, proto_strerror(err));
		return;
	}
	if (c->tx_seq == UINT16_MAX) {
		/* (epoch, link_seq) must never repeat for a collar: take a new gateway epoch before wrapping. */
		p->epoch = (uint16_t)(p->epoch % 65535u + 1u);
		for (size_t i = 0; i < p->n; i++)
			p->c[i].tx_seq = 0;
	}
	struct proto_hdr h = {0, PROTO_T_ACK, c->info.collar_id, c->tx_seq++, p->epoch};
	err = proto_frame_encode(&h, body, blen, &c->key, wire, sizeof wire, &wlen);
	if (err < 0) {
		gw_log(GW_LOG_ERR, "pipeline", "collar %u: ACK frame: %s", c->info.collar_id, proto_strerror(err));
		return;
	}
	unsigned link = c->info.last_link;
	struct gw_link_rx *rx = &p->rx[link];
	if (p->send(p->send_arg, link, wire, wlen) < 0) {
		rx->ack_send_fail++;
		return;
	}
	rx->acks_sent++;
	rx->ack_bytes += wlen;
	c->info.acks_sent++;
	p->tot.acks_sent++;
	send_cmds(p, c, link);
}

static void save_dirty(struct gw_pipeline *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct collar *c = &p->c[i];
		if (!c->dirty)
			continue;
		struct gw_spool_collar sc = {c->info.collar_id, c->info.has_replay, c->info.boot_id, c->info.link_seq,
		                             c->info.cum};
		if (gw_spool_collar_save(p->spool, &sc) < 0)
			return;
		c->dirty = 0;
	}
}

static int commit(struct gw_pipeline *p, uint64_t now_ms)
{
	p->last_commit_ms = now_ms;
	save_dirty(p);
	int err = gw_spool_commit(p->spool);
	if (err < 0)
		gw_log(GW_LOG_ERR, "pipeline", "commit failed (%d): records not ACKed", err);
	return err;
}

/* Commit and ACK whatever is due. */
static void service(struct gw_pipeline *p, const struct gw_now *now, int force)
{
	int need = force || p->urgent || (p->commit_due && now->mono_ms >= p->commit_due) ||
	           p->n_pend >= p->o.commit_max;
	int gap_ok = now->mono_ms >= p->last_commit_ms + p->o.commit_gap_ms;
	for (size_t i = 0; i < p->n_armed && !need; i++) {
		struct collar *c = &p->c[p->armed[i]];
		if ((c->ack_now || (c->ack_due && now->mono_ms >= c->ack_due)) && c->n_pending)
			need = 1;
		if (p->o.early_commit && gap_ok && c->n_pending && c->ack_count + c->n_pending >= p->o.ack_every)
			need = 1;
	}
	p->urgent = 0;
	if (need && gw_spool_pending(p->spool))
		commit(p, now->mono_ms);
	size_t k = 0;
	for (size_t i = 0; i < p->n_armed; i++) {
		struct collar *c = &p->c[p->armed[i]];
		if (c->ack_now || force || (c->ack_due && now->mono_ms >= c->ack_due)) {
			if (c->ack_now || c->ack_due)
				send_ack(p, c, now);
		}
		if (c->ack_due || c->ack_now)
			p->armed[k++] = p->armed[i];
		else
			c->armed = 0;
	}
	p->n_armed = k;
}

/* --- one frame --------------------------------------------------------------------------------------- */

static int radio_type(unsigned t)
{
	return t == PROTO_T_HELLO || t == PROTO_T_FIX || t == PROTO_T_FIXB || t == PROTO_T_IND ||
	       t == PROTO_T_STATUS || t == PROTO_T_CMD_ACK || t == PROTO_T_GONE;
}

static void reject_link(struct gw_pipeline *p, unsigned link, int code, size_t len, const struct gw_now *now,
                        const char *detail)
{
	struct gw_link_rx *rx = &p->rx[link];
	rx->err_by[err_slot(code)]++;
	rx->rejected++;
	gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "link",
	               "link %u byte %llu: %zu-byte frame rejected: %s [%s]%s", link,
	               (unsigned long long)p->link_off[link], len, proto_strerror(code), proto_errname(code),
	               detail ? detail : "");
}

static int replay_ok(const struct collar *c, uint16_t boot, uint16_t seq)
{
	if (!c->info.has_replay || boot > c->info.boot_id)
		return 1;
	if (boot < c->info.boot_id)
		return 0;
	if (seq > c->info.link_seq)
		return 1;
	unsigned d = (unsigned)(c->info.link_seq - seq);
	return d < 64u && !(c->rwin >> d & 1u);
}

static void replay_accept(struct gw_pipeline *p, struct collar *c, uint16_t boot, uint16_t seq)
{
	if (!c->info.has_replay || boot > c->info.boot_id) {
		c->info.has_replay = 1;
		c->info.boot_id = boot;
		c->info.link_seq = seq;
		c->rwin = 1;
	} else if (seq > c->info.link_seq) {
		unsigned d = (unsigned)(seq - c->info.link_seq);
		c->info.lost += d - 1u;
		p->tot.lost += d - 1u;
		c->rwin = d >= 64u ? 1u : c->rwin << d | 1u;
		c->info.link_seq = seq;
	} else {
		c->rwin |= 1ull << (c->info.link_seq - seq);
		if (c->info.lost) {
			c->info.lost--; /* a late frame filled a gap counted as lost */
			p->tot.lost--;
		}
	}
	c->info.heard++;
	c->dirty = 1;
}

/* Store one record; returns 1 stored, 0 duplicate, <0 refused/error (counted). */
static int put_record(struct gw_pipeline *p, struct collar *c, unsigned link, uint8_t type, int has_seq,
                      uint32_t seq, const uint8_t *body, size_t blen, const struct gw_rx_meta *meta,
                      const struct gw_now *now)
{
	if (has_seq && ((seq && seq <= c->info.cum) || win_get(c, seq))) {
		c->info.duplicates++;
		p->tot.duplicates++;
		c->ack_count++; /* durable already: the collar missed our ACK */
		arm(p, c, now->mono_ms);
		if (c->ack_count >= p->o.ack_every)
			c->ack_now = 1;
		return 0;
	}
	struct gw_spool_rec r = {0};
	r.collar_id = c->info.collar_id;
	r.type = type;
	r.has_seq = (uint8_t)has_seq;
	r.rec_seq = seq;
	r.rx_ms = now->utc_ms;
	r.link = (uint8_t)link;
	if (meta) {
		r.has_rssi = meta->has_rssi;
		r.rssi_dbm = meta->rssi_dbm;
		r.has_snr = meta->has_snr;
		r.snr_db10 = meta->snr_db10;
	}
	r.body = body;
	r.body_len = blen;
	int res = gw_spool_put(p->spool, &r);
	if (res == 1) {
		c->info.records++;
		p->tot.records++;
		if (has_seq) {
			if (!p->n_pend && !p->commit_due)
				p->commit_due = now->mono_ms + p->o.commit_ms;
			p->pend[p->n_pend].idx = (uint16_t)(c - p->c);
			p->pend[p->n_pend].rec_seq = seq;
			p->n_pend++;
			c->n_pending++;
			touch(p, c);
			arm(p, c, now->mono_ms);
		} else if (!p->commit_due) {
			p->commit_due = now->mono_ms + p->o.commit_ms;
		}
		return 1;
	}
	if (res == 0) {
		c->info.duplicates++;
		p->tot.duplicates++;
		if (has_seq)
			arm(p, c, now->mono_ms); /* pending or already stored: ACK once durable */
		return 0;
	}
	c->info.refused++;
	p->tot.refused++;
	if (res != -ENOSPC)
		p->tot.spool_errors++;
	gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "spool",
	               "collar %u %s rec_seq %u not stored (%s): not ACKed, the collar keeps it", c->info.collar_id,
	               proto_type_name(type), seq, res == -ENOSPC ? "disk budget reached" : "spool error");
	return res;
}

/*
 * GONE: the collar can never send these rec_seqs (thinned, dropped). Each one above cum and inside the ring
 * that is neither durable (ring bit) nor waiting in the open transaction is settled: its ring bit is set,
 * as for a durable record, so cum moves over it and the ACK's sack may name it (the collar holds nothing
 * there to confuse). Counted as thinned. Rec_seqs beyond the ring are left: the collar repeats the
 * statement while the ACK shows cum stalled. Ring bits are not persisted (cum is): after a restart below a
 * gap, the collar's repeat settles it again. Not written to the spool: BATCH has no record kind for it.
 */
static void gone_apply(struct gw_pipeline *p, struct collar *c, unsigned link, const struct proto_gone *g,
                       const struct gw_now *now)
{
	uint64_t pending[ACK_WORDS] = {0}; /* ring bit: rec_seq received, commit still open */
	uint64_t top = (uint64_t)c->info.cum + GW_ACK_WIN, settled = 0;
	uint16_t idx = (uint16_t)(c - p->c);

	for (unsigned i = 0; i < p->n_pend; i++) {
		uint32_t seq = p->pend[i].rec_seq;
		if (p->pend[i].idx == idx && seq > c->info.cum && seq <= top)
			pending[(seq % GW_ACK_WIN) / 64u] |= 1ull << (seq % GW_ACK_WIN % 64u);
	}
	/* at most the ring's width: a statement about rec_seqs long settled costs nothing */
	uint64_t from = g->first > c->info.cum ? g->first : (uint64_t)c->info.cum + 1u;
	for (uint64_t s = from; s <= (uint64_t)g->last + 2u + 63u && s <= top; s++) {
		if (s > g->last && (s == (uint64_t)g->last + 1u || !((g->map >> (s - g->last - 2u)) & 1u)))
			continue;
		uint32_t seq = (uint32_t)s;
		unsigned b = seq % GW_ACK_WIN;
		if (seq <= c->info.cum || win_get(c, seq) || (pending[b / 64u] >> (b % 64u) & 1u))
			continue;
		win_put(c, seq, 1);
		settled++;
	}
	c->info.thinned += settled;
	p->tot.thinned += settled;
	if (settled)
		gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_NOTE, "pipeline",
		               "collar %u: %llu rec_seq(s) in %u..%u%s gone on the collar (thinned): settled, cum %u",
		               c->info.collar_id, (unsigned long long)settled, g->first, g->last, g->map ? " (+map)" : "",
		               c->info.cum);
	if (!gw_spool_pending(p->spool))
		win_advance(p, c); /* else the commit callback advances it (the ring refill must see durable rows) */
	c->ack_now = 1;     /* tell the collar the new cum at once: its next statement starts there */
	arm(p, c, now->mono_ms);
}

static void malformed(struct gw_pipeline *p, struct collar *c, unsigned link, int code,
                      const struct proto_msg_err *where, const struct gw_now *now)
{
	char why[160];
	proto_msg_err_format(where, why, sizeof why);
	c->info.malformed++;
	c->info.malformed_by[err_slot(code)]++;
	p->tot.malformed++;
	gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "frame", "link %u byte %llu: collar %u: body refused: %s",
	               link, (unsigned long long)p->link_off[link], c->info.collar_id, why);
}

static void frame_in(struct gw_pipeline *p, unsigned link, const uint8_t *f, size_t len,
                     const struct gw_rx_meta *meta, const struct gw_now *now)
{
	struct gw_link_rx *rx = &p->rx[link];
	struct proto_hdr h;
	const uint8_t *body;
	size_t blen;
	int err = proto_frame_check(f, len, &h, &body, &blen);
	if (err == PROTO_EFRAME_EMPTY)
		return;
	if (err < 0) {
		if (err == PROTO_EFRAME_CRC && len >= PROTO_HDR_LEN) {
			uint16_t claimed = (uint16_t)(f[2] | f[3] << 8);
			uint16_t i = p->idx_of[claimed];
			if (i)
				p->c[i - 1].info.crc_fail++;
			p->tot.crc_fail++;
		}
		reject_link(p, link, err, len, now, NULL);
		return;
	}
	if (!radio_type(h.type) || (h.flags & PROTO_F_FRAG)) {
		reject_link(p, link, radio_type(h.type) ? PROTO_EFRAME_FLAGS : PROTO_EFRAME_TYPE, len, now,
		            radio_type(h.type) ? " (FRAG is for the dock)" : " (not a collar-to-gateway type)");
		return;
	}
	uint16_t ci = p->idx_of[h.collar_id];
	if (!ci) {
		rx->unknown_collar++;
		p->tot.unknown_collar++;
		p->tot.last_unknown_collar = h.collar_id;
		gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "frame",
		               "link %u byte %llu: %s frame from collar %u, which is not in the key table: dropped", link,
		               (unsigned long long)p->link_off[link], proto_type_name(h.type), h.collar_id);
		return;
	}
	struct collar *c = &p->c[ci - 1];
	if (!replay_ok(c, h.boot_id, h.link_seq)) {
		c->info.replays++;
		p->tot.replays++;
		gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "frame",
		               "link %u byte %llu: collar %u: replayed or stale frame (boot_id %u link_seq %u; window at %u/%u)",
		               link, (unsigned long long)p->link_off[link], h.collar_id, h.boot_id, h.link_seq,
		               c->info.boot_id, c->info.link_seq);
		return;
	}
	err = proto_frame_verify(f, len, &c->key);
	if (err < 0) {
		c->info.auth_fail++;
		p->tot.auth_fail++;
		gw_log_limited(&p->lim[link], now->mono_ms, GW_LOG_WARN, "frame", "link %u byte %llu: collar %u: %s [%s]",
		               link, (unsigned long long)p->link_off[link], h.collar_id, proto_strerror(err),
		               proto_errname(err));
		return;
	}
	/* Authentic from here on. */
	replay_accept(p, c, h.boot_id, h.link_seq);
	c->info.last_link = (uint8_t)link;
	c->info.has_seen = 1;
	c->info.last_seen_utc_ms = now->utc_ms;
	if (meta && meta->has_rssi) {
		c->info.has_rssi = 1;
		c->info.rssi_dbm = meta->rssi_dbm;
	}
	if (meta && meta->has_snr) {
		c->info.has_snr = 1;
		c->info.snr_db10 = meta->snr_db10;
	}
	touch(p, c); /* the replay state moved: persist it with the next commit */

	struct proto_msg_err where;
	err = proto_msg_decode(h.type, body, blen, &p->msg, &where);
	if (err < 0) {
		malformed(p, c, link, err, &where, now);
		return;
	}
	c->info.frames_ok++;
	p->tot.frames_ok++;
	rx->frames_ok++;
	if (h.type == PROTO_T_IND || (h.flags & PROTO_F_ACKREQ)) {
		c->ack_now = 1;
		p->urgent = 1;
		arm(p, c, now->mono_ms);
	}

	gw_spool_frame_begin(p->spool, f, len);
	switch (h.type) {
	case PROTO_T_FIX:
		put_record(p, c, link, PROTO_T_FIX, 1, p->msg.u.fix.rec_seq, body, blen, meta, now);
		break;
	case PROTO_T_IND:
		put_record(p, c, link, PROTO_T_IND, 1, p->msg.u.ind.rec_seq, body, blen, meta, now);
		break;
	case PROTO_T_FIXB:
		for (unsigned i = 0; i < p->msg.u.fixb.n; i++) {
			size_t fl;
			err = proto_fix_encode(&p->msg.u.fixb.fix[i], p->body, sizeof p->body, &fl);
			if (err < 0) {
				/* Cannot happen for a fix the decoder validated; counted as malformed if it ever does. */
				memset(&where, 0, sizeof where);
				where.code = err;
				where.type = PROTO_T_FIXB;
				where.index = (int16_t)i;
				where.key = -1;
				malformed(p, c, link, err, &where, now);
				continue;
			}
			put_record(p, c, link, PROTO_T_FIX, 1, p->msg.u.fixb.fix[i].rec_seq, p->body, fl, meta, now);
		}
		break;
	case PROTO_T_HELLO: {
		const struct proto_hello *hl = &p->msg.u.hello;
		c->info.fw_schema = hl->schema;
		if (hl->has & PROTO_HELLO_HAS_BATT) {
			c->info.has_batt = 1;
			c->info.batt_mv = hl->batt_mv;
		}
		/* Everything below the journal's oldest record is stored or gone for good: either way the
		 * collar has nothing more to send there, so the ack point may move over it. */
		uint32_t floor = hl->oldest_seq ? hl->oldest_seq - 1u : (hl->next_seq ? hl->next_seq - 1u : 0u);
		/* ... and everything <= its ack_cum was acked by some gateway (this one's spool may be new) */
		if ((hl->has & PROTO_HELLO_HAS_ACKCUM) && hl->ack_cum > floor)
			floor = hl->ack_cum;
		if (floor > c->hello_floor)
			c->hello_floor = floor;
		arm(p, c, now->mono_ms);
		put_record(p, c, link, PROTO_T_HELLO, 0, 0, body, blen, meta, now);
		break;
	}
	case PROTO_T_STATUS:
		if (p->msg.u.status.has & PROTO_STATUS_HAS_BATT) {
			c->info.has_batt = 1;
			c->info.batt_mv = p->msg.u.status.batt_mv;
		}
		put_record(p, c, link, PROTO_T_STATUS, 0, 0, body, blen, meta, now);
		break;
	case PROTO_T_CMD_ACK: {
		/* answered: stop sending that CMD (the CMD_ACK itself goes upstream through the spool) */
		unsigned k = 0;
		for (unsigned i = 0; i < c->n_cmd; i++) {
			if (c->cmdq[i].cmd_id == p->msg.u.cmd_ack.cmd_id)
				p->tot.cmd_acks++;
			else
				c->cmdq[k++] = c->cmdq[i];
		}
		c->n_cmd = (uint8_t)k;
		put_record(p, c, link, PROTO_T_CMD_ACK, 0, 0, body, blen, meta, now);
		break;
	case PROTO_T_GONE:
		gone_apply(p, c, link, &p->msg.u.gone, now);
		break;
	}
	}
}

int gw_pipeline_input(struct gw_pipeline *p, unsigned link, const uint8_t *buf, size_t len,
                      const struct gw_rx_meta *meta, const struct gw_now *now)
{
	if (link >= GW_LINKS_MAX)
		return -EINVAL;
	struct gw_link_rx *rx = &p->rx[link];
	rx->bytes += len;
	while (len) {
		size_t used = 0, flen = 0;
		int r = proto_deframer_push(&p->df[link], buf, len, &used, p->frame, sizeof p->frame, &flen);
		buf += used;
		len -= used;
		p->link_off[link] += used;
		if (r == 1) {
			rx->candidates++;
			frame_in(p, link, p->frame, flen, meta, now);
			/* Between frames only: a frame's records must commit together (batches never split a frame). */
			if (p->n_pend >= p->o.commit_max)
				commit(p, now->mono_ms);
		} else if (r < 0) {
			rx->candidates++;
			reject_link(p, link, r, 0, now, NULL);
		}
	}
	service(p, now, 0);
	return 0;
}

void gw_pipeline_link_reset(struct gw_pipeline *p, unsigned link)
{
	if (link < GW_LINKS_MAX)
		proto_deframer_init(&p->df[link]);
}

int gw_pipeline_tick(struct gw_pipeline *p, const struct gw_now *now, uint64_t *next_mono_ms)
{
	service(p, now, 0);
	uint64_t next = UINT64_MAX;
	if (p->commit_due && p->commit_due < next)
		next = p->commit_due;
	for (size_t i = 0; i < p->n_armed; i++) {
		const struct collar *c = &p->c[p->armed[i]];
		uint64_t d = c->ack_now ? now->mono_ms : c->ack_due;
		if (p->o.early_commit && c->n_pending && c->ack_count + c->n_pending >= p->o.ack_every &&
		    p->last_commit_ms + p->o.commit_gap_ms < d)
			d = p->last_commit_ms + p->o.commit_gap_ms;
		if (d && d < next)
			next = d;
	}
	if (next_mono_ms)
		*next_mono_ms = next;
	return 0;
}

int gw_pipeline_flush(struct gw_pipeline *p, const struct gw_now *now)
{
	int err = commit(p, now->mono_ms);
	service(p, now, 1);
	/* cum moved in the commit callback: persist it too, so a restart starts from the ACKs just sent. */
	int err2 = commit(p, now->mono_ms);
	return err < 0 ? err : err2;
}

const struct gw_pipeline_totals *gw_pipeline_totals(const struct gw_pipeline *p)
{
	return &p->tot;
}

const struct gw_link_rx *gw_pipeline_link_rx(const struct gw_pipeline *p, unsigned link)
{
	return link < GW_LINKS_MAX ? &p->rx[link] : NULL;
}

size_t gw_pipeline_collar_count(const struct gw_pipeline *p)
{
	return p->n;
}

const struct gw_collar_info *gw_pipeline_collar_at(const struct gw_pipeline *p, size_t i)
{
	return i < p->n ? &p->c[i].info : NULL;
}

unsigned gw_collar_loss_bp(const struct gw_collar_info *c)
{
	uint64_t d = c->lost + c->heard;
	return d ? (unsigned)(c->lost * 10000u / d) : 0u;
}
