/*
 * analysis/daemon/web_api.c — the web server's JSON API (docs/web-api.md): history reads from the store and
 * the live state, and the token-guarded writes.
 *
 * Writes. Every POST is checked in this order: route (404), token (401 missing/wrong, 403 no token
 * configured), body (400 naming the field: {"error": "lat: ..."}), store (409 conflict, 404 unknown id).
 * EVERY attempt, refused ones included, leaves one audit_log row (an_store_audit): who = "web:<by>" plus the
 * token fingerprint (or "no-token"), action = web.<what>, the entity, and detail = a JSON object with the
 * HTTP status, the result or the error, and the client address. Clearance results go through
 * an_import_clearance — the same validation, natural key and audit as `scentrack import` — fed with a
 * one-row JSON document built from the form.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "an/coverage.h"
#include "an/export.h"
#include "an/import.h"
#include "an/report.h"
#include "core.h"
#include "web_internal.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *arg(struct MHD_Connection *c, const char *k)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
	return v && *v ? v : NULL;
}

static int arg_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* ?from=&to= (ISO 8601 with zone, as the CLI). @retval 0 or 400 with the error written */
static int time_range(struct MHD_Connection *c, struct wb *out, int64_t *from, int64_t *to)
{
	const char *why;
	const char *f = arg(c, "from"), *t = arg(c, "to");
	*from = INT64_MIN;
	*to = INT64_MAX;
	if (f && an_export_parse_time(f, from, &why)) {
		web_error(out, "from: %s", why);
		return 400;
	}
	if (t && an_export_parse_time(t, to, &why)) {
		web_error(out, "to: %s", why);
		return 400;
	}
	if (*from >= *to) {
		web_error(out, "to: must be after from");
		return 400;
	}
	return 0;
}

/* The collar an animal id stands for when it is one of the core's implicit animals (no store row). */
static bool implicit_collar(int64_t animal_id, uint16_t *collar)
{
	if (animal_id < (int64_t)CORE_IMPLICIT_BASE || animal_id > (int64_t)CORE_IMPLICIT_BASE + 65535)
		return false;
	*collar = (uint16_t)(animal_id - (int64_t)CORE_IMPLICIT_BASE);
	return true;
}

/* ---- reads ---------------------------------------------------------------------------------------------- */

static int get_tracks(struct core_web *w, struct MHD_Connection *c, struct wb *out)
{
	const char *a = arg(c, "animal");
	int64_t animal, from, to;
	if (!a || arg_i64(a, 1, INT64_MAX, &animal)) {
		web_error(out, "animal: required, a positive animal id");
		return 400;
	}
	int st = time_range(c, out, &from, &to);
	if (st)
		return st;
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	uint16_t collar;
	const char *sql_impl = "SELECT t_ms, lat_e7, lon_e7, h_acc_mm FROM fixes WHERE collar_id = ?1 AND t_ms >= ?2 AND "
	                       "t_ms < ?3 ORDER BY t_ms, rec_seq LIMIT ?4";
	const char *sql_store = "SELECT f.t_ms, f.lat_e7, f.lon_e7, f.h_acc_mm FROM fixes f JOIN collar_assignments ca ON "
	                        "ca.collar_id = f.collar_id AND f.t_ms >= ca.from_ms AND (ca.to_ms IS NULL OR f.t_ms < "
	                        "ca.to_ms) WHERE ca.animal_id = ?1 AND f.t_ms >= ?2 AND f.t_ms < ?3 ORDER BY f.t_ms, "
	                        "f.collar_id, f.rec_seq LIMIT ?4";
	bool impl = implicit_collar(animal, &collar);
	if (sqlite3_prepare_v2(db, impl ? sql_impl : sql_store, -1, &q, NULL) != SQLITE_OK) {
		web_error(out, "store: %s", sqlite3_errmsg(db));
		return 500;
	}
	sqlite3_bind_int64(q, 1, impl ? collar : animal);
	sqlite3_bind_int64(q, 2, from);
	sqlite3_bind_int64(q, 3, to);
	sqlite3_bind_int64(q, 4, WEB_TRACK_MAX + 1);
	wb_printf(out, "{\"animal_id\":%" PRId64 ",\"points\":[", animal);
	unsigned n = 0;
	bool truncated = false;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (n == WEB_TRACK_MAX) {
			truncated = true;
			break;
		}
		wb_printf(out, "%s[%" PRId64 ",", n++ ? "," : "", (int64_t)sqlite3_column_int64(q, 0));
		wb_deg(out, sqlite3_column_int(q, 1));
		wb_puts(out, ",");
		wb_deg(out, sqlite3_column_int(q, 2));
		if (sqlite3_column_type(q, 3) == SQLITE_NULL)
			wb_puts(out, ",null]");
		else
			wb_printf(out, ",%.3f]", sqlite3_column_int(q, 3) / 1000.0);
	}
	sqlite3_finalize(q);
	wb_printf(out, "],\"truncated\":%s}", truncated ? "true" : "false");
	return 200;
}

static int get_indications(struct core_web *w, struct MHD_Connection *c, struct wb *out)
{
	int64_t from, to, animal = 0;
	const char *a = arg(c, "animal");
	if (a && arg_i64(a, 1, INT64_MAX, &animal)) {
		web_error(out, "animal: a positive animal id");
		return 400;
	}
	int st = time_range(c, out, &from, &to);
	if (st)
		return st;
	wb_puts(out, "{\"indications\":[");
	web_inds_ready(w);
	int n = 0;
	for (size_t i = 0; i < w->n_inds; i++) {
		const struct web_ind *in = &w->inds[i];
		if ((from != INT64_MIN || to != INT64_MAX) &&
		    (!(in->ind.has & PROTO_IND_HAS_T) || (int64_t)in->ind.t_ms < from || (int64_t)in->ind.t_ms >= to))
			continue;
		if (animal) {
			struct web_collar *col = web_collar_get(w, (uint16_t)(in->key >> 32));
			/* the animal wearing the collar now (history of assignments: the store's export has it) */
			struct wb tmp = {0};
			web_ind_json(w, &tmp, in); /* looks the collar up */
			wb_free(&tmp);
			if (!col || col->animal_id != animal)
				continue;
		}
		if (n++)
			wb_puts(out, ",");
		web_ind_json(w, out, in);
	}
	wb_puts(out, "]}");
	return 200;
}

