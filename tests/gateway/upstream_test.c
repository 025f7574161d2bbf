/*
 * tests/gateway/upstream_test.c — gw_up_* against a scripted fake core (a CURVE ROUTER in this process) over
 * real tcp loopback sockets with ephemeral ports. The gateway's clock is injected (liveness, ack timeout and
 * back-off run without waiting); real time only bounds each wait (a timeout fails the test).
 * The end-to-end tests against the real core ingest + store are process tests (upstream_proc_test.py).
 */
#define _GNU_SOURCE /* mkdtemp, clock_gettime */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gw/upstream.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "up_gen.h"

#define GW_ID 7u
#define PER 8u
#define WAIT_MS 8000 /* upper bound of every wait; the events normally come in milliseconds */

/* ---- in-memory source (the spool's contract) ------------------------------------------------------- */

struct memsrc {
	uint64_t acked, avail;
	uint64_t acked_calls;
	struct proto_batch *b;
	uint8_t raw[PROTO_BATCH_RECS_MAX][UPGEN_RAW_LEN];
};

static int ms_batch(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	struct memsrc *m = ctx;
	if (after < m->acked)
		after = m->acked; /* the spool no longer has what was acked */
	if (after >= m->avail)
		return 0;
	*gw_seq = after + 1;
	return upgen_batch(m->b, m->raw, GW_ID, after + 1, PER, body, cap, len) == 0 ? 1 : -EIO;
}
static int ms_acked(void *ctx, uint64_t s)
{
	struct memsrc *m = ctx;
	cr_assert(s > m->acked, "acked must only move forward (%llu after %llu)", (unsigned long long)s,
	          (unsigned long long)m->acked);
	cr_assert(s <= m->avail, "acked %llu beyond the spool's %llu", (unsigned long long)s,
	          (unsigned long long)m->avail);
	m->acked = s;
	m->acked_calls++;
	return 0;
}
static int ms_acked_seq(void *ctx, uint64_t *s)
{
	*s = ((struct memsrc *)ctx)->acked;
	return 0;
}
static int ms_pending(void *ctx, uint64_t after, uint64_t *n)
{
	struct memsrc *m = ctx;
	*n = m->avail > after ? m->avail - after : 0;
	return 0;
}

static struct memsrc *memsrc_new(uint64_t avail)
{
	struct memsrc *m = calloc(1, sizeof *m);
	cr_assert_not_null(m);
	m->b = malloc(sizeof *m->b);
	cr_assert_not_null(m->b);
	m->avail = avail;
	return m;
}

static struct gw_up_source memsrc_source(struct memsrc *m)
{
	return (struct gw_up_source){m, ms_batch, ms_acked, ms_acked_seq, ms_pending};
}

/* ---- fake core ------------------------------------------------------------------------------------- */

struct fake_core {
	void *ctx, *router, *mon;
	char ep[128];
	char pub[41], sec[41];
	uint64_t seq[4096]; /* gw_seq of every BATCH received, in order */
	size_t n;
	unsigned pings;
	bool answer_pings;
	uint8_t rid[64];
	size_t rid_len;
	unsigned hs_ok, hs_failed;
};

