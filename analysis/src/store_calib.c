/*
 * analysis/src/store_calib.c — the trainers' calibration record per animal (an/store.h "calibration
 * records"; table from schema step 7): append-only history, the record in force, the natural key.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

static const char *const source_txt[] = {[AN_CALIB_ACCREDITATION] = "accreditation",
                                         [AN_CALIB_TRAINING] = "training",
                                         [AN_CALIB_OPERATIONAL] = "operational",
                                         [AN_CALIB_IMPORT] = "import"};
#define N_SOURCES (sizeof source_txt / sizeof source_txt[0])

const char *an_store_calib_source_name(enum an_calib_source src)
{
	return (unsigned)src < N_SOURCES ? source_txt[(unsigned)src] : NULL;
}

int an_store_calib_source_parse(const char *name, enum an_calib_source *out)
{
	for (unsigned i = 1; name != NULL && out != NULL && i < N_SOURCES; i++)
		if (strcmp(name, source_txt[i]) == 0) {
			*out = (enum an_calib_source)i;
			return 0;
		}
	return -EINVAL;
}

int an_store_calibration_check(const struct an_store_calibration *c, char *why, size_t whycap)
{
	const char *w = NULL;
	if (c == NULL)
		w = "no record";
	else if (c->animal_id <= 0)
		w = "animal id must be positive";
	else if (c->hits > AN_STORE_CALIB_COUNT_MAX || c->misses > AN_STORE_CALIB_COUNT_MAX ||
	         c->false_inds > AN_STORE_CALIB_COUNT_MAX)
		w = "a count above 10^9";
	else if (!isfinite(c->area_m2) || c->area_m2 < 0.0 || c->area_m2 >= 1e12)
		w = "area_m2 must be finite, >= 0 and < 10^12";
	else if (an_store_calib_source_name(c->source) == NULL)
		w = "source must be accreditation, training, operational or import";
	else if (memchr(c->note, '\0', sizeof c->note) == NULL)
		w = "note is not NUL-terminated";
	else if (c->hits + c->misses == 0 && c->false_inds == 0 && c->area_m2 == 0.0)
		/* it would change nothing and say "calibrated" where nothing was measured */
		w = "an empty record (no targets, no false indications, no area)";
	if (w != NULL && why != NULL && whycap > 0)
		snprintf(why, whycap, "%s", w);
	return w != NULL ? -EINVAL : 0;
}

/* The stored record under (animal, as_of, source): 1 = found (*id, counts in *out), 0 = none. */
static int find_key(struct an_store *s, const struct an_store_calibration *c, int64_t *id,
                    struct an_store_calibration *out)
{
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT id, hits, misses, false_inds, area_m2 FROM calibrations WHERE "
	                               "animal_id = ?1 AND as_of_ms = ?2 AND source = ?3", &st,
	                            "an_store_calibrations_add");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, c->animal_id);
	sqlite3_bind_int64(st, 2, c->as_of_ms);
	sqlite3_bind_text(st, 3, an_store_calib_source_name(c->source), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		out->hits = (uint64_t)sqlite3_column_int64(st, 1);
		out->misses = (uint64_t)sqlite3_column_int64(st, 2);
		out->false_inds = (uint64_t)sqlite3_column_int64(st, 3);
		out->area_m2 = sqlite3_column_double(st, 4);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "an_store_calibrations_add");
}

