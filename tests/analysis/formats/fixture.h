/*
 * tests/analysis/formats/fixture.h — a small, fully known store for the export/import/report tests, built
 * through the store API (tasks, boxes, animals, sessions, gateway batches of FIX/IND records, clearance
 * results, a hazard point) plus SQL for the accreditation tables (no store API for them yet).
 * Header-only (static functions) so the Criterion suites and tools/make_fixture.c share it.
 *
 * The field (task frame, mm; box B1: p0 (10 m, 10 m), lanes 5 m east, 40 lanes of 0.5 m north = 100 m²):
 *   clearance results (sigma 50 mm):  T1 ap_mine (12000,12000)  T2 at_mine (13000,20000)
 *     T3 uxo (14000,28000)  F1 fragment (11000,25000)  S1 scrap (14500,15000)  N1 nothing (11500,18000)
 *   session 1 (Magawa, operational, handler A, T0 .. T0+30 min, 28.4 °C), indications (h_acc 100 mm):
 *     I1 (12300,12400) 500 mm from T1 → hit      I2 (13000,20800) 800 mm from T2 → hit
 *     I3 (11000,25200) 200 mm from F1 → correct  I4 (14500,15100) on S1 → false
 *     I5 (12000,12900) 900 mm from T1, T1 taken by I1 → repeat
 *     I6 (10500,29000) near nothing → unresolved
 *     I7 (14000,28000) on T3 but REJECTED by the handler → not counted; T3 missed
 *   session 2 (Magawa, qc, handler B, T0 + 40 days, no end, no temperature):
 *     I8 (14000,28300) 300 mm from T3 → hit      I9 (11500,18200) 200 mm from N1 → false
 *     (T1 and T2 missed in this pass)
 *   Hand-computed accuracy for Magawa: targets 6, hits 3, misses 3; indications 8 (I7 excluded):
 *   correct 4, false 2, repeats 1, unresolved 1; area 200 m², timed 0.5 h over 100 m² (200 m²/h);
 *   localisation errors 0.2, 0.3, 0.5, 0.8 m; PPV 4/6.
 *   session 3 (Ratty "Q" <&>, é — a name that needs escaping in every format; accreditation, T0 + 2 h):
 *     indications (12200,12000) 200 mm from target A, (13000,21500) 1.5 m from target B → FAIL
 *   accreditation test 1: box B1, session 3, targets A (12000,12000) PMN-2 depth 50 mm and
 *     B (13000,20000) Type 72 (no depth).
 *   hazard point 1 at T1 (awaiting_excavation, P 0.93) with evidence I1, I5 and a clean pass (session 2).
 * Fixes: session 1 has 20 (a 120 s gap after the 10th: two GPX segments), session 2 has 3, session 3 has 5.
 */
#ifndef SCENTRACK_TEST_FIXTURE_H
#define SCENTRACK_TEST_FIXTURE_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/geo.h"
#include "an/store.h"
#include "proto/msg.h"

#define FX_ORIGIN_LAT_E7 (-191000000)
#define FX_ORIGIN_LON_E7 348000000
#define FX_T0 1700000100000ll /* 2023-11-14T22:15:00Z */
#define FX_DAY 86400000ll
#define FX_RATTY_NAME "Ratty \"Q\" <&>, \xc3\xa9"

struct fx {
	int64_t prog, task, box, magawa, ratty, h_a, h_b, s1, s2, s3, hazard;
	int64_t clr[6]; /* T1 T2 T3 F1 S1 N1 */
	struct an_geo_origin o;
	uint64_t gw_seq;
	char err[256];
};

static inline int fx_fail(struct fx *f, struct an_store *s, const char *what)
{
	snprintf(f->err, sizeof f->err, "%s: %s", what, s != NULL ? an_store_errmsg(s) : "");
	return -1;
}

static inline int fx_e7(const struct fx *f, int64_t e_mm, int64_t n_mm, int32_t *lat, int32_t *lon)
{
	struct an_geo_enu p = {e_mm, n_mm, 0};
	int32_t alt;
	return an_geo_enu_to_e7(&f->o, &p, lat, lon, &alt);
}

