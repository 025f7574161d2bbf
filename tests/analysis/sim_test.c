/*
 * tests/analysis/sim_test.c — the simulator's realism and determinism checks (an/sim.h).
 *
 * Statistical tests use fixed seeds and bounds of about ±3.3 standard errors (two-sided 99.9 %), so a
 * correct model fails with probability ~1e-3 per assertion for a NEW seed, and never for these seeds; a
 * model off by the tolerances named in each test fails for any seed.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/geo.h"
#include "an/sim.h"
#include "cf/motion.h"
#include "cf/nmea.h"

/* ------------------------------------------------------------------ helpers */
static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_d);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double quantile(double *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, cmp_d);
	return v[(size_t)(q * (double)(n - 1))];
}

static void scenario(struct an_sim_scenario *sc, const char *text)
{
	char err[256] = "";
	an_sim_scenario_defaults(sc);
	int r = an_sim_scenario_parse(sc, text, "test", err, sizeof err);
	cr_assert_eq(r, 0, "scenario: %s", err);
}

static void build(struct an_sim_world *w, const struct an_sim_scenario *sc, uint64_t seed)
{
	char err[256] = "";
	int r = an_sim_world_build(w, sc, seed, err, sizeof err);
	cr_assert_eq(r, 0, "build: %s", err);
}

static const char *small_day = "[task]\n"
			       "day_hours = 1.5\n"
			       "[layout]\nrat_boxes = 2\ndog_boxes = 1\ndog_lanes = 6\ndog_lane_len_m = 10\n"
			       "[targets]\ndensity = 3\nblind_targets = 2\n"
			       "[gnss]\ncanopy = 0, 40, 40, 60\n"
			       "[animal R1]\nspecies = rat\nblind = yes\n"
			       "[animal R2]\nspecies = rat\nrx = rtk_fixed\n"
			       "[animal D1]\nspecies = dog\nrx = sbas\n";

/* ------------------------------------------------------------------ scenario format */
Test(sim_scenario, reference_loads)
{
	struct an_sim_scenario sc;
	char err[256] = "";
	an_sim_scenario_defaults(&sc);
	int r = an_sim_scenario_load(&sc, SCENTRACK_SOURCE_DIR "/analysis/scenarios/reference.ini", err, sizeof err);
	cr_assert_eq(r, 0, "%s", err);
	cr_assert_eq(sc.n_animals, 9);
	cr_assert_eq(sc.rat_boxes, 8);
	cr_assert_eq(sc.n_canopy, 2);
	cr_assert_eq(sc.animals[7].species, AN_SIM_DOG);
	cr_assert_eq(sc.animals[8].species, AN_SIM_DOG, "the third dog, for the dogs' disputed pegs");
	cr_assert(sc.confirm);
	cr_assert_eq(sc.animals[5].rx, AN_SIM_RX_RTK_FIXED);
	cr_assert_float_eq(sc.animals[3].false_per_100m2, 0.33, 1e-12);
	cr_assert(isnan(sc.animals[0].false_per_100m2), "unset parameters stay NAN (drawn later)");
}

Test(sim_scenario, errors_name_the_line)
{
	struct an_sim_scenario sc;
	char err[256];
	struct {
		const char *text, *want;
	} cases[] = {
		{"[task]\nname = x\nbogus = 1\n", "test:3: unknown key 'bogus'"},
		{"[layout]\nrat_boxes = -1\n", "test:2: rat_boxes"},
		{"[targets]\nmix = ap:1, tnt:2\n", "unknown class 'tnt'"},
		{"[animal R1]\n[animal R1]\n", "test:2: animal 'R1' defined twice"},
		{"[animal a/b]\n", "only letters"},
		{"[task]\ndate = 2025-13-01\n", "test:2: date"},
		{"rat_boxes = 3\n", "test:1: 'rat_boxes' outside any section"},
		{"[animal R1]\nsens = 1.5\n", "outside [0, 1]"},
		{"[gnss]\ncanopy = 1, 2, 3\n", "canopy: expected"},
		{"[schedule]\nconfirm = maybe\n", "test:2: confirm: 'maybe' is not yes/no"},
		{"[schedule]\nconfirm_radius = 1\n", "unknown key 'confirm_radius' in [schedule]"},
		{"[schedule]\nconfirm_rat_lanes = 0\n", "test:2: confirm_rat_lanes"},
		{"[schedule]\nconfirm_rounds = 0\n", "test:2: confirm_rounds"},
		{"[schedule]\nconfirm_rounds = 9\n", "test:2: confirm_rounds"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		an_sim_scenario_defaults(&sc);
		err[0] = '\0';
		int r = an_sim_scenario_parse(&sc, cases[i].text, "test", err, sizeof err);
		cr_assert_eq(r, -EINVAL, "case %zu accepted", i);
		cr_assert(strstr(err, cases[i].want), "case %zu: '%s' lacks '%s'", i, err, cases[i].want);
	}
	struct an_sim_world w;
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_world_build(&w, &sc, 1, err, sizeof err), -EINVAL, "no animals must be refused");
	cr_assert(strstr(err, "no [animal"));
}

/* ------------------------------------------------------------------ determinism */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	cr_assert(b);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void run_to(const struct an_sim_scenario *sc, uint64_t seed, char *dir)
{
	struct an_sim_world w;
	char err[256] = "";
	build(&w, sc, seed);
	cr_assert(mkdtemp(dir), "mkdtemp");
	struct an_sim_write_opts o = {.accel = AN_SIM_ACCEL_CSV, .tracks = true, .nmea = true};
	int r = an_sim_write(&w, dir, &o, err, sizeof err);
	cr_assert_eq(r, 0, "write: %s", err);
	an_sim_world_free(&w);
}

/* Compares every file of a with b; returns the number of files that differ. Removes both trees. */
static int compare_dirs(const char *a, const char *b, int *files)
{
	DIR *d = opendir(a);
	cr_assert(d);
	struct dirent *de;
	int differ = 0;
	*files = 0;
	char pa[1024], pb[1024];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
		snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
		size_t la, lb;
		char *x = slurp(pa, &la), *y = slurp(pb, &lb);
		differ += la != lb || memcmp(x, y, la) != 0;
		free(x);
		free(y);
		(*files)++;
		unlink(pa);
		unlink(pb);
	}
	closedir(d);
	rmdir(a);
	rmdir(b);
	return differ;
}

Test(sim_determinism, same_seed_same_bytes_other_seed_differs, .timeout = 120)
{
	struct an_sim_scenario sc;
	scenario(&sc, small_day);
	char d1[] = "/tmp/an_sim_a_XXXXXX", d2[] = "/tmp/an_sim_b_XXXXXX", d3[] = "/tmp/an_sim_c_XXXXXX",
	     d4[] = "/tmp/an_sim_d_XXXXXX";
	run_to(&sc, 42, d1);
	run_to(&sc, 42, d2);
	int files = 0;
	cr_assert_eq(compare_dirs(d1, d2, &files), 0, "same seed gave different files");
	/* manifest, boxes, truth, animals, passes, exposures, indications, patches, history, boxpos + 5 per
	 * collar (track, nmea, accel, labels, button) × 3 collars */
	cr_assert_eq(files, 10 + 5 * 3, "files written: %d", files);
	run_to(&sc, 42, d3);
	run_to(&sc, 43, d4);
	int differ = compare_dirs(d3, d4, &files);
	/* boxes.csv is seed-independent (the layout is geometry), and so is patches.csv when neither seed had a
	 * disputed peg (header only); the rest must change */
	cr_assert_geq(differ, files - 2, "another seed changed only %d of %d files", differ, files);
}

/* `confirm = no` writes, byte for byte, what the simulator wrote before confirmation passes existed: the
 * fixture is ci.ini seed 1 as written by the build before them (`--accel none --no-nmea --no-tracks`). Same
 * machine determinism (an/sim.h): another libm may move a last digit. */
Test(sim_determinism, confirm_no_reproduces_the_old_schedule, .timeout = 60)
{
	static const char *const names[] = {"manifest.txt", "boxes.csv", "truth.csv", "animals.csv", "passes.csv",
					    "exposures.csv", "indications.csv", "collar_R01.button.csv",
					    "collar_R02.button.csv", "collar_R03.button.csv", "collar_D01.button.csv",
					    "collar_D02.button.csv"};
	struct an_sim_scenario sc;
	char err[256] = "";
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_scenario_load(&sc, SCENTRACK_SOURCE_DIR "/analysis/scenarios/ci.ini", err, sizeof err), 0, "%s",
		     err);
	cr_assert(sc.confirm, "confirmation is the default");
	cr_assert_eq(an_sim_scenario_parse(&sc, "[schedule]\nconfirm = no\n", "test", err, sizeof err), 0, "%s", err);
	struct an_sim_world w;
	build(&w, &sc, 1);
	char dir[] = "/tmp/an_sim_old_XXXXXX";
	cr_assert(mkdtemp(dir));
	struct an_sim_write_opts o = {.accel = AN_SIM_ACCEL_NONE, .tracks = false, .nmea = false};
	cr_assert_eq(an_sim_write(&w, dir, &o, err, sizeof err), 0, "write: %s", err);
	an_sim_world_free(&w);
	char pa[512], pb[512];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(pa, sizeof pa, "%s/%s", dir, names[i]);
		snprintf(pb, sizeof pb, SCENTRACK_SOURCE_DIR "/tests/analysis/sim/ci_seed1_confirm_no/%s", names[i]);
		size_t la, lb;
		char *x = slurp(pa, &la), *y = slurp(pb, &lb);
		cr_expect(la == lb && memcmp(x, y, la) == 0, "%s differs from the file written before confirmation", names[i]);
		free(x);
		free(y);
		unlink(pa);
	}
	snprintf(pa, sizeof pa, "%s/patches.csv", dir);
	cr_assert_neq(access(pa, F_OK), 0, "confirm = no must not write patches.csv");
	/* the trainers' history (history.csv) and the recorder's sheet (boxpos.csv) came after this fixture: the
	 * only files it may not have */
	snprintf(pa, sizeof pa, "%s/history.csv", dir);
	unlink(pa);
	snprintf(pa, sizeof pa, "%s/boxpos.csv", dir);
	cr_expect_eq(unlink(pa), 0, "the recorder is on by default: boxpos.csv");
	cr_assert_eq(rmdir(dir), 0, "%s: a file more than before (%s)", dir, strerror(errno));
}

/* ------------------------------------------------------------------ the trainers' history (sim_history.c) */
static const char *many_rats(double fa, const char *extra);

/* History on its own substream: switching it off ([history] targets = 0) leaves every other file byte for byte
 * as it was, and history.csv is then a header line. */
Test(sim_history, off_moves_nothing_else_on_is_deterministic, .timeout = 120)
{
	struct an_sim_scenario on, off;
	char text[2048];
	scenario(&on, small_day);
	snprintf(text, sizeof text, "%s[history]\ntargets = 0\n", small_day);
	scenario(&off, text);
	struct an_sim_world w;
	build(&w, &on, 42);
	cr_expect_eq(w.n_hist, 2 * w.n_animals);
	an_sim_world_free(&w);
	build(&w, &off, 42);
	cr_expect_eq(w.n_hist, 0);
	an_sim_world_free(&w);
	char d1[] = "/tmp/an_sim_h1_XXXXXX", d2[] = "/tmp/an_sim_h2_XXXXXX";
	run_to(&on, 42, d1);
	char hp[64];
	snprintf(hp, sizeof hp, "%s/history.csv", d1);
	size_t len;
	char *h = slurp(hp, &len);
	static const char head[] = "animal,source,as_of_utc_ms,hits,misses,false_inds,area_m2,s_hist\nR1,accreditation,";
	cr_expect(len > sizeof head && strncmp(h, head, sizeof head - 1) == 0, "%.*s", (int)len, h);
	free(h);
	run_to(&off, 42, d2);
	int files = 0;
	cr_expect_eq(compare_dirs(d1, d2, &files), 1, "history changed another file");
	cr_expect_eq(files, 10 + 5 * 3); /* with patches.csv and boxpos.csv (confirmation, recorder: on by default) */
}

/* The counts are drawn from the TRUE parameters under the documented conditions, never from the day: with a
 * flat model (no depth, heat, humidity effect) s_hist is the animal's base sensitivity; hits are binomial,
 * false indications Poisson at the animal's rate; records are cumulative; changing the day (targets, boxes)
 * leaves the history as it was; an animal can be new on its own. */
