/*
 * an/boxframe.h — box-frame reconstruction: where an animal really was inside its box, from a GNSS track
 * whose error is larger than a lane (DESIGN.md §4: "box-frame coordinates (box, lane, distance along the
 * lane) are first class"; domain.md §6.2 G3 "box-frame reconstruction of rat position ≤ 0.5 m").
 *
 * Why it works. A consumer receiver's error is ~2.5 m CEP but it is TIME-CORRELATED (a Gauss–Markov bias with
 * a correlation time of about a minute, analysis.md §1.4), while the search itself is a known pattern: the
 * animal runs the box's lanes boustrophedon, lane 0 first, from the p0 edge (an/geo.h), the handlers stepping
 * one lane width after every pass. So
 *   - the LANE at any moment is the number of turnarounds so far (a 5 m swing along the lane is far larger
 *     than the error's change within a lane), and the lane's centre line is known to ±w/2: the across
 *     coordinate is the lane centre, whatever the receiver said;
 *   - at every turnaround the animal is at a lane END (along = 0 or the lane length): there the receiver's
 *     along error is measured; between two ends it is interpolated in time, with the variance of a Brownian
 *     bridge (the bias's diffusion D, estimated from the track's own across residuals inside lanes).
 * Each axis keeps whichever estimate has the smaller variance, the receiver's own (h_acc²/2 per axis) or the
 * box frame's, so an RTK-fixed track is left as it was and a consumer track is pulled into its lanes. The
 * placed h_acc is the DRMS of the two axes' variances: an honest accuracy for clustering, gates and coverage.
 *
 * The lanes are read from lane 0 on, as long as each lane takes a plausible time (0.45–2.45 × the median
 * lane) and the receiver says it is better than twice the lane length (under trees it is not): after a lane
 * that does not (a canopy track whose error swings more than half a lane length makes many short "lanes";
 * a missed turnaround one long one) the count is lost, so later positions are not placed. A pass in
 * progress is placed lane by lane as each lane is closed by its turnaround, once a quarter of the box (at
 * least AN_BOXFRAME_MIN_LANES lanes) has been read. When less can be read the track is not used at all
 * (valid = false, reason says why): fewer fixes than two per lane, a confirmation search of a few metres, a
 * dog running free. The fit is a pure function of the SET of fixes (they are sorted by (t, e, n, h_acc)
 * first; equal times keep the first in that order), so any arrival order gives the same fit, bit for bit.
 */
#ifndef AN_BOXFRAME_H
#define AN_BOXFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/coverage.h" /* struct an_coverage_fix */
#include "an/geo.h"

#define AN_BOXFRAME_MAX_LANES 4096u
#define AN_BOXFRAME_DWELL_MS 2000      /* fixes within this of a turnaround measure the lane end */
#define AN_BOXFRAME_END_SD_MM 200      /* where the animal turns, about the lane end (rope, leash) */
#define AN_BOXFRAME_D_FLOOR_MM2_S 100  /* diffusion floor: never claim a drift-free receiver */
#define AN_BOXFRAME_LANE_MIN_INCR 5    /* a lane's own diffusion needs this many increments */
#define AN_BOXFRAME_MIN_LANES 4        /* and a quarter of the box: less is not evidence of lanes */
#define AN_BOXFRAME_TRACK_STEP_MM 250  /* spacing of an_boxframe_lane_track's points */
#define AN_BOXFRAME_FIX_MAX_H_ACC_MM 30000u /* fixes worse than this say nothing a fit could use */

enum an_boxframe_reason {
	AN_BOXFRAME_OK = 0,
	AN_BOXFRAME_FEW_FIXES,   /* fewer than 2 usable fixes per lane */
	AN_BOXFRAME_LANES,       /* turnarounds do not give the box's lane count */
	AN_BOXFRAME_BOX,         /* box without lanes or over AN_BOXFRAME_MAX_LANES */
	AN_BOXFRAME_ACROSS,      /* the swings do not step across the box one lane width at a time */
};

struct an_boxframe_anchor {
	int64_t t_ms;         /* the turnaround (lane k starts at anchor k, ends at anchor k+1) */
	int64_t bias_mm;      /* receiver's along error there: measured along − the lane end's along */
	uint64_t var_mm2;     /* variance of bias_mm */
	uint64_t d_mm2_per_s; /* the error's diffusion in the lane starting here (per axis, per second) */
	uint32_t h_med_mm;    /* that lane's median reported h_acc */
};

struct an_boxframe {
	struct an_geo_box box;
	bool valid;
	enum an_boxframe_reason reason;
	uint32_t turnarounds;      /* as read from the track, including the start of lane 0 */
	uint32_t lanes;            /* lanes fitted, from lane 0: the box's lane_count, or fewer (a pass in
	                            * progress, or the track stopped reading as lanes: canopy) */
	uint64_t d_mm2_per_s;      /* bias diffusion per axis (variance growth per second), whole pass */
	size_t n_anchor;           /* lane_count + 1 when valid */
	struct an_boxframe_anchor *anchor;
};

/* Fit a track (any order, not modified; fixes with h_acc_mm 0 are ignored) to a box.
 * *out is allocated (free with an_boxframe_free) also when the track does not fit (valid = false).
 * @retval -EINVAL NULL argument with n > 0, or a coordinate beyond AN_GEO_RANGE_MAX_MM; -ENOMEM */
int an_boxframe_fit(const struct an_geo_box *box, const struct an_coverage_fix *fixes, size_t n,
                    struct an_boxframe **out) __attribute__((warn_unused_result));
void an_boxframe_free(struct an_boxframe *f); /* NULL is a no-op */

/* Same fit? (validity, anchors, D): callers recompute what depends on it only when it changed. */
bool an_boxframe_same(const struct an_boxframe *a, const struct an_boxframe *b);

/* Place one position taken at t_ms (a fix, or an indication carrying its last fix) with the fit.
 * *placed = false (and the outputs = the inputs) when the fit is not valid, t_ms is outside the pass
 * (before the start of lane 0 or after the end of the last lane), h_acc_mm is 0 (unknown) or worse than
 * twice the lane length (under trees: the reading of lanes stops there too).
 * @retval -EINVAL NULL argument or coordinate out of range */
int an_boxframe_place(const struct an_boxframe *f, int64_t t_ms, int64_t e_mm, int64_t n_mm, uint32_t h_acc_mm,
                      int64_t *e_out, int64_t *n_out, uint32_t *h_out, bool *placed)
	__attribute__((warn_unused_result));

/* The ground the fitted lanes covered, as a track for an/coverage.h: each fitted lane from end to end along
 * its centre line, a point every AN_BOXFRAME_TRACK_STEP_MM, times interpolated between its turnarounds,
 * h_acc = half a lane width. A lane counts only when the animal was read at both of its ends, so this
 * claims no ground the animal did not run; the receiver's along error does not matter for it (the lane is
 * run end to end), which is why a consumer-GNSS pass becomes negative evidence here when its raw fixes
 * (h_acc > 1 m) could not be. *n_out = the points needed (0 when the fit is not valid).
 * @retval -ENOBUFS cap too small (*n_out says how many); -EINVAL NULL argument */
int an_boxframe_lane_track(const struct an_boxframe *f, struct an_coverage_fix *out, size_t cap, size_t *n_out)
	__attribute__((warn_unused_result));

const char *an_boxframe_reason_name(enum an_boxframe_reason r);

#endif
