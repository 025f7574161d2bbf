/*
 * tests/proto/interop/msg_gen.h — seeded random messages of every type, for the round-trip tests
 * (msg_test.c) and the python-msgpack interop tool (msgtool.c). Header-only, test code only.
 *
 * Every generated struct obeys the protocol's rules (ranges, enums, cross-field rules), picks a random
 * subset of optional fields, and leaves absent members and padding zero (the decoder does the same), so
 * round-trip equality is a plain memcmp except for borrowed byte pointers.
 */
#ifndef MSG_GEN_H
#define MSG_GEN_H

#include <stdint.h>
#include <string.h>

#include "proto/msg.h"

struct gen {
	uint64_t s;
	uint8_t pool[4096]; /* backing bytes for LOG_DATA records and BATCH raw frames (borrowed pointers) */
};

static inline uint64_t gen_u64(struct gen *g)
{
	/* splitmix64: tiny, good enough, and identical on every platform */
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline void gen_init(struct gen *g, uint64_t seed)
{
	g->s = seed;
	for (size_t k = 0; k < sizeof g->pool; k++)
		g->pool[k] = (uint8_t)gen_u64(g);
}

static inline int gen_coin(struct gen *g, unsigned pct)
{
	return gen_u64(g) % 100u < pct;
}

/* Uniform in [lo, hi], but a third of the time an edge value or a small one, so that every msgpack
 * integer width and every range boundary is exercised. */
static inline int64_t gen_range(struct gen *g, int64_t lo, int64_t hi)
{
	uint64_t span = (uint64_t)hi - (uint64_t)lo;
	switch (gen_u64(g) % 9u) {
	case 0: return lo;
	case 1: return hi;
	case 2: {
		int64_t v = (int64_t)(gen_u64(g) % 300u) - 150;
		if (v >= lo && v <= hi)
			return v;
		return lo;
	}
	default:
		if (span == UINT64_MAX)
			return (int64_t)gen_u64(g);
		return (int64_t)((uint64_t)lo + gen_u64(g) % (span + 1u));
	}
}

static inline uint64_t gen_urange(struct gen *g, uint64_t lo, uint64_t hi)
{
	if (lo == 0 && hi == UINT64_MAX) {
		switch (gen_u64(g) % 4u) {
		case 0: return 0;
		case 1: return UINT64_MAX;
		case 2: return gen_u64(g) % 1000u;
		default: return gen_u64(g);
		}
	}
	return (uint64_t)gen_range(g, (int64_t)lo, (int64_t)hi);
}

static inline uint32_t gen_enum(struct gen *g, const struct proto_field_desc *d)
{
	size_t n = 0;
	while (d->enums[n].name)
		n++;
	return d->enums[gen_u64(g) % n].value;
}

/* Any valid value for an integer field row. */
static inline uint64_t gen_field_bits(struct gen *g, const struct proto_field_desc *d)
{
	switch (d->kind) {
	case PROTO_FK_ENUM: return gen_enum(g, d);
	case PROTO_FK_FLAGS: return gen_u64(g) & d->max;
	case PROTO_FK_INT: return (uint64_t)gen_range(g, d->min, (int64_t)d->max);
	default: return gen_urange(g, (uint64_t)d->min, d->max);
	}
}

static inline void gen_store(void *st, const struct proto_field_desc *d, uint64_t bits)
{
	uint8_t *p = (uint8_t *)st + d->off;
	uint8_t v8 = (uint8_t)bits;
	uint16_t v16 = (uint16_t)bits;
	uint32_t v32 = (uint32_t)bits;
	switch (d->size) {
	case 1: memcpy(p, &v8, 1); break;
	case 2: memcpy(p, &v16, 2); break;
	case 4: memcpy(p, &v32, 4); break;
	default: memcpy(p, &bits, 8); break;
	}
}

static inline uint64_t gen_load(const void *st, const struct proto_field_desc *d)
{
	const uint8_t *p = (const uint8_t *)st + d->off;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	switch (d->size) {
	case 1: memcpy(&v8, p, 1); return d->kind == PROTO_FK_INT ? (uint64_t)(int64_t)(int8_t)v8 : v8;
	case 2: memcpy(&v16, p, 2); return d->kind == PROTO_FK_INT ? (uint64_t)(int64_t)(int16_t)v16 : v16;
	case 4: memcpy(&v32, p, 4); return d->kind == PROTO_FK_INT ? (uint64_t)(int64_t)(int32_t)v32 : v32;
	default: memcpy(&v64, p, 8); return v64;
	}
}

static inline int gen_is_int(const struct proto_field_desc *d)
{
	return d->kind == PROTO_FK_UINT || d->kind == PROTO_FK_INT || d->kind == PROTO_FK_ENUM ||
	       d->kind == PROTO_FK_FLAGS;
}

/* Fill every integer field of a flat struct: required always, optional with probability pct.
 * Cross-field rules are applied afterwards by the per-type generator. */
static inline void gen_flat(struct gen *g, unsigned type, void *st, unsigned pct)
{
	size_t nf;
	const struct proto_field_desc *f = proto_msg_fields(type, &nf);
	uint32_t has = 0;
	for (size_t k = 0; k < nf; k++) {
		if (!gen_is_int(&f[k]))
			continue;
		if (!f[k].required && !gen_coin(g, pct))
			continue;
		gen_store(st, &f[k], gen_field_bits(g, &f[k]));
		if (!f[k].required)
			has |= 1u << f[k].key;
	}
	memcpy(st, &has, sizeof has);
}

/* Zero the members of absent optional integer fields (a decoded struct has them zero). */
static inline void gen_norm(unsigned type, void *st)
{
	size_t nf;
	const struct proto_field_desc *f = proto_msg_fields(type, &nf);
	uint32_t has;
	memcpy(&has, st, sizeof has);
	for (size_t k = 0; k < nf; k++)
		if (gen_is_int(&f[k]) && !f[k].required && !(has & (1u << f[k].key)))
			gen_store(st, &f[k], 0);
}

static inline void gen_fix(struct gen *g, struct proto_fix *f)
{
	memset(f, 0, sizeof *f);
	gen_flat(g, PROTO_T_FIX, f, 50);
	f->has &= ~(PROTO_FIX_HAS_T | PROTO_FIX_HAS_TMONO);
	f->has |= gen_coin(g, 70) ? PROTO_FIX_HAS_T : PROTO_FIX_HAS_TMONO;
	if (!(f->has & PROTO_FIX_HAS_T))
		f->has &= ~PROTO_FIX_HAS_TQ;
	if (f->has & PROTO_FIX_HAS_T)
		f->t_ms = gen_urange(g, PROTO_UTC_MS_MIN, PROTO_UTC_MS_MAX);
	else
		f->t_mono_ms = (uint32_t)gen_u64(g);
	gen_norm(PROTO_T_FIX, f);
}

static inline void gen_ind(struct gen *g, struct proto_ind *e)
{
	memset(e, 0, sizeof *e);
	gen_flat(g, PROTO_T_IND, e, 50);
	e->has &= ~(PROTO_IND_HAS_T | PROTO_IND_HAS_TMONO | PROTO_IND_HAS_POS);
	e->has |= gen_coin(g, 70) ? PROTO_IND_HAS_T : PROTO_IND_HAS_TMONO;
	if (e->has & PROTO_IND_HAS_T)
		e->t_ms = gen_urange(g, PROTO_UTC_MS_MIN, PROTO_UTC_MS_MAX);
	else
		e->t_mono_ms = (uint32_t)gen_u64(g);
	if (gen_coin(g, 70))
		e->has |= PROTO_IND_HAS_POS;
	else
		e->has &= ~PROTO_IND_HAS_HACC;
	if (e->rec_seq == 0)
		e->has &= ~PROTO_IND_HAS_FIXREF;
	else if (e->has & PROTO_IND_HAS_FIXREF)
		e->fix_ref = (uint32_t)(gen_u64(g) % e->rec_seq);
	if (e->rec_seq <= 1)
		e->has &= ~PROTO_IND_HAS_COMPLETES;
	else if (e->has & PROTO_IND_HAS_COMPLETES)
		e->completes = 1u + (uint32_t)(gen_u64(g) % (e->rec_seq - 1u));
	gen_norm(PROTO_T_IND, e);
}

static inline void gen_hello(struct gen *g, struct proto_hello *h)
{
	memset(h, 0, sizeof *h);
	gen_flat(g, PROTO_T_HELLO, h, 50);
	size_t n = 1 + gen_u64(g) % PROTO_HELLO_FW_MAX;
	for (size_t k = 0; k < n; k++)
		h->fw[k] = (char)(0x20 + gen_u64(g) % 95u);
	if (h->oldest_seq > h->next_seq) {
		uint32_t t = h->oldest_seq;
		h->oldest_seq = h->next_seq;
		h->next_seq = t;
	}
	if (h->next_seq <= 1)
		h->has &= ~PROTO_HELLO_HAS_ACKCUM;
	else if (h->has & PROTO_HELLO_HAS_ACKCUM)
		h->ack_cum = 1u + (uint32_t)(gen_u64(g) % (h->next_seq - 1u));
	gen_norm(PROTO_T_HELLO, h);
}

static inline void gen_cmd(struct gen *g, struct proto_cmd *c)
{
	memset(c, 0, sizeof *c);
	gen_flat(g, PROTO_T_CMD, c, 100);
	switch (c->op) {
	case PROTO_OP_SET_RATE: c->has = PROTO_CMD_HAS_PERIOD; break;
	case PROTO_OP_SET_MODE: c->has = PROTO_CMD_HAS_MODE; break;
	case PROTO_OP_TIME_SET: c->has = PROTO_CMD_HAS_UTC; break;
	case PROTO_OP_ERASE_ACKED: c->has = PROTO_CMD_HAS_UPTO; break;
	default: c->has = 0; break;
	}
	gen_norm(PROTO_T_CMD, c);
}

/* A plausible walk of n fixes: steady time steps, position drifting, some fields coming and going.
 * One walk in five instead draws every fix independently (arbitrary valid values: extreme deltas). */
static inline void gen_fix_walk(struct gen *g, struct proto_fix *fx, size_t n)
{
	gen_fix(g, &fx[0]);
	if (fx[0].rec_seq > UINT32_MAX - 20000000u) /* room for 15 steps of up to 2^20 */
		fx[0].rec_seq -= 20000000u;
	int wild = gen_coin(g, 20);
	for (size_t i = 1; i < n; i++) {
		struct proto_fix *f = &fx[i];
		uint32_t step = gen_coin(g, 80) ? 1u : 1u + (uint32_t)(gen_u64(g) % (wild ? 1048576u : 1000u));
		if (wild) {
			gen_fix(g, f);
			f->rec_seq = fx[i - 1].rec_seq + step;
			continue;
		}
		memcpy(f, &fx[i - 1], sizeof *f);
		f->rec_seq += step;
		if (f->has & PROTO_FIX_HAS_T && f->t_ms < PROTO_UTC_MS_MAX - 100000u)
			f->t_ms += 1000u + (uint64_t)(gen_u64(g) % 3u) - 1u;
		if (f->has & PROTO_FIX_HAS_TMONO && f->t_mono_ms < UINT32_MAX - 100000u)
			f->t_mono_ms += 1000u;
		if (gen_coin(g, 10)) { /* clock becomes valid or is lost */
			f->has ^= PROTO_FIX_HAS_T | PROTO_FIX_HAS_TMONO;
			f->has &= ~PROTO_FIX_HAS_TQ;
			f->t_ms = (f->has & PROTO_FIX_HAS_T) ? gen_urange(g, PROTO_UTC_MS_MIN, PROTO_UTC_MS_MAX) : 0;
			f->t_mono_ms = (f->has & PROTO_FIX_HAS_TMONO) ? (uint32_t)gen_u64(g) : 0;
		}
		int64_t lat = f->lat_e7 + (int64_t)(gen_u64(g) % 401u) - 200;
		int64_t lon = f->lon_e7 + (int64_t)(gen_u64(g) % 401u) - 200;
		f->lat_e7 = (int32_t)(lat > 900000000 ? 900000000 : lat < -900000000 ? -900000000 : lat);
		f->lon_e7 = (int32_t)(lon > 1800000000 ? 1800000000 : lon < -1800000000 ? -1800000000 : lon);
		if (f->has & PROTO_FIX_HAS_COG) /* wraps through north now and then */
			f->cog_cdeg = (uint16_t)((f->cog_cdeg + 36000u + gen_u64(g) % 2001u - 1000u) % 36000u);
		if (gen_coin(g, 15)) { /* an optional field appears or disappears */
			const struct proto_field_desc *d =
				proto_msg_field(PROTO_T_FIX, PROTO_FIX_K_ALT + (int64_t)(gen_u64(g) % 9u));
			f->has ^= 1u << d->key;
			gen_store(f, d, (f->has & (1u << d->key)) ? gen_field_bits(g, d) : 0);
		}
		if ((f->has & PROTO_FIX_HAS_ALT) && gen_coin(g, 50))
			f->alt_mm = (int32_t)gen_range(g, -1000000, 20000000);
		gen_norm(PROTO_T_FIX, f);
	}
}

static inline struct proto_bytes gen_bytes(struct gen *g, size_t lo, size_t hi)
{
	size_t len = lo + (size_t)(gen_u64(g) % (hi - lo + 1u));
	size_t off = (size_t)(gen_u64(g) % (sizeof g->pool - len + 1u));
	struct proto_bytes b = {g->pool + off, (uint16_t)len};
	return b;
}

static inline void gen_batch_rec(struct gen *g, struct proto_batch *b, size_t i)
{
	struct proto_batch_rec *r = &b->rec[i];
	static const uint8_t types[] = {PROTO_T_FIX, PROTO_T_IND, PROTO_T_STATUS, PROTO_T_HELLO, PROTO_T_CMD_ACK};
	memset(r, 0, sizeof *r);
	gen_flat(g, PROTO_T_BATCH_REC, r, 50);
	r->type = types[gen_u64(g) % sizeof types];
	r->has &= ~(PROTO_REC_HAS_SEQ | PROTO_REC_HAS_RAW | PROTO_REC_HAS_RAWREF);
	switch (r->type) {
	case PROTO_T_FIX:
		gen_fix(g, &r->m.fix);
		r->rec_seq = r->m.fix.rec_seq;
		r->has |= PROTO_REC_HAS_SEQ;
		break;
	case PROTO_T_IND:
		gen_ind(g, &r->m.ind);
		r->rec_seq = r->m.ind.rec_seq;
		r->has |= PROTO_REC_HAS_SEQ;
		break;
	case PROTO_T_STATUS:
		gen_flat(g, PROTO_T_STATUS, &r->m.status, 50);
		break;
	case PROTO_T_HELLO:
		gen_hello(g, &r->m.hello);
		break;
	default:
		gen_flat(g, PROTO_T_CMD_ACK, &r->m.cmd_ack, 50);
		if (r->m.cmd_ack.result != PROTO_RES_IN_PROGRESS)
			r->m.cmd_ack.has = 0;
		gen_norm(PROTO_T_CMD_ACK, &r->m.cmd_ack);
		break;
	}
	/* raw frame: carried (60%), shared with an earlier record that carries one (20%), or none */
	size_t carrier = i;
	for (size_t k = 0; k < i; k++)
		if (b->rec[k].has & PROTO_REC_HAS_RAW)
			carrier = k;
	unsigned roll = (unsigned)(gen_u64(g) % 100u);
	if (roll < 60) {
		r->has |= PROTO_REC_HAS_RAW;
		r->raw = gen_bytes(g, PROTO_RAW_MIN, PROTO_FRAME_MAX);
	} else if (roll < 80 && carrier < i) {
		r->has |= PROTO_REC_HAS_RAWREF;
		r->raw_ref = (uint8_t)carrier;
	}
	gen_norm(PROTO_T_BATCH_REC, r);
}

/* Any message of the given type into *m (zeroed first). */
static inline void gen_msg(struct gen *g, unsigned type, struct proto_msg *m)
{
	memset(m, 0, sizeof *m);
	m->type = (uint8_t)type;
	switch (type) {
	case PROTO_T_HELLO: gen_hello(g, &m->u.hello); break;
	case PROTO_T_FIX: gen_fix(g, &m->u.fix); break;
	case PROTO_T_FIXB: {
		/* as many of the walk as fit one frame, like the collar does */
		uint8_t scratch[PROTO_BODY_MAX];
		size_t n = 1u + gen_u64(g) % PROTO_FIXB_MAX, len, used = 0;
		gen_fix_walk(g, m->u.fixb.fix, n);
		if (proto_fixb_encode_fit(m->u.fixb.fix, n, scratch, sizeof scratch, &len, &used) != 0)
			used = 0;
		m->u.fixb.n = (uint8_t)used;
		memset(&m->u.fixb.fix[used], 0, (PROTO_FIXB_MAX - used) * sizeof m->u.fixb.fix[0]);
		break;
	}
	case PROTO_T_IND: gen_ind(g, &m->u.ind); break;
	case PROTO_T_STATUS: gen_flat(g, type, &m->u.status, 50); break;
	case PROTO_T_CMD_ACK:
		gen_flat(g, type, &m->u.cmd_ack, 50);
		if (m->u.cmd_ack.result != PROTO_RES_IN_PROGRESS)
			m->u.cmd_ack.has = 0;
		gen_norm(type, &m->u.cmd_ack);
		break;
	case PROTO_T_GONE:
		gen_flat(g, type, &m->u.gone, 50);
		if (m->u.gone.last < m->u.gone.first) {
			uint32_t t = m->u.gone.first;
			m->u.gone.first = m->u.gone.last;
			m->u.gone.last = t;
		}
		if (m->u.gone.first == 0)
			m->u.gone.first = 1;
		if (m->u.gone.last < m->u.gone.first)
			m->u.gone.last = m->u.gone.first;
		if ((uint64_t)m->u.gone.last + 2u + 63u > UINT32_MAX)
			m->u.gone.has = 0;
		gen_norm(type, &m->u.gone);
		break;
	case PROTO_T_ACK: gen_flat(g, type, &m->u.ack, 50); break;
	case PROTO_T_CMD: gen_cmd(g, &m->u.cmd); break;
	case PROTO_T_LOG_LIST:
		if (gen_coin(g, 30))
			break; /* the request: empty map */
		gen_flat(g, type, &m->u.log_list, 100);
		if (m->u.log_list.oldest_seq > m->u.log_list.next_seq) {
			uint32_t t = m->u.log_list.oldest_seq;
			m->u.log_list.oldest_seq = m->u.log_list.next_seq;
			m->u.log_list.next_seq = t;
		}
		m->u.log_list.count = (uint32_t)(gen_u64(g) % ((uint64_t)m->u.log_list.next_seq -
							     m->u.log_list.oldest_seq + 1u));
		break;
	case PROTO_T_LOG_READ: gen_flat(g, type, &m->u.log_read, 50); break;
	case PROTO_T_LOG_DATA:
		gen_flat(g, type, &m->u.log_data, 50);
		m->u.log_data.n = (uint8_t)(gen_u64(g) % (PROTO_LOG_DATA_RECS_MAX + 1u));
		for (size_t i = 0; i < m->u.log_data.n; i++)
			m->u.log_data.rec[i] = gen_bytes(g, 1, PROTO_BODY_MAX);
		break;
	case PROTO_T_LOG_TRIM: gen_flat(g, type, &m->u.log_trim, 50); break;
	case PROTO_T_PROVISION:
		gen_flat(g, type, &m->u.provision, 50);
		for (size_t k = 0; k < PROTO_KEY_LEN; k++)
			m->u.provision.key[k] = (uint8_t)gen_u64(g);
		break;
	case PROTO_T_BATCH:
		gen_flat(g, type, &m->u.batch, 50);
		m->u.batch.n = (uint8_t)(gen_u64(g) % (PROTO_BATCH_RECS_MAX + 1u));
		for (size_t i = 0; i < m->u.batch.n; i++)
			gen_batch_rec(g, &m->u.batch, i);
		break;
	case PROTO_T_BATCH_ACK: gen_flat(g, type, &m->u.batch_ack, 50); break;
	case PROTO_T_CREDIT: gen_flat(g, type, &m->u.credit, 50); break;
	default: break;
	}
}

static const unsigned gen_all_types[] = {
	PROTO_T_HELLO, PROTO_T_FIX, PROTO_T_FIXB, PROTO_T_IND, PROTO_T_STATUS, PROTO_T_CMD_ACK, PROTO_T_GONE,
	PROTO_T_ACK, PROTO_T_CMD, PROTO_T_LOG_LIST, PROTO_T_LOG_READ, PROTO_T_LOG_DATA, PROTO_T_LOG_TRIM,
	PROTO_T_PROVISION, PROTO_T_BATCH, PROTO_T_BATCH_ACK, PROTO_T_CREDIT,
};
#define GEN_NTYPES (sizeof gen_all_types / sizeof gen_all_types[0])

static inline int gen_bytes_eq(struct proto_bytes a, struct proto_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* sizeof the union member a type uses */
static inline size_t gen_msg_size(unsigned type)
{
	const struct proto_msg *m = NULL;
	switch (type) {
	case PROTO_T_HELLO: return sizeof m->u.hello;
	case PROTO_T_FIX: return sizeof m->u.fix;
	case PROTO_T_FIXB: return sizeof m->u.fixb;
	case PROTO_T_IND: return sizeof m->u.ind;
	case PROTO_T_STATUS: return sizeof m->u.status;
	case PROTO_T_CMD_ACK: return sizeof m->u.cmd_ack;
	case PROTO_T_GONE: return sizeof m->u.gone;
	case PROTO_T_ACK: return sizeof m->u.ack;
	case PROTO_T_CMD: return sizeof m->u.cmd;
	case PROTO_T_LOG_LIST: return sizeof m->u.log_list;
	case PROTO_T_LOG_READ: return sizeof m->u.log_read;
	case PROTO_T_LOG_DATA: return sizeof m->u.log_data;
	case PROTO_T_LOG_TRIM: return sizeof m->u.log_trim;
	case PROTO_T_PROVISION: return sizeof m->u.provision;
	case PROTO_T_BATCH: return sizeof m->u.batch;
	case PROTO_T_BATCH_ACK: return sizeof m->u.batch_ack;
	case PROTO_T_CREDIT: return sizeof m->u.credit;
	default: return 0;
	}
}

/* Equal as messages: memcmp of the member, except that borrowed byte pointers compare by content
 * (decoding fills only the member of the union its type selects). */
static inline int gen_msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == PROTO_T_LOG_DATA) {
		const struct proto_log_data *x = &a->u.log_data, *y = &b->u.log_data;
		if (x->has != y->has || x->seq != y->seq || x->n != y->n)
			return 0;
		for (size_t i = 0; i < x->n; i++)
			if (!gen_bytes_eq(x->rec[i], y->rec[i]))
				return 0;
		return 1;
	}
	if (a->type == PROTO_T_BATCH) {
		const struct proto_batch *x = &a->u.batch, *y = &b->u.batch;
		if (x->has != y->has || x->gw_id != y->gw_id || x->gw_seq != y->gw_seq || x->n != y->n)
			return 0;
		for (size_t i = 0; i < x->n; i++) {
			struct proto_batch_rec rx, ry; /* memcpy, not assignment: padding must come along */
			memcpy(&rx, &x->rec[i], sizeof rx);
			memcpy(&ry, &y->rec[i], sizeof ry);
			if (!gen_bytes_eq(rx.raw, ry.raw))
				return 0;
			memset(&rx.raw, 0, sizeof rx.raw);
			memset(&ry.raw, 0, sizeof ry.raw);
			if (memcmp(&rx, &ry, sizeof rx) != 0)
				return 0;
		}
		return 1;
	}
	return memcmp(&a->u, &b->u, gen_msg_size(a->type)) == 0;
}

#endif
