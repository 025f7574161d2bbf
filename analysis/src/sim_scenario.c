/*
 * analysis/src/sim_scenario.c — scenario defaults and the INI reader (format: analysis/scenarios/README.md).
 *
 * Own small reader rather than libinih: scentrack_an does not link inih, and a scenario is a few dozen lines.
 * Strict on purpose: an unknown key is an error (a typo must not silently leave a default in a test setup).
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */

#include "an/sim.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void animal_cfg_unset(struct an_sim_animal_cfg *a)
{
	memset(a, 0, sizeof *a);
	for (unsigned i = 0; i < AN_SIM_T_COUNT; i++)
		a->sens[i] = NAN;
	a->false_per_100m2 = a->loc_sigma_m = NAN;
	a->k_depth = a->k_temp = a->k_hum = a->k_fatigue = a->fatigue_onset_min = NAN;
	a->speed_m_s = a->ind_median_s = a->p_confirm_true = a->p_confirm_false = NAN;
	a->cep_m = a->tau_s = NAN;
	a->history_targets = a->history_m2 = NAN;
	a->species = AN_SIM_RAT;
	a->rx = AN_SIM_RX_CONSUMER;
}

void an_sim_scenario_defaults(struct an_sim_scenario *sc)
{
	memset(sc, 0, sizeof *sc);
	snprintf(sc->name, sizeof sc->name, "default");
	/* Dombe, Manica province, Mozambique (APOPO's operations area, domain.md §1.1): a plausible site */
	sc->origin_lat_e7 = -196100000;
	sc->origin_lon_e7 = 339000000;
	sc->origin_alt_mm = 120000;
	sc->geoid_sep_m = -15.0;
	sc->year = 2025;
	sc->month = 3;
	sc->day = 10;
	sc->start_s = 5u * 3600u; /* 05:00 UTC = 07:00 local (CAT) */
	sc->day_len_s = 6u * 3600u;
	sc->bearing_deg = 0.0;
	sc->temp_min_c = 21.0;
	sc->temp_max_c = 33.0;
	sc->hum_min_pct = 45.0;
	sc->hum_max_pct = 85.0;
	sc->rat_boxes = 8;
	sc->dog_boxes = 4;
	sc->dog_lanes = 16;
	sc->dog_lane_len_m = 20.0;
	sc->density_per_100m2 = 0.1;
	/* OUR ASSUMPTION for the mix: mines and ERW about equal (Poling 2011: 41 mines + 54 other devices),
	 * plus the fragments and scrap that every excavation turns up (domain.md §1.4) */
	sc->mix[AN_SIM_T_AP] = 35.0;
	sc->mix[AN_SIM_T_AT] = 5.0;
	sc->mix[AN_SIM_T_UXO] = 15.0;
	sc->mix[AN_SIM_T_FRAG] = 25.0;
	sc->mix[AN_SIM_T_SCRAP] = 20.0;
	sc->qc_fraction = 0.2;
	sc->passes = 2; /* primary and second animal: the programme's SOP (domain.md §1.1, §1.2) */
	sc->rat_bout_min = 30.0;
	sc->rat_rest_min = 60.0;
	sc->rat_bouts = 2;
	sc->dog_bout_min_lo = 15.0;
	sc->dog_bout_min_hi = 30.0;
	sc->dog_rest_min = 30.0;
	sc->blind_targets = 0;
	/* the programme's SOP (domain.md §1.1 "one to three rats"): disputed pegs get a third animal */
	sc->confirm = true;
	sc->confirm_rounds = 1; /* one confirmation job per disputed box: the day as it was before rounds existed */
	sc->recorder = true;
	sc->recorder_rat_sd_m = 0.15;
	sc->recorder_dog_sd_m = 0.3;
	sc->confirm_radius_m = 1.0; /* the 1 m correct-indication rule (domain.md §1.1) */
	sc->confirm_rat_lanes = 4;  /* ±1 m about a rat's peg: ~3 σ of its pinpointing (0.15–0.35 m) */
	sc->confirm_rat_len_m = 2.0;
	sc->confirm_dog_lanes = 6;  /* ±1.8 m × ±2 m about a dog's peg: ~2.5 σ of its pinpointing (0.4–0.8 m) */
	sc->confirm_dog_len_m = 4.0;
	sc->canopy_cep_m = 12.0;
	sc->canopy_fix_loss = 0.02;
	sc->history_targets = AN_SIM_HISTORY_TARGETS_DEFAULT;
	sc->history_m2 = AN_SIM_HISTORY_M2_DEFAULT;
}

