/*
 * proto/src/frame.c — sealing, stuffing, deframing and checking frames (layout in proto/frame.h).
 *
 * Deframer state machine (after gpsd's packet.c, reduced to what COBS needs):
 *
 *   COLLECT --0x00--> hand the collected bytes to COBS decode, emit a candidate (or reject it), COLLECT
 *   COLLECT --byte, buffer full--> SKIPPING (count PROTO_EFRAME_LONG once)
 *   SKIPPING --0x00--> COLLECT          SKIPPING --byte--> SKIPPING (bytes dropped, never stored)
 *
 * Every 0x00 ends whatever came before it, so no corrupted, truncated or forged length can make the
 * deframer swallow the frame that follows: the worst a bad byte can do is spoil the frame it is in.
 */
#include "proto/frame.h"
#include "proto/crc32c.h"
#include "proto/err.h"

#include <string.h>

static const struct {
	uint8_t type;
	const char *name;
} type_names[] = {
	{PROTO_T_HELLO, "HELLO"},         {PROTO_T_FIX, "FIX"},           {PROTO_T_FIXB, "FIXB"},
	{PROTO_T_IND, "IND"},             {PROTO_T_STATUS, "STATUS"},     {PROTO_T_CMD_ACK, "CMD_ACK"}, {PROTO_T_GONE, "GONE"},
	{PROTO_T_ACK, "ACK"},             {PROTO_T_CMD, "CMD"},           {PROTO_T_LOG_LIST, "LOG_LIST"},
	{PROTO_T_LOG_READ, "LOG_READ"},   {PROTO_T_LOG_DATA, "LOG_DATA"}, {PROTO_T_LOG_TRIM, "LOG_TRIM"},
	{PROTO_T_PROVISION, "PROVISION"}, {PROTO_T_BATCH, "BATCH"},       {PROTO_T_BATCH_ACK, "BATCH_ACK"},
	{PROTO_T_CREDIT, "CREDIT"},
};

const char *proto_type_name(unsigned type)
{
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return "?";
}

int proto_type_known(unsigned type)
{
	return proto_type_name(type)[0] != '?';
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}

int proto_frame_seal(uint8_t *frame, size_t cap, const struct proto_hdr *hdr, size_t body_len,
                     const struct proto_hmac_key *key, size_t *frame_len)
{
	if ((hdr->flags & ~PROTO_F_KNOWN) || !proto_type_known(hdr->type))
		return PROTO_EINVAL;
	if (body_len > PROTO_BODY_MAX)
		return PROTO_EFRAME_BODY;
	size_t tag_len = key ? PROTO_TAG_LEN : 0;
	size_t n = PROTO_HDR_LEN + body_len + tag_len + PROTO_CRC_LEN;
	if (cap < n)
		return PROTO_ENOBUFS;

	uint8_t flags = (uint8_t)(hdr->flags & ~PROTO_F_AUTH);
	if (key)
		flags |= PROTO_F_AUTH;
	frame[0] = (uint8_t)(PROTO_VERSION << 4 | flags);
	frame[1] = hdr->type;
	put_le16(frame + 2, hdr->collar_id);
	put_le16(frame + 4, hdr->link_seq);
	put_le16(frame + 6, hdr->boot_id);
	size_t off = PROTO_HDR_LEN + body_len;
	if (key) {
		uint8_t mac[PROTO_SHA256_LEN];
		proto_hmac(key, frame, off, mac);
		memcpy(frame + off, mac, PROTO_TAG_LEN);
		off += PROTO_TAG_LEN;
	}
	put_le32(frame + off, proto_crc32c(0, frame, off));
	*frame_len = off + PROTO_CRC_LEN;
	return 0;
}

int proto_frame_wire(const uint8_t *frame, size_t frame_len, uint8_t *wire, size_t cap, size_t *wire_len)
{
	if (cap < 2)
		return PROTO_ENOBUFS;
	size_t stuffed;
	int err = proto_cobs_encode(wire + 1, cap - 2, frame, frame_len, &stuffed);
	if (err < 0)
		return err;
	wire[0] = 0;
	wire[1 + stuffed] = 0;
	*wire_len = stuffed + 2;
	return 0;
}

int proto_frame_encode(const struct proto_hdr *hdr, const uint8_t *body, size_t body_len,
                       const struct proto_hmac_key *key, uint8_t *wire, size_t cap, size_t *wire_len)
{
	uint8_t frame[PROTO_FRAME_MAX];
	size_t frame_len;
	if (body_len > PROTO_BODY_MAX)
		return PROTO_EFRAME_BODY;
	memcpy(frame + PROTO_HDR_LEN, body, body_len);
	int err = proto_frame_seal(frame, sizeof frame, hdr, body_len, key, &frame_len);
	if (err < 0)
		return err;
	return proto_frame_wire(frame, frame_len, wire, cap, wire_len);
}

