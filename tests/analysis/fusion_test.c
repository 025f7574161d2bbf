/*
 * tests/analysis/fusion_test.c — an_fusion_*: per-animal likelihood ratios from calibration posteriors,
 * one observation per (animal, pass), repeat discount, exact order independence, and agreement of the
 * integer sums with a double-precision reference within the fixed-point resolution.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an/fusion.h"

#define PI_D 3.14159265358979323846

static struct an_fusion_lr lr_of(uint64_t id, enum an_species sp, uint64_t hits, uint64_t misses, uint64_t fa,
				 double area)
{
	struct an_fusion_animal a = { id, sp, hits, misses, fa, area };
	struct an_fusion_lr r;
	cr_assert_eq(an_fusion_animal_lr(NULL, &a, &r), 0);
	return r;
}

/* splitmix64: a fixed, portable test RNG */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void shuffle(struct an_fusion_obs *o, size_t n, uint64_t *s)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(s) % i);
		struct an_fusion_obs t = o[i - 1];
		o[i - 1] = o[j];
		o[j] = t;
	}
}

Test(an_fusion, prior_and_new_rat_match_worked_example)
{
	int64_t prior;
	double p0;
	cr_assert_eq(an_fusion_prior(NULL, &prior, &p0), 0);
	/* ρ = 213 / 1.4e6 per m², A = π m²: P0 = 1 − e^(−ρA), l0 = log P0 + ρA (computed independently here) */
	double x = 213.0 / 1400000.0 * PI_D;
	double l0 = log(-expm1(-x)) - log(exp(-x));
	cr_assert_eq(prior, llround(l0 * 1024), "prior %lld vs %f", (long long)prior, l0 * 1024);
	cr_assert_eq(prior, -7829);
	cr_assert_float_eq(p0, 4.7785667e-4, 1e-10);

	struct an_fusion_lr r = lr_of(1, AN_SPECIES_RAT, 0, 0, 0, 0.0);
	cr_assert_float_eq(r.s_mean, 0.5, 1e-15);
	cr_assert_float_eq(r.s_low, 0.05, 1e-12); /* Beta(1,1) one-sided 95 % lower bound */
	cr_assert_float_eq(r.lambda_per_m2, 0.0033, 1e-15);
	cr_assert_float_eq(r.p_fa, 0.010313700992641662, 1e-15);
	cr_assert_eq(r.pos_q10, 3974);
	cr_assert_eq(r.neg_q10, -42);
	cr_assert_eq(r.pos_rep_q10, 1987);  /* 0.5 · 3974.28 */
	cr_assert_eq(r.neg_rep_q10, -21);   /* 0.5 · −41.9 */
}

Test(an_fusion, posteriors_follow_calibration_history)
{
	/* Poling-like rat: 95 of 95 items found, 308 false in 93 400 m² */
	struct an_fusion_lr r = lr_of(7, AN_SPECIES_RAT, 95, 0, 308, 93400.0);
	cr_assert_float_eq(r.s_mean, 96.0 / 97.0, 1e-15);
	cr_assert_float_eq(r.lambda_per_m2, 309.0 / (100.0 / 0.33 + 93400.0), 1e-15);
	cr_assert(r.s_low > 0.96 && r.s_low < r.s_mean); /* 0.05^(1/96) = 0.9693 */
	cr_assert_float_eq(r.s_low, pow(0.05, 1.0 / 96.0), 1e-12);
	/* a calibrated rat's clean pass is strong negative evidence, a new rat's is nearly nothing */
	cr_assert_lt(r.neg_q10, -3000);
	struct an_fusion_lr d = lr_of(8, AN_SPECIES_DOG, 0, 0, 0, 0.0);
	cr_assert_float_eq(d.lambda_per_m2, 0.0055 / 100.0, 1e-15);
	/* the survey-dog prior (0.0055 per 100 m²) makes a new dog's indication far stronger than a rat's */
	cr_assert_eq(d.pos_q10, llround(1024.0 * (log(0.5) - log(-expm1(-0.000055 * PI_D)))));
	cr_assert_gt(d.pos_q10, lr_of(10, AN_SPECIES_RAT, 0, 0, 0, 0.0).pos_q10 + 4000);
	struct an_fusion_animal bad = { 9, 0, 0, 0, 0, 0.0 };
	cr_assert_eq(an_fusion_animal_lr(NULL, &bad, &r), -EINVAL);
	bad.species = AN_SPECIES_RAT;
	bad.area_m2 = NAN;
	cr_assert_eq(an_fusion_animal_lr(NULL, &bad, &r), -EINVAL);
}