Test(sim_history, counts_follow_the_true_parameters_not_the_day, .timeout = 120)
{
	char extra[256];
	snprintf(extra, sizeof extra, "sens = 0.8\nk_depth = 0\nk_temp = 0\nk_hum = 0\nhistory_targets = 400\n"
	                              "history_m2 = 20000\n");
	struct an_sim_scenario sc;
	scenario(&sc, many_rats(0.35, extra));
	sc.animals[3].history_targets = 0; /* a new rat among calibrated ones */
	sc.rat_boxes = 4;                  /* a short day: the history does not depend on it */
	struct an_sim_world w, w2;
	build(&w, &sc, 7);
	cr_assert_eq(w.n_hist, 2 * (w.n_animals - 1));
	double hits = 0, n = 0, fa = 0, fa_expect = 0;
	for (uint32_t i = 0; i < w.n_hist; i += 2) {
		const struct an_sim_history *acc = &w.hist[i], *tr = &w.hist[i + 1];
		cr_assert_eq(acc->animal, tr->animal);
		cr_assert_neq(acc->animal, 3);
		cr_assert(acc->src == AN_SIM_HIST_ACCREDITATION && tr->src == AN_SIM_HIST_TRAINING);
		cr_assert_lt(acc->as_of_ms, tr->as_of_ms);
		cr_assert_lt(tr->as_of_ms, w.day0_utc_ms, "the history is before the day");
		cr_assert(acc->hits <= tr->hits && acc->misses <= tr->misses && acc->false_inds <= tr->false_inds);
		cr_assert_eq(tr->hits + tr->misses, 400);
		cr_assert_eq(tr->area_m2, 20000.0);
		cr_assert_float_eq(tr->s_hist, 0.8, 1e-12, "flat model: s_hist %.15f", tr->s_hist);
		hits += tr->hits;
		n += 400;
		fa += tr->false_inds;
		fa_expect += w.animals[tr->animal].p.false_per_100m2 / 100.0 * 20000.0;
	}
	cr_expect(fabs(hits - 0.8 * n) <= 3.29 * sqrt(n * 0.8 * 0.2), "%.0f hits of %.0f", hits, n);
	cr_expect(fabs(fa - fa_expect) <= 3.29 * sqrt(fa_expect), "%.0f false, expected %.1f", fa, fa_expect);
	sc.rat_boxes = 9;
	sc.density_per_100m2 = 1.0;
	build(&w2, &sc, 7);
	cr_assert_eq(w2.n_hist, w.n_hist);
	cr_expect(memcmp(w.hist, w2.hist, w.n_hist * sizeof *w.hist) == 0, "the day moved the history");
	an_sim_world_free(&w);
	an_sim_world_free(&w2);
	/* the real model: heat and depth make s_hist lower than the base sensitivity, never higher */
	struct an_sim_scenario ref;
	char err[256];
	an_sim_scenario_defaults(&ref);
	cr_assert_eq(an_sim_scenario_load(&ref, SCENTRACK_SOURCE_DIR "/analysis/scenarios/reference.ini", err, sizeof err),
	             0, "%s", err);
	build(&w, &ref, 1);
	for (uint32_t a = 0; a < w.n_animals; a++) {
		double s = an_sim_history_sens(&w, a), smax = 0;
		for (int c = 0; c < AN_SIM_T_FRAG; c++)
			smax = fmax(smax, w.animals[a].p.sens[c]);
		cr_expect(s > 0.3 && s < smax, "animal %u: s_hist %.3f, base up to %.3f", a, s, smax);
	}
	an_sim_world_free(&w);
}

Test(sim_scenario, history_keys)
{
	struct an_sim_scenario sc;
	scenario(&sc, "[history]\ntargets = 150\nm2 = 2500\n[animal R1]\nhistory_targets = 0\n[animal R2]\nhistory_m2 = 10\n");
	cr_expect_eq(sc.history_targets, 150.0);
	cr_expect_eq(sc.history_m2, 2500.0);
	cr_expect_eq(sc.animals[0].history_targets, 0.0);
	cr_expect(isnan(sc.animals[0].history_m2));
	cr_expect_eq(sc.animals[1].history_m2, 10.0);
	an_sim_scenario_defaults(&sc);
	cr_expect_eq(sc.history_targets, AN_SIM_HISTORY_TARGETS_DEFAULT);
	char err[256] = "";
	cr_expect_eq(an_sim_scenario_parse(&sc, "[history]\nrecords = 3\n", "t", err, sizeof err), -EINVAL);
	cr_expect(strstr(err, "t:2") && strstr(err, "records"), "%s", err);
	cr_expect_eq(an_sim_scenario_parse(&sc, "[history]\ntargets = -1\n", "t", err, sizeof err), -EINVAL);
}

/* ------------------------------------------------------------------ GNSS error model */
static void gm_stats(int rx, double cep, double tau, bool canopy, double canopy_cep, size_t n, uint64_t seed,
		     double *med, double *p95, double *rho_tau, double *lost_frac, double *sigma_rep)
{
	double *r = malloc(n * sizeof *r), *xe = malloc(n * sizeof *xe);
	cr_assert(r && xe);
	struct an_sim_gnss g;
	cr_assert_eq(an_sim_gnss_init(&g, rx, cep, tau, canopy_cep, 0.02, seed, 7), 0);
	size_t nfix = 0, lost = 0;
	for (size_t i = 0; i < n; i++) {
		struct an_sim_gnss_out o;
		an_sim_gnss_step(&g, 1.0, canopy, &o);
		xe[i] = o.de_m;
		*sigma_rep = o.sigma_e_m;
		if (!o.fix) {
			lost++;
			continue;
		}
		r[nfix++] = hypot(o.de_m, o.dn_m);
	}
	/* lag-τ autocorrelation of the east error; for a first-order Gauss–Markov process it is exp(-1) */
	size_t lag = (size_t)llround(tau > 0 ? tau : an_sim_rx_tau_s(rx));
	double m = 0, v = 0, c = 0;
	for (size_t i = 0; i < n; i++)
		m += xe[i];
	m /= (double)n;
	for (size_t i = 0; i < n; i++)
		v += (xe[i] - m) * (xe[i] - m);
	for (size_t i = 0; i + lag < n; i++)
		c += (xe[i] - m) * (xe[i + lag] - m);
	*rho_tau = c / v;
	*lost_frac = (double)lost / (double)n;
	*med = median(r, nfix);
	*p95 = quantile(r, nfix, 0.95);
	free(r);
	free(xe);
}

Test(sim_gnss, consumer_cep_and_correlation_time, .timeout = 60)
{
	/* 10 days at 1 Hz: ~7000 correlation times, so the median is known to ~2 % and the lag-τ
	 * autocorrelation to ~±0.02 */
	const size_t n = 864000;
	double med, p95, rho, lost, sig;
	gm_stats(AN_SIM_RX_CONSUMER, 0, 0, false, 12.0, n, 1, &med, &p95, &rho, &lost, &sig);
	cr_assert(fabs(med - 2.5) <= 0.25, "consumer CEP %.3f m, configured 2.5 m", med);
	cr_assert(fabs(rho - exp(-1.0)) <= 0.05, "autocorrelation at tau %.3f, want %.3f", rho, exp(-1.0));
	cr_assert_float_eq(sig, 2.5 / 1.1774100225, 1e-9, "GST sigma must be the model's sigma");
	cr_assert_eq(lost, 0.0, "no fix loss in the open");
	/* a configured τ of 120 s is honoured too, and the error is NOT white: lag-1 correlation is high */
	gm_stats(AN_SIM_RX_CONSUMER, 3.0, 120.0, false, 12.0, n, 2, &med, &p95, &rho, &lost, &sig);
	cr_assert(fabs(med - 3.0) <= 0.3, "CEP %.3f, configured 3.0", med);
	cr_assert(fabs(rho - exp(-1.0)) <= 0.06, "autocorrelation at 120 s: %.3f", rho);
}

Test(sim_gnss, rtk_is_centimetre_level_float_decimetre, .timeout = 60)
{
	double med, p95, rho, lost, sig;
	gm_stats(AN_SIM_RX_RTK_FIXED, 0, 0, false, 12.0, 200000, 3, &med, &p95, &rho, &lost, &sig);
	cr_assert(fabs(med - 0.012) <= 0.0012, "RTK fixed CEP %.4f m", med);
	cr_assert(p95 < 0.03, "RTK fixed p95 %.4f m: not cm-level", p95);
	gm_stats(AN_SIM_RX_RTK_FLOAT, 0, 0, false, 12.0, 200000, 4, &med, &p95, &rho, &lost, &sig);
	cr_assert(med > 0.1 && med < 0.5 && fabs(med - 0.25) <= 0.025, "RTK float CEP %.3f m", med);
	gm_stats(AN_SIM_RX_SBAS, 0, 0, false, 12.0, 400000, 5, &med, &p95, &rho, &lost, &sig);
	cr_assert(fabs(med - 1.0) <= 0.1, "SBAS CEP %.3f m", med);
}

Test(sim_gnss, canopy_degrades_and_drops_fixes, .timeout = 60)
{
	double med, p95, rho, lost, sig;
	gm_stats(AN_SIM_RX_RTK_FIXED, 0, 0, true, 15.0, 400000, 6, &med, &p95, &rho, &lost, &sig);
	cr_assert(fabs(med - 15.0) <= 1.5, "canopy CEP %.2f m, configured 15", med);
	cr_assert_float_eq(sig, 15.0 / 1.1774100225, 1e-6);
	/* bursts: P(start) 0.02, mean length 1/0.3 → stationary loss 0.02/(0.02+0.3) = 6.25 % */
	cr_assert(fabs(lost - 0.0625) < 0.01, "fix loss under canopy %.4f", lost);
	struct an_sim_gnss g;
	struct an_sim_gnss_out o;
	cr_assert_eq(an_sim_gnss_init(&g, AN_SIM_RX_RTK_FIXED, 0, 0, 15.0, 0.0, 1, 1), 0);
	an_sim_gnss_step(&g, 1.0, false, &o);
	cr_assert_eq(o.quality, 4);
	an_sim_gnss_step(&g, 1.0, true, &o);
	cr_assert_eq(o.quality, 1, "under trees RTK falls back to autonomous");
	cr_assert_eq(an_sim_gnss_init(&g, 9, 0, 0, 15.0, 0.0, 1, 1), -EINVAL);
}

/* ------------------------------------------------------------------ NMEA through the collar's parser */
struct decode {
	struct cf_nmea p;
	struct an_sim_epoch ring[8];
	size_t n_ep, n_fix, n_nofix;
	struct an_geo_origin o;
	double *err_m;
	size_t n_err, cap_err;
	double max_sigma_diff_mm;
};

static void check_fix(struct decode *d, const struct cf_fix *f)
{
	cr_assert(f->has & CF_FIX_HAS_TOD);
	const struct an_sim_epoch *ep = NULL;
	for (size_t i = 0; i < 8 && i < d->n_ep; i++)
		if (d->ring[i].utc_ms % 86400000 == (int64_t)f->tod_ms)
			ep = &d->ring[i];
	cr_assert(ep, "decoded epoch %u ms not emitted", f->tod_ms);
	if (!ep->g.fix) {
		cr_assert_not(cf_fix_is_valid(f), "a no-fix epoch decoded as valid");
		d->n_nofix++;
		return;
	}
	cr_assert(cf_fix_is_valid(f));
	cr_assert_eq(f->lat_e7, ep->out_lat_e7, "lat %d vs emitted %d", f->lat_e7, ep->out_lat_e7);
	cr_assert_eq(f->lon_e7, ep->out_lon_e7, "lon %d vs emitted %d", f->lon_e7, ep->out_lon_e7);
	cr_assert_eq(f->gga_q, ep->g.quality);
	cr_assert(f->has & CF_FIX_HAS_TIME);
	cr_assert_eq(f->t_ms, ep->utc_ms, "date/time decoded wrong");
	cr_assert_eq(f->h_acc_src, CF_HACC_SRC_GST);
	double want = hypot(ep->g.sigma_e_m, ep->g.sigma_n_m) * 1000.0;
	double diff = fabs((double)f->h_acc_mm - want);
	if (diff > d->max_sigma_diff_mm)
		d->max_sigma_diff_mm = diff;
	struct an_geo_enu e;
	cr_assert_eq(an_geo_enu_from_e7(&d->o, f->lat_e7, f->lon_e7, AN_GEO_ALT_UNKNOWN, &e), 0);
	if (d->n_err == d->cap_err) {
		d->cap_err = d->cap_err ? 2 * d->cap_err : 4096;
		d->err_m = realloc(d->err_m, d->cap_err * sizeof *d->err_m);
		cr_assert(d->err_m);
	}
	d->err_m[d->n_err++] = hypot((double)(e.e_mm - ep->true_e_mm), (double)(e.n_mm - ep->true_n_mm)) / 1000.0;
	d->n_fix++;
}