static inline struct proto_batch_rec *fx_rec(struct proto_batch *b, uint16_t collar, uint8_t type, uint32_t seq)
{
	struct proto_batch_rec *r = &b->rec[b->n++];
	memset(r, 0, sizeof *r);
	r->collar_id = collar;
	r->type = type;
	r->rx_ms = (uint64_t)FX_T0 + b->n;
	r->link = 1;
	r->has = PROTO_REC_HAS_SEQ;
	r->rec_seq = seq;
	return r;
}

static inline int fx_fix(struct fx *f, struct proto_batch *b, uint16_t collar, uint32_t seq, int64_t t, int64_t e, int64_t n)
{
	struct proto_batch_rec *r = fx_rec(b, collar, PROTO_T_FIX, seq);
	struct proto_fix *x = &r->m.fix;
	x->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_ALT |
	         PROTO_FIX_HAS_HDOP;
	x->rec_seq = seq;
	x->t_ms = (uint64_t)t;
	x->h_acc_mm = 40;
	x->gga_q = 4;
	x->nsat = 14;
	x->alt_mm = 12345;
	x->hdop_c = 87;
	return fx_e7(f, e, n, &x->lat_e7, &x->lon_e7);
}

static inline int fx_ind(struct fx *f, struct proto_batch *b, uint16_t collar, uint32_t seq, int64_t t, int64_t e, int64_t n)
{
	struct proto_batch_rec *r = fx_rec(b, collar, PROTO_T_IND, seq);
	struct proto_ind *x = &r->m.ind;
	x->has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_HACC | PROTO_IND_HAS_DUR | PROTO_IND_HAS_CONF;
	x->rec_seq = seq;
	x->t_ms = (uint64_t)t;
	x->kind = PROTO_IND_SCRATCH;
	x->src = PROTO_SRC_BOTH;
	x->h_acc_mm = 100;
	x->dur_ms = 4000;
	x->conf_pct = 90;
	return fx_e7(f, e, n, &x->lat_e7, &x->lon_e7);
}

static inline int fx_ingest(struct fx *f, struct an_store *s, struct proto_batch *b)
{
	struct an_store_ingest_result r;
	b->gw_id = 1;
	b->gw_seq = ++f->gw_seq;
	int rc = an_store_ingest_batch(s, b, &r);
	b->n = 0;
	if (rc < 0 || r.unplaced != 0)
		return fx_fail(f, s, rc < 0 ? "ingest" : "ingest: a record found no session");
	return 0;
}

static inline int fx_clearance(struct fx *f, struct an_store *s, int i, int64_t e, int64_t n, enum an_clearance_result res,
                        const char *device, int32_t depth_mm)
{
	struct an_store_clearance c;
	memset(&c, 0, sizeof c);
	c.task_id = f->task;
	c.has_pos = true;
	if (fx_e7(f, e, n, &c.lat_e7, &c.lon_e7) < 0)
		return fx_fail(f, NULL, "clearance position");
	c.pos_err_mm = 50;
	c.result = res;
	snprintf(c.device_type, sizeof c.device_type, "%s", device);
	c.has_depth = depth_mm != 0;
	c.depth_mm = depth_mm;
	snprintf(c.team, sizeof c.team, "Team 3");
	c.date_ms = FX_T0 + 50 * FX_DAY + i * 60000;
	return an_store_clearance_add(s, &c, &f->clr[i]) < 0 ? fx_fail(f, s, "clearance") : 0;
}

