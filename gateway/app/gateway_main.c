/*
 * scentrack-gateway — the field gateway daemon: radio links → validated frames → durable spool → ACKs to
 * the collars; the upstream module forwards the spool to the core.
 *
 * This file is the shell: flags, config, start-up order, the cron, signals, systemd notification, status
 * sections and shutdown. The work is in the library (gw/pipeline.h, gw/spool.h, gw/link.h, gw/loop.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "gw/config.h"
#include "gw/daemon.h"
#include "gw/control.h"
#include "gw/keys.h"
#include "gw/link.h"
#include "gw/log.h"
#include "gw/loop.h"
#include "gw/pipeline.h"
#include "gw/spool.h"
#include "gw/status.h"
#include "proto/err.h"
#include "proto/frame.h"

#ifndef SCENTRACK_VERSION
#define SCENTRACK_VERSION "0.1.0"
#endif

#define CRON_MS 100u      /* cron period: link reopen, watchdog, stats, trim */
#define TRIM_EVERY_MS 10000u
#define STATUS_TEXT_MS 5000u


struct daemon {
	struct gw_config cfg;
	struct gw_loop *loop;
	struct gw_spool *spool;
	struct gw_pipeline *pipe;
	struct gw_status_server *status;
	struct gw_status_zmq *status_zmq;
	struct gw_control *control;
	struct gw_link links[GW_LINKS_MAX];
	unsigned n_links;
	void *upstream;
	void *dock;
	uint64_t key_reloads;
	int sigfd;
	int pipe_timer;
	uint64_t started_mono, started_utc;
	uint64_t next_stats, next_trim, next_watchdog, next_status_text;
	uint64_t watchdog_ms; /* 0: no systemd watchdog */
	uint64_t last_records;
	uint8_t rx[4096];
};

