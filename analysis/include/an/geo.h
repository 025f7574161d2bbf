/*
 * an/geo.h — coordinates: WGS84 geodetic ↔ ECEF ↔ local ENU millimetres about a per-task origin, and the
 * box frame (lane index, distance along the lane, offset from the lane's centre line).
 *
 * Frames.
 *  - Geodetic: WGS84 latitude/longitude in degE7 (the wire's unit) or double degrees, height in mm
 *    (double metres for the double API). Heights are taken as ELLIPSOIDAL. Fixes carry height above
 *    MSL (GGA); the geoid undulation N (|N| < 110 m) is then a common offset of origin and point, which
 *    scales horizontal distances by N/R (< 1.7e-5: < 0.4 mm over a 20 m box, < 17 mm per km). When a fix
 *    has no height, callers pass the origin's height (AN_GEO_ALT_UNKNOWN does that for them).
 *  - Local ENU: east, north, up in int64 millimetres about the task origin (lat0, lon0, h0), the tangent
 *    plane of the WGS84 ellipsoid at the origin. Stored values are rounded once (round half away from 0)
 *    and never recomputed, so replay does not depend on libm's last ulp (analysis.md §4.2, §7.6(f)).
 *  - Box frame: a rectangle of lane_count lanes of lane_width_mm, each lane_len_mm long, defined in local
 *    ENU by three corners (see struct an_geo_box).
 *
 * Accuracy (double arithmetic, no -ffast-math; geo_test.c checks each figure):
 *  - forward (geodetic → ENU) is exact up to floating-point rounding: ECEF components are ~6.4e6 m with an
 *    ulp of 9.3e-10 m, so the error before rounding to mm is < 1 µm anywhere on Earth; the mm rounding adds
 *    ≤ 0.5 mm per axis. The ENU frame is a plane: it is NOT a map projection, distances between two points
 *    are exact chords (analysis.md §4.2: 50 m pairs 50 km from the origin are within 3 mm of geodesic).
 *  - inverse (ENU → geodetic) uses Bowring's iteration (3 rounds, cubic convergence): geodetic → ECEF →
 *    geodetic → ECEF lands within 1e-8 m of the start for heights within ±100 km of the ellipsoid (worst
 *    4.2e-9 m over 2e6 random points), so ENU → geodetic(double) → ENU reproduces the input to
 *    the mm for points within AN_GEO_RANGE_MAX_MM of the origin.
 *  - degE7 quantisation is the dominant error of a _e7 round trip: 1e-7° is 11.1 mm of latitude and
 *    ≤ 11.1·cos φ mm of longitude, so ENU → degE7 → ENU is within ±5.6 mm north and ±5.6·cos φ mm east.
 *
 * Range: the local frame is meant for one task (a minefield). Conversions refuse points more than
 * AN_GEO_RANGE_MAX_MM (1000 km) from the origin with -ERANGE: far beyond any task, the plane's "up" is no
 * longer up, and the bound keeps every coordinate, difference and squared distance of two coordinates well
 * inside int64 (2·(2e9)² = 8e18 < 9.2e18).
 */
#ifndef AN_GEO_H
#define AN_GEO_H

#include <stdbool.h>
#include <stdint.h>

#define AN_GEO_RANGE_MAX_MM 1000000000LL /* 1000 km */
#define AN_GEO_ALT_UNKNOWN INT32_MIN      /* as alt_mm: "no height", use the origin's */

/* The origin of a local frame, with its trigonometry and ECEF position precomputed. Caller-owned. */
struct an_geo_origin {
	int32_t lat_e7, lon_e7, alt_mm; /* as given */
	double sin_lat, cos_lat, sin_lon, cos_lon;
	double x_m, y_m, z_m; /* ECEF of the origin */
};

struct an_geo_enu {
	int64_t e_mm, n_mm, u_mm;
};

/* Origin from degE7 / mm (alt_mm may be AN_GEO_ALT_UNKNOWN: height 0).
 * @retval -EINVAL o NULL, latitude outside ±90° or longitude outside ±180° */
int an_geo_origin_init(struct an_geo_origin *o, int32_t lat_e7, int32_t lon_e7, int32_t alt_mm)
	__attribute__((warn_unused_result));

