/*
 * analysis/src/store_query.c — domain rows (programmes ... clearance results), hazard lifecycle and the
 * read queries the core and CLI need. Rules in an/store.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

/* ---- enum ↔ text ---------------------------------------------------------------------------------- */

static const char *const species_txt[] = {[AN_SPECIES_RAT] = "rat", [AN_SPECIES_DOG] = "dog"};
static const char *const mode_txt[] = {[AN_MODE_TRAINING] = "training",
                                       [AN_MODE_OPERATIONAL] = "operational",
                                       [AN_MODE_QC] = "qc",
                                       [AN_MODE_ACCREDITATION] = "accreditation"};
static const char *const hazard_txt[] = {
	[AN_HAZARD_CANDIDATE] = "candidate",
	[AN_HAZARD_AWAITING_SECOND] = "awaiting_second_animal",
	[AN_HAZARD_AWAITING_EXCAVATION] = "awaiting_excavation",
	[AN_HAZARD_CONFIRMED_EXPLOSIVE] = "confirmed_explosive",
	[AN_HAZARD_CONFIRMED_FRAGMENT] = "confirmed_fragment",
	[AN_HAZARD_CONFIRMED_SCRAP] = "confirmed_scrap",
	[AN_HAZARD_CONFIRMED_NOTHING] = "confirmed_nothing",
	[AN_HAZARD_NOT_ACCESSIBLE] = "not_accessible",
	[AN_HAZARD_SUPERSEDED] = "superseded",
};
static const char *const clr_txt[] = {
	[AN_CLR_AP_MINE] = "ap_mine", [AN_CLR_AT_MINE] = "at_mine",     [AN_CLR_UXO] = "uxo",
	[AN_CLR_OTHER_ERW] = "other_erw", [AN_CLR_FRAGMENT] = "fragment", [AN_CLR_SCRAP] = "scrap",
	[AN_CLR_NOTHING] = "nothing", [AN_CLR_NOT_ACCESSIBLE] = "not_accessible",
};
static const char *const review_txt[] = {[AN_REVIEW_UNREVIEWED] = "unreviewed",
                                         [AN_REVIEW_CONFIRMED] = "confirmed",
                                         [AN_REVIEW_REJECTED] = "rejected"};

#define NAME_OF(tab, v) ((unsigned)(v) < sizeof(tab) / sizeof(tab[0]) ? (tab)[(unsigned)(v)] : NULL)

static int index_of(const char *const *tab, size_t n, const char *txt)
{
	for (size_t i = 0; txt != NULL && i < n; i++)
		if (tab[i] != NULL && strcmp(tab[i], txt) == 0)
			return (int)i;
	return 0;
}
#define INDEX_OF(tab, txt) index_of(tab, sizeof(tab) / sizeof(tab[0]), (const char *)(txt))

const char *an_store_hazard_status_name(enum an_hazard_status st)
{
	return NAME_OF(hazard_txt, st);
}

static bool confirmed(enum an_hazard_status st)
{
	return st >= AN_HAZARD_CONFIRMED_EXPLOSIVE && st <= AN_HAZARD_CONFIRMED_NOTHING;
}

bool an_store_hazard_transition_ok(enum an_hazard_status from, enum an_hazard_status to)
{
	if (NAME_OF(hazard_txt, from) == NULL || NAME_OF(hazard_txt, to) == NULL || from == to)
		return false;
	if (confirmed(from) || from == AN_HAZARD_SUPERSEDED)
		return false;
	if (to == AN_HAZARD_SUPERSEDED)
		return true;
	switch (from) {
	case AN_HAZARD_CANDIDATE:
		return to == AN_HAZARD_AWAITING_SECOND || to == AN_HAZARD_AWAITING_EXCAVATION;
	case AN_HAZARD_AWAITING_SECOND:
		return to == AN_HAZARD_AWAITING_EXCAVATION;
	case AN_HAZARD_AWAITING_EXCAVATION:
		return confirmed(to) || to == AN_HAZARD_NOT_ACCESSIBLE;
	case AN_HAZARD_NOT_ACCESSIBLE:
		return to == AN_HAZARD_AWAITING_EXCAVATION;
	default:
		return false;
	}
}

/* ---- small helpers ------------------------------------------------------------------------------------- */

/* Run a prepared one-shot write; finalize; on success *id (if not NULL) gets the new rowid. */
static int step_done(struct an_store *s, sqlite3_stmt *st, int64_t *id, const char *where)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, where);
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static bool text_ok(const char *t)
{
	return t != NULL && t[0] != '\0' && strlen(t) < AN_STORE_TEXT_MAX;
}

static void copy_text(char *dst, const unsigned char *src)
{
	snprintf(dst, AN_STORE_TEXT_MAX, "%s", src != NULL ? (const char *)src : "");
}

static int col_opt(sqlite3_stmt *st, int i, int64_t *v)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	*v = sqlite3_column_int64(st, i);
	return 1;
}

/* ---- programmes, tasks, boxes ------------------------------------------------------------------------ */

int an_store_programme_add(struct an_store *s, const char *name, const char *imsma_id, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (!text_ok(name) || id == NULL)
		return an_store__fail(s, -EINVAL, "an_store_programme_add: name must be 1..%d bytes",
		                      AN_STORE_TEXT_MAX - 1);
	int err = an_store__writable(s, "an_store_programme_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO programmes(name, imsma_id, created_ms) VALUES "
	                                           "(?1, ?2, ?3)", &st, "an_store_programme_add")) < 0)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, imsma_id);
	sqlite3_bind_int64(st, 3, an_store__now(s));
	err = step_done(s, st, id, "an_store_programme_add");
	if (err == -EEXIST)
		an_store__fail(s, err, "an_store_programme_add: programme '%s' already exists", name);
	return err;
}

int an_store_task_add(struct an_store *s, const struct an_store_task *t, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (t == NULL || id == NULL || !text_ok(t->name))
		return an_store__fail(s, -EINVAL, "an_store_task_add: name must be 1..%d bytes",
		                      AN_STORE_TEXT_MAX - 1);
	struct an_geo_origin o;
	if (an_geo_origin_init(&o, t->origin_lat_e7, t->origin_lon_e7, t->origin_alt_mm) < 0 ||
	    t->origin_alt_mm == AN_GEO_ALT_UNKNOWN)
		return an_store__fail(s, -EINVAL, "an_store_task_add: task '%s': origin %" PRId32 ", %" PRId32
		                      " degE7, %" PRId32 " mm is not a valid position", t->name, t->origin_lat_e7,
		                      t->origin_lon_e7, t->origin_alt_mm);
	int err = an_store__writable(s, "an_store_task_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO tasks(programme_id, name, imsma_id, origin_lat_e7, "
	                                           "origin_lon_e7, origin_alt_mm, created_ms) VALUES (?1, ?2, ?3, "
	                                           "?4, ?5, ?6, ?7)", &st, "an_store_task_add")) < 0)
		return err;
	sqlite3_bind_int64(st, 1, t->programme_id);
	sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
	bind_text_or_null(st, 3, t->imsma_id);
	sqlite3_bind_int(st, 4, t->origin_lat_e7);
	sqlite3_bind_int(st, 5, t->origin_lon_e7);
	sqlite3_bind_int(st, 6, t->origin_alt_mm);
	sqlite3_bind_int64(st, 7, an_store__now(s));
	err = step_done(s, st, id, "an_store_task_add");
	if (err == -ENOENT)
		an_store__fail(s, err, "an_store_task_add: programme %" PRId64 " does not exist", t->programme_id);
	else if (err == -EEXIST)
		an_store__fail(s, err, "an_store_task_add: programme %" PRId64 " already has a task '%s'",
		               t->programme_id, t->name);
	return err;
}

