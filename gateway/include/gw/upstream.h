/*
 * gw/upstream.h — the gateway's link to the correlation core: ZeroMQ DEALER over tcp with CURVE,
 * credit-based flow control, cumulative acks and Paranoid-Pirate liveness (protocol.md §3.3, §8.4, §8.5).
 *
 * Delivery contract (DESIGN.md decision 2). Batches come from a source (the spool) that numbers them with a
 * persistent, contiguous gw_seq and rebuilds them byte-identically on demand. The upstream never holds a
 * batch of its own: it asks the source for "the batch after S" whenever it (re)sends, so everything the
 * core has not acknowledged is still on the gateway's disk. The core acks cumulatively (BATCH_ACK gw_seq =
 * "every batch <= gw_seq is committed"), only after its store commit; only then is source->acked called,
 * and the spool may drop those batches. At-least-once on the wire + dedupe on (collar_id, rec_seq) at the
 * core = effectively once.
 *
 * Flow control: at most `credit` batches after the last acked one are on the wire. The credit starts at
 * cfg.initial_credit and follows every CREDIT the core sends. ZeroMQ's HWMs are only a safety net.
 *
 * When the upstream resends everything after the last acked gw_seq (a "rewind"):
 *   - a new connection completed its CURVE handshake (ZMQ_EVENT_HANDSHAKE_SUCCEEDED): whatever was on the
 *     old TCP connection may be gone (libzmq #3392, zyre #529) — the core treats copies as replays;
 *   - the core refused a batch (NACK, below): later batches on the wire will be refused as gaps too, so the
 *     upstream rewinds once per acked value and ignores the NACKs that follow for the same value;
 *   - no ack progress for cfg.ack_timeout_ms while batches are in flight (a refused batch whose NACK was
 *     lost, a store that keeps failing): Go-Back-N by timeout, so a stuck core costs one retry per timeout;
 *   - liveness expired: the socket is destroyed and recreated (Paranoid Pirate), see below.
 *
 * Liveness. Every cfg.ping_ivl_ms the upstream sends PING; any message from the core restores the liveness
 * to cfg.liveness. An interval without any message while the connection is up costs one unit; at 0 the
 * socket is closed and a new one is created after a back-off that doubles from cfg.backoff_min_ms to
 * cfg.backoff_max_ms (reset by any message from the core). While no connection is up the liveness is not
 * spent: libzmq's own reconnect (ZMQ_RECONNECT_IVL 1 s .. ZMQ_RECONNECT_IVL_MAX 32 s) is already retrying
 * and a new socket would not connect sooner. ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT/TTL 1/3/6 s) catch a
 * dead TCP peer; the application PING catches a live libzmq in a core that no longer answers.
 *
 * Wire (multipart, one ZeroMQ message = [type byte][body]):
 *   gateway → core  0x30 BATCH      proto_batch body (<= PROTO_BATCH_BODY_MAX)
 *                   0x3E PING       empty body (GW_UP_T_PING)
 *   core → gateway  0x31 BATCH_ACK  proto_batch_ack body, sent only after the commit (or for a replay)
 *                   0x32 CREDIT     proto_credit body
 *                   0x3D NACK       proto_batch_ack body: "batch refused; every gw_seq <= this is committed"
 *                                   (gap, undecodable batch, gw_id != authenticated gateway, store error)
 *                   0x3F PONG       empty body, answers PING
 *                   0x11 CMD        collar_id (2 bytes, little-endian) + a proto CMD body: a command for
 *                                   that collar, handed to cfg.on_cmd (the daemon queues it in the
 *                                   pipeline, piggy-backed on the collar's ACKs; its CMD_ACK comes back
 *                                   upstream as a record of a BATCH)
 *   0x3D..0x3F are transport-only types of this module and the core's ingest (an/ingest.h has the same
 *   values); they never travel on the radio and are not in proto/.
 *
 * Authentication: CURVE client (ZMQ_CURVE_SERVERKEY = the core's public key; PUBLICKEY/SECRETKEY = this
 * gateway's pair); ZMQ_ROUTING_ID = "gw-<gw_id>". The core's ZAP handler allow-lists this gateway's public
 * key and maps it to gw_id; the core refuses batches whose gw_id differs. Handshake failures are counted
 * from the socket monitor (a refused key shows as ZMQ_EVENT_HANDSHAKE_FAILED_AUTH).
 *
 * Keys: Z85 text files (40 characters, one line; '#' comment lines allowed), made with zmq_curve_keypair:
 *     gw_up_keygen_files("gw7.pub", "gw7.key")   (the secret file is created 0600, never overwritten)
 * The public key goes into the core's allow-list as "7 <public key>"; the gateway's config names its secret
 * file (the public key is derived from it) and the core's public key file.
 *
 * Event loop. The upstream never blocks. Poll the items from gw_up_pollitems() (zmq_poll) or the fds from
 * gw_up_fds() (poll(2); these are ZMQ_FD, edge-triggered: call gw_up_service after every wake-up and from
 * a prepare hook), and call gw_up_service(up, now_ms) when one is readable, when gw_up_next_deadline()
 * passes, and after the source grew. The sockets change when the upstream recreates them:
 * gw_up_generation() changes then and the caller re-registers. now_ms is a monotonic clock (injected so tests
 * can run liveness without waiting).
 *
 * Threads: one thread owns a struct gw_up.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "proto/msg.h"

/* Transport-only message types (see above). */
#define GW_UP_T_NACK 0x3Du
#define GW_UP_T_PING 0x3Eu
#define GW_UP_T_PONG 0x3Fu

