/*
 * analysis/src/cluster_batch.c — batch DBSCAN (an_cluster_batch), same definition as the incremental core.
 *
 * A separate implementation on purpose: when all points are known, sorting them by grid cell turns every
 * range query into three contiguous runs of a coordinate array (the cells (cx+d, cy-1 .. cy+1) are adjacent
 * in (cx, cy) order), which is several times faster than hash lookups, and it gives the tests a second,
 * independent implementation to hold the incremental one to.
 *
 *   1. ids sorted (LSD radix) to refuse duplicates; cell keys computed and the points sorted by cell;
 *   2. for each cell, three pointers that only move forward find the runs of its 3×3 neighbourhood;
 *   3. core = at least min_pts points within eps (counting stops at min_pts);
 *   4. union-find over core pairs within eps (same sweep); name = min core id of the component;
 *   5. border = nearest core within eps, ties by smaller core id; 6. gathered back into input order.
 * Scratch memory is about 60 bytes per point, freed before returning; all sizes derive from n, which is
 * capped by opts.max_points.
 */
#include "an/cluster.h"
#include "cluster_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define DIGIT_BITS 11u
#define BUCKETS (1u << DIGIT_BITS)

struct kv {
	uint64_t k;
	uint32_t i;
};

/* LSD radix sort of a[0..n) by k (tmp is scratch of n). Digits on which all keys agree are skipped, so
 * small ids or a site a few km wide cost 2-3 passes, not 6. Stable, so equal keys keep input order. */
static void radix_sort(struct kv *a, struct kv *tmp, size_t n, size_t *cnt)
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

static inline int32_t cell_of(int64_t v, int64_t eps)
{
	int64_t q = v / eps;
	if ((v % eps) != 0 && v < 0)
		q--;
	return (int32_t)q;
}

/* Cell key whose unsigned order is (cx, cy) lexicographic. */
static inline uint64_t cell_key(int32_t cx, int32_t cy)
{
	return ((uint64_t)((uint32_t)cx ^ 0x80000000u) << 32) | (uint64_t)((uint32_t)cy ^ 0x80000000u);
}