void proto_deframer_init(struct proto_deframer *d)
{
	memset(d, 0, sizeof *d);
}

int proto_deframer_push(struct proto_deframer *d, const uint8_t *in, size_t len, size_t *used, uint8_t *frame,
                        size_t cap, size_t *frame_len)
{
	size_t i = 0;
	while (i < len) {
		/* Bulk path: everything up to the next delimiter is frame content (or skipped garbage). memchr
		 * keeps the per-byte cost of a busy radio link to a few instructions. */
		const uint8_t *z = memchr(in + i, 0, len - i);
		size_t run = z ? (size_t)(z - (in + i)) : len - i;
		if (d->skipping) {
			d->stats.discarded += (uint32_t)run;
		} else if (run > sizeof d->buf - d->n) {
			/* Longer than any frame can be: drop it all up to the next delimiter, storing nothing more. */
			size_t room = sizeof d->buf - d->n;
			d->stats.discarded += (uint32_t)d->n + (uint32_t)room + 1u;
			d->stats.overlong++;
			d->n = 0;
			d->skipping = 1;
			i += room + 1;
			d->stats.bytes += (uint32_t)i;
			*used = i;
			return PROTO_EFRAME_LONG;
		} else {
			memcpy(d->buf + d->n, in + i, run);
			d->n = (uint16_t)(d->n + run);
		}
		i += run;
		if (!z)
			break;
		i++; /* the delimiter */
		if (d->skipping) {
			d->skipping = 0;
			continue;
		}
		if (d->n == 0)
			continue; /* idle line or back-to-back delimiters: nothing to report */
		size_t n = d->n;
		d->n = 0;
		d->stats.bytes += (uint32_t)i;
		*used = i;
		int err = proto_cobs_decode(frame, cap, d->buf, n, frame_len);
		if (err < 0) {
			d->stats.cobs++;
			d->stats.discarded += (uint32_t)n;
			return err == PROTO_ENOBUFS ? PROTO_EFRAME_LONG : err;
		}
		d->stats.frames++;
		return 1;
	}
	d->stats.bytes += (uint32_t)i;
	*used = i;
	return 0;
}

int proto_frame_check(const uint8_t *frame, size_t len, struct proto_hdr *hdr, const uint8_t **body,
                      size_t *body_len)
{
	if (len < PROTO_HDR_LEN + PROTO_CRC_LEN)
		return PROTO_EFRAME_SHORT;
	if (len > PROTO_FRAME_MAX)
		return PROTO_EFRAME_LONG;
	/* CRC first: it is the cheapest test that tells noise from a frame, and nothing else is trusted
	 * until it passes. */
	if (proto_crc32c(0, frame, len - PROTO_CRC_LEN) != get_le32(frame + len - PROTO_CRC_LEN))
		return PROTO_EFRAME_CRC;
	uint8_t vf = frame[0];
	if (vf >> 4 != PROTO_VERSION)
		return PROTO_EFRAME_VERSION;
	if (vf & 0x0Fu & ~PROTO_F_KNOWN)
		return PROTO_EFRAME_FLAGS;
	if (!proto_type_known(frame[1]))
		return PROTO_EFRAME_TYPE;
	size_t tag_len = (vf & PROTO_F_AUTH) ? PROTO_TAG_LEN : 0;
	if (len < PROTO_HDR_LEN + tag_len + PROTO_CRC_LEN)
		return PROTO_EFRAME_BODY;
	hdr->flags = (uint8_t)(vf & 0x0Fu);
	hdr->type = frame[1];
	hdr->collar_id = get_le16(frame + 2);
	hdr->link_seq = get_le16(frame + 4);
	hdr->boot_id = get_le16(frame + 6);
	*body = frame + PROTO_HDR_LEN;
	*body_len = len - PROTO_HDR_LEN - tag_len - PROTO_CRC_LEN;
	return 0;
}

int proto_frame_verify(const uint8_t *frame, size_t len, const struct proto_hmac_key *key)
{
	if (len < PROTO_HDR_LEN + PROTO_TAG_LEN + PROTO_CRC_LEN || !(frame[0] & PROTO_F_AUTH))
		return PROTO_EFRAME_NOAUTH;
	size_t signed_len = len - PROTO_TAG_LEN - PROTO_CRC_LEN;
	uint8_t mac[PROTO_SHA256_LEN];
	proto_hmac(key, frame, signed_len, mac);
	if (proto_ct_compare(mac, frame + signed_len, PROTO_TAG_LEN) != 0)
		return PROTO_EFRAME_TAG;
	return 0;
}
