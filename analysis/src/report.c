/*
 * analysis/src/report.c — accuracy computation (an/report.h: the definitions of hit, miss, false, repeat and
 * unresolved live there). Reads the store with plain SQL in a total order; the statistics come from
 * an/stats.h, the matching from an/match.h.
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r, strcasecmp */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "an/geo.h"
#include "an/import.h"
#include "an/match.h"
#include "an/report.h"
#include "an/store.h"
#include "export_internal.h"
#include "report_internal.h"

#define BOX_MARGIN_MM 10000 /* results this far outside a box still take part in its pass's matching */

static const char *const role_names[] = {NULL, "target", "correct", "false", "ignore"};
const char *const an_rep__class_names[AN_REPORT_NCLASS] = {NULL,       "ap_mine", "at_mine", "uxo", "other_erw",
                                                          "fragment", "scrap",   "nothing", "not_accessible"};

void an_report_policy_default(struct an_report_policy *p)
{
	p->role[0] = AN_ROLE_IGNORE;
	p->role[1] = p->role[2] = p->role[3] = p->role[4] = AN_ROLE_TARGET;
	p->role[5] = AN_ROLE_CORRECT;
	p->role[6] = p->role[7] = AN_ROLE_FALSE;
	p->role[8] = AN_ROLE_IGNORE;
}

void an_report_opts_init(struct an_report_opts *o)
{
	memset(o, 0, sizeof *o);
	o->conf = AN_STATS_CONF_DEFAULT;
	an_report_policy_default(&o->policy);
	an_match_opts_init(&o->match);
	o->rule.radius_mm = 1000;
	o->rule.max_false = 0;
	o->rule.area_m2 = 200;
}

