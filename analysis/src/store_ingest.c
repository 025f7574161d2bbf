/*
 * analysis/src/store_ingest.c — one gateway BATCH → one SQLite transaction (rules in an/store.h).
 *
 * Per record: make sure the collar row exists (once per collar per batch), then
 *   FIX / IND:   INSERT into records ... ON CONFLICT(collar_id, rec_seq) DO NOTHING. One change = new
 *                record: attribute it to a session/task, compute x/y, insert the fix/indication row; an IND
 *                carrying the handler's verdict also adds it to indication_reviews (source "collar").
 *                No change = duplicate: look the stored copy up and compare type and digest (conflict).
 *   STATUS, HELLO, CMD_ACK: INSERT into collar_status keyed by (gw_id, gw_seq, idx), DO NOTHING on replay.
 * then the gateway's last_gw_seq, then (optionally) the pre-commit hook, then COMMIT. Any failure rolls the
 * whole batch back, so the gateway's resend finds the store exactly as before.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

/* FNV-1a 64 over a fixed little-endian serialisation of the decoded fields. Not cryptographic: it only
 * tells "same record seen twice" from "two different records under one key" (a collar bug or a reset
 * journal). The raw frame is not hashed: a record re-read from the dock has no frame but is the same. */
struct digest {
	uint64_t h;
};

static void dg_u64(struct digest *d, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		d->h ^= (uint8_t)(v >> (8 * i));
		d->h *= 1099511628211ull;
	}
}

static uint64_t digest_fix(const struct proto_fix *f)
{
	struct digest d = {14695981039346656037ull};
	uint32_t h = f->has;
	dg_u64(&d, PROTO_T_FIX);
	dg_u64(&d, h);
	dg_u64(&d, f->rec_seq);
	dg_u64(&d, (h & PROTO_FIX_HAS_T) ? f->t_ms : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_TMONO) ? f->t_mono_ms : 0);
	dg_u64(&d, (uint64_t)(int64_t)f->lat_e7);
	dg_u64(&d, (uint64_t)(int64_t)f->lon_e7);
	dg_u64(&d, (h & PROTO_FIX_HAS_ALT) ? (uint64_t)(int64_t)f->alt_mm : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_HACC) ? f->h_acc_mm : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_HDOP) ? f->hdop_c : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_SOG) ? f->sog_cms : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_COG) ? f->cog_cdeg : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_Q) ? f->gga_q : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_MODE) ? f->faa_mode : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_DIM) ? f->fix_dim : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_NSAT) ? f->nsat : 0);
	dg_u64(&d, (h & PROTO_FIX_HAS_TQ) ? f->tq : 0);
	return d.h;
}

static uint64_t digest_ind(const struct proto_ind *in)
{
	struct digest d = {14695981039346656037ull};
	uint32_t h = in->has;
	dg_u64(&d, PROTO_T_IND);
	dg_u64(&d, h);
	dg_u64(&d, in->rec_seq);
	dg_u64(&d, (h & PROTO_IND_HAS_T) ? in->t_ms : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_TMONO) ? in->t_mono_ms : 0);
	dg_u64(&d, in->kind);
	dg_u64(&d, in->src);
	dg_u64(&d, (h & PROTO_IND_HAS_DUR) ? in->dur_ms : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_CONF) ? in->conf_pct : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_LAT) ? (uint64_t)(int64_t)in->lat_e7 : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_LON) ? (uint64_t)(int64_t)in->lon_e7 : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_HACC) ? in->h_acc_mm : 0);
	dg_u64(&d, (h & PROTO_IND_HAS_FIXREF) ? in->fix_ref : 0);
	if (h & PROTO_IND_HAS_COMPLETES) /* only then: digests of earlier INDs stay what they were */
		dg_u64(&d, in->completes);
	if (h & PROTO_IND_HAS_VERDICT) /* likewise */
		dg_u64(&d, in->verdict);
	return d.h;
}

/* Where a record belongs: session and task at time t_ms, and x/y in that task's frame. */
struct place {
	int64_t session_id, task_id;
	bool has_xy;
	int64_t x_mm, y_mm;
};

