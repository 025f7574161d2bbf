/*
 * tests/collar-fw/app_test.c — the collar application glue (cf/app.h) on the NOR flash emulator: what it
 * journals for fixes and indications, how classifier and handler button combine, what an END does, the
 * report period, commands and the gateway's time, and a flash failure.
 * Records are read back from the journal and decoded with proto/ (the gateway's view of them).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf/app.h"
#include "hal/flash_emul.h"
#include "model.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define PAGES 32u
#define PAGE 4096u
#define ID 0x0207u

static const uint8_t key[PROTO_KEY_LEN] = "app test key, thirty-two bytes!";
static uint8_t mem[PAGES * PAGE];
static struct hal_flash dev;
static struct hal_flash_emul em;
static struct cf_app app;
static struct proto_hmac_key hkey;
static uint32_t hooked, kicks;
static uint32_t now_t;        /* the time the test is feeding (set by the sessions below) */
static uint32_t rec_t[256];   /* now_t when record seq was journaled */

static void on_record(void *ctx, uint32_t seq, uint8_t type, const uint8_t *b, size_t n)
{
	(void)ctx, (void)type, (void)b, (void)n;
	cr_assert_eq(seq, hooked + 1u, "hook sees every record once, in order");
	hooked = seq;
	if (seq < 256u)
		rec_t[seq] = now_t;
}

static void on_kick(void *ctx)
{
	(void)ctx;
	kicks++;
}

static void start(uint32_t rate_ms, uint32_t hold_ms, uint8_t species)
{
	struct cf_app_cfg cfg;
	cr_assert_eq(hal_flash_emul_init(&dev, &em, mem, NULL, PAGE, PAGES, 8), 0);
	cf_app_cfg_default(&cfg);
	cfg.collar_id = ID;
	cfg.key = key;
	cfg.species = species;
	cfg.rate_ms = rate_ms;
	cfg.pair_hold_ms = hold_ms;
	cfg.on_record = on_record;
	cfg.wdt_kick = on_kick;
	hooked = 0;
	kicks = 0;
	cr_assert_eq(cf_app_init(&app, &cfg, &dev, 0), 0);
	proto_hmac_init(&hkey, key, sizeof key);
}

static void sentence(char *out, size_t cap, const char *body)
{
	uint8_t x = 0;
	for (const char *p = body; *p; p++)
		x ^= (uint8_t)*p;
	snprintf(out, cap, "$%s*%02X\r\n", body, x);
}

/* Epoch at second s: GGA + RMC (with date) at 25°54.1234'S 32°35.0000+s*0.0003'E; sog_kn as given. */
static void epoch(uint32_t now, unsigned s, const char *sog_kn, int with_date)
{
	char body[160], line[200];
	unsigned hh = 10u + s / 3600u, mm = s / 60u % 60u, ss = s % 60u, lon = 350000u + 3u * s;
	snprintf(body, sizeof body, "GPGGA,%02u%02u%02u.00,2554.1234,S,032%02u.%04u,E,4,12,0.6,45.0,M,-10.0,M,,", hh, mm,
	         ss, lon / 10000u, lon % 10000u);
	sentence(line, sizeof line, body);
	cr_assert_geq(cf_app_gnss_feed(&app, now, line, strlen(line)), 0);
	if (with_date) {
		snprintf(body, sizeof body, "GPRMC,%02u%02u%02u.00,A,2554.1234,S,032%02u.%04u,E,%s,90.0,010625,,,R", hh,
		         mm, ss, lon / 10000u, lon % 10000u, sog_kn);
		sentence(line, sizeof line, body);
		cr_assert_geq(cf_app_gnss_feed(&app, now, line, strlen(line)), 0);
	}
}

/* Read record seq; returns its type and decodes into *m. */
static uint8_t rec(uint32_t seq, struct proto_msg *m)
{
	uint8_t body[CF_JOURNAL_BODY_MAX], type;
	size_t len;
	cr_assert_eq(cf_journal_read(cf_app_journal(&app), seq, body, sizeof body, &len, &type), 0, "record %u", seq);
	cr_assert_eq(proto_msg_decode(type, body, len, m, NULL), 0);
	return type;
}

static uint32_t n_records(void)
{
	return cf_journal_next_seq(cf_app_journal(&app)) - 1u;
}

/* Find the single IND record (completions aside); returns its rec_seq (0 if none), fails on more than one.
 * completion: 1 = look for the single completion record instead. */
static uint32_t find_ind(struct proto_ind *out, int completion)
{
	static struct proto_msg m;
	uint32_t found = 0;
	for (uint32_t s = 1; s <= n_records(); s++) {
		if (rec(s, &m) == PROTO_T_IND && !(m.u.ind.has & PROTO_IND_HAS_COMPLETES) == !completion) {
			cr_assert_eq(found, 0u, "more than one IND (%u and %u)", found, s);
			found = s;
			*out = m.u.ind;
		}
	}
	return found;
}

static uint32_t the_ind(struct proto_ind *out)
{
	return find_ind(out, 0);
}

