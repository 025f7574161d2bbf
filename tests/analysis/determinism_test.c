/*
 * tests/analysis/determinism_test.c — the core's results do not depend on arrival order (issue #5, Tests):
 * the same event log (a generated field day: 4 animals × 1 session, 1 Hz fixes sweeping a box, indications
 * around 12 targets and some false ones, two clearance files) is replayed AN_DET_REPLAYS times (default 100)
 * in shuffled orders, cut into batches of random sizes from two gateways, with duplicates re-sent, through
 * the library as the daemon uses it: an_store_ingest_batch → the record's stored session and x/y → the
 * hazard engine (an_hazard_apply per batch) → an_hazard_store_sync_cached (only changed points rewritten). Every replay must give byte-identical
 * exports (GeoJSON, KML, GPX, CSV, GeoPackage), hazard report (text + JSON), accuracy report (JSON) and
 * engine dump. In every replay, at a random prefix, the engine's state equals a fresh engine given that
 * prefix's inputs in one call (shuffled), the store's hazard report equals the one written from that fresh
 * engine, and the incremental DBSCAN of the prefix's indications equals an_cluster_batch of them.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/cluster.h"
#include "an/export.h"
#include "an/hazard.h"
#include "an/report.h"
#include "an/store.h"
#include "formats/fixture.h"

#define DT_N_ANIMALS 4
#define DT_N_TARGETS 12
#define DT_FIXES_PER_SESSION 300
#define DT_MAX_EVENTS 2048
#define DT_COLLAR0 11

/* ---- a small deterministic PRNG (splitmix64) ------------------------------------------------------------ */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}
static int64_t rng_pm(uint64_t *s, int64_t half) /* uniform in [-half, half] */
{
	return (int64_t)rng_below(s, (uint64_t)(2 * half + 1)) - half;
}

/* ---- the event log -------------------------------------------------------------------------------------- */
enum { EV_FIX = 1, EV_IND = 2, EV_CLEARANCE_FILE = 3 };
struct dt_ev {
	int kind;
	uint16_t collar;
	uint32_t seq;
	int64_t t_ms, e_mm, n_mm;
	uint32_t h_acc_mm;
};
struct dt_clr {
	int64_t e_mm, n_mm;
	enum an_clearance_result res;
};

static struct dt_ev g_log[DT_MAX_EVENTS];
static size_t g_n_log;
static struct dt_clr g_clr[DT_N_TARGETS + 4];
static size_t g_n_clr;

static const int64_t box_e0 = 10000, box_n0 = 10000, box_len = 20000, lane_w = 1000;
static const uint32_t n_lanes = 10;

static int64_t session_t0(int a)
{
	return FX_T0 + (int64_t)a * 2 * 3600000;
}

