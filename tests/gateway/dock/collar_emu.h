/*
 * tests/gateway/dock/collar_emu.h — an emulated docking cradle with a collar in it, for the umockdev tests.
 *
 * The USB side follows libusb's own tests/umockdev.c: a umockdev testbed provides /sys and
 * /dev/bus/usb/001/NNN, and a UMockdevIoctlBase handler answers usbfs ioctls (SUBMITURB, REAPURBNDELAY,
 * DISCARDURB, CLAIMINTERFACE...) in-process. Unlike libusb's scripted "chat", the handler here IS the
 * collar: bulk OUT bytes go through proto's deframer into a dock endpoint that serves a real cf_journal
 * (collar-fw/core/journal.c on the in-memory flash emulator), and its answers are queued for bulk IN URBs.
 * LOG_DATA is built lazily, one message when an IN URB wants bytes, so an unplug can land mid-download.
 *
 * The handler runs on umockdev's thread: everything shared with the test is under emu->mu.
 */
#ifndef COLLAR_EMU_H
#define COLLAR_EMU_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/journal.h"
#include "hal/flash.h"
#include "hal/flash_emul.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define EMU_VID 0x1209u
#define EMU_PID 0x5ca7u
#define EMU_INQ_MAX (64u * 1024u)

struct emu {
	pthread_mutex_t mu;
	void *tb;      /* UMockdevTestbed * */
	void *handler; /* UMockdevIoctlBase * */
	unsigned devnum;
	int plugged;
	char syspath[96];

	/* URBs (UMockdevIoctlData *), FIFO */
	void *pending_in[64];
	unsigned n_pending;
	void *done[64];
	int done_status[64];
	unsigned n_done;

	/* the collar */
	struct hal_flash flash;
	struct hal_flash_emul fem;
	uint8_t *mem;
	struct cf_journal j;
	uint16_t collar_id;
	uint16_t link_seq;
	struct proto_deframer df;
	uint8_t frame[PROTO_FRAME_MAX];

	/* IN byte queue */
	uint8_t inq[EMU_INQ_MAX];
	size_t inq_head, inq_len;

	/* LOG_READ being served */
	int rd_active;
	uint32_t rd_next, rd_left;

	/* test knobs and observations */
	size_t frag_body;                 /* body bytes per fragment (<= PROTO_BODY_MAX) */
	uint32_t stall_after;             /* stop producing LOG_DATA after this many records (0 = never) */
	const uint32_t *sink_durable;     /* the test sink's durable mark (atomic reads) */
	uint32_t records_sent, frag_frames, frames_rx, bad_rx, lists, reads;
	uint32_t trims, last_trim, trim_violations;
	int provisioned;
	struct proto_provision prov;
	uint32_t ioctl_unknown;
	uint64_t produce_ns;              /* collar side: journal reads + LOG_DATA encoding + framing */
};

/* Create the testbed (call before libusb_init / gw_dock_new) and a journal of n_pages x page_size. */
int emu_init(struct emu *e, uint32_t page_size, uint32_t n_pages, uint16_t collar_id);
void emu_fini(struct emu *e);
/* Plug the cradle in (a new devnum each time, like a real re-enumeration); the collar's dock session state
 * starts afresh. */
void emu_plug(struct emu *e);
/* Unplug: every URB in flight completes with -ESHUTDOWN, further submits fail with ENODEV, then the
 * device disappears from sysfs with a "remove" uevent. */
void emu_unplug(struct emu *e);
/* Put raw bytes into the IN stream (hostile input). */
void emu_inject(struct emu *e, const void *bytes, size_t n);
/* Frame a message from the collar into the IN stream (used for hostile fragments too). */
void emu_send_frames(struct emu *e, uint8_t type, const uint8_t *body, size_t len, size_t frag_body);

/* Journal helpers: append a FIX or IND for the next rec_seq; returns the rec_seq (0 on failure). */
uint32_t emu_append_fix(struct emu *e);
uint32_t emu_append_ind(struct emu *e);

#endif
