/*
 * gateway/src/status_zmq.c — the status JSON on request over ZeroMQ (a REP socket), beside the unix socket.
 *
 * [gateway] status_zmq = tcp://127.0.0.1:5571 (or ipc://...; "" = off, the default). Any request (its
 * content is ignored) is answered with the same document `scentrack-gateway --status` prints, rendered from
 * the same status server sections. No CURVE: bind it to loopback or an ipc path (the document names collars
 * and counters, never keys). `scentrack-gateway --status -s tcp://...` is the client (gw_status_zmq_query).
 *
 * Loop integration as in upstream_daemon.c: ZMQ_FD is edge-triggered, so the fd callback and a prepare
 * hook both drain every request ZMQ_EVENTS reports; a reply never blocks (REP: one answer per request).
 * One instance per process, static: the loop's prepare hook cannot be removed and must find it stopped.
 */
#include "gw/status.h"
#include "gw/log.h"
#include "gw/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

struct gw_status_zmq {
	void *ctx, *rep;
	int fd;
	struct gw_loop *loop;
	struct gw_status_server *srv;
	uint64_t answered, failed;
};

static int readable(struct gw_status_zmq *z)
{
	int ev = 0;
	size_t l = sizeof ev;
	return zmq_getsockopt(z->rep, ZMQ_EVENTS, &ev, &l) == 0 && (ev & ZMQ_POLLIN);
}

static void drain(struct gw_status_zmq *z)
{
	while (readable(z)) {
		zmq_msg_t m;
		int more = 1;
		while (more) { /* the request's parts: content ignored */
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, z->rep, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&m);
				return;
			}
			more = zmq_msg_more(&m);
			zmq_msg_close(&m);
		}
		struct gw_json j;
		gw_json_init(&j, GW_STATUS_MAX);
		gw_status_server_render(z->srv, &j);
		const char *doc = j.err ? "{\"error\":\"status too large\"}" : j.buf;
		size_t len = j.err ? strlen(doc) : j.len;
		if (zmq_send(z->rep, doc, len, ZMQ_DONTWAIT) < 0) {
			z->failed++;
			gw_log(GW_LOG_WARN, "status", "ZeroMQ status reply: %s", zmq_strerror(zmq_errno()));
		} else {
			z->answered++;
		}
		gw_json_free(&j);
	}
}

static void on_fd(struct gw_loop *l, int fd, short revents, void *arg)
{
	(void)l, (void)fd, (void)revents;
	if (arg)
		drain(arg);
}

static int on_prepare(struct gw_loop *l, void *arg)
{
	(void)l;
	struct gw_status_zmq *z = arg;
	if (!z || !z->rep)
		return 0;
	drain(z);
	return 0;
}

int gw_status_zmq_open(struct gw_status_zmq **out, struct gw_loop *l, struct gw_status_server *srv,
                       const char *endpoint)
{
	static struct gw_status_zmq one;
	static bool hooked;
	int err = -ENOMEM;
	struct gw_status_zmq *z = &one;
	if (z->rep)
		return -EBUSY;
	memset(z, 0, sizeof *z);
	z->loop = l;
	z->srv = srv;
	z->fd = -1;
	if (!(z->ctx = zmq_ctx_new()) || !(z->rep = zmq_socket(z->ctx, ZMQ_REP)))
		goto out_free;
	int linger = 0;
	zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_bind(z->rep, endpoint) < 0) {
		err = -zmq_errno();
		gw_log(GW_LOG_ERR, "status", "ZeroMQ status: cannot bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
		goto out_free;
	}
	size_t fl = sizeof z->fd;
	if (zmq_getsockopt(z->rep, ZMQ_FD, &z->fd, &fl) < 0) {
		err = -EIO;
		goto out_free;
	}
	if ((err = gw_loop_fd_add(l, z->fd, POLLIN, on_fd, z)) < 0)
		goto out_free;
	if (!hooked && (err = gw_loop_prepare_add(l, on_prepare, z)) < 0) {
		gw_loop_fd_del(l, z->fd);
		goto out_free;
	}
	hooked = true;
	gw_log(GW_LOG_NOTE, "status", "status JSON on request at %s (ZeroMQ REP)", endpoint);
	*out = z;
	return 0;
out_free:
	if (z->rep)
		zmq_close(z->rep);
	if (z->ctx)
		zmq_ctx_term(z->ctx);
	memset(z, 0, sizeof *z);
	return err;
}

void gw_status_zmq_close(struct gw_status_zmq *z)
{
	if (!z)
		return;
	/* The prepare hook cannot be removed: it finds rep NULL and does nothing. */
	gw_loop_fd_del(z->loop, z->fd);
	zmq_close(z->rep);
	z->rep = NULL;
	zmq_ctx_term(z->ctx);
	z->ctx = NULL;
}

int gw_status_zmq_query(const char *endpoint, int out_fd, int timeout_ms)
{
	int err = 0;
	void *ctx = zmq_ctx_new(), *req = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
	if (!req) {
		err = -ENOMEM;
		goto out;
	}
	int linger = 0;
	zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
	zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
	if (zmq_connect(req, endpoint) < 0 || zmq_send(req, "status", 6, 0) < 0) {
		err = -zmq_errno();
		goto out;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, req, 0) < 0) {
		err = zmq_errno() == EAGAIN ? -ETIMEDOUT : -zmq_errno();
		zmq_msg_close(&m);
		goto out;
	}
	const char *p = zmq_msg_data(&m);
	size_t left = zmq_msg_size(&m);
	while (left) {
		ssize_t w = write(out_fd, p, left);
		if (w < 0) {
			err = -errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (!err && write(out_fd, "\n", 1) < 0)
		err = -errno;
	zmq_msg_close(&m);
out:
	if (req)
		zmq_close(req);
	if (ctx)
		zmq_ctx_term(ctx);
	return err;
}
