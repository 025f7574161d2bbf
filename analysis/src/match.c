/*
 * analysis/src/match.c — gated optimal matching between two point sets (see an/match.h for the contract).
 *
 * Why this shape. Clearance cross-checks are run per item and must be exactly reproducible (audits
 * replay them), so the gate and the costs are integers and the solver is exact. A global Hungarian
 * solve over 10^4 indications × 500 results would need a 40 MB matrix and O(n³) time; but the gate
 * graph of a minefield falls apart into tiny connected components (a few indications around each item),
 * and an optimal matching never pairs across components, so solving each component alone is exact
 * and cheap. Components are found with a uniform grid (cell = the largest possible gate radius, so a
 * gated partner is always in the 3×3 neighbourhood) and union-find.
 *
 * Within a component the classic O(r² c) shortest-augmenting-path algorithm with potentials runs on a
 * dense matrix whose forbidden entries carry BIG (see an/match.h): minimising the total then maximises
 * the number of gated pairs first, because one BIG pair costs more than all gated pairs together.
 */
#include "an/match.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef __int128 i128;

void an_match_opts_init(struct an_match_opts *o)
{
	const struct an_match_opts def = AN_MATCH_OPTS_INIT;
	*o = def;
}

int an_match_chi2_micro(double p, uint32_t *out)
{
	if (!(p > 0.0 && p < 1.0))
		return -EINVAL;
	double v = -2.0 * log1p(-p) * 1e6;
	if (!(v < 4294967295.0))
		return -EINVAL;
	*out = (uint32_t)floor(v + 0.5);
	return 0;
}

static int check_opts(const struct an_match_opts *o)
{
	if (o->version != AN_MATCH_OPTS_VERSION || o->gate_min_mm < 0 || o->gate_min_mm > AN_MATCH_SIGMA_MAX ||
	    (o->cost != AN_MATCH_COST_DIST_MM && o->cost != AN_MATCH_COST_DIST2_MM2) || o->max_component < 2 ||
	    o->max_edges == 0)
		return -EINVAL;
	return 0;
}

/* The gate threshold for d² is max(gmin², chi2 (sa² + sb²) / 10^6); comparing d² · 10^6 against
 * chi2 · (sa² + sb²) keeps it exact. Both sides fit easily in 128 bits given the documented limits. */
static int in_gate(uint64_t d2, int64_t sa, int64_t sb, const struct an_match_opts *o)
{
	if ((i128)d2 <= (i128)o->gate_min_mm * o->gate_min_mm)
		return 1;
	i128 var = (i128)sa * sa + (i128)sb * sb;
	return (i128)d2 * 1000000 <= (i128)o->gate_chi2_micro * var;
}

static uint64_t isqrt_u64(uint64_t v)
{
	uint64_t r = (uint64_t)sqrt((double)v);
	while (r > 0 && (i128)r * r > (i128)v)
		r--;
	while ((i128)(r + 1) * (r + 1) <= (i128)v)
		r++;
	return r;
}

/* sqrt rounded to nearest: r = floor, round up iff v - r² > r (v, r integers, so no exact halves). */
static int64_t iround_sqrt(uint64_t v)
{
	uint64_t r = isqrt_u64(v);
	if (v - r * r > r)
		r++;
	return (int64_t)r;
}

/* ceil(sqrt(v)) for a 128-bit v < 2^126 */
static int64_t iceil_sqrt128(i128 v)
{
	double d = sqrt((double)v);
	i128 r = (i128)d;
	while (r > 0 && r * r >= v)
		r--;
	while (r * r < v)
		r++;
	return (int64_t)r;
}

