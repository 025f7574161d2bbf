/*
 * analysis/daemon/core_feed.c — what scentrack-core does with a committed batch: publish its new fixes and
 * indications (an/pub.h) and feed them to the hazard engine of their frame (an/hazard.h), whose events are
 * published as hazard points. At start-up the same code rebuilds the PUB state and the engines from the
 * store without publishing.
 *
 * Frames. A record the store attributed to a session (collar assignment → session → box → task) is fed in
 * that task's frame with the store's x_mm/y_mm, its session and the session's animal and species. Any other
 * record with a position goes to the IMPLICIT frame: one session per collar (session id = animal id =
 * CORE_IMPLICIT_BASE + collar_id, species rat — the hazard engine's default for an unknown animal), ENU
 * about [hazard] origin_lat_e7/origin_lon_e7, or, when not configured, about the first positioned record
 * in the store (records.id order, so a restart picks the same origin).
 *
 * "New" records. an_store_ingest_result counts duplicates but does not say which records they were; when a
 * batch had any, each record is looked up (records.gw_id/gw_seq = this batch → stored now). What should
 * move into the store API: a per-record "inserted" flag (and x/y/session) in the ingest result, which would
 * save the two lookups per record done here.
 *
 * Calibrations. The animals' calibration records (an/store.h) are read at start-up and given to every TASK
 * frame (frames created later get them too); records imported over the core's socket later are read and given
 * the same way (core_feed_calibrations). The engine keeps each animal's latest; a new one rescores every point.
 *
 * Hazard engine calls are deferred to core_feed_flush(), run once per loop iteration after the ingest
 * service, so the BATCH_ACK does not wait for a recompute and several batches share one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "an/array.h"
#include "an/boxframe.h"
#include "core.h"

static int prep(struct core_feed *f, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(an_store_sqlite(f->store), sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		core_log(CORE_LOG_ERR, "feed", "prepare \"%s\": %s", sql, sqlite3_errmsg(an_store_sqlite(f->store)));
		return -EIO;
	}
	return 0;
}

/* ---- frames and sessions -------------------------------------------------------------------------------- */

static int hazard_event(void *ctx, const struct an_hazard_event *ev);

struct ev_ctx {
	struct core_feed *f;
	struct core_frame *fr;
};
static struct ev_ctx g_ev; /* the engine sink's context while one frame is applied (single thread) */

static int push_input(struct core_frame *fr, const struct an_hazard_input *in)
{
	if (an_array_grow((void **)&fr->in, &fr->cap_in, fr->n_in, 256, sizeof *fr->in))
		return -ENOMEM;
	fr->in[fr->n_in++] = *in;
	return 0;
}

/* Does an input of the frame-independent list (f->task_inputs) go to frame fr? */
static bool input_for_frame(const struct core_frame *fr, const struct an_hazard_input *in)
{
	return fr->task_id > 0 || in->kind == AN_HAZARD_IN_REVIEW;
}

static struct core_frame *frame_get(struct core_feed *f, int64_t task_id)
{
	for (size_t i = 0; i < f->n_frames; i++)
		if (f->frames[i].task_id == task_id)
			return &f->frames[i];
	struct core_frame *nf = realloc(f->frames, (f->n_frames + 1) * sizeof *nf);
	if (!nf)
		return NULL;
	f->frames = nf;
	struct core_frame *fr = &nf[f->n_frames];
	memset(fr, 0, sizeof *fr);
	fr->task_id = task_id;
	if (task_id > 0) {
		if (an_store_task_origin(f->store, task_id, &fr->origin) == 0)
			fr->has_origin = true;
	} else if (f->cfg->has_origin) {
		if (an_geo_origin_init(&fr->origin, f->cfg->origin_lat_e7, f->cfg->origin_lon_e7, AN_GEO_ALT_UNKNOWN) == 0)
			fr->has_origin = true;
	}
	struct an_hazard_opts o;
	an_hazard_opts_init(&o);
	o.eps_mm = f->cfg->eps_mm;
	o.box_frame = f->cfg->box_frame;
	o.pinpoint_rat_mm = f->cfg->pinpoint_rat_mm;
	o.pinpoint_dog_mm = f->cfg->pinpoint_dog_mm;
	o.handler_verdicts = f->cfg->handler_verdicts;
	o.fusion.handler_confirm_true = f->cfg->handler_confirm_true;
	o.fusion.handler_confirm_false = f->cfg->handler_confirm_false;
	if (f->cfg->density_per_m2 > 0.0)
		o.fusion.density_per_m2 = f->cfg->density_per_m2;
	o.p_excavate = f->cfg->p_excavate;
	o.agree_animals = f->cfg->agree_animals;
	if (an_hazard_new(&o, &fr->eng))
		return NULL;
	an_hazard_set_sink(fr->eng, hazard_event, &g_ev);
	f->n_frames++;
	/* the animals' calibrations and the recorder's box positions apply in every task frame (the implicit
	 * frame's animals are collars, and it has no boxes); the handlers' verdicts in every frame */
	for (size_t i = 0; i < f->n_task_inputs; i++)
		if (input_for_frame(fr, &f->task_inputs[i]) && push_input(fr, &f->task_inputs[i]))
			return NULL;
	return fr;
}

