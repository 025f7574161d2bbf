/*
 * an/cluster.h — exact incremental DBSCAN over indications in integer local metric coordinates.
 *
 * What it computes. DBSCAN (Ester et al. 1996) with a fixed radius eps_mm and a density threshold min_pts
 * that COUNTS THE POINT ITSELF (scikit-learn's min_samples):
 *   - q is a neighbour of p when dx² + dy² <= eps² (int64 millimetres, no floating point anywhere in the
 *     decision, so "within eps" is exact and the same on every platform and with every compiler flag);
 *   - p is CORE when it has >= min_pts points within eps, itself included (duplicates count separately);
 *   - clusters are the connected components of the graph "core point — core point within eps";
 *   - a non-core point within eps of at least one core point is a BORDER point: it joins the cluster of its
 *     NEAREST core point, ties broken by the smallest core-point id (scikit-learn instead keeps the first
 *     cluster that reaches it, which depends on input order);
 *   - every other point is NOISE (cluster id AN_CLUSTER_NONE).
 * The cluster id is the smallest id among the cluster's CORE points. Border points never name a cluster:
 * a border point belongs to a cluster only by reference to a core point, and two clusters may share it, so
 * letting it name one would make the name depend on the border rule. Core-point ids are a property of the
 * point set alone, hence canonical.
 *
 * The central invariant. After ANY sequence of an_cluster_insert() calls, every label equals batch DBSCAN
 * (above) over the same set of points: the arrival order changes nothing, not even a cluster's name.
 * That holds because (a) core status and the core graph are functions of the set, (b) union-find only ever
 * merges, which is all an insert can do to that graph (Ester, Kriegel, Sander, Wimmer, Xu, "Incremental
 * clustering for mining in a data warehousing environment", VLDB 1998: an insert affects the clustering only
 * in the eps-neighbourhood of the new point and of the points that became core through it), (c) the cluster
 * name is min() over core ids, which is commutative and associative, (d) border labels are computed on
 * demand from the final state with a total order (distance², id).
 *
 * How (cost per insert). A uniform hash grid with cell side eps (open addressing, integer cell keys, 3×3
 * cell range query), neighbour counters saturating at min_pts, and union-find (union by rank, path halving)
 * over core points whose root carries the index of the smallest-id core point. Per insert: one range query
 * around the new point, plus one range query around each older point that became core through it (each
 * point becomes core at most once, so that is amortised O(1) extra queries). Expected O(k) where k is the
 * number of points in the 3×3 cells; no dependence on n except hash-table load. The worst case is a dense
 * blob (k large), e.g. thousands of indications within a few metres: cost grows linearly with the blob.
 *
 * Memory and caps (every growable structure has one). Per point 32 bytes (stored in 4096-point chunks, so
 * no large realloc copies), plus an id table (5-byte slots) and a cell table (12-byte slots, at most one
 * cell per point), both at load 8/15 .. 4/5 (they grow by 1.5×). Blocks of 2 MiB or more are huge-page
 * backed and counted rounded up to 2 MiB (that is what becomes resident). Measured: 58.7 bytes per
 * indication at 10^6 on a box-survey layout (52.4 with expected_points; tests/analysis/bench_cluster.c);
 * worst case (every point alone in its cell, just after both tables grew) ~ 32 + 9.4 + 22.5 = 64 bytes plus
 * the 2 MiB rounding. an_cluster_mem_bytes() reports the total the structure holds, slack included. Growing a table rehashes it in one go: that insert takes O(n) (tens of
 * ms at 10^6); opts.expected_points pre-sizes the tables to avoid it.
 * opts.max_points caps the number of points (and therefore every table); the insert after the cap gets
 * -ENOSPC and changes nothing. An allocation failure gives -ENOMEM and also changes nothing.
 *
 * Not thread-safe: queries compress union-find paths (they write), so one thread per struct an_cluster.
 *
 * Choosing eps. A single eps per task keeps DBSCAN exact and comparable: "within eps" is then a fixed
 * metric ball, which is what every batch DBSCAN (scikit-learn included) computes, so the result can be
 * checked against a peer point for point. A per-pair radius eps(i,j) = f(σi, σj) would still be symmetric,
 * hence still an order-independent graph clustering, but it is no longer DBSCAN and has no peer to check
 * against; it is left for later (grid cell = the largest radius). an_cluster_eps_mm() gives the rule for the
 * single eps from the typical accuracy of the task's fixes.
 */
