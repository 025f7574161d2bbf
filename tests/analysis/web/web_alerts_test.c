/*
 * tests/analysis/web/web_alerts_test.c — the server-side handler alerts (analysis/daemon/web_alerts.c) on an
 * injected clock: each kind is raised exactly at its threshold and cleared when the condition ends, as one
 * `alert` event each time (never twice), nothing before the first tick, and the snapshot lists what is raised.
 * The session box comes from a real store (temp file); the events are captured where web_sse.c would ring them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/store.h"
#include "core.h"
#include "web_internal.h"

/* ---- what web_alerts.c needs from the rest of the daemon: the clock, the event ring, the collar lookup ---- */
static uint64_t g_now_ms;
uint64_t core_utc_ms(void)
{
	return g_now_ms;
}

/* `alert` events in g_ev; the start-up set (`alerts`) in g_set */
static char g_ev[64][256], g_set[1024];
static size_t g_n_ev, g_n_set;
uint64_t web_event_add(struct core_web *w, const char *type, const char *data, size_t len)
{
	if (!strcmp(type, "alerts")) {
		cr_assert(len < sizeof g_set);
		memcpy(g_set, data, len);
		g_set[len] = 0;
		g_n_set++;
	} else {
		cr_assert_str_eq(type, "alert");
		cr_assert(g_n_ev < 64 && len < sizeof g_ev[0]);
		memcpy(g_ev[g_n_ev], data, len);
		g_ev[g_n_ev][len] = 0;
		g_n_ev++;
	}
	return w->next_id++;
}

static int64_t g_animal = 1;
void web_collar_lookup(struct core_web *w, struct web_collar *c)
{
	(void)w;
	c->looked_up = true;
	c->animal_id = g_animal;
	snprintf(c->species, sizeof c->species, "rat");
}

/* ---- rig ---- */
#define LAT0 (-196100000)
#define LON0 339000000
#define T0 1741582800000LL /* 2025-03-10 05:00 UTC */
static struct core_web W;
static struct web_collar C;
static char g_db[64];

static void setup(void)
{
	memset(&W, 0, sizeof W);
	memset(&C, 0, sizeof C);
	g_n_ev = g_n_set = 0;
	W.next_id = 100;
	g_now_ms = (uint64_t)T0 + 3600000u; /* receipt clock: an hour after the records (a drained journal) */
	W.cfg.alert_link_lost_s = 60;
	W.cfg.alert_gps_lost_s = 45;
	W.cfg.alert_battery_pct = 20;
	W.cfg.alert_heat_c = 32;
	W.cfg.alert_outside_box_cm = 100;
	W.cfg.alert_stationary_s = 60;
	W.cfg.alert_stationary_cm = 200;
	W.cfg.alert_bout_rat_s = 1800;
	W.cfg.alert_bout_dog_s = 1200;
	W.cfg.alert_bout_gap_s = 600;
	C.collar_id = 4;
	C.batt_pct = C.temp_dc = C.batt_mv = C.rssi_dbm = INT32_MIN;
	W.collars = &C;
	W.n_collars = 1;
	/* a store with one 20 m x 10 m box (along east, across north of the origin) and one session 05:00-06:00 */
	snprintf(g_db, sizeof g_db, "/tmp/web_alerts_test_%d.db", (int)getpid());
	unlink(g_db);
	char err[256];
	cr_assert_eq(an_store_open(g_db, AN_STORE_CREATE, &W.store, err, sizeof err), 0, "%s", err);
	int64_t prog, task, box, sid;
	cr_assert_eq(an_store_programme_add(W.store, "p", NULL, &prog), 0);
	struct an_store_task t = {.programme_id = prog, .name = "t", .origin_lat_e7 = LAT0, .origin_lon_e7 = LON0};
	cr_assert_eq(an_store_task_add(W.store, &t, &task), 0);
	/* 1e-7 deg of latitude = 11.1 mm; of longitude here ~10.5 mm */
	struct an_store_box b = {.task_id = task, .name = "B7", .p0_lat_e7 = LAT0, .p0_lon_e7 = LON0,
	                         .along_lat_e7 = LAT0, .along_lon_e7 = LON0 + 1907, .across_lat_e7 = LAT0 + 904,
	                         .across_lon_e7 = LON0, .lane_width_mm = 500, .lane_count = 20, .species = AN_SPECIES_RAT};
	cr_assert_eq(an_store_box_add(W.store, &b, &box), 0);
	cr_assert_eq(an_store_animal_add(W.store, AN_SPECIES_RAT, "R1", NULL, &g_animal), 0);
	struct an_store_session ss = {.box_id = box, .animal_id = g_animal, .mode = AN_MODE_OPERATIONAL,
	                              .start_ms = T0, .has_end = true, .end_ms = T0 + 3600000};
	cr_assert_eq(an_store_session_add(W.store, &ss, &sid), 0);
}

