/*
 * analysis/tools/sim_run.c — `scentrack sim SCENARIO --run --data DIR [--fast]`: a simulated field day through
 * the REAL programs. Per animal one `scentrack-collar` process fed with the world's NMEA and motion/button
 * streams on pipes; a radio medium (an/sim.h shared channel) between the collars' radio byte streams and
 * the gateway's modem link; `scentrack-gateway` on a pty (its `tty` link kind: open(2) + termios); and
 * `scentrack-core` with its SQLite store, CURVE keys and allow-list. One poll loop (this process).
 *
 * Clock. --fast: simulated time that never waits on real time (loop_sync): the collars run with --sync (their
 * virtual clock from the inputs' timestamps, time marks on the motion stream, no ARQ lock-step) and say when
 * they are idle; the gateway's status socket says when it has handled every byte; the medium is a
 * discrete-event simulation over the frames' own times. S advances one second once nothing is due before it.
 * Live mode: S and M follow the host clock (1 s of day = 1 s), the collars run on their real clocks.
 *
 * Directory DIR (kept between runs; a second run resumes from the state file):
 *   run.ini state summary.txt hazards.csv core.ini core.sqlite gateway.ini spool.sqlite
 *   keys/ (core, gateway, collar keys, allow-list)   collars/<A>.flash   logs/<process>.log
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zmq.h>

#include "an/array.h"
#include "an/geo.h"
#include "an/pub.h"
#include "an/sim.h"
#include "an/store.h"
#include "scentrack_cmd.h"

#define PATH_CAP 1024
#define FRAME_MAX 2048u
#define STEP_MS 1000
#define STOP_WAIT_MS 15000
#define SERIAL_DEV "/dev/ttyS0" /* --serial: a tty node sysfs knows (libserialport looks it up) */
#define DRAIN_WAIT_MS 120000 /* after the day: the core must hold every journaled record within this */

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("scentrack sim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- byte queues and deframing ------------------------------------------------------------------------- */

struct outq {
	uint8_t *buf;
	size_t off, len, cap;
};

static int outq_put(struct outq *q, const void *p, size_t n)
{
	if (q->off > 0 && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->cap) {
		if (q->off > 0) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		if (q->len + n > q->cap) {
			size_t nc = q->cap ? q->cap : 4096;
			while (nc < q->len + n)
				nc *= 2;
			uint8_t *b = realloc(q->buf, nc);
			if (!b)
				return -ENOMEM;
			q->buf = b;
			q->cap = nc;
		}
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return 0;
}

static size_t outq_pending(const struct outq *q)
{
	return q->len - q->off;
}

/* Write what the fd takes now. @return bytes written (0 if none); -errno on a hard error (EPIPE: reader gone). */
static ssize_t outq_flush(struct outq *q, int fd)
{
	size_t total = 0;
	while (fd >= 0 && outq_pending(q) > 0) {
		ssize_t n = write(fd, q->buf + q->off, outq_pending(q));
		if (n > 0) {
			q->off += (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return n < 0 ? -errno : -EIO;
	}
	return (ssize_t)total;
}

/* COBS frames are delimited by 0x00: a frame is re-emitted as 0x00 body 0x00, as the collars and the gateway
 * write them. An over-long run without a delimiter is noise on the air: dropped and counted. */
struct deframer {
	uint8_t buf[FRAME_MAX];
	size_t len;
	bool overflow;
	uint64_t garbage;
};

/* ---- the programs ---------------------------------------------------------------------------------------- */

struct collar {
	uint32_t a; /* animal index */
	uint16_t id;
	const char *name;
	pid_t pid;
	bool started, running, finished;
	int exit_status;
	int gnss_fd, motion_fd, radio_fd, out_fd;
	bool inputs_closed;
	struct outq gq, mq, rq;
	/* streams (whole day, generated once) */
	char *nmea;
	size_t nmea_len, nmea_cap;
	int64_t *ep_utc;
	size_t *ep_off;
	size_t n_ep, cap_ep, ep_next;
	struct an_sim_accel *acc;
	size_t n_acc, cap_acc, acc_next;
	int64_t *btn_t;
	uint8_t *btn_l;
	size_t n_btn, cap_btn, btn_next;
	int64_t t0_utc; /* utc of the first epoch this process saw: collar clock 0 */
	size_t ep_first;     /* first epoch written to this process */
	uint64_t g_written;  /* NMEA bytes written to this process's pipe */
	uint32_t restarts;
	bool have_t0;
	int64_t phase_us;
	struct deframer df;
	char line[256];
	size_t line_len;
	uint64_t j_fix, j_ind, j_other; /* journaled (all runs) */
	uint64_t tx_frames, tx_air_bytes;
	/* --fast (the collar's --sync protocol, see loop_sync): what this process was given and what it said */
	int64_t tick_written;  /* last time mark written (collar ms), -1 none */
	uint64_t r_written;    /* radio bytes written to it */
	bool rep_valid;        /* an "idle" line arrived */
	int64_t rep_tick;
	uint64_t rep_rx;
	uint32_t rep_tx, rep_clock;
	bool rep_drained;
	uint32_t n_txt, cap_txt; /* "tx CLOCK" times not yet paired with a frame */
	uint32_t *txt;
	uint32_t tx_lines;
	struct payload *raw; /* frames read from its radio, not yet paired with a time */
	size_t n_raw, cap_raw;
	uint32_t raw_frames;
	bool gnss_closed;
	int64_t closed_S; /* S when its inputs were closed (it said it is drained) */
};

struct payload {
	uint64_t id;
	uint32_t sender; /* 0 = gateway, c + 1 = collar c */
	uint32_t len;
	uint8_t *data;
};

struct run {
	const struct scentrack_sim_run_opts *o;
	struct an_sim_world w;
	char dir[PATH_CAP], bindir[PATH_CAP];
	char collar_bin[PATH_CAP], gw_bin[PATH_CAP], core_bin[PATH_CAP];
	struct collar *c;
	uint32_t n;
	int sfd;
	/* core */
	pid_t core_pid, gw_pid;
	int core_out;
	char ep_ingest[128], ep_pub[128], ep_snap[128];
	/* radio */
	struct an_sim_radio radio;
	struct an_sim_rng access_rng;
	struct payload *pl;
	size_t n_pl, cap_pl;
	int pty_master, pty_slave;
	char pty_path[128];
	struct outq ptyq;
	struct deframer gw_df;
	uint64_t down_frames, down_air_bytes, dropped_overflow;
	struct sim_framelog *fl; /* --frame-log (NULL: none) */
	/* time */
	int64_t S, S0, S_end, M_us;
	int64_t real0;
	/* --fast: frames waiting for their start time, sorted by (t_us, seq) */
	struct pend {
		int64_t t_us;
		uint64_t seq;
		struct payload p;
	} *pend;
	size_t n_pend, cap_pend;
	uint64_t pend_seq;
	struct payload *gw_raw; /* frames the gateway wrote, not yet timed */
	size_t n_gw_raw, cap_gw_raw;
	uint64_t pty_written, pty_read; /* bytes to/from the gateway's modem since it started */
	bool gw_checked;                /* the gateway said it read every byte written and wrote every byte read */
	char gw_sock[104];
	uint64_t gw_status_queries, stalls;
	bool stop_req;
	int stop_sig;
	bool day_done;
	double collar_hours;
	size_t rec_lines; /* the recorder's sheet: lines the core took */
};

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text), off = 0;
	while (off < n) {
		ssize_t k = write(fd, text + off, n - off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		off += (size_t)k;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return -errno;
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* fork + exec with stdin/stdout/stderr and fds 3, 4 as given (-1: /dev/null or closed). Own process group:
 * the terminal's Ctrl-C reaches only this process, which stops the others in order. */
static pid_t spawn(char *const argv[], int in, int out, int err, int fd3, int fd4)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	/* if this run dies without stopping them (a crash), its programs stop too: an orphaned gateway would
	 * hold the pty number the next run may get */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(127);
	int devnull = open("/dev/null", O_RDWR);
	int src[5] = {in >= 0 ? in : devnull, out >= 0 ? out : devnull, err >= 0 ? err : devnull, fd3, fd4};
	/* move the sources above 10 first so dup2 into 0..4 cannot clobber one still needed */
	for (int i = 0; i < 5; i++)
		if (src[i] >= 0)
			src[i] = fcntl(src[i], F_DUPFD, 10);
	for (int i = 0; i < 5; i++)
		if (src[i] >= 0)
			dup2(src[i], i);
	for (int fd = 5; fd < 1024; fd++)
		close(fd);
	execv(argv[0], argv);
	fprintf(stderr, "scentrack sim: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int open_log(struct run *r, const char *name)
{
	char p[PATH_CAP + 160];
	snprintf(p, sizeof p, "%s/logs/%s.log", r->dir, name);
	return open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* ---- world streams ----------------------------------------------------------------------------------------- */

static int nmea_sink(void *ctx, const char *text, size_t len, const struct an_sim_epoch *ep)
{
	struct collar *c = ctx;
	if (c->n_ep == c->cap_ep) {
		size_t nc = c->cap_ep ? c->cap_ep * 2 : 4096;
		int64_t *u = realloc(c->ep_utc, nc * sizeof *u);
		if (!u)
			return -ENOMEM;
		c->ep_utc = u;
		size_t *o = realloc(c->ep_off, (nc + 1) * sizeof *o);
		if (!o)
			return -ENOMEM;
		c->ep_off = o;
		c->cap_ep = nc;
	}
	if (c->nmea_len + len > c->nmea_cap) {
		size_t nc = c->nmea_cap ? c->nmea_cap : 1 << 20;
		while (nc < c->nmea_len + len)
			nc *= 2;
		char *b = realloc(c->nmea, nc);
		if (!b)
			return -ENOMEM;
		c->nmea = b;
		c->nmea_cap = nc;
	}
	c->ep_utc[c->n_ep] = ep->utc_ms;
	c->ep_off[c->n_ep] = c->nmea_len;
	c->n_ep++;
	c->ep_off[c->n_ep] = c->nmea_len + len;
	memcpy(c->nmea + c->nmea_len, text, len);
	c->nmea_len += len;
	return 0;
}

static int accel_sink(void *ctx, const struct an_sim_accel *s)
{
	struct collar *c = ctx;
	if (an_array_grow((void **)&c->acc, &c->cap_acc, c->n_acc, 65536, sizeof *c->acc))
		return -ENOMEM;
	c->acc[c->n_acc++] = *s;
	return 0;
}

static int button_sink(void *ctx, int64_t t_ms, int level)
{
	struct collar *c = ctx;
	if (c->n_btn == c->cap_btn) {
		size_t nc = c->cap_btn ? c->cap_btn * 2 : 256;
		int64_t *t = realloc(c->btn_t, nc * sizeof *t);
		if (!t)
			return -ENOMEM;
		c->btn_t = t;
		uint8_t *l = realloc(c->btn_l, nc);
		if (!l)
			return -ENOMEM;
		c->btn_l = l;
		c->cap_btn = nc;
	}
	c->btn_t[c->n_btn] = t_ms;
	c->btn_l[c->n_btn] = (uint8_t)level;
	c->n_btn++;
	return 0;
}

/* ---- set-up: keys, store, configuration -------------------------------------------------------------------- */

static int run_cmd(char *const argv[], int log_fd)
{
	pid_t pid = spawn(argv, -1, log_fd, log_fd, -1, -1);
	if (pid < 0)
		return -errno;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int read_trim(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

static int setup_keys(struct run *r)
{
	char p1[PATH_CAP + 64], p2[PATH_CAP + 64], pubkey[128];
	int lf = open_log(r, "setup");
	for (int k = 0; k < 2; k++) {
		const char *who = k ? "gw" : "core";
		snprintf(p1, sizeof p1, "%s/keys/%s.pub", r->dir, who);
		snprintf(p2, sizeof p2, "%s/keys/%s.key", r->dir, who);
		if (exists(p1) && exists(p2))
			continue;
		unlink(p1);
		unlink(p2);
		char *argv[] = {r->core_bin, (char *)"keygen", p1, p2, NULL};
		if (run_cmd(argv, lf) < 0) {
			logf_("scentrack-core keygen failed (see %s/logs/setup.log)", r->dir);
			close(lf);
			return -EIO;
		}
	}
	close(lf);
	snprintf(p1, sizeof p1, "%s/keys/gw.pub", r->dir);
	if (read_trim(p1, pubkey, sizeof pubkey) < 0)
		return -EIO;
	char text[256];
	snprintf(text, sizeof text, "# gateways allowed to deliver (written by scentrack sim)\n1 %s\n", pubkey);
	snprintf(p1, sizeof p1, "%s/keys/gateways.allow", r->dir);
	int rc = write_file(p1, text, 0600);
	if (rc)
		return rc;
	/* collar keys: 32 random bytes each, into the gateway's key table and one file per collar */
	snprintf(p1, sizeof p1, "%s/keys/collar-keys", r->dir);
	if (exists(p1))
		return 0;
	size_t cap = 128 + (size_t)r->n * 80, len = 0;
	char *tab = malloc(cap);
	if (!tab)
		return -ENOMEM;
	len += (size_t)snprintf(tab, cap, "# collar_id key (written by scentrack sim)\n");
	for (uint32_t i = 0; i < r->n && rc == 0; i++) {
		uint8_t key[32];
		char hex[65];
		if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
			rc = -EIO;
			break;
		}
		for (int b = 0; b < 32; b++)
			snprintf(hex + 2 * b, 3, "%02x", key[b]);
		len += (size_t)snprintf(tab + len, cap - len, "%u %s\n", r->c[i].id, hex);
		snprintf(p2, sizeof p2, "%s/keys/collar_%s.key", r->dir, r->c[i].name);
		char line[80];
		snprintf(line, sizeof line, "%s\n", hex);
		rc = write_file(p2, line, 0600);
	}
	if (rc == 0)
		rc = write_file(p1, tab, 0600);
	free(tab);
	return rc;
}

static int corner(const struct an_geo_origin *o, double e_mm, double n_mm, int32_t *lat, int32_t *lon)
{
	struct an_geo_enu p = {llround(e_mm), llround(n_mm), 0};
	int32_t alt;
	return an_geo_enu_to_e7(o, &p, lat, lon, &alt);
}

/* The scenario's task, boxes, animals, collar assignments and one session per pass, so the core places every
 * record in the task's frame (the world's own ENU: same origin). */
static int setup_store(struct run *r, const char *path)
{
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	const struct an_sim_world *w = &r->w;
	if (an_store_open(path, AN_STORE_CREATE, &s, err, sizeof err)) {
		logf_("%s", err);
		return -EIO;
	}
	int64_t prog, task;
	int rc = an_store_programme_add(s, "simulated programme", NULL, &prog);
	struct an_store_task t = {.programme_id = prog, .name = w->sc.name, .origin_lat_e7 = w->sc.origin_lat_e7,
	                          .origin_lon_e7 = w->sc.origin_lon_e7, .origin_alt_mm = w->sc.origin_alt_mm};
	if (!rc)
		rc = an_store_task_add(s, &t, &task);
	int64_t *box_id = calloc(w->n_boxes + 1u, sizeof *box_id), *animal_id = calloc(w->n_animals + 1u, sizeof *animal_id);
	if (!box_id || !animal_id)
		rc = -ENOMEM;
	for (uint32_t b = 0; b < w->n_boxes && !rc; b++) {
		const struct an_geo_box *g = &w->boxes[b].geo;
		struct an_store_box sb = {.task_id = task, .name = w->boxes[b].id, .lane_width_mm = g->lane_width_mm,
		                          .lane_count = g->lane_count,
		                          .species = w->boxes[b].kind == AN_SIM_BOX_DOG ? AN_SPECIES_DOG : AN_SPECIES_RAT,
		                          .blind = w->boxes[b].kind == AN_SIM_BOX_BLIND};
		double p0e = (double)g->p0_e_mm, p0n = (double)g->p0_n_mm;
		rc = corner(&w->origin, p0e, p0n, &sb.p0_lat_e7, &sb.p0_lon_e7);
		if (!rc)
			rc = corner(&w->origin, p0e + g->ua_e * (double)g->lane_len_mm, p0n + g->ua_n * (double)g->lane_len_mm,
			            &sb.along_lat_e7, &sb.along_lon_e7);
		if (!rc)
			rc = corner(&w->origin, p0e + g->uc_e * (double)g->width_mm, p0n + g->uc_n * (double)g->width_mm,
			            &sb.across_lat_e7, &sb.across_lon_e7);
		if (!rc)
			rc = an_store_box_add(s, &sb, &box_id[b]);
	}
	for (uint32_t a = 0; a < w->n_animals && !rc; a++) {
		const struct an_sim_animal *an = &w->animals[a];
		rc = an_store_animal_add(s, an->p.species == AN_SIM_DOG ? AN_SPECIES_DOG : AN_SPECIES_RAT, an->p.name, NULL,
		                         &animal_id[a]);
		if (!rc)
			rc = an_store_collar_assign(s, r->c[a].id, animal_id[a], w->day0_utc_ms);
	}
	/* the trainers' records before the day (an/sim.h HISTORY): the core reads them at start-up */
	if (!rc && w->n_hist) {
		struct an_store_calibration *cal = calloc(w->n_hist, sizeof *cal);
		size_t ins = 0;
		if (!cal)
			rc = -ENOMEM;
		for (uint32_t k = 0; k < w->n_hist && !rc; k++) {
			const struct an_sim_history *h = &w->hist[k];
			cal[k] = (struct an_store_calibration){.animal_id = animal_id[h->animal], .as_of_ms = h->as_of_ms,
			                                       .hits = h->hits, .misses = h->misses,
			                                       .false_inds = h->false_inds, .area_m2 = h->area_m2,
			                                       .source = h->src == AN_SIM_HIST_ACCREDITATION
			                                                         ? AN_CALIB_ACCREDITATION : AN_CALIB_TRAINING};
			snprintf(cal[k].note, sizeof cal[k].note, "scentrack sim: drawn from the animal's true parameters "
			         "(s_hist %.4f)", h->s_hist);
		}
		if (!rc)
			rc = an_store_calibrations_add(s, cal, w->n_hist, "scentrack sim", "history.csv", &ins, NULL, NULL);
		char herr[256] = "";
		if (!rc && (rc = an_sim_write_history(w, r->dir, herr, sizeof herr)) < 0)
			logf_("%s", herr);
		if (!rc)
			logf_("store: %zu calibration records of the animals' history (%s/history.csv)", ins, r->dir);
		free(cal);
	}
	uint32_t pk = 0; /* w->patches are in pass order */
	for (uint32_t i = 0; i < w->n_passes && !rc; i++) {
		const struct an_sim_pass *p = &w->passes[i];
		/* a confirmation pass searched its patches, not the box: the session says which (an/store.h), and
		 * the core counts them as swept once the session has ended (an/hazard.h) */
		struct an_geo_box_patch patch[AN_STORE_SESSION_MAX_PATCHES];
		size_t np = 0;
		for (; pk < w->n_patches && w->patches[pk].pass == i && !rc; pk++) {
			const struct an_sim_patch *sp = &w->patches[pk];
			if (np == AN_STORE_SESSION_MAX_PATCHES) {
				logf_("pass %u: more than %u confirmation patches, the store's bound", i,
				      AN_STORE_SESSION_MAX_PATCHES);
				rc = -E2BIG;
				break;
			}
			patch[np++] = (struct an_geo_box_patch){sp->lane0, sp->lanes, sp->along0_mm, sp->along1_mm};
		}
		if (rc)
			break;
		/* a confirmation pass is clearance work whose indications are evidence like the first two passes'
		 * (operational), not the independent sample check of finished land (qc) */
		static const enum an_session_mode mode[AN_SIM_PASS_KINDS] = {
			[AN_SIM_PASS_PRIMARY] = AN_MODE_OPERATIONAL, [AN_SIM_PASS_SECOND] = AN_MODE_OPERATIONAL,
			[AN_SIM_PASS_QC] = AN_MODE_QC, [AN_SIM_PASS_BLIND] = AN_MODE_ACCREDITATION,
			[AN_SIM_PASS_CONFIRM] = AN_MODE_OPERATIONAL};
		struct an_store_session ss = {.box_id = box_id[p->box], .animal_id = animal_id[p->animal],
		                              .mode = mode[p->kind], .start_ms = p->t0_ms, .has_end = true,
		                              .end_ms = p->t1_ms, .has_temp = true, .has_humidity = true,
		                              .temp_dc = (int16_t)lround(p->temp_c * 10.0),
		                              .humidity_pct = (uint8_t)lround(p->hum_pct), .patches = np ? patch : NULL,
		                              .n_patches = np};
		int64_t sid;
		rc = an_store_session_add(s, &ss, &sid);
	}
	if (rc)
		logf_("setting up the store %s: %s (%s)", path, an_store_errmsg(s), strerror(-rc));
	free(box_id);
	free(animal_id);
	an_store_close(s);
	return rc;
}

/* ---- the data recorder's sheet ------------------------------------------------------------------------- */

static bool core_ini_clearance(const struct run *r, char *ep, size_t cap);

struct stored_ind {
	uint16_t collar;
	uint32_t rec_seq;
	int64_t t_ms;
	bool marked; /* the handler pressed (button or both): what the core takes as evidence */
	bool used;
};
struct stored_inds {
	struct stored_ind *v;
	size_t n, cap;
};

static int collect_ind(void *ctx, const struct an_store_ind *i)
{
	struct stored_inds *x = ctx;
	if ((i->ind.has & PROTO_IND_HAS_COMPLETES) || !(i->ind.has & PROTO_IND_HAS_T))
		return 0;
	if (an_array_grow((void **)&x->v, &x->cap, x->n, 256, sizeof *x->v))
		return -ENOMEM;
	x->v[x->n++] = (struct stored_ind){i->collar_id, i->ind.rec_seq, (int64_t)i->ind.t_ms,
	                                   i->ind.src != PROTO_SRC_CLASSIFIER, false};
	return 0;
}

/*
 * The recorder's sheet to the core at the end of the day (an/sim.h RECORDER; the core's [clearance] socket,
 * verb BOXPOS, as `scentrack import boxpos --core` sends it). The recorder writes each indication next to the
 * collar's own number for it, as the recorder's app lists a collar's indications: here the collar's stored IND
 * nearest in time to the world's indication (its onset or the handler's press, within 20 s; a handler-marked
 * one first, each used once). Written to DIR/recorder.csv too. A world indication without such an IND (lost
 * with its collar's journal, say) has no line.
 */
static int deliver_recorder(struct run *r)
{
	const struct an_sim_world *w = &r->w;
	char p[PATH_CAP + 64], ep[PATH_CAP + 64], err[AN_STORE_ERRMSG_MAX];
	struct stored_inds si = {0};
	char *sheet = NULL;
	size_t slen = 0;
	FILE *mf = NULL;
	void *zc = NULL, *sock = NULL;
	int rc = 0;
	if (!core_ini_clearance(r, ep, sizeof ep)) {
		logf_("recorder: core.ini has no [clearance] endpoint: the sheet is not delivered");
		return -EINVAL;
	}
	snprintf(p, sizeof p, "%s/core.sqlite", r->dir);
	struct an_store *s;
	if ((rc = an_store_open(p, AN_STORE_READONLY, &s, err, sizeof err)) < 0) {
		logf_("recorder: %s", err);
		return rc;
	}
	rc = an_store_inds_all(s, collect_ind, &si);
	an_store_close(s);
	if (rc < 0)
		goto out;
	mf = open_memstream(&sheet, &slen);
	if (!mf) {
		rc = -ENOMEM;
		goto out;
	}
	fprintf(mf, "collar,rec_seq,lane,along_m,sd_m\n");
	size_t lines = 0, unmatched = 0;
	for (uint32_t k = 0; k < w->n_rec; k++) {
		const struct an_sim_boxpos *b = &w->rec[k];
		const struct an_sim_ind *d = &w->inds[b->ind];
		uint16_t collar = r->c[d->animal].id;
		int64_t press = d->press_ms ? d->press_ms : d->t_ms;
		struct stored_ind *best = NULL;
		int64_t best_dt = 20000;
		for (size_t i = 0; i < si.n; i++) {
			struct stored_ind *c = &si.v[i];
			if (c->used || c->collar != collar)
				continue;
			int64_t dt = llabs(c->t_ms - d->t_ms), dp = llabs(c->t_ms - press);
			if (dp < dt)
				dt = dp;
			if (dt > 20000 || (best && (best->marked && !c->marked)))
				continue;
			if (!best || (c->marked && !best->marked) || dt < best_dt) {
				best = c;
				best_dt = dt;
			}
		}
		if (!best) {
			unmatched++;
			continue;
		}
		best->used = true;
		fprintf(mf, "%u,%" PRIu32 ",%" PRIu32 ",%.3f,%.3f\n", collar, best->rec_seq, b->lane,
		        (double)b->along_mm / 1000.0, (double)b->sd_mm / 1000.0);
		lines++;
	}
	if (fclose(mf) != 0) {
		mf = NULL;
		rc = -ENOMEM;
		goto out;
	}
	mf = NULL;
	snprintf(p, sizeof p, "%s/recorder.csv", r->dir);
	if ((rc = write_file(p, sheet, 0644)) < 0)
		goto out;
	zc = zmq_ctx_new();
	sock = zc ? zmq_socket(zc, ZMQ_REQ) : NULL;
	int linger = 0, tmo = 60000;
	if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) ||
	    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo) || zmq_connect(sock, ep) < 0 ||
	    zmq_send(sock, "BOXPOS", 6, ZMQ_SNDMORE) < 0 || zmq_send(sock, "csv", 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, "recorder.csv", 12, ZMQ_SNDMORE) < 0 || zmq_send(sock, sheet, slen, 0) < 0) {
		logf_("recorder: sending the sheet to %s: %s", ep, zmq_strerror(zmq_errno()));
		rc = -EIO;
		goto out;
	}
	char status[8] = "", body[2048] = "";
	int n1 = zmq_recv(sock, status, sizeof status - 1, 0);
	int n2 = n1 >= 0 ? zmq_recv(sock, body, sizeof body - 1, 0) : -1;
	if (n1 < 0 || n2 < 0) {
		logf_("recorder: no answer from the core at %s: %s", ep, zmq_strerror(zmq_errno()));
		rc = -EIO;
		goto out;
	}
	status[n1 < (int)sizeof status ? n1 : (int)sizeof status - 1] = '\0';
	body[n2 < (int)sizeof body ? n2 : (int)sizeof body - 1] = '\0';
	if (strcmp(status, "OK") != 0) {
		logf_("recorder: the core refused the sheet: %s", body);
		rc = -EINVAL;
		goto out;
	}
	logf_("recorder: %zu box positions (of %" PRIu32 " indications; %zu without a collar record) to the core: %s "
	      "(%s/recorder.csv)", lines, w->n_rec, unmatched, body, r->dir);
	r->rec_lines = lines;
out:
	if (mf)
		fclose(mf);
	if (sock)
		zmq_close(sock);
	if (zc)
		zmq_ctx_term(zc);
	free(sheet);
	free(si.v);
	return rc;
}

static bool core_ini_has_web(struct run *r)
{
	char p[PATH_CAP + 64], line[512];
	snprintf(p, sizeof p, "%s/core.ini", r->dir);
	FILE *f = fopen(p, "re");
	bool yes = false;
	if (!f)
		return false;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "[web]", 5))
			yes = true;
	fclose(f);
	return yes;
}

/* --web HOST:PORT: the core serves the live map. The section is appended once (core.ini is the user's file
 * after its first write); the write token is random, readable only by the owner, and printed nowhere: the
 * page asks for it once (cat DIR/keys/web.token). */
static int add_web_section(struct run *r)
{
	char p[PATH_CAP + 64], tok_path[PATH_CAP + 64], text[PATH_CAP + 512];
	uint8_t raw[24];
	char tok[2 * sizeof raw + 2];
	snprintf(tok_path, sizeof tok_path, "%s/keys/web.token", r->dir);
	if (!exists(tok_path)) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
			int e = fd < 0 ? errno : EIO;
			if (fd >= 0)
				close(fd);
			logf_("web token: /dev/urandom: %s", strerror(e));
			return -e;
		}
		close(fd);
		for (size_t i = 0; i < sizeof raw; i++)
			snprintf(tok + 2 * i, 3, "%02x", raw[i]);
		strcat(tok, "\n");
		int rc = write_file(tok_path, tok, 0600);
		if (rc)
			return rc;
	}
	snprintf(p, sizeof p, "%s/core.ini", r->dir);
	FILE *f = fopen(p, "ae");
	if (!f) {
		logf_("%s: %s", p, strerror(errno));
		return -errno;
	}
	snprintf(text, sizeof text,
	         "# added by scentrack sim --web: the live map (writes need the token in keys/web.token)\n"
	         "[web]\nlisten = %s\ntoken_file = %s\n",
	         r->o->web, tok_path);
	int ok = fputs(text, f) >= 0;
	if (fclose(f) != 0 || !ok) {
		logf_("%s: cannot append the [web] section", p);
		return -EIO;
	}
	return 0;
}

/* The core's [clearance] import socket, where the data recorder's sheet goes at the end of the day (as a
 * recorder's laptop would hand it over: scentrack import boxpos --core). An ipc path in DIR, or under /tmp
 * when DIR is too long for a socket path (named by a hash of DIR, so a resumed run finds the same one). */
static void clearance_ep(const struct run *r, char *ep, size_t cap)
{
	if (strlen(r->dir) + sizeof "/import.sock" <= 100) {
		snprintf(ep, cap, "ipc://%s/import.sock", r->dir);
		return;
	}
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = r->dir; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(ep, cap, "ipc:///tmp/scentrack-sim-%016" PRIx64 ".import.sock", h);
}

/* The [clearance] endpoint core.ini has (true), else false. */
static bool core_ini_clearance(const struct run *r, char *ep, size_t cap)
{
	char p[PATH_CAP + 64], line[512], val[512];
	snprintf(p, sizeof p, "%s/core.ini", r->dir);
	FILE *f = fopen(p, "re");
	bool in = false, yes = false;
	if (!f)
		return false;
	while (!yes && fgets(line, sizeof line, f)) {
		if (line[0] == '[')
			in = !strncmp(line, "[clearance]", 11);
		else if (in && sscanf(line, " endpoint = %511s", val) == 1) {
			snprintf(ep, cap, "%s", val);
			yes = ep[0] != '\0';
		}
	}
	fclose(f);
	return yes;
}

/* core.ini written before the recorder existed: append the section once (the file is the user's after its
 * first write, so only what is missing is added) */
static int add_clearance_section(struct run *r)
{
	char p[PATH_CAP + 64], ep[PATH_CAP + 64];
	snprintf(p, sizeof p, "%s/core.ini", r->dir);
	clearance_ep(r, ep, sizeof ep);
	FILE *f = fopen(p, "ae");
	if (!f) {
		logf_("%s: %s", p, strerror(errno));
		return -errno;
	}
	int ok = fprintf(f, "# added by scentrack sim: imports (the data recorder's sheet at the end of the day)\n"
	                    "[clearance]\nendpoint = %s\n", ep) > 0;
	if (fclose(f) != 0 || !ok) {
		logf_("%s: cannot append the [clearance] section", p);
		return -EIO;
	}
	return 0;
}

static int write_configs(struct run *r)
{
	char p[PATH_CAP + 64], text[8 * PATH_CAP + 1024];
	snprintf(p, sizeof p, "%s/core.ini", r->dir);
	if (!exists(p)) {
		/* written once: edit it freely (e.g. add a [web] section), later runs keep it */
		snprintf(text, sizeof text,
		         "# scentrack-core for the simulated field day (written once by scentrack sim; yours to edit)\n"
		         "[core]\ndb = %s/core.sqlite\nstatus_file = %s/core-status.json\nlog_level = note\n"
		         "stats_interval_s = 0\n"
		         "[ingest]\nendpoint = tcp://127.0.0.1:*\nsecret_key = %s/keys/core.key\n"
		         "allow = %s/keys/gateways.allow\n"
		         "[pub]\nendpoint = tcp://127.0.0.1:*\n[snapshot]\nendpoint = tcp://127.0.0.1:*\n"
		         "[hazard]\nrequire_handler = yes\ndensity_per_100m2 = %.6g\n", /* handlers mark every
		         indication; the prior is the task's survey density */
		         r->dir, r->dir, r->dir, r->dir, an_sim_explosive_density_per_100m2(&r->w.sc));
		int rc = write_file(p, text, 0644);
		if (rc)
			return rc;
	}
	char clr[PATH_CAP + 64];
	if (!core_ini_clearance(r, clr, sizeof clr)) {
		int rc = add_clearance_section(r);
		if (rc)
			return rc;
	}
	if (r->o->web && !core_ini_has_web(r)) {
		int rc = add_web_section(r);
		if (rc)
			return rc;
	}
	char sock[PATH_CAP + 64];
	snprintf(sock, sizeof sock, "%s/gateway.sock", r->dir);
	if (strlen(sock) >= 100) /* sun_path is 108 bytes; --fast needs the socket (the gateway's byte counts) */
		snprintf(sock, sizeof sock, "/tmp/scentrack-sim-%d.sock", (int)getpid());
	snprintf(r->gw_sock, sizeof r->gw_sock, "%.100s", sock);
	snprintf(p, sizeof p, "%s/gateway.ini", r->dir);
	snprintf(text, sizeof text,
	         "# scentrack-gateway for the simulated field day (rewritten by scentrack sim at every start: the pty\n"
	         "# and the core's port change)\n"
	         "[gateway]\nid = 1\nkeys = %s/keys/collar-keys\nstatus_socket = %s\nlog_level = note\n"
	         "stats_interval_s = 0\n"
	         "[spool]\npath = %s/spool.sqlite\n%s"
	         "[link radio0]\ntype = %s\npath = %s\nbaud = 57600\n"
	         "[upstream]\nendpoint = %s\nserver_key = %s/keys/core.pub\nsecret_key = %s/keys/gw.key\n",
	         r->dir, sock, r->dir,
	         /* --fast: the gateway's timers run on real time while the day runs on simulated time, so a held
	          * ACK (batching 4, or 100 ms) would reach the collar seconds of day late, after its RTO. In the sim
	          * the gateway commits (fsync, unchanged) and ACKs each durable record at once: in simulated time
	          * its processing takes no time, which is what the field's 100 ms hold approximates. max_delay_ms = 0:
	          * a HELLO's answer and a duplicate's ACK too come in the same loop turn, not on a timer the sim
	          * cannot see (the byte counts would say "done" while an answer is still owed). */
	         r->o->fast ? "commit_gap_ms = 0\nearly_commit = yes\n[ack]\nevery = 1\nmax_delay_ms = 0\n" : "",
	         r->o->serial_shim ? "serial" : "tty", r->o->serial_shim ? SERIAL_DEV : r->pty_path, r->ep_ingest, r->dir,
	         r->dir);
	return write_file(p, text, 0600);
}

/* ---- state (resume) ------------------------------------------------------------------------------------- */

static int state_save(struct run *r)
{
	char p[PATH_CAP + 64];
	size_t cap = 256 + (size_t)r->n * 128, len = 0;
	char *t = malloc(cap);
	if (!t)
		return -ENOMEM;
	len += (size_t)snprintf(t + len, cap - len, "sim_ms %" PRId64 "\ndone %d\n", r->S, r->day_done);
	for (uint32_t i = 0; i < r->n; i++)
		len += (size_t)snprintf(t + len, cap - len, "collar %s %d %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", r->c[i].name,
		                        r->c[i].finished, r->c[i].j_fix, r->c[i].j_ind, r->c[i].j_other);
	snprintf(p, sizeof p, "%s/state", r->dir);
	int rc = write_file(p, t, 0644);
	free(t);
	return rc;
}

static void state_load(struct run *r)
{
	char p[PATH_CAP + 64], line[256];
	snprintf(p, sizeof p, "%s/state", r->dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char name[AN_SIM_NAME_MAX + 8];
		int fin, done;
		int64_t v;
		uint64_t a, b, c;
		if (sscanf(line, "sim_ms %" SCNd64, &v) == 1)
			r->S0 = v;
		else if (sscanf(line, "done %d", &done) == 1)
			r->day_done = done != 0;
		else if (sscanf(line, "collar %23s %d %" SCNu64 " %" SCNu64 " %" SCNu64, name, &fin, &a, &b, &c) == 5)
			for (uint32_t i = 0; i < r->n; i++)
				if (!strcmp(r->c[i].name, name)) {
					r->c[i].finished = fin != 0;
					r->c[i].j_fix = a;
					r->c[i].j_ind = b;
					r->c[i].j_other = c;
				}
	}
	fclose(f);
}

/* ---- processes ------------------------------------------------------------------------------------------ */

static int start_core(struct run *r)
{
	char ini[PATH_CAP + 64];
	int pfd[2];
	snprintf(ini, sizeof ini, "%s/core.ini", r->dir);
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	int lf = open_log(r, "core");
	char *argv[] = {r->core_bin, (char *)"-N", (char *)"-f", ini, NULL};
	r->core_pid = spawn(argv, -1, pfd[1], lf, -1, -1);
	close(pfd[1]);
	if (lf >= 0)
		close(lf);
	if (r->core_pid < 0) {
		close(pfd[0]);
		return -errno;
	}
	r->core_out = pfd[0];
	/* READY ingest=... pub=... snapshot=... epoch=... (one line, within a deadline) */
	char buf[1024];
	size_t len = 0;
	int64_t deadline = mono_ms() + 60000;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			logf_("scentrack-core did not say READY within 60 s (see %s/logs/core.log)", r->dir);
			return -ETIMEDOUT;
		}
		struct pollfd p = {.fd = r->core_out, .events = POLLIN};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		ssize_t n = read(r->core_out, buf + len, sizeof buf - 1 - len);
		if (n == 0) {
			logf_("scentrack-core exited at start (see %s/logs/core.log)", r->dir);
			r->core_pid = -1;
			return -EIO;
		}
		if (n < 0)
			continue;
		len += (size_t)n;
		buf[len] = 0;
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = 0;
			if (sscanf(buf, "READY ingest=%127s pub=%127s snapshot=%127s", r->ep_ingest, r->ep_pub, r->ep_snap) == 3) {
				fcntl(r->core_out, F_SETFL, O_NONBLOCK);
				return 0;
			}
			memmove(buf, nl + 1, strlen(nl + 1) + 1);
			len = strlen(buf);
		}
		if (len >= sizeof buf - 1)
			len = 0;
	}
}

