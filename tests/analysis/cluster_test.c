/*
 * tests/analysis/cluster_test.c — exact incremental DBSCAN (an/cluster.h).
 *
 * The oracle is a deliberately naive O(n²) batch DBSCAN written here from the definition (breadth-first
 * search over core points, no grid, no union-find), so it shares no code or idea with the library beyond
 * the definition itself. The central property: after every prefix of any insertion order, the library's
 * labels equal the oracle's on that prefix.
 */
#include "an/cluster.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* inclusive */
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static void shuffle(struct an_cluster_input *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		struct an_cluster_input t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static int cmp_pt(const void *a, const void *b)
{
	uint64_t x = ((const struct an_cluster_point *)a)->id, y = ((const struct an_cluster_point *)b)->id;
	return (x > y) - (x < y);
}

/* Batch DBSCAN from the definition. out sorted by id. */
static void ref_dbscan(const struct an_cluster_input *in, size_t n, int64_t eps, uint32_t min_pts,
		       struct an_cluster_point *out)
{
	bool *core = calloc(n + 1, sizeof *core);
	size_t *comp = calloc(n + 1, sizeof *comp);
	size_t *queue = calloc(n + 1, sizeof *queue);
	uint64_t *name = calloc(n + 1, sizeof *name);
	cr_assert(core && comp && queue && name);
/* box test first: across the whole coordinate range a squared difference would overflow int64 */
#define NB(i, j) (llabs(in[i].x_mm - in[j].x_mm) <= eps && llabs(in[i].y_mm - in[j].y_mm) <= eps && \
		  (in[i].x_mm - in[j].x_mm) * (in[i].x_mm - in[j].x_mm) + \
		  (in[i].y_mm - in[j].y_mm) * (in[i].y_mm - in[j].y_mm) <= eps * eps)
	for (size_t i = 0; i < n; i++) {
		size_t cnt = 0;
		for (size_t j = 0; j < n; j++)
			cnt += NB(i, j);
		core[i] = cnt >= min_pts;
		comp[i] = SIZE_MAX;
	}
	size_t ncomp = 0;
	for (size_t s = 0; s < n; s++) {
		if (!core[s] || comp[s] != SIZE_MAX)
			continue;
		size_t head = 0, tail = 0;
		queue[tail++] = s;
		comp[s] = ncomp;
		name[ncomp] = in[s].id;
		while (head < tail) {
			size_t i = queue[head++];
			if (in[i].id < name[ncomp])
				name[ncomp] = in[i].id;
			for (size_t j = 0; j < n; j++) {
				if (core[j] && comp[j] == SIZE_MAX && NB(i, j)) {
					comp[j] = ncomp;
					queue[tail++] = j;
				}
			}
		}
		ncomp++;
	}
	for (size_t i = 0; i < n; i++) {
		out[i].id = in[i].id;
		out[i].x_mm = in[i].x_mm;
		out[i].y_mm = in[i].y_mm;
		out[i].is_core = core[i];
		out[i].cluster_id = AN_CLUSTER_NONE;
		if (core[i]) {
			out[i].cluster_id = name[comp[i]];
			continue;
		}
		size_t best = SIZE_MAX;
		int64_t bd = 0;
		for (size_t j = 0; j < n; j++) {
			if (!core[j] || !NB(i, j))
				continue;
			int64_t dx = in[i].x_mm - in[j].x_mm, dy = in[i].y_mm - in[j].y_mm, d = dx * dx + dy * dy;
			if (best == SIZE_MAX || d < bd || (d == bd && in[j].id < in[best].id)) {
				best = j;
				bd = d;
			}
		}
		if (best != SIZE_MAX)
			out[i].cluster_id = name[comp[best]];
	}
#undef NB
	qsort(out, n, sizeof *out, cmp_pt);
	free(core);
	free(comp);
	free(queue);
	free(name);
}

