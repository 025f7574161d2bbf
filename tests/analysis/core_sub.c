/*
 * tests/analysis/core_sub.c — a live-output subscriber for scentrack-core's process test: one Clone client
 * (an/pub.h) per stream fix, ind, hazard, status, all in one zmq_poll with stdin.
 *
 *   an_core_sub PUB_ENDPOINT SNAPSHOT_ENDPOINT
 *
 * stdout (line-buffered):
 *   "READY"                                   every stream has its first snapshot
 *   "U f|i <collar> <rec_seq> <mono ns>"      an applied fix / indication update (CLOCK_MONOTONIC at receipt)
 *   "H <id> <status> <n_ind> <n_animals>"     an applied hazard update
 *   "EPOCH <stream> <hex>"                    the stream's epoch changed (a core restart), after the resync
 * stdin "DUMP" → the current state of every stream, then "END":
 *   "K fix <collar> <rec_seq>", "K ind <collar> <rec_seq>", "K hazard <id> <status> <n_ind> <n_animals> <task>",
 *   "K status <gw_id>", then "C <stream> <applied> <holes> <epoch_changes> <snapshots> <hugz_ahead> <stale>"
 * Exits 0 at EOF on stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "an/pub.h"
#include "proto/msg.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_update(void *ctx, const char *topic, uint64_t seq, const uint8_t *body, size_t len)
{
	uint64_t t = mono_ns();
	(void)ctx;
	(void)seq;
	unsigned id = (unsigned)strtoul(strchr(topic, '/') + 1, NULL, 10);
	if (!strncmp(topic, "fix/", 4)) {
		struct proto_fix f;
		if (proto_fix_decode(body, len, &f, NULL) == 0)
			printf("U f %u %" PRIu32 " %" PRIu64 "\n", id, f.rec_seq, t);
	} else if (!strncmp(topic, "ind/", 4)) {
		struct proto_ind in;
		if (proto_ind_decode(body, len, &in, NULL) == 0)
			printf("U i %u %" PRIu32 " %" PRIu64 "\n", id, in.rec_seq, t);
	} else if (!strncmp(topic, "hazard/", 7)) {
		struct an_pub_hazard h;
		if (an_pub_hazard_decode(body, len, &h) == 0)
			printf("H %" PRIu64 " %u %" PRIu32 " %" PRIu32 "\n", h.id, h.status, h.n_ind, h.n_animals);
	}
}

static void dump(struct an_pub_client **c)
{
	for (int s = 0; s < AN_PUB_STREAMS; s++) {
		const char *name = an_pub_stream_name((enum an_pub_stream)s);
		for (size_t i = 0; i < an_pub_client_count(c[s]); i++) {
			uint64_t key;
			const char *topic;
			const uint8_t *body;
			size_t len;
			if (an_pub_client_get(c[s], i, &key, &topic, &body, &len))
				break;
			if (s == AN_PUB_FIX) {
				struct proto_fix f;
				if (proto_fix_decode(body, len, &f, NULL) == 0)
					printf("K fix %" PRIu64 " %" PRIu32 "\n", key, f.rec_seq);
			} else if (s == AN_PUB_IND) {
				printf("K ind %" PRIu64 " %" PRIu64 "\n", key >> 32, key & 0xffffffffu);
			} else if (s == AN_PUB_HAZARD) {
				struct an_pub_hazard h;
				if (an_pub_hazard_decode(body, len, &h) == 0)
					printf("K hazard %" PRIu64 " %u %" PRIu32 " %" PRIu32 " %" PRIu64 "\n", h.id, h.status,
					       h.n_ind, h.n_animals, h.task_id);
			} else {
				printf("K status %" PRIu64 "\n", key);
			}
		}
		struct an_pub_client_stats st;
		an_pub_client_stats(c[s], &st);
		printf("C %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", name, st.applied,
		       st.holes, st.epoch_changes, st.snapshots, st.hugz_ahead, st.stale);
	}
	printf("END\n");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: an_core_sub PUB_ENDPOINT SNAPSHOT_ENDPOINT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	void *zctx = zmq_ctx_new();
	struct an_pub_client *c[AN_PUB_STREAMS];
	uint64_t epoch[AN_PUB_STREAMS];
	for (int s = 0; s < AN_PUB_STREAMS; s++) {
		int rc = an_pub_client_open(zctx, argv[1], argv[2], (enum an_pub_stream)s, &c[s]);
		if (!rc)
			rc = an_pub_client_sync(c[s], 30000);
		if (rc) {
			fprintf(stderr, "an_core_sub: %s: %s\n", an_pub_stream_name((enum an_pub_stream)s), strerror(-rc));
			return 1;
		}
		epoch[s] = an_pub_client_epoch(c[s]);
	}
	printf("READY\n");
	fflush(stdout);
	char line[64];
	size_t ll = 0;
	for (;;) {
		zmq_pollitem_t it[AN_PUB_STREAMS + 1];
		for (int s = 0; s < AN_PUB_STREAMS; s++)
			an_pub_client_pollitems(c[s], &it[s], 1);
		it[AN_PUB_STREAMS] = (zmq_pollitem_t){.fd = STDIN_FILENO, .events = ZMQ_POLLIN};
		if (zmq_poll(it, AN_PUB_STREAMS + 1, -1) < 0 && zmq_errno() != EINTR)
			return 1;
		for (int s = 0; s < AN_PUB_STREAMS; s++) {
			if (!(it[s].revents & ZMQ_POLLIN))
				continue;
			/* a core that is down makes a re-snapshot time out: keep going, the next message retries */
			int rc = an_pub_client_poll(c[s], 0, 2000, on_update, NULL);
			if (rc < 0 && rc != -ETIMEDOUT) {
				fprintf(stderr, "an_core_sub: poll: %s\n", strerror(-rc));
				return 1;
			}
			if (an_pub_client_epoch(c[s]) != epoch[s]) {
				epoch[s] = an_pub_client_epoch(c[s]);
				printf("EPOCH %s %016" PRIx64 "\n", an_pub_stream_name((enum an_pub_stream)s), epoch[s]);
			}
		}
		if (it[AN_PUB_STREAMS].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
			char ch;
			ssize_t n = read(STDIN_FILENO, &ch, 1);
			if (n <= 0)
				break;
			if (ch == '\n') {
				line[ll] = 0;
				ll = 0;
				if (!strcmp(line, "DUMP"))
					dump(c);
			} else if (ll < sizeof line - 1) {
				line[ll++] = ch;
			}
		}
		fflush(stdout);
	}
	for (int s = 0; s < AN_PUB_STREAMS; s++)
		an_pub_client_close(c[s]);
	zmq_ctx_term(zctx);
	return 0;
}