struct parser {
	struct an_sim_scenario *sc;
	const char *name;
	unsigned line;
	char *err;
	size_t err_len;
	int section; /* 0 none, 1 task, 2 layout, 3 targets, 4 schedule, 5 gnss, 6 animal, 7 history */
	struct an_sim_animal_cfg *animal;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
	if (p->err && p->err_len > 0) {
		int n = snprintf(p->err, p->err_len, "%s:%u: ", p->name, p->line);
		if (n >= 0 && (size_t)n < p->err_len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int num(struct parser *p, const char *key, const char *v, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (end == v || *trim(end) != '\0' || errno != 0 || !isfinite(x))
		return fail(p, "%s: '%s' is not a number", key, v);
	if (x < lo || x > hi)
		return fail(p, "%s: %g outside [%g, %g]", key, x, lo, hi);
	*out = x;
	return 0;
}

static int unum(struct parser *p, const char *key, const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	double x;
	int r = num(p, key, v, lo, hi, &x);
	if (r < 0)
		return r;
	if (x != floor(x))
		return fail(p, "%s: '%s' is not a whole number", key, v);
	*out = (uint32_t)x;
	return 0;
}

/* "a..b" (or a single value for both) */
static int range(struct parser *p, const char *key, char *v, double lo, double hi, double *a, double *b)
{
	char *dots = strstr(v, "..");
	if (!dots) {
		int r = num(p, key, v, lo, hi, a);
		*b = *a;
		return r;
	}
	*dots = '\0';
	int r = num(p, key, trim(v), lo, hi, a);
	if (r == 0)
		r = num(p, key, trim(dots + 2), lo, hi, b);
	if (r == 0 && *b < *a)
		return fail(p, "%s: range %g..%g is reversed", key, *a, *b);
	return r;
}

static int boolean(struct parser *p, const char *key, const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else
		return fail(p, "%s: '%s' is not yes/no", key, v);
	return 0;
}

static int tclass_of(const char *s)
{
	for (int i = 0; i < AN_SIM_T_COUNT; i++)
		if (!strcmp(s, an_sim_tclass_name(i)))
			return i;
	return -1;
}

static int key_task(struct parser *p, const char *k, char *v)
{
	struct an_sim_scenario *sc = p->sc;
	double x, y;
	int r;
	if (!strcmp(k, "name")) {
		if (strlen(v) >= sizeof sc->name)
			return fail(p, "name: longer than %zu characters", sizeof sc->name - 1);
		snprintf(sc->name, sizeof sc->name, "%s", v);
		return 0;
	}
	if (!strcmp(k, "origin")) {
		char *comma = strchr(v, ',');
		if (!comma)
			return fail(p, "origin: expected 'lat, lon' in decimal degrees");
		*comma = '\0';
		if ((r = num(p, "origin latitude", trim(v), -89.0, 89.0, &x)) < 0 ||
		    (r = num(p, "origin longitude", trim(comma + 1), -180.0, 180.0, &y)) < 0)
			return r;
		sc->origin_lat_e7 = (int32_t)lround(x * 1e7);
		sc->origin_lon_e7 = (int32_t)lround(y * 1e7);
		return 0;
	}
	if (!strcmp(k, "origin_alt_m")) {
		if ((r = num(p, k, v, -500.0, 9000.0, &x)) < 0)
			return r;
		sc->origin_alt_mm = (int32_t)lround(x * 1000.0);
		return 0;
	}
	if (!strcmp(k, "geoid_sep_m"))
		return num(p, k, v, -110.0, 110.0, &sc->geoid_sep_m);
	if (!strcmp(k, "date")) {
		int yy, mm, dd, n = 0;
		if (sscanf(v, "%4d-%2d-%2d%n", &yy, &mm, &dd, &n) != 3 || v[n] != '\0' || yy < 2000 || yy > 2099 ||
		    mm < 1 || mm > 12 || dd < 1 || dd > 31)
			return fail(p, "date: '%s' is not YYYY-MM-DD (2000..2099)", v);
		sc->year = yy, sc->month = mm, sc->day = dd;
		return 0;
	}
	if (!strcmp(k, "start_utc")) {
		/* HH:MM, or HH:MM:SS (the live demo starts the day to the second, so the map's fixes are "now") */
		int hh, mi, ss = 0, n = 0, m = 0;
		if (sscanf(v, "%2d:%2d%n:%2d%n", &hh, &mi, &n, &ss, &m) < 2 || v[m ? m : n] != '\0' || hh < 0 ||
		    hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59)
			return fail(p, "start_utc: '%s' is not HH:MM or HH:MM:SS", v);
		sc->start_s = (uint32_t)(hh * 3600 + mi * 60 + ss);
		return 0;
	}
	if (!strcmp(k, "day_hours")) {
		if ((r = num(p, k, v, 0.25, 16.0, &x)) < 0)
			return r;
		sc->day_len_s = (uint32_t)lround(x * 3600.0);
		return 0;
	}
	if (!strcmp(k, "bearing_deg"))
		return num(p, k, v, -360.0, 360.0, &sc->bearing_deg);
	if (!strcmp(k, "temp_c"))
		return range(p, k, v, -20.0, 55.0, &sc->temp_min_c, &sc->temp_max_c);
	if (!strcmp(k, "hum_pct"))
		return range(p, k, v, 0.0, 100.0, &sc->hum_min_pct, &sc->hum_max_pct);
	return fail(p, "unknown key '%s' in [task]", k);
}

static int key_layout(struct parser *p, const char *k, char *v)
{
	struct an_sim_scenario *sc = p->sc;
	if (!strcmp(k, "rat_boxes"))
		return unum(p, k, v, 0, AN_SIM_BOXES_MAX / 2, &sc->rat_boxes);
	if (!strcmp(k, "dog_boxes"))
		return unum(p, k, v, 0, AN_SIM_BOXES_MAX / 2 - 1, &sc->dog_boxes);
	if (!strcmp(k, "dog_lanes"))
		return unum(p, k, v, 1, 200, &sc->dog_lanes);
	if (!strcmp(k, "dog_lane_len_m"))
		return num(p, k, v, 2.0, 200.0, &sc->dog_lane_len_m);
	if (!strcmp(k, "qc_fraction"))
		return num(p, k, v, 0.0, 1.0, &sc->qc_fraction);
	if (!strcmp(k, "passes"))
		return unum(p, k, v, AN_SIM_PASSES_MIN, AN_SIM_PASSES_MAX, &sc->passes);
	return fail(p, "unknown key '%s' in [layout]", k);
}

static int key_targets(struct parser *p, const char *k, char *v)
{
	struct an_sim_scenario *sc = p->sc;
	if (!strcmp(k, "density")) {
		if (!strcmp(v, "low"))
			sc->density_per_100m2 = 0.015;
		else if (!strcmp(v, "medium"))
			sc->density_per_100m2 = 0.1;
		else if (!strcmp(v, "dense"))
			sc->density_per_100m2 = 2.0;
		else
			return num(p, "density (per 100 m², or low|medium|dense)", v, 0.0, 50.0, &sc->density_per_100m2);
		return 0;
	}
	if (!strcmp(k, "mix")) {
		double m[AN_SIM_T_COUNT] = {0};
		char *save = NULL;
		for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(tok, ':');
			if (!colon)
				return fail(p, "mix: expected class:weight, got '%s'", trim(tok));
			*colon = '\0';
			int c = tclass_of(trim(tok));
			if (c < 0)
				return fail(p, "mix: unknown class '%s' (ap, at, uxo, frag, scrap)", trim(tok));
			int r = num(p, "mix weight", trim(colon + 1), 0.0, 1e6, &m[c]);
			if (r < 0)
				return r;
		}
		double sum = 0;
		for (unsigned i = 0; i < AN_SIM_T_COUNT; i++)
			sum += m[i];
		if (!(sum > 0.0))
			return fail(p, "mix: all weights are zero");
		memcpy(sc->mix, m, sizeof m);
		return 0;
	}
	if (!strcmp(k, "blind_targets"))
		return unum(p, k, v, 0, 40, &sc->blind_targets);
	return fail(p, "unknown key '%s' in [targets]", k);
}

static int key_schedule(struct parser *p, const char *k, char *v)
{
	struct an_sim_scenario *sc = p->sc;
	if (!strcmp(k, "rat_bout_min"))
		return num(p, k, v, 5.0, 240.0, &sc->rat_bout_min);
	if (!strcmp(k, "rat_rest_min"))
		return num(p, k, v, 0.0, 600.0, &sc->rat_rest_min);
	if (!strcmp(k, "rat_bouts"))
		return unum(p, k, v, 1, 20, &sc->rat_bouts);
	if (!strcmp(k, "dog_bout_min"))
		return range(p, k, v, 5.0, 240.0, &sc->dog_bout_min_lo, &sc->dog_bout_min_hi);
	if (!strcmp(k, "dog_rest_min"))
		return num(p, k, v, 0.0, 600.0, &sc->dog_rest_min);
	if (!strcmp(k, "confirm"))
		return boolean(p, k, v, &sc->confirm);
	if (!strcmp(k, "recorder"))
		return boolean(p, k, v, &sc->recorder);
	if (!strcmp(k, "recorder_rat_sd_m"))
		return num(p, k, v, 0.0, 10.0, &sc->recorder_rat_sd_m);
	if (!strcmp(k, "recorder_dog_sd_m"))
		return num(p, k, v, 0.0, 10.0, &sc->recorder_dog_sd_m);
	if (!strcmp(k, "confirm_radius_m"))
		return num(p, k, v, 0.1, 10.0, &sc->confirm_radius_m);
	if (!strcmp(k, "confirm_rounds"))
		return unum(p, k, v, 1, AN_SIM_CONFIRM_ROUNDS_MAX, &sc->confirm_rounds);
	if (!strcmp(k, "confirm_rat_lanes"))
		return unum(p, k, v, 1, 80, &sc->confirm_rat_lanes);
	if (!strcmp(k, "confirm_rat_len_m"))
		return num(p, k, v, 0.5, 200.0, &sc->confirm_rat_len_m);
	if (!strcmp(k, "confirm_dog_lanes"))
		return unum(p, k, v, 1, 200, &sc->confirm_dog_lanes);
	if (!strcmp(k, "confirm_dog_len_m"))
		return num(p, k, v, 0.5, 200.0, &sc->confirm_dog_len_m);
	return fail(p, "unknown key '%s' in [schedule]", k);
}

static int key_gnss(struct parser *p, const char *k, char *v)
{
	struct an_sim_scenario *sc = p->sc;
	if (!strcmp(k, "canopy_cep_m"))
		return num(p, k, v, 0.5, 100.0, &sc->canopy_cep_m);
	if (!strcmp(k, "canopy_fix_loss"))
		return num(p, k, v, 0.0, 0.5, &sc->canopy_fix_loss);
	if (!strcmp(k, "canopy")) {
		if (sc->n_canopy >= AN_SIM_RECTS_MAX)
			return fail(p, "canopy: more than %u rectangles", AN_SIM_RECTS_MAX);
		double c[4];
		char *save = NULL, *tok = strtok_r(v, ",", &save);
		for (int i = 0; i < 4; i++, tok = strtok_r(NULL, ",", &save)) {
			if (!tok)
				return fail(p, "canopy: expected e0_m, n0_m, e1_m, n1_m");
			int r = num(p, "canopy", trim(tok), -1e6, 1e6, &c[i]);
			if (r < 0)
				return r;
		}
		if (tok)
			return fail(p, "canopy: more than 4 numbers");
		struct an_sim_rect *rc = &sc->canopy[sc->n_canopy++];
		rc->e0_m = fmin(c[0], c[2]), rc->e1_m = fmax(c[0], c[2]);
		rc->n0_m = fmin(c[1], c[3]), rc->n1_m = fmax(c[1], c[3]);
		return 0;
	}
	return fail(p, "unknown key '%s' in [gnss]", k);
}

static int key_animal(struct parser *p, const char *k, char *v)
{
	struct an_sim_animal_cfg *a = p->animal;
	if (!strcmp(k, "species")) {
		if (!strcmp(v, "rat"))
			a->species = AN_SIM_RAT;
		else if (!strcmp(v, "dog"))
			a->species = AN_SIM_DOG;
		else
			return fail(p, "species: '%s' is not rat or dog", v);
		return 0;
	}
	if (!strcmp(k, "rx")) {
		for (int i = 0; i < AN_SIM_RX_COUNT; i++)
			if (!strcmp(v, an_sim_rx_name(i))) {
				a->rx = i;
				return 0;
			}
		return fail(p, "rx: '%s' is not consumer, sbas, rtk_float or rtk_fixed", v);
	}
	if (!strcmp(k, "blind"))
		return boolean(p, k, v, &a->blind);
	if (!strcmp(k, "sens")) {
		double x;
		int r = num(p, k, v, 0.0, 1.0, &x);
		for (int i = 0; r == 0 && i < AN_SIM_T_SCRAP; i++)
			a->sens[i] = x;
		return r;
	}
	if (!strncmp(k, "sens_", 5)) {
		int c = tclass_of(k + 5);
		if (c < 0 || c == AN_SIM_T_SCRAP)
			return fail(p, "unknown key '%s' (sens_ap, sens_at, sens_uxo, sens_frag)", k);
		return num(p, k, v, 0.0, 1.0, &a->sens[c]);
	}
	static const struct {
		const char *key;
		size_t off;
		double lo, hi;
	} dk[] = {
		{"false_per_100m2", offsetof(struct an_sim_animal_cfg, false_per_100m2), 0.0, 100.0},
		{"loc_sigma_m", offsetof(struct an_sim_animal_cfg, loc_sigma_m), 0.0, 10.0},
		{"k_depth", offsetof(struct an_sim_animal_cfg, k_depth), 0.0, 10.0},
		{"k_temp", offsetof(struct an_sim_animal_cfg, k_temp), -1.0, 1.0},
		{"k_hum", offsetof(struct an_sim_animal_cfg, k_hum), -2.0, 2.0},
		{"k_fatigue", offsetof(struct an_sim_animal_cfg, k_fatigue), 0.0, 10.0},
		{"fatigue_onset_min", offsetof(struct an_sim_animal_cfg, fatigue_onset_min), 0.0, 600.0},
		{"speed_m_s", offsetof(struct an_sim_animal_cfg, speed_m_s), 0.02, 3.0},
		{"ind_median_s", offsetof(struct an_sim_animal_cfg, ind_median_s), 0.5, 120.0},
		{"p_confirm_true", offsetof(struct an_sim_animal_cfg, p_confirm_true), 0.0, 1.0},
		{"p_confirm_false", offsetof(struct an_sim_animal_cfg, p_confirm_false), 0.0, 1.0},
		{"cep_m", offsetof(struct an_sim_animal_cfg, cep_m), 0.001, 100.0},
		{"tau_s", offsetof(struct an_sim_animal_cfg, tau_s), 0.5, 3600.0},
		{"history_targets", offsetof(struct an_sim_animal_cfg, history_targets), 0.0, 100000.0},
		{"history_m2", offsetof(struct an_sim_animal_cfg, history_m2), 0.0, 1e8},
	};
	for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++)
		if (!strcmp(k, dk[i].key))
			return num(p, k, v, dk[i].lo, dk[i].hi, (double *)(void *)((char *)a + dk[i].off));
	return fail(p, "unknown key '%s' in [animal %s]", k, a->name);
}

/* [history]: the trainers' record every animal has before the day (an/sim.h HISTORY) */
static int key_history(struct parser *p, const char *k, char *v)
{
	if (!strcmp(k, "targets"))
		return num(p, k, v, 0.0, 100000.0, &p->sc->history_targets);
	if (!strcmp(k, "m2"))
		return num(p, k, v, 0.0, 1e8, &p->sc->history_m2);
	return fail(p, "unknown key '%s' in [history] (targets, m2)", k);
}

static int section(struct parser *p, char *s)
{
	char *sp = s;
	while (*sp && !isspace((unsigned char)*sp))
		sp++;
	char *arg = NULL;
	if (*sp) {
		*sp = '\0';
		arg = trim(sp + 1);
	}
	static const char *const names[] = {"task", "layout", "targets", "schedule", "gnss"};
	for (int i = 0; i < 5; i++)
		if (!strcmp(s, names[i])) {
			if (arg && *arg)
				return fail(p, "[%s] takes no name", s);
			p->section = i + 1;
			return 0;
		}
	if (!strcmp(s, "history")) {
		if (arg && *arg)
			return fail(p, "[%s] takes no name", s);
		p->section = 7;
		return 0;
	}
	if (strcmp(s, "animal") != 0)
		return fail(p, "unknown section [%s] (task, layout, targets, schedule, gnss, history, animal NAME)", s);
	if (!arg || !*arg)
		return fail(p, "[animal] needs a name: [animal R01]");
	if (strlen(arg) >= AN_SIM_NAME_MAX)
		return fail(p, "animal name '%s' longer than %u characters", arg, AN_SIM_NAME_MAX - 1);
	for (const char *c = arg; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return fail(p, "animal name '%s': only letters, digits, '_' and '-' (it names files)", arg);
	for (uint32_t i = 0; i < p->sc->n_animals; i++)
		if (!strcmp(p->sc->animals[i].name, arg))
			return fail(p, "animal '%s' defined twice", arg);
	if (p->sc->n_animals >= AN_SIM_ANIMALS_MAX)
		return fail(p, "more than %u animals", AN_SIM_ANIMALS_MAX);
	p->animal = &p->sc->animals[p->sc->n_animals++];
	animal_cfg_unset(p->animal);
	snprintf(p->animal->name, sizeof p->animal->name, "%s", arg);
	p->section = 6;
	return 0;
}

int an_sim_scenario_parse(struct an_sim_scenario *sc, const char *text, const char *name, char *err,
			  size_t err_len)
{
	struct parser p = {.sc = sc, .name = name ? name : "scenario", .err = err, .err_len = err_len};
	if (!sc || !text)
		return -EINVAL;
	const char *s = text;
	char buf[512];
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		p.line++;
		if (n >= sizeof buf)
			return fail(&p, "line longer than %zu characters", sizeof buf - 1);
		memcpy(buf, s, n);
		buf[n] = '\0';
		s += n + (nl ? 1 : 0);
		/* comments: ';' or '#' at line start or after whitespace */
		for (char *c = buf; *c; c++)
			if ((*c == ';' || *c == '#') && (c == buf || isspace((unsigned char)c[-1]))) {
				*c = '\0';
				break;
			}
		char *l = trim(buf);
		if (!*l)
			continue;
		int r;
		if (*l == '[') {
			char *close = strchr(l, ']');
			if (!close || *trim(close + 1) != '\0')
				return fail(&p, "section header without ']'");
			*close = '\0';
			if ((r = section(&p, trim(l + 1))) < 0)
				return r;
			continue;
		}
		char *eq = strchr(l, '=');
		if (!eq)
			return fail(&p, "expected 'key = value' or '[section]'");
		*eq = '\0';
		char *k = trim(l), *v = trim(eq + 1);
		if (!*v)
			return fail(&p, "%s: empty value", k);
		switch (p.section) {
		case 1: r = key_task(&p, k, v); break;
		case 2: r = key_layout(&p, k, v); break;
		case 3: r = key_targets(&p, k, v); break;
		case 4: r = key_schedule(&p, k, v); break;
		case 5: r = key_gnss(&p, k, v); break;
		case 6: r = key_animal(&p, k, v); break;
		case 7: r = key_history(&p, k, v); break;
		default: r = fail(&p, "'%s' outside any section", k); break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int an_sim_scenario_load(struct an_sim_scenario *sc, const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(e));
		return e == ENOENT ? -ENOENT : -EIO;
	}
	enum { MAX = 256 * 1024 };
	char *text = malloc(MAX + 1);
	int r = -ENOMEM;
	if (!text)
		goto close_file;
	size_t n = fread(text, 1, MAX + 1, f);
	if (ferror(f)) {
		if (err && err_len)
			snprintf(err, err_len, "%s: read error", path);
		r = -EIO;
		goto free_text;
	}
	if (n > MAX) {
		if (err && err_len)
			snprintf(err, err_len, "%s: larger than %d bytes", path, MAX);
		r = -EINVAL;
		goto free_text;
	}
	text[n] = '\0';
	if (strlen(text) != n) {
		if (err && err_len)
			snprintf(err, err_len, "%s: contains a NUL byte", path);
		r = -EINVAL;
		goto free_text;
	}
	r = an_sim_scenario_parse(sc, text, path, err, err_len);
free_text:
	free(text);
close_file:
	fclose(f);
	return r;
}
