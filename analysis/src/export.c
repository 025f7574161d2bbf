/*
 * analysis/src/export.c — GeoJSON, KML, GPX and CSV writers (an/export.h). Each writer streams the data
 * set loaded by export_data.c; text goes through the escapers of export_util.c.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "an/export.h"
#include "an/version.h"
#include "export_internal.h"

static const char *const fmt_names[] = {NULL, "geojson", "kml", "gpx", "csv", "gpkg"};

int an_export_format_parse(const char *name, enum an_export_format *out)
{
	for (int i = 1; i <= 5; i++) {
		if (name != NULL && strcasecmp(name, fmt_names[i]) == 0) {
			*out = (enum an_export_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *an_export_format_name(enum an_export_format f)
{
	return (unsigned)f >= 1 && (unsigned)f <= 5 ? fmt_names[f] : NULL;
}

int an_export_parse_time(const char *s, int64_t *t_ms, const char **why)
{
	return an_exp__parse_time(s, t_ms, why);
}

/* ---- GeoJSON -------------------------------------------------------------------------------------------- */

static void gj_pos(FILE *o, int32_t lat, int32_t lon)
{
	char a[AN_EXP_E7_LEN], b[AN_EXP_E7_LEN];
	an_exp__e7(a, lon);
	an_exp__e7(b, lat);
	fprintf(o, "[%s,%s]", a, b); /* RFC 7946 §3.1.1: longitude first */
}

static void gj_time(FILE *o, const char *key, int64_t t)
{
	char ts[AN_EXP_TIME_LEN];
	an_exp__time(ts, t);
	fprintf(o, ",\"%s\":\"%s\"", key, ts);
}

static void gj_id_or_null(FILE *o, const char *key, int64_t v)
{
	if (v)
		fprintf(o, ",\"%s\":%" PRId64, key, v);
	else
		fprintf(o, ",\"%s\":null", key);
}

