/*
 * gw/src/dock.c — USB docking station over libusb: hotplug, async bulk transfers, the offload/provisioning
 * session (protocol in gw/dock.h).
 *
 * Threading: everything runs on the gateway's loop thread inside gw_dock_service(); libusb's own hotplug
 * thread only wakes that loop (through libusb's internal event fd, which is among the polled fds) and the
 * hotplug callbacks, run by libusb_handle_events_*, only queue work for the service function.
 */
#define _GNU_SOURCE
#include "gw/dock.h"

#include <errno.h>
#include <libusb.h>
#include <stdlib.h>
#include <string.h>

#include "gw/log.h"
#include "gw/loop.h"
#include "proto/err.h"

#define ARRIVALS_MAX 8u

enum dock_state {
	ST_LIST = 1,     /* LOG_LIST sent, reply awaited */
	ST_READ,         /* LOG_READ sent, LOG_DATA flowing */
	ST_PROV_CONFIRM, /* PROVISION + LOG_LIST sent: the reply's collar_id confirms */
	ST_IDLE,         /* download done (or nothing to do) */
	ST_FAILED,       /* gave up; idle until unplugged */
};

struct dock_dev;

struct dock_xfer {
	struct libusb_transfer *t;
	struct dock_dev *dd;
	uint8_t busy;
};

struct dock_dev {
	uint8_t used;
	uint8_t gone;     /* departed or broken: cancel, then close when nothing is in flight */
	uint8_t claimed;
	uint8_t opened;   /* open + claim + IN submits succeeded */
	uint8_t iface, ep_in, ep_out;
	unsigned idx;     /* slot, for logs */
	struct gw_dock *d;
	libusb_device *dev;
	libusb_device_handle *h;
	struct dock_xfer in[GW_DOCK_IN_XFERS];
	struct dock_xfer out;
	uint8_t in_buf[GW_DOCK_IN_XFERS][GW_DOCK_IN_BUF];
	uint8_t out_buf[GW_DOCK_OUT_BUF];
	uint8_t outq[GW_DOCK_OUT_BUF];
	size_t outq_len;
	uint8_t out_secret;   /* out_buf holds a key: wipe it when the transfer ends */
	uint8_t outq_secret;  /* outq holds a key */
	struct proto_deframer deframer;
	struct gw_dock_reasm reasm;
	uint8_t frame[PROTO_FRAME_MAX];

	/* session */
	enum dock_state st;
	uint8_t listed;       /* a LOG_LIST reply was seen this session */
	uint8_t awaiting;     /* a reply is due by deadline_ms */
	uint8_t resync;       /* a LOG_READ was repeated after a gap: ignore LOG_DATA until one is at the cursor */
	uint8_t prov_sent;
	unsigned retries;
	uint64_t deadline_ms;
	uint16_t collar_id;
	uint16_t link_seq;
	uint32_t list_next;   /* journal next_seq from LOG_LIST */
	uint32_t cursor;      /* next rec_seq the gateway does not have */
	uint32_t read_left;   /* records still due for the open LOG_READ */
	uint32_t unsynced;    /* records accepted by the sink since its last sync */
	uint32_t trimmed;     /* highest LOG_TRIM sent (0: none) */
	struct gw_log_limiter lim;
};

struct gw_dock {
	libusb_context *ctx;
	struct gw_dock_opts o;
	int hotplug;
	libusb_hotplug_callback_handle hp;
	uint64_t now_ms;
	uint64_t next_rescan_ms;
	struct dock_dev dev[GW_DOCK_DEV_MAX];
	libusb_device *arrived[ARRIVALS_MAX];
	unsigned n_arrived;
	libusb_device *left[ARRIVALS_MAX];
	unsigned n_left;
	uint16_t resume_id[GW_DOCK_COLLARS_MAX];
	uint32_t resume_seq[GW_DOCK_COLLARS_MAX];
	unsigned n_resume;
	struct gw_dock_provision prov;
	uint8_t prov_pending;
	struct gw_loop *loop;
	int timer_id;
	struct gw_dock_stats st;
};

static const char *SUB = "dock";

/* ---- resume points ---------------------------------------------------------------------------------- */

int gw_dock_resume_get(const struct gw_dock *d, uint16_t collar_id, uint32_t *next_seq)
{
	for (unsigned i = 0; i < d->n_resume; i++)
		if (d->resume_id[i] == collar_id) {
			*next_seq = d->resume_seq[i];
			return 0;
		}
	return -ENOENT;
}

int gw_dock_resume_set(struct gw_dock *d, uint16_t collar_id, uint32_t next_seq)
{
	for (unsigned i = 0; i < d->n_resume; i++)
		if (d->resume_id[i] == collar_id) {
			d->resume_seq[i] = next_seq;
			return 0;
		}
	if (d->n_resume >= GW_DOCK_COLLARS_MAX)
		return -ENOSPC;
	d->resume_id[d->n_resume] = collar_id;
	d->resume_seq[d->n_resume++] = next_seq;
	return 0;
}

/* ---- sending ---------------------------------------------------------------------------------------- */

static void dev_fail(struct dock_dev *dd, const char *why);

static void out_cb(struct libusb_transfer *t);

