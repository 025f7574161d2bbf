/*
 * tests/analysis/bench_cluster.c — `an_bench_cluster`: latency, throughput and memory of the incremental
 * DBSCAN core (an/cluster.h) on a synthetic field of 5 × 20 m boxes. A benchmark, not a test: it is built
 * with the tests but never registered with CTest. tests/analysis/sklearn/bench_cluster.py drives it and
 * runs scikit-learn on the very same points.
 *
 * Data (seeded, deterministic): boxes 5 m × 20 m tiling a square site; per box 0–3 targets (mean 1.17),
 * each indicated 2–6 times with Gaussian scatter σ = 350 mm per axis (RTK fix plus the animal's own offset),
 * plus 0–8 false indications (mean 4) uniform in the box; ≈ 8.7 indications per box, so 10^6 indications
 * cover ≈ 115 000 boxes ≈ 11.5 km². Ids are 1..N in generation order.
 * Insertion orders: "box" = box after box, shuffled within the box (how a survey arrives); "random" =
 * uniformly shuffled (worst case for cache locality).
 *
 * Per-insert latency is clock_gettime(CLOCK_MONOTONIC) around each an_cluster_insert() (the timer's own cost,
 * measured and printed, is included). Memory: an_cluster_mem_bytes() (every byte the structure holds,
 * slack included) and, as a cross-check, the growth of the resident set size (/proc/self/statm).
 */
#define _GNU_SOURCE

