/*
 * gw/daemon.h — how modules plug into the running scentrack-gateway (the upstream, later the dock).
 *
 * The daemon (app/gateway_main.c) owns the one event loop, the spool, the config and the status server.
 * A module gets them through struct gw_daemon_ctx when it is attached, registers its fds/timers/prepare
 * hooks on ctx->loop (gw/loop.h), a status section on ctx->status (gw/status.h), and a commit subscriber on
 * ctx->spool (gw_spool_on_commit: "new durable records") — and does everything from those callbacks.
 *
 * Order at start: config → keys → spool → pipeline (restored) → loop, signals, status socket → links →
 * gw_upstream_attach() → gw_dock_daemon_attach() → control socket (gw/control.h) → READY=1. At SIGTERM/SIGINT:
 * the loop stops → control socket closed → pipeline
 * flush (commit + ACKs) → gw_dock_daemon_detach() → gw_upstream_detach() → links closed → spool closed (final commit, WAL checkpoint) → exit 0.
 */
#ifndef GW_DAEMON_H
#define GW_DAEMON_H

#include "gw/config.h"
#include "gw/loop.h"
#include "gw/pipeline.h"
#include "gw/spool.h"
#include "gw/status.h"

struct gw_daemon_ctx {
	struct gw_loop *loop;
	struct gw_spool *spool;
	const struct gw_config *cfg;          /* [upstream]/[dock] keys: gw_config_get(cfg, "upstream", "...") */
	struct gw_status_server *status;
	struct gw_pipeline *pipe;             /* CMDs from the core are queued here (gw_pipeline_cmd_queue) */
};

/*
 * Implemented by the upstream module (gateway/src/upstream_daemon.c). attach returns 0 (state in *state,
 * may be NULL) or a negative errno, which stops the daemon with EX_CONFIG (78); without an [upstream]
 * section the module logs that it is off and returns 0. detach (NULL-safe) is called once, after the final pipeline
 * commit, before the spool closes.
 */
int gw_upstream_attach(const struct gw_daemon_ctx *ctx, void **state);
void gw_upstream_detach(void *state);

/*
 * Implemented by the dock module (gateway/src/dock_daemon.c): serves the USB docking station named by
 * [dock] usb = VID:PID; downloaded records go into ctx->spool (dedupe on (collar_id, rec_seq)), LOG_TRIM only
 * after the spool committed them. collar_ids = the collars of the key file (others are refused). Same
 * contract as the upstream's attach/detach; detach (before the spool closes) syncs what was received.
 */
int gw_dock_daemon_attach(const struct gw_daemon_ctx *ctx, const uint16_t *collar_ids, size_t n_collars,
                          void **state);
void gw_dock_daemon_detach(void *state);
/* The control socket's "provision COLLAR_ID rat|dog REPORT_MS [STATUS_MS]" (a gw_control_fn, gw/control.h):
 * queues a PROVISION whose key is read from the key file when it is sent. */
int gw_dock_daemon_provision_cmd(void *arg, int argc, char **argv, char *reply, size_t cap);
/* The key file was reloaded (SIGHUP): the dock takes records of these collars from now on. NULL-safe. */
void gw_dock_daemon_keys(void *state, const uint16_t *collar_ids, size_t n_collars);

#endif