static int decode_sink(void *ctx, const char *text, size_t len, const struct an_sim_epoch *ep)
{
	struct decode *d = ctx;
	d->ring[d->n_ep++ % 8] = *ep;
	for (size_t i = 0; i + 1 < len; i++) /* checksums: recompute independently of the generator */
		if (text[i] == '$') {
			uint8_t cs = 0;
			size_t j = i + 1;
			while (text[j] != '*')
				cs ^= (uint8_t)text[j++];
			unsigned got;
			cr_assert_eq(sscanf(text + j + 1, "%2X", &got), 1);
			cr_assert_eq(got, cs);
			/* NMEA's 82 characters hold for 5-decimal output; RTK's 7 decimals exceed it, as real RTK
			 * receivers do, but stay within what the collar accepts */
			cr_assert_leq(j + 3 - i, text[i + 2] == 'P' ? 82u : CF_NMEA_LINE_MAX, "sentence too long");
		}
	size_t used;
	struct cf_fix f;
	while (len > 0) {
		int r = cf_nmea_feed(&d->p, text, len, &used, &f);
		cr_assert_geq(r, 0);
		text += used;
		len -= used;
		if (r == 1)
			check_fix(d, &f);
	}
	return 0;
}

static void decode_finish(struct decode *d)
{
	struct cf_fix f;
	size_t used;
	while (cf_nmea_feed(&d->p, "", 0, &used, &f) == 1)
		check_fix(d, &f);
	while (cf_nmea_flush(&d->p, &f) == 1)
		check_fix(d, &f);
	cr_assert_eq(d->p.stats.bad_checksum + d->p.stats.no_checksum + d->p.stats.field_errors +
			     d->p.stats.overlong + d->p.stats.truncated + d->p.stats.unknown_type,
		     0, "parser rejected something: bad_cs %u field %u overlong %u", d->p.stats.bad_checksum,
		     d->p.stats.field_errors, d->p.stats.overlong);
	cr_assert_eq(d->n_fix + d->n_nofix, d->n_ep, "every epoch decodes to exactly one record");
	cr_assert_lt(d->max_sigma_diff_mm, 1.5, "GST-derived h_acc differs from the model sigma by %.2f mm",
		     d->max_sigma_diff_mm);
}

Test(sim_nmea, collar_streams_decode_to_the_emitted_positions, .timeout = 120)
{
	struct an_sim_scenario sc;
	scenario(&sc, small_day);
	struct an_sim_world w;
	build(&w, &sc, 5);
	for (uint32_t a = 0; a < w.n_animals; a++) {
		struct decode d = {0};
		cf_nmea_init(&d.p, NULL);
		d.o = w.origin;
		cr_assert_eq(an_sim_nmea_collar(&w, a, decode_sink, &d), 0);
		decode_finish(&d);
		cr_assert_gt(d.n_fix, 300u, "animal %u: %zu fixes, %zu without", a, d.n_fix, d.n_nofix);
		double med = median(d.err_m, d.n_err);
		/* open-sky CEP of the class, inflated a little by the canopy rectangle the dog crosses */
		double cep = an_sim_rx_cep_m(w.animals[a].p.rx);
		cr_assert(med > 0.3 * cep && med < 3.0 * cep, "animal %u: median error %.3f m for CEP %.3f", a, med, cep);
		free(d.err_m);
	}
	an_sim_world_free(&w);
}

/* A static receiver over a long run, through format → cf_nmea → ENU: CEP within ±10 %, RTK at cm. */
static double static_run(int rx, size_t n, uint64_t seed, double *p95)
{
	struct an_geo_origin o;
	cr_assert_eq(an_geo_origin_init(&o, 131000000, 1039000000, 20000), 0); /* Cambodia */
	struct an_sim_gnss g;
	cr_assert_eq(an_sim_gnss_init(&g, rx, 0, 0, 12.0, 0.0, seed, 1), 0);
	struct decode d = {0};
	cf_nmea_init(&d.p, NULL);
	d.o = o;
	char buf[1024];
	for (size_t i = 0; i < n; i++) {
		struct an_sim_epoch ep = {.utc_ms = 1741564800000 + (int64_t)i * 1000};
		an_sim_gnss_step(&g, 1.0, false, &ep.g);
		struct an_geo_enu me = {llround(ep.g.de_m * 1000.0), llround(ep.g.dn_m * 1000.0), 0};
		double lat, lon, h;
		cr_assert_eq(an_geo_enu_to_deg(&o, &me, &lat, &lon, &h), 0);
		struct an_sim_nmea_in in = {.utc_ms = ep.utc_ms, .lat_deg = lat, .lon_deg = lon, .alt_msl_m = 20.0,
					    .geoid_sep_m = -20.0, .g = ep.g, .rx = rx};
		int len = an_sim_nmea_format(&in, buf, sizeof buf, &ep.out_lat_e7, &ep.out_lon_e7);
		cr_assert_gt(len, 0);
		decode_sink(&d, buf, (size_t)len, &ep);
	}
	decode_finish(&d);
	double med = median(d.err_m, d.n_err);
	*p95 = quantile(d.err_m, d.n_err, 0.95);
	free(d.err_m);
	return med;
}

Test(sim_nmea, decoded_cep_matches_configuration, .timeout = 120)
{
	double p95;
	double med = static_run(AN_SIM_RX_CONSUMER, 200000, 11, &p95);
	cr_assert(fabs(med - 2.5) <= 0.25, "decoded consumer CEP %.3f m, configured 2.5 m", med);
	/* degE7 quantisation (±5.6 mm) is included: RTK stays cm-level after the collar's parser */
	med = static_run(AN_SIM_RX_RTK_FIXED, 100000, 12, &p95);
	cr_assert(fabs(med - 0.012) <= 0.0015, "decoded RTK CEP %.4f m", med);
	cr_assert(p95 < 0.035, "decoded RTK p95 %.4f m", p95);
}

Test(sim_nmea, format_is_exact)
{
	struct an_sim_nmea_in in = {.utc_ms = 1741582800000 + 1234, .lat_deg = -19.61, .lon_deg = 33.9,
				    .alt_msl_m = 120.0, .geoid_sep_m = -15.3, .sog_m_s = 0.5, .cog_deg = 90.0,
				    .rx = AN_SIM_RX_CONSUMER};
	in.g = (struct an_sim_gnss_out){.sigma_e_m = 2.0, .sigma_n_m = 2.0, .sigma_u_m = 3.4, .hdop = 0.9,
					.quality = 1, .nsat = 9, .fix = true};
	char buf[1024];
	int32_t la, lo;
	int n = an_sim_nmea_format(&in, buf, sizeof buf, &la, &lo);
	cr_assert_gt(n, 0);
	cr_assert(strstr(buf, "$GPRMC,050001.23,A,1936.60000,S,03354.00000,E,0.972,90.00,100325,,,A*"), "%s", buf);
	cr_assert(strstr(buf, "$GPGGA,050001.23,1936.60000,S,03354.00000,E,1,09,0.90,120.0,M,-15.3,M,,*"), "%s", buf);
	cr_assert(strstr(buf, "$GPGST,050001.23,2.828,2.000,2.000,0.0,2.000,2.000,3.400*"), "%s", buf);
	cr_assert_eq(la, -196100000);
	cr_assert_eq(lo, 339000000);
	cr_assert_eq(an_sim_nmea_format(&in, buf, 100, NULL, NULL), -ENOSPC);
}

/* ------------------------------------------------------------------ indications */
static const char *many_rats(double fa, const char *extra)
{
	static char text[8192];
	int n = snprintf(text, sizeof text,
			 "[task]\nday_hours = 14\ntemp_c = 25\nhum_pct = 60\n"
			 "[layout]\nrat_boxes = 150\ndog_boxes = 0\nqc_fraction = 1\n"
			 "[targets]\ndensity = 4\n[schedule]\nrat_bouts = 8\nrat_rest_min = 10\n");
	for (int i = 0; i < 40; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "[animal R%02d]\nspecies = rat\nfalse_per_100m2 = %g\n%s\n",
			      i, fa, extra);
	return text;
}

Test(sim_world, false_indications_are_poisson_at_the_configured_rate, .timeout = 120)
{
	double rates[] = {0.35, 5.0};
	for (size_t k = 0; k < 2; k++) {
		struct an_sim_scenario sc;
		scenario(&sc, many_rats(rates[k], ""));
		struct an_sim_world w;
		build(&w, &sc, 100 + k);
		double area = 0;
		for (uint32_t i = 0; i < w.n_passes; i++)
			area += w.passes[i].area_m2;
		cr_assert_gt(area, 40000.0, "searched only %.0f m2", area);
		size_t nf = 0, first_half = 0;
		for (uint32_t i = 0; i < w.n_inds; i++) {
			if (w.inds[i].target >= 0)
				continue;
			nf++;
			struct an_geo_box_pos bp;
			cr_assert_eq(an_geo_box_locate(&w.boxes[w.inds[i].box].geo, w.inds[i].e_mm, w.inds[i].n_mm, 0, &bp), 0);
			cr_assert(bp.inside, "false indication outside its box");
			first_half += bp.along_mm < 2500;
		}
		double expect = rates[k] * area / 100.0;
		cr_assert(fabs((double)nf - expect) <= 3.29 * sqrt(expect),
			  "rate %.2f/100 m2: %zu false indications over %.0f m2, expected %.1f", rates[k], nf, area, expect);
		if (k == 1) /* uniform along the lane */
			cr_assert(fabs((double)first_half / (double)nf - 0.5) <= 3.29 * 0.5 / sqrt((double)nf));
		an_sim_world_free(&w);
	}
}

Test(sim_world, sensitivity_is_binomial_and_follows_the_model, .timeout = 120)
{
	struct an_sim_scenario sc;
	scenario(&sc, many_rats(0.35, "sens = 0.8\nk_depth = 0\nk_temp = 0\nk_hum = 0\nk_fatigue = 0\n"));
	struct an_sim_world w;
	build(&w, &sc, 7);
	size_t n = 0, hits = 0, scrap_hits = 0, ind_true = 0;
	for (uint32_t i = 0; i < w.n_exps; i++) {
		const struct an_sim_exposure *x = &w.exps[i];
		if (w.targets[x->target].cls == AN_SIM_T_SCRAP) {
			scrap_hits += x->hit;
			continue;
		}
		cr_assert_float_eq(x->p, 0.8, 1e-9);
		n++;
		hits += x->hit;
	}
	for (uint32_t i = 0; i < w.n_inds; i++)
		if (w.inds[i].target >= 0) {
			ind_true++;
			const struct an_sim_target *t = &w.targets[w.inds[i].target];
			double off = hypot((double)(w.inds[i].e_mm - t->e_mm), (double)(w.inds[i].n_mm - t->n_mm));
			double sig = w.animals[w.inds[i].animal].p.loc_sigma_m * 1000.0;
			cr_assert_lt(off, 5.0 * sig, "indication %.0f mm from its target (sigma %.0f)", off, sig);
		}
	cr_assert_gt(n, 1000u, "only %zu exposures", n);
	double p = (double)hits / (double)n;
	cr_assert(fabs(p - 0.8) <= 3.29 * sqrt(0.8 * 0.2 / (double)n), "sensitivity %.4f over %zu, configured 0.8", p, n);
	cr_assert_eq(scrap_hits, 0, "scrap carries no explosive");
	cr_assert_eq(ind_true, hits, "one indication per detection");
	an_sim_world_free(&w);

	/* heat, humidity, depth and fatigue enter as documented */
	scenario(&sc, "[task]\ntemp_c = 35\nhum_pct = 80\n[layout]\nrat_boxes = 20\ndog_boxes = 0\n"
		      "[targets]\ndensity = 10\n[animal R1]\nspecies = rat\nsens = 0.9\nk_temp = 0.1\nk_hum = 0.2\n"
		      "k_depth = 0.5\nk_fatigue = 0.3\nfatigue_onset_min = 10\n[animal R2]\nspecies = rat\n");
	build(&w, &sc, 8);
	size_t checked = 0;
	for (uint32_t i = 0; i < w.n_exps; i++) {
		const struct an_sim_exposure *x = &w.exps[i];
		const struct an_sim_target *t = &w.targets[x->target];
		if (x->animal != 0 || t->cls == AN_SIM_T_SCRAP || t->cls == AN_SIM_T_FRAG)
			continue;
		const struct an_sim_pass *ps = &w.passes[x->pass];
		int64_t bout_start = INT64_MAX;
		for (uint32_t j = 0; j < w.n_passes; j++)
			if (w.passes[j].animal == 0 && w.passes[j].bout == ps->bout && w.passes[j].t0_ms < bout_start)
				bout_start = w.passes[j].t0_ms;
		/* the bout starts before its first pass (transit): fatigue minutes are at least this */
		double l = log(0.9 / 0.1) - 0.1 * (35.0 - 25.0) + 0.2 * (80.0 - 60.0) / 10.0 -
			   0.5 * fmax(0.0, t->depth_mm - 100.0) / 100.0;
		double fat_min = fmax(0.0, ((double)(x->t_ms - bout_start) / 60000.0) - 10.0);
		double p_hi = 1.0 / (1.0 + exp(-(l - 0.3 * fat_min / 10.0)));
		cr_assert_leq(x->p, p_hi + 1e-9, "p %.4f above the model's %.4f", x->p, p_hi);
		cr_assert_geq(x->p, 1.0 / (1.0 + exp(-(l - 0.3 * (fat_min + 5.0) / 10.0))) - 1e-9);
		checked++;
	}
	cr_assert_gt(checked, 20u);
	an_sim_world_free(&w);
}

