/*
 * cf/journal.h — the collar's flash journal: every FIX and IND is appended here, durably, before its first
 * transmission (protocol.md §8.3), and stays until the gateway acks it or the storage-full policy thins it.
 *
 * GUARANTEES (tested against an emulator that cuts the power after — or in the middle of — every single
 * flash operation, tests/collar-fw/journal_test.c, and by SIGKILLing a process thousands of times,
 * tests/collar-fw/journal_crash_test.py):
 *   - cf_journal_append() returning 0 means the record is on flash: after any power cut it is readable,
 *     byte for byte, until it is acked or thinned by the policy below.
 *   - Nothing is invented: every record returned passed its CRC-32C and is exactly what was appended.
 *   - rec_seq (32 bit, starts at 1) is issued in increasing order and never repeats or goes back, across
 *     any power cut; boot_id (16 bit) increases at every mount and at every cf_journal_bump_boot().
 *   - The journal never programs a 0 bit to 1 and programs each prog unit at most once between erases.
 *   - No heap; all state is the caller-owned struct cf_journal (sizes below are compile-time constants).
 *
 * ON FLASH. The pages form a ring used in order: page_seq s lives in physical page s % n_pages. Each page
 * starts with a header {magic, page_seq, next_seq, ack_cum, ack_sack, thinned_total, ind_dropped_total,
 * boot_id, n_pages, app_state[16], crc32c} — a snapshot of the persistent counters, so the newest page alone restores
 * them — followed by records {magic, type, gen, len, ~len, rec_seq, body, crc32c} padded to prog_unit.
 * Records are data (types 0x01..0x7F: the proto message type of the body, PROTO_T_FIX, PROTO_T_IND…) or
 * markers (BOOT: a new boot_id; ACK: a new ack state; EVAC: "page_seq X has been reclaimed"; APP: new
 * application state). Nothing is
 * ever rewritten in place: acks and reclaims are appended markers, which is what makes every write
 * power-safe ("append, then believe") and keeps ECC flashes happy.
 *
 * MOUNT (recovery) scans every page: the valid header with the highest page_seq is the head; pages within
 * n_pages of it and not named by an EVAC marker are live. A record whose CRC fails (a torn write) is
 * skipped, the scan resynchronises at the next prog unit, and appends continue after the last non-erased
 * byte of the head page. A page is erased only just before it becomes the head, and that erase can be torn:
 * its remains either have an out-of-window page_seq or are named by an EVAC marker, so they are never read.
 * An interrupted reclaim is finished by the next mount. Then boot_id is bumped and a BOOT marker written.
 *
 * STORAGE-FULL POLICY (never stop logging; keep every IND; thin old FIXes):
 *   The ring keeps CF_JOURNAL_RESERVE_PAGES free. When the head moves on and only RESERVE-1 are left, the
 *   oldest (tail) page is reclaimed: its records are copied to the head ("moved") or dropped, then an EVAC
 *   marker is written. In the tail page:
 *     - acked records are dropped (the gateway has them);
 *     - un-acked non-FIX records (IND, anything not PROTO_T_FIX) are moved;
 *     - an un-acked FIX that has been moved g times before survives iff rec_seq % K^(g+1) == 0, with
 *       K = CF_JOURNAL_THIN_KEEP: every K-th FIX survives its first reclaim, every K²-th its second…
 *       so history ages geometrically: full rate for the newest ~(1-1/K) of the ring, then 1/K, 1/K², …
 *       (the figure for 1 MiB is in the report; "thinned" in cf_journal_stats counts the drops);
 *     - if the movers would not fit in CF_JOURNAL_MOVE_BUDGET(page_size) bytes — only when a page is all
 *       un-acked INDs, i.e. the flash is full of indications — all its FIXes go, then the oldest INDs
 *       (counted in ind_dropped). With INDs at a few per hour this needs weeks without a gateway.
 *   A record that is acked is never copied. Recent FIXes (those not yet in a reclaimed page) are complete.
 *
 * COST. Append: one program (plus, once per page, one erase, one header and one reclaim). Ack: one program
 * when the ack changes anything (duplicates cost nothing). RAM INDEX (rebuilt at mount, fixed size): two
 * bitmaps over the newest CF_JOURNAL_IDX_WIN rec_seqs (stored? FIX?) answer the un-acked iterators and
 * cf_journal_gone without touching flash, and a small direct-mapped cache of record locations (filled by
 * every append, move and read) lets cf_journal_read load one record instead of scanning its page. Only
 * queries that reach below the window while un-acked records may be there (a backlog longer than the
 * window) fall back to scanning the pages whose [lo, hi] rec_seq range can hold the answer; stats scans
 * the whole ring (call it at STATUS rate).
 *
 * Not thread-safe: one owner (the collar's main loop) calls everything.
 */