static double dist_m(int32_t la1, int32_t lo1, int32_t la2, int32_t lo2)
{
	/* equirectangular: metres apart within a box, far below the fixes' error */
	double lat = (la1 + la2) / 2e7 * M_PI / 180.0;
	double dy = (la2 - la1) / 1e7 * 111320.0, dx = (lo2 - lo1) / 1e7 * 111320.0 * cos(lat);
	return sqrt(dx * dx + dy * dy);
}

static int get_hazards(struct core_web *w, const char *id_s, struct wb *out)
{
	if (!id_s) {
		wb_puts(out, "{\"hazards\":[");
		for (size_t i = 0; i < w->n_hz; i++) {
			if (i)
				wb_puts(out, ",");
			web_hazard_json(out, &w->hz[i]);
		}
		wb_puts(out, "]}");
		return 200;
	}
	int64_t id;
	if (arg_i64(id_s, 1, INT64_MAX, &id)) {
		web_error(out, "id: \"%.32s\" is not a hazard point id", id_s);
		return 400;
	}
	const struct an_pub_hazard *h = NULL;
	for (size_t i = 0; i < w->n_hz; i++)
		if (w->hz[i].id == (uint64_t)id)
			h = &w->hz[i];
	if (!h) {
		web_error(out, "id: no live hazard point %" PRId64, id);
		return 404;
	}
	wb_puts(out, "{\"hazard\":");
	web_hazard_json(out, h);
	/* Evidence: the indications within the point's 95 % radius + 1 m (the clustering distance); the live
	 * engine's member list is not exported by the core, so this is recomputed from positions. */
	double r = h->sigma_mm * 2.4477 / 1000.0 + 1.0;
	wb_printf(out, ",\"evidence_radius_m\":%.3f,\"indications\":[", r);
	web_inds_ready(w);
	int n = 0;
	for (size_t i = 0; h->has_latlon && i < w->n_inds; i++) {
		const struct web_ind *in = &w->inds[i];
		if ((in->ind.has & PROTO_IND_HAS_POS) != PROTO_IND_HAS_POS ||
		    dist_m(h->lat_e7, h->lon_e7, in->ind.lat_e7, in->ind.lon_e7) > r)
			continue;
		if (n++)
			wb_puts(out, ",");
		web_ind_json(w, out, in);
	}
	/* swept_by: passes (sessions) with a usable fix (0 < h_acc <= 1 m) within the radius of the centroid
	 * and no indication within it — the animals that went over the spot and said nothing. An approximation
	 * of the engine's clean sweeps (which use each pass's buffered track); task frames only. */
	wb_puts(out, "],\"swept_by\":[");
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	int64_t r_mm = (int64_t)(r * 1000.0);
	if (h->task_id && sqlite3_prepare_v2(db,
	                       "SELECT s.id, s.animal_id, s.start_ms, s.end_ms FROM sessions s WHERE s.id IN (SELECT DISTINCT "
	                       "f.session_id FROM fixes f WHERE f.task_id = ?1 AND f.x_mm BETWEEN ?2 - ?4 AND ?2 + ?4 AND "
	                       "f.y_mm BETWEEN ?3 - ?4 AND ?3 + ?4 AND (f.x_mm - ?2) * (f.x_mm - ?2) + (f.y_mm - ?3) * "
	                       "(f.y_mm - ?3) <= ?4 * ?4 AND f.h_acc_mm > 0 AND f.h_acc_mm <= 1000) AND NOT EXISTS (SELECT 1 "
	                       "FROM indications i WHERE i.session_id = s.id AND i.x_mm IS NOT NULL AND (i.x_mm - ?2) * "
	                       "(i.x_mm - ?2) + (i.y_mm - ?3) * (i.y_mm - ?3) <= ?4 * ?4) ORDER BY s.id",
	                       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, (int64_t)h->task_id);
		sqlite3_bind_int64(q, 2, h->x_mm);
		sqlite3_bind_int64(q, 3, h->y_mm);
		sqlite3_bind_int64(q, 4, r_mm);
		for (int k = 0; sqlite3_step(q) == SQLITE_ROW; k++) {
			wb_printf(out, "%s{\"session_id\":%" PRId64 ",\"animal_id\":%" PRId64 ",\"start\":", k ? "," : "",
			          (int64_t)sqlite3_column_int64(q, 0), (int64_t)sqlite3_column_int64(q, 1));
			wb_iso(out, sqlite3_column_int64(q, 2));
			wb_puts(out, ",\"end\":");
			if (sqlite3_column_type(q, 3) == SQLITE_NULL)
				wb_puts(out, "null");
			else
				wb_iso(out, sqlite3_column_int64(q, 3));
			wb_puts(out, "}");
		}
		sqlite3_finalize(q);
	}
	wb_puts(out, "]}");
	return 200;
}

static int report_json(struct core_web *w, struct MHD_Connection *c, struct wb *out, bool accreditation)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.json = true;
	const char *a = arg(c, "animal");
	if (a && arg_i64(a, 1, INT64_MAX, &o.animal_id)) {
		web_error(out, "animal: a positive animal id");
		return 400;
	}
	if (!accreditation && !a) {
		web_error(out, "animal: required");
		return 400;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return 500;
	char err[512] = "";
	int rc = accreditation ? an_report_accreditation(w->store, &o, f, err, sizeof err)
	                       : an_report_accuracy(w->store, &o, f, err, sizeof err);
	fclose(f);
	if (rc) {
		free(buf);
		web_error(out, "%s: %s", rc == -ENOENT ? "animal" : "report", err[0] ? err : strerror(-rc));
		return rc == -ENOENT ? 404 : 500;
	}
	wb_raw(out, buf, len);
	free(buf);
	return 200;
}

