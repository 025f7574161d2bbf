/*
 * an/hazard.h — hazard points and their lifecycle: indications clustered into points, each point scored by
 * an/fusion.h from indications and clean sweeps (an/coverage.h), matched to clearance results (an/match.h),
 * and given a status; every change is an event with a sequence number (analysis.md §7.2–7.6; domain.md
 * §6.4).
 *
 * The contract: the state is a PURE FUNCTION OF THE SET of inputs seen so far. After any prefix of any
 * input stream, the hazard table equals what a fresh engine computes from that prefix given in one call in
 * any order (tests/analysis/hazard_test.c checks it on random streams, byte for byte via an_hazard_dump).
 * Events are the differences between consecutive states, so they are the only thing that depends on how
 * the inputs were batched. No clock is read: an_hazard_apply takes now_ms for the events' time stamps.
 * An apply that adds indications, fixes or clearance results is computed incrementally: the new indications
 * join a kept single-link clustering (an_cluster insert rule), only points whose members changed or whose
 * evidence involves a changed track are scored again, the others are copied; clearance matching (global,
 * one-to-one) runs over the whole table. A calibration or a new session record (they change likelihood
 * ratios or track owners anywhere) makes that apply a full recompute, and so do a session's end (its
 * patches count from then on, struct an_hazard_session) and a recorder box position (struct an_hazard_boxpos)
 * that moves a known indication. A handler's verdict (struct an_hazard_review)
 * that changes the verdict in force of a known indication rescores only the point holding it.
 *
 * Hazard points. Indications are clustered single-link: two indications within eps_mm are in the same
 * component (an_cluster with min_pts = 1, exact integer distances), and a component is one point unless it
 * splits (below). So a point is "one or more indications" (a lone indication is a point too: analysis.md
 * §7.2's "unconfirmed suspect"). Chained rows become one component (analysis.md §1.5).
 * Split (cannot-link). Two member indications i, j of ONE pass (same animal_id and session_id) with
 *     d(i,j) > max(1000 mm, r95(i,j)),   r95 as in derived eps below (an_hazard_pair_eps_mm with β = 0;
 *     h_acc as placed, pinpointing included, 0 → default_h_acc_mm)
 * are two items: a second indication of the same item in the same pass (the accuracy report's REPEAT)
 * lands within r95 95 % of the time, and an animal that indicated two items 1–3 m apart chains them through
 * other passes' indications between. Such a pair is never in one point, with fixed and derived eps alike. A
 * component without such a pair is one point exactly as before; one with a pair is partitioned by
 * constrained single link: its link edges (pairs within the link radius) in the order (d, smaller id,
 * larger id), two groups joined only when no cannot-link pair spans them; the groups are the points. Exact
 * integer d², ties by ids: a function of the component's set, so of the input set.
 * Canonical id = the smallest member indication id (= the component's id when it does not split). Points
 * MERGE as indications arrive (a point joining one with a smaller id is RETIRED: status superseded, event
 * with into_id, the point holding its smallest member), and a new indication can SPLIT a point or move
 * members between the points of a component: member sets that change are updates of their ids (events
 * only when status or score change), an id that no longer names a point is RETIRED into the point that
 * now holds that indication, and an id that names a point again or for the first time is CREATED (a piece
 * split off a point, possibly an id that had retired: an_hazard_store_sync makes its superseded row live
 * again). The engine diffs old and new tables the same way for both. Cost: a component with a cannot-link
 * pair is partitioned in O(k²) for its k members, every apply that touches it.
 * Centroid = integer mean of member positions (rounded half away from zero); sigma_mm = sqrt(Σ σᵢ²) / k (σ of
 * the mean of k fixes; h_acc 0 → opts).
 * With derived eps (below) members may differ in accuracy by 100×: the centroid is then the inverse-variance
 * weighted mean (integer weights 2^40 / h_accᵢ²) and sigma_mm = sqrt(1 / Σ 1/h_accᵢ²).
 *
 * Derived eps (eps_mm = AN_HAZARD_EPS_DERIVED; analysis.md §1.4, issue #5 "eps derived from position
 * uncertainty and the 1 m rule"). Two indications i, j are linked when
 *     d(i,j) <= eps(i,j) = an_hazard_pair_eps_mm(h_acc_i, h_acc_j, β) = max(1000 mm, min(r95, r_lr))
 *     r95  = ceil( sqrt(χ²₂(0.95) · s) ),   s = (h_acc_i² + h_acc_j²) / 2
 *     r_lr = sqrt( 2 s · ln(1 / (2π s β)) )   (0 when 2π s β >= 1)
 * h_acc is the collar's horizontal accuracy, the 2-D RMS sqrt(σ_e² + σ_n²) it derives from NMEA GST, so the
 * per-axis variance of one fix is h_acc²/2 and of the difference of two fixes of the same spot s; that
 * difference exceeds r95 only 5 % of the time. r_lr is the data-association gate against clutter: inside it
 * a second indication of the SAME item (a 2-D normal difference of variance s per axis, density
 * e^(−d²/2s) / 2πs) is more likely than an unrelated indication, whose density is β per m²
 * (opts.clutter_per_m2, default 3 passes × 0.33 false indications per 100 m², Poling 2011: the published
 * anchor times the passes a box gets). Without it, consumer-GNSS pairs would link within 7.3 m, where at
 * ~1 unrelated indication per 100 m² a point collects ~1.7 strangers and stops being a point. The floor is
 * the 1 m correct-indication rule (it also covers the animal's own offset from the odour source). So RTK
 * pairs link within 1 m, SBAS pairs (~1.2 m DRMS) within ~2.6 m, consumer open-sky pairs (~3 m DRMS)
 * within ~3.2 m, pairs beyond ~4 m per-axis difference σ only within the floor. The relation is symmetric, so its connected components (single link, union-find) do not depend on the order
 * of insertion, and a point is still "one or more indications" with canonical id the smallest member id.
 * Indications with h_acc above opts.max_link_h_acc_mm (default 5 m: canopy, no usable fix) are linked to
 * nothing (analysis.md §1.4: "flag fixes with σ > σ_max as low quality, not clustered, kept as evidence");
 * they stay points of their own, scored with their own wide gate. eps_mm > 0 keeps one fixed radius
 * (an_cluster, min_pts 1) as before.
 *
 * Evidence at a point (gate = disc of opts.fusion.gate_radius_mm around the centroid; gate_radius_mm 0 =
 * eps_mm, or with derived eps the point's own radius an_hazard_pair_eps_mm(h̄, h̄, β), h̄² = the mean of its
 * members' h_acc² (capped at max_link_h_acc_mm for linked points): the area within which a second
 * indication of the same item would land, which is the area A of fusion.h's p_fa and prior):
 * every member indication is an "indicated" observation of its (animal, session); every session with a
 * session record whose buffered track (an_coverage_path) covers the CENTROID, or that has ended and has a
 * patch holding the centroid (struct an_hazard_session), and that has no member indication is a clean
 * sweep. Calibration per animal: the latest an_hazard_calib by as_of_ms; an animal
 * without one is scored as NEW (priors only) of the species of its session records (smallest session id),
 * or as a rat if none (the larger false-indication prior: its indications weigh less). Each member carries
 * the handler's verdict in force on it (opts.handler_verdicts): the pass's verdict adds the handler's
 * likelihood ratio to its indicated line (an/fusion.h, c_T / c_F in opts.fusion).
 *
 * Status rules (first that applies; the thresholds are options):
 *   1. a clearance result is attached → confirmed_explosive (AP/AT mine, UXO, other ERW), confirmed_fragment,
 *      confirmed_scrap, confirmed_nothing, or not_accessible. Attachment: a result with ind_ref != 0 is
 *      linked to the point containing that indication (it waits while that indication is unknown); the
 *      other results with a position are matched one-to-one to the remaining points by an_match_solve
 *      (gate max(1 m, 99 % Mahalanobis), optimal, ties by id). Several results on one point: a definitive
 *      one beats not_accessible, then the latest (date_ms, id) wins.
 *   2. ≥ agree_animals (2) distinct animals indicated it, or log-odds ≥ logit(p_excavate) (0.5)
 *      → awaiting_excavation ("two animals over the same ground", or enough calibrated evidence).
 *   3. one animal indicated and another animal swept it without indicating → candidate: the second
 *      animal disagreed; the point stays on the map and in the evaluation policies, but neither agreement
 *      nor P asks for excavation.
 *   4. otherwise → awaiting_second: one animal indicated, no independent animal has been over it yet.
 * A fresh single indication is therefore awaiting_second; statuses may go DOWN as well as up (negative
 * evidence lowers P; a new point can take over a clearance match): a status is the current reading of the
 * evidence, not a one-way ratchet, which is what makes it order-independent.
 *
 * Errors: 0 or a negative errno (see an_hazard_apply); after -ENOMEM the next successful an_hazard_apply
 * recomputes and reports every change.
 */
