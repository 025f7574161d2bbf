/*
 * analysis/src/sim_motion.c — the collar accelerometer stream of one animal, rendered from its true
 * behaviour timeline (the legs of its track). 50 Hz, struct an_sim_accel (= cf_accel_sample layout).
 *
 * This model is the simulator's own and is deliberately INDEPENDENT of tests/collar-fw/motion (the
 * classifier's training generator): different structure (footfall pulse trains, not sinusoids), different
 * parameter values, different PRNG. A classifier that does well on both is less likely to have learnt
 * one generator's quirks. All numbers below are OUR ASSUMPTIONS unless a source is named; they aim at the
 * right order of magnitude, not at a particular animal.
 *
 * Frame (cf/motion.h): x along the neck (dog) / spine (rat harness) towards the head, y left, z out of the
 * back of the neck; specific force in mg (+1000 up at rest). The neck is pitched by α above the horizon,
 * the collar band slipped by a roll ρ about x (per animal, ±0.6 rad, plus a slow wander).
 *   f_x = (1000 + a_v) sin α + a_f cos α,  f_z' = (1000 + a_v) cos α − a_f sin α,  f_y' = a_l,
 *   then (y, z) = rot(ρ)·(y', z').
 * Posture α follows a per-behaviour target through a first-order lag of 0.25 s (so sitting down, rearing
 * and crouching are smooth ramps inside the segment that starts them).
 *   target α      dog: search −22°, transit −5°, stand +8°, sniff −32°, sit +48°
 *                 rat: search −4°,  stand (rearing) +38°, sniff −9°, scratch −14°
 * Gait: a train of footfall pulses. Each footfall of duty d = 0.45 of its beat raises a vertical pulse
 * A_v·(½(1 − cos 2πu/d) − d/2) (zero mean), a fore-aft brake-then-push A_f·sin(2πu/d) and a lateral push
 * toward the supporting side. Walk = 4 beats per stride (lateral sequence, sides L L R R), trot = 2 (L R).
 *   dog walk   stride 0.55 + 0.9·v Hz (0.7–1.8), A_v = 60 + 220·v mg;  trot 1.9 + 0.2·v Hz, 350 + 150·v mg
 *   rat walk   stride 1.5 + 6·v Hz (1.5–4.5), A_v = 50 + 500·v mg
 *   A_f = 0.5·A_v, A_l = 0.35·A_v, each footfall's amplitude × log-normal(0, 0.15).
 * Rat scratch: bursts of 0.4–1.5 s separated by 0.1–0.4 s, strokes at an animal's own 5.5–9 Hz (±5 % per
 * burst), 150–700 mg per burst, vertical + fore-aft with a 30 % second harmonic.
 * Sniff: head bobbing, dogs 6 Hz 12 mg, rats 9 Hz 6 mg. Stand/sit: breathing 0.3 Hz 4 mg; a dog pants
 * (3.2 Hz, 15 mg) when the air is above 28 °C.
 * Shake: roll oscillation θ = Θ sin(2πft) under a Hann window (Dickerson et al. 2012: shake frequency
 * falls with body size; dogs ~4–5 Hz, rats ~15–20 Hz): dog f 4–5.5 Hz, Θ 0.9 rad, radius 0.06 m; rat
 * f 14–20 Hz, Θ 0.6 rad, radius 0.025 m. The collar sees gravity rotating plus r·θ'' (tangential, y') and
 * −r·θ'² (centripetal, z').
 * Sensor: white noise 4–9 mg per axis, bias ±30 mg per axis (animals.csv), 1 mg quantisation, ±16 g clip.
 * REST legs produce no samples: the IMU only logs during work bouts (the collar is in the carrier/kennel).
 */
#include "sim_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define DT_S (1.0 / AN_SIM_ACCEL_HZ)
#define STEP_MS (1000u / AN_SIM_ACCEL_HZ)
#define DEG (SIM_PI / 180.0)
#define G_MG 1000.0
#define MS2_TO_MG (1000.0 / 9.80665)

struct mstate {
	double alpha;       /* current neck pitch, rad */
	double phase;       /* gait phase in beats (continuous) */
	double beat_amp;    /* amplitude multiplier of the current beat */
	long beat_idx;
	double roll_wander;
	double scratch_hz;  /* animal's own stroke rate */
	double burst_left, gap_left, burst_hz, burst_amp, stroke_phase;
	double shake_f, shake_theta, shake_r;
	struct an_sim_rng rng;
};

