/*
 * analysis/src/import_calib.c — the trainers' calibration records from CSV into the store, all or nothing,
 * every bad line reported (an/import.h an_import_calibration; the store side in store_calib.c); and, with
 * the same reader, the data recorder's box positions (an_import_boxpos; store_boxpos.c).
 *
 * Structure: read the header → one record per data line, each field checked where it is read → the
 * animal looked up and the natural key checked against the store and the earlier lines → if any line was
 * bad, report them all and write nothing → an_store_calibrations_add (one transaction, one audit row).
 * Unlike the clearance import (which stops at the first error) every line is checked, so a trainer fixes
 * a sheet in one round instead of one error per run.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "an/array.h"
#include "an/import.h"
#include "an/store.h"
#include "export_internal.h"

#define FIELD_MAX 1024
#define COLS_MAX 16

enum { C_ANIMAL, C_AS_OF, C_HITS, C_MISSES, C_FALSE, C_AREA, C_SOURCE, C_NOTE, C__COUNT };
static const char *const col_names[C__COUNT] = {"animal", "as_of", "hits", "misses", "false_inds", "area_m2",
                                                "source", "note"};

struct row {
	unsigned long line;
	struct an_store_calibration c;
	bool bad;
};

struct ictx {
	struct an_store *s;
	const char *src;
	an_import_line_error_fn on_error;
	void *ctx;
	struct an_import_result *r;
	size_t bad;
};

static void bad_line(struct ictx *x, struct row *w, unsigned long line, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void bad_line(struct ictx *x, struct row *w, unsigned long line, const char *field, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (w != NULL) {
		if (w->bad)
			return; /* one report per line: the first reason (the others often follow from it) */
		w->bad = true;
	}
	if (x->bad++ == 0 && x->r != NULL) {
		x->r->err_line = line;
		snprintf(x->r->err_field, sizeof x->r->err_field, "%s", field != NULL ? field : "");
	}
	if (x->on_error != NULL)
		x->on_error(x->ctx, line, field, why);
}

/* One CSV record from *pos: fields unescaped into scratch, their starts in f[]. 1 = record, 0 = end,
 * -EINVAL = malformed (reported). */
static int csv_next(struct ictx *x, const char *b, size_t len, size_t *pos, unsigned long *line, char **f, size_t *nf,
                    unsigned long *rec_line, char *scratch, size_t scap)
{
	size_t p = *pos, so = 0;
	*nf = 0;
	for (;;) { /* blank and '#' lines between records */
		if (p >= len)
			return 0;
		if (b[p] == '\n' || (b[p] == '\r' && p + 1 < len && b[p + 1] == '\n')) {
			p += b[p] == '\r' ? 2 : 1;
			(*line)++;
		} else if (b[p] == '#') {
			while (p < len && b[p] != '\n')
				p++;
		} else {
			break;
		}
	}
	*rec_line = *line;
	for (;;) {
		if (*nf >= COLS_MAX) {
			bad_line(x, NULL, *rec_line, NULL, "more than %d columns", COLS_MAX);
			return -EINVAL;
		}
		f[(*nf)++] = scratch + so;
		size_t start = so;
		bool quoted = p < len && b[p] == '"';
		if (quoted) {
			p++;
			for (;;) {
				if (p >= len) {
					bad_line(x, NULL, *rec_line, NULL, "quoted field not closed before the end of the file");
					return -EINVAL;
				}
				char ch = b[p];
				if (ch == '"' && p + 1 < len && b[p + 1] == '"')
					p += 2;
				else if (ch == '"') {
					p++;
					break;
				} else {
					if (ch == '\n')
						(*line)++;
					p++;
				}
				if (so - start >= FIELD_MAX || so + 2 >= scap) {
					bad_line(x, NULL, *rec_line, NULL, "field longer than %d bytes", FIELD_MAX);
					return -EINVAL;
				}
				scratch[so++] = ch;
			}
		}
		while (p < len && b[p] != ',' && b[p] != '\n' && !(b[p] == '\r' && p + 1 < len && b[p + 1] == '\n')) {
			if (quoted || b[p] == '"') {
				bad_line(x, NULL, *rec_line, NULL,
				         "a quote inside a field or text after a closing quote (quote the whole field, double "
				         "the quotes inside)");
				return -EINVAL;
			}
			if (so - start >= FIELD_MAX || so + 2 >= scap) {
				bad_line(x, NULL, *rec_line, NULL, "field longer than %d bytes", FIELD_MAX);
				return -EINVAL;
			}
			scratch[so++] = b[p++];
		}
		scratch[so++] = '\0';
		if (p < len && b[p] == ',') {
			p++;
			continue;
		}
		if (p < len)
			p += b[p] == '\r' ? 2 : 1;
		(*line)++;
		break;
	}
	*pos = p;
	return 1;
}