/* Split in parts: ISO C only promises 4095-byte string literals. */
static const char *const usage_text[] = {
	"NAME\n"
	"    scentrack-gateway - field gateway: collar radio links to a durable spool, ACKs back to the collars\n"
	"\n"
	"SYNOPSIS\n"
	"    scentrack-gateway [-N] [-D LEVEL] [-f FILE]\n"
	"    scentrack-gateway --status [-f FILE | -s SOCKET]\n"
	"    scentrack-gateway --provision COLLAR_ID rat|dog REPORT_MS [STATUS_MS] [-f FILE | -s SOCKET]\n"
	"    scentrack-gateway -h | -V\n"
	"\n"
	"DESCRIPTION\n"
	"    Reads COBS frames from every configured link (a serial radio modem usually carries many collars),\n"
	"    checks CRC-32C, header, collar key, replay window (boot_id, link_seq), HMAC tag and message body,\n"
	"    expands FIXB batches, drops duplicates on (collar_id, rec_seq), stores every record in an SQLite\n"
	"    spool (WAL, synchronous=FULL) and only then ACKs it to the collar (cumulative + 64-bit selective,\n"
	"    every 4 records or 100 ms, indications at once). Bad input is counted per collar and per link and\n"
	"    logged with where and why; it never stops a following good frame. Fixes are refused (not ACKed, so\n"
	"    they stay in the collar's journal) when the spool reaches its disk budget; indications never are.\n"
	"\n"
	"OPTIONS\n"
	"    -f, --config FILE   configuration (default " GW_CONFIG_DEFAULT_FILE ")\n"
	"    -N, --foreground    do not detach (always use under systemd)\n"
	"    -D, --debug LEVEL   0 notices, 1 info, 2 debug (overrides [gateway] log_level)\n"
	"        --status        print the running daemon's status (JSON) and exit\n"
	"        --provision ID rat|dog REPORT_MS [STATUS_MS]\n"
	"                        ask the running daemon to provision the next collar docked (or the docked\n"
	"                        one) as collar ID with that FIX period (and STATUS period); the key is the\n"
	"                        one the key file holds for ID (add it, SIGHUP, then provision): keys travel\n"
	"                        only over the dock and never appear on a command line or in the log.\n"
	"                        Prints the daemon's answer; exit 0 queued, 65 refused, 69 no daemon\n"
	"    -s, --socket PATH   status socket for --status (default: status_socket from the config); a\n"
	"                        tcp:// or ipc:// endpoint asks the daemon's status_zmq REP socket instead;\n"
	"                        with --provision the control socket (default: control_socket)\n"
	"    -h, --help          this text\n"
	"    -V, --version       version\n"
	"\n"
	,
	"CONFIGURATION (INI; unknown sections or keys are errors; see scentrack-gateway.ini.sample)\n"
	"    [gateway]\n"
	"      id = 1                         gateway id in upstream batches, 1..65535\n"
	"      keys = /etc/scentrack/collar-keys   collar key file: lines \"<collar_id> <64 hex digits>\"\n"
	"      status_socket = /run/scentrack-gateway/status.sock   unix socket for --status (\"\" = none)\n"
	"      status_zmq =                   ZeroMQ REP endpoint answering any request with the status JSON,\n"
	"                                     e.g. tcp://127.0.0.1:5571 (no CURVE: loopback or ipc only)\n"
	"      control_socket =               unix socket (mode 0600) for --provision (\"\" = none, the default)\n"
	"      log_level = note               err | warn | note | info | debug\n"
	"      stats_interval_s = 60          statistics log line period, 0 = never\n"
	"    [spool]\n"
	"      path = /var/lib/scentrack-gateway/spool.sqlite\n"
	"      max_mb = 1024                  disk budget (max_bytes = N for bytes); 0 = unlimited. When reached:\n"
	"                                     fixes refused and not ACKed, indications still stored; fixes are\n"
	"                                     accepted again below 90 % of the budget\n"
	"      commit_ms = 100                a fix is committed at most this long after it arrived (1..100)\n"
	"      commit_max = 16384             ...or as soon as this many records wait\n"
	"      early_commit = no              no: a fix's ACK waits for the group commit (fast under a flood);\n"
	"                                     yes: commit early once [ack] every records wait (faster fix ACKs)\n"
	"      commit_gap_ms = 10             early_commit only: min gap between those commits (bounds\n"
	"                                     fsyncs per second under a flood of frames)\n"
	"    [ack]\n"
	"      every = 4                      ACK a collar after this many new durable records ...\n"
	"      max_delay_ms = 100             ... or this long after its first unACKed record\n"
	"      credit = 8                     frames in flight granted to the collar, 0 = omit\n"
	"    [link NAME]                      one per radio link, up to 8 (index = order in the file)\n"
	"      type = serial                  serial (libserialport) | tty (termios path, e.g. a pty) | unix\n"
	"      path = /dev/ttyUSB0            device, or socket path for unix\n"
	"      usb = 0403:6015                serial only: use the port with this USB VID:PID instead of path\n"
	"      usb_serial = A1B2C3            ... and this USB serial number\n"
	"      baud = 57600                   8N1, no flow control\n"
	"      reopen_min_ms = 100            back-off after an unplug or failed open, doubling ...\n"
	"      reopen_max_ms = 10000          ... up to this\n"
	"    [upstream]                       the core (without endpoint: spool only)\n"
	"      endpoint = tcp://core:5570     the core's ingest ROUTER\n"
	"      server_key = /etc/scentrack/core.pub   the core's CURVE public key (Z85 file)\n"
	"      secret_key = /etc/scentrack/gw.key     this gateway's CURVE secret key (Z85 file, 0600)\n"
	"      initial_credit = 4   ping_ms = 1000   ack_timeout_ms = 10000\n"
	"      reconnect_ms = 1000            reconnect interval after the connection dropped, doubling ...\n"
	"      reconnect_max_ms = 32000       ... up to this\n"
	"    [dock]                           the USB docking station (without usb: none)\n"
	"      usb = 1209:5ca7                the cradle's VID:PID; a docked collar's journal is downloaded into\n"
	"                                     the spool (collars of the key file only), trimmed once durable\n"
	"      io_timeout_ms = 2000           per USB transfer / awaited reply\n"
	"      rescan_ms = 0                  0 = libusb hotplug; N = enumerate every N ms instead\n"
	"\n"
	,
	"SIGNALS\n"
	"    SIGTERM, SIGINT   commit, send owed ACKs, close the spool cleanly, exit 0\n"
	"    SIGUSR1           log a statistics line now\n"
	"    SIGHUP            reload the collar key file: new collars are accepted, changed keys take effect,\n"
	"                      collars no longer listed are refused; a file that does not load changes\n"
	"                      nothing. Other settings need a restart\n"
	"\n"
	"SYSTEMD\n"
	"    Type=notify: READY=1 once the spool is open and the links are started, STATUS= every 5 s,\n"
	"    WATCHDOG=1 at half of WatchdogSec, STOPPING=1 at shutdown. A no-op outside systemd.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   clean shutdown, or --status printed, or --provision queued\n"
	"    64  bad command line (EX_USAGE)\n"
	"    65  --provision refused by the daemon, its answer says why (EX_DATAERR)\n"
	"    69  --status, --provision: no daemon answers on the socket (EX_UNAVAILABLE)\n"
	"    70  internal error (EX_SOFTWARE)\n"
	"    71  cannot set up the event loop, signals or status socket (EX_OSERR)\n"
	"    73  cannot open or create the spool (EX_CANTCREAT)\n"
	"    74  the final spool commit failed at shutdown (EX_IOERR): records not ACKed are resent by collars\n"
	"    78  configuration or key file invalid, or the upstream refused its configuration (EX_CONFIG)\n",
};

/* --- links in the loop -------------------------------------------------------------------------------- */

static void link_io(struct gw_loop *l, int fd, short revents, void *arg);

static struct daemon *link_daemon(struct gw_link *lk)
{
	/* links[] sits inside struct daemon: recover it from the element (index is its position). */
	return (struct daemon *)((char *)(lk - lk->index) - offsetof(struct daemon, links));
}

