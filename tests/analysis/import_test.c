/*
 * tests/analysis/import_test.c — clearance import: every row validated first, errors located by line and
 * column, nothing half-imported, idempotent re-import by natural key, CSV and JSON alike.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "an/export.h"
#include "an/import.h"
#include "formats/fixture.h"

static char db_path[256];
static struct an_store *st;
static struct fx F;

static void setup(void)
{
	snprintf(db_path, sizeof db_path, "/tmp/an_import_test_%d.db", (int)getpid());
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

TestSuite(an_import, .init = setup, .fini = teardown);

static int64_t count(const char *sql)
{
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(st), sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static int imp(const char *text, struct an_import_result *r, char *err)
{
	struct an_import_opts o = {AN_IMPORT_AUTO, "sheet.csv", "test", false, 0};
	return an_import_clearance(st, text, strlen(text), &o, r, err, AN_IMPORT_ERR_MAX);
}

#define HEAD "ref,task,box,date,result,lat,lon,sigma_m,depth_cm,device_type,team\n"
#define ROW1 "A1,Dombe task 7,B1,2024-01-05T08:00:00Z,AP mine,-19.0998500,34.8001200,0.05,12.5,PMN-2,Team 3\n"
#define ROW2 "A2,1,B1,2024-01-05,scrap metal,-19.0998100,34.8001100,,,\"wire, \"\"bent\"\"\",Team 3\n"

Test(an_import, good_csv_then_reimport_is_idempotent)
{
	struct an_import_result r;
	char err[AN_IMPORT_ERR_MAX];
	int64_t before = count("SELECT count(*) FROM clearance_results");
	cr_assert_eq(imp(HEAD ROW1 ROW2, &r, err), 0, "%s", err);
	cr_expect(r.rows == 2 && r.inserted == 2 && r.duplicates == 0);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results"), before + 2);
	cr_expect_eq(count("SELECT depth_mm FROM clearance_results WHERE device_type = 'PMN-2' ORDER BY id DESC"), 125);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results WHERE device_type = 'wire, \"bent\"'"), 1);
	cr_expect_eq(count("SELECT pos_err_mm FROM clearance_results ORDER BY id DESC LIMIT 1 OFFSET 1"), 50);
	cr_expect_eq(count("SELECT count(*) FROM clearance_import WHERE natural_key = 'ref:A1' AND box_id = 1"), 1);
	cr_expect_eq(count("SELECT count(*) FROM audit_log WHERE action = 'import_clearance'"), 1);
	/* again: both duplicates, nothing stored, still one audit row more (the attempt is recorded) */
	cr_assert_eq(imp(HEAD ROW2 ROW1, &r, err), 0, "%s", err);
	cr_expect(r.inserted == 0 && r.duplicates == 2);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results"), before + 2);
	/* a row repeated inside one file is one item */
	cr_assert_eq(imp(HEAD "B9,1,,2024-01-06T00:00:00Z,nothing,-19.0999,34.8001,,,,\n"
	                      "B9,1,,2024-01-06T00:00:00Z,nothing,-19.0999,34.8001,,,,\n", &r, err), 0, "%s", err);
	cr_expect(r.inserted == 1 && r.duplicates == 1);
}

Test(an_import, changed_row_with_stored_key_is_refused)
{
	struct an_import_result r;
	char err[AN_IMPORT_ERR_MAX];
	cr_assert_eq(imp(HEAD ROW1, &r, err), 0, "%s", err);
	int64_t before = count("SELECT count(*) FROM clearance_results");
	const char *changed = HEAD ROW2 "A1,1,B1,2024-01-05T08:00:00Z,AP mine,-19.0998500,34.8001200,0.05,15,PMN-2,Team 3\n";
	cr_expect_eq(imp(changed, &r, err), -EEXIST);
	cr_expect(strstr(err, "sheet.csv:3:1:") != NULL && strstr(err, "ref:A1") != NULL &&
	          strstr(err, "depth_mm 125 vs 150") != NULL, "%s", err);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results"), before, "A2 must not be stored either");
}

struct bad {
	const char *text;
	int code;
	const char *where; /* "line:col:" */
	const char *words;
};

