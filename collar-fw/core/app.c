/*
 * core/app.c — the collar application glue (see cf/app.h for the policies; this file says why where it
 * is not obvious).
 *
 * Ordering rule that everything here keeps: a record's body names its own rec_seq, and the journal issues
 * rec_seqs, so the body is encoded with cf_journal_next_seq() and appended at once — the application is the
 * journal's only writer (the link only reads and acks), so the prediction cannot be overtaken.
 */
#include "cf/app.h"

#include <errno.h>
#include <string.h>

#include "proto/msg.h"

static int32_t diff_ms(uint32_t a, uint32_t b)
{
	/* wrapping clock: a - b as a signed distance */
	return (int32_t)(a - b);
}

void cf_app_cfg_default(struct cf_app_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->species = CF_SPECIES_DOG;
	cfg->pair_hold_ms = UINT32_MAX;
	cfg->seed = 1;
}

/* ---- FIX -------------------------------------------------------------------------------------------- */

static int faa_known(char m)
{
	return m == 'A' || m == 'D' || m == 'E' || m == 'F' || m == 'M' || m == 'N' || m == 'P' || m == 'R' ||
	       m == 'S';
}

int cf_app_fix_from_nmea(const struct cf_fix *in, uint32_t now_ms, struct proto_fix *out, uint32_t *dropped)
{
	uint32_t drop = 0;

	memset(out, 0, sizeof *out);
	if (!(in->has & CF_FIX_HAS_POS)) {
		return -EINVAL;
	}
	out->lat_e7 = in->lat_e7;
	out->lon_e7 = in->lon_e7;
	/* A receiver date outside the wire's range (a rollover the parser could not fix, a receiver RTC in
	 * 1980) is not a time: the record falls back to the monotonic clock rather than being refused. */
	if ((in->has & CF_FIX_HAS_TIME) && in->t_ms >= (int64_t)PROTO_UTC_MS_MIN &&
	    in->t_ms < (int64_t)PROTO_UTC_MS_MAX) {
		out->has |= PROTO_FIX_HAS_T;
		out->t_ms = (uint64_t)in->t_ms;
		if (in->tq_flags & CF_TQ_ROLLOVER) {
			out->has |= PROTO_FIX_HAS_TQ;
			out->tq = PROTO_TQ_ROLLOVER;
		}
	} else {
		if (in->has & CF_FIX_HAS_TIME) {
			drop++;
		}
		out->has |= PROTO_FIX_HAS_TMONO;
		out->t_mono_ms = now_ms;
	}
	if (in->has & CF_FIX_HAS_ALT) {
		if (in->alt_mm >= -1000000 && in->alt_mm <= 20000000) {
			out->has |= PROTO_FIX_HAS_ALT;
			out->alt_mm = in->alt_mm;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_HDOP) {
		if (in->hdop_c <= 9999u) {
			out->has |= PROTO_FIX_HAS_HDOP;
			out->hdop_c = in->hdop_c;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_HACC) {
		if (in->h_acc_mm <= 100000000u) {
			out->has |= PROTO_FIX_HAS_HACC;
			out->h_acc_mm = in->h_acc_mm;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_GGA_Q) {
		if (in->gga_q <= 8u) {
			out->has |= PROTO_FIX_HAS_Q;
			out->gga_q = in->gga_q;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_FAA) {
		if (faa_known(in->faa_mode)) {
			out->has |= PROTO_FIX_HAS_MODE;
			out->faa_mode = (uint8_t)in->faa_mode;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_FIX_DIM) {
		if (in->fix_dim >= 1u && in->fix_dim <= 3u) {
			out->has |= PROTO_FIX_HAS_DIM;
			out->fix_dim = in->fix_dim;
		} else {
			drop++;
		}
	}
	if (in->has & CF_FIX_HAS_NSAT) {
		out->has |= PROTO_FIX_HAS_NSAT;
		out->nsat = in->nsat;
	}
	if (in->has & CF_FIX_HAS_SOG) {
		out->has |= PROTO_FIX_HAS_SOG;
		out->sog_cms = in->sog_cms;
	}
	if (in->has & CF_FIX_HAS_COG) {
		if (in->cog_cdeg <= 35999u) {
			out->has |= PROTO_FIX_HAS_COG;
			out->cog_cdeg = in->cog_cdeg;
		} else {
			drop++;
		}
	}
	if (dropped != NULL) {
		*dropped += drop;
	}
	return 0;
}

static int fail(struct cf_app *a, int err)
{
	a->broken = 1;
	a->st.journal_errors++;
	return err;
}

static int append(struct cf_app *a, uint8_t type, size_t len, uint32_t expect_seq)
{
	uint32_t seq = 0;
	int err = cf_journal_append(&a->j, type, a->body, len, &seq);
	if (err < 0) {
		return fail(a, err);
	}
	if (seq != expect_seq) {
		/* impossible while the application is the only writer; refuse to go on with bodies that lie */
		return fail(a, -EIO);
	}
	if (a->cfg.on_record != NULL) {
		a->cfg.on_record(a->cfg.hook_ctx, seq, type, a->body, len);
	}
	return 0;
}

static int journal_fix(struct cf_app *a)
{
	struct cf_app_lastfix *lf = &a->last;
	size_t len;
	uint32_t seq = cf_journal_next_seq(&a->j);

	lf->fix.rec_seq = seq;
	if (proto_fix_encode(&lf->fix, a->body, sizeof a->body, &len) != 0) {
		a->st.fix_encode_err++;
		lf->valid = 0;
		return 0;
	}
	int err = append(a, PROTO_T_FIX, len, seq);
	if (err < 0) {
		return err;
	}
	lf->journaled = 1;
	lf->rec_seq = seq;
	a->have_fix_j = 1;
	a->last_fix_j_ms = lf->clock_ms;
	a->st.fixes_journaled++;
	return 0;
}

static int any_held(const struct cf_app *a)
{
	for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
		if (a->held[i].used) {
			return 1;
		}
	}
	return 0;
}

uint32_t cf_app_report_period_ms(const struct cf_app *a, uint32_t now_ms)
{
	if (a->cmd_rate_ms != 0) {
		return a->cmd_rate_ms; /* the gateway's command wins over the configured rate */
	}
	if (a->cfg.rate_ms != 0) {
		return a->cfg.rate_ms;
	}
	enum cf_motion_state ms = cf_classify_state(&a->cls);
	struct cf_rate_in in = {.mode = a->mode, .override_ms = a->cmd_rate_ms};
	/* The IMU is the better witness of "not moving"; GNSS speed is the fallback when there is none (a
	 * collar without IMU data, or right after a gap in the samples). */
	if (a->have_accel && ms != CF_MOTION_UNKNOWN) {
		in.stationary = ms == CF_MOTION_STATIONARY;
	} else {
		in.stationary = a->sog_still;
	}
	in.indicating = ms == CF_MOTION_INDICATING || any_held(a) || (a->have_btn && cf_button_pressed(&a->btn)) ||
	                (a->have_ind && (uint32_t)diff_ms(now_ms, a->last_ind_ms) < CF_APP_IND_TAIL_MS &&
	                 diff_ms(now_ms, a->last_ind_ms) >= 0);
	return cf_link_report_period_ms(&in);
}

static int handle_fix(struct cf_app *a, uint32_t now, const struct cf_fix *f)
{
	a->st.fixes_in++;
	if (!(f->has & CF_FIX_HAS_POS)) {
		a->st.fixes_no_pos++;
		return 0;
	}
	struct cf_app_lastfix *lf = &a->last;
	if (cf_app_fix_from_nmea(f, now, &lf->fix, &a->st.fix_field_drop) != 0) {
		a->st.fixes_no_pos++;
		return 0;
	}
	lf->valid = 1;
	lf->journaled = 0;
	lf->clock_ms = now;
	if (lf->fix.has & PROTO_FIX_HAS_T) {
		a->have_utc = 1;
		a->utc_ms = (int64_t)lf->fix.t_ms;
		a->utc_clock_ms = now;
	}
	a->sog_still = (f->has & CF_FIX_HAS_SOG) && f->sog_cms < CF_APP_STILL_SOG_CMS;

	uint32_t period = cf_app_report_period_ms(a, now);
	if (a->have_fix_j) {
		int32_t since = diff_ms(now, a->last_fix_j_ms);
		/* the slack absorbs arrival jitter of a receiver's period (tens of ms), never a whole epoch */
		uint32_t slack = period / 10u < CF_APP_RATE_SLACK_MS ? period / 10u : CF_APP_RATE_SLACK_MS;
		if (since >= 0 && (uint32_t)since < period - slack) {
			a->st.fixes_rate_skip++;
			return 0;
		}
	}
	return journal_fix(a);
}

/*
 * A record is completed only when the NEXT epoch's first sentence arrives (or at the configured last
 * sentence), up to a receiver period after its own sentences. Dating it by the completion would put every
 * fix a period late on the collar clock, and with it the UTC anchor that dates indications (~0.5 m for a
 * walking dog at 1 Hz). So the clock is noted when an epoch is first seen open, and the record gets that.
 */
static void track_epoch(struct cf_app *a, uint32_t now)
{
	const struct cf_nmea *p = &a->nmea;
	uint8_t timed = p->cur_open && (p->cur.has & CF_FIX_HAS_TOD);
	if (!p->cur_open) {
		a->ep_open = 0;
	} else if (!a->ep_open || a->ep_timed != timed || (timed && p->cur.tod_ms != a->ep_tod_ms)) {
		a->ep_open = 1;
		a->ep_timed = timed;
		a->ep_tod_ms = p->cur.tod_ms;
		a->ep_clock_ms = now;
	}
}

static uint32_t fix_clock(const struct cf_app *a, const struct cf_fix *f, uint32_t now)
{
	if (a->ep_open && a->ep_timed && (f->has & CF_FIX_HAS_TOD) && f->tod_ms == a->ep_tod_ms &&
	    diff_ms(now, a->ep_clock_ms) >= 0) {
		return a->ep_clock_ms;
	}
	return now;
}

void cf_app_gnss_set_epoch_clock(struct cf_app *a, uint32_t clock_ms)
{
	if (a->ep_open) {
		a->ep_clock_ms = clock_ms;
	}
}

static int drain_parser(struct cf_app *a, uint32_t now, const uint8_t *p, size_t len, int *records)
{
	struct cf_fix fix;
	for (;;) {
		size_t used = 0;
		int r = cf_nmea_feed(&a->nmea, p, len, &used, &fix);
		if (r < 0) {
			return r;
		}
		p += used;
		len -= used;
		if (r == 1) {
			(*records)++;
			uint32_t fc = fix_clock(a, &fix, now);
			track_epoch(a, now);
			int err = handle_fix(a, fc, &fix);
			if (err < 0) {
				return err;
			}
			continue; /* two records can complete at once: call again, also with len 0 */
		}
		track_epoch(a, now);
		if (len == 0) {
			return 0;
		}
	}
}

int cf_app_gnss_feed(struct cf_app *a, uint32_t now_ms, const void *bytes, size_t len)
{
	int records = 0;
	if (a->broken) {
		return -EIO;
	}
	if (bytes == NULL && len > 0) {
		return -EINVAL;
	}
	int err = drain_parser(a, now_ms, bytes, len, &records);
	return err < 0 ? err : records;
}

int cf_app_gnss_flush(struct cf_app *a, uint32_t now_ms)
{
	struct cf_fix fix;
	int records = 0;
	if (a->broken) {
		return -EIO;
	}
	while (cf_nmea_flush(&a->nmea, &fix) == 1) {
		records++;
		int err = handle_fix(a, fix_clock(a, &fix, now_ms), &fix);
		if (err < 0) {
			return err;
		}
	}
	a->ep_open = 0;
	return records;
}

int cf_app_gnss_epoch_tod(const struct cf_app *a, uint32_t *tod_ms)
{
	if (!a->nmea.cur_open || !(a->nmea.cur.has & CF_FIX_HAS_TOD)) {
		return -ENOENT;
	}
	*tod_ms = a->nmea.cur.tod_ms;
	return 0;
}

/* ---- IND -------------------------------------------------------------------------------------------- */

/* UTC of clock instant t: receiver time first (the collar's own best clock), then the gateway's. */
static int utc_at(const struct cf_app *a, uint32_t now, uint32_t t, int64_t *utc)
{
	uint64_t gw;
	int64_t u;
	int32_t d;

	if (a->have_utc && (d = diff_ms(t, a->utc_clock_ms)) > -(int32_t)CF_APP_UTC_ANCHOR_MAX_MS &&
	    d < (int32_t)CF_APP_UTC_ANCHOR_MAX_MS) {
		u = a->utc_ms + d;
	} else if (cf_link_gateway_utc(&a->link, now, &gw) == 0) {
		u = (int64_t)gw - diff_ms(now, t);
	} else if (a->have_set_utc) {
		u = a->set_utc_ms + diff_ms(t, a->set_utc_clock_ms);
	} else {
		return -ENOENT;
	}
	if (u < (int64_t)PROTO_UTC_MS_MIN || u >= (int64_t)PROTO_UTC_MS_MAX) {
		return -ERANGE;
	}
	*utc = u;
	return 0;
}

static uint8_t ind_kind(uint8_t k)
{
	return k == CF_IND_SIT ? PROTO_IND_SIT : k == CF_IND_SCRATCH ? PROTO_IND_SCRATCH : PROTO_IND_MARK;
}

static uint8_t ind_src(uint8_t s)
{
	return s == CF_IND_SRC_COLLAR ? PROTO_SRC_CLASSIFIER : s == CF_IND_SRC_HANDLER ? PROTO_SRC_BUTTON
	                                                                                : PROTO_SRC_BOTH;
}

/* The handler's verdict is the length of the press (cf/app.h HANDLER VERDICT): a tap confirms, holding the
 * button down rejects. */
static uint8_t press_verdict(uint32_t press_ms)
{
	return press_ms < CF_APP_VERDICT_REJECT_MS ? PROTO_VERDICT_CONFIRMED : PROTO_VERDICT_REJECTED;
}

/* The press an event is, if it is one (a handler mark on its own). */
static const struct cf_ind_event *as_press(const struct cf_ind_event *e)
{
	return e->source == CF_IND_SRC_HANDLER ? e : NULL;
}

/* Remember an IND journaled before an END it still needs: key = the event whose END will complete it (NULL:
 * none, it was final), press = a press combined into it whose END will bring the verdict (NULL: none). */
static void open_remember(struct cf_app *a, const struct cf_ind_event *key, const struct cf_ind_event *press,
                          const struct proto_ind *ind)
{
	struct cf_app_open *o = NULL;

	for (unsigned i = 0; i < CF_APP_OPEN_MAX && o == NULL; i++)
		if (!a->open[i].used)
			o = &a->open[i];
	if (o == NULL) {
		o = &a->open[a->open_next];
		a->open_next = (uint8_t)((a->open_next + 1u) % CF_APP_OPEN_MAX);
		a->st.open_overflow++;
	}
	*o = (struct cf_app_open){.used = 1, .ind = *ind};
	/* a verdict the IND carried is said once: its completions must not repeat it */
	o->ind.has &= ~PROTO_IND_HAS_VERDICT;
	o->ind.verdict = 0;
	if (key != NULL) {
		o->wait_end = 1;
		o->source = key->source;
		o->kind = key->kind;
		o->seq = key->seq;
	}
	if (press != NULL) {
		o->wait_press = 1;
		o->press_seq = press->seq;
	}
}

/* Journal a completion of o's IND: dur/conf as given, and a verdict if nonzero. */
static int journal_completion_of(struct cf_app *a, const struct cf_app_open *o, uint32_t dur_ms, uint8_t conf,
                                 uint8_t verdict)
{
	struct proto_ind c = o->ind;
	size_t len;

	c.has |= PROTO_IND_HAS_DUR | PROTO_IND_HAS_CONF | PROTO_IND_HAS_COMPLETES;
	c.completes = o->ind.rec_seq;
	c.dur_ms = dur_ms;
	c.conf_pct = conf > 100u ? 100u : conf;
	if (verdict != 0) {
		c.has |= PROTO_IND_HAS_VERDICT;
		c.verdict = verdict;
	}
	c.rec_seq = cf_journal_next_seq(&a->j);
	if (proto_ind_encode(&c, a->body, sizeof a->body, &len) != 0)
		return fail(a, -EINVAL); /* built from a record that encoded: a bug */
	int err = append(a, PROTO_T_IND, len, c.rec_seq);
	if (err < 0)
		return err;
	a->st.ind_completed++;
	if (verdict != 0)
		a->st.verdicts++;
	return 0;
}

/*
 * The END of an event whose indication is already journaled:
 *   - the END of the event that completes it: its completion (final duration and confidence; a handler mark
 *     on its own also gets the verdict of its press);
 *   - the END of a press combined into it: a completion carrying the verdict, with the newest dur/conf
 *     already sent (the core keeps the newest completion's), journaled at once so the verdict is durable
 *     when the handler lifts the finger, not when the animal stands up.
 */
static int journal_completion(struct cf_app *a, const struct cf_ind_event *e)
{
	int press = e->source == CF_IND_SRC_HANDLER;

	for (unsigned i = 0; i < CF_APP_OPEN_MAX; i++) {
		struct cf_app_open *o = &a->open[i];
		int err;
		if (!o->used)
			continue;
		if (o->wait_end && o->source == e->source && o->seq == e->seq && o->kind == e->kind) {
			/* never shorter than what was already said (the classifier's END counts from its own onset) */
			uint32_t dur = e->dur_ms > o->ind.dur_ms ? e->dur_ms : o->ind.dur_ms;
			err = journal_completion_of(a, o, dur, e->conf, press ? press_verdict(e->dur_ms) : 0);
			if (err < 0)
				return err;
			o->wait_end = 0;
			o->ind.dur_ms = dur;
			o->ind.conf_pct = e->conf > 100u ? 100u : e->conf;
		} else if (press && o->wait_press && o->press_seq == e->seq) {
			err = journal_completion_of(a, o, o->ind.dur_ms, o->ind.conf_pct, press_verdict(e->dur_ms));
			if (err < 0)
				return err;
			o->wait_press = 0;
		} else {
			continue;
		}
		o->used = o->wait_end || o->wait_press;
		return 0;
	}
	a->st.ind_end_unmatched++;
	if (press)
		a->st.verdicts_lost++;
	return 0;
}

/*
 * Journal one indication. ended: ev holds the final duration; key: the event whose END completes it (used
 * only when !ended); press: the handler's press in it (a mark on its own, or combined), NULL if none, and
 * press_ended: that press is over, so its verdict goes in this record.
 */
static int journal_ind(struct cf_app *a, uint32_t now, const struct cf_ind_event *ev, int ended,
                       const struct cf_ind_event *key, const struct cf_ind_event *press, int press_ended)
{
	struct proto_ind ind;
	int64_t utc;
	size_t len;
	int err;

	memset(&ind, 0, sizeof ind);
	if (a->last.valid && diff_ms(now, a->last.clock_ms) >= 0 &&
	    (uint32_t)diff_ms(now, a->last.clock_ms) <= CF_APP_IND_POS_MAX_AGE_MS) {
		/* the position of an indication is what the core needs most: if the report period skipped the
		 * latest epoch, journal it now so fix_ref names a FIX the gateway will have */
		if (!a->last.journaled) {
			err = journal_fix(a);
			if (err < 0) {
				return err;
			}
		}
	}
	if (a->last.valid && a->last.journaled && diff_ms(now, a->last.clock_ms) >= 0 &&
	    (uint32_t)diff_ms(now, a->last.clock_ms) <= CF_APP_IND_POS_MAX_AGE_MS) {
		ind.has |= PROTO_IND_HAS_POS | PROTO_IND_HAS_FIXREF;
		ind.lat_e7 = a->last.fix.lat_e7;
		ind.lon_e7 = a->last.fix.lon_e7;
		ind.fix_ref = a->last.rec_seq;
		if (a->last.fix.has & PROTO_FIX_HAS_HACC) {
			ind.has |= PROTO_IND_HAS_HACC;
			ind.h_acc_mm = a->last.fix.h_acc_mm;
		}
	} else {
		a->st.ind_no_pos++;
	}
	if (utc_at(a, now, ev->onset_t_ms, &utc) == 0) {
		ind.has |= PROTO_IND_HAS_T;
		ind.t_ms = (uint64_t)utc;
	} else {
		ind.has |= PROTO_IND_HAS_TMONO;
		ind.t_mono_ms = ev->onset_t_ms;
	}
	/* duration known now: final after an END, else "so far" (a lower bound) */
	uint32_t dur = ev->dur_ms;
	int32_t so_far = diff_ms(now, ev->onset_t_ms);
	if (!ended && so_far > 0 && (uint32_t)so_far > dur) {
		dur = (uint32_t)so_far;
	}
	ind.has |= PROTO_IND_HAS_DUR | PROTO_IND_HAS_CONF;
	ind.dur_ms = dur;
	ind.conf_pct = ev->conf > 100u ? 100u : ev->conf;
	ind.kind = ind_kind(ev->kind);
	ind.src = ind_src(ev->source);
	if (press != NULL && press_ended) {
		ind.has |= PROTO_IND_HAS_VERDICT;
		ind.verdict = press_verdict(press->dur_ms);
	}
	ind.rec_seq = cf_journal_next_seq(&a->j);
	err = proto_ind_encode(&ind, a->body, sizeof a->body, &len);
	if (err != 0) {
		/* every field above is in range by construction: this is a bug, not bad input */
		return fail(a, -EINVAL);
	}
	err = append(a, PROTO_T_IND, len, ind.rec_seq);
	if (err < 0) {
		return err;
	}
	if (ind.has & PROTO_IND_HAS_VERDICT) {
		a->st.verdicts++;
	}
	/* what is still to come: the END that completes it, and the END of a press combined into it (a mark
	 * on its own is its own key: its END brings both) */
	const struct cf_ind_event *wait_key = !ended ? key : NULL;
	const struct cf_ind_event *wait_press = press != NULL && !press_ended && press != key ? press : NULL;
	if (wait_key != NULL || wait_press != NULL) {
		open_remember(a, wait_key, wait_press, &ind);
	}
	a->st.ind_journaled++;
	if (ev->source == CF_IND_SRC_BOTH) {
		a->st.ind_both++;
	}
	return 0;
}

/* Classifier event first, handler mark second, as cf_classify_combine wants them. */
static int combine(const struct cf_ind_event *x, const struct cf_ind_event *y, struct cf_ind_event *out)
{
	if (x->source == CF_IND_SRC_COLLAR && y->source == CF_IND_SRC_HANDLER) {
		return cf_classify_combine(x, y, CF_APP_COMBINE_WINDOW_MS, out);
	}
	if (x->source == CF_IND_SRC_HANDLER && y->source == CF_IND_SRC_COLLAR) {
		return cf_classify_combine(y, x, CF_APP_COMBINE_WINDOW_MS, out);
	}
	return 0;
}

static uint32_t hold_ms(const struct cf_app *a)
{
	return a->cfg.pair_hold_ms == UINT32_MAX ? CF_APP_PAIR_HOLD_MS : a->cfg.pair_hold_ms;
}

static int handle_event(struct cf_app *a, uint32_t now, const struct cf_ind_event *e)
{
	struct cf_ind_event both;

	a->have_ind = 1;
	a->last_ind_ms = now;
	if (e->phase == CF_IND_PHASE_END) {
		for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
			struct cf_app_held *h = &a->held[i];
			if (h->used && h->ev.source == e->source && h->ev.seq == e->seq && h->ev.kind == e->kind) {
				h->ev.dur_ms = e->dur_ms;
				h->ev.conf = e->conf;
				h->ended = 1;
				a->st.ind_end_in_hold++;
				return 0;
			}
		}
		a->st.ind_end_after++;
		return journal_completion(a, e);
	}
	a->st.ind_onsets++;
	for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
		struct cf_app_held *h = &a->held[i];
		if (h->used && combine(&h->ev, e, &both) == 1) {
			/* the classifier's view of the behaviour wins (cf_classify_combine); it is final only if the
			 * classifier event is the held one and its END came */
			int held_cls = h->ev.source == CF_IND_SRC_COLLAR;
			int ended = h->ended && held_cls;
			h->used = 0;
			/* the classifier's END completes a combined IND (its view of the behaviour wins); the press
			 * brings the verdict: now if it ended in the hold, else with its own END */
			return journal_ind(a, now, &both, ended, held_cls ? &h->ev : e, held_cls ? e : &h->ev,
			                   !held_cls && h->ended);
		}
	}
	uint32_t hold = hold_ms(a);
	if (hold == 0) {
		return journal_ind(a, now, e, 0, e, as_press(e), 0);
	}
	struct cf_app_held *slot = NULL, *oldest = NULL;
	for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
		struct cf_app_held *h = &a->held[i];
		if (!h->used) {
			slot = h;
			break;
		}
		if (oldest == NULL || diff_ms(h->deadline_ms, oldest->deadline_ms) < 0) {
			oldest = h;
		}
	}
	if (slot == NULL) {
		a->st.held_overflow++;
		int err = journal_ind(a, now, &oldest->ev, oldest->ended, &oldest->ev, as_press(&oldest->ev),
		                      oldest->ended);
		oldest->used = 0;
		if (err < 0) {
			return err;
		}
		slot = oldest;
	}
	slot->used = 1;
	slot->ended = 0;
	slot->ev = *e;
	slot->deadline_ms = now + hold;
	return 0;
}

static int flush_held(struct cf_app *a, uint32_t now, int all)
{
	for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
		struct cf_app_held *h = &a->held[i];
		if (h->used && (all || diff_ms(now, h->deadline_ms) >= 0)) {
			h->used = 0;
			int err = journal_ind(a, now, &h->ev, h->ended, &h->ev, as_press(&h->ev), h->ended);
			if (err < 0) {
				return err;
			}
		}
	}
	return 0;
}

