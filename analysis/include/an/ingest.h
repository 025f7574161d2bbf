/*
 * an/ingest.h — the core's end of the gateway → core transport: ZeroMQ ROUTER (bind) with CURVE server and
 * a ZAP allow-list of gateway keys; commits batches through the store and acks only after the commit
 * (protocol.md §8.4/§8.5, DESIGN.md decisions 2, 7, 8). The gateway's end is gw/upstream.h.
 *
 * Wire (one ZeroMQ message = [routing id][type byte][body]; the gateway's routing id is "gw-<gw_id>"):
 *   in   0x30 BATCH      proto_batch body, at most PROTO_BATCH_BODY_MAX bytes
 *        0x3E PING       empty body → answered with 0x3F PONG (empty)
 *   out  0x31 BATCH_ACK  {gw_seq: every batch <= this is committed, stored, dup} — after the commit only
 *        0x32 CREDIT     {n} after every BATCH_ACK: the gateway may keep n unacked batches in flight
 *        0x3D NACK       BATCH_ACK body, sent instead of BATCH_ACK when a batch is refused (gap, undecodable,
 *                        gw_id not the authenticated gateway, store failure); gw_seq = the gateway's last
 *                        committed one (0 if none), so the gateway resends from there.
 *   Every BATCH gets exactly one answer (BATCH_ACK or NACK) unless the gateway has gone (ROUTER_MANDATORY:
 *   counted as unroutable, never silently).
 *
 * Authentication (fail closed, three layers):
 *   1. CURVE server (ZMQ_CURVE_SERVER=1 + the core's secret key): only clients that know the core's public
 *      key complete a handshake, and the traffic is encrypted.
 *   2. ZAP handler (own thread, inproc://zeromq.zap.01 in the ingest's ZeroMQ context) with the allow-list
 *      file: one gateway per line, "<gw_id> <40-char Z85 public key>", '#' comments. It answers 200 with
 *      User-Id = "<gw_id>" for a listed key, 400 otherwise. ZMQ_ZAP_DOMAIN is set and
 *      ZMQ_ZAP_ENFORCE_DOMAIN=1, so a missing handler fails the handshake instead of accepting any key
 *      (libzmq's "Stonehouse" fallback).
 *   3. Every BATCH: the message's User-Id (zmq_msg_gets) must be present and equal the batch's gw_id, and
 *      the routing id must be "gw-<User-Id>" (a gateway cannot take over another's ROUTER_HANDOVER slot).
 *   an_ingest_allow_reload() re-reads the allow-list (key revocation; existing connections keep their
 *   identity until they reconnect).
 *
 * Idempotence: the store refuses a gw_seq gap and treats gw_seq <= last committed as a replay (records
 * deduplicated on (collar_id, rec_seq), acked again with the store's cumulative gw_seq).
 *
 * Commit: through an_ingest_sink. an_ingest_sink_store() fills it for the real store (an/store.h):
 * an_store_ingest_batch does records + the gateway's last gw_seq in one transaction.
 *
 * Event loop: an_ingest_pollitems() / an_ingest_service(); never blocks except inside the commit.
 * Threads: the struct is used from one thread (plus the ZAP thread it owns).
 */
#ifndef AN_INGEST_H
#define AN_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "proto/msg.h"

struct an_store;
struct an_store_ingest_result;

/* Transport-only message types, same values as gw/upstream.h. */
#define AN_INGEST_T_NACK 0x3Du
#define AN_INGEST_T_PING 0x3Eu
#define AN_INGEST_T_PONG 0x3Fu

#define AN_INGEST_ENDPOINT_DEFAULT "tcp://127.0.0.1:5570" /* loopback by default (DESIGN.md decision 7) */
#define AN_INGEST_ZAP_DOMAIN_DEFAULT "scentrack"
#define AN_INGEST_KEY_Z85_LEN 40u
#define AN_INGEST_ENDPOINT_MAX 256u
#define AN_INGEST_POLLITEMS 2u /* ROUTER + monitor */
/* Frames larger than this make libzmq drop the connection (memory bound); larger than PROTO_BATCH_BODY_MAX
 * but below it are refused by the decoder, counted, and the connection lives on. */
