/*
 * gw/pipeline.h — from bytes on a radio link to durable records and ACKs back to the collars.
 *
 * Per frame, cheapest check first (docs/protocol.md §2.1), every rejection counted by its proto error code
 * and logged (rate-limited) with link, byte offset and reason; nothing here can be made to crash or to drop
 * the NEXT frame by bad input (the deframer resyncs at every 0x00):
 *
 *   deframe (COBS) → CRC-32C + header (proto_frame_check) → radio type (no dock/gateway types, no FRAG)
 *   → collar known (key table) → replay window on (boot_id, link_seq) → HMAC tag, constant time
 *   → msgpack pre-validation + decode (proto_msg_decode) → FIXB expanded into FIX records
 *   → dedupe on (collar_id, rec_seq) → spool.
 *
 * Replay window (per collar, like IPsec's anti-replay window): a frame is accepted if its boot_id is greater
 * than the stored one (a new epoch; boot_ids only grow), or equal with a link_seq above the highest seen, or
 * within the 64 below it and not yet seen. The window moves only AFTER the tag verifies, so forged frames
 * cannot push it. (boot_id, highest link_seq) is persisted in the spool with the records, so a restarted
 * gateway still refuses old frames.
 *
 * ACKs (per collar): cum + 64-bit sack describe what is DURABLE (committed), never what is merely received.
 * An ACK goes out when ack_every (4) DURABLE records of the collar are un-ACKed (checked after every commit),
 * or ack_ms (100) after the first record (or duplicate) since the last ACK — committing first if needed —
 * whichever comes first; at once for an IND or a frame with ACKREQ (the spool commits at the end of the read
 * that carried it). By default FIXes are not committed early for ack_every: their ACK follows the group
 * commit (<= commit_ms), so a flood of FIXes costs ~1000/commit_ms fsyncs per second plus one per read that
 * carried an IND. With early_commit = 1 the spool commits as soon as a collar has ack_every records pending,
 * but not sooner than commit_gap_ms after the previous commit (at most 1000/commit_gap_ms fsyncs per second):
 * lower FIX ACK latency at light load, a third less FIX throughput under a flood (docs/testing.md).
 * Duplicates are ACKed too: a duplicate means the collar missed our ACK. ACKs are sealed with the collar's key,
 * header boot_id = the gateway's epoch (persisted boot counter, bumped again if a collar's ACK link_seq
 * wraps), and go back on the link the collar was last heard on.
 *
 * Group commit: FIXes are committed at the latest commit_ms (100) after the first uncommitted record, or when
 * commit_max records are pending; IND/ACKREQ at the end of the read that carried them.
 *
 * Rate / loss statistics from link_seq: gaps within one boot_id count as lost frames; a late frame that fills
 * a gap is un-counted.
 *
 * Clock: every entry point takes the time (monotonic ms for deadlines, UTC ms for rx timestamps) so tests
 * inject it; the pipeline never reads a clock.
 */
#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "gw/spool.h"
#include "proto/hmac.h"

#define GW_LINKS_MAX 8u          /* radio links (serial ports) */
#define GW_COLLARS_MAX 1024u     /* collars in the key table */
#define GW_ACK_WIN 1024u         /* rec_seq window above cum tracked in memory (sack uses the first 64) */
#define GW_ERR_SLOTS 100u        /* counters per proto error code: index = -code (proto/err.h, 1..99) */
#define GW_PENDING_MAX 16384u   /* uncommitted records before a forced commit (8 bytes each in memory) */

struct gw_now {
	uint64_t mono_ms; /* CLOCK_MONOTONIC: deadlines */
	uint64_t utc_ms;  /* CLOCK_REALTIME: rx timestamps, ACK gw_t (omitted when before 2000) */
};

/* What the link knows about a received chunk (a LoRa modem in packet mode may tell; a transparent serial
 * modem does not, and then the fields stay absent — never 0). */
struct gw_rx_meta {
	uint8_t has_rssi, has_snr;
	int16_t rssi_dbm, snr_db10;
};

