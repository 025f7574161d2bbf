/*
 * tests/gateway/bench_pipeline.c — throughput of validate + spool on one core, and IND commit latency.
 * Not a test (no pass/fail): a measurement tool. The spool is a file in DIR (default /var/tmp: on disk).
 *
 *   build/tests/gateway/gw_bench_pipeline [frames=200000] [fix|fixb] [DIR]
 *   BENCH_EARLY_COMMIT=1 [BENCH_COMMIT_GAP_MS=10] ...   (the early commits every [ack] every records)
 *
 * Throughput: `frames` FIX frames (or FIXB frames of 8 fixes) from 256 collars, pre-encoded, fed to
 * gw_pipeline_input in 4 KiB chunks (as reads from a serial port would deliver them) with the real clock,
 * default options (group commit <= 100 ms, FIX ACKs after it, every 4 durable records / 100 ms), the spool
 * fsynced on every commit (WAL, synchronous=FULL). Reported: frames/s and records/s, wall time includes the
 * final commit.
 * Latency: 2000 INDs one at a time, from handing the frame's last byte to the pipeline to the ACK leaving
 * it — the ACK is built only after the commit returned, so this is last byte → durable commit (+ ACK
 * encode, a few µs). p50/p99/max.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw/loop.h"
#include "gw/pipeline.h"
#include "gw/spool.h"
#include "gw_sim.h"

#define NCOL 256u

static uint64_t acks, last_ack_ns;

static uint64_t ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* CPU time of this process (user + system): on a loaded machine wall time mostly measures the neighbours. */
static uint64_t cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int on_ack(void *arg, unsigned link, const uint8_t *w, size_t n)
{
	(void)arg;
	(void)link;
	(void)w;
	(void)n;
	acks++;
	last_ack_ns = ns();
	return 0;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned frames = argc > 1 ? (unsigned)atoi(argv[1]) : 200000u;
	int fixb = argc > 2 && !strcmp(argv[2], "fixb");
	const char *dir = argc > 3 ? argv[3] : "/var/tmp";
	char path[512];
	snprintf(path, sizeof path, "%s/gw_bench.%d.sqlite", dir, (int)getpid());

	struct gw_spool *s;
	struct gw_spool_opts so = {path, 1, 0};
	if (gw_spool_open(&s, &so) < 0)
		return 1;
	struct gw_pipeline *p;
	struct gw_pipeline_opts o = GW_PIPELINE_OPTS_INIT;
	/* BENCH_ACK_EVERY=64 BENCH_COMMIT_GAP_MS=100: only the 100 ms group commit, no early commits for ACKs. */
	if (getenv("BENCH_ACK_EVERY"))
		o.ack_every = (unsigned)atoi(getenv("BENCH_ACK_EVERY"));
	if (getenv("BENCH_COMMIT_GAP_MS"))
		o.commit_gap_ms = (unsigned)atoi(getenv("BENCH_COMMIT_GAP_MS"));
	if (getenv("BENCH_COMMIT_MAX"))
		o.commit_max = (unsigned)atoi(getenv("BENCH_COMMIT_MAX"));
	if (getenv("BENCH_EARLY_COMMIT"))
		o.early_commit = (uint8_t)atoi(getenv("BENCH_EARLY_COMMIT"));
	if (gw_pipeline_new(&p, s, &o, on_ack, NULL) < 0)
		return 1;
	static struct sim_collar col[NCOL];
	for (unsigned c = 0; c < NCOL; c++) {
		sim_init(&col[c], (uint16_t)(1 + c), 1);
		if (gw_pipeline_collar_add(p, col[c].id, col[c].key) < 0)
			return 1;
	}
	if (gw_pipeline_restore(p) < 0)
		return 1;

	/* Pre-encode the wire stream. */
	size_t cap = (size_t)frames * (fixb ? 200u : 90u);
	uint8_t *wire = malloc(cap);
	size_t len = 0;
	uint32_t seq[NCOL];
	for (unsigned c = 0; c < NCOL; c++)
		seq[c] = 1;
	unsigned per = fixb ? 8u : 1u;
	for (unsigned i = 0; i < frames; i++) {
		unsigned c = i % NCOL;
		int n = fixb ? sim_fixb_frame(&col[c], seq[c], per, wire + len, cap - len)
		             : sim_fix_frame(&col[c], seq[c], wire + len, cap - len);
		if (n < 0) {
			fprintf(stderr, "encode %d\n", n);
			return 1;
		}
		seq[c] += per;
		len += (size_t)n;
	}

	uint64_t t0 = ns(), c0 = cpu_ns();
	for (size_t off = 0; off < len; off += 4096) {
		size_t n = len - off < 4096 ? len - off : 4096;
		struct gw_now now = {gw_clock_mono_ms(), gw_clock_utc_ms()};
		gw_pipeline_input(p, 0, wire + off, n, NULL, &now);
	}
	struct gw_now now = {gw_clock_mono_ms(), gw_clock_utc_ms()};
	gw_pipeline_flush(p, &now);
	uint64_t t1 = ns(), c1 = cpu_ns();
	const struct gw_pipeline_totals *t = gw_pipeline_totals(p);
	double sec = (double)(t1 - t0) / 1e9;
	printf("%s: %u frames (%.1f MB on the wire), %llu records in %.3f s: %.0f frames/s, %.0f records/s, "
	       "%llu commits, %llu ACK frames\n",
	       fixb ? "FIXB x8" : "FIX", frames, (double)len / 1e6, (unsigned long long)t->records, sec,
	       (double)t->frames_ok / sec, (double)t->records / sec, (unsigned long long)t->commits,
	       (unsigned long long)acks);
	if (t->frames_ok != frames || t->records != (uint64_t)frames * per) {
		fprintf(stderr, "lost frames: ok %llu records %llu\n", (unsigned long long)t->frames_ok,
		        (unsigned long long)t->records);
		return 1;
	}

	/* The upstream's share: every spooled record formed into BATCH bodies exactly as gw_up asks for them
	 * (gw_spool_batch after the acked mark), each acked at once by a core that is never the bottleneck
	 * (gw_spool_acked persists the mark and trims). No network: the gateway's CPU and disk only. */
	static uint8_t bbody[PROTO_BATCH_BODY_MAX];
	uint64_t acked = 0, nb = 0, b0 = ns(), cb0 = cpu_ns();
	for (;;) {
		size_t blen;
		uint64_t gs;
		int r = gw_spool_batch(s, acked, bbody, sizeof bbody, &blen, &gs);
		if (r < 0) {
			fprintf(stderr, "gw_spool_batch: %d\n", r);
			return 1;
		}
		if (r == 0)
			break;
		if (gw_spool_acked(s, gs) < 0)
			return 1;
		acked = gs;
		nb++;
	}
	/* gw_spool_acked trims at most once a second (the daemon's steady state deletes every record once): the
	 * rows this short run left behind are deleted here, inside the timed phase, so the figure carries the
	 * whole cost of a record from the radio to its trim. */
	int trimmed = gw_spool_trim(s);
	if (trimmed < 0) {
		fprintf(stderr, "gw_spool_trim: %d\n", trimmed);
		return 1;
	}
	uint64_t b1 = ns(), cb1 = cpu_ns();
	double bsec = (double)(b1 - b0) / 1e9;
	double cpu_in = (double)(c1 - c0) / 1e9, cpu_up = (double)(cb1 - cb0) / 1e9;
	printf("upstream: %llu BATCHes formed and acked, %d rows trimmed at the end, in %.3f s (%.0f records/s); "
	       "validate + spool + upstream: %.0f frames/s wall\n",
	       (unsigned long long)nb, trimmed, bsec, (double)t->records / bsec, (double)t->frames_ok / (sec + bsec));
	printf("CPU time (one core): validate + spool %.3f s, upstream %.3f s: %.0f frames per CPU-second through "
	       "validate + spool + upstream\n",
	       cpu_in, cpu_up, (double)t->frames_ok / (cpu_in + cpu_up));

	/* IND latency: one at a time. */
	enum { NLAT = 2000 };
	static uint64_t lat[NLAT];
	uint8_t w[PROTO_WIRE_MAX];
	for (unsigned i = 0; i < NLAT; i++) {
		unsigned c = i % NCOL;
		int n = sim_ind_frame(&col[c], seq[c]++, w, sizeof w);
		uint64_t before = acks;
		struct gw_now nw = {gw_clock_mono_ms(), gw_clock_utc_ms()};
		uint64_t a = ns();
		gw_pipeline_input(p, 0, w, (size_t)n, NULL, &nw);
		if (acks == before) {
			fprintf(stderr, "IND not ACKed at once\n");
			return 1;
		}
		lat[i] = last_ack_ns - a;
	}
	qsort(lat, NLAT, sizeof lat[0], cmp);
	printf("IND last byte -> committed + ACK built: p50 %.3f ms, p99 %.3f ms, max %.3f ms (n=%d)\n",
	       (double)lat[NLAT / 2] / 1e6, (double)lat[NLAT * 99 / 100] / 1e6, (double)lat[NLAT - 1] / 1e6, NLAT);
	gw_pipeline_free(p);
	gw_spool_close(s);
	unlink(path);
	free(wire);
	return 0;
}