int cf_app_accel(struct cf_app *a, const struct cf_accel_sample *s)
{
	struct cf_ind_event ev[CF_CLASSIFY_MAX_EVENTS];
	if (a->broken) {
		return -EIO;
	}
	a->have_accel = 1;
	int n = cf_classify_push(&a->cls, s, ev);
	if (n < 0) {
		a->st.accel_rejected++;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		int err = handle_event(a, s->t_ms, &ev[i]);
		if (err < 0) {
			return err;
		}
	}
	return 0;
}

int cf_app_button(struct cf_app *a, uint32_t t_ms, bool pressed)
{
	struct cf_ind_event ev;
	if (a->broken) {
		return -EIO;
	}
	a->have_btn = 1;
	a->btn_raw = pressed;
	int n = cf_button_update(&a->btn, t_ms, pressed, &ev);
	if (n < 0) {
		a->st.button_rejected++;
		return 0;
	}
	return n == 1 ? handle_event(a, t_ms, &ev) : 0;
}

int cf_app_tick(struct cf_app *a, uint32_t now_ms)
{
	struct cf_ind_event ev;
	if (a->broken) {
		return -EIO;
	}
	if (a->have_btn && diff_ms(now_ms, a->btn.t_last_ms) >= 0) {
		/* a press becomes trusted only when the debouncer is asked after debounce_ms of quiet */
		if (cf_button_update(&a->btn, now_ms, a->btn_raw, &ev) == 1) {
			int err = handle_event(a, now_ms, &ev);
			if (err < 0) {
				return err;
			}
		}
	}
	int err = flush_held(a, now_ms, 0);
	if (err < 0) {
		return err;
	}
	if (a->cfg.wdt_kick != NULL) {
		a->cfg.wdt_kick(a->cfg.hook_ctx);
	}
	a->st.wdt_kicks++;
	return 0;
}

