/*
 * analysis/src/report_out.c — the text and JSON forms of the accuracy, hazard and accreditation reports
 * (an/report.h), and the accreditation computation. JSON keys are written in a fixed order.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/geo.h"
#include "an/match.h"
#include "an/report.h"
#include "an/stats.h"
#include "an/store.h"
#include "export_internal.h"
#include "proto/hmac.h"
#include "report_internal.h"

/* ---- number helpers ---------------------------------------------------------------------------------------- */

static void jnum(FILE *o, double v, bool ok)
{
	if (ok && isfinite(v))
		fprintf(o, "%.6f", v);
	else
		fputs("null", o);
}

static void jint(FILE *o, const char *key, uint64_t v, bool comma)
{
	fprintf(o, "%s\"%s\":%" PRIu64, comma ? "," : "", key, v);
}

static void jkey(FILE *o, const char *key, bool comma)
{
	fprintf(o, "%s\"%s\":", comma ? "," : "", key);
}

static void jiv(FILE *o, const struct an_stats_interval *iv, bool ok)
{
	if (!ok) {
		fputs("null", o);
		return;
	}
	fputc('[', o);
	jnum(o, iv->lo, true);
	fputc(',', o);
	jnum(o, iv->hi, true);
	fputc(']', o);
}

/* Interval ends in percent with one decimal, rounded OUTWARD, so a printed bound never claims more than
 * the computed one (the statement's "at least X %" uses the same floor). */
#define LO1(p) (floor((p) * 1000.0) / 10.0)
#define HI1(p) (ceil((p) * 1000.0) / 10.0)

struct gstats {
	bool has_sens, has_ppv, has_rate;
	double sens, ppv, rate, rate_all, search_rate;
	struct an_stats_interval sens_cp, sens_wilson, sens_lower, sens_upper, ppv_cp, rate_ci, rate_upper;
	uint64_t need90, need95, need99;
	bool n90, n95, n99;
};

static void group_stats(const struct an_report_group *g, double conf, struct gstats *s)
{
	memset(s, 0, sizeof *s);
	if (g->targets > 0) {
		s->has_sens = an_stats_binom_cp(g->hits, g->targets, conf, AN_STATS_TWO_SIDED, &s->sens_cp) == 0 &&
		              an_stats_binom_wilson(g->hits, g->targets, conf, AN_STATS_TWO_SIDED, 0, &s->sens_wilson) == 0 &&
		              an_stats_binom_cp(g->hits, g->targets, conf, AN_STATS_LOWER_BOUND, &s->sens_lower) == 0 &&
		              an_stats_binom_cp(g->hits, g->targets, conf, AN_STATS_UPPER_BOUND, &s->sens_upper) == 0;
		s->sens = (double)g->hits / (double)g->targets;
	}
	s->n90 = an_stats_more_needed(g->hits, g->targets, 0.90, conf, AN_STATS_LOWER_BOUND, &s->need90) == 0;
	s->n95 = an_stats_more_needed(g->hits, g->targets, 0.95, conf, AN_STATS_LOWER_BOUND, &s->need95) == 0;
	s->n99 = an_stats_more_needed(g->hits, g->targets, 0.99, conf, AN_STATS_LOWER_BOUND, &s->need99) == 0;
	uint64_t resolved = g->correct + g->false_ind;
	if (resolved > 0) {
		s->has_ppv = an_stats_binom_cp(g->correct, resolved, conf, AN_STATS_TWO_SIDED, &s->ppv_cp) == 0;
		s->ppv = (double)g->correct / (double)resolved;
	}
	if (g->area_m2 > 0) {
		s->has_rate = an_stats_rate_exact(g->false_ind, g->area_m2, 100.0, conf, AN_STATS_TWO_SIDED, &s->rate,
		                                  &s->rate_ci) == 0 &&
		              an_stats_rate_exact(g->false_ind, g->area_m2, 100.0, conf, AN_STATS_UPPER_BOUND, NULL,
		                                  &s->rate_upper) == 0;
		s->rate_all = (double)(g->false_ind + g->unresolved) / g->area_m2 * 100.0;
	}
	s->search_rate = g->hours > 0 ? g->area_timed_m2 / g->hours : NAN;
}

