/*
 * analysis/daemon/web_sse.c — the live side of the web server: the state a page starts from (snapshot), the
 * event ring and the Server-Sent Events streams.
 *
 * Source. The PUB tap (an_pub_set_tap) hands over every update an/pub.h makes, in commit order, in the same
 * loop turn: seq 0 = state loaded from the store at start-up (kept, no event), seq > 0 = a live update (kept
 * AND turned into one event). Writes of the web API (clearance, review) add their own events.
 *
 * Event ids. One u64 counter for every event type, never reused across restarts: the store keeps
 * web_state.reserved (ids below it may have been issued) and, after a clean shutdown, web_state.clean_last
 * (the last id issued). A clean restart continues at clean_last + 1, so a page that saw clean_last resumes
 * without a gap (nothing can be committed between the old shutdown and the new start: the same store, the
 * ingest is down). After a crash the new process starts at reserved, so ids jump, and a page asking for
 * anything older is told to reload (event reset): its events between its last id and the crash may have
 * been lost with the old process. reserved moves WEB_ID_BLOCK ahead with one small write per block.
 *
 * Replay. A ring of the last cfg.replay events (pre-formatted SSE records). Last-Event-ID N (header, or
 * ?last_event_id=N for a page that opens the stream itself) replays N+1.. when they are all still here,
 * else the stream starts with "event: reset" and continues live. A stream that falls behind the ring (slow
 * client) gets the same reset. Bounded memory: ring + one small struct per stream.
 *
 * Streams are suspended (MHD_suspend_connection) while they have nothing to send and resumed by
 * web_sse_pump after events were added or when the heartbeat is due.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "an/array.h"
#include "core.h"
#include "proto/mp.h"
#include "web_internal.h"

struct web_client {
	struct web_client *next, *prev;
	struct core_web *w;
	struct MHD_Connection *conn;
	uint64_t next_id; /* the next event to send */
	size_t off;       /* bytes of event next_id already sent */
	char pre[160];    /* a control record to send first (retry, reset, ping) */
	size_t pre_len, pre_off;
	bool suspended;
	bool ping;
};

/* ---- event ids in the store ------------------------------------------------------------------------ */

