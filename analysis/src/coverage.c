/*
 * analysis/src/coverage.c — buffered-track coverage: exact point queries and the lane-segment raster
 * (contract in an/coverage.h).
 *
 * Why the raster is defined through the point query. A coverage map and the fusion's "did this pass sweep
 * the hazard" must never disagree, or a report would show a cell as searched while the score ignored it
 * (or the reverse). So there is one predicate, "is P within sweep/2 of a usable element of the track",
 * evaluated in exact integers; the raster merely evaluates it at cell centres, and only for the cells a
 * given element can reach (its bounding box in the box frame, padded by a whole cell so that the rounding
 * of the box rotation can never hide a candidate).
 */
#include "an/coverage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef __int128 i128;

void an_coverage_opts_init(struct an_coverage_opts *o)
{
	const struct an_coverage_opts def = AN_COVERAGE_OPTS_INIT;
	*o = def;
}

int an_coverage_opts_check(const struct an_coverage_opts *o)
{
	if (o == NULL || o->version != AN_COVERAGE_OPTS_VERSION || o->seg_len_mm == 0 || o->seg_len_mm > 1000000u ||
	    o->max_gap_ms < 0 || o->max_step_mm < 0 || o->max_step_mm > AN_COVERAGE_STEP_MAX_MM ||
	    o->max_cells == 0 || o->max_fixes == 0)
		return -EINVAL;
	return 0;
}

uint32_t an_coverage_sweep_mm(enum an_species species, uint32_t override_mm)
{
	if (override_mm != 0)
		return override_mm;
	switch (species) {
	case AN_SPECIES_RAT:
		return AN_COVERAGE_SWEEP_RAT_MM;
	case AN_SPECIES_DOG:
		return AN_COVERAGE_SWEEP_DOG_MM;
	}
	return 0;
}

/* ---- path ------------------------------------------------------------------------------------------ */

struct pfix {
	int64_t t_ms, e, n;
	uint32_t h_acc;
};

struct an_coverage_path {
	int64_t sweep;  /* full width, mm */
	int64_t hw;     /* ceil(sweep / 2): bounding-box pad */
	size_t n;       /* usable fixes, sorted */
	struct pfix *f;
	unsigned char *join; /* join[i]: segment f[i] — f[i + 1] is part of the pass */
	size_t n_seg;
	int64_t e_lo, e_hi, n_lo, n_hi; /* bounding box of every element, padded by hw */
};

static int pfix_cmp(const void *pa, const void *pb)
{
	const struct pfix *a = pa, *b = pb;
	if (a->t_ms != b->t_ms)
		return a->t_ms < b->t_ms ? -1 : 1;
	if (a->e != b->e)
		return a->e < b->e ? -1 : 1;
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	if (a->h_acc != b->h_acc)
		return a->h_acc < b->h_acc ? -1 : 1;
	return 0;
}

static bool coord_ok(int64_t v)
{
	return v >= -AN_GEO_RANGE_MAX_MM && v <= AN_GEO_RANGE_MAX_MM;
}

/* Disc around fix a: 4·|P − a|² <= sweep². The caller has checked |dx|, |dy| <= hw. */
static bool disc_covers(const struct an_coverage_path *p, const struct pfix *a, int64_t e, int64_t n)
{
	int64_t dx = e - a->e, dy = n - a->n;
	if (dx < -p->hw || dx > p->hw || dy < -p->hw || dy > p->hw)
		return false;
	return 4 * (dx * dx + dy * dy) <= p->sweep * p->sweep;
}

