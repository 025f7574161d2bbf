/*
 * gw/src/spool.c — SQLite spool: durable records, per-collar state, upstream batches (see gw/spool.h).
 *
 * Performance shape: one connection, every statement prepared once, inserts grouped in one transaction
 * per commit; ids are assigned here (next_id) so a FIXB's records can point at their anchor without a
 * second statement. A commit is the only fsync (WAL, synchronous=FULL).
 */
#define _GNU_SOURCE
#include "gw/spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "gw/log.h"
#include "gw/loop.h"
#include "proto/err.h"
#include "proto/msg.h"

#define SPOOL_SCHEMA_VERSION 2 /* 2: table batch replaced the index rec_gw (1 is migrated at open) */
#define SPOOL_COMMIT_CBS 4u
#define GW_SPOOL_TRIM_MS 1000u /* acked rows are deleted at most this often (each trim: commit + checkpoint) */

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSERT,
	ST_HAS,
	ST_SEQS,
	ST_COLLAR_SAVE,
	ST_COLLAR_EACH,
	ST_META_GET,
	ST_META_SET,
	ST_MIN_BATCH,
	ST_UNASSIGNED,
	ST_ASSIGN,
	ST_BATCH_ROWS,
	ST_BATCH_ADD,
	ST_BATCH_LAST,
	ST_TRIM,
	ST_TRIM_BATCH,
	ST_MAX_SEQ,
	ST__N
};

static const char *const stmt_sql[ST__N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INSERT] = "INSERT OR IGNORE INTO rec(id, collar_id, type, rec_seq, rx_ms, link, rssi, snr, anchor, raw, "
	              "body, gw_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_HAS] = "SELECT 1 FROM rec WHERE collar_id = ?1 AND rec_seq = ?2",
	[ST_SEQS] = "SELECT rec_seq FROM rec WHERE collar_id = ?1 AND rec_seq > ?2 AND rec_seq <= ?3 ORDER BY rec_seq",
	[ST_COLLAR_SAVE] = "INSERT OR REPLACE INTO collar(collar_id, boot_id, link_seq, cum) VALUES (?1, ?2, ?3, ?4)",
	[ST_COLLAR_EACH] = "SELECT collar_id, boot_id, link_seq, cum FROM collar ORDER BY collar_id",
	[ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
	[ST_META_SET] = "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)",
	[ST_MIN_BATCH] = "SELECT gw_seq, first_id, last_id FROM batch WHERE gw_seq > ?1 AND gw_seq < ?2 ORDER BY gw_seq "
	                 "LIMIT 1",
	[ST_UNASSIGNED] = "SELECT id, anchor FROM rec WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3",
	[ST_ASSIGN] = "UPDATE rec SET gw_seq = ?1 WHERE id >= ?2 AND id <= ?3",
	[ST_BATCH_ROWS] = "SELECT id, collar_id, type, rec_seq, rx_ms, link, rssi, snr, anchor, raw, body FROM rec "
	                  "WHERE id >= ?1 AND id <= ?2 ORDER BY id",
	[ST_BATCH_ADD] = "INSERT INTO batch(gw_seq, first_id, last_id) VALUES (?1, ?2, ?3)",
	[ST_BATCH_LAST] = "SELECT MAX(last_id) FROM batch WHERE gw_seq > ?1 AND gw_seq <= ?2",
	[ST_TRIM] = "DELETE FROM rec WHERE id <= ?1 AND (rec_seq IS NULL OR rec_seq <= "
	            "(SELECT cum FROM collar WHERE collar.collar_id = rec.collar_id))",
	[ST_TRIM_BATCH] = "DELETE FROM batch WHERE gw_seq <= ?1",
	[ST_MAX_SEQ] = "SELECT MAX(id) FROM rec",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rec("
	" id INTEGER PRIMARY KEY,"      /* spool order */
	" collar_id INTEGER NOT NULL,"
	" type INTEGER NOT NULL,"       /* enum proto_type of body */
	" rec_seq INTEGER,"             /* FIX/IND only */
	" rx_ms INTEGER NOT NULL,"      /* gateway UTC ms */
	" link INTEGER NOT NULL,"
	" rssi INTEGER, snr INTEGER,"   /* NULL = the link did not say */
	" anchor INTEGER NOT NULL,"     /* id of the record carrying this frame's raw bytes (own id: this one) */
	" raw BLOB,"                    /* unstuffed frame, on the anchor only */
	" body BLOB NOT NULL,"          /* msgpack body of this one record */
	" gw_seq INTEGER);"             /* upstream batch (NULL only in a schema 1 spool before its migration) */
	"CREATE UNIQUE INDEX IF NOT EXISTS rec_dedupe ON rec(collar_id, rec_seq) WHERE rec_seq IS NOT NULL;"
	/* A batch is a contiguous id range of rec (numbered in spool order): one row per committed batch not
	 * trimmed yet, written once per 64 records, instead of an index on rec.gw_seq that every insert and
	 * every trimmed row paid for (schema 1). */
	"CREATE TABLE IF NOT EXISTS batch(gw_seq INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS collar("
	" collar_id INTEGER PRIMARY KEY, boot_id INTEGER, link_seq INTEGER, cum INTEGER NOT NULL);";

struct commit_sub {
	gw_spool_commit_cb cb;
	void *arg;
};

struct gw_spool {
	sqlite3 *db;
	sqlite3_stmt *st[ST__N];
	char *wal_path;
	uint16_t gw_id;
	uint16_t boot_id;
	uint64_t max_bytes;
	int full;
	int in_txn;
	unsigned pending;        /* records inserted in the open transaction */
	int64_t next_id;         /* id of the next record */
	int64_t txn_first_id;    /* next_id when the transaction began (restored on rollback) */
	int64_t committed_end;   /* every id < committed_end is committed */
	int64_t assigned_upto;   /* every id <= assigned_upto has a gw_seq */
	uint64_t next_gw_seq;    /* every batch < next_gw_seq is committed (sealed); persisted in meta */
	/* The batch being filled by gw_spool_put in the open transaction (sealed by the commit): see
	 * "Batches are numbered as records are inserted" above gw_spool_put. */
	uint64_t fill_seq;       /* its gw_seq (>= next_gw_seq) */
	unsigned fill_n;         /* records in it */
	int64_t fill_first_id;   /* id of its first record */
	uint64_t acked_gw_seq;
	int64_t acked_id;           /* every record of a batch <= acked_gw_seq has id <= acked_id (persisted) */
	uint64_t next_trim_ms;      /* gw_spool_acked trims no sooner (monotonic ms) */
	/* the frame being stored */
	const uint8_t *frame_raw;
	size_t frame_raw_len;
	int64_t frame_anchor;    /* 0: no record of this frame stored yet */
	struct commit_sub subs[SPOOL_COMMIT_CBS];
	struct gw_spool_stats stats;
	/* batch building scratch */
	struct proto_batch batch;
	int64_t batch_ids[PROTO_BATCH_RECS_MAX];
	uint8_t raw_copy[PROTO_BATCH_RECS_MAX][PROTO_FRAME_MAX];
};

static int sql_fail(struct gw_spool *s, const char *what)
{
	int rc = sqlite3_extended_errcode(s->db);
	gw_log(GW_LOG_ERR, "spool", "%s: %s (sqlite %d)", what, sqlite3_errmsg(s->db), rc);
	if ((rc & 0xff) == SQLITE_FULL)
		return -ENOSPC;
	return -EIO;
}

/* Run a prepared statement that returns no rows. */
static int step_done(struct gw_spool *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, what);
	return 0;
}

static int meta_get(struct gw_spool *s, const char *k, int64_t dflt, int64_t *v)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : dflt;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, "meta read");
	return 0;
}