static int task_origin(struct an_store *s, int64_t task_id, struct an_geo_origin *o)
{
	if (s->origin_task_id == task_id) {
		*o = s->origin;
		return 0;
	}
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_TASK_ORIGIN, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int64(st, 1, task_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		err = an_geo_origin_init(o, sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
		                         sqlite3_column_int(st, 2));
		if (err < 0)
			an_store__fail(s, err, "task %" PRId64 ": origin out of range", task_id);
	} else if (rc == SQLITE_DONE) {
		err = an_store__fail(s, -ENOENT, "task %" PRId64 " does not exist", task_id);
	} else {
		err = an_store__sqlfail(s, rc, "task origin");
	}
	sqlite3_reset(st);
	if (err == 0) {
		s->origin_task_id = task_id;
		s->origin = *o;
	}
	return err;
}

static int place_record(struct an_store *s, uint16_t collar_id, uint64_t t_ms, bool has_pos, int32_t lat_e7,
                        int32_t lon_e7, struct place *p)
{
	memset(p, 0, sizeof *p);
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_PLACE, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, (int64_t)t_ms);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p->session_id = sqlite3_column_int64(st, 0);
		p->task_id = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		err = an_store__sqlfail(s, rc, "session lookup");
	}
	sqlite3_reset(st);
	if (err < 0 || p->task_id == 0 || !has_pos)
		return err;
	struct an_geo_origin o;
	err = task_origin(s, p->task_id, &o);
	if (err < 0)
		return err;
	/* Horizontal x/y at the origin's height: INDs carry no height and consumer GNSS heights are noisy;
	 * the effect of a height difference dh at distance d is d·dh/R (1.6 mm per km per 10 m). */
	struct an_geo_enu enu;
	if (an_geo_enu_from_e7(&o, lat_e7, lon_e7, AN_GEO_ALT_UNKNOWN, &enu) == 0) {
		p->has_xy = true;
		p->x_mm = enu.e_mm;
		p->y_mm = enu.n_mm;
	}
	/* -ERANGE (more than 1000 km from the task) leaves x/y NULL: the record is kept as received. */
	return 0;
}

static void bind_place(sqlite3_stmt *st, int first, const struct place *p)
{
	bind_opt_i64(st, first, p->session_id != 0, p->session_id);
	bind_opt_i64(st, first + 1, p->task_id != 0, p->task_id);
	bind_opt_i64(st, first + 2, p->has_xy, p->x_mm);
	bind_opt_i64(st, first + 3, p->has_xy, p->y_mm);
}

static int insert_fix(struct an_store *s, int64_t rec_id, const struct proto_batch_rec *rec, uint16_t gw_id,
                      const struct place *p)
{
	const struct proto_fix *f = &rec->m.fix;
	uint32_t h = f->has;
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_FIX_INSERT, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int64(st, 1, rec_id);
	sqlite3_bind_int(st, 2, rec->collar_id);
	sqlite3_bind_int64(st, 3, f->rec_seq);
	bind_opt_i64(st, 4, (h & PROTO_FIX_HAS_T) != 0, (int64_t)f->t_ms);
	bind_opt_i64(st, 5, (h & PROTO_FIX_HAS_TMONO) != 0, f->t_mono_ms);
	sqlite3_bind_int(st, 6, f->lat_e7);
	sqlite3_bind_int(st, 7, f->lon_e7);
	bind_opt_i64(st, 8, (h & PROTO_FIX_HAS_ALT) != 0, f->alt_mm);
	bind_opt_i64(st, 9, (h & PROTO_FIX_HAS_HDOP) != 0, f->hdop_c);
	bind_opt_i64(st, 10, (h & PROTO_FIX_HAS_HACC) != 0, f->h_acc_mm);
	bind_opt_i64(st, 11, (h & PROTO_FIX_HAS_Q) != 0, f->gga_q);
	bind_opt_i64(st, 12, (h & PROTO_FIX_HAS_MODE) != 0, f->faa_mode);
	bind_opt_i64(st, 13, (h & PROTO_FIX_HAS_DIM) != 0, f->fix_dim);
	bind_opt_i64(st, 14, (h & PROTO_FIX_HAS_NSAT) != 0, f->nsat);
	bind_opt_i64(st, 15, (h & PROTO_FIX_HAS_SOG) != 0, f->sog_cms);
	bind_opt_i64(st, 16, (h & PROTO_FIX_HAS_COG) != 0, f->cog_cdeg);
	bind_opt_i64(st, 17, (h & PROTO_FIX_HAS_TQ) != 0, f->tq);
	sqlite3_bind_int64(st, 18, (int64_t)rec->rx_ms);
	sqlite3_bind_int(st, 19, gw_id);
	bind_place(st, 20, p);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "insert fix");
}

