/*
 * tests/gateway/dock/collar_emu.c — see collar_emu.h. The usbfs handling mirrors libusb's tests/umockdev.c
 * (resolve the URB and its buffer at SUBMITURB, hand it back through umockdev_ioctl_data_set_ptr at
 * REAPURBNDELAY, discarded URBs come back with -ENOENT).
 */
#include "collar_emu.h"

#include <errno.h>
#include <linux/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <umockdev.h>

#include "proto/err.h"

#define LOCK(e) pthread_mutex_lock(&(e)->mu)
#define UNLOCK(e) pthread_mutex_unlock(&(e)->mu)

/* ---- IN stream -------------------------------------------------------------------------------------- */

static void inq_put(struct emu *e, const uint8_t *p, size_t n)
{
	if (n > EMU_INQ_MAX - e->inq_len) {
		fprintf(stderr, "collar_emu: IN queue overflow (%zu bytes dropped)\n", n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		e->inq[(e->inq_head + e->inq_len + i) % EMU_INQ_MAX] = p[i];
	e->inq_len += n;
}

static void send_locked(struct emu *e, uint8_t type, const uint8_t *body, size_t len, size_t frag_body)
{
	size_t off = 0;
	do {
		size_t n = len - off > frag_body ? frag_body : len - off;
		struct proto_hdr h = {
			.flags = (uint8_t)(off + n < len ? PROTO_F_FRAG : 0), .type = type, .collar_id = e->collar_id,
			.link_seq = e->link_seq++, .boot_id = cf_journal_boot_id(&e->j),
		};
		uint8_t wire[PROTO_WIRE_MAX];
		size_t wl;
		if (proto_frame_encode(&h, body + off, n, NULL, wire, sizeof(wire), &wl) != 0) {
			fprintf(stderr, "collar_emu: cannot frame %zu bytes\n", n);
			return;
		}
		if (h.flags & PROTO_F_FRAG)
			e->frag_frames++;
		inq_put(e, wire, wl);
		off += n;
	} while (off < len);
}

void emu_send_frames(struct emu *e, uint8_t type, const uint8_t *body, size_t len, size_t frag_body)
{
	LOCK(e);
	send_locked(e, type, body, len, frag_body);
	UNLOCK(e);
}

void emu_inject(struct emu *e, const void *bytes, size_t n)
{
	LOCK(e);
	inq_put(e, bytes, n);
	UNLOCK(e);
}

/* ---- the collar's dock endpoint ---------------------------------------------------------------------- */

static void reply_list(struct emu *e)
{
	struct cf_journal_stats st;
	struct proto_log_list l = {.has = PROTO_LOG_LIST_HAS_REPLY};
	if (cf_journal_stats(&e->j, &st) != 0)
		return;
	/* What the gateway still needs: LOG_TRIM dropped the rest (acked in the journal). */
	l.next_seq = st.next_seq;
	l.oldest_seq = st.oldest_unacked_seq ? st.oldest_unacked_seq : st.next_seq;
	l.count = st.backlog;
	l.boot_id = st.boot_id;
	uint8_t body[32];
	size_t len;
	if (proto_log_list_encode(&l, body, sizeof(body), &len) == 0)
		send_locked(e, PROTO_T_LOG_LIST, body, len, PROTO_BODY_MAX);
	e->lists++;
}

/* One LOG_DATA of up to PROTO_LOG_DATA_RECS_MAX stored, un-trimmed records from rd_next on. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void produce_data_timed(struct emu *e);

static void produce_data(struct emu *e)
{
	uint64_t t0 = now_ns();
	produce_data_timed(e);
	e->produce_ns += now_ns() - t0;
}

static void produce_data_timed(struct emu *e)
{
	static uint8_t recs[PROTO_LOG_DATA_RECS_MAX][CF_JOURNAL_BODY_MAX];
	static uint8_t body[PROTO_LOG_DATA_BODY_MAX];
	struct proto_log_data ld = {.seq = e->rd_next};
	uint32_t next = cf_journal_next_seq(&e->j);
	while (ld.n < PROTO_LOG_DATA_RECS_MAX && e->rd_left > 0 && e->rd_next < next) {
		if (e->stall_after && e->records_sent >= e->stall_after)
			break;
		size_t len;
		uint8_t type;
		uint32_t s = e->rd_next++;
		if (cf_journal_is_acked(&e->j, s) || cf_journal_read(&e->j, s, recs[ld.n], CF_JOURNAL_BODY_MAX, &len,
		                                                     &type) != 0)
			continue;
		ld.rec[ld.n].p = recs[ld.n];
		ld.rec[ld.n].len = (uint16_t)len;
		ld.n++;
		e->rd_left--;
		e->records_sent++;
	}
	if (ld.n == 0 && e->stall_after && e->records_sent >= e->stall_after)
		return; /* stalled: the test unplugs now */
	size_t blen;
	if (proto_log_data_encode(&ld, body, sizeof(body), &blen) != 0) {
		fprintf(stderr, "collar_emu: LOG_DATA encode failed\n");
		e->rd_active = 0;
		return;
	}
	send_locked(e, PROTO_T_LOG_DATA, body, blen, e->frag_body);
	if (ld.n == 0 || e->rd_left == 0)
		e->rd_active = 0;
}

static void on_frame(struct emu *e, const uint8_t *frame, size_t flen)
{
	struct proto_hdr h;
	const uint8_t *body;
	size_t len;
	if (proto_frame_check(frame, flen, &h, &body, &len) != 0) {
		e->bad_rx++;
		return;
	}
	e->frames_rx++;
	switch (h.type) {
	case PROTO_T_LOG_LIST:
		reply_list(e);
		break;
	case PROTO_T_LOG_READ: {
		struct proto_log_read r;
		if (proto_log_read_decode(body, len, &r, NULL) != 0) {
			e->bad_rx++;
			break;
		}
		e->reads++;
		e->rd_active = 1;
		e->rd_next = r.first_seq;
		e->rd_left = r.count;
		break;
	}
	case PROTO_T_LOG_TRIM: {
		struct proto_log_trim t;
		if (proto_log_trim_decode(body, len, &t, NULL) != 0) {
			e->bad_rx++;
			break;
		}
		uint32_t durable = e->sink_durable ? __atomic_load_n(e->sink_durable, __ATOMIC_SEQ_CST) : 0;
		if (t.upto_seq > durable)
			e->trim_violations++;
		e->trims++;
		e->last_trim = t.upto_seq;
		if (cf_journal_ack(&e->j, t.upto_seq, 0) != 0)
			e->bad_rx++;
		break;
	}
	case PROTO_T_PROVISION: {
		struct proto_provision p;
		if (proto_provision_decode(body, len, &p, NULL) != 0) {
			e->bad_rx++;
			break;
		}
		e->prov = p;
		e->provisioned++;
		e->collar_id = p.collar_id;
		break;
	}
	default:
		e->bad_rx++;
	}
}

static void on_out_bytes(struct emu *e, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t used = 0, flen = 0;
		int r = proto_deframer_push(&e->df, p, n, &used, e->frame, sizeof(e->frame), &flen);
		p += used;
		n -= used;
		if (r == 0)
			break;
		if (r < 0) {
			e->bad_rx++;
			continue;
		}
		on_frame(e, e->frame, flen);
	}
}