static uint32_t the_completion(struct proto_ind *out)
{
	return find_ind(out, 1);
}

Test(cf_app, fix_fields_reach_the_journal_unchanged)
{
	static struct proto_msg m;
	start(1000, 0, CF_SPECIES_DOG);
	for (unsigned s = 0; s < 3; s++)
		epoch(s * 1000u, s, "0.97", 1);
	cr_assert_eq(cf_app_gnss_flush(&app, 3000), 1);
	cr_assert_eq(n_records(), 3u);
	cr_assert_eq(hooked, 3u);
	cr_assert_eq(rec(2, &m), PROTO_T_FIX);
	const struct proto_fix *f = &m.u.fix;
	cr_assert_eq(f->rec_seq, 2u);
	cr_assert(f->has & PROTO_FIX_HAS_T);
	cr_assert_eq(f->t_ms, 1748772000000ull + 1000u, "2025-06-01T10:00:01Z");
	cr_assert_eq(f->lat_e7, -259020567); /* 25 + 54.1234/60 = 25.9020567 */
	cr_assert_eq(f->lon_e7, 325833383);  /* 32 + 35.0003/60 = 32.58333833 */
	cr_assert_eq(f->gga_q, 4u);
	cr_assert_eq(f->faa_mode, 'R');
	cr_assert_eq(f->nsat, 12u);
	cr_assert_eq(f->hdop_c, 60u);
	cr_assert_eq(f->alt_mm, 45000);
	cr_assert_eq(f->sog_cms, 50u); /* 0.97 kn */
	cr_assert_eq(f->cog_cdeg, 9000u);
	cr_assert(f->has & PROTO_FIX_HAS_HACC, "RTK fixed: UERE model gives an accuracy");
	cr_assert_eq(f->h_acc_mm, 12u); /* 20 mm x HDOP 0.6 */
	cr_assert_eq(cf_app_stats(&app)->fixes_journaled, 3u);
}

Test(cf_app, records_without_position_or_date)
{
	static struct proto_msg m;
	char line[128];
	start(1000, 0, CF_SPECIES_DOG);
	/* no fix yet: time only, no position → counted, not journaled */
	sentence(line, sizeof line, "GPGGA,100000.00,,,,,0,00,,,M,,M,,");
	cr_assert_geq(cf_app_gnss_feed(&app, 0, line, strlen(line)), 0);
	/* GGA only (no date): t_mono = the clock */
	epoch(1000, 1, "0.0", 0);
	epoch(2000, 2, "0.0", 0);
	cr_assert_eq(cf_app_stats(&app)->fixes_no_pos, 1u);
	cr_assert_eq(n_records(), 1u);
	cr_assert_eq(rec(1, &m), PROTO_T_FIX);
	cr_assert(!(m.u.fix.has & PROTO_FIX_HAS_T));
	cr_assert(m.u.fix.has & PROTO_FIX_HAS_TMONO);
	cr_assert_eq(m.u.fix.t_mono_ms, 1000u, "dated by the clock when its first sentence arrived");
}

Test(cf_app, adaptive_period_slows_down_when_gnss_says_still)
{
	start(0, 0, CF_SPECIES_DOG);
	/* SOG 0.1 kn = 5 cm/s < CF_APP_STILL_SOG_CMS, no IMU: stationary, 10 s period */
	for (unsigned s = 0; s <= 40; s++)
		epoch(s * 1000u, s, "0.10", 1);
	cr_assert_eq(cf_app_report_period_ms(&app, 40000), CF_RATE_STATIONARY_MS);
	cr_assert_eq(n_records(), 4u, "t = 0, 10, 20, 30 s (epoch 40 still open)");
	/* moving: 1 s */
	for (unsigned s = 41; s <= 50; s++)
		epoch(s * 1000u, s, "2.00", 1);
	cr_assert_eq(cf_app_report_period_ms(&app, 50000), CF_RATE_SEARCH_MS);
	cr_assert_eq(n_records(), 4u + 10u);
}

