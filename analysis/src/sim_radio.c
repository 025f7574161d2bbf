/*
 * analysis/src/sim_radio.c — shared radio channel model with an injected clock (contract in an/sim.h).
 *
 * Frames are kept in a bounded table (no heap) until the caller polls them after their airtime ended.
 * Collisions are decided when a frame is queued (every frame that can overlap it is already in the table,
 * because time never goes backwards); losses and corruption are drawn when a frame is polled, in order of
 * end time, so the random sequence does not depend on how often the caller polls.
 */
#include "sim_internal.h"

#include <errno.h>
#include <string.h>

int64_t an_sim_radio_airtime_us(const struct an_sim_radio_cfg *cfg, uint32_t len)
{
	if (!cfg || cfg->bitrate_bps == 0)
		return -EINVAL;
	uint64_t bits = ((uint64_t)len + cfg->overhead_bytes) * 8u;
	return (int64_t)((bits * 1000000u + cfg->bitrate_bps - 1u) / cfg->bitrate_bps); /* round up */
}

static bool prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0;
}

int an_sim_radio_init(struct an_sim_radio *r, const struct an_sim_radio_cfg *cfg)
{
	if (!r || !cfg || cfg->bitrate_bps == 0 || !prob_ok(cfg->p_loss) || !prob_ok(cfg->p_corrupt) ||
	    !prob_ok(cfg->ge_p_gb) || !prob_ok(cfg->ge_p_bg) || !prob_ok(cfg->ge_loss_good) ||
	    !prob_ok(cfg->ge_loss_bad))
		return -EINVAL;
	memset(r, 0, sizeof *r);
	r->cfg = *cfg;
	an_sim_rng_init(&r->rng, cfg->seed, 0x7261646fu /* "rado" */);
	r->next_id = 1;
	return 0;
}

int an_sim_radio_outage(struct an_sim_radio *r, int64_t t0_us, int64_t t1_us)
{
	if (!r || t1_us <= t0_us)
		return -EINVAL;
	if (r->n_outage >= AN_SIM_RADIO_OUTAGES_MAX)
		return -ENOSPC;
	r->outage[r->n_outage][0] = t0_us;
	r->outage[r->n_outage][1] = t1_us;
	r->n_outage++;
	return 0;
}

static int clock_ok(struct an_sim_radio *r, int64_t now_us)
{
	if (now_us < r->now_us) {
		r->stats.clock_errors++;
		return -ERANGE;
	}
	r->now_us = now_us;
	return 0;
}

/* Time of [s, e) not already covered by frames in the table (for the channel-busy statistic). */
static int64_t uncovered(const struct an_sim_radio *r, int64_t s, int64_t e)
{
	int64_t cur = s, covered = 0;
	/* sweep: repeatedly extend from `cur` with any frame that covers it; O(n²) on a table of <= 512 */
	for (;;) {
		int64_t best_end = cur;
		for (uint32_t i = 0; i < r->n_fl; i++)
			if (r->fl[i].start_us <= cur && r->fl[i].end_us > best_end)
				best_end = r->fl[i].end_us;
		if (best_end > cur) {
			int64_t stop = best_end < e ? best_end : e;
			covered += stop - cur;
			cur = stop;
			if (cur >= e)
				break;
			continue;
		}
		/* cur is free: jump to the next frame start inside (cur, e) */
		int64_t next = e;
		for (uint32_t i = 0; i < r->n_fl; i++)
			if (r->fl[i].start_us > cur && r->fl[i].start_us < next)
				next = r->fl[i].start_us;
		if (next >= e)
			break;
		cur = next;
	}
	return (e - s) - covered;
}

int an_sim_radio_send(struct an_sim_radio *r, int64_t now_us, uint32_t sender, uint32_t len, uint64_t *id,
		      int64_t *end_us)
{
	if (!r || len == 0)
		return -EINVAL;
	int rc = clock_ok(r, now_us);
	if (rc < 0)
		return rc;
	if (r->n_fl >= AN_SIM_RADIO_INFLIGHT_MAX) {
		r->stats.overflow++;
		return -ENOBUFS;
	}
	int64_t air = an_sim_radio_airtime_us(&r->cfg, len);
	int64_t start = now_us;
	if (r->cfg.csma && r->chan_free_us > now_us) {
		/* busy (on air or frames queued); only a frame that started less than sense_us ago is not heard */
		bool heard = true;
		for (uint32_t i = 0; i < r->n_fl; i++)
			if (r->fl[i].start_us <= now_us && now_us < r->fl[i].start_us + (int64_t)r->cfg.sense_us)
				heard = false;
		if (heard) {
			uint32_t bo = r->cfg.backoff_max_us ? an_sim_rng_u32(&r->rng) % (r->cfg.backoff_max_us + 1u) : 0;
			start = r->chan_free_us + (int64_t)bo;
		}
	}
	struct an_sim_radio_frame nf = {.id = r->next_id++, .sender = sender, .len = len, .start_us = start,
					.end_us = start + air};
	for (uint32_t i = 0; i < r->n_fl; i++) {
		struct an_sim_radio_frame *f = &r->fl[i];
		if (f->start_us < nf.end_us && nf.start_us < f->end_us)
			f->collided = nf.collided = true;
	}
	r->stats.busy_us += (uint64_t)uncovered(r, nf.start_us, nf.end_us);
	r->fl[r->n_fl++] = nf;
	if (nf.end_us > r->chan_free_us)
		r->chan_free_us = nf.end_us;
	r->stats.sent++;
	if (id)
		*id = nf.id;
	if (end_us)
		*end_us = nf.end_us;
	return 0;
}