static bool session_known(struct core_feed *f, uint64_t id, size_t *pos)
{
	size_t lo = 0, hi = f->n_sessions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->sessions[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < f->n_sessions && f->sessions[lo] == id;
}

/* The session's searched patches (a confirmation search, an/store.h), into a buffer the frame owns until
 * the apply that takes the input. Ones that do not fit its box (the store checked them against the same box,
 * so this is a damaged row) are left out and counted: an invalid input would stop the engine's whole batch. */
static int session_patches(struct core_feed *f, struct core_frame *fr, uint64_t session_id,
                           struct an_hazard_session *hs)
{
	struct an_geo_box_patch tmp[AN_HAZARD_MAX_PATCHES];
	size_t n = 0;
	if (an_store_session_patches(f->store, (int64_t)session_id, tmp, AN_HAZARD_MAX_PATCHES, &n) < 0) {
		f->st.lookup_errors++;
		core_log(CORE_LOG_WARN, "hazard", "session %" PRIu64 ": patches not read (%s): no patch evidence",
		         session_id, an_store_errmsg(f->store));
		return 0;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (an_geo_box_patch_check(&hs->box, &tmp[i]) < 0) {
			f->st.lookup_errors++;
			core_log(CORE_LOG_WARN, "hazard", "session %" PRIu64 ": patch %zu is not inside its box: left out",
			         session_id, i);
			continue;
		}
		tmp[k++] = tmp[i];
	}
	if (k == 0)
		return 0;
	if (an_array_grow((void **)&fr->pbufs, &fr->cap_pbufs, fr->n_pbufs, 16, sizeof *fr->pbufs))
		return -ENOMEM;
	struct an_geo_box_patch *buf = malloc(k * sizeof *buf);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, tmp, k * sizeof *buf);
	fr->pbufs[fr->n_pbufs++] = buf;
	hs->patches = buf;
	hs->n_patches = k;
	return 0;
}

static void frame_free_pbufs(struct core_frame *fr)
{
	for (size_t i = 0; i < fr->n_pbufs; i++)
		free(fr->pbufs[i]);
	fr->n_pbufs = 0;
}

/* Give the frame's engine the session record once (store session, or the collar's implicit one), with its
 * end and patches as the store has them then: a session ended later (an_store_session_end) reaches the engine
 * at the core's next start-up. */
static int ensure_session(struct core_feed *f, struct core_frame *fr, uint64_t session_id, uint64_t *animal_id)
{
	size_t pos;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_SESSION};
	in.u.session.session_id = session_id;
	if (session_id >= CORE_IMPLICIT_BASE) {
		*animal_id = session_id;
		in.u.session.animal_id = session_id;
		in.u.session.species = AN_SPECIES_RAT;
	} else {
		sqlite3_stmt *q = f->q_session;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, (sqlite3_int64)session_id);
		if (sqlite3_step(q) != SQLITE_ROW) {
			f->st.lookup_errors++;
			return -ENOENT;
		}
		*animal_id = (uint64_t)sqlite3_column_int64(q, 0);
		const char *sp = (const char *)sqlite3_column_text(q, 1);
		in.u.session.animal_id = *animal_id;
		in.u.session.species = sp && !strcmp(sp, "dog") ? AN_SPECIES_DOG : AN_SPECIES_RAT;
		if (session_known(f, session_id, &pos)) {
			sqlite3_reset(q); /* ends its read: see place_lookup */
			return 0;
		}
		/* the box's lanes, once per session: the engine reads the pass in its box frame (an/boxframe.h) */
		int64_t box_id = sqlite3_column_int64(q, 2);
		if (sqlite3_column_type(q, 3) != SQLITE_NULL) {
			in.u.session.has_end = true;
			in.u.session.end_ms = sqlite3_column_int64(q, 3);
		}
		sqlite3_reset(q);
		if (an_store_box_frame(f->store, box_id, &in.u.session.box) == 0) {
			in.u.session.has_box = true;
			int rc = session_patches(f, fr, session_id, &in.u.session);
			if (rc)
				return rc;
		} else {
			f->st.lookup_errors++;
			core_log(CORE_LOG_WARN, "hazard", "session %" PRIu64 ": no box frame (%s): placed from its fixes only",
			         session_id, an_store_errmsg(f->store));
		}
	}
	if (session_known(f, session_id, &pos))
		return 0;
	if (an_array_grow((void **)&f->sessions, &f->cap_sessions, f->n_sessions, 64, sizeof *f->sessions))
		return -ENOMEM;
	memmove(f->sessions + pos + 1, f->sessions + pos, (f->n_sessions - pos) * sizeof *f->sessions);
	f->sessions[pos] = session_id;
	f->n_sessions++;
	return push_input(fr, &in);
}

/* Where a positioned record goes: its store session/task and x/y, or the implicit frame. */
struct place {
	int64_t session_id, task_id, x_mm, y_mm;
	bool has_xy;
};

static int place_lookup(struct core_feed *f, sqlite3_stmt *q, uint16_t collar, uint32_t rec_seq, struct place *p)
{
	memset(p, 0, sizeof *p);
	sqlite3_reset(q);
	sqlite3_bind_int(q, 1, collar);
	sqlite3_bind_int64(q, 2, rec_seq);
	if (sqlite3_step(q) != SQLITE_ROW) {
		f->st.lookup_errors++;
		return -ENOENT;
	}
	p->session_id = sqlite3_column_int64(q, 0);
	p->task_id = sqlite3_column_int64(q, 1);
	p->has_xy = sqlite3_column_type(q, 2) != SQLITE_NULL;
	p->x_mm = sqlite3_column_int64(q, 2);
	p->y_mm = sqlite3_column_int64(q, 3);
	/* A statement left on its row keeps its read transaction (WAL snapshot) open; once another process wrote
	 * (scentrack import --db, a second writer) the next ingest's BEGIN cannot upgrade that snapshot and fails
	 * with SQLITE_BUSY_SNAPSHOT for good. Reset as soon as the row is read. */
	sqlite3_reset(q);
	return 0;
}

