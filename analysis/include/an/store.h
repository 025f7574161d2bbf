/*
 * an/store.h — the correlation core's SQLite store: the system of record (protocol.md §8.4).
 *
 * Opening (an_store_open), in this order, every step with a clear error on failure:
 *   1. sqlite3_open_v2 (create only with AN_STORE_CREATE), busy timeout AN_STORE_BUSY_TIMEOUT_MS, extended
 *      result codes;
 *   2. integrity: PRAGMA quick_check by default, PRAGMA integrity_check with AN_STORE_CHECK_FULL, none with
 *      AN_STORE_CHECK_NONE. quick_check verifies every b-tree page, cell, freelist and record format and
 *      the NOT NULL/CHECK constraints in O(N), but not that each index matches its table (integrity_check,
 *      O(N log N) with index lookups). Measured (tests/analysis/store_bench.c, 11.2 MB file, 64k records):
 *      quick_check 52–57 ms CPU (≈ 200 MB/s), integrity_check 128–148 ms CPU (≈ 80 MB/s). The daemon runs
 *      quick_check at every start — an SD card that lost power shows up as page damage, which quick_check
 *      sees — at ~5 s per GB; integrity_check is for an explicit an_store_check(s, true) from the CLI;
 *   3. PRAGMA journal_mode=WAL (refused if the file system cannot do WAL), synchronous=FULL (NORMAL with
 *      AN_STORE_SYNC_NORMAL), foreign_keys=ON;
 *   4. schema: PRAGMA user_version = number of migration steps applied. A newer file than this build knows
 *      is refused (-ENOTSUP); missing steps are applied in order, each in ONE transaction with its
 *      user_version bump. Read-only opens refuse a file that would need a migration.
 *
 * Durability. The core acknowledges a BATCH to the gateway only after the commit (DESIGN.md decision 2),
 * and the gateway then drops the batch from its spool. In WAL mode synchronous=NORMAL does not fsync at
 * commit, so a commit "might roll back following a power loss" — after the ack, i.e. the records would be
 * gone from both machines. So the core opens with synchronous=FULL (fsync of the WAL at every commit);
 * NORMAL is only for bulk tools that can re-run (imports, replays, benchmarks). Measured with store_bench
 * (1000 batches of 64, ext4 on a virtual disk, 2 vCPUs shared with other builds, two runs): FULL 3.3k–5.1k
 * records/s, batch p50 12–18 ms; NORMAL 4.4k–7.3k records/s, p50 7–12 ms; 59–72 µs CPU per new record
 * either way (session lookup, 2 inserts, 5 index updates, FK checks), 2.3–2.8 µs per duplicate.
 * A field site of 32 animals at 1 Hz needs 32 records/s: FULL costs nothing that matters.
 *
 * Ingest and dedupe. A journaled collar record (FIX or IND) is identified by (collar_id, rec_seq) ACROSS
 * types: the collar numbers both from one counter. The `records` table holds one row per identity
 * (UNIQUE(collar_id, rec_seq)); fixes and indications reference it through a foreign key that includes
 * the type, so a FIX and an IND can never share a key even if a buggy caller bypasses this API. A second
 * copy of a record is counted as a duplicate and stored nowhere; a second copy whose decoded fields differ
 * (different digest, or different type) is also a CONFLICT: counted, written to the audit log, not stored
 * (nothing invented: the first committed copy wins and the discrepancy is visible).
 * STATUS, HELLO and CMD_ACK have no rec_seq; their identity is (gw_id, gw_seq, index in the batch), so a
 * replayed batch does not store them twice either.
 *
 * Gateway bookkeeping. gateways.last_gw_seq is updated in the SAME transaction as the records, so after
 * the commit "every batch <= last_gw_seq is stored" is exact, and a crash before the commit leaves both the
 * records and last_gw_seq as they were. Batches must arrive in order: gw_seq <= last is a replay (every
 * record deduped, last unchanged); gw_seq == last + 1 (or any value for a gateway with none yet) is the
 * next batch; gw_seq > last + 1 is a gap and is refused (-EPROTO, nothing stored), because acking it
 * cumulatively would claim the missing batches were stored.
 *
 * Local coordinates. At ingest each FIX/IND with a position is attributed to the session its collar was
 * in at that time (collar_assignments → sessions → boxes → tasks), using the record's UTC time, or the
 * gateway's reception time when the collar had no UTC (t_mono only). x_mm/y_mm are then ENU millimetres
 * about that task's origin (an/geo.h), computed once and stored. No session → session_id, task_id, x_mm
 * and y_mm are NULL (the record is kept; a later re-attribution can fill them).
 *
 * Errors. Every function returns 0 or a negative errno, and sets a message (an_store_errmsg) that says
 * where, what and why, e.g. "an_store_ingest_batch: gateway 3 sent gw_seq 12 after 10: batch 11 missing
 * (refused, nothing stored)". Codes used:
 *   -EINVAL  bad argument or a value the schema refuses (message names the field)
 *   -ENOENT  referenced row does not exist (task, box, animal, hazard, record)
 *   -EEXIST  unique key already taken (a name, a gateway id)
 *   -EBUSY   the database stayed locked past the busy timeout
 *   -EBADMSG the file is not a database or failed the integrity check
 *   -ENOTSUP the file's schema is newer than this build
 *   -EPROTO  a gateway batch out of order (gap)
 *   -EROFS   write on a read-only store, or a read-only open of a file that needs migration
 *   -ENOSPC  disk full; -ENOMEM out of memory; -EIO any other SQLite or I/O failure
 *   -ECANCELED the pre-commit hook asked for a rollback
 *
 * Threads: one struct an_store per thread (the sqlite3 connection and cached statements are not shared).
 */
