/*
 * gateway/src/upstream_daemon.c — plugs gw/upstream.h into scentrack-gateway (gw/daemon.h): the spool is the
 * source, the daemon's loop drives it, the status socket shows its counters.
 *
 * [upstream] keys (all others are refused, naming file:line — a typo must not become a default):
 *   endpoint        = tcp://core.example:5570    (required; without [upstream] the gateway only spools)
 *   server_key      = /etc/scentrack/core.pub    (the core's public key, Z85 file; required)
 *   secret_key      = /etc/scentrack/gw7.key     (this gateway's secret key, Z85 file, 0600; required)
 *   initial_credit  = 4       batches in flight before the core's first CREDIT (1..1024)
 *   ping_ms         = 1000    application PING interval (Paranoid Pirate; 3 silent → new socket)
 *   ack_timeout_ms  = 10000   Go-Back-N when no ack progress for this long
 *   reconnect_ms    = 1000    libzmq's reconnect interval after the TCP connection dropped (ZMQ_RECONNECT_IVL)
 *   reconnect_max_ms = 32000  ... doubling up to this (ZMQ_RECONNECT_IVL_MAX)
 * The gateway id is [gateway] id. Make keys with gw_up_keygen_files() (see upstream_keys.c).
 *
 * Loop integration: the ZMQ_FDs are edge-triggered, so the prepare hook (before every poll) services the
 * upstream whenever ZMQ_EVENTS says a socket is readable or the spool committed new records, then re-arms
 * one timer at gw_up_next_deadline(). The fds are re-registered when the upstream recreated its sockets.
 *
 * The state is static (one upstream per process): the loop's prepare hook and the spool's commit
 * subscriber cannot be removed, and the spool's final commit after detach must not touch freed memory.
 */
#include "gw/daemon.h"
#include "gw/log.h"
#include "gw/upstream.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define SUBSYS "upstream"

static struct {
	bool active;
	bool hooks_added;
	struct gw_loop *loop;
	struct gw_spool *spool;
	struct gw_pipeline *pipe;
	struct gw_up *up;
	int fds[GW_UP_POLLITEMS];
	uint32_t gen;
	int timer;
	bool new_data;
} g;

static int src_batch(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	return gw_spool_batch(ctx, after, body, cap, len, gw_seq);
}
static int src_acked(void *ctx, uint64_t gw_seq)
{
	return gw_spool_acked(ctx, gw_seq);
}
static int src_acked_seq(void *ctx, uint64_t *gw_seq)
{
	return gw_spool_acked_seq(ctx, gw_seq);
}

static int src_pending(void *ctx, uint64_t after, uint64_t *n)
{
	(void)after; /* the spool knows its acked mark */
	return gw_spool_unacked(ctx, n);
}

static int src_cmd(void *ctx, uint16_t collar_id, const struct proto_cmd *cmd)
{
	(void)ctx;
	if (!g.pipe)
		return -ENOTSUP;
	return gw_pipeline_cmd_queue(g.pipe, collar_id, cmd, gw_loop_now_ms(g.loop));
}

static void on_commit(void *arg, int ok, unsigned records)
{
	(void)arg;
	if (ok && records)
		g.new_data = true; /* act from the loop: commit callbacks must not call gw_spool_* */
}

static void service(uint64_t now)
{
	if (gw_up_service(g.up, now) < 0)
		gw_log(GW_LOG_ERR, SUBSYS, "libzmq failure: %s", gw_up_last_error(g.up));
}

static void on_fd(struct gw_loop *l, int fd, short revents, void *arg)
{
	(void)fd, (void)revents, (void)arg;
	if (g.active)
		service(gw_loop_now_ms(l));
}

static void on_timer(struct gw_loop *l, int id, void *arg)
{
	(void)id, (void)arg;
	if (g.active)
		service(gw_loop_now_ms(l));
}

static void fds_unregister(void)
{
	for (size_t i = 0; i < GW_UP_POLLITEMS; i++) {
		if (g.fds[i] >= 0)
			gw_loop_fd_del(g.loop, g.fds[i]);
		g.fds[i] = -1;
	}
}