/* The plain-language claim. */
static void statement(char *buf, size_t cap, const struct an_report_group *g, const struct gstats *s, double conf)
{
	int pc = (int)lround(conf * 100);
	size_t n = 0;
	if (g->targets == 0) {
		n = (size_t)snprintf(buf, cap, "No targets were searched over yet: nothing can be said about sensitivity.");
	} else if (g->misses == 0) {
		n = (size_t)snprintf(buf, cap,
		                     "%" PRIu64 "/%" PRIu64 " targets found proves sensitivity >= %.1f %% (%d %% one-sided, "
		                     "Clopper-Pearson).",
		                     g->hits, g->targets, LO1(s->sens_lower.lo), pc);
		if (s->n95 && s->need95 > 0 && n < cap)
			n += (size_t)snprintf(buf + n, cap - n,
			                      " It does not prove 95 %%: %" PRIu64 " more targets found with no miss would.",
			                      s->need95);
	} else {
		n = (size_t)snprintf(buf, cap,
		                     "%" PRIu64 " of %" PRIu64 " targets found (%" PRIu64 " missed): sensitivity is at least "
		                     "%.1f %% and at most %.1f %% (each %d %% one-sided, Clopper-Pearson).",
		                     g->hits, g->targets, g->misses, LO1(s->sens_lower.lo),
		                     HI1(s->sens_upper.hi), pc);
	}
	if (s->has_rate && n < cap) {
		n += (size_t)snprintf(buf + n, cap - n,
		                      " %" PRIu64 " false indications in %.0f m2: the rate is below %.3f per 100 m2 (%d %% "
		                      "one-sided, exact Poisson)%s",
		                      g->false_ind, g->area_m2, s->rate_upper.hi, pc,
		                      g->unresolved ? " - a LOWER bound while indications remain unresolved." : ".");
	}
}

static void group_json(FILE *o, const struct an_report_group *g, double conf)
{
	struct gstats s;
	group_stats(g, conf, &s);
	fputs("{\"label\":", o);
	an_exp__json_str(o, g->label);
	jint(o, "sessions", g->sessions, true);
	jkey(o, "area_m2", true);
	jnum(o, g->area_m2, true);
	jkey(o, "hours", true);
	jnum(o, g->hours, true);
	jkey(o, "search_rate_m2_per_h", true);
	jnum(o, s.search_rate, g->hours > 0);
	jint(o, "targets", g->targets, true);
	jint(o, "hits", g->hits, true);
	jint(o, "misses", g->misses, true);
	jkey(o, "sensitivity", true);
	jnum(o, s.sens, s.has_sens);
	jkey(o, "sensitivity_cp", true);
	jiv(o, &s.sens_cp, s.has_sens);
	jkey(o, "sensitivity_cp_lower_one_sided", true);
	jnum(o, s.sens_lower.lo, s.has_sens);
	jkey(o, "sensitivity_wilson", true);
	jiv(o, &s.sens_wilson, s.has_sens);
	jint(o, "indications", g->indications, true);
	jint(o, "correct", g->correct, true);
	jint(o, "false", g->false_ind, true);
	jint(o, "repeats", g->repeats, true);
	jint(o, "unresolved", g->unresolved, true);
	jint(o, "rejected", g->rejected, true);
	jkey(o, "false_per_100m2", true);
	jnum(o, s.rate, s.has_rate);
	jkey(o, "false_per_100m2_exact", true);
	jiv(o, &s.rate_ci, s.has_rate);
	jkey(o, "false_per_100m2_upper_one_sided", true);
	jnum(o, s.rate_upper.hi, s.has_rate);
	jkey(o, "false_per_100m2_if_unresolved_false", true);
	jnum(o, s.rate_all, s.has_rate);
	jkey(o, "ppv", true);
	jnum(o, s.ppv, s.has_ppv);
	jkey(o, "ppv_cp", true);
	jiv(o, &s.ppv_cp, s.has_ppv);
	fputs(",\"resolved_by_class\":{", o);
	bool first = true;
	for (int c = 1; c < AN_REPORT_NCLASS; c++) {
		if (g->matched_by_class[c] == 0)
			continue;
		jint(o, an_rep__class_names[c], g->matched_by_class[c], !first);
		first = false;
	}
	fputs("}}", o);
}

static void group_text(FILE *o, const struct an_report_group *g, const struct an_report_opts *opt, bool full)
{
	double conf = opt->conf;
	struct gstats s;
	group_stats(g, conf, &s);
	int pc = (int)lround(conf * 100);
	if (full)
		fprintf(o, "  sessions %" PRIu64 ", area searched %.1f m2", g->sessions, g->area_m2);
	if (full && g->hours > 0)
		fprintf(o, ", %.2f h timed, search rate %.1f m2/h", g->hours, s.search_rate);
	if (full)
		fputc('\n', o);
	fprintf(o, "  targets %" PRIu64 ": found %" PRIu64 ", missed %" PRIu64 "\n", g->targets, g->hits, g->misses);
	if (s.has_sens)
		fprintf(o, "  sensitivity %.1f %%  Clopper-Pearson %d %% [%.1f %%, %.1f %%], one-sided >= %.1f %%; "
		           "Wilson %d %% [%.1f %%, %.1f %%]\n",
		        100 * s.sens, pc, LO1(s.sens_cp.lo), HI1(s.sens_cp.hi), LO1(s.sens_lower.lo), pc,
		        LO1(s.sens_wilson.lo), HI1(s.sens_wilson.hi));
	if (!full)
		return;
	fprintf(o, "  indications %" PRIu64 ": correct %" PRIu64 ", false %" PRIu64 ", repeats %" PRIu64
	           ", unresolved %" PRIu64,
	        g->indications, g->correct, g->false_ind, g->repeats, g->unresolved);
	if (g->rejected)
		fprintf(o, "; the handler rejected %" PRIu64 " (%s)", g->rejected,
		        opt->with_rejected ? "counted above" : "left out");
	fputc('\n', o);
	if (s.has_rate) {
		fprintf(o, "  false indications %.3f per 100 m2, exact (Garwood) %d %% [%.3f, %.3f]", s.rate, pc,
		        s.rate_ci.lo, s.rate_ci.hi);
		if (g->unresolved)
			fprintf(o, "; counting the %" PRIu64 " unresolved as false: %.3f", g->unresolved, s.rate_all);
		fputc('\n', o);
	}
	if (s.has_ppv) {
		fprintf(o, "  PPV %.1f %% (%" PRIu64 "/%" PRIu64 "), Clopper-Pearson %d %% [%.1f %%, %.1f %%]; resolved by "
		           "class:", 100 * s.ppv, g->correct, g->correct + g->false_ind, pc, LO1(s.ppv_cp.lo),
		        HI1(s.ppv_cp.hi));
		for (int c = 1; c < AN_REPORT_NCLASS; c++) {
			if (g->matched_by_class[c])
				fprintf(o, " %s %" PRIu64, an_rep__class_names[c], g->matched_by_class[c]);
		}
		fputc('\n', o);
	}
}

