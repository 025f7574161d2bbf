/*
 * proto/mp.h — heap-free msgpack reading for untrusted bytes: a pre-validator and a bounded reader.
 *
 * Why not msgpack-c's unpacker: it allocates n * 24 bytes from a zone as soon as it reads an array or map
 * header, before a single element exists, so the 5-byte body DD FF FF FF FF asks for ~96 GB
 * (msgpack/msgpack-c #1013, #985; protocol.md §4.4). Nothing in proto/ calls msgpack_unpack*, msgpack_zone*
 * or msgpack_sbuffer*, and proto/ is not linked with libmsgpackc; encoding uses only the header-only packer.
 *
 * Two layers, both working on the caller's buffer and never writing to it:
 *
 *  1. proto_mp_validate() walks every byte once before any decoding and refuses, each with its own code:
 *     a header or payload running past the end (PROTO_EMP_TRUNC), an array/map count larger than the bytes
 *     left could hold at one byte per element (PROTO_EMP_COUNT), nesting deeper than the message type needs
 *     (PROTO_EMP_DEPTH), a type the protocol never uses — float32/64, ext, fixext, 0xc1 — (PROTO_EMP_TYPE),
 *     a str longer than PROTO_MP_STR_MAX or a bin longer than PROTO_MP_BIN_MAX (PROTO_EMP_LEN), and bytes
 *     after the single top-level object (PROTO_EMP_TRAILING). Its cost is bounded by len: every object
 *     consumes at least one byte, and the container stack is a fixed array of PROTO_MP_DEPTH_MAX entries.
 *
 *  2. struct proto_mp_reader is a cursor with a sticky error (MPack's Expect API / CMP style): the schema
 *     code reads one header at a time and checks the error once at the end. The reader repeats every bounds
 *     check of the validator, so it stays memory-safe even on bytes that were not validated.
 *
 * str and bin payloads are returned as pointers into the input (borrowed: valid as long as the caller's
 * buffer is).
 */
#ifndef PROTO_MP_H
#define PROTO_MP_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting any caller may ask proto_mp_validate for (BATCH needs 4: map → array → map → map). */
#define PROTO_MP_DEPTH_MAX 8u
/* Longest str the protocol carries (HELLO firmware version). */
#define PROTO_MP_STR_MAX 32u
/* Longest bin the protocol carries: one unstuffed frame (BATCH raw) or one journal record body (LOG_DATA). */
#define PROTO_MP_BIN_MAX 255u

/*
 * Check that buf[0..len) is exactly one msgpack object the protocol could have produced.
 * max_depth counts containers: a flat map is depth 1; 0 allows only a scalar.
 * @retval 0 ok
 * @retval PROTO_EMP_TRUNC, PROTO_EMP_COUNT, PROTO_EMP_DEPTH, PROTO_EMP_TYPE, PROTO_EMP_LEN, PROTO_EMP_TRAILING
 * @retval PROTO_EINVAL buf NULL with len > 0, or max_depth > PROTO_MP_DEPTH_MAX
 */
int proto_mp_validate(const uint8_t *buf, size_t len, unsigned max_depth) __attribute__((warn_unused_result));

/* What proto_mp_read found. Every integer family (fixint, uint8..64, int8..64) is normalised by value:
 * non-negative values are PROTO_MP_UINT (in u), negative ones PROTO_MP_INT (in i). */
enum proto_mp_kind {
	PROTO_MP_NIL = 1,
	PROTO_MP_BOOL,
	PROTO_MP_UINT,
	PROTO_MP_INT,
	PROTO_MP_STR,
	PROTO_MP_BIN,
	PROTO_MP_ARRAY,
	PROTO_MP_MAP,
};

struct proto_mp_obj {
	uint8_t kind;        /* enum proto_mp_kind */
	uint8_t b;           /* PROTO_MP_BOOL */
	uint64_t u;          /* PROTO_MP_UINT */
	int64_t i;           /* PROTO_MP_INT (always < 0) */
	uint32_t n;          /* str/bin length in bytes; array element count; map pair count */
	const uint8_t *data; /* str/bin payload (borrowed from the input), NULL otherwise */
};

struct proto_mp_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos; /* offset of the next header; error reports quote it */
	int err;    /* sticky: first error, 0 while all is well */
};

void proto_mp_reader_init(struct proto_mp_reader *r, const uint8_t *buf, size_t len);

/*
 * Read one object header. For str/bin the payload is consumed too (o->data points at it); for arrays and
 * maps only the header is consumed and the caller reads the o->n (or 2 * o->n) elements that follow.
 * After an error the reader stays failed and every call returns the same code.
 * @retval 0 ok
 * @retval PROTO_EMP_TRUNC, PROTO_EMP_COUNT, PROTO_EMP_TYPE, PROTO_EMP_LEN (the validator's codes)
 */
int proto_mp_read(struct proto_mp_reader *r, struct proto_mp_obj *o) __attribute__((warn_unused_result));

/* Consume one whole object, children included, without recursion. Same error codes as proto_mp_read. */
int proto_mp_skip(struct proto_mp_reader *r) __attribute__((warn_unused_result));

#endif
