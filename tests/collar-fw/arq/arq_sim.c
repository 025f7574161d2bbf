/*
 * tests/collar-fw/arq/arq_sim.c — channel, model gateway and scenario runner (arq_sim.h).
 *
 * Airtime model (stated in every report): a frame of w wire bytes (COBS-stuffed, both 0x00 delimiters)
 * occupies the single half-duplex medium for ceil((w + pkt_overhead) * bits_per_byte * 1000 / bps) ms.
 * Both ends listen before talking: a side transmits only when the medium is idle, and the gateway goes
 * first when both want to (its ACKs unblock the collar). There are no collisions (one collar per channel in
 * the simulation; several collars would need the gateway to schedule them, see the report).
 */
#include "arq_sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf/journal.h"
#include "hal/flash_emul.h"
#include "proto/msg.h"

const uint8_t arq_key[PROTO_KEY_LEN] = {
	0x5c, 0x01, 0x7a, 0x33, 0x90, 0x12, 0xfe, 0x44, 0x08, 0xb1, 0x2d, 0x6e, 0x71, 0x00, 0x9a, 0xc3,
	0x1f, 0x85, 0x4b, 0x62, 0xe0, 0x37, 0xd9, 0x11, 0xaa, 0x5e, 0x03, 0x7c, 0xc8, 0x26, 0x94, 0xbf,
};

#define UTC_BASE_MS 1709251200000ull /* 2024-03-01T00:00:00Z */
#define PAGE_SIZE 4096u
#define QMAX 1024u
#define GW_ACK_RECS 4u
#define GW_ACK_DELAY_MS 100u
#define GW_CMD_RETRY_MS 3000u

