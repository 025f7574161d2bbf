/*
 * analysis/src/sim_world.c — the world model: layout, targets, animals, schedule, passes, indications and
 * the animals' true tracks (legs). Model and sources: an/sim.h.
 */
#include "sim_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/array.h"

static const char *const tclass_names[AN_SIM_T_COUNT] = {"ap", "at", "uxo", "frag", "scrap"};
static const char *const beh_names[AN_SIM_B_COUNT] = {"rest", "walk", "trot", "stand",
							"sit", "scratch", "sniff", "shake"};
static const char *const rx_names[AN_SIM_RX_COUNT] = {"consumer", "sbas", "rtk_float", "rtk_fixed"};
static const char *const pass_names[] = {"primary", "second", "qc", "blind", "confirm"};

const char *an_sim_tclass_name(int c)
{
	return c >= 0 && c < AN_SIM_T_COUNT ? tclass_names[c] : "?";
}
const char *an_sim_beh_name(int b)
{
	return b >= 0 && b < AN_SIM_B_COUNT ? beh_names[b] : "?";
}
const char *an_sim_rx_name(int rx)
{
	return rx >= 0 && rx < AN_SIM_RX_COUNT ? rx_names[rx] : "?";
}
const char *an_sim_pass_kind_name(int k)
{
	return k >= 0 && k < AN_SIM_PASS_KINDS ? pass_names[k] : "?";
}

/*
 * Population ranges for parameters a scenario leaves unset: uniform [lo, hi] per animal.
 * Sources: false-indication rates 0.33 / 0.40 per 100 m² (Poling 2011, Edwards 2015; domain.md §1.6); rat
 * search speed from "200 m² in 20–35 min" (§1.7: a 100 m² box of 40 × 5 m lanes in ~15–20 min including
 * pauses, lane steps and indications); 1 m correctness radius (§1.1); weak dog pinpointing (§1.2).
 * Everything else is OUR ASSUMPTION, chosen to be plausible, and is written to animals.csv so that the
 * analysis is scored against the values actually used, never against these ranges.
 */
struct pop {
	double sens_lo[AN_SIM_T_SCRAP], sens_hi[AN_SIM_T_SCRAP];
	double fa_lo, fa_hi, loc_lo, loc_hi, kd_lo, kd_hi, kt_lo, kt_hi, kh_lo, kh_hi, kf_lo, kf_hi;
	double onset_lo, onset_hi, speed_lo, speed_hi, ind_lo, ind_hi, ct_lo, ct_hi, cf_lo, cf_hi;
};
static const struct pop pop_rat = {
	.sens_lo = {0.88, 0.90, 0.85, 0.40}, .sens_hi = {0.98, 0.99, 0.97, 0.70},
	.fa_lo = 0.30, .fa_hi = 0.42, .loc_lo = 0.15, .loc_hi = 0.35,
	.kd_lo = 0.3, .kd_hi = 0.7,     /* logit per 100 mm below 100 mm */
	.kt_lo = 0.04, .kt_hi = 0.12,   /* logit per °C above 25 °C (heat hurts) */
	.kh_lo = 0.05, .kh_hi = 0.20,   /* logit per 10 % humidity above 60 % (humidity helps) */
	.kf_lo = 0.2, .kf_hi = 0.5,     /* logit per 10 min beyond the onset */
	.onset_lo = 25.0, .onset_hi = 35.0, .speed_lo = 0.28, .speed_hi = 0.42, .ind_lo = 2.0, .ind_hi = 4.0,
	.ct_lo = 0.92, .ct_hi = 0.99, .cf_lo = 0.20, .cf_hi = 0.50,
};
/* Dogs in boxes: the TSD rate 0.0055/100 m² is for free survey (§1.6); in clearance lanes we assume
 * 0.05–0.2. k_hum 0: the humidity effect is a published rat finding only. */
static const struct pop pop_dog = {
	.sens_lo = {0.85, 0.90, 0.85, 0.30}, .sens_hi = {0.97, 0.99, 0.97, 0.60},
	.fa_lo = 0.05, .fa_hi = 0.20, .loc_lo = 0.40, .loc_hi = 0.80,
	.kd_lo = 0.2, .kd_hi = 0.5, .kt_lo = 0.02, .kt_hi = 0.06, .kh_lo = 0.0, .kh_hi = 0.0,
	.kf_lo = 0.2, .kf_hi = 0.5, .onset_lo = 20.0, .onset_hi = 30.0, .speed_lo = 0.45, .speed_hi = 0.70,
	.ind_lo = 6.0, .ind_hi = 12.0, .ct_lo = 0.90, .ct_hi = 0.98, .cf_lo = 0.30, .cf_hi = 0.60,
};

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static double draw(struct an_sim_rng *r, double given, double lo, double hi)
{
	double x = an_sim_rng_uniform(r, lo, hi); /* always drawn: the stream does not depend on what is set */
	return isnan(given) ? x : given;
}

static void resolve_animal(struct an_sim_animal *a, const struct an_sim_animal_cfg *c, uint64_t seed, uint32_t i)
{
	struct an_sim_rng r;
	an_sim_rng_init(&r, seed, SIM_STREAM_ANIMAL(i));
	const struct pop *p = c->species == AN_SIM_DOG ? &pop_dog : &pop_rat;
	a->p = *c;
	a->index = i;
	for (int k = 0; k < AN_SIM_T_SCRAP; k++)
		a->p.sens[k] = draw(&r, c->sens[k], p->sens_lo[k], p->sens_hi[k]);
	a->p.sens[AN_SIM_T_SCRAP] = 0.0;
	a->p.false_per_100m2 = draw(&r, c->false_per_100m2, p->fa_lo, p->fa_hi);
	a->p.loc_sigma_m = draw(&r, c->loc_sigma_m, p->loc_lo, p->loc_hi);
	a->p.k_depth = draw(&r, c->k_depth, p->kd_lo, p->kd_hi);
	a->p.k_temp = draw(&r, c->k_temp, p->kt_lo, p->kt_hi);
	a->p.k_hum = draw(&r, c->k_hum, p->kh_lo, p->kh_hi);
	a->p.k_fatigue = draw(&r, c->k_fatigue, p->kf_lo, p->kf_hi);
	a->p.fatigue_onset_min = draw(&r, c->fatigue_onset_min, p->onset_lo, p->onset_hi);
	a->p.speed_m_s = draw(&r, c->speed_m_s, p->speed_lo, p->speed_hi);
	a->p.ind_median_s = draw(&r, c->ind_median_s, p->ind_lo, p->ind_hi);
	a->p.p_confirm_true = draw(&r, c->p_confirm_true, p->ct_lo, p->ct_hi);
	a->p.p_confirm_false = draw(&r, c->p_confirm_false, p->cf_lo, p->cf_hi);
	double cep = an_sim_rx_cep_m(c->rx), tau = an_sim_rx_tau_s(c->rx);
	a->p.cep_m = isnan(c->cep_m) ? cep : c->cep_m;
	a->p.tau_s = isnan(c->tau_s) ? tau : c->tau_s;
	/* collar mounting and sensor (motion model): slip about the neck/spine axis, noise, bias */
	a->roll_rad = an_sim_rng_uniform(&r, -0.6, 0.6);
	a->accel_noise_mg = an_sim_rng_uniform(&r, 4.0, 9.0);
	for (int k = 0; k < 3; k++)
		a->accel_bias_mg[k] = an_sim_rng_uniform(&r, -30.0, 30.0);
	/* the collar booted some minutes before the day's first use: its clock is not UTC */
	a->boot_utc_ms = -(int64_t)llround(an_sim_rng_uniform(&r, 60.0, 1800.0) * 1000.0);
}

