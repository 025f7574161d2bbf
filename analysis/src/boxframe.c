/*
 * analysis/src/boxframe.c — box-frame reconstruction of a search track (contract and reasoning in
 * an/boxframe.h).
 *
 * Numbers. Positions are integer mm; the few doubles (the box's unit vectors in an_geo_box_locate/_to_enu,
 * the interpolation fraction) see the same operands in the same order for the same set of fixes, so the fit
 * and every placed position are identical for any arrival order (the fixes are sorted first).
 */
#include "an/boxframe.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* median of χ²₁: a squared standard normal's median, to turn a median of squared increments into a variance */
#define CHI2_1_MEDIAN 0.454936423119572
#define INCR_MAX_MS 5000 /* increments over longer gaps say more about lost fixes than about drift */

struct pt {
	int64_t t_ms, u_mm, v_mm;
	uint32_t h_mm;
};

static int fix_cmp(const void *pa, const void *pb)
{
	const struct an_coverage_fix *a = pa, *b = pb;
	if (a->t_ms != b->t_ms)
		return a->t_ms < b->t_ms ? -1 : 1;
	if (a->e_mm != b->e_mm)
		return a->e_mm < b->e_mm ? -1 : 1;
	if (a->n_mm != b->n_mm)
		return a->n_mm < b->n_mm ? -1 : 1;
	return a->h_acc_mm < b->h_acc_mm ? -1 : a->h_acc_mm > b->h_acc_mm;
}

static int u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
	return a < b ? -1 : a > b;
}

static int dbl_cmp(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return a < b ? -1 : a > b;
}

/* Variance growth per second from squared increments per second (sorted here): median / χ²₁'s median,
 * robust to the odd jump; never below the floor. */
static uint64_t diffusion(uint64_t *v, size_t n)
{
	uint64_t d = AN_BOXFRAME_D_FLOOR_MM2_S;
	if (n == 0)
		return d;
	qsort(v, n, sizeof(*v), u64_cmp);
	double est = (double)v[n / 2] / CHI2_1_MEDIAN;
	if (est > (double)d)
		d = est >= 1e15 ? (uint64_t)1e15 : (uint64_t)llround(est);
	return d;
}

static bool coord_ok(int64_t v)
{
	return v >= -AN_GEO_RANGE_MAX_MM && v <= AN_GEO_RANGE_MAX_MM;
}

const char *an_boxframe_reason_name(enum an_boxframe_reason r)
{
	switch (r) {
	case AN_BOXFRAME_OK:
		return "fitted";
	case AN_BOXFRAME_FEW_FIXES:
		return "fewer than two fixes per lane";
	case AN_BOXFRAME_LANES:
		return "turnarounds do not match the box's lanes";
	case AN_BOXFRAME_BOX:
		return "box without usable lanes";
	case AN_BOXFRAME_ACROSS:
		return "the lanes do not step across the box";
	}
	return "?";
}

void an_boxframe_free(struct an_boxframe *f)
{
	if (f == NULL)
		return;
	free(f->anchor);
	free(f);
}

/* Along coordinate of the lane end where anchor j lies: lane 0 starts at along 0; lane k runs up (towards
 * p_along) when k is even, so it ends at lane_len for even k and at 0 for odd k. */
static int64_t anchor_along(const struct an_geo_box *b, size_t j)
{
	if (j == 0)
		return 0;
	return (j - 1) % 2 == 0 ? b->lane_len_mm : 0;
}

/*
 * Turnarounds by hysteresis on the along coordinate: the track "turns" at its running extreme once it has
 * come back more than half a lane length from it. The search starts as if a lane −1 ran down into the start,
 * so the first turnaround found is the start of lane 0 (a minimum). turn[] gets at most cap indices; the
 * return value is how many were found (capped at cap + 1: more than that is never a fit). *last = the running
 * extreme when the data ended (the end of the last lane if the pass stopped there).
 */
