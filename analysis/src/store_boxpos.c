/*
 * analysis/src/store_boxpos.c — the data recorder's box position of each indication (an/store.h "recorder
 * box positions"; table from schema step 8): append-only entries, the one in force, the check against the
 * indication's box.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

int an_store_boxpos_check(const struct an_store_boxpos *b, char *why, size_t whycap)
{
	const char *w = NULL;
	if (b == NULL)
		w = "no entry";
	else if (b->collar_id == 0)
		w = "collar: must be 1..65535";
	else if (b->lane > 65535u)
		w = "lane: must be 0..65535";
	else if (b->along_mm < 0 || b->along_mm > 10000000)
		w = "along: must be 0 .. 10 km";
	else if (b->sd_mm > AN_STORE_BOXPOS_SD_MAX_MM)
		w = "sd: must be 0 .. 10 m";
	if (w == NULL)
		return 0;
	if (why != NULL && whycap > 0)
		snprintf(why, whycap, "%s", w);
	return -EINVAL;
}

int an_store_ind_box(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, struct an_geo_box *box)
{
	if (s == NULL || box == NULL)
		return -EINVAL;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT se.box_id FROM indications i LEFT JOIN sessions se ON se.id = i.session_id "
	                               "WHERE i.collar_id = ?1 AND i.rec_seq = ?2", &st, "an_store_ind_box");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = sqlite3_step(st);
	bool has_box = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	int64_t box_id = has_box ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return an_store__fail(s, -ENOENT, "no indication collar %u rec_seq %" PRIu32, collar_id, rec_seq);
	if (rc != SQLITE_ROW)
		return an_store__sqlfail(s, rc, "an_store_ind_box");
	if (!has_box)
		return an_store__fail(s, -ENODATA, "indication collar %u rec_seq %" PRIu32 " has no session (no box)",
		                      collar_id, rec_seq);
	return an_store_box_frame(s, box_id, box);
}

/* The one decoder of an indication_boxpos row, and the in-force order (newest first: an/store.h). */
#define BP_COLS "SELECT id, collar_id, rec_seq, lane, along_mm, sd_mm, entered_ms, who FROM indication_boxpos "
#define BP_NEWEST "entered_ms DESC, lane DESC, along_mm DESC, sd_mm DESC, id DESC"

struct bp_cb {
	an_store_boxpos_cb cb;
	void *ctx;
};

static int bp_row(void *ctx, sqlite3_stmt *st)
{
	const struct bp_cb *k = ctx;
	struct an_store_boxpos b;
	memset(&b, 0, sizeof b);
	b.id = sqlite3_column_int64(st, 0);
	b.collar_id = (uint16_t)sqlite3_column_int(st, 1);
	b.rec_seq = (uint32_t)sqlite3_column_int64(st, 2);
	b.lane = (uint32_t)sqlite3_column_int64(st, 3);
	b.along_mm = sqlite3_column_int64(st, 4);
	b.sd_mm = (uint32_t)sqlite3_column_int64(st, 5);
	b.entered_ms = sqlite3_column_int64(st, 6);
	const unsigned char *who = sqlite3_column_text(st, 7);
	snprintf(b.who, sizeof b.who, "%s", who != NULL ? (const char *)who : "");
	return k->cb(k->ctx, &b);
}

static int bp_each(struct an_store *s, sqlite3_stmt *st, an_store_boxpos_cb cb, void *ctx, const char *where)
{
	struct bp_cb k = {cb, ctx};
	return an_store__rows(s, st, bp_row, &k, where);
}

static int take_first(void *ctx, const struct an_store_boxpos *b)
{
	*(struct an_store_boxpos *)ctx = *b;
	return 1;
}

int an_store_boxpos_latest(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, struct an_store_boxpos *out)
{
	if (s == NULL || out == NULL)
		return -EINVAL;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, BP_COLS "WHERE collar_id = ?1 AND rec_seq = ?2 ORDER BY " BP_NEWEST " LIMIT 1",
	                            &st, "an_store_boxpos_latest");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = bp_each(s, st, take_first, out, "an_store_boxpos_latest");
	if (rc == 1)
		return 0;
	if (rc == 0)
		return an_store__fail(s, -ENOENT, "no box position for collar %u rec_seq %" PRIu32, collar_id, rec_seq);
	return rc;
}