static void groups_json(FILE *o, const char *key, const struct an_report_group *g, size_t n, double conf)
{
	fprintf(o, ",\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', o);
		group_json(o, &g[i], conf);
	}
	fputc(']', o);
}

static void groups_text(FILE *o, const char *title, const struct an_report_group *g, size_t n,
                        const struct an_report_opts *opt, bool full)
{
	if (n == 0)
		return;
	fprintf(o, "\n-- by %s --\n", title);
	for (size_t i = 0; i < n; i++) {
		fprintf(o, " %s\n", g[i].label);
		group_text(o, &g[i], opt, full);
	}
}

static const double thresholds_m[3] = {0.5, 1.0, 2.0};

static void accuracy_one(FILE *o, const struct an_report_opts *opt, struct an_report_accuracy *a, bool first)
{
	struct gstats s;
	group_stats(&a->all, opt->conf, &s);
	char claim[1024];
	statement(claim, sizeof claim, &a->all, &s, opt->conf);
	struct an_stats_summary loc;
	bool has_loc = a->n_loc > 0 && an_stats_describe(a->loc_err_m, a->n_loc, thresholds_m, 3, &loc) == 0;
	if (opt->json) {
		fprintf(o, "%s{\"animal_id\":%" PRId64 ",\"animal\":", first ? "" : ",\n", a->animal_id);
		an_exp__json_str(o, a->animal);
		fputs(",\"all\":", o);
		group_json(o, &a->all, opt->conf);
		groups_json(o, "by_team", a->teams, a->n_teams, opt->conf);
		groups_json(o, "by_period", a->periods, a->n_periods, opt->conf);
		groups_json(o, "by_temperature", a->temps, a->n_temps, opt->conf);
		groups_json(o, "by_target_class", a->classes, a->n_classes, opt->conf);
		fputs(",\"localisation_error_m\":", o);
		if (has_loc) {
			fprintf(o, "{\"n\":%zu", loc.n);
			jkey(o, "mean", true);
			jnum(o, loc.mean, true);
			jkey(o, "median", true);
			jnum(o, loc.median, true);
			jkey(o, "p95", true);
			jnum(o, loc.p95, true);
			jkey(o, "max", true);
			jnum(o, loc.max, true);
			jkey(o, "share_within_0_5m", true);
			jnum(o, loc.share_within[0], true);
			jkey(o, "share_within_1m", true);
			jnum(o, loc.share_within[1], true);
			jkey(o, "share_within_2m", true);
			jnum(o, loc.share_within[2], true);
			fputc('}', o);
		} else {
			fputs("null", o);
		}
		fputs(",\"more_targets_needed_no_miss\":{", o);
		fputs("\"0.90\":", o);
		s.n90 ? (void)fprintf(o, "%" PRIu64, s.need90) : (void)fputs("null", o);
		fputs(",\"0.95\":", o);
		s.n95 ? (void)fprintf(o, "%" PRIu64, s.need95) : (void)fputs("null", o);
		fputs(",\"0.99\":", o);
		s.n99 ? (void)fprintf(o, "%" PRIu64, s.need99) : (void)fputs("null", o);
		fputs("},\"statement\":", o);
		an_exp__json_str(o, claim);
		fputc('}', o);
		return;
	}
	fprintf(o, "%s== animal %" PRId64 " ", first ? "" : "\n", a->animal_id);
	fprintf(o, "\"%s\" ==\n", a->animal);
	group_text(o, &a->all, opt, true);
	if (has_loc)
		fprintf(o, "  localisation error (%zu correct indications): mean %.2f m, median %.2f m, p95 %.2f m; within "
		           "0.5 m %.1f %%, 1 m %.1f %%, 2 m %.1f %%\n",
		        loc.n, loc.mean, loc.median, loc.p95, 100 * loc.share_within[0], 100 * loc.share_within[1],
		        100 * loc.share_within[2]);
	fprintf(o, "  more targets needed, found with no miss, to claim (%d %% one-sided):", (int)lround(opt->conf * 100));
	if (s.n90)
		fprintf(o, " 90 %% -> %" PRIu64 ",", s.need90);
	if (s.n95)
		fprintf(o, " 95 %% -> %" PRIu64 ",", s.need95);
	if (s.n99)
		fprintf(o, " 99 %% -> %" PRIu64, s.need99);
	fprintf(o, "\n  => %s\n", claim);
	groups_text(o, "handler team", a->teams, a->n_teams, opt, true);
	groups_text(o, "month (UTC)", a->periods, a->n_periods, opt, true);
	groups_text(o, "air temperature", a->temps, a->n_temps, opt, true);
	groups_text(o, "target class", a->classes, a->n_classes, opt, false);
}