static size_t turnarounds(const struct pt *p, size_t m, int64_t hyst, size_t *turn, size_t cap, size_t *last)
{
	int dir = -1;
	size_t ext = 0, nt = 0;
	for (size_t i = 1; i < m; i++) {
		if (dir < 0) {
			if (p[i].u_mm < p[ext].u_mm) {
				ext = i;
			} else if (p[i].u_mm > p[ext].u_mm + hyst) {
				if (nt < cap)
					turn[nt] = ext;
				if (++nt > cap)
					break;
				dir = 1;
				ext = i;
			}
		} else {
			if (p[i].u_mm > p[ext].u_mm) {
				ext = i;
			} else if (p[i].u_mm < p[ext].u_mm - hyst) {
				if (nt < cap)
					turn[nt] = ext;
				if (++nt > cap)
					break;
				dir = -1;
				ext = i;
			}
		}
	}
	*last = ext;
	return nt;
}

/*
 * A turnaround's time from the two crossings around it. The running extreme is a poor clock: the receiver's
 * error moves about as fast as a walking rat (~0.4 m/s^½ for a consumer receiver), so the largest reading
 * can come seconds before or after the animal turned. The error is correlated over a minute, though, so it
 * shifts the crossing of a level on the way in and on the way out alike: their midpoint is the turn.
 * Level: halfway between this extreme and the mean of its two neighbours (the opposite ends). Only the
 * turns with a neighbour on both sides (lane changes) are refined; turn[] stays sorted.
 */
static void refine_turns(const struct pt *p, size_t m, size_t *turn, size_t nl)
{
	for (size_t j = 1; j < nl; j++) {
		size_t a = turn[j - 1], e = turn[j], b = turn[j + 1];
		int64_t level = (p[e].u_mm + (p[a].u_mm + p[b].u_mm) / 2) / 2;
		bool top = p[e].u_mm > level;
		size_t in = e, out = e;
		while (in > a && (top ? p[in - 1].u_mm > level : p[in - 1].u_mm < level))
			in--;
		while (out + 1 < m && out < b && (top ? p[out + 1].u_mm > level : p[out + 1].u_mm < level))
			out++;
		int64_t tm = p[in].t_ms + (p[out].t_ms - p[in].t_ms) / 2;
		size_t k = in;
		while (k < out && p[k + 1].t_ms <= tm)
			k++;
		if (k > turn[j - 1] && k < turn[j + 1])
			turn[j] = k;
	}
}

static bool lane_time_plausible(uint64_t d, uint64_t med)
{
	return d * 20u >= med * 9u && d * 20u <= med * 49u;
}

/* Upper quartile of the reported h_acc of fixes [a, b], q scratch (b − a + 1): a lane a quarter under
 * trees is already a lane whose swing is lost. */
static uint64_t high_h(const struct pt *p, size_t a, size_t b, uint64_t *q)
{
	size_t n = 0;
	for (size_t i = a; i <= b; i++)
		q[n++] = p[i].h_mm;
	qsort(q, n, sizeof(*q), u64_cmp);
	return q[n * 3 / 4];
}

/*
 * One reading of the track as lanes with hysteresis hyst: turnarounds, their times refined, then the lanes
 * from lane 0 on while each is plausible in time. nt turnarounds = lane 0's start and nt − 1 lane changes,
 * so nt − 1 closed lanes and an open one up to the running extreme at the end of the data (the end of the
 * last lane if the pass is over; with nt == K + 1 the animal came back along it, walking out). A lane is
 * plausible when it takes 0.45 .. 2.45 × the median closed lane (an indication — approach, scratch or sit,
 * reward, back to the lane — adds 10–20 s to a ~20 s rat lane; the blind box's lanes hold two). Two
 * repairs keep the count right where the error fooled the turnaround test:
 *   - a lane of 2.55 .. 3.5 × the median is three lanes whose two middle turns the drift flattened (the
 *     error moving against the animal for a whole lane can eat half its swing): split in equal times;
 *   - a run of short pieces (each < 0.45 ×) adding up to one plausible lane in an odd number of pieces is one
 *     lane with a pair of false turns in it (a jump of the error): joined.
 * Anything else stops the reading: after it the lane count is not known, so nothing there is placed.
 * lanes[0 .. return] = the anchors' fix indices. turn (K + 2), q (>= K + 1) are scratch.
 */