/* Frame, session and local position of a record at (lat, lon). */
static int locate(struct core_feed *f, const struct place *pl, uint16_t collar, int32_t lat_e7, int32_t lon_e7,
                  struct core_frame **frp, uint64_t *session_id, uint64_t *animal_id, int64_t *x, int64_t *y)
{
	struct core_frame *fr;
	if (pl->has_xy && pl->session_id > 0) {
		fr = frame_get(f, pl->task_id);
		if (!fr)
			return -ENOMEM;
		*session_id = (uint64_t)pl->session_id;
		*x = pl->x_mm;
		*y = pl->y_mm;
	} else {
		fr = frame_get(f, 0);
		if (!fr)
			return -ENOMEM;
		if (!fr->has_origin) {
			/* the first positioned record defines the implicit frame (see the file comment) */
			if (an_geo_origin_init(&fr->origin, lat_e7, lon_e7, AN_GEO_ALT_UNKNOWN))
				return -EINVAL;
			fr->has_origin = true;
			core_log(CORE_LOG_NOTE, "hazard", "implicit frame origin %.7f %.7f (first positioned record)",
			         lat_e7 / 1e7, lon_e7 / 1e7);
		}
		struct an_geo_enu e;
		if (an_geo_enu_from_e7(&fr->origin, lat_e7, lon_e7, AN_GEO_ALT_UNKNOWN, &e)) {
			f->st.out_of_frame++;
			return -ERANGE;
		}
		*session_id = CORE_IMPLICIT_BASE + collar;
		*x = e.e_mm;
		*y = e.n_mm;
	}
	*frp = fr;
	return ensure_session(f, fr, *session_id, animal_id);
}

static int feed_fix(struct core_feed *f, const struct place *pl, uint16_t collar, const struct proto_fix *fx,
                    uint64_t rx_ms)
{
	/* Only fixes the engine can use matter to it: in a store session (it has a box) up to max_h_acc_mm, since
	 * the box frame reads consumer-grade passes; elsewhere (the implicit frame: no box) only the coverage's
	 * usable ones — the others would only cost memory and path rebuilds. Start-up loads the same subset. */
	uint32_t lim = pl->has_xy && pl->session_id > 0 ? f->max_h_acc_mm : f->max_h_acc_coverage_mm;
	if (!(fx->has & PROTO_FIX_HAS_HACC) || fx->h_acc_mm == 0 || fx->h_acc_mm > lim)
		return 0;
	struct core_frame *fr;
	uint64_t sid, aid;
	int64_t x, y;
	int rc = locate(f, pl, collar, fx->lat_e7, fx->lon_e7, &fr, &sid, &aid, &x, &y);
	if (rc)
		return rc;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_FIX};
	in.u.fix.session_id = sid;
	in.u.fix.fix.t_ms = (int64_t)((fx->has & PROTO_FIX_HAS_T) ? fx->t_ms : rx_ms);
	in.u.fix.fix.e_mm = x;
	in.u.fix.fix.n_mm = y;
	in.u.fix.fix.h_acc_mm = (fx->has & PROTO_FIX_HAS_HACC) ? fx->h_acc_mm : 0;
	return push_input(fr, &in);
}

static int feed_ind(struct core_feed *f, const struct place *pl, uint16_t collar, const struct proto_ind *ind,
                    uint64_t rx_ms)
{
	if ((ind->has & PROTO_IND_HAS_POS) != PROTO_IND_HAS_POS) {
		f->st.ind_no_pos++;
		return 0;
	}
	/* A sit or scratch the collar's classifier saw but the handler did not mark is not an indication in a
	 * programme whose SOP has the handler acknowledge each one (the animal's behaviour + the handler's
	 * call): it is stored and published (the map shows it), but it is not search evidence. */
	if (f->cfg->require_handler && ind->src == PROTO_SRC_CLASSIFIER) {
		f->st.ind_unmarked++;
		return 0;
	}
	struct core_frame *fr;
	uint64_t sid, aid;
	int64_t x, y;
	int rc = locate(f, pl, collar, ind->lat_e7, ind->lon_e7, &fr, &sid, &aid, &x, &y);
	if (rc)
		return rc;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_IND};
	in.u.ind.id = (uint64_t)collar << 32 | ind->rec_seq;
	in.u.ind.animal_id = aid;
	in.u.ind.session_id = sid;
	in.u.ind.t_ms = (int64_t)((ind->has & PROTO_IND_HAS_T) ? ind->t_ms : rx_ms);
	in.u.ind.x_mm = x;
	in.u.ind.y_mm = y;
	in.u.ind.h_acc_mm = (ind->has & PROTO_IND_HAS_HACC) ? ind->h_acc_mm : 0;
	return push_input(fr, &in);
}

/* ---- hazard events → PUB ------------------------------------------------------------------------------ */

/* The engine's events come out of its diff before its table is replaced, and a point whose members or
 * centroid moved without a status or score change has no event at all. So the sink only collects the
 * events (all of them go to the store's hazard_events; RETIRED ones are also published with the point they
 * merged into); after the apply every live point is encoded and published when its body differs from the
 * one last published, and the frame's state is written to the store (an_hazard_store_sync). */
static int hazard_event(void *ctx, const struct an_hazard_event *ev)
{
	struct ev_ctx *e = ctx;
	struct core_frame *fr = e->fr;
	if (an_array_grow((void **)&fr->evs, &fr->cap_evs, fr->n_evs, 16, sizeof *fr->evs))
		return -ENOMEM;
	fr->evs[fr->n_evs++] = *ev;
	return 0;
}

