/*
 * analysis/src/import.c — clearance results from CSV/JSON into the store, all or nothing (an/import.h).
 *
 * Structure: parse (CSV or JSON) → one struct clr_row per record with its source line → validate each
 * row and resolve its task/box/hazard → check natural keys against the input and the store → one
 * transaction of INSERTs + one audit row. The parsers hand (name, text value, line, column) to one
 * field setter, so CSV and JSON accept exactly the same fields with the same checks.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp, clock_gettime */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "an/geo.h"
#include "an/import.h"
#include "an/store.h"
#include "export_internal.h"

#define TXT 64
#define FIELD_MAX 1024 /* bytes in one field value */
#define CSV_COLS_MAX 32

enum {
	F_REF, F_TASK, F_BOX, F_HAZARD, F_DATE, F_RESULT, F_LAT, F_LON, F_X, F_Y, F_SIGMA_M, F_ERR_MM,
	F_DEPTH_CM, F_DEPTH_MM, F_DEVICE, F_TEAM, F__COUNT
};
static const char *const field_names[F__COUNT] = {
	"ref", "task", "box", "hazard_id", "date", "result", "lat", "lon", "x_mm", "y_mm", "sigma_m",
	"pos_err_mm", "depth_cm", "depth_mm", "device_type", "team",
};

static const char *const clr_names[] = {NULL,       "ap_mine", "at_mine", "uxo", "other_erw",
                                        "fragment", "scrap",   "nothing", "not_accessible"};
#define CLR_MAX 8

struct clr_row {
	unsigned long line;
	unsigned long col[F__COUNT]; /* where each field was given (0 = absent) */
	char ref[TXT];
	char task_txt[TXT], box_txt[TXT];
	int64_t task_id, box_id, hazard_id;
	bool has_latlon, has_xy, has_lat, has_lon, has_x, has_y;
	double lat_deg, lon_deg;
	int32_t lat_e7, lon_e7;
	int64_t x_mm, y_mm;
	bool has_err;
	uint32_t pos_err_mm;
	int result;
	char device[TXT], team[TXT];
	bool has_depth;
	int32_t depth_mm;
	int64_t date_ms;
	char key[160];
	/* set by the store check */
	int64_t existing_id;
};

struct ctx {
	struct an_store *s;
	const struct an_import_opts *o;
	const char *src;
	struct clr_row *rows;
	size_t n, cap, max;
	struct an_import_result *r;
	char *err;
	size_t errcap;
};

