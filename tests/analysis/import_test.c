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

/* ---- calibration records (an_import_calibration) ------------------------------------------------------- */

struct bad_lines {
	unsigned long line[16];
	char field[16][32];
	char why[16][256];
	size_t n;
};

static void on_bad(void *ctx, unsigned long line, const char *field, const char *why)
{
	struct bad_lines *b = ctx;
	cr_assert_lt(b->n, 16);
	b->line[b->n] = line;
	snprintf(b->field[b->n], sizeof b->field[0], "%s", field ? field : "");
	snprintf(b->why[b->n], sizeof b->why[0], "%s", why);
	b->n++;
}

static int imp_cal(const char *text, struct an_import_result *r, struct bad_lines *b, bool dry)
{
	struct an_import_opts o = {AN_IMPORT_CSV, "cal.csv", "trainer", dry, 0};
	char err[AN_IMPORT_ERR_MAX];
	memset(b, 0, sizeof *b);
	return an_import_calibration(st, text, strlen(text), &o, r, on_bad, b, err, sizeof err);
}

#define CHEAD "Animal,as_of,hits,misses,false_inds,area_m2,source,note\n"

Test(an_import, calibration_good_file_then_reimport_and_record_in_force)
{
	struct an_import_result r;
	struct bad_lines b;
	char text[1024];
	/* by name and by id, a quoted note with a comma, an offset time, a comment and a blank line */
	snprintf(text, sizeof text,
	         CHEAD "Magawa,2024-01-01,40,4,2,1200.5,accreditation,\"NTSA, blind\"\n"
	               "# later the same year\n\n"
	               "%lld,2024-06-30T18:00:00+02:00,130,12,7,3400,Training,\n",
	         (long long)F.magawa);
	cr_assert_eq(imp_cal(text, &r, &b, true), 0);
	cr_expect(r.rows == 2 && r.inserted == 0, "dry run writes nothing");
	cr_expect_eq(count("SELECT count(*) FROM calibrations"), 0);
	cr_assert_eq(imp_cal(text, &r, &b, false), 0, "%s", b.n ? b.why[0] : "");
	cr_expect(r.rows == 2 && r.inserted == 2 && r.duplicates == 0);
	struct an_store_calibration c;
	cr_assert_eq(an_store_calibration_latest(st, F.magawa, &c), 0);
	cr_expect_eq(c.hits, 130);
	cr_expect_eq(c.as_of_ms, 1719763200000ll); /* 2024-06-30T16:00:00Z */
	cr_expect_eq(c.source, AN_CALIB_TRAINING);
	cr_expect_eq(count("SELECT count(*) FROM calibrations WHERE note = 'NTSA, blind' AND area_m2 = 1200.5"), 1);
	cr_expect_eq(count("SELECT count(*) FROM audit_log WHERE action = 'calibration_add' AND who = 'trainer'"), 1);
	cr_assert_eq(imp_cal(text, &r, &b, false), 0);
	cr_expect(r.inserted == 0 && r.duplicates == 2, "re-import is idempotent");
	cr_expect_eq(count("SELECT count(*) FROM calibrations"), 2);
}