static int meta_set(struct gw_spool *s, const char *k, int64_t v)
{
	sqlite3_stmt *st = s->st[ST_META_SET];
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return step_done(s, st, "meta write");
}

static int txn_begin(struct gw_spool *s)
{
	if (s->in_txn)
		return 0;
	int err = step_done(s, s->st[ST_BEGIN], "BEGIN");
	if (err < 0)
		return err;
	s->in_txn = 1;
	s->txn_first_id = s->next_id;
	return 0;
}

static void txn_rollback(struct gw_spool *s)
{
	if (!s->in_txn)
		return;
	/* ROLLBACK can fail only if SQLite already rolled back itself (SQLITE_FULL/IOERR do): harmless. */
	sqlite3_step(s->st[ST_ROLLBACK]);
	sqlite3_reset(s->st[ST_ROLLBACK]);
	unsigned n = s->pending;
	s->in_txn = 0;
	s->pending = 0;
	s->next_id = s->txn_first_id;
	/* the batches numbered in the transaction are gone with it (none of them was handed out) */
	s->fill_seq = s->next_gw_seq;
	s->fill_n = 0;
	s->fill_first_id = s->next_id;
	s->frame_anchor = 0;
	s->frame_raw = NULL;
	for (unsigned i = 0; i < SPOOL_COMMIT_CBS; i++)
		if (s->subs[i].cb)
			s->subs[i].cb(s->subs[i].arg, 0, n);
}

