/*
 * analysis/src/hazard.c — hazard points: clustering, scoring, clearance attachment, status, events
 * (contract in an/hazard.h).
 *
 * Why recompute instead of patching. The promise is "state after any prefix = batch recompute of that
 * prefix". The cheapest way to keep a promise like that is to make the streaming path BE the batch path:
 * each an_hazard_apply stores its inputs and derives the whole table again from the stored set, then
 * diffs it against the previous table to produce events. Everything derived is a function of the set
 * (integer clustering, integer centroids, per-animal q10 terms summed in int64, optimal matching with id
 * tie-breaks, statuses from rules), so there is no order to leak. What is incremental is the expensive
 * part that depends on one session only: the prepared track (sorted fixes) is rebuilt only when that
 * session gained fixes. Cost per apply: O(n log n) in indications for the clustering, plus per point one
 * bounding-box test per session and a scan of the tracks whose box contains it. Measured (-O2, one core):
 * 20 rat boxes (60 sessions, 50k fixes), 400 indications added one per apply: mean 0.8 ms, max 6 ms;
 * 100 boxes (300 sessions, 252k fixes), 2000 indications: mean 7.1 ms, max 49 ms per apply. The next
 * step, when a task outgrows that, is to recompute only the points whose cluster or covering sessions
 * changed (the diff stays the same).
 */
#define _POSIX_C_SOURCE 200809L
#include "an/hazard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "an/boxframe.h"
#include "an/cluster.h"

__extension__ typedef __int128 i128;

void an_hazard_opts_init(struct an_hazard_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->version = AN_HAZARD_OPTS_VERSION;
	o->eps_mm = 1000;
	o->default_h_acc_mm = 1000;
	o->max_link_h_acc_mm = AN_HAZARD_MAX_LINK_H_ACC_DEFAULT_MM;
	o->clutter_per_m2 = AN_HAZARD_CLUTTER_DEFAULT_PER_M2;
	o->p_excavate = 0.5;
	o->agree_animals = 2;
	an_fusion_opts_init(&o->fusion);
	o->fusion.gate_radius_mm = 0; /* = eps_mm */
	an_coverage_opts_init(&o->coverage);
	an_match_opts_init(&o->match);
	o->box_frame = true;
	o->pinpoint_rat_mm = 466;
	o->pinpoint_dog_mm = 850;
	o->handler_verdicts = true;
	o->max_inds = (size_t)1 << 22;
	o->max_sessions = (size_t)1 << 20;
	o->max_fixes = (size_t)1 << 26;
	o->max_clearances = (size_t)1 << 20;
	o->max_calibs = (size_t)1 << 20;
	o->max_boxpos = (size_t)1 << 22;
	o->max_reviews = (size_t)1 << 22;
}

struct sess {
	uint64_t session_id;
	bool has_rec;
	struct an_hazard_session rec; /* rec.patches = NULL: the copy is patches[0..rec.n_patches) */
	struct an_geo_box_patch patches[AN_HAZARD_MAX_PATCHES];
	struct an_coverage_fix *fixes;
	size_t n_fixes, cap_fixes;
	struct an_coverage_path *path;
	struct an_boxframe *fit; /* has_rec && rec.has_box && opts.box_frame: the track read in the box's lanes */
	bool dirty;
	bool refit; /* fixes or record changed since the fit */
};

/* A stored indication: the input as given (raw_*, for duplicate checks and for placing it again) and where
 * the engine places it (x_mm, y_mm, h_acc_mm: box frame and the species' pinpointing, see place_ind), which
 * is what clustering, centroids and gates use. */
struct hind {
	uint64_t id;
	uint64_t animal_id, session_id;
	int64_t t_ms;
	int64_t x_mm, y_mm;
	uint32_t h_acc_mm;
	int64_t raw_x_mm, raw_y_mm;
	uint32_t raw_h_acc_mm;
};

struct plink;

struct table {
	struct an_hazard_point *pts;
	size_t n;
	size_t *mem_off; /* n + 1 offsets into mem */
	uint64_t *mem;
	size_t *ev_off; /* n + 1 offsets into ev */
	struct an_fusion_evidence *ev;
	/* Which point each clearance result was matched to (attach_clearances): ascending clearance id, only
	 * the matched ones. Part of the table, so it is always the matching of the points it sits with. */
	struct an_hazard_clearance_match *cm;
	size_t n_cm;
};

struct an_hazard_engine {
	struct an_hazard_opts o;
	int64_t excavate_q10;
	an_hazard_event_fn sink;
	void *sink_ctx;
	uint64_t seq;

	struct hind *inds; /* [0, n_sorted) sorted by id, then the unsorted tail of this apply */
	size_t n_inds, n_sorted, cap_inds;
	struct sess *sess; /* sorted by session_id */
	size_t n_sess, cap_sess;
	size_t n_fixes_total;
	struct an_hazard_calib *cal; /* sorted by animal id */
	size_t n_cal, cap_cal;
	struct an_hazard_clearance *clr; /* sorted by id */
	size_t n_clr, cap_clr;
	struct an_hazard_boxpos *bp; /* the winning recorder entry per indication, sorted by ind_id */
	size_t n_bp, cap_bp;
	struct an_hazard_review *rv; /* the handler's verdict in force per indication, sorted by ind_id */
	size_t n_rv, cap_rv;
	uint64_t *rv_dirty; /* known indications whose verdict in force changed since the last compute */
	size_t n_rv_dirty, cap_rv_dirty;

	struct table cur;
	/* Incremental recompute (compute_incr): the single-link clustering of every indication kept across
	 * applies, and whether the next apply must recompute everything (calibration or session record added,
	 * no clustering yet, or the last compute failed). */
	struct an_cluster *cl;
	struct plink *pl; /* instead of cl with derived eps */
	bool gate_per_point;
	bool full;
	size_t n_incr, n_full; /* how each apply was computed (tests, stats) */
};

/* ---- small helpers -------------------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need)
		nc = nc / 2 * 3 + 1;
	void *q = realloc(*p, nc * elem);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = nc;
	return 0;
}

/* Insert x at index at of the sorted table *p (*n entries of elem bytes, at most max: the engine's input
 * limits). @retval 0, -ENOSPC at the limit, -ENOMEM */
static int insert_at(void **p, size_t *cap, size_t *n, size_t max, size_t at, const void *x, size_t elem)
{
	if (*n >= max)
		return -ENOSPC;
	int err = grow(p, cap, *n + 1, elem);
	if (err < 0)
		return err;
	char *base = *p;
	memmove(base + (at + 1) * elem, base + at * elem, (*n - at) * elem);
	memcpy(base + at * elem, x, elem);
	(*n)++;
	return 0;
}

static bool coord_ok(int64_t v)
{
	return v >= -AN_GEO_RANGE_MAX_MM && v <= AN_GEO_RANGE_MAX_MM;
}

static bool species_ok(enum an_species s)
{
	return s == AN_SPECIES_RAT || s == AN_SPECIES_DOG;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static void table_free(struct table *t)
{
	free(t->pts);
	free(t->mem_off);
	free(t->mem);
	free(t->ev_off);
	free(t->ev);
	free(t->cm);
	memset(t, 0, sizeof(*t));
}

/* ---- derived eps: single link with a per-pair radius (contract in an/hazard.h) ------------------------ */

int64_t an_hazard_pair_eps_mm(uint32_t h_acc_a_mm, uint32_t h_acc_b_mm, double clutter_per_m2)
{
	const uint64_t cap = 10000000u;
	uint64_t a = h_acc_a_mm < cap ? h_acc_a_mm : cap;
	uint64_t b = h_acc_b_mm < cap ? h_acc_b_mm : cap;
	/* χ²₂(0.95) = −2 ln 0.05 = 5.99146…, taken as 59915/10000 (rounded up); per-axis variance of the
	 * difference (a² + b²)/2. (a² + b²)·59915 <= 1.2e19 < 2^64. ceil, then an exact integer square root
	 * rounded up: the radius is never smaller than the formula. */
	uint64_t v = ((a * a + b * b) * 59915u + 19999u) / 20000u;
	uint64_t r = (uint64_t)sqrt((double)v);
	while (r * r > v)
		r--;
	while (r * r < v)
		r++;
	if (clutter_per_m2 > 0.0) {
		/* the likelihood-ratio gate: link only where a second indication of the same item (2-D normal
		 * difference, per-axis variance s) is more likely than an unrelated one (density β) */
		double s = ((double)a * (double)a + (double)b * (double)b) / 2e6; /* m² */
		double x = 2.0 * 3.14159265358979323846 * s * clutter_per_m2;
		uint64_t lr = 0;
		if (x < 1.0)
			lr = (uint64_t)ceil(1000.0 * sqrt(2.0 * s * log(1.0 / x)));
		if (lr < r)
			r = lr;
	}
	return r < AN_CLUSTER_EPS_FLOOR_MM ? AN_CLUSTER_EPS_FLOOR_MM : (int64_t)r;
}

struct pl_node {
	uint64_t id, min_id; /* min_id: of the component, valid at a root */
	int64_t x, y;
	uint32_t h_acc;
	bool linkable;
	size_t parent, next; /* next in its grid cell, SIZE_MAX = end */
};
struct pl_cell {
	int64_t cx, cy;
	size_t head; /* SIZE_MAX = empty slot */
};
struct plink {
	struct pl_node *nd;
	size_t n, cap;
	size_t *ids; /* open addressing id → node + 1 (0 = empty), power of two */
	size_t ids_cap;
	struct pl_cell *cells; /* open addressing (cx, cy) → first node */
	size_t cells_cap, cells_n;
	int64_t cell_mm; /* >= every pair radius, so a 3 × 3 block of cells holds every partner */
	uint32_t max_h, def_h;
	double clutter; /* per m² */
};

static uint64_t pl_mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void plink_free(struct plink *p)
{
	if (p == NULL)
		return;
	free(p->nd);
	free(p->ids);
	free(p->cells);
	free(p);
}

static struct plink *plink_new(uint32_t max_h, uint32_t def_h, double clutter)
{
	struct plink *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->max_h = max_h;
	p->def_h = def_h;
	p->clutter = clutter;
	/* >= every pair radius: the 95 % radius grows with h, the likelihood-ratio radius peaks at
	 * sqrt(1 / (π β e)) (where 2πsβ = 1/e) */
	p->cell_mm = an_hazard_pair_eps_mm(max_h, max_h, 0.0);
	if (clutter > 0.0) {
		int64_t peak = (int64_t)ceil(1000.0 * sqrt(1.0 / (3.14159265358979323846 * clutter * exp(1.0)))) + 1;
		if (peak < p->cell_mm)
			p->cell_mm = peak < AN_CLUSTER_EPS_FLOOR_MM ? AN_CLUSTER_EPS_FLOOR_MM : peak;
	}
	return p;
}

static size_t pl_find_slot(const struct plink *p, uint64_t id)
{
	size_t m = p->ids_cap - 1, i = (size_t)pl_mix(id) & m;
	while (p->ids[i] != 0 && p->nd[p->ids[i] - 1].id != id)
		i = (i + 1) & m;
	return i;
}

static size_t pl_cell_slot(const struct plink *p, int64_t cx, int64_t cy)
{
	size_t m = p->cells_cap - 1;
	size_t i = (size_t)pl_mix((uint64_t)cx * 0x9e3779b97f4a7c15ULL ^ (uint64_t)cy) & m;
	while (p->cells[i].head != SIZE_MAX && (p->cells[i].cx != cx || p->cells[i].cy != cy))
		i = (i + 1) & m;
	return i;
}

static int pl_grow(struct plink *p)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 64;
		struct pl_node *q = realloc(p->nd, nc * sizeof(*q));
		if (q == NULL)
			return -ENOMEM;
		p->nd = q;
		p->cap = nc;
	}
	if (2 * (p->n + 1) > p->ids_cap) {
		size_t nc = p->ids_cap ? p->ids_cap * 2 : 128;
		size_t *old = p->ids, oc = p->ids_cap;
		p->ids = calloc(nc, sizeof(*p->ids));
		if (p->ids == NULL) {
			p->ids = old;
			return -ENOMEM;
		}
		p->ids_cap = nc;
		for (size_t i = 0; i < oc; i++)
			if (old[i] != 0)
				p->ids[pl_find_slot(p, p->nd[old[i] - 1].id)] = old[i];
		free(old);
	}
	if (2 * (p->cells_n + 1) > p->cells_cap) {
		size_t nc = p->cells_cap ? p->cells_cap * 2 : 128;
		struct pl_cell *old = p->cells;
		size_t oc = p->cells_cap;
		p->cells = malloc(nc * sizeof(*p->cells));
		if (p->cells == NULL) {
			p->cells = old;
			return -ENOMEM;
		}
		p->cells_cap = nc;
		for (size_t i = 0; i < nc; i++)
			p->cells[i].head = SIZE_MAX;
		for (size_t i = 0; i < oc; i++)
			if (old[i].head != SIZE_MAX)
				p->cells[pl_cell_slot(p, old[i].cx, old[i].cy)] = old[i];
		free(old);
	}
	return 0;
}