Test(an_fusion, one_indication_then_clean_pass_then_second_indication)
{
	struct an_fusion_lr lrs[2] = { lr_of(1, AN_SPECIES_RAT, 40, 2, 100, 30000.0),
				       lr_of(2, AN_SPECIES_RAT, 60, 1, 150, 45000.0) };
	struct an_fusion_obs obs[2] = { { 1, 100, true, 5001, AN_REVIEW_UNREVIEWED }, { 2, 200, false, 0, AN_REVIEW_UNREVIEWED } };
	struct an_fusion_evidence ev[4];
	struct an_fusion_result r1, r2, r3;

	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 1, ev, 4, &r1), 0);
	cr_assert_eq(r1.total_q10, r1.prior_q10 + lrs[0].pos_q10);
	cr_assert_eq(r1.n_evidence, 1);
	cr_assert_eq(ev[0].kind, AN_FUSION_EV_INDICATED);
	cr_assert_eq(ev[0].first_ind_id, 5001);
	cr_assert_eq(r1.n_ind_animals, 1);
	cr_assert_gt(r1.p, 0.0);

	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 2, ev, 4, &r2), 0);
	cr_assert_eq(r2.total_q10, r1.total_q10 + lrs[1].neg_q10);
	cr_assert_lt(r2.p, r1.p);
	cr_assert_eq(r2.n_clean_only_animals, 1);
	cr_assert_eq(ev[1].kind, AN_FUSION_EV_CLEAN);
	cr_assert_eq(ev[1].delta_q10, lrs[1].neg_q10);

	obs[1].indicated = true;
	obs[1].ind_id = 6001;
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 2, ev, 4, &r3), 0);
	cr_assert_eq(r3.total_q10, r1.total_q10 + lrs[1].pos_q10);
	cr_assert_eq(r3.n_ind_animals, 2);
	cr_assert_gt(r3.p, r1.p);
	cr_assert_float_eq(r3.p, 1.0 / (1.0 + exp(-(double)r3.total_q10 / 1024.0)), 1e-15);
}

Test(an_fusion, repeated_indications_in_one_pass_count_once)
{
	struct an_fusion_lr lrs[1] = { lr_of(3, AN_SPECIES_RAT, 10, 0, 5, 2000.0) };
	struct an_fusion_obs obs[7] = {
		{ 3, 9, true, 44, AN_REVIEW_UNREVIEWED }, { 3, 9, true, 41, AN_REVIEW_UNREVIEWED }, { 3, 9, true, 43, AN_REVIEW_UNREVIEWED }, { 3, 9, true, 41, AN_REVIEW_UNREVIEWED }, /* 41 twice */
		{ 3, 9, false, 0, AN_REVIEW_UNREVIEWED }, { 3, 9, false, 0, AN_REVIEW_UNREVIEWED }, { 3, 9, true, 42, AN_REVIEW_UNREVIEWED },                   /* swept too */
	};
	struct an_fusion_evidence ev[2];
	struct an_fusion_result r;
	cr_assert_eq(an_fusion_score(NULL, lrs, 1, obs, 7, ev, 2, &r), 0);
	cr_assert_eq(r.n_evidence, 1);
	cr_assert_eq(ev[0].kind, AN_FUSION_EV_INDICATED);
	cr_assert_eq(ev[0].n_ind, 4); /* 41, 42, 43, 44 */
	cr_assert_eq(ev[0].first_ind_id, 41);
	cr_assert_eq(ev[0].repeat, false);
	cr_assert_eq(r.total_q10, r.prior_q10 + lrs[0].pos_q10);
	cr_assert_eq(r.n_clean_passes, 0);
}