static size_t read_lanes(const struct pt *p, size_t m, int64_t hyst, int64_t len, uint32_t K, size_t *turn,
                         size_t *rt, size_t *lanes, uint64_t *q, size_t *nt_out)
{
	size_t last = 0;
	size_t nt = turnarounds(p, m, hyst, turn, (size_t)K + 1, &last);
	*nt_out = nt;
	if (nt < 2)
		return 0;
	size_t closed = nt - 1 < K ? nt - 1 : K; /* segments j = turn[j] .. turn[j + 1] */
	if (closed < 2)
		return 0;
	/* lane times from the refined turns (rt); the anchors stay at the extremes (turn), where the animal
	 * dwelt at the lane end while the handlers stepped: that is where the end is measured */
	memcpy(rt, turn, (closed + 1) * sizeof(*rt));
	refine_turns(p, m, rt, closed);
	/* the median lane time over the segments the receiver could show (under trees the swings of the error
	 * cut many short pieces that would drag it down) */
	size_t ng = 0;
	for (size_t j = 0; j < closed; j++)
		if (high_h(p, rt[j], rt[j + 1], q + K + 1) <= 2 * (uint64_t)len)
			q[ng++] = (uint64_t)(p[rt[j + 1]].t_ms - p[rt[j]].t_ms);
	if (ng < 2)
		return 0;
	qsort(q, ng, sizeof(*q), u64_cmp);
	uint64_t med = q[ng / 2];
	if (med == 0)
		return 0;
#define PLAUSIBLE(d) lane_time_plausible((d), med)
	size_t nl = 0, j = 0;
	lanes[0] = turn[0];
	while (j < closed && nl < K) {
		uint64_t d = (uint64_t)(p[rt[j + 1]].t_ms - p[rt[j]].t_ms);
		/* a receiver that says it is worse than twice the lane length (under trees: 10–20 m) cannot show
		 * the lane's swing, whatever the hysteresis found in it */
		if (high_h(p, rt[j], rt[j + 1], q + K + 1) > 2 * (uint64_t)len)
			break;
		if (PLAUSIBLE(d)) {
			lanes[++nl] = turn[j + 1];
			j++;
		} else if (d * 20u >= med * 51u && d * 2u <= med * 7u && nl + 3 <= K) {
			int64_t t0 = p[rt[j]].t_ms;
			for (int k = 1; k <= 2; k++) {
				int64_t tk = t0 + (int64_t)(d * (uint64_t)k / 3u);
				size_t i = lanes[nl];
				while (i + 1 < turn[j + 1] && p[i + 1].t_ms <= tk)
					i++;
				if (i <= lanes[nl])
					goto out_done;
				lanes[++nl] = i;
			}
			lanes[++nl] = turn[j + 1];
			j++;
		} else if (d * 20u < med * 9u) {
			size_t k = j;
			uint64_t sum = 0;
			while (k < closed && sum * 20u < med * 9u) {
				sum += (uint64_t)(p[rt[k + 1]].t_ms - p[rt[k]].t_ms);
				k++;
			}
			if ((k - j) % 2 == 0 || !PLAUSIBLE(sum) || high_h(p, rt[j], rt[k], q + K + 1) > 2 * (uint64_t)len)
				break;
			lanes[++nl] = turn[k];
			j = k;
		} else {
			break;
		}
	}
	/* the open lane at the end: the pass stopped at the end of its last lane */
	if (j == closed && nl == (size_t)K - 1 && nt <= K && last > lanes[nl] &&
	    PLAUSIBLE((uint64_t)(p[last].t_ms - p[rt[j]].t_ms)))
		lanes[++nl] = last;
#undef PLAUSIBLE
out_done:
	return nl;
}

/* The reading that keeps the most lanes over hysteresis from half a lane length down to 0.3 of it (ties:
 * the larger): a smaller one catches turns the drift has flattened, and read_lanes' lane-time checks
 * reject the noise it lets in. best[0 .. return] = the lanes' anchors; turn, rt, lt (K + 2) and q scratch. */
static size_t best_reading(const struct pt *p, size_t m, const struct an_geo_box *box, size_t *turn, size_t *rt,
                           size_t *lt, size_t *best, uint64_t *q, size_t *nt_out)
{
	static const unsigned hyst_pct[] = { 50, 45, 40, 35, 30 };
	uint32_t K = box->lane_count;
	size_t nlf = 0;
	*nt_out = 0;
	for (size_t hi = 0; hi < sizeof(hyst_pct) / sizeof(hyst_pct[0]) && nlf < K; hi++) {
		size_t ntt, got = read_lanes(p, m, box->lane_len_mm * (int64_t)hyst_pct[hi] / 100, box->lane_len_mm, K, turn, rt, lt,
		                              q, &ntt);
		if (hi == 0 || got > nlf) {
			nlf = got;
			*nt_out = ntt;
			memcpy(best, lt, (got + 1) * sizeof(*best));
		}
	}
	return nlf;
}

