/*
 * tests/collar-fw/collar_process_test.c — the whole scentrack-collar process against a model gateway, with
 * power cuts: kill -9 at random points, restart on the same flash file, thousands of times.
 *
 * The test process IS the gateway: it speaks the real frame format through proto/ (deframer, CRC, tag
 * check with the collar key, msgpack decode of HELLO/FIX/FIXB/IND/STATUS), stores every rec_seq once, and
 * answers each HELLO and data frame with an ACK (cum + 64-bit sack + UTC + credit) at once. The collar runs
 * with --fast (virtual clock, lock-step with our ACKs), --journal-log (it prints "journaled SEQ TYPE CRC"
 * after each durable append) and a socketpair as its radio (--radio fd:3).
 *
 * Each run is killed with SIGKILL after a random number of observed events (journal lines + frames; 0 =
 * right after exec, inside the journal mount), or ends by itself (--exit-on-eof: inputs done, all acked).
 * A last run without a kill drains everything. Then:
 *   - every rec_seq the collar ever printed as journaled is in the gateway's store, with a body whose
 *     CRC-32C equals the printed one (re-encoded from the decoded message: encode is canonical), and of the
 *     printed type: nothing lost, nothing corrupted;
 *   - printed rec_seqs strictly increase over all runs, each boot's "next" is above everything printed
 *     before, boot_id strictly increases, link_seq strictly increases within a boot: nothing repeats;
 *   - a rec_seq received twice always carries the same content (dedupe is safe);
 *   - CMDs: after every HELLO the gateway sends a SET_RATE (cmd_id increasing, a new one after some of
 *     the DONE answers, else the same one again as if our ACK were lost). A cmd_id whose CMD_ACK arrived
 *     in an earlier boot is never run again ("cmd ..." lines), and every boot's report period is that of
 *     the newest SET_RATE acknowledged in an earlier boot, or a newer one: the CMD memory and the config
 *     survive kill -9.
 * Nothing sleeps: every wait is poll() on the collar's stdout and the radio socket, bounded by a timeout that
 * fails the test. SCENTRACK_COLLAR_KILLS sets the number of kills (default 1000; 300 under sanitizers);
 * CDBG=N passes -D N to the collar (its diagnostics on stderr) when debugging.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/crc32c.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define COLLAR_BIN SCENTRACK_BINARY_DIR "/collar-fw/scentrack-collar"
#define COLLAR_ID 261u
#define SEQ_CAP (1u << 21)
#define EPOCHS 120u       /* 2 minutes of 1 Hz GGA+RMC per run */
#define IO_TIMEOUT_MS 20000 /* the collar silent this long = hung: fail */
#define UTC_BASE_MS 1748736000000ull /* 2025-06-01T00:00:00Z */

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_KILLS 300u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_KILLS 300u
#endif
#endif
#ifndef DEFAULT_KILLS
#define DEFAULT_KILLS 1000u
#endif

static const uint8_t key[PROTO_KEY_LEN] = {
	0x5c, 0x01, 0x7e, 0x22, 0x91, 0x3a, 0xb4, 0x0f, 0x66, 0xd2, 0x18, 0xe9, 0x47, 0x7b, 0x2c, 0xa0,
	0x03, 0xfe, 0x88, 0x51, 0x1d, 0xc6, 0x39, 0x94, 0x6e, 0x0b, 0xf7, 0x25, 0xba, 0x4d, 0x80, 0x13,
};

/* what the collar printed, and what the gateway stored, per rec_seq */
struct rec {
	uint8_t printed_type; /* 0 = not printed */
	uint8_t stored_type;  /* 0 = not stored */
	uint16_t rx_count;
	uint32_t printed_crc;
	uint32_t stored_crc;
};

