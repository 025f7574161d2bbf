/*
 * tests/analysis/boxframe_test.c — box-frame reconstruction (an/boxframe.h) and what the hazard engine does
 * with it (an/hazard.h).
 *
 * The tracks are made here, independently of the simulator: a rat runs a 5 × 20 m box's 40 lanes
 * boustrophedon at 1 Hz with a dwell at every lane end, and a consumer receiver's error is a first-order
 * Gauss–Markov bias per axis (σ 2.12 m = 2.5 m CEP, τ 60 s, analysis.md §1.4) — the model the fit is built
 * on, so these tests judge the fit's arithmetic and honesty; the simulator's own worlds judge the rest
 * (scentrack sim --evaluate --in-process, docs/testing.md).
 */
#define _GNU_SOURCE /* open_memstream */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/boxframe.h"
#include "an/hazard.h"

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
	return sqrt(-2.0 * log(unit(s))) * cos(6.283185307179586 * unit(s));
}

/* A rat box with its lanes along a bearing of 17°, p0 at (3 m, 4 m). */
static struct an_geo_box rat_box(void)
{
	double a = 17.0 * 3.14159265358979 / 180.0;
	double ua_e = sin(a), ua_n = cos(a), uc_e = cos(a), uc_n = -sin(a);
	struct an_geo_enu p0 = { 3000, 4000, 0 };
	struct an_geo_enu pa = { 3000 + llround(5000 * ua_e), 4000 + llround(5000 * ua_n), 0 };
	struct an_geo_enu pc = { 3000 + llround(20000 * uc_e), 4000 + llround(20000 * uc_n), 0 };
	struct an_geo_box b;
	cr_assert_eq(an_geo_box_init(&b, &p0, &pa, &pc, 500, 40), 0);
	return b;
}

struct track {
	struct an_coverage_fix *fix; /* reported */
	int64_t *true_e, *true_n;    /* where the animal was */
	size_t n;
};

/*
 * One pass: lanes 0 .. lanes-1 (partial = stop half way along the next lane), 1 Hz from t0_ms, 0.35 m/s
 * with 0.15 m zig-zag across, a 3 s dwell at every lane end (the handlers' step), receiver error GM
 * σ = sigma_mm, τ = 60 s, reported h_acc = h_mm.
 */
static uint32_t g_canopy_from = UINT32_MAX, g_canopy_to; /* lanes [from, to) under trees */

static struct track make_pass(const struct an_geo_box *b, uint32_t lanes, bool partial, int64_t t0_ms,
                              double sigma_mm, uint32_t h_mm, uint64_t seed)
{
	/* under trees: a second Gauss–Markov term, σ 10 m, τ 20 s, as analysis.md §1.4's canopy numbers */
	double ce = 0, cn = 0, cphi = exp(-1.0 / 20.0), cq = 10000.0 * sqrt(1.0 - exp(-2.0 / 20.0));
	struct track tr = { 0 };
	size_t cap = 200000;
	tr.fix = calloc(cap, sizeof(*tr.fix));
	tr.true_e = calloc(cap, sizeof(*tr.true_e));
	tr.true_n = calloc(cap, sizeof(*tr.true_n));
	cr_assert(tr.fix && tr.true_e && tr.true_n);
	uint64_t s = seed;
	double be = sigma_mm * gauss(&s), bn = sigma_mm * gauss(&s), phi = exp(-1.0 / 60.0);
	double q = sigma_mm * sqrt(1.0 - phi * phi);
	int64_t t = t0_ms;
	uint32_t total = lanes + (partial ? 1u : 0u);
	for (uint32_t k = 0; k < total; k++) {
		bool up = k % 2 == 0;
		double across = (k + 0.5) * 500.0;
		double len = (double)b->lane_len_mm * (partial && k == lanes ? 0.5 : 1.0);
		int steps = (int)ceil(len / 350.0);
		for (int i = 0; i <= steps + 3; i++) {
			double a = i <= steps ? len * i / steps : len; /* the last 3 fixes: the dwell at the end */
			double along = up ? a : (double)b->lane_len_mm - a;
			double zig = (unit(&s) - 0.5) * 150.0;
			int64_t e, n;
			cr_assert_eq(an_geo_box_to_enu(b, llround(along), llround(across + zig), &e, &n), 0);
			be = phi * be + q * gauss(&s);
			bn = phi * bn + q * gauss(&s);
			bool trees = k >= g_canopy_from && k < g_canopy_to;
			ce = trees ? cphi * ce + cq * gauss(&s) : 0;
			cn = trees ? cphi * cn + cq * gauss(&s) : 0;
			tr.true_e[tr.n] = e;
			tr.true_n[tr.n] = n;
			tr.fix[tr.n] = (struct an_coverage_fix){ t, e + llround(be + ce), n + llround(bn + cn),
								 trees ? 14000u : h_mm };
			tr.n++;
			t += 1000;
		}
	}
	return tr;
}