#ifndef AN_HAZARD_H
#define AN_HAZARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "an/coverage.h"
#include "an/fusion.h"
#include "an/match.h"
#include "an/store.h" /* enum an_hazard_status, an_clearance_result, an_species */

#define AN_HAZARD_OPTS_VERSION 1
#define AN_HAZARD_EPS_DERIVED 0             /* eps_mm: per-pair radius from the indications' h_acc */
#define AN_HAZARD_MAX_LINK_H_ACC_DEFAULT_MM 5000u
#define AN_HAZARD_CLUTTER_DEFAULT_PER_M2 (3.0 * 0.33 / 100.0) /* 3 rat passes × Poling 2011's 0.33/100 m² */
struct an_hazard_opts {
	unsigned version;          /* AN_HAZARD_OPTS_VERSION */
	int64_t eps_mm;            /* clustering radius, default 1000; AN_HAZARD_EPS_DERIVED = per pair (below) */
	uint32_t default_h_acc_mm; /* for indications with h_acc_mm 0; default 1000 */
	uint32_t max_link_h_acc_mm; /* derived eps: a less accurate indication is a point of its own; default 5000 */
	double clutter_per_m2;      /* derived eps: density β of unrelated indications, 0 = no LR gate; default 0.0099 */
	double p_excavate;         /* rule 2 threshold, default 0.5 */
	uint32_t agree_animals;    /* rule 2 agreement, default 2 */
	struct an_fusion_opts fusion;     /* gate_radius_mm 0 = eps_mm */
	struct an_coverage_opts coverage;
	struct an_match_opts match;
	/* Box frame (an/boxframe.h): indications and fixes of a session with a lane box are placed in the box's
	 * lanes once its track reads as the whole pass; default on. */
	bool box_frame;
	/* Where the animal indicates about the item (its own pinpointing, not the receiver's): a DRMS added in
	 * quadrature to every indication's h_acc. Defaults from the 1 m correct-indication rule: rats 466 (σ =
	 * 0.33 m per axis: 99 % within 1 m, domain.md §1.1/§2.3 — an accredited rat puts every test target within
	 * 1 m, which a handful of targets bounds at about that; σ 0.25 m, "all" within 1 m, left a tenth of two
	 * rats' indications of one item unlinked), dogs 850 (σ ≈ 0.6 m: "MDD pinpointing is weak",
	 * domain.md §1.2 — OUR ASSUMPTION for the number). 0 = off. */
	uint32_t pinpoint_rat_mm, pinpoint_dog_mm;
	/* The handler's verdicts (struct an_hazard_review) as evidence, default on; the model's c_T and c_F are
	 * opts.fusion.handler_confirm_true / _false (defaults 0.90 / 0.50, an/fusion.h). Off: reviews are kept
	 * but score nothing, and the state is what it is without them. */
	bool handler_verdicts;
	size_t max_inds, max_sessions, max_fixes, max_clearances, max_calibs; /* caps; -ENOSPC beyond */
	size_t max_boxpos; /* recorder box positions (one kept per indication) */
	size_t max_reviews; /* handler verdicts (one kept per indication) */
};
void an_hazard_opts_init(struct an_hazard_opts *o);