static int fail_at(struct ctx *c, int code, unsigned long line, unsigned long col, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int fail_at(struct ctx *c, int code, unsigned long line, unsigned long col, const char *field,
                   const char *fmt, ...)
{
	char why[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (c->r != NULL) {
		c->r->err_line = line;
		c->r->err_col = col;
		snprintf(c->r->err_field, sizeof c->r->err_field, "%s", field != NULL ? field : "");
	}
	if (c->err != NULL && c->errcap > 0) {
		if (line == 0)
			snprintf(c->err, c->errcap, "%s: %s (nothing imported)", c->src, why);
		else if (field != NULL)
			snprintf(c->err, c->errcap, "%s:%lu:%lu: field '%s': %s (nothing imported)", c->src, line, col,
			         field, why);
		else
			snprintf(c->err, c->errcap, "%s:%lu:%lu: %s (nothing imported)", c->src, line, col, why);
	}
	return code;
}

int an_import_result_class(const char *text, int *out)
{
	char t[40];
	if (text == NULL || strlen(text) >= sizeof t)
		return -EINVAL;
	snprintf(t, sizeof t, "%s", text);
	/* trim */
	char *b = t;
	while (*b == ' ')
		b++;
	size_t l = strlen(b);
	while (l > 0 && b[l - 1] == ' ')
		b[--l] = '\0';
	an_exp__norm_token(b);
	static const struct {
		const char *alias;
		int v;
	} aliases[] = {{"ap", 1},           {"apm", 1},          {"at", 2},          {"atm", 2},
	               {"erw", 4},          {"scrap_metal", 6},  {"metal_scrap", 6}, {"nothing_found", 7},
	               {"none", 7},         {"inaccessible", 8}, {"frag", 5}};
	for (int i = 1; i <= CLR_MAX; i++) {
		if (strcmp(b, clr_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcmp(b, aliases[i].alias) == 0) {
			*out = aliases[i].v;
			return 0;
		}
	}
	return -EINVAL;
}

/* Strict decimal: optional sign, digits, optional '.' digits; no exponent, no hex, no inf/nan, no
 * surrounding junk. Returns the count of decimals in *decimals. */
static int parse_decimal(const char *v, double *out, int *decimals)
{
	const char *p = v;
	if (*p == '+' || *p == '-')
		p++;
	int nd = 0, nf = 0;
	while (isdigit((unsigned char)*p)) {
		p++;
		nd++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			nf++;
		}
	}
	if (nd + nf == 0 || *p != '\0' || nd > 12)
		return -EINVAL;
	*out = strtod(v, NULL);
	if (decimals != NULL)
		*decimals = nf;
	return isfinite(*out) ? 0 : -EINVAL;
}

static int parse_int64(const char *v, int64_t *out)
{
	const char *p = v;
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != '\0')
		return -EINVAL;
	errno = 0;
	long long x = strtoll(v, NULL, 10);
	if (errno != 0)
		return -ERANGE;
	*out = x;
	return 0;
}

static int copy_text(struct ctx *c, char *dst, size_t cap, const char *v, unsigned long line, unsigned long col,
                     const char *name)
{
	size_t l = strlen(v);
	if (l >= cap)
		return fail_at(c, -EINVAL, line, col, name, "%zu bytes, at most %zu allowed", l, cap - 1);
	for (size_t i = 0; i < l; i++) {
		if ((unsigned char)v[i] < 0x20 && v[i] != '\n' && v[i] != '\r' && v[i] != '\t')
			return fail_at(c, -EINVAL, line, col, name, "control character 0x%02x in text",
			               (unsigned)(unsigned char)v[i]);
	}
	memcpy(dst, v, l + 1);
	return 0;
}

/* One field of one row. v is the value as text (JSON strings unescaped, numbers as written), NULL = JSON
 * null (absent). Empty CSV fields are passed as NULL too. */
static int set_field(struct ctx *c, struct clr_row *w, int f, const char *v, unsigned long line, unsigned long col)
{
	const char *name = field_names[f];
	if (w->col[f] != 0)
		return fail_at(c, -EINVAL, line, col, name, "given twice in one record");
	if (v == NULL)
		return 0;
	w->col[f] = col;
	double d;
	int64_t i;
	int dec;
	switch (f) {
	case F_REF:
		return copy_text(c, w->ref, sizeof w->ref, v, line, col, name);
	case F_TASK:
		return copy_text(c, w->task_txt, sizeof w->task_txt, v, line, col, name);
	case F_BOX:
		return copy_text(c, w->box_txt, sizeof w->box_txt, v, line, col, name);
	case F_DEVICE:
		return copy_text(c, w->device, sizeof w->device, v, line, col, name);
	case F_TEAM:
		return copy_text(c, w->team, sizeof w->team, v, line, col, name);
	case F_HAZARD:
		if (parse_int64(v, &i) < 0 || i <= 0)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not a positive integer id", v);
		w->hazard_id = i;
		return 0;
	case F_DATE: {
		const char *why;
		if (an_exp__parse_time(v, &w->date_ms, &why) < 0)
			return fail_at(c, -EINVAL, line, col, name, "'%s': %s", v, why);
		return 0;
	}
	case F_RESULT:
		if (an_import_result_class(v, &w->result) < 0)
			return fail_at(c, -EINVAL, line, col, name,
			               "'%s' is not a result class (ap_mine, at_mine, uxo, other_erw, fragment, scrap, "
			               "nothing, not_accessible)", v);
		return 0;
	case F_LAT:
	case F_LON:
		if (parse_decimal(v, &d, &dec) < 0)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not a decimal number of degrees", v);
		if (dec > 9)
			return fail_at(c, -EINVAL, line, col, name, "'%s' has %d decimals; at most 9 (0.1 mm) make sense",
			               v, dec);
		if (f == F_LAT) {
			if (d < -90.0 || d > 90.0)
				return fail_at(c, -EINVAL, line, col, name, "%s is outside -90..90", v);
			w->lat_deg = d;
			w->has_lat = true;
		} else {
			if (d < -180.0 || d > 180.0)
				return fail_at(c, -EINVAL, line, col, name, "%s is outside -180..180", v);
			w->lon_deg = d;
			w->has_lon = true;
		}
		return 0;
	case F_X:
	case F_Y:
		if (parse_int64(v, &i) < 0 || i < -AN_GEO_RANGE_MAX_MM || i > AN_GEO_RANGE_MAX_MM)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not an integer of millimetres within ±%lld",
			               v, AN_GEO_RANGE_MAX_MM);
		if (f == F_X) {
			w->x_mm = i;
			w->has_x = true;
		} else {
			w->y_mm = i;
			w->has_y = true;
		}
		return 0;
	case F_SIGMA_M:
		if (parse_decimal(v, &d, NULL) < 0 || d < 0.0 || d > 1000.0)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not a distance in metres within 0..1000", v);
		if (w->col[F_ERR_MM])
			return fail_at(c, -EINVAL, line, col, name, "give sigma_m or pos_err_mm, not both");
		w->pos_err_mm = (uint32_t)llround(d * 1000.0);
		w->has_err = true;
		return 0;
	case F_ERR_MM:
		if (parse_int64(v, &i) < 0 || i < 0 || i > 1000000)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not an integer of mm within 0..1000000", v);
		if (w->col[F_SIGMA_M])
			return fail_at(c, -EINVAL, line, col, name, "give sigma_m or pos_err_mm, not both");
		w->pos_err_mm = (uint32_t)i;
		w->has_err = true;
		return 0;
	case F_DEPTH_CM:
		if (parse_decimal(v, &d, NULL) < 0 || d < -100.0 || d > 10000.0)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not a depth in cm within -100..10000", v);
		if (w->col[F_DEPTH_MM])
			return fail_at(c, -EINVAL, line, col, name, "give depth_cm or depth_mm, not both");
		w->depth_mm = (int32_t)llround(d * 10.0);
		w->has_depth = true;
		return 0;
	case F_DEPTH_MM:
		if (parse_int64(v, &i) < 0 || i < -1000 || i > 100000)
			return fail_at(c, -EINVAL, line, col, name, "'%s' is not an integer depth in mm within -1000..100000",
			               v);
		if (w->col[F_DEPTH_CM])
			return fail_at(c, -EINVAL, line, col, name, "give depth_cm or depth_mm, not both");
		w->depth_mm = (int32_t)i;
		w->has_depth = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int field_index(const char *name)
{
	for (int f = 0; f < F__COUNT; f++) {
		if (strcasecmp(name, field_names[f]) == 0)
			return f;
	}
	return -1;
}

static int new_row(struct ctx *c, unsigned long line, struct clr_row **out)
{
	if (c->n >= c->max)
		return fail_at(c, -E2BIG, line, 1, NULL, "more than %zu rows (raise max_rows knowingly)", c->max);
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct clr_row *p = realloc(c->rows, nc * sizeof *p);
		if (p == NULL)
			return fail_at(c, -ENOMEM, 0, 0, NULL, "out of memory at %zu rows", c->n);
		c->rows = p;
		c->cap = nc;
	}
	struct clr_row *w = &c->rows[c->n++];
	memset(w, 0, sizeof *w);
	w->line = line;
	*out = w;
	return 0;
}

/* Trim spaces on both sides, in place. */
static char *trim(char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		v[--l] = '\0';
	return v;
}

/* ---- CSV (RFC 4180; LF or CRLF; a UTF-8 BOM is skipped) ------------------------------------------------ */

struct csv_field {
	char *v;
	unsigned long line, col; /* where the field starts (col = 1-based field number) */
};

/* Read one record starting at *pos. Fields are unescaped into scratch. *nf = number of fields.
 * Returns 1 = record, 0 = end of input, < 0 = error (message set). */
static int csv_record(struct ctx *c, const char *b, size_t len, size_t *pos, unsigned long *line,
                      struct csv_field *fl, size_t *nf, char *scratch, size_t scap)
{
	size_t p = *pos, so = 0;
	*nf = 0;
	/* skip blank lines and '#' comment lines between records */
	for (;;) {
		if (p >= len)
			return 0;
		if (b[p] == '\n') {
			p++;
			(*line)++;
		} else if (b[p] == '\r' && p + 1 < len && b[p + 1] == '\n') {
			p += 2;
			(*line)++;
		} else if (b[p] == '#') {
			while (p < len && b[p] != '\n')
				p++;
		} else {
			break;
		}
	}
	unsigned long rec_line = *line;
	for (;;) {
		if (*nf >= CSV_COLS_MAX)
			return fail_at(c, -EINVAL, *line, *nf + 1, NULL, "more than %d columns", CSV_COLS_MAX);
		struct csv_field *f = &fl[(*nf)++];
		f->line = *line;
		f->col = *nf;
		f->v = scratch + so;
		size_t start = so;
		if (p < len && b[p] == '"') {
			p++;
			for (;;) {
				if (p >= len)
					return fail_at(c, -EINVAL, f->line, f->col, NULL,
					               "quoted field not closed before the end of the input");
				char ch = b[p];
				if (ch == '"') {
					if (p + 1 < len && b[p + 1] == '"') {
						ch = '"';
						p += 2;
					} else {
						p++;
						break;
					}
				} else {
					if (ch == '\n')
						(*line)++;
					p++;
				}
				if (so - start >= FIELD_MAX || so + 1 >= scap)
					return fail_at(c, -EINVAL, f->line, f->col, NULL, "field longer than %d bytes", FIELD_MAX);
				scratch[so++] = ch;
			}
			if (p < len && b[p] != ',' && b[p] != '\n' && b[p] != '\r')
				return fail_at(c, -EINVAL, *line, f->col, NULL,
				               "characters after a closing quote (a quote inside a field must be doubled)");
		} else {
			while (p < len && b[p] != ',' && b[p] != '\n' && !(b[p] == '\r' && p + 1 < len && b[p + 1] == '\n')) {
				if (b[p] == '"')
					return fail_at(c, -EINVAL, *line, f->col, NULL,
					               "a quote inside an unquoted field (quote the whole field and double it)");
				if (so - start >= FIELD_MAX || so + 1 >= scap)
					return fail_at(c, -EINVAL, f->line, f->col, NULL, "field longer than %d bytes", FIELD_MAX);
				scratch[so++] = b[p++];
			}
		}
		scratch[so++] = '\0';
		if (p >= len)
			break;
		if (b[p] == ',') {
			p++;
			continue;
		}
		if (b[p] == '\r')
			p++;
		p++; /* '\n' */
		(*line)++;
		break;
	}
	(void)rec_line;
	*pos = p;
	return 1;
}

static int parse_csv(struct ctx *c, const char *b, size_t len)
{
	size_t pos = 0;
	unsigned long line = 1;
	if (len >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	struct csv_field fl[CSV_COLS_MAX];
	size_t scap = CSV_COLS_MAX * (FIELD_MAX + 2);
	char *scratch = malloc(scap);
	if (scratch == NULL)
		return fail_at(c, -ENOMEM, 0, 0, NULL, "out of memory");
	int colmap[CSV_COLS_MAX];
	size_t ncols = 0, nf;
	int err = csv_record(c, b, len, &pos, &line, fl, &nf, scratch, scap);
	if (err == 0)
		err = fail_at(c, -EINVAL, line, 1, NULL, "empty input: expected a header line (task,date,result,...)");
	if (err < 0)
		goto out;
	ncols = nf;
	bool seen[F__COUNT] = {false};
	for (size_t i = 0; i < nf; i++) {
		char name[40];
		snprintf(name, sizeof name, "%s", fl[i].v);
		char *t = name;
		while (*t == ' ')
			t++;
		size_t l = strlen(t);
		while (l > 0 && t[l - 1] == ' ')
			t[--l] = '\0';
		int f = field_index(t);
		if (f < 0) {
			err = fail_at(c, -EINVAL, fl[i].line, i + 1, NULL, "unknown column '%s' in the header", fl[i].v);
			goto out;
		}
		if (seen[f]) {
			err = fail_at(c, -EINVAL, fl[i].line, i + 1, NULL, "column '%s' appears twice in the header", t);
			goto out;
		}
		seen[f] = true;
		colmap[i] = f;
	}
	for (int f = F_TASK; f <= F_RESULT; f++) {
		if (f != F_BOX && f != F_HAZARD && !seen[f]) {
			err = fail_at(c, -EINVAL, 1, 1, NULL, "the header has no '%s' column (required)", field_names[f]);
			goto out;
		}
	}
	for (;;) {
		unsigned long rec_line = line;
		err = csv_record(c, b, len, &pos, &line, fl, &nf, scratch, scap);
		if (err <= 0)
			break;
		rec_line = fl[0].line;
		if (nf != ncols) {
			err = fail_at(c, -EINVAL, rec_line, nf < ncols ? nf + 1 : ncols + 1, NULL,
			              "%zu fields, the header has %zu", nf, ncols);
			break;
		}
		struct clr_row *w;
		if ((err = new_row(c, rec_line, &w)) < 0)
			break;
		for (size_t i = 0; i < nf && err >= 0; i++) {
			/* text fields keep inner spaces; all fields lose the edge ones (spreadsheet padding) */
			const char *v = trim(fl[i].v);
			err = set_field(c, w, colmap[i], v[0] != '\0' ? v : NULL, fl[i].line, i + 1);
		}
		if (err < 0)
			break;
	}
out:
	free(scratch);
	return err < 0 ? err : 0;
}

/* ---- JSON (RFC 8259, scalars only inside the records) ------------------------------------------------ */

struct jp {
	struct ctx *c;
	const char *b;
	size_t len, p;
	unsigned long line, col;
	char *sbuf; /* string scratch, FIELD_MAX + 8 */
};

static void jp_adv(struct jp *j)
{
	if (j->b[j->p] == '\n') {
		j->line++;
		j->col = 1;
	} else {
		j->col++;
	}
	j->p++;
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->len && (j->b[j->p] == ' ' || j->b[j->p] == '\t' || j->b[j->p] == '\n' || j->b[j->p] == '\r'))
		jp_adv(j);
}

static int jp_fail(struct jp *j, const char *field, const char *what)
{
	return fail_at(j->c, -EINVAL, j->line, j->col, field, "%s", what);
}

static int jp_hex4(struct jp *j, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		if (j->p >= j->len || !isxdigit((unsigned char)j->b[j->p]))
			return jp_fail(j, NULL, "bad \\u escape (4 hex digits expected)");
		char ch = j->b[j->p];
		v = v * 16 + (unsigned)(isdigit((unsigned char)ch) ? ch - '0' : (tolower((unsigned char)ch) - 'a' + 10));
		jp_adv(j);
	}
	*out = v;
	return 0;
}