/* ------------------------------------------------------------------ lanes and schedule */
Test(sim_world, lanes_cover_every_box, .timeout = 60)
{
	/* The lanes tile the box (lane_count × lane_width = box width, an/geo.h); so the box is covered when
	 * every lane is walked over its whole length while the animal stays in that lane (domain.md §1.1). */
	struct an_sim_scenario sc;
	scenario(&sc, small_day);
	struct an_sim_world w;
	build(&w, &sc, 9);
	cr_assert_geq(w.n_passes, 5u);
	for (uint32_t pi = 0; pi < w.n_passes; pi++) {
		const struct an_sim_pass *ps = &w.passes[pi];
		const struct an_geo_box *b = &w.boxes[ps->box].geo;
		cr_assert_eq(b->width_mm, (int64_t)b->lane_count * b->lane_width_mm);
		int na = (int)(b->lane_len_mm / 50) + 1;
		unsigned char *cov = calloc((size_t)na * b->lane_count, 1);
		cr_assert(cov);
		size_t in_lane = 0, search = 0;
		const struct an_sim_track *tr = &w.tracks[ps->animal];
		for (size_t li = 0; li < tr->n; li++) {
			const struct an_sim_leg *l = &tr->legs[li];
			if (l->pass != (int32_t)pi || l->beh != AN_SIM_B_WALK)
				continue;
			double len = hypot((double)(l->e1_mm - l->e0_mm), (double)(l->n1_mm - l->n0_mm));
			int steps = 1 + (int)(len / 20.0);
			for (int s = 0; s <= steps; s++) {
				double f = (double)s / steps;
				struct an_geo_box_pos p;
				cr_assert_eq(an_geo_box_locate(b, l->e0_mm + llround(f * (double)(l->e1_mm - l->e0_mm)),
							       l->n0_mm + llround(f * (double)(l->n1_mm - l->n0_mm)), 0, &p), 0);
				search++;
				if (!p.inside || p.lane < 0 || p.lane >= (int32_t)b->lane_count)
					continue;
				in_lane++;
				int ia = (int)(p.along_mm / 50);
				cov[(size_t)p.lane * (size_t)na + (size_t)(ia < na ? ia : na - 1)] = 1;
			}
		}
		size_t holes = 0;
		for (size_t i = 0; i < (size_t)na * b->lane_count; i++)
			holes += !cov[i];
		cr_assert_eq(holes, 0, "pass %u over box %s: %zu of %zu lane cells (5 cm) never walked", pi,
			     w.boxes[ps->box].id, holes, (size_t)na * b->lane_count);
		/* only the steps to an indication point may leave the box */
		cr_assert_geq((double)in_lane, 0.98 * (double)search, "pass %u: %zu of %zu samples in the box", pi,
			      in_lane, search);
		free(cov);
	}
	an_sim_world_free(&w);
}

Test(sim_world, schedule_has_second_and_qc_passes_overlapping_in_time)
{
	struct an_sim_scenario sc;
	char err[256] = "";
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_scenario_load(&sc, SCENTRACK_SOURCE_DIR "/analysis/scenarios/reference.ini", err, sizeof err), 0);
	struct an_sim_world w;
	build(&w, &sc, 1);
	size_t overlaps = 0, qc = 0, blind = 0;
	for (uint32_t b = 0; b < w.n_boxes; b++) {
		uint32_t animals[8], n = 0;
		for (uint32_t i = 0; i < w.n_passes; i++) {
			const struct an_sim_pass *p = &w.passes[i];
			if (p->box != b)
				continue;
			for (uint32_t k = 0; k < n; k++)
				if (w.boxes[b].kind != AN_SIM_BOX_BLIND)
					cr_assert_neq(animals[k], p->animal, "box %s searched twice by one animal", w.boxes[b].id);
			animals[n++] = p->animal;
			qc += p->kind == AN_SIM_PASS_QC;
			blind += p->kind == AN_SIM_PASS_BLIND;
			for (uint32_t j = 0; j < w.n_passes; j++)
				if (j != i && w.passes[j].box == b)
					cr_assert(w.passes[j].t1_ms <= p->t0_ms || w.passes[j].t0_ms >= p->t1_ms,
						  "two animals in box %s at once", w.boxes[b].id);
		}
		cr_assert_geq(n, 2u, "box %s has %u passes (second animal missing)", w.boxes[b].id, n);
	}
	for (uint32_t i = 0; i < w.n_passes; i++)
		for (uint32_t j = i + 1; j < w.n_passes; j++)
			overlaps += w.passes[i].t0_ms < w.passes[j].t1_ms && w.passes[j].t0_ms < w.passes[i].t1_ms;
	cr_assert_gt(overlaps, 10u, "passes of different animals should overlap in time");
	cr_assert_gt(qc, 0u);
	cr_assert_eq(blind, 2u, "both blind-test rats sat the test");
	/* rats: bouts of ~30 min, at most 2 per day; tracks are continuous in time */
	for (uint32_t a = 0; a < w.n_animals; a++) {
		const struct an_sim_track *t = &w.tracks[a];
		for (size_t i = 1; i < t->n; i++)
			cr_assert_eq(t->legs[i].t0_ms, t->legs[i - 1].t1_ms, "gap in the track of animal %u", a);
		uint32_t max_bout = 0;
		for (uint32_t i = 0; i < w.n_passes; i++)
			if (w.passes[i].animal == a && w.passes[i].bout > max_bout)
				max_bout = w.passes[i].bout;
		if (w.animals[a].p.species == AN_SIM_RAT)
			cr_assert_leq(max_bout, 1u, "rat %u worked more than 2 bouts", a);
	}
	an_sim_world_free(&w);
}

/* No animal searches a task box twice: the QC pass and every confirmation are another animal's (a QC pass by
 * the rat that had just confirmed the box was no independent check; before the fix 31 of 100 reference days
 * had one). Reference days 1-40, with one and two confirmation rounds. */
Test(sim_world, no_animal_searches_a_box_twice, .timeout = 120)
{
	struct an_sim_scenario sc;
	char err[256] = "";
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_scenario_load(&sc, SCENTRACK_SOURCE_DIR "/analysis/scenarios/reference.ini", err, sizeof err), 0,
		     "%s", err);
	uint32_t qc = 0, confirm = 0;
	for (uint32_t rounds = 1; rounds <= 2; rounds++) {
		sc.confirm_rounds = rounds;
		for (uint64_t seed = 1; seed <= 40; seed++) {
			struct an_sim_world w;
			build(&w, &sc, seed);
			for (uint32_t i = 0; i < w.n_passes; i++) {
				const struct an_sim_pass *p = &w.passes[i];
				qc += p->kind == AN_SIM_PASS_QC;
				confirm += p->kind == AN_SIM_PASS_CONFIRM;
				if (w.boxes[p->box].kind == AN_SIM_BOX_BLIND)
					continue;
				for (uint32_t j = 0; j < i; j++)
					cr_assert(w.passes[j].box != p->box || w.passes[j].animal != p->animal,
						  "rounds %u seed %lu box %s: %s pass by %s, who searched it before (%s)", rounds,
						  (unsigned long)seed, w.boxes[p->box].id, an_sim_pass_kind_name(p->kind),
						  w.animals[p->animal].p.name, an_sim_pass_kind_name(w.passes[j].kind));
			}
			an_sim_world_free(&w);
		}
	}
	cr_assert_gt(qc, 40u);
	cr_assert_gt(confirm, 300u);
}

/* ------------------------------------------------------------------ confirmation search */
static bool in_patch(const struct an_sim_box *b, const struct an_sim_patch *p, double along_mm, double across_mm)
{
	double wl = (double)b->geo.lane_width_mm;
	return along_mm >= (double)p->along0_mm && along_mm <= (double)p->along1_mm &&
	       across_mm >= (double)p->lane0 * wl && across_mm <= (double)(p->lane0 + p->lanes) * wl;
}

/* A day with room for a third animal everywhere (3 rats, 3 dogs, 3 h, 3 rat bouts), so that every disputed
 * box can be confirmed before the day ends. */
static const char *confirm_day = "[task]\nday_hours = 3\n"
				 "[layout]\nrat_boxes = 3\ndog_boxes = 2\ndog_lanes = 8\ndog_lane_len_m = 12\nqc_fraction = 0\n"
				 "[targets]\ndensity = 3\n"
				 "[schedule]\nrat_bouts = 3\nrat_rest_min = 10\ndog_rest_min = 10\n"
				 "[animal R1]\nspecies = rat\n[animal R2]\nspecies = rat\nrx = rtk_fixed\n"
				 "[animal R3]\nspecies = rat\nrx = sbas\n"
				 "[animal D1]\nspecies = dog\n[animal D2]\nspecies = dog\nrx = rtk_fixed\n"
				 "[animal D3]\nspecies = dog\nrx = sbas\n";

Test(sim_world, confirmation_pass_exactly_for_disputed_boxes, .timeout = 120)
{
	struct an_sim_scenario sc;
	scenario(&sc, confirm_day);
	cr_assert(sc.confirm);
	double r_mm = sc.confirm_radius_m * 1000.0;
	uint32_t disputed_boxes = 0, clean_boxes = 0, pegs_checked = 0, exps_checked = 0;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct an_sim_world w;
		build(&w, &sc, seed);
		for (uint32_t b = 0; b < w.n_boxes; b++) {
			const struct an_sim_box *bx = &w.boxes[b];
			int32_t p1 = -1, p2 = -1, pc = -1;
			uint32_t nconf = 0;
			for (uint32_t i = 0; i < w.n_passes; i++) {
				if (w.passes[i].box != b)
					continue;
				int k = w.passes[i].kind;
				if (k == AN_SIM_PASS_PRIMARY)
					p1 = (int32_t)i;
				else if (k == AN_SIM_PASS_SECOND)
					p2 = (int32_t)i;
				else if (k == AN_SIM_PASS_CONFIRM)
					pc = (int32_t)i, nconf++;
			}
			cr_assert(p1 >= 0 && p2 >= 0, "seed %lu box %s: not searched twice", (unsigned long)seed, bx->id);
			cr_assert_leq(nconf, 1u, "one confirmation pass per box");
			/* the team leader's comparison, redone here from the pegs */
			bool disputed = false;
			for (uint32_t i = 0; i < w.n_inds; i++) {
				const struct an_sim_ind *d = &w.inds[i];
				if (d->pass != (uint32_t)p1 && d->pass != (uint32_t)p2)
					continue;
				uint32_t other = d->pass == (uint32_t)p1 ? (uint32_t)p2 : (uint32_t)p1;
				bool agreed = false;
				for (uint32_t k = 0; k < w.n_inds; k++)
					agreed |= w.inds[k].pass == other &&
						  hypot((double)(w.inds[k].e_mm - d->e_mm), (double)(w.inds[k].n_mm - d->n_mm)) <= r_mm;
				if (agreed)
					continue;
				disputed = true;
				cr_assert(pc >= 0, "seed %lu box %s: a disputed peg but no confirmation pass", (unsigned long)seed,
					  bx->id);
				/* its patches contain the peg (clamped to the box: a peg just outside marks the edge) */
				struct an_geo_box_pos bp;
				cr_assert_eq(an_geo_box_locate(&bx->geo, d->e_mm, d->n_mm, 0, &bp), 0);
				double al = fmin(fmax((double)bp.along_mm, 0.0), (double)bx->geo.lane_len_mm);
				double ac = fmin(fmax((double)bp.across_mm, 0.0), (double)bx->geo.width_mm);
				bool inside = false;
				for (uint32_t k = 0; k < w.n_patches; k++)
					inside |= w.patches[k].pass == (uint32_t)pc && in_patch(bx, &w.patches[k], al, ac);
				cr_assert(inside, "seed %lu box %s: disputed peg %u outside every patch", (unsigned long)seed, bx->id,
					  d->id);
				pegs_checked++;
			}
			if (!disputed) {
				cr_assert_lt(pc, 0, "seed %lu box %s: confirmation without a disputed peg", (unsigned long)seed,
					     bx->id);
				clean_boxes++;
				continue;
			}
			disputed_boxes++;
			const struct an_sim_pass *ps = &w.passes[pc];
			/* a third animal, of the box's species (this day has one), after both passes */
			cr_assert_neq(ps->animal, w.passes[p1].animal);
			cr_assert_neq(ps->animal, w.passes[p2].animal);
			cr_assert_eq(w.animals[ps->animal].p.species, bx->kind == AN_SIM_BOX_DOG ? AN_SIM_DOG : AN_SIM_RAT);
			cr_assert_geq(ps->t0_ms, w.passes[p2].t1_ms);
			cr_assert_geq(ps->t0_ms, w.passes[p1].t1_ms);
			/* patches inside the box, disjoint, and their area is the pass's area */
			double area = 0;
			for (uint32_t k = 0; k < w.n_patches; k++) {
				const struct an_sim_patch *p = &w.patches[k];
				if (p->pass != (uint32_t)pc)
					continue;
				cr_assert_eq(p->box, b);
				cr_assert(p->lanes > 0 && p->lane0 + p->lanes <= bx->geo.lane_count);
				cr_assert(p->along0_mm >= 0 && p->along0_mm < p->along1_mm &&
					  p->along1_mm <= (int64_t)bx->geo.lane_len_mm);
				area += (double)p->lanes * bx->geo.lane_width_mm * (double)(p->along1_mm - p->along0_mm) / 1e6;
				for (uint32_t q = k + 1; q < w.n_patches; q++) {
					const struct an_sim_patch *o = &w.patches[q];
					if (o->pass != (uint32_t)pc)
						continue;
					/* no shared lane, or no shared stretch of lane, edges included */
					bool apart = p->lane0 >= o->lane0 + o->lanes || o->lane0 >= p->lane0 + p->lanes ||
						     p->along0_mm > o->along1_mm || o->along0_mm > p->along1_mm;
					cr_assert(apart, "seed %lu box %s: patches %u and %u overlap", (unsigned long)seed, bx->id, k, q);
				}
			}
			cr_assert_float_eq(ps->area_m2, area, 1e-6);
			cr_assert_lt(ps->area_m2, bx->area_m2);
			/* exposures exactly for this box's targets inside the patches */
			for (uint32_t t = 0; t < w.n_targets; t++) {
				if (w.targets[t].box != b)
					continue;
				struct an_geo_box_pos tp;
				cr_assert_eq(an_geo_box_locate(&bx->geo, w.targets[t].e_mm, w.targets[t].n_mm, 0, &tp), 0);
				bool want = false;
				for (uint32_t k = 0; k < w.n_patches; k++)
					want |= w.patches[k].pass == (uint32_t)pc &&
						in_patch(bx, &w.patches[k], (double)tp.along_mm, (double)tp.across_mm);
				uint32_t got = 0;
				for (uint32_t x = 0; x < w.n_exps; x++)
					got += w.exps[x].pass == (uint32_t)pc && w.exps[x].target == t;
				cr_assert_eq(got, want ? 1u : 0u, "seed %lu box %s target %u: %u exposures, inside %d",
					     (unsigned long)seed, bx->id, t, got, want);
				exps_checked += want;
			}
			/* false indications of the confirmation pass lie in its patches */
			for (uint32_t i = 0; i < w.n_inds; i++) {
				const struct an_sim_ind *d = &w.inds[i];
				if (d->pass != (uint32_t)pc || d->target >= 0)
					continue;
				struct an_geo_box_pos bp;
				cr_assert_eq(an_geo_box_locate(&bx->geo, d->e_mm, d->n_mm, 0, &bp), 0);
				bool inside = false;
				for (uint32_t k = 0; k < w.n_patches; k++)
					inside |= w.patches[k].pass == (uint32_t)pc &&
						  in_patch(bx, &w.patches[k], (double)bp.along_mm, (double)bp.across_mm);
				cr_assert(inside, "false indication %u outside the patches", d->id);
			}
		}
		an_sim_world_free(&w);
	}
	/* the check must have met both cases, and real work */
	cr_assert_gt(disputed_boxes, 5u);
	cr_assert_gt(clean_boxes, 0u);
	cr_assert_gt(pegs_checked, 5u);
	cr_assert_gt(exps_checked, 3u);
}