static void write_geojson(FILE *o, const struct an_ex_data *d)
{
	fputs("{\"type\":\"FeatureCollection\",\"features\":[", o);
	const char *sep = "\n";
	for (size_t i = 0; i < d->n_sessions; i++) {
		const struct an_ex_session *s = &d->sessions[i];
		if (s->n_fix < 2)
			continue;
		fprintf(o, "%s{\"type\":\"Feature\",\"id\":\"track-%" PRId64 "\",\"geometry\":{\"type\":\"LineString\","
		           "\"coordinates\":[", sep, s->id);
		for (size_t k = 0; k < s->n_fix; k++) {
			const struct an_ex_fix *f = &d->fixes[s->first_fix + k];
			if (k)
				fputc(',', o);
			gj_pos(o, f->lat_e7, f->lon_e7);
		}
		fprintf(o, "]},\"properties\":{\"layer\":\"track\",\"session_id\":%" PRId64 ",\"animal_id\":%" PRId64
		           ",\"animal\":", s->id, s->animal_id);
		an_exp__json_str(o, s->animal);
		fprintf(o, ",\"task_id\":%" PRId64 ",\"box_id\":%" PRId64 ",\"mode\":", s->task_id, s->box_id);
		an_exp__json_str(o, s->mode);
		gj_time(o, "start_utc", d->fixes[s->first_fix].t_ms);
		gj_time(o, "end_utc", d->fixes[s->first_fix + s->n_fix - 1].t_ms);
		fprintf(o, ",\"n_fixes\":%zu}}", s->n_fix);
		sep = ",\n";
	}
	for (size_t i = 0; i < d->n_inds; i++) {
		const struct an_ex_ind *x = &d->inds[i];
		fprintf(o, "%s{\"type\":\"Feature\",\"id\":\"ind-%u-%" PRIu32 "\",\"geometry\":{\"type\":\"Point\","
		           "\"coordinates\":", sep, x->collar_id, x->rec_seq);
		gj_pos(o, x->lat_e7, x->lon_e7);
		fprintf(o, "},\"properties\":{\"layer\":\"indication\",\"collar_id\":%u,\"rec_seq\":%" PRIu32,
		        x->collar_id, x->rec_seq);
		gj_time(o, "t_utc", x->t_ms);
		fprintf(o, ",\"kind\":\"%s\",\"source\":\"%s\"", an_ex__kind_name(x->kind), an_ex__src_name(x->src));
		if (x->has_dur)
			fprintf(o, ",\"duration_ms\":%" PRIu32, x->dur_ms);
		else
			fputs(",\"duration_ms\":null", o);
		if (x->has_conf)
			fprintf(o, ",\"confidence_pct\":%u", x->conf_pct);
		else
			fputs(",\"confidence_pct\":null", o);
		if (x->has_hacc)
			fprintf(o, ",\"h_acc_mm\":%" PRIu32, x->h_acc_mm);
		else
			fputs(",\"h_acc_mm\":null", o);
		fputs(",\"review\":", o);
		an_exp__json_str(o, x->review);
		gj_id_or_null(o, "session_id", x->session_id);
		gj_id_or_null(o, "animal_id", x->animal_id);
		fputs(",\"animal\":", o);
		an_exp__json_str(o, x->animal_id ? x->animal : NULL);
		gj_id_or_null(o, "task_id", x->task_id);
		fputs("}}", o);
		sep = ",\n";
	}
	for (size_t i = 0; i < d->n_hazards; i++) {
		const struct an_ex_hazard *h = &d->hazards[i];
		fprintf(o, "%s{\"type\":\"Feature\",\"id\":\"hazard-%" PRId64 "\",\"geometry\":{\"type\":\"Point\","
		           "\"coordinates\":", sep, h->id);
		gj_pos(o, h->lat_e7, h->lon_e7);
		fprintf(o, "},\"properties\":{\"layer\":\"hazard_point\",\"hazard_id\":%" PRId64 ",\"task_id\":%" PRId64,
		        h->id, h->task_id);
		gj_id_or_null(o, "box_id", h->box_id);
		fputs(",\"status\":", o);
		an_exp__json_str(o, h->status);
		fprintf(o, ",\"p_explosive\":%.6f,\"r95_mm\":%" PRIu32 ",\"n_ind\":%" PRIu32 ",\"n_animals\":%" PRIu32
		           ",\"n_sessions\":%" PRIu32, h->p_explosive, h->r95_mm, h->n_ind, h->n_animals, h->n_sessions);
		gj_time(o, "created_utc", h->created_ms);
		gj_time(o, "updated_utc", h->updated_ms);
		fputs("}}", o);
		sep = ",\n";
	}
	fputs("\n]}\n", o);
}

/* ---- KML 2.2 -------------------------------------------------------------------------------------------- */

static const char *hazard_style(const struct an_ex_hazard *h)
{
	if (strcmp(h->status, "confirmed_explosive") == 0)
		return "hz-explosive";
	if (strncmp(h->status, "confirmed_", 10) == 0)
		return "hz-cleared";
	if (strcmp(h->status, "superseded") == 0 || strcmp(h->status, "not_accessible") == 0)
		return "hz-other";
	return h->p_explosive >= 0.9 ? "hz-p90" : h->p_explosive >= 0.5 ? "hz-p50" : "hz-low";
}

static void kml_data(FILE *o, const char *name, const char *value)
{
	fprintf(o, "<Data name=\"%s\"><value>", name);
	an_exp__xml_text(o, value);
	fputs("</value></Data>", o);
}

static void kml_data_i(FILE *o, const char *name, int64_t v)
{
	fprintf(o, "<Data name=\"%s\"><value>%" PRId64 "</value></Data>", name, v);
}

static void kml_coord(FILE *o, int32_t lat, int32_t lon)
{
	char a[AN_EXP_E7_LEN], b[AN_EXP_E7_LEN];
	an_exp__e7(a, lon);
	an_exp__e7(b, lat);
	fprintf(o, "%s,%s", a, b);
}