static int open_pty(struct run *r)
{
	r->pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (r->pty_master < 0 || grantpt(r->pty_master) || unlockpt(r->pty_master))
		return -errno;
	const char *name = ptsname(r->pty_master);
	if (!name)
		return -errno;
	snprintf(r->pty_path, sizeof r->pty_path, "%s", name);
	/* hold the slave open (raw) so the master never sees a hang-up while the gateway reopens it */
	r->pty_slave = open(r->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r->pty_slave < 0)
		return -errno;
	struct termios tio;
	if (tcgetattr(r->pty_slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(r->pty_slave, TCSANOW, &tio);
	}
	return 0;
}

/* --serial: the gateway's libserialport path, as the gateway's own tests run it. libserialport opens a port
 * only if sysfs knows it, so the pty's slave is bind-mounted over /dev/ttyS0 in a mount namespace of this
 * run's own (every program started from here is in it; the host's /dev/ttyS0 is untouched and the mount goes
 * away with the run's last process). Root only. */
static int serial_rig(struct run *r)
{
	if (geteuid() != 0) {
		logf_("--serial needs root (a private mount namespace and a bind mount over %s)", SERIAL_DEV);
		return -EPERM;
	}
	if (access(r->o->serial_shim, R_OK) != 0) {
		logf_("--serial %s: %s (the shim is build/tests/gateway/ioctl_shim.so)", r->o->serial_shim, strerror(errno));
		return -ENOENT;
	}
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		logf_("--serial: private mount namespace: %s", strerror(errno));
		return -errno;
	}
	if (mount(r->pty_path, SERIAL_DEV, NULL, MS_BIND, NULL) != 0) {
		logf_("--serial: bind %s over %s: %s", r->pty_path, SERIAL_DEV, strerror(errno));
		return -errno;
	}
	return 0;
}