static double target_alpha(bool dog, int beh, bool searching)
{
	switch (beh) {
	case AN_SIM_B_WALK: return dog ? (searching ? -22.0 : -5.0) * DEG : (searching ? -4.0 : 0.0) * DEG;
	case AN_SIM_B_TROT: return (dog ? -5.0 : 0.0) * DEG;
	case AN_SIM_B_STAND: return (dog ? 8.0 : 38.0) * DEG;
	case AN_SIM_B_SNIFF: return (dog ? -32.0 : -9.0) * DEG;
	case AN_SIM_B_SIT: return (dog ? 48.0 : 30.0) * DEG;
	case AN_SIM_B_SCRATCH: return (dog ? -20.0 : -14.0) * DEG;
	default: return 0.0;
	}
}

static int16_t clip_mg(double v)
{
	v = floor(v + 0.5);
	return (int16_t)(v > 16000.0 ? 16000 : v < -16000.0 ? -16000 : v);
}

int an_sim_motion_collar(const struct an_sim_world *w, uint32_t a, an_sim_accel_sink sink, an_sim_label_sink labels,
			 void *ctx)
{
	if (!w || a >= w->n_animals || !sink)
		return -EINVAL;
	const struct an_sim_animal *an = &w->animals[a];
	const struct an_sim_track *tr = &w->tracks[a];
	bool dog = an->p.species == AN_SIM_DOG;
	struct mstate m;
	memset(&m, 0, sizeof m);
	an_sim_rng_init(&m.rng, w->seed, SIM_STREAM_MOTION(a));
	struct an_sim_rng *r = &m.rng;
	m.scratch_hz = an_sim_rng_uniform(r, 5.5, 9.0);
	m.beat_amp = 1.0;
	int lab_beh = -1;
	uint32_t lab_t0 = 0, lab_t1 = 0;
	int rc;
	bool prev_rest = true;
	for (size_t li = 0; li < tr->n; li++) {
		const struct an_sim_leg *l = &tr->legs[li];
		if (l->beh == AN_SIM_B_REST) {
			prev_rest = true;
			continue;
		}
		/* first sample on the collar's 20 ms grid at or after the leg start */
		int64_t c0 = l->t0_ms - an->boot_utc_ms, c1 = l->t1_ms - an->boot_utc_ms;
		int64_t s0 = (c0 + STEP_MS - 1) / STEP_MS * STEP_MS;
		if (s0 >= c1)
			continue;
		bool searching = l->pass >= 0;
		double dur_s = (double)(l->t1_ms - l->t0_ms) / 1000.0;
		double v = hypot((double)(l->e1_mm - l->e0_mm), (double)(l->n1_mm - l->n0_mm)) / 1000.0 / dur_s;
		double ta = target_alpha(dog, l->beh, searching);
		if (prev_rest) { /* out of the carrier: start from the new posture */
			m.alpha = ta;
			prev_rest = false;
		}
		/* gait of this leg */
		double stride_hz = 0, av = 0;
		int beats = 4;
		if (l->beh == AN_SIM_B_WALK || l->beh == AN_SIM_B_TROT) {
			if (dog && l->beh == AN_SIM_B_TROT) {
				stride_hz = fmin(2.8, 1.9 + 0.2 * v);
				av = 350.0 + 150.0 * v;
				beats = 2;
			} else if (dog) {
				stride_hz = fmin(1.8, fmax(0.7, 0.55 + 0.9 * v));
				av = 60.0 + 220.0 * v;
			} else {
				stride_hz = fmin(4.5, fmax(1.5, 1.5 + 6.0 * v));
				av = (50.0 + 500.0 * v) * (l->beh == AN_SIM_B_TROT ? 1.3 : 1.0);
			}
		}
		if (l->beh == AN_SIM_B_SHAKE) {
			m.shake_f = dog ? an_sim_rng_uniform(r, 4.0, 5.5) : an_sim_rng_uniform(r, 14.0, 20.0);
			m.shake_theta = dog ? 0.9 : 0.6;
			m.shake_r = dog ? 0.06 : 0.025;
		}
		if (l->beh == AN_SIM_B_SCRATCH)
			m.burst_left = 0, m.gap_left = 0;
		bool hot = an_sim_temp_c(w, l->t0_ms) > 28.0;
		/* labels: merge consecutive legs of one behaviour */
		if (labels && (lab_beh != l->beh || lab_t1 != (uint32_t)s0)) {
			if (lab_beh >= 0 && (rc = labels(ctx, lab_t0, lab_t1, lab_beh)) < 0)
				return rc;
			lab_beh = l->beh;
			lab_t0 = (uint32_t)s0;
		}
		int64_t s;
		for (s = s0; s < c1; s += STEP_MS) {
			double t_in = (double)(s - c0) / 1000.0;
			m.alpha += (ta - m.alpha) * (1.0 - exp(-DT_S / 0.25));
			m.roll_wander = fmin(0.2, fmax(-0.2, m.roll_wander + 0.002 * an_sim_rng_normal(r)));
			double a_v = 0, a_f = 0, a_l = 0, roll = an->roll_rad + m.roll_wander, ty = 0, tz = 0;
			if (stride_hz > 0) {
				m.phase += stride_hz * beats * DT_S;
				long bi = (long)floor(m.phase);
				if (bi != m.beat_idx) {
					m.beat_idx = bi;
					m.beat_amp = an_sim_rng_lognormal(r, 1.0, 0.15);
				}
				double u = m.phase - (double)bi, d = 0.45;
				double pulse = u < d ? 0.5 * (1.0 - cos(2.0 * SIM_PI * u / d)) : 0.0;
				double push = u < d ? sin(2.0 * SIM_PI * u / d) : 0.0;
				int side = beats == 4 ? ((bi & 3) < 2 ? 1 : -1) : ((bi & 1) ? -1 : 1);
				double A = av * m.beat_amp;
				a_v = A * (pulse - d / 2.0);
				a_f = 0.5 * A * push;
				a_l = 0.35 * A * pulse * side;
			}
			switch (l->beh) {
			case AN_SIM_B_SNIFF:
				a_v += (dog ? 12.0 : 6.0) * sin(2.0 * SIM_PI * (dog ? 6.0 : 9.0) * t_in);
				break;
			case AN_SIM_B_STAND:
			case AN_SIM_B_SIT:
				a_v += 4.0 * sin(2.0 * SIM_PI * 0.3 * t_in);
				if (dog && hot)
					a_v += 15.0 * sin(2.0 * SIM_PI * 3.2 * t_in);
				break;
			case AN_SIM_B_SCRATCH:
				if (m.burst_left <= 0 && m.gap_left <= 0) {
					m.burst_left = an_sim_rng_uniform(r, 0.4, 1.5);
					m.burst_hz = m.scratch_hz * an_sim_rng_lognormal(r, 1.0, 0.05);
					m.burst_amp = an_sim_rng_uniform(r, 150.0, 700.0);
				}
				if (m.burst_left > 0) {
					m.stroke_phase += m.burst_hz * DT_S;
					double ph = 2.0 * SIM_PI * m.stroke_phase;
					a_v += m.burst_amp * (sin(ph) + 0.3 * sin(2.0 * ph));
					a_f += 0.6 * m.burst_amp * cos(ph);
					m.burst_left -= DT_S;
					if (m.burst_left <= 0)
						m.gap_left = an_sim_rng_uniform(r, 0.1, 0.4);
				} else {
					m.gap_left -= DT_S;
				}
				break;
			case AN_SIM_B_SHAKE: {
				double win = 0.5 * (1.0 - cos(2.0 * SIM_PI * fmin(1.0, t_in / dur_s)));
				double om = 2.0 * SIM_PI * m.shake_f;
				double th = m.shake_theta * win * sin(om * t_in);
				double thd = m.shake_theta * win * om * cos(om * t_in);
				double thdd = -m.shake_theta * win * om * om * sin(om * t_in);
				roll += th;
				ty = m.shake_r * thdd * MS2_TO_MG;
				tz = -m.shake_r * thd * thd * MS2_TO_MG;
				break;
			}
			default:
				break;
			}
			double sa = sin(m.alpha), ca = cos(m.alpha);
			double fx = (G_MG + a_v) * sa + a_f * ca;
			double fy = a_l + ty;
			double fz = (G_MG + a_v) * ca - a_f * sa + tz;
			double cr = cos(roll), sr = sin(roll);
			double y = fy * cr - fz * sr, z = fy * sr + fz * cr;
			double nz = an->accel_noise_mg;
			struct an_sim_accel smp = {
				.t_ms = (uint32_t)s,
				.x_mg = clip_mg(fx + an->accel_bias_mg[0] + nz * an_sim_rng_normal(r)),
				.y_mg = clip_mg(y + an->accel_bias_mg[1] + nz * an_sim_rng_normal(r)),
				.z_mg = clip_mg(z + an->accel_bias_mg[2] + nz * an_sim_rng_normal(r)),
			};
			if ((rc = sink(ctx, &smp)) < 0)
				return rc;
		}
		lab_t1 = (uint32_t)s;
	}
	if (labels && lab_beh >= 0 && (rc = labels(ctx, lab_t0, lab_t1, lab_beh)) < 0)
		return rc;
	return 0;
}