/* WGS84 geodetic (double degrees, metres) → ECEF metres. @retval -EINVAL non-finite or out of range */
int an_geo_to_ecef(double lat_deg, double lon_deg, double h_m, double *x_m, double *y_m, double *z_m)
	__attribute__((warn_unused_result));

/* ECEF metres → WGS84 geodetic. @retval -EINVAL non-finite, or within 1 km of the Earth's centre */
int an_geo_from_ecef(double x_m, double y_m, double z_m, double *lat_deg, double *lon_deg, double *h_m)
	__attribute__((warn_unused_result));

/* Geodetic (degE7, mm; alt_mm may be AN_GEO_ALT_UNKNOWN) → local ENU mm.
 * @retval -EINVAL bad argument or lat/lon out of range
 * @retval -ERANGE the point is more than AN_GEO_RANGE_MAX_MM from the origin (out untouched) */
int an_geo_enu_from_e7(const struct an_geo_origin *o, int32_t lat_e7, int32_t lon_e7, int32_t alt_mm,
                       struct an_geo_enu *out) __attribute__((warn_unused_result));

/* Same from double degrees and metres (h_m ellipsoidal), for callers with better than degE7 resolution. */
int an_geo_enu_from_deg(const struct an_geo_origin *o, double lat_deg, double lon_deg, double h_m,
                        struct an_geo_enu *out) __attribute__((warn_unused_result));

/* Local ENU mm → geodetic double degrees and metres (exact up to rounding, see the accuracy notes).
 * @retval -EINVAL bad argument; -ERANGE |e|, |n| or |u| above AN_GEO_RANGE_MAX_MM */
int an_geo_enu_to_deg(const struct an_geo_origin *o, const struct an_geo_enu *in, double *lat_deg,
                      double *lon_deg, double *h_m) __attribute__((warn_unused_result));

/* Local ENU mm → degE7 / mm (rounded half away from zero; longitude wrapped into ±180°). */
int an_geo_enu_to_e7(const struct an_geo_origin *o, const struct an_geo_enu *in, int32_t *lat_e7,
                     int32_t *lon_e7, int32_t *alt_mm) __attribute__((warn_unused_result));

/*
 * The box frame. A search box is a rectangle in the local ENU plane:
 *
 *        p_across ●───────────────────────● (4th corner, implied)
 *                 │ lane lane_count-1      │
 *                 │ ...                    │       lanes are strips parallel to p0→p_along, stacked from
 *                 │ lane 1                 │       p0 towards p_across, lane_width_mm each
 *                 │ lane 0                 │
 *              p0 ●───────────────────────● p_along
 *
 * APOPO rat box (domain.md §1.1): 5 × 20 m searched as 40 lanes of 0.5 m, the rope spanning the 5 m side
 * between two handlers who step 0.5 m sideways after each pass. So the LANE runs along the 5 m side
 * (|p0 p_along| = 5 m) and the 40 lanes stack along the 20 m side (|p0 p_across| = 40 × 0.5 m).
 * Dogs: lane_width_mm 600 (the handler's step). Lane index, along and across are what a data sheet records.
 *
 * Coordinates of a point in the box frame, all mm:
 *   along_mm   distance along the lane direction from the p0 edge (0 .. lane_len_mm inside)
 *   across_mm  distance across lanes from the p0→p_along edge (0 .. lane_count·lane_width_mm inside)
 *   lane       floor(across_mm / lane_width_mm), clamped to lane_count - 1 ON the far edge only; outside the
 *              box it is still computed (negative or >= lane_count) so a caller can say "one lane beyond"
 *   offset_mm  across_mm minus the centre line of that lane (−w/2 .. +w/2), signed towards p_across
 *   inside     0 <= along <= len and 0 <= across <= width (edges and corners are inside)
 *   margin_mm  signed Euclidean distance to the box boundary: > 0 inside (distance to the nearest edge),
 *              < 0 outside (distance to the nearest point of the rectangle), 0 on an edge. Compare it with
 *              the position's h_acc_mm to decide whether "inside" is meaningful for this fix.
 *   h_acc_mm   the position's horizontal accuracy, carried through unchanged (0 = unknown)
 */