int an_store_task_origin(struct an_store *s, int64_t task_id, struct an_geo_origin *o)
{
	if (s == NULL || o == NULL)
		return -EINVAL;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT origin_lat_e7, origin_lon_e7, origin_alt_mm FROM tasks WHERE id = ?1",
	                            &st, "an_store_task_origin");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, task_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = an_geo_origin_init(o, sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
		                         sqlite3_column_int(st, 2));
	else if (rc == SQLITE_DONE)
		err = an_store__fail(s, -ENOENT, "an_store_task_origin: task %" PRId64 " does not exist", task_id);
	else
		err = an_store__sqlfail(s, rc, "an_store_task_origin");
	sqlite3_finalize(st);
	return err;
}

int an_store_box_add(struct an_store *s, const struct an_store_box *b, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (b == NULL || id == NULL || !text_ok(b->name) || NAME_OF(species_txt, b->species) == NULL)
		return an_store__fail(s, -EINVAL, "an_store_box_add: name (1..%d bytes) and species are required",
		                      AN_STORE_TEXT_MAX - 1);
	struct an_geo_origin o;
	int err = an_store_task_origin(s, b->task_id, &o);
	if (err < 0)
		return err;
	struct an_geo_enu p0, pa, pc;
	struct an_geo_box frame;
	if (an_geo_enu_from_e7(&o, b->p0_lat_e7, b->p0_lon_e7, AN_GEO_ALT_UNKNOWN, &p0) < 0 ||
	    an_geo_enu_from_e7(&o, b->along_lat_e7, b->along_lon_e7, AN_GEO_ALT_UNKNOWN, &pa) < 0 ||
	    an_geo_enu_from_e7(&o, b->across_lat_e7, b->across_lon_e7, AN_GEO_ALT_UNKNOWN, &pc) < 0)
		return an_store__fail(s, -EINVAL, "an_store_box_add: box '%s': a corner is not a valid position "
		                      "within %lld km of task %" PRId64 "'s origin", b->name,
		                      AN_GEO_RANGE_MAX_MM / 1000000, b->task_id);
	if (an_geo_box_init(&frame, &p0, &pa, &pc, b->lane_width_mm, b->lane_count) < 0)
		return an_store__fail(s, -EINVAL,
		                      "an_store_box_add: box '%s': corners p0 (%" PRId64 ", %" PRId64 ") along (%" PRId64
		                      ", %" PRId64 ") across (%" PRId64 ", %" PRId64 ") mm do not make a square "
		                      "box of %" PRIu32 " lanes × %" PRIu32 " mm (tolerances in an/geo.h)",
		                      b->name, p0.e_mm, p0.n_mm, pa.e_mm, pa.n_mm, pc.e_mm, pc.n_mm, b->lane_count,
		                      b->lane_width_mm);
	err = an_store__writable(s, "an_store_box_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO boxes(task_id, name, p0_lat_e7, p0_lon_e7, "
	                                           "along_lat_e7, along_lon_e7, across_lat_e7, across_lon_e7, "
	                                           "p0_x_mm, p0_y_mm, along_x_mm, along_y_mm, across_x_mm, "
	                                           "across_y_mm, lane_width_mm, lane_count, species, blind) VALUES "
	                                           "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	                                           "?15, ?16, ?17, ?18)", &st, "an_store_box_add")) < 0)
		return err;
	sqlite3_bind_int64(st, 1, b->task_id);
	sqlite3_bind_text(st, 2, b->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, b->p0_lat_e7);
	sqlite3_bind_int(st, 4, b->p0_lon_e7);
	sqlite3_bind_int(st, 5, b->along_lat_e7);
	sqlite3_bind_int(st, 6, b->along_lon_e7);
	sqlite3_bind_int(st, 7, b->across_lat_e7);
	sqlite3_bind_int(st, 8, b->across_lon_e7);
	sqlite3_bind_int64(st, 9, p0.e_mm);
	sqlite3_bind_int64(st, 10, p0.n_mm);
	sqlite3_bind_int64(st, 11, pa.e_mm);
	sqlite3_bind_int64(st, 12, pa.n_mm);
	sqlite3_bind_int64(st, 13, pc.e_mm);
	sqlite3_bind_int64(st, 14, pc.n_mm);
	sqlite3_bind_int64(st, 15, b->lane_width_mm);
	sqlite3_bind_int64(st, 16, b->lane_count);
	sqlite3_bind_text(st, 17, NAME_OF(species_txt, b->species), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 18, b->blind ? 1 : 0);
	err = step_done(s, st, id, "an_store_box_add");
	if (err == -EEXIST)
		an_store__fail(s, err, "an_store_box_add: task %" PRId64 " already has a box '%s'", b->task_id,
		               b->name);
	return err;
}

int an_store_box_frame(struct an_store *s, int64_t box_id, struct an_geo_box *frame)
{
	if (s == NULL || frame == NULL)
		return -EINVAL;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT p0_x_mm, p0_y_mm, along_x_mm, along_y_mm, across_x_mm, across_y_mm, "
	                               "lane_width_mm, lane_count FROM boxes WHERE id = ?1", &st, "an_store_box_frame");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, box_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct an_geo_enu p0 = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), 0};
		struct an_geo_enu pa = {sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), 0};
		struct an_geo_enu pc = {sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), 0};
		err = an_geo_box_init(frame, &p0, &pa, &pc, (uint32_t)sqlite3_column_int64(st, 6),
		                      (uint32_t)sqlite3_column_int64(st, 7));
		if (err < 0)
			an_store__fail(s, err, "an_store_box_frame: box %" PRId64 ": stored geometry is invalid", box_id);
	} else if (rc == SQLITE_DONE) {
		err = an_store__fail(s, -ENOENT, "an_store_box_frame: box %" PRId64 " does not exist", box_id);
	} else {
		err = an_store__sqlfail(s, rc, "an_store_box_frame");
	}
	sqlite3_finalize(st);
	return err;
}