int an_rep__fail(char *err, size_t cap, int code, const char *fmt, ...)
{
	if (err != NULL && cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

int an_report_policy_set(struct an_report_policy *p, const char *spec, char *err, size_t errcap)
{
	char buf[256];
	if (spec == NULL || strlen(spec) >= sizeof buf)
		return an_rep__fail(err, errcap, -EINVAL, "policy: empty or too long");
	snprintf(buf, sizeof buf, "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int cls;
		if (eq == NULL)
			return an_rep__fail(err, errcap, -EINVAL, "policy: '%s' is not CLASS=ROLE", tok);
		*eq = '\0';
		if (an_import_result_class(tok, &cls) < 0)
			return an_rep__fail(err, errcap, -EINVAL, "policy: unknown result class '%s'", tok);
		int role = 0;
		for (int r = 1; r <= 4; r++) {
			if (strcasecmp(eq + 1, role_names[r]) == 0)
				role = r;
		}
		if (role == 0)
			return an_rep__fail(err, errcap, -EINVAL, "policy: role '%s' is not target, correct, false or ignore",
			                    eq + 1);
		p->role[cls] = (enum an_report_role)role;
	}
	return 0;
}

int an_report_rule_set(struct an_report_rule *r, const char *spec, char *err, size_t errcap)
{
	char buf[256];
	if (spec == NULL || strlen(spec) >= sizeof buf)
		return an_rep__fail(err, errcap, -EINVAL, "rule: empty or too long");
	snprintf(buf, sizeof buf, "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		if (eq == NULL)
			return an_rep__fail(err, errcap, -EINVAL, "rule: '%s' is not KEY=VALUE", tok);
		*eq = '\0';
		double v = strtod(eq + 1, &end);
		if (*end != '\0' || !(v >= 0) || v > 1e6)
			return an_rep__fail(err, errcap, -EINVAL, "rule: '%s' is not a number >= 0", eq + 1);
		if (strcmp(tok, "radius_m") == 0 && v > 0)
			r->radius_mm = llround(v * 1000.0);
		else if (strcmp(tok, "max_false") == 0 && v == floor(v))
			r->max_false = (uint32_t)v;
		else if (strcmp(tok, "area_m2") == 0 && v == floor(v))
			r->area_m2 = (uint32_t)v;
		else
			return an_rep__fail(err, errcap, -EINVAL,
			                    "rule: '%s=%s' (keys: radius_m > 0, max_false and area_m2 whole numbers)", tok,
			                    eq + 1);
	}
	return 0;
}

/* ---- data ------------------------------------------------------------------------------------------------ */

struct sess {
	int64_t id, box_id, task_id, start_ms, end_ms;
	bool has_end, has_temp;
	int temp_dc;
	char team[96], period[8];
	struct an_geo_box box;
	bool box_ok;
};

struct result {
	int64_t id, x_mm, y_mm, sigma_mm;
	int cls;
};

struct task_results {
	int64_t task_id;
	struct result *r;
	size_t n;
};

static int group_find(struct an_report_group **arr, size_t *n, const char *label, struct an_report_group **out)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*arr)[i].label, label) == 0) {
			*out = &(*arr)[i];
			return 0;
		}
	}
	struct an_report_group *p = realloc(*arr, (*n + 1) * sizeof *p);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	memset(&p[*n], 0, sizeof p[*n]);
	snprintf(p[*n].label, sizeof p[*n].label, "%s", label);
	*out = &p[(*n)++];
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct an_report_group *)a)->label, ((const struct an_report_group *)b)->label);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int load_results(sqlite3 *db, int64_t task_id, const struct an_report_policy *pol, struct task_results *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	out->task_id = task_id;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, x_mm, y_mm, pos_err_mm, result FROM clearance_results"
	                       " WHERE task_id = ?1 AND x_mm IS NOT NULL ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, task_id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *cls = (const char *)sqlite3_column_text(st, 4);
		int c = 0;
		for (int i = 1; i < AN_REPORT_NCLASS; i++) {
			if (cls != NULL && strcmp(cls, an_rep__class_names[i]) == 0)
				c = i;
		}
		if (c == 0 || pol->role[c] == AN_ROLE_IGNORE)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct result *p = realloc(out->r, cap * sizeof *p);
			if (p == NULL) {
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			out->r = p;
		}
		struct result *r = &out->r[out->n++];
		r->id = sqlite3_column_int64(st, 0);
		r->x_mm = sqlite3_column_int64(st, 1);
		r->y_mm = sqlite3_column_int64(st, 2);
		r->sigma_mm = sqlite3_column_int64(st, 3);
		r->cls = c;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void group_add(struct an_report_group *g, const struct an_report_group *d)
{
	g->sessions += d->sessions;
	g->targets += d->targets;
	g->hits += d->hits;
	g->misses += d->misses;
	g->indications += d->indications;
	g->correct += d->correct;
	g->false_ind += d->false_ind;
	g->repeats += d->repeats;
	g->unresolved += d->unresolved;
	g->rejected += d->rejected;
	for (int i = 0; i < AN_REPORT_NCLASS; i++)
		g->matched_by_class[i] += d->matched_by_class[i];
	g->area_m2 += d->area_m2;
	g->hours += d->hours;
	g->area_timed_m2 += d->area_timed_m2;
}

static const char *temp_band(const struct sess *s)
{
	if (!s->has_temp)
		return "temperature unknown";
	if (s->temp_dc < 200)
		return "below 20 C";
	if (s->temp_dc < 300)
		return "20-30 C";
	return "30 C and above";
}

/* One pass: matching and classification into d (and per-class target counts into cls_t/cls_h). */
static int do_pass(sqlite3 *db, const struct an_report_opts *o, const struct sess *s, const struct task_results *tr,
                   struct an_report_group *d, uint64_t *cls_t, uint64_t *cls_h, double **loc, size_t *nloc,
                   size_t *loc_cap)
{
	int err = 0;
	struct an_match_point *a = NULL, *b = NULL;
	struct an_match_pair *pairs = NULL;
	bool *b_target = NULL, *b_used = NULL, *a_used = NULL;
	int *b_cls = NULL;
	size_t na = 0, acap = 0, nb = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT x_mm, y_mm, h_acc_mm, review = 'rejected' FROM indications WHERE session_id = ?1"
	                       " AND x_mm IS NOT NULL ORDER BY t_ms, collar_id, rec_seq",
	                       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, s->id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int(st, 3)) {
			d->rejected++;
			if (!o->with_rejected)
				continue;
		}
		if (na == acap) {
			acap = acap ? acap * 2 : 64;
			struct an_match_point *p = realloc(a, acap * sizeof *p);
			if (p == NULL) {
				err = -ENOMEM;
				break;
			}
			a = p;
		}
		a[na].id = na; /* the query's total order is the canonical order */
		a[na].x_mm = sqlite3_column_int64(st, 0);
		a[na].y_mm = sqlite3_column_int64(st, 1);
		a[na].sigma_mm = sqlite3_column_int64(st, 2);
		na++;
	}
	sqlite3_finalize(st);
	if (err == 0 && rc != SQLITE_DONE)
		err = -EIO;
	if (err < 0)
		goto out;
	d->sessions = 1;
	d->indications = na;
	if (s->box_ok) {
		d->area_m2 = (double)s->box.lane_len_mm * (double)s->box.width_mm / 1e6;
		if (s->has_end && s->end_ms > s->start_ms) {
			d->hours = (double)(s->end_ms - s->start_ms) / 3.6e6;
			d->area_timed_m2 = d->area_m2;
		}
	}
	b = malloc((tr->n ? tr->n : 1) * sizeof *b);
	b_target = calloc(tr->n ? tr->n : 1, sizeof *b_target);
	b_used = calloc(tr->n ? tr->n : 1, sizeof *b_used);
	b_cls = calloc(tr->n ? tr->n : 1, sizeof *b_cls);
	a_used = calloc(na ? na : 1, sizeof *a_used);
	if (b == NULL || b_target == NULL || b_used == NULL || b_cls == NULL || a_used == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < tr->n; i++) {
		const struct result *r = &tr->r[i];
		struct an_geo_box_pos pos;
		if (!s->box_ok || an_geo_box_locate(&s->box, r->x_mm, r->y_mm, 0, &pos) < 0 ||
		    pos.margin_mm < -BOX_MARGIN_MM)
			continue;
		b[nb].id = (uint64_t)r->id;
		b[nb].x_mm = r->x_mm;
		b[nb].y_mm = r->y_mm;
		b[nb].sigma_mm = r->sigma_mm;
		b_cls[nb] = r->cls;
		b_target[nb] = o->policy.role[r->cls] == AN_ROLE_TARGET && pos.inside;
		if (b_target[nb]) {
			d->targets++;
			cls_t[r->cls]++;
		}
		nb++;
	}
	size_t np = 0;
	if (na > 0 && nb > 0) {
		size_t cap = na < nb ? na : nb;
		pairs = malloc(cap * sizeof *pairs);
		if (pairs == NULL) {
			err = -ENOMEM;
			goto out;
		}
		if ((err = an_match_solve(a, na, b, nb, &o->match, pairs, cap, &np, NULL)) < 0)
			goto out;
	}
	for (size_t k = 0; k < np; k++) {
		size_t ia = pairs[k].ia, ib = pairs[k].ib;
		a_used[ia] = b_used[ib] = true;
		int c = b_cls[ib];
		d->matched_by_class[c]++;
		if (o->policy.role[c] == AN_ROLE_FALSE) {
			d->false_ind++;
			continue;
		}
		d->correct++;
		if (b_target[ib]) {
			d->hits++;
			cls_h[c]++;
		}
		if (*nloc == *loc_cap) {
			*loc_cap = *loc_cap ? *loc_cap * 2 : 256;
			double *p = realloc(*loc, *loc_cap * sizeof *p);
			if (p == NULL) {
				err = -ENOMEM;
				goto out;
			}
			*loc = p;
		}
		(*loc)[(*nloc)++] = (double)pairs[k].dist_mm / 1000.0;
	}
	for (size_t i = 0; i < nb; i++)
		d->misses += b_target[i] && !b_used[i];
	for (size_t i = 0; i < na; i++) {
		if (a_used[i])
			continue;
		bool near = false;
		for (size_t j = 0; j < nb && !near; j++) {
			int64_t r;
			if (an_match_gate_radius_mm(a[i].sigma_mm, b[j].sigma_mm, &o->match, &r) < 0)
				continue;
			int64_t dx = a[i].x_mm - b[j].x_mm, dy = a[i].y_mm - b[j].y_mm;
			near = (double)dx * (double)dx + (double)dy * (double)dy <= (double)r * (double)r;
		}
		if (near)
			d->repeats++;
		else if (o->unresolved_is_false)
			d->false_ind++;
		else
			d->unresolved++;
	}
