/*
 * analysis/src/cluster_batch.c — batch DBSCAN (an_cluster_batch), same definition as the incremental core.
 *
 * A separate implementation on purpose: when all points are known, a grid whose cells are small enough that
 * any two points of one cell are neighbours turns most of DBSCAN into counting, and it gives the tests a
 * second, independent implementation to hold the incremental one to.
 *
 *   Grid. Cell side s = t + 1 with t the largest integer with 2t² <= eps²: two points of a cell differ by
 *   at most t mm per axis, so they are within eps. A cell (i, j) away can hold a neighbour only if the gaps
 *   g(i)² + g(j)² <= eps², g(k) = (|k| - 1)·s + 1 (integer coordinates); for s ≈ eps/√2 that is the 5 × 5
 *   block minus its corners (21 cells).
 *   1. ids unique (a bitmap when they are dense, as they usually are: checked in the gather; else a radix
 *      sort);
 *   2. cell key = row · W + column (row-major, padded by the ring so neighbours never wrap), columns and rows
 *      counted from -AN_CLUSTER_COORD_MAX_MM so the pass that checks the input finds them too (the input is
 *      read three times per call: that check, the gather, the labels). Compact field
 *      (occupancy bitmap of all keys <= 64 bits per point): counting sort with the occupied cells as buckets,
 *      the bitmap rank of a key being its cell index. Otherwise LSD radix on key << 32 | index when keys fit
 *      32 bits, else on (key, index) pairs. Either way a neighbour row segment is a contiguous run of cells,
 *      found in the bitmap or by forward-only cursors; ids and int32 coordinates are gathered into cell
 *      order so every later pass reads sequentially;
 *   3. core: each pair of neighbouring cells is met ONCE, from the smaller cell (its forward half ring: 10
 *      of the 20 ring cells), and a near pair found there counts for both points; a cell with >= min_pts
 *      points is core entirely (no distance computed for its own points, none at all between two such
 *      cells). In three loops: (a) every cell's half ring, kept as a list in cell order; (b) the counts, over
 *      the cells that have a ring only, dropping from the lists the pairs of small cells with no near pair
 *      at all (they can neither join nor give a border point); (c) flags, links and each cell's smallest
 *      core id, listing the cells step 4-5 has work in;
 *   4. union-find over CELLS: all core points of a cell are connected; two cells are joined on the first
 *      core pair within eps (skipped when already joined); names = min core id per component;
 *   5. border = nearest core within eps, ties by smaller id, offered both ways over the same cell pairs
 *      (same pass as 4); 6. labels in input order.
 * Hot loops avoid data-dependent branches where the data alternates unpredictably (ring windows, labels);
 * on x86-64 the pass is compiled twice and the CPU picks the POPCNT/BMI2 build (BATCH_CLONES below).
 * Scratch memory is about 29 bytes per point plus 22 per occupied cell (and the half-ring lists, 4 bytes
 * per entry) on a compact field, in a few blocks on transparent huge pages: fresh pages cost more than
 * much of the arithmetic here. Freed before returning; all sizes derive from n, which is capped by
 * opts.max_points.
 */
#define _DEFAULT_SOURCE /* madvise(), MADV_HUGEPAGE */

#include "an/cluster.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The labels go out with non-temporal stores on x86-64 (SSE2, the baseline): 40 bytes per point that this
 * call never reads back, so they need not be read into the cache first (a plain store of a line not in
 * cache reads it from memory before writing it). */
#if defined(__x86_64__) && defined(__SSE2__) && !defined(__SANITIZE_ADDRESS__)
#include <emmintrin.h>
#define STREAM_LABELS 1
_Static_assert(sizeof(struct an_cluster_point) == 40 && offsetof(struct an_cluster_point, id) == 0 &&
		       offsetof(struct an_cluster_point, x_mm) == 8 && offsetof(struct an_cluster_point, y_mm) == 16 &&
		       offsetof(struct an_cluster_point, cluster_id) == 24 &&
		       offsetof(struct an_cluster_point, is_core) == 32,
	       "struct an_cluster_point layout assumed by the streaming stores");
#endif

#define NIL UINT32_MAX
#define DIGIT_BITS 13u
#define BUCKETS (1u << DIGIT_BITS)
#define HUGE_B (2u << 20) /* a transparent huge page */
#define RING_MAX 3 /* eps/s < 1.5 for every eps >= 1 (checked when the ring is built) */
#define ROWS_MAX (2 * RING_MAX + 1)

struct kv {
	uint64_t k;
	uint32_t i;
};

/* LSD radix sort of a[0..n) on bits [lo_bit, 64) (tmp: scratch of n). Digits on which all keys agree are
 * skipped. Stable. */