static void pipe_rearm(struct daemon *d)
{
	struct gw_now now = {gw_clock_mono_ms(), gw_clock_utc_ms()};
	uint64_t next;
	gw_pipeline_tick(d->pipe, &now, &next);
	if (next == UINT64_MAX) {
		gw_loop_timer_rearm(d->loop, d->pipe_timer, 3600u * 1000u);
		return;
	}
	if (gw_loop_timer_rearm(d->loop, d->pipe_timer, next > now.mono_ms ? next - now.mono_ms : 0) < 0)
		gw_log(GW_LOG_ERR, "main", "pipeline timer gone: commits and ACKs wait for the next frame");
}

static void link_try_open(struct daemon *d, struct gw_link *lk, uint64_t now)
{
	if (gw_link_open(lk, now) < 0)
		return;
	gw_pipeline_link_reset(d->pipe, lk->index);
	if (gw_loop_fd_add(d->loop, lk->fd, POLLIN, link_io, lk) < 0) {
		gw_link_close(lk, now, 0, "event loop full");
		return;
	}
}

static void link_lost(struct daemon *d, struct gw_link *lk, const char *why)
{
	gw_loop_fd_del(d->loop, lk->fd);
	gw_link_close(lk, gw_loop_now_ms(d->loop), 1, why);
}

static void link_io(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct gw_link *lk = arg;
	struct daemon *d = link_daemon(lk);
	(void)fd;
	if (revents & POLLOUT) {
		ssize_t left = gw_link_flush(lk);
		if (left < 0) {
			link_lost(d, lk, strerror((int)-left));
			return;
		}
		if (!left)
			gw_loop_fd_events(l, lk->fd, POLLIN);
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		/* Read what is there (bounded, so one chatty link cannot starve the others), then judge. */
		size_t total = 0;
		for (int i = 0; i < 16; i++) {
			ssize_t n = gw_link_read(lk, d->rx, sizeof d->rx);
			if (n < 0) {
				link_lost(d, lk, n == -EPIPE ? "end of file (device gone)" : strerror((int)-n));
				pipe_rearm(d);
				return;
			}
			if (!n)
				break;
			total += (size_t)n;
			struct gw_now now = {gw_clock_mono_ms(), gw_clock_utc_ms()};
			gw_pipeline_input(d->pipe, lk->index, d->rx, (size_t)n, NULL, &now);
			if ((size_t)n < sizeof d->rx)
				break;
		}
		if (!total && (revents & (POLLHUP | POLLERR | POLLIN))) {
			/* POLLIN with nothing to read is EOF (libserialport cannot tell it from "no data"); POLLHUP
			 * and POLLERR mean the device went away (USB unplug, pty master closed). */
			link_lost(d, lk, revents & POLLHUP ? "hang-up (unplugged?)"
			                 : revents & POLLERR ? "device error"
			                                     : "end of file (device gone)");
		}
		pipe_rearm(d);
	}
}

/* Pipeline → link: one ACK frame. */
static int send_ack(void *arg, unsigned link, const uint8_t *wire, size_t len)
{
	struct daemon *d = arg;
	if (link >= d->n_links)
		return -EINVAL;
	struct gw_link *lk = &d->links[link];
	int err = gw_link_send(lk, wire, len);
	if (err == 0 && lk->txq_len)
		gw_loop_fd_events(d->loop, lk->fd, POLLIN | POLLOUT);
	return err;
}

/* --- timers ------------------------------------------------------------------------------------------- */

static void on_pipe_timer(struct gw_loop *l, int id, void *arg)
{
	(void)l;
	(void)id;
	pipe_rearm(arg);
}

static void log_stats(struct daemon *d)
{
	const struct gw_pipeline_totals *t = gw_pipeline_totals(d->pipe);
	struct gw_spool_stats ss;
	gw_spool_stats(d->spool, &ss);
	unsigned up = 0;
	for (unsigned i = 0; i < d->n_links; i++)
		up += (unsigned)d->links[i].up;
	gw_log(GW_LOG_INFO, "stats",
	       "links %u/%u up; frames ok %llu, crc %llu, auth %llu, replay %llu, malformed %llu, unknown collar %llu, "
	       "lost %llu; records %llu (+%llu dup, %llu refused); acks %llu; spool %llu rows, %llu bytes%s",
	       up, d->n_links, (unsigned long long)t->frames_ok, (unsigned long long)t->crc_fail,
	       (unsigned long long)t->auth_fail, (unsigned long long)t->replays, (unsigned long long)t->malformed,
	       (unsigned long long)t->unknown_collar, (unsigned long long)t->lost, (unsigned long long)t->records,
	       (unsigned long long)t->duplicates, (unsigned long long)t->refused, (unsigned long long)t->acks_sent,
	       (unsigned long long)ss.records, (unsigned long long)ss.used_bytes, ss.full ? " (FULL)" : "");
}

