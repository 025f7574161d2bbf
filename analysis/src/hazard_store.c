/*
 * analysis/src/hazard_store.c — the hazard engine's state written into the store (an_hazard_store_sync in
 * an/hazard.h): hazard_points rows keyed by the canonical id, their evidence, superseded rows for points
 * that merged away, and one hazard_events row per engine event.
 *
 * Why rewrite every live point each time: the engine's events are the status/score differences only; a
 * point whose members or centroid moved without a status or score change has no event, so a sync driven
 * by events alone would leave stale centroids. A rewrite of a few hundred rows in one transaction costs a
 * few ms, far below the fsync of the commit.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "an/hazard.h"
#include "proto/hmac.h"

static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
	if (err != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Radius holding 95 % of a circular 2-D normal: sigma * sqrt(-2 ln 0.05) = sigma * 2.4477. */
static int64_t r95_of(uint32_t sigma_mm)
{
	return ((int64_t)sigma_mm * 24477 + 5000) / 10000;
}

static const char *ev_kind(enum an_hazard_event_kind k)
{
	switch (k) {
	case AN_HAZARD_EV_CREATED: return "created";
	case AN_HAZARD_EV_SCORE: return "score";
	case AN_HAZARD_EV_STATUS:
	case AN_HAZARD_EV_RETIRED: return "status";
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

enum { Q_UPSERT, Q_DEL_EV, Q_ADD_EV, Q_LIVE, Q_RETIRE, Q_EVENT, Q_CLR_MATCH, Q_CLR_COUNT, Q_N };
static const char *const q_sql[Q_N] = {
	"INSERT INTO hazard_points (id, task_id, box_id, status, x_mm, y_mm, lat_e7, lon_e7, r95_mm, log_odds_q10,"
	" p_explosive, n_ind, n_animals, n_sessions, created_ms, updated_ms)"
	" VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
	" ON CONFLICT(id) DO UPDATE SET task_id = excluded.task_id, status = excluded.status, x_mm = excluded.x_mm,"
	" y_mm = excluded.y_mm, lat_e7 = excluded.lat_e7, lon_e7 = excluded.lon_e7, r95_mm = excluded.r95_mm,"
	" log_odds_q10 = excluded.log_odds_q10, p_explosive = excluded.p_explosive, n_ind = excluded.n_ind,"
	" n_animals = excluded.n_animals, n_sessions = excluded.n_sessions, created_ms = excluded.created_ms,"
	" updated_ms = excluded.updated_ms",
	"DELETE FROM hazard_evidence WHERE hazard_id = ?1",
	"INSERT INTO hazard_evidence (hazard_id, kind, collar_id, rec_seq, session_id, delta_q10)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	"SELECT id FROM hazard_points WHERE task_id = ?1 AND status <> 'superseded' ORDER BY id",
	"UPDATE hazard_points SET status = 'superseded' WHERE id = ?1",
	"INSERT INTO hazard_events (hazard_id, t_ms, kind, from_status, to_status, who, note)"
	" SELECT ?1, ?2, ?3, ?4, ?5, 'core', ?6 WHERE EXISTS (SELECT 1 FROM hazard_points WHERE id = ?1)",
	"UPDATE clearance_results SET matched_hazard_id = ?2 WHERE id = ?1 AND matched_hazard_id IS NOT ?2",
	"SELECT count(*), coalesce(max(id), 0) FROM clearance_results WHERE task_id = ?1",
};

struct sync {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	uint64_t *ids, *members;
	size_t cap_members;
	struct an_fusion_evidence *ev;
	size_t cap_ev;
	char *err;
	size_t errcap;
};

static int step_done(struct sync *y, sqlite3_stmt *st, const char *what, uint64_t id)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(y->err, y->errcap, rc == SQLITE_FULL ? -ENOSPC : -EIO,
		            "an_hazard_store_sync: %s of hazard %" PRIu64 ": %s", what, id, sqlite3_errmsg(y->db));
	return 0;
}

/* Member indications (one row each; the pass's delta on its first indication, 0 on the others, so the
 * deltas of a point's rows sum to its evidence total) and clean passes. Indication ids are
 * collar_id << 32 | rec_seq (the daemon's and the tests' convention). */
/* Members and evidence lines of point id into y->members / y->ev. */
static int fetch_point(struct sync *y, const struct an_hazard_engine *h, uint64_t id, size_t *n_m_out, size_t *n_ev_out)
{
	size_t n_m, n_ev;
	int rc;
	for (;;) {
		rc = an_hazard_members(h, id, y->members, y->cap_members, &n_m);
		if (rc == 0)
			break;
		if (rc != -ENOBUFS)
			return fail(y->err, y->errcap, rc, "an_hazard_store_sync: members of %" PRIu64 ": %s", id, strerror(-rc));
		uint64_t *m = realloc(y->members, n_m * sizeof *m);
		if (!m)
			return -ENOMEM;
		y->members = m;
		y->cap_members = n_m;
	}
	for (;;) {
		rc = an_hazard_evidence(h, id, y->ev, y->cap_ev, &n_ev);
		if (rc == 0)
			break;
		if (rc != -ENOBUFS)
			return fail(y->err, y->errcap, rc, "an_hazard_store_sync: evidence of %" PRIu64 ": %s", id, strerror(-rc));
		struct an_fusion_evidence *e = realloc(y->ev, n_ev * sizeof *e);
		if (!e)
			return -ENOMEM;
		y->ev = e;
		y->cap_ev = n_ev;
	}
	*n_m_out = n_m;
	*n_ev_out = n_ev;
	return 0;
}

static int write_evidence(struct sync *y, uint64_t id, size_t n_m, size_t n_ev)
{
	int rc;
	sqlite3_stmt *del = y->q[Q_DEL_EV], *add = y->q[Q_ADD_EV];
	sqlite3_bind_int64(del, 1, (sqlite3_int64)id);
	if ((rc = step_done(y, del, "evidence delete", id)))
		return rc;
	for (size_t i = 0; i < n_m; i++) {
		int64_t delta = 0, session = 0;
		for (size_t k = 0; k < n_ev; k++)
			if (y->ev[k].kind == AN_FUSION_EV_INDICATED && y->ev[k].first_ind_id == y->members[i]) {
				delta = y->ev[k].delta_q10;
				session = (int64_t)y->ev[k].session_id;
			}
		sqlite3_bind_int64(add, 1, (sqlite3_int64)id);
		sqlite3_bind_text(add, 2, "indication", -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 3, (sqlite3_int64)(y->members[i] >> 32));
		sqlite3_bind_int64(add, 4, (sqlite3_int64)(y->members[i] & 0xffffffffu));
		if (session)
			sqlite3_bind_int64(add, 5, session);
		else
			sqlite3_bind_null(add, 5);
		sqlite3_bind_int64(add, 6, delta);
		if ((rc = step_done(y, add, "indication evidence", id)))
			return rc;
	}
	for (size_t k = 0; k < n_ev; k++) {
		if (y->ev[k].kind != AN_FUSION_EV_CLEAN)
			continue;
		sqlite3_bind_int64(add, 1, (sqlite3_int64)id);
		sqlite3_bind_text(add, 2, "clean_pass", -1, SQLITE_STATIC);
		sqlite3_bind_null(add, 3);
		sqlite3_bind_null(add, 4);
		sqlite3_bind_int64(add, 5, (sqlite3_int64)y->ev[k].session_id);
		sqlite3_bind_int64(add, 6, y->ev[k].delta_q10);
		if ((rc = step_done(y, add, "clean-pass evidence", id)))
			return rc;
	}
	return 0;
}

static int write_point(struct sync *y, int64_t task_id, const struct an_geo_origin *o, const struct an_hazard_point *p,
                       size_t n_m, size_t n_ev)
{
	struct an_geo_enu e = {p->x_mm, p->y_mm, 0};
	int32_t lat, lon, alt;
	int rc = an_geo_enu_to_e7(o, &e, &lat, &lon, &alt);
	if (rc)
		return fail(y->err, y->errcap, rc, "an_hazard_store_sync: hazard %" PRIu64 " at (%" PRId64 ", %" PRId64
		            ") mm is outside the task frame", p->id, p->x_mm, p->y_mm);
	const char *status = an_store_hazard_status_name(p->status);
	if (status == NULL || p->id > INT64_MAX)
		return fail(y->err, y->errcap, -EINVAL, "an_hazard_store_sync: hazard %" PRIu64 ": bad status %d", p->id,
		            (int)p->status);
	sqlite3_stmt *st = y->q[Q_UPSERT];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->id);
	sqlite3_bind_int64(st, 2, task_id);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, p->x_mm);
	sqlite3_bind_int64(st, 5, p->y_mm);
	sqlite3_bind_int64(st, 6, lat);
	sqlite3_bind_int64(st, 7, lon);
	sqlite3_bind_int64(st, 8, r95_of(p->sigma_mm));
	sqlite3_bind_int64(st, 9, p->log_odds_q10);
	sqlite3_bind_double(st, 10, p->p_explosive);
	sqlite3_bind_int64(st, 11, p->n_ind);
	sqlite3_bind_int64(st, 12, p->n_ind_animals);
	sqlite3_bind_int64(st, 13, p->n_ind_passes);
	sqlite3_bind_int64(st, 14, p->first_t_ms);
	sqlite3_bind_int64(st, 15, p->last_t_ms);
	if ((rc = step_done(y, st, "upsert", p->id)))
		return rc;
	return write_evidence(y, p->id, n_m, n_ev);
}