Test(an_fusion, further_passes_of_same_animal_are_discounted_by_session_order)
{
	struct an_fusion_lr lrs[1] = { lr_of(3, AN_SPECIES_RAT, 10, 0, 5, 2000.0) };
	struct an_fusion_obs obs[4] = { { 3, 30, true, 300, AN_REVIEW_UNREVIEWED }, { 3, 10, true, 100, AN_REVIEW_UNREVIEWED }, { 3, 40, false, 0, AN_REVIEW_UNREVIEWED },
					{ 3, 20, false, 0, AN_REVIEW_UNREVIEWED } };
	struct an_fusion_evidence ev[4];
	struct an_fusion_result r;
	cr_assert_eq(an_fusion_score(NULL, lrs, 1, obs, 4, ev, 4, &r), 0);
	cr_assert_eq(r.n_evidence, 4);
	/* canonical order (animal, session): 10 ind full, 20 clean full, 30 ind repeat, 40 clean repeat */
	cr_assert_eq(ev[0].session_id, 10);
	cr_assert_eq(ev[0].delta_q10, lrs[0].pos_q10);
	cr_assert_eq(ev[1].session_id, 20);
	cr_assert_eq(ev[1].delta_q10, lrs[0].neg_q10);
	cr_assert_eq(ev[2].session_id, 30);
	cr_assert(ev[2].repeat);
	cr_assert_eq(ev[2].delta_q10, lrs[0].pos_rep_q10);
	cr_assert_eq(ev[3].delta_q10, lrs[0].neg_rep_q10);
	cr_assert_eq(r.n_ind_animals, 1);
	cr_assert_eq(r.n_clean_only_animals, 0); /* it indicated here too: no second opinion */
}

Test(an_fusion, errors_are_reported)
{
	struct an_fusion_lr lrs[2] = { lr_of(5, AN_SPECIES_RAT, 0, 0, 0, 0.0), lr_of(4, AN_SPECIES_DOG, 0, 0, 0, 0.0) };
	struct an_fusion_obs obs[2] = { { 4, 1, true, 1, AN_REVIEW_UNREVIEWED }, { 5, 1, false, 0, AN_REVIEW_UNREVIEWED } };
	struct an_fusion_result r;
	struct an_fusion_evidence ev[1];
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 1, NULL, 0, &r), -EINVAL); /* not sorted */
	cr_assert_eq(an_fusion_lr_sort(lrs, 2), 0);
	cr_assert_eq(lrs[0].animal_id, 4);
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 2, NULL, 0, &r), -EINVAL); /* session 1: two animals */
	obs[1].session_id = 2;
	memset(&r, 0xff, sizeof(r));
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 2, ev, 1, &r), -ENOBUFS);
	cr_assert_eq(r.n_evidence, 2);
	cr_assert_eq(r.total_q10, r.prior_q10 + lrs[0].pos_q10 + lrs[1].neg_q10);
	obs[1].animal_id = 6;
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 2, ev, 1, &r), -ENOENT);
	struct an_fusion_lr dup[2] = { lrs[0], lrs[0] };
	cr_assert_eq(an_fusion_lr_sort(dup, 2), -EINVAL);
	struct an_fusion_opts o;
	an_fusion_opts_init(&o);
	o.repeat_permil = 1001;
	cr_assert_eq(an_fusion_opts_check(&o), -EINVAL);
	int64_t q;
	cr_assert_eq(an_fusion_q10(INFINITY, &q), -ERANGE);
	cr_assert_eq(an_fusion_logit_q10(1.0, &q), -EINVAL);
	cr_assert_eq(an_fusion_logit_q10(0.5, &q), 0);
	cr_assert_eq(q, 0);
}

#define N_ANIMALS 12
#define N_OBS 200

