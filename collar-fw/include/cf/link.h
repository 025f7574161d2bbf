/*
 * cf/link.h — the collar's reliable radio link: selective-repeat ARQ over a lossy half-duplex radio
 * (reference/protocol.md §8.3, DESIGN.md decisions 2 and 3).
 *
 * WHAT IT DOES. Records (FIX, IND) live in the flash journal (cf/journal.h); the application appends them
 * there and nothing else: the link notices new rec_seqs by itself (cf_journal_next_seq), reads the bodies
 * back from the journal, batches FIXes into FIXB frames (proto_fixb_encode, as many as fit one frame), sends
 * INDs at once, keeps at most W = min(gateway credit, max_window <= 8) data frames in flight, retransmits on
 * RTO and marks records acked in the journal (cf_journal_ack) when an ACK says they are stored. It also sends
 * HELLO (boot, link loss), STATUS (periodic / on request) and CMD_ACK, and executes CMDs idempotently.
 *
 * HOW TO DRIVE IT (the link never reads a clock; every time is an explicit now_ms, wrapping uint32 ms):
 *   cf_link_init()                      after cf_journal_mount()
 *   cf_link_on_rx(now, bytes, n)        for every chunk of bytes the radio received (any split)
 *   while (cf_link_poll(now, buf, cap, &len) == 1) radio_send(buf, len);
 *                                      call whenever the radio is idle and: a record was appended, bytes
 *                                      were received, or now reached cf_link_next_deadline()
 *   One frame per poll: a half-duplex radio sends it before asking for the next. No frame is queued inside
 *   the link, so what goes on the air is always decided with the latest ACK in hand.
 *
 * PRIORITIES (one frame per poll, first that applies):
 *   link DOWN (boot, or no ACK for link_loss_ms while data is outstanding): CMD_ACK, else HELLO every
 *   hello interval (exponential back-off hello_min..hello_max, jittered); nothing else until an ACK arrives.
 *   link UP:  1 CMD_ACK   2 IND retransmission due   3 new IND   4 backlog IND (journal scan, newest first)
 *             4b GONE (below)   5 STATUS requested by CMD   6 new FIXes (FIXB) once fix_batch are waiting or the oldest has
 *             waited fix_hold_ms   7 FIX retransmission due   8 repair of holes the ACK shows
 *             9 backfill of older un-acked FIXes, newest first   10 periodic STATUS.
 *   Backfill and repair (8, 9) wait while an indication is still un-acked, so backlog indications are
 *   stored before any backlog FIX is even sent ("indications jump the queue", also under loss).
 *
 * THE ACK HORIZON. An ACK says "all <= cum stored" plus 64 selective bits: it cannot speak about records
 * above cum + 64. Newest-first backfill puts exactly those on the air first, so the link never retransmits
 * on a timeout what the ACK cannot speak about (that would double the airtime of every backlog drain);
 * such a frame is released after its RTO, and its records come back in the repair phase: when a backfill
 * round has walked down to the oldest un-acked record, cum climbs, the horizon moves up over the records
 * sent in the round, and what the ACK then shows missing is sent again (selective repeat). A record is never
 * forgotten: a record not yet acked is sent again by the next round. Rounds that made no progress (the
 * gateway's cum did not move) back off exponentially (round_backoff_min..max_ms).
 * Indications above the horizon are the exception: such an IND is sent ind_blind_tries times (RTO apart)
 * before the backfill goes on, so it reaches the gateway ahead of the backlog FIXes unless every copy is lost
 * (p^3 at loss p); a duplicate IND costs the gateway nothing (dedupe on rec_seq). Without this, an IND that
 * no ACK can confirm would either block the backfill forever or lose its priority.
 *
 * GONE. Records the journal thinned (or dropped, or lost to a torn append) can never be sent, so the gateway's
 * cum would stall below the first of them forever (the 64 sack bits cannot reach past a long gap). While
 * the gateway's cum is below cf_journal_gone_max(), the link looks for gone rec_seqs above it
 * (cf_journal_gone, one pass over the pages concerned) and states them in a GONE frame: once for each new
 * value of the gateway's cum, and again after 4 RTOs (min 5 s) if the cum did not move (the GONE, or the
 * ACK answering it, was lost; or the gateway restarted and forgot). GONE is not data: no window slot, no
 * retransmission state; it is recomputed from the journal every time, so it is never stale.
 *
 * RTO per frame: before any sample rto_init_ms; then max(rto_min, 2*srtt, srtt + 4*rttvar) (Jacobson/Karels
 * with Karn's rule: only frames sent once give a sample), doubled at each retransmission up to rto_max,
 * plus 0..25 % jitter from a xorshift32 PRNG seeded by the caller. After max_tries transmissions a frame is
 * released to the repair/backfill path (its window slot is freed for fresher data).
 *
 * link_seq counts every frame sent (retransmits included) from first_link_seq (0) after boot; before it
 * would wrap, cf_journal_bump_boot() gives a new, persisted boot_id, so (boot_id, link_seq) never repeats.
 * Frames are sealed with the collar key (AUTH tag) and COBS-stuffed (proto_frame_seal + proto_frame_wire).
 *
 * RX: ACK and CMD frames for this collar_id whose tag verifies with the collar key. Every rejection is
 * counted (struct cf_link_stats), nothing crashes: garbage costs at most the frame it hits. ACKs need no
 * replay protection (they only add to the ack state, and the journal refuses acks of rec_seqs not yet
 * issued); CMDs are idempotent by cmd_id: the last CF_LINK_CMD_MEMORY ids and results are remembered and a
 * repeat gets the same CMD_ACK again without running the command twice; a cmd_id CF_LINK_CMD_MEMORY or more
 * below the highest seen is refused as stale (cmd_ids are issued in increasing order per collar by the core).
 * The memory survives reboots and power cuts: it is persisted in the journal's application state (bytes
 * 0..CF_LINK_APP_STATE_BYTES-1: highest cmd_id, which of the 8 ids at and below it ran, their results)
 * before the CMD_ACK is queued, and restored by cf_link_init.
 *
 * RAM: sizeof(struct cf_link) = 3256 bytes on Cortex-M4 (the 16 decoded fixes of a FIXB, the frame and
 * receive buffers, the HMAC key state); code 5.6 KiB at -Os. No heap, no stdio, no clock.
 *
 * New FIXes: when at least fix_batch are waiting, or the oldest has waited fix_hold_ms, one frame is filled
 * with as many as fit (oldest first; at most PROTO_FIXB_MAX). More than CF_LINK_FRESH_FIX_MAX waiting (the
 * window is shut, e.g. the link is down): the oldest become backlog (still journaled, sent by backfill).
 *
 * Errors: functions return 0 (or a documented count) or a negative errno (-EINVAL, -ENOBUFS, -EIO from
 * the journal, -EOVERFLOW when boot_id is exhausted).
 */