/*
 * The cron, CRON_MS apart (Redis serverCron style). It:
 *   - reopens links whose back-off expired;
 *   - pets the systemd watchdog and refreshes STATUS= text;
 *   - logs a statistics line every stats_interval_s;
 *   - trims acked records that are no longer needed for dedupe (cum moves after the core's ack).
 * Commits and ACKs are not here: they have their own precise timer (pipe_rearm), so a 100 ms deadline is
 * not rounded up by the cron's period.
 */
static void on_cron(struct gw_loop *l, int id, void *arg)
{
	struct daemon *d = arg;
	(void)id;
	uint64_t now = gw_loop_now_ms(l);
	for (unsigned i = 0; i < d->n_links; i++) {
		struct gw_link *lk = &d->links[i];
		if (!lk->up && lk->next_open_ms != UINT64_MAX && now >= lk->next_open_ms)
			link_try_open(d, lk, now);
	}
	if (d->watchdog_ms && now >= d->next_watchdog) {
		sd_notify(0, "WATCHDOG=1");
		d->next_watchdog = now + d->watchdog_ms / 2u;
	}
	if (now >= d->next_status_text) {
		const struct gw_pipeline_totals *t = gw_pipeline_totals(d->pipe);
		unsigned up = 0;
		for (unsigned i = 0; i < d->n_links; i++)
			up += (unsigned)d->links[i].up;
		sd_notifyf(0, "STATUS=links %u/%u up, %llu records stored (%llu in the last 5 s), %llu rejected frames",
		           up, d->n_links, (unsigned long long)t->records,
		           (unsigned long long)(t->records - d->last_records),
		           (unsigned long long)(t->crc_fail + t->auth_fail + t->replays + t->malformed + t->unknown_collar));
		d->last_records = t->records;
		d->next_status_text = now + STATUS_TEXT_MS;
	}
	if (d->cfg.stats_interval_s && now >= d->next_stats) {
		log_stats(d);
		d->next_stats = now + d->cfg.stats_interval_s * 1000ull;
	}
	if (now >= d->next_trim) {
		gw_spool_trim(d->spool);
		d->next_trim = now + TRIM_EVERY_MS;
	}
}

/* SIGHUP: read the key file again. A file that does not load changes nothing (the old keys stay). */
static void reload_keys(struct daemon *d)
{
	struct gw_key *keys = calloc(GW_KEYS_MAX, sizeof *keys);
	size_t n = 0;
	unsigned added = 0, changed = 0, removed = 0;
	if (!keys) {
		gw_log(GW_LOG_ERR, "main", "SIGHUP: out of memory: keys not reloaded");
		return;
	}
	if (gw_keys_load(d->cfg.keys, keys, GW_KEYS_MAX, &n) < 0) {
		gw_log(GW_LOG_ERR, "main", "SIGHUP: %s does not load: the previous keys stay in force", d->cfg.keys);
		goto out_free;
	}
	int err = gw_pipeline_keys_reload(d->pipe, keys, n, &added, &changed, &removed);
	uint16_t ids[GW_KEYS_MAX];
	for (size_t i = 0; i < n; i++)
		ids[i] = keys[i].collar_id;
	gw_dock_daemon_keys(d->dock, ids, n);
	d->key_reloads++;
	if (err < 0)
		gw_log(GW_LOG_ERR, "main", "SIGHUP: %s: collar table full (%s): %u added before that", d->cfg.keys,
		       strerror(-err), added);
	else
		gw_log(GW_LOG_NOTE, "main", "SIGHUP: %s reloaded: %zu collars (%u added, %u keys changed, %u removed)",
		       d->cfg.keys, n, added, changed, removed);
out_free:
	explicit_bzero(keys, GW_KEYS_MAX * sizeof *keys);
	free(keys);
}

static void on_signal(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct daemon *d = arg;
	(void)revents;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			gw_log(GW_LOG_NOTE, "main", "%s: shutting down", strsignal((int)si.ssi_signo));
			gw_loop_stop(l);
			break;
		case SIGUSR1:
			log_stats(d);
			break;
		case SIGHUP:
			reload_keys(d);
			break;
		default:
			gw_log(GW_LOG_NOTE, "main", "%s ignored (restart to reload the configuration)",
			       strsignal((int)si.ssi_signo));
		}
	}
}

/* --- status sections ------------------------------------------------------------------------------- */

static void st_gateway(void *arg, struct gw_json *j)
{
	struct daemon *d = arg;
	gw_json_str(j, "version", SCENTRACK_VERSION);
	gw_json_u64(j, "id", d->cfg.gw_id);
	gw_json_u64(j, "pid", (uint64_t)getpid());
	gw_json_u64(j, "boot_id", gw_spool_boot_id(d->spool));
	gw_json_u64(j, "started_utc_ms", d->started_utc);
	gw_json_u64(j, "uptime_ms", gw_clock_mono_ms() - d->started_mono);
	gw_json_str(j, "config", d->cfg.file);
	gw_json_u64(j, "key_reloads", d->key_reloads);
}