static void refresh_usage(struct gw_spool *s)
{
	sqlite3_stmt *st;
	int64_t pages = 0, freel = 0, psize = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT * FROM pragma_page_count, pragma_freelist_count, pragma_page_size", -1,
	                       &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			pages = sqlite3_column_int64(st, 0);
			freel = sqlite3_column_int64(st, 1);
			psize = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	}
	struct stat sb;
	uint64_t wal = stat(s->wal_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	s->stats.used_bytes = (uint64_t)((pages - freel) * psize) + wal;
	if (!s->max_bytes) {
		s->full = 0;
	} else if (!s->full && s->stats.used_bytes >= s->max_bytes) {
		s->full = 1;
		gw_log(GW_LOG_WARN, "spool",
		       "disk budget reached (%llu of %llu bytes): refusing fixes (collars keep them), still storing "
		       "indications",
		       (unsigned long long)s->stats.used_bytes, (unsigned long long)s->max_bytes);
	} else if (s->full && s->stats.used_bytes < s->max_bytes / 10u * 9u) {
		s->full = 0;
		gw_log(GW_LOG_NOTE, "spool", "below 90%% of the disk budget again: accepting fixes");
	}
	s->stats.full = (uint8_t)s->full;
}

static int batch_add(struct gw_spool *s, uint64_t seq, int64_t first, int64_t last)
{
	sqlite3_stmt *st = s->st[ST_BATCH_ADD];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 2, first);
	sqlite3_bind_int64(st, 3, last);
	return step_done(s, st, "batch add");
}

int gw_spool_commit(struct gw_spool *s)
{
	if (!s->in_txn)
		return 0;
	/* Seal the batch being filled and persist the numbering with the records it numbers: the commit that
	 * makes the records durable makes their batches durable too, so no batch ever needs a commit (an fsync)
	 * of its own before it leaves. */
	uint64_t sealed = s->fill_n ? s->fill_seq + 1u : s->fill_seq;
	int err = 0;
	if (s->fill_n && (err = batch_add(s, s->fill_seq, s->fill_first_id, s->next_id - 1)) < 0)
		goto out_rollback;
	if (sealed != s->next_gw_seq && (err = meta_set(s, "next_gw_seq", (int64_t)sealed)) < 0)
		goto out_rollback;
	if (s->next_id - 1 != s->assigned_upto &&
	    ((err = meta_set(s, "assigned_upto", s->next_id - 1)) < 0 || (err = meta_set(s, "next_id", s->next_id)) < 0))
		goto out_rollback;
	int rc = sqlite3_step(s->st[ST_COMMIT]);
	sqlite3_reset(s->st[ST_COMMIT]);
	if (rc != SQLITE_DONE) {
		err = sql_fail(s, "COMMIT");
		goto out_rollback;
	}
	unsigned n = s->pending;
	s->in_txn = 0;
	s->pending = 0;
	s->committed_end = s->next_id;
	s->assigned_upto = s->next_id - 1;
	s->next_gw_seq = sealed;
	s->fill_seq = sealed;
	s->fill_n = 0;
	s->fill_first_id = s->next_id;
	s->stats.commits++;
	refresh_usage(s);
	for (unsigned i = 0; i < SPOOL_COMMIT_CBS; i++)
		if (s->subs[i].cb)
			s->subs[i].cb(s->subs[i].arg, 1, n);
	return 0;
out_rollback:
	s->stats.commit_errors++;
	txn_rollback(s);
	return err;
}

void gw_spool_on_commit(struct gw_spool *s, gw_spool_commit_cb cb, void *arg)
{
	for (unsigned i = 0; i < SPOOL_COMMIT_CBS; i++) {
		if (!s->subs[i].cb) {
			s->subs[i].cb = cb;
			s->subs[i].arg = arg;
			return;
		}
	}
	gw_log(GW_LOG_ERR, "spool", "too many commit subscribers (max %u)", SPOOL_COMMIT_CBS);
}

unsigned gw_spool_pending(const struct gw_spool *s)
{
	return s->pending;
}

uint16_t gw_spool_boot_id(const struct gw_spool *s)
{
	return s->boot_id;
}

static int assign_legacy(struct gw_spool *s);

/* Schema 1 → 2 (in the open transaction): one batch row per numbered, unacked batch; the acked mark's id
 * bound; then the index rec_gw goes. Batches of schema 1 are contiguous id ranges too (numbered in spool
 * order by id range). */