static int get_export(struct core_web *w, struct MHD_Connection *c, struct wb *out, const char **ctype, char *disp,
                      size_t dcap)
{
	const char *fs = arg(c, "format");
	enum an_export_format fmt;
	if (!fs || an_export_format_parse(fs, &fmt)) {
		web_error(out, "format: expected geojson, kml, gpx, csv or gpkg");
		return 400;
	}
	struct an_export_filter fl = {0};
	int64_t from, to;
	int st = time_range(c, out, &from, &to);
	if (st)
		return st;
	if (from != INT64_MIN) {
		fl.has_from = true;
		fl.from_ms = from;
	}
	if (to != INT64_MAX) {
		fl.has_to = true;
		fl.to_ms = to;
	}
	const char *a = arg(c, "animal"), *t = arg(c, "task");
	if ((a && arg_i64(a, 1, INT64_MAX, &fl.animal_id)) || (t && arg_i64(t, 1, INT64_MAX, &fl.task_id))) {
		web_error(out, "%s: a positive id", a && arg_i64(a, 1, INT64_MAX, &fl.animal_id) ? "animal" : "task");
		return 400;
	}
	static const char *const types[] = {"", "application/geo+json", "application/vnd.google-earth.kml+xml",
	                                    "application/gpx+xml", "text/csv; charset=utf-8", "application/geopackage+sqlite3"};
	static const char *const exts[] = {"", "geojson", "kml", "gpx", "csv", "gpkg"};
	char err[AN_EXPORT_ERR_MAX] = "";
	int rc;
	if (fmt == AN_EXPORT_GPKG) {
		char path[] = "/tmp/scentrack-web-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0) {
			web_error(out, "export: temporary file: %s", strerror(errno));
			return 500;
		}
		close(fd);
		rc = an_export_gpkg(w->store, &fl, path, NULL, err, sizeof err);
		FILE *f = rc ? NULL : fopen(path, "rb");
		if (f) {
			char tmp[65536];
			size_t n;
			while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
				wb_raw(out, tmp, n);
			fclose(f);
		}
		unlink(path);
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return 500;
		rc = an_export_write(w->store, fmt, &fl, f, NULL, err, sizeof err);
		fclose(f);
		if (!rc)
			wb_raw(out, buf, len);
		free(buf);
	}
	if (rc) {
		web_error(out, "export: %s", err[0] ? err : strerror(-rc));
		return 500;
	}
	*ctype = types[fmt];
	snprintf(disp, dcap, "attachment; filename=\"scentrack.%s\"", exts[fmt]);
	return 200;
}

