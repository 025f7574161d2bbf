/*
 * cf/classify.h — on-collar indication classifier: dog SIT and rat SCRATCH from a 3-axis accelerometer.
 *
 * The firmware feeds every accelerometer sample (50 Hz, milli-g, with its hal_clock t_ms) to
 * cf_classify_push(). The classifier never reads a clock: all times come from the samples, so the same
 * stream always gives the same events (tests replay synthetic streams; see tests/collar-fw/motion/).
 *
 * How it works (details and the reasons in core/classify.c):
 *   Every 12 samples (240 ms) it analyses the last 50 samples (1 s): the mean vector (gravity, hence
 *   posture) and a Hann-windowed DFT of each axis at 1..24 Hz, summed over the three axes so that the
 *   spectrum does not depend on how the collar has rotated round the neck.
 *   - activity  = rms of the 1..24 Hz content. It drives the motion state (MOVING / STATIONARY).
 *   - posture   = elevation of the x axis (along the neck) above the horizon, from the mean vector.
 *                 The searching posture is learned as a running mean while the animal moves.
 *   - dog SIT   = still, with the neck raised >= sit_tilt_ddeg above the searching posture, held for
 *                 sit_hold_ms. A sniff-pause is still too, but the head goes down, not up.
 *   - rat SCRATCH = rhythmic energy in the stroke band (4..9 Hz) that dominates the bands below (gait)
 *                 and above it (a wet-animal shake is ~15-20 Hz in rats), with little lateral motion
 *                 (a walking body sways sideways once per stride; a digging rat barely rocks; the
 *                 lateral axis is found from gravity, so harness twist does not matter), sustained
 *                 >= scratch_min_ms with >= scratch_min_cycles strokes; pauses up to scratch_gap_ms
 *                 between bursts keep one bout.
 *
 * Events (struct cf_ind_event), chosen so that the collar can send an IND at once:
 *   CF_IND_PHASE_ONSET  when the indication is confirmed (sit held for sit_hold_ms; scratch lasted
 *                       scratch_min_ms, estimated). onset_t_ms is the estimated start of the behaviour (not the
 *                       confirmation time), dur_ms the duration so far, detect_t_ms the confirmation.
 *   CF_IND_PHASE_END    when the behaviour stops (dog stands up / moves; scratching pauses longer than
 *                       scratch_gap_ms), with the final dur_ms and confidence. Same seq as its ONSET.
 * Every ONSET is followed by exactly one END (at the latest from cf_classify_flush()).
 *
 * Confidence (0..100) is a documented heuristic margin score, not a calibrated probability:
 *   SIT:     40 for meeting every criterion, + up to 30 for the posture margin (full at twice
 *            sit_tilt_ddeg), + up to 30 for stillness (full when the mean activity over the sit is
 *            at most half of still_mg).
 *   SCRATCH: 40 for meeting every criterion, + up to 30 for the share of the stroke band in the total
 *            activity (0 at 50 %, full at 90 %), + up to 30 for the bout length (full at twice
 *            scratch_min_ms).
 * Defaults (cf_classify_config_default) and why they are what they are: core/classify.c.
 *   The ONSET event carries the score so far; END carries the score over the whole episode.
 */
#ifndef CF_CLASSIFY_H
#define CF_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "cf/motion.h"

/* The analysis is built for this input rate (accelerometers offer 50 Hz ODR directly). */
#define CF_CLASSIFY_RATE_HZ 50u
#define CF_CLASSIFY_WIN 50u        /* samples per analysis window: 1 s, so DFT bin k is k Hz */
#define CF_CLASSIFY_HOP 12u        /* samples between analyses: 240 ms */
#define CF_CLASSIFY_BINS 24u       /* analysed bins 1..24 Hz (25 Hz is Nyquist) */
#define CF_CLASSIFY_GAP_MS 200u    /* a hole in the stream longer than this restarts the window */
#define CF_CLASSIFY_MAX_EVENTS 2u  /* cf_classify_push() writes at most this many events */

enum cf_species {
	CF_SPECIES_RAT = 1,
	CF_SPECIES_DOG = 2,
};

enum cf_ind_kind {
	CF_IND_SIT = 1,
	CF_IND_SCRATCH = 2,
	CF_IND_HANDLER_MARK = 3, /* the handler pressed the collar/handset button (cf/button.h) */
};

enum cf_ind_phase {
	CF_IND_PHASE_ONSET = 1, /* confirmed; dur_ms so far */
	CF_IND_PHASE_END = 2,   /* finished; final dur_ms */
};

enum cf_ind_source {
	CF_IND_SRC_COLLAR = 1,  /* the classifier alone */
	CF_IND_SRC_HANDLER = 2, /* the handler button alone */
	CF_IND_SRC_BOTH = 3,    /* classifier and handler agree (cf_classify_combine) */
};

enum cf_motion_state {
	CF_MOTION_UNKNOWN = 0,    /* less than one analysis window seen since init or a gap */
	CF_MOTION_MOVING = 1,     /* searching / moving: report fast */
	CF_MOTION_STATIONARY = 2, /* still, no indication: report slower */
	CF_MOTION_INDICATING = 3, /* a confirmed indication is in progress */
};

struct cf_ind_event {
	uint32_t onset_t_ms;  /* estimated t_ms at which the behaviour started */
	uint32_t dur_ms;      /* ONSET: duration so far; END: final duration */
	uint32_t detect_t_ms; /* t_ms of the sample that produced the event (latency = detect - onset) */
	uint16_t seq;         /* episode number per classifier/button; ONSET and END share it */
	uint8_t kind;         /* enum cf_ind_kind */
	uint8_t phase;        /* enum cf_ind_phase */
	uint8_t source;       /* enum cf_ind_source */
	uint8_t conf;         /* 0..100, see the top of this file */
};