static size_t pl_root(struct plink *p, size_t i)
{
	while (p->nd[i].parent != i) {
		p->nd[i].parent = p->nd[p->nd[i].parent].parent; /* path halving */
		i = p->nd[i].parent;
	}
	return i;
}

static void pl_union(struct plink *p, size_t a, size_t b)
{
	a = pl_root(p, a);
	b = pl_root(p, b);
	if (a == b)
		return;
	/* the root keeps the smaller id: components, not the union order, decide every label */
	if (p->nd[b].min_id < p->nd[a].min_id) {
		size_t t = a;
		a = b;
		b = t;
	}
	p->nd[b].parent = a;
}

/* Add one indication (an id already there is ignored: the engine rejects a changed one before). */
static int plink_insert(struct plink *p, uint64_t id, int64_t x, int64_t y, uint32_t h_acc)
{
	int err = pl_grow(p);
	if (err < 0)
		return err;
	size_t slot = pl_find_slot(p, id);
	if (p->ids[slot] != 0)
		return 0;
	size_t i = p->n++;
	uint32_t h = h_acc ? h_acc : p->def_h;
	p->nd[i] = (struct pl_node){ id, id, x, y, h, h <= p->max_h, i, SIZE_MAX };
	p->ids[slot] = i + 1;
	if (!p->nd[i].linkable)
		return 0;
	int64_t cx = floor_div(x, p->cell_mm), cy = floor_div(y, p->cell_mm);
	for (int64_t dx = -1; dx <= 1; dx++)
		for (int64_t dy = -1; dy <= 1; dy++) {
			size_t c = pl_cell_slot(p, cx + dx, cy + dy);
			for (size_t j = p->cells[c].head; j != SIZE_MAX; j = p->nd[j].next) {
				int64_t ex = p->nd[j].x - x, ey = p->nd[j].y - y, r = an_hazard_pair_eps_mm(h, p->nd[j].h_acc, p->clutter);
				/* partners lie within 2 cells, so ex, ey, r stay far below 2^31 and the squares fit */
				if (ex * ex + ey * ey <= r * r)
					pl_union(p, i, j);
			}
		}
	size_t c = pl_cell_slot(p, cx, cy);
	if (p->cells[c].head == SIZE_MAX) {
		p->cells[c].cx = cx;
		p->cells[c].cy = cy;
		p->cells_n++;
	}
	p->nd[i].next = p->cells[c].head;
	p->cells[c].head = i;
	return 0;
}

/* The canonical id (smallest member id) of id's point; 0 = unknown id. */
static uint64_t plink_label(struct plink *p, uint64_t id)
{
	if (p->ids_cap == 0)
		return 0;
	size_t slot = pl_find_slot(p, id);
	return p->ids[slot] ? p->nd[pl_root(p, p->ids[slot] - 1)].min_id : 0;
}

int an_hazard_new(const struct an_hazard_opts *o, struct an_hazard_engine **out)
{
	struct an_hazard_opts def;
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (o == NULL) {
		an_hazard_opts_init(&def);
		o = &def;
	}
	struct an_fusion_opts fo = o->fusion;
	if (fo.gate_radius_mm == 0)
		fo.gate_radius_mm = o->eps_mm != AN_HAZARD_EPS_DERIVED ? o->eps_mm : AN_CLUSTER_EPS_FLOOR_MM;
	if (o->version != AN_HAZARD_OPTS_VERSION || o->eps_mm < 0 || o->eps_mm > 1000000 ||
	    (o->eps_mm == AN_HAZARD_EPS_DERIVED && (o->max_link_h_acc_mm < 1 || o->max_link_h_acc_mm > 10000000 ||
	                                            !(o->clutter_per_m2 >= 0.0 && o->clutter_per_m2 <= 1.0))) ||
	    !(o->p_excavate > 0.0 && o->p_excavate < 1.0) || o->agree_animals < 1 || an_fusion_opts_check(&fo) < 0 ||
	    an_coverage_opts_check(&o->coverage) < 0 || o->match.version != AN_MATCH_OPTS_VERSION || o->max_inds == 0)
		return -EINVAL;
	struct an_hazard_engine *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->o = *o;
	h->o.fusion = fo; /* the engine-wide gate: base ratios; per point with derived eps (gate_per_point) */
	h->gate_per_point = o->eps_mm == AN_HAZARD_EPS_DERIVED && o->fusion.gate_radius_mm == 0;
	if (an_fusion_logit_q10(o->p_excavate, &h->excavate_q10) < 0) {
		free(h);
		return -EINVAL;
	}
	*out = h;
	return 0;
}

void an_hazard_free(struct an_hazard_engine *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_sess; i++) {
		free(h->sess[i].fixes);
		an_coverage_path_free(h->sess[i].path);
		an_boxframe_free(h->sess[i].fit);
	}
	free(h->sess);
	free(h->inds);
	free(h->cal);
	free(h->clr);
	free(h->bp);
	free(h->rv);
	free(h->rv_dirty);
	table_free(&h->cur);
	an_cluster_free(h->cl);
	plink_free(h->pl);
	free(h);
}

void an_hazard_set_sink(struct an_hazard_engine *h, an_hazard_event_fn fn, void *ctx)
{
	h->sink = fn;
	h->sink_ctx = ctx;
}

/* ---- stored inputs -------------------------------------------------------------------------------------- */

static int ind_cmp(const void *pa, const void *pb)
{
	const struct hind *a = pa, *b = pb;
	return cmp_u64(a->id, b->id);
}

static const struct hind *ind_find(const struct an_hazard_engine *h, uint64_t id)
{
	struct hind key = { .id = id };
	const struct hind *r = h->n_sorted ? bsearch(&key, h->inds, h->n_sorted, sizeof(*h->inds), ind_cmp) : NULL;
	if (r != NULL)
		return r;
	for (size_t i = h->n_sorted; i < h->n_inds; i++)
		if (h->inds[i].id == id)
			return &h->inds[i];
	return NULL;
}

static bool ind_same(const struct hind *a, const struct an_hazard_ind *b)
{
	return a->id == b->id && a->animal_id == b->animal_id && a->session_id == b->session_id && a->t_ms == b->t_ms &&
	       a->raw_x_mm == b->x_mm && a->raw_y_mm == b->y_mm && a->raw_h_acc_mm == b->h_acc_mm;
}

/* Index of the session entry, or where it would go (*found = false). */
/* Lower bound of key in n records of `stride` bytes sorted by the uint64 at `off` in each: the index of the
 * first record whose key is >= key; *found (may be NULL) says whether it equals key. Every sorted table of
 * the engine (sessions, calibrations, clearances, box positions, verdicts, points) is searched with it. */
static size_t key_pos(const void *base, size_t n, size_t stride, size_t off, uint64_t key, bool *found)
{
	const unsigned char *b = base;
	uint64_t k = 0;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		memcpy(&k, b + mid * stride + off, sizeof k);
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (found != NULL) {
		if (lo < n)
			memcpy(&k, b + lo * stride + off, sizeof k);
		*found = lo < n && k == key;
	}
	return lo;
}
#define KEY_POS(arr, n, field, key, found) \
	key_pos((arr), (n), sizeof *(arr), offsetof(__typeof__(*(arr)), field), (key), (found))

static size_t sess_pos(const struct an_hazard_engine *h, uint64_t sid, bool *found)
{
	return KEY_POS(h->sess, h->n_sess, session_id, sid, found);
}

static int sess_get(struct an_hazard_engine *h, uint64_t sid, struct sess **out)
{
	bool found;
	size_t at = sess_pos(h, sid, &found);
	if (!found) {
		struct sess fresh = {.session_id = sid};
		int err = insert_at((void **)&h->sess, &h->cap_sess, &h->n_sess, h->o.max_sessions, at, &fresh,
		                    sizeof(*h->sess));
		if (err < 0)
			return err;
	}
	*out = &h->sess[at];
	return 0;
}

static const struct sess *sess_find(const struct an_hazard_engine *h, uint64_t sid)
{
	bool found;
	size_t at = sess_pos(h, sid, &found);
	return found ? &h->sess[at] : NULL;
}

static bool box_same(const struct an_hazard_session *a, const struct an_hazard_session *b)
{
	if (a->has_box != b->has_box)
		return false;
	if (!a->has_box)
		return true;
	const struct an_geo_box *x = &a->box, *y = &b->box;
	return x->p0_e_mm == y->p0_e_mm && x->p0_n_mm == y->p0_n_mm && x->ua_e == y->ua_e && x->ua_n == y->ua_n &&
	       x->uc_e == y->uc_e && x->uc_n == y->uc_n && x->lane_len_mm == y->lane_len_mm &&
	       x->width_mm == y->width_mm && x->lane_width_mm == y->lane_width_mm && x->lane_count == y->lane_count;
}

static bool patches_same(const struct sess *known, const struct an_hazard_session *s)
{
	if (known->rec.n_patches != s->n_patches)
		return false;
	for (size_t i = 0; i < s->n_patches; i++) {
		const struct an_geo_box_patch *a = &known->patches[i], *b = &s->patches[i];
		if (a->lane_first != b->lane_first || a->lane_count != b->lane_count || a->along_lo_mm != b->along_lo_mm ||
		    a->along_hi_mm != b->along_hi_mm)
			return false;
	}
	return true;
}

static int add_session(struct an_hazard_engine *h, const struct an_hazard_session *s)
{
	if (!species_ok(s->species) || s->sweep_width_mm > AN_COVERAGE_SWEEP_MAX_MM ||
	    (s->has_box && (s->box.lane_count == 0 || s->box.lane_width_mm == 0 || s->box.lane_len_mm < 1 ||
	                    !coord_ok(s->box.p0_e_mm) || !coord_ok(s->box.p0_n_mm))))
		return -EINVAL;
	/* patches are box-frame rectangles: without a box they name nothing, outside it they are a typing error */
	if (s->n_patches > AN_HAZARD_MAX_PATCHES || (s->n_patches > 0 && (!s->has_box || s->patches == NULL)))
		return -EINVAL;
	for (size_t i = 0; i < s->n_patches; i++)
		if (an_geo_box_patch_check(&s->box, &s->patches[i]) < 0)
			return -EINVAL;
	struct sess *known = (struct sess *)sess_find(h, s->session_id);
	if (known != NULL && known->has_rec) {
		struct an_hazard_session *r = &known->rec;
		if (r->animal_id != s->animal_id || r->species != s->species || r->sweep_width_mm != s->sweep_width_mm ||
		    !box_same(r, s) || !patches_same(known, s) || (r->has_end && s->has_end && r->end_ms != s->end_ms))
			return -EEXIST;
		if (r->has_end || !s->has_end)
			return 0; /* nothing new: the ended record wins in any order */
		/* the session has ended: its patches count from now on, wherever they hold a point */
		r->has_end = true;
		r->end_ms = s->end_ms;
		h->full = true;
		return 0;
	}
	for (size_t i = 0; i < h->n_inds; i++)
		if (h->inds[i].session_id == s->session_id && h->inds[i].animal_id != s->animal_id)
			return -EINVAL;
	struct sess *e;
	int err = sess_get(h, s->session_id, &e);
	if (err < 0)
		return err;
	e->has_rec = true;
	e->rec = *s;
	e->rec.patches = NULL;
	if (s->n_patches > 0)
		memcpy(e->patches, s->patches, s->n_patches * sizeof(*e->patches));
	e->dirty = true;
	e->refit = true;
	h->full = true; /* a species (hence likelihood ratios) and a track's owner can change anywhere */
	return 0;
}

