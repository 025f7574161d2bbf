/*
 * analysis/src/export_data.c — read the exported data set from the store with plain SQL (an/export.h has
 * the filter semantics). Every query has a total ORDER BY, which is what makes exports byte-identical.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/array.h"
#include "an/export.h"
#include "an/store.h"
#include "export_internal.h"

const char *an_ex__kind_name(int kind)
{
	return kind == 1 ? "sit" : kind == 2 ? "scratch" : kind == 3 ? "handler_mark" : "unknown";
}

const char *an_ex__src_name(int src)
{
	return src == 1 ? "classifier" : src == 2 ? "button" : src == 3 ? "both" : "unknown";
}

static void text_col(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	snprintf(dst, cap, "%s", t != NULL ? t : "");
}

/* Bind the filter as ?1 from, ?2 to, ?3 animal, ?4 task (NULL = no bound). */
static void bind_filter(sqlite3_stmt *st, const struct an_export_filter *f)
{
	if (f->has_from)
		sqlite3_bind_int64(st, 1, f->from_ms);
	if (f->has_to)
		sqlite3_bind_int64(st, 2, f->to_ms);
	if (f->animal_id)
		sqlite3_bind_int64(st, 3, f->animal_id);
	if (f->task_id)
		sqlite3_bind_int64(st, 4, f->task_id);
}

static void bounds_add(struct an_ex_data *d, int32_t lat, int32_t lon)
{
	if (!d->has_bounds) {
		d->min_lat_e7 = d->max_lat_e7 = lat;
		d->min_lon_e7 = d->max_lon_e7 = lon;
		d->has_bounds = true;
		return;
	}
	if (lat < d->min_lat_e7)
		d->min_lat_e7 = lat;
	if (lat > d->max_lat_e7)
		d->max_lat_e7 = lat;
	if (lon < d->min_lon_e7)
		d->min_lon_e7 = lon;
	if (lon > d->max_lon_e7)
		d->max_lon_e7 = lon;
}

#define FILTER_T(col)                                                                                        \
	" AND (?1 IS NULL OR " col " >= ?1) AND (?2 IS NULL OR " col " < ?2)"