/* Confirmation passes leave the targets and the animals' parameters where they were (their own substreams),
 * and a day is the same bytes twice. */
Test(sim_world, confirmation_moves_no_target_or_animal_and_is_deterministic, .timeout = 120)
{
	struct an_sim_scenario on, off;
	scenario(&on, confirm_day);
	scenario(&off, confirm_day);
	off.confirm = false;
	struct an_sim_world a, b;
	build(&a, &on, 3);
	build(&b, &off, 3);
	cr_assert_eq(a.n_targets, b.n_targets);
	for (uint32_t i = 0; i < a.n_targets; i++)
		cr_assert(a.targets[i].cls == b.targets[i].cls && a.targets[i].e_mm == b.targets[i].e_mm &&
			  a.targets[i].n_mm == b.targets[i].n_mm && a.targets[i].depth_mm == b.targets[i].depth_mm,
			  "target %u moved", i);
	for (uint32_t i = 0; i < a.n_animals; i++) {
		const struct an_sim_animal_cfg *x = &a.animals[i].p, *y = &b.animals[i].p;
		for (int k = 0; k < AN_SIM_T_COUNT; k++)
			cr_assert_eq(x->sens[k], y->sens[k], "animal %u changed", i);
		cr_assert(x->false_per_100m2 == y->false_per_100m2 && x->loc_sigma_m == y->loc_sigma_m &&
			  x->speed_m_s == y->speed_m_s && x->k_fatigue == y->k_fatigue, "animal %u changed", i);
		cr_assert_eq(a.animals[i].roll_rad, b.animals[i].roll_rad);
	}
	uint32_t conf = 0;
	for (uint32_t i = 0; i < a.n_passes; i++)
		conf += a.passes[i].kind == AN_SIM_PASS_CONFIRM;
	for (uint32_t i = 0; i < b.n_passes; i++)
		cr_assert_neq(b.passes[i].kind, AN_SIM_PASS_CONFIRM);
	cr_assert_gt(conf, 0u);
	cr_assert_eq(b.n_patches, 0u);
	an_sim_world_free(&a);
	an_sim_world_free(&b);
	/* same seed, same bytes, with confirmation passes in the day */
	char d1[] = "/tmp/an_sim_cf1_XXXXXX", d2[] = "/tmp/an_sim_cf2_XXXXXX";
	run_to(&on, 3, d1);
	run_to(&on, 3, d2);
	int files = 0;
	cr_assert_eq(compare_dirs(d1, d2, &files), 0, "same seed gave different files");
	cr_assert_eq(files, 10 + 5 * 6); /* with history.csv and boxpos.csv */
}

/* ------------------------------------------------------------------ later confirmation rounds (confirm_rounds) */
/* A day with room for a fourth animal everywhere (4 rats, 4 dogs, 4 h, 4 rat bouts), so that the pegs still
 * disputed after the first confirmation can all get their second round before the day ends. */
static const char *rounds_day = "[task]\nday_hours = 4\n"
				"[layout]\nrat_boxes = 3\ndog_boxes = 2\ndog_lanes = 8\ndog_lane_len_m = 12\nqc_fraction = 0.5\n"
				"[targets]\ndensity = 3\n"
				"[schedule]\nrat_bouts = 4\nrat_rest_min = 10\ndog_rest_min = 10\nconfirm_rounds = 2\n"
				"[animal R1]\nspecies = rat\n[animal R2]\nspecies = rat\nrx = rtk_fixed\n"
				"[animal R3]\nspecies = rat\nrx = sbas\n[animal R4]\nspecies = rat\nrx = rtk_float\n"
				"[animal D1]\nspecies = dog\n[animal D2]\nspecies = dog\nrx = rtk_fixed\n"
				"[animal D3]\nspecies = dog\nrx = sbas\n[animal D4]\nspecies = dog\nrx = rtk_fixed\n";

/* The pegs of box b's first confirmation still disputed when it ends: pegs of the primary and second pass
 * with no peg of the other within r (the first round's dispute), and then no peg of another animal in the
 * box within r from any pass ended by then. Returns how many, their indices in still[]. */
static uint32_t still_disputed(const struct an_sim_world *w, uint32_t b, int32_t p1, int32_t p2, int32_t pc1, double r_mm,
			       uint32_t *still, uint32_t cap)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		if (d->pass != (uint32_t)p1 && d->pass != (uint32_t)p2)
			continue;
		uint32_t other = d->pass == (uint32_t)p1 ? (uint32_t)p2 : (uint32_t)p1;
		bool agreed = false, settled = false;
		for (uint32_t k = 0; k < w->n_inds; k++) {
			const struct an_sim_ind *o = &w->inds[k];
			double dist = hypot((double)(o->e_mm - d->e_mm), (double)(o->n_mm - d->n_mm));
			agreed |= o->pass == other && dist <= r_mm;
			settled |= o->box == b && o->animal != d->animal && w->passes[o->pass].t1_ms <= w->passes[pc1].t1_ms &&
				   dist <= r_mm;
		}
		if (agreed || settled)
			continue;
		cr_assert_lt(n, cap);
		still[n++] = i;
	}
	return n;
}

/* Round 2 exactly for the pegs still disputed after round 1: a box whose first confirmation settled every
 * peg (the confirming animal, or any other, put a peg within confirm_radius_m) gets no second one; a box with
 * a peg still disputed gets one, after the first, by an animal that had not searched the box (of the box's
 * species while one is left), over patches about exactly those pegs; never a third round with
 * confirm_rounds = 2, never a second with 1. */
Test(sim_world, second_round_exactly_for_pegs_still_disputed, .timeout = 120)
{
	struct an_sim_scenario sc, one;
	scenario(&sc, rounds_day);
	scenario(&one, rounds_day);
	cr_assert_eq(sc.confirm_rounds, 2u);
	one.confirm_rounds = 1;
	double r_mm = sc.confirm_radius_m * 1000.0;
	uint32_t settled_boxes = 0, round2_boxes = 0, pegs_checked = 0, not_same_species = 0, still_with_one = 0;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		for (int pass_rounds = 2; pass_rounds >= 1; pass_rounds--) {
			struct an_sim_world w;
			build(&w, pass_rounds == 2 ? &sc : &one, seed);
			for (uint32_t b = 0; b < w.n_boxes; b++) {
				const struct an_sim_box *bx = &w.boxes[b];
				int32_t p1 = -1, p2 = -1, pc1 = -1, pc2 = -1;
				for (uint32_t i = 0; i < w.n_passes; i++) {
					const struct an_sim_pass *ps = &w.passes[i];
					if (ps->box != b)
						continue;
					if (ps->kind == AN_SIM_PASS_PRIMARY)
						p1 = (int32_t)i;
					else if (ps->kind == AN_SIM_PASS_SECOND)
						p2 = (int32_t)i;
					if (ps->kind != AN_SIM_PASS_CONFIRM) {
						cr_assert_eq(ps->round, 0u);
						continue;
					}
					cr_assert(ps->round == 1 || ps->round == 2, "seed %lu box %s: round %u", (unsigned long)seed,
						  bx->id, ps->round);
					int32_t *slot = ps->round == 1 ? &pc1 : &pc2;
					cr_assert_lt(*slot, 0, "seed %lu box %s: two confirmations of round %u", (unsigned long)seed,
						     bx->id, ps->round);
					*slot = (int32_t)i;
				}
				if (bx->kind == AN_SIM_BOX_BLIND || pc1 < 0) {
					cr_assert_lt(pc2, 0, "a second round without a first");
					continue;
				}
				uint32_t still[256];
				uint32_t ns = still_disputed(&w, b, p1, p2, pc1, r_mm, still, 256);
				if (pass_rounds == 1) {
					cr_assert_lt(pc2, 0, "confirm_rounds = 1 gave a second round");
					still_with_one += ns > 0;
					continue;
				}
				if (ns == 0) {
					cr_assert_lt(pc2, 0, "seed %lu box %s: a second round after every peg was settled",
						     (unsigned long)seed, bx->id);
					settled_boxes++;
					continue;
				}
				cr_assert_geq(pc2, 0, "seed %lu box %s: %u pegs still disputed but no second round",
					      (unsigned long)seed, bx->id, ns);
				round2_boxes++;
				const struct an_sim_pass *ps2 = &w.passes[pc2];
				cr_assert_geq(ps2->t0_ms, w.passes[pc1].t1_ms);
				/* an animal that had not searched the box; the box's species while one is left */
				bool searched[AN_SIM_ANIMALS_MAX] = {false}, same_left = false;
				for (uint32_t i = 0; i < w.n_passes; i++)
					if (w.passes[i].box == b && (int32_t)i != pc2 && w.passes[i].t0_ms < ps2->t0_ms)
						searched[w.passes[i].animal] = true;
				cr_assert(!searched[ps2->animal], "seed %lu box %s: round 2 by an animal that searched the box",
					  (unsigned long)seed, bx->id);
				int species = bx->kind == AN_SIM_BOX_DOG ? AN_SIM_DOG : AN_SIM_RAT;
				for (uint32_t i = 0; i < w.n_animals; i++)
					same_left |= !searched[i] && w.animals[i].p.species == species;
				if (same_left)
					cr_assert_eq(w.animals[ps2->animal].p.species, species);
				else
					not_same_species++;
				/* its patches contain every peg still disputed, and each patch one of them */
				for (uint32_t s = 0; s < ns; s++) {
					const struct an_sim_ind *d = &w.inds[still[s]];
					struct an_geo_box_pos bp;
					cr_assert_eq(an_geo_box_locate(&bx->geo, d->e_mm, d->n_mm, 0, &bp), 0);
					double al = fmin(fmax((double)bp.along_mm, 0.0), (double)bx->geo.lane_len_mm);
					double ac = fmin(fmax((double)bp.across_mm, 0.0), (double)bx->geo.width_mm);
					bool inside = false;
					for (uint32_t k = 0; k < w.n_patches; k++)
						inside |= w.patches[k].pass == (uint32_t)pc2 && in_patch(bx, &w.patches[k], al, ac);
					cr_assert(inside, "seed %lu box %s: still disputed peg %u outside round 2's patches",
						  (unsigned long)seed, bx->id, d->id);
					pegs_checked++;
				}
				for (uint32_t k = 0; k < w.n_patches; k++) {
					if (w.patches[k].pass != (uint32_t)pc2)
						continue;
					bool holds = false;
					for (uint32_t s = 0; s < ns && !holds; s++) {
						struct an_geo_box_pos bp;
						cr_assert_eq(an_geo_box_locate(&bx->geo, w.inds[still[s]].e_mm, w.inds[still[s]].n_mm, 0, &bp), 0);
						holds = in_patch(bx, &w.patches[k], fmin(fmax((double)bp.along_mm, 0.0), (double)bx->geo.lane_len_mm),
								 fmin(fmax((double)bp.across_mm, 0.0), (double)bx->geo.width_mm));
					}
					cr_assert(holds, "seed %lu box %s: a round-2 patch about no disputed peg", (unsigned long)seed,
						  bx->id);
				}
			}
			an_sim_world_free(&w);
		}
	}
	/* both cases met, with real work */
	cr_assert_gt(round2_boxes, 5u);
	cr_assert_gt(settled_boxes, 0u);
	cr_assert_gt(pegs_checked, 5u);
	cr_assert_gt(still_with_one, 5u);
	(void)not_same_species;
}

