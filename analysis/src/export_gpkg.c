/*
 * analysis/src/export_gpkg.c — GeoPackage 1.3 with plain SQLite (an/export.h; OGC 12-128r18).
 *
 * Geometry blobs: "GP", version 0, flags (bit 0 = little-endian, bits 1-3 = envelope code: 0 none for
 * points, 1 = [minx, maxx, miny, maxy] for line strings), srs_id int32, envelope, then ISO WKB
 * (little-endian, 1 = Point, 2 = LineString). x = longitude, y = latitude (EPSG:4326 in GeoPackage).
 *
 * Determinism: no wall-clock time anywhere (last_change and layer_styles.update_time are the newest data
 * time), rows inserted in the data set's order, page size and journal fixed, VACUUM at the end so the
 * file's pages do not depend on the insert history. Same data → same bytes.
 */
#define _POSIX_C_SOURCE 200809L /* unistd */

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/export.h"
#include "export_internal.h"

static const char *const wkt_4326 =
	"GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\","
	"\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT["
	"\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\","
	"EAST],AUTHORITY[\"EPSG\",\"4326\"]]";

static const char *const schema_sql =
	"PRAGMA application_id = 1196444487;" /* 'GPKG' */
	"PRAGMA user_version = 10300;"
	"CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,"
	" organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,"
	" description TEXT);"
	"CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,"
	" identifier TEXT UNIQUE, description TEXT DEFAULT '',"
	" last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
	" min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,"
	" CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));"
	"CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
	" geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,"
	" CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),"
	" CONSTRAINT uk_gc_table_name UNIQUE (table_name),"
	" CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),"
	" CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));"
	"CREATE TABLE tracks (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom LINESTRING,"
	" session_id INTEGER, animal_id INTEGER, animal TEXT, task_id INTEGER, box_id INTEGER, mode TEXT,"
	" start_utc DATETIME, end_utc DATETIME, n_fixes INTEGER);"
	"CREATE TABLE indications (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom POINT,"
	" ind_id TEXT NOT NULL, collar_id INTEGER, rec_seq INTEGER, t_utc DATETIME, kind TEXT, source TEXT,"
	" duration_ms INTEGER, confidence_pct INTEGER, h_acc_mm INTEGER, review TEXT, session_id INTEGER,"
	" animal_id INTEGER, animal TEXT, task_id INTEGER);"
	"CREATE TABLE hazard_points (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom POINT,"
	" hazard_id INTEGER NOT NULL, task_id INTEGER, box_id INTEGER, status TEXT, p_explosive REAL,"
	" r95_mm INTEGER, n_ind INTEGER, n_animals INTEGER, n_sessions INTEGER, created_utc DATETIME,"
	" updated_utc DATETIME);"
	/* QGIS's own layer_styles layout (what "Save style → in database" creates in a GeoPackage) */
	"CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),"
	" f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30),"
	" styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),"
	" update_time DATETIME);";

/* ---- geometry blobs ------------------------------------------------------------------------------------ */

struct blob {
	unsigned char *p;
	size_t n, cap;
};

static int put(struct blob *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		while (nc < b->n + n)
			nc *= 2;
		unsigned char *q = realloc(b->p, nc);
		if (q == NULL)
			return -ENOMEM;
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
	return 0;
}

/* Little-endian writers (the byte order flag says so; the host need not be little-endian). */
static int put_u32(struct blob *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	return put(b, x, 4);
}

static int put_f64(struct blob *b, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	unsigned char x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	return put(b, x, 8);
}

static double deg(int32_t e7)
{
	return (double)e7 / 1e7;
}

static int gp_point(struct blob *b, int32_t lat, int32_t lon)
{
	b->n = 0;
	unsigned char hdr[4] = {'G', 'P', 0, 0x01}; /* version 0, little-endian, no envelope */
	int e = put(b, hdr, 4);
	e = e ? e : put_u32(b, 4326);
	unsigned char bo = 1;
	e = e ? e : put(b, &bo, 1);
	e = e ? e : put_u32(b, 1);
	e = e ? e : put_f64(b, deg(lon));
	e = e ? e : put_f64(b, deg(lat));
	return e;
}