static int start_gateway(struct run *r)
{
	char ini[PATH_CAP + 64];
	snprintf(ini, sizeof ini, "%s/gateway.ini", r->dir);
	int lf = open_log(r, "gateway");
	char *argv[] = {r->gw_bin, (char *)"-N", (char *)"-f", ini, NULL};
	char shim[PATH_CAP];
	/* (the environment is copied at the fork: only the gateway gets the shim) */
	char *asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
	if (r->o->serial_shim && realpath(r->o->serial_shim, shim)) {
		setenv("LD_PRELOAD", shim, 1);
		/* a sanitizer build of the gateway accepts the preloaded shim before its runtime */
		char opt[512];
		snprintf(opt, sizeof opt, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", opt, 1);
	}
	r->gw_pid = spawn(argv, -1, lf, lf, -1, -1);
	unsetenv("LD_PRELOAD");
	if (asan)
		setenv("ASAN_OPTIONS", asan, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(asan);
	if (lf >= 0)
		close(lf);
	return r->gw_pid < 0 ? -errno : 0;
}

static int start_collar(struct run *r, struct collar *c)
{
	int g[2], m[2], sp[2], out[2];
	if (pipe2(g, O_CLOEXEC) || pipe2(m, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return -errno;
	char key[PATH_CAP + 64], flash[PATH_CAP + 64], idb[16];
	snprintf(key, sizeof key, "%s/keys/collar_%s.key", r->dir, c->name);
	snprintf(flash, sizeof flash, "%s/collars/%s.flash", r->dir, c->name);
	snprintf(idb, sizeof idb, "%u", c->id);
	const struct an_sim_animal *an = &r->w.animals[c->a];
	char logname[64];
	snprintf(logname, sizeof logname, "collar_%s", c->name);
	int lf = open_log(r, logname);
	char *argv[24];
	int k = 0;
	argv[k++] = r->collar_bin;
	argv[k++] = (char *)"--id";
	argv[k++] = idb;
	argv[k++] = (char *)"--key";
	argv[k++] = key;
	argv[k++] = (char *)"--flash";
	argv[k++] = flash;
	argv[k++] = (char *)"--gnss";
	argv[k++] = (char *)"-";
	argv[k++] = (char *)"--motion";
	argv[k++] = (char *)"/dev/fd/4";
	argv[k++] = (char *)"--radio";
	argv[k++] = (char *)"fd:3";
	argv[k++] = (char *)"--species";
	argv[k++] = an->p.species == AN_SIM_DOG ? (char *)"dog" : (char *)"rat";
	argv[k++] = r->o->fast ? (char *)"--sync" : (char *)"--realtime";
	argv[k++] = (char *)"--exit-on-eof";
	argv[k++] = (char *)"--journal-log";
	argv[k++] = (char *)"-D";
	argv[k++] = (char *)"1";
	argv[k] = NULL;
	c->pid = spawn(argv, g[0], out[1], lf, sp[1], m[0]);
	int e = errno;
	close(g[0]);
	close(m[0]);
	close(sp[1]);
	close(out[1]);
	if (lf >= 0)
		close(lf);
	if (c->pid < 0)
		return -e;
	c->gnss_fd = g[1];
	c->motion_fd = m[1];
	c->radio_fd = sp[0];
	c->out_fd = out[0];
	fcntl(c->gnss_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->motion_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->radio_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	c->started = c->running = true;
	c->have_t0 = false;
	c->tick_written = -1;
	c->r_written = 0;
	c->rep_valid = false;
	c->n_txt = 0;
	c->tx_lines = 0;
	for (size_t j = 0; j < c->n_raw; j++)
		free(c->raw[j].data);
	c->n_raw = 0;
	c->raw_frames = 0;
	c->gnss_closed = false;
	/* resume: skip what an earlier run already fed */
	while (c->ep_next < c->n_ep && c->ep_utc[c->ep_next] <= r->S)
		c->ep_next++;
	while (c->acc_next < c->n_acc && an->boot_utc_ms + c->acc[c->acc_next].t_ms <= r->S)
		c->acc_next++;
	while (c->btn_next < c->n_btn && an->boot_utc_ms + c->btn_t[c->btn_next] <= r->S)
		c->btn_next++;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- feeding the collars ------------------------------------------------------------------------------------ */

/* Motion/button lines due before `until` (ms UTC, exclusive) and at or before S. */
static int feed_motion(struct run *r, struct collar *c, int64_t until, bool *progress)
{
	const struct an_sim_animal *an = &r->w.animals[c->a];
	char line[96];
	for (;;) {
		int64_t ta = c->acc_next < c->n_acc ? an->boot_utc_ms + c->acc[c->acc_next].t_ms : INT64_MAX;
		int64_t tb = c->btn_next < c->n_btn ? an->boot_utc_ms + c->btn_t[c->btn_next] : INT64_MAX;
		int64_t t = ta < tb ? ta : tb;
		if (t == INT64_MAX || t > r->S || t >= until)
			return 0;
		int n = -1;
		if (ta <= tb) {
			const struct an_sim_accel *s = &c->acc[c->acc_next++];
			if (c->have_t0) /* motion before this process's first epoch has no collar time: skipped */
				n = snprintf(line, sizeof line, "%" PRId64 ",%d,%d,%d\n", ta - c->t0_utc, s->x_mg, s->y_mg, s->z_mg);
		} else {
			if (c->have_t0)
				n = snprintf(line, sizeof line, "%" PRId64 ",button,%d\n", tb - c->t0_utc, c->btn_l[c->btn_next]);
			c->btn_next++;
		}
		if (n > 0 && outq_put(&c->mq, line, (size_t)n))
			return -ENOMEM;
		*progress = true;
	}
}

/* The collar's next GNSS epoch onto its NMEA pipe queue; the first one marks the collar's time origin. */
static int gnss_next(struct collar *c)
{
	size_t i = c->ep_next++;
	if (!c->have_t0) {
		c->have_t0 = true;
		c->t0_utc = c->ep_utc[i];
		c->ep_first = i;
	}
	return outq_put(&c->gq, c->nmea + c->ep_off[i], c->ep_off[i + 1] - c->ep_off[i]) ? -ENOMEM : 0;
}

static int feed(struct run *r, struct collar *c, bool *progress)
{
	const struct an_sim_animal *an = &r->w.animals[c->a];
	if (!c->running || c->inputs_closed)
		return 0;
	/* live: everything due by the host clock (--fast has its own feed, feed_sync) */
	int rc;
	while (c->ep_next < c->n_ep && c->ep_utc[c->ep_next] <= r->S) {
		if (gnss_next(c))
			return -ENOMEM;
		*progress = true;
	}
	if ((rc = feed_motion(r, c, INT64_MAX, progress)) < 0)
		return rc;
	ssize_t a = outq_flush(&c->gq, c->gnss_fd), b = outq_flush(&c->mq, c->motion_fd);
	if (a > 0 || b > 0)
		*progress = true;
	if (a > 0)
		c->g_written += (uint64_t)a;
	if (a == -EPIPE || b == -EPIPE) {
		c->inputs_closed = true; /* the collar is gone: its exit is reaped below */
		close_fd(&c->gnss_fd);
		close_fd(&c->motion_fd);
		return 0;
	}
	bool streams_done = c->ep_next == c->n_ep && c->acc_next == c->n_acc && c->btn_next == c->n_btn;
	if ((streams_done || r->S >= an->off_utc_ms) && !outq_pending(&c->gq) && !outq_pending(&c->mq)) {
		c->inputs_closed = true; /* collar switched off: EOF, it drains its journal and exits */
		close_fd(&c->gnss_fd);
		close_fd(&c->motion_fd);
		*progress = true;
	}
	return 0;
}

/* ---- the medium ------------------------------------------------------------------------------------------- */

static int medium_send(struct run *r, uint32_t sender, const uint8_t *data, size_t len, int64_t t_us)
{
	if (t_us < r->radio.now_us)
		t_us = r->radio.now_us;
	/* the modem's random access delay before its first listen (so two senders whose bytes reach this loop
	 * in the same turn do not start on the same microsecond, an artefact of the loop, not of the air) */
	t_us += (int64_t)(an_sim_rng_unit(&r->access_rng) * (double)r->radio.cfg.backoff_max_us);
	uint64_t id;
	int64_t end;
	int rc = an_sim_radio_send(&r->radio, t_us, sender, (uint32_t)len, &id, &end);
	if (rc == -ENOBUFS) {
		r->dropped_overflow++;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (r->M_us < t_us)
		r->M_us = t_us;
	if (an_array_grow((void **)&r->pl, &r->cap_pl, r->n_pl, 64, sizeof *r->pl))
		return -ENOMEM;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	r->pl[r->n_pl++] = (struct payload){id, sender, (uint32_t)len, copy};
	uint64_t air = len + r->radio.cfg.overhead_bytes;
	if (sender == 0) {
		r->down_frames++;
		r->down_air_bytes += air;
	} else {
		r->c[sender - 1].tx_frames++;
		r->c[sender - 1].tx_air_bytes += air;
	}
	return 0;
}

static int64_t medium_next_end(const struct run *r)
{
	int64_t t = INT64_MAX;
	for (uint32_t i = 0; i < r->radio.n_fl; i++)
		if (r->radio.fl[i].end_us < t)
			t = r->radio.fl[i].end_us;
	return t;
}

static int medium_deliver(struct run *r, int64_t now_us, bool *progress)
{
	struct an_sim_radio_rx rx;
	int k;
	if (now_us < r->radio.now_us)
		now_us = r->radio.now_us;
	while ((k = an_sim_radio_poll(&r->radio, now_us, &rx)) == 1) {
		size_t i = 0;
		while (i < r->n_pl && r->pl[i].id != rx.id)
			i++;
		if (i == r->n_pl)
			continue;
		struct payload p = r->pl[i];
		r->pl[i] = r->pl[--r->n_pl];
		*progress = true;
		if (rx.fate == AN_SIM_RADIO_OK || rx.fate == AN_SIM_RADIO_CORRUPTED) {
			if (rx.fate == AN_SIM_RADIO_CORRUPTED)
				an_sim_radio_corrupt(&r->radio, p.data + 1, p.len > 2 ? p.len - 2 : 0);
			if (p.sender == 0) {
				for (uint32_t c = 0; c < r->n; c++)
					if (r->c[c].running && r->c[c].radio_fd >= 0 && outq_put(&r->c[c].rq, p.data, p.len)) {
						free(p.data);
						return -ENOMEM;
					}
			} else if (outq_put(&r->ptyq, p.data, p.len) ||
			           (rx.fate == AN_SIM_RADIO_OK && sim_framelog_frame(r->fl, p.data, p.len) < 0)) {
				free(p.data);
				return -ENOMEM;
			}
		}
		free(p.data);
	}
	return k < 0 ? k : 0;
}

/* --fast: a frame read from a program, held until its time on the air is known (see loop_sync). */
static int raw_push(struct run *r, uint32_t sender, const uint8_t *data, size_t len)
{
	struct payload **v = sender ? &r->c[sender - 1].raw : &r->gw_raw;
	size_t *n = sender ? &r->c[sender - 1].n_raw : &r->n_gw_raw, *cap = sender ? &r->c[sender - 1].cap_raw : &r->cap_gw_raw;
	if (an_array_grow((void **)v, cap, *n, 16, sizeof **v))
		return -ENOMEM;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	(*v)[(*n)++] = (struct payload){0, sender, (uint32_t)len, copy};
	if (sender)
		r->c[sender - 1].raw_frames++;
	return 0;
}

/* Bytes from a sender → frames on the air. */
static int deframe(struct run *r, struct deframer *d, uint32_t sender, const uint8_t *b, size_t n, int64_t t_us)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			if (d->len + 2 >= sizeof d->buf) {
				d->overflow = true;
				d->len = 0;
				d->garbage++;
			} else if (!d->overflow) {
				d->buf[1 + d->len++] = b[i];
			}
			continue;
		}
		if (d->len > 0 && !d->overflow) {
			d->buf[0] = 0;
			d->buf[1 + d->len] = 0;
			int rc = r->o->fast ? raw_push(r, sender, d->buf, d->len + 2) : medium_send(r, sender, d->buf, d->len + 2, t_us);
			if (rc)
				return rc;
		}
		d->len = 0;
		d->overflow = false;
	}
	return 0;
}

/* ---- collar stdout: "journaled SEQ TYPE CRC" ------------------------------------------------------------ */

static void collar_lines(struct collar *c, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] != '\n') {
			if (c->line_len < sizeof c->line - 1)
				c->line[c->line_len++] = b[i];
			continue;
		}
		c->line[c->line_len] = 0;
		c->line_len = 0;
		char type[16];
		uint32_t seq, clk, tx;
		int64_t tick;
		uint64_t rx;
		int dr;
		if (sscanf(c->line, "tx %" SCNu32, &clk) == 1) {
			if (c->n_txt == c->cap_txt) {
				uint32_t nc = c->cap_txt ? 2 * c->cap_txt : 64;
				uint32_t *t = realloc(c->txt, nc * sizeof *t);
				if (!t)
					continue; /* the frame then goes on the air at the medium's time */
				c->txt = t;
				c->cap_txt = nc;
			}
			c->txt[c->n_txt++] = clk;
			c->tx_lines++;
		} else if (sscanf(c->line, "idle %" SCNd64 " %" SCNu32 " %" SCNu64 " %" SCNu32 " %d", &tick, &clk, &rx, &tx,
		                  &dr) == 5) {
			c->rep_valid = true;
			c->rep_tick = tick;
			c->rep_clock = clk;
			c->rep_rx = rx;
			c->rep_tx = tx;
			c->rep_drained = dr != 0;
		} else if (sscanf(c->line, "journaled %" SCNu32 " %15s", &seq, type) == 2) {
			if (!strcmp(type, "FIX"))
				c->j_fix++;
			else if (!strcmp(type, "IND"))
				c->j_ind++;
			else
				c->j_other++;
		}
	}
}

/* ---- the end: hazard points, counts, summary --------------------------------------------------------------- */

static int fetch_hazards(struct run *r, uint32_t *n_out, uint32_t *n2, uint32_t *np)
{
	void *ctx = zmq_ctx_new();
	struct an_pub_client *cl = NULL;
	int rc = ctx ? an_pub_client_open(ctx, r->ep_pub, r->ep_snap, AN_PUB_HAZARD, &cl) : -ENOMEM;
	if (!rc)
		rc = an_pub_client_sync(cl, 20000);
	char p[PATH_CAP + 64], tmp[PATH_CAP + 64];
	snprintf(p, sizeof p, "%s/hazards.csv", r->dir);
	snprintf(tmp, sizeof tmp, "%s/hazards.csv.tmp", r->dir);
	FILE *f = rc ? NULL : fopen(tmp, "we");
	if (!rc && !f)
		rc = -errno;
	*n_out = *n2 = *np = 0;
	if (!rc) {
		fprintf(f, "id,status,p_explosive,n_animals,n_ind,x_mm,y_mm,sigma_mm,task,lat,lon\n");
		size_t cnt = an_pub_client_count(cl);
		for (size_t i = 0; i < cnt && !rc; i++) {
			uint64_t key;
			const char *topic;
			const uint8_t *body;
			size_t len;
			struct an_pub_hazard h;
			if ((rc = an_pub_client_get(cl, i, &key, &topic, &body, &len)) < 0)
				break;
			if ((rc = an_pub_hazard_decode(body, len, &h)) < 0)
				break;
			fprintf(f, "%" PRIu64 ",%u,%.6f,%" PRIu32 ",%" PRIu32 ",%" PRId64 ",%" PRId64 ",%" PRIu32 ",%" PRIu64 ",%.7f,%.7f\n",
			        h.id, h.status, h.p_ppm / 1e6, h.n_animals, h.n_ind, h.x_mm, h.y_mm, h.sigma_mm, h.task_id,
			        h.has_latlon ? h.lat_e7 / 1e7 : NAN, h.has_latlon ? h.lon_e7 / 1e7 : NAN);
			(*n_out)++;
			*n2 += h.n_animals >= 2;
			*np += h.p_ppm >= 500000;
		}
		if (fclose(f) != 0 && !rc)
			rc = -errno;
		if (!rc && rename(tmp, p) != 0)
			rc = -errno;
	}
	if (rc)
		logf_("could not fetch the core's hazard points from %s: %s", r->ep_snap, strerror(-rc));
	if (cl)
		an_pub_client_close(cl);
	if (ctx)
		zmq_ctx_term(ctx);
	return rc;
}

static int store_counts(struct run *r, uint64_t *fixes, uint64_t *inds)
{
	char p[PATH_CAP + 64];
	snprintf(p, sizeof p, "file:%s/core.sqlite?mode=ro", r->dir);
	sqlite3 *db;
	*fixes = *inds = 0;
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	int rc = 0;
	/* IND records: an indication that outlasts the collar's hold is journaled twice (the indication, then a
	 * completion with its final duration, kept in ind_completions), so both tables count */
	const char *q[2] = {"SELECT COUNT(*) FROM fixes",
	                    "SELECT (SELECT COUNT(*) FROM indications) + (SELECT COUNT(*) FROM ind_completions)"};
	uint64_t *out[2] = {fixes, inds};
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK) {
			rc = -EIO;
			break;
		}
		if (sqlite3_step(st) == SQLITE_ROW)
			*out[i] = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = -EIO;
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return rc;
}