static int insert_ind(struct an_store *s, int64_t rec_id, const struct proto_batch_rec *rec, uint16_t gw_id,
                      const struct place *p)
{
	const struct proto_ind *in = &rec->m.ind;
	uint32_t h = in->has;
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_IND_INSERT, &err);
	if (st == NULL)
		return err;
	bool pos = (h & PROTO_IND_HAS_POS) == PROTO_IND_HAS_POS;
	sqlite3_bind_int64(st, 1, rec_id);
	sqlite3_bind_int(st, 2, rec->collar_id);
	sqlite3_bind_int64(st, 3, in->rec_seq);
	bind_opt_i64(st, 4, (h & PROTO_IND_HAS_T) != 0, (int64_t)in->t_ms);
	bind_opt_i64(st, 5, (h & PROTO_IND_HAS_TMONO) != 0, in->t_mono_ms);
	sqlite3_bind_int(st, 6, in->kind);
	bind_opt_i64(st, 7, (h & PROTO_IND_HAS_DUR) != 0, in->dur_ms);
	bind_opt_i64(st, 8, (h & PROTO_IND_HAS_CONF) != 0, in->conf_pct);
	sqlite3_bind_int(st, 9, in->src);
	bind_opt_i64(st, 10, pos, in->lat_e7);
	bind_opt_i64(st, 11, pos, in->lon_e7);
	bind_opt_i64(st, 12, (h & PROTO_IND_HAS_HACC) != 0, in->h_acc_mm);
	bind_opt_i64(st, 13, (h & PROTO_IND_HAS_FIXREF) != 0, in->fix_ref);
	sqlite3_bind_int64(st, 14, (int64_t)rec->rx_ms);
	sqlite3_bind_int(st, 15, gw_id);
	bind_place(st, 16, p);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "insert indication");
}

/* Apply the newest stored completion of (collar_id, rec_seq) to its indication row, if both exist. */
static int apply_completion(struct an_store *s, uint16_t collar_id, uint32_t rec_seq)
{
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_IND_COMPLETE, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "complete indication");
}

/* An IND completion (PROTO_IND_HAS_COMPLETES): kept, and applied to the indication it completes. */
static int insert_completion(struct an_store *s, int64_t rec_id, const struct proto_batch_rec *rec)
{
	const struct proto_ind *in = &rec->m.ind;
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_IND_COMPLETION_INSERT, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int64(st, 1, rec_id);
	sqlite3_bind_int(st, 2, rec->collar_id);
	sqlite3_bind_int64(st, 3, in->rec_seq);
	sqlite3_bind_int64(st, 4, in->completes);
	bind_opt_i64(st, 5, (in->has & PROTO_IND_HAS_DUR) != 0, in->dur_ms);
	bind_opt_i64(st, 6, (in->has & PROTO_IND_HAS_CONF) != 0, in->conf_pct);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "insert indication completion");
	return apply_completion(s, rec->collar_id, in->completes);
}

/* The handler's verdict an IND carries (proto IND key VERDICT): on the indication itself, or with completes
 * on the one it completes. One entry of indication_reviews, dated by the gateway's reception (the collar
 * journals it when the press is over, and its clock may have no UTC), in this batch's transaction. */
static int insert_verdict(struct an_store *s, const struct proto_batch_rec *rec)
{
	const struct proto_ind *in = &rec->m.ind;
	struct an_store_review r = {
		.collar_id = rec->collar_id,
		.rec_seq = (in->has & PROTO_IND_HAS_COMPLETES) ? in->completes : in->rec_seq,
		.verdict = in->verdict == PROTO_VERDICT_REJECTED ? AN_REVIEW_REJECTED : AN_REVIEW_CONFIRMED,
		.t_ms = (int64_t)rec->rx_ms,
		.source = "collar",
	};
	snprintf(r.who, sizeof r.who, "collar %u", rec->collar_id);
	return an_store__review_insert(s, &r);
}