struct gw {
	struct rec *rec;
	struct proto_hmac_key hkey;
	struct proto_deframer df;
	uint8_t frame[PROTO_COBS_MAX(PROTO_FRAME_MAX)];
	uint32_t cum;
	uint16_t link_seq;
	int have_boot;
	uint16_t boot;       /* the collar's current boot_id (from frames) */
	int have_lseq;
	uint16_t last_lseq;
	uint32_t acks, frames, dup_rx, hellos, statuses;
	uint32_t max_seq;
	int sock;
	/* the collar's stdout */
	char line[256];
	size_t line_len;
	uint32_t last_printed;
	int have_boot_line;
	uint16_t last_boot_line;
	uint32_t events; /* journal lines + frames this run */
	uint32_t printed_total;
	/* CMDs */
	uint32_t run;           /* 1, 2, ... */
	uint32_t cmd_id;        /* the SET_RATE sent after each HELLO */
	uint16_t cmd_seq;
	uint32_t acked_run[64]; /* run in which the CMD_ACK DONE of cmd_id arrived (0: not yet) */
	uint32_t cmd_runs, cmd_acks, cmd_repeats_after_ack, boots_checked;
};

#define CMD_PERIOD(id) (1000u + 10u * (id))

static char dir[] = "/tmp/cf_collar_proc_XXXXXX";
static char path_key[128], path_flash[128], path_nmea[128], path_motion[128];

static void nmea_line(FILE *f, const char *body)
{
	uint8_t x = 0;
	for (const char *p = body; *p; p++) {
		x ^= (uint8_t)*p;
	}
	fprintf(f, "$%s*%02X\r\n", body, x);
}