/* Complete pending IN URBs from the IN queue, producing LOG_DATA on demand. */
static void fill_in(struct emu *e)
{
	while (e->n_pending > 0) {
		UMockdevIoctlData *urb_data = e->pending_in[0];
		struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urb_data->data;
		/* A collar streams: keep producing LOG_DATA until this URB can be filled (bounded by the queue). */
		while (e->rd_active && e->inq_len < (size_t)urb->buffer_length &&
		       EMU_INQ_MAX - e->inq_len > 2u * PROTO_LOG_DATA_BODY_MAX) {
			uint32_t before = e->records_sent;
			size_t had = e->inq_len;
			produce_data(e);
			if (e->records_sent == before && e->inq_len == had)
				break; /* stalled */
		}
		if (e->inq_len == 0)
			return;
		size_t n = e->inq_len < (size_t)urb->buffer_length ? e->inq_len : (size_t)urb->buffer_length;
		uint8_t *dst = urb->buffer;
		for (size_t i = 0; i < n; i++)
			dst[i] = e->inq[(e->inq_head + i) % EMU_INQ_MAX];
		e->inq_head = (e->inq_head + n) % EMU_INQ_MAX;
		e->inq_len -= n;
		urb->actual_length = (int)n;
		memmove(e->pending_in, e->pending_in + 1, --e->n_pending * sizeof(void *));
		e->done[e->n_done] = urb_data;
		e->done_status[e->n_done++] = 0;
	}
}