static void random_case(uint64_t *s, struct an_fusion_lr *lrs, struct an_fusion_obs *obs)
{
	for (size_t i = 0; i < N_ANIMALS; i++) {
		uint64_t hits = rng_next(s) % 200, misses = rng_next(s) % 10, fa = rng_next(s) % 400;
		double area = (double)(rng_next(s) % 100000);
		lrs[i] = lr_of(100 + i, (rng_next(s) & 1) ? AN_SPECIES_RAT : AN_SPECIES_DOG, hits, misses, fa, area);
	}
	for (size_t i = 0; i < N_OBS; i++) {
		uint64_t a = rng_next(s) % N_ANIMALS;
		/* sessions belong to one animal: session = animal * 100 + k */
		uint64_t sess = (100 + a) * 100 + rng_next(s) % 6;
		bool ind = (rng_next(s) % 3) == 0;
		uint64_t id = ind ? 1 + rng_next(s) % 1000 : 0;
		/* the handler's verdicts too: one pass's verdict comes from all its indications, in any order */
		obs[i] = (struct an_fusion_obs){ 100 + a, sess, ind, id, (enum an_review)(rng_next(s) % 3) };
	}
}

Test(an_fusion, shuffled_evidence_gives_identical_bytes)
{
	uint64_t s = 42;
	struct an_fusion_lr lrs[N_ANIMALS];
	struct an_fusion_obs obs[N_OBS];
	random_case(&s, lrs, obs);
	struct an_fusion_evidence ev0[N_OBS], ev[N_OBS];
	struct an_fusion_result r0, r;
	memset(ev0, 0, sizeof(ev0));
	cr_assert_eq(an_fusion_score(NULL, lrs, N_ANIMALS, obs, N_OBS, ev0, N_OBS, &r0), 0);
	cr_assert_gt(r0.n_ind_passes, 5);
	cr_assert_gt(r0.n_clean_passes, 5);
	for (int k = 0; k < 100; k++) {
		shuffle(obs, N_OBS, &s);
		memset(ev, 0, sizeof(ev));
		cr_assert_eq(an_fusion_score(NULL, lrs, N_ANIMALS, obs, N_OBS, ev, N_OBS, &r), 0);
		cr_assert_eq(memcmp(&r, &r0, sizeof(r)), 0, "result differs after shuffle %d", k);
		cr_assert_eq(memcmp(ev, ev0, sizeof(ev)), 0, "evidence differs after shuffle %d", k);
	}
}

/* The integer total against an independent double computation of the same model: each term is rounded
 * once, so |total − 1024·l_double| <= 0.5 · (terms + 1) (+ a hair for the double reference itself). */
Test(an_fusion, integer_sum_matches_double_reference)
{
	uint64_t s = 7;
	for (int round = 0; round < 50; round++) {
		struct an_fusion_lr lrs[N_ANIMALS];
		struct an_fusion_obs obs[N_OBS];
		random_case(&s, lrs, obs);
		struct an_fusion_evidence ev[N_OBS];
		struct an_fusion_result r;
		cr_assert_eq(an_fusion_score(NULL, lrs, N_ANIMALS, obs, N_OBS, ev, N_OBS, &r), 0);
		/* reference: collapse by brute force over (animal, session) */
		double l = log(-expm1(-213.0 / 1400000.0 * PI_D)) + 213.0 / 1400000.0 * PI_D;
		size_t terms = 0, n_lines = 0;
		for (size_t a = 0; a < N_ANIMALS; a++) {
			bool seen_pos = false, seen_neg = false;
			for (uint64_t k = 0; k < 6; k++) {
				uint64_t sess = (100 + a) * 100 + k;
				bool any = false, ind = false, conf = false, rej = false;
				for (size_t i = 0; i < N_OBS; i++)
					if (obs[i].session_id == sess) {
						any = true;
						ind |= obs[i].indicated;
						conf |= obs[i].indicated && obs[i].verdict == AN_REVIEW_CONFIRMED;
						rej |= obs[i].indicated && obs[i].verdict == AN_REVIEW_REJECTED;
					}
				if (!any)
					continue;
				double x = ind ? lrs[a].log_lr_pos : lrs[a].log_lr_neg;
				/* the handler: c_T 0.9, c_F 0.5 (defaults); a confirmation in the pass beats a rejection */
				double hx = !ind ? 0.0 : conf ? log(0.9 / 0.5) : rej ? log(0.1 / 0.5) : 0.0;
				bool *seen = ind ? &seen_pos : &seen_neg;
				l += *seen ? 0.5 * (x + hx) : x + hx;
				*seen = true;
				terms += 1 + (hx != 0.0); /* each rounded once */
				n_lines++;
			}
		}
		cr_assert_eq(n_lines, r.n_evidence);
		double err = fabs((double)r.total_q10 - 1024.0 * l);
		cr_assert_leq(err, 0.5 * (double)(terms + 1) + 1e-6, "round %d: |%lld − %f| = %f", round,
			      (long long)r.total_q10, 1024.0 * l, err);
		double p_ref = 1.0 / (1.0 + exp(-l));
		/* P from the rounded total: within the derivative bound p(1−p)·err/1024 */
		cr_assert_leq(fabs(r.p - p_ref), p_ref * (1 - p_ref) * (err + 1) / 1024.0 + 1e-15);
	}
}

