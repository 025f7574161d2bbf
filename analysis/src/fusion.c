/*
 * analysis/src/fusion.c — integer log-odds fusion of indications and clean sweeps (contract in an/fusion.h).
 *
 * Why the doubles stop at the per-animal table. Everything that needs logarithms or incomplete beta/gamma
 * functions depends only on ONE animal's calibration counts and the options, never on which evidence came
 * first; it is computed once per animal and rounded once to 1/1024 nat. From there on a score is a sum of
 * small integers, which is associative and commutative, so shuffling the evidence cannot change a bit of it.
 * The collapse to one observation per (animal, pass) is a sort on a total order followed by a linear scan,
 * for the same reason.
 */
#include "an/fusion.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_D 3.14159265358979323846

void an_fusion_opts_init(struct an_fusion_opts *o)
{
	const struct an_fusion_opts def = AN_FUSION_OPTS_INIT;
	*o = def;
}

static bool pos_finite(double x)
{
	return x > 0.0 && isfinite(x);
}

int an_fusion_opts_check(const struct an_fusion_opts *o)
{
	if (o == NULL || o->version != AN_FUSION_OPTS_VERSION || !pos_finite(o->density_per_m2) ||
	    o->gate_radius_mm < 1 || o->gate_radius_mm > 1000000 || !pos_finite(o->sens_prior_a) ||
	    !pos_finite(o->sens_prior_b) || !pos_finite(o->fa_prior_shape) || !pos_finite(o->fa_prior_m2_rat) ||
	    !pos_finite(o->fa_prior_m2_dog) || !(o->sens_lower_cred > 0.0 && o->sens_lower_cred < 1.0) ||
	    o->repeat_permil > 1000 || !(o->handler_confirm_false > 0.0) ||
	    !(o->handler_confirm_false < o->handler_confirm_true) || !(o->handler_confirm_true < 1.0))
		return -EINVAL;
	return 0;
}

int an_fusion_q10(double nats, int64_t *out)
{
	if (out == NULL)
		return -EINVAL;
	double v = nats * AN_FUSION_Q;
	if (!isfinite(v) || fabs(v) > 9007199254740992.0)
		return -ERANGE;
	*out = (int64_t)llround(v);
	return 0;
}

double an_fusion_prob(int64_t log_odds_q10)
{
	double l = (double)log_odds_q10 / AN_FUSION_Q;
	/* the two branches avoid exp overflow and keep full relative precision in each tail */
	if (l >= 0.0)
		return 1.0 / (1.0 + exp(-l));
	double e = exp(l);
	return e / (1.0 + e);
}

int an_fusion_logit_q10(double p, int64_t *out)
{
	if (!(p > 0.0 && p < 1.0))
		return -EINVAL;
	return an_fusion_q10(log(p) - log1p(-p), out);
}

double an_fusion_gate_area_m2(const struct an_fusion_opts *o)
{
	double r_m = (double)o->gate_radius_mm / 1000.0;
	return PI_D * r_m * r_m;
}

static const struct an_fusion_opts *opts_or_default(const struct an_fusion_opts *o, struct an_fusion_opts *def)
{
	if (o != NULL)
		return o;
	an_fusion_opts_init(def);
	return def;
}

int an_fusion_prior(const struct an_fusion_opts *o, int64_t *prior_q10, double *prior_p)
{
	struct an_fusion_opts def;
	o = opts_or_default(o, &def);
	if (an_fusion_opts_check(o) < 0 || prior_q10 == NULL)
		return -EINVAL;
	double x = o->density_per_m2 * an_fusion_gate_area_m2(o);
	double p0 = -expm1(-x); /* P(at least one item in the gate) */
	/* logit(p0) = log(p0) − log(1 − p0) = log(p0) + x, exact in this form for small and large x */
	int err = an_fusion_q10(log(p0) + x, prior_q10);
	if (err < 0)
		return err;
	if (prior_p != NULL)
		*prior_p = p0;
	return 0;
}