/* The derived per-pair linking radius above (r95 in integers, r_lr in double, rounded up; β = 0: r95 only;
 * h_acc 0 is taken as given, callers map 0 to their default first). Inputs above 10^7 mm are clamped. */
int64_t an_hazard_pair_eps_mm(uint32_t h_acc_a_mm, uint32_t h_acc_b_mm, double clutter_per_m2);

/* ---- inputs ---------------------------------------------------------------------------------------------- */

struct an_hazard_ind {
	uint64_t id; /* unique, != 0 and != UINT64_MAX (e.g. collar_id << 32 | rec_seq) */
	uint64_t animal_id, session_id;
	int64_t t_ms;
	int64_t x_mm, y_mm; /* task-local ENU */
	uint32_t h_acc_mm;
};
/*
 * A session record. Its searched PATCHES (a confirmation search: a few lanes × a few metres about a disputed
 * peg, assigned by the team leader in the box frame, an/geo.h struct an_geo_box_patch) are evidence of a
 * sweep once the session has ENDED (has_end): a point whose centroid a patch holds is then covered by the
 * session, a clean observation of that animal-pass unless it indicated there (an/fusion.h collapses per
 * (animal, pass)), whatever its fixes say — a consumer or SBAS track is not usable coverage and the box frame
 * cannot read a patch as lanes, so without this the confirming animal's sweep counted nothing. Not before the
 * end: the patch is an assignment, a sweep when the handlers report the search done (a live map must not
 * drop a point's P the moment the confirmation starts). patches[0..n_patches) are borrowed for the
 * an_hazard_apply call (the engine copies them), at most AN_HAZARD_MAX_PATCHES, each inside the box (so a
 * session with patches needs has_box).
 * The same session may be given again with its end (the first record without it): the record with the end
 * wins whatever the order (a record without an end after one with it says nothing new), and the apply that
 * adds the end is a full recompute. Anything else that differs (animal, species, sweep, box, patches, a
 * different end) is -EEXIST.
 */
