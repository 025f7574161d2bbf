/*
 * cf/button.h — handler button debouncer producing "handler-mark" indication events.
 *
 * The handler presses a button (on the handset or the collar) at the moment the animal indicates.
 * Mechanical contacts bounce for a few milliseconds on press and release. The debouncer accepts a new
 * level once the raw input has stayed at it for debounce_ms without an edge; the event then carries
 * the time of the FIRST edge of that bouncy transition (when the handler actually pressed), not the
 * time the level became trusted. A pulse shorter than debounce_ms (a glitch) produces nothing.
 *
 * Feed it either every poll of the pin, or every edge interrupt plus a periodic poll (the level only
 * becomes trusted when cf_button_update() is called after debounce_ms of quiet).
 *
 * Events are struct cf_ind_event (cf/classify.h), kind CF_IND_HANDLER_MARK, source CF_IND_SRC_HANDLER,
 * conf 100: PHASE_ONSET at the debounced press (dur_ms 0), PHASE_END at the debounced release with
 * dur_ms = release edge - press edge. Combine with the classifier via cf_classify_combine(). That press length
 * is the handler's verdict on the indication (a tap confirms, a hold of CF_APP_VERDICT_REJECT_MS or more
 * rejects): cf/app.h HANDLER VERDICT.
 */
#ifndef CF_BUTTON_H
#define CF_BUTTON_H

#include <stdbool.h>
#include <stdint.h>

#include "cf/classify.h"

#define CF_BUTTON_DEBOUNCE_DEFAULT_MS 20u

struct cf_button_stats {
	uint32_t edges;    /* raw level changes seen */
	uint32_t glitches; /* excursions shorter than debounce_ms, ignored */
	uint32_t rejected; /* updates with a timestamp before the previous one */
};

/* Caller-allocated; fields below stats are private to core/button.c. */
struct cf_button {
	struct cf_button_stats stats;
	uint16_t debounce_ms;
	uint16_t seq;
	bool stable;         /* debounced level: true = pressed */
	bool raw;            /* last raw level seen */
	bool moving;         /* raw has left the stable level, not yet trusted */
	uint32_t t_first_edge_ms; /* first edge of the current transition */
	uint32_t t_last_edge_ms;  /* latest raw edge */
	uint32_t t_last_ms;
	uint32_t t_press_ms;      /* first edge of the current debounced press */
};

/*
 * Start released at time t_ms. debounce_ms 0 means CF_BUTTON_DEBOUNCE_DEFAULT_MS.
 * @retval -EINVAL debounce_ms > 1000 (a press would feel ignored)
 */
int cf_button_init(struct cf_button *b, uint16_t debounce_ms, uint32_t t_ms)
	__attribute__((warn_unused_result));

/*
 * Raw pin level at t_ms (true = contact closed). Writes at most one event.
 * @return 1 if *out was written, 0 if not
 * @retval -ERANGE t_ms is before the previous update (ignored and counted)
 */
int cf_button_update(struct cf_button *b, uint32_t t_ms, bool pressed, struct cf_ind_event *out)
	__attribute__((warn_unused_result));

/* Debounced level. */
bool cf_button_pressed(const struct cf_button *b);

#endif