/* String at j->p (the opening quote) into j->sbuf. */
static int jp_string(struct jp *j)
{
	size_t o = 0;
	jp_adv(j);
	for (;;) {
		if (j->p >= j->len)
			return jp_fail(j, NULL, "string not closed before the end of the input");
		unsigned char ch = (unsigned char)j->b[j->p];
		if (ch == '"') {
			jp_adv(j);
			break;
		}
		if (ch < 0x20)
			return jp_fail(j, NULL, "control character inside a string (escape it)");
		if (o + 5 >= FIELD_MAX)
			return jp_fail(j, NULL, "string longer than 1024 bytes");
		if (ch != '\\') {
			j->sbuf[o++] = (char)ch;
			jp_adv(j);
			continue;
		}
		jp_adv(j);
		if (j->p >= j->len)
			return jp_fail(j, NULL, "string not closed before the end of the input");
		char e = j->b[j->p];
		jp_adv(j);
		unsigned cp;
		switch (e) {
		case '"': j->sbuf[o++] = '"'; break;
		case '\\': j->sbuf[o++] = '\\'; break;
		case '/': j->sbuf[o++] = '/'; break;
		case 'b': j->sbuf[o++] = '\b'; break;
		case 'f': j->sbuf[o++] = '\f'; break;
		case 'n': j->sbuf[o++] = '\n'; break;
		case 'r': j->sbuf[o++] = '\r'; break;
		case 't': j->sbuf[o++] = '\t'; break;
		case 'u':
			if (jp_hex4(j, &cp) < 0)
				return -EINVAL;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (j->p + 1 >= j->len || j->b[j->p] != '\\' || j->b[j->p + 1] != 'u')
					return jp_fail(j, NULL, "unpaired UTF-16 surrogate in \\u escape");
				jp_adv(j);
				jp_adv(j);
				if (jp_hex4(j, &lo) < 0)
					return -EINVAL;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return jp_fail(j, NULL, "unpaired UTF-16 surrogate in \\u escape");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return jp_fail(j, NULL, "unpaired UTF-16 surrogate in \\u escape");
			}
			if (cp == 0)
				return jp_fail(j, NULL, "\\u0000 (NUL) is not allowed in text");
			if (cp < 0x80) {
				j->sbuf[o++] = (char)cp;
			} else if (cp < 0x800) {
				j->sbuf[o++] = (char)(0xC0 | (cp >> 6));
				j->sbuf[o++] = (char)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				j->sbuf[o++] = (char)(0xE0 | (cp >> 12));
				j->sbuf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				j->sbuf[o++] = (char)(0x80 | (cp & 0x3F));
			} else {
				j->sbuf[o++] = (char)(0xF0 | (cp >> 18));
				j->sbuf[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
				j->sbuf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				j->sbuf[o++] = (char)(0x80 | (cp & 0x3F));
			}
			break;
		default:
			return jp_fail(j, NULL, "unknown escape in string");
		}
	}
	j->sbuf[o] = '\0';
	return 0;
}

