/*
 * an/report.h — accuracy, hazard and accreditation reports (`scentrack report ...`), text or JSON.
 *
 * ACCURACY, per animal (and per handler team, month, air-temperature band and target class), over its
 * training, operational and QC sessions (accreditation sessions are judged by their own targets, below):
 *   A session is one PASS of one animal over one box. For each pass:
 *   - indications = the session's indications with a local position that the handler did not reject
 *     (review != 'rejected': a rejected call is not the animal's indication on record), or all of them
 *     with opts.with_rejected — the animal's RAW rates, before the handler's verdict, which is what a
 *     calibration record for the hazard engine must hold: the engine applies the verdict on top (an/fusion.h
 *     handler term), so rates without the rejected calls would count the verdict twice. Either way the
 *     group's `rejected` counts the rejected ones;
 *   - targets = clearance results whose class plays the TARGET role (policy below) lying inside the box
 *     (an_geo_box_locate, edges included);
 *   - indications are matched one-to-one to the clearance results (any class, except IGNORE) within 10 m
 *     of the box with an_match (maximum number of pairs, then minimum total distance; gate
 *     max(1 m, 99 % Mahalanobis on the indication's h_acc and the result's pos_err as 1-sigma));
 *   - matched to a TARGET/CORRECT result → correct indication (a TARGET inside the box is a HIT);
 *     matched to a FALSE result → false indication; unmatched but inside the gate of some result →
 *     REPEAT (the same spot indicated again in the pass: one observation, neither right nor wrong);
 *     unmatched and near no result → UNRESOLVED (nothing excavated there yet), or FALSE with
 *     opts.unresolved_is_false (for boxes known to be fully cleared);
 *   - TARGETs inside the box not matched → MISS.
 *   Sensitivity = hits / targets with Clopper–Pearson (two-sided, and the one-sided lower bound a claim
 *   "at least" needs) and Wilson intervals; false indications per 100 m² of box area with exact Garwood
 *   intervals; PPV = correct / (correct + false) with Clopper–Pearson, and how the resolved indications
 *   split by result class; localisation error (indication → item of correct matches: mean, median, p95,
 *   share within 0.5 / 1 / 2 m); search rate = box area / session duration (sessions with an end);
 *   targets still needed, with no miss, to claim 90 / 95 / 99 % at 95 % one-sided confidence. The text
 *   says what the numbers prove, e.g. "41/41 targets found proves sensitivity >= 93.0 % (95 % one-sided,
 *   Clopper-Pearson)" — and what they do not.
 *
 * POLICY: the role each result class plays (an_report_policy_set, CLI --count CLASS=ROLE):
 *   target   must be found: a miss if not indicated, correct if indicated       (default: ap_mine, at_mine,
 *                                                                                uxo, other_erw)
 *   correct  an indication there is correct, not indicating it is no miss        (default: fragment —
 *            animals legitimately smell explosive residue on fragments; Poling 2011, analysis.md §7.4)
 *   false    an indication there is a false indication                           (default: scrap, nothing)
 *   ignore   left out of matching: indications there stay unresolved            (default: not_accessible)
 *
 * HAZARDS: hazard points (of the animal's evidence with an animal), ordered by id: status, P(explosive),
 *   r95, indication / clean-pass evidence counts, animals, sessions, linked clearance results.
 *
 * ACCREDITATION: per accreditation test (accreditation_tests + accreditation_targets, double-blind
 *   layouts): the test's indications (its session, or the animal's accreditation-mode sessions in that
 *   box when no session is recorded) matched to the targets with a FIXED radius (the rule's, default
 *   1 m; no Mahalanobis widening — the rule is a distance); per target hit/miss with distance; false
 *   indications = indications matched to no target; PASS iff every target hit AND false <= max_false AND
 *   area >= the rule's area. The layout hash is SHA-256 over the targets in id order, one line each
 *   "lat_e7,lon_e7,target_type,depth_mm\n" (depth empty when unknown); the stored hash is shown too and a
 *   mismatch is flagged (the layout changed after the test was registered).
 *   Default rule (configurable; national authorities set the real numbers, domain.md §2.3): radius 1 m,
 *   max_false 0, area 200 m².
 *
 * JSON output: fixed key order (as documented in the CLI help), numbers with fixed decimals, so the same
 * store gives the same bytes.
 */
