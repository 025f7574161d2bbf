/*
 * analysis/src/cluster.c — exact incremental DBSCAN on a hash grid with union-find (contract: an/cluster.h).
 *
 * Layout, chosen for the ≤ 64 bytes per indication budget and for cache behaviour at 10^6 points:
 *   points  32-byte records in 4096-point chunks (128 KiB). Chunks never move, so growth is one malloc and
 *           never a multi-megabyte realloc copy in the middle of an insert. Index = insertion order.
 *   cells   open addressing (linear probing, load <= 4/5) from packed (cx, cy) to the newest point of the
 *           cell; the cell's points form a singly linked list through pt.next (12 bytes a slot).
 *   ids     open addressing (linear probing, load <= 4/5) from id to index: a control byte with 7 bits
 *           of the id's hash plus the 32-bit index (5 bytes a slot); a probe dereferences a point only
 *           when the 7-bit tag matches.
 * Every table grows by 1.5× BEFORE anything is modified, so a failed insert leaves no trace.
 */
#define _DEFAULT_SOURCE /* madvise */

#include "an/cluster.h"
#include "cluster_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NIL UINT32_MAX
#define CHUNK_SHIFT 12u
#define CHUNK_PTS (1u << CHUNK_SHIFT)
#define CHUNK_MASK (CHUNK_PTS - 1u)
#define SLAB_CHUNKS 16u /* 16 × 4096 × 32 B = 2 MiB */
#define TABLE_MIN 16u

struct pt {
	int32_t x_mm;
	int32_t y_mm;
	uint32_t next;    /* next (older) point of the same grid cell, NIL ends the list */
	uint32_t parent;  /* union-find parent; meaningful for core points only */
	uint64_t id;
	uint32_t min_idx; /* at a union-find root: index of the cluster's smallest-id core point */
	uint16_t count;   /* points within eps, self included, saturating at min_pts */
	uint8_t rank;
	uint8_t core;
};

_Static_assert(sizeof(struct pt) == 32, "point record must stay 32 bytes (memory budget)");

struct an_cluster {
	int64_t eps_mm;
	int64_t eps2;
	uint32_t min_pts;
	uint32_t max_points;
	uint32_t n;
	size_t n_core;
	size_t n_clusters;

	struct pt **chunk;
	size_t n_chunks;
	size_t chunk_cap;

	uint64_t *ckey;
	uint32_t *chead;
	size_t ccap;
	size_t ccount;

	uint8_t *ictrl;
	uint32_t *iidx;
	size_t icap;

	size_t bytes;
};

static inline struct pt *P(const struct an_cluster *c, uint32_t i)
{
	return &c->chunk[i >> CHUNK_SHIFT][i & CHUNK_MASK];
}

/* splitmix64 finaliser: cell keys of neighbouring cells differ in few bits, so they need real mixing. */
static inline uint64_t mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z;
}

static inline uint64_t cell_key(int32_t cx, int32_t cy)
{
	return ((uint64_t)(uint32_t)cx << 32) | (uint64_t)(uint32_t)cy;
}

/* Floor division: cells must be [k·eps, (k+1)·eps) on both sides of 0, or the 3×3 query misses points. */
static inline int32_t cell_of(int64_t v, int64_t eps)
{
	int64_t q = v / eps;
	if ((v % eps) != 0 && v < 0)
		q--;
	return (int32_t)q;
}

static inline bool within(const struct an_cluster *c, const struct pt *p, int64_t x, int64_t y)
{
	int64_t dx = (int64_t)p->x_mm - x;
	int64_t dy = (int64_t)p->y_mm - y;
	/* The box test first keeps dx² + dy² far from int64 overflow whatever the coordinates. */
	if (dx > c->eps_mm || dx < -c->eps_mm || dy > c->eps_mm || dy < -c->eps_mm)
		return false;
	return dx * dx + dy * dy <= c->eps2;
}

/* Tables have any capacity (not only powers of two) so they can grow by 1.5× instead of 2×: at a max
 * load of 4/5 the load then stays between 8/15 and 4/5, which is what keeps the total under ~60 B/point.
 * home() maps a hash onto [0, cap) with a multiply-shift (Lemire's "fastrange"), no division. */
#define LOAD_NUM 4u
#define LOAD_DEN 5u