#define GW_UP_KEY_Z85_LEN 40u        /* a CURVE key in Z85 text, without the NUL */
#define GW_UP_ENDPOINT_MAX 256u
#define GW_UP_CREDIT_MAX 1024u       /* = CREDIT's range in proto */
#define GW_UP_POLLITEMS 2u           /* data socket + monitor */

/* The batch source: maps 1:1 onto gw/spool.h (gw_spool_batch / gw_spool_acked / gw_spool_acked_seq). */
struct gw_up_source {
	void *ctx;
	/* Fill body[0..cap) with the first batch whose gw_seq > after; *len, *gw_seq set.
	 * Returns 1 = filled, 0 = none yet, < 0 error. Byte-identical every time it is asked for the same batch.
	 * gw_seq must be after + 1 when after is the last acked or a batch it returned (the core refuses gaps). */
	int (*batch)(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq);
	/* The core committed every batch <= gw_seq: the source may drop them (durably remember the mark). */
	int (*acked)(void *ctx, uint64_t gw_seq);
	/* The last gw_seq the source was told is acked (0 = none). Read at open. */
	int (*acked_seq)(void *ctx, uint64_t *gw_seq);
	/* Optional (may be NULL): what waits in the source after `after`, for the queue-depth counter (the
	 * daemon's spool source counts records, gw_spool_unacked). */
	int (*pending)(void *ctx, uint64_t after, uint64_t *n);
};

struct gw_up_config {
	uint16_t gw_id;                           /* 1..65535; routing id "gw-<id>", must match the ZAP map */
	const char *endpoint;                     /* "tcp://core.example:5570" */
	char server_public[GW_UP_KEY_Z85_LEN + 1]; /* the core's public key, Z85 */
	char secret[GW_UP_KEY_Z85_LEN + 1];        /* this gateway's secret key, Z85 (public derived) */
	/* 0 = default */
	/* Optional (NULL = CMDs refused): a CMD from the core for collar_id (decoded and validated). Return 0
	 * queued, <0 refused (counted; the core's CMD_ACK never comes and it may resend). */
	int (*on_cmd)(void *arg, uint16_t collar_id, const struct proto_cmd *cmd);
	void *on_cmd_arg;
	uint16_t initial_credit;   /* 4: batches in flight before the core's first CREDIT */
	uint32_t ping_ivl_ms;      /* 1000 */
	uint32_t liveness;         /* 3 missed pings */
	uint32_t ack_timeout_ms;   /* 10000 */
	uint32_t backoff_min_ms;   /* 1000 */
	uint32_t backoff_max_ms;   /* 32000 */
	int linger_ms;             /* 1000 (bounded: close never hangs on a dead core) */
	int hb_ivl_ms, hb_timeout_ms, hb_ttl_ms;  /* ZMTP heartbeats 1000 / 3000 / 6000 */
	int reconnect_ivl_ms, reconnect_ivl_max_ms; /* 1000 / 32000 */
	void *zctx;                /* ZeroMQ context to use; NULL = the upstream makes its own */
};