#ifndef CF_LINK_H
#define CF_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "cf/journal.h"
#include "proto/frame.h"
#include "proto/hmac.h"
#include "proto/msg.h"

#define CF_LINK_WINDOW_MAX 8u        /* frames in flight at most (protocol.md §8.3) */
#define CF_LINK_CMD_MEMORY 8u        /* cmd_ids remembered for idempotency */
#define CF_LINK_APP_STATE_BYTES 9u   /* journal app-state bytes the link owns (CMD memory); the rest: cf_app */
#define CF_LINK_CMDACK_QUEUE 4u      /* CMD_ACKs waiting for the air */
#define CF_LINK_FRESH_FIX_MAX 32u    /* new FIXes waiting to be batched; beyond: left to backfill */
#define CF_LINK_FRESH_IND_MAX 8u     /* new INDs waiting for a window slot; beyond: backlog scan */
#define CF_LINK_SACK_SPAN 64u        /* records above cum an ACK can speak about */
#define CF_LINK_FRAME_RECS PROTO_FIXB_MAX

/* The application's part of a CMD (everything but STATUS_NOW, which the link answers itself).
 * Return a PROTO_RES_* result; anything else is reported as PROTO_RES_FAILED. Called once per cmd_id. */
typedef uint8_t (*cf_link_cmd_fn)(void *ctx, const struct proto_cmd *cmd, uint32_t now_ms);

