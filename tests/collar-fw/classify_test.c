/*
 * tests/collar-fw/classify_test.c — cf_classify: dog SIT, rat SCRATCH, motion state, input errors,
 * cf_classify_combine, and a regression run of the evaluation on generated data (motion/eval.h).
 *
 * Scripted cases render one behaviour sequence with the generative model (motion/model.c) for a fixed
 * animal, with collar bumps switched off so that each case tests one thing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cf/button.h"
#include "cf/classify.h"
#include "eval.h"
#include "model.h"

#define MAX_EV 64
#define MAX_SEG 64

struct cap {
	struct cf_classify c;
	struct cf_ind_event ev[MAX_EV];
	int n_ev;
	struct mm_segment seg[MAX_SEG];
	int n_seg;
	int rejected;
	int state_count[4];
};

static void cap_sample(void *ctx, const struct cf_accel_sample *s)
{
	struct cap *k = ctx;
	struct cf_ind_event ev[CF_CLASSIFY_MAX_EVENTS];
	memset(ev, 0xFF, sizeof ev); /* poison: only what the classifier writes may be read */
	int n = cf_classify_push(&k->c, s, ev);
	if (n < 0) {
		k->rejected++;
		return;
	}
	cr_assert_leq(n, (int)CF_CLASSIFY_MAX_EVENTS);
	for (int i = 0; i < n && k->n_ev < MAX_EV; i++)
		k->ev[k->n_ev++] = ev[i];
	k->state_count[cf_classify_state(&k->c) & 3]++;
}

static void cap_segment(void *ctx, const struct mm_segment *seg)
{
	struct cap *k = ctx;
	if (k->n_seg < MAX_SEG)
		k->seg[k->n_seg++] = *seg;
}

static void animal(struct mm_animal *a, int species, uint64_t seed)
{
	struct mm_rng r;
	mm_rng_seed(&r, seed);
	mm_animal_draw(a, species, &r);
	a->bump_per_s = 0;
}

static void run_script(struct cap *k, int species, uint64_t seed, uint32_t t0, const int *cls,
		       const uint32_t *dur, int n)
{
	struct cf_classify_config cfg;
	struct mm_animal a;
	memset(k, 0, sizeof *k);
	cf_classify_config_default(&cfg, (enum cf_species)species);
	cr_assert_eq(cf_classify_init(&k->c, &cfg), 0);
	animal(&a, species, seed);
	mm_script_run(&a, seed, t0, cls, dur, n, cap_sample, cap_segment, k);
	struct cf_ind_event ev;
	if (cf_classify_flush(&k->c, &ev) == 1 && k->n_ev < MAX_EV)
		k->ev[k->n_ev++] = ev;
	cr_assert_eq(k->rejected, 0);
}

static const struct mm_segment *find_seg(const struct cap *k, int cls)
{
	for (int i = 0; i < k->n_seg; i++)
		if (k->seg[i].cls == cls)
			return &k->seg[i];
	return NULL;
}

static int32_t sdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* One indication: exactly ONSET then END, same seq, onset within 500 ms, duration within 1 s. */
static void expect_one(const struct cap *k, int kind, int truth_cls)
{
	const struct mm_segment *s = find_seg(k, truth_cls);
	cr_assert_not_null(s);
	cr_assert_eq(k->n_ev, 2, "expected ONSET + END, got %d events", k->n_ev);
	const struct cf_ind_event *on = &k->ev[0], *end = &k->ev[1];
	cr_assert_eq(on->kind, kind);
	cr_assert_eq(on->phase, CF_IND_PHASE_ONSET);
	cr_assert_eq(end->phase, CF_IND_PHASE_END);
	cr_assert_eq(on->seq, end->seq);
	cr_assert_eq(on->source, CF_IND_SRC_COLLAR);
	cr_assert_eq(on->onset_t_ms, end->onset_t_ms);
	cr_assert_leq(on->conf, 100);
	cr_assert_leq(end->conf, 100);
	int32_t err = sdiff(on->onset_t_ms, s->t0_ms);
	cr_assert(err >= -500 && err <= 500, "onset error %d ms", err);
	/* Reported when confirmed, not at the end, and with the onset (not detection) time. */
	cr_assert_lt(sdiff(on->detect_t_ms, s->t1_ms), 0, "ONSET must come before the behaviour ends");
	cr_assert_gt(sdiff(on->detect_t_ms, on->onset_t_ms), 0);
	int32_t true_dur = sdiff(s->t1_ms, s->t0_ms);
	int32_t derr = (int32_t)end->dur_ms - true_dur;
	cr_assert(derr >= -1000 && derr <= 1000, "duration %u vs %d", end->dur_ms, true_dur);
}

Test(cf_classify, clean_sit_detected_with_onset)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SIT, MM_STAND, MM_WALK};
	static const uint32_t dur[] = {20000, 2000, 6000, 2000, 5000};
	struct cap k;
	run_script(&k, MM_DOG, 11, 5000, cls, dur, 5);
	expect_one(&k, CF_IND_SIT, MM_SIT);
	const struct cf_ind_event *on = &k.ev[0];
	/* Confirmed after the configured hold: not before 2 s of sitting, and soon after. */
	int32_t latency = sdiff(on->detect_t_ms, on->onset_t_ms);
	cr_assert(latency >= 2000 && latency <= 2600, "latency %d", latency);
	cr_assert_gt(k.state_count[CF_MOTION_INDICATING], 0);
}