/* Coverage of a box: every pass (session) in it, its usable fixes, rasterised onto lane segments. */
static int get_coverage(struct core_web *w, struct MHD_Connection *c, struct wb *out)
{
	const char *bs = arg(c, "box");
	int64_t box;
	if (!bs || arg_i64(bs, 1, INT64_MAX, &box)) {
		web_error(out, "box: required, a box id");
		return 400;
	}
	struct an_geo_box frame;
	struct an_geo_origin origin;
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q = NULL, *qf = NULL;
	int64_t task = 0;
	if (an_store_box_frame(w->store, box, &frame)) {
		web_error(out, "box: no box %" PRId64, box);
		return 404;
	}
	if (sqlite3_prepare_v2(db, "SELECT task_id FROM boxes WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, box);
		if (sqlite3_step(q) == SQLITE_ROW)
			task = sqlite3_column_int64(q, 0);
	}
	sqlite3_finalize(q);
	bool has_origin = an_store_task_origin(w->store, task, &origin) == 0;
	struct an_coverage_opts o = AN_COVERAGE_OPTS_INIT;
	struct an_coverage_track *tr = NULL;
	struct an_coverage_fix **fx = NULL;
	size_t n_tr = 0;
	int st = 500;
	struct an_coverage_grid *g = NULL;
	if (sqlite3_prepare_v2(db, "SELECT s.id, s.animal_id, a.species FROM sessions s JOIN animals a ON a.id = s.animal_id "
	                           "WHERE s.box_id = ?1 ORDER BY s.id", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT t_ms, x_mm, y_mm, h_acc_mm FROM fixes WHERE session_id = ?1 AND x_mm IS NOT NULL "
	                           "AND t_ms IS NOT NULL ORDER BY t_ms", -1, &qf, NULL) != SQLITE_OK) {
		web_error(out, "store: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(q, 1, box);
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct an_coverage_track *nt = realloc(tr, (n_tr + 1) * sizeof *tr);
		struct an_coverage_fix **nf = realloc(fx, (n_tr + 1) * sizeof *fx);
		if (nt)
			tr = nt;
		if (nf)
			fx = nf;
		if (!nt || !nf)
			goto oom;
		struct an_coverage_track *t = &tr[n_tr];
		memset(t, 0, sizeof *t);
		fx[n_tr] = NULL;
		n_tr++;
		t->session_id = (uint64_t)sqlite3_column_int64(q, 0);
		t->animal_id = (uint64_t)sqlite3_column_int64(q, 1);
		const char *sp = (const char *)sqlite3_column_text(q, 2);
		t->species = sp && !strcmp(sp, "dog") ? AN_SPECIES_DOG : AN_SPECIES_RAT;
		size_t cap = 0, n = 0;
		sqlite3_reset(qf);
		sqlite3_bind_int64(qf, 1, (int64_t)t->session_id);
		while (sqlite3_step(qf) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				struct an_coverage_fix *nx = realloc(fx[n_tr - 1], cap * sizeof *nx);
				if (!nx)
					goto oom;
				fx[n_tr - 1] = nx;
			}
			fx[n_tr - 1][n++] = (struct an_coverage_fix){sqlite3_column_int64(qf, 0), sqlite3_column_int64(qf, 1),
			                                             sqlite3_column_int64(qf, 2),
			                                             (uint32_t)sqlite3_column_int64(qf, 3)};
		}
		t->fixes = fx[n_tr - 1];
		t->n_fixes = n;
	}
	int rc = an_coverage_grid_new(&frame, &o, tr, n_tr, &g);
	if (rc) {
		web_error(out, "coverage: %s", strerror(-rc));
		st = rc == -E2BIG ? 413 : 500;
		goto out;
	}
	uint32_t lanes, segs;
	an_coverage_grid_dims(g, &lanes, &segs);
	struct an_coverage_summary sum;
	an_coverage_grid_summary(g, &sum);
	wb_printf(out, "{\"box\":%" PRId64 ",\"lanes\":%" PRIu32 ",\"segs\":%" PRIu32 ",\"sessions\":%zu,\"animals\":%zu,"
	          "\"fully_covered\":%s,\"clearance_grade\":%s,\"cells\":[",
	          box, lanes, segs, sum.n_sessions, sum.n_animals, sum.fully_covered ? "true" : "false",
	          sum.clearance_grade ? "true" : "false");
	int n = 0;
	for (uint32_t l = 0; l < lanes; l++)
		for (uint32_t sg = 0; sg < segs; sg++) {
			struct an_coverage_cell cell;
			if (an_coverage_grid_cell(g, l, sg, &cell))
				continue;
			double seg_m = frame.lane_width_mm ? (double)cell.area_mm2 / (double)frame.lane_width_mm / 1000.0 : 0;
			wb_printf(out, "%s{\"box\":%" PRId64 ",\"lane\":%" PRIu32 ",\"seg\":%" PRIu32 ",\"seg_m\":%.3f,"
			          "\"along_m\":%.3f,\"across_m\":%.3f,\"animals\":%" PRIu32 ",\"sessions\":%" PRIu32,
			          n++ ? "," : "", box, l, sg, seg_m, (double)cell.along_mm / 1000.0, (double)cell.across_mm / 1000.0,
			          cell.n_animals, cell.n_sessions);
			struct an_geo_enu en = {cell.e_mm, cell.n_mm, 0};
			int32_t la, lo, alt;
			if (has_origin && an_geo_enu_to_e7(&origin, &en, &la, &lo, &alt) == 0) {
				wb_puts(out, ",\"lat\":");
				wb_deg(out, la);
				wb_puts(out, ",\"lon\":");
				wb_deg(out, lo);
			}
			wb_puts(out, "}");
		}
	wb_puts(out, "]}");
	st = 200;
	goto out;
oom:
	web_error(out, "coverage: out of memory");
out:
	an_coverage_grid_free(g);
	for (size_t i = 0; i < n_tr; i++)
		free(fx[i]);
	free(fx);
	free(tr);
	sqlite3_finalize(q);
	sqlite3_finalize(qf);
	return st;
}

/* ---- writes ----------------------------------------------------------------------------------------------- */

struct wctx {
	struct core_web *w;
	struct MHD_Connection *c;
	const char *action, *entity;
	int64_t entity_id;
	char by[64];
};

static void client_addr(struct MHD_Connection *c, char *s, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(s, cap, "?");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, s, (socklen_t)cap);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, s, (socklen_t)cap);
}

/* One audit row per write attempt; result = the answer's body (already JSON). */
static void audit(struct wctx *x, int status, const struct wb *result, bool authed)
{
	char who[160], ip[64];
	snprintf(who, sizeof who, "web:%s %s%s", x->by[0] ? x->by : "?", authed ? "token:" : "no-token",
	         authed ? x->w->token_fp : "");
	client_addr(x->c, ip, sizeof ip);
	struct wb d = {0};
	wb_printf(&d, "{\"status\":%d,\"client\":", status);
	wb_str(&d, ip);
	wb_puts(&d, ",\"result\":");
	if (result->len)
		wb_raw(&d, result->p, result->len);
	else
		wb_puts(&d, "null");
	wb_puts(&d, "}");
	if (d.oom || an_store_audit(x->w->store, who, x->action, x->entity, x->entity_id, d.p))
		core_log(CORE_LOG_ERR, "web", "audit row not written for %s by %s (status %d): %s", x->action, who, status,
		         an_store_errmsg(x->w->store));
	wb_free(&d);
	if (status < 300)
		x->w->writes_ok++;
	else
		x->w->writes_refused++;
}

/* "by": who did it, 1..63 bytes of printable text */
static int field_by(const struct wj_obj *o, struct wctx *x, struct wb *out)
{
	const struct wj_field *f = wj_get(o, "by");
	if (!f || f->type != WJ_STR || !f->val[0] || strlen(f->val) > 63) {
		web_error(out, "by: required, the name of the person recording it (1..63 bytes)");
		return 400;
	}
	for (const unsigned char *p = (const unsigned char *)f->val; *p; p++)
		if (*p < 0x20) {
			web_error(out, "by: control characters are not allowed");
			return 400;
		}
	snprintf(x->by, sizeof x->by, "%s", f->val);
	return 0;
}

static const struct wj_field *num_field(const struct wj_obj *o, const char *k, double lo, double hi, bool req,
                                        double *v, struct wb *out, int *st)
{
	const struct wj_field *f = wj_get(o, k);
	*st = 0;
	if (!f || f->type == WJ_NULL) {
		if (req) {
			web_error(out, "%s: required", k);
			*st = 400;
		}
		return NULL;
	}
	char *end;
	double d = f->type == WJ_NUM || f->type == WJ_STR ? strtod(f->val, &end) : NAN;
	if (f->type == WJ_BOOL || !f->val[0] || *end || !isfinite(d) || d < lo || d > hi) {
		web_error(out, "%s: expected a number in %g..%g", k, lo, hi);
		*st = 400;
		return NULL;
	}
	*v = d;
	return f;
}