/* Ratios for another gate from the kept posterior summaries equal a full recompute at that gate. */
Test(an_fusion, regate_equals_a_recompute_at_the_other_gate)
{
	struct an_fusion_animal as[] = { { 1, AN_SPECIES_RAT, 0, 0, 0, 0.0 }, { 2, AN_SPECIES_DOG, 40, 3, 2, 9000.0 },
	                                 { 3, AN_SPECIES_RAT, 95, 0, 308, 93400.0 } };
	int64_t gates[] = { 1, 1000, 2938, 7344, 1000000 };
	for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
		for (size_t g = 0; g < sizeof gates / sizeof gates[0]; g++) {
			struct an_fusion_opts o0, o1;
			an_fusion_opts_init(&o0);
			an_fusion_opts_init(&o1);
			o1.gate_radius_mm = gates[g];
			struct an_fusion_lr base, want, got;
			cr_assert_eq(an_fusion_animal_lr(&o0, &as[i], &base), 0);
			cr_assert_eq(an_fusion_animal_lr(&o1, &as[i], &want), 0);
			cr_assert_eq(an_fusion_lr_regate(&o1, &base, &got), 0);
			cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "animal %zu gate %lld", i, (long long)gates[g]);
			cr_assert_eq(an_fusion_lr_regate(&o1, &got, &got), 0); /* aliasing */
			cr_assert_eq(memcmp(&got, &want, sizeof got), 0);
		}
	struct an_fusion_lr bad;
	memset(&bad, 0, sizeof bad);
	cr_assert_eq(an_fusion_lr_regate(NULL, &bad, &bad), -EINVAL);
}

/* The handler's verdict (an/fusion.h): c_T 0.90, c_F 0.50 give log(1.8) = +0.5878 nat → +602 q10 for a
 * confirmation and log(0.2) = −1.6094 nat → −1648 for a rejection, half of each on a repeated pass (+301,
 * −824); a pass with a confirmed and a rejected indication counts as confirmed; the line's delta holds it. */
