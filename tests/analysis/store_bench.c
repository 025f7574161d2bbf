/*
 * tests/analysis/store_bench.c — what a batch of 64 records costs the core store, and what the open-time
 * integrity check costs. Not a test (figures depend on the disk); run by hand:
 *
 *   build/tests/analysis/an_store_bench [dir] [batches]      (defaults: . and 1000)
 *
 * For synchronous=FULL (what the core uses) and NORMAL, in WAL mode: ingest `batches` batches of 64 new
 * records (32 collars, 1 IND per 16 records, every record placed in a session/task so the session lookup
 * and ENU conversion are included), one transaction per batch as the core does; then the same batches
 * again (all duplicates: the cost of a gateway's resend). Reports records/s and per-batch latency
 * percentiles. Then the open-time checks on the resulting file: none, quick_check, integrity_check.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "an/store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process: the machine may be shared, and wall time then measures the neighbours. */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define CHECK(expr)                                                                                          \
	do {                                                                                                 \
		int rc_ = (expr);                                                                            \
		if (rc_ != 0) {                                                                              \
			fprintf(stderr, "%s:%d: %s = %d: %s\n", __FILE__, __LINE__, #expr, rc_,                \
			        s != NULL ? an_store_errmsg(s) : "");                                        \
			exit(1);                                                                             \
		}                                                                                            \
	} while (0)

#define T0 1700000000000ll
#define COLLARS 32

static void setup_field(struct an_store *s)
{
	int64_t prog, task, box, sess;
	CHECK(an_store_programme_add(s, "bench", NULL, &prog));
	struct an_store_task t = {prog, "task", NULL, -191000000, 348000000, 12000};
	CHECK(an_store_task_add(s, &t, &task));
	struct an_geo_origin o;
	CHECK(an_store_task_origin(s, task, &o));
	struct an_store_box b = {.task_id = task, .name = "B", .lane_width_mm = 500, .lane_count = 40,
	                         .species = AN_SPECIES_RAT};
	struct an_geo_enu p0 = {0, 0, 0}, pa = {5000, 0, 0}, pc = {0, 20000, 0};
	int32_t alt;
	CHECK(an_geo_enu_to_e7(&o, &p0, &b.p0_lat_e7, &b.p0_lon_e7, &alt));
	CHECK(an_geo_enu_to_e7(&o, &pa, &b.along_lat_e7, &b.along_lon_e7, &alt));
	CHECK(an_geo_enu_to_e7(&o, &pc, &b.across_lat_e7, &b.across_lon_e7, &alt));
	CHECK(an_store_box_add(s, &b, &box));
	for (uint16_t c = 1; c <= COLLARS; c++) {
		char name[16];
		int64_t animal;
		snprintf(name, sizeof name, "rat%u", c);
		CHECK(an_store_animal_add(s, AN_SPECIES_RAT, name, NULL, &animal));
		CHECK(an_store_collar_assign(s, c, animal, T0 - 1000));
		struct an_store_session ss = {.box_id = box, .animal_id = animal, .mode = AN_MODE_OPERATIONAL,
		                              .start_ms = T0 - 1000};
		CHECK(an_store_session_add(s, &ss, &sess));
	}
}

/* Batch k: records k*64 .. k*64+63 spread over the collars, 1 Hz per collar. */
static void fill_batch(struct proto_batch *b, uint64_t k)
{
	memset(b, 0, sizeof *b);
	b->gw_id = 1;
	b->gw_seq = k + 1;
	b->n = PROTO_BATCH_RECS_MAX;
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t g = k * PROTO_BATCH_RECS_MAX + i;
		struct proto_batch_rec *r = &b->rec[i];
		r->collar_id = (uint16_t)(1 + g % COLLARS);
		r->rec_seq = (uint32_t)(1 + g / COLLARS);
		r->has = PROTO_REC_HAS_SEQ | PROTO_REC_HAS_RSSI;
		r->rx_ms = (uint64_t)T0 + g / COLLARS * 1000 + 300;
		r->rssi_dbm = -90;
		r->link = 1;
		uint64_t t = (uint64_t)T0 + g / COLLARS * 1000;
		int32_t lat = -191000000 + (int32_t)(g % 1800), lon = 348000000 + (int32_t)(g % 470);
		if (g % 16 == 15) {
			r->type = PROTO_T_IND;
			r->m.ind = (struct proto_ind){.has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_HACC,
			                              .rec_seq = r->rec_seq, .t_ms = t, .lat_e7 = lat, .lon_e7 = lon,
			                              .h_acc_mm = 1500, .kind = PROTO_IND_SCRATCH,
			                              .src = PROTO_SRC_BUTTON};
		} else {
			r->type = PROTO_T_FIX;
			r->m.fix = (struct proto_fix){.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_HDOP |
			                                     PROTO_FIX_HAS_Q | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_ALT,
			                              .rec_seq = r->rec_seq, .t_ms = t, .lat_e7 = lat, .lon_e7 = lon,
			                              .alt_mm = 512000, .h_acc_mm = 2500, .hdop_c = 90, .gga_q = 1,
			                              .nsat = 9};
		}
	}
}