/* ---- radio, commands -------------------------------------------------------------------------------- */

/* The commanded configuration <-> journal app state bytes 9..14 (bytes 0..8 are the link's CMD memory):
 * u8 flags (1: rate set, 2: mode set), u32 rate_ms, u8 mode. Persisted before the CMD is acknowledged. */
#define APP_ST_OFF CF_LINK_APP_STATE_BYTES
static int cfg_save(struct cf_app *a)
{
	uint8_t st[CF_JOURNAL_APP_STATE];

	cf_journal_app_state(&a->j, st);
	st[APP_ST_OFF] = (uint8_t)((a->cmd_rate_ms ? 1u : 0u) | (a->mode ? 2u : 0u));
	for (unsigned b = 0; b < 4; b++)
		st[APP_ST_OFF + 1u + b] = (uint8_t)(a->cmd_rate_ms >> (8u * b));
	st[APP_ST_OFF + 5u] = a->mode;
	return cf_journal_app_state_set(&a->j, st);
}

static void cfg_load(struct cf_app *a)
{
	uint8_t st[CF_JOURNAL_APP_STATE];
	uint32_t rate = 0;

	cf_journal_app_state(&a->j, st);
	for (unsigned b = 0; b < 4; b++)
		rate |= (uint32_t)st[APP_ST_OFF + 1u + b] << (8u * b);
	if ((st[APP_ST_OFF] & 1u) && rate >= 100u && rate <= 86400000u)
		a->cmd_rate_ms = rate;
	if ((st[APP_ST_OFF] & 2u) && st[APP_ST_OFF + 5u] >= PROTO_MODE_STANDBY && st[APP_ST_OFF + 5u] <= PROTO_MODE_TRANSIT)
		a->mode = st[APP_ST_OFF + 5u];
}