static int insert_other(struct an_store *s, const struct proto_batch *b, unsigned idx, bool *inserted)
{
	const struct proto_batch_rec *rec = &b->rec[idx];
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_STATUS_INSERT, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, b->gw_id);
	sqlite3_bind_int64(st, 2, (int64_t)b->gw_seq);
	sqlite3_bind_int(st, 3, (int)idx);
	sqlite3_bind_int(st, 4, rec->collar_id);
	sqlite3_bind_int(st, 5, rec->type);
	sqlite3_bind_int64(st, 6, (int64_t)rec->rx_ms);
	if (rec->type == PROTO_T_STATUS) {
		const struct proto_status *m = &rec->m.status;
		bind_opt_i64(st, 7, (m->has & PROTO_STATUS_HAS_BATT) != 0, m->batt_mv);
		bind_opt_i64(st, 8, (m->has & PROTO_STATUS_HAS_BATTPCT) != 0, m->batt_pct);
		bind_opt_i64(st, 9, (m->has & PROTO_STATUS_HAS_TEMP) != 0, m->temp_dc);
		sqlite3_bind_int64(st, 10, m->backlog);
		sqlite3_bind_int64(st, 11, m->tx_frames);
		sqlite3_bind_int64(st, 12, m->retx);
		sqlite3_bind_int64(st, 13, m->acks);
		bind_opt_i64(st, 14, (m->has & PROTO_STATUS_HAS_RSSI) != 0, m->rssi_dbm);
		bind_opt_i64(st, 15, (m->has & PROTO_STATUS_HAS_SNR) != 0, m->snr_db10);
	} else if (rec->type == PROTO_T_HELLO) {
		const struct proto_hello *m = &rec->m.hello;
		bind_opt_i64(st, 7, (m->has & PROTO_HELLO_HAS_BATT) != 0, m->batt_mv);
		sqlite3_bind_text(st, 16, m->fw, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 17, m->boot_id);
		sqlite3_bind_int64(st, 18, m->oldest_seq);
		sqlite3_bind_int64(st, 19, m->next_seq);
		sqlite3_bind_int64(st, 20, m->caps);
	} else { /* CMD_ACK */
		const struct proto_cmd_ack *m = &rec->m.cmd_ack;
		sqlite3_bind_int64(st, 21, m->cmd_id);
		sqlite3_bind_int(st, 22, m->result);
		bind_opt_i64(st, 23, (m->has & PROTO_CMD_ACK_HAS_PROGRESS) != 0, m->progress_pct);
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "insert collar status");
	*inserted = sqlite3_changes(s->db) == 1;
	if (*inserted && rec->type == PROTO_T_HELLO) {
		st = an_store__stmt(s, ST_COLLAR_HELLO, &err);
		if (st == NULL)
			return err;
		sqlite3_bind_int(st, 1, rec->collar_id);
		sqlite3_bind_text(st, 2, rec->m.hello.fw, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, rec->m.hello.caps);
		sqlite3_bind_int(st, 4, rec->m.hello.boot_id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return an_store__sqlfail(s, rc, "update collar from HELLO");
	}
	return 0;
}