static void kick_out(struct dock_dev *dd)
{
	if (dd->out.busy || dd->outq_len == 0 || dd->gone || dd->h == NULL)
		return;
	size_t n = dd->outq_len;
	memcpy(dd->out_buf, dd->outq, n);
	dd->out_secret = dd->outq_secret;
	if (dd->outq_secret)
		explicit_bzero(dd->outq, n);
	dd->outq_len = 0;
	dd->outq_secret = 0;
	libusb_fill_bulk_transfer(dd->out.t, dd->h, dd->ep_out, dd->out_buf, (int)n, out_cb, &dd->out,
	                          dd->d->o.io_timeout_ms);
	int err = libusb_submit_transfer(dd->out.t);
	if (err != 0) {
		dd->d->st.xfer_failed++;
		if (dd->out_secret) {
			explicit_bzero(dd->out_buf, sizeof(dd->out_buf));
			dd->out_secret = 0;
		}
		gw_log(GW_LOG_WARN, SUB, "cradle %u: bulk OUT submit failed: %s", dd->idx, libusb_strerror(err));
		if (err == LIBUSB_ERROR_NO_DEVICE)
			dd->gone = 1;
		else
			dev_fail(dd, "cannot send");
		return;
	}
	dd->out.busy = 1;
}

/* Queue one frame of type with body; single frame (requests are small). */
static int send_msg(struct dock_dev *dd, uint8_t type, const uint8_t *body, size_t len, int secret)
{
	struct proto_hdr hdr = {
		.flags = 0, .type = type, .collar_id = dd->collar_id, .link_seq = dd->link_seq,
		.boot_id = dd->d->o.boot_id,
	};
	size_t wl;
	if (dd->outq_len + PROTO_WIRE_MAX > sizeof(dd->outq)) {
		dev_fail(dd, "OUT queue full (the cradle does not take our requests)");
		return -ENOBUFS;
	}
	int err = proto_frame_encode(&hdr, body, len, NULL, dd->outq + dd->outq_len, sizeof(dd->outq) - dd->outq_len,
	                             &wl);
	if (err < 0) {
		gw_log(GW_LOG_ERR, SUB, "cradle %u: cannot frame %s: %s", dd->idx, proto_type_name(type),
		       proto_strerror(err));
		return err;
	}
	dd->link_seq++;
	dd->outq_len += wl;
	dd->outq_secret |= (uint8_t)(secret != 0);
	kick_out(dd);
	return 0;
}

static void await(struct dock_dev *dd)
{
	dd->awaiting = 1;
	dd->deadline_ms = dd->d->now_ms + dd->d->o.io_timeout_ms;
}

static int send_list(struct dock_dev *dd)
{
	struct proto_log_list l = {0};
	uint8_t body[16];
	size_t len;
	int err = proto_log_list_encode(&l, body, sizeof(body), &len);
	if (err == 0)
		err = send_msg(dd, PROTO_T_LOG_LIST, body, len, 0);
	if (err == 0)
		await(dd);
	return err;
}

static int send_read(struct dock_dev *dd)
{
	uint32_t span = dd->list_next > dd->cursor ? dd->list_next - dd->cursor : 1u;
	struct proto_log_read r = {
		.first_seq = dd->cursor,
		.count = (uint16_t)(span < PROTO_LOG_READ_MAX ? span : PROTO_LOG_READ_MAX),
	};
	uint8_t body[24];
	size_t len;
	int err = proto_log_read_encode(&r, body, sizeof(body), &len);
	if (err == 0)
		err = send_msg(dd, PROTO_T_LOG_READ, body, len, 0);
	if (err != 0)
		return err;
	dd->read_left = r.count;
	dd->st = ST_READ;
	await(dd);
	return 0;
}

static int send_trim(struct dock_dev *dd, uint32_t upto)
{
	struct proto_log_trim t = {.upto_seq = upto};
	uint8_t body[16];
	size_t len;
	int err = proto_log_trim_encode(&t, body, sizeof(body), &len);
	if (err == 0)
		err = send_msg(dd, PROTO_T_LOG_TRIM, body, len, 0);
	if (err == 0) {
		dd->trimmed = upto;
		dd->d->st.trims++;
	}
	return err;
}

/* PROVISION then LOG_LIST (whose reply confirms the new id). The key lives only on this stack, in the
 * encoded body (wiped here) and in the OUT buffers (wiped after the transfer). Never logged. */
static int send_provision(struct dock_dev *dd)
{
	struct gw_dock *d = dd->d;
	struct proto_provision p = {
		.collar_id = d->prov.collar_id, .species = d->prov.species, .report_ms = d->prov.report_ms,
	};
	if (d->prov.status_ms) {
		p.has |= PROTO_PROV_HAS_STATUS;
		p.status_ms = d->prov.status_ms;
	}
	if (d->prov.utc_ms) {
		p.has |= PROTO_PROV_HAS_UTC;
		p.utc_ms = d->prov.utc_ms;
	}
	uint8_t body[96];
	size_t len = 0;
	int err = d->prov.key(d->prov.key_ctx, p.collar_id, p.key);
	if (err < 0) {
		gw_log(GW_LOG_ERR, SUB, "cradle %u: no key for collar %u (key source error %d): not provisioned",
		       dd->idx, p.collar_id, err);
		goto wipe;
	}
	err = proto_provision_encode(&p, body, sizeof(body), &len);
	if (err == 0)
		err = send_msg(dd, PROTO_T_PROVISION, body, len, 1);
	if (err == 0)
		err = send_list(dd);
wipe:
	explicit_bzero(&p, sizeof(p));
	explicit_bzero(body, sizeof(body));
	if (err < 0) {
		d->prov_pending = 0;
		d->st.provision_failed++;
		return err;
	}
	dd->prov_sent = 1;
	dd->st = ST_PROV_CONFIRM;
	gw_log(GW_LOG_NOTE, SUB, "cradle %u: provisioning collar %u (species %u, report %u ms)", dd->idx,
	       d->prov.collar_id, d->prov.species, d->prov.report_ms);
	return 0;
}

