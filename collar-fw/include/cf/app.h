/*
 * cf/app.h — the collar application: the glue between the GNSS parser (cf/nmea.h), the indication
 * classifier and handler button (cf/classify.h, cf/button.h), the flash journal (cf/journal.h) and the radio
 * link (cf/link.h). Hardware-free like the rest of the core: no heap, no stdio, no clock reads. The board
 * hands it bytes, samples and the time (now_ms = hal_clock milliseconds, wrapping uint32) and puts the
 * frames it returns on the air.
 *
 *   cf_app_init(&app, &cfg, &flash, now)               mounts the journal, starts the link
 *   cf_app_gnss_feed(&app, now, bytes, n)              receiver bytes (any split)
 *   cf_app_accel(&app, &sample) / cf_app_button(...)   IMU samples (sample.t_ms is the time), button edges
 *   cf_app_radio_rx(&app, now, bytes, n)               bytes the radio received
 *   cf_app_tick(&app, now)                             once per main-loop turn: held indications, button
 *                                                      debounce, watchdog kick
 *   while (cf_app_radio_poll(&app, now, buf, cap, &len) == 1) radio_send(buf, len);
 *   sleep until cf_app_next_deadline(&app, now) or the next input
 *
 * FIXES. Every record the parser completes that has a position becomes a FIX (proto/msg.h) — subject to the
 * report period: a FIX is journaled when at least period - min(period/10, CF_APP_RATE_SLACK_MS) has passed
 * since the last journaled one (the slack absorbs arrival jitter, so a 1 Hz receiver at period 1000 keeps
 * every epoch). A record is dated on the collar clock by when its epoch's FIRST sentence arrived, not by
 * when the parser completed it (that happens only when the next epoch begins, a period later). The period
 * is cfg.rate_ms if set, else CMD SET_RATE's, else the adaptive policy cf_link_report_period_ms() with the
 * mode from CMD SET_MODE, "stationary" from the classifier's motion state (or, with no IMU data, SOG below
 * CF_APP_STILL_SOG_CMS) and "indicating" while an indication is held, in progress, or ended less than
 * CF_APP_IND_TAIL_MS ago. Records without a position (no fix) are counted, not journaled: FIX requires
 * lat/lon, and "no fix at t" is visible to the core as the gap. Dead-reckoning positions are journaled with
 * their q/mode so the core can tell them from fixes. Time: t = the receiver's UTC when it has a date in the
 * wire range (tq ROLLOVER when the parser moved it by 1024 weeks), else t_mono = now_ms.
 *
 * INDICATIONS AND HOW THEIR DURATION IS CONVEYED. One IND record per indication — the core dedupes on
 * rec_seq and counts every IND record as one indication, so an indication is never journaled twice (an END
 * does NOT produce a second record). An ONSET (classifier confirmation or debounced button press) is held
 * for at most cfg.pair_hold_ms waiting for its counterpart from the other source:
 *   - the counterpart arrives and cf_classify_combine() says they overlap: ONE IND, source BOTH, with the
 *     classifier's kind/onset/confidence, journaled at once;
 *   - the END arrives first (a short indication): the held IND takes the final dur_ms and confidence;
 *   - otherwise it is journaled alone when the hold expires.
 * dur_ms in the IND is the duration known when it is journaled: the final one if the END came during the
 * hold, else the duration so far (a lower bound: now - onset, at least the classifier's confirmation
 * time). In that second case the IND is remembered (CF_APP_OPEN_MAX at once; more: the oldest is
 * forgotten, counted in open_overflow) and its END journals a COMPLETION: an IND record with the same
 * kind, source, onset and position, the final dur_ms and confidence, and `completes` = the original's
 * rec_seq (journaled and sent like any IND). The core stores it as the duration of the original; it is not
 * a second indication. With pair_hold_ms = 0 every ONSET is journaled at once and only simultaneous events combine.
 * A counterpart arriving after its partner was journaled becomes its own indication (counted in
 * late_pairs): it is a second, real observation, and dropping it could lose a handler's mark.
 * Position: the latest FIX with a position not older than CF_APP_IND_POS_MAX_AGE_MS (if that epoch was
 * skipped by the report period it is journaled first, so fix_ref always names a journaled FIX), lat/lon,
 * h_acc and fix_ref = its rec_seq; older or none: the IND goes without a position. Onset time: UTC from the
 * latest timed fix (receiver time + clock difference) or the gateway's time from ACK/TIME_SET, else t_mono.
 *
 * HANDLER VERDICT. The handler answers every indication in one press: a tap (< CF_APP_VERDICT_REJECT_MS, 1 s,
 * from the first edge of the press to the first edge of the release, debounced) confirms it, holding the
 * button down (>= 1 s) rejects it. A deliberate hold of a second or more cannot be mistaken for a tap, and a
 * tap is what handlers do anyway to mark an indication; the simulated handler taps 0.12-0.35 s and holds
 * 1.6-2.4 s. The verdict (IND key 13, PROTO_VERDICT_CONFIRMED / _REJECTED) is on the indication the press
 * made or combined with, and is journaled exactly once per press, as soon as the press is over:
 *   - the press ended before its IND was journaled (in the hold): in that IND itself;
 *   - a mark on its own journaled before its END (hold expired, or pair_hold_ms = 0): in its completion;
 *   - a press combined into an IND journaled before the press ended: in a completion of that IND journaled
 *     at the press's END, whether or not the classifier's completion is still to come (that one then
 *     carries no verdict) — with the newest dur/conf already sent, since the core keeps the newest
 *     completion's. The verdict is durable when the handler lifts the finger, not when the animal stands up.
 * The IND waits for the press's END in the same CF_APP_OPEN_MAX table as for the classifier's END; a press
 * END whose IND was forgotten there is counted in verdicts_lost (and ind_end_unmatched).
 *
 * TIME FROM THE GATEWAY. After every received ACK carrying the gateway's UTC, and on CMD TIME_SET, the time
 * is handed to cf_nmea_set_reference_time() (2-digit years, GPS week rollover).
 *
 * COMMANDS. SET_RATE (fixed period until SET_RATE again; it wins over cfg.rate_ms), SET_MODE, TIME_SET: DONE.
 * The commanded rate and mode are persisted (journal app state) before the CMD is acknowledged and restored
 * by cf_app_init, so they survive reboots and power cuts, like the link's CMD memory. ERASE_ACKED: DONE when
 * every record <= upto is acked (acked records are reclaimed by the journal as it needs the room, nothing
 * to do), else REJECTED. REBOOT: UNSUPPORTED here (a board reboots by restarting the process/MCU).
 * STATUS_NOW is answered by the link itself.
 *
 * ERRORS. A journal failure (-EIO) is returned to the board, which must restart the collar (remount): the
 * journal refuses writes until then. Bad receiver bytes, bad IMU samples and bad radio frames are counted,
 * never errors.
 */
