/*
 * tests/gateway/dock/dock_daemon_harness.c — the USB dock through the real scentrack-gateway daemon.
 *
 * This process owns a umockdev testbed with the emulated cradle + collar (collar_emu.c, a real cf_journal);
 * the gateway runs as a child with LD_PRELOAD=libumockdev-preload and UMOCKDEV_DIR = the testbed, so its
 * libusb sees the mocked /sys and /dev/bus/usb and its usbfs ioctls are answered by our handler thread.
 * The daemon is configured with [dock] usb = 1209:5ca7 and no radio link.
 *
 * Scenario: a journal of NREC records (every 50th an IND) is docked; during the download
 *   1. the collar stalls after a third; the gateway is SIGKILLed, every rec_seq the collar was told to trim
 *      must already be in the spool on disk; the cradle is re-seated and the gateway restarted (records it
 *      had not committed are gone with it; the collar, never told to trim them, sends them again);
 *   2. the restarted daemon finds the re-seated cradle (hotplug enumeration) and downloads to the end;
 * (an unplug/replug within one gateway process is covered in-process by gw_dock: under umockdev a child
 * process does not see the second arrival, see the report)
 * until the collar has been told to trim its last record. Then `scentrack-gateway --status` shows the dock
 * section, the gateway is SIGKILLed at once: all NREC records must be in the spool (LOG_TRIM only after
 * durable), exactly once each, with the journaled type. Waits check the emulator's counters every 10 ms against a deadline; a global alarm ends it.
 *
 * Scenario "provision" (argv[3]): an unprovisioned collar (id 0, empty journal) sits in the cradle; the
 * operator runs `scentrack-gateway --provision 999 ...` (not in the key file: refused, exit 65) and then
 * `--provision 258 dog 1000 60000` against the daemon's control socket (mode 0600): the collar must receive
 * collar id 258, the key the key file holds for 258 (the command never carried it), species dog, FIX
 * period 1000 ms, STATUS period 60000 ms, and answer the next LOG_LIST as 258; no line of the gateway's
 * log contains the key; SIGTERM ends the daemon cleanly.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <umockdev.h>

#include "collar_emu.h"

#define NREC 3000u
#define COLLAR 0x0101u
#define TIMEOUT_S 150u

static struct emu *E;
static char dir[64], cfg_path[128], spool_path[128], sock_path[128], log_path[128];
static const char *gw_bin, *preload;
static pid_t gw_pid = -1;
static uint8_t kind[NREC + 1];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (gw_pid > 0)
		kill(gw_pid, SIGKILL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", log_path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no gateway log)\n");
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "FAIL: harness timeout\n";
	if (write(2, m, sizeof m - 1) < 0)
		_exit(1);
	if (gw_pid > 0)
		kill(gw_pid, SIGKILL);
	_exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void emu_stall(uint32_t after)
{
	pthread_mutex_lock(&E->mu);
	E->stall_after = after;
	pthread_mutex_unlock(&E->mu);
}

static uint32_t emu_get(const uint32_t *field)
{
	pthread_mutex_lock(&E->mu);
	uint32_t v = *field;
	pthread_mutex_unlock(&E->mu);
	return v;
}

/* Until *field >= want (the emulator's thread moves it), checking every 10 ms, or fail after ms. */
static void wait_for(const uint32_t *field, uint32_t want, unsigned ms, const char *what)
{
	uint64_t end = now_ms() + ms;
	while (emu_get(field) < want) {
		if (now_ms() > end)
			fail("%s: %u < %u after %u ms", what, emu_get(field), want, ms);
		int st;
		if (gw_pid > 0 && waitpid(gw_pid, &st, WNOHANG) == gw_pid) {
			gw_pid = -1;
			fail("gateway exited (status 0x%x) while waiting for %s", st, what);
		}
		poll(NULL, 0, 10);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fail("write %s", path);
	close(fd);
}

static void gw_start(void)
{
	gw_pid = fork();
	if (gw_pid < 0)
		fail("fork");
	if (gw_pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("LD_PRELOAD", preload, 1);
		setenv("UMOCKDEV_DIR", umockdev_testbed_get_root_dir(E->tb), 1);
		execl(gw_bin, gw_bin, "-N", "-D", "1", "-f", cfg_path, (char *)NULL);
		_exit(127);
	}
}

static int gw_stop(int sig)
{
	kill(gw_pid, sig);
	int st;
	if (waitpid(gw_pid, &st, 0) != gw_pid)
		fail("waitpid");
	gw_pid = -1;
	return st;
}

static sqlite3 *spool_open(void)
{
	sqlite3 *db;
	if (sqlite3_open_v2(spool_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail("open spool: %s", sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* After the SIGKILL: everything the collar was told to trim is in the spool. */
static void check_trimmed_are_durable(uint32_t last_trim)
{
	sqlite3 *db = spool_open();
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT COUNT(DISTINCT rec_seq) FROM rec WHERE collar_id = ?1 AND rec_seq <= ?2", -1,
	                       &st, NULL) != SQLITE_OK)
		fail("query: %s", sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, COLLAR);
	sqlite3_bind_int64(st, 2, last_trim);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != last_trim)
		fail("LOG_TRIM up to %u was sent, but only %lld of those records are in the spool after kill -9", last_trim,
		     (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("kill -9: the collar was told to trim 1..%u, all of them are in the spool\n", last_trim);
}

static void check_spool_exactly_once(void)
{
	sqlite3 *db = spool_open();
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT rec_seq, type, COUNT(*), MAX(link) FROM rec WHERE collar_id = ?1 AND "
	                           "rec_seq IS NOT NULL GROUP BY rec_seq ORDER BY rec_seq",
	                       -1, &st, NULL) != SQLITE_OK)
		fail("query: %s", sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, COLLAR);
	uint32_t expect = 1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t seq = (uint32_t)sqlite3_column_int64(st, 0);
		int type = sqlite3_column_int(st, 1), n = sqlite3_column_int(st, 2), link = sqlite3_column_int(st, 3);
		if (seq != expect)
			fail("spool: rec_seq %u missing (next present %u)", expect, seq);
		if (n != 1 || type != kind[seq] || link != 255)
			fail("spool: rec_seq %u stored %d times, type %d (journaled %u), link %d", seq, n, type, kind[seq], link);
		expect++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (expect != NREC + 1)
		fail("spool: %u records, want %u", expect - 1, NREC);
	printf("spool: rec_seq 1..%u of collar %u exactly once each, types as journaled, link 255 (dock)\n", NREC,
	       COLLAR);
}

static const char key258[] = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_provision(void)
{
	int err = emu_init(E, 4096, 64, 0 /* unprovisioned */);
	if (err == -ENOSYS) {
		fprintf(stderr, "SKIP: umockdev testbed unavailable\n");
		return 77;
	}
	if (err)
		fail("emulator init: %d", err);
	snprintf(dir, sizeof dir, "/tmp/gwdockp.XXXXXX");
	if (!mkdtemp(dir))
		fail("mkdtemp");
	char path[200], ctl[160], out[160], text[1024];
	snprintf(cfg_path, sizeof cfg_path, "%s/gateway.ini", dir);
	snprintf(spool_path, sizeof spool_path, "%s/spool.sqlite", dir);
	snprintf(sock_path, sizeof sock_path, "%s/status.sock", dir);
	snprintf(log_path, sizeof log_path, "%s/gateway.log", dir);
	snprintf(ctl, sizeof ctl, "%s/control.sock", dir);
	snprintf(out, sizeof out, "%s/answer.txt", dir);
	snprintf(path, sizeof path, "%s/keys", dir);
	snprintf(text, sizeof text, "257 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n258 %s\n", key258);
	write_file(path, text, 0600);
	snprintf(text, sizeof text,
	         "[gateway]\nid = 3\nkeys = %s/keys\nstatus_socket = %s\ncontrol_socket = %s\nstats_interval_s = 0\n"
	         "[spool]\npath = %s\n[dock]\nusb = 1209:5ca7\nio_timeout_ms = 2000\n",
	         dir, sock_path, ctl, spool_path);
	write_file(cfg_path, text, 0644);
	emu_plug(E);
	gw_start();
	wait_for(&E->lists, 1, 60000, "LOG_LIST of the unprovisioned collar");
	struct stat sb;
	if (stat(ctl, &sb) < 0 || !S_ISSOCK(sb.st_mode) || (sb.st_mode & 0777) != 0600)
		fail("control socket %s: missing or not mode 0600 (mode %o)", ctl, (unsigned)(sb.st_mode & 0777));
	int rc = sh("'%s' --provision 999 rat 1000 -s '%s' > '%s'", gw_bin, ctl, out);
	if (rc != 65 || sh("grep -q '^error collar 999 is not in the key file' '%s'", out) != 0)
		fail("--provision of a collar without a key: exit %d (want 65), answer: see %s", rc, out);
	rc = sh("'%s' --provision 258 dog 1000 60000 -s '%s' > '%s'", gw_bin, ctl, out);
	if (rc != 0 || sh("grep -q '^ok PROVISION of collar 258 queued' '%s'", out) != 0)
		fail("--provision 258: exit %d (want 0)", rc);
	/* the collar takes it and answers the next LOG_LIST as 258 */
	uint64_t end = now_ms() + 30000;
	for (;;) {
		pthread_mutex_lock(&E->mu);
		int done = E->provisioned >= 1 && E->collar_id == 258 && E->lists >= 2;
		pthread_mutex_unlock(&E->mu);
		if (done)
			break;
		if (now_ms() > end)
			fail("PROVISION not received by the collar within 30 s");
		poll(NULL, 0, 10);
	}
	uint8_t want[PROTO_KEY_LEN];
	for (unsigned i = 0; i < PROTO_KEY_LEN; i++) {
		unsigned v;
		if (sscanf(key258 + 2 * i, "%2x", &v) != 1)
			fail("key literal");
		want[i] = (uint8_t)v;
	}
	pthread_mutex_lock(&E->mu);
	struct proto_provision p = E->prov;
	pthread_mutex_unlock(&E->mu);
	if (p.collar_id != 258 || p.species != PROTO_SPECIES_DOG || p.report_ms != 1000 || p.status_ms != 60000 ||
	    memcmp(p.key, want, sizeof want))
		fail("PROVISION content: collar %u species %u report %u status %u, key %s", p.collar_id, p.species,
		     p.report_ms, p.status_ms, memcmp(p.key, want, sizeof want) ? "WRONG" : "right");
	uint64_t utc = (uint64_t)time(NULL) * 1000u;
	if (!p.utc_ms || p.utc_ms + 60000u < utc || p.utc_ms > utc + 60000u)
		fail("PROVISION clock seed %llu ms, now %llu ms", (unsigned long long)p.utc_ms, (unsigned long long)utc);
	if (sh("'%s' --status -s '%s' | grep -q '\"provisions_queued\":1,\"provisionings\":1,\"provision_failed\":0'",
	       gw_bin, sock_path) != 0)
		fail("--status: the dock section does not count the provisioning");
	if (gw_stop(SIGTERM) != 0)
		fail("the gateway did not stop cleanly on SIGTERM");
	/* the key in any case, and any 16-digit piece of it, in no log line */
	for (unsigned o = 0; o + 16 <= sizeof key258 - 1; o += 8)
		if (sh("grep -qi '%.16s' '%s'", key258 + o, log_path) == 0)
			fail("key material in the gateway log");
	if (sh("grep -q 'collar 258 provisioned' '%s'", log_path) != 0)
		fail("the log does not say the collar took the PROVISION");
	printf("provision: refused for a collar without a key (exit 65); collar 258 provisioned through the daemon's "
	       "control socket (mode 0600) with the key file's key, dog, 1000/60000 ms; no key in the log\n");
	emu_fini(E);
	free(E);
	if (sh("rm -rf '%s'", dir) != 0)
		fprintf(stderr, "cleanup failed\n");
	printf("PASS dock daemon provision\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s GATEWAY LIBUMOCKDEV_PRELOAD\n", argv[0]);
		return 2;
	}
	gw_bin = argv[1];
	preload = argv[2];
	signal(SIGALRM, on_alarm);
	alarm(TIMEOUT_S);
	E = calloc(1, sizeof *E);
	if (!E)
		return 1;
	if (argc > 3 && !strcmp(argv[3], "provision"))
		return run_provision();
	int err = emu_init(E, 4096, 64, COLLAR);
	if (err == -ENOSYS) {
		fprintf(stderr, "SKIP: umockdev testbed unavailable\n");
		return 77;
	}
	if (err)
		fail("emulator init: %d", err);
	for (uint32_t i = 0; i < NREC; i++) {
		int ind = i % 50u == 49u;
		uint32_t s = ind ? emu_append_ind(E) : emu_append_fix(E);
		if (s != i + 1)
			fail("journal append %u gave %u", i, s);
		kind[s] = ind ? 4 : 2;
	}
	snprintf(dir, sizeof dir, "/tmp/gwdockd.XXXXXX");
	if (!mkdtemp(dir))
		fail("mkdtemp");
	snprintf(cfg_path, sizeof cfg_path, "%s/gateway.ini", dir);
	snprintf(spool_path, sizeof spool_path, "%s/spool.sqlite", dir);
	snprintf(sock_path, sizeof sock_path, "%s/status.sock", dir);
	snprintf(log_path, sizeof log_path, "%s/gateway.log", dir);
	char path[200], text[1024];
	snprintf(path, sizeof path, "%s/keys", dir);
	write_file(path, "257 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600);
	snprintf(text, sizeof text,
	         "[gateway]\nid = 3\nkeys = %s/keys\nstatus_socket = %s\nstats_interval_s = 0\n"
	         "[spool]\npath = %s\n[dock]\nusb = 1209:5ca7\nio_timeout_ms = 2000\n",
	         dir, sock_path, spool_path);
	write_file(cfg_path, text, 0644);

	/* the collar stops answering after a third of its journal: the gateway is killed mid-download */
	emu_stall(NREC / 3);
	emu_plug(E);
	gw_start();
	/* 1. SIGKILL mid-download */
	wait_for(&E->records_sent, NREC / 3, 60000, "a third of the journal sent");
	gw_stop(SIGKILL);
	uint32_t trimmed = emu_get(&E->last_trim);
	if (trimmed >= NREC)
		fail("the download was complete before the kill");
	check_trimmed_are_durable(trimmed);
	/* The dead process's URBs died with its usbfs file descriptor: the emulator must not hand them to the
	 * next process as completions (its unplug would complete them with -ESHUTDOWN). */
	pthread_mutex_lock(&E->mu);
	E->n_pending = 0;
	E->n_done = 0;
	pthread_mutex_unlock(&E->mu);
	emu_unplug(E); /* re-seat the collar: a new USB session for the new process */
	emu_stall(0);
	emu_plug(E);
	gw_start();
	wait_for(&E->last_trim, NREC, 90000, "LOG_TRIM of the last record");
	pthread_mutex_lock(&E->mu);
	printf("dock daemon: trimmed up to %u at the kill; ", trimmed);
	printf("%u records sent by the collar (resends included), %u LOG_LIST, %u LOG_READ, %u LOG_TRIM\n",
	       E->records_sent, E->lists, E->reads, E->trims);
	pthread_mutex_unlock(&E->mu);

	char cmd[400];
	snprintf(cmd, sizeof cmd, "'%s' --status -s '%s' | grep -o '\"dock\":{[^}]*}'", gw_bin, sock_path);
	if (system(cmd) != 0)
		fail("--status has no dock section");
	/* the last LOG_TRIM went out: kill -9 at once, everything must be on disk */
	gw_stop(SIGKILL);
	check_trimmed_are_durable(NREC);
	check_spool_exactly_once();
	emu_fini(E);
	free(E);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	printf("PASS dock daemon\n");
	return 0;
}