/* A journaled record. *rec_id gets its records.id (new or existing). */
static int ingest_journaled(struct an_store *s, const struct proto_batch *b, unsigned idx,
                            const int64_t *rec_ids, int64_t *rec_id, struct an_store_ingest_result *r)
{
	const struct proto_batch_rec *rec = &b->rec[idx];
	bool is_fix = rec->type == PROTO_T_FIX;
	uint32_t seq = is_fix ? rec->m.fix.rec_seq : rec->m.ind.rec_seq;
	if (!(rec->has & PROTO_REC_HAS_SEQ) || rec->rec_seq != seq)
		return an_store__fail(s, -EINVAL,
		                      "record %u (collar %u): batch rec_seq %s%" PRIu32 " differs from the "
		                      "message's %" PRIu32,
		                      idx, rec->collar_id, (rec->has & PROTO_REC_HAS_SEQ) ? "" : "(absent) ",
		                      rec->rec_seq, seq);
	uint64_t dg = is_fix ? digest_fix(&rec->m.fix) : digest_ind(&rec->m.ind);

	int64_t raw_ref = 0;
	if (!(rec->has & PROTO_REC_HAS_RAW) && (rec->has & PROTO_REC_HAS_RAWREF)) {
		if (rec->raw_ref >= idx || rec_ids[rec->raw_ref] == 0)
			return an_store__fail(s, -EINVAL,
			                      "record %u (collar %u seq %" PRIu32 "): raw_ref %u does not name an "
			                      "earlier FIX/IND record of this batch",
			                      idx, rec->collar_id, seq, rec->raw_ref);
		raw_ref = rec_ids[rec->raw_ref];
	}
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_REC_INSERT, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, rec->collar_id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int(st, 3, rec->type);
	sqlite3_bind_int64(st, 4, (int64_t)dg);
	sqlite3_bind_int(st, 5, b->gw_id);
	sqlite3_bind_int64(st, 6, (int64_t)b->gw_seq);
	sqlite3_bind_int64(st, 7, (int64_t)rec->rx_ms);
	sqlite3_bind_int(st, 8, rec->link);
	bind_opt_i64(st, 9, (rec->has & PROTO_REC_HAS_RSSI) != 0, rec->rssi_dbm);
	bind_opt_i64(st, 10, (rec->has & PROTO_REC_HAS_SNR) != 0, rec->snr_db10);
	if ((rec->has & PROTO_REC_HAS_RAW) && rec->raw.p != NULL)
		sqlite3_bind_blob(st, 11, rec->raw.p, rec->raw.len, SQLITE_STATIC);
	bind_opt_i64(st, 12, raw_ref != 0, raw_ref);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "insert record");

	if (sqlite3_changes(s->db) == 0) {
		/* Duplicate: find the stored copy to tell an honest resend from a conflict. */
		st = an_store__stmt(s, ST_REC_FIND, &err);
		if (st == NULL)
			return err;
		sqlite3_bind_int(st, 1, rec->collar_id);
		sqlite3_bind_int64(st, 2, seq);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return an_store__sqlfail(s, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc, "find duplicate");
		}
		*rec_id = sqlite3_column_int64(st, 0);
		int old_type = sqlite3_column_int(st, 1);
		uint64_t old_dg = (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		r->duplicates++;
		if (old_type != rec->type || old_dg != dg) {
			r->conflicts++;
			char detail[256];
			snprintf(detail, sizeof detail,
			         "collar %u rec_seq %" PRIu32 ": stored type %d digest %016" PRIx64
			         ", gateway %u batch %" PRIu64 " record %u has type %u digest %016" PRIx64
			         ": kept the stored copy",
			         rec->collar_id, seq, old_type, old_dg, b->gw_id, b->gw_seq, idx, rec->type, dg);
			err = an_store__audit(s, "ingest", "conflict", "record", *rec_id, detail);
			if (err < 0)
				return err;
		}
		return 0;
	}
	*rec_id = sqlite3_last_insert_rowid(s->db);

	struct place p;
	if (is_fix) {
		const struct proto_fix *f = &rec->m.fix;
		uint64_t t = (f->has & PROTO_FIX_HAS_T) ? f->t_ms : rec->rx_ms;
		err = place_record(s, rec->collar_id, t, true, f->lat_e7, f->lon_e7, &p);
		if (err == 0)
			err = insert_fix(s, *rec_id, rec, b->gw_id, &p);
		if (err == 0)
			r->fixes++;
	} else if (rec->m.ind.has & PROTO_IND_HAS_COMPLETES) {
		/* the final duration of an earlier indication (and maybe the handler's verdict on it), not an
		 * indication of its own */
		err = insert_completion(s, *rec_id, rec);
		if (err == 0 && (rec->m.ind.has & PROTO_IND_HAS_VERDICT))
			err = insert_verdict(s, rec);
		if (err < 0)
			return err;
		r->inserted++;
		return 0;
	} else {
		const struct proto_ind *in = &rec->m.ind;
		uint64_t t = (in->has & PROTO_IND_HAS_T) ? in->t_ms : rec->rx_ms;
		bool pos = (in->has & PROTO_IND_HAS_POS) == PROTO_IND_HAS_POS;
		err = place_record(s, rec->collar_id, t, pos, in->lat_e7, in->lon_e7, &p);
		if (err == 0)
			err = insert_ind(s, *rec_id, rec, b->gw_id, &p);
		if (err == 0) /* its completion may have come first */
			err = apply_completion(s, rec->collar_id, in->rec_seq);
		if (err == 0) /* and so may a verdict on it (an/store.h "handler verdicts") */
			err = an_store__review_apply(s, rec->collar_id, in->rec_seq);
		if (err == 0 && (in->has & PROTO_IND_HAS_VERDICT)) /* the handler's own, in the IND */
			err = insert_verdict(s, rec);
		if (err == 0)
			r->inds++;
		if (!pos)
			p.has_xy = true; /* nothing to place: not counted as unplaced */
	}
	if (err < 0)
		return err;
	r->inserted++;
	if (!p.has_xy)
		r->unplaced++;
	return 0;
}

