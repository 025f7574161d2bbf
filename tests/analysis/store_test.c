/*
 * tests/analysis/store_test.c — the core store: open/create/migrate, refusal of newer and foreign files,
 * integrity failure on a corrupted copy, batch ingest with dedupe (within a batch, across batches, across
 * types and gateways), gw_seq bookkeeping atomic with the records (a child killed with SIGKILL inside the
 * transaction), placement in the task frame, queries, hazard lifecycle, clearance results.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an/hazard.h"
#include "an/store.h"

/* ---- fixture: a fresh directory per test ------------------------------------------------------------- */

static char dir[256];
static char db_path[300];

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/tmp-store-XXXXXX", SCENTRACK_BINARY_DIR);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
	snprintf(db_path, sizeof db_path, "%s/core.db", dir);
}

static void rm_db(const char *path)
{
	char p[320];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static char copy_path[300];

static void teardown(void)
{
	rm_db(db_path);
	if (copy_path[0] != '\0')
		rm_db(copy_path);
	rmdir(dir);
}

TestSuite(an_store, .init = setup, .fini = teardown);

static int64_t fake_now = 1700000000000;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static struct an_store *open_store(unsigned flags)
{
	struct an_store *s = NULL;
	char err[AN_STORE_ERRMSG_MAX];
	int rc = an_store_open(db_path, flags, &s, err, sizeof err);
	cr_assert_eq(rc, 0, "open: %d %s", rc, err);
	an_store_set_clock(s, fake_clock, NULL);
	return s;
}

static int64_t count(struct an_store *s, const char *sql)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(s), sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* ---- batches ------------------------------------------------------------------------------------------ */

static struct proto_batch *batch_new(uint16_t gw_id, uint64_t gw_seq)
{
	struct proto_batch *b = calloc(1, sizeof *b);
	cr_assert_not_null(b);
	b->gw_id = gw_id;
	b->gw_seq = gw_seq;
	return b;
}

static struct proto_batch_rec *batch_add(struct proto_batch *b, uint16_t collar, uint8_t type)
{
	cr_assert(b->n < PROTO_BATCH_RECS_MAX);
	struct proto_batch_rec *r = &b->rec[b->n++];
	memset(r, 0, sizeof *r);
	r->collar_id = collar;
	r->type = type;
	r->rx_ms = 1700000000000ull + b->n;
	r->link = 1;
	return r;
}

static void add_fix(struct proto_batch *b, uint16_t collar, uint32_t seq, uint64_t t_ms, int32_t lat_e7,
                    int32_t lon_e7)
{
	struct proto_batch_rec *r = batch_add(b, collar, PROTO_T_FIX);
	r->has = PROTO_REC_HAS_SEQ;
	r->rec_seq = seq;
	r->m.fix.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q | PROTO_FIX_HAS_NSAT;
	r->m.fix.rec_seq = seq;
	r->m.fix.t_ms = t_ms;
	r->m.fix.lat_e7 = lat_e7;
	r->m.fix.lon_e7 = lon_e7;
	r->m.fix.h_acc_mm = 2500;
	r->m.fix.gga_q = 1;
	r->m.fix.nsat = 9;
}

static void add_ind(struct proto_batch *b, uint16_t collar, uint32_t seq, uint64_t t_ms, int32_t lat_e7,
                    int32_t lon_e7)
{
	struct proto_batch_rec *r = batch_add(b, collar, PROTO_T_IND);
	r->has = PROTO_REC_HAS_SEQ;
	r->rec_seq = seq;
	r->m.ind.has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_HACC | PROTO_IND_HAS_DUR;
	r->m.ind.rec_seq = seq;
	r->m.ind.t_ms = t_ms;
	r->m.ind.kind = PROTO_IND_SCRATCH;
	r->m.ind.src = PROTO_SRC_BUTTON;
	r->m.ind.lat_e7 = lat_e7;
	r->m.ind.lon_e7 = lon_e7;
	r->m.ind.h_acc_mm = 1500;
	r->m.ind.dur_ms = 4000;
}

static void add_status(struct proto_batch *b, uint16_t collar)
{
	struct proto_batch_rec *r = batch_add(b, collar, PROTO_T_STATUS);
	r->m.status.has = PROTO_STATUS_HAS_BATT;
	r->m.status.batt_mv = 3900;
	r->m.status.backlog = 3;
}

static struct an_store_ingest_result ingest_ok(struct an_store *s, const struct proto_batch *b)
{
	struct an_store_ingest_result r;
	int rc = an_store_ingest_batch(s, b, &r);
	cr_assert_eq(rc, 0, "ingest gw %u seq %llu: %d %s", b->gw_id, (unsigned long long)b->gw_seq, rc,
	             an_store_errmsg(s));
	return r;
}

/* ---- the field: Mozambique-like task, one rat box, one rat, one collar -------------------------------- */

#define ORIGIN_LAT_E7 (-191000000)
#define ORIGIN_LON_E7 348000000
#define SESSION_T0 1700000100000ll

struct field {
	int64_t prog, task, box, rat, handler, session;
	struct an_geo_origin o;
};

/* A point of the task frame as the collar would send it. */
static void e7_of(const struct field *f, int64_t e_mm, int64_t n_mm, int32_t *lat, int32_t *lon)
{
	struct an_geo_enu p = {e_mm, n_mm, 0};
	int32_t alt;
	cr_assert_eq(an_geo_enu_to_e7(&f->o, &p, lat, lon, &alt), 0);
}

static struct field make_field(struct an_store *s)
{
	struct field f;
	cr_assert_eq(an_store_programme_add(s, "Mozambique 2024", "MOZ-PRG-1", &f.prog), 0, "%s", an_store_errmsg(s));
	struct an_store_task t = {f.prog, "Dombe task 7", "hazard_poly_145", ORIGIN_LAT_E7, ORIGIN_LON_E7, 12000};
	cr_assert_eq(an_store_task_add(s, &t, &f.task), 0, "%s", an_store_errmsg(s));
	cr_assert_eq(an_store_task_origin(s, f.task, &f.o), 0);
	/* Box: p0 at (10 m E, 10 m N); lanes run 5 m east; 40 lanes of 0.5 m stacked north over 20 m. */
	struct an_store_box b = {.task_id = f.task, .name = "B1", .lane_width_mm = 500, .lane_count = 40,
	                         .species = AN_SPECIES_RAT};
	e7_of(&f, 10000, 10000, &b.p0_lat_e7, &b.p0_lon_e7);
	e7_of(&f, 15000, 10000, &b.along_lat_e7, &b.along_lon_e7);
	e7_of(&f, 10000, 30000, &b.across_lat_e7, &b.across_lon_e7);
	cr_assert_eq(an_store_box_add(s, &b, &f.box), 0, "%s", an_store_errmsg(s));
	cr_assert_eq(an_store_animal_add(s, AN_SPECIES_RAT, "Magawa", "MDR", &f.rat), 0);
	cr_assert_eq(an_store_handler_add(s, "Handler A", "handler", &f.handler), 0);
	cr_assert_eq(an_store_collar_assign(s, 7, f.rat, SESSION_T0 - 3600000), 0, "%s", an_store_errmsg(s));
	struct an_store_session ss = {.box_id = f.box, .animal_id = f.rat, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = SESSION_T0, .has_temp = true, .temp_dc = 284,
	                              .has_humidity = true, .humidity_pct = 71, .handler_ids = &f.handler,
	                              .n_handlers = 1};
	cr_assert_eq(an_store_session_add(s, &ss, &f.session), 0, "%s", an_store_errmsg(s));
	return f;
}

/* ---- open, schema, integrity ----------------------------------------------------------------------------- */

Test(an_store, create_sets_wal_full_sync_foreign_keys_and_latest_schema)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	int v = 0;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest());
	cr_expect_geq(an_store_schema_latest(), 2);
	sqlite3 *db = an_store_sqlite(s);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	cr_expect_eq(count(s, "PRAGMA synchronous"), 2, "FULL");
	cr_expect_eq(count(s, "PRAGMA foreign_keys"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM sqlite_schema WHERE name IN ('records','fixes','indications',"
	                      "'hazard_points','hazard_events','clearance_results','gateways','audit_log',"
	                      "'accreditation_tests')"), 9);
	an_store_close(s);
	s = open_store(AN_STORE_SYNC_NORMAL);
	cr_expect_eq(count(s, "PRAGMA synchronous"), 1, "NORMAL");
	an_store_close(s);
}

Test(an_store, missing_file_without_create_is_a_clear_error)
{
	struct an_store *s = (struct an_store *)1;
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, 0, &s, err, sizeof err), -ENOENT);
	cr_expect_null(s);
	cr_expect(strstr(err, db_path) != NULL && strstr(err, "AN_STORE_CREATE") != NULL, "%s", err);
}

Test(an_store, reopen_keeps_data)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int32_t lat, lon;
	e7_of(&f, 12500, 15250, &lat, &lon);
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(b, 7, 2, SESSION_T0 + 1500, lat, lon);
	ingest_ok(s, b);
	an_store_close(s);

	s = open_store(0);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM tasks"), 1);
	uint64_t last;
	bool known;
	cr_assert_eq(an_store_gateway_last_seq(s, 1, &last, &known), 0);
	cr_expect(known && last == 1);
	an_store_close(s);
	free(b);
}

static void set_user_version(const char *path, int v)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

Test(an_store, refuses_a_schema_newer_than_the_code)
{
	an_store_close(open_store(AN_STORE_CREATE));
	set_user_version(db_path, an_store_schema_latest() + 1);
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, 0, &s, err, sizeof err), -ENOTSUP);
	cr_expect(strstr(err, "newer") != NULL, "%s", err);
	/* and the file is untouched: still the future version */
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), an_store_schema_latest() + 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* An older file (schema step 1 only, with data) is migrated in place and keeps its data. The step-1 file
 * is made the way an older build made it: the step's statements, then user_version = 1. */
int an_store__migration_count(void);
const char *const *an_store__migration_sql(int version);

static void hot_tables_have_no_in_checks(struct an_store *s)
{
	cr_expect_eq(count(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('records',"
	                      "'indications','collar_status','hazard_points','hazard_evidence','hazard_events',"
	                      "'clearance_results') AND sql LIKE '% IN (%'"), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'indications'"
	                      " AND sql LIKE '%CHECK (kind = 1 OR kind = 2 OR kind = 3)%'"), 1);
}

