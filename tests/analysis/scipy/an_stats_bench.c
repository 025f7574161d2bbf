/*
 * an_stats_bench — wall-clock figures for the statistics and matching functions (not a test).
 *
 *   an_stats_bench [reps]      (default 200)
 *
 * 1. Accuracy summary for 10^4 indications: sensitivity (Clopper–Pearson two-sided and one-sided lower,
 *    Wilson), "more targets needed", false-indication rate per 100 m² with the Garwood interval, PPV,
 *    Beta/Gamma posteriors, and mean/median/p90/p95/share-within-0.5/1/2 m of the localisation errors
 *    (which includes sorting the 10^4 distances). Once for the whole set, once split over 50 animals.
 * 2. Matching 10^4 indications against 500 clearance results spread over 100 boxes of 5 × 20 m (50 m
 *    apart), indication sigma 0.3 m (box frame / RTK) and 2 m (autonomous GNSS), results sigma 5 cm.
 *
 * Inputs come from a fixed xorshift generator, so every run measures the same work.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "an/match.h"
#include "an/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_u64(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double rng_unit(void)
{
	return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void)
{
	double u = rng_unit(), v = rng_unit();
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One animal's (or the whole programme's) report; returns a checksum so nothing is optimised away. */
static double summary(const double *dist, size_t n, double *work, uint64_t hits, uint64_t misses,
		      uint64_t false_ind, double area_m2)
{
	static const double thr[3] = { 0.5, 1.0, 2.0 };
	struct an_stats_interval cp2, cp1, wil, fa, ppv;
	struct an_stats_summary s;
	struct an_stats_posterior bp, gp;
	double rate;
	uint64_t more = 0;
	memcpy(work, dist, n * sizeof *work);
	int err = an_stats_binom_cp(hits, hits + misses, 0.95, AN_STATS_TWO_SIDED, &cp2);
	err |= an_stats_binom_cp(hits, hits + misses, 0.95, AN_STATS_LOWER_BOUND, &cp1);
	err |= an_stats_binom_wilson(hits, hits + misses, 0.95, AN_STATS_TWO_SIDED, 0, &wil);
	err |= an_stats_more_needed(hits, hits + misses, 0.90, 0.95, AN_STATS_LOWER_BOUND, &more);
	err |= an_stats_rate_exact(false_ind, area_m2, 100.0, 0.95, AN_STATS_TWO_SIDED, &rate, &fa);
	err |= an_stats_binom_cp(hits, hits + false_ind, 0.95, AN_STATS_TWO_SIDED, &ppv);
	err |= an_stats_beta_posterior(AN_STATS_SENS_PRIOR_A, AN_STATS_SENS_PRIOR_B, hits, hits + misses, 0.95,
				       AN_STATS_TWO_SIDED, &bp);
	err |= an_stats_gamma_posterior(AN_STATS_FA_PRIOR_SHAPE, AN_STATS_FA_PRIOR_M2_RAT, false_ind, area_m2,
					100.0, 0.95, AN_STATS_TWO_SIDED, &gp);
	err |= an_stats_describe(work, n, thr, 3, &s);
	if (err) {
		fprintf(stderr, "summary failed\n");
		exit(1);
	}
	return cp2.lo + cp1.lo + wil.lo + fa.hi + ppv.lo + bp.ci.lo + gp.ci.hi + s.p95 + (double)more;
}