static void put_hazard(struct core_feed *f, const struct an_pub_hazard *h)
{
	uint8_t body[AN_PUB_BODY_MAX];
	size_t len, old_len;
	const uint8_t *old;
	if (an_pub_hazard_encode(h, body, sizeof body, &len)) {
		f->st.pub_errors++;
		return;
	}
	if (h->status != AN_HAZARD_SUPERSEDED && an_pub_get(f->pub, AN_PUB_HAZARD, h->id, &old, &old_len) == 0 &&
	    old_len == len && memcmp(old, body, len) == 0)
		return; /* unchanged: no update */
	char topic[AN_PUB_TOPIC_MAX];
	snprintf(topic, sizeof topic, "hazard/%" PRIu64, h->id);
	if (an_pub_put(f->pub, AN_PUB_HAZARD, h->id, topic, body, len, !f->loading))
		f->st.pub_errors++;
	else if (!f->loading)
		f->st.hazard_pub++;
}

static void publish_points(struct core_feed *f, struct core_frame *fr)
{
	uint64_t task = (uint64_t)(fr->task_id > 0 ? fr->task_id : 0);
	for (size_t i = 0; i < fr->n_evs; i++) {
		if (fr->evs[i].kind != AN_HAZARD_EV_RETIRED)
			continue;
		struct an_pub_hazard h = {.id = fr->evs[i].hazard_id, .status = AN_HAZARD_SUPERSEDED, .task_id = task,
		                          .into_id = fr->evs[i].into_id, .log_odds_q10 = fr->evs[i].log_odds_to_q10};
		put_hazard(f, &h);
	}
	size_t n = an_hazard_count(fr->eng);
	for (size_t i = 0; i < n; i++) {
		struct an_hazard_point pt;
		if (an_hazard_get(fr->eng, i, &pt))
			break;
		struct an_pub_hazard h = {.id = pt.id, .task_id = task, .status = (uint8_t)pt.status,
		                          .log_odds_q10 = pt.log_odds_q10, .n_animals = pt.n_ind_animals,
		                          .n_ind = pt.n_ind, .sigma_mm = pt.sigma_mm, .x_mm = pt.x_mm, .y_mm = pt.y_mm};
		double p = pt.p_explosive * 1e6;
		h.p_ppm = p >= 1e6 ? 1000000u : p <= 0 ? 0u : (uint32_t)lround(p);
		struct an_geo_enu en = {pt.x_mm, pt.y_mm, 0};
		int32_t alt;
		if (fr->has_origin && an_geo_enu_to_e7(&fr->origin, &en, &h.lat_e7, &h.lon_e7, &alt) == 0)
			h.has_latlon = true;
		put_hazard(f, &h);
	}
}

/* Task frames only (the implicit frame has no task row). Skipped when nothing a stored row shows can have
 * changed: no event and no new indication/clearance/box position (a fix alone changes coverage, hence scores, hence an
 * event). At start-up (loading) the state is rewritten without events: they were stored when they happened. */
static int store_points(struct core_feed *f, struct core_frame *fr)
{
	if (fr->task_id <= 0 || !fr->has_origin || (!fr->n_evs && !fr->ind_in && !f->loading))
		return 0;
	char err[256];
	int rc = an_hazard_store_sync_cached(f->store, fr->task_id, &fr->origin, fr->eng, f->loading ? NULL : fr->evs,
	                                     f->loading ? 0 : fr->n_evs, &fr->stored, err, sizeof err);
	if (rc) {
		f->st.hazard_sync_errors++;
		core_log(CORE_LOG_ERR, "hazard", "task %" PRId64 ": writing hazard points to the store: %s", fr->task_id, err);
		return rc;
	}
	f->st.hazard_syncs++;
	return 0;
}

int core_feed_flush(struct core_feed *f)
{
	int ret = 0;
	for (size_t i = 0; i < f->n_frames; i++) {
		struct core_frame *fr = &f->frames[i];
		if (!fr->n_in)
			continue;
		g_ev.f = f;
		g_ev.fr = fr;
		uint64_t t0 = core_mono_us();
		int rc = an_hazard_apply(fr->eng, fr->in, fr->n_in, (int64_t)core_utc_ms());
		uint64_t dt = core_mono_us() - t0;
		f->st.hazard_applies++;
		f->st.hazard_inputs += fr->n_in;
		f->st.hazard_apply_us_total += dt;
		if (dt > f->st.hazard_apply_us_max)
			f->st.hazard_apply_us_max = dt;
		if (rc) {
			/* The engine keeps the inputs before the offending one; the record itself is stored and
			 * published, only its hazard contribution is missing: say so loudly. */
			f->st.hazard_errors++;
			core_log(CORE_LOG_ERR, "hazard", "frame %" PRId64 ": an_hazard_apply of %zu inputs: %s", fr->task_id,
			         fr->n_in, strerror(-rc));
			ret = rc;
		}
		for (size_t k = 0; k < fr->n_in && !fr->ind_in; k++)
			fr->ind_in = fr->in[k].kind == AN_HAZARD_IN_IND || fr->in[k].kind == AN_HAZARD_IN_CLEARANCE ||
			             fr->in[k].kind == AN_HAZARD_IN_BOXPOS || /* moves a centroid, maybe without an event */
			             fr->in[k].kind == AN_HAZARD_IN_REVIEW; /* an evidence line, maybe without an event */
		fr->n_in = 0;
		frame_free_pbufs(fr); /* the engine copied the patches */
		publish_points(f, fr);
		if ((rc = store_points(f, fr)))
			ret = rc;
		fr->n_evs = 0;
		fr->ind_in = false;
	}
	return ret;
}