/* A scalar value: string → unescaped text; number → its literal; null → *isnull. */
static int jp_scalar(struct jp *j, const char *field, bool *isnull)
{
	*isnull = false;
	if (j->p >= j->len)
		return jp_fail(j, field, "value expected");
	char ch = j->b[j->p];
	if (ch == '"')
		return jp_string(j);
	if (ch == '-' || isdigit((unsigned char)ch)) {
		size_t o = 0;
		while (j->p < j->len && (isdigit((unsigned char)j->b[j->p]) || strchr("+-.eE", j->b[j->p]) != NULL)) {
			if (o + 1 >= FIELD_MAX)
				return jp_fail(j, field, "number too long");
			j->sbuf[o++] = j->b[j->p];
			jp_adv(j);
		}
		j->sbuf[o] = '\0';
		return 0;
	}
	static const char *const words[] = {"null", "true", "false"};
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(words[i]);
		if (j->len - j->p >= l && memcmp(j->b + j->p, words[i], l) == 0) {
			if (i == 0) {
				for (size_t k = 0; k < l; k++)
					jp_adv(j);
				*isnull = true;
				return 0;
			}
			return jp_fail(j, field, "true/false is not a valid value for this field");
		}
	}
	if (ch == '{' || ch == '[')
		return jp_fail(j, field, "nested objects/arrays are not accepted inside a record");
	return jp_fail(j, field, "value expected (string, number or null)");
}

