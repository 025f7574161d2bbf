/*
 * an/pub.h — the core's live outputs: a PUB socket with per-stream sequence numbers and a snapshot ROUTER,
 * i.e. the zguide Clone pattern (protocol.md §3.3, §8.4; zguide ch.5 "Reliable Pub-Sub (Clone Pattern)").
 * The server side (an_pub_*) is used by scentrack-core; the client side (an_pub_client_*) by UIs, the CLI
 * and the tests.
 *
 * Streams and topics. Four streams, each a key → value map with its own u64 sequence:
 *   stream   topic                 key                    value (msgpack body)
 *   fix      "fix/<collar_id>"     collar_id              the collar's LAST COMMITTED fix (commit order,
 *                                                         not t_ms: a late backlog batch does become "last";
 *                                                         the body carries t_ms so a UI can tell)
 *   ind      "ind/<collar_id>"     (collar_id, rec_seq)   every indication
 *   hazard   "hazard/<id>"         hazard point id        every live hazard point; a retired point (merged)
 *                                                         is published once with status 9 (superseded) and
 *                                                         leaves the map
 *   status   "status/<gw_id>"      gw_id                  the gateway's ingest status
 * Topics are exact strings: a ZeroMQ prefix subscription "fix/3" also matches "fix/31", so a subscriber that
 * wants one collar compares the whole topic. Hole detection needs the whole stream ("fix/").
 *
 * Wire: every PUB message has three frames
 *   [topic (ASCII)] [16 bytes: seq u64 LE, epoch u64 LE] [body (msgpack)]
 * seq = 1, 2, 3, ... per stream and per epoch (no gaps: every update of the stream gets the next number).
 * epoch = a random non-zero u64 drawn at every start of the core. It is in EVERY message (the task sketch
 * had only [seq]): after a restart, sequences start again at 1, and a subscriber must notice that at the
 * first message rather than at a HUGZ, because the new core's state (rebuilt from the store) can contain
 * records the old one committed but never published (SIGKILL between commit and publish).
 *
 * Bodies (integer keys, absent = not known, never 0 — as proto/msg.h):
 *   fix     the proto FIX body (proto_fix_encode), unchanged from the collar's record
 *   ind     the proto IND body (proto_ind_encode)
 *   hazard  map  1 id u64 | 2 status u8 (enum an_hazard_status) | 3 p_ppm u32 = round(P(explosive) × 1e6)
 *                4 log_odds_q10 i64 (1/1024 nat) | 5 lat_e7 i32 | 6 lon_e7 i32 (centroid; absent when the
 *                frame's origin is unknown) | 7 n_animals u32 (distinct animals that indicated) |
 *                8 n_ind u32 | 9 sigma_mm u32 | 10 task_id u64 (0 = the implicit frame) | 11 into_id u64
 *                (status 9 only: the point it merged into) | 12 x_mm i64 | 13 y_mm i64 (task frame)
 *   status  map  1 gw_id u16 | 2 last_gw_seq u64 | 3 batches u64 (committed by this core process) |
 *                4 records u64 (new records stored, this process) | 5 last_batch_ms u64 (UTC)
 *   HUGZ    topic "HUGZ", seq 0, body map 1 epoch u64 | 2 fix | 3 ind | 4 hazard | 5 status (each the
 *           stream's last seq). Sent when nothing was published for AN_PUB_HUGZ_MS. A subscriber whose last
 *           applied seq is below the HUGZ's lost the tail of the stream (a dropped last message is otherwise
 *           invisible) and re-snapshots.
 *
 * Snapshot ROUTER. A client (DEALER) sends ["SNAPSHOT"][stream name]. The reply, all in one go (the core is
 * single-threaded, so the state is consistent at S = the stream's current seq):
 *   [topic][seq_item | epoch][body]   one per live key; seq_item = the seq of the update that set it (0 for
 *                                     state loaded from the store at start-up)
 *   ["KTHXBAI"][S | epoch][map 1 n_items u64]
 * or ["ERROR"][0 | epoch][text] for an unknown stream or an oversized snapshot. The client subscribes FIRST,
 * then asks for the snapshot, then drops updates with seq <= S, applies S+1, S+2, ..., and on any hole
 * (seq > expected), an unknown epoch, or a HUGZ ahead of it, asks for a new snapshot.
 *
 * Bounds (a slow subscriber must not make the core buffer without limit): the PUB's ZMQ_SNDHWM (default
 * AN_PUB_SNDHWM, per subscriber) — beyond it libzmq DROPS for that subscriber only, which it detects as a
 * hole and repairs with a snapshot; the publisher never blocks. The snapshot ROUTER uses ZMQ_ROUTER_MANDATORY
 * and non-blocking sends with SNDHWM = max_items + 2: a snapshot that does not fit is abandoned with ERROR
 * (counted). Each stream holds at most max_items keys; an update beyond that is refused (-ENOSPC, counted,
 * nothing published), so what was published is always in the snapshot.
 *
 * Threads: one thread per struct (server or client). Errors: 0 or a negative errno.
 */