#define AN_INGEST_MAXMSGSIZE (1 << 20)

struct an_ingest_sink {
	void *ctx;
	/* Commit one decoded batch in ONE transaction. r->ack_gw_seq = the gateway's last committed gw_seq
	 * afterwards. Returns 0, -EPROTO for a gap (nothing stored), other negative codes for failures.
	 * errbuf gets the reason. */
	int (*commit)(void *ctx, const struct proto_batch *b, struct an_store_ingest_result *r, char *errbuf,
	              size_t errcap);
	/* The gateway's last committed gw_seq (*known = false, *gw_seq = 0 if it never committed one). */
	int (*last_seq)(void *ctx, uint16_t gw_id, uint64_t *gw_seq, bool *known);
};
/* Sink for the real store (s stays owned by the caller, used from the ingest's thread only). */
void an_ingest_sink_store(struct an_ingest_sink *sink, struct an_store *s);

typedef void (*an_ingest_log_fn)(void *ctx, int level, const char *msg); /* level: syslog LOG_ERR..LOG_DEBUG */

struct an_ingest_config {
	const char *endpoint;      /* bind; NULL = AN_INGEST_ENDPOINT_DEFAULT; "tcp://127.0.0.1:*" for tests */
	char secret[AN_INGEST_KEY_Z85_LEN + 1]; /* the core's CURVE secret key, Z85 */
	const char *allow_path;    /* allow-list file (required unless test_no_zap) */
	const char *zap_domain;    /* NULL = AN_INGEST_ZAP_DOMAIN_DEFAULT */
	uint16_t credit;           /* 1..1024, 0 = 16 */
	int hb_ivl_ms, hb_timeout_ms, hb_ttl_ms; /* ZMTP heartbeats, 0 = 1000 / 3000 / 6000 */
	bool test_no_zap;          /* tests only: no ZAP handler (the core must then refuse every gateway) */
	an_ingest_log_fn log;      /* NULL = stderr, rate-limited */
	void *log_ctx;
	void *zctx;                /* ZeroMQ context; NULL = own (the ZAP handler is per context) */
};

struct an_ingest_stats {
	uint64_t msgs;               /* messages received */
	uint64_t batches;            /* BATCH messages */
	uint64_t committed;          /* batches committed (new gw_seq) */
	uint64_t replays;            /* batches with gw_seq <= last committed (acked, nothing new) */
	uint64_t records_stored, records_dup, records_conflict;
	uint64_t rej_decode;         /* undecodable / hostile body (oversize included) */
	uint64_t rej_identity;       /* no User-Id, User-Id != batch gw_id, or routing id not "gw-<User-Id>" */
	uint64_t rej_gap;            /* gw_seq gap (store -EPROTO) */
	uint64_t rej_store;          /* any other commit failure */
	uint64_t rej_frames;         /* wrong multipart shape or unknown type */
	uint64_t acks_sent, nacks_sent, credits_sent, pongs_sent;
	uint64_t send_unroutable;    /* EHOSTUNREACH: the gateway has gone (ROUTER_MANDATORY) */
	uint64_t send_again;         /* EAGAIN: the gateway's pipe is full */
	uint64_t zap_allowed, zap_denied, zap_malformed; /* ZAP thread */
	uint64_t accepted, disconnects, handshakes; /* monitor */
	uint64_t auth_failures;      /* monitor: HANDSHAKE_FAILED_AUTH (ZAP denied a key) */
	uint64_t handshake_failures; /* monitor: HANDSHAKE_FAILED_PROTOCOL / NO_DETAIL (wrong key, no ZAP...) */
	int last_decode_err;         /* proto error code of the last refused body (0 = none) */
};

