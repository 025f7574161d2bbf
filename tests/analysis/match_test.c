/*
 * tests/analysis/match_test.c — an_match_*: gate arithmetic, hand-made matchings where greedy fails,
 * the max-cardinality-then-min-cost objective, component split, order independence, tie-break, errors.
 * Random cases against scipy.optimize.linear_sum_assignment: tests/analysis/scipy/match_vs_scipy.py.
 */
#include "an/match.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct an_match_point pt(uint64_t id, int64_t x, int64_t y, int64_t s)
{
	struct an_match_point p = { id, x, y, s };
	return p;
}

static struct an_match_opts fixed_gate(int64_t mm)
{
	struct an_match_opts o;
	an_match_opts_init(&o);
	o.gate_min_mm = mm;
	o.gate_chi2_micro = 0;
	return o;
}

Test(an_match, chi2_and_gate_radius)
{
	uint32_t c;
	cr_assert_eq(an_match_chi2_micro(0.99, &c), 0);
	cr_assert_eq(c, AN_MATCH_CHI2_99_MICRO);
	cr_assert_eq(an_match_chi2_micro(0.95, &c), 0);
	cr_assert_eq(c, AN_MATCH_CHI2_95_MICRO);
	cr_assert_eq(an_match_chi2_micro(1.0, &c), -EINVAL);

	int64_t r;
	cr_assert_eq(an_match_gate_radius_mm(500, 500, NULL, &r), 0);
	cr_assert_eq(r, 2145, "floor(sqrt(9.21034 * 500000)) = floor(2145.97), got %ld", (long)r);
	cr_assert_eq(an_match_gate_radius_mm(100, 100, NULL, &r), 0);
	cr_assert_eq(r, 1000, "the 1 m floor");
	cr_assert_eq(an_match_gate_radius_mm(2000, 0, NULL, &r), 0);
	cr_assert_eq(r, 6069, "3.0349 * 2000");
	struct an_match_opts o = fixed_gate(1000);
	cr_assert_eq(an_match_gate_radius_mm(5000, 5000, &o, &r), 0);
	cr_assert_eq(r, 1000, "strict gate ignores sigma");
	cr_assert_eq(an_match_gate_radius_mm(-1, 0, NULL, &r), -EINVAL);
}

