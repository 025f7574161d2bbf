/*
 * Fuzz target for the collar's receive path: cf_link_on_rx over a real journal on the NOR flash emulator.
 *
 * Input layout: byte 0 = mode.
 *   mode even: the rest is raw radio bytes, fed in chunks whose lengths come from a PRNG seeded by byte 0
 *              (noise, truncated frames, stray delimiters).
 *   mode odd:  the rest is a sequence of gateway messages: [type selector][len][msgpack body bytes...];
 *              each body is sealed into a frame with the fuzz key (so it passes CRC and tag and reaches the
 *              decoder, the ACK logic and the CMD logic — a fuzzer cannot forge an HMAC), then stuffed.
 *              Every 4th frame gets one byte flipped after sealing (must be rejected, counted).
 * Between chunks the link is polled (frames it sends are checked to be well formed), with the clock moving.
 * The journal holds a few records first, so ACKs have something to speak about.
 *
 * Invariants: no crash/UB; on_rx never fails except -EIO (journal); every frame poll returns passes
 * proto_frame_check and verifies with the key; the link never acks a rec_seq that was not issued
 * (journal refuses, counted as rx_ack_range); counters never decrease.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cf/journal.h"
#include "cf/link.h"
#include "hal/flash_emul.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define FUZZ_KEY "scentrack fuzz key, 32 bytes...."
#define FUZZ_ID 0x0105u
#define PAGES 8u
#define PAGE 4096u

static void check(int cond)
{
	if (!cond)
		abort();
}

static uint8_t mem[PAGES * PAGE];
static struct hal_flash dev;
static struct hal_flash_emul em;
static struct cf_journal j;
static struct cf_link l;
static struct proto_hmac_key gkey;

static uint8_t on_cmd(void *ctx, const struct proto_cmd *c, uint32_t now_ms)
{
	(void)ctx, (void)now_ms;
	return c->op == PROTO_OP_SET_RATE ? PROTO_RES_DONE : PROTO_RES_UNSUPPORTED;
}

static void poll_all(uint32_t now)
{
	uint8_t out[PROTO_WIRE_MAX], f[PROTO_FRAME_MAX];
	size_t len;
	for (int i = 0; i < 32; i++) {
		int r = cf_link_poll(&l, now, out, sizeof out, &len);
		check(r == 0 || r == 1);
		if (r == 0)
			return;
		/* what goes on the air is a well-formed, authentic frame */
		struct proto_deframer d;
		size_t used, fl;
		proto_deframer_init(&d);
		check(proto_deframer_push(&d, out, len, &used, f, sizeof f, &fl) == 1);
		struct proto_hdr h;
		const uint8_t *body;
		size_t bl;
		check(proto_frame_check(f, fl, &h, &body, &bl) == 0);
		check(h.collar_id == FUZZ_ID);
		check(proto_frame_verify(f, fl, &gkey) == 0);
	}
}

static void rx(uint32_t now, const uint8_t *b, size_t n)
{
	uint32_t bad_before = cf_link_stats(&l)->rx_bad_frame;
	int r = cf_link_on_rx(&l, now, b, n);
	check(r >= 0 || r == -EIO);
	check(cf_link_stats(&l)->rx_bad_frame >= bad_before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		proto_hmac_init(&gkey, (const uint8_t *)FUZZ_KEY, 32);
		ready = 1;
	}
	if (size == 0)
		return 0;
	check(hal_flash_emul_init(&dev, &em, mem, NULL, PAGE, PAGES, 8) == 0);
	check(cf_journal_mount(&j, &dev) == 0);
	/* a few records: FIXes and one IND, so ACK/SACK bits land on something */
	for (uint32_t i = 1; i <= 6; i++) {
		uint8_t body[64];
		size_t bl;
		if (i == 4) {
			struct proto_ind ind = {.has = PROTO_IND_HAS_TMONO, .rec_seq = i, .t_mono_ms = 1000, .kind = 1, .src = 1};
			check(proto_ind_encode(&ind, body, sizeof body, &bl) == 0);
			check(cf_journal_append(&j, PROTO_T_IND, body, bl, NULL) == 0);
		} else {
			struct proto_fix fx = {.has = PROTO_FIX_HAS_TMONO, .rec_seq = i, .t_mono_ms = i * 1000u,
			                       .lat_e7 = -259020567, .lon_e7 = 325833383};
			check(proto_fix_encode(&fx, body, sizeof body, &bl) == 0);
			check(cf_journal_append(&j, PROTO_T_FIX, body, bl, NULL) == 0);
		}
	}
	struct cf_link_cfg cfg = {.collar_id = FUZZ_ID, .key = (const uint8_t *)FUZZ_KEY, .on_cmd = on_cmd,
	                          .seed = 7, .status_ms = 5000, .fix_batch = 2};
	check(cf_link_init(&l, &cfg, &j, 0) == 0);
	uint32_t now = 0;
	poll_all(now);

	uint8_t mode = data[0];
	data++;
	size--;
	if ((mode & 1u) == 0) {
		uint32_t rng = 0x2545f491u ^ mode;
		size_t off = 0;
		while (off < size) {
			rng ^= rng << 13;
			rng ^= rng >> 17;
			rng ^= rng << 5;
			size_t n = 1u + rng % 48u;
			if (n > size - off)
				n = size - off;
			rx(now, data + off, n);
			now += rng % 700u;
			poll_all(now);
			off += n;
		}
		return 0;
	}
	/* structured: sealed gateway frames around fuzzed bodies */
	size_t off = 0;
	uint16_t lseq = 0;
	unsigned k = 0;
	while (off + 2u <= size) {
		uint8_t sel = data[off];
		size_t bl = data[off + 1];
		off += 2;
		if (bl > size - off)
			bl = size - off;
		if (bl > PROTO_BODY_MAX)
			bl = PROTO_BODY_MAX;
		uint8_t frame[PROTO_FRAME_MAX], wire[PROTO_WIRE_MAX];
		size_t fl, wl;
		struct proto_hdr h = {.type = (sel & 1u) ? PROTO_T_CMD : PROTO_T_ACK,
		                      .collar_id = (sel & 0x40u) ? (uint16_t)(FUZZ_ID + 1u) : (uint16_t)FUZZ_ID,
		                      .link_seq = lseq++, .boot_id = 1};
		memcpy(frame + PROTO_HDR_LEN, data + off, bl);
		off += bl;
		if (proto_frame_seal(frame, sizeof frame, &h, bl, &gkey, &fl) != 0)
			continue;
		if ((++k & 3u) == 0 && fl > 0)
			frame[sel % fl] ^= (uint8_t)(1u << (sel % 8u));
		if (proto_frame_wire(frame, fl, wire, sizeof wire, &wl) != 0)
			continue;
		rx(now, wire, wl);
		now += (uint32_t)sel * 37u;
		poll_all(now);
	}
	return 0;
}