Test(cf_app, handler_mark_is_positioned_by_the_latest_fix_even_if_rate_skipped_it)
{
	struct proto_ind ind;
	static struct proto_msg m;
	start(60000, 2000, CF_SPECIES_DOG);
	for (unsigned s = 0; s <= 5; s++)
		epoch(s * 1000u, s, "1.0", 1);
	cr_assert_eq(n_records(), 1u, "60 s period: only the first epoch");
	/* press at 5.5 s for 300 ms, then the hold runs out at 7.5 s */
	cr_assert_eq(cf_app_button(&app, 5500, true), 0);
	cr_assert_eq(cf_app_tick(&app, 5600), 0);
	cr_assert_eq(cf_app_button(&app, 5800, false), 0);
	cr_assert_eq(cf_app_tick(&app, 5900), 0);
	cr_assert_eq(cf_app_tick(&app, 7400), 0);
	cr_assert_eq(n_records(), 1u, "held for its counterpart");
	cr_assert_eq(cf_app_tick(&app, 7600), 0);
	uint32_t s = the_ind(&ind);
	cr_assert_eq(s, 3u, "the latest fix (epoch 4) journaled first, then the IND");
	cr_assert_eq(rec(2, &m), PROTO_T_FIX);
	cr_assert_eq(ind.fix_ref, 2u);
	cr_assert_eq(ind.lat_e7, m.u.fix.lat_e7);
	cr_assert_eq(ind.lon_e7, m.u.fix.lon_e7);
	cr_assert(ind.has & PROTO_IND_HAS_HACC);
	cr_assert_eq(ind.h_acc_mm, m.u.fix.h_acc_mm);
	cr_assert_eq(ind.kind, PROTO_IND_MARK);
	cr_assert_eq(ind.src, PROTO_SRC_BUTTON);
	cr_assert(ind.has & PROTO_IND_HAS_T);
	cr_assert_eq(ind.t_ms, m.u.fix.t_ms + 1500u, "onset 5.5 s = epoch 4 (first line at clock 4 s) + 1.5 s");
	cr_assert_eq(ind.dur_ms, 300u, "the release came during the hold: final duration");
	cr_assert_eq(cf_app_stats(&app)->ind_end_in_hold, 1u);
	cr_assert_gt(kicks, 0u);
}

Test(cf_app, ind_without_any_fix_or_time_uses_t_mono)
{
	struct proto_ind ind;
	start(1000, 0, CF_SPECIES_DOG);
	cr_assert_eq(cf_app_button(&app, 100, true), 0);
	cr_assert_eq(cf_app_tick(&app, 200), 0);
	cr_assert_eq(the_ind(&ind), 1u, "hold 0: journaled at the debounced press");
	cr_assert(!(ind.has & (PROTO_IND_HAS_POS | PROTO_IND_HAS_FIXREF | PROTO_IND_HAS_T)));
	cr_assert_eq(ind.t_mono_ms, 100u);
	cr_assert_eq(ind.dur_ms, 100u, "still pressed: duration so far");
	cr_assert_eq(cf_app_stats(&app)->ind_no_pos, 1u);
	/* the release afterwards does not make a second indication: it completes the first */
	cr_assert_eq(cf_app_button(&app, 900, false), 0);
	cr_assert_eq(cf_app_tick(&app, 1000), 0);
	cr_assert_eq(n_records(), 2u);
	cr_assert_eq(cf_app_stats(&app)->ind_end_after, 1u);
	cr_assert_eq(cf_app_stats(&app)->ind_journaled, 1u, "still one indication");
	cr_assert_eq(cf_app_stats(&app)->ind_completed, 1u);
	struct proto_ind c;
	cr_assert_eq(the_completion(&c), 2u);
	cr_assert(c.has & PROTO_IND_HAS_COMPLETES);
	cr_assert_eq(c.completes, 1u);
	cr_assert_eq(c.dur_ms, 800u, "pressed 100..900: the final duration");
	cr_assert_eq(c.t_mono_ms, ind.t_mono_ms, "same onset");
	cr_assert_eq(c.kind, ind.kind);
	cr_assert_eq(c.src, ind.src);
	/* a second END of the same press (cannot happen, but a stray one) is counted, not journaled */
	cr_assert_eq(cf_app_stats(&app)->ind_end_unmatched, 0u);
}

/* Every IND record carrying a verdict: how many, and the last one's rec_seq and verdict. */
static uint32_t verdicts(uint32_t *seq, uint8_t *verdict)
{
	static struct proto_msg m;
	uint32_t n = 0;
	for (uint32_t s = 1; s <= n_records(); s++) {
		if (rec(s, &m) == PROTO_T_IND && (m.u.ind.has & PROTO_IND_HAS_VERDICT)) {
			n++;
			*seq = s;
			*verdict = m.u.ind.verdict;
		}
	}
	return n;
}

/* The n-th (1-based) completion record; returns its rec_seq, 0 if there are fewer. */
static uint32_t nth_completion(unsigned n, struct proto_ind *out)
{
	static struct proto_msg m;
	for (uint32_t s = 1; s <= n_records(); s++)
		if (rec(s, &m) == PROTO_T_IND && (m.u.ind.has & PROTO_IND_HAS_COMPLETES) && --n == 0) {
			*out = m.u.ind;
			return s;
		}
	return 0;
}

/* A dog that walks, sits, walks on; fixes every second; optionally the handler presses at sit + press_at_ms
 * for press_ms (sample-aligned: 20 ms steps). */
static struct cf_accel_sample samples[3000];
static unsigned n_samples;
static uint32_t sit_t0;

static void keep(void *ctx, const struct cf_accel_sample *s)
{
	(void)ctx;
	if (n_samples < 3000)
		samples[n_samples++] = *s;
}

static void seg(void *ctx, const struct mm_segment *sg)
{
	(void)ctx;
	if (sg->cls == MM_SIT && sit_t0 == 0)
		sit_t0 = sg->t0_ms;
}