Test(an_store, migrates_an_older_file_and_keeps_its_data)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	for (const char *const *sql = an_store__migration_sql(1); *sql != NULL; sql++)
		cr_assert_eq(sqlite3_exec(db, *sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 1; PRAGMA application_id = 1396921426;"
	                              "INSERT INTO programmes(name, created_ms) VALUES ('old', 1)", NULL, NULL, NULL),
	             SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);

	struct an_store *s = open_store(0);
	int v;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest());
	cr_expect_eq(count(s, "SELECT count(*) FROM programmes WHERE name = 'old'"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM accreditation_tests"), 0); /* step 2 table exists */
	hot_tables_have_no_in_checks(s);
	an_store_close(s);
}

/* Step 4 rewrote every IN-list CHECK of the per-record tables; the rows must still be refused as before. */
Test(an_store, step4_checks_are_or_forms_and_still_refuse)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	hot_tables_have_no_in_checks(s);
	sqlite3 *db = an_store_sqlite(s);
	cr_expect_neq(sqlite3_exec(db, "INSERT INTO hazard_events(hazard_id, t_ms, kind, who) VALUES (1, 1, 'bogus', 'x')",
	                           NULL, NULL, NULL), SQLITE_OK);
	cr_expect(strstr(sqlite3_errmsg(db), "CHECK constraint failed") != NULL, "%s", sqlite3_errmsg(db));
	an_store_close(s);
}

Test(an_store, read_only_open_refuses_to_migrate_and_to_write)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	for (const char *const *sql = an_store__migration_sql(1); *sql != NULL; sql++)
		cr_assert_eq(sqlite3_exec(db, *sql, NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 1; PRAGMA journal_mode = WAL", NULL, NULL, NULL),
	             SQLITE_OK);
	sqlite3_close(db);
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	cr_expect_eq(an_store_open(db_path, AN_STORE_READONLY, &s, err, sizeof err), -EROFS, "%s", err);
	an_store_close(open_store(0)); /* migrate */
	s = open_store(AN_STORE_READONLY);
	int64_t id;
	cr_expect_eq(an_store_programme_add(s, "x", NULL, &id), -EROFS);
	an_store_close(s);
}

Test(an_store, refuses_someone_elses_sqlite_file)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "CREATE TABLE photos(id INTEGER PRIMARY KEY)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, 0, &s, err, sizeof err), -EBADMSG);
	cr_expect(strstr(err, "not a scentrack core store") != NULL, "%s", err);
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	cr_assert(in != NULL && out != NULL);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	cr_assert_eq(fclose(out), 0);
}

/* A store with 2000 fixes, closed (the last connection checkpoints the WAL into the main file and removes
 * it). A copy gets one b-tree page of the fixes table overwritten with a fixed pattern; open must refuse
 * the copy with a clear message while the original still opens. Same bytes every run: deterministic. */
Test(an_store, integrity_failure_on_a_corrupted_copy_is_reported_at_open)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	for (uint32_t k = 0; k < 2000 / 50; k++) {
		struct proto_batch *b = batch_new(1, k + 1);
		for (uint32_t i = 0; i < 50; i++)
			add_fix(b, 3, k * 50 + i + 1, 1700000000000ull + (k * 50 + i) * 1000ull, -191000000 + (int32_t)i,
			        348000000);
		ingest_ok(s, b);
		free(b);
	}
	/* A leaf page in the middle of the fixes table: the root's first child is an interior or leaf page;
	 * pick the highest-numbered page the table owns via its root and the page count. */
	int64_t root = count(s, "SELECT rootpage FROM sqlite_schema WHERE name = 'fixes'");
	int64_t page_size = count(s, "PRAGMA page_size");
	int64_t pages = count(s, "PRAGMA page_count");
	an_store_close(s);
	char wal[320];
	snprintf(wal, sizeof wal, "%s-wal", db_path);
	cr_assert_neq(access(wal, F_OK), 0, "the WAL must be checkpointed and removed at close");
	cr_assert(root > 1 && root <= pages);

	snprintf(copy_path, sizeof copy_path, "%s/copy.db", dir);
	copy_file(db_path, copy_path);
	int fd = open(copy_path, O_WRONLY);
	cr_assert_geq(fd, 0);
	unsigned char junk[512];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(0xA5 ^ i);
	/* the root page's header and cell pointer array: the b-tree under it is unreadable */
	cr_assert_eq(pwrite(fd, junk, sizeof junk, (off_t)((root - 1) * page_size)), (ssize_t)sizeof junk);
	close(fd);

	struct an_store *c;
	char err[AN_STORE_ERRMSG_MAX];
	int rc = an_store_open(copy_path, 0, &c, err, sizeof err);
	cr_expect_eq(rc, -EBADMSG, "%d %s", rc, err);
	cr_expect_null(c);
	cr_expect(strstr(err, "integrity check failed") != NULL && strstr(err, copy_path) != NULL, "%s", err);
	cr_log_info("corrupted copy: %s", err);
	/* the full check sees it too; the original is fine */
	rc = an_store_open(copy_path, AN_STORE_CHECK_FULL, &c, err, sizeof err);
	cr_expect_eq(rc, -EBADMSG, "%d %s", rc, err);
	s = open_store(AN_STORE_CHECK_FULL);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 2000);
	an_store_close(s);
}

Test(an_store, garbage_file_is_not_a_database)
{
	FILE *fp = fopen(db_path, "wb");
	cr_assert_not_null(fp);
	for (int i = 0; i < 8192; i++)
		fputc(i * 7 & 0xff, fp);
	fclose(fp);
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, 0, &s, err, sizeof err), -EBADMSG);
	cr_expect(strstr(err, "not a database") != NULL || strstr(err, "damaged") != NULL, "%s", err);
}

/* ---- ingest ---------------------------------------------------------------------------------------------- */

Test(an_store, dedupe_within_a_batch_and_across_batches)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 1);
	for (uint32_t seq = 1; seq <= 10; seq++) {
		add_fix(b, 7, seq, 1700000000000ull + seq * 1000, -191000000, 348000000 + (int32_t)seq);
		if (seq == 5) /* the same record twice in one batch (radio retransmit caught twice) */
			add_fix(b, 7, seq, 1700000000000ull + seq * 1000, -191000000, 348000000 + (int32_t)seq);
	}
	add_ind(b, 7, 11, 1700000011000ull, -191000000, 348000011);
	add_fix(b, 8, 5, 1700000005000ull, -191000000, 348000000); /* another collar's seq 5: not a dup */
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect_eq(r.inserted, 12);
	cr_expect_eq(r.duplicates, 1);
	cr_expect_eq(r.conflicts, 0);
	cr_expect_eq(r.fixes, 11);
	cr_expect_eq(r.inds, 1);
	cr_expect_eq(r.ack_gw_seq, 1);
	cr_expect(!r.replay);
	free(b);

	b = batch_new(1, 2); /* seq 8..15: 8..11 seen, 12..15 new */
	for (uint32_t seq = 8; seq <= 10; seq++)
		add_fix(b, 7, seq, 1700000000000ull + seq * 1000, -191000000, 348000000 + (int32_t)seq);
	add_ind(b, 7, 11, 1700000011000ull, -191000000, 348000011);
	for (uint32_t seq = 12; seq <= 15; seq++)
		add_fix(b, 7, seq, 1700000000000ull + seq * 1000, -191000000, 348000000 + (int32_t)seq);
	r = ingest_ok(s, b);
	cr_expect_eq(r.inserted, 4);
	cr_expect_eq(r.duplicates, 4);
	cr_expect_eq(r.conflicts, 0);
	cr_expect_eq(r.ack_gw_seq, 2);
	free(b);

	/* The same record heard by a second gateway: a duplicate, not a conflict. */
	b = batch_new(2, 900);
	add_fix(b, 7, 3, 1700000003000ull, -191000000, 348000003);
	r = ingest_ok(s, b);
	cr_expect(r.inserted == 0 && r.duplicates == 1 && r.conflicts == 0 && r.ack_gw_seq == 900);
	free(b);

	cr_expect_eq(count(s, "SELECT count(*) FROM records"), 16);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 15);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes WHERE collar_id = 7 AND rec_seq = 5"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'conflict'"), 0);
	an_store_close(s);
}

static void add_completion(struct proto_batch *b, uint16_t collar, uint32_t seq, uint32_t completes,
                           uint64_t t_ms, uint32_t dur_ms, uint8_t conf)
{
	add_ind(b, collar, seq, t_ms, -191000000, 348000011);
	struct proto_ind *in = &b->rec[b->n - 1].m.ind;
	in->has |= PROTO_IND_HAS_COMPLETES | PROTO_IND_HAS_CONF;
	in->completes = completes;
	in->dur_ms = dur_ms;
	in->conf_pct = conf;
}

/* An indication longer than the collar's hold: the IND went out with the duration so far, and a completion
 * IND (completes = its rec_seq) carries the final one. The store keeps one indication with the final
 * duration — whichever of the two arrives first — and never counts the completion as an indication. */
Test(an_store, completion_gives_the_final_duration_in_either_arrival_order)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	/* collar 7: original first, completion later (the usual order) */
	struct proto_batch *b = batch_new(1, 1);
	add_ind(b, 7, 11, 1700000011000ull, -191000000, 348000011); /* dur 4000: so far */
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect_eq(r.inds, 1);
	free(b);
	b = batch_new(1, 2);
	add_completion(b, 7, 14, 11, 1700000011000ull, 12500, 88);
	r = ingest_ok(s, b);
	cr_expect_eq(r.inds, 0, "a completion is not an indication");
	cr_expect_eq(r.inserted, 1);
	free(b);
	/* collar 8: the completion arrives before the original (its first copy was lost on the radio) */
	b = batch_new(1, 3);
	add_completion(b, 8, 14, 11, 1700000011000ull, 12500, 88);
	add_ind(b, 8, 11, 1700000011000ull, -191000000, 348000011);
	r = ingest_ok(s, b);
	cr_expect_eq(r.inds, 1);
	free(b);
	/* a resend of the completion is a plain duplicate */
	b = batch_new(1, 4);
	add_completion(b, 8, 14, 11, 1700000011000ull, 12500, 88);
	r = ingest_ok(s, b);
	cr_expect(r.duplicates == 1 && r.conflicts == 0 && r.inserted == 0);
	free(b);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications"), 2, "one indication per collar");
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 11 AND dur_ms = 12500 AND conf_pct = 88"),
	             2, "both have the final duration and confidence");
	cr_expect_eq(count(s, "SELECT count(*) FROM ind_completions"), 2);
	cr_expect_eq(count(s, "SELECT count(*) FROM records"), 4);
	an_store_close(s);
}

/* (collar, rec_seq) identifies a record across FIX and IND: an IND reusing a FIX's key is not stored, is
 * counted as a duplicate AND a conflict, and is audited. So is a FIX whose content changed. */
