/*
 * gateway/src/dock_daemon.c — plugs gw/dock.h into scentrack-gateway (gw/daemon.h): records downloaded from a
 * docked collar go through the same dedupe + spool path as radio records, and LOG_TRIM goes to the collar
 * only after they are durable.
 *
 * [dock] keys (all others are refused, naming file:line):
 *   usb            = 1209:5ca7   the cradle's VID:PID, hex (required; without [dock] no dock is served)
 *   io_timeout_ms  = 2000        per USB transfer / awaited reply (100..60000)
 *   rescan_ms      = 0           0 = libusb hotplug; N = enumerate every N ms instead (50..60000)
 *
 * Sink (gw_dock_sink):
 *   on_record  FIX and IND bodies are spooled as they are; a FIXB journal record is split into FIX rows,
 *              each re-encoded alone, exactly as the radio pipeline spools a FIXB frame, so the upstream
 *              and the core see one row per rec_seq whichever way it came. Records are unauthenticated on the
 *              cable (the cable is the trusted channel, docs/protocol.md §1) but must come from a collar in
 *              the key file: a record of an unknown collar is refused and the session stops before it.
 *              gw_spool_put's dedupe on (collar_id, rec_seq) makes a record the radio already delivered a
 *              duplicate, which counts as accepted. Records at or below the collar's durable cumulative ACK
 *              (the radio side's `cum`, saved in the spool) are accepted without a row: they were spooled,
 *              and may have been trimmed after the core acknowledged them.
 *   sync       commits the spool (synchronous=FULL): only when that returns 0 does the dock send LOG_TRIM.
 * Resume points are seeded from the spool (cum + 1 per collar) and then kept by the dock for its lifetime.
 * Provisioning: the operator command `provision COLLAR_ID rat|dog REPORT_MS [STATUS_MS]` on the control
 * socket (gw/control.h; `scentrack-gateway --provision ...`) queues a PROVISION for the next collar docked
 * (or the docked one once its download is idle). The collar must be in the key file: its key is read from
 * that file when the PROVISION is built and wiped right after, so a key never travels on the command
 * socket, never over radio and never into a log line.
 *
 * The state is static, as in upstream_daemon.c (one dock per process).
 */
#define _GNU_SOURCE
#include "gw/daemon.h"
#include "gw/dock.h"
#include "gw/keys.h"
#include "gw/log.h"
#include "gw/loop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/msg.h"

#define SUBSYS "dock"

static struct {
	bool active;
	struct gw_dock *dock;
	struct gw_spool *spool;
	uint16_t known[GW_KEYS_MAX];
	size_t n_known;
	struct {
		uint16_t collar_id;
		uint32_t cum;
	} cum[GW_DOCK_COLLARS_MAX];
	size_t n_cum;
	uint64_t stored, duplicates, below_cum, refused_unknown, refused_spool, bad_fixb;
	struct proto_fixb fixb;
	uint8_t body[PROTO_BODY_MAX];
	char keys_path[GW_CONFIG_PATH_MAX];
	uint64_t provisions_queued;
} g;

static bool known(uint16_t id)
{
	for (size_t i = 0; i < g.n_known; i++)
		if (g.known[i] == id)
			return true;
	return false;
}

static uint32_t cum_of(uint16_t id)
{
	for (size_t i = 0; i < g.n_cum; i++)
		if (g.cum[i].collar_id == id)
			return g.cum[i].cum;
	return 0;
}

static void on_collar(void *arg, const struct gw_spool_collar *c)
{
	(void)arg;
	if (g.n_cum < GW_DOCK_COLLARS_MAX && c->cum) {
		g.cum[g.n_cum].collar_id = c->collar_id;
		g.cum[g.n_cum].cum = c->cum;
		g.n_cum++;
	}
}