static inline int fx_build(struct an_store *s, struct fx *f)
{
	memset(f, 0, sizeof *f);
	if (an_store_programme_add(s, "Mozambique 2024", "MOZ-PRG-1", &f->prog) < 0)
		return fx_fail(f, s, "programme");
	struct an_store_task t = {f->prog, "Dombe task 7", "hazard_poly_145", FX_ORIGIN_LAT_E7, FX_ORIGIN_LON_E7, 12000};
	if (an_store_task_add(s, &t, &f->task) < 0 || an_store_task_origin(s, f->task, &f->o) < 0)
		return fx_fail(f, s, "task");
	struct an_store_box b = {.task_id = f->task, .name = "B1", .lane_width_mm = 500, .lane_count = 40,
	                         .species = AN_SPECIES_RAT};
	if (fx_e7(f, 10000, 10000, &b.p0_lat_e7, &b.p0_lon_e7) < 0 ||
	    fx_e7(f, 15000, 10000, &b.along_lat_e7, &b.along_lon_e7) < 0 ||
	    fx_e7(f, 10000, 30000, &b.across_lat_e7, &b.across_lon_e7) < 0 || an_store_box_add(s, &b, &f->box) < 0)
		return fx_fail(f, s, "box");
	if (an_store_animal_add(s, AN_SPECIES_RAT, "Magawa", "MDR", &f->magawa) < 0 ||
	    an_store_animal_add(s, AN_SPECIES_RAT, FX_RATTY_NAME, "MDR", &f->ratty) < 0 ||
	    an_store_handler_add(s, "Handler A", "handler", &f->h_a) < 0 ||
	    an_store_handler_add(s, "Handler B", "handler", &f->h_b) < 0 ||
	    an_store_collar_assign(s, 7, f->magawa, FX_T0 - 3600000) < 0 ||
	    an_store_collar_assign(s, 8, f->ratty, FX_T0 - 3600000) < 0)
		return fx_fail(f, s, "animals");
	struct an_store_session s1 = {.box_id = f->box, .animal_id = f->magawa, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = FX_T0, .has_end = true, .end_ms = FX_T0 + 1800000, .has_temp = true,
	                              .temp_dc = 284, .has_humidity = true, .humidity_pct = 71,
	                              .handler_ids = &f->h_a, .n_handlers = 1};
	struct an_store_session s2 = {.box_id = f->box, .animal_id = f->magawa, .mode = AN_MODE_QC,
	                              .start_ms = FX_T0 + 40 * FX_DAY, .handler_ids = &f->h_b, .n_handlers = 1};
	struct an_store_session s3 = {.box_id = f->box, .animal_id = f->ratty, .mode = AN_MODE_ACCREDITATION,
	                              .start_ms = FX_T0 + 7200000, .has_end = true, .end_ms = FX_T0 + 9000000,
	                              .handler_ids = &f->h_b, .n_handlers = 1};
	if (an_store_session_add(s, &s1, &f->s1) < 0 || an_store_session_add(s, &s2, &f->s2) < 0 ||
	    an_store_session_add(s, &s3, &f->s3) < 0)
		return fx_fail(f, s, "sessions");

	struct proto_batch *pb = calloc(1, sizeof *pb);
	if (pb == NULL)
		return fx_fail(f, NULL, "calloc");
	int rc = 0;
	uint32_t seq7 = 1, seq8 = 1;
	/* session 1: 20 fixes walking lane by lane; a 120 s gap after the 10th */
	for (int k = 0; k < 20 && rc == 0; k++)
		rc = fx_fix(f, pb, 7, seq7++, FX_T0 + 1000 * k + (k >= 10 ? 120000 : 0), 10250 + 230 * k, 10250 + 900 * k);
	static const int64_t ind1[7][2] = {{12300, 12400}, {13000, 20800}, {11000, 25200}, {14500, 15100},
	                                   {12000, 12900}, {10500, 29000}, {14000, 28000}};
	uint32_t i7_seq = 0;
	for (int k = 0; k < 7 && rc == 0; k++) {
		if (k == 6)
			i7_seq = seq7;
		rc = fx_ind(f, pb, 7, seq7++, FX_T0 + 300000 + 60000 * k, ind1[k][0], ind1[k][1]);
	}
	rc = rc ? rc : fx_ingest(f, s, pb);
	/* session 2 */
	for (int k = 0; k < 3 && rc == 0; k++)
		rc = fx_fix(f, pb, 7, seq7++, FX_T0 + 40 * FX_DAY + 1000 * k, 14000, 27000 + 500 * k);
	rc = rc ? rc : fx_ind(f, pb, 7, seq7++, FX_T0 + 40 * FX_DAY + 60000, 14000, 28300);
	rc = rc ? rc : fx_ind(f, pb, 7, seq7++, FX_T0 + 40 * FX_DAY + 120000, 11500, 18200);
	rc = rc ? rc : fx_ingest(f, s, pb);
	/* session 3 (Ratty, accreditation) */
	for (int k = 0; k < 5 && rc == 0; k++)
		rc = fx_fix(f, pb, 8, seq8++, FX_T0 + 7200000 + 2000 * k, 12000, 11000 + 2000 * k);
	rc = rc ? rc : fx_ind(f, pb, 8, seq8++, FX_T0 + 7300000, 12200, 12000);
	rc = rc ? rc : fx_ind(f, pb, 8, seq8++, FX_T0 + 7400000, 13000, 21500);
	rc = rc ? rc : fx_ingest(f, s, pb);
	free(pb);
	if (rc < 0)
		return -1;
	if (an_store_ind_review(s, 7, i7_seq, AN_REVIEW_REJECTED, f->h_a) < 0 ||
	    an_store_ind_review(s, 7, 1 + 20, AN_REVIEW_CONFIRMED, f->h_a) < 0) /* I1 confirmed */
		return fx_fail(f, s, "review");

	if (fx_clearance(f, s, 0, 12000, 12000, AN_CLR_AP_MINE, "PMN-2", 50) < 0 ||
	    fx_clearance(f, s, 1, 13000, 20000, AN_CLR_AT_MINE, "TM-57", 200) < 0 ||
	    fx_clearance(f, s, 2, 14000, 28000, AN_CLR_UXO, "mortar 60 mm", 100) < 0 ||
	    fx_clearance(f, s, 3, 11000, 25000, AN_CLR_FRAGMENT, "", 30) < 0 ||
	    fx_clearance(f, s, 4, 14500, 15000, AN_CLR_SCRAP, "", 20) < 0 ||
	    fx_clearance(f, s, 5, 11500, 18000, AN_CLR_NOTHING, "", 0) < 0)
		return -1;

	struct an_store_hazard h;
	memset(&h, 0, sizeof h);
	h.task_id = f->task;
	h.box_id = f->box;
	h.status = AN_HAZARD_AWAITING_EXCAVATION;
	h.x_mm = 12150;
	h.y_mm = 12650;
	if (fx_e7(f, h.x_mm, h.y_mm, &h.lat_e7, &h.lon_e7) < 0)
		return fx_fail(f, NULL, "hazard position");
	h.r95_mm = 1200;
	h.log_odds_q10 = 2700;
	h.p_explosive = 0.93;
	h.n_ind = 2;
	h.n_animals = 1;
	h.n_sessions = 1;
	struct an_store_evidence ev1 = {AN_EVIDENCE_INDICATION, 7, 21, 0, 2727};
	struct an_store_evidence ev2 = {AN_EVIDENCE_INDICATION, 7, 25, 0, 1363};
	struct an_store_evidence ev3 = {AN_EVIDENCE_CLEAN_PASS, 0, 0, f->s2, -2291};
	if (an_store_hazard_add(s, &h, "fixture", &f->hazard) < 0 || an_store_hazard_evidence_add(s, f->hazard, &ev1) < 0 ||
	    an_store_hazard_evidence_add(s, f->hazard, &ev2) < 0 || an_store_hazard_evidence_add(s, f->hazard, &ev3) < 0)
		return fx_fail(f, s, "hazard");

	/* accreditation test (SQL: the store has no API for these tables yet) */
	char sql[1024];
	int32_t la, lo, lb, lob;
	if (fx_e7(f, 12000, 12000, &la, &lo) < 0 || fx_e7(f, 13000, 20000, &lb, &lob) < 0)
		return fx_fail(f, NULL, "targets");
	snprintf(sql, sizeof sql,
	         "INSERT INTO accreditation_tests(id, authority, date_ms, box_id, session_id, animal_id, handler_id,"
	         " n_targets) VALUES (1, 'CNIDAH', %lld, %lld, %lld, %lld, %lld, 2);"
	         "INSERT INTO accreditation_targets(test_id, lat_e7, lon_e7, x_mm, y_mm, target_type, depth_mm)"
	         " VALUES (1, %d, %d, 12000, 12000, 'PMN-2', 50), (1, %d, %d, 13000, 20000, 'Type 72', NULL);",
	         (long long)(FX_T0 + 7200000), (long long)f->box, (long long)f->s3, (long long)f->ratty,
	         (long long)f->h_b, la, lo, lb, lob);
	char *msg = NULL;
	if (sqlite3_exec(an_store_sqlite(s), sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(f->err, sizeof f->err, "accreditation SQL: %s", msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

#endif