/* ---- session ---------------------------------------------------------------------------------------- */

static void dev_fail(struct dock_dev *dd, const char *why)
{
	if (dd->st == ST_FAILED)
		return;
	gw_log(GW_LOG_ERR, SUB, "cradle %u, collar %u: session abandoned: %s (records before rec_seq %u are "
	       "downloaded)", dd->idx, dd->collar_id, why, dd->cursor);
	dd->st = ST_FAILED;
	dd->awaiting = 0;
	dd->d->st.sessions_failed++;
}

/* Make what the sink accepted durable, remember the resume point. Returns 0 when durable. */
static int sync_sink(struct dock_dev *dd)
{
	struct gw_dock *d = dd->d;
	if (dd->unsynced == 0)
		return 0;
	int err = d->o.sink.sync(d->o.sink.ctx);
	if (err < 0) {
		d->st.sync_failed++;
		gw_log(GW_LOG_ERR, SUB, "collar %u: the spool could not make %u downloaded records durable (%d): "
		       "nothing trimmed, they stay on the collar", dd->collar_id, dd->unsynced, err);
		return err;
	}
	dd->unsynced = 0;
	if (gw_dock_resume_set(d, dd->collar_id, dd->cursor) < 0)
		gw_log(GW_LOG_WARN, SUB, "collar %u: resume table full (%u collars): the next dock session restarts "
		       "from the collar's oldest record", dd->collar_id, GW_DOCK_COLLARS_MAX);
	return 0;
}

static void maybe_provision(struct dock_dev *dd)
{
	if (dd->d->prov_pending && !dd->prov_sent && !dd->gone)
		(void)send_provision(dd);
}

/* The answer to a LOG_READ is complete (or the journal ended): sync, then trim, then go on. */
static void chunk_done(struct dock_dev *dd, int end)
{
	if (sync_sink(dd) < 0) {
		dev_fail(dd, "spool sync failed");
		return;
	}
	if (dd->cursor > 1 && dd->cursor - 1u > dd->trimmed && send_trim(dd, dd->cursor - 1u) < 0)
		return;
	if (end || dd->cursor >= dd->list_next) {
		dd->st = ST_IDLE;
		dd->awaiting = 0;
		dd->d->st.downloads_done++;
		gw_log(GW_LOG_NOTE, SUB, "cradle %u: collar %u offloaded up to rec_seq %u", dd->idx, dd->collar_id,
		       dd->cursor - 1u);
		maybe_provision(dd);
		return;
	}
	(void)send_read(dd);
}

static void on_list(struct dock_dev *dd, const struct proto_hdr *hdr, const struct proto_log_list *l)
{
	struct gw_dock *d = dd->d;
	if (dd->st != ST_LIST && dd->st != ST_PROV_CONFIRM) {
		d->st.stale++;
		return;
	}
	if ((l->has & PROTO_LOG_LIST_HAS_REPLY) != PROTO_LOG_LIST_HAS_REPLY || l->next_seq < l->oldest_seq) {
		d->st.msgs_bad++;
		gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB,
		               "cradle %u: LOG_LIST reply incomplete or oldest %u > next %u: ignored", dd->idx,
		               l->oldest_seq, l->next_seq);
		return;
	}
	dd->awaiting = 0;
	dd->retries = 0;
	if (dd->st == ST_PROV_CONFIRM) {
		if (hdr->collar_id == d->prov.collar_id) {
			d->st.provisionings++;
			gw_log(GW_LOG_NOTE, SUB, "cradle %u: collar %u provisioned", dd->idx, hdr->collar_id);
		} else {
			d->st.provision_failed++;
			gw_log(GW_LOG_ERR, SUB, "cradle %u: PROVISION of collar %u not taken (collar reports id %u)",
			       dd->idx, d->prov.collar_id, hdr->collar_id);
		}
		d->prov_pending = 0;
	}
	if (!dd->listed) {
		dd->listed = 1;
		d->st.sessions++;
	}
	dd->collar_id = hdr->collar_id;
	dd->list_next = l->next_seq;
	if (dd->collar_id == 0) {
		/* Records of an unprovisioned collar cannot be attributed to an animal. */
		gw_log(GW_LOG_NOTE, SUB, "cradle %u: unprovisioned collar (%u records held)", dd->idx, l->count);
		dd->st = ST_IDLE;
		maybe_provision(dd);
		return;
	}
	uint32_t resume, from = l->oldest_seq ? l->oldest_seq : 1u;
	if (gw_dock_resume_get(d, dd->collar_id, &resume) == 0 && resume > from) {
		from = resume;
		if (from < l->next_seq)
			d->st.resumptions++;
	}
	dd->cursor = from;
	dd->unsynced = 0;
	gw_log(GW_LOG_NOTE, SUB, "cradle %u: collar %u docked, journal [%u, %u) %u records, boot %u; reading from %u",
	       dd->idx, dd->collar_id, l->oldest_seq, l->next_seq, l->count, l->boot_id, from);
	if (from >= l->next_seq) {
		dd->st = ST_IDLE;
		d->st.downloads_done++;
		maybe_provision(dd);
		return;
	}
	(void)send_read(dd);
}