static char *trim(char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t' || v[l - 1] == '\r'))
		v[--l] = '\0';
	return v;
}

/*
 * The header line of a sheet (both importers): skips a UTF-8 byte order mark, reads the first record, maps
 * each field to one of names[0 .. count) (case-insensitive, trimmed) into colmap, marks seen. An empty file
 * names what was expected (expect); an unknown or repeated column names itself. 0, or a negative errno after
 * the line was reported.
 */
static int read_header(struct ictx *x, const char *buf, size_t len, size_t *pos, unsigned long *line, char **f,
                       size_t *nf, unsigned long *rec_line, char *scratch, size_t scap, const char *const *names,
                       int count, bool *seen, int *colmap, const char *expect)
{
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		*pos = 3;
	int rc = csv_next(x, buf, len, pos, line, f, nf, rec_line, scratch, scap);
	if (rc == 0) {
		bad_line(x, NULL, *line, NULL, "empty file: expected a header line (%s)", expect);
		return -EINVAL;
	}
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < *nf; i++) {
		const char *t = trim(f[i]);
		int c = -1;
		for (int k = 0; k < count; k++)
			if (strcasecmp(t, names[k]) == 0)
				c = k;
		if (c < 0 || seen[c]) {
			bad_line(x, NULL, *rec_line, NULL, c < 0 ? "unknown column '%s' in the header" :
			                                           "column '%s' appears twice in the header", t);
			return -EINVAL;
		}
		seen[c] = true;
		colmap[i] = c;
	}
	return 0;
}

static int parse_count(const char *v, uint64_t *out)
{
	if (v[0] < '0' || v[0] > '9')
		return -EINVAL;
	uint64_t n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > AN_STORE_CALIB_COUNT_MAX)
			return -ERANGE;
	}
	*out = n;
	return 0;
}