static void write_kml(FILE *o, const struct an_ex_data *d)
{
	char ts[AN_EXP_TIME_LEN], te[AN_EXP_TIME_LEN];
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\">\n"
	      "<Document>\n<name>scentrack export</name>\n", o);
	/* Styles: colours are aabbggrr */
	static const struct {
		const char *id, *color;
		bool line;
	} styles[] = {
		{"track", "ff00a5ff", true},         /* orange lines */
		{"ind-unreviewed", "ff00ffff", false}, /* yellow */
		{"ind-confirmed", "ff0000ff", false},  /* red */
		{"ind-rejected", "ff909090", false},   /* grey */
		{"hz-explosive", "ff00008b", false},   /* dark red */
		{"hz-cleared", "ff00c000", false},     /* green */
		{"hz-p90", "ff0000ff", false},         /* red */
		{"hz-p50", "ff0080ff", false},         /* orange */
		{"hz-low", "ff00ffff", false},         /* yellow */
		{"hz-other", "ff909090", false},       /* grey */
	};
	for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++) {
		if (styles[i].line)
			fprintf(o, "<Style id=\"%s\"><LineStyle><color>%s</color><width>2</width></LineStyle></Style>\n",
			        styles[i].id, styles[i].color);
		else
			fprintf(o, "<Style id=\"%s\"><IconStyle><color>%s</color><scale>1</scale><Icon><href>"
			           "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png</href></Icon>"
			           "</IconStyle></Style>\n", styles[i].id, styles[i].color);
	}
	fputs("<Folder><name>tracks</name>\n", o);
	for (size_t i = 0; i < d->n_sessions; i++) {
		const struct an_ex_session *s = &d->sessions[i];
		if (s->n_fix < 2)
			continue;
		an_exp__time(ts, d->fixes[s->first_fix].t_ms);
		an_exp__time(te, d->fixes[s->first_fix + s->n_fix - 1].t_ms);
		fprintf(o, "<Placemark id=\"track-%" PRId64 "\"><name>session %" PRId64 " ", s->id, s->id);
		an_exp__xml_text(o, s->animal);
		fprintf(o, "</name><TimeSpan><begin>%s</begin><end>%s</end></TimeSpan><styleUrl>#track</styleUrl>"
		           "<ExtendedData>", ts, te);
		kml_data_i(o, "session_id", s->id);
		kml_data_i(o, "animal_id", s->animal_id);
		kml_data(o, "animal", s->animal);
		kml_data_i(o, "task_id", s->task_id);
		kml_data_i(o, "box_id", s->box_id);
		kml_data(o, "mode", s->mode);
		kml_data_i(o, "n_fixes", (int64_t)s->n_fix);
		fputs("</ExtendedData><LineString><tessellate>1</tessellate><coordinates>", o);
		for (size_t k = 0; k < s->n_fix; k++) {
			if (k)
				fputc(' ', o);
			kml_coord(o, d->fixes[s->first_fix + k].lat_e7, d->fixes[s->first_fix + k].lon_e7);
		}
		fputs("</coordinates></LineString></Placemark>\n", o);
	}
	fputs("</Folder>\n<Folder><name>indications</name>\n", o);
	for (size_t i = 0; i < d->n_inds; i++) {
		const struct an_ex_ind *x = &d->inds[i];
		an_exp__time(ts, x->t_ms);
		const char *style = strcmp(x->review, "confirmed") == 0  ? "ind-confirmed"
		                    : strcmp(x->review, "rejected") == 0 ? "ind-rejected"
		                                                         : "ind-unreviewed";
		fprintf(o, "<Placemark id=\"ind-%u-%" PRIu32 "\"><name>", x->collar_id, x->rec_seq);
		if (x->animal_id)
			an_exp__xml_text(o, x->animal);
		else
			fprintf(o, "collar %u", x->collar_id);
		fprintf(o, " %s</name><TimeStamp><when>%s</when></TimeStamp><styleUrl>#%s</styleUrl><ExtendedData>",
		        an_ex__kind_name(x->kind), ts, style);
		kml_data_i(o, "collar_id", x->collar_id);
		kml_data_i(o, "rec_seq", x->rec_seq);
		kml_data(o, "kind", an_ex__kind_name(x->kind));
		kml_data(o, "source", an_ex__src_name(x->src));
		if (x->has_dur)
			kml_data_i(o, "duration_ms", x->dur_ms);
		if (x->has_conf)
			kml_data_i(o, "confidence_pct", x->conf_pct);
		if (x->has_hacc)
			kml_data_i(o, "h_acc_mm", x->h_acc_mm);
		kml_data(o, "review", x->review);
		if (x->session_id)
			kml_data_i(o, "session_id", x->session_id);
		if (x->animal_id) {
			kml_data_i(o, "animal_id", x->animal_id);
			kml_data(o, "animal", x->animal);
		}
		if (x->task_id)
			kml_data_i(o, "task_id", x->task_id);
		fputs("</ExtendedData><Point><coordinates>", o);
		kml_coord(o, x->lat_e7, x->lon_e7);
		fputs("</coordinates></Point></Placemark>\n", o);
	}
	fputs("</Folder>\n<Folder><name>hazard_points</name>\n", o);
	for (size_t i = 0; i < d->n_hazards; i++) {
		const struct an_ex_hazard *h = &d->hazards[i];
		an_exp__time(ts, h->updated_ms);
		fprintf(o, "<Placemark id=\"hazard-%" PRId64 "\"><name>hazard %" PRId64 " P=%.2f</name>"
		           "<TimeStamp><when>%s</when></TimeStamp><styleUrl>#%s</styleUrl><ExtendedData>",
		        h->id, h->id, h->p_explosive, ts, hazard_style(h));
		kml_data_i(o, "hazard_id", h->id);
		kml_data_i(o, "task_id", h->task_id);
		if (h->box_id)
			kml_data_i(o, "box_id", h->box_id);
		kml_data(o, "status", h->status);
		char p[32];
		snprintf(p, sizeof p, "%.6f", h->p_explosive);
		kml_data(o, "p_explosive", p);
		kml_data_i(o, "r95_mm", h->r95_mm);
		kml_data_i(o, "n_ind", h->n_ind);
		kml_data_i(o, "n_animals", h->n_animals);
		kml_data_i(o, "n_sessions", h->n_sessions);
		fputs("</ExtendedData><Point><coordinates>", o);
		kml_coord(o, h->lat_e7, h->lon_e7);
		fputs("</coordinates></Point></Placemark>\n", o);
	}
	fputs("</Folder>\n</Document>\n</kml>\n", o);
}

