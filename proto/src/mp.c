/*
 * proto/src/mp.c — msgpack pre-validator and bounded reader (proto/mp.h). No heap, no recursion.
 *
 * Every length or count read from the input is compared with the bytes that remain before anything
 * depends on it, so a hostile header can never make us read past the buffer or loop longer than len.
 */
#include "proto/mp.h"

#include "proto/err.h"

#include <string.h>

void proto_mp_reader_init(struct proto_mp_reader *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->pos = 0;
	r->err = 0;
}

static int rd_fail(struct proto_mp_reader *r, int err)
{
	if (r->err == 0)
		r->err = err;
	return r->err;
}

/* Big-endian unsigned of n bytes at r->pos; the caller has checked they exist. */
static uint64_t rd_be(const struct proto_mp_reader *r, size_t n)
{
	uint64_t v = 0;
	for (size_t k = 0; k < n; k++)
		v = (v << 8) | r->buf[r->pos + k];
	return v;
}

static int64_t sign_extend(uint64_t v, size_t bytes)
{
	/* GCC and Clang define narrowing to a signed type as modulo 2^n (the project builds with nothing else). */
	switch (bytes) {
	case 1: return (int8_t)(uint8_t)v;
	case 2: return (int16_t)(uint16_t)v;
	case 4: return (int32_t)(uint32_t)v;
	default: return (int64_t)v;
	}
}

int proto_mp_read(struct proto_mp_reader *r, struct proto_mp_obj *o)
{
	if (r->err)
		return r->err;
	memset(o, 0, sizeof *o);
	if (r->pos >= r->len)
		return rd_fail(r, PROTO_EMP_TRUNC);

	uint8_t b = r->buf[r->pos];
	size_t left = r->len - r->pos - 1; /* bytes after the type byte */
	size_t extra = 0;                  /* header bytes after the type byte */
	enum { SCALAR, STR, BIN, ARR, MAP } what = SCALAR;
	uint64_t n = 0;

	if (b <= 0x7f) {
		o->kind = PROTO_MP_UINT;
		o->u = b;
	} else if (b >= 0xe0) {
		o->kind = PROTO_MP_INT;
		o->i = (int64_t)b - 256;
	} else if (b >= 0x80 && b <= 0x8f) {
		what = MAP;
		n = b & 0x0fu;
	} else if (b >= 0x90 && b <= 0x9f) {
		what = ARR;
		n = b & 0x0fu;
	} else if (b >= 0xa0 && b <= 0xbf) {
		what = STR;
		n = b & 0x1fu;
	} else {
		switch (b) {
		case 0xc0:
			o->kind = PROTO_MP_NIL;
			break;
		case 0xc2:
		case 0xc3:
			o->kind = PROTO_MP_BOOL;
			o->b = b == 0xc3;
			break;
		case 0xc4: what = BIN; extra = 1; break;
		case 0xc5: what = BIN; extra = 2; break;
		case 0xc6: what = BIN; extra = 4; break;
		case 0xd9: what = STR; extra = 1; break;
		case 0xda: what = STR; extra = 2; break;
		case 0xdb: what = STR; extra = 4; break;
		case 0xdc: what = ARR; extra = 2; break;
		case 0xdd: what = ARR; extra = 4; break;
		case 0xde: what = MAP; extra = 2; break;
		case 0xdf: what = MAP; extra = 4; break;
		case 0xcc: case 0xcd: case 0xce: case 0xcf:
			extra = (size_t)1 << (b - 0xcc);
			if (extra > left)
				return rd_fail(r, PROTO_EMP_TRUNC);
			o->kind = PROTO_MP_UINT;
			r->pos++;
			o->u = rd_be(r, extra);
			r->pos += extra;
			return 0;
		case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
			extra = (size_t)1 << (b - 0xd0);
			if (extra > left)
				return rd_fail(r, PROTO_EMP_TRUNC);
			r->pos++;
			int64_t v = sign_extend(rd_be(r, extra), extra);
			r->pos += extra;
			if (v < 0) {
				o->kind = PROTO_MP_INT;
				o->i = v;
			} else {
				o->kind = PROTO_MP_UINT;
				o->u = (uint64_t)v;
			}
			return 0;
		}
		default:
			/* 0xc1 (never used), ext 8/16/32 (c7-c9), float 32/64 (ca, cb), fixext 1..16 (d4-d8) */
			return rd_fail(r, PROTO_EMP_TYPE);
		}
	}

	if (extra > left)
		return rd_fail(r, PROTO_EMP_TRUNC);
	r->pos++;
	if (extra) {
		n = rd_be(r, extra);
		r->pos += extra;
		left -= extra;
	}

	switch (what) {
	case SCALAR:
		return 0;
	case STR:
	case BIN:
		if (n > left)
			return rd_fail(r, PROTO_EMP_TRUNC);
		if (n > (what == STR ? PROTO_MP_STR_MAX : PROTO_MP_BIN_MAX))
			return rd_fail(r, PROTO_EMP_LEN);
		o->kind = what == STR ? PROTO_MP_STR : PROTO_MP_BIN;
		o->n = (uint32_t)n;
		o->data = r->buf + r->pos;
		r->pos += (size_t)n;
		return 0;
	case ARR:
		/* each element needs at least one byte */
		if (n > left)
			return rd_fail(r, PROTO_EMP_COUNT);
		o->kind = PROTO_MP_ARRAY;
		o->n = (uint32_t)n;
		return 0;
	case MAP:
		if (n > left / 2)
			return rd_fail(r, PROTO_EMP_COUNT);
		o->kind = PROTO_MP_MAP;
		o->n = (uint32_t)n;
		return 0;
	}
	return rd_fail(r, PROTO_EMP_TYPE);
}

int proto_mp_skip(struct proto_mp_reader *r)
{
	/* Objects still to consume. Counts were checked against the remaining bytes, and each object consumes
	 * at least one byte, so this terminates within len iterations and cannot overflow. */
	uint64_t pending = 1;
	struct proto_mp_obj o;

	while (pending) {
		int err = proto_mp_read(r, &o);
		if (err)
			return err;
		pending--;
		if (o.kind == PROTO_MP_ARRAY)
			pending += o.n;
		else if (o.kind == PROTO_MP_MAP)
			pending += 2u * (uint64_t)o.n;
	}
	return 0;
}

int proto_mp_validate(const uint8_t *buf, size_t len, unsigned max_depth)
{
	if ((!buf && len) || max_depth > PROTO_MP_DEPTH_MAX)
		return PROTO_EINVAL;

	/* left[d]: elements still expected at nesting level d; level 0 is the single top-level slot. */
	uint64_t left[PROTO_MP_DEPTH_MAX + 1];
	unsigned d = 0;
	struct proto_mp_reader r;
	struct proto_mp_obj o;

	proto_mp_reader_init(&r, buf, len);
	left[0] = 1;
	for (;;) {
		while (d > 0 && left[d] == 0)
			d--;
		if (d == 0 && left[0] == 0)
			break;
		int err = proto_mp_read(&r, &o);
		if (err)
			return err;
		left[d]--;
		if (o.kind == PROTO_MP_ARRAY || o.kind == PROTO_MP_MAP) {
			/* an empty container still counts: depth is about structure, not size */
			if (d + 1 > max_depth)
				return PROTO_EMP_DEPTH;
			d++;
			left[d] = o.kind == PROTO_MP_MAP ? 2u * (uint64_t)o.n : o.n;
		}
	}
	if (r.pos != len)
		return PROTO_EMP_TRAILING;
	return 0;
}