int an_boxframe_fit(const struct an_geo_box *box, const struct an_coverage_fix *fixes, size_t n,
                    struct an_boxframe **out)
{
	if (box == NULL || out == NULL || (fixes == NULL && n > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!coord_ok(fixes[i].e_mm) || !coord_ok(fixes[i].n_mm))
			return -EINVAL;
	int err = -ENOMEM;
	struct an_boxframe *f = calloc(1, sizeof(*f));
	struct an_coverage_fix *c = NULL;
	struct pt *p = NULL;
	size_t *turn = NULL;
	uint64_t *q = NULL;
	if (f == NULL)
		goto out_fail;
	f->box = *box;
	uint32_t K = box->lane_count;
	if (K == 0 || K > AN_BOXFRAME_MAX_LANES || box->lane_width_mm == 0 || box->lane_len_mm < 2) {
		f->reason = AN_BOXFRAME_BOX;
		goto out_done;
	}
	c = malloc((n ? n : 1) * sizeof(*c));
	if (c == NULL)
		goto out_fail;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (fixes[i].h_acc_mm > 0)
			c[m++] = fixes[i];
	if (m > 1)
		qsort(c, m, sizeof(*c), fix_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++)
		if (k == 0 || c[i].t_ms != c[k - 1].t_ms)
			c[k++] = c[i];
	m = k;
	if (m < 2u * K) {
		f->reason = AN_BOXFRAME_FEW_FIXES;
		goto out_done;
	}
	p = malloc(m * sizeof(*p));
	turn = malloc(((size_t)K + 2) * 4 * sizeof(*turn));
	q = malloc(2 * m * sizeof(*q));
	if (p == NULL || turn == NULL || q == NULL)
		goto out_fail;
	/* scratch: refined turns, a reading's lanes, the best reading's lanes */
	size_t *rt = turn + K + 2, *lt = rt + K + 2, *best = lt + K + 2;
	for (size_t i = 0; i < m; i++) {
		struct an_geo_box_pos bp;
		if ((err = an_geo_box_locate(box, c[i].e_mm, c[i].n_mm, c[i].h_acc_mm, &bp)) < 0)
			goto out_fail;
		p[i] = (struct pt){ c[i].t_ms, bp.along_mm, bp.across_mm, c[i].h_acc_mm };
	}
	size_t nt = 0;
	size_t nlf = best_reading(p, m, box, turn, rt, lt, best, q, &nt);
	f->turnarounds = (uint32_t)nt;
	/* a reading is evidence of the lanes only when it is long enough that chance swings could not make
	 * it: a quarter of the box (at least 4 lanes) read in order from lane 0 */
	if (nlf < AN_BOXFRAME_MIN_LANES || nlf * 4u < K) {
		f->reason = AN_BOXFRAME_LANES;
		goto out_done;
	}
	size_t na = nlf + 1; /* anchors */
	/* the lanes must step across the box as lanes do: the Theil–Sen slope (median of the pairwise slopes,
	 * robust to the odd lane under trees) of each read lane's median across position on its index within
	 * 0.4 .. 1.6 lane widths (a track that swings along the lanes without stepping across them — a dog
	 * running free, patches searched here and there — does not) */
	{
		double *vm = malloc(na * sizeof(*vm)), *sl = malloc(na * na / 2 * sizeof(*sl) + sizeof(*sl));
		size_t *ix = malloc(na * sizeof(*ix));
		if (vm == NULL || sl == NULL || ix == NULL) {
			free(vm);
			free(sl);
			free(ix);
			err = -ENOMEM;
			goto out_fail;
		}
		size_t nv = 0, ns = 0;
		for (size_t j = 0; j + 1 < na; j++) {
			size_t cnt = 0;
			for (size_t i = best[j]; i <= best[j + 1] && i < m; i++)
				q[cnt++] = (uint64_t)(p[i].v_mm + AN_GEO_RANGE_MAX_MM); /* shifted: sorts as unsigned */
			qsort(q, cnt, sizeof(*q), u64_cmp);
			vm[nv] = (double)((int64_t)q[cnt / 2] - AN_GEO_RANGE_MAX_MM);
			ix[nv++] = j;
		}
		for (size_t a2 = 0; a2 < nv; a2++)
			for (size_t b2 = a2 + 1; b2 < nv; b2++)
				sl[ns++] = (vm[b2] - vm[a2]) / (double)(ix[b2] - ix[a2]);
		qsort(sl, ns, sizeof(*sl), dbl_cmp);
		double slope = ns ? sl[ns / 2] : 0.0, wl = (double)box->lane_width_mm;
		free(vm);
		free(sl);
		free(ix);
		if (!(slope >= 0.4 * wl && slope <= 1.6 * wl)) {
			f->reason = AN_BOXFRAME_ACROSS;
			goto out_done;
		}
	}
	f->lanes = (uint32_t)nlf;
	size_t *ai = best; /* anchor fix indices: lane j from ai[j] to ai[j + 1] */
	f->anchor = calloc(na, sizeof(*f->anchor));
	if (f->anchor == NULL) {
		err = -ENOMEM;
		goto out_fail;
	}
	f->n_anchor = na;

	/*
	 * D: squared increments of the across residual (measured across − lane centre) between consecutive
	 * fixes inside one lane, away from the turnarounds (where the handlers' step moves the animal a lane).
	 * Per lane, because the error's character changes along a pass (a lane under trees drifts many times
	 * faster than one in the open); the whole pass's value stands in for a lane with too few increments.
	 */
	size_t nq = 0;
	int64_t w = box->lane_width_mm;
	uint64_t *q2 = q + m; /* second half of the scratch: one lane's increments */
	for (uint32_t j = 0; j < nlf; j++) {
		int64_t ta = p[ai[j]].t_ms + AN_BOXFRAME_DWELL_MS, tb = p[ai[j + 1]].t_ms - AN_BOXFRAME_DWELL_MS;
		int64_t centre2 = (2 * (int64_t)j + 1) * w; /* 2 × the lane's centre line */
		size_t nj = 0;
		for (size_t i = ai[j]; i + 1 <= ai[j + 1] && i + 1 < m; i++) {
			if (p[i].t_ms < ta || p[i + 1].t_ms > tb)
				continue;
			int64_t dt = p[i + 1].t_ms - p[i].t_ms;
			if (dt <= 0 || dt > INCR_MAX_MS)
				continue;
			int64_t d2 = (2 * p[i + 1].v_mm - centre2) - (2 * p[i].v_mm - centre2); /* 2 × Δresidual */
			uint64_t dd = (uint64_t)(d2 < 0 ? -d2 : d2);
			if (dd > 4000000000u)
				dd = 4000000000u; /* 2000 km: keeps dd² · 1000 in 64 bits */
			q2[nj++] = dd * dd / 4u * 1000u / (uint64_t)dt;
		}
		memcpy(q + nq, q2, nj * sizeof(*q));
		nq += nj;
		f->anchor[j].d_mm2_per_s = nj >= AN_BOXFRAME_LANE_MIN_INCR ? diffusion(q2, nj) : 0;
		/* the lane's typical reported accuracy: a fix much worse than it (entering canopy) has an error of
		 * its own that the lane's bias does not describe */
		size_t nh = 0;
		for (size_t i = ai[j]; i <= ai[j + 1] && i < m; i++)
			q2[nh++] = p[i].h_mm;
		qsort(q2, nh, sizeof(*q2), u64_cmp);
		f->anchor[j].h_med_mm = (uint32_t)q2[nh / 2];
	}
	uint64_t d = diffusion(q, nq);
	f->d_mm2_per_s = d;
	for (uint32_t j = 0; j < nlf; j++)
		if (f->anchor[j].d_mm2_per_s == 0)
			f->anchor[j].d_mm2_per_s = d;
	f->anchor[nlf].d_mm2_per_s = f->anchor[nlf - 1].d_mm2_per_s;
	/* an anchor's bias is the mean over the dwell: the drift over about half of it, and where the animal
	 * turned about the lane end, with the faster-drifting of its two lanes */
	for (size_t j = 0; j <= nlf; j++) {
		uint64_t dj = f->anchor[j].d_mm2_per_s;
		if (j > 0 && f->anchor[j - 1].d_mm2_per_s > dj)
			dj = f->anchor[j - 1].d_mm2_per_s;
		f->anchor[j].var_mm2 = dj * (uint64_t)AN_BOXFRAME_DWELL_MS / 2000u +
		                       (uint64_t)AN_BOXFRAME_END_SD_MM * AN_BOXFRAME_END_SD_MM;
	}

	/* anchors: the receiver's along error at each lane end, averaged over the dwell there */
	for (size_t j = 0; j <= nlf; j++) {
		int64_t tj = p[ai[j]].t_ms, ref = anchor_along(box, j);
		int64_t sum = 0, cnt = 0;
		size_t lo = ai[j];
		while (lo > 0 && p[lo - 1].t_ms >= tj - AN_BOXFRAME_DWELL_MS)
			lo--;
		for (size_t i = lo; i < m && p[i].t_ms <= tj + AN_BOXFRAME_DWELL_MS; i++) {
			sum += p[i].u_mm - ref;
			cnt++;
		}
		/* cnt >= 1: the anchor fix itself; integer mean rounded half away from zero */
		int64_t b = sum >= 0 ? (sum + cnt / 2) / cnt : -((-sum + cnt / 2) / cnt);
		f->anchor[j].t_ms = tj;
		f->anchor[j].bias_mm = b;
	}
	f->valid = true;
	f->reason = AN_BOXFRAME_OK;
out_done:
	err = 0;
	*out = f;
	f = NULL;
out_fail:
	free(q);
	free(turn);
	free(p);
	free(c);
	an_boxframe_free(f);
	return err;
}

bool an_boxframe_same(const struct an_boxframe *a, const struct an_boxframe *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->valid != b->valid || a->reason != b->reason || a->n_anchor != b->n_anchor ||
	    a->d_mm2_per_s != b->d_mm2_per_s ||
	    a->turnarounds != b->turnarounds || a->lanes != b->lanes)
		return false;
	for (size_t j = 0; j < a->n_anchor; j++)
		if (a->anchor[j].t_ms != b->anchor[j].t_ms || a->anchor[j].bias_mm != b->anchor[j].bias_mm ||
		    a->anchor[j].d_mm2_per_s != b->anchor[j].d_mm2_per_s || a->anchor[j].var_mm2 != b->anchor[j].var_mm2 ||
		    a->anchor[j].h_med_mm != b->anchor[j].h_med_mm)
			return false;
	return true;
}