static void on_data(struct dock_dev *dd, const struct proto_hdr *hdr, const struct proto_log_data *ld)
{
	struct gw_dock *d = dd->d;
	if (dd->st != ST_READ || hdr->collar_id != dd->collar_id || ld->seq < dd->cursor) {
		d->st.stale++;
		return;
	}
	if (ld->seq > dd->cursor) {
		/* A LOG_DATA went missing (or the collar skipped): ask again from the cursor, once per gap. */
		if (!dd->resync) {
			d->st.gaps++;
			gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB,
			               "collar %u: LOG_DATA starts at %u but %u is missing: reading again", dd->collar_id,
			               ld->seq, dd->cursor);
			dd->resync = 1;
			(void)send_read(dd);
		} else {
			d->st.stale++;
		}
		return;
	}
	dd->resync = 0;
	dd->deadline_ms = d->now_ms + d->o.io_timeout_ms;
	dd->retries = 0;
	if (ld->n == 0) {
		chunk_done(dd, 1);
		return;
	}
	for (unsigned i = 0; i < ld->n; i++) {
		uint32_t first, last;
		int type = gw_dock_classify(ld->rec[i].p, ld->rec[i].len, &first, &last);
		if (type < 0 || first < dd->cursor) {
			d->st.records_bad++;
			gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB,
			               "collar %u: LOG_DATA at %u record %u skipped: %s", dd->collar_id, ld->seq, i,
			               type < 0 ? proto_strerror(type) : "rec_seq behind the cursor");
			continue;
		}
		int err = d->o.sink.on_record(d->o.sink.ctx, dd->collar_id, (uint8_t)type, first, ld->rec[i].p,
		                              ld->rec[i].len);
		if (err < 0) {
			gw_log(GW_LOG_WARN, SUB, "collar %u: spool refused rec_seq %u (%d): stopping the offload there",
			       dd->collar_id, first, err);
			if (sync_sink(dd) == 0 && dd->cursor > 1 && dd->cursor - 1u > dd->trimmed)
				(void)send_trim(dd, dd->cursor - 1u);
			dev_fail(dd, "spool refused a record");
			return;
		}
		d->st.records++;
		dd->unsynced++;
		dd->cursor = last + 1u;
		if (dd->read_left > 0)
			dd->read_left--;
	}
	if (dd->read_left == 0)
		chunk_done(dd, 0);
}

static void on_message(struct dock_dev *dd, const struct proto_hdr *hdr, const uint8_t *body, size_t len)
{
	struct gw_dock *d = dd->d;
	struct proto_msg_err where;
	int err;
	switch (hdr->type) {
	case PROTO_T_LOG_LIST: {
		struct proto_log_list l;
		err = proto_log_list_decode(body, len, &l, &where);
		if (err == 0) {
			on_list(dd, hdr, &l);
			return;
		}
		break;
	}
	case PROTO_T_LOG_DATA: {
		static struct proto_log_data ld; /* big; the loop is single-threaded */
		err = proto_log_data_decode(body, len, &ld, &where);
		if (err == 0) {
			on_data(dd, hdr, &ld);
			return;
		}
		break;
	}
	default:
		d->st.msgs_bad++;
		gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB, "cradle %u: unexpected %s from the collar",
		               dd->idx, proto_type_name(hdr->type));
		return;
	}
	d->st.msgs_bad++;
	char why[160];
	(void)proto_msg_err_format(&where, why, sizeof(why));
	gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB, "cradle %u: bad message: %s", dd->idx, why);
}

static void feed(struct dock_dev *dd, const uint8_t *in, size_t n)
{
	struct gw_dock *d = dd->d;
	while (n > 0) {
		size_t used = 0, flen = 0;
		int r = proto_deframer_push(&dd->deframer, in, n, &used, dd->frame, sizeof(dd->frame), &flen);
		in += used;
		n -= used;
		if (r == 0)
			break;
		if (r < 0) {
			d->st.frames_bad++;
			gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB, "cradle %u: %s", dd->idx,
			               proto_strerror(r));
			continue;
		}
		struct proto_hdr hdr;
		const uint8_t *body, *msg;
		size_t blen, mlen;
		int err = proto_frame_check(dd->frame, flen, &hdr, &body, &blen);
		if (err < 0) {
			d->st.frames_bad++;
			gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB, "cradle %u: frame of %zu bytes: %s",
			               dd->idx, flen, proto_strerror(err));
			continue;
		}
		d->st.frames_ok++;
		/* Unauthenticated frames are fine on the cable; a tag, if present, is not checked here (the dock
		 * types are not radio types and the key may not even be provisioned yet). */
		err = gw_dock_reasm_push(&dd->reasm, &hdr, body, blen, &msg, &mlen);
		uint64_t bad = (uint64_t)dd->reasm.overflow + dd->reasm.broken;
		if (err < 0 || bad != 0) {
			d->st.frag_bad += bad;
			dd->reasm.overflow = dd->reasm.broken = 0;
			if (err < 0)
				gw_log_limited(&dd->lim, d->now_ms, GW_LOG_WARN, SUB,
				               "cradle %u: fragmented %s longer than %u bytes dropped", dd->idx,
				               proto_type_name(hdr.type), PROTO_LOG_DATA_BODY_MAX);
		}
		if (err == 1)
			on_message(dd, &hdr, msg, mlen);
		if (dd->gone)
			return;
	}
}

/* ---- transfers -------------------------------------------------------------------------------------- */