static void track_free(struct track *t)
{
	free(t->fix);
	free(t->true_e);
	free(t->true_n);
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

Test(an_boxframe, consumer_pass_is_pulled_into_its_lanes_with_an_honest_accuracy)
{
	struct an_geo_box b = rat_box();
	size_t n_raw = 0, n_pl = 0, within = 0, total = 0, outside = 0;
	static double raw[200000], pl[200000];
	for (uint64_t seed = 1; seed <= 10; seed++) {
		struct track tr = make_pass(&b, 40, false, 1000000, 2123.0, 3000, seed);
		struct an_boxframe *f;
		cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f), 0);
		cr_assert(f->valid, "seed %llu: %s (%u turnarounds)", (unsigned long long)seed,
			  an_boxframe_reason_name(f->reason), f->turnarounds);
		cr_assert_eq(f->lanes, 40, "seed %llu: %u lanes of %u turnarounds", (unsigned long long)seed, f->lanes, f->turnarounds);
		cr_assert_eq(f->n_anchor, 41);
		/* the consumer error's diffusion, 2σ²/τ = 150 000 mm²/s, within a factor of 2 */
		cr_assert(f->d_mm2_per_s > 75000 && f->d_mm2_per_s < 300000, "D %llu",
			  (unsigned long long)f->d_mm2_per_s);
		for (size_t i = 0; i < tr.n; i++) {
			int64_t e, n;
			uint32_t h;
			bool placed;
			cr_assert_eq(an_boxframe_place(f, tr.fix[i].t_ms, tr.fix[i].e_mm, tr.fix[i].n_mm, 3000, &e, &n, &h,
						       &placed), 0);
			bool inside = tr.fix[i].t_ms >= f->anchor[0].t_ms && tr.fix[i].t_ms <= f->anchor[40].t_ms;
			cr_assert_eq(placed, inside);
			if (!placed) {
				outside++;
				continue;
			}
			double er = hypot((double)(tr.fix[i].e_mm - tr.true_e[i]), (double)(tr.fix[i].n_mm - tr.true_n[i]));
			double ep = hypot((double)(e - tr.true_e[i]), (double)(n - tr.true_n[i]));
			raw[n_raw++] = er;
			pl[n_pl++] = ep;
			/* h is a DRMS: a 2-D normal error exceeds 1.73·DRMS (its 95 % radius) 5 % of the time */
			within += ep <= 1.73 * h;
			total++;
		}
		an_boxframe_free(f);
		track_free(&tr);
	}
	/* only the dwell before lane 0 and after the last lane's end are outside the pass */
	cr_assert_lt(outside, total / 50, "%zu of %zu fixes outside the fitted lanes", outside, total);
	qsort(raw, n_raw, sizeof(*raw), dbl_cmp);
	qsort(pl, n_pl, sizeof(*pl), dbl_cmp);
	double mr = raw[n_raw / 2], mp = pl[n_pl / 2];
	cr_assert(mr > 2000.0, "raw median %.0f mm: the test's receiver must be consumer grade", mr);
	cr_assert(mp < 0.5 * mr && mp < 1000.0, "placed median %.0f mm vs raw %.0f mm", mp, mr);
	cr_assert(within >= 0.90 * (double)total, "only %zu of %zu placed errors within their 95 %% radius", within,
		  total);
}