static int gp_line(struct blob *b, const struct an_ex_fix *f, size_t n)
{
	int32_t mnx = f[0].lon_e7, mxx = f[0].lon_e7, mny = f[0].lat_e7, mxy = f[0].lat_e7;
	for (size_t i = 1; i < n; i++) {
		mnx = f[i].lon_e7 < mnx ? f[i].lon_e7 : mnx;
		mxx = f[i].lon_e7 > mxx ? f[i].lon_e7 : mxx;
		mny = f[i].lat_e7 < mny ? f[i].lat_e7 : mny;
		mxy = f[i].lat_e7 > mxy ? f[i].lat_e7 : mxy;
	}
	b->n = 0;
	unsigned char hdr[4] = {'G', 'P', 0, 0x03}; /* little-endian, envelope code 1 (xy) */
	int e = put(b, hdr, 4);
	e = e ? e : put_u32(b, 4326);
	e = e ? e : put_f64(b, deg(mnx));
	e = e ? e : put_f64(b, deg(mxx));
	e = e ? e : put_f64(b, deg(mny));
	e = e ? e : put_f64(b, deg(mxy));
	unsigned char bo = 1;
	e = e ? e : put(b, &bo, 1);
	e = e ? e : put_u32(b, 2);
	e = e ? e : put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n && !e; i++) {
		e = put_f64(b, deg(f[i].lon_e7));
		e = e ? e : put_f64(b, deg(f[i].lat_e7));
	}
	return e;
}

/* ---- QGIS styles --------------------------------------------------------------------------------------- */

struct cat {
	const char *value, *label, *rgba;
};

static const struct cat ind_cats[] = {
	{"unreviewed", "unreviewed", "255,200,0,255"},
	{"confirmed", "confirmed by handler", "220,0,0,255"},
	{"rejected", "rejected by handler", "150,150,150,255"},
};
static const struct cat hz_cats[] = {
	{"candidate", "candidate", "255,200,0,255"},
	{"awaiting_second_animal", "awaiting second animal", "255,140,0,255"},
	{"awaiting_excavation", "awaiting excavation", "230,60,0,255"},
	{"confirmed_explosive", "confirmed explosive", "140,0,0,255"},
	{"confirmed_fragment", "confirmed fragment", "0,150,200,255"},
	{"confirmed_scrap", "confirmed scrap", "0,170,0,255"},
	{"confirmed_nothing", "confirmed nothing", "0,200,0,255"},
	{"not_accessible", "not accessible", "120,120,120,255"},
	{"superseded", "superseded", "200,200,200,255"},
};

/* Append printf output to a growing string. */
static int sappend(char **s, size_t *n, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int sappend(char **s, size_t *n, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int w = vsnprintf(*s != NULL ? *s + *n : NULL, *s != NULL ? *cap - *n : 0, fmt, ap);
		va_end(ap);
		if (w < 0)
			return -EIO;
		if (*s != NULL && *n + (size_t)w < *cap) {
			*n += (size_t)w;
			return 0;
		}
		size_t nc = *cap ? *cap * 2 : 4096;
		while (nc <= *n + (size_t)w)
			nc *= 2;
		char *q = realloc(*s, nc);
		if (q == NULL)
			return -ENOMEM;
		*s = q;
		*cap = nc;
	}
}

