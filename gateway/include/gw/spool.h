/*
 * gw/spool.h — the gateway's durable store-and-forward journal (SQLite, WAL, synchronous=FULL).
 *
 * What it holds (one file, schema in src/spool.c):
 *   rec     every record the gateway accepted, in spool order (id): collar_id, type, rec_seq (FIX/IND only),
 *           rx time (UTC ms), link index, rssi/snr when the link gave them, the message body as msgpack
 *           (the collar's own body for FIX/IND/STATUS/HELLO/CMD_ACK; for a FIXB each fix re-encoded as a
 *           single FIX body), the unstuffed frame ONCE per frame (on the frame's first stored record, the
 *           "anchor"; the others point at it), and the gw_seq of the upstream BATCH it was assigned to.
 *   batch   one row per committed BATCH not trimmed yet: gw_seq → the contiguous id range of its records.
 *   collar  per-collar state that must survive a restart: the replay window (boot_id, link_seq) and the
 *           cumulative ack point `cum` (every rec_seq <= cum is stored, or was thinned by the collar).
 *   meta    schema version (2), gateway boot counter, next gw_seq, last gw_seq acked by the core and the
 *           last id of that batch, the id up to which records are assigned to batches.
 *
 * Durability rules (the point of this module — an ACK to a collar is a promise):
 *   - Nothing is durable until gw_spool_commit() returns 0: the WAL is fsynced (synchronous=FULL) before
 *     COMMIT returns. Callers ACK only records committed before the ACK is built.
 *   - Inserts accumulate in one open transaction (group commit); the caller decides when to commit
 *     (indications at once, fixes within <= 100 ms, see gw/pipeline.h).
 *   - A failed commit rolls the open transaction back; gw_spool_put's "stored" results since the last commit
 *     are void and the caller must forget them (the collar will resend: nothing was acked).
 *
 * Disk budget (max_bytes, 0 = unlimited). Used = live pages of the main file + the WAL file. When used
 * reaches the budget, the spool is "full": gw_spool_put refuses every record except IND (-ENOSPC), so FIXes
 * stay un-ACKed in the collars' flash journals (which keep every indication and thin old fixes themselves)
 * and come back when the core has drained the spool. It leaves the full state below 90 % of the budget
 * (hysteresis, so it does not flap on every trim). Indications are never refused by the budget: only the
 * disk itself (SQLITE_FULL) can stop them, and then they stay un-ACKed in the collar too.
 *
 * Upstream (gateway → core): records are grouped into BATCHes of at most PROTO_BATCH_RECS_MAX records in
 * spool order; a frame's records never straddle two batches (so raw_ref always points inside the batch).
 * A record gets its gw_seq in its own INSERT and the commit that makes it durable seals the batch it is in,
 * so a batch never spans two commits, never changes once committed (every rebuild is byte-identical) and
 * needs no commit (fsync) of its own before it leaves. gw_seq starts at 1 and never repeats (persisted in
 * meta, in the same transaction).
 */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct gw_spool;

struct gw_spool_opts {
	const char *path;    /* SQLite file; created if absent */
	uint16_t gw_id;      /* BATCH gw_id, 1..65535 */
	uint64_t max_bytes;  /* disk budget; 0 = unlimited */
};

/* @retval 0; -EINVAL bad opts; -EIO the file cannot be opened/created or has a foreign schema */
int gw_spool_open(struct gw_spool **out, const struct gw_spool_opts *o) __attribute__((warn_unused_result));
/* Commits what is pending, then closes. NULL-safe. Returns the commit's result (0 when nothing was pending). */
int gw_spool_close(struct gw_spool *s);

/* The gateway's boot counter, incremented and committed by gw_spool_open (the boot_id of ACK frames). */
uint16_t gw_spool_boot_id(const struct gw_spool *s);

/* --- writing records ------------------------------------------------------------------------------- */

struct gw_spool_rec {
	uint16_t collar_id;
	uint8_t type;            /* PROTO_T_FIX, IND, STATUS, HELLO or CMD_ACK */
	uint8_t has_seq;         /* FIX/IND: rec_seq is meaningful and deduplicated on (collar_id, rec_seq) */
	uint32_t rec_seq;
	uint64_t rx_ms;          /* gateway UTC ms at reception */
	uint8_t link;
	uint8_t has_rssi, has_snr;
	int16_t rssi_dbm, snr_db10;
	const uint8_t *body;     /* msgpack body of this single record (<= PROTO_BODY_MAX bytes) */
	size_t body_len;
};

/* Start a frame: the raw unstuffed frame is stored with the first record of this frame that gets stored. */
void gw_spool_frame_begin(struct gw_spool *s, const uint8_t *raw, size_t raw_len);

/*
 * Insert one record into the open transaction (opened if needed).
 * @retval 1 stored (durable after the next successful commit)
 * @retval 0 duplicate: (collar_id, rec_seq) is already in the spool (committed or pending). Rows trimmed after
 *         the core's ack no longer count: the caller first drops rec_seq <= the collar's cum (gw/pipeline.h).
 * @retval -ENOSPC refused by the disk budget (never for IND), or the disk is full
 * @retval -EINVAL bad record; -EIO SQLite error (the transaction is rolled back)
 */