static int kv_get(sqlite3 *db, const char *k, int64_t *v, bool *found)
{
	sqlite3_stmt *q;
	*found = false;
	if (sqlite3_prepare_v2(db, "SELECT v FROM web_state WHERE k = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(q, 0);
		*found = true;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

static int kv_set(sqlite3 *db, const char *k, int64_t v, bool del)
{
	sqlite3_stmt *q;
	const char *sql = del ? "DELETE FROM web_state WHERE k = ?1"
	                      : "INSERT INTO web_state (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = ?2";
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
	if (!del)
		sqlite3_bind_int64(q, 2, v);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int ids_reserve(struct core_web *w, uint64_t upto)
{
	sqlite3 *db = an_store_sqlite(w->store);
	if (kv_set(db, "reserved", (int64_t)upto, false)) {
		core_log(CORE_LOG_ERR, "web", "event ids: cannot write web_state: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	w->reserved_id = upto;
	return 0;
}

int web_sse_open(struct core_web *w, char *err, size_t cap)
{
	sqlite3 *db = an_store_sqlite(w->store);
	char *msg = NULL;
	/* Not a store migration step: this table belongs to the daemon's web server (like clearance_import
	 * to the importer) and an older store file gets it on first start. */
	if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS web_state (k TEXT PRIMARY KEY, v INTEGER NOT NULL)", NULL, NULL,
	                 &msg) != SQLITE_OK) {
		snprintf(err, cap, "web_state table: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	int64_t reserved = 0, clean = 0;
	bool has_res, has_clean;
	if (kv_get(db, "reserved", &reserved, &has_res) || kv_get(db, "clean_last", &clean, &has_clean)) {
		snprintf(err, cap, "web_state: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	uint64_t start;
	if (has_clean && clean >= 0 && (!has_res || clean < reserved)) {
		start = (uint64_t)clean + 1;
		w->resume_floor = (uint64_t)clean; /* a page that saw clean_last missed nothing */
	} else {
		start = has_res && reserved > 0 ? (uint64_t)reserved : 1;
		/* after a crash anything older must reload; a new store has issued nothing: 0 = "seen all" */
		w->resume_floor = has_res ? start : 0;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    kv_set(db, "clean_last", 0, true) || ids_reserve(w, start + WEB_ID_BLOCK) ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, cap, "web_state: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	w->next_id = start;
	w->ids_ok = true;
	w->ring_cap = w->cfg.replay;
	w->ring = calloc(w->ring_cap, sizeof *w->ring);
	if (!w->ring)
		return -ENOMEM;
	core_log(CORE_LOG_NOTE, "web", "event ids continue at %" PRIu64 " (%s)", start,
	         has_clean ? "clean shutdown before" : has_res ? "no clean shutdown: ids skip ahead" : "new store");
	return 0;
}

void web_sse_close(struct core_web *w)
{
	if (w->ids_ok) {
		sqlite3 *db = an_store_sqlite(w->store);
		if (kv_set(db, "clean_last", (int64_t)w->next_id - 1, false))
			core_log(CORE_LOG_WARN, "web", "event ids: clean_last not written: %s (next start skips ahead)",
			         sqlite3_errmsg(db));
	}
	for (size_t i = 0; i < w->ring_n; i++)
		free(w->ring[(w->ring_head + i) % w->ring_cap].text);
	free(w->ring);
	w->ring = NULL;
	free(w->collars);
	free(w->inds);
	free(w->hz);
	free(w->gws);
}

uint64_t web_event_add(struct core_web *w, const char *type, const char *data, size_t len)
{
	if (!w->ids_ok || !w->ring_cap)
		return 0;
	if (w->next_id >= w->reserved_id && ids_reserve(w, w->next_id + WEB_ID_BLOCK)) {
		/* never issue an id the store does not cover: a crash could reuse it */
		w->ev_dropped++;
		return 0;
	}
	struct wb t = {0};
	wb_printf(&t, "id: %" PRIu64 "\nevent: %s\ndata: ", w->next_id, type);
	/* our JSON: no raw newline can be in it (wb_str escapes them). Every event's object gets server_ms,
	 * the wall clock when it was queued (the page measures queue → DOM with it). */
	if (len >= 2 && data[len - 1] == '}') {
		wb_raw(&t, data, len - 1);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		wb_printf(&t, "%s\"server_ms\":%" PRId64 ".%03ld}", len > 2 ? "," : "",
		          (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (ts.tv_nsec / 1000) % 1000);
	} else {
		wb_raw(&t, data, len);
	}
	wb_raw(&t, "\n\n", 2);
	if (t.oom) {
		wb_free(&t);
		w->ev_dropped++;
		return 0;
	}
	size_t slot;
	if (w->ring_n == w->ring_cap) {
		slot = w->ring_head;
		free(w->ring[slot].text);
		w->ring_head = (w->ring_head + 1) % w->ring_cap;
	} else {
		slot = (w->ring_head + w->ring_n) % w->ring_cap;
		w->ring_n++;
	}
	w->ring[slot] = (struct web_event){.id = w->next_id, .text = t.p, .len = t.len};
	w->events++;
	w->wake = true;
	return w->next_id++;
}

static const struct web_event *ring_find(const struct core_web *w, uint64_t id)
{
	if (!w->ring_n)
		return NULL;
	uint64_t first = w->ring[w->ring_head].id;
	if (id < first || id - first >= w->ring_n)
		return NULL;
	return &w->ring[(w->ring_head + (size_t)(id - first)) % w->ring_cap];
}

static uint64_t first_replayable(const struct core_web *w)
{
	return w->ring_n ? w->ring[w->ring_head].id : w->next_id;
}

/* ---- live state ------------------------------------------------------------------------------------ */

struct web_collar *web_collar_get(struct core_web *w, uint16_t collar_id)
{
	for (size_t i = 0; i < w->n_collars; i++)
		if (w->collars[i].collar_id == collar_id)
			return &w->collars[i];
	if (an_array_grow((void **)&w->collars, &w->cap_collars, w->n_collars, 16, sizeof *w->collars))
		return NULL;
	struct web_collar *c = &w->collars[w->n_collars++];
	memset(c, 0, sizeof *c);
	c->collar_id = collar_id;
	return c;
}

/* The animal wearing the collar now (open assignment), else the core's implicit one. */
static void collar_lookup(struct core_web *w, struct web_collar *c)
{
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	c->looked_up = true;
	c->animal_id = (int64_t)(CORE_IMPLICIT_BASE + c->collar_id);
	snprintf(c->name, sizeof c->name, "collar %u", (unsigned)c->collar_id);
	snprintf(c->species, sizeof c->species, "rat");
	if (sqlite3_prepare_v2(db,
	                       "SELECT a.id, a.name, a.species FROM collar_assignments ca JOIN animals a ON a.id = "
	                       "ca.animal_id WHERE ca.collar_id = ?1 AND ca.to_ms IS NULL ORDER BY ca.from_ms DESC LIMIT 1",
	                       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int(q, 1, c->collar_id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		c->animal_id = sqlite3_column_int64(q, 0);
		snprintf(c->name, sizeof c->name, "%s", (const char *)sqlite3_column_text(q, 1));
		snprintf(c->species, sizeof c->species, "%s", (const char *)sqlite3_column_text(q, 2));
	}
	sqlite3_finalize(q);
}

void web_collar_lookup(struct core_web *w, struct web_collar *c)
{
	collar_lookup(w, c);
}

static struct web_collar *collar_named(struct core_web *w, uint16_t collar_id)
{
	struct web_collar *c = web_collar_get(w, collar_id);
	if (c && !c->looked_up)
		collar_lookup(w, c);
	return c;
}

static int ind_cmp(const void *a, const void *b)
{
	const struct web_ind *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Start-up appends (the store replays in commit order, not key order; inserting each in place would be
 * quadratic); the first lookup sorts once. Keys are unique in the store. */
void web_inds_ready(struct core_web *w)
{
	if (!w->inds_unsorted)
		return;
	qsort(w->inds, w->n_inds, sizeof *w->inds, ind_cmp);
	w->inds_unsorted = false;
	/* the handlers' verdicts are in the store, not in the PUB body */
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(an_store_sqlite(w->store),
	                       "SELECT collar_id, rec_seq, review FROM indications WHERE review != 'unreviewed'", -1, &q,
	                       NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct web_ind *i = web_ind_find(w, (uint64_t)sqlite3_column_int64(q, 0) << 32 |
		                                        (uint64_t)sqlite3_column_int64(q, 1));
		const char *r = (const char *)sqlite3_column_text(q, 2);
		if (i && r)
			i->review = !strcmp(r, "confirmed") ? AN_REVIEW_CONFIRMED : AN_REVIEW_REJECTED;
	}
	sqlite3_finalize(q);
}

static size_t ind_pos(struct core_web *w, uint64_t key, bool *found)
{ /* binary search in the sorted indications */
	web_inds_ready(w);
	size_t lo = 0, hi = w->n_inds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->inds[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < w->n_inds && w->inds[lo].key == key;
	return lo;
}

struct web_ind *web_ind_find(struct core_web *w, uint64_t key)
{
	bool found;
	size_t i = ind_pos(w, key, &found);
	return found ? &w->inds[i] : NULL;
}

/* The verdict in force on an indication as the store has it (indications.review; UNREVIEWED when unknown). */
static enum an_review stored_review(struct core_web *w, uint64_t key)
{
	sqlite3_stmt *q;
	enum an_review v = AN_REVIEW_UNREVIEWED;
	if (sqlite3_prepare_v2(an_store_sqlite(w->store), "SELECT review FROM indications WHERE collar_id = ?1 AND "
	                       "rec_seq = ?2", -1, &q, NULL) != SQLITE_OK)
		return v;
	sqlite3_bind_int64(q, 1, (int64_t)(key >> 32));
	sqlite3_bind_int64(q, 2, (int64_t)(key & 0xffffffffu));
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(q, 0);
		v = r && !strcmp(r, "confirmed") ? AN_REVIEW_CONFIRMED : r && !strcmp(r, "rejected") ? AN_REVIEW_REJECTED
		                                                                                   : AN_REVIEW_UNREVIEWED;
	}
	sqlite3_finalize(q);
	return v;
}

static struct web_ind *ind_put(struct core_web *w, uint64_t key, const struct proto_ind *in, bool loading)
{
	bool found;
	if (loading) {
		if (an_array_grow((void **)&w->inds, &w->cap_inds, w->n_inds, 256, sizeof *w->inds))
			return NULL;
		struct web_ind *i = &w->inds[w->n_inds++];
		i->key = key;
		i->ind = *in;
		i->review = AN_REVIEW_UNREVIEWED;
		w->inds_unsorted = true;
		return i;
	}
	size_t i = ind_pos(w, key, &found);
	if (!found) {
		if (an_array_grow((void **)&w->inds, &w->cap_inds, w->n_inds, 256, sizeof *w->inds))
			return NULL;
		memmove(&w->inds[i + 1], &w->inds[i], (w->n_inds - i) * sizeof *w->inds);
		w->n_inds++;
		w->inds[i].review = AN_REVIEW_UNREVIEWED; /* the store's verdict follows as its own event (web_tap) */
	}
	w->inds[i].key = key;
	w->inds[i].ind = *in;
	return &w->inds[i];
}

static int hz_put(struct core_web *w, const struct an_pub_hazard *h)
{
	size_t i;
	for (i = 0; i < w->n_hz && w->hz[i].id < h->id; i++)
		;
	bool found = i < w->n_hz && w->hz[i].id == h->id;
	if (h->status == AN_HAZARD_SUPERSEDED) {
		if (found) {
			memmove(&w->hz[i], &w->hz[i + 1], (w->n_hz - i - 1) * sizeof *w->hz);
			w->n_hz--;
		}
		return 0;
	}
	if (!found) {
		if (an_array_grow((void **)&w->hz, &w->cap_hz, w->n_hz, 64, sizeof *w->hz))
			return -ENOMEM;
		memmove(&w->hz[i + 1], &w->hz[i], (w->n_hz - i) * sizeof *w->hz);
		w->n_hz++;
	}
	w->hz[i] = *h;
	return 0;
}

/* status bodies (an_pub_gw_encode): a map of small integer keys */
static int gw_decode(const uint8_t *buf, size_t len, struct an_pub_gw *g)
{
	struct proto_mp_reader r;
	struct proto_mp_obj o, k, v;
	memset(g, 0, sizeof *g);
	if (proto_mp_validate(buf, len, 4))
		return -EBADMSG;
	proto_mp_reader_init(&r, buf, len);
	if (proto_mp_read(&r, &o) || o.kind != PROTO_MP_MAP)
		return -EBADMSG;
	for (uint32_t i = 0; i < o.n; i++) {
		if (proto_mp_read(&r, &k) || proto_mp_read(&r, &v) || k.kind != PROTO_MP_UINT || v.kind != PROTO_MP_UINT)
			return -EBADMSG;
		switch (k.u) {
		case AN_PUB_GW_K_ID: g->gw_id = (uint16_t)v.u; break;
		case AN_PUB_GW_K_SEQ: g->last_gw_seq = v.u; break;
		case AN_PUB_GW_K_BATCHES: g->batches = v.u; break;
		case AN_PUB_GW_K_RECORDS: g->records = v.u; break;
		case AN_PUB_GW_K_LAST: g->last_batch_ms = v.u; break;
		default: break;
		}
	}
	return 0;
}

/* ---- JSON of the live objects ------------------------------------------------------------------------- */

static size_t ind_pos(struct core_web *w, uint64_t key, bool *found);

static void num_m(struct wb *b, uint64_t mm)
{
	wb_printf(b, "%" PRIu64 ".%03" PRIu64, mm / 1000, mm % 1000);
}

/* `,"key":` then a hundredths value (1234 -> 12.34), or null when the fix does not carry it */
static void opt_centi(struct wb *b, const char *key, bool has, unsigned v)
{
	wb_printf(b, ",\"%s\":", key);
	if (has)
		wb_printf(b, "%u.%02u", v / 100u, v % 100u);
	else
		wb_puts(b, "null");
}

/* `,"t":…,"lat":…,"lon":…,"h_acc_m":…`: where and when a fix is, as the fix events and the animals list both say it */
static void fix_where_json(struct wb *b, const struct proto_fix *f)
{
	wb_puts(b, ",\"t\":");
	if (f->has & PROTO_FIX_HAS_T)
		wb_iso(b, (int64_t)f->t_ms);
	else
		wb_puts(b, "null");
	wb_puts(b, ",\"lat\":");
	wb_deg(b, f->lat_e7);
	wb_puts(b, ",\"lon\":");
	wb_deg(b, f->lon_e7);
	wb_puts(b, ",\"h_acc_m\":");
	if (f->has & PROTO_FIX_HAS_HACC)
		num_m(b, f->h_acc_mm);
	else
		wb_puts(b, "null");
}

void web_fix_json(struct core_web *w, struct wb *b, uint16_t collar, const struct proto_fix *f)
{
	struct web_collar *c = collar_named(w, collar);
	wb_printf(b, "{\"collar_id\":%u,\"animal_id\":%" PRId64 ",\"rec_seq\":%" PRIu32, (unsigned)collar,
	          c ? c->animal_id : 0, f->rec_seq);
	fix_where_json(b, f);
	opt_centi(b, "sog_mps", f->has & PROTO_FIX_HAS_SOG, f->sog_cms);
	opt_centi(b, "cog_deg", f->has & PROTO_FIX_HAS_COG, f->cog_cdeg);
	if (c && c->has_fix && c->fix.rec_seq == f->rec_seq)
		wb_printf(b, ",\"state\":\"%s\"", web_state_of(w, c));
	wb_puts(b, "}");
}

static const char *review_name(uint8_t r)
{
	return r == AN_REVIEW_CONFIRMED ? "confirmed" : r == AN_REVIEW_REJECTED ? "rejected" : "open";
}

void web_ind_json(struct core_web *w, struct wb *b, const struct web_ind *i)
{
	const struct proto_ind *in = &i->ind;
	uint16_t collar = (uint16_t)(i->key >> 32);
	struct web_collar *c = collar_named(w, collar);
	static const char *const kinds[] = {"?", "sit", "scratch", "mark"};
	static const char *const srcs[] = {"?", "classifier", "button", "both"};
	wb_printf(b, "{\"id\":\"%u-%" PRIu32 "\",\"collar_id\":%u,\"animal_id\":%" PRId64 ",\"rec_seq\":%" PRIu32 ",\"t\":",
	          (unsigned)collar, in->rec_seq, (unsigned)collar, c ? c->animal_id : 0, in->rec_seq);
	if (in->has & PROTO_IND_HAS_T)
		wb_iso(b, (int64_t)in->t_ms);
	else
		wb_puts(b, "null");
	wb_printf(b, ",\"kind\":\"%s\",\"src\":\"%s\",\"dur_s\":", kinds[in->kind <= 3 ? in->kind : 0],
	          srcs[in->src <= 3 ? in->src : 0]);
	if (in->has & PROTO_IND_HAS_DUR)
		num_m(b, in->dur_ms);
	else
		wb_puts(b, "null");
	if (in->has & PROTO_IND_HAS_CONF)
		wb_printf(b, ",\"conf_pct\":%u", in->conf_pct);
	else
		wb_puts(b, ",\"conf_pct\":null");
	if ((in->has & PROTO_IND_HAS_POS) == PROTO_IND_HAS_POS) {
		wb_puts(b, ",\"lat\":");
		wb_deg(b, in->lat_e7);
		wb_puts(b, ",\"lon\":");
		wb_deg(b, in->lon_e7);
	} else {
		wb_puts(b, ",\"lat\":null,\"lon\":null");
	}
	wb_puts(b, ",\"h_acc_m\":");
	if (in->has & PROTO_IND_HAS_HACC)
		num_m(b, in->h_acc_mm);
	else
		wb_puts(b, "null");
	wb_printf(b, ",\"status\":\"%s\"}", review_name(i->review));
}

void web_hazard_json(struct wb *b, const struct an_pub_hazard *h)
{
	const char *st = an_store_hazard_status_name((enum an_hazard_status)h->status);
	wb_printf(b, "{\"id\":%" PRIu64 ",\"task_id\":%" PRIu64 ",\"status\":\"%s\"", h->id, h->task_id,
	          st ? st : "unknown");
	if (h->has_latlon) {
		wb_puts(b, ",\"lat\":");
		wb_deg(b, h->lat_e7);
		wb_puts(b, ",\"lon\":");
		wb_deg(b, h->lon_e7);
	} else {
		wb_puts(b, ",\"lat\":null,\"lon\":null");
	}
	/* radius: 95 % of a circular normal with this sigma = 2.4477 sigma */
	wb_printf(b, ",\"radius_m\":%.3f,\"sigma_m\":%.3f,\"p_explosive\":%u.%06u,\"log_odds\":%.4f,\"n_ind\":%" PRIu32
	          ",\"n_animals\":%" PRIu32 ",\"x_mm\":%" PRId64 ",\"y_mm\":%" PRId64,
	          h->sigma_mm * 2.4477 / 1000.0, h->sigma_mm / 1000.0, h->p_ppm / 1000000u, h->p_ppm % 1000000u,
	          (double)h->log_odds_q10 / 1024.0, h->n_ind, h->n_animals, h->x_mm, h->y_mm);
	if (h->status == AN_HAZARD_SUPERSEDED)
		wb_printf(b, ",\"into_id\":%" PRIu64, h->into_id);
	wb_puts(b, "}");
}

static void gw_json(struct wb *b, const struct an_pub_gw *g)
{
	wb_printf(b, "{\"kind\":\"gateway\",\"gw_id\":%u,\"last_gw_seq\":%" PRIu64 ",\"batches\":%" PRIu64
	          ",\"records\":%" PRIu64 ",\"last_seen\":",
	          (unsigned)g->gw_id, g->last_gw_seq, g->batches, g->records);
	if (g->last_batch_ms)
		wb_iso(b, (int64_t)g->last_batch_ms);
	else
		wb_puts(b, "null");
	wb_puts(b, "}");
}

/* ---- collar health: collar_status rows (STATUS records the store keeps; the core does not publish them) */

#define ABSENT INT32_MIN

static void opt_int(struct wb *b, const char *key, int v, int div)
{
	if (v == ABSENT)
		wb_printf(b, ",\"%s\":null", key);
	else if (div == 1)
		wb_printf(b, ",\"%s\":%d", key, v);
	else
		wb_printf(b, ",\"%s\":%.1f", key, (double)v / div);
}

void web_collar_status_json(struct core_web *w, struct wb *b, struct web_collar *c)
{
	if (!c->looked_up)
		collar_lookup(w, c);
	wb_printf(b, "{\"kind\":\"collar\",\"collar_id\":%u,\"animal_id\":%" PRId64, (unsigned)c->collar_id, c->animal_id);
	opt_int(b, "battery_pct", c->batt_pct, 1);
	opt_int(b, "battery_mv", c->batt_mv, 1);
	opt_int(b, "temp_c", c->temp_dc, 10);
	opt_int(b, "rssi_dbm", c->rssi_dbm, 1);
	/* retransmissions / frames sent since the collar's boot: the link's loss as the collar sees it */
	if (c->tx_frames > 0)
		wb_printf(b, ",\"loss_pct\":%.1f", 100.0 * (double)c->retx / (double)c->tx_frames);
	else
		wb_puts(b, ",\"loss_pct\":null");
	wb_puts(b, ",\"last_seen\":");
	wb_iso(b, c->st_rx_ms);
	wb_puts(b, "}");
}

static int col_int(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? ABSENT : sqlite3_column_int(q, i);
}

/* New collar STATUS rows since the last call (after each committed batch): update, and emit when live. */
static void poll_collar_status(struct core_web *w, bool live)
{
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, collar_id, rx_ms, batt_mv, batt_pct, temp_dc, rssi_dbm, tx_frames, retx FROM "
	                       "collar_status WHERE id > ?1 AND type = 5 ORDER BY id",
	                       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, w->last_status_row);
	while (sqlite3_step(q) == SQLITE_ROW) {
		w->last_status_row = sqlite3_column_int64(q, 0);
		struct web_collar *c = web_collar_get(w, (uint16_t)sqlite3_column_int(q, 1));
		if (!c)
			continue;
		c->has_status = true;
		c->st_rx_ms = sqlite3_column_int64(q, 2);
		c->batt_mv = col_int(q, 3);
		c->batt_pct = col_int(q, 4);
		c->temp_dc = col_int(q, 5);
		c->rssi_dbm = col_int(q, 6);
		c->tx_frames = sqlite3_column_int64(q, 7);
		c->retx = sqlite3_column_int64(q, 8);
		if (live) {
			struct wb b = {0};
			web_collar_status_json(w, &b, c);
			if (b.oom || !web_event_add(w, "status", b.p, b.len))
				w->ev_dropped++;
			wb_free(&b);
			web_alerts_heard(w, c);
		}
	}
	sqlite3_finalize(q);
}

void core_web_ind_reviewed(struct core_web *w, uint16_t collar_id, uint32_t rec_seq)
{
	if (!w)
		return;
	uint64_t key = (uint64_t)collar_id << 32 | rec_seq;
	struct web_ind *i = web_ind_find(w, key);
	enum an_review v;
	if (!i || (v = stored_review(w, key)) == i->review)
		return;
	i->review = v;
	struct wb b = {0};
	web_ind_json(w, &b, i);
	if (b.oom || !web_event_add(w, "ind", b.p, b.len))
		w->ev_dropped++;
	wb_free(&b);
}

/* ---- the tap ------------------------------------------------------------------------------------------- */

static void emit(struct core_web *w, const char *type, struct wb *b)
{
	if (b->oom || !web_event_add(w, type, b->p, b->len))
		w->ev_dropped++;
}

void web_tap(void *ctx, enum an_pub_stream s, uint64_t key, uint64_t seq, const uint8_t *body, size_t len)
{
	struct core_web *w = ctx;
	struct wb b = {0};
	switch (s) {
	case AN_PUB_FIX: {
		struct proto_fix f;
		struct web_collar *c;
		if (proto_fix_decode(body, len, &f, NULL) || !(c = web_collar_get(w, (uint16_t)key)))
			break;
		c->fix = f;
		c->has_fix = true;
		if (seq) {
			web_fix_json(w, &b, (uint16_t)key, &f);
			emit(w, "fix", &b);
		}
		/* after the fix event: an alert it raises or clears follows it in the stream */
		web_alerts_fix(w, c, &f, seq != 0);
		break;
	}
	case AN_PUB_IND: {
		struct proto_ind in;
		struct web_ind *i;
		if (proto_ind_decode(body, len, &in, NULL) || !(i = ind_put(w, key, &in, seq == 0)))
			break;
		if (seq) {
			web_ind_json(w, &b, i);
			emit(w, "ind", &b);
			struct web_collar *c = web_collar_get(w, (uint16_t)(key >> 32));
			if (c)
				web_alerts_heard(w, c);
			/* A verdict stored with it or before it (the collar's press: an IND may carry it) is a second
			 * event: the first says open, so the map alerts for every indication as it comes, and then shows
			 * the handler's call (later verdicts: core_web_ind_reviewed from the feed). */
			core_web_ind_reviewed(w, (uint16_t)(key >> 32), (uint32_t)key);
		}
		break;
	}
	case AN_PUB_HAZARD: {
		struct an_pub_hazard h;
		if (an_pub_hazard_decode(body, len, &h) || hz_put(w, &h))
			break;
		if (seq) {
			web_hazard_json(&b, &h);
			emit(w, "hazard", &b);
		}
		break;
	}
	case AN_PUB_STATUS: {
		struct an_pub_gw g;
		if (gw_decode(body, len, &g))
			break;
		size_t i;
		for (i = 0; i < w->n_gws && w->gws[i].gw_id != g.gw_id; i++)
			;
		if (i == w->n_gws) {
			struct an_pub_gw *n = realloc(w->gws, (w->n_gws + 1) * sizeof *n);
			if (!n)
				break;
			w->gws = n;
			w->n_gws++;
		}
		w->gws[i] = g;
		if (seq) {
			gw_json(&b, &g);
			emit(w, "status", &b);
		}
		/* a gateway update = a batch was committed: its collar STATUS records are in the store now */
		poll_collar_status(w, seq != 0);
		break;
	}
	default:
		break;
	}
	wb_free(&b);
}

/* ---- snapshot ----------------------------------------------------------------------------------------- */

const char *web_state_of(struct core_web *w, const struct web_collar *c)
{
	/* indicating: an indication of this collar began within 10 s before its last fix */
	uint64_t lo = (uint64_t)c->collar_id << 32, hi = lo | 0xffffffffu;
	bool found;
	size_t i = ind_pos(w, hi, &found);
	if (found)
		i++;
	if (i > 0 && w->inds[i - 1].key >= lo) {
		const struct proto_ind *in = &w->inds[i - 1].ind;
		if ((in->has & PROTO_IND_HAS_T) && (c->fix.has & PROTO_FIX_HAS_T) && c->fix.t_ms >= in->t_ms &&
		    c->fix.t_ms - in->t_ms <= 10000u)
			return "indicating";
	}
	if ((c->fix.has & PROTO_FIX_HAS_SOG) && c->fix.sog_cms < 10u)
		return "stationary";
	return "searching";
}

void web_snapshot(struct core_web *w, struct wb *b)
{
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	wb_printf(b, "{\"event_id\":%" PRIu64 ",\"task\":", w->next_id - 1);
	int64_t task_id = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, name, origin_lat_e7, origin_lon_e7 FROM tasks ORDER BY id DESC LIMIT 1", -1,
	                       &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW) {
		task_id = sqlite3_column_int64(q, 0);
		wb_printf(b, "{\"id\":%" PRId64 ",\"name\":", task_id);
		wb_str(b, (const char *)sqlite3_column_text(q, 1));
		wb_puts(b, ",\"origin_lat\":");
		wb_deg(b, sqlite3_column_int(q, 2));
		wb_puts(b, ",\"origin_lon\":");
		wb_deg(b, sqlite3_column_int(q, 3));
		wb_puts(b, "}");
	} else {
		wb_puts(b, "null");
	}
	sqlite3_finalize(q);
	wb_puts(b, ",\"boxes\":[");
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, name, p0_lat_e7, p0_lon_e7, along_lat_e7, along_lon_e7, across_lat_e7, "
	                       "across_lon_e7, lane_count, lane_width_mm, species, task_id FROM boxes ORDER BY id",
	                       -1, &q, NULL) == SQLITE_OK) {
		for (int n = 0; sqlite3_step(q) == SQLITE_ROW; n++) {
			int32_t la0 = sqlite3_column_int(q, 2), lo0 = sqlite3_column_int(q, 3);
			int32_t la1 = sqlite3_column_int(q, 4), lo1 = sqlite3_column_int(q, 5);
			int32_t la3 = sqlite3_column_int(q, 6), lo3 = sqlite3_column_int(q, 7);
			/* the fourth corner: p_along + (p_across - p0) (a box is metres across: flat enough) */
			int32_t la2 = (int32_t)((int64_t)la1 + la3 - la0), lo2 = (int32_t)((int64_t)lo1 + lo3 - lo0);
			wb_printf(b, "%s{\"id\":%" PRId64 ",\"task_id\":%" PRId64 ",\"name\":", n ? "," : "",
			          (int64_t)sqlite3_column_int64(q, 0), (int64_t)sqlite3_column_int64(q, 11));
			wb_str(b, (const char *)sqlite3_column_text(q, 1));
			wb_puts(b, ",\"corners\":[");
			int32_t c[4][2] = {{la0, lo0}, {la1, lo1}, {la2, lo2}, {la3, lo3}};
			for (int k = 0; k < 4; k++) {
				wb_puts(b, k ? ",[" : "[");
				wb_deg(b, c[k][0]);
				wb_puts(b, ",");
				wb_deg(b, c[k][1]);
				wb_puts(b, "]");
			}
			wb_printf(b, "],\"lanes\":%d,\"lane_width_m\":", sqlite3_column_int(q, 8));
			num_m(b, (uint64_t)sqlite3_column_int64(q, 9));
			wb_puts(b, ",\"species\":");
			wb_str(b, (const char *)sqlite3_column_text(q, 10));
			wb_puts(b, "}");
		}
	}
	sqlite3_finalize(q);
	wb_puts(b, "],\"animals\":[");
	int n = 0;
	for (size_t i = 0; i < w->n_collars; i++) {
		struct web_collar *c = &w->collars[i];
		collar_lookup(w, c); /* assignments may have changed since the last look */
		if (!c->has_fix)
			continue;
		wb_printf(b, "%s{\"animal_id\":%" PRId64 ",\"collar_id\":%u,\"name\":", n++ ? "," : "", c->animal_id,
		          (unsigned)c->collar_id);
		wb_str(b, c->name);
		wb_printf(b, ",\"species\":\"%s\",\"state\":\"%s\",\"fix\":", !strcmp(c->species, "dog") ? "dog" : "rat",
		          web_state_of(w, c));
		web_fix_json(w, b, c->collar_id, &c->fix);
		const struct proto_fix *f = &c->fix;
		fix_where_json(b, f);
		opt_centi(b, "heading_deg", f->has & PROTO_FIX_HAS_COG, f->cog_cdeg);
		if (c->has_status) {
			opt_int(b, "battery_pct", c->batt_pct, 1);
			opt_int(b, "battery_mv", c->batt_mv, 1);
			wb_puts(b, ",\"link\":");
			web_collar_status_json(w, b, c);
			wb_puts(b, "}");
		} else {
			wb_puts(b, ",\"battery_pct\":null,\"battery_mv\":null,\"link\":null}");
		}
	}
	wb_puts(b, "],\"indications\":[");
	web_inds_ready(w);
	size_t from = w->n_inds > 5000 ? w->n_inds - 5000 : 0;
	for (size_t i = from; i < w->n_inds; i++) {
		if (i > from)
			wb_puts(b, ",");
		web_ind_json(w, b, &w->inds[i]);
	}
	wb_printf(b, "],\"indications_total\":%zu,\"hazards\":[", w->n_inds);
	for (size_t i = 0; i < w->n_hz; i++) {
		if (i)
			wb_puts(b, ",");
		web_hazard_json(b, &w->hz[i]);
	}
	wb_puts(b, "],\"gateways\":[");
	for (size_t i = 0; i < w->n_gws; i++) {
		if (i)
			wb_puts(b, ",");
		gw_json(b, &w->gws[i]);
	}
	wb_puts(b, "],\"alerts\":");
	web_alerts_snapshot(w, b);
	wb_puts(b, ",\"tiles\":");
	web_tiles_json(w, b);
	wb_puts(b, ",\"server_time\":");
	wb_iso(b, (int64_t)core_utc_ms());
	wb_puts(b, "}");
}

/* ---- SSE streams ------------------------------------------------------------------------------------- */

static void set_pre(struct web_client *cl, const char *s)
{
	size_t n = strlen(s);
	if (cl->pre_len - cl->pre_off + n > sizeof cl->pre) /* a pending record is never cut: drop this one */
		return;
	if (cl->pre_off) {
		memmove(cl->pre, cl->pre + cl->pre_off, cl->pre_len - cl->pre_off);
		cl->pre_len -= cl->pre_off;
		cl->pre_off = 0;
	}
	memcpy(cl->pre + cl->pre_len, s, n);
	cl->pre_len += n;
}

static void do_reset(struct core_web *w, struct web_client *cl, const char *why)
{
	char rec[160];
	snprintf(rec, sizeof rec, "event: reset\ndata: {\"reason\":\"%s\",\"event_id\":%" PRIu64 "}\n\n", why,
	         w->next_id - 1);
	set_pre(cl, rec);
	cl->next_id = w->next_id;
	cl->off = 0;
	w->sse_resets++;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct web_client *cl = cls;
	struct core_web *w = cl->w;
	if (w->stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = 0;
	for (;;) {
		if (cl->pre_off < cl->pre_len) {
			size_t k = cl->pre_len - cl->pre_off < max - n ? cl->pre_len - cl->pre_off : max - n;
			memcpy(buf + n, cl->pre + cl->pre_off, k);
			n += k;
			cl->pre_off += k;
			if (cl->pre_off == cl->pre_len)
				cl->pre_off = cl->pre_len = 0;
			if (n == max)
				break;
		}
		if (cl->next_id >= w->next_id)
			break;
		const struct web_event *ev = ring_find(w, cl->next_id);
		if (!ev) { /* fell behind the ring */
			do_reset(w, cl, "behind");
			continue;
		}
		size_t k = ev->len - cl->off < max - n ? ev->len - cl->off : max - n;
		memcpy(buf + n, ev->text + cl->off, k);
		n += k;
		cl->off += k;
		if (cl->off == ev->len) {
			cl->off = 0;
			cl->next_id++;
		}
		if (n == max)
			break;
	}
	if (n == 0 && cl->ping) {
		static const char ping[] = ": ping\n\n";
		cl->ping = false;
		if (max >= sizeof ping - 1) {
			memcpy(buf, ping, sizeof ping - 1);
			return (ssize_t)(sizeof ping - 1);
		}
	}
	if (n == 0) {
		cl->suspended = true;
		MHD_suspend_connection(cl->conn);
		return 0;
	}
	cl->ping = false; /* data went out: that was the heartbeat */
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct web_client *cl = cls;
	struct core_web *w = cl->w;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		w->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	w->n_clients--;
	free(cl);
}

static int parse_u64(const char *s, uint64_t *v)
{
	if (!s || !*s || strlen(s) > 20)
		return -1;
	uint64_t x = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		uint64_t d = (uint64_t)(*p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

enum MHD_Result web_sse_start(struct core_web *w, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	const char *src = "Last-Event-ID";
	if (!h || !*h) {
		h = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last_event_id");
		src = "last_event_id";
	}
	uint64_t last = 0;
	if (h && *h && parse_u64(h, &last)) {
		struct wb b = {0};
		web_error(&b, "%s: \"%.40s\" is not a decimal event id", src, h);
		struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(r, "Content-Type", "application/json");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_BAD_REQUEST, r);
		MHD_destroy_response(r);
		return ret;
	}
	struct web_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		return MHD_NO;
	cl->w = w;
	cl->conn = c;
	set_pre(cl, "retry: 2000\n\n");
	if (!h || !*h) {
		cl->next_id = w->next_id;
	} else if (last >= w->next_id) {
		do_reset(w, cl, "unknown"); /* an id this store never issued */
	} else if (last < w->resume_floor || last + 1 < first_replayable(w)) {
		do_reset(w, cl, "too_old");
	} else {
		cl->next_id = last + 1;
	}
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, cl, sse_free);
	if (!r) {
		free(cl);
		return MHD_NO;
	}
	cl->next = w->clients;
	if (w->clients)
		w->clients->prev = cl;
	w->clients = cl;
	w->n_clients++;
	w->sse_opened++;
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

void web_sse_pump(struct core_web *w, uint64_t now_ms)
{
	bool ping = false;
	if (now_ms >= w->next_ping_ms) {
		ping = true;
		w->next_ping_ms = now_ms + w->cfg.heartbeat_s * 1000ull;
	}
	if (!w->wake && !ping && !w->stopping)
		return;
	for (struct web_client *cl = w->clients; cl; cl = cl->next) {
		if (ping)
			cl->ping = true;
		if (cl->suspended && (w->stopping || cl->ping || cl->next_id < w->next_id || cl->pre_len)) {
			cl->suspended = false;
			MHD_resume_connection(cl->conn);
		}
	}
	w->wake = false;
}
