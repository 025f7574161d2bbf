/*
 * analysis/src/sim_history.c — the trainers' record of each animal before the simulated day (an/sim.h
 * HISTORY): accreditation and training boxes drawn from the animal's TRUE parameters on its own substream.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define HIST_DEPTHS 32 /* midpoints per class burial range */
#define HIST_TIMES 24  /* times spread over the working day */
#define HIST_DAY_MS 86400000ll

double an_sim_history_sens(const struct an_sim_world *w, uint32_t a)
{
	static const int cls[] = {AN_SIM_T_AP, AN_SIM_T_AT, AN_SIM_T_UXO};
	const struct an_sim_animal *an = &w->animals[a];
	double wsum = 0.0, psum = 0.0;
	/* a fixed midpoint grid, not random draws: s_hist is a property of the animal, not of the seed */
	for (size_t c = 0; c < sizeof cls / sizeof cls[0]; c++) {
		double wt = w->sc.mix[cls[c]];
		if (!(wt > 0.0))
			continue;
		double lo, hi, p = 0.0;
		sim_depth_range(cls[c], &lo, &hi);
		for (int t = 0; t < HIST_TIMES; t++) {
			int64_t utc = w->day0_utc_ms + (int64_t)w->sc.start_s * 1000 +
			              (int64_t)llround(((double)t + 0.5) / HIST_TIMES * (double)w->sc.day_len_s * 1000.0);
			double temp = an_sim_temp_c(w, utc), hum = an_sim_hum_pct(w, utc);
			for (int d = 0; d < HIST_DEPTHS; d++)
				p += sim_p_detect_at(an, cls[c], lo + (hi - lo) * ((double)d + 0.5) / HIST_DEPTHS, temp, hum, 0.0);
		}
		psum += wt * p / (HIST_TIMES * HIST_DEPTHS);
		wsum += wt;
	}
	/* no explosive class in the mix: the AP model at the reference conditions stands for "a mine" */
	return wsum > 0.0 ? psum / wsum : sim_p_detect_at(an, AN_SIM_T_AP, 100.0, 25.0, 60.0, 0.0);
}

static double resolved(double animal, double scenario)
{
	return isnan(animal) ? scenario : animal;
}

int an_sim_history_build(struct an_sim_world *w)
{
	free(w->hist);
	w->hist = NULL;
	w->n_hist = 0;
	w->hist = calloc(2u * w->n_animals + 1u, sizeof *w->hist);
	if (!w->hist)
		return -ENOMEM;
	for (uint32_t a = 0; a < w->n_animals; a++) {
		const struct an_sim_animal_cfg *c = &w->sc.animals[a];
		double nt = resolved(c->history_targets, w->sc.history_targets);
		double m2 = resolved(c->history_m2, w->sc.history_m2);
		uint32_t n = nt > 0.0 ? (uint32_t)llround(nt) : 0u;
		if (n == 0)
			continue; /* a new animal: no record, the core scores it with the priors */
		struct an_sim_rng r;
		an_sim_rng_init(&r, w->seed, SIM_STREAM_HISTORY(a));
		double s = an_sim_history_sens(w, a);
		double lambda = w->animals[a].p.false_per_100m2 / 100.0;
		uint32_t n_acc = (n + 2u) / 3u, hits_acc = 0, hits = 0;
		for (uint32_t k = 0; k < n; k++) {
			bool hit = an_sim_rng_bernoulli(&r, s);
			hits += hit;
			if (k < n_acc)
				hits_acc += hit;
		}
		double m2_acc = m2 / 3.0;
		uint32_t f_acc = an_sim_rng_poisson(&r, lambda * m2_acc);
		uint32_t f_rest = an_sim_rng_poisson(&r, lambda * (m2 - m2_acc));
		/* as_of: the end of the test day (16:00 UTC), 60 days and 1 day before the simulated day */
		struct an_sim_history *h = &w->hist[w->n_hist++];
		*h = (struct an_sim_history){a, AN_SIM_HIST_ACCREDITATION, w->day0_utc_ms - 60 * HIST_DAY_MS + 16 * 3600000ll,
		                             hits_acc, n_acc - hits_acc, f_acc, m2_acc, s};
		h = &w->hist[w->n_hist++];
		*h = (struct an_sim_history){a, AN_SIM_HIST_TRAINING, w->day0_utc_ms - HIST_DAY_MS + 16 * 3600000ll,
		                             hits, n - hits, f_acc + f_rest, m2, s};
	}
	return 0;
}