#ifndef AN_STORE_H
#define AN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/geo.h"
#include "proto/msg.h"

struct an_store;
struct sqlite3;

#define AN_STORE_BUSY_TIMEOUT_MS 5000
#define AN_STORE_ERRMSG_MAX 512
#define AN_STORE_TEXT_MAX 64 /* fixed text fields in the structs below, including the NUL */

enum {
	AN_STORE_CREATE = 0x01,      /* create the file if it does not exist */
	AN_STORE_READONLY = 0x02,    /* no writes, no migration */
	AN_STORE_SYNC_NORMAL = 0x04, /* synchronous=NORMAL: NOT for the ingest daemon (see Durability) */
	AN_STORE_CHECK_FULL = 0x08,  /* integrity_check instead of quick_check at open */
	AN_STORE_CHECK_NONE = 0x10,  /* skip the check (a tool opening a file the daemon just checked) */
};

/* Open or create the store at path. On success *out is the store (an_store_close it). On failure *out is
 * NULL and, if errbuf is not NULL, errbuf gets the message (truncated to errcap, NUL-terminated).
 * @retval -ENOENT no such file (without AN_STORE_CREATE); -EINVAL, -EBADMSG, -ENOTSUP, -EROFS, -EBUSY,
 *         -ENOMEM, -EIO (see above) */
int an_store_open(const char *path, unsigned flags, struct an_store **out, char *errbuf, size_t errcap)
	__attribute__((warn_unused_result));
void an_store_close(struct an_store *s); /* NULL is a no-op */

/* The message of the last failure on s ("" if none yet). Borrowed, valid until the next call on s. */
const char *an_store_errmsg(const struct an_store *s);

/* The schema version this build writes, and the file's. */
int an_store_schema_latest(void);
int an_store_schema_version(struct an_store *s, int *version) __attribute__((warn_unused_result));

/* Run quick_check (full = false) or integrity_check (full = true) now. @retval -EBADMSG problems found
 * (the message quotes the first one) */
int an_store_check(struct an_store *s, bool full) __attribute__((warn_unused_result));

/* Clock for created_ms, audit and event times (default CLOCK_REALTIME), injectable for tests. */
typedef int64_t (*an_store_clock_fn)(void *ctx);
void an_store_set_clock(struct an_store *s, an_store_clock_fn fn, void *ctx);

/* Called inside an ingest transaction after every write and before COMMIT. A negative return rolls the
 * batch back (-ECANCELED). For crash and rollback tests; NULL removes it. */
typedef int (*an_store_precommit_fn)(struct an_store *s, void *ctx);
void an_store_set_precommit_hook(struct an_store *s, an_store_precommit_fn fn, void *ctx);

/* The underlying connection, for tests and diagnostics (read it; writing through it bypasses every rule
 * of this module). */
struct sqlite3 *an_store_sqlite(struct an_store *s);

/* ---- organisation, geometry, animals, people, devices ---------------------------------------------- */

