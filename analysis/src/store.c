/*
 * analysis/src/store.c — opening the core store: integrity check, WAL, pragmas, migrations; errors,
 * cached statements, transactions, clock and audit shared by store_ingest.c and store_query.c.
 * Policy and rationale are in an/store.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

/* PRAGMA application_id: 'SCTR'. Lets open refuse someone else's SQLite file instead of "migrating" it. */
#define AN_STORE_APP_ID 0x53435452

static const char *const stmt_sql[ST__COUNT] = {
	[ST_GW_GET] = "SELECT last_gw_seq FROM gateways WHERE gw_id = ?1",
	[ST_GW_ENSURE] = "INSERT INTO gateways(gw_id) VALUES (?1) ON CONFLICT(gw_id) DO NOTHING",
	[ST_GW_SET_SEQ] = "UPDATE gateways SET last_gw_seq = ?2, last_batch_ms = ?3 WHERE gw_id = ?1",
	[ST_COLLAR_ENSURE] = "INSERT INTO collars(collar_id, last_seen_ms) VALUES (?1, ?2) "
	                     "ON CONFLICT(collar_id) DO UPDATE SET "
	                     "last_seen_ms = max(coalesce(last_seen_ms, excluded.last_seen_ms), excluded.last_seen_ms)",
	[ST_COLLAR_HELLO] = "UPDATE collars SET firmware = ?2, caps = ?3, boot_id = ?4 WHERE collar_id = ?1",
	/* DO NOTHING on the identity only: any other constraint failure is an error, not a "duplicate". */
	[ST_REC_INSERT] = "INSERT INTO records(collar_id, rec_seq, type, digest, gw_id, gw_seq, rx_ms, link, "
	                  "rssi_dbm, snr_db10, raw, raw_record_id) "
	                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
	                  "ON CONFLICT(collar_id, rec_seq) DO NOTHING",
	[ST_REC_FIND] = "SELECT id, type, digest FROM records WHERE collar_id = ?1 AND rec_seq = ?2",
	[ST_FIX_INSERT] = "INSERT INTO fixes(record_id, collar_id, rec_seq, t_ms, t_mono_ms, lat_e7, lon_e7, alt_mm, "
	                  "hdop_c, h_acc_mm, gga_q, faa_mode, fix_dim, nsat, sog_cms, cog_cdeg, tq, rx_ms, gw_id, "
	                  "session_id, task_id, x_mm, y_mm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	                  "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
	[ST_IND_INSERT] = "INSERT INTO indications(record_id, collar_id, rec_seq, t_ms, t_mono_ms, kind, dur_ms, "
	                  "conf_pct, src, lat_e7, lon_e7, h_acc_mm, fix_ref, rx_ms, gw_id, session_id, task_id, "
	                  "x_mm, y_mm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
	                  "?16, ?17, ?18, ?19)",
	[ST_IND_COMPLETION_INSERT] = "INSERT INTO ind_completions(record_id, collar_id, rec_seq, completes, dur_ms, "
	                             "conf_pct) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* the newest completion of (collar ?1, rec_seq ?2) gives the final duration/confidence, if any */
	[ST_IND_COMPLETE] = "UPDATE indications SET dur_ms = coalesce(c.dur_ms, indications.dur_ms), "
	                    "conf_pct = coalesce(c.conf_pct, indications.conf_pct) "
	                    "FROM (SELECT dur_ms, conf_pct FROM ind_completions WHERE collar_id = ?1 AND completes = ?2 "
	                    "ORDER BY rec_seq DESC LIMIT 1) AS c "
	                    "WHERE indications.collar_id = ?1 AND indications.rec_seq = ?2",
	[ST_STATUS_INSERT] = "INSERT INTO collar_status(gw_id, gw_seq, idx, collar_id, type, rx_ms, batt_mv, batt_pct, "
	                     "temp_dc, backlog, tx_frames, retx, acks, rssi_dbm, snr_db10, fw, boot_id, oldest_seq, "
	                     "next_seq, caps, cmd_id, cmd_result, cmd_progress_pct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	                     "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) "
	                     "ON CONFLICT(gw_id, gw_seq, idx) DO NOTHING",
	/* The session the collar's animal was in at ?2: assignment [from, to), session [start, end]. The newest
	 * session wins if two overlap (a data-entry error, but the choice must still be deterministic). Written
	 * as a scalar subquery so both ORDER BYs walk an index backwards: the join form made SQLite sort in a
	 * temporary b-tree for every record (80k instructions per placement, measured with callgrind). */
	[ST_PLACE] = "SELECT s.id, b.task_id FROM sessions s JOIN boxes b ON b.id = s.box_id "
	             "WHERE s.animal_id = (SELECT animal_id FROM collar_assignments WHERE collar_id = ?1 "
	             "AND from_ms <= ?2 AND (to_ms IS NULL OR ?2 < to_ms) ORDER BY from_ms DESC LIMIT 1) "
	             "AND s.start_ms <= ?2 AND (s.end_ms IS NULL OR ?2 <= s.end_ms) "
	             "ORDER BY s.start_ms DESC, s.id DESC LIMIT 1",
	[ST_TASK_ORIGIN] = "SELECT origin_lat_e7, origin_lon_e7, origin_alt_mm FROM tasks WHERE id = ?1",
	[ST_AUDIT] = "INSERT INTO audit_log(t_ms, who, action, entity, entity_id, detail) "
	             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

