/*
 * proto/src/msg_fixb.c — FIXB, several fixes in one body (format in proto/msg.h).
 *
 * Why this shape: at 1 Hz a walking animal's fixes differ mostly in the low digits of position and time.
 * A full FIX map costs ~60 bytes; as a FIXB row the same fix costs ~10: only the fields that vary are
 * listed once in `cols`, and each is sent as the (usually 1-byte) error of a prediction. Position, altitude
 * and time use linear prediction (second differences: a steady walk or a steady clock costs 0), course
 * uses a first difference modulo a full turn, the rest first differences. rec_seq that grows by exactly 1
 * (no IND in between) costs nothing at all.
 *
 * The decoder trusts nothing: every reconstructed fix goes through the same checks as a FIX body, and
 * arithmetic on hostile deltas is overflow-checked.
 */
#include "msg_internal.h"

#include "proto/err.h"

#include <string.h>

enum pred { PRED_FIRST, PRED_SECOND, PRED_COG };

static enum pred pred_of(unsigned key)
{
	switch (key) {
	case PROTO_FIX_K_T:
	case PROTO_FIX_K_TMONO:
	case PROTO_FIX_K_LAT:
	case PROTO_FIX_K_LON:
	case PROTO_FIX_K_ALT:
		return PRED_SECOND;
	case PROTO_FIX_K_COG:
		return PRED_COG;
	default:
		return PRED_FIRST;
	}
}

/* The previous present values of one column. */
struct hist {
	unsigned cnt; /* 0, 1, or 2 (= at least two) */
	int64_t p1, p2;
};

static int64_t predict(enum pred p, const struct hist *h)
{
	if (h->cnt == 0)
		return 0;
	if (p == PRED_SECOND && h->cnt >= 2)
		return 2 * h->p1 - h->p2; /* both in range of an i32/u32/UTC ms field: no overflow */
	return h->p1;
}

static void hist_push(struct hist *h, int64_t v)
{
	h->p2 = h->p1;
	h->p1 = v;
	if (h->cnt < 2)
		h->cnt++;
}

#define COG_TURN 36000
#define COG_HALF 18000

/* The error of the prediction for value v of column `key` (cog modulo a full turn). */
static int64_t fixb_delta(unsigned key, int64_t v, const struct hist *h)
{
	enum pred p = pred_of(key);
	int64_t delta = v - predict(p, h);
	if (p == PRED_COG) {
		delta = ((delta % COG_TURN) + COG_TURN) % COG_TURN;
		if (delta >= COG_HALF)
			delta -= COG_TURN;
	}
	return delta;
}

/* Zigzag: small magnitudes of either sign become small unsigned numbers (0, -1, 1, -2 ... -> 0, 1, 2, 3). */
static uint64_t zigzag(int64_t d)
{
	return d < 0 ? ~((uint64_t)d << 1) : (uint64_t)d << 1;
}

static int64_t unzigzag(uint64_t z)
{
	return (z & 1u) ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
}

static unsigned bit_len(uint64_t z)
{
	unsigned b = 0;
	while (z) {
		b++;
		z >>= 1;
	}
	return b;
}

/* Bytes msgpack-c's packer (and every msgpack packer) uses for the integer d: always the smallest form. */
static size_t mp_int_len(int64_t d)
{
	if (d >= 0)
		return d < 128 ? 1u : d < 256 ? 2u : d < 65536 ? 3u : d <= (int64_t)UINT32_MAX ? 5u : 9u;
	return d >= -32 ? 1u : d >= -128 ? 2u : d >= -32768 ? 3u : d >= INT32_MIN ? 5u : 9u;
}

static size_t mp_hdr_len(size_t n) /* array header */
{
	return n < 16u ? 1u : n < 65536u ? 3u : 5u;
}

/* w bits of z at bit position *pos of p, LSB first (p zeroed beforehand). */
static void bits_put(uint8_t *p, size_t *pos, uint64_t z, unsigned w)
{
	for (unsigned k = 0; k < w; k++, (*pos)++)
		p[*pos >> 3] = (uint8_t)(p[*pos >> 3] | (unsigned)((z >> k) & 1u) << (*pos & 7u));
}

static uint64_t bits_get(const uint8_t *p, size_t *pos, unsigned w)
{
	uint64_t z = 0;
	for (unsigned k = 0; k < w; k++, (*pos)++)
		z |= (uint64_t)(((unsigned)p[*pos >> 3] >> (*pos & 7u)) & 1u) << k;
	return z;
}

static int field_present(const struct proto_fix *f, const struct proto_field_desc *d)
{
	return d->required || (f->has & (1u << d->key));
}