static void xfer_status(struct dock_dev *dd, const char *dir, struct libusb_transfer *t)
{
	struct gw_dock *d = dd->d;
	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
		d->st.xfer_ok++;
		break;
	case LIBUSB_TRANSFER_TIMED_OUT:
		break; /* counted by the callers: an idle IN timing out is normal */
	case LIBUSB_TRANSFER_CANCELLED:
		d->st.xfer_cancelled++;
		break;
	case LIBUSB_TRANSFER_NO_DEVICE:
		d->st.xfer_failed++;
		dd->gone = 1;
		break;
	default:
		d->st.xfer_failed++;
		gw_log(GW_LOG_WARN, SUB, "cradle %u: bulk %s transfer failed: %s", dd->idx, dir,
		       libusb_error_name((int)t->status));
		dd->gone = 1;
		break;
	}
}

static void out_cb(struct libusb_transfer *t)
{
	struct dock_xfer *x = t->user_data;
	struct dock_dev *dd = x->dd;
	x->busy = 0;
	if (dd->out_secret) {
		explicit_bzero(dd->out_buf, sizeof(dd->out_buf));
		dd->out_secret = 0;
	}
	dd->d->st.bytes_out += (uint64_t)t->actual_length;
	if (t->status == LIBUSB_TRANSFER_TIMED_OUT) {
		dd->d->st.xfer_timeouts++;
		gw_log(GW_LOG_WARN, SUB, "cradle %u: bulk OUT timed out after %u ms", dd->idx, dd->d->o.io_timeout_ms);
		dev_fail(dd, "the collar does not read its endpoint");
		return;
	}
	xfer_status(dd, "OUT", t);
	if (t->status == LIBUSB_TRANSFER_COMPLETED && t->actual_length != t->length) {
		dd->d->st.xfer_failed++;
		dev_fail(dd, "short bulk OUT");
		return;
	}
	kick_out(dd);
}

static void in_cb(struct libusb_transfer *t)
{
	struct dock_xfer *x = t->user_data;
	struct dock_dev *dd = x->dd;
	x->busy = 0;
	if (t->actual_length > 0) {
		dd->d->st.bytes_in += (uint64_t)t->actual_length;
		if (!dd->gone)
			feed(dd, t->buffer, (size_t)t->actual_length);
	}
	if (t->status == LIBUSB_TRANSFER_TIMED_OUT && dd->awaiting)
		dd->d->st.xfer_timeouts++;
	xfer_status(dd, "IN", t);
	if (dd->gone || (t->status != LIBUSB_TRANSFER_COMPLETED && t->status != LIBUSB_TRANSFER_TIMED_OUT))
		return;
	int err = libusb_submit_transfer(t);
	if (err == LIBUSB_ERROR_NO_DEVICE) {
		dd->gone = 1; /* unplugged: the hotplug LEFT event follows */
		return;
	}
	if (err != 0) {
		dd->d->st.xfer_failed++;
		gw_log(GW_LOG_WARN, SUB, "cradle %u: bulk IN resubmit failed: %s", dd->idx, libusb_strerror(err));
		dd->gone = 1;
		return;
	}
	x->busy = 1;
}

/* ---- devices ---------------------------------------------------------------------------------------- */

/* First vendor-class interface with a bulk IN and a bulk OUT endpoint. */
static int find_iface(libusb_device *dev, uint8_t *iface, uint8_t *ep_in, uint8_t *ep_out)
{
	struct libusb_config_descriptor *cfg;
	int err = libusb_get_active_config_descriptor(dev, &cfg);
	if (err != 0)
		return err;
	err = LIBUSB_ERROR_NOT_FOUND;
	for (unsigned i = 0; i < cfg->bNumInterfaces && err != 0; i++) {
		const struct libusb_interface *it = &cfg->interface[i];
		for (int a = 0; a < it->num_altsetting && err != 0; a++) {
			const struct libusb_interface_descriptor *id = &it->altsetting[a];
			uint8_t in = 0, out = 0;
			if (id->bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC)
				continue;
			for (unsigned e = 0; e < id->bNumEndpoints; e++) {
				const struct libusb_endpoint_descriptor *ep = &id->endpoint[e];
				if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK)
					continue;
				if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) {
					if (!in)
						in = ep->bEndpointAddress;
				} else if (!out) {
					out = ep->bEndpointAddress;
				}
			}
			if (in && out) {
				*iface = id->bInterfaceNumber;
				*ep_in = in;
				*ep_out = out;
				err = 0;
			}
		}
	}
	libusb_free_config_descriptor(cfg);
	return err;
}

static void dev_release(struct dock_dev *dd)
{
	for (unsigned i = 0; i < GW_DOCK_IN_XFERS; i++)
		libusb_free_transfer(dd->in[i].t);
	libusb_free_transfer(dd->out.t);
	if (dd->h) {
		if (dd->claimed)
			(void)libusb_release_interface(dd->h, dd->iface);
		libusb_close(dd->h);
	}
	if (dd->dev)
		libusb_unref_device(dd->dev);
	explicit_bzero(dd->outq, sizeof(dd->outq));
	explicit_bzero(dd->out_buf, sizeof(dd->out_buf));
	memset(dd, 0, sizeof(*dd));
}