static void policy_header(FILE *o, const struct an_report_opts *opt)
{
	static const char *const rn[] = {NULL, "target", "correct", "false", "ignore"};
	if (opt->json) {
		fprintf(o, "{\"report\":\"accuracy\",\"confidence\":%.4f,\"policy\":{", opt->conf);
		for (int c = 1; c < AN_REPORT_NCLASS; c++)
			fprintf(o, "%s\"%s\":\"%s\"", c > 1 ? "," : "", an_rep__class_names[c], rn[opt->policy.role[c]]);
		fprintf(o, "},\"gate_min_mm\":%" PRId64 ",\"gate_chi2_micro\":%" PRIu32 ",\"unresolved_is_false\":%s,"
		           "\"with_rejected\":%s,\"animals\":[\n",
		        opt->match.gate_min_mm, opt->match.gate_chi2_micro, opt->unresolved_is_false ? "true" : "false",
		        opt->with_rejected ? "true" : "false");
		return;
	}
	fputs("Accuracy report (operational, training and QC sessions; accreditation tests: scentrack report "
	      "accreditation)\npolicy:", o);
	for (int r = 1; r <= 4; r++) {
		fprintf(o, " %s =", rn[r]);
		bool any = false;
		for (int c = 1; c < AN_REPORT_NCLASS; c++) {
			if ((int)opt->policy.role[c] == r) {
				fprintf(o, "%s %s", any ? "," : "", an_rep__class_names[c]);
				any = true;
			}
		}
		if (!any)
			fputs(" (none)", o);
		fputc(r < 4 ? ';' : '\n', o);
	}
	fprintf(o, "matching: one-to-one per session, gate max(%.3f m, %.1f %% Mahalanobis); unmatched indications "
	           "near no result are %s\n",
	        (double)opt->match.gate_min_mm / 1000.0,
	        opt->match.gate_chi2_micro ? 100.0 * (1.0 - exp(-(double)opt->match.gate_chi2_micro / 2e6)) : 0.0,
	        opt->unresolved_is_false ? "counted as FALSE (--unresolved-false)" : "unresolved (not counted)");
	fprintf(o, "indications the handler rejected: %s\n\n",
	        opt->with_rejected ? "counted as the animal's (--with-rejected): its raw rates, before the handler's "
	                             "verdict, as a calibration record for the hazard engine needs them"
	                           : "left out (the animal's indications on record; --with-rejected gives the raw "
	                             "rates a calibration record for the hazard engine needs)");
}

