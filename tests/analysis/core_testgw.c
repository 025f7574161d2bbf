/*
 * tests/analysis/core_testgw.c — a gateway for scentrack-core's process test and latency benchmark: the
 * real upstream (gw/upstream.h) fed by a deterministic generator of FIX *and* IND records (the upstream's
 * own tests/gateway/up_testgw.c sends only fixes, and the core's hazard path needs indications), with the
 * acked mark in a state file so a restarted gateway resumes where a spool would.
 *
 *   an_core_testgw run --endpoint EP --gw-id N --server-key FILE --secret FILE --batches N [--per 64]
 *                      [--state FILE] [--rate BATCHES_PER_S] [--exit-when-done] [--shuffle SEED] [--t0-now]
 *
 * --shuffle SEED (≠ 0) sends the same records in another order: slot k of the run (batch k / per, place
 * k % per) carries record perm[k] of a seeded Fisher–Yates permutation of all batches × per records, so each
 * collar's rec_seqs arrive out of order and mixed across batches (the determinism test's input).
 *
 * Record g (0-based over the run): collar 1 + g % 8, rec_seq g / 8 (as tests/gateway/up_gen.h). Every 16th
 * record of a collar (rec_seq % 16 == 15) is an indication at site (rec_seq / 16) % CTG_SITES: the sites are
 * 50 m apart, each collar's indications lie within 0.4 m of the site, so every site becomes ONE hazard point
 * indicated by all 8 collars. Other records are fixes (h_acc 1.5–2.4 m: not usable for coverage).
 *
 * --t0-now stamps record g at (wall clock at start) + g * 125 ms instead of the fixed 2023 epoch, so a live
 * view (the web map's browser test) sees fresh fixes; at --per 8 --rate 1 record time keeps pace with the clock.
 *
 * --status-collar C [--status-batt PCT] [--status-temp DECI_C] adds one collar STATUS record of collar C to
 * every batch (battery 15 %, 34.5 °C by default: the web's battery and heat alerts); --mute-fix-collar C
 * leaves collar C's fixes out (its indications and STATUS still arrive: the web's GPS-lost alert);
 * --reject-collar C has collar C's indications carry the handler's rejection (IND key VERDICT, as the collar
 * sends it after a long press).
 *
 * stdout (line-buffered): "READY acked=<n>", "SENT <gw_seq> <CLOCK_MONOTONIC ns>" the first time a batch is
 * handed to the upstream (the latency origin), "ACK <gw_seq>", "DONE <stats>", "STATS <stats>" on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw/upstream.h"
#include "proto/msg.h"

#define CTG_COLLARS 8u
#define CTG_IND_EVERY 16u
#define CTG_SITES 5u
#define CTG_T0_MS 1700000000000ull
#define CTG_LAT0 (-259000000)
#define CTG_LON0 327000000

struct gen {
	uint16_t gw_id;
	unsigned per;
	uint64_t batches, acked;
	const char *state;
	double rate;
	uint64_t t0_ms;
	uint8_t *sent; /* per batch: SENT printed */
	uint64_t *perm; /* slot -> record (NULL = identity) */
	struct proto_batch b;
};

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	return mono_ns() / 1000000u;
}

static uint64_t available(const struct gen *g, uint64_t now)
{
	if (g->rate <= 0)
		return g->batches;
	uint64_t n = (uint64_t)((double)(now - g->t0_ms) * g->rate / 1000.0) + 1;
	return n < g->batches ? n : g->batches;
}

static uint64_t g_t0_ms = CTG_T0_MS; /* --t0-now: the wall clock at start */
static unsigned long g_status_collar, g_mute_collar, g_reject_collar, g_status_batt = 15;
static long g_status_temp = 345;