static int migrate_v1(struct gw_spool *s)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT INTO batch(gw_seq, first_id, last_id) SELECT gw_seq, MIN(id), MAX(id) FROM rec "
	         "WHERE gw_seq > %llu GROUP BY gw_seq",
	         (unsigned long long)s->acked_gw_seq);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, "migrate batches");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT IFNULL(MAX(id), 0) FROM rec WHERE gw_seq <= ?1", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, "migrate acked id");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->acked_gw_seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		s->acked_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sql_fail(s, "migrate acked id");
	int err = meta_set(s, "acked_id", s->acked_id);
	if (err < 0)
		return err;
	if (sqlite3_exec(s->db, "DROP INDEX IF EXISTS rec_gw", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(s, "migrate drop index");
	gw_log(GW_LOG_NOTE, "spool", "spool schema 1 migrated to 2 (batch table)");
	return 0;
}

int gw_spool_open(struct gw_spool **out, const struct gw_spool_opts *o)
{
	*out = NULL;
	if (!o || !o->path || !o->gw_id)
		return -EINVAL;
	struct gw_spool *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	int err = -EIO;
	s->gw_id = o->gw_id;
	s->max_bytes = o->max_bytes;
	s->stats.max_bytes = o->max_bytes;
	if (asprintf(&s->wal_path, "%s-wal", o->path) < 0) {
		s->wal_path = NULL;
		err = -ENOMEM;
		goto out_free;
	}
	if (sqlite3_open_v2(o->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		gw_log(GW_LOG_ERR, "spool", "cannot open %s: %s", o->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out_close_db;
	}
	/* WAL + synchronous=FULL: a COMMIT returns only after the WAL is fsynced, which is what makes "ACK after
	 * commit" a promise. Each automatic checkpoint costs three more fsyncs (the WAL, the file, the WAL header
	 * when it restarts): every 16 MiB of WAL instead of SQLite's 4 MiB default took the fsyncs of a 200 k-fix
	 * flood from 137 to ~55 (with commit_max 16384); the trim's checkpoint keeps the WAL short anyway while
	 * the core acks. busy_timeout lets `sqlite3` readers (tests, an operator) look without making our
	 * writes fail. */
	char *msg = NULL;
	if (sqlite3_exec(s->db,
	                 "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	                 "PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 4096;"
	                 "PRAGMA foreign_keys = OFF;",
	                 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		gw_log(GW_LOG_ERR, "spool", "%s: schema: %s", o->path, msg ? msg : "?");
		sqlite3_free(msg);
		goto out_close_db;
	}
	for (unsigned i = 0; i < ST__N; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			gw_log(GW_LOG_ERR, "spool", "%s: prepare \"%s\": %s", o->path, stmt_sql[i], sqlite3_errmsg(s->db));
			goto out_finalize;
		}
	}
	int64_t v, ver;
	if (meta_get(s, "schema", 0, &ver) < 0)
		goto out_finalize;
	if (ver && ver != 1 && ver != SPOOL_SCHEMA_VERSION) {
		gw_log(GW_LOG_ERR, "spool", "%s: schema version %lld, this build knows %d", o->path, (long long)ver,
		       SPOOL_SCHEMA_VERSION);
		goto out_finalize;
	}
	sqlite3_stmt *st = s->st[ST_MAX_SEQ];
	if (sqlite3_step(st) != SQLITE_ROW) {
		sql_fail(s, "max id");
		sqlite3_reset(st);
		goto out_finalize;
	}
	s->next_id = sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	int64_t next_seq, acked, upto, boot;
	if (meta_get(s, "next_gw_seq", 1, &next_seq) < 0 || meta_get(s, "acked_gw_seq", 0, &acked) < 0 ||
	    meta_get(s, "assigned_upto", 0, &upto) < 0 || meta_get(s, "boot_id", 0, &boot) < 0 ||
	    meta_get(s, "next_id", 1, &v) < 0 || meta_get(s, "acked_id", 0, &s->acked_id) < 0)
		goto out_finalize;
	/* ids never go backwards, even when the newest rows were trimmed (assigned_upto must stay meaningful). */
	if (v > s->next_id)
		s->next_id = v;
	s->next_gw_seq = (uint64_t)next_seq;
	s->acked_gw_seq = (uint64_t)acked;
	s->assigned_upto = upto;
	s->committed_end = s->next_id;
	s->fill_seq = s->next_gw_seq;
	s->fill_first_id = s->next_id;
	/* The gateway's epoch for the ACK frames it sends: bumped every start (wrapping past 65535 restarts at 1;
	 * collars compare it only for equality with the last ACK's, see docs). */
	s->boot_id = (uint16_t)(boot % 65535 + 1);
	/* assign_legacy before the commit: a commit marks every id below next_id as numbered */
	if (txn_begin(s) < 0 || meta_set(s, "schema", SPOOL_SCHEMA_VERSION) < 0 || meta_set(s, "boot_id", s->boot_id) < 0 ||
	    (ver == 1 && migrate_v1(s) < 0) || assign_legacy(s) < 0 || gw_spool_commit(s) < 0)
		goto out_finalize;
	s->stats.commits = 0;
	s->stats.next_gw_seq = s->next_gw_seq;
	s->stats.acked_gw_seq = s->acked_gw_seq;
	*out = s;
	return 0;

out_finalize:
	txn_rollback(s);
	for (unsigned i = 0; i < ST__N; i++)
		sqlite3_finalize(s->st[i]);
out_close_db:
	sqlite3_close(s->db);
out_free:
	free(s->wal_path);
	free(s);
	return err;
}

int gw_spool_close(struct gw_spool *s)
{
	if (!s)
		return 0;
	int err = gw_spool_commit(s);
	for (unsigned i = 0; i < ST__N; i++)
		sqlite3_finalize(s->st[i]);
	/* A clean close checkpoints and removes the WAL (SQLite does it on the last connection's close). */
	if (sqlite3_close(s->db) != SQLITE_OK)
		gw_log(GW_LOG_ERR, "spool", "close: %s", sqlite3_errmsg(s->db));
	free(s->wal_path);
	free(s);
	return err;
}

void gw_spool_frame_begin(struct gw_spool *s, const uint8_t *raw, size_t raw_len)
{
	s->frame_raw = raw;
	s->frame_raw_len = raw_len;
	s->frame_anchor = 0;
}

/*
 * Batches are numbered as records are inserted. Each record gets the gw_seq of the batch being filled
 * (fill_seq) in its INSERT; a batch holds at most PROTO_BATCH_RECS_MAX records and a frame's records never
 * straddle two batches (raw_ref must point inside the batch): when a frame's record would be the 65th, the
 * frame's earlier records in this batch move to the next one with it (one UPDATE over a few ids; a FIXB
 * holds at most 16). The commit seals the batch being filled, so a batch never spans two commits and a
 * committed batch never changes: every rebuild of it is byte-identical. A record of a frame whose earlier
 * records are in an earlier batch (a frame longer than a batch, or a commit in the middle of a frame)
 * carries the frame's raw bytes again, so every batch is self-contained.
 *
 * Until session 3 batches were numbered when the upstream asked for one, in a transaction of their own:
 * one extra commit (fsync) per 16 batches, and one more after every IND's commit before it could leave.
 */
int gw_spool_put(struct gw_spool *s, const struct gw_spool_rec *r)
{
	if (!r || !r->body || !r->body_len || r->body_len > PROTO_BODY_MAX || !r->collar_id)
		return -EINVAL;
	if (s->full && r->type != PROTO_T_IND) {
		s->stats.refused++;
		return -ENOSPC;
	}
	int err = txn_begin(s);
	if (err < 0)
		return err;
	sqlite3_stmt *st = s->st[ST_INSERT];
	int64_t id = s->next_id;
	/* which batch: the one being filled, or a new one (with this frame's records of the full one) */
	uint64_t seq = s->fill_seq;
	int64_t first = s->fill_first_id;
	if (s->fill_n >= PROTO_BATCH_RECS_MAX) {
		seq = s->fill_seq + 1u;
		first = s->frame_raw && s->frame_anchor > s->fill_first_id ? s->frame_anchor : id;
	}
	int anchor_here = s->frame_raw && (!s->frame_anchor || s->frame_anchor < first);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, r->collar_id);
	sqlite3_bind_int(st, 3, r->type);
	if (r->has_seq)
		sqlite3_bind_int64(st, 4, r->rec_seq);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)r->rx_ms);
	sqlite3_bind_int(st, 6, r->link);
	if (r->has_rssi)
		sqlite3_bind_int(st, 7, r->rssi_dbm);
	if (r->has_snr)
		sqlite3_bind_int(st, 8, r->snr_db10);
	sqlite3_bind_int64(st, 9, anchor_here || !s->frame_anchor ? id : s->frame_anchor);
	if (anchor_here)
		sqlite3_bind_blob(st, 10, s->frame_raw, (int)s->frame_raw_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, r->body, (int)r->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)seq);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		err = sql_fail(s, "insert");
		txn_rollback(s);
		if (err == -ENOSPC)
			s->stats.refused++;
		return err;
	}
	if (!sqlite3_changes(s->db)) {
		s->stats.duplicates++;
		return 0;
	}
	if (seq != s->fill_seq) {
		if ((err = batch_add(s, s->fill_seq, s->fill_first_id, first - 1)) < 0) {
			txn_rollback(s);
			return err;
		}
		if (first < id) {
			/* the frame's earlier records follow it into the new batch */
			sqlite3_stmt *mv = s->st[ST_ASSIGN];
			sqlite3_bind_int64(mv, 1, (sqlite3_int64)seq);
			sqlite3_bind_int64(mv, 2, first);
			sqlite3_bind_int64(mv, 3, id - 1);
			if ((err = step_done(s, mv, "batch move")) < 0) {
				txn_rollback(s);
				return err;
			}
		}
		s->fill_seq = seq;
		s->fill_first_id = first;
		s->fill_n = (unsigned)(id - first);
	}
	s->fill_n++;
	s->next_id++;
	s->pending++;
	s->stats.stored++;
	if (anchor_here)
		s->frame_anchor = id;
	return 1;
}