struct cf_classify_config {
	uint8_t species;            /* enum cf_species: dogs report SIT, rats SCRATCH */
	uint16_t still_mg;          /* activity <= this is still */
	uint16_t move_mg;           /* activity > this is moving (in between: previous state kept) */
	/* dog sit */
	uint32_t sit_hold_ms;       /* still + raised posture held this long before SIT is reported */
	uint16_t sit_tilt_ddeg;     /* neck rise over the searching posture, 0.1 degree */
	uint16_t sit_grace_ms;      /* motion shorter than this (a bump, a head turn) does not end a sit */
	/* rat scratch */
	uint32_t scratch_min_ms;    /* shortest bout reported */
	uint16_t scratch_min_cycles;/* fewest strokes in a reported bout */
	uint16_t scratch_min_mg;    /* least rms in the stroke band */
	uint16_t scratch_gap_ms;    /* longest pause between bursts of one bout */
	uint8_t scratch_lo_hz;      /* stroke band, whole Hz, 2 <= lo <= hi <= 23 */
	uint8_t scratch_hi_hz;
	uint16_t scratch_low_pct;   /* stroke band power >= this % of the power below the band (gait) */
	uint16_t scratch_high_pct;  /* stroke band power >= this % of the power above the band (shake) */
	uint16_t scratch_lat_pct;   /* lateral (sideways) power <= this % of the activity (gait sway) */
};

/* Counters for the status report: bad input is counted, never fatal. */
struct cf_classify_stats {
	uint32_t samples;      /* accepted samples */
	uint32_t frames;       /* analyses run */
	uint32_t rejected;     /* samples refused: timestamp not after the previous one */
	uint32_t gaps;         /* holes > CF_CLASSIFY_GAP_MS that restarted the window */
	uint32_t bad_posture;  /* frames whose mean vector was too far from 1 g to give a posture */
};

/* Caller-allocated state (about 1 KiB). Fields below stats are private to core/classify.c. */
struct cf_classify {
	struct cf_classify_config cfg;
	struct cf_classify_stats stats;

	int16_t win[CF_CLASSIFY_WIN][3]; /* ring of the last samples */
	uint32_t win_t[CF_CLASSIFY_WIN];
	uint8_t head;                    /* next slot to write */
	uint8_t fill;                    /* valid samples in the ring */
	uint8_t since_frame;             /* samples since the last analysis */
	uint8_t have_last;
	uint32_t last_t_ms;

	uint8_t state;                   /* enum cf_motion_state */
	uint8_t ref_frames;              /* moving frames averaged into the reference posture (saturates) */
	int32_t ref_elev_x16;            /* searching posture: x elevation in 0.1 degree, times 16 */

	uint8_t ind;                     /* tracker: 0 idle, 1 candidate, 2 active */
	uint16_t seq;
	uint32_t ind_onset_t_ms;
	uint32_t ind_last_ok_t_ms;
	uint32_t ind_prev_frame_t_ms;
	uint32_t ind_cycles_milli;       /* strokes counted so far, times 1000 */
	uint32_t ind_frames;             /* frames that met the criteria */
	uint64_t ind_sum_a;              /* SIT: sum of activity; SCRATCH: sum of band share in % */
	int64_t ind_sum_b;               /* SIT: sum of tilt margin */
};

/* Defaults for a species (documented in core/classify.c). species other than RAT/DOG gives DOG's. */
void cf_classify_config_default(struct cf_classify_config *cfg, enum cf_species species);

/*
 * @retval 0 ok
 * @retval -EINVAL unknown species or an impossible threshold (band outside 2..23 Hz, lo > hi,
 *                 still_mg > move_mg, zero hold/min time)
 */
int cf_classify_init(struct cf_classify *c, const struct cf_classify_config *cfg)
	__attribute__((warn_unused_result));

/*
 * Feed one sample. out must hold CF_CLASSIFY_MAX_EVENTS events.
 * @return number of events written (0..CF_CLASSIFY_MAX_EVENTS)
 * @retval -ERANGE the sample is not later than the previous one (dropped and counted in stats.rejected)
 * A hole longer than CF_CLASSIFY_GAP_MS ends any indication in progress (END at its last good time)
 * and restarts the window; this is counted, not an error.
 */
int cf_classify_push(struct cf_classify *c, const struct cf_accel_sample *s, struct cf_ind_event *out)
	__attribute__((warn_unused_result));

/* End the stream (power down, session end): an indication in progress gets its END. @return 0 or 1. */
int cf_classify_flush(struct cf_classify *c, struct cf_ind_event *out);

/* Motion state after the last analysis, for the adaptive report rate. */
enum cf_motion_state cf_classify_state(const struct cf_classify *c);

/*
 * Fuse a classifier event with a handler mark (cf/button.h). They agree if their intervals
 * [onset, onset + dur] overlap once each is widened by window_ms on both sides. Then *out is the
 * classifier event (its kind, onset, duration, phase, seq and confidence: the sensor's view of the
 * behaviour) with source CF_IND_SRC_BOTH, and 1 is returned; otherwise *out is untouched and 0 is
 * returned. Pure function: the event module keeps the recent events and calls it both ways round
 * (a handler may press before or after the classifier confirms).
 * @retval -EINVAL collar is not a SIT/SCRATCH event or mark is not a HANDLER_MARK
 */
int cf_classify_combine(const struct cf_ind_event *collar, const struct cf_ind_event *mark,
			uint32_t window_ms, struct cf_ind_event *out);

#endif
