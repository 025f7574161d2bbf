/*
 * tests/gateway/up_testgw.c — a tiny gateway for the process tests and the benchmark: the real upstream
 * (gw/upstream.h) fed by a generated source (up_gen.h) whose acked mark persists in a state file, so a
 * SIGKILLed gateway restarts where the spool would (write temp + fsync + rename: the mark is old or new,
 * never torn).
 *
 *   gw_up_testgw keygen PUB SEC
 *   gw_up_testgw run --endpoint EP --gw-id N --server-key FILE --secret FILE --batches N
 *                    [--per 64] [--state FILE] [--rate BATCHES_PER_S] [--exit-when-done]
 *
 * stdout (line-buffered, for the driver): "READY acked=<n>", "ACK <gw_seq>" when the cumulative ack
 * advances, "EVENT <name> <count>" when a monitor counter moves (connected, disconnected, auth_failure,
 * handshake_failure, reconnect, nack), "DONE <stats>" when every batch is acked, "STATS <stats>" on SIGTERM,
 * and "BENCH ..." (records/s, latency from availability to ack) when done.
 * --rate paces the source: batch k becomes available at start + (k-1)/rate s (0 = all at once).
 */
#define _GNU_SOURCE /* clock_gettime, sigaction, fsync */
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
#include "up_gen.h"

struct gen {
	uint16_t gw_id;
	unsigned per;
	uint64_t batches;
	uint64_t acked;
	const char *state;
	double rate;
	uint64_t t0_ms;
	uint64_t *first_send_ms; /* per batch, for latency */
	uint64_t *lat_ms;
	uint64_t n_lat;
	struct proto_batch b;
	uint8_t raw[PROTO_BATCH_RECS_MAX][UPGEN_RAW_LEN];
};

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t avail_at_ms(const struct gen *g, uint64_t seq)
{
	return g->rate > 0 ? g->t0_ms + (uint64_t)((double)(seq - 1) * 1000.0 / g->rate) : g->t0_ms;
}

static uint64_t available(const struct gen *g, uint64_t now)
{
	if (g->rate <= 0)
		return g->batches;
	uint64_t n = (uint64_t)((double)(now - g->t0_ms) * g->rate / 1000.0) + 1;
	return n < g->batches ? n : g->batches;
}

