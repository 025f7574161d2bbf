/*
 * tests/proto/mp_test.c — the msgpack pre-validator and bounded reader (proto/mp.h) against hostile bytes.
 * Each refusal is checked for its exact error code: the gateway counts them separately.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

#define V(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int validate(const uint8_t *b, size_t n, unsigned depth)
{
	return proto_mp_validate(b, n, depth);
}

Test(proto_mp, rejects_huge_array32_header)
{
	/* msgpack-c's unpacker would ask its zone for 2^32 * 24 bytes here (msgpack-c #1013) */
	cr_expect_eq(validate(V(0xdd, 0xff, 0xff, 0xff, 0xff), 4), PROTO_EMP_COUNT);
	cr_expect_eq(validate(V(0xdc, 0xff, 0xff), 4), PROTO_EMP_COUNT);
	/* a count one more than the bytes left is refused; exactly as many is fine */
	cr_expect_eq(validate(V(0x93, 0x01, 0x02), 4), PROTO_EMP_COUNT);
	cr_expect_eq(validate(V(0x93, 0x01, 0x02, 0x03), 4), 0);
}

Test(proto_mp, rejects_huge_map32_header)
{
	cr_expect_eq(validate(V(0xdf, 0xff, 0xff, 0xff, 0xff), 4), PROTO_EMP_COUNT);
	cr_expect_eq(validate(V(0xde, 0x7f, 0xff), 4), PROTO_EMP_COUNT);
	/* a map of n pairs needs 2n bytes: 3 bytes cannot hold 2 pairs */
	cr_expect_eq(validate(V(0x82, 0x01, 0x02, 0x03), 4), PROTO_EMP_COUNT);
	cr_expect_eq(validate(V(0x82, 0x01, 0x02, 0x03, 0x04), 4), 0);
}

Test(proto_mp, rejects_str_and_bin_lengths_past_the_end)
{
	cr_expect_eq(validate(V(0xdb, 0xff, 0xff, 0xff, 0xff), 4), PROTO_EMP_TRUNC);
	cr_expect_eq(validate(V(0xc6, 0xff, 0xff, 0xff, 0xff), 4), PROTO_EMP_TRUNC);
	cr_expect_eq(validate(V(0xa3, 'a', 'b'), 4), PROTO_EMP_TRUNC);
	cr_expect_eq(validate(V(0xc4, 0x02, 0x00), 4), PROTO_EMP_TRUNC);
}

Test(proto_mp, rejects_str_and_bin_longer_than_the_protocol_uses)
{
	uint8_t b[2 + 300];
	memset(b, 'x', sizeof b);
	b[0] = 0xd9; /* str8 */
	b[1] = PROTO_MP_STR_MAX;
	cr_expect_eq(validate(b, 2 + PROTO_MP_STR_MAX, 1), 0);
	b[1] = PROTO_MP_STR_MAX + 1;
	cr_expect_eq(validate(b, 2 + PROTO_MP_STR_MAX + 1, 1), PROTO_EMP_LEN);
	b[0] = 0xc4; /* bin8 */
	b[1] = PROTO_MP_BIN_MAX;
	cr_expect_eq(validate(b, 2 + PROTO_MP_BIN_MAX, 1), 0);
	uint8_t b16[3 + 256];
	memset(b16, 0, sizeof b16);
	b16[0] = 0xc5; /* bin16 of 256 */
	b16[1] = 0x01;
	b16[2] = 0x00;
	cr_expect_eq(validate(b16, sizeof b16, 1), PROTO_EMP_LEN);
}

Test(proto_mp, rejects_nesting_deeper_than_allowed)
{
	uint8_t b[101];
	memset(b, 0x91, 100); /* 100 nested one-element arrays */
	b[100] = 0xc0;
	cr_expect_eq(validate(b, sizeof b, PROTO_MP_DEPTH_MAX), PROTO_EMP_DEPTH);
	/* exactly max_depth levels pass, one more does not; maps count like arrays */
	for (unsigned d = 0; d <= PROTO_MP_DEPTH_MAX; d++) {
		cr_expect_eq(validate(b + 100 - d, d + 1, d), 0, "depth %u", d);
		if (d < PROTO_MP_DEPTH_MAX)
			cr_expect_eq(validate(b + 100 - (d + 1), d + 2, d), PROTO_EMP_DEPTH, "depth %u", d);
	}
	cr_expect_eq(validate(V(0x81, 0x01, 0x81, 0x02, 0x03), 1), PROTO_EMP_DEPTH);
	cr_expect_eq(validate(V(0x81, 0x01, 0x81, 0x02, 0x03), 2), 0);
	/* an empty container is still a level */
	cr_expect_eq(validate(V(0x91, 0x90), 1), PROTO_EMP_DEPTH);
}