/* A second round moves no target or animal, and a day with it is the same bytes twice. */
Test(sim_determinism, second_round_moves_no_target_or_animal_and_is_deterministic, .timeout = 120)
{
	struct an_sim_scenario two, one;
	scenario(&two, rounds_day);
	scenario(&one, rounds_day);
	one.confirm_rounds = 1;
	struct an_sim_world a, b;
	build(&a, &two, 5);
	build(&b, &one, 5);
	cr_assert_eq(a.n_targets, b.n_targets);
	for (uint32_t i = 0; i < a.n_targets; i++)
		cr_assert(a.targets[i].cls == b.targets[i].cls && a.targets[i].e_mm == b.targets[i].e_mm &&
			  a.targets[i].n_mm == b.targets[i].n_mm && a.targets[i].depth_mm == b.targets[i].depth_mm,
			  "target %u moved", i);
	for (uint32_t i = 0; i < a.n_animals; i++)
		cr_assert(memcmp(&a.animals[i].p, &b.animals[i].p, sizeof a.animals[i].p) == 0, "animal %u changed", i);
	uint32_t r2 = 0;
	for (uint32_t i = 0; i < a.n_passes; i++)
		r2 += a.passes[i].round == 2;
	cr_assert_gt(r2, 0u, "seed 5 has no second round");
	an_sim_world_free(&a);
	an_sim_world_free(&b);
	char d1[] = "/tmp/an_sim_r2a_XXXXXX", d2[] = "/tmp/an_sim_r2b_XXXXXX";
	run_to(&two, 5, d1);
	run_to(&two, 5, d2);
	int files = 0;
	cr_assert_eq(compare_dirs(d1, d2, &files), 0, "same seed gave different files");
	cr_assert_eq(files, 10 + 5 * 8); /* with history.csv and boxpos.csv */
}

/* confirm_rounds = 1 (the default) writes, byte for byte, what the simulator wrote before later rounds
 * existed: the fixture is tests/analysis/sim/ref_seed1_rounds1/scenario.ini (reference.ini as it was then,
 * one round) seed 1, written by the build before them (`--accel none --no-nmea --no-tracks`). Same-machine
 * determinism (an/sim.h). With two rounds the day differs (the check can fail). The rule that no animal
 * searches a box twice, which came after, changed other reference days but not this one. */
Test(sim_determinism, one_confirm_round_reproduces_the_day_before_rounds, .timeout = 60)
{
	static const char *const names[] = {
		"manifest.txt",		 "boxes.csv",		  "truth.csv",		   "animals.csv",
		"passes.csv",		 "exposures.csv",	  "indications.csv",	   "patches.csv",
		"history.csv",		 "boxpos.csv",		  "collar_R01.button.csv", "collar_R02.button.csv",
		"collar_R03.button.csv", "collar_R04.button.csv", "collar_R05.button.csv", "collar_R06.button.csv",
		"collar_D01.button.csv", "collar_D02.button.csv", "collar_D03.button.csv"};
	const char *fx = SCENTRACK_SOURCE_DIR "/tests/analysis/sim/ref_seed1_rounds1";
	char err[256] = "", pa[512], pb[512];
	for (uint32_t rounds = 1; rounds <= 2; rounds++) {
		struct an_sim_scenario sc;
		an_sim_scenario_defaults(&sc);
		snprintf(pa, sizeof pa, "%s/scenario.ini", fx);
		cr_assert_eq(an_sim_scenario_load(&sc, pa, err, sizeof err), 0, "%s", err);
		cr_assert_eq(sc.confirm_rounds, 1u, "one round is the default");
		sc.confirm_rounds = rounds;
		struct an_sim_world w;
		build(&w, &sc, 1);
		char dir[] = "/tmp/an_sim_r1_XXXXXX";
		cr_assert(mkdtemp(dir));
		struct an_sim_write_opts o = {.accel = AN_SIM_ACCEL_NONE, .tracks = false, .nmea = false};
		cr_assert_eq(an_sim_write(&w, dir, &o, err, sizeof err), 0, "write: %s", err);
		an_sim_world_free(&w);
		size_t differ = 0;
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			snprintf(pa, sizeof pa, "%s/%s", dir, names[i]);
			snprintf(pb, sizeof pb, "%s/%s", fx, names[i]);
			size_t la, lb;
			char *x = slurp(pa, &la), *y = slurp(pb, &lb);
			bool same = la == lb && memcmp(x, y, la) == 0;
			if (rounds == 1)
				cr_expect(same, "%s differs from the file written before confirmation rounds", names[i]);
			differ += !same;
			free(x);
			free(y);
			unlink(pa);
		}
		cr_assert_eq(rmdir(dir), 0, "%s: a file more than the fixture (%s)", dir, strerror(errno));
		if (rounds == 2)
			cr_assert_gt(differ, 0u, "two rounds wrote the one-round day");
	}
}

/* ------------------------------------------------------------------ passes = N */
/* A day with room for three full passes of every box and a fourth animal for its confirmation (5 rats: QC on
 * half the rat boxes takes a fourth too; 4 dogs), animals without false indications so that boxes with every
 * peg agreed occur, and the comparison's use of the third pass shows. */
static const char *three_pass_day = "[task]\nday_hours = 5\n"
				    "[layout]\nrat_boxes = 3\ndog_boxes = 2\ndog_lanes = 8\ndog_lane_len_m = 12\n"
				    "qc_fraction = 0.5\npasses = 3\n"
				    "[targets]\ndensity = 3\n"
				    "[schedule]\nrat_bouts = 4\nrat_rest_min = 10\ndog_rest_min = 10\n"
				    "[animal R1]\nspecies = rat\nfalse_per_100m2 = 0\n"
				    "[animal R2]\nspecies = rat\nrx = rtk_fixed\nfalse_per_100m2 = 0\n"
				    "[animal R3]\nspecies = rat\nrx = sbas\nfalse_per_100m2 = 0\n"
				    "[animal R4]\nspecies = rat\nfalse_per_100m2 = 0\n"
				    "[animal R5]\nspecies = rat\nfalse_per_100m2 = 0\n"
				    "[animal D1]\nspecies = dog\nfalse_per_100m2 = 0\n"
				    "[animal D2]\nspecies = dog\nrx = rtk_fixed\nfalse_per_100m2 = 0\n"
				    "[animal D3]\nspecies = dog\nrx = sbas\nfalse_per_100m2 = 0\n"
				    "[animal D4]\nspecies = dog\nfalse_per_100m2 = 0\n";

/* Whether indication d has a peg of another of the n passes ps[] within r_mm. */
static bool agreed_by(const struct an_sim_world *w, const struct an_sim_ind *d, const int32_t *ps, uint32_t n,
		      double r_mm)
{
	for (uint32_t k = 0; k < w->n_inds; k++) {
		const struct an_sim_ind *o = &w->inds[k];
		if (o->pass == d->pass ||
		    hypot((double)(o->e_mm - d->e_mm), (double)(o->n_mm - d->n_mm)) > r_mm)
			continue;
		for (uint32_t j = 0; j < n; j++)
			if (o->pass == (uint32_t)ps[j])
				return true;
	}
	return false;
}

/* `[layout] passes = 3`: every task box gets three full passes (kind second after the primary) by three
 * different animals, one after the other; the team leader compares after the third over all three passes'
 * pegs (a peg only the third animal agrees with is settled); QC comes after the last full pass; the
 * confirming animal is none of the three. */
Test(sim_world, three_full_passes_and_the_comparison_over_all_three, .timeout = 120)
{
	struct an_sim_scenario sc;
	scenario(&sc, three_pass_day);
	cr_assert_eq(sc.passes, 3u);
	double r_mm = sc.confirm_radius_m * 1000.0;
	uint32_t boxes = 0, settled_by_third = 0, disputed_boxes = 0, clean_boxes = 0, qc = 0;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct an_sim_world w;
		build(&w, &sc, seed);
		for (uint32_t b = 0; b < w.n_boxes; b++) {
			const struct an_sim_box *bx = &w.boxes[b];
			if (bx->kind == AN_SIM_BOX_BLIND)
				continue;
			int32_t full[4], pc = -1, pq = -1;
			uint32_t nfull = 0, nconf = 0;
			for (uint32_t i = 0; i < w.n_passes; i++) {
				const struct an_sim_pass *p = &w.passes[i];
				if (p->box != b)
					continue;
				if (p->kind == AN_SIM_PASS_PRIMARY || p->kind == AN_SIM_PASS_SECOND) {
					cr_assert_lt(nfull, 3u, "seed %lu box %s: more than 3 full passes", (unsigned long)seed,
						     bx->id);
					cr_assert_eq(p->kind == AN_SIM_PASS_PRIMARY, nfull == 0, "the primary first");
					full[nfull++] = (int32_t)i;
				} else if (p->kind == AN_SIM_PASS_CONFIRM && p->round == 1) {
					pc = (int32_t)i, nconf++;
				} else if (p->kind == AN_SIM_PASS_QC) {
					pq = (int32_t)i;
				}
			}
			cr_assert_eq(nfull, 3u, "seed %lu box %s: %u full passes", (unsigned long)seed, bx->id, nfull);
			cr_assert_leq(nconf, 1u);
			boxes++;
			/* three different animals of the box's species, consecutively, each over the whole box */
			for (uint32_t k = 0; k < 3; k++) {
				const struct an_sim_pass *p = &w.passes[full[k]];
				cr_assert_eq(w.animals[p->animal].p.species, bx->kind == AN_SIM_BOX_DOG ? AN_SIM_DOG : AN_SIM_RAT);
				cr_assert_float_eq(p->area_m2, bx->area_m2, 1e-6);
				if (k > 0)
					cr_assert_geq(p->t0_ms, w.passes[full[k - 1]].t1_ms);
				for (uint32_t j = 0; j < k; j++)
					cr_assert_neq(p->animal, w.passes[full[j]].animal, "seed %lu box %s: one animal twice",
						      (unsigned long)seed, bx->id);
			}
			if (pq >= 0) {
				qc++;
				cr_assert_geq(w.passes[pq].t0_ms, w.passes[full[2]].t1_ms, "QC before the last full pass");
			}
			/* the team leader's comparison, redone from the pegs of all three passes */
			bool disputed = false;
			for (uint32_t i = 0; i < w.n_inds; i++) {
				const struct an_sim_ind *d = &w.inds[i];
				bool mine = false;
				for (uint32_t k = 0; k < 3; k++)
					mine |= d->pass == (uint32_t)full[k];
				if (!mine)
					continue;
				/* the first two passes' pegs only (the comparison before the key): which the third settles */
				bool by_first_two = (d->pass == (uint32_t)full[0] || d->pass == (uint32_t)full[1]) &&
						    agreed_by(&w, d, full, 2, r_mm);
				bool agreed = agreed_by(&w, d, full, 3, r_mm);
				settled_by_third += agreed && !by_first_two && d->pass != (uint32_t)full[2];
				if (agreed)
					continue;
				disputed = true;
				cr_assert(pc >= 0, "seed %lu box %s: a disputed peg but no confirmation", (unsigned long)seed,
					  bx->id);
				struct an_geo_box_pos bp;
				cr_assert_eq(an_geo_box_locate(&bx->geo, d->e_mm, d->n_mm, 0, &bp), 0);
				double al = fmin(fmax((double)bp.along_mm, 0.0), (double)bx->geo.lane_len_mm);
				double ac = fmin(fmax((double)bp.across_mm, 0.0), (double)bx->geo.width_mm);
				bool inside = false;
				for (uint32_t k = 0; k < w.n_patches; k++)
					inside |= w.patches[k].pass == (uint32_t)pc && in_patch(bx, &w.patches[k], al, ac);
				cr_assert(inside, "seed %lu box %s: disputed peg %u outside every patch", (unsigned long)seed,
					  bx->id, d->id);
			}
			if (!disputed) {
				/* every peg agreed (some only by the third animal): nothing to confirm */
				cr_assert_lt(pc, 0, "seed %lu box %s: confirmation without a disputed peg", (unsigned long)seed,
					     bx->id);
				clean_boxes++;
				continue;
			}
			disputed_boxes++;
			const struct an_sim_pass *ps = &w.passes[pc];
			for (uint32_t k = 0; k < 3; k++)
				cr_assert_neq(ps->animal, w.passes[full[k]].animal, "a full pass's animal confirmed");
			cr_assert_geq(ps->t0_ms, w.passes[full[2]].t1_ms, "confirmation before the third pass ended");
		}
		an_sim_world_free(&w);
	}
	cr_assert_eq(boxes, 6u * 5u);
	/* the check met every case: pegs only the third animal settled, boxes clean and disputed, QC passes */
	cr_assert_gt(settled_by_third, 2u);
	cr_assert_gt(clean_boxes, 2u);
	cr_assert_gt(disputed_boxes, 2u);
	cr_assert_gt(qc, 2u);
}