static void err_counts(struct gw_json *j, const char *key, const uint32_t *by)
{
	gw_json_obj_begin(j, key);
	for (unsigned k = 1; k < GW_ERR_SLOTS; k++)
		if (by[k])
			gw_json_u64(j, proto_errname(-(int)k), by[k]);
	gw_json_obj_end(j);
}

static void st_totals(void *arg, struct gw_json *j)
{
	struct daemon *d = arg;
	const struct gw_pipeline_totals *t = gw_pipeline_totals(d->pipe);
	gw_json_u64(j, "frames_ok", t->frames_ok);
	gw_json_u64(j, "crc_fail", t->crc_fail);
	gw_json_u64(j, "auth_fail", t->auth_fail);
	gw_json_u64(j, "replays", t->replays);
	gw_json_u64(j, "malformed", t->malformed);
	gw_json_u64(j, "unknown_collar", t->unknown_collar);
	gw_json_u64(j, "last_unknown_collar", t->last_unknown_collar);
	gw_json_u64(j, "lost", t->lost);
	gw_json_u64(j, "records", t->records);
	gw_json_u64(j, "duplicates", t->duplicates);
	gw_json_u64(j, "refused", t->refused);
	gw_json_u64(j, "acks_sent", t->acks_sent);
	gw_json_u64(j, "commits", t->commits);
	gw_json_u64(j, "commit_errors", t->commit_errors);
	gw_json_u64(j, "spool_errors", t->spool_errors);
	gw_json_u64(j, "cmds_queued", t->cmds_queued);
	gw_json_u64(j, "cmds_sent", t->cmds_sent);
	gw_json_u64(j, "cmd_acks", t->cmd_acks);
	gw_json_u64(j, "cmds_dropped", t->cmds_dropped);
	gw_json_u64(j, "cmds_refused", t->cmds_refused);
	uint64_t rejected = 0, cand = 0;
	for (unsigned i = 0; i < d->n_links; i++) {
		rejected += gw_pipeline_link_rx(d->pipe, i)->rejected;
		cand += gw_pipeline_link_rx(d->pipe, i)->candidates;
	}
	gw_json_u64(j, "frame_candidates", cand);
	gw_json_u64(j, "frames_rejected", rejected);
}

static void st_spool(void *arg, struct gw_json *j)
{
	struct daemon *d = arg;
	struct gw_spool_stats s;
	gw_spool_stats(d->spool, &s);
	gw_json_str(j, "path", d->cfg.spool);
	gw_json_u64(j, "records", s.records);
	gw_json_u64(j, "used_bytes", s.used_bytes);
	gw_json_u64(j, "max_bytes", s.max_bytes);
	gw_json_bool(j, "full", s.full);
	gw_json_u64(j, "stored", s.stored);
	gw_json_u64(j, "duplicates", s.duplicates);
	gw_json_u64(j, "refused", s.refused);
	gw_json_u64(j, "commits", s.commits);
	gw_json_u64(j, "commit_errors", s.commit_errors);
	gw_json_u64(j, "trimmed", s.trimmed);
	gw_json_u64(j, "next_gw_seq", s.next_gw_seq);
	gw_json_u64(j, "acked_gw_seq", s.acked_gw_seq);
}

static void st_links(void *arg, struct gw_json *j)
{
	struct daemon *d = arg;
	gw_json_arr_begin(j, "list");
	for (unsigned i = 0; i < d->n_links; i++) {
		const struct gw_link *lk = &d->links[i];
		const struct gw_link_rx *rx = gw_pipeline_link_rx(d->pipe, i);
		gw_json_obj_begin(j, NULL);
		gw_json_u64(j, "index", i);
		gw_json_str(j, "name", lk->cfg.name);
		gw_json_str(j, "type", lk->ops->kind);
		gw_json_str(j, "device", lk->dev);
		gw_json_bool(j, "up", lk->up);
		gw_json_u64(j, "opens", lk->stats.opens);
		gw_json_u64(j, "open_fails", lk->stats.open_fails);
		gw_json_u64(j, "losses", lk->stats.losses);
		gw_json_u64(j, "backoff_ms", lk->backoff_ms);
		if (lk->last_err[0])
			gw_json_str(j, "last_error", lk->last_err);
		gw_json_u64(j, "rx_bytes", rx->bytes);
		gw_json_u64(j, "tx_bytes", lk->stats.tx_bytes);
		gw_json_u64(j, "tx_dropped", lk->stats.tx_dropped);
		gw_json_u64(j, "frame_candidates", rx->candidates);
		gw_json_u64(j, "frames_ok", rx->frames_ok);
		gw_json_u64(j, "frames_rejected", rx->rejected);
		err_counts(j, "rejected_by", rx->err_by);
		gw_json_u64(j, "unknown_collar", rx->unknown_collar);
		gw_json_u64(j, "acks_sent", rx->acks_sent);
		gw_json_u64(j, "ack_send_fail", rx->ack_send_fail);
		gw_json_obj_end(j);
	}
	gw_json_arr_end(j);
}