#ifndef AN_PUB_H
#define AN_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

#define AN_PUB_ENDPOINT_DEFAULT "tcp://127.0.0.1:5571"
#define AN_PUB_SNAPSHOT_ENDPOINT_DEFAULT "tcp://127.0.0.1:5572"
#define AN_PUB_SNDHWM 10000
#define AN_PUB_MAX_ITEMS_DEFAULT (1u << 20)
#define AN_PUB_HUGZ_MS 1000u
#define AN_PUB_TOPIC_MAX 32u
#define AN_PUB_BODY_MAX 512u
#define AN_PUB_POLLITEMS 1u /* the snapshot ROUTER */

enum an_pub_stream { AN_PUB_FIX = 0, AN_PUB_IND = 1, AN_PUB_HAZARD = 2, AN_PUB_STATUS = 3, AN_PUB_STREAMS = 4 };

/* "fix" "ind" "hazard" "status"; NULL for an unknown stream. */
const char *an_pub_stream_name(enum an_pub_stream s);
/* @retval the stream, or -EINVAL */
int an_pub_stream_parse(const char *name);

enum { /* hazard body keys */
	AN_PUB_HZ_K_ID = 1, AN_PUB_HZ_K_STATUS = 2, AN_PUB_HZ_K_P_PPM = 3, AN_PUB_HZ_K_LOGODDS = 4,
	AN_PUB_HZ_K_LAT = 5, AN_PUB_HZ_K_LON = 6, AN_PUB_HZ_K_ANIMALS = 7, AN_PUB_HZ_K_NIND = 8,
	AN_PUB_HZ_K_SIGMA = 9, AN_PUB_HZ_K_TASK = 10, AN_PUB_HZ_K_INTO = 11, AN_PUB_HZ_K_X = 12, AN_PUB_HZ_K_Y = 13,
};
struct an_pub_hazard {
	uint64_t id;
	uint8_t status; /* enum an_hazard_status; 9 = superseded (removes the key) */
	uint32_t p_ppm;
	int64_t log_odds_q10;
	bool has_latlon;
	int32_t lat_e7, lon_e7;
	uint32_t n_animals, n_ind, sigma_mm;
	uint64_t task_id;
	uint64_t into_id;
	int64_t x_mm, y_mm;
};
enum { AN_PUB_GW_K_ID = 1, AN_PUB_GW_K_SEQ = 2, AN_PUB_GW_K_BATCHES = 3, AN_PUB_GW_K_RECORDS = 4, AN_PUB_GW_K_LAST = 5 };
struct an_pub_gw {
	uint16_t gw_id;
	uint64_t last_gw_seq, batches, records, last_batch_ms;
};