#include "an/cluster.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unif(void)
{
	return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static int64_t irange(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static double gauss(void)
{
	double u = unif(), v = unif();
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

static void shuffle(struct an_cluster_input *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		struct an_cluster_input t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void generate(struct an_cluster_input *a, size_t n, int random_order)
{
	size_t boxes = (size_t)((double)n / 8.7) + 1u;
	size_t per_row = (size_t)ceil(sqrt((double)boxes * 4.0)); /* 5 m wide, 20 m long: square site */
	size_t k = 0;
	for (size_t b = 0; k < n; b++) {
		int64_t bx = (int64_t)(b % per_row) * 5000, by = (int64_t)(b / per_row) * 20000;
		size_t first = k;
		static const int targets_of[6] = {0, 0, 1, 1, 2, 3};
		int targets = targets_of[rnd() % 6u];
		for (int t = 0; t < targets && k < n; t++) {
			int64_t tx = bx + irange(500, 4500), ty = by + irange(500, 19500);
			int64_t m = irange(2, 6);
			for (int64_t j = 0; j < m && k < n; j++, k++) {
				a[k].x_mm = tx + (int64_t)llround(350.0 * gauss());
				a[k].y_mm = ty + (int64_t)llround(350.0 * gauss());
			}
		}
		int64_t fa = irange(0, 8);
		for (int64_t j = 0; j < fa && k < n; j++, k++) {
			a[k].x_mm = bx + irange(0, 4999);
			a[k].y_mm = by + irange(0, 19999);
		}
		for (size_t i = first; i < k; i++)
			a[i].id = i + 1u;
		shuffle(a + first, k - first);
	}
	if (random_order)
		shuffle(a, n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process (on a shared machine, wall time also counts the time other jobs had the CPU) */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static uint32_t pct(const uint32_t *sorted, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n) - 1u;
	return sorted[i < n ? i : n - 1u];
}

/* Resident set size: what the structure really occupies (mallinfo2 would also count the never-touched
 * alignment padding of the 2 MiB-aligned blocks). */
static size_t heap_in_use(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (size_t)resident * 4096u;
}

struct stream_result {
	double total_s, sum_s;
	uint32_t p50, p99, p999, max;
	double mean_ns;
	size_t mem, heap;
	struct an_cluster_stats st;
};

static int stream(const struct an_cluster_input *in, size_t n, const struct an_cluster_opts *o, uint32_t *lat,
		  struct stream_result *r)
{
	memset(lat, 0, n * sizeof *lat); /* fault the latency array in before measuring RSS */
	size_t heap0 = heap_in_use();
	struct an_cluster *c = an_cluster_new(o);
	if (c == NULL)
		return -ENOMEM;
	struct timespec t0, t1;
	double w0 = now_s();
	for (size_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int err = an_cluster_insert(c, in[i].id, in[i].x_mm, in[i].y_mm);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (err < 0) {
			fprintf(stderr, "insert %zu: %s\n", i, strerror(-err));
			an_cluster_free(c);
			return err;
		}
		int64_t d = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
		lat[i] = d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
	r->total_s = now_s() - w0;
	r->heap = heap_in_use() - heap0;
	r->mem = an_cluster_mem_bytes(c);
	an_cluster_stats(c, &r->st);
	an_cluster_free(c);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += lat[i];
	r->sum_s = sum * 1e-9;
	r->mean_ns = sum / (double)n;
	qsort(lat, n, sizeof *lat, cmp_u32);
	r->p50 = pct(lat, n, 0.50);
	r->p99 = pct(lat, n, 0.99);
	r->p999 = pct(lat, n, 0.999);
	r->max = lat[n - 1];
	return 0;
}

static double timer_cost_ns(void)
{
	struct timespec t0, t1;
	double w0 = now_s();
	for (int i = 0; i < 1000000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	}
	return (now_s() - w0) * 1e9 / 1e6;
}

static int write_points(const char *path, const struct an_cluster_input *in, size_t n)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fputs("id,x_mm,y_mm\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%llu,%lld,%lld\n", (unsigned long long)in[i].id, (long long)in[i].x_mm,
			(long long)in[i].y_mm);
	return fclose(f) == 0 ? 0 : -EIO;
}

static int write_labels(const char *path, const struct an_cluster_point *p, size_t n)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		if (p[i].cluster_id == AN_CLUSTER_NONE)
			fprintf(f, "%llu,-1,0\n", (unsigned long long)p[i].id);
		else
			fprintf(f, "%llu,%llu,%d\n", (unsigned long long)p[i].id, (unsigned long long)p[i].cluster_id,
				p[i].is_core ? 1 : 0);
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

static void usage(void)
{
	puts("usage: an_bench_cluster [--n N] [--seed S] [--eps-mm E] [--min-pts K] [--order box|random]\n"
	     "                        [--repeat R] [--presize] [--points-csv FILE] [--labels-csv FILE]\n"
	     "                        [--batch-only]\n"
	     "Streams N synthetic indications into the incremental DBSCAN core and prints per-insert latency\n"
	     "percentiles, total time and memory; then times a batch run (an_cluster_batch: insert all, export\n"
	     "labels sorted by id). Medians over R repeats. --points-csv/--labels-csv write the points and the\n"
	     "batch labels for comparison with scikit-learn (tests/analysis/sklearn/bench_cluster.py).\n"
	     "--batch-only skips the streaming runs (profiling the batch path).\n"
	     "defaults: N 1000000, seed 1, eps 1000 mm, min_pts 3, order box, repeat 3.");
}

int main(int argc, char **argv)
{
	size_t n = 1000000, repeat = 3;
	uint64_t seed = 1;
	struct an_cluster_opts o = {.eps_mm = 1000, .min_pts = 3};
	int random_order = 0, presize = 0, batch_only = 0;
	const char *points_csv = NULL, *labels_csv = NULL;
	static const struct option lo[] = {
		{"n", required_argument, NULL, 'n'},       {"seed", required_argument, NULL, 's'},
		{"eps-mm", required_argument, NULL, 'e'},  {"min-pts", required_argument, NULL, 'k'},
		{"order", required_argument, NULL, 'o'},   {"repeat", required_argument, NULL, 'r'},
		{"presize", no_argument, NULL, 'p'},       {"points-csv", required_argument, NULL, 'P'},
		{"labels-csv", required_argument, NULL, 'L'}, {"batch-only", no_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'e': o.eps_mm = strtoll(optarg, NULL, 10); break;
		case 'k': o.min_pts = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'o': random_order = strcmp(optarg, "random") == 0; break;
		case 'r': repeat = strtoull(optarg, NULL, 10); break;
		case 'p': presize = 1; break;
		case 'P': points_csv = optarg; break;
		case 'L': labels_csv = optarg; break;
		case 'b': batch_only = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 64;
		}
	}
	if (n < 1 || repeat < 1 || an_cluster_opts_check(&o) < 0) {
		usage();
		return 64;
	}
	if (presize)
		o.expected_points = (uint32_t)n;

	struct an_cluster_input *in = malloc(n * sizeof *in);
	uint32_t *lat = malloc(n * sizeof *lat);
	struct an_cluster_point *out = malloc(n * sizeof *out);
	double *tot = malloc(repeat * sizeof *tot), *bat = malloc(repeat * sizeof *bat), *batc = malloc(repeat * sizeof *batc);
	double *cold = malloc(repeat * sizeof *cold), *coldc = malloc(repeat * sizeof *coldc);
	struct stream_result *res = malloc(repeat * sizeof *res);
	struct an_cluster_batch_ws *ws = an_cluster_batch_ws_new();
	if (!in || !lat || !out || !tot || !bat || !batc || !cold || !coldc || !res || !ws) {
		fprintf(stderr, "out of memory\n");
		return 70;
	}
	rng = seed;
	generate(in, n, random_order);
	/* The label array is the caller's (an_cluster_batch() writes into it, scikit-learn allocates its own
	 * 8-byte labels inside fit): fault its 40 bytes per point in once here, so that batch run 1 is not
	 * charged ~10 000 page faults for a buffer the caller owns and reuses. */
	memset(out, 0, n * sizeof *out);
	if (points_csv != NULL && write_points(points_csv, in, n) < 0) {
		fprintf(stderr, "cannot write %s\n", points_csv);
		return 73;
	}

	printf("an_bench_cluster: n=%zu seed=%llu eps=%lld mm min_pts=%u order=%s presize=%s repeat=%zu\n", n,
	       (unsigned long long)seed, (long long)o.eps_mm, o.min_pts, random_order ? "random" : "box",
	       presize ? "yes" : "no", repeat);
	printf("timer: clock_gettime pair costs %.1f ns (included in every per-insert figure)\n", timer_cost_ns());
	/* The workspace keeps scratch MEMORY between calls, never results (an/cluster.h); one untimed call
	 * sizes it, so every timed workspace call below is a steady-state re-run. */
	if (an_cluster_batch_with(ws, &o, in, n, out) < 0) {
		fprintf(stderr, "batch: warm-up failed\n");
		return 70;
	}
	printf("workspace: %.1f MB after one untimed call\n", (double)an_cluster_batch_ws_bytes(ws) / 1e6);
	for (size_t r = 0; r < repeat; r++) {
		struct stream_result *s = &res[r];
		memset(s, 0, sizeof *s);
		if (!batch_only && stream(in, n, &o, lat, &res[r]) < 0)
			return 70;
		if (!batch_only)
			printf("stream run %zu: total %.3f s (sum of inserts %.3f s), mean %.0f ns, p50 %u ns, "
			       "p99 %u ns, p99.9 %u ns, max %u ns; %zu core, %zu clusters; memory %.1f B/indication "
			       "(RSS growth %.1f B)\n",
			       r + 1, s->total_s, s->sum_s, s->mean_ns, s->p50, s->p99, s->p999, s->max, s->st.n_core,
			       s->st.n_clusters, (double)s->mem / (double)n, (double)s->heap / (double)n);
		tot[r] = s->total_s;
		/* fresh scratch (an_cluster_batch: allocates and frees its own), then the reused workspace */
		double t0 = now_s(), c0 = cpu_s();
		int err = an_cluster_batch(&o, in, n, out);
		cold[r] = now_s() - t0;
		coldc[r] = cpu_s() - c0;
		t0 = now_s();
		c0 = cpu_s();
		int err2 = an_cluster_batch_with(ws, &o, in, n, out);
		bat[r] = now_s() - t0;
		batc[r] = cpu_s() - c0;
		if (err < 0 || err2 < 0) {
			fprintf(stderr, "batch: %s\n", strerror(err < 0 ? -err : -err2));
			return 70;
		}
		printf("batch run %zu: fresh scratch %.3f s, CPU %.3f s; reused workspace %.3f s, CPU %.3f s "
		       "(labels of all points)\n",
		       r + 1, cold[r], coldc[r], bat[r], batc[r]);
	}
	/* medians */
	uint32_t v[4][64];
	size_t m = repeat < 64 ? repeat : 64;
	for (size_t r = 0; r < m; r++) {
		v[0][r] = res[r].p50;
		v[1][r] = res[r].p99;
		v[2][r] = res[r].p999;
		v[3][r] = res[r].max;
	}
	for (int j = 0; j < 4; j++)
		qsort(v[j], m, sizeof v[j][0], cmp_u32);
	qsort(tot, repeat, sizeof *tot, cmp_d);
	qsort(bat, repeat, sizeof *bat, cmp_d);
	qsort(batc, repeat, sizeof *batc, cmp_d);
	qsort(cold, repeat, sizeof *cold, cmp_d);
	qsort(coldc, repeat, sizeof *coldc, cmp_d);
	printf("MEDIAN of %zu: stream total %.3f s, p50 %u ns, p99 %u ns, p99.9 %u ns, max %u ns; "
	       "batch (reused workspace) %.3f s, fresh scratch %.3f s; memory %.1f B/indication\n",
	       repeat, tot[repeat / 2], v[0][m / 2], v[1][m / 2], v[2][m / 2], v[3][m / 2], bat[repeat / 2], cold[repeat / 2],
	       (double)res[0].mem / (double)n);
	printf("RESULT batch_s=%.6f stream_s=%.6f batch_cpu_s=%.6f batch_fresh_s=%.6f batch_fresh_cpu_s=%.6f\n",
	       bat[repeat / 2], tot[repeat / 2], batc[repeat / 2], cold[repeat / 2], coldc[repeat / 2]);
	if (labels_csv != NULL && write_labels(labels_csv, out, n) < 0) {
		fprintf(stderr, "cannot write %s\n", labels_csv);
		return 73;
	}
	free(in);
	free(lat);
	free(out);
	free(tot);
	free(bat);
	free(batc);
	free(cold);
	free(coldc);
	free(res);
	an_cluster_batch_ws_free(ws);
	return 0;
}
