/*
 * tests/collar-fw/motion/eval.c — scoring of the classifier on generated data (see eval.h).
 * Test code: uses the heap for per-session arrays.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "model.h"

#define SESSION_MS (30u * 60u * 1000u)
#define IND_SESSION_MS (20u * 60u * 1000u)
#define IND_MEAN_GAP_S 45.0
#define STATE_SETTLE_MS 1500u

struct vec {
	void *p;
	size_t n, cap, elem;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		void *p = realloc(v->p, cap * v->elem);
		if (!p)
			abort(); /* test tool: out of memory is fatal */
		v->p = p;
		v->cap = cap;
	}
	return (char *)v->p + v->elem * v->n++;
}

struct det {
	struct cf_ind_event onset;
	int have_end;
	struct cf_ind_event end;
};

struct run {
	struct cf_classify c;
	int kind;
	struct vec segs;   /* struct mm_segment */
	struct vec dets;   /* struct det */
	struct vec st_t;   /* uint32_t sample times */
	struct vec st;     /* uint8_t predicted state per sample */
	uint32_t rejected;
};

static void on_event(struct run *r, const struct cf_ind_event *ev)
{
	if (ev->phase == CF_IND_PHASE_ONSET) {
		struct det *d = vec_push(&r->dets);
		*d = (struct det){.onset = *ev};
		return;
	}
	for (size_t i = r->dets.n; i-- > 0;) {
		struct det *d = (struct det *)r->dets.p + i;
		if (d->onset.seq == ev->seq && !d->have_end) {
			d->have_end = 1;
			d->end = *ev;
			return;
		}
	}
}

static void on_sample(void *ctx, const struct cf_accel_sample *s)
{
	struct run *r = ctx;
	struct cf_ind_event ev[CF_CLASSIFY_MAX_EVENTS];
	int n = cf_classify_push(&r->c, s, ev);
	if (n < 0) {
		r->rejected++;
		return;
	}
	for (int i = 0; i < n; i++)
		on_event(r, &ev[i]);
	*(uint32_t *)vec_push(&r->st_t) = s->t_ms;
	*(uint8_t *)vec_push(&r->st) = (uint8_t)cf_classify_state(&r->c);
}

static void on_segment(void *ctx, const struct mm_segment *seg)
{
	struct run *r = ctx;
	*(struct mm_segment *)vec_push(&r->segs) = *seg;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	size_t i = (size_t)ceil(q * (double)n) - 1u;
	return v[i < n ? i : n - 1];
}

static int state_group(int cls)
{
	switch (cls) {
	case MM_WALK:
	case MM_TROT:
	case MM_SHAKE:
		return 0;
	case MM_STAND:
	case MM_SNIFF:
		return 1;
	case MM_SIT:
	case MM_SCRATCH:
		return 2;
	default:
		return -1;
	}
}

struct acc {
	struct vec onset_err, onset_abs, latency, dur_err; /* double */
	double conf_tp, conf_fp;
	uint32_t n_conf_fp;
};

/* Score one finished session. Times are compared as signed offsets from the session start so that a
 * session crossing the uint32 millisecond wrap scores the same. */
static void score_session(struct run *r, uint32_t t0, const struct ev_opts *o, struct ev_result *res,
			  struct acc *acc, int clean)
{
	struct mm_segment *segs = r->segs.p;
	struct det *dets = r->dets.p;
	char *used = calloc(r->segs.n + 1, 1);
	if (!used)
		abort();

	for (size_t i = 0; i < r->segs.n; i++)
		if (segs[i].cls == (r->kind == CF_IND_SIT ? MM_SIT : MM_SCRATCH))
			res->truth++;

	for (size_t d = 0; d < r->dets.n; d++) {
		int64_t on = (int32_t)(dets[d].onset.onset_t_ms - t0);
		int64_t best = -1, best_err = 0;
		for (size_t i = 0; i < r->segs.n; i++) {
			if (used[i] || segs[i].cls != (r->kind == CF_IND_SIT ? MM_SIT : MM_SCRATCH))
				continue;
			int64_t err = on - (int32_t)(segs[i].t0_ms - t0);
			if (llabs(err) <= (int64_t)o->tol_ms && (best < 0 || llabs(err) < llabs(best_err))) {
				best = (int64_t)i;
				best_err = err;
			}
		}
		if (dets[d].have_end)
			res->onset_end_pairs++;
		if (best < 0) {
			if (clean)
				res->fp_clean++;
			else
				res->fp_ind++;
			acc->conf_fp += dets[d].onset.conf;
			for (size_t i = 0; i < r->segs.n; i++)
				if (on >= (int32_t)(segs[i].t0_ms - t0) && on < (int32_t)(segs[i].t1_ms - t0))
					res->fp_by_class[segs[i].cls & 7]++;
			acc->n_conf_fp++;
			continue;
		}
		used[best] = 1;
		res->tp++;
		acc->conf_tp += dets[d].onset.conf;
		const struct mm_segment *s = &segs[best];
		*(double *)vec_push(&acc->onset_err) = (double)best_err;
		*(double *)vec_push(&acc->onset_abs) = fabs((double)best_err);
		*(double *)vec_push(&acc->latency) = (double)(int32_t)(dets[d].onset.detect_t_ms - s->t0_ms);
		if (dets[d].have_end) {
			double true_dur = (double)(s->t1_ms - s->t0_ms);
			*(double *)vec_push(&acc->dur_err) = fabs((double)dets[d].end.dur_ms - true_dur);
		}
	}

