/*
 * analysis/tools/cmd_export.c — `scentrack export`: the store as GeoJSON, KML, GPX, CSV or GeoPackage
 * (an/export.h has the formats and the determinism guarantee).
 */
#define _POSIX_C_SOURCE 200809L /* getopt_long */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "an/export.h"
#include "an/store.h"
#include "scentrack_cmd.h"

#define DB_DEFAULT "/var/lib/scentrack/scentrack.db"

static void help(FILE *f)
{
	fprintf(f,
		"usage: scentrack export --format geojson|kml|gpx|csv|gpkg [--db PATH] [--from UTC] [--to UTC]\n"
		"                        [--animal ID|NAME] [--task ID|NAME] [--check] [-o FILE]\n"
		"\n"
		"Write tracks (one per session), indications and hazard points in WGS84 (lon/lat):\n"
		"  geojson  RFC 7946 FeatureCollection (LineString tracks, Point indications/hazard points;\n"
		"           property \"layer\" tells which)\n"
		"  kml      KML 2.2: folders tracks / indications / hazard_points, styled by review status and by\n"
		"           hazard status and P(explosive)\n"
		"  gpx      GPX 1.1: a waypoint per indication and hazard point, a track per session (a new segment\n"
		"           after a gap of more than %d s)\n"
		"  csv      RFC 4180 (CRLF): indications and hazard points, lat/lon in EPSG:4326\n"
		"  gpkg     OGC GeoPackage 1.3 with layers tracks, indications, hazard_points and QGIS default\n"
		"           styles (layer_styles); needs -o\n"
		"Output goes to stdout (gpkg: to FILE only). The same store and options give byte-identical files.\n"
		"\n"
		"options:\n"
		"  --db PATH        the store (default: $SCENTRACK_DB, else " DB_DEFAULT "); opened read-only\n"
		"  --from/--to UTC  ISO 8601 UTC (2024-05-01 or 2024-05-01T06:00:00Z): fixes and indications with\n"
		"                   from <= time < to, hazard points created in that interval\n"
		"  --animal ID      one animal (id or name): its sessions' tracks and indications, and hazard points\n"
		"                   it gave indication evidence to\n"
		"  --task ID        one task (id or name)\n"
		"  --check          run PRAGMA quick_check on the store first (the daemon does at every start)\n"
		"  -o, --output F   write to F (for text formats: via F.tmp, renamed when complete)\n"
		"  -h, --help       this text\n"
		"\n"
		"examples:\n"
		"  scentrack export --db field.db --format geojson --task 'Dombe task 7' > task7.geojson\n"
		"  scentrack export --db field.db --format gpkg --from 2024-05-01 --to 2024-05-02 -o day.gpkg\n"
		"\n"
		"exit status: 0 ok, 64 usage, 65 unknown animal/task, 66 store cannot be opened, 74 write error.\n",
		AN_EXPORT_GPX_GAP_MS / 1000);
}

/* id or name → id (0 with a message when unknown). */
static int64_t resolve(struct an_store *s, const char *table, const char *txt)
{
	char *end;
	long long v = strtoll(txt, &end, 10);
	if (*end == '\0' && v > 0)
		return v;
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE name = ?1 ORDER BY id", table);
	sqlite3_stmt *st;
	int64_t id = 0;
	int n = 0;
	if (sqlite3_prepare_v2(an_store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, txt, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			n++;
		}
		sqlite3_finalize(st);
	}
	if (n != 1) {
		fprintf(stderr, "scentrack export: %s '%s' %s\n", table, txt,
		        n == 0 ? "does not exist" : "is ambiguous (use the id)");
		return 0;
	}
	return id;
}