static void assert_same(const struct an_cluster_point *a, const struct an_cluster_point *b, size_t n,
			const char *what)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(a[i].id, b[i].id, "%s: row %zu id %llu vs %llu", what, i, (unsigned long long)a[i].id,
			     (unsigned long long)b[i].id);
		cr_assert_eq(a[i].x_mm, b[i].x_mm, "%s: id %llu x", what, (unsigned long long)a[i].id);
		cr_assert_eq(a[i].y_mm, b[i].y_mm, "%s: id %llu y", what, (unsigned long long)a[i].id);
		cr_assert_eq(a[i].is_core, b[i].is_core, "%s: id %llu core %d vs %d", what,
			     (unsigned long long)a[i].id, a[i].is_core, b[i].is_core);
		cr_assert_eq(a[i].cluster_id, b[i].cluster_id, "%s: id %llu cluster %lld vs %lld", what,
			     (unsigned long long)a[i].id, (long long)a[i].cluster_id, (long long)b[i].cluster_id);
	}
}

static struct an_cluster *mk(int64_t eps, uint32_t min_pts)
{
	struct an_cluster_opts o = {.eps_mm = eps, .min_pts = min_pts};
	struct an_cluster *c = an_cluster_new(&o);
	cr_assert_not_null(c);
	return c;
}

static void ins(struct an_cluster *c, uint64_t id, int64_t x, int64_t y)
{
	int err = an_cluster_insert(c, id, x, y);
	cr_assert_eq(err, 0, "insert id %llu: %d", (unsigned long long)id, err);
}

static void expect(struct an_cluster *c, uint64_t id, uint64_t cluster, bool core)
{
	uint64_t got;
	bool is_core;
	cr_assert_eq(an_cluster_label(c, id, &got, &is_core), 0, "label of %llu", (unsigned long long)id);
	cr_assert_eq(got, cluster, "id %llu: cluster %lld, want %lld", (unsigned long long)id, (long long)got,
		     (long long)cluster);
	cr_assert_eq(is_core, core, "id %llu: core %d, want %d", (unsigned long long)id, is_core, core);
}

/* Library result for in[0..n) inserted in that order, exported (sorted by id). */
static void run_lib(const struct an_cluster_input *in, size_t n, int64_t eps, uint32_t min_pts,
		    struct an_cluster_point *out)
{
	struct an_cluster *c = mk(eps, min_pts);
	for (size_t i = 0; i < n; i++)
		ins(c, in[i].id, in[i].x_mm, in[i].y_mm);
	cr_assert_eq(an_cluster_export(c, out, n), (long)n);
	an_cluster_free(c);
}

/* Clustered points on a 100 mm lattice (so exact-eps distances and distance ties are frequent), some
 * duplicates, uniform noise, negative and positive coordinates. Ids are a random permutation-ish set. */