int an_boxframe_place(const struct an_boxframe *f, int64_t t_ms, int64_t e_mm, int64_t n_mm, uint32_t h_acc_mm,
                      int64_t *e_out, int64_t *n_out, uint32_t *h_out, bool *placed)
{
	if (f == NULL || e_out == NULL || n_out == NULL || h_out == NULL || placed == NULL || !coord_ok(e_mm) ||
	    !coord_ok(n_mm))
		return -EINVAL;
	*e_out = e_mm;
	*n_out = n_mm;
	*h_out = h_acc_mm;
	*placed = false;
	/* a fix worse than twice the lane length is where the reading stops (read_lanes): not placed either */
	if (!f->valid || h_acc_mm == 0 || (uint64_t)h_acc_mm > 2 * (uint64_t)f->box.lane_len_mm || f->n_anchor < 2 ||
	    t_ms < f->anchor[0].t_ms || t_ms > f->anchor[f->n_anchor - 1].t_ms)
		return 0;
	/* the lane: the last anchor at or before t (lane j runs from anchor j to anchor j + 1) */
	size_t lo = 0, hi = f->n_anchor - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->anchor[mid].t_ms <= t_ms)
			lo = mid;
		else
			hi = mid;
	}
	const struct an_boxframe_anchor *a = &f->anchor[lo], *b = &f->anchor[lo + 1];
	struct an_geo_box_pos bp;
	int err = an_geo_box_locate(&f->box, e_mm, n_mm, h_acc_mm, &bp);
	if (err < 0)
		return err;
	int64_t span = b->t_ms - a->t_ms, x = t_ms - a->t_ms;
	double frac = span > 0 ? (double)x / (double)span : 0.0;
	int64_t bias = a->bias_mm + (int64_t)llround(frac * (double)(b->bias_mm - a->bias_mm));
	/* Brownian bridge between the two ends: D·x·(span − x)/span, D per second and times in ms */
	double var_al = (span > 0 ? (double)a->d_mm2_per_s * (double)x * (double)(span - x) / (double)span / 1000.0 : 0.0) +
	                (1.0 - frac) * (double)a->var_mm2 + frac * (double)b->var_mm2;
	double w = (double)f->box.lane_width_mm;
	double hm = (double)a->h_med_mm, hr = (double)h_acc_mm;
	if (hr > hm) /* this fix's own error beyond its lane's typical one: the bias cannot remove it */
		var_al += (hr * hr - hm * hm) / 2.0;
	double var_ac = w * w / 12.0;                           /* uniform inside the lane */
	double var_raw = (double)h_acc_mm * (double)h_acc_mm / 2.0; /* h_acc is a DRMS: per axis h²/2 */
	/* Third reading of along: the time into the lane, the animal walking it end to end at an even pace.
	 * Coarse (sniff pauses, an indication's 10–20 s stop: a quarter of the lane length as its σ), but it
	 * does not depend on the receiver at all — under trees it is the only one left. */
	double len = (double)f->box.lane_len_mm, var_tm = (0.25 * len) * (0.25 * len);
	int64_t along_tm = (int64_t)llround((lo % 2 == 0 ? frac : 1.0 - frac) * len);
	int64_t along = bp.along_mm, across = bp.across_mm;
	double va = var_raw, vc = var_raw;
	bool use_al = var_al < var_raw && var_al <= var_tm, use_tm = !use_al && var_tm < var_raw;
	bool use_ac = var_ac < var_raw;
	if (!use_al && !use_tm && !use_ac)
		return 0; /* the receiver is better than the box on both axes: keep it as it is */
	if (use_al) {
		along = bp.along_mm - bias;
		va = var_al;
	} else if (use_tm) {
		along = along_tm;
		va = var_tm;
	}
	if (use_ac) {
		across = ((2 * (int64_t)lo + 1) * (int64_t)f->box.lane_width_mm) / 2;
		vc = var_ac;
	}
	int64_t e, nn;
	if ((err = an_geo_box_to_enu(&f->box, along, across, &e, &nn)) < 0)
		return err;
	double hh = ceil(sqrt(va + vc));
	*e_out = e;
	*n_out = nn;
	*h_out = hh >= 4e9 ? 4000000000u : hh < 1.0 ? 1u : (uint32_t)hh;
	*placed = true;
	return 0;
}