struct an_geo_box {
	int64_t p0_e_mm, p0_n_mm; /* origin corner: start of lane 0 */
	double ua_e, ua_n;        /* unit vector along the lanes (p0 → p_along) */
	double uc_e, uc_n;        /* unit vector across the lanes (towards p_across), perpendicular to ua */
	int64_t lane_len_mm;      /* |p0 p_along| rounded */
	int64_t width_mm;         /* lane_count · lane_width_mm */
	uint32_t lane_width_mm;
	uint32_t lane_count;
};

struct an_geo_box_pos {
	int64_t along_mm, across_mm, offset_mm, margin_mm;
	int32_t lane;
	uint32_t h_acc_mm;
	bool inside;
};

/* Tolerances when checking the corners against the declared geometry: a box is pegged out by hand, so the
 * corners are a few cm off a true rectangle; more than this is a data-entry error. */
#define AN_GEO_BOX_SQUARE_TOL 0.02     /* |cos| of the angle at p0: ±1.15° from square */
#define AN_GEO_BOX_WIDTH_TOL_MM 100    /* |p0 p_across| vs lane_count · lane_width_mm ... */
#define AN_GEO_BOX_WIDTH_TOL_PERMIL 10 /* ... or 1 %, whichever is larger */

/* Build a box frame from three corners in local ENU (up is ignored). The width used is exactly
 * lane_count · lane_width_mm (the lanes are what was searched); p_across only fixes the side and must agree.
 * @retval -EINVAL lane_width_mm or lane_count 0, lane_len < 1 mm, the corners are not square within
 *         AN_GEO_BOX_SQUARE_TOL, |p0 p_across| disagrees with the lane count × width beyond the tolerance,
 *         or a coordinate is beyond AN_GEO_RANGE_MAX_MM */
int an_geo_box_init(struct an_geo_box *b, const struct an_geo_enu *p0, const struct an_geo_enu *p_along,
                    const struct an_geo_enu *p_across, uint32_t lane_width_mm, uint32_t lane_count)
	__attribute__((warn_unused_result));

/* Map a local ENU point (with its accuracy, 0 = unknown) into the box frame.
 * @retval -EINVAL NULL argument or a coordinate beyond AN_GEO_RANGE_MAX_MM */
int an_geo_box_locate(const struct an_geo_box *b, int64_t e_mm, int64_t n_mm, uint32_t h_acc_mm,
                      struct an_geo_box_pos *out) __attribute__((warn_unused_result));

/* Inverse: box frame (along, across) → local ENU mm (rounded). For drawing lanes and for tests. */
int an_geo_box_to_enu(const struct an_geo_box *b, int64_t along_mm, int64_t across_mm, int64_t *e_mm,
                      int64_t *n_mm) __attribute__((warn_unused_result));

/*
 * A patch of a box: lanes lane_first .. lane_first + lane_count - 1, from along_lo_mm to along_hi_mm along
 * them (from the lanes' p0 end). What a team leader assigns for a confirmation search (a few lanes × a few
 * metres about a disputed peg): the box frame names it exactly, whatever the receivers said.
 * Inside its box when lane_count >= 1, lane_first + lane_count <= the box's lane_count and
 * 0 <= along_lo_mm < along_hi_mm <= the box's lane_len_mm + AN_GEO_BOX_PATCH_TOL_MM: a patch to the lanes' far
 * end names the lane length it was measured on, and the same box read back from its stored degE7 corners may
 * be a few mm shorter (5000 → 4999 mm on the reference day); the tolerance is the corners' own
 * (AN_GEO_BOX_WIDTH_TOL_MM), far below a patch's metres.
 */
#define AN_GEO_BOX_PATCH_TOL_MM AN_GEO_BOX_WIDTH_TOL_MM
struct an_geo_box_patch {
	uint32_t lane_first, lane_count;
	int64_t along_lo_mm, along_hi_mm;
};

/* @retval 0 the patch lies inside the box (above); -EINVAL it does not, or a NULL argument */
int an_geo_box_patch_check(const struct an_geo_box *b, const struct an_geo_box_patch *p)
	__attribute__((warn_unused_result));
/* Does the patch hold the local ENU point (an_geo_box_locate's along/across, edges included)? false for a
 * NULL argument or a coordinate beyond AN_GEO_RANGE_MAX_MM. */
bool an_geo_box_patch_contains(const struct an_geo_box *b, const struct an_geo_box_patch *p, int64_t e_mm,
                               int64_t n_mm);

#endif