/* ---- GPX 1.1 -------------------------------------------------------------------------------------------- */

static void gpx_latlon(FILE *o, int32_t lat, int32_t lon)
{
	char a[AN_EXP_E7_LEN], b[AN_EXP_E7_LEN];
	an_exp__e7(a, lat);
	an_exp__e7(b, lon);
	fprintf(o, "lat=\"%s\" lon=\"%s\"", a, b);
}

static void write_gpx(FILE *o, const struct an_ex_data *d)
{
	char ts[AN_EXP_TIME_LEN];
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"scentrack %s\" "
	           "xmlns=\"http://www.topografix.com/GPX/1/1\" "
	           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	           "xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd\">\n",
	        an_version_string);
	fputs("<metadata><name>scentrack export</name>", o);
	if (d->has_bounds) {
		an_exp__time(ts, d->latest_ms);
		char a[AN_EXP_E7_LEN], b[AN_EXP_E7_LEN], c[AN_EXP_E7_LEN], e[AN_EXP_E7_LEN];
		an_exp__e7(a, d->min_lat_e7);
		an_exp__e7(b, d->min_lon_e7);
		an_exp__e7(c, d->max_lat_e7);
		an_exp__e7(e, d->max_lon_e7);
		fprintf(o, "<time>%s</time><bounds minlat=\"%s\" minlon=\"%s\" maxlat=\"%s\" maxlon=\"%s\"/>", ts, a, b, c,
		        e);
	}
	fputs("</metadata>\n", o);
	for (size_t i = 0; i < d->n_inds; i++) {
		const struct an_ex_ind *x = &d->inds[i];
		an_exp__time(ts, x->t_ms);
		fputs("<wpt ", o);
		gpx_latlon(o, x->lat_e7, x->lon_e7);
		fprintf(o, "><time>%s</time><name>ind-%u-%" PRIu32 "</name><desc>", ts, x->collar_id, x->rec_seq);
		if (x->animal_id)
			an_exp__xml_text(o, x->animal);
		else
			fprintf(o, "collar %u", x->collar_id);
		fprintf(o, ": %s (%s), review %s", an_ex__kind_name(x->kind), an_ex__src_name(x->src), x->review);
		if (x->has_hacc)
			fprintf(o, ", h_acc %" PRIu32 " mm", x->h_acc_mm);
		fputs("</desc><type>indication</type></wpt>\n", o);
	}
	for (size_t i = 0; i < d->n_hazards; i++) {
		const struct an_ex_hazard *h = &d->hazards[i];
		an_exp__time(ts, h->updated_ms);
		fputs("<wpt ", o);
		gpx_latlon(o, h->lat_e7, h->lon_e7);
		fprintf(o, "><time>%s</time><name>hazard-%" PRId64 "</name><desc>", ts, h->id);
		an_exp__xml_text(o, h->status);
		fprintf(o, ", P(explosive) %.6f, r95 %" PRIu32 " mm, %" PRIu32 " indications from %" PRIu32
		           " animals</desc><type>hazard_point</type></wpt>\n",
		        h->p_explosive, h->r95_mm, h->n_ind, h->n_animals);
	}
	for (size_t i = 0; i < d->n_sessions; i++) {
		const struct an_ex_session *s = &d->sessions[i];
		if (s->n_fix < 2)
			continue;
		fprintf(o, "<trk><name>session %" PRId64 " ", s->id);
		an_exp__xml_text(o, s->animal);
		fprintf(o, "</name><desc>animal %" PRId64 ", task %" PRId64 ", box %" PRId64 ", ", s->animal_id, s->task_id,
		        s->box_id);
		an_exp__xml_text(o, s->mode);
		fputs("</desc><type>track</type>\n<trkseg>\n", o);
		for (size_t k = 0; k < s->n_fix; k++) {
			const struct an_ex_fix *f = &d->fixes[s->first_fix + k];
			if (k > 0 && f->t_ms - d->fixes[s->first_fix + k - 1].t_ms > AN_EXPORT_GPX_GAP_MS)
				fputs("</trkseg>\n<trkseg>\n", o);
			an_exp__time(ts, f->t_ms);
			fputs("<trkpt ", o);
			gpx_latlon(o, f->lat_e7, f->lon_e7);
			fputc('>', o);
			if (f->has_alt) {
				char m[32];
				an_exp__mm(m, f->alt_mm);
				fprintf(o, "<ele>%s</ele>", m);
			}
			fprintf(o, "<time>%s</time>", ts);
			if (f->has_nsat)
				fprintf(o, "<sat>%u</sat>", f->nsat);
			if (f->has_hdop)
				fprintf(o, "<hdop>%u.%02u</hdop>", f->hdop_c / 100, f->hdop_c % 100);
			fputs("</trkpt>\n", o);
		}
		fputs("</trkseg>\n</trk>\n", o);
	}
	fputs("</gpx>\n", o);
}

