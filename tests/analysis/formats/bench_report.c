/*
 * tests/analysis/formats/bench_report.c — how long from a new clearance result to an updated accuracy
 * report, for one animal with N indications (default 10^4). Not a test; run by hand:
 *
 *   build/tests/analysis/an_report_bench [--n 10000] [--repeat 20] DB
 *
 * Builds DB (replacing it): one rat, N/100 sessions over N/100 boxes (5 x 20 m, 30 m apart), 100
 * indications per session (h_acc 100 mm), 10 targets + 10 scrap per box (sigma 50 mm), about half the
 * targets indicated. Then, `repeat` times: import ONE new clearance result (an_import_clearance, its own
 * transaction, synchronous=FULL as the daemon would) and recompute + render the animal's accuracy report
 * (an_report_accuracy to /dev/null). Prints min / median / max wall time of the two steps together.
 * The same round trip through the CLI: `scentrack import clearance` + `scentrack report accuracy`
 * (printed commands; time them with `time`).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "an/import.h"
#include "an/report.h"
#include "fixture.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: with other jobs on the machine, wall time measures them too. */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = 10000, repeat = 20;
	const char *db = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else
			db = argv[i];
	}
	if (db == NULL || n < 100 || repeat < 1) {
		fprintf(stderr, "usage: an_report_bench [--n N>=100] [--repeat R] DB\n");
		return 64;
	}
	unlink(db);
	struct an_store *s;
	char err[512];
	if (an_store_open(db, AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &s, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct fx f;
	memset(&f, 0, sizeof f);
	int64_t rat;
	struct an_store_task t = {0, "bench task", NULL, FX_ORIGIN_LAT_E7, FX_ORIGIN_LON_E7, 0};
	if (an_store_programme_add(s, "bench", NULL, &t.programme_id) < 0 || an_store_task_add(s, &t, &f.task) < 0 ||
	    an_store_task_origin(s, f.task, &f.o) < 0 || an_store_animal_add(s, AN_SPECIES_RAT, "Bench", "MDR", &rat) < 0 ||
	    an_store_collar_assign(s, 7, rat, FX_T0 - 3600000) < 0) {
		fprintf(stderr, "setup: %s\n", an_store_errmsg(s));
		return 1;
	}
	int nbox = n / 100;
	struct proto_batch *pb = calloc(1, sizeof *pb);
	uint32_t seq = 1;
	for (int bi = 0; bi < nbox; bi++) {
		int64_t x0 = 30000LL * bi;
		char name[32];
		snprintf(name, sizeof name, "B%d", bi);
		struct an_store_box b = {.task_id = f.task, .name = name, .lane_width_mm = 500, .lane_count = 40,
		                         .species = AN_SPECIES_RAT};
		int64_t box, sess;
		if (fx_e7(&f, x0, 0, &b.p0_lat_e7, &b.p0_lon_e7) < 0 || fx_e7(&f, x0 + 5000, 0, &b.along_lat_e7, &b.along_lon_e7) < 0 ||
		    fx_e7(&f, x0, 20000, &b.across_lat_e7, &b.across_lon_e7) < 0 || an_store_box_add(s, &b, &box) < 0) {
			fprintf(stderr, "box: %s\n", an_store_errmsg(s));
			return 1;
		}
		int64_t t0 = FX_T0 + (int64_t)bi * 3600000;
		struct an_store_session ss = {.box_id = box, .animal_id = rat, .mode = AN_MODE_OPERATIONAL, .start_ms = t0,
		                              .has_end = true, .end_ms = t0 + 3000000};
		if (an_store_session_add(s, &ss, &sess) < 0) {
			fprintf(stderr, "session: %s\n", an_store_errmsg(s));
			return 1;
		}
		int64_t tx[10], ty[10];
		for (int k = 0; k < 20; k++) {
			struct an_store_clearance c;
			memset(&c, 0, sizeof c);
			c.task_id = f.task;
			c.has_pos = true;
			int64_t x = x0 + 250 + (int64_t)(next() % 4500), y = 250 + (int64_t)(next() % 19500);
			if (k < 10) {
				tx[k] = x;
				ty[k] = y;
			}
			(void)fx_e7(&f, x, y, &c.lat_e7, &c.lon_e7);
			c.pos_err_mm = 50;
			c.result = k < 10 ? AN_CLR_AP_MINE : AN_CLR_SCRAP;
			c.date_ms = t0 + 86400000;
			int64_t id;
			if (an_store_clearance_add(s, &c, &id) < 0) {
				fprintf(stderr, "clearance: %s\n", an_store_errmsg(s));
				return 1;
			}
		}
		for (int k = 0; k < 100; k++) {
			int64_t x, y;
			if (k < 5) { /* half the targets found, 0.3 m off */
				x = tx[k] + 300;
				y = ty[k];
			} else {
				x = x0 + (int64_t)(next() % 5000);
				y = (int64_t)(next() % 20000);
			}
			if (fx_ind(&f, pb, 7, seq++, t0 + 10000 * (k + 1), x, y) < 0)
				return 1;
			if (pb->n == PROTO_BATCH_RECS_MAX && fx_ingest(&f, s, pb) < 0) {
				fprintf(stderr, "%s\n", f.err);
				return 1;
			}
		}
	}
	if (pb->n && fx_ingest(&f, s, pb) < 0) {
		fprintf(stderr, "%s\n", f.err);
		return 1;
	}
	free(pb);
	an_store_close(s);
	/* the round trip, on a store opened as the daemon would (synchronous=FULL) */
	if (an_store_open(db, AN_STORE_CHECK_NONE, &s, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double *dt = calloc((size_t)repeat, sizeof *dt), *dc = calloc((size_t)repeat, sizeof *dc);
	FILE *null = fopen("/dev/null", "w");
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.animal_id = rat;
	for (int r = 0; r < repeat; r++) {
		char row[256];
		snprintf(row, sizeof row, "ref,task,date,result,x_mm,y_mm,sigma_m\nNEW-%d,%lld,2024-06-01T10:00:00Z,uxo,%d,%d,0.05\n",
		         r, (long long)f.task, 30000 * (r % nbox) + 2500, 10000 + r);
		struct an_import_opts io = {AN_IMPORT_CSV, "bench", NULL, false, 0};
		double t0 = now_s(), c0 = cpu_s();
		if (an_import_clearance(s, row, strlen(row), &io, NULL, err, sizeof err) < 0 ||
		    an_report_accuracy(s, &o, null, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		dt[r] = now_s() - t0;
		dc[r] = cpu_s() - c0;
	}
	qsort(dt, (size_t)repeat, sizeof *dt, cmp);
	qsort(dc, (size_t)repeat, sizeof *dc, cmp);
	printf("%d indications, %d sessions, %d clearance results: new clearance result -> updated accuracy report: "
	       "min %.1f ms, median %.1f ms, max %.1f ms over %d runs\n",
	       n, nbox, nbox * 20 + repeat, dt[0] * 1e3, dt[repeat / 2] * 1e3, dt[repeat - 1] * 1e3, repeat);
	printf("  the same in CPU time of this process: min %.1f ms, median %.1f ms, max %.1f ms\n", dc[0] * 1e3,
	       dc[repeat / 2] * 1e3, dc[repeat - 1] * 1e3);
	printf("CLI round trip: printf 'ref,task,date,result,x_mm,y_mm\\nCLI-1,%lld,2024-06-02T00:00:00Z,uxo,2500,15000\\n' > /tmp/one.csv;"
	       " time (scentrack import clearance --db %s /tmp/one.csv && scentrack report accuracy --db %s --animal Bench > /dev/null)\n",
	       (long long)f.task, db, db);
	fclose(null);
	free(dt);
	free(dc);
	an_store_close(s);
	return 0;
}