struct gw_pipeline_opts {
	unsigned ack_every;   /* records per ACK (default 4) */
	unsigned ack_ms;      /* max ms from a record to its ACK (default 100) */
	unsigned commit_ms;   /* max ms a FIX waits for its commit (default 100) */
	unsigned commit_max;  /* pending records that force a commit (default 16384 = GW_PENDING_MAX: above
	                         ~160 k records/s; below, the commit_ms timer commits first) */
	uint8_t credit;       /* ACK credit, frames in flight (default 8; 0 = omit) */
	unsigned commit_gap_ms; /* min ms between commits forced by ack_every (default 10): bounds fsyncs/s */
	uint8_t early_commit;   /* 1: ack_every commits FIXes early (see above); 0 (default): FIX ACKs wait for
	                           the group commit — fsyncs/s then follow the INDs, not the FIX rate */
};
#define GW_PIPELINE_OPTS_INIT {4, 100, 100, 16384, 8, 10, 0}

/* Per-collar state visible to the status page. Counters count frames unless named otherwise. */
struct gw_collar_info {
	uint16_t collar_id;
	uint64_t frames_ok;      /* authenticated, decoded, handed to the spool */
	uint64_t crc_fail;       /* CRC-32C mismatch on a frame whose header named this collar (the header is
	                            itself unverified: a best-effort attribution) */
	uint64_t auth_fail;      /* no tag or wrong tag */
	uint64_t replays;        /* (boot_id, link_seq) already seen or older */
	uint64_t malformed;      /* authenticated but the body does not decode; by code in malformed_by */
	uint32_t malformed_by[GW_ERR_SLOTS];
	uint64_t heard;          /* frames that passed the tag (loss % = lost / (lost + heard)) */
	uint64_t lost;           /* link_seq gaps (frames never heard) */
	uint64_t records;        /* records newly stored (FIXB counts each fix) */
	uint64_t duplicates;     /* records already stored (collar retransmits) */
	uint64_t refused;        /* records refused by the disk budget or a spool error (not ACKed) */
	uint64_t thinned;        /* rec_seqs the collar declared GONE (thinned/dropped there) and never received
	                            here: settled so cum passes them; not records, not lost frames */
	uint64_t acks_sent;
	uint8_t last_link;
	uint8_t has_rssi, has_snr, has_batt;
	int16_t rssi_dbm, snr_db10;
	uint16_t batt_mv;
	uint8_t has_seen;
	uint64_t last_seen_utc_ms;
	uint8_t has_replay;
	uint16_t boot_id;        /* replay window: epoch and highest link_seq accepted */
	uint16_t link_seq;
	uint32_t cum;            /* cumulative ack point (durable) */
	uint32_t fw_schema;      /* from HELLO, 0 = not heard */
};

/* Per-link receive counters (frame-level errors cannot be trusted to name a collar). */
struct gw_link_rx {
	uint64_t bytes;
	uint64_t candidates;     /* frames between delimiters */
	uint64_t frames_ok;
	uint64_t rejected;       /* sum of err_by */
	uint32_t err_by[GW_ERR_SLOTS]; /* framing/CRC/header codes, PROTO_EFRAME_TYPE also for non-radio types */
	uint64_t unknown_collar; /* valid CRC, collar not in the key table */
	uint64_t acks_sent;
	uint64_t ack_bytes;
	uint64_t ack_send_fail;
};

struct gw_pipeline_totals {
	uint64_t frames_ok, crc_fail, auth_fail, replays, malformed, unknown_collar, lost;
	uint64_t records, duplicates, refused, acks_sent, commits, commit_errors, spool_errors;
	uint64_t thinned;
	uint16_t last_unknown_collar;
	/* commands from the core (gw_pipeline_cmd_queue) */
	uint64_t cmds_queued, cmds_sent, cmd_acks, cmds_dropped, cmds_refused;
};

struct gw_pipeline;

/* Send one ACK frame (wire bytes, delimiters included) on a link. Return 0 or <0 (counted, the ACK is
 * regenerated with the next record or retransmission anyway). */