struct cf_link_cfg {
	uint16_t collar_id;        /* 1..65535 */
	const uint8_t *key;        /* PROTO_KEY_LEN bytes; copied into the precomputed HMAC state */
	uint8_t max_window;        /* 1..CF_LINK_WINDOW_MAX; 0 = CF_LINK_WINDOW_MAX */
	uint8_t max_tries;         /* transmissions of one frame before it is left to backfill; 0 = 6 */
	uint8_t ind_blind_tries;   /* an IND above the ACK horizon is sent this often before backfill goes on; 0 = 3 */
	uint8_t fix_batch;         /* send new FIXes once this many wait, 1..PROTO_FIXB_MAX; 0 = PROTO_FIXB_MAX */
	uint32_t fix_hold_ms;      /* ...or once the oldest has waited this long; 0 = 10000 */
	uint32_t rto_init_ms;      /* RTO before the first RTT sample; 0 = 1000 */
	uint32_t rto_min_ms;       /* 0 = 500 */
	uint32_t rto_max_ms;       /* 0 = 30000 */
	uint32_t link_loss_ms;     /* no ACK this long with frames in flight = link lost; 0 = 60000 */
	uint32_t hello_min_ms;     /* HELLO probe interval, doubling while down; 0 = 1000 */
	uint32_t hello_max_ms;     /* 0 = 30000 */
	uint32_t round_backoff_min_ms; /* wait before a backfill round after one without progress; 0 = 30000 */
	uint32_t round_backoff_max_ms; /* 0 = 3600000 */
	uint32_t status_ms;        /* periodic STATUS; 0 = only on CMD STATUS_NOW */
	uint32_t budget_bps;       /* airtime budget, wire bytes per second; 0 = unlimited */
	uint32_t budget_burst;     /* bucket size in bytes, >= PROTO_WIRE_MAX; 0 = 2 * PROTO_WIRE_MAX */
	uint32_t caps;             /* PROTO_CAP_* for HELLO (PROTO_CAP_FIXB is always added) */
	uint32_t seed;             /* PRNG seed for RTO/HELLO jitter (0 is replaced by a constant) */
	uint16_t first_link_seq;   /* link_seq of the first frame after init (0; tests use it to reach the wrap) */
	cf_link_cmd_fn on_cmd;     /* may be NULL: every opcode but STATUS_NOW is then UNSUPPORTED */
	void *cmd_ctx;
};

struct cf_link_stats {
	/* transmit */
	uint32_t tx_frames;        /* every frame returned by poll (= link_seq increments) */
	uint32_t tx_bytes;         /* wire bytes of those (stuffed, both delimiters) */
	uint32_t tx_data;          /* FIX/FIXB/IND frames, first transmissions and retransmissions */
	uint32_t tx_records;       /* records carried by those (a record sent twice counts twice) */
	uint32_t retx;             /* retransmissions after an RTO */
	uint32_t repairs;          /* frames re-sent because an ACK showed their records missing */
	uint32_t backfill;         /* frames sent by backfill rounds */
	uint32_t rounds;           /* backfill rounds started */
	uint32_t released;         /* frames left to backfill/repair (max_tries, or above the ACK horizon) */
	uint32_t tx_hello;
	uint32_t tx_status;
	uint32_t tx_cmd_ack;
	uint32_t tx_gone;          /* GONE statements (rec_seqs thinned or dropped, never to be sent) */
	/* receive */
	uint32_t rx_bytes;
	uint32_t rx_frames;        /* frames accepted (ACK or CMD, verified and decoded) */
	uint32_t rx_acks;
	uint32_t rx_cmds;
	uint32_t rx_bad_frame;     /* deframer (overlong, COBS) and proto_frame_check (CRC, version...) failures */
	uint32_t rx_other_collar;  /* well-formed frames for another collar, or collar→gateway types (not ours) */
	uint32_t rx_bad_tag;       /* missing or wrong tag */
	uint32_t rx_bad_msg;       /* body did not decode */
	uint32_t rx_ack_range;     /* ACK named a rec_seq never issued (refused, nothing applied) */
	uint32_t cmd_dup;          /* CMD repeats answered from memory */
	uint32_t cmd_stale;        /* CMDs refused as older than the memory */
	/* journal / link state */
	uint32_t rec_unreadable;   /* records the journal no longer has or whose body would not decode */
	uint32_t link_losses;
	uint32_t link_ups;
	uint32_t boot_bumps;       /* boot_id bumps at link_seq wrap */
	uint32_t rtt_samples;
	uint32_t srtt_ms;          /* 0 until the first sample */
	uint32_t rttvar_ms;
	uint32_t rto_ms;           /* RTO a new frame gets now */
};

/* One in-flight data frame: the records it carries (re-read from the journal for a retransmission, so a
 * retransmission carries only what is still un-acked and always gets a fresh link_seq). */
