/*
 * tests/gateway/up_gen.h — deterministic BATCH generator shared by the upstream/ingest tests and the
 * process-test programs (test code only, header-only).
 *
 * Batch gw_seq (1-based) of gateway gw_id holds records g = (gw_seq-1)*per .. gw_seq*per-1, where record g
 * is a FIX of collar 1 + g % UPGEN_COLLARS with rec_seq g / UPGEN_COLLARS, a UTC time and a position that
 * depend only on g, and a 48-byte raw frame. So every batch is byte-identical whenever it is rebuilt (the
 * spool's contract), and the expected store content of N batches is known exactly: N*per records,
 * (collar_id, rec_seq) all distinct.
 */
#ifndef UP_GEN_H
#define UP_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

#define UPGEN_COLLARS 8u
#define UPGEN_T0_MS 1700000000000ull
#define UPGEN_RAW_LEN 48u

static inline void upgen_collar_seq(uint64_t g, uint16_t *collar_id, uint32_t *rec_seq)
{
	*collar_id = (uint16_t)(1u + g % UPGEN_COLLARS);
	*rec_seq = (uint32_t)(g / UPGEN_COLLARS);
}

/* Encode batch gw_seq into body. b is scratch (several KB; caller-owned). Returns proto's code. */
static inline int upgen_batch(struct proto_batch *b, uint8_t raw[PROTO_BATCH_RECS_MAX][UPGEN_RAW_LEN],
                              uint16_t gw_id, uint64_t gw_seq, unsigned per, uint8_t *body, size_t cap,
                              size_t *len)
{
	memset(b, 0, sizeof *b);
	b->gw_id = gw_id;
	b->gw_seq = gw_seq;
	b->n = (uint8_t)per;
	for (unsigned i = 0; i < per; i++) {
		uint64_t g = (gw_seq - 1) * per + i;
		struct proto_batch_rec *r = &b->rec[i];
		upgen_collar_seq(g, &r->collar_id, &r->rec_seq);
		r->type = PROTO_T_FIX;
		r->has = PROTO_REC_HAS_SEQ | PROTO_REC_HAS_RSSI | PROTO_REC_HAS_RAW;
		r->rx_ms = UPGEN_T0_MS + g * 250u + 40u;
		r->link = 0;
		r->rssi_dbm = (int16_t)(-60 - (int)(g % 40));
		for (unsigned k = 0; k < UPGEN_RAW_LEN; k++)
			raw[i][k] = (uint8_t)(g * 31u + k * 7u + 1u);
		r->raw.p = raw[i];
		r->raw.len = UPGEN_RAW_LEN;
		struct proto_fix *f = &r->m.fix;
		f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q;
		f->rec_seq = r->rec_seq;
		f->t_ms = UPGEN_T0_MS + g * 250u;
		f->lat_e7 = -259000000 + (int32_t)(g % 100000u) * 3;
		f->lon_e7 = 327000000 + (int32_t)(g % 77777u) * 5;
		f->hdop_c = (uint16_t)(80u + g % 50u);
		f->h_acc_mm = (uint32_t)(1500u + g % 900u);
		f->gga_q = 1;
	}
	return proto_batch_encode(b, body, cap, len);
}

#endif