typedef int (*gw_pipeline_send_fn)(void *arg, unsigned link, const uint8_t *wire, size_t len);

/* The pipeline keeps s (borrowed; must outlive it) and registers a commit callback on it.
 * @retval 0, -ENOMEM, -EINVAL */
int gw_pipeline_new(struct gw_pipeline **out, struct gw_spool *s, const struct gw_pipeline_opts *o,
                    gw_pipeline_send_fn send, void *send_arg) __attribute__((warn_unused_result));
void gw_pipeline_free(struct gw_pipeline *p);

/* Replace the key table (SIGHUP): new collars are added, changed keys take effect for the next frame,
 * collars missing from keys become unknown (state kept; they come back with it if re-added). The counts
 * are optional. @retval 0, -ENOSPC (collars added before the failure stay) */
struct gw_key;
int gw_pipeline_keys_reload(struct gw_pipeline *p, const struct gw_key *keys, size_t n, unsigned *added,
                            unsigned *changed, unsigned *removed) __attribute__((warn_unused_result));

/*
 * Queue a CMD from the core for a collar. Each queued CMD is sent (sealed with the collar's key, on the
 * link the collar was last heard on) right after every ACK to that collar — piggy-backed on the ACK's
 * write — with retry counting up, until the collar's CMD_ACK for its cmd_id arrives (that CMD_ACK is spooled
 * and so relayed upstream like any record) or GW_CMD_RETRIES sends went unanswered (dropped, counted).
 * Queuing asks for an ACK to the collar at the next tick if it was heard already. Same cmd_id queued twice =
 * once (the core may resend). @retval 0; -ENOENT collar unknown; -ENOSPC GW_CMD_QUEUE CMDs already wait.
 */
#define GW_CMD_QUEUE 4u
#define GW_CMD_RETRIES 20u
struct proto_cmd;
int gw_pipeline_cmd_queue(struct gw_pipeline *p, uint16_t collar_id, const struct proto_cmd *cmd, uint64_t now_mono_ms)
	__attribute__((warn_unused_result));

/* Add a collar and its key (copied; the pad states are precomputed). @retval 0, -EEXIST, -ENOSPC, -EINVAL */
int gw_pipeline_collar_add(struct gw_pipeline *p, uint16_t collar_id, const uint8_t key[PROTO_KEY_LEN])
	__attribute__((warn_unused_result));
/* Restore replay windows and ack points from the spool (call once, after adding the collars). */
int gw_pipeline_restore(struct gw_pipeline *p) __attribute__((warn_unused_result));

/* Bytes received on a link; any chunking. Processes every complete frame, then commits/ACKs what is due.
 * meta may be NULL. @retval 0, -EINVAL (link out of range) */
int gw_pipeline_input(struct gw_pipeline *p, unsigned link, const uint8_t *buf, size_t len,
                      const struct gw_rx_meta *meta, const struct gw_now *now);
/* A link was (re)opened: forget the partial frame of its previous life. */
void gw_pipeline_link_reset(struct gw_pipeline *p, unsigned link);

/* Commit and ACK whatever is due at now. *next_mono_ms gets the next deadline (UINT64_MAX: none). */
int gw_pipeline_tick(struct gw_pipeline *p, const struct gw_now *now, uint64_t *next_mono_ms);
/* Commit everything and send every owed ACK now (shutdown). */
int gw_pipeline_flush(struct gw_pipeline *p, const struct gw_now *now);

/* Status. */
const struct gw_pipeline_totals *gw_pipeline_totals(const struct gw_pipeline *p);
const struct gw_link_rx *gw_pipeline_link_rx(const struct gw_pipeline *p, unsigned link);
size_t gw_pipeline_collar_count(const struct gw_pipeline *p);
const struct gw_collar_info *gw_pipeline_collar_at(const struct gw_pipeline *p, size_t i);
/* Loss in percent x100 (basis points) from link_seq gaps: lost / (lost + heard). */
unsigned gw_collar_loss_bp(const struct gw_collar_info *c);

#endif