/* ---- animals, handlers, collars, sessions ----------------------------------------------------------- */

int an_store_animal_add(struct an_store *s, enum an_species species, const char *name, const char *role,
                        int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (!text_ok(name) || id == NULL || NAME_OF(species_txt, species) == NULL)
		return an_store__fail(s, -EINVAL, "an_store_animal_add: name (1..%d bytes) and species rat/dog "
		                      "are required", AN_STORE_TEXT_MAX - 1);
	int err = an_store__writable(s, "an_store_animal_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO animals(species, name, role) VALUES (?1, ?2, ?3)",
	                                        &st, "an_store_animal_add")) < 0)
		return err;
	sqlite3_bind_text(st, 1, NAME_OF(species_txt, species), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	bind_text_or_null(st, 3, role);
	err = step_done(s, st, id, "an_store_animal_add");
	if (err == -EEXIST)
		an_store__fail(s, err, "an_store_animal_add: an animal named '%s' already exists", name);
	return err;
}

int an_store_handler_add(struct an_store *s, const char *name, const char *role, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (!text_ok(name) || id == NULL)
		return an_store__fail(s, -EINVAL, "an_store_handler_add: name must be 1..%d bytes",
		                      AN_STORE_TEXT_MAX - 1);
	int err = an_store__writable(s, "an_store_handler_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO handlers(name, role) VALUES (?1, coalesce(?2, "
	                                           "'handler'))", &st, "an_store_handler_add")) < 0)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, role);
	err = step_done(s, st, id, "an_store_handler_add");
	if (err == -EINVAL)
		an_store__fail(s, err, "an_store_handler_add: role '%s' is not handler/observer/supervisor/tester",
		               role != NULL ? role : "");
	else if (err == -EEXIST)
		an_store__fail(s, err, "an_store_handler_add: a handler named '%s' already exists", name);
	return err;
}

int an_store_collar_assign(struct an_store *s, uint16_t collar_id, int64_t animal_id, int64_t from_ms)
{
	if (s == NULL)
		return -EINVAL;
	if (collar_id == 0)
		return an_store__fail(s, -EINVAL, "an_store_collar_assign: collar id 0 is never a collar");
	int err = an_store__writable(s, "an_store_collar_assign");
	if (err < 0 || (err = an_store__begin(s, "an_store_collar_assign")) < 0)
		return err;
	sqlite3_stmt *st;
	/* Would closing an open assignment at from_ms make it empty or negative? */
	err = an_store__prepare(s, "SELECT count(*) FROM collar_assignments WHERE to_ms IS NULL AND "
	                           "(collar_id = ?1 OR animal_id = ?2) AND from_ms >= ?3", &st,
	                        "an_store_collar_assign");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, animal_id);
	sqlite3_bind_int64(st, 3, from_ms);
	int rc = sqlite3_step(st);
	int64_t later = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (later != 0) {
		err = later < 0 ? an_store__sqlfail(s, rc, "an_store_collar_assign")
		                : an_store__fail(s, -EINVAL, "an_store_collar_assign: collar %u / animal %" PRId64
		                                 " has an open assignment starting at or after %" PRId64 " ms",
		                                 collar_id, animal_id, from_ms);
		goto out_rollback;
	}
	err = an_store__prepare(s, "INSERT INTO collars(collar_id) VALUES (?1) ON CONFLICT(collar_id) DO NOTHING", &st,
	                        "an_store_collar_assign");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int(st, 1, collar_id);
	if ((err = step_done(s, st, NULL, "an_store_collar_assign: collar")) < 0)
		goto out_rollback;
	err = an_store__prepare(s, "UPDATE collar_assignments SET to_ms = ?3 WHERE to_ms IS NULL AND "
	                           "(collar_id = ?1 OR animal_id = ?2)", &st, "an_store_collar_assign");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, animal_id);
	sqlite3_bind_int64(st, 3, from_ms);
	if ((err = step_done(s, st, NULL, "an_store_collar_assign: close")) < 0)
		goto out_rollback;
	err = an_store__prepare(s, "INSERT INTO collar_assignments(collar_id, animal_id, from_ms) VALUES (?1, ?2, ?3)",
	                        &st, "an_store_collar_assign");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, animal_id);
	sqlite3_bind_int64(st, 3, from_ms);
	if ((err = step_done(s, st, NULL, "an_store_collar_assign")) < 0) {
		if (err == -ENOENT)
			an_store__fail(s, err, "an_store_collar_assign: animal %" PRId64 " does not exist", animal_id);
		goto out_rollback;
	}
	char detail[64];
	snprintf(detail, sizeof detail, "collar %u from %" PRId64 " ms", collar_id, from_ms);
	if ((err = an_store__audit(s, "core", "collar_assign", "animal", animal_id, detail)) < 0)
		goto out_rollback;
	return an_store__commit(s, "an_store_collar_assign");
out_rollback:
	an_store__rollback(s);
	return err;
}

