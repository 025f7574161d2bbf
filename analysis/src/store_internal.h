/*
 * analysis/src/store_internal.h — shared between store.c (open, schema, errors), store_ingest.c and
 * store_query.c (domain rows and queries). Not installed.
 */
#ifndef AN_STORE_INTERNAL_H
#define AN_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>

#include "an/store.h"

/* Migration steps (store_schema.c): step v is a NULL-terminated list of statements. */
int an_store__migration_count(void);
const char *const *an_store__migration_sql(int version);

/* Cached prepared statements, one per SQL text below (store.c: stmt_sql[]). */
enum an_store_stmt {
	ST_GW_GET,
	ST_GW_ENSURE,
	ST_GW_SET_SEQ,
	ST_COLLAR_ENSURE,
	ST_COLLAR_HELLO,
	ST_REC_INSERT,
	ST_REC_FIND,
	ST_FIX_INSERT,
	ST_IND_INSERT,
	ST_IND_COMPLETION_INSERT,
	ST_IND_COMPLETE,
	ST_STATUS_INSERT,
	ST_PLACE,
	ST_TASK_ORIGIN,
	ST_AUDIT,
	ST__COUNT
};

struct an_store {
	sqlite3 *db;
	unsigned flags;
	sqlite3_stmt *st[ST__COUNT];
	an_store_clock_fn clock;
	void *clock_ctx;
	an_store_precommit_fn precommit;
	void *precommit_ctx;
	/* last task origin used at ingest: tasks are few and fixes of one task come in runs */
	int64_t origin_task_id;
	struct an_geo_origin origin;
	char err[AN_STORE_ERRMSG_MAX];
};

/* Set s->err from a format ("where: what: why") and return code. */
int an_store__fail(struct an_store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Map a SQLite result code to a negative errno and set the message "where: sqlite: <errmsg> (code)". */
int an_store__sqlfail(struct an_store *s, int rc, const char *where);
int an_store__errno_of(int rc);
/* Prepared statement i, reset and with bindings cleared (prepared on first use). NULL on failure, with
 * s->err set and *err the code. */
sqlite3_stmt *an_store__stmt(struct an_store *s, enum an_store_stmt i, int *err);
/* Prepare an ad-hoc statement (queries run rarely enough not to need caching). */
int an_store__prepare(struct an_store *s, const char *sql, sqlite3_stmt **st, const char *where);
int an_store__exec(struct an_store *s, const char *sql, const char *where);
int an_store__begin(struct an_store *s, const char *where);
int an_store__commit(struct an_store *s, const char *where);
void an_store__rollback(struct an_store *s);
int64_t an_store__now(struct an_store *s);
int an_store__audit(struct an_store *s, const char *who, const char *action, const char *entity,
                    int64_t entity_id, const char *detail);
int an_store__writable(struct an_store *s, const char *where);

/* The end of an all-or-nothing batch of appends (calibration records, box positions) inside a transaction:
 * one audit row naming the batch when anything was new, then the commit and the counts. An audit failure
 * rolls the batch back (*bad = n: the batch as a whole). */
/* Step a prepared statement to its end and finalize it, handing each row to row(): 0 at the end, row()'s
 * first nonzero value, or the SQL error (the calibration, box-position and clearance iterators). */
typedef int (*an_store__row_fn)(void *ctx, sqlite3_stmt *st);
int an_store__rows(struct an_store *s, sqlite3_stmt *st, an_store__row_fn row, void *ctx, const char *where);
/* The iterators' whole query: refuse a missing store (-EINVAL) or callback (has_cb false: -EINVAL, named),
 * prepare sql, bind arg to ?1 and hand every row to row() (an_store__rows). */
int an_store__rows_of(struct an_store *s, bool has_cb, const char *sql, int64_t arg, an_store__row_fn row, void *ctx,
                      const char *where);

struct an_store__batch {
	const char *where, *who, *action, *entity, *noun, *what;
	int64_t last_id;
	size_t n, ins, dups;
};
int an_store__batch_finish(struct an_store *s, const struct an_store__batch *b, size_t *inserted,
                           size_t *duplicates, size_t *bad);

/* Handler verdicts (store_review.c), inside the caller's transaction: insert one (checked; t_ms 0 = now)
 * and apply the one in force to its indication row; apply alone after an indication row is inserted (a
 * verdict may come first). */
int an_store__review_insert(struct an_store *s, struct an_store_review *r);
int an_store__review_apply(struct an_store *s, uint16_t collar_id, uint32_t rec_seq);

/* Bind helpers: NULL when absent. */
static inline int bind_opt_i64(sqlite3_stmt *st, int i, int present, int64_t v)
{
	return present ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}
static inline int bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	return t != NULL ? sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

#endif