#define AN_HAZARD_MAX_PATCHES 16u /* a confirmation pass has one per disputed peg (merged): a handful */
struct an_hazard_session {
	uint64_t session_id, animal_id;
	enum an_species species;
	uint32_t sweep_width_mm; /* 0 = species default */
	bool has_box;            /* the session's box (an/geo.h, task-local mm): lanes for the box frame */
	struct an_geo_box box;
	bool has_end; /* the search is done (end_ms: when, for the record; the engine reads no clock) */
	int64_t end_ms;
	const struct an_geo_box_patch *patches; /* borrowed for the call; NULL when n_patches is 0 */
	size_t n_patches;
};
struct an_hazard_fix {
	uint64_t session_id;
	struct an_coverage_fix fix;
};
struct an_hazard_calib {
	struct an_fusion_animal cal;
	int64_t as_of_ms; /* the latest wins (ties: the larger record, compared field by field) */
};
/*
 * The data recorder's box position of an indication (DESIGN.md: box-frame coordinates are first class;
 * domain.md §1.1: the recorder writes the lane the handlers counted and the distance along it read off the
 * rope's marks or a tape to the peg). When the indication's session has a box, the lane is one of its
 * lanes and the indication's fix is not more accurate than the entry (h_acc 0 or >= the entry's h_acc below:
 * an RTK-fixed collar's 2 cm beat a rope mark), the engine places the indication there instead of at its fix:
 *     position = an_geo_box_to_enu(box, along_mm, (lane + 0.5) · lane_width_mm)
 *     h_acc    = DRMS sqrt(sd_mm² + lane_width_mm² / 12)   (along: the recorder's sd; across: uniform in the lane)
 * then the species' pinpointing as for a fix. Several entries for one indication (a correction is a new
 * entry): the latest entered_ms wins, ties by the larger record (field by field), so the winner is a function
 * of the set. An entry may come before or after its indication; one that changes where a known indication is
 * placed makes that apply a full recompute (single link only merges, like a changed box-frame fit).
 */
struct an_hazard_boxpos {
	uint64_t ind_id;    /* struct an_hazard_ind.id, != 0 */
	uint32_t lane;      /* 0-based, counted from the box's p0 side (an/geo.h) */
	int64_t along_mm;   /* from the lane's start (p0 end) */
	uint32_t sd_mm;     /* the recorder's 1-sigma along the lane */
	int64_t entered_ms; /* when it was entered: the latest wins */
};
/*
 * The handler's verdict on an indication (domain.md §6: each indication carries "handler confirmation
 * state"): from the collar (a short press confirms, a long one rejects) or from the web API. Several for one
 * indication (a handler changes his mind, or the web overrides the collar): the latest t_ms wins, ties:
 * REJECTED, so the verdict in force is a function of the set, like the store's indications.review. A verdict
 * may come before or after its indication; one that changes the verdict in force of a known indication
 * rescores the point holding it (incrementally: the clustering does not change).
 */
