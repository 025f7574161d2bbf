/*
 * tests/collar-fw/motion/eval.h — run cf_classify over generated, labelled motion and score it.
 *
 * Data set for one species and one seed:
 *   indication set: sessions of search with indications (SIT for dogs, SCRATCH for rats) inserted
 *                   after exponential search times, one new animal per session, until at least
 *                   `episodes` true episodes exist;
 *   clean set:      `clean_hours` of search motion without indications (walk, trot, sniff-pauses,
 *                   stands/rears, shakes, bumps), one new animal per 30 min session.
 * Matching: a detection (ONSET event) matches a true episode of its kind if their onsets differ by at
 * most tol_ms; one-to-one, nearest first. Unmatched detections are false indications.
 * Motion state: every sample at least 1.5 s inside a labelled segment is scored against the segment's
 * group (walk/trot/shake = MOVING, stand/sniff = STATIONARY, sit/scratch = INDICATING; transitions
 * are not scored): the state needs up to one window plus one hop to follow a change.
 */
#ifndef MOTION_EVAL_H
#define MOTION_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "cf/classify.h"

struct ev_opts {
	int species;                 /* MM_RAT / MM_DOG (== CF_SPECIES_*) */
	uint64_t seed;
	uint32_t episodes;           /* at least this many true indications */
	double clean_hours;          /* search-only motion */
	uint32_t tol_ms;             /* onset tolerance for a match */
	const struct cf_classify_config *cfg; /* NULL: cf_classify_config_default(species) */
};

struct ev_result {
	uint32_t truth;              /* true indication episodes */
	uint32_t tp, fn;
	uint32_t fp_ind;             /* false detections in the indication set */
	uint32_t fp_clean;           /* false detections in the clean set */
	uint32_t onset_end_pairs;    /* ONSET events that got their END */
	double ind_minutes, clean_minutes;
	double onset_err_mean_ms;    /* detection onset - true onset, over matches */
	double onset_abs_p95_ms;
	double latency_mean_ms, latency_p95_ms; /* confirmation time - true onset */
	double dur_abs_err_median_ms;
	double conf_mean_tp, conf_mean_fp;
	uint64_t state[3][4];        /* [truth moving/stationary/indicating][predicted cf_motion_state] */
	uint32_t rejected;           /* samples the classifier refused (must be 0) */
	uint32_t fp_by_class[8];     /* false detections by the true class at their onset (enum mm_class) */
};

int ev_run(const struct ev_opts *o, struct ev_result *r);

double ev_recall(const struct ev_result *r);
double ev_precision(const struct ev_result *r);          /* over both sets */
double ev_false_per_10min_clean(const struct ev_result *r);

void ev_print(FILE *f, const struct ev_opts *o, const struct ev_result *r);

#endif