Test(an_boxframe, reading_stops_where_the_receiver_cannot_show_a_lane)
{
	struct an_geo_box b = rat_box();
	int stopped = 0;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		g_canopy_from = 16; /* lanes 16..21 under trees: 10 m of error, the receiver says 14 m */
		g_canopy_to = 22;
		struct track tr = make_pass(&b, 40, false, 1000000, 2123.0, 3000, 100 + seed);
		g_canopy_from = UINT32_MAX;
		struct an_boxframe *f;
		cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f), 0);
		/* never a lane read under the trees (the count would be guessed from there on) */
		cr_assert(!f->valid || f->lanes <= 16, "seed %llu: %u lanes", (unsigned long long)seed, f->lanes);
		stopped += f->valid && f->lanes >= 10;
		size_t under = 0;
		for (size_t i = 0; i < tr.n && f->valid; i++) {
			int64_t e, n;
			uint32_t h;
			bool placed;
			cr_assert_eq(an_boxframe_place(f, tr.fix[i].t_ms, tr.fix[i].e_mm, tr.fix[i].n_mm, tr.fix[i].h_acc_mm, &e,
						       &n, &h, &placed), 0);
			under += placed && tr.fix[i].h_acc_mm == 14000u;
		}
		/* at most the dwell at the last lane end read, where the trees begin */
		cr_assert_leq(under, 3, "seed %llu: %zu fixes under the trees placed", (unsigned long long)seed, under);
		an_boxframe_free(f);
		track_free(&tr);
	}
	cr_assert_geq(stopped, 5, "only %d of 8 passes read up to the trees", stopped);
}

Test(an_boxframe, fit_is_a_function_of_the_set_of_fixes)
{
	struct an_geo_box b = rat_box();
	struct track tr = make_pass(&b, 40, false, 5000, 2123.0, 3000, 42);
	struct an_boxframe *f0, *f1;
	cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f0), 0);
	cr_assert(f0->valid);
	uint64_t s = 9;
	for (int round = 0; round < 20; round++) {
		for (size_t i = tr.n - 1; i > 0; i--) {
			size_t j = (size_t)(rng_next(&s) % (i + 1));
			struct an_coverage_fix t = tr.fix[i];
			tr.fix[i] = tr.fix[j];
			tr.fix[j] = t;
		}
		cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f1), 0);
		cr_assert(an_boxframe_same(f0, f1), "round %d", round);
		an_boxframe_free(f1);
	}
	an_boxframe_free(f0);
	track_free(&tr);
}

Test(an_boxframe, pass_in_progress_is_placed_lane_by_lane)
{
	struct an_geo_box b = rat_box();
	struct track tr = make_pass(&b, 12, true, 5000, 2123.0, 3000, 7);
	struct an_boxframe *f;
	cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f), 0);
	cr_assert(f->valid);
	/* lanes 0..11 are closed by their turnaround; lane 12 is still being run: not placed yet */
	cr_assert_eq(f->lanes, 12, "%u lanes", f->lanes);
	const struct an_coverage_fix *last = &tr.fix[tr.n - 1];
	int64_t e, n;
	uint32_t h;
	bool placed;
	cr_assert_eq(an_boxframe_place(f, last->t_ms, last->e_mm, last->n_mm, last->h_acc_mm, &e, &n, &h, &placed), 0);
	cr_assert(!placed);
	cr_assert(e == last->e_mm && n == last->n_mm && h == last->h_acc_mm);
	an_boxframe_free(f);
	track_free(&tr);
}