static int write_event(struct sync *y, const struct an_hazard_event *ev)
{
	sqlite3_stmt *st = y->q[Q_EVENT];
	const char *kind = ev_kind(ev->kind);
	if (kind == NULL || ev->hazard_id > INT64_MAX)
		return fail(y->err, y->errcap, -EINVAL, "an_hazard_store_sync: event %" PRIu64 ": bad kind %d", ev->seq,
		            (int)ev->kind);
	char note[96];
	if (ev->kind == AN_HAZARD_EV_RETIRED)
		snprintf(note, sizeof note, "merged into %" PRIu64, ev->into_id);
	else
		snprintf(note, sizeof note, "log_odds_q10 %" PRId64 " -> %" PRId64, ev->log_odds_from_q10,
		         ev->log_odds_to_q10);
	const char *from = ev->kind == AN_HAZARD_EV_CREATED ? NULL : an_store_hazard_status_name(ev->from);
	const char *to = an_store_hazard_status_name(ev->to);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->hazard_id);
	sqlite3_bind_int64(st, 2, ev->t_ms);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (from)
		sqlite3_bind_text(st, 4, from, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	if (to)
		sqlite3_bind_text(st, 5, to, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, note, -1, SQLITE_TRANSIENT);
	return step_done(y, st, "event", ev->hazard_id);
}

