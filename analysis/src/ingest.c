/*
 * analysis/src/ingest.c — ROUTER side of the gateway → core transport (contract in an/ingest.h).
 */
#define _GNU_SOURCE /* clock_gettime */
#include "ingest_internal.h"

#include "an/store.h"
#include "proto/err.h"
#include "proto/frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Draft in zmq.h 4.3 but implemented by the library (checked with getsockopt at open). */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define MON_EVENTS                                                                                           \
	(ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                       \
	 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                             \
	 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
#define RID_MAX 255u
#define LOG_BURST 10u /* lines per second per ingest before suppression (hostile input arrives fast) */

struct an_ingest {
	struct an_ingest_config cfg;
	char endpoint[AN_INGEST_ENDPOINT_MAX];
	char domain[128];
	char allow_path[1024];
	struct an_ingest_sink sink;
	void *zctx;
	bool own_ctx;
	void *router;
	void *mon;
	struct an_zap *zap;
	uint16_t credit;
	struct an_ingest_stats st;
	char err[512];
	int64_t log_window_s;
	uint32_t log_in_window, log_suppressed;
	struct proto_batch batch; /* several KB: kept here, not on the stack */
	uint8_t body[PROTO_BATCH_BODY_MAX + 1];
};

static void log_default(void *ctx, int level, const char *msg)
{
	(void)ctx;
	static const char *const names[] = {"EMERG", "ALERT", "CRIT", "ERR", "WARN", "NOTE", "INFO", "DEBUG"};
	fprintf(stderr, "scentrack-core: %s ingest: %s\n", names[level & 7], msg);
}

static void logf_(struct an_ingest *ing, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(struct an_ingest *ing, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (level <= LOG_WARNING)
		memcpy(ing->err, msg, sizeof ing->err);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != ing->log_window_s) {
		if (ing->log_suppressed) {
			char s[96];
			snprintf(s, sizeof s, "... %" PRIu32 " more messages suppressed", ing->log_suppressed);
			(ing->cfg.log ? ing->cfg.log : log_default)(ing->cfg.log_ctx, LOG_WARNING, s);
		}
		ing->log_window_s = ts.tv_sec;
		ing->log_in_window = 0;
		ing->log_suppressed = 0;
	}
	if (ing->log_in_window >= LOG_BURST) {
		ing->log_suppressed++;
		return;
	}
	ing->log_in_window++;
	(ing->cfg.log ? ing->cfg.log : log_default)(ing->cfg.log_ctx, level, msg);
}

/* ---- store sink ------------------------------------------------------------------------------------- */

static int store_commit(void *ctx, const struct proto_batch *b, struct an_store_ingest_result *r, char *errbuf,
                        size_t errcap)
{
	struct an_store *s = ctx;
	int rc = an_store_ingest_batch(s, b, r);
	if (rc)
		snprintf(errbuf, errcap, "%s", an_store_errmsg(s));
	return rc;
}

static int store_last_seq(void *ctx, uint16_t gw_id, uint64_t *gw_seq, bool *known)
{
	return an_store_gateway_last_seq(ctx, gw_id, gw_seq, known);
}

void an_ingest_sink_store(struct an_ingest_sink *sink, struct an_store *s)
{
	sink->ctx = s;
	sink->commit = store_commit;
	sink->last_seq = store_last_seq;
}

/* ---- open / close ----------------------------------------------------------------------------------- */

static int setopt(struct an_ingest *ing, int opt, const void *v, size_t n, const char *name, char *errbuf,
                  size_t errcap)
{
	if (zmq_setsockopt(ing->router, opt, v, n) != 0) {
		snprintf(errbuf, errcap, "zmq_setsockopt(%s): %s", name, zmq_strerror(errno));
		return -EIO;
	}
	return 0;
}

static int setopt_i(struct an_ingest *ing, int opt, int v, const char *name, char *errbuf, size_t errcap)
{
	return setopt(ing, opt, &v, sizeof v, name, errbuf, errcap);
}

int an_ingest_open(const struct an_ingest_config *cfg, const struct an_ingest_sink *sink, struct an_ingest **out,
                   char *errbuf, size_t errcap)
{
	char local_err[256];
	int rc;

	if (!errbuf || !errcap) {
		errbuf = local_err;
		errcap = sizeof local_err;
	}
	errbuf[0] = '\0';
	if (!out || !cfg || !sink || !sink->commit || !sink->last_seq) {
		snprintf(errbuf, errcap, "an_ingest_open: config and a sink with commit and last_seq are required");
		return -EINVAL;
	}
	*out = NULL;
	if (!zmq_has("curve")) {
		snprintf(errbuf, errcap, "libzmq was built without CURVE: refusing to accept unauthenticated gateways");
		return -ENOTSUP;
	}
	const char *ep = cfg->endpoint ? cfg->endpoint : AN_INGEST_ENDPOINT_DEFAULT;
	const char *dom = cfg->zap_domain ? cfg->zap_domain : AN_INGEST_ZAP_DOMAIN_DEFAULT;
	if (strlen(ep) >= AN_INGEST_ENDPOINT_MAX || !*dom || strlen(dom) >= 128) {
		snprintf(errbuf, errcap, "endpoint or zap_domain: empty or too long");
		return -EINVAL;
	}
	if (cfg->credit > 1024) {
		snprintf(errbuf, errcap, "credit %u: must be 1..1024", cfg->credit);
		return -EINVAL;
	}
	uint8_t bin[32];
	char secret[AN_INGEST_KEY_Z85_LEN + 1];
	memcpy(secret, cfg->secret, AN_INGEST_KEY_Z85_LEN);
	secret[AN_INGEST_KEY_Z85_LEN] = '\0';
	if (strlen(secret) != AN_INGEST_KEY_Z85_LEN || !zmq_z85_decode(bin, secret)) {
		snprintf(errbuf, errcap, "secret: not a 40-character Z85 CURVE key");
		return -EINVAL;
	}
	struct an_ingest_allow *allow = NULL;
	if (!cfg->test_no_zap) {
		if (!cfg->allow_path) {
			snprintf(errbuf, errcap, "allow_path: required (the allow-list of gateway keys)");
			return -EINVAL;
		}
		rc = an_ingest_allow_load(cfg->allow_path, &allow, errbuf, errcap);
		if (rc)
			return rc;
	}

	struct an_ingest *ing = calloc(1, sizeof *ing);
	if (!ing) {
		an_ingest_allow_free(allow);
		return -ENOMEM;
	}
	ing->cfg = *cfg;
	ing->sink = *sink;
	snprintf(ing->endpoint, sizeof ing->endpoint, "%s", ep);
	snprintf(ing->domain, sizeof ing->domain, "%s", dom);
	if (cfg->allow_path)
		snprintf(ing->allow_path, sizeof ing->allow_path, "%s", cfg->allow_path);
	ing->cfg.endpoint = ing->endpoint;
	ing->cfg.zap_domain = ing->domain;
	ing->cfg.allow_path = ing->allow_path;
	ing->credit = cfg->credit ? cfg->credit : 16;
	int hb_ivl = cfg->hb_ivl_ms ? cfg->hb_ivl_ms : 1000;
	int hb_to = cfg->hb_timeout_ms ? cfg->hb_timeout_ms : 3000;
	int hb_ttl = cfg->hb_ttl_ms ? cfg->hb_ttl_ms : 6000;

	if (cfg->zctx) {
		ing->zctx = cfg->zctx;
	} else {
		ing->zctx = zmq_ctx_new();
		if (!ing->zctx) {
			an_ingest_allow_free(allow);
			rc = -ENOMEM;
			goto free_ing;
		}
		ing->own_ctx = true;
	}
	/* the handler before the bind: no gateway may complete a handshake before the allow-list is in force */
	if (!cfg->test_no_zap) {
		rc = an_zap_start(ing->zctx, ing->domain, allow, &ing->zap, errbuf, errcap);
		if (rc)
			goto term_ctx;
	}
	ing->router = zmq_socket(ing->zctx, ZMQ_ROUTER);
	if (!ing->router) {
		snprintf(errbuf, errcap, "zmq_socket(ROUTER): %s", zmq_strerror(errno));
		rc = -EIO;
		goto stop_zap;
	}
	int64_t maxmsg = AN_INGEST_MAXMSGSIZE;
	int hwm = 4096;
	if ((rc = setopt_i(ing, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER", errbuf, errcap)) ||
	    (rc = setopt(ing, ZMQ_CURVE_SECRETKEY, secret, AN_INGEST_KEY_Z85_LEN, "ZMQ_CURVE_SECRETKEY", errbuf,
	                 errcap)) ||
	    (rc = setopt(ing, ZMQ_ZAP_DOMAIN, ing->domain, strlen(ing->domain), "ZMQ_ZAP_DOMAIN", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_ZAP_ENFORCE_DOMAIN, 1, "ZMQ_ZAP_ENFORCE_DOMAIN", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_ROUTER_HANDOVER, 1, "ZMQ_ROUTER_HANDOVER", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_LINGER, 0, "ZMQ_LINGER", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_SNDHWM, hwm, "ZMQ_SNDHWM", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_RCVHWM, hwm, "ZMQ_RCVHWM", errbuf, errcap)) ||
	    (rc = setopt(ing, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg, "ZMQ_MAXMSGSIZE", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_HEARTBEAT_IVL, hb_ivl, "ZMQ_HEARTBEAT_IVL", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_HEARTBEAT_TIMEOUT, hb_to, "ZMQ_HEARTBEAT_TIMEOUT", errbuf, errcap)) ||
	    (rc = setopt_i(ing, ZMQ_HEARTBEAT_TTL, hb_ttl, "ZMQ_HEARTBEAT_TTL", errbuf, errcap)))
		goto close_router;
	int enforce = 0;
	size_t el = sizeof enforce;
	if (zmq_getsockopt(ing->router, ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, &el) != 0 || enforce != 1) {
		snprintf(errbuf, errcap, "this libzmq does not enforce the ZAP domain: it would accept any key "
		                         "when the ZAP handler is missing (refusing to run)");
		rc = -ENOTSUP;
		goto close_router;
	}
	char mon_ep[64];
	snprintf(mon_ep, sizeof mon_ep, "inproc://an-ingest-mon-%p", (void *)ing);
	if (zmq_socket_monitor(ing->router, mon_ep, MON_EVENTS) != 0 || !(ing->mon = zmq_socket(ing->zctx, ZMQ_PAIR)) ||
	    zmq_connect(ing->mon, mon_ep) != 0) {
		snprintf(errbuf, errcap, "socket monitor: %s", zmq_strerror(errno));
		rc = -EIO;
		goto close_router;
	}
	if (zmq_bind(ing->router, ing->endpoint) != 0) {
		int e = errno;
		snprintf(errbuf, errcap, "bind %s: %s", ing->endpoint, zmq_strerror(e));
		rc = e == EADDRINUSE ? -EADDRINUSE : e == EINVAL || e == EPROTONOSUPPORT ? -EINVAL : -EIO;
		goto close_router;
	}
	*out = ing;
	return 0;

close_router:
	if (ing->mon)
		zmq_close(ing->mon);
	zmq_socket_monitor(ing->router, NULL, 0);
	zmq_close(ing->router);
stop_zap:
	an_zap_stop(ing->zap);
term_ctx:
	if (ing->own_ctx)
		zmq_ctx_term(ing->zctx);
free_ing:
	free(ing);
	return rc;
}

void an_ingest_close(struct an_ingest *ing)
{
	if (!ing)
		return;
	zmq_socket_monitor(ing->router, NULL, 0);
	zmq_close(ing->mon);
	zmq_close(ing->router);
	an_zap_stop(ing->zap);
	if (ing->own_ctx)
		zmq_ctx_term(ing->zctx);
	free(ing);
}

int an_ingest_endpoint(struct an_ingest *ing, char *buf, size_t cap)
{
	char ep[AN_INGEST_ENDPOINT_MAX];
	size_t l = sizeof ep;
	if (zmq_getsockopt(ing->router, ZMQ_LAST_ENDPOINT, ep, &l) != 0)
		return -EIO;
	if (strlen(ep) >= cap)
		return -ENOBUFS;
	memcpy(buf, ep, strlen(ep) + 1);
	return 0;
}

size_t an_ingest_pollitems(struct an_ingest *ing, zmq_pollitem_t *items, size_t cap)
{
	if (cap < AN_INGEST_POLLITEMS)
		return 0;
	items[0] = (zmq_pollitem_t){.socket = ing->router, .fd = -1, .events = ZMQ_POLLIN, .revents = 0};
	items[1] = (zmq_pollitem_t){.socket = ing->mon, .fd = -1, .events = ZMQ_POLLIN, .revents = 0};
	return AN_INGEST_POLLITEMS;
}

int an_ingest_allow_reload(struct an_ingest *ing, char *errbuf, size_t errcap)
{
	struct an_ingest_allow *a;
	if (!ing->zap)
		return -EINVAL;
	int rc = an_ingest_allow_load(ing->allow_path, &a, errbuf, errcap);
	if (rc)
		return rc;
	an_zap_set_allow(ing->zap, a);
	return 0;
}

int an_ingest_set_credit(struct an_ingest *ing, uint16_t credit)
{
	if (credit < 1 || credit > 1024)
		return -EINVAL;
	ing->credit = credit;
	return 0;
}

void an_ingest_stats(const struct an_ingest *ing, struct an_ingest_stats *st)
{
	*st = ing->st;
	if (ing->zap) {
		struct an_zap_counts c;
		an_zap_counts(ing->zap, &c);
		st->zap_allowed = c.allowed;
		st->zap_denied = c.denied;
		st->zap_malformed = c.malformed;
	}
}

const char *an_ingest_last_error(const struct an_ingest *ing)
{
	return ing->err;
}

/* ---- receiving -------------------------------------------------------------------------------------- */

/* [rid][type][body] to one gateway; never blocks, never drops silently. */
static void reply(struct an_ingest *ing, const uint8_t *rid, size_t rid_len, uint8_t type, const uint8_t *body,
                  size_t len)
{
	if (zmq_send(ing->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		goto failed;
	if (zmq_send(ing->router, &type, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(ing->router, body, len, ZMQ_DONTWAIT) < 0)
		goto failed;
	switch (type) {
	case PROTO_T_BATCH_ACK: ing->st.acks_sent++; break;
	case PROTO_T_CREDIT: ing->st.credits_sent++; break;
	case AN_INGEST_T_NACK: ing->st.nacks_sent++; break;
	case AN_INGEST_T_PONG: ing->st.pongs_sent++; break;
	default: break;
	}
	return;
failed:
	if (errno == EHOSTUNREACH) {
		ing->st.send_unroutable++;
	} else {
		ing->st.send_again++;
		logf_(ing, LOG_WARNING, "reply to %.*s: %s (the gateway will resend)", (int)rid_len, (const char *)rid,
		      zmq_strerror(errno));
	}
}

int an_ingest_send_cmd(struct an_ingest *ing, uint16_t gw_id, uint16_t collar_id, const struct proto_cmd *cmd)
{
	uint8_t buf[2 + PROTO_BODY_MAX];
	size_t len;
	char rid[16];
	if (!gw_id || !collar_id || proto_cmd_encode(cmd, buf + 2, sizeof buf - 2, &len) != 0)
		return -EINVAL;
	buf[0] = (uint8_t)(collar_id & 0xFFu);
	buf[1] = (uint8_t)(collar_id >> 8);
	int rl = snprintf(rid, sizeof rid, "gw-%u", (unsigned)gw_id);
	uint8_t type = PROTO_T_CMD;
	/* Not through reply(): a CMD to a gateway that is not connected is the caller's error to report. */
	if (zmq_send(ing->router, rid, (size_t)rl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return errno == EHOSTUNREACH ? -EHOSTUNREACH : -EAGAIN;
	if (zmq_send(ing->router, &type, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(ing->router, buf, len + 2, ZMQ_DONTWAIT) < 0)
		return -EAGAIN;
	return 0;
}

static void send_ack(struct an_ingest *ing, const uint8_t *rid, size_t rid_len, uint8_t type, uint64_t gw_seq,
                     const struct an_store_ingest_result *r)
{
	struct proto_batch_ack a = {.gw_seq = gw_seq};
	uint8_t buf[64];
	size_t len;
	if (r) {
		a.has = PROTO_BATCH_ACK_HAS_STORED | PROTO_BATCH_ACK_HAS_DUP;
		a.stored = r->inserted > UINT16_MAX ? UINT16_MAX : (uint16_t)r->inserted;
		a.dup = r->duplicates > UINT16_MAX ? UINT16_MAX : (uint16_t)r->duplicates;
	}
	if (proto_batch_ack_encode(&a, buf, sizeof buf, &len) != 0)
		return; /* cannot happen: every field is in range by construction */
	reply(ing, rid, rid_len, type, buf, len);
	if (type == PROTO_T_BATCH_ACK) {
		struct proto_credit c = {.n = ing->credit};
		if (proto_credit_encode(&c, buf, sizeof buf, &len) == 0)
			reply(ing, rid, rid_len, PROTO_T_CREDIT, buf, len);
	}
}

static void send_nack(struct an_ingest *ing, const uint8_t *rid, size_t rid_len, uint16_t uid)
{
	uint64_t last = 0;
	bool known = false;
	if (ing->sink.last_seq(ing->sink.ctx, uid, &last, &known) != 0) {
		/* without the committed mark a NACK would lie; the gateway's ack timeout resends instead */
		logf_(ing, LOG_ERR, "gateway %u: cannot read its last committed gw_seq; no NACK sent", uid);
		return;
	}
	send_ack(ing, rid, rid_len, AN_INGEST_T_NACK, known ? last : 0, NULL);
}

static void handle_batch(struct an_ingest *ing, const uint8_t *rid, size_t rid_len, uint16_t uid, size_t len)
{
	struct proto_msg_err where;
	char why[256];

	ing->st.batches++;
	int rc = proto_batch_decode(ing->body, len, &ing->batch, &where);
	if (rc) {
		ing->st.rej_decode++;
		ing->st.last_decode_err = rc;
		proto_msg_err_format(&where, why, sizeof why);
		logf_(ing, LOG_WARNING, "gateway %u: refused a %zu-byte BATCH: %s", uid, len, why);
		send_nack(ing, rid, rid_len, uid);
		return;
	}
	if (ing->batch.gw_id != uid) {
		ing->st.rej_identity++;
		logf_(ing, LOG_WARNING,
		      "gateway %u (authenticated by its CURVE key) sent a BATCH claiming gw_id %u: refused", uid,
		      ing->batch.gw_id);
		send_nack(ing, rid, rid_len, uid);
		return;
	}
	struct an_store_ingest_result r;
	memset(&r, 0, sizeof r);
	why[0] = '\0';
	rc = ing->sink.commit(ing->sink.ctx, &ing->batch, &r, why, sizeof why);
	if (rc == -EPROTO) {
		ing->st.rej_gap++;
		logf_(ing, LOG_INFO, "gateway %u: %s", uid, why);
		send_nack(ing, rid, rid_len, uid);
		return;
	}
	if (rc) {
		ing->st.rej_store++;
		logf_(ing, LOG_ERR, "gateway %u: commit of gw_seq %" PRIu64 " failed (%s): %s", uid, ing->batch.gw_seq,
		      strerror(-rc), why);
		send_nack(ing, rid, rid_len, uid);
		return;
	}
	if (r.replay)
		ing->st.replays++;
	else
		ing->st.committed++;
	ing->st.records_stored += r.inserted;
	ing->st.records_dup += r.duplicates;
	ing->st.records_conflict += r.conflicts;
	send_ack(ing, rid, rid_len, PROTO_T_BATCH_ACK, r.ack_gw_seq, &r);
}

/* User-Id "<1..65535>" → id, 0 if absent or malformed */
static uint16_t parse_uid(const char *s)
{
	if (!s || !*s || strlen(s) > 5)
		return 0;
	unsigned v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10u + (unsigned)(*p - '0');
	}
	return v >= 1 && v <= 65535 ? (uint16_t)v : 0;
}

/* One message. 1 handled, 0 none pending, -EIO */
static int recv_one(struct an_ingest *ing)
{
	uint8_t rid[RID_MAX];
	zmq_msg_t tmsg;
	int more;
	size_t ml = sizeof more;
	int rc = 1;

	int rl = zmq_recv(ing->router, rid, sizeof rid, ZMQ_DONTWAIT);
	if (rl < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -EIO;
	ing->st.msgs++;
	size_t rid_len = (size_t)rl > sizeof rid ? sizeof rid : (size_t)rl;
	if (zmq_getsockopt(ing->router, ZMQ_RCVMORE, &more, &ml) != 0)
		return -EIO;
	if (!more) {
		ing->st.rej_frames++;
		return 1;
	}
	zmq_msg_init(&tmsg);
	if (zmq_msg_recv(&tmsg, ing->router, 0) < 0) {
		zmq_msg_close(&tmsg);
		return -EIO;
	}
	size_t tlen = zmq_msg_size(&tmsg);
	uint8_t type = tlen ? *(const uint8_t *)zmq_msg_data(&tmsg) : 0;
	/* User-Id is the ZAP handler's answer for this connection: the only identity we trust */
	uint16_t uid = parse_uid(zmq_msg_gets(&tmsg, "User-Id"));
	size_t blen = 0, parts = 2;
	bool too_big = false;
	if (zmq_getsockopt(ing->router, ZMQ_RCVMORE, &more, &ml) != 0) {
		rc = -EIO;
		goto close_msg;
	}
	while (more) {
		int n = zmq_recv(ing->router, ing->body, sizeof ing->body, 0);
		if (n < 0) {
			rc = -EIO;
			goto close_msg;
		}
		if (parts == 2) {
			blen = (size_t)n;
			too_big = (size_t)n > sizeof ing->body - 1;
		}
		parts++;
		if (zmq_getsockopt(ing->router, ZMQ_RCVMORE, &more, &ml) != 0) {
			rc = -EIO;
			goto close_msg;
		}
	}
	char expect_rid[16];
	int el = snprintf(expect_rid, sizeof expect_rid, "gw-%u", (unsigned)uid);
	if (!uid || (size_t)el != rid_len || memcmp(expect_rid, rid, rid_len) != 0) {
		ing->st.rej_identity++;
		logf_(ing, LOG_WARNING, "message from routing id \"%.*s\" with User-Id \"%s\": %s; refused",
		      (int)rid_len, (const char *)rid, zmq_msg_gets(&tmsg, "User-Id") ? zmq_msg_gets(&tmsg, "User-Id") : "",
		      uid ? "routing id is not gw-<User-Id>" : "no authenticated gateway id (ZAP)");
		goto close_msg; /* no answer: it is not (provably) one of our gateways */
	}
	if (tlen != 1 || parts > 3) {
		ing->st.rej_frames++;
		logf_(ing, LOG_WARNING, "gateway %u: malformed message (%zu-byte type frame, %zu frames)", uid, tlen,
		      parts);
		goto close_msg;
	}
	switch (type) {
	case PROTO_T_BATCH:
		if (parts != 3 || too_big) {
			ing->st.batches++;
			ing->st.rej_decode++;
			ing->st.last_decode_err = PROTO_EMSG_SIZE;
			logf_(ing, LOG_WARNING, "gateway %u: refused a BATCH %s (limit %u bytes)", uid,
			      parts != 3 ? "without a body" : "larger than PROTO_BATCH_BODY_MAX", PROTO_BATCH_BODY_MAX);
			send_nack(ing, rid, rid_len, uid);
			break;
		}
		handle_batch(ing, rid, rid_len, uid, blen);
		break;
	case AN_INGEST_T_PING:
		reply(ing, rid, rid_len, AN_INGEST_T_PONG, NULL, 0);
		break;
	default:
		ing->st.rej_frames++;
		logf_(ing, LOG_WARNING, "gateway %u: unknown message type 0x%02x", uid, type);
		break;
	}
close_msg:
	zmq_msg_close(&tmsg);
	return rc;
}

static int drain_monitor(struct an_ingest *ing)
{
	for (;;) {
		uint8_t ev[6];
		char addr[AN_INGEST_ENDPOINT_MAX];
		int n = zmq_recv(ing->mon, ev, sizeof ev, ZMQ_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EIO;
		int m = zmq_recv(ing->mon, addr, sizeof addr - 1, 0);
		if (m < 0)
			return -EIO;
		addr[(size_t)m < sizeof addr - 1 ? (size_t)m : sizeof addr - 1] = '\0';
		if (n < 6)
			continue;
		uint16_t event;
		uint32_t value;
		memcpy(&event, ev, 2);
		memcpy(&value, ev + 2, 4);
		switch (event) {
		case ZMQ_EVENT_ACCEPTED: ing->st.accepted++; break;
		case ZMQ_EVENT_DISCONNECTED: ing->st.disconnects++; break;
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: ing->st.handshakes++; break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			ing->st.auth_failures++;
			logf_(ing, LOG_WARNING, "refused a gateway on %s: key not in the allow-list (ZAP %u)", addr,
			      (unsigned)value);
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
			ing->st.handshake_failures++;
			logf_(ing, LOG_WARNING, "CURVE handshake on %s failed (%s, %u)", addr,
			      event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error: wrong server key?"
			                                                   : "no detail: no ZAP handler?",
			      (unsigned)value);
			break;
		default: break;
		}
	}
}

int an_ingest_service(struct an_ingest *ing, unsigned budget)
{
	int rc = drain_monitor(ing);
	if (rc)
		return rc;
	if (!budget)
		budget = 256;
	for (unsigned i = 0; i < budget; i++) {
		rc = recv_one(ing);
		if (rc < 0) {
			logf_(ing, LOG_ERR, "zmq_recv: %s", zmq_strerror(errno));
			return rc;
		}
		if (rc == 0)
			break;
	}
	return 0;
}