static void fc_bind(struct fake_core *fc, const char *ep)
{
	fc->router = zmq_socket(fc->ctx, ZMQ_ROUTER);
	cr_assert_not_null(fc->router);
	int one = 1, zero = 0;
	cr_assert_eq(zmq_setsockopt(fc->router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
	cr_assert_eq(zmq_setsockopt(fc->router, ZMQ_CURVE_SECRETKEY, fc->sec, 40), 0);
	cr_assert_eq(zmq_setsockopt(fc->router, ZMQ_LINGER, &zero, sizeof zero), 0);
	cr_assert_eq(zmq_setsockopt(fc->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one), 0);
	char mon_ep[64];
	static unsigned gen;
	snprintf(mon_ep, sizeof mon_ep, "inproc://fc-mon-%u", gen++);
	cr_assert_eq(zmq_socket_monitor(fc->router, mon_ep,
	                                ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	                                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH),
	             0);
	fc->mon = zmq_socket(fc->ctx, ZMQ_PAIR);
	cr_assert_eq(zmq_connect(fc->mon, mon_ep), 0);
	cr_assert_eq(zmq_bind(fc->router, ep), 0, "bind %s: %s", ep, zmq_strerror(errno));
	size_t l = sizeof fc->ep;
	cr_assert_eq(zmq_getsockopt(fc->router, ZMQ_LAST_ENDPOINT, fc->ep, &l), 0);
}

static struct fake_core *fc_new(void)
{
	struct fake_core *fc = calloc(1, sizeof *fc);
	cr_assert_not_null(fc);
	fc->ctx = zmq_ctx_new();
	fc->answer_pings = true;
	cr_assert_eq(zmq_curve_keypair(fc->pub, fc->sec), 0);
	fc_bind(fc, "tcp://127.0.0.1:*");
	return fc;
}

static void fc_unbind(struct fake_core *fc)
{
	zmq_socket_monitor(fc->router, NULL, 0);
	zmq_close(fc->mon);
	zmq_close(fc->router);
	fc->router = fc->mon = NULL;
}

static void fc_free(struct fake_core *fc)
{
	if (fc->router)
		fc_unbind(fc);
	zmq_ctx_term(fc->ctx);
	free(fc);
}

static void fc_send(struct fake_core *fc, uint8_t type, const void *body, size_t len)
{
	cr_assert_eq(zmq_send(fc->router, fc->rid, fc->rid_len, ZMQ_SNDMORE), (int)fc->rid_len);
	cr_assert_eq(zmq_send(fc->router, &type, 1, len ? ZMQ_SNDMORE : 0), 1);
	if (len)
		cr_assert_eq(zmq_send(fc->router, body, len, 0), (int)len);
}

static void fc_ack(struct fake_core *fc, uint8_t type, uint64_t seq)
{
	struct proto_batch_ack a = {.gw_seq = seq};
	uint8_t buf[32];
	size_t len;
	cr_assert_eq(proto_batch_ack_encode(&a, buf, sizeof buf, &len), 0);
	fc_send(fc, type, buf, len);
}

static void fc_credit(struct fake_core *fc, uint16_t n)
{
	struct proto_credit c = {.n = n};
	uint8_t buf[16];
	size_t len;
	cr_assert_eq(proto_credit_encode(&c, buf, sizeof buf, &len), 0);
	fc_send(fc, PROTO_T_CREDIT, buf, len);
}

/* Drain everything pending at the fake core. */
static void fc_drain(struct fake_core *fc)
{
	for (;;) {
		uint8_t ev[6];
		char addr[256];
		if (zmq_recv(fc->mon, ev, sizeof ev, ZMQ_DONTWAIT) < 0)
			break;
		zmq_recv(fc->mon, addr, sizeof addr, 0);
		uint16_t e;
		memcpy(&e, ev, 2);
		if (e == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
			fc->hs_ok++;
		else
			fc->hs_failed++;
	}
	for (;;) {
		uint8_t rid[64], type = 0;
		static uint8_t body[PROTO_BATCH_BODY_MAX];
		int rl = zmq_recv(fc->router, rid, sizeof rid, ZMQ_DONTWAIT);
		if (rl < 0)
			break;
		memcpy(fc->rid, rid, (size_t)rl);
		fc->rid_len = (size_t)rl;
		cr_assert_eq(zmq_recv(fc->router, &type, 1, 0), 1);
		int more = 0;
		size_t ml = sizeof more;
		zmq_getsockopt(fc->router, ZMQ_RCVMORE, &more, &ml);
		int blen = 0;
		if (more)
			blen = zmq_recv(fc->router, body, sizeof body, 0);
		if (type == PROTO_T_BATCH) {
			struct proto_batch *b = malloc(sizeof *b);
			cr_assert_eq(proto_batch_decode(body, (size_t)blen, b, NULL), 0, "gateway sent a bad BATCH");
			cr_assert_eq(b->gw_id, GW_ID);
			cr_assert_lt(fc->n, 4096u);
			fc->seq[fc->n++] = b->gw_seq;
			free(b);
		} else if (type == GW_UP_T_PING) {
			fc->pings++;
			if (fc->answer_pings)
				fc_send(fc, GW_UP_T_PONG, NULL, 0);
		} else {
			cr_assert_fail("unexpected type 0x%02x from the gateway", type);
		}
	}
}

/* ---- driving both ends ------------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef bool (*cond_fn)(struct gw_up *up, struct fake_core *fc, void *arg);

/* Poll both ends until cond holds; the gateway's clock stays at *now (tests move it explicitly). */
static void run_until(struct gw_up *up, struct fake_core *fc, uint64_t now, cond_fn cond, void *arg,
                      const char *what)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	for (;;) {
		cr_assert_eq(gw_up_service(up, now), 0);
		fc_drain(fc);
		cr_assert_eq(gw_up_service(up, now), 0);
		if (cond(up, fc, arg))
			return;
		cr_assert_lt(mono_ms(), deadline, "timed out waiting for: %s", what);
		zmq_pollitem_t it[GW_UP_POLLITEMS + 2];
		size_t n = gw_up_pollitems(up, it, GW_UP_POLLITEMS);
		if (fc->router) {
			it[n++] = (zmq_pollitem_t){fc->router, -1, ZMQ_POLLIN, 0};
			it[n++] = (zmq_pollitem_t){fc->mon, -1, ZMQ_POLLIN, 0};
		}
		zmq_poll(it, (int)n, 20);
	}
}

static bool c_connected(struct gw_up *up, struct fake_core *fc, void *arg)
{
	(void)fc, (void)arg;
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	return st.connected;
}
static bool c_batches(struct gw_up *up, struct fake_core *fc, void *arg)
{
	(void)up;
	return fc->n >= *(size_t *)arg;
}
static bool c_pings(struct gw_up *up, struct fake_core *fc, void *arg)
{
	(void)up;
	return fc->pings >= *(unsigned *)arg;
}
static bool c_acked(struct gw_up *up, struct fake_core *fc, void *arg)
{
	(void)fc;
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	return st.acked_seq >= *(uint64_t *)arg;
}
static bool c_credit(struct gw_up *up, struct fake_core *fc, void *arg)
{
	(void)fc;
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	return st.credit == *(uint32_t *)arg;
}

/* Barrier: move the clock past the ping interval and wait for that PING at the core. The DEALER keeps
 * order, so every BATCH sent before it has arrived too. */
static void barrier(struct gw_up *up, struct fake_core *fc, uint64_t *now)
{
	*now += 1000;
	unsigned want = fc->pings + 1;
	run_until(up, fc, *now, c_pings, &want, "PING barrier");
}

static struct gw_up *open_up(struct fake_core *fc, struct memsrc *m, const char *server_pub, uint64_t now)
{
	struct gw_up_config cfg = {.gw_id = GW_ID, .endpoint = fc->ep};
	char pub[41];
	memcpy(cfg.server_public, server_pub, 41);
	cr_assert_eq(gw_up_keygen(pub, cfg.secret), 0);
	struct gw_up_source src = memsrc_source(m);
	struct gw_up *up = NULL;
	cr_assert_eq(gw_up_open(&up, &cfg, &src, now), 0);
	return up;
}

/* ---- tests ------------------------------------------------------------------------------------------ */

Test(upstream, keys_files_roundtrip_and_errors)
{
	char dir[] = "/tmp/gw_up_keys_XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char pub[128], sec[128], bad[128];
	snprintf(pub, sizeof pub, "%s/gw.pub", dir);
	snprintf(sec, sizeof sec, "%s/gw.key", dir);
	snprintf(bad, sizeof bad, "%s/bad.key", dir);
	cr_assert_eq(gw_up_keygen_files(pub, sec), 0);
	struct stat stt;
	cr_assert_eq(stat(sec, &stt), 0);
	cr_assert_eq(stt.st_mode & 0777, 0600, "secret key file must be 0600, is %o", stt.st_mode & 0777);
	char p[41], s[41], derived[41], err[256];
	cr_assert_eq(gw_up_key_read(pub, p, err, sizeof err), 0, "%s", err);
	cr_assert_eq(gw_up_key_read(sec, s, err, sizeof err), 0, "%s", err);
	cr_assert_eq(gw_up_key_public(s, derived), 0);
	cr_assert_str_eq(derived, p, "the public file must match the secret");
	cr_assert_eq(gw_up_keygen_files(pub, sec), -EEXIST, "existing keys are never overwritten");

	FILE *f = fopen(bad, "w");
	fprintf(f, "# a comment\n\n  %.39s\n", p); /* one character short */
	fclose(f);
	cr_assert_eq(gw_up_key_read(bad, p, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, ":3:") != NULL, "error names the line: %s", err);
	f = fopen(bad, "w");
	fprintf(f, "# comment first\n%s \r\n", derived);
	fclose(f);
	cr_assert_eq(gw_up_key_read(bad, p, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(p, derived);
	cr_assert_eq(gw_up_key_read("/nonexistent/x.key", p, err, sizeof err), -ENOENT);
	cr_assert_eq(gw_up_key_public("not a key", derived), -EINVAL);
	unlink(pub), unlink(sec), unlink(bad), rmdir(dir);
}

Test(upstream, open_rejects_bad_config)
{
	struct memsrc *m = memsrc_new(0);
	struct gw_up_source src = memsrc_source(m);
	struct gw_up_config cfg = {.gw_id = GW_ID, .endpoint = "tcp://127.0.0.1:1"};
	char pub[41];
	cr_assert_eq(gw_up_keygen(pub, cfg.secret), 0);
	memcpy(cfg.server_public, pub, 41);
	struct gw_up *up = NULL;
	cfg.gw_id = 0;
	cr_assert_eq(gw_up_open(&up, &cfg, &src, 0), -EINVAL);
	cfg.gw_id = GW_ID;
	memcpy(cfg.server_public, "too short", 10);
	cr_assert_eq(gw_up_open(&up, &cfg, &src, 0), -EINVAL);
	memcpy(cfg.server_public, pub, 41);
	cfg.endpoint = "bogus://x";
	cr_assert_eq(gw_up_open(&up, &cfg, &src, 0), -EINVAL);
	cfg.endpoint = "tcp://127.0.0.1:1";
	cfg.initial_credit = 2000;
	cr_assert_eq(gw_up_open(&up, &cfg, &src, 0), -EINVAL);
	cfg.initial_credit = 0;
	src.acked = NULL;
	cr_assert_eq(gw_up_open(&up, &cfg, &src, 0), -EINVAL);
	cr_assert_null(up);
	free(m->b), free(m);
}

/* In flight never exceeds the credit: 4 before any CREDIT, then whatever the core grants. Acks slide the
 * window, and reach the source cumulatively. */
Test(upstream, credit_limits_in_flight)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(100);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	run_until(up, fc, now, c_connected, NULL, "handshake");
	size_t want = 4;
	run_until(up, fc, now, c_batches, &want, "4 batches");
	barrier(up, fc, &now);
	cr_assert_eq(fc->n, 4, "initial credit 4, got %zu batches in flight", fc->n);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(st.in_flight, 4);
	cr_assert_eq(st.queue_depth, 100);

	fc_credit(fc, 10);
	uint32_t c10 = 10;
	run_until(up, fc, now, c_credit, &c10, "credit 10");
	want = 10;
	run_until(up, fc, now, c_batches, &want, "10 batches");
	barrier(up, fc, &now);
	cr_assert_eq(fc->n, 10, "credit 10 → 10 in flight, got %zu", fc->n);

	fc_ack(fc, PROTO_T_BATCH_ACK, 3);
	uint64_t a3 = 3;
	run_until(up, fc, now, c_acked, &a3, "ack 3");
	cr_assert_eq(m->acked, 3);
	want = 13;
	run_until(up, fc, now, c_batches, &want, "13 batches");
	barrier(up, fc, &now);
	cr_assert_eq(fc->n, 13, "window slid by 3, got %zu", fc->n);
	for (size_t i = 0; i < fc->n; i++)
		cr_assert_eq(fc->seq[i], i + 1, "in order, no resend: [%zu] = %llu", i, (unsigned long long)fc->seq[i]);

	/* credit shrinks: nothing new until in flight < credit */
	fc_credit(fc, 2);
	uint32_t c2 = 2;
	run_until(up, fc, now, c_credit, &c2, "credit 2");
	fc_ack(fc, PROTO_T_BATCH_ACK, 12);
	uint64_t a12 = 12;
	run_until(up, fc, now, c_acked, &a12, "ack 12");
	want = 14;
	run_until(up, fc, now, c_batches, &want, "14 batches");
	barrier(up, fc, &now);
	cr_assert_eq(fc->n, 14, "acked 12, credit 2 → up to 14; got %zu", fc->n);
	gw_up_stats(up, &st);
	cr_assert_eq(st.batches_acked, 12);
	cr_assert_eq(st.batches_resent, 0);
	cr_assert_eq(st.in_flight, 2);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* A NACK rewinds once per acked value; the NACKs for the batches behind the refused one do not. */
Test(upstream, nack_rewinds_once)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(6);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	size_t want = 4;
	run_until(up, fc, now, c_batches, &want, "4 batches");
	fc_ack(fc, PROTO_T_BATCH_ACK, 1);
	want = 5; /* the ack slid the window */
	run_until(up, fc, now, c_batches, &want, "batch 5");
	fc_ack(fc, GW_UP_T_NACK, 1); /* batch 2 refused */
	fc_ack(fc, GW_UP_T_NACK, 1); /* 3: gap */
	fc_ack(fc, GW_UP_T_NACK, 1); /* 4: gap */
	fc_ack(fc, GW_UP_T_NACK, 1); /* 5: gap */
	want = 5 + 4;                /* then 2,3,4,5 again */
	run_until(up, fc, now, c_batches, &want, "resend after NACK");
	barrier(up, fc, &now);
	uint64_t expect[] = {1, 2, 3, 4, 5, 2, 3, 4, 5};
	cr_assert_eq(fc->n, 9, "one rewind only: got %zu batches", fc->n);
	for (size_t i = 0; i < 9; i++)
		cr_assert_eq(fc->seq[i], expect[i], "[%zu] = %llu", i, (unsigned long long)fc->seq[i]);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(st.nacks, 4);
	cr_assert_eq(st.rewinds, 1);
	cr_assert_eq(st.batches_resent, 4);
	fc_ack(fc, PROTO_T_BATCH_ACK, 6); /* more than sent: clamped to what this process sent (5) */
	uint64_t a5 = 5;
	run_until(up, fc, now, c_acked, &a5, "ack");
	gw_up_stats(up, &st);
	cr_assert_eq(m->acked, 5, "the source is never told more than was sent");
	cr_assert_eq(st.ack_ahead, 1);
	want = 10;
	run_until(up, fc, now, c_batches, &want, "batch 6");
	cr_assert_eq(fc->seq[9], 6);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* No ack progress within ack_timeout_ms → Go-Back-N. */
Test(upstream, ack_timeout_resends)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(2);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	size_t want = 2;
	run_until(up, fc, now, c_batches, &want, "2 batches");
	barrier(up, fc, &now);
	cr_assert_eq(fc->n, 2);
	now += 10000; /* default ack timeout */
	want = 4;
	run_until(up, fc, now, c_batches, &want, "resend");
	cr_assert_eq(fc->seq[2], 1);
	cr_assert_eq(fc->seq[3], 2);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(st.ack_timeouts, 1);
	cr_assert(gw_up_next_deadline(up) <= now + 1000);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* Paranoid Pirate: three silent ping intervals → the socket is recreated after the back-off, the new
 * connection resends everything after the last ack. */
Test(upstream, liveness_recreates_socket_and_resends)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(3);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	size_t want = 3;
	run_until(up, fc, now, c_batches, &want, "3 batches");
	fc_ack(fc, PROTO_T_BATCH_ACK, 1);
	uint64_t a1 = 1;
	run_until(up, fc, now, c_acked, &a1, "ack 1");
	fc->answer_pings = false;
	uint32_t gen = gw_up_generation(up);
	for (int i = 0; i < 3; i++)
		barrier(up, fc, &now); /* pings unanswered */
	now += 1000;
	cr_assert_eq(gw_up_service(up, now), 0);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(st.reconnects, 1, "liveness expired after 3 silent pings");
	cr_assert_neq(gw_up_generation(up), gen);
	zmq_pollitem_t it[GW_UP_POLLITEMS];
	cr_assert_eq(gw_up_pollitems(up, it, GW_UP_POLLITEMS), 0, "down during the back-off");
	cr_assert_eq(gw_up_next_deadline(up), now + 1000, "first back-off 1 s");
	fc->answer_pings = true;
	now += 1000;
	want = 5; /* 2 and 3 again */
	run_until(up, fc, now, c_batches, &want, "resend on the new socket");
	cr_assert_eq(fc->seq[3], 2);
	cr_assert_eq(fc->seq[4], 3);
	gw_up_stats(up, &st);
	cr_assert_eq(st.handshakes, 2);
	cr_assert_eq(st.batches_resent, 2);
	int fds[GW_UP_POLLITEMS];
	cr_assert_eq(gw_up_fds(up, fds), 0);
	cr_assert(fds[0] >= 0 && fds[1] >= 0);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* The core goes away and comes back on the same port: everything unacked is resent, in order. */
Test(upstream, core_restart_resends_unacked)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(5);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	size_t want = 4;
	run_until(up, fc, now, c_batches, &want, "4 batches");
	fc_ack(fc, PROTO_T_BATCH_ACK, 2);
	uint64_t a2 = 2;
	run_until(up, fc, now, c_acked, &a2, "ack 2");
	want = 5;
	run_until(up, fc, now, c_batches, &want, "batch 5");
	char ep[128];
	memcpy(ep, fc->ep, sizeof ep);
	/* a core crash: terminating the context closes the listener synchronously (zmq_close alone is
	 * asynchronous and the re-bind could race it) */
	fc_unbind(fc);
	zmq_ctx_term(fc->ctx);
	fc->ctx = zmq_ctx_new();
	fc->n = 0;
	fc_bind(fc, ep); /* same key, same port */
	want = 3;
	run_until(up, fc, now, c_batches, &want, "resend 3..5 after the restart");
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(fc->seq[i], 3 + i);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_geq(st.handshakes, 2);
	cr_assert_eq(st.batches_resent, 3);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* A core whose key is not the one configured: the handshake never completes, no batch leaves. */
Test(upstream, wrong_server_key_refused)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(3);
	char other_pub[41], other_sec[41];
	cr_assert_eq(zmq_curve_keypair(other_pub, other_sec), 0);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, other_pub, now);
	int64_t deadline = mono_ms() + WAIT_MS;
	while (fc->hs_failed == 0) {
		cr_assert_lt(mono_ms(), deadline, "the core never saw the failed handshake");
		cr_assert_eq(gw_up_service(up, now), 0);
		zmq_pollitem_t it = {fc->mon, -1, ZMQ_POLLIN, 0};
		zmq_poll(&it, 1, 20);
		fc_drain(fc);
	}
	cr_assert_eq(gw_up_service(up, now), 0);
	fc_drain(fc);
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(fc->n, 0, "no batch may reach a core with the wrong key");
	cr_assert_eq(fc->hs_ok, 0);
	cr_assert_eq(st.handshakes, 0);
	cr_assert_eq(st.batches_sent, 0);
	cr_assert_eq(m->acked, 0);
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}

/* Garbage from the core is counted and does not disturb the state. */
Test(upstream, bad_messages_from_core_counted)
{
	struct fake_core *fc = fc_new();
	struct memsrc *m = memsrc_new(1);
	uint64_t now = 1000;
	struct gw_up *up = open_up(fc, m, fc->pub, now);
	size_t want = 1;
	run_until(up, fc, now, c_batches, &want, "batch");
	uint8_t junk[] = {0xc1};
	fc_send(fc, PROTO_T_BATCH_ACK, junk, 1);
	fc_send(fc, 0x77, junk, 1);
	fc_send(fc, PROTO_T_CREDIT, "\x81\x01\xcd\x10\x00", 5); /* n = 4096 > 1024 */
	fc_ack(fc, PROTO_T_BATCH_ACK, 1);
	uint64_t a1 = 1;
	run_until(up, fc, now, c_acked, &a1, "ack after garbage");
	struct gw_up_stats st;
	gw_up_stats(up, &st);
	cr_assert_eq(st.bad_msgs, 3);
	cr_assert_eq(st.credit, 4, "a bad CREDIT changes nothing");
	cr_assert_str_neq(gw_up_last_error(up), "");
	gw_up_close(up);
	fc_free(fc);
	free(m->b), free(m);
}