/* ---- stopping ----------------------------------------------------------------------------------------------- */

static void reap(struct run *r)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == r->core_pid) {
			r->core_pid = -1;
			if (!r->stop_req)
				logf_("scentrack-core exited unexpectedly (see %s/logs/core.log)", r->dir);
			continue;
		}
		if (pid == r->gw_pid) {
			r->gw_pid = -1;
			if (!r->stop_req)
				logf_("scentrack-gateway exited unexpectedly (see %s/logs/gateway.log)", r->dir);
			continue;
		}
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			if (c->pid != pid)
				continue;
			c->pid = -1;
			c->running = false;
			c->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			/* exit 0 after EOF = every record acked: this collar's day is over */
			if (c->exit_status == 0 && c->inputs_closed && (c->ep_next == c->n_ep || r->o->fast))
				c->finished = true;
			else if (!r->stop_req) {
				/* a crashed collar is restarted on the same flash file, as its watchdog would (a few times) */
				bool again = c->restarts < 5;
				logf_("collar %s exited with status %d (see %s/logs/collar_%s.log)%s", c->name, c->exit_status,
				      r->dir, c->name, again ? ": restarting it" : "");
				if (again) {
					c->restarts++;
					c->started = false;
					c->inputs_closed = false;
					c->gq.off = c->gq.len = c->mq.off = c->mq.len = c->rq.off = c->rq.len = 0;
					c->df.len = 0;
					c->g_written = 0;
					c->line_len = 0;
				}
			}
			char buf[4096];
			ssize_t n;
			while (c->out_fd >= 0 && (n = read(c->out_fd, buf, sizeof buf)) > 0)
				collar_lines(c, buf, (size_t)n);
			close_fd(&c->gnss_fd);
			close_fd(&c->motion_fd);
			close_fd(&c->radio_fd);
			close_fd(&c->out_fd);
		}
	}
}