static gboolean handle_ioctl_cb(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, struct emu *e)
{
	(void)handler;
	gulong request = umockdev_ioctl_client_get_request(client);
	UMockdevIoctlData *ioctl_arg = umockdev_ioctl_client_get_arg(client);
	gboolean handled = TRUE;

	LOCK(e);
	switch (request) {
	case USBDEVFS_GET_CAPABILITIES: {
		UMockdevIoctlData *d = umockdev_ioctl_data_resolve(ioctl_arg, 0, sizeof(guint32), NULL);
		*(guint32 *)d->data = USBDEVFS_CAP_BULK_SCATTER_GATHER | USBDEVFS_CAP_BULK_CONTINUATION |
		                      USBDEVFS_CAP_NO_PACKET_SIZE_LIM | USBDEVFS_CAP_REAP_AFTER_DISCONNECT |
		                      USBDEVFS_CAP_ZERO_PACKET;
		umockdev_ioctl_client_complete(client, 0, 0);
		umockdev_ioctl_data_unref(d);
		break;
	}
	case USBDEVFS_DISCONNECT_CLAIM: /* libusb with auto-detach: no driver to detach, so a plain claim */
	case USBDEVFS_CLAIMINTERFACE:
	case USBDEVFS_RELEASEINTERFACE:
	case USBDEVFS_CLEAR_HALT:
	case USBDEVFS_RESET:
	case USBDEVFS_RESETEP:
		umockdev_ioctl_client_complete(client, e->plugged ? 0 : -1, e->plugged ? 0 : ENODEV);
		break;
	case USBDEVFS_GETDRIVER:
	case USBDEVFS_IOCTL:
		umockdev_ioctl_client_complete(client, -1, ENODATA); /* no kernel driver bound */
		break;
	case USBDEVFS_SUBMITURB: {
		if (!e->plugged || e->n_pending >= 64 || e->n_done >= 64) {
			umockdev_ioctl_client_complete(client, -1, e->plugged ? ENOMEM : ENODEV);
			break;
		}
		UMockdevIoctlData *urb_data = umockdev_ioctl_data_resolve(ioctl_arg, 0, sizeof(struct usbdevfs_urb), NULL);
		struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urb_data->data;
		UMockdevIoctlData *urb_buffer = umockdev_ioctl_data_resolve(
			urb_data, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, NULL);
		if (urb->type != USBDEVFS_URB_TYPE_BULK) {
			umockdev_ioctl_client_complete(client, -1, EINVAL);
		} else if (urb->endpoint & 0x80) {
			e->pending_in[e->n_pending++] = urb_data; /* keeps the resolve's reference */
			urb_data = NULL;
			umockdev_ioctl_client_complete(client, 0, 0);
			fill_in(e);
		} else {
			on_out_bytes(e, urb->buffer, (size_t)urb->buffer_length);
			urb->actual_length = urb->buffer_length;
			e->done[e->n_done] = urb_data;
			e->done_status[e->n_done++] = 0;
			urb_data = NULL;
			umockdev_ioctl_client_complete(client, 0, 0);
			fill_in(e);
		}
		if (urb_buffer)
			umockdev_ioctl_data_unref(urb_buffer);
		if (urb_data)
			umockdev_ioctl_data_unref(urb_data);
		break;
	}
	case USBDEVFS_REAPURB:
	case USBDEVFS_REAPURBNDELAY: {
		fill_in(e);
		if (e->n_done == 0) {
			umockdev_ioctl_client_complete(client, -1, e->plugged ? EAGAIN : ENODEV);
			break;
		}
		UMockdevIoctlData *urb_data = e->done[0];
		struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urb_data->data;
		urb->status = e->done_status[0];
		memmove(e->done, e->done + 1, (e->n_done - 1) * sizeof(void *));
		memmove(e->done_status, e->done_status + 1, (e->n_done - 1) * sizeof(int));
		e->n_done--;
		UMockdevIoctlData *urb_ptr = umockdev_ioctl_data_resolve(ioctl_arg, 0, sizeof(gpointer), NULL);
		umockdev_ioctl_data_set_ptr(urb_ptr, 0, urb_data);
		umockdev_ioctl_client_complete(client, 0, 0);
		umockdev_ioctl_data_unref(urb_ptr);
		umockdev_ioctl_data_unref(urb_data);
		break;
	}
	case USBDEVFS_DISCARDURB: {
		gulong addr = (gulong)*(void **)ioctl_arg->data;
		unsigned i;
		for (i = 0; i < e->n_pending; i++)
			if (((UMockdevIoctlData *)e->pending_in[i])->client_addr == addr)
				break;
		if (i == e->n_pending) {
			umockdev_ioctl_client_complete(client, -1, EINVAL);
			break;
		}
		UMockdevIoctlData *urb_data = e->pending_in[i];
		((struct usbdevfs_urb *)urb_data->data)->actual_length = 0;
		memmove(e->pending_in + i, e->pending_in + i + 1, (e->n_pending - i - 1) * sizeof(void *));
		e->n_pending--;
		e->done[e->n_done] = urb_data;
		e->done_status[e->n_done++] = -ENOENT;
		umockdev_ioctl_client_complete(client, 0, 0);
		break;
	}
	default:
		fprintf(stderr, "collar_emu: unhandled ioctl 0x%lx\n", (unsigned long)request);
		e->ioctl_unknown++;
		handled = FALSE;
		break;
	}
	UNLOCK(e);
	return handled;
}