int an_report_accuracy(struct an_store *s, const struct an_report_opts *opt, FILE *o, char *err, size_t errcap)
{
	sqlite3 *db = an_store_sqlite(s);
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM animals WHERE ?1 IS NULL OR id = ?1 ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return an_rep__fail(err, errcap, -EIO, "report: sqlite: %s", sqlite3_errmsg(db));
	if (opt->animal_id)
		sqlite3_bind_int64(st, 1, opt->animal_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *p = realloc(ids, cap * sizeof *p);
			if (p == NULL) {
				sqlite3_finalize(st);
				free(ids);
				return an_rep__fail(err, errcap, -ENOMEM, "report: out of memory");
			}
			ids = p;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (opt->animal_id && n == 0) {
		free(ids);
		return an_rep__fail(err, errcap, -ENOENT, "no animal %" PRId64 " in the store", opt->animal_id);
	}
	policy_header(o, opt);
	int e = 0;
	for (size_t i = 0; i < n && e == 0; i++) {
		struct an_report_accuracy a;
		if ((e = an_report_accuracy_compute(s, opt, ids[i], &a, err, errcap)) < 0)
			break;
		accuracy_one(o, opt, &a, i == 0);
		an_report_accuracy_free(&a);
	}
	if (e == 0 && opt->json)
		fputs("\n]}\n", o);
	free(ids);
	if (e == 0 && (fflush(o) != 0 || ferror(o)))
		e = an_rep__fail(err, errcap, -EIO, "report: write error");
	return e;
}

#define CI(st, i) ((int64_t)sqlite3_column_int64((st), (i)))

/* ---- hazards ------------------------------------------------------------------------------------------------ */

int an_report_hazards(struct an_store *s, const struct an_report_opts *opt, FILE *o, char *err, size_t errcap)
{
	sqlite3 *db = an_store_sqlite(s);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT h.id, h.task_id, h.box_id, h.status, h.p_explosive, h.log_odds_q10, h.r95_mm,"
	                       " h.lat_e7, h.lon_e7, h.n_ind, h.n_animals, h.n_sessions, h.created_ms, h.updated_ms,"
	                       " (SELECT count(*) FROM hazard_evidence e WHERE e.hazard_id = h.id AND e.kind = 'indication'),"
	                       " (SELECT count(*) FROM hazard_evidence e WHERE e.hazard_id = h.id AND e.kind = 'clean_pass'),"
	                       " (SELECT group_concat(id, ' ') FROM (SELECT id FROM clearance_results c"
	                       "   WHERE c.hazard_id = h.id ORDER BY id))"
	                       " FROM hazard_points h WHERE h.status <> 'superseded' AND (?1 IS NULL OR EXISTS (SELECT 1 FROM hazard_evidence e"
	                       "   JOIN indications i ON i.collar_id = e.collar_id AND i.rec_seq = e.rec_seq"
	                       "   JOIN sessions ss ON ss.id = i.session_id"
	                       "   WHERE e.hazard_id = h.id AND e.kind = 'indication' AND ss.animal_id = ?1)"
	                       ") ORDER BY h.id",
	                       -1, &st, NULL) != SQLITE_OK)
		return an_rep__fail(err, errcap, -EIO, "report hazards: sqlite: %s", sqlite3_errmsg(db));
	if (opt->animal_id)
		sqlite3_bind_int64(st, 1, opt->animal_id);
	if (opt->json)
		fputs("{\"report\":\"hazards\",\"hazard_points\":[\n", o);
	else
		fprintf(o, "%-6s %-5s %-24s %-9s %-8s %-21s %-23s %s\n", "id", "task", "status", "P(expl)", "r95 m",
		        "lat,lon", "evidence ind/clean", "animals/sessions  clearance");
	int rc, n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char lat[AN_EXP_E7_LEN], lon[AN_EXP_E7_LEN], t0[AN_EXP_TIME_LEN], t1[AN_EXP_TIME_LEN], r95[32];
		an_exp__e7(lat, CI(st, 7));
		an_exp__e7(lon, CI(st, 8));
		an_exp__time(t0, CI(st, 12));
		an_exp__time(t1, CI(st, 13));
		an_exp__mm(r95, CI(st, 6));
		const char *status = (const char *)sqlite3_column_text(st, 3);
		const char *clr = (const char *)sqlite3_column_text(st, 16);
		if (opt->json) {
			fprintf(o, "%s{\"hazard_id\":%" PRId64 ",\"task_id\":%" PRId64 ",\"box_id\":", n ? ",\n" : "",
			        CI(st, 0), CI(st, 1));
			if (sqlite3_column_type(st, 2) == SQLITE_NULL)
				fputs("null", o);
			else
				fprintf(o, "%" PRId64, CI(st, 2));
			fputs(",\"status\":", o);
			an_exp__json_str(o, status);
			fprintf(o, ",\"p_explosive\":%.6f,\"log_odds_q10\":%" PRId64 ",\"r95_m\":%s,\"lat\":%s,\"lon\":%s,"
			           "\"n_ind\":%" PRId64 ",\"n_animals\":%" PRId64 ",\"n_sessions\":%" PRId64
			           ",\"evidence_indications\":%" PRId64 ",\"evidence_clean_passes\":%" PRId64
			           ",\"created_utc\":\"%s\",\"updated_utc\":\"%s\",\"clearance_results\":[",
			        sqlite3_column_double(st, 4), CI(st, 5), r95, lat, lon,
			        CI(st, 9), CI(st, 10), CI(st, 11),
			        CI(st, 14), CI(st, 15), t0, t1);
			for (const char *p = clr; p != NULL && *p; p++)
				fputc(*p == ' ' ? ',' : *p, o);
			fputs("]}", o);
		} else {
			char ll[2 * AN_EXP_E7_LEN + 2], ev[48], as[48];
			snprintf(ll, sizeof ll, "%s,%s", lat, lon);
			snprintf(ev, sizeof ev, "%" PRId64 "/%" PRId64, CI(st, 14), CI(st, 15));
			snprintf(as, sizeof as, "%" PRId64 "/%" PRId64, CI(st, 10), CI(st, 11));
			fprintf(o, "%-6" PRId64 " %-5" PRId64 " %-24s %-9.4f %-8s %-21s %-23s %-17s %s\n",
			        CI(st, 0), CI(st, 1), status, sqlite3_column_double(st, 4),
			        r95, ll, ev, as, clr != NULL ? clr : "-");
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_rep__fail(err, errcap, -EIO, "report hazards: sqlite: %s", sqlite3_errmsg(db));
	if (opt->json)
		fputs("\n]}\n", o);
	else if (n == 0)
		fputs("(no hazard points)\n", o);
	if (fflush(o) != 0 || ferror(o))
		return an_rep__fail(err, errcap, -EIO, "report: write error");
	return 0;
}

/* ---- accreditation ------------------------------------------------------------------------------------------- */