int an_store_session_add(struct an_store *s, const struct an_store_session *ss, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (ss == NULL || id == NULL || NAME_OF(mode_txt, ss->mode) == NULL ||
	    (ss->has_end && ss->end_ms < ss->start_ms) || (ss->has_humidity && ss->humidity_pct > 100) ||
	    (ss->n_handlers > 0 && ss->handler_ids == NULL) || (ss->n_patches > 0 && ss->patches == NULL))
		return an_store__fail(s, -EINVAL, "an_store_session_add: mode, start <= end, humidity 0..100 and "
		                      "the handler and patch lists are required");
	if (ss->n_patches > AN_STORE_SESSION_MAX_PATCHES)
		return an_store__fail(s, -EINVAL, "an_store_session_add: %zu patches, at most %u per session",
		                      ss->n_patches, AN_STORE_SESSION_MAX_PATCHES);
	int err;
	if (ss->n_patches > 0) {
		/* a patch is a box-frame rectangle: it must lie in the session's box */
		struct an_geo_box frame;
		if ((err = an_store_box_frame(s, ss->box_id, &frame)) < 0)
			return err;
		for (size_t i = 0; i < ss->n_patches; i++)
			if (an_geo_box_patch_check(&frame, &ss->patches[i]) < 0)
				return an_store__fail(s, -EINVAL, "an_store_session_add: patch %zu (lanes %" PRIu32 "+%" PRIu32
				                      ", along %" PRId64 "..%" PRId64 " mm) is not inside box %" PRId64
				                      " (%" PRIu32 " lanes of %" PRId64 " mm)", i, ss->patches[i].lane_first,
				                      ss->patches[i].lane_count, ss->patches[i].along_lo_mm,
				                      ss->patches[i].along_hi_mm, ss->box_id, frame.lane_count,
				                      frame.lane_len_mm);
	}
	err = an_store__writable(s, "an_store_session_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_session_add")) < 0)
		return err;
	sqlite3_stmt *st;
	err = an_store__prepare(s, "INSERT INTO sessions(box_id, animal_id, mode, start_ms, end_ms, temp_dc, "
	                           "humidity_pct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st, "an_store_session_add");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int64(st, 1, ss->box_id);
	sqlite3_bind_int64(st, 2, ss->animal_id);
	sqlite3_bind_text(st, 3, NAME_OF(mode_txt, ss->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ss->start_ms);
	bind_opt_i64(st, 5, ss->has_end, ss->end_ms);
	bind_opt_i64(st, 6, ss->has_temp, ss->temp_dc);
	bind_opt_i64(st, 7, ss->has_humidity, ss->humidity_pct);
	if ((err = step_done(s, st, id, "an_store_session_add")) < 0) {
		if (err == -ENOENT)
			an_store__fail(s, err, "an_store_session_add: box %" PRId64 " or animal %" PRId64
			               " does not exist", ss->box_id, ss->animal_id);
		goto out_rollback;
	}
	for (size_t i = 0; i < ss->n_handlers; i++) {
		err = an_store__prepare(s, "INSERT INTO session_handlers(session_id, handler_id) VALUES (?1, ?2)", &st,
		                        "an_store_session_add");
		if (err < 0)
			goto out_rollback;
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, ss->handler_ids[i]);
		if ((err = step_done(s, st, NULL, "an_store_session_add: handler")) < 0) {
			if (err == -ENOENT)
				an_store__fail(s, err, "an_store_session_add: handler %" PRId64 " does not exist",
				               ss->handler_ids[i]);
			goto out_rollback;
		}
	}
	for (size_t i = 0; i < ss->n_patches; i++) {
		const struct an_geo_box_patch *p = &ss->patches[i];
		err = an_store__prepare(s, "INSERT INTO session_patches(session_id, seq, lane_first, lane_count, "
		                           "along_lo_mm, along_hi_mm) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st,
		                        "an_store_session_add");
		if (err < 0)
			goto out_rollback;
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_int64(st, 3, p->lane_first);
		sqlite3_bind_int64(st, 4, p->lane_count);
		sqlite3_bind_int64(st, 5, p->along_lo_mm);
		sqlite3_bind_int64(st, 6, p->along_hi_mm);
		if ((err = step_done(s, st, NULL, "an_store_session_add: patch")) < 0)
			goto out_rollback;
	}
	return an_store__commit(s, "an_store_session_add");
out_rollback:
	an_store__rollback(s);
	return err;
}

int an_store_session_patches(struct an_store *s, int64_t session_id, struct an_geo_box_patch *out, size_t cap,
                             size_t *n_out)
{
	if (s == NULL || n_out == NULL || (cap > 0 && out == NULL))
		return -EINVAL;
	*n_out = 0;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT lane_first, lane_count, along_lo_mm, along_hi_mm, "
	                               "(SELECT count(*) FROM sessions WHERE id = ?1) FROM (SELECT 1) "
	                               "LEFT JOIN session_patches ON session_id = ?1 ORDER BY seq",
	                            &st, "an_store_session_patches");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, session_id);
	size_t n = 0;
	int rc;
	bool known = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		known = sqlite3_column_int64(st, 4) > 0;
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue; /* the LEFT JOIN's row of a session without patches */
		if (n < cap)
			out[n] = (struct an_geo_box_patch){(uint32_t)sqlite3_column_int64(st, 0),
			                                   (uint32_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
			                                   sqlite3_column_int64(st, 3)};
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "an_store_session_patches");
	if (!known)
		return an_store__fail(s, -ENOENT, "an_store_session_patches: session %" PRId64 " does not exist",
		                      session_id);
	*n_out = n;
	if (n > cap)
		return an_store__fail(s, -ENOBUFS, "an_store_session_patches: session %" PRId64 " has %zu patches, room "
		                      "for %zu", session_id, n, cap);
	return 0;
}

int an_store_session_end(struct an_store *s, int64_t session_id, int64_t end_ms)
{
	if (s == NULL)
		return -EINVAL;
	int err = an_store__writable(s, "an_store_session_end");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "UPDATE sessions SET end_ms = ?2 WHERE id = ?1", &st,
	                                        "an_store_session_end")) < 0)
		return err;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, end_ms);
	err = step_done(s, st, NULL, "an_store_session_end");
	if (err == -EINVAL)
		return an_store__fail(s, err, "an_store_session_end: session %" PRId64 ": end %" PRId64
		                      " ms is before its start", session_id, end_ms);
	if (err == 0 && sqlite3_changes(s->db) == 0)
		return an_store__fail(s, -ENOENT, "an_store_session_end: session %" PRId64 " does not exist",
		                      session_id);
	return err;
}

/* ---- record queries ------------------------------------------------------------------------------------- */

/* Columns shared by the fix and indication row readers: rx_ms, gw_id, session_id, task_id, x_mm, y_mm. */
static void read_place(sqlite3_stmt *st, int c, uint64_t *rx_ms, uint16_t *gw_id, int64_t *session_id,
                       int64_t *task_id, bool *has_xy, int64_t *x_mm, int64_t *y_mm)
{
	*rx_ms = (uint64_t)sqlite3_column_int64(st, c);
	*gw_id = (uint16_t)sqlite3_column_int(st, c + 1);
	*session_id = sqlite3_column_int64(st, c + 2);
	*task_id = sqlite3_column_int64(st, c + 3);
	*has_xy = sqlite3_column_type(st, c + 4) != SQLITE_NULL;
	*x_mm = sqlite3_column_int64(st, c + 4);
	*y_mm = sqlite3_column_int64(st, c + 5);
}

/* One row layout per record kind, shared by every query that returns fixes or indications, so a column
 * is decoded (and its absence kept absent) in exactly one place. */
#define FIX_ROW_COLS                                                                                          \
	"collar_id, rec_seq, t_ms, t_mono_ms, lat_e7, lon_e7, alt_mm, hdop_c, h_acc_mm, gga_q, faa_mode, "      \
	"fix_dim, nsat, sog_cms, cog_cdeg, tq, rx_ms, gw_id, session_id, task_id, x_mm, y_mm"