Test(cf_classify, sit_across_clock_wrap)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SIT, MM_STAND, MM_WALK};
	static const uint32_t dur[] = {20000, 2000, 6000, 2000, 5000};
	struct cap k;
	run_script(&k, MM_DOG, 11, 0xFFFFFFFFu - 23000u, cls, dur, 5); /* the sit straddles the wrap */
	expect_one(&k, CF_IND_SIT, MM_SIT);
}

Test(cf_classify, sniff_pause_is_not_a_sit)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_WALK, MM_SNIFF, MM_WALK};
	static const uint32_t dur[] = {20000, 8000, 6000, 6000, 5000};
	for (uint64_t seed = 21; seed < 26; seed++) {
		struct cap k;
		run_script(&k, MM_DOG, seed, 1000, cls, dur, 5);
		cr_assert_eq(k.n_ev, 0, "seed %llu: %d events", (unsigned long long)seed, k.n_ev);
		cr_assert_gt(k.state_count[CF_MOTION_STATIONARY], 0);
		cr_assert_eq(k.state_count[CF_MOTION_INDICATING], 0);
	}
}

Test(cf_classify, shake_is_not_a_scratch)
{
	static const int cls[] = {MM_WALK, MM_STAND, MM_SHAKE, MM_STAND, MM_SHAKE, MM_WALK};
	static const uint32_t dur[] = {15000, 2000, 800, 2000, 600, 5000};
	for (uint64_t seed = 31; seed < 36; seed++) {
		struct cap k;
		run_script(&k, MM_RAT, seed, 1000, cls, dur, 6);
		cr_assert_eq(k.n_ev, 0, "seed %llu: %d events", (unsigned long long)seed, k.n_ev);
	}
}

Test(cf_classify, scratch_onset)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SCRATCH, MM_SNIFF, MM_WALK};
	static const uint32_t dur[] = {15000, 2000, 3000, 2000, 5000};
	struct cap k;
	run_script(&k, MM_RAT, 41, 1000, cls, dur, 5);
	expect_one(&k, CF_IND_SCRATCH, MM_SCRATCH);
}

Test(cf_classify, dog_never_reports_scratch_rat_never_sit)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SIT, MM_WALK};
	static const uint32_t dur[] = {15000, 2000, 5000, 3000};
	struct cap k;
	run_script(&k, MM_DOG, 12, 0, cls, dur, 4);
	for (int i = 0; i < k.n_ev; i++)
		cr_assert_eq(k.ev[i].kind, CF_IND_SIT);
}

Test(cf_classify, rejects_time_going_backwards_and_counts_it)
{
	struct cf_classify c;
	struct cf_classify_config cfg;
	struct cf_ind_event ev[CF_CLASSIFY_MAX_EVENTS];
	cf_classify_config_default(&cfg, CF_SPECIES_DOG);
	cr_assert_eq(cf_classify_init(&c, &cfg), 0);
	struct cf_accel_sample s = {.t_ms = 1000, .z_mg = 1000};
	cr_assert_eq(cf_classify_push(&c, &s, ev), 0);
	cr_assert_eq(cf_classify_push(&c, &s, ev), -ERANGE); /* same time */
	s.t_ms = 990;
	cr_assert_eq(cf_classify_push(&c, &s, ev), -ERANGE);
	cr_assert_eq(c.stats.rejected, 2);
	cr_assert_eq(c.stats.samples, 1);
	/* A hole restarts the window and is counted, not refused. */
	s.t_ms = 5000;
	cr_assert_eq(cf_classify_push(&c, &s, ev), 0);
	cr_assert_eq(c.stats.gaps, 1);
	cr_assert_eq(cf_classify_state(&c), CF_MOTION_UNKNOWN);
}

Test(cf_classify, gap_ends_an_indication_in_progress)
{
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SIT};
	static const uint32_t dur[] = {20000, 2000, 8000};
	struct cap k;
	run_script(&k, MM_DOG, 11, 0, cls, dur, 3); /* flush gives the END here */
	cr_assert_eq(k.n_ev, 2);
	/* Same again, but a 1 s hole instead of the flush. */
	struct cf_ind_event ev[CF_CLASSIFY_MAX_EVENTS];
	struct cap k2;
	memset(&k2, 0, sizeof k2);
	struct cf_classify_config cfg;
	cf_classify_config_default(&cfg, CF_SPECIES_DOG);
	cr_assert_eq(cf_classify_init(&k2.c, &cfg), 0);
	struct mm_animal a;
	animal(&a, MM_DOG, 11);
	mm_script_run(&a, 11, 0, cls, dur, 3, cap_sample, cap_segment, &k2);
	cr_assert_eq(k2.n_ev, 1);
	struct cf_accel_sample s = {.t_ms = k2.c.last_t_ms + 1000, .z_mg = 1000};
	int n = cf_classify_push(&k2.c, &s, ev);
	cr_assert_eq(n, 1);
	cr_assert_eq(ev[0].phase, CF_IND_PHASE_END);
	cr_assert_eq(ev[0].seq, k2.ev[0].seq);
}

