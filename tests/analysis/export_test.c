/*
 * tests/analysis/export_test.c — the writers through the public API on the fixture store: escaping in every
 * format, lon/lat order, RFC 4180 bytes, filters, determinism (byte-identical twice, GeoPackage included).
 * The full judges (ogrinfo, xmllint + XSDs, python csv/json) run in formats/check_exports.py.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/export.h"
#include "formats/fixture.h"

static char db_path[256];
static struct an_store *st;
static struct fx F;

static void setup(void)
{
	snprintf(db_path, sizeof db_path, "/tmp/an_export_test_%d.db", (int)getpid());
	unlink(db_path);
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &st, err, sizeof err), 0, "%s", err);
	cr_assert_eq(fx_build(st, &F), 0, "%s", F.err);
}

static void teardown(void)
{
	an_store_close(st);
	char p[300];
	unlink(db_path);
	snprintf(p, sizeof p, "%s-wal", db_path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", db_path);
	unlink(p);
}

TestSuite(an_export, .init = setup, .fini = teardown);

static char *out(enum an_export_format f, const struct an_export_filter *flt, struct an_export_counts *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char err[AN_EXPORT_ERR_MAX];
	int rc = an_export_write(st, f, flt, m, c, err, sizeof err);
	fclose(m);
	cr_assert_eq(rc, 0, "%s", err);
	return buf;
}

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

Test(an_export, every_format_escapes_the_awkward_name)
{
	char *j = out(AN_EXPORT_GEOJSON, NULL, NULL), *k = out(AN_EXPORT_KML, NULL, NULL), *c = out(AN_EXPORT_CSV, NULL, NULL);
	cr_expect_eq(occurrences(j, "\"animal\":\"Ratty \\\"Q\\\" <&>, \xc3\xa9\""), 3);
	cr_expect(strstr(k, "Ratty &quot;Q&quot; &lt;&amp;&gt;, \xc3\xa9") != NULL);
	cr_expect(strstr(k, "Ratty \"Q\"") == NULL, "raw quote in KML");
	cr_expect_eq(occurrences(c, ",\"Ratty \"\"Q\"\" <&>, \xc3\xa9\","), 2);
	free(j);
	free(k);
	free(c);
}

Test(an_export, geojson_is_lon_lat_and_counts)
{
	struct an_export_counts cnt;
	char *j = out(AN_EXPORT_GEOJSON, NULL, &cnt);
	cr_expect(cnt.tracks == 3 && cnt.track_points == 28 && cnt.indications == 11 && cnt.hazards == 1);
	cr_expect(strncmp(j, "{\"type\":\"FeatureCollection\",\"features\":[", 40) == 0);
	cr_expect(strstr(j, "\"coordinates\":[34.80") != NULL, "longitude first (RFC 7946)");
	cr_expect(strstr(j, "\"coordinates\":[-19.") == NULL && strstr(j, "[[-19.") == NULL, "no latitude first");
	cr_expect_eq(occurrences(j, "\"layer\":\"indication\""), 11);
	free(j);
}

Test(an_export, csv_is_rfc4180)
{
	char *c = out(AN_EXPORT_CSV, NULL, NULL);
	size_t lines = occurrences(c, "\r\n");
	cr_expect_eq(lines, 1 + 11 + 1, "header + indications + hazard");
	for (const char *p = c; *p; p++)
		cr_assert(*p != '\n' || (p > c && p[-1] == '\r'), "bare LF at %td", p - c);
	cr_expect(strncmp(c, "layer,id,lat,lon,t_utc,", 23) == 0);
	free(c);
}

Test(an_export, filters_select)
{
	struct an_export_filter f = {false, false, 0, 0, F.ratty, 0};
	struct an_export_counts cnt;
	free(out(AN_EXPORT_GEOJSON, &f, &cnt));
	cr_expect(cnt.tracks == 1 && cnt.indications == 2 && cnt.hazards == 0, "Ratty: %zu %zu %zu", cnt.tracks,
	          cnt.indications, cnt.hazards);
	struct an_export_filter t = {true, true, FX_T0, FX_T0 + 3600000, 0, 0};
	free(out(AN_EXPORT_GPX, &t, &cnt));
	cr_expect(cnt.tracks == 1 && cnt.track_points == 20 && cnt.indications == 7 && cnt.hazards == 0);
	struct an_export_filter none = {false, false, 0, 0, 0, 999};
	char *j = out(AN_EXPORT_GEOJSON, &none, &cnt);
	cr_expect_str_eq(j, "{\"type\":\"FeatureCollection\",\"features\":[\n]}\n");
	free(j);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

Test(an_export, deterministic_twice_including_geopackage)
{
	for (int f = AN_EXPORT_GEOJSON; f <= AN_EXPORT_CSV; f++) {
		char *a = out((enum an_export_format)f, NULL, NULL), *b = out((enum an_export_format)f, NULL, NULL);
		cr_expect_str_eq(a, b, "format %d", f);
		free(a);
		free(b);
	}
	char p1[300], p2[300], err[AN_EXPORT_ERR_MAX];
	snprintf(p1, sizeof p1, "%s.1.gpkg", db_path);
	snprintf(p2, sizeof p2, "%s.2.gpkg", db_path);
	cr_assert_eq(an_export_gpkg(st, NULL, p1, NULL, err, sizeof err), 0, "%s", err);
	cr_assert_eq(an_export_gpkg(st, NULL, p2, NULL, err, sizeof err), 0, "%s", err);
	size_t l1, l2;
	char *a = slurp(p1, &l1), *b = slurp(p2, &l2);
	cr_expect(l1 == l2 && memcmp(a, b, l1) == 0, "GeoPackage bytes differ");
	cr_expect(memcmp(a, "SQLite format 3", 15) == 0);
	cr_expect(memcmp(a + 68, "GPKG", 4) == 0, "application_id at offset 68");
	free(a);
	free(b);
	unlink(p1);
	unlink(p2);
	cr_expect_eq(an_export_gpkg(st, NULL, "/nonexistent-dir/x.gpkg", NULL, err, sizeof err), -EIO);
	cr_expect(strstr(err, "/nonexistent-dir/x.gpkg.tmp") != NULL, "%s", err);
}

Test(an_export, format_names)
{
	enum an_export_format f;
	cr_expect(an_export_format_parse("GeoJSON", &f) == 0 && f == AN_EXPORT_GEOJSON);
	cr_expect(an_export_format_parse("gpkg", &f) == 0 && f == AN_EXPORT_GPKG);
	cr_expect_eq(an_export_format_parse("shp", &f), -EINVAL);
	FILE *n = fopen("/dev/null", "w");
	char err[AN_EXPORT_ERR_MAX];
	cr_expect_eq(an_export_write(st, AN_EXPORT_GPKG, NULL, n, NULL, err, sizeof err), -EINVAL);
	fclose(n);
}