static void dog_session_press(uint32_t sit_ms, int press, uint32_t press_at_ms, uint32_t press_ms, uint32_t hold_ms)
{
	struct mm_animal a;
	struct mm_rng r;
	const int cls[] = {MM_WALK, MM_SIT, MM_WALK};
	const uint32_t dur[] = {20000, sit_ms, 12000};
	start(0, hold_ms, CF_SPECIES_DOG);
	mm_rng_seed(&r, 11);
	mm_animal_draw(&a, MM_DOG, &r);
	n_samples = 0;
	sit_t0 = 0;
	mm_script_run(&a, 12, 0, cls, dur, 3, keep, seg, NULL);
	cr_assert_gt(sit_t0, 0u);
	unsigned next_s = 0;
	int pressed = 0;
	for (unsigned i = 0; i < n_samples; i++) {
		uint32_t t = samples[i].t_ms;
		now_t = t;
		while (next_s * 1000u <= t) {
			epoch(next_s * 1000u, next_s, "1.00", 1);
			next_s++;
		}
		if (press && !pressed && t >= sit_t0 + press_at_ms) {
			cr_assert_eq(cf_app_button(&app, t, true), 0);
			pressed = 1;
		} else if (press && pressed == 1 && t >= sit_t0 + press_at_ms + press_ms) {
			cr_assert_eq(cf_app_button(&app, t, false), 0);
			pressed = 2;
		}
		cr_assert_eq(cf_app_accel(&app, &samples[i]), 0);
		cr_assert_eq(cf_app_tick(&app, t), 0);
	}
	now_t = samples[n_samples - 1].t_ms + 10000u;
	cr_assert_eq(cf_app_tick(&app, now_t), 0);
}

/* An 8 s sit; optionally the handler taps (400 ms) at sit + 1 s. */
static void dog_session(int press, uint32_t hold_ms)
{
	dog_session_press(8000, press, 1000, 400, hold_ms);
}

Test(cf_app, classifier_sit_alone_is_one_indication)
{
	struct proto_ind ind;
	dog_session(0, 3000);
	cr_assert_neq(the_ind(&ind), 0u);
	cr_assert_eq(ind.kind, PROTO_IND_SIT);
	cr_assert_eq(ind.src, PROTO_SRC_CLASSIFIER);
	cr_assert(ind.has & PROTO_IND_HAS_POS);
	cr_assert_geq(ind.dur_ms, 2000u, "at least the classifier's sit_hold_ms");
	cr_assert_eq(cf_app_stats(&app)->ind_both, 0u);
	/* an 8 s sit outlasts the 3 s hold: its END journals the completion with the final duration */
	struct proto_ind c;
	uint32_t cs = the_completion(&c);
	cr_assert_gt(cs, 0u, "the final duration is sent");
	cr_assert_eq(c.completes, the_ind(&ind));
	cr_assert_gt(c.dur_ms, ind.dur_ms);
	cr_assert(c.dur_ms >= 5000u && c.dur_ms <= 9000u, "final sit duration %u ms of an 8 s sit", c.dur_ms);
	cr_assert_eq(c.t_ms, ind.t_ms, "same onset");
	cr_assert_eq(c.lat_e7, ind.lat_e7, "same position");
	cr_assert_eq(c.fix_ref, ind.fix_ref);
	cr_assert_eq(cf_app_stats(&app)->ind_completed, 1u);
}

Test(cf_app, classifier_and_handler_combine_into_one_indication_both)
{
	struct proto_ind ind;
	dog_session(1, 3000);
	cr_assert_neq(the_ind(&ind), 0u);
	cr_assert_eq(ind.kind, PROTO_IND_SIT, "the classifier's kind wins");
	cr_assert_eq(ind.src, PROTO_SRC_BOTH);
	cr_assert_eq(cf_app_stats(&app)->ind_both, 1u);
	cr_assert_eq(cf_app_stats(&app)->ind_onsets, 2u);
	/* the classifier's END (its view wins) completes the combined IND; the button's END does not */
	struct proto_ind c;
	cr_assert_gt(the_completion(&c), 0u);
	cr_assert_eq(c.src, PROTO_SRC_BOTH);
	cr_assert_eq(c.completes, the_ind(&ind));
	cr_assert_gt(c.dur_ms, 5000u);
	/* the tap (400 ms) ended before the classifier confirmed: its verdict is in the combined IND itself, and
	 * the classifier's completion does not repeat it */
	uint32_t vs = 0;
	uint8_t v = 0;
	cr_assert_eq(verdicts(&vs, &v), 1u, "exactly one verdict");
	cr_assert_eq(vs, the_ind(&ind));
	cr_assert_eq(v, PROTO_VERDICT_CONFIRMED);
	cr_assert(!(c.has & PROTO_IND_HAS_VERDICT));
	cr_assert_eq(cf_app_stats(&app)->verdicts, 1u);
}