int an_store__fail(struct an_store *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return code;
}

int an_store__errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		switch (rc) {
		case SQLITE_CONSTRAINT_UNIQUE:
		case SQLITE_CONSTRAINT_PRIMARYKEY:
			return -EEXIST;
		case SQLITE_CONSTRAINT_FOREIGNKEY:
			return -ENOENT;
		default:
			return -EINVAL; /* CHECK, NOT NULL: a value the schema refuses */
		}
	default:
		return -EIO;
	}
}

int an_store__sqlfail(struct an_store *s, int rc, const char *where)
{
	return an_store__fail(s, an_store__errno_of(rc), "%s: sqlite: %s (%s, %d)", where,
	                      s->db != NULL ? sqlite3_errmsg(s->db) : "no connection", sqlite3_errstr(rc), rc);
}

sqlite3_stmt *an_store__stmt(struct an_store *s, enum an_store_stmt i, int *err)
{
	if (s->st[i] == NULL) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK) {
			*err = an_store__sqlfail(s, rc, "prepare");
			return NULL;
		}
	} else {
		sqlite3_reset(s->st[i]);
		sqlite3_clear_bindings(s->st[i]);
	}
	return s->st[i];
}

int an_store__prepare(struct an_store *s, const char *sql, sqlite3_stmt **st, const char *where)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		*st = NULL;
		return an_store__sqlfail(s, rc, where);
	}
	return 0;
}

int an_store__exec(struct an_store *s, const char *sql, const char *where)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : an_store__sqlfail(s, rc, where);
}

int an_store__begin(struct an_store *s, const char *where)
{
	/* IMMEDIATE: take the write lock now, so a busy database fails here (after the busy timeout) and
	 * never half-way through a batch on a read→write lock upgrade. */
	return an_store__exec(s, "BEGIN IMMEDIATE", where);
}

int an_store__commit(struct an_store *s, const char *where)
{
	int err = an_store__exec(s, "COMMIT", where);
	if (err < 0)
		an_store__rollback(s);
	return err;
}

void an_store__rollback(struct an_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int64_t clock_realtime_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t an_store__now(struct an_store *s)
{
	return s->clock(s->clock_ctx);
}

void an_store_set_clock(struct an_store *s, an_store_clock_fn fn, void *ctx)
{
	if (s == NULL)
		return;
	s->clock = fn != NULL ? fn : clock_realtime_ms;
	s->clock_ctx = fn != NULL ? ctx : NULL;
}

void an_store_set_precommit_hook(struct an_store *s, an_store_precommit_fn fn, void *ctx)
{
	if (s == NULL)
		return;
	s->precommit = fn;
	s->precommit_ctx = ctx;
}

struct sqlite3 *an_store_sqlite(struct an_store *s)
{
	return s != NULL ? s->db : NULL;
}

const char *an_store_errmsg(const struct an_store *s)
{
	return s != NULL ? s->err : "no store";
}

int an_store__writable(struct an_store *s, const char *where)
{
	if (s->flags & AN_STORE_READONLY)
		return an_store__fail(s, -EROFS, "%s: store opened read-only", where);
	return 0;
}

int an_store__audit(struct an_store *s, const char *who, const char *action, const char *entity,
                    int64_t entity_id, const char *detail)
{
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_AUDIT, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int64(st, 1, an_store__now(s));
	sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, entity, -1, SQLITE_STATIC);
	bind_opt_i64(st, 5, entity_id != 0, entity_id);
	bind_text_or_null(st, 6, detail);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "audit");
}

int an_store__rows(struct an_store *s, sqlite3_stmt *st, an_store__row_fn row, void *ctx, const char *where)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = row(ctx, st);
		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, where);
}