struct gw_up_stats {
	uint64_t batches_sent;     /* BATCH messages put on the wire (resends included) */
	uint64_t batches_resent;   /* of those, batches sent before (after a rewind) */
	uint64_t batches_acked;    /* batches newly covered by a cumulative ack */
	uint64_t acks, nacks, dup_acks; /* BATCH_ACK received, NACK received, acks that did not advance */
	uint64_t credits;          /* CREDIT received */
	uint64_t rewinds;          /* resend-from-acked events (reconnect, NACK, timeout, liveness) */
	uint64_t ack_timeouts;     /* of those, by ack timeout */
	uint64_t ack_ahead;        /* acks beyond anything this process sent (clamped, see gw_up.c) */
	uint64_t pings_sent, pongs;
	uint64_t send_again;       /* sends refused with EAGAIN (no connection yet, HWM) */
	uint64_t reconnects;       /* sockets recreated after liveness expired */
	uint64_t connects, disconnects, handshakes; /* monitor: TCP connected, disconnected, CURVE done */
	uint64_t auth_failures;    /* monitor: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH (key refused by the core's ZAP) */
	uint64_t handshake_failures; /* monitor: HANDSHAKE_FAILED_PROTOCOL / NO_DETAIL (e.g. wrong server key) */
	uint64_t bad_msgs;         /* undecodable or unknown messages from the core */
	uint64_t cmds_in;          /* CMDs from the core handed to cfg.on_cmd and accepted */
	uint64_t cmds_refused;     /* ... refused by it (unknown collar, queue full, no handler) */
	uint64_t source_errors;    /* the source returned < 0 */
	uint64_t source_gaps;      /* the source returned a gw_seq other than after + 1 */
	/* gauges */
	uint64_t acked_seq;        /* last cumulative ack applied to the source */
	uint64_t sent_seq;         /* highest gw_seq on the wire of this connection */
	uint32_t in_flight;        /* sent_seq - acked_seq */
	uint32_t credit;
	uint64_t queue_depth;      /* source->pending after acked_seq (spool: records); 0 if pending is NULL */
	bool connected;            /* a CURVE handshake completed and no disconnect since */
};

struct gw_up;

/* Check cfg, copy it, read source->acked_seq, create the socket and connect (non-blocking).
 * @retval 0; -EINVAL bad config (message logged, names the field); -ENOTSUP libzmq without CURVE;
 *         -ENOMEM; negative source error; -EIO libzmq refused an option (logged with zmq_strerror) */
int gw_up_open(struct gw_up **out, const struct gw_up_config *cfg, const struct gw_up_source *src,
               uint64_t now_ms) __attribute__((warn_unused_result));
/* Close sockets (bounded by linger) and free. NULL-safe. */
void gw_up_close(struct gw_up *up);

/* Do everything that is due: monitor events, messages from the core, timers (ping, liveness, ack timeout,
 * reconnect), then send batches while the credit allows. Never blocks.
 * @retval 0; -EIO unrecoverable libzmq failure (logged). Source errors are counted, not returned. */
int gw_up_service(struct gw_up *up, uint64_t now_ms) __attribute__((warn_unused_result));
/* The latest now_ms at which gw_up_service must be called again (events aside). */
uint64_t gw_up_next_deadline(const struct gw_up *up);

/* zmq_poll items (socket, ZMQ_POLLIN) for the current sockets; returns how many were written (0 while the
 * socket is down waiting for its back-off). cap >= GW_UP_POLLITEMS. */
size_t gw_up_pollitems(struct gw_up *up, zmq_pollitem_t *items, size_t cap);
/* The ZMQ_FDs of the current sockets (edge-triggered), -1 when down. @retval 0, -EIO */
int gw_up_fds(struct gw_up *up, int fds[GW_UP_POLLITEMS]);
/* Changes whenever the sockets were recreated. */
uint32_t gw_up_generation(const struct gw_up *up);

void gw_up_stats(const struct gw_up *up, struct gw_up_stats *st);
/* Last error or notable event in words ("" if none), e.g. "core refused our CURVE key (ZAP denied)". */
const char *gw_up_last_error(const struct gw_up *up);

/* ---- keys ---------------------------------------------------------------------------------------------- */

/* New CURVE key pair as Z85 text (NUL-terminated). @retval 0, -ENOTSUP (no CURVE in libzmq) */
int gw_up_keygen(char public_z85[GW_UP_KEY_Z85_LEN + 1], char secret_z85[GW_UP_KEY_Z85_LEN + 1])
	__attribute__((warn_unused_result));
/* Generate a pair and write it: secret_path created 0600, public_path 0644, both O_EXCL (an existing key is
 * never overwritten). The files hold the Z85 key and a newline.
 * @retval 0; -EEXIST; -errno of open/write/fsync; -ENOTSUP */
int gw_up_keygen_files(const char *public_path, const char *secret_path) __attribute__((warn_unused_result));
/* Read a key file: the first line that is not empty and not a '#' comment must be exactly 40 valid Z85
 * characters (trailing spaces/CR allowed). errbuf (may be NULL) gets "path:line: why".
 * @retval 0; -ENOENT/-EACCES/...; -EINVAL malformed */
int gw_up_key_read(const char *path, char z85[GW_UP_KEY_Z85_LEN + 1], char *errbuf, size_t errcap)
	__attribute__((warn_unused_result));
/* The public key of a secret key (Z85 both). @retval 0, -EINVAL */
int gw_up_key_public(const char *secret_z85, char public_z85[GW_UP_KEY_Z85_LEN + 1])
	__attribute__((warn_unused_result));

#endif