static void build_log(void)
{
	uint64_t r = 20261207;
	int64_t tgt[DT_N_TARGETS][2];
	static const enum an_clearance_result cls[] = {AN_CLR_AP_MINE, AN_CLR_AT_MINE, AN_CLR_UXO, AN_CLR_FRAGMENT,
	                                               AN_CLR_SCRAP, AN_CLR_NOTHING};
	g_n_log = g_n_clr = 0;
	for (int k = 0; k < DT_N_TARGETS; k++) {
		tgt[k][0] = box_e0 + 1500 + (int64_t)rng_below(&r, (uint64_t)(box_len - 3000));
		tgt[k][1] = box_n0 + 800 + (int64_t)rng_below(&r, (uint64_t)(n_lanes * lane_w - 1600));
		g_clr[g_n_clr++] = (struct dt_clr){tgt[k][0] + rng_pm(&r, 100), tgt[k][1] + rng_pm(&r, 100),
		                                   cls[k % 6]};
	}
	g_clr[g_n_clr++] = (struct dt_clr){box_e0 + 500, box_n0 + 500, AN_CLR_NOT_ACCESSIBLE};
	/* two clearance files (two teams' results, even and odd rows), each imported as one event */
	g_log[g_n_log++] = (struct dt_ev){.kind = EV_CLEARANCE_FILE, .seq = 0};
	g_log[g_n_log++] = (struct dt_ev){.kind = EV_CLEARANCE_FILE, .seq = 1};
	for (int a = 0; a < DT_N_ANIMALS; a++) {
		uint16_t collar = (uint16_t)(DT_COLLAR0 + a);
		uint32_t seq = 1;
		int64_t t0 = session_t0(a) + 60000;
		/* a serpentine along the lanes, one fix per second */
		int64_t step = (int64_t)n_lanes * box_len / DT_FIXES_PER_SESSION;
		for (int k = 0; k < DT_FIXES_PER_SESSION; k++) {
			int64_t d = step * k, lane = d / box_len, along = d % box_len;
			int64_t e = box_e0 + (lane % 2 ? box_len - along : along), n = box_n0 + lane * lane_w + lane_w / 2;
			g_log[g_n_log++] = (struct dt_ev){EV_FIX, collar, seq++, t0 + 1000 * k, e + rng_pm(&r, 150),
			                                  n + rng_pm(&r, 150), (uint32_t)(80 + rng_below(&r, 200))};
		}
		for (int k = 0; k < DT_N_TARGETS; k++) {
			if (rng_below(&r, 10) < 4) /* each animal finds ~60 % of the targets */
				continue;
			int reps = 1 + (int)rng_below(&r, 2);
			for (int q = 0; q < reps; q++)
				g_log[g_n_log++] = (struct dt_ev){EV_IND, collar, seq++, t0 + 5000 * k + 1000 * q + 7,
				                                  tgt[k][0] + rng_pm(&r, 450), tgt[k][1] + rng_pm(&r, 450),
				                                  (uint32_t)(100 + rng_below(&r, 300))};
		}
		for (int k = 0; k < 3; k++) /* false indications */
			g_log[g_n_log++] = (struct dt_ev){EV_IND, collar, seq++, t0 + 200000 + 1000 * k,
			                                  box_e0 + (int64_t)rng_below(&r, (uint64_t)box_len),
			                                  box_n0 + (int64_t)rng_below(&r, (uint64_t)(n_lanes * lane_w)), 250};
	}
	cr_assert_leq(g_n_log, (size_t)DT_MAX_EVENTS);
}

/* ---- one replay ----------------------------------------------------------------------------------------- */
struct dt_run {
	struct an_store *st;
	struct fx f;
	int64_t animals[DT_N_ANIMALS], sessions[DT_N_ANIMALS];
	struct an_hazard_engine *eng;
	struct an_hazard_input *seen; /* every engine input so far (for the prefix recompute) */
	size_t n_seen, cap_seen;
	struct an_hazard_input *in;
	size_t n_in, cap_in;
	struct an_hazard_event *evs;
	size_t n_evs, cap_evs;
	struct an_hazard_store_cache stored; /* as the daemon does: only changed points are rewritten */
	uint64_t gw_seq[3];
	char path[256];
};

static void push(struct an_hazard_input **v, size_t *n, size_t *cap, const struct an_hazard_input *x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*v = realloc(*v, *cap * sizeof **v);
		cr_assert_not_null(*v);
	}
	(*v)[(*n)++] = *x;
}

static int on_event(void *ctx, const struct an_hazard_event *ev)
{
	struct dt_run *d = ctx;
	if (d->n_evs == d->cap_evs) {
		d->cap_evs = d->cap_evs ? 2 * d->cap_evs : 64;
		d->evs = realloc(d->evs, d->cap_evs * sizeof *d->evs);
		if (!d->evs)
			return -ENOMEM;
	}
	d->evs[d->n_evs++] = *ev;
	return 0;
}

static struct an_hazard_engine *engine_new(void)
{
	struct an_hazard_engine *h;
	cr_assert_eq(an_hazard_new(NULL, &h), 0);
	return h;
}