static size_t gen(struct an_cluster_input *a, size_t n, int64_t half_extent_mm, int64_t spread_mm)
{
	size_t k = 0;
	while (k < n) {
		int64_t cx = rnd_range(-half_extent_mm, half_extent_mm), cy = rnd_range(-half_extent_mm, half_extent_mm);
		size_t m = (size_t)rnd_range(1, 8);
		for (size_t j = 0; j < m && k < n; j++, k++) {
			a[k].x_mm = (cx + rnd_range(-spread_mm, spread_mm)) / 100 * 100;
			a[k].y_mm = (cy + rnd_range(-spread_mm, spread_mm)) / 100 * 100;
			if (k > 0 && rnd() % 10 == 0) { /* duplicate position */
				a[k].x_mm = a[k - 1].x_mm;
				a[k].y_mm = a[k - 1].y_mm;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		a[i].id = (uint64_t)i * 7919u % 100003u + 10u * (rnd() % 1000u) * 100003u;
	/* make ids unique whatever the draw above did */
	for (size_t i = 0; i < n; i++)
		a[i].id = a[i].id * 4096u + i;
	return k;
}

/* ---- hand-made cases ----------------------------------------------------------------------------- */

Test(an_cluster, chain_min_pts_2_is_one_cluster_named_by_smallest_core_id)
{
	struct an_cluster *c = mk(1000, 2);
	for (uint64_t i = 0; i < 10; i++)
		ins(c, 100 - i, (int64_t)i * 1000, 0); /* ids 100..91 */
	for (uint64_t i = 0; i < 10; i++)
		expect(c, 100 - i, 91, true);
	struct an_cluster_stats st;
	an_cluster_stats(c, &st);
	cr_assert_eq(st.n_points, 10);
	cr_assert_eq(st.n_core, 10);
	cr_assert_eq(st.n_clusters, 1);
	an_cluster_free(c);
}

Test(an_cluster, chain_min_pts_3_ends_are_border_and_do_not_name_the_cluster)
{
	struct an_cluster *c = mk(1000, 3);
	for (uint64_t i = 0; i < 6; i++)
		ins(c, 10 + i, (int64_t)i * 1000, 0);
	expect(c, 10, 11, false); /* end: itself + 1 neighbour */
	for (uint64_t i = 1; i < 5; i++)
		expect(c, 10 + i, 11, true);
	expect(c, 15, 11, false);
	an_cluster_free(c);
}

Test(an_cluster, spacing_one_mm_beyond_eps_is_all_noise)
{
	struct an_cluster *c = mk(1000, 2);
	for (uint64_t i = 0; i < 6; i++)
		ins(c, i, (int64_t)i * 1001, 0);
	for (uint64_t i = 0; i < 6; i++)
		expect(c, i, AN_CLUSTER_NONE, false);
	an_cluster_free(c);
}

Test(an_cluster, distance_exactly_eps_counts_one_more_does_not)
{
	/* 3-4-5 triangles: the distance is an exact integer, the test must be <= in integers */
	struct an_cluster *c = mk(5000, 2);
	ins(c, 1, 0, 0);
	ins(c, 2, 3000, 4000);
	ins(c, 3, 100000, 0);
	ins(c, 4, 103000, 4001);
	expect(c, 1, 1, true);
	expect(c, 2, 1, true);
	expect(c, 3, AN_CLUSTER_NONE, false);
	expect(c, 4, AN_CLUSTER_NONE, false);
	an_cluster_free(c);
}

Test(an_cluster, neighbours_across_negative_cell_boundaries)
{
	/* floor division: -1 and 999 are in different cells and exactly eps apart */
	struct an_cluster *c = mk(1000, 2);
	ins(c, 1, -1, -1);
	ins(c, 2, 999, -1);
	ins(c, 3, -1001, -1001);
	ins(c, 4, -1001, -2002);
	expect(c, 1, 1, true);
	expect(c, 2, 1, true);
	expect(c, 3, AN_CLUSTER_NONE, false); /* 1000·√2 from point 1, 1001 from point 4 */
	expect(c, 4, AN_CLUSTER_NONE, false);
	an_cluster_free(c);
}

/* Two clusters, each with one core point (left at l_x, right at r_x, x < 0 < x); P at the origin is
 * within eps of both cores and core itself in neither (min_pts 4, P has 3). */
static void border_case(uint64_t id_left_core, int64_t l_x, uint64_t id_right_core, int64_t r_x, uint64_t want)
{
	struct an_cluster *c = mk(1000, 4);
	ins(c, 50, 0, 0);                   /* P */
	ins(c, id_left_core, l_x, 0);       /* left core: P, 21, 22 and itself */
	ins(c, 21, l_x - 800, 0);
	ins(c, 22, l_x - 800, 100);
	ins(c, id_right_core, r_x, 0);      /* right core: P, 11, 12 and itself */
	ins(c, 11, r_x + 800, 0);
	ins(c, 12, r_x + 800, -100);
	expect(c, id_left_core, id_left_core, true);
	expect(c, id_right_core, id_right_core, true);
	expect(c, 21, id_left_core, false);
	expect(c, 11, id_right_core, false);
	expect(c, 50, want, false);
	an_cluster_free(c);
}

Test(an_cluster, border_equidistant_to_two_cores_joins_the_smaller_core_id)
{
	border_case(30, -1000, 40, 1000, 30);
	border_case(40, -1000, 30, 1000, 30);
}

Test(an_cluster, border_joins_the_nearest_core_not_the_smaller_id)
{
	border_case(30, -1000, 40, 900, 40);
	border_case(40, -900, 30, 1000, 40);
}

Test(an_cluster, isolated_points_are_noise)
{
	struct an_cluster *c = mk(1000, 2);
	ins(c, 5, 0, 0);
	ins(c, 6, 5000, 0);
	ins(c, 7, 0, -5000);
	for (uint64_t i = 5; i <= 7; i++)
		expect(c, i, AN_CLUSTER_NONE, false);
	struct an_cluster_stats st;
	an_cluster_stats(c, &st);
	cr_assert_eq(st.n_core, 0);
	cr_assert_eq(st.n_clusters, 0);
	an_cluster_free(c);
}

Test(an_cluster, duplicates_at_the_same_coordinates_count_separately)
{
	struct an_cluster *c = mk(1000, 4);
	ins(c, 3, 250, 250);
	ins(c, 1, 250, 250);
	ins(c, 2, 250, 250);
	for (uint64_t i = 1; i <= 3; i++)
		expect(c, i, AN_CLUSTER_NONE, false); /* 3 < min_pts 4 */
	ins(c, 9, 250, 250);
	for (uint64_t i = 1; i <= 3; i++)
		expect(c, i, 1, true);
	expect(c, 9, 1, true);
	an_cluster_free(c);
}

Test(an_cluster, min_pts_1_every_point_is_core_and_singletons_name_themselves)
{
	struct an_cluster *c = mk(1000, 1);
	ins(c, 8, 0, 0);
	ins(c, 4, 900, 0);
	ins(c, 6, 50000, 0);
	expect(c, 8, 4, true);
	expect(c, 4, 4, true);
	expect(c, 6, 6, true);
	struct an_cluster_stats st;
	an_cluster_stats(c, &st);
	cr_assert_eq(st.n_clusters, 2);
	an_cluster_free(c);
}

Test(an_cluster, late_bridge_merges_two_clusters_and_renames_to_the_minimum)
{
	struct an_cluster *c = mk(1000, 3);
	ins(c, 20, 0, 0);
	ins(c, 21, 800, 0);
	ins(c, 22, 400, 0);
	ins(c, 10, 3000, 0);
	ins(c, 11, 3800, 0);
	ins(c, 12, 3400, 0);
	ins(c, 99, 2000, 0); /* within eps of core 10 only: border, count 2 */
	expect(c, 21, 20, true);
	expect(c, 11, 10, true);
	expect(c, 99, 10, false);
	struct an_cluster_stats st;
	an_cluster_stats(c, &st);
	cr_assert_eq(st.n_clusters, 2);
	ins(c, 98, 1000, 0); /* core (20, 21, 22, 99 within eps); makes 99 core, which reaches 10 */
	an_cluster_stats(c, &st);
	cr_assert_eq(st.n_clusters, 1);
	static const uint64_t ids[] = {10, 11, 12, 20, 21, 22, 98, 99};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		expect(c, ids[i], 10, true);
	an_cluster_free(c);
}

Test(an_cluster, old_point_becoming_core_joins_its_core_neighbours)
{
	/* B turns core only when D arrives (far from A): B must then be joined to A, which D never sees. */
	struct an_cluster *c = mk(1000, 3);
	ins(c, 1, 0, 0);       /* A */
	ins(c, 2, -900, 0);    /* A's helper */
	ins(c, 3, 900, 0);     /* B: neighbours A only */
	ins(c, 4, 0, 500);     /* A core now: 1,2,4 and 3 */
	expect(c, 1, 1, true);
	expect(c, 3, 1, false);
	ins(c, 5, 1800, 0); /* B: A, 5 and itself -> core, joined to A */
	expect(c, 3, 1, true);
	expect(c, 5, 1, false);
	an_cluster_free(c);
}

/* ---- errors leave the state unchanged ------------------------------------------------------------ */

Test(an_cluster, bad_inserts_are_refused_and_change_nothing)
{
	struct an_cluster_opts o = {.eps_mm = 1000, .min_pts = 2, .max_points = 3};
	struct an_cluster *c = an_cluster_new(&o);
	cr_assert_not_null(c);
	ins(c, 1, 0, 0);
	ins(c, 2, 500, 0);
	size_t mem = an_cluster_mem_bytes(c);
	cr_assert_eq(an_cluster_insert(c, 1, 100, 0), -EEXIST);
	cr_assert_eq(an_cluster_insert(c, AN_CLUSTER_NONE, 100, 0), -EINVAL);
	cr_assert_eq(an_cluster_insert(c, 3, AN_CLUSTER_COORD_MAX_MM + 1, 0), -ERANGE);
	cr_assert_eq(an_cluster_insert(c, 3, 0, -AN_CLUSTER_COORD_MAX_MM - 1), -ERANGE);
	cr_assert_eq(an_cluster_insert(NULL, 3, 0, 0), -EINVAL);
	cr_assert_eq(an_cluster_count(c), 2);
	cr_assert_eq(an_cluster_mem_bytes(c), mem);
	expect(c, 1, 1, true);
	ins(c, 3, AN_CLUSTER_COORD_MAX_MM, -AN_CLUSTER_COORD_MAX_MM); /* the limits themselves are fine */
	cr_assert_eq(an_cluster_insert(c, 4, 0, 0), -ENOSPC);
	cr_assert_eq(an_cluster_count(c), 3);
	expect(c, 2, 1, true);
	uint64_t cl;
	cr_assert_eq(an_cluster_label(c, 4, &cl, NULL), -ENOENT);
	cr_assert_eq(an_cluster_label(c, AN_CLUSTER_NONE, &cl, NULL), -ENOENT);
	struct an_cluster_point pts[3];
	cr_assert_eq(an_cluster_export(c, pts, 2), -ENOBUFS);
	cr_assert_eq(an_cluster_get(c, 3, pts), -ENOENT);
	an_cluster_free(c);
	an_cluster_free(NULL);
}

Test(an_cluster, invalid_options_are_refused)
{
	struct an_cluster_opts bad[] = {
		{.eps_mm = 0, .min_pts = 2},
		{.eps_mm = AN_CLUSTER_EPS_MAX_MM + 1, .min_pts = 2},
		{.eps_mm = 1000, .min_pts = 0},
		{.eps_mm = 1000, .min_pts = AN_CLUSTER_MIN_PTS_MAX + 1},
		{.eps_mm = 1000, .min_pts = 2, .max_points = AN_CLUSTER_MAX_POINTS_LIMIT + 1},
		{.eps_mm = 1000, .min_pts = 2, .max_points = 10, .expected_points = 11},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(an_cluster_opts_check(&bad[i]), -EINVAL, "case %zu", i);
		errno = 0;
		cr_assert_null(an_cluster_new(&bad[i]), "case %zu", i);
		cr_assert_eq(errno, EINVAL);
	}
	cr_assert_eq(an_cluster_opts_check(NULL), -EINVAL);
}

/* ---- the invariant: any order, any prefix == batch ---------------------------------------------- */

Test(an_cluster, every_prefix_equals_batch_dbscan_of_that_prefix)
{
	static const struct {
		int64_t eps;
		uint32_t k;
	} params[] = {{1000, 1}, {1000, 2}, {1000, 3}, {700, 4}, {1500, 5}};
	enum { N = 260 };
	struct an_cluster_input in[N];
	struct an_cluster_point got[N], want[N];
	for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
		rng_state = 1000 + p;
		gen(in, N, 6000, 1500);
		shuffle(in, N);
		struct an_cluster *c = mk(params[p].eps, params[p].k);
		for (size_t n = 1; n <= N; n++) {
			ins(c, in[n - 1].id, in[n - 1].x_mm, in[n - 1].y_mm);
			cr_assert_eq(an_cluster_export(c, got, N), (long)n);
			ref_dbscan(in, n, params[p].eps, params[p].k, want);
			assert_same(got, want, n, "prefix");
			struct an_cluster_opts o = {.eps_mm = params[p].eps, .min_pts = params[p].k};
			cr_assert_eq(an_cluster_batch(&o, in, n, got), 0);
			qsort(got, n, sizeof got[0], cmp_pt);
			assert_same(got, want, n, "batch prefix");
			/* counters agree with the labels */
			struct an_cluster_stats st;
			an_cluster_stats(c, &st);
			size_t ncore = 0, ncl = 0;
			for (size_t i = 0; i < n; i++) {
				ncore += want[i].is_core;
				ncl += want[i].is_core && want[i].cluster_id == want[i].id;
			}
			cr_assert_eq(st.n_core, ncore);
			cr_assert_eq(st.n_clusters, ncl);
		}
		an_cluster_free(c);
	}
}

Test(an_cluster, insertion_order_changes_nothing_over_200_shuffles)
{
	enum { N = 500 };
	static struct an_cluster_input in[N];
	static struct an_cluster_point first[N], got[N];
	rng_state = 42;
	gen(in, N, 8000, 2000);
	run_lib(in, N, 1000, 3, first);
	ref_dbscan(in, N, 1000, 3, got);
	assert_same(first, got, N, "reference");
	size_t clustered = 0, border = 0;
	for (size_t i = 0; i < N; i++) {
		clustered += first[i].cluster_id != AN_CLUSTER_NONE;
		border += first[i].cluster_id != AN_CLUSTER_NONE && !first[i].is_core;
	}
	cr_assert(clustered > N / 4 && clustered < N, "data set must mix clusters and noise (%zu)", clustered);
	cr_assert(border > 0, "data set must have border points");
	for (int s = 0; s < 200; s++) {
		shuffle(in, N);
		run_lib(in, N, 1000, 3, got);
		assert_same(got, first, N, "shuffle");
	}
}

Test(an_cluster, larger_random_sets_equal_the_reference, .timeout = 120)
{
	static const struct {
		int64_t eps;
		uint32_t k;
		int64_t extent, spread;
	} params[] = {
		{1000, 2, 30000, 1500}, {1000, 3, 20000, 1000}, {2500, 6, 30000, 3000},
		{300, 2, 10000, 800},   {5000, 10, 40000, 6000}, {1000, 1, 50000, 2000},
	};
	enum { N = 3000 };
	static struct an_cluster_input in[N];
	static struct an_cluster_point got[N], want[N];
	for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
		rng_state = 77 + p;
		gen(in, N, params[p].extent, params[p].spread);
		run_lib(in, N, params[p].eps, params[p].k, got);
		ref_dbscan(in, N, params[p].eps, params[p].k, want);
		assert_same(got, want, N, "random");
		struct an_cluster_opts o = {.eps_mm = params[p].eps, .min_pts = params[p].k};
		cr_assert_eq(an_cluster_batch(&o, in, N, got), 0);
		qsort(got, N, sizeof got[0], cmp_pt);
		assert_same(got, want, N, "batch");
	}
}

Test(an_cluster, label_get_and_batch_agree_with_export)
{
	enum { N = 400 };
	static struct an_cluster_input in[N];
	static struct an_cluster_point exp_[N], bat[N];
	rng_state = 9;
	gen(in, N, 5000, 1500);
	struct an_cluster *c = mk(1000, 3);
	for (size_t i = 0; i < N; i++)
		ins(c, in[i].id, in[i].x_mm, in[i].y_mm);
	cr_assert_eq(an_cluster_export(c, exp_, N), N);
	for (size_t i = 0; i < N; i++) {
		expect(c, exp_[i].id, exp_[i].cluster_id, exp_[i].is_core);
		struct an_cluster_point p;
		cr_assert_eq(an_cluster_get(c, i, &p), 0);
		cr_assert_eq(p.id, in[i].id, "get() visits insertion order");
	}
	an_cluster_free(c);
	struct an_cluster_opts o = {.eps_mm = 1000, .min_pts = 3};
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), 0);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(bat[i].id, in[i].id, "batch output is in input order");
	qsort(bat, N, sizeof bat[0], cmp_pt);
	assert_same(bat, exp_, N, "batch");
	in[7].id = in[3].id;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -EEXIST, "dense ids: checked in the key pass");
	/* the same duplicate when the ids are too sparse for the key pass's bitmap, and when the field is too
	 * wide for the occupancy bitmap (radix path): each path checks ids its own way */
	uint64_t id3 = in[3].id, id0 = in[0].id;
	in[0].id = UINT64_MAX - 1u;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -EEXIST, "sparse ids");
	in[0].id = id0;
	int64_t x0 = in[0].x_mm;
	in[0].x_mm = AN_CLUSTER_COORD_MAX_MM;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -EEXIST, "wide field");
	int64_t y0 = in[0].y_mm;
	in[0].y_mm = AN_CLUSTER_COORD_MAX_MM; /* keys beyond 32 bits: the (key, index) radix path */
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -EEXIST, "wide and tall field");
	in[0].x_mm = x0;
	in[0].y_mm = y0;
	cr_assert_eq(in[7].id, id3);
	in[7].id = AN_CLUSTER_NONE;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -EINVAL);
	in[7].id = 1;
	in[8].y_mm = AN_CLUSTER_COORD_MAX_MM + 1;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -ERANGE);
	o.max_points = N - 1;
	cr_assert_eq(an_cluster_batch(&o, in, N, bat), -ENOSPC);
	cr_assert_eq(an_cluster_batch(&o, in, 0, NULL), 0);
}

