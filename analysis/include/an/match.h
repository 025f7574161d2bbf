/*
 * an/match.h — optimal one-to-one matching of hazard points or indications (side A) to clearance
 * results or targets (side B) inside a position gate (analysis.md §3.6, §7.4).
 *
 * Objective (documented choice): among all one-to-one matchings that use only gated pairs, take one with
 * the MAXIMUM NUMBER of pairs, and among those the MINIMUM TOTAL COST. Counting first is what an
 * accuracy report needs — a greedy or pure min-cost matcher can leave a target unmatched (a "miss")
 * to save a few centimetres elsewhere. Implementation: every non-gated pair gets the cost
 * BIG = (largest gated cost + 1) * rows, larger than any sum of gated costs, and a rectangular
 * shortest-augmenting-path assignment (Kuhn–Munkres with potentials, the augmentation step of
 * Jonker–Volgenant) assigns every row; pairs that landed on BIG are dropped. This equals
 * scipy.optimize.linear_sum_assignment on the same matrix (tests/analysis/scipy/match_vs_scipy.py).
 *
 * Gate (pair i, j allowed iff): d² <= max(gate_min_mm², chi2 * (sigma_i² + sigma_j²)), with chi2 the 2-D
 * chi-square quantile: for isotropic Gaussian errors the difference of two positions has per-axis
 * variance sigma_i² + sigma_j², and |difference|²/(that variance) is chi-square with 2 degrees of
 * freedom, whose p-quantile is -2 ln(1 - p): 9.2103 for 99 %, i.e. a radius of 3.035 combined sigma
 * (5.991 / 2.448 sigma for 95 %). gate_min_mm = 1000 is the accreditation rule "within 1 m"
 * (analysis.md §7.4: gate = max(1 m, 99 % Mahalanobis)). The strict 1 m gate of accreditation reports
 * is gate_chi2_micro = 0. All gate arithmetic is exact integer arithmetic (chi2 in millionths).
 *
 * Scale: the gate graph is built with a uniform grid (cell = the largest possible gate radius) and split
 * into connected components (union-find); each component is solved on its own dense matrix, so cost is
 * O(sum over components of rows² · cols) — components are a handful of points in real minefields.
 * A component larger than opts.max_component points (both sides together) is refused with -E2BIG rather
 * than allowed to take quadratic memory; retry with the strict gate, or raise the cap knowingly
 * (memory ~ 8 · rows · cols bytes).
 *
 * Determinism: ids must be unique on each side (-EINVAL otherwise). Each component is solved with its
 * points in ascending id order, and ties between equal-cost optimal matchings are broken by the
 * algorithm's fixed scan order on that canonical order (lowest-id row is augmented first, lowest-id
 * column wins equal reduced costs). The output therefore depends only on the SET of input points, not
 * on their order in the arrays, and is sorted by id_a.
 *
 * Errors: 0, -EINVAL (NULL pointers with n > 0, duplicate ids, coordinates or sigma out of range, bad
 * opts), -ENOBUFS (more pairs than cap; *n_out holds the number needed), -E2BIG (component or edge
 * count over the caps), -EOVERFLOW (costs too large for the BIG construction), -ENOMEM.
 */
#ifndef AN_MATCH_H
#define AN_MATCH_H

#include <stddef.h>
#include <stdint.h>

/* Coordinates are local ENU millimetres; |x|, |y| < 2^30 mm (±1 073 km) keeps d² exact in 64 bits. */
#define AN_MATCH_COORD_MAX ((int64_t)1 << 30)
#define AN_MATCH_SIGMA_MAX ((int64_t)1 << 40)

struct an_match_point {
	uint64_t id;      /* unique within its side; the canonical tie-break key */
	int64_t x_mm;     /* local east, millimetres */
	int64_t y_mm;     /* local north, millimetres */
	int64_t sigma_mm; /* 1-sigma per-axis horizontal position error, >= 0 */
};