enum an_species { AN_SPECIES_RAT = 1, AN_SPECIES_DOG = 2 }; /* = PROTO_SPECIES_* */
enum an_session_mode {
	AN_MODE_TRAINING = 1,
	AN_MODE_OPERATIONAL = 2,
	AN_MODE_QC = 3,
	AN_MODE_ACCREDITATION = 4,
};

int an_store_programme_add(struct an_store *s, const char *name, const char *imsma_id, int64_t *id)
	__attribute__((warn_unused_result));

struct an_store_task {
	int64_t programme_id;
	const char *name;
	const char *imsma_id; /* may be NULL */
	int32_t origin_lat_e7, origin_lon_e7, origin_alt_mm; /* the local frame's origin (an/geo.h) */
};
int an_store_task_add(struct an_store *s, const struct an_store_task *t, int64_t *id)
	__attribute__((warn_unused_result));
/* The task's local frame. @retval -ENOENT no such task */
int an_store_task_origin(struct an_store *s, int64_t task_id, struct an_geo_origin *o)
	__attribute__((warn_unused_result));

/* A box: three corners as entered (degE7), p0 = start of lane 0, p_along = end of lane 0, p_across = the
 * corner across the lanes from p0 (an/geo.h draws it). Checked with an_geo_box_init in the task's frame. */
struct an_store_box {
	int64_t task_id;
	const char *name;
	int32_t p0_lat_e7, p0_lon_e7, along_lat_e7, along_lon_e7, across_lat_e7, across_lon_e7;
	uint32_t lane_width_mm, lane_count;
	enum an_species species;
	bool blind; /* targets hidden from handlers (accreditation) */
};
int an_store_box_add(struct an_store *s, const struct an_store_box *b, int64_t *id)
	__attribute__((warn_unused_result));
/* The box frame in its task's local ENU. @retval -ENOENT no such box */
int an_store_box_frame(struct an_store *s, int64_t box_id, struct an_geo_box *frame)
	__attribute__((warn_unused_result));

int an_store_animal_add(struct an_store *s, enum an_species species, const char *name, const char *role,
                        int64_t *id) __attribute__((warn_unused_result));
int an_store_handler_add(struct an_store *s, const char *name, const char *role, int64_t *id)
	__attribute__((warn_unused_result));

/* From from_ms on, collar_id is worn by animal_id. Closes the collar's open assignment and the animal's
 * open assignment (of another collar) at from_ms. Creates the collar row if needed.
 * @retval -EINVAL from_ms is not after the start of the assignment it would close */
int an_store_collar_assign(struct an_store *s, uint16_t collar_id, int64_t animal_id, int64_t from_ms)
	__attribute__((warn_unused_result));

/*
 * A session: one animal's search of one box. patches (optional, caller-owned) are the box-frame rectangles
 * it searched when it did not search the whole box (a confirmation search: a few lanes × a few metres about
 * a disputed peg, as the team leader assigned them; schema step 10, table session_patches, in the order
 * given); the hazard engine counts an ended session's patches as swept (an/hazard.h struct
 * an_hazard_session). n_patches 0 = the whole box (every session before step 10).
 */
#define AN_STORE_SESSION_MAX_PATCHES 16u /* = AN_HAZARD_MAX_PATCHES; the table's CHECK on seq */
struct an_store_session {
	int64_t box_id, animal_id;
	enum an_session_mode mode;
	int64_t start_ms;
	bool has_end;
	int64_t end_ms;
	bool has_temp, has_humidity;
	int16_t temp_dc;      /* air temperature, deci-°C */
	uint8_t humidity_pct; /* relative humidity % */
	const int64_t *handler_ids;
	size_t n_handlers;
	const struct an_geo_box_patch *patches;
	size_t n_patches;
};
/* Adds the session, its handlers and its patches in one transaction.
 * @retval -EINVAL bad mode, end before start, humidity > 100, NULL lists with a count, more than
 *         AN_STORE_SESSION_MAX_PATCHES patches or one not inside the box (an_geo_box_patch_check);
 *         -ENOENT the box, animal or a handler does not exist; -EIO; -EBUSY */
int an_store_session_add(struct an_store *s, const struct an_store_session *ss, int64_t *id)
	__attribute__((warn_unused_result));
/* The session's patches in the order they were added: out[0..min(cap, *n_out)), *n_out = how many it has
 * (0 = the whole box). @retval -ENOENT no such session; -ENOBUFS cap < *n_out; -EIO */