int gw_spool_has(struct gw_spool *s, uint16_t collar_id, uint32_t rec_seq)
{
	sqlite3_stmt *st = s->st[ST_HAS];
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sql_fail(s, "lookup");
}

int gw_spool_seqs(struct gw_spool *s, uint16_t collar_id, uint32_t lo, uint32_t hi,
                  void (*cb)(void *arg, uint32_t rec_seq), void *arg)
{
	sqlite3_stmt *st = s->st[ST_SEQS];
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(arg, (uint32_t)sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, "seqs");
	return 0;
}

int gw_spool_collar_save(struct gw_spool *s, const struct gw_spool_collar *c)
{
	int err = txn_begin(s);
	if (err < 0)
		return err;
	sqlite3_stmt *st = s->st[ST_COLLAR_SAVE];
	sqlite3_bind_int(st, 1, c->collar_id);
	if (c->has_replay) {
		sqlite3_bind_int(st, 2, c->boot_id);
		sqlite3_bind_int(st, 3, c->link_seq);
	}
	sqlite3_bind_int64(st, 4, c->cum);
	err = step_done(s, st, "collar save");
	if (err < 0)
		txn_rollback(s);
	return err;
}

int gw_spool_collar_each(struct gw_spool *s, void (*cb)(void *arg, const struct gw_spool_collar *c), void *arg)
{
	sqlite3_stmt *st = s->st[ST_COLLAR_EACH];
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gw_spool_collar c = {0};
		c.collar_id = (uint16_t)sqlite3_column_int(st, 0);
		c.has_replay = sqlite3_column_type(st, 1) != SQLITE_NULL;
		c.boot_id = (uint16_t)sqlite3_column_int(st, 1);
		c.link_seq = (uint16_t)sqlite3_column_int(st, 2);
		c.cum = (uint32_t)sqlite3_column_int64(st, 3);
		cb(arg, &c);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, "collar list");
	return 0;
}