static void bench_summary(int reps)
{
	enum { N = 10000, ANIMALS = 50 };
	double *dist = malloc(N * sizeof *dist), *work = malloc(N * sizeof *work);
	double *t = malloc((size_t)reps * sizeof *t), *t2 = malloc((size_t)reps * sizeof *t2);
	if (!dist || !work || !t || !t2)
		exit(1);
	for (size_t i = 0; i < N; i++) {
		double dx = 0.4 * rng_normal(), dy = 0.4 * rng_normal();
		dist[i] = sqrt(dx * dx + dy * dy);
	}
	/* programme-wide: 7 300 true indications (hits), 12 misses, 2 700 false over 820 000 m² */
	double sink = 0.0;
	for (int r = 0; r < reps; r++) {
		double t0 = now_s();
		sink += summary(dist, N, work, 7300, 12, 2700, 820000.0);
		t[r] = now_s() - t0;
		t0 = now_s();
		for (size_t a = 0; a < ANIMALS; a++)
			sink += summary(dist + a * (N / ANIMALS), N / ANIMALS, work, 146, a % 3, 54, 16400.0);
		t2[r] = now_s() - t0;
	}
	qsort(t, (size_t)reps, sizeof *t, cmp_d);
	qsort(t2, (size_t)reps, sizeof *t2, cmp_d);
	printf("accuracy summary, 10^4 indications, one report:      median %.1f us  min %.1f us  (%d reps)\n",
	       t[reps / 2] * 1e6, t[0] * 1e6, reps);
	printf("accuracy summary, 10^4 indications, 50 animal reports: median %.1f us  min %.1f us\n",
	       t2[reps / 2] * 1e6, t2[0] * 1e6);
	if (sink == 12345.678)
		printf("!\n");
	free(t2);
	free(t);
	free(work);
	free(dist);
}

static void bench_match(int reps, int64_t sigma_ind_mm)
{
	enum { BOXES = 100, ITEMS_PER_BOX = 5, IND_PER_BOX = 100 };
	size_t na = BOXES * IND_PER_BOX, nb = BOXES * ITEMS_PER_BOX;
	struct an_match_point *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
	struct an_match_pair *out = malloc(nb * sizeof *out);
	double *t = malloc((size_t)reps * sizeof *t);
	if (!a || !b || !out || !t)
		exit(1);
	size_t ia = 0, ib = 0;
	for (int box = 0; box < BOXES; box++) {
		int64_t ox = (int64_t)(box % 10) * 50000, oy = (int64_t)(box / 10) * 50000; /* 50 m spacing */
		size_t first_b = ib;
		for (int k = 0; k < ITEMS_PER_BOX; k++, ib++) {
			b[ib].id = 1000000 + ib;
			b[ib].x_mm = ox + (int64_t)(rng_unit() * 5000.0);
			b[ib].y_mm = oy + (int64_t)(rng_unit() * 20000.0);
			b[ib].sigma_mm = 50;
		}
		for (int k = 0; k < IND_PER_BOX; k++, ia++) {
			a[ia].id = 1 + ia;
			a[ia].sigma_mm = sigma_ind_mm;
			if (rng_unit() < 0.6) { /* around an item, true scatter = the stated sigma */
				const struct an_match_point *it = &b[first_b + rng_u64() % ITEMS_PER_BOX];
				a[ia].x_mm = it->x_mm + (int64_t)((double)sigma_ind_mm * rng_normal());
				a[ia].y_mm = it->y_mm + (int64_t)((double)sigma_ind_mm * rng_normal());
			} else {
				a[ia].x_mm = ox + (int64_t)(rng_unit() * 5000.0);
				a[ia].y_mm = oy + (int64_t)(rng_unit() * 20000.0);
			}
		}
	}
	size_t n = 0;
	struct an_match_info info;
	for (int r = 0; r < reps; r++) {
		double t0 = now_s();
		int err = an_match_solve(a, na, b, nb, NULL, out, nb, &n, &info);
		t[r] = now_s() - t0;
		if (err) {
			fprintf(stderr, "match failed: %d\n", err);
			exit(1);
		}
	}
	qsort(t, (size_t)reps, sizeof *t, cmp_d);
	printf("match 10^4 indications (sigma %.1f m) vs 500 results in 100 boxes: median %.2f ms  min %.2f ms; "
	       "%zu pairs, %zu gated pairs, %zu components, largest %zux%zu\n",
	       (double)sigma_ind_mm / 1000.0, t[reps / 2] * 1e3, t[0] * 1e3, n, info.n_edges, info.n_components,
	       info.max_rows, info.max_cols);
	free(t);
	free(out);
	free(b);
	free(a);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 200;
	if (reps < 1)
		reps = 1;
	bench_summary(reps);
	bench_match(reps < 50 ? reps : 50, 300);
	bench_match(reps < 50 ? reps : 50, 2000);
	return 0;
}
