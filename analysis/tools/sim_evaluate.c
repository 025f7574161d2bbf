/*
 * analysis/tools/sim_evaluate.c — `scentrack sim --evaluate` (the core's hazard points of a run scored against
 * the ground truth, three policies side by side) and `scentrack sim --coverage` (the accuracy report's
 * intervals against the true per-animal parameters over many seeds, in process). Scoring: an/sim.h.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <sqlite3.h>

#include "an/geo.h"
#include "an/array.h"
#include "an/hazard.h"
#include "an/sim.h"
#include "scentrack_cmd.h"

struct hz {
	int64_t e_mm, n_mm;
	double p;
	uint32_t n_animals;
	int32_t group; /* worst receiver class among its member indications; -1 none */
};

struct ind {
	int64_t e_mm, n_mm;
	int32_t rx;
};

/* Positions from lat/lon when the core gave them (a point in the core's implicit frame — records outside any
 * session — has x/y about another origin), else the task frame's x/y (= the world's ENU). */
static int read_hazards(const char *dir, const struct an_sim_world *w, struct hz **out, size_t *n)
{
	char p[1200], line[512];
	snprintf(p, sizeof p, "%s/hazards.csv", dir);
	FILE *f = fopen(p, "re");
	if (!f) {
		fprintf(stderr, "scentrack sim: %s: %s (the run writes it when it stops)\n", p, strerror(errno));
		return -errno;
	}
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	unsigned ln = 0;
	while (fgets(line, sizeof line, f)) {
		ln++;
		if (ln == 1)
			continue;
		uint64_t id, task;
		unsigned status;
		double pe;
		uint32_t na, ni, sg;
		int64_t x, y;
		double lat = NAN, lon = NAN;
		int k = sscanf(line, "%" SCNu64 ",%u,%lf,%" SCNu32 ",%" SCNu32 ",%" SCNd64 ",%" SCNd64 ",%" SCNu32 ",%" SCNu64
		               ",%lf,%lf", &id, &status, &pe, &na, &ni, &x, &y, &sg, &task, &lat, &lon);
		if (k < 9) {
			fprintf(stderr, "scentrack sim: %s:%u: expected id,status,p_explosive,n_animals,n_ind,x_mm,y_mm,...\n", p, ln);
			fclose(f);
			return -EINVAL;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			struct hz *h = realloc(*out, cap * sizeof *h);
			if (!h) {
				fclose(f);
				return -ENOMEM;
			}
			*out = h;
		}
		struct an_geo_enu e;
		if (k == 11 && isfinite(lat) && isfinite(lon) &&
		    an_geo_enu_from_deg(&w->origin, lat, lon, (double)w->sc.origin_alt_mm / 1000.0, &e) == 0)
			x = e.e_mm, y = e.n_mm;
		(*out)[(*n)++] = (struct hz){x, y, pe, na, -1};
	}
	fclose(f);
	return 0;
}

/* Every indication the core stored, in the world's ENU (the task frame = the world's origin), with the
 * receiver class of the animal whose collar sent it (collar id = animal index + 1, as sim_run provisions). */