int gw_spool_stats(struct gw_spool *s, struct gw_spool_stats *out)
{
	refresh_usage(s);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM rec", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			s->stats.records = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	s->stats.next_gw_seq = s->next_gw_seq;
	s->stats.acked_gw_seq = s->acked_gw_seq;
	*out = s->stats;
	return 0;
}

/* --- upstream ------------------------------------------------------------------------------------------ */

/* A spool written before batches were numbered at insert (see gw_spool_put) may hold committed records
 * without a gw_seq: number them at open, in spool order, with the same rules, in one commit. */
static int assign_legacy(struct gw_spool *s)
{
	int64_t ids[PROTO_BATCH_RECS_MAX + 1], anchors[PROTO_BATCH_RECS_MAX + 1];
	int64_t upto = s->assigned_upto;
	uint64_t seq = s->next_gw_seq;
	unsigned formed = 0;
	int err;
	for (;;) {
		unsigned n = 0;
		sqlite3_stmt *st = s->st[ST_UNASSIGNED];
		sqlite3_bind_int64(st, 1, upto);
		sqlite3_bind_int64(st, 2, s->committed_end);
		sqlite3_bind_int(st, 3, PROTO_BATCH_RECS_MAX + 1);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n <= PROTO_BATCH_RECS_MAX) {
			ids[n] = sqlite3_column_int64(st, 0);
			anchors[n] = sqlite3_column_int64(st, 1);
			n++;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			err = sql_fail(s, "unassigned");
			goto out_rollback;
		}
		if (!n)
			break;
		unsigned take = n;
		if (n > PROTO_BATCH_RECS_MAX) {
			take = PROTO_BATCH_RECS_MAX;
			/* The 65th record continues a frame that started inside this batch: end the batch before that
			 * frame, so a frame's raw bytes and their raw_ref always travel together. */
			if (anchors[take] != ids[take]) {
				unsigned k = take;
				while (k > 0 && ids[k - 1] >= anchors[take])
					k--;
				if (k > 0)
					take = k;
			}
		}
		if ((err = txn_begin(s)) < 0)
			goto out_rollback;
		st = s->st[ST_ASSIGN];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 2, ids[0]);
		sqlite3_bind_int64(st, 3, ids[take - 1]);
		if ((err = step_done(s, st, "assign")) < 0 || (err = batch_add(s, seq, ids[0], ids[take - 1])) < 0)
			goto out_rollback;
		seq++;
		upto = ids[take - 1];
		formed++;
	}
	if (!formed)
		return 0;
	gw_log(GW_LOG_NOTE, "spool", "numbered %u batches of records spooled by an earlier version", formed);
	s->fill_seq = seq; /* the commit persists next_gw_seq and assigned_upto */
	return gw_spool_commit(s);
