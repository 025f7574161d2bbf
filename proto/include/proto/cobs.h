/*
 * proto/cobs.h — Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 1999).
 *
 * COBS removes every 0x00 from a frame so that 0x00 can delimit frames on the wire. Whatever noise
 * precedes it, a receiver resynchronises at the next 0x00: no length field can send it astray.
 * Overhead is at most 1 byte per 254 (plus 1): our 255-byte frames grow by at most 2 bytes.
 */
#ifndef PROTO_COBS_H
#define PROTO_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case stuffed size of n bytes. */
#define PROTO_COBS_MAX(n) ((n) + ((n) / 254u) + 1u)

/*
 * Stuff src[0..len) into dst (no delimiters added). *out_len gets the stuffed length.
 * @retval 0 ok
 * @retval PROTO_ENOBUFS dst_cap < PROTO_COBS_MAX(len)
 */
int proto_cobs_encode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len, size_t *out_len)
	__attribute__((warn_unused_result));

/*
 * Unstuff src[0..len) (the bytes between two delimiters, none of them 0x00) into dst.
 * dst may equal src (decoding in place never writes ahead of reading).
 * @retval 0 ok
 * @retval PROTO_EFRAME_COBS a code byte points past the end, or src contains 0x00
 * @retval PROTO_ENOBUFS dst_cap too small
 */
int proto_cobs_decode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len, size_t *out_len)
	__attribute__((warn_unused_result));

#endif
