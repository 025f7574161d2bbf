/*
 * core/classify.c — dog SIT / rat SCRATCH classifier (API and event semantics in cf/classify.h).
 *
 * Why a 1 s window with a 1 Hz-resolution DFT: the behaviours differ mainly by *where* their energy
 * sits in frequency (gait sway < 4 Hz, forelimb strokes 4..9 Hz, wet-animal shake 15-20 Hz in rats),
 * and a 50-point DFT at 50 Hz puts bin k exactly at k Hz. The three axes' spectra are summed, which
 * makes every feature independent of how far the collar band has slid round the neck (a rotation of
 * the axes leaves the summed power unchanged). Cost per analysis: 3 x 24 x 50 x 2 multiply-adds, every
 * 240 ms, i.e. ~30 k MAC/s: nothing for a Cortex-M4. All arithmetic is integer (64-bit accumulators),
 * so host and MCU give bit-identical results.
 *
 * Power scale: for a sinusoid of amplitude A (mg) the Hann-windowed DFT puts |X|^2 = (A N / 4)^2 in its
 * bin and a quarter of that in each neighbour; dividing the summed |X|^2 by 3 N^2 / 16 (the window's
 * coherent gain and its 1.5-bin noise bandwidth) gives back A^2 / 2, the signal's power in mg^2, so
 * thresholds are in plain rms milli-g.
 *
 * Posture: the window mean is the gravity vector (1 s averages out gait). Only the x axis (along the
 * neck or spine) keeps its meaning when the collar rotates, so posture is the elevation of x above the
 * horizon, asin(gx / |g|), in 0.1 degree. The *searching posture* is a running mean (1/16 per frame,
 * ~4 s) of that elevation over frames in which the animal moves; a sit is a rise above it. Learning
 * the reference per animal removes the collar's mounting offset and the dog's individual carriage.
 *
 * Onset times: the detector can only be sure once a whole window shows the behaviour, so onsets are
 * dated back: SIT from the first sample of the first still-and-raised window, SCRATCH from 0.55 s
 * before the end of the first rhythmic window (SCRATCH_ONSET_BACK_MS). The evaluation tool
 * (tests/collar-fw/motion/) measures the resulting onset error against labelled data.
 *
 * Tuning record (the generative model was fixed first; tuning changed only this file): seeds 1-12 of
 * cf-motion-eval were used for tuning. Evaluation seed 20260917 was first run with a 6 % lateral
 * limit (rats: 7.2 false scratches per 10 min, failed), 20260918 with 5 % (rats: recall 0.940,
 * failed); after retuning on seeds 1-12 only, 20260919 is the held-out figure. The final version on
 * all three seeds is in the report of the collar-fw classifier work.
 */
#include <errno.h>
#include <limits.h>

#include "cf/classify.h"