static int jp_expect(struct jp *j, char ch, const char *what)
{
	jp_ws(j);
	if (j->p >= j->len || j->b[j->p] != ch)
		return jp_fail(j, NULL, what);
	jp_adv(j);
	return 0;
}

static int jp_record(struct jp *j)
{
	struct clr_row *w;
	int e0 = new_row(j->c, j->line, &w);
	if (e0 < 0)
		return e0;
	unsigned long rec_col = j->col;
	jp_adv(j); /* '{' */
	jp_ws(j);
	if (j->p < j->len && j->b[j->p] == '}') {
		jp_adv(j);
		return fail_at(j->c, -EINVAL, w->line, rec_col, NULL, "empty record");
	}
	for (;;) {
		jp_ws(j);
		if (j->p >= j->len || j->b[j->p] != '"')
			return jp_fail(j, NULL, "field name (a string) expected");
		unsigned long kl = j->line, kc = j->col;
		int err = jp_string(j);
		if (err < 0)
			return err;
		int f = field_index(j->sbuf);
		if (f < 0)
			return fail_at(j->c, -EINVAL, kl, kc, NULL, "unknown field '%s'", j->sbuf);
		if ((err = jp_expect(j, ':', "':' expected after a field name")) < 0)
			return err;
		jp_ws(j);
		unsigned long vl = j->line, vc = j->col;
		bool isnull;
		if ((err = jp_scalar(j, field_names[f], &isnull)) < 0)
			return err;
		if ((err = set_field(j->c, w, f, isnull ? NULL : j->sbuf, vl, vc)) < 0)
			return err;
		jp_ws(j);
		if (j->p < j->len && j->b[j->p] == ',') {
			jp_adv(j);
			continue;
		}
		if (j->p < j->len && j->b[j->p] == '}') {
			jp_adv(j);
			break;
		}
		return jp_fail(j, NULL, "',' or '}' expected");
	}
	return 0;
}