static void st_collars(void *arg, struct gw_json *j)
{
	struct daemon *d = arg;
	gw_json_arr_begin(j, "list");
	for (size_t i = 0; i < gw_pipeline_collar_count(d->pipe); i++) {
		const struct gw_collar_info *c = gw_pipeline_collar_at(d->pipe, i);
		gw_json_obj_begin(j, NULL);
		gw_json_u64(j, "collar_id", c->collar_id);
		gw_json_u64(j, "frames_ok", c->frames_ok);
		gw_json_u64(j, "crc_fail", c->crc_fail);
		gw_json_u64(j, "auth_fail", c->auth_fail);
		gw_json_u64(j, "replays", c->replays);
		gw_json_u64(j, "malformed", c->malformed);
		err_counts(j, "malformed_by", c->malformed_by);
		gw_json_u64(j, "lost", c->lost);
		gw_json_u64(j, "loss_bp", gw_collar_loss_bp(c));
		gw_json_u64(j, "records", c->records);
		gw_json_u64(j, "duplicates", c->duplicates);
		gw_json_u64(j, "refused", c->refused);
		gw_json_u64(j, "thinned", c->thinned);
		gw_json_u64(j, "acks_sent", c->acks_sent);
		gw_json_u64(j, "cum", c->cum);
		if (c->has_replay) {
			gw_json_u64(j, "boot_id", c->boot_id);
			gw_json_u64(j, "link_seq", c->link_seq);
		}
		if (c->has_seen) {
			gw_json_u64(j, "last_seen_utc_ms", c->last_seen_utc_ms);
			gw_json_u64(j, "last_link", c->last_link);
		}
		if (c->has_rssi)
			gw_json_i64(j, "rssi_dbm", c->rssi_dbm);
		if (c->has_snr)
			gw_json_i64(j, "snr_db10", c->snr_db10);
		if (c->has_batt)
			gw_json_u64(j, "batt_mv", c->batt_mv);
		gw_json_obj_end(j);
	}
	gw_json_arr_end(j);
}

static void st_process(void *arg, struct gw_json *j)
{
	(void)arg;
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long kb;
		if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
			gw_json_u64(j, "vmrss_kb", kb);
		else if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
			gw_json_u64(j, "vmhwm_kb", kb);
	}
	if (f)
		fclose(f);
}

/* --- start-up and shutdown ---------------------------------------------------------------------------- */

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN); /* a vanished status client or socket peer is an EPIPE, not a death */
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	return gw_loop_fd_add(d->loop, d->sigfd, POLLIN, on_signal, d);
}