/* FNV-1a over the bytes of a point's fields, members and evidence lines (struct padding is zeroed: the
 * point comes from an_hazard_get, which copies whole zero-initialised structs). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t point_digest(const struct an_hazard_point *p, const struct sync *y, size_t n_m, size_t n_ev)
{
	uint64_t h = 0xcbf29ce484222325ull;
	/* field by field: no padding bytes enter the digest */
	h = fnv(h, &p->id, sizeof p->id);
	h = fnv(h, &p->status, sizeof p->status);
	h = fnv(h, &p->x_mm, sizeof p->x_mm);
	h = fnv(h, &p->y_mm, sizeof p->y_mm);
	h = fnv(h, &p->sigma_mm, sizeof p->sigma_mm);
	h = fnv(h, &p->n_ind, sizeof p->n_ind);
	h = fnv(h, &p->n_ind_animals, sizeof p->n_ind_animals);
	h = fnv(h, &p->n_ind_passes, sizeof p->n_ind_passes);
	h = fnv(h, &p->log_odds_q10, sizeof p->log_odds_q10);
	h = fnv(h, &p->p_explosive, sizeof p->p_explosive);
	h = fnv(h, &p->first_t_ms, sizeof p->first_t_ms);
	h = fnv(h, &p->last_t_ms, sizeof p->last_t_ms);
	h = fnv(h, y->members, n_m * sizeof *y->members);
	for (size_t k = 0; k < n_ev; k++) {
		const struct an_fusion_evidence *e = &y->ev[k];
		h = fnv(h, &e->session_id, sizeof e->session_id);
		h = fnv(h, &e->kind, sizeof e->kind);
		h = fnv(h, &e->first_ind_id, sizeof e->first_ind_id);
		h = fnv(h, &e->delta_q10, sizeof e->delta_q10);
	}
	return h;
}

