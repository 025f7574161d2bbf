/*
 * gw/status.h — the daemon's status as one JSON object, served on a unix socket.
 *
 * `scentrack-gateway --status` connects to the socket of the running daemon (status_socket in the config),
 * which writes one JSON document and closes: always fresh, no polling interval, nothing on disk. Every
 * module contributes a section through gw_status_server_add() (the upstream adds "upstream"); sections are
 * produced on request from the loop thread, so they read live state without locks.
 *
 * Bounds: a document is at most GW_STATUS_MAX bytes (a section that would overflow it is cut and
 * "truncated": true is set), at most GW_STATUS_CLIENTS clients are served at once (more are closed at once),
 * and a client that does not read its document within GW_STATUS_TIMEOUT_MS is dropped.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stddef.h>
#include <stdint.h>

#define GW_STATUS_MAX (1u << 20)
#define GW_STATUS_CLIENTS 8u
#define GW_STATUS_TIMEOUT_MS 2000u
#define GW_STATUS_SECTIONS 16u
#define GW_JSON_DEPTH 16u

/* A bounded JSON writer (heap buffer, grows up to cap). Errors are sticky: check err once at the end. */
struct gw_json {
	char *buf;
	size_t len, cap, max;
	int err;                       /* -ENOMEM, -E2BIG (max reached), -EINVAL (nesting) */
	unsigned depth;
	uint8_t first[GW_JSON_DEPTH];  /* no member written yet at this depth */
};

void gw_json_init(struct gw_json *j, size_t max);
void gw_json_free(struct gw_json *j);
/* key is NULL inside arrays (and for the top-level object). */
void gw_json_obj_begin(struct gw_json *j, const char *key);
void gw_json_obj_end(struct gw_json *j);
void gw_json_arr_begin(struct gw_json *j, const char *key);
void gw_json_arr_end(struct gw_json *j);
void gw_json_u64(struct gw_json *j, const char *key, uint64_t v);
void gw_json_i64(struct gw_json *j, const char *key, int64_t v);
void gw_json_bool(struct gw_json *j, const char *key, int v);
void gw_json_str(struct gw_json *j, const char *key, const char *s);  /* escaped */

/* Write the members of the section object (the server opens and closes it). */
typedef void (*gw_status_section_fn)(void *arg, struct gw_json *j);

struct gw_loop;
struct gw_status_server;

/* Listen on path (an existing socket file is replaced; its directory must exist).
 * @retval 0; -errno (socket/bind/listen), -ENOMEM */
int gw_status_server_open(struct gw_status_server **out, struct gw_loop *l, const char *path)
	__attribute__((warn_unused_result));
/* NULL-safe; removes the socket file. */
void gw_status_server_close(struct gw_status_server *s);
/* Add a section "name": {...}, produced by fn. @retval 0, -ENOSPC */
int gw_status_server_add(struct gw_status_server *s, const char *name, gw_status_section_fn fn, void *arg);
/* Produce the whole document into j (also used for the stats log line and tests). */
void gw_status_server_render(struct gw_status_server *s, struct gw_json *j);

/* Client side of --status: connect to path, copy the document to fd out. Waits at most timeout_ms.
 * @retval 0; -ECONNREFUSED/-ENOENT no daemon there; -ETIMEDOUT; -errno */
int gw_status_query(const char *path, int out_fd, int timeout_ms);

/* The same document on request over ZeroMQ (gateway/src/status_zmq.c): a REP socket bound to endpoint,
 * served from the loop. One per process. @retval 0, -EBUSY (already open), or a negative errno. */
struct gw_status_zmq;
int gw_status_zmq_open(struct gw_status_zmq **out, struct gw_loop *l, struct gw_status_server *srv,
                       const char *endpoint) __attribute__((warn_unused_result));
void gw_status_zmq_close(struct gw_status_zmq *z);
/* Client: one request to endpoint, the reply (+ newline) written to out_fd. @retval 0, -ETIMEDOUT, <0 */
int gw_status_zmq_query(const char *endpoint, int out_fd, int timeout_ms);

#endif
