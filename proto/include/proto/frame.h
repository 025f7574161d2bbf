/*
 * proto/frame.h — one frame on the collar↔gateway link (and on the USB dock).
 *
 * On the wire:   0x00 | COBS( header ‖ body ‖ [tag] ‖ crc32c ) | 0x00
 *
 * Unstuffed layout, little endian, at most PROTO_FRAME_MAX (255) bytes so one frame is one radio packet:
 *
 *   off size field      notes
 *   0   1    ver_flags  bits 7-4 version (1); bit 0 AUTH (tag present); bit 1 ACKREQ; bit 2 FRAG; bit 3 must be 0
 *   1   1    type       enum proto_type
 *   2   2    collar_id  assigned at provisioning; 0 is never a collar
 *   4   2    link_seq   counts every frame sent, retransmits included: loss statistics and replay nonce
 *   6   2    boot_id    bumped and persisted at boot and at every link_seq wrap: (boot_id, link_seq) never repeats
 *   8   n    body       one msgpack map (proto/msg.h), 0 <= n <= PROTO_BODY_MAX
 *   8+n 8    tag        if AUTH: first 8 bytes of HMAC-SHA256(collar key, bytes 0 .. 8+n-1)
 *   ..  4    crc32c     over every byte before it
 *
 * FRAG (dock only): set on every fragment of a message longer than one frame except the last; the receiver
 * concatenates the bodies in link_seq order. Radio links reject it.
 *
 * The receive pipeline is ordered cheapest-first, so noise is dropped before any crypto runs:
 *   proto_deframer_push() → proto_frame_check() (length, CRC, version, flags, type) → caller: collar known,
 *   replay window → proto_frame_verify() (constant-time tag) → proto_msg_decode() (pre-validate, decode).
 */
#ifndef PROTO_FRAME_H
#define PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/cobs.h"
#include "proto/hmac.h"

#define PROTO_VERSION 1u
#define PROTO_HDR_LEN 8u
#define PROTO_TAG_LEN 8u
#define PROTO_CRC_LEN 4u
#define PROTO_FRAME_MAX 255u                                   /* unstuffed bytes, one radio packet */
#define PROTO_BODY_MAX (PROTO_FRAME_MAX - PROTO_HDR_LEN - PROTO_TAG_LEN - PROTO_CRC_LEN) /* 235 */
#define PROTO_WIRE_MAX (PROTO_COBS_MAX(PROTO_FRAME_MAX) + 2u)   /* stuffed + two delimiters: 259 */

#define PROTO_F_AUTH 0x01u
#define PROTO_F_ACKREQ 0x02u
#define PROTO_F_FRAG 0x04u
#define PROTO_F_KNOWN (PROTO_F_AUTH | PROTO_F_ACKREQ | PROTO_F_FRAG)

/* Message types. Gaps leave room per direction; an unknown type is PROTO_EFRAME_TYPE, counted, not noise. */
enum proto_type {
	/* collar → gateway (radio) */
	PROTO_T_HELLO = 0x01,
	PROTO_T_FIX = 0x02,
	PROTO_T_FIXB = 0x03,
	PROTO_T_IND = 0x04,
	PROTO_T_STATUS = 0x05,
	PROTO_T_CMD_ACK = 0x06,
	PROTO_T_GONE = 0x07,
	/* gateway → collar (radio) */
	PROTO_T_ACK = 0x10,
	PROTO_T_CMD = 0x11,
	/* dock (USB): requests gateway → collar, LOG_LIST/LOG_DATA answers collar → gateway */
	PROTO_T_LOG_LIST = 0x20,
	PROTO_T_LOG_READ = 0x21,
	PROTO_T_LOG_DATA = 0x22,
	PROTO_T_LOG_TRIM = 0x23,
	PROTO_T_PROVISION = 0x24,
	/* gateway ↔ core (ZeroMQ, no radio framing: the msgpack body travels as a ZeroMQ frame) */
	PROTO_T_BATCH = 0x30,
	PROTO_T_BATCH_ACK = 0x31,
	PROTO_T_CREDIT = 0x32,
};

/* 1 if type is one this build knows, else 0. */
int proto_type_known(unsigned type);
/* "FIX", "IND", ... or "?" */
const char *proto_type_name(unsigned type);

struct proto_hdr {
	uint8_t flags; /* PROTO_F_* (the version nibble is added/checked by the frame functions) */
	uint8_t type;  /* enum proto_type */
	uint16_t collar_id;
	uint16_t link_seq;
	uint16_t boot_id;
};