struct an_hazard_review {
	uint64_t ind_id;       /* struct an_hazard_ind.id, != 0 */
	enum an_review verdict; /* AN_REVIEW_CONFIRMED or AN_REVIEW_REJECTED */
	int64_t t_ms;          /* when it was given: the latest wins */
};
struct an_hazard_clearance {
	uint64_t id;      /* unique, != 0 */
	uint64_t ind_ref; /* an indication id of the point this result was dug for; 0 = match by position */
	bool has_pos;
	int64_t x_mm, y_mm;
	uint32_t pos_err_mm; /* 1-sigma */
	enum an_clearance_result result;
	int64_t date_ms;
};

enum an_hazard_input_kind {
	AN_HAZARD_IN_SESSION = 1,
	AN_HAZARD_IN_FIX = 2,
	AN_HAZARD_IN_IND = 3,
	AN_HAZARD_IN_CALIB = 4,
	AN_HAZARD_IN_CLEARANCE = 5,
	AN_HAZARD_IN_BOXPOS = 6,
	AN_HAZARD_IN_REVIEW = 7,
};
struct an_hazard_input {
	enum an_hazard_input_kind kind;
	union {
		struct an_hazard_session session;
		struct an_hazard_fix fix;
		struct an_hazard_ind ind;
		struct an_hazard_calib calib;
		struct an_hazard_clearance clearance;
		struct an_hazard_boxpos boxpos;
		struct an_hazard_review review;
	} u;
};

/* ---- outputs --------------------------------------------------------------------------------------------- */

struct an_hazard_point {
	uint64_t id; /* smallest member indication id */
	enum an_hazard_status status;
	int64_t x_mm, y_mm;
	uint32_t sigma_mm;
	uint32_t n_ind;           /* member indications */
	uint32_t n_ind_animals;   /* distinct animals that indicated it */
	uint32_t n_ind_passes;    /* passes (sessions) that indicated it */
	uint32_t n_clean_passes;  /* passes that swept it without indicating */
	uint32_t n_clean_animals; /* animals that swept it and NEVER indicated it (second opinions, rule 3) */
	int64_t prior_q10, log_odds_q10;
	double p_explosive;
	int64_t first_t_ms, last_t_ms; /* indication times */
	uint64_t clearance_id;         /* 0 = none attached */
	enum an_clearance_result clearance_result; /* 0 = none */
};

enum an_hazard_event_kind {
	AN_HAZARD_EV_CREATED = 1, /* a new point (to = its status) */
	AN_HAZARD_EV_STATUS = 2,  /* status changed */
	AN_HAZARD_EV_SCORE = 3,   /* log-odds changed, status did not */
	AN_HAZARD_EV_RETIRED = 4, /* merged into into_id (to = superseded) */
};
struct an_hazard_event {
	uint64_t seq; /* 1, 2, 3, ... per engine, strictly increasing */
	int64_t t_ms; /* the now_ms of the an_hazard_apply call */
	enum an_hazard_event_kind kind;
	uint64_t hazard_id;
	enum an_hazard_status from, to; /* from = 0 for CREATED */
	int64_t log_odds_from_q10, log_odds_to_q10;
	uint64_t into_id; /* RETIRED only */
};
/* Called for each event, in seq order, during an_hazard_apply. A negative return is passed back by
 * an_hazard_apply (the state has changed regardless; later events of that call are not delivered). */
typedef int (*an_hazard_event_fn)(void *ctx, const struct an_hazard_event *ev);

struct an_hazard_engine;

/* o may be NULL (defaults). @retval -EINVAL bad options; -ENOMEM */
int an_hazard_new(const struct an_hazard_opts *o, struct an_hazard_engine **out) __attribute__((warn_unused_result));
void an_hazard_free(struct an_hazard_engine *h); /* NULL is a no-op */
void an_hazard_set_sink(struct an_hazard_engine *h, an_hazard_event_fn fn, void *ctx);

