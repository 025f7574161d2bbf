/*
 * analysis/daemon/web_alerts.c — the handler's alerts, decided on the server: every page (and a page that
 * joins late or reconnects) sees the same alert, raised and cleared as `alert` events with event ids and
 * replay, and the snapshot lists the active ones. Thresholds are the [web] alert_* keys (docs/web-api.md).
 *
 * Kinds (one active alert per collar and kind):
 *   link_lost    nothing of the collar reached the core (fix, indication, STATUS) for alert_link_lost_s of
 *                the core's clock. Receipt time, not record time: a journal drained after an outage is the
 *                link coming back, and a day played in simulated time (--fast) is still heard.
 *   gps_lost     the collar is heard but sends no position: it was heard alert_gps_lost_s after its newest
 *                fix arrived, or its newest fix says so itself (GGA quality no_fix/estimated, GSA fix none).
 *                The collar has no explicit flag: a GNSS epoch without a position is not journaled and
 *                STATUS carries no GNSS field, so the silence of fixes while STATUS/IND keep coming is it.
 *   battery_low  the collar's last STATUS battery_pct < alert_battery_pct (cleared 2 points above).
 *   heat         the collar's last STATUS temperature >= alert_heat_c (cleared 1 °C below).
 *   outside_box  during one of the animal's sessions, its fix lies outside the session's box by more than
 *                alert_outside_box_cm + the fix's h_acc (so GNSS scatter at an edge does not alert).
 *   stationary   the fixes stayed within alert_stationary_cm for alert_stationary_s of record time.
 *   work_bout    the current bout (fixes with no gap > alert_bout_gap_s) has lasted alert_bout_rat_s /
 *                alert_bout_dog_s of record time.
 * Record-time kinds (stationary, work_bout, outside_box) follow the fixes; clock kinds (link_lost, gps_lost)
 * are evaluated once a second. Nothing is raised before the first tick after start-up; that tick evaluates
 * the loaded state and sends the whole set as one `alerts` event (a page replaces what it held: a restart
 * may not clear, one by one, alerts the previous process raised). alert_id = the id of the event that
 * raised it (the `alerts` event for the start-up set): event ids are never reused, so neither are these.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core.h"
#include "web_internal.h"

#define ABSENT INT32_MIN

static const char *const KIND_NAME[WEB_ALERT_N] = {"link_lost",   "gps_lost",   "battery_low", "heat",
                                                   "outside_box", "stationary", "work_bout"};

const char *web_alert_name(unsigned kind)
{
	return kind < WEB_ALERT_N ? KIND_NAME[kind] : "?";
}

/* metres east/north of (lat0, lon0) (equirectangular: boxes and stillness are tens of metres) */
static void enu_m(int32_t lat0, int32_t lon0, int32_t lat, int32_t lon, double *e, double *n)
{
	const double deg = 1e-7 * M_PI / 180.0, r = 6371008.8;
	*n = (double)(lat - lat0) * deg * r;
	*e = (double)(lon - lon0) * deg * r * cos((double)lat0 * deg);
}

void web_alert_json(struct core_web *w, struct wb *b, const struct web_collar *c, unsigned kind, bool raised)
{
	wb_printf(b, "{\"alert_id\":%" PRIu64 ",\"kind\":\"%s\",\"state\":\"%s\",\"collar_id\":%u,\"animal_id\":%" PRId64,
	          c->al_id[kind], KIND_NAME[kind], raised ? "raised" : "cleared", (unsigned)c->collar_id, c->animal_id);
	wb_puts(b, ",\"since\":");
	wb_iso(b, c->al_since[kind]);
	wb_puts(b, ",\"text\":");
	wb_str(b, c->al_text[kind]);
	(void)w;
	wb_puts(b, "}");
}

/* Raise or clear one kind; an event only when the state changes and the alerts are live. */
static void set(struct core_web *w, struct web_collar *c, unsigned kind, bool on, int64_t since_ms, const char *text)
{
	bool was = (c->al_active >> kind) & 1u;
	if (on && !was) {
		c->al_active |= 1u << kind;
		c->al_id[kind] = w->next_id; /* the id web_event_add gives the raise (or the start-up set) */
		c->al_since[kind] = since_ms;
		snprintf(c->al_text[kind], sizeof c->al_text[kind], "%s", text);
	} else if (!on && was) {
		c->al_active &= ~(1u << kind);
	} else {
		if (on) /* still raised: keep the text current for the snapshot (battery 19 % → 18 %) */
			snprintf(c->al_text[kind], sizeof c->al_text[kind], "%s", text);
		return;
	}
	if (!w->alerts_live)
		return; /* the start-up set goes out whole (web_alerts_tick) */
	struct wb b = {0};
	web_alert_json(w, &b, c, kind, on);
	if (b.oom || !web_event_add(w, "alert", b.p, b.len))
		w->ev_dropped++;
	wb_free(&b);
}