/* cos/sin(2 pi n / 50) and the periodic Hann window, Q15. */
static const int16_t cos50_q15[CF_CLASSIFY_WIN] = {
	32767, 32509, 31738, 30466, 28714, 26509, 23886, 20886, 17557, 13952,
	10126, 6140, 2057, -2057, -6140, -10126, -13952, -17557, -20886, -23886,
	-26509, -28714, -30466, -31738, -32509, -32767, -32509, -31738, -30466, -28714,
	-26509, -23886, -20886, -17557, -13952, -10126, -6140, -2057, 2057, 6140,
	10126, 13952, 17557, 20886, 23886, 26509, 28714, 30466, 31738, 32509,
};
static const int16_t sin50_q15[CF_CLASSIFY_WIN] = {
	0, 4107, 8149, 12062, 15786, 19260, 22431, 25247, 27666, 29648,
	31163, 32187, 32702, 32702, 32187, 31163, 29648, 27666, 25247, 22431,
	19260, 15786, 12062, 8149, 4107, 0, -4107, -8149, -12062, -15786,
	-19260, -22431, -25247, -27666, -29648, -31163, -32187, -32702, -32702, -32187,
	-31163, -29648, -27666, -25247, -22431, -19260, -15786, -12062, -8149, -4107,
};
static const int16_t hann50_q15[CF_CLASSIFY_WIN] = {
	0, 129, 515, 1151, 2027, 3129, 4440, 5940, 7605, 9408,
	11321, 13314, 15355, 17412, 19453, 21446, 23359, 25162, 26827, 28327,
	29638, 30740, 31616, 32252, 32638, 32767, 32638, 32252, 31616, 30740,
	29638, 28327, 26827, 25162, 23359, 21446, 19453, 17412, 15355, 13314,
	11321, 9408, 7605, 5940, 4440, 3129, 2027, 1151, 515, 129,
};
/* sin(d degrees), d = 0..90, Q15: inverted by search for asin. */
static const int16_t sindeg_q15[91] = {
	0, 572, 1144, 1715, 2286, 2856, 3425, 3993, 4560, 5126, 5690, 6252, 6813,
	7371, 7927, 8481, 9032, 9580, 10126, 10668, 11207, 11743, 12275, 12803, 13328, 13848,
	14364, 14876, 15383, 15886, 16383, 16876, 17364, 17846, 18323, 18794, 19260, 19720, 20173,
	20621, 21062, 21497, 21925, 22347, 22762, 23170, 23571, 23964, 24351, 24730, 25101, 25465,
	25821, 26169, 26509, 26841, 27165, 27481, 27788, 28087, 28377, 28659, 28932, 29196, 29451,
	29697, 29934, 30162, 30381, 30591, 30791, 30982, 31163, 31335, 31498, 31650, 31794, 31927,
	32051, 32165, 32269, 32364, 32448, 32523, 32587, 32642, 32687, 32722, 32747, 32762, 32767,
};

enum { IND_IDLE = 0, IND_CANDIDATE = 1, IND_ACTIVE = 2 };

/* A mean vector this far from 1 g means the window is dominated by motion: no posture from it. */
#define POSTURE_MIN_MG 700
#define POSTURE_MAX_MG 1300
/* Below this, gravity is nearly along x (a rearing rat) and the lateral axis is undefined. */
#define LATERAL_MIN_MG 250u
/* Moving frames before the searching posture is trusted (~2 s of movement). */
#define REF_MIN_FRAMES 8u
/* Half an analysis window in ms (25 samples of 20 ms): the centre of a window is this before its end. */
#define HALF_WIN_MS (CF_CLASSIFY_WIN * 1000u / CF_CLASSIFY_RATE_HZ / 2u)
/*
 * A window is found rhythmic once strokes fill roughly half of it at the start of a bout, and stops
 * being rhythmic when they fill less than about a quarter at the end. So a bout is dated from 0.55 s
 * before the end of the first rhythmic window to 0.25 s before the end of the last one. Calibrated on
 * the tuning seeds: mean onset error within +-50 ms.
 */
#define SCRATCH_ONSET_BACK_MS (11u * HALF_WIN_MS / 10u)
#define SCRATCH_END_BACK_MS (HALF_WIN_MS / 2u)

/* What one analysis of the window found. */
struct frame {
	uint32_t t_ms;        /* newest sample */
	uint32_t t_first_ms;  /* oldest sample */
	uint32_t act_mg;      /* rms 1..24 Hz */
	uint64_t p_total;     /* mg^2, 1..24 Hz */
	uint64_t p_low;       /* below the stroke band (1..lo-1 Hz) */
	uint64_t p_band;      /* stroke band */
	uint64_t p_high;      /* above the stroke band (hi+1..24 Hz) */
	uint32_t peak_hz;     /* strongest bin inside the stroke band */
	uint64_t p_lat;       /* variance of the lateral component, mg^2 (see scratch_step) */
	int lat_ok;           /* the lateral axis could be found (spine not near vertical) */
	int32_t elev_ddeg;    /* x elevation, 0.1 degree */
	int posture_ok;       /* elev_ddeg is meaningful */
};