/*
 * Add in[0..n) (any order, any mix) and recompute; emits the events of the change.
 * An input identical to one already seen is ignored (idempotent replay).
 * Inputs are taken in order: on an error the inputs before the offending one stay applied (and are
 * recomputed and reported), the offending one and the rest are not. Fixes may precede their session's
 * record (they count once it arrives); a clearance's ind_ref may precede its indication.
 * @retval -EINVAL a malformed input (id 0, coordinate beyond AN_GEO_RANGE_MAX_MM, unknown species or
 *         result, sweep out of range, box position lane >= 2^20 or sd > 10^7 mm, a review's verdict neither
 *         confirmed nor rejected, a session's patches more than AN_HAZARD_MAX_PATCHES, without a box or
 *         not inside it) or an inconsistency (an indication and its session record naming different animals)
 * @retval -EEXIST an id already used with different content (indication, session, clearance)
 * @retval -ENOSPC a cap reached
 * @retval -ENOMEM, or the sink's negative return
 */
int an_hazard_apply(struct an_hazard_engine *h, const struct an_hazard_input *in, size_t n, int64_t now_ms)
	__attribute__((warn_unused_result));

size_t an_hazard_count(const struct an_hazard_engine *h);
/* Points in ascending id order. @retval -ENOENT index out of range */
int an_hazard_get(const struct an_hazard_engine *h, size_t index, struct an_hazard_point *out)
	__attribute__((warn_unused_result));
/* @retval -ENOENT no live point with this id */
int an_hazard_find(const struct an_hazard_engine *h, uint64_t id, struct an_hazard_point *out)
	__attribute__((warn_unused_result));
/* Where the engine placed an indication (box frame, pinpointing: opts): what its clustering used.
 * *box_frame = its session's box-frame fit or the recorder's box position (an_hazard_boxpos) moved it;
 * @retval -ENOENT unknown id */
int an_hazard_ind_placed(const struct an_hazard_engine *h, uint64_t ind_id, int64_t *x_mm, int64_t *y_mm,
                         uint32_t *h_acc_mm, bool *box_frame) __attribute__((warn_unused_result));
/* Member indication ids (ascending) / evidence lines of a point; *n_out = the full number.
 * @retval -ENOENT no such point; -ENOBUFS cap too small */
int an_hazard_members(const struct an_hazard_engine *h, uint64_t id, uint64_t *ids, size_t cap, size_t *n_out)
	__attribute__((warn_unused_result));
int an_hazard_evidence(const struct an_hazard_engine *h, uint64_t id, struct an_fusion_evidence *ev, size_t cap,
		       size_t *n_out) __attribute__((warn_unused_result));
/* Which hazard point each clearance result is matched to now (status rule 1's attachment: a linked result
 * to the point holding its indication, whether or not it is the result that decides that point's status; a
 * result with a position to the point an_match_solve paired it with). Only matched results, ascending
 * clearance id; a function of the inputs, not of their order. *n_out = the full number.
 * @retval -EINVAL; -ENOBUFS cap too small */
struct an_hazard_clearance_match {
	uint64_t clearance_id, hazard_id;
};
int an_hazard_clearance_matches(const struct an_hazard_engine *h, struct an_hazard_clearance_match *out, size_t cap,
				size_t *n_out) __attribute__((warn_unused_result));
uint64_t an_hazard_last_seq(const struct an_hazard_engine *h);
/* How the applies so far were computed: incrementally (only the points new inputs can change) or in full
 * (first apply, a calibration or session record added, or after an error). Same results either way. */
void an_hazard_apply_counts(const struct an_hazard_engine *h, size_t *incremental, size_t *full);

/* Canonical text of the whole state (points, members, evidence; not the event counter): equal states
 * give equal bytes. @retval -EIO write failed */
int an_hazard_dump(const struct an_hazard_engine *h, FILE *f) __attribute__((warn_unused_result));