static void dev_open(struct gw_dock *d, libusb_device *dev)
{
	struct dock_dev *dd = NULL;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++) {
		if (d->dev[i].used && d->dev[i].dev == dev) {
			libusb_unref_device(dev); /* already open (enumeration and hotplug both saw it) */
			return;
		}
		if (!d->dev[i].used && dd == NULL)
			dd = &d->dev[i];
	}
	d->st.arrivals++;
	unsigned bus = libusb_get_bus_number(dev), addr = libusb_get_device_address(dev);
	if (dd == NULL) {
		d->st.open_failed++;
		gw_log(GW_LOG_ERR, SUB, "USB %03u/%03u: more than %u cradles at once: ignored", bus, addr,
		       GW_DOCK_DEV_MAX);
		libusb_unref_device(dev);
		return;
	}
	memset(dd, 0, sizeof(*dd));
	dd->used = 1;
	dd->d = d;
	dd->dev = dev;
	dd->idx = (unsigned)(dd - d->dev);
	proto_deframer_init(&dd->deframer);
	gw_dock_reasm_init(&dd->reasm);
	const char *step = "open";
	int err = libusb_open(dev, &dd->h);
	if (err == 0) {
		step = "find a vendor interface with bulk IN+OUT";
		err = find_iface(dev, &dd->iface, &dd->ep_in, &dd->ep_out);
	}
	if (err == 0) {
		(void)libusb_set_auto_detach_kernel_driver(dd->h, 1); /* unsupported is fine: no driver binds */
		step = "claim the interface";
		err = libusb_claim_interface(dd->h, dd->iface);
		dd->claimed = err == 0;
	}
	if (err == 0) {
		step = "allocate transfers";
		for (unsigned i = 0; i < GW_DOCK_IN_XFERS; i++)
			dd->in[i].t = libusb_alloc_transfer(0);
		dd->out.t = libusb_alloc_transfer(0);
		err = LIBUSB_ERROR_NO_MEM;
		if (dd->out.t && dd->in[GW_DOCK_IN_XFERS - 1].t && dd->in[0].t)
			err = 0;
	}
	for (unsigned i = 0; err == 0 && i < GW_DOCK_IN_XFERS; i++) {
		step = "submit bulk IN";
		dd->in[i].dd = dd;
		libusb_fill_bulk_transfer(dd->in[i].t, dd->h, dd->ep_in, dd->in_buf[i], GW_DOCK_IN_BUF, in_cb, &dd->in[i],
		                          d->o.io_timeout_ms);
		err = libusb_submit_transfer(dd->in[i].t);
		dd->in[i].busy = err == 0;
	}
	dd->out.dd = dd;
	if (err != 0) {
		d->st.open_failed++;
		gw_log(GW_LOG_ERR, SUB, "USB %03u/%03u (%04x:%04x): cannot %s: %s", bus, addr, d->o.vid, d->o.pid, step,
		       libusb_strerror(err));
		/* In-flight INs must be cancelled and reaped before the handle closes. */
		dd->gone = 1;
		dd->st = ST_FAILED;
		return;
	}
	gw_log(GW_LOG_NOTE, SUB, "cradle %u: USB %03u/%03u opened (interface %u, IN 0x%02x, OUT 0x%02x)", dd->idx,
	       bus, addr, dd->iface, dd->ep_in, dd->ep_out);
	dd->opened = 1;
	dd->st = ST_LIST;
	(void)send_list(dd);
}

/* Departed or broken: make sure nothing stays in flight, then close. Records received are synced so the
 * next session resumes after them. */
static void dev_reap(struct dock_dev *dd)
{
	unsigned busy = dd->out.busy;
	for (unsigned i = 0; i < GW_DOCK_IN_XFERS; i++)
		busy += dd->in[i].busy;
	if (busy) {
		for (unsigned i = 0; i < GW_DOCK_IN_XFERS; i++)
			if (dd->in[i].busy)
				(void)libusb_cancel_transfer(dd->in[i].t);
		if (dd->out.busy)
			(void)libusb_cancel_transfer(dd->out.t);
		return;
	}
	if (dd->collar_id != 0 && dd->unsynced > 0 && sync_sink(dd) == 0)
		gw_log(GW_LOG_NOTE, SUB, "cradle %u: collar %u unplugged mid-offload; next session resumes at %u",
		       dd->idx, dd->collar_id, dd->cursor);
	if (dd->opened)
		dd->d->st.departures++;
	gw_log(GW_LOG_NOTE, SUB, "cradle %u: closed", dd->idx);
	dev_release(dd);
}

static int hotplug_cb(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev, void *arg)
{
	struct gw_dock *d = arg;
	(void)ctx;
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) {
		if (d->n_arrived >= ARRIVALS_MAX) {
			d->st.open_failed++;
			gw_log(GW_LOG_ERR, SUB, "more than %u USB arrivals at once: one ignored", ARRIVALS_MAX);
			return 0;
		}
		d->arrived[d->n_arrived++] = libusb_ref_device(dev);
	} else if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT) {
		if (d->n_left < ARRIVALS_MAX)
			d->left[d->n_left++] = libusb_ref_device(dev);
		else
			for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
				d->dev[i].gone |= d->dev[i].used && d->dev[i].dev == dev;
	}
	return 0;
}

static void rescan(struct gw_dock *d)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(d->ctx, &list);
	if (n < 0) {
		gw_log(GW_LOG_WARN, SUB, "USB enumeration failed: %s", libusb_strerror((int)n));
		return;
	}
	uint8_t seen[GW_DOCK_DEV_MAX] = {0};
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor dd;
		if (libusb_get_device_descriptor(list[i], &dd) != 0 || dd.idVendor != d->o.vid ||
		    dd.idProduct != d->o.pid)
			continue;
		int known = 0;
		for (unsigned k = 0; k < GW_DOCK_DEV_MAX; k++)
			if (d->dev[k].used && d->dev[k].dev == list[i]) {
				seen[k] = 1;
				known = 1;
			}
		if (!known)
			dev_open(d, libusb_ref_device(list[i]));
	}
	for (unsigned k = 0; k < GW_DOCK_DEV_MAX; k++)
		if (d->dev[k].used && !seen[k] && !d->dev[k].gone && d->dev[k].h != NULL) {
			/* opened just now by dev_open above is seen; anything else vanished */
			int present = 0;
			for (ssize_t i = 0; i < n; i++)
				present |= list[i] == d->dev[k].dev;
			if (!present)
				d->dev[k].gone = 1;
		}
	libusb_free_device_list(list, 1);
}