Test(an_match, gate_boundary_is_exact)
{
	struct an_match_opts o = fixed_gate(1000);
	struct an_match_point a[1] = { pt(1, 0, 0, 0) };
	struct an_match_point in[1] = { pt(2, 600, 800, 0) };   /* exactly 1000 mm */
	struct an_match_point out[1] = { pt(2, 600, 801, 0) };  /* 1000.48 mm */
	struct an_match_pair p[1];
	size_t n;
	cr_assert_eq(an_match_solve(a, 1, in, 1, &o, p, 1, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(p[0].dist_mm, 1000);
	cr_assert_eq(an_match_solve(a, 1, out, 1, &o, p, 1, &n, NULL), 0);
	cr_assert_eq(n, 0);
	/* sigma gate: sa = sb = 2 m → radius 8584 mm */
	struct an_match_point s8[1] = { pt(1, 0, 0, 2000) }, t8[1] = { pt(9, 8500, 0, 2000) },
			      t9[1] = { pt(9, 8700, 0, 2000) };
	cr_assert_eq(an_match_solve(s8, 1, t8, 1, NULL, p, 1, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(an_match_solve(s8, 1, t9, 1, NULL, p, 1, &n, NULL), 0);
	cr_assert_eq(n, 0);
}

Test(an_match, max_cardinality_beats_greedy)
{
	/* greedy "closest pair first" takes a1–b1 (450 mm) and strands a2 and b2; the optimum matches
	 * a1–b2 (900) and a2–b1 (550): two pairs, total 1450 */
	struct an_match_opts o = fixed_gate(1000);
	struct an_match_point a[2] = { pt(1, 0, 0, 0), pt(2, 1000, 0, 0) };
	struct an_match_point b[2] = { pt(11, 450, 0, 0), pt(12, -900, 0, 0) };
	struct an_match_pair p[2];
	size_t n;
	struct an_match_info info;
	cr_assert_eq(an_match_solve(a, 2, b, 2, &o, p, 2, &n, &info), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(p[0].id_a, 1);
	cr_assert_eq(p[0].id_b, 12);
	cr_assert_eq(p[1].id_a, 2);
	cr_assert_eq(p[1].id_b, 11);
	cr_assert_eq(info.total_cost, 1450);
	cr_assert_eq(info.n_components, 1);
	cr_assert_eq(info.n_edges, 3);
}

Test(an_match, min_cost_among_maximum_matchings)
{
	/* both assignments match 2 pairs; crossing costs 300 + 300, straight 100 + 100 */
	struct an_match_opts o = fixed_gate(1000);
	struct an_match_point a[2] = { pt(1, 0, 0, 0), pt(2, 0, 1000, 0) };
	struct an_match_point b[2] = { pt(5, 100, 1000, 0), pt(6, 100, 0, 0) };
	struct an_match_pair p[2];
	size_t n;
	cr_assert_eq(an_match_solve(a, 2, b, 2, &o, p, 2, &n, NULL), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(p[0].id_b, 6);
	cr_assert_eq(p[1].id_b, 5);
	cr_assert_eq(p[0].cost + p[1].cost, 200);
	/* squared-distance costs, same answer, exact mm² */
	o.cost = AN_MATCH_COST_DIST2_MM2;
	cr_assert_eq(an_match_solve(a, 2, b, 2, &o, p, 2, &n, NULL), 0);
	cr_assert_eq(p[0].cost, 10000);
	cr_assert_eq(p[0].dist_mm, 100);
}

Test(an_match, rectangular_both_ways_and_components)
{
	/* 3 indications around one item, 1 far indication alone, 2 items close together elsewhere */
	struct an_match_point a[6] = { pt(1, 0, 0, 0), pt(2, 300, 0, 0), pt(3, -200, 100, 0),
				       pt(4, 50000, 50000, 0), pt(5, 100000, 0, 0), pt(6, 100400, 0, 0) };
	struct an_match_point b[3] = { pt(100, 250, 0, 0), pt(101, 100100, 0, 0), pt(102, 100500, 0, 0) };
	struct an_match_opts o = fixed_gate(1000);
	struct an_match_pair p[3];
	size_t n;
	struct an_match_info info;
	cr_assert_eq(an_match_solve(a, 6, b, 3, &o, p, 3, &n, &info), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(info.n_components, 2);
	cr_assert_eq(p[0].id_a, 2);
	cr_assert_eq(p[0].id_b, 100);
	cr_assert_eq(p[1].id_a, 5);
	cr_assert_eq(p[1].id_b, 101);
	cr_assert_eq(p[2].id_a, 6);
	cr_assert_eq(p[2].id_b, 102);
	/* swapped roles: same pairs seen from the other side */
	struct an_match_pair q[3];
	cr_assert_eq(an_match_solve(b, 3, a, 6, &o, q, 3, &n, &info), 0);
	cr_assert_eq(n, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(q[i].id_a, p[i].id_b);
		cr_assert_eq(q[i].id_b, p[i].id_a);
		cr_assert_eq(q[i].ia, p[i].ib);
	}
}

Test(an_match, ties_go_to_the_lowest_id)
{
	/* two indications exactly equidistant from one item: the lower id wins, whatever the input order */
	struct an_match_point a1[2] = { pt(7, -500, 0, 0), pt(3, 500, 0, 0) };
	struct an_match_point a2[2] = { pt(3, 500, 0, 0), pt(7, -500, 0, 0) };
	struct an_match_point b[1] = { pt(50, 0, 0, 0) };
	struct an_match_pair p[1];
	size_t n;
	cr_assert_eq(an_match_solve(a1, 2, b, 1, NULL, p, 1, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(p[0].id_a, 3);
	cr_assert_eq(p[0].ia, 1);
	cr_assert_eq(an_match_solve(a2, 2, b, 1, NULL, p, 1, &n, NULL), 0);
	cr_assert_eq(p[0].id_a, 3);
	cr_assert_eq(p[0].ia, 0);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

Test(an_match, output_independent_of_input_order)
{
	enum { NA = 300, NB = 60 };
	struct an_match_point a[NA], b[NB], a2[NA], b2[NB];
	uint64_t s = 99;
	for (int j = 0; j < NB; j++) /* items on a coarse grid, ids deliberately not in position order */
		b[j] = pt(1000 + (uint64_t)((j * 37) % NB), (int64_t)(lcg(&s) % 40000), (int64_t)(lcg(&s) % 40000),
			  (int64_t)(lcg(&s) % 300));
	for (int i = 0; i < NA; i++) {
		const struct an_match_point *it = &b[lcg(&s) % NB];
		a[i] = pt(5000 + (uint64_t)i * 13, it->x_mm + (int64_t)(lcg(&s) % 3000) - 1500,
			  it->y_mm + (int64_t)(lcg(&s) % 3000) - 1500, (int64_t)(lcg(&s) % 1500));
	}
	struct an_match_pair ref[NB], got[NB];
	size_t nref, ngot;
	cr_assert_eq(an_match_solve(a, NA, b, NB, NULL, ref, NB, &nref, NULL), 0);
	cr_assert(nref > NB / 2, "the setup should match most items (%zu)", nref);
	for (int round = 0; round < 100; round++) {
		memcpy(a2, a, sizeof a);
		memcpy(b2, b, sizeof b);
		for (int i = NA - 1; i > 0; i--) {
			int j = (int)(lcg(&s) % (uint64_t)(i + 1));
			struct an_match_point t = a2[i];
			a2[i] = a2[j];
			a2[j] = t;
		}
		for (int i = NB - 1; i > 0; i--) {
			int j = (int)(lcg(&s) % (uint64_t)(i + 1));
			struct an_match_point t = b2[i];
			b2[i] = b2[j];
			b2[j] = t;
		}
		cr_assert_eq(an_match_solve(a2, NA, b2, NB, NULL, got, NB, &ngot, NULL), 0);
		cr_assert_eq(ngot, nref);
		for (size_t k = 0; k < nref; k++) {
			cr_assert_eq(got[k].id_a, ref[k].id_a, "round %d pair %zu", round, k);
			cr_assert_eq(got[k].id_b, ref[k].id_b, "round %d pair %zu", round, k);
			cr_assert_eq(got[k].cost, ref[k].cost);
			/* the indices point at the same points in the shuffled arrays */
			cr_assert_eq(a2[got[k].ia].id, got[k].id_a);
			cr_assert_eq(b2[got[k].ib].id, got[k].id_b);
		}
	}
}

Test(an_match, errors_and_caps)
{
	struct an_match_point a[3] = { pt(1, 0, 0, 0), pt(2, 100, 0, 0), pt(3, 200, 0, 0) };
	struct an_match_point b[3] = { pt(1, 0, 0, 0), pt(2, 100, 0, 0), pt(3, 200, 0, 0) };
	struct an_match_pair p[3];
	size_t n = 77;
	struct an_match_info info;

	struct an_match_point dup[2] = { pt(1, 0, 0, 0), pt(1, 5, 0, 0) };
	cr_assert_eq(an_match_solve(dup, 2, b, 3, NULL, p, 3, &n, NULL), -EINVAL, "duplicate id");
	struct an_match_point far[1] = { pt(1, AN_MATCH_COORD_MAX, 0, 0) };
	cr_assert_eq(an_match_solve(far, 1, b, 3, NULL, p, 3, &n, NULL), -EINVAL, "coordinate range");
	struct an_match_point neg[1] = { pt(1, 0, 0, -1) };
	cr_assert_eq(an_match_solve(neg, 1, b, 3, NULL, p, 3, &n, NULL), -EINVAL, "negative sigma");
	cr_assert_eq(an_match_solve(a, 3, b, 3, NULL, p, 3, NULL, NULL), -EINVAL, "NULL n_out");
	cr_assert_eq(an_match_solve(NULL, 3, b, 3, NULL, p, 3, &n, NULL), -EINVAL);
	struct an_match_opts o;
	an_match_opts_init(&o);
	o.version = 99;
	cr_assert_eq(an_match_solve(a, 3, b, 3, &o, p, 3, &n, NULL), -EINVAL, "unknown opts version");

	/* too small an output buffer: -ENOBUFS and the size needed */
	n = 0;
	cr_assert_eq(an_match_solve(a, 3, b, 3, NULL, p, 2, &n, NULL), -ENOBUFS);
	cr_assert_eq(n, 3);
	/* component cap */
	an_match_opts_init(&o);
	o.max_component = 4;
	cr_assert_eq(an_match_solve(a, 3, b, 3, &o, p, 3, &n, &info), -E2BIG);
	cr_assert_eq(info.max_rows, 3);
	/* edge cap */
	an_match_opts_init(&o);
	o.max_edges = 4;
	cr_assert_eq(an_match_solve(a, 3, b, 3, &o, p, 3, &n, NULL), -E2BIG);
	/* empty sides are fine */
	cr_assert_eq(an_match_solve(a, 3, NULL, 0, NULL, p, 3, &n, &info), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(info.n_edges, 0);
}

Test(an_match, dense_solver_known_matrix)
{
	/* scipy.optimize.linear_sum_assignment docs example: rows → cols 1, 0, 2, total 5 */
	const int64_t c[9] = { 4, 1, 3, 2, 0, 5, 3, 2, 2 };
	size_t r2c[3];
	int64_t total;
	size_t m;
	cr_assert_eq(an_match_lsa(c, 3, 3, r2c, &total, &m), 0);
	cr_assert_eq(total, 5);
	cr_assert_eq(m, 3);
	cr_assert_eq(r2c[0], 1);
	cr_assert_eq(r2c[1], 0);
	cr_assert_eq(r2c[2], 2);
	/* forbidden entries: row 0 may only take column 1, which row 1 prefers too */
	const int64_t f[6] = { -1, 9, -1, 0, 1, -1 };
	cr_assert_eq(an_match_lsa(f, 2, 3, r2c, &total, &m), 0);
	cr_assert_eq(m, 2, "maximum cardinality first");
	cr_assert_eq(r2c[0], 1);
	cr_assert_eq(r2c[1], 0);
	cr_assert_eq(total, 9);
	/* tall matrix */
	const int64_t t[6] = { 5, -1, 1, -1, -1, 2 };
	cr_assert_eq(an_match_lsa(t, 3, 2, r2c, &total, &m), 0);
	cr_assert_eq(m, 2);
	cr_assert_eq(r2c[0], SIZE_MAX);
	cr_assert_eq(r2c[1], 0);
	cr_assert_eq(r2c[2], 1);
	/* nothing allowed */
	const int64_t z[4] = { -1, -1, -1, -1 };
	cr_assert_eq(an_match_lsa(z, 2, 2, r2c, &total, &m), 0);
	cr_assert_eq(m, 0);
	cr_assert_eq(r2c[0], SIZE_MAX);
	/* costs so large that BIG would overflow */
	const int64_t big[4] = { INT64_MAX / 2, 1, 1, 1 };
	cr_assert_eq(an_match_lsa(big, 2, 2, r2c, &total, &m), -EOVERFLOW);
}