Test(an_boxframe, rtk_track_is_left_as_it_is)
{
	struct an_geo_box b = rat_box();
	struct track tr = make_pass(&b, 40, false, 5000, 10.0, 14, 3);
	struct an_boxframe *f;
	cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f), 0);
	cr_assert(f->valid);
	for (size_t i = 0; i < tr.n; i++) {
		int64_t e, n;
		uint32_t h;
		bool placed;
		cr_assert_eq(an_boxframe_place(f, tr.fix[i].t_ms, tr.fix[i].e_mm, tr.fix[i].n_mm, 14, &e, &n, &h, &placed), 0);
		cr_assert(!placed && e == tr.fix[i].e_mm && n == tr.fix[i].n_mm && h == 14);
	}
	an_boxframe_free(f);
	track_free(&tr);
}

Test(an_boxframe, tracks_that_are_not_lanes_are_not_used)
{
	struct an_geo_box b = rat_box();
	/* a random walk inside the box (a dog running free), 1500 fixes */
	static struct an_coverage_fix v[1500];
	uint64_t s = 5;
	double x = 2500, y = 10000;
	for (size_t i = 0; i < 1500; i++) {
		x = fmin(5000, fmax(0, x + 300 * gauss(&s)));
		y = fmin(20000, fmax(0, y + 300 * gauss(&s)));
		int64_t e, n;
		cr_assert_eq(an_geo_box_to_enu(&b, llround(x), llround(y), &e, &n), 0);
		v[i] = (struct an_coverage_fix){ (int64_t)i * 1000, e, n, 500 };
	}
	struct an_boxframe *f;
	cr_assert_eq(an_boxframe_fit(&b, v, 1500, &f), 0);
	cr_assert(!f->valid);
	cr_assert(f->reason == AN_BOXFRAME_LANES || f->reason == AN_BOXFRAME_ACROSS, "%s", an_boxframe_reason_name(f->reason));
	an_boxframe_free(f);
	/* too few fixes, and a box without lanes */
	cr_assert_eq(an_boxframe_fit(&b, v, 50, &f), 0);
	cr_assert(!f->valid && f->reason == AN_BOXFRAME_FEW_FIXES);
	an_boxframe_free(f);
	struct an_geo_box nb = b;
	nb.lane_count = 0;
	cr_assert_eq(an_boxframe_fit(&nb, v, 1500, &f), 0);
	cr_assert(!f->valid && f->reason == AN_BOXFRAME_BOX);
	an_boxframe_free(f);
	cr_assert_eq(an_boxframe_fit(NULL, v, 10, &f), -EINVAL);
	v[3].e_mm = AN_GEO_RANGE_MAX_MM + 1;
	cr_assert_eq(an_boxframe_fit(&b, v, 10, &f), -EINVAL);
}

Test(an_boxframe, lane_track_runs_every_fitted_lane_end_to_end)
{
	struct an_geo_box b = rat_box();
	struct track tr = make_pass(&b, 40, false, 5000, 2123.0, 3000, 11);
	struct an_boxframe *f;
	cr_assert_eq(an_boxframe_fit(&b, tr.fix, tr.n, &f), 0);
	size_t need;
	cr_assert_eq(an_boxframe_lane_track(f, NULL, 0, &need), -ENOBUFS);
	cr_assert_eq(need, 40u * 21u); /* 5 m in 250 mm steps: 21 points per lane */
	struct an_coverage_fix *v = calloc(need, sizeof(*v));
	size_t n;
	cr_assert_eq(an_boxframe_lane_track(f, v, need, &n), 0);
	cr_assert_eq(n, need);
	/* every lane's centre line at every 250 mm, in time order */
	for (uint32_t k = 0; k < 40; k++)
		for (int i = 0; i <= 20; i++) {
			const struct an_coverage_fix *p = &v[k * 21 + (uint32_t)i];
			struct an_geo_box_pos bp;
			cr_assert_eq(an_geo_box_locate(&b, p->e_mm, p->n_mm, p->h_acc_mm, &bp), 0);
			cr_assert_eq(bp.lane, (int32_t)k);
			cr_assert(llabs(bp.offset_mm) <= 1, "lane %u offset %lld", k, (long long)bp.offset_mm);
			int64_t want = k % 2 == 0 ? i * 250 : 5000 - i * 250;
			cr_assert(llabs(bp.along_mm - want) <= 1);
			cr_assert_eq(p->h_acc_mm, 250u);
			if (k * 21 + (uint32_t)i > 0)
				cr_assert_geq(p->t_ms, v[k * 21 + (uint32_t)i - 1].t_ms);
		}
	free(v);
	an_boxframe_free(f);
	track_free(&tr);
}

