/*
 * scentrack-core — the correlation core daemon: gateway batches in (an/ingest.h: ROUTER, CURVE, ZAP) →
 * store commit (an/store.h) → ACK; then live outputs (an/pub.h: PUB + snapshot ROUTER) and the hazard
 * engine (an/hazard.h) on what was committed (core_feed.c).
 *
 * This file is the shell: flags, config, start-up order, ONE event loop (zmq_poll over the ingest ROUTER and
 * its monitor, the snapshot ROUTER and a signalfd, with the poll timeout as the timer), systemd
 * notification, the JSON status file and shutdown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <zmq.h>

#include "core.h"

#ifndef SCENTRACK_VERSION
#define SCENTRACK_VERSION "0.1.0"
#endif

#ifndef SCENTRACK_WEB_ROOT
#define SCENTRACK_WEB_ROOT "/usr/share/scentrack/web"
#endif
#define SCENTRACK_WEB_ROOT_HELP SCENTRACK_WEB_ROOT

#define TICK_MS 1000u /* status file, STATUS=, stats line, at most this far apart */

struct daemon {
	struct core_config cfg;
	struct an_store *store;
	void *zctx;
	struct an_pub *pub;
	struct an_ingest *ing;
	struct core_feed feed;
	struct core_clr clr; /* [clearance] socket, core_clearance.c */
	struct core_web *web; /* NULL without [web] listen */
	int sigfd;
	bool stop;
	uint64_t started_mono, started_utc;
	uint64_t next_tick, next_watchdog, next_stats;
	uint64_t watchdog_ms;
	char ep_ingest[AN_INGEST_ENDPOINT_MAX], ep_pub[AN_INGEST_ENDPOINT_MAX], ep_snap[AN_INGEST_ENDPOINT_MAX];
	bool cmd_stdin; /* -C: collar commands as lines on standard input */
	char cmd_line[256];
	size_t cmd_len;
	uint32_t cmd_next_id;
};

