/*
 * proto_bench — the figures the foundation issue asks for, measured on this machine.
 *
 *  1. Verified decode throughput: deframe + COBS + CRC-32C + HMAC-SHA256 tag + msgpack pre-validation +
 *     decode + field validation, for typical FIX frames, in frames/s on one core (median of runs).
 *  2. Bytes on air: one FIX frame, and the per-fix cost of FIXB batches of 4 and 8 fixes from a walking
 *     animal at 1 Hz (tag, CRC, COBS and both delimiters included).
 *
 * Usage: proto_bench [frames_per_run] [runs] [--portable]   (defaults 200000 and 7)
 *        --portable: use the portable SHA-256 even where the CPU has SHA extensions (a gateway on an
 *        older CPU, and the collar's code path)
 * Not a test: it prints figures; docs/testing.md says how to read them.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/err.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "samples.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static size_t wire_len_of(const struct proto_msg *m, const struct proto_hmac_key *key)
{
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t bl, wl;
	struct proto_hdr h = {.type = m->type, .collar_id = SAMPLE_COLLAR, .link_seq = 1, .boot_id = SAMPLE_BOOT};
	if (proto_msg_encode(m, body, sizeof body, &bl) != 0 || proto_frame_encode(&h, body, bl, key, wire, sizeof wire, &wl) != 0) {
		fprintf(stderr, "encode failed\n");
		exit(1);
	}
	return wl;
}

void proto__sha256_force_portable(int on);

int main(int argc, char **argv)
{
	size_t frames = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	int runs = argc > 2 ? atoi(argv[2]) : 7;
	int portable = argc > 3 && strcmp(argv[3], "--portable") == 0;
	proto__sha256_force_portable(portable);
	uint8_t kb[32];
	sample_key(kb);
	struct proto_hmac_key key;
	proto_hmac_init(&key, kb, sizeof kb);

	/* A stream of distinct FIX frames from a walking animal (every frame differs, as on a real link). */
	enum { DISTINCT = 4096 };
	static struct proto_fix walk[DISTINCT];
	sample_walk(walk, DISTINCT, 1);
	uint8_t *stream = malloc((size_t)DISTINCT * PROTO_WIRE_MAX);
	if (!stream)
		return 1;
	size_t slen = 0;
	for (size_t i = 0; i < DISTINCT; i++) {
		struct proto_msg m = {.type = PROTO_T_FIX};
		m.u.fix = walk[i];
		uint8_t body[PROTO_BODY_MAX];
		size_t bl, wl;
		struct proto_hdr h = {.type = PROTO_T_FIX, .collar_id = SAMPLE_COLLAR, .link_seq = (uint16_t)i,
		                      .boot_id = SAMPLE_BOOT};
		if (proto_msg_encode(&m, body, sizeof body, &bl) != 0 ||
		    proto_frame_encode(&h, body, bl, &key, stream + slen, PROTO_WIRE_MAX, &wl) != 0)
			return 1;
		slen += wl;
	}

	double *rate = calloc((size_t)runs, sizeof *rate);
	uint64_t checksum = 0;
	for (int r = 0; r < runs; r++) {
		size_t done = 0;
		double t0 = now_s();
		while (done < frames) {
			struct proto_deframer d;
			proto_deframer_init(&d);
			size_t off = 0;
			while (off < slen && done < frames) {
				uint8_t f[PROTO_FRAME_MAX];
				size_t used, fl;
				int rc = proto_deframer_push(&d, stream + off, slen - off, &used, f, sizeof f, &fl);
				off += used;
				if (rc != 1)
					continue;
				struct proto_hdr h;
				const uint8_t *body;
				size_t bl;
				struct proto_fix fix;
				if (proto_frame_check(f, fl, &h, &body, &bl) != 0 || proto_frame_verify(f, fl, &key) != 0 ||
				    proto_fix_decode(body, bl, &fix, NULL) != 0) {
					fprintf(stderr, "a good frame was refused\n");
					return 1;
				}
				checksum += (uint64_t)fix.lat_e7;
				done++;
			}
		}
		rate[r] = (double)done / (now_s() - t0);
	}
	qsort(rate, (size_t)runs, sizeof *rate, cmp_double);
	printf("verified FIX decode (deframe+COBS+CRC+HMAC+prevalidate+decode+validate), one core, %s SHA-256:\n",
	       portable ? "portable" : "fastest available");
	printf("  median %.0f frames/s (min %.0f, max %.0f) over %d runs of %zu frames; mean frame %.1f B on the wire"
	       " [checksum %llu]\n",
	       rate[runs / 2], rate[0], rate[runs - 1], runs, frames, (double)slen / DISTINCT,
	       (unsigned long long)checksum);

	struct proto_msg m = {.type = PROTO_T_FIX};
	m.u.fix = walk[10];
	size_t one = wire_len_of(&m, &key);
	printf("bytes on air (frame incl. 2 delimiters, COBS, 8 B tag, 4 B CRC):\n");
	printf("  single FIX: %zu B\n", one);
	for (unsigned n = 4; n <= 8; n += 4) {
		/* Average over many batches along the walk so one lucky batch does not decide the figure. */
		size_t total = 0, batches = 0;
		for (size_t s = 0; s + n <= DISTINCT; s += n, batches++) {
			struct proto_msg b = {.type = PROTO_T_FIXB};
			b.u.fixb.n = (uint8_t)n;
			memcpy(b.u.fixb.fix, walk + s, n * sizeof walk[0]);
			total += wire_len_of(&b, &key);
		}
		printf("  FIXB of %u: mean %.1f B per frame, %.2f B per fix (over %zu batches)\n", n,
		       (double)total / (double)batches, (double)total / (double)(batches * n), batches);
	}
	free(rate);
	free(stream);
	return 0;
}