void cf_classify_config_default(struct cf_classify_config *cfg, enum cf_species species)
{
	/*
	 * still/move: sensor noise (~5-15 mg per axis) and a panting dog (~10-40 mg) stay under 55 mg;
	 * a walking dog or rat is well above 80 mg. Sit: 2 s hold (the brief's default; commercial trackers
	 * debounce "stopped" with 10-30 s, but an indication must be reported fast); the neck rises by
	 * tens of degrees when a dog sits, and 25 degrees leaves room for head carriage while standing
	 * (chosen on tuning seeds 1-6: 20 deg gave 2 false sits per 10 min from alert stands, 28 deg cost
	 * recall). Scratch: a 4-9 Hz rhythm (the brief: 4-8 Hz bursts lasting >= ~1 s) over an estimated
	 * >= 0.8 s with >= 4 strokes: the window edges make the estimate of a bout ~0.2 s short, so 0.8 s
	 * estimated is a ~1 s bout (tuning seeds 1-12: 1.0 s / 5 strokes / 0.6 s gaps gave recall 0.957,
	 * 0.8 s / 4 / 0.8 s gaps 0.972 at 0.5 false per 10 min);
	 * lateral share <= 5 % (tuning seeds 1-12; 6-7 % let walking animals with little sway through:
	 * 5 per 10 min on seeds 7-12; the first evaluation, at 6 %, failed for this reason).
	 */
	*cfg = (struct cf_classify_config){
		.species = (uint8_t)(species == CF_SPECIES_RAT ? CF_SPECIES_RAT : CF_SPECIES_DOG),
		.still_mg = 55,
		.move_mg = 80,
		.sit_hold_ms = 2000,
		.sit_tilt_ddeg = 250,
		.sit_grace_ms = 1500,
		.scratch_min_ms = 800,
		.scratch_min_cycles = 4,
		.scratch_min_mg = 60,
		.scratch_gap_ms = 800,
		.scratch_lo_hz = 4,
		.scratch_hi_hz = 9,
		.scratch_low_pct = 150,
		.scratch_high_pct = 100,
		.scratch_lat_pct = 5,
	};
}

int cf_classify_init(struct cf_classify *c, const struct cf_classify_config *cfg)
{
	if (cfg->species != CF_SPECIES_RAT && cfg->species != CF_SPECIES_DOG)
		return -EINVAL;
	if (cfg->scratch_lo_hz < 2 || cfg->scratch_hi_hz > CF_CLASSIFY_BINS - 1u ||
	    cfg->scratch_lo_hz > cfg->scratch_hi_hz)
		return -EINVAL;
	if (cfg->still_mg > cfg->move_mg || cfg->sit_hold_ms == 0 || cfg->scratch_min_ms == 0 ||
	    cfg->sit_tilt_ddeg == 0 || cfg->sit_tilt_ddeg > 900)
		return -EINVAL;
	*c = (struct cf_classify){0};
	c->cfg = *cfg;
	c->state = CF_MOTION_UNKNOWN;
	return 0;
}

enum cf_motion_state cf_classify_state(const struct cf_classify *c)
{
	return (enum cf_motion_state)c->state;
}