struct cf_link_flight {
	uint8_t used;
	uint8_t ind;               /* carries a non-FIX record (priority class) */
	uint8_t n;
	uint8_t tries;
	uint32_t sent_ms;          /* first transmission */
	uint32_t due_ms;           /* RTO expiry of the latest transmission */
	uint32_t rto_ms;           /* RTO of the latest transmission (doubles) */
	uint32_t rec[CF_LINK_FRAME_RECS];
};

struct cf_link_cmd_mem {
	uint32_t cmd_id;
	uint8_t result;
	uint8_t used;
};

struct cf_link_fresh {
	uint32_t rec_seq;
	uint32_t t_ms;             /* when the link noticed it */
};

/* Caller-owned; every field is private to core/link.c (read through the functions below). */
struct cf_link {
	struct cf_link_cfg cfg;    /* with defaults filled in; cfg.key is cleared (the key lives in hkey) */
	struct cf_journal *j;
	struct proto_hmac_key hkey;
	struct cf_link_stats st;
	uint32_t rng;
	uint16_t boot_id;
	uint32_t link_seq;         /* next link_seq; 65536 = a boot_id bump is due */
	uint8_t up;
	uint8_t credit;
	uint8_t have_ack;
	uint8_t status_req;
	uint32_t last_ack_ms;
	uint32_t loss_ref_ms;      /* last ACK, or when the first frame went in flight after a quiet spell */
	uint32_t hello_due_ms;
	uint32_t hello_iv_ms;
	uint32_t status_due_ms;
	uint32_t gw_cum;           /* highest cum any ACK gave (the horizon is gw_cum + 1 .. gw_cum + 64) */
	uint64_t gw_ms;            /* gateway UTC ms of the last ACK that carried it */
	uint32_t gw_rx_ms;         /* our now_ms when it arrived */
	uint8_t have_gw_time;
	/* new records */
	uint32_t seen_next;        /* journal next_seq already looked at */
	struct cf_link_fresh fresh_fix[CF_LINK_FRESH_FIX_MAX];
	uint8_t n_fresh_fix;
	uint32_t fresh_ind[CF_LINK_FRESH_IND_MAX];
	uint8_t n_fresh_ind;
	uint32_t fresh_floor;      /* lowest rec_seq still handled as "new" (fresh queues); below: backlog */
	/* backlog */
	uint8_t ind_scan;          /* a backlog IND scan is pending */
	uint32_t ind_before;       /* it continues below this rec_seq */
	uint8_t in_round;          /* a backfill round is walking down */
	uint32_t bf_before;        /* the round continues below this rec_seq */
	uint32_t round_cum;        /* gw_cum when the round started (progress check) */
	uint32_t round_wait_ms;    /* back-off before the next round when the last made no progress */
	uint32_t round_ok_ms;      /* a new round may start at or after this time */
	/* GONE statements */
	uint8_t gone_sent;         /* a GONE went out for gone_cum */
	uint32_t gone_cum;         /* gw_cum when the last GONE was sent (or found nothing to say) */
	uint32_t gone_due_ms;      /* the same statement may be repeated at or after this time */
	/* RTT */
	uint32_t srtt_ms, rttvar_ms;
	/* airtime budget (milli-bytes) */
	uint64_t tokens_mb;
	uint32_t tokens_ms;
	uint8_t budget_blocked;    /* the last poll returned nothing because of the budget */
	/* commands */
	struct cf_link_cmd_mem cmd_mem[CF_LINK_CMD_MEMORY];
	uint8_t cmd_mem_next;
	uint8_t have_cmd;
	uint32_t cmd_high;
	struct proto_cmd_ack cmdack_q[CF_LINK_CMDACK_QUEUE];
	uint8_t n_cmdack;
	/* health for HELLO/STATUS, from the caller */
	uint16_t batt_mv;
	int16_t temp_dc;
	uint8_t batt_pct;
	uint8_t health_has;        /* PROTO_STATUS_HAS_* bits set by cf_link_set_health */
	/* work areas */
	struct cf_link_flight fl[CF_LINK_WINDOW_MAX];
	struct proto_fix fix[CF_LINK_FRAME_RECS];
	uint32_t cand[CF_LINK_FRAME_RECS];
	struct proto_deframer rx;
	uint8_t frame[PROTO_FRAME_MAX];
	uint8_t rxframe[PROTO_COBS_MAX(PROTO_FRAME_MAX)];
};