Test(an_store, same_key_different_type_or_content_is_a_conflict)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 3, 1700000003000ull, -191000000, 348000003);
	add_ind(b, 7, 4, 1700000004000ull, -191000000, 348000004);
	ingest_ok(s, b);
	free(b);

	b = batch_new(1, 2);
	add_ind(b, 7, 3, 1700000003500ull, -191000000, 348000003); /* IND with a FIX's key */
	add_fix(b, 7, 4, 1700000004000ull, -191000000, 348000004); /* FIX with an IND's key */
	add_fix(b, 7, 3, 1700000003000ull, -191000000, 348000099); /* same key, different position */
	add_fix(b, 7, 3, 1700000003000ull, -191000000, 348000003); /* an honest duplicate */
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect_eq(r.inserted, 0);
	cr_expect_eq(r.duplicates, 4);
	cr_expect_eq(r.conflicts, 3);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications"), 1);
	cr_expect_eq(count(s, "SELECT lon_e7 FROM fixes WHERE rec_seq = 3"), 348000003); /* first copy kept */
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'conflict'"), 3);
	free(b);

	/* The schema itself refuses a FIX row under an IND's key, even if a caller bypasses the API. */
	sqlite3 *db = an_store_sqlite(s);
	int rc = sqlite3_exec(db, "INSERT INTO fixes(record_id, collar_id, rec_seq, t_ms, lat_e7, lon_e7, rx_ms, gw_id) "
	                          "SELECT id, collar_id, rec_seq, 1, 0, 0, 1, 1 FROM records WHERE rec_seq = 4",
	                      NULL, NULL, NULL);
	cr_expect_eq(rc, SQLITE_CONSTRAINT_FOREIGNKEY, "%s", sqlite3_errmsg(db));
	an_store_close(s);
}

Test(an_store, replayed_batch_is_idempotent_status_included)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(4, 41);
	add_status(b, 7);
	add_fix(b, 7, 1, 1700000001000ull, -191000000, 348000001);
	add_status(b, 8);
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect(r.inserted == 3 && r.other == 2 && r.duplicates == 0 && !r.replay && r.ack_gw_seq == 41);
	/* the ack was lost: the gateway resends the same batch */
	r = ingest_ok(s, b);
	cr_expect(r.inserted == 0 && r.duplicates == 3 && r.replay && r.ack_gw_seq == 41);
	cr_expect_eq(count(s, "SELECT count(*) FROM collar_status"), 2);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 1);
	/* an old batch after a newer one: still a replay, last_gw_seq not lowered */
	b->gw_seq = 42;
	ingest_ok(s, b);
	b->gw_seq = 40;
	r = ingest_ok(s, b);
	cr_expect(r.replay && r.ack_gw_seq == 42);
	free(b);
	an_store_close(s);
}

Test(an_store, gap_in_gw_seq_is_refused_and_nothing_stored)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 10);
	add_fix(b, 7, 1, 1700000001000ull, -191000000, 348000001);
	ingest_ok(s, b);
	b->gw_seq = 12;
	b->rec[0].rec_seq = b->rec[0].m.fix.rec_seq = 2;
	struct an_store_ingest_result r;
	cr_assert_eq(an_store_ingest_batch(s, b, &r), -EPROTO);
	cr_expect(strstr(an_store_errmsg(s), "11") != NULL && strstr(an_store_errmsg(s), "missing") != NULL, "%s",
	          an_store_errmsg(s));
	cr_expect_eq(r.inserted, 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes"), 1);
	uint64_t last;
	bool known;
	cr_assert_eq(an_store_gateway_last_seq(s, 1, &last, &known), 0);
	cr_expect_eq(last, 10);
	free(b);
	an_store_close(s);
}

Test(an_store, malformed_record_fails_the_whole_batch_with_its_index)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 1, 1700000001000ull, -191000000, 348000001);
	add_ind(b, 7, 2, 1700000002000ull, -191000000, 348000002);
	b->rec[1].m.ind.has &= ~PROTO_IND_HAS_LON; /* lat without lon */
	struct an_store_ingest_result r;
	cr_assert_eq(an_store_ingest_batch(s, b, &r), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "record 1") != NULL, "%s", an_store_errmsg(s));
	b->rec[1].m.ind.has |= PROTO_IND_HAS_LON;
	b->rec[1].rec_seq = 99; /* batch header and message disagree */
	cr_assert_eq(an_store_ingest_batch(s, b, &r), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "differs") != NULL, "%s", an_store_errmsg(s));
	cr_expect_eq(count(s, "SELECT count(*) FROM records"), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM gateways WHERE last_gw_seq IS NOT NULL"), 0);
	free(b);
	an_store_close(s);
}

static int refuse(struct an_store *s, void *ctx)
{
	(void)s;
	(void)ctx;
	return -1;
}