#ifndef AN_CLUSTER_H
#define AN_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "no cluster" (noise). Also the one id value an insert refuses, so it can never name a cluster. */
#define AN_CLUSTER_NONE UINT64_MAX

/* Coordinates are local east/north millimetres; ±2000 km keeps cell indices and eps² arithmetic in range. */
#define AN_CLUSTER_COORD_MAX_MM 2000000000LL
/* 1 mm .. 100 km. */
#define AN_CLUSTER_EPS_MAX_MM 100000000LL
/* Neighbour counters are 16-bit and saturate at min_pts. */
#define AN_CLUSTER_MIN_PTS_MAX 65535u
/* Default and absolute caps on the number of points (indices are 32-bit). */
#define AN_CLUSTER_MAX_POINTS_DEFAULT (1u << 24)
#define AN_CLUSTER_MAX_POINTS_LIMIT (1u << 30)

/* The operational rule: an indication within 1 m of the target is correct, so eps is never below 1 m. */
#define AN_CLUSTER_EPS_FLOOR_MM 1000

struct an_cluster;

struct an_cluster_opts {
	int64_t eps_mm;           /* neighbourhood radius, 1 .. AN_CLUSTER_EPS_MAX_MM, inclusive (<=) */
	uint32_t min_pts;         /* 1 .. AN_CLUSTER_MIN_PTS_MAX, counts the point itself */
	uint32_t max_points;      /* cap on points; 0 = AN_CLUSTER_MAX_POINTS_DEFAULT; <= ..._LIMIT */
	uint32_t expected_points; /* pre-size tables for this many (0 = grow on demand); <= max_points */
};

/* One point with its label, as returned by an_cluster_get() and an_cluster_export(). */
struct an_cluster_point {
	uint64_t id;
	int64_t x_mm;
	int64_t y_mm;
	uint64_t cluster_id; /* smallest core id of the cluster, AN_CLUSTER_NONE for noise */
	bool is_core;
};

/* Input of an_cluster_batch(). */
struct an_cluster_input {
	uint64_t id;
	int64_t x_mm;
	int64_t y_mm;
};

struct an_cluster_stats {
	size_t n_points;
	size_t n_core;
	size_t n_clusters; /* connected components of the core graph */
};

/*
 * Validate options.
 * @retval 0 ok
 * @retval -EINVAL a field out of range (see struct an_cluster_opts)
 */
int an_cluster_opts_check(const struct an_cluster_opts *o) __attribute__((warn_unused_result));

/* New empty clustering. NULL on invalid options (errno = EINVAL) or out of memory (errno = ENOMEM). */
struct an_cluster *an_cluster_new(const struct an_cluster_opts *o) __attribute__((warn_unused_result));

/* Free everything; NULL is a no-op. */
void an_cluster_free(struct an_cluster *c);

/*
 * Insert one point and update the clustering (Ester 1998 insert rule). On any error nothing changes.
 * @retval 0 ok
 * @retval -EINVAL c NULL, or id == AN_CLUSTER_NONE
 * @retval -ERANGE |x_mm| or |y_mm| > AN_CLUSTER_COORD_MAX_MM
 * @retval -EEXIST a point with this id is already present (ids are unique: they name clusters)
 * @retval -ENOSPC max_points reached
 * @retval -ENOMEM allocation failed
 */
int an_cluster_insert(struct an_cluster *c, uint64_t id, int64_t x_mm, int64_t y_mm)
	__attribute__((warn_unused_result));

/*
 * Label of the point with this id: *cluster_id (AN_CLUSTER_NONE for noise) and *is_core (either may be NULL).
 * @retval 0 ok
 * @retval -EINVAL c NULL
 * @retval -ENOENT no such point
 */
int an_cluster_label(struct an_cluster *c, uint64_t id, uint64_t *cluster_id, bool *is_core)
	__attribute__((warn_unused_result));

/* Number of points inserted so far. */
size_t an_cluster_count(const struct an_cluster *c);

/*
 * The point at insertion index (0 .. an_cluster_count() - 1), with its current label.
 * Iterating indices visits points in insertion order, never hash order.
 * @retval 0 ok
 * @retval -EINVAL c or out NULL
 * @retval -ENOENT index out of range
 */