static void gen_record(uint64_t g, struct proto_batch_rec *r)
{
	memset(r, 0, sizeof *r);
	r->collar_id = (uint16_t)(1u + g % CTG_COLLARS);
	r->rec_seq = (uint32_t)(g / CTG_COLLARS);
	r->has = PROTO_REC_HAS_SEQ | PROTO_REC_HAS_RSSI;
	r->rx_ms = g_t0_ms + g * 125u + 40u;
	r->rssi_dbm = (int16_t)(-60 - (int)(g % 40));
	if (r->rec_seq % CTG_IND_EVERY == CTG_IND_EVERY - 1) {
		unsigned site = (r->rec_seq / CTG_IND_EVERY) % CTG_SITES;
		struct proto_ind *in = &r->m.ind;
		r->type = PROTO_T_IND;
		in->has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_HACC | PROTO_IND_HAS_CONF;
		in->rec_seq = r->rec_seq;
		in->t_ms = g_t0_ms + g * 125u;
		in->kind = PROTO_IND_SIT;
		in->src = PROTO_SRC_CLASSIFIER;
		in->conf_pct = 90;
		/* 1e-7 deg of latitude is 11 mm: sites 4500 units = 50 m apart, collars within 36 units = 0.4 m */
		in->lat_e7 = CTG_LAT0 + (int32_t)(site * 4500u) + (int32_t)(r->collar_id * 4u);
		in->lon_e7 = CTG_LON0 + (int32_t)((r->rec_seq / CTG_IND_EVERY) % 3u);
		in->h_acc_mm = 500;
		if (g_reject_collar && r->collar_id == g_reject_collar) {
			in->has |= PROTO_IND_HAS_VERDICT;
			in->verdict = PROTO_VERDICT_REJECTED;
		}
	} else {
		struct proto_fix *f = &r->m.fix;
		r->type = PROTO_T_FIX;
		f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q;
		f->rec_seq = r->rec_seq;
		f->t_ms = g_t0_ms + g * 125u;
		f->lat_e7 = CTG_LAT0 + (int32_t)(g % 100000u) * 3;
		f->lon_e7 = CTG_LON0 + (int32_t)(g % 77777u) * 5;
		f->hdop_c = (uint16_t)(80u + g % 50u);
		f->h_acc_mm = (uint32_t)(1500u + g % 900u);
		f->gga_q = 1;
	}
}

static int gen_batch(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	struct gen *g = ctx;
	if (after < g->acked)
		after = g->acked;
	if (after >= available(g, mono_ms()))
		return 0;
	uint64_t seq = after + 1;
	*gw_seq = seq;
	memset(&g->b, 0, sizeof g->b);
	g->b.gw_id = g->gw_id;
	g->b.gw_seq = seq;
	unsigned n = 0;
	for (unsigned i = 0; i < g->per; i++)
	{
		uint64_t k = (seq - 1) * g->per + i;
		gen_record(g->perm ? g->perm[k] : k, &g->b.rec[n]);
		if (!(g_mute_collar && g->b.rec[n].collar_id == g_mute_collar && g->b.rec[n].type == PROTO_T_FIX))
			n++;
	}
	if (g_status_collar && n < PROTO_BATCH_RECS_MAX) {
		struct proto_batch_rec *r = &g->b.rec[n++];
		memset(r, 0, sizeof *r);
		r->collar_id = (uint16_t)g_status_collar;
		r->type = PROTO_T_STATUS;
		r->rx_ms = g_t0_ms + seq * 1000u;
		r->m.status.has = PROTO_STATUS_HAS_BATTPCT | PROTO_STATUS_HAS_TEMP;
		r->m.status.batt_pct = (uint8_t)g_status_batt;
		r->m.status.temp_dc = (int16_t)g_status_temp;
		r->m.status.tx_frames = (uint32_t)seq;
		r->m.status.acks = (uint32_t)seq;
	}
	g->b.n = (uint8_t)n;
	int rc = proto_batch_encode(&g->b, body, cap, len);
	if (rc)
		return -EIO;
	if (!g->sent[seq - 1]) {
		g->sent[seq - 1] = 1;
		printf("SENT %" PRIu64 " %" PRIu64 "\n", seq, mono_ns());
	}
	return 1;
}

static int state_write(const char *path, uint64_t v)
{
	char tmp[4096], line[32];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int n = snprintf(line, sizeof line, "%" PRIu64 "\n", v);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return rename(tmp, path) == 0 ? 0 : -errno;
}

static int gen_acked(void *ctx, uint64_t s)
{
	struct gen *g = ctx;
	if (g->state) {
		int rc = state_write(g->state, s);
		if (rc)
			return rc;
	}
	g->acked = s;
	return 0;
}

static int gen_acked_seq(void *ctx, uint64_t *s)
{
	*s = ((struct gen *)ctx)->acked;
	return 0;
}

static int gen_pending(void *ctx, uint64_t after, uint64_t *n)
{
	struct gen *g = ctx;
	uint64_t a = available(g, mono_ms());
	*n = a > after ? a - after : 0;
	return 0;
}

static void print_stats(const char *tag, const struct gw_up_stats *st)
{
	printf("%s acked=%" PRIu64 " sent=%" PRIu64 " resent=%" PRIu64 " nacks=%" PRIu64 " handshakes=%" PRIu64
	       " disconnects=%" PRIu64 "\n",
	       tag, st->acked_seq, st->batches_sent, st->batches_resent, st->nacks, st->handshakes, st->disconnects);
}