/* One record into the spool: 0 stored or duplicate, <0 refused. */
static int put_one(uint16_t collar_id, uint8_t type, uint32_t rec_seq, const uint8_t *body, size_t len, uint64_t now)
{
	if (rec_seq && rec_seq <= cum_of(collar_id)) {
		g.below_cum++;
		return 0;
	}
	struct gw_spool_rec r = {.collar_id = collar_id, .type = type, .has_seq = 1, .rec_seq = rec_seq,
	                         .rx_ms = now, .link = 0xFF, .body = body, .body_len = len};
	int res = gw_spool_put(g.spool, &r);
	if (res == 1) {
		g.stored++;
		return 0;
	}
	if (res == 0) {
		g.duplicates++;
		return 0;
	}
	g.refused_spool++;
	gw_log(GW_LOG_WARN, SUBSYS, "collar %u %s rec_seq %" PRIu32 " not stored (%s): not trimmed, the collar keeps it",
	       collar_id, proto_type_name(type), rec_seq, strerror(-res));
	return res;
}

static int sink_record(void *ctx, uint16_t collar_id, uint8_t type, uint32_t rec_seq, const uint8_t *body, size_t len)
{
	(void)ctx;
	if (!known(collar_id)) {
		g.refused_unknown++;
		gw_log(GW_LOG_WARN, SUBSYS, "collar %u is not in the key file: its records are not taken", collar_id);
		return -EPERM;
	}
	uint64_t now = gw_clock_utc_ms();
	/* No raw frame: a journal record read over USB was never a radio frame. */
	gw_spool_frame_begin(g.spool, NULL, 0);
	if (type != PROTO_T_FIXB)
		return put_one(collar_id, type, rec_seq, body, len, now);
	int err = proto_fixb_decode(body, len, &g.fixb, NULL);
	if (err < 0) {
		g.bad_fixb++;
		gw_log(GW_LOG_WARN, SUBSYS, "collar %u FIXB at rec_seq %" PRIu32 " does not decode: %s", collar_id, rec_seq,
		       proto_strerror(err));
		return -EBADMSG;
	}
	for (unsigned i = 0; i < g.fixb.n; i++) {
		size_t fl;
		if ((err = proto_fix_encode(&g.fixb.fix[i], g.body, sizeof g.body, &fl)) < 0) {
			g.bad_fixb++;
			return -EBADMSG;
		}
		if ((err = put_one(collar_id, PROTO_T_FIX, g.fixb.fix[i].rec_seq, g.body, fl, now)) < 0)
			return err;
	}
	return 0;
}

static int sink_sync(void *ctx)
{
	(void)ctx;
	int err = gw_spool_commit(g.spool);
	if (err < 0)
		gw_log(GW_LOG_ERR, SUBSYS, "spool commit failed (%s): nothing trimmed on the collar", strerror(-err));
	return err;
}

static void status_section(void *arg, struct gw_json *j)
{
	(void)arg;
	if (!g.active)
		return;
	struct gw_dock_stats st;
	gw_dock_stats(g.dock, &st);
	gw_json_u64(j, "open", gw_dock_open_count(g.dock));
	gw_json_u64(j, "idle", gw_dock_idle_count(g.dock));
	gw_json_u64(j, "arrivals", st.arrivals);
	gw_json_u64(j, "departures", st.departures);
	gw_json_u64(j, "sessions", st.sessions);
	gw_json_u64(j, "downloads_done", st.downloads_done);
	gw_json_u64(j, "records", st.records);
	gw_json_u64(j, "stored", g.stored);
	gw_json_u64(j, "duplicates", g.duplicates + g.below_cum);
	gw_json_u64(j, "refused_unknown_collar", g.refused_unknown);
	gw_json_u64(j, "refused_spool", g.refused_spool);
	gw_json_u64(j, "records_bad", st.records_bad + g.bad_fixb);
	gw_json_u64(j, "trims", st.trims);
	gw_json_u64(j, "sync_failed", st.sync_failed);
	gw_json_u64(j, "resumptions", st.resumptions);
	gw_json_u64(j, "gaps", st.gaps);
	gw_json_u64(j, "reply_timeouts", st.reply_timeouts);
	gw_json_u64(j, "frames_bad", st.frames_bad);
	gw_json_u64(j, "sessions_failed", st.sessions_failed);
	gw_json_u64(j, "open_failed", st.open_failed);
	gw_json_u64(j, "provisions_queued", g.provisions_queued);
	gw_json_u64(j, "provisionings", st.provisionings);
	gw_json_u64(j, "provision_failed", st.provision_failed);
}

