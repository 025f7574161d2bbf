/*
 * core/button.c — handler button debouncer (see cf/button.h).
 *
 * State: the trusted level (stable), the last raw level, and whether raw has left the trusted level
 * ("moving"). A transition is accepted only after debounce_ms without any edge, and it is dated by its
 * first edge: contact bounce delays when we trust a press, never when we say it happened.
 *
 * Each call first settles what the time elapsed since the last edge already decides (so a caller that
 * only reports edges still gets correct results), then records the new edge, if any.
 */
#include <errno.h>

#include "cf/button.h"

int cf_button_init(struct cf_button *b, uint16_t debounce_ms, uint32_t t_ms)
{
	if (debounce_ms > 1000u)
		return -EINVAL;
	*b = (struct cf_button){0};
	b->debounce_ms = debounce_ms ? debounce_ms : (uint16_t)CF_BUTTON_DEBOUNCE_DEFAULT_MS;
	b->t_last_ms = t_ms;
	b->t_last_edge_ms = t_ms;
	return 0;
}

static int button_settle(struct cf_button *b, uint32_t t_ms, struct cf_ind_event *out)
{
	if (!b->moving || t_ms - b->t_last_edge_ms < b->debounce_ms)
		return 0;
	b->moving = false;
	if (b->raw == b->stable) {
		b->stats.glitches++;
		return 0;
	}
	b->stable = b->raw;
	*out = (struct cf_ind_event){
		.kind = CF_IND_HANDLER_MARK,
		.source = CF_IND_SRC_HANDLER,
		.conf = 100,
		.detect_t_ms = t_ms,
	};
	if (b->stable) {
		b->seq++;
		b->t_press_ms = b->t_first_edge_ms;
		out->phase = CF_IND_PHASE_ONSET;
		out->onset_t_ms = b->t_press_ms;
		out->dur_ms = 0;
	} else {
		out->phase = CF_IND_PHASE_END;
		out->onset_t_ms = b->t_press_ms;
		out->dur_ms = b->t_first_edge_ms - b->t_press_ms;
	}
	out->seq = b->seq;
	return 1;
}

int cf_button_update(struct cf_button *b, uint32_t t_ms, bool pressed, struct cf_ind_event *out)
{
	/* Signed difference: hal_clock wraps after 49.7 days and must keep working across the wrap. */
	if ((int32_t)(t_ms - b->t_last_ms) < 0) {
		b->stats.rejected++;
		return -ERANGE;
	}
	b->t_last_ms = t_ms;

	int n = button_settle(b, t_ms, out);
	if (pressed != b->raw) {
		b->stats.edges++;
		b->raw = pressed;
		b->t_last_edge_ms = t_ms;
		if (!b->moving && pressed != b->stable) {
			b->moving = true;
			b->t_first_edge_ms = t_ms;
		}
	}
	return n;
}

bool cf_button_pressed(const struct cf_button *b)
{
	return b->stable;
}