/* --- sending ---------------------------------------------------------------------------------------- */

/*
 * Seal a frame in place: the caller has written the body at frame + PROTO_HDR_LEN (body_len bytes);
 * this writes the header before it and the tag (when key != NULL, which also sets AUTH) and CRC after it.
 * *frame_len gets the unstuffed length.
 * @retval PROTO_EFRAME_BODY body_len > PROTO_BODY_MAX (or > cap allows)
 * @retval PROTO_ENOBUFS cap too small
 * @retval PROTO_EINVAL unknown type or flags in hdr
 */
int proto_frame_seal(uint8_t *frame, size_t cap, const struct proto_hdr *hdr, size_t body_len,
                     const struct proto_hmac_key *key, size_t *frame_len) __attribute__((warn_unused_result));

/* Stuff a sealed frame and add both delimiters: wire needs PROTO_COBS_MAX(frame_len) + 2 bytes. */
int proto_frame_wire(const uint8_t *frame, size_t frame_len, uint8_t *wire, size_t cap, size_t *wire_len)
	__attribute__((warn_unused_result));

/* seal + wire in one call, copying body (for callers that did not encode in place). */
int proto_frame_encode(const struct proto_hdr *hdr, const uint8_t *body, size_t body_len,
                       const struct proto_hmac_key *key, uint8_t *wire, size_t cap, size_t *wire_len)
	__attribute__((warn_unused_result));

/* --- receiving -------------------------------------------------------------------------------------- */

struct proto_deframer_stats {
	uint32_t frames;    /* candidates returned (CRC not yet checked) */
	uint32_t overlong;  /* PROTO_EFRAME_LONG */
	uint32_t cobs;      /* PROTO_EFRAME_COBS */
	uint32_t bytes;     /* every byte pushed */
	uint32_t discarded; /* bytes thrown away with rejected candidates */
};

/*
 * Streaming deframer: fed any number of bytes at a time, caller-owned, no heap, fixed size.
 * It keeps only the bytes since the last 0x00; a candidate longer than any valid frame is discarded up to
 * the next 0x00 without being stored, so garbage, truncation or a corrupted frame costs at most the frame it
 * hit: the next delimiter always starts afresh and no following good frame is lost.
 */
struct proto_deframer {
	uint8_t buf[PROTO_COBS_MAX(PROTO_FRAME_MAX)];
	uint16_t n;
	uint8_t skipping; /* overlong: drop until the next delimiter */
	struct proto_deframer_stats stats;
};

void proto_deframer_init(struct proto_deframer *d);

/*
 * Consume bytes from in[0..len) until one frame candidate is complete or the input is used up.
 * *used gets the bytes consumed (always > 0 when len > 0): call again with in + *used.
 * @retval 1 a candidate is in frame[0 .. *frame_len) (unstuffed; run proto_frame_check on it next)
 * @retval 0 all input consumed, no complete frame yet
 * @retval PROTO_EFRAME_LONG / PROTO_EFRAME_COBS a candidate was rejected (counted in stats); call again
 */
int proto_deframer_push(struct proto_deframer *d, const uint8_t *in, size_t len, size_t *used, uint8_t *frame,
                        size_t cap, size_t *frame_len) __attribute__((warn_unused_result));

/*
 * Check an unstuffed frame: length, CRC-32C, version, reserved flags, known type, tag room.
 * On success *hdr is filled and body points into frame (borrowed).
 * @retval PROTO_EFRAME_SHORT, PROTO_EFRAME_LONG, PROTO_EFRAME_CRC, PROTO_EFRAME_VERSION, PROTO_EFRAME_FLAGS,
 *         PROTO_EFRAME_TYPE, PROTO_EFRAME_BODY
 */
int proto_frame_check(const uint8_t *frame, size_t len, struct proto_hdr *hdr, const uint8_t **body,
                      size_t *body_len) __attribute__((warn_unused_result));

/*
 * Verify the tag of a frame that passed proto_frame_check with the collar's key, in constant time.
 * @retval PROTO_EFRAME_NOAUTH the frame carries no tag
 * @retval PROTO_EFRAME_TAG mismatch
 */
int proto_frame_verify(const uint8_t *frame, size_t len, const struct proto_hmac_key *key)
	__attribute__((warn_unused_result));

#endif