Test(proto_mp, rejects_float_ext_and_reserved_types)
{
	static const struct {
		uint8_t b[10];
		size_t n;
	} cases[] = {
		{{0xc1}, 1},                                           /* never used */
		{{0xca, 0, 0, 0, 0}, 5},                               /* float32 */
		{{0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, 9},                   /* float64 */
		{{0xc7, 0x01, 0x05, 0x00}, 4},                         /* ext8 */
		{{0xc8, 0x00, 0x01, 0x05, 0x00}, 5},                   /* ext16 */
		{{0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00}, 7},       /* ext32 */
		{{0xd4, 0x05, 0x00}, 3},                               /* fixext1 */
		{{0xd5, 0x05, 0x00, 0x00}, 4},                         /* fixext2 */
		{{0xd6, 0xff, 0, 0, 0, 0}, 6},                         /* fixext4: the msgpack timestamp */
		{{0xd7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0}, 10},            /* fixext8 */
		{{0xd8, 0x05}, 2},                                     /* fixext16 (type check comes first) */
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		cr_expect_eq(validate(cases[k].b, cases[k].n, 4), PROTO_EMP_TYPE, "case %zu", k);
		/* also when nested inside a map value */
		uint8_t m[12] = {0x81, 0x01};
		memcpy(m + 2, cases[k].b, cases[k].n);
		cr_expect_eq(validate(m, cases[k].n + 2, 4), PROTO_EMP_TYPE, "nested case %zu", k);
	}
}

Test(proto_mp, rejects_trailing_bytes)
{
	cr_expect_eq(validate(V(0x80, 0x00), 1), PROTO_EMP_TRAILING);
	cr_expect_eq(validate(V(0x81, 0x01, 0x02, 0x03), 1), PROTO_EMP_TRAILING);
	cr_expect_eq(validate(V(0x80), 1), 0);
}

Test(proto_mp, rejects_every_truncation_of_a_valid_object)
{
	/* {1: 0xffffffff, 2: [-1, "ab", bin(1)], 3: {4: nil}} */
	static const uint8_t b[] = {0x83, 0x01, 0xce, 0xff, 0xff, 0xff, 0xff, 0x02, 0x93, 0xff, 0xa2, 'a', 'b',
				    0xc4, 0x01, 0x00, 0x03, 0x81, 0x04, 0xc0};
	cr_assert_eq(validate(b, sizeof b, 2), 0);
	for (size_t n = 0; n < sizeof b; n++) {
		int err = validate(b, n, 2);
		/* cut inside a header or payload: TRUNC; cut so a count cannot fit any more: COUNT */
		cr_expect(err == PROTO_EMP_TRUNC || err == PROTO_EMP_COUNT, "prefix %zu gave %d", n, err);
	}
	/* the specific code where the cut position decides it */
	cr_expect_eq(validate(b, 0, 2), PROTO_EMP_TRUNC);
	cr_expect_eq(validate(b, 5, 2), PROTO_EMP_COUNT); /* 4 bytes left cannot hold 3 pairs */
	cr_expect_eq(validate(b, 12, 2), PROTO_EMP_TRUNC); /* inside "ab" */
}

Test(proto_mp, reader_normalises_every_integer_encoding)
{
	static const struct {
		uint8_t b[9];
		size_t n;
		int neg;
		uint64_t u;
		int64_t i;
	} cases[] = {
		{{0x00}, 1, 0, 0, 0},
		{{0x7f}, 1, 0, 127, 0},
		{{0xe0}, 1, 1, 0, -32},
		{{0xff}, 1, 1, 0, -1},
		{{0xcc, 0xff}, 2, 0, 255, 0},
		{{0xcd, 0x12, 0x34}, 3, 0, 0x1234, 0},
		{{0xce, 0xde, 0xad, 0xbe, 0xef}, 5, 0, 0xdeadbeef, 0},
		{{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, 0, UINT64_MAX, 0},
		{{0xd0, 0x80}, 2, 1, 0, -128},
		{{0xd0, 0x05}, 2, 0, 5, 0}, /* a positive value in a signed encoding is still a UINT */
		{{0xd1, 0x80, 0x00}, 3, 1, 0, -32768},
		{{0xd2, 0x80, 0x00, 0x00, 0x00}, 5, 1, 0, INT32_MIN},
		{{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, 1, 0, INT64_MIN},
		{{0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, 0, INT64_MAX, 0},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct proto_mp_reader r;
		struct proto_mp_obj o;
		proto_mp_reader_init(&r, cases[k].b, cases[k].n);
		cr_assert_eq(proto_mp_read(&r, &o), 0, "case %zu", k);
		cr_expect_eq(r.pos, cases[k].n, "case %zu consumed %zu", k, r.pos);
		if (cases[k].neg) {
			cr_expect_eq(o.kind, PROTO_MP_INT, "case %zu", k);
			cr_expect_eq(o.i, cases[k].i, "case %zu", k);
		} else {
			cr_expect_eq(o.kind, PROTO_MP_UINT, "case %zu", k);
			cr_expect_eq(o.u, cases[k].u, "case %zu", k);
		}
		/* one byte short: truncated, never read past the end */
		proto_mp_reader_init(&r, cases[k].b, cases[k].n - 1);
		cr_expect_eq(proto_mp_read(&r, &o), PROTO_EMP_TRUNC, "case %zu short", k);
	}
}

Test(proto_mp, reader_borrows_str_and_bin_payloads)
{
	static const uint8_t b[] = {0x92, 0xa2, 'h', 'i', 0xc4, 0x03, 1, 2, 3};
	struct proto_mp_reader r;
	struct proto_mp_obj o;
	proto_mp_reader_init(&r, b, sizeof b);
	cr_assert_eq(proto_mp_read(&r, &o), 0);
	cr_expect_eq(o.kind, PROTO_MP_ARRAY);
	cr_expect_eq(o.n, 2);
	cr_assert_eq(proto_mp_read(&r, &o), 0);
	cr_expect_eq(o.kind, PROTO_MP_STR);
	cr_expect_eq(o.n, 2);
	cr_expect_eq(o.data, b + 2); /* a pointer into the input, not a copy */
	cr_assert_eq(proto_mp_read(&r, &o), 0);
	cr_expect_eq(o.kind, PROTO_MP_BIN);
	cr_expect_eq(o.data, b + 6);
	cr_expect_eq(r.pos, sizeof b);
}

Test(proto_mp, reader_error_is_sticky)
{
	static const uint8_t b[] = {0xc1, 0x01};
	struct proto_mp_reader r;
	struct proto_mp_obj o;
	proto_mp_reader_init(&r, b, sizeof b);
	cr_expect_eq(proto_mp_read(&r, &o), PROTO_EMP_TYPE);
	cr_expect_eq(r.pos, 0);
	/* the next byte is a valid fixint, but the reader stays failed */
	cr_expect_eq(proto_mp_read(&r, &o), PROTO_EMP_TYPE);
	cr_expect_eq(proto_mp_skip(&r), PROTO_EMP_TYPE);
}

Test(proto_mp, skip_consumes_exactly_one_nested_object)
{
	static const uint8_t b[] = {0x82, 0x01, 0x92, 0x01, 0x81, 0x02, 0xa1, 'x', 0x03, 0xc4, 0x01, 0x00, 0x2a};
	struct proto_mp_reader r;
	struct proto_mp_obj o;
	proto_mp_reader_init(&r, b, sizeof b);
	cr_assert_eq(proto_mp_skip(&r), 0);
	cr_expect_eq(r.pos, sizeof b - 1);
	cr_assert_eq(proto_mp_read(&r, &o), 0);
	cr_expect_eq(o.u, 42);
	/* a skip that runs out of bytes fails like a read */
	proto_mp_reader_init(&r, b, 6);
	cr_expect_eq(proto_mp_skip(&r), PROTO_EMP_COUNT);
}

Test(proto_mp, validate_rejects_impossible_arguments)
{
	cr_expect_eq(proto_mp_validate(NULL, 3, 1), PROTO_EINVAL);
	cr_expect_eq(proto_mp_validate(V(0x80), PROTO_MP_DEPTH_MAX + 1), PROTO_EINVAL);
	cr_expect_eq(proto_mp_validate(NULL, 0, 1), PROTO_EMP_TRUNC); /* empty body: no object at all */
}