/*
 * Start the link over a mounted journal. The link starts DOWN and sends HELLO first. Records already in the
 * journal and not acked are backlog (scanned for INDs first, then backfilled newest first).
 * @retval -EINVAL collar_id 0, key NULL, journal NULL, or a cfg value out of range
 */
int cf_link_init(struct cf_link *l, const struct cf_link_cfg *cfg, struct cf_journal *j, uint32_t now_ms)
	__attribute__((warn_unused_result));

/*
 * Feed received radio bytes (any split; frames may span calls). ACKs are applied to the journal before
 * this returns; CMDs are executed (callback) and their CMD_ACK queued.
 * @return the number of frames accepted (bad ones are counted in stats, never an error)
 * @retval -EIO the journal failed to persist an ACK (the ACK will simply come again)
 */
int cf_link_on_rx(struct cf_link *l, uint32_t now_ms, const uint8_t *bytes, size_t len)
	__attribute__((warn_unused_result));

/*
 * The next frame to put on the air, wire-ready (delimiters + COBS), into out[0..cap); cap >= PROTO_WIRE_MAX.
 * @retval 1 a frame is in out[0..*len)   @retval 0 nothing to send now (*len = 0)
 * @retval -ENOBUFS cap too small   @retval -EIO journal   @retval -EOVERFLOW boot_id exhausted
 */
int cf_link_poll(struct cf_link *l, uint32_t now_ms, uint8_t *out, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* When poll should be called next if nothing is received and nothing is appended (a time <= now_ms means
 * "now"). Only meaningful after poll returned 0. */
uint32_t cf_link_next_deadline(const struct cf_link *l, uint32_t now_ms);

/* Battery and temperature for HELLO/STATUS; pass has = PROTO_STATUS_HAS_BATT | _BATTPCT | _TEMP bits. */
void cf_link_set_health(struct cf_link *l, uint32_t has, uint16_t batt_mv, uint8_t batt_pct, int16_t temp_dc);

/* Ask for a STATUS frame as soon as the window rules allow (same as CMD STATUS_NOW). */
void cf_link_request_status(struct cf_link *l);

/*
 * The gateway's UTC, for the NMEA parser's week-rollover snap: gateway time of the last ACK that carried one,
 * advanced by the time since it arrived (radio latency, tens of ms, is not compensated).
 * @retval 0 *utc_ms set   @retval -ENOENT no ACK with a time yet
 */
int cf_link_gateway_utc(const struct cf_link *l, uint32_t now_ms, uint64_t *utc_ms);

/* 1 while the link is up (an ACK arrived and the link has not been declared lost since). */
int cf_link_is_up(const struct cf_link *l);

/* Current window: min(gateway credit, max_window); frames in flight. */
unsigned cf_link_window(const struct cf_link *l);
unsigned cf_link_in_flight(const struct cf_link *l);
uint16_t cf_link_boot_id(const struct cf_link *l);

const struct cf_link_stats *cf_link_stats(const struct cf_link *l);

/* ---- adaptive report rate ---------------------------------------------------------------------------
 * The FIX report period the application should use now. Policy (first rule that applies):
 *   1. override_ms != 0 (CMD SET_RATE): that period, whatever the animal does — the core asked for it;
 *   2. indicating (an indication is in progress or ended < 30 s ago): 1 s — the position at and around
 *      the indication is what the correlation core needs most;
 *   3. mode SEARCH: 1 s while moving, CF_RATE_STATIONARY_MS (10 s) when stationary: a rat or dog
 *      standing still repeats the same position, and airtime is the scarce resource (DESIGN decision 3);
 *   4. mode TRANSIT (walking to/from the box): 5 s;   5. STANDBY: 60 s;   mode 0 (unknown): as SEARCH.
 * Pure function, no state: the application owns the inputs (motion from cf/classify, mode from CMD). */
#define CF_RATE_SEARCH_MS 1000u
#define CF_RATE_STATIONARY_MS 10000u
#define CF_RATE_TRANSIT_MS 5000u
#define CF_RATE_STANDBY_MS 60000u
struct cf_rate_in {
	uint8_t mode;        /* PROTO_MODE_*, 0 = unknown */
	uint8_t stationary;  /* 1: the animal has not moved (motion classifier / SOG) */
	uint8_t indicating;  /* 1: indication in progress or just ended */
	uint32_t override_ms; /* period set by CMD SET_RATE, 0 = none */
};
uint32_t cf_link_report_period_ms(const struct cf_rate_in *in);

#endif