static int run(struct daemon *d, int foreground)
{
	int ex = EX_OK, err;
	struct gw_key *keys = calloc(GW_KEYS_MAX, sizeof *keys);
	uint16_t *ids = NULL;
	size_t n_keys = 0;
	if (!keys)
		return EX_OSERR;
	if (gw_keys_load(d->cfg.keys, keys, GW_KEYS_MAX, &n_keys) < 0) {
		ex = EX_CONFIG;
		goto out_free_keys;
	}
	struct gw_spool_opts so = {d->cfg.spool, d->cfg.gw_id, d->cfg.spool_max_bytes};
	if ((err = gw_spool_open(&d->spool, &so)) < 0) {
		gw_log(GW_LOG_ERR, "main", "spool %s cannot be opened (%s)", d->cfg.spool, strerror(-err));
		ex = EX_CANTCREAT;
		goto out_free_keys;
	}
	if (gw_pipeline_new(&d->pipe, d->spool, &d->cfg.pipe, send_ack, d) < 0) {
		ex = EX_SOFTWARE;
		goto out_close_spool;
	}
	for (size_t i = 0; i < n_keys; i++) {
		if (gw_pipeline_collar_add(d->pipe, keys[i].collar_id, keys[i].key) < 0) {
			ex = EX_CONFIG;
			goto out_free_pipe;
		}
	}
	/* the dock needs only who is known, not the keys */
	ids = calloc(n_keys ? n_keys : 1, sizeof *ids);
	if (!ids) {
		ex = EX_OSERR;
		goto out_free_pipe;
	}
	for (size_t i = 0; i < n_keys; i++)
		ids[i] = keys[i].collar_id;
	explicit_bzero(keys, GW_KEYS_MAX * sizeof *keys);
	if (gw_pipeline_restore(d->pipe) < 0) {
		ex = EX_CANTCREAT;
		goto out_free_pipe;
	}
	if (!foreground && daemon(1, 1) < 0) {
		gw_log(GW_LOG_ERR, "main", "cannot detach: %s", strerror(errno));
		ex = EX_OSERR;
		goto out_free_pipe;
	}
	if (gw_loop_new(&d->loop) < 0 || setup_signals(d) < 0) {
		gw_log(GW_LOG_ERR, "main", "event loop / signalfd: %s", strerror(errno));
		ex = EX_OSERR;
		goto out_free_loop;
	}
	if (d->cfg.status_socket[0]) {
		if ((err = gw_status_server_open(&d->status, d->loop, d->cfg.status_socket)) < 0) {
			gw_log(GW_LOG_ERR, "main", "status socket %s: %s", d->cfg.status_socket, strerror(-err));
			ex = EX_OSERR;
			goto out_free_loop;
		}
		gw_status_server_add(d->status, "gateway", st_gateway, d);
		gw_status_server_add(d->status, "process", st_process, d);
		gw_status_server_add(d->status, "totals", st_totals, d);
		gw_status_server_add(d->status, "spool", st_spool, d);
		gw_status_server_add(d->status, "links", st_links, d);
		gw_status_server_add(d->status, "collars", st_collars, d);
		if (d->cfg.status_zmq[0] && (err = gw_status_zmq_open(&d->status_zmq, d->loop, d->status,
		                                                      d->cfg.status_zmq)) < 0) {
			ex = EX_OSERR;
			goto out_close_status;
		}
	} else if (d->cfg.status_zmq[0]) {
		gw_log(GW_LOG_ERR, "main", "%s: [gateway] status_zmq needs a status_socket too", d->cfg.file);
		ex = EX_CONFIG;
		goto out_free_loop;
	}
	d->started_mono = gw_clock_mono_ms();
	d->started_utc = gw_clock_utc_ms();
	/* Periodic (the period is never reached: pipe_rearm re-arms it precisely), not one-shot: a one-shot timer
	 * is removed as it fires, so its callback's re-arm failed and every later commit and ACK waited for the
	 * next bytes on a link — with a few quiet collars each FIX frame was resent once, ~1.2 s late. */
	d->pipe_timer = gw_loop_timer_add(d->loop, 3600u * 1000u, 3600u * 1000u, on_pipe_timer, d);
	int cron = gw_loop_timer_add(d->loop, CRON_MS, CRON_MS, on_cron, d);
	if (d->pipe_timer < 0 || cron < 0) {
		ex = EX_SOFTWARE;
		goto out_close_status;
	}
	d->n_links = d->cfg.n_links;
	for (unsigned i = 0; i < d->n_links; i++) {
		if (gw_link_init(&d->links[i], i, &d->cfg.links[i]) < 0) {
			gw_log(GW_LOG_ERR, "main", "link %s: invalid settings", d->cfg.links[i].name);
			ex = EX_CONFIG;
			goto out_close_links;
		}
		link_try_open(d, &d->links[i], gw_clock_mono_ms());
	}
	if (!d->n_links)
		gw_log(GW_LOG_WARN, "main", "no [link NAME] sections: nothing to listen to");
	struct gw_daemon_ctx ctx = {d->loop, d->spool, &d->cfg, d->status, d->pipe};
	if ((err = gw_upstream_attach(&ctx, &d->upstream)) < 0) {
		gw_log(GW_LOG_ERR, "main", "upstream: %s", strerror(-err));
		ex = EX_CONFIG;
		goto out_close_links;
	}
	err = gw_dock_daemon_attach(&ctx, ids, n_keys, &d->dock);
	free(ids);
	ids = NULL;
	if (err < 0) {
		gw_log(GW_LOG_ERR, "main", "dock: %s", strerror(-err));
		ex = EX_CONFIG;
		goto out_detach_upstream;
	}
	/* the control socket last: a command may reach any module attached above */
	if (d->cfg.control_socket[0]) {
		if ((err = gw_control_open(&d->control, d->loop, d->cfg.control_socket)) < 0) {
			gw_log(GW_LOG_ERR, "main", "control socket %s: %s", d->cfg.control_socket, strerror(-err));
			ex = EX_OSERR;
			goto out_detach_dock;
		}
		(void)gw_control_add(d->control, "provision", gw_dock_daemon_provision_cmd, NULL);
	}
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ms = wd_usec / 1000u;
	gw_log(GW_LOG_NOTE, "main", "gateway %u ready: %zu collars, %u links, spool %s (boot %u)", d->cfg.gw_id, n_keys,
	       d->n_links, d->cfg.spool, gw_spool_boot_id(d->spool));
	sd_notifyf(0, "READY=1\nSTATUS=running, %zu collars, %u links\nMAINPID=%lu", n_keys, d->n_links,
	           (unsigned long)getpid());

	err = gw_loop_run(d->loop);
	if (err < 0) {
		gw_log(GW_LOG_ERR, "main", "event loop: %s", strerror(-err));
		ex = EX_OSERR;
	}

	sd_notify(0, "STOPPING=1");
	gw_control_close(d->control);
	d->control = NULL;
	struct gw_now now = {gw_clock_mono_ms(), gw_clock_utc_ms()};
	if (gw_pipeline_flush(d->pipe, &now) < 0 && ex == EX_OK)
		ex = EX_IOERR;
	for (unsigned i = 0; i < d->n_links; i++)
		if (d->links[i].up)
			gw_link_flush(&d->links[i]); /* the owed ACKs, best effort */
	log_stats(d);
out_detach_dock:
	gw_dock_daemon_detach(d->dock);

out_detach_upstream:
	gw_upstream_detach(d->upstream);

out_close_links:
	for (unsigned i = 0; i < d->n_links; i++) {
		if (d->links[i].up)
			gw_loop_fd_del(d->loop, d->links[i].fd);
		gw_link_shutdown(&d->links[i]);
	}
out_close_status:
	gw_status_zmq_close(d->status_zmq);
	gw_status_server_close(d->status);
out_free_loop:
	if (d->sigfd >= 0)
		close(d->sigfd);
	gw_loop_free(d->loop);
out_free_pipe:
	gw_pipeline_free(d->pipe);
out_close_spool:
	if (gw_spool_close(d->spool) < 0 && ex == EX_OK)
		ex = EX_IOERR;
out_free_keys:
	free(ids);
	explicit_bzero(keys, GW_KEYS_MAX * sizeof *keys);
	free(keys);
	if (ex == EX_OK)
		gw_log(GW_LOG_NOTE, "main", "stopped cleanly");
	return ex;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'f'}, {"foreground", no_argument, NULL, 'N'},
		{"debug", required_argument, NULL, 'D'},  {"status", no_argument, NULL, 'S'},
		{"socket", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {"provision", no_argument, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	const char *file = NULL, *sock = NULL;
	int foreground = 0, debug = -1, status = 0, provision = 0, c;
	while ((c = getopt_long(argc, argv, "f:ND:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'N': foreground = 1; break;
		case 'D': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 9) {
				fprintf(stderr, "scentrack-gateway: -D wants a level 0..9\n");
				return EX_USAGE;
			}
			debug = (int)v;
			break;
		}
		case 'S': status = 1; break;
		case 'P': provision = 1; break;
		case 's': sock = optarg; break;
		case 'h':
			for (size_t i = 0; i < sizeof usage_text / sizeof usage_text[0]; i++)
				fputs(usage_text[i], stdout);
			return EX_OK;
		case 'V': printf("scentrack-gateway %s\n", SCENTRACK_VERSION); return EX_OK;
		default: fprintf(stderr, "Try 'scentrack-gateway --help'.\n"); return EX_USAGE;
		}
	}
	if (provision && (argc - optind < 3 || argc - optind > 4)) {
		fprintf(stderr, "scentrack-gateway: --provision COLLAR_ID rat|dog REPORT_MS [STATUS_MS]\n");
		return EX_USAGE;
	}
	if (optind < argc && !provision) {
		fprintf(stderr, "scentrack-gateway: unexpected argument '%s'\nTry 'scentrack-gateway --help'.\n",
		        argv[optind]);
		return EX_USAGE;
	}

	struct daemon *d = calloc(1, sizeof *d);
	if (!d)
		return EX_OSERR;
	d->sigfd = -1;
	gw_config_defaults(&d->cfg);
	if (!((status || provision) && sock) && gw_config_load(&d->cfg, file ? file : GW_CONFIG_DEFAULT_FILE) < 0) {
		free(d);
		return EX_CONFIG;
	}
	int ex;
	if (provision) {
		/* only the collar id and its settings travel: the daemon reads the key from its key file */
		char line[GW_CONTROL_LINE_MAX];
		int n = snprintf(line, sizeof line, "provision");
		for (int i = optind; i < argc && n > 0 && (size_t)n < sizeof line; i++)
			n += snprintf(line + n, sizeof line - (size_t)n, " %s", argv[i]);
		const char *path = sock ? sock : d->cfg.control_socket;
		int err = (size_t)n >= sizeof line ? -E2BIG : !path[0] ? -ENOENT : gw_control_request(path, line, STDOUT_FILENO, 5000);
		if (err < 0 && err != -EPROTO)
			fprintf(stderr, "scentrack-gateway: no daemon answers on the control socket \"%s\": %s\n", path,
			        strerror(-err));
		ex = err == -EPROTO ? EX_DATAERR : err < 0 ? EX_UNAVAILABLE : EX_OK;
	} else if (status) {
		const char *path = sock ? sock : d->cfg.status_socket;
		int err = !strncmp(path, "tcp://", 6) || !strncmp(path, "ipc://", 6)
		                  ? gw_status_zmq_query(path, STDOUT_FILENO, 5000)
		                  : gw_status_query(path, STDOUT_FILENO, 5000);
		if (err < 0)
			fprintf(stderr, "scentrack-gateway: no daemon answers on %s: %s\n", path, strerror(-err));
		ex = err < 0 ? EX_UNAVAILABLE : EX_OK;
	} else {
		gw_log_set_level(debug < 0 ? d->cfg.log_level : debug == 0 ? GW_LOG_NOTE : debug == 1 ? GW_LOG_INFO : GW_LOG_DEBUG);
		ex = run(d, foreground);
	}
	free(d);
	return ex;
}