#ifndef CF_APP_H
#define CF_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/button.h"
#include "cf/classify.h"
#include "cf/journal.h"
#include "cf/link.h"
#include "cf/nmea.h"
#include "hal/flash.h"

#define CF_APP_PAIR_HOLD_MS 3000u       /* default hold of an ONSET for its counterpart (> dog sit_hold_ms) */
#define CF_APP_COMBINE_WINDOW_MS 2000u  /* cf_classify_combine() widening: handler reaction time */
#define CF_APP_IND_POS_MAX_AGE_MS 30000u /* a fix older than this does not position an IND */
#define CF_APP_IND_TAIL_MS 30000u       /* "indicating" for the report rate until this long after an END */
#define CF_APP_STILL_SOG_CMS 25u        /* without IMU data: SOG below this is "stationary" (GNSS noise) */
#define CF_APP_HELD_MAX 4u              /* ONSETs held at once; more: the oldest is journaled at once */
#define CF_APP_OPEN_MAX 4u              /* INDs journaled before their END, waiting to be completed */
#define CF_APP_UTC_ANCHOR_MAX_MS 3600000u /* a UTC anchor further than this from the event is not used */
#define CF_APP_RATE_SLACK_MS 250u       /* report period slack: min(period / 10, this) */
#define CF_APP_VERDICT_REJECT_MS 1000u  /* a handler press this long or longer rejects, shorter confirms */