static int add_fix(struct an_hazard_engine *h, const struct an_hazard_fix *f)
{
	if (!coord_ok(f->fix.e_mm) || !coord_ok(f->fix.n_mm))
		return -EINVAL;
	if (h->n_fixes_total >= h->o.max_fixes)
		return -ENOSPC;
	struct sess *e;
	int err = sess_get(h, f->session_id, &e);
	if (err < 0)
		return err;
	if (e->n_fixes >= h->o.coverage.max_fixes)
		return -ENOSPC;
	if ((err = grow((void **)&e->fixes, &e->cap_fixes, e->n_fixes + 1, sizeof(*e->fixes))) < 0)
		return err;
	e->fixes[e->n_fixes++] = f->fix;
	e->dirty = true;
	e->refit = true;
	h->n_fixes_total++;
	return 0;
}

static int add_ind(struct an_hazard_engine *h, const struct an_hazard_ind *in)
{
	if (in->id == 0 || in->id == UINT64_MAX || !coord_ok(in->x_mm) || !coord_ok(in->y_mm))
		return -EINVAL;
	const struct hind *known = ind_find(h, in->id);
	if (known != NULL)
		return ind_same(known, in) ? 0 : -EEXIST;
	const struct sess *s = sess_find(h, in->session_id);
	if (s != NULL && s->has_rec && s->rec.animal_id != in->animal_id)
		return -EINVAL;
	if (h->n_inds >= h->o.max_inds)
		return -ENOSPC;
	int err = grow((void **)&h->inds, &h->cap_inds, h->n_inds + 1, sizeof(*h->inds));
	if (err < 0)
		return err;
	/* placed when the apply computes (place_ind): the session's fit may change within this apply */
	h->inds[h->n_inds++] = (struct hind){ in->id,    in->animal_id, in->session_id, in->t_ms,
	                                      in->x_mm,  in->y_mm,      in->h_acc_mm,   in->x_mm,
	                                      in->y_mm,  in->h_acc_mm };
	return 0;
}

/* Total order on calibration records with equal as_of_ms, so the winner does not depend on arrival. */
static int calib_cmp(const struct an_hazard_calib *a, const struct an_hazard_calib *b)
{
	int c;
	if (a->as_of_ms != b->as_of_ms)
		return a->as_of_ms < b->as_of_ms ? -1 : 1;
	if ((c = cmp_u64(a->cal.hits, b->cal.hits)) != 0 || (c = cmp_u64(a->cal.misses, b->cal.misses)) != 0 ||
	    (c = cmp_u64(a->cal.false_inds, b->cal.false_inds)) != 0)
		return c;
	if (a->cal.area_m2 != b->cal.area_m2)
		return a->cal.area_m2 < b->cal.area_m2 ? -1 : 1;
	return (int)a->cal.species - (int)b->cal.species;
}

static int add_calib(struct an_hazard_engine *h, const struct an_hazard_calib *c)
{
	if (!species_ok(c->cal.species) || !(c->cal.area_m2 >= 0.0) || !(c->cal.area_m2 < 1e15) ||
	    c->cal.hits > UINT64_MAX / 2 || c->cal.misses > UINT64_MAX / 2)
		return -EINVAL;
	bool hit;
	size_t lo = KEY_POS(h->cal, h->n_cal, cal.animal_id, c->cal.animal_id, &hit);
	if (hit) {
		if (calib_cmp(c, &h->cal[lo]) > 0) {
			h->cal[lo] = *c;
			h->full = true; /* the animal's likelihood ratios change at every point it touches */
		}
		return 0;
	}
	int err = insert_at((void **)&h->cal, &h->cap_cal, &h->n_cal, h->o.max_calibs, lo, c, sizeof(*h->cal));
	if (err < 0)
		return err;
	h->full = true;
	return 0;
}

static bool clr_same(const struct an_hazard_clearance *a, const struct an_hazard_clearance *b)
{
	return a->id == b->id && a->ind_ref == b->ind_ref && a->has_pos == b->has_pos &&
	       (!a->has_pos || (a->x_mm == b->x_mm && a->y_mm == b->y_mm && a->pos_err_mm == b->pos_err_mm)) &&
	       a->result == b->result && a->date_ms == b->date_ms;
}

static int add_clearance(struct an_hazard_engine *h, const struct an_hazard_clearance *c)
{
	if (c->id == 0 || c->result < AN_CLR_AP_MINE || c->result > AN_CLR_NOT_ACCESSIBLE ||
	    (c->has_pos && (!coord_ok(c->x_mm) || !coord_ok(c->y_mm))) || (!c->has_pos && c->ind_ref == 0))
		return -EINVAL;
	bool hit;
	size_t lo = KEY_POS(h->clr, h->n_clr, id, c->id, &hit);
	if (hit)
		return clr_same(&h->clr[lo], c) ? 0 : -EEXIST;
	int err = insert_at((void **)&h->clr, &h->cap_clr, &h->n_clr, h->o.max_clearances, lo, c, sizeof(*h->clr));
	if (err < 0)
		return err;
	if (!c->has_pos) {
		h->clr[lo].x_mm = h->clr[lo].y_mm = 0;
		h->clr[lo].pos_err_mm = 0;
	}
	return 0;
}

/* Total order on recorder entries of one indication: the latest entered_ms, then the larger record. */
static int boxpos_cmp(const struct an_hazard_boxpos *a, const struct an_hazard_boxpos *b)
{
	if (a->entered_ms != b->entered_ms)
		return a->entered_ms < b->entered_ms ? -1 : 1;
	if (a->lane != b->lane)
		return a->lane < b->lane ? -1 : 1;
	if (a->along_mm != b->along_mm)
		return a->along_mm < b->along_mm ? -1 : 1;
	return a->sd_mm < b->sd_mm ? -1 : a->sd_mm > b->sd_mm;
}

static size_t boxpos_pos(const struct an_hazard_engine *h, uint64_t ind_id, bool *found)
{
	return KEY_POS(h->bp, h->n_bp, ind_id, ind_id, found);
}

static int add_boxpos(struct an_hazard_engine *h, const struct an_hazard_boxpos *b)
{
	if (b->ind_id == 0 || b->ind_id == UINT64_MAX || b->lane >= (1u << 20) || b->sd_mm > 10000000u ||
	    !coord_ok(b->along_mm))
		return -EINVAL;
	bool found;
	size_t at = boxpos_pos(h, b->ind_id, &found);
	if (found) {
		if (boxpos_cmp(b, &h->bp[at]) <= 0)
			return 0; /* the same entry again, or one an entry we have supersedes */
		h->bp[at] = *b;
	} else {
		int err = insert_at((void **)&h->bp, &h->cap_bp, &h->n_bp, h->o.max_boxpos, at, b, sizeof(*h->bp));
		if (err < 0)
			return err;
	}
	/* a known indication moves: its links change anywhere, so recompute everything (an indication that is
	 * still unknown is placed with this entry when it arrives) */
	if (ind_find(h, b->ind_id) != NULL)
		h->full = true;
	return 0;
}

static size_t review_pos(const struct an_hazard_engine *h, uint64_t ind_id, bool *found)
{
	return KEY_POS(h->rv, h->n_rv, ind_id, ind_id, found);
}

/* The verdict in force on an indication as the fusion sees it (none with opts.handler_verdicts off). */
static enum an_review review_of(const struct an_hazard_engine *h, uint64_t ind_id)
{
	if (!h->o.handler_verdicts)
		return AN_REVIEW_UNREVIEWED;
	bool found;
	size_t at = review_pos(h, ind_id, &found);
	return found ? h->rv[at].verdict : AN_REVIEW_UNREVIEWED;
}

/* Does verdict a beat b (one indication)? The latest t_ms, ties: rejected (an/hazard.h). */
static bool review_beats(const struct an_hazard_review *a, const struct an_hazard_review *b)
{
	if (a->t_ms != b->t_ms)
		return a->t_ms > b->t_ms;
	return a->verdict == AN_REVIEW_REJECTED && b->verdict != AN_REVIEW_REJECTED;
}

static int add_review(struct an_hazard_engine *h, const struct an_hazard_review *r)
{
	if (r->ind_id == 0 || r->ind_id == UINT64_MAX ||
	    (r->verdict != AN_REVIEW_CONFIRMED && r->verdict != AN_REVIEW_REJECTED))
		return -EINVAL;
	bool found;
	size_t at = review_pos(h, r->ind_id, &found);
	enum an_review before = AN_REVIEW_UNREVIEWED;
	if (found) {
		if (!review_beats(r, &h->rv[at]))
			return 0; /* the same verdict again, or one the verdict in force supersedes */
		before = h->rv[at].verdict;
		h->rv[at] = *r;
	} else {
		int err = insert_at((void **)&h->rv, &h->cap_rv, &h->n_rv, h->o.max_reviews, at, r, sizeof(*h->rv));
		if (err < 0)
			return err;
	}
	/* a known indication's point is scored again (an unknown one is scored with it when it arrives); a
	 * later verdict that says the same changes nothing */
	if (!h->o.handler_verdicts || before == r->verdict || ind_find(h, r->ind_id) == NULL)
		return 0;
	int err = grow((void **)&h->rv_dirty, &h->cap_rv_dirty, h->n_rv_dirty + 1, sizeof(*h->rv_dirty));
	if (err < 0) {
		h->full = true; /* the stored verdict is in force; a full recompute scores it */
		return 0;
	}
	h->rv_dirty[h->n_rv_dirty++] = r->ind_id;
	return 0;
}

/* ---- recompute ------------------------------------------------------------------------------------------ */