/* ---- clearance results -------------------------------------------------------------------------------------- */

struct clr_ctx {
	struct core_feed *f;
	int rc; /* the callback's own failure, told apart from the store's */
};

static int clearance_fed(void *ctx, const struct an_store_clearance *c)
{
	struct clr_ctx *x = ctx;
	struct core_feed *f = x->f;
	if (c->result == 0) {
		/* a result text the store does not know: counted, and read again next time (the id is not passed) */
		f->st.lookup_errors++;
		return 0;
	}
	f->clr_last_id = c->id;
	if (!c->has_pos && c->hazard_id <= 0)
		return 0; /* nothing to attach it to (e.g. not_accessible, no position, no hazard named) */
	struct core_frame *fr = frame_get(f, c->task_id);
	if (!fr)
		return x->rc = -ENOMEM;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_CLEARANCE};
	in.u.clearance = (struct an_hazard_clearance){an_hazard_clearance_id(c), (uint64_t)(c->hazard_id > 0 ? c->hazard_id : 0),
	                                              c->has_pos, c->x_mm, c->y_mm, c->pos_err_mm, c->result, c->date_ms};
	int rc = push_input(fr, &in);
	if (rc)
		return x->rc = rc;
	f->st.clearances_fed++;
	return 0;
}

/* The end of a store read that fed the engines: a store error is logged and is -EIO; a feed error (the
 * callback's, cb_rc) is passed on as it is. */
static int feed_read_end(struct core_feed *f, int rc, int cb_rc, const char *what)
{
	if (rc < 0 && cb_rc == 0) {
		core_log(CORE_LOG_ERR, "feed", "reading %s: %s", what, an_store_errmsg(f->store));
		return -EIO;
	}
	return rc < 0 ? rc : 0;
}

int core_feed_clearances(struct core_feed *f)
{
	if (!f->cfg->hazard)
		return 0;
	struct clr_ctx x = {f, 0};
	int rc = an_store_clearances_after(f->store, f->clr_last_id, clearance_fed, &x);
	return feed_read_end(f, rc, x.rc, "clearance results");
}

/* ---- calibration records ---------------------------------------------------------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct cal_ctx {
	struct core_feed *f;
	int rc;
	size_t n;
};

/* An input for every task frame (a verdict: every frame), now and later (frame_get gives a new frame all of
 * them). */
static int task_input_add(struct core_feed *f, const struct an_hazard_input *in)
{
	if (an_array_grow((void **)&f->task_inputs, &f->cap_task_inputs, f->n_task_inputs, 64, sizeof *f->task_inputs))
		return -ENOMEM;
	f->task_inputs[f->n_task_inputs++] = *in;
	for (size_t i = 0; i < f->n_frames; i++) {
		if (!input_for_frame(&f->frames[i], in))
			continue;
		int rc = push_input(&f->frames[i], in);
		if (rc)
			return rc;
	}
	return 0;
}

static int calibration_fed(void *ctx, const struct an_store_calibration *c)
{
	struct cal_ctx *x = ctx;
	struct core_feed *f = x->f;
	f->cal_last_id = c->id;
	struct an_hazard_calib hc = {.cal = {(uint64_t)c->animal_id, c->species, c->hits, c->misses, c->false_inds,
	                                     c->area_m2},
	                             .as_of_ms = c->as_of_ms};
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_CALIB};
	in.u.calib = hc;
	int rc = task_input_add(f, &in);
	if (rc)
		return x->rc = rc;
	f->st.calibrations_fed++;
	x->n++;
	/* live records one line each; at start-up one summary line (a programme's history is long) */
	if (!f->loading)
		core_log(CORE_LOG_NOTE, "hazard", "calibration %" PRId64 " of animal %" PRId64 " (%s) as of %" PRId64
		         " ms: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " false over %.0f m2 (%s): every task frame "
		         "rescores", c->id, c->animal_id, c->species == AN_SPECIES_DOG ? "dog" : "rat", c->as_of_ms, c->hits,
		         c->misses, c->false_inds, c->area_m2, an_store_calib_source_name(c->source));
	return 0;
}

int core_feed_calibrations(struct core_feed *f)
{
	if (!f->cfg->hazard)
		return 0;
	struct cal_ctx x = {f, 0, 0};
	int rc = an_store_calibrations_after(f->store, f->cal_last_id, calibration_fed, &x);
	rc = feed_read_end(f, rc, x.rc, "calibration records");
	if (rc < 0)
		return rc;
	if (f->loading) {
		/* which animals are calibrated is what a handler asks when a point's P looks wrong */
		uint64_t *ids = malloc((f->n_task_inputs + 1) * sizeof *ids);
		size_t animals = 0, n = 0;
		if (!ids)
			return -ENOMEM;
		for (size_t i = 0; i < f->n_task_inputs; i++)
			if (f->task_inputs[i].kind == AN_HAZARD_IN_CALIB)
				ids[n++] = f->task_inputs[i].u.calib.cal.animal_id;
		qsort(ids, n, sizeof *ids, u64_cmp);
		for (size_t i = 0; i < n; i++)
			animals += i == 0 || ids[i] != ids[i - 1];
		free(ids);
		core_log(CORE_LOG_NOTE, "hazard", "calibrations: %zu records of %zu animals fed to the hazard engines "
		         "(the latest as_of per animal is in force; animals without one are scored as new)", x.n, animals);
	}
	return 0;
}