static int ensure_collar(struct an_store *s, uint16_t collar_id, uint64_t rx_ms)
{
	int err = 0;
	sqlite3_stmt *st = an_store__stmt(s, ST_COLLAR_ENSURE, &err);
	if (st == NULL)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, (int64_t)rx_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "collar row");
}

static int check_rec(struct an_store *s, const struct proto_batch_rec *rec, unsigned i)
{
	if (rec->collar_id == 0)
		return an_store__fail(s, -EINVAL, "record %u: collar id 0", i);
	if (rec->rx_ms > (uint64_t)INT64_MAX)
		return an_store__fail(s, -EINVAL, "record %u (collar %u): rx_ms out of range", i, rec->collar_id);
	if (rec->type == PROTO_T_FIX) {
		const struct proto_fix *f = &rec->m.fix;
		if (((f->has & PROTO_FIX_HAS_T) != 0) == ((f->has & PROTO_FIX_HAS_TMONO) != 0) ||
		    ((f->has & PROTO_FIX_HAS_T) && f->t_ms > (uint64_t)INT64_MAX))
			return an_store__fail(s, -EINVAL, "record %u (collar %u seq %" PRIu32 "): FIX needs exactly one "
			                      "of t / t_mono", i, rec->collar_id, f->rec_seq);
	} else if (rec->type == PROTO_T_IND) {
		const struct proto_ind *in = &rec->m.ind;
		if (((in->has & PROTO_IND_HAS_T) != 0) == ((in->has & PROTO_IND_HAS_TMONO) != 0) ||
		    ((in->has & PROTO_IND_HAS_T) && in->t_ms > (uint64_t)INT64_MAX))
			return an_store__fail(s, -EINVAL, "record %u (collar %u seq %" PRIu32 "): IND needs exactly one "
			                      "of t / t_mono", i, rec->collar_id, in->rec_seq);
		if ((in->has & PROTO_IND_HAS_POS) != 0 && (in->has & PROTO_IND_HAS_POS) != PROTO_IND_HAS_POS)
			return an_store__fail(s, -EINVAL, "record %u (collar %u seq %" PRIu32 "): IND has lat without "
			                      "lon or lon without lat", i, rec->collar_id, in->rec_seq);
	} else if (rec->type != PROTO_T_STATUS && rec->type != PROTO_T_HELLO && rec->type != PROTO_T_CMD_ACK) {
		return an_store__fail(s, -EINVAL, "record %u (collar %u): type 0x%02x is not a record the core "
		                      "stores", i, rec->collar_id, rec->type);
	}
	return 0;
}

