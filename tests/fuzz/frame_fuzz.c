/*
 * Fuzz target over the whole receive path of proto/: deframer → check → tag → msgpack pre-validation →
 * decode, plus the decoder on raw bodies (a fuzzer cannot forge an HMAC, so bodies are also decoded
 * directly to reach the decoder's depths).
 *
 * Invariants asserted (proto/SECURITY.md):
 *   - the deframer always makes progress and never returns a frame longer than PROTO_FRAME_MAX;
 *   - anything the decoder accepts re-encodes, and decoding that encoding gives the same encoding again
 *     (decode ∘ encode is the identity on accepted messages: nothing invented, nothing dropped);
 *   - no crash, no out-of-bounds access, no allocation (checked by the sanitizers and the replay test).
 *
 * Input layout: byte 0 selects the message type for the raw-body path; the rest is both a byte stream for
 * the deframer and (in full) a body for the decoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define FUZZ_KEY "scentrack fuzz key, 32 bytes...."

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Decode, and if accepted, re-encode twice and require a fixed point. */
static void decode_roundtrip(unsigned type, const uint8_t *body, size_t len)
{
	static struct proto_msg m1, m2; /* BATCH is large: keep these off the stack */
	static uint8_t enc1[PROTO_BATCH_BODY_MAX], enc2[PROTO_BATCH_BODY_MAX];
	if (proto_msg_decode(type, body, len, &m1, NULL) != 0)
		return;
	size_t n1, n2;
	check(proto_msg_encode(&m1, enc1, sizeof enc1, &n1) == 0);
	check(proto_msg_decode(type, enc1, n1, &m2, NULL) == 0);
	check(proto_msg_encode(&m2, enc2, sizeof enc2, &n2) == 0);
	check(n1 == n2 && memcmp(enc1, enc2, n1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_hmac_key key;
	static int key_ready;
	if (!key_ready) {
		proto_hmac_init(&key, (const uint8_t *)FUZZ_KEY, 32);
		key_ready = 1;
	}
	if (size == 0)
		return 0;

	decode_roundtrip(data[0], data + 1, size - 1);

	struct proto_deframer d;
	proto_deframer_init(&d);
	size_t off = 0;
	while (off < size) {
		uint8_t f[PROTO_FRAME_MAX];
		size_t used = 0, fl = 0;
		int r = proto_deframer_push(&d, data + off, size - off, &used, f, sizeof f, &fl);
		check(used > 0 && used <= size - off);
		off += used;
		if (r != 1)
			continue;
		check(fl <= PROTO_FRAME_MAX);
		struct proto_hdr h;
		const uint8_t *body;
		size_t bl;
		if (proto_frame_check(f, fl, &h, &body, &bl) != 0)
			continue;
		check(body >= f && body + bl <= f + fl);
		if ((h.flags & PROTO_F_AUTH) && proto_frame_verify(f, fl, &key) != 0)
			continue;
		decode_roundtrip(h.type, body, bl);
	}
	check(d.stats.bytes == size);
	return 0;
}