#ifndef CF_JOURNAL_H
#define CF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hal/flash.h"

#define CF_JOURNAL_MAX_PAGES 256u   /* RAM: 8 bytes per page; 256 x 4 KiB = 1 MiB of flash */
#define CF_JOURNAL_BODY_MAX 240u    /* bytes; >= PROTO_BODY_MAX (235), one msgpack body of a FIX or IND */
#define CF_JOURNAL_REC_HDR 12u      /* record header bytes before the body */
#define CF_JOURNAL_REC_MAX 256u     /* header + CF_JOURNAL_BODY_MAX + crc32c, a multiple of any prog unit */
#define CF_JOURNAL_PAGE_HDR 56u     /* page header bytes (records start at the next prog unit boundary) */
#define CF_JOURNAL_APP_STATE 16u    /* bytes of application state kept power-safe (cf_journal_app_state_set) */
#define CF_JOURNAL_RESERVE_PAGES 2u /* free pages kept so an interrupted reclaim always has room to finish */
#define CF_JOURNAL_THIN_KEEP 2u     /* K: an un-acked FIX survives a reclaim if rec_seq % K^(moves+1) == 0 */
#define CF_JOURNAL_MIN_PAGES 4u
#define CF_JOURNAL_MIN_PAGE_SIZE 1024u
#define CF_JOURNAL_MAX_PROG_UNIT 32u
#define CF_JOURNAL_MARK_MAX 32u     /* any marker record (BOOT, ACK, EVAC), padded to the largest prog unit */
/* Bytes of moved records a reclaim may put in one fresh page: what is left after the page header (rounded
 * up to the largest prog unit), the EVAC marker, the one-marker reserve every other write keeps, and one
 * maximum record, so that the append that triggered the reclaim always fits after it. */
#define CF_JOURNAL_MOVE_BUDGET(page_size) \
	((page_size) - 2u * CF_JOURNAL_MAX_PROG_UNIT - 2u * CF_JOURNAL_MARK_MAX - CF_JOURNAL_REC_MAX)

#define CF_JOURNAL_IDX_WIN 2048u   /* rec_seqs in the RAM index: 2 bits each (512 B) */
#define CF_JOURNAL_LOC_CACHE 32u   /* record locations cached (12 B each) */

struct cf_journal_loc {
	uint32_t seq;  /* 0: empty */
	uint32_t page; /* physical page */
	uint32_t off;  /* record offset in the page */
};

/* rec_seq range of one page's data records; lo > hi when the page holds none (or is not live). */
struct cf_journal_page {
	uint32_t lo;
	uint32_t hi;
};

/* Caller-owned state. All fields are private to journal.c; read them through the functions below. */
struct cf_journal {
	const struct hal_flash *flash;
	uint32_t n_pages;
	uint32_t page_size;
	uint32_t prog_unit;
	uint32_t rec_start;     /* offset of the first record in a page */
	uint32_t head_seq;      /* page_seq of the page being appended to */
	uint32_t tail_seq;      /* page_seq of the oldest live page */
	uint32_t head_off;      /* next free offset in the head page */
	uint32_t next_seq;      /* rec_seq the next append gets */
	uint32_t ack_cum;       /* every record with rec_seq <= ack_cum is acked */
	uint64_t ack_sack;      /* bit i: rec_seq ack_cum + 1 + i is acked */
	uint32_t thinned_total; /* FIXes dropped un-acked by reclaims, ever (persisted) */
	uint32_t ind_dropped_total; /* non-FIX records dropped un-acked (flash full of INDs), ever (persisted) */
	uint16_t boot_id;
	uint8_t mounted;
	uint8_t broken;         /* a flash operation failed: RAM may disagree with flash until the next mount */
	uint8_t evacuating;     /* inside a reclaim: page changes must not start another one */
	uint8_t resume;         /* mount is finishing a reclaim a power cut interrupted: skip copies made */
	uint32_t mount_bad;     /* invalid (torn or corrupt) record slots skipped by the last mount's scan */
	uint32_t gone_max;      /* no rec_seq above this can be gone (thinned, dropped, lost at a power cut) */
	uint8_t app_state[CF_JOURNAL_APP_STATE]; /* opaque to the journal; zeros on a blank journal */
	struct cf_journal_page page[CF_JOURNAL_MAX_PAGES]; /* indexed by physical page */
	/* RAM index: bit k of idx_stored/idx_fix = rec_seq idx_base + k is stored / is a FIX */
	uint8_t idx_ready;      /* built (mount's last step): before that, appends and drops do not touch it */
	uint8_t idx_below;      /* a stored record may exist below idx_base (slid out of the window) */
	uint32_t idx_base;      /* multiple of 32 */
	uint32_t idx_stored[CF_JOURNAL_IDX_WIN / 32u];
	uint32_t idx_fix[CF_JOURNAL_IDX_WIN / 32u];
	struct cf_journal_loc loc[CF_JOURNAL_LOC_CACHE];
	uint8_t buf[CF_JOURNAL_REC_MAX];                   /* the record being written or moved */
};