int scentrack_cmd_export(int argc, char **argv)
{
	static const struct option lo[] = {
		{"db", required_argument, NULL, 'd'},   {"format", required_argument, NULL, 'f'},
		{"from", required_argument, NULL, 'F'}, {"to", required_argument, NULL, 'T'},
		{"animal", required_argument, NULL, 'a'}, {"task", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'}, {"check", no_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	const char *db = getenv("SCENTRACK_DB"), *out = NULL, *animal = NULL, *task = NULL;
	enum an_export_format fmt = 0;
	struct an_export_filter flt = {false, false, 0, 0, 0, 0};
	bool check = false;
	const char *why;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'f':
			if (an_export_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "scentrack export: --format must be geojson, kml, gpx, csv or gpkg\n");
				return EX_USAGE;
			}
			break;
		case 'F':
		case 'T':
			if (an_export_parse_time(optarg, c == 'F' ? &flt.from_ms : &flt.to_ms, &why) < 0) {
				fprintf(stderr, "scentrack export: --%s '%s': %s\n", c == 'F' ? "from" : "to", optarg, why);
				return EX_USAGE;
			}
			*(c == 'F' ? &flt.has_from : &flt.has_to) = true;
			break;
		case 'a': animal = optarg; break;
		case 't': task = optarg; break;
		case 'o': out = optarg; break;
		case 'c': check = true; break;
		case 'h': help(stdout); return fflush(stdout) == 0 ? 0 : EX_IOERR;
		default: fprintf(stderr, "scentrack export: try 'scentrack export --help'\n"); return EX_USAGE;
		}
	}
	if (optind != argc || fmt == 0) {
		fprintf(stderr, "scentrack export: %s (try 'scentrack export --help')\n",
		        fmt == 0 ? "--format is required" : "unexpected argument");
		return EX_USAGE;
	}
	if (fmt == AN_EXPORT_GPKG && out == NULL) {
		fprintf(stderr, "scentrack export: a GeoPackage is a database file: give -o FILE.gpkg\n");
		return EX_USAGE;
	}
	if (flt.has_from && flt.has_to && flt.to_ms <= flt.from_ms) {
		fprintf(stderr, "scentrack export: --to must be after --from\n");
		return EX_USAGE;
	}
	if (db == NULL || db[0] == '\0')
		db = DB_DEFAULT;
	struct an_store *s;
	char err[AN_EXPORT_ERR_MAX];
	int e = an_store_open(db, AN_STORE_READONLY | (check ? 0 : AN_STORE_CHECK_NONE), &s, err, sizeof err);
	if (e < 0) {
		fprintf(stderr, "scentrack export: %s\n", err);
		return e == -EBADMSG ? EX_DATAERR : EX_NOINPUT;
	}
	int rc = 0;
	if ((animal != NULL && (flt.animal_id = resolve(s, "animals", animal)) == 0) ||
	    (task != NULL && (flt.task_id = resolve(s, "tasks", task)) == 0)) {
		rc = EX_DATAERR;
		goto out;
	}
	struct an_export_counts cnt;
	if (fmt == AN_EXPORT_GPKG) {
		e = an_export_gpkg(s, &flt, out, &cnt, err, sizeof err);
	} else if (out == NULL) {
		e = an_export_write(s, fmt, &flt, stdout, &cnt, err, sizeof err);
	} else {
		size_t l = strlen(out) + 8;
		char *tmp = malloc(l);
		FILE *f = tmp != NULL ? (snprintf(tmp, l, "%s.tmp", out), fopen(tmp, "wb")) : NULL;
		if (f == NULL) {
			snprintf(err, sizeof err, "cannot create %s.tmp: %s", out, strerror(errno));
			e = -EIO;
		} else {
			e = an_export_write(s, fmt, &flt, f, &cnt, err, sizeof err);
			if (fclose(f) != 0 && e == 0) {
				snprintf(err, sizeof err, "closing %s: %s", tmp, strerror(errno));
				e = -EIO;
			}
			if (e == 0 && rename(tmp, out) != 0) {
				snprintf(err, sizeof err, "rename %s: %s", tmp, strerror(errno));
				e = -EIO;
			}
			if (e < 0)
				remove(tmp);
		}
		free(tmp);
	}
	if (e < 0) {
		fprintf(stderr, "scentrack export: %s\n", err);
		rc = e == -ENOMEM ? EX_SOFTWARE : EX_IOERR;
	} else {
		fprintf(stderr, "scentrack export: %zu tracks (%zu points), %zu indications, %zu hazard points\n",
		        cnt.tracks, cnt.track_points, cnt.indications, cnt.hazards);
	}
out:
	an_store_close(s);
	return rc;
}