out_rollback:
	txn_rollback(s);
	return err;
}

static int decode_body(struct proto_batch_rec *r, const uint8_t *b, size_t n)
{
	switch (r->type) {
	case PROTO_T_FIX: return proto_fix_decode(b, n, &r->m.fix, NULL);
	case PROTO_T_IND: return proto_ind_decode(b, n, &r->m.ind, NULL);
	case PROTO_T_STATUS: return proto_status_decode(b, n, &r->m.status, NULL);
	case PROTO_T_HELLO: return proto_hello_decode(b, n, &r->m.hello, NULL);
	case PROTO_T_CMD_ACK: return proto_cmd_ack_decode(b, n, &r->m.cmd_ack, NULL);
	default: return PROTO_EFRAME_TYPE;
	}
}

static int build_batch(struct gw_spool *s, uint64_t seq, int64_t first, int64_t last, uint8_t *body, size_t cap,
                       size_t *len)
{
	struct proto_batch *b = &s->batch;
	memset(b, 0, sizeof *b);
	b->gw_id = s->gw_id;
	b->gw_seq = seq;
	sqlite3_stmt *st = s->st[ST_BATCH_ROWS];
	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, last);
	int rc, err = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (b->n >= PROTO_BATCH_RECS_MAX) {
			err = -EBADMSG;
			break;
		}
		struct proto_batch_rec *r = &b->rec[b->n];
		int64_t id = sqlite3_column_int64(st, 0);
		s->batch_ids[b->n] = id;
		r->collar_id = (uint16_t)sqlite3_column_int(st, 1);
		r->type = (uint8_t)sqlite3_column_int(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			r->has |= PROTO_REC_HAS_SEQ;
			r->rec_seq = (uint32_t)sqlite3_column_int64(st, 3);
		}
		r->rx_ms = (uint64_t)sqlite3_column_int64(st, 4);
		r->link = (uint8_t)sqlite3_column_int(st, 5);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			r->has |= PROTO_REC_HAS_RSSI;
			r->rssi_dbm = (int16_t)sqlite3_column_int(st, 6);
		}
		if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
			r->has |= PROTO_REC_HAS_SNR;
			r->snr_db10 = (int16_t)sqlite3_column_int(st, 7);
		}
		int64_t anchor = sqlite3_column_int64(st, 8);
		if (anchor == id && sqlite3_column_type(st, 9) == SQLITE_NULL) {
			/* no frame: a record downloaded from the dock (journal bodies were never radio frames) */
		} else if (anchor == id) {
			int rl = sqlite3_column_bytes(st, 9);
			if (rl < (int)PROTO_RAW_MIN || rl > (int)PROTO_FRAME_MAX) {
				err = -EBADMSG;
				break;
			}
			memcpy(s->raw_copy[b->n], sqlite3_column_blob(st, 9), (size_t)rl);
			r->raw.p = s->raw_copy[b->n];
			r->raw.len = (uint16_t)rl;
			r->has |= PROTO_REC_HAS_RAW;
		} else {
			unsigned k;
			for (k = 0; k < b->n && s->batch_ids[k] != anchor; k++)
				;
			if (k == b->n) {
				err = -EBADMSG;
				break;
			}
			r->raw_ref = (uint8_t)k;
			r->has |= PROTO_REC_HAS_RAWREF;
		}
		int bl = sqlite3_column_bytes(st, 10);
		if (decode_body(r, sqlite3_column_blob(st, 10), (size_t)bl) < 0) {
			err = -EBADMSG;
			break;
		}
		b->n++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err == -EBADMSG)
		gw_log(GW_LOG_ERR, "spool", "batch %llu: a stored record no longer decodes (corrupted spool?)",
		       (unsigned long long)seq);
	if (err < 0)
		return err;
	if (rc != SQLITE_DONE)
		return sql_fail(s, "batch rows");
	int perr = proto_batch_encode(b, body, cap, len);
	if (perr == PROTO_ENOBUFS)
		return -ENOBUFS;
	if (perr < 0) {
		gw_log(GW_LOG_ERR, "spool", "batch %llu: encode: %s", (unsigned long long)seq, proto_strerror(perr));
		return -EBADMSG;
	}
	return 1;
}