	/* motion state, sample by sample */
	uint32_t *st_t = r->st_t.p;
	uint8_t *st = r->st.p;
	size_t k = 0;
	for (size_t i = 0; i < r->segs.n; i++) {
		int g = state_group(segs[i].cls);
		int64_t from = (int32_t)(segs[i].t0_ms - t0) + STATE_SETTLE_MS;
		int64_t to = (int32_t)(segs[i].t1_ms - t0);
		while (k < r->st.n && (int32_t)(st_t[k] - t0) < from)
			k++;
		for (; k < r->st.n && (int32_t)(st_t[k] - t0) < to; k++)
			if (g >= 0)
				res->state[g][st[k] & 3u]++;
	}
	free(used);
}

static void run_free(struct run *r)
{
	free(r->segs.p);
	free(r->dets.p);
	free(r->st_t.p);
	free(r->st.p);
}

static int run_session(const struct ev_opts *o, const struct cf_classify_config *cfg, uint64_t seed,
		       uint32_t dur_ms, double gap_s, struct ev_result *res, struct acc *acc)
{
	struct run r = {
		.kind = o->species == MM_DOG ? CF_IND_SIT : CF_IND_SCRATCH,
		.segs = {.elem = sizeof(struct mm_segment)},
		.dets = {.elem = sizeof(struct det)},
		.st_t = {.elem = sizeof(uint32_t)},
		.st = {.elem = 1},
	};
	int err = cf_classify_init(&r.c, cfg);
	if (err < 0)
		return err;
	/* Start somewhere arbitrary in the 32-bit clock, sometimes just before the wrap. */
	struct mm_rng tr;
	mm_rng_seed(&tr, seed ^ 0x7117ull);
	uint32_t t0 = (mm_rng_next(&tr) & 3u) == 0 ? 0xFFFFFFFFu - (uint32_t)(mm_rng_next(&tr) % dur_ms)
						 : (uint32_t)(mm_rng_next(&tr) >> 40);
	struct mm_session spec = {
		.species = o->species, .t0_ms = t0, .dur_ms = dur_ms, .ind_mean_gap_s = gap_s, .seed = seed,
	};
	struct mm_animal animal;
	mm_session_run(&spec, &animal, on_sample, on_segment, &r);
	struct cf_ind_event ev;
	if (cf_classify_flush(&r.c, &ev) == 1)
		on_event(&r, &ev);
	res->rejected += r.rejected;
	if (r.st_t.n) {
		double minutes = (double)(uint32_t)(((uint32_t *)r.st_t.p)[r.st_t.n - 1] - t0) / 60000.0;
		if (gap_s > 0)
			res->ind_minutes += minutes;
		else
			res->clean_minutes += minutes;
	}
	score_session(&r, t0, o, res, acc, gap_s <= 0);
	run_free(&r);
	return 0;
}