static const char *const usage_text[] = {
	"NAME\n"
	"    scentrack-core - correlation core: gateway batches to the store, live fixes, indications and hazard\n"
	"    points to subscribers\n"
	"\n"
	"SYNOPSIS\n"
	"    scentrack-core [-N] [-C] [-D LEVEL] [-f FILE]\n"
	"    scentrack-core keygen PUBLIC_FILE SECRET_FILE\n"
	"    scentrack-core -h | -V\n"
	"\n"
	"DESCRIPTION\n"
	"    Binds a ZeroMQ ROUTER for gateways (CURVE; only gateways whose public key is in the allow-list get\n"
	"    through, fail closed), commits every BATCH to the SQLite store (WAL, synchronous=FULL) and only then\n"
	"    ACKs it. Records are deduplicated on (collar_id, rec_seq), so resends after a crash are harmless.\n"
	"    What a commit stored is published on a PUB socket (topics fix/<collar>, ind/<collar>, hazard/<id>,\n"
	"    status/<gw>; frames [topic][seq u64 LE | epoch u64 LE][msgpack]) and fed to the hazard engine.\n"
	"    A late subscriber asks the snapshot ROUTER for [\"SNAPSHOT\"][fix|ind|hazard|status] and gets the\n"
	"    state at sequence S, then applies updates after S (zguide Clone pattern; see an/pub.h). Every start\n"
	"    draws a new epoch: sequences restart at 1 and subscribers re-snapshot.\n"
	"    Hazard points: indications cluster within eps_mm; records the store attributed to a session use\n"
	"    that task's frame; all others use an implicit frame with one session per collar (species rat).\n"
	"\n"
	"    With -N, one line goes to stdout once everything is bound:\n"
	"      READY ingest=<endpoint> pub=<endpoint> snapshot=<endpoint> epoch=<16 hex digits>\n"
	"    (\"tcp://127.0.0.1:*\" in the config binds an ephemeral port; the line gives the real one).\n"
	"    With [web] listen set, the line \"WEB http://HOST:PORT/\" comes just before it.\n"
	"\n"
	"OPTIONS\n"
	"    -f, --config FILE   configuration (default " CORE_DEFAULT_FILE ")\n"
	"    -N, --foreground    do not detach (always use under systemd)\n"
	"    -C, --commands      read collar commands from standard input, one per line, and send each to the\n"
	"                        gateway named: \"cmd GW_ID COLLAR_ID set_rate PERIOD_MS\" or \"cmd GW_ID\n"
	"                        COLLAR_ID status_now\"; answers \"CMD_SENT CMD_ID\" or \"CMD_ERR reason\" on\n"
	"                        standard output. The collar's CMD_ACK arrives in a BATCH like its records\n"
	"    -D, --debug LEVEL   0 notices, 1 info, 2 debug (overrides [core] log_level)\n"
	"    -h, --help          this text\n"
	"    -V, --version       version\n"
	"    keygen PUB SEC      write a new CURVE key pair for the core (secret file mode 0600, neither file\n"
	"                        may exist) and print the public key; give PUB to the gateways\n"
	"\n",
	"CONFIGURATION (INI; unknown sections or keys are errors naming file:line; see scentrack-core.ini.sample)\n"
	"    [core]\n"
	"      db = /var/lib/scentrack-core/core.sqlite     the store (created if missing)\n"
	"      status_file = /run/scentrack-core/status.json JSON status, rewritten every second (\"\" = none)\n"
	"      log_level = note                 err | warn | note | info | debug\n"
	"      stats_interval_s = 60            statistics log line period, 0 = never\n"
	"    [ingest]\n"
	"      endpoint = " AN_INGEST_ENDPOINT_DEFAULT "   gateways connect here (loopback by default)\n"
	"      secret_key = /etc/scentrack/core.key    the core's CURVE secret key (Z85), from keygen\n"
	"      allow = /etc/scentrack/gateways.allow   lines \"<gw_id> <gateway public key Z85>\"\n"
	"      zap_domain = scentrack\n"
	"      credit = 16                      unacked batches a gateway may have in flight, 1..1024\n"
	"    [pub]\n"
	"      endpoint = " AN_PUB_ENDPOINT_DEFAULT "\n"
	"      sndhwm = 10000                   messages queued per subscriber before libzmq drops for it\n"
	"      max_items = 1048576              keys per stream (bounds memory and snapshot size)\n"
	"    [snapshot]\n"
	"      endpoint = " AN_PUB_SNAPSHOT_ENDPOINT_DEFAULT "\n"
	"    [clearance]\n"
	"      endpoint =                       clearance imports (scentrack import clearance --core EP): ipc://PATH\n"
	"                                       or tcp://127.0.0.1:PORT only (no encryption); empty = off\n"
	"    [hazard]\n"
	"      enabled = true\n"
	"      origin_lat_e7 = ... / origin_lon_e7 = ...   implicit frame origin (default: first position)\n"
	"      eps_mm = auto                    indications closer than this form one hazard point: auto = per\n"
	"                                       pair from their h_acc (an/hazard.h: 1 m floor, 95 % circle, clutter\n"
	"                                       gate); or a fixed radius 100..100000 mm\n"
	"      require_handler = no             yes: only indications the handler marked (button) are evidence\n"
	"      density_per_100m2 = 0.0152       prior: explosive items per 100 m2 from the task's survey\n"
	"      handler_verdicts = yes           the handler's confirm / reject (collar press or web) as evidence\n"
	"      handler_confirm_true = 0.90      P(handler confirms | real indication), > handler_confirm_false\n"
	"      handler_confirm_false = 0.50     P(handler confirms | false indication); both our assumption:\n"
	"                                       set them from the programme's double-blind accreditation\n"
	"      p_excavate = 0.5                 P(explosive) that asks for excavation\n"
	"      agree_animals = 2                distinct animals that ask for excavation\n",
	"    [web]   the live map, SSE stream and JSON API (docs/web-api.md), in this process's loop\n"
	"      listen =                         e.g. 127.0.0.1:8080 or [::1]:8080; empty = no web server;\n"
	"                                       port 0 = any free port (the WEB line gives it)\n"
	"      root = " SCENTRACK_WEB_ROOT_HELP "   the page's static files\n"
	"      token_file =                     first line = the write token (Authorization: Bearer ...);\n"
	"                                       empty = every write refused (403)\n"
	"      mbtiles =                        offline raster tiles (MBTiles/SQLite) for /tiles/Z/X/Y.png\n"
	"      replay = 4096                    events kept for Last-Event-ID replay after a reconnect\n"
	"      max_clients = 256                HTTP connections, SSE streams included\n"
	"      heartbeat_s = 15                 SSE \": ping\" period\n"
	"      alert_link_lost_s = 60           handler alerts (SSE alert events), 0 = off: nothing heard;\n"
	"      alert_gps_lost_s = 45            heard but no fix; alert_battery_pct = 20; alert_heat_c = 32;\n"
	"      alert_outside_box_cm = 100       outside the session's box (+ h_acc); alert_stationary_s = 60\n"
	"      alert_stationary_cm = 200        within this; alert_bout_rat_s = 1800, alert_bout_dog_s = 1200,\n"
	"      alert_bout_gap_s = 600           work bouts (a gap this long ends one)\n"
	"\n"
	"SIGNALS\n"
	"    SIGTERM, SIGINT   finish the current commit, close the store cleanly, exit 0\n"
	"    SIGUSR1           log a statistics line and rewrite the status file now\n"
	"    SIGHUP            re-read the gateway allow-list (key revocation)\n"
	"\n"
	"SYSTEMD\n"
	"    Type=notify: READY=1 once bound, STATUS= every second, WATCHDOG=1 at half of WatchdogSec,\n"
	"    STOPPING=1 at shutdown.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   clean shutdown, or keygen done\n"
	"    64  bad command line (EX_USAGE)\n"
	"    70  internal error (EX_SOFTWARE)\n"
	"    71  cannot bind an endpoint or set up signals (EX_OSERR)\n"
	"    73  cannot open or create the store, or keygen cannot write its files (EX_CANTCREAT)\n"
	"    74  the store failed while running (EX_IOERR)\n"
	"    78  configuration, key or allow-list file invalid (EX_CONFIG)\n",
};