static void wait_pids(struct run *r, pid_t *pids, size_t n, int ms)
{
	int64_t deadline = mono_ms() + ms;
	for (;;) {
		reap(r);
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			if (pids[i] <= 0)
				continue;
			if (kill(pids[i], 0) != 0 && errno == ESRCH)
				pids[i] = -1;
			else
				any = true;
		}
		if (!any)
			return;
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = r->sfd, .events = POLLIN};
		if (poll(&p, 1, left > 100 ? 100 : (int)left) > 0) {
			struct signalfd_siginfo si;
			while (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0) {
			logf_("pid %d did not stop within %d ms: SIGKILL", (int)pids[i], ms);
			kill(pids[i], SIGKILL);
		}
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	reap(r);
}

static void stop_collars(struct run *r)
{
	pid_t *pids = calloc(r->n + 1u, sizeof *pids);
	if (!pids)
		return;
	for (uint32_t i = 0; i < r->n; i++) {
		pids[i] = r->c[i].running ? r->c[i].pid : -1;
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	}
	wait_pids(r, pids, r->n, STOP_WAIT_MS);
	free(pids);
}

static void stop_one(struct run *r, pid_t *pid)
{
	if (*pid <= 0)
		return;
	pid_t p = *pid;
	kill(p, SIGTERM);
	wait_pids(r, &p, 1, STOP_WAIT_MS);
	*pid = -1;
}

/* ---- the loop ------------------------------------------------------------------------------------------------- */

static int handle_signals(struct run *r)
{
	struct signalfd_siginfo si;
	while (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGCHLD)
			reap(r);
		else if (!r->stop_req) {
			r->stop_req = true;
			r->stop_sig = (int)si.ssi_signo;
		}
	}
	return 0;
}

/* One progress line on stderr per simulated hour (the day can take minutes live, seconds with --fast). */
static void progress_note(const struct run *r, uint64_t *last_note_h)
{
	uint64_t hrs = (uint64_t)((r->S - r->S0) / 3600000);
	if (hrs <= *last_note_h)
		return;
	*last_note_h = hrs;
	time_t tt = (time_t)(r->S / 1000);
	struct tm tm;
	gmtime_r(&tt, &tm);
	fprintf(stderr, "scentrack sim: %02d:%02d UTC simulated, %.1f s wall\n", tm.tm_hour, tm.tm_min,
	        (double)(mono_ms() - r->real0) / 1000.0);
}

/* After the day: true (and r->day_done) once the core's store holds every record the collars journaled, or
 * DRAIN_WAIT_MS after the first call (logged: the summary then shows what is missing). */
static bool day_drained(struct run *r, int64_t *drain_deadline)
{
	uint64_t jf = 0, ji = 0, sf, si;
	for (uint32_t i = 0; i < r->n; i++)
		jf += r->c[i].j_fix, ji += r->c[i].j_ind;
	if (!*drain_deadline)
		*drain_deadline = mono_ms() + DRAIN_WAIT_MS;
	if (store_counts(r, &sf, &si) == 0 && sf >= jf && si >= ji) {
		r->day_done = true;
		return true;
	}
	if (mono_ms() > *drain_deadline) {
		logf_("the core holds %" PRIu64 " of %" PRIu64 " fixes and %" PRIu64 " of %" PRIu64
		      " IND records %d s after the day ended: stopping anyway", sf, jf, si, ji, DRAIN_WAIT_MS / 1000);
		r->day_done = true;
		return true;
	}
	return false;
}

/* A collar switched on at simulated time r->S: started, and said on stdout (both loops). */
static int collar_switch_on(struct run *r, struct collar *c)
{
	const struct an_sim_animal *an = &r->w.animals[c->a];
	int rc = start_collar(r, c);
	if (rc < 0) {
		logf_("starting collar %s: %s", c->name, strerror(-rc));
		return rc;
	}
	time_t tt = (time_t)(r->S / 1000);
	struct tm tm;
	gmtime_r(&tt, &tm);
	printf("  %02d:%02d:%02d UTC collar %u (%s, %s, %s receiver) on\n", tm.tm_hour, tm.tm_min, tm.tm_sec, c->id,
	       c->name, an->p.species == AN_SIM_DOG ? "dog" : "rat", an_sim_rx_name(an->p.rx));
	fflush(stdout);
	return 0;
}

static int loop(struct run *r)
{
	int64_t last_state = mono_ms(), drain_deadline = 0;
	uint64_t last_note_h = 0;
	struct pollfd *pfd = calloc(3u * r->n + 8u, sizeof *pfd);
	if (!pfd)
		return -ENOMEM;
	int rc = 0;
	while (!r->stop_req) {
		bool progress = false;
		int64_t s = r->S0 + (mono_ms() - r->real0);
		if (s > r->S)
			r->S = s;
		if (r->M_us < r->S * 1000)
			r->M_us = r->S * 1000;
		/* collars switched on */
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			const struct an_sim_animal *an = &r->w.animals[c->a];
			/* (a collar of an interrupted run whose day is over starts too: it drains its journal) */
			if (!c->started && !c->finished && an->on_utc_ms <= r->S) {
				if ((rc = collar_switch_on(r, c)) < 0)
					goto out;
				progress = true;
			}
		}
		for (uint32_t i = 0; i < r->n; i++)
			if ((rc = feed(r, &r->c[i], &progress)) < 0)
				goto out;
		if ((rc = medium_deliver(r, r->S * 1000, &progress)) < 0)
			goto out;
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			ssize_t k = outq_flush(&c->rq, c->radio_fd);
			if (k > 0)
				progress = true;
			if (c->radio_fd < 0)
				c->rq.off = c->rq.len = 0;
		}
		if (outq_flush(&r->ptyq, r->pty_master) > 0)
			progress = true;
		sim_framelog_flushed(r->fl, outq_pending(&r->ptyq));

		/* wait */
		int timeout;
		{
			int64_t next = (r->S / STEP_MS + 1) * STEP_MS * 1000;
			int64_t ne = medium_next_end(r);
			if (ne < next)
				next = ne;
			int64_t d = (next - r->S * 1000) / 1000 + 1;
			timeout = progress ? 0 : d > 200 ? 200 : d < 0 ? 0 : (int)d;
		}
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){.fd = r->sfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = r->pty_master, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = r->core_out, .events = POLLIN};
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			pfd[n++] = (struct pollfd){.fd = c->running ? c->radio_fd : -1, .events = POLLIN};
			pfd[n++] = (struct pollfd){.fd = c->running ? c->out_fd : -1, .events = POLLIN};
			short ev = 0;
			if (outq_pending(&c->gq) && c->gnss_fd >= 0)
				ev = POLLOUT;
			pfd[n++] = (struct pollfd){.fd = ev ? c->gnss_fd : (outq_pending(&c->mq) ? c->motion_fd : -1),
			                           .events = POLLOUT};
		}
		int pr = poll(pfd, n, timeout);
		if (pr < 0 && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		if (pfd[0].revents)
			handle_signals(r);
		if (r->core_pid <= 0 || r->gw_pid <= 0) {
			rc = -EIO;
			goto out;
		}
		uint8_t buf[8192];
		int64_t t_now_us = r->S * 1000;
		if (pfd[1].revents & POLLIN) {
			ssize_t k = read(r->pty_master, buf, sizeof buf);
			if (k > 0) {
				progress = true;
				if ((rc = deframe(r, &r->gw_df, 0, buf, (size_t)k, t_now_us)) < 0)
					goto out;
			}
		}
		if (pfd[2].revents) {
			while (read(r->core_out, buf, sizeof buf) > 0) {
			}
		}
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			struct pollfd *p = &pfd[3 + 3 * i];
			if (c->running && c->radio_fd >= 0 && (p[0].revents & POLLIN)) {
				ssize_t k = read(c->radio_fd, buf, sizeof buf);
				if (k > 0) {
					progress = true;
					if ((rc = deframe(r, &c->df, i + 1, buf, (size_t)k, t_now_us)) < 0)
						goto out;
				}
			}
			if (c->running && c->out_fd >= 0 && (p[1].revents & POLLIN)) {
				ssize_t k = read(c->out_fd, buf, sizeof buf);
				if (k > 0)
					collar_lines(c, (const char *)buf, (size_t)k);
			}
		}
		bool any_running = false;
		for (uint32_t i = 0; i < r->n; i++)
			any_running = any_running || r->c[i].running;
		progress_note(r, &last_note_h);
		if (mono_ms() - last_state > 5000) {
			last_state = mono_ms();
			if (getenv("SCENTRACK_SIM_DEBUG")) {
				fprintf(stderr, "debug: S %" PRId64 " M %" PRId64 " in flight %" PRIu32 " steps/s:", r->S, r->M_us / 1000,
				        r->radio.n_fl);
				for (uint32_t i = 0; i < r->n; i++) {
					int g = 0, m = 0;
					if (r->c[i].gnss_fd >= 0)
						ioctl(r->c[i].gnss_fd, FIONREAD, &g);
					if (r->c[i].motion_fd >= 0)
						ioctl(r->c[i].motion_fd, FIONREAD, &m);
					fprintf(stderr, " %s:%d/%d%s", r->c[i].name, g, m, r->c[i].running ? "" : "-");
				}
				fputc('\n', stderr);
			}
			r->day_done = false;
			(void)state_save(r);
		}
		/* the day is over: every collar drained its journal and exited; then the core must hold it all */
		if (r->S >= r->S_end && !any_running && r->radio.n_fl == 0) {
			if (day_drained(r, &drain_deadline))
				break;
			struct pollfd p = {.fd = r->sfd, .events = POLLIN};
			if (poll(&p, 1, 200) > 0)
				handle_signals(r);
		}
	}