struct target {
	int64_t id, x_mm, y_mm;
	int32_t lat_e7, lon_e7;
	char type[64];
	bool has_depth;
	int64_t depth_mm;
	bool hit;
	int64_t dist_mm;
};

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static int one_test(sqlite3 *db, struct an_store *s, const struct an_report_opts *opt, sqlite3_stmt *t, FILE *o,
                    bool first, char *err, size_t errcap)
{
	int64_t test_id = sqlite3_column_int64(t, 0);
	const char *authority = (const char *)sqlite3_column_text(t, 1);
	int64_t date_ms = sqlite3_column_int64(t, 2);
	int64_t box_id = sqlite3_column_int64(t, 3);
	bool has_session = sqlite3_column_type(t, 4) != SQLITE_NULL;
	int64_t session_id = sqlite3_column_int64(t, 4);
	int64_t animal_id = sqlite3_column_int64(t, 5);
	const char *animal = (const char *)sqlite3_column_text(t, 6);
	char stored_hash[65] = "";
	if (sqlite3_column_type(t, 7) == SQLITE_BLOB && sqlite3_column_bytes(t, 7) == 32)
		hex(sqlite3_column_blob(t, 7), 32, stored_hash);
	bool has_area = sqlite3_column_type(t, 8) != SQLITE_NULL;
	double area = (double)sqlite3_column_int64(t, 8);
	int64_t task_id = sqlite3_column_int64(t, 9);
	double box_area = 0;
	struct an_geo_enu p0 = {sqlite3_column_int64(t, 10), sqlite3_column_int64(t, 11), 0};
	struct an_geo_enu pa = {sqlite3_column_int64(t, 12), sqlite3_column_int64(t, 13), 0};
	struct an_geo_enu pc = {sqlite3_column_int64(t, 14), sqlite3_column_int64(t, 15), 0};
	struct an_geo_box bx;
	if (an_geo_box_init(&bx, &p0, &pa, &pc, (uint32_t)sqlite3_column_int64(t, 16),
	                    (uint32_t)sqlite3_column_int64(t, 17)) == 0)
		box_area = (double)bx.lane_len_mm * (double)bx.width_mm / 1e6;
	if (!has_area)
		area = box_area;

	struct an_geo_origin org;
	int e = an_store_task_origin(s, task_id, &org);
	if (e < 0)
		return an_rep__fail(err, errcap, e, "accreditation test %" PRId64 ": %s", test_id, an_store_errmsg(s));
	/* targets, and the layout hash over them */
	struct target *tg = NULL;
	size_t nt = 0, tcap = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, lat_e7, lon_e7, x_mm, y_mm, target_type, depth_mm FROM accreditation_targets"
	                       " WHERE test_id = ?1 ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK)
		return an_rep__fail(err, errcap, -EIO, "accreditation: sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, test_id);
	struct proto_sha256 sha;
	proto_sha256_init(&sha);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (nt == tcap) {
			tcap = tcap ? tcap * 2 : 16;
			struct target *p = realloc(tg, tcap * sizeof *p);
			if (p == NULL) {
				sqlite3_finalize(st);
				free(tg);
				return an_rep__fail(err, errcap, -ENOMEM, "accreditation: out of memory");
			}
			tg = p;
		}
		struct target *x = &tg[nt++];
		memset(x, 0, sizeof *x);
		x->id = sqlite3_column_int64(st, 0);
		x->lat_e7 = (int32_t)sqlite3_column_int64(st, 1);
		x->lon_e7 = (int32_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			x->x_mm = sqlite3_column_int64(st, 3);
			x->y_mm = sqlite3_column_int64(st, 4);
		} else {
			struct an_geo_enu enu = {0, 0, 0};
			if (an_geo_enu_from_e7(&org, x->lat_e7, x->lon_e7, AN_GEO_ALT_UNKNOWN, &enu) < 0)
				enu.e_mm = enu.n_mm = 0; /* beyond 1000 km of the task origin: cannot be this box's */
			x->x_mm = enu.e_mm;
			x->y_mm = enu.n_mm;
		}
		const char *ty = (const char *)sqlite3_column_text(st, 5);
		snprintf(x->type, sizeof x->type, "%s", ty != NULL ? ty : "");
		x->has_depth = sqlite3_column_type(st, 6) != SQLITE_NULL;
		x->depth_mm = sqlite3_column_int64(st, 6);
		char line[160];
		int l;
		if (x->has_depth)
			l = snprintf(line, sizeof line, "%" PRId32 ",%" PRId32 ",%s,%" PRId64 "\n", x->lat_e7, x->lon_e7, x->type,
			             x->depth_mm);
		else
			l = snprintf(line, sizeof line, "%" PRId32 ",%" PRId32 ",%s,\n", x->lat_e7, x->lon_e7, x->type);
		proto_sha256_update(&sha, line, (size_t)l < sizeof line ? (size_t)l : sizeof line - 1);
	}
	sqlite3_finalize(st);
	uint8_t digest[32];
	proto_sha256_final(&sha, digest);
	char layout_hash[65];
	hex(digest, 32, layout_hash);

	/* indications of the test */
	struct an_match_point *a = NULL;
	size_t na = 0, acap = 0;
	if (sqlite3_prepare_v2(db,
	                       has_session
	                           ? "SELECT x_mm, y_mm, h_acc_mm FROM indications WHERE session_id = ?1 AND x_mm IS NOT NULL"
	                             " AND review <> 'rejected' ORDER BY t_ms, collar_id, rec_seq"
	                           : "SELECT i.x_mm, i.y_mm, i.h_acc_mm FROM indications i JOIN sessions s"
	                             " ON s.id = i.session_id WHERE s.box_id = ?2 AND s.animal_id = ?3"
	                             " AND s.mode = 'accreditation' AND i.x_mm IS NOT NULL AND i.review <> 'rejected'"
	                             " ORDER BY i.t_ms, i.collar_id, i.rec_seq",
	                       -1, &st, NULL) != SQLITE_OK) {
		free(tg);
		return an_rep__fail(err, errcap, -EIO, "accreditation: sqlite: %s", sqlite3_errmsg(db));
	}
	if (has_session)
		sqlite3_bind_int64(st, 1, session_id);
	else {
		sqlite3_bind_int64(st, 2, box_id);
		sqlite3_bind_int64(st, 3, animal_id);
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (na == acap) {
			acap = acap ? acap * 2 : 16;
			struct an_match_point *p = realloc(a, acap * sizeof *p);
			if (p == NULL) {
				sqlite3_finalize(st);
				free(a);
				free(tg);
				return an_rep__fail(err, errcap, -ENOMEM, "accreditation: out of memory");
			}
			a = p;
		}
		a[na].id = na;
		a[na].x_mm = sqlite3_column_int64(st, 0);
		a[na].y_mm = sqlite3_column_int64(st, 1);
		a[na].sigma_mm = 0; /* the rule is a fixed distance */
		na++;
	}
	sqlite3_finalize(st);
	struct an_match_point *b = malloc((nt ? nt : 1) * sizeof *b);
	struct an_match_pair *pairs = malloc((nt ? nt : 1) * sizeof *pairs);
	size_t np = 0;
	if (b == NULL || pairs == NULL) {
		e = an_rep__fail(err, errcap, -ENOMEM, "accreditation: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nt; i++)
		b[i] = (struct an_match_point){(uint64_t)tg[i].id, tg[i].x_mm, tg[i].y_mm, 0};
	struct an_match_opts mo = opt->match;
	mo.gate_min_mm = opt->rule.radius_mm;
	mo.gate_chi2_micro = 0;
	if (na > 0 && nt > 0 && (e = an_match_solve(a, na, b, nt, &mo, pairs, nt, &np, NULL)) < 0) {
		an_rep__fail(err, errcap, e, "accreditation test %" PRId64 ": matching failed (%d)", test_id, e);
		goto out;
	}
	size_t hits = 0;
	for (size_t k = 0; k < np; k++) {
		tg[pairs[k].ib].hit = true;
		tg[pairs[k].ib].dist_mm = pairs[k].dist_mm;
		hits++;
	}
	size_t false_ind = na - np;
	bool area_ok = area + 1e-9 >= (double)opt->rule.area_m2;
	bool pass = hits == nt && nt > 0 && false_ind <= opt->rule.max_false && area_ok;
	char why[256] = "";
	if (nt == 0)
		snprintf(why, sizeof why, "no targets recorded for this test");
	else if (hits < nt)
		snprintf(why, sizeof why, "%zu of %zu targets not indicated within %.2f m", nt - hits, nt,
		         (double)opt->rule.radius_mm / 1000.0);
	else if (false_ind > opt->rule.max_false)
		snprintf(why, sizeof why, "%zu false indications, at most %" PRIu32 " allowed", false_ind, opt->rule.max_false);
	else if (!area_ok)
		snprintf(why, sizeof why, "test area %.0f m2 is below the rule's %" PRIu32 " m2", area, opt->rule.area_m2);
	struct an_stats_interval lower = {0, 1};
	bool has_lower = nt > 0 && an_stats_binom_cp(hits, nt, opt->conf, AN_STATS_LOWER_BOUND, &lower) == 0;
	char ts[AN_EXP_TIME_LEN];
	an_exp__time(ts, date_ms);
	bool hash_ok = stored_hash[0] == '\0' || strcmp(stored_hash, layout_hash) == 0;
	if (opt->json) {
		fprintf(o, "%s{\"test_id\":%" PRId64 ",\"authority\":", first ? "" : ",\n", test_id);
		an_exp__json_str(o, authority);
		fprintf(o, ",\"date_utc\":\"%s\",\"animal_id\":%" PRId64 ",\"animal\":", ts, animal_id);
		an_exp__json_str(o, animal);
		fprintf(o, ",\"box_id\":%" PRId64 ",\"session_id\":", box_id);
		has_session ? (void)fprintf(o, "%" PRId64, session_id) : (void)fputs("null", o);
		fprintf(o, ",\"layout_sha256\":\"%s\",\"layout_sha256_stored\":", layout_hash);
		stored_hash[0] ? (void)fprintf(o, "\"%s\"", stored_hash) : (void)fputs("null", o);
		fprintf(o, ",\"layout_hash_matches\":%s,\"area_m2\":%.1f,\"rule\":{\"radius_m\":%.3f,\"max_false\":%" PRIu32
		           ",\"area_m2\":%" PRIu32 "},\"targets\":[",
		        hash_ok ? "true" : "false", area, (double)opt->rule.radius_mm / 1000.0, opt->rule.max_false,
		        opt->rule.area_m2);
		for (size_t i = 0; i < nt; i++) {
			fprintf(o, "%s{\"target_id\":%" PRId64 ",\"type\":", i ? "," : "", tg[i].id);
			an_exp__json_str(o, tg[i].type);
			fprintf(o, ",\"hit\":%s,\"distance_m\":", tg[i].hit ? "true" : "false");
			jnum(o, (double)tg[i].dist_mm / 1000.0, tg[i].hit);
			fputc('}', o);
		}
		fprintf(o, "],\"indications\":%zu,\"hits\":%zu,\"false\":%zu,\"pass\":%s,\"fail_reason\":", na, hits,
		        false_ind, pass ? "true" : "false");
		an_exp__json_str(o, pass ? NULL : why);
		fputs(",\"sensitivity_cp_lower_one_sided\":", o);
		jnum(o, lower.lo, has_lower);
		fputc('}', o);
	} else {
		fprintf(o, "%s== accreditation test %" PRId64 " — %s, %s, animal %" PRId64 " \"%s\", box %" PRId64 " ==\n",
		        first ? "" : "\n", test_id, authority != NULL ? authority : "?", ts, animal_id,
		        animal != NULL ? animal : "?", box_id);
		fprintf(o, "  layout sha256 %s%s\n", layout_hash,
		        stored_hash[0] == '\0' ? " (none stored)" : hash_ok ? " (matches the stored hash)"
		                                                            : " — DIFFERS from the stored hash: layout changed "
		                                                              "after registration");
		fprintf(o, "  rule: every target within %.2f m, at most %" PRIu32 " false, %" PRIu32 " m2 (test area %.0f m2)\n",
		        (double)opt->rule.radius_mm / 1000.0, opt->rule.max_false, opt->rule.area_m2, area);
		for (size_t i = 0; i < nt; i++) {
			if (tg[i].hit)
				fprintf(o, "  target %-5" PRId64 " %-16s HIT  at %.2f m\n", tg[i].id, tg[i].type,
				        (double)tg[i].dist_mm / 1000.0);
			else
				fprintf(o, "  target %-5" PRId64 " %-16s MISS\n", tg[i].id, tg[i].type);
		}
		fprintf(o, "  indications %zu: %zu on targets, %zu false\n  result: %s%s%s\n", na, hits, false_ind,
		        pass ? "PASS" : "FAIL", pass ? "" : " — ", pass ? "" : why);
		if (has_lower)
			fprintf(o, "  note: %zu/%zu in one test alone proves sensitivity >= %.1f %% (%d %% one-sided); a single "
			           "box says little — accumulate targets across tests and confirmed finds\n",
			        hits, nt, floor(lower.lo * 1000.0) / 10.0, (int)lround(opt->conf * 100));
	}
	e = 0;
out:
	free(a);
	free(b);
	free(pairs);
	free(tg);
	return e;
}

int an_report_accreditation(struct an_store *s, const struct an_report_opts *opt, FILE *o, char *err, size_t errcap)
{
	sqlite3 *db = an_store_sqlite(s);
	sqlite3_stmt *t;
	if (sqlite3_prepare_v2(db,
	                       "SELECT t.id, t.authority, t.date_ms, t.box_id, t.session_id, t.animal_id, a.name,"
	                       " t.layout_sha256, t.area_m2, b.task_id,"
	                       " b.p0_x_mm, b.p0_y_mm, b.along_x_mm, b.along_y_mm, b.across_x_mm, b.across_y_mm,"
	                       " b.lane_width_mm, b.lane_count"
	                       " FROM accreditation_tests t JOIN animals a ON a.id = t.animal_id"
	                       " JOIN boxes b ON b.id = t.box_id"
	                       " WHERE ?1 IS NULL OR t.animal_id = ?1 ORDER BY t.id",
	                       -1, &t, NULL) != SQLITE_OK)
		return an_rep__fail(err, errcap, -EIO, "report accreditation: sqlite: %s", sqlite3_errmsg(db));
	if (opt->animal_id)
		sqlite3_bind_int64(t, 1, opt->animal_id);
	if (opt->json)
		fprintf(o, "{\"report\":\"accreditation\",\"tests\":[\n");
	int rc, e = 0, n = 0;
	while (e == 0 && (rc = sqlite3_step(t)) == SQLITE_ROW) {
		e = one_test(db, s, opt, t, o, n == 0, err, errcap);
		n++;
	}
	sqlite3_finalize(t);
	if (e < 0)
		return e;
	if (opt->json)
		fputs("\n]}\n", o);
	else if (n == 0)
		fputs("(no accreditation tests)\n", o);
	if (fflush(o) != 0 || ferror(o))
		return an_rep__fail(err, errcap, -EIO, "report: write error");
	return 0;
}
