/*
 * Frames: seal/check/verify round trips, every single-bit flip rejected, and the deframer's promise —
 * whatever garbage, truncation or splitting the line does, every good frame that follows is recovered.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/crc32c.h"
#include "proto/err.h"
#include "proto/frame.h"

static struct proto_hmac_key key;
static const uint8_t key_bytes[32] = "0123456789abcdef0123456789abcdef";

static void setup(void)
{
	proto_hmac_init(&key, key_bytes, sizeof key_bytes);
}

TestSuite(proto_frame, .init = setup);

/* xorshift: the same sequence on every libc, so failures reproduce anywhere. */
static uint32_t rng_state = 1;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

struct built {
	struct proto_hdr hdr;
	uint8_t body[PROTO_BODY_MAX];
	size_t body_len;
	uint8_t wire[PROTO_WIRE_MAX];
	size_t wire_len;
};

static const uint8_t types[] = {PROTO_T_FIX, PROTO_T_FIXB, PROTO_T_IND, PROTO_T_STATUS, PROTO_T_HELLO, PROTO_T_ACK};

static void build_random(struct built *b, int auth)
{
	b->hdr.flags = (uint8_t)(rnd() & PROTO_F_ACKREQ);
	b->hdr.type = types[rnd() % sizeof types];
	b->hdr.collar_id = (uint16_t)(1 + rnd() % 60000);
	b->hdr.link_seq = (uint16_t)rnd();
	b->hdr.boot_id = (uint16_t)rnd();
	b->body_len = rnd() % (PROTO_BODY_MAX + 1);
	for (size_t i = 0; i < b->body_len; i++)
		b->body[i] = (rnd() % 5 == 0) ? 0 : (uint8_t)rnd(); /* plenty of zeros to stuff */
	cr_assert_eq(proto_frame_encode(&b->hdr, b->body, b->body_len, auth ? &key : NULL, b->wire, sizeof b->wire,
	                                &b->wire_len),
	             0);
}

/* Returns 1 if the unstuffed frame is accepted as exactly b (check + verify). */
static int accepted_as(const uint8_t *f, size_t n, const struct built *b)
{
	struct proto_hdr h;
	const uint8_t *body;
	size_t body_len;
	if (proto_frame_check(f, n, &h, &body, &body_len) < 0)
		return 0;
	if ((h.flags & PROTO_F_AUTH) && proto_frame_verify(f, n, &key) < 0)
		return 0;
	return h.type == b->hdr.type && h.collar_id == b->hdr.collar_id && h.link_seq == b->hdr.link_seq &&
	       h.boot_id == b->hdr.boot_id && body_len == b->body_len && memcmp(body, b->body, body_len) == 0;
}

Test(proto_frame, seal_check_verify_round_trip)
{
	rng_state = 42;
	for (int i = 0; i < 5000; i++) {
		struct built b;
		build_random(&b, i % 4 != 0);
		uint8_t frame[PROTO_FRAME_MAX];
		size_t n;
		cr_assert_eq(b.wire[0], 0);
		cr_assert_eq(b.wire[b.wire_len - 1], 0);
		cr_assert_null(memchr(b.wire + 1, 0, b.wire_len - 2));
		cr_assert_eq(proto_cobs_decode(frame, sizeof frame, b.wire + 1, b.wire_len - 2, &n), 0);
		cr_assert(accepted_as(frame, n, &b));
	}
}

Test(proto_frame, largest_body_fits_one_radio_packet)
{
	struct built b = {.hdr = {.type = PROTO_T_FIXB, .collar_id = 7}, .body_len = PROTO_BODY_MAX};
	memset(b.body, 0x5A, b.body_len);
	cr_assert_eq(proto_frame_encode(&b.hdr, b.body, b.body_len, &key, b.wire, sizeof b.wire, &b.wire_len), 0);
	cr_assert_leq(b.wire_len, PROTO_WIRE_MAX);
	cr_assert_eq(proto_frame_encode(&b.hdr, b.body, PROTO_BODY_MAX + 1, &key, b.wire, sizeof b.wire, &b.wire_len),
	             PROTO_EFRAME_BODY);
}