static int str_field(const struct wj_obj *o, const char *k, size_t max, const char **v, struct wb *out)
{
	const struct wj_field *f = wj_get(o, k);
	*v = NULL;
	if (!f || f->type == WJ_NULL)
		return 0;
	if (f->type != WJ_STR || strlen(f->val) > max) {
		web_error(out, "%s: expected a string of at most %zu bytes", k, max);
		return 400;
	}
	*v = f->val;
	return 0;
}

static int unknown_fields(const struct wj_obj *o, const char *const *known, struct wb *out)
{
	for (size_t i = 0; i < o->n; i++) {
		size_t k;
		for (k = 0; known[k] && strcmp(known[k], o->f[i].key); k++)
			;
		if (!known[k]) {
			web_error(out, "%s: unknown field", o->f[i].key);
			return 400;
		}
	}
	return 0;
}

static int64_t latest_task(struct core_web *w)
{
	sqlite3_stmt *q;
	int64_t id = 0;
	if (sqlite3_prepare_v2(an_store_sqlite(w->store), "SELECT id FROM tasks ORDER BY id DESC LIMIT 1", -1, &q, NULL) ==
	    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return id;
}

static int post_clearance(struct wctx *x, const struct wj_obj *o, struct wb *out)
{
	static const char *const known[] = {"lat", "lon", "err_m", "result", "device", "depth_cm", "team", "date", "by",
	                                    "task", "hazard_id", "ref", "box", NULL};
	int st;
	double lat = 0, lon = 0, err_m = 0, depth = 0, task_d = 0, hz_d = 0;
	const char *result, *device, *team, *date, *ref, *box;
	if ((st = unknown_fields(o, known, out)) || (st = field_by(o, x, out)))
		return st;
	const struct wj_field *flat = num_field(o, "lat", -90, 90, false, &lat, out, &st);
	if (st)
		return st;
	const struct wj_field *flon = num_field(o, "lon", -180, 180, false, &lon, out, &st);
	if (st)
		return st;
	const struct wj_field *ferr = num_field(o, "err_m", 0, 1000, false, &err_m, out, &st);
	if (st)
		return st;
	const struct wj_field *fdep = num_field(o, "depth_cm", 0, 10000, false, &depth, out, &st);
	if (st)
		return st;
	const struct wj_field *ftask = num_field(o, "task", 1, 9e15, false, &task_d, out, &st);
	if (st)
		return st;
	const struct wj_field *fhz = num_field(o, "hazard_id", 1, 9e15, false, &hz_d, out, &st);
	if (st)
		return st;
	if ((st = str_field(o, "result", 40, &result, out)) || (st = str_field(o, "device", 63, &device, out)) ||
	    (st = str_field(o, "team", 63, &team, out)) || (st = str_field(o, "date", 40, &date, out)) ||
	    (st = str_field(o, "ref", 63, &ref, out)) || (st = str_field(o, "box", 63, &box, out)))
		return st;
	int cls;
	if (!result || an_import_result_class(result, &cls)) {
		web_error(out, "result: expected ap_mine, at_mine, uxo, other_erw, fragment, scrap, nothing or "
		               "not_accessible");
		return 400;
	}
	if (!date) {
		web_error(out, "date: required (YYYY-MM-DD or an ISO 8601 time with zone)");
		return 400;
	}
	if ((flat != NULL) != (flon != NULL)) {
		web_error(out, "%s: lat and lon go together", flat ? "lon" : "lat");
		return 400;
	}
	int64_t task = ftask ? (int64_t)task_d : latest_task(x->w);
	if (!task) {
		web_error(out, "task: no task in the store to record the result in");
		return 400;
	}
	/* one-row JSON for the importer: its field names, our validated values */
	struct wb doc = {0};
	wb_printf(&doc, "[{\"task\":%" PRId64 ",\"date\":", task);
	wb_str(&doc, date);
	wb_puts(&doc, ",\"result\":");
	wb_str(&doc, result);
	if (flat)
		wb_printf(&doc, ",\"lat\":%s,\"lon\":%s", flat->val, flon->val);
	if (ferr)
		wb_printf(&doc, ",\"sigma_m\":%s", ferr->val);
	if (fdep)
		wb_printf(&doc, ",\"depth_cm\":%s", fdep->val);
	if (fhz)
		wb_printf(&doc, ",\"hazard_id\":%s", fhz->val);
	const char *sk[] = {"device_type", "team", "ref", "box"};
	const char *sv[] = {device, team, ref, box};
	for (int i = 0; i < 4; i++)
		if (sv[i]) {
			wb_printf(&doc, ",\"%s\":", sk[i]);
			wb_str(&doc, sv[i]);
		}
	wb_puts(&doc, "}]");
	char who[160], err[AN_IMPORT_ERR_MAX] = "";
	snprintf(who, sizeof who, "web:%s token:%s", x->by, x->w->token_fp);
	struct an_import_opts io = {.format = AN_IMPORT_JSON, .source = "web", .who = who};
	struct an_import_result ir;
	memset(&ir, 0, sizeof ir);
	int rc = doc.oom ? -ENOMEM : an_import_clearance(x->w->store, doc.p, doc.len, &io, &ir, err, sizeof err);
	wb_free(&doc);
	if (rc) {
		/* the importer's field names, mapped back to the form's */
		const char *fld = ir.err_field[0] ? ir.err_field : "body";
		if (!strcmp(fld, "sigma_m"))
			fld = "err_m";
		else if (!strcmp(fld, "device_type"))
			fld = "device";
		web_error(out, "%s: %s", fld, err);
		return rc == -EEXIST ? 409 : rc == -EINVAL || rc == -ENOENT ? 400 : 500;
	}
	sqlite3_stmt *q;
	int64_t cid = 0;
	if (sqlite3_prepare_v2(an_store_sqlite(x->w->store), "SELECT id FROM clearance_results ORDER BY id DESC LIMIT 1",
	                       -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		cid = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	x->entity = "clearance_result";
	x->entity_id = ir.inserted ? cid : 0;
	if (ir.inserted && x->w->on_clearance) {
		/* into the live hazard engine: the point's status changes at the next flush (a hazard event) */
		if (x->w->on_clearance(x->w->on_clearance_ctx))
			core_log(CORE_LOG_ERR, "web", "clearance result %" PRId64 " stored but not given to the hazard engine "
			         "(it will be at the next start)", cid);
	}
	/* matched_hazard: the given hazard_id, else the nearest live hazard point within its 95 % radius plus
	 * twice the result's position error (at least 1 m) */
	int64_t matched = fhz ? (int64_t)hz_d : 0;
	if (!matched && flat) {
		double best = INFINITY;
		int32_t la = (int32_t)lround(lat * 1e7), lo = (int32_t)lround(lon * 1e7);
		for (size_t i = 0; i < x->w->n_hz; i++) {
			const struct an_pub_hazard *h = &x->w->hz[i];
			if (!h->has_latlon)
				continue;
			double d = dist_m(la, lo, h->lat_e7, h->lon_e7);
			double gate = h->sigma_mm * 2.4477 / 1000.0 + fmax(1.0, 2 * err_m);
			if (d <= gate && d < best) {
				best = d;
				matched = (int64_t)h->id;
			}
		}
	}
	struct wb ev = {0};
	wb_printf(&ev, "{\"clearance_id\":%" PRId64 ",\"task_id\":%" PRId64 ",\"result\":", x->entity_id, task);
	wb_str(&ev, result);
	if (flat) {
		wb_puts(&ev, ",\"lat\":");
		wb_deg(&ev, (int32_t)lround(lat * 1e7));
		wb_puts(&ev, ",\"lon\":");
		wb_deg(&ev, (int32_t)lround(lon * 1e7));
	}
	if (matched)
		wb_printf(&ev, ",\"matched_hazard\":%" PRId64, matched);
	else
		wb_puts(&ev, ",\"matched_hazard\":null");
	wb_puts(&ev, ",\"by\":");
	wb_str(&ev, x->by);
	wb_printf(&ev, ",\"duplicate\":%s}", ir.inserted ? "false" : "true");
	if (!ev.oom && ir.inserted)
		web_event_add(x->w, "clearance", ev.p, ev.len);
	wb_raw(out, ev.p, ev.len);
	wb_free(&ev);
	return ir.inserted ? 201 : 200;
}

static int handler_id(struct core_web *w, const char *name, int64_t *id)
{
	sqlite3_stmt *q;
	int rc = -EIO;
	if (sqlite3_prepare_v2(an_store_sqlite(w->store), "SELECT id FROM handlers WHERE name = ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		rc = 0;
	}
	sqlite3_finalize(q);
	if (s == SQLITE_DONE) /* first review by this person: they become a handler row (the audit says so) */
		rc = an_store_handler_add(w->store, name, "handler", id);
	return rc;
}

/* An indication's id in a path (COLLAR-REC_SEQ): 400 naming it when malformed; the audit names the entity. */
static int ind_id_parse(struct wctx *x, const char *id_s, unsigned *collar, uint32_t *rec_seq, struct wb *out)
{
	char tail;
	x->entity = "indication";
	if (sscanf(id_s, "%u-%" SCNu32 "%c", collar, rec_seq, &tail) != 2 || *collar < 1 || *collar > 65535) {
		web_error(out, "id: \"%.32s\" is not an indication id (COLLAR-REC_SEQ)", id_s);
		return 400;
	}
	x->entity_id = (int64_t)((uint64_t)*collar << 32 | *rec_seq);
	return 0;
}

static int post_review(struct wctx *x, const char *id_s, bool confirm, const struct wj_obj *o, struct wb *out)
{
	static const char *const known[] = {"by", NULL};
	int st;
	unsigned collar;
	uint32_t rec_seq;
	if ((st = ind_id_parse(x, id_s, &collar, &rec_seq, out)))
		return st;
	if ((st = unknown_fields(o, known, out)) || (st = field_by(o, x, out)))
		return st;
	struct web_ind *in = web_ind_find(x->w, (uint64_t)collar << 32 | rec_seq);
	if (!in) {
		web_error(out, "id: no indication %u-%" PRIu32, collar, rec_seq);
		return 404;
	}
	/* into the store's verdict log (source web, who = the person; t = the store's now), whose verdict in force
	 * the hazard engines weigh (core_feed_reviews through the hook) */
	struct an_store_review rv = {.collar_id = (uint16_t)collar, .rec_seq = rec_seq,
	                             .verdict = confirm ? AN_REVIEW_CONFIRMED : AN_REVIEW_REJECTED, .source = "web"};
	snprintf(rv.who, sizeof rv.who, "%s", x->by);
	int rc = handler_id(x->w, x->by, &rv.handler_id);
	if (!rc)
		rc = an_store_review_add(x->w->store, &rv);
	if (rc) {
		web_error(out, "%s: %s", rc == -ENOENT ? "id" : "store", an_store_errmsg(x->w->store));
		return rc == -ENOENT ? 404 : rc == -EINVAL ? 409 : 500;
	}
	if (x->w->on_review && x->w->on_review(x->w->on_review_ctx))
		core_log(CORE_LOG_ERR, "web", "verdict on %u-%" PRIu32 " stored but not given to the hazard engine (it "
		         "will be at the next start)", collar, rec_seq);
	in->review = rv.verdict;
	struct wb ev = {0};
	web_ind_json(x->w, &ev, in);
	if (!ev.oom)
		web_event_add(x->w, "ind", ev.p, ev.len);
	wb_raw(out, ev.p, ev.len);
	wb_free(&ev);
	return 200;
}

/* The data recorder's box position of an indication (an/store.h "recorder box positions"): checked against
 * the box of the indication's session, stored (append-only: a correction is a new entry), given to the hazard
 * engine, whose points move at the next flush. 201 stored, 200 the same as the entry in force. */
static int post_boxpos(struct wctx *x, const char *id_s, const struct wj_obj *o, struct wb *out)
{
	static const char *const known[] = {"lane", "along_m", "sd_m", "by", NULL};
	int st;
	unsigned collar;
	uint32_t rec_seq;
	if ((st = ind_id_parse(x, id_s, &collar, &rec_seq, out)))
		return st;
	if ((st = unknown_fields(o, known, out)) || (st = field_by(o, x, out)))
		return st;
	struct an_geo_box box;
	int rc = an_store_ind_box(x->w->store, (uint16_t)collar, rec_seq, &box);
	if (rc == -ENOENT) {
		web_error(out, "id: no indication %u-%" PRIu32, collar, rec_seq);
		return 404;
	}
	if (rc == -ENODATA) {
		web_error(out, "id: indication %u-%" PRIu32 " is not in a session, so it has no box to place it in",
		          collar, rec_seq);
		return 409;
	}
	if (rc) {
		web_error(out, "store: %s", an_store_errmsg(x->w->store));
		return 500;
	}
	double lane = 0, along = 0, sd = AN_IMPORT_BOXPOS_SD_DEFAULT_MM / 1000.0;
	num_field(o, "lane", 0, (double)box.lane_count - 1, true, &lane, out, &st);
	if (st)
		return st;
	if (lane != floor(lane)) {
		web_error(out, "lane: expected a whole lane number in 0..%" PRIu32, box.lane_count - 1);
		return 400;
	}
	num_field(o, "along_m", 0, (double)(box.lane_len_mm + AN_STORE_BOXPOS_ALONG_SLACK_MM) / 1000.0, true, &along,
	          out, &st);
	if (st)
		return st;
	num_field(o, "sd_m", 0, AN_STORE_BOXPOS_SD_MAX_MM / 1000.0, false, &sd, out, &st);
	if (st)
		return st;
	struct an_store_boxpos b = {.collar_id = (uint16_t)collar, .rec_seq = rec_seq, .lane = (uint32_t)lane,
	                            .along_mm = llround(along * 1000.0), .sd_mm = (uint32_t)llround(sd * 1000.0)};
	size_t ins = 0, dup = 0;
	if ((rc = an_store_boxpos_add(x->w->store, &b, 1, x->by, "web", &ins, &dup, NULL)) < 0) {
		web_error(out, "%s: %s", rc == -EINVAL ? "body" : "store", an_store_errmsg(x->w->store));
		return rc == -EINVAL ? 400 : 500;
	}
	if (ins && x->w->on_boxpos && x->w->on_boxpos(x->w->on_boxpos_ctx))
		core_log(CORE_LOG_ERR, "web", "box position of %u-%" PRIu32 " stored but not given to the hazard engine (it "
		         "will be at the next start)", collar, rec_seq);
	wb_printf(out, "{\"indication\":\"%u-%" PRIu32 "\",\"lane\":%" PRIu32 ",\"along_m\":%.3f,\"sd_m\":%.3f,"
	          "\"entered_ms\":%" PRId64 ",\"by\":", collar, rec_seq, b.lane, (double)b.along_mm / 1000.0,
	          (double)b.sd_mm / 1000.0, b.entered_ms);
	wb_str(out, b.who);
	wb_printf(out, ",\"duplicate\":%s}", ins ? "false" : "true");
	return ins ? 201 : 200;
}

/* Start an accreditation test: an accreditation-mode session of the animal in the box, from now. */
static int post_accreditation(struct wctx *x, const struct wj_obj *o, struct wb *out)
{
	static const char *const known[] = {"box", "animal_id", "by", NULL};
	int st;
	double box = 0, animal = 0;
	x->entity = "session";
	if ((st = unknown_fields(o, known, out)) || (st = field_by(o, x, out)))
		return st;
	num_field(o, "box", 1, 9e15, true, &box, out, &st);
	if (st)
		return st;
	num_field(o, "animal_id", 1, 9e15, true, &animal, out, &st);
	if (st)
		return st;
	if (box != floor(box) || animal != floor(animal)) {
		web_error(out, "%s: an integer id", box != floor(box) ? "box" : "animal_id");
		return 400;
	}
	int64_t hid;
	struct an_store_session ss = {.box_id = (int64_t)box, .animal_id = (int64_t)animal,
	                              .mode = AN_MODE_ACCREDITATION, .start_ms = now_ms()};
	int rc = handler_id(x->w, x->by, &hid);
	if (!rc) {
		ss.handler_ids = &hid;
		ss.n_handlers = 1;
	}
	int64_t sid;
	rc = an_store_session_add(x->w->store, &ss, &sid);
	if (rc) {
		const char *msg = an_store_errmsg(x->w->store);
		web_error(out, "%s: %s", strstr(msg, "animal") ? "animal_id" : "box", msg);
		return rc == -ENOENT || rc == -EINVAL ? 400 : 500;
	}
	x->entity_id = sid;
	wb_printf(out, "{\"session_id\":%" PRId64 ",\"box\":%" PRId64 ",\"animal_id\":%" PRId64 ",\"start\":", sid,
	          ss.box_id, ss.animal_id);
	wb_iso(out, ss.start_ms);
	wb_puts(out, "}");
	return 201;
}

static int get_audit(struct core_web *w, struct MHD_Connection *c, struct wb *out)
{
	int64_t limit = 100;
	const char *l = arg(c, "limit");
	if (l && arg_i64(l, 1, 10000, &limit)) {
		web_error(out, "limit: 1..10000");
		return 400;
	}
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(an_store_sqlite(w->store),
	                       "SELECT id, t_ms, who, action, entity, entity_id, detail FROM audit_log ORDER BY id DESC "
	                       "LIMIT ?1", -1, &q, NULL) != SQLITE_OK) {
		web_error(out, "store: %s", sqlite3_errmsg(an_store_sqlite(w->store)));
		return 500;
	}
	sqlite3_bind_int64(q, 1, limit);
	wb_puts(out, "{\"audit\":[");
	for (int n = 0; sqlite3_step(q) == SQLITE_ROW; n++) {
		wb_printf(out, "%s{\"id\":%" PRId64 ",\"t\":", n ? "," : "", (int64_t)sqlite3_column_int64(q, 0));
		wb_iso(out, sqlite3_column_int64(q, 1));
		const char *keys[] = {"who", "action", "entity"};
		for (int k = 0; k < 3; k++) {
			wb_printf(out, ",\"%s\":", keys[k]);
			wb_str(out, (const char *)sqlite3_column_text(q, 2 + k));
		}
		wb_printf(out, ",\"entity_id\":%" PRId64 ",\"detail\":", (int64_t)sqlite3_column_int64(q, 5));
		wb_str(out, (const char *)sqlite3_column_text(q, 6)); /* as stored text: never trusted as JSON */
		wb_puts(out, "}");
	}
	sqlite3_finalize(q);
	wb_puts(out, "]}");
	return 200;
}

/* ---- routing ---------------------------------------------------------------------------------------------- */

int web_api(struct core_web *w, struct MHD_Connection *c, const char *method, const char *url, const char *body,
            size_t body_len, struct wb *out, const char **ctype, char *disposition, size_t dcap)
{
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool post = !strcmp(method, "POST");
	const char *p = url + 4; /* after "/api" */
	if (get) {
		if (!strcmp(p, "/tracks"))
			return get_tracks(w, c, out);
		if (!strcmp(p, "/indications"))
			return get_indications(w, c, out);
		if (!strcmp(p, "/hazards"))
			return get_hazards(w, NULL, out);
		if (!strncmp(p, "/hazards/", 9))
			return get_hazards(w, p + 9, out);
		if (!strcmp(p, "/coverage"))
			return get_coverage(w, c, out);
		if (!strcmp(p, "/accuracy"))
			return report_json(w, c, out, false);
		if (!strcmp(p, "/accreditation"))
			return report_json(w, c, out, true);
		if (!strcmp(p, "/export"))
			return get_export(w, c, out, ctype, disposition, dcap);
		if (!strcmp(p, "/audit")) {
			int a = web_auth(w, c);
			if (a) {
				web_error(out, "Authorization: %s", a == 401 ? "the audit log needs the write token"
				                                              : "no [web] token_file configured");
				return a;
			}
			return get_audit(w, c, out);
		}
		web_error(out, "%s: no such API", "path");
		return 404;
	}
	if (!post) {
		web_error(out, "method: %s is not used here (GET or POST)", "only");
		return 405;
	}
	struct wctx x = {.w = w, .c = c, .entity = "", .action = NULL};
	const char *id = NULL;
	bool confirm = false;
	if (!strcmp(p, "/clearance")) {
		x.action = "web.clearance";
		x.entity = "clearance_result";
	} else if (!strcmp(p, "/accreditation")) {
		x.action = "web.accreditation";
		x.entity = "session";
	} else if (!strncmp(p, "/indications/", 13)) {
		id = p + 13;
		const char *slash = strchr(id, '/');
		if (slash && (!strcmp(slash, "/confirm") || !strcmp(slash, "/reject"))) {
			confirm = !strcmp(slash, "/confirm");
			x.action = confirm ? "web.confirm" : "web.reject";
			x.entity = "indication";
		} else if (slash && !strcmp(slash, "/boxpos")) {
			x.action = "web.boxpos";
			x.entity = "indication";
		}
	}
	if (!x.action) {
		web_error(out, "%s: no such API", "path");
		return 404;
	}
	/* "by" for the audit row even when the request is refused later */
	struct wj_obj o;
	char why[256];
	bool parsed = body && wj_parse(body, body_len, &o, why, sizeof why) == 0;
	if (parsed) {
		const struct wj_field *b = wj_get(&o, "by");
		if (b && b->type == WJ_STR)
			snprintf(x.by, sizeof x.by, "%.63s", b->val);
	}
	int st = web_auth(w, c);
	if (!body) { /* over WEB_BODY_MAX: refused unread, still audited */
		web_error(out, "body: request body larger than 64 KiB");
		st = 413;
	} else if (st) {
		web_error(out, "Authorization: %s", st == 401 ? "a valid \"Bearer <token>\" header is needed to write"
		                                              : "writes are disabled ([web] token_file not configured)");
	} else if (!parsed) {
		web_error(out, "%s", why);
		st = 400;
	} else if (x.action[4] == 'c' && x.action[5] == 'l') {
		st = post_clearance(&x, &o, out);
	} else if (!strcmp(x.action, "web.accreditation")) {
		st = post_accreditation(&x, &o, out);
	} else if (!strcmp(x.action, "web.boxpos")) {
		char idbuf[48];
		snprintf(idbuf, sizeof idbuf, "%.*s", (int)(strchr(id, '/') - id), id);
		st = post_boxpos(&x, idbuf, &o, out);
	} else {
		char idbuf[48];
		snprintf(idbuf, sizeof idbuf, "%.*s", (int)(strchr(id, '/') - id), id);
		st = post_review(&x, idbuf, confirm, &o, out);
	}
	if (parsed)
		wj_free(&o);
	audit(&x, st, out, web_auth(w, c) == 0);
	return st;
}
