/*
 * analysis/src/store_review.c — handler verdicts on indications (an/store.h "handler verdicts"; table from
 * schema step 9): append-only entries, the one in force copied to the indication's row.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

/* The in-force order (an/store.h): latest t_ms, ties rejected ('rejected' > 'confirmed'), then the larger id. */
#define RV_NEWEST "t_ms DESC, verdict DESC, id DESC"
#define RV_COLS "SELECT id, collar_id, rec_seq, verdict, t_ms, source, who, handler_id FROM indication_reviews "

static const char *verdict_txt(enum an_review v)
{
	return v == AN_REVIEW_CONFIRMED ? "confirmed" : v == AN_REVIEW_REJECTED ? "rejected" : NULL;
}

int an_store__review_apply(struct an_store *s, uint16_t collar_id, uint32_t rec_seq)
{
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "UPDATE indications SET (review, reviewed_by, reviewed_ms) = ("
	                               "SELECT verdict, handler_id, t_ms FROM indication_reviews r "
	                               "WHERE r.collar_id = ?1 AND r.rec_seq = ?2 ORDER BY " RV_NEWEST " LIMIT 1) "
	                               "WHERE collar_id = ?1 AND rec_seq = ?2 AND EXISTS (SELECT 1 FROM "
	                               "indication_reviews r WHERE r.collar_id = ?1 AND r.rec_seq = ?2)",
	                            &st, "apply verdict");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "apply verdict");
}

int an_store__review_insert(struct an_store *s, struct an_store_review *r)
{
	const char *v = verdict_txt(r->verdict);
	if (r->collar_id == 0)
		return an_store__fail(s, -EINVAL, "verdict: collar must be 1..65535");
	if (v == NULL)
		return an_store__fail(s, -EINVAL, "verdict: must be confirmed or rejected");
	if (strcmp(r->source, "collar") && strcmp(r->source, "web") && strcmp(r->source, "import"))
		return an_store__fail(s, -EINVAL, "verdict: source must be collar, web or import");
	if (r->t_ms < 0)
		return an_store__fail(s, -EINVAL, "verdict: time before 1970");
	if (r->t_ms == 0)
		r->t_ms = an_store__now(s);
	if (r->who[0] == '\0')
		snprintf(r->who, sizeof r->who, "unknown");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "INSERT INTO indication_reviews(collar_id, rec_seq, verdict, t_ms, source, who, "
	                               "handler_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st, "insert verdict");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, r->collar_id);
	sqlite3_bind_int64(st, 2, r->rec_seq);
	sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->t_ms);
	sqlite3_bind_text(st, 5, r->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->who, -1, SQLITE_STATIC);
	bind_opt_i64(st, 7, r->handler_id != 0, r->handler_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
			return an_store__fail(s, -ENOENT, "verdict: handler %" PRId64 " does not exist", r->handler_id);
		return an_store__sqlfail(s, rc, "insert verdict");
	}
	r->id = sqlite3_last_insert_rowid(s->db);
	return an_store__review_apply(s, r->collar_id, r->rec_seq);
}

int an_store_review_add(struct an_store *s, struct an_store_review *r)
{
	if (s == NULL)
		return -EINVAL;
	if (r == NULL)
		return an_store__fail(s, -EINVAL, "an_store_review_add: no verdict");
	int err = an_store__writable(s, "an_store_review_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_review_add")) < 0)
		return err;
	if ((err = an_store__review_insert(s, r)) < 0)
		goto out_rollback;
	char detail[96];
	snprintf(detail, sizeof detail, "collar %u rec_seq %" PRIu32 " %s (%s)", r->collar_id, r->rec_seq,
	         verdict_txt(r->verdict), r->source);
	if ((err = an_store__audit(s, r->who, "ind_review", "indication_reviews", r->id, detail)) < 0)
		goto out_rollback;
	return an_store__commit(s, "an_store_review_add");
out_rollback:
	an_store__rollback(s);
	return err;
}

struct rv_cb {
	an_store_review_cb cb;
	void *ctx;
};

static int rv_row(void *ctx, sqlite3_stmt *st)
{
	const struct rv_cb *k = ctx;
	struct an_store_review r;
	memset(&r, 0, sizeof r);
	r.id = sqlite3_column_int64(st, 0);
	r.collar_id = (uint16_t)sqlite3_column_int(st, 1);
	r.rec_seq = (uint32_t)sqlite3_column_int64(st, 2);
	const unsigned char *v = sqlite3_column_text(st, 3);
	r.verdict = v != NULL && !strcmp((const char *)v, "rejected") ? AN_REVIEW_REJECTED : AN_REVIEW_CONFIRMED;
	r.t_ms = sqlite3_column_int64(st, 4);
	const unsigned char *src = sqlite3_column_text(st, 5), *who = sqlite3_column_text(st, 6);
	snprintf(r.source, sizeof r.source, "%s", src != NULL ? (const char *)src : "");
	snprintf(r.who, sizeof r.who, "%s", who != NULL ? (const char *)who : "");
	r.handler_id = sqlite3_column_int64(st, 7);
	return k->cb(k->ctx, &r);
}

int an_store_reviews_after(struct an_store *s, int64_t after_id, an_store_review_cb cb, void *ctx)
{
	struct rv_cb k = {cb, ctx};
	return an_store__rows_of(s, cb != NULL, RV_COLS "WHERE id > ?1 ORDER BY id", after_id, rv_row, &k,
	                         "an_store_reviews_after");
}