int an_store_boxpos_after(struct an_store *s, int64_t after_id, an_store_boxpos_cb cb, void *ctx)
{
	struct bp_cb k = {cb, ctx};
	return an_store__rows_of(s, cb != NULL, BP_COLS "WHERE id > ?1 ORDER BY id", after_id, bp_row, &k,
	                         "an_store_boxpos_after");
}

static int add_one(struct an_store *s, struct an_store_boxpos *b, size_t i, const char *who, int64_t now, bool *dup)
{
	char why[96];
	if (an_store_boxpos_check(b, why, sizeof why) < 0)
		return an_store__fail(s, -EINVAL, "entry %zu: %s", i + 1, why);
	struct an_geo_box box;
	int err = an_store_ind_box(s, b->collar_id, b->rec_seq, &box);
	b->ind_known = err != -ENOENT;
	if (err == 0) {
		if (b->lane >= box.lane_count)
			return an_store__fail(s, -EINVAL, "entry %zu: lane: %" PRIu32 " is not a lane of the indication's box "
			                      "(lanes 0..%" PRIu32 ")", i + 1, b->lane, box.lane_count - 1);
		if (b->along_mm > box.lane_len_mm + AN_STORE_BOXPOS_ALONG_SLACK_MM)
			return an_store__fail(s, -EINVAL, "entry %zu: along: %.3f m is beyond the lane's end (%.3f m + 0.5 m)",
			                      i + 1, (double)b->along_mm / 1000.0, (double)box.lane_len_mm / 1000.0);
	} else if (err != -ENOENT && err != -ENODATA) {
		return err;
	}
	struct an_store_boxpos old;
	err = an_store_boxpos_latest(s, b->collar_id, b->rec_seq, &old);
	if (err == 0 && old.lane == b->lane && old.along_mm == b->along_mm && old.sd_mm == b->sd_mm) {
		b->id = old.id;
		b->entered_ms = old.entered_ms;
		snprintf(b->who, sizeof b->who, "%s", old.who);
		*dup = true;
		return 0;
	}
	if (err < 0 && err != -ENOENT)
		return err;
	sqlite3_stmt *st;
	if ((err = an_store__prepare(s, "INSERT INTO indication_boxpos(collar_id, rec_seq, lane, along_mm, sd_mm, "
	                                "entered_ms, who) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st,
	                             "an_store_boxpos_add")) < 0)
		return err;
	sqlite3_bind_int(st, 1, b->collar_id);
	sqlite3_bind_int64(st, 2, b->rec_seq);
	sqlite3_bind_int64(st, 3, b->lane);
	sqlite3_bind_int64(st, 4, b->along_mm);
	sqlite3_bind_int64(st, 5, b->sd_mm);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_text(st, 7, who, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "an_store_boxpos_add");
	b->id = sqlite3_last_insert_rowid(s->db);
	b->entered_ms = now;
	snprintf(b->who, sizeof b->who, "%s", who);
	*dup = false;
	return 0;
}

int an_store_boxpos_add(struct an_store *s, struct an_store_boxpos *recs, size_t n, const char *who,
                        const char *what, size_t *inserted, size_t *duplicates, size_t *bad)
{
	if (bad != NULL)
		*bad = n;
	if (s == NULL)
		return -EINVAL;
	if (recs == NULL && n > 0)
		return an_store__fail(s, -EINVAL, "an_store_boxpos_add: no entries");
	char whobuf[AN_STORE_BOXPOS_WHO_MAX];
	snprintf(whobuf, sizeof whobuf, "%s", who != NULL && who[0] != '\0' ? who : "unknown");
	int err = an_store__writable(s, "an_store_boxpos_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_boxpos_add")) < 0)
		return err;
	/* one time for the whole sheet: its entries are one act of entry */
	int64_t now = an_store__now(s);
	size_t ins = 0, dups = 0, i;
	for (i = 0; i < n; i++) {
		bool dup = false;
		if ((err = add_one(s, &recs[i], i, whobuf, now, &dup)) < 0)
			goto out_rollback;
		if (dup)
			dups++;
		else
			ins++;
	}
	struct an_store__batch bt = {"an_store_boxpos_add", whobuf, "boxpos_add", "indication_boxpos", "box positions",
	                             what, n ? recs[n - 1].id : 0, n, ins, dups};
	return an_store__batch_finish(s, &bt, inserted, duplicates, bad);
out_rollback:
	an_store__rollback(s);
	if (bad != NULL)
		*bad = i;
	return err;
}