static void run_open(struct dt_run *d, int replay)
{
	memset(d, 0, sizeof *d);
	snprintf(d->path, sizeof d->path, "/tmp/an_det_%d_%d.db", (int)getpid(), replay);
	unlink(d->path);
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(d->path, AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &d->st, err, sizeof err), 0, "%s", err);
	/* The set-up (task, box, animals, collars, sessions) is configuration, entered the same way each time. */
	struct fx *f = &d->f;
	cr_assert_eq(an_store_programme_add(d->st, "Det", NULL, &f->prog), 0);
	struct an_store_task t = {f->prog, "Determinism", NULL, FX_ORIGIN_LAT_E7, FX_ORIGIN_LON_E7, 12000};
	cr_assert_eq(an_store_task_add(d->st, &t, &f->task), 0);
	cr_assert_eq(an_store_task_origin(d->st, f->task, &f->o), 0);
	struct an_store_box b = {.task_id = f->task, .name = "B", .lane_width_mm = (uint32_t)lane_w,
	                         .lane_count = n_lanes, .species = AN_SPECIES_RAT};
	cr_assert_eq(fx_e7(f, box_e0, box_n0, &b.p0_lat_e7, &b.p0_lon_e7), 0);
	cr_assert_eq(fx_e7(f, box_e0 + box_len, box_n0, &b.along_lat_e7, &b.along_lon_e7), 0);
	cr_assert_eq(fx_e7(f, box_e0, box_n0 + (int64_t)n_lanes * lane_w, &b.across_lat_e7, &b.across_lon_e7), 0);
	cr_assert_eq(an_store_box_add(d->st, &b, &f->box), 0, "%s", an_store_errmsg(d->st));
	int64_t handler;
	cr_assert_eq(an_store_handler_add(d->st, "H", "handler", &handler), 0);
	for (int a = 0; a < DT_N_ANIMALS; a++) {
		char name[32];
		snprintf(name, sizeof name, "animal %d", a);
		cr_assert_eq(an_store_animal_add(d->st, a == 3 ? AN_SPECIES_DOG : AN_SPECIES_RAT, name, "MDR", &d->animals[a]), 0);
		cr_assert_eq(an_store_collar_assign(d->st, (uint16_t)(DT_COLLAR0 + a), d->animals[a], FX_T0 - 3600000), 0);
		struct an_store_session s = {.box_id = f->box, .animal_id = d->animals[a], .mode = AN_MODE_OPERATIONAL,
		                             .start_ms = session_t0(a), .has_end = true, .end_ms = session_t0(a) + 3600000,
		                             .handler_ids = &handler, .n_handlers = 1};
		cr_assert_eq(an_store_session_add(d->st, &s, &d->sessions[a]), 0);
	}
	d->eng = engine_new();
	an_hazard_set_sink(d->eng, on_event, d);
}

static void run_close(struct dt_run *d)
{
	an_hazard_free(d->eng);
	an_hazard_store_cache_free(&d->stored);
	an_store_close(d->st);
	free(d->seen);
	free(d->in);
	free(d->evs);
	char p[300];
	unlink(d->path);
	snprintf(p, sizeof p, "%s-wal", d->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", d->path);
	unlink(p);
}

static void add_input(struct dt_run *d, const struct an_hazard_input *x)
{
	push(&d->in, &d->n_in, &d->cap_in, x);
	push(&d->seen, &d->n_seen, &d->cap_seen, x);
}

/* What the daemon does per stored record: read its session and x/y back from the store. */
static void feed_record(struct dt_run *d, const struct dt_ev *e)
{
	sqlite3 *db = an_store_sqlite(d->st);
	sqlite3_stmt *q;
	const char *sql = e->kind == EV_FIX ? "SELECT session_id, x_mm, y_mm FROM fixes WHERE collar_id = ?1 AND rec_seq = ?2"
	                                    : "SELECT session_id, x_mm, y_mm FROM indications WHERE collar_id = ?1 AND rec_seq = ?2";
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int(q, 1, e->collar);
	sqlite3_bind_int64(q, 2, e->seq);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "record %u/%u not stored", e->collar, e->seq);
	cr_assert_neq(sqlite3_column_type(q, 0), SQLITE_NULL, "record %u/%u has no session", e->collar, e->seq);
	int64_t sid = sqlite3_column_int64(q, 0), x = sqlite3_column_int64(q, 1), y = sqlite3_column_int64(q, 2);
	sqlite3_finalize(q);
	int a = e->collar - DT_COLLAR0;
	struct an_hazard_input s = {.kind = AN_HAZARD_IN_SESSION};
	s.u.session = (struct an_hazard_session){.session_id = (uint64_t)sid, .animal_id = (uint64_t)d->animals[a],
	                                         .species = a == 3 ? AN_SPECIES_DOG : AN_SPECIES_RAT};
	add_input(d, &s);
	struct an_hazard_input in;
	memset(&in, 0, sizeof in);
	if (e->kind == EV_FIX) {
		in.kind = AN_HAZARD_IN_FIX;
		in.u.fix.session_id = (uint64_t)sid;
		in.u.fix.fix = (struct an_coverage_fix){.t_ms = e->t_ms, .e_mm = x, .n_mm = y, .h_acc_mm = e->h_acc_mm};
	} else {
		in.kind = AN_HAZARD_IN_IND;
		in.u.ind = (struct an_hazard_ind){(uint64_t)e->collar << 32 | e->seq, (uint64_t)d->animals[a], (uint64_t)sid,
		                                  e->t_ms, x, y, e->h_acc_mm};
	}
	add_input(d, &in);
}