static int marker_symbol(char **s, size_t *n, size_t *cap, int idx, const char *rgba)
{
	return sappend(s, n, cap,
	               "<symbol type=\"marker\" name=\"%d\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">"
	               "<layer class=\"SimpleMarker\" enabled=\"1\" locked=\"0\" pass=\"0\"><Option type=\"Map\">"
	               "<Option type=\"QString\" name=\"color\" value=\"%s\"/>"
	               "<Option type=\"QString\" name=\"name\" value=\"circle\"/>"
	               "<Option type=\"QString\" name=\"outline_color\" value=\"35,35,35,255\"/>"
	               "<Option type=\"QString\" name=\"outline_width\" value=\"0.4\"/>"
	               "<Option type=\"QString\" name=\"size\" value=\"3.2\"/>"
	               "<Option type=\"QString\" name=\"size_unit\" value=\"MM\"/>"
	               "</Option></layer></symbol>",
	               idx, rgba);
}

/* QML (QGIS) for a categorized point layer or a single-symbol line layer. */
static int qml(char **s, const char *attr, const struct cat *c, size_t nc)
{
	size_t n = 0, cap = 0;
	*s = NULL;
	int e = sappend(s, &n, &cap, "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
	                             "<qgis version=\"3.22.16\" styleCategories=\"Symbology\">\n");
	if (c == NULL) {
		e = e ? e : sappend(s, &n, &cap,
		                    "<renderer-v2 type=\"singleSymbol\" forceraster=\"0\" symbollevels=\"0\" "
		                    "enableorderby=\"0\"><symbols><symbol type=\"line\" name=\"0\" alpha=\"1\" "
		                    "clip_to_extent=\"1\" force_rhr=\"0\"><layer class=\"SimpleLine\" enabled=\"1\" "
		                    "locked=\"0\" pass=\"0\"><Option type=\"Map\">"
		                    "<Option type=\"QString\" name=\"line_color\" value=\"255,165,0,255\"/>"
		                    "<Option type=\"QString\" name=\"line_width\" value=\"0.6\"/>"
		                    "<Option type=\"QString\" name=\"line_width_unit\" value=\"MM\"/>"
		                    "</Option></layer></symbol></symbols></renderer-v2>\n");
	} else {
		e = e ? e : sappend(s, &n, &cap,
		                    "<renderer-v2 type=\"categorizedSymbol\" attr=\"%s\" forceraster=\"0\" "
		                    "symbollevels=\"0\" enableorderby=\"0\"><categories>", attr);
		for (size_t i = 0; i < nc && !e; i++)
			e = sappend(s, &n, &cap, "<category render=\"true\" symbol=\"%zu\" value=\"%s\" label=\"%s\"/>", i,
			            c[i].value, c[i].label);
		e = e ? e : sappend(s, &n, &cap, "</categories><symbols>");
		for (size_t i = 0; i < nc && !e; i++)
			e = marker_symbol(s, &n, &cap, (int)i, c[i].rgba);
		e = e ? e : sappend(s, &n, &cap, "</symbols></renderer-v2>\n");
	}
	e = e ? e : sappend(s, &n, &cap, "</qgis>\n");
	return e;
}

static void rgb_hex(const char *rgba, char out[8])
{
	unsigned r = 0, g = 0, b = 0;
	if (sscanf(rgba, "%u,%u,%u", &r, &g, &b) != 3)
		r = g = b = 0;
	snprintf(out, 8, "#%02x%02x%02x", r & 255u, g & 255u, b & 255u);
}