static void read_fix_row(sqlite3_stmt *st, struct an_store_fix *f)
{
	int64_t v;
	memset(f, 0, sizeof *f);
	f->collar_id = (uint16_t)sqlite3_column_int(st, 0);
	f->fix.rec_seq = (uint32_t)sqlite3_column_int64(st, 1);
	if (col_opt(st, 2, &v))
		f->fix.has |= PROTO_FIX_HAS_T, f->fix.t_ms = (uint64_t)v;
	if (col_opt(st, 3, &v))
		f->fix.has |= PROTO_FIX_HAS_TMONO, f->fix.t_mono_ms = (uint32_t)v;
	f->fix.lat_e7 = sqlite3_column_int(st, 4);
	f->fix.lon_e7 = sqlite3_column_int(st, 5);
	if (col_opt(st, 6, &v))
		f->fix.has |= PROTO_FIX_HAS_ALT, f->fix.alt_mm = (int32_t)v;
	if (col_opt(st, 7, &v))
		f->fix.has |= PROTO_FIX_HAS_HDOP, f->fix.hdop_c = (uint16_t)v;
	if (col_opt(st, 8, &v))
		f->fix.has |= PROTO_FIX_HAS_HACC, f->fix.h_acc_mm = (uint32_t)v;
	if (col_opt(st, 9, &v))
		f->fix.has |= PROTO_FIX_HAS_Q, f->fix.gga_q = (uint8_t)v;
	if (col_opt(st, 10, &v))
		f->fix.has |= PROTO_FIX_HAS_MODE, f->fix.faa_mode = (uint8_t)v;
	if (col_opt(st, 11, &v))
		f->fix.has |= PROTO_FIX_HAS_DIM, f->fix.fix_dim = (uint8_t)v;
	if (col_opt(st, 12, &v))
		f->fix.has |= PROTO_FIX_HAS_NSAT, f->fix.nsat = (uint8_t)v;
	if (col_opt(st, 13, &v))
		f->fix.has |= PROTO_FIX_HAS_SOG, f->fix.sog_cms = (uint16_t)v;
	if (col_opt(st, 14, &v))
		f->fix.has |= PROTO_FIX_HAS_COG, f->fix.cog_cdeg = (uint16_t)v;
	if (col_opt(st, 15, &v))
		f->fix.has |= PROTO_FIX_HAS_TQ, f->fix.tq = (uint8_t)v;
	read_place(st, 16, &f->rx_ms, &f->gw_id, &f->session_id, &f->task_id, &f->has_xy, &f->x_mm, &f->y_mm);
}

#define IND_ROW_COLS                                                                                          \
	"collar_id, rec_seq, t_ms, t_mono_ms, kind, dur_ms, conf_pct, src, lat_e7, lon_e7, h_acc_mm, fix_ref, "  \
	"review, coalesce(reviewed_by, 0), coalesce(reviewed_ms, 0), rx_ms, gw_id, session_id, task_id, x_mm, y_mm"

static void read_ind_row(sqlite3_stmt *st, struct an_store_ind *i)
{
	int64_t v;
	memset(i, 0, sizeof *i);
	i->collar_id = (uint16_t)sqlite3_column_int(st, 0);
	i->ind.rec_seq = (uint32_t)sqlite3_column_int64(st, 1);
	if (col_opt(st, 2, &v))
		i->ind.has |= PROTO_IND_HAS_T, i->ind.t_ms = (uint64_t)v;
	if (col_opt(st, 3, &v))
		i->ind.has |= PROTO_IND_HAS_TMONO, i->ind.t_mono_ms = (uint32_t)v;
	i->ind.kind = (uint8_t)sqlite3_column_int(st, 4);
	if (col_opt(st, 5, &v))
		i->ind.has |= PROTO_IND_HAS_DUR, i->ind.dur_ms = (uint32_t)v;
	if (col_opt(st, 6, &v))
		i->ind.has |= PROTO_IND_HAS_CONF, i->ind.conf_pct = (uint8_t)v;
	i->ind.src = (uint8_t)sqlite3_column_int(st, 7);
	if (col_opt(st, 8, &v))
		i->ind.has |= PROTO_IND_HAS_LAT, i->ind.lat_e7 = (int32_t)v;
	if (col_opt(st, 9, &v))
		i->ind.has |= PROTO_IND_HAS_LON, i->ind.lon_e7 = (int32_t)v;
	if (col_opt(st, 10, &v))
		i->ind.has |= PROTO_IND_HAS_HACC, i->ind.h_acc_mm = (uint32_t)v;
	if (col_opt(st, 11, &v))
		i->ind.has |= PROTO_IND_HAS_FIXREF, i->ind.fix_ref = (uint32_t)v;
	i->review = (enum an_review)INDEX_OF(review_txt, sqlite3_column_text(st, 12));
	i->reviewed_by = sqlite3_column_int64(st, 13);
	i->reviewed_ms = sqlite3_column_int64(st, 14);
	read_place(st, 15, &i->rx_ms, &i->gw_id, &i->session_id, &i->task_id, &i->has_xy, &i->x_mm, &i->y_mm);
}

/* Step a prepared statement of fixes (fcb) or indications (icb) to the end, one callback per row. */
static int run_rows(struct an_store *s, sqlite3_stmt *st, an_store_fix_cb fcb, an_store_ind_cb icb, void *ctx,
                    const char *what)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r;
		if (fcb) {
			struct an_store_fix f;
			read_fix_row(st, &f);
			r = fcb(ctx, &f);
		} else {
			struct an_store_ind i;
			read_ind_row(st, &i);
			r = icb(ctx, &i);
		}
		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, what);
}

int an_store_fixes_by_collar(struct an_store *s, uint16_t collar_id, uint64_t t0_ms, uint64_t t1_ms,
                             an_store_fix_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL || t0_ms > (uint64_t)INT64_MAX)
		return an_store__fail(s, -EINVAL, "an_store_fixes_by_collar: no callback or t0 out of range");
	if (t1_ms > (uint64_t)INT64_MAX)
		t1_ms = (uint64_t)INT64_MAX;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT " FIX_ROW_COLS " FROM fixes WHERE collar_id = ?1 AND t_ms >= ?2 AND "
	                               "t_ms < ?3 ORDER BY t_ms, rec_seq", &st, "an_store_fixes_by_collar");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, (int64_t)t0_ms);
	sqlite3_bind_int64(st, 3, (int64_t)t1_ms);
	return run_rows(s, st, cb, NULL, ctx, "an_store_fixes_by_collar");
}

int an_store_fixes_all(struct an_store *s, uint32_t max_h_acc_mm, an_store_fix_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL)
		return an_store__fail(s, -EINVAL, "an_store_fixes_all: no callback");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, max_h_acc_mm ? "SELECT " FIX_ROW_COLS " FROM fixes WHERE h_acc_mm > 0 AND "
	                                              "h_acc_mm <= ?1 ORDER BY record_id"
	                                            : "SELECT " FIX_ROW_COLS " FROM fixes ORDER BY record_id",
	                            &st, "an_store_fixes_all");
	if (err < 0)
		return err;
	if (max_h_acc_mm)
		sqlite3_bind_int64(st, 1, max_h_acc_mm);
	return run_rows(s, st, cb, NULL, ctx, "an_store_fixes_all");
}

