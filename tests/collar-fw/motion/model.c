/*
 * tests/collar-fw/motion/model.c — generative model of collar accelerometer data for searching rats
 * and dogs, with ground-truth labels.
 *
 * It was written from the physics of a collar and published facts about the animals, BEFORE and
 * independently of the classifier's thresholds; ranges are deliberately wide and overlapping (a standing
 * dog may raise its head as much as a shallow sit; a walking rat's step bounce is in the same 4-8 Hz
 * band as its scratch strokes). Where no source exists the value is an assumption and says so.
 *
 * GEOMETRY. Collar frame as in cf/motion.h: x along the neck (dog) or spine (rat harness) towards the
 * head. The body carries x at an elevation e above the horizon. In the un-rolled neck frame
 *   up = (sin e, 0, cos e), forward = (cos e, 0, -sin e), left = (0, 1, 0),
 * specific force f = 1000 mg * up + a_up * up + a_fwd * forward + a_lat * left. The collar band is then
 * rolled about x by a per-animal slip angle (dogs +-45 deg, rat harness +-20 deg), the sensor is
 * misaligned by a per-animal pitch (+-10 deg), and the sensor adds per-axis gain error (+-3 %), bias
 * (+-40 mg), white noise (3-12 mg rms), 1 mg quantisation and a +-16 g range. Samples come at 50 Hz
 * from a clock off by +-300 ppm, timestamps in whole ms.
 *
 * BEHAVIOURS (per animal means drawn once, then per episode variation; OU = Ornstein-Uhlenbeck noise):
 *   walk / trot  vertical bounce at twice the stride frequency (one bounce per footfall pair) with a
 *                second harmonic, fore-aft surge at the same frequency, lateral sway at the stride
 *                frequency (the body shifts over the supporting side once per stride). Stride frequency
 *                and amplitude wander (OU, +-4 % and +-12 %). Dogs: walk stride 0.9-1.5 Hz, 80-250 mg;
 *                trot 1.5-2.5 Hz, 250-700 mg. Rats: walk 1.3-2.8 Hz, 60-250 mg; dash/trot 2.5-3.8 Hz,
 *                150-400 mg. Neck/spine elevation while searching: dogs 0..30 deg (nose towards the
 *                ground), rats -10..+10 deg, wandering (OU, sd 5 deg) as the head follows scent.
 *   stand        still. Dogs: head carriage N(+8, 10) deg relative to the searching posture, clipped to
 *                -15..+45 (an alert dog lifts its head). Rats: rearing on the hind legs, N(+40, 15)
 *                clipped to 10..80 deg.
 *   sniff-pause  still with the head/forequarters lowered: N(-15, 8) clipped to -40..+10 deg.
 *   sit (dog)    sitting down takes 0.4-1.2 s (posture ramp plus a drop of 150-500 mg), then the neck is
 *                N(+45, 10) deg (clipped 20..75) above the searching posture for 2.5-30 s (log-uniform;
 *                the dog holds until rewarded), then standing up takes 0.3-0.8 s.
 *   scratch (rat) crouch in 0.2-0.5 s to N(-12, 7) deg (clipped -35..+3), then 1-4 bursts of strokes,
 *                bout length 1-8 s (log-uniform), pauses 0.1-0.5 s between bursts. Stroke rate: animal
 *                mean 4.5-7.5 Hz, per bout +-0.4 Hz (sd), per stroke +-8 %; amplitude 100-500 mg per bout,
 *                +-25 % per stroke; each stroke is one cycle of vertical + fore-aft acceleration with a
 *                second harmonic, and a small alternating-paw lateral rock (5-30 % of the amplitude).
 *                (No published accelerometer data on rat scratch indications exists - domain.md 5.2 -
 *                so these are assumptions built on the brief's "4-8 Hz bursts lasting >= ~1 s".)
 *   shake        wet-animal shake (Dickerson et al. 2012: dogs ~4-5 Hz, rats ~15-20 Hz): roll about the
 *                body axis, amplitude 40-80 deg (dogs) / 30-60 deg (rats), Hann envelope, 0.6-1.8 s
 *                (dogs) / 0.25-0.8 s (rats); the collar at 5-8 cm (2-3 cm) from the axis sees the
 *                tangential and centripetal accelerations (several g) and gravity rotating.
 *   micro-motion while still: dogs pant (2.5-5 Hz, 5-35 mg, in 60 % of still periods); rats sniff
 *                (5-10 Hz, 3-15 mg, 80 %); posture wanders (OU, sd 2-3 deg).
 *   bumps        the collar hits vegetation or the rope: Poisson, one per 30-120 s (per animal), a
 *                300-2500 mg impulse in a random direction ringing at 15-25 Hz for a few tens of ms.
 *
 * SEQUENCE. Search is a Markov chain over walk, trot, sniff-pause, stand and (rarely) shake, with
 * log-normal durations. If indications are requested, one is inserted after an exponentially
 * distributed search time (mean ind_mean_gap_s): a sniff-pause approach (0.5-4 s), the indication
 * with its transitions, a reward pause (stand or sniff, 1-4 s), then searching resumes.
 *
 * LABELS. Every rendered segment is reported with its class. SIT spans the held posture, SCRATCH the
 * first stroke to the last; transitions have their own class and are not scored.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define DEG (M_PI / 180.0)
#define G_MG_PER_MS2 (1000.0 / 9.80665)
#define DT 0.02

const char *mm_class_name(int cls)
{
	static const char *const names[MM_CLASS_COUNT] = {
		"walk", "trot", "stand", "sniff", "sit", "scratch", "shake", "transition",
	};
	return cls >= 0 && cls < MM_CLASS_COUNT ? names[cls] : "?";
}

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void mm_rng_seed(struct mm_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t mm_rng_next(struct mm_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double mm_rng_uniform(struct mm_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * ((double)(mm_rng_next(r) >> 11) * 0x1.0p-53);
}

double mm_rng_normal(struct mm_rng *r, double mean, double sd)
{
	/* Box-Muller, one value per call: simple and deterministic. */
	double u1 = mm_rng_uniform(r, 0x1.0p-53, 1.0);
	double u2 = mm_rng_uniform(r, 0.0, 1.0);
	return mean + sd * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static double tnormal(struct mm_rng *r, double mean, double sd, double lo, double hi)
{
	return clampd(mm_rng_normal(r, mean, sd), lo, hi);
}

