/*
 * an/fusion.h — evidence fusion for one hazard point: integer log-odds of "an explosive item lies within
 * the gate around this point" from calibrated per-animal likelihood ratios (analysis.md §2.1–2.4, §7.3).
 *
 * Model (binary Bayes filter, likelihood-ratio form):
 *     l = l0 + Σ_passes that indicated  w·log LR⁺ₐ  +  Σ_passes that swept the gate without indicating  w·log LR⁻ₐ
 *   LR⁺ₐ = sₐ / p_fa,a                     (an indication inside the gate)
 *   LR⁻ₐ = (1 − s_low,a) / (1 − p_fa,a)    (the pass swept the gate and did not indicate: Koopman's
 *                                           "unsuccessful search" update)
 *   p_fa,a = 1 − exp(−λₐ·A)                (probability of at least one false indication inside the gate
 *                                           area A = π r² during a pass, false indications being a Poisson
 *                                           process of rate λₐ per m² searched)
 *   l0 = logit(1 − exp(−ρ·A))              (at least one item in the gate, items Poisson with density ρ)
 * sₐ is the posterior MEAN of the animal's sensitivity, Beta(a0 + hits, b0 + misses); s_low,a the one-sided
 * lower credible bound of the same posterior (analysis.md §2.4: "use the posterior lower bound of s_a in
 * LR⁻", so negative evidence is never over-trusted — a new animal's clean pass is worth almost nothing).
 * λₐ is the posterior mean of its false-indication rate, Gamma(shape0 + false_inds, rate0 + area_m2).
 *
 * Units: log-odds are int64 in 1/1024 nat (AN_FUSION_Q; "q10", the unit of store.h's log_odds_q10 and
 * delta_q10). Each per-animal term is rounded ONCE (half away from zero) from its double value; totals are
 * plain integer sums, never clamped (clamping breaks commutativity, analysis.md §2.1), so the total is
 * bit-identical for any order of the same evidence. Rounding error: <= 0.5/1024 nat per term.
 *
 * Dependence control (analysis.md §2.3):
 *   - ONE observation per (animal, pass, gate): a pass (= session) with several indications in the gate
 *     counts once, and a pass that indicated is never also counted as a clean sweep;
 *   - further passes of the SAME animal of the same kind (indicated / clean) are discounted by
 *     repeat_permil (default 500, i.e. LR^0.5 — the "exponent 0.5" of §2.3): the pass with the smallest
 *     session id gets full weight, so the choice depends on the set, not on arrival order.
 * Independent evidence = distinct animal ids.
 *
 * The handler's verdict (domain.md §6: "the handler must confirm/reject in one tap"). An indicated pass
 * whose indications in the gate carry a verdict gets the handler's likelihood ratio on top of its LR⁺:
 *     confirmed:  LR_h = c_T / c_F              rejected:  LR_h = (1 − c_T) / (1 − c_F)
 *   c_T = P(handler confirms | the animal indicated an item), c_F = P(handler confirms | false indication)
 * The pass's verdict is CONFIRMED if any of its indications in the gate is confirmed, else REJECTED if any
 * is rejected, else none (LR_h = 1): the handler confirms what he saw as the animal's real response, and one
 * confirmed response in the gate is that response. Assumption: given the truth, the handler's call is
 * independent of the animal's own false-indication and detection model (he judges the behaviour, not the
 * ground; a handler who "reads" the ground would make c_F larger, which is why the defaults are
 * conservative). A repeated pass of the same animal gets the repeat weight on its handler term too (the
 * same handler judging the same animal: dependent like the pass itself). Defaults c_T 0.90, c_F 0.50: OUR
 * ASSUMPTION, no published anchor (a handler confirms nearly every real indication and cannot tell half of
 * the false ones from real ones; the simulator's handlers are 0.90–0.99 / 0.20–0.60, so the defaults trust
 * a verdict less than the simulated world would allow); a programme sets both from its double-blind
 * accreditation records. They give +0.588 nat (+602 q10) for a confirmation and −1.609 nat (−1648 q10) for
 * a rejection; a repeated pass +301 / −824. Range: 0 < c_F < c_T < 1 (a confirmation must raise P and a
 * rejection lower it).
 *
 * Defaults and their sources:
 *   ρ = 213 / 1 400 000 m² = 1.52e-4 per m² (items found by the Cambodia technical-survey-dog validation,
 *       analysis.md §2.2): a suspected-hazard-area density; set it from the task's own survey;
 *   gate radius 1000 mm (the 1 m correct-indication rule, domain.md §6.6) → A = 3.14 m², l0 = −7.646 nat
 *       (P0 = 4.8e-4); callers with consumer-GNSS positions use their clustering eps instead;
 *   sensitivity prior Beta(1, 1) (AN_STATS_SENS_PRIOR_*: uniform, worth two targets);
 *   false-indication prior Gamma(1, 303 m²) for rats (0.33 per 100 m², Poling et al. 2011) and
 *       Gamma(1, 18 182 m²) for dogs (0.0055 per 100 m², Cambodia TSD) (AN_STATS_FA_PRIOR_*);
 *   s_low at one-sided 95 % credibility.
 * Worked example (tests check it): a new rat (no history), gate 1 m: p_fa = 1 − e^(−0.0033·π) = 0.01031,
 * LR⁺ = 0.5 / 0.01031 → +3.881 nat (+3974 q10); s_low = 0.05 → LR⁻ = 0.95 / 0.98969 → −0.041 nat (−42);
 * prior l0 = −7.646 nat (−7829 q10).
 */