static int usage(void)
{
	fprintf(stderr, "usage: an_core_testgw run --endpoint EP --gw-id N --server-key FILE --secret FILE --batches N\n"
	                "                          [--per 64] [--state FILE] [--rate B/S] [--exit-when-done] [--shuffle SEED] [--t0-now]\n"
	                "                          [--status-collar C [--status-batt PCT] [--status-temp DECI_C]] [--mute-fix-collar C]\n"
	                "                          [--reject-collar C]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return usage();
	const char *ep = NULL, *server_key = NULL, *secret = NULL, *state = NULL;
	unsigned long gw_id = 0, per = 64;
	uint64_t batches = 0, shuffle = 0;
	double rate = 0;
	int exit_when_done = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--exit-when-done")) {
			exit_when_done = 1;
			continue;
		}
		if (!strcmp(a, "--t0-now")) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			g_t0_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--endpoint")) ep = v;
		else if (!strcmp(a, "--gw-id")) gw_id = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--server-key")) server_key = v;
		else if (!strcmp(a, "--secret")) secret = v;
		else if (!strcmp(a, "--state")) state = v;
		else if (!strcmp(a, "--batches")) batches = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--per")) per = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--rate")) rate = strtod(v, NULL);
		else if (!strcmp(a, "--shuffle")) shuffle = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--status-collar")) g_status_collar = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--status-batt")) g_status_batt = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--status-temp")) g_status_temp = strtol(v, NULL, 10);
		else if (!strcmp(a, "--mute-fix-collar")) g_mute_collar = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--reject-collar")) g_reject_collar = strtoul(v, NULL, 10);
		else return usage();
	}
	if (!ep || !server_key || !secret || !batches || gw_id < 1 || gw_id > 65535 || per < 1 ||
	    per > PROTO_BATCH_RECS_MAX - (g_status_collar ? 1 : 0) || g_status_collar > 65535 || g_status_batt > 100 ||
	    g_status_temp < -550 || g_status_temp > 1250)
		return usage();
	struct gw_up_config cfg = {.gw_id = (uint16_t)gw_id, .endpoint = ep, .backoff_min_ms = 100,
	                           .backoff_max_ms = 1000};
	char err[512];
	if (gw_up_key_read(server_key, cfg.server_public, err, sizeof err) ||
	    gw_up_key_read(secret, cfg.secret, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct gen *g = calloc(1, sizeof *g);
	if (!g || !(g->sent = calloc(batches, 1)))
		return 1;
	g->gw_id = (uint16_t)gw_id;
	g->per = (unsigned)per;
	g->batches = batches;
	g->state = state;
	g->rate = rate;
	if (shuffle) {
		uint64_t n = batches * per, x = shuffle;
		if (!(g->perm = malloc(n * sizeof *g->perm)))
			return 1;
		for (uint64_t k = 0; k < n; k++)
			g->perm[k] = k;
		for (uint64_t k = n; k > 1; k--) { /* splitmix64 */
			uint64_t z = (x += 0x9e3779b97f4a7c15ull);
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
			z ^= z >> 31;
			uint64_t j = z % k, t = g->perm[k - 1];
			g->perm[k - 1] = g->perm[j];
			g->perm[j] = t;
		}
	}
	if (state) {
		FILE *f = fopen(state, "r");
		if (f) {
			if (fscanf(f, "%" SCNu64, &g->acked) != 1)
				g->acked = 0;
			fclose(f);
		}
	}
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g->t0_ms = mono_ms();
	struct gw_up_source src = {g, gen_batch, gen_acked, gen_acked_seq, gen_pending};
	struct gw_up *up;
	if (gw_up_open(&up, &cfg, &src, mono_ms())) {
		fprintf(stderr, "gw_up_open failed\n");
		return 1;
	}
	printf("READY acked=%" PRIu64 "\n", g->acked);
	struct gw_up_stats st;
	uint64_t last_acked = g->acked;
	int done = 0;
	while (!g_stop) {
		uint64_t now = mono_ms();
		if (gw_up_service(up, now)) {
			fprintf(stderr, "gw_up_service failed: %s\n", gw_up_last_error(up));
			return 1;
		}
		gw_up_stats(up, &st);
		if (st.acked_seq != last_acked) {
			last_acked = st.acked_seq;
			printf("ACK %" PRIu64 "\n", last_acked);
		}
		if (!done && st.acked_seq >= batches) {
			done = 1;
			print_stats("DONE", &st);
			if (exit_when_done)
				break;
		}
		zmq_pollitem_t it[GW_UP_POLLITEMS];
		size_t n = gw_up_pollitems(up, it, GW_UP_POLLITEMS);
		uint64_t dl = gw_up_next_deadline(up);
		if (rate > 0 && g->acked < batches) {
			uint64_t na = g->t0_ms + (uint64_t)((double)available(g, now) * 1000.0 / rate);
			if (na < dl)
				dl = na;
		}
		now = mono_ms();
		zmq_poll(it, (int)n, dl > now ? (long)(dl - now) : 0);
	}
	gw_up_stats(up, &st);
	print_stats("STATS", &st);
	gw_up_close(up);
	free(g->sent);
	free(g->perm);
	free(g);
	return 0;
}