Test(an_fusion, handler_verdict_terms_exact)
{
	int64_t q;
	cr_assert_eq(an_fusion_handler_q10(NULL, AN_REVIEW_CONFIRMED, false, &q), 0);
	cr_expect_eq(q, 602);
	cr_assert_eq(an_fusion_handler_q10(NULL, AN_REVIEW_REJECTED, false, &q), 0);
	cr_expect_eq(q, -1648);
	cr_assert_eq(an_fusion_handler_q10(NULL, AN_REVIEW_CONFIRMED, true, &q), 0);
	cr_expect_eq(q, 301);
	cr_assert_eq(an_fusion_handler_q10(NULL, AN_REVIEW_REJECTED, true, &q), 0);
	cr_expect_eq(q, -824);
	cr_assert_eq(an_fusion_handler_q10(NULL, AN_REVIEW_UNREVIEWED, false, &q), 0);
	cr_expect_eq(q, 0);
	cr_expect_eq(an_fusion_handler_q10(NULL, (enum an_review)3, false, &q), -EINVAL);

	struct an_fusion_lr lrs[2] = { lr_of(1, AN_SPECIES_RAT, 40, 2, 100, 30000.0),
				       lr_of(2, AN_SPECIES_RAT, 60, 1, 150, 45000.0) };
	/* animal 1: pass 10 confirmed + rejected indications, pass 11 (repeat) rejected; animal 2: pass 20
	 * rejected; animal 2's pass 21 has no verdict */
	struct an_fusion_obs obs[] = { { 1, 10, true, 1, AN_REVIEW_REJECTED },  { 1, 10, true, 2, AN_REVIEW_CONFIRMED },
				       { 1, 11, true, 3, AN_REVIEW_REJECTED },  { 2, 20, true, 4, AN_REVIEW_REJECTED },
				       { 2, 21, true, 5, AN_REVIEW_UNREVIEWED }, { 2, 22, false, 0, AN_REVIEW_CONFIRMED } };
	struct an_fusion_evidence ev[8];
	struct an_fusion_result r;
	cr_assert_eq(an_fusion_score(NULL, lrs, 2, obs, 6, ev, 8, &r), 0);
	cr_assert_eq(r.n_evidence, 5);
	cr_expect(ev[0].session_id == 10 && ev[0].verdict == AN_REVIEW_CONFIRMED && ev[0].handler_q10 == 602);
	cr_expect_eq(ev[0].delta_q10, lrs[0].pos_q10 + 602);
	cr_expect(ev[1].session_id == 11 && ev[1].repeat && ev[1].verdict == AN_REVIEW_REJECTED && ev[1].handler_q10 == -824);
	cr_expect_eq(ev[1].delta_q10, lrs[0].pos_rep_q10 - 824);
	cr_expect(ev[2].session_id == 20 && ev[2].verdict == AN_REVIEW_REJECTED && ev[2].handler_q10 == -1648);
	cr_expect(ev[3].session_id == 21 && ev[3].verdict == AN_REVIEW_UNREVIEWED && ev[3].handler_q10 == 0);
	cr_expect_eq(ev[3].delta_q10, lrs[1].pos_rep_q10);
	cr_expect(ev[4].kind == AN_FUSION_EV_CLEAN && ev[4].verdict == AN_REVIEW_UNREVIEWED && ev[4].handler_q10 == 0,
	          "a clean pass has no verdict");
	cr_expect_eq(r.handler_q10, 602 - 824 - 1648);
	cr_expect_eq(r.total_q10, r.prior_q10 + lrs[0].pos_q10 + lrs[0].pos_rep_q10 + lrs[1].pos_q10 +
	                              lrs[1].pos_rep_q10 + lrs[1].neg_q10 + 602 - 824 - 1648);
	int64_t sum = r.prior_q10;
	for (size_t i = 0; i < r.n_evidence; i++)
		sum += ev[i].delta_q10;
	cr_expect_eq(sum, r.total_q10, "the lines add up to the total");
	obs[0].verdict = (enum an_review)7;
	cr_expect_eq(an_fusion_score(NULL, lrs, 2, obs, 6, ev, 8, &r), -EINVAL);

	/* the range: 0 < c_F < c_T < 1 */
	struct an_fusion_opts o;
	an_fusion_opts_init(&o);
	cr_expect_eq(an_fusion_opts_check(&o), 0);
	o.handler_confirm_false = o.handler_confirm_true;
	cr_expect_eq(an_fusion_opts_check(&o), -EINVAL, "c_F = c_T: a verdict would say nothing");
	an_fusion_opts_init(&o);
	o.handler_confirm_true = 1.0;
	cr_expect_eq(an_fusion_opts_check(&o), -EINVAL);
	an_fusion_opts_init(&o);
	o.handler_confirm_false = 0.0;
	cr_expect_eq(an_fusion_opts_check(&o), -EINVAL);
	an_fusion_opts_init(&o);
	o.handler_confirm_false = NAN;
	cr_expect_eq(an_fusion_opts_check(&o), -EINVAL);
	an_fusion_opts_init(&o);
	o.handler_confirm_true = 0.99;
	o.handler_confirm_false = 0.2;
	cr_assert_eq(an_fusion_handler_q10(&o, AN_REVIEW_REJECTED, false, &q), 0);
	cr_expect_eq(q, llround(log(0.01 / 0.8) * 1024)); /* −4.382 nat */
}