/* ---- the hazard engine with box-framed sessions ------------------------------------------------------------ */

/* Two consumer rats over one box with three items: the indications lie metres apart as reported. */
struct day {
	struct an_hazard_input *in;
	size_t n;
};

static void push(struct day *d, struct an_hazard_input x)
{
	d->in[d->n++] = x;
}

static struct day two_rats(bool with_box, uint64_t seed)
{
	struct day d = { calloc(20000, sizeof(struct an_hazard_input)), 0 };
	cr_assert_not_null(d.in);
	struct an_geo_box b = rat_box();
	/* items at (along, lane): where each rat indicates (the animal stands on the item) */
	static const int64_t items[3][2] = { { 1200, 5 }, { 3900, 22 }, { 2500, 33 } };
	for (uint64_t r = 0; r < 2; r++) {
		uint64_t sid = 10 + r, animal = 1 + r;
		struct an_hazard_input s = { .kind = AN_HAZARD_IN_SESSION };
		s.u.session = (struct an_hazard_session){ .session_id = sid, .animal_id = animal,
							   .species = AN_SPECIES_RAT, .has_box = with_box, .box = b };
		push(&d, s);
		struct track tr = make_pass(&b, 40, false, 1000000 + (int64_t)r * 3600000, 2123.0, 3000, seed * 10 + r);
		for (size_t i = 0; i < tr.n; i++) {
			struct an_hazard_input f = { .kind = AN_HAZARD_IN_FIX };
			f.u.fix = (struct an_hazard_fix){ sid, tr.fix[i] };
			push(&d, f);
			struct an_geo_box_pos bp;
			cr_assert_eq(an_geo_box_locate(&b, tr.true_e[i], tr.true_n[i], 0, &bp), 0);
			for (int k = 0; k < 3; k++) {
				if (bp.lane != items[k][1] || llabs(bp.along_mm - items[k][0]) > 175)
					continue;
				if (i > 0) {
					struct an_geo_box_pos pb;
					cr_assert_eq(an_geo_box_locate(&b, tr.true_e[i - 1], tr.true_n[i - 1], 0, &pb), 0);
					if (pb.lane == items[k][1] && llabs(pb.along_mm - items[k][0]) <= 175)
						continue; /* one indication per item per pass */
				}
				struct an_hazard_input x = { .kind = AN_HAZARD_IN_IND };
				/* the collar's IND carries its last fix */
				x.u.ind = (struct an_hazard_ind){ (animal << 32) | (uint64_t)(k + 1), animal, sid,
								  tr.fix[i].t_ms, tr.fix[i].e_mm, tr.fix[i].n_mm, 3000 };
				push(&d, x);
			}
		}
		track_free(&tr);
	}
	return d;
}

static char *dump_of(const struct an_hazard_engine *e, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	cr_assert_not_null(m);
	cr_assert_eq(an_hazard_dump(e, m), 0);
	fclose(m);
	return buf;
}