/* Capsule around segment a–b (exact): distance from P to the closed segment <= sweep / 2. */
static bool seg_covers(const struct an_coverage_path *p, const struct pfix *a, const struct pfix *b, int64_t e,
		       int64_t n)
{
	int64_t elo = a->e < b->e ? a->e : b->e, ehi = a->e < b->e ? b->e : a->e;
	int64_t nlo = a->n < b->n ? a->n : b->n, nhi = a->n < b->n ? b->n : a->n;
	if (e < elo - p->hw || e > ehi + p->hw || n < nlo - p->hw || n > nhi + p->hw)
		return false;
	/* Inside this box |d| <= max_step and |v| <= max_step + hw, so the products below fit i128 easily. */
	i128 dx = b->e - a->e, dy = b->n - a->n;
	i128 vx = e - a->e, vy = n - a->n;
	i128 dd = dx * dx + dy * dy;
	i128 dot = vx * dx + vy * dy;
	i128 s2 = (i128)p->sweep * p->sweep;
	if (dd == 0 || dot <= 0)
		return 4 * (vx * vx + vy * vy) <= s2;
	if (dot >= dd) {
		i128 wx = e - b->e, wy = n - b->n;
		return 4 * (wx * wx + wy * wy) <= s2;
	}
	i128 cross = vx * dy - vy * dx;
	/* dist² = cross² / dd */
	return 4 * cross * cross <= s2 * dd;
}

int an_coverage_path_new(const struct an_coverage_track *t, const struct an_coverage_opts *o,
			 struct an_coverage_path **out)
{
	struct an_coverage_opts def;
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (o == NULL) {
		an_coverage_opts_init(&def);
		o = &def;
	}
	if (t == NULL || an_coverage_opts_check(o) < 0 || (t->fixes == NULL && t->n_fixes > 0))
		return -EINVAL;
	uint32_t sweep = an_coverage_sweep_mm(t->species, t->sweep_width_mm);
	if (sweep == 0 || sweep > AN_COVERAGE_SWEEP_MAX_MM)
		return -EINVAL;
	if (t->n_fixes > o->max_fixes)
		return -E2BIG;
	for (size_t i = 0; i < t->n_fixes; i++)
		if (!coord_ok(t->fixes[i].e_mm) || !coord_ok(t->fixes[i].n_mm))
			return -EINVAL;

	struct an_coverage_path *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->sweep = sweep;
	p->hw = (sweep + 1) / 2;
	size_t nu = 0;
	for (size_t i = 0; i < t->n_fixes; i++)
		if (t->fixes[i].h_acc_mm != 0 && t->fixes[i].h_acc_mm <= o->max_h_acc_mm)
			nu++;
	if (nu > 0) {
		p->f = malloc(nu * sizeof(*p->f));
		p->join = calloc(nu, 1);
		if (p->f == NULL || p->join == NULL)
			goto out_free_path;
	}
	for (size_t i = 0, k = 0; i < t->n_fixes; i++) {
		const struct an_coverage_fix *x = &t->fixes[i];
		if (x->h_acc_mm != 0 && x->h_acc_mm <= o->max_h_acc_mm)
			p->f[k++] = (struct pfix){ x->t_ms, x->e_mm, x->n_mm, x->h_acc_mm };
	}
	p->n = nu;
	if (nu > 1)
		qsort(p->f, nu, sizeof(*p->f), pfix_cmp);
	p->e_lo = p->n_lo = INT64_MAX;
	p->e_hi = p->n_hi = INT64_MIN;
	i128 step2 = (i128)o->max_step_mm * o->max_step_mm;
	for (size_t i = 0; i < nu; i++) {
		const struct pfix *a = &p->f[i];
		if (a->e - p->hw < p->e_lo)
			p->e_lo = a->e - p->hw;
		if (a->e + p->hw > p->e_hi)
			p->e_hi = a->e + p->hw;
		if (a->n - p->hw < p->n_lo)
			p->n_lo = a->n - p->hw;
		if (a->n + p->hw > p->n_hi)
			p->n_hi = a->n + p->hw;
		if (i + 1 < nu) {
			const struct pfix *b = &p->f[i + 1];
			i128 dx = b->e - a->e, dy = b->n - a->n;
			/* t is sorted, so b->t_ms - a->t_ms >= 0; compare without overflowing on absurd times */
			bool close_t = (i128)b->t_ms - a->t_ms <= o->max_gap_ms;
			if (close_t && dx * dx + dy * dy <= step2) {
				p->join[i] = 1;
				p->n_seg++;
			}
		}
	}
	*out = p;
	return 0;

out_free_path:
	free(p->f);
	free(p->join);
	free(p);
	return -ENOMEM;
}