int an_boxframe_lane_track(const struct an_boxframe *f, struct an_coverage_fix *out, size_t cap, size_t *n_out)
{
	if (f == NULL || n_out == NULL || (out == NULL && cap > 0))
		return -EINVAL;
	*n_out = 0;
	if (!f->valid || f->n_anchor < 2)
		return 0;
	int64_t len = f->box.lane_len_mm, w = f->box.lane_width_mm;
	size_t per = (size_t)((len + AN_BOXFRAME_TRACK_STEP_MM - 1) / AN_BOXFRAME_TRACK_STEP_MM) + 1;
	size_t need = per * (f->n_anchor - 1);
	*n_out = need;
	if (need > cap)
		return -ENOBUFS;
	/* the lane's accuracy across (uniform in the lane) is what places it; along it runs end to end */
	uint32_t h = (uint32_t)(w / 2 > 0 ? w / 2 : 1);
	size_t k = 0;
	for (size_t j = 0; j + 1 < f->n_anchor; j++) {
		int64_t t0 = f->anchor[j].t_ms, t1 = f->anchor[j + 1].t_ms;
		int64_t across = ((2 * (int64_t)j + 1) * w) / 2;
		bool up = j % 2 == 0;
		for (size_t i = 0; i < per; i++) {
			int64_t a = (int64_t)i * AN_BOXFRAME_TRACK_STEP_MM;
			if (a > len)
				a = len;
			int64_t along = up ? a : len - a;
			int64_t e, nn;
			int err = an_geo_box_to_enu(&f->box, along, across, &e, &nn);
			if (err < 0)
				return err;
			int64_t t = t0 + (int64_t)((double)(t1 - t0) * (double)a / (double)len);
			out[k++] = (struct an_coverage_fix){ t, e, nn, h };
		}
	}
	return 0;
}