/* ---- the data recorder's box positions ---------------------------------------------------------------------- */

static int boxpos_fed(void *ctx, const struct an_store_boxpos *b)
{
	struct cal_ctx *x = ctx;
	struct core_feed *f = x->f;
	f->bp_last_id = b->id;
	struct an_hazard_boxpos hb = {.ind_id = (uint64_t)b->collar_id << 32 | b->rec_seq, .lane = b->lane,
	                              .along_mm = b->along_mm, .sd_mm = b->sd_mm, .entered_ms = b->entered_ms};
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_BOXPOS};
	in.u.boxpos = hb;
	int rc = task_input_add(f, &in);
	if (rc)
		return x->rc = rc;
	f->st.boxpos_fed++;
	x->n++;
	return 0;
}

int core_feed_boxpos(struct core_feed *f)
{
	if (!f->cfg->hazard)
		return 0;
	struct cal_ctx x = {f, 0, 0};
	int rc = an_store_boxpos_after(f->store, f->bp_last_id, boxpos_fed, &x);
	rc = feed_read_end(f, rc, x.rc, "box positions");
	if (rc < 0)
		return rc;
	if (x.n > 0)
		core_log(CORE_LOG_NOTE, "hazard", "%zu recorder box position%s fed to the hazard engines%s", x.n,
		         x.n == 1 ? "" : "s", f->loading ? " (start-up)" : ": their indications are placed in their lanes");
	return 0;
}

/* ---- the handlers' verdicts ------------------------------------------------------------------------------- */

static int review_fed(void *ctx, const struct an_store_review *r)
{
	struct cal_ctx *x = ctx;
	struct core_feed *f = x->f;
	f->rv_last_id = r->id;
	struct an_hazard_input in = {.kind = AN_HAZARD_IN_REVIEW};
	in.u.review = (struct an_hazard_review){(uint64_t)r->collar_id << 32 | r->rec_seq, r->verdict, r->t_ms};
	int rc = task_input_add(f, &in);
	if (rc)
		return x->rc = rc;
	f->st.reviews_fed++;
	x->n++;
	if (!f->loading && f->on_review)
		f->on_review(f->on_review_ctx, r->collar_id, r->rec_seq);
	return 0;
}

int core_feed_reviews(struct core_feed *f)
{
	if (!f->cfg->hazard)
		return 0;
	struct cal_ctx x = {f, 0, 0};
	int rc = an_store_reviews_after(f->store, f->rv_last_id, review_fed, &x);
	rc = feed_read_end(f, rc, x.rc, "handler verdicts");
	if (rc < 0)
		return rc;
	/* live verdicts come one per indication: logged at start-up only (the status file counts them) */
	if (x.n > 0 && f->loading)
		core_log(CORE_LOG_NOTE, "hazard", "%zu handler verdict%s fed to the hazard engines (start-up)", x.n,
		         x.n == 1 ? "" : "s");
	return 0;
}

/* ---- the ingest sink -------------------------------------------------------------------------------------- */

static void publish_gateway(struct core_feed *f, const struct proto_batch *b, const struct an_store_ingest_result *r)
{
	struct core_gw *g = NULL;
	for (size_t i = 0; i < f->n_gws; i++)
		if (f->gws[i].gw_id == b->gw_id)
			g = &f->gws[i];
	if (!g) {
		struct core_gw *n = realloc(f->gws, (f->n_gws + 1) * sizeof *n);
		if (!n)
			return;
		f->gws = n;
		g = &n[f->n_gws++];
		memset(g, 0, sizeof *g);
		g->gw_id = b->gw_id;
		g->st.gw_id = b->gw_id;
	}
	g->st.last_gw_seq = r->ack_gw_seq;
	g->st.batches++;
	g->st.records += r->inserted;
	g->st.last_batch_ms = core_utc_ms();
	if (an_pub_gateway(f->pub, &g->st, true))
		f->st.pub_errors++;
	else
		f->st.gw_pub++;
}

/* Was record i of b stored by this commit (and not earlier, nor earlier in the same batch)? */
static bool stored_now(struct core_feed *f, const struct proto_batch *b, unsigned i)
{
	const struct proto_batch_rec *rec = &b->rec[i];
	for (unsigned k = 0; k < i; k++)
		if ((b->rec[k].type == PROTO_T_FIX || b->rec[k].type == PROTO_T_IND) &&
		    b->rec[k].collar_id == rec->collar_id && b->rec[k].rec_seq == rec->rec_seq)
			return false;
	sqlite3_stmt *q = f->q_rec;
	sqlite3_reset(q);
	sqlite3_bind_int(q, 1, rec->collar_id);
	sqlite3_bind_int64(q, 2, rec->rec_seq);
	if (sqlite3_step(q) != SQLITE_ROW) {
		f->st.lookup_errors++;
		return false;
	}
	bool now = sqlite3_column_int64(q, 0) == b->gw_id && (uint64_t)sqlite3_column_int64(q, 1) == b->gw_seq;
	sqlite3_reset(q); /* ends its read: see place_lookup */
	return now;
}

