/*
 * analysis/src/export_internal.h — helpers shared by export.c, export_gpkg.c, import.c and report.c:
 * exact text forms of the stored integers (degE7 → decimal degrees, ms → ISO 8601 UTC), ISO 8601 parsing,
 * and the escapers for JSON, XML and CSV. Not installed.
 *
 * Why integers → text by hand: a coordinate stored as degE7 has an exact decimal form with 7 digits, so
 * printing it with integer arithmetic gives the same bytes on every machine and libc (printf("%.7f") of
 * lat_e7 / 1e7 would too, but only because of correct rounding in both steps; this needs no argument).
 */
#ifndef AN_EXPORT_INTERNAL_H
#define AN_EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AN_EXP_E7_LEN 32   /* "-180.0000000" + NUL; sized for any int64 */
#define AN_EXP_TIME_LEN 32 /* "2024-05-01T12:34:56.789Z" + NUL */

/* degE7 → "-19.1000000" (always 7 decimals). */
void an_exp__e7(char out[AN_EXP_E7_LEN], int64_t v_e7);
/* Integer mm → metres "12.345" (always 3 decimals, sign kept). */
void an_exp__mm(char out[32], int64_t v_mm);
/* UTC ms since 1970 → "YYYY-MM-DDTHH:MM:SS.mmmZ". Years 0000..9999 only (others print as is). */
void an_exp__time(char out[AN_EXP_TIME_LEN], int64_t t_ms);
/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
int64_t an_exp__days_from_civil(int64_t y, unsigned m, unsigned d);

/* ISO 8601 in UTC: "YYYY-MM-DD" (midnight UTC), "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z" or a
 * numeric offset "+HH:MM"/"-HH:MM"/"+HHMM" (converted to UTC). A date-time WITHOUT a zone is refused:
 * it could be local time, and guessing would invent data. 'T' may also be a single space.
 * @retval 0 ok; -EINVAL with why (static string) set */
int an_exp__parse_time(const char *s, int64_t *t_ms, const char **why);

/* Writers. Each copes with invalid UTF-8 by writing U+FFFD for every bad byte, so the output is always a
 * valid document; XML additionally replaces the C0 controls XML 1.0 forbids. */
void an_exp__json_str(FILE *f, const char *s);      /* "..." with JSON escapes; NULL → null */
void an_exp__xml_text(FILE *f, const char *s);      /* & < > " ' escaped; NULL → nothing */
void an_exp__csv_field(FILE *f, const char *s);     /* RFC 4180: quoted iff , " CR LF or edge space */
/* Copy s into out (cap bytes) with the same UTF-8 repair, for SQLite text that goes into a GeoPackage. */
void an_exp__utf8_clean(char *out, size_t cap, const char *s);

/* Lower-case s in place and map ' ' and '-' to '_' (for matching enumerations typed by people). */
void an_exp__norm_token(char *s);

/* ---- the exported data set (export_data.c), shared by the writers ------------------------------------- */

struct an_store;
struct an_export_filter;

struct an_ex_fix {
	int64_t t_ms;
	int32_t lat_e7, lon_e7;
	bool has_alt, has_hacc, has_nsat, has_hdop;
	int32_t alt_mm;
	uint32_t h_acc_mm;
	unsigned nsat, hdop_c;
};
struct an_ex_session {
	int64_t id, animal_id, task_id, box_id;
	char animal[64], mode[16];
	int64_t start_ms, end_ms;
	bool has_end;
	size_t first_fix, n_fix; /* slice of an_ex_data.fixes (ordered by t_ms, collar_id, rec_seq) */
};
struct an_ex_ind {
	unsigned collar_id;
	uint32_t rec_seq;
	int64_t t_ms;
	int32_t lat_e7, lon_e7;
	bool has_hacc, has_dur, has_conf;
	uint32_t h_acc_mm, dur_ms;
	unsigned conf_pct;
	int kind, src;
	char review[16];
	int64_t session_id, animal_id, task_id; /* 0 = not attributed */
	char animal[64];
};
struct an_ex_hazard {
	int64_t id, task_id, box_id;
	char status[32];
	int32_t lat_e7, lon_e7;
	uint32_t r95_mm;
	double p_explosive;
	uint32_t n_ind, n_animals, n_sessions;
	int64_t created_ms, updated_ms;
};
struct an_ex_data {
	struct an_ex_session *sessions; /* only sessions with >= 1 exported fix, ordered by id */
	size_t n_sessions;
	struct an_ex_fix *fixes;
	size_t n_fixes;
	struct an_ex_ind *inds; /* ordered by (t_ms, collar_id, rec_seq) */
	size_t n_inds;
	struct an_ex_hazard *hazards; /* ordered by id */
	size_t n_hazards;
	int64_t latest_ms; /* newest time in the data set (metadata time: deterministic, not "now") */
	int32_t min_lat_e7, max_lat_e7, min_lon_e7, max_lon_e7;
	bool has_bounds;
};

/* Load everything the filter selects. @retval 0, -ENOMEM, -EIO (err set) */
int an_ex__load(struct an_store *s, const struct an_export_filter *f, struct an_ex_data *d, char *err, size_t errcap);
void an_ex__free(struct an_ex_data *d);
const char *an_ex__kind_name(int kind);   /* sit | scratch | handler_mark | unknown */
const char *an_ex__src_name(int src);     /* classifier | button | both | unknown */

#endif