int an_store_session_patches(struct an_store *s, int64_t session_id, struct an_geo_box_patch *out, size_t cap,
                             size_t *n_out) __attribute__((warn_unused_result));
int an_store_session_end(struct an_store *s, int64_t session_id, int64_t end_ms)
	__attribute__((warn_unused_result));

/* Register a gateway (key may be NULL; 32 bytes otherwise). Unknown gateways are also created by ingest,
 * without a key: the transport (CURVE + ZAP allow-list) authenticates, the store records.
 * @retval -EEXIST already registered */
int an_store_gateway_add(struct an_store *s, uint16_t gw_id, const char *name, const uint8_t *public_key)
	__attribute__((warn_unused_result));
/* *known = false when no batch from gw_id was ever committed (then *gw_seq = 0). */
int an_store_gateway_last_seq(struct an_store *s, uint16_t gw_id, uint64_t *gw_seq, bool *known)
	__attribute__((warn_unused_result));

/* ---- ingest ----------------------------------------------------------------------------------------- */

struct an_store_ingest_result {
	uint32_t inserted;   /* records stored now (FIX + IND + STATUS/HELLO/CMD_ACK) = BATCH_ACK stored */
	uint32_t duplicates; /* records already stored (conflicts included) = BATCH_ACK dup */
	uint32_t conflicts;  /* duplicates whose content differs from the stored copy (audited) */
	uint32_t fixes, inds, other; /* of inserted */
	uint32_t unplaced;   /* of inserted FIX/IND with a position but no session/task at that time */
	bool replay;         /* gw_seq was <= the gateway's last committed one */
	uint64_t ack_gw_seq; /* what to put in BATCH_ACK: the gateway's last committed gw_seq after this call */
};

/* Store one decoded BATCH (proto/msg.h) in ONE transaction: records deduplicated, gateway's last_gw_seq
 * advanced. Records of types the store does not keep (none today) fail the batch with -EINVAL.
 * @retval -EPROTO gw_seq gap (nothing stored); -EINVAL malformed batch (message names the record);
 *         -ECANCELED pre-commit hook; -EBUSY/-EIO/-ENOSPC SQLite */
int an_store_ingest_batch(struct an_store *s, const struct proto_batch *b, struct an_store_ingest_result *r)
	__attribute__((warn_unused_result));

/* ---- queries ------------------------------------------------------------------------------------------
 * Each query calls cb once per row, in a documented total order. cb returns 0 to continue, > 0 to stop
 * (the query then returns that value), < 0 to fail (returned as is). Row structs are borrowed for the
 * duration of the call only. */

struct an_store_fix {
	uint16_t collar_id;
	uint16_t gw_id;
	struct proto_fix fix; /* has bits as on the wire: absent fields are absent, not 0 */
	uint64_t rx_ms;
	int64_t session_id, task_id; /* 0 = none */
	bool has_xy;
	int64_t x_mm, y_mm;
};
typedef int (*an_store_fix_cb)(void *ctx, const struct an_store_fix *f);
/* Fixes of one collar with UTC time in [t0_ms, t1_ms), ordered by (t_ms, rec_seq). Fixes that only have
 * t_mono (no UTC yet) are not returned. */
int an_store_fixes_by_collar(struct an_store *s, uint16_t collar_id, uint64_t t0_ms, uint64_t t1_ms,
                             an_store_fix_cb cb, void *ctx) __attribute__((warn_unused_result));

enum an_review { AN_REVIEW_UNREVIEWED = 0, AN_REVIEW_CONFIRMED = 1, AN_REVIEW_REJECTED = 2 };
struct an_store_ind {
	uint16_t collar_id;
	uint16_t gw_id;
	struct proto_ind ind;
	uint64_t rx_ms;
	int64_t session_id, task_id;
	bool has_xy;
	int64_t x_mm, y_mm;
	enum an_review review;
	int64_t reviewed_by; /* handler id, 0 = none */
	int64_t reviewed_ms;
};
typedef int (*an_store_ind_cb)(void *ctx, const struct an_store_ind *i);
/* Indications attributed to task_id with onset UTC time in [t0_ms, t1_ms), ordered by (t_ms, collar_id,
 * rec_seq). */
int an_store_inds_by_task(struct an_store *s, int64_t task_id, uint64_t t0_ms, uint64_t t1_ms,
                          an_store_ind_cb cb, void *ctx) __attribute__((warn_unused_result));