Test(an_cluster, memory_per_point_stays_under_64_bytes_on_clustered_data)
{
	enum { N = 500000 };
	struct an_cluster *c = mk(1000, 2);
	rng_state = 5;
	/* 5 × 20 m boxes side by side, ~20 indications per box, half of them around 0-3 targets */
	size_t k = 0;
	for (int64_t b = 0; k < N; b++) {
		int64_t bx = (b % 300) * 6000, by = (b / 300) * 21000;
		for (int j = 0; j < 20 && k < N; j++, k++) {
			int64_t x = bx + rnd_range(0, 5000), y = by + rnd_range(0, 20000);
			if (j < 10) {
				x = bx + 2500 + rnd_range(-400, 400);
				y = by + (j % 3) * 7000 + 3000 + rnd_range(-400, 400);
			}
			ins(c, k, x, y);
		}
	}
	size_t mem = an_cluster_mem_bytes(c);
	cr_assert_lt(mem / N, 64, "%zu bytes per point", mem / N);
	cr_log_info("memory: %zu bytes for %d points = %.1f B/point", mem, N, (double)mem / N);
	an_cluster_free(c);
}

/* ---- eps rule and coordinates -------------------------------------------------------------------- */

Test(an_cluster, eps_rule_floor_and_values)
{
	cr_assert_eq(an_cluster_eps_mm(0, 0), 1000);
	cr_assert_eq(an_cluster_eps_mm(20, 20), 1000);          /* RTK: the 1 m rule decides */
	cr_assert_eq(an_cluster_eps_mm(700, 700), 2424);        /* ceil(sqrt(5.9915 · 980000)) */
	cr_assert_eq(an_cluster_eps_mm(2000, 2000), 6924);      /* autonomous GNSS */
	cr_assert_eq(an_cluster_eps_mm(700, 2000), an_cluster_eps_mm(2000, 700));
	cr_assert_eq(an_cluster_eps_mm(UINT32_MAX, UINT32_MAX), an_cluster_eps_mm(10000000, 10000000));
	cr_assert_leq(an_cluster_eps_mm(10000000, 10000000), AN_CLUSTER_EPS_MAX_MM);
	int64_t prev = 0;
	for (uint32_t s = 0; s < 20000; s += 37) {
		int64_t e = an_cluster_eps_mm(s, s);
		cr_assert_geq(e, prev);
		prev = e;
		/* exactness of the ceiling: e² >= 5.9915·2s² > (e-1)² whenever above the floor */
		if (e > AN_CLUSTER_EPS_FLOOR_MM) {
			uint64_t v = ((uint64_t)s * s * 2u * 59915u + 9999u) / 10000u;
			cr_assert_geq((uint64_t)(e * e), v);
			cr_assert_lt((uint64_t)((e - 1) * (e - 1)), v);
		}
	}
}


