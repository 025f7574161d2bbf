/*
 * gw/dock.h — the USB docking station: journal offload (LOG_LIST / LOG_READ / LOG_DATA / LOG_TRIM) and
 * provisioning (PROVISION) of collars, over libusb, inside the gateway's single poll loop.
 *
 * Device: any USB device with the configured VID/PID; the first interface of class 0xFF (vendor) with one
 * bulk IN and one bulk OUT endpoint carries a byte stream of proto frames (proto/frame.h, COBS), exactly as
 * the radio link does, except that: frames may be unauthenticated (the cable is the trusted channel,
 * docs/protocol.md §1), only the dock types are accepted, and a message longer than one frame (LOG_DATA, up
 * to PROTO_LOG_DATA_BODY_MAX) travels as consecutive frames with FRAG on all but the last, reassembled in a
 * bounded buffer (struct gw_dock_reasm). PROVISION is encoded only in this module, so it can only ever leave
 * the gateway on USB.
 *
 * Session (one per docked collar; the dock may have GW_DOCK_DEV_MAX cradles):
 *   LOG_LIST → reply: collar_id (frame header), journal extent [oldest, next).
 *   [PROVISION, if one is queued; then LOG_LIST again: the reply's collar_id confirms it]
 *   LOG_READ(first = max(oldest, resume point), count <= PROTO_LOG_READ_MAX) → LOG_DATA messages. A LOG_READ
 *     asks for the next `count` STORED records at or after first_seq (thinned FIXes leave gaps in rec_seq);
 *     each LOG_DATA says where its scan started (seq) and carries up to 16 records in rec_seq order; an
 *     empty LOG_DATA means "nothing at or after seq" (end of journal). The gateway accepts a LOG_DATA only
 *     when its seq is the gateway's cursor (the next rec_seq it does not have): a lost or corrupted message
 *     is a gap → LOG_READ again from the cursor, so every record arrives once, in order.
 *   Each record is handed to sink.on_record (type, rec_seq, body). After each LOG_READ's answer is complete
 *     the gateway calls sink.sync (make everything accepted durable) and only when that returns 0 sends
 *     LOG_TRIM(cursor - 1) and remembers cursor as the collar's resume point. Unplugged mid-transfer: the
 *     records already accepted are synced the same way, so the next session resumes at the next missing
 *     rec_seq; the collar still holds them (no TRIM went out) in case the sync failed.
 *
 * Record type: LOG_DATA records are raw journal bodies WITHOUT their type byte (proto/msg.h), so the type is
 * recovered from the body (gw_dock_classify): FIXB if key 1 is a map; IND if it decodes as an IND, else FIX
 * if it decodes as a FIX. IND is tried first because common IND bodies also decode as valid FIXes (kind →
 * lat 1..3 degE7, dur → lon, src → hdop), whereas a FIX decoding as an IND needs |lat| <= 3e-7° and HDOP <=
 * 0.03: see the report to the lead about adding the type to LOG_DATA.
 *
 * Hotplug: libusb_hotplug_register_callback(ARRIVED|LEFT, ENUMERATE, vid, pid) when libusb has hotplug;
 * otherwise the device list is rescanned every rescan_ms. Callbacks only queue; opening, claiming and
 * closing happen in gw_dock_service(). libusb's fds come from libusb_get_pollfds (and the pollfd notifiers
 * when attached to a gw_loop); every call into libusb's event handling uses a zero timeout.
 *
 * Transfers: GW_DOCK_IN_XFERS bulk IN transfers of GW_DOCK_IN_BUF bytes stay submitted while a session is
 * open (double buffering); OUT frames are queued in a bounded buffer (GW_DOCK_OUT_BUF) and sent by one bulk
 * OUT transfer at a time. Every transfer has a timeout (io_timeout_ms); an IN timeout while a reply is
 * awaited counts as a timeout and the request is repeated from the cursor (GW_DOCK_RETRIES times, then the
 * session ends with an error). Keys are never logged; the OUT buffer is wiped after a PROVISION is sent.
 */
#ifndef GW_DOCK_H
#define GW_DOCK_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/hmac.h"
#include "proto/msg.h"