static void ingest_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	core_log(level, "ingest", "%s", msg);
}

/* ---- status ------------------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

#define U(name, v) fprintf(f, "\"%s\":%" PRIu64 ",", name, (uint64_t)(v))

static void write_status(struct daemon *d, FILE *f)
{
	struct an_ingest_stats is;
	struct an_pub_stats ps;
	an_ingest_stats(d->ing, &is);
	an_pub_stats(d->pub, &ps);
	const struct core_feed_stats *fs = &d->feed.st;
	fprintf(f, "{\"core\":{\"version\":");
	json_str(f, SCENTRACK_VERSION);
	fprintf(f, ",\"config\":");
	json_str(f, d->cfg.file);
	fprintf(f, ",\"db\":");
	json_str(f, d->cfg.db);
	fprintf(f, ",\"epoch\":\"%016" PRIx64 "\",", an_pub_epoch(d->pub));
	U("pid", getpid());
	U("started_utc_ms", d->started_utc);
	fprintf(f, "\"uptime_ms\":%" PRIu64 "},", core_mono_ms() - d->started_mono);
	fprintf(f, "\"ingest\":{\"endpoint\":");
	json_str(f, d->ep_ingest);
	fputc(',', f);
	U("msgs", is.msgs); U("batches", is.batches); U("committed", is.committed); U("replays", is.replays);
	U("records_stored", is.records_stored); U("records_dup", is.records_dup);
	U("records_conflict", is.records_conflict); U("rej_decode", is.rej_decode); U("rej_identity", is.rej_identity);
	U("rej_gap", is.rej_gap); U("rej_store", is.rej_store); U("rej_frames", is.rej_frames);
	U("acks_sent", is.acks_sent); U("nacks_sent", is.nacks_sent); U("send_unroutable", is.send_unroutable);
	U("send_again", is.send_again); U("zap_allowed", is.zap_allowed); U("zap_denied", is.zap_denied);
	U("handshakes", is.handshakes); U("disconnects", is.disconnects); U("auth_failures", is.auth_failures);
	fprintf(f, "\"handshake_failures\":%" PRIu64 ",\"last_error\":", is.handshake_failures);
	json_str(f, an_ingest_last_error(d->ing));
	fprintf(f, "},\"pub\":{\"endpoint\":");
	json_str(f, d->ep_pub);
	fprintf(f, ",\"snapshot_endpoint\":");
	json_str(f, d->ep_snap);
	fputc(',', f);
	for (int s = 0; s < AN_PUB_STREAMS; s++)
		fprintf(f, "\"%s\":{\"seq\":%" PRIu64 ",\"published\":%" PRIu64 ",\"items\":%zu},",
		        an_pub_stream_name((enum an_pub_stream)s), an_pub_seq(d->pub, (enum an_pub_stream)s),
		        ps.published[s], ps.items[s]);
	U("refused_full", ps.refused_full); U("send_errors", ps.send_errors); U("hugz", ps.hugz);
	U("snapshots", ps.snapshots); U("snapshot_items", ps.snapshot_items); U("snapshot_aborted", ps.snapshot_aborted);
	fprintf(f, "\"snapshot_bad\":%" PRIu64 "},\"feed\":{", ps.snapshot_bad);
	U("batches", fs->batches); U("fixes_published", fs->fixes_pub); U("inds_published", fs->inds_pub);
	U("hazard_published", fs->hazard_pub); U("gateway_published", fs->gw_pub); U("pub_errors", fs->pub_errors);
	U("hazard_applies", fs->hazard_applies); U("hazard_errors", fs->hazard_errors);
	U("hazard_syncs", fs->hazard_syncs); U("hazard_sync_errors", fs->hazard_sync_errors);
	U("clearances_fed", fs->clearances_fed); U("clearance_requests", d->clr.st.requests);
	U("calibrations_fed", fs->calibrations_fed); U("calibration_imports", d->clr.st.cal_imports);
	U("boxpos_fed", fs->boxpos_fed); U("boxpos_imports", d->clr.st.bp_imports); U("reviews_fed", fs->reviews_fed);
	U("clearance_imports", d->clr.st.imports); U("clearance_refused", d->clr.st.refused);
	U("hazard_inputs", fs->hazard_inputs); U("hazard_apply_us_max", fs->hazard_apply_us_max);
	U("hazard_apply_us_total", fs->hazard_apply_us_total); U("ind_no_pos", fs->ind_no_pos);
	U("ind_unmarked", fs->ind_unmarked);
	U("ind_completions", fs->ind_completions);
	U("out_of_frame", fs->out_of_frame); U("lookup_errors", fs->lookup_errors); U("loaded_fixes", fs->loaded_fixes);
	U("loaded_inds", fs->loaded_inds); U("frames", d->feed.n_frames);
	fprintf(f, "\"hazard_points\":%zu}", core_feed_hazard_points(&d->feed));
	core_web_status(d->web, f);
	fprintf(f, "}\n");
}
#undef U

/* tmp + rename: a reader sees the old document or the new one, never half of one */
static void status_file(struct daemon *d)
{
	if (!d->cfg.status_file[0])
		return;
	char tmp[CORE_PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", d->cfg.status_file);
	FILE *f = fopen(tmp, "we");
	if (!f) {
		static uint64_t warned;
		if (!warned++)
			core_log(CORE_LOG_WARN, "status", "%s: %s", tmp, strerror(errno));
		return;
	}
	write_status(d, f);
	if (fclose(f) != 0 || rename(tmp, d->cfg.status_file) != 0)
		core_log(CORE_LOG_WARN, "status", "%s: %s", d->cfg.status_file, strerror(errno));
}

static void log_stats(struct daemon *d)
{
	struct an_ingest_stats is;
	an_ingest_stats(d->ing, &is);
	const struct core_feed_stats *fs = &d->feed.st;
	core_log(CORE_LOG_INFO, "stats",
	         "batches %" PRIu64 " (+%" PRIu64 " replays), records %" PRIu64 " (+%" PRIu64 " dup); published fix %" PRIu64
	         " ind %" PRIu64 " hazard %" PRIu64 "; hazard points %zu; refused: decode %" PRIu64 " identity %" PRIu64
	         " gap %" PRIu64 " store %" PRIu64,
	         is.committed, is.replays, is.records_stored, is.records_dup, fs->fixes_pub, fs->inds_pub, fs->hazard_pub,
	         core_feed_hazard_points(&d->feed), is.rej_decode, is.rej_identity, is.rej_gap, is.rej_store);
}

static void on_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			core_log(CORE_LOG_NOTE, "main", "%s: shutting down", strsignal((int)si.ssi_signo));
			d->stop = true;
			break;
		case SIGUSR1:
			log_stats(d);
			status_file(d);
			break;
		case SIGHUP: {
			char err[512];
			if (an_ingest_allow_reload(d->ing, err, sizeof err))
				core_log(CORE_LOG_ERR, "main", "allow-list not reloaded (old one stays): %s", err);
			else
				core_log(CORE_LOG_NOTE, "main", "allow-list %s reloaded", d->cfg.allow);
			break;
		}
		default:
			break;
		}
	}
}