static void report(const char *what, double *lat, int n, double total_s, double cpu, int records_per)
{
	qsort(lat, (size_t)n, sizeof *lat, cmp_double);
	printf("  %-24s wall %7.0f records/s (%6.1f batches/s; batch p50 %6.2f ms, p99 %6.2f ms, max %6.2f ms); "
	       "CPU %5.1f us/record\n",
	       what, (double)n * records_per / total_s, n / total_s, lat[n / 2] * 1e3, lat[(n * 99) / 100] * 1e3,
	       lat[n - 1] * 1e3, cpu / ((double)n * records_per) * 1e6);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	int batches = argc > 2 ? atoi(argv[2]) : 1000;
	if (batches < 1) {
		fprintf(stderr, "usage: %s [dir] [batches >= 1]\n", argv[0]);
		return 2;
	}
	struct proto_batch *b = malloc(sizeof *b);
	double *lat = malloc(sizeof(double) * (size_t)batches);
	if (b == NULL || lat == NULL)
		return 1;
	printf("store_bench: %d batches × %u records, WAL, dir %s\n", batches, PROTO_BATCH_RECS_MAX, dir);
	const struct {
		const char *name;
		unsigned flags;
	} modes[] = {{"synchronous=FULL", 0}, {"synchronous=NORMAL", AN_STORE_SYNC_NORMAL}};
	char path[512];
	for (size_t m = 0; m < 2; m++) {
		snprintf(path, sizeof path, "%s/store_bench_%zu.db", dir, m);
		unlink(path);
		char p2[540];
		snprintf(p2, sizeof p2, "%s-wal", path);
		unlink(p2);
		struct an_store *s = NULL;
		char err[AN_STORE_ERRMSG_MAX];
		if (an_store_open(path, AN_STORE_CREATE | modes[m].flags, &s, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		setup_field(s);
		printf("%s\n", modes[m].name);
		struct an_store_ingest_result r;
		double t_all = now_s(), c_all = cpu_s();
		for (int k = 0; k < batches; k++) {
			fill_batch(b, (uint64_t)k);
			double t = now_s();
			CHECK(an_store_ingest_batch(s, b, &r));
			lat[k] = now_s() - t;
			if (r.inserted != PROTO_BATCH_RECS_MAX || r.unplaced != 0) {
				fprintf(stderr, "batch %d: inserted %u unplaced %u\n", k, r.inserted, r.unplaced);
				return 1;
			}
		}
		report("new records", lat, batches, now_s() - t_all, cpu_s() - c_all, PROTO_BATCH_RECS_MAX);
		t_all = now_s();
		c_all = cpu_s();
		for (int k = 0; k < batches; k++) {
			fill_batch(b, (uint64_t)k);
			double t = now_s();
			CHECK(an_store_ingest_batch(s, b, &r));
			lat[k] = now_s() - t;
			if (r.duplicates != PROTO_BATCH_RECS_MAX) {
				fprintf(stderr, "replay %d: duplicates %u\n", k, r.duplicates);
				return 1;
			}
		}
		report("replay (all duplicates)", lat, batches, now_s() - t_all, cpu_s() - c_all, PROTO_BATCH_RECS_MAX);
		an_store_close(s);
	}
	/* Open-time checks on the FULL file (closed: WAL checkpointed into it). */
	snprintf(path, sizeof path, "%s/store_bench_0.db", dir);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return 1;
	printf("open-time check on %.1f MB (%d records):\n", (double)sb.st_size / 1e6, batches * (int)PROTO_BATCH_RECS_MAX);
	const struct {
		const char *name;
		unsigned flags;
	} checks[] = {{"no check", AN_STORE_CHECK_NONE}, {"quick_check", 0}, {"integrity_check", AN_STORE_CHECK_FULL}};
	for (size_t c = 0; c < 3; c++) {
		double best = 1e9, best_cpu = 1e9;
		for (int rep = 0; rep < 3; rep++) {
			struct an_store *s = NULL;
			double t = now_s(), tc = cpu_s();
			CHECK(an_store_open(path, checks[c].flags, &s, NULL, 0));
			double dt = now_s() - t, dc = cpu_s() - tc;
			an_store_close(s);
			best = dt < best ? dt : best;
			best_cpu = dc < best_cpu ? dc : best_cpu;
		}
		printf("  %-16s open: wall %8.1f ms, CPU %8.1f ms (%.0f MB/s of CPU)\n", checks[c].name, best * 1e3,
		       best_cpu * 1e3, (double)sb.st_size / 1e6 / best_cpu);
	}
	for (size_t m = 0; m < 2; m++) {
		snprintf(path, sizeof path, "%s/store_bench_%zu.db", dir, m);
		unlink(path);
	}
	free(b);
	free(lat);
	return 0;
}