int an_store__rows_of(struct an_store *s, bool has_cb, const char *sql, int64_t arg, an_store__row_fn row, void *ctx,
                      const char *where)
{
	if (s == NULL)
		return -EINVAL;
	if (!has_cb)
		return an_store__fail(s, -EINVAL, "%s: no callback", where);
	sqlite3_stmt *st;
	int err = an_store__prepare(s, sql, &st, where);
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, arg);
	return an_store__rows(s, st, row, ctx, where);
}

int an_store__batch_finish(struct an_store *s, const struct an_store__batch *b, size_t *inserted,
                           size_t *duplicates, size_t *bad)
{
	if (b->ins > 0) {
		char detail[256]; /* the label is cut at 100 bytes: the audit row names, it does not archive */
		snprintf(detail, sizeof detail, "%zu %s (%zu duplicates skipped)%s%.100s", b->ins, b->noun, b->dups,
		         b->what != NULL ? " from " : "", b->what != NULL ? b->what : "");
		int err = an_store__audit(s, b->who, b->action, b->entity, b->last_id, detail);
		if (err < 0) {
			an_store__rollback(s);
			if (bad != NULL)
				*bad = b->n;
			return err;
		}
	}
	int err = an_store__commit(s, b->where);
	if (err < 0)
		return err;
	if (inserted != NULL)
		*inserted = b->ins;
	if (duplicates != NULL)
		*duplicates = b->dups;
	return 0;
}

int an_store_audit(struct an_store *s, const char *who, const char *action, const char *entity,
                   int64_t entity_id, const char *detail)
{
	if (s == NULL)
		return -EINVAL;
	if (who == NULL || who[0] == '\0' || action == NULL || entity == NULL)
		return an_store__fail(s, -EINVAL, "an_store_audit: who, action and entity are required");
	int err = an_store__writable(s, "an_store_audit");
	return err < 0 ? err : an_store__audit(s, who, action, entity, entity_id, detail);
}

/* ---- open ---------------------------------------------------------------------------------------------- */

static int pragma_int(struct an_store *s, const char *sql, int64_t *v, const char *where)
{
	sqlite3_stmt *st;
	int err = an_store__prepare(s, sql, &st, where);
	if (err < 0)
		return err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	else
		err = an_store__sqlfail(s, rc, where);
	sqlite3_finalize(st);
	return err;
}

int an_store_check(struct an_store *s, bool full)
{
	if (s == NULL)
		return -EINVAL;
	/* Ask for up to 10 problems: the first one is quoted, the count tells how bad it is. */
	const char *sql = full ? "PRAGMA integrity_check(10)" : "PRAGMA quick_check(10)";
	const char *what = full ? "integrity_check" : "quick_check";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return an_store__fail(s, an_store__errno_of(rc) == -EBADMSG ? -EBADMSG : an_store__errno_of(rc),
		                      "an_store_check: %s could not start: %s (%s): the file is damaged or not a "
		                      "database; restore it from the last backup",
		                      what, sqlite3_errmsg(s->db), sqlite3_errstr(rc));
	char first[256] = "";
	int n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* One row per problem, but a row may hold several problems separated by newlines under a
		 * "*** in database main ***" heading: count and quote problems, not rows. */
		const char *text = (const char *)sqlite3_column_text(st, 0);
		if (text == NULL || strcmp(text, "ok") == 0)
			continue;
		for (const char *line = text; *line != '\0';) {
			size_t len = strcspn(line, "\n");
			bool heading = len >= 3 && strncmp(line, "***", 3) == 0;
			if (len > 0 && !heading && n++ == 0)
				snprintf(first, sizeof first, "%.*s", (int)len, line);
			line += len;
			if (*line == '\n')
				line++;
		}
	}
	int code = an_store__errno_of(rc);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_store__fail(s, code == -EBADMSG ? -EBADMSG : code,
		                      "an_store_check: %s failed: %s (%s): the file is damaged; restore it from "
		                      "the last backup",
		                      what, sqlite3_errmsg(s->db), sqlite3_errstr(rc));
	if (n > 0)
		return an_store__fail(s, -EBADMSG,
		                      "an_store_check: %s found %d%s problem(s), first: \"%s\": the file is "
		                      "damaged; restore it from the last backup",
		                      what, n, n >= 10 ? " or more" : "", first);
	return 0;
}

int an_store_schema_latest(void)
{
	return an_store__migration_count();
}