struct cf_app_cfg {
	uint16_t collar_id;      /* 1..65535 */
	const uint8_t *key;      /* PROTO_KEY_LEN bytes */
	uint8_t species;         /* enum cf_species */
	uint32_t rate_ms;        /* fixed FIX report period; 0 = adaptive (cf_link_report_period_ms) */
	uint32_t pair_hold_ms;   /* see INDICATIONS; UINT32_MAX = CF_APP_PAIR_HOLD_MS default, 0 = no hold */
	uint32_t seed;           /* link PRNG seed */
	const struct cf_link_cfg *link; /* optional link overrides (collar_id, key, on_cmd are set here) */
	/* hooks, all optional; called from inside the cf_app_* calls */
	void (*on_record)(void *ctx, uint32_t rec_seq, uint8_t type, const uint8_t *body, size_t len);
	                         /* after each durable journal append (the host prints "journaled <seq>") */
	void (*wdt_kick)(void *ctx); /* from cf_app_tick() when every subsystem is healthy */
	void (*on_cmd)(void *ctx, const struct proto_cmd *c, uint8_t result);
	                         /* after the application ran a CMD (and persisted what it changed); never for
	                          * a repeat the link answers from its CMD memory */
	void *hook_ctx;
};

struct cf_app_stats {
	uint32_t fixes_in;         /* records from the parser */
	uint32_t fixes_no_pos;     /* ... without a position: not journaled */
	uint32_t fixes_rate_skip;  /* ... skipped by the report period */
	uint32_t fixes_journaled;  /* FIX records appended (including ones journaled to position an IND) */
	uint32_t fix_encode_err;   /* parser output the FIX schema refused (counted, dropped) */
	uint32_t fix_field_drop;   /* optional fields left out because outside the wire range */
	uint32_t ind_onsets;       /* ONSET events (classifier + button) */
	uint32_t ind_journaled;    /* IND records appended */
	uint32_t ind_both;         /* ... of which classifier and handler combined */
	uint32_t ind_end_in_hold;  /* ENDs that completed a held IND (final dur_ms sent) */
	uint32_t ind_end_after;    /* ENDs after their IND was journaled: a completion IND carries the final dur */
	uint32_t ind_completed;    /* completion IND records appended (not counted in ind_journaled) */
	uint32_t ind_end_unmatched;/* ENDs whose IND is no longer remembered (open_overflow) or never seen */
	uint32_t verdicts;         /* handler verdicts journaled (in an IND or a completion; one per press) */
	uint32_t verdicts_lost;    /* ... press ENDs whose IND was no longer remembered (in ind_end_unmatched) */
	uint32_t open_overflow;    /* open INDs forgotten because CF_APP_OPEN_MAX were open */
	uint32_t ind_no_pos;       /* INDs journaled without a position */
	uint32_t late_pairs;       /* counterparts that arrived after their partner was journaled */
	uint32_t held_overflow;    /* ONSETs journaled early because CF_APP_HELD_MAX were held */
	uint32_t accel_rejected;   /* IMU samples the classifier refused (time not increasing) */
	uint32_t button_rejected;
	uint32_t ref_time_sets;    /* gateway times handed to the parser */
	uint32_t cmds;             /* CMDs executed by the application */
	uint32_t journal_errors;
	uint32_t wdt_kicks;
};