int an_match_gate_radius_mm(int64_t sigma_a_mm, int64_t sigma_b_mm, const struct an_match_opts *o,
			    int64_t *radius_mm)
{
	struct an_match_opts def;
	if (!o) {
		an_match_opts_init(&def);
		o = &def;
	}
	if (check_opts(o) < 0 || sigma_a_mm < 0 || sigma_b_mm < 0 || sigma_a_mm > AN_MATCH_SIGMA_MAX ||
	    sigma_b_mm > AN_MATCH_SIGMA_MAX || !radius_mm)
		return -EINVAL;
	i128 var = (i128)sigma_a_mm * sigma_a_mm + (i128)sigma_b_mm * sigma_b_mm;
	i128 num = (i128)o->gate_chi2_micro * var; /* radius² · 10^6 */
	/* floor(sqrt(num / 10^6)) == floor(sqrt(floor(num / 10^6))) */
	i128 r2 = num / 1000000;
	int64_t r = iceil_sqrt128(r2);
	if ((i128)r * r > r2)
		r--;
	*radius_mm = r > o->gate_min_mm ? r : o->gate_min_mm;
	return 0;
}

/* ---- dense solver ------------------------------------------------------------------------------------ */

/* Shortest augmenting paths with potentials (Kuhn–Munkres; Jonker & Volgenant 1987's augmentation),
 * rows n <= cols m, 1-based internally with column 0 as the virtual start. cost[(i-1)*m + (j-1)].
 * All entries must be finite (BIG already substituted). p[j] = row matched to column j. */
static int hungarian(const int64_t *cost, size_t n, size_t m, size_t *row_to_col)
{
	int err = -ENOMEM;
	int64_t *u = calloc(n + 1, sizeof *u);
	int64_t *v = calloc(m + 1, sizeof *v);
	int64_t *minv = malloc((m + 1) * sizeof *minv);
	size_t *p = calloc(m + 1, sizeof *p);
	size_t *way = calloc(m + 1, sizeof *way);
	unsigned char *used = malloc(m + 1);
	if (!u || !v || !minv || !p || !way || !used)
		goto out_free;

	for (size_t i = 1; i <= n; i++) {
		p[0] = i;
		size_t j0 = 0;
		for (size_t j = 0; j <= m; j++) {
			minv[j] = INT64_MAX;
			used[j] = 0;
		}
		do {
			used[j0] = 1;
			size_t i0 = p[j0], j1 = 0;
			int64_t delta = INT64_MAX;
			const int64_t *row = cost + (i0 - 1) * m;
			for (size_t j = 1; j <= m; j++) {
				if (used[j])
					continue;
				int64_t cur = row[j - 1] - u[i0] - v[j];
				if (cur < minv[j]) {
					minv[j] = cur;
					way[j] = j0;
				}
				/* strict '<': the lowest column index wins ties, the documented tie-break */
				if (minv[j] < delta) {
					delta = minv[j];
					j1 = j;
				}
			}
			for (size_t j = 0; j <= m; j++) {
				if (used[j]) {
					u[p[j]] += delta;
					v[j] -= delta;
				} else {
					minv[j] -= delta;
				}
			}
			j0 = j1;
		} while (p[j0] != 0);
		do {
			size_t j1 = way[j0];
			p[j0] = p[j1];
			j0 = j1;
		} while (j0);
	}
	for (size_t i = 0; i < n; i++)
		row_to_col[i] = SIZE_MAX;
	for (size_t j = 1; j <= m; j++)
		if (p[j])
			row_to_col[p[j] - 1] = j - 1;
	err = 0;
out_free:
	free(used);
	free(way);
	free(p);
	free(minv);
	free(v);
	free(u);
	return err;
}

/* BIG = (max + 1) * r must exceed any sum of r gated costs, and the potentials the solver builds stay
 * within a few multiples of r * BIG; require 2 (max + 1) r (r + 1) < 2^62 so no int64 can overflow. */
static int big_for(int64_t maxc, size_t r, int64_t *big)
{
	i128 lim = (i128)1 << 62;
	i128 need = (i128)2 * ((i128)maxc + 1) * (i128)r * ((i128)r + 1);
	if (need >= lim)
		return -EOVERFLOW;
	*big = (int64_t)(((i128)maxc + 1) * (i128)(r ? r : 1));
	return 0;
}