Test(sim_scenario, passes_outside_2_to_4_is_refused)
{
	struct an_sim_scenario sc;
	char err[256] = "";
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(sc.passes, 2u, "two full passes are the default");
	cr_assert_eq(an_sim_scenario_parse(&sc, "[layout]\nrat_boxes = 2\npasses = 5\n", "test", err, sizeof err),
		     -EINVAL);
	cr_assert(strstr(err, "test:3: passes: 5 outside [2, 4]"), "'%s'", err);
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_scenario_parse(&sc, "[layout]\npasses = 1\n", "test", err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "test:2: passes"), "'%s'", err);
	an_sim_scenario_defaults(&sc);
	cr_assert_eq(an_sim_scenario_parse(&sc, "[layout]\npasses = 3.5\n", "test", err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "test:2: passes: '3.5' is not a whole number"), "'%s'", err);
	/* a scenario filled in code is checked where the world is built */
	scenario(&sc, three_pass_day);
	sc.passes = 5;
	struct an_sim_world w;
	cr_assert_eq(an_sim_world_build(&w, &sc, 1, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "passes = 5 outside 2..4"), "'%s'", err);
}

/* ------------------------------------------------------------------ accelerometer */
Test(sim_motion, layout_matches_the_firmware_and_stream_is_regular)
{
	cr_assert_eq(sizeof(struct an_sim_accel), sizeof(struct cf_accel_sample));
	cr_assert_eq(offsetof(struct an_sim_accel, t_ms), offsetof(struct cf_accel_sample, t_ms));
	cr_assert_eq(offsetof(struct an_sim_accel, x_mg), offsetof(struct cf_accel_sample, x_mg));
	cr_assert_eq(offsetof(struct an_sim_accel, y_mg), offsetof(struct cf_accel_sample, y_mg));
	cr_assert_eq(offsetof(struct an_sim_accel, z_mg), offsetof(struct cf_accel_sample, z_mg));
}

struct mstats {
	uint32_t last_t;
	size_t n, gaps;
	double sum_x[AN_SIM_B_COUNT], sum_norm_dev2[AN_SIM_B_COUNT];
	size_t cnt[AN_SIM_B_COUNT];
	int cur_beh;
	uint32_t seg_t0, seg_t1;
	size_t labels;
};

static int ms_sample(void *ctx, const struct an_sim_accel *s)
{
	struct mstats *m = ctx;
	if (m->n)
		cr_assert_gt(s->t_ms, m->last_t);
	if (m->n && s->t_ms - m->last_t != 20)
		m->gaps++;
	m->last_t = s->t_ms;
	m->n++;
	return 0;
}

static int ms_label(void *ctx, uint32_t t0, uint32_t t1, int beh)
{
	struct mstats *m = ctx;
	cr_assert_lt(t0, t1);
	cr_assert_geq(t0, m->seg_t1, "labels overlap");
	m->seg_t1 = t1;
	m->cnt[beh] += (t1 - t0) / 20;
	m->labels++;
	return 0;
}

Test(sim_motion, samples_follow_the_behaviour_timeline, .timeout = 60)
{
	struct an_sim_scenario sc;
	scenario(&sc, small_day);
	struct an_sim_world w;
	build(&w, &sc, 10);
	for (uint32_t a = 0; a < w.n_animals; a++) {
		struct mstats m = {0};
		cr_assert_eq(an_sim_motion_collar(&w, a, ms_sample, ms_label, &m), 0);
		size_t labelled = 0;
		for (int b = 0; b < AN_SIM_B_COUNT; b++)
			labelled += m.cnt[b];
		cr_assert_eq(m.cnt[AN_SIM_B_REST], 0u, "no samples while resting");
		cr_assert(labelled >= m.n - m.labels && labelled <= m.n + m.labels, "labels cover %zu of %zu samples",
			  labelled, m.n);
		cr_assert_gt(m.cnt[AN_SIM_B_WALK], 1000u);
		if (w.animals[a].p.species == AN_SIM_DOG)
			cr_assert_gt(m.cnt[AN_SIM_B_SIT] + m.cnt[AN_SIM_B_TROT], 0u);
	}
	an_sim_world_free(&w);
}

/* ------------------------------------------------------------------ radio */
static struct an_sim_radio *radio(struct an_sim_radio_cfg c)
{
	struct an_sim_radio *r = malloc(sizeof *r);
	cr_assert(r);
	cr_assert_eq(an_sim_radio_init(r, &c), 0);
	return r;
}

Test(sim_radio, airtime_loss_and_bursts)
{
	struct an_sim_radio_cfg c = {.bitrate_bps = 50000, .overhead_bytes = 12, .p_loss = 0.1, .seed = 1};
	cr_assert_eq(an_sim_radio_airtime_us(&c, 20), 5120);
	struct an_sim_radio *r = radio(c);
	const int n = 40000;
	struct an_sim_radio_rx rx;
	int lost = 0;
	for (int i = 0; i < n; i++) {
		cr_assert_eq(an_sim_radio_send(r, (int64_t)i * 10000, 1, 20, NULL, NULL), 0);
		cr_assert_eq(an_sim_radio_poll(r, (int64_t)i * 10000 + 9999, &rx), 1);
		cr_assert_neq(rx.fate, AN_SIM_RADIO_COLLIDED, "spaced frames never collide");
		lost += rx.fate == AN_SIM_RADIO_LOST;
	}
	cr_assert(fabs(lost / (double)n - 0.1) <= 3.29 * sqrt(0.09 / n), "Bernoulli loss %.4f", lost / (double)n);
	cr_assert_eq(an_sim_radio_poll(r, 5, &rx), -ERANGE, "clock went backwards");
	cr_assert_eq(r->stats.clock_errors, 1u);
	free(r);

	/* Gilbert–Elliott: stationary loss p_gb/(p_gb+p_bg), mean loss burst 1/p_bg */
	c = (struct an_sim_radio_cfg){.bitrate_bps = 50000, .overhead_bytes = 12, .ge_p_gb = 0.02, .ge_p_bg = 0.2,
				      .ge_loss_bad = 1.0, .seed = 2};
	r = radio(c);
	int losses = 0, bursts = 0;
	bool prev = false;
	for (int i = 0; i < 200000; i++) {
		cr_assert_eq(an_sim_radio_send(r, (int64_t)i * 10000, 1, 20, NULL, NULL), 0);
		cr_assert_eq(an_sim_radio_poll(r, (int64_t)i * 10000 + 9999, &rx), 1);
		bool l = rx.fate == AN_SIM_RADIO_LOST;
		losses += l;
		bursts += l && !prev;
		prev = l;
	}
	double pi_b = 0.02 / 0.22;
	cr_assert(fabs(losses / 200000.0 - pi_b) < 0.01, "GE loss %.4f, stationary %.4f", losses / 200000.0, pi_b);
	cr_assert(fabs((double)losses / bursts - 5.0) < 0.4, "mean burst %.2f, want 5", (double)losses / bursts);
	free(r);
}

/* Poisson arrivals at offered load G frames per airtime. */
static double offered(bool csma, double G, uint64_t *overflow, double *util)
{
	struct an_sim_radio_cfg c = {.bitrate_bps = 50000, .overhead_bytes = 12, .csma = csma, .sense_us = 200,
				     .backoff_max_us = 3000, .seed = 3};
	struct an_sim_radio *r = radio(c);
	int64_t air = an_sim_radio_airtime_us(&c, 20);
	struct an_sim_rng g;
	an_sim_rng_init(&g, 99, 1);
	double t = 0;
	struct an_sim_radio_rx rx;
	uint64_t ok = 0, done = 0;
	const int n = 30000;
	for (int i = 0; i < n; i++) {
		t += an_sim_rng_exp(&g, (double)air / G);
		int64_t now = (int64_t)t;
		while (an_sim_radio_poll(r, now, &rx) == 1)
			ok += rx.fate == AN_SIM_RADIO_OK, done++;
		int e = an_sim_radio_send(r, now, (uint32_t)i % 32u, 20, NULL, NULL);
		cr_assert(e == 0 || e == -ENOBUFS);
	}
	while (an_sim_radio_poll(r, INT64_MAX / 2, &rx) == 1)
		ok += rx.fate == AN_SIM_RADIO_OK, done++;
	*overflow = r->stats.overflow;
	*util = (double)r->stats.busy_us / t;
	cr_assert_eq(done + r->stats.overflow, (uint64_t)n, "every frame gets exactly one fate");
	free(r);
	return (double)ok / n;
}

Test(sim_radio, aloha_collisions_and_csma_overload, .timeout = 60)
{
	uint64_t ov;
	double util;
	/* pure ALOHA: P(success) = exp(-2G) */
	double s = offered(false, 0.25, &ov, &util);
	cr_assert(fabs(s - exp(-0.5)) < 0.02, "ALOHA success %.4f at G=0.25, theory %.4f", s, exp(-0.5));
	s = offered(false, 1.0, &ov, &util);
	cr_assert(fabs(s - exp(-2.0)) < 0.02, "ALOHA success %.4f at G=1, theory %.4f", s, exp(-2.0));
	/* CSMA, twice the capacity offered: the channel saturates (never above 100 %), the queue overflows */
	s = offered(true, 2.0, &ov, &util);
	cr_assert_gt(ov, 1000u, "overload must show as queue overflow");
	cr_assert(util <= 1.0 + 1e-9 && util > 0.8, "channel utilisation %.3f", util);
	cr_assert(s < 0.5, "at most the capacity gets through: %.3f", s);
}

Test(sim_radio, outage_and_corruption)
{
	struct an_sim_radio_cfg c = {.bitrate_bps = 50000, .overhead_bytes = 12, .p_corrupt = 0.05, .seed = 4};
	struct an_sim_radio *r = radio(c);
	cr_assert_eq(an_sim_radio_outage(r, 1000000, 2000000), 0);
	cr_assert_eq(an_sim_radio_outage(r, 5, 5), -EINVAL);
	struct an_sim_radio_rx rx;
	int in_out = 0, corrupt = 0, n = 0;
	for (int i = 0; i < 20000; i++) {
		int64_t t = (int64_t)i * 10000;
		cr_assert_eq(an_sim_radio_send(r, t, 2, 30, NULL, NULL), 0);
		cr_assert_eq(an_sim_radio_poll(r, t + 9999, &rx), 1);
		bool inside = rx.end_us > 1000000 && rx.start_us < 2000000;
		cr_assert_eq(rx.fate == AN_SIM_RADIO_LOST_OUTAGE, inside);
		in_out += inside;
		if (!inside) {
			n++;
			corrupt += rx.fate == AN_SIM_RADIO_CORRUPTED;
		}
	}
	cr_assert_eq(in_out, 100);
	cr_assert(fabs(corrupt / (double)n - 0.05) <= 3.29 * sqrt(0.0475 / n));
	uint8_t a[32] = {0}, b[32] = {0};
	for (int k = 0; k < 100; k++) {
		memset(b, 0, sizeof b);
		an_sim_radio_corrupt(r, b, sizeof b);
		int bits = 0;
		for (size_t i = 0; i < sizeof b; i++)
			bits += __builtin_popcount((unsigned)(a[i] ^ b[i]));
		cr_assert(bits >= 1 && bits <= 3, "%d bits flipped", bits);
	}
	free(r);
}

/* ---- scoring against the truth (sim_eval.c) ---------------------------------------------------------------- */

