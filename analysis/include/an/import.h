/*
 * an/import.h — clearance results into the store (`scentrack import clearance FILE`).
 *
 * Input: CSV (RFC 4180, header line required, columns in any order) or JSON (an array of objects, or an
 * object {"clearance_results": [...]}), the same field names in both. Names are case-insensitive; an
 * unknown name is an error (a typo must not silently drop a column).
 *
 *   field         required  meaning
 *   task          yes       task id (integer) or task name (unique among tasks)
 *   date          yes       when the item was found/excavated: ISO 8601 UTC — 2024-05-01,
 *                           2024-05-01T09:30:00Z, 2024-05-01T11:30:00+02:00 (a time without zone is refused)
 *   result        yes       ap_mine | at_mine | uxo | other_erw | fragment | scrap | nothing | not_accessible
 *                           (case, spaces and hyphens are forgiven: "AP mine", "other-ERW"; also
 *                           "scrap metal", "nothing found", "erw")
 *   lat, lon      *         WGS84 decimal degrees (at most 9 decimals), or
 *   x_mm, y_mm    *         integer millimetres east/north in the task's local frame (an/geo.h)
 *                           * one pair is required unless result = not_accessible; never both
 *   sigma_m       no        1-sigma horizontal position error in metres (or pos_err_mm, integer mm)
 *   depth_cm      no        depth below surface in cm, decimals allowed (or depth_mm, integer)
 *   device_type   no        e.g. PMN-2, Type 72 (≤ 63 bytes)
 *   team          no        deminer team (≤ 63 bytes)
 *   box           no        box name (or id) within the task: checked to exist, kept with the import key
 *   hazard_id     no        the hazard point this result closes (must exist in the task)
 *   ref           no        the field sheet's item number (≤ 63 bytes): the natural key, see below
 *
 * All or nothing: the whole input is parsed and every row validated (including lookups of task, box and
 * hazard ids and the natural-key check against the store) BEFORE anything is written; the rows are then
 * inserted in ONE transaction with one audit row. Any error → nothing stored, and the message names the
 * source, LINE, column and field: "sheet.csv:14:5: field 'date': a time of day needs a zone ...".
 * Lines are physical lines of the file (1 = the first line); for a CSV field with embedded newlines the
 * line is where that field starts; for JSON, where the offending value (or the record's '{') starts.
 *
 * Idempotence (documented natural key). Each imported row gets a key, unique per task:
 *   with ref:    "ref:<ref>"
 *   without ref: "auto:<date_ms>:<lat_e7>:<lon_e7>:<result>" (position after conversion to degE7;
 *                "-" when there is none), i.e. the same class found at the same place (1e-7° ≈ 1 cm)
 *                at the same time is the same item.
 * Re-importing a row whose key is already stored with the same values is a duplicate (counted, skipped);
 * the same key with ANY differing value is refused (-EEXIST, "line 7: ref 'B1-03' is already stored as
 * clearance result 12 with depth_mm 150, this row says 200"): a correction is a deliberate act, not a
 * side effect of re-running an import. The keys live in the table clearance_import (created on first
 * import with CREATE TABLE IF NOT EXISTS, one row per imported clearance result with its key, box, source
 * file and line) — it belongs in a store migration step; until then this module creates it.
 *
 * Text fields may hold tab, CR and LF (CSV allows quoted line breaks); other control characters are refused.
 *
 * Positions: lat/lon are rounded to degE7 and x/y computed in the task frame exactly as
 * an_store_clearance_add does; x/y input is kept exactly and lat/lon derived from it (an_geo_enu_to_e7).
 */
#ifndef AN_IMPORT_H
#define AN_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct an_store;

enum an_import_format {
	AN_IMPORT_AUTO = 0, /* JSON if the first non-blank byte is '[' or '{', else CSV */
	AN_IMPORT_CSV = 1,
	AN_IMPORT_JSON = 2,
};

#define AN_IMPORT_MAX_ROWS_DEFAULT 1000000u
#define AN_IMPORT_ERR_MAX 512

struct an_import_opts {
	enum an_import_format format;
	const char *source; /* file name for messages, the audit row and clearance_import ("-" = stdin) */
	const char *who;    /* audit "who" (default "scentrack import") */
	bool dry_run;       /* validate everything, write nothing */
	size_t max_rows;    /* 0 = AN_IMPORT_MAX_ROWS_DEFAULT; more rows is an error */
};

struct an_import_result {
	size_t rows;       /* data rows read */
	size_t inserted;   /* new clearance results stored (0 on dry run) */
	size_t duplicates; /* rows already stored with identical values (or repeated in the input) */
	/* where the first error is (0 = not a located data error) */
	unsigned long err_line;
	unsigned long err_col;
	char err_field[32];
	size_t bad_rows; /* an_import_calibration: data lines refused (every one is reported) */
};