static int64_t field_get(const struct proto_fix *f, const struct proto_field_desc *d)
{
	/* every FIX integer fits int64 (largest: UTC ms, < 2^42) */
	return d->kind == PROTO_FK_INT ? proto__msg_load_i(f, d) : (int64_t)proto__msg_load_u(f, d);
}

static int set_index(struct proto_msg_err *w, int err, size_t i)
{
	if (err && w && w->index < 0)
		w->index = (int16_t)i;
	return err;
}

static int fixb_encode(const struct proto_fix *fx, size_t n, uint8_t *buf, size_t cap, size_t *len)
{
	const struct msg_schema *fs = &proto__schema_fix;
	const struct proto_field_desc *cols[MSG_KEYS];
	size_t ncols = 0;
	msgpack_packer pk;
	struct msg_wbuf wb;
	uint8_t pk_buf[PROTO_BODY_MAX];
	size_t pk_len = 0, bit_pos = 0;
	int packed = 0, err;

	if (!fx || !len || n == 0 || n > PROTO_FIXB_MAX)
		return PROTO_EINVAL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		if ((err = proto__msg_flat_check(fs, &fx[i], NULL)) != 0)
			return err;
		if (i && fx[i].rec_seq <= fx[i - 1].rec_seq)
			return PROTO_EMSG_SEQ;
	}

	/* A column for every field that differs from the base in some fix (value or presence);
	 * rec_seq only when it does not grow by exactly one. */
	for (size_t k = 0; k < fs->nf; k++) {
		const struct proto_field_desc *d = &fs->f[k];
		int varies = 0;
		for (size_t i = 1; i < n && !varies; i++) {
			if (d->key == PROTO_FIX_K_SEQ)
				varies = (uint64_t)fx[i].rec_seq != (uint64_t)fx[0].rec_seq + i;
			else if (field_present(&fx[i], d) != field_present(&fx[0], d))
				varies = 1;
			else if (field_present(&fx[i], d))
				varies = field_get(&fx[i], d) != field_get(&fx[0], d);
		}
		if (varies)
			cols[ncols++] = d;
	}

	/* Pass 1: the deltas' cost in either form (proto/msg.h: packed only if no field is absent and the body
	 * is strictly shorter). Pass 2 recomputes the same deltas and writes them: no delta table on the stack. */
	uint8_t width[2 * MSG_KEYS] = {0}; /* [c]: row 1 (predicted from the base alone), [ncols + c]: rows 2.. */
	size_t vals_len = 0, bits_total = 0;
	int absent = 0;
	for (int pass = 0; pass < 2; pass++) {
		struct hist h[MSG_KEYS];
		memset(h, 0, sizeof h);
		for (size_t c = 0; c < ncols; c++)
			if (field_present(&fx[0], cols[c]))
				hist_push(&h[c], field_get(&fx[0], cols[c]));
		for (size_t i = 1; i < n; i++) {
			for (size_t c = 0; c < ncols; c++) {
				const struct proto_field_desc *d = cols[c];
				if (!field_present(&fx[i], d)) {
					absent = 1;
					vals_len++;
					if (pass)
						msgpack_pack_nil(&pk);
					continue;
				}
				int64_t v = field_get(&fx[i], d);
				int64_t delta = fixb_delta(d->key, v, &h[c]);
				hist_push(&h[c], v);
				size_t wi = (i == 1 ? 0 : ncols) + c;
				if (!pass) {
					unsigned b = bit_len(zigzag(delta));
					vals_len += mp_int_len(delta);
					if (b > width[wi])
						width[wi] = (uint8_t)b;
				} else if (packed) {
					bits_put(pk_buf, &bit_pos, zigzag(delta), width[wi]);
				} else {
					msgpack_pack_int64(&pk, delta);
				}
			}
		}
		if (pass)
			break;
		for (size_t c = 0; c < ncols; c++)
			bits_total += width[c] + (n - 2) * width[ncols + c];
		size_t pk_bytes = (bits_total + 7u) / 8u;
		size_t cnt = (n - 1) * ncols;
		size_t len_vals = 1 + mp_hdr_len(cnt) + vals_len;
		size_t len_pk = 1 + mp_hdr_len(2 * ncols) + 2 * ncols + 1 + (pk_bytes < 256u ? 2u : 3u) + pk_bytes;
		packed = !absent && len_pk < len_vals && pk_bytes <= sizeof pk_buf;
		pk_len = pk_bytes;

		proto__msg_packer_init(&pk, &wb, buf, cap);
		msgpack_pack_map(&pk, packed ? 5 : 4);
		msgpack_pack_uint8(&pk, PROTO_FIXB_K_BASE);
		proto__msg_flat_pack(&pk, fs, &fx[0], NULL);
		msgpack_pack_uint8(&pk, PROTO_FIXB_K_N);
		msgpack_pack_uint64(&pk, n);
		msgpack_pack_uint8(&pk, PROTO_FIXB_K_COLS);
		msgpack_pack_array(&pk, ncols);
		for (size_t c = 0; c < ncols; c++)
			msgpack_pack_uint8(&pk, cols[c]->key);
		if (packed) {
			msgpack_pack_uint8(&pk, PROTO_FIXB_K_BITS);
			msgpack_pack_array(&pk, 2 * ncols);
			for (size_t c = 0; c < 2 * ncols; c++)
				msgpack_pack_uint8(&pk, (uint8_t)width[c]);
			memset(pk_buf, 0, pk_len);
		} else {
			msgpack_pack_uint8(&pk, PROTO_FIXB_K_VALS);
			msgpack_pack_array(&pk, cnt);
		}
	}
	if (packed) {
		msgpack_pack_uint8(&pk, PROTO_FIXB_K_PK);
		msgpack_pack_bin_with_body(&pk, pk_buf, pk_len);
	}
	if (wb.overflow)
		return PROTO_ENOBUFS;
	*len = wb.len;
	return 0;
}