int an_match_lsa(const int64_t *cost, size_t nrows, size_t ncols, size_t *row_to_col, int64_t *total,
		 size_t *n_matched)
{
	if ((nrows && !row_to_col) || (nrows && ncols && !cost))
		return -EINVAL;
	if (nrows && ncols && nrows > SIZE_MAX / 8 / ncols)
		return -E2BIG;
	for (size_t r = 0; r < nrows; r++)
		row_to_col[r] = SIZE_MAX;
	int64_t sum = 0;
	size_t cnt = 0;
	if (nrows == 0 || ncols == 0)
		goto out_done;

	int transpose = nrows > ncols;
	size_t n = transpose ? ncols : nrows, m = transpose ? nrows : ncols;
	int64_t maxc = 0;
	int any = 0;
	for (size_t k = 0; k < nrows * ncols; k++) {
		if (cost[k] >= 0) {
			any = 1;
			if (cost[k] > maxc)
				maxc = cost[k];
		}
	}
	if (!any)
		goto out_done;
	int64_t big;
	int err = big_for(maxc, n, &big);
	if (err < 0)
		return err;
	int64_t *mat = malloc(n * m * sizeof *mat);
	size_t *r2c = malloc(n * sizeof *r2c);
	if (!mat || !r2c) {
		free(r2c);
		free(mat);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m; j++) {
			int64_t c = transpose ? cost[j * ncols + i] : cost[i * ncols + j];
			mat[i * m + j] = c >= 0 ? c : big;
		}
	err = hungarian(mat, n, m, r2c);
	if (err == 0) {
		for (size_t i = 0; i < n; i++) {
			size_t j = r2c[i];
			if (j == SIZE_MAX || mat[i * m + j] == big)
				continue;
			sum += mat[i * m + j];
			cnt++;
			if (transpose)
				row_to_col[j] = i;
			else
				row_to_col[i] = j;
		}
	}
	free(r2c);
	free(mat);
	if (err < 0)
		return err;
out_done:
	if (total)
		*total = sum;
	if (n_matched)
		*n_matched = cnt;
	return 0;
}

/* ---- points → gate graph → components → per-component solves ----------------------------------------- */

struct keyed {
	uint64_t id;
	size_t idx;
};

static int cmp_keyed(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/* A B point placed in the grid: cell coordinates, then canonical rank. */
struct cellpt {
	int64_t cx, cy;
	uint32_t rank;
};

static int cmp_cellpt(const void *pa, const void *pb)
{
	const struct cellpt *a = pa, *b = pb;
	if (a->cx != b->cx)
		return a->cx < b->cx ? -1 : 1;
	if (a->cy != b->cy)
		return a->cy < b->cy ? -1 : 1;
	return a->rank < b->rank ? -1 : (a->rank > b->rank);
}

struct edge {
	uint32_t ra, rb; /* canonical ranks */
	int64_t cost;
	int64_t dist_mm;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static uint32_t uf_find(uint32_t *parent, uint32_t x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]]; /* path halving */
		x = parent[x];
	}
	return x;
}

static void uf_union(uint32_t *parent, uint32_t *size, uint32_t x, uint32_t y)
{
	x = uf_find(parent, x);
	y = uf_find(parent, y);
	if (x == y)
		return;
	if (size[x] < size[y] || (size[x] == size[y] && x > y)) {
		uint32_t t = x;
		x = y;
		y = t;
	}
	parent[y] = x;
	size[x] += size[y];
}

static int check_points(const struct an_match_point *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].x_mm <= -AN_MATCH_COORD_MAX || p[i].x_mm >= AN_MATCH_COORD_MAX ||
		    p[i].y_mm <= -AN_MATCH_COORD_MAX || p[i].y_mm >= AN_MATCH_COORD_MAX || p[i].sigma_mm < 0 ||
		    p[i].sigma_mm > AN_MATCH_SIGMA_MAX)
			return -EINVAL;
	}
	return 0;
}

/* Sort side by id into keys[]; -EINVAL on a duplicate id. */
static int canonical_order(const struct an_match_point *p, size_t n, struct keyed *keys)
{
	for (size_t i = 0; i < n; i++) {
		keys[i].id = p[i].id;
		keys[i].idx = i;
	}
	qsort(keys, n, sizeof *keys, cmp_keyed);
	for (size_t i = 1; i < n; i++)
		if (keys[i].id == keys[i - 1].id)
			return -EINVAL;
	return 0;
}