static uint32_t uf_find(uint32_t *parent, uint32_t i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

struct scratch;
static inline bool near(const struct scratch *s, uint32_t p, uint32_t q, int64_t eps, int64_t eps2);

struct scratch {
	struct kv *kv, *tmp;
	size_t *cnt;
	int32_t *x, *y;       /* in cell order */
	uint32_t *orig;       /* cell order -> input index */
	uint32_t *cell_start; /* m + 1 */
	uint64_t *cell_key;   /* m */
	uint32_t *parent;     /* union-find, cell order */
	uint8_t *core;
};

/* Box test first: dx, dy reach 4e9, whose squares would overflow int64. */
static inline bool near(const struct scratch *s, uint32_t p, uint32_t q, int64_t eps, int64_t eps2)
{
	int64_t dx = (int64_t)s->x[p] - s->x[q], dy = (int64_t)s->y[p] - s->y[q];
	if (dx > eps || dx < -eps || dy > eps || dy < -eps)
		return false;
	return dx * dx + dy * dy <= eps2;
}

static void scratch_free(struct scratch *s)
{
	free(s->kv);
	free(s->tmp);
	free(s->cnt);
	free(s->x);
	free(s->y);
	free(s->orig);
	free(s->cell_start);
	free(s->cell_key);
	free(s->parent);
	free(s->core);
}

/* The three point runs (columns cx-1, cx, cx+1; rows cy-1..cy+1) around cell c. ptr[] are the forward-only
 * cursors into the sorted cell list; as c grows, each target key grows too. */
static void runs_of(const struct scratch *s, size_t m, size_t c, size_t ptr[3], uint32_t lo[3], uint32_t hi[3])
{
	uint64_t key = s->cell_key[c];
	int32_t cx = (int32_t)((uint32_t)(key >> 32) ^ 0x80000000u);
	int32_t cy = (int32_t)((uint32_t)key ^ 0x80000000u);
	for (int d = 0; d < 3; d++) {
		int32_t col = cx + d - 1;
		uint64_t first = cell_key(col, cy - 1), last = cell_key(col, cy + 1);
		while (ptr[d] < m && s->cell_key[ptr[d]] < first)
			ptr[d]++;
		size_t e = ptr[d];
		while (e < m && s->cell_key[e] <= last)
			e++;
		lo[d] = s->cell_start[ptr[d]];
		hi[d] = s->cell_start[e];
	}
}

int an_cluster_batch(const struct an_cluster_opts *o, const struct an_cluster_input *in, size_t n,
		     struct an_cluster_point *out)
{
	if (an_cluster_opts_check(o) < 0 || (n > 0 && (in == NULL || out == NULL)))
		return -EINVAL;
	uint32_t maxp = o->max_points ? o->max_points : AN_CLUSTER_MAX_POINTS_DEFAULT;
	if (n > maxp)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		if (in[i].id == AN_CLUSTER_NONE)
			return -EINVAL;
		if (in[i].x_mm > AN_CLUSTER_COORD_MAX_MM || in[i].x_mm < -AN_CLUSTER_COORD_MAX_MM ||
		    in[i].y_mm > AN_CLUSTER_COORD_MAX_MM || in[i].y_mm < -AN_CLUSTER_COORD_MAX_MM)
			return -ERANGE;
	}
	if (n == 0)
		return 0;

	const int64_t eps = o->eps_mm, eps2 = o->eps_mm * o->eps_mm;
	const uint32_t min_pts = o->min_pts;
	int err = 0;
	struct scratch s = {0};
	s.kv = an__cluster_alloc(n * sizeof *s.kv);
	s.tmp = an__cluster_alloc(n * sizeof *s.tmp);
	s.cnt = malloc(BUCKETS * sizeof *s.cnt);
	s.x = an__cluster_alloc(n * sizeof *s.x);
	s.y = an__cluster_alloc(n * sizeof *s.y);
	s.orig = an__cluster_alloc(n * sizeof *s.orig);
	s.cell_start = an__cluster_alloc((n + 1u) * sizeof *s.cell_start);
	s.cell_key = an__cluster_alloc(n * sizeof *s.cell_key);
	s.parent = an__cluster_alloc(n * sizeof *s.parent);
	s.core = an__cluster_alloc(n * sizeof *s.core);
	if (!s.kv || !s.tmp || !s.cnt || !s.x || !s.y || !s.orig || !s.cell_start || !s.cell_key || !s.parent ||
	    !s.core) {
		err = -ENOMEM;
		goto out_free;
	}

	/* 1a. unique ids */
	for (size_t i = 0; i < n; i++) {
		s.kv[i].k = in[i].id;
		s.kv[i].i = (uint32_t)i;
	}
	radix_sort(s.kv, s.tmp, n, s.cnt);
	for (size_t i = 1; i < n; i++) {
		if (s.kv[i].k == s.kv[i - 1].k) {
			err = -EEXIST;
			goto out_free;
		}
	}

	/* 1b. sort by cell; lay coordinates out in that order */
	for (size_t i = 0; i < n; i++) {
		s.kv[i].k = cell_key(cell_of(in[i].x_mm, eps), cell_of(in[i].y_mm, eps));
		s.kv[i].i = (uint32_t)i;
	}
	radix_sort(s.kv, s.tmp, n, s.cnt);
	size_t m = 0;
	for (size_t p = 0; p < n; p++) {
		const struct an_cluster_input *q = &in[s.kv[p].i];
		s.x[p] = (int32_t)q->x_mm;
		s.y[p] = (int32_t)q->y_mm;
		s.orig[p] = s.kv[p].i;
		if (p == 0 || s.kv[p].k != s.kv[p - 1].k) {
			s.cell_key[m] = s.kv[p].k;
			s.cell_start[m++] = (uint32_t)p;
		}
	}
	s.cell_start[m] = (uint32_t)n;

	/* 2-4. per cell: core flags of its points, then unions of its core points with core points q < p.
	 * Every q < p in the neighbourhood lies in an earlier cell or earlier in this one, so its core flag is
	 * final already; each unordered core pair is looked at once. */
	size_t ptr[3] = {0, 0, 0};
	uint32_t lo[3], hi[3];
	for (size_t c = 0; c < m; c++) {
		runs_of(&s, m, c, ptr, lo, hi);
		for (uint32_t p = s.cell_start[c]; p < s.cell_start[c + 1]; p++) {
			uint32_t cnt = 0;
			for (int d = 0; d < 3 && cnt < min_pts; d++)
				for (uint32_t q = lo[d]; q < hi[d]; q++)
					cnt += near(&s, p, q, eps, eps2);
			s.core[p] = cnt >= min_pts;
			s.parent[p] = (uint32_t)p;
		}
		for (uint32_t p = s.cell_start[c]; p < s.cell_start[c + 1]; p++) {
			if (!s.core[p])
				continue;
			for (int d = 0; d < 2; d++) { /* column cx+1 holds only q > p */
				for (uint32_t q = lo[d]; q < hi[d] && q < p; q++) {
					if (!s.core[q] || !near(&s, p, q, eps, eps2))
						continue;
					uint32_t ra = uf_find(s.parent, p), rb = uf_find(s.parent, q);
					if (ra != rb) /* link the larger index under the smaller: no rank array needed */
						s.parent[ra > rb ? ra : rb] = ra > rb ? rb : ra;
				}
			}
		}
	}
	/* names: min id per root, kept in tmp[root].k (tmp is free again) */
	for (size_t p = 0; p < n; p++)
		s.tmp[p].k = AN_CLUSTER_NONE;
	for (uint32_t p = 0; p < n; p++) {
		if (!s.core[p])
			continue;
		uint32_t r = uf_find(s.parent, p);
		uint64_t id = in[s.orig[p]].id;
		if (id < s.tmp[r].k)
			s.tmp[r].k = id;
	}

	/* 5. labels in cell order into kv[p] (k = cluster id, i = core flag); kv is free since step 1 */
	ptr[0] = ptr[1] = ptr[2] = 0;
	for (size_t c = 0; c < m; c++) {
		runs_of(&s, m, c, ptr, lo, hi);
		for (uint32_t p = s.cell_start[c]; p < s.cell_start[c + 1]; p++) {
			s.kv[p].i = s.core[p];
			if (s.core[p]) {
				s.kv[p].k = s.tmp[uf_find(s.parent, p)].k;
				continue;
			}
			uint32_t best = NIL;
			int64_t best_d2 = 0;
			uint64_t best_id = 0;
			for (int d = 0; d < 3; d++) {
				for (uint32_t q = lo[d]; q < hi[d]; q++) {
					if (!s.core[q] || !near(&s, p, q, eps, eps2))
						continue;
					int64_t dx = (int64_t)s.x[p] - s.x[q], dy = (int64_t)s.y[p] - s.y[q];
					int64_t d2 = dx * dx + dy * dy;
					uint64_t qid = in[s.orig[q]].id;
					if (best == NIL || d2 < best_d2 || (d2 == best_d2 && qid < best_id)) {
						best = q;
						best_d2 = d2;
						best_id = qid;
					}
				}
			}
			s.kv[p].k = best == NIL ? AN_CLUSTER_NONE : s.tmp[uf_find(s.parent, best)].k;
		}
	}
	/* 6. out in input order: a 4-byte scatter (inverse permutation, into parent, no longer needed) and
	 * then sequential writes, instead of scattering 40-byte records over the whole output. */
	for (uint32_t p = 0; p < n; p++)
		s.parent[s.orig[p]] = p;
	for (size_t i = 0; i < n; i++) {
		const struct kv *l = &s.kv[s.parent[i]];
		out[i].id = in[i].id;
		out[i].x_mm = in[i].x_mm;
		out[i].y_mm = in[i].y_mm;
		out[i].cluster_id = l->k;
		out[i].is_core = l->i != 0;
	}

out_free:
	scratch_free(&s);
	return err;
}