Test(cf_app, long_press_ending_before_the_classifier_end_rejects_in_a_completion_at_the_release)
{
	/* press at sit + 1 s for 2.4 s: the classifier confirms (~sit + 2 s) during the press, so the combined
	 * IND is journaled before the press is over; the dog sits on for 8 s */
	dog_session_press(8000, 1, 1000, 2400, 3000);
	struct proto_ind ind, c1, c2;
	uint32_t is = the_ind(&ind);
	cr_assert_eq(ind.src, PROTO_SRC_BOTH);
	cr_assert(!(ind.has & PROTO_IND_HAS_VERDICT), "the press was not over when the IND was journaled");
	uint32_t s1 = nth_completion(1, &c1), s2 = nth_completion(2, &c2);
	cr_assert(s1 != 0 && s2 != 0 && nth_completion(3, &ind) == 0, "two completions");
	/* first: the verdict, journaled the moment the handler let go (not when the dog stood up) */
	cr_assert(c1.has & PROTO_IND_HAS_VERDICT);
	cr_assert_eq(c1.verdict, PROTO_VERDICT_REJECTED);
	cr_assert_eq(c1.completes, is);
	cr_assert(rec_t[s1] - sit_t0 >= 1000u + 2400u + 20u && rec_t[s1] - sit_t0 <= 1000u + 2400u + 60u,
	          "at the debounced release: %u ms after the sit began", rec_t[s1] - sit_t0);
	/* then the classifier's END with the final duration (the newest completion: the core keeps it) */
	cr_assert(!(c2.has & PROTO_IND_HAS_VERDICT));
	cr_assert_eq(c2.completes, is);
	cr_assert_gt(c2.dur_ms, c1.dur_ms);
	cr_assert_geq(c2.dur_ms, 5000u);
	uint32_t vs = 0;
	uint8_t v = 0;
	cr_assert_eq(verdicts(&vs, &v), 1u, "exactly one verdict");
	cr_assert_eq(cf_app_stats(&app)->verdicts_lost, 0u);
	cr_assert_eq(cf_app_stats(&app)->ind_end_unmatched, 0u, "the press's END found its indication");
}

Test(cf_app, press_ending_after_the_classifier_completion_gets_a_second_completion)
{
	/* a 4 s sit (its END comes after the hold, so its completion is journaled), a press that starts while
	 * the classifier's ONSET is held and ends well after the dog stood up */
	dog_session_press(4000, 1, 2600, 5000, 3000);
	struct proto_ind ind, c1, c2;
	uint32_t is = the_ind(&ind);
	cr_assert_eq(ind.src, PROTO_SRC_BOTH);
	cr_assert(!(ind.has & PROTO_IND_HAS_VERDICT));
	uint32_t s1 = nth_completion(1, &c1), s2 = nth_completion(2, &c2);
	cr_assert(s1 != 0 && s2 != 0 && nth_completion(3, &ind) == 0, "two completions");
	cr_assert(!(c1.has & PROTO_IND_HAS_VERDICT), "the classifier's completion came first, without a verdict");
	cr_assert_lt(rec_t[s1] - sit_t0, 2600u + 5000u);
	cr_assert(c2.has & PROTO_IND_HAS_VERDICT);
	cr_assert_eq(c2.verdict, PROTO_VERDICT_REJECTED);
	cr_assert_eq(c2.completes, is);
	cr_assert(rec_t[s2] - sit_t0 >= 2600u + 5000u + 20u && rec_t[s2] - sit_t0 <= 2600u + 5000u + 60u,
	          "at the debounced release: %u ms after the sit began", rec_t[s2] - sit_t0);
	/* it repeats the final duration and confidence, so whichever completion the core sees as newest is right */
	cr_assert_eq(c2.dur_ms, c1.dur_ms);
	cr_assert_eq(c2.conf_pct, c1.conf_pct);
	cr_assert_eq(c2.t_ms, ind.t_ms);
	cr_assert_eq(c2.kind, ind.kind);
	cr_assert_eq(c2.src, PROTO_SRC_BOTH);
	uint32_t vs = 0;
	uint8_t v = 0;
	cr_assert_eq(verdicts(&vs, &v), 1u, "exactly one verdict");
	cr_assert_eq(vs, s2);
}

static void reboot(uint32_t rate_ms);

/* A handler press with no classifier indication anywhere near (no IMU data at all): fixes every second. */
static void press_alone(uint32_t hold_ms, uint32_t press_at, uint32_t press_ms)
{
	start(1000, hold_ms, CF_SPECIES_DOG);
	uint32_t end = press_at + press_ms + 6000u;
	for (now_t = 0; now_t <= end; now_t += 10u) {
		if (now_t % 1000u == 0)
			epoch(now_t, now_t / 1000u, "1.0", 1);
		cr_assert_eq(cf_app_tick(&app, now_t), 0);
		/* edges at their exact times, between two ticks 10 ms apart (like an edge interrupt) */
		if (press_at >= now_t && press_at < now_t + 10u)
			cr_assert_eq(cf_app_button(&app, press_at, true), 0);
		if (press_at + press_ms >= now_t && press_at + press_ms < now_t + 10u)
			cr_assert_eq(cf_app_button(&app, press_at + press_ms, false), 0);
	}
}