/* A handler walking a lane at ~0.5 m/s east, near Maputo; 1 Hz GGA + RMC. */
static void write_inputs(void)
{
	FILE *f = fopen(path_nmea, "w");
	cr_assert_not_null(f);
	fputs("# synthetic 1 Hz receiver log for the collar process test\n", f);
	for (unsigned i = 0; i < EPOCHS; i++) {
		char b[160];
		unsigned s = 10u * 3600u + i; /* 10:00:00 + i */
		unsigned hh = s / 3600u, mm = s / 60u % 60u, ss = s % 60u;
		/* 0.5 m/s east at 25.9 S: 1 m of longitude is 0.0000900 deg / cos(lat) ~ 0.000600 minutes */
		unsigned lon_min_e4 = 350000u + i * 3u; /* 032 35.0000 E + 0.0003' per s */
		snprintf(b, sizeof b, "GPGGA,%02u%02u%02u.00,2554.1234,S,032%02u.%04u,E,1,09,0.9,45.0,M,-10.0,M,,", hh,
		         mm, ss, lon_min_e4 / 10000u, lon_min_e4 % 10000u);
		nmea_line(f, b);
		snprintf(b, sizeof b, "GPRMC,%02u%02u%02u.00,A,2554.1234,S,032%02u.%04u,E,0.97,90.0,010625,,,A", hh, mm,
		         ss, lon_min_e4 / 10000u, lon_min_e4 % 10000u);
		nmea_line(f, b);
	}
	cr_assert_eq(fclose(f), 0);
	f = fopen(path_motion, "w");
	cr_assert_not_null(f);
	fputs("t_ms,event,level\n", f);
	for (unsigned t = 5000; t + 1000 < EPOCHS * 1000u; t += 13000) {
		fprintf(f, "%u,button,1\n%u,button,0\n", t, t + 700u);
	}
	cr_assert_eq(fclose(f), 0);
	f = fopen(path_key, "w");
	cr_assert_not_null(f);
	for (unsigned i = 0; i < PROTO_KEY_LEN; i++) {
		fprintf(f, "%02x", key[i]);
	}
	fputc('\n', f);
	cr_assert_eq(fclose(f), 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static pid_t spawn(struct gw *g, int *out_fd)
{
	int sv[2], op[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(op, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* child: radio on fd 3, journal log on stdout; dup2 clears CLOEXEC on the copies */
		if (dup2(op[1], STDOUT_FILENO) < 0 || dup2(sv[1], 3) < 0) {
			_exit(126);
		}
		execl(COLLAR_BIN, "scentrack-collar", "--id", "261", "--key", path_key, "--flash", path_flash,
		      "--flash-pages", "32", "--gnss", path_nmea, "--motion", path_motion, "--radio", "fd:3", "--fast",
		      "--exit-on-eof", "--journal-log", "--rate", "1000", "--pair-hold", "1000", "-D", getenv("CDBG") ? getenv("CDBG") : "0", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(op[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(op[0], F_SETFL, O_NONBLOCK);
	g->sock = sv[0];
	*out_fd = op[0];
	proto_deframer_init(&g->df);
	g->have_lseq = 0;
	g->line_len = 0;
	g->events = 0;
	return pid;
}

static void send_ack(struct gw *g)
{
	struct proto_ack a = {.has = PROTO_ACK_HAS_GWT | PROTO_ACK_HAS_CREDIT, .cum = g->cum,
	                      .gw_ms = UTC_BASE_MS + 36000000ull, .credit = 8};
	for (unsigned i = 0; i < 64u; i++) {
		uint32_t r = g->cum + 1u + i;
		if (r < SEQ_CAP && g->rec[r].stored_type)
			a.sack |= 1ull << i;
	}
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	cr_assert_eq(proto_ack_encode(&a, body, sizeof body, &blen), 0);
	struct proto_hdr h = {.type = PROTO_T_ACK, .collar_id = COLLAR_ID, .link_seq = g->link_seq++, .boot_id = 1};
	cr_assert_eq(proto_frame_encode(&h, body, blen, &g->hkey, wire, sizeof wire, &wlen), 0);
	/* the collar may be dead already: a lost ACK is what a power cut does to the radio too */
	(void)send(g->sock, wire, wlen, MSG_NOSIGNAL);
	g->acks++;
}

static void send_cmd(struct gw *g)
{
	struct proto_cmd c = {.has = PROTO_CMD_HAS_PERIOD, .cmd_id = g->cmd_id, .op = PROTO_OP_SET_RATE,
	                      .period_ms = CMD_PERIOD(g->cmd_id)};
	uint8_t body[PROTO_BODY_MAX], wire[PROTO_WIRE_MAX];
	size_t blen, wlen;
	cr_assert_eq(proto_cmd_encode(&c, body, sizeof body, &blen), 0);
	struct proto_hdr h = {.type = PROTO_T_CMD, .collar_id = COLLAR_ID, .link_seq = g->link_seq++, .boot_id = 1};
	cr_assert_eq(proto_frame_encode(&h, body, blen, &g->hkey, wire, sizeof wire, &wlen), 0);
	(void)send(g->sock, wire, wlen, MSG_NOSIGNAL);
	if (g->acked_run[g->cmd_id])
		g->cmd_repeats_after_ack++;
}

static void store(struct gw *g, uint32_t seq, uint8_t type, const uint8_t *body, size_t len)
{
	cr_assert(seq > 0 && seq < SEQ_CAP, "rec_seq %" PRIu32 " out of the test's range", seq);
	uint32_t crc = proto_crc32c(0, body, len);
	struct rec *r = &g->rec[seq];
	if (r->stored_type) {
		g->dup_rx++;
		cr_assert(r->stored_type == type && r->stored_crc == crc,
		          "rec_seq %" PRIu32 " received again with different content (a repeated rec_seq)", seq);
	} else {
		r->stored_type = type;
		r->stored_crc = crc;
		while (g->cum + 1u < SEQ_CAP && g->rec[g->cum + 1u].stored_type)
			g->cum++;
	}
	if (r->rx_count < UINT16_MAX)
		r->rx_count++;
	if (seq > g->max_seq)
		g->max_seq = seq;
}

static void on_frame(struct gw *g, size_t flen)
{
	static struct proto_msg m;
	struct proto_hdr h;
	const uint8_t *body;
	size_t blen, elen;
	uint8_t enc[PROTO_BODY_MAX];

	cr_assert_eq(proto_frame_check(g->frame, flen, &h, &body, &blen), 0, "bad frame from the collar");
	cr_assert_eq(h.collar_id, COLLAR_ID);
	cr_assert_eq(proto_frame_verify(g->frame, flen, &g->hkey), 0, "bad tag from the collar");
	cr_assert_eq(proto_msg_decode(h.type, body, blen, &m, NULL), 0, "undecodable %s body", proto_type_name(h.type));
	/* (boot_id, link_seq) never repeats: boot_id only grows, link_seq grows within a boot */
	if (g->have_boot && h.boot_id == g->boot && g->have_lseq) {
		cr_assert(h.link_seq > g->last_lseq, "link_seq %u after %u in boot %u", h.link_seq, g->last_lseq, h.boot_id);
	} else if (g->have_boot) {
		cr_assert(h.boot_id > g->boot, "boot_id %u after %u", h.boot_id, g->boot);
	}
	g->have_boot = 1;
	g->boot = h.boot_id;
	g->have_lseq = 1;
	g->last_lseq = h.link_seq;
	g->frames++;
	g->events++;
	switch (h.type) {
	case PROTO_T_HELLO:
		g->hellos++;
		/* below oldest nothing can come any more (acked and reclaimed) */
		if (m.u.hello.oldest_seq > g->cum + 1u) {
			for (uint32_t s = g->cum + 1u; s < m.u.hello.oldest_seq; s++)
				cr_assert(!g->rec[s].printed_type || g->rec[s].stored_type,
				          "HELLO oldest %" PRIu32 ": journaled rec_seq %" PRIu32 " was dropped un-acked",
				          m.u.hello.oldest_seq, s);
		}
		send_ack(g);
		send_cmd(g);
		return;
	case PROTO_T_CMD_ACK:
		if (m.u.cmd_ack.result == PROTO_RES_DONE && m.u.cmd_ack.cmd_id < 64u) {
			g->cmd_acks++;
			if (!g->acked_run[m.u.cmd_ack.cmd_id])
				g->acked_run[m.u.cmd_ack.cmd_id] = g->run;
			/* a new command now and then; otherwise the same one again next boot (our ACK "lost") */
			if (m.u.cmd_ack.cmd_id == g->cmd_id && g->cmd_id < 63u && rnd() % 3u == 0)
				g->cmd_id++;
		}
		return;
	case PROTO_T_FIX:
		cr_assert_eq(proto_fix_encode(&m.u.fix, enc, sizeof enc, &elen), 0);
		store(g, m.u.fix.rec_seq, PROTO_T_FIX, enc, elen);
		break;
	case PROTO_T_FIXB:
		for (unsigned i = 0; i < m.u.fixb.n; i++) {
			cr_assert_eq(proto_fix_encode(&m.u.fixb.fix[i], enc, sizeof enc, &elen), 0);
			store(g, m.u.fixb.fix[i].rec_seq, PROTO_T_FIX, enc, elen);
		}
		break;
	case PROTO_T_IND:
		cr_assert_eq(proto_ind_encode(&m.u.ind, enc, sizeof enc, &elen), 0);
		store(g, m.u.ind.rec_seq, PROTO_T_IND, enc, elen);
		break;
	case PROTO_T_STATUS:
		g->statuses++;
		return;
	default:
		return;
	}
	send_ack(g);
}

static void sock_read(struct gw *g)
{
	uint8_t buf[4096];
	for (;;) {
		ssize_t n = recv(g->sock, buf, sizeof buf, 0);
		if (n <= 0)
			return;
		const uint8_t *p = buf;
		size_t len = (size_t)n;
		while (len > 0) {
			size_t used, flen;
			int r = proto_deframer_push(&g->df, p, len, &used, g->frame, sizeof g->frame, &flen);
			p += used;
			len -= used;
			cr_assert(r >= 0, "deframer rejected the collar's bytes (%d)", r);
			if (r == 1)
				on_frame(g, flen);
		}
	}
}

static void on_line(struct gw *g, const char *l)
{
	unsigned long seq, boot, next, rate, id;
	char type[16];
	unsigned crc, op, res;
	g->events++;
	if (sscanf(l, "cmd %lu op %u result %u", &id, &op, &res) == 3) {
		cr_assert(id < 64u && op == PROTO_OP_SET_RATE && res == PROTO_RES_DONE, "%s", l);
		cr_assert(!g->acked_run[id] || g->acked_run[id] >= g->run,
		          "cmd_id %lu acknowledged in run %" PRIu32 " ran again in run %" PRIu32 " (CMD memory lost)", id,
		          g->acked_run[id], g->run);
		g->cmd_runs++;
		return;
	}
	if (sscanf(l, "boot %lu next %lu rate_ms %lu", &boot, &next, &rate) == 3) {
		/* Only CMDs acknowledged in an EARLIER run count. The collar prints its boot line before its link
		 * starts (no HELLO, hence no CMD, before it), so a CMD_ACK of this run always came after the line;
		 * but poll() hands us the radio socket and the stdout pipe together and we read the socket first,
		 * so this run's CMD_ACK can be processed before this run's boot line. Counting it made the test
		 * fail ~1 run in 3 on a collar that had done everything right (its flash before the run held the
		 * previous SET_RATE; the new one was sent only after the HELLO of this boot). */
		uint32_t newest = 0;
		for (uint32_t k = 1; k < 64u; k++)
			if (g->acked_run[k] && g->acked_run[k] < g->run)
				newest = k;
		cr_assert(newest == 0 || rate >= CMD_PERIOD(newest),
		          "boot %lu: report period %lu ms, but SET_RATE %" PRIu32 " (%u ms) was acknowledged: config lost",
		          boot, rate, newest, CMD_PERIOD(newest));
		if (newest)
			g->boots_checked++;
	}
	if (sscanf(l, "journaled %lu %15s %x", &seq, type, &crc) == 3) {
		cr_assert(seq > g->last_printed, "rec_seq %lu printed after %" PRIu32 ": repeated", seq, g->last_printed);
		cr_assert(seq < SEQ_CAP);
		g->last_printed = (uint32_t)seq;
		g->rec[seq].printed_type = strcmp(type, "FIX") == 0 ? PROTO_T_FIX : strcmp(type, "IND") == 0 ? PROTO_T_IND : 0xff;
		g->rec[seq].printed_crc = crc;
		g->printed_total++;
	} else if (sscanf(l, "boot %lu next %lu", &boot, &next) == 2) {
		cr_assert(next > g->last_printed, "boot %lu starts at rec_seq %lu, already printed %" PRIu32, boot, next,
		          g->last_printed);
		cr_assert(!g->have_boot_line || boot > g->last_boot_line, "boot_id %lu after %u", boot, g->last_boot_line);
		g->have_boot_line = 1;
		g->last_boot_line = (uint16_t)boot;
	} else {
		cr_assert_fail("unexpected collar output line: %s", l);
	}
}

/* Returns 0 on EOF (the collar's stdout closed), 1 if more may come. */
static int out_read(struct gw *g, int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN ? 1 : 0;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				g->line[g->line_len] = '\0';
				on_line(g, g->line);
				g->line_len = 0;
			} else {
				cr_assert(g->line_len + 1 < sizeof g->line, "overlong collar output line");
				g->line[g->line_len++] = buf[i];
			}
		}
	}
}

/* One collar run; kill_after = events before SIGKILL (UINT32_MAX: never). Returns 1 if it was killed. */
static int run_once(struct gw *g, uint32_t kill_after)
{
	int out;
	g->run++;
	pid_t pid = spawn(g, &out);
	int killed = 0, out_open = 1;
	if (kill_after == 0) {
		kill(pid, SIGKILL); /* inside exec or the journal mount */
		killed = 1;
	}
	while (out_open) {
		struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = g->sock, .events = POLLIN}};
		int r = poll(p, 2, IO_TIMEOUT_MS);
		cr_assert(r > 0 || (r < 0 && errno == EINTR), "collar silent for %d ms: hung", IO_TIMEOUT_MS);
		if (p[1].revents)
			sock_read(g);
		if (p[0].revents)
			out_open = out_read(g, out);
		if (!killed && g->events >= kill_after) {
			kill(pid, SIGKILL);
			killed = 1;
		}
	}
	/* stdout closed: the process is gone; what it wrote to the radio before dying still counts */
	sock_read(g);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (killed && WIFSIGNALED(st)) {
		cr_assert_eq(WTERMSIG(st), SIGKILL);
	} else {
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "collar exited with status %d", st);
		killed = 0;
	}
	close(out);
	close(g->sock);
	return killed;
}

Test(cf_collar_process, kill9_never_loses_or_repeats_a_journaled_record, .timeout = 600)
{
	static struct gw g;
	uint32_t kills = DEFAULT_KILLS;
	const char *env = getenv("SCENTRACK_COLLAR_KILLS");
	if (env != NULL && *env != '\0')
		kills = (uint32_t)strtoul(env, NULL, 10);

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path_key, sizeof path_key, "%s/key", dir);
	snprintf(path_flash, sizeof path_flash, "%s/flash", dir);
	snprintf(path_nmea, sizeof path_nmea, "%s/gnss.nmea", dir);
	snprintf(path_motion, sizeof path_motion, "%s/motion.csv", dir);
	write_inputs();
	g.rec = calloc(SEQ_CAP, sizeof *g.rec);
	cr_assert_not_null(g.rec);
	g.cmd_id = 1;
	proto_hmac_init(&g.hkey, key, sizeof key);

	uint32_t done = 0, runs = 0, clean = 0;
	while (done < kills) {
		/* kill points spread over a whole run (~120 FIX + ~9 IND lines and ~20 frames), some at 0 */
		uint32_t k = rnd() % 170u;
		runs++;
		if (run_once(&g, k))
			done++;
		else
			clean++;
	}
	/* the last run drains: the gateway must end up with everything */
	cr_assert_eq(run_once(&g, UINT32_MAX), 0);
	runs++;

	uint32_t printed = 0, unprinted_stored = 0, inds = 0;
	for (uint32_t s = 1; s <= g.last_printed || s <= g.max_seq; s++) {
		const struct rec *r = &g.rec[s];
		if (r->printed_type) {
			printed++;
			cr_assert(r->stored_type, "journaled rec_seq %" PRIu32 " never reached the gateway (lost)", s);
			cr_assert(r->stored_type == r->printed_type && r->stored_crc == r->printed_crc,
			          "rec_seq %" PRIu32 ": the gateway got other content than the collar journaled", s);
			if (r->printed_type == PROTO_T_IND)
				inds++;
		} else if (r->stored_type) {
			unprinted_stored++; /* killed between the durable append and its log line */
		}
	}
	cr_assert_gt(printed, kills, "too few records to mean anything");
	cr_assert_gt(inds, 0u);
	cr_assert_gt(g.cmd_acks, 0u);
	cr_assert_gt(g.cmd_repeats_after_ack, 10u, "acknowledged CMDs must be re-sent after reboots to mean anything");
	cr_assert_gt(g.boots_checked, 10u);
	cr_log_info("CMDs: %" PRIu32 " ran, %" PRIu32 " CMD_ACKs, %" PRIu32 " re-sent after their ACK (never re-run), "
	            "%" PRIu32 " boots kept the acknowledged rate", g.cmd_runs, g.cmd_acks, g.cmd_repeats_after_ack,
	            g.boots_checked);
	fprintf(stderr, "collar process CMDs: %" PRIu32 " ran, %" PRIu32 " re-sent after their CMD_ACK, none re-run; "
	        "%" PRIu32 " boots kept the rate\n", g.cmd_runs, g.cmd_repeats_after_ack, g.boots_checked);
	cr_log_info("collar process: %" PRIu32 " runs (%" PRIu32 " killed, %" PRIu32 " drained), %" PRIu32
	            " records journaled (%" PRIu32 " IND), all delivered intact; %" PRIu32
	            " stored but killed before their log line; %" PRIu32 " duplicate receptions; %" PRIu32
	            " frames, %" PRIu32 " HELLO, %" PRIu32 " ACKs",
	            runs, done, clean, printed, inds, unprinted_stored, g.dup_rx, g.frames, g.hellos, g.acks);
	fprintf(stderr, "collar process: %" PRIu32 " runs (%" PRIu32 " killed), %" PRIu32 " records journaled (%" PRIu32
	        " IND), all delivered intact, %" PRIu32 " duplicate receptions\n", runs, done, printed, inds, g.dup_rx);
	unlink(path_key);
	unlink(path_flash);
	unlink(path_nmea);
	unlink(path_motion);
	rmdir(dir);
	free(g.rec);
}