Test(cf_classify, init_rejects_bad_config)
{
	struct cf_classify c;
	struct cf_classify_config cfg;
	cf_classify_config_default(&cfg, CF_SPECIES_RAT);
	cfg.species = 7;
	cr_assert_eq(cf_classify_init(&c, &cfg), -EINVAL);
	cf_classify_config_default(&cfg, CF_SPECIES_RAT);
	cfg.scratch_lo_hz = 10;
	cfg.scratch_hi_hz = 5;
	cr_assert_eq(cf_classify_init(&c, &cfg), -EINVAL);
	cf_classify_config_default(&cfg, CF_SPECIES_DOG);
	cfg.still_mg = 200;
	cfg.move_mg = 100;
	cr_assert_eq(cf_classify_init(&c, &cfg), -EINVAL);
	cf_classify_config_default(&cfg, CF_SPECIES_DOG);
	cfg.sit_hold_ms = 0;
	cr_assert_eq(cf_classify_init(&c, &cfg), -EINVAL);
}

Test(cf_classify, button_and_classifier_give_source_both)
{
	/* A sit found by the classifier, and the handler's press 1.2 s after the sit began. */
	static const int cls[] = {MM_WALK, MM_SNIFF, MM_SIT, MM_WALK};
	static const uint32_t dur[] = {20000, 2000, 6000, 3000};
	struct cap k;
	run_script(&k, MM_DOG, 11, 0, cls, dur, 4);
	cr_assert_eq(k.n_ev, 2);
	const struct cf_ind_event *sit = &k.ev[0];

	struct cf_button b;
	struct cf_ind_event mark = {0}, out, tmp;
	cr_assert_eq(cf_button_init(&b, 20, 0), 0);
	uint32_t press = sit->onset_t_ms + 1200;
	int got = 0;
	for (uint32_t t = press - 50; t < press + 400; t++) {
		bool level = t >= press && t < press + 300 && !(t == press + 2 || t == press + 4);
		int n = cf_button_update(&b, t, level, &tmp);
		cr_assert_geq(n, 0);
		if (n == 1 && tmp.phase == CF_IND_PHASE_END) {
			mark = tmp;
			got = 1;
		}
	}
	cr_assert(got);
	memset(&out, 0xFF, sizeof out);
	cr_assert_eq(cf_classify_combine(sit, &mark, 2000, &out), 1);
	cr_assert_eq(out.source, CF_IND_SRC_BOTH);
	cr_assert_eq(out.kind, CF_IND_SIT);
	cr_assert_eq(out.onset_t_ms, sit->onset_t_ms); /* the behaviour's onset, not the press */
	cr_assert_eq(out.seq, sit->seq);

	/* A press 30 s later does not belong to this sit. */
	struct cf_ind_event late = mark;
	late.onset_t_ms = sit->onset_t_ms + sit->dur_ms + 30000;
	struct cf_ind_event untouched;
	memset(&untouched, 0xAB, sizeof untouched);
	out = untouched;
	cr_assert_eq(cf_classify_combine(sit, &late, 2000, &out), 0);
	cr_assert_eq(memcmp(&out, &untouched, sizeof out), 0);
	/* ... but within the window before the onset it does (handler quicker than the sensor). */
	late.onset_t_ms = sit->onset_t_ms - 1500;
	late.dur_ms = 100;
	cr_assert_eq(cf_classify_combine(sit, &late, 2000, &out), 1);
	/* Kinds are checked. */
	cr_assert_eq(cf_classify_combine(&mark, sit, 2000, &out), -EINVAL);
}

/*
 * Regression: the evaluation on a moderate generated set (seed 1 is a tuning seed: this guards
 * against regressions; the held-out figures come from cf-motion-eval, see its header).
 */
static void regression(int species)
{
	struct ev_opts o = {.species = species, .seed = 1, .episodes = 60, .clean_hours = 1.0, .tol_ms = 2000};
	struct ev_result r;
	cr_assert_eq(ev_run(&o, &r), 0);
	cr_assert_eq(r.rejected, 0);
	cr_assert_geq(r.truth, 60);
	cr_assert_geq(ev_recall(&r), 0.95, "%s recall %.3f (%u/%u)", species == MM_DOG ? "sit" : "scratch",
		      ev_recall(&r), r.tp, r.truth);
	cr_assert_leq(ev_false_per_10min_clean(&r), 1.0, "false %.3f per 10 min",
		      ev_false_per_10min_clean(&r));
	cr_assert_eq(r.onset_end_pairs, r.tp + r.fp_ind + r.fp_clean, "every ONSET gets an END");
}

Test(cf_classify, regression_sit_recall_and_false_rate)
{
	regression(MM_DOG);
}

Test(cf_classify, regression_scratch_recall_and_false_rate)
{
	regression(MM_RAT);
}