static bool in_outage(const struct an_sim_radio *r, int64_t s, int64_t e)
{
	for (uint32_t i = 0; i < r->n_outage; i++)
		if (r->outage[i][0] < e && s < r->outage[i][1])
			return true;
	return false;
}

int an_sim_radio_poll(struct an_sim_radio *r, int64_t now_us, struct an_sim_radio_rx *out)
{
	if (!r || !out)
		return -EINVAL;
	int rc = clock_ok(r, now_us);
	if (rc < 0)
		return rc;
	int best = -1;
	for (uint32_t i = 0; i < r->n_fl; i++) {
		const struct an_sim_radio_frame *f = &r->fl[i];
		if (f->end_us <= now_us &&
		    (best < 0 || f->end_us < r->fl[best].end_us ||
		     (f->end_us == r->fl[best].end_us && f->id < r->fl[best].id)))
			best = (int)i;
	}
	if (best < 0)
		return 0;
	struct an_sim_radio_frame f = r->fl[best];
	r->fl[best] = r->fl[--r->n_fl];
	/* every frame advances the Gilbert–Elliott chain and draws the same numbers, whatever its fate */
	double u_ge = an_sim_rng_unit(&r->rng), u_state = an_sim_rng_unit(&r->rng);
	double u_loss = an_sim_rng_unit(&r->rng), u_cor = an_sim_rng_unit(&r->rng);
	r->ge_bad = r->ge_bad ? !(u_state < r->cfg.ge_p_bg) : u_state < r->cfg.ge_p_gb;
	int fate;
	if (f.collided)
		fate = AN_SIM_RADIO_COLLIDED;
	else if (in_outage(r, f.start_us, f.end_us))
		fate = AN_SIM_RADIO_LOST_OUTAGE;
	else if (u_ge < (r->ge_bad ? r->cfg.ge_loss_bad : r->cfg.ge_loss_good) || u_loss < r->cfg.p_loss)
		fate = AN_SIM_RADIO_LOST;
	else if (u_cor < r->cfg.p_corrupt)
		fate = AN_SIM_RADIO_CORRUPTED;
	else
		fate = AN_SIM_RADIO_OK;
	switch (fate) {
	case AN_SIM_RADIO_COLLIDED: r->stats.collided++; break;
	case AN_SIM_RADIO_LOST_OUTAGE: r->stats.lost_outage++; break;
	case AN_SIM_RADIO_LOST: r->stats.lost++; break;
	case AN_SIM_RADIO_CORRUPTED: r->stats.corrupted++; break;
	default: r->stats.ok++; break;
	}
	*out = (struct an_sim_radio_rx){f.id, f.sender, f.len, f.start_us, f.end_us, fate};
	return 1;
}

void an_sim_radio_corrupt(struct an_sim_radio *r, uint8_t *buf, size_t len)
{
	if (!r || !buf || len == 0)
		return;
	uint64_t nbits_total = (uint64_t)len * 8u, chosen[3];
	uint32_t nbits = 1u + an_sim_rng_u32(&r->rng) % 3u;
	if (nbits > nbits_total)
		nbits = (uint32_t)nbits_total;
	for (uint32_t i = 0; i < nbits; i++) {
		uint64_t bit;
		bool dup;
		do { /* distinct bits, so the frame really differs in nbits places */
			bit = ((uint64_t)an_sim_rng_u32(&r->rng) << 32 | an_sim_rng_u32(&r->rng)) % nbits_total;
			dup = false;
			for (uint32_t j = 0; j < i; j++)
				dup |= chosen[j] == bit;
		} while (dup);
		chosen[i] = bit;
		buf[bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
	}
}