/* SLD 1.1 (OGC SE) with one rule per category (or one line rule). */
static int sld(char **s, const char *layer, const char *attr, const struct cat *c, size_t nc)
{
	size_t n = 0, cap = 0;
	*s = NULL;
	int e = sappend(s, &n, &cap,
	                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<StyledLayerDescriptor version=\"1.1.0\" "
	                "xmlns=\"http://www.opengis.net/sld\" xmlns:ogc=\"http://www.opengis.net/ogc\" "
	                "xmlns:se=\"http://www.opengis.net/se\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">"
	                "<NamedLayer><se:Name>%s</se:Name><UserStyle><se:Name>%s</se:Name><se:FeatureTypeStyle>",
	                layer, layer);
	if (c == NULL) {
		e = e ? e : sappend(s, &n, &cap,
		                    "<se:Rule><se:Name>track</se:Name><se:LineSymbolizer><se:Stroke>"
		                    "<se:SvgParameter name=\"stroke\">#ffa500</se:SvgParameter>"
		                    "<se:SvgParameter name=\"stroke-width\">2</se:SvgParameter>"
		                    "</se:Stroke></se:LineSymbolizer></se:Rule>");
	}
	for (size_t i = 0; c != NULL && i < nc && !e; i++) {
		char hex[8];
		rgb_hex(c[i].rgba, hex);
		e = sappend(s, &n, &cap,
		            "<se:Rule><se:Name>%s</se:Name><ogc:Filter><ogc:PropertyIsEqualTo>"
		            "<ogc:PropertyName>%s</ogc:PropertyName><ogc:Literal>%s</ogc:Literal>"
		            "</ogc:PropertyIsEqualTo></ogc:Filter><se:PointSymbolizer><se:Graphic><se:Mark>"
		            "<se:WellKnownName>circle</se:WellKnownName><se:Fill>"
		            "<se:SvgParameter name=\"fill\">%s</se:SvgParameter></se:Fill></se:Mark>"
		            "<se:Size>11</se:Size></se:Graphic></se:PointSymbolizer></se:Rule>",
		            c[i].label, attr, c[i].value, hex);
	}
	e = e ? e : sappend(s, &n, &cap, "</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>\n");
	return e;
}

/* ---- writing ------------------------------------------------------------------------------------------- */

struct gp {
	sqlite3 *db;
	char *err;
	size_t errcap;
	struct blob b;
};

static int gfail(struct gp *g, int rc, const char *what)
{
	if (g->err != NULL && g->errcap > 0)
		snprintf(g->err, g->errcap, "GeoPackage: %s: sqlite: %s", what, g->db ? sqlite3_errmsg(g->db) : "?");
	return rc == SQLITE_FULL ? -ENOSPC : rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	if (t != NULL)
		sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
}

static void bind_clean(sqlite3_stmt *st, int i, const char *t)
{
	char buf[256];
	an_exp__utf8_clean(buf, sizeof buf, t);
	sqlite3_bind_text(st, i, buf, -1, SQLITE_TRANSIENT);
}

static int step_done(struct gp *g, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : gfail(g, rc, what);
}

static int contents(struct gp *g, const char *table, const char *type, bool geom, const char *geom_type,
                    const char *desc, const char *last_change, bool has_box, double bx0, double by0, double bx1,
                    double by1)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(g->db,
	                            "INSERT INTO gpkg_contents(table_name, data_type, identifier, description,"
	                            " last_change, min_x, min_y, max_x, max_y, srs_id) VALUES (?1,?2,?1,?3,?4,?5,?6,?7,?8,?9)",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare gpkg_contents");
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, desc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, last_change, -1, SQLITE_STATIC);
	if (geom && has_box) {
		sqlite3_bind_double(st, 5, bx0);
		sqlite3_bind_double(st, 6, by0);
		sqlite3_bind_double(st, 7, bx1);
		sqlite3_bind_double(st, 8, by1);
	}
	if (geom)
		sqlite3_bind_int(st, 9, 4326);
	int e = step_done(g, st, "insert gpkg_contents");
	sqlite3_finalize(st);
	if (e < 0 || !geom)
		return e;
	rc = sqlite3_prepare_v2(g->db,
	                        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare gpkg_geometry_columns");
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, geom_type, -1, SQLITE_STATIC);
	e = step_done(g, st, "insert gpkg_geometry_columns");
	sqlite3_finalize(st);
	return e;
}