int gw_spool_put(struct gw_spool *s, const struct gw_spool_rec *r) __attribute__((warn_unused_result));

/* Records inserted since the last commit (0 = nothing to commit). */
unsigned gw_spool_pending(const struct gw_spool *s);

/* Commit the open transaction (no-op when none). @retval 0; -EIO/-ENOSPC (rolled back, see above) */
int gw_spool_commit(struct gw_spool *s) __attribute__((warn_unused_result));

/* Called after every commit (ok = 1: the records inserted since the previous commit are durable) and every
 * rollback (ok = 0: they are gone; nothing of them may be ACKed). records = how many. Whoever commits —
 * the pipeline's group commit, the dock's commit, a trim — subscribers hear it. Callbacks must
 * not call gw_spool_* (set a flag and act from the loop instead). At most 4 subscribers. */
typedef void (*gw_spool_commit_cb)(void *arg, int ok, unsigned records);
void gw_spool_on_commit(struct gw_spool *s, gw_spool_commit_cb cb, void *arg);

/* Is (collar_id, rec_seq) in the spool (committed or pending)? 1/0, <0 on error. */
int gw_spool_has(struct gw_spool *s, uint16_t collar_id, uint32_t rec_seq);
/* Call cb for every stored rec_seq of a collar in (lo, hi], ascending (rebuilding the ack window). */
int gw_spool_seqs(struct gw_spool *s, uint16_t collar_id, uint32_t lo, uint32_t hi,
                  void (*cb)(void *arg, uint32_t rec_seq), void *arg);

/* --- per-collar state (written in the open transaction, so it commits with the records) --------------- */

struct gw_spool_collar {
	uint16_t collar_id;
	uint8_t has_replay;
	uint16_t boot_id;
	uint16_t link_seq;
	uint32_t cum;
};
int gw_spool_collar_save(struct gw_spool *s, const struct gw_spool_collar *c) __attribute__((warn_unused_result));
/* Call cb for every saved collar. */
int gw_spool_collar_each(struct gw_spool *s, void (*cb)(void *arg, const struct gw_spool_collar *c), void *arg);

/* --- budget and statistics ------------------------------------------------------------------------- */

struct gw_spool_stats {
	uint64_t used_bytes;       /* live pages + WAL, as of the last commit or trim */
	uint64_t max_bytes;
	uint8_t full;              /* refusing non-IND records */
	uint64_t records;          /* rows in rec */
	uint64_t stored;           /* gw_spool_put returned 1 (this run) */
	uint64_t duplicates;       /* ... returned 0 */
	uint64_t refused;          /* ... returned -ENOSPC */
	uint64_t commits;
	uint64_t commit_errors;
	uint64_t trimmed;          /* rows deleted after the core's ack */
	uint64_t next_gw_seq;
	uint64_t acked_gw_seq;
};
/* Refreshes used_bytes and records from SQLite (a few pragmas and a COUNT; call from the cron). */
int gw_spool_stats(struct gw_spool *s, struct gw_spool_stats *st);

/* --- upstream interface (the ZeroMQ module codes against exactly these) ----------------------------- */

/*
 * Build (or rebuild identically) the BATCH body with the smallest committed gw_seq > after. Only committed
 * batches exist for the upstream: records of the open transaction wait for its commit (a group commit, or
 * an IND's commit at once) — this never commits, so it never costs an fsync. An `after` below the acked
 * point is treated as the acked point (those batches were trimmed). cap >= PROTO_BATCH_BODY_MAX always
 * suffices. A read of a few rows by index: cheap enough to call after every commit.
 * Returns 1 and fills body/len/gw_seq, 0 if nothing after `after`, <0 on error (-ENOBUFS cap too small,
 * -EIO SQLite, -EBADMSG a stored body no longer decodes — a corrupted spool).
 */
int gw_spool_batch(struct gw_spool *s, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq);
/* The core has committed every batch <= gw_seq: persist it; those records may be trimmed.
 * @retval 0; -EINVAL no batch gw_seq was ever committed; -EIO */
int gw_spool_acked(struct gw_spool *s, uint64_t gw_seq);
/* Last gw_seq acked by the core (persisted), for resending after reconnect. @retval 0 */
int gw_spool_acked_seq(struct gw_spool *s, uint64_t *gw_seq);

/* Records the core has not acknowledged yet (unbatched, or batched after the acked gw_seq): the upstream
 * queue depth in records. A COUNT over SQLite: for status requests, not per frame. @retval 0; -EIO */
int gw_spool_unacked(struct gw_spool *s, uint64_t *n);

/* Delete acked records that are no longer needed for deduplication (rec_seq <= the collar's durable cum, or
 * not journaled). gw_spool_acked calls it; the cron calls it too because cum moves after the ack.
 * Commits the open transaction first. Returns the number of rows deleted or <0. */
int gw_spool_trim(struct gw_spool *s);

#endif