/* An ONSET waiting for its counterpart. */
struct cf_app_held {
	uint8_t used;
	uint8_t ended;             /* its END arrived: ev holds the final duration/confidence */
	uint32_t deadline_ms;
	struct cf_ind_event ev;
};

/* An IND journaled before an END it needs: the END of the event that completes it journals its completion,
 * the END of a press combined into it journals the verdict (HANDLER VERDICT). Free when neither waits. */
struct cf_app_open {
	uint8_t used;
	uint8_t wait_end;          /* the END of (source, seq, kind) is still to come */
	uint8_t wait_press;        /* the END of the handler's press press_seq is still to come */
	uint8_t source;            /* the event whose END completes it (cf_ind_event source/seq/kind) */
	uint8_t kind;
	uint16_t press_seq;        /* cf_ind_event seq of the press combined into it */
	uint32_t seq;
	struct proto_ind ind;      /* as journaled, without its verdict; dur/conf: the newest sent */
};

/* The latest fix with a position, kept to position indications. */
struct cf_app_lastfix {
	uint8_t valid;
	uint8_t journaled;
	uint32_t clock_ms;         /* now_ms when the parser completed it */
	uint32_t rec_seq;          /* when journaled */
	struct proto_fix fix;      /* encoded form (rec_seq filled when journaled) */
};

/* Caller-owned (static on an MCU: ~6 KiB). Every field is private to core/app.c. */
struct cf_app {
	struct cf_app_cfg cfg;
	struct cf_app_stats st;
	struct cf_nmea nmea;
	struct cf_classify cls;
	struct cf_button btn;
	struct cf_journal j;
	struct cf_link link;
	const struct hal_flash *flash;
	int broken;                /* a journal error happened: everything refuses until re-init */
	/* report rate */
	uint8_t mode;              /* PROTO_MODE_*, 0 unknown */
	uint32_t cmd_rate_ms;      /* SET_RATE, 0 none */
	uint8_t have_fix_j;
	uint32_t last_fix_j_ms;    /* clock of the last journaled FIX */
	uint8_t sog_still;         /* latest fix's SOG says still */
	uint8_t have_accel;
	/* indications */
	struct cf_app_held held[CF_APP_HELD_MAX];
	struct cf_app_open open[CF_APP_OPEN_MAX];
	uint8_t open_next;         /* round-robin victim when all are open */
	uint8_t have_ind;
	uint32_t last_ind_ms;      /* latest onset or end, for the rate tail */
	uint8_t btn_raw;
	uint8_t have_btn;
	/* time */
	struct cf_app_lastfix last;
	uint8_t have_utc;          /* a UTC anchor from a timed fix */
	int64_t utc_ms;            /* UTC at clock utc_clock_ms */
	uint32_t utc_clock_ms;
	uint8_t have_set_utc;      /* TIME_SET anchor */
	int64_t set_utc_ms;
	uint32_t set_utc_clock_ms;
	uint64_t last_ref_ms;      /* last gateway time handed to the parser */
	/* the receiver epoch now open: when its first sentence arrived */
	uint8_t ep_open;
	uint8_t ep_timed;
	uint32_t ep_tod_ms;
	uint32_t ep_clock_ms;
	uint8_t body[CF_JOURNAL_BODY_MAX];
};

/* Fill cfg with defaults: species DOG, adaptive rate, default hold; collar_id and key must still be set. */
void cf_app_cfg_default(struct cf_app_cfg *cfg);

/*
 * Mount the journal on flash (power-cut recovery, new boot_id), start the parser, classifier, button and
 * the link (DOWN: it sends HELLO first).
 * @retval -EINVAL bad cfg (collar_id 0, key NULL, species, link overrides)
 * @retval other negative codes from cf_journal_mount (-EIO: flash)
 */
int cf_app_init(struct cf_app *a, const struct cf_app_cfg *cfg, const struct hal_flash *flash, uint32_t now_ms)
	__attribute__((warn_unused_result));