/*
 * Write the engine's state of one task into the store (an/store.h hazard tables), in ONE transaction:
 *   hazard_points  one row per live point, id = the canonical id (smallest member indication id, which is
 *                  collar_id << 32 | rec_seq when fed as the daemon feeds it), status/score/centroid as the
 *                  engine has them, lat/lon from o, r95_mm = 2.4477 sigma_mm, n_sessions = passes that
 *                  indicated; created_ms/updated_ms = the first/last member indication's time (DATA times,
 *                  not the wall clock, so the rows do not depend on when or in what order they were computed);
 *                  a row of this task that is no longer a live point (it merged into another, or a split
 *                  moved its smallest member to another point) becomes 'superseded' and loses its evidence
 *                  rows (they live on in the points that hold those members); a superseded row whose id is a
 *                  live point again (split off) is overwritten as live.
 *                  Exports and reports skip superseded rows.
 *   hazard_evidence rewritten per live point: one 'indication' row per member (the pass's log-odds delta on
 *                  its first indication, 0 on the others; the delta includes the handler's verdict term, and
 *                  the verdict in force is the indications.review of the store's rows) and one 'clean_pass'
 *                  row per clean sweep.
 *   hazard_events  one row per ev[i] (the events an_hazard_apply delivered since the last sync; NULL/0 for
 *                  none, e.g. when an engine is rebuilt at start-up), kind created/status/score, RETIRED as a
 *                  'status' row to superseded with note "merged into <id>"; the store's seq numbers them.
 *                  Events describe how the state was reached and so depend on batching; the points and
 *                  evidence do not.
 *   clearance_results.matched_hazard_id  the point each result of the task is matched to now
 *                  (an_hazard_clearance_matches; NULL = none), found by the result's content id; the
 *                  imported hazard_id column is an input and is never written here.
 * Rows are rewritten whole on every call (a moved centroid has no engine event).
 * @retval 0; -EINVAL bad argument or a point outside the frame; -EBUSY; -EIO; -ENOSPC; -ENOMEM
 */
struct an_store;
struct an_geo_origin;
int an_hazard_store_sync(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                         const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev, char *err,
                         size_t errcap) __attribute__((warn_unused_result));
/* The same, skipping the points whose content (fields, members, evidence: a 64-bit digest) is what this
 * cache says the previous successful call wrote: a live core rewrites only what changed instead of every
 * point of the task per batch. The cache belongs to one (store, task); zero-initialise it, free it with
 * an_hazard_store_cache_free. A failed call empties it (the next call writes everything). */
struct an_hazard_store_cache {
	uint64_t *id, *digest; /* ascending id */
	size_t n;
	uint64_t clr_digest; /* the clearance matching last written (0 = unknown) */
};
int an_hazard_store_sync_cached(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                                const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev,
                                struct an_hazard_store_cache *cache, char *err, size_t errcap)
	__attribute__((warn_unused_result));
void an_hazard_store_cache_free(struct an_hazard_store_cache *c);

/* The engine id of a clearance result (struct an_hazard_clearance.id): 63 bits of SHA-256 over its
 * canonical content (task, hazard id, position e7, error, result, device, depth, team, date), never 0. The store's row
 * id would depend on the order in which result files were imported, and the engine breaks matching ties by
 * id. Two results with identical content get one id (the engine keeps one: they are the same dig). */
struct an_store_clearance;
uint64_t an_hazard_clearance_id(const struct an_store_clearance *c);

/* The status rules 1–4 above for one point's fields (n_ind_animals, n_clean_animals, log_odds_q10,
 * clearance_id/result). excavate_q10 = logit(p_excavate) in q10. */
enum an_hazard_status an_hazard_status_rule(const struct an_hazard_point *p, uint32_t agree_animals,
					    int64_t excavate_q10);

/* ---- evaluation policies (for the simulator's comparison) -------------------------------------------------
 * Which points each policy would send to excavation:
 *   ANY     every indication is acted on: every point (each has >= 1 indication); at indication level use
 *           an_hazard_members (every member indication is a flag);
 *   AGREE   >= min_animals distinct animals indicated it (default rule of thumb: 2);
 *   FUSED   log_odds_q10 >= threshold_q10 (an_fusion_logit_q10(p)).
 * Clearance results do not enter: the policies are judged AGAINST them. */
#define AN_HAZARD_POLICY_ANY 0x1u
#define AN_HAZARD_POLICY_AGREE 0x2u
#define AN_HAZARD_POLICY_FUSED 0x4u
struct an_hazard_policy_counts {
	size_t any, agree, fused;
};
unsigned an_hazard_policy_flags(const struct an_hazard_point *p, uint32_t min_animals, int64_t threshold_q10);
/* flags[i] = an_hazard_policy_flags(&pts[i], ...) (flags may be NULL); counts per policy (may be NULL). */
int an_hazard_policy_eval(const struct an_hazard_point *pts, size_t n, uint32_t min_animals, int64_t threshold_q10,
			  unsigned *flags, struct an_hazard_policy_counts *counts) __attribute__((warn_unused_result));

#endif