static void fds_sync(void)
{
	if (gw_up_generation(g.up) == g.gen && g.fds[0] >= 0)
		return;
	fds_unregister();
	int fds[GW_UP_POLLITEMS];
	if (gw_up_fds(g.up, fds) < 0)
		return;
	for (size_t i = 0; i < GW_UP_POLLITEMS; i++) {
		if (fds[i] < 0)
			continue;
		if (gw_loop_fd_add(g.loop, fds[i], POLLIN, on_fd, NULL) == 0)
			g.fds[i] = fds[i];
		else
			gw_log(GW_LOG_ERR, SUBSYS, "cannot watch ZeroMQ fd %d", fds[i]);
	}
	g.gen = gw_up_generation(g.up);
}

static bool readable(void)
{
	zmq_pollitem_t it[GW_UP_POLLITEMS];
	size_t n = gw_up_pollitems(g.up, it, GW_UP_POLLITEMS);
	for (size_t i = 0; i < n; i++) {
		int ev = 0;
		size_t l = sizeof ev;
		if (zmq_getsockopt(it[i].socket, ZMQ_EVENTS, &ev, &l) == 0 && (ev & ZMQ_POLLIN))
			return true;
	}
	return false;
}

static int on_prepare(struct gw_loop *l, void *arg)
{
	(void)arg;
	if (!g.active)
		return 0;
	uint64_t now = gw_loop_now_ms(l);
	if (g.new_data || readable()) {
		g.new_data = false;
		service(now);
	}
	fds_sync();
	uint64_t dl = gw_up_next_deadline(g.up);
	gw_loop_timer_rearm(l, g.timer, dl > now ? dl - now : 0);
	return readable() ? 1 : 0;
}

static void status_section(void *arg, struct gw_json *j)
{
	(void)arg;
	if (!g.active)
		return;
	struct gw_up_stats st;
	gw_up_stats(g.up, &st);
	gw_json_bool(j, "connected", st.connected);
	gw_json_u64(j, "acked_gw_seq", st.acked_seq);
	gw_json_u64(j, "sent_gw_seq", st.sent_seq);
	gw_json_u64(j, "in_flight", st.in_flight);
	gw_json_u64(j, "credit", st.credit);
	gw_json_u64(j, "queue_depth", st.queue_depth);
	gw_json_u64(j, "batches_sent", st.batches_sent);
	gw_json_u64(j, "batches_resent", st.batches_resent);
	gw_json_u64(j, "batches_acked", st.batches_acked);
	gw_json_u64(j, "acks", st.acks);
	gw_json_u64(j, "nacks", st.nacks);
	gw_json_u64(j, "rewinds", st.rewinds);
	gw_json_u64(j, "ack_timeouts", st.ack_timeouts);
	gw_json_u64(j, "reconnects", st.reconnects);
	gw_json_u64(j, "handshakes", st.handshakes);
	gw_json_u64(j, "disconnects", st.disconnects);
	gw_json_u64(j, "auth_failures", st.auth_failures);
	gw_json_u64(j, "handshake_failures", st.handshake_failures);
	gw_json_u64(j, "bad_msgs", st.bad_msgs);
	gw_json_u64(j, "source_errors", st.source_errors);
	gw_json_u64(j, "cmds_in", st.cmds_in);
	gw_json_u64(j, "cmds_refused", st.cmds_refused);
	gw_json_str(j, "last_error", gw_up_last_error(g.up));
}