static int animal_exists(struct an_store *s, int64_t animal_id)
{
	sqlite3_stmt *st;
	int err = an_store__prepare(s, "SELECT 1 FROM animals WHERE id = ?1", &st, "an_store_calibrations_add");
	if (err < 0)
		return err;
	sqlite3_bind_int64(st, 1, animal_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : an_store__sqlfail(s, rc, "an_store_calibrations_add");
}

static int add_one(struct an_store *s, struct an_store_calibration *c, size_t i, bool *dup)
{
	char why[96];
	if (an_store_calibration_check(c, why, sizeof why) < 0)
		return an_store__fail(s, -EINVAL, "an_store_calibrations_add: record %zu: %s", i + 1, why);
	int err = animal_exists(s, c->animal_id);
	if (err == 0)
		return an_store__fail(s, -ENOENT, "an_store_calibrations_add: record %zu: animal %" PRId64
		                      " does not exist", i + 1, c->animal_id);
	if (err < 0)
		return err;
	struct an_store_calibration old;
	memset(&old, 0, sizeof old);
	int64_t id = 0;
	if ((err = find_key(s, c, &id, &old)) < 0)
		return err;
	if (err == 1) {
		if (old.hits != c->hits || old.misses != c->misses || old.false_inds != c->false_inds ||
		    old.area_m2 != c->area_m2)
			return an_store__fail(s, -EEXIST, "an_store_calibrations_add: record %zu: animal %" PRId64
			                      " already has a %s record as of %" PRId64 " ms (id %" PRId64 ": %" PRIu64
			                      " hits, %" PRIu64 " misses, %" PRIu64 " false, %.1f m²) with other counts; "
			                      "a correction is a new record with a later as_of",
			                      i + 1, c->animal_id, an_store_calib_source_name(c->source), c->as_of_ms, id,
			                      old.hits, old.misses, old.false_inds, old.area_m2);
		c->id = id;
		*dup = true;
		return 0;
	}
	sqlite3_stmt *st;
	if ((err = an_store__prepare(s, "INSERT INTO calibrations(animal_id, as_of_ms, hits, misses, false_inds, "
	                                "area_m2, source, note, entered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	                             &st, "an_store_calibrations_add")) < 0)
		return err;
	sqlite3_bind_int64(st, 1, c->animal_id);
	sqlite3_bind_int64(st, 2, c->as_of_ms);
	sqlite3_bind_int64(st, 3, (int64_t)c->hits);
	sqlite3_bind_int64(st, 4, (int64_t)c->misses);
	sqlite3_bind_int64(st, 5, (int64_t)c->false_inds);
	sqlite3_bind_double(st, 6, c->area_m2);
	sqlite3_bind_text(st, 7, an_store_calib_source_name(c->source), -1, SQLITE_STATIC);
	bind_text_or_null(st, 8, c->note[0] != '\0' ? c->note : NULL);
	sqlite3_bind_int64(st, 9, an_store__now(s));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return an_store__sqlfail(s, rc, "an_store_calibrations_add");
	c->id = sqlite3_last_insert_rowid(s->db);
	*dup = false;
	return 0;
}

int an_store_calibrations_add(struct an_store *s, struct an_store_calibration *recs, size_t n, const char *who,
                              const char *what, size_t *inserted, size_t *duplicates, size_t *bad)
{
	if (bad != NULL)
		*bad = n;
	if (s == NULL)
		return -EINVAL;
	if (recs == NULL && n > 0)
		return an_store__fail(s, -EINVAL, "an_store_calibrations_add: no records");
	int err = an_store__writable(s, "an_store_calibrations_add");
	if (err < 0 || (err = an_store__begin(s, "an_store_calibrations_add")) < 0)
		return err;
	size_t ins = 0, dups = 0, i;
	for (i = 0; i < n; i++) {
		bool dup = false;
		if ((err = add_one(s, &recs[i], i, &dup)) < 0)
			goto out_rollback;
		if (dup)
			dups++;
		else
			ins++;
	}
	struct an_store__batch bt = {"an_store_calibrations_add", who != NULL ? who : "unknown", "calibration_add",
	                             "calibration", "calibration records", what, n ? recs[n - 1].id : 0, n, ins, dups};
	return an_store__batch_finish(s, &bt, inserted, duplicates, bad);
out_rollback:
	an_store__rollback(s);
	if (bad != NULL)
		*bad = i;
	return err;
}

/* The one decoder of a calibrations row. */
#define CAL_COLS                                                                                               \
	"SELECT c.id, c.animal_id, a.species, c.as_of_ms, c.hits, c.misses, c.false_inds, c.area_m2, c.source, "   \
	"coalesce(c.note, ''), c.entered_ms FROM calibrations c JOIN animals a ON a.id = c.animal_id "
/* the in-force order, newest first (an/store.h) */
#define CAL_NEWEST(t) \
	t ".as_of_ms DESC, " t ".hits DESC, " t ".misses DESC, " t ".false_inds DESC, " t ".area_m2 DESC, " t ".id DESC"

struct cal_cb {
	an_store_calibration_cb cb;
	void *ctx;
};

static int cal_row(void *ctx, sqlite3_stmt *st)
{
	const struct cal_cb *k = ctx;
	struct an_store_calibration c;
	memset(&c, 0, sizeof c);
	c.id = sqlite3_column_int64(st, 0);
	c.animal_id = sqlite3_column_int64(st, 1);
	const unsigned char *sp = sqlite3_column_text(st, 2);
	c.species = sp != NULL && strcmp((const char *)sp, "dog") == 0 ? AN_SPECIES_DOG : AN_SPECIES_RAT;
	c.as_of_ms = sqlite3_column_int64(st, 3);
	c.hits = (uint64_t)sqlite3_column_int64(st, 4);
	c.misses = (uint64_t)sqlite3_column_int64(st, 5);
	c.false_inds = (uint64_t)sqlite3_column_int64(st, 6);
	c.area_m2 = sqlite3_column_double(st, 7);
	enum an_calib_source src = 0;
	if (an_store_calib_source_parse((const char *)sqlite3_column_text(st, 8), &src) == 0)
		c.source = src; /* else 0: the CHECK allows only known names */
	snprintf(c.note, sizeof c.note, "%s", (const char *)sqlite3_column_text(st, 9));
	c.entered_ms = sqlite3_column_int64(st, 10);
	return k->cb(k->ctx, &c);
}

static int cal_each(struct an_store *s, const char *sql, int64_t arg, an_store_calibration_cb cb, void *ctx,
                    const char *where)
{
	struct cal_cb k = {cb, ctx};
	return an_store__rows_of(s, cb != NULL, sql, arg, cal_row, &k, where);
}

static int take_first(void *ctx, const struct an_store_calibration *c)
{
	*(struct an_store_calibration *)ctx = *c;
	return 1;
}

int an_store_calibration_latest(struct an_store *s, int64_t animal_id, struct an_store_calibration *out)
{
	if (s == NULL)
		return -EINVAL;
	if (out == NULL)
		return an_store__fail(s, -EINVAL, "an_store_calibration_latest: no output");
	int rc = cal_each(s, CAL_COLS "WHERE c.animal_id = ?1 ORDER BY " CAL_NEWEST("c") " LIMIT 1", animal_id, take_first,
	                  out, "an_store_calibration_latest");
	if (rc == 1)
		return 0;
	if (rc == 0)
		return an_store__fail(s, -ENOENT, "an_store_calibration_latest: animal %" PRId64 " has no calibration "
		                      "record (a new animal)", animal_id);
	return rc;
}

int an_store_calibrations_in_force(struct an_store *s, an_store_calibration_cb cb, void *ctx)
{
	/* the first row per animal in the in-force order (?1 is bound and unused) */
	return cal_each(s,
	                CAL_COLS "WHERE c.id = (SELECT c2.id FROM calibrations c2 WHERE c2.animal_id = c.animal_id "
	                "ORDER BY " CAL_NEWEST("c2") " LIMIT 1) AND ?1 = 0 ORDER BY c.animal_id",
	                0, cb, ctx, "an_store_calibrations_in_force");
}

int an_store_calibrations_after(struct an_store *s, int64_t after_id, an_store_calibration_cb cb, void *ctx)
{
	return cal_each(s, CAL_COLS "WHERE c.id > ?1 ORDER BY c.id", after_id, cb, ctx, "an_store_calibrations_after");
}