/* ------------------------------------------------------------------ growing arrays */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	uint32_t nc = *cap ? *cap * 2u : 64u;
	if (nc > 50000000u)
		return -ENOMEM;
	void *p = realloc(*arr, (size_t)nc * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

/* ------------------------------------------------------------------ cursor: builds one animal's legs */
struct cursor {
	struct an_sim_track *tr;
	int64_t t, e, n;
	int32_t pass;
};

static int leg(struct cursor *c, int64_t t1, int64_t e1, int64_t n1, int beh)
{
	if (t1 <= c->t) { /* zero-length: teleport is never intended; keep the position */
		c->e = e1, c->n = n1;
		return 0;
	}
	struct an_sim_track *tr = c->tr;
	if (tr->n == tr->cap) {
		size_t nc = tr->cap ? tr->cap * 2 : 256;
		void *p = realloc(tr->legs, nc * sizeof *tr->legs);
		if (!p)
			return -ENOMEM;
		tr->legs = p;
		tr->cap = nc;
	}
	tr->legs[tr->n++] = (struct an_sim_leg){.t0_ms = c->t, .t1_ms = t1, .e0_mm = c->e, .n0_mm = c->n,
						.e1_mm = e1, .n1_mm = n1, .beh = (uint8_t)beh, .pass = c->pass};
	c->t = t1, c->e = e1, c->n = n1;
	return 0;
}

static int go_to(struct cursor *c, int64_t e, int64_t n, double speed_m_s, int beh)
{
	double d = hypot((double)(e - c->e), (double)(n - c->n)) / 1000.0;
	int64_t dt = (int64_t)llround(d / speed_m_s * 1000.0);
	if (dt < 1 && (e != c->e || n != c->n))
		dt = 1;
	return leg(c, c->t + dt, e, n, beh);
}

static int stay(struct cursor *c, double s, int beh)
{
	return leg(c, c->t + (int64_t)llround(s * 1000.0), c->e, c->n, beh);
}

/* ------------------------------------------------------------------ environment */
double an_sim_temp_c(const struct an_sim_world *w, int64_t utc_ms)
{
	/* sine ramp from the day's start to 7 h later (early afternoon), flat after: OUR ASSUMPTION */
	double h = (double)(utc_ms - w->day0_utc_ms - (int64_t)w->sc.start_s * 1000) / 3.6e6;
	double f = h <= 0 ? 0 : h >= 7.0 ? 1.0 : sin(SIM_PI / 2.0 * h / 7.0);
	return w->sc.temp_min_c + (w->sc.temp_max_c - w->sc.temp_min_c) * f;
}

double an_sim_hum_pct(const struct an_sim_world *w, int64_t utc_ms)
{
	double h = (double)(utc_ms - w->day0_utc_ms - (int64_t)w->sc.start_s * 1000) / 3.6e6;
	double f = h <= 0 ? 0 : h >= 7.0 ? 1.0 : sin(SIM_PI / 2.0 * h / 7.0);
	return w->sc.hum_max_pct - (w->sc.hum_max_pct - w->sc.hum_min_pct) * f;
}

bool an_sim_in_canopy(const struct an_sim_scenario *sc, int64_t e_mm, int64_t n_mm)
{
	double e = (double)e_mm / 1000.0, n = (double)n_mm / 1000.0;
	for (uint32_t i = 0; i < sc->n_canopy; i++) {
		const struct an_sim_rect *r = &sc->canopy[i];
		if (e >= r->e0_m && e <= r->e1_m && n >= r->n0_m && n <= r->n1_m)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ layout */
struct gen {
	struct an_sim_world *w;
	uint32_t n_confirm;   /* confirmation passes so far, every round (the other passes' substream numbers) */
	uint32_t n_round1;    /* first-round confirmation passes so far (their substream numbers) */
	uint32_t n_reconfirm; /* confirmation passes of later rounds so far (their substream numbers) */
	double ua_e, ua_n, uc_e, uc_n; /* layout axes: along (bearing) and across (90° clockwise) */
	char *err;
	size_t err_len;
};

static void layout_pt(const struct gen *g, double along_m, double across_m, int64_t *e, int64_t *n)
{
	*e = llround((along_m * g->ua_e + across_m * g->uc_e) * 1000.0);
	*n = llround((along_m * g->ua_n + across_m * g->uc_n) * 1000.0);
}

static int add_box(struct gen *g, const char *prefix, uint32_t num, int kind, double along0_m, double across0_m,
		   double len_m, uint32_t lane_w_mm, uint32_t lanes)
{
	struct an_sim_world *w = g->w;
	struct an_sim_box *b = &w->boxes[w->n_boxes];
	memset(b, 0, sizeof *b);
	snprintf(b->id, sizeof b->id, "%s%02u", prefix, num % 100u);
	b->kind = kind;
	double width_m = (double)lanes * lane_w_mm / 1000.0;
	struct an_geo_enu p0 = {0}, pa = {0}, pc = {0};
	layout_pt(g, along0_m, across0_m, &p0.e_mm, &p0.n_mm);
	layout_pt(g, along0_m + len_m, across0_m, &pa.e_mm, &pa.n_mm);
	layout_pt(g, along0_m, across0_m + width_m, &pc.e_mm, &pc.n_mm);
	int r = an_geo_box_init(&b->geo, &p0, &pa, &pc, lane_w_mm, lanes);
	if (r < 0) {
		seterr(g->err, g->err_len, "box %s: geometry rejected (%d)", b->id, r);
		return r;
	}
	b->area_m2 = (double)b->geo.lane_len_mm * (double)b->geo.width_mm / 1e6;
	w->n_boxes++;
	return 0;
}

static void box_pt(const struct an_sim_box *b, double along_mm, double across_mm, int64_t *e, int64_t *n)
{
	*e = b->geo.p0_e_mm + llround(along_mm * b->geo.ua_e + across_mm * b->geo.uc_e);
	*n = b->geo.p0_n_mm + llround(along_mm * b->geo.ua_n + across_mm * b->geo.uc_n);
}

#define RAT_BOX_LEN_M 5.0
#define RAT_LANE_MM 500u
#define RAT_LANES 40u
#define DOG_LANE_MM 600u
#define SAFE_LANE_M 1.0
#define BOXES_PER_ROW 10u
#define CONFIRM_SLACK_MS (2 * 60000) /* longest wait for a confirmation before other work goes first */

static int build_layout(struct gen *g)
{
	const struct an_sim_scenario *sc = &g->w->sc;
	uint32_t nb = sc->rat_boxes + sc->dog_boxes + (sc->blind_targets ? 1u : 0u);
	g->w->boxes = calloc(nb ? nb : 1, sizeof *g->w->boxes);
	if (!g->w->boxes)
		return -ENOMEM;
	double rat_w = RAT_LANES * RAT_LANE_MM / 1000.0;
	uint32_t rat_rows = (sc->rat_boxes + BOXES_PER_ROW - 1) / BOXES_PER_ROW;
	int r;
	for (uint32_t i = 0; i < sc->rat_boxes; i++) {
		double al = 2.0 + (double)(i % BOXES_PER_ROW) * (RAT_BOX_LEN_M + SAFE_LANE_M);
		double ac = 2.0 + (double)(i / BOXES_PER_ROW) * (rat_w + SAFE_LANE_M);
		if ((r = add_box(g, "R", i + 1, AN_SIM_BOX_RAT, al, ac, RAT_BOX_LEN_M, RAT_LANE_MM, RAT_LANES)) < 0)
			return r;
	}
	double dog_w = sc->dog_lanes * DOG_LANE_MM / 1000.0;
	double dog_ac0 = 2.0 + rat_rows * (rat_w + SAFE_LANE_M) + 4.0;
	for (uint32_t i = 0; i < sc->dog_boxes; i++) {
		double al = 2.0 + (double)(i % BOXES_PER_ROW) * (sc->dog_lane_len_m + SAFE_LANE_M);
		double ac = dog_ac0 + (double)(i / BOXES_PER_ROW) * (dog_w + SAFE_LANE_M);
		if ((r = add_box(g, "D", i + 1, AN_SIM_BOX_DOG, al, ac, sc->dog_lane_len_m, DOG_LANE_MM,
				 sc->dog_lanes)) < 0)
			return r;
	}
	/* accreditation box: 200 m² per rat (domain.md §1.6, §6.6) = 80 lanes of 0.5 m × 5 m, apart from the task */
	if (sc->blind_targets &&
	    (r = add_box(g, "T", 1, AN_SIM_BOX_BLIND, 2.0, -45.0, RAT_BOX_LEN_M, RAT_LANE_MM, 80u)) < 0)
		return r;
	return 0;
}

/* ------------------------------------------------------------------ targets */
static int push_target(struct an_sim_world *w, uint32_t *cap, int cls, const struct an_sim_box *b, uint32_t box,
		       double along_mm, double across_mm, int32_t depth_mm, uint32_t age_days)
{
	int r = grow((void **)&w->targets, cap, w->n_targets, sizeof *w->targets);
	if (r < 0)
		return r;
	struct an_sim_target *t = &w->targets[w->n_targets];
	t->id = w->n_targets + 1u;
	t->cls = cls;
	box_pt(b, along_mm, across_mm, &t->e_mm, &t->n_mm);
	t->depth_mm = depth_mm;
	t->age_days = age_days;
	t->box = box;
	w->n_targets++;
	return 0;
}

/* OUR ASSUMPTION, mm: AP shallow, AT deeper, UXO anywhere to 0.6 m, debris near the surface */
static const double depth_lo[AN_SIM_T_COUNT] = {20, 100, 0, 0, 0}, depth_hi[AN_SIM_T_COUNT] = {150, 300, 600, 200, 300};

void sim_depth_range(int cls, double *lo_mm, double *hi_mm)
{
	*lo_mm = depth_lo[cls];
	*hi_mm = depth_hi[cls];
}

static int depth_for(struct an_sim_rng *r, int cls)
{
	return (int)llround(an_sim_rng_uniform(r, depth_lo[cls], depth_hi[cls]));
}

static int build_targets(struct gen *g)
{
	struct an_sim_world *w = g->w;
	const struct an_sim_scenario *sc = &w->sc;
	struct an_sim_rng r, rb;
	an_sim_rng_init(&r, w->seed, SIM_STREAM_TARGETS);
	an_sim_rng_init(&rb, w->seed, SIM_STREAM_BLIND);
	uint32_t cap = 0;
	double msum = 0;
	for (int c = 0; c < AN_SIM_T_COUNT; c++)
		msum += sc->mix[c];
	for (uint32_t bi = 0; bi < w->n_boxes; bi++) {
		const struct an_sim_box *b = &w->boxes[bi];
		if (b->kind == AN_SIM_BOX_BLIND) {
			/* candidate spots on a 2 m grid, half targets half scrap distractors, all distinct */
			enum { SPOTS = 40 };
			int idx[SPOTS];
			for (int k = 0; k < SPOTS; k++)
				idx[k] = k;
			uint32_t need = 2u * sc->blind_targets;
			if (need > SPOTS)
				need = SPOTS;
			for (uint32_t k = 0; k < need; k++) {
				uint32_t j = k + an_sim_rng_u32(&rb) % (uint32_t)(SPOTS - k);
				int tmp = idx[k];
				idx[k] = idx[j], idx[j] = tmp;
				double along = (idx[k] % 2 == 0) ? 1500.0 : 3500.0;
				double across = 1000.0 + 2000.0 * (idx[k] / 2);
				int cls = k % 2 == 1 ? AN_SIM_T_SCRAP
						     : (an_sim_rng_bernoulli(&rb, 0.7) ? AN_SIM_T_AP : AN_SIM_T_AT);
				int32_t depth = (int32_t)llround(an_sim_rng_uniform(&rb, 50.0, 200.0));
				uint32_t age = (uint32_t)llround(an_sim_rng_uniform(&rb, 30.0, 365.0));
				int e = push_target(w, &cap, cls, b, bi, along, across, depth, age);
				if (e < 0)
					return e;
			}
			continue;
		}
		uint32_t n = an_sim_rng_poisson(&r, sc->density_per_100m2 * b->area_m2 / 100.0);
		uint32_t first = w->n_targets;
		for (uint32_t k = 0; k < n; k++) {
			double along = 0, across = 0;
			bool ok = false;
			for (int tries = 0; tries < 50 && !ok; tries++) {
				along = an_sim_rng_uniform(&r, 100.0, (double)b->geo.lane_len_mm - 100.0);
				across = an_sim_rng_uniform(&r, 50.0, (double)b->geo.width_mm - 50.0);
				ok = true;
				int64_t e, nn;
				box_pt(b, along, across, &e, &nn);
				for (uint32_t j = first; j < w->n_targets && ok; j++)
					ok = hypot((double)(w->targets[j].e_mm - e), (double)(w->targets[j].n_mm - nn)) >= 1000.0;
			}
			double u = an_sim_rng_unit(&r) * msum;
			int cls = 0;
			while (cls < AN_SIM_T_COUNT - 1 && u >= sc->mix[cls])
				u -= sc->mix[cls++];
			int32_t depth = depth_for(&r, cls);
			uint32_t age = (uint32_t)llround(an_sim_rng_uniform(&r, 10.0 * 365.0, 40.0 * 365.0));
			if (!ok) /* box too full for 1 m spacing: drop it (counted by its absence, dense only) */
				continue;
			int e = push_target(w, &cap, cls, b, bi, along, across, depth, age);
			if (e < 0)
				return e;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ passes */
struct job {
	uint32_t box;
	int kind;
	int dep;            /* job that must be done first, -1 none */
	int species;
	int only;           /* animal index or -1 */
	bool done, taken;
	int64_t t_end;
	int animal;
	uint32_t pass;            /* the pass it became (when done) */
	bool last_full;           /* the box's last full pass (`passes`-th): the team leader compares after it */
	uint32_t patch0, npatch;  /* confirmation: its patches in the schedule's patch list */
	uint32_t round;           /* confirmation: 1 the first, 2 the one after it, ... */
	uint32_t peg0, npeg;      /* confirmation: the disputed pegs (indices into inds) in the schedule's peg list */
};
_Static_assert(AN_SIM_ANIMALS_MAX <= 64, "a box's searchers are one bit per animal in a uint64_t");

struct actor {
	struct cursor cur;
	int64_t av;
	int64_t bout_start, bout_len;
	uint32_t bouts, bout_id;
	bool in_bout, finished;
	int64_t rest_e, rest_n;
};

struct event {
	double along_mm, across_mm;
	int32_t target; /* -1 false */
};

/* Append to a growing event list (doubling). */
static int ev_push(struct event **ev, size_t *cap, size_t *n, struct event x)
{
	if (an_array_grow((void **)ev, cap, *n, 16, sizeof **ev))
		return -ENOMEM;
	(*ev)[(*n)++] = x;
	return 0;
}

static int cmp_ev_up(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->along_mm != y->along_mm)
		return x->along_mm < y->along_mm ? -1 : 1;
	return x->target < y->target ? -1 : x->target > y->target;
}
static int cmp_ev_down(const void *a, const void *b)
{
	return cmp_ev_up(b, a);
}

static double logit(double p)
{
	p = p < 1e-9 ? 1e-9 : p > 1 - 1e-9 ? 1 - 1e-9 : p;
	return log(p / (1 - p));
}

/* The documented detection model (an/sim.h). */
double sim_p_detect_at(const struct an_sim_animal *a, int cls, double depth_mm, double temp_c, double hum_pct,
		       double bout_min)
{
	double s = a->p.sens[cls];
	if (s <= 0.0)
		return 0.0;
	double l = logit(s);
	l -= a->p.k_depth * fmax(0.0, depth_mm - 100.0) / 100.0;
	l -= a->p.k_temp * (temp_c - 25.0);
	l += a->p.k_hum * (hum_pct - 60.0) / 10.0;
	l -= a->p.k_fatigue * fmax(0.0, bout_min - a->p.fatigue_onset_min) / 10.0;
	return 1.0 / (1.0 + exp(-l));
}

static double p_detect(const struct an_sim_world *w, const struct an_sim_animal *a, const struct an_sim_target *t,
		       int64_t utc_ms, double bout_min)
{
	return sim_p_detect_at(a, t->cls, (double)t->depth_mm, an_sim_temp_c(w, utc_ms), an_sim_hum_pct(w, utc_ms),
			       bout_min);
}

/* Approach, indicate, reward, return to the lane. Appends the indication record. */
static int indicate(struct gen *g, struct cursor *c, struct an_sim_rng *r, const struct an_sim_animal *a,
		    struct an_sim_pass *ps, int64_t ie, int64_t in, int32_t target, int64_t back_e, int64_t back_n)
{
	struct an_sim_world *w = g->w;
	bool rat = a->p.species == AN_SIM_RAT;
	int e;
	if ((e = stay(c, an_sim_rng_uniform(r, 0.5, rat ? 2.0 : 3.0), AN_SIM_B_SNIFF)) < 0 ||
	    (e = go_to(c, ie, in, 0.2, AN_SIM_B_WALK)) < 0)
		return e;
	double dur = an_sim_rng_lognormal(r, a->p.ind_median_s, 0.4);
	dur = fmin(fmax(dur, 1.0), 60.0);
	int64_t onset = c->t;
	if ((e = stay(c, dur, rat ? AN_SIM_B_SCRATCH : AN_SIM_B_SIT)) < 0)
		return e;
	bool conf = an_sim_rng_bernoulli(r, target >= 0 ? a->p.p_confirm_true : a->p.p_confirm_false);
	/* handler reaction ~1 s after onset (log-normal), before the reward; confirm = short press, reject = long */
	double react = fmin(an_sim_rng_lognormal(r, 1.0, 0.4), dur + 1.5);
	double press = conf ? an_sim_rng_uniform(r, 0.12, 0.35) : an_sim_rng_uniform(r, 1.6, 2.4);
	if ((e = grow((void **)&w->inds, &w->cap_inds, w->n_inds, sizeof *w->inds)) < 0)
		return e;
	w->inds[w->n_inds] = (struct an_sim_ind){
		.id = w->n_inds + 1u, .animal = a->index, .pass = ps->id, .box = ps->box, .t_ms = onset,
		.dur_ms = (uint32_t)llround(dur * 1000.0), .beh = rat ? AN_SIM_B_SCRATCH : AN_SIM_B_SIT,
		.target = target, .e_mm = ie, .n_mm = in, .confirmed = conf,
		.press_ms = onset + (int64_t)llround(react * 1000.0), .press_len_ms = (uint32_t)llround(press * 1000.0)};
	w->n_inds++;
	if (target >= 0)
		ps->n_true++;
	else
		ps->n_false++;
	if ((e = stay(c, rat ? an_sim_rng_uniform(r, 3.0, 8.0) : an_sim_rng_uniform(r, 5.0, 12.0), AN_SIM_B_STAND)) < 0)
		return e;
	return go_to(c, back_e, back_n, 0.3, AN_SIM_B_WALK);
}

/*
 * Search one pass over box `bi`: the whole box (patches NULL: lanes boustrophedon from lane 0), or, for a
 * confirmation pass, the np patches in order, each boustrophedon from its first lane. Between patches
 * the handlers take the animal out to the safe lane at the nearer end of the lanes and walk it beside
 * the box, so the walk does not cross searched ground. A whole-box pass draws exactly what it drew before
 * patches existed (same stream, same order), so `confirm = no` reproduces the old bytes.
 */
static int gen_pass(struct gen *g, struct actor *ac, const struct an_sim_animal *a, uint32_t bi, int kind,
		    uint32_t round, const struct an_sim_patch *patches, uint32_t np)
{
	struct an_sim_world *w = g->w;
	const struct an_sim_box *b = &w->boxes[bi];
	int e;
	if ((e = grow((void **)&w->passes, &w->cap_passes, w->n_passes, sizeof *w->passes)) < 0)
		return e;
	uint32_t pid = w->n_passes++;
	struct an_sim_pass *ps = &w->passes[pid];
	double L = (double)b->geo.lane_len_mm, wl = (double)b->geo.lane_width_mm;
	struct an_sim_patch whole = {pid, bi, 0, b->geo.lane_count, 0, b->geo.lane_len_mm};
	double area_m2 = b->area_m2;
	if (patches) {
		area_m2 = 0;
		for (uint32_t i = 0; i < np; i++)
			area_m2 += (double)patches[i].lanes * wl * (double)(patches[i].along1_mm - patches[i].along0_mm) / 1e6;
	} else {
		patches = &whole;
		np = 1;
	}
	*ps = (struct an_sim_pass){.id = pid, .animal = a->index, .box = bi, .bout = ac->bout_id, .kind = kind,
				   .t0_ms = ac->cur.t, .area_m2 = area_m2, .temp_c = an_sim_temp_c(w, ac->cur.t),
				   .hum_pct = an_sim_hum_pct(w, ac->cur.t),
				   .round = kind == AN_SIM_PASS_CONFIRM ? round : 0};
	/* confirmation passes draw from their own substreams, numbered apart, so that the other passes keep
	 * the stream they would have without them; later rounds apart again, so that the first round's k-th
	 * pass draws what it drew with one round */
	struct an_sim_rng r;
	if (kind == AN_SIM_PASS_CONFIRM) {
		g->n_confirm++;
		an_sim_rng_init(&r, w->seed, round > 1 ? SIM_STREAM_RECONFIRM(g->n_reconfirm++)
						      : SIM_STREAM_CONFIRM(g->n_round1++));
	} else
		an_sim_rng_init(&r, w->seed, SIM_STREAM_PASS(pid - g->n_confirm));
	struct cursor *c = &ac->cur;
	c->pass = (int32_t)pid;
	bool rat = a->p.species == AN_SIM_RAT;
	/* this box's targets with their lane, once per pass */
	struct event *ev = NULL, *bt = NULL;
	size_t ev_cap = 0, nbt = 0;
	for (uint32_t ti = 0; ti < w->n_targets; ti++)
		nbt += w->targets[ti].box == bi;
	bt = calloc(nbt ? nbt : 1, sizeof *bt);
	int32_t *bt_lane = calloc(nbt ? nbt : 1, sizeof *bt_lane);
	if (!bt || !bt_lane) {
		e = -ENOMEM;
		goto out;
	}
	nbt = 0;
	for (uint32_t ti = 0; ti < w->n_targets; ti++) {
		const struct an_sim_target *t = &w->targets[ti];
		if (t->box != bi)
			continue;
		struct an_geo_box_pos bp;
		if ((e = an_geo_box_locate(&b->geo, t->e_mm, t->n_mm, 0, &bp)) < 0)
			goto out;
		bt[nbt] = (struct event){(double)bp.along_mm, (double)bp.across_mm, (int32_t)ti};
		bt_lane[nbt++] = bp.lane;
	}
	for (uint32_t pi = 0; pi < np; pi++) {
		const struct an_sim_patch *pt = &patches[pi];
		double a0 = (double)pt->along0_mm, a1 = (double)pt->along1_mm;
		double lane_m2 = (a1 - a0) * wl / 1e6;
		if (patches != &whole) {
			if ((e = grow((void **)&w->patches, &w->cap_patches, w->n_patches, sizeof *w->patches)) < 0)
				goto out;
			w->patches[w->n_patches] = *pt;
			w->patches[w->n_patches++].pass = pid;
			if (pi > 0) { /* out of the last patch to the safe lane, along it, in beside this one */
				double side = a0 + a1 > L ? L + 500.0 : -500.0;
				int64_t se, sn;
				box_pt(b, side, ((double)pt->lane0 + 0.5) * wl, &se, &sn);
				int64_t xe, xn;
				struct an_geo_box_pos here;
				if ((e = an_geo_box_locate(&b->geo, c->e, c->n, 0, &here)) < 0)
					goto out;
				box_pt(b, side, (double)here.across_mm, &xe, &xn);
				if ((e = go_to(c, xe, xn, 0.3, AN_SIM_B_WALK)) < 0 ||
				    (e = go_to(c, se, sn, 0.5, AN_SIM_B_WALK)) < 0)
					goto out;
			}
		}
		for (uint32_t k = pt->lane0; k < pt->lane0 + pt->lanes; k++) {
			size_t nev = 0;
			for (size_t i = 0; i < nbt; i++) {
				if (bt_lane[i] != (int32_t)k || bt[i].along_mm < a0 || bt[i].along_mm > a1)
					continue;
				if ((e = ev_push(&ev, &ev_cap, &nev, bt[i])) < 0)
					goto out;
			}
			uint32_t nf = an_sim_rng_poisson(&r, a->p.false_per_100m2 * lane_m2 / 100.0);
			for (uint32_t f = 0; f < nf; f++) {
				double al = an_sim_rng_uniform(&r, a0, a1);
				double acr = an_sim_rng_uniform(&r, (double)k * wl, (double)(k + 1) * wl);
				if ((e = ev_push(&ev, &ev_cap, &nev, (struct event){al, acr, -1})) < 0)
					goto out;
			}
			bool up = (k - pt->lane0) % 2 == 0;
			if (nev > 1)
				qsort(ev, nev, sizeof *ev, up ? cmp_ev_up : cmp_ev_down);
			double centre = ((double)k + 0.5) * wl;
			double pos = up ? a0 : a1, end = up ? a1 : a0;
			int64_t pe, pn;
			/* step to this lane (handlers' sideways step): the animal drifts across while they move */
			box_pt(b, pos, centre, &pe, &pn);
			bool first = k == pt->lane0;
			if (!first && (e = go_to(c, pe, pn, rat ? 0.2 : 0.25, AN_SIM_B_WALK)) < 0)
				goto out;
			if (!first && an_sim_rng_bernoulli(&r, 0.3) &&
			    (e = stay(c, an_sim_rng_uniform(&r, 1.0, 3.0), AN_SIM_B_STAND)) < 0)
				goto out;
			if (first && (e = go_to(c, pe, pn, 0.3, AN_SIM_B_WALK)) < 0)
				goto out;
			for (size_t i = 0; i <= nev; i++) {
				double stop = i < nev ? ev[i].along_mm : end;
				/* walk to `stop` in chunks, zig-zagging inside the lane, with sniff pauses */
				while (up ? pos < stop : pos > stop) {
					double step = an_sim_rng_uniform(&r, 400.0, 1200.0);
					pos = up ? fmin(stop, pos + step) : fmax(stop, pos - step);
					double zig = an_sim_rng_uniform(&r, -0.3, 0.3) * wl;
					box_pt(b, pos, centre + zig, &pe, &pn);
					double v = a->p.speed_m_s * an_sim_rng_lognormal(&r, 1.0, 0.25);
					if ((e = go_to(c, pe, pn, v, AN_SIM_B_WALK)) < 0)
						goto out;
					double u = an_sim_rng_unit(&r);
					if (u < (rat ? 0.20 : 0.15))
						e = stay(c, an_sim_rng_uniform(&r, 0.5, 2.0), AN_SIM_B_SNIFF);
					else if (u < (rat ? 0.23 : 0.17))
						e = stay(c, an_sim_rng_uniform(&r, 1.0, 3.0), AN_SIM_B_STAND);
					else if (u < (rat ? 0.233 : 0.175))
						e = stay(c, rat ? an_sim_rng_uniform(&r, 0.3, 0.7) : an_sim_rng_uniform(&r, 0.8, 1.6),
							 AN_SIM_B_SHAKE);
					if (e < 0)
						goto out;
				}
				if (i == nev)
					break;
				int64_t ie, in;
				int32_t tgt = ev[i].target;
				if (tgt >= 0) {
					const struct an_sim_target *t = &w->targets[tgt];
					double bout_min = (double)(c->t - ac->bout_start) / 60000.0;
					double p = p_detect(w, a, t, c->t, bout_min);
					bool hit = an_sim_rng_bernoulli(&r, p);
					if ((e = grow((void **)&w->exps, &w->cap_exps, w->n_exps, sizeof *w->exps)) < 0)
						goto out;
					w->exps[w->n_exps++] = (struct an_sim_exposure){(uint32_t)tgt, pid, a->index, c->t, p, hit};
					/* localisation error is drawn either way, so the stream does not fork on hit */
					double oe = an_sim_rng_normal(&r) * a->p.loc_sigma_m * 1000.0;
					double on = an_sim_rng_normal(&r) * a->p.loc_sigma_m * 1000.0;
					if (!hit)
						continue;
					ie = t->e_mm + llround(oe);
					in = t->n_mm + llround(on);
				} else {
					box_pt(b, ev[i].along_mm, ev[i].across_mm, &ie, &in);
				}
				if ((e = indicate(g, c, &r, a, ps, ie, in, tgt, c->e, c->n)) < 0)
					goto out;
			}
		}
	}
	ps->t1_ms = c->t;
	c->pass = -1;
	e = 0;
out:
	free(ev);
	free(bt);
	free(bt_lane);
	return e;
}

/* ------------------------------------------------------------------ schedule */
static void box_entry(const struct an_sim_box *b, int64_t *e, int64_t *n)
{
	box_pt(b, 0.0, (double)b->geo.lane_width_mm / 2.0, e, n);
}

/* Where the animal waits before a job: the box's entry, or for a confirmation the safe lane beside the
 * first patch (at the nearer end of its lanes), so the walk in crosses as little unsearched ground as can be. */
static void job_entry(const struct an_sim_world *w, const struct job *jb, const struct an_sim_patch *cp, int64_t *e,
		      int64_t *n)
{
	const struct an_sim_box *b = &w->boxes[jb->box];
	if (jb->kind != AN_SIM_PASS_CONFIRM) {
		box_entry(b, e, n);
		return;
	}
	const struct an_sim_patch *p = &cp[jb->patch0];
	double L = (double)b->geo.lane_len_mm;
	double side = (double)(p->along0_mm + p->along1_mm) > L ? L + 500.0 : -500.0;
	box_pt(b, side, ((double)p->lane0 + 0.5) * (double)b->geo.lane_width_mm, e, n);
}

static int cmp_patch(const void *a, const void *b)
{
	const struct an_sim_patch *x = a, *y = b;
	if (x->lane0 != y->lane0)
		return x->lane0 < y->lane0 ? -1 : 1;
	return x->along0_mm < y->along0_mm ? -1 : x->along0_mm > y->along0_mm;
}

/* The schedule's lists behind its confirmation jobs: their patches and their disputed pegs. */
struct confirm_lists {
	struct an_sim_patch *patch;
	uint32_t n_patch, cap_patch;
	uint32_t *peg; /* indices into w->inds */
	uint32_t n_peg, cap_peg;
};

/*
 * Append the confirmation job of box `bi` over the disputed pegs cl->peg[peg0 .. n_peg): each peg gets a
 * patch of the box's lanes centred on it (clamped inside the box), overlapping patches merge into their
 * bounding patch, and the job searches them in lane order after job `dep`, by an animal of `species` that
 * has not searched the box yet (build_schedule).
 */
static int push_confirm_job(struct gen *g, struct job *jobs, size_t *nj, uint32_t bi, int dep, int species,
			    uint32_t round, struct confirm_lists *cl, uint32_t peg0)
{
	const struct an_sim_world *w = g->w;
	const struct an_sim_scenario *sc = &w->sc;
	const struct an_sim_box *b = &w->boxes[bi];
	bool dog_box = b->kind == AN_SIM_BOX_DOG;
	uint32_t nl = dog_box ? sc->confirm_dog_lanes : sc->confirm_rat_lanes;
	double len = (dog_box ? sc->confirm_dog_len_m : sc->confirm_rat_len_m) * 1000.0;
	if (nl > b->geo.lane_count)
		nl = b->geo.lane_count;
	double L = (double)b->geo.lane_len_mm, wl = (double)b->geo.lane_width_mm;
	if (len > L)
		len = L;
	uint32_t first = cl->n_patch;
	for (uint32_t k = peg0; k < cl->n_peg; k++) {
		const struct an_sim_ind *d = &w->inds[cl->peg[k]];
		struct an_geo_box_pos bp;
		int e = an_geo_box_locate(&b->geo, d->e_mm, d->n_mm, 0, &bp);
		if (e < 0)
			return e;
		double al = fmin(fmax((double)bp.along_mm, 0.0), L);
		double x = fmin(fmax((double)bp.across_mm, 0.0), (double)b->geo.width_mm) / wl;
		double l0 = fmin(fmax(floor(x - (double)nl / 2.0 + 0.5), 0.0), (double)(b->geo.lane_count - nl));
		int64_t a0 = llround(fmin(fmax(al - len / 2.0, 0.0), L - len));
		if ((e = grow((void **)&cl->patch, &cl->cap_patch, cl->n_patch, sizeof *cl->patch)) < 0)
			return e;
		cl->patch[cl->n_patch++] = (struct an_sim_patch){0, bi, (uint32_t)l0, nl, a0, a0 + llround(len)};
	}
	/* merge overlapping patches (a target must not be searched twice in one pass, nor ground counted twice) */
	for (bool merged = true; merged;) {
		merged = false;
		for (uint32_t i = first; i < cl->n_patch && !merged; i++)
			for (uint32_t k = i + 1; k < cl->n_patch && !merged; k++) {
				struct an_sim_patch *p = &cl->patch[i], *q = &cl->patch[k];
				/* lanes are whole, so sharing none is apart; along the lanes a shared edge is not (an
				 * item on it would be met twice) */
				if (p->lane0 >= q->lane0 + q->lanes || q->lane0 >= p->lane0 + p->lanes ||
				    p->along0_mm > q->along1_mm || q->along0_mm > p->along1_mm)
					continue;
				uint32_t l0 = p->lane0 < q->lane0 ? p->lane0 : q->lane0;
				uint32_t l1 = p->lane0 + p->lanes > q->lane0 + q->lanes ? p->lane0 + p->lanes : q->lane0 + q->lanes;
				p->lane0 = l0, p->lanes = l1 - l0;
				p->along0_mm = p->along0_mm < q->along0_mm ? p->along0_mm : q->along0_mm;
				p->along1_mm = p->along1_mm > q->along1_mm ? p->along1_mm : q->along1_mm;
				cl->patch[k] = cl->patch[--cl->n_patch];
				merged = true;
			}
	}
	qsort(&cl->patch[first], cl->n_patch - first, sizeof *cl->patch, cmp_patch);
	jobs[(*nj)++] = (struct job){.box = bi, .kind = AN_SIM_PASS_CONFIRM, .dep = dep, .species = species,
				     .only = -1, .animal = -1, .patch0 = first, .npatch = cl->n_patch - first,
				     .round = round, .peg0 = peg0, .npeg = cl->n_peg - peg0};
	return 0;
}

/* The animals a confirmation could go to: those not in `busy` (bit = animal index; AN_SIM_ANIMALS_MAX is
 * 64), counted of `species` and of the other species. */
static void free_animals(const struct an_sim_world *w, uint64_t busy, int species, uint32_t *same, uint32_t *others)
{
	*same = *others = 0;
	for (uint32_t i = 0; i < w->n_animals; i++) {
		if (busy >> i & 1u)
			continue;
		*same += w->animals[i].p.species == species;
		*others += w->animals[i].p.species != species;
	}
}

/* Whether pass `p` is one of the n full passes fp[]. */
static bool is_full_pass(const uint32_t *fp, uint32_t n, uint32_t p)
{
	for (uint32_t i = 0; i < n; i++)
		if (fp[i] == p)
			return true;
	return false;
}

/*
 * The team leader's comparison after the last full pass of a box (job `last`, kind second, whose dep chain
 * is the box's earlier full passes down to the primary): every peg (indication position, what the team
 * sees on the ground) of one of the full passes with no peg of ANOTHER full pass of the box within
 * confirm_radius_m is disputed, and one confirmation job (round 1) searches a patch about each. The
 * confirming animal is none of the full passes' animals: one of the box's species if the scenario has one
 * left, else one of the other species (README: why). Appends the job (and its pegs and patches to *cl) or
 * nothing when nothing is disputed or no animal could confirm.
 */
static int add_confirm(struct gen *g, struct job *jobs, size_t *nj, size_t last, struct confirm_lists *cl)
{
	const struct an_sim_world *w = g->w;
	const struct an_sim_scenario *sc = &w->sc;
	const struct job *jl = &jobs[last];
	const struct an_sim_box *b = &w->boxes[jl->box];
	bool dog_box = b->kind == AN_SIM_BOX_DOG;
	int species = dog_box ? AN_SIM_DOG : AN_SIM_RAT, other = dog_box ? AN_SIM_RAT : AN_SIM_DOG;
	uint32_t fp[AN_SIM_PASSES_MAX], nfp = 0; /* the box's full passes */
	uint64_t busy = 0;
	for (int d = (int)last; d >= 0 && nfp < AN_SIM_PASSES_MAX; d = jobs[d].dep) {
		fp[nfp++] = jobs[d].pass;
		busy |= jobs[d].animal >= 0 ? UINT64_C(1) << jobs[d].animal : 0;
	}
	uint32_t same, others;
	free_animals(w, busy, species, &same, &others);
	if (!same && !others)
		return 0;
	double r2 = sc->confirm_radius_m * 1000.0 * sc->confirm_radius_m * 1000.0;
	uint32_t peg0 = cl->n_peg;
	for (uint32_t i = 0; i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		if (!is_full_pass(fp, nfp, d->pass))
			continue;
		bool agreed = false;
		for (uint32_t k = 0; k < w->n_inds && !agreed; k++) {
			const struct an_sim_ind *o = &w->inds[k];
			double de = (double)(o->e_mm - d->e_mm), dn = (double)(o->n_mm - d->n_mm);
			agreed = o->pass != d->pass && is_full_pass(fp, nfp, o->pass) && de * de + dn * dn <= r2;
		}
		if (agreed)
			continue;
		int e = grow((void **)&cl->peg, &cl->cap_peg, cl->n_peg, sizeof *cl->peg);
		if (e < 0)
			return e;
		cl->peg[cl->n_peg++] = i;
	}
	if (cl->n_peg == peg0)
		return 0;
	return push_confirm_job(g, jobs, nj, jl->box, (int)last, same ? species : other, 1, cl, peg0);
}

/*
 * The comparison after confirmation job `conf` (round r, done): each of its disputed pegs that still has no
 * peg of another animal within confirm_radius_m (the confirming animal's, or any other pass's in the box)
 * stays disputed, and gets one more confirmation job (round r + 1, confirm_rounds at most) by an animal
 * that has not searched the box yet: of the box's species if the scenario has one left, else of the other
 * species, as add_confirm chooses (domain.md §1.1: "handlers run many rats over each row in case the first
 * one misses a mine"). Only the pegs in dispute before: a peg the confirming animal alone made is not
 * another round's. Appends the job or nothing when every peg is settled or no animal is left.
 */
static int add_reconfirm(struct gen *g, struct job *jobs, size_t *nj, size_t conf, struct confirm_lists *cl)
{
	const struct an_sim_world *w = g->w;
	const struct an_sim_scenario *sc = &w->sc;
	const struct job *jc = &jobs[conf];
	bool dog_box = w->boxes[jc->box].kind == AN_SIM_BOX_DOG;
	int species = dog_box ? AN_SIM_DOG : AN_SIM_RAT, other = dog_box ? AN_SIM_RAT : AN_SIM_DOG;
	uint64_t searched = 0; /* primary, second, QC, the confirmations: none of them may take the job */
	for (uint32_t i = 0; i < w->n_passes; i++)
		if (w->passes[i].box == jc->box)
			searched |= UINT64_C(1) << w->passes[i].animal;
	uint32_t same, others;
	free_animals(w, searched, species, &same, &others);
	if (!same && !others)
		return 0;
	double r2 = sc->confirm_radius_m * 1000.0 * sc->confirm_radius_m * 1000.0;
	uint32_t peg0 = cl->n_peg;
	for (uint32_t k = jc->peg0; k < jc->peg0 + jc->npeg; k++) {
		const struct an_sim_ind *d = &w->inds[cl->peg[k]];
		bool settled = false;
		for (uint32_t i = 0; i < w->n_inds && !settled; i++) {
			const struct an_sim_ind *o = &w->inds[i];
			double de = (double)(o->e_mm - d->e_mm), dn = (double)(o->n_mm - d->n_mm);
			settled = o->box == d->box && o->animal != d->animal && de * de + dn * dn <= r2;
		}
		if (settled)
			continue;
		int e = grow((void **)&cl->peg, &cl->cap_peg, cl->n_peg, sizeof *cl->peg);
		if (e < 0)
			return e;
		cl->peg[cl->n_peg++] = cl->peg[k];
	}
	if (cl->n_peg == peg0)
		return 0;
	return push_confirm_job(g, jobs, nj, jc->box, (int)conf, same ? species : other, jc->round + 1, cl,
				peg0);
}

static double transit_speed(const struct an_sim_animal *a, double dist_m)
{
	return a->p.species == AN_SIM_DOG && dist_m > 15.0 ? 1.8 : a->p.species == AN_SIM_DOG ? 1.0 : 0.5;
}

static int transit(struct actor *ac, const struct an_sim_animal *a, int64_t e, int64_t n)
{
	double d = hypot((double)(e - ac->cur.e), (double)(n - ac->cur.n)) / 1000.0;
	int beh = a->p.species == AN_SIM_DOG && d > 15.0 ? AN_SIM_B_TROT : AN_SIM_B_WALK;
	return go_to(&ac->cur, e, n, transit_speed(a, d), beh);
}

static int64_t transit_ms(const struct actor *ac, const struct an_sim_animal *a, int64_t e, int64_t n)
{
	double d = hypot((double)(e - ac->cur.e), (double)(n - ac->cur.n)) / 1000.0;
	return (int64_t)llround(d / transit_speed(a, d) * 1000.0);
}

static int end_bout(struct gen *g, struct actor *ac, const struct an_sim_animal *a)
{
	const struct an_sim_scenario *sc = &g->w->sc;
	int e;
	if ((e = transit(ac, a, ac->rest_e, ac->rest_n)) < 0)
		return e;
	ac->in_bout = false;
	ac->bouts++;
	bool last = a->p.species == AN_SIM_RAT && ac->bouts >= sc->rat_bouts;
	double rest_min = last ? 5.0 : a->p.species == AN_SIM_RAT ? sc->rat_rest_min : sc->dog_rest_min;
	if ((e = stay(&ac->cur, rest_min * 60.0, AN_SIM_B_REST)) < 0)
		return e;
	ac->av = ac->cur.t;
	ac->finished = last;
	return 0;
}

static int finish(struct gen *g, struct actor *ac, const struct an_sim_animal *a)
{
	int e;
	if (ac->in_bout) {
		if ((e = transit(ac, a, ac->rest_e, ac->rest_n)) < 0)
			return e;
		ac->in_bout = false;
		if ((e = stay(&ac->cur, 300.0, AN_SIM_B_REST)) < 0)
			return e;
	}
	(void)g;
	ac->finished = true;
	return 0;
}

static int build_schedule(struct gen *g)
{
	struct an_sim_world *w = g->w;
	const struct an_sim_scenario *sc = &w->sc;
	struct an_sim_rng r;
	an_sim_rng_init(&r, w->seed, SIM_STREAM_SCHEDULE);
	int e = 0;
	/* per box: `passes` full passes, QC and one confirmation job per round */
	size_t njobs_max = (size_t)w->n_boxes * (sc->passes + 1u + sc->confirm_rounds) + w->n_animals;
	struct confirm_lists clist = {0}; /* patches and disputed pegs of all confirmation jobs */
	struct job *jobs = calloc(njobs_max, sizeof *jobs);
	struct actor *acs = calloc(w->n_animals, sizeof *acs);
	if (!jobs || !acs) {
		e = -ENOMEM;
		goto out;
	}
	size_t nj = 0;
	for (uint32_t i = 0; i < w->n_animals; i++)
		if (w->animals[i].p.blind && w->animals[i].p.species == AN_SIM_RAT)
			for (uint32_t b = 0; b < w->n_boxes; b++)
				if (w->boxes[b].kind == AN_SIM_BOX_BLIND)
					jobs[nj++] = (struct job){.box = b, .kind = AN_SIM_PASS_BLIND, .dep = -1,
								  .species = AN_SIM_RAT, .only = (int)i, .animal = -1};
	size_t first_rat = nj;
	for (uint32_t b = 0; b < w->n_boxes; b++)
		if (w->boxes[b].kind != AN_SIM_BOX_BLIND)
			jobs[nj++] = (struct job){.box = b, .kind = AN_SIM_PASS_PRIMARY, .dep = -1,
						  .species = w->boxes[b].kind == AN_SIM_BOX_DOG ? AN_SIM_DOG : AN_SIM_RAT,
						  .only = -1, .animal = -1};
	size_t nprim = nj, ntask = nprim - first_rat;
	/* the full passes after the primary, each by another animal after the one before it (all kind second:
	 * the same job, scheduled and stored alike); `passes = 2` lays out the jobs exactly as before the key */
	size_t layer = first_rat; /* the first job of the previous full pass */
	for (uint32_t p = 2; p <= sc->passes; p++, layer += ntask)
		for (size_t j = 0; j < ntask; j++)
			jobs[nj++] = (struct job){.box = jobs[first_rat + j].box, .kind = AN_SIM_PASS_SECOND,
						  .dep = (int)(layer + j), .species = jobs[first_rat + j].species,
						  .only = -1, .animal = -1, .last_full = p == sc->passes};
	/* QC after the box's last full pass */
	for (size_t j = first_rat; j < nprim; j++)
		if (jobs[j].species == AN_SIM_RAT && an_sim_rng_bernoulli(&r, sc->qc_fraction))
			jobs[nj++] = (struct job){.box = jobs[j].box, .kind = AN_SIM_PASS_QC,
						  .dep = (int)(layer + (j - first_rat)), .species = AN_SIM_RAT,
						  .only = -1, .animal = -1};
	int64_t *box_free = calloc(w->n_boxes ? w->n_boxes : 1, sizeof *box_free);
	/* per box, the animals that have searched it (bit = index): no animal searches a box twice, so that the
	 * QC pass and every confirmation are another animal's (the blind box excepted: one test per rat) */
	uint64_t *box_searched = calloc(w->n_boxes ? w->n_boxes : 1, sizeof *box_searched);
	if (!box_free || !box_searched) {
		e = -ENOMEM;
		goto free_box;
	}
	int64_t start = w->day0_utc_ms + (int64_t)sc->start_s * 1000;
	int64_t day_end = start + (int64_t)sc->day_len_s * 1000;
	for (uint32_t i = 0; i < w->n_animals; i++) {
		struct actor *ac = &acs[i];
		struct an_sim_animal *a = &w->animals[i];
		/* rest/kennel spot beside the task, one per animal */
		layout_pt(g, -8.0, 2.0 + 1.5 * i, &ac->rest_e, &ac->rest_n);
		ac->av = start + (int64_t)i * 240000;
		a->on_utc_ms = ac->av - 300000;
		a->boot_utc_ms += a->on_utc_ms;
		ac->cur = (struct cursor){&w->tracks[i], a->on_utc_ms, ac->rest_e, ac->rest_n, -1};
		if ((e = leg(&ac->cur, ac->av, ac->rest_e, ac->rest_n, AN_SIM_B_REST)) < 0)
			goto free_box;
	}
	for (;;) {
		int ai = -1;
		for (uint32_t i = 0; i < w->n_animals; i++)
			if (!acs[i].finished && (ai < 0 || acs[i].av < acs[ai].av))
				ai = (int)i;
		if (ai < 0)
			break;
		struct actor *ac = &acs[ai];
		const struct an_sim_animal *a = &w->animals[ai];
		int64_t margin = 5 * 60000;
		if (ac->av >= day_end) {
			if ((e = finish(g, ac, a)) < 0)
				goto free_box;
			continue;
		}
		if (ac->in_bout && ac->av - ac->bout_start >= ac->bout_len - margin) {
			if ((e = end_bout(g, ac, a)) < 0)
				goto free_box;
			continue;
		}
		/* candidates by class: 0 the day's work, 1 a confirmation by the box's own team, 2 the accreditation
		 * test (before the day's work); the earliest start in each class */
		int cbest[3] = {-1, -1, -1};
		int64_t cstart[3] = {0, 0, 0};
		bool possible = false;
		for (size_t j = 0; j < nj; j++) {
			struct job *jb = &jobs[j];
			if (jb->done || jb->species != a->p.species || (jb->only >= 0 && jb->only != ai))
				continue;
			bool excluded = false;
			for (int d = jb->dep; d >= 0; d = jobs[d].dep)
				if (jobs[d].animal == ai)
					excluded = true;
			if (jb->kind != AN_SIM_PASS_BLIND && (box_searched[jb->box] >> ai & 1u))
				excluded = true;
			if (excluded)
				continue;
			possible = true;
			if (jb->dep >= 0 && !jobs[jb->dep].done)
				continue;
			int64_t ee, en;
			job_entry(w, jb, clist.patch, &ee, &en);
			int64_t s = ac->av + transit_ms(ac, a, ee, en);
			if (box_free[jb->box] > s)
				s = box_free[jb->box];
			if (jb->dep >= 0 && jobs[jb->dep].t_end > s)
				s = jobs[jb->dep].t_end;
			bool own = jb->species == (w->boxes[jb->box].kind == AN_SIM_BOX_DOG ? AN_SIM_DOG : AN_SIM_RAT);
			int cl = jb->kind == AN_SIM_PASS_BLIND ? 2 : jb->kind == AN_SIM_PASS_CONFIRM && own ? 1 : 0;
			if (cbest[cl] < 0 || s < cstart[cl])
				cbest[cl] = (int)j, cstart[cl] = s;
		}
		/* The team leader closes the boxes in hand before opening another: a confirmation by the box's own
		 * team goes first, unless the animal would stand waiting for it (its second pass still running)
		 * longer than CONFIRM_SLACK_MS past the start of other work. An animal borrowed from the other
		 * species' team confirms when it has nothing earlier of its own (class 0). */
		int cl = cbest[2] >= 0 ? 2
			 : cbest[1] >= 0 && (cbest[0] < 0 || cstart[1] <= cstart[0] + CONFIRM_SLACK_MS) ? 1
											       : 0;
		int best = cbest[cl];
		int64_t best_start = cstart[cl];
		if (best < 0) {
			if (!possible) {
				if ((e = finish(g, ac, a)) < 0)
					goto free_box;
			} else if (ac->in_bout) {
				if ((e = end_bout(g, ac, a)) < 0)
					goto free_box;
			} else if ((e = stay(&ac->cur, 300.0, AN_SIM_B_REST)) < 0) {
				goto free_box;
			} else {
				ac->av = ac->cur.t;
			}
			continue;
		}
		struct job *jb = &jobs[best];
		int64_t ee, en;
		job_entry(w, jb, clist.patch, &ee, &en);
		int64_t tt = transit_ms(ac, a, ee, en);
		if (best_start - ac->av - tt > 20 * 60000) { /* long wait: rest instead of standing at the box */
			if (ac->in_bout) {
				e = end_bout(g, ac, a);
			} else {
				e = stay(&ac->cur, (double)(best_start - tt - ac->av) / 1000.0, AN_SIM_B_REST);
				ac->av = ac->cur.t;
			}
			if (e < 0)
				goto free_box;
			continue;
		}
		if (!ac->in_bout) {
			if (best_start >= day_end) {
				if ((e = finish(g, ac, a)) < 0)
					goto free_box;
				continue;
			}
			ac->in_bout = true;
			ac->bout_id = ac->bouts;
			ac->bout_start = ac->av;
			double len_min = a->p.species == AN_SIM_RAT
						 ? sc->rat_bout_min
						 : an_sim_rng_uniform(&r, sc->dog_bout_min_lo, sc->dog_bout_min_hi);
			ac->bout_len = (int64_t)llround(len_min * 60000.0);
			/* out of the carrier / kennel: animals often shake first */
			if (an_sim_rng_bernoulli(&r, 0.3) &&
			    (e = stay(&ac->cur, a->p.species == AN_SIM_RAT ? 0.5 : 1.2, AN_SIM_B_SHAKE)) < 0)
				goto free_box;
		}
		if ((e = transit(ac, a, ee, en)) < 0)
			goto free_box;
		if (best_start > ac->cur.t && (e = leg(&ac->cur, best_start, ee, en, AN_SIM_B_STAND)) < 0)
			goto free_box;
		if ((e = gen_pass(g, ac, a, jb->box, jb->kind, jb->round,
				  jb->kind == AN_SIM_PASS_CONFIRM ? &clist.patch[jb->patch0] : NULL, jb->npatch)) < 0)
			goto free_box;
		jb->done = true;
		jb->animal = ai;
		jb->t_end = ac->cur.t;
		jb->pass = w->n_passes - 1u;
		if (sc->confirm && jb->kind == AN_SIM_PASS_SECOND && jb->last_full &&
		    (e = add_confirm(g, jobs, &nj, (size_t)best, &clist)) < 0)
			goto free_box;
		if (jb->kind == AN_SIM_PASS_CONFIRM && jb->round < sc->confirm_rounds &&
		    (e = add_reconfirm(g, jobs, &nj, (size_t)best, &clist)) < 0)
			goto free_box;
		box_free[jb->box] = ac->cur.t + 60000;
		box_searched[jb->box] |= UINT64_C(1) << ai;
		ac->av = ac->cur.t;
	}
	for (uint32_t i = 0; i < w->n_animals; i++)
		w->animals[i].off_utc_ms = acs[i].cur.t;
free_box:
	free(box_free);
	free(box_searched);
out:
	free(clist.patch);
	free(clist.peg);
	free(jobs);
	free(acs);
	return e;
}

/* ------------------------------------------------------------------ public */
void an_sim_world_free(struct an_sim_world *w)
{
	if (!w)
		return;
	if (w->tracks)
		for (uint32_t i = 0; i < w->n_animals; i++)
			free(w->tracks[i].legs);
	free(w->tracks);
	free(w->animals);
	free(w->boxes);
	free(w->targets);
	free(w->passes);
	free(w->inds);
	free(w->exps);
	free(w->patches);
	free(w->hist);
	free(w->rec);
	memset(w, 0, sizeof *w);
}

int an_sim_world_build(struct an_sim_world *w, const struct an_sim_scenario *sc, uint64_t seed, char *err,
		       size_t err_len)
{
	if (!w || !sc)
		return -EINVAL;
	memset(w, 0, sizeof *w);
	w->sc = *sc;
	w->seed = seed;
	struct gen g = {.w = w, .err = err, .err_len = err_len};
	int e;
	if (sc->n_animals == 0) {
		seterr(err, err_len, "scenario has no [animal NAME] section");
		return -EINVAL;
	}
	if (sc->n_animals > AN_SIM_ANIMALS_MAX || sc->rat_boxes + sc->dog_boxes + 1u > AN_SIM_BOXES_MAX) {
		seterr(err, err_len, "too many animals or boxes");
		return -EINVAL;
	}
	if (sc->dog_lanes == 0 || !(sc->dog_lane_len_m > 0.0) || sc->temp_max_c < sc->temp_min_c ||
	    sc->hum_max_pct < sc->hum_min_pct || sc->dog_bout_min_hi < sc->dog_bout_min_lo) {
		seterr(err, err_len, "inconsistent scenario (dog lanes, temperature/humidity/bout ranges)");
		return -EINVAL;
	}
	if (sc->passes < AN_SIM_PASSES_MIN || sc->passes > AN_SIM_PASSES_MAX) {
		seterr(err, err_len, "[layout] passes = %u outside %u..%u", sc->passes, AN_SIM_PASSES_MIN,
		       AN_SIM_PASSES_MAX);
		return -EINVAL;
	}
	uint32_t blind = 0;
	for (uint32_t i = 0; i < sc->n_animals; i++) {
		const struct an_sim_animal_cfg *c = &sc->animals[i];
		if (c->species != AN_SIM_RAT && c->species != AN_SIM_DOG) {
			seterr(err, err_len, "animal %s: bad species", c->name);
			return -EINVAL;
		}
		if (c->rx < 0 || c->rx >= AN_SIM_RX_COUNT) {
			seterr(err, err_len, "animal %s: bad receiver class", c->name);
			return -EINVAL;
		}
		if (c->blind && c->species != AN_SIM_RAT) {
			seterr(err, err_len, "animal %s: the blind test box is a rat box (200 m² per rat)", c->name);
			return -EINVAL;
		}
		blind += c->blind;
	}
	if (blind && !sc->blind_targets) {
		seterr(err, err_len, "animals marked blind = yes but [targets] blind_targets is 0");
		return -EINVAL;
	}
	if ((e = an_geo_origin_init(&w->origin, sc->origin_lat_e7, sc->origin_lon_e7, sc->origin_alt_mm)) < 0) {
		seterr(err, err_len, "origin rejected");
		return e;
	}
	w->day0_utc_ms = sim_days_from_civil(sc->year, sc->month, sc->day) * 86400000;
	double br = sc->bearing_deg * SIM_PI / 180.0;
	g.ua_e = sin(br), g.ua_n = cos(br);
	g.uc_e = cos(br), g.uc_n = -sin(br);
	w->n_animals = sc->n_animals;
	w->animals = calloc(w->n_animals, sizeof *w->animals);
	w->tracks = calloc(w->n_animals, sizeof *w->tracks);
	if (!w->animals || !w->tracks) {
		e = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < w->n_animals; i++)
		resolve_animal(&w->animals[i], &sc->animals[i], seed, i);
	if ((e = build_layout(&g)) < 0 || (e = build_targets(&g)) < 0 || (e = build_schedule(&g)) < 0 ||
	    (e = an_sim_history_build(w)) < 0 || (e = an_sim_recorder_build(w)) < 0)
		goto fail;
	return 0;
fail:
	if (e == -ENOMEM)
		seterr(err, err_len, "out of memory");
	an_sim_world_free(w);
	return e;
}

int an_sim_track_at(const struct an_sim_track *t, int64_t utc_ms, size_t *hint, int64_t *e_mm, int64_t *n_mm,
		    int *beh)
{
	if (!t || !t->n || utc_ms < t->legs[0].t0_ms || utc_ms > t->legs[t->n - 1].t1_ms)
		return -ERANGE;
	size_t i = hint && *hint < t->n && t->legs[*hint].t0_ms <= utc_ms ? *hint : 0;
	if (i == 0 || t->legs[i].t0_ms > utc_ms) { /* binary search */
		size_t lo = 0, hi = t->n - 1;
		while (lo < hi) {
			size_t mid = (lo + hi + 1) / 2;
			if (t->legs[mid].t0_ms <= utc_ms)
				lo = mid;
			else
				hi = mid - 1;
		}
		i = lo;
	}
	while (i + 1 < t->n && t->legs[i].t1_ms <= utc_ms && t->legs[i + 1].t0_ms <= utc_ms)
		i++;
	const struct an_sim_leg *l = &t->legs[i];
	double f = l->t1_ms > l->t0_ms ? (double)(utc_ms - l->t0_ms) / (double)(l->t1_ms - l->t0_ms) : 1.0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	if (e_mm)
		*e_mm = l->e0_mm + llround(f * (double)(l->e1_mm - l->e0_mm));
	if (n_mm)
		*n_mm = l->n0_mm + llround(f * (double)(l->n1_mm - l->n0_mm));
	if (beh)
		*beh = l->beh;
	if (hint)
		*hint = i;
	return 0;
}

void an_sim_summarize(const struct an_sim_world *w, struct an_sim_summary *s)
{
	memset(s, 0, sizeof *s);
	for (uint32_t i = 0; i < w->n_animals; i++) {
		if (w->animals[i].p.species == AN_SIM_RAT)
			s->rats++;
		else
			s->dogs++;
		s->track_hours += (double)(w->animals[i].off_utc_ms - w->animals[i].on_utc_ms) / 3.6e6;
	}
	s->boxes = w->n_boxes;
	s->passes = w->n_passes;
	for (uint32_t i = 0; i < w->n_passes; i++)
		s->search_m2 += w->passes[i].area_m2;
	for (uint32_t i = 0; i < w->n_targets; i++)
		s->targets_by_class[w->targets[i].cls]++;
	for (uint32_t i = 0; i < w->n_inds; i++) {
		if (w->inds[i].target >= 0)
			s->ind_true++;
		else
			s->ind_false++;
		s->confirmed += w->inds[i].confirmed;
	}
	s->exposures = w->n_exps;
	for (uint32_t i = 0; i < w->n_exps; i++)
		s->hits += w->exps[i].hit;
}
