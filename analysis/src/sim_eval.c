/*
 * analysis/src/sim_eval.c — scoring the pipeline against the simulator's ground truth (an/sim.h, "scoring"):
 * one-to-one matching of hazard points to targets, detection / false-point / error / ranking figures, and
 * the coverage of the accuracy report's intervals over the true per-animal parameters.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an/stats.h"
#include "sim_internal.h"

struct pair {
	double d_mm;
	uint32_t point, target;
	int explosive;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->explosive != y->explosive) /* explosive targets claim their points first */
		return x->explosive ? -1 : 1;
	if (x->d_mm != y->d_mm)
		return x->d_mm < y->d_mm ? -1 : 1;
	if (x->point != y->point)
		return x->point < y->point ? -1 : 1;
	return x->target < y->target ? -1 : x->target > y->target;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct ranked {
	double score;
	uint32_t idx;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static double median_of(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int an_sim_evaluate(const struct an_sim_world *w, const struct an_sim_eval_point *pts, size_t n, int64_t gate_mm,
		    double area_m2, uint32_t correct_mask, struct an_sim_eval *out, int32_t *target_of_point)
{
	const uint32_t explosive = 1u << AN_SIM_T_AP | 1u << AN_SIM_T_AT | 1u << AN_SIM_T_UXO;
	if (!w || (!pts && n) || !out || gate_mm <= 0 || !(area_m2 > 0) || n > UINT32_MAX ||
	    (correct_mask & explosive) || correct_mask >> AN_SIM_T_COUNT)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	int rc = -ENOMEM;
	size_t cap = 0, np = 0;
	struct pair *pairs = NULL;
	int32_t *match_t = malloc((n ? n : 1) * sizeof *match_t);  /* point → target or -1 */
	bool *t_used = calloc(w->n_targets ? w->n_targets : 1, sizeof *t_used);
	double *err = malloc((n ? n : 1) * sizeof *err);
	double *gerr = malloc((n ? n : 1) * sizeof *gerr);
	struct ranked *rk = malloc((n ? n : 1) * sizeof *rk);
	if (!match_t || !t_used || !err || !gerr || !rk)
		goto free_all;
	const double gate = (double)gate_mm;
	for (size_t i = 0; i < n; i++) {
		match_t[i] = -1;
		for (uint32_t t = 0; t < w->n_targets; t++) {
			double de = (double)(pts[i].e_mm - w->targets[t].e_mm), dn = (double)(pts[i].n_mm - w->targets[t].n_mm);
			if (fabs(de) > gate || fabs(dn) > gate)
				continue;
			double d = hypot(de, dn);
			if (d > gate)
				continue;
			if (np == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct pair *q = realloc(pairs, nc * sizeof *q);
				if (!q)
					goto free_all;
				pairs = q;
				cap = nc;
			}
			pairs[np++] = (struct pair){d, (uint32_t)i, t, AN_SIM_EXPLOSIVE(w->targets[t].cls)};
		}
	}
	if (np)
		qsort(pairs, np, sizeof *pairs, pair_cmp);
	for (size_t k = 0; k < np; k++) {
		if (match_t[pairs[k].point] >= 0 || t_used[pairs[k].target])
			continue;
		match_t[pairs[k].point] = (int32_t)pairs[k].target;
		t_used[pairs[k].target] = true;
	}
	for (uint32_t t = 0; t < w->n_targets; t++)
		if (AN_SIM_EXPLOSIVE(w->targets[t].cls)) {
			out->explosive++;
			out->detected += t_used[t];
		}
	out->points = (uint32_t)n;
	size_t ne = 0;
	for (uint32_t g = 0; g < AN_SIM_EVAL_GROUPS; g++) {
		size_t ng = 0;
		for (size_t i = 0; i < n; i++) {
			int32_t t = match_t[i];
			if (t < 0 || !AN_SIM_EXPLOSIVE(w->targets[t].cls) || pts[i].group != (int32_t)g)
				continue;
			gerr[ng++] = hypot((double)(pts[i].e_mm - w->targets[t].e_mm), (double)(pts[i].n_mm - w->targets[t].n_mm)) / 1000.0;
		}
		out->matched_by_group[g] = (uint32_t)ng;
		out->median_err_by_group_m[g] = median_of(gerr, ng);
	}
	for (size_t i = 0; i < n; i++) {
		int32_t t = match_t[i];
		if (target_of_point)
			target_of_point[i] = t;
		if (t >= 0 && AN_SIM_EXPLOSIVE(w->targets[t].cls)) {
			err[ne++] = hypot((double)(pts[i].e_mm - w->targets[t].e_mm), (double)(pts[i].n_mm - w->targets[t].n_mm)) / 1000.0;
		} else if (t >= 0 && (correct_mask >> w->targets[t].cls & 1u)) {
			out->correct_points++;
			out->clutter_points++;
			out->fragment_points += w->targets[t].cls == AN_SIM_T_FRAG;
		} else {
			out->false_points++;
			out->clutter_points += t >= 0;
			out->fragment_points += t >= 0 && w->targets[t].cls == AN_SIM_T_FRAG;
		}
		rk[i] = (struct ranked){pts[i].score, (uint32_t)i};
	}
	out->median_err_m = median_of(err, ne);
	out->detection_rate = out->explosive ? (double)out->detected / out->explosive : NAN;
	out->false_per_100m2 = out->false_points / area_m2 * 100.0;
	/* ranking: groups of equal score share the precision at the group's end (no order within a tie) */
	if (n)
		qsort(rk, n, sizeof *rk, ranked_cmp);
	size_t top = (n + 9) / 10, tp_top = 0, tp = 0;
	double ap = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i, tp_group = 0;
		while (j < n && rk[j].score == rk[i].score) {
			int32_t t = match_t[rk[j].idx];
			tp_group += t >= 0 && AN_SIM_EXPLOSIVE(w->targets[t].cls);
			j++;
		}
		tp += tp_group;
		ap += (double)tp_group * ((double)tp / (double)j);
		i = j;
	}
	for (size_t i = 0; i < top; i++) {
		int32_t t = match_t[rk[i].idx];
		tp_top += t >= 0 && AN_SIM_EXPLOSIVE(w->targets[t].cls);
	}
	/* a tie straddling the decile cut: the share of the tie inside it is taken at the tie's precision */
	if (top > 0 && top < n && rk[top - 1].score == rk[top].score) {
		size_t a = top - 1, b = top;
		while (a > 0 && rk[a - 1].score == rk[top].score)
			a--;
		while (b < n && rk[b].score == rk[top].score)
			b++;
		size_t tp_tie = 0, tp_before = 0;
		for (size_t i = a; i < b; i++) {
			int32_t t = match_t[rk[i].idx];
			tp_tie += t >= 0 && AN_SIM_EXPLOSIVE(w->targets[t].cls);
		}
		for (size_t i = a; i < top; i++) {
			int32_t t = match_t[rk[i].idx];
			tp_before += t >= 0 && AN_SIM_EXPLOSIVE(w->targets[t].cls);
		}
		double frac = (double)(top - a) / (double)(b - a);
		tp_top = tp_top - tp_before;
		out->top_decile_precision = ((double)tp_top + frac * (double)tp_tie) / (double)top;
	} else {
		out->top_decile_precision = top ? (double)tp_top / (double)top : NAN;
	}
	out->pr_auc = out->explosive ? ap / out->explosive : NAN;
	rc = 0;
free_all:
	free(pairs);
	free(match_t);
	free(t_used);
	free(err);
	free(gerr);
	free(rk);
	return rc;
}

double an_sim_explosive_density_per_100m2(const struct an_sim_scenario *sc)
{
	double all = 0, ex = 0;
	for (int c = 0; c < AN_SIM_T_COUNT; c++) {
		all += sc->mix[c];
		ex += AN_SIM_EXPLOSIVE(c) ? sc->mix[c] : 0.0;
	}
	return all > 0 ? sc->density_per_100m2 * ex / all : 0.0;
}

int an_sim_coverage_add(const struct an_sim_world *w, double conf, struct an_sim_coverage *acc)
{
	if (!w || !acc || !(conf > 0 && conf < 1))
		return -EINVAL;
	for (uint32_t a = 0; a < w->n_animals; a++) {
		uint64_t n = 0, k = 0, nf = 0;
		double psum = 0, area = 0;
		for (uint32_t i = 0; i < w->n_exps; i++) {
			const struct an_sim_exposure *e = &w->exps[i];
			if (e->animal != a || !AN_SIM_EXPLOSIVE(w->targets[e->target].cls))
				continue;
			n++;
			k += e->hit;
			psum += e->p;
		}
		for (uint32_t i = 0; i < w->n_inds; i++)
			nf += w->inds[i].animal == a && w->inds[i].target < 0;
		for (uint32_t i = 0; i < w->n_passes; i++)
			if (w->passes[i].animal == a)
				area += w->passes[i].area_m2;
		struct an_stats_interval iv;
		int rc;
		if (n > 0) {
			if ((rc = an_stats_binom_cp(k, n, conf, AN_STATS_TWO_SIDED, &iv)) < 0)
				return rc;
			double p = psum / (double)n;
			struct an_stats_interval wi;
			if ((rc = an_stats_binom_wilson(k, n, conf, AN_STATS_TWO_SIDED, 0, &wi)) < 0)
				return rc;
			acc->sens_wilson_cov += p >= wi.lo && p <= wi.hi;
			acc->sens_k_sum += k;
			acc->sens_n++;
			if (p < iv.lo)
				acc->sens_below++;
			else if (p > iv.hi)
				acc->sens_above++;
			else
				acc->sens_cov++;
		}
		/* the history record in force: the last of the animal's (an/sim.h HISTORY) */
		const struct an_sim_history *h = NULL;
		for (uint32_t i = 0; i < w->n_hist; i++)
			if (w->hist[i].animal == a)
				h = &w->hist[i];
		if (h != NULL && h->hits + h->misses > 0) {
			if ((rc = an_stats_binom_cp(h->hits, (uint64_t)h->hits + h->misses, conf, AN_STATS_TWO_SIDED, &iv)) < 0)
				return rc;
			acc->hist_n++;
			acc->hist_cov += h->s_hist >= iv.lo && h->s_hist <= iv.hi;
			acc->hist_day_exps += n;
			acc->hist_day_dp_sum += psum - (double)n * h->s_hist;
			struct an_stats_interval ir;
			if (h->area_m2 > 0) {
				if ((rc = an_stats_rate_exact(h->false_inds, h->area_m2, 100.0, conf, AN_STATS_TWO_SIDED, NULL,
				                              &ir)) < 0)
					return rc;
				double lam = w->animals[a].p.false_per_100m2;
				acc->hist_rate_cov += lam >= ir.lo && lam <= ir.hi;
			}
		}
		if (area > 0) {
			if ((rc = an_stats_rate_exact(nf, area, 100.0, conf, AN_STATS_TWO_SIDED, NULL, &iv)) < 0)
				return rc;
			double lam = w->animals[a].p.false_per_100m2;
			acc->rate_k_sum += nf;
			acc->rate_n++;
			if (lam < iv.lo)
				acc->rate_below++;
			else if (lam > iv.hi)
				acc->rate_above++;
			else
				acc->rate_cov++;
		}
	}
	return 0;
}