struct cf_journal_stats {
	uint32_t next_seq;           /* rec_seq the next append will get */
	uint32_t oldest_seq;         /* lowest rec_seq still stored, acked or not (0: none) */
	uint32_t oldest_unacked_seq; /* 0: none */
	uint32_t newest_seq;         /* highest rec_seq still stored (0: none) */
	uint32_t n_records;          /* data records stored (acked or not) */
	uint32_t backlog;            /* data records stored and not acked */
	uint32_t backlog_ind;        /* ... of which not FIX */
	uint32_t backlog_bytes;      /* flash bytes of those records */
	uint32_t used_bytes;         /* bytes of live pages up to their last record (headers, markers, waste) */
	uint32_t free_bytes;         /* capacity_bytes - used_bytes */
	uint32_t capacity_bytes;     /* (n_pages - CF_JOURNAL_RESERVE_PAGES) * page_size */
	uint32_t thinned;            /* FIXes dropped un-acked by the storage-full policy, ever */
	uint32_t ind_dropped;        /* non-FIX records dropped un-acked, ever (0 unless flash filled with INDs) */
	uint32_t ack_cum;
	uint64_t ack_sack;
	uint32_t mount_bad;          /* torn/corrupt record slots skipped at the last mount (0 after a clean stop) */
	uint16_t boot_id;
};

/*
 * Recover the journal from flash after anything (a clean stop, a power cut at any instant, a blank chip:
 * formatted), finish an interrupted reclaim, bump boot_id and persist it. j is fully (re)initialised.
 * @retval 0          ok; cf_journal_boot_id() is new
 * @retval -EINVAL    geometry the journal cannot use (page size, page count, prog unit)
 * @retval -EOVERFLOW boot_id or page sequence exhausted (65535 boots: not reachable in a collar's life)
 * @retval -EIO       or another negative code from the flash
 */
int cf_journal_mount(struct cf_journal *j, const struct hal_flash *flash) __attribute__((warn_unused_result));

/*
 * Append one data record. type: 0x01..0x7F (the proto message type of body; PROTO_T_FIX may be thinned).
 * Returns when the record is on flash; *rec_seq (may be NULL) is its sequence number.
 * @retval 0          durable
 * @retval -EINVAL    type out of range, len > CF_JOURNAL_BODY_MAX, or journal not mounted
 * @retval -EOVERFLOW rec_seq exhausted (2^32 records: 136 years at 1 Hz)
 * @retval -EIO       flash failure; the journal refuses writes until cf_journal_mount() again
 */
int cf_journal_append(struct cf_journal *j, uint8_t type, const void *body, size_t len, uint32_t *rec_seq)
	__attribute__((warn_unused_result));

/*
 * Read record rec_seq into buf (cap bytes). *len gets the body length (also on -ENOBUFS), *type its type;
 * either may be NULL.
 * @retval 0 ok   @retval -ENOENT not stored (never issued, thinned, or acked and reclaimed)
 * @retval -ENOBUFS cap too small   @retval -EIO flash
 */
int cf_journal_read(struct cf_journal *j, uint32_t rec_seq, void *buf, size_t cap, size_t *len, uint8_t *type)
	__attribute__((warn_unused_result));

/*
 * Un-acked records in rec_seq order, for the link layer's backfill. next: the lowest un-acked stored
 * rec_seq > after (start with after = 0: oldest first). prev: the highest < before (start with
 * before = UINT32_MAX: newest first). *type (may be NULL) gets the record type.
 * @retval 0 *rec_seq set   @retval -ENOENT none   @retval -EIO flash
 */
int cf_journal_next_unacked(struct cf_journal *j, uint32_t after, uint32_t *rec_seq, uint8_t *type)
	__attribute__((warn_unused_result));
int cf_journal_prev_unacked(struct cf_journal *j, uint32_t before, uint32_t *rec_seq, uint8_t *type)
	__attribute__((warn_unused_result));