static void teardown(void)
{
	an_store_close(W.store);
	unlink(g_db);
}

TestSuite(web_alerts, .init = setup, .fini = teardown);

/* one fix at record time t (ms after T0), d_e/d_n mm east/north of the box's p0, arriving now */
static void fix(int64_t t, int d_e_mm, int d_n_mm, uint32_t h_acc_mm)
{
	struct proto_fix f = {.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q, .t_ms = (uint64_t)(T0 + t),
	                      .lat_e7 = LAT0 + (int32_t)(d_n_mm * 10 / 111),
	                      .lon_e7 = LON0 + (int32_t)(d_e_mm * 10 / 105), .h_acc_mm = h_acc_mm, .gga_q = 4};
	web_alerts_fix(&W, &C, &f, true);
}

static void tick(void)
{
	W.next_alert_ms = 0;
	web_alerts_tick(&W, 1);
}

/* the i-th captured event says kind/state */
static void expect_event(size_t i, const char *kind, const char *state)
{
	char want[96];
	cr_assert_gt(g_n_ev, i, "no event %zu (%s %s)", i, kind, state);
	snprintf(want, sizeof want, "\"kind\":\"%s\",\"state\":\"%s\"", kind, state);
	cr_assert(strstr(g_ev[i], want), "event %zu = %s, expected %s", i, g_ev[i], want);
}

Test(web_alerts, nothing_before_the_first_tick_then_link_lost_at_its_threshold)
{
	fix(0, 5000, 5000, 20);
	cr_assert_eq(g_n_ev, 0, "alerts before the first tick: %s", g_ev[0]);
	tick();
	cr_assert_eq(g_n_ev, 0, "%s", g_ev[0]);
	cr_assert_eq(g_n_set, 1);
	cr_assert_str_eq(g_set, "{\"alerts\":[]}");
	g_now_ms += 59999;
	tick();
	cr_assert_eq(g_n_ev, 0, "link lost before 60 s: %s", g_ev[0]);
	g_now_ms += 1;
	tick();
	cr_assert_eq(g_n_ev, 1);
	expect_event(0, "link_lost", "raised");
	tick(); /* still lost: no second event */
	cr_assert_eq(g_n_ev, 1);
	fix(1000, 5000, 5000, 20);
	expect_event(1, "link_lost", "cleared");
	/* alert_id = the event id of its raise (100 went to the start-up set), in both events */
	cr_assert(strstr(g_ev[0], "\"alert_id\":101,") && strstr(g_ev[1], "\"alert_id\":101,"), "%s / %s", g_ev[0], g_ev[1]);
	cr_assert_eq(g_n_set, 1);
}

Test(web_alerts, the_start_up_set_goes_out_whole)
{
	/* loaded at start-up (not live): the collar's newest fix is an hour before the core's clock */
	struct proto_fix f = {.has = PROTO_FIX_HAS_T, .t_ms = (uint64_t)T0, .lat_e7 = LAT0 + 450, .lon_e7 = LON0 + 476};
	web_alerts_fix(&W, &C, &f, false);
	C.has_status = true;
	C.batt_pct = 3;
	tick();
	cr_assert_eq(g_n_ev, 0, "%s", g_ev[0]);
	cr_assert_eq(g_n_set, 1);
	cr_assert(strstr(g_set, "\"alert_id\":100,\"kind\":\"link_lost\",\"state\":\"raised\""), "%s", g_set);
	cr_assert(strstr(g_set, "\"kind\":\"battery_low\""), "%s", g_set);
	tick(); /* nothing changed: nothing sent */
	cr_assert_eq(g_n_ev, 0);
	cr_assert_eq(g_n_set, 1);
}

Test(web_alerts, gps_lost_when_heard_without_fixes_or_told_by_the_fix)
{
	fix(0, 5000, 5000, 20);
	tick();
	g_now_ms += 44000;
	web_alerts_heard(&W, &C); /* a STATUS 44 s after the last fix */
	cr_assert_eq(g_n_ev, 0);
	g_now_ms += 1000;
	web_alerts_heard(&W, &C); /* 45 s */
	expect_event(0, "gps_lost", "raised");
	fix(46000, 5000, 5000, 20);
	expect_event(1, "gps_lost", "cleared");
	/* the collar itself says no fix (GGA quality 0) */
	struct proto_fix f = {.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_Q, .t_ms = (uint64_t)(T0 + 47000),
	                      .lat_e7 = LAT0 + 450, .lon_e7 = LON0 + 476, .gga_q = 0};
	web_alerts_fix(&W, &C, &f, true);
	expect_event(2, "gps_lost", "raised");
	/* link lost takes its place once nothing arrives at all */
	g_now_ms += 60000;
	tick();
	expect_event(3, "link_lost", "raised");
	expect_event(4, "gps_lost", "cleared");
	cr_assert_eq(g_n_ev, 5);
}