Test(cf_app, handler_mark_alone_carries_its_verdict)
{
	struct proto_ind ind, c;
	uint32_t vs = 0;
	uint8_t v = 0;

	/* a tap inside the hold: the mark's own IND carries the verdict, nothing else is journaled for it */
	press_alone(3000, 5500, 300);
	uint32_t is = the_ind(&ind);
	cr_assert_eq(ind.kind, PROTO_IND_MARK);
	cr_assert_eq(ind.src, PROTO_SRC_BUTTON);
	cr_assert_eq(ind.dur_ms, 300u);
	cr_assert(ind.has & PROTO_IND_HAS_VERDICT);
	cr_assert_eq(ind.verdict, PROTO_VERDICT_CONFIRMED);
	cr_assert_eq(the_completion(&c), 0u);
	cr_assert_eq(verdicts(&vs, &v), 1u);
	cr_assert_eq(vs, is);

	/* a press that outlasts the hold: the IND goes at the end of the hold, the release's completion carries
	 * the final duration and the verdict */
	press_alone(3000, 5500, 4000);
	is = the_ind(&ind);
	cr_assert(!(ind.has & PROTO_IND_HAS_VERDICT));
	cr_assert_eq(rec_t[is], 5500u + CF_BUTTON_DEBOUNCE_DEFAULT_MS + 3000u, "when the hold ran out");
	uint32_t cs = the_completion(&c);
	cr_assert_eq(c.completes, is);
	cr_assert_eq(c.dur_ms, 4000u);
	cr_assert(c.has & PROTO_IND_HAS_VERDICT);
	cr_assert_eq(c.verdict, PROTO_VERDICT_REJECTED);
	cr_assert_eq(verdicts(&vs, &v), 1u);
	cr_assert_eq(vs, cs);
	cr_assert_eq(cf_app_stats(&app)->verdicts, 1u);
}

Test(cf_app, without_a_hold_the_mark_goes_at_once_and_its_release_brings_the_verdict)
{
	struct proto_ind ind, c;
	uint32_t vs = 0;
	uint8_t v = 0;
	/* hold 0: the press combines with nothing; the threshold is 1 s from press edge to release edge */
	static const struct {
		uint32_t ms;
		uint8_t verdict;
	} cases[] = {{120, PROTO_VERDICT_CONFIRMED}, {999, PROTO_VERDICT_CONFIRMED},
	             {1000, PROTO_VERDICT_REJECTED}, {2400, PROTO_VERDICT_REJECTED}};
	for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		press_alone(0, 5500, cases[k].ms);
		uint32_t is = the_ind(&ind);
		cr_assert_eq(rec_t[is], 5500u + CF_BUTTON_DEBOUNCE_DEFAULT_MS, "at the debounced press");
		cr_assert(!(ind.has & PROTO_IND_HAS_VERDICT));
		uint32_t cs = the_completion(&c);
		cr_assert_eq(c.completes, is);
		cr_assert_eq(c.dur_ms, cases[k].ms);
		cr_assert_eq(verdicts(&vs, &v), 1u);
		cr_assert_eq(vs, cs);
		cr_assert_eq(v, cases[k].verdict, "%u ms press", cases[k].ms);
	}
	/* the verdict is a journal record like any other: still there after a power cut and a reboot */
	reboot(1000);
	cr_assert_eq(verdicts(&vs, &v), 1u);
	cr_assert_eq(v, PROTO_VERDICT_REJECTED);
}

Test(cf_app, without_a_hold_the_late_counterpart_is_its_own_indication)
{
	dog_session(1, 0);
	/* hold 0: the mark goes at once; the classifier confirms ~1 s later and is journaled too */
	cr_assert_eq(cf_app_stats(&app)->ind_journaled, 2u);
	cr_assert_eq(cf_app_stats(&app)->ind_both, 0u);
}

/* Gateway frames into the collar. */
static void gw_send(uint8_t type, const void *msg)
{
	static uint16_t lseq;
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	if (type == PROTO_T_ACK)
		cr_assert_eq(proto_ack_encode(msg, body, sizeof body, &blen), 0);
	else
		cr_assert_eq(proto_cmd_encode(msg, body, sizeof body, &blen), 0);
	struct proto_hdr h = {.type = type, .collar_id = ID, .link_seq = lseq++, .boot_id = 1};
	cr_assert_eq(proto_frame_encode(&h, body, blen, &hkey, wire, sizeof wire, &wlen), 0);
	cr_assert_eq(cf_app_radio_rx(&app, 1000, wire, wlen), 1);
}