/* Body codecs (caller buffers of AN_PUB_BODY_MAX). @retval 0, -ENOBUFS / -EBADMSG */
int an_pub_hazard_encode(const struct an_pub_hazard *h, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));
int an_pub_hazard_decode(const uint8_t *buf, size_t len, struct an_pub_hazard *h) __attribute__((warn_unused_result));
int an_pub_gw_encode(const struct an_pub_gw *g, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* ---- server ------------------------------------------------------------------------------------------ */

struct an_pub_config {
	const char *pub_endpoint;  /* bind; NULL = AN_PUB_ENDPOINT_DEFAULT ("tcp://127.0.0.1:*" for tests) */
	const char *snap_endpoint; /* bind; NULL = AN_PUB_SNAPSHOT_ENDPOINT_DEFAULT */
	int sndhwm;                /* PUB per-subscriber high-water mark; 0 = AN_PUB_SNDHWM */
	size_t max_items;          /* per stream; 0 = AN_PUB_MAX_ITEMS_DEFAULT */
	uint64_t epoch;            /* 0 = random (getrandom); tests may fix it */
	void *zctx;                /* ZeroMQ context (not owned) */
};

struct an_pub_stats {
	uint64_t published[AN_PUB_STREAMS];
	uint64_t refused_full;     /* updates refused: a stream at max_items */
	uint64_t send_errors;      /* PUB send failed (never EAGAIN: PUB drops at HWM inside libzmq) */
	uint64_t hugz;
	uint64_t snapshots, snapshot_items, snapshot_aborted, snapshot_bad;
	size_t items[AN_PUB_STREAMS];
};

struct an_pub;

/* @retval 0; -EINVAL; -EADDRINUSE; -ENOMEM; -EIO (errbuf says which endpoint and why) */
int an_pub_open(const struct an_pub_config *cfg, struct an_pub **out, char *errbuf, size_t errcap)
	__attribute__((warn_unused_result));
void an_pub_close(struct an_pub *p); /* NULL is a no-op; linger 0 */
uint64_t an_pub_epoch(const struct an_pub *p);
uint64_t an_pub_seq(const struct an_pub *p, enum an_pub_stream s);
/* Bound endpoints (ZMQ_LAST_ENDPOINT). @retval 0, -ENOBUFS, -EIO */
int an_pub_endpoints(struct an_pub *p, char *pub, size_t pub_cap, char *snap, size_t snap_cap)
	__attribute__((warn_unused_result));

/* Set a key's value. publish = false loads state without an update (start-up from the store: seq_item 0).
 * The raw forms take an already encoded body; the typed forms encode. A hazard with status 9 removes its
 * key (published when publish is true).
 * @retval 0; -ENOSPC stream full (nothing published); -EINVAL; -ENOBUFS; -ENOMEM; -EIO send failed */
int an_pub_put(struct an_pub *p, enum an_pub_stream s, uint64_t key, const char *topic, const uint8_t *body,
               size_t len, bool publish) __attribute__((warn_unused_result));
int an_pub_fix(struct an_pub *p, uint16_t collar_id, const struct proto_fix *f, bool publish)
	__attribute__((warn_unused_result));
int an_pub_ind(struct an_pub *p, uint16_t collar_id, const struct proto_ind *i, bool publish)
	__attribute__((warn_unused_result));
int an_pub_hazard(struct an_pub *p, const struct an_pub_hazard *h, bool publish) __attribute__((warn_unused_result));
int an_pub_gateway(struct an_pub *p, const struct an_pub_gw *g, bool publish) __attribute__((warn_unused_result));

/* A tap: called synchronously by every successful an_pub_put (and the typed forms) after the map took the
 * value, with seq = the update's sequence number, or 0 for state loaded with publish = false. body is
 * borrowed for the call. For an in-process consumer (scentrack-core's web server) that must see every
 * update in commit order without a SUB socket's slow-joiner loss or high-water drops. NULL removes it. */
typedef void (*an_pub_tap_fn)(void *ctx, enum an_pub_stream s, uint64_t key, uint64_t seq, const uint8_t *body,
                              size_t len);
void an_pub_set_tap(struct an_pub *p, an_pub_tap_fn fn, void *ctx);

/* The current value of a key (borrowed until the next put). @retval 0; -ENOENT not live; -EINVAL */
int an_pub_get(struct an_pub *p, enum an_pub_stream s, uint64_t key, const uint8_t **body, size_t *len)
	__attribute__((warn_unused_result));

/* Send HUGZ if nothing was published for AN_PUB_HUGZ_MS (now_ms monotonic, injected). Returns the ms until
 * the next call is due (for the poll timeout). */
uint64_t an_pub_tick(struct an_pub *p, uint64_t now_ms);
/* The snapshot ROUTER's poll item; returns the count written. */
size_t an_pub_pollitems(struct an_pub *p, void *items, size_t cap);
/* Answer pending snapshot requests (up to budget, 0 = 64). @retval 0, -EIO */
int an_pub_service(struct an_pub *p, unsigned budget) __attribute__((warn_unused_result));
void an_pub_stats(const struct an_pub *p, struct an_pub_stats *st);
/* FNV-1a over the stream's live (key, topic, body) in key order: equal maps give equal digests. */
uint64_t an_pub_digest(const struct an_pub *p, enum an_pub_stream s);

/* ---- client (Clone subscriber) ------------------------------------------------------------------------- */

struct an_pub_client;
/* Called for every applied update (not for snapshot items). body is borrowed. */
typedef void (*an_pub_client_fn)(void *ctx, const char *topic, uint64_t seq, const uint8_t *body, size_t len);

struct an_pub_client_stats {
	uint64_t snapshots;      /* completed */
	uint64_t applied;        /* updates applied */
	uint64_t dropped_old;    /* updates with seq <= the snapshot's or the last applied */
	uint64_t holes;          /* seq > expected: resynchronised */
	uint64_t epoch_changes;  /* a new epoch seen (core restart): resynchronised */
	uint64_t hugz, hugz_ahead; /* heartbeats; heartbeats ahead of us (tail lost): resynchronised */
	uint64_t stale;          /* messages of an earlier epoch, dropped */
};

/* Subscribe to stream on pub_ep (SUB connect) and prepare the snapshot DEALER on snap_ep. Does not block. */
int an_pub_client_open(void *zctx, const char *pub_ep, const char *snap_ep, enum an_pub_stream s,
                       struct an_pub_client **out) __attribute__((warn_unused_result));
void an_pub_client_close(struct an_pub_client *c);
/* Fetch a snapshot (blocks up to timeout_ms). @retval 0; -ETIMEDOUT; -EPROTO (ERROR reply, bad frames) */
int an_pub_client_sync(struct an_pub_client *c, int timeout_ms) __attribute__((warn_unused_result));
/* Wait up to timeout_ms for updates and apply everything pending; re-snapshots (blocking up to
 * sync_timeout_ms) on a hole, a new epoch or a HUGZ ahead. fn may be NULL.
 * @retval number of updates applied (>= 0); -ETIMEDOUT a re-snapshot failed; -EIO */
int an_pub_client_poll(struct an_pub_client *c, int timeout_ms, int sync_timeout_ms, an_pub_client_fn fn,
                       void *ctx) __attribute__((warn_unused_result));
/* The SUB socket's poll item (to wait on several clients and other sockets in one zmq_poll; then call
 * an_pub_client_poll with timeout 0). Returns the count written. */
size_t an_pub_client_pollitems(struct an_pub_client *c, void *items, size_t cap);
uint64_t an_pub_client_epoch(const struct an_pub_client *c);
uint64_t an_pub_client_seq(const struct an_pub_client *c); /* last applied (or snapshot) seq */
size_t an_pub_client_count(const struct an_pub_client *c);
/* Live items in key order. @retval -ENOENT index out of range */
int an_pub_client_get(const struct an_pub_client *c, size_t index, uint64_t *key, const char **topic,
                      const uint8_t **body, size_t *len) __attribute__((warn_unused_result));
uint64_t an_pub_client_digest(const struct an_pub_client *c); /* as an_pub_digest */
void an_pub_client_stats(const struct an_pub_client *c, struct an_pub_client_stats *st);

#endif