out:
	free(pfd);
	return rc;
}

/* ---- --fast: simulated time that never waits on real time ----------------------------------------------------
 *
 * Every program says when it has finished with what it was given, so the simulated clocks move the moment all
 * are done instead of after real-time waits:
 *  - a collar (--sync) reports "idle TICK CLOCK RX TX DRAINED" before it waits with nothing to do: it consumed
 *    the time mark TICK (all motion up to it, and the GNSS epoch after it, see feed_sync), read RX radio bytes
 *    and wrote TX frames; "tx CLOCK" after each frame gives the frame's time on its own virtual clock;
 *  - the gateway's status socket gives the modem link's byte counts: it is done when it read every byte
 *    written to it and the sim read every byte it wrote (its ACK is written in the same loop turn as the
 *    commit, early_commit, so nothing is held on a real-time timer).
 * Then the medium runs as a discrete-event simulation: the earliest of (a frame due on the air, a frame ending)
 * happens next; a frame delivered to a program makes it busy again, and its answers go on the air at the
 * medium's time (processing takes no simulated time). S advances by STEP_MS once nothing is due before S + STEP.
 * Collars run with no ARQ lock-step: they keep sending within their window while ACKs are outstanding, as on
 * the air. Frames' times come from the collars' own clocks and every order is by (time, sender, sequence), so
 * the channel's events do not depend on the host's scheduling. */

#define QUIET_STALL_MS 30000 /* no program answered for this long: a bug, said loudly (and counted) */

static int pend_put(struct run *r, int64_t t_us, struct payload p)
{
	if (an_array_grow((void **)&r->pend, &r->cap_pend, r->n_pend, 64, sizeof *r->pend))
		return -ENOMEM;
	size_t i = r->n_pend;
	uint64_t seq = r->pend_seq++;
	while (i > 0 && r->pend[i - 1].t_us > t_us)
		i--;
	memmove(&r->pend[i + 1], &r->pend[i], (r->n_pend - i) * sizeof *r->pend);
	r->pend[i] = (struct pend){t_us, seq, p};
	r->n_pend++;
	return 0;
}

/* Frames read since the last round, on the air at their sender's time (collars: their clock; the gateway: the
 * medium's time when it answered) plus the modem's random access delay, drawn in a fixed order. */
static int time_frames(struct run *r)
{
	int rc;
	int64_t m = r->M_us;
	for (size_t j = 0; j < r->n_gw_raw; j++) {
		int64_t t = m + (int64_t)(an_sim_rng_unit(&r->access_rng) * (double)r->radio.cfg.backoff_max_us);
		if ((rc = pend_put(r, t, r->gw_raw[j])) < 0)
			return rc;
	}
	r->n_gw_raw = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		struct collar *c = &r->c[i];
		size_t k = c->n_raw < c->n_txt ? c->n_raw : c->n_txt;
		if (!c->running && c->n_raw > k)
			k = c->n_raw; /* it died after writing: its last frames go out now */
		for (size_t j = 0; j < k; j++) {
			int64_t t = m;
			if (j < c->n_txt && c->have_t0) {
				int64_t tc = (c->t0_utc + (int64_t)c->txt[j]) * 1000 + c->phase_us;
				if (tc > t)
					t = tc;
			}
			t += (int64_t)(an_sim_rng_unit(&r->access_rng) * (double)r->radio.cfg.backoff_max_us);
			if ((rc = pend_put(r, t, c->raw[j])) < 0)
				return rc;
		}
		if (k > 0) {
			memmove(c->raw, c->raw + k, (c->n_raw - k) * sizeof *c->raw);
			c->n_raw -= k;
		}
		size_t kt = k < c->n_txt ? k : c->n_txt;
		if (kt > 0) {
			memmove(c->txt, c->txt + kt, (c->n_txt - kt) * sizeof *c->txt);
			c->n_txt -= (uint32_t)kt;
		}
	}
	return 0;
}

/* A frame starts at exactly t_us (the access delay is in t_us already). */
static int medium_start(struct run *r, int64_t t_us, struct payload p)
{
	uint64_t id;
	int64_t end;
	int rc = an_sim_radio_send(&r->radio, t_us, p.sender, p.len, &id, &end);
	if (rc == -ENOBUFS) {
		r->dropped_overflow++;
		free(p.data);
		return 0;
	}
	if (rc < 0) {
		free(p.data);
		return rc;
	}
	if (an_array_grow((void **)&r->pl, &r->cap_pl, r->n_pl, 64, sizeof *r->pl)) {
		free(p.data);
		return -ENOMEM;
	}
	p.id = id;
	r->pl[r->n_pl++] = p;
	uint64_t air = p.len + r->radio.cfg.overhead_bytes;
	if (p.sender == 0) {
		r->down_frames++;
		r->down_air_bytes += air;
	} else {
		r->c[p.sender - 1].tx_frames++;
		r->c[p.sender - 1].tx_air_bytes += air;
	}
	return 0;
}

/* The gateway's modem-link byte counts from its status socket (one JSON document per connection). */
static int gw_counts(struct run *r, uint64_t *rx, uint64_t *tx, bool *up)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, r->gw_sock, sizeof r->gw_sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	static char buf[(1 << 20) + 1]; /* GW_STATUS_MAX: the whole document (links follow the per-collar list) */
	size_t len = 0;
	int64_t deadline = mono_ms() + 10000;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[len] = 0;
	r->gw_status_queries++;
	const char *l = strstr(buf, "\"links\"");
	const char *a = l ? strstr(l, "\"rx_bytes\":") : NULL, *b = l ? strstr(l, "\"tx_bytes\":") : NULL;
	const char *u = l ? strstr(l, "\"up\":") : NULL;
	if (!a || !b || !u)
		return -EPROTO;
	*rx = strtoull(a + 11, NULL, 10);
	*tx = strtoull(b + 11, NULL, 10);
	*up = strncmp(u + 5, "true", 4) == 0;
	return 0;
}

/* Time marks and streams for the step ending at S: motion up to S, the mark S, then the GNSS epochs up to S +
 * STEP (the collar completes an epoch's record when it reads the next epoch's first line, and it takes a GNSS
 * line only once the motion is known up to that line's time). The GNSS pipe closes after the last epoch; the
 * motion pipe (with marks: the collar's clock while it drains) once the collar said it is drained after its
 * switch-off: it then exits. */
static int feed_sync(struct run *r, struct collar *c)
{
	const struct an_sim_animal *an = &r->w.animals[c->a];
	bool progress = false;
	int rc;
	if (!c->running || c->inputs_closed)
		return 0;
	if (!c->gnss_closed) {
		while (c->ep_next < c->n_ep && c->ep_utc[c->ep_next] <= r->S + STEP_MS && r->S < an->off_utc_ms) {
			if (gnss_next(c))
				return -ENOMEM;
		}
	}
	bool motion_over = r->S >= an->off_utc_ms || (c->acc_next == c->n_acc && c->btn_next == c->n_btn);
	if (!motion_over && (rc = feed_motion(r, c, INT64_MAX, &progress)) < 0)
		return rc;
	if (c->have_t0 && r->S >= c->t0_utc && r->S - c->t0_utc > c->tick_written) {
		char line[48];
		int n = snprintf(line, sizeof line, "%" PRId64 ",tick\n", r->S - c->t0_utc);
		if (outq_put(&c->mq, line, (size_t)n))
			return -ENOMEM;
		c->tick_written = r->S - c->t0_utc;
	}
	return 0;
}

/* After feed_sync and the quiet round: close what is over. */
static void close_sync(struct run *r, struct collar *c)
{
	const struct an_sim_animal *an = &r->w.animals[c->a];
	if (!c->running || c->inputs_closed || outq_pending(&c->gq) || outq_pending(&c->mq))
		return;
	if (!c->gnss_closed && (c->ep_next == c->n_ep || r->S >= an->off_utc_ms)) {
		c->gnss_closed = true;
		close_fd(&c->gnss_fd);
	}
	if (c->gnss_closed && r->S >= an->off_utc_ms && c->rep_valid && c->rep_drained && c->rep_tick == c->tick_written) {
		c->inputs_closed = true; /* switched off and every record acked: EOF, it exits */
		c->closed_S = r->S;
		close_fd(&c->motion_fd);
	}

}

static bool collar_quiet(const struct collar *c)
{
	if (!c->running)
		return true;
	if (c->inputs_closed)
		return false; /* leaving (its exit can take real time: the flash file is closed): reaped first */
	if (outq_pending(&c->gq) || outq_pending(&c->mq) || outq_pending(&c->rq) || !c->rep_valid)
		return false;
	return c->rep_tick == c->tick_written && c->rep_rx == c->r_written && c->tx_lines >= c->rep_tx &&
	       c->raw_frames >= c->rep_tx;
}

/* One poll round over every program's pipes: write what is queued, read what they wrote. */
static int pump(struct run *r, struct pollfd *pfd, int timeout_ms)
{
	int rc;
	for (uint32_t i = 0; i < r->n; i++) {
		struct collar *c = &r->c[i];
		ssize_t k = outq_flush(&c->mq, c->motion_fd);
		if (k == -EPIPE)
			c->mq.off = c->mq.len = 0;
		if (!outq_pending(&c->mq)) {
			k = outq_flush(&c->gq, c->gnss_fd);
			if (k > 0)
				c->g_written += (uint64_t)k;
			if (k == -EPIPE)
				c->gq.off = c->gq.len = 0;
		}
		k = outq_flush(&c->rq, c->radio_fd);
		if (k > 0)
			c->r_written += (uint64_t)k;
		if (c->radio_fd < 0 || k < 0)
			c->rq.off = c->rq.len = 0;
	}
	ssize_t w = outq_flush(&r->ptyq, r->pty_master);
	if (w > 0) {
		r->pty_written += (uint64_t)w;
		r->gw_checked = false;
	}
	sim_framelog_flushed(r->fl, outq_pending(&r->ptyq));
	nfds_t n = 0;
	pfd[n++] = (struct pollfd){.fd = r->sfd, .events = POLLIN};
	pfd[n++] = (struct pollfd){.fd = r->pty_master, .events = (short)(POLLIN | (outq_pending(&r->ptyq) ? POLLOUT : 0))};
	pfd[n++] = (struct pollfd){.fd = r->core_out, .events = POLLIN};
	for (uint32_t i = 0; i < r->n; i++) {
		struct collar *c = &r->c[i];
		pfd[n++] = (struct pollfd){.fd = c->running ? c->radio_fd : -1,
		                           .events = (short)(POLLIN | (outq_pending(&c->rq) ? POLLOUT : 0))};
		pfd[n++] = (struct pollfd){.fd = c->running ? c->out_fd : -1, .events = POLLIN};
		int fd = outq_pending(&c->mq) ? c->motion_fd : outq_pending(&c->gq) ? c->gnss_fd : -1;
		pfd[n++] = (struct pollfd){.fd = fd, .events = POLLOUT};
	}
	int pr = poll(pfd, n, timeout_ms);
	if (pr < 0 && errno != EINTR)
		return -errno;
	if (pr <= 0)
		return 0;
	if (pfd[0].revents)
		handle_signals(r);
	uint8_t buf[8192];
	if (pfd[1].revents & POLLIN) {
		ssize_t k;
		while ((k = read(r->pty_master, buf, sizeof buf)) > 0) {
			r->pty_read += (uint64_t)k;
			r->gw_checked = false;
			if ((rc = deframe(r, &r->gw_df, 0, buf, (size_t)k, 0)) < 0)
				return rc;
		}
	}
	if (pfd[2].revents)
		while (read(r->core_out, buf, sizeof buf) > 0) {
		}
	for (uint32_t i = 0; i < r->n; i++) {
		struct collar *c = &r->c[i];
		struct pollfd *p = &pfd[3 + 3 * i];
		/* stdout first: a "tx" line follows its frame, so the frames are there once the line is */
		if (c->running && c->out_fd >= 0 && (p[1].revents & POLLIN)) {
			ssize_t k;
			while ((k = read(c->out_fd, buf, sizeof buf)) > 0)
				collar_lines(c, (const char *)buf, (size_t)k);
		}
		if (c->running && c->radio_fd >= 0 && (p[0].revents & (POLLIN | POLLHUP))) {
			ssize_t k;
			while ((k = read(c->radio_fd, buf, sizeof buf)) > 0)
				if ((rc = deframe(r, &c->df, i + 1, buf, (size_t)k, 0)) < 0)
					return rc;
		}
	}
	return 1;
}