#define GW_DOCK_DEV_MAX 4u           /* cradles (docked collars) served at once */
#define GW_DOCK_COLLARS_MAX 1024u    /* resume points remembered */
#define GW_DOCK_IN_XFERS 2u          /* bulk IN transfers in flight per device */
#define GW_DOCK_IN_BUF 16384u        /* bytes per bulk IN transfer */
#define GW_DOCK_OUT_BUF 4096u        /* queued OUT bytes per device (requests are single frames) */
#define GW_DOCK_RETRIES 3u           /* repeated requests before a session gives up */
#define GW_DOCK_POLLFDS_MAX 16u

/* ---- reassembly of FRAG messages (pure, no USB: also used by the tests) ------------------------------ */

struct gw_dock_reasm {
	uint8_t buf[PROTO_LOG_DATA_BODY_MAX];
	size_t len;
	uint8_t active;    /* a FRAG fragment was seen, the message is not complete */
	uint8_t skipping;  /* the message in progress was refused: drop fragments up to its last one */
	uint8_t type;
	uint16_t collar_id;
	uint16_t next_link_seq;
	uint32_t overflow; /* messages refused: longer than buf */
	uint32_t broken;   /* fragment out of sequence, or of another type/collar than the message in progress */
};

void gw_dock_reasm_init(struct gw_dock_reasm *r);
/*
 * Feed one checked frame (proto_frame_check's hdr and body). Returns 1 when a message is complete (msg and
 * msg_len then point into r or into body), 0 when more fragments are needed, -EMSGSIZE when the message in
 * progress grew past PROTO_LOG_DATA_BODY_MAX (its remaining fragments are dropped). A fragment out of
 * sequence drops the message in progress (counted in broken) and is then taken as the start of a new one.
 */
int gw_dock_reasm_push(struct gw_dock_reasm *r, const struct proto_hdr *hdr, const uint8_t *body, size_t len,
                       const uint8_t **msg, size_t *msg_len) __attribute__((warn_unused_result));

/*
 * Recover a journal record's type from its body (see above). *first / *last get its rec_seq (a FIXB spans
 * several). @retval PROTO_T_FIX, PROTO_T_IND or PROTO_T_FIXB; the FIX decoder's negative proto error if it
 * is none of them.
 */
int gw_dock_classify(const uint8_t *body, size_t len, uint32_t *first, uint32_t *last)
	__attribute__((warn_unused_result));

/* ---- the dock ------------------------------------------------------------------------------------------ */

/* Where downloaded records go (the spool). */
struct gw_dock_sink {
	/* Accept one record (not yet durable). type: PROTO_T_FIX, _IND or _FIXB. Return 0 accepted (a duplicate
	 * the sink already holds counts as accepted), <0 refused: the session stops before this record. */
	int (*on_record)(void *ctx, uint16_t collar_id, uint8_t type, uint32_t rec_seq, const uint8_t *body,
	                 size_t len);
	/* Make every record accepted so far durable. 0 = durable (only then may the collar drop them). */
	int (*sync)(void *ctx);
	void *ctx;
};

/* The provisioning key comes from here (e.g. generated with getrandom and written to the key table first).
 * Return 0 and fill key, or <0 (nothing is sent). The dock wipes its copies after sending. */
typedef int (*gw_dock_key_fn)(void *ctx, uint16_t collar_id, uint8_t key[PROTO_KEY_LEN]);

struct gw_dock_provision {
	uint16_t collar_id;      /* 1..65535 */
	uint8_t species;         /* PROTO_SPECIES_RAT or _DOG */
	uint32_t report_ms;      /* FIX period, 200..3600000 */
	uint32_t status_ms;      /* STATUS period, 1000..86400000, or 0 = leave the collar's default */
	uint64_t utc_ms;         /* clock seed, or 0 = none */
	gw_dock_key_fn key;
	void *key_ctx;
};

struct gw_dock_opts {
	uint16_t vid, pid;          /* device to serve (config: dock.vid / dock.pid) */
	uint32_t io_timeout_ms;     /* per transfer / per awaited reply; 0 = 2000 */
	uint32_t rescan_ms;         /* enumeration period when libusb has no hotplug; 0 = 1000 */
	int force_rescan;           /* use periodic enumeration even if hotplug works (tests) */
	uint16_t boot_id;           /* header boot_id of the gateway's frames */
	struct gw_dock_sink sink;
};

