/*
 * tests/analysis/ingest_test.c — an_ingest_* (ROUTER + ZAP) with the real store, driven by a raw CURVE
 * DEALER written here (so hostile and misbehaving gateways can be played), over tcp loopback with an
 * ephemeral port. Waits are bounded by zmq_poll timeouts and a deadline that fails the test.
 */
#define _GNU_SOURCE /* mkdtemp, clock_gettime */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../gateway/up_gen.h"
#include "an/ingest.h"
#include "an/store.h"
#include "proto/err.h"
#include "proto/frame.h"

#define WAIT_MS 8000
#define PER 64u

struct rig {
	char dir[512], db[600], allow[600];
	char core_pub[41], core_sec[41];
	char gw_pub[41], gw_sec[41];   /* listed as gateway 7 */
	char gw8_pub[41], gw8_sec[41]; /* listed as gateway 8 */
	struct an_store *store;
	struct an_ingest *ing;
	char ep[256];
	void *cctx;                    /* the client's context */
	struct proto_batch *b;
	uint8_t raw[PROTO_BATCH_RECS_MAX][UPGEN_RAW_LEN];
	uint8_t body[PROTO_BATCH_BODY_MAX + 8000];
	char log_last[512];
	unsigned log_lines;
};

static void log_cb(void *ctx, int level, const char *msg)
{
	struct rig *r = ctx;
	(void)level;
	snprintf(r->log_last, sizeof r->log_last, "%s", msg);
	r->log_lines++;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_allow(struct rig *r, bool with7)
{
	FILE *f = fopen(r->allow, "w");
	cr_assert_not_null(f);
	fprintf(f, "# gateways allowed to deliver\n");
	if (with7)
		fprintf(f, "7 %s\n", r->gw_pub);
	fprintf(f, "8\t%s   # second gateway\n", r->gw8_pub);
	fclose(f);
}

static struct rig *rig_new(bool no_zap)
{
	struct rig *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	snprintf(r->dir, sizeof r->dir, "%s/tmp-ingest-XXXXXX", SCENTRACK_BINARY_DIR);
	cr_assert_not_null(mkdtemp(r->dir), "mkdtemp: %s", strerror(errno));
	snprintf(r->db, sizeof r->db, "%s/core.db", r->dir);
	snprintf(r->allow, sizeof r->allow, "%s/allow.txt", r->dir);
	cr_assert_eq(zmq_curve_keypair(r->core_pub, r->core_sec), 0);
	cr_assert_eq(zmq_curve_keypair(r->gw_pub, r->gw_sec), 0);
	cr_assert_eq(zmq_curve_keypair(r->gw8_pub, r->gw8_sec), 0);
	write_allow(r, true);
	char err[512];
	cr_assert_eq(an_store_open(r->db, AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &r->store, err, sizeof err), 0, "%s",
	             err);
	struct an_ingest_config cfg = {.endpoint = "tcp://127.0.0.1:*", .allow_path = r->allow, .credit = 8,
	                               .test_no_zap = no_zap, .log = log_cb, .log_ctx = r};
	memcpy(cfg.secret, r->core_sec, 41);
	struct an_ingest_sink sink;
	an_ingest_sink_store(&sink, r->store);
	cr_assert_eq(an_ingest_open(&cfg, &sink, &r->ing, err, sizeof err), 0, "%s", err);
	cr_assert_eq(an_ingest_endpoint(r->ing, r->ep, sizeof r->ep), 0);
	cr_assert(strncmp(r->ep, "tcp://127.0.0.1:", 16) == 0 && strcmp(r->ep, "tcp://127.0.0.1:*") != 0, "%s", r->ep);
	r->cctx = zmq_ctx_new();
	r->b = malloc(sizeof *r->b);
	return r;
}

static void rig_free(struct rig *r)
{
	an_ingest_close(r->ing);
	an_store_close(r->store);
	zmq_ctx_term(r->cctx);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
	cr_assert_eq(system(cmd), 0);
	free(r->b);
	free(r);
}

struct client {
	void *s, *mon;
	unsigned hs_ok, hs_auth_failed, hs_failed, disconnects;
};

static struct client client_new(struct rig *r, const char *pub, const char *sec, const char *server_pub,
                                const char *rid)
{
	struct client c = {0};
	static unsigned gen;
	c.s = zmq_socket(r->cctx, ZMQ_DEALER);
	int zero = 0;
	cr_assert_eq(zmq_setsockopt(c.s, ZMQ_LINGER, &zero, sizeof zero), 0);
	cr_assert_eq(zmq_setsockopt(c.s, ZMQ_ROUTING_ID, rid, strlen(rid)), 0);
	cr_assert_eq(zmq_setsockopt(c.s, ZMQ_CURVE_SERVERKEY, server_pub, 40), 0);
	cr_assert_eq(zmq_setsockopt(c.s, ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
	cr_assert_eq(zmq_setsockopt(c.s, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
	char mon_ep[64];
	snprintf(mon_ep, sizeof mon_ep, "inproc://cl-mon-%u", gen++);
	cr_assert_eq(zmq_socket_monitor(c.s, mon_ep, ZMQ_EVENT_ALL), 0);
	c.mon = zmq_socket(r->cctx, ZMQ_PAIR);
	cr_assert_eq(zmq_connect(c.mon, mon_ep), 0);
	cr_assert_eq(zmq_connect(c.s, r->ep), 0);
	return c;
}

static void client_close(struct client *c)
{
	zmq_socket_monitor(c->s, NULL, 0);
	zmq_close(c->mon);
	zmq_close(c->s);
}

static void client_events(struct client *c)
{
	uint8_t ev[6];
	char addr[256];
	while (zmq_recv(c->mon, ev, sizeof ev, ZMQ_DONTWAIT) >= 0) {
		zmq_recv(c->mon, addr, sizeof addr, 0);
		uint16_t e;
		memcpy(&e, ev, 2);
		if (e == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
			c->hs_ok++;
		else if (e == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
			c->hs_auth_failed++;
		else if (e == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || e == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
			c->hs_failed++;
		else if (e == ZMQ_EVENT_DISCONNECTED)
			c->disconnects++;
	}
}

/* Serve the core until the client has a reply (returns its type, body in *ack) or an event count is met. */
struct reply {
	uint8_t type;
	uint8_t body[256];
	int len;
};

static void serve(struct rig *r, struct client *c, int ms)
{
	zmq_pollitem_t it[4];
	size_t n = an_ingest_pollitems(r->ing, it, 2);
	cr_assert_eq(n, 2);
	it[2] = (zmq_pollitem_t){c->mon, -1, ZMQ_POLLIN, 0};
	zmq_poll(it, 3, ms);
	cr_assert_eq(an_ingest_service(r->ing, 0), 0);
	client_events(c);
}

static struct reply wait_reply(struct rig *r, struct client *c)
{
	struct reply rp = {0};
	int64_t deadline = mono_ms() + WAIT_MS;
	for (;;) {
		int n = zmq_recv(c->s, &rp.type, 1, ZMQ_DONTWAIT);
		if (n == 1) {
			int more = 0;
			size_t ml = sizeof more;
			zmq_getsockopt(c->s, ZMQ_RCVMORE, &more, &ml);
			rp.len = more ? zmq_recv(c->s, rp.body, sizeof rp.body, 0) : 0;
			return rp;
		}
		cr_assert_lt(mono_ms(), deadline, "no reply from the core");
		zmq_pollitem_t it[4];
		an_ingest_pollitems(r->ing, it, 2);
		it[2] = (zmq_pollitem_t){c->s, -1, ZMQ_POLLIN, 0};
		it[3] = (zmq_pollitem_t){c->mon, -1, ZMQ_POLLIN, 0};
		zmq_poll(it, 4, 50);
		cr_assert_eq(an_ingest_service(r->ing, 0), 0);
		client_events(c);
	}
}

static uint64_t expect_ack(struct rig *r, struct client *c, uint8_t type, uint16_t *stored, uint16_t *dup)
{
	struct reply rp = wait_reply(r, c);
	cr_assert_eq(rp.type, type, "expected type 0x%02x, got 0x%02x", type, rp.type);
	struct proto_batch_ack a;
	cr_assert_eq(proto_batch_ack_decode(rp.body, (size_t)rp.len, &a, NULL), 0);
	if (stored)
		*stored = a.stored;
	if (dup)
		*dup = a.dup;
	if (type == PROTO_T_BATCH_ACK) {
		struct reply cr = wait_reply(r, c);
		cr_assert_eq(cr.type, PROTO_T_CREDIT, "CREDIT follows every BATCH_ACK");
		struct proto_credit cc;
		cr_assert_eq(proto_credit_decode(cr.body, (size_t)cr.len, &cc, NULL), 0);
		cr_assert_eq(cc.n, 8);
	}
	return a.gw_seq;
}

static void send_raw(struct client *c, uint8_t type, const void *body, size_t len)
{
	cr_assert_eq(zmq_send(c->s, &type, 1, len ? ZMQ_SNDMORE : 0), 1);
	if (len)
		cr_assert_eq(zmq_send(c->s, body, len, 0), (int)len);
}

static void send_batch(struct rig *r, struct client *c, uint16_t gw_id, uint64_t seq)
{
	size_t len;
	cr_assert_eq(upgen_batch(r->b, r->raw, gw_id, seq, PER, r->body, sizeof r->body, &len), 0);
	send_raw(c, PROTO_T_BATCH, r->body, len);
}

static int64_t count_records(struct rig *r, const char *where)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM records %s", where);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(an_store_sqlite(r->store), sql, -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* ---- tests ------------------------------------------------------------------------------------------ */

Test(ingest, commit_then_ack_replay_idempotent_gap_nacked)
{
	struct rig *r = rig_new(false);
	struct client c = client_new(r, r->gw_pub, r->gw_sec, r->core_pub, "gw-7");
	uint16_t stored, dup;
	send_raw(&c, AN_INGEST_T_PING, NULL, 0);
	struct reply rp = wait_reply(r, &c);
	cr_assert_eq(rp.type, AN_INGEST_T_PONG);
	cr_assert_eq(rp.len, 0);

	for (uint64_t s = 1; s <= 3; s++) {
		send_batch(r, &c, 7, s);
		cr_assert_eq(expect_ack(r, &c, PROTO_T_BATCH_ACK, &stored, &dup), s);
		cr_assert_eq(stored, PER);
		cr_assert_eq(dup, 0);
		cr_assert_eq(count_records(r, ""), (int64_t)(s * PER), "acked only after the records are stored");
	}
	/* replay of 2: acked with the cumulative 3, nothing stored twice */
	send_batch(r, &c, 7, 2);
	cr_assert_eq(expect_ack(r, &c, PROTO_T_BATCH_ACK, &stored, &dup), 3);
	cr_assert_eq(stored, 0);
	cr_assert_eq(dup, PER);
	/* gap: 5 after 3 → NACK with the committed mark, nothing stored */
	send_batch(r, &c, 7, 5);
	cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 3);
	cr_assert_eq(count_records(r, ""), 3 * PER);
	send_batch(r, &c, 7, 4);
	cr_assert_eq(expect_ack(r, &c, PROTO_T_BATCH_ACK, NULL, NULL), 4);
	cr_assert_eq(count_records(r, "WHERE gw_id = 7"), 4 * PER);

	struct an_ingest_stats st;
	an_ingest_stats(r->ing, &st);
	cr_assert_eq(st.committed, 4);
	cr_assert_eq(st.replays, 1);
	cr_assert_eq(st.rej_gap, 1);
	cr_assert_eq(st.records_stored, 4 * PER);
	cr_assert_eq(st.records_dup, PER);
	cr_assert_eq(st.zap_allowed, 1);
	cr_assert_eq(st.pongs_sent, 1);
	cr_assert_eq(st.acks_sent, 5);
	cr_assert_eq(st.nacks_sent, 1);
	uint64_t last;
	bool known;
	cr_assert_eq(an_store_gateway_last_seq(r->store, 7, &last, &known), 0);
	cr_assert(known && last == 4);
	client_close(&c);
	rig_free(r);
}

/* Hostile bodies: each refused with its own error and counted; the connection lives on and a good batch
 * is then acked. */
Test(ingest, hostile_batches_rejected_connection_survives)
{
	struct rig *r = rig_new(false);
	struct client c = client_new(r, r->gw_pub, r->gw_sec, r->core_pub, "gw-7");
	static const uint8_t bad_mp[] = {0xc1};                           /* reserved msgpack byte */
	static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff}; /* map32 of 4 G entries */
	static const uint8_t str_key[] = {0x81, 0xa1, 'x', 0x01};         /* {"x": 1}: wrong key type */
	static const uint8_t wrong_type[] = {0x83, 0x01, 0xa1, 'x', 0x02, 0x01, 0x03, 0x90}; /* gw_id is a str */
	struct {
		const uint8_t *p;
		size_t len;
	} cases[] = {{bad_mp, sizeof bad_mp}, {huge_map, sizeof huge_map}, {str_key, sizeof str_key},
	             {wrong_type, sizeof wrong_type}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		send_raw(&c, PROTO_T_BATCH, cases[i].p, cases[i].len);
		cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 0, "case %zu", i);
	}
	struct an_ingest_stats st;
	an_ingest_stats(r->ing, &st);
	cr_assert_eq(st.rej_decode, 4);
	cr_assert_eq(st.last_decode_err, PROTO_EMSG_WTYPE, "last error %s", proto_errname(st.last_decode_err));
	cr_assert(strstr(r->log_last, "gateway 7") && strstr(r->log_last, "refused"), "log: %s", r->log_last);

	/* oversize: a valid batch padded past PROTO_BATCH_BODY_MAX */
	size_t len;
	cr_assert_eq(upgen_batch(r->b, r->raw, 7, 1, PER, r->body, sizeof r->body, &len), 0);
	memset(r->body + len, 0, PROTO_BATCH_BODY_MAX + 100 - len);
	send_raw(&c, PROTO_T_BATCH, r->body, PROTO_BATCH_BODY_MAX + 100);
	cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 0);
	/* trailing garbage after a valid batch */
	cr_assert_eq(upgen_batch(r->b, r->raw, 7, 1, PER, r->body, sizeof r->body, &len), 0);
	r->body[len] = 0x00;
	send_raw(&c, PROTO_T_BATCH, r->body, len + 1);
	cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 0);
	/* a BATCH without a body, an unknown type, a 2-byte type frame: counted, no reply */
	send_raw(&c, PROTO_T_BATCH, NULL, 0);
	cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 0);
	send_raw(&c, 0x77, "x", 1);
	cr_assert_eq(zmq_send(c.s, "\x30\x30", 2, ZMQ_SNDMORE), 2);
	cr_assert_eq(zmq_send(c.s, "x", 1, 0), 1);
	/* still alive: a good batch is stored and acked */
	send_batch(r, &c, 7, 1);
	cr_assert_eq(expect_ack(r, &c, PROTO_T_BATCH_ACK, NULL, NULL), 1);
	an_ingest_stats(r->ing, &st);
	cr_assert_eq(st.rej_decode, 7);
	cr_assert_eq(st.rej_frames, 2);
	cr_assert_eq(st.committed, 1);
	cr_assert_eq(count_records(r, ""), PER);
	cr_assert_eq(c.disconnects, 0, "the connection survived");
	cr_assert_eq(st.zap_allowed, 1, "one handshake for everything");
	client_close(&c);
	rig_free(r);
}

/* Gateway 8's key, routing id gw-8, but the batch says gw_id 7: refused, nothing stored. */
Test(ingest, user_id_must_match_batch_gw_id)
{
	struct rig *r = rig_new(false);
	struct client c = client_new(r, r->gw8_pub, r->gw8_sec, r->core_pub, "gw-8");
	send_batch(r, &c, 7, 1);
	cr_assert_eq(expect_ack(r, &c, AN_INGEST_T_NACK, NULL, NULL), 0);
	struct an_ingest_stats st;
	an_ingest_stats(r->ing, &st);
	cr_assert_eq(st.rej_identity, 1);
	cr_assert_eq(count_records(r, ""), 0);
	cr_assert(strstr(r->log_last, "claiming gw_id 7"), "log: %s", r->log_last);
	/* its own id is fine */
	send_batch(r, &c, 8, 1);
	cr_assert_eq(expect_ack(r, &c, PROTO_T_BATCH_ACK, NULL, NULL), 1);
	cr_assert_eq(count_records(r, "WHERE gw_id = 8"), PER);
	client_close(&c);
	rig_free(r);
}

/* Routing id of another gateway (a ROUTER_HANDOVER hijack attempt): dropped unanswered, counted. */
Test(ingest, routing_id_must_match_user_id)
{
	struct rig *r = rig_new(false);
	struct client c = client_new(r, r->gw_pub, r->gw_sec, r->core_pub, "gw-8");
	send_batch(r, &c, 7, 1);
	int64_t deadline = mono_ms() + WAIT_MS;
	struct an_ingest_stats st;
	do {
		cr_assert_lt(mono_ms(), deadline, "message never arrived");
		serve(r, &c, 50);
		an_ingest_stats(r->ing, &st);
	} while (st.msgs < 1);
	cr_assert_eq(st.rej_identity, 1);
	cr_assert_eq(st.acks_sent + st.nacks_sent, 0);
	cr_assert_eq(count_records(r, ""), 0);
	client_close(&c);
	rig_free(r);
}

/* A key that is not allow-listed: ZAP says 400, both monitors see HANDSHAKE_FAILED_AUTH, nothing stored.
 * Then revocation: gateway 7 removed from the file + reload → a new connection of 7 is refused too. */
Test(ingest, unlisted_key_refused_and_revocation)
{
	struct rig *r = rig_new(false);
	char pub[41], sec[41];
	cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
	struct client c = client_new(r, pub, sec, r->core_pub, "gw-9");
	send_batch(r, &c, 9, 1); /* queued by the DEALER until a handshake that never comes */
	int64_t deadline = mono_ms() + WAIT_MS;
	struct an_ingest_stats st;
	do {
		cr_assert_lt(mono_ms(), deadline, "no auth failure observed");
		serve(r, &c, 50);
		an_ingest_stats(r->ing, &st);
	} while (st.auth_failures < 1 || c.hs_auth_failed < 1);
	cr_assert_geq(st.zap_denied, 1);
	cr_assert_eq(st.zap_allowed, 0);
	cr_assert_eq(st.msgs, 0);
	cr_assert_eq(c.hs_ok, 0);
	client_close(&c);

	write_allow(r, false);
	char err[256];
	cr_assert_eq(an_ingest_allow_reload(r->ing, err, sizeof err), 0, "%s", err);
	struct client c7 = client_new(r, r->gw_pub, r->gw_sec, r->core_pub, "gw-7");
	send_batch(r, &c7, 7, 1);
	deadline = mono_ms() + WAIT_MS;
	do {
		cr_assert_lt(mono_ms(), deadline, "revoked gateway not refused");
		serve(r, &c7, 50);
	} while (c7.hs_auth_failed < 1);
	an_ingest_stats(r->ing, &st);
	cr_assert_eq(st.msgs, 0);
	cr_assert_eq(count_records(r, ""), 0);
	client_close(&c7);
	rig_free(r);
}

/* No ZAP handler + ZMQ_ZAP_ENFORCE_DOMAIN: even a listed key is refused (fail closed, not Stonehouse). */
Test(ingest, no_zap_handler_fails_closed)
{
	struct rig *r = rig_new(true);
	struct client c = client_new(r, r->gw_pub, r->gw_sec, r->core_pub, "gw-7");
	send_batch(r, &c, 7, 1);
	int64_t deadline = mono_ms() + WAIT_MS;
	struct an_ingest_stats st;
	do {
		cr_assert_lt(mono_ms(), deadline, "handshake failure not observed");
		serve(r, &c, 50);
		an_ingest_stats(r->ing, &st);
	} while (st.handshake_failures + st.auth_failures < 1);
	cr_assert_eq(st.handshakes, 0);
	cr_assert_eq(st.msgs, 0);
	cr_assert_eq(c.hs_ok, 0);
	cr_assert_eq(count_records(r, ""), 0);
	client_close(&c);
	rig_free(r);
}

/* A client that does not know the core's key never completes a handshake. */
Test(ingest, wrong_server_key_no_handshake)
{
	struct rig *r = rig_new(false);
	char pub[41], sec[41];
	cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
	struct client c = client_new(r, r->gw_pub, r->gw_sec, pub, "gw-7");
	send_batch(r, &c, 7, 1);
	int64_t deadline = mono_ms() + WAIT_MS;
	struct an_ingest_stats st;
	do {
		cr_assert_lt(mono_ms(), deadline, "handshake failure not observed");
		serve(r, &c, 50);
		an_ingest_stats(r->ing, &st);
	} while (st.handshake_failures < 1);
	cr_assert_eq(st.handshakes, 0);
	cr_assert_eq(st.msgs, 0);
	cr_assert_eq(st.zap_allowed + st.zap_denied, 0, "never got as far as ZAP");
	client_close(&c);
	rig_free(r);
}

Test(ingest, allow_list_parse_errors)
{
	char dir[512], path[600], err[512];
	snprintf(dir, sizeof dir, "%s/tmp-allow-XXXXXX", SCENTRACK_BINARY_DIR);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/allow.txt", dir);
	char pub[41], sec[41], pub2[41];
	cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
	cr_assert_eq(zmq_curve_keypair(pub2, sec), 0);
	struct {
		const char *fmt;
		int rc;
		const char *needle;
	} cases[] = {
		{"7 %s\n8 %s\n", 0, NULL},
		{"# c\n\n0 %s\n", -EINVAL, ":3:"},
		{"70000 %s\n", -EINVAL, ":1:"},
		{"7 %s\n7 %s\n", -EINVAL, "gateway id listed twice"},
		{"7 %.39s\n", -EINVAL, "Z85"},
		{"7 %s extra\n", -EINVAL, ":1:"},
		{"seven %s\n", -EINVAL, "expected"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		FILE *f = fopen(path, "w");
		fprintf(f, cases[i].fmt, pub, pub2);
		fclose(f);
		struct an_ingest_allow *a = NULL;
		int rc = an_ingest_allow_load(path, &a, err, sizeof err);
		cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d (%s)", i, rc, err);
		if (rc == 0) {
			uint8_t k[32], k2[32], other[32] = {0};
			zmq_z85_decode(k, pub);
			zmq_z85_decode(k2, pub2);
			cr_assert_eq(an_ingest_allow_count(a), 2);
			cr_assert_eq(an_ingest_allow_lookup(a, k), 7);
			cr_assert_eq(an_ingest_allow_lookup(a, k2), 8);
			cr_assert_eq(an_ingest_allow_lookup(a, other), 0);
			an_ingest_allow_free(a);
		} else {
			cr_assert_null(a);
			cr_assert(strstr(err, cases[i].needle), "case %zu: error \"%s\" lacks \"%s\"", i, err,
			          cases[i].needle);
		}
	}
	/* same key for two gateways */
	FILE *f = fopen(path, "w");
	fprintf(f, "7 %s\n8 %s\n", pub, pub);
	fclose(f);
	struct an_ingest_allow *a = NULL;
	cr_assert_eq(an_ingest_allow_load(path, &a, err, sizeof err), -EINVAL);
	cr_assert(strstr(err, "public key listed twice"), "%s", err);
	unlink(path);
	rmdir(dir);
}

Test(ingest, open_rejects_bad_config)
{
	struct an_ingest_config cfg = {.endpoint = "tcp://127.0.0.1:*", .allow_path = "/nonexistent/allow"};
	char pub[41], err[256];
	cr_assert_eq(zmq_curve_keypair(pub, cfg.secret), 0);
	struct an_ingest_sink sink = {0};
	struct an_ingest *ing = NULL;
	cr_assert_eq(an_ingest_open(&cfg, &sink, &ing, err, sizeof err), -EINVAL, "sink required");
	an_ingest_sink_store(&sink, NULL);
	cr_assert_eq(an_ingest_open(&cfg, &sink, &ing, err, sizeof err), -ENOENT);
	cr_assert(strstr(err, "/nonexistent/allow"), "%s", err);
	memcpy(cfg.secret, "short", 6);
	cr_assert_eq(an_ingest_open(&cfg, &sink, &ing, err, sizeof err), -EINVAL);
	cr_assert_null(ing);
}