int an_cluster_get(struct an_cluster *c, size_t index, struct an_cluster_point *out)
	__attribute__((warn_unused_result));

/*
 * All points with their labels, sorted by id (so the output is a function of the point set alone).
 * @return the number of points written (>= 0)
 * @retval -EINVAL c NULL, or out NULL with points present
 * @retval -ENOBUFS cap < an_cluster_count()
 */
long an_cluster_export(struct an_cluster *c, struct an_cluster_point *out, size_t cap)
	__attribute__((warn_unused_result));

/* Counts (points, core points, clusters), maintained incrementally: O(1). */
void an_cluster_stats(const struct an_cluster *c, struct an_cluster_stats *out);

/* Bytes currently held by the structure (all its allocations, including unused table/chunk slack). */
size_t an_cluster_mem_bytes(const struct an_cluster *c);

/*
 * Batch DBSCAN of in[0..n): out[i] is the label of in[i] (input order, like scikit-learn's labels_). Same
 * labels as inserting the points one by one in any order; a separate implementation (points sorted by grid
 * cell, contiguous neighbour runs) that is several times faster when all points are known, and that the
 * tests hold the incremental core to. Scratch memory ~50 bytes per point on a compact field (more when the
 * field is too wide for an occupancy bitmap), freed before returning (an_cluster_batch_with keeps it).
 * @retval 0 ok
 * @retval -EINVAL bad options, NULL pointers, or an id == AN_CLUSTER_NONE
 * @retval -ERANGE a coordinate out of range
 * @retval -EEXIST two points with the same id
 * @retval -ENOSPC n > max_points
 * @retval -ENOMEM allocation failed
 */
int an_cluster_batch(const struct an_cluster_opts *o, const struct an_cluster_input *in, size_t n,
		     struct an_cluster_point *out) __attribute__((warn_unused_result));

/*
 * A workspace for repeated batch runs: an_cluster_batch_with() takes its scratch blocks from it and gives
 * them back (kept, not freed) when it returns, so a caller that clusters again and again (a live core
 * re-running a task, a benchmark's repeats) pays for fresh pages once: at 10^6 points the first touch of
 * ~70 MB of new scratch costs more than the clustering itself on the VM this was measured on. It holds memory only, never results: every
 * call computes everything from its input. One thread per workspace. NULL from new: out of memory.
 */
struct an_cluster_batch_ws;
struct an_cluster_batch_ws *an_cluster_batch_ws_new(void) __attribute__((warn_unused_result));
void an_cluster_batch_ws_free(struct an_cluster_batch_ws *ws); /* NULL is a no-op */
/* Bytes the workspace holds now. */
size_t an_cluster_batch_ws_bytes(const struct an_cluster_batch_ws *ws);
/* an_cluster_batch() with the scratch from ws (same results, same errors; -EINVAL also for ws NULL). */
int an_cluster_batch_with(struct an_cluster_batch_ws *ws, const struct an_cluster_opts *o,
			  const struct an_cluster_input *in, size_t n, struct an_cluster_point *out)
	__attribute__((warn_unused_result));

/*
 * Rule for the single eps of a task, from the typical horizontal accuracy of two indications a and b
 * (h_acc in mm, taken as the 1-sigma error PER AXIS; if a receiver reports the radial 2-D RMS instead, this
 * overestimates sigma by up to √2, i.e. errs on the side of merging):
 *     eps = max(AN_CLUSTER_EPS_FLOOR_MM, ceil( sqrt(χ²₂(0.95) · (σa² + σb²)) )),   χ²₂(0.95) = 5.9915
 * The difference of two independent fixes of the same spot has per-axis σ = sqrt(σa² + σb²); its length
 * exceeds 2.448·that only 5 % of the time. The 1 m floor is the accreditation rule for a correct indication
 * (an animal's own offset from the odour source is of that order). Integer arithmetic only.
 * Examples: RTK (20 mm each) → 1000 (the floor); SBAS (700 mm each) → 2424; autonomous (2000 mm each) → 6924.
 * Inputs above 10^7 mm (10 km) are clamped to 10^7 (such a fix is not usable for clustering anyway).
 */
int64_t an_cluster_eps_mm(uint32_t h_acc_a_mm, uint32_t h_acc_b_mm);

#endif
