/*
 * tests/analysis/coverage_test.c — an_coverage_*: buffered tracks on an APOPO 5 × 20 m rat box (40 lanes of
 * 0.5 m), independent-animal multiplicity per lane segment, exact capsule geometry, conservative gap /
 * accuracy rules, raster == point query, and order independence.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "an/coverage.h"

/* Lanes run east (5 m), stacked north (40 × 0.5 m): lane L's centre line is n = 500 L + 250. */
static struct an_geo_box rat_box(void)
{
	struct an_geo_box b;
	struct an_geo_enu p0 = { 0, 0, 0 }, pa = { 5000, 0, 0 }, pc = { 0, 20000, 0 };
	cr_assert_eq(an_geo_box_init(&b, &p0, &pa, &pc, 500, 40), 0);
	return b;
}

/* A pass along lane `lane`'s centre line (+ off_mm), 0.25 m per second, from e = 0 to 5000. */
static size_t lane_run(struct an_coverage_fix *f, int lane, int64_t off_mm, int64_t t0)
{
	size_t n = 0;
	for (int64_t e = 0; e <= 5000; e += 250, n++)
		f[n] = (struct an_coverage_fix){ t0 + (int64_t)n * 1000, e, 500 * lane + 250 + off_mm, 100 };
	return n;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

Test(an_coverage, one_rat_covers_exactly_its_lane)
{
	struct an_geo_box b = rat_box();
	struct an_coverage_fix f[32];
	size_t n = lane_run(f, 3, 0, 0);
	struct an_coverage_track t = { 1, 11, AN_SPECIES_RAT, 0, f, n };
	struct an_coverage_grid *g;
	cr_assert_eq(an_coverage_grid_new(&b, NULL, &t, 1, &g), 0);
	uint32_t nl, ns;
	an_coverage_grid_dims(g, &nl, &ns);
	cr_assert_eq(nl, 40);
	cr_assert_eq(ns, 10);
	for (uint32_t l = 0; l < nl; l++)
		for (uint32_t s = 0; s < ns; s++) {
			struct an_coverage_cell c;
			cr_assert_eq(an_coverage_grid_cell(g, l, s, &c), 0);
			cr_assert_eq(c.n_animals, l == 3 ? 1u : 0u, "lane %u seg %u", l, s);
		}
	size_t cells;
	int64_t area;
	cr_assert_eq(an_coverage_grid_session_area(g, 1, &cells, &area), 0);
	cr_assert_eq(cells, 10);
	cr_assert_eq(area, 2500000); /* 5 m × 0.5 m */
	struct an_coverage_summary sum;
	an_coverage_grid_summary(g, &sum);
	cr_assert_eq(sum.cells_by_mult[1], 10);
	cr_assert_eq(sum.cells_by_mult[0], 390);
	cr_assert_eq(sum.area_mm2, 100000000);
	cr_assert(!sum.fully_covered);
	uint32_t l, s;
	cr_assert_eq(an_coverage_grid_locate(g, 4999, 1999, &l, &s), 0);
	cr_assert_eq(l, 3);
	cr_assert_eq(s, 9);
	cr_assert_eq(an_coverage_grid_locate(g, 5001, 1999, &l, &s), -ERANGE);
	an_coverage_grid_free(g);
}

/* Three rats and a second pass of one of them: multiplicity counts ANIMALS, not passes. */
Test(an_coverage, counts_independent_animals_1x_2x_3x)
{
	struct an_geo_box b = rat_box();
	static struct an_coverage_fix f[16][32];
	struct an_coverage_track t[16];
	size_t k = 0;
	/* rat 11: lanes 0..3; rat 12: lanes 2..5; rat 13: lanes 3..4; rat 11 again (session 9): lane 0 */
	int lanes[][3] = { { 11, 0, 3 }, { 12, 2, 5 }, { 13, 3, 4 } };
	for (int r = 0; r < 3; r++)
		for (int l = lanes[r][1]; l <= lanes[r][2]; l++, k++) {
			/* one session per lane-pass keeps the test simple; several passes of one animal */
			size_t n = lane_run(f[k], l, 0, 100000 * (int64_t)k);
			t[k] = (struct an_coverage_track){ 100 + k, (uint64_t)lanes[r][0], AN_SPECIES_RAT, 0, f[k], n };
		}
	size_t n = lane_run(f[k], 0, 100, 0);
	t[k] = (struct an_coverage_track){ 9, 11, AN_SPECIES_RAT, 0, f[k], n };
	k++;
	struct an_coverage_grid *g;
	cr_assert_eq(an_coverage_grid_new(&b, NULL, t, k, &g), 0);
	unsigned want[6] = { 1, 1, 2, 3, 2, 1 };
	unsigned want_sess[6] = { 2, 1, 2, 3, 2, 1 };
	for (uint32_t l = 0; l < 6; l++) {
		struct an_coverage_cell c;
		cr_assert_eq(an_coverage_grid_cell(g, l, 4, &c), 0);
		cr_assert_eq(c.n_animals, want[l], "lane %u: %u animals", l, c.n_animals);
		cr_assert_eq(c.n_sessions, want_sess[l], "lane %u: %u sessions", l, c.n_sessions);
	}
	uint64_t ids[4];
	size_t na;
	cr_assert_eq(an_coverage_grid_cell_animals(g, 3, 0, ids, 4, &na), 0);
	cr_assert_eq(na, 3);
	cr_assert(ids[0] == 11 && ids[1] == 12 && ids[2] == 13);
	cr_assert_eq(an_coverage_grid_cell_animals(g, 3, 0, ids, 2, &na), -ENOBUFS);
	bool cov;
	cr_assert_eq(an_coverage_grid_animal_covers(g, 13, 4, 0, &cov), 0);
	cr_assert(cov);
	cr_assert_eq(an_coverage_grid_animal_covers(g, 13, 5, 0, &cov), 0);
	cr_assert(!cov);
	cr_assert_eq(an_coverage_grid_session_covers(g, 9, 0, 7, &cov), 0);
	cr_assert(cov);
	cr_assert_eq(an_coverage_grid_session_covers(g, 9, 1, 7, &cov), 0);
	cr_assert(!cov);
	cr_assert_eq(an_coverage_grid_session_covers(g, 12345, 1, 7, &cov), -ENOENT);
	struct an_coverage_summary sum;
	an_coverage_grid_summary(g, &sum);
	cr_assert_eq(sum.cells_by_mult[1], 30);
	cr_assert_eq(sum.cells_by_mult[2], 20);
	cr_assert_eq(sum.cells_by_mult[3], 10);
	cr_assert_eq(sum.area_by_mult_mm2[2], 20 * 250000);
	cr_assert_eq(sum.n_animals, 3);
	cr_assert_eq(sum.n_sessions, k);
	an_coverage_grid_free(g);
}

Test(an_coverage, capsule_boundary_is_exact)
{
	/* segment (0,0)–(4000,0), rat sweep 500: covered iff distance <= 250 mm */
	struct an_coverage_fix f[2] = { { 0, 0, 0, 50 }, { 1000, 4000, 0, 50 } };
	struct an_coverage_track t = { 1, 1, AN_SPECIES_RAT, 0, f, 2 };
	struct an_coverage_opts o;
	an_coverage_opts_init(&o);
	o.max_step_mm = 5000;
	struct an_coverage_path *p;
	cr_assert_eq(an_coverage_path_new(&t, &o, &p), 0);
	cr_assert_eq(an_coverage_path_segments(p), 1);
	cr_assert(an_coverage_path_covers(p, 2000, 250));
	cr_assert(!an_coverage_path_covers(p, 2000, 251));
	cr_assert(an_coverage_path_covers(p, 2000, -250));
	cr_assert(an_coverage_path_covers(p, -150, 200));  /* end cap: 150² + 200² = 250² */
	cr_assert(!an_coverage_path_covers(p, -151, 200));
	cr_assert(an_coverage_path_covers(p, 4150, -200));
	/* odd sweep: 501 → radius 250.5 */
	t.sweep_width_mm = 501;
	an_coverage_path_free(p);
	cr_assert_eq(an_coverage_path_new(&t, &o, &p), 0);
	cr_assert(an_coverage_path_covers(p, 2000, 250));
	cr_assert(!an_coverage_path_covers(p, 2000, 251));
	an_coverage_path_free(p);
	/* a dog's default sweep is 1 m */
	t.species = AN_SPECIES_DOG;
	t.sweep_width_mm = 0;
	cr_assert_eq(an_coverage_path_new(&t, &o, &p), 0);
	cr_assert(an_coverage_path_covers(p, 2000, 500));
	cr_assert(!an_coverage_path_covers(p, 2000, 501));
	an_coverage_path_free(p);
}

Test(an_coverage, gaps_jumps_and_poor_fixes_are_not_claimed)
{
	struct an_coverage_fix f[6] = {
		{ 0, 0, 0, 100 },
		{ 10000, 2000, 0, 100 },  /* 10 s later: not joined (max_gap 5 s) */
		{ 11000, 2200, 0, 0 },    /* unknown accuracy: not usable */
		{ 12000, 2400, 0, 1500 }, /* worse than 1 m: not usable */
		{ 13000, 6000, 0, 100 },  /* 3 s after the previous usable fix but 4 m away: not joined */
		{ 14000, 6500, 0, 100 },  /* joined to the previous */
	};
	struct an_coverage_track t = { 1, 1, AN_SPECIES_RAT, 0, f, 6 };
	struct an_coverage_path *p;
	cr_assert_eq(an_coverage_path_new(&t, NULL, &p), 0);
	cr_assert_eq(an_coverage_path_usable(p), 4);
	cr_assert_eq(an_coverage_path_segments(p), 1);
	cr_assert(an_coverage_path_covers(p, 100, 0));    /* disc around the first fix */
	cr_assert(!an_coverage_path_covers(p, 1000, 0));  /* the 10 s gap */
	cr_assert(!an_coverage_path_covers(p, 2400, 0));  /* only the poor fixes were there */
	cr_assert(!an_coverage_path_covers(p, 4000, 0));  /* the jump */
	cr_assert(an_coverage_path_covers(p, 6250, 100)); /* the joined pair */
	an_coverage_path_free(p);

	struct an_coverage_track bad = { 1, 1, 0, 0, f, 6 };
	cr_assert_eq(an_coverage_path_new(&bad, NULL, &p), -EINVAL);
	cr_assert_null(p);
	bad.species = AN_SPECIES_RAT;
	bad.sweep_width_mm = AN_COVERAGE_SWEEP_MAX_MM + 1;
	cr_assert_eq(an_coverage_path_new(&bad, NULL, &p), -EINVAL);
	struct an_geo_box b = rat_box();
	struct an_coverage_track two[2] = { t, t };
	struct an_coverage_grid *g;
	cr_assert_eq(an_coverage_grid_new(&b, NULL, two, 2, &g), -EINVAL); /* duplicate session id */
	struct an_coverage_opts o;
	an_coverage_opts_init(&o);
	o.max_cells = 399;
	cr_assert_eq(an_coverage_grid_new(&b, &o, &t, 1, &g), -E2BIG);
}

/* Random wandering tracks: every raster cell equals the point query at its centre, and shuffling the
 * fixes and the tracks 100 times gives identical cells. */
#define NT 5
#define NF 300
Test(an_coverage, raster_equals_point_query_and_is_order_independent)
{
	struct an_geo_box b = rat_box();
	static struct an_coverage_fix f[NT][NF];
	struct an_coverage_track t[NT];
	uint64_t s = 99;
	for (size_t k = 0; k < NT; k++) {
		int64_t e = (int64_t)(rng_next(&s) % 5000), n = (int64_t)(rng_next(&s) % 20000);
		for (size_t i = 0; i < NF; i++) {
			e += (int64_t)(rng_next(&s) % 801) - 400;
			n += (int64_t)(rng_next(&s) % 801) - 400;
			uint32_t acc = (uint32_t)(rng_next(&s) % 1300); /* some unusable */
			int64_t dt = (rng_next(&s) % 20 == 0) ? 7000 : 1000;  /* some gaps */
			f[k][i] = (struct an_coverage_fix){ (i ? f[k][i - 1].t_ms : 0) + dt, e, n, acc };
		}
		t[k] = (struct an_coverage_track){ 500 + k, 20 + k % 3, (k & 1) ? AN_SPECIES_DOG : AN_SPECIES_RAT, 0,
						   f[k], NF };
	}
	struct an_coverage_grid *g0;
	cr_assert_eq(an_coverage_grid_new(&b, NULL, t, NT, &g0), 0);
	struct an_coverage_path *p[NT];
	for (size_t k = 0; k < NT; k++)
		cr_assert_eq(an_coverage_path_new(&t[k], NULL, &p[k]), 0);
	size_t covered = 0;
	for (uint32_t l = 0; l < 40; l++)
		for (uint32_t sg = 0; sg < 10; sg++) {
			struct an_coverage_cell c;
			cr_assert_eq(an_coverage_grid_cell(g0, l, sg, &c), 0);
			for (size_t k = 0; k < NT; k++) {
				bool cov;
				cr_assert_eq(an_coverage_grid_session_covers(g0, t[k].session_id, l, sg, &cov), 0);
				cr_assert_eq(cov, an_coverage_path_covers(p[k], c.e_mm, c.n_mm), "lane %u seg %u track %zu",
					     l, sg, k);
				covered += cov;
			}
		}
	cr_assert_gt(covered, 50); /* the tracks do cover something */
	for (size_t k = 0; k < NT; k++)
		an_coverage_path_free(p[k]);

	for (int round = 0; round < 100; round++) {
		for (size_t k = 0; k < NT; k++)
			for (size_t i = NF; i > 1; i--) {
				size_t j = (size_t)(rng_next(&s) % i);
				struct an_coverage_fix x = f[k][i - 1];
				f[k][i - 1] = f[k][j];
				f[k][j] = x;
			}
		for (size_t i = NT; i > 1; i--) {
			size_t j = (size_t)(rng_next(&s) % i);
			struct an_coverage_track x = t[i - 1];
			t[i - 1] = t[j];
			t[j] = x;
		}
		struct an_coverage_grid *g;
		cr_assert_eq(an_coverage_grid_new(&b, NULL, t, NT, &g), 0);
		for (uint32_t l = 0; l < 40; l++)
			for (uint32_t sg = 0; sg < 10; sg++) {
				struct an_coverage_cell a, c;
				cr_assert_eq(an_coverage_grid_cell(g0, l, sg, &a), 0);
				cr_assert_eq(an_coverage_grid_cell(g, l, sg, &c), 0);
				cr_assert_eq(memcmp(&a, &c, sizeof(a)), 0, "round %d lane %u seg %u", round, l, sg);
				for (size_t k = 0; k < NT; k++) {
					bool x, y;
					cr_assert_eq(an_coverage_grid_session_covers(g0, 500 + k, l, sg, &x), 0);
					cr_assert_eq(an_coverage_grid_session_covers(g, 500 + k, l, sg, &y), 0);
					cr_assert_eq(x, y);
				}
			}
		struct an_coverage_summary s0, s1;
		an_coverage_grid_summary(g0, &s0);
		an_coverage_grid_summary(g, &s1);
		cr_assert_eq(memcmp(&s0, &s1, sizeof(s0)), 0);
		an_coverage_grid_free(g);
	}
	an_coverage_grid_free(g0);
}