Test(an_import, calibration_every_bad_line_is_reported_and_nothing_stored)
{
	struct an_import_result r;
	struct bad_lines b;
	cr_assert_eq(imp_cal(CHEAD "Magawa,2024-01-01,40,4,2,1200,training,\n", &r, &b, false), 0);
	const char *text = CHEAD
		"Magawa,2024-02-01,41,4,2,1300,training,ok\n"          /* 2: good */
		"Nobody,2024-02-01,1,0,0,10,training,\n"               /* 3: unknown animal */
		"Magawa,2024-02-01T10:00,1,0,0,10,training,\n"         /* 4: time without zone */
		"Magawa,2024-02-02,-3,0,0,10,training,\n"              /* 5: negative count */
		"Magawa,2024-02-03,1,0,0,lots,training,\n"             /* 6: area */
		"Magawa,2024-02-04,1,0,0,10,exam,\n"                   /* 7: source */
		"Magawa,2024-02-05,1,0\n"                              /* 8: field count */
		"Magawa,2024-01-01,39,4,2,1200,training,\n"            /* 9: stored key, other counts */
		"Magawa,2024-02-01,42,4,2,1300,training,\n"            /* 10: key of line 2, other counts */
		"Magawa,2024-02-06,0,0,0,0,training,\n"                /* 11: empty record */
		"Magawa,2024-02-07,,0,0,10,training,\n";               /* 12: empty required field */
	int64_t before = count("SELECT count(*) FROM calibrations");
	cr_expect_eq(imp_cal(text, &r, &b, false), -EINVAL);
	static const unsigned long want[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	static const char *const fields[] = {"animal", "as_of", "hits", "area_m2", "source", "", "", "", "", "hits"};
	cr_assert_eq(b.n, 10, "%zu reports", b.n);
	for (size_t i = 0; i < 10; i++) {
		cr_expect_eq(b.line[i], want[i], "report %zu: line %lu", i, b.line[i]);
		cr_expect_str_eq(b.field[i], fields[i], "line %lu", b.line[i]);
	}
	cr_expect(strstr(b.why[6], "later as_of") != NULL, "%s", b.why[6]);
	cr_expect(strstr(b.why[7], "line 2") != NULL, "%s", b.why[7]);
	cr_expect_eq(r.bad_rows, 10);
	cr_expect_eq(r.err_line, 3);
	cr_expect_eq(count("SELECT count(*) FROM calibrations"), before, "all or nothing");
	/* a header without a required column is one error, on line 1 */
	cr_expect_eq(imp_cal("animal,as_of,hits,misses,false_inds,source\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && b.line[0] == 1 && strstr(b.why[0], "area_m2") != NULL);
	cr_expect_eq(imp_cal("animal,as_of,hits,misses,false_inds,area_m2,source,colour\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "colour") != NULL);
	cr_expect_eq(imp_cal("", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "header") != NULL);
}

/* ---- the data recorder's box positions (an_import_boxpos) ---------------------------------------------- */

static int imp_bp(const char *text, struct an_import_result *r, struct bad_lines *b, bool dry)
{
	struct an_import_opts o = {AN_IMPORT_CSV, "sheet.csv", "recorder", dry, 0};
	char err[AN_IMPORT_ERR_MAX];
	memset(b, 0, sizeof *b);
	return an_import_boxpos(st, text, strlen(text), &o, r, on_bad, b, err, sizeof err);
}

/* Both ways of naming the indication, the default sd, a dry run, a re-import (duplicates), a correction. */
Test(an_import, boxpos_good_sheet_reimport_and_correction)
{
	struct an_import_result r;
	struct bad_lines b;
	const char *text = "Collar,REC_SEQ,lane,along_m,sd_m\n"
	                   "12,345,17,8.5,0.15\n"
	                   "# the dog's pegs\n\n"
	                   "12,346,3,0,\n";
	cr_assert_eq(imp_bp(text, &r, &b, true), 0, "%s", b.n ? b.why[0] : "");
	cr_expect(r.rows == 2 && r.inserted == 0, "dry run writes nothing");
	cr_expect_eq(count("SELECT count(*) FROM indication_boxpos"), 0);
	cr_assert_eq(imp_bp(text, &r, &b, false), 0, "%s", b.n ? b.why[0] : "");
	cr_expect(r.rows == 2 && r.inserted == 2 && r.duplicates == 0);
	struct an_store_boxpos e;
	cr_assert_eq(an_store_boxpos_latest(st, 12, 345, &e), 0);
	cr_expect(e.lane == 17 && e.along_mm == 8500 && e.sd_mm == 150);
	cr_assert_eq(an_store_boxpos_latest(st, 12, 346, &e), 0);
	cr_expect_eq(e.sd_mm, AN_IMPORT_BOXPOS_SD_DEFAULT_MM, "an empty sd_m is the default");
	cr_expect_eq(count("SELECT count(*) FROM audit_log WHERE action = 'boxpos_add' AND who = 'recorder'"), 1);
	cr_assert_eq(imp_bp(text, &r, &b, false), 0);
	cr_expect(r.inserted == 0 && r.duplicates == 2, "re-import is idempotent");
	cr_assert_eq(imp_bp("indication,lane,along_m\n12-345,18,8.4\n", &r, &b, false), 0);
	cr_expect_eq(r.inserted, 1);
	cr_assert_eq(an_store_boxpos_latest(st, 12, 345, &e), 0);
	cr_expect(e.lane == 18 && e.along_mm == 8400 && e.sd_mm == AN_IMPORT_BOXPOS_SD_DEFAULT_MM, "the correction");
	cr_expect_eq(count("SELECT count(*) FROM indication_boxpos"), 3);
}

Test(an_import, boxpos_every_bad_line_is_reported_and_nothing_stored)
{
	struct an_import_result r;
	struct bad_lines b;
	const char *text = "collar,rec_seq,lane,along_m,sd_m\n"
	                   "1,15,0,1.0,0.1\n"          /* 2: good */
	                   "0,15,0,1.0,0.1\n"          /* 3: collar 0 */
	                   "1,x,0,1.0,0.1\n"           /* 4: rec_seq */
	                   "1,16,-1,1.0,0.1\n"         /* 5: lane */
	                   "1,17,2,ten,0.1\n"          /* 6: along */
	                   "1,18,2,1.0,20\n"           /* 7: sd beyond 10 m */
	                   "1,19,2\n"                  /* 8: field count */
	                   "1,20,,1.0,0.1\n";          /* 9: empty lane */
	cr_expect_eq(imp_bp(text, &r, &b, false), -EINVAL);
	static const unsigned long want[] = {3, 4, 5, 6, 7, 8, 9};
	static const char *const fields[] = {"collar", "rec_seq", "lane", "along_m", "sd_m", "", "lane"};
	cr_assert_eq(b.n, 7, "%zu reports", b.n);
	for (size_t i = 0; i < 7; i++) {
		cr_expect_eq(b.line[i], want[i], "report %zu: line %lu", i, b.line[i]);
		cr_expect_str_eq(b.field[i], fields[i], "line %lu", b.line[i]);
	}
	cr_expect_eq(r.bad_rows, 7);
	cr_expect_eq(r.err_line, 3);
	cr_expect_eq(count("SELECT count(*) FROM indication_boxpos"), 0, "all or nothing");
	/* headers: the indication named twice, or not at all, or an unknown column: one error on line 1 */
	cr_expect_eq(imp_bp("indication,collar,rec_seq,lane,along_m\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && b.line[0] == 1 && strstr(b.why[0], "use one") != NULL, "%s", b.why[0]);
	cr_expect_eq(imp_bp("collar,lane,along_m\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "rec_seq") != NULL, "%s", b.why[0]);
	cr_expect_eq(imp_bp("lane,along_m\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "indication") != NULL, "%s", b.why[0]);
	cr_expect_eq(imp_bp("indication,lane,along_m,peg\n", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "peg") != NULL, "%s", b.why[0]);
	cr_expect_eq(imp_bp("", &r, &b, false), -EINVAL);
	cr_expect(b.n == 1 && strstr(b.why[0], "header") != NULL);
}