void an_coverage_path_free(struct an_coverage_path *p)
{
	if (p == NULL)
		return;
	free(p->f);
	free(p->join);
	free(p);
}

bool an_coverage_path_covers(const struct an_coverage_path *p, int64_t e_mm, int64_t n_mm)
{
	if (p == NULL || p->n == 0 || e_mm < p->e_lo || e_mm > p->e_hi || n_mm < p->n_lo || n_mm > p->n_hi)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		if (disc_covers(p, &p->f[i], e_mm, n_mm))
			return true;
		if (p->join[i] && seg_covers(p, &p->f[i], &p->f[i + 1], e_mm, n_mm))
			return true;
	}
	return false;
}

size_t an_coverage_path_usable(const struct an_coverage_path *p)
{
	return p == NULL ? 0 : p->n;
}

size_t an_coverage_path_segments(const struct an_coverage_path *p)
{
	return p == NULL ? 0 : p->n_seg;
}

/* ---- grid ------------------------------------------------------------------------------------------ */

struct gsession {
	uint64_t session_id, animal_id;
	uint64_t *bits;
	size_t n_cells;
	int64_t area_mm2;
};

struct ganimal {
	uint64_t animal_id;
	uint64_t *bits;
};

struct an_coverage_grid {
	struct an_geo_box box;
	uint32_t n_lanes, n_segs, seg_len;
	size_t n_cells, words;
	int64_t *ce, *cn;        /* cell centres, ENU */
	uint32_t *n_animals, *n_sessions;
	struct gsession *s;
	size_t ns;
	struct ganimal *a;
	size_t na;
	uint64_t *bitstore; /* (ns + na) * words */
};