Test(an_boxframe, engine_links_two_consumer_rats_and_counts_their_clean_lanes)
{
	struct an_hazard_opts o;
	an_hazard_opts_init(&o);
	o.eps_mm = AN_HAZARD_EPS_DERIVED;
	int agree_box = 0, agree_raw = 0, clean_box = 0;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		for (int wb = 0; wb < 2; wb++) {
			struct day d = two_rats(wb == 1, seed);
			cr_assert_gt(d.n, 2 * 700);
			struct an_hazard_engine *e;
			cr_assert_eq(an_hazard_new(&o, &e), 0);
			cr_assert_eq(an_hazard_apply(e, d.in, d.n, 0), 0);
			for (size_t i = 0; i < an_hazard_count(e); i++) {
				struct an_hazard_point p;
				cr_assert_eq(an_hazard_get(e, i, &p), 0);
				if (p.n_ind_animals >= 2)
					*(wb ? &agree_box : &agree_raw) += 1;
				if (wb)
					clean_box += p.n_clean_passes > 0;
			}
			an_hazard_free(e);
			free(d.in);
		}
	}
	/* 12 days × 3 items indicated by both rats. Placed consumer indications are ~0.9 m off (the along
	 * error between two lane ends), so a pair links ~85 % of the time; raw ones (~3 m) under half. */
	cr_assert_geq(agree_box, 29, "box frame: %d of 36 items with both rats in one point", agree_box);
	cr_assert_leq(agree_raw * 3, agree_box * 2, "raw consumer fixes link %d of 36, box frame %d", agree_raw, agree_box);
	/* every point has the other rat's lanes over it: with two indications none is clean, so this
	 * only counts points where the pair did not link — the fit claimed the other rat's lane */
	cr_assert_leq(clean_box, 2 * (36 - agree_box));
}

Test(an_boxframe, engine_state_is_a_function_of_the_set_with_box_frames)
{
	struct an_hazard_opts o;
	an_hazard_opts_init(&o);
	o.eps_mm = AN_HAZARD_EPS_DERIVED;
	struct day d = two_rats(true, 3);
	/* one false indication of rat 2 away from the items, and rat 1's clean lanes over it */
	struct an_hazard_input x = { .kind = AN_HAZARD_IN_IND };
	for (size_t i = 0; i < d.n; i++)
		if (d.in[i].kind == AN_HAZARD_IN_FIX && d.in[i].u.fix.session_id == 11 && i % 400 == 0) {
			const struct an_coverage_fix *f = &d.in[i].u.fix.fix;
			x.u.ind = (struct an_hazard_ind){ (2ULL << 32) | 99, 2, 11, f->t_ms, f->e_mm, f->n_mm, 3000 };
		}
	cr_assert_neq(x.u.ind.id, 0);
	d.in[d.n++] = x;
	struct an_hazard_engine *e0;
	cr_assert_eq(an_hazard_new(&o, &e0), 0);
	cr_assert_eq(an_hazard_apply(e0, d.in, d.n, 0), 0);
	size_t l0;
	char *d0 = dump_of(e0, &l0);
	cr_assert_not_null(strstr(d0, "clean"), "the false indication must meet rat 1's lanes:\n%s", d0);
	uint64_t s = 1234;
	for (int round = 0; round < 6; round++) {
		for (size_t i = d.n - 1; i > 0; i--) {
			size_t j = (size_t)(rng_next(&s) % (i + 1));
			struct an_hazard_input t = d.in[i];
			d.in[i] = d.in[j];
			d.in[j] = t;
		}
		struct an_hazard_engine *e;
		cr_assert_eq(an_hazard_new(&o, &e), 0);
		/* batches like the core's: tens of records at a time */
		for (size_t i = 0; i < d.n;) {
			size_t b = 1 + (size_t)(rng_next(&s) % 60);
			if (b > d.n - i)
				b = d.n - i;
			cr_assert_eq(an_hazard_apply(e, d.in + i, b, (int64_t)i), 0);
			i += b;
		}
		size_t l;
		char *dd = dump_of(e, &l);
		cr_assert(l == l0 && memcmp(dd, d0, l) == 0, "round %d differs:\n%s\nvs\n%s", round, dd, d0);
		free(dd);
		an_hazard_free(e);
	}
	free(d0);
	an_hazard_free(e0);
	free(d.in);
}