static int cmp_pair(const void *pa, const void *pb)
{
	const struct an_match_pair *a = pa, *b = pb;
	return a->id_a < b->id_a ? -1 : (a->id_a > b->id_a);
}

int an_match_solve(const struct an_match_point *a, size_t na, const struct an_match_point *b, size_t nb,
		   const struct an_match_opts *o, struct an_match_pair *out, size_t cap, size_t *n_out,
		   struct an_match_info *info)
{
	struct an_match_opts def;
	if (!o) {
		an_match_opts_init(&def);
		o = &def;
	}
	if (!n_out || (na && !a) || (nb && !b) || (cap && !out) || check_opts(o) < 0)
		return -EINVAL;
	if (na >= UINT32_MAX / 2 || nb >= UINT32_MAX / 2)
		return -E2BIG;
	int err = check_points(a, na);
	if (err == 0)
		err = check_points(b, nb);
	if (err < 0)
		return err;

	struct an_match_info inf;
	memset(&inf, 0, sizeof inf);
	size_t npairs = 0;
	struct keyed *ka = NULL, *kb = NULL;
	struct cellpt *grid = NULL;
	struct edge *edges = NULL;
	uint32_t *parent = NULL, *usize = NULL, *comp_of = NULL, *local = NULL, *counts = NULL,
		 *members = NULL, *edge_start = NULL, *fill = NULL;
	struct edge *sorted_edges = NULL;
	struct an_match_pair *pairs = NULL;
	int64_t *mat = NULL;
	size_t *r2c = NULL;
	size_t n_edges = 0, edges_cap = 0;
	size_t nn = na + nb;

	if (na == 0 || nb == 0)
		goto out_report;

	err = -ENOMEM;
	ka = malloc(na * sizeof *ka);
	kb = malloc(nb * sizeof *kb);
	grid = malloc(nb * sizeof *grid);
	if (!ka || !kb || !grid)
		goto out_free;
	if ((err = canonical_order(a, na, ka)) < 0 || (err = canonical_order(b, nb, kb)) < 0)
		goto out_free;

	/* Grid cell = the largest gate radius any pair can have, so partners are within ±1 cell. */
	int64_t smax_a = 0, smax_b = 0;
	for (size_t i = 0; i < na; i++)
		if (a[i].sigma_mm > smax_a)
			smax_a = a[i].sigma_mm;
	for (size_t j = 0; j < nb; j++)
		if (b[j].sigma_mm > smax_b)
			smax_b = b[j].sigma_mm;
	int64_t cell;
	if ((err = an_match_gate_radius_mm(smax_a, smax_b, o, &cell)) < 0)
		goto out_free;
	cell += 1; /* the radius is floored; +1 keeps every gated partner inside the 3×3 block */
	for (size_t r = 0; r < nb; r++) {
		const struct an_match_point *q = &b[kb[r].idx];
		grid[r].cx = floor_div(q->x_mm, cell);
		grid[r].cy = floor_div(q->y_mm, cell);
		grid[r].rank = (uint32_t)r;
	}
	qsort(grid, nb, sizeof *grid, cmp_cellpt);