/* The animal named by a line: id if it is a positive integer that exists, else a name. */
static int lookup_animal(struct ictx *x, const char *txt, int64_t *id)
{
	sqlite3 *db = an_store_sqlite(x->s);
	sqlite3_stmt *st;
	for (int pass = 0; pass < 2; pass++) {
		char *end;
		long long v = strtoll(txt, &end, 10);
		bool numeric = *txt != '\0' && *end == '\0' && v > 0;
		if (pass == 0 && !numeric)
			continue;
		if (sqlite3_prepare_v2(db, pass == 0 ? "SELECT id FROM animals WHERE id = ?1" :
		                                       "SELECT id FROM animals WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
			return -EIO;
		if (pass == 0)
			sqlite3_bind_int64(st, 1, v);
		else
			sqlite3_bind_text(st, 1, txt, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (rc == SQLITE_ROW)
			return 0;
		if (rc != SQLITE_DONE)
			return rc == SQLITE_BUSY ? -EBUSY : -EIO;
	}
	return -ENOENT;
}

/* The counts stored under this line's key: 1 = found, 0 = none. */
static int stored_key(struct ictx *x, const struct an_store_calibration *c, struct an_store_calibration *old)
{
	sqlite3 *db = an_store_sqlite(x->s);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT hits, misses, false_inds, area_m2 FROM calibrations WHERE animal_id = ?1 "
	                           "AND as_of_ms = ?2 AND source = ?3", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, c->animal_id);
	sqlite3_bind_int64(st, 2, c->as_of_ms);
	sqlite3_bind_text(st, 3, an_store_calib_source_name(c->source), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		old->hits = (uint64_t)sqlite3_column_int64(st, 0);
		old->misses = (uint64_t)sqlite3_column_int64(st, 1);
		old->false_inds = (uint64_t)sqlite3_column_int64(st, 2);
		old->area_m2 = sqlite3_column_double(st, 3);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

static bool same_counts(const struct an_store_calibration *a, const struct an_store_calibration *b)
{
	return a->hits == b->hits && a->misses == b->misses && a->false_inds == b->false_inds &&
	       a->area_m2 == b->area_m2;
}

/* Set one field of w from text v (trimmed, may be ""). */
static void set_field(struct ictx *x, struct row *w, int col, const char *v, char *animal_txt, size_t cap)
{
	const char *name = col_names[col];
	bool empty = v[0] == '\0';
	if (empty && col != C_NOTE) {
		bad_line(x, w, w->line, name, "empty (required)");
		return;
	}
	int e;
	const char *why;
	double d;
	char *end;
	switch (col) {
	case C_ANIMAL:
		snprintf(animal_txt, cap, "%s", v);
		break;
	case C_AS_OF:
		if (an_exp__parse_time(v, &w->c.as_of_ms, &why) < 0)
			bad_line(x, w, w->line, name, "'%s': %s", v, why);
		break;
	case C_HITS:
	case C_MISSES:
	case C_FALSE: {
		uint64_t *dst = col == C_HITS ? &w->c.hits : col == C_MISSES ? &w->c.misses : &w->c.false_inds;
		if ((e = parse_count(v, dst)) < 0)
			bad_line(x, w, w->line, name, e == -ERANGE ? "'%s' is above 10^9" : "'%s' is not a whole number >= 0", v);
		break;
	}
	case C_AREA:
		d = strtod(v, &end);
		if (*end != '\0' || end == v || !isfinite(d) || d < 0.0 || d >= 1e12 || strchr(v, 'x') || strchr(v, 'X'))
			bad_line(x, w, w->line, name, "'%s' is not an area in m² (a decimal number >= 0)", v);
		else
			w->c.area_m2 = d;
		break;
	case C_SOURCE: {
		char low[32];
		size_t i = 0;
		for (; v[i] != '\0' && i + 1 < sizeof low; i++)
			low[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i]);
		low[i] = '\0';
		if (v[i] != '\0' || an_store_calib_source_parse(low, &w->c.source) < 0)
			bad_line(x, w, w->line, name, "'%s' is not accreditation, training, operational or import", v);
		break;
	}
	case C_NOTE:
		if (strlen(v) >= sizeof w->c.note)
			bad_line(x, w, w->line, name, "longer than %zu bytes", sizeof w->c.note - 1);
		else
			snprintf(w->c.note, sizeof w->c.note, "%s", v);
		break;
	}
}

/* Both importers' start: the result zeroed, err emptied, a missing store or input refused (-EINVAL, said in
 * err as "<who>: ..."). */
static int import_begin(const struct an_store *s, const char *buf, size_t len, struct an_import_result *r, char *err,
                        size_t errcap, const char *who)
{
	memset(r, 0, sizeof *r);
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (s == NULL || (buf == NULL && len > 0)) {
		if (err != NULL && errcap > 0)
			snprintf(err, errcap, "%s: no store or no input", who);
		return -EINVAL;
	}
	return 0;
}

/* The next data line of a sheet as a new zeroed row of *rows (n rows of elem bytes, capacity *cap): 1 with
 * *row set, 0 at the end, or an error — the file's structure is broken (later lines cannot be trusted),
 * more than max_rows data lines (-E2BIG, named), or -ENOMEM. Both importers read their lines with it. */
static int next_row(struct ictx *x, const char *buf, size_t len, size_t *pos, unsigned long *line, char **f,
                    size_t *nf, unsigned long *rec_line, char *scratch, size_t scap, size_t max_rows, void **rows,
                    size_t *cap, size_t *n, size_t elem, void **row)
{
	int rc = csv_next(x, buf, len, pos, line, f, nf, rec_line, scratch, scap);
	if (rc <= 0)
		return rc;
	if (*n >= max_rows) {
		bad_line(x, NULL, *rec_line, NULL, "more than %zu data lines", max_rows);
		return -E2BIG;
	}
	if (an_array_grow(rows, cap, *n, 64, elem) < 0)
		return -ENOMEM;
	*row = (char *)*rows + (*n)++ * elem;
	memset(*row, 0, elem);
	return 1;
}

int an_import_calibration(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                          struct an_import_result *r, an_import_line_error_fn on_error, void *ctx, char *err,
                          size_t errcap)
{
	struct an_import_result rr;
	if (r == NULL)
		r = &rr;
	if (import_begin(s, buf, len, r, err, errcap, "an_import_calibration") < 0)
		return -EINVAL;
	struct ictx x = {s, o != NULL && o->source != NULL ? o->source : "input", on_error, ctx, r, 0};
	size_t max_rows = o != NULL && o->max_rows > 0 ? o->max_rows : AN_IMPORT_MAX_ROWS_DEFAULT;
	size_t scap = COLS_MAX * (FIELD_MAX + 2);
	char *scratch = malloc(scap), *f[COLS_MAX];
	struct row *rows = NULL;
	struct an_store_calibration *recs = NULL;
	size_t n = 0, cap = 0, nf, pos = 0;
	unsigned long line = 1, rec_line;
	int colmap[COLS_MAX], rc = -ENOMEM;
	if (scratch == NULL)
		goto out;
	bool seen[C__COUNT] = {false};
	char expect[160];
	snprintf(expect, sizeof expect, "%s,%s,%s,%s,%s,%s,%s[,%s]", col_names[0], col_names[1], col_names[2],
	         col_names[3], col_names[4], col_names[5], col_names[6], col_names[7]);
	if ((rc = read_header(&x, buf, len, &pos, &line, f, &nf, &rec_line, scratch, scap, col_names, C__COUNT, seen,
	                      colmap, expect)) < 0)
		goto out;
	for (int c = 0; c < C_NOTE; c++)
		if (!seen[c]) {
			bad_line(&x, NULL, rec_line, NULL, "the header has no '%s' column (required)", col_names[c]);
			rc = -EINVAL;
			goto out;
		}
	size_t ncols = nf;
	/* data lines: each checked on its own, all of them */
	for (;;) {
		struct row *w;
		rc = next_row(&x, buf, len, &pos, &line, f, &nf, &rec_line, scratch, scap, max_rows, (void **)&rows, &cap,
		              &n, sizeof *rows, (void **)&w);
		if (rc < 0)
			goto out;
		if (rc == 0)
			break;
		w->line = rec_line;
		if (nf != ncols) {
			bad_line(&x, w, rec_line, NULL, "%zu fields, the header has %zu", nf, ncols);
			continue;
		}
		char animal_txt[128] = "";
		for (size_t i = 0; i < nf; i++)
			set_field(&x, w, colmap[i], trim(f[i]), animal_txt, sizeof animal_txt);
		if (w->bad)
			continue;
		if ((rc = lookup_animal(&x, animal_txt, &w->c.animal_id)) == -ENOENT) {
			bad_line(&x, w, w->line, "animal", "no animal '%s' in the store (an id or a name)", animal_txt);
			continue;
		}
		if (rc < 0)
			goto out_store;
		char why[96];
		if (an_store_calibration_check(&w->c, why, sizeof why) < 0) {
			bad_line(&x, w, w->line, NULL, "%s", why);
			continue;
		}
		/* the natural key: against the earlier lines of this file, then the store */
		for (size_t k = 0; k + 1 < n; k++) {
			const struct row *p = &rows[k];
			if (!p->bad && p->c.animal_id == w->c.animal_id && p->c.as_of_ms == w->c.as_of_ms &&
			    p->c.source == w->c.source && !same_counts(&p->c, &w->c)) {
				bad_line(&x, w, w->line, NULL, "line %lu has the same animal, as_of and source with other counts",
				         p->line);
				break;
			}
		}
		if (w->bad)
			continue;
		struct an_store_calibration old;
		memset(&old, 0, sizeof old);
		if ((rc = stored_key(&x, &w->c, &old)) < 0)
			goto out_store;
		if (rc == 1 && !same_counts(&old, &w->c))
			bad_line(&x, w, w->line, NULL,
			         "the store already has this animal's %s record as of this date with %" PRIu64 " hits, %" PRIu64
			         " misses, %" PRIu64 " false, %.1f m² (a correction is a new record with a later as_of)",
			         an_store_calib_source_name(w->c.source), old.hits, old.misses, old.false_inds, old.area_m2);
	}
	r->rows = n;
	r->bad_rows = x.bad;
	if (x.bad > 0) {
		rc = -EINVAL;
		goto out;
	}
	if (o != NULL && o->dry_run) {
		rc = 0;
		goto out;
	}
	recs = malloc((n ? n : 1) * sizeof *recs);
	if (recs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		recs[i] = rows[i].c;
	size_t bad_i = n;
	rc = an_store_calibrations_add(s, recs, n, o != NULL && o->who != NULL ? o->who : "scentrack import", x.src,
	                               &r->inserted, &r->duplicates, &bad_i);
	if (rc < 0 && err != NULL && errcap > 0) /* checked above: only the store itself can fail here */
		snprintf(err, errcap, "%s%s%lu: %s (nothing imported)", x.src, bad_i < n ? ":" : "",
		         bad_i < n ? rows[bad_i].line : 0ul, an_store_errmsg(s));
	goto out_free;
out_store:
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: reading the store: %s (nothing imported)", x.src,
		         sqlite3_errmsg(an_store_sqlite(s)));
	goto out_free;
out:
	r->rows = n;
	r->bad_rows = x.bad;
	if (rc < 0 && err != NULL && errcap > 0 && x.bad > 0)
		snprintf(err, errcap, "%s: %zu bad line%s (nothing imported)", x.src, x.bad, x.bad == 1 ? "" : "s");
	else if (rc < 0 && err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: %s (nothing imported)", x.src, strerror(-rc));
out_free:
	free(recs);
	free(rows);
	free(scratch);
	return rc;
}

/* ---- the data recorder's box positions (an/import.h an_import_boxpos) -------------------------------------
 * Same reader, same rules: every line checked (values, then the indication's box when the indication is
 * stored), every bad line reported, nothing written unless all are good, one transaction. */

enum { B_COLLAR, B_REC_SEQ, B_INDICATION, B_LANE, B_ALONG, B_SD, B__COUNT };
static const char *const bcol_names[B__COUNT] = {"collar", "rec_seq", "indication", "lane", "along_m", "sd_m"};

struct brow {
	unsigned long line;
	struct an_store_boxpos b;
	bool bad;
};

/* A length in metres as people write it ("2.35", "12"), to mm rounded; 0 .. max_mm. */
static int parse_m(const char *v, int64_t max_mm, int64_t *out_mm)
{
	char *end;
	double d = strtod(v, &end);
	if (*end != '\0' || end == v || !isfinite(d) || strchr(v, 'x') || strchr(v, 'X') || d < 0.0 ||
	    d * 1000.0 > (double)max_mm)
		return -EINVAL;
	*out_mm = (int64_t)llround(d * 1000.0);
	return 0;
}

static void set_bfield(struct ictx *x, struct brow *w, int col, const char *v)
{
	const char *name = bcol_names[col];
	uint64_t u;
	int64_t mm;
	unsigned c;
	uint32_t seq;
	char tail;
	if (v[0] == '\0') {
		if (col != B_SD) {
			bad_line(x, NULL, w->line, name, "empty (required)");
			w->bad = true;
		}
		return;
	}
	switch (col) {
	case B_COLLAR:
		if (parse_count(v, &u) < 0 || u < 1 || u > 65535)
			goto bad_collar;
		w->b.collar_id = (uint16_t)u;
		break;
	case B_REC_SEQ:
		if (sscanf(v, "%" SCNu32 "%c", &seq, &tail) != 1 || v[0] < '0' || v[0] > '9' || strlen(v) > 10 ||
		    strtoull(v, NULL, 10) > UINT32_MAX) {
			bad_line(x, NULL, w->line, name, "'%s' is not a record number (0 .. 4294967295)", v);
			w->bad = true;
		} else {
			w->b.rec_seq = seq;
		}
		break;
	case B_INDICATION:
		if (sscanf(v, "%u-%" SCNu32 "%c", &c, &seq, &tail) != 2 || c < 1 || c > 65535) {
			bad_line(x, NULL, w->line, name, "'%s' is not an indication id (COLLAR-REC_SEQ, e.g. 12-345)", v);
			w->bad = true;
		} else {
			w->b.collar_id = (uint16_t)c;
			w->b.rec_seq = seq;
		}
		break;
	case B_LANE:
		if (parse_count(v, &u) < 0 || u > 65535) {
			bad_line(x, NULL, w->line, name, "'%s' is not a lane number (0, 1, 2, ...: counted from the box's "
			         "first lane)", v);
			w->bad = true;
		} else {
			w->b.lane = (uint32_t)u;
		}
		break;
	case B_ALONG:
		if (parse_m(v, 10000000, &mm) < 0) {
			bad_line(x, NULL, w->line, name, "'%s' is not a distance along the lane in m (a decimal number >= 0)", v);
			w->bad = true;
		} else {
			w->b.along_mm = mm;
		}
		break;
	case B_SD:
		if (parse_m(v, AN_STORE_BOXPOS_SD_MAX_MM, &mm) < 0) {
			bad_line(x, NULL, w->line, name, "'%s' is not a standard deviation in m (0 .. 10)", v);
			w->bad = true;
		} else {
			w->b.sd_mm = (uint32_t)mm;
		}
		break;
	}
	return;
bad_collar:
	bad_line(x, NULL, w->line, name, "'%s' is not a collar id (1 .. 65535)", v);
	w->bad = true;
}

int an_import_boxpos(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                     struct an_import_result *r, an_import_line_error_fn on_error, void *ctx, char *err, size_t errcap)
{
	struct an_import_result rr;
	if (r == NULL)
		r = &rr;
	if (import_begin(s, buf, len, r, err, errcap, "an_import_boxpos") < 0)
		return -EINVAL;
	struct ictx x = {s, o != NULL && o->source != NULL ? o->source : "input", on_error, ctx, r, 0};
	size_t max_rows = o != NULL && o->max_rows > 0 ? o->max_rows : AN_IMPORT_MAX_ROWS_DEFAULT;
	size_t scap = COLS_MAX * (FIELD_MAX + 2);
	char *scratch = malloc(scap), *f[COLS_MAX];
	struct brow *rows = NULL;
	struct an_store_boxpos *recs = NULL;
	size_t n = 0, cap = 0, nf, pos = 0;
	unsigned long line = 1, rec_line;
	int colmap[COLS_MAX], rc = -ENOMEM;
	if (scratch == NULL)
		goto out;
	bool seen[B__COUNT] = {false};
	if ((rc = read_header(&x, buf, len, &pos, &line, f, &nf, &rec_line, scratch, scap, bcol_names, B__COUNT, seen,
	                      colmap, "collar,rec_seq or indication; lane,along_m[,sd_m]")) < 0)
		goto out;
	const char *missing = !seen[B_LANE] ? "lane" : !seen[B_ALONG] ? "along_m" : NULL;
	if (missing == NULL && seen[B_INDICATION] == (seen[B_COLLAR] || seen[B_REC_SEQ]))
		missing = seen[B_INDICATION] ? NULL : "collar and rec_seq, or indication";
	if (missing == NULL && !seen[B_INDICATION] && seen[B_COLLAR] != seen[B_REC_SEQ])
		missing = seen[B_COLLAR] ? "rec_seq" : "collar";
	if (missing == NULL && seen[B_INDICATION] && (seen[B_COLLAR] || seen[B_REC_SEQ])) {
		bad_line(&x, NULL, rec_line, NULL, "the header has both 'indication' and collar/rec_seq: use one");
		rc = -EINVAL;
		goto out;
	}
	if (missing != NULL) {
		bad_line(&x, NULL, rec_line, NULL, "the header has no '%s' column (required)", missing);
		rc = -EINVAL;
		goto out;
	}
	size_t ncols = nf;
	for (;;) {
		struct brow *w;
		rc = next_row(&x, buf, len, &pos, &line, f, &nf, &rec_line, scratch, scap, max_rows, (void **)&rows, &cap,
		              &n, sizeof *rows, (void **)&w);
		if (rc < 0)
			goto out;
		if (rc == 0)
			break;
		w->line = rec_line;
		w->b.sd_mm = AN_IMPORT_BOXPOS_SD_DEFAULT_MM;
		if (nf != ncols) {
			bad_line(&x, NULL, rec_line, NULL, "%zu fields, the header has %zu", nf, ncols);
			w->bad = true;
			continue;
		}
		for (size_t i = 0; i < nf && !w->bad; i++)
			set_bfield(&x, w, colmap[i], trim(f[i]));
		if (w->bad)
			continue;
		/* against the indication's box when the indication is stored (a sheet may come before the record) */
		struct an_geo_box box;
		int e = an_store_ind_box(s, w->b.collar_id, w->b.rec_seq, &box);
		if (e == 0 && w->b.lane >= box.lane_count) {
			bad_line(&x, NULL, w->line, "lane", "%" PRIu32 " is not a lane of indication %u-%" PRIu32 "'s box "
			         "(lanes 0 .. %" PRIu32 ")", w->b.lane, w->b.collar_id, w->b.rec_seq, box.lane_count - 1);
			w->bad = true;
		} else if (e == 0 && w->b.along_mm > box.lane_len_mm + AN_STORE_BOXPOS_ALONG_SLACK_MM) {
			bad_line(&x, NULL, w->line, "along_m", "%.3f m is beyond the end of the lane (%.3f m long, 0.5 m "
			         "allowed past it)", (double)w->b.along_mm / 1000.0, (double)box.lane_len_mm / 1000.0);
			w->bad = true;
		}
		if (e < 0 && e != -ENOENT && e != -ENODATA) {
			rc = e;
			goto out_store;
		}
	}
	r->rows = n;
	r->bad_rows = x.bad;
	if (x.bad > 0) {
		rc = -EINVAL;
		goto out;
	}
	if (o != NULL && o->dry_run) {
		rc = 0;
		goto out;
	}
	recs = malloc((n ? n : 1) * sizeof *recs);
	if (recs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		recs[i] = rows[i].b;
	size_t bad_i = n;
	rc = an_store_boxpos_add(s, recs, n, o != NULL && o->who != NULL ? o->who : "scentrack import", x.src,
	                         &r->inserted, &r->duplicates, &bad_i);
	if (rc < 0 && err != NULL && errcap > 0)
		snprintf(err, errcap, "%s%s%lu: %s (nothing imported)", x.src, bad_i < n ? ":" : "",
		         bad_i < n ? rows[bad_i].line : 0ul, an_store_errmsg(s));
	goto out_free;
out_store:
	if (err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: reading the store: %s (nothing imported)", x.src, an_store_errmsg(s));
	goto out_free;
out:
	r->rows = n;
	r->bad_rows = x.bad;
	if (rc < 0 && err != NULL && errcap > 0 && x.bad > 0)
		snprintf(err, errcap, "%s: %zu bad line%s (nothing imported)", x.src, x.bad, x.bad == 1 ? "" : "s");
	else if (rc < 0 && err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: %s (nothing imported)", x.src, strerror(-rc));
out_free:
	free(recs);
	free(rows);
	free(scratch);
	return rc;
}