/* The box of the animal's session at time t (cached per collar; "none" is re-asked 10 s of record time later). */
static void session_box(struct core_web *w, struct web_collar *c, int64_t t)
{
	if (c->box_known && t >= c->box_t0 && t < c->box_t1)
		return;
	c->box_known = true;
	c->has_box = false;
	c->box_t0 = t;
	c->box_t1 = t + 10000;
	sqlite3 *db = an_store_sqlite(w->store);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db,
	                       "SELECT s.start_ms, s.end_ms, b.p0_lat_e7, b.p0_lon_e7, b.along_lat_e7, b.along_lon_e7, "
	                       "b.across_lat_e7, b.across_lon_e7, b.name FROM sessions s JOIN boxes b ON b.id = s.box_id "
	                       "WHERE s.animal_id = ?1 AND s.start_ms <= ?2 AND (s.end_ms IS NULL OR s.end_ms > ?2) "
	                       "AND s.abort_reason IS NULL ORDER BY s.start_ms DESC LIMIT 1",
	                       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, c->animal_id);
	sqlite3_bind_int64(q, 2, t);
	if (sqlite3_step(q) == SQLITE_ROW) {
		c->has_box = true;
		c->box_t0 = sqlite3_column_int64(q, 0);
		c->box_t1 = sqlite3_column_type(q, 1) == SQLITE_NULL ? t + 10000 : sqlite3_column_int64(q, 1);
		for (int k = 0; k < 6; k++)
			c->box_e7[k] = sqlite3_column_int(q, 2 + k);
		snprintf(c->box_name, sizeof c->box_name, "%s", (const char *)sqlite3_column_text(q, 8));
	}
	sqlite3_finalize(q);
}

/* Outside the box's rectangle (p0, p0 + along, p0 + across) by more than margin_m? */
static bool outside(const struct web_collar *c, int32_t lat, int32_t lon, double margin_m)
{
	double ae, an, ce, cn, pe, pn;
	enu_m(c->box_e7[0], c->box_e7[1], c->box_e7[2], c->box_e7[3], &ae, &an);
	enu_m(c->box_e7[0], c->box_e7[1], c->box_e7[4], c->box_e7[5], &ce, &cn);
	enu_m(c->box_e7[0], c->box_e7[1], lat, lon, &pe, &pn);
	double la = hypot(ae, an), lc = hypot(ce, cn);
	if (la <= 0 || lc <= 0)
		return false;
	double u = (pe * ae + pn * an) / la, v = (pe * ce + pn * cn) / lc; /* metres along, across */
	return u < -margin_m || u > la + margin_m || v < -margin_m || v > lc + margin_m;
}

void web_alerts_fix(struct core_web *w, struct web_collar *c, const struct proto_fix *f, bool live)
{
	const struct core_web_config *g = &w->cfg;
	if (live) /* (loaded at start-up: the first tick dates them by their records) */
		c->heard_ms = c->fix_rx_ms = (int64_t)core_utc_ms();
	bool bad = ((f->has & PROTO_FIX_HAS_Q) && (f->gga_q == 0 || f->gga_q == 6)) ||
	           ((f->has & PROTO_FIX_HAS_DIM) && f->fix_dim == 1);
	if (!(f->has & PROTO_FIX_HAS_T)) {
		c->al_fix_bad = bad;
		return;
	}
	int64_t t = (int64_t)f->t_ms;
	if (c->al_have_fix && t <= c->al_fix_t)
		return; /* an older fix (a journal drained out of order): the newest one says where the animal is */
	c->al_fix_bad = bad;
	/* work bout and stillness, in record time */
	/* a pause longer than the bout gap (rest, collar off) starts a new bout and a new stillness */
	bool fresh = !c->al_have_fix || t - c->al_fix_t > (int64_t)g->alert_bout_gap_s * 1000;
	if (fresh)
		c->bout_start_ms = t;
	double e = 0, n = 0;
	if (!fresh)
		enu_m(c->still_lat_e7, c->still_lon_e7, f->lat_e7, f->lon_e7, &e, &n);
	if (fresh || hypot(e, n) * 100.0 > (double)g->alert_stationary_cm) {
		c->still_lat_e7 = f->lat_e7;
		c->still_lon_e7 = f->lon_e7;
		c->still_since_ms = t;
	}
	c->al_have_fix = true;
	c->al_fix_t = t;
	c->al_fix_lat = f->lat_e7;
	c->al_fix_lon = f->lon_e7;
	c->al_fix_hacc_mm = (f->has & PROTO_FIX_HAS_HACC) ? f->h_acc_mm : 0;
	c->box_dirty = true;
	if (w->alerts_live)
		web_alerts_eval(w, c);
}

void web_alerts_heard(struct core_web *w, struct web_collar *c)
{
	c->heard_ms = (int64_t)core_utc_ms();
	if (w->alerts_live)
		web_alerts_eval(w, c);
}