/*
 * Visit every stored data record once (acked or not), oldest page first. Within and across pages, moved
 * records sit among newer ones, so the order is NOT strictly by rec_seq. body points into j and is valid
 * only during the call; fn must not call other cf_journal_ functions. A non-zero return from fn stops the
 * walk and is returned. Cost: one pass over the live pages (the dock's bulk offload, tests).
 * @retval 0 walked all   @retval fn's non-zero value   @retval -EINVAL   @retval -EIO flash
 */
typedef int (*cf_journal_visit_fn)(void *ctx, uint32_t rec_seq, uint8_t type, const uint8_t *body, size_t len);
int cf_journal_foreach(struct cf_journal *j, cf_journal_visit_fn fn, void *ctx)
	__attribute__((warn_unused_result));

/*
 * Apply a gateway ACK: every rec_seq <= cum is acked, and cum + 1 + i for each bit i of sack. Acks only
 * ever add (an older cum than the journal's is merged, not rewound). Persisted before returning when it
 * changes anything; a duplicate ack writes nothing. An acked record may be reclaimed at any later time.
 * Bits beyond 64 above the journal's own cum are forgotten (the record is then simply sent again).
 * @retval 0 ok   @retval -ERANGE cum or a sack bit names a rec_seq not yet issued (nothing applied)
 * @retval -EINVAL not mounted   @retval -EIO flash
 */
int cf_journal_ack(struct cf_journal *j, uint32_t cum, uint64_t sack) __attribute__((warn_unused_result));

/* 1 if rec_seq is acked (whether or not it is still stored). */
int cf_journal_is_acked(const struct cf_journal *j, uint32_t rec_seq);

/*
 * New boot_id without a reboot (the link layer calls it when link_seq wraps), persisted before returning.
 * @retval 0 ok   @retval -EOVERFLOW exhausted   @retval -EIO flash
 */
int cf_journal_bump_boot(struct cf_journal *j, uint16_t *boot_id) __attribute__((warn_unused_result));

uint16_t cf_journal_boot_id(const struct cf_journal *j);
uint32_t cf_journal_next_seq(const struct cf_journal *j);

/*
 * GONE records: rec_seqs below next_seq that are neither acked nor stored (thinned, INDs dropped from a full
 * flash, an append a power cut tore). They can never be sent; the link tells the gateway (PROTO_T_GONE).
 * cf_journal_gone() finds the first gone rec_seq in (after, after + CF_JOURNAL_GONE_WIN], the run of gone
 * rec_seqs it starts (*last, within the window) and *map: bit i = last + 2 + i is gone too (within the
 * window). Cost: one pass over the pages whose rec_seq range meets the window.
 * @retval 0 found   @retval -ENOENT none in the window   @retval -EINVAL   @retval -EIO flash
 * cf_journal_gone_max(): no rec_seq above it can be gone (cheap: a RAM field; set to next_seq - 1 at mount,
 * raised by every drop), so callers skip the scan once the gateway's ack point has passed it.
 */
#define CF_JOURNAL_GONE_WIN 512u
int cf_journal_gone(struct cf_journal *j, uint32_t after, uint32_t *first, uint32_t *last, uint64_t *map)
	__attribute__((warn_unused_result));
uint32_t cf_journal_gone_max(const struct cf_journal *j);

/*
 * A small opaque application state (the link's CMD memory, the app's commanded rate and mode) kept exactly
 * like the ack state: every change is an appended APP marker and every page header carries a snapshot, so
 * it survives power cuts at any write and any reclaim. _set persists before returning; writing the same
 * bytes again writes nothing. Zeros until first set. Cost: one marker program per change.
 * @retval 0 ok   @retval -EINVAL not mounted   @retval -EIO flash
 */
int cf_journal_app_state_set(struct cf_journal *j, const uint8_t state[CF_JOURNAL_APP_STATE])
	__attribute__((warn_unused_result));
void cf_journal_app_state(const struct cf_journal *j, uint8_t state[CF_JOURNAL_APP_STATE]);

/* Lowest rec_seq still stored (acked or not), 0 when none: from the RAM page ranges, no flash access. */
uint32_t cf_journal_oldest_seq(const struct cf_journal *j);
uint32_t cf_journal_ack_cum(const struct cf_journal *j);

/* Counters and sizes (scans every live page: call it at STATUS rate, not per record).
 * @retval 0 ok   @retval -EINVAL not mounted   @retval -EIO flash */
int cf_journal_stats(struct cf_journal *j, struct cf_journal_stats *st) __attribute__((warn_unused_result));

#endif