static int parse_json(struct ctx *c, const char *b, size_t len)
{
	char *sbuf = malloc(FIELD_MAX + 8);
	if (sbuf == NULL)
		return fail_at(c, -ENOMEM, 0, 0, NULL, "out of memory");
	struct jp j = {c, b, len, 0, 1, 1, sbuf};
	if (len >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
		j.p = 3;
	int err = 0;
	bool wrapped = false;
	jp_ws(&j);
	if (j.p < len && b[j.p] == '{') {
		/* {"clearance_results": [ ... ]} */
		jp_adv(&j);
		jp_ws(&j);
		if (j.p >= len || b[j.p] != '"') {
			err = jp_fail(&j, NULL, "expected \"clearance_results\"");
			goto out;
		}
		if ((err = jp_string(&j)) < 0)
			goto out;
		if (strcmp(sbuf, "clearance_results") != 0) {
			err = jp_fail(&j, NULL, "the top-level object must hold only \"clearance_results\": [...]");
			goto out;
		}
		if ((err = jp_expect(&j, ':', "':' expected")) < 0)
			goto out;
		wrapped = true;
	}
	if ((err = jp_expect(&j, '[', "expected '[' (an array of clearance result objects)")) < 0)
		goto out;
	jp_ws(&j);
	if (j.p < len && b[j.p] == ']') {
		jp_adv(&j);
	} else {
		for (;;) {
			jp_ws(&j);
			if (j.p >= len || b[j.p] != '{') {
				err = jp_fail(&j, NULL, "expected '{' (a clearance result object)");
				goto out;
			}
			if ((err = jp_record(&j)) < 0)
				goto out;
			jp_ws(&j);
			if (j.p < len && b[j.p] == ',') {
				jp_adv(&j);
				continue;
			}
			if ((err = jp_expect(&j, ']', "',' or ']' expected after a record")) < 0)
				goto out;
			break;
		}
	}
	if (wrapped && (err = jp_expect(&j, '}', "'}' expected")) < 0)
		goto out;
	jp_ws(&j);
	if (j.p != len)
		err = jp_fail(&j, NULL, "unexpected data after the end of the JSON document");
out:
	free(sbuf);
	return err;
}

/* ---- validation and lookups --------------------------------------------------------------------------- */

struct task_cache {
	int64_t id;
	struct an_geo_origin o;
};

static int lookup_id(struct ctx *c, const char *sql_by_id, const char *sql_by_name, int64_t scope,
                     const char *txt, int64_t *id, int *nmatch)
{
	sqlite3 *db = an_store_sqlite(c->s);
	sqlite3_stmt *st;
	int64_t v;
	bool numeric = parse_int64(txt, &v) == 0 && v > 0;
	int rc = sqlite3_prepare_v2(db, numeric ? sql_by_id : sql_by_name, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail_at(c, -EIO, 0, 0, NULL, "sqlite: %s", sqlite3_errmsg(db));
	int bi = 1;
	if (scope != 0)
		sqlite3_bind_int64(st, bi++, scope);
	if (numeric)
		sqlite3_bind_int64(st, bi, v);
	else
		sqlite3_bind_text(st, bi, txt, -1, SQLITE_STATIC);
	*nmatch = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		(*nmatch)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_at(c, rc == SQLITE_BUSY ? -EBUSY : -EIO, 0, 0, NULL, "sqlite: %s", sqlite3_errmsg(db));
	return 0;
}

static int validate_row(struct ctx *c, struct clr_row *w, struct task_cache *tc, size_t *ntc, size_t tccap)
{
	int err, nm;
	for (int f = F_TASK; f <= F_RESULT; f++) {
		if (f != F_BOX && f != F_HAZARD && w->col[f] == 0)
			return fail_at(c, -EINVAL, w->line, 1, field_names[f], "required, missing or empty");
	}
	/* task */
	if ((err = lookup_id(c, "SELECT id FROM tasks WHERE id = ?1", "SELECT id FROM tasks WHERE name = ?1", 0,
	                     w->task_txt, &w->task_id, &nm)) < 0)
		return err;
	if (nm == 0)
		return fail_at(c, -ENOENT, w->line, w->col[F_TASK], "task", "no task '%s' in the store", w->task_txt);
	if (nm > 1)
		return fail_at(c, -EINVAL, w->line, w->col[F_TASK], "task",
		               "%d tasks are named '%s' (in different programmes): give the task id", nm, w->task_txt);
	if (w->col[F_BOX]) {
		if ((err = lookup_id(c, "SELECT id FROM boxes WHERE task_id = ?1 AND id = ?2",
		                     "SELECT id FROM boxes WHERE task_id = ?1 AND name = ?2", w->task_id, w->box_txt,
		                     &w->box_id, &nm)) < 0)
			return err;
		if (nm == 0)
			return fail_at(c, -ENOENT, w->line, w->col[F_BOX], "box", "no box '%s' in task %" PRId64,
			               w->box_txt, w->task_id);
	}
	if (w->hazard_id != 0) {
		char idtxt[24];
		int64_t hid;
		snprintf(idtxt, sizeof idtxt, "%" PRId64, w->hazard_id);
		if ((err = lookup_id(c, "SELECT id FROM hazard_points WHERE task_id = ?1 AND id = ?2",
		                     "SELECT id FROM hazard_points WHERE 0", w->task_id, idtxt, &hid, &nm)) < 0)
			return err;
		if (nm == 0)
			return fail_at(c, -ENOENT, w->line, w->col[F_HAZARD], "hazard_id",
			               "no hazard point %" PRId64 " in task %" PRId64, w->hazard_id, w->task_id);
	}
	/* position */
	if (w->has_lat != w->has_lon)
		return fail_at(c, -EINVAL, w->line, w->col[w->has_lat ? F_LAT : F_LON], w->has_lat ? "lat" : "lon",
		               "lat and lon go together");
	if (w->has_x != w->has_y)
		return fail_at(c, -EINVAL, w->line, w->col[w->has_x ? F_X : F_Y], w->has_x ? "x_mm" : "y_mm",
		               "x_mm and y_mm go together");
	w->has_latlon = w->has_lat;
	w->has_xy = w->has_x;
	if (w->has_latlon && w->has_xy)
		return fail_at(c, -EINVAL, w->line, w->col[F_X], "x_mm",
		               "give lat/lon OR x_mm/y_mm, not both (which one would be the truth?)");
	if (!w->has_latlon && !w->has_xy && w->result != 8)
		return fail_at(c, -EINVAL, w->line, 1, "lat",
		               "a position (lat/lon or x_mm/y_mm) is required unless the result is not_accessible");
	struct an_geo_origin *o = NULL;
	for (size_t i = 0; i < *ntc; i++) {
		if (tc[i].id == w->task_id)
			o = &tc[i].o;
	}
	if (o == NULL) {
		size_t slot = *ntc < tccap ? (*ntc)++ : 0;
		tc[slot].id = w->task_id;
		if ((err = an_store_task_origin(c->s, w->task_id, &tc[slot].o)) < 0)
			return fail_at(c, err, 0, 0, NULL, "%s", an_store_errmsg(c->s));
		o = &tc[slot].o;
	}
	if (w->has_latlon) {
		w->lat_e7 = (int32_t)llround(w->lat_deg * 1e7);
		w->lon_e7 = (int32_t)llround(w->lon_deg * 1e7);
		struct an_geo_enu enu;
		if (an_geo_enu_from_e7(o, w->lat_e7, w->lon_e7, AN_GEO_ALT_UNKNOWN, &enu) < 0)
			return fail_at(c, -EINVAL, w->line, w->col[F_LAT], "lat",
			               "position is more than %lld km from task %" PRId64 "'s origin: wrong task or typo?",
			               AN_GEO_RANGE_MAX_MM / 1000000, w->task_id);
		w->x_mm = enu.e_mm;
		w->y_mm = enu.n_mm;
	} else if (w->has_xy) {
		struct an_geo_enu enu = {w->x_mm, w->y_mm, 0};
		int32_t alt;
		if (an_geo_enu_to_e7(o, &enu, &w->lat_e7, &w->lon_e7, &alt) < 0)
			return fail_at(c, -EINVAL, w->line, w->col[F_X], "x_mm", "position cannot be converted");
	}
	/* natural key */
	if (w->ref[0] != '\0') {
		snprintf(w->key, sizeof w->key, "ref:%s", w->ref);
	} else if (w->has_latlon || w->has_xy) {
		snprintf(w->key, sizeof w->key, "auto:%" PRId64 ":%" PRId32 ":%" PRId32 ":%s", w->date_ms, w->lat_e7,
		         w->lon_e7, clr_names[w->result]);
	} else {
		snprintf(w->key, sizeof w->key, "auto:%" PRId64 ":-:-:%s", w->date_ms, clr_names[w->result]);
	}
	return 0;
}

/* Same stored values? On a difference, name the first differing field in why. */
static bool same_values(const struct clr_row *a, const struct clr_row *b, char *why, size_t cap)
{
#define DIFF(cond, ...)                                                                                      \
	do {                                                                                                 \
		if (cond) {                                                                                  \
			snprintf(why, cap, __VA_ARGS__);                                                     \
			return false;                                                                        \
		}                                                                                            \
	} while (0)
	bool pa = a->has_latlon || a->has_xy, pb = b->has_latlon || b->has_xy;
	DIFF(a->date_ms != b->date_ms, "date %" PRId64 " ms vs %" PRId64 " ms", a->date_ms, b->date_ms);
	DIFF(a->result != b->result, "result %s vs %s", clr_names[a->result], clr_names[b->result]);
	DIFF(pa != pb || (pa && (a->lat_e7 != b->lat_e7 || a->lon_e7 != b->lon_e7)),
	     "position %" PRId32 ",%" PRId32 " vs %" PRId32 ",%" PRId32 " degE7", a->lat_e7, a->lon_e7, b->lat_e7,
	     b->lon_e7);
	DIFF(a->has_err != b->has_err || a->pos_err_mm != b->pos_err_mm, "pos_err_mm %u vs %u",
	     a->has_err ? a->pos_err_mm : 0u, b->has_err ? b->pos_err_mm : 0u);
	DIFF(a->has_depth != b->has_depth || a->depth_mm != b->depth_mm, "depth_mm %d vs %d",
	     a->has_depth ? a->depth_mm : 0, b->has_depth ? b->depth_mm : 0);
	DIFF(strcmp(a->device, b->device) != 0, "device_type '%s' vs '%s'", a->device, b->device);
	DIFF(strcmp(a->team, b->team) != 0, "team '%s' vs '%s'", a->team, b->team);
	DIFF(a->hazard_id != b->hazard_id, "hazard_id %" PRId64 " vs %" PRId64, a->hazard_id, b->hazard_id);
	DIFF(a->box_id != b->box_id, "box %" PRId64 " vs %" PRId64, a->box_id, b->box_id);
#undef DIFF
	return true;
}

static int sqlerr(struct ctx *c, sqlite3 *db, int rc, const char *what)
{
	int code = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY
	           : rc == SQLITE_READONLY                ? -EROFS
	           : rc == SQLITE_FULL                    ? -ENOSPC
	           : rc == SQLITE_NOMEM                   ? -ENOMEM
	                                                  : -EIO;
	return fail_at(c, code, 0, 0, NULL, "%s: sqlite: %s", what, sqlite3_errmsg(db));
}

/* The stored row for key (task, key) into out (existing_id set), or existing_id = 0. */
static int stored_row(struct ctx *c, const struct clr_row *w, struct clr_row *out)
{
	sqlite3 *db = an_store_sqlite(c->s);
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT r.id, r.date_ms, r.result, r.lat_e7, r.lon_e7, r.pos_err_mm, r.depth_mm,"
	                            " r.device_type, r.team, r.hazard_id, k.box_id FROM clearance_import k"
	                            " JOIN clearance_results r ON r.id = k.clearance_id"
	                            " WHERE k.task_id = ?1 AND k.natural_key = ?2",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlerr(c, db, rc, "natural key lookup");
	sqlite3_bind_int64(st, 1, w->task_id);
	sqlite3_bind_text(st, 2, w->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->existing_id = sqlite3_column_int64(st, 0);
		out->date_ms = sqlite3_column_int64(st, 1);
		const char *res = (const char *)sqlite3_column_text(st, 2);
		for (int i = 1; i <= CLR_MAX; i++) {
			if (res != NULL && strcmp(res, clr_names[i]) == 0)
				out->result = i;
		}
		out->has_latlon = sqlite3_column_type(st, 3) != SQLITE_NULL;
		out->lat_e7 = (int32_t)sqlite3_column_int64(st, 3);
		out->lon_e7 = (int32_t)sqlite3_column_int64(st, 4);
		out->has_err = sqlite3_column_type(st, 5) != SQLITE_NULL;
		out->pos_err_mm = (uint32_t)sqlite3_column_int64(st, 5);
		out->has_depth = sqlite3_column_type(st, 6) != SQLITE_NULL;
		out->depth_mm = (int32_t)sqlite3_column_int64(st, 6);
		const char *t = (const char *)sqlite3_column_text(st, 7);
		snprintf(out->device, sizeof out->device, "%s", t != NULL ? t : "");
		t = (const char *)sqlite3_column_text(st, 8);
		snprintf(out->team, sizeof out->team, "%s", t != NULL ? t : "");
		out->hazard_id = sqlite3_column_int64(st, 9);
		out->box_id = sqlite3_column_int64(st, 10);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqlerr(c, db, rc, "natural key lookup");
}

static int cmp_key(const void *a, const void *b)
{
	const struct clr_row *x = *(const struct clr_row *const *)a, *y = *(const struct clr_row *const *)b;
	if (x->task_id != y->task_id)
		return x->task_id < y->task_id ? -1 : 1;
	int k = strcmp(x->key, y->key);
	if (k != 0)
		return k;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int insert_rows(struct ctx *c, bool *skip)
{
	sqlite3 *db = an_store_sqlite(c->s);
	sqlite3_stmt *ins = NULL, *key = NULL;
	int rc, err = 0;
	if ((rc = sqlite3_prepare_v2(db,
	                             "INSERT INTO clearance_results(task_id, hazard_id, lat_e7, lon_e7, x_mm, y_mm,"
	                             " pos_err_mm, result, device_type, depth_mm, team, date_ms)"
	                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	                             -1, &ins, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
	                             "INSERT INTO clearance_import(clearance_id, task_id, natural_key, box_id, source,"
	                             " line, imported_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                             -1, &key, NULL)) != SQLITE_OK) {
		err = sqlerr(c, db, rc, "prepare insert");
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (size_t i = 0; i < c->n; i++) {
		const struct clr_row *w = &c->rows[i];
		if (skip[i])
			continue;
		bool pos = w->has_latlon || w->has_xy;
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		sqlite3_bind_int64(ins, 1, w->task_id);
		if (w->hazard_id)
			sqlite3_bind_int64(ins, 2, w->hazard_id);
		if (pos) {
			sqlite3_bind_int64(ins, 3, w->lat_e7);
			sqlite3_bind_int64(ins, 4, w->lon_e7);
			sqlite3_bind_int64(ins, 5, w->x_mm);
			sqlite3_bind_int64(ins, 6, w->y_mm);
		}
		if (w->has_err)
			sqlite3_bind_int64(ins, 7, w->pos_err_mm);
		sqlite3_bind_text(ins, 8, clr_names[w->result], -1, SQLITE_STATIC);
		if (w->device[0])
			sqlite3_bind_text(ins, 9, w->device, -1, SQLITE_STATIC);
		if (w->has_depth)
			sqlite3_bind_int64(ins, 10, w->depth_mm);
		if (w->team[0])
			sqlite3_bind_text(ins, 11, w->team, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 12, w->date_ms);
		if ((rc = sqlite3_step(ins)) != SQLITE_DONE) {
			err = sqlerr(c, db, rc, "insert clearance result");
			c->r->err_line = w->line;
			goto out;
		}
		int64_t id = sqlite3_last_insert_rowid(db);
		sqlite3_reset(key);
		sqlite3_clear_bindings(key);
		sqlite3_bind_int64(key, 1, id);
		sqlite3_bind_int64(key, 2, w->task_id);
		sqlite3_bind_text(key, 3, w->key, -1, SQLITE_STATIC);
		if (w->box_id)
			sqlite3_bind_int64(key, 4, w->box_id);
		sqlite3_bind_text(key, 5, c->src, -1, SQLITE_STATIC);
		sqlite3_bind_int64(key, 6, (sqlite3_int64)w->line);
		sqlite3_bind_int64(key, 7, now_ms);
		if ((rc = sqlite3_step(key)) != SQLITE_DONE) {
			err = sqlerr(c, db, rc, "insert clearance_import");
			goto out;
		}
		c->r->inserted++;
	}
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(key);
	return err;
}

int an_import_clearance(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                        struct an_import_result *r, char *err, size_t errcap)
{
	struct an_import_result local;
	struct an_import_opts dflt = {AN_IMPORT_AUTO, NULL, NULL, false, 0};
	if (r == NULL)
		r = &local;
	memset(r, 0, sizeof *r);
	if (o == NULL)
		o = &dflt;
	struct ctx c = {s, o, o->source != NULL ? o->source : "input", NULL, 0, 0,
	                o->max_rows ? o->max_rows : AN_IMPORT_MAX_ROWS_DEFAULT, r, err, errcap};
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if (s == NULL || (buf == NULL && len > 0))
		return fail_at(&c, -EINVAL, 0, 0, NULL, "an_import_clearance: no store or no input");
	if (memchr(buf, '\0', len) != NULL) {
		const char *z = memchr(buf, '\0', len);
		unsigned long line = 1;
		for (const char *p = buf; p < z; p++)
			line += *p == '\n';
		return fail_at(&c, -EINVAL, line, 1, NULL, "NUL byte in the input (binary file?)");
	}
	enum an_import_format fmt = o->format;
	if (fmt == AN_IMPORT_AUTO) {
		size_t i = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
		while (i < len && isspace((unsigned char)buf[i]))
			i++;
		fmt = i < len && (buf[i] == '[' || buf[i] == '{') ? AN_IMPORT_JSON : AN_IMPORT_CSV;
	}
	int rc = fmt == AN_IMPORT_JSON ? parse_json(&c, buf, len) : parse_csv(&c, buf, len);
	struct clr_row **order = NULL;
	bool *skip = NULL;
	bool in_txn = false;
	sqlite3 *db = an_store_sqlite(s);
	if (rc < 0)
		goto out;
	r->rows = c.n;
	struct task_cache tc[16];
	size_t ntc = 0;
	for (size_t i = 0; i < c.n; i++) {
		if ((rc = validate_row(&c, &c.rows[i], tc, &ntc, sizeof tc / sizeof tc[0])) < 0)
			goto out;
	}
	/* duplicates inside the input: sort pointers by (task, key, line) */
	order = malloc((c.n ? c.n : 1) * sizeof *order);
	skip = calloc(c.n ? c.n : 1, sizeof *skip);
	if (order == NULL || skip == NULL) {
		rc = fail_at(&c, -ENOMEM, 0, 0, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		order[i] = &c.rows[i];
	qsort(order, c.n, sizeof *order, cmp_key);
	char why[200];
	for (size_t i = 1; i < c.n; i++) {
		const struct clr_row *a = order[i - 1], *b = order[i];
		if (a->task_id == b->task_id && strcmp(a->key, b->key) == 0) {
			if (!same_values(a, b, why, sizeof why)) {
				rc = fail_at(&c, -EEXIST, b->line, 1, NULL,
				             "same natural key '%s' as line %lu but different values (%s)", b->key, a->line,
				             why);
				goto out;
			}
			skip[b - c.rows] = true;
			r->duplicates++;
		}
	}
	/* Take the write lock before checking the store, so nothing can change between check and insert. */
	if (!o->dry_run) {
		int x = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (x != SQLITE_OK) {
			rc = sqlerr(&c, db, x, "begin");
			goto out;
		}
		in_txn = true;
	}
	for (size_t i = 0; i < c.n; i++) {
		if (skip[i])
			continue;
		struct clr_row st;
		if ((rc = stored_row(&c, &c.rows[i], &st)) < 0)
			goto out;
		if (st.existing_id == 0)
			continue;
		if (!same_values(&st, &c.rows[i], why, sizeof why)) {
			rc = fail_at(&c, -EEXIST, c.rows[i].line, 1, NULL,
			             "natural key '%s' is already stored as clearance result %" PRId64
			             " with different values (stored vs this row: %s); corrections are not imported",
			             c.rows[i].key, st.existing_id, why);
			goto out;
		}
		skip[i] = true;
		r->duplicates++;
	}
	if (o->dry_run) {
		rc = 0;
		goto out;
	}
	if ((rc = insert_rows(&c, skip)) < 0)
		goto out;
	char detail[256];
	snprintf(detail, sizeof detail, "%s: %zu rows, %zu inserted, %zu duplicates", c.src, r->rows, r->inserted,
	         r->duplicates);
	if ((rc = an_store_audit(s, o->who != NULL ? o->who : "scentrack import", "import_clearance",
	                         "clearance_result", 0, detail)) < 0) {
		fail_at(&c, rc, 0, 0, NULL, "audit: %s", an_store_errmsg(s));
		goto out;
	}
	int x = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (x != SQLITE_OK) {
		rc = sqlerr(&c, db, x, "commit");
		goto out;
	}
	in_txn = false;
	rc = 0;
out:
	if (in_txn) {
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		r->inserted = 0;
	}
	free(order);
	free(skip);
	free(c.rows);
	return rc;
}