static int gsession_cmp(const void *pa, const void *pb)
{
	const struct gsession *a = pa, *b = pb;
	return a->session_id < b->session_id ? -1 : a->session_id > b->session_id;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

static int64_t seg_start(const struct an_coverage_grid *g, uint32_t s)
{
	return (int64_t)s * g->seg_len;
}

static int64_t seg_end(const struct an_coverage_grid *g, uint32_t s)
{
	int64_t e = ((int64_t)s + 1) * g->seg_len;
	return e > g->box.lane_len_mm ? g->box.lane_len_mm : e;
}

/* Set the bits of every cell whose centre lies within the element (disc i, or segment i–i+1). */
static int raster_element(struct an_coverage_grid *g, const struct an_coverage_path *p, size_t i, bool seg,
			  uint64_t *bits)
{
	const struct pfix *a = &p->f[i], *b = seg ? &p->f[i + 1] : &p->f[i];
	struct an_geo_box_pos pa, pb;
	int err;
	if ((err = an_geo_box_locate(&g->box, a->e, a->n, 0, &pa)) < 0 ||
	    (err = an_geo_box_locate(&g->box, b->e, b->n, 0, &pb)) < 0)
		return err;
	int64_t al = pa.along_mm < pb.along_mm ? pa.along_mm : pb.along_mm;
	int64_t ah = pa.along_mm < pb.along_mm ? pb.along_mm : pa.along_mm;
	int64_t cl = pa.across_mm < pb.across_mm ? pa.across_mm : pb.across_mm;
	int64_t ch = pa.across_mm < pb.across_mm ? pb.across_mm : pa.across_mm;
	int64_t L = g->seg_len, W = g->box.lane_width_mm;
	int64_t s_lo = floor_div(al - p->hw, L) - 1, s_hi = floor_div(ah + p->hw, L) + 1;
	int64_t l_lo = floor_div(cl - p->hw, W) - 1, l_hi = floor_div(ch + p->hw, W) + 1;
	if (s_hi < 0 || l_hi < 0 || s_lo >= g->n_segs || l_lo >= g->n_lanes)
		return 0;
	s_lo = clamp64(s_lo, 0, g->n_segs - 1);
	s_hi = clamp64(s_hi, 0, g->n_segs - 1);
	l_lo = clamp64(l_lo, 0, g->n_lanes - 1);
	l_hi = clamp64(l_hi, 0, g->n_lanes - 1);
	for (int64_t l = l_lo; l <= l_hi; l++) {
		for (int64_t s = s_lo; s <= s_hi; s++) {
			size_t c = (size_t)l * g->n_segs + (size_t)s;
			if ((bits[c / 64] >> (c % 64)) & 1u)
				continue;
			bool hit = seg ? seg_covers(p, a, b, g->ce[c], g->cn[c]) : disc_covers(p, a, g->ce[c], g->cn[c]);
			if (hit)
				bits[c / 64] |= (uint64_t)1 << (c % 64);
		}
	}
	return 0;
}

static bool bit(const uint64_t *bits, size_t c)
{
	return (bits[c / 64] >> (c % 64)) & 1u;
}

int an_coverage_grid_new(const struct an_geo_box *box, const struct an_coverage_opts *o,
			 const struct an_coverage_track *tracks, size_t n, struct an_coverage_grid **out)
{
	struct an_coverage_opts def;
	int err;
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (o == NULL) {
		an_coverage_opts_init(&def);
		o = &def;
	}
	if (box == NULL || (tracks == NULL && n > 0) || an_coverage_opts_check(o) < 0 || box->lane_count == 0 ||
	    box->lane_width_mm == 0 || box->lane_len_mm < 1)
		return -EINVAL;
	uint64_t n_segs = ((uint64_t)box->lane_len_mm + o->seg_len_mm - 1) / o->seg_len_mm;
	if (n_segs > UINT32_MAX || n_segs * box->lane_count > o->max_cells)
		return -E2BIG;

	struct an_coverage_grid *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->box = *box;
	g->n_lanes = box->lane_count;
	g->n_segs = (uint32_t)n_segs;
	g->seg_len = o->seg_len_mm;
	g->n_cells = (size_t)n_segs * box->lane_count;
	g->words = (g->n_cells + 63) / 64;
	g->ce = malloc(g->n_cells * sizeof(*g->ce));
	g->cn = malloc(g->n_cells * sizeof(*g->cn));
	g->n_animals = calloc(g->n_cells, sizeof(*g->n_animals));
	g->n_sessions = calloc(g->n_cells, sizeof(*g->n_sessions));
	g->s = calloc(n ? n : 1, sizeof(*g->s));
	g->a = calloc(n ? n : 1, sizeof(*g->a));
	g->bitstore = calloc((2 * n + 1) * g->words, sizeof(uint64_t));
	if (!g->ce || !g->cn || !g->n_animals || !g->n_sessions || !g->s || !g->a || !g->bitstore) {
		err = -ENOMEM;
		goto out_free_grid;
	}
	for (uint32_t l = 0; l < g->n_lanes; l++) {
		int64_t across = (int64_t)l * box->lane_width_mm + box->lane_width_mm / 2;
		for (uint32_t s = 0; s < g->n_segs; s++) {
			size_t c = (size_t)l * g->n_segs + s;
			int64_t along = (seg_start(g, s) + seg_end(g, s)) / 2;
			if ((err = an_geo_box_to_enu(box, along, across, &g->ce[c], &g->cn[c])) < 0)
				goto out_free_grid;
		}
	}

	/* Sessions in id order, so the animal table and every bitmap are independent of the input order. */
	for (size_t i = 0; i < n; i++) {
		g->s[i].session_id = tracks[i].session_id;
		g->s[i].animal_id = (uint64_t)i; /* index for now: the track of this session */
	}
	qsort(g->s, n, sizeof(*g->s), gsession_cmp);
	for (size_t i = 1; i < n; i++)
		if (g->s[i].session_id == g->s[i - 1].session_id) {
			err = -EINVAL;
			goto out_free_grid;
		}
	g->ns = n;
	for (size_t i = 0; i < n; i++) {
		const struct an_coverage_track *t = &tracks[g->s[i].animal_id];
		struct an_coverage_path *p;
		g->s[i].animal_id = t->animal_id;
		g->s[i].bits = g->bitstore + i * g->words;
		if ((err = an_coverage_path_new(t, o, &p)) < 0)
			goto out_free_grid;
		for (size_t k = 0; k < p->n && err == 0; k++) {
			err = raster_element(g, p, k, false, g->s[i].bits);
			if (err == 0 && p->join[k])
				err = raster_element(g, p, k, true, g->s[i].bits);
		}
		an_coverage_path_free(p);
		if (err < 0)
			goto out_free_grid;
	}

	/* Animals: distinct ids ascending; an animal's bitmap is the OR of its passes (overlaps count once). */
	uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	if (ids == NULL) {
		err = -ENOMEM;
		goto out_free_grid;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = g->s[i].animal_id;
	for (size_t i = 1; i < n; i++) /* insertion sort: a box has a handful of animals */
		for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			uint64_t x = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = x;
		}
	for (size_t i = 0; i < n; i++)
		if (g->na == 0 || g->a[g->na - 1].animal_id != ids[i]) {
			g->a[g->na].animal_id = ids[i];
			g->a[g->na].bits = g->bitstore + (n + g->na) * g->words;
			g->na++;
		}
	free(ids);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (g->a[k].animal_id != g->s[i].animal_id)
			k++;
		for (size_t w = 0; w < g->words; w++)
			g->a[k].bits[w] |= g->s[i].bits[w];
	}
	for (size_t c = 0; c < g->n_cells; c++) {
		uint32_t s = (uint32_t)(c % g->n_segs);
		int64_t area = (int64_t)box->lane_width_mm * (seg_end(g, s) - seg_start(g, s));
		for (size_t i = 0; i < g->ns; i++)
			if (bit(g->s[i].bits, c)) {
				g->n_sessions[c]++;
				g->s[i].n_cells++;
				g->s[i].area_mm2 += area;
			}
		for (size_t k = 0; k < g->na; k++)
			if (bit(g->a[k].bits, c))
				g->n_animals[c]++;
	}
	*out = g;
	return 0;

out_free_grid:
	an_coverage_grid_free(g);
	return err;
}