static void after_commit(struct core_feed *f, const struct proto_batch *b, const struct an_store_ingest_result *r)
{
	f->st.batches++;
	for (unsigned i = 0; i < b->n; i++) {
		const struct proto_batch_rec *rec = &b->rec[i];
		if (rec->type != PROTO_T_FIX && rec->type != PROTO_T_IND)
			continue;
		if (r->duplicates && !stored_now(f, b, i))
			continue;
		struct place pl;
		int rc;
		if (rec->type == PROTO_T_FIX) {
			if (an_pub_fix(f->pub, rec->collar_id, &rec->m.fix, true))
				f->st.pub_errors++;
			else
				f->st.fixes_pub++;
			if (f->cfg->hazard && place_lookup(f, f->q_fix_xy, rec->collar_id, rec->rec_seq, &pl) == 0 &&
			    (rc = feed_fix(f, &pl, rec->collar_id, &rec->m.fix, rec->rx_ms)) && rc != -ERANGE)
				core_log(CORE_LOG_WARN, "hazard", "fix %u/%" PRIu32 " not fed: %s", rec->collar_id,
				         rec->rec_seq, strerror(-rc));
		} else if (rec->m.ind.has & PROTO_IND_HAS_COMPLETES) {
			/* The END of a long indication (final duration of rec_seq `completes`): the store applied it to
			 * the original; it is not an indication of its own, so subscribers (and the map) must not see
			 * it as one, and the hazard engine has nothing new to place. */
			f->st.ind_completions++;
		} else {
			if (an_pub_ind(f->pub, rec->collar_id, &rec->m.ind, true))
				f->st.pub_errors++;
			else
				f->st.inds_pub++;
			if (f->cfg->hazard && place_lookup(f, f->q_ind_xy, rec->collar_id, rec->rec_seq, &pl) == 0 &&
			    (rc = feed_ind(f, &pl, rec->collar_id, &rec->m.ind, rec->rx_ms)) && rc != -ERANGE)
				core_log(CORE_LOG_WARN, "hazard", "indication %u/%" PRIu32 " not fed: %s", rec->collar_id,
				         rec->rec_seq, strerror(-rc));
		}
	}
	publish_gateway(f, b, r);
	/* the collars' verdicts this commit stored (ingest: IND key VERDICT), in store order */
	int rc;
	if ((rc = core_feed_reviews(f)) < 0)
		core_log(CORE_LOG_WARN, "hazard", "handler verdicts not fed: %s", strerror(-rc));
}

static int sink_commit(void *ctx, const struct proto_batch *b, struct an_store_ingest_result *r, char *errbuf,
                       size_t errcap)
{
	struct core_feed *f = ctx;
	int rc = f->store_sink.commit(f->store_sink.ctx, b, r, errbuf, errcap);
	/* Only after the commit, and only what it stored: a replay (gateway resend after a lost ACK or a core
	 * restart) publishes nothing, so subscribers never see a record twice. */
	if (rc == 0 && !r->replay)
		after_commit(f, b, r);
	return rc;
}

static int sink_last_seq(void *ctx, uint16_t gw_id, uint64_t *gw_seq, bool *known)
{
	struct core_feed *f = ctx;
	return f->store_sink.last_seq(f->store_sink.ctx, gw_id, gw_seq, known);
}

void core_feed_sink(struct core_feed *f, struct an_ingest_sink *sink)
{
	sink->ctx = f;
	sink->commit = sink_commit;
	sink->last_seq = sink_last_seq;
}

/* ---- start-up: rebuild from the store ------------------------------------------------------------------- */


static size_t pending(const struct core_feed *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_frames; i++)
		n += f->frames[i].n_in;
	return n;
}

/* Start-up callbacks over the store's replays (an_store_fixes_latest/_all, an_store_inds_all). */
static void place_of(struct place *pl, int64_t session_id, int64_t task_id, bool has_xy, int64_t x_mm, int64_t y_mm)
{
	pl->session_id = session_id;
	pl->task_id = task_id;
	pl->has_xy = has_xy;
	pl->x_mm = x_mm;
	pl->y_mm = y_mm;
}

static int load_latest_fix(void *ctx, const struct an_store_fix *r)
{
	struct core_feed *f = ctx;
	if (an_pub_fix(f->pub, r->collar_id, &r->fix, false))
		f->st.pub_errors++;
	return 0;
}

static int load_fix(void *ctx, const struct an_store_fix *r)
{
	struct core_feed *f = ctx;
	struct place pl;
	place_of(&pl, r->session_id, r->task_id, r->has_xy, r->x_mm, r->y_mm);
	if (feed_fix(f, &pl, r->collar_id, &r->fix, r->rx_ms) == 0)
		f->st.loaded_fixes++;
	/* bounded input vectors while loading a big store (a failed flush is logged by it) */
	if (pending(f) >= 65536 && core_feed_flush(f))
		return -EIO;
	return 0;
}

static int load_ind(void *ctx, const struct an_store_ind *r)
{
	struct core_feed *f = ctx;
	struct place pl;
	place_of(&pl, r->session_id, r->task_id, r->has_xy, r->x_mm, r->y_mm);
	if (an_pub_ind(f->pub, r->collar_id, &r->ind, false))
		f->st.pub_errors++;
	if (f->cfg->hazard)
		(void)feed_ind(f, &pl, r->collar_id, &r->ind, r->rx_ms);
	f->st.loaded_inds++;
	return 0;
}