int gw_upstream_attach(const struct gw_daemon_ctx *ctx, void **state)
{
	static const char *const known[] = {"endpoint", "server_key", "secret_key", "initial_credit", "ping_ms",
	                                    "ack_timeout_ms", "reconnect_ms", "reconnect_max_ms"};
	const struct gw_config *cfg = ctx->cfg;
	char err[512];
	int rc;

	*state = NULL;
	if (gw_config_check_keys(cfg, "upstream", known, sizeof known / sizeof known[0]))
		return -EINVAL;
	const char *ep = gw_config_get(cfg, "upstream", "endpoint");
	if (!ep) {
		gw_log(GW_LOG_NOTE, SUBSYS, "no [upstream] endpoint: spooling only, nothing is sent to a core");
		return 0;
	}
	const char *server_key = gw_config_get(cfg, "upstream", "server_key");
	const char *secret_key = gw_config_get(cfg, "upstream", "secret_key");
	if (!server_key || !secret_key) {
		gw_log(GW_LOG_ERR, SUBSYS, "%s: [upstream] needs server_key and secret_key (CURVE key files)", cfg->file);
		return -EINVAL;
	}
	struct gw_up_config uc = {.gw_id = cfg->gw_id, .endpoint = ep};
	uint32_t credit = 0, ping = 0, ack_to = 0, rc_ms = 0, rc_max_ms = 0;
	if ((rc = gw_config_get_u32(cfg, "upstream", "initial_credit", 1, GW_UP_CREDIT_MAX, &credit)) ||
	    (rc = gw_config_get_u32(cfg, "upstream", "ping_ms", 100, 600000, &ping)) ||
	    (rc = gw_config_get_u32(cfg, "upstream", "ack_timeout_ms", 100, 3600000, &ack_to)) ||
	    (rc = gw_config_get_u32(cfg, "upstream", "reconnect_ms", 10, 60000, &rc_ms)) ||
	    (rc = gw_config_get_u32(cfg, "upstream", "reconnect_max_ms", 10, 600000, &rc_max_ms)))
		return rc;
	if (rc_ms && rc_max_ms && rc_max_ms < rc_ms) {
		gw_log(GW_LOG_ERR, SUBSYS, "%s: [upstream] reconnect_max_ms %" PRIu32 " < reconnect_ms %" PRIu32, cfg->file,
		       rc_max_ms, rc_ms);
		return -EINVAL;
	}
	uc.reconnect_ivl_ms = (int)rc_ms;
	uc.reconnect_ivl_max_ms = (int)rc_max_ms;
	uc.initial_credit = (uint16_t)credit;
	uc.on_cmd = src_cmd;
	uc.ping_ivl_ms = ping;
	uc.ack_timeout_ms = ack_to;
	if ((rc = gw_up_key_read(server_key, uc.server_public, err, sizeof err)) ||
	    (rc = gw_up_key_read(secret_key, uc.secret, err, sizeof err))) {
		gw_log(GW_LOG_ERR, SUBSYS, "%s", err);
		return rc;
	}
	struct gw_up_source src = {ctx->spool, src_batch, src_acked, src_acked_seq, src_pending};
	g.loop = ctx->loop;
	g.spool = ctx->spool;
	g.pipe = ctx->pipe;
	g.fds[0] = g.fds[1] = -1;
	rc = gw_up_open(&g.up, &uc, &src, gw_loop_now_ms(ctx->loop));
	memset(uc.secret, 0, sizeof uc.secret);
	if (rc)
		return rc;
	if (!g.hooks_added) {
		g.timer = gw_loop_timer_add(g.loop, 0, 1000, on_timer, NULL);
		if (g.timer < 0 || gw_loop_prepare_add(g.loop, on_prepare, NULL) < 0) {
			gw_up_close(g.up);
			g.up = NULL;
			return -ENOSPC;
		}
		gw_spool_on_commit(g.spool, on_commit, NULL);
		if (ctx->status)
			gw_status_server_add(ctx->status, "upstream", status_section, NULL);
		g.hooks_added = true;
	}
	g.active = true;
	g.new_data = true;
	fds_sync();
	*state = &g;
	return 0;
}

void gw_upstream_detach(void *state)
{
	if (!state || !g.active)
		return;
	g.active = false;
	fds_unregister();
	struct gw_up_stats st;
	gw_up_stats(g.up, &st);
	gw_log(GW_LOG_NOTE, SUBSYS, "stopping: acked gw_seq %" PRIu64 ", %" PRIu32 " batches unacked stay in the spool",
	       st.acked_seq, st.in_flight);
	gw_up_close(g.up);
	g.up = NULL;
}