int an_store_fixes_latest(struct an_store *s, an_store_fix_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL)
		return an_store__fail(s, -EINVAL, "an_store_fixes_latest: no callback");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT " FIX_ROW_COLS " FROM fixes WHERE record_id IN (SELECT MAX(record_id) "
	                               "FROM fixes GROUP BY collar_id) ORDER BY collar_id", &st, "an_store_fixes_latest");
	if (err < 0)
		return err;
	return run_rows(s, st, cb, NULL, ctx, "an_store_fixes_latest");
}

int an_store_inds_by_task(struct an_store *s, int64_t task_id, uint64_t t0_ms, uint64_t t1_ms,
                          an_store_ind_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL || t0_ms > (uint64_t)INT64_MAX)
		return an_store__fail(s, -EINVAL, "an_store_inds_by_task: no callback or t0 out of range");
	if (t1_ms > (uint64_t)INT64_MAX)
		t1_ms = (uint64_t)INT64_MAX;
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT " IND_ROW_COLS " FROM indications "
	                               "WHERE task_id = ?1 AND t_ms >= ?2 AND t_ms < ?3 "
	                               "ORDER BY t_ms, collar_id, rec_seq", &st, "an_store_inds_by_task");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, task_id);
	sqlite3_bind_int64(st, 2, (int64_t)t0_ms);
	sqlite3_bind_int64(st, 3, (int64_t)t1_ms);
	return run_rows(s, st, NULL, cb, ctx, "an_store_inds_by_task");
}

int an_store_inds_all(struct an_store *s, an_store_ind_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL)
		return an_store__fail(s, -EINVAL, "an_store_inds_all: no callback");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT " IND_ROW_COLS " FROM indications ORDER BY record_id", &st,
	                            "an_store_inds_all");
	if (err < 0)
		return err;
	return run_rows(s, st, NULL, cb, ctx, "an_store_inds_all");
}

int an_store_ind_review(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, enum an_review verdict,
                        int64_t handler_id)
{
	if (s == NULL)
		return -EINVAL;
	/* a verdict through the web names a stored indication (a collar's may come before its indication) */
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT 1 FROM indications WHERE collar_id = ?1 AND rec_seq = ?2", &st,
	                            "an_store_ind_review");
	if (err < 0)
		return err;
	sqlite3_bind_int(st, 1, collar_id);
	sqlite3_bind_int64(st, 2, rec_seq);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return an_store__fail(s, -ENOENT, "an_store_ind_review: no indication collar %u rec_seq %" PRIu32,
		                      collar_id, rec_seq);
	if (rc != SQLITE_ROW)
		return an_store__sqlfail(s, rc, "an_store_ind_review");
	struct an_store_review r = {.collar_id = collar_id, .rec_seq = rec_seq, .verdict = verdict,
	                            .source = "web", .handler_id = handler_id};
	snprintf(r.who, sizeof r.who, "handler:%" PRId64, handler_id);
	return an_store_review_add(s, &r);
}

/* ---- hazard points ------------------------------------------------------------------------------------- */

static int hazard_event(struct an_store *s, int64_t hazard_id, const char *kind, enum an_hazard_status from,
                        enum an_hazard_status to, const char *who, const char *note, int64_t *seq)
{
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "INSERT INTO hazard_events(hazard_id, t_ms, kind, from_status, to_status, who, "
	                               "note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st, "hazard event");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, hazard_id);
	sqlite3_bind_int64(st, 2, an_store__now(s));
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, NAME_OF(hazard_txt, from));
	bind_text_or_null(st, 5, NAME_OF(hazard_txt, to));
	sqlite3_bind_text(st, 6, who, -1, SQLITE_STATIC);
	bind_text_or_null(st, 7, note);
	return step_done(s, st, seq, "hazard event");
}

int an_store_hazard_add(struct an_store *s, const struct an_store_hazard *h, const char *who, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (h == NULL || id == NULL || !text_ok(who) ||
	    (h->status != AN_HAZARD_CANDIDATE && h->status != AN_HAZARD_AWAITING_SECOND &&
	     h->status != AN_HAZARD_AWAITING_EXCAVATION) ||
	    !(h->p_explosive >= 0.0 && h->p_explosive <= 1.0))
		return an_store__fail(s, -EINVAL, "an_store_hazard_add: who is required, the initial status must be "
		                      "candidate/awaiting_second_animal/awaiting_excavation and P in [0, 1]");
	int err = an_store__writable(s, "an_store_hazard_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_hazard_add")) < 0)
		return err;
	int64_t now = an_store__now(s);
	sqlite3_stmt *st;
	/* Ids below 2^32: the hazard engine's points (an_hazard_store_sync) use the canonical id
	 * collar_id << 32 | rec_seq with collar_id >= 1, so a point added here can never take one of theirs. */
	err = an_store__prepare(s, "INSERT INTO hazard_points(id, task_id, box_id, status, x_mm, y_mm, lat_e7, lon_e7, "
	                           "r95_mm, log_odds_q10, p_explosive, n_ind, n_animals, n_sessions, created_ms, "
	                           "updated_ms) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM hazard_points WHERE "
	                           "id < 4294967296), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
	                        &st, "an_store_hazard_add");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int64(st, 1, h->task_id);
	bind_opt_i64(st, 2, h->box_id != 0, h->box_id);
	sqlite3_bind_text(st, 3, NAME_OF(hazard_txt, h->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, h->x_mm);
	sqlite3_bind_int64(st, 5, h->y_mm);
	sqlite3_bind_int(st, 6, h->lat_e7);
	sqlite3_bind_int(st, 7, h->lon_e7);
	sqlite3_bind_int64(st, 8, h->r95_mm);
	sqlite3_bind_int(st, 9, h->log_odds_q10);
	sqlite3_bind_double(st, 10, h->p_explosive);
	sqlite3_bind_int64(st, 11, h->n_ind);
	sqlite3_bind_int64(st, 12, h->n_animals);
	sqlite3_bind_int64(st, 13, h->n_sessions);
	sqlite3_bind_int64(st, 14, now);
	if ((err = step_done(s, st, id, "an_store_hazard_add")) < 0) {
		if (err == -ENOENT)
			an_store__fail(s, err, "an_store_hazard_add: task %" PRId64 " or box %" PRId64
			               " does not exist", h->task_id, h->box_id);
		goto out_rollback;
	}
	if ((err = hazard_event(s, *id, "created", 0, h->status, who, NULL, NULL)) < 0)
		goto out_rollback;
	return an_store__commit(s, "an_store_hazard_add");
out_rollback:
	an_store__rollback(s);
	return err;
}

