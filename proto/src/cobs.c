/*
 * proto/src/cobs.c — COBS encode/decode (Cheshire & Baker 1999), bounded and in-place safe.
 *
 * A stuffed frame is a sequence of blocks: a code byte c (1..255) followed by c-1 non-zero data bytes.
 * A block with c < 255 stands for its data followed by one 0x00; the final block's implied zero is dropped.
 * A block with c == 255 carries 254 data bytes and no implied zero.
 */
#include "proto/cobs.h"
#include "proto/err.h"

int proto_cobs_encode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len, size_t *out_len)
{
	if (dst_cap < PROTO_COBS_MAX(len))
		return PROTO_ENOBUFS;

	size_t code_at = 0; /* where the current block's code byte goes */
	size_t o = 1;
	uint8_t code = 1;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == 0) {
			dst[code_at] = code;
			code_at = o++;
			code = 1;
			continue;
		}
		dst[o++] = src[i];
		if (++code == 0xFF) {
			/* A full block carries no implied zero. Open the next block only if data
			 * follows, so 254 non-zero bytes stuff to 255, not 256 (the paper's rule). */
			dst[code_at] = code;
			if (i + 1 == len) {
				*out_len = o;
				return 0;
			}
			code_at = o++;
			code = 1;
		}
	}
	dst[code_at] = code;
	*out_len = o;
	return 0;
}

int proto_cobs_decode(uint8_t *dst, size_t dst_cap, const uint8_t *src, size_t len, size_t *out_len)
{
	size_t i = 0, o = 0;
	while (i < len) {
		uint8_t code = src[i++];
		if (code == 0)
			return PROTO_EFRAME_COBS;
		size_t n = (size_t)code - 1u;
		if (n > len - i)
			return PROTO_EFRAME_COBS;
		if (n > dst_cap - o)
			return PROTO_ENOBUFS;
		for (size_t k = 0; k < n; k++) {
			uint8_t b = src[i++];
			if (b == 0)
				return PROTO_EFRAME_COBS;
			dst[o++] = b; /* o <= i always, so in-place decoding never overwrites unread input */
		}
		if (code != 0xFF && i < len) {
			if (o >= dst_cap)
				return PROTO_ENOBUFS;
			dst[o++] = 0;
		}
	}
	*out_len = o;
	return 0;
}