int an_ex__load(struct an_store *s, const struct an_export_filter *flt, struct an_ex_data *d, char *err,
                size_t errcap)
{
	struct an_export_filter none = {false, false, 0, 0, 0, 0};
	if (flt == NULL)
		flt = &none;
	memset(d, 0, sizeof *d);
	sqlite3 *db = an_store_sqlite(s);
	sqlite3_stmt *st = NULL;
	size_t cap_s = 0, cap_f = 0, cap_i = 0, cap_h = 0;
	int rc, e = 0;
	const char *what = "fixes";

	/* fixes of sessions, in (session, time, collar, seq) order */
	rc = sqlite3_prepare_v2(db,
	                        "SELECT s.id, s.animal_id, s.box_id, b.task_id, a.name, s.mode, s.start_ms, s.end_ms,"
	                        " f.t_ms, f.lat_e7, f.lon_e7, f.alt_mm, f.h_acc_mm, f.nsat, f.hdop_c"
	                        " FROM fixes f JOIN sessions s ON s.id = f.session_id JOIN boxes b ON b.id = s.box_id"
	                        " JOIN animals a ON a.id = s.animal_id"
	                        " WHERE f.t_ms IS NOT NULL" FILTER_T("f.t_ms")
	                        " AND (?3 IS NULL OR s.animal_id = ?3) AND (?4 IS NULL OR b.task_id = ?4)"
	                        " ORDER BY s.id, f.t_ms, f.collar_id, f.rec_seq",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	bind_filter(st, flt);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(st, 0);
		if (d->n_sessions == 0 || d->sessions[d->n_sessions - 1].id != sid) {
			if (an_array_grow((void **)&d->sessions, &cap_s, d->n_sessions, 256, sizeof *d->sessions) < 0)
				goto nomem;
			struct an_ex_session *ss = &d->sessions[d->n_sessions++];
			memset(ss, 0, sizeof *ss);
			ss->id = sid;
			ss->animal_id = sqlite3_column_int64(st, 1);
			ss->box_id = sqlite3_column_int64(st, 2);
			ss->task_id = sqlite3_column_int64(st, 3);
			text_col(ss->animal, sizeof ss->animal, st, 4);
			text_col(ss->mode, sizeof ss->mode, st, 5);
			ss->start_ms = sqlite3_column_int64(st, 6);
			ss->has_end = sqlite3_column_type(st, 7) != SQLITE_NULL;
			ss->end_ms = sqlite3_column_int64(st, 7);
			ss->first_fix = d->n_fixes;
		}
		if (an_array_grow((void **)&d->fixes, &cap_f, d->n_fixes, 256, sizeof *d->fixes) < 0)
			goto nomem;
		struct an_ex_fix *fx = &d->fixes[d->n_fixes++];
		memset(fx, 0, sizeof *fx);
		fx->t_ms = sqlite3_column_int64(st, 8);
		fx->lat_e7 = (int32_t)sqlite3_column_int64(st, 9);
		fx->lon_e7 = (int32_t)sqlite3_column_int64(st, 10);
		fx->has_alt = sqlite3_column_type(st, 11) != SQLITE_NULL;
		fx->alt_mm = (int32_t)sqlite3_column_int64(st, 11);
		fx->has_hacc = sqlite3_column_type(st, 12) != SQLITE_NULL;
		fx->h_acc_mm = (uint32_t)sqlite3_column_int64(st, 12);
		fx->has_nsat = sqlite3_column_type(st, 13) != SQLITE_NULL;
		fx->nsat = (unsigned)sqlite3_column_int64(st, 13);
		fx->has_hdop = sqlite3_column_type(st, 14) != SQLITE_NULL;
		fx->hdop_c = (unsigned)sqlite3_column_int64(st, 14);
		d->sessions[d->n_sessions - 1].n_fix++;
		if (fx->t_ms > d->latest_ms)
			d->latest_ms = fx->t_ms;
		bounds_add(d, fx->lat_e7, fx->lon_e7);
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);

	what = "indications";
	rc = sqlite3_prepare_v2(db,
	                        "SELECT i.collar_id, i.rec_seq, i.t_ms, i.lat_e7, i.lon_e7, i.h_acc_mm, i.kind, i.src,"
	                        " i.dur_ms, i.conf_pct, i.review, i.session_id, s.animal_id, i.task_id, a.name"
	                        " FROM indications i LEFT JOIN sessions s ON s.id = i.session_id"
	                        " LEFT JOIN animals a ON a.id = s.animal_id"
	                        " WHERE i.lat_e7 IS NOT NULL AND i.t_ms IS NOT NULL" FILTER_T("i.t_ms")
	                        " AND (?3 IS NULL OR s.animal_id = ?3) AND (?4 IS NULL OR i.task_id = ?4)"
	                        " ORDER BY i.t_ms, i.collar_id, i.rec_seq",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	bind_filter(st, flt);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (an_array_grow((void **)&d->inds, &cap_i, d->n_inds, 256, sizeof *d->inds) < 0)
			goto nomem;
		struct an_ex_ind *x = &d->inds[d->n_inds++];
		memset(x, 0, sizeof *x);
		x->collar_id = (unsigned)sqlite3_column_int64(st, 0);
		x->rec_seq = (uint32_t)sqlite3_column_int64(st, 1);
		x->t_ms = sqlite3_column_int64(st, 2);
		x->lat_e7 = (int32_t)sqlite3_column_int64(st, 3);
		x->lon_e7 = (int32_t)sqlite3_column_int64(st, 4);
		x->has_hacc = sqlite3_column_type(st, 5) != SQLITE_NULL;
		x->h_acc_mm = (uint32_t)sqlite3_column_int64(st, 5);
		x->kind = sqlite3_column_int(st, 6);
		x->src = sqlite3_column_int(st, 7);
		x->has_dur = sqlite3_column_type(st, 8) != SQLITE_NULL;
		x->dur_ms = (uint32_t)sqlite3_column_int64(st, 8);
		x->has_conf = sqlite3_column_type(st, 9) != SQLITE_NULL;
		x->conf_pct = (unsigned)sqlite3_column_int64(st, 9);
		text_col(x->review, sizeof x->review, st, 10);
		x->session_id = sqlite3_column_int64(st, 11);
		x->animal_id = sqlite3_column_int64(st, 12);
		x->task_id = sqlite3_column_int64(st, 13);
		text_col(x->animal, sizeof x->animal, st, 14);
		if (x->t_ms > d->latest_ms)
			d->latest_ms = x->t_ms;
		bounds_add(d, x->lat_e7, x->lon_e7);
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);

	what = "hazard points";
	rc = sqlite3_prepare_v2(db,
	                        "SELECT h.id, h.task_id, h.box_id, h.status, h.lat_e7, h.lon_e7, h.r95_mm,"
	                        " h.p_explosive, h.n_ind, h.n_animals, h.n_sessions, h.created_ms, h.updated_ms"
	                        " FROM hazard_points h WHERE h.status <> 'superseded'" FILTER_T("h.created_ms")
	                        " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM hazard_evidence e"
	                        "   JOIN indications i ON i.collar_id = e.collar_id AND i.rec_seq = e.rec_seq"
	                        "   JOIN sessions s ON s.id = i.session_id"
	                        "   WHERE e.hazard_id = h.id AND e.kind = 'indication' AND s.animal_id = ?3))"
	                        " AND (?4 IS NULL OR h.task_id = ?4) ORDER BY h.id",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	bind_filter(st, flt);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (an_array_grow((void **)&d->hazards, &cap_h, d->n_hazards, 256, sizeof *d->hazards) < 0)
			goto nomem;
		struct an_ex_hazard *h = &d->hazards[d->n_hazards++];
		memset(h, 0, sizeof *h);
		h->id = sqlite3_column_int64(st, 0);
		h->task_id = sqlite3_column_int64(st, 1);
		h->box_id = sqlite3_column_int64(st, 2);
		text_col(h->status, sizeof h->status, st, 3);
		h->lat_e7 = (int32_t)sqlite3_column_int64(st, 4);
		h->lon_e7 = (int32_t)sqlite3_column_int64(st, 5);
		h->r95_mm = (uint32_t)sqlite3_column_int64(st, 6);
		h->p_explosive = sqlite3_column_double(st, 7);
		h->n_ind = (uint32_t)sqlite3_column_int64(st, 8);
		h->n_animals = (uint32_t)sqlite3_column_int64(st, 9);
		h->n_sessions = (uint32_t)sqlite3_column_int64(st, 10);
		h->created_ms = sqlite3_column_int64(st, 11);
		h->updated_ms = sqlite3_column_int64(st, 12);
		if (h->updated_ms > d->latest_ms)
			d->latest_ms = h->updated_ms;
		bounds_add(d, h->lat_e7, h->lon_e7);
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	return 0;

nomem:
	e = -ENOMEM;
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "export: out of memory reading %s", what);
	goto out;
sqlfail:
	e = rc == SQLITE_BUSY ? -EBUSY : -EIO;
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "export: reading %s: sqlite: %s", what, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	an_ex__free(d);
	return e;
}

void an_ex__free(struct an_ex_data *d)
{
	free(d->sessions);
	free(d->fixes);
	free(d->inds);
	free(d->hazards);
	memset(d, 0, sizeof *d);
}