static uint32_t isqrt_u64(uint64_t v)
{
	uint64_t r = (uint64_t)sqrt((double)v);
	while (r * r > v)
		r--;
	while ((r + 1) * (r + 1) <= v)
		r++;
	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* Round num / den (den > 0) half away from zero. */
static int64_t div_round(i128 num, i128 den)
{
	i128 q = (num >= 0 ? num + den / 2 : num - den / 2) / den;
	return (int64_t)q;
}

struct lab {
	uint64_t cluster, id;
	size_t idx; /* into inds */
};

static int lab_cmp(const void *pa, const void *pb)
{
	const struct lab *a = pa, *b = pb;
	int c = cmp_u64(a->cluster, b->cluster);
	return c ? c : cmp_u64(a->id, b->id);
}

static enum an_species animal_species(const struct an_hazard_engine *h, uint64_t animal_id)
{
	for (size_t i = 0; i < h->n_sess; i++) /* ascending session id: the smallest wins */
		if (h->sess[i].has_rec && h->sess[i].rec.animal_id == animal_id)
			return h->sess[i].rec.species;
	return AN_SPECIES_RAT;
}

static int u64_cmp_p(const void *pa, const void *pb)
{
	return cmp_u64(*(const uint64_t *)pa, *(const uint64_t *)pb);
}

/* The per-animal likelihood-ratio table (sorted) for every animal known to the engine. */
static int build_lrs(const struct an_hazard_engine *h, struct an_fusion_lr **out, size_t *n_out)
{
	size_t cap = h->n_cal + h->n_sess + h->n_inds;
	uint64_t *ids = malloc((cap ? cap : 1) * sizeof(*ids));
	if (ids == NULL)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < h->n_cal; i++)
		ids[n++] = h->cal[i].cal.animal_id;
	for (size_t i = 0; i < h->n_sess; i++)
		if (h->sess[i].has_rec)
			ids[n++] = h->sess[i].rec.animal_id;
	for (size_t i = 0; i < h->n_inds; i++)
		ids[n++] = h->inds[i].animal_id;
	qsort(ids, n, sizeof(*ids), u64_cmp_p);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || ids[u - 1] != ids[i])
			ids[u++] = ids[i];
	struct an_fusion_lr *lrs = malloc((u ? u : 1) * sizeof(*lrs));
	if (lrs == NULL) {
		free(ids);
		return -ENOMEM;
	}
	int err = 0;
	size_t ci = 0;
	for (size_t i = 0; i < u && err == 0; i++) {
		struct an_fusion_animal a;
		while (ci < h->n_cal && h->cal[ci].cal.animal_id < ids[i])
			ci++;
		if (ci < h->n_cal && h->cal[ci].cal.animal_id == ids[i]) {
			a = h->cal[ci].cal;
		} else {
			memset(&a, 0, sizeof(a));
			a.animal_id = ids[i];
			a.species = animal_species(h, ids[i]);
		}
		err = an_fusion_animal_lr(&h->o.fusion, &a, &lrs[i]);
	}
	free(ids);
	if (err < 0) {
		free(lrs);
		return err;
	}
	*out = lrs;
	*n_out = u;
	return 0;
}

static enum an_hazard_status status_of_result(enum an_clearance_result r)
{
	switch (r) {
	case AN_CLR_AP_MINE:
	case AN_CLR_AT_MINE:
	case AN_CLR_UXO:
	case AN_CLR_OTHER_ERW:
		return AN_HAZARD_CONFIRMED_EXPLOSIVE;
	case AN_CLR_FRAGMENT:
		return AN_HAZARD_CONFIRMED_FRAGMENT;
	case AN_CLR_SCRAP:
		return AN_HAZARD_CONFIRMED_SCRAP;
	case AN_CLR_NOTHING:
		return AN_HAZARD_CONFIRMED_NOTHING;
	case AN_CLR_NOT_ACCESSIBLE:
		return AN_HAZARD_NOT_ACCESSIBLE;
	}
	return AN_HAZARD_NOT_ACCESSIBLE;
}

enum an_hazard_status an_hazard_status_rule(const struct an_hazard_point *p, uint32_t agree_animals,
					    int64_t excavate_q10)
{
	if (p->clearance_id != 0)
		return status_of_result(p->clearance_result);
	if (p->n_ind_animals >= agree_animals || p->log_odds_q10 >= excavate_q10)
		return AN_HAZARD_AWAITING_EXCAVATION;
	if (p->n_clean_animals > 0 && p->n_ind_animals > 0)
		return AN_HAZARD_CANDIDATE; /* an independent animal was over it and disagreed */
	return AN_HAZARD_AWAITING_SECOND;
}

/* Does clearance c beat the one already attached (a)? Definitive beats not accessible, then later wins. */
static bool clr_better(const struct an_hazard_clearance *c, const struct an_hazard_clearance *a)
{
	bool cd = c->result != AN_CLR_NOT_ACCESSIBLE, ad = a->result != AN_CLR_NOT_ACCESSIBLE;
	if (cd != ad)
		return cd;
	if (c->date_ms != a->date_ms)
		return c->date_ms > a->date_ms;
	return c->id > a->id;
}

static uint64_t label_of(struct an_hazard_engine *h, uint64_t id);