static double loguniform(struct mm_rng *r, double lo, double hi)
{
	return exp(mm_rng_uniform(r, log(lo), log(hi)));
}

static double lognormal_clamped(struct mm_rng *r, double median, double lo, double hi)
{
	return clampd(median * exp(mm_rng_normal(r, 0.0, 0.6)), lo, hi);
}

void mm_animal_draw(struct mm_animal *a, int species, struct mm_rng *r)
{
	*a = (struct mm_animal){.species = species};
	int dog = species == MM_DOG;
	a->roll_off_rad = mm_rng_uniform(r, -1.0, 1.0) * (dog ? 45.0 : 20.0) * DEG;
	a->mount_pitch_rad = mm_rng_uniform(r, -10.0, 10.0) * DEG;
	a->walk_elev_deg = dog ? mm_rng_uniform(r, 0.0, 30.0) : mm_rng_uniform(r, -10.0, 10.0);
	if (dog) {
		a->walk_stride_hz = mm_rng_uniform(r, 0.9, 1.5);
		a->walk_amp_mg = mm_rng_uniform(r, 80.0, 250.0);
		a->trot_stride_hz = mm_rng_uniform(r, 1.5, 2.5);
		a->trot_amp_mg = mm_rng_uniform(r, 250.0, 700.0);
	} else {
		a->walk_stride_hz = mm_rng_uniform(r, 1.3, 2.8);
		a->walk_amp_mg = mm_rng_uniform(r, 60.0, 250.0);
		a->trot_stride_hz = mm_rng_uniform(r, 2.5, 3.8);
		a->trot_amp_mg = mm_rng_uniform(r, 150.0, 400.0);
	}
	a->lat_ratio = mm_rng_uniform(r, 0.3, 0.8);
	a->fwd_ratio = mm_rng_uniform(r, 0.3, 0.7);
	a->h2_ratio = mm_rng_uniform(r, 0.1, 0.4);
	a->noise_mg = mm_rng_uniform(r, 3.0, 12.0);
	for (int i = 0; i < 3; i++) {
		a->bias_mg[i] = mm_rng_uniform(r, -40.0, 40.0);
		a->gain[i] = 1.0 + mm_rng_uniform(r, -0.03, 0.03);
	}
	a->clock_ppm = mm_rng_uniform(r, -300.0, 300.0);
	if (dog) {
		a->pant_hz = mm_rng_uniform(r, 2.5, 5.0);
		a->pant_mg = mm_rng_uniform(r, 5.0, 35.0);
		a->shake_hz = mm_rng_uniform(r, 4.0, 6.0);
		a->shake_rad = mm_rng_uniform(r, 40.0, 80.0) * DEG;
		a->shake_radius_m = mm_rng_uniform(r, 0.05, 0.08);
	} else {
		a->pant_hz = mm_rng_uniform(r, 5.0, 10.0);
		a->pant_mg = mm_rng_uniform(r, 3.0, 15.0);
		a->scratch_hz = mm_rng_uniform(r, 4.5, 7.5);
		a->scratch_amp_mg = loguniform(r, 100.0, 500.0); /* per-animal centre; bouts vary round it */
		a->shake_hz = mm_rng_uniform(r, 15.0, 20.0);
		a->shake_rad = mm_rng_uniform(r, 30.0, 60.0) * DEG;
		a->shake_radius_m = mm_rng_uniform(r, 0.02, 0.03);
	}
	a->bump_per_s = 1.0 / mm_rng_uniform(r, 30.0, 120.0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Renderer                                                                                        */

#define MAX_STROKES 128

struct ou {
	double x, sd, tau_s;
};

static double ou_step(struct ou *o, struct mm_rng *r)
{
	double k = DT / o->tau_s;
	o->x += -k * o->x + o->sd * sqrt(2.0 * k) * mm_rng_normal(r, 0.0, 1.0);
	return o->x;
}

struct render {
	const struct mm_animal *a;
	struct mm_rng rng;
	uint64_t n;      /* samples emitted */
	uint32_t t0_ms;
	double elev_deg; /* current body posture */
	double stride_phase;
	struct ou ou_elev, ou_amp, ou_freq;
	/* bump ring-down */
	int bump_left;
	double bump_v[3], bump_hz, bump_tau_s, bump_age_s;
	mm_sample_fn on_sample;
	mm_segment_fn on_segment;
	void *ctx;
};

/* What a segment does; per-sample synthesis reads it. */
struct seg {
	int cls;
	double dur_s;
	double elev_from, elev_to, ramp_s; /* posture ramp at the start (smoothstep) */
	double elev_wander_sd;
	double stride_hz, amp_mg;          /* gait; amp 0 = none */
	double micro_hz, micro_mg;         /* panting / sniffing */
	double pulse_mg;                   /* sit-down / stand-up: body drop */
	/* scratch */
	int n_strokes;
	double stroke_t[MAX_STROKES], stroke_T[MAX_STROKES], stroke_A[MAX_STROKES];
	int stroke_side[MAX_STROKES];
	double stroke_lat, stroke_h2, stroke_h2_ph;
	/* shake */
	double shake_hz, shake_rad, shake_r_m;
};

static uint32_t sample_t(const struct render *r, uint64_t n)
{
	double t = (double)n * 20.0 * (1.0 + r->a->clock_ppm * 1e-6);
	return r->t0_ms + (uint32_t)llround(t);
}

static double smoothstep(double x)
{
	x = clampd(x, 0.0, 1.0);
	return x * x * (3.0 - 2.0 * x);
}

static void emit(struct render *r, const struct seg *s, double ts)
{
	const struct mm_animal *a = r->a;
	double a_up = 0, a_fwd = 0, a_lat = 0, roll = 0, omega = 0, alpha = 0;

	/* posture */
	double e = s->elev_to;
	if (s->ramp_s > 0 && ts < s->ramp_s)
		e = s->elev_from + (s->elev_to - s->elev_from) * smoothstep(ts / s->ramp_s);
	r->ou_elev.sd = s->elev_wander_sd;
	e += ou_step(&r->ou_elev, &r->rng);
	e = clampd(e, -60.0, 85.0);
	r->elev_deg = e - r->ou_elev.x; /* the wander is a deviation, not a new posture */

	/* gait */
	if (s->amp_mg > 0) {
		double f = s->stride_hz * (1.0 + ou_step(&r->ou_freq, &r->rng));
		double amp = s->amp_mg * (1.0 + ou_step(&r->ou_amp, &r->rng));
		r->stride_phase += 2.0 * M_PI * f * DT;
		double p = r->stride_phase;
		a_up = amp * (sin(2.0 * p) + a->h2_ratio * sin(4.0 * p + 0.7));
		a_fwd = amp * a->fwd_ratio * sin(2.0 * p + 1.3);
		a_lat = amp * a->lat_ratio * sin(p + 0.4);
	} else {
		ou_step(&r->ou_freq, &r->rng);
		ou_step(&r->ou_amp, &r->rng);
	}
	/* micro-motion */
	if (s->micro_mg > 0) {
		a_up += s->micro_mg * sin(2.0 * M_PI * s->micro_hz * ts);
		a_fwd += 0.5 * s->micro_mg * sin(2.0 * M_PI * s->micro_hz * ts + 1.1);
	}
	/* sit-down / stand-up: the body drops (or rises) once over the transition */
	if (s->pulse_mg != 0) {
		double x = ts / s->dur_s;
		a_up += -s->pulse_mg * sin(2.0 * M_PI * x);
		a_fwd += -0.5 * fabs(s->pulse_mg) * sin(M_PI * x);
	}
	/* scratch strokes */
	for (int k = 0; k < s->n_strokes; k++) {
		double tau = (ts - s->stroke_t[k]) / s->stroke_T[k];
		if (tau < 0.0 || tau >= 1.0)
			continue;
		double A = s->stroke_A[k];
		a_up += A * (sin(2.0 * M_PI * tau) + s->stroke_h2 * sin(4.0 * M_PI * tau + s->stroke_h2_ph));
		a_fwd += 0.6 * A * sin(2.0 * M_PI * tau + 0.8);
		a_lat += s->stroke_side[k] * A * s->stroke_lat * sin(M_PI * tau);
	}
	/* shake: roll about the body axis with a Hann envelope */
	if (s->shake_rad > 0) {
		double w = 2.0 * M_PI * s->shake_hz;
		double env = 0.5 - 0.5 * cos(2.0 * M_PI * ts / s->dur_s);
		double denv = M_PI / s->dur_s * sin(2.0 * M_PI * ts / s->dur_s);
		roll = s->shake_rad * env * sin(w * ts);
		omega = s->shake_rad * (denv * sin(w * ts) + env * w * cos(w * ts));
		alpha = -s->shake_rad * env * w * w * sin(w * ts); /* dominant term */
	}

	double er = e * DEG;
	double f[3] = {
		(1000.0 + a_up) * sin(er) + a_fwd * cos(er),
		a_lat,
		(1000.0 + a_up) * cos(er) - a_fwd * sin(er),
	};
	double rho = a->roll_off_rad + roll;
	double y = f[1] * cos(rho) + f[2] * sin(rho);
	double z = -f[1] * sin(rho) + f[2] * cos(rho);
	f[1] = y + alpha * s->shake_r_m * G_MG_PER_MS2;
	f[2] = z - omega * omega * s->shake_r_m * G_MG_PER_MS2;
	/* sensor misalignment: a pitch about y */
	double m = a->mount_pitch_rad;
	double x = f[0] * cos(m) - f[2] * sin(m);
	z = f[0] * sin(m) + f[2] * cos(m);
	f[0] = x;
	f[2] = z;

	/* bumps */
	if (r->bump_left == 0 && mm_rng_uniform(&r->rng, 0.0, 1.0) < a->bump_per_s * DT) {
		double mag = mm_rng_uniform(&r->rng, 300.0, 2500.0);
		double v[3], n2 = 0;
		for (int i = 0; i < 3; i++) {
			v[i] = mm_rng_normal(&r->rng, 0.0, 1.0);
			n2 += v[i] * v[i];
		}
		for (int i = 0; i < 3; i++)
			r->bump_v[i] = mag * v[i] / sqrt(n2 > 0 ? n2 : 1.0);
		r->bump_hz = mm_rng_uniform(&r->rng, 15.0, 25.0);
		r->bump_tau_s = mm_rng_uniform(&r->rng, 0.015, 0.04);
		r->bump_age_s = 0;
		r->bump_left = 6;
	}
	if (r->bump_left > 0) {
		double k = exp(-r->bump_age_s / r->bump_tau_s) * cos(2.0 * M_PI * r->bump_hz * r->bump_age_s);
		for (int i = 0; i < 3; i++)
			f[i] += r->bump_v[i] * k;
		r->bump_age_s += DT;
		r->bump_left--;
	}

	struct cf_accel_sample out = {.t_ms = sample_t(r, r->n)};
	int16_t *axis[3] = {&out.x_mg, &out.y_mg, &out.z_mg};
	for (int i = 0; i < 3; i++) {
		double v = f[i] * a->gain[i] + a->bias_mg[i] + mm_rng_normal(&r->rng, 0.0, a->noise_mg);
		*axis[i] = (int16_t)lround(clampd(v, -16000.0, 16000.0));
	}
	r->on_sample(r->ctx, &out);
	r->n++;
}

static void render_seg(struct render *r, const struct seg *s)
{
	uint64_t first = r->n;
	uint64_t count = (uint64_t)llround(s->dur_s / DT);
	if (count == 0)
		count = 1;
	for (uint64_t i = 0; i < count; i++)
		emit(r, s, (double)i * DT);
	if (r->on_segment) {
		struct mm_segment label = {sample_t(r, first), sample_t(r, r->n), s->cls};
		r->on_segment(r->ctx, &label);
	}
}

static void seg_base(struct render *r, struct seg *s, int cls, double dur_s, double elev_to, double ramp_s)
{
	*s = (struct seg){.cls = cls, .dur_s = dur_s, .elev_from = r->elev_deg, .elev_to = elev_to,
			  .ramp_s = ramp_s};
}

/* Still segment: panting / sniffing in a fraction of cases. */
static void seg_still(struct render *r, struct seg *s, int cls, double dur_s, double elev_to, double wander)
{
	const struct mm_animal *a = r->a;
	seg_base(r, s, cls, dur_s, elev_to, mm_rng_uniform(&r->rng, 0.3, 0.7));
	s->elev_wander_sd = wander;
	double p = a->species == MM_DOG ? 0.6 : 0.8;
	if (mm_rng_uniform(&r->rng, 0.0, 1.0) < p) {
		s->micro_hz = a->pant_hz * mm_rng_uniform(&r->rng, 0.9, 1.1);
		s->micro_mg = a->pant_mg * mm_rng_uniform(&r->rng, 0.6, 1.2);
	}
}

static void do_segment(struct render *r, int cls, double dur_s)
{
	const struct mm_animal *a = r->a;
	struct mm_rng *g = &r->rng;
	int dog = a->species == MM_DOG;
	static struct seg s; /* large (stroke tables); the generator is single-threaded test code */

	switch (cls) {
	case MM_WALK:
	case MM_TROT:
		seg_base(r, &s, cls, dur_s, a->walk_elev_deg, mm_rng_uniform(g, 0.3, 0.8));
		s.elev_wander_sd = 5.0;
		s.stride_hz = (cls == MM_WALK ? a->walk_stride_hz : a->trot_stride_hz) * mm_rng_uniform(g, 0.92, 1.08);
		s.amp_mg = (cls == MM_WALK ? a->walk_amp_mg : a->trot_amp_mg) * mm_rng_uniform(g, 0.8, 1.2);
		render_seg(r, &s);
		break;
	case MM_STAND: {
		double d = dog ? tnormal(g, 8.0, 10.0, -15.0, 45.0) : tnormal(g, 40.0, 15.0, 10.0, 80.0);
		seg_still(r, &s, cls, dur_s, a->walk_elev_deg + d, 3.0);
		render_seg(r, &s);
		break;
	}
	case MM_SNIFF:
		seg_still(r, &s, cls, dur_s, a->walk_elev_deg + tnormal(g, -15.0, 8.0, -40.0, 10.0), 3.0);
		render_seg(r, &s);
		break;
	case MM_SHAKE:
		seg_base(r, &s, cls, dur_s, r->elev_deg, 0);
		s.shake_hz = a->shake_hz * mm_rng_uniform(g, 0.95, 1.05);
		s.shake_rad = a->shake_rad * mm_rng_uniform(g, 0.8, 1.2);
		s.shake_r_m = a->shake_radius_m;
		render_seg(r, &s);
		break;
	case MM_SIT: {
		double target = a->walk_elev_deg + tnormal(g, 45.0, 10.0, 20.0, 75.0);
		double down_s = mm_rng_uniform(g, 0.4, 1.2);
		seg_base(r, &s, MM_TRANSITION, down_s, target, down_s);
		s.pulse_mg = mm_rng_uniform(g, 150.0, 500.0);
		render_seg(r, &s);
		seg_still(r, &s, MM_SIT, dur_s, target, 2.0);
		s.ramp_s = 0;
		render_seg(r, &s);
		double up_s = mm_rng_uniform(g, 0.3, 0.8);
		seg_base(r, &s, MM_TRANSITION, up_s, a->walk_elev_deg, up_s);
		s.pulse_mg = -mm_rng_uniform(g, 150.0, 500.0);
		render_seg(r, &s);
		break;
	}
	case MM_SCRATCH: {
		double target = a->walk_elev_deg + tnormal(g, -12.0, 7.0, -35.0, 3.0);
		double crouch_s = mm_rng_uniform(g, 0.2, 0.5);
		seg_base(r, &s, MM_TRANSITION, crouch_s, target, crouch_s);
		render_seg(r, &s);

		seg_base(r, &s, MM_SCRATCH, dur_s, target, 0);
		s.elev_wander_sd = 2.0;
		s.stroke_lat = mm_rng_uniform(g, 0.05, 0.3);
		s.stroke_h2 = mm_rng_uniform(g, 0.1, 0.5);
		s.stroke_h2_ph = mm_rng_uniform(g, 0.0, 2.0 * M_PI);
		double f = clampd(mm_rng_normal(g, a->scratch_hz, 0.4), 3.0, 10.0);
		double amp = a->scratch_amp_mg * loguniform(g, 0.7, 1.4);
		int bursts = 1 + (int)(mm_rng_next(g) % 4u);
		double gap_total = 0, gaps[4] = {0};
		for (int b = 1; b < bursts; b++) {
			gaps[b] = mm_rng_uniform(g, 0.1, 0.5);
			gap_total += gaps[b];
		}
		if (dur_s - gap_total < 0.5 * bursts) { /* short bout: fewer bursts */
			bursts = 1;
			gap_total = 0;
		}
		double stroke_time = dur_s - gap_total, t = 0;
		int side = 1;
		s.n_strokes = 0;
		for (int b = 0; b < bursts; b++) {
			t += gaps[b];
			double burst_end = t + stroke_time / bursts;
			while (s.n_strokes < MAX_STROKES) {
				double T = clampd(1.0 / f * (1.0 + mm_rng_normal(g, 0.0, 0.08)), 0.07, 0.4);
				if (t + T > burst_end + 0.5 * T)
					break;
				s.stroke_t[s.n_strokes] = t;
				s.stroke_T[s.n_strokes] = T;
				s.stroke_A[s.n_strokes] = amp * clampd(mm_rng_normal(g, 1.0, 0.25), 0.4, 1.6);
				s.stroke_side[s.n_strokes] = side;
				side = -side;
				s.n_strokes++;
				t += T;
			}
		}
		/* The label ends with the last stroke. */
		s.dur_s = s.n_strokes ? s.stroke_t[s.n_strokes - 1] + s.stroke_T[s.n_strokes - 1] : 0.02;
		render_seg(r, &s);
		break;
	}
	default:
		seg_still(r, &s, MM_STAND, dur_s, r->elev_deg, 3.0);
		render_seg(r, &s);
		break;
	}
}

static void render_init(struct render *r, const struct mm_animal *a, uint64_t seed, uint32_t t0_ms,
			mm_sample_fn on_sample, mm_segment_fn on_segment, void *ctx)
{
	*r = (struct render){.a = a, .t0_ms = t0_ms, .on_sample = on_sample, .on_segment = on_segment,
			     .ctx = ctx};
	mm_rng_seed(&r->rng, seed ^ 0x5EEDF00Dull);
	r->elev_deg = a->walk_elev_deg;
	r->ou_elev = (struct ou){0, 5.0, 1.5};
	r->ou_amp = (struct ou){0, 0.12, 2.0};
	r->ou_freq = (struct ou){0, 0.04, 3.0};
}

uint64_t mm_script_run(const struct mm_animal *a, uint64_t seed, uint32_t t0_ms, const int *cls,
		       const uint32_t *dur_ms, int n, mm_sample_fn on_sample, mm_segment_fn on_segment,
		       void *ctx)
{
	struct render r;
	render_init(&r, a, seed, t0_ms, on_sample, on_segment, ctx);
	for (int i = 0; i < n; i++)
		do_segment(&r, cls[i], dur_ms[i] / 1000.0);
	return r.n;
}

static int next_search(struct render *r, int prev)
{
	static const double from_moving[5] = {0.35, 0.15, 0.30, 0.18, 0.02}; /* walk trot sniff stand shake */
	static const double from_still[5] = {0.62, 0.20, 0.09, 0.08, 0.01};
	static const int cls[5] = {MM_WALK, MM_TROT, MM_SNIFF, MM_STAND, MM_SHAKE};
	const double *w = (prev == MM_WALK || prev == MM_TROT) ? from_moving : from_still;
	double u = mm_rng_uniform(&r->rng, 0.0, 1.0), acc = 0;
	for (int i = 0; i < 5; i++) {
		acc += w[i];
		if (u < acc)
			return cls[i];
	}
	return MM_WALK;
}

static double search_dur(struct render *r, int cls)
{
	int dog = r->a->species == MM_DOG;
	switch (cls) {
	case MM_WALK:
		return dog ? lognormal_clamped(&r->rng, 6.0, 1.5, 30.0) : lognormal_clamped(&r->rng, 3.0, 0.8, 15.0);
	case MM_TROT:
		return dog ? lognormal_clamped(&r->rng, 3.0, 1.0, 12.0) : lognormal_clamped(&r->rng, 1.2, 0.4, 4.0);
	case MM_SNIFF:
		return dog ? lognormal_clamped(&r->rng, 2.0, 0.5, 10.0) : lognormal_clamped(&r->rng, 1.5, 0.4, 8.0);
	case MM_STAND:
		return dog ? lognormal_clamped(&r->rng, 3.0, 1.0, 20.0) : lognormal_clamped(&r->rng, 1.5, 0.6, 6.0);
	case MM_SHAKE:
		return dog ? mm_rng_uniform(&r->rng, 0.6, 1.8) : mm_rng_uniform(&r->rng, 0.25, 0.8);
	default:
		return 1.0;
	}
}

uint64_t mm_session_run(const struct mm_session *spec, struct mm_animal *animal_out, mm_sample_fn on_sample,
			mm_segment_fn on_segment, void *ctx)
{
	struct mm_rng ar;
	mm_rng_seed(&ar, spec->seed);
	mm_animal_draw(animal_out, spec->species, &ar);

	struct render r;
	render_init(&r, animal_out, spec->seed, spec->t0_ms, on_sample, on_segment, ctx);
	int dog = spec->species == MM_DOG;
	double end_s = spec->dur_ms / 1000.0;
	double next_ind_s = spec->ind_mean_gap_s > 0
				    ? -spec->ind_mean_gap_s * log(mm_rng_uniform(&r.rng, 0x1.0p-53, 1.0))
				    : INFINITY;
	int prev = MM_WALK;
	do_segment(&r, MM_WALK, search_dur(&r, MM_WALK));
	while ((double)r.n * DT < end_s) {
		double now_s = (double)r.n * DT;
		if (now_s >= next_ind_s) {
			do_segment(&r, MM_SNIFF, mm_rng_uniform(&r.rng, 0.5, 4.0));
			if (dog)
				do_segment(&r, MM_SIT, loguniform(&r.rng, 2.5, 30.0));
			else
				do_segment(&r, MM_SCRATCH, loguniform(&r.rng, 1.0, 8.0));
			int reward = mm_rng_uniform(&r.rng, 0.0, 1.0) < 0.5 ? MM_STAND : MM_SNIFF;
			do_segment(&r, reward, mm_rng_uniform(&r.rng, 1.0, 4.0));
			do_segment(&r, MM_WALK, search_dur(&r, MM_WALK));
			prev = MM_WALK;
			next_ind_s = (double)r.n * DT -
				     spec->ind_mean_gap_s * log(mm_rng_uniform(&r.rng, 0x1.0p-53, 1.0));
			continue;
		}
		int cls = next_search(&r, prev);
		do_segment(&r, cls, search_dur(&r, cls));
		prev = cls;
	}
	return r.n;
}