Test(an_store, failure_before_commit_rolls_back_records_and_gw_seq)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 1, 1700000001000ull, -191000000, 348000001);
	ingest_ok(s, b);
	b->gw_seq = 2;
	b->rec[0].rec_seq = b->rec[0].m.fix.rec_seq = 2;
	add_status(b, 7);
	an_store_set_precommit_hook(s, refuse, NULL);
	struct an_store_ingest_result r;
	cr_assert_eq(an_store_ingest_batch(s, b, &r), -ECANCELED);
	an_store_set_precommit_hook(s, NULL, NULL);
	cr_expect_eq(count(s, "SELECT count(*) FROM records"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM collar_status"), 0);
	cr_expect_eq(count(s, "SELECT last_gw_seq FROM gateways WHERE gw_id = 1"), 1);
	r = ingest_ok(s, b); /* the resend goes through */
	cr_expect(r.inserted == 2 && r.ack_gw_seq == 2);
	free(b);
	an_store_close(s);
}

/* The child begins a 64-record batch, flushes the transaction's dirty pages into the WAL (so uncommitted
 * frames really are on disk), reports the WAL size through a pipe and blocks; the parent kills it with
 * SIGKILL. After reopening, nothing of that batch is visible and last_gw_seq is unchanged. */
struct crash_ctx {
	int report_fd, block_fd;
};

static int flush_and_hang(struct an_store *s, void *ctx)
{
	struct crash_ctx *c = ctx;
	if (sqlite3_db_cacheflush(an_store_sqlite(s)) != SQLITE_OK)
		_exit(3);
	char wal[320];
	snprintf(wal, sizeof wal, "%s-wal", db_path);
	struct stat sb;
	int64_t size = stat(wal, &sb) == 0 ? (int64_t)sb.st_size : -1;
	if (write(c->report_fd, &size, sizeof size) != (ssize_t)sizeof size)
		_exit(4);
	char x;
	for (;;) /* wait for the SIGKILL: the parent never writes to this pipe */
		if (read(c->block_fd, &x, 1) <= 0)
			_exit(5);
}

Test(an_store, sigkill_inside_the_batch_transaction_leaves_nothing_and_gw_seq_unchanged)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(5, 100);
	for (uint32_t i = 1; i <= 10; i++)
		add_fix(b, 7, i, 1700000000000ull + i * 1000, -191000000, 348000000 + (int32_t)i);
	ingest_ok(s, b);
	an_store_close(s);
	free(b);

	b = batch_new(5, 101);
	for (uint32_t i = 11; i <= 10 + PROTO_BATCH_RECS_MAX; i++) {
		if (i % 8 == 0)
			add_ind(b, 7, i, 1700000000000ull + i * 1000, -191000000, 348000000 + (int32_t)i);
		else
			add_fix(b, 7, i, 1700000000000ull + i * 1000, -191000000, 348000000 + (int32_t)i);
	}

	int report[2], block[2];
	cr_assert_eq(pipe(report), 0);
	cr_assert_eq(pipe(block), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(report[0]);
		close(block[1]);
		struct an_store *cs = NULL;
		if (an_store_open(db_path, 0, &cs, NULL, 0) != 0)
			_exit(2);
		struct crash_ctx c = {report[1], block[0]};
		an_store_set_precommit_hook(cs, flush_and_hang, &c);
		struct an_store_ingest_result r;
		int rc = an_store_ingest_batch(cs, b, &r);
		(void)rc;
		_exit(6); /* never reached: the hook does not return */
	}
	close(report[1]);
	close(block[0]);
	int64_t wal_size = 0;
	cr_assert_eq(read(report[0], &wal_size, sizeof wal_size), (ssize_t)sizeof wal_size,
	             "the child died before reaching the commit");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(report[0]);
	close(block[1]);
	/* the uncommitted batch had reached the disk: a real test of recovery, not of an untouched file */
	cr_expect_gt(wal_size, 4096, "WAL %lld bytes", (long long)wal_size);

	s = open_store(0);
	cr_expect_eq(count(s, "SELECT count(*) FROM records"), 10);
	cr_expect_eq(count(s, "SELECT count(*) FROM records WHERE rec_seq > 10"), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications"), 0);
	uint64_t last;
	bool known;
	cr_assert_eq(an_store_gateway_last_seq(s, 5, &last, &known), 0);
	cr_expect(known && last == 100);
	struct an_store_ingest_result r = ingest_ok(s, b); /* the gateway resends: all of it is new */
	cr_expect(r.inserted == PROTO_BATCH_RECS_MAX && r.duplicates == 0 && r.ack_gw_seq == 101);
	an_store_close(s);
	free(b);
}

/* ---- placement, queries ------------------------------------------------------------------------------- */

struct collect {
	size_t n;
	struct an_store_fix fix[16];
	struct an_store_ind ind[16];
};

static int collect_fix(void *ctx, const struct an_store_fix *f)
{
	struct collect *c = ctx;
	cr_assert(c->n < 16);
	c->fix[c->n++] = *f;
	return 0;
}

static int collect_ind(void *ctx, const struct an_store_ind *i)
{
	struct collect *c = ctx;
	cr_assert(c->n < 16);
	c->ind[c->n++] = *i;
	return 0;
}

Test(an_store, records_are_placed_in_the_session_task_and_box_frame)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int32_t lat, lon;
	e7_of(&f, 12500, 15250, &lat, &lon); /* along 2.5 m, across 5.25 m: lane 10, on its centre line */
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(b, 7, 2, SESSION_T0 + 2000, lat, lon);
	add_fix(b, 7, 3, SESSION_T0 - 60000, lat, lon); /* before the session: kept, not placed */
	add_fix(b, 9, 1, SESSION_T0 + 1000, lat, lon);  /* a collar nobody wears */
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect_eq(r.inserted, 4);
	cr_expect_eq(r.unplaced, 2);
	free(b);

	struct collect c = {0};
	cr_assert_eq(an_store_fixes_by_collar(s, 7, 0, UINT64_MAX, collect_fix, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_expect_eq(c.fix[0].fix.rec_seq, 3); /* ordered by time */
	cr_expect(!c.fix[0].has_xy && c.fix[0].session_id == 0 && c.fix[0].task_id == 0);
	const struct an_store_fix *p = &c.fix[1];
	cr_expect(p->has_xy && p->session_id == f.session && p->task_id == f.task);
	struct an_geo_enu want;
	cr_assert_eq(an_geo_enu_from_e7(&f.o, lat, lon, AN_GEO_ALT_UNKNOWN, &want), 0);
	cr_expect(p->x_mm == want.e_mm && p->y_mm == want.n_mm);
	cr_expect(llabs(p->x_mm - 12500) <= 6 && llabs(p->y_mm - 15250) <= 6, "(%lld, %lld)", (long long)p->x_mm,
	          (long long)p->y_mm);
	cr_expect(p->fix.has & PROTO_FIX_HAS_HACC && p->fix.h_acc_mm == 2500);
	cr_expect(!(p->fix.has & PROTO_FIX_HAS_ALT), "absent stays absent");
	struct an_geo_box frame;
	cr_assert_eq(an_store_box_frame(s, f.box, &frame), 0);
	struct an_geo_box_pos bp;
	cr_assert_eq(an_geo_box_locate(&frame, p->x_mm, p->y_mm, p->fix.h_acc_mm, &bp), 0);
	cr_expect(bp.inside && bp.lane == 10 && llabs(bp.offset_mm) <= 12 && llabs(bp.along_mm - 2500) <= 12,
	          "lane %d offset %lld along %lld", bp.lane, (long long)bp.offset_mm, (long long)bp.along_mm);

	c.n = 0;
	cr_assert_eq(an_store_inds_by_task(s, f.task, 0, UINT64_MAX, collect_ind, &c), 0);
	cr_assert_eq(c.n, 1);
	cr_expect(c.ind[0].collar_id == 7 && c.ind[0].ind.rec_seq == 2 && c.ind[0].ind.kind == PROTO_IND_SCRATCH);
	cr_expect(c.ind[0].has_xy && c.ind[0].x_mm == want.e_mm && c.ind[0].review == AN_REVIEW_UNREVIEWED);
	an_store_close(s);
}

Test(an_store, fixes_by_collar_time_range_order_and_tmono_exclusion)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct proto_batch *b = batch_new(1, 1);
	const uint64_t t[] = {5000, 1000, 3000, 2000, 4000};
	for (uint32_t i = 0; i < 5; i++)
		add_fix(b, 7, i + 1, 1700000000000ull + t[i], -191000000, 348000000);
	add_fix(b, 7, 6, 0, -191000000, 348000000);
	b->rec[5].m.fix.has = (b->rec[5].m.fix.has & ~PROTO_FIX_HAS_T) | PROTO_FIX_HAS_TMONO;
	b->rec[5].m.fix.t_mono_ms = 2500;
	ingest_ok(s, b);
	struct collect c = {0};
	cr_assert_eq(an_store_fixes_by_collar(s, 7, 1700000002000ull, 1700000005000ull, collect_fix, &c), 0);
	cr_assert_eq(c.n, 3, "[2000, 5000) holds 2000, 3000, 4000");
	cr_expect(c.fix[0].fix.t_ms == 1700000002000ull && c.fix[1].fix.t_ms == 1700000003000ull &&
	          c.fix[2].fix.t_ms == 1700000004000ull);
	c.n = 0;
	cr_assert_eq(an_store_fixes_by_collar(s, 8, 0, UINT64_MAX, collect_fix, &c), 0);
	cr_expect_eq(c.n, 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM fixes WHERE t_mono_ms = 2500 AND t_ms IS NULL"), 1);
	free(b);
	an_store_close(s);
}

Test(an_store, handler_review_is_stored_and_audited)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int32_t lat, lon;
	e7_of(&f, 11000, 11000, &lat, &lon);
	struct proto_batch *b = batch_new(1, 1);
	add_ind(b, 7, 1, SESSION_T0 + 1000, lat, lon);
	ingest_ok(s, b);
	free(b);
	cr_assert_eq(an_store_ind_review(s, 7, 1, AN_REVIEW_CONFIRMED, f.handler), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(an_store_ind_review(s, 7, 2, AN_REVIEW_CONFIRMED, f.handler), -ENOENT);
	cr_expect_eq(an_store_ind_review(s, 7, 1, AN_REVIEW_REJECTED, 999), -ENOENT);
	struct collect c = {0};
	cr_assert_eq(an_store_inds_by_task(s, f.task, 0, UINT64_MAX, collect_ind, &c), 0);
	cr_assert_eq(c.n, 1);
	cr_expect(c.ind[0].review == AN_REVIEW_CONFIRMED && c.ind[0].reviewed_by == f.handler &&
	          c.ind[0].reviewed_ms == fake_now);
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'ind_review'"), 1);
	an_store_close(s);
}

/* ---- hazard points and clearance ------------------------------------------------------------------------- */

struct events {
	size_t n;
	struct an_store_hazard_event e[8];
};

static int collect_event(void *ctx, const struct an_store_hazard_event *e)
{
	struct events *ev = ctx;
	cr_assert(ev->n < 8);
	ev->e[ev->n++] = *e;
	return 0;
}

Test(an_store, hazard_lifecycle_event_log_and_evidence)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int32_t lat, lon;
	e7_of(&f, 12000, 12000, &lat, &lon);
	struct proto_batch *b = batch_new(1, 1);
	add_ind(b, 7, 1, SESSION_T0 + 1000, lat, lon);
	ingest_ok(s, b);
	free(b);

	struct an_store_hazard h = {.task_id = f.task, .box_id = f.box, .status = AN_HAZARD_CANDIDATE,
	                            .x_mm = 12000, .y_mm = 12000, .lat_e7 = lat, .lon_e7 = lon, .r95_mm = 1800,
	                            .log_odds_q10 = 1434, .p_explosive = 0.8, .n_ind = 1, .n_animals = 1,
	                            .n_sessions = 1};
	int64_t id, seq = 0;
	cr_assert_eq(an_store_hazard_add(s, &h, "core", &id), 0, "%s", an_store_errmsg(s));
	struct an_store_evidence ev = {AN_EVIDENCE_INDICATION, 7, 1, 0, 1434};
	cr_expect_eq(an_store_hazard_evidence_add(s, id, &ev), 0, "%s", an_store_errmsg(s));
	struct an_store_evidence clean = {AN_EVIDENCE_CLEAN_PASS, 0, 0, f.session, -300};
	cr_expect_eq(an_store_hazard_evidence_add(s, id, &clean), 0, "%s", an_store_errmsg(s));
	struct an_store_evidence ghost = {AN_EVIDENCE_INDICATION, 7, 77, 0, 1434};
	cr_expect_eq(an_store_hazard_evidence_add(s, id, &ghost), -ENOENT);

	cr_expect_eq(an_store_hazard_set_status(s, id, AN_HAZARD_CONFIRMED_EXPLOSIVE, "tl", NULL, NULL), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "candidate → confirmed_explosive") != NULL, "%s", an_store_errmsg(s));
	cr_assert_eq(an_store_hazard_set_status(s, id, AN_HAZARD_AWAITING_SECOND, "core", NULL, &seq), 0);
	cr_assert_eq(an_store_hazard_set_status(s, id, AN_HAZARD_AWAITING_EXCAVATION, "core", "rat 2 agreed", NULL),
	             0);
	cr_assert_eq(an_store_hazard_set_status(s, id, AN_HAZARD_NOT_ACCESSIBLE, "tl", "flooded", NULL), 0);
	cr_assert_eq(an_store_hazard_set_status(s, id, AN_HAZARD_AWAITING_EXCAVATION, "tl", NULL, NULL), 0);
	cr_assert_eq(an_store_hazard_set_status(s, id, AN_HAZARD_CONFIRMED_EXPLOSIVE, "deminer", "PMN", NULL), 0);
	cr_expect_eq(an_store_hazard_set_status(s, id, AN_HAZARD_SUPERSEDED, "core", NULL, NULL), -EINVAL,
	             "confirmed is final");
	cr_expect_eq(an_store_hazard_set_status(s, 4242, AN_HAZARD_SUPERSEDED, "core", NULL, NULL), -ENOENT);

	struct events evs = {0};
	cr_assert_eq(an_store_hazard_events_since(s, 0, collect_event, &evs), 0);
	cr_assert_eq(evs.n, 6);
	cr_expect_str_eq(evs.e[0].kind, "created");
	cr_expect(evs.e[0].to == AN_HAZARD_CANDIDATE && evs.e[0].from == 0);
	cr_expect(evs.e[1].seq == seq && evs.e[1].from == AN_HAZARD_CANDIDATE &&
	          evs.e[1].to == AN_HAZARD_AWAITING_SECOND);
	cr_expect(evs.e[5].to == AN_HAZARD_CONFIRMED_EXPLOSIVE && strcmp(evs.e[5].who, "deminer") == 0);
	for (size_t i = 1; i < evs.n; i++)
		cr_expect_gt(evs.e[i].seq, evs.e[i - 1].seq);
	evs.n = 0;
	cr_assert_eq(an_store_hazard_events_since(s, seq, collect_event, &evs), 0);
	cr_expect_eq(evs.n, 4);
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'hazard_status'"), 5);
	an_store_close(s);
}

/* The engine's state through an_hazard_store_sync_cached (as the core writes it) when a point SPLITS (an/hazard.h
 * cannot-link): rat passes S1 (A1, B1: two items 2 m apart) and S2 (A2, B2 between them). A1, A2 make point
 * A2; B2 joins and the point is B2's (A2 superseded, "merged into"); B1 comes, A1–B1 is one pass beyond r95,
 * and the component splits into {B2, B1} and {A2, A1}: A2's superseded row is live again with its members'
 * evidence, B2's row keeps only its own, and the created/status events are in hazard_events. */
struct split_evs {
	struct an_hazard_event ev[16];
	size_t n;
};

static int split_sink(void *ctx, const struct an_hazard_event *ev)
{
	struct split_evs *e = ctx;
	cr_assert_lt(e->n, 16);
	e->ev[e->n++] = *ev;
	return 0;
}

static int64_t hz_int(struct an_store *s, const char *sql, int64_t id)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(s), sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
	sqlite3_bind_int64(st, 1, id);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s (%lld)", sql, (long long)id);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