static int gen_batch(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	struct gen *g = ctx;
	if (after < g->acked)
		after = g->acked;
	if (after >= available(g, mono_ms()))
		return 0;
	*gw_seq = after + 1;
	if (!g->first_send_ms[after])
		g->first_send_ms[after] = mono_ms();
	return upgen_batch(&g->b, g->raw, g->gw_id, after + 1, g->per, body, cap, len) == 0 ? 1 : -EIO;
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
	uint64_t now = mono_ms();
	for (uint64_t k = g->acked + 1; k <= s && k <= g->batches; k++) {
		uint64_t from = g->rate > 0 ? avail_at_ms(g, k) : g->first_send_ms[k - 1];
		if (from && g->first_send_ms[k - 1])
			g->lat_ms[g->n_lat++] = now - from;
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_stats(const char *tag, const struct gw_up_stats *st, uint32_t max_in_flight)
{
	printf("%s acked=%" PRIu64 " sent=%" PRIu64 " resent=%" PRIu64 " acks=%" PRIu64 " nacks=%" PRIu64
	       " rewinds=%" PRIu64 " reconnects=%" PRIu64 " handshakes=%" PRIu64 " disconnects=%" PRIu64
	       " auth_failures=%" PRIu64 " handshake_failures=%" PRIu64 " max_in_flight=%" PRIu32 " credit=%" PRIu32
	       " bad_msgs=%" PRIu64 "\n",
	       tag, st->acked_seq, st->batches_sent, st->batches_resent, st->acks, st->nacks, st->rewinds,
	       st->reconnects, st->handshakes, st->disconnects, st->auth_failures, st->handshake_failures,
	       max_in_flight, st->credit, st->bad_msgs);
}

static int usage(void)
{
	fprintf(stderr, "usage: gw_up_testgw keygen PUB SEC\n"
	                "       gw_up_testgw run --endpoint EP --gw-id N --server-key FILE --secret FILE --batches N\n"
	                "                        [--per 64] [--state FILE] [--rate B/S] [--exit-when-done]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "keygen") == 0) {
		int rc = gw_up_keygen_files(argv[2], argv[3]);
		if (rc)
			fprintf(stderr, "keygen: %s\n", strerror(-rc));
		return rc ? 1 : 0;
	}
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return usage();
	const char *ep = NULL, *server_key = NULL, *secret = NULL, *state = NULL;
	unsigned long gw_id = 0, per = 64;
	uint64_t batches = 0;
	double rate = 0;
	int exit_when_done = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--exit-when-done")) {
			exit_when_done = 1;
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
		else return usage();
	}
	if (!ep || !server_key || !secret || !batches || gw_id < 1 || gw_id > 65535 || per < 1 ||
	    per > PROTO_BATCH_RECS_MAX)
		return usage();

	struct gw_up_config cfg = {.gw_id = (uint16_t)gw_id, .endpoint = ep};
	char err[512];
	if (gw_up_key_read(server_key, cfg.server_public, err, sizeof err) ||
	    gw_up_key_read(secret, cfg.secret, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct gen *g = calloc(1, sizeof *g);
	g->first_send_ms = calloc(batches, sizeof *g->first_send_ms);
	g->lat_ms = calloc(batches, sizeof *g->lat_ms);
	if (!g || !g->first_send_ms || !g->lat_ms)
		return 1;
	g->gw_id = (uint16_t)gw_id;
	g->per = (unsigned)per;
	g->batches = batches;
	g->state = state;
	g->rate = rate;
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
	int rc = gw_up_open(&up, &cfg, &src, mono_ms());
	if (rc) {
		fprintf(stderr, "gw_up_open: %s\n", strerror(-rc));
		return 1;
	}
	printf("READY acked=%" PRIu64 "\n", g->acked);
	struct gw_up_stats st, prev = {0};
	uint32_t max_in_flight = 0;
	uint64_t last_acked = g->acked, t_done = 0;
	while (!g_stop) {
		uint64_t now = mono_ms();
		if (gw_up_service(up, now)) {
			fprintf(stderr, "gw_up_service failed: %s\n", gw_up_last_error(up));
			return 1;
		}
		gw_up_stats(up, &st);
		if (st.in_flight > max_in_flight)
			max_in_flight = st.in_flight;
#define EV(field, name)                                                                                      \
	if (st.field != prev.field)                                                                          \
		printf("EVENT " name " %" PRIu64 "\n", st.field);
		EV(handshakes, "connected") EV(disconnects, "disconnected") EV(auth_failures, "auth_failure")
		EV(handshake_failures, "handshake_failure") EV(reconnects, "reconnect") EV(nacks, "nack")
#undef EV
		prev = st;
		if (st.acked_seq != last_acked) {
			last_acked = st.acked_seq;
			printf("ACK %" PRIu64 "\n", last_acked);
		}
		if (!t_done && st.acked_seq >= batches) {
			t_done = mono_ms();
			print_stats("DONE", &st, max_in_flight);
			qsort(g->lat_ms, g->n_lat, sizeof g->lat_ms[0], cmp_u64);
			if (g->n_lat) {
				double secs = (double)(t_done - g->t0_ms) / 1000.0;
				printf("BENCH batches=%" PRIu64 " records=%" PRIu64 " secs=%.3f rec_per_s=%.0f lat_n=%" PRIu64
				       " lat_p50_ms=%" PRIu64 " lat_p99_ms=%" PRIu64 " lat_max_ms=%" PRIu64 "\n",
				       g->n_lat, g->n_lat * per, secs, secs > 0 ? (double)(g->n_lat * per) / secs : 0.0,
				       g->n_lat, g->lat_ms[g->n_lat / 2], g->lat_ms[(g->n_lat * 99) / 100],
				       g->lat_ms[g->n_lat - 1]);
			}
			if (exit_when_done)
				break;
		}
		zmq_pollitem_t it[GW_UP_POLLITEMS];
		size_t n = gw_up_pollitems(up, it, GW_UP_POLLITEMS);
		uint64_t dl = gw_up_next_deadline(up);
		if (rate > 0 && g->acked < batches) {
			uint64_t na = avail_at_ms(g, available(g, now) + 1);
			if (na < dl)
				dl = na;
		}
		now = mono_ms();
		long timeout = dl > now ? (long)(dl - now) : 0;
		zmq_poll(it, (int)n, timeout);
	}
	gw_up_stats(up, &st);
	print_stats("STATS", &st, max_in_flight);
	gw_up_close(up);
	free(g->first_send_ms);
	free(g->lat_ms);
	free(g);
	return 0;
}