/* ---- public ------------------------------------------------------------------------------------------ */

int gw_dock_new(struct gw_dock **out, const struct gw_dock_opts *o)
{
	*out = NULL;
	if (o == NULL || o->vid == 0 || o->pid == 0 || o->sink.on_record == NULL || o->sink.sync == NULL)
		return -EINVAL;
	struct gw_dock *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->o = *o;
	if (d->o.io_timeout_ms == 0)
		d->o.io_timeout_ms = 2000;
	if (d->o.rescan_ms == 0)
		d->o.rescan_ms = 1000;
	d->timer_id = -1;
	int err = libusb_init(&d->ctx);
	if (err != 0) {
		gw_log(GW_LOG_ERR, SUB, "libusb_init: %s", libusb_strerror(err));
		free(d);
		return -EIO;
	}
	if (!o->force_rescan && libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		err = libusb_hotplug_register_callback(
			d->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
			LIBUSB_HOTPLUG_ENUMERATE, o->vid, o->pid, LIBUSB_HOTPLUG_MATCH_ANY, hotplug_cb, d, &d->hp);
		if (err == 0)
			d->hotplug = 1;
		else
			gw_log(GW_LOG_WARN, SUB, "hotplug registration failed (%s): rescanning every %u ms",
			       libusb_strerror(err), d->o.rescan_ms);
	}
	gw_log(GW_LOG_NOTE, SUB, "watching for %04x:%04x (%s)", o->vid, o->pid,
	       d->hotplug ? "hotplug" : "periodic enumeration");
	*out = d;
	return 0;
}

static void loop_fd_cb(struct gw_loop *l, int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	(void)gw_dock_service(arg, gw_loop_now_ms(l));
}

static void loop_timer_cb(struct gw_loop *l, int id, void *arg)
{
	(void)id;
	(void)gw_dock_service(arg, gw_loop_now_ms(l));
}

static void notifier_added(int fd, short events, void *arg)
{
	struct gw_dock *d = arg;
	if (d->loop && gw_loop_fd_add(d->loop, fd, events, loop_fd_cb, d) != 0)
		gw_log(GW_LOG_ERR, SUB, "cannot watch libusb fd %d in the loop", fd);
}

static void notifier_removed(int fd, void *arg)
{
	struct gw_dock *d = arg;
	if (d->loop)
		(void)gw_loop_fd_del(d->loop, fd);
}

int gw_dock_attach(struct gw_dock *d, struct gw_loop *l)
{
	struct pollfd fds[GW_DOCK_POLLFDS_MAX];
	int n = gw_dock_pollfds(d, fds, GW_DOCK_POLLFDS_MAX);
	if (n < 0)
		return n;
	d->loop = l;
	for (int i = 0; i < n; i++) {
		int err = gw_loop_fd_add(l, fds[i].fd, fds[i].events, loop_fd_cb, d);
		if (err < 0)
			return err;
	}
	libusb_set_pollfd_notifiers(d->ctx, notifier_added, notifier_removed, d);
	/* Deadlines and rescans: a coarse housekeeping tick (replies are due within seconds). */
	int t = gw_loop_timer_add(l, 100, 100, loop_timer_cb, d);
	if (t < 0)
		return t;
	d->timer_id = t;
	return 0;
}

void gw_dock_free(struct gw_dock *d)
{
	if (d == NULL)
		return;
	if (d->loop) {
		libusb_set_pollfd_notifiers(d->ctx, NULL, NULL, NULL);
		struct pollfd fds[GW_DOCK_POLLFDS_MAX];
		int n = gw_dock_pollfds(d, fds, GW_DOCK_POLLFDS_MAX);
		for (int i = 0; i < n; i++)
			(void)gw_loop_fd_del(d->loop, fds[i].fd);
		if (d->timer_id >= 0)
			(void)gw_loop_timer_del(d->loop, d->timer_id);
		d->loop = NULL;
	}
	if (d->hotplug)
		libusb_hotplug_deregister_callback(d->ctx, d->hp);
	d->hotplug = 0;
	/* Cancel everything and let the completions run (bounded: a cancelled URB completes promptly). */
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
		d->dev[i].gone |= d->dev[i].used;
	for (int round = 0; round < 1000; round++) {
		unsigned open = 0;
		for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
			if (d->dev[i].used) {
				dev_reap(&d->dev[i]);
				open += d->dev[i].used;
			}
		if (!open)
			break;
		struct timeval tv = {0, 10000};
		(void)libusb_handle_events_timeout_completed(d->ctx, &tv, NULL);
	}
	for (unsigned i = 0; i < d->n_arrived; i++)
		libusb_unref_device(d->arrived[i]);
	for (unsigned i = 0; i < d->n_left; i++)
		libusb_unref_device(d->left[i]);
	libusb_exit(d->ctx);
	explicit_bzero(&d->prov, sizeof(d->prov));
	free(d);
}

int gw_dock_hotplug(const struct gw_dock *d)
{
	return d->hotplug;
}