/* Is ind_id a member of point p of t (members ascending)? */
static bool point_holds(const struct table *t, size_t p, uint64_t ind_id)
{
	size_t lo = t->mem_off[p], hi = t->mem_off[p + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->mem[mid] < ind_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->mem_off[p + 1] && t->mem[lo] == ind_id;
}

/* The index of the point of t holding ind_id (a scan: only for pieces of a split component). */
static bool point_index_of(const struct table *t, uint64_t ind_id, size_t *p_out)
{
	for (size_t p = 0; p < t->n; p++)
		if (point_holds(t, p, ind_id)) {
			*p_out = p;
			return true;
		}
	return false;
}

static int cm_cmp(const void *pa, const void *pb)
{
	const struct an_hazard_clearance_match *a = pa, *b = pb;
	return (a->clearance_id > b->clearance_id) - (a->clearance_id < b->clearance_id);
}

/* labs: the cluster of each indication, indexed like inds; NULL = ask the kept clustering (h->cl). */
static int attach_clearances(struct an_hazard_engine *h, struct table *t, const struct lab *labs)
{
	const struct an_hazard_clearance **att = calloc(t->n ? t->n : 1, sizeof(*att));
	struct an_match_point *a = malloc((t->n ? t->n : 1) * sizeof(*a));
	struct an_match_point *b = malloc((h->n_clr ? h->n_clr : 1) * sizeof(*b));
	size_t *bidx = malloc((h->n_clr ? h->n_clr : 1) * sizeof(*bidx));
	struct an_match_pair *pairs = malloc((h->n_clr ? h->n_clr : 1) * sizeof(*pairs));
	int err = 0;
	free(t->cm);
	t->n_cm = 0;
	t->cm = malloc((h->n_clr ? h->n_clr : 1) * sizeof(*t->cm));
	if (att == NULL || a == NULL || b == NULL || bidx == NULL || pairs == NULL || t->cm == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	size_t nb = 0;
	for (size_t i = 0; i < h->n_clr; i++) {
		const struct an_hazard_clearance *c = &h->clr[i];
		if (c->ind_ref != 0) {
			/* linked: the point holding that indication (binary search in the sorted labels by id) */
			const struct hind *ind = ind_find(h, c->ind_ref);
			if (ind == NULL)
				continue; /* waits for its indication */
			size_t k = (size_t)(ind - h->inds);
			bool hit;
			size_t lo;
			if (labs != NULL) {
				lo = KEY_POS(t->pts, t->n, id, labs[k].cluster, &hit);
			} else {
				/* the kept clustering names the component; a split one is several points */
				lo = KEY_POS(t->pts, t->n, id, label_of(h, c->ind_ref), &hit);
				if (!hit || !point_holds(t, lo, c->ind_ref))
					hit = point_index_of(t, c->ind_ref, &lo);
			}
			if (!hit)
				continue; /* cannot happen: every indication is a member of a point */
			/* matched to that point whether or not it is the result that decides its status */
			t->cm[t->n_cm++] = (struct an_hazard_clearance_match){c->id, t->pts[lo].id};
			if (att[lo] == NULL || clr_better(c, att[lo]))
				att[lo] = c;
		} else if (c->has_pos) {
			b[nb] = (struct an_match_point){ c->id, c->x_mm, c->y_mm, c->pos_err_mm };
			bidx[nb++] = i;
		}
	}
	size_t na = 0;
	size_t *amap = malloc((t->n ? t->n : 1) * sizeof(*amap));
	if (amap == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < t->n; i++)
		if (att[i] == NULL) {
			a[na] = (struct an_match_point){ t->pts[i].id, t->pts[i].x_mm, t->pts[i].y_mm, t->pts[i].sigma_mm };
			amap[na++] = i;
		}
	if (na > 0 && nb > 0) {
		size_t np = 0;
		err = an_match_solve(a, na, b, nb, &h->o.match, pairs, nb, &np, NULL);
		if (err < 0) {
			free(amap);
			goto out_free;
		}
		for (size_t k = 0; k < np; k++) {
			att[amap[pairs[k].ia]] = &h->clr[bidx[pairs[k].ib]];
			t->cm[t->n_cm++] = (struct an_hazard_clearance_match){h->clr[bidx[pairs[k].ib]].id,
									      t->pts[amap[pairs[k].ia]].id};
		}
	}
	free(amap);
	/* by clearance id (each result is matched at most once: linked or by position, never both) */
	qsort(t->cm, t->n_cm, sizeof(*t->cm), cm_cmp);
	for (size_t i = 0; i < t->n; i++)
		if (att[i] != NULL) {
			t->pts[i].clearance_id = att[i]->id;
			t->pts[i].clearance_result = att[i]->result;
		}
out_free:
	free(att);
	free(a);
	free(b);
	free(bidx);
	free(pairs);
	return err;
}

/* Scratch shared by the per-point scoring of one compute. */
struct scorer {
	struct an_fusion_lr *lrs; /* at the engine's gate */
	size_t n_lrs;
	struct an_fusion_lr *plrs; /* at the point's gate (gate_per_point), for gate plrs_gate_mm */
	int64_t plrs_gate_mm;
	struct an_fusion_obs *obs;
	size_t cap_obs;
	size_t cap_ev; /* of t->ev */
};

static void scorer_free(struct scorer *sc)
{
	free(sc->lrs);
	free(sc->plrs);
	free(sc->obs);
}

/* Does an ended session's patch hold (x, y)? (an/hazard.h struct an_hazard_session: the assignment is
 * evidence of a sweep once the handlers report the search done) */
static bool patch_holds(const struct sess *ss, int64_t x_mm, int64_t y_mm)
{
	if (!ss->rec.has_end || !ss->rec.has_box)
		return false;
	for (size_t i = 0; i < ss->rec.n_patches; i++)
		if (an_geo_box_patch_contains(&ss->rec.box, &ss->patches[i], x_mm, y_mm))
			return true;
	return false;
}

/* Point t->pts[p] from its members t->mem[t->mem_off[p] .. t->mem_off[p + 1]) (ascending ids): centroid,
 * sigma, times, observations (members, then every recorded session whose track covers the centroid), fusion
 * (evidence appended at t->ev_off[p]), status from the evidence (clearances come later). The inds array must
 * be sorted. */
static int score_point(struct an_hazard_engine *h, struct scorer *sc, struct table *t, size_t p)
{
	struct an_hazard_point *pt = &t->pts[p];
	size_t i = t->mem_off[p], j = t->mem_off[p + 1];
	memset(pt, 0, sizeof(*pt));
	pt->id = t->mem[i];
	pt->n_ind = (uint32_t)(j - i);
	i128 sx = 0, sy = 0, wx = 0, wy = 0, wsum = 0;
	uint64_t var = 0;
	pt->first_t_ms = INT64_MAX;
	pt->last_t_ms = INT64_MIN;
	size_t need = (j - i) + h->n_sess;
	if (need > sc->cap_obs) {
		struct an_fusion_obs *q = realloc(sc->obs, need * sizeof(*q));
		if (q == NULL)
			return -ENOMEM;
		sc->obs = q;
		sc->cap_obs = need;
	}
	size_t no = 0;
	for (size_t k = i; k < j; k++) {
		const struct hind *d = ind_find(h, t->mem[k]);
		if (d == NULL)
			return -EIO; /* cannot happen: members come from the inds */
		sx += d->x_mm;
		sy += d->y_mm;
		uint64_t s = d->h_acc_mm ? d->h_acc_mm : h->o.default_h_acc_mm;
		var += s * s;
		/* inverse-variance weight in integers: 2^40 / h² (h >= 1 mm, so w <= 2^40; Σ w·x < 2^100) */
		i128 w = (i128)(((uint64_t)1 << 40) / (s ? s * s : 1));
		if (w == 0)
			w = 1;
		wx += w * d->x_mm;
		wy += w * d->y_mm;
		wsum += w;
		if (d->t_ms < pt->first_t_ms)
			pt->first_t_ms = d->t_ms;
		if (d->t_ms > pt->last_t_ms)
			pt->last_t_ms = d->t_ms;
		sc->obs[no++] = (struct an_fusion_obs){ d->animal_id, d->session_id, true, d->id, review_of(h, d->id) };
	}
	if (h->o.eps_mm == AN_HAZARD_EPS_DERIVED) {
		/* derived eps links fixes of very different accuracy (RTK with consumer): the best estimate of the
		 * item's position is the inverse-variance weighted mean, and its sigma sqrt(1 / Σ 1/hᵢ²) */
		pt->x_mm = div_round(wx, wsum);
		pt->y_mm = div_round(wy, wsum);
		pt->sigma_mm = isqrt_u64((uint64_t)((((i128)1 << 40) + wsum / 2) / wsum));
	} else {
		pt->x_mm = div_round(sx, (i128)(j - i));
		pt->y_mm = div_round(sy, (i128)(j - i));
		pt->sigma_mm = isqrt_u64(var) / (uint32_t)(j - i);
	}
	/* the gate: the engine's, or (derived eps) where a further indication of this item would land */
	const struct an_fusion_opts *fo = &h->o.fusion;
	const struct an_fusion_lr *lrs = sc->lrs;
	struct an_fusion_opts pfo;
	if (h->gate_per_point) {
		uint32_t hbar = isqrt_u64(var / (uint64_t)(j - i)); /* RMS of the members' h_acc */
		if (j - i > 1 && hbar > h->o.max_link_h_acc_mm)
			hbar = h->o.max_link_h_acc_mm; /* linked members are at most that */
		int64_t r = an_hazard_pair_eps_mm(hbar, hbar, h->o.clutter_per_m2);
		if (r > 1000000)
			r = 1000000; /* fusion's limit: 1 km */
		pfo = h->o.fusion;
		pfo.gate_radius_mm = r;
		fo = &pfo;
		if (sc->plrs == NULL || sc->plrs_gate_mm != r) {
			if (sc->plrs == NULL && (sc->plrs = malloc((sc->n_lrs ? sc->n_lrs : 1) * sizeof(*sc->plrs))) == NULL)
				return -ENOMEM;
			for (size_t a = 0; a < sc->n_lrs; a++) {
				int e = an_fusion_lr_regate(fo, &sc->lrs[a], &sc->plrs[a]);
				if (e < 0) {
					sc->plrs_gate_mm = 0;
					return e;
				}
			}
			sc->plrs_gate_mm = r;
		}
		lrs = sc->plrs;
	}
	for (size_t s = 0; s < h->n_sess; s++) {
		const struct sess *ss = &h->sess[s];
		if (ss->has_rec &&
		    (an_coverage_path_covers(ss->path, pt->x_mm, pt->y_mm) || patch_holds(ss, pt->x_mm, pt->y_mm)))
			sc->obs[no++] = (struct an_fusion_obs){ ss->rec.animal_id, ss->session_id, false, 0, AN_REVIEW_UNREVIEWED };
	}
	struct an_fusion_result fr;
	size_t n_ev = t->ev_off[p];
	size_t room = sc->cap_ev - n_ev;
	int err = an_fusion_score(fo, lrs, sc->n_lrs, sc->obs, no, t->ev ? t->ev + n_ev : NULL, t->ev ? room : 0, &fr);
	if (err == -ENOBUFS) {
		size_t nc = sc->cap_ev * 2 > n_ev + fr.n_evidence ? sc->cap_ev * 2 : n_ev + fr.n_evidence + 64;
		struct an_fusion_evidence *q = realloc(t->ev, nc * sizeof(*q));
		if (q == NULL)
			return -ENOMEM;
		t->ev = q;
		sc->cap_ev = nc;
		err = an_fusion_score(fo, lrs, sc->n_lrs, sc->obs, no, t->ev + n_ev, sc->cap_ev - n_ev, &fr);
	}
	if (err < 0)
		return err;
	t->ev_off[p + 1] = n_ev + fr.n_evidence;
	pt->n_ind_animals = fr.n_ind_animals;
	pt->n_ind_passes = fr.n_ind_passes;
	pt->n_clean_passes = fr.n_clean_passes;
	pt->n_clean_animals = fr.n_clean_only_animals; /* second opinions: never indicated here */
	pt->prior_q10 = fr.prior_q10;
	pt->log_odds_q10 = fr.total_q10;
	pt->p_explosive = fr.p;
	pt->status = an_hazard_status_rule(pt, h->o.agree_animals, h->excavate_q10);
	return 0;
}

/* Copy point p of old (members, evidence) as point q of t; its clearance is decided again later. */
static int copy_point(struct scorer *sc, const struct table *old, size_t p, struct table *t, size_t q, size_t *mem_at)
{
	size_t m0 = old->mem_off[p], m1 = old->mem_off[p + 1], e0 = old->ev_off[p], e1 = old->ev_off[p + 1];
	memcpy(t->mem + *mem_at, old->mem + m0, (m1 - m0) * sizeof(*t->mem));
	*mem_at += m1 - m0;
	t->mem_off[q + 1] = *mem_at;
	size_t n_ev = t->ev_off[q];
	if (n_ev + (e1 - e0) > sc->cap_ev) {
		size_t nc = sc->cap_ev * 2 > n_ev + (e1 - e0) ? sc->cap_ev * 2 : n_ev + (e1 - e0) + 64;
		struct an_fusion_evidence *r = realloc(t->ev, nc * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		t->ev = r;
		sc->cap_ev = nc;
	}
	if (e1 > e0)
		memcpy(t->ev + n_ev, old->ev + e0, (e1 - e0) * sizeof(*t->ev));
	t->ev_off[q + 1] = n_ev + (e1 - e0);
	t->pts[q] = old->pts[p];
	t->pts[q].clearance_id = 0;
	t->pts[q].clearance_result = 0;
	return 0;
}

/* Clearances over the finished table, then each point's status (a clearance wins over the evidence). */
static int finish(struct an_hazard_engine *h, struct table *t, const struct lab *labs)
{
	for (size_t k = 0; k < t->n; k++) {
		t->pts[k].clearance_id = 0;
		t->pts[k].clearance_result = 0;
		t->pts[k].status = an_hazard_status_rule(&t->pts[k], h->o.agree_animals, h->excavate_q10);
	}
	if (h->n_clr == 0)
		return 0;
	int err = attach_clearances(h, t, labs);
	if (err < 0)
		return err;
	for (size_t k = 0; k < t->n; k++)
		if (t->pts[k].clearance_id != 0)
			t->pts[k].status = status_of_result(t->pts[k].clearance_result);
	return 0;
}

static int table_alloc(struct table *t, size_t n_pts, size_t n_mem)
{
	memset(t, 0, sizeof(*t));
	t->n = n_pts;
	t->pts = calloc(n_pts ? n_pts : 1, sizeof(*t->pts));
	t->mem_off = calloc(n_pts + 1, sizeof(*t->mem_off));
	t->mem = malloc((n_mem ? n_mem : 1) * sizeof(*t->mem));
	t->ev_off = calloc(n_pts + 1, sizeof(*t->ev_off));
	if (t->pts == NULL || t->mem_off == NULL || t->mem == NULL || t->ev_off == NULL) {
		table_free(t);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Box frame. A session's fit is a pure function of its record and its fixes, refitted when either changed.
 * A changed fit moves the session's indications, and single-link clustering only ever merges: so when the
 * session has indications the apply becomes a full recompute (in practice once per lane of a pass in
 * progress, when the lane's end turn is read, plus any late fix of a finished pass). A fit that did not
 * change (fixes in the middle of a lane) keeps the apply incremental.
 */
static int update_fits(struct an_hazard_engine *h)
{
	for (size_t i = 0; i < h->n_sess; i++) {
		struct sess *s = &h->sess[i];
		if (!s->refit)
			continue;
		s->refit = false;
		struct an_boxframe *nf = NULL;
		if (h->o.box_frame && s->has_rec && s->rec.has_box) {
			int err = an_boxframe_fit(&s->rec.box, s->fixes, s->n_fixes, &nf);
			if (err < 0) {
				s->refit = true;
				return err;
			}
		}
		if (an_boxframe_same(s->fit, nf)) {
			an_boxframe_free(nf);
			continue;
		}
		an_boxframe_free(s->fit);
		s->fit = nf;
		for (size_t k = 0; k < h->n_inds && !h->full; k++)
			if (h->inds[k].session_id == s->session_id)
				h->full = true;
	}
	return 0;
}

static uint32_t add_quadrature(uint32_t a, uint32_t b)
{
	if (a > 1000000000u || b > 1000000000u)
		return a > b ? a : b; /* 1000 km: nothing to add, and the squares below stay in 64 bits */
	uint64_t v = (uint64_t)a * a + (uint64_t)b * b;
	uint64_t r = isqrt_u64(v);
	if (r * r < v)
		r++; /* round up: never claim more accuracy than the parts give */
	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* Where the engine puts an indication: the recorder's box position when there is one in its session's box
 * (an/hazard.h, struct an_hazard_boxpos) and the fix is not more accurate than it, else its session's box frame when the fit is valid (else as
 * given), then the species' pinpointing added to its accuracy (h_acc 0 = unknown is the engine's default
 * first). The recorder comes first: lane counted and distance read on the ground (~0.2 m) beat a fix read
 * into the lanes (~1 m with consumer GNSS, nothing under canopy). */
static int place_ind(const struct an_hazard_engine *h, struct hind *d)
{
	d->x_mm = d->raw_x_mm;
	d->y_mm = d->raw_y_mm;
	d->h_acc_mm = d->raw_h_acc_mm;
	const struct sess *s = sess_find(h, d->session_id);
	bool found;
	size_t at = boxpos_pos(h, d->id, &found);
	const struct an_hazard_boxpos *bp = found ? &h->bp[at] : NULL;
	int64_t bx, by;
	uint32_t bp_acc = 0;
	if (bp != NULL && s != NULL && s->has_rec && s->rec.has_box) {
		/* across: uniform over the lane, variance w²/12; along: the recorder's sd (DRMS of both) */
		uint64_t w = s->rec.box.lane_width_mm;
		uint64_t v = (uint64_t)bp->sd_mm * bp->sd_mm + (w * w + 11u) / 12u;
		uint64_t r = isqrt_u64(v);
		if (r * r < v)
			r++;
		bp_acc = r == 0 ? 1u : r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
	}
	/* The recorder's entry unless the fix itself is better (RTK fixed, ~2 cm, beats a rope mark's ~0.2 m).
	 * An entry outside the session's box (a lane it does not have, a position beyond the frame) is not
	 * used: the entry paths refuse those, and the engine keeps what it can check. */
	if (bp_acc > 0 && !(d->raw_h_acc_mm > 0 && d->raw_h_acc_mm < bp_acc) && bp->lane < s->rec.box.lane_count &&
	    an_geo_box_to_enu(&s->rec.box, bp->along_mm,
	                      (int64_t)bp->lane * s->rec.box.lane_width_mm + s->rec.box.lane_width_mm / 2, &bx, &by) == 0) {
		d->x_mm = bx;
		d->y_mm = by;
		d->h_acc_mm = bp_acc;
	} else if (s != NULL && s->fit != NULL && d->raw_h_acc_mm > 0) {
		bool placed;
		int err = an_boxframe_place(s->fit, d->t_ms, d->raw_x_mm, d->raw_y_mm, d->raw_h_acc_mm, &d->x_mm, &d->y_mm,
		                            &d->h_acc_mm, &placed);
		if (err < 0)
			return err;
	}
	enum an_species sp = s != NULL && s->has_rec ? s->rec.species : AN_SPECIES_RAT;
	uint32_t pin = sp == AN_SPECIES_DOG ? h->o.pinpoint_dog_mm : h->o.pinpoint_rat_mm;
	if (pin > 0)
		d->h_acc_mm = add_quadrature(d->h_acc_mm ? d->h_acc_mm : h->o.default_h_acc_mm, pin);
	return 0;
}

/* The track a session's coverage is built from: its fixes as given; with a box-frame fit, the fitted lanes
 * run end to end (an_boxframe_lane_track) and the fixes outside them (before the pass, after the lanes that
 * could be read) placed where the fit allows. *n_out fixes in *out (NULL = use s->fixes as they are). */
static int session_track_fixes(const struct sess *s, struct an_coverage_fix **out, size_t *n_out)
{
	*out = NULL;
	*n_out = s->n_fixes;
	if (s->fit == NULL || !s->fit->valid)
		return 0;
	size_t nl = 0;
	int err = an_boxframe_lane_track(s->fit, NULL, 0, &nl);
	if (err < 0 && err != -ENOBUFS)
		return err;
	struct an_coverage_fix *v = malloc((s->n_fixes + nl + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	if ((err = an_boxframe_lane_track(s->fit, v, nl, &nl)) < 0)
		goto out_free;
	size_t k = nl;
	int64_t t_first = s->fit->anchor[0].t_ms, t_last = s->fit->anchor[s->fit->n_anchor - 1].t_ms;
	for (size_t i = 0; i < s->n_fixes; i++) {
		const struct an_coverage_fix *f = &s->fixes[i];
		if (f->t_ms >= t_first && f->t_ms <= t_last)
			continue; /* inside the fitted lanes: the lanes say it */
		bool placed;
		v[k] = *f;
		if ((err = an_boxframe_place(s->fit, f->t_ms, f->e_mm, f->n_mm, f->h_acc_mm, &v[k].e_mm, &v[k].n_mm,
		                             &v[k].h_acc_mm, &placed)) < 0)
			goto out_free;
		k++;
	}
	*out = v;
	*n_out = k;
	return 0;
out_free:
	free(v);
	return err;
}

/* Paths of the sessions whose fixes or record changed; their ids go to dirty (may be NULL). */
static int rebuild_paths(struct an_hazard_engine *h, uint64_t *dirty, size_t *n_dirty)
{
	size_t nd = 0;
	for (size_t i = 0; i < h->n_sess; i++) {
		struct sess *s = &h->sess[i];
		if (!s->dirty)
			continue;
		an_coverage_path_free(s->path);
		s->path = NULL;
		if (s->has_rec) {
			struct an_coverage_fix *placed;
			size_t np;
			int err = session_track_fixes(s, &placed, &np);
			if (err < 0)
				return err;
			struct an_coverage_track tr = { s->session_id, s->rec.animal_id, s->rec.species,
							s->rec.sweep_width_mm, placed ? placed : s->fixes, np };
			err = an_coverage_path_new(&tr, &h->o.coverage, &s->path);
			free(placed);
			if (err < 0)
				return err;
		}
		s->dirty = false;
		if (dirty != NULL)
			dirty[nd] = s->session_id;
		nd++;
	}
	if (n_dirty != NULL)
		*n_dirty = nd;
	return 0;
}

static int cluster_rebuild(struct an_hazard_engine *h)
{
	an_cluster_free(h->cl);
	h->cl = NULL;
	plink_free(h->pl);
	h->pl = NULL;
	if (h->o.eps_mm == AN_HAZARD_EPS_DERIVED) {
		h->pl = plink_new(h->o.max_link_h_acc_mm, h->o.default_h_acc_mm, h->o.clutter_per_m2);
		if (h->pl == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < h->n_inds; i++) {
			const struct hind *d = &h->inds[i];
			int err = plink_insert(h->pl, d->id, d->x_mm, d->y_mm, d->h_acc_mm);
			if (err < 0) {
				plink_free(h->pl);
				h->pl = NULL;
				return err;
			}
		}
		return 0;
	}
	uint64_t cap = h->o.max_inds < AN_CLUSTER_MAX_POINTS_LIMIT ? h->o.max_inds : AN_CLUSTER_MAX_POINTS_LIMIT;
	struct an_cluster_opts co = { h->o.eps_mm, 1, (uint32_t)cap, 0 };
	h->cl = an_cluster_new(&co);
	if (h->cl == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_inds; i++) {
		int err = an_cluster_insert(h->cl, h->inds[i].id, h->inds[i].x_mm, h->inds[i].y_mm);
		if (err < 0) {
			an_cluster_free(h->cl);
			h->cl = NULL;
			return err;
		}
	}
	return 0;
}

/*
 * Cannot-link (contract in an/hazard.h). Two member indications of ONE pass (animal, session) farther apart
 * than the 95 % radius of their difference (floor 1 m: an_hazard_pair_eps_mm without the clutter gate) are
 * two items: the animal went on from the first to the second. Single link chains them when other
 * indications lie between (an item 1–3 m away, a dog's pinpointing), and the point then hides one of them.
 * A component with such a pair is split by constrained single link: its link edges in the order (d, smaller
 * id, larger id), two groups joined only when no cannot-link pair spans them. Every step is a function of
 * the component's set (exact integer d², ties by ids), so the partition is too.
 */
struct cl_node {
	const struct hind *d;
	uint32_t h_mm;    /* as the clustering links it: h_acc 0 → default */
	size_t parent;    /* union-find; a root is the group's smallest index, i.e. its smallest id */
};
struct cl_edge {
	uint64_t d2;
	uint32_t a, b; /* a < b: indices in ascending id order */
};

static int cl_edge_cmp(const void *pa, const void *pb)
{
	const struct cl_edge *x = pa, *y = pb;
	if (x->d2 != y->d2)
		return x->d2 < y->d2 ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return (x->b > y->b) - (x->b < y->b);
}

/* by pass, then id: the same-pass runs cannot-link pairs are looked for in */
static int cl_pass_cmp(const void *pa, const void *pb)
{
	const struct cl_node *x = *(const struct cl_node *const *)pa, *y = *(const struct cl_node *const *)pb;
	int c = cmp_u64(x->d->animal_id, y->d->animal_id);
	if (c == 0)
		c = cmp_u64(x->d->session_id, y->d->session_id);
	return c ? c : cmp_u64(x->d->id, y->d->id);
}

static i128 cl_d2(const struct cl_node *a, const struct cl_node *b)
{
	i128 dx = (i128)a->d->x_mm - b->d->x_mm, dy = (i128)a->d->y_mm - b->d->y_mm;
	return dx * dx + dy * dy;
}

static size_t cl_root(struct cl_node *nd, size_t i)
{
	while (nd[i].parent != i) {
		nd[i].parent = nd[nd[i].parent].parent; /* path halving */
		i = nd[i].parent;
	}
	return i;
}

/*
 * The points of one single-link component: ids[0..k) its members (ascending, known indications), label[i]
 * := the id of the point holding ids[i] (its smallest member). No cannot-link pair: one point, labelled
 * ids[0], exactly as without the rule.
 */
static int partition_component(const struct an_hazard_engine *h, const uint64_t *ids, size_t k, uint64_t *label)
{
	for (size_t i = 0; i < k; i++)
		label[i] = ids[0];
	if (k < 2)
		return 0;
	int err = 0;
	struct cl_node *nd = malloc(k * sizeof(*nd));
	struct cl_node **by_pass = malloc(k * sizeof(*by_pass));
	size_t (*cl)[2] = NULL, n_cl = 0, cap_cl = 0, n_ed = 0, cap_ed = 0;
	struct cl_edge *ed = NULL;
	if (nd == NULL || by_pass == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < k; i++) {
		const struct hind *d = ind_find(h, ids[i]);
		if (d == NULL) {
			err = -EIO; /* cannot happen: members come from the inds */
			goto out_free;
		}
		nd[i] = (struct cl_node){ d, d->h_acc_mm ? d->h_acc_mm : h->o.default_h_acc_mm, i };
		by_pass[i] = &nd[i];
	}
	/* 1. cannot-link pairs: within each pass's run, d > max(1 m, r95) */
	qsort(by_pass, k, sizeof(*by_pass), cl_pass_cmp);
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k && by_pass[j]->d->animal_id == by_pass[i]->d->animal_id &&
		                       by_pass[j]->d->session_id == by_pass[i]->d->session_id; j++) {
			int64_t r = an_hazard_pair_eps_mm(by_pass[i]->h_mm, by_pass[j]->h_mm, 0.0);
			if (cl_d2(by_pass[i], by_pass[j]) <= (i128)r * r)
				continue;
			if (n_cl == cap_cl && (err = grow((void **)&cl, &cap_cl, n_cl + 1, sizeof(*cl))) < 0)
				goto out_free;
			cl[n_cl][0] = (size_t)(by_pass[i] - nd);
			cl[n_cl][1] = (size_t)(by_pass[j] - nd);
			n_cl++;
		}
	if (n_cl == 0)
		goto out_free;
	/* 2. the component's link edges (the clustering's own rule), in (d, smaller id, larger id) order */
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++) {
			i128 d2 = cl_d2(&nd[i], &nd[j]);
			int64_t r = h->o.eps_mm;
			if (h->o.eps_mm == AN_HAZARD_EPS_DERIVED) {
				if (nd[i].h_mm > h->o.max_link_h_acc_mm || nd[j].h_mm > h->o.max_link_h_acc_mm)
					continue;
				r = an_hazard_pair_eps_mm(nd[i].h_mm, nd[j].h_mm, h->o.clutter_per_m2);
			}
			if (d2 > (i128)r * r)
				continue;
			if (n_ed == cap_ed && (err = grow((void **)&ed, &cap_ed, n_ed + 1, sizeof(*ed))) < 0)
				goto out_free;
			ed[n_ed++] = (struct cl_edge){ (uint64_t)d2, (uint32_t)i, (uint32_t)j };
		}
	qsort(ed, n_ed, sizeof(*ed), cl_edge_cmp);
	/* 3. constrained single link */
	for (size_t e = 0; e < n_ed; e++) {
		size_t ra = cl_root(nd, ed[e].a), rb = cl_root(nd, ed[e].b);
		if (ra == rb)
			continue;
		bool spans = false;
		for (size_t c = 0; c < n_cl && !spans; c++) {
			size_t x = cl_root(nd, cl[c][0]), y = cl_root(nd, cl[c][1]);
			spans = (x == ra && y == rb) || (x == rb && y == ra);
		}
		if (spans)
			continue;
		if (rb < ra) {
			size_t t = ra;
			ra = rb;
			rb = t;
		}
		nd[rb].parent = ra;
	}
	for (size_t i = 0; i < k; i++)
		label[i] = ids[cl_root(nd, i)];
out_free:
	free(nd);
	free(by_pass);
	free(cl);
	free(ed);
	return err;
}

/* Replace the component labels of l[0..n) (sorted by (cluster, id)) by point labels (partition_component)
 * and sort again by (point, id). byid: when not NULL, byid[l[i].idx].cluster is relabelled too. */
static int relabel_points(const struct an_hazard_engine *h, struct lab *l, size_t n, struct lab *byid)
{
	uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids)), *pl = malloc((n ? n : 1) * sizeof(*pl));
	int err = 0;
	bool changed = false;
	if (ids == NULL || pl == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && l[j].cluster == l[i].cluster) {
			ids[j - i] = l[j].id;
			j++;
		}
		if (j - i > 1) {
			if ((err = partition_component(h, ids, j - i, pl)) < 0)
				goto out_free;
			for (size_t m = i; m < j; m++)
				if (pl[m - i] != l[m].cluster) {
					l[m].cluster = pl[m - i];
					if (byid != NULL)
						byid[l[m].idx].cluster = pl[m - i];
					changed = true;
				}
		}
		i = j;
	}
	if (changed)
		qsort(l, n, sizeof(*l), lab_cmp);
out_free:
	free(ids);
	free(pl);
	return err;
}

/* Everything from the evidence set (batch DBSCAN of all indications), the reference the incremental path
 * is held to. */
static int compute(struct an_hazard_engine *h, struct table *t)
{
	int err = 0;
	memset(t, 0, sizeof(*t));
	h->n_rv_dirty = 0; /* every point is scored with the verdicts in force */
	/* inds sorted by id: the canonical order for everything below */
	if (h->n_inds > 1)
		qsort(h->inds, h->n_inds, sizeof(*h->inds), ind_cmp);
	h->n_sorted = h->n_inds;
	if ((err = rebuild_paths(h, NULL, NULL)) < 0)
		return err;
	for (size_t i = 0; i < h->n_inds; i++)
		if ((err = place_ind(h, &h->inds[i])) < 0)
			return err;

	size_t n = h->n_inds;
	struct an_cluster_input *cin = malloc((n ? n : 1) * sizeof(*cin));
	struct an_cluster_point *cout = malloc((n ? n : 1) * sizeof(*cout));
	struct lab *labs = malloc((n ? n : 1) * sizeof(*labs));
	struct lab *byid = malloc((n ? n : 1) * sizeof(*byid));
	struct scorer sc = { 0 };
	if (cin == NULL || cout == NULL || labs == NULL || byid == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < n; i++)
		cin[i] = (struct an_cluster_input){ h->inds[i].id, h->inds[i].x_mm, h->inds[i].y_mm };
	if (n > AN_CLUSTER_MAX_POINTS_LIMIT) {
		err = -ENOSPC;
		goto out_free;
	}
	if (h->o.eps_mm == AN_HAZARD_EPS_DERIVED) {
		/* the kept structure IS the batch result: union-find components do not depend on order */
		if ((err = cluster_rebuild(h)) < 0)
			goto out_free;
		for (size_t i = 0; i < n; i++)
			cout[i].cluster_id = plink_label(h->pl, h->inds[i].id);
	} else {
		struct an_cluster_opts co = { h->o.eps_mm, 1, n ? (uint32_t)n : 1u, 0 };
		if (n > 0 && (err = an_cluster_batch(&co, cin, n, cout)) < 0)
			goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		labs[i] = (struct lab){ cout[i].cluster_id, h->inds[i].id, i };
		byid[i] = labs[i];
	}
	qsort(labs, n, sizeof(*labs), lab_cmp);
	/* components → points: a component holding two far indications of one pass splits */
	if ((err = relabel_points(h, labs, n, byid)) < 0)
		goto out_free;
	size_t n_pts = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || labs[i].cluster != labs[i - 1].cluster)
			n_pts++;
	if ((err = table_alloc(t, n_pts, n)) < 0)
		goto out_free;
	if ((err = build_lrs(h, &sc.lrs, &sc.n_lrs)) < 0)
		goto out_free;
	size_t p = 0;
	for (size_t i = 0; i < n; p++) {
		size_t j = i;
		while (j < n && labs[j].cluster == labs[i].cluster) {
			t->mem[j] = labs[j].id;
			j++;
		}
		t->mem_off[p + 1] = j;
		if ((err = score_point(h, &sc, t, p)) < 0)
			goto out_free;
		i = j;
	}
	if ((err = finish(h, t, byid)) < 0)
		goto out_free;
	/* the clustering the next incremental applies start from */
	if (h->o.eps_mm != AN_HAZARD_EPS_DERIVED)
		err = cluster_rebuild(h);

out_free:
	free(cin);
	free(cout);
	free(labs);
	free(byid);
	scorer_free(&sc);
	if (err < 0)
		table_free(t);
	return err;
}

static int u64_cmp_q(const void *pa, const void *pb)
{
	return cmp_u64(*(const uint64_t *)pa, *(const uint64_t *)pb);
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	return n > 0 && bsearch(&x, v, n, sizeof(*v), u64_cmp_q) != NULL;
}

static uint64_t label_of(struct an_hazard_engine *h, uint64_t id)
{
	if (h->pl != NULL)
		return plink_label(h->pl, id);
	uint64_t c = 0;
	bool core;
	return an_cluster_label(h->cl, id, &c, &core) == 0 ? c : 0;
}

/*
 * The same result as compute(), touching only what the new inputs can change: the new indications join the
 * kept clustering (an_cluster, insert rule: exact), points whose members changed (grew or merged) are scored
 * again, and so are points whose evidence involves a session whose track changed or whose centroid such a
 * track now covers; every other point is copied with its members and evidence. Clearance matching is global
 * (one-to-one by cost), so it runs over the whole table every time (cheap: gate-graph components).
 * Preconditions (else compute): the clustering exists, no calibration or session record was added.
 */
static int compute_incr(struct an_hazard_engine *h, struct table *t)
{
	const struct table *old = &h->cur;
	size_t n_new = h->n_inds - h->n_sorted, n_dirty = 0;
	int err = 0;
	memset(t, 0, sizeof(*t));
	uint64_t *newids = malloc((n_new ? n_new : 1) * sizeof(*newids));
	uint64_t *dsess = malloc((h->n_sess ? h->n_sess : 1) * sizeof(*dsess));
	uint64_t *dirty = malloc((n_new + old->n + h->n_rv_dirty + 1) * sizeof(*dirty));
	uint64_t *lab_old = malloc((old->n ? old->n : 1) * sizeof(*lab_old));
	struct lab *mlist = NULL;
	struct scorer sc = { 0 };
	if (newids == NULL || dsess == NULL || dirty == NULL || lab_old == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	/* 1. new indications into the clustering (a failure leaves it half-updated: the next apply is full) */
	for (size_t i = 0; i < n_new; i++) {
		struct hind *d = &h->inds[h->n_sorted + i];
		if ((err = place_ind(h, d)) < 0)
			goto out_free;
		if ((err = h->pl != NULL ? plink_insert(h->pl, d->id, d->x_mm, d->y_mm, d->h_acc_mm)
		                         : an_cluster_insert(h->cl, d->id, d->x_mm, d->y_mm)) < 0)
			goto out_free;
		newids[i] = d->id;
	}
	if (h->n_inds > 1)
		qsort(h->inds, h->n_inds, sizeof(*h->inds), ind_cmp);
	h->n_sorted = h->n_inds;
	if ((err = rebuild_paths(h, dsess, &n_dirty)) < 0)
		goto out_free;
	qsort(dsess, n_dirty, sizeof(*dsess), u64_cmp_q);

	/* 2. labels (of single-link components, which a point is or is a piece of): dirty = the components new
	 * indications landed in (every merge of old points is one: only a new indication joins components) and
	 * the components holding an indication whose handler's verdict changed. lab_old = the component each
	 * old point lies in now; an old point in a dirty component is rebuilt, its component partitioned again. */
	size_t nd = 0;
	for (size_t i = 0; i < n_new; i++)
		dirty[nd++] = label_of(h, newids[i]);
	for (size_t i = 0; i < h->n_rv_dirty; i++)
		dirty[nd++] = label_of(h, h->rv_dirty[i]);
	for (size_t p = 0; p < old->n; p++)
		lab_old[p] = label_of(h, old->pts[p].id);
	qsort(dirty, nd, sizeof(*dirty), u64_cmp_q);
	size_t u = 0;
	for (size_t i = 0; i < nd; i++)
		if (u == 0 || dirty[u - 1] != dirty[i])
			dirty[u++] = dirty[i];
	nd = u;

	/* 3. members of each dirty component: (label, id) pairs from its old points and the new inds; then
	 * relabelled by point (partition_component) and sorted by (point, id) */
	size_t n_m = n_new;
	for (size_t p = 0; p < old->n; p++)
		if (in_sorted(dirty, nd, lab_old[p]))
			n_m += old->mem_off[p + 1] - old->mem_off[p];
	mlist = malloc((n_m ? n_m : 1) * sizeof(*mlist));
	if (mlist == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	size_t k = 0;
	for (size_t i = 0; i < n_new; i++)
		mlist[k++] = (struct lab){ label_of(h, newids[i]), newids[i], 0 };
	for (size_t p = 0; p < old->n; p++)
		if (in_sorted(dirty, nd, lab_old[p]))
			for (size_t m = old->mem_off[p]; m < old->mem_off[p + 1]; m++)
				mlist[k++] = (struct lab){ lab_old[p], old->mem[m], 0 };
	qsort(mlist, k, sizeof(*mlist), lab_cmp);
	if ((err = relabel_points(h, mlist, k, NULL)) < 0)
		goto out_free;
	size_t n_rebuilt = 0;
	for (size_t i = 0; i < k; i++)
		n_rebuilt += i == 0 || mlist[i].cluster != mlist[i - 1].cluster;

	/* 4. the new table: kept old points and rebuilt points, by id */
	size_t n_keep = 0;
	for (size_t p = 0; p < old->n; p++)
		n_keep += !in_sorted(dirty, nd, lab_old[p]);
	if ((err = table_alloc(t, n_keep + n_rebuilt, h->n_inds)) < 0)
		goto out_free;
	if ((err = build_lrs(h, &sc.lrs, &sc.n_lrs)) < 0)
		goto out_free;
	size_t q = 0, p = 0, mi = 0, mem_at = 0;
	while (p < old->n || mi < k) {
		/* skip old points that are rebuilt (merged, grown, split or rescored) */
		if (p < old->n && in_sorted(dirty, nd, lab_old[p])) {
			p++;
			continue;
		}
		if (mi < k && (p >= old->n || mlist[mi].cluster < old->pts[p].id)) {
			uint64_t pid = mlist[mi].cluster;
			while (mi < k && mlist[mi].cluster == pid)
				t->mem[mem_at++] = mlist[mi++].id;
			t->mem_off[q + 1] = mem_at;
			t->ev_off[q + 1] = t->ev_off[q];
			if ((err = score_point(h, &sc, t, q)) < 0)
				goto out_free;
			q++;
			continue;
		}
		/* a kept point: copied unless a changed track is in its evidence or now covers it */
		bool rescore = false;
		for (size_t e = old->ev_off[p]; e < old->ev_off[p + 1] && !rescore; e++)
			rescore = in_sorted(dsess, n_dirty, old->ev[e].session_id);
		for (size_t s = 0; s < n_dirty && !rescore; s++) {
			const struct sess *ss = sess_find(h, dsess[s]);
			rescore = ss != NULL && ss->has_rec && an_coverage_path_covers(ss->path, old->pts[p].x_mm, old->pts[p].y_mm);
		}
		if (rescore) {
			size_t m0 = old->mem_off[p], m1 = old->mem_off[p + 1];
			memcpy(t->mem + mem_at, old->mem + m0, (m1 - m0) * sizeof(*t->mem));
			mem_at += m1 - m0;
			t->mem_off[q + 1] = mem_at;
			if ((err = score_point(h, &sc, t, q)) < 0)
				goto out_free;
		} else if ((err = copy_point(&sc, old, p, t, q, &mem_at)) < 0) {
			goto out_free;
		}
		q++;
		p++;
	}
	t->n = q;
	err = finish(h, t, NULL);

out_free:
	free(newids);
	free(dsess);
	free(dirty);
	free(lab_old);
	free(mlist);
	scorer_free(&sc);
	if (err < 0)
		table_free(t);
	return err;
}

/* The point containing indication id in table t (for RETIRED events). */
static uint64_t point_of(const struct table *t, uint64_t ind_id)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = t->mem_off[i]; k < t->mem_off[i + 1]; k++)
			if (t->mem[k] == ind_id)
				return t->pts[i].id;
	return 0;
}

static int emit(struct an_hazard_engine *h, struct an_hazard_event *ev, int *sink_err)
{
	ev->seq = ++h->seq;
	if (h->sink != NULL && *sink_err == 0) {
		int r = h->sink(h->sink_ctx, ev);
		if (r < 0)
			*sink_err = r;
	}
	return 0;
}

static int diff(struct an_hazard_engine *h, const struct table *old, const struct table *nw, int64_t now_ms)
{
	size_t i = 0, j = 0;
	int sink_err = 0;
	while (i < old->n || j < nw->n) {
		struct an_hazard_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.t_ms = now_ms;
		if (j < nw->n && (i >= old->n || nw->pts[j].id < old->pts[i].id)) {
			const struct an_hazard_point *p = &nw->pts[j++];
			ev.kind = AN_HAZARD_EV_CREATED;
			ev.hazard_id = p->id;
			ev.to = p->status;
			ev.log_odds_to_q10 = p->log_odds_q10;
			emit(h, &ev, &sink_err);
		} else if (i < old->n && (j >= nw->n || old->pts[i].id < nw->pts[j].id)) {
			const struct an_hazard_point *p = &old->pts[i++];
			ev.kind = AN_HAZARD_EV_RETIRED;
			ev.hazard_id = p->id;
			ev.from = p->status;
			ev.to = AN_HAZARD_SUPERSEDED;
			ev.log_odds_from_q10 = ev.log_odds_to_q10 = p->log_odds_q10;
			ev.into_id = point_of(nw, p->id);
			emit(h, &ev, &sink_err);
		} else {
			const struct an_hazard_point *a = &old->pts[i++], *b = &nw->pts[j++];
			if (a->status == b->status && a->log_odds_q10 == b->log_odds_q10)
				continue;
			ev.kind = a->status != b->status ? AN_HAZARD_EV_STATUS : AN_HAZARD_EV_SCORE;
			ev.hazard_id = b->id;
			ev.from = a->status;
			ev.to = b->status;
			ev.log_odds_from_q10 = a->log_odds_q10;
			ev.log_odds_to_q10 = b->log_odds_q10;
			emit(h, &ev, &sink_err);
		}
	}
	return sink_err;
}

int an_hazard_apply(struct an_hazard_engine *h, const struct an_hazard_input *in, size_t n, int64_t now_ms)
{
	if (h == NULL || (in == NULL && n > 0))
		return -EINVAL;
	int err = 0;
	for (size_t i = 0; i < n && err == 0; i++) {
		switch (in[i].kind) {
		case AN_HAZARD_IN_SESSION:
			err = add_session(h, &in[i].u.session);
			break;
		case AN_HAZARD_IN_FIX:
			err = add_fix(h, &in[i].u.fix);
			break;
		case AN_HAZARD_IN_IND:
			err = add_ind(h, &in[i].u.ind);
			break;
		case AN_HAZARD_IN_CALIB:
			err = add_calib(h, &in[i].u.calib);
			break;
		case AN_HAZARD_IN_CLEARANCE:
			err = add_clearance(h, &in[i].u.clearance);
			break;
		case AN_HAZARD_IN_BOXPOS:
			err = add_boxpos(h, &in[i].u.boxpos);
			break;
		case AN_HAZARD_IN_REVIEW:
			err = add_review(h, &in[i].u.review);
			break;
		default:
			err = -EINVAL;
		}
	}
	int ferr = update_fits(h);
	if (ferr < 0) {
		h->full = true;
		return ferr;
	}
	struct table nw;
	bool incr = !h->full && (h->cl != NULL || h->pl != NULL);
	int cerr = incr ? compute_incr(h, &nw) : compute(h, &nw);
	if (cerr < 0) {
		h->full = true;
		return cerr; /* the inputs stay; the next apply recomputes everything and reports */
	}
	h->full = false;
	h->n_rv_dirty = 0;
	if (incr)
		h->n_incr++;
	else
		h->n_full++;
	int derr = diff(h, &h->cur, &nw, now_ms);
	table_free(&h->cur);
	h->cur = nw;
	return err < 0 ? err : derr;
}

/* ---- queries -------------------------------------------------------------------------------------------- */

void an_hazard_apply_counts(const struct an_hazard_engine *h, size_t *incremental, size_t *full)
{
	if (incremental != NULL)
		*incremental = h ? h->n_incr : 0;
	if (full != NULL)
		*full = h ? h->n_full : 0;
}

size_t an_hazard_count(const struct an_hazard_engine *h)
{
	return h == NULL ? 0 : h->cur.n;
}

int an_hazard_get(const struct an_hazard_engine *h, size_t index, struct an_hazard_point *out)
{
	if (h == NULL || out == NULL)
		return -EINVAL;
	if (index >= h->cur.n)
		return -ENOENT;
	*out = h->cur.pts[index];
	return 0;
}

static long find_idx(const struct an_hazard_engine *h, uint64_t id)
{
	bool hit;
	size_t lo = KEY_POS(h->cur.pts, h->cur.n, id, id, &hit);
	return hit ? (long)lo : -1;
}

int an_hazard_find(const struct an_hazard_engine *h, uint64_t id, struct an_hazard_point *out)
{
	if (h == NULL || out == NULL)
		return -EINVAL;
	long k = find_idx(h, id);
	if (k < 0)
		return -ENOENT;
	*out = h->cur.pts[k];
	return 0;
}

int an_hazard_clearance_matches(const struct an_hazard_engine *h, struct an_hazard_clearance_match *out, size_t cap,
				size_t *n_out)
{
	if (h == NULL || n_out == NULL || (out == NULL && cap > 0))
		return -EINVAL;
	*n_out = h->cur.n_cm;
	if (cap < h->cur.n_cm)
		return -ENOBUFS;
	if (h->cur.n_cm > 0)
		memcpy(out, h->cur.cm, h->cur.n_cm * sizeof(*out));
	return 0;
}

int an_hazard_members(const struct an_hazard_engine *h, uint64_t id, uint64_t *ids, size_t cap, size_t *n_out)
{
	if (h == NULL || n_out == NULL || (ids == NULL && cap > 0))
		return -EINVAL;
	long k = find_idx(h, id);
	if (k < 0)
		return -ENOENT;
	size_t a = h->cur.mem_off[k], b = h->cur.mem_off[k + 1];
	*n_out = b - a;
	for (size_t i = a; i < b && i - a < cap; i++)
		ids[i - a] = h->cur.mem[i];
	return b - a > cap ? -ENOBUFS : 0;
}

int an_hazard_ind_placed(const struct an_hazard_engine *h, uint64_t ind_id, int64_t *x_mm, int64_t *y_mm,
                         uint32_t *h_acc_mm, bool *box_frame)
{
	if (h == NULL || x_mm == NULL || y_mm == NULL || h_acc_mm == NULL || box_frame == NULL)
		return -EINVAL;
	const struct hind *d = ind_find(h, ind_id);
	if (d == NULL)
		return -ENOENT;
	/* placed by the last apply; box_frame: moved by a fit (pinpointing alone changes only h_acc) */
	*x_mm = d->x_mm;
	*y_mm = d->y_mm;
	*h_acc_mm = d->h_acc_mm;
	*box_frame = d->x_mm != d->raw_x_mm || d->y_mm != d->raw_y_mm;
	return 0;
}

int an_hazard_evidence(const struct an_hazard_engine *h, uint64_t id, struct an_fusion_evidence *ev, size_t cap,
		       size_t *n_out)
{
	if (h == NULL || n_out == NULL || (ev == NULL && cap > 0))
		return -EINVAL;
	long k = find_idx(h, id);
	if (k < 0)
		return -ENOENT;
	size_t a = h->cur.ev_off[k], b = h->cur.ev_off[k + 1];
	*n_out = b - a;
	for (size_t i = a; i < b && i - a < cap; i++)
		ev[i - a] = h->cur.ev[i];
	return b - a > cap ? -ENOBUFS : 0;
}

uint64_t an_hazard_last_seq(const struct an_hazard_engine *h)
{
	return h == NULL ? 0 : h->seq;
}

int an_hazard_dump(const struct an_hazard_engine *h, FILE *f)
{
	if (h == NULL || f == NULL)
		return -EINVAL;
	const struct table *t = &h->cur;
	int bad = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct an_hazard_point *p = &t->pts[i];
		bad |= fprintf(f,
			       "hazard %" PRIu64 " status=%s x=%" PRId64 " y=%" PRId64 " sigma=%" PRIu32 " n_ind=%" PRIu32
			       " animals=%" PRIu32 " passes=%" PRIu32 " clean_passes=%" PRIu32 " clean_animals=%" PRIu32
			       " prior=%" PRId64 " lo=%" PRId64 " p=%.17g t=%" PRId64 "..%" PRId64 " clearance=%" PRIu64
			       "/%d\n",
			       p->id, an_store_hazard_status_name(p->status), p->x_mm, p->y_mm, p->sigma_mm, p->n_ind,
			       p->n_ind_animals, p->n_ind_passes, p->n_clean_passes, p->n_clean_animals, p->prior_q10,
			       p->log_odds_q10, p->p_explosive, p->first_t_ms, p->last_t_ms, p->clearance_id,
			       (int)p->clearance_result) < 0;
		bad |= fprintf(f, "  members") < 0;
		for (size_t k = t->mem_off[i]; k < t->mem_off[i + 1]; k++)
			bad |= fprintf(f, " %" PRIu64, t->mem[k]) < 0;
		bad |= fprintf(f, "\n") < 0;
		for (size_t k = t->ev_off[i]; k < t->ev_off[i + 1]; k++) {
			const struct an_fusion_evidence *e = &t->ev[k];
			bad |= fprintf(f, "  %s animal=%" PRIu64 " session=%" PRIu64 " n_ind=%" PRIu32 " first=%" PRIu64
					  " repeat=%d delta=%+" PRId64,
				       e->kind == AN_FUSION_EV_INDICATED ? "indicated" : "clean", e->animal_id,
				       e->session_id, e->n_ind, e->first_ind_id, (int)e->repeat, e->delta_q10) < 0;
			if (e->verdict != AN_REVIEW_UNREVIEWED)
				bad |= fprintf(f, " handler=%s%+" PRId64,
				               e->verdict == AN_REVIEW_CONFIRMED ? "confirmed" : "rejected", e->handler_q10) < 0;
			bad |= fprintf(f, "\n") < 0;
		}
	}
	for (size_t i = 0; i < t->n_cm; i++)
		bad |= fprintf(f, "clearance %" PRIu64 " matched to %" PRIu64 "\n", t->cm[i].clearance_id,
			       t->cm[i].hazard_id) < 0;
	return bad ? -EIO : 0;
}