/* A hand-made world: 4 explosive targets and 1 scrap item; points chosen so every figure is known. */
Test(sim_eval, matching_rates_error_and_ranking_by_hand)
{
	struct an_sim_world w;
	memset(&w, 0, sizeof w);
	struct an_sim_target t[5] = {
		{.id = 0, .cls = AN_SIM_T_AP, .e_mm = 0, .n_mm = 0},
		{.id = 1, .cls = AN_SIM_T_AT, .e_mm = 10000, .n_mm = 0},
		{.id = 2, .cls = AN_SIM_T_UXO, .e_mm = 20000, .n_mm = 0},
		{.id = 3, .cls = AN_SIM_T_AP, .e_mm = 30000, .n_mm = 0},
		{.id = 4, .cls = AN_SIM_T_SCRAP, .e_mm = 40000, .n_mm = 0},
	};
	w.targets = t;
	w.n_targets = 5;
	struct an_sim_eval_point p[6] = {
		{.e_mm = 300, .n_mm = 400, .score = 0.9, .group = AN_SIM_RX_RTK_FIXED},      /* target 0, 0.5 m */
		{.e_mm = 0, .n_mm = 1000, .score = 0.8, .group = AN_SIM_RX_RTK_FIXED},       /* 2nd point at target 0: false */
		{.e_mm = 11500, .n_mm = 2000, .score = 0.7, .group = AN_SIM_RX_CONSUMER},    /* target 1, 2.5 m */
		{.e_mm = 40200, .n_mm = 0, .score = 0.6, .group = AN_SIM_RX_CONSUMER},       /* scrap: false (clutter) */
		{.e_mm = 25000, .n_mm = 0, .score = 0.5, .group = AN_SIM_RX_CONSUMER},       /* nothing within 3 m */
		{.e_mm = 30000, .n_mm = -1000, .score = 0.4, .group = AN_SIM_RX_RTK_FIXED},  /* target 3, 1 m */
	};
	struct an_sim_eval e;
	int32_t cls[6];
	cr_assert_eq(an_sim_evaluate(&w, p, 6, 3000, 400.0, 0, &e, cls), 0);
	cr_expect_eq(e.points, 6);
	cr_expect_eq(e.explosive, 4);
	cr_expect_eq(e.detected, 3);
	cr_expect_float_eq(e.detection_rate, 0.75, 1e-12);
	cr_expect_eq(e.false_points, 3);
	cr_expect_eq(e.clutter_points, 1);
	cr_expect_float_eq(e.false_per_100m2, 0.75, 1e-12);
	cr_expect_float_eq(e.median_err_m, 1.0, 1e-9);                         /* {0.5, 2.5, 1.0} */
	cr_expect_float_eq(e.median_err_by_group_m[AN_SIM_RX_RTK_FIXED], 0.75, 1e-9); /* {0.5, 1.0} */
	cr_expect_float_eq(e.median_err_by_group_m[AN_SIM_RX_CONSUMER], 2.5, 1e-9);
	cr_expect_eq(cls[0], 0); /* the matched target's index */
	cr_expect_eq(w.targets[cls[0]].cls, AN_SIM_T_AP);
	cr_expect_eq(cls[1], -1);
	cr_expect_eq(w.targets[cls[3]].cls, AN_SIM_T_SCRAP);
	/* ranking: hits at ranks 1, 3, 6 → AP = (1/1 + 2/3 + 3/6) / 4 explosive targets; top decile = rank 1 */
	cr_expect_float_eq(e.pr_auc, (1.0 + 2.0 / 3.0 + 0.5) / 4.0, 1e-12);
	cr_expect_float_eq(e.top_decile_precision, 1.0, 1e-12);
	/* all tied: one group, precision 3/6 for each hit */
	for (int i = 0; i < 6; i++)
		p[i].score = 1.0;
	cr_assert_eq(an_sim_evaluate(&w, p, 6, 3000, 400.0, 0, &e, NULL), 0);
	cr_expect_float_eq(e.pr_auc, 3 * 0.5 / 4.0, 1e-12);
	cr_expect_float_eq(e.top_decile_precision, 0.5, 1e-12);
	cr_expect_eq(an_sim_evaluate(&w, p, 6, 0, 400.0, 0, &e, NULL), -EINVAL);
}

/* Coverage counts one interval per animal and kind; the 95 % exact intervals cover the truth at least
 * about 95 % of the time over a few seeds of the reference scenario (the benchmark uses >= 200 seeds). */
Test(sim_eval, coverage_of_exact_intervals_over_seeds, .timeout = 120)
{
	struct an_sim_scenario *sc = malloc(sizeof *sc);
	char err[256];
	cr_assert_not_null(sc);
	an_sim_scenario_defaults(sc);
	cr_assert_eq(an_sim_scenario_load(sc, SCENTRACK_SOURCE_DIR "/analysis/scenarios/reference.ini", err, sizeof err), 0, "%s", err);
	struct an_sim_coverage acc = {0};
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct an_sim_world w;
		cr_assert_eq(an_sim_world_build(&w, sc, seed, err, sizeof err), 0, "%s", err);
		cr_assert_eq(an_sim_coverage_add(&w, 0.95, &acc), 0);
		an_sim_world_free(&w);
	}
	free(sc);
	cr_expect_eq(acc.rate_n, 20u * 9u, "one false-rate interval per animal and seed");
	cr_expect_gt(acc.sens_n, 100u);
	cr_expect_eq(acc.sens_cov + acc.sens_below + acc.sens_above, acc.sens_n);
	cr_expect_geq((double)acc.sens_cov / (double)acc.sens_n, 0.90, "sensitivity coverage %f",
		      (double)acc.sens_cov / (double)acc.sens_n);
	cr_expect_geq((double)acc.rate_cov / (double)acc.rate_n, 0.90, "rate coverage %f",
		      (double)acc.rate_cov / (double)acc.rate_n);
}

/* ------------------------------------------------------------------ the data recorder (sim_recorder.c) */

/* The recorder on its own substream: `recorder = no` leaves every other file byte for byte as it was and writes
 * no boxpos.csv; on, every indication has a line, in its box, in the lane it was in, along within a few σ. */
Test(sim_recorder, off_moves_nothing_else_on_is_in_the_lane, .timeout = 120)
{
	struct an_sim_scenario on, off;
	char text[2048];
	scenario(&on, small_day);
	snprintf(text, sizeof text, "%s[schedule]\nrecorder = no\n", small_day);
	scenario(&off, text);
	cr_assert(on.recorder, "the recorder is on by default");
	struct an_sim_world w;
	build(&w, &on, 42);
	cr_assert_eq(w.n_rec, w.n_inds);
	cr_assert_gt(w.n_inds, 5);
	double sum_sq[3] = {0}, n_sp[3] = {0};
	for (uint32_t i = 0; i < w.n_rec; i++) {
		const struct an_sim_boxpos *b = &w.rec[i];
		const struct an_sim_ind *d = &w.inds[b->ind];
		const struct an_geo_box *g = &w.boxes[d->box].geo;
		cr_expect_eq(b->ind, i);
		cr_expect_lt(b->lane, g->lane_count);
		cr_expect(b->along_mm >= 0 && b->along_mm <= g->lane_len_mm + 500);
		struct an_geo_box_pos pos;
		cr_assert_eq(an_geo_box_locate(g, d->e_mm, d->n_mm, 0, &pos), 0);
		if (pos.lane >= 0 && pos.lane < (int32_t)g->lane_count && pos.along_mm > 1000 &&
		    pos.along_mm < g->lane_len_mm - 1000) {
			cr_expect_eq((int32_t)b->lane, pos.lane, "indication %u: the lane it was in", d->id);
			int sp = w.animals[d->animal].p.species;
			double e = (double)(b->along_mm - pos.along_mm);
			sum_sq[sp] += e * e;
			n_sp[sp] += 1.0;
			cr_expect_eq(b->sd_mm, sp == AN_SIM_DOG ? 300u : 150u);
		}
	}
	/* the along error's RMS is the configured σ (loose: a small day has tens of indications) */
	if (n_sp[AN_SIM_RAT] >= 10)
		cr_expect(sqrt(sum_sq[AN_SIM_RAT] / n_sp[AN_SIM_RAT]) > 80.0 &&
		          sqrt(sum_sq[AN_SIM_RAT] / n_sp[AN_SIM_RAT]) < 260.0, "rat RMS %.0f mm",
		          sqrt(sum_sq[AN_SIM_RAT] / n_sp[AN_SIM_RAT]));
	if (n_sp[AN_SIM_DOG] >= 10)
		cr_expect(sqrt(sum_sq[AN_SIM_DOG] / n_sp[AN_SIM_DOG]) > 160.0 &&
		          sqrt(sum_sq[AN_SIM_DOG] / n_sp[AN_SIM_DOG]) < 520.0, "dog RMS %.0f mm",
		          sqrt(sum_sq[AN_SIM_DOG] / n_sp[AN_SIM_DOG]));
	an_sim_world_free(&w);
	build(&w, &off, 42);
	cr_expect_eq(w.n_rec, 0);
	an_sim_world_free(&w);
	char d1[] = "/tmp/an_sim_r1_XXXXXX", d2[] = "/tmp/an_sim_r2_XXXXXX";
	run_to(&on, 42, d1);
	run_to(&off, 42, d2);
	char bp[64];
	snprintf(bp, sizeof bp, "%s/boxpos.csv", d2);
	cr_expect_neq(access(bp, F_OK), 0, "recorder = no must not write boxpos.csv");
	snprintf(bp, sizeof bp, "%s/boxpos.csv", d1);
	size_t len;
	char *h = slurp(bp, &len);
	static const char head[] = "id,animal,pass,box,lane,along_m,sd_m\n";
	cr_expect(len > sizeof head && strncmp(h, head, sizeof head - 1) == 0, "%.*s", (int)len, h);
	free(h);
	unlink(bp); /* compare_dirs walks d1: every other file has its twin, byte for byte */
	int files = 0;
	cr_expect_eq(compare_dirs(d1, d2, &files), 0, "the recorder changed another file");
	cr_expect_eq(files, 9 + 5 * 3);
}

/* A point on a fragment is counted apart from scrap: the animals indicate fragments' explosive residue by
 * design. Strict (correct_mask 0) it is a false point (no explosive item to dig up); with the accuracy
 * report's default roles it is a correct point, neither a detection nor false. */
Test(an_sim, eval_counts_false_points_on_fragments_apart)
{
	struct an_sim_world w;
	memset(&w, 0, sizeof w);
	struct an_sim_target t[3] = {
		{.id = 0, .cls = AN_SIM_T_AP, .e_mm = 0, .n_mm = 0},
		{.id = 1, .cls = AN_SIM_T_FRAG, .e_mm = 10000, .n_mm = 0},
		{.id = 2, .cls = AN_SIM_T_SCRAP, .e_mm = 20000, .n_mm = 0},
	};
	w.targets = t;
	w.n_targets = 3;
	struct an_sim_eval_point p[4] = {
		{.e_mm = 100, .n_mm = 0, .score = 0.9}, {.e_mm = 10100, .n_mm = 0, .score = 0.8},
		{.e_mm = 20100, .n_mm = 0, .score = 0.7}, {.e_mm = 30000, .n_mm = 0, .score = 0.6},
	};
	struct an_sim_eval e;
	cr_assert_eq(an_sim_evaluate(&w, p, 4, 3000, 100.0, 0, &e, NULL), 0);
	cr_expect_eq(e.detected, 1);
	cr_expect_eq(e.false_points, 3);
	cr_expect_eq(e.clutter_points, 2);
	cr_expect_eq(e.fragment_points, 1);
	cr_expect_eq(e.correct_points, 0);
	cr_expect_float_eq(e.false_per_100m2, 3.0, 1e-12);
	/* the accuracy report's default roles: the point on the fragment is correct, neither found nor false */
	cr_assert_eq(an_sim_evaluate(&w, p, 4, 3000, 100.0, AN_SIM_EVAL_CORRECT_DEFAULT, &e, NULL), 0);
	cr_expect_eq(e.detected, 1);
	cr_expect_eq(e.false_points, 2);
	cr_expect_eq(e.correct_points, 1);
	cr_expect_eq(e.clutter_points, 2);
	cr_expect_eq(e.fragment_points, 1);
	cr_expect_float_eq(e.false_per_100m2, 2.0, 1e-12);
	/* scrap counted correct too: only the point on nothing is false */
	cr_assert_eq(an_sim_evaluate(&w, p, 4, 3000, 100.0, 1u << AN_SIM_T_FRAG | 1u << AN_SIM_T_SCRAP, &e, NULL), 0);
	cr_expect_eq(e.false_points, 1);
	cr_expect_eq(e.correct_points, 2);
	/* an explosive class is a target, never "correct" */
	cr_expect_eq(an_sim_evaluate(&w, p, 4, 3000, 100.0, 1u << AN_SIM_T_UXO, &e, NULL), -EINVAL);
}