int an_store_schema_version(struct an_store *s, int *version)
{
	if (s == NULL || version == NULL)
		return -EINVAL;
	int64_t v = 0;
	int err = pragma_int(s, "PRAGMA user_version", &v, "an_store_schema_version");
	if (err < 0)
		return err;
	*version = (int)v;
	return 0;
}

static int migrate(struct an_store *s, const char *path)
{
	int64_t v = 0, app = 0;
	int err = pragma_int(s, "PRAGMA user_version", &v, "an_store_open: read schema version");
	if (err < 0)
		return err;
	err = pragma_int(s, "PRAGMA application_id", &app, "an_store_open: read application id");
	if (err < 0)
		return err;
	int latest = an_store__migration_count();
	if (app != 0 && app != AN_STORE_APP_ID)
		return an_store__fail(s, -EBADMSG,
		                      "an_store_open: %s: application_id 0x%08llx is not a scentrack core store "
		                      "(0x%08x)",
		                      path, (unsigned long long)app, AN_STORE_APP_ID);
	if (v > latest)
		return an_store__fail(s, -ENOTSUP,
		                      "an_store_open: %s: schema version %lld is newer than this build knows (%d): "
		                      "refusing to touch it; use a newer scentrack",
		                      path, (long long)v, latest);
	if (v == latest)
		return 0;
	if (s->flags & AN_STORE_READONLY)
		return an_store__fail(s, -EROFS,
		                      "an_store_open: %s: schema version %lld needs migration to %d, but the store "
		                      "was opened read-only",
		                      path, (long long)v, latest);
	if (v == 0) {
		/* A version-0 file must be empty: never "migrate" a database that has tables we did not make. */
		int64_t n = 0;
		err = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &n, "an_store_open: inspect schema");
		if (err < 0)
			return err;
		if (n != 0)
			return an_store__fail(s, -EBADMSG,
			                      "an_store_open: %s: has %lld schema objects but no scentrack schema "
			                      "version: not a scentrack core store",
			                      path, (long long)n);
	}
	for (int step = (int)v + 1; step <= latest; step++) {
		char where[96];
		snprintf(where, sizeof where, "an_store_open: migration to schema %d", step);
		err = an_store__begin(s, where);
		if (err < 0)
			return err;
		/* Re-read inside the write lock: another process may have migrated while we waited. */
		int64_t now_v = 0;
		err = pragma_int(s, "PRAGMA user_version", &now_v, where);
		if (err < 0)
			goto out_rollback;
		if (now_v >= step) {
			err = an_store__commit(s, where);
			if (err < 0)
				return err;
			continue;
		}
		for (const char *const *sql = an_store__migration_sql(step); *sql != NULL; sql++) {
			err = an_store__exec(s, *sql, where);
			if (err < 0)
				goto out_rollback;
		}
		char bump[96];
		snprintf(bump, sizeof bump, "PRAGMA user_version = %d; PRAGMA application_id = %d", step,
		         AN_STORE_APP_ID);
		err = an_store__exec(s, bump, where);
		if (err < 0)
			goto out_rollback;
		err = an_store__commit(s, where);
		if (err < 0)
			return err;
	}
	return 0;
out_rollback:
	an_store__rollback(s);
	return err;
}