/* gw_dock_key_fn: the collar's key, read from the key file now (a SIGHUP-added collar works at once). */
static int key_from_file(void *ctx, uint16_t collar_id, uint8_t key[PROTO_KEY_LEN])
{
	(void)ctx;
	struct gw_key *keys = calloc(GW_KEYS_MAX, sizeof *keys);
	size_t n = 0;
	if (!keys)
		return -ENOMEM;
	int err = gw_keys_load(g.keys_path, keys, GW_KEYS_MAX, &n);
	if (err == 0) {
		err = -ENOENT;
		for (size_t i = 0; i < n; i++) {
			if (keys[i].collar_id == collar_id) {
				memcpy(key, keys[i].key, PROTO_KEY_LEN);
				err = 0;
				break;
			}
		}
	}
	explicit_bzero(keys, GW_KEYS_MAX * sizeof *keys);
	free(keys);
	return err;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(s, &end, 10);
	if (!*s || *end || errno || x > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

int gw_dock_daemon_provision_cmd(void *arg, int argc, char **argv, char *reply, size_t cap)
{
	(void)arg;
	if (!g.active) {
		snprintf(reply, cap, "no docking station is served ([dock] usb is not set)");
		return -ENOTSUP;
	}
	uint32_t id, report_ms, status_ms = 0;
	if ((argc != 4 && argc != 5) || parse_u32(argv[1], &id) < 0 || !id || id > 65535 ||
	    (strcmp(argv[2], "rat") && strcmp(argv[2], "dog")) || parse_u32(argv[3], &report_ms) < 0 ||
	    (argc == 5 && parse_u32(argv[4], &status_ms) < 0)) {
		snprintf(reply, cap, "usage: provision COLLAR_ID(1..65535) rat|dog REPORT_MS [STATUS_MS]");
		return -EINVAL;
	}
	if (!known((uint16_t)id)) {
		snprintf(reply, cap, "collar %" PRIu32 " is not in the key file %s: add its key there, then SIGHUP", id,
		         g.keys_path);
		return -ENOENT;
	}
	struct gw_dock_provision p = {
		.collar_id = (uint16_t)id,
		.species = !strcmp(argv[2], "dog") ? PROTO_SPECIES_DOG : PROTO_SPECIES_RAT,
		.report_ms = report_ms,
		.status_ms = status_ms,
		.utc_ms = gw_clock_utc_ms(), /* seeds the collar's clock until its GNSS has time */
		.key = key_from_file,
	};
	int err = gw_dock_provision(g.dock, &p);
	if (err == -EBUSY) {
		snprintf(reply, cap, "a PROVISION is already waiting for a collar");
		return err;
	}
	if (err < 0) {
		snprintf(reply, cap, "refused (%s): report_ms 200..3600000, status_ms 0 or 1000..86400000",
		         strerror(-err));
		return err;
	}
	g.provisions_queued++;
	gw_log(GW_LOG_NOTE, SUBSYS, "operator: PROVISION of collar %" PRIu32 " (%s, report %" PRIu32 " ms) queued",
	       id, argv[2], report_ms);
	snprintf(reply, cap, "PROVISION of collar %" PRIu32 " queued: dock the collar (or leave it docked)", id);
	return 0;
}

int gw_dock_daemon_attach(const struct gw_daemon_ctx *ctx, const uint16_t *collar_ids, size_t n_collars,
                          void **state)
{
	static const char *const keys_known[] = {"usb", "io_timeout_ms", "rescan_ms"};
	const struct gw_config *cfg = ctx->cfg;
	*state = NULL;
	if (gw_config_check_keys(cfg, "dock", keys_known, sizeof keys_known / sizeof keys_known[0]))
		return -EINVAL;
	const char *usb = gw_config_get(cfg, "dock", "usb");
	if (!usb) {
		gw_log(GW_LOG_INFO, SUBSYS, "no [dock] usb: no docking station served");
		return 0;
	}
	unsigned vid, pid;
	int n = 0;
	if (sscanf(usb, "%4x:%4x%n", &vid, &pid, &n) != 2 || usb[n] || !vid || !pid) {
		gw_log(GW_LOG_ERR, SUBSYS, "%s: [dock] usb = \"%s\": expected VID:PID in hex, e.g. 1209:5ca7", cfg->file,
		       usb);
		return -EINVAL;
	}
	uint32_t io_ms = 0, rescan = 0;
	int rc;
	if ((rc = gw_config_get_u32(cfg, "dock", "io_timeout_ms", 100, 60000, &io_ms)) ||
	    (rc = gw_config_get_u32(cfg, "dock", "rescan_ms", 0, 60000, &rescan)))
		return rc;
	if (rescan && rescan < 50) {
		gw_log(GW_LOG_ERR, SUBSYS, "%s: [dock] rescan_ms = %" PRIu32 ": expected 0 (hotplug) or 50..60000", cfg->file,
		       rescan);
		return -EINVAL;
	}
	g.spool = ctx->spool;
	snprintf(g.keys_path, sizeof g.keys_path, "%s", cfg->keys);
	g.n_known = n_collars < GW_KEYS_MAX ? n_collars : GW_KEYS_MAX;
	memcpy(g.known, collar_ids, g.n_known * sizeof *collar_ids);
	g.n_cum = 0;
	if ((rc = gw_spool_collar_each(g.spool, on_collar, NULL)) < 0)
		return rc;
	struct gw_dock_opts o = {
		.vid = (uint16_t)vid, .pid = (uint16_t)pid, .io_timeout_ms = io_ms, .rescan_ms = rescan,
		.force_rescan = rescan != 0, .boot_id = gw_spool_boot_id(g.spool),
		.sink = {.on_record = sink_record, .sync = sink_sync, .ctx = NULL},
	};
	if ((rc = gw_dock_new(&g.dock, &o)) < 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "libusb: cannot start (%s)", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < g.n_cum; i++)
		(void)gw_dock_resume_set(g.dock, g.cum[i].collar_id, g.cum[i].cum + 1);
	if ((rc = gw_dock_attach(g.dock, ctx->loop)) < 0) {
		gw_dock_free(g.dock);
		g.dock = NULL;
		return rc;
	}
	if (ctx->status)
		gw_status_server_add(ctx->status, "dock", status_section, NULL);
	gw_log(GW_LOG_NOTE, SUBSYS, "serving docking stations %04x:%04x (%s)", vid, pid,
	       gw_dock_hotplug(g.dock) ? "hotplug" : "rescan");
	g.active = true;
	*state = &g;
	return 0;
}

void gw_dock_daemon_keys(void *state, const uint16_t *collar_ids, size_t n_collars)
{
	if (!state || !g.active)
		return;
	g.n_known = n_collars < GW_KEYS_MAX ? n_collars : GW_KEYS_MAX;
	memcpy(g.known, collar_ids, g.n_known * sizeof *collar_ids);
}

void gw_dock_daemon_detach(void *state)
{
	if (!state || !g.active)
		return;
	g.active = false;
	gw_dock_free(g.dock); /* ends sessions, syncing what was received */
	g.dock = NULL;
}