void an_coverage_grid_free(struct an_coverage_grid *g)
{
	if (g == NULL)
		return;
	free(g->ce);
	free(g->cn);
	free(g->n_animals);
	free(g->n_sessions);
	free(g->s);
	free(g->a);
	free(g->bitstore);
	free(g);
}

void an_coverage_grid_dims(const struct an_coverage_grid *g, uint32_t *n_lanes, uint32_t *n_segs)
{
	if (n_lanes != NULL)
		*n_lanes = g ? g->n_lanes : 0;
	if (n_segs != NULL)
		*n_segs = g ? g->n_segs : 0;
}

static int cell_index(const struct an_coverage_grid *g, uint32_t lane, uint32_t seg, size_t *c)
{
	if (g == NULL)
		return -EINVAL;
	if (lane >= g->n_lanes || seg >= g->n_segs)
		return -ERANGE;
	*c = (size_t)lane * g->n_segs + seg;
	return 0;
}

int an_coverage_grid_cell(const struct an_coverage_grid *g, uint32_t lane, uint32_t seg,
			  struct an_coverage_cell *out)
{
	size_t c;
	int err = cell_index(g, lane, seg, &c);
	if (err < 0)
		return err;
	if (out == NULL)
		return -EINVAL;
	out->n_animals = g->n_animals[c];
	out->n_sessions = g->n_sessions[c];
	out->along_mm = (seg_start(g, seg) + seg_end(g, seg)) / 2;
	out->across_mm = (int64_t)lane * g->box.lane_width_mm + g->box.lane_width_mm / 2;
	out->e_mm = g->ce[c];
	out->n_mm = g->cn[c];
	out->area_mm2 = (int64_t)g->box.lane_width_mm * (seg_end(g, seg) - seg_start(g, seg));
	return 0;
}