#ifndef AN_FUSION_H
#define AN_FUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/stats.h" /* priors */
#include "an/store.h" /* enum an_species */

#define AN_FUSION_Q 1024 /* log-odds unit: 1/1024 nat */

#define AN_FUSION_DENSITY_DEFAULT_PER_M2 (213.0 / 1400000.0)
#define AN_FUSION_GATE_RADIUS_DEFAULT_MM 1000
#define AN_FUSION_REPEAT_PERMIL_DEFAULT 500u
#define AN_FUSION_SENS_LOWER_CRED_DEFAULT 0.95
#define AN_FUSION_HANDLER_CONFIRM_TRUE_DEFAULT 0.90  /* our assumption (above) */
#define AN_FUSION_HANDLER_CONFIRM_FALSE_DEFAULT 0.50 /* our assumption (above) */

#define AN_FUSION_OPTS_VERSION 1
struct an_fusion_opts {
	unsigned version;         /* AN_FUSION_OPTS_VERSION */
	double density_per_m2;    /* ρ > 0 */
	int64_t gate_radius_mm;   /* 1 .. 10^6 */
	double sens_prior_a, sens_prior_b;      /* Beta prior of sensitivity, > 0 */
	double fa_prior_shape;                  /* Gamma prior shape, > 0 */
	double fa_prior_m2_rat, fa_prior_m2_dog; /* Gamma prior rate (m² of searched area), > 0 */
	double sens_lower_cred;   /* one-sided credibility of s_low, in (0, 1) */
	uint32_t repeat_permil;   /* weight of a further same-animal pass of the same kind, 0 .. 1000 */
	double handler_confirm_true, handler_confirm_false; /* c_T, c_F above: 0 < c_F < c_T < 1 */
};
#define AN_FUSION_OPTS_INIT                                                                                 \
	{ AN_FUSION_OPTS_VERSION, AN_FUSION_DENSITY_DEFAULT_PER_M2, AN_FUSION_GATE_RADIUS_DEFAULT_MM,     \
	  AN_STATS_SENS_PRIOR_A, AN_STATS_SENS_PRIOR_B, AN_STATS_FA_PRIOR_SHAPE, AN_STATS_FA_PRIOR_M2_RAT, \
	  AN_STATS_FA_PRIOR_M2_DOG, AN_FUSION_SENS_LOWER_CRED_DEFAULT, AN_FUSION_REPEAT_PERMIL_DEFAULT,      \
	  AN_FUSION_HANDLER_CONFIRM_TRUE_DEFAULT, AN_FUSION_HANDLER_CONFIRM_FALSE_DEFAULT }

void an_fusion_opts_init(struct an_fusion_opts *o);
/* @retval -EINVAL a field out of range */
int an_fusion_opts_check(const struct an_fusion_opts *o) __attribute__((warn_unused_result));

/* An animal's calibration history (from an/stats.h bookkeeping: clearance-confirmed targets in its swept
 * coverage, confirmed false indications, area searched). All zero = a new animal (priors only). */
struct an_fusion_animal {
	uint64_t animal_id;
	enum an_species species;
	uint64_t hits, misses;
	uint64_t false_inds;
	double area_m2; /* >= 0, finite */
};

/* Per-animal likelihood ratios, computed once and then only added. */
struct an_fusion_lr {
	uint64_t animal_id;
	double s_mean, s_low;   /* sensitivity posterior mean and lower bound */
	double lambda_per_m2;   /* false-indication rate posterior mean */
	double p_fa;            /* per-gate false-indication probability */
	double log_lr_pos, log_lr_neg; /* nats */
	int64_t pos_q10, neg_q10;         /* full weight */
	int64_t pos_rep_q10, neg_rep_q10; /* repeat weight */
};

/* Round nats · 1024 half away from zero. @retval -ERANGE not finite or beyond ±2^53 */
int an_fusion_q10(double nats, int64_t *out) __attribute__((warn_unused_result));
/* P = 1 / (1 + exp(−l / 1024)). */
double an_fusion_prob(int64_t log_odds_q10);
/* q10 of logit(p), 0 < p < 1. @retval -EINVAL */
int an_fusion_logit_q10(double p, int64_t *out) __attribute__((warn_unused_result));

