/*
 * an/coverage.h — which ground each search pass actually covered: buffered tracks, point queries and a
 * per-box lane-segment raster with the number of INDEPENDENT animals over every cell (analysis.md §2.6,
 * §7.3; domain.md §6.2 G7 "two animals over the same ground = clearance").
 *
 * The covered region of one pass (one session: one animal, one box, one search run) is the track buffered
 * by half the sweep width: the union of
 *   - a disc of radius sweep/2 around every USABLE fix, and
 *   - a capsule of radius sweep/2 around the straight segment between two consecutive usable fixes, but
 *     only when they are at most max_gap_ms apart in time AND at most max_step_mm apart in space.
 * A fix is usable when 0 < h_acc_mm <= max_h_acc_mm. Both rules are deliberately conservative, because
 * coverage becomes NEGATIVE evidence in the fusion (an animal "passed without indicating" lowers
 * P(explosive)): claiming ground that was not searched is the dangerous direction. A fix of unknown
 * accuracy (h_acc_mm = 0) or worse than 1 m cannot place the animal in a 0.5 m lane or within the 1 m
 * rule, and an interval with lost fixes (> 5 s at the >= 1 Hz cadence of domain.md G2) or a jump says
 * nothing about where the animal was in between.
 *
 * Sweep width (what one pass searches across its direction of travel; Koopman's W):
 *   rat  500 mm — APOPO rats on a rope search 0.5 m lanes ("40 lanes of half a meter" per 5 × 20 m box,
 *                 domain.md §1.1; Cox et al.), so the sweep is the lane width;
 *   dog 1000 mm — leashed MDD traverses with "about 60 cm" sideways steps between them (domain.md §1.2)
 *                 overlap; 1 m is a conservative single-traverse width (unverified: per SOP, configurable).
 * A track can override it (sweep_width_mm != 0); the search mode (primary / QC / ...) does not change it.
 *
 * Exactness and order. Every test "is point P covered" is exact integer arithmetic on mm (128-bit where a
 * product needs it): 4·dist² <= sweep². Fixes are sorted by (t_ms, e, n, h_acc) inside each track and
 * tracks by session id, so every result is a function of the SET of fixes and tracks: any input order
 * gives byte-identical output. Two fixes with the same time are joined like any other pair.
 *
 * The raster. A box (an/geo.h) is cut into cells: its lanes × segments of seg_len_mm along each lane
 * (default 500 mm, i.e. 0.5 × 0.5 m cells on a rat box; the last segment of a lane may be shorter). A cell
 * is covered by a pass when the pass's covered region contains the CELL CENTRE (a point rule, so a cell
 * grazed at a corner is not claimed). The raster is exactly the point query at the cell centres — the
 * tests hold it to that. Per cell: the sessions that covered it, the distinct animals (multiplicity 1×, 2×,
 * 3×, ...), and per session / per animal bitmaps. Lane indices come from an_geo_box_locate().
 *
 * Cost. Point query: O(usable fixes of the track) with a bounding-box reject per element. Raster: per track
 * element, only the cells of its bounding box (padded by one cell) are tested, so O(fixes · cells per
 * element); memory n_cells / 8 bytes per session and per animal plus 24 bytes per cell.
 */
#ifndef AN_COVERAGE_H
#define AN_COVERAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/geo.h"
#include "an/store.h" /* enum an_species */

#define AN_COVERAGE_SWEEP_RAT_MM 500u
#define AN_COVERAGE_SWEEP_DOG_MM 1000u
#define AN_COVERAGE_SWEEP_MAX_MM 100000u  /* 100 m: beyond that it is not a sweep */
#define AN_COVERAGE_STEP_MAX_MM 1000000LL /* cap on opts.max_step_mm (keeps the geometry in 128 bits) */

#define AN_COVERAGE_OPTS_VERSION 1
struct an_coverage_opts {
	unsigned version;      /* AN_COVERAGE_OPTS_VERSION */
	uint32_t seg_len_mm;   /* raster segment length along a lane; default 500; 1 .. 10^6 */
	uint32_t max_h_acc_mm; /* usable fix: 0 < h_acc_mm <= this; default 1000 (the 1 m rule) */
	int64_t max_gap_ms;    /* join consecutive usable fixes at most this far apart in time; default 5000 */
	int64_t max_step_mm;   /* ... and in space; default 3000; 0 .. AN_COVERAGE_STEP_MAX_MM */
	size_t max_cells;      /* refuse boxes with more cells (-E2BIG); default 1 << 20 */
	size_t max_fixes;      /* refuse tracks with more fixes (-E2BIG); default 1 << 24 */
};
#define AN_COVERAGE_OPTS_INIT { AN_COVERAGE_OPTS_VERSION, 500u, 1000u, 5000, 3000, (size_t)1 << 20, (size_t)1 << 24 }

void an_coverage_opts_init(struct an_coverage_opts *o);
/* @retval -EINVAL a field out of range */
int an_coverage_opts_check(const struct an_coverage_opts *o) __attribute__((warn_unused_result));

/* One position of the animal during a pass, local ENU mm (an/geo.h), h_acc_mm = 1-sigma per axis
 * (0 = unknown: not usable). |e|, |n| <= AN_GEO_RANGE_MAX_MM. */
struct an_coverage_fix {
	int64_t t_ms;
	int64_t e_mm, n_mm;
	uint32_t h_acc_mm;
};

