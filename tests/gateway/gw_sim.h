/*
 * tests/gateway/gw_sim.h — a simulated collar for gateway tests: builds FIX/FIXB/IND/HELLO/STATUS frames
 * with proto/ exactly as a collar would, and reads the gateway's ACK frames back (tag verified).
 * Header-only (static functions) so unit tests and the process-test harness share it.
 */
#ifndef GW_SIM_H
#define GW_SIM_H

#include <stdint.h>
#include <string.h>

#include "proto/err.h"
#include "proto/frame.h"
#include "proto/hmac.h"
#include "proto/msg.h"

struct sim_collar {
	uint16_t id;
	uint8_t key[PROTO_KEY_LEN];
	struct proto_hmac_key hk;
	uint16_t boot_id;
	uint16_t link_seq;
};

/* Deterministic per-collar test key (never a real key). */
static inline void sim_key(uint16_t id, uint8_t key[PROTO_KEY_LEN])
{
	for (unsigned i = 0; i < PROTO_KEY_LEN; i++)
		key[i] = (uint8_t)(id * 31u + i * 7u + 1u);
}

static inline void sim_init(struct sim_collar *c, uint16_t id, uint16_t boot_id)
{
	memset(c, 0, sizeof *c);
	c->id = id;
	c->boot_id = boot_id;
	sim_key(id, c->key);
	proto_hmac_init(&c->hk, c->key, sizeof c->key);
}

static inline void sim_fix(uint16_t id, uint32_t rec_seq, struct proto_fix *f)
{
	memset(f, 0, sizeof *f);
	f->rec_seq = rec_seq;
	f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_Q;
	f->t_ms = 1718000000000ull + rec_seq * 1000ull + id;
	f->lat_e7 = -259000000 + (int32_t)(rec_seq * 13u) + id;
	f->lon_e7 = 327000000 + (int32_t)(rec_seq * 7u) - id;
	f->hdop_c = 90;
	f->nsat = 11;
	f->gga_q = 1;
}

/* Seal body as a frame of type; flags adds ACKREQ etc.; key NULL = no tag. Returns wire length or < 0. */
static inline int sim_seal(struct sim_collar *c, uint8_t type, uint8_t flags, const uint8_t *body, size_t blen,
                           int with_key, uint8_t *wire, size_t cap)
{
	struct proto_hdr h = {flags, type, c->id, c->link_seq++, c->boot_id};
	size_t wl;
	int err = proto_frame_encode(&h, body, blen, with_key ? &c->hk : NULL, wire, cap, &wl);
	return err < 0 ? err : (int)wl;
}

static inline int sim_fix_frame(struct sim_collar *c, uint32_t rec_seq, uint8_t *wire, size_t cap)
{
	struct proto_fix f;
	uint8_t body[PROTO_BODY_MAX];
	size_t bl;
	sim_fix(c->id, rec_seq, &f);
	int err = proto_fix_encode(&f, body, sizeof body, &bl);
	return err < 0 ? err : sim_seal(c, PROTO_T_FIX, 0, body, bl, 1, wire, cap);
}

static inline int sim_fixb_frame(struct sim_collar *c, uint32_t first_seq, unsigned n, uint8_t *wire, size_t cap)
{
	struct proto_fix f[PROTO_FIXB_MAX];
	uint8_t body[PROTO_BODY_MAX];
	size_t bl, used;
	for (unsigned i = 0; i < n; i++)
		sim_fix(c->id, first_seq + i, &f[i]);
	int err = proto_fixb_encode_fit(f, n, body, sizeof body, &bl, &used);
	if (err < 0)
		return err;
	if (used != n)
		return PROTO_ENOBUFS;
	return sim_seal(c, PROTO_T_FIXB, 0, body, bl, 1, wire, cap);
}

static inline int sim_ind_frame(struct sim_collar *c, uint32_t rec_seq, uint8_t *wire, size_t cap)
{
	struct proto_ind in = {0};
	uint8_t body[PROTO_BODY_MAX];
	size_t bl;
	in.rec_seq = rec_seq;
	in.has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_CONF;
	in.t_ms = 1718000000000ull + rec_seq * 1000ull;
	in.kind = PROTO_IND_SCRATCH;
	in.src = PROTO_SRC_CLASSIFIER;
	in.lat_e7 = -259000000;
	in.lon_e7 = 327000000;
	in.conf_pct = 87;
	int err = proto_ind_encode(&in, body, sizeof body, &bl);
	return err < 0 ? err : sim_seal(c, PROTO_T_IND, 0, body, bl, 1, wire, cap);
}

static inline int sim_hello_frame(struct sim_collar *c, uint32_t oldest, uint32_t next, uint8_t *wire, size_t cap)
{
	struct proto_hello h = {0};
	uint8_t body[PROTO_BODY_MAX];
	size_t bl;
	memcpy(h.fw, "sim-1.0", 8);
	h.schema = PROTO_SCHEMA_VERSION;
	h.boot_id = c->boot_id;
	h.oldest_seq = oldest;
	h.next_seq = next;
	h.caps = PROTO_CAP_FIXB;
	h.has = PROTO_HELLO_HAS_BATT;
	h.batt_mv = 3900;
	int err = proto_hello_encode(&h, body, sizeof body, &bl);
	return err < 0 ? err : sim_seal(c, PROTO_T_HELLO, 0, body, bl, 1, wire, cap);
}

static inline int sim_status_frame(struct sim_collar *c, uint16_t batt_mv, uint8_t *wire, size_t cap)
{
	struct proto_status s = {0};
	uint8_t body[PROTO_BODY_MAX];
	size_t bl;
	s.has = PROTO_STATUS_HAS_BATT;
	s.batt_mv = batt_mv;
	s.backlog = 3;
	s.tx_frames = 100;
	int err = proto_status_encode(&s, body, sizeof body, &bl);
	return err < 0 ? err : sim_seal(c, PROTO_T_STATUS, 0, body, bl, 1, wire, cap);
}

/* Parse one unstuffed frame as an ACK for this collar. 0 ok, < 0 proto error. */
static inline int sim_ack_parse(const struct sim_collar *c, const uint8_t *frame, size_t len, struct proto_ack *a,
                                struct proto_hdr *hdr)
{
	const uint8_t *body;
	size_t bl;
	int err = proto_frame_check(frame, len, hdr, &body, &bl);
	if (err < 0)
		return err;
	if (hdr->type != PROTO_T_ACK || hdr->collar_id != c->id)
		return PROTO_EFRAME_TYPE;
	if ((err = proto_frame_verify(frame, len, &c->hk)) < 0)
		return err;
	return proto_ack_decode(body, bl, a, NULL);
}

/* Is rec_seq covered by the ACK? */
static inline int sim_acked(const struct proto_ack *a, uint32_t seq)
{
	if (seq <= a->cum)
		return 1;
	uint64_t d = (uint64_t)seq - a->cum - 1u;
	return d < 64u && (a->sack >> d & 1u);
}

#endif