static void tick(struct daemon *d, uint64_t now)
{
	if (d->watchdog_ms && now >= d->next_watchdog) {
		sd_notify(0, "WATCHDOG=1");
		d->next_watchdog = now + d->watchdog_ms / 2u;
	}
	if (now >= d->next_tick) {
		struct an_ingest_stats is;
		an_ingest_stats(d->ing, &is);
		sd_notifyf(0, "STATUS=%" PRIu64 " batches, %" PRIu64 " records stored, %zu hazard points", is.committed,
		           is.records_stored, core_feed_hazard_points(&d->feed));
		status_file(d);
		d->next_tick = now + TICK_MS;
	}
	if (d->cfg.stats_interval_s && now >= d->next_stats) {
		if (d->next_stats)
			log_stats(d);
		d->next_stats = now + d->cfg.stats_interval_s * 1000ull;
	}
}

/* -C: one line "cmd GW COLLAR OP [ARG]" → a CMD to that gateway (an_ingest_send_cmd). cmd_id: the
 * seconds since start-up in the high bits make ids of different core runs differ (the collar treats a
 * repeated cmd_id as a resend and only answers it). */
static void command_line(struct daemon *d, const char *line)
{
	unsigned gw, collar, arg = 0;
	char op[32];
	int n = sscanf(line, "cmd %u %u %31s %u", &gw, &collar, op, &arg);
	struct proto_cmd cmd = {0};
	if (n >= 3 && !strcmp(op, "set_rate") && n == 4) {
		cmd.op = PROTO_OP_SET_RATE;
		cmd.has = PROTO_CMD_HAS_PERIOD;
		cmd.period_ms = arg;
	} else if (n == 3 && !strcmp(op, "status_now")) {
		cmd.op = PROTO_OP_STATUS_NOW;
	} else {
		printf("CMD_ERR syntax: cmd GW_ID COLLAR_ID set_rate PERIOD_MS | status_now\n");
		fflush(stdout);
		return;
	}
	if (gw < 1 || gw > 65535 || collar < 1 || collar > 65535) {
		printf("CMD_ERR ids out of range\n");
		fflush(stdout);
		return;
	}
	cmd.cmd_id = (uint32_t)((core_mono_ms() - d->started_mono) / 1000u % 0x10000u) << 16 | (++d->cmd_next_id & 0xFFFFu);
	int err = an_ingest_send_cmd(d->ing, (uint16_t)gw, (uint16_t)collar, &cmd);
	if (err)
		printf("CMD_ERR %s\n", err == -EHOSTUNREACH ? "gateway not connected" : strerror(-err));
	else
		printf("CMD_SENT %u\n", cmd.cmd_id);
	fflush(stdout);
	core_log(CORE_LOG_INFO, "main", "CMD %u op %u for collar %u via gateway %u: %s", cmd.cmd_id, cmd.op, collar,
	         gw, err ? strerror(-err) : "sent");
}