int an_fusion_animal_lr(const struct an_fusion_opts *o, const struct an_fusion_animal *a, struct an_fusion_lr *out)
{
	struct an_fusion_opts def;
	o = opts_or_default(o, &def);
	if (an_fusion_opts_check(o) < 0 || a == NULL || out == NULL || !(a->area_m2 >= 0.0) || !isfinite(a->area_m2))
		return -EINVAL;
	double rate0;
	switch (a->species) {
	case AN_SPECIES_RAT:
		rate0 = o->fa_prior_m2_rat;
		break;
	case AN_SPECIES_DOG:
		rate0 = o->fa_prior_m2_dog;
		break;
	default:
		return -EINVAL;
	}
	if (a->hits > UINT64_MAX - a->misses)
		return -EINVAL;
	struct an_stats_posterior sp, fp;
	int err = an_stats_beta_posterior(o->sens_prior_a, o->sens_prior_b, a->hits, a->hits + a->misses,
					  o->sens_lower_cred, AN_STATS_LOWER_BOUND, &sp);
	if (err < 0)
		return err == -EINVAL ? -EINVAL : -ERANGE;
	err = an_stats_gamma_posterior(o->fa_prior_shape, rate0, a->false_inds, a->area_m2, 1.0, 0.5,
				       AN_STATS_TWO_SIDED, &fp);
	if (err < 0)
		return err == -EINVAL ? -EINVAL : -ERANGE;

	struct an_fusion_lr r;
	memset(&r, 0, sizeof(r));
	r.animal_id = a->animal_id;
	r.s_mean = sp.mean;
	r.s_low = sp.ci.lo;
	r.lambda_per_m2 = fp.mean;
	double x = fp.mean * an_fusion_gate_area_m2(o);
	r.p_fa = -expm1(-x);
	if (!(r.p_fa > 0.0) || !(r.s_mean > 0.0) || !(r.s_mean < 1.0))
		return -ERANGE;
	r.log_lr_pos = log(r.s_mean) - log(r.p_fa);
	/* log(1 − p_fa) = −x exactly (p_fa = 1 − e^−x) */
	r.log_lr_neg = log1p(-r.s_low) + x;
	double w = (double)o->repeat_permil / 1000.0;
	if ((err = an_fusion_q10(r.log_lr_pos, &r.pos_q10)) < 0 || (err = an_fusion_q10(r.log_lr_neg, &r.neg_q10)) < 0 ||
	    (err = an_fusion_q10(w * r.log_lr_pos, &r.pos_rep_q10)) < 0 ||
	    (err = an_fusion_q10(w * r.log_lr_neg, &r.neg_rep_q10)) < 0)
		return err;
	*out = r;
	return 0;
}

int an_fusion_lr_regate(const struct an_fusion_opts *o, const struct an_fusion_lr *in, struct an_fusion_lr *out)
{
	struct an_fusion_opts def;
	o = opts_or_default(o, &def);
	if (an_fusion_opts_check(o) < 0 || in == NULL || out == NULL || !(in->lambda_per_m2 > 0.0) ||
	    !(in->s_mean > 0.0 && in->s_mean < 1.0) || !(in->s_low >= 0.0 && in->s_low < 1.0))
		return -EINVAL;
	/* the same formulas as an_fusion_animal_lr from the kept posterior summaries: only A changed */
	struct an_fusion_lr r = *in;
	double x = r.lambda_per_m2 * an_fusion_gate_area_m2(o);
	r.p_fa = -expm1(-x);
	if (!(r.p_fa > 0.0))
		return -ERANGE;
	r.log_lr_pos = log(r.s_mean) - log(r.p_fa);
	r.log_lr_neg = log1p(-r.s_low) + x;
	double w = (double)o->repeat_permil / 1000.0;
	int err;
	if ((err = an_fusion_q10(r.log_lr_pos, &r.pos_q10)) < 0 || (err = an_fusion_q10(r.log_lr_neg, &r.neg_q10)) < 0 ||
	    (err = an_fusion_q10(w * r.log_lr_pos, &r.pos_rep_q10)) < 0 ||
	    (err = an_fusion_q10(w * r.log_lr_neg, &r.neg_rep_q10)) < 0)
		return err;
	*out = r;
	return 0;
}