struct an_ingest;

/* Start the ZAP handler (unless test_no_zap), then bind the ROUTER. errbuf gets a message on failure.
 * @retval 0; -EINVAL bad config / allow-list (line named); -ENOTSUP no CURVE; -EADDRINUSE; -ENOMEM; -EIO */
int an_ingest_open(const struct an_ingest_config *cfg, const struct an_ingest_sink *sink, struct an_ingest **out,
                   char *errbuf, size_t errcap) __attribute__((warn_unused_result));
/* Stop the ZAP thread, close the sockets (linger 0: unsent acks are worthless, the gateway resends). */
void an_ingest_close(struct an_ingest *ing);

/* The bound endpoint (ZMQ_LAST_ENDPOINT: the real port for "tcp://...:*"). @retval 0, -ENOBUFS, -EIO */
int an_ingest_endpoint(struct an_ingest *ing, char *buf, size_t cap) __attribute__((warn_unused_result));

/* Handle what is pending: monitor events, then up to `budget` messages (0 = 256). @retval 0, -EIO */
int an_ingest_service(struct an_ingest *ing, unsigned budget) __attribute__((warn_unused_result));
/* zmq_poll items for the ROUTER and the monitor; returns the count written (cap >= AN_INGEST_POLLITEMS). */
size_t an_ingest_pollitems(struct an_ingest *ing, zmq_pollitem_t *items, size_t cap);

/* Re-read the allow-list (the old one stays in force if the new one is malformed).
 * @retval 0; -EINVAL (errbuf names the line); -errno */
int an_ingest_allow_reload(struct an_ingest *ing, char *errbuf, size_t errcap) __attribute__((warn_unused_result));
/* Change the credit granted from the next BATCH_ACK on (1..1024). @retval 0, -EINVAL */
int an_ingest_set_credit(struct an_ingest *ing, uint16_t credit);
/* Send a CMD for collar_id to gateway gw_id (ZeroMQ message [0x11][collar_id LE16 + CMD body], see
 * gw/upstream.h); the gateway queues it and relays the collar's CMD_ACK back in a BATCH.
 * @retval 0; -EINVAL bad cmd/ids; -EHOSTUNREACH that gateway is not connected; -EAGAIN would block */
struct proto_cmd;
int an_ingest_send_cmd(struct an_ingest *ing, uint16_t gw_id, uint16_t collar_id, const struct proto_cmd *cmd);

void an_ingest_stats(const struct an_ingest *ing, struct an_ingest_stats *st);
/* The last refusal or failure in words ("" if none). */
const char *an_ingest_last_error(const struct an_ingest *ing);

/* ---- allow-list and keys (also used by the ZAP handler) ------------------------------------------------- */

struct an_ingest_allow; /* parsed allow-list */
/* Parse the file. errbuf gets "path:line: why". @retval 0; -EINVAL; -errno; -ENOMEM */
int an_ingest_allow_load(const char *path, struct an_ingest_allow **out, char *errbuf, size_t errcap)
	__attribute__((warn_unused_result));
void an_ingest_allow_free(struct an_ingest_allow *a);
/* The gateway id of a 32-byte public key, 0 if not listed. */
uint16_t an_ingest_allow_lookup(const struct an_ingest_allow *a, const uint8_t key[32]);
size_t an_ingest_allow_count(const struct an_ingest_allow *a);

/* Read a Z85 key file (first non-comment line, exactly 40 Z85 characters). @retval 0, -EINVAL, -errno */
int an_ingest_key_read(const char *path, char z85[AN_INGEST_KEY_Z85_LEN + 1], char *errbuf, size_t errcap)
	__attribute__((warn_unused_result));
/* New pair written to files (secret 0600, both O_EXCL). @retval 0, -EEXIST, -errno, -ENOTSUP */
int an_ingest_keygen_files(const char *public_path, const char *secret_path) __attribute__((warn_unused_result));

#endif