static void on_stdin(struct daemon *d)
{
	ssize_t r = read(STDIN_FILENO, d->cmd_line + d->cmd_len, sizeof d->cmd_line - 1 - d->cmd_len);
	if (r <= 0) {
		d->cmd_stdin = false; /* EOF or error: no more commands */
		return;
	}
	d->cmd_len += (size_t)r;
	d->cmd_line[d->cmd_len] = 0;
	char *nl;
	while ((nl = strchr(d->cmd_line, '\n')) != NULL) {
		*nl = 0;
		command_line(d, d->cmd_line);
		d->cmd_len -= (size_t)(nl + 1 - d->cmd_line);
		memmove(d->cmd_line, nl + 1, d->cmd_len + 1);
	}
	if (d->cmd_len == sizeof d->cmd_line - 1)
		d->cmd_len = 0; /* an overlong line is dropped */
}

/* The one loop. Returns an exit code. */
static int loop(struct daemon *d)
{
	/* ingest, pub, the clearance socket, stdin commands (-C), the web server, signals */
	enum { N_ITEMS = AN_INGEST_POLLITEMS + AN_PUB_POLLITEMS + 1 + 1 + 1 + 1 };
	while (!d->stop) {
		zmq_pollitem_t it[N_ITEMS];
		size_t n = an_ingest_pollitems(d->ing, it, AN_INGEST_POLLITEMS);
		n += an_pub_pollitems(d->pub, &it[n], AN_PUB_POLLITEMS);
		n += core_clr_pollitems(&d->clr, &it[n]);
		int stdin_item = -1;
		if (d->cmd_stdin) {
			stdin_item = (int)n;
			it[n++] = (zmq_pollitem_t){.fd = STDIN_FILENO, .events = ZMQ_POLLIN};
		}
		if (d->web)
			it[n++] = (zmq_pollitem_t){.fd = core_web_fd(d->web), .events = ZMQ_POLLIN};
		it[n++] = (zmq_pollitem_t){.fd = d->sigfd, .events = ZMQ_POLLIN};
		uint64_t now = core_mono_ms();
		uint64_t wait = an_pub_tick(d->pub, now);
		if (d->next_tick > now && d->next_tick - now < wait)
			wait = d->next_tick - now;
		if (d->watchdog_ms && d->next_watchdog > now && d->next_watchdog - now < wait)
			wait = d->next_watchdog - now;
		wait = core_web_timeout(d->web, wait);
		if (zmq_poll(it, (int)n, (long)wait) < 0 && zmq_errno() != EINTR) {
			core_log(CORE_LOG_ERR, "main", "zmq_poll: %s", zmq_strerror(zmq_errno()));
			return EX_OSERR;
		}
		if (it[n - 1].revents & ZMQ_POLLIN)
			on_signals(d);
		if (stdin_item >= 0 && (it[stdin_item].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
			on_stdin(d);
		/* Ingest first: each BATCH is committed (and its records published) before it is ACKed. A SIGTERM
		 * seen above still lets this round's messages commit: the stop takes effect between commits. */
		if (an_ingest_service(d->ing, 0)) {
			core_log(CORE_LOG_ERR, "main", "ingest: %s", an_ingest_last_error(d->ing));
			return EX_IOERR;
		}
		/* this turn's fixes and indications out to the pages now: a hazard recompute must not delay them */
		core_web_service(d->web);
		(void)core_feed_flush(&d->feed); /* logged and counted inside */
		if (core_clr_service(&d->clr))
			core_log(CORE_LOG_WARN, "main", "clearance socket receive failed");
		if (an_pub_service(d->pub, 0))
			core_log(CORE_LOG_WARN, "main", "snapshot socket receive failed");
		core_web_service(d->web); /* the hazard events of the flush */
		tick(d, core_mono_ms());
	}
	return EX_OK;
}

/* A clearance result stored through the web API: to the hazard engines (applied at the next flush). */
static int web_clearances(void *feed)
{
	return core_feed_clearances(feed);
}

/* A recorder box position stored through the web API: to the hazard engines (applied at the next flush). */
static int web_boxpos(void *feed)
{
	return core_feed_boxpos(feed);
}

/* A verdict the feed read live (a collar's press through ingest, or the web's own): the map's status. */
static void feed_reviewed(void *web, uint16_t collar_id, uint32_t rec_seq)
{
	core_web_ind_reviewed(web, collar_id, rec_seq);
}

/* A handler's verdict stored through the web API: to the hazard engines (applied at the next flush). */
static int web_review(void *feed)
{
	return core_feed_reviews(feed);
}

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
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -errno : 0;
}

static int run(struct daemon *d, int foreground)
{
	int ex = EX_OK, rc;
	char err[512];
	struct an_ingest_config ic = {0};
	/* Keys and allow-list first: a config mistake is EX_CONFIG before anything is created. */
	if (an_ingest_key_read(d->cfg.secret_key, ic.secret, err, sizeof err)) {
		core_log(CORE_LOG_ERR, "config", "[ingest] secret_key: %s", err);
		return EX_CONFIG;
	}
	struct an_ingest_allow *allow;
	if (an_ingest_allow_load(d->cfg.allow, &allow, err, sizeof err)) {
		core_log(CORE_LOG_ERR, "config", "[ingest] allow: %s", err);
		explicit_bzero(ic.secret, sizeof ic.secret);
		return EX_CONFIG;
	}
	an_ingest_allow_free(allow);
	/* Detach before SQLite and ZeroMQ exist: neither survives a fork. */
	if (!foreground && daemon(1, 1) < 0) {
		core_log(CORE_LOG_ERR, "main", "cannot detach: %s", strerror(errno));
		ex = EX_OSERR;
		goto out_secret;
	}
	if (setup_signals(d)) {
		core_log(CORE_LOG_ERR, "main", "signals: %s", strerror(errno));
		ex = EX_OSERR;
		goto out_secret;
	}
	if ((rc = an_store_open(d->cfg.db, AN_STORE_CREATE, &d->store, err, sizeof err))) {
		core_log(CORE_LOG_ERR, "store", "%s: %s", d->cfg.db, err);
		ex = EX_CANTCREAT;
		goto out_sig;
	}
	d->zctx = zmq_ctx_new();
	if (!d->zctx) {
		ex = EX_OSERR;
		goto out_store;
	}
	struct an_pub_config pc = {.pub_endpoint = d->cfg.pub_endpoint, .snap_endpoint = d->cfg.snap_endpoint,
	                           .sndhwm = (int)d->cfg.pub_sndhwm, .max_items = d->cfg.max_items, .zctx = d->zctx};
	if ((rc = an_pub_open(&pc, &d->pub, err, sizeof err))) {
		core_log(CORE_LOG_ERR, "pub", "%s", err);
		ex = rc == -EINVAL ? EX_CONFIG : EX_OSERR;
		goto out_ctx;
	}
	/* The web server before the feed: its PUB tap sees the state the feed loads from the store. */
	if ((rc = core_web_open(&d->cfg.web, d->store, d->pub, &d->web, err, sizeof err))) {
		core_log(CORE_LOG_ERR, "web", "%s", err);
		ex = rc == -EINVAL ? EX_CONFIG : rc == -EADDRINUSE ? EX_OSERR : EX_IOERR;
		goto out_pub;
	}
	uint64_t t0 = core_mono_ms();
	if ((rc = core_feed_open(&d->feed, d->store, d->pub, &d->cfg))) {
		core_log(CORE_LOG_ERR, "feed", "rebuilding the live state from the store failed: %s", strerror(-rc));
		ex = rc == -ENOMEM ? EX_OSERR : EX_IOERR;
		goto out_web;
	}
	core_log(CORE_LOG_NOTE, "feed", "state rebuilt from the store in %" PRIu64 " ms: %" PRIu64 " indications, %" PRIu64
	         " usable fixes, %zu hazard points", core_mono_ms() - t0, d->feed.st.loaded_inds, d->feed.st.loaded_fixes,
	         core_feed_hazard_points(&d->feed));
	core_web_set_clearance_hook(d->web, web_clearances, &d->feed);
	core_web_set_boxpos_hook(d->web, web_boxpos, &d->feed);
	core_web_set_review_hook(d->web, web_review, &d->feed);
	d->feed.on_review = feed_reviewed;
	d->feed.on_review_ctx = d->web;
	struct an_ingest_sink sink;
	core_feed_sink(&d->feed, &sink);
	ic.endpoint = d->cfg.ingest_endpoint;
	ic.allow_path = d->cfg.allow;
	ic.zap_domain = d->cfg.zap_domain;
	ic.credit = (uint16_t)d->cfg.credit;
	ic.log = ingest_log;
	ic.zctx = d->zctx;
	if ((rc = an_ingest_open(&ic, &sink, &d->ing, err, sizeof err))) {
		core_log(CORE_LOG_ERR, "ingest", "%s", err);
		ex = rc == -EINVAL ? EX_CONFIG : EX_OSERR;
		goto out_feed;
	}
	if ((rc = core_clr_open(&d->clr, d->zctx, d->cfg.clr_endpoint, d->store, &d->feed, err, sizeof err))) {
		core_log(CORE_LOG_ERR, "clearance", "%s", err);
		ex = rc == -EINVAL ? EX_CONFIG : EX_OSERR;
		goto out_ingest;
	}
	if (d->clr.sock)
		core_log(CORE_LOG_NOTE, "clearance", "clearance imports on %s", d->clr.endpoint);
	if (an_ingest_endpoint(d->ing, d->ep_ingest, sizeof d->ep_ingest) ||
	    an_pub_endpoints(d->pub, d->ep_pub, sizeof d->ep_pub, d->ep_snap, sizeof d->ep_snap)) {
		ex = EX_SOFTWARE;
		goto out_ingest;
	}
	uint64_t wd_us = 0;
	if (sd_watchdog_enabled(0, &wd_us) > 0)
		d->watchdog_ms = wd_us / 1000u;
	d->started_mono = core_mono_ms();
	d->started_utc = core_utc_ms();
	core_log(CORE_LOG_NOTE, "main", "ready: ingest %s, pub %s, snapshot %s, epoch %016" PRIx64, d->ep_ingest, d->ep_pub,
	         d->ep_snap, an_pub_epoch(d->pub));
	if (foreground) {
		if (d->web)
			printf("WEB %s\n", core_web_url(d->web));
		printf("READY ingest=%s pub=%s snapshot=%s epoch=%016" PRIx64 "\n", d->ep_ingest, d->ep_pub, d->ep_snap,
		       an_pub_epoch(d->pub));
		fflush(stdout);
	}
	sd_notify(0, "READY=1");
	ex = loop(d);
	sd_notify(0, "STOPPING=1");
	(void)core_feed_flush(&d->feed);
	log_stats(d);
	status_file(d);
out_ingest:
	core_clr_close(&d->clr);
	an_ingest_close(d->ing);
out_feed:
	core_feed_close(&d->feed);
out_web:
	core_web_close(d->web);
out_pub:
	an_pub_close(d->pub);
out_ctx:
	zmq_ctx_term(d->zctx);
out_store:
	an_store_close(d->store); /* WAL checkpoint; every acked batch was committed before its ack */
out_sig:
	close(d->sigfd);
out_secret:
	explicit_bzero(ic.secret, sizeof ic.secret);
	return ex;
}

static int keygen(const char *pub_path, const char *sec_path)
{
	int rc = an_ingest_keygen_files(pub_path, sec_path);
	if (rc) {
		fprintf(stderr, "scentrack-core: keygen: %s\n",
		        rc == -EEXIST ? "a key file already exists (refusing to overwrite)" : strerror(-rc));
		return rc == -ENOTSUP ? EX_UNAVAILABLE : EX_CANTCREAT;
	}
	char z85[AN_INGEST_KEY_Z85_LEN + 1], err[256];
	if (an_ingest_key_read(pub_path, z85, err, sizeof err)) {
		fprintf(stderr, "scentrack-core: keygen: %s\n", err);
		return EX_SOFTWARE;
	}
	printf("%s\n", z85);
	return EX_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'f'}, {"foreground", no_argument, NULL, 'N'},
		{"debug", required_argument, NULL, 'D'},  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {"commands", no_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
	};
	if (argc >= 2 && !strcmp(argv[1], "keygen")) {
		if (argc != 4) {
			fprintf(stderr, "usage: scentrack-core keygen PUBLIC_FILE SECRET_FILE\n");
			return EX_USAGE;
		}
		return keygen(argv[2], argv[3]);
	}
	const char *file = NULL;
	int foreground = 0, debug = -1, c;
	bool cmd_stdin = false;
	while ((c = getopt_long(argc, argv, "f:ND:ChV", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'N':
			foreground = 1;
			break;
		case 'C':
			cmd_stdin = true;
			break;
		case 'D': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 9) {
				fprintf(stderr, "scentrack-core: -D %s: expected 0, 1 or 2\n", optarg);
				return EX_USAGE;
			}
			debug = (int)v;
			break;
		}
		case 'h':
			for (size_t i = 0; i < sizeof usage_text / sizeof usage_text[0]; i++)
				fputs(usage_text[i], stdout);
			return EX_OK;
		case 'V':
			printf("scentrack-core %s\n", SCENTRACK_VERSION);
			return EX_OK;
		default:
			fprintf(stderr, "Try 'scentrack-core --help'.\n");
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "scentrack-core: unexpected argument '%s'\nTry 'scentrack-core --help'.\n", argv[optind]);
		return EX_USAGE;
	}
	struct daemon *d = calloc(1, sizeof *d);
	if (!d)
		return EX_OSERR;
	d->sigfd = -1;
	d->cmd_stdin = cmd_stdin;
	core_config_defaults(&d->cfg);
	if (core_config_load(&d->cfg, file ? file : CORE_DEFAULT_FILE)) {
		free(d);
		return EX_CONFIG;
	}
	core_log_set_level(debug < 0 ? d->cfg.log_level : debug == 0 ? CORE_LOG_NOTE : debug == 1 ? CORE_LOG_INFO
	                                                                                      : CORE_LOG_DEBUG);
	int ex = run(d, foreground);
	free(d);
	return ex;
}
