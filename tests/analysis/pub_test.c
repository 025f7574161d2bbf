/*
 * tests/analysis/pub_test.c — an/pub.h: the Clone pattern on real sockets (tcp loopback, ephemeral ports).
 *
 * The server runs in its own thread (the client's snapshot request blocks until the server answers, as it
 * would against scentrack-core) and takes commands over an inproc PAIR: "P <stream> <n>" publish the next
 * n scripted updates, "R" restart with a new epoch on the same endpoints, "D <stream>" report seq and
 * digest, "Q" quit. Every wait is a zmq_poll with a deadline that fails the test.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "an/pub.h"

#define DEADLINE_MS 20000

struct srv {
	void *zctx;  /* the test's context (inproc control) */
	void *pctx;  /* the server's own: zmq_ctx_term on restart waits until its ports are really closed */
	struct an_pub *pub;
	char pub_ep[256], snap_ep[256];
	uint64_t k; /* script position */
	uint64_t epoch;
	int hwm;
	pthread_t th;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Update k of a stream: keys repeat (overwrites), hazard points come and go (status 9 removes). */
static int script(struct an_pub *p, enum an_pub_stream s, uint64_t k)
{
	switch (s) {
	case AN_PUB_FIX: {
		struct proto_fix f = {.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC, .rec_seq = (uint32_t)k,
		                      .t_ms = 1700000000000ull + k, .lat_e7 = -259000000 + (int32_t)k,
		                      .lon_e7 = 327000000 - (int32_t)k, .h_acc_mm = 1000};
		return an_pub_fix(p, (uint16_t)(1 + k % 7), &f, true);
	}
	case AN_PUB_IND: {
		struct proto_ind in = {.has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS, .rec_seq = (uint32_t)k,
		                       .t_ms = 1700000000000ull + k, .kind = PROTO_IND_SIT, .src = PROTO_SRC_BUTTON,
		                       .lat_e7 = -259000000, .lon_e7 = 327000000 + (int32_t)k};
		return an_pub_ind(p, (uint16_t)(1 + k % 5), &in, true);
	}
	case AN_PUB_HAZARD: {
		struct an_pub_hazard h = {.id = 1 + k % 13, .status = (uint8_t)(k % 4 == 3 ? 9 : 2 + k % 2),
		                          .p_ppm = (uint32_t)(k * 1000 % 1000000), .log_odds_q10 = -7000 + (int64_t)k,
		                          .n_animals = 1, .n_ind = (uint32_t)(1 + k % 3), .x_mm = (int64_t)k};
		return an_pub_hazard(p, &h, true);
	}
	default: {
		struct an_pub_gw g = {.gw_id = (uint16_t)(1 + k % 3), .last_gw_seq = k, .batches = k};
		return an_pub_gateway(p, &g, true);
	}
	}
}

static void srv_open(struct srv *s, const char *pub_ep, const char *snap_ep)
{
	s->pctx = zmq_ctx_new();
	struct an_pub_config cfg = {.pub_endpoint = pub_ep, .snap_endpoint = snap_ep, .zctx = s->pctx,
	                            .sndhwm = s->hwm, .epoch = s->epoch};
	char err[256];
	int rc = an_pub_open(&cfg, &s->pub, err, sizeof err);
	cr_assert_eq(rc, 0, "an_pub_open: %s", err);
	cr_assert_eq(an_pub_endpoints(s->pub, s->pub_ep, sizeof s->pub_ep, s->snap_ep, sizeof s->snap_ep), 0);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	void *ctl = zmq_socket(s->zctx, ZMQ_PAIR);
	zmq_connect(ctl, "inproc://ctl");
	for (;;) {
		zmq_pollitem_t it[2] = {{.socket = ctl, .events = ZMQ_POLLIN}};
		an_pub_pollitems(s->pub, &it[1], 1);
		zmq_poll(it, 2, (long)an_pub_tick(s->pub, mono_ms()));
		if (an_pub_service(s->pub, 0))
			break;
		if (!(it[0].revents & ZMQ_POLLIN))
			continue;
		char cmd[64] = "";
		int n = zmq_recv(ctl, cmd, sizeof cmd - 1, 0);
		if (n < 0)
			break;
		cmd[n] = 0;
		char reply[128] = "OK";
		unsigned st, cnt;
		if (cmd[0] == 'Q')
			break;
		if (sscanf(cmd, "P %u %u", &st, &cnt) == 2) {
			for (unsigned i = 0; i < cnt; i++) {
				if (script(s->pub, (enum an_pub_stream)st, s->k++)) {
					snprintf(reply, sizeof reply, "ERR");
					break;
				}
				/* interleave snapshot answers with updates: the race the clients must survive */
				if (an_pub_service(s->pub, 0))
					snprintf(reply, sizeof reply, "ERR");
			}
		} else if (sscanf(cmd, "D %u", &st) == 1) {
			snprintf(reply, sizeof reply, "%" PRIu64 " %" PRIu64 " %" PRIu64,
			         an_pub_seq(s->pub, (enum an_pub_stream)st), an_pub_digest(s->pub, (enum an_pub_stream)st),
			         an_pub_epoch(s->pub));
		} else if (cmd[0] == 'R') {
			char pe[256], se[256];
			strcpy(pe, s->pub_ep);
			strcpy(se, s->snap_ep);
			an_pub_close(s->pub);
			zmq_ctx_term(s->pctx);
			s->epoch++;
			srv_open(s, pe, se); /* state starts empty, as a core with an empty store would */
			s->k = 0;
		}
		zmq_send(ctl, reply, strlen(reply), 0);
	}
	zmq_close(ctl);
	return NULL;
}