/* One pass. fixes[] may be in any order and is not modified. */
struct an_coverage_track {
	uint64_t session_id; /* unique among the tracks given together */
	uint64_t animal_id;  /* independence = distinct animal ids */
	enum an_species species;
	uint32_t sweep_width_mm; /* 0 = the species default; else 1 .. AN_COVERAGE_SWEEP_MAX_MM */
	const struct an_coverage_fix *fixes;
	size_t n_fixes;
};

/* Sweep width in effect: override_mm if not 0, else the species default (0 for an unknown species). */
uint32_t an_coverage_sweep_mm(enum an_species species, uint32_t override_mm);

/* ---- one pass: point queries ------------------------------------------------------------------------- */

struct an_coverage_path;

/*
 * Prepare a track for point queries (copies, filters and sorts the fixes). *out is owned by the caller
 * (an_coverage_path_free). o may be NULL (defaults).
 * @retval -EINVAL NULL pointers with n_fixes > 0, bad opts, unknown species without an override, sweep or
 *         a coordinate out of range
 * @retval -E2BIG more than max_fixes fixes
 * @retval -ENOMEM
 */
int an_coverage_path_new(const struct an_coverage_track *t, const struct an_coverage_opts *o,
			 struct an_coverage_path **out) __attribute__((warn_unused_result));
void an_coverage_path_free(struct an_coverage_path *p); /* NULL is a no-op */

/* Is (e_mm, n_mm) inside the pass's covered region? Exact; false for a path without usable fixes. */
bool an_coverage_path_covers(const struct an_coverage_path *p, int64_t e_mm, int64_t n_mm);

/* Usable fixes, joined segments (for reports and tests). */
size_t an_coverage_path_usable(const struct an_coverage_path *p);
size_t an_coverage_path_segments(const struct an_coverage_path *p);

/* ---- a box: lane-segment raster ---------------------------------------------------------------------- */

struct an_coverage_grid;

#define AN_COVERAGE_MULT_BINS 4 /* 0×, 1×, 2×, >= 3× */

struct an_coverage_cell {
	uint32_t n_animals;  /* distinct animals whose pass covered the cell centre */
	uint32_t n_sessions; /* passes that covered it */
	int64_t along_mm, across_mm; /* the cell centre in the box frame */
	int64_t e_mm, n_mm;          /* ... and in local ENU (rounded, what the point rule used) */
	int64_t area_mm2;            /* lane width × this segment's length */
};

struct an_coverage_summary {
	size_t n_cells;
	size_t n_sessions, n_animals;
	size_t cells_by_mult[AN_COVERAGE_MULT_BINS]; /* cells covered by 0, 1, 2, >= 3 distinct animals */
	int64_t area_mm2;                            /* whole box */
	int64_t area_by_mult_mm2[AN_COVERAGE_MULT_BINS];
	bool fully_covered;   /* every cell >= 1× ("searched", G7) */
	bool clearance_grade; /* every cell >= 2× (two independent animals) */
};

/*
 * Rasterise tracks[0..n) onto box's lanes. Tracks may be in any order; session ids must be unique.
 * *out is owned by the caller (an_coverage_grid_free). o may be NULL.
 * @retval -EINVAL NULL pointers, bad opts, a bad track (see an_coverage_path_new), duplicate session id
 * @retval -E2BIG the box has more than max_cells cells, or a track more than max_fixes fixes
 * @retval -ENOMEM
 */
int an_coverage_grid_new(const struct an_geo_box *box, const struct an_coverage_opts *o,
			 const struct an_coverage_track *tracks, size_t n, struct an_coverage_grid **out)
	__attribute__((warn_unused_result));
void an_coverage_grid_free(struct an_coverage_grid *g); /* NULL is a no-op */

void an_coverage_grid_dims(const struct an_coverage_grid *g, uint32_t *n_lanes, uint32_t *n_segs);

/* @retval -ERANGE lane or seg out of range */
int an_coverage_grid_cell(const struct an_coverage_grid *g, uint32_t lane, uint32_t seg,
			  struct an_coverage_cell *out) __attribute__((warn_unused_result));

/* Animals over a cell, ascending ids; *n_out = how many there are (also when cap is too small).
 * @retval -ERANGE bad cell; -ENOBUFS cap < *n_out */
int an_coverage_grid_cell_animals(const struct an_coverage_grid *g, uint32_t lane, uint32_t seg, uint64_t *ids,
				  size_t cap, size_t *n_out) __attribute__((warn_unused_result));

/* Did this session's pass / any pass of this animal cover the cell?
 * @retval -ENOENT no such session / animal among the tracks; -ERANGE bad cell */
int an_coverage_grid_session_covers(const struct an_coverage_grid *g, uint64_t session_id, uint32_t lane,
				    uint32_t seg, bool *covered) __attribute__((warn_unused_result));
int an_coverage_grid_animal_covers(const struct an_coverage_grid *g, uint64_t animal_id, uint32_t lane,
				   uint32_t seg, bool *covered) __attribute__((warn_unused_result));

/* The cell containing a local ENU point. @retval -ERANGE outside the box */
int an_coverage_grid_locate(const struct an_coverage_grid *g, int64_t e_mm, int64_t n_mm, uint32_t *lane,
			    uint32_t *seg) __attribute__((warn_unused_result));

/* Cells and area a session covered in this box (the "area searched" denominator of FA per 100 m²).
 * @retval -ENOENT no such session */
int an_coverage_grid_session_area(const struct an_coverage_grid *g, uint64_t session_id, size_t *n_cells,
				  int64_t *area_mm2) __attribute__((warn_unused_result));

void an_coverage_grid_summary(const struct an_coverage_grid *g, struct an_coverage_summary *out);

#endif