static inline size_t home(uint64_t h, size_t cap)
{
	return (size_t)(((h >> 32) * (uint64_t)cap) >> 32);
}

static inline size_t grown(size_t cap)
{
	return cap + cap / 2u + 16u;
}

#define HUGE_BYTES ((size_t)2 << 20)

size_t an__cluster_alloc_size(size_t bytes)
{
	return bytes >= HUGE_BYTES ? (bytes + HUGE_BYTES - 1u) / HUGE_BYTES * HUGE_BYTES : bytes;
}

void *an__cluster_alloc(size_t bytes)
{
	size_t n = an__cluster_alloc_size(bytes);
	void *p;
	if (n >= HUGE_BYTES) {
		p = aligned_alloc(HUGE_BYTES, n);
#ifdef MADV_HUGEPAGE
		if (p != NULL)
			(void)madvise(p, n, MADV_HUGEPAGE); /* advice only: without it we just get 4 KiB pages */
#endif
	} else {
		p = malloc(n ? n : 1u);
	}
	if (p == NULL)
		return NULL;
	/* One write per page maps it now. volatile: a memset(0) after malloc may legally become calloc(),
	 * which touches nothing. */
	volatile unsigned char *b = p;
	for (size_t i = 0; i < n; i += 4096u)
		b[i] = 0;
	return p;
}

/* ---- cell table ---------------------------------------------------------------------------------- */

static size_t cell_slot(const struct an_cluster *c, uint64_t key)
{
	size_t s = home(mix64(key), c->ccap);
	while (c->chead[s] != NIL && c->ckey[s] != key)
		if (++s == c->ccap)
			s = 0;
	return s;
}

/* Each table is ONE block (keys then heads; control bytes then indices): with huge pages the tail of
 * every block is resident as a whole 2 MiB page, so fewer blocks means less slack. */
static size_t cells_bytes(size_t cap)
{
	return an__cluster_alloc_size(cap * (sizeof(uint64_t) + sizeof(uint32_t)));
}

static size_t ids_bytes(size_t cap)
{
	return an__cluster_alloc_size(cap * (sizeof(uint8_t) + sizeof(uint32_t)));
}

static int cells_alloc(size_t cap, uint64_t **keys, uint32_t **heads)
{
	*keys = an__cluster_alloc(cap * (sizeof **keys + sizeof **heads));
	if (*keys == NULL)
		return -ENOMEM;
	*heads = (uint32_t *)(*keys + cap);
	memset(*heads, 0xff, cap * sizeof **heads);
	return 0;
}

static int cells_resize(struct an_cluster *c, size_t cap)
{
	uint64_t *keys;
	uint32_t *heads;
	int err = cells_alloc(cap, &keys, &heads);
	if (err < 0)
		return err;
	uint64_t *okeys = c->ckey;
	uint32_t *oheads = c->chead;
	size_t ocap = c->ccap;
	c->ckey = keys;
	c->chead = heads;
	c->ccap = cap;
	for (size_t i = 0; i < ocap; i++) {
		if (oheads[i] == NIL)
			continue;
		size_t s = cell_slot(c, okeys[i]);
		c->ckey[s] = okeys[i];
		c->chead[s] = oheads[i];
	}
	free(okeys); /* the heads live in the same block */
	c->bytes = c->bytes - cells_bytes(ocap) + cells_bytes(cap);
	return 0;
}

/* Heads of the 3×3 cells around (cx, cy), NIL for empty cells. All nine probes are computed and
 * prefetched first: at 10^6 points the table is far larger than cache and the nine misses then overlap. */
static void cells_around(const struct an_cluster *c, int32_t cx, int32_t cy, uint32_t heads[9])
{
	uint64_t keys[9];
	size_t slot[9];
	unsigned k = 0;
	for (int32_t dx = -1; dx <= 1; dx++) {
		for (int32_t dy = -1; dy <= 1; dy++) {
			keys[k] = cell_key(cx + dx, cy + dy);
			slot[k] = home(mix64(keys[k]), c->ccap);
			__builtin_prefetch(&c->chead[slot[k]]);
			__builtin_prefetch(&c->ckey[slot[k]]);
			k++;
		}
	}
	for (k = 0; k < 9; k++) {
		size_t s = slot[k];
		while (c->chead[s] != NIL && c->ckey[s] != keys[k])
			if (++s == c->ccap)
				s = 0;
		heads[k] = c->chead[s];
	}
}