static int read_inds(const char *dir, const struct an_sim_world *w, struct ind **out, size_t *n)
{
	char p[1200];
	snprintf(p, sizeof p, "file:%s/core.sqlite?mode=ro", dir);
	sqlite3 *db;
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		fprintf(stderr, "scentrack sim: %s: %s\n", p, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_stmt *st;
	int rc = 0;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	/* src 1 = the collar's classifier alone, without the handler's mark: scentrack sim runs the core with
	 * [hazard] require_handler = yes, so such a record is not an indication of the programme (not evidence,
	 * not a point) */
	if (sqlite3_prepare_v2(db, "SELECT collar_id, lat_e7, lon_e7 FROM indications WHERE lat_e7 IS NOT NULL "
	                           "AND src <> 1 "
	                           "ORDER BY collar_id, rec_seq", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int cid = sqlite3_column_int(st, 0);
		struct an_geo_enu e;
		if (an_geo_enu_from_e7(&w->origin, sqlite3_column_int(st, 1), sqlite3_column_int(st, 2), AN_GEO_ALT_UNKNOWN,
		                       &e) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			struct ind *q = realloc(*out, cap * sizeof *q);
			if (!q) {
				rc = -ENOMEM;
				break;
			}
			*out = q;
		}
		int32_t rx = cid >= 1 && (uint32_t)cid <= w->n_animals ? w->animals[cid - 1].p.rx : -1;
		(*out)[(*n)++] = (struct ind){e.e_mm, e.n_mm, rx};
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static void row(const char *name, const struct an_sim_eval *e)
{
	printf("%-22s %6" PRIu32 " %5" PRIu32 "/%-5" PRIu32 " %6.1f%% %6" PRIu32 " (%4" PRIu32 ") %6" PRIu32 " %8.3f %8.2f",
	       name, e->points, e->detected, e->explosive, e->detection_rate * 100.0, e->false_points,
	       e->clutter_points - e->correct_points, e->correct_points, e->false_per_100m2, e->median_err_m);
	for (int g = AN_SIM_RX_COUNT - 1; g >= 0; g--)
		printf(e->matched_by_group[g] ? " %6.2f" : "      -", e->median_err_by_group_m[g]);
	printf(" %7.3f %6.3f\n", e->top_decile_precision, e->pr_auc);
}

/* The three policies (and every point ranked by P) over points h and indications ind; pts has room for
 * nh + ni entries. */
static int score_policies(const struct an_sim_world *w, const struct hz *h, size_t nh, const struct ind *ind, size_t ni,
                          int64_t gate, double area, uint32_t mask, struct an_sim_eval_point *pts,
                          struct an_sim_eval e[4])
{
	int rc;
	/* 1. every single indication is a hazard point */
	for (size_t i = 0; i < ni; i++)
		pts[i] = (struct an_sim_eval_point){ind[i].e_mm, ind[i].n_mm, 1.0, ind[i].rx};
	if ((rc = an_sim_evaluate(w, pts, ni, gate, area, mask, &e[0], NULL)) < 0)
		return rc;
	/* 2. the core's points that >= 2 animals indicated (score: how many) */
	size_t n2 = 0;
	for (size_t k = 0; k < nh; k++)
		if (h[k].n_animals >= 2)
			pts[n2++] = (struct an_sim_eval_point){h[k].e_mm, h[k].n_mm, (double)h[k].n_animals, h[k].group};
	if ((rc = an_sim_evaluate(w, pts, n2, gate, area, mask, &e[1], NULL)) < 0)
		return rc;
	/* 3. fused: the core's points with P(explosive) >= 0.5 (the excavation threshold), ranked by P */
	size_t n3 = 0;
	for (size_t k = 0; k < nh; k++)
		if (h[k].p >= 0.5)
			pts[n3++] = (struct an_sim_eval_point){h[k].e_mm, h[k].n_mm, h[k].p, h[k].group};
	if ((rc = an_sim_evaluate(w, pts, n3, gate, area, mask, &e[2], NULL)) < 0)
		return rc;
	/* and every core point ranked by P(explosive): how the fused probability orders the truth */
	for (size_t k = 0; k < nh; k++)
		pts[k] = (struct an_sim_eval_point){h[k].e_mm, h[k].n_mm, h[k].p, h[k].group};
	return an_sim_evaluate(w, pts, nh, gate, area, mask, &e[3], NULL);
}

/*
 * Where the fused policy finds and misses: the explosive targets by the ground they lie on — rat boxes, dog
 * boxes, the blind accreditation box, and under trees (`[gnss] canopy`, whatever the box) — with the global
 * one-to-one matching of the fused row; and its false points by the kind of box they lie in (within the gate
 * of it), per 100 m² of those boxes.
 */
enum { G_RAT, G_DOG, G_BLIND, G_TREES, G_N };
static const char *const g_name[G_N] = {"rat boxes", "dog boxes", "blind test box", "under trees"};

static int ground_of(const struct an_sim_world *w, int64_t e, int64_t n, int64_t gate, bool trees_first)
{
	if (trees_first && an_sim_in_canopy(&w->sc, e, n))
		return G_TREES;
	int best = -1;
	int64_t best_m = -gate - 1;
	for (uint32_t b = 0; b < w->n_boxes; b++) {
		struct an_geo_box_pos bp;
		if (an_geo_box_locate(&w->boxes[b].geo, e, n, 0, &bp) < 0)
			continue;
		if (bp.margin_mm > best_m) {
			best_m = bp.margin_mm;
			best = w->boxes[b].kind == AN_SIM_BOX_DOG ? G_DOG : w->boxes[b].kind == AN_SIM_BOX_BLIND ? G_BLIND : G_RAT;
		}
	}
	return best;
}

/* Counts of the fused row by ground, added up over seeds (pooled figures: every target and square metre
 * weighs the same, where the per-seed medians weigh each day the same). */
struct by_ground {
	uint32_t expl[G_N], det[G_N], fals[3];
	double area[3];
};

static void by_ground_print(const struct by_ground *bg, const char *what)
{
	printf("fused P>=0.5 by ground%s: explosive targets detected", what);
	for (int g = 0; g < G_N; g++)
		printf("%s %s %" PRIu32 "/%" PRIu32, g ? "," : "", g_name[g], bg->det[g], bg->expl[g]);
	printf("; false points/100 m2");
	for (int g = 0; g < G_TREES; g++)
		printf("%s %s %.3f", g ? "," : "", g_name[g], bg->area[g] > 0 ? bg->fals[g] / bg->area[g] * 100.0 : 0.0);
	printf("\n");
}

static int by_ground_add(const struct an_sim_world *w, const struct hz *h, size_t nh, int64_t gate, uint32_t mask,
                         struct an_sim_eval_point *pts, struct by_ground *bg)
{
	int32_t *tg = malloc((nh + 1) * sizeof *tg);
	if (!tg)
		return -ENOMEM;
	size_t n3 = 0;
	for (size_t k = 0; k < nh; k++)
		if (h[k].p >= 0.5)
			pts[n3++] = (struct an_sim_eval_point){h[k].e_mm, h[k].n_mm, h[k].p, h[k].group};
	struct an_sim_eval e;
	int rc = an_sim_evaluate(w, pts, n3, gate, 1.0, mask, &e, tg);
	if (rc < 0) {
		free(tg);
		return rc;
	}
	uint32_t *expl = bg->expl, *det = bg->det, *fals = bg->fals;
	double *area = bg->area;
	bool *hit = calloc(w->n_targets + 1u, sizeof *hit);
	if (!hit) {
		free(tg);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n3; i++) {
		if (tg[i] >= 0)
			hit[tg[i]] = true;
		if (tg[i] < 0 || !(AN_SIM_EXPLOSIVE(w->targets[tg[i]].cls) || (mask >> w->targets[tg[i]].cls & 1u))) {
			int g = ground_of(w, pts[i].e_mm, pts[i].n_mm, gate, false);
			if (g >= 0)
				fals[g]++;
		}
	}
	for (uint32_t t = 0; t < w->n_targets; t++) {
		if (!AN_SIM_EXPLOSIVE(w->targets[t].cls))
			continue;
		int g = an_sim_in_canopy(&w->sc, w->targets[t].e_mm, w->targets[t].n_mm) ? G_TREES
		        : w->boxes[w->targets[t].box].kind == AN_SIM_BOX_DOG                ? G_DOG
		        : w->boxes[w->targets[t].box].kind == AN_SIM_BOX_BLIND              ? G_BLIND
		                                                                            : G_RAT;
		expl[g]++;
		det[g] += hit[t];
	}
	for (uint32_t b = 0; b < w->n_boxes; b++)
		area[w->boxes[b].kind == AN_SIM_BOX_DOG ? G_DOG : w->boxes[b].kind == AN_SIM_BOX_BLIND ? G_BLIND : G_RAT] +=
			w->boxes[b].area_m2;
	free(hit);
	free(tg);
	return 0;
}

/* "fragment correct, scrap false": the roles the false points were counted with (--count) */
static const char *roles_text(uint32_t mask)
{
	static const char *const t[4] = {"fragment false, scrap false", "fragment correct, scrap false",
	                                 "fragment false, scrap correct", "fragment correct, scrap correct"};
	return t[(mask >> AN_SIM_T_FRAG & 1u) | (mask >> AN_SIM_T_SCRAP & 1u) << 1];
}

static void print_table(const struct an_sim_world *w, const struct an_sim_eval e[4], double area, double gate_m,
                        uint32_t mask)
{
	printf("\nground truth: %" PRIu32 " targets, %" PRIu32 " explosive (AP, AT, UXO), %.0f m2 of boxes; a point "
	       "matches a target within %.1f m (one-to-one, nearest first)\n",
	       w->n_targets, e[0].explosive, area, gate_m);
	printf("%-22s %6s %11s %7s %6s %6s %6s %8s %8s %6s %6s %6s %6s %7s %6s\n", "policy", "points", "detected",
	       "rate", "false", "(clut)", "corr", "f/100m2", "med.err", "rtkFx", "rtkFl", "sbas", "cons", "top10%", "PR-AUC");
	row("every indication", &e[0]);
	row(">= 2 animals agree", &e[1]);
	row("fused P>=0.5", &e[2]);
	row("all points, by P", &e[3]);
	printf("(med.err: median metres point→target, overall and by the worst receiver among the point's indications;\n"
	       " false = points without an explosive target, (clut) of them on a fragment or scrap item; corr = points on\n"
	       " a clutter item whose class counts as correct, neither found nor false (--count: %s); top10%%:\n"
	       " share of explosive targets in the top decile by score; PR-AUC: average precision over all explosive\n"
	       " targets)\n", roles_text(mask));
	bool ok_det = e[2].detection_rate >= 0.99, ok_false = e[2].false_per_100m2 <= 0.05;
	bool ok_rtk = !(e[2].median_err_by_group_m[AN_SIM_RX_RTK_FIXED] > 0.5);
	bool ok_cons = !(e[2].median_err_by_group_m[AN_SIM_RX_CONSUMER] > 2.5);
	printf("issue #6 targets, fused policy: detection >= 99 %%: %s (%.1f %%); false <= 0.05/100 m2: %s (%.3f, %s; "
	       "%.3f counting every dig without an explosive item); median error RTK <= 0.5 m: %s; consumer <= 2.5 m: "
	       "%s\n",
	       ok_det ? "met" : "NOT met", e[2].detection_rate * 100, ok_false ? "met" : "NOT met", e[2].false_per_100m2,
	       roles_text(mask), (e[2].false_points + e[2].correct_points) / area * 100.0, ok_rtk ? "met" : "NOT met",
	       ok_cons ? "met" : "NOT met");
}

/*
 * The fused policy at other excavation thresholds (the core's [hazard] p_excavate): what a programme that
 * weighs a missed item above a dig for nothing buys and pays by lowering it. Counts added up over seeds.
 */
static const double sweep_p[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
#define SWEEP_N (sizeof sweep_p / sizeof sweep_p[0])
struct sweep {
	uint32_t expl, det[SWEEP_N], fals[SWEEP_N], digs[SWEEP_N]; /* digs: false + correct (every dig without
	                                                              * an explosive item) */
	double area_m2;
};

static int sweep_add(const struct an_sim_world *w, const struct hz *h, size_t nh, int64_t gate, double area,
                     uint32_t mask, struct an_sim_eval_point *pts, struct sweep *sw)
{
	for (size_t k = 0; k < SWEEP_N; k++) {
		size_t n = 0;
		for (size_t i = 0; i < nh; i++)
			if (h[i].p >= sweep_p[k])
				pts[n++] = (struct an_sim_eval_point){h[i].e_mm, h[i].n_mm, h[i].p, h[i].group};
		struct an_sim_eval e;
		int rc = an_sim_evaluate(w, pts, n, gate, area, mask, &e, NULL);
		if (rc < 0)
			return rc;
		if (k == 0)
			sw->expl += e.explosive;
		sw->det[k] += e.detected;
		sw->fals[k] += e.false_points;
		sw->digs[k] += e.false_points + e.correct_points;
	}
	sw->area_m2 += area;
	return 0;
}

static void sweep_print(const struct sweep *sw, const char *what, uint32_t mask)
{
	printf("fused policy by excavation threshold%s (the core's [hazard] p_excavate; 0.5 = more likely explosive "
	       "than not):\n", what);
	for (size_t k = 0; k < SWEEP_N; k++)
		printf("  P >= %.2f  %5" PRIu32 "/%-5" PRIu32 " = %5.1f %% detected, %4" PRIu32 " false points = %.3f / "
		       "100 m2 (%s; every dig without an explosive item %.3f)\n",
		       sweep_p[k], sw->det[k], sw->expl, sw->expl ? 100.0 * sw->det[k] / sw->expl : 0.0, sw->fals[k],
		       sw->area_m2 > 0 ? sw->fals[k] / sw->area_m2 * 100.0 : 0.0, roles_text(mask),
		       sw->area_m2 > 0 ? sw->digs[k] / sw->area_m2 * 100.0 : 0.0);
}

/*
 * The world's ceiling: explosive targets that any animal indicated (the world's true indications, whether
 * or not the pipeline placed them), and by two or more animals, in the task's boxes and in the blind
 * accreditation box. No policy finds an item no animal indicated; a point one animal made and others swept
 * clean stays that one animal's word.
 */
struct ceiling {
	uint32_t expl[2], any[2], two[2]; /* [0] the task's boxes, [1] the blind box */
};

static void ceiling_add(const struct an_sim_world *w, struct ceiling *c)
{
	for (uint32_t t = 0; t < w->n_targets; t++) {
		if (!AN_SIM_EXPLOSIVE(w->targets[t].cls))
			continue;
		uint64_t by = 0; /* the animals that indicated it (an_sim_world: at most 64 animals) */
		for (uint32_t i = 0; i < w->n_inds; i++)
			if (w->inds[i].target == (int32_t)t && w->inds[i].animal < 64)
				by |= UINT64_C(1) << w->inds[i].animal;
		int g = w->boxes[w->targets[t].box].kind == AN_SIM_BOX_BLIND;
		int n = __builtin_popcountll(by);
		c->expl[g]++;
		c->any[g] += n >= 1;
		c->two[g] += n >= 2;
	}
}

static void ceiling_print(const struct ceiling *c, const char *what)
{
	printf("the world's ceiling%s: explosive targets any animal indicated: task boxes %" PRIu32 "/%" PRIu32
	       " (%.1f %%), blind box %" PRIu32 "/%" PRIu32 "; by two or more animals: task boxes %" PRIu32 "/%" PRIu32
	       " (%.1f %%), blind box %" PRIu32 "/%" PRIu32 " (no policy finds an item no animal indicated)\n",
	       what, c->any[0], c->expl[0], c->expl[0] ? 100.0 * c->any[0] / c->expl[0] : 0.0, c->any[1], c->expl[1],
	       c->two[0], c->expl[0], c->expl[0] ? 100.0 * c->two[0] / c->expl[0] : 0.0, c->two[1], c->expl[1]);
}

/* --min-detection / --max-false on the chosen policy: 0 or 1 */
static int check_policy(const struct scentrack_sim_run_opts *o, const struct an_sim_eval e[4])
{
	static const char *const pname[] = {"every-indication", ">= 2 animals", "fused"};
	const struct an_sim_eval *ck = &e[o->policy];
	int ex = 0;
	if (o->min_detection > 0 && !(ck->detection_rate >= o->min_detection)) {
		fprintf(stderr, "scentrack sim: %s detection rate %.3f < required %.3f\n", pname[o->policy],
		        ck->detection_rate, o->min_detection);
		ex = 1;
	}
	if (o->max_false >= 0 && !(ck->false_per_100m2 <= o->max_false)) {
		fprintf(stderr, "scentrack sim: %s false points %.3f/100 m2 > allowed %.3f\n", pname[o->policy],
		        ck->false_per_100m2, o->max_false);
		ex = 1;
	}
	return ex;
}

/* ---- --in-process: the world's events straight into the core's hazard engine ---------------------------- */

/* One reported fix of a collar: what its IND would carry and what the core would store in the session. */
struct rfix {
	int64_t t_ms, e_mm, n_mm;
	uint32_t h_acc_mm;
};
struct rfixes {
	const struct an_geo_origin *o;
	struct rfix *v;
	size_t n, cap;
};

static int rfix_sink(void *ctx, const char *text, size_t len, const struct an_sim_epoch *ep)
{
	(void)text;
	(void)len;
	struct rfixes *r = ctx;
	if (!ep->g.fix)
		return 0;
	struct an_geo_enu e;
	if (an_geo_enu_from_e7(r->o, ep->out_lat_e7, ep->out_lon_e7, AN_GEO_ALT_UNKNOWN, &e) < 0)
		return 0;
	if (an_array_grow((void **)&r->v, &r->cap, r->n, 4096, sizeof *r->v))
		return -ENOMEM;
	/* h_acc as the collar derives it from GST: sqrt(σ_lat² + σ_lon²) (collar-fw/core/nmea.c) */
	double h = hypot(ep->g.sigma_e_m, ep->g.sigma_n_m) * 1000.0;
	r->v[r->n++] = (struct rfix){ep->utc_ms, e.e_mm, e.n_mm, h >= 4e9 ? 4000000000u : (uint32_t)llround(h)};
	return 0;
}

/* The latest fix at or before t (binary search: fixes are in time order), or NULL: what an IND carries. */
static const struct rfix *fix_at(const struct rfixes *r, int64_t t_ms)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid].t_ms <= t_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &r->v[lo - 1] : NULL;
}

struct inputs {
	struct an_hazard_input *v;
	size_t n, cap;
};

static int in_push(struct inputs *in, const struct an_hazard_input *x)
{
	if (an_array_grow((void **)&in->v, &in->cap, in->n, 65536, sizeof *in->v))
		return -ENOMEM;
	in->v[in->n++] = *x;
	return 0;
}

/* Where the indications were placed, per receiver class: the error of the collar's reported position (raw)
 * and of the engine's (box frame + pinpointing) against where the animal indicated, in metres. */
struct locstat {
	double *raw[AN_SIM_RX_COUNT], *placed[AN_SIM_RX_COUNT];
	size_t n[AN_SIM_RX_COUNT], cap[AN_SIM_RX_COUNT], n_boxed[AN_SIM_RX_COUNT];
};

static void locstat_free(struct locstat *l)
{
	for (int k = 0; k < AN_SIM_RX_COUNT; k++) {
		free(l->raw[k]);
		free(l->placed[k]);
	}
}

static int locstat_add(struct locstat *l, int rx, double raw_m, double placed_m, bool boxed)
{
	if (rx < 0 || rx >= AN_SIM_RX_COUNT)
		return 0;
	size_t cap_p = l->cap[rx]; /* the two columns grow together */
	if (an_array_grow((void **)&l->raw[rx], &l->cap[rx], l->n[rx], 256, sizeof *l->raw[rx]) ||
	    an_array_grow((void **)&l->placed[rx], &cap_p, l->n[rx], 256, sizeof *l->placed[rx]))
		return -ENOMEM;
	l->raw[rx][l->n[rx]] = raw_m;
	l->placed[rx][l->n[rx]++] = placed_m;
	l->n_boxed[rx] += boxed;
	return 0;
}

/*
 * What the core's hazard engine makes of world w when every collar record arrives: one session per pass
 * (session id = pass + 1, animal id = animal index + 1, as the store would give them distinct ids), the
 * collar's reported fixes (the GNSS error model's output, exactly as printed in its NMEA, h_acc from GST)
 * inside each pass, and each of the world's indications at the collar's latest reported fix at its onset
 * (the collar's IND carries its last FIX's position and h_acc). Not modelled: the motion classifier (the
 * world's indications are the ones the handler marked; with [hazard] require_handler = yes the core keeps
 * exactly those) and the radio (nothing lost: the kill tests show the pipeline loses nothing). With the
 * scenario's recorder on, the data recorder's box position of every indication (an/sim.h RECORDER), as
 * `--run` hands the sheet to the core's import socket at the end of the day. With verdicts, the handler's
 * verdict on every indication as the collar sends it (a short press confirms, a long one rejects; the
 * verdict's time is the press's end), which the core stores and feeds as AN_HAZARD_IN_REVIEW.
 */
static int inproc_points(const struct an_sim_world *w, int64_t eps_mm, bool box_frame, bool verdicts, struct hz **h_out,
                         size_t *nh_out, struct ind **i_out, size_t *ni_out, struct locstat *ls)
{
	int rc = -ENOMEM;
	struct rfixes *fx = calloc(w->n_animals + 1u, sizeof *fx);
	struct inputs in = {0};
	struct an_hazard_engine *eng = NULL;
	struct hz *h = NULL;
	struct ind *ind = malloc((w->n_inds + 1u) * sizeof *ind);
	/* the confirmation passes' patches, as `--run` stores them with their sessions (w->patches in pass order) */
	struct an_geo_box_patch *pat = malloc((w->n_patches + 1u) * sizeof *pat);
	uint64_t *mem = NULL;
	size_t ni = 0, pk = 0;
	if (!fx || !ind || !pat)
		goto out;
	for (uint32_t k = 0; k < w->n_patches; k++)
		pat[k] = (struct an_geo_box_patch){w->patches[k].lane0, w->patches[k].lanes, w->patches[k].along0_mm,
		                                   w->patches[k].along1_mm};
	for (uint32_t a = 0; a < w->n_animals; a++) {
		fx[a].o = &w->origin;
		if ((rc = an_sim_nmea_collar(w, a, rfix_sink, &fx[a])) < 0)
			goto out;
	}
	for (uint32_t p = 0; p < w->n_passes; p++) {
		const struct an_sim_pass *ps = &w->passes[p];
		const struct an_sim_animal *an = &w->animals[ps->animal];
		struct an_hazard_input x = {.kind = AN_HAZARD_IN_SESSION};
		/* the session's box, as the core reads it from the store (an_store_box_frame) */
		x.u.session = (struct an_hazard_session){.session_id = p + 1u, .animal_id = ps->animal + 1u,
		                                         .species = an->p.species == AN_SIM_DOG ? AN_SPECIES_DOG : AN_SPECIES_RAT,
		                                         .has_box = true, .box = w->boxes[ps->box].geo,
		                                         .has_end = true, .end_ms = ps->t1_ms, .patches = pat + pk};
		while (pk + x.u.session.n_patches < w->n_patches && w->patches[pk + x.u.session.n_patches].pass == p)
			x.u.session.n_patches++;
		pk += x.u.session.n_patches;
		if ((rc = in_push(&in, &x)) < 0)
			goto out;
		const struct rfixes *r = &fx[ps->animal];
		for (size_t k = 0; k < r->n; k++) {
			if (r->v[k].t_ms < ps->t0_ms || r->v[k].t_ms > ps->t1_ms)
				continue;
			struct an_hazard_input f = {.kind = AN_HAZARD_IN_FIX};
			f.u.fix.session_id = p + 1u;
			f.u.fix.fix = (struct an_coverage_fix){r->v[k].t_ms, r->v[k].e_mm, r->v[k].n_mm, r->v[k].h_acc_mm};
			if ((rc = in_push(&in, &f)) < 0)
				goto out;
		}
	}
	/* the trainers' records, as `--run` stores them and the core feeds them (animal id = index + 1 in both);
	 * every record, the engine keeps each animal's latest as the core's does */
	for (uint32_t k = 0; k < w->n_hist; k++) {
		const struct an_sim_history *hr = &w->hist[k];
		struct an_hazard_input x = {.kind = AN_HAZARD_IN_CALIB};
		x.u.calib.cal = (struct an_fusion_animal){hr->animal + 1u,
		                                          w->animals[hr->animal].p.species == AN_SIM_DOG ? AN_SPECIES_DOG
		                                                                                       : AN_SPECIES_RAT,
		                                          hr->hits, hr->misses, hr->false_inds, hr->area_m2};
		x.u.calib.as_of_ms = hr->as_of_ms;
		if ((rc = in_push(&in, &x)) < 0)
			goto out;
	}
	for (uint32_t i = 0; i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		const struct rfix *f = fix_at(&fx[d->animal], d->t_ms);
		if (!f)
			continue; /* no fix yet: the collar sends the IND without a position, the core cannot place it */
		struct an_hazard_input x = {.kind = AN_HAZARD_IN_IND};
		x.u.ind = (struct an_hazard_ind){(uint64_t)(d->animal + 1u) << 32 | d->id, d->animal + 1u, d->pass + 1u,
		                                 d->t_ms, f->e_mm, f->n_mm, f->h_acc_mm};
		if ((rc = in_push(&in, &x)) < 0)
			goto out;
		ind[ni++] = (struct ind){f->e_mm, f->n_mm, w->animals[d->animal].p.rx};
	}
	for (uint32_t i = 0; verdicts && i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		struct an_hazard_input x = {.kind = AN_HAZARD_IN_REVIEW};
		x.u.review = (struct an_hazard_review){(uint64_t)(d->animal + 1u) << 32 | d->id,
		                                       d->confirmed ? AN_REVIEW_CONFIRMED : AN_REVIEW_REJECTED,
		                                       d->press_ms + (int64_t)d->press_len_ms};
		if ((rc = in_push(&in, &x)) < 0)
			goto out;
	}
	/* the data recorder's sheet, as `--run` imports it into the core at the end of the day (every entry to
	 * the task's engine, which uses those of the indications it has) */
	for (uint32_t k = 0; k < w->n_rec; k++) {
		const struct an_sim_boxpos *b = &w->rec[k];
		const struct an_sim_ind *d = &w->inds[b->ind];
		struct an_hazard_input x = {.kind = AN_HAZARD_IN_BOXPOS};
		x.u.boxpos = (struct an_hazard_boxpos){(uint64_t)(d->animal + 1u) << 32 | d->id, b->lane, b->along_mm,
		                                       b->sd_mm, 0};
		if ((rc = in_push(&in, &x)) < 0)
			goto out;
	}
	struct an_hazard_opts ho;
	an_hazard_opts_init(&ho);
	ho.eps_mm = eps_mm; /* the core's [hazard] defaults otherwise (p_excavate 0.5, agree_animals 2) */
	ho.box_frame = box_frame;
	ho.handler_verdicts = verdicts;
	/* the prior from the task's survey, as scentrack sim writes it into the core's [hazard] section */
	ho.fusion.density_per_m2 = an_sim_explosive_density_per_100m2(&w->sc) / 100.0;
	if (!(ho.fusion.density_per_m2 > 0)) /* no explosive class in the mix: the core's default prior */
		ho.fusion.density_per_m2 = AN_FUSION_DENSITY_DEFAULT_PER_M2;
	if ((rc = an_hazard_new(&ho, &eng)) < 0 || (rc = an_hazard_apply(eng, in.v, in.n, 0)) < 0)
		goto out;
	for (uint32_t i = 0; i < w->n_inds && ls; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		const struct rfix *f = fix_at(&fx[d->animal], d->t_ms);
		int64_t px, py;
		uint32_t ph;
		bool boxed;
		if (!f || an_hazard_ind_placed(eng, (uint64_t)(d->animal + 1u) << 32 | d->id, &px, &py, &ph, &boxed))
			continue;
		double raw = hypot((double)(f->e_mm - d->e_mm), (double)(f->n_mm - d->n_mm)) / 1000.0;
		double pl = hypot((double)(px - d->e_mm), (double)(py - d->n_mm)) / 1000.0;
		if ((rc = locstat_add(ls, w->animals[d->animal].p.rx, raw, pl, boxed)) < 0)
			goto out;
	}
	size_t nh = an_hazard_count(eng);
	h = malloc((nh + 1) * sizeof *h);
	size_t cap_mem = 64;
	mem = malloc(cap_mem * sizeof *mem);
	if (!h || !mem) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < nh; k++) {
		struct an_hazard_point pt;
		size_t nm;
		if ((rc = an_hazard_get(eng, k, &pt)) < 0)
			goto out;
		while ((rc = an_hazard_members(eng, pt.id, mem, cap_mem, &nm)) == -ENOBUFS) {
			uint64_t *q = realloc(mem, nm * sizeof *q);
			if (!q) {
				rc = -ENOMEM;
				goto out;
			}
			mem = q;
			cap_mem = nm;
		}
		if (rc < 0)
			goto out;
		/* the worst receiver among its members (collar = animal index + 1 in the id's high half) */
		int32_t g = -1;
		for (size_t m = 0; m < nm; m++) {
			uint64_t a = (mem[m] >> 32) - 1;
			int32_t rx = a < w->n_animals ? w->animals[a].p.rx : -1;
			if (rx >= 0 && (g < 0 || rx < g))
				g = rx;
		}
		h[k] = (struct hz){pt.x_mm, pt.y_mm, pt.p_explosive, pt.n_ind_animals, g};
	}
	*h_out = h;
	*nh_out = nh;
	*i_out = ind;
	*ni_out = ni;
	h = NULL;
	ind = NULL;
	rc = 0;
out:
	if (fx)
		for (uint32_t a = 0; a < w->n_animals; a++)
			free(fx[a].v);
	free(fx);
	free(in.v);
	free(pat);
	free(mem);
	free(h);
	free(ind);
	an_hazard_free(eng);
	return rc;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	/* NAN last */
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return x < y ? -1 : x > y;
}

/* median, min, max of v[0..n) ignoring NANs, printed as "med (min..max)" */
static void spread(const char *name, double *v, size_t n, double scale, const char *fmt)
{
	qsort(v, n, sizeof *v, dbl_cmp);
	size_t k = 0;
	while (k < n && !isnan(v[k]))
		k++;
	printf("  %-34s", name);
	if (k == 0) {
		printf(" -\n");
		return;
	}
	double med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2.0;
	printf(fmt, med * scale);
	printf("  (");
	printf(fmt, v[0] * scale);
	printf(" .. ");
	printf(fmt, v[k - 1] * scale);
	printf(")");
	if (k < n)
		printf("  [%zu of %zu seeds without a value]", n - k, n);
	printf("\n");
}

static double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof *v, dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* The localisation the engine works with (an/boxframe.h: box frame; an/hazard.h: pinpointing). */
static void print_locstat(struct locstat *l, uint32_t seeds)
{
	printf("indication positions, error to where the animal indicated (median m%s): receiver's fix -> engine "
	       "(box frame, recorder's box position)\n", seeds > 1 ? ", all seeds pooled" : "");
	for (int k = 0; k < AN_SIM_RX_COUNT; k++) {
		if (l->n[k] == 0)
			continue;
		double raw = median_of(l->raw[k], l->n[k]), pl = median_of(l->placed[k], l->n[k]);
		printf("  %-10s %5zu indications: %6.2f -> %6.2f  (%zu moved into their lanes: box-frame fit or recorder)\n", an_sim_rx_name(k),
		       l->n[k], raw, pl, l->n_boxed[k]);
	}
}

static int evaluate_in_process(const struct scentrack_sim_run_opts *o)
{
	struct an_sim_scenario *sc = malloc(sizeof *sc);
	char err[512];
	if (!sc)
		return EX_SOFTWARE;
	an_sim_scenario_defaults(sc);
	int r = an_sim_scenario_load(sc, o->scenario, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "scentrack sim: %s\n", err);
		free(sc);
		return r == -EINVAL ? EX_DATAERR : EX_NOINPUT;
	}
	if (o->no_recorder)
		sc->recorder = false;
	uint32_t ns = o->seeds ? o->seeds : 1;
	struct locstat ls;
	memset(&ls, 0, sizeof ls);
	/* per seed and policy: detection, false/100 m², median error overall / RTK fixed / consumer */
	enum { M_DET, M_FALSE, M_ERR, M_RTK, M_CONS, M_AUC, M_N };
	double *m = calloc((size_t)ns * 4 * M_N, sizeof *m);
	int ex = EX_SOFTWARE;
	if (!m)
		goto out;
	int64_t gate = llround(o->gate_m * 1000.0);
	struct by_ground bg;
	struct sweep sw;
	struct ceiling ceil;
	struct an_sim_eval pool[4];
	double pool_area = 0;
	memset(&bg, 0, sizeof bg);
	memset(&sw, 0, sizeof sw);
	memset(&ceil, 0, sizeof ceil);
	memset(pool, 0, sizeof pool);
	printf("in process (world events -> the core's hazard engine, eps %s, box frame %s, recorder's box positions %s, "
	       "handler's verdicts %s; no classifier, no radio): %s\n", o->eps_mm ? "fixed" : "derived per pair from h_acc",
	       o->no_box_frame ? "off" : "on", sc->recorder ? "on" : "off", o->no_verdicts ? "off" : "on", o->scenario);
	for (uint32_t si = 0; si < ns; si++) {
		struct an_sim_world w;
		uint64_t seed = o->seed + si;
		if ((r = an_sim_world_build(&w, sc, seed, err, sizeof err)) < 0) {
			fprintf(stderr, "scentrack sim: seed %" PRIu64 ": %s\n", seed, err);
			ex = EX_DATAERR;
			goto out;
		}
		struct hz *h = NULL;
		struct ind *ind = NULL;
		size_t nh = 0, ni = 0;
		struct an_sim_eval e[4];
		double area = 0;
		for (uint32_t b = 0; b < w.n_boxes; b++)
			area += w.boxes[b].area_m2;
		struct an_sim_eval_point *pts = NULL;
		r = inproc_points(&w, o->eps_mm, !o->no_box_frame, !o->no_verdicts, &h, &nh, &ind, &ni, &ls);
		if (r == 0 && !(pts = malloc((nh + ni + 1) * sizeof *pts)))
			r = -ENOMEM;
		if (r == 0)
			r = score_policies(&w, h, nh, ind, ni, gate, area, o->correct_mask, pts, e);
		if (r == 0 && ns == 1)
			print_table(&w, e, area, o->gate_m, o->correct_mask);
		if (r == 0)
			r = by_ground_add(&w, h, nh, gate, o->correct_mask, pts, &bg);
		if (r == 0)
			r = sweep_add(&w, h, nh, gate, area, o->correct_mask, pts, &sw);
		if (r == 0)
			ceiling_add(&w, &ceil);
		if (r == 0 && ns == 1) {
			by_ground_print(&bg, "");
			sweep_print(&sw, "", o->correct_mask);
			ceiling_print(&ceil, "");
		}
		for (int p = 0; p < 4 && r == 0; p++) {
			pool[p].explosive += e[p].explosive;
			pool[p].detected += e[p].detected;
			pool[p].false_points += e[p].false_points;
			pool[p].clutter_points += e[p].clutter_points;
			pool[p].fragment_points += e[p].fragment_points;
			pool[p].correct_points += e[p].correct_points;
		}
		pool_area += area;
		if (r == 0 && ns > 1)
			printf("seed %-6" PRIu64 " %3" PRIu32 " explosive; fused: %5.1f %% detected, %6.3f false/100 m2, "
			       "med.err %.2f m (RTK fixed %.2f, consumer %.2f); every ind %5.1f %% %6.3f; >=2 agree %5.1f %% %6.3f\n",
			       seed, e[2].explosive, e[2].detection_rate * 100, e[2].false_per_100m2, e[2].median_err_m,
			       e[2].median_err_by_group_m[AN_SIM_RX_RTK_FIXED], e[2].median_err_by_group_m[AN_SIM_RX_CONSUMER],
			       e[0].detection_rate * 100, e[0].false_per_100m2, e[1].detection_rate * 100,
			       e[1].false_per_100m2);
		for (int p = 0; p < 4 && r == 0; p++) {
			double *v = &m[((size_t)si * 4 + (size_t)p) * M_N];
			v[M_DET] = e[p].detection_rate;
			v[M_FALSE] = e[p].false_per_100m2;
			v[M_ERR] = e[p].median_err_m;
			v[M_RTK] = e[p].median_err_by_group_m[AN_SIM_RX_RTK_FIXED];
			v[M_CONS] = e[p].median_err_by_group_m[AN_SIM_RX_CONSUMER];
			v[M_AUC] = e[p].pr_auc;
		}
		free(pts);
		free(h);
		free(ind);
		an_sim_world_free(&w);
		if (r < 0) {
			fprintf(stderr, "scentrack sim: seed %" PRIu64 ": in-process evaluation: %s\n", seed, strerror(-r));
			goto out;
		}
	}
	print_locstat(&ls, ns);
	/* the medians over the seeds, the checks on them */
	struct an_sim_eval med[4];
	memset(med, 0, sizeof med);
	static const char *const pol[] = {"every indication", ">= 2 animals agree", "fused P>=0.5", "all points, by P"};
	double *col = malloc(ns * sizeof *col);
	if (!col)
		goto out;
	if (ns > 1)
		printf("over %" PRIu32 " seeds (%" PRIu64 "..%" PRIu64 "): median (min .. max)\n", ns, o->seed, o->seed + ns - 1);
	for (int p = 0; p < 4; p++) {
		if (ns > 1)
			printf(" %s\n", pol[p]);
		for (int k = 0; k < M_N; k++) {
			for (uint32_t si = 0; si < ns; si++)
				col[si] = m[((size_t)si * 4 + (size_t)p) * M_N + (size_t)k];
			static const char *const mn[] = {"detection %", "false points / 100 m2", "median error m",
			                                 "median error m, RTK fixed", "median error m, consumer", "PR-AUC"};
			if (ns > 1)
				spread(mn[k], col, ns, k == M_DET ? 100.0 : 1.0, k == M_FALSE || k == M_AUC ? "%.3f" : "%.2f");
			else
				qsort(col, ns, sizeof *col, dbl_cmp);
			double v = ns % 2 ? col[ns / 2] : (col[ns / 2 - 1] + col[ns / 2]) / 2.0;
			if (k == M_DET)
				med[p].detection_rate = v;
			else if (k == M_FALSE)
				med[p].false_per_100m2 = v;
		}
	}
	free(col);
	if (ns > 1) {
		printf("pooled over the %" PRIu32 " seeds (every target and square metre weighs the same; %s):\n", ns,
		       roles_text(o->correct_mask));
		for (int p = 0; p < 4; p++) {
			const struct an_sim_eval *q = &pool[p];
			/* every point not on an explosive item is on a fragment, on scrap or on nothing; the roles
			 * decide which of them are false */
			uint32_t frag = q->fragment_points, scrap = q->clutter_points - q->fragment_points;
			uint32_t nothing = q->false_points + q->correct_points - q->clutter_points;
			uint32_t digs = q->false_points + q->correct_points;
			printf("  %-20s %5" PRIu32 "/%-5" PRIu32 " = %5.1f %% detected, %4" PRIu32 " false points = %.3f / 100 m2; "
			       "every dig without an explosive item %" PRIu32 " = %.3f (on a fragment %" PRIu32 ", on scrap %" PRIu32
			       ", on nothing %" PRIu32 " = %.3f)\n",
			       pol[p], q->detected, q->explosive, q->explosive ? 100.0 * q->detected / q->explosive : 0.0,
			       q->false_points, pool_area > 0 ? q->false_points / pool_area * 100.0 : 0.0, digs,
			       pool_area > 0 ? digs / pool_area * 100.0 : 0.0, frag, scrap, nothing,
			       pool_area > 0 ? nothing / pool_area * 100.0 : 0.0);
		}
		by_ground_print(&bg, ", pooled");
		sweep_print(&sw, ", pooled", o->correct_mask);
		ceiling_print(&ceil, ", pooled");
	}
	ex = check_policy(o, med);
out:
	locstat_free(&ls);
	free(m);
	free(sc);
	return ex;
}

int scentrack_sim_evaluate(const struct scentrack_sim_run_opts *o)
{
	if (o->in_process)
		return evaluate_in_process(o);
	struct scentrack_sim_run_opts fo = *o;
	fo.fast = true;
	struct an_sim_world w;
	int ex;
	int64_t so_far_ms = INT64_MAX;
	if (o->so_far) {
		/* the day as far as DIR got, without running anything */
		char p[1200], line[128], err[512];
		snprintf(p, sizeof p, "%s/state", o->dir);
		FILE *f = fopen(p, "re");
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, "sim_ms %" SCNd64, &so_far_ms) == 1)
				break;
		if (f)
			fclose(f);
		struct an_sim_scenario *sc = malloc(sizeof *sc);
		if (!sc)
			return EX_SOFTWARE;
		an_sim_scenario_defaults(sc);
		int r = so_far_ms == INT64_MAX ? -ENOENT : an_sim_scenario_load(sc, o->scenario, err, sizeof err);
		if (r == 0)
			r = an_sim_world_build(&w, sc, o->seed, err, sizeof err);
		free(sc);
		if (r < 0) {
			fprintf(stderr, "scentrack sim: --so-far: %s\n", so_far_ms == INT64_MAX ? "no state file in the directory" : err);
			return EX_DATAERR;
		}
		ex = 0;
	} else if ((ex = scentrack_sim_run(&fo, &w)) != 0) {
		return ex;
	} else {
		/* stopped (Ctrl-C) before the end: the whole day's truth would count unsearched boxes as missed */
		char p[1200], line[128];
		int done = 0;
		snprintf(p, sizeof p, "%s/state", o->dir);
		FILE *f = fopen(p, "re");
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, "done %d", &done) == 1)
				break;
		if (f)
			fclose(f);
		if (!done) {
			fprintf(stderr, "scentrack sim: the day was stopped before its end: not scored (run again to finish "
			                "it, or add --so-far)\n");
			an_sim_world_free(&w);
			return EX_TEMPFAIL;
		}
	}
	struct hz *h = NULL;
	struct ind *ind = NULL;
	size_t nh = 0, ni = 0;
	struct an_sim_eval_point *pts = NULL;
	struct an_sim_target *all_t = w.targets;
	uint32_t all_n = w.n_targets;
	bool swapped = false;
	ex = EX_DATAERR;
	if (read_hazards(o->dir, &w, &h, &nh) < 0 || read_inds(o->dir, &w, &ind, &ni) < 0)
		goto out;
	ex = EX_SOFTWARE;
	pts = malloc((nh + ni + 1) * sizeof *pts);
	if (!pts)
		goto out;
	/* a hazard point's receiver group: the worst class among the indications nearest to it (within 3 m) */
	for (size_t i = 0; i < ni; i++) {
		double best = 3000.0;
		size_t bi = SIZE_MAX;
		for (size_t k = 0; k < nh; k++) {
			double d = hypot((double)(ind[i].e_mm - h[k].e_mm), (double)(ind[i].n_mm - h[k].n_mm));
			if (d <= best)
				best = d, bi = k;
		}
		if (bi != SIZE_MAX && ind[i].rx >= 0 && (h[bi].group < 0 || ind[i].rx < h[bi].group))
			h[bi].group = ind[i].rx;
	}
	int64_t gate = llround(o->gate_m * 1000.0);
	double area = 0;
	/* the world's ceiling over all its targets (inds index w.targets: before --so-far narrows them) */
	struct ceiling ceil;
	memset(&ceil, 0, sizeof ceil);
	ceiling_add(&w, &ceil);
	bool *fin = calloc(w.n_boxes + 1u, sizeof *fin);
	struct an_sim_target *kept = malloc((w.n_targets + 1u) * sizeof *kept);
	if (!fin || !kept) {
		free(fin);
		free(kept);
		goto out;
	}
	/* --so-far: only boxes with a pass over by then, their targets, and the points near them */
	for (uint32_t i = 0; i < w.n_passes; i++)
		if (w.passes[i].t1_ms <= so_far_ms)
			fin[w.passes[i].box] = true;
	for (uint32_t b = 0; b < w.n_boxes; b++)
		area += fin[b] ? w.boxes[b].area_m2 : 0;
	uint32_t nk = 0;
	for (uint32_t t = 0; t < w.n_targets; t++)
		if (fin[w.targets[t].box])
			kept[nk++] = w.targets[t];
	w.targets = kept;
	w.n_targets = nk;
	swapped = true;
	uint32_t nfin = 0;
	for (uint32_t b = 0; b < w.n_boxes; b++)
		nfin += fin[b];
	if (o->so_far) {
		size_t j = 0;
		for (size_t k = 0; k < nh; k++) {
			bool near = false;
			for (uint32_t b = 0; b < w.n_boxes && !near; b++) {
				const struct an_geo_box *g = &w.boxes[b].geo;
				double de = (double)(h[k].e_mm - g->p0_e_mm), dn = (double)(h[k].n_mm - g->p0_n_mm);
				double al = de * g->ua_e + dn * g->ua_n, ac = de * g->uc_e + dn * g->uc_n;
				near = fin[b] && al >= (double)-gate && al <= (double)(g->lane_len_mm + gate) &&
				       ac >= (double)-gate && ac <= (double)(g->width_mm + gate);
			}
			if (near)
				h[j++] = h[k];
		}
		nh = j;
		j = 0;
		for (size_t k = 0; k < ni; k++) {
			bool near = false;
			for (uint32_t b = 0; b < w.n_boxes && !near; b++) {
				const struct an_geo_box *g = &w.boxes[b].geo;
				double de = (double)(ind[k].e_mm - g->p0_e_mm), dn = (double)(ind[k].n_mm - g->p0_n_mm);
				double al = de * g->ua_e + dn * g->ua_n, ac = de * g->uc_e + dn * g->uc_n;
				near = fin[b] && al >= (double)-gate && al <= (double)(g->lane_len_mm + gate) &&
				       ac >= (double)-gate && ac <= (double)(g->width_mm + gate);
			}
			if (near)
				ind[j++] = ind[k];
		}
		ni = j;
		printf("so far (to %02d:%02d UTC of the day): %" PRIu32 " of %" PRIu32 " boxes searched at least once; "
		       "their targets and the points within %.1f m of them\n",
		       (int)((so_far_ms / 60000) / 60 % 24), (int)(so_far_ms / 60000 % 60), nfin, w.n_boxes, o->gate_m);
	}
	free(fin);
	struct an_sim_eval e[4];
	if (score_policies(&w, h, nh, ind, ni, gate, area, o->correct_mask, pts, e) < 0)
		goto out;
	print_table(&w, e, area, o->gate_m, o->correct_mask);
	struct by_ground bg;
	struct sweep sw;
	memset(&bg, 0, sizeof bg);
	memset(&sw, 0, sizeof sw);
	if (by_ground_add(&w, h, nh, gate, o->correct_mask, pts, &bg) < 0 ||
	    sweep_add(&w, h, nh, gate, area, o->correct_mask, pts, &sw) < 0)
		goto out;
	by_ground_print(&bg, "");
	sweep_print(&sw, "", o->correct_mask);
	if (!o->so_far)
		ceiling_print(&ceil, "");
	ex = check_policy(o, e);