Test(cf_app, gateway_time_and_commands)
{
	uint8_t out[PROTO_WIRE_MAX];
	size_t len;
	start(0, 0, CF_SPECIES_RAT);
	cr_assert_eq(cf_app_radio_poll(&app, 0, out, sizeof out, &len), 1, "HELLO");
	struct proto_ack a = {.has = PROTO_ACK_HAS_GWT | PROTO_ACK_HAS_CREDIT, .cum = 0, .gw_ms = 1748772000000ull,
	                      .credit = 4};
	gw_send(PROTO_T_ACK, &a);
	cr_assert(cf_app_nmea(&app)->ref_known, "ACK time handed to the parser");
	cr_assert_eq(cf_app_nmea(&app)->ref_ms, 1748772000000);
	cr_assert(cf_app_link_is_up(&app));

	struct proto_cmd c = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 1, .op = PROTO_OP_SET_RATE, .period_ms = 2500};
	gw_send(PROTO_T_CMD, &c);
	cr_assert_eq(cf_app_report_period_ms(&app, 1000), 2500u);
	struct proto_cmd t = {.has = PROTO_CMD_HAS_UTC, .cmd_id = 2, .op = PROTO_OP_TIME_SET, .utc_ms = 1750000000000ull};
	gw_send(PROTO_T_CMD, &t);
	cr_assert_eq(cf_app_nmea(&app)->ref_ms, 1750000000000);
	struct proto_cmd r = {.cmd_id = 3, .op = PROTO_OP_REBOOT};
	gw_send(PROTO_T_CMD, &r);
	cr_assert_eq(cf_app_stats(&app)->cmds, 3u);
	/* an IND with no fix now takes the gateway's time: TIME_SET at clock 1000 + 0 */
	cr_assert_eq(cf_app_button(&app, 2000, true), 0);
	cr_assert_eq(cf_app_tick(&app, 2100), 0);
	struct proto_ind ind;
	cr_assert_eq(the_ind(&ind), 1u);
	cr_assert(ind.has & PROTO_IND_HAS_T);
	cr_assert_eq(ind.t_ms, 1748772000000ull + 1000u, "ACK time at clock 1000, onset at 2000");
}

Test(cf_app, flash_failure_stops_the_application)
{
	start(1000, 0, CF_SPECIES_DOG);
	epoch(0, 0, "1.0", 1);
	hal_flash_emul_cut_after(&em, 1, 1, 7);
	char line[160];
	sentence(line, sizeof line, "GPGGA,100001.00,2554.1234,S,03235.0003,E,1,08,0.9,45.0,M,-10.0,M,,");
	cr_assert_eq(cf_app_gnss_feed(&app, 1000, line, strlen(line)), -EIO);
	cr_assert_eq(cf_app_tick(&app, 1100), -EIO, "refuses everything until re-init");
	cr_assert_eq(cf_app_stats(&app)->journal_errors, 1u);
	/* power back: a new init (reboot) recovers and numbering goes on */
	hal_flash_emul_power_on(&em);
	struct cf_app_cfg cfg;
	cf_app_cfg_default(&cfg);
	cfg.collar_id = ID;
	cfg.key = key;
	cr_assert_eq(cf_app_init(&app, &cfg, &dev, 0), 0);
	cr_assert_geq(cf_journal_next_seq(cf_app_journal(&app)), 1u);
}

Test(cf_app, bad_config_is_refused)
{
	struct cf_app_cfg cfg;
	cr_assert_eq(hal_flash_emul_init(&dev, &em, mem, NULL, PAGE, PAGES, 8), 0);
	cf_app_cfg_default(&cfg);
	cfg.key = key;
	cr_assert_eq(cf_app_init(&app, &cfg, &dev, 0), -EINVAL, "collar_id 0");
	cfg.collar_id = 1;
	cfg.species = 9;
	cr_assert_eq(cf_app_init(&app, &cfg, &dev, 0), -EINVAL, "species");
}

/* ---- CMD memory and commanded configuration across reboots and power cuts ---------------------------- */

/* Boot the collar again on the same flash (what is on it is whatever the last power cut left). */
static void reboot(uint32_t rate_ms)
{
	struct cf_app_cfg cfg;
	hal_flash_emul_power_on(&em);
	cf_app_cfg_default(&cfg);
	cfg.collar_id = ID;
	cfg.key = key;
	cfg.species = CF_SPECIES_RAT;
	cfg.rate_ms = rate_ms;
	cfg.pair_hold_ms = 0;
	cr_assert_eq(cf_app_init(&app, &cfg, &dev, 0), 0);
}

/* Feed a CMD; returns what cf_app_radio_rx returned (1 = accepted, <0 = the journal failed). */
static int cmd_in(const struct proto_cmd *c)
{
	static uint16_t lseq = 30000;
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	cr_assert_eq(proto_cmd_encode(c, body, sizeof body, &blen), 0);
	struct proto_hdr h = {.type = PROTO_T_CMD, .collar_id = ID, .link_seq = lseq++, .boot_id = 1};
	cr_assert_eq(proto_frame_encode(&h, body, blen, &hkey, wire, sizeof wire, &wlen), 0);
	return cf_app_radio_rx(&app, 1000, wire, wlen);
}