/* Replays for a daemon rebuilding its state at start-up, in commit order (records.id), t_mono-only records
 * included. max_h_acc_mm > 0 keeps only fixes with 0 < h_acc_mm <= max_h_acc_mm. */
int an_store_fixes_all(struct an_store *s, uint32_t max_h_acc_mm, an_store_fix_cb cb, void *ctx)
	__attribute__((warn_unused_result));
/* The last committed fix of each collar, ordered by collar_id. */
int an_store_fixes_latest(struct an_store *s, an_store_fix_cb cb, void *ctx) __attribute__((warn_unused_result));
int an_store_inds_all(struct an_store *s, an_store_ind_cb cb, void *ctx) __attribute__((warn_unused_result));
/* A web verdict of handler handler_id on a stored indication: an_store_review_add (source "web", who
 * "handler:<id>"). @retval -ENOENT no such indication or handler */
int an_store_ind_review(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, enum an_review verdict,
                        int64_t handler_id) __attribute__((warn_unused_result));

/* ---- hazard points ---------------------------------------------------------------------------------- */

enum an_hazard_status {
	AN_HAZARD_CANDIDATE = 1,
	AN_HAZARD_AWAITING_SECOND = 2,    /* one animal indicated; clearance practice wants a second */
	AN_HAZARD_AWAITING_EXCAVATION = 3,
	AN_HAZARD_CONFIRMED_EXPLOSIVE = 4,
	AN_HAZARD_CONFIRMED_FRAGMENT = 5,
	AN_HAZARD_CONFIRMED_SCRAP = 6,
	AN_HAZARD_CONFIRMED_NOTHING = 7,
	AN_HAZARD_NOT_ACCESSIBLE = 8,
	AN_HAZARD_SUPERSEDED = 9,         /* merged into / split into other hazard points */
};
/* Allowed transitions (anything else is -EINVAL):
 *   candidate → awaiting_second | awaiting_excavation
 *   awaiting_second → awaiting_excavation
 *   awaiting_excavation → confirmed_* | not_accessible
 *   not_accessible → awaiting_excavation (access restored)
 *   any state except confirmed_* → superseded
 * confirmed_* and superseded are final. */
bool an_store_hazard_transition_ok(enum an_hazard_status from, enum an_hazard_status to);
const char *an_store_hazard_status_name(enum an_hazard_status st); /* "candidate", ... or NULL */

struct an_store_hazard {
	int64_t id; /* out */
	int64_t task_id, box_id; /* box_id 0 = none */
	enum an_hazard_status status;
	int64_t x_mm, y_mm;  /* centroid, task frame */
	int32_t lat_e7, lon_e7;
	uint32_t r95_mm;
	int32_t log_odds_q10;
	double p_explosive;
	uint32_t n_ind, n_animals, n_sessions;
	int64_t created_ms, updated_ms; /* out */
};
/* Create a hazard point (status must be candidate, awaiting_second or awaiting_excavation); logs a
 * 'created' event. *id gets the id. */
int an_store_hazard_add(struct an_store *s, const struct an_store_hazard *h, const char *who, int64_t *id)
	__attribute__((warn_unused_result));
/* Change status (checked against the transition table), log the event with its sequence number and an
 * audit row, all in one transaction. *event_seq (may be NULL) gets the event's sequence number. */
int an_store_hazard_set_status(struct an_store *s, int64_t hazard_id, enum an_hazard_status to,
                               const char *who, const char *note, int64_t *event_seq)
	__attribute__((warn_unused_result));

enum an_evidence_kind { AN_EVIDENCE_INDICATION = 1, AN_EVIDENCE_CLEAN_PASS = 2 };
struct an_store_evidence {
	enum an_evidence_kind kind;
	uint16_t collar_id; uint32_t rec_seq; /* INDICATION: the indication */
	int64_t session_id;                   /* CLEAN_PASS: the session that covered the spot (0 for IND) */
	int32_t delta_q10;                    /* its log-odds contribution × 1024 */
};
int an_store_hazard_evidence_add(struct an_store *s, int64_t hazard_id, const struct an_store_evidence *e)
	__attribute__((warn_unused_result));

typedef int (*an_store_hazard_cb)(void *ctx, const struct an_store_hazard *h);
/* Hazard points of a task, ordered by id. */
int an_store_hazards_by_task(struct an_store *s, int64_t task_id, an_store_hazard_cb cb, void *ctx)
	__attribute__((warn_unused_result));