static int sync_impl(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                     const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev,
                     struct an_hazard_store_cache *cache, char *err, size_t errcap);

int an_hazard_store_sync(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                         const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev, char *err,
                         size_t errcap)
{
	return sync_impl(s, task_id, o, h, ev, n_ev, NULL, err, errcap);
}

int an_hazard_store_sync_cached(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                                const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev,
                                struct an_hazard_store_cache *cache, char *err, size_t errcap)
{
	if (cache == NULL)
		return fail(err, errcap, -EINVAL, "an_hazard_store_sync_cached: no cache");
	return sync_impl(s, task_id, o, h, ev, n_ev, cache, err, errcap);
}

void an_hazard_store_cache_free(struct an_hazard_store_cache *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->digest);
	memset(c, 0, sizeof *c);
}

static bool cache_has(const struct an_hazard_store_cache *c, uint64_t id, uint64_t dig)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->id[lo] == id && c->digest[lo] == dig;
}

/* ---- clearance_results.matched_hazard_id ------------------------------------------------------------ */

struct clr_rows {
	const struct an_hazard_clearance_match *cm; /* ascending clearance id */
	size_t n_cm;
	int64_t *row, *hz; /* store row id -> matched point (0 = none) */
	size_t n, cap;
};

static int clr_collect(void *ctx, const struct an_store_clearance *c)
{
	struct clr_rows *r = ctx;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		int64_t *a = realloc(r->row, cap * sizeof *a), *b = a ? realloc(r->hz, cap * sizeof *b) : NULL;
		if (a != NULL)
			r->row = a;
		if (b == NULL)
			return -ENOMEM;
		r->hz = b;
		r->cap = cap;
	}
	/* the engine knows a result by its content id (the row id follows import order) */
	uint64_t cid = an_hazard_clearance_id(c);
	size_t lo = 0, hi = r->n_cm;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->cm[mid].clearance_id < cid)
			lo = mid + 1;
		else
			hi = mid;
	}
	r->row[r->n] = c->id;
	r->hz[r->n++] = lo < r->n_cm && r->cm[lo].clearance_id == cid ? (int64_t)r->cm[lo].hazard_id : 0;
	return 0;
}

/* Every clearance row of the task gets the point the engine matched it to (NULL = none); rows already
 * right are not written. Skipped when neither the matching nor the task's rows changed since the cache's
 * last write (*dig_out: what to remember; never 0, the "unknown" of a fresh or failed cache). */