#ifndef AN_REPORT_H
#define AN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "an/match.h"
#include "an/stats.h"

struct an_store;

enum an_report_role {
	AN_ROLE_TARGET = 1,
	AN_ROLE_CORRECT = 2,
	AN_ROLE_FALSE = 3,
	AN_ROLE_IGNORE = 4,
};

#define AN_REPORT_NCLASS 9 /* index = enum an_clearance_result (1..8) */

struct an_report_policy {
	enum an_report_role role[AN_REPORT_NCLASS];
};

struct an_report_rule {
	int64_t radius_mm;  /* default 1000 */
	uint32_t max_false; /* default 0 */
	uint32_t area_m2;   /* default 200 */
};

struct an_report_opts {
	int64_t animal_id; /* 0 = every animal */
	bool json;
	bool unresolved_is_false;
	bool with_rejected;           /* the handler's rejected indications count as the animal's (ACCURACY) */
	double conf;                  /* default 0.95 */
	struct an_report_policy policy;
	struct an_match_opts match;   /* default AN_MATCH_OPTS_INIT */
	struct an_report_rule rule;
};

void an_report_opts_init(struct an_report_opts *o);
void an_report_policy_default(struct an_report_policy *p);
/* "fragment=target,scrap=false" (class names as an_import_result_class accepts; roles target | correct |
 * false | ignore). @retval 0 or -EINVAL (why in err) */
int an_report_policy_set(struct an_report_policy *p, const char *spec, char *err, size_t errcap);
/* "radius_m=1,max_false=0,area_m2=200" @retval 0 or -EINVAL */
int an_report_rule_set(struct an_report_rule *r, const char *spec, char *err, size_t errcap);

/* Counters of one group (all, a team, a month, a temperature band, a target class). */
struct an_report_group {
	char label[96];
	uint64_t sessions, targets, hits, misses;
	uint64_t indications, correct, false_ind, repeats, unresolved;
	uint64_t rejected; /* indications the handler rejected (in `indications` only with opts.with_rejected) */
	uint64_t matched_by_class[AN_REPORT_NCLASS]; /* resolved indications by the class they matched */
	double area_m2, hours;                        /* hours: sessions with an end only */
	double area_timed_m2;                         /* area of those sessions (search-rate numerator) */
};

struct an_report_accuracy {
	int64_t animal_id;
	char animal[64];
	struct an_report_group all;
	struct an_report_group *teams, *periods, *temps, *classes;
	size_t n_teams, n_periods, n_temps, n_classes;
	double *loc_err_m; /* distances of correct matches, sorted ascending */
	size_t n_loc;
};

/* Compute the accuracy of one animal. @retval 0; -ENOENT no such animal; -ENOMEM; -EIO */
int an_report_accuracy_compute(struct an_store *s, const struct an_report_opts *o, int64_t animal_id,
                               struct an_report_accuracy *out, char *err, size_t errcap)
	__attribute__((warn_unused_result));
void an_report_accuracy_free(struct an_report_accuracy *a);

/* Reports, written to out. @retval 0; -ENOENT (animal); -EIO; -ENOMEM */
int an_report_accuracy(struct an_store *s, const struct an_report_opts *o, FILE *out, char *err, size_t errcap)
	__attribute__((warn_unused_result));
int an_report_hazards(struct an_store *s, const struct an_report_opts *o, FILE *out, char *err, size_t errcap)
	__attribute__((warn_unused_result));
int an_report_accreditation(struct an_store *s, const struct an_report_opts *o, FILE *out, char *err,
                            size_t errcap) __attribute__((warn_unused_result));

#endif