struct an_store_hazard_event {
	int64_t seq, hazard_id, t_ms;
	char kind[16];
	enum an_hazard_status from, to; /* 0 = none */
	char who[AN_STORE_TEXT_MAX];
};
typedef int (*an_store_hazard_event_cb)(void *ctx, const struct an_store_hazard_event *e);
/* Hazard events with seq > after_seq, ordered by seq (the PUB stream's snapshot/replay). */
int an_store_hazard_events_since(struct an_store *s, int64_t after_seq, an_store_hazard_event_cb cb,
                                 void *ctx) __attribute__((warn_unused_result));

/* ---- clearance results ------------------------------------------------------------------------------ */

enum an_clearance_result {
	AN_CLR_AP_MINE = 1,
	AN_CLR_AT_MINE = 2,
	AN_CLR_UXO = 3,
	AN_CLR_OTHER_ERW = 4,
	AN_CLR_FRAGMENT = 5,
	AN_CLR_SCRAP = 6,
	AN_CLR_NOTHING = 7,
	AN_CLR_NOT_ACCESSIBLE = 8,
};
struct an_store_clearance {
	int64_t id; /* out */
	int64_t task_id, hazard_id; /* hazard_id 0 = not linked */
	bool has_pos;
	int32_t lat_e7, lon_e7;
	int64_t x_mm, y_mm; /* out: computed in the task frame when has_pos */
	uint32_t pos_err_mm;
	enum an_clearance_result result;
	char device_type[AN_STORE_TEXT_MAX]; /* "" = unknown */
	bool has_depth;
	int32_t depth_mm;
	char team[AN_STORE_TEXT_MAX];
	int64_t date_ms;
};
int an_store_clearance_add(struct an_store *s, const struct an_store_clearance *c, int64_t *id)
	__attribute__((warn_unused_result));
typedef int (*an_store_clearance_cb)(void *ctx, const struct an_store_clearance *c);
/* Clearance results of a task, ordered by (date_ms, id). */
int an_store_clearances_by_task(struct an_store *s, int64_t task_id, an_store_clearance_cb cb, void *ctx)
	__attribute__((warn_unused_result));
/* Clearance results with id > after_id, ordered by id (a reader that follows new rows remembers the last id).
 * A result text the store does not know decodes as 0 (not a member of enum an_clearance_result). */
int an_store_clearances_after(struct an_store *s, int64_t after_id, an_store_clearance_cb cb, void *ctx)
	__attribute__((warn_unused_result));

/* ---- calibration records (the trainers' record of each animal) ---------------------------------------
 * One record = an animal's CUMULATIVE calibration as of a date, as the trainers' accuracy report states it
 * (domain.md §2, §6.5): explosive targets it was exposed to and indicated within the correct radius (hits),
 * targets it passed over without indicating (misses), false indications, and the area searched (m²), with
 * where the counts come from. Not an increment: the record in force replaces the earlier ones (it already
 * contains them). The hazard engine turns it into the animal's likelihood ratios (an/fusion.h); an animal
 * without a record is NEW (priors only).
 * History is append-only (the schema refuses UPDATE and DELETE): a correction is a new record with a later
 * as_of. The record IN FORCE for an animal is the one with the latest as_of_ms; ties are broken by the
 * larger record, compared hits, misses, false_inds, area_m2 (the hazard engine's own order, an/hazard.h
 * struct an_hazard_calib, so the store and the core agree whatever order the records came in), then the
 * larger id. (animal, as_of_ms, source) is the natural key: adding a record whose key is stored with the
 * same counts is a duplicate (skipped, counted); with other counts it is refused (-EEXIST). */
enum an_calib_source {
	AN_CALIB_ACCREDITATION = 1, /* a blind accreditation test (domain.md §2) */
	AN_CALIB_TRAINING = 2,      /* training boxes with known targets */
	AN_CALIB_OPERATIONAL = 3,   /* operational finds confirmed by clearance */
	AN_CALIB_IMPORT = 4,        /* taken over from another system or programme */
};
#define AN_STORE_CALIB_NOTE_MAX 256 /* including the NUL */
#define AN_STORE_CALIB_COUNT_MAX 1000000000ull /* per count: beyond any animal's working life */
const char *an_store_calib_source_name(enum an_calib_source src); /* "accreditation", ... or NULL */
/* Parse a source name (exact, lower case). @retval 0 or -EINVAL */
int an_store_calib_source_parse(const char *name, enum an_calib_source *out) __attribute__((warn_unused_result));

