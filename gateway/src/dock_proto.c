/*
 * gw/src/dock_proto.c — the dock's pure protocol helpers: FRAG reassembly and journal record typing.
 * No USB here, so the hostile-input tests can drive them directly.
 */
#include "gw/dock.h"

#include <errno.h>
#include <string.h>

#include "proto/err.h"

void gw_dock_reasm_init(struct gw_dock_reasm *r)
{
	memset(r, 0, sizeof(*r));
}

static void reasm_start(struct gw_dock_reasm *r, const struct proto_hdr *hdr)
{
	r->active = 1;
	r->skipping = 0;
	r->len = 0;
	r->type = hdr->type;
	r->collar_id = hdr->collar_id;
	r->next_link_seq = (uint16_t)(hdr->link_seq + 1u);
}

int gw_dock_reasm_push(struct gw_dock_reasm *r, const struct proto_hdr *hdr, const uint8_t *body, size_t len,
                       const uint8_t **msg, size_t *msg_len)
{
	int more = (hdr->flags & PROTO_F_FRAG) != 0;

	if (r->active) {
		/* A fragment continues the message only if it is the very next frame of the same sender and type;
		 * anything else means the rest of that message was lost: drop it, and let this frame start afresh
		 * (it may well be a complete message of its own). */
		if (hdr->type != r->type || hdr->collar_id != r->collar_id || hdr->link_seq != r->next_link_seq) {
			if (!r->skipping)
				r->broken++;
			r->active = 0;
			r->skipping = 0;
		}
	}
	if (!r->active) {
		if (!more) {
			*msg = body;
			*msg_len = len;
			return 1;
		}
		reasm_start(r, hdr);
	} else {
		r->next_link_seq = (uint16_t)(hdr->link_seq + 1u);
	}
	if (r->skipping) {
		if (!more)
			r->active = 0;
		return 0;
	}
	if (len > sizeof(r->buf) - r->len) {
		r->overflow++;
		r->len = 0;
		if (more) {
			r->skipping = 1;
		} else {
			r->active = 0;
		}
		return -EMSGSIZE;
	}
	memcpy(r->buf + r->len, body, len);
	r->len += len;
	if (more)
		return 0;
	r->active = 0;
	*msg = r->buf;
	*msg_len = r->len;
	return 1;
}

int gw_dock_classify(const uint8_t *body, size_t len, uint32_t *first, uint32_t *last)
{
	/* IND first: see gw/dock.h for why the order matters. */
	struct proto_ind ind;
	if (proto_ind_decode(body, len, &ind, NULL) == 0) {
		*first = *last = ind.rec_seq;
		return PROTO_T_IND;
	}
	struct proto_fix fix;
	int err = proto_fix_decode(body, len, &fix, NULL);
	if (err == 0) {
		*first = *last = fix.rec_seq;
		return PROTO_T_FIX;
	}
	struct proto_fixb fixb;
	if (proto_fixb_decode(body, len, &fixb, NULL) == 0 && fixb.n > 0) {
		*first = fixb.fix[0].rec_seq;
		*last = fixb.fix[fixb.n - 1].rec_seq;
		return PROTO_T_FIXB;
	}
	return err;
}