static void radix_u64(uint64_t *a, uint64_t *tmp, size_t n, size_t *cnt, unsigned lo_bit)
{
	for (unsigned shift = lo_bit; shift < 64u; shift += DIGIT_BITS) {
		memset(cnt, 0, BUCKETS * sizeof *cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(a[i] >> shift) & (BUCKETS - 1u)]++;
		if (cnt[(a[0] >> shift) & (BUCKETS - 1u)] == n)
			continue;
		size_t sum = 0;
		for (size_t b = 0; b < BUCKETS; b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(a[i] >> shift) & (BUCKETS - 1u)]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
}

static void radix_kv(struct kv *a, struct kv *tmp, size_t n, size_t *cnt)
{
	for (unsigned shift = 0; shift < 64u; shift += DIGIT_BITS) {
		memset(cnt, 0, BUCKETS * sizeof *cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(a[i].k >> shift) & (BUCKETS - 1u)]++;
		if (cnt[(a[0].k >> shift) & (BUCKETS - 1u)] == n)
			continue;
		size_t sum = 0;
		for (size_t b = 0; b < BUCKETS; b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(a[i].k >> shift) & (BUCKETS - 1u)]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
}

/* Scratch blocks of 2 MiB or more are 2 MiB-aligned and advised as transparent huge pages (small ones come
 * from malloc()). Why: every block here is fresh memory that is written once and read a few times, and on
 * the VMs this runs on a 4 KiB page fault costs ~2 µs: at 10^6 points ~12 000 faults were 28 ms of system
 * time per call (of ~116 ms). With huge pages ~1 800 faults, 9 ms. Unlike an__cluster_alloc() nothing is
 * pre-faulted: only the total counts here, not the latency of one step. (A session before measured up to
 * 75 ns per point more when a madvised fault had to compact memory first; with THP defrag=madvise on this
 * machine compact_stall stayed 0 across the benchmark.) Every array is written before it is read. */
static void *raw_alloc(size_t bytes, size_t *cap)
{
	if (bytes < HUGE_B) {
		*cap = bytes;
		return malloc(bytes);
	}
	size_t nb = (bytes + HUGE_B - 1u) / HUGE_B * HUGE_B;
	void *p = aligned_alloc(HUGE_B, nb);
#ifdef MADV_HUGEPAGE
	if (p != NULL)
		(void)madvise(p, nb, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#endif
	*cap = nb;
	return p;
}

/* The blocks of one call come from a pool that a workspace keeps across calls (an_cluster_batch_with): a
 * request takes the smallest free block that is large enough, else a new one. Fresh pages are the most
 * expensive memory here (see above; measured at 10^6 points right after the streaming benchmark freed its
 * tables: ~0.16 s per call with fresh blocks vs ~0.065 s with kept ones, most of the difference in
 * clear_page_erms), so a caller that clusters again and again touches them once. */
#define WS_SLOTS 24 /* >= the blocks one call holds at once (16), with room to replace */
struct ws_block {
	void *p;
	size_t cap;
	bool used;
};
struct an_cluster_batch_ws {
	struct ws_block b[WS_SLOTS];
};

static void *ws_get(struct an_cluster_batch_ws *w, size_t bytes)
{
	bytes = bytes ? bytes : 1u;
	int best = -1, empty = -1, small = -1;
	for (int i = 0; i < WS_SLOTS; i++) {
		struct ws_block *k = &w->b[i];
		if (k->p == NULL) {
			empty = empty < 0 ? i : empty;
			continue;
		}
		if (k->used)
			continue;
		if (k->cap >= bytes && (best < 0 || k->cap < w->b[best].cap))
			best = i;
		if (k->cap < bytes && (small < 0 || k->cap > w->b[small].cap))
			small = i;
	}
	if (best >= 0) {
		w->b[best].used = true;
		return w->b[best].p;
	}
	int i = empty >= 0 ? empty : small; /* replace the largest free block that is too small */
	if (i < 0)
		return NULL; /* cannot happen: WS_SLOTS > blocks in use */
	free(w->b[i].p);
	w->b[i].p = raw_alloc(bytes, &w->b[i].cap);
	w->b[i].used = w->b[i].p != NULL;
	return w->b[i].p;
}

static void ws_put(struct an_cluster_batch_ws *w, void *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < WS_SLOTS; i++)
		if (w->b[i].p == p)
			w->b[i].used = false;
}

static void ws_release_all(struct an_cluster_batch_ws *w)
{
	for (int i = 0; i < WS_SLOTS; i++)
		w->b[i].used = false;
}

static void ws_free_all(struct an_cluster_batch_ws *w)
{
	for (int i = 0; i < WS_SLOTS; i++)
		free(w->b[i].p);
	memset(w, 0, sizeof *w);
}

struct an_cluster_batch_ws *an_cluster_batch_ws_new(void)
{
	return calloc(1, sizeof(struct an_cluster_batch_ws));
}

void an_cluster_batch_ws_free(struct an_cluster_batch_ws *w)
{
	if (w == NULL)
		return;
	ws_free_all(w);
	free(w);
}

size_t an_cluster_batch_ws_bytes(const struct an_cluster_batch_ws *w)
{
	size_t t = 0;
	for (int i = 0; w != NULL && i < WS_SLOTS; i++)
		t += w->b[i].p != NULL ? w->b[i].cap : 0u;
	return t;
}

static inline __attribute__((always_inline)) uint32_t uf_find(uint32_t *parent, uint32_t i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

struct grid {
	int64_t eps, eps2, s;
	uint64_t w;                 /* cells per row, ring padding included */
	int ring;                   /* rows -ring .. +ring */
	int64_t half[ROWS_MAX];     /* columns -half .. +half in row dy (index dy + ring) */
	/* the forward half ring as row windows, dy = 0 .. ring: in row 0 the columns 1 .. half, in the others
	 * -half .. +half (ring_bits) */
	uint64_t roff[RING_MAX + 1];  /* key of the window's first cell minus the cell's key (mod 2^64) */
	uint64_t rmask[RING_MAX + 1]; /* as many low bits as the window has cells (<= 7) */
	size_t m;                   /* cells */
	uint64_t *ckey;             /* m */
	uint32_t *cstart;           /* m + 1 */
	uint64_t *occ;              /* occupancy bitmap over all keys (NULL: use the cursors) */
	uint32_t *rank;             /* occupied cells before each word of occ */
};

struct scratch {
	uint64_t *u, *utmp;   /* packed sort / id check */
	struct kv *kv, *kvtmp;
	size_t *cnt;
	uint8_t *bits;
	int32_t *x, *y;       /* in cell order */
	uint64_t *id;         /* in cell order: names and tie-breaks read it sequentially, not in[] at random */
	uint32_t *orig;       /* cell order -> input index (radix path only) */
	uint32_t *inv;        /* input index -> cell order (in orig's place on the counting path, else inv_own) */
	uint32_t *inv_own;
	uint64_t *ckey;
	uint32_t *cstart;
	uint32_t *parent;     /* union-find over cells */
	uint32_t *todo;       /* the cells step 4-5 has work in (a half ring, or core and non-core points) */
	uint64_t *name;       /* per cell root: min core id */
	uint8_t *core;        /* per point */
	uint8_t *ccore;       /* per cell: HAS_CORE | HAS_NONCORE */
	uint8_t *nbk;         /* per cell: size of its half ring (< ROWS_MAX²); they lie in nbl in cell order */
	uint32_t *nbl;        /* the half rings of all cells, found once in step 3, read again in 4-5 */
	uint32_t *link;       /* per point: CELL of the core point it is labelled by (its own if core), NIL = noise */
	uint32_t *aux;        /* per point: neighbours in other cells (step 3), then its nearest core point
	                       * (4-5; valid once link[p] != NIL) */
	uint64_t *occ;
	uint32_t *rank;
	void *pts;            /* one block for x, y, id, orig, link, aux, core (fewer, fuller allocations) */
	void *cells;          /* one block for parent, todo, nbk, ccore */
	struct an_cluster_batch_ws *ws; /* where every block comes from and goes back to */
};

static void *scratch_alloc(struct scratch *s, size_t bytes)
{
	return ws_get(s->ws, bytes);
}

static void *scratch_zalloc(struct scratch *s, size_t bytes)
{
	void *p = ws_get(s->ws, bytes);
	if (p != NULL)
		memset(p, 0, bytes);
	return p;
}

static void scratch_put(struct scratch *s, void *p)
{
	ws_put(s->ws, p);
}

static void scratch_free(struct scratch *s)
{
	ws_release_all(s->ws); /* every block of this call, whatever aliases them */
}

#define HAS_CORE 1u    /* ccore[]: the cell has a core point */
#define HAS_NONCORE 2u /* ... and a non-core point */

static inline int64_t d2_of(const struct scratch *s, uint32_t p, uint32_t q)
{
	int64_t dx = (int64_t)s->x[p] - s->x[q], dy = (int64_t)s->y[p] - s->y[q];
	return dx * dx + dy * dy;
}

/* No box test needed: near() only compares points of a cell and its ring, so |dx|, |dy| < (RING_MAX + 1)·s
 * <= 4·eps <= 4e8 and the squares stay far below 2^63. Branch-free: the outcome is data (unpredictable). */
static inline bool near(const struct scratch *s, uint32_t p, uint32_t q, int64_t eps2)
{
	return d2_of(s, p, q) <= eps2;
}

/* Offer core point q (in cell dq) to non-core point p: taken when within eps and nearer than p's best so
 * far (aux[p]), ties by the smaller id; link[p] follows with q's cell. */
static inline __attribute__((always_inline)) void border_offer(struct scratch *s, uint32_t p, uint32_t q, uint32_t dq,
								int64_t eps2)
{
	int64_t d2 = d2_of(s, p, q);
	if (d2 > eps2)
		return;
	if (s->link[p] != NIL) { /* a best so far: aux[p] (aux is not reset for this, link says it) */
		uint32_t b = s->aux[p];
		int64_t bd2 = d2_of(s, p, b);
		if (d2 > bd2 || (d2 == bd2 && s->id[q] > s->id[b]))
			return;
	}
	s->aux[p] = q;
	s->link[p] = dq;
}

/* The FORWARD half of the ring around cell c: the neighbouring cells after c in cell order (rows 0 .. +ring
 * of the ring; in row 0 those right of c). Every pair of neighbouring cells is then met once, from its
 * smaller cell. In key order within each row; cur[] are the forward-only cursors (one per row), valid
 * because the target ranges grow with c. */
static size_t ring_of(const struct grid *g, size_t c, size_t *cur, uint32_t *nb)
{
	size_t k = 0;
	uint64_t key = g->ckey[c];
	for (int r = g->ring; r < 2 * g->ring + 1; r++) {
		uint64_t row_key = key + (uint64_t)((int64_t)(r - g->ring) * (int64_t)g->w); /* padding: no wrap */
		uint64_t lo = row_key - (uint64_t)g->half[r], hi = row_key + (uint64_t)g->half[r];
		if (r == g->ring)
			lo = key + 1u; /* row 0: only the cells after c */
		size_t e = cur[r];
		while (e < g->m && g->ckey[e] < lo)
			e++;
		cur[r] = e;
		for (; e < g->m && g->ckey[e] <= hi; e++)
			nb[k++] = (uint32_t)e;
	}
	return k;
}

/* x / d for 32-bit x and a divisor fixed for the whole run, without a DIV instruction (two per point in
 * the key pass): q = high 64 bits of x · ceil(2^64 / d), exact for every x, d < 2^32 (Lemire, Kaser, Kurz,
 * "Faster remainder by direct computation", 2019, theorem 1: 64 >= 32 + log2 d fractional bits). d = 1
 * would need 2^64: it is its own case. Plain division where the compiler has no 128-bit product. */
struct divider {
	uint32_t d;
	uint64_t c;
};

static struct divider divider_of(uint32_t d)
{
	struct divider v = {.d = d, .c = d > 1u ? UINT64_MAX / d + 1u : 0u};
	return v;
}

static inline __attribute__((always_inline)) uint32_t div_u32(uint32_t x, const struct divider *v)
{
#ifdef __SIZEOF_INT128__
	__extension__ typedef unsigned __int128 u128;
	return v->d > 1u ? (uint32_t)(((u128)x * v->c) >> 64) : x;
#else
	return x / v->d;
#endif
}

/* Portable popcount (the x86-64 baseline has no POPCNT instruction: __builtin_popcountll is a libgcc call). */
static inline __attribute__((always_inline)) uint32_t pop64(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (uint32_t)((v * 0x0101010101010101ull) >> 56);
}

/* The same half ring from the occupancy bitmap: each row segment is a <= 7-bit window of occ (most are empty
 * on sparse fields). The occupied cells of one window are consecutive in cell order (one row, ascending
 * keys), so one rank per non-empty window numbers them all. No cursors, few branches. */
static inline __attribute__((always_inline)) size_t ring_bits(const struct grid *g, size_t c, uint32_t *nb)
{
	size_t k = 0;
	uint64_t key = g->ckey[c];
	for (int r = 0; r <= g->ring; r++) {
		uint64_t base = key + g->roff[r];
		unsigned off = (unsigned)(base & 63u);
		uint64_t wi = base >> 6;
		/* the window may run into the next word; (x << 1) << (63 - off) is x << (64 - off), and 0 for
		 * off = 0, where a single shift by 64 would be undefined */
		uint64_t bits = ((g->occ[wi] >> off) | ((g->occ[wi + 1] << 1) << (63u - off))) & g->rmask[r];
		/* No branch on an empty window or on the count (both unpredictable on a sparse field, ~1 M
		 * mispredictions per 10^6 points): always 8 entries written, the next row's overwrite the ones
		 * beyond the count (the caller leaves room for 8 per row). */
		uint32_t first = g->rank[wi] + pop64(g->occ[wi] & ((1ull << off) - 1u));
		for (uint32_t j = 0; j < 8; j++)
			nb[k + j] = first + j;
		k += pop64(bits);
	}
	return k;
}

static inline __attribute__((always_inline)) size_t ring_any(const struct grid *g, size_t c, size_t *cur, uint32_t *nb)
{
	return g->occ ? ring_bits(g, c, nb) : ring_of(g, c, cur, nb);
}

static int grid_init(struct grid *g, int64_t eps)
{
	g->eps = eps;
	g->eps2 = eps * eps;
	int64_t t = 0;
	/* largest t with 2t² <= eps²: start from the float estimate, then fix by integer tests */
	t = (int64_t)((double)eps / 1.4142135623730951);
	while (t > 0 && 2 * t * t > g->eps2)
		t--;
	while (2 * (t + 1) * (t + 1) <= g->eps2)
		t++;
	g->s = t + 1;
	int ring = 0;
	while ((int64_t)ring * g->s + 1 <= eps) /* g(ring + 1) = ring·s + 1 */
		ring++;
	if (ring > RING_MAX)
		return -EINVAL; /* cannot happen: s > eps/√2 - 1 ... checked anyway */
	g->ring = ring;
	for (int r = -ring; r <= ring; r++) {
		int64_t gy = r == 0 ? 0 : (int64_t)(abs(r) - 1) * g->s + 1, h = 0;
		while (h + 1 <= ring) {
			int64_t gx = (int64_t)h * g->s + 1; /* g(h + 1) */
			if (gx * gx + gy * gy > g->eps2)
				break;
			h++;
		}
		g->half[r + ring] = h;
	}
	return 0;
}

/* Ids must be unique: a bitmap over [min, max] when that range is at most 64 bits per point (ids are
 * usually dense), else a radix sort of the ids. */
static int ids_unique(struct scratch *s, const struct an_cluster_input *in, size_t n, uint64_t lo, uint64_t hi)
{
	if (hi - lo < (uint64_t)n * 64u) {
		size_t nb = (size_t)((hi - lo) / 8u + 1u);
		s->bits = scratch_zalloc(s, nb);
		if (!s->bits)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = in[i].id - lo;
			uint8_t bit = (uint8_t)(1u << (v & 7u));
			if (s->bits[v >> 3] & bit)
				return -EEXIST;
			s->bits[v >> 3] |= bit;
		}
		return 0;
	}
	if (s->u == NULL)
		s->u = scratch_alloc(s, n * sizeof *s->u);
	if (s->utmp == NULL)
		s->utmp = scratch_alloc(s, n * sizeof *s->utmp);
	if (!s->u || !s->utmp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		s->u[i] = in[i].id;
	radix_u64(s->u, s->utmp, n, s->cnt, 0);
	for (size_t i = 1; i < n; i++)
		if (s->u[i] == s->u[i - 1])
			return -EEXIST;
	return 0;
}

/* The whole batch is compiled twice on x86-64 and the loader picks one by CPU (an ifunc; GCC/clang
 * target_clones): the baseline and x86-64-v3 (2013+ CPUs: POPCNT, BMI1/2, AVX2). Why: ranks in the
 * occupancy bitmap are popcounts, one to three per cell; the baseline has no POPCNT instruction, and its
 * 12-instruction software form was ~13 % of all instructions here. GCC turns pop64() into POPCNT in the
 * v3 clone; shifts by a variable count also get cheaper (SHLX/SHRX). Same source, same results. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__SANITIZE_ADDRESS__)
#if __has_attribute(target_clones)
#define BATCH_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#endif
#endif
#ifndef BATCH_CLONES
#define BATCH_CLONES
#endif

BATCH_CLONES
static int batch_run(struct an_cluster_batch_ws *ws, const struct an_cluster_opts *o,
		     const struct an_cluster_input *in, size_t n, struct an_cluster_point *out)
{
	if (an_cluster_opts_check(o) < 0 || (n > 0 && (in == NULL || out == NULL)))
		return -EINVAL;
	uint32_t maxp = o->max_points ? o->max_points : AN_CLUSTER_MAX_POINTS_DEFAULT;
	if (n > maxp)
		return -ENOSPC;
	if (n == 0)
		return 0;
	struct grid g = {0};
	if (grid_init(&g, o->eps_mm) < 0)
		return -EINVAL;

	int err = 0;
	struct scratch s = {.ws = ws};
	/* 29 bytes per point; 8-byte array first, so every array is aligned. Taken before the input is checked:
	 * the checking pass also writes each point's cell column and row (below). */
	s.pts = scratch_alloc(&s, n * (sizeof *s.id + sizeof *s.x + sizeof *s.y + sizeof *s.orig + sizeof *s.link +
				       sizeof *s.aux + sizeof *s.core));
	if (!s.pts) {
		err = -ENOMEM;
		goto out_free;
	}
	s.id = s.pts;
	s.x = (int32_t *)(s.id + n);
	s.y = s.x + n;
	s.orig = (uint32_t *)(s.y + n);
	s.link = s.orig + n;
	s.aux = s.link + n;
	s.core = (uint8_t *)(s.aux + n);

	/* Cells are counted from -AN_CLUSTER_COORD_MAX_MM, not from the minimum: column = (x + max) / s is
	 * known before the minimum is, so the pass that checks the input also finds every point's column and
	 * row (link[] and aux[] hold them until the keys are made), and the later passes read those 8 bytes
	 * per point instead of the 24-byte input again. Where the grid starts does not change the result:
	 * any cells of side s hold points within eps of each other. x + max < 2^32 for every valid x (32-bit
	 * divisions); an invalid x gives a meaningless column, and the call fails below before it is used. */
	const struct divider dv = divider_of((uint32_t)g.s);
	uint32_t *const col = s.link, *const row = s.aux;
	uint64_t id_lo = UINT64_MAX, id_hi = 0;
	int64_t x_lo = INT64_MAX, x_hi = INT64_MIN, y_lo = INT64_MAX, y_hi = INT64_MIN;
	/* Ranges first, without an exit per point; the errors are the extremes: an id AN_CLUSTER_NONE is the
	 * largest id, a coordinate out of range lies beyond the extremes. */
	for (size_t i = 0; i < n; i++) {
		const struct an_cluster_input *p = &in[i];
		id_lo = p->id < id_lo ? p->id : id_lo;
		id_hi = p->id > id_hi ? p->id : id_hi;
		x_lo = p->x_mm < x_lo ? p->x_mm : x_lo;
		x_hi = p->x_mm > x_hi ? p->x_mm : x_hi;
		y_lo = p->y_mm < y_lo ? p->y_mm : y_lo;
		y_hi = p->y_mm > y_hi ? p->y_mm : y_hi;
		col[i] = div_u32((uint32_t)((uint64_t)p->x_mm + (uint64_t)AN_CLUSTER_COORD_MAX_MM), &dv);
		row[i] = div_u32((uint32_t)((uint64_t)p->y_mm + (uint64_t)AN_CLUSTER_COORD_MAX_MM), &dv);
	}
	if (id_hi == AN_CLUSTER_NONE) {
		err = -EINVAL;
		goto out_free;
	}
	if (x_hi > AN_CLUSTER_COORD_MAX_MM || x_lo < -AN_CLUSTER_COORD_MAX_MM || y_hi > AN_CLUSTER_COORD_MAX_MM ||
	    y_lo < -AN_CLUSTER_COORD_MAX_MM) {
		err = -ERANGE;
		goto out_free;
	}
	const uint64_t col_lo = div_u32((uint32_t)(x_lo + AN_CLUSTER_COORD_MAX_MM), &dv),
		       col_hi = div_u32((uint32_t)(x_hi + AN_CLUSTER_COORD_MAX_MM), &dv),
		       row_lo = div_u32((uint32_t)(y_lo + AN_CLUSTER_COORD_MAX_MM), &dv),
		       row_hi = div_u32((uint32_t)(y_hi + AN_CLUSTER_COORD_MAX_MM), &dv);

	const int64_t eps2 = g.eps2;
	const uint32_t min_pts = o->min_pts;
	/* columns/rows with the ring's padding on both sides; <= 4e9 + 7 each, so w · rows < 2^64 */
	const uint64_t pad = (uint64_t)g.ring;
	g.w = col_hi - col_lo + 1u + 2u * pad;
	g.roff[0] = 1u; /* the forward row windows as offsets and masks (ring_bits) */
	g.rmask[0] = (1u << g.half[g.ring]) - 1u;
	for (int dy = 1; dy <= g.ring; dy++) {
		g.roff[dy] = (uint64_t)((int64_t)dy * (int64_t)g.w - g.half[g.ring + dy]);
		g.rmask[dy] = (2u << (2 * g.half[g.ring + dy])) - 1u; /* 2·half + 1 <= 7 bits */
	}
	const uint64_t rows = row_hi - row_lo + 1u + 2u * pad;
	const bool packed = g.w <= UINT32_MAX / rows; /* every key < 2^32 */

	s.cnt = scratch_alloc(&s, BUCKETS * sizeof *s.cnt);
	if (!s.cnt) {
		err = -ENOMEM;
		goto out_free;
	}
	/* the occupancy bitmap when it is small (<= 64 bits per point; one word of slack for the windows) */
	const uint64_t keys = g.w * rows;
	const bool use_occ = keys / 64u <= (uint64_t)n;
	const size_t nw = use_occ ? (size_t)(keys / 64u) + 2u : 0u;
	/* Ids unique: on the usual path (compact field, dense ids) the gather below checks them in a bitmap as
	 * it reads each point anyway (one pass over in[] less); otherwise ids_unique() does it first. */
	const bool ids_in_gather = use_occ && packed && id_hi - id_lo < (uint64_t)n * 64u;
	if (ids_in_gather) {
		s.bits = scratch_zalloc(&s, (size_t)((id_hi - id_lo) / 8u + 1u));
		if (s.bits == NULL) {
			err = -ENOMEM;
			goto out_free;
		}
	} else {
		if ((err = ids_unique(&s, in, n, id_lo, id_hi)) < 0)
			goto out_free;
		scratch_put(&s, s.bits);
		s.bits = NULL;
	}

	/* 2. sort by cell key */
	/* point i's key from its column and row (the padding keeps neighbours of the extremes in range) */
#define KEY_AT(i) (((uint64_t)row[i] - row_lo + pad) * g.w + (uint64_t)col[i] - col_lo + pad)
	if (use_occ) {
		s.occ = scratch_zalloc(&s, nw * sizeof *s.occ);
		s.rank = scratch_alloc(&s, nw * sizeof *s.rank);
		if (!s.occ || !s.rank) {
			err = -ENOMEM;
			goto out_free;
		}
	}
	size_t m = 0;
	bool aux_zero = false; /* aux[] (the rows) already zeroed for step 3b */
	if (use_occ && packed) {
		/* Counting sort with the occupied cells as buckets (the usual case: a compact field). The bitmap
		 * gives every cell its index (rank), so no 64-bit sort arrays and no radix passes: 16 bytes per
		 * point less to allocate, and allocation (page zeroing) is a good part of the cost here.
		 * link[] holds each input point's key, then its cell, until step 4-5 reuses it. */
		uint32_t *kc = s.link;
		s.inv = s.orig; /* the gather below goes in input order: no cell -> input map needed */
		s.orig = NULL;
		for (size_t i = 0; i < n; i++) {
			uint32_t k = (uint32_t)KEY_AT(i);
			kc[i] = k; /* in col[i]'s place, read just before */
			row[i] = 0; /* aux[]'s zeros for step 3b, in a line this loop has in cache anyway */
			s.occ[k >> 6] |= 1ull << (k & 63u);
		}
		uint32_t sum = 0;
		for (size_t i = 0; i < nw; i++) {
			s.rank[i] = sum;
			sum += pop64(s.occ[i]);
		}
		m = sum;
		s.cstart = scratch_alloc(&s, (m + 2u) * sizeof *s.cstart);
		s.ckey = scratch_alloc(&s, m * sizeof *s.ckey);
		if (!s.cstart || !s.ckey) {
			err = -ENOMEM;
			goto out_free;
		}
		memset(s.cstart, 0, (m + 2u) * sizeof *s.cstart);
		for (size_t i = 0; i < n; i++) {
			uint32_t k = kc[i];
			uint32_t c = s.rank[k >> 6] + pop64(s.occ[k >> 6] & ((1ull << (k & 63u)) - 1u));
			kc[i] = c;
			s.cstart[c + 2u]++;
			s.ckey[c] = k; /* next to the count: no separate walk over the bitmap's set bits */
		}
		for (size_t c = 2; c < m + 2u; c++) /* cstart[c + 1] = first point of cell c */
			s.cstart[c] += s.cstart[c - 1];
		for (size_t i = 0; i < n; i++) { /* input order within a cell, as the stable radix sort gave */
			uint32_t p = s.cstart[kc[i] + 1u]++; /* ends as the first point of cell c + 1 */
			const struct an_cluster_input *q = &in[i];
			if (ids_in_gather) { /* the ids are read here anyway: one pass over in[] less */
				uint64_t v = q->id - id_lo;
				uint8_t bit = (uint8_t)(1u << (v & 7u));
				if (s.bits[v >> 3] & bit) {
					err = -EEXIST;
					goto out_free;
				}
				s.bits[v >> 3] |= bit;
			}
			s.inv[i] = p;
			s.x[p] = (int32_t)q->x_mm;
			s.id[p] = q->id;
			s.y[p] = (int32_t)q->y_mm;
		}
		scratch_put(&s, s.bits);
		s.bits = NULL;
		aux_zero = true;
		g.occ = s.occ;
		g.rank = s.rank;
	} else {
		/* the general case: radix sort of (key, index) */
		if (s.u == NULL) /* ids_unique may have them already */
			s.u = scratch_alloc(&s, n * sizeof *s.u);
		if (s.utmp == NULL)
			s.utmp = scratch_alloc(&s, n * sizeof *s.utmp);
		s.cstart = scratch_alloc(&s, (n + 1u) * sizeof *s.cstart);
		if (!s.u || !s.utmp || !s.cstart) {
			err = -ENOMEM;
			goto out_free;
		}
		if (packed) {
			for (size_t i = 0; i < n; i++)
				s.u[i] = KEY_AT(i) << 32 | (uint64_t)i;
			radix_u64(s.u, s.utmp, n, s.cnt, 32);
			for (size_t p = 0; p < n; p++) {
				s.orig[p] = (uint32_t)s.u[p];
				s.u[p] >>= 32;
			}
		} else {
			s.kv = scratch_alloc(&s, n * sizeof *s.kv);
			s.kvtmp = scratch_alloc(&s, n * sizeof *s.kvtmp);
			if (!s.kv || !s.kvtmp) {
				err = -ENOMEM;
				goto out_free;
			}
			for (size_t i = 0; i < n; i++) {
				s.kv[i].k = KEY_AT(i);
				s.kv[i].i = (uint32_t)i;
			}
			radix_kv(s.kv, s.kvtmp, n, s.cnt);
			for (size_t p = 0; p < n; p++) {
				s.orig[p] = s.kv[p].i;
				s.u[p] = s.kv[p].k;
			}
			scratch_put(&s, s.kv);
			scratch_put(&s, s.kvtmp);
			s.kv = s.kvtmp = NULL;
		}
		s.ckey = s.utmp; /* the sort's scratch is free again: the cell keys (m <= n) live there */
		s.utmp = NULL;
		for (size_t p = 0; p < n; p++) {
			const struct an_cluster_input *q = &in[s.orig[p]];
			s.x[p] = (int32_t)q->x_mm;
			s.id[p] = q->id;
			s.y[p] = (int32_t)q->y_mm;
			if (p == 0 || s.u[p] != s.u[p - 1]) {
				s.ckey[m] = s.u[p];
				s.cstart[m++] = (uint32_t)p;
			}
		}
		s.cstart[m] = (uint32_t)n;
		if (use_occ) {
			for (size_t c = 0; c < m; c++)
				s.occ[s.ckey[c] >> 6] |= 1ull << (s.ckey[c] & 63u);
			uint32_t sum = 0;
			for (size_t i = 0; i < nw; i++) {
				s.rank[i] = sum;
				sum += pop64(s.occ[i]);
			}
			g.occ = s.occ;
			g.rank = s.rank;
		}
		scratch_put(&s, s.u); /* the sorted keys were copied to ckey */
		s.u = NULL;
	}
#undef KEY_AT
	g.m = m;
	g.ckey = s.ckey;
	g.cstart = s.cstart;
	s.cells = scratch_alloc(&s, m * (sizeof *s.parent + sizeof *s.todo + sizeof *s.nbk + sizeof *s.ccore));
	if (s.cells != NULL) {
		s.parent = s.cells;
		s.todo = s.parent + m;
		s.nbk = (uint8_t *)(s.todo + m);
		s.ccore = s.nbk + m;
	}
	/* half-ring entries: < ROWS_MAX² per cell (10 for s ≈ eps/√2), usually a few, plus the 8-entry
	 * overshoot of ring_bits; grown on demand (4 per cell to start) */
	size_t nbl_cap = 4u * m + ROWS_MAX * ROWS_MAX, nbl_len = 0;
	s.nbl = scratch_alloc(&s, nbl_cap * sizeof *s.nbl);
	if (!s.cells || !s.nbl) {
		err = -ENOMEM;
		goto out_free;
	}

	/* 3. core points. Each pair of neighbouring cells is met once, from the smaller cell (its forward half
	 * ring), and a near pair found there counts for both points (aux = neighbours in OTHER cells; the own
	 * cell's points are all neighbours). A point's count is complete when its cell's turn ends (smaller
	 * cells counted before, larger ones now), so its core flag is set then. A cell with >= min_pts points
	 * is core entirely: its points need no count, and a pair of two such cells is not looked at; for one
	 * such cell the other side's points stop counting at min_pts. */
	/* The name block is the cell-key block: cell c's entry becomes its smallest core id at the end of its
	 * step 3 (ring_bits reads only the current cell's key, ring_of's cursors only keys from c on). */
	s.name = s.ckey;
	size_t cur[ROWS_MAX] = {0}, n_todo = 0;
	/* 3a. the half rings; the cells that have one are listed (branch-free: most have none) */
	for (size_t c = 0; c < m; c++) {
		s.parent[c] = (uint32_t)c;
		if (nbl_len + ROWS_MAX * ROWS_MAX > nbl_cap) {
			nbl_cap *= 2u;
			uint32_t *t = scratch_alloc(&s, nbl_cap * sizeof *s.nbl);
			if (t == NULL) {
				err = -ENOMEM;
				goto out_free;
			}
			memcpy(t, s.nbl, nbl_len * sizeof *s.nbl);
			scratch_put(&s, s.nbl);
			s.nbl = t;
		}
		size_t k = ring_any(&g, c, cur, s.nbl + nbl_len);
		nbl_len += k;
		s.nbk[c] = (uint8_t)k;
		s.todo[n_todo] = (uint32_t)c;
		n_todo += k > 0;
	}
	/* 3b. counts over the listed cells' pairs (their lists lie in nbl in the same order). A pair of two
	 * small cells without a single near pair can neither join nor give a border point: it is dropped
	 * from the list (compacted in place, behind the reading), so step 4-5 never looks at it. */
	if (!aux_zero)
		memset(s.aux, 0, n * sizeof *s.aux);
	size_t nbl_at = 0, nbl_wr = 0;
	for (size_t t = 0; t < n_todo; t++) {
		uint32_t c = s.todo[t];
		uint32_t a = s.cstart[c], b = s.cstart[c + 1], sz = b - a;
		size_t k = s.nbk[c], kept = 0;
		const uint32_t *nb = s.nbl + nbl_at;
		nbl_at += k;
		const bool dense_c = sz >= min_pts;
		for (size_t j = 0; j < k; j++) {
			uint32_t d = nb[j], e = s.cstart[d], f = s.cstart[d + 1], szd = f - e;
			const bool dense_d = szd >= min_pts;
			uint32_t hit = 1; /* kept unless shown to have no near pair */
			if (!dense_c && !dense_d) { /* both small (< min_pts each): every pair, both counted */
				hit = 0;
				for (uint32_t p = a; p < b; p++)
					for (uint32_t q = e; q < f; q++) {
						uint32_t u = near(&s, p, q, eps2);
						s.aux[p] += u;
						s.aux[q] += u;
						hit |= u;
					}
			} else if (!dense_d) { /* only d's points need counts */
				for (uint32_t q = e; q < f; q++)
					for (uint32_t p = a; p < b && szd + s.aux[q] < min_pts; p++)
						s.aux[q] += near(&s, p, q, eps2);
			} else if (!dense_c) { /* only c's points */
				for (uint32_t p = a; p < b; p++)
					for (uint32_t q = e; q < f && sz + s.aux[p] < min_pts; q++)
						s.aux[p] += near(&s, p, q, eps2);
			}
			s.nbl[nbl_wr + kept] = d; /* index <= the one just read: never ahead of the reading */
			kept += hit;
		}
		s.nbk[c] = (uint8_t)kept;
		nbl_wr += kept;
	}
	/* 3c. the counts are final: flags, links (own cell for core points, NIL until a border offer for the
	 * others) and each cell's smallest core id, with masks: core and non-core alternate unpredictably.
	 * The cells step 4-5 has work in are listed again (a half ring, or core and non-core points). */
	n_todo = 0; /* 3b is done with its list */
	for (size_t c = 0; c < m; c++) {
		uint32_t a = s.cstart[c], b = s.cstart[c + 1], sz = b - a;
		const bool dense_c = sz >= min_pts;
		uint8_t any = 0, all = 1;
		uint64_t cmin = AN_CLUSTER_NONE;
		for (uint32_t p = a; p < b; p++) {
			uint8_t is = dense_c || sz + s.aux[p] >= min_pts;
			uint32_t nc = (uint32_t)is ^ 1u;
			uint64_t v = s.id[p] | (0u - (uint64_t)nc);
			s.core[p] = is;
			any |= is;
			all &= is;
			s.link[p] = (uint32_t)c | (0u - nc);
			cmin = v < cmin ? v : cmin;
		}
		s.ccore[c] = (uint8_t)(any * HAS_CORE | (all ^ 1u) * HAS_NONCORE);
		s.name[c] = cmin;
		s.todo[n_todo] = (uint32_t)c;
		n_todo += (s.nbk[c] > 0) | (any & (all ^ 1u));
	}

	s.ckey = NULL; /* the block holds the names now */
	g.ckey = NULL;

	/* 4-5. join core cells; border points to their nearest core point (ties: smaller id). Again each pair
	 * of neighbouring cells once, from the smaller, in both directions; a non-core point's candidates are
	 * the core points of its own cell and of every neighbouring cell, so its choice is final when its
	 * cell's turn ends. */
	nbl_at = 0; /* cells not listed have empty half rings: the lists of the listed ones are in order */
	for (size_t t = 0; t < n_todo; t++) {
		uint32_t c = s.todo[t];
		uint32_t a = s.cstart[c], b = s.cstart[c + 1];
		const uint32_t *nb = s.nbl + nbl_at;
		size_t k = s.nbk[c];
		nbl_at += k;
		const uint8_t fc = s.ccore[c];
		for (size_t j = 0; j < k; j++) {
			uint32_t d = nb[j], e = s.cstart[d], f = s.cstart[d + 1];
			const uint8_t fd = s.ccore[d];
			if ((fc & fd & HAS_CORE) != 0) {
				uint32_t ra = uf_find(s.parent, (uint32_t)c), rb = uf_find(s.parent, d);
				bool joined = ra == rb;
				for (uint32_t p = a; p < b && !joined; p++) {
					if (!s.core[p])
						continue;
					for (uint32_t q = e; q < f; q++)
						if (s.core[q] && near(&s, p, q, eps2)) {
							joined = true;
							/* link the larger index under the smaller: no rank array needed */
							s.parent[ra > rb ? ra : rb] = ra > rb ? rb : ra;
							break;
						}
				}
			}
			if ((fc & HAS_NONCORE) && (fd & HAS_CORE))
				for (uint32_t p = a; p < b; p++)
					if (!s.core[p])
						for (uint32_t q = e; q < f; q++)
							if (s.core[q])
								border_offer(&s, p, q, d, eps2);
			if ((fd & HAS_NONCORE) && (fc & HAS_CORE))
				for (uint32_t q = e; q < f; q++)
					if (!s.core[q])
						for (uint32_t p = a; p < b; p++)
							if (s.core[p])
								border_offer(&s, q, p, (uint32_t)c, eps2);
		}
		if ((fc & (HAS_CORE | HAS_NONCORE)) == (HAS_CORE | HAS_NONCORE)) /* the own cell: all near */
			for (uint32_t p = a; p < b; p++)
				if (!s.core[p])
					for (uint32_t q = a; q < b; q++)
						if (s.core[q])
							border_offer(&s, p, q, (uint32_t)c, eps2);
	}
	/* names: min core id per root cell. parent[c] <= c always (unions link the larger root under the
	 * smaller; path halving only shortens), so in ascending order parent[parent[c]] is already c's root:
	 * one load per cell instead of a find loop. Over every cell, without testing for core points: such a
	 * cell is its own root and holds AN_CLUSTER_NONE, so it changes nothing, and the test was an
	 * unpredictable branch per cell. */
	for (size_t c = 0; c < m; c++) {
		uint32_t r = s.parent[s.parent[c]];
		s.parent[c] = r;
		uint64_t v = s.name[c];
		s.name[r] = v < s.name[r] ? v : s.name[r];
	}
	/* every cell gets its cluster's name (roots come first, so name[root] is final before it is read) */
	for (size_t c = 0; c < m; c++)
		s.name[c] = s.name[s.parent[c]];
	/* 6. labels in input order: out[] and in[] sequential, the cell-order arrays read through inv */
	if (s.inv == NULL) {
		s.inv = s.inv_own = scratch_alloc(&s, n * sizeof *s.inv);
		if (s.inv == NULL) {
			err = -ENOMEM;
			goto out_free;
		}
		for (size_t p = 0; p < n; p++)
			s.inv[s.orig[p]] = (uint32_t)p;
	}
	/* l: the cell of the point's own core point (itself when core, nearest when border); masks, not a
	 * branch per point (noise and clustered points alternate unpredictably); AN_CLUSTER_NONE is all ones */
#define LABEL_OF(i, cid_, core_)                                                                              \
	do {                                                                                                  \
		uint32_t p_ = s.inv[i], l_ = s.link[p_], noise_ = (uint32_t)(l_ == NIL);                     \
		cid_ = s.name[l_ & (noise_ - 1u)] | (0u - (uint64_t)noise_);                                  \
		core_ = s.core[p_] != 0;                                                                      \
	} while (0)
#ifdef STREAM_LABELS
	/* Two points are 80 bytes, five 16-byte non-temporal stores when out[i] is 16-byte aligned: half the
	 * store instructions of 8-byte MOVNTI, and full 16-byte chunks fill the write-combining buffers
	 * faster. A point before the first aligned one, and the last odd one, go out 8 bytes at a time. */
	size_t i0 = ((uintptr_t)out & 15u) != 0 ? 1u : 0u;
	for (size_t i = 0; i < n; i++) {
		if (i >= i0 && i + 1 < n && ((i - i0) & 1u) == 0) {
			uint64_t c0, c1;
			uint32_t k0, k1;
			LABEL_OF(i, c0, k0);
			LABEL_OF(i + 1, c1, k1);
			__m128i *w = (__m128i *)(void *)&out[i];
			_mm_stream_si128(w, _mm_set_epi64x(in[i].x_mm, (long long)in[i].id));
			_mm_stream_si128(w + 1, _mm_set_epi64x((long long)c0, in[i].y_mm));
			_mm_stream_si128(w + 2, _mm_set_epi64x((long long)in[i + 1].id, (long long)k0));
			_mm_stream_si128(w + 3, _mm_set_epi64x(in[i + 1].y_mm, in[i + 1].x_mm));
			_mm_stream_si128(w + 4, _mm_set_epi64x((long long)k1, (long long)c1));
			i++;
			continue;
		}
		uint64_t cid;
		uint32_t core;
		LABEL_OF(i, cid, core);
		long long *w = (long long *)(void *)&out[i]; /* is_core's word: the bool, then zero padding */
		_mm_stream_si64(w, (long long)in[i].id);
		_mm_stream_si64(w + 1, (long long)in[i].x_mm);
		_mm_stream_si64(w + 2, (long long)in[i].y_mm);
		_mm_stream_si64(w + 3, (long long)cid);
		_mm_stream_si64(w + 4, (long long)core);
	}
#else
	for (size_t i = 0; i < n; i++) {
		uint64_t cid;
		uint32_t core;
		LABEL_OF(i, cid, core);
		struct an_cluster_point *r = &out[i];
		r->id = in[i].id;
		r->x_mm = in[i].x_mm;
		r->y_mm = in[i].y_mm;
		r->is_core = core != 0;
		r->cluster_id = cid;
	}
#endif
#undef LABEL_OF
#ifdef STREAM_LABELS
	_mm_sfence(); /* the streamed labels are visible to whoever reads out[] next */
#endif

out_free:
	scratch_free(&s);
	return err;
}

int an_cluster_batch(const struct an_cluster_opts *o, const struct an_cluster_input *in, size_t n,
		     struct an_cluster_point *out)
{
	struct an_cluster_batch_ws ws = {0};
	int err = batch_run(&ws, o, in, n, out);
	ws_free_all(&ws);
	return err;
}

int an_cluster_batch_with(struct an_cluster_batch_ws *ws, const struct an_cluster_opts *o,
			  const struct an_cluster_input *in, size_t n, struct an_cluster_point *out)
{
	if (ws == NULL)
		return -EINVAL;
	return batch_run(ws, o, in, n, out);
}