/* ---- lifecycle -------------------------------------------------------------------------------------- */

int emu_init(struct emu *e, uint32_t page_size, uint32_t n_pages, uint16_t collar_id)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->mu, NULL);
	e->mem = malloc((size_t)page_size * n_pages);
	if (e->mem == NULL)
		return -ENOMEM;
	int err = hal_flash_emul_init(&e->flash, &e->fem, e->mem, NULL, page_size, n_pages, 8);
	if (err == 0)
		err = cf_journal_mount(&e->j, &e->flash);
	if (err != 0)
		return err;
	e->collar_id = collar_id;
	e->frag_body = PROTO_BODY_MAX;
	e->tb = umockdev_testbed_new();
	if (e->tb == NULL)
		return -ENOSYS;
	e->handler = umockdev_ioctl_base_new();
	g_object_connect(e->handler, "signal-after::handle-ioctl", handle_ioctl_cb, e, NULL);
	return 0;
}

static void drop_urbs(struct emu *e)
{
	for (unsigned i = 0; i < e->n_pending; i++)
		umockdev_ioctl_data_unref(e->pending_in[i]);
	for (unsigned i = 0; i < e->n_done; i++)
		umockdev_ioctl_data_unref(e->done[i]);
	e->n_pending = e->n_done = 0;
}

void emu_fini(struct emu *e)
{
	drop_urbs(e);
	if (e->handler)
		g_object_unref(e->handler);
	if (e->tb)
		g_object_unref(e->tb);
	free(e->mem);
	pthread_mutex_destroy(&e->mu);
}