int an_store_hazard_set_status(struct an_store *s, int64_t hazard_id, enum an_hazard_status to,
                               const char *who, const char *note, int64_t *event_seq)
{
	if (s == NULL)
		return -EINVAL;
	if (!text_ok(who) || NAME_OF(hazard_txt, to) == NULL)
		return an_store__fail(s, -EINVAL, "an_store_hazard_set_status: who and a valid status are required");
	int err = an_store__writable(s, "an_store_hazard_set_status");
	if (err < 0 || (err = an_store__begin(s, "an_store_hazard_set_status")) < 0)
		return err;
	sqlite3_stmt *st;
	err = an_store__prepare(s, "SELECT status FROM hazard_points WHERE id = ?1", &st, "an_store_hazard_set_status");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int64(st, 1, hazard_id);
	int rc = sqlite3_step(st);
	enum an_hazard_status from =
		rc == SQLITE_ROW ? (enum an_hazard_status)INDEX_OF(hazard_txt, sqlite3_column_text(st, 0)) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? an_store__fail(s, -ENOENT, "an_store_hazard_set_status: hazard point %" PRId64
		                                         " does not exist", hazard_id)
		                        : an_store__sqlfail(s, rc, "an_store_hazard_set_status");
		goto out_rollback;
	}
	if (!an_store_hazard_transition_ok(from, to)) {
		err = an_store__fail(s, -EINVAL, "an_store_hazard_set_status: hazard point %" PRId64 ": %s → %s is not "
		                     "an allowed transition", hazard_id, NAME_OF(hazard_txt, from),
		                     NAME_OF(hazard_txt, to));
		goto out_rollback;
	}
	err = an_store__prepare(s, "UPDATE hazard_points SET status = ?2, updated_ms = ?3 WHERE id = ?1", &st,
	                        "an_store_hazard_set_status");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int64(st, 1, hazard_id);
	sqlite3_bind_text(st, 2, NAME_OF(hazard_txt, to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, an_store__now(s));
	if ((err = step_done(s, st, NULL, "an_store_hazard_set_status")) < 0)
		goto out_rollback;
	int64_t seq = 0;
	if ((err = hazard_event(s, hazard_id, "status", from, to, who, note, &seq)) < 0)
		goto out_rollback;
	char detail[96];
	snprintf(detail, sizeof detail, "%s -> %s (event %" PRId64 ")", NAME_OF(hazard_txt, from),
	         NAME_OF(hazard_txt, to), seq);
	if ((err = an_store__audit(s, who, "hazard_status", "hazard_point", hazard_id, detail)) < 0)
		goto out_rollback;
	if ((err = an_store__commit(s, "an_store_hazard_set_status")) < 0)
		return err;
	if (event_seq != NULL)
		*event_seq = seq;
	return 0;
out_rollback:
	an_store__rollback(s);
	return err;
}

int an_store_hazard_evidence_add(struct an_store *s, int64_t hazard_id, const struct an_store_evidence *e)
{
	if (s == NULL)
		return -EINVAL;
	if (e == NULL || (e->kind != AN_EVIDENCE_INDICATION && e->kind != AN_EVIDENCE_CLEAN_PASS) ||
	    (e->kind == AN_EVIDENCE_CLEAN_PASS && e->session_id == 0))
		return an_store__fail(s, -EINVAL, "an_store_hazard_evidence_add: kind indication (collar, rec_seq) or "
		                      "clean_pass (session) required");
	int err = an_store__writable(s, "an_store_hazard_evidence_add");
	sqlite3_stmt *st;
	if (err < 0 || (err = an_store__prepare(s, "INSERT INTO hazard_evidence(hazard_id, kind, collar_id, rec_seq, "
	                                           "session_id, delta_q10) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st,
	                                        "an_store_hazard_evidence_add")) < 0)
		return err;
	bool ind = e->kind == AN_EVIDENCE_INDICATION;
	sqlite3_bind_int64(st, 1, hazard_id);
	sqlite3_bind_text(st, 2, ind ? "indication" : "clean_pass", -1, SQLITE_STATIC);
	bind_opt_i64(st, 3, ind, e->collar_id);
	bind_opt_i64(st, 4, ind, e->rec_seq);
	bind_opt_i64(st, 5, e->session_id != 0, e->session_id);
	sqlite3_bind_int(st, 6, e->delta_q10);
	err = step_done(s, st, NULL, "an_store_hazard_evidence_add");
	if (err == -ENOENT)
		an_store__fail(s, err, "an_store_hazard_evidence_add: hazard %" PRId64 ", indication (collar %u, "
		               "rec_seq %" PRIu32 ") or session %" PRId64 " does not exist", hazard_id, e->collar_id,
		               e->rec_seq, e->session_id);
	return err;
}

int an_store_hazards_by_task(struct an_store *s, int64_t task_id, an_store_hazard_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL)
		return an_store__fail(s, -EINVAL, "an_store_hazards_by_task: no callback");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT id, task_id, coalesce(box_id, 0), status, x_mm, y_mm, lat_e7, lon_e7, "
	                               "r95_mm, log_odds_q10, p_explosive, n_ind, n_animals, n_sessions, created_ms, "
	                               "updated_ms FROM hazard_points WHERE task_id = ?1 ORDER BY id", &st,
	                            "an_store_hazards_by_task");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, task_id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct an_store_hazard h;
		memset(&h, 0, sizeof h);
		h.id = sqlite3_column_int64(st, 0);
		h.task_id = sqlite3_column_int64(st, 1);
		h.box_id = sqlite3_column_int64(st, 2);
		h.status = (enum an_hazard_status)INDEX_OF(hazard_txt, sqlite3_column_text(st, 3));
		h.x_mm = sqlite3_column_int64(st, 4);
		h.y_mm = sqlite3_column_int64(st, 5);
		h.lat_e7 = sqlite3_column_int(st, 6);
		h.lon_e7 = sqlite3_column_int(st, 7);
		h.r95_mm = (uint32_t)sqlite3_column_int64(st, 8);
		h.log_odds_q10 = sqlite3_column_int(st, 9);
		h.p_explosive = sqlite3_column_double(st, 10);
		h.n_ind = (uint32_t)sqlite3_column_int64(st, 11);
		h.n_animals = (uint32_t)sqlite3_column_int64(st, 12);
		h.n_sessions = (uint32_t)sqlite3_column_int64(st, 13);
		h.created_ms = sqlite3_column_int64(st, 14);
		h.updated_ms = sqlite3_column_int64(st, 15);
		int r = cb(ctx, &h);
		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "an_store_hazards_by_task");
}

int an_store_hazard_events_since(struct an_store *s, int64_t after_seq, an_store_hazard_event_cb cb, void *ctx)
{
	if (s == NULL)
		return -EINVAL;
	if (cb == NULL)
		return an_store__fail(s, -EINVAL, "an_store_hazard_events_since: no callback");
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT seq, hazard_id, t_ms, kind, from_status, to_status, who FROM "
	                               "hazard_events WHERE seq > ?1 ORDER BY seq", &st, "an_store_hazard_events_since");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, after_seq);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct an_store_hazard_event e;
		memset(&e, 0, sizeof e);
		e.seq = sqlite3_column_int64(st, 0);
		e.hazard_id = sqlite3_column_int64(st, 1);
		e.t_ms = sqlite3_column_int64(st, 2);
		snprintf(e.kind, sizeof e.kind, "%s", (const char *)sqlite3_column_text(st, 3));
		e.from = (enum an_hazard_status)INDEX_OF(hazard_txt, sqlite3_column_text(st, 4));
		e.to = (enum an_hazard_status)INDEX_OF(hazard_txt, sqlite3_column_text(st, 5));
		copy_text(e.who, sqlite3_column_text(st, 6));
		int r = cb(ctx, &e);
		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "an_store_hazard_events_since");
}