static void put_record(struct dt_run *d, struct proto_batch *b, const struct dt_ev *e)
{
	if (e->kind == EV_FIX)
		cr_assert_eq(fx_fix(&d->f, b, e->collar, e->seq, e->t_ms, e->e_mm, e->n_mm), 0);
	else
		cr_assert_eq(fx_ind(&d->f, b, e->collar, e->seq, e->t_ms, e->e_mm, e->n_mm), 0);
	struct proto_batch_rec *w = &b->rec[b->n - 1];
	w->rx_ms = (uint64_t)e->t_ms + 700; /* the gateway's reception stamp is part of the logged record */
	if (e->kind == EV_FIX)
		w->m.fix.h_acc_mm = e->h_acc_mm;
	else
		w->m.ind.h_acc_mm = e->h_acc_mm;
}

static void apply_and_sync(struct dt_run *d, int64_t now)
{
	d->n_evs = 0;
	cr_assert_eq(an_hazard_apply(d->eng, d->in, d->n_in, now), 0);
	d->n_in = 0;
	char err[256];
	cr_assert_eq(an_hazard_store_sync_cached(d->st, d->f.task, &d->f.o, d->eng, d->evs, d->n_evs, &d->stored, err,
	                                         sizeof err), 0, "%s", err);
}

static void ingest(struct dt_run *d, struct proto_batch *b, const struct dt_ev *const *evs, uint16_t gw)
{
	b->gw_id = gw;
	b->gw_seq = ++d->gw_seq[gw];
	struct an_store_ingest_result res;
	cr_assert_eq(an_store_ingest_batch(d->st, b, &res), 0, "%s", an_store_errmsg(d->st));
	cr_assert_eq(res.conflicts, 0u);
	for (size_t i = 0; i < b->n; i++)
		feed_record(d, evs[i]);
	b->n = 0;
}

static void clearance_file(struct dt_run *d, uint32_t file)
{
	for (size_t i = file; i < g_n_clr; i += 2) {
		struct an_store_clearance c;
		memset(&c, 0, sizeof c);
		c.task_id = d->f.task;
		c.has_pos = true;
		cr_assert_eq(fx_e7(&d->f, g_clr[i].e_mm, g_clr[i].n_mm, &c.lat_e7, &c.lon_e7), 0);
		c.pos_err_mm = 100;
		c.result = g_clr[i].res;
		snprintf(c.team, sizeof c.team, "T");
		c.date_ms = FX_T0 + 30 * FX_DAY + (int64_t)i * 60000;
		int64_t id;
		cr_assert_eq(an_store_clearance_add(d->st, &c, &id), 0, "%s", an_store_errmsg(d->st));
		/* the task-frame position as the store computed it (the struct is an input only) */
		sqlite3_stmt *q;
		cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(d->st), "SELECT x_mm, y_mm FROM clearance_results WHERE id = ?1",
		                                -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_int64(q, 1, id);
		cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
		c.x_mm = sqlite3_column_int64(q, 0);
		c.y_mm = sqlite3_column_int64(q, 1);
		sqlite3_finalize(q);
		struct an_hazard_input in = {.kind = AN_HAZARD_IN_CLEARANCE};
		in.u.clearance = (struct an_hazard_clearance){an_hazard_clearance_id(&c), 0, true, c.x_mm, c.y_mm, c.pos_err_mm, c.result,
		                                              c.date_ms};
		add_input(d, &in);
	}
}

/* ---- outputs --------------------------------------------------------------------------------------------- */
struct dt_out {
	char *buf;
	size_t len;
};

static void section(FILE *m, const char *name)
{
	fprintf(m, "\n==== %s ====\n", name);
}

static void append_file(FILE *m, const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	char b[65536];
	size_t k;
	while ((k = fread(b, 1, sizeof b, f)) > 0)
		fwrite(b, 1, k, m);
	fclose(f);
}