struct an_store_calibration {
	int64_t id;        /* out */
	int64_t animal_id;
	enum an_species species; /* out: the animal's */
	int64_t as_of_ms;  /* UTC ms */
	uint64_t hits, misses, false_inds; /* each <= AN_STORE_CALIB_COUNT_MAX */
	double area_m2;    /* finite, 0 <= area < 1e12 */
	enum an_calib_source source;
	char note[AN_STORE_CALIB_NOTE_MAX]; /* "" = none */
	int64_t entered_ms; /* out: the store's clock when it was added */
};
/* Check one record's values (not the animal's existence). why (may be NULL) gets the reason.
 * @retval 0 or -EINVAL */
int an_store_calibration_check(const struct an_store_calibration *c, char *why, size_t whycap)
	__attribute__((warn_unused_result));
/* Add recs[0..n) in ONE transaction with one audit row (who: NULL = "unknown"; what: a label for the
 * audit detail, e.g. the file name, may be NULL): all or nothing. recs[i].id gets the new row id, or the
 * stored one for a duplicate. *inserted / *duplicates (may be NULL) get the counts. On an error
 * *bad (may be NULL) gets the index of the offending record (n when it is not one record's fault).
 * @retval -EINVAL a value out of range; -ENOENT no such animal; -EEXIST the key is stored with other counts;
 *         -EROFS, -EBUSY, -EIO, -ENOSPC, -ENOMEM */
int an_store_calibrations_add(struct an_store *s, struct an_store_calibration *recs, size_t n, const char *who,
                              const char *what, size_t *inserted, size_t *duplicates, size_t *bad)
	__attribute__((warn_unused_result));
/* The record in force for animal_id (see above). @retval -ENOENT the animal has none (a new animal) */
int an_store_calibration_latest(struct an_store *s, int64_t animal_id, struct an_store_calibration *out)
	__attribute__((warn_unused_result));
typedef int (*an_store_calibration_cb)(void *ctx, const struct an_store_calibration *c);
/* The record in force of every animal that has one, ordered by animal_id. */
int an_store_calibrations_in_force(struct an_store *s, an_store_calibration_cb cb, void *ctx)
	__attribute__((warn_unused_result));
/* Every record with id > after_id, ordered by id (a reader that follows new rows remembers the last id). */
int an_store_calibrations_after(struct an_store *s, int64_t after_id, an_store_calibration_cb cb, void *ctx)
	__attribute__((warn_unused_result));

/* ---- recorder box positions (schema step 8) --------------------------------------------------------------
 * The data recorder's position of an indication in its box (domain.md §1.1; DESIGN.md "box-frame
 * coordinates are first class"): the lane the handlers counted (0-based from the box's p0 side, an/geo.h)
 * and the distance along it from the lane's start, read off the rope's marks (rats) or a tape to the peg
 * (dogs), with the recorder's 1-sigma along the lane. Keyed by the indication's (collar_id, rec_seq); the
 * indication need not be stored yet (a sheet may be entered before the collar's record arrives). When it is
 * and its session has a box, the entry is checked against the box: lane < lane_count, along <= lane length
 * + AN_STORE_BOXPOS_ALONG_SLACK_MM (the peg may sit just past the lane's end).
 * Append-only: a correction is a new entry. The entry IN FORCE for an indication is the latest entered_ms,
 * ties by the larger (lane, along_mm, sd_mm) then id: the hazard engine's order (an/hazard.h struct
 * an_hazard_boxpos). An entry equal (lane, along, sd) to the one in force is a duplicate (skipped, counted),
 * so loading a sheet twice changes nothing. The hazard engine places the indication there (an/hazard.h). */
#define AN_STORE_BOXPOS_ALONG_SLACK_MM 500
#define AN_STORE_BOXPOS_SD_MAX_MM 10000
#define AN_STORE_BOXPOS_WHO_MAX 64 /* including the NUL */
struct an_store_boxpos {
	int64_t id;         /* out */
	uint16_t collar_id; /* 1..65535 */
	uint32_t rec_seq;
	uint32_t lane;     /* 0-based, < 65536 */
	int64_t along_mm;  /* 0 .. 10^7 */
	uint32_t sd_mm;    /* <= AN_STORE_BOXPOS_SD_MAX_MM */
	int64_t entered_ms; /* out: the store's clock when it was added */
	char who[AN_STORE_BOXPOS_WHO_MAX]; /* out */
	bool ind_known;    /* out of add: the indication is stored (its box, if any, was checked) */
};
/* Check one entry's values (not against its box). why (may be NULL) gets the reason, naming the field.
 * @retval 0 or -EINVAL */