/*
 * Receiver bytes. Each completed record is handled at now_ms (see FIXES). Returns the number of records
 * the parser completed (>= 0). @retval -EIO journal failure (restart the collar).
 */
int cf_app_gnss_feed(struct cf_app *a, uint32_t now_ms, const void *bytes, size_t len)
	__attribute__((warn_unused_result));

/* End of the receiver stream (or receiver off): closes the open epoch. Returns records or -EIO. */
int cf_app_gnss_flush(struct cf_app *a, uint32_t now_ms) __attribute__((warn_unused_result));

/* Log replay: the epoch now open began at clock_ms (the board learnt its time only from its first line,
 * fed at the previous epoch's clock). No effect without an open epoch. */
void cf_app_gnss_set_epoch_clock(struct cf_app *a, uint32_t clock_ms);

/* Time of day (UTC ms) of the receiver epoch now being reported, so a board replaying a log can derive its
 * clock from the stream. @retval 0 *tod_ms set   @retval -ENOENT no timed epoch open */
int cf_app_gnss_epoch_tod(const struct cf_app *a, uint32_t *tod_ms);

/* One IMU sample (its t_ms is the time). Returns 0, or -EIO. A sample out of order is counted, not an error. */
int cf_app_accel(struct cf_app *a, const struct cf_accel_sample *s) __attribute__((warn_unused_result));

/* Raw button level at t_ms (edge interrupt or poll). Returns 0, or -EIO. */
int cf_app_button(struct cf_app *a, uint32_t t_ms, bool pressed) __attribute__((warn_unused_result));

/* Once per main-loop turn: journal held indications that are due, let the button debounce settle, kick the
 * watchdog if healthy. Returns 0 or -EIO. */
int cf_app_tick(struct cf_app *a, uint32_t now_ms) __attribute__((warn_unused_result));

/* Radio bytes received. Returns frames accepted (>= 0) or -EIO. */
int cf_app_radio_rx(struct cf_app *a, uint32_t now_ms, const uint8_t *bytes, size_t len)
	__attribute__((warn_unused_result));

/* The next frame to transmit (see cf_link_poll). @retval 1 frame in out[0..*len)  @retval 0 none  @retval <0 */
int cf_app_radio_poll(struct cf_app *a, uint32_t now_ms, uint8_t *out, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* When to call tick/poll next without new input (a time <= now_ms means now). */
uint32_t cf_app_next_deadline(const struct cf_app *a, uint32_t now_ms);

/* Battery/temperature for HELLO/STATUS (has: PROTO_STATUS_HAS_BATT | _BATTPCT | _TEMP). */
void cf_app_set_health(struct cf_app *a, uint32_t has, uint16_t batt_mv, uint8_t batt_pct, int16_t temp_dc);

/* FIX report period in force now (ms). */
uint32_t cf_app_report_period_ms(const struct cf_app *a, uint32_t now_ms);

/* 1 while the radio link is up (an ACK arrived and it has not been declared lost since). */
int cf_app_link_is_up(const struct cf_app *a);

/* Frames in flight on the link (the host's --fast mode waits for their ACK before advancing its clock). */
unsigned cf_app_in_flight(const struct cf_app *a);

const struct cf_app_stats *cf_app_stats(const struct cf_app *a);
const struct cf_link_stats *cf_app_link_stats(const struct cf_app *a);
struct cf_journal *cf_app_journal(struct cf_app *a);
struct cf_nmea *cf_app_nmea(struct cf_app *a);

/* Convert one parser record to a FIX body struct (rec_seq 0; set it before encoding). now_ms becomes t_mono
 * when the record has no usable UTC. Optional fields outside the wire range are left out (*dropped counts
 * them, may be NULL). @retval 0 ok  @retval -EINVAL the record has no position. */
int cf_app_fix_from_nmea(const struct cf_fix *in, uint32_t now_ms, struct proto_fix *out, uint32_t *dropped);

#endif