static void *g_ctl;

static void srv_start(struct srv *s, void *zctx, int hwm)
{
	memset(s, 0, sizeof *s);
	s->zctx = zctx;
	s->hwm = hwm;
	s->epoch = 1000;
	srv_open(s, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
	g_ctl = zmq_socket(zctx, ZMQ_PAIR);
	cr_assert_eq(zmq_bind(g_ctl, "inproc://ctl"), 0);
	cr_assert_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void cmd(const char *c, char *reply, size_t cap)
{
	cr_assert_eq(zmq_send(g_ctl, c, strlen(c), 0), (int)strlen(c));
	zmq_pollitem_t it = {.socket = g_ctl, .events = ZMQ_POLLIN};
	cr_assert_eq(zmq_poll(&it, 1, DEADLINE_MS), 1, "server did not answer %s", c);
	int n = zmq_recv(g_ctl, reply, cap - 1, 0);
	cr_assert_gt(n, 0);
	reply[n] = 0;
}

static void srv_stop(struct srv *s)
{
	char r[128];
	zmq_send(g_ctl, "Q", 1, 0);
	pthread_join(s->th, NULL);
	(void)r;
	an_pub_close(s->pub);
	zmq_ctx_term(s->pctx);
	zmq_close(g_ctl);
}

static void server_state(enum an_pub_stream st, uint64_t *seq, uint64_t *digest, uint64_t *epoch)
{
	char c[16], r[128];
	snprintf(c, sizeof c, "D %d", (int)st);
	cmd(c, r, sizeof r);
	cr_assert_eq(sscanf(r, "%" SCNu64 " %" SCNu64 " %" SCNu64, seq, digest, epoch), 3, "reply %s", r);
}

static void publish(enum an_pub_stream st, unsigned n)
{
	char c[32], r[128];
	snprintf(c, sizeof c, "P %d %u", (int)st, n);
	cmd(c, r, sizeof r);
	cr_assert_str_eq(r, "OK");
}

/* Poll the client until it has applied up to seq in epoch (deadline = failure). */
static void catch_up(struct an_pub_client *c, uint64_t seq, uint64_t epoch)
{
	uint64_t deadline = mono_ms() + DEADLINE_MS;
	while (an_pub_client_seq(c) != seq || an_pub_client_epoch(c) != epoch) {
		cr_assert_lt(mono_ms(), deadline, "client stuck at seq %" PRIu64 " epoch %" PRIu64 ", want %" PRIu64,
		             an_pub_client_seq(c), an_pub_client_epoch(c), seq);
		int rc = an_pub_client_poll(c, 100, DEADLINE_MS, NULL, NULL);
		cr_assert_geq(rc, 0, "poll: %s", strerror(-rc));
	}
}

/* Make sure the SUB is connected and subscribed: publish until the client has seen something. */
static void warm_up(struct an_pub_client *c, enum an_pub_stream st)
{
	uint64_t deadline = mono_ms() + DEADLINE_MS;
	struct an_pub_client_stats cs;
	for (;;) {
		an_pub_client_stats(c, &cs);
		if (cs.snapshots && (cs.applied || cs.dropped_old))
			return;
		cr_assert_lt(mono_ms(), deadline, "subscriber never connected");
		publish(st, 1);
		cr_assert_geq(an_pub_client_poll(c, 20, DEADLINE_MS, NULL, NULL), 0);
	}
}

Test(pub, late_joiner_equals_early_joiner)
{
	void *zctx = zmq_ctx_new();
	struct srv s;
	srv_start(&s, zctx, 0);
	for (int st = 0; st < AN_PUB_STREAMS; st++) {
		struct an_pub_client *early, *late;
		cr_assert_eq(an_pub_client_open(zctx, s.pub_ep, s.snap_ep, (enum an_pub_stream)st, &early), 0);
		cr_assert_eq(an_pub_client_sync(early, DEADLINE_MS), 0);
		warm_up(early, (enum an_pub_stream)st);
		publish((enum an_pub_stream)st, 300);
		/* the late joiner subscribes while the server keeps publishing between its snapshot answers */
		cr_assert_eq(an_pub_client_open(zctx, s.pub_ep, s.snap_ep, (enum an_pub_stream)st, &late), 0);
		cr_assert_eq(an_pub_client_sync(late, DEADLINE_MS), 0);
		publish((enum an_pub_stream)st, 300);
		uint64_t seq, dig, ep;
		server_state((enum an_pub_stream)st, &seq, &dig, &ep);
		catch_up(early, seq, ep);
		catch_up(late, seq, ep);
		cr_assert_eq(an_pub_client_digest(early), dig, "stream %d: early joiner differs from the server", st);
		cr_assert_eq(an_pub_client_digest(late), dig, "stream %d: late joiner differs from the server", st);
		cr_assert_eq(an_pub_client_count(late), an_pub_client_count(early));
		cr_assert_gt(an_pub_client_count(late), 0);
		an_pub_client_close(early);
		an_pub_client_close(late);
	}
	srv_stop(&s);
	zmq_ctx_term(zctx);
}

/* Updates that reach the SUB between subscribe and snapshot: those <= S are dropped, the rest applied. */
Test(pub, updates_between_subscribe_and_snapshot)
{
	void *zctx = zmq_ctx_new();
	struct srv s;
	srv_start(&s, zctx, 0);
	struct an_pub_client *c;
	cr_assert_eq(an_pub_client_open(zctx, s.pub_ep, s.snap_ep, AN_PUB_IND, &c), 0);
	cr_assert_eq(an_pub_client_sync(c, DEADLINE_MS), 0);
	warm_up(c, AN_PUB_IND);
	uint64_t seq0, dig, ep;
	server_state(AN_PUB_IND, &seq0, &dig, &ep);
	catch_up(c, seq0, ep);
	struct an_pub_client_stats before, after;
	an_pub_client_stats(c, &before);
	publish(AN_PUB_IND, 30);          /* queued in the client's SUB, seq0+1 .. seq0+30 */
	cr_assert_eq(an_pub_client_sync(c, DEADLINE_MS), 0); /* snapshot at S = seq0 + 30 */
	cr_assert_eq(an_pub_client_seq(c), seq0 + 30);
	publish(AN_PUB_IND, 20);          /* seq0+31 .. seq0+50 */
	uint64_t seq;
	server_state(AN_PUB_IND, &seq, &dig, &ep);
	cr_assert_eq(seq, seq0 + 50);
	catch_up(c, seq, ep);
	an_pub_client_stats(c, &after);
	cr_assert_eq(after.dropped_old - before.dropped_old, 30, "the 30 updates covered by the snapshot");
	cr_assert_eq(after.applied - before.applied, 20, "the 20 updates after S");
	cr_assert_eq(after.holes, before.holes);
	cr_assert_eq(an_pub_client_digest(c), dig);
	an_pub_client_close(c);
	srv_stop(&s);
	zmq_ctx_term(zctx);
}

/* A restarted server (new epoch, sequences from 1 again, different state): the client notices at the
 * first message of the new epoch and re-snapshots; a slow client with a tiny HWM repairs its holes. */
Test(pub, new_epoch_and_holes_resync)
{
	void *zctx = zmq_ctx_new();
	struct srv s;
	srv_start(&s, zctx, 20);
	struct an_pub_client *c;
	cr_assert_eq(an_pub_client_open(zctx, s.pub_ep, s.snap_ep, AN_PUB_HAZARD, &c), 0);
	cr_assert_eq(an_pub_client_sync(c, DEADLINE_MS), 0);
	warm_up(c, AN_PUB_HAZARD);
	uint64_t ep0 = an_pub_client_epoch(c);
	char r[128];
	cmd("R", r, sizeof r);
	uint64_t seq, dig, ep;
	/* publish in the new epoch until the reconnected subscriber has caught up with it */
	uint64_t deadline = mono_ms() + DEADLINE_MS;
	do {
		cr_assert_lt(mono_ms(), deadline, "client never saw the new epoch");
		publish(AN_PUB_HAZARD, 1);
		cr_assert_geq(an_pub_client_poll(c, 20, DEADLINE_MS, NULL, NULL), 0);
		server_state(AN_PUB_HAZARD, &seq, &dig, &ep);
	} while (an_pub_client_epoch(c) != ep);
	cr_assert_neq(ep, ep0);
	struct an_pub_client_stats cs;
	an_pub_client_stats(c, &cs);
	cr_assert_geq(cs.epoch_changes, 1);
	/* flood without reading: beyond the HWM (20) + socket buffers the PUB drops for this client */
	for (int i = 0; i < 20; i++)
		publish(AN_PUB_HAZARD, 2000);
	server_state(AN_PUB_HAZARD, &seq, &dig, &ep);
	catch_up(c, seq, ep);
	cr_assert_eq(an_pub_client_digest(c), dig);
	an_pub_client_stats(c, &cs);
	cr_log_info("epoch changes %" PRIu64 ", holes %" PRIu64 ", snapshots %" PRIu64, cs.epoch_changes, cs.holes,
	            cs.snapshots);
	an_pub_client_close(c);
	srv_stop(&s);
	zmq_ctx_term(zctx);
}

Test(pub, bad_snapshot_request_and_codecs)
{
	struct an_pub_hazard h = {.id = 42, .status = 9, .p_ppm = 123456, .log_odds_q10 = -5, .has_latlon = true,
	                          .lat_e7 = -259000000, .lon_e7 = 327000000, .n_animals = 2, .n_ind = 3,
	                          .sigma_mm = 700, .task_id = 5, .into_id = 7, .x_mm = -12, .y_mm = 34};
	uint8_t b[AN_PUB_BODY_MAX];
	size_t n;
	struct an_pub_hazard d;
	cr_assert_eq(an_pub_hazard_encode(&h, b, sizeof b, &n), 0);
	cr_assert_eq(an_pub_hazard_decode(b, n, &d), 0);
	cr_assert(d.id == h.id && d.status == h.status && d.p_ppm == h.p_ppm && d.log_odds_q10 == h.log_odds_q10 &&
	          d.has_latlon && d.lat_e7 == h.lat_e7 && d.lon_e7 == h.lon_e7 && d.n_animals == h.n_animals &&
	          d.n_ind == h.n_ind && d.sigma_mm == h.sigma_mm && d.task_id == h.task_id && d.into_id == h.into_id &&
	          d.x_mm == h.x_mm && d.y_mm == h.y_mm);
	cr_assert_eq(an_pub_hazard_encode(&h, b, 10, &n), -ENOBUFS);
	cr_assert_eq(an_pub_hazard_decode(b, 3, &d), -EBADMSG);
	cr_assert_eq(an_pub_stream_parse("hazard"), AN_PUB_HAZARD);
	cr_assert_eq(an_pub_stream_parse("trk"), -EINVAL);

	void *zctx = zmq_ctx_new();
	struct srv s;
	srv_start(&s, zctx, 0);
	void *d2 = zmq_socket(zctx, ZMQ_DEALER);
	cr_assert_eq(zmq_connect(d2, s.snap_ep), 0);
	zmq_send(d2, "SNAPSHOT", 8, ZMQ_SNDMORE);
	zmq_send(d2, "tracks", 6, 0);
	zmq_pollitem_t it = {.socket = d2, .events = ZMQ_POLLIN};
	cr_assert_eq(zmq_poll(&it, 1, DEADLINE_MS), 1);
	char t[16] = "";
	cr_assert_eq(zmq_recv(d2, t, sizeof t - 1, 0), 5);
	cr_assert_str_eq(t, "ERROR");
	int zero = 0;
	zmq_setsockopt(d2, ZMQ_LINGER, &zero, sizeof zero);
	zmq_close(d2);
	srv_stop(&s);
	zmq_ctx_term(zctx);
}

/* Idle: the server sends HUGZ (AN_PUB_HUGZ_MS after the last update) carrying the stream's seq; a client
 * that is up to date counts it and does not resynchronise. */
Test(pub, hugz_when_idle)
{
	void *zctx = zmq_ctx_new();
	struct srv s;
	srv_start(&s, zctx, 0);
	struct an_pub_client *c;
	cr_assert_eq(an_pub_client_open(zctx, s.pub_ep, s.snap_ep, AN_PUB_FIX, &c), 0);
	cr_assert_eq(an_pub_client_sync(c, DEADLINE_MS), 0);
	warm_up(c, AN_PUB_FIX);
	struct an_pub_client_stats cs, before;
	an_pub_client_stats(c, &before);
	uint64_t deadline = mono_ms() + DEADLINE_MS;
	do {
		cr_assert_lt(mono_ms(), deadline, "no HUGZ while idle");
		cr_assert_geq(an_pub_client_poll(c, 500, DEADLINE_MS, NULL, NULL), 0);
		an_pub_client_stats(c, &cs);
	} while (!cs.hugz);
	cr_assert_eq(cs.hugz_ahead, 0);
	cr_assert_eq(cs.snapshots, before.snapshots, "an up-to-date client must not re-snapshot on HUGZ");
	an_pub_client_close(c);
	srv_stop(&s);
	zmq_ctx_term(zctx);
}