void web_alerts_eval(struct core_web *w, struct web_collar *c)
{
	const struct core_web_config *g = &w->cfg;
	int64_t now = (int64_t)core_utc_ms();
	char txt[64];
	if (!c->looked_up)
		web_collar_lookup(w, c);
	/* link and GNSS: the core's clock */
	bool link = g->alert_link_lost_s && c->heard_ms && now - c->heard_ms >= (int64_t)g->alert_link_lost_s * 1000;
	set(w, c, WEB_ALERT_LINK_LOST, link, c->heard_ms, "link lost");
	bool gps = !link && g->alert_gps_lost_s && c->heard_ms &&
	           (c->al_fix_bad || !c->fix_rx_ms || c->heard_ms - c->fix_rx_ms >= (int64_t)g->alert_gps_lost_s * 1000);
	set(w, c, WEB_ALERT_GPS_LOST, gps, c->fix_rx_ms ? c->fix_rx_ms : c->heard_ms, "GPS lost");
	/* the collar's health (STATUS) */
	bool was = (c->al_active >> WEB_ALERT_BATTERY) & 1u;
	bool batt = g->alert_battery_pct && c->has_status && c->batt_pct != ABSENT &&
	            c->batt_pct < (int)g->alert_battery_pct + (was ? 2 : 0);
	snprintf(txt, sizeof txt, "battery %d %%", c->batt_pct);
	set(w, c, WEB_ALERT_BATTERY, batt, c->st_rx_ms, txt);
	was = (c->al_active >> WEB_ALERT_HEAT) & 1u;
	bool heat = g->alert_heat_c && c->has_status && c->temp_dc != ABSENT &&
	            c->temp_dc >= (int)g->alert_heat_c * 10 - (was ? 10 : 0);
	snprintf(txt, sizeof txt, "heat %d.%d °C", c->temp_dc / 10, abs(c->temp_dc % 10));
	set(w, c, WEB_ALERT_HEAT, heat, c->st_rx_ms, txt);
	if (!c->al_have_fix)
		return;
	/* record time: where the newest fix is and how long the animal has been still or working */
	if (c->box_dirty) {
		c->box_dirty = false;
		bool out = false;
		if (g->alert_outside_box_cm) {
			session_box(w, c, c->al_fix_t);
			out = c->has_box && outside(c, c->al_fix_lat, c->al_fix_lon,
			                            (double)g->alert_outside_box_cm / 100.0 + (double)c->al_fix_hacc_mm / 1000.0);
		}
		snprintf(txt, sizeof txt, "outside its box %.40s", c->has_box ? c->box_name : "");
		set(w, c, WEB_ALERT_OUTSIDE, out, c->al_fix_t, txt);
	}
	bool still = g->alert_stationary_s && c->al_fix_t - c->still_since_ms >= (int64_t)g->alert_stationary_s * 1000;
	set(w, c, WEB_ALERT_STATIONARY, still, c->still_since_ms, "stationary");
	unsigned limit_s = !strcmp(c->species, "dog") ? g->alert_bout_dog_s : g->alert_bout_rat_s;
	bool bout = limit_s && c->al_fix_t - c->bout_start_ms >= (int64_t)limit_s * 1000;
	if (limit_s % 60)
		snprintf(txt, sizeof txt, "work bout over %u s", limit_s);
	else
		snprintf(txt, sizeof txt, "work bout over %u min", limit_s / 60);
	set(w, c, WEB_ALERT_BOUT, bout, c->bout_start_ms, txt);
}

void web_alerts_tick(struct core_web *w, uint64_t now_mono_ms)
{
	if (now_mono_ms < w->next_alert_ms)
		return;
	w->next_alert_ms = now_mono_ms + 1000;
	bool first = !w->alerts_live;
	if (first) {
		/* the first tick after start-up: the state loaded from the store is complete */
		int64_t now = (int64_t)core_utc_ms();
		for (size_t i = 0; i < w->n_collars; i++) {
			struct web_collar *c = &w->collars[i];
			/* loaded collars were last heard no later than their newest record (its own time) */
			if (!c->heard_ms && c->al_have_fix)
				c->heard_ms = c->fix_rx_ms = c->al_fix_t < now ? c->al_fix_t : now;
			if (c->has_status && c->st_rx_ms > c->heard_ms && c->st_rx_ms <= now)
				c->heard_ms = c->st_rx_ms;
		}
	}
	for (size_t i = 0; i < w->n_collars; i++)
		web_alerts_eval(w, &w->collars[i]);
	if (first) {
		struct wb b = {0};
		wb_puts(&b, "{\"alerts\":");
		web_alerts_snapshot(w, &b);
		wb_puts(&b, "}");
		if (b.oom || !web_event_add(w, "alerts", b.p, b.len))
			w->ev_dropped++;
		wb_free(&b);
		w->alerts_live = true;
	}
}

void web_alerts_snapshot(struct core_web *w, struct wb *b)
{
	int n = 0;
	wb_puts(b, "[");
	for (size_t i = 0; i < w->n_collars; i++)
		for (unsigned k = 0; k < WEB_ALERT_N; k++)
			if ((w->collars[i].al_active >> k) & 1u) {
				if (n++)
					wb_puts(b, ",");
				web_alert_json(w, b, &w->collars[i], k, true);
			}
	wb_puts(b, "]");
}