Test(an_store, hazard_sync_of_a_split_moves_members_and_revives_a_superseded_row)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	struct an_store_session ss = {.box_id = f.box, .animal_id = f.rat, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = SESSION_T0 + 3600000, .handler_ids = &f.handler, .n_handlers = 1};
	int64_t s2;
	cr_assert_eq(an_store_session_add(s, &ss, &s2), 0, "%s", an_store_errmsg(s));
	/* rec_seq: B2 = 1, A2 = 2, A1 = 3, B1 = 4 (the stored indications the evidence rows refer to) */
	const int64_t e_mm[5] = {0, 13500, 12500, 12000, 14000};
	const int64_t sess[5] = {0, s2, s2, f.session, f.session};
	struct proto_batch *b = batch_new(1, 1);
	for (uint32_t q = 1; q <= 4; q++) {
		int32_t lat, lon;
		e7_of(&f, e_mm[q], 12000, &lat, &lon);
		add_ind(b, 7, q, SESSION_T0 + 1000 * q, lat, lon);
	}
	ingest_ok(s, b);
	free(b);
	uint64_t id[5];
	struct an_hazard_input in[7];
	memset(in, 0, sizeof in);
	for (int q = 1; q <= 4; q++) {
		id[q] = (uint64_t)7 << 32 | (uint64_t)q;
		in[q].kind = AN_HAZARD_IN_IND;
		in[q].u.ind = (struct an_hazard_ind){id[q], (uint64_t)f.rat, (uint64_t)sess[q], SESSION_T0 + 1000 * q,
		                                     e_mm[q], 12000, 200};
	}
	in[5].kind = in[6].kind = AN_HAZARD_IN_SESSION;
	in[5].u.session = (struct an_hazard_session){.session_id = (uint64_t)f.session, .animal_id = (uint64_t)f.rat,
	                                             .species = AN_SPECIES_RAT};
	in[6].u.session = in[5].u.session;
	in[6].u.session.session_id = (uint64_t)s2;
	struct an_hazard_opts o;
	an_hazard_opts_init(&o);
	o.eps_mm = AN_HAZARD_EPS_DERIVED; /* as the core */
	struct an_hazard_engine *h;
	cr_assert_eq(an_hazard_new(&o, &h), 0);
	struct split_evs evs = {0};
	an_hazard_set_sink(h, split_sink, &evs);
	struct an_hazard_store_cache cache = {0};
	char err[256];
	const char *q_status = "SELECT status = 'superseded' FROM hazard_points WHERE id = ?1";
	const char *q_ev = "SELECT count(*) FROM hazard_evidence WHERE hazard_id = ?1 AND kind = 'indication'";
	const char *q_live = "SELECT count(*) FROM hazard_points WHERE task_id = ?1 AND status <> 'superseded'";
	/* A1, A2 (with the session records): one point, A2's */
	struct an_hazard_input first[4] = {in[5], in[6], in[3], in[2]};
	cr_assert_eq(an_hazard_apply(h, first, 4, 1), 0);
	cr_assert_eq(an_hazard_store_sync_cached(s, f.task, &f.o, h, evs.ev, evs.n, &cache, err, sizeof err), 0, "%s",
	             err);
	cr_assert_eq(hz_int(s, q_live, f.task), 1);
	cr_assert_eq(hz_int(s, q_ev, (int64_t)id[2]), 2);
	/* B2: the point is renamed to B2, A2's row superseded */
	evs.n = 0;
	cr_assert_eq(an_hazard_apply(h, &in[1], 1, 2), 0);
	cr_assert_eq(an_hazard_store_sync_cached(s, f.task, &f.o, h, evs.ev, evs.n, &cache, err, sizeof err), 0, "%s",
	             err);
	cr_assert_eq(hz_int(s, q_status, (int64_t)id[2]), 1);
	cr_assert_eq(hz_int(s, q_ev, (int64_t)id[2]), 0);
	cr_assert_eq(hz_int(s, q_ev, (int64_t)id[1]), 3);
	cr_assert_eq(hz_int(s, q_live, f.task), 1);
	/* B1: the split. A2 lives again with A2, A1; B2 keeps B2, B1 */
	evs.n = 0;
	cr_assert_eq(an_hazard_apply(h, &in[4], 1, 3), 0);
	cr_assert_eq(an_hazard_count(h), 2);
	cr_assert_eq(an_hazard_store_sync_cached(s, f.task, &f.o, h, evs.ev, evs.n, &cache, err, sizeof err), 0, "%s",
	             err);
	cr_assert_eq(hz_int(s, q_live, f.task), 2);
	cr_assert_eq(hz_int(s, q_status, (int64_t)id[2]), 0, "the split-off piece's row must be live again");
	cr_assert_eq(hz_int(s, q_ev, (int64_t)id[2]), 2);
	cr_assert_eq(hz_int(s, q_ev, (int64_t)id[1]), 2);
	cr_assert_eq(hz_int(s, "SELECT count(*) FROM hazard_evidence WHERE hazard_id = ?1 AND rec_seq IN (2, 3)",
	                    (int64_t)id[2]), 2);
	cr_assert_eq(hz_int(s, "SELECT count(*) FROM hazard_evidence WHERE hazard_id = ?1 AND rec_seq IN (1, 4)",
	                    (int64_t)id[1]), 2);
	cr_assert_eq(hz_int(s, "SELECT n_ind FROM hazard_points WHERE id = ?1", (int64_t)id[2]), 2);
	cr_assert_eq(hz_int(s, "SELECT n_ind FROM hazard_points WHERE id = ?1", (int64_t)id[1]), 2);
	/* every indication is evidence of exactly one live point */
	cr_assert_eq(count(s, "SELECT count(*) FROM hazard_evidence WHERE kind = 'indication'"), 4);
	cr_assert_eq(hz_int(s, "SELECT count(*) FROM hazard_events WHERE hazard_id = ?1 AND kind = 'created'",
	                    (int64_t)id[2]), 2, "created, then created again by the split");
	cr_assert_eq(hz_int(s, "SELECT count(*) FROM hazard_events WHERE hazard_id = ?1 AND note LIKE 'merged into%'",
	                    (int64_t)id[2]), 1);
	/* a fresh engine's state written over it changes nothing a row shows */
	struct an_hazard_engine *g;
	cr_assert_eq(an_hazard_new(&o, &g), 0);
	cr_assert_eq(an_hazard_apply(g, in + 1, 6, 0), 0);
	cr_assert_eq(an_hazard_store_sync(s, f.task, &f.o, g, NULL, 0, err, sizeof err), 0, "%s", err);
	cr_assert_eq(hz_int(s, q_live, f.task), 2);
	cr_assert_eq(count(s, "SELECT count(*) FROM hazard_evidence WHERE kind = 'indication'"), 4);
	an_hazard_free(g);
	an_hazard_store_cache_free(&cache);
	an_hazard_free(h);
	an_store_close(s);
}

static int collect_clr(void *ctx, const struct an_store_clearance *c)
{
	struct an_store_clearance *out = ctx;
	for (int i = 0; i < 4; i++)
		if (out[i].id == 0) {
			out[i] = *c;
			return 0;
		}
	return -ENOBUFS;
}

static int count_hazard(void *ctx, const struct an_store_hazard *h)
{
	(void)h;
	(*(int *)ctx)++;
	return 0;
}

Test(an_store, clearance_results_are_placed_and_listed_by_date)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	struct an_store_clearance c = {.task_id = f.task, .has_pos = true, .pos_err_mm = 200,
	                               .result = AN_CLR_AP_MINE, .has_depth = true, .depth_mm = 80,
	                               .date_ms = 1700500000000};
	e7_of(&f, 12010, 12020, &c.lat_e7, &c.lon_e7);
	snprintf(c.device_type, sizeof c.device_type, "PMN-2");
	snprintf(c.team, sizeof c.team, "Team 3");
	int64_t id1, id2;
	cr_assert_eq(an_store_clearance_add(s, &c, &id1), 0, "%s", an_store_errmsg(s));
	struct an_store_clearance n = {.task_id = f.task, .result = AN_CLR_NOTHING, .date_ms = 1700400000000};
	cr_assert_eq(an_store_clearance_add(s, &n, &id2), 0, "%s", an_store_errmsg(s));
	struct an_store_clearance bad = n;
	bad.result = 42;
	cr_expect_eq(an_store_clearance_add(s, &bad, &id2), -EINVAL);
	bad = n;
	bad.hazard_id = 999;
	cr_expect_eq(an_store_clearance_add(s, &bad, &id2), -ENOENT);

	struct an_store_clearance out[4];
	memset(out, 0, sizeof out);
	cr_assert_eq(an_store_clearances_by_task(s, f.task, collect_clr, out), 0);
	cr_expect(out[0].result == AN_CLR_NOTHING && !out[0].has_pos && out[0].device_type[0] == '\0');
	cr_expect(out[1].result == AN_CLR_AP_MINE && out[1].has_pos && out[1].has_depth && out[1].depth_mm == 80);
	cr_expect_str_eq(out[1].device_type, "PMN-2");
	cr_expect(llabs(out[1].x_mm - 12010) <= 6 && llabs(out[1].y_mm - 12020) <= 6);
	cr_expect_eq(out[2].id, 0);
	int nh = 0;
	cr_assert_eq(an_store_hazards_by_task(s, f.task, count_hazard, &nh), 0);
	cr_expect_eq(nh, 0);
	/* the follower's reader (core_feed): by id, not by date, and only past the id it was given */
	memset(out, 0, sizeof out);
	cr_assert_eq(an_store_clearances_after(s, 0, collect_clr, out), 0, "%s", an_store_errmsg(s));
	cr_expect(out[0].id == id1 && out[0].result == AN_CLR_AP_MINE && out[0].has_depth && out[0].depth_mm == 80);
	cr_expect(out[1].result == AN_CLR_NOTHING && out[1].id > id1 && out[2].id == 0);
	memset(out, 0, sizeof out);
	cr_assert_eq(an_store_clearances_after(s, id1, collect_clr, out), 0, "%s", an_store_errmsg(s));
	cr_expect(out[0].result == AN_CLR_NOTHING && out[1].id == 0);
	an_store_close(s);
}

Test(an_store, domain_rows_refuse_bad_values_with_clear_messages)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int64_t id;
	cr_expect_eq(an_store_programme_add(s, "Mozambique 2024", NULL, &id), -EEXIST);
	cr_expect(strstr(an_store_errmsg(s), "already exists") != NULL, "%s", an_store_errmsg(s));
	struct an_store_task t = {999, "T", NULL, 0, 0, 0};
	cr_expect_eq(an_store_task_add(s, &t, &id), -ENOENT);
	struct an_store_box b = {.task_id = f.task, .name = "skewed", .lane_width_mm = 500, .lane_count = 40,
	                         .species = AN_SPECIES_RAT};
	e7_of(&f, 0, 0, &b.p0_lat_e7, &b.p0_lon_e7);
	e7_of(&f, 5000, 0, &b.along_lat_e7, &b.along_lon_e7);
	e7_of(&f, 3000, 20000, &b.across_lat_e7, &b.across_lon_e7);
	cr_expect_eq(an_store_box_add(s, &b, &id), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "skewed") != NULL, "%s", an_store_errmsg(s));
	cr_expect_eq(an_store_animal_add(s, 3, "Cat", NULL, &id), -EINVAL);
	cr_expect_eq(an_store_handler_add(s, "H2", "boss", &id), -EINVAL);
	cr_expect_eq(an_store_collar_assign(s, 7, f.rat, SESSION_T0 - 7200000), -EINVAL, "before the open one");
	cr_expect_eq(an_store_collar_assign(s, 8, 4242, SESSION_T0), -ENOENT);
	cr_expect_eq(an_store_session_end(s, f.session, SESSION_T0 - 1), -EINVAL);
	cr_expect_eq(an_store_session_end(s, 4242, SESSION_T0), -ENOENT);
	cr_expect_eq(an_store_gateway_add(s, 3, "gw3", NULL), 0);
	cr_expect_eq(an_store_gateway_add(s, 3, "gw3", NULL), -EEXIST);
	/* collar moved to another animal: the old assignment is closed at the handover */
	int64_t dog;
	cr_assert_eq(an_store_animal_add(s, AN_SPECIES_DOG, "Rex", "MDD", &dog), 0);
	cr_expect_eq(an_store_collar_assign(s, 7, dog, SESSION_T0 + 3600000), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(count(s, "SELECT count(*) FROM collar_assignments WHERE to_ms IS NULL"), 1);
	cr_expect_eq(count(s, "SELECT to_ms FROM collar_assignments WHERE animal_id = 1"), SESSION_T0 + 3600000);
	an_store_close(s);
}