/* Gate area in m² (π r²). */
double an_fusion_gate_area_m2(const struct an_fusion_opts *o);

/* Prior log-odds l0 (q10) and probability P0 for the gate. o may be NULL (defaults). */
int an_fusion_prior(const struct an_fusion_opts *o, int64_t *prior_q10, double *prior_p)
	__attribute__((warn_unused_result));

/* Likelihood ratios of one animal. o may be NULL.
 * @retval -EINVAL bad opts, unknown species, area_m2 negative or not finite; -ERANGE stats failure */
int an_fusion_animal_lr(const struct an_fusion_opts *o, const struct an_fusion_animal *a, struct an_fusion_lr *out)
	__attribute__((warn_unused_result));

/* One raw observation at the gate: an indication of a pass inside it (indicated = true, ind_id = its id,
 * verdict = the handler's on it, AN_REVIEW_UNREVIEWED = none), or a pass whose track swept the gate
 * (indicated = false, verdict ignored). Duplicates and both kinds for the same pass are allowed:
 * an_fusion_score collapses them to one observation per (animal, pass). */
struct an_fusion_obs {
	uint64_t animal_id, session_id;
	bool indicated;
	uint64_t ind_id;
	enum an_review verdict;
};

enum an_fusion_ev_kind { AN_FUSION_EV_INDICATED = 1, AN_FUSION_EV_CLEAN = 2 };

/* One line of a score's explanation ("+3970 from rat 17 session 3"). */
struct an_fusion_evidence {
	uint64_t animal_id, session_id;
	enum an_fusion_ev_kind kind;
	uint32_t n_ind;        /* indications of this pass in the gate (counted once) */
	uint64_t first_ind_id; /* the smallest of them (0 for a clean pass) */
	bool repeat;           /* a further pass of the same animal and kind: discounted */
	int64_t delta_q10;     /* the whole line: the animal's term + handler_q10 */
	enum an_review verdict; /* the pass's handler verdict (indicated passes; UNREVIEWED = none) */
	int64_t handler_q10;    /* its log LR_h (repeat-weighted like the pass), 0 = none */
};

struct an_fusion_result {
	int64_t prior_q10, pos_q10, neg_q10, handler_q10, total_q10; /* total = prior + pos + neg + handler, exact */
	double p;                                       /* an_fusion_prob(total) */
	uint32_t n_evidence;
	uint32_t n_ind_passes, n_ind_animals;
	uint32_t n_clean_passes, n_clean_animals;
	uint32_t n_clean_only_animals; /* animals that swept it and never indicated it */
};

/*
 * Score one gate. lrs[0..n_lrs) sorted by strictly ascending animal_id (an_fusion_lr_sort); every observed
 * animal must be present. obs in any order. Evidence goes to ev[0..cap) in (animal_id, session_id) order;
 * res is always filled on success and on -ENOBUFS (then ev holds the first cap lines). o may be NULL.
 * @retval -EINVAL NULL pointers, bad opts, lrs not sorted/unique, a session seen with two animals
 * @retval -ENOENT an observed animal has no entry in lrs
 * @retval -ENOBUFS cap < res->n_evidence
 * @retval -ENOMEM
 */
int an_fusion_score(const struct an_fusion_opts *o, const struct an_fusion_lr *lrs, size_t n_lrs,
		    const struct an_fusion_obs *obs, size_t n_obs, struct an_fusion_evidence *ev, size_t cap,
		    struct an_fusion_result *res) __attribute__((warn_unused_result));

/* The same animal's ratios for another gate: out = an_fusion_animal_lr(o, a) for the animal whose ratios
 * in were computed with other options (same priors, another gate_radius_mm), bit for bit, without the
 * posterior computations again (s_mean, s_low and lambda_per_m2 are kept from in). in and out may alias.
 * Used per hazard point when the gate follows the point's position uncertainty (an/hazard.h).
 * @retval -EINVAL bad opts or an in that an_fusion_animal_lr cannot have produced; -ERANGE */
int an_fusion_lr_regate(const struct an_fusion_opts *o, const struct an_fusion_lr *in, struct an_fusion_lr *out)
	__attribute__((warn_unused_result));

/* The handler's term (q10) of one indicated pass: verdict CONFIRMED or REJECTED (UNREVIEWED: 0), repeat =
 * a further pass of the same animal (weight repeat_permil). Rounded once from its double value. o may be NULL.
 * @retval -EINVAL bad opts or verdict */
int an_fusion_handler_q10(const struct an_fusion_opts *o, enum an_review verdict, bool repeat, int64_t *out)
	__attribute__((warn_unused_result));

/* Sort lrs by animal_id. @retval -EINVAL duplicate animal ids */
int an_fusion_lr_sort(struct an_fusion_lr *lrs, size_t n) __attribute__((warn_unused_result));

#endif