static uint32_t isqrt64(uint64_t v)
{
	uint64_t r = 0, bit = (uint64_t)1 << 62;
	while (bit > v)
		bit >>= 2;
	while (bit) {
		if (v >= r + bit) {
			v -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return (uint32_t)r;
}

/* asin of q (Q15, clamped to +-1) in 0.1 degree, by table search and linear interpolation. */
static int32_t asin_ddeg(int32_t q)
{
	int neg = q < 0;
	if (neg)
		q = -q;
	if (q >= 32767)
		return neg ? -900 : 900;
	int lo = 0, hi = 90;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (sindeg_q15[mid] <= q)
			lo = mid;
		else
			hi = mid;
	}
	int32_t span = sindeg_q15[hi] - sindeg_q15[lo];
	int32_t d = lo * 10 + (10 * (q - sindeg_q15[lo]) + span / 2) / span;
	return neg ? -d : d;
}

static void analyse(const struct cf_classify *c, struct frame *f)
{
	const unsigned n = CF_CLASSIFY_WIN;
	unsigned oldest = c->head; /* the ring is full: head is the oldest sample */
	int32_t mean[3];
	uint64_t pbin[CF_CLASSIFY_BINS + 1] = {0};

	f->t_first_ms = c->win_t[oldest];
	f->t_ms = c->win_t[(oldest + n - 1u) % n];
	for (unsigned a = 0; a < 3; a++) {
		int32_t sum = 0;
		for (unsigned i = 0; i < n; i++)
			sum += c->win[i][a];
		mean[a] = sum / (int32_t)n;

		/* Remove the mean first: with a Hann window, DC would leak into the 1 Hz bin. */
		int32_t xw[CF_CLASSIFY_WIN];
		for (unsigned i = 0; i < n; i++) {
			int32_t d = (int32_t)c->win[(oldest + i) % n][a] - mean[a];
			xw[i] = (int32_t)(((int64_t)d * hann50_q15[i]) / 32768);
		}
		for (unsigned k = 1; k <= CF_CLASSIFY_BINS; k++) {
			int64_t re = 0, im = 0;
			unsigned ph = 0; /* k * i mod n, kept incrementally */
			for (unsigned i = 0; i < n; i++) {
				re += (int64_t)xw[i] * cos50_q15[ph];
				im -= (int64_t)xw[i] * sin50_q15[ph];
				ph += k;
				if (ph >= n)
					ph -= n;
			}
			re /= 32768;
			im /= 32768;
			pbin[k] += (uint64_t)(re * re) + (uint64_t)(im * im);
		}
	}

	const uint64_t scale_den = 3u * n * n; /* power (mg^2) = 16 |X|^2 / (3 N^2) */
	f->p_total = f->p_low = f->p_band = f->p_high = 0;
	f->peak_hz = c->cfg.scratch_lo_hz;
	uint64_t peak = 0;
	for (unsigned k = 1; k <= CF_CLASSIFY_BINS; k++) {
		uint64_t p = pbin[k] * 16u / scale_den;
		f->p_total += p;
		if (k < c->cfg.scratch_lo_hz) {
			f->p_low += p;
		} else if (k <= c->cfg.scratch_hi_hz) {
			f->p_band += p;
			if (p > peak) {
				peak = p;
				f->peak_hz = k;
			}
		} else {
			f->p_high += p;
		}
	}
	f->act_mg = isqrt64(f->p_total);

	uint64_t g2 = (uint64_t)((int64_t)mean[0] * mean[0] + (int64_t)mean[1] * mean[1] +
				 (int64_t)mean[2] * mean[2]);
	uint32_t g = isqrt64(g2);
	f->posture_ok = g >= POSTURE_MIN_MG && g <= POSTURE_MAX_MG;

	/* Lateral axis: perpendicular to both x and gravity. The harness may be twisted by any angle about
	 * x, but the mean vector shows where "up" is in the y-z plane, so lateral = (y, z) rotated by it. */
	uint32_t gyz = isqrt64((uint64_t)((int64_t)mean[1] * mean[1] + (int64_t)mean[2] * mean[2]));
	f->lat_ok = f->posture_ok && gyz >= LATERAL_MIN_MG;
	f->p_lat = 0;
	if (f->lat_ok) {
		for (unsigned i = 0; i < n; i++) {
			int64_t dy = (int64_t)c->win[i][1] - mean[1], dz = (int64_t)c->win[i][2] - mean[2];
			int64_t lat = (dy * mean[2] - dz * mean[1]) / (int64_t)gyz;
			f->p_lat += (uint64_t)(lat * lat);
		}
		f->p_lat /= n;
	}
	f->elev_ddeg = f->posture_ok ? asin_ddeg((int32_t)(((int64_t)mean[0] * 32767) / (int64_t)g)) : 0;
}

static uint8_t clamp_conf(int32_t v)
{
	return (uint8_t)(v < 0 ? 0 : v > 100 ? 100 : v);
}

/* Linear 0..30 points for x going from lo to hi. */
static int32_t points30(int64_t x, int64_t lo, int64_t hi)
{
	if (x <= lo)
		return 0;
	if (x >= hi)
		return 30;
	return (int32_t)((x - lo) * 30 / (hi - lo));
}

/* Estimated end of the behaviour: SIT at the last still window's end; SCRATCH at the last rhythmic
 * window's centre. Never before the onset. */
static uint32_t ind_dur(const struct cf_classify *c)
{
	uint32_t end = c->ind_last_ok_t_ms;
	if (c->cfg.species == CF_SPECIES_RAT)
		end -= SCRATCH_END_BACK_MS;
	int32_t d = (int32_t)(end - c->ind_onset_t_ms);
	return d > 0 ? (uint32_t)d : 0;
}

static uint8_t ind_conf(const struct cf_classify *c)
{
	if (c->ind_frames == 0)
		return 40;
	if (c->cfg.species == CF_SPECIES_DOG) {
		int64_t margin = c->ind_sum_b / (int64_t)c->ind_frames;         /* ddeg above threshold */
		uint64_t act = c->ind_sum_a / c->ind_frames;                     /* mg */
		int32_t p = 40 + points30(margin, 0, c->cfg.sit_tilt_ddeg);
		p += 30 - points30((int64_t)act, c->cfg.still_mg / 2, c->cfg.still_mg);
		return clamp_conf(p);
	}
	uint64_t share = c->ind_sum_a / c->ind_frames; /* % of activity in the stroke band */
	uint32_t dur = ind_dur(c);
	int32_t p = 40 + points30((int64_t)share, 50, 90);
	p += points30(dur, c->cfg.scratch_min_ms, 2 * (int64_t)c->cfg.scratch_min_ms);
	return clamp_conf(p);
}


static void ind_event(struct cf_classify *c, uint8_t phase, uint32_t t_ms, struct cf_ind_event *ev)
{
	*ev = (struct cf_ind_event){
		.onset_t_ms = c->ind_onset_t_ms,
		.dur_ms = ind_dur(c),
		.detect_t_ms = t_ms,
		.seq = c->seq,
		.kind = (uint8_t)(c->cfg.species == CF_SPECIES_DOG ? CF_IND_SIT : CF_IND_SCRATCH),
		.phase = phase,
		.source = CF_IND_SRC_COLLAR,
		.conf = ind_conf(c),
	};
}

/* End whatever is in progress; returns the number of events written (0 or 1). */
static int ind_stop(struct cf_classify *c, uint32_t t_ms, struct cf_ind_event *out)
{
	int n = 0;
	if (c->ind == IND_ACTIVE) {
		ind_event(c, CF_IND_PHASE_END, t_ms, out);
		n = 1;
	}
	c->ind = IND_IDLE;
	return n;
}

static void ind_start(struct cf_classify *c, uint32_t onset_t_ms, uint32_t t_ms)
{
	c->ind = IND_CANDIDATE;
	c->ind_onset_t_ms = onset_t_ms;
	c->ind_last_ok_t_ms = t_ms;
	c->ind_prev_frame_t_ms = t_ms;
	c->ind_cycles_milli = 0;
	c->ind_frames = 0;
	c->ind_sum_a = 0;
	c->ind_sum_b = 0;
}

static int sit_step(struct cf_classify *c, const struct frame *f, struct cf_ind_event *out)
{
	const struct cf_classify_config *cfg = &c->cfg;
	int still = f->act_mg <= cfg->still_mg;
	int ref_ok = c->ref_frames >= REF_MIN_FRAMES;
	int32_t tilt = ref_ok && f->posture_ok ? f->elev_ddeg - c->ref_elev_x16 / 16 : INT32_MIN / 2;
	int raised = tilt >= cfg->sit_tilt_ddeg;
	/* Hysteresis: once sitting, the posture must fall back by a third of the threshold to end. */
	int lost = f->posture_ok ? tilt < cfg->sit_tilt_ddeg - cfg->sit_tilt_ddeg / 3 : 0;

	if (c->ind == IND_IDLE) {
		if (still && raised) {
			ind_start(c, f->t_first_ms, f->t_ms);
			c->ind_frames = 1;
			c->ind_sum_a = f->act_mg;
			c->ind_sum_b = tilt - cfg->sit_tilt_ddeg;
		}
		return 0;
	}
	if (still && !lost) {
		c->ind_last_ok_t_ms = f->t_ms;
		c->ind_frames++;
		c->ind_sum_a += f->act_mg;
		c->ind_sum_b += tilt - cfg->sit_tilt_ddeg;
	}
	if (lost || f->t_ms - c->ind_last_ok_t_ms > cfg->sit_grace_ms)
		return ind_stop(c, f->t_ms, out);
	if (c->ind == IND_CANDIDATE && still && c->ind_last_ok_t_ms - c->ind_onset_t_ms >= cfg->sit_hold_ms) {
		c->ind = IND_ACTIVE;
		c->seq++;
		ind_event(c, CF_IND_PHASE_ONSET, f->t_ms, out);
		return 1;
	}
	return 0;
}

static int scratch_step(struct cf_classify *c, const struct frame *f, struct cf_ind_event *out)
{
	const struct cf_classify_config *cfg = &c->cfg;
	uint64_t min2 = (uint64_t)cfg->scratch_min_mg * cfg->scratch_min_mg;
	/*
	 * Strokes vs gait: both can put their main rhythm at 4-9 Hz (a rat's body bounces once per footfall
	 * pair, twice per stride). But a walking or trotting body also sways sideways once per stride,
	 * while a scratching rat stands on its hind legs and its body rocks little: the share of the
	 * activity that is lateral separates them even when the sway falls inside the band (fast trot).
	 * Shakes are rejected by the band above.
	 */
	int rhythmic = f->lat_ok && f->p_band >= min2 && f->p_band * 100u >= f->p_low * cfg->scratch_low_pct &&
		       f->p_band * 100u >= f->p_high * cfg->scratch_high_pct &&
		       f->p_lat * 100u <= f->p_total * cfg->scratch_lat_pct;

	if (c->ind == IND_IDLE) {
		if (rhythmic) {
			ind_start(c, f->t_ms - SCRATCH_ONSET_BACK_MS, f->t_ms);
			c->ind_prev_frame_t_ms = f->t_ms - SCRATCH_ONSET_BACK_MS;
		}
	}
	if (c->ind != IND_IDLE && rhythmic) {
		/* strokes = rhythm frequency x time since the previous analysed frame */
		c->ind_cycles_milli += f->peak_hz * (f->t_ms - c->ind_prev_frame_t_ms);
		c->ind_last_ok_t_ms = f->t_ms;
		c->ind_frames++;
		c->ind_sum_a += f->p_total ? f->p_band * 100u / f->p_total : 0;
	}
	if (c->ind != IND_IDLE)
		c->ind_prev_frame_t_ms = f->t_ms;
	if (c->ind == IND_IDLE)
		return 0;
	if (!rhythmic && f->t_ms - c->ind_last_ok_t_ms > cfg->scratch_gap_ms)
		return ind_stop(c, f->t_ms, out);
	if (c->ind == IND_CANDIDATE && rhythmic && ind_dur(c) >= cfg->scratch_min_ms &&
	    c->ind_cycles_milli >= 1000u * cfg->scratch_min_cycles) {
		c->ind = IND_ACTIVE;
		c->seq++;
		ind_event(c, CF_IND_PHASE_ONSET, f->t_ms, out);
		return 1;
	}
	return 0;
}

static int frame_step(struct cf_classify *c, struct cf_ind_event *out)
{
	struct frame f;
	analyse(c, &f);
	c->stats.frames++;
	if (!f.posture_ok)
		c->stats.bad_posture++;

	int moving = f.act_mg > c->cfg.move_mg;
	int still = f.act_mg <= c->cfg.still_mg;
	if (moving && f.posture_ok) {
		/* Running mean of the searching posture: exact mean over the first 16 frames, then 1/16. */
		int32_t e = f.elev_ddeg * 16;
		if (c->ref_frames < 16u)
			c->ref_frames++;
		c->ref_elev_x16 += (e - c->ref_elev_x16) / (int32_t)c->ref_frames;
	}

	int n = c->cfg.species == CF_SPECIES_DOG ? sit_step(c, &f, out) : scratch_step(c, &f, out);

	if (c->ind == IND_ACTIVE)
		c->state = CF_MOTION_INDICATING;
	else if (moving)
		c->state = CF_MOTION_MOVING;
	else if (still)
		c->state = CF_MOTION_STATIONARY;
	else if (c->state == CF_MOTION_UNKNOWN || c->state == CF_MOTION_INDICATING)
		c->state = CF_MOTION_MOVING;
	return n;
}

int cf_classify_push(struct cf_classify *c, const struct cf_accel_sample *s, struct cf_ind_event *out)
{
	int n = 0;
	if (c->have_last) {
		/* Signed difference: t_ms wraps after 49.7 days and differences stay right across it. */
		int32_t dt = (int32_t)(s->t_ms - c->last_t_ms);
		if (dt <= 0) {
			c->stats.rejected++;
			return -ERANGE;
		}
		if ((uint32_t)dt > CF_CLASSIFY_GAP_MS) {
			/* The window would mix two unrelated stretches: end what was going on at its last good
			 * time and start afresh. The searching posture is kept: the collar did not move. */
			c->stats.gaps++;
			n = ind_stop(c, c->last_t_ms, out);
			c->fill = 0;
			c->since_frame = 0;
			c->state = CF_MOTION_UNKNOWN;
		}
	}
	c->have_last = 1;
	c->last_t_ms = s->t_ms;
	c->stats.samples++;

	c->win[c->head][0] = s->x_mg;
	c->win[c->head][1] = s->y_mg;
	c->win[c->head][2] = s->z_mg;
	c->win_t[c->head] = s->t_ms;
	c->head = (uint8_t)((c->head + 1u) % CF_CLASSIFY_WIN);
	if (c->fill < CF_CLASSIFY_WIN)
		c->fill++;
	if (c->fill < CF_CLASSIFY_WIN)
		return n;
	if (++c->since_frame < CF_CLASSIFY_HOP && c->stats.frames != 0 && c->state != CF_MOTION_UNKNOWN)
		return n;
	c->since_frame = 0;
	return n + frame_step(c, out + n);
}

int cf_classify_flush(struct cf_classify *c, struct cf_ind_event *out)
{
	return ind_stop(c, c->last_t_ms, out);
}

static int overlaps(const struct cf_ind_event *a, const struct cf_ind_event *b, uint32_t window_ms)
{
	/* Compare in a frame anchored at a's onset, in signed 64-bit, so clock wrap cannot fool it. */
	int64_t a0 = 0, a1 = (int64_t)a->dur_ms;
	int64_t b0 = (int32_t)(b->onset_t_ms - a->onset_t_ms);
	int64_t b1 = b0 + (int64_t)b->dur_ms;
	return b0 - (int64_t)window_ms <= a1 + (int64_t)window_ms &&
	       a0 - (int64_t)window_ms <= b1 + (int64_t)window_ms;
}

int cf_classify_combine(const struct cf_ind_event *collar, const struct cf_ind_event *mark,
			uint32_t window_ms, struct cf_ind_event *out)
{
	if ((collar->kind != CF_IND_SIT && collar->kind != CF_IND_SCRATCH) ||
	    mark->kind != CF_IND_HANDLER_MARK)
		return -EINVAL;
	if (!overlaps(collar, mark, window_ms))
		return 0;
	*out = *collar;
	out->source = CF_IND_SRC_BOTH;
	return 1;
}
