/*
 * tests/analysis/bench_hazard.c — `an_bench_hazard`: CPU time of one an_hazard_apply of a gateway-sized batch
 * (4 indications + 60 fixes) on an engine that already holds 10^4 indications and 100 sessions (each a
 * 20 × 5 m box swept lane by lane, 300 fixes), computed incrementally (the normal case) and in full (each
 * batch also carries a calibration update, which forces the full recompute). A benchmark, not a test:
 *
 *   build/tests/analysis/an_bench_hazard [incremental|full] [repeat]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "an/hazard.h"

enum { NS = 100, NI = 10000, BATCH = 64 };

static uint64_t rng = 42;
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int64_t below(uint64_t n)
{
	return (int64_t)(rnd() % n);
}

static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int64_t bx[NS + 1], by[NS + 1];

static struct an_hazard_input ind(uint64_t id, int64_t t)
{
	uint64_t k = 1 + rnd() % NS;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_IND};
	in.u.ind = (struct an_hazard_ind){id, k % 20 + 1, k, t, bx[k] + below(20000), by[k] + below(5000), 300};
	return in;
}

int main(int argc, char **argv)
{
	bool full = argc > 1 && !strcmp(argv[1], "full");
	int repeat = argc > 2 ? atoi(argv[2]) : 51;
	if (repeat < 1 || repeat > 10000 || (argc > 1 && !full && strcmp(argv[1], "incremental"))) {
		fprintf(stderr, "usage: an_bench_hazard [incremental|full] [repeat]\n");
		return 2;
	}
	struct an_hazard_engine *h;
	struct an_hazard_input *in = calloc(NS * 301 + NI, sizeof *in);
	double *dt = calloc((size_t)repeat, sizeof *dt);
	if (!in || !dt || an_hazard_new(NULL, &h))
		return 1;
	size_t n = 0;
	for (uint64_t k = 1; k <= NS; k++) {
		in[n].kind = AN_HAZARD_IN_SESSION;
		in[n++].u.session = (struct an_hazard_session){.session_id = k, .animal_id = k % 20 + 1, .species = AN_SPECIES_RAT};
		bx[k] = below(280000);
		by[k] = below(295000);
		for (int64_t f = 0; f < 300; f++) {
			in[n].kind = AN_HAZARD_IN_FIX;
			in[n].u.fix.session_id = k;
			in[n++].u.fix.fix = (struct an_coverage_fix){.t_ms = (int64_t)k * 1000000 + f * 1000,
			                                              .e_mm = bx[k] + (f % 20) * 1000,
			                                              .n_mm = by[k] + (f / 20) * 330, .h_acc_mm = 50};
		}
	}
	for (uint64_t i = 0; i < NI; i++)
		in[n++] = ind(i + 1, (int64_t)i);
	if (an_hazard_apply(h, in, n, 0))
		return 1;
	for (int r = 0; r < repeat; r++) {
		struct an_hazard_input b[BATCH];
		size_t m = 0;
		if (full) {
			b[m].kind = AN_HAZARD_IN_CALIB;
			b[m++].u.calib = (struct an_hazard_calib){.cal = {.animal_id = 1, .species = AN_SPECIES_RAT,
			                                                  .hits = (uint64_t)r}, .as_of_ms = r};
		}
		for (uint64_t i = 0; i < 4; i++)
			b[m++] = ind(NI + (uint64_t)r * 10 + i + 1, NI + r);
		while (m < BATCH) {
			uint64_t k = 1 + rnd() % NS;
			b[m].kind = AN_HAZARD_IN_FIX;
			b[m].u.fix.session_id = k;
			b[m++].u.fix.fix = (struct an_coverage_fix){.t_ms = (int64_t)k * 1000000 + 400000 + r * 100 + (int64_t)m,
			                                            .e_mm = bx[k] + below(20000), .n_mm = by[k] + below(5000),
			                                            .h_acc_mm = 50};
		}
		double c0 = cpu_s();
		if (an_hazard_apply(h, b, m, r))
			return 1;
		dt[r] = cpu_s() - c0;
	}
	qsort(dt, (size_t)repeat, sizeof *dt, cmpd);
	size_t ni, nf;
	an_hazard_apply_counts(h, &ni, &nf);
	printf("%s: one apply of %d inputs (4 indications, 60 fixes) on 10^4 indications (%zu points), 100 sessions: "
	       "median %.2f ms, min %.2f ms CPU over %d (applies: %zu incremental, %zu full)\n",
	       full ? "full" : "incremental", BATCH, an_hazard_count(h), dt[repeat / 2] * 1e3, dt[0] * 1e3, repeat, ni, nf);
	an_hazard_free(h);
	free(in);
	free(dt);
	return 0;
}