static void hazard_report(struct an_store *st, FILE *m, bool json)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.json = json;
	char err[256];
	cr_assert_eq(an_report_hazards(st, &o, m, err, sizeof err), 0, "%s", err);
}

/* Which hazard point each clearance result was matched to (an_hazard_store_sync), rows in content order (row
 * ids follow import order); returns the number of matched rows. */
static size_t clearance_matches(struct an_store *st, FILE *m)
{
	sqlite3_stmt *q;
	cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(st),
	                                "SELECT x_mm, y_mm, result, date_ms, coalesce(team, ''), coalesce(depth_mm, -1),"
	                                " coalesce(matched_hazard_id, 0) FROM clearance_results"
	                                " ORDER BY 1, 2, 3, 4, 5, 6, 7", -1, &q, NULL), SQLITE_OK);
	size_t matched = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		fprintf(m, "%lld,%lld,%s,%lld,%s,%lld -> %lld\n", sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1),
		        (const char *)sqlite3_column_text(q, 2), sqlite3_column_int64(q, 3),
		        (const char *)sqlite3_column_text(q, 4), sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6));
		matched += sqlite3_column_int64(q, 6) != 0;
	}
	sqlite3_finalize(q);
	return matched;
}

static void outputs(struct dt_run *d, struct dt_out *o)
{
	FILE *m = open_memstream(&o->buf, &o->len);
	char err[AN_EXPORT_ERR_MAX];
	for (int f = AN_EXPORT_GEOJSON; f <= AN_EXPORT_CSV; f++) {
		section(m, an_export_format_name((enum an_export_format)f));
		cr_assert_eq(an_export_write(d->st, (enum an_export_format)f, NULL, m, NULL, err, sizeof err), 0, "%s", err);
	}
	char gp[300];
	snprintf(gp, sizeof gp, "%s.gpkg", d->path);
	cr_assert_eq(an_export_gpkg(d->st, NULL, gp, NULL, err, sizeof err), 0, "%s", err);
	section(m, "gpkg");
	append_file(m, gp);
	unlink(gp);
	section(m, "report hazards text");
	hazard_report(d->st, m, false);
	section(m, "report hazards json");
	hazard_report(d->st, m, true);
	section(m, "report accuracy json");
	struct an_report_opts ro;
	an_report_opts_init(&ro);
	ro.json = true;
	cr_assert_eq(an_report_accuracy(d->st, &ro, m, err, sizeof err), 0, "%s", err);
	section(m, "engine dump");
	cr_assert_eq(an_hazard_dump(d->eng, m), 0);
	section(m, "clearance matches");
	cr_assert_gt(clearance_matches(d->st, m), 0, "some clearance results are matched to hazard points");
	fclose(m);
}

static void explain_diff(const struct dt_out *a, const struct dt_out *b, int replay)
{
	size_t i = 0;
	while (i < a->len && i < b->len && a->buf[i] == b->buf[i])
		i++;
	const char *sec = "?";
	for (size_t k = 0; k + 5 < i; k++)
		if (!memcmp(a->buf + k, "==== ", 5))
			sec = a->buf + k;
	char p[128];
	snprintf(p, sizeof p, "/tmp/an_det_ref.txt");
	FILE *f = fopen(p, "wb");
	if (f) {
		fwrite(a->buf, 1, a->len, f);
		fclose(f);
	}
	snprintf(p, sizeof p, "/tmp/an_det_replay%d.txt", replay);
	f = fopen(p, "wb");
	if (f) {
		fwrite(b->buf, 1, b->len, f);
		fclose(f);
	}
	cr_assert_fail("replay %d differs from replay 0 at byte %zu (section %.40s); both written to /tmp/an_det_*.txt",
	               replay, i, sec);
}

/* ---- prefix = batch recompute --------------------------------------------------------------------------- */
static char *dump_of(struct an_hazard_engine *h, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	cr_assert_eq(an_hazard_dump(h, m), 0);
	fclose(m);
	return buf;
}

static char *report_of(struct an_store *st, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	hazard_report(st, m, true);
	fclose(m);
	return buf;
}