int an_fusion_handler_q10(const struct an_fusion_opts *o, enum an_review verdict, bool repeat, int64_t *out)
{
	struct an_fusion_opts def;
	o = opts_or_default(o, &def);
	if (an_fusion_opts_check(o) < 0 || out == NULL)
		return -EINVAL;
	double l;
	switch (verdict) {
	case AN_REVIEW_UNREVIEWED:
		*out = 0;
		return 0;
	case AN_REVIEW_CONFIRMED:
		l = log(o->handler_confirm_true) - log(o->handler_confirm_false);
		break;
	case AN_REVIEW_REJECTED:
		l = log1p(-o->handler_confirm_true) - log1p(-o->handler_confirm_false);
		break;
	default:
		return -EINVAL;
	}
	if (repeat)
		l *= (double)o->repeat_permil / 1000.0;
	return an_fusion_q10(l, out);
}

static int lr_cmp(const void *pa, const void *pb)
{
	const struct an_fusion_lr *a = pa, *b = pb;
	return a->animal_id < b->animal_id ? -1 : a->animal_id > b->animal_id;
}

int an_fusion_lr_sort(struct an_fusion_lr *lrs, size_t n)
{
	if (lrs == NULL && n > 0)
		return -EINVAL;
	if (n > 1)
		qsort(lrs, n, sizeof(*lrs), lr_cmp);
	for (size_t i = 1; i < n; i++)
		if (lrs[i].animal_id == lrs[i - 1].animal_id)
			return -EINVAL;
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* (session, animal, indicated first, ind_id): for the one-animal-per-session check */
static int obs_cmp_session(const void *pa, const void *pb)
{
	const struct an_fusion_obs *a = pa, *b = pb;
	int c;
	if ((c = cmp_u64(a->session_id, b->session_id)) != 0 || (c = cmp_u64(a->animal_id, b->animal_id)) != 0)
		return c;
	if (a->indicated != b->indicated)
		return a->indicated ? -1 : 1;
	return cmp_u64(a->indicated ? a->ind_id : 0, b->indicated ? b->ind_id : 0);
}

/* (animal, session, indicated first, ind_id): the canonical evidence order */
static int obs_cmp_animal(const void *pa, const void *pb)
{
	const struct an_fusion_obs *a = pa, *b = pb;
	int c;
	if ((c = cmp_u64(a->animal_id, b->animal_id)) != 0 || (c = cmp_u64(a->session_id, b->session_id)) != 0)
		return c;
	if (a->indicated != b->indicated)
		return a->indicated ? -1 : 1;
	return cmp_u64(a->indicated ? a->ind_id : 0, b->indicated ? b->ind_id : 0);
}

int an_fusion_score(const struct an_fusion_opts *o, const struct an_fusion_lr *lrs, size_t n_lrs,
		    const struct an_fusion_obs *obs, size_t n_obs, struct an_fusion_evidence *ev, size_t cap,
		    struct an_fusion_result *res)
{
	struct an_fusion_opts def;
	int err = 0;
	o = opts_or_default(o, &def);
	if (an_fusion_opts_check(o) < 0 || res == NULL || (lrs == NULL && n_lrs > 0) || (obs == NULL && n_obs > 0) ||
	    (ev == NULL && cap > 0))
		return -EINVAL;
	for (size_t i = 1; i < n_lrs; i++)
		if (lrs[i].animal_id <= lrs[i - 1].animal_id)
			return -EINVAL;

	struct an_fusion_result r;
	memset(&r, 0, sizeof(r));
	if ((err = an_fusion_prior(o, &r.prior_q10, NULL)) < 0)
		return err;
	/* the handler's four terms, rounded once like the animals' (indexed [verdict - 1][repeat]) */
	int64_t hq[2][2];
	for (int v = 0; v < 2; v++)
		for (int rep = 0; rep < 2; rep++)
			if ((err = an_fusion_handler_q10(o, (enum an_review)(v + 1), rep, &hq[v][rep])) < 0)
				return err;
	for (size_t i = 0; i < n_obs; i++)
		if (obs[i].indicated && (unsigned)obs[i].verdict > AN_REVIEW_REJECTED)
			return -EINVAL;

	struct an_fusion_obs *t = NULL;
	if (n_obs > 0) {
		t = malloc(n_obs * sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		memcpy(t, obs, n_obs * sizeof(*t));
		qsort(t, n_obs, sizeof(*t), obs_cmp_session);
		for (size_t i = 1; i < n_obs; i++)
			if (t[i].session_id == t[i - 1].session_id && t[i].animal_id != t[i - 1].animal_id) {
				err = -EINVAL;
				goto out_free_obs;
			}
		qsort(t, n_obs, sizeof(*t), obs_cmp_animal);
	}

	size_t i = 0, n_ev = 0;
	while (i < n_obs) {
		/* one animal: t[i .. j) */
		size_t j = i;
		while (j < n_obs && t[j].animal_id == t[i].animal_id)
			j++;
		struct an_fusion_lr key = { .animal_id = t[i].animal_id };
		const struct an_fusion_lr *lr = n_lrs ? bsearch(&key, lrs, n_lrs, sizeof(*lrs), lr_cmp) : NULL;
		if (lr == NULL) {
			err = -ENOENT;
			goto out_free_obs;
		}
		bool seen_pos = false, seen_neg = false;
		size_t k = i;
		while (k < j) {
			/* one pass: t[k .. m); indicated entries sort first */
			size_t m = k;
			struct an_fusion_evidence e;
			memset(&e, 0, sizeof(e));
			e.animal_id = t[k].animal_id;
			e.session_id = t[k].session_id;
			e.kind = t[k].indicated ? AN_FUSION_EV_INDICATED : AN_FUSION_EV_CLEAN;
			uint64_t last_ind = 0;
			bool confirmed = false, rejected = false;
			while (m < j && t[m].session_id == t[k].session_id) {
				if (t[m].indicated && (e.n_ind == 0 || t[m].ind_id != last_ind)) {
					if (e.n_ind == 0)
						e.first_ind_id = t[m].ind_id;
					if (e.n_ind < UINT32_MAX)
						e.n_ind++;
					last_ind = t[m].ind_id;
				}
				if (t[m].indicated) {
					confirmed |= t[m].verdict == AN_REVIEW_CONFIRMED;
					rejected |= t[m].verdict == AN_REVIEW_REJECTED;
				}
				m++;
			}
			if (e.kind == AN_FUSION_EV_INDICATED) {
				/* one confirmed indication in the gate makes the pass's verdict (an/fusion.h) */
				e.repeat = seen_pos;
				e.verdict = confirmed ? AN_REVIEW_CONFIRMED : rejected ? AN_REVIEW_REJECTED : AN_REVIEW_UNREVIEWED;
				e.handler_q10 = e.verdict ? hq[e.verdict - 1][seen_pos] : 0;
				int64_t animal_q10 = seen_pos ? lr->pos_rep_q10 : lr->pos_q10;
				e.delta_q10 = animal_q10 + e.handler_q10;
				seen_pos = true;
				r.pos_q10 += animal_q10;
				r.handler_q10 += e.handler_q10;
				r.n_ind_passes++;
			} else {
				e.repeat = seen_neg;
				e.delta_q10 = seen_neg ? lr->neg_rep_q10 : lr->neg_q10;
				seen_neg = true;
				r.neg_q10 += e.delta_q10;
				r.n_clean_passes++;
			}
			if (n_ev < cap)
				ev[n_ev] = e;
			n_ev++;
			k = m;
		}
		if (seen_pos)
			r.n_ind_animals++;
		if (seen_neg)
			r.n_clean_animals++;
		if (seen_neg && !seen_pos)
			r.n_clean_only_animals++;
		i = j;
	}
	r.n_evidence = (uint32_t)n_ev;
	r.total_q10 = r.prior_q10 + r.pos_q10 + r.neg_q10 + r.handler_q10;
	r.p = an_fusion_prob(r.total_q10);
	*res = r;
	err = n_ev > cap ? -ENOBUFS : 0;

out_free_obs:
	free(t);
	return err;
}
