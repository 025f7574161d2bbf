/*
 * tests/collar-fw/motion/model.h — labelled synthetic collar accelerometer streams (rats and dogs).
 *
 * The generative model is documented at the top of model.c. It is deterministic: the same seed gives
 * the same animals, behaviour sequence, samples and labels on every machine (own PRNG, no libc rand()).
 * Test/tool code: it may use floating point and libm; it never runs on the collar.
 */
#ifndef MOTION_MODEL_H
#define MOTION_MODEL_H

#include <stdint.h>

#include "cf/motion.h"

enum mm_species { MM_RAT = 1, MM_DOG = 2 }; /* same values as enum cf_species */

/* Ground-truth behaviour classes, one per labelled time segment. */
enum mm_class {
	MM_WALK = 0,
	MM_TROT,
	MM_STAND,      /* dogs: standing still, head carriage varies; rats: rearing on the hind legs */
	MM_SNIFF,      /* sniff-pause: still, head/forequarters lowered, no posture rise */
	MM_SIT,        /* dog indication: sitting posture held (transitions excluded) */
	MM_SCRATCH,    /* rat indication: first stroke to last stroke of a bout */
	MM_SHAKE,      /* wet-animal body shake */
	MM_TRANSITION, /* sitting down / standing up / crouching: not scored */
	MM_CLASS_COUNT
};

const char *mm_class_name(int cls);

struct mm_rng {
	uint64_t s[4];
};
void mm_rng_seed(struct mm_rng *r, uint64_t seed);
uint64_t mm_rng_next(struct mm_rng *r);
double mm_rng_uniform(struct mm_rng *r, double lo, double hi);
double mm_rng_normal(struct mm_rng *r, double mean, double sd);

/* One animal wearing one collar: drawn once, fixed for a session. */
struct mm_animal {
	int species;
	double roll_off_rad;  /* collar slid round the neck / harness twisted */
	double mount_pitch_rad; /* sensor x not exactly along the neck */
	double walk_elev_deg; /* neck (dog) or spine (rat) elevation while searching */
	double walk_stride_hz, walk_amp_mg;
	double trot_stride_hz, trot_amp_mg;
	double lat_ratio;     /* lateral sway at stride frequency / vertical bounce */
	double fwd_ratio;     /* fore-aft / vertical */
	double h2_ratio;      /* second harmonic of the vertical bounce */
	double noise_mg;      /* sensor white noise, per axis */
	double bias_mg[3];
	double gain[3];
	double clock_ppm;     /* sample clock error */
	double pant_hz, pant_mg; /* dogs: panting; rats: sniffing micro-motion */
	double scratch_hz, scratch_amp_mg; /* rats */
	double shake_hz, shake_rad, shake_radius_m;
	double bump_per_s;
};

void mm_animal_draw(struct mm_animal *a, int species, struct mm_rng *r);

struct mm_segment {
	uint32_t t0_ms, t1_ms; /* [t0, t1): times of the first sample in and the first sample after */
	int cls;               /* enum mm_class */
};

typedef void (*mm_sample_fn)(void *ctx, const struct cf_accel_sample *s);
typedef void (*mm_segment_fn)(void *ctx, const struct mm_segment *seg);

struct mm_session {
	int species;
	uint32_t t0_ms;           /* timestamp of the first sample (may be near the uint32 wrap) */
	uint32_t dur_ms;          /* approximate length; the last segment is completed */
	double ind_mean_gap_s;    /* mean search time between indications; 0 = search only */
	uint64_t seed;
};

/*
 * Draw an animal from the seed, then render a session: every sample goes to on_sample and every
 * labelled segment to on_segment (in time order, after its last sample). Returns the number of samples.
 */
uint64_t mm_session_run(const struct mm_session *spec, struct mm_animal *animal_out, mm_sample_fn on_sample,
			mm_segment_fn on_segment, void *ctx);

/* Render one scripted segment sequence (for unit tests): classes and durations in ms, n entries.
 * Transitions into SIT/SCRATCH and out of SIT are inserted automatically (labelled MM_TRANSITION). */
uint64_t mm_script_run(const struct mm_animal *a, uint64_t seed, uint32_t t0_ms, const int *cls,
		       const uint32_t *dur_ms, int n, mm_sample_fn on_sample, mm_segment_fn on_segment,
		       void *ctx);

#endif