struct gw_dock_stats {
	uint64_t arrivals, departures;      /* devices seen / gone */
	uint64_t open_failed;               /* could not open / find the interface / claim it */
	uint64_t sessions;                  /* LOG_LIST answered */
	uint64_t xfer_ok, xfer_failed, xfer_timeouts, xfer_cancelled;
	uint64_t bytes_in, bytes_out;
	uint64_t frames_ok;                 /* checked frames received */
	uint64_t frames_bad;                /* deframer/COBS/CRC/header errors */
	uint64_t frag_bad;                  /* reassembly refusals (oversized, out of sequence) */
	uint64_t msgs_bad;                  /* complete messages that did not decode, or of an unexpected type */
	uint64_t records;                   /* records handed to the sink and accepted */
	uint64_t records_bad;               /* records that did not decode (skipped, logged) */
	uint64_t gaps;                      /* LOG_DATA not at the cursor: a request was repeated */
	uint64_t stale;                     /* LOG_DATA behind the cursor, or while no LOG_READ is open: ignored */
	uint64_t reply_timeouts;            /* an awaited reply did not come within io_timeout_ms: repeated */
	uint64_t resumptions;               /* sessions that started from a remembered resume point */
	uint64_t trims;                     /* LOG_TRIM sent (after sync) */
	uint64_t sync_failed;               /* sink.sync failures (nothing trimmed) */
	uint64_t provisionings;             /* PROVISION confirmed by the collar's next LOG_LIST */
	uint64_t provision_failed;
	uint64_t sessions_failed;           /* sessions that ended on an error (retries exhausted, sink refused) */
	uint64_t downloads_done;            /* sessions that reached the end of the journal */
};

struct gw_dock;
struct gw_loop;

/* Opens a libusb context and starts watching for the device.
 * @retval 0; -EINVAL bad opts (vid/pid 0, no sink); -EIO libusb init failed; -ENOMEM */
int gw_dock_new(struct gw_dock **out, const struct gw_dock_opts *o) __attribute__((warn_unused_result));
/* Ends every session (syncing what was received), frees everything. NULL-safe. */
void gw_dock_free(struct gw_dock *d);

/* 1 if hotplug is used, 0 if the list is rescanned periodically. */
int gw_dock_hotplug(const struct gw_dock *d);

/* The fds to poll (libusb's). Returns how many were written (<= cap), or <0. */
int gw_dock_pollfds(struct gw_dock *d, struct pollfd *fds, size_t cap);
/* Milliseconds until gw_dock_service must run even without fd activity (rescan, libusb timeouts), -1 none. */
int gw_dock_timeout_ms(struct gw_dock *d, uint64_t now_ms);
/* Handle libusb events (zero timeout), hotplug arrivals/departures, rescans, session progress. now_ms is
 * a monotonic clock. @retval 0, or <0 if libusb's event handling failed. */
int gw_dock_service(struct gw_dock *d, uint64_t now_ms);

/* Register libusb's fds with the gateway loop (kept up to date with libusb's pollfd notifiers) and a
 * housekeeping timer; the loop then calls gw_dock_service. @retval 0 or the loop's error. */
int gw_dock_attach(struct gw_dock *d, struct gw_loop *l) __attribute__((warn_unused_result));

/* Queue a PROVISION for the next collar that docks (or the docked one, once its download is idle).
 * @retval 0; -EINVAL bad parameters (checked with proto's encoder rules); -EBUSY one is already queued */
int gw_dock_provision(struct gw_dock *d, const struct gw_dock_provision *p) __attribute__((warn_unused_result));
/* 1 while a queued PROVISION has not been confirmed or failed yet. */
int gw_dock_provision_pending(const struct gw_dock *d);

/* Resume points: the next rec_seq the gateway does not have for a collar (seeded from the spool at start).
 * @retval 0; -ENOSPC table full (get: -ENOENT unknown collar) */
int gw_dock_resume_set(struct gw_dock *d, uint16_t collar_id, uint32_t next_seq);
int gw_dock_resume_get(const struct gw_dock *d, uint16_t collar_id, uint32_t *next_seq);

/* Devices currently open, and how many of them have finished their download and are idle. */
unsigned gw_dock_open_count(const struct gw_dock *d);
unsigned gw_dock_idle_count(const struct gw_dock *d);

void gw_dock_stats(const struct gw_dock *d, struct gw_dock_stats *st);

#endif