static int load(struct core_feed *f)
{
	sqlite3 *db = an_store_sqlite(f->store);
	sqlite3_stmt *q = NULL;
	int rc = 0;
	f->loading = true;
	/* the implicit frame's origin when not configured: the first positioned record, fix or indication */
	if (f->cfg->hazard && !f->cfg->has_origin) {
		if ((rc = prep(f,
		               "SELECT lat_e7, lon_e7 FROM (SELECT record_id, lat_e7, lon_e7 FROM fixes UNION ALL "
		               "SELECT record_id, lat_e7, lon_e7 FROM indications WHERE lat_e7 IS NOT NULL) "
		               "ORDER BY record_id LIMIT 1",
		               &q)))
			goto out;
		if (sqlite3_step(q) == SQLITE_ROW) {
			struct core_frame *fr = frame_get(f, 0);
			if (!fr || an_geo_origin_init(&fr->origin, sqlite3_column_int(q, 0), sqlite3_column_int(q, 1),
			                              AN_GEO_ALT_UNKNOWN)) {
				rc = -EIO;
				goto out;
			}
			fr->has_origin = true;
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	/* the animals' calibrations before any frame exists: every task frame starts with them */
	if ((rc = core_feed_calibrations(f)) < 0 || (rc = core_feed_boxpos(f)) < 0 || (rc = core_feed_reviews(f)) < 0)
		goto out;
	/* last fix per collar (commit order = records.id, as live); then, for the engine's coverage, only the
	 * usable fixes (0 < h_acc <= max_h_acc_mm: the engine ignores the others); then every indication */
	if ((rc = an_store_fixes_latest(f->store, load_latest_fix, f)) < 0 ||
	    (f->cfg->hazard && (rc = an_store_fixes_all(f->store, f->max_h_acc_mm, load_fix, f)) < 0) ||
	    (rc = an_store_inds_all(f->store, load_ind, f)) < 0) {
		core_log(CORE_LOG_ERR, "feed", "reading the store: %s", an_store_errmsg(f->store));
		goto out;
	}
	if ((rc = core_feed_clearances(f)) < 0)
		goto out;
	if ((rc = prep(f, "SELECT gw_id, last_gw_seq, last_batch_ms FROM gateways WHERE last_gw_seq IS NOT NULL ORDER BY gw_id",
	               &q)))
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct core_gw *n = realloc(f->gws, (f->n_gws + 1) * sizeof *n);
		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		f->gws = n;
		struct core_gw *g = &n[f->n_gws++];
		memset(g, 0, sizeof *g);
		g->gw_id = (uint16_t)sqlite3_column_int(q, 0);
		g->st.gw_id = g->gw_id;
		g->st.last_gw_seq = (uint64_t)sqlite3_column_int64(q, 1);
		g->st.last_batch_ms = (uint64_t)sqlite3_column_int64(q, 2);
		if (an_pub_gateway(f->pub, &g->st, false))
			f->st.pub_errors++;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (rc != SQLITE_DONE)
		goto out_sql;
	rc = core_feed_flush(f) ? -EIO : 0;
	goto out;
out_sql:
	core_log(CORE_LOG_ERR, "feed", "reading the store: %s", sqlite3_errmsg(db));
	rc = -EIO;
out:
	sqlite3_finalize(q);
	f->loading = false;
	return rc;
}

int core_feed_open(struct core_feed *f, struct an_store *s, struct an_pub *p, const struct core_config *cfg)
{
	memset(f, 0, sizeof *f);
	f->store = s;
	f->pub = p;
	f->cfg = cfg;
	an_ingest_sink_store(&f->store_sink, s);
	struct an_coverage_opts co;
	an_coverage_opts_init(&co);
	/* the box frame fits consumer passes (h_acc ~3 m) and must see where a track stops reading as lanes
	 * (canopy, 10–20 m); worse than that is no position for anything */
	f->max_h_acc_mm = AN_BOXFRAME_FIX_MAX_H_ACC_MM > co.max_h_acc_mm ? AN_BOXFRAME_FIX_MAX_H_ACC_MM : co.max_h_acc_mm;
	f->max_h_acc_coverage_mm = co.max_h_acc_mm;
	int rc;
	if ((rc = prep(f, "SELECT gw_id, gw_seq FROM records WHERE collar_id = ?1 AND rec_seq = ?2", &f->q_rec)) ||
	    (rc = prep(f, "SELECT session_id, task_id, x_mm, y_mm FROM fixes WHERE collar_id = ?1 AND rec_seq = ?2",
	               &f->q_fix_xy)) ||
	    (rc = prep(f, "SELECT session_id, task_id, x_mm, y_mm FROM indications WHERE collar_id = ?1 AND rec_seq = ?2",
	               &f->q_ind_xy)) ||
	    (rc = prep(f, "SELECT s.animal_id, a.species, s.box_id, s.end_ms FROM sessions s JOIN animals a "
	                  "ON a.id = s.animal_id WHERE s.id = ?1",
	               &f->q_session)))
		goto out_close;
	if ((rc = load(f)))
		goto out_close;
	return 0;
out_close:
	core_feed_close(f);
	return rc;
}

void core_feed_close(struct core_feed *f)
{
	sqlite3_finalize(f->q_rec);
	sqlite3_finalize(f->q_fix_xy);
	sqlite3_finalize(f->q_ind_xy);
	sqlite3_finalize(f->q_session);
	for (size_t i = 0; i < f->n_frames; i++) {
		an_hazard_free(f->frames[i].eng);
		free(f->frames[i].in);
		frame_free_pbufs(&f->frames[i]);
		free(f->frames[i].pbufs);
		free(f->frames[i].evs);
		an_hazard_store_cache_free(&f->frames[i].stored);
	}
	free(f->frames);
	free(f->task_inputs);
	free(f->sessions);
	free(f->gws);
	memset(f, 0, sizeof *f);
}

size_t core_feed_hazard_points(const struct core_feed *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_frames; i++)
		n += an_hazard_count(f->frames[i].eng);
	return n;
}