uint64_t arq_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double arq_uniform(uint64_t *s)
{
	return (double)(arq_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(uint64_t *s)
{
	double u1 = arq_uniform(s), u2 = arq_uniform(s);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

struct arq_chan_cfg arq_chan_uart9600(void)
{
	/* transparent serial radio modem at 9600 baud, 8N1: 10 bits per byte, no packet overhead modelled */
	struct arq_chan_cfg c = {.bps = 9600, .bits_per_byte = 10, .pkt_overhead = 0, .latency_ms = 5};
	return c;
}

struct arq_chan_cfg arq_chan_lora5k(void)
{
	/* LoRa-like: SF7/BW125 CR4/5 carries ~5.5 kbit/s; 5 kbit/s of payload, and 8 byte-equivalents per packet
	 * for preamble (8 + 4.25 symbols) and the explicit PHY header */
	struct arq_chan_cfg c = {.bps = 5000, .bits_per_byte = 8, .pkt_overhead = 8, .latency_ms = 2};
	return c;
}

/* ---- channel ---------------------------------------------------------------------------------------- */

struct delivery {
	uint32_t t;
	uint8_t dir; /* 0 collar→gw, 1 gw→collar */
	uint16_t len;
	uint8_t b[PROTO_WIRE_MAX + 64];
};

struct chan {
	struct arq_chan_cfg c;
	uint64_t rng;
	int ge_bad;
	uint32_t busy_until;
	struct delivery q[QMAX];
	unsigned n;
	struct arq_chan_stats st;
};

static uint32_t airtime_ms(const struct chan *ch, size_t wire)
{
	uint64_t bits = (uint64_t)(wire + ch->c.pkt_overhead) * ch->c.bits_per_byte;
	return (uint32_t)((bits * 1000u + ch->c.bps - 1u) / ch->c.bps);
}

static void chan_enqueue(struct chan *ch, uint32_t t, int dir, const uint8_t *b, size_t len)
{
	if (ch->n == QMAX)
		return; /* cannot happen at these rates; a full queue would be a lost frame */
	struct delivery *d = &ch->q[ch->n++];
	d->t = t;
	d->dir = (uint8_t)dir;
	d->len = (uint16_t)len;
	memcpy(d->b, b, len);
}

/* Put a frame on the medium at now (the caller checked it is idle). */
static void chan_send(struct chan *ch, uint32_t now, int dir, const uint8_t *b, size_t len)
{
	uint32_t end = now + airtime_ms(ch, len);
	int lost = 0;

	ch->busy_until = end;
	ch->st.busy_ms += end - now;
	ch->st.frames[dir]++;
	ch->st.wire_bytes[dir] += len;
	ch->st.air_bytes[dir] += len + ch->c.pkt_overhead;
	for (unsigned i = 0; i < ch->c.n_outage; i++)
		if (end > ch->c.outage[i].start_ms && now < ch->c.outage[i].end_ms)
			lost = 1;
	if (ch->c.ge_p_gb > 0) {
		if (ch->ge_bad)
			ch->ge_bad = arq_uniform(&ch->rng) >= ch->c.ge_p_bg;
		else
			ch->ge_bad = arq_uniform(&ch->rng) < ch->c.ge_p_gb;
		if (ch->ge_bad && arq_uniform(&ch->rng) < ch->c.ge_loss_bad)
			lost = 1;
	}
	if (ch->c.p_loss > 0 && arq_uniform(&ch->rng) < ch->c.p_loss)
		lost = 1;
	if (lost) {
		ch->st.lost[dir]++;
		return;
	}
	uint8_t copy[PROTO_WIRE_MAX + 64];
	memcpy(copy, b, len);
	if (ch->c.ber > 0) {
		int flipped = 0;
		for (size_t i = 0; i < len * 8u; i++)
			if (arq_uniform(&ch->rng) < ch->c.ber) {
				copy[i / 8u] ^= (uint8_t)(1u << (i % 8u));
				flipped = 1;
			}
		ch->st.corrupted[dir] += (uint32_t)flipped;
	}
	uint32_t t = end + ch->c.latency_ms;
	if (ch->c.p_reorder > 0 && arq_uniform(&ch->rng) < ch->c.p_reorder) {
		t += ch->c.reorder_ms;
		ch->st.reordered[dir]++;
	}
	chan_enqueue(ch, t, dir, copy, len);
	if (ch->c.p_dup > 0 && arq_uniform(&ch->rng) < ch->c.p_dup) {
		chan_enqueue(ch, t + 1u + (uint32_t)(arq_rand(&ch->rng) % 500u), dir, copy, len);
		ch->st.duplicated[dir]++;
	}
}

/* Earliest pending delivery time, or UINT32_MAX. */
static uint32_t chan_next(const struct chan *ch)
{
	uint32_t t = UINT32_MAX;
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->q[i].t < t)
			t = ch->q[i].t;
	return t;
}

/* Pop one delivery due at or before now (earliest first); 0 if none. */
static int chan_pop(struct chan *ch, uint32_t now, struct delivery *out)
{
	unsigned best = QMAX;
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->q[i].t <= now && (best == QMAX || ch->q[i].t < ch->q[best].t))
			best = i;
	if (best == QMAX)
		return 0;
	*out = ch->q[best];
	ch->q[best] = ch->q[--ch->n];
	return 1;
}

/* ---- model gateway ------------------------------------------------------------------------------------ */

struct truth {
	uint8_t type; /* 0 = no such record */
	uint32_t gen_ms;
	uint8_t gen_up; /* the link was up when it was generated */
	union {
		struct proto_fix fix;
		struct proto_ind ind;
	} m;
};

struct gw {
	uint16_t collar_id;
	struct proto_hmac_key key;
	struct proto_deframer df;
	uint8_t frame[PROTO_COBS_MAX(PROTO_FRAME_MAX)];
	uint8_t credit;
	uint16_t boot_id, link_seq; /* the gateway's own header counters */
	/* replay window for the collar's (boot_id, link_seq) */
	int have_boot;
	uint16_t c_boot;
	uint16_t c_hi;
	uint64_t c_seen;
	/* store */
	const struct truth *truth;
	uint32_t n_truth; /* rec_seq 1..n_truth-1 may exist */
	uint8_t *stored;
	uint8_t *gone;
	uint32_t *order;
	uint32_t *t_store;
	uint32_t order_ctr;
	uint32_t cum;
	/* ack policy */
	uint32_t pending;
	int ack_due;
	uint32_t ack_due_ms;
	/* commands */
	int cmd_pending;
	struct proto_cmd cmd;
	uint32_t cmd_next_ms;
	struct arq_result *r;
};

static int fix_equal(const struct proto_fix *a, const struct proto_fix *b)
{
	return a->has == b->has && a->rec_seq == b->rec_seq && a->t_ms == b->t_ms && a->t_mono_ms == b->t_mono_ms &&
	       a->lat_e7 == b->lat_e7 && a->lon_e7 == b->lon_e7 && a->alt_mm == b->alt_mm &&
	       a->h_acc_mm == b->h_acc_mm && a->hdop_c == b->hdop_c && a->sog_cms == b->sog_cms &&
	       a->cog_cdeg == b->cog_cdeg && a->gga_q == b->gga_q && a->faa_mode == b->faa_mode &&
	       a->fix_dim == b->fix_dim && a->nsat == b->nsat && a->tq == b->tq;
}

static int ind_equal(const struct proto_ind *a, const struct proto_ind *b)
{
	return a->has == b->has && a->rec_seq == b->rec_seq && a->t_ms == b->t_ms && a->t_mono_ms == b->t_mono_ms &&
	       a->dur_ms == b->dur_ms && a->lat_e7 == b->lat_e7 && a->lon_e7 == b->lon_e7 &&
	       a->h_acc_mm == b->h_acc_mm && a->fix_ref == b->fix_ref && a->kind == b->kind &&
	       a->conf_pct == b->conf_pct && a->src == b->src;
}

static void gw_advance(struct gw *g)
{
	while (g->cum + 1u < g->n_truth && (g->stored[g->cum + 1u] || g->gone[g->cum + 1u]))
		g->cum++;
}

/* GONE: the collar can never send these; settle the ones not stored (like the real gateway's ring). */
static void gw_gone(struct gw *g, const struct proto_gone *m)
{
	for (uint64_t s = m->first; s <= (uint64_t)m->last + 65u; s++) {
		if (s > m->last && (s == (uint64_t)m->last + 1u || !((m->map >> (s - m->last - 2u)) & 1u)))
			continue;
		if (s >= g->n_truth || g->truth[s].type == 0) {
			g->r->invented++;
			continue;
		}
		if (g->stored[s] || g->gone[s])
			continue;
		g->gone[s] = 1;
		g->r->gw_gone++;
	}
	gw_advance(g);
}

static void gw_store(struct gw *g, uint32_t now, uint32_t rec, uint8_t type, const void *m)
{
	if (rec == 0 || rec >= g->n_truth || g->truth[rec].type == 0) {
		g->r->invented++;
		return;
	}
	if (g->stored[rec]) {
		g->r->dup_records++;
	} else {
		if (g->gone[rec])
			g->r->gone_late++;
		g->stored[rec] = 1;
		g->order[rec] = ++g->order_ctr;
		g->t_store[rec] = now;
		g->r->stored++;
		int same = g->truth[rec].type == type &&
		           (type == PROTO_T_FIX ? fix_equal(m, &g->truth[rec].m.fix) : ind_equal(m, &g->truth[rec].m.ind));
		if (!same)
			g->r->mismatches++;
		gw_advance(g);
	}
	g->pending++;
}

static void gw_frame(struct gw *g, uint32_t now, size_t flen)
{
	struct proto_hdr h;
	const uint8_t *body;
	size_t blen;
	static struct proto_msg m; /* big (BATCH member); one at a time */

	if (proto_frame_check(g->frame, flen, &h, &body, &blen) != 0) {
		g->r->gw_bad_crc++;
		return;
	}
	if (h.collar_id != g->collar_id) {
		g->r->gw_bad_tag++;
		return;
	}
	/* replay window (IPsec style, 64 frames): checked before the tag, updated only after it */
	int fresh_boot = !g->have_boot || h.boot_id > g->c_boot;
	if (!fresh_boot) {
		if (h.boot_id < g->c_boot) {
			g->r->replays++;
			return;
		}
		if ((int16_t)(h.link_seq - g->c_hi) <= 0) {
			uint16_t back = (uint16_t)(g->c_hi - h.link_seq);
			if (back >= 64u || (g->c_seen >> back) & 1u) {
				g->r->replays++;
				return;
			}
		}
	}
	if (proto_frame_verify(g->frame, flen, &g->key) != 0) {
		g->r->gw_bad_tag++;
		return;
	}
	if (fresh_boot) {
		g->have_boot = 1;
		g->c_boot = h.boot_id;
		g->c_hi = h.link_seq;
		g->c_seen = 1;
	} else if ((int16_t)(h.link_seq - g->c_hi) > 0) {
		uint16_t fwd = (uint16_t)(h.link_seq - g->c_hi);
		g->c_seen = fwd >= 64u ? 1u : (g->c_seen << fwd) | 1u;
		g->c_hi = h.link_seq;
	} else {
		g->c_seen |= 1ull << (uint16_t)(g->c_hi - h.link_seq);
	}
	if (proto_msg_decode(h.type, body, blen, &m, NULL) != 0) {
		g->r->gw_bad_msg++;
		return;
	}
	switch (h.type) {
	case PROTO_T_HELLO:
		g->r->hellos++;
		/* nothing below oldest can ever come: the store's cum may jump to it */
		{
			uint32_t floor = m.u.hello.oldest_seq ? m.u.hello.oldest_seq - 1u : 0u;
			if ((m.u.hello.has & PROTO_HELLO_HAS_ACKCUM) && m.u.hello.ack_cum > floor)
				floor = m.u.hello.ack_cum;
			/* below the floor the collar holds nothing un-acked: what the store lacks there was thinned */
			for (uint32_t q = g->cum + 1u; q <= floor && q < g->n_truth; q++)
				if (!g->stored[q] && !g->gone[q]) {
					g->gone[q] = 2;
					g->r->gw_floor++;
				}
			if (floor > g->cum)
				g->cum = floor;
		}
		gw_advance(g);
		g->ack_due = 1;
		g->ack_due_ms = now;
		return;
	case PROTO_T_FIX:
		gw_store(g, now, m.u.fix.rec_seq, PROTO_T_FIX, &m.u.fix);
		break;
	case PROTO_T_FIXB:
		for (unsigned i = 0; i < m.u.fixb.n; i++)
			gw_store(g, now, m.u.fixb.fix[i].rec_seq, PROTO_T_FIX, &m.u.fixb.fix[i]);
		break;
	case PROTO_T_IND:
		gw_store(g, now, m.u.ind.rec_seq, PROTO_T_IND, &m.u.ind);
		break;
	case PROTO_T_STATUS:
		g->r->statuses++;
		return;
	case PROTO_T_GONE:
		gw_gone(g, &m.u.gone);
		g->ack_due = 1;
		g->ack_due_ms = now;
		return;
	case PROTO_T_CMD_ACK:
		if (g->cmd_pending && m.u.cmd_ack.cmd_id == g->cmd.cmd_id && m.u.cmd_ack.result == PROTO_RES_DONE) {
			g->cmd_pending = 0;
			g->r->cmd_acks_ok++;
		}
		return;
	default:
		g->r->gw_bad_msg++;
		return;
	}
	if (!g->ack_due) {
		g->ack_due = 1;
		g->ack_due_ms = now + GW_ACK_DELAY_MS;
	}
	if (g->pending >= GW_ACK_RECS)
		g->ack_due_ms = now;
}

static void gw_rx(struct gw *g, uint32_t now, const uint8_t *b, size_t len)
{
	size_t used, flen;
	while (len) {
		int r = proto_deframer_push(&g->df, b, len, &used, g->frame, sizeof g->frame, &flen);
		b += used;
		len -= used;
		if (r < 0)
			g->r->gw_bad_crc++;
		else if (r == 1)
			gw_frame(g, now, flen);
		else
			break;
	}
}

/* The gateway's next frame, if the medium is free: a due ACK first, then a CMD (re)send. */
static int gw_poll(struct gw *g, uint32_t now, uint8_t *out, size_t *len)
{
	uint8_t body[PROTO_BODY_MAX];
	struct proto_hdr h = {.type = 0, .collar_id = g->collar_id, .boot_id = g->boot_id};
	size_t blen;

	if (g->ack_due && now >= g->ack_due_ms) {
		struct proto_ack a = {.has = PROTO_ACK_HAS_GWT | PROTO_ACK_HAS_CREDIT, .cum = g->cum,
		                      .gw_ms = UTC_BASE_MS + now, .credit = g->credit};
		for (unsigned i = 0; i < 64u; i++) {
			uint32_t r = g->cum + 1u + i;
			if (r < g->n_truth && (g->stored[r] || g->gone[r]))
				a.sack |= 1ull << i;
		}
		if (proto_ack_encode(&a, body, sizeof body, &blen) != 0)
			return -1;
		h.type = PROTO_T_ACK;
		g->ack_due = 0;
		g->pending = 0;
		g->r->acks_sent++;
	} else if (g->cmd_pending && now >= g->cmd_next_ms) {
		if (proto_cmd_encode(&g->cmd, body, sizeof body, &blen) != 0)
			return -1;
		h.type = PROTO_T_CMD;
		g->cmd_next_ms = now + GW_CMD_RETRY_MS;
		if (g->cmd.retry < 255)
			g->cmd.retry++;
	} else {
		return 0;
	}
	h.link_seq = g->link_seq++;
	if (proto_frame_encode(&h, body, blen, &g->key, out, PROTO_WIRE_MAX, len) != 0)
		return -1;
	return 1;
}

static uint32_t gw_deadline(const struct gw *g)
{
	uint32_t t = UINT32_MAX;
	if (g->ack_due)
		t = g->ack_due_ms;
	if (g->cmd_pending && g->cmd_next_ms < t)
		t = g->cmd_next_ms;
	return t;
}

/* ---- the collar application --------------------------------------------------------------------------- */

struct walker {
	uint64_t rng;
	double x_m, y_m;      /* true position in the box, metres east/north of the origin */
	double vx, vy;
	double ex, ey;        /* GNSS error (AR(1), metres) */
	double hdop;
	int nsat;
};

struct app {
	uint32_t exec[4096]; /* executions per cmd_id */
	uint32_t last_period_ms;
};

static uint8_t app_cmd(void *ctx, const struct proto_cmd *c, uint32_t now_ms)
{
	struct app *a = ctx;
	(void)now_ms;
	if (c->cmd_id < 4096u)
		a->exec[c->cmd_id]++;
	if (c->op == PROTO_OP_SET_RATE) {
		a->last_period_ms = c->period_ms;
		return PROTO_RES_DONE;
	}
	return PROTO_RES_UNSUPPORTED;
}

static void walker_fix(struct walker *w, uint32_t t_ms, uint32_t dt_ms, struct proto_fix *f)
{
	const double lat0 = -25.9655, lon0 = 32.5832; /* a field south of Maputo */
	const double m_per_e7_lat = 0.011132, m_per_e7_lon = 0.011132 * cos(lat0 * 3.14159265358979 / 180.0);
	double dt = dt_ms / 1000.0;

	/* a rat on a rope: 0.3 m/s along a 20 m lane, turning at each end, with a little wander */
	if (w->vx == 0 && w->vy == 0)
		w->vx = 0.3;
	w->x_m += w->vx * dt;
	w->y_m += w->vy * dt + 0.02 * gauss(&w->rng);
	if (w->x_m > 20.0 || w->x_m < 0.0) {
		w->vx = -w->vx;
		w->y_m += 0.5; /* next lane */
	}
	w->ex = 0.97 * w->ex + 0.08 * gauss(&w->rng);
	w->ey = 0.97 * w->ey + 0.08 * gauss(&w->rng);
	if (arq_uniform(&w->rng) < 0.01)
		w->nsat += arq_uniform(&w->rng) < 0.5 ? -1 : 1;
	if (w->nsat < 6)
		w->nsat = 6;
	w->hdop += 0.01 * gauss(&w->rng);
	if (w->hdop < 0.6)
		w->hdop = 0.6;
	memset(f, 0, sizeof *f);
	f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_ALT | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q |
	         PROTO_FIX_HAS_MODE | PROTO_FIX_HAS_DIM | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_SOG | PROTO_FIX_HAS_COG;
	f->t_ms = UTC_BASE_MS + t_ms;
	f->lat_e7 = (int32_t)lround(lat0 * 1e7 + (w->y_m + w->ey) / m_per_e7_lat);
	f->lon_e7 = (int32_t)lround(lon0 * 1e7 + (w->x_m + w->ex) / m_per_e7_lon);
	f->alt_mm = 41000 + (int32_t)lround(300.0 * w->ey);
	f->hdop_c = (uint16_t)lround(w->hdop * 100.0);
	f->h_acc_mm = (uint32_t)lround(w->hdop * 1800.0);
	f->gga_q = 1;
	f->faa_mode = 'A';
	f->fix_dim = 3;
	f->nsat = (uint8_t)w->nsat;
	double sog = fabs(w->vx) + 0.03 * gauss(&w->rng);
	f->sog_cms = (uint16_t)lround((sog < 0 ? 0 : sog) * 100.0);
	double cog = (w->vx > 0 ? 9000.0 : 27000.0) + 300.0 * gauss(&w->rng);
	f->cog_cdeg = (uint16_t)((long)lround(cog + 36000.0) % 36000L);
}

/* ---- scenario runner ---------------------------------------------------------------------------------- */

struct epoch {
	uint32_t up_ms;
	uint32_t below; /* records < below that were un-acked at link-up are this epoch's backlog */
};

int arq_run(const struct arq_scn *s, struct arq_result *r)
{
	uint32_t pages = s->journal_pages ? s->journal_pages : 256u;
	uint32_t n_truth = s->duration_ms / s->fix_period_ms + 2u * s->ind_per_hour * (s->duration_ms / 3600000u + 1u) + 64u;
	uint8_t *mem = malloc((size_t)pages * PAGE_SIZE);
	struct truth *truth = calloc(n_truth, sizeof *truth);
	uint8_t *backlog_epoch = calloc(n_truth, 1);
	struct gw *g = calloc(1, sizeof *g);
	struct chan *ch = calloc(1, sizeof *ch);
	struct cf_journal *j = calloc(1, sizeof *j);
	struct cf_link *l = calloc(1, sizeof *l);
	struct app *app = calloc(1, sizeof *app);
	struct hal_flash dev;
	struct hal_flash_emul em;
	struct walker w = {.rng = s->seed * 7919ull + 1u, .hdop = 0.9, .nsat = 10};
	struct epoch ep[16];
	unsigned n_ep = 0;
	uint8_t buf[PROTO_WIRE_MAX];
	size_t len;
	int rc = -1;
	uint64_t app_rng = s->seed * 104729ull + 3u;

	memset(r, 0, sizeof *r);
	if (!mem || !truth || !backlog_epoch || !g || !ch || !j || !l || !app)
		goto out_free;
	g->stored = calloc(n_truth, 1);
	g->gone = calloc(n_truth, 1);
	g->order = calloc(n_truth, sizeof *g->order);
	g->t_store = calloc(n_truth, sizeof *g->t_store);
	if (!g->stored || !g->gone || !g->order || !g->t_store)
		goto out_free;
	if (hal_flash_emul_init(&dev, &em, mem, NULL, PAGE_SIZE, pages, 8) != 0 || cf_journal_mount(j, &dev) != 0)
		goto out_free;

	struct cf_link_cfg lc = s->link;
	lc.collar_id = ARQ_COLLAR_ID;
	lc.key = arq_key;
	lc.on_cmd = app_cmd;
	lc.cmd_ctx = app;
	if (lc.seed == 0)
		lc.seed = s->seed ^ 0xA5A5u;
	if (cf_link_init(l, &lc, j, 0) != 0)
		goto out_free;

	ch->c = s->ch;
	ch->rng = s->seed * 31337ull + 17u;
	g->collar_id = ARQ_COLLAR_ID;
	proto_hmac_init(&g->key, arq_key, sizeof arq_key);
	proto_deframer_init(&g->df);
	g->credit = s->credit ? s->credit : 8u;
	g->boot_id = 1;
	g->truth = truth;
	g->n_truth = n_truth;
	g->r = r;

	uint32_t ind_iv = s->ind_per_hour ? 3600000u / s->ind_per_hour : 0;
	uint32_t t = 0, next_fix = 0, last_fix_rec = 0, drain_target = 0, drain_from = 0;
	uint32_t next_ind = ind_iv ? ind_iv / 2u + (uint32_t)(arq_rand(&app_rng) % (ind_iv / 2u)) : UINT32_MAX;
	uint32_t next_cmd = s->cmd_every_ms ? s->cmd_every_ms : UINT32_MAX, cmd_id = 0;
	uint32_t next_garbage = s->garbage_every_ms ? s->garbage_every_ms : UINT32_MAX;
	uint32_t ack_cursor = 1, last_outage_end = 0, prev_ups = 0;
	int drain_armed = 0, comp_pending = 0;
	uint32_t comp_at = 0;
	struct proto_ind comp;
	memset(&comp, 0, sizeof comp);
	for (unsigned i = 0; i < s->ch.n_outage; i++)
		if (s->ch.outage[i].end_ms > last_outage_end)
			last_outage_end = s->ch.outage[i].end_ms;
	uint32_t limit = s->duration_ms + s->drain_limit_ms;

	for (;;) {
		r->iterations++;
		/* 1. the application journals what happened up to now */
		while (next_fix < s->duration_ms && next_fix <= t) {
			uint8_t body[PROTO_BODY_MAX];
			size_t blen;
			uint32_t rec = cf_journal_next_seq(j);
			struct proto_fix f;
			walker_fix(&w, next_fix, s->fix_period_ms, &f);
			f.rec_seq = rec;
			if (rec >= n_truth || proto_fix_encode(&f, body, sizeof body, &blen) != 0 ||
			    cf_journal_append(j, PROTO_T_FIX, body, blen, &rec) != 0)
				goto out_free;
			truth[rec].type = PROTO_T_FIX;
			truth[rec].m.fix = f;
			truth[rec].gen_ms = next_fix;
			truth[rec].gen_up = (uint8_t)cf_link_is_up(l);
			last_fix_rec = rec;
			r->fixes++;
			next_fix += s->fix_period_ms;
		}
		if (comp_pending && comp_at <= t) {
			/* the END of the indication: its completion, journaled like any IND */
			uint8_t body[PROTO_BODY_MAX];
			size_t blen;
			uint32_t rec = cf_journal_next_seq(j);
			struct proto_ind in = comp;
			in.has |= PROTO_IND_HAS_COMPLETES;
			in.completes = comp.rec_seq;
			in.rec_seq = rec;
			in.dur_ms = 3000u + s->ind_complete_ms;
			if (rec >= n_truth || proto_ind_encode(&in, body, sizeof body, &blen) != 0 ||
			    cf_journal_append(j, PROTO_T_IND, body, blen, &rec) != 0)
				goto out_free;
			truth[rec].type = PROTO_T_IND;
			truth[rec].m.ind = in;
			truth[rec].gen_ms = comp_at;
			truth[rec].gen_up = (uint8_t)cf_link_is_up(l);
			r->completions++;
			comp_pending = 0;
		}
		while (next_ind < s->duration_ms && next_ind <= t) {
			uint8_t body[PROTO_BODY_MAX];
			size_t blen;
			uint32_t rec = cf_journal_next_seq(j);
			struct proto_ind in;
			memset(&in, 0, sizeof in);
			in.has = PROTO_IND_HAS_T | PROTO_IND_HAS_DUR | PROTO_IND_HAS_CONF | PROTO_IND_HAS_POS |
			         PROTO_IND_HAS_HACC;
			in.rec_seq = rec;
			in.t_ms = UTC_BASE_MS + next_ind - 4000u;
			in.kind = PROTO_IND_SCRATCH;
			in.src = PROTO_SRC_CLASSIFIER;
			in.dur_ms = s->ind_complete_ms ? 3000u : 4000u;
			in.conf_pct = 87;
			if (last_fix_rec) {
				in.has |= PROTO_IND_HAS_FIXREF;
				in.fix_ref = last_fix_rec;
				in.lat_e7 = truth[last_fix_rec].m.fix.lat_e7;
				in.lon_e7 = truth[last_fix_rec].m.fix.lon_e7;
				in.h_acc_mm = truth[last_fix_rec].m.fix.h_acc_mm;
			} else {
				in.lat_e7 = -259655000;
				in.lon_e7 = 325832000;
				in.h_acc_mm = 2500;
			}
			if (rec >= n_truth || proto_ind_encode(&in, body, sizeof body, &blen) != 0 ||
			    cf_journal_append(j, PROTO_T_IND, body, blen, &rec) != 0)
				goto out_free;
			truth[rec].type = PROTO_T_IND;
			truth[rec].m.ind = in;
			truth[rec].gen_ms = next_ind;
			truth[rec].gen_up = (uint8_t)cf_link_is_up(l);
			r->inds++;
			if (s->ind_complete_ms) {
				comp = in;
				comp.rec_seq = rec;
				comp_at = next_ind + s->ind_complete_ms;
				comp_pending = 1;
			}
			next_ind += ind_iv - ind_iv / 4u + (uint32_t)(arq_rand(&app_rng) % (ind_iv / 2u));
		}
		if (!drain_armed && last_outage_end && t >= last_outage_end) {
			drain_armed = 1;
			drain_from = last_outage_end;
			drain_target = cf_journal_next_seq(j) - 1u;
		}
		/* 2. the gateway's core asks for a command now and then */
		if (t >= next_cmd && t < s->duration_ms) {
			if (!g->cmd_pending && cmd_id + 1u < 4096u) {
				memset(&g->cmd, 0, sizeof g->cmd);
				g->cmd.has = PROTO_CMD_HAS_PERIOD;
				g->cmd.cmd_id = ++cmd_id;
				g->cmd.op = PROTO_OP_SET_RATE;
				g->cmd.period_ms = 1000u + 1000u * (cmd_id % 3u);
				g->cmd_pending = 1;
				g->cmd_next_ms = t;
				r->cmds_sent++;
			}
			next_cmd += s->cmd_every_ms;
		}
		if (t >= next_garbage) {
			uint8_t junk[48];
			for (unsigned i = 0; i < sizeof junk; i++)
				junk[i] = (uint8_t)arq_rand(&app_rng);
			if (cf_link_on_rx(l, t, junk, sizeof junk) < 0)
				goto out_free;
			next_garbage += s->garbage_every_ms;
		}
		/* 3. deliveries */
		struct delivery d;
		while (chan_pop(ch, t, &d)) {
			if (d.dir == 0) {
				gw_rx(g, t, d.b, d.len);
			} else {
				if (cf_link_on_rx(l, t, d.b, d.len) < 0)
					goto out_free;
				if (l->st.link_ups != prev_ups) {
					prev_ups = l->st.link_ups;
					if (n_ep < 16) {
						/* this link-up's backlog: what the link had noticed (seen_next) and not acked */
						ep[n_ep].up_ms = t;
						ep[n_ep].below = l->seen_next;
						for (uint32_t q = 1; q < l->seen_next && q < n_truth; q++)
							if (truth[q].type && !cf_journal_is_acked(j, q) && !backlog_epoch[q])
								backlog_epoch[q] = (uint8_t)(n_ep + 1u);
						n_ep++;
					}
				}
			}
		}
		/* 4. the medium: gateway first, then the collar */
		if (t >= ch->busy_until) {
			int gr = gw_poll(g, t, buf, &len);
			if (gr < 0)
				goto out_free;
			if (gr == 1) {
				chan_send(ch, t, 1, buf, len);
			} else {
				int cr = cf_link_poll(l, t, buf, sizeof buf, &len);
				if (cr < 0)
					goto out_free;
				if (cr == 1)
					chan_send(ch, t, 0, buf, len);
			}
		}
		/* 5. progress and the end */
		if (drain_armed && !r->drain_ms && g->cum >= drain_target)
			r->drain_ms = t - drain_from + (t == drain_from);
		if (t >= s->duration_ms) {
			uint32_t total = cf_journal_next_seq(j) - 1u;
			while (ack_cursor <= total && cf_journal_is_acked(j, ack_cursor))
				ack_cursor++;
			if (ack_cursor > total && g->cum >= total && cf_link_in_flight(l) == 0 && ch->n == 0) {
				r->all_acked_ms = t;
				rc = 0;
				break;
			}
		}
		if (t >= limit)
			break;
		/* 6. next event */
		uint32_t nt = UINT32_MAX;
#define NEXT(x)                          \
	do {                                 \
		uint32_t x_ = (x);               \
		if (x_ < nt)                     \
			nt = x_;                     \
	} while (0)
		if (next_fix < s->duration_ms)
			NEXT(next_fix);
		if (next_ind < s->duration_ms)
			NEXT(next_ind);
		if (comp_pending)
			NEXT(comp_at);
		if (next_cmd < s->duration_ms)
			NEXT(next_cmd);
		NEXT(next_garbage);
		NEXT(chan_next(ch));
		if (ch->busy_until > t)
			NEXT(ch->busy_until);
		else {
			NEXT(gw_deadline(g));
			NEXT(cf_link_next_deadline(l, t));
		}
		if (drain_armed == 0 && last_outage_end > t)
			NEXT(last_outage_end);
		if (t < s->duration_ms)
			NEXT(s->duration_ms);
		NEXT(limit);
#undef NEXT
		t = nt > t ? nt : t + 1u;
	}
	r->end_ms = t;
	r->records = cf_journal_next_seq(j) - 1u;
	for (uint32_t q = 1; q < n_truth; q++) {
		if (truth[q].type && !g->stored[q])
			r->missing++;
		if (truth[q].type && !g->stored[q] && !g->gone[q])
			r->missing_not_gone++;
		if (g->gone[q]) {
			/* declared gone: must be a FIX (INDs are never thinned here) the journal no longer holds */
			uint8_t body[CF_JOURNAL_BODY_MAX];
			size_t blen;
			if (truth[q].type != PROTO_T_FIX || cf_journal_read(j, q, body, sizeof body, &blen, NULL) != -ENOENT)
				r->gone_false++;
		}
		if (truth[q].type && g->stored[q] && truth[q].gen_up && !last_outage_end) {
			uint32_t lat = g->t_store[q] - truth[q].gen_ms;
			r->fresh_latency_sum_ms += lat;
			r->fresh_latency_n++;
			if (lat > r->fresh_latency_max_ms)
				r->fresh_latency_max_ms = lat;
		}
	}
	/* indications before backlog FIXes, per link-up */
	for (unsigned e = 0; e < n_ep; e++) {
		uint32_t last_ind = 0;
		for (uint32_t q = 1; q < n_truth; q++)
			if (backlog_epoch[q] == e + 1u && truth[q].type == PROTO_T_IND && g->stored[q] &&
			    g->t_store[q] >= ep[e].up_ms) {
				r->backlog_inds_checked++;
				if (g->order[q] > last_ind)
					last_ind = g->order[q];
			}
		for (uint32_t q = 1; q < n_truth; q++)
			if (backlog_epoch[q] == e + 1u && truth[q].type == PROTO_T_FIX && g->stored[q] &&
			    g->t_store[q] >= ep[e].up_ms) {
				r->backlog_fixes_checked++;
				if (g->order[q] < last_ind)
					r->ind_order_violations++;
			}
	}
	for (uint32_t c = 1; c <= cmd_id; c++) {
		if (app->exec[c] >= 1)
			r->cmds_executed++;
		if (app->exec[c] > 1)
			r->cmds_double_executed++;
	}
	struct cf_journal_stats js;
	if (cf_journal_stats(j, &js) == 0) {
		r->journal_fully_acked = js.backlog == 0;
		r->thinned = js.thinned;
	}
	r->link = *cf_link_stats(l);
	r->tx_gone = r->link.tx_gone;
	r->ch = ch->st;
out_free:
	if (g) {
		free(g->stored);
		free(g->gone);
		free(g->order);
		free(g->t_store);
	}
	free(mem);
	free(truth);
	free(backlog_epoch);
	free(g);
	free(ch);
	free(j);
	free(l);
	free(app);
	return rc;
}