static int cmp_cp(const void *a, const void *b)
{
	const struct an_cluster_point *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static void check_prefix(struct dt_run *d, uint64_t *r)
{
	/* the hazard engine: the same inputs, shuffled, in one call to a fresh engine */
	struct an_hazard_input *v = malloc(d->n_seen * sizeof *v);
	cr_assert_not_null(v);
	memcpy(v, d->seen, d->n_seen * sizeof *v);
	for (size_t i = d->n_seen; i > 1; i--) {
		size_t j = (size_t)rng_below(r, i);
		struct an_hazard_input t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
	struct an_hazard_engine *fresh = engine_new();
	cr_assert_eq(an_hazard_apply(fresh, v, d->n_seen, 0), 0);
	free(v); /* the engine copies what it keeps */
	size_t la, lb;
	char *a = dump_of(d->eng, &la), *b = dump_of(fresh, &lb);
	cr_assert(la == lb && memcmp(a, b, la) == 0, "prefix of %zu inputs: incremental engine != batch recompute",
	          d->n_seen);
	free(a);
	free(b);
	/* the store: what the incremental syncs left == one sync of the fresh engine into a copy of the store */
	size_t lr;
	char *rep = report_of(d->st, &lr);
	char cpath[300], err[256];
	snprintf(cpath, sizeof cpath, "%s.copy", d->path);
	unlink(cpath);
	char sql[400];
	snprintf(sql, sizeof sql, "VACUUM INTO '%s'", cpath);
	cr_assert_eq(sqlite3_exec(an_store_sqlite(d->st), sql, NULL, NULL, NULL), SQLITE_OK);
	struct an_store *cs;
	cr_assert_eq(an_store_open(cpath, AN_STORE_SYNC_NORMAL | AN_STORE_CHECK_NONE, &cs, err, sizeof err), 0, "%s", err);
	cr_assert_eq(sqlite3_exec(an_store_sqlite(cs), "UPDATE clearance_results SET matched_hazard_id = NULL;"
	                                               " DELETE FROM hazard_events; DELETE FROM hazard_evidence;"
	                                               " DELETE FROM hazard_points;", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(an_hazard_store_sync(cs, d->f.task, &d->f.o, fresh, NULL, 0, err, sizeof err), 0, "%s", err);
	size_t lc;
	char *rep2 = report_of(cs, &lc);
	cr_assert(lr == lc && memcmp(rep, rep2, lr) == 0, "prefix of %zu inputs: stored hazards != batch recompute",
	          d->n_seen);
	free(rep);
	free(rep2);
	char *ma = NULL, *mb = NULL;
	size_t lma, lmb;
	FILE *fm = open_memstream(&ma, &lma);
	clearance_matches(d->st, fm);
	fclose(fm);
	fm = open_memstream(&mb, &lmb);
	clearance_matches(cs, fm);
	fclose(fm);
	cr_assert(lma == lmb && memcmp(ma, mb, lma) == 0,
	          "prefix of %zu inputs: stored clearance matches != batch recompute:\n%s\nvs\n%s", d->n_seen, ma, mb);
	free(ma);
	free(mb);
	an_store_close(cs);
	unlink(cpath);
	an_hazard_free(fresh);

	/* the clustering: incremental inserts in arrival order == batch DBSCAN of the same points */
	struct an_cluster_opts co = {.eps_mm = 1000, .min_pts = 2};
	struct an_cluster *c = an_cluster_new(&co);
	cr_assert_not_null(c);
	size_t n = 0;
	struct an_cluster_input *ci = malloc(d->n_seen * sizeof *ci);
	cr_assert_not_null(ci);
	for (size_t i = 0; i < d->n_seen; i++) {
		if (d->seen[i].kind != AN_HAZARD_IN_IND)
			continue;
		const struct an_hazard_ind *x = &d->seen[i].u.ind;
		if (an_cluster_label(c, x->id, NULL, NULL) == 0)
			continue; /* a re-sent record: fed twice, the engine ignores the copy */
		cr_assert_eq(an_cluster_insert(c, x->id, x->x_mm, x->y_mm), 0);
		ci[n++] = (struct an_cluster_input){x->id, x->x_mm, x->y_mm};
	}
	struct an_cluster_point *inc = malloc((n ? n : 1) * sizeof *inc), *bat = malloc((n ? n : 1) * sizeof *bat);
	cr_assert(inc && bat);
	cr_assert_eq(an_cluster_export(c, inc, n), (long)n);
	cr_assert_eq(an_cluster_batch(&co, ci, n, bat), 0);
	qsort(bat, n, sizeof *bat, cmp_cp);
	for (size_t i = 0; i < n; i++)
		cr_assert(inc[i].id == bat[i].id && inc[i].cluster_id == bat[i].cluster_id && inc[i].is_core == bat[i].is_core,
		          "prefix of %zu indications: point %" PRIu64 " incremental (%" PRIu64 ",%d) batch (%" PRIu64 ",%d)", n,
		          inc[i].id, inc[i].cluster_id, inc[i].is_core, bat[i].cluster_id, bat[i].is_core);
	free(inc);
	free(bat);
	free(ci);
	an_cluster_free(c);
}

static void replay(int k, struct dt_out *o)
{
	struct dt_run d;
	run_open(&d, k);
	uint64_t r = 0x5eed0000u + (uint64_t)k;
	const struct dt_ev **order = malloc(g_n_log * sizeof *order);
	cr_assert_not_null(order);
	for (size_t i = 0; i < g_n_log; i++)
		order[i] = &g_log[i];
	if (k > 0) /* replay 0 is the log in generation order */
		for (size_t i = g_n_log; i > 1; i--) {
			size_t j = (size_t)rng_below(&r, i);
			const struct dt_ev *t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	struct proto_batch *b = calloc(1, sizeof *b);
	const struct dt_ev *in_batch[PROTO_BATCH_RECS_MAX];
	cr_assert_not_null(b);
	size_t prefix_at = (size_t)rng_below(&r, g_n_log);
	size_t want = 1 + (size_t)rng_below(&r, 40);
	int64_t step = 0;
	for (size_t i = 0; i < g_n_log; i++) {
		const struct dt_ev *e = order[i];
		if (e->kind == EV_CLEARANCE_FILE) {
			clearance_file(&d, e->seq);
		} else {
			put_record(&d, b, e);
			in_batch[b->n - 1] = e;
			/* now and then a record already sent comes again (a gateway's resend) */
			if (i > 0 && rng_below(&r, 20) == 0 && order[i - 1]->kind != EV_CLEARANCE_FILE && b->n < want) {
				put_record(&d, b, order[i - 1]);
				in_batch[b->n - 1] = order[i - 1];
			}
		}
		bool last = i + 1 == g_n_log;
		if (b->n >= want || (last && b->n) || (e->kind == EV_CLEARANCE_FILE && b->n)) {
			ingest(&d, b, in_batch, (uint16_t)(1 + rng_below(&r, 2)));
			want = 1 + (size_t)rng_below(&r, 40);
		}
		if (d.n_in && (b->n == 0 || last))
			apply_and_sync(&d, ++step);
		if (i == prefix_at && b->n == 0)
			check_prefix(&d, &r);
	}
	check_prefix(&d, &r);
	size_t n_incr, n_full;
	an_hazard_apply_counts(d.eng, &n_incr, &n_full);
	cr_assert_gt(n_incr, n_full, "replay %d: %zu incremental applies, %zu full: the incremental path is what is "
	             "tested here", k, n_incr, n_full);
	outputs(&d, o);
	free(b);
	free(order);
	run_close(&d);
}

Test(an_determinism, shuffled_replays_give_identical_outputs, .timeout = 600)
{
	build_log();
	int n = 100;
	const char *env = getenv("AN_DET_REPLAYS");
	if (env && atoi(env) > 0)
		n = atoi(env);
	struct dt_out ref;
	replay(0, &ref);
	const char *dump = getenv("AN_DET_DUMP"); /* a path: keep the reference outputs for a human to read */
	if (dump) {
		FILE *f = fopen(dump, "wb");
		cr_assert_not_null(f, "%s", dump);
		fwrite(ref.buf, 1, ref.len, f);
		fclose(f);
	}
	cr_assert(strstr(ref.buf, "\"status\":\"awaiting_excavation\"") != NULL ||
	          strstr(ref.buf, "\"status\":\"confirmed_explosive\"") != NULL, "the log produces hazard points");
	for (int k = 1; k < n; k++) {
		struct dt_out o;
		replay(k, &o);
		if (o.len != ref.len || memcmp(o.buf, ref.buf, ref.len) != 0)
			explain_diff(&ref, &o, k);
		free(o.buf);
	}
	free(ref.buf);
}