/* ---- id table: a control byte (0 = empty, else 0x80 | 7 bits of the hash) and the point index ---- */

static inline uint8_t id_tag(uint64_t h)
{
	return (uint8_t)(0x80u | (h & 0x7fu));
}

static uint32_t id_find(const struct an_cluster *c, uint64_t id)
{
	uint64_t h = mix64(id);
	uint8_t tag = id_tag(h);
	size_t s = home(h, c->icap);
	for (;;) {
		uint8_t t = c->ictrl[s];
		if (t == 0)
			return NIL;
		/* only 1 in 128 occupied slots with another id gets this far */
		if (t == tag && P(c, c->iidx[s])->id == id)
			return c->iidx[s];
		if (++s == c->icap)
			s = 0;
	}
}

static void id_put(uint8_t *ctrl, uint32_t *idx, size_t cap, uint64_t id, uint32_t i)
{
	uint64_t h = mix64(id);
	size_t s = home(h, cap);
	while (ctrl[s] != 0)
		if (++s == cap)
			s = 0;
	ctrl[s] = id_tag(h);
	idx[s] = i;
}

static int ids_alloc(size_t cap, uint8_t **ctrl, uint32_t **idx)
{
	/* indices first (4-byte aligned), control bytes after them, in one block */
	*idx = an__cluster_alloc(cap * (sizeof **idx + sizeof **ctrl));
	if (*idx == NULL)
		return -ENOMEM;
	*ctrl = (uint8_t *)(*idx + cap);
	memset(*ctrl, 0, cap * sizeof **ctrl);
	memset(*idx, 0xff, cap * sizeof **idx);
	return 0;
}

static int ids_resize(struct an_cluster *c, size_t cap)
{
	uint8_t *ctrl;
	uint32_t *idx;
	int err = ids_alloc(cap, &ctrl, &idx);
	if (err < 0)
		return err;
	for (size_t i = 0; i < c->icap; i++) {
		if (c->ictrl[i] != 0)
			id_put(ctrl, idx, cap, P(c, c->iidx[i])->id, c->iidx[i]);
	}
	free(c->iidx); /* ictrl lives in the same block */
	c->bytes = c->bytes - ids_bytes(c->icap) + ids_bytes(cap);
	c->ictrl = ctrl;
	c->iidx = idx;
	c->icap = cap;
	return 0;
}

/* ---- growth (all before any mutation) ------------------------------------------------------------ */

static int chunks_dir_grow(struct an_cluster *c, size_t want)
{
	if (want <= c->chunk_cap)
		return 0;
	size_t cap = c->chunk_cap ? c->chunk_cap : 16u;
	while (cap < want)
		cap *= 2u;
	struct pt **d = realloc(c->chunk, cap * sizeof *d);
	if (d == NULL)
		return -ENOMEM;
	c->bytes = c->bytes - c->chunk_cap * sizeof *d + cap * sizeof *d;
	c->chunk = d;
	c->chunk_cap = cap;
	return 0;
}