static void stall_report(struct run *r)
{
	r->stalls++;
	uint64_t rx = 0, tx = 0;
	bool up = false;
	int rc = gw_counts(r, &rx, &tx, &up);
	logf_("no program moved for %d s of real time at simulated %" PRId64 " ms: gateway read %" PRIu64 " of %" PRIu64
	      " bytes written to it, wrote %" PRIu64 " of which %" PRIu64 " were read (status: %s); going on",
	      QUIET_STALL_MS / 1000, r->S, rx, r->pty_written, tx, r->pty_read, rc ? strerror(-rc) : "ok");
	for (uint32_t i = 0; i < r->n; i++) {
		const struct collar *c = &r->c[i];
		if (c->running && !collar_quiet(c))
			logf_("  collar %s: idle line %d tick %" PRId64 "/%" PRId64 " rx %" PRIu64 "/%" PRIu64 " tx lines %" PRIu32
			      " frames %" PRIu32 " of %" PRIu32 ", queued g %zu m %zu r %zu",
			      c->name, c->rep_valid, c->rep_tick, c->tick_written, c->rep_rx, c->r_written, c->tx_lines,
			      c->raw_frames, c->rep_tx, outq_pending(&c->gq), outq_pending(&c->mq), outq_pending(&c->rq));
	}
}

/* Until every program has handled everything it was given; then time the frames they wrote. */
static int wait_quiet(struct run *r, struct pollfd *pfd)
{
	int64_t last_move = mono_ms();
	int rc;
	while (!r->stop_req) {
		reap(r);
		if (r->core_pid <= 0 || r->gw_pid <= 0)
			return -EIO;
		bool quiet = !outq_pending(&r->ptyq);
		for (uint32_t i = 0; i < r->n && quiet; i++)
			quiet = collar_quiet(&r->c[i]);
		if (quiet && !r->gw_checked) {
			uint64_t rx, tx;
			bool up;
			rc = gw_counts(r, &rx, &tx, &up);
			if (rc < 0 && rc != -ECONNREFUSED && rc != -ENOENT && rc != -ETIMEDOUT)
				return rc;
			if (rc == 0 && rx == r->pty_written && tx == r->pty_read)
				r->gw_checked = true;
			else
				quiet = false;
		}
		if (quiet)
			return time_frames(r);
		/* the gateway's answer has no event of its own when it writes nothing: re-ask within 1 ms */
		int moved = pump(r, pfd, r->gw_checked ? 1000 : 1);
		if (moved < 0)
			return moved;
		if (moved > 0)
			last_move = mono_ms();
		else if (mono_ms() - last_move > QUIET_STALL_MS) {
			stall_report(r);
			r->gw_checked = true;
			for (uint32_t i = 0; i < r->n; i++) {
				struct collar *c = &r->c[i];
				c->rep_valid = true, c->rep_tick = c->tick_written, c->rep_rx = c->r_written;
			}
			last_move = mono_ms();
		}
	}
	return 0;
}

/* Run the medium up to (not including) until_us. */
static int settle(struct run *r, struct pollfd *pfd, int64_t until_us)
{
	int rc;
	while (!r->stop_req) {
		if ((rc = wait_quiet(r, pfd)) < 0)
			return rc;
		int64_t tp = r->n_pend ? r->pend[0].t_us : INT64_MAX, te = medium_next_end(r);
		if (tp < r->M_us)
			tp = r->M_us; /* (an answer is never before the medium's now) */
		int64_t t = tp <= te ? tp : te;
		if (t >= until_us)
			break;
		r->M_us = t;
		if (tp <= te) {
			struct payload p = r->pend[0].p;
			memmove(r->pend, r->pend + 1, (r->n_pend - 1) * sizeof *r->pend);
			r->n_pend--;
			if ((rc = medium_start(r, t, p)) < 0)
				return rc;
			continue;
		}
		bool progress = false;
		if ((rc = medium_deliver(r, t, &progress)) < 0)
			return rc;
		if ((rc = pump(r, pfd, 0)) < 0) /* hand the bytes over before asking who is done */
			return rc;
	}
	if (r->M_us < until_us)
		r->M_us = until_us;
	return 0;
}

static int loop_sync(struct run *r)
{
	int64_t last_state = mono_ms();
	uint64_t last_note_h = 0;
	int rc = 0;
	struct pollfd *pfd = calloc(3u * r->n + 8u, sizeof *pfd);
	if (!pfd)
		return -ENOMEM;
	/* the gateway must hold the modem link open before any byte is counted */
	for (int64_t dl = mono_ms() + 60000;;) {
		uint64_t rx, tx;
		bool up = false;
		if (gw_counts(r, &rx, &tx, &up) == 0 && up) {
			r->pty_written = rx;
			r->pty_read = tx;
			break;
		}
		reap(r);
		if (r->gw_pid <= 0 || mono_ms() > dl) {
			logf_("scentrack-gateway did not open its radio link (see %s/logs/gateway.log)", r->dir);
			rc = -EIO;
			goto out;
		}
		struct pollfd p = {.fd = r->sfd, .events = POLLIN};
		if (poll(&p, 1, 20) > 0)
			handle_signals(r);
		if (r->stop_req)
			goto out;
	}
	int64_t drain_deadline = 0;
	while (!r->stop_req) {
		bool any_running = false;
		for (uint32_t i = 0; i < r->n; i++) {
			struct collar *c = &r->c[i];
			const struct an_sim_animal *an = &r->w.animals[c->a];
			if (!c->started && !c->finished && an->on_utc_ms <= r->S && r->S < r->S_end) {
				if ((rc = collar_switch_on(r, c)) < 0)
					goto out;
			}
			if ((rc = feed_sync(r, c)) < 0)
				goto out;
		}
		if ((rc = settle(r, pfd, (r->S + STEP_MS) * 1000)) < 0)
			goto out;
		for (uint32_t i = 0; i < r->n; i++) {
			close_sync(r, &r->c[i]);
			any_running = any_running || r->c[i].running;
		}
		if (r->S >= r->S_end && !any_running && r->radio.n_fl == 0 && r->n_pend == 0) {
			if (day_drained(r, &drain_deadline))
				break;
			struct pollfd p = {.fd = r->sfd, .events = POLLIN};
			if (poll(&p, 1, 50) > 0)
				handle_signals(r);
			continue;
		}
		r->S += STEP_MS;
		if (!any_running && r->n_pend == 0 && r->radio.n_fl == 0) {
			/* nobody on: jump to the next collar's switch-on */
			int64_t nx = r->S_end;
			for (uint32_t i = 0; i < r->n; i++) {
				const struct an_sim_animal *an = &r->w.animals[r->c[i].a];
				if (!r->c[i].started && !r->c[i].finished && an->on_utc_ms >= r->S && an->on_utc_ms < nx)
					nx = an->on_utc_ms;
			}
			if (nx > r->S)
				r->S = nx;
			if (r->M_us < r->S * 1000)
				r->M_us = r->S * 1000;
		}
		if (r->S > r->S_end + 3600000 && any_running) {
			for (uint32_t i = 0; i < r->n; i++)
				if (r->c[i].running)
					logf_("collar %s still holds un-acked records an hour of simulated time after the day "
					      "(last said: drained %d)", r->c[i].name, r->c[i].rep_drained);
			break;
		}
		progress_note(r, &last_note_h);
		if (mono_ms() - last_state > 5000) {
			last_state = mono_ms();
			r->day_done = false;
			(void)state_save(r);
		}
	}
out:
	free(pfd);
	return rc;
}

/* ---- entry ------------------------------------------------------------------------------------------------------ */

static int find_bins(struct run *r)
{
	char exe[PATH_CAP];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -errno;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	const char *bd = r->o->bin_dir ? r->o->bin_dir : NULL;
	/* build tree: <build>/analysis/scentrack → <build>/collar-fw, <build>/gateway; or all in one dir */
	struct {
		char *out;
		const char *sub, *name;
	} b[] = {{r->collar_bin, "collar-fw", "scentrack-collar"},
	         {r->gw_bin, "gateway", "scentrack-gateway"},
	         {r->core_bin, "analysis", "scentrack-core"}};
	for (int i = 0; i < 3; i++) {
		char cand[3][PATH_CAP + 64];
		int nc = 0;
		if (bd)
			snprintf(cand[nc++], sizeof cand[0], "%s/%s", bd, b[i].name);
		snprintf(cand[nc++], sizeof cand[0], "%s/../%s/%s", exe, b[i].sub, b[i].name);
		snprintf(cand[nc++], sizeof cand[0], "%s/%s", exe, b[i].name);
		int k;
		for (k = 0; k < nc; k++)
			if (access(cand[k], X_OK) == 0)
				break;
		if (k == nc) {
			logf_("cannot find %s (looked in %s%s%s/../%s and %s; give --bin-dir)", b[i].name, bd ? bd : "",
			      bd ? ", " : "", exe, b[i].sub, exe);
			return -ENOENT;
		}
		if (!realpath(cand[k], b[i].out))
			snprintf(b[i].out, PATH_CAP, "%.1000s", cand[k]);
	}
	return 0;
}

static int check_run_ini(struct run *r)
{
	char p[PATH_CAP + 64], text[PATH_CAP + 128], have[PATH_CAP + 128];
	char scen[PATH_CAP];
	if (!realpath(r->o->scenario, scen))
		snprintf(scen, sizeof scen, "%s", r->o->scenario);
	snprintf(p, sizeof p, "%s/run.ini", r->dir);
	snprintf(text, sizeof text, "scenario = %s\nseed = %" PRIu64 "\n", scen, r->o->seed);
	FILE *f = fopen(p, "re");
	if (f) {
		size_t n = fread(have, 1, sizeof have - 1, f);
		have[n] = 0;
		fclose(f);
		if (strcmp(have, text) != 0) {
			logf_("%s holds a run of another scenario or seed:\n%s(use another --data directory)", r->dir, have);
			return -EEXIST;
		}
		return 0;
	}
	return write_file(p, text, 0644);
}

static void print_summary(struct run *r, FILE *out, double wall_s, uint32_t nh, uint32_t nh2, uint32_t nhp, bool have_h)
{
	uint64_t jf = 0, ji = 0, jo = 0, sf = 0, si = 0, up_f = 0, up_b = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		jf += r->c[i].j_fix, ji += r->c[i].j_ind, jo += r->c[i].j_other;
		up_f += r->c[i].tx_frames, up_b += r->c[i].tx_air_bytes;
	}
	(void)store_counts(r, &sf, &si);
	const struct an_sim_radio_stats *st = &r->radio.stats;
	/* collar-hours simulated in this run: each started collar from its switch-on (or the resume point) to its
	 * switch-off (or where the run stopped) */
	r->collar_hours = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct an_sim_animal *an = &r->w.animals[r->c[i].a];
		int64_t a = an->on_utc_ms > r->S0 ? an->on_utc_ms : r->S0, b = an->off_utc_ms < r->S ? an->off_utc_ms : r->S;
		if (r->c[i].started && b > a)
			r->collar_hours += (double)(b - a) / 3.6e6;
	}
	double day_h = (double)(r->S - r->S0) / 3.6e6;
	fprintf(out, "field day %s, seed %" PRIu64 ": %.2f h simulated this run in %.1f s wall (%s)%s\n", r->w.sc.name,
	        r->w.seed, day_h, wall_s, r->o->fast ? "--fast" : "live", r->day_done ? "" : ", stopped before the end");
	fprintf(out, "collars: %" PRIu32 ", %.2f collar-hours this run\n", r->n, r->collar_hours);
	fprintf(out, "records journaled by the collars (all runs): %" PRIu64 " fixes, %" PRIu64 " IND records, %" PRIu64
	             " other\n", jf, ji, jo);
	fprintf(out, "records in the core's store: %" PRIu64 " fixes, %" PRIu64 " IND records (indications and their "
	             "completions)\n", sf, si);
	if (have_h)
		fprintf(out, "hazard points: %" PRIu32 " (%" PRIu32 " indicated by >= 2 animals, %" PRIu32
		             " with P(explosive) >= 0.5) -> %s/hazards.csv\n", nh, nh2, nhp, r->dir);
	fprintf(out, "radio (%" PRIu32 " bit/s, %s, %" PRIu32 " B overhead/frame): %" PRIu64 " frames on air: ok %" PRIu64
	             ", collided %" PRIu64 ", lost %" PRIu64 ", outage %" PRIu64 ", corrupted %" PRIu64 ", queue overflow %" PRIu64 "\n",
	        r->radio.cfg.bitrate_bps, r->radio.cfg.csma ? "CSMA" : "ALOHA", r->radio.cfg.overhead_bytes, st->sent, st->ok,
	        st->collided, st->lost, st->lost_outage, st->corrupted, st->overflow + r->dropped_overflow);
	double secs = (double)(r->M_us > r->S * 1000 ? r->M_us : r->S * 1000) / 1e6 - (double)r->S0 / 1e3;
	fprintf(out, "bytes on air: uplink %" PRIu64 " B in %" PRIu64 " frames, downlink %" PRIu64 " B in %" PRIu64
	             " frames; channel busy %.1f %%\n", up_b, up_f, r->down_air_bytes, r->down_frames,
	        secs > 0 ? (double)st->busy_us / 1e6 / secs * 100.0 : 0.0);
	if (r->collar_hours > 0)
		fprintf(out, "bytes on air per animal-hour: %.0f B (uplink %.0f, downlink %.0f)\n",
		        (double)(up_b + r->down_air_bytes) / r->collar_hours, (double)up_b / r->collar_hours,
		        (double)r->down_air_bytes / r->collar_hours);
	if (r->o->fast)
		fprintf(out, "simulated time: %" PRIu64 " gateway status queries, %" PRIu64 " stalls\n", r->gw_status_queries,
		        r->stalls);
	for (uint32_t i = 0; i < r->n; i++) {
		const struct collar *c = &r->c[i];
		fprintf(out, "  collar %u %-6s journaled %" PRIu64 " fix %" PRIu64 " ind, sent %" PRIu64 " frames %" PRIu64
		             " B on air%s\n", c->id, c->name, c->j_fix, c->j_ind, c->tx_frames, c->tx_air_bytes,
		        c->finished ? "" : c->started ? " (not finished)" : "");
	}
}