static int sync_clearances(struct sync *y, struct an_store *s, int64_t task_id, const struct an_hazard_engine *h,
			   uint64_t known, uint64_t *dig_out)
{
	struct clr_rows r = {0};
	struct an_hazard_clearance_match *cm = NULL;
	size_t n_cm = 0;
	int ret = an_hazard_clearance_matches(h, NULL, 0, &n_cm);
	if (ret == -ENOBUFS) {
		cm = malloc(n_cm * sizeof *cm);
		ret = cm == NULL ? -ENOMEM : an_hazard_clearance_matches(h, cm, n_cm, &n_cm);
	}
	if (ret < 0)
		goto out;
	sqlite3_stmt *cnt = y->q[Q_CLR_COUNT];
	sqlite3_bind_int64(cnt, 1, task_id);
	if (sqlite3_step(cnt) != SQLITE_ROW) {
		ret = fail(y->err, y->errcap, -EIO, "an_hazard_store_sync: clearances: %s", sqlite3_errmsg(y->db));
		sqlite3_reset(cnt);
		goto out;
	}
	uint64_t dig = 0xcbf29ce484222325ull; /* FNV-1a over the rows' count and last id and the matching */
	uint64_t words[2] = {(uint64_t)sqlite3_column_int64(cnt, 0), (uint64_t)sqlite3_column_int64(cnt, 1)};
	sqlite3_reset(cnt);
	for (size_t i = 0; i < 2 + 2 * n_cm; i++) {
		uint64_t w = i < 2 ? words[i] : (i & 1u) ? cm[(i - 2) / 2].hazard_id : cm[(i - 2) / 2].clearance_id;
		for (int b = 0; b < 64; b += 8)
			dig = (dig ^ ((w >> b) & 0xffu)) * 0x100000001b3ull;
	}
	dig |= 1u;
	*dig_out = dig;
	if (dig == known)
		goto out;
	r.cm = cm;
	r.n_cm = n_cm;
	if ((ret = an_store_clearances_by_task(s, task_id, clr_collect, &r)) < 0) {
		ret = fail(y->err, y->errcap, ret, "an_hazard_store_sync: clearances: %s", an_store_errmsg(s));
		goto out;
	}
	sqlite3_stmt *up = y->q[Q_CLR_MATCH];
	for (size_t i = 0; i < r.n && !ret; i++) {
		sqlite3_bind_int64(up, 1, r.row[i]);
		if (r.hz[i] != 0)
			sqlite3_bind_int64(up, 2, r.hz[i]);
		else
			sqlite3_bind_null(up, 2);
		ret = step_done(y, up, "clearance match", (uint64_t)r.row[i]);
	}
out:
	free(cm);
	free(r.row);
	free(r.hz);
	return ret;
}