/* Hand-added points take ids below 2^32, so they never collide with the engine's canonical ids
 * (collar_id << 32 | rec_seq, written by an_hazard_store_sync), whatever is in the table already. */
Test(an_store, hand_added_hazard_ids_stay_below_the_engine_ids)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO hazard_points(id, task_id, status, x_mm, y_mm, lat_e7, lon_e7, r95_mm,"
	         " log_odds_q10, p_explosive, created_ms, updated_ms) VALUES (%lld, %lld, 'awaiting_excavation', 0, 0,"
	         " 0, 0, 0, 0, 0.5, 1, 1)", (long long)((7ll << 32) | 5), (long long)f.task);
	cr_assert_eq(sqlite3_exec(an_store_sqlite(s), sql, NULL, NULL, NULL), SQLITE_OK, "%s",
	             sqlite3_errmsg(an_store_sqlite(s)));
	struct an_store_hazard h = {.task_id = f.task, .status = AN_HAZARD_CANDIDATE, .p_explosive = 0.1};
	int64_t a, b;
	cr_assert_eq(an_store_hazard_add(s, &h, "tester", &a), 0, "%s", an_store_errmsg(s));
	cr_assert_eq(an_store_hazard_add(s, &h, "tester", &b), 0, "%s", an_store_errmsg(s));
	cr_expect(a == 1 && b == 2, "ids %lld %lld", (long long)a, (long long)b);
	an_store_close(s);
}

/* ---- calibration records (schema step 7) ---------------------------------------------------------------- */

static struct an_store_calibration cal(int64_t animal, int64_t as_of, uint64_t h, uint64_t m, uint64_t f, double a,
                                       enum an_calib_source src)
{
	struct an_store_calibration c;
	memset(&c, 0, sizeof c);
	c.animal_id = animal;
	c.as_of_ms = as_of;
	c.hits = h;
	c.misses = m;
	c.false_inds = f;
	c.area_m2 = a;
	c.source = src;
	return c;
}

/* A step-6 file with an animal in it migrates to step 7: the table exists, the animal can be calibrated. */
Test(an_store, step7_migrates_a_step6_file_and_calibrations_work)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	for (int v = 1; v <= 6; v++)
		for (const char *const *sql = an_store__migration_sql(v); *sql != NULL; sql++)
			cr_assert_eq(sqlite3_exec(db, *sql, NULL, NULL, NULL), SQLITE_OK, "step %d: %s", v, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 6; PRAGMA application_id = 1396921426;"
	                              "INSERT INTO animals(species, name) VALUES ('dog', 'Rex')", NULL, NULL, NULL),
	             SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_expect_geq(an_store_schema_latest(), 7);
	struct an_store *s = open_store(0);
	int v;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest());
	struct an_store_calibration c = cal(1, 1000, 40, 4, 2, 2500.0, AN_CALIB_ACCREDITATION), out;
	snprintf(c.note, sizeof c.note, "NTSA test 2024");
	size_t ins = 9, dup = 9;
	cr_assert_eq(an_store_calibrations_add(s, &c, 1, "trainer", "test", &ins, &dup, NULL), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(ins, 1);
	cr_expect_eq(dup, 0);
	cr_assert_eq(an_store_calibration_latest(s, 1, &out), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(out.species, AN_SPECIES_DOG);
	cr_expect_eq(out.hits, 40);
	cr_expect_eq(out.misses, 4);
	cr_expect_eq(out.false_inds, 2);
	cr_expect_eq(out.area_m2, 2500.0);
	cr_expect_eq(out.source, AN_CALIB_ACCREDITATION);
	cr_expect_str_eq(out.note, "NTSA test 2024");
	cr_expect_eq(out.entered_ms, fake_now);
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'calibration_add'"), 1);
	an_store_close(s);
}

static int collect_cal(void *ctx, const struct an_store_calibration *c)
{
	struct an_store_calibration *v = ctx;
	size_t i = 0;
	while (v[i].id != 0)
		i++;
	cr_assert_lt(i, 7);
	v[i] = *c;
	return 0;
}

Test(an_store, calibration_latest_wins_ties_are_ordered_history_is_append_only)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	int64_t r1, r2, r3;
	cr_assert_eq(an_store_animal_add(s, AN_SPECIES_RAT, "Alice", NULL, &r1), 0);
	cr_assert_eq(an_store_animal_add(s, AN_SPECIES_RAT, "Bob", NULL, &r2), 0);
	cr_assert_eq(an_store_animal_add(s, AN_SPECIES_DOG, "Cleo", NULL, &r3), 0);
	struct an_store_calibration none;
	cr_expect_eq(an_store_calibration_latest(s, r1, &none), -ENOENT);
	cr_expect(strstr(an_store_errmsg(s), "new animal") != NULL, "%s", an_store_errmsg(s));
	/* Alice: a later record wins whatever the insertion order; Bob: two records at one as_of, the larger
	 * counts win (the engine's order) whichever went in first */
	struct an_store_calibration recs[] = {
		cal(r1, 2000, 90, 10, 3, 3000, AN_CALIB_TRAINING),
		cal(r1, 1000, 30, 5, 1, 1000, AN_CALIB_ACCREDITATION),
		cal(r2, 1500, 10, 1, 0, 500, AN_CALIB_TRAINING),
		cal(r2, 1500, 12, 0, 0, 500, AN_CALIB_OPERATIONAL),
	};
	size_t ins, dup;
	cr_assert_eq(an_store_calibrations_add(s, recs, 4, "t", NULL, &ins, &dup, NULL), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(ins, 4);
	struct an_store_calibration out;
	cr_assert_eq(an_store_calibration_latest(s, r1, &out), 0);
	cr_expect_eq(out.as_of_ms, 2000);
	cr_expect_eq(out.hits, 90);
	cr_assert_eq(an_store_calibration_latest(s, r2, &out), 0);
	cr_expect_eq(out.hits, 12);
	cr_expect_eq(out.source, AN_CALIB_OPERATIONAL);
	struct an_store_calibration v[8];
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_calibrations_in_force(s, collect_cal, v), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(v[0].animal_id, r1);
	cr_expect_eq(v[0].hits, 90);
	cr_expect_eq(v[1].animal_id, r2);
	cr_expect_eq(v[1].hits, 12);
	cr_expect_eq(v[2].id, 0, "Cleo has no record, so no row");
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_calibrations_after(s, recs[1].id, collect_cal, v), 0);
	cr_expect_eq(v[0].id, recs[2].id);
	cr_expect_eq(v[1].id, recs[3].id);
	cr_expect_eq(v[2].id, 0);
	/* re-adding the same record is a duplicate; the same key with other counts is refused, and the whole
	 * call with it: nothing of it is stored */
	struct an_store_calibration again[] = {cal(r3, 5000, 20, 2, 1, 8000, AN_CALIB_TRAINING), recs[0]};
	cr_expect_eq(an_store_calibrations_add(s, again, 2, "t", NULL, &ins, &dup, NULL), 0);
	cr_expect_eq(ins, 1);
	cr_expect_eq(dup, 1);
	cr_expect_eq(again[1].id, recs[0].id);
	struct an_store_calibration clash[] = {cal(r3, 6000, 25, 2, 1, 9000, AN_CALIB_TRAINING),
	                                       cal(r1, 2000, 91, 10, 3, 3000, AN_CALIB_TRAINING)};
	size_t bad = 9;
	int64_t before = count(s, "SELECT count(*) FROM calibrations");
	cr_expect_eq(an_store_calibrations_add(s, clash, 2, "t", NULL, &ins, &dup, &bad), -EEXIST);
	cr_expect_eq(bad, 1);
	cr_expect(strstr(an_store_errmsg(s), "later as_of") != NULL, "%s", an_store_errmsg(s));
	cr_expect_eq(count(s, "SELECT count(*) FROM calibrations"), before, "all or nothing");
	/* bad values and unknown animals are named */
	struct an_store_calibration badv[] = {cal(r1, 1, 1, 0, 0, -1.0, AN_CALIB_TRAINING)};
	cr_expect_eq(an_store_calibrations_add(s, badv, 1, "t", NULL, NULL, NULL, &bad), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "area_m2") != NULL, "%s", an_store_errmsg(s));
	badv[0] = cal(r1, 1, 0, 0, 0, 0.0, AN_CALIB_TRAINING);
	cr_expect_eq(an_store_calibrations_add(s, badv, 1, "t", NULL, NULL, NULL, &bad), -EINVAL);
	badv[0] = cal(r1, 1, 1, 0, 0, 1.0, (enum an_calib_source)9);
	cr_expect_eq(an_store_calibrations_add(s, badv, 1, "t", NULL, NULL, NULL, &bad), -EINVAL);
	badv[0] = cal(999, 1, 1, 0, 0, 1.0, AN_CALIB_TRAINING);
	cr_expect_eq(an_store_calibrations_add(s, badv, 1, "t", NULL, NULL, NULL, &bad), -ENOENT);
	cr_expect(strstr(an_store_errmsg(s), "animal 999") != NULL, "%s", an_store_errmsg(s));
	/* append-only: the schema itself refuses edits and deletions */
	sqlite3 *db = an_store_sqlite(s);
	cr_expect_neq(sqlite3_exec(db, "UPDATE calibrations SET hits = 0", NULL, NULL, NULL), SQLITE_OK);
	cr_expect(strstr(sqlite3_errmsg(db), "append-only") != NULL, "%s", sqlite3_errmsg(db));
	cr_expect_neq(sqlite3_exec(db, "DELETE FROM calibrations", NULL, NULL, NULL), SQLITE_OK);
	cr_expect_eq(count(s, "SELECT count(*) FROM calibrations"), before);
	an_store_close(s);
}

Test(an_store, calibration_sources_round_trip)
{
	enum an_calib_source src;
	for (int i = AN_CALIB_ACCREDITATION; i <= AN_CALIB_IMPORT; i++) {
		cr_assert_not_null(an_store_calib_source_name((enum an_calib_source)i));
		cr_expect_eq(an_store_calib_source_parse(an_store_calib_source_name((enum an_calib_source)i), &src), 0);
		cr_expect_eq((int)src, i);
	}
	cr_expect_null(an_store_calib_source_name((enum an_calib_source)0));
	cr_expect_eq(an_store_calib_source_parse("Training", &src), -EINVAL);
	cr_expect_eq(an_store_calib_source_parse(NULL, &src), -EINVAL);
}

/* ---- recorder box positions (schema step 8) --------------------------------------------------------------- */