struct an_match_pair {
	size_t ia;       /* index into the caller's a[] */
	size_t ib;       /* index into the caller's b[] */
	uint64_t id_a;
	uint64_t id_b;
	int64_t cost;    /* per opts.cost */
	int64_t dist_mm; /* Euclidean distance, rounded to the nearest mm */
};

enum an_match_cost {
	AN_MATCH_COST_DIST_MM = 0,   /* distance rounded to mm: minimise the summed distance (default) */
	AN_MATCH_COST_DIST2_MM2 = 1, /* squared distance, exact: minimise the summed squared distance */
};

#define AN_MATCH_OPTS_VERSION 1
#define AN_MATCH_CHI2_99_MICRO 9210340u /* -2 ln(0.01) = 9.210340372 → radius factor 3.0349 */
#define AN_MATCH_CHI2_95_MICRO 5991465u /* -2 ln(0.05) = 5.991464547 → radius factor 2.4477 */

struct an_match_opts {
	unsigned version;          /* AN_MATCH_OPTS_VERSION */
	int64_t gate_min_mm;       /* default 1000; >= 0 */
	uint32_t gate_chi2_micro;  /* default AN_MATCH_CHI2_99_MICRO; 0 = fixed gate_min_mm only */
	enum an_match_cost cost;   /* default AN_MATCH_COST_DIST_MM */
	size_t max_component;      /* default 2048 points (A + B) per component (≤ 8 MB matrix) */
	size_t max_edges;          /* default 4 194 304 gated pairs in total (64 MB) */
};

#define AN_MATCH_OPTS_INIT                                                                       \
	{ AN_MATCH_OPTS_VERSION, 1000, AN_MATCH_CHI2_99_MICRO, AN_MATCH_COST_DIST_MM, 2048, 4194304 }

void an_match_opts_init(struct an_match_opts *o);

/* What a solve looked like, for logs and benchmarks (all zero when nothing was gated). */
struct an_match_info {
	size_t n_edges;        /* gated pairs */
	size_t n_components;   /* connected components with at least one gated pair */
	size_t max_rows;       /* the largest component solved: smaller side ... */
	size_t max_cols;       /* ... and larger side */
	int64_t total_cost;    /* sum of cost over the returned pairs */
};

/* Chi-square 2-DoF quantile in millionths for gate probability p (0 < p < 1), rounded to nearest:
 * 0.99 → 9210340. -EINVAL outside (0, 1) or above 4.29e9 (p too close to 1). */
int an_match_chi2_micro(double p, uint32_t *out);

/* Gate radius in mm for two sigmas (floor of the exact root): max(gate_min, sqrt(chi2 (sa² + sb²))).
 * E.g. default opts, sa = sb = 500 mm → 2145 mm (floor of 3.0349 · 707.1 = 2145.97); sa = sb = 100 →
 * 1000 (the 1 m floor). */
int an_match_gate_radius_mm(int64_t sigma_a_mm, int64_t sigma_b_mm, const struct an_match_opts *o,
			    int64_t *radius_mm);

/* Match a[0..na) to b[0..nb). out[0..cap) receives the pairs sorted by id_a; *n_out their number.
 * o may be NULL (defaults). info may be NULL. */
int an_match_solve(const struct an_match_point *a, size_t na, const struct an_match_point *b, size_t nb,
		   const struct an_match_opts *o, struct an_match_pair *out, size_t cap, size_t *n_out,
		   struct an_match_info *info);

/* The dense solver, exposed for tests and for callers that build their own costs: cost[r * ncols + c]
 * >= 0 is the cost of pairing row r with column c, a negative entry forbids the pair. Finds a
 * maximum-cardinality, then minimum-cost, assignment; row_to_col[r] = column or SIZE_MAX. Any shape
 * (rows > cols is solved transposed). Costs must satisfy (max + 1) * min(nr, nc)² * 2 < 2^62
 * (-EOVERFLOW). total and n_matched may be NULL. Ties are broken by the scan order (lowest row index
 * augmented first, lowest column index preferred). */
int an_match_lsa(const int64_t *cost, size_t nrows, size_t ncols, size_t *row_to_col, int64_t *total,
		 size_t *n_matched);

#endif