static int style_row(struct gp *g, const char *table, const char *geom_col, const char *attr, const struct cat *c,
                     size_t nc, const char *when)
{
	char *q = NULL, *s = NULL;
	int e = qml(&q, attr, c, nc);
	e = e ? e : sld(&s, table, attr, c, nc);
	sqlite3_stmt *st = NULL;
	if (e == 0) {
		int rc = sqlite3_prepare_v2(g->db,
		                            "INSERT INTO layer_styles(f_table_catalog, f_table_schema, f_table_name,"
		                            " f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description,"
		                            " owner, ui, update_time) VALUES ('', '', ?1, ?2, ?1, ?3, ?4, 1, ?5, '', NULL, ?6)",
		                            -1, &st, NULL);
		if (rc != SQLITE_OK) {
			e = gfail(g, rc, "prepare layer_styles");
		} else {
			char desc[96];
			snprintf(desc, sizeof desc, "scentrack default style for %s", table);
			sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, geom_col, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, q, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, s, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, desc, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 6, when, -1, SQLITE_STATIC);
			e = step_done(g, st, "insert layer_styles");
		}
	} else if (g->err != NULL && g->errcap > 0) {
		snprintf(g->err, g->errcap, "GeoPackage: out of memory building styles");
	}
	sqlite3_finalize(st);
	free(q);
	free(s);
	return e;
}