/* ---- evaluation policies -------------------------------------------------------------------------------- */

unsigned an_hazard_policy_flags(const struct an_hazard_point *p, uint32_t min_animals, int64_t threshold_q10)
{
	unsigned f = 0;
	if (p->n_ind > 0)
		f |= AN_HAZARD_POLICY_ANY;
	if (p->n_ind_animals >= min_animals)
		f |= AN_HAZARD_POLICY_AGREE;
	if (p->log_odds_q10 >= threshold_q10)
		f |= AN_HAZARD_POLICY_FUSED;
	return f;
}

int an_hazard_policy_eval(const struct an_hazard_point *pts, size_t n, uint32_t min_animals, int64_t threshold_q10,
			  unsigned *flags, struct an_hazard_policy_counts *counts)
{
	if ((pts == NULL && n > 0) || min_animals == 0)
		return -EINVAL;
	struct an_hazard_policy_counts c = { 0, 0, 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned f = an_hazard_policy_flags(&pts[i], min_animals, threshold_q10);
		if (flags != NULL)
			flags[i] = f;
		c.any += (f & AN_HAZARD_POLICY_ANY) != 0;
		c.agree += (f & AN_HAZARD_POLICY_AGREE) != 0;
		c.fused += (f & AN_HAZARD_POLICY_FUSED) != 0;
	}
	if (counts != NULL)
		*counts = c;
	return 0;
}
