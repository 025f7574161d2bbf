/*
 * tests/collar-fw/button_test.c — cf_button debouncer: bouncy contacts, glitches, edge-only feeding,
 * clock wrap and bad input.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cf/button.h"

struct evs {
	struct cf_ind_event ev[8];
	int n;
};

static void feed(struct cf_button *b, struct evs *e, uint32_t t, bool level)
{
	struct cf_ind_event ev;
	memset(&ev, 0xFF, sizeof ev);
	int n = cf_button_update(b, t, level, &ev);
	cr_assert_geq(n, 0);
	if (n == 1) {
		cr_assert_lt(e->n, 8);
		e->ev[e->n++] = ev;
	}
}

/* Raw level of a press from t_on to t_off with 3 ms of bounce on each edge. */
static bool bouncy(uint32_t t, uint32_t t_on, uint32_t t_off)
{
	if (t >= t_on && t < t_on + 3)
		return (t - t_on) % 2 == 0;
	if (t >= t_off && t < t_off + 3)
		return (t - t_off) % 2 == 1;
	return t >= t_on && t < t_off;
}

Test(cf_button, bouncy_contacts_give_one_press_with_onset_and_duration)
{
	struct cf_button b;
	struct evs e = {0};
	cr_assert_eq(cf_button_init(&b, 20, 0), 0);
	for (uint32_t t = 0; t < 3000; t++)
		feed(&b, &e, t, bouncy(t, 1000, 1800));
	cr_assert_eq(e.n, 2);
	cr_assert_eq(e.ev[0].kind, CF_IND_HANDLER_MARK);
	cr_assert_eq(e.ev[0].source, CF_IND_SRC_HANDLER);
	cr_assert_eq(e.ev[0].phase, CF_IND_PHASE_ONSET);
	cr_assert_eq(e.ev[0].onset_t_ms, 1000);         /* first edge, not when it was trusted */
	cr_assert_geq(e.ev[0].detect_t_ms, 1000 + 20);   /* trusted only after the debounce time */
	cr_assert_leq(e.ev[0].detect_t_ms, 1000 + 2 + 20);
	cr_assert_eq(e.ev[1].phase, CF_IND_PHASE_END);
	cr_assert_eq(e.ev[1].onset_t_ms, 1000);
	cr_assert_eq(e.ev[1].dur_ms, 800);
	cr_assert_eq(e.ev[0].seq, e.ev[1].seq);
	cr_assert_eq(b.stats.glitches, 0);
	cr_assert(!cf_button_pressed(&b));
}

Test(cf_button, glitch_shorter_than_debounce_is_ignored)
{
	struct cf_button b;
	struct evs e = {0};
	cr_assert_eq(cf_button_init(&b, 20, 0), 0);
	for (uint32_t t = 0; t < 500; t++)
		feed(&b, &e, t, t >= 100 && t < 110); /* 10 ms spike */
	cr_assert_eq(e.n, 0);
	cr_assert_eq(b.stats.glitches, 1);
	/* A real press afterwards is still dated correctly. */
	for (uint32_t t = 500; t < 1000; t++)
		feed(&b, &e, t, t >= 600 && t < 700);
	cr_assert_eq(e.n, 2);
	cr_assert_eq(e.ev[0].onset_t_ms, 600);
	cr_assert_eq(e.ev[1].dur_ms, 100);
}

Test(cf_button, edges_only_then_a_late_call)
{
	/* An interrupt-driven caller reports only edges; the press is trusted at the next call. */
	struct cf_button b;
	struct evs e = {0};
	cr_assert_eq(cf_button_init(&b, 20, 0), 0);
	feed(&b, &e, 100, true);
	feed(&b, &e, 101, false); /* bounce */
	feed(&b, &e, 102, true);
	cr_assert_eq(e.n, 0);
	feed(&b, &e, 900, false); /* release edge; the press settles first */
	cr_assert_eq(e.n, 1);
	cr_assert_eq(e.ev[0].phase, CF_IND_PHASE_ONSET);
	cr_assert_eq(e.ev[0].onset_t_ms, 100);
	feed(&b, &e, 950, false); /* poll */
	cr_assert_eq(e.n, 2);
	cr_assert_eq(e.ev[1].dur_ms, 800);
	/* Glitch then a later press, edges only: the glitch must not date the press. */
	feed(&b, &e, 2000, true);
	feed(&b, &e, 2005, false);
	feed(&b, &e, 3000, true);
	feed(&b, &e, 3100, true);
	cr_assert_eq(e.n, 3);
	cr_assert_eq(e.ev[2].onset_t_ms, 3000);
}

Test(cf_button, works_across_clock_wrap)
{
	struct cf_button b;
	struct evs e = {0};
	uint32_t t0 = 0xFFFFFFFFu - 300u;
	cr_assert_eq(cf_button_init(&b, 15, t0), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		uint32_t t = t0 + i;
		feed(&b, &e, t, bouncy(i, 200, 600));
	}
	cr_assert_eq(e.n, 2);
	cr_assert_eq(e.ev[0].onset_t_ms, t0 + 200u);
	cr_assert_eq(e.ev[1].dur_ms, 400);
}

Test(cf_button, rejects_time_going_backwards)
{
	struct cf_button b;
	struct cf_ind_event ev;
	cr_assert_eq(cf_button_init(&b, 0, 1000), 0);
	cr_assert_eq(b.debounce_ms, CF_BUTTON_DEBOUNCE_DEFAULT_MS);
	cr_assert_eq(cf_button_update(&b, 999, true, &ev), -ERANGE);
	cr_assert_eq(b.stats.rejected, 1);
	cr_assert_eq(cf_button_init(&b, 1001, 0), -EINVAL);
}