/* A step-7 file migrates to step 8: the table exists and takes an entry. */
Test(an_store, step8_migrates_a_step7_file_and_boxpos_works)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	for (int v = 1; v <= 7; v++)
		for (const char *const *sql = an_store__migration_sql(v); *sql != NULL; sql++)
			cr_assert_eq(sqlite3_exec(db, *sql, NULL, NULL, NULL), SQLITE_OK, "step %d: %s", v, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 7; PRAGMA application_id = 1396921426;", NULL, NULL, NULL),
	             SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_expect_geq(an_store_schema_latest(), 8);
	struct an_store *s = open_store(0);
	int v;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest());
	struct an_store_boxpos b = {.collar_id = 3, .rec_seq = 17, .lane = 4, .along_mm = 2500, .sd_mm = 150}, out;
	size_t ins = 9, dup = 9;
	cr_assert_eq(an_store_boxpos_add(s, &b, 1, "recorder", "sheet.csv", &ins, &dup, NULL), 0, "%s",
	             an_store_errmsg(s));
	cr_expect_eq(ins, 1);
	cr_expect_eq(dup, 0);
	cr_expect(!b.ind_known, "no such indication yet: kept for when it arrives");
	cr_assert_eq(an_store_boxpos_latest(s, 3, 17, &out), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(out.lane, 4);
	cr_expect_eq(out.along_mm, 2500);
	cr_expect_eq(out.sd_mm, 150);
	cr_expect_eq(out.entered_ms, fake_now);
	cr_expect_str_eq(out.who, "recorder");
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'boxpos_add'"), 1);
	an_store_close(s);
}

static int collect_bp(void *ctx, const struct an_store_boxpos *b)
{
	struct an_store_boxpos *v = ctx;
	size_t i = 0;
	while (v[i].id != 0)
		i++;
	cr_assert_lt(i, 7);
	v[i] = *b;
	return 0;
}

/* Entries are checked against the indication's box (lane, along), a sheet is all or nothing, loading it
 * twice changes nothing, a correction is a new row that wins, history is append-only. */
Test(an_store, boxpos_checked_against_the_box_latest_wins_append_only)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	struct proto_batch *bt = batch_new(1, 1);
	int32_t lat, lon;
	e7_of(&f, 12000, 12100, &lat, &lon); /* lane 4 of box B1, 2 m along */
	add_fix(bt, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(bt, 7, 2, SESSION_T0 + 2000, lat, lon);
	ingest_ok(s, bt);
	free(bt);
	struct an_geo_box box;
	cr_assert_eq(an_store_ind_box(s, 7, 2, &box), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(box.lane_count, 40);
	cr_expect_eq(an_store_ind_box(s, 7, 99, &box), -ENOENT);

	struct an_store_boxpos sheet[] = {
		{.collar_id = 7, .rec_seq = 2, .lane = 4, .along_mm = 2000, .sd_mm = 150},
		{.collar_id = 7, .rec_seq = 2, .lane = 40, .along_mm = 2000, .sd_mm = 150}, /* box has lanes 0..39 */
	};
	size_t ins, dup, bad;
	cr_expect_eq(an_store_boxpos_add(s, sheet, 2, "rec", NULL, &ins, &dup, &bad), -EINVAL);
	cr_expect_eq(bad, 1);
	cr_expect(strstr(an_store_errmsg(s), "entry 2: lane") != NULL, "%s", an_store_errmsg(s));
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_boxpos"), 0, "all or nothing");
	sheet[1].lane = 5;
	sheet[1].along_mm = 5600; /* lane length 5 m + 0.5 m slack */
	cr_expect_eq(an_store_boxpos_add(s, sheet, 2, "rec", NULL, &ins, &dup, &bad), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "entry 2: along") != NULL, "%s", an_store_errmsg(s));
	sheet[1].along_mm = -1;
	cr_expect_eq(an_store_boxpos_add(s, sheet, 2, "rec", NULL, &ins, &dup, &bad), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "along") != NULL, "%s", an_store_errmsg(s));

	cr_assert_eq(an_store_boxpos_add(s, sheet, 1, "rec", NULL, &ins, &dup, NULL), 0, "%s", an_store_errmsg(s));
	cr_expect(sheet[0].ind_known);
	cr_expect_eq(ins, 1);
	fake_now += 1000;
	cr_assert_eq(an_store_boxpos_add(s, sheet, 1, "rec", NULL, &ins, &dup, NULL), 0);
	cr_expect_eq(ins, 0);
	cr_expect_eq(dup, 1, "the same sheet again: nothing new");
	struct an_store_boxpos fix = {.collar_id = 7, .rec_seq = 2, .lane = 5, .along_mm = 2100, .sd_mm = 150};
	cr_assert_eq(an_store_boxpos_add(s, &fix, 1, "team leader", NULL, &ins, &dup, NULL), 0);
	cr_expect_eq(ins, 1);
	struct an_store_boxpos out;
	cr_assert_eq(an_store_boxpos_latest(s, 7, 2, &out), 0);
	cr_expect_eq(out.lane, 5, "the correction is in force");
	cr_expect_str_eq(out.who, "team leader");
	struct an_store_boxpos v[8];
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_boxpos_after(s, 0, collect_bp, v), 0);
	cr_expect_eq(v[0].lane, 4);
	cr_expect_eq(v[1].lane, 5);
	cr_expect_eq(v[2].id, 0);
	cr_expect_eq(an_store_boxpos_latest(s, 7, 3, &out), -ENOENT);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_expect_neq(sqlite3_exec(db, "UPDATE indication_boxpos SET lane = 1", NULL, NULL, NULL), SQLITE_OK);
	cr_expect_neq(sqlite3_exec(db, "DELETE FROM indication_boxpos", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	an_store_close(s);
}

/* ---- handler verdicts (schema step 9) ------------------------------------------------------------------- */

/* A step-8 file with a web-reviewed indication migrates to step 9: the verdict log exists, the old row keeps
 * its review, and a collar verdict (no handler row) is now accepted on an indication row. */
Test(an_store, step9_migrates_a_step8_file_and_takes_collar_verdicts)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	struct proto_batch *bt = batch_new(1, 1);
	int32_t lat, lon;
	e7_of(&f, 12000, 12100, &lat, &lon);
	add_fix(bt, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(bt, 7, 2, SESSION_T0 + 2000, lat, lon);
	add_ind(bt, 7, 3, SESSION_T0 + 3000, lat, lon);
	ingest_ok(s, bt);
	free(bt);
	an_store_close(s);
	/* back to step 8: the step-1 CHECK text again, no log table */
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, "
	                              "'CHECK (review <> ''unreviewed'' OR reviewed_by IS NULL)', 'CHECK ((review = "
	                              "''unreviewed'') = (reviewed_by IS NULL))') WHERE name = 'indications'; PRAGMA "
	                              "writable_schema = RESET; DROP TABLE indication_reviews; DROP TABLE session_patches; "
	                              "PRAGMA user_version = 8;",
	                          NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_expect_neq(sqlite3_exec(db, "UPDATE indications SET review = 'rejected', reviewed_ms = 1 WHERE rec_seq = 3",
	                           NULL, NULL, NULL), SQLITE_OK, "step 8 wants a handler for a review");
	sqlite3_close(db);
	s = open_store(0);
	int v;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest()); /* 9, and the steps after it */
	cr_expect_geq(v, 9);
	struct an_store_review r = {.collar_id = 7, .rec_seq = 3, .verdict = AN_REVIEW_REJECTED, .t_ms = SESSION_T0 + 5000,
	                            .source = "collar", .who = "collar 7"};
	cr_assert_eq(an_store_review_add(s, &r), 0, "%s", an_store_errmsg(s));
	cr_expect_gt(r.id, 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 3 AND review = 'rejected' AND "
	                      "reviewed_by IS NULL"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM audit_log WHERE action = 'ind_review' AND who = 'collar 7'"), 1);
	an_store_close(s);
}

static int collect_rv(void *ctx, const struct an_store_review *r)
{
	struct an_store_review *v = ctx;
	size_t i = 0;
	while (v[i].id != 0)
		i++;
	cr_assert_lt(i, 7);
	v[i] = *r;
	return 0;
}

/* The verdict in force is the latest t_ms, ties rejected, whatever the insertion order; a verdict may come
 * before its indication; bad values are refused naming the field; the log is append-only. */
Test(an_store, verdict_in_force_latest_then_rejected_append_only)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	/* before the indication: kept, applied when it is stored */
	struct an_store_review r1 = {.collar_id = 7, .rec_seq = 2, .verdict = AN_REVIEW_CONFIRMED,
	                             .t_ms = SESSION_T0 + 9000, .source = "collar", .who = "collar 7"};
	cr_assert_eq(an_store_review_add(s, &r1), 0, "%s", an_store_errmsg(s));
	struct proto_batch *bt = batch_new(1, 1);
	int32_t lat, lon;
	e7_of(&f, 12000, 12100, &lat, &lon);
	add_fix(bt, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(bt, 7, 2, SESSION_T0 + 2000, lat, lon);
	ingest_ok(s, bt);
	free(bt);
	char q[160];
	snprintf(q, sizeof q, "SELECT count(*) FROM indications WHERE rec_seq = 2 AND review = 'confirmed' AND "
	                      "reviewed_ms = %lld AND reviewed_by IS NULL", SESSION_T0 + 9000);
	cr_expect_eq(count(s, q), 1, "a verdict that came first is applied to its indication");
	/* an earlier rejection does not override the later confirmation */
	struct an_store_review r2 = r1;
	r2.verdict = AN_REVIEW_REJECTED;
	r2.t_ms = SESSION_T0 + 8000;
	cr_assert_eq(an_store_review_add(s, &r2), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 2 AND review = 'confirmed'"), 1);
	/* the same time: rejected wins */
	struct an_store_review r3 = r1;
	r3.verdict = AN_REVIEW_REJECTED;
	cr_assert_eq(an_store_review_add(s, &r3), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 2 AND review = 'rejected'"), 1);
	/* a web confirmation later still (the store's clock): in force, with its handler */
	fake_now = SESSION_T0 + 60000;
	cr_assert_eq(an_store_ind_review(s, 7, 2, AN_REVIEW_CONFIRMED, f.handler), 0, "%s", an_store_errmsg(s));
	snprintf(q, sizeof q, "SELECT count(*) FROM indications WHERE rec_seq = 2 AND review = 'confirmed' AND "
	                      "reviewed_by = %" PRId64, f.handler);
	cr_expect_eq(count(s, q), 1);
	struct an_store_review v[8];
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_reviews_after(s, 0, collect_rv, v), 0);
	cr_expect(v[0].verdict == AN_REVIEW_CONFIRMED && v[0].t_ms == SESSION_T0 + 9000);
	cr_expect_str_eq(v[0].source, "collar");
	cr_expect(v[1].verdict == AN_REVIEW_REJECTED && v[2].verdict == AN_REVIEW_REJECTED);
	cr_expect_str_eq(v[3].source, "web");
	cr_expect_eq(v[3].handler_id, f.handler);
	cr_expect_eq(v[4].id, 0);
	int64_t third = v[2].id;
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_reviews_after(s, third, collect_rv, v), 0);
	cr_expect_str_eq(v[0].source, "web", "after an id: only the newer verdicts");
	cr_expect_eq(v[1].id, 0);
	/* refused, naming the field */
	struct an_store_review bad = r1;
	bad.verdict = AN_REVIEW_UNREVIEWED;
	cr_expect_eq(an_store_review_add(s, &bad), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "confirmed or rejected") != NULL, "%s", an_store_errmsg(s));
	bad = r1;
	snprintf(bad.source, sizeof bad.source, "radio");
	cr_expect_eq(an_store_review_add(s, &bad), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "source") != NULL, "%s", an_store_errmsg(s));
	bad = r1;
	bad.handler_id = 999;
	cr_expect_eq(an_store_review_add(s, &bad), -ENOENT);
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews"), 4);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_expect_neq(sqlite3_exec(db, "UPDATE indication_reviews SET verdict = 'confirmed'", NULL, NULL, NULL), SQLITE_OK);
	cr_expect_neq(sqlite3_exec(db, "DELETE FROM indication_reviews", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	an_store_close(s);
}

/* The collar's verdict rides an IND (proto IND key VERDICT): on an onset IND it is on that indication, on a
 * completion on the one it completes. Ingest adds it to the log inside the batch's transaction (source
 * "collar", who "collar <id>", t_ms = the gateway's reception), once: a resent record is a duplicate, a
 * batch that fails leaves no verdict behind; a verdict completion may arrive before its indication. */
Test(an_store, ingest_stores_the_collars_verdicts_from_onsets_and_completions)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	int32_t lat, lon;
	e7_of(&f, 12000, 12100, &lat, &lon);
	struct proto_batch *b = batch_new(1, 1);
	add_fix(b, 7, 1, SESSION_T0 + 1000, lat, lon);
	add_ind(b, 7, 2, SESSION_T0 + 2000, lat, lon); /* a tap in the hold: confirmed, in the IND itself */
	b->rec[b->n - 1].m.ind.has |= PROTO_IND_HAS_VERDICT;
	b->rec[b->n - 1].m.ind.verdict = PROTO_VERDICT_CONFIRMED;
	uint64_t rx2 = b->rec[b->n - 1].rx_ms;
	add_ind(b, 7, 3, SESSION_T0 + 3000, lat, lon); /* no verdict yet */
	struct an_store_ingest_result r = ingest_ok(s, b);
	cr_expect_eq(r.inds, 2);
	free(b);
	char q[200];
	snprintf(q, sizeof q, "SELECT count(*) FROM indication_reviews WHERE collar_id = 7 AND rec_seq = 2 AND verdict "
	                      "= 'confirmed' AND source = 'collar' AND who = 'collar 7' AND t_ms = %llu",
	         (unsigned long long)rx2);
	cr_expect_eq(count(s, q), 1, "the onset's verdict, dated by its reception");
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 2 AND review = 'confirmed'"), 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 3 AND review = 'unreviewed'"), 1);

	/* a long press released later: a completion of 3 carrying the rejection */
	b = batch_new(1, 2);
	add_completion(b, 7, 5, 3, SESSION_T0 + 3000, 6100, 90);
	b->rec[0].m.ind.has |= PROTO_IND_HAS_VERDICT;
	b->rec[0].m.ind.verdict = PROTO_VERDICT_REJECTED;
	r = ingest_ok(s, b);
	cr_expect_eq(r.inds, 0);
	free(b);
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews WHERE rec_seq = 3 AND verdict = 'rejected'"), 1,
	             "the verdict is on the indication the completion completes");
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews WHERE rec_seq = 5"), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE rec_seq = 3 AND review = 'rejected' AND dur_ms = "
	                      "6100"), 1);

	/* the same records resent (a gateway that lost our ack): duplicates, no second verdict */
	b = batch_new(1, 3);
	add_completion(b, 7, 5, 3, SESSION_T0 + 3000, 6100, 90);
	b->rec[0].m.ind.has |= PROTO_IND_HAS_VERDICT;
	b->rec[0].m.ind.verdict = PROTO_VERDICT_REJECTED;
	r = ingest_ok(s, b);
	cr_expect(r.duplicates == 1 && r.conflicts == 0, "dup %u conflicts %u", r.duplicates, r.conflicts);
	free(b);
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews"), 2);

	/* a verdict completion before its indication (collar 8): kept, in force once the indication is stored */
	b = batch_new(1, 4);
	add_completion(b, 8, 9, 4, SESSION_T0 + 4000, 2000, 70);
	b->rec[0].m.ind.has |= PROTO_IND_HAS_VERDICT;
	b->rec[0].m.ind.verdict = PROTO_VERDICT_REJECTED;
	ingest_ok(s, b);
	free(b);
	b = batch_new(1, 5);
	add_ind(b, 8, 4, SESSION_T0 + 4000, lat, lon);
	ingest_ok(s, b);
	free(b);
	cr_expect_eq(count(s, "SELECT count(*) FROM indications WHERE collar_id = 8 AND rec_seq = 4 AND review = "
	                      "'rejected'"), 1);

	/* a batch that fails stores no verdict either (one transaction) */
	b = batch_new(1, 6);
	add_ind(b, 7, 20, SESSION_T0 + 5000, lat, lon);
	b->rec[0].m.ind.has |= PROTO_IND_HAS_VERDICT;
	b->rec[0].m.ind.verdict = PROTO_VERDICT_CONFIRMED;
	add_ind(b, 7, 21, SESSION_T0 + 6000, lat, lon);
	b->rec[1].rec_seq = 22; /* the batch's rec_seq differs from the message's: the whole batch is refused */
	struct an_store_ingest_result rr;
	cr_expect_eq(an_store_ingest_batch(s, b, &rr), -EINVAL);
	free(b);
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews WHERE rec_seq = 20"), 0);
	cr_expect_eq(count(s, "SELECT count(*) FROM indication_reviews"), 3);
	struct an_store_review v[8];
	memset(v, 0, sizeof v);
	cr_assert_eq(an_store_reviews_after(s, 0, collect_rv, v), 0);
	cr_expect_str_eq(v[0].who, "collar 7");
	cr_expect_str_eq(v[2].who, "collar 8");
	cr_expect_eq(v[2].handler_id, 0);
	an_store_close(s);
}