/* Documented exit codes, and SIGTERM as a clean stop (exit 0) while waiting on a live GNSS stream. */
static int run_status(const char *const argv[])
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execv(COLLAR_BIN, (char *const *)argv);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(cf_collar_process, exit_codes_and_sigterm, .timeout = 60)
{
	char d[] = "/tmp/cf_collar_cli_XXXXXX", kf[128], badk[128], fl[128], fl2[128];
	cr_assert_not_null(mkdtemp(d));
	snprintf(kf, sizeof kf, "%s/key", d);
	snprintf(badk, sizeof badk, "%s/badkey", d);
	snprintf(fl, sizeof fl, "%s/flash", d);
	snprintf(fl2, sizeof fl2, "%s/flash2", d);
	FILE *f = fopen(kf, "wb");
	cr_assert_eq(fwrite(key, 1, sizeof key, f), sizeof key); /* 32 raw bytes */
	fclose(f);
	f = fopen(badk, "w");
	fputs("not a key\n", f);
	fclose(f);
	const char *a_missing[] = {"scentrack-collar", "--id", "3", "--key", kf, "--gnss", "-", NULL};
	cr_assert_eq(run_status(a_missing), 1, "no --flash: usage");
	const char *a_badid[] = {"scentrack-collar", "--id", "0", "--key", kf, "--flash", fl, "--gnss", "-", NULL};
	cr_assert_eq(run_status(a_badid), 1, "collar id 0: usage");
	const char *a_badkey[] = {"scentrack-collar", "--id", "3", "--key", badk, "--flash", fl, "--gnss", "-", NULL};
	cr_assert_eq(run_status(a_badkey), 2, "bad key file");
	const char *a_radio[] = {"scentrack-collar", "--id", "3", "--key", kf, "--flash", fl, "--gnss", "-", "--radio",
	                         kf, NULL};
	cr_assert_eq(run_status(a_radio), 2, "a regular file is not a radio");
	const char *a_nognss[] = {"scentrack-collar", "--id", "3", "--key", kf, "--flash", fl, "--gnss", "/nonexistent/x",
	                          NULL};
	cr_assert_eq(run_status(a_nognss), 2, "missing GNSS input");
	/* a 4-page flash, then the same file with another geometry */
	const char *a_ok[] = {"scentrack-collar", "--id", "3", "--key", kf, "--flash", fl2, "--flash-pages", "4", "--gnss",
	                      "/dev/null", "--exit-on-eof", NULL};
	cr_assert_eq(run_status(a_ok), 0, "no radio, empty input, --exit-on-eof: done");
	const char *a_geom[] = {"scentrack-collar", "--id", "3", "--key", kf, "--flash", fl2, "--flash-pages", "8",
	                        "--gnss", "/dev/null", "--exit-on-eof", NULL};
	cr_assert_eq(run_status(a_geom), 2, "flash file of another geometry");

	/* SIGTERM: wait for the boot line (the collar is running, reading a pipe that never ends), then stop */
	int in[2], out[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[1]);
		close(out[0]);
		execl(COLLAR_BIN, "scentrack-collar", "--id", "3", "--key", kf, "--flash", fl, "--gnss", "-",
		      "--journal-log", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	struct pollfd p = {.fd = out[0], .events = POLLIN};
	cr_assert_eq(poll(&p, 1, IO_TIMEOUT_MS), 1, "no boot line");
	char buf[64] = {0};
	cr_assert_gt(read(out[0], buf, sizeof buf - 1), 0);
	cr_assert(strncmp(buf, "boot ", 5) == 0, "got '%s'", buf);
	kill(pid, SIGTERM);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM must be a clean exit 0 (status %d)", st);
	close(in[1]);
	close(out[0]);
	unlink(kf);
	unlink(badk);
	unlink(fl);
	unlink(fl2);
	rmdir(d);
}