/* The result of the CMD_ACK for cmd_id the collar puts on the air next (0: none). */
static uint8_t cmd_ack_out(uint32_t cmd_id)
{
	uint8_t out[PROTO_WIRE_MAX], frame[PROTO_FRAME_MAX];
	size_t len, used, fl, blen;
	for (int i = 0; i < 4; i++) {
		if (cf_app_radio_poll(&app, 1000, out, sizeof out, &len) != 1)
			return 0;
		struct proto_deframer d;
		struct proto_hdr h;
		const uint8_t *body;
		struct proto_cmd_ack a;
		proto_deframer_init(&d);
		cr_assert_eq(proto_deframer_push(&d, out, len, &used, frame, sizeof frame, &fl), 1);
		cr_assert_eq(proto_frame_check(frame, fl, &h, &body, &blen), 0);
		if (h.type == PROTO_T_CMD_ACK && proto_cmd_ack_decode(body, blen, &a, NULL) == 0 && a.cmd_id == cmd_id)
			return a.result;
	}
	return 0;
}

Test(cf_app, commanded_rate_and_cmd_memory_survive_a_reboot)
{
	start(0, 0, CF_SPECIES_RAT);
	struct proto_cmd c = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 7, .op = PROTO_OP_SET_RATE, .period_ms = 2500};
	struct proto_cmd m = {.has = PROTO_CMD_HAS_MODE, .cmd_id = 8, .op = PROTO_OP_SET_MODE,
	                      .mode = PROTO_MODE_TRANSIT};
	cr_assert_eq(cmd_in(&c), 1);
	cr_assert_eq(cmd_ack_out(7), PROTO_RES_DONE);
	cr_assert_eq(cmd_in(&m), 1);
	cr_assert_eq(cmd_ack_out(8), PROTO_RES_DONE);
	reboot(0);
	cr_assert_eq(cf_app_report_period_ms(&app, 1000), 2500u, "the commanded rate stays after a reboot");
	cr_assert_eq(cf_app_stats(&app)->cmds, 0u);
	/* the gateway did not hear our CMD_ACKs and retries: answered from memory, not run again */
	cr_assert_eq(cmd_in(&c), 1);
	cr_assert_eq(cmd_ack_out(7), PROTO_RES_DONE);
	cr_assert_eq(cmd_in(&m), 1);
	cr_assert_eq(cmd_ack_out(8), PROTO_RES_DONE);
	cr_assert_eq(cf_app_stats(&app)->cmds, 0u, "re-sent CMDs are not re-applied after a reboot");
	cr_assert_eq(cf_link_stats(&app.link)->cmd_dup, 2u);
	/* a new one runs; an id 8 or more below the highest is stale */
	struct proto_cmd c2 = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 20, .op = PROTO_OP_SET_RATE, .period_ms = 4000};
	cr_assert_eq(cmd_in(&c2), 1);
	cr_assert_eq(cmd_ack_out(20), PROTO_RES_DONE);
	reboot(0);
	cr_assert_eq(cf_app_report_period_ms(&app, 1000), 4000u);
	cr_assert_eq(cmd_in(&c), 1);
	cr_assert_eq(cmd_ack_out(7), 0, "stale after the reboot too: refused, not run");
	cr_assert_eq(cf_app_stats(&app)->cmds, 0u);
}

/* A power cut at every flash operation the CMD causes (torn or clean): once a CMD_ACK has gone out, the
 * CMD is never applied again after the reboot, and the commanded rate is there after it either way. */
Test(cf_app, cmd_memory_is_power_safe_at_every_flash_operation)
{
	unsigned cuts = 0, acked_before_cut = 0;
	for (uint32_t k = 1; k < 64; k++) {
		start(0, 0, CF_SPECIES_RAT);
		struct proto_cmd c = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = 7, .op = PROTO_OP_SET_RATE,
		                      .period_ms = 2500};
		hal_flash_emul_cut_after(&em, k, (int)(k % 2u), k);
		int rc = cmd_in(&c);
		uint8_t res = rc == 1 ? cmd_ack_out(7) : 0;
		int was_off = hal_flash_emul_is_off(&em);
		if (!was_off) {
			hal_flash_emul_power_on(&em); /* disarm: the CMD needed fewer than k operations */
			cr_assert_eq(res, PROTO_RES_DONE);
			break;
		}
		cuts++;
		if (res == PROTO_RES_DONE)
			acked_before_cut++;
		reboot(0);
		cr_assert_eq(cmd_in(&c), 1, "k %u", k);
		cr_assert_eq(cmd_ack_out(7), PROTO_RES_DONE, "k %u", k);
		if (res == PROTO_RES_DONE)
			cr_assert_eq(cf_app_stats(&app)->cmds, 0u, "k %u: acknowledged, then re-applied after the cut", k);
		cr_assert_eq(cf_app_report_period_ms(&app, 1000), 2500u, "k %u", k);
	}
	cr_log_info("%u power cuts inside the CMD; %u after its CMD_ACK was produced", cuts, acked_before_cut);
	cr_assert_geq(cuts, 2u, "the CMD writes the config and the memory");
}