out:
	if (swapped) {
		free(w.targets);
		w.targets = all_t;
		w.n_targets = all_n;
	}
	free(pts);
	free(h);
	free(ind);
	an_sim_world_free(&w);
	return ex;
}

int scentrack_sim_coverage(const char *scenario, uint64_t first_seed, uint32_t seeds, double min_cov)
{
	struct an_sim_scenario *sc = malloc(sizeof *sc);
	char err[512];
	if (!sc)
		return EX_SOFTWARE;
	an_sim_scenario_defaults(sc);
	int r = an_sim_scenario_load(sc, scenario, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "scentrack sim: %s\n", err);
		free(sc);
		return r == -EINVAL ? EX_DATAERR : EX_NOINPUT;
	}
	struct an_sim_coverage acc = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < seeds; i++) {
		struct an_sim_world w;
		if ((r = an_sim_world_build(&w, sc, first_seed + i, err, sizeof err)) < 0) {
			fprintf(stderr, "scentrack sim: seed %" PRIu64 ": %s\n", first_seed + i, err);
			free(sc);
			return EX_DATAERR;
		}
		r = an_sim_coverage_add(&w, 0.95, &acc);
		an_sim_world_free(&w);
		if (r < 0) {
			fprintf(stderr, "scentrack sim: coverage: %s\n", strerror(-r));
			free(sc);
			return EX_SOFTWARE;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(sc);
	double cs = acc.sens_n ? (double)acc.sens_cov / (double)acc.sens_n : NAN;
	double cr = acc.rate_n ? (double)acc.rate_cov / (double)acc.rate_n : NAN;
	printf("coverage of the 95 %% intervals, %s, seeds %" PRIu64 "..%" PRIu64 " (in process: world model + the\n"
	       "accuracy report's estimators, no pipeline), %.1f s:\n",
	       scenario, first_seed, first_seed + seeds - 1,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("  sensitivity (Clopper-Pearson, hits/explosive exposures vs mean true p): %.3f of %" PRIu64
	       " intervals (truth below %" PRIu64 ", above %" PRIu64 ")\n", cs, acc.sens_n, acc.sens_below, acc.sens_above);
	printf("  sensitivity (Wilson, same data):                                         %.3f\n",
	       acc.sens_n ? (double)acc.sens_wilson_cov / (double)acc.sens_n : NAN);
	printf("  false-indication rate (Garwood, per 100 m2 vs the true rate):            %.3f of %" PRIu64
	       " intervals (truth below %" PRIu64 ", above %" PRIu64 ")\n", cr, acc.rate_n, acc.rate_below, acc.rate_above);
	printf("  mean events per interval: %.1f hits, %.1f false indications (exact intervals are conservative at\n"
	       "  such counts: coverage >= 95 %% is guaranteed, = 95 %% only with many events)\n",
	       acc.sens_n ? (double)acc.sens_k_sum / (double)acc.sens_n : NAN,
	       acc.rate_n ? (double)acc.rate_k_sum / (double)acc.rate_n : NAN);
	if (acc.hist_n) {
		/* the trainers' record the core fuses with: honest about what it was drawn from, and how far the
		 * day's conditions (fatigue, the hour's heat) move the truth away from it */
		printf("  history record in force (%" PRIu64 " animal-days): sensitivity interval covers the s_hist it was\n"
		       "    drawn from %.3f, false-indication interval the true rate %.3f; the day's true p per explosive\n"
		       "    exposure minus s_hist: %+.3f on average over %" PRIu64 " exposures\n",
		       acc.hist_n, (double)acc.hist_cov / (double)acc.hist_n, (double)acc.hist_rate_cov / (double)acc.hist_n,
		       acc.hist_day_exps ? acc.hist_day_dp_sum / (double)acc.hist_day_exps : NAN, acc.hist_day_exps);
	}
	if (min_cov > 0 && (!(cs >= min_cov) || !(cr >= min_cov))) {
		fprintf(stderr, "scentrack sim: coverage below the required %.3f\n", min_cov);
		return 1;
	}
	return 0;
}