Test(web_alerts, battery_and_heat_with_hysteresis)
{
	fix(0, 5000, 5000, 20);
	tick();
	C.has_status = true;
	C.st_rx_ms = (int64_t)g_now_ms;
	C.batt_pct = 20;
	C.temp_dc = 319;
	web_alerts_heard(&W, &C);
	cr_assert_eq(g_n_ev, 0, "%s", g_ev[0]);
	C.batt_pct = 19;
	C.temp_dc = 320;
	web_alerts_heard(&W, &C);
	expect_event(0, "battery_low", "raised");
	expect_event(1, "heat", "raised");
	cr_assert(strstr(g_ev[0], "\"text\":\"battery 19 %\""), "%s", g_ev[0]);
	C.batt_pct = 21; /* within the 2-point band: stays */
	C.temp_dc = 311; /* within 1 degree: stays */
	web_alerts_heard(&W, &C);
	cr_assert_eq(g_n_ev, 2);
	C.batt_pct = 22;
	C.temp_dc = 309;
	web_alerts_heard(&W, &C);
	expect_event(2, "battery_low", "cleared");
	expect_event(3, "heat", "cleared");
}

Test(web_alerts, outside_the_session_box_beyond_margin_plus_h_acc)
{
	fix(0, 5000, 5000, 20);
	tick();
	fix(1000, -1400, 5000, 300); /* 1.4 m west of the box, h_acc 0.3: margin 1.3 m -> outside */
	expect_event(0, "outside_box", "raised");
	cr_assert(strstr(g_ev[0], "outside its box B7"), "%s", g_ev[0]);
	fix(2000, -1100, 5000, 300); /* 1.1 m: within the margin */
	expect_event(1, "outside_box", "cleared");
	fix(3000, 5000, 12500, 20); /* 2.5 m north of the 10 m side */
	expect_event(2, "outside_box", "raised");
	/* after the session (06:00) nothing is "its box": cleared */
	fix(3600000 + 1000, 5000, 12500, 20);
	expect_event(3, "outside_box", "cleared");
}

Test(web_alerts, stationary_and_work_bout_on_record_time)
{
	W.cfg.alert_bout_rat_s = 300;
	fix(0, 5000, 5000, 20);
	tick();
	for (int s = 10; s <= 50; s += 10)
		fix(s * 1000, 5000 + s * 10, 5000, 20); /* drifts 0.5 m: still */
	cr_assert_eq(g_n_ev, 0, "%s", g_ev[0]);
	fix(60000, 5500, 5000, 20);
	expect_event(0, "stationary", "raised");
	fix(70000, 8000, 5000, 20); /* 3 m away */
	expect_event(1, "stationary", "cleared");
	for (int s = 80; s < 300; s += 10) /* 3 m steps back and forth: moving */
		fix(s * 1000, 8000 + (s / 10 % 2) * 3000, 5000, 20);
	cr_assert_eq(g_n_ev, 2, "%s", g_ev[2]);
	fix(300000, 9000, 6000, 20); /* 5 min of bout */
	expect_event(2, "work_bout", "raised");
	fix(300000 + 601000, 9000, 6000, 20); /* after an 10 min pause: a new bout */
	expect_event(3, "work_bout", "cleared");
	/* an older fix (a journal drained out of order) changes nothing */
	size_t n = g_n_ev;
	fix(5000, -9000, 5000, 20);
	cr_assert_eq(g_n_ev, n);
}

Test(web_alerts, snapshot_lists_the_raised_ones)
{
	fix(0, 5000, 5000, 20);
	tick();
	g_now_ms += 61000;
	tick();
	C.has_status = true;
	C.batt_pct = 5;
	web_alerts_eval(&W, &C);
	struct wb b = {0};
	web_alerts_snapshot(&W, &b);
	cr_assert(!b.oom);
	cr_assert(strstr(b.p, "\"kind\":\"link_lost\",\"state\":\"raised\""), "%s", b.p);
	cr_assert(strstr(b.p, "\"kind\":\"battery_low\",\"state\":\"raised\""), "%s", b.p);
	cr_assert(!strstr(b.p, "gps_lost"), "%s", b.p);
	wb_free(&b);
}