Test(an_import, bad_rows_are_located_and_nothing_is_stored)
{
	static const struct bad cases[] = {
		{HEAD ROW1 "A3,1,B1,2024-01-05T08:00:00,uxo,-19.1,34.8,,,,\n", -EINVAL, ":3:4:", "zone"},
		{HEAD ROW1 "A3,1,B1,2023-02-29,uxo,-19.1,34.8,,,,\n", -EINVAL, ":3:4:", "no such calendar date"},
		{HEAD ROW1 "A3,1,B1,2024-01-05,bomb,-19.1,34.8,,,,\n", -EINVAL, ":3:5:", "not a result class"},
		{HEAD ROW1 "A3,1,B1,2024-01-05,uxo,-91,34.8,,,,\n", -EINVAL, ":3:6:", "outside -90..90"},
		{HEAD ROW1 "A3,1,B1,2024-01-05,uxo,,,,,,\n", -EINVAL, ":3:", "position"},
		{HEAD ROW1 "A3,1,B7,2024-01-05,uxo,-19.1,34.8,,,,\n", -ENOENT, ":3:3:", "no box 'B7'"},
		{HEAD ROW1 "A3,nowhere,B1,2024-01-05,uxo,-19.1,34.8,,,,\n", -ENOENT, ":3:2:", "no task"},
		{HEAD ROW1 "A3,1,B1,2024-01-05,uxo,-19.1,34.8\n", -EINVAL, ":3:8:", "7 fields, the header has 11"},
		{HEAD ROW1 "A3,1,B1,2024-01-05,uxo,-19.1,34.8,,,\"open quote,\n", -EINVAL, ":3:10:", "not closed"},
		{"ref,task,date,result,lat,lon,colour\n", -EINVAL, ":1:7:", "unknown column 'colour'"},
		{"ref,task,date,lat,lon\n", -EINVAL, ":1:1:", "no 'result' column"},
		/* a quoted field with a newline: the next record starts on line 4 */
		{HEAD "A1,1,B1,2024-01-05,uxo,-19.1,34.8,,,\"two\nlines\",T\nA2,1,B1,2024-01-05,uxo,-19.1,xx,,,,\n", -EINVAL,
		 ":4:7:", "'lon'"},
		{"[{\"task\": 1, \"date\": \"2024-01-05\", \"result\": \"uxo\", \"lat\": -19.1, \"lon\": 34.8},\n"
		 " {\"task\": 1, \"date\": \"2024-01-05\", \"result\": \"uxo\", \"lat\": -19.1, \"lon\": 34.8, \"x_mm\": 1,"
		 " \"y_mm\": 2}]", -EINVAL, ":2:", "not both"},
		{"[{\"task\": 1, \"colour\": \"red\"}]", -EINVAL, ":1:14:", "unknown field 'colour'"},
		{"[{\"task\": 1, \"date\": \"2024-01-05\", \"result\": \"uxo\", \"lat\": -19.1, \"lon\": 34.8}", -EINVAL, ":1:",
		 "',' or ']'"},
		{"[{\"task\": {\"id\": 1}}]", -EINVAL, ":1:11:", "nested"},
	};
	int64_t before = count("SELECT count(*) FROM clearance_results");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct an_import_result r;
		char err[AN_IMPORT_ERR_MAX];
		int rc = imp(cases[i].text, &r, err);
		cr_expect_eq(rc, cases[i].code, "case %zu: rc %d: %s", i, rc, err);
		cr_expect(strstr(err, cases[i].where) != NULL && strstr(err, cases[i].words) != NULL,
		          "case %zu: '%s' lacks '%s' or '%s'", i, err, cases[i].where, cases[i].words);
		cr_expect(strstr(err, "nothing imported") != NULL, "case %zu: %s", i, err);
		cr_expect_eq(count("SELECT count(*) FROM clearance_results"), before, "case %zu stored rows", i);
	}
}

Test(an_import, json_xy_offsets_and_dry_run)
{
	struct an_import_result r;
	char err[AN_IMPORT_ERR_MAX];
	const char *js = "{\"clearance_results\": [\n"
	                 "  {\"task\": \"1\", \"date\": \"2024-01-02T03:04:05.678+02:00\", \"result\": \"other-ERW\",\n"
	                 "   \"x_mm\": 12345, \"y_mm\": -6789, \"pos_err_mm\": 30, \"depth_mm\": 40,\n"
	                 "   \"team\": \"J\\u00f6rg \\\"J\\\"\", \"device_type\": null}\n]}";
	struct an_import_opts o = {AN_IMPORT_AUTO, "c.json", NULL, true, 0};
	int64_t before = count("SELECT count(*) FROM clearance_results");
	cr_assert_eq(an_import_clearance(st, js, strlen(js), &o, &r, err, sizeof err), 0, "%s", err);
	cr_expect(r.rows == 1 && r.inserted == 0);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results"), before, "dry run writes nothing");
	o.dry_run = false;
	cr_assert_eq(an_import_clearance(st, js, strlen(js), &o, &r, err, sizeof err), 0, "%s", err);
	cr_expect_eq(r.inserted, 1);
	cr_expect_eq(count("SELECT x_mm FROM clearance_results ORDER BY id DESC LIMIT 1"), 12345, "x/y kept exactly");
	cr_expect_eq(count("SELECT y_mm FROM clearance_results ORDER BY id DESC LIMIT 1"), -6789);
	cr_expect_eq(count("SELECT date_ms FROM clearance_results ORDER BY id DESC LIMIT 1"), 1704157445678ll);
	cr_expect_eq(count("SELECT count(*) FROM clearance_results WHERE result = 'other_erw' AND team = 'J\xc3\xb6rg \"J\"'"
	                   " AND device_type IS NULL AND depth_mm = 40"), 1);
}

Test(an_import, result_class_aliases_and_times)
{
	int c;
	cr_expect(an_import_result_class(" AP-Mine ", &c) == 0 && c == AN_CLR_AP_MINE);
	cr_expect(an_import_result_class("Nothing found", &c) == 0 && c == AN_CLR_NOTHING);
	cr_expect(an_import_result_class("not accessible", &c) == 0 && c == AN_CLR_NOT_ACCESSIBLE);
	cr_expect_eq(an_import_result_class("mine?", &c), -EINVAL);
	int64_t t;
	const char *why;
	cr_expect(an_export_parse_time("1970-01-01", &t, &why) == 0 && t == 0);
	cr_expect(an_export_parse_time("2024-02-29T23:59:59.999Z", &t, &why) == 0 && t == 1709251199999ll);
	cr_expect(an_export_parse_time("2024-03-01T01:00:00+01:00", &t, &why) == 0 && t == 1709251200000ll);
	cr_expect(an_export_parse_time("1969-12-31T23:59:59Z", &t, &why) == 0 && t == -1000);
	cr_expect_eq(an_export_parse_time("2024-03-01T01:00", &t, &why), -EINVAL);
	cr_expect(strstr(why, "zone") != NULL);
	cr_expect_eq(an_export_parse_time("2023-02-29", &t, &why), -EINVAL);
	cr_expect_eq(an_export_parse_time("2024-03-01T24:00:00Z", &t, &why), -EINVAL);
	cr_expect_eq(an_export_parse_time("2024-03-01Z", &t, &why), -EINVAL);
}