	/* Gated pairs, A in canonical order. */
	for (size_t ra = 0; ra < na; ra++) {
		const struct an_match_point *pa = &a[ka[ra].idx];
		int64_t cx = floor_div(pa->x_mm, cell), cy = floor_div(pa->y_mm, cell);
		for (int64_t dx = -1; dx <= 1; dx++) {
			for (int64_t dy = -1; dy <= 1; dy++) {
				/* first grid entry with (cx+dx, cy+dy) */
				size_t lo = 0, hi = nb;
				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;
					if (grid[mid].cx < cx + dx || (grid[mid].cx == cx + dx && grid[mid].cy < cy + dy))
						lo = mid + 1;
					else
						hi = mid;
				}
				for (size_t g = lo; g < nb && grid[g].cx == cx + dx && grid[g].cy == cy + dy; g++) {
					const struct an_match_point *pb = &b[kb[grid[g].rank].idx];
					int64_t ddx = pa->x_mm - pb->x_mm, ddy = pa->y_mm - pb->y_mm;
					uint64_t d2 = (uint64_t)(ddx * ddx) + (uint64_t)(ddy * ddy);
					if (!in_gate(d2, pa->sigma_mm, pb->sigma_mm, o))
						continue;
					if (n_edges == edges_cap) {
						if (edges_cap >= o->max_edges) {
							err = -E2BIG;
							goto out_free;
						}
						size_t nc = edges_cap ? edges_cap * 2 : 1024;
						if (nc > o->max_edges)
							nc = o->max_edges;
						struct edge *ne = realloc(edges, nc * sizeof *ne);
						if (!ne) {
							err = -ENOMEM;
							goto out_free;
						}
						edges = ne;
						edges_cap = nc;
					}
					struct edge *e = &edges[n_edges++];
					e->ra = (uint32_t)ra;
					e->rb = grid[g].rank;
					e->dist_mm = iround_sqrt(d2);
					e->cost = o->cost == AN_MATCH_COST_DIST_MM ? e->dist_mm : (int64_t)d2;
				}
			}
		}
	}
	inf.n_edges = n_edges;
	if (n_edges == 0)
		goto out_report;

	/* Components: nodes 0..na-1 are A ranks, na..na+nb-1 are B ranks. */
	err = -ENOMEM;
	parent = malloc(nn * sizeof *parent);
	usize = malloc(nn * sizeof *usize);
	comp_of = malloc(nn * sizeof *comp_of);
	local = malloc(nn * sizeof *local);
	if (!parent || !usize || !comp_of || !local)
		goto out_free;
	for (size_t v = 0; v < nn; v++) {
		parent[v] = (uint32_t)v;
		usize[v] = 1;
	}
	for (size_t e = 0; e < n_edges; e++)
		uf_union(parent, usize, edges[e].ra, (uint32_t)na + edges[e].rb);

	/* Number the components with edges in order of first appearance over A ranks (canonical), and give
	 * each node its local index: its position among its component's A (or B) members by rank. */
	size_t ncomp = 0;
	for (size_t v = 0; v < nn; v++)
		comp_of[v] = UINT32_MAX;
	for (size_t e = 0; e < n_edges; e++) {
		uint32_t root = uf_find(parent, edges[e].ra);
		if (comp_of[root] == UINT32_MAX)
			comp_of[root] = (uint32_t)ncomp++;
	}
	/* per component: count of A members and B members */
	counts = calloc(2 * ncomp + 1, sizeof *counts);
	if (!counts)
		goto out_free;
	uint32_t *na_c = counts, *nb_c = counts + ncomp; /* reuse: counts first */
	for (size_t v = 0; v < nn; v++) {
		uint32_t root = uf_find(parent, (uint32_t)v);
		uint32_t c = comp_of[root];
		if (c == UINT32_MAX || usize[root] < 2) {
			local[v] = UINT32_MAX; /* isolated node */
			continue;
		}
		if (v < na)
			local[v] = na_c[c]++;
		else
			local[v] = nb_c[c]++;
	}
	inf.n_components = ncomp;

	/* bucket edges by component (counting sort, stable: keeps canonical order inside a bucket) */
	edge_start = calloc(ncomp + 1, sizeof *edge_start);
	fill = calloc(ncomp, sizeof *fill);
	sorted_edges = malloc(n_edges * sizeof *sorted_edges);
	pairs = malloc((na < nb ? na : nb) * sizeof *pairs);
	if (!edge_start || !fill || !sorted_edges || !pairs)
		goto out_free;
	for (size_t e = 0; e < n_edges; e++)
		edge_start[comp_of[uf_find(parent, edges[e].ra)] + 1]++;
	for (size_t c = 0; c < ncomp; c++)
		edge_start[c + 1] += edge_start[c];
	for (size_t e = 0; e < n_edges; e++) {
		uint32_t c = comp_of[uf_find(parent, edges[e].ra)];
		sorted_edges[edge_start[c] + fill[c]++] = edges[e];
	}
	/* A and B ranks of each component member, by local index */
	size_t max_cells = 0;
	for (size_t c = 0; c < ncomp; c++) {
		size_t ca = na_c[c], cb = nb_c[c];
		if (ca + cb > o->max_component) {
			inf.max_rows = ca < cb ? ca : cb;
			inf.max_cols = ca < cb ? cb : ca;
			err = -E2BIG;
			goto out_free;
		}
		if (ca * cb > max_cells)
			max_cells = ca * cb;
	}
	members = malloc(nn * sizeof *members); /* members[component offset + local] = rank */
	uint32_t *off_a = malloc((2 * ncomp + 1) * sizeof *off_a);
	if (!members || !off_a) {
		free(off_a);
		goto out_free;
	}
	{
		size_t acc = 0;
		for (size_t c = 0; c < ncomp; c++) {
			off_a[c] = (uint32_t)acc;
			acc += na_c[c];
			off_a[ncomp + c] = (uint32_t)acc;
			acc += nb_c[c];
		}
		for (size_t v = 0; v < nn; v++) {
			if (local[v] == UINT32_MAX)
				continue;
			uint32_t c = comp_of[uf_find(parent, (uint32_t)v)];
			if (v < na)
				members[off_a[c] + local[v]] = (uint32_t)v;
			else
				members[off_a[ncomp + c] + local[v]] = (uint32_t)(v - na);
		}
	}
	mat = malloc((max_cells ? max_cells : 1) * sizeof *mat);
	r2c = malloc((na + 1) * sizeof *r2c); /* one slot per A member of the largest component */
	if (!mat || !r2c) {
		free(off_a);
		err = -ENOMEM;
		goto out_free;
	}

	for (size_t c = 0; c < ncomp; c++) {
		size_t ca = na_c[c], cb = nb_c[c];
		/* rows = A when A is the smaller side; the solver transposes otherwise */
		for (size_t k = 0; k < ca * cb; k++)
			mat[k] = -1;
		for (size_t e = edge_start[c]; e < edge_start[c + 1]; e++) {
			const struct edge *ed = &sorted_edges[e];
			mat[(size_t)local[ed->ra] * cb + local[na + ed->rb]] = ed->cost;
		}
		size_t rows = ca < cb ? ca : cb, cols = ca < cb ? cb : ca;
		if (rows * cols > inf.max_rows * inf.max_cols) {
			inf.max_rows = rows;
			inf.max_cols = cols;
		}
		size_t got;
		err = an_match_lsa(mat, ca, cb, r2c, NULL, &got);
		if (err < 0) {
			free(off_a);
			goto out_free;
		}
		for (size_t la = 0; la < ca; la++) {
			if (r2c[la] == SIZE_MAX)
				continue;
			uint32_t ra = members[off_a[c] + la];
			uint32_t rb = members[off_a[ncomp + c] + r2c[la]];
			const struct an_match_point *pa = &a[ka[ra].idx], *pb = &b[kb[rb].idx];
			int64_t ddx = pa->x_mm - pb->x_mm, ddy = pa->y_mm - pb->y_mm;
			uint64_t d2 = (uint64_t)(ddx * ddx) + (uint64_t)(ddy * ddy);
			struct an_match_pair *pr = &pairs[npairs++];
			pr->ia = ka[ra].idx;
			pr->ib = kb[rb].idx;
			pr->id_a = ka[ra].id;
			pr->id_b = kb[rb].id;
			pr->dist_mm = iround_sqrt(d2);
			pr->cost = o->cost == AN_MATCH_COST_DIST_MM ? pr->dist_mm : (int64_t)d2;
			inf.total_cost += pr->cost;
		}
	}
	free(off_a);
	qsort(pairs, npairs, sizeof *pairs, cmp_pair);

out_report:
	err = 0;
	*n_out = npairs;
	if (info)
		*info = inf;
	if (npairs > cap) {
		err = -ENOBUFS;
		goto out_free;
	}
	if (npairs)
		memcpy(out, pairs, npairs * sizeof *out);
out_free:
	if (err == -E2BIG && info)
		*info = inf;
	free(r2c);
	free(mat);
	free(members);
	free(pairs);
	free(sorted_edges);
	free(fill);
	free(edge_start);
	free(counts);
	free(local);
	free(comp_of);
	free(usize);
	free(parent);
	free(edges);
	free(grid);
	free(kb);
	free(ka);
	return err;
}