static int sync_impl(struct an_store *s, int64_t task_id, const struct an_geo_origin *o,
                     const struct an_hazard_engine *h, const struct an_hazard_event *ev, size_t n_ev,
                     struct an_hazard_store_cache *cache, char *err, size_t errcap)
{
	if (s == NULL || o == NULL || h == NULL || task_id <= 0 || (ev == NULL && n_ev > 0))
		return fail(err, errcap, -EINVAL, "an_hazard_store_sync: bad argument");
	struct sync y = {.db = an_store_sqlite(s), .err = err, .errcap = errcap};
	int ret = 0;
	uint64_t *digs = NULL;
	size_t n = an_hazard_count(h);
	for (int i = 0; i < Q_N; i++)
		if (sqlite3_prepare_v2(y.db, q_sql[i], -1, &y.q[i], NULL) != SQLITE_OK) {
			ret = fail(err, errcap, -EIO, "an_hazard_store_sync: prepare: %s", sqlite3_errmsg(y.db));
			goto finalize;
		}
	y.ids = malloc((n ? n : 1) * sizeof *y.ids);
	digs = malloc((n ? n : 1) * sizeof *digs);
	if (!y.ids || !digs) {
		ret = -ENOMEM;
		goto finalize;
	}
	if (sqlite3_exec(y.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		ret = fail(err, errcap, -EBUSY, "an_hazard_store_sync: begin: %s", sqlite3_errmsg(y.db));
		goto finalize;
	}
	for (size_t i = 0; i < n; i++) {
		struct an_hazard_point p;
		size_t n_m = 0, n_e = 0;
		if ((ret = an_hazard_get(h, i, &p)) || (ret = fetch_point(&y, h, p.id, &n_m, &n_e)))
			goto rollback;
		y.ids[i] = p.id;
		digs[i] = point_digest(&p, &y, n_m, n_e);
		if (cache != NULL && cache_has(cache, p.id, digs[i]))
			continue; /* stored as it is by the last successful call */
		if ((ret = write_point(&y, task_id, o, &p, n_m, n_e)))
			goto rollback;
	}
	for (size_t i = 1; i < n; i++) /* an_hazard_get's order is ascending id: the bsearch below needs it */
		if (y.ids[i - 1] >= y.ids[i]) {
			ret = fail(err, errcap, -EIO, "an_hazard_store_sync: points not in ascending id order");
			goto rollback;
		}
	/* Rows of this task no longer live merged into another point: superseded, evidence gone with them
	 * (it lives on in the point they merged into). */
	sqlite3_stmt *live = y.q[Q_LIVE];
	sqlite3_bind_int64(live, 1, task_id);
	size_t n_gone = 0, cap_gone = 0;
	uint64_t *gone = NULL;
	int rc;
	while ((rc = sqlite3_step(live)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(live, 0);
		if (bsearch(&id, y.ids, n, sizeof *y.ids, cmp_u64))
			continue;
		if (n_gone == cap_gone) {
			cap_gone = cap_gone ? 2 * cap_gone : 16;
			uint64_t *g = realloc(gone, cap_gone * sizeof *g);
			if (!g) {
				free(gone);
				ret = -ENOMEM;
				goto rollback;
			}
			gone = g;
		}
		gone[n_gone++] = id;
	}
	sqlite3_reset(live);
	if (rc != SQLITE_DONE) {
		free(gone);
		ret = fail(err, errcap, -EIO, "an_hazard_store_sync: live points: %s", sqlite3_errmsg(y.db));
		goto rollback;
	}
	for (size_t i = 0; i < n_gone && !ret; i++) {
		sqlite3_bind_int64(y.q[Q_RETIRE], 1, (sqlite3_int64)gone[i]);
		sqlite3_bind_int64(y.q[Q_DEL_EV], 1, (sqlite3_int64)gone[i]);
		if (!(ret = step_done(&y, y.q[Q_RETIRE], "retire", gone[i])))
			ret = step_done(&y, y.q[Q_DEL_EV], "evidence delete", gone[i]);
	}
	free(gone);
	if (ret)
		goto rollback;
	for (size_t i = 0; i < n_ev; i++)
		if ((ret = write_event(&y, &ev[i])))
			goto rollback;
	uint64_t clr_dig = 0;
	if ((ret = sync_clearances(&y, s, task_id, h, cache != NULL ? cache->clr_digest : 0, &clr_dig)))
		goto rollback;
	if (sqlite3_exec(y.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ret = fail(err, errcap, -EIO, "an_hazard_store_sync: commit: %s", sqlite3_errmsg(y.db));
		goto rollback;
	}
	if (cache != NULL) { /* what the store now holds (ids ascending: an_hazard_get's order) */
		an_hazard_store_cache_free(cache);
		cache->id = y.ids;
		cache->digest = digs;
		cache->n = n;
		cache->clr_digest = clr_dig;
		y.ids = NULL;
		digs = NULL;
	}
	goto finalize;
rollback:
	sqlite3_exec(y.db, "ROLLBACK", NULL, NULL, NULL);
	if (cache != NULL)
		an_hazard_store_cache_free(cache);
finalize:
	for (int i = 0; i < Q_N; i++)
		sqlite3_finalize(y.q[i]);
	free(y.ids);
	free(digs);
	free(y.members);
	free(y.ev);
	return ret;
}

uint64_t an_hazard_clearance_id(const struct an_store_clearance *c)
{
	/* Canonical text of what was found where and when: the same result gives the same id whatever the
	 * import order (store row ids are assigned in arrival order, and the engine breaks matching ties by id). */
	char txt[512];
	int n = snprintf(txt, sizeof txt, "clearance/1|%" PRId64 "|%" PRId64 "|%d|%" PRId32 "|%" PRId32 "|%" PRIu32
	                 "|%d|%s|%d|%" PRId32 "|%s|%" PRId64,
	                 c->task_id, c->hazard_id, (int)c->has_pos, c->has_pos ? c->lat_e7 : 0, c->has_pos ? c->lon_e7 : 0,
	                 c->pos_err_mm, (int)c->result, c->device_type, (int)c->has_depth, c->has_depth ? c->depth_mm : 0,
	                 c->team, c->date_ms);
	struct proto_sha256 h;
	uint8_t d[PROTO_SHA256_LEN];
	proto_sha256_init(&h);
	proto_sha256_update(&h, txt, n > 0 ? (size_t)n : 0);
	proto_sha256_final(&h, d);
	uint64_t id = 0;
	for (int i = 0; i < 8; i++)
		id = id << 8 | d[i];
	id &= INT64_MAX; /* fits the store's signed integers */
	return id ? id : 1;
}