int gw_spool_batch(struct gw_spool *s, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	if (after < s->acked_gw_seq)
		after = s->acked_gw_seq;
	if (after + 1u >= s->next_gw_seq)
		return 0; /* nothing committed after it (the open transaction's batches are not sealed yet) */
	/* Usually after + 1 (a primary-key lookup); the range keeps working over a gap. */
	sqlite3_stmt *st = s->st[ST_MIN_BATCH];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->next_gw_seq);
	int rc = sqlite3_step(st);
	uint64_t seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	int64_t first = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
	int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, "next batch");
	if (rc == SQLITE_DONE)
		return 0;
	int r = build_batch(s, seq, first, last, body, cap, len);
	if (r == 1)
		*gw_seq = seq;
	return r;
}

int gw_spool_acked_seq(struct gw_spool *s, uint64_t *gw_seq)
{
	*gw_seq = s->acked_gw_seq;
	return 0;
}

int gw_spool_unacked(struct gw_spool *s, uint64_t *n)
{
	/* Rows the core has not acknowledged: every row after the acked mark's last id (batches are contiguous
	 * id ranges in spool order), pending ones included. A count over a rowid range. Status only. */
	sqlite3_stmt *st;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM rec WHERE id > ?1", -1, &st, NULL) != SQLITE_OK) {
		gw_log(GW_LOG_WARN, "spool", "unacked count: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, s->acked_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int gw_spool_trim(struct gw_spool *s)
{
	int err = txn_begin(s);
	if (err < 0)
		return err;
	sqlite3_stmt *st = s->st[ST_TRIM];
	sqlite3_bind_int64(st, 1, s->acked_id);
	if ((err = step_done(s, st, "trim")) < 0) {
		txn_rollback(s);
		return err;
	}
	int n = sqlite3_changes(s->db);
	st = s->st[ST_TRIM_BATCH];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->acked_gw_seq);
	if ((err = step_done(s, st, "trim batches")) < 0) {
		txn_rollback(s);
		return err;
	}
	err = gw_spool_commit(s);
	if (err < 0)
		return err;
	s->stats.trimmed += (uint64_t)n;
	if (n > 0) {
		/* Give the space back to the budget now: copy the WAL into the main file and truncate it (the
		 * freed pages are reused by the next inserts; the file itself does not shrink). */
		if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
			gw_log(GW_LOG_WARN, "spool", "checkpoint: %s", sqlite3_errmsg(s->db));
		refresh_usage(s);
	}
	return n;
}

int gw_spool_acked(struct gw_spool *s, uint64_t gw_seq)
{
	if (gw_seq >= s->next_gw_seq) {
		gw_log(GW_LOG_WARN, "spool", "core acked gw_seq %llu, but only %llu were handed out: ignored",
		       (unsigned long long)gw_seq, (unsigned long long)(s->next_gw_seq - 1));
		return -EINVAL;
	}
	if (gw_seq <= s->acked_gw_seq)
		return 0;
	int err = txn_begin(s);
	if (err < 0)
		return err;
	/* the id bound of the newly acked batches (their rows are still there: batch rows go with the trim) */
	sqlite3_stmt *st = s->st[ST_BATCH_LAST];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->acked_gw_seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)gw_seq);
	int rc = sqlite3_step(st);
	int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW) {
		err = sql_fail(s, "acked batch");
		txn_rollback(s);
		return err;
	}
	if ((err = meta_set(s, "acked_gw_seq", (int64_t)gw_seq)) < 0 ||
	    (last > s->acked_id && (err = meta_set(s, "acked_id", last)) < 0)) {
		txn_rollback(s);
		return err;
	}
	s->acked_gw_seq = gw_seq;
	if (last > s->acked_id)
		s->acked_id = last;
	/* The new mark waits in the open transaction for the next commit of any kind (a group commit, the next
	 * batch, a trim): a commit + WAL checkpoint per acked batch cost two fsyncs each and capped the upstream
	 * at ~50 batches/s. Losing an uncommitted mark in a crash only makes the gateway resend batches the core
	 * already has; it acks them as replays. Trimming (commit + checkpoint) runs at most every
	 * GW_SPOOL_TRIM_MS, or at once while the disk budget refuses fixes. */
	uint64_t now = gw_clock_mono_ms();
	if (s->full || now >= s->next_trim_ms) {
		s->next_trim_ms = now + GW_SPOOL_TRIM_MS;
		err = gw_spool_trim(s); /* commits the new acked point with the deletions */
		if (err < 0)
			return err;
	}
	return 0;
}