int an_coverage_grid_cell_animals(const struct an_coverage_grid *g, uint32_t lane, uint32_t seg, uint64_t *ids,
				  size_t cap, size_t *n_out)
{
	size_t c;
	int err = cell_index(g, lane, seg, &c);
	if (err < 0)
		return err;
	if (n_out == NULL || (ids == NULL && cap > 0))
		return -EINVAL;
	size_t k = 0;
	for (size_t i = 0; i < g->na; i++)
		if (bit(g->a[i].bits, c)) {
			if (k < cap)
				ids[k] = g->a[i].animal_id;
			k++;
		}
	*n_out = k;
	return k > cap ? -ENOBUFS : 0;
}

int an_coverage_grid_session_covers(const struct an_coverage_grid *g, uint64_t session_id, uint32_t lane,
				    uint32_t seg, bool *covered)
{
	size_t c;
	int err = cell_index(g, lane, seg, &c);
	if (err < 0)
		return err;
	if (covered == NULL)
		return -EINVAL;
	struct gsession key = { .session_id = session_id };
	const struct gsession *s = bsearch(&key, g->s, g->ns, sizeof(*g->s), gsession_cmp);
	if (s == NULL)
		return -ENOENT;
	*covered = bit(s->bits, c);
	return 0;
}

int an_coverage_grid_animal_covers(const struct an_coverage_grid *g, uint64_t animal_id, uint32_t lane,
				   uint32_t seg, bool *covered)
{
	size_t c;
	int err = cell_index(g, lane, seg, &c);
	if (err < 0)
		return err;
	if (covered == NULL)
		return -EINVAL;
	for (size_t i = 0; i < g->na; i++)
		if (g->a[i].animal_id == animal_id) {
			*covered = bit(g->a[i].bits, c);
			return 0;
		}
	return -ENOENT;
}

int an_coverage_grid_locate(const struct an_coverage_grid *g, int64_t e_mm, int64_t n_mm, uint32_t *lane,
			    uint32_t *seg)
{
	if (g == NULL || lane == NULL || seg == NULL)
		return -EINVAL;
	struct an_geo_box_pos pos;
	int err = an_geo_box_locate(&g->box, e_mm, n_mm, 0, &pos);
	if (err < 0)
		return err;
	if (!pos.inside)
		return -ERANGE;
	int64_t s = pos.along_mm / g->seg_len;
	if (s >= g->n_segs)
		s = g->n_segs - 1; /* the far end belongs to the last segment */
	*lane = (uint32_t)pos.lane;
	*seg = (uint32_t)s;
	return 0;
}

int an_coverage_grid_session_area(const struct an_coverage_grid *g, uint64_t session_id, size_t *n_cells,
				  int64_t *area_mm2)
{
	if (g == NULL)
		return -EINVAL;
	struct gsession key = { .session_id = session_id };
	const struct gsession *s = bsearch(&key, g->s, g->ns, sizeof(*g->s), gsession_cmp);
	if (s == NULL)
		return -ENOENT;
	if (n_cells != NULL)
		*n_cells = s->n_cells;
	if (area_mm2 != NULL)
		*area_mm2 = s->area_mm2;
	return 0;
}

void an_coverage_grid_summary(const struct an_coverage_grid *g, struct an_coverage_summary *out)
{
	memset(out, 0, sizeof(*out));
	if (g == NULL)
		return;
	out->n_cells = g->n_cells;
	out->n_sessions = g->ns;
	out->n_animals = g->na;
	for (size_t c = 0; c < g->n_cells; c++) {
		uint32_t s = (uint32_t)(c % g->n_segs);
		int64_t area = (int64_t)g->box.lane_width_mm * (seg_end(g, s) - seg_start(g, s));
		uint32_t m = g->n_animals[c] < AN_COVERAGE_MULT_BINS - 1 ? g->n_animals[c] : AN_COVERAGE_MULT_BINS - 1;
		out->cells_by_mult[m]++;
		out->area_by_mult_mm2[m] += area;
		out->area_mm2 += area;
	}
	out->fully_covered = out->cells_by_mult[0] == 0;
	out->clearance_grade = out->cells_by_mult[0] == 0 && out->cells_by_mult[1] == 0;
}