/* ---- session patches (schema step 10) -------------------------------------------------------------------- */

/* A step-9 file with a session in it migrates to step 10: the old session has no patches (the whole box),
 * and a new session takes its patches. */
Test(an_store, step10_migrates_a_step9_file_and_sessions_take_patches)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	an_store_close(s);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "DROP TABLE session_patches; PRAGMA user_version = 9;", NULL, NULL, NULL),
	             SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_expect_geq(an_store_schema_latest(), 10);
	s = open_store(0);
	int v;
	cr_assert_eq(an_store_schema_version(s, &v), 0);
	cr_expect_eq(v, an_store_schema_latest());
	struct an_geo_box_patch out[4];
	size_t n = 99;
	cr_assert_eq(an_store_session_patches(s, f.session, out, 4, &n), 0, "%s", an_store_errmsg(s));
	cr_expect_eq(n, 0, "a session of before step 10 searched its whole box");
	const struct an_geo_box_patch pt[] = {{2, 4, 500, 2500}, {30, 6, 0, 4000}};
	struct an_store_session ss = {.box_id = f.box, .animal_id = f.rat, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = SESSION_T0 + 3600000, .has_end = true, .end_ms = SESSION_T0 + 4000000,
	                              .patches = pt, .n_patches = 2};
	int64_t sid;
	cr_assert_eq(an_store_session_add(s, &ss, &sid), 0, "%s", an_store_errmsg(s));
	cr_assert_eq(an_store_session_patches(s, sid, out, 4, &n), 0, "%s", an_store_errmsg(s));
	cr_assert_eq(n, 2);
	cr_expect(memcmp(out, pt, sizeof pt) == 0, "the patches as given, in order");
	an_store_close(s);
}

/* Round trip and the bounds: the order kept, at most AN_STORE_SESSION_MAX_PATCHES (more is refused, nothing
 * stored), each inside the box (40 lanes of 5 m), -ENOBUFS / -ENOENT on the read path. */
Test(an_store, session_patches_round_trip_and_bounds)
{
	struct an_store *s = open_store(AN_STORE_CREATE);
	struct field f = make_field(s);
	struct an_geo_box_patch pt[AN_STORE_SESSION_MAX_PATCHES + 1], out[AN_STORE_SESSION_MAX_PATCHES + 1];
	for (size_t i = 0; i <= AN_STORE_SESSION_MAX_PATCHES; i++)
		pt[i] = (struct an_geo_box_patch){(uint32_t)(39 - 2 * i), 1, (int64_t)i * 100, (int64_t)i * 100 + 250};
	struct an_store_session ss = {.box_id = f.box, .animal_id = f.rat, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = SESSION_T0 + 3600000, .patches = pt,
	                              .n_patches = AN_STORE_SESSION_MAX_PATCHES + 1};
	int64_t sid;
	int64_t sessions = count(s, "SELECT count(*) FROM sessions");
	cr_expect_eq(an_store_session_add(s, &ss, &sid), -EINVAL);
	cr_expect(strstr(an_store_errmsg(s), "at most") != NULL, "%s", an_store_errmsg(s));
	cr_expect_eq(count(s, "SELECT count(*) FROM sessions"), sessions, "nothing stored");
	ss.n_patches = AN_STORE_SESSION_MAX_PATCHES;
	cr_assert_eq(an_store_session_add(s, &ss, &sid), 0, "%s", an_store_errmsg(s));
	size_t n = 0;
	cr_assert_eq(an_store_session_patches(s, sid, out, AN_STORE_SESSION_MAX_PATCHES, &n), 0);
	cr_assert_eq(n, AN_STORE_SESSION_MAX_PATCHES);
	cr_expect(memcmp(out, pt, n * sizeof *pt) == 0);
	cr_expect_eq(an_store_session_patches(s, sid, out, 3, &n), -ENOBUFS);
	cr_expect_eq(n, AN_STORE_SESSION_MAX_PATCHES);
	cr_expect_eq(an_store_session_patches(s, 4242, out, 3, &n), -ENOENT);
	/* outside the box: lanes 38..41 of 40, 4.5..5.5 m of a 5 m lane, an empty one; nothing stored */
	const struct an_geo_box_patch bad[] = {{38, 4, 0, 1000}, {0, 1, 4500, 5500}, {0, 1, 1000, 1000}, {0, 0, 0, 1}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ss.patches = &bad[i];
		ss.n_patches = 1;
		cr_expect_eq(an_store_session_add(s, &ss, &sid), -EINVAL, "patch %zu", i);
		cr_expect(strstr(an_store_errmsg(s), "not inside box") != NULL, "%s", an_store_errmsg(s));
	}
	cr_expect_eq(count(s, "SELECT count(*) FROM sessions"), sessions + 1);
	cr_expect_eq(count(s, "SELECT count(*) FROM session_patches"), AN_STORE_SESSION_MAX_PATCHES);
	an_store_close(s);
}