static int write_all(struct gp *g, const struct an_ex_data *d, struct an_export_counts *cnt)
{
	char *msg = NULL;
	int rc = sqlite3_exec(g->db, "PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE; BEGIN", NULL, NULL, &msg);
	sqlite3_free(msg);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "begin");
	if ((rc = sqlite3_exec(g->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK)
		return gfail(g, rc, "create schema");
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(g->db,
	                        "INSERT INTO gpkg_spatial_ref_sys VALUES"
	                        " ('WGS 84 geodetic', 4326, 'EPSG', 4326, ?1, 'longitude/latitude coordinates in decimal"
	                        " degrees on the WGS 84 spheroid'),"
	                        " ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate"
	                        " reference system'),"
	                        " ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate"
	                        " reference system')",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare srs");
	sqlite3_bind_text(st, 1, wkt_4326, -1, SQLITE_STATIC);
	int e = step_done(g, st, "insert srs");
	sqlite3_finalize(st);
	if (e < 0)
		return e;

	char when[AN_EXP_TIME_LEN];
	an_exp__time(when, d->latest_ms);

	/* tracks */
	double tb[4] = {0, 0, 0, 0};
	bool tbox = false;
	rc = sqlite3_prepare_v2(g->db,
	                        "INSERT INTO tracks(geom, session_id, animal_id, animal, task_id, box_id, mode, start_utc,"
	                        " end_utc, n_fixes) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare tracks");
	for (size_t i = 0; i < d->n_sessions && e == 0; i++) {
		const struct an_ex_session *s = &d->sessions[i];
		if (s->n_fix < 2)
			continue;
		const struct an_ex_fix *f = &d->fixes[s->first_fix];
		if ((e = gp_line(&g->b, f, s->n_fix)) < 0)
			break;
		for (size_t k = 0; k < s->n_fix; k++) {
			double x = deg(f[k].lon_e7), y = deg(f[k].lat_e7);
			if (!tbox) {
				tb[0] = tb[2] = x;
				tb[1] = tb[3] = y;
				tbox = true;
			}
			tb[0] = x < tb[0] ? x : tb[0];
			tb[1] = y < tb[1] ? y : tb[1];
			tb[2] = x > tb[2] ? x : tb[2];
			tb[3] = y > tb[3] ? y : tb[3];
		}
		char t0[AN_EXP_TIME_LEN], t1[AN_EXP_TIME_LEN];
		an_exp__time(t0, f[0].t_ms);
		an_exp__time(t1, f[s->n_fix - 1].t_ms);
		sqlite3_bind_blob(st, 1, g->b.p, (int)g->b.n, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, s->id);
		sqlite3_bind_int64(st, 3, s->animal_id);
		bind_clean(st, 4, s->animal);
		sqlite3_bind_int64(st, 5, s->task_id);
		sqlite3_bind_int64(st, 6, s->box_id);
		bind_text_or_null(st, 7, s->mode);
		sqlite3_bind_text(st, 8, t0, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 9, t1, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 10, (int64_t)s->n_fix);
		e = step_done(g, st, "insert track");
		if (e == 0) {
			cnt->tracks++;
			cnt->track_points += s->n_fix;
		}
	}
	sqlite3_finalize(st);
	if (e < 0)
		return e;

	/* indications */
	double ib[4] = {0, 0, 0, 0};
	bool ibox = false;
	rc = sqlite3_prepare_v2(g->db,
	                        "INSERT INTO indications(geom, ind_id, collar_id, rec_seq, t_utc, kind, source, duration_ms,"
	                        " confidence_pct, h_acc_mm, review, session_id, animal_id, animal, task_id)"
	                        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare indications");
	for (size_t i = 0; i < d->n_inds && e == 0; i++) {
		const struct an_ex_ind *x = &d->inds[i];
		if ((e = gp_point(&g->b, x->lat_e7, x->lon_e7)) < 0)
			break;
		double px = deg(x->lon_e7), py = deg(x->lat_e7);
		if (!ibox) {
			ib[0] = ib[2] = px;
			ib[1] = ib[3] = py;
			ibox = true;
		}
		ib[0] = px < ib[0] ? px : ib[0];
		ib[1] = py < ib[1] ? py : ib[1];
		ib[2] = px > ib[2] ? px : ib[2];
		ib[3] = py > ib[3] ? py : ib[3];
		char id[40], t[AN_EXP_TIME_LEN];
		snprintf(id, sizeof id, "ind-%u-%" PRIu32, x->collar_id, x->rec_seq);
		an_exp__time(t, x->t_ms);
		sqlite3_bind_blob(st, 1, g->b.p, (int)g->b.n, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, x->collar_id);
		sqlite3_bind_int64(st, 4, x->rec_seq);
		sqlite3_bind_text(st, 5, t, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, an_ex__kind_name(x->kind), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, an_ex__src_name(x->src), -1, SQLITE_STATIC);
		if (x->has_dur)
			sqlite3_bind_int64(st, 8, x->dur_ms);
		if (x->has_conf)
			sqlite3_bind_int64(st, 9, x->conf_pct);
		if (x->has_hacc)
			sqlite3_bind_int64(st, 10, x->h_acc_mm);
		sqlite3_bind_text(st, 11, x->review, -1, SQLITE_TRANSIENT);
		if (x->session_id)
			sqlite3_bind_int64(st, 12, x->session_id);
		if (x->animal_id) {
			sqlite3_bind_int64(st, 13, x->animal_id);
			bind_clean(st, 14, x->animal);
		}
		if (x->task_id)
			sqlite3_bind_int64(st, 15, x->task_id);
		e = step_done(g, st, "insert indication");
		cnt->indications += e == 0;
	}
	sqlite3_finalize(st);
	if (e < 0)
		return e;

	/* hazard points */
	double hb[4] = {0, 0, 0, 0};
	bool hbox = false;
	rc = sqlite3_prepare_v2(g->db,
	                        "INSERT INTO hazard_points(geom, hazard_id, task_id, box_id, status, p_explosive, r95_mm,"
	                        " n_ind, n_animals, n_sessions, created_utc, updated_utc)"
	                        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return gfail(g, rc, "prepare hazard_points");
	for (size_t i = 0; i < d->n_hazards && e == 0; i++) {
		const struct an_ex_hazard *h = &d->hazards[i];
		if ((e = gp_point(&g->b, h->lat_e7, h->lon_e7)) < 0)
			break;
		double px = deg(h->lon_e7), py = deg(h->lat_e7);
		if (!hbox) {
			hb[0] = hb[2] = px;
			hb[1] = hb[3] = py;
			hbox = true;
		}
		hb[0] = px < hb[0] ? px : hb[0];
		hb[1] = py < hb[1] ? py : hb[1];
		hb[2] = px > hb[2] ? px : hb[2];
		hb[3] = py > hb[3] ? py : hb[3];
		char t0[AN_EXP_TIME_LEN], t1[AN_EXP_TIME_LEN];
		an_exp__time(t0, h->created_ms);
		an_exp__time(t1, h->updated_ms);
		sqlite3_bind_blob(st, 1, g->b.p, (int)g->b.n, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, h->id);
		sqlite3_bind_int64(st, 3, h->task_id);
		if (h->box_id)
			sqlite3_bind_int64(st, 4, h->box_id);
		sqlite3_bind_text(st, 5, h->status, -1, SQLITE_TRANSIENT);
		sqlite3_bind_double(st, 6, h->p_explosive);
		sqlite3_bind_int64(st, 7, h->r95_mm);
		sqlite3_bind_int64(st, 8, h->n_ind);
		sqlite3_bind_int64(st, 9, h->n_animals);
		sqlite3_bind_int64(st, 10, h->n_sessions);
		sqlite3_bind_text(st, 11, t0, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 12, t1, -1, SQLITE_TRANSIENT);
		e = step_done(g, st, "insert hazard point");
		cnt->hazards += e == 0;
	}
	sqlite3_finalize(st);
	if (e < 0)
		return e;

	e = contents(g, "tracks", "features", true, "LINESTRING", "search tracks, one per session", when, tbox, tb[0],
	             tb[1], tb[2], tb[3]);
	e = e ? e : contents(g, "indications", "features", true, "POINT", "animal indications", when, ibox, ib[0],
	                     ib[1], ib[2], ib[3]);
	e = e ? e : contents(g, "hazard_points", "features", true, "POINT", "suspected hazard points", when, hbox,
	                     hb[0], hb[1], hb[2], hb[3]);
	e = e ? e : contents(g, "layer_styles", "attributes", false, NULL, "QGIS default styles", when, false, 0, 0, 0, 0);
	e = e ? e : style_row(g, "tracks", "geom", NULL, NULL, 0, when);
	e = e ? e : style_row(g, "indications", "geom", "review", ind_cats, sizeof ind_cats / sizeof ind_cats[0], when);
	e = e ? e : style_row(g, "hazard_points", "geom", "status", hz_cats, sizeof hz_cats / sizeof hz_cats[0], when);
	if (e < 0)
		return e;
	if ((rc = sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		return gfail(g, rc, "commit");
	if ((rc = sqlite3_exec(g->db, "VACUUM", NULL, NULL, NULL)) != SQLITE_OK)
		return gfail(g, rc, "vacuum");
	return 0;
}

int an_export_gpkg(struct an_store *s, const struct an_export_filter *f, const char *path,
                   struct an_export_counts *counts, char *err, size_t errcap)
{
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (s == NULL || path == NULL || path[0] == '\0') {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "an_export_gpkg: a store and an output path are required");
		return -EINVAL;
	}
	struct an_export_counts local;
	if (counts == NULL)
		counts = &local;
	memset(counts, 0, sizeof *counts);
	struct an_ex_data d;
	int e = an_ex__load(s, f, &d, err, errcap);
	if (e < 0)
		return e;
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 8);
	if (tmp == NULL) {
		an_ex__free(&d);
		return -ENOMEM;
	}
	snprintf(tmp, plen + 8, "%s.tmp", path);
	(void)unlink(tmp); /* a leftover of a crashed export */
	struct gp g = {NULL, err, errcap, {NULL, 0, 0}};
	int rc = sqlite3_open_v2(tmp, &g.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		e = gfail(&g, rc, tmp);
	} else {
		e = write_all(&g, &d, counts);
		if (e < 0)
			(void)sqlite3_exec(g.db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (sqlite3_close(g.db) != SQLITE_OK && e == 0)
		e = gfail(&g, SQLITE_ERROR, "close");
	if (e == 0 && rename(tmp, path) != 0) {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "GeoPackage: rename %s → %s: %s", tmp, path, strerror(errno));
		e = -EIO;
	}
	if (e < 0)
		(void)unlink(tmp);
	free(tmp);
	free(g.b.p);
	an_ex__free(&d);
	return e;
}