/* an_cluster_batch's grid paths: occupancy bitmap (compact fields) vs forward cursors (points spread over the
 * whole coordinate range), 32-bit vs 64-bit cell keys, rings of every size (eps 1 mm .. 100 km), dense ids
 * (bitmap check) and sparse ids (sorted check): all against the brute-force reference. */
Test(an_cluster, batch_grid_paths_equal_reference)
{
	static const int64_t eps_v[] = {1, 2, 3, 4, 7, 100, 1000, 2424, AN_CLUSTER_EPS_MAX_MM};
	static const int64_t extent_v[] = {5000, 400000, 1900000000};
	enum { N = 300 };
	struct an_cluster_input in[N];
	struct an_cluster_point got[N], want[N], with[N];
	/* one workspace for every case: its blocks are reused across sizes, paths and options */
	struct an_cluster_batch_ws *ws = an_cluster_batch_ws_new();
	cr_assert_not_null(ws);
	for (size_t e = 0; e < sizeof eps_v / sizeof eps_v[0]; e++) {
		for (size_t x = 0; x < sizeof extent_v / sizeof extent_v[0]; x++) {
			rng_state = 77 + e * 10 + x;
			int64_t eps = eps_v[e], sp = 3 * eps;
			size_t k = 0;
			while (k < N) {
				int64_t cx = rnd_range(-extent_v[x], extent_v[x]), cy = rnd_range(-extent_v[x], extent_v[x]);
				size_t m = (size_t)rnd_range(1, 9);
				for (size_t j = 0; j < m && k < N; j++, k++) {
					int64_t px = cx + rnd_range(-sp, sp), py = cy + rnd_range(-sp, sp);
					in[k].x_mm = px > AN_CLUSTER_COORD_MAX_MM ? AN_CLUSTER_COORD_MAX_MM
					             : px < -AN_CLUSTER_COORD_MAX_MM ? -AN_CLUSTER_COORD_MAX_MM : px;
					in[k].y_mm = py > AN_CLUSTER_COORD_MAX_MM ? AN_CLUSTER_COORD_MAX_MM
					             : py < -AN_CLUSTER_COORD_MAX_MM ? -AN_CLUSTER_COORD_MAX_MM : py;
					if (k > 0 && rnd() % 8 == 0) {
						in[k].x_mm = in[k - 1].x_mm;
						in[k].y_mm = in[k - 1].y_mm;
					}
				}
			}
			for (size_t i = 0; i < N; i++)
				in[i].id = (x % 2) ? (uint64_t)i + 1u : ((uint64_t)i << 40) + rnd() % 1000u;
			for (uint32_t mp = 1; mp <= 4; mp++) {
				struct an_cluster_opts o = {.eps_mm = eps, .min_pts = mp};
				size_t n = N - 60u * (mp % 3u); /* the workspace sees sizes go up and down */
				ref_dbscan(in, n, eps, mp, want);
				cr_assert_eq(an_cluster_batch(&o, in, n, got), 0);
				memset(with, 0x5a, sizeof with);
				cr_assert_eq(an_cluster_batch_with(ws, &o, in, n, with), 0);
				for (size_t i = 0; i < n; i++) /* field by field: the padding is not written */
					cr_assert(got[i].id == with[i].id && got[i].cluster_id == with[i].cluster_id &&
					          got[i].is_core == with[i].is_core && got[i].x_mm == with[i].x_mm &&
					          got[i].y_mm == with[i].y_mm, "workspace run == fresh run");
				qsort(got, n, sizeof got[0], cmp_pt);
				assert_same(got, want, n, "batch grid path");
			}
		}
	}
	cr_assert_gt(an_cluster_batch_ws_bytes(ws), 0);
	struct an_cluster_opts o = {.eps_mm = 1000, .min_pts = 3};
	cr_assert_eq(an_cluster_batch_with(NULL, &o, in, N, got), -EINVAL);
	in[5].id = in[9].id; /* an error half-way through gives every block back */
	cr_assert_eq(an_cluster_batch_with(ws, &o, in, N, got), -EEXIST);
	in[5].id = in[9].id + 1000000u;
	cr_assert_eq(an_cluster_batch_with(ws, &o, in, N, got), 0);
	an_cluster_batch_ws_free(ws);
	an_cluster_batch_ws_free(NULL);
}