int an_store_open(const char *path, unsigned flags, struct an_store **out, char *errbuf, size_t errcap)
{
	if (errbuf != NULL && errcap > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	const unsigned known = AN_STORE_CREATE | AN_STORE_READONLY | AN_STORE_SYNC_NORMAL | AN_STORE_CHECK_FULL |
	                       AN_STORE_CHECK_NONE;
	if (path == NULL || (flags & ~known) != 0 || ((flags & AN_STORE_CREATE) && (flags & AN_STORE_READONLY)) ||
	    ((flags & AN_STORE_CHECK_FULL) && (flags & AN_STORE_CHECK_NONE))) {
		if (errbuf != NULL && errcap > 0)
			snprintf(errbuf, errcap, "an_store_open: bad arguments (path %s, flags 0x%x)",
			         path != NULL ? path : "NULL", flags);
		return -EINVAL;
	}
	struct an_store *s = calloc(1, sizeof *s);
	if (s == NULL) {
		if (errbuf != NULL && errcap > 0)
			snprintf(errbuf, errcap, "an_store_open: %s: out of memory", path);
		return -ENOMEM;
	}
	s->flags = flags;
	s->clock = clock_realtime_ms;

	int oflags = SQLITE_OPEN_NOMUTEX | ((flags & AN_STORE_READONLY) ? SQLITE_OPEN_READONLY
	                                                                 : SQLITE_OPEN_READWRITE) |
	             ((flags & AN_STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
	int err;
	int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		err = an_store__fail(s, an_store__errno_of(rc), "an_store_open: %s: cannot open: %s (%s)%s", path,
		                     s->db != NULL ? sqlite3_errmsg(s->db) : "", sqlite3_errstr(rc),
		                     (flags & AN_STORE_CREATE) ? "" : "; pass AN_STORE_CREATE to create it");
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, AN_STORE_BUSY_TIMEOUT_MS);

	if (!(flags & AN_STORE_CHECK_NONE)) {
		err = an_store_check(s, (flags & AN_STORE_CHECK_FULL) != 0);
		if (err < 0) {
			char why[AN_STORE_ERRMSG_MAX];
			snprintf(why, sizeof why, "%s", s->err);
			an_store__fail(s, err, "an_store_open: %s: integrity check failed: %s", path, why);
			goto out_close;
		}
	}
	if (!(flags & AN_STORE_READONLY)) {
		sqlite3_stmt *st;
		err = an_store__prepare(s, "PRAGMA journal_mode = WAL", &st, "an_store_open: journal_mode");
		if (err < 0)
			goto out_close;
		rc = sqlite3_step(st);
		const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		bool wal = mode != NULL && strcmp(mode, "wal") == 0;
		char got[16];
		snprintf(got, sizeof got, "%s", mode != NULL ? mode : "?");
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW) {
			err = an_store__sqlfail(s, rc, "an_store_open: journal_mode");
			goto out_close;
		}
		if (!wal) {
			err = an_store__fail(s, -EIO,
			                     "an_store_open: %s: journal mode is '%s', WAL refused (file system without "
			                     "shared memory support?)",
			                     path, got);
			goto out_close;
		}
	}
	err = an_store__exec(s,
	                     (flags & AN_STORE_SYNC_NORMAL) ? "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"
	                                                    : "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
	                     "an_store_open: pragmas");
	if (err < 0)
		goto out_close;
	int64_t fk = 0;
	err = pragma_int(s, "PRAGMA foreign_keys", &fk, "an_store_open: foreign_keys");
	if (err < 0)
		goto out_close;
	if (fk != 1) {
		err = an_store__fail(s, -EIO, "an_store_open: this SQLite build cannot enforce foreign keys");
		goto out_close;
	}
	err = migrate(s, path);
	if (err < 0)
		goto out_close;
	*out = s;
	return 0;

out_close:
	if (errbuf != NULL && errcap > 0)
		snprintf(errbuf, errcap, "%s", s->err);
	an_store_close(s);
	return err;
}

void an_store_close(struct an_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* close_v2: the connection really closes once every statement is gone; the last connection to a WAL
	 * database checkpoints and removes the -wal file. */
	sqlite3_close_v2(s->db);
	free(s);
}

/* ---- gateways --------------------------------------------------------------------------------------------- */

int an_store_gateway_add(struct an_store *s, uint16_t gw_id, const char *name, const uint8_t *public_key)
{
	if (s == NULL)
		return -EINVAL;
	if (gw_id == 0)
		return an_store__fail(s, -EINVAL, "an_store_gateway_add: gateway id 0 is never a gateway");
	int err = an_store__writable(s, "an_store_gateway_add");
	if (err < 0)
		return err;
	sqlite3_stmt *st;
	err = an_store__prepare(s, "INSERT INTO gateways(gw_id, name, public_key) VALUES (?1, ?2, ?3)", &st,
	                        "an_store_gateway_add");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, gw_id);
	bind_text_or_null(st, 2, name);
	if (public_key != NULL)
		sqlite3_bind_blob(st, 3, public_key, 32, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = an_store__sqlfail(s, rc, "an_store_gateway_add");
		if (err == -EEXIST)
			an_store__fail(s, err, "an_store_gateway_add: gateway %u is already registered", gw_id);
		return err;
	}
	return an_store__audit(s, "core", "gateway_add", "gateway", gw_id, name);
}

int an_store_gateway_last_seq(struct an_store *s, uint16_t gw_id, uint64_t *gw_seq, bool *known)
{
	if (s == NULL || gw_seq == NULL || known == NULL)
		return -EINVAL;
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_GW_GET, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, gw_id);
	int rc = sqlite3_step(st);
	*gw_seq = 0;
	*known = false;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*gw_seq = (uint64_t)sqlite3_column_int64(st, 0);
		*known = true;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = an_store__sqlfail(s, rc, "an_store_gateway_last_seq");
	}
	sqlite3_reset(st);
	return err;
}