/* ---- CSV (RFC 4180) ------------------------------------------------------------------------------------ */

#define CSV_COLS                                                                                             \
	"layer,id,lat,lon,t_utc,animal_id,animal,session_id,task_id,box_id,kind,source,duration_ms,"          \
	"confidence_pct,h_acc_mm,review,status,p_explosive,r95_mm,n_ind,n_animals,n_sessions"

static void csv_i(FILE *o, bool has, int64_t v)
{
	fputc(',', o);
	if (has)
		fprintf(o, "%" PRId64, v);
}

static void csv_s(FILE *o, const char *s)
{
	fputc(',', o);
	an_exp__csv_field(o, s);
}

static void write_csv(FILE *o, const struct an_ex_data *d)
{
	char a[AN_EXP_E7_LEN], b[AN_EXP_E7_LEN], ts[AN_EXP_TIME_LEN];
	fputs(CSV_COLS "\r\n", o);
	for (size_t i = 0; i < d->n_inds; i++) {
		const struct an_ex_ind *x = &d->inds[i];
		an_exp__e7(a, x->lat_e7);
		an_exp__e7(b, x->lon_e7);
		an_exp__time(ts, x->t_ms);
		fprintf(o, "indication,ind-%u-%" PRIu32 ",%s,%s,%s", x->collar_id, x->rec_seq, a, b, ts);
		csv_i(o, x->animal_id != 0, x->animal_id);
		csv_s(o, x->animal_id ? x->animal : NULL);
		csv_i(o, x->session_id != 0, x->session_id);
		csv_i(o, x->task_id != 0, x->task_id);
		csv_i(o, false, 0);
		csv_s(o, an_ex__kind_name(x->kind));
		csv_s(o, an_ex__src_name(x->src));
		csv_i(o, x->has_dur, x->dur_ms);
		csv_i(o, x->has_conf, x->conf_pct);
		csv_i(o, x->has_hacc, x->h_acc_mm);
		csv_s(o, x->review);
		fputs(",,,,,,\r\n", o); /* status, p, r95, n_ind, n_animals, n_sessions */
	}
	for (size_t i = 0; i < d->n_hazards; i++) {
		const struct an_ex_hazard *h = &d->hazards[i];
		an_exp__e7(a, h->lat_e7);
		an_exp__e7(b, h->lon_e7);
		an_exp__time(ts, h->updated_ms);
		fprintf(o, "hazard_point,hazard-%" PRId64 ",%s,%s,%s,,,", h->id, a, b, ts); /* no animal/session */
		csv_i(o, true, h->task_id);
		csv_i(o, h->box_id != 0, h->box_id);
		fputs(",,,,,,", o); /* kind, source, duration, confidence, h_acc, review */
		csv_s(o, h->status);
		fprintf(o, ",%.6f,%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 "\r\n", h->p_explosive, h->r95_mm, h->n_ind,
		        h->n_animals, h->n_sessions);
	}
}