int gw_dock_pollfds(struct gw_dock *d, struct pollfd *fds, size_t cap)
{
	const struct libusb_pollfd **p = libusb_get_pollfds(d->ctx);
	if (p == NULL)
		return -ENOSYS;
	size_t n = 0;
	for (; p[n] != NULL && n < cap; n++) {
		fds[n].fd = p[n]->fd;
		fds[n].events = p[n]->events;
		fds[n].revents = 0;
	}
	libusb_free_pollfds(p);
	return (int)n;
}

int gw_dock_timeout_ms(struct gw_dock *d, uint64_t now_ms)
{
	uint64_t due = UINT64_MAX;
	if (!d->hotplug)
		due = d->next_rescan_ms;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++) {
		const struct dock_dev *dd = &d->dev[i];
		if (dd->used && dd->awaiting && dd->deadline_ms < due)
			due = dd->deadline_ms;
		if (dd->used && dd->gone)
			due = now_ms; /* cancellations to reap */
	}
	struct timeval tv;
	if (libusb_get_next_timeout(d->ctx, &tv) == 1) {
		uint64_t t = now_ms + (uint64_t)tv.tv_sec * 1000u + (uint64_t)(tv.tv_usec + 999) / 1000u;
		if (t < due)
			due = t;
	}
	if (due == UINT64_MAX)
		return -1;
	return due <= now_ms ? 0 : (int)(due - now_ms > 60000 ? 60000 : due - now_ms);
}

int gw_dock_service(struct gw_dock *d, uint64_t now_ms)
{
	struct timeval zero = {0, 0};
	d->now_ms = now_ms;
	int err = libusb_handle_events_timeout_completed(d->ctx, &zero, NULL);
	if (err != 0 && err != LIBUSB_ERROR_INTERRUPTED && err != LIBUSB_ERROR_TIMEOUT) {
		gw_log(GW_LOG_ERR, SUB, "libusb event handling: %s", libusb_strerror(err));
		return -EIO;
	}
	for (unsigned k = 0; k < d->n_left; k++) {
		for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
			if (d->dev[i].used && d->dev[i].dev == d->left[k])
				d->dev[i].gone = 1;
		for (unsigned i = 0; i < d->n_arrived; i++)
			if (d->arrived[i] == d->left[k]) {
				/* came and went before we looked: never open it */
				libusb_unref_device(d->arrived[i]);
				d->arrived[i] = d->arrived[--d->n_arrived];
				i--;
			}
		libusb_unref_device(d->left[k]);
	}
	d->n_left = 0;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
		if (d->dev[i].used && d->dev[i].gone)
			dev_reap(&d->dev[i]);
	unsigned n = d->n_arrived;
	d->n_arrived = 0;
	for (unsigned i = 0; i < n; i++)
		dev_open(d, d->arrived[i]);
	if (!d->hotplug && now_ms >= d->next_rescan_ms) {
		d->next_rescan_ms = now_ms + d->o.rescan_ms;
		rescan(d);
	}
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++) {
		struct dock_dev *dd = &d->dev[i];
		if (!dd->used || dd->gone || !dd->awaiting || now_ms < dd->deadline_ms)
			continue;
		d->st.reply_timeouts++;
		if (++dd->retries > GW_DOCK_RETRIES) {
			dev_fail(dd, "no reply from the collar");
			continue;
		}
		gw_log(GW_LOG_WARN, SUB, "cradle %u: no reply within %u ms, asking again (%u/%u)", dd->idx,
		       d->o.io_timeout_ms, dd->retries, GW_DOCK_RETRIES);
		if (dd->st == ST_READ) {
			dd->resync = 1;
			(void)send_read(dd);
		} else {
			(void)send_list(dd);
		}
	}
	return 0;
}

int gw_dock_provision(struct gw_dock *d, const struct gw_dock_provision *p)
{
	if (p == NULL || p->key == NULL)
		return -EINVAL;
	if (d->prov_pending)
		return -EBUSY;
	struct proto_provision chk = {
		.collar_id = p->collar_id, .species = p->species, .report_ms = p->report_ms,
		.status_ms = p->status_ms, .utc_ms = p->utc_ms,
	};
	chk.has = (p->status_ms ? PROTO_PROV_HAS_STATUS : 0u) | (p->utc_ms ? PROTO_PROV_HAS_UTC : 0u);
	uint8_t body[96];
	size_t len;
	if (proto_provision_encode(&chk, body, sizeof(body), &len) != 0)
		return -EINVAL;
	d->prov = *p;
	d->prov_pending = 1;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++) {
		struct dock_dev *dd = &d->dev[i];
		dd->prov_sent = 0;
		if (dd->used && !dd->gone && dd->st == ST_IDLE && d->prov_pending)
			(void)send_provision(dd);
	}
	return 0;
}

int gw_dock_provision_pending(const struct gw_dock *d)
{
	return d->prov_pending;
}

unsigned gw_dock_open_count(const struct gw_dock *d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
		n += d->dev[i].used && d->dev[i].h != NULL && !d->dev[i].gone;
	return n;
}

unsigned gw_dock_idle_count(const struct gw_dock *d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < GW_DOCK_DEV_MAX; i++)
		n += d->dev[i].used && !d->dev[i].gone && d->dev[i].st == ST_IDLE && !d->dev[i].awaiting &&
		     d->dev[i].outq_len == 0 && !d->dev[i].out.busy;
	return n;
}

void gw_dock_stats(const struct gw_dock *d, struct gw_dock_stats *st)
{
	*st = d->st;
}