void scentrack_sim_radio_defaults(struct an_sim_radio_cfg *rc, uint64_t seed)
{
	/* A 9600 bit/s narrow-band modem channel with listen-before-talk (the access the link layer's credit
	 * and ACK batching assume), 1 % independent loss, Gilbert–Elliott bursts (mean burst 10 frames at 60 %
	 * loss, entered every ~200 frames) and 0.2 % corrupted frames. Outages: see scentrack_sim_run. */
	*rc = (struct an_sim_radio_cfg){.bitrate_bps = 9600, .overhead_bytes = 8, .csma = true, .sense_us = 2000,
	                                .backoff_max_us = 50000, .p_loss = 0.01, .p_corrupt = 0.002, .ge_p_gb = 0.005,
	                                .ge_p_bg = 0.1, .ge_loss_good = 0.0, .ge_loss_bad = 0.6, .seed = seed ^ 0x7261646930ull};
}

int scentrack_sim_run(const struct scentrack_sim_run_opts *o, struct an_sim_world *w_out_or_null)
{
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return EX_SOFTWARE;
	int ex = EX_SOFTWARE, rc;
	char err[512] = "";
	r->o = o;
	r->sfd = r->pty_master = r->pty_slave = r->core_out = -1;
	r->core_pid = r->gw_pid = -1;
	if (mkdir(o->dir, 0777) != 0 && errno != EEXIST) {
		logf_("%s: %s", o->dir, strerror(errno));
		free(r);
		return EX_CANTCREAT;
	}
	if (!realpath(o->dir, r->dir)) {
		logf_("%s: %s", o->dir, strerror(errno));
		free(r);
		return EX_CANTCREAT;
	}
	char sub[PATH_CAP + 64];
	/* one run per directory: two would start two cores on one store */
	snprintf(sub, sizeof sub, "%s/lock", r->dir);
	int lock_fd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		logf_("%s: %s", sub, lock_fd < 0 ? strerror(errno) : "another scentrack sim run uses this directory");
		if (lock_fd >= 0)
			close(lock_fd);
		free(r);
		return EX_TEMPFAIL;
	}
	const char *subs[] = {"keys", "collars", "logs"};
	for (int i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "%s/%s", r->dir, subs[i]);
		if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
			logf_("%s: %s", sub, strerror(errno));
			free(r);
			return EX_CANTCREAT;
		}
	}
	struct an_sim_scenario *sc = malloc(sizeof *sc);
	if (!sc) {
		free(r);
		return EX_SOFTWARE;
	}
	an_sim_scenario_defaults(sc);
	if ((rc = an_sim_scenario_load(sc, o->scenario, err, sizeof err)) < 0) {
		logf_("%s", err);
		free(sc);
		free(r);
		return rc == -EINVAL ? EX_DATAERR : EX_NOINPUT;
	}
	rc = an_sim_world_build(&r->w, sc, o->seed, err, sizeof err);
	free(sc);
	if (rc < 0) {
		logf_("%s: %s", o->scenario, err);
		free(r);
		return EX_DATAERR;
	}
	if (check_run_ini(r) < 0 || find_bins(r) < 0) {
		ex = EX_USAGE;
		goto free_world;
	}
	r->n = r->w.n_animals;
	r->c = calloc(r->n, sizeof *r->c);
	if (!r->c)
		goto free_world;
	struct an_sim_rng prng;
	an_sim_rng_init(&prng, o->seed, 0x5000u);
	int64_t first_on = INT64_MAX;
	for (uint32_t i = 0; i < r->n; i++) {
		struct collar *c = &r->c[i];
		c->a = i;
		c->id = (uint16_t)(i + 1);
		c->name = r->w.animals[i].p.name;
		c->pid = -1;
		c->gnss_fd = c->motion_fd = c->radio_fd = c->out_fd = -1;
		c->phase_us = (int64_t)(an_sim_rng_unit(&prng) * 900000.0);
		if ((rc = an_sim_nmea_collar(&r->w, i, nmea_sink, c)) < 0 ||
		    (rc = an_sim_motion_collar(&r->w, i, accel_sink, NULL, c)) < 0 ||
		    (rc = an_sim_button_edges(&r->w, i, button_sink, c)) < 0) {
			logf_("generating the streams of %s: %s", c->name, strerror(-rc));
			goto free_collars;
		}
		if (r->w.animals[i].on_utc_ms < first_on)
			first_on = r->w.animals[i].on_utc_ms;
		if (r->w.animals[i].off_utc_ms + 1000 > r->S_end)
			r->S_end = r->w.animals[i].off_utc_ms + 1000;
	}
	r->S0 = first_on - 1000;
	state_load(r);
	r->S = r->S0;
	r->M_us = r->S * 1000;
	struct an_sim_radio_cfg rcfg;
	scentrack_sim_radio_defaults(&rcfg, o->seed);
	if ((rc = an_sim_radio_init(&r->radio, &rcfg)) < 0)
		goto free_collars;
	an_sim_rng_init(&r->access_rng, o->seed, 0x5001u);
	/* one 10-minute outage (the gateway's mast is moved) 3 h into the day: the journals must carry it */
	if ((rc = an_sim_radio_outage(&r->radio, (first_on + 3 * 3600000) * 1000, (first_on + 3 * 3600000 + 600000) * 1000)) < 0)
		goto free_collars;

	if (r->day_done) {
		printf("the field day in %s is complete (delete the directory to run it again); its summary:\n", r->dir);
		char p[PATH_CAP + 64];
		snprintf(p, sizeof p, "%s/summary.txt", r->dir);
		FILE *f = fopen(p, "re");
		if (f) {
			char line[512];
			while (fgets(line, sizeof line, f))
				fputs(line, stdout);
			fclose(f);
		}
		ex = 0;
		if (w_out_or_null) {
			*w_out_or_null = r->w;
			memset(&r->w, 0, sizeof r->w);
		}
		goto free_collars;
	}

	/* signals: one signalfd in the loop; children get the default mask back */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigset_t orig;
	sigprocmask(SIG_BLOCK, &mask, &orig);
	signal(SIGPIPE, SIG_IGN);
	r->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sfd < 0)
		goto restore_signals;

	char path[PATH_CAP + 64];
	snprintf(path, sizeof path, "%s/core.sqlite", r->dir);
	bool fresh = !exists(path);
	if ((rc = setup_keys(r)) < 0) {
		logf_("keys: %s", strerror(-rc));
		goto restore_signals;
	}
	if (fresh && setup_store(r, path) < 0)
		goto restore_signals;
	if ((rc = open_pty(r)) < 0) {
		logf_("pty: %s", strerror(-rc));
		goto restore_signals;
	}
	if (o->serial_shim && serial_rig(r) < 0) {
		ex = EX_NOPERM;
		goto restore_signals;
	}
	snprintf(r->ep_ingest, sizeof r->ep_ingest, "tcp://127.0.0.1:1"); /* placeholder until READY */
	if (write_configs(r) < 0 || start_core(r) < 0 || write_configs(r) < 0 || start_gateway(r) < 0) {
		ex = EX_UNAVAILABLE;
		goto stop_all;
	}
	if (o->frame_log && (rc = sim_framelog_open(o->frame_log, &r->fl)) < 0) {
		logf_("--frame-log %s: %s", o->frame_log, strerror(-rc));
		goto stop_all;
	}
	r->real0 = mono_ms();
	printf("field day %s (seed %" PRIu64 "): %" PRIu32 " animals, %" PRIu32 " boxes, %" PRIu32 " passes; data in %s\n",
	       r->w.sc.name, r->w.seed, r->n, r->w.n_boxes, r->w.n_passes, r->dir);
	printf("  core: ingest %s, live updates %s, snapshots %s (logs in %s/logs)\n", r->ep_ingest, r->ep_pub, r->ep_snap,
	       r->dir);
	if (o->serial_shim)
		printf("  gateway: radio link on %s = %s in this run's mount namespace (serial link kind: libserialport), "
		       "spool %s/spool.sqlite\n", SERIAL_DEV, r->pty_path, r->dir);
	else
		printf("  gateway: radio link on %s (tty link kind), spool %s/spool.sqlite\n", r->pty_path, r->dir);
	if (r->o->web)
		printf("  web map: http://%s/  (write token: %s/keys/web.token)\n", r->o->web, r->dir);
	else if (core_ini_has_web(r))
		printf("  web map: the [web] listen address in %s/core.ini\n", r->dir);
	{
		char self[PATH_CAP];
		ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
		self[sn > 0 ? sn : 0] = 0;
		printf("  while it runs: %s report hazards --db %s/core.sqlite   (and: report accuracy, export --help)\n",
		       self, r->dir);
	}
	printf("  %s; Ctrl-C stops everything, running again resumes\n",
	       o->fast ? "simulated time (--fast)" : "live: one second of field day per second");
	fflush(stdout);
	rc = o->fast ? loop_sync(r) : loop(r);
	ex = rc < 0 ? EX_SOFTWARE : 0;
	/* the day is over and the core holds every record: the recorder hands in the sheet */
	if (rc >= 0 && r->day_done && !r->stop_req && r->w.n_rec && r->core_pid > 0 && deliver_recorder(r) < 0)
		ex = EX_SOFTWARE;
	if (r->stop_req)
		fprintf(stderr, "scentrack sim: signal %d: stopping the collars, the gateway and the core\n", r->stop_sig);
stop_all:
	r->stop_req = true;
	stop_collars(r);
	uint32_t nh = 0, nh2 = 0, nhp = 0;
	bool have_h = false;
	if (r->core_pid > 0 && r->ep_snap[0])
		have_h = fetch_hazards(r, &nh, &nh2, &nhp) == 0;
	stop_one(r, &r->gw_pid);
	stop_one(r, &r->core_pid);
	if (r->S > r->S0 || r->day_done) {
		(void)state_save(r);
		double wall = (double)(mono_ms() - r->real0) / 1000.0;
		print_summary(r, stdout, wall, nh, nh2, nhp, have_h);
		char p[PATH_CAP + 64];
		snprintf(p, sizeof p, "%s/summary.txt", r->dir);
		FILE *f = fopen(p, "we");
		if (f) {
			print_summary(r, f, wall, nh, nh2, nhp, have_h);
			fclose(f);
		}
		char self[PATH_CAP];
		ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
		self[sn > 0 ? sn : 0] = 0;
		printf("look at it:\n  %s report hazards --db %s/core.sqlite\n", self, r->dir);
		printf("  %s report accuracy --db %s/core.sqlite\n", self, r->dir);
		printf("  %s export --format geojson --db %s/core.sqlite -o %s/field-day.geojson\n", self, r->dir, r->dir);
		printf("  %s sim %s --seed %" PRIu64 " --evaluate --data %s\n", self, o->scenario, o->seed, r->dir);
	}
	if (w_out_or_null && ex == 0) {
		*w_out_or_null = r->w;
		memset(&r->w, 0, sizeof r->w);
	}
	sim_framelog_close(r->fl);
	r->fl = NULL;
restore_signals:
	if (r->sfd >= 0)
		close(r->sfd);
	sigprocmask(SIG_SETMASK, &orig, NULL);
	close_fd(&r->pty_master);
	close_fd(&r->pty_slave);
	close_fd(&r->core_out);
free_collars:
	for (uint32_t i = 0; r->c && i < r->n; i++) {
		struct collar *c = &r->c[i];
		free(c->nmea);
		free(c->ep_utc);
		free(c->ep_off);
		free(c->acc);
		free(c->btn_t);
		free(c->btn_l);
		free(c->gq.buf);
		free(c->mq.buf);
		free(c->rq.buf);
		free(c->txt);
		for (size_t j = 0; j < c->n_raw; j++)
			free(c->raw[j].data);
		free(c->raw);
		close_fd(&c->gnss_fd);
		close_fd(&c->motion_fd);
		close_fd(&c->radio_fd);
		close_fd(&c->out_fd);
	}
	for (size_t i = 0; i < r->n_pl; i++)
		free(r->pl[i].data);
	free(r->pl);
	for (size_t i = 0; i < r->n_pend; i++)
		free(r->pend[i].p.data);
	free(r->pend);
	for (size_t i = 0; i < r->n_gw_raw; i++)
		free(r->gw_raw[i].data);
	free(r->gw_raw);
	free(r->ptyq.buf);
	free(r->c);
free_world:
	an_sim_world_free(&r->w);
	free(r);
	close(lock_fd);
	return ex;
}