/* ---- clearance results ------------------------------------------------------------------------------------ */

int an_store_clearance_add(struct an_store *s, const struct an_store_clearance *c, int64_t *id)
{
	if (s == NULL)
		return -EINVAL;
	if (c == NULL || id == NULL || NAME_OF(clr_txt, c->result) == NULL ||
	    memchr(c->device_type, '\0', sizeof c->device_type) == NULL || memchr(c->team, '\0', sizeof c->team) == NULL)
		return an_store__fail(s, -EINVAL, "an_store_clearance_add: a result class and NUL-terminated "
		                      "device_type/team are required");
	struct an_geo_enu enu = {0, 0, 0};
	if (c->has_pos) {
		struct an_geo_origin o;
		int e = an_store_task_origin(s, c->task_id, &o);
		if (e < 0)
			return e;
		if (an_geo_enu_from_e7(&o, c->lat_e7, c->lon_e7, AN_GEO_ALT_UNKNOWN, &enu) < 0)
			return an_store__fail(s, -EINVAL, "an_store_clearance_add: position %" PRId32 ", %" PRId32
			                      " degE7 is invalid or beyond %lld km of task %" PRId64 "'s origin",
			                      c->lat_e7, c->lon_e7, AN_GEO_RANGE_MAX_MM / 1000000, c->task_id);
	}
	int err = an_store__writable(s, "an_store_clearance_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_clearance_add")) < 0)
		return err;
	sqlite3_stmt *st;
	err = an_store__prepare(s, "INSERT INTO clearance_results(task_id, hazard_id, lat_e7, lon_e7, x_mm, y_mm, "
	                           "pos_err_mm, result, device_type, depth_mm, team, date_ms) VALUES (?1, ?2, ?3, ?4, "
	                           "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", &st, "an_store_clearance_add");
	if (err < 0)
		goto out_rollback;
	sqlite3_bind_int64(st, 1, c->task_id);
	bind_opt_i64(st, 2, c->hazard_id != 0, c->hazard_id);
	bind_opt_i64(st, 3, c->has_pos, c->lat_e7);
	bind_opt_i64(st, 4, c->has_pos, c->lon_e7);
	bind_opt_i64(st, 5, c->has_pos, enu.e_mm);
	bind_opt_i64(st, 6, c->has_pos, enu.n_mm);
	bind_opt_i64(st, 7, c->has_pos, c->pos_err_mm);
	sqlite3_bind_text(st, 8, NAME_OF(clr_txt, c->result), -1, SQLITE_STATIC);
	bind_text_or_null(st, 9, c->device_type[0] != '\0' ? c->device_type : NULL);
	bind_opt_i64(st, 10, c->has_depth, c->depth_mm);
	bind_text_or_null(st, 11, c->team[0] != '\0' ? c->team : NULL);
	sqlite3_bind_int64(st, 12, c->date_ms);
	if ((err = step_done(s, st, id, "an_store_clearance_add")) < 0) {
		if (err == -ENOENT)
			an_store__fail(s, err, "an_store_clearance_add: task %" PRId64 " or hazard point %" PRId64
			               " does not exist", c->task_id, c->hazard_id);
		goto out_rollback;
	}
	char detail[96];
	snprintf(detail, sizeof detail, "%s%s%s", NAME_OF(clr_txt, c->result), c->device_type[0] ? " " : "",
	         c->device_type);
	if ((err = an_store__audit(s, c->team[0] ? c->team : "unknown team", "clearance_add", "clearance_result",
	                           *id, detail)) < 0)
		goto out_rollback;
	return an_store__commit(s, "an_store_clearance_add");
out_rollback:
	an_store__rollback(s);
	return err;
}

/* The one decoder of a clearance_results row: every reader selects CLR_COLS and hands each row here. */
#define CLR_COLS                                                                                                       \
	"SELECT id, task_id, coalesce(hazard_id, 0), lat_e7, lon_e7, x_mm, y_mm, coalesce(pos_err_mm, 0), result, "     \
	"device_type, depth_mm, team, date_ms FROM clearance_results "

struct clr_cb {
	an_store_clearance_cb cb;
	void *ctx;
};

static int clearance_row(void *ctx, sqlite3_stmt *st)
{
	const struct clr_cb *k = ctx;
	struct an_store_clearance c;
	memset(&c, 0, sizeof c);
	int64_t v;
	c.id = sqlite3_column_int64(st, 0);
	c.task_id = sqlite3_column_int64(st, 1);
	c.hazard_id = sqlite3_column_int64(st, 2);
	c.has_pos = sqlite3_column_type(st, 3) != SQLITE_NULL;
	c.lat_e7 = sqlite3_column_int(st, 3);
	c.lon_e7 = sqlite3_column_int(st, 4);
	c.x_mm = sqlite3_column_int64(st, 5);
	c.y_mm = sqlite3_column_int64(st, 6);
	c.pos_err_mm = (uint32_t)sqlite3_column_int64(st, 7);
	c.result = (enum an_clearance_result)INDEX_OF(clr_txt, sqlite3_column_text(st, 8));
	copy_text(c.device_type, sqlite3_column_text(st, 9));
	if (col_opt(st, 10, &v))
		c.has_depth = true, c.depth_mm = (int32_t)v;
	copy_text(c.team, sqlite3_column_text(st, 11));
	c.date_ms = sqlite3_column_int64(st, 12);
	return k->cb(k->ctx, &c);
}

static int clearances_each(struct an_store *s, const char *sql, int64_t arg, an_store_clearance_cb cb, void *ctx,
                           const char *where)
{
	struct clr_cb k = {cb, ctx};
	return an_store__rows_of(s, cb != NULL, sql, arg, clearance_row, &k, where);
}

int an_store_clearances_by_task(struct an_store *s, int64_t task_id, an_store_clearance_cb cb, void *ctx)
{
	return clearances_each(s, CLR_COLS "WHERE task_id = ?1 ORDER BY date_ms, id", task_id, cb, ctx,
	                       "an_store_clearances_by_task");
}

int an_store_clearances_after(struct an_store *s, int64_t after_id, an_store_clearance_cb cb, void *ctx)
{
	return clearances_each(s, CLR_COLS "WHERE id > ?1 ORDER BY id", after_id, cb, ctx, "an_store_clearances_after");
}