/* Import clearance results from buf[0..len). r may be NULL; err (may be NULL) gets the message.
 * @retval 0 ok (also when every row was a duplicate)
 * @retval -EINVAL bad input (located: r->err_line/err_col/err_field), nothing stored
 * @retval -EEXIST a row's natural key is stored with different values, nothing stored
 * @retval -E2BIG more rows than max_rows
 * @retval -ENOENT a task, box or hazard point named by a row does not exist (located as -EINVAL is)
 * @retval store errors (-EBUSY, -EROFS, -EIO, -ENOSPC, -ENOMEM) */
int an_import_clearance(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                        struct an_import_result *r, char *err, size_t errcap)
	__attribute__((warn_unused_result));

/*
 * Calibration records from the trainers (`scentrack import calibration FILE`; an/store.h "calibration
 * records" for what a record means). CSV (RFC 4180, header line required, columns in any order, names
 * case-insensitive, an unknown column is an error; blank lines and '#' comment lines are skipped):
 *
 *   column      required  meaning
 *   animal      yes       animal id (integer) or name, as in the store
 *   as_of       yes       the date the counts are as of: ISO 8601 UTC, 2024-05-01 or 2024-05-01T16:00:00Z
 *                         (or with an offset; a time without a zone is refused)
 *   hits        yes       targets indicated within the correct radius (integer >= 0)
 *   misses      yes       targets passed over without an indication (integer >= 0)
 *   false_inds  yes       false indications (integer >= 0)
 *   area_m2     yes       area searched, m² (decimal >= 0)
 *   source      yes       accreditation | training | operational | import
 *   note        no        free text (<= 255 bytes)
 *
 * The counts are the animal's RAW counts, before the handler's verdict: the hazard engine applies the
 * handler's confirm/reject on top of the animal's rates, so counts without the calls the handler rejected
 * would count the verdict twice — take them from `scentrack report accuracy --with-rejected`.
 * The counts are CUMULATIVE as of as_of (what the animal's accuracy report says at that date); the record
 * with the latest as_of is the one in force. All or nothing: EVERY data line is checked (values, the
 * animal's existence, the natural key (animal, as_of, source) against the store and the other lines)
 * before anything is written, and every bad line is reported (on_error, in line order), not just the
 * first; then the records go in in ONE transaction with one audit row. A line whose key is stored with the
 * same counts is a duplicate (skipped, counted): re-importing a file is safe.
 */
typedef void (*an_import_line_error_fn)(void *ctx, unsigned long line, const char *field, const char *why);
/* r (may be NULL): rows, inserted, duplicates, bad_rows, err_line/err_field of the first bad line.
 * on_error (may be NULL) is called for every bad line; err (may be NULL) gets a summary.
 * @retval 0 ok; -EINVAL bad lines or a malformed file (nothing stored); -E2BIG more than max_rows;
 *         store errors (-EBUSY, -EROFS, -EIO, -ENOSPC, -ENOMEM) */
int an_import_calibration(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                          struct an_import_result *r, an_import_line_error_fn on_error, void *ctx, char *err,
                          size_t errcap) __attribute__((warn_unused_result));

/*
 * The data recorder's box positions of indications (`scentrack import boxpos FILE`; an/store.h "recorder box
 * positions"). CSV with the calibration reader's rules (header required, any column order, case-insensitive
 * names, '#' comments, every bad line reported, all or nothing, one transaction):
 *
 *   column      required  meaning
 *   collar      yes (a)   collar id 1..65535 of the indication
 *   rec_seq     yes (a)   the indication's record number on that collar
 *   indication  yes (a)   instead of collar + rec_seq: "COLLAR-REC_SEQ" as the web map shows it
 *   lane        yes       0-based lane number, counted from the box's first lane (the p0 side)
 *   along_m     yes       distance along the lane from its start, m (0 .. lane length + 0.5 m)
 *   sd_m        no        the recorder's 1-sigma along the lane, m (empty or absent: 0.25 m, below)
 *
 * A line for an indication that is stored is checked against its session's box (lane, along); one for an
 * indication not yet received is kept (the record may follow the sheet). A line equal to the entry in force
 * is a duplicate: loading a sheet twice is safe. r->inserted / r->duplicates count the entries.
 */
#define AN_IMPORT_BOXPOS_SD_DEFAULT_MM 250 /* OUR ASSUMPTION: rope marks every 0.5 m, a tape read to ~0.1 m */
int an_import_boxpos(struct an_store *s, const char *buf, size_t len, const struct an_import_opts *o,
                     struct an_import_result *r, an_import_line_error_fn on_error, void *ctx, char *err, size_t errcap)
	__attribute__((warn_unused_result));

/* Parse a result class as people type it ("AP mine", "other-ERW", "scrap metal"). @retval 0 or -EINVAL */
int an_import_result_class(const char *text, int *out);

#endif