out:
	free(a);
	free(b);
	free(pairs);
	free(b_target);
	free(b_used);
	free(b_cls);
	free(a_used);
	return err;
}

int an_report_accuracy_compute(struct an_store *st_, const struct an_report_opts *o, int64_t animal_id,
                               struct an_report_accuracy *out, char *err, size_t errcap)
{
	memset(out, 0, sizeof *out);
	out->animal_id = animal_id;
	sqlite3 *db = an_store_sqlite(st_);
	sqlite3_stmt *st = NULL;
	struct sess *ss = NULL;
	size_t ns = 0, scap = 0;
	struct task_results *trs = NULL;
	size_t ntr = 0;
	size_t loc_cap = 0;
	int e = 0, rc;
	uint64_t cls_t[AN_REPORT_NCLASS] = {0}, cls_h[AN_REPORT_NCLASS] = {0};

	if (sqlite3_prepare_v2(db, "SELECT name FROM animals WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, animal_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return an_rep__fail(err, errcap, -ENOENT, "no animal %" PRId64 " in the store", animal_id);
	}
	snprintf(out->animal, sizeof out->animal, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(db,
	                       "SELECT s.id, s.box_id, b.task_id, s.start_ms, s.end_ms, s.temp_dc,"
	                       " b.p0_x_mm, b.p0_y_mm, b.along_x_mm, b.along_y_mm, b.across_x_mm, b.across_y_mm,"
	                       " b.lane_width_mm, b.lane_count,"
	                       " (SELECT group_concat(name, ' + ') FROM (SELECT h.name FROM session_handlers sh"
	                       "   JOIN handlers h ON h.id = sh.handler_id WHERE sh.session_id = s.id ORDER BY h.id)),"
	                       " strftime('%Y-%m', s.start_ms / 1000, 'unixepoch')"
	                       " FROM sessions s JOIN boxes b ON b.id = s.box_id"
	                       " WHERE s.animal_id = ?1 AND s.mode <> 'accreditation' ORDER BY s.id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, animal_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ns == scap) {
			scap = scap ? scap * 2 : 32;
			struct sess *p = realloc(ss, scap * sizeof *p);
			if (p == NULL)
				goto nomem;
			ss = p;
		}
		struct sess *s = &ss[ns++];
		memset(s, 0, sizeof *s);
		s->id = sqlite3_column_int64(st, 0);
		s->box_id = sqlite3_column_int64(st, 1);
		s->task_id = sqlite3_column_int64(st, 2);
		s->start_ms = sqlite3_column_int64(st, 3);
		s->has_end = sqlite3_column_type(st, 4) != SQLITE_NULL;
		s->end_ms = sqlite3_column_int64(st, 4);
		s->has_temp = sqlite3_column_type(st, 5) != SQLITE_NULL;
		s->temp_dc = sqlite3_column_int(st, 5);
		struct an_geo_enu p0 = {sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7), 0};
		struct an_geo_enu pa = {sqlite3_column_int64(st, 8), sqlite3_column_int64(st, 9), 0};
		struct an_geo_enu pc = {sqlite3_column_int64(st, 10), sqlite3_column_int64(st, 11), 0};
		s->box_ok = an_geo_box_init(&s->box, &p0, &pa, &pc, (uint32_t)sqlite3_column_int64(st, 12),
		                            (uint32_t)sqlite3_column_int64(st, 13)) == 0;
		const char *team = (const char *)sqlite3_column_text(st, 14);
		snprintf(s->team, sizeof s->team, "%s + %s", team != NULL ? team : "(no handler recorded)", out->animal);
		const char *per = (const char *)sqlite3_column_text(st, 15);
		snprintf(s->period, sizeof s->period, "%s", per != NULL ? per : "?");
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto sqlfail;
	snprintf(out->all.label, sizeof out->all.label, "%s", out->animal);

	for (size_t i = 0; i < ns; i++) {
		struct task_results *tr = NULL;
		for (size_t k = 0; k < ntr; k++) {
			if (trs[k].task_id == ss[i].task_id)
				tr = &trs[k];
		}
		if (tr == NULL) {
			struct task_results *p = realloc(trs, (ntr + 1) * sizeof *p);
			if (p == NULL)
				goto nomem;
			trs = p;
			tr = &trs[ntr++];
			if ((e = load_results(db, ss[i].task_id, &o->policy, tr)) < 0) {
				ntr--;
				goto fail;
			}
		}
		struct an_report_group d;
		memset(&d, 0, sizeof d);
		if ((e = do_pass(db, o, &ss[i], tr, &d, cls_t, cls_h, &out->loc_err_m, &out->n_loc, &loc_cap)) < 0)
			goto fail;
		group_add(&out->all, &d);
		struct an_report_group *g;
		if ((e = group_find(&out->teams, &out->n_teams, ss[i].team, &g)) < 0)
			goto fail;
		group_add(g, &d);
		if ((e = group_find(&out->periods, &out->n_periods, ss[i].period, &g)) < 0)
			goto fail;
		group_add(g, &d);
		if ((e = group_find(&out->temps, &out->n_temps, temp_band(&ss[i]), &g)) < 0)
			goto fail;
		group_add(g, &d);
	}
	for (int c = 1; c < AN_REPORT_NCLASS; c++) {
		if (cls_t[c] == 0)
			continue;
		struct an_report_group *g;
		if ((e = group_find(&out->classes, &out->n_classes, an_rep__class_names[c], &g)) < 0)
			goto fail;
		g->targets = cls_t[c];
		g->hits = cls_h[c];
		g->misses = cls_t[c] - cls_h[c];
	}
	/* qsort(NULL, 0, ...) is undefined behaviour: an animal without sessions has no groups */
	if (out->n_teams > 1)
		qsort(out->teams, out->n_teams, sizeof *out->teams, cmp_group);
	if (out->n_periods > 1)
		qsort(out->periods, out->n_periods, sizeof *out->periods, cmp_group);
	if (out->n_temps > 1)
		qsort(out->temps, out->n_temps, sizeof *out->temps, cmp_group);
	if (out->n_loc > 0)
		qsort(out->loc_err_m, out->n_loc, sizeof *out->loc_err_m, cmp_double);
	goto done;

nomem:
	e = an_rep__fail(err, errcap, -ENOMEM, "report: out of memory");
	goto fail;
sqlfail:
	e = an_rep__fail(err, errcap, -EIO, "report: sqlite: %s", sqlite3_errmsg(db));
fail:
	if (e == -ENOMEM)
		an_rep__fail(err, errcap, e, "report: out of memory");
	else if (e == -EIO && (err == NULL || err[0] == '\0'))
		an_rep__fail(err, errcap, e, "report: sqlite: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	an_report_accuracy_free(out);
done:
	free(ss);
	for (size_t k = 0; k < ntr; k++)
		free(trs[k].r);
	free(trs);
	return e;
}

void an_report_accuracy_free(struct an_report_accuracy *a)
{
	free(a->teams);
	free(a->periods);
	free(a->temps);
	free(a->classes);
	free(a->loc_err_m);
	int64_t id = a->animal_id;
	memset(a, 0, sizeof *a);
	a->animal_id = id;
}