int an_store_boxpos_check(const struct an_store_boxpos *b, char *why, size_t whycap) __attribute__((warn_unused_result));
/* The box of the session an indication is attributed to. @retval -ENOENT no such indication; -ENODATA it has
 * no session (no box to check against) */
int an_store_ind_box(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, struct an_geo_box *box)
	__attribute__((warn_unused_result));
/* Add recs[0..n) in ONE transaction with one audit row (who: NULL = "unknown"; what: label, may be NULL):
 * all or nothing. recs[i].id gets the new row id, or the one in force for a duplicate. *inserted /
 * *duplicates (may be NULL) get the counts; on an error *bad (may be NULL) the offending index (n when no
 * one entry's fault); an_store_errmsg names the entry and the field.
 * @retval -EINVAL a value out of range or outside the indication's box; -EROFS, -EBUSY, -EIO, -ENOMEM */
int an_store_boxpos_add(struct an_store *s, struct an_store_boxpos *recs, size_t n, const char *who,
                        const char *what, size_t *inserted, size_t *duplicates, size_t *bad)
	__attribute__((warn_unused_result));
typedef int (*an_store_boxpos_cb)(void *ctx, const struct an_store_boxpos *b);
/* Every entry with id > after_id, ordered by id (the core feeds them all: its engine keeps the winner). */
int an_store_boxpos_after(struct an_store *s, int64_t after_id, an_store_boxpos_cb cb, void *ctx)
	__attribute__((warn_unused_result));
/* The entry in force for one indication. @retval -ENOENT none */
int an_store_boxpos_latest(struct an_store *s, uint16_t collar_id, uint32_t rec_seq, struct an_store_boxpos *out)
	__attribute__((warn_unused_result));

/* ---- handler verdicts (schema step 9) ---------------------------------------------------------------------
 * The handler's confirm / reject of an indication (domain.md §6: "the handler must confirm/reject in one
 * tap"): from the collar (a short press confirms, a long one rejects; proto IND key VERDICT, stored by ingest)
 * or from the web map. Append-only: every verdict is kept with when and where it came from. The one IN FORCE
 * for an indication is the latest t_ms, ties: rejected, then the larger id; indications.review/reviewed_ms
 * (and reviewed_by: the handler row of a web verdict, NULL for a collar's) follow it. A verdict may arrive
 * before its indication (it is applied when the indication is stored). The hazard engine weighs the verdict
 * in force (an/hazard.h AN_HAZARD_IN_REVIEW). */
#define AN_STORE_REVIEW_WHO_MAX 64 /* including the NUL */
struct an_store_review {
	int64_t id;             /* out */
	uint16_t collar_id;     /* 1..65535 */
	uint32_t rec_seq;
	enum an_review verdict; /* AN_REVIEW_CONFIRMED or AN_REVIEW_REJECTED */
	int64_t t_ms;           /* UTC ms the verdict was given (collar: the record's receipt); 0 = the store's now */
	char source[16];        /* "collar", "web" or "import" */
	char who[AN_STORE_REVIEW_WHO_MAX]; /* e.g. "collar 7", the web user's name */
	int64_t handler_id;     /* the handler row (web), 0 = none (collar) */
};
/* Add one verdict in its own transaction, audited. @retval -EINVAL a value out of range (an_store_errmsg
 * names it); -ENOENT handler_id is not a handler; -EROFS, -EBUSY, -EIO */
int an_store_review_add(struct an_store *s, struct an_store_review *r) __attribute__((warn_unused_result));
typedef int (*an_store_review_cb)(void *ctx, const struct an_store_review *r);
/* Every verdict with id > after_id, ordered by id (the core feeds them all: its engine keeps the one in force). */
int an_store_reviews_after(struct an_store *s, int64_t after_id, an_store_review_cb cb, void *ctx)
	__attribute__((warn_unused_result));

/* ---- audit ------------------------------------------------------------------------------------------ */

/* Append to the audit log (who, when = the store's clock, what). */
int an_store_audit(struct an_store *s, const char *who, const char *action, const char *entity,
                   int64_t entity_id, const char *detail) __attribute__((warn_unused_result));

#endif