int proto_fixb_encode(const struct proto_fixb *in, uint8_t *buf, size_t cap, size_t *len)
{
	if (!in || !len)
		return PROTO_EINVAL;
	*len = 0;
	if (in->has)
		return PROTO_EINVAL;
	return fixb_encode(in->fix, in->n, buf, cap, len);
}

int proto_fixb_encode_fit(const struct proto_fix *fixes, size_t n, uint8_t *buf, size_t cap, size_t *len,
			  size_t *used)
{
	if (!used || !len || n == 0)
		return PROTO_EINVAL;
	*used = 0;
	if (n > PROTO_FIXB_MAX)
		n = PROTO_FIXB_MAX;
	/* Fewer fixes never make a FIXB longer (rows only go away), so the first fit from the top is the
	 * longest; at most PROTO_FIXB_MAX cheap attempts. */
	for (size_t k = n; k >= 1; k--) {
		int err = fixb_encode(fixes, k, buf, cap, len);
		if (err == 0) {
			*used = k;
			return 0;
		}
		if (err != PROTO_ENOBUFS)
			return err;
	}
	return PROTO_ENOBUFS;
}

int proto_fixb_decode(const uint8_t *buf, size_t len, struct proto_fixb *out, struct proto_msg_err *w)
{
	const struct msg_schema *s = &proto__schema_fixb;
	const struct msg_schema *fs = &proto__schema_fix;
	struct proto_mp_reader r, deferred[MSG_KEYS];
	struct proto_mp_obj o;
	const struct proto_field_desc *cols[MSG_KEYS];
	struct hist h[MSG_KEYS];
	uint32_t ncols = 0, seen = 0;
	size_t at;
	int err;

	memset(deferred, 0, sizeof deferred);
	if ((err = proto__msg_decode_begin(s, buf, len, out, w, &r)) != 0)
		return err;
	if ((err = proto__msg_flat_read(&r, s, out, deferred, w)) != 0)
		goto out_clear;

	/* base: a complete FIX */
	err = proto__msg_flat_read(&deferred[PROTO_FIXB_K_BASE], fs, &out->fix[0], NULL, w);
	if (err) {
		set_index(w, err, 0);
		goto out_clear;
	}

	/* cols: distinct FIX keys (the encoder writes them ascending) */
	struct proto_mp_reader *cr = &deferred[PROTO_FIXB_K_COLS];
	if (proto_mp_read(cr, &o)) { /* the array header, type and size already checked by flat_read */
		err = proto__msg_err(w, cr->err, s, PROTO_FIXB_K_COLS, cr->pos);
		goto out_clear;
	}
	ncols = o.n;
	for (uint32_t c = 0; c < ncols; c++) {
		at = cr->pos;
		if (proto_mp_read(cr, &o)) {
			err = proto__msg_err(w, cr->err, s, PROTO_FIXB_K_COLS, at);
			goto out_clear;
		}
		if (o.kind != PROTO_MP_UINT && o.kind != PROTO_MP_INT) {
			err = proto__msg_err(w, PROTO_EMSG_WTYPE, s, PROTO_FIXB_K_COLS, at);
			goto out_clear;
		}
		cols[c] = o.kind == PROTO_MP_UINT && o.u < MSG_KEYS ? proto__msg_find(fs, (int64_t)o.u) : NULL;
		if (!cols[c]) {
			err = proto__msg_err_val(w, PROTO_EMSG_KEY, s, PROTO_FIXB_K_COLS, at, o.kind == PROTO_MP_INT,
						 o.u, o.i);
			goto out_clear;
		}
		if (seen & (1u << cols[c]->key)) {
			err = proto__msg_err_val(w, PROTO_EMSG_DUPKEY, s, PROTO_FIXB_K_COLS, at, 0, o.u, 0);
			goto out_clear;
		}
		seen |= 1u << cols[c]->key;
	}

	/* the deltas: vals, or bits + pk (exactly one form) */
	struct proto_mp_reader *vr = &deferred[PROTO_FIXB_K_VALS];
	struct proto_mp_reader *br = &deferred[PROTO_FIXB_K_BITS];
	struct proto_mp_reader *pr = &deferred[PROTO_FIXB_K_PK];
	const int packed = br->buf != NULL;
	uint8_t width[2 * MSG_KEYS];
	const uint8_t *pk_data = NULL;
	size_t bit_pos = 0;
	out->has = 0; /* flat_read set bits for the optional keys; FIXB's struct has none */
	if (vr->buf && (br->buf || pr->buf)) {
		err = proto__msg_err(w, PROTO_EMSG_EXCL, s, br->buf ? PROTO_FIXB_K_BITS : PROTO_FIXB_K_PK, 0);
		goto out_clear;
	}
	if (!vr->buf && !(br->buf && pr->buf)) {
		err = proto__msg_err(w, PROTO_EMSG_MISSING, s,
				     br->buf ? PROTO_FIXB_K_PK : pr->buf ? PROTO_FIXB_K_BITS : PROTO_FIXB_K_VALS, len);
		goto out_clear;
	}
	if (packed) {
		at = br->pos;
		if (proto_mp_read(br, &o)) {
			err = proto__msg_err(w, br->err, s, PROTO_FIXB_K_BITS, at);
			goto out_clear;
		}
		if (o.n != 2 * ncols) {
			err = proto__msg_err_val(w, PROTO_EMSG_SIZE, s, PROTO_FIXB_K_BITS, at, 0, o.n, 0);
			goto out_clear;
		}
		uint64_t total = 0;
		for (uint32_t c = 0; c < 2 * ncols; c++) {
			at = br->pos;
			if (proto_mp_read(br, &o)) {
				err = proto__msg_err(w, br->err, s, PROTO_FIXB_K_BITS, at);
				goto out_clear;
			}
			if (o.kind != PROTO_MP_UINT || o.u > 64u) {
				err = proto__msg_err_val(w, o.kind == PROTO_MP_UINT || o.kind == PROTO_MP_INT
								 ? PROTO_EMSG_RANGE : PROTO_EMSG_WTYPE,
							 s, PROTO_FIXB_K_BITS, at, o.kind == PROTO_MP_INT, o.u, o.i);
				goto out_clear;
			}
			width[c] = (uint8_t)o.u;
			total += (uint64_t)width[c] * (c < ncols ? (out->n >= 2u ? 1u : 0u) : (out->n >= 2u ? out->n - 2u : 0u));
		}
		at = pr->pos;
		if (proto_mp_read(pr, &o)) { /* a bin, type and size already checked by flat_read */
			err = proto__msg_err(w, pr->err, s, PROTO_FIXB_K_PK, at);
			goto out_clear;
		}
		if ((uint64_t)o.n != (total + 7u) / 8u) {
			err = proto__msg_err_val(w, PROTO_EMSG_SIZE, s, PROTO_FIXB_K_PK, at, 0, o.n, 0);
			goto out_clear;
		}
		if ((total & 7u) && (o.data[o.n - 1] >> (total & 7u))) { /* padding must be 0: one encoding */
			err = proto__msg_err(w, PROTO_EMSG_RANGE, s, PROTO_FIXB_K_PK, at);
			goto out_clear;
		}
		pk_data = o.data;
	} else {
		at = vr->pos;
		if (proto_mp_read(vr, &o)) {
			err = proto__msg_err(w, vr->err, s, PROTO_FIXB_K_VALS, at);
			goto out_clear;
		}
		if ((uint64_t)o.n != (uint64_t)(out->n - 1u) * ncols) {
			err = proto__msg_err_val(w, PROTO_EMSG_SIZE, s, PROTO_FIXB_K_VALS, at, 0, o.n, 0);
			goto out_clear;
		}
	}

	memset(h, 0, sizeof h);
	for (uint32_t c = 0; c < ncols; c++)
		if (field_present(&out->fix[0], cols[c]))
			hist_push(&h[c], field_get(&out->fix[0], cols[c]));

	for (size_t i = 1; i < out->n; i++) {
		struct proto_fix *f = &out->fix[i];
		memcpy(f, &out->fix[0], sizeof *f); /* padding too: decoded structs compare with memcmp */
		if (!(seen & (1u << PROTO_FIX_K_SEQ))) {
			uint64_t seq = (uint64_t)out->fix[0].rec_seq + i;
			if (seq > UINT32_MAX) {
				err = proto__msg_err_val(w, PROTO_EMSG_RANGE, fs, PROTO_FIX_K_SEQ, (packed ? pr->pos : vr->pos), 0, seq, 0);
				set_index(w, err, i);
				goto out_clear;
			}
			f->rec_seq = (uint32_t)seq;
		}
		for (uint32_t c = 0; c < ncols; c++) {
			const struct proto_field_desc *d = cols[c];
			uint32_t bit = 1u << d->key;
			if (packed) {
				at = pr->pos;
				o.kind = PROTO_MP_INT;
				o.i = unzigzag(bits_get(pk_data, &bit_pos, width[(i == 1 ? 0 : ncols) + c]));
			} else {
				at = vr->pos;
				if (proto_mp_read(vr, &o)) {
					err = set_index(w, proto__msg_err(w, vr->err, fs, d->key, at), i);
					goto out_clear;
				}
			}
			if (o.kind == PROTO_MP_NIL) {
				if (d->required) {
					err = set_index(w, proto__msg_err(w, PROTO_EMSG_MISSING, fs, d->key, at), i);
					goto out_clear;
				}
				f->has &= ~bit;
				proto__msg_store(f, d, 0); /* absent fields read as 0, like a decoded FIX */
				continue;
			}
			if (o.kind != PROTO_MP_UINT && o.kind != PROTO_MP_INT) {
				err = set_index(w, proto__msg_err(w, PROTO_EMSG_WTYPE, fs, d->key, at), i);
				goto out_clear;
			}
			if (o.kind == PROTO_MP_UINT && o.u > (uint64_t)INT64_MAX) {
				err = set_index(w, proto__msg_err_val(w, PROTO_EMSG_RANGE, fs, d->key, at, 0, o.u, 0), i);
				goto out_clear;
			}
			int64_t delta = o.kind == PROTO_MP_INT ? o.i : (int64_t)o.u;
			enum pred p = pred_of(d->key);
			int64_t v;
			if (p == PRED_COG && (delta < -COG_HALF || delta >= COG_HALF)) {
				err = set_index(w, proto__msg_err_val(w, PROTO_EMSG_RANGE, fs, d->key, at,
								      delta < 0, (uint64_t)delta, delta), i);
				goto out_clear;
			}
			if (__builtin_add_overflow(predict(p, &h[c]), delta, &v)) {
				err = set_index(w, proto__msg_err_val(w, PROTO_EMSG_RANGE, fs, d->key, at,
								      delta < 0, (uint64_t)delta, delta), i);
				goto out_clear;
			}
			if (p == PRED_COG)
				v = v < 0 ? v + COG_TURN : (v >= COG_TURN ? v - COG_TURN : v);
			if (d->key == PROTO_FIX_K_SEQ && delta < 1) {
				err = set_index(w, proto__msg_err_val(w, PROTO_EMSG_SEQ, fs, d->key, at, delta < 0,
								      (uint64_t)delta, delta), i);
				goto out_clear;
			}
			if ((err = proto__msg_int_ok(d, v < 0, (uint64_t)v, v)) != 0) {
				set_index(w, proto__msg_err_val(w, err, fs, d->key, at, v < 0, (uint64_t)v, v), i);
				goto out_clear;
			}
			proto__msg_store(f, d, (uint64_t)v);
			if (!d->required)
				f->has |= bit;
			hist_push(&h[c], v);
		}
		if (f->rec_seq <= out->fix[i - 1].rec_seq) {
			err = proto__msg_err_val(w, PROTO_EMSG_SEQ, fs, PROTO_FIX_K_SEQ, (packed ? pr->pos : vr->pos), 0, f->rec_seq, 0);
			set_index(w, err, i);
			goto out_clear;
		}
		/* the same checks as a FIX body: ranges and the time rule */
		if ((err = proto__msg_flat_check(fs, f, w)) != 0) {
			if (w && w->offset == 0)
				w->offset = packed ? pr->pos : vr->pos;
			set_index(w, err, i);
			goto out_clear;
		}
	}
	return 0;

out_clear:
	memset(out, 0, sizeof *out);
	return err;
}
