/*
 * analysis/tools/sim_framelog.c — `scentrack sim --run --frame-log FILE`: when each collar record's frame
 * reached the gateway's link, on the host's wall clock (CLOCK_REALTIME), so an end-to-end latency can be
 * measured against a browser on the same machine (its Date.now() is the same clock).
 *
 * The medium hands a delivered uplink frame to the pty's byte queue (sim_framelog_frame); the records it
 * carries are stamped once that queue has been written to the pty master in full (sim_framelog_flushed),
 * i.e. when the frame's last byte is in the gateway's tty. Only frames the medium delivered intact are
 * logged (a corrupted one is refused by the gateway); a retransmission logs the record again, so a reader
 * takes the first line per (collar, rec_seq). One line per record:
 *
 *   EPOCH_MS TYPE COLLAR REC_SEQ [completes=SEQ]
 *
 * EPOCH_MS with microseconds (e.g. 1765093412345.678), TYPE fix (a FIX or one fix of a FIXB) or ind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "an/array.h"
#include "proto/cobs.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "scentrack_cmd.h"

struct framelog_rec {
	uint8_t type; /* PROTO_T_FIX (also for FIXB members) or PROTO_T_IND */
	uint16_t collar;
	uint32_t rec_seq;
	uint32_t completes; /* IND: the earlier IND this one completes, 0 = none */
};

struct sim_framelog {
	FILE *f;
	struct framelog_rec *pend;
	size_t n_pend, cap_pend;
	uint64_t bad; /* frames that did not decode (never expected: the medium carries what collars wrote) */
};

int sim_framelog_open(const char *path, struct sim_framelog **out)
{
	struct sim_framelog *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->f = fopen(path, "ae");
	if (!l->f) {
		int e = errno;
		free(l);
		return -e;
	}
	*out = l;
	return 0;
}

static int push(struct sim_framelog *l, uint8_t type, uint16_t collar, uint32_t seq, uint32_t completes)
{
	if (an_array_grow((void **)&l->pend, &l->cap_pend, l->n_pend, 64, sizeof *l->pend))
		return -ENOMEM;
	l->pend[l->n_pend++] = (struct framelog_rec){type, collar, seq, completes};
	return 0;
}

int sim_framelog_frame(struct sim_framelog *l, const uint8_t *wire, size_t len)
{
	uint8_t raw[PROTO_FRAME_MAX + 8];
	size_t raw_len;
	struct proto_hdr h;
	const uint8_t *body;
	size_t body_len;
	if (!l || len < 3)
		return 0;
	/* the medium's frames are 0x00 COBS(frame) 0x00 */
	if (proto_cobs_decode(raw, sizeof raw, wire + 1, len - 2, &raw_len) != 0 ||
	    proto_frame_check(raw, raw_len, &h, &body, &body_len) != 0) {
		l->bad++;
		return 0;
	}
	if (h.type == PROTO_T_FIX) {
		struct proto_fix f;
		if (proto_fix_decode(body, body_len, &f, NULL) != 0) {
			l->bad++;
			return 0;
		}
		return push(l, PROTO_T_FIX, h.collar_id, f.rec_seq, 0);
	}
	if (h.type == PROTO_T_FIXB) {
		static struct proto_fixb fb; /* ~1 KiB: off the stack; the sim is single-threaded */
		if (proto_fixb_decode(body, body_len, &fb, NULL) != 0) {
			l->bad++;
			return 0;
		}
		for (unsigned i = 0; i < fb.n; i++) {
			int rc = push(l, PROTO_T_FIX, h.collar_id, fb.fix[i].rec_seq, 0);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (h.type == PROTO_T_IND) {
		struct proto_ind in;
		if (proto_ind_decode(body, body_len, &in, NULL) != 0) {
			l->bad++;
			return 0;
		}
		return push(l, PROTO_T_IND, h.collar_id, in.rec_seq,
		            (in.has & PROTO_IND_HAS_COMPLETES) ? in.completes : 0);
	}
	return 0;
}

void sim_framelog_flushed(struct sim_framelog *l, size_t still_queued)
{
	if (!l || l->n_pend == 0 || still_queued > 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	for (size_t i = 0; i < l->n_pend; i++) {
		const struct framelog_rec *r = &l->pend[i];
		fprintf(l->f, "%" PRIu64 ".%03u %s %u %" PRIu32, us / 1000u, (unsigned)(us % 1000u),
		        r->type == PROTO_T_IND ? "ind" : "fix", r->collar, r->rec_seq);
		if (r->completes)
			fprintf(l->f, " completes=%" PRIu32, r->completes);
		fputc('\n', l->f);
	}
	l->n_pend = 0;
	fflush(l->f);
}

void sim_framelog_close(struct sim_framelog *l)
{
	if (!l)
		return;
	if (l->bad)
		fprintf(stderr, "scentrack sim: frame log: %" PRIu64 " delivered frames did not decode\n", l->bad);
	fclose(l->f);
	free(l->pend);
	free(l);
}