static void hexbytes(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

void emu_plug(struct emu *e)
{
	char dev[64], desc_hex[2 * 64 + 1], text[1024];
	LOCK(e);
	e->devnum++;
	e->plugged = 1;
	proto_deframer_init(&e->df);
	e->inq_head = e->inq_len = 0;
	e->rd_active = 0;
	UNLOCK(e);
	/* device descriptor + one configuration: interface 0, class 0xff, bulk OUT 0x01 and bulk IN 0x81 */
	const uint8_t desc[] = {
		0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, EMU_VID & 0xff, EMU_VID >> 8, EMU_PID & 0xff,
		EMU_PID >> 8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
		0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
		0x09, 0x04, 0x00, 0x00, 0x02, 0xff, 0x00, 0x00, 0x00,
		0x07, 0x05, 0x01, 0x02, 0x00, 0x02, 0x00,
		0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00,
	};
	hexbytes(desc_hex, desc, sizeof(desc));
	snprintf(dev, sizeof(dev), "/dev/bus/usb/001/%03u", e->devnum);
	snprintf(e->syspath, sizeof(e->syspath), "/sys/devices/dock%u", e->devnum);
	/* ioctl handler first, so libusb_open works as soon as the add uevent is seen (libusb's test does the
	 * same; umockdev #173) */
	if (!umockdev_testbed_attach_ioctl(e->tb, dev, e->handler, NULL))
		fprintf(stderr, "collar_emu: attach_ioctl %s failed\n", dev);
	snprintf(text, sizeof(text),
	         "P: /devices/dock%u\n"
	         "N: bus/usb/001/%03u\n"
	         "E: SUBSYSTEM=usb\n"
	         "E: DRIVER=usb\n"
	         "E: BUSNUM=001\n"
	         "E: DEVNUM=%03u\n"
	         "E: DEVNAME=/dev/bus/usb/001/%03u\n"
	         "E: DEVTYPE=usb_device\n"
	         "A: bConfigurationValue=1\\n\n"
	         "A: busnum=1\\n\n"
	         "A: devnum=%u\\n\n"
	         "A: speed=480\\n\n"
	         "H: descriptors=%s\n",
	         e->devnum, e->devnum, e->devnum, e->devnum, e->devnum, desc_hex);
	if (!umockdev_testbed_add_from_string(e->tb, text, NULL))
		fprintf(stderr, "collar_emu: add_from_string failed\n");
}

void emu_unplug(struct emu *e)
{
	char dev[64];
	LOCK(e);
	e->plugged = 0;
	/* the kernel completes everything in flight with -ESHUTDOWN on disconnect */
	for (unsigned i = 0; i < e->n_pending; i++) {
		((struct usbdevfs_urb *)((UMockdevIoctlData *)e->pending_in[i])->data)->actual_length = 0;
		e->done[e->n_done] = e->pending_in[i];
		e->done_status[e->n_done++] = -ESHUTDOWN;
	}
	e->n_pending = 0;
	e->rd_active = 0;
	UNLOCK(e);
	umockdev_testbed_uevent(e->tb, e->syspath, "remove");
	umockdev_testbed_remove_device(e->tb, e->syspath);
	snprintf(dev, sizeof(dev), "/dev/bus/usb/001/%03u", e->devnum);
	(void)umockdev_testbed_detach_ioctl(e->tb, dev, NULL);
}

/* ---- journal content -------------------------------------------------------------------------------- */

uint32_t emu_append_fix(struct emu *e)
{
	uint32_t seq = cf_journal_next_seq(&e->j), got = 0;
	struct proto_fix f = {
		.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_ALT | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_NSAT |
		       PROTO_FIX_HAS_SOG | PROTO_FIX_HAS_COG | PROTO_FIX_HAS_HACC,
		.rec_seq = seq,
		.t_ms = 1700000000000ull + (uint64_t)seq * 1000u,
		.lat_e7 = -88000000 + (int32_t)(seq % 1000u) * 3,
		.lon_e7 = 135000000 - (int32_t)(seq % 777u) * 5,
		.alt_mm = 1200000 + (int32_t)(seq % 300u),
		.hdop_c = (uint16_t)(80u + seq % 50u),
		.h_acc_mm = 1500u + seq % 900u,
		.nsat = (uint8_t)(5u + seq % 9u),
		.sog_cms = (uint16_t)(seq % 200u),
		.cog_cdeg = (uint16_t)(seq * 37u % 36000u),
	};
	uint8_t body[PROTO_BODY_MAX];
	size_t len;
	if (proto_fix_encode(&f, body, sizeof(body), &len) != 0 ||
	    cf_journal_append(&e->j, PROTO_T_FIX, body, len, &got) != 0 || got != seq)
		return 0;
	return seq;
}

uint32_t emu_append_ind(struct emu *e)
{
	uint32_t seq = cf_journal_next_seq(&e->j), got = 0;
	/* No position, a duration: this body also decodes as a valid FIX (the LOG_DATA typing hazard). */
	struct proto_ind in = {
		.has = PROTO_IND_HAS_T | PROTO_IND_HAS_DUR,
		.rec_seq = seq,
		.t_ms = 1700000000000ull + (uint64_t)seq * 1000u,
		.kind = PROTO_IND_SIT,
		.dur_ms = 4000u + seq % 1000u,
		.src = PROTO_SRC_CLASSIFIER,
	};
	uint8_t body[PROTO_BODY_MAX];
	size_t len;
	if (proto_ind_encode(&in, body, sizeof(body), &len) != 0 ||
	    cf_journal_append(&e->j, PROTO_T_IND, body, len, &got) != 0 || got != seq)
		return 0;
	return seq;
}