static uint8_t app_cmd_run(struct cf_app *a, const struct proto_cmd *c, uint32_t now_ms);

static uint8_t app_cmd(void *ctx, const struct proto_cmd *c, uint32_t now_ms)
{
	struct cf_app *a = ctx;
	uint8_t res = app_cmd_run(a, c, now_ms);
	if (a->cfg.on_cmd != NULL) {
		a->cfg.on_cmd(a->cfg.hook_ctx, c, res);
	}
	return res;
}

static uint8_t app_cmd_run(struct cf_app *a, const struct proto_cmd *c, uint32_t now_ms)
{
	struct cf_journal_stats js;

	a->st.cmds++;
	switch (c->op) {
	case PROTO_OP_SET_RATE:
		a->cmd_rate_ms = c->period_ms;
		return cfg_save(a) == 0 ? PROTO_RES_DONE : PROTO_RES_FAILED;
	case PROTO_OP_SET_MODE:
		a->mode = c->mode;
		return cfg_save(a) == 0 ? PROTO_RES_DONE : PROTO_RES_FAILED;
	case PROTO_OP_TIME_SET:
		a->have_set_utc = 1;
		a->set_utc_ms = (int64_t)c->utc_ms;
		a->set_utc_clock_ms = now_ms;
		cf_nmea_set_reference_time(&a->nmea, (int64_t)c->utc_ms);
		a->st.ref_time_sets++;
		return PROTO_RES_DONE;
	case PROTO_OP_ERASE_ACKED:
		if (cf_journal_stats(&a->j, &js) != 0) {
			return PROTO_RES_FAILED;
		}
		return js.ack_cum >= c->upto_seq ? PROTO_RES_DONE : PROTO_RES_REJECTED;
	default:
		return PROTO_RES_UNSUPPORTED;
	}
}