int an_store_ingest_batch(struct an_store *s, const struct proto_batch *b, struct an_store_ingest_result *r)
{
	if (s == NULL)
		return -EINVAL;
	if (b == NULL || r == NULL)
		return an_store__fail(s, -EINVAL, "an_store_ingest_batch: NULL batch or result");
	memset(r, 0, sizeof *r);
	if (b->gw_id == 0 || b->n > PROTO_BATCH_RECS_MAX || b->gw_seq > (uint64_t)INT64_MAX)
		return an_store__fail(s, -EINVAL, "an_store_ingest_batch: gateway %u batch %" PRIu64 ": bad header "
		                      "(gw_id 0, more than %u records, or gw_seq beyond 2^63)",
		                      b->gw_id, b->gw_seq, PROTO_BATCH_RECS_MAX);
	int err = an_store__writable(s, "an_store_ingest_batch");
	if (err < 0)
		return err;
	/* Validate everything before writing anything: a bad record fails the batch with its index. */
	for (unsigned i = 0; i < b->n; i++) {
		err = check_rec(s, &b->rec[i], i);
		if (err < 0) {
			char why[AN_STORE_ERRMSG_MAX];
			snprintf(why, sizeof why, "%s", s->err);
			return an_store__fail(s, err, "an_store_ingest_batch: gateway %u batch %" PRIu64 ": %s "
			                      "(batch refused, nothing stored)", b->gw_id, b->gw_seq, why);
		}
	}

	err = an_store__begin(s, "an_store_ingest_batch: begin");
	if (err < 0)
		return err;
	sqlite3_stmt *st = an_store__stmt(s, ST_GW_ENSURE, &err);
	if (st == NULL)
		goto out_rollback;
	sqlite3_bind_int(st, 1, b->gw_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		err = an_store__sqlfail(s, rc, "an_store_ingest_batch: gateway row");
		goto out_rollback;
	}
	uint64_t last = 0;
	bool known = false;
	err = an_store_gateway_last_seq(s, b->gw_id, &last, &known);
	if (err < 0)
		goto out_rollback;
	if (known && b->gw_seq > last + 1) {
		err = an_store__fail(s, -EPROTO,
		                     "an_store_ingest_batch: gateway %u sent gw_seq %" PRIu64 " after %" PRIu64
		                     ": batch%s %" PRIu64 "..%" PRIu64 " missing (refused, nothing stored; "
		                     "ack %" PRIu64 " so the gateway resends from there)",
		                     b->gw_id, b->gw_seq, last, b->gw_seq - last > 2 ? "es" : "", last + 1,
		                     b->gw_seq - 1, last);
		goto out_rollback;
	}
	r->replay = known && b->gw_seq <= last;

	int64_t rec_ids[PROTO_BATCH_RECS_MAX] = {0};
	uint16_t seen[PROTO_BATCH_RECS_MAX];
	unsigned n_seen = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct proto_batch_rec *rec = &b->rec[i];
		bool new_collar = true;
		for (unsigned k = 0; k < n_seen; k++)
			new_collar = new_collar && seen[k] != rec->collar_id;
		if (new_collar) {
			seen[n_seen++] = rec->collar_id;
			err = ensure_collar(s, rec->collar_id, rec->rx_ms);
			if (err < 0)
				goto out_record;
		}
		if (rec->type == PROTO_T_FIX || rec->type == PROTO_T_IND) {
			err = ingest_journaled(s, b, i, rec_ids, &rec_ids[i], r);
		} else {
			bool ins = false;
			err = insert_other(s, b, i, &ins);
			if (err == 0 && ins) {
				r->inserted++;
				r->other++;
			} else if (err == 0) {
				r->duplicates++;
			}
		}
		if (err < 0)
			goto out_record;
	}

	if (!known || b->gw_seq > last) {
		st = an_store__stmt(s, ST_GW_SET_SEQ, &err);
		if (st == NULL)
			goto out_rollback;
		sqlite3_bind_int(st, 1, b->gw_id);
		sqlite3_bind_int64(st, 2, (int64_t)b->gw_seq);
		sqlite3_bind_int64(st, 3, an_store__now(s));
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			err = an_store__sqlfail(s, rc, "an_store_ingest_batch: gateway gw_seq");
			goto out_rollback;
		}
		last = b->gw_seq;
	}
	if (s->precommit != NULL && s->precommit(s, s->precommit_ctx) < 0) {
		err = an_store__fail(s, -ECANCELED, "an_store_ingest_batch: gateway %u batch %" PRIu64 ": pre-commit "
		                     "hook asked for a rollback", b->gw_id, b->gw_seq);
		goto out_rollback;
	}
	err = an_store__commit(s, "an_store_ingest_batch: commit");
	if (err < 0) {
		memset(r, 0, sizeof *r);
		return err;
	}
	r->ack_gw_seq = last;
	return 0;

out_record:;
	char why[AN_STORE_ERRMSG_MAX];
	snprintf(why, sizeof why, "%s", s->err);
	an_store__fail(s, err, "an_store_ingest_batch: gateway %u batch %" PRIu64 ": %s (batch rolled back)",
	               b->gw_id, b->gw_seq, why);
out_rollback:
	an_store__rollback(s);
	memset(r, 0, sizeof *r);
	return err;
}