int an_export_write(struct an_store *s, enum an_export_format fmt, const struct an_export_filter *f, FILE *out,
                    struct an_export_counts *counts, char *err, size_t errcap)
{
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (s == NULL || out == NULL || fmt < AN_EXPORT_GEOJSON || fmt > AN_EXPORT_CSV) {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "an_export_write: bad argument (GeoPackage goes through an_export_gpkg)");
		return -EINVAL;
	}
	struct an_ex_data d;
	int e = an_ex__load(s, f, &d, err, errcap);
	if (e < 0)
		return e;
	switch (fmt) {
	case AN_EXPORT_GEOJSON: write_geojson(out, &d); break;
	case AN_EXPORT_KML: write_kml(out, &d); break;
	case AN_EXPORT_GPX: write_gpx(out, &d); break;
	case AN_EXPORT_CSV: write_csv(out, &d); break;
	default: break;
	}
	if (counts != NULL) {
		memset(counts, 0, sizeof *counts);
		for (size_t i = 0; i < d.n_sessions; i++) {
			if (d.sessions[i].n_fix >= 2) {
				counts->tracks++;
				counts->track_points += d.sessions[i].n_fix;
			}
		}
		counts->indications = d.n_inds;
		counts->hazards = d.n_hazards;
	}
	an_ex__free(&d);
	if (fflush(out) != 0 || ferror(out)) {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "export: write error: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}