int cf_app_radio_rx(struct cf_app *a, uint32_t now_ms, const uint8_t *bytes, size_t len)
{
	uint64_t gw;
	if (a->broken) {
		return -EIO;
	}
	int n = cf_link_on_rx(&a->link, now_ms, bytes, len);
	if (n < 0) {
		return fail(a, n);
	}
	if (n > 0 && cf_link_gateway_utc(&a->link, now_ms, &gw) == 0 && gw != a->last_ref_ms) {
		cf_nmea_set_reference_time(&a->nmea, (int64_t)gw);
		a->last_ref_ms = gw;
		a->st.ref_time_sets++;
	}
	return n;
}

int cf_app_radio_poll(struct cf_app *a, uint32_t now_ms, uint8_t *out, size_t cap, size_t *len)
{
	if (a->broken) {
		*len = 0;
		return -EIO;
	}
	int r = cf_link_poll(&a->link, now_ms, out, cap, len);
	if (r == -EIO || r == -EOVERFLOW) {
		return fail(a, r);
	}
	return r;
}

uint32_t cf_app_next_deadline(const struct cf_app *a, uint32_t now_ms)
{
	uint32_t t = cf_link_next_deadline(&a->link, now_ms);
	for (unsigned i = 0; i < CF_APP_HELD_MAX; i++) {
		if (a->held[i].used && diff_ms(a->held[i].deadline_ms, t) < 0) {
			t = a->held[i].deadline_ms;
		}
	}
	if (a->have_btn && a->btn.moving) {
		uint32_t b = a->btn.t_last_edge_ms + a->btn.debounce_ms;
		if (diff_ms(b, t) < 0) {
			t = b;
		}
	}
	return t;
}