int ev_run(const struct ev_opts *o, struct ev_result *res)
{
	struct cf_classify_config cfg;
	if (o->cfg)
		cfg = *o->cfg;
	else
		cf_classify_config_default(&cfg, (enum cf_species)o->species);
	*res = (struct ev_result){0};
	struct acc acc = {
		.onset_err = {.elem = sizeof(double)}, .onset_abs = {.elem = sizeof(double)},
		.latency = {.elem = sizeof(double)}, .dur_err = {.elem = sizeof(double)},
	};
	/* Session seeds derive from the data-set seed, species and index: a set is reproducible alone. */
	uint64_t k = 0;
	while (res->truth < o->episodes) {
		int err = run_session(o, &cfg, o->seed * 1000003ull + (uint64_t)o->species * 7919ull + k++,
				      IND_SESSION_MS, IND_MEAN_GAP_S, res, &acc);
		if (err < 0)
			return err;
	}
	double clean_ms = o->clean_hours * 3600e3;
	for (uint64_t i = 0; (double)i * SESSION_MS < clean_ms; i++) {
		uint32_t dur = (uint32_t)fmin((double)SESSION_MS, clean_ms - (double)i * SESSION_MS);
		int err = run_session(o, &cfg, (o->seed ^ 0xC1EA4ull) * 1000033ull + (uint64_t)o->species * 104729ull + i,
				      dur, 0.0, res, &acc);
		if (err < 0)
			return err;
	}

	size_t n = acc.onset_err.n;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((double *)acc.onset_err.p)[i];
	res->onset_err_mean_ms = n ? sum / (double)n : NAN;
	res->onset_abs_p95_ms = pct(acc.onset_abs.p, acc.onset_abs.n, 0.95);
	sum = 0;
	for (size_t i = 0; i < acc.latency.n; i++)
		sum += ((double *)acc.latency.p)[i];
	res->latency_mean_ms = acc.latency.n ? sum / (double)acc.latency.n : NAN;
	res->latency_p95_ms = pct(acc.latency.p, acc.latency.n, 0.95);
	res->dur_abs_err_median_ms = pct(acc.dur_err.p, acc.dur_err.n, 0.5);
	res->fn = res->truth - res->tp;
	res->conf_mean_tp = res->tp ? acc.conf_tp / res->tp : NAN;
	res->conf_mean_fp = acc.n_conf_fp ? acc.conf_fp / acc.n_conf_fp : NAN;
	free(acc.onset_err.p);
	free(acc.onset_abs.p);
	free(acc.latency.p);
	free(acc.dur_err.p);
	return 0;
}

double ev_recall(const struct ev_result *r)
{
	return r->truth ? (double)r->tp / r->truth : NAN;
}

double ev_precision(const struct ev_result *r)
{
	uint32_t det = r->tp + r->fp_ind + r->fp_clean;
	return det ? (double)r->tp / det : NAN;
}

double ev_false_per_10min_clean(const struct ev_result *r)
{
	return r->clean_minutes > 0 ? r->fp_clean / (r->clean_minutes / 10.0) : NAN;
}

void ev_print(FILE *f, const struct ev_opts *o, const struct ev_result *r)
{
	const char *sp = o->species == MM_DOG ? "dog" : "rat";
	const char *kind = o->species == MM_DOG ? "sit" : "scratch";
	fprintf(f, "%s seed=%llu tol=+-%u ms\n", sp, (unsigned long long)o->seed, o->tol_ms);
	fprintf(f, "  %s: episodes=%u tp=%u fn=%u fp(ind set)=%u fp(clean)=%u\n", kind, r->truth, r->tp, r->fn,
		r->fp_ind, r->fp_clean);
	fprintf(f, "  %s: recall=%.4f precision=%.4f (precision in the indication set alone %.4f)\n", kind,
		ev_recall(r), ev_precision(r),
		r->tp + r->fp_ind ? (double)r->tp / (r->tp + r->fp_ind) : NAN);
	fprintf(f, "  false indications: %.3f per 10 min over %.1f h of search-only motion; "
		   "%.3f per 10 min in the indication set (%.1f h)\n",
		ev_false_per_10min_clean(r), r->clean_minutes / 60.0,
		r->ind_minutes > 0 ? r->fp_ind / (r->ind_minutes / 10.0) : NAN, r->ind_minutes / 60.0);
	fprintf(f, "  onset error: mean %+.0f ms, |err| p95 %.0f ms; confirmation latency mean %.0f ms, p95 %.0f ms\n",
		r->onset_err_mean_ms, r->onset_abs_p95_ms, r->latency_mean_ms, r->latency_p95_ms);
	fprintf(f, "  duration |err| median %.0f ms; ONSET events with END %u; confidence mean TP %.1f FP %.1f\n",
		r->dur_abs_err_median_ms, r->onset_end_pairs, r->conf_mean_tp, r->conf_mean_fp);
	static const char *const gname[3] = {"moving", "stationary", "indicating"};
	uint64_t col[4] = {0};
	for (int g = 0; g < 3; g++)
		for (int s = 0; s < 4; s++)
			col[s] += r->state[g][s];
	for (int g = 0; g < 3; g++) {
		uint64_t row = 0;
		for (int s = 0; s < 4; s++)
			row += r->state[g][s];
		int s = g + 1; /* cf_motion_state for this group */
		fprintf(f, "  state %-10s: recall %.4f precision %.4f (samples %llu)\n", gname[g],
			row ? (double)r->state[g][s] / row : NAN, col[s] ? (double)r->state[g][s] / col[s] : NAN,
			(unsigned long long)row);
	}
	fprintf(f, "  false detections by true class at onset:");
	for (int c = 0; c < MM_CLASS_COUNT; c++)
		if (r->fp_by_class[c])
			fprintf(f, " %s %u", mm_class_name(c), r->fp_by_class[c]);
	fprintf(f, "\n");
	if (r->rejected)
		fprintf(f, "  WARNING: %u samples rejected by the classifier\n", r->rejected);
}