Test(proto_frame, every_single_bit_flip_is_rejected)
{
	rng_state = 99;
	for (int i = 0; i < 40; i++) {
		struct built b;
		build_random(&b, 1);
		uint8_t frame[PROTO_FRAME_MAX];
		size_t n;
		cr_assert_eq(proto_cobs_decode(frame, sizeof frame, b.wire + 1, b.wire_len - 2, &n), 0);
		/* In the unstuffed frame: CRC-32C catches every single-bit error. */
		for (size_t bit = 0; bit < n * 8; bit++) {
			frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			struct proto_hdr h;
			const uint8_t *body;
			size_t bl;
			cr_assert_eq(proto_frame_check(frame, n, &h, &body, &bl), PROTO_EFRAME_CRC);
			frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		/* On the wire (stuffed), a flip may also break stuffing or split the frame: nothing may pass. */
		for (size_t bit = 0; bit < b.wire_len * 8; bit++) {
			uint8_t wire[PROTO_WIRE_MAX];
			memcpy(wire, b.wire, b.wire_len);
			wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			struct proto_deframer d;
			proto_deframer_init(&d);
			size_t off = 0;
			while (off < b.wire_len) {
				size_t used, fl;
				uint8_t f[PROTO_FRAME_MAX];
				int r = proto_deframer_push(&d, wire + off, b.wire_len - off, &used, f, sizeof f, &fl);
				off += used;
				if (r == 1) {
					struct proto_hdr h;
					const uint8_t *body;
					size_t bl;
					int ok = proto_frame_check(f, fl, &h, &body, &bl) == 0 &&
					         proto_frame_verify(f, fl, &key) == 0;
					/* Flipping a delimiter bit only removes a delimiter; the frame itself is intact. */
					int delim = bit / 8 == 0 || bit / 8 == b.wire_len - 1;
					cr_assert(!ok || delim, "bit %zu flip accepted", bit);
				}
			}
		}
	}
}

Test(proto_frame, tag_rejects_wrong_key_and_missing_auth)
{
	struct built b;
	rng_state = 5;
	build_random(&b, 1);
	uint8_t frame[PROTO_FRAME_MAX];
	size_t n;
	cr_assert_eq(proto_cobs_decode(frame, sizeof frame, b.wire + 1, b.wire_len - 2, &n), 0);
	struct proto_hmac_key other;
	uint8_t kb[32];
	memcpy(kb, key_bytes, 32);
	kb[31] ^= 1;
	proto_hmac_init(&other, kb, 32);
	cr_assert_eq(proto_frame_verify(frame, n, &other), PROTO_EFRAME_TAG);
	cr_assert_eq(proto_frame_verify(frame, n, &key), 0);
	build_random(&b, 0);
	cr_assert_eq(proto_cobs_decode(frame, sizeof frame, b.wire + 1, b.wire_len - 2, &n), 0);
	cr_assert_eq(proto_frame_verify(frame, n, &key), PROTO_EFRAME_NOAUTH);
}

/* A frame whose CRC is right but whose header breaks the rules is refused for the right reason. */
Test(proto_frame, header_rules_have_distinct_errors)
{
	uint8_t f[PROTO_FRAME_MAX];
	struct proto_hdr h = {.type = PROTO_T_FIX, .collar_id = 3};
	size_t n;
	const uint8_t *body;
	size_t bl;
	struct proto_hdr out;
	cr_assert_eq(proto_frame_seal(f, sizeof f, &h, 0, NULL, &n), 0);
	cr_assert_eq(proto_frame_check(f, n, &out, &body, &bl), 0);
	/* reseal helpers: change a header byte and fix the CRC as a sender would */
	struct {
		uint8_t off, val;
		int err;
	} cases[] = {
		{0, 0x20, PROTO_EFRAME_VERSION}, {0, 0x18, PROTO_EFRAME_FLAGS}, {1, 0x7F, PROTO_EFRAME_TYPE},
		{0, 0x11, PROTO_EFRAME_BODY}, /* AUTH claimed but no room for a tag */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t g[PROTO_FRAME_MAX];
		memcpy(g, f, n);
		g[cases[i].off] = cases[i].val;
		uint32_t crc = proto_crc32c(0, g, n - 4);
		g[n - 4] = (uint8_t)crc;
		g[n - 3] = (uint8_t)(crc >> 8);
		g[n - 2] = (uint8_t)(crc >> 16);
		g[n - 1] = (uint8_t)(crc >> 24);
		cr_assert_eq(proto_frame_check(g, n, &out, &body, &bl), cases[i].err, "case %zu", i);
	}
	cr_assert_eq(proto_frame_check(f, 11, &out, &body, &bl), PROTO_EFRAME_SHORT);
}

/* Build a stream: good frames separated by garbage of every kind (random bytes with and without zeros,
 * truncated frames, frames with a flipped bit, over-long runs). */
struct stream {
	uint8_t bytes[200000];
	size_t len;
	struct built good[300];
	size_t n_good;
};

static void append(struct stream *s, const void *p, size_t n)
{
	cr_assert_leq(s->len + n, sizeof s->bytes);
	memcpy(s->bytes + s->len, p, n);
	s->len += n;
}

static void make_stream(struct stream *s, uint32_t seed, size_t frames)
{
	rng_state = seed;
	s->len = 0;
	s->n_good = 0;
	for (size_t i = 0; i < frames; i++) {
		uint8_t junk[700];
		size_t jn = 0;
		switch (rnd() % 6) {
		case 0: /* nothing between frames */
			break;
		case 1: /* random noise, may contain zeros */
			jn = rnd() % 40;
			for (size_t k = 0; k < jn; k++)
				junk[k] = (uint8_t)rnd();
			break;
		case 2: { /* a truncated frame */
			struct built t;
			build_random(&t, 1);
			jn = 1 + rnd() % (t.wire_len - 2);
			memcpy(junk, t.wire, jn);
			break;
		}
		case 3: { /* a corrupted frame */
			struct built t;
			build_random(&t, 1);
			memcpy(junk, t.wire, t.wire_len);
			jn = t.wire_len;
			size_t at = 1 + rnd() % (jn - 2);
			junk[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		}
		case 4: /* an over-long run with no delimiter (a stuck transmitter) */
			jn = 300 + rnd() % 300;
			for (size_t k = 0; k < jn; k++)
				junk[k] = (uint8_t)(1 + rnd() % 255);
			break;
		case 5: /* text, like a debug print on the same UART */
			jn = (size_t)snprintf((char *)junk, sizeof junk, "$GPGGA,debug line %u\r\n", rnd());
			break;
		}
		append(s, junk, jn);
		struct built *b = &s->good[s->n_good++];
		build_random(b, 1);
		append(s, b->wire, b->wire_len);
	}
}

struct sink {
	size_t next; /* index of the next good frame expected */
	size_t rejected;
	const struct stream *s;
};

static void feed(struct proto_deframer *d, struct sink *k, const uint8_t *p, size_t n)
{
	while (n) {
		size_t used, fl;
		uint8_t f[PROTO_FRAME_MAX];
		int r = proto_deframer_push(d, p, n, &used, f, sizeof f, &fl);
		cr_assert_gt(used, 0);
		p += used;
		n -= used;
		if (r != 1) {
			k->rejected += r < 0;
			continue;
		}
		/* Candidates that are not the next good frame must be rejected by check/verify; a good one
		 * must be exactly the next expected (no loss, no reordering). */
		if (k->next < k->s->n_good && accepted_as(f, fl, &k->s->good[k->next])) {
			k->next++;
			continue;
		}
		struct proto_hdr h;
		const uint8_t *body;
		size_t bl;
		int ok = proto_frame_check(f, fl, &h, &body, &bl) == 0 && proto_frame_verify(f, fl, &key) == 0;
		cr_assert(!ok, "an unexpected frame was accepted (expected good frame %zu)", k->next);
		k->rejected++;
	}
}

static struct stream st; /* large: keep it off the stack */

Test(proto_frame, stream_split_at_every_boundary_recovers_every_good_frame)
{
	make_stream(&st, 2024, 12);
	for (size_t cut = 0; cut <= st.len; cut++) {
		struct proto_deframer d;
		proto_deframer_init(&d);
		struct sink k = {.s = &st};
		feed(&d, &k, st.bytes, cut);
		feed(&d, &k, st.bytes + cut, st.len - cut);
		cr_assert_eq(k.next, st.n_good, "cut at %zu: recovered %zu of %zu", cut, k.next, st.n_good);
	}
}

Test(proto_frame, byte_by_byte_and_random_chunks_recover_every_good_frame)
{
	make_stream(&st, 77, 250);
	struct proto_deframer d;
	proto_deframer_init(&d);
	struct sink k = {.s = &st};
	for (size_t i = 0; i < st.len; i++)
		feed(&d, &k, st.bytes + i, 1);
	cr_assert_eq(k.next, st.n_good);
	cr_assert_gt(k.rejected, 0, "the stream should have contained garbage");

	proto_deframer_init(&d);
	k = (struct sink){.s = &st};
	size_t off = 0;
	while (off < st.len) {
		size_t n = 1 + rnd() % 700;
		if (n > st.len - off)
			n = st.len - off;
		feed(&d, &k, st.bytes + off, n);
		off += n;
	}
	cr_assert_eq(k.next, st.n_good);
	cr_assert_eq(d.stats.bytes, st.len);
}

Test(proto_frame, one_megabyte_push_is_fine)
{
	static uint8_t big[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(1 + i % 255);
	struct proto_deframer d;
	proto_deframer_init(&d);
	struct stream *s = &st;
	make_stream(s, 3, 1);
	struct sink k = {.s = s};
	feed(&d, &k, big, sizeof big);
	feed(&d, &k, s->good[0].wire, s->good[0].wire_len);
	cr_assert_eq(k.next, 1);
	cr_assert_geq(d.stats.overlong, 1);
}