void cf_app_set_health(struct cf_app *a, uint32_t has, uint16_t batt_mv, uint8_t batt_pct, int16_t temp_dc)
{
	cf_link_set_health(&a->link, has, batt_mv, batt_pct, temp_dc);
}

int cf_app_link_is_up(const struct cf_app *a)
{
	return cf_link_is_up(&a->link);
}

unsigned cf_app_in_flight(const struct cf_app *a)
{
	return cf_link_in_flight(&a->link);
}

const struct cf_app_stats *cf_app_stats(const struct cf_app *a)
{
	return &a->st;
}

const struct cf_link_stats *cf_app_link_stats(const struct cf_app *a)
{
	return cf_link_stats(&a->link);
}

struct cf_journal *cf_app_journal(struct cf_app *a)
{
	return &a->j;
}

struct cf_nmea *cf_app_nmea(struct cf_app *a)
{
	return &a->nmea;
}

int cf_app_init(struct cf_app *a, const struct cf_app_cfg *cfg, const struct hal_flash *flash, uint32_t now_ms)
{
	struct cf_classify_config cc;
	struct cf_link_cfg lc;
	int err;

	if (cfg == NULL || flash == NULL || cfg->collar_id == 0 || cfg->key == NULL ||
	    (cfg->species != CF_SPECIES_RAT && cfg->species != CF_SPECIES_DOG)) {
		return -EINVAL;
	}
	memset(a, 0, sizeof *a);
	a->cfg = *cfg;
	a->flash = flash;
	cf_nmea_init(&a->nmea, NULL);
	cf_classify_config_default(&cc, (enum cf_species)cfg->species);
	err = cf_classify_init(&a->cls, &cc);
	if (err < 0) {
		return err;
	}
	err = cf_button_init(&a->btn, 0, now_ms);
	if (err < 0) {
		return err;
	}
	err = cf_journal_mount(&a->j, flash);
	if (err < 0) {
		return err;
	}
	cfg_load(a); /* the configuration the gateway commanded before a reboot stays */
	if (cfg->link != NULL) {
		lc = *cfg->link;
	} else {
		memset(&lc, 0, sizeof lc);
	}
	lc.collar_id = cfg->collar_id;
	lc.key = cfg->key;
	lc.seed = cfg->seed;
	lc.caps |= PROTO_CAP_CLASSIFIER | PROTO_CAP_BUTTON;
	lc.on_cmd = app_cmd;
	lc.cmd_ctx = a;
	err = cf_link_init(&a->link, &lc, &a->j, now_ms);
	if (err < 0) {
		return err;
	}
	return 0;
}