static int room_for_one(struct an_cluster *c)
{
	int err;
	if ((size_t)c->n == c->n_chunks * CHUNK_PTS) {
		/* The first SLAB_CHUNKS chunks are separate 128 KiB blocks (small clusterings stay small);
		 * after that, chunks come SLAB_CHUNKS at a time in one 2 MiB huge-page slab. */
		size_t k = c->n_chunks < SLAB_CHUNKS ? 1u : SLAB_CHUNKS;
		err = chunks_dir_grow(c, c->n_chunks + k);
		if (err < 0)
			return err;
		struct pt *ch = an__cluster_alloc(k * CHUNK_PTS * sizeof *ch);
		if (ch == NULL)
			return -ENOMEM;
		for (size_t j = 0; j < k; j++)
			c->chunk[c->n_chunks++] = ch + j * CHUNK_PTS;
		c->bytes += an__cluster_alloc_size(k * CHUNK_PTS * sizeof *ch);
	}
	/* The new point may open a new cell. */
	if ((c->ccount + 1u) * LOAD_DEN > c->ccap * LOAD_NUM) {
		err = cells_resize(c, grown(c->ccap));
		if (err < 0)
			return err;
	}
	if (((size_t)c->n + 1u) * LOAD_DEN > c->icap * LOAD_NUM) {
		err = ids_resize(c, grown(c->icap));
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- union-find ---------------------------------------------------------------------------------- */

static uint32_t uf_find(const struct an_cluster *c, uint32_t i)
{
	struct pt *p = P(c, i);
	while (p->parent != i) {
		struct pt *q = P(c, p->parent);
		p->parent = q->parent; /* path halving */
		i = q->parent;
		p = P(c, i);
	}
	return i;
}

static void uf_union(struct an_cluster *c, uint32_t a, uint32_t b)
{
	a = uf_find(c, a);
	b = uf_find(c, b);
	if (a == b)
		return;
	struct pt *pa = P(c, a);
	struct pt *pb = P(c, b);
	if (pa->rank < pb->rank) {
		struct pt *t = pa;
		pa = pb;
		pb = t;
		uint32_t u = a;
		a = b;
		b = u;
	}
	pb->parent = a;
	if (pa->rank == pb->rank)
		pa->rank++;
	/* The cluster name is min() of the two names: commutative and associative, hence order-free. */
	if (P(c, pb->min_idx)->id < P(c, pa->min_idx)->id)
		pa->min_idx = pb->min_idx;
	c->n_clusters--;
}

static void make_core(struct an_cluster *c, uint32_t i)
{
	struct pt *p = P(c, i);
	p->core = 1;
	p->parent = i;
	p->rank = 0;
	p->min_idx = i;
	c->n_core++;
	c->n_clusters++;
}

/* i just became core (an older point, reached min_pts through the new one): join it to every core point
 * within eps. The new point is not in the grid yet; its own pass joins it to i if it is core. */
static void join_core_neighbours(struct an_cluster *c, uint32_t i)
{
	struct pt *p = P(c, i);
	int64_t x = p->x_mm, y = p->y_mm;
	uint32_t heads[9];
	cells_around(c, cell_of(x, c->eps_mm), cell_of(y, c->eps_mm), heads);
	for (unsigned k = 0; k < 9; k++) {
		for (uint32_t j = heads[k]; j != NIL; j = P(c, j)->next) {
			if (j != i && P(c, j)->core && within(c, P(c, j), x, y))
				uf_union(c, i, j);
		}
	}
}

/* ---- public API ---------------------------------------------------------------------------------- */

int an_cluster_opts_check(const struct an_cluster_opts *o)
{
	if (o == NULL)
		return -EINVAL;
	if (o->eps_mm < 1 || o->eps_mm > AN_CLUSTER_EPS_MAX_MM)
		return -EINVAL;
	if (o->min_pts < 1 || o->min_pts > AN_CLUSTER_MIN_PTS_MAX)
		return -EINVAL;
	uint32_t maxp = o->max_points ? o->max_points : AN_CLUSTER_MAX_POINTS_DEFAULT;
	if (maxp > AN_CLUSTER_MAX_POINTS_LIMIT || o->expected_points > maxp)
		return -EINVAL;
	return 0;
}

/* Capacity that holds `entries` at the maximum load. */
static size_t cap_for(size_t entries)
{
	return entries * LOAD_DEN / LOAD_NUM + TABLE_MIN;
}

struct an_cluster *an_cluster_new(const struct an_cluster_opts *o)
{
	if (an_cluster_opts_check(o) < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct an_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		goto out_nomem;
	c->bytes = sizeof *c;
	c->eps_mm = o->eps_mm;
	c->eps2 = o->eps_mm * o->eps_mm;
	c->min_pts = o->min_pts;
	c->max_points = o->max_points ? o->max_points : AN_CLUSTER_MAX_POINTS_DEFAULT;

	/* Pre-sizing: ids for expected_points; cells for half as many cells as points (typical of clustered
	 * data; they grow if needed). Point chunks are allocated as they fill, never ahead. */
	size_t expect = o->expected_points;
	c->ccap = cap_for(expect / 2u);
	if (cells_alloc(c->ccap, &c->ckey, &c->chead) < 0)
		goto out_free_c;
	c->bytes += cells_bytes(c->ccap);
	c->icap = cap_for(expect);
	if (ids_alloc(c->icap, &c->ictrl, &c->iidx) < 0)
		goto out_free_cells;
	c->bytes += ids_bytes(c->icap);
	if (chunks_dir_grow(c, expect / CHUNK_PTS + 1u) < 0)
		goto out_free_ids;
	return c;

out_free_ids:
	free(c->iidx);
out_free_cells:
	free(c->ckey);
out_free_c:
	free(c);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

void an_cluster_free(struct an_cluster *c)
{
	if (c == NULL)
		return;
	/* chunk i owns its block when it was allocated alone or starts a slab (see room_for_one) */
	for (size_t i = 0; i < c->n_chunks; i++)
		if (i < SLAB_CHUNKS || (i - SLAB_CHUNKS) % SLAB_CHUNKS == 0)
			free(c->chunk[i]);
	free(c->chunk);
	free(c->ckey);  /* chead is in the same block */
	free(c->iidx);  /* ictrl is in the same block */
	free(c);
}

int an_cluster_insert(struct an_cluster *c, uint64_t id, int64_t x_mm, int64_t y_mm)
{
	if (c == NULL || id == AN_CLUSTER_NONE)
		return -EINVAL;
	if (x_mm > AN_CLUSTER_COORD_MAX_MM || x_mm < -AN_CLUSTER_COORD_MAX_MM || y_mm > AN_CLUSTER_COORD_MAX_MM ||
	    y_mm < -AN_CLUSTER_COORD_MAX_MM)
		return -ERANGE;
	if (id_find(c, id) != NIL)
		return -EEXIST;
	if (c->n >= c->max_points)
		return -ENOSPC;
	int err = room_for_one(c);
	if (err < 0)
		return err;

	/* Nothing below can fail. */
	int32_t cx = cell_of(x_mm, c->eps_mm), cy = cell_of(y_mm, c->eps_mm);
	uint32_t heads[9];
	cells_around(c, cx, cy, heads);

	/* Pass 1 (Ester 1998): every neighbour gains one; those that reach min_pts become core now. */
	size_t cnt = 1; /* self */
	bool core_nb = false;
	for (unsigned k = 0; k < 9; k++) {
		for (uint32_t j = heads[k]; j != NIL;) {
			struct pt *p = P(c, j);
			uint32_t nx = p->next;
			if (within(c, p, x_mm, y_mm)) {
				cnt++;
				if (!p->core) {
					p->count++; /* < min_pts before, so no overflow */
					if (p->count >= c->min_pts) {
						make_core(c, j);
						join_core_neighbours(c, j);
					}
				}
				core_nb |= p->core != 0;
			}
			j = nx;
		}
	}

	uint32_t i = c->n;
	struct pt *q = P(c, i);
	q->x_mm = (int32_t)x_mm;
	q->y_mm = (int32_t)y_mm;
	q->id = id;
	q->parent = i;
	q->min_idx = i;
	q->rank = 0;
	q->core = 0;
	q->count = (uint16_t)(cnt < c->min_pts ? cnt : c->min_pts);
	c->n++;

	/* Pass 2: the new point, if core, joins every core point within eps (old ones and those just made). */
	if (cnt >= c->min_pts) {
		make_core(c, i);
		for (unsigned k = 0; core_nb && k < 9; k++) {
			for (uint32_t j = heads[k]; j != NIL; j = P(c, j)->next) {
				if (P(c, j)->core && within(c, P(c, j), x_mm, y_mm))
					uf_union(c, i, j);
			}
		}
	}

	/* Link into the grid and the id table (room was made above). */
	size_t s = cell_slot(c, cell_key(cx, cy));
	if (c->chead[s] == NIL) {
		c->ckey[s] = cell_key(cx, cy);
		c->ccount++;
	}
	q->next = c->chead[s];
	c->chead[s] = i;
	id_put(c->ictrl, c->iidx, c->icap, id, i);
	return 0;
}

/* Label of point i. Core: its component's name. Otherwise the nearest core point within eps decides,
 * ties by the smaller core id: a total order, so the answer depends on the point set alone. */
static void label_of(struct an_cluster *c, uint32_t i, uint64_t *cluster_id, bool *is_core)
{
	struct pt *p = P(c, i);
	uint32_t best = NIL;
	if (p->core) {
		best = i;
	} else {
		int64_t x = p->x_mm, y = p->y_mm;
		int64_t best_d2 = 0;
		uint64_t best_id = 0;
		uint32_t heads[9];
		cells_around(c, cell_of(x, c->eps_mm), cell_of(y, c->eps_mm), heads);
		for (unsigned k = 0; k < 9; k++) {
			for (uint32_t j = heads[k]; j != NIL; j = P(c, j)->next) {
				struct pt *o = P(c, j);
				if (!o->core || !within(c, o, x, y))
					continue;
				int64_t dx = (int64_t)o->x_mm - x, dy = (int64_t)o->y_mm - y;
				int64_t d2 = dx * dx + dy * dy;
				if (best == NIL || d2 < best_d2 || (d2 == best_d2 && o->id < best_id)) {
					best = j;
					best_d2 = d2;
					best_id = o->id;
				}
			}
		}
	}
	if (cluster_id != NULL)
		*cluster_id = best == NIL ? AN_CLUSTER_NONE : P(c, P(c, uf_find(c, best))->min_idx)->id;
	if (is_core != NULL)
		*is_core = p->core != 0;
}

int an_cluster_label(struct an_cluster *c, uint64_t id, uint64_t *cluster_id, bool *is_core)
{
	if (c == NULL)
		return -EINVAL;
	uint32_t i = id == AN_CLUSTER_NONE ? NIL : id_find(c, id);
	if (i == NIL)
		return -ENOENT;
	label_of(c, i, cluster_id, is_core);
	return 0;
}

size_t an_cluster_count(const struct an_cluster *c)
{
	return c ? c->n : 0;
}

int an_cluster_get(struct an_cluster *c, size_t index, struct an_cluster_point *out)
{
	if (c == NULL || out == NULL)
		return -EINVAL;
	if (index >= c->n)
		return -ENOENT;
	uint32_t i = (uint32_t)index;
	struct pt *p = P(c, i);
	out->id = p->id;
	out->x_mm = p->x_mm;
	out->y_mm = p->y_mm;
	label_of(c, i, &out->cluster_id, &out->is_core);
	return 0;
}

static int cmp_point_id(const void *a, const void *b)
{
	uint64_t x = ((const struct an_cluster_point *)a)->id, y = ((const struct an_cluster_point *)b)->id;
	return (x > y) - (x < y);
}

long an_cluster_export(struct an_cluster *c, struct an_cluster_point *out, size_t cap)
{
	if (c == NULL || (out == NULL && c->n > 0))
		return -EINVAL;
	if (cap < c->n)
		return -ENOBUFS;
	for (uint32_t i = 0; i < c->n; i++) {
		int err = an_cluster_get(c, i, &out[i]);
		if (err < 0)
			return err;
	}
	if (c->n > 1)
		qsort(out, c->n, sizeof *out, cmp_point_id);
	return (long)c->n;
}

void an_cluster_stats(const struct an_cluster *c, struct an_cluster_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof *out);
	if (c == NULL)
		return;
	out->n_points = c->n;
	out->n_core = c->n_core;
	out->n_clusters = c->n_clusters;
}

size_t an_cluster_mem_bytes(const struct an_cluster *c)
{
	return c ? c->bytes : 0;
}

/* ---- eps rule ------------------------------------------------------------------------------------ */

static uint64_t isqrt_ceil(uint64_t v)
{
	uint64_t r = 0;
	/* Bitwise integer square root (floor), then round up: no floating point, same on every platform. */
	uint64_t bit = (uint64_t)1 << 62;
	uint64_t x = v;
	while (bit > x)
		bit >>= 2;
	while (bit != 0) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r * r == v ? r : r + 1u;
}

int64_t an_cluster_eps_mm(uint32_t h_acc_a_mm, uint32_t h_acc_b_mm)
{
	const uint64_t cap = 10000000u;
	uint64_t a = h_acc_a_mm < cap ? h_acc_a_mm : cap;
	uint64_t b = h_acc_b_mm < cap ? h_acc_b_mm : cap;
	/* χ²₂(0.95) = -2 ln 0.05 = 5.99146...; 59915/10000 rounds it up. (a² + b²)·59915 <= 1.2e19 < 2^64. */
	uint64_t v = ((a * a + b * b) * 59915u + 9999u) / 10000u;
	uint64_t r = isqrt_ceil(v);
	return r < AN_CLUSTER_EPS_FLOOR_MM ? AN_CLUSTER_EPS_FLOOR_MM : (int64_t)r;
}
