/*
 * gateway/src/upstream.c — DEALER side of the gateway → core transport (contract in gw/upstream.h).
 *
 * State, in gw_seq terms (batches are contiguous):
 *   acked    last cumulative ack applied to the source (everything <= acked is committed at the core)
 *   sent     highest gw_seq on the wire of the current connection; in flight = sent - acked
 *   high     highest gw_seq this process ever sent (to tell resends from first sends, and to clamp acks)
 * A rewind sets sent = acked, so the next sends start again at acked + 1.
 */
#include "gw/upstream.h"

#include "gw/log.h"
#include "proto/err.h"
#include "proto/frame.h"
#include "proto/msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBSYS "upstream"
#define MON_EVENTS                                                                                           \
	(ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                      \
	 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                             \
	 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
/* Messages drained per gw_up_service call, so a flood from the core cannot starve the serial links. */
#define RX_BUDGET 1024u
#define RX_BODY_MAX 64u /* BATCH_ACK/CREDIT bodies are a few bytes; anything longer is refused */

struct gw_up {
	struct gw_up_config cfg;
	char endpoint[GW_UP_ENDPOINT_MAX];
	char public_z85[GW_UP_KEY_Z85_LEN + 1];
	struct gw_up_source src;
	void *zctx;
	bool own_ctx;
	void *sock; /* NULL while down (waiting for the back-off) */
	void *mon;
	uint32_t gen;
	bool connected;

	uint64_t acked, sent, high;
	bool rewound;           /* a NACK already rewound from rewound_from */
	uint64_t rewound_from;
	uint16_t credit;
	uint32_t liveness;
	bool rx_since_tick;
	uint64_t next_ping_ms;
	uint64_t progress_ms;   /* last ack progress, or the first send after an idle window */
	uint64_t reconnect_at_ms;
	uint32_t backoff_ms;

	struct gw_up_stats st;
	struct gw_log_limiter lim;
	char err[256];
	uint8_t body[PROTO_BATCH_BODY_MAX];
};

static void set_err(struct gw_up *up, uint64_t now_ms, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_err(struct gw_up *up, uint64_t now_ms, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(up->err, sizeof up->err, fmt, ap);
	va_end(ap);
	gw_log_limited(&up->lim, now_ms, level, SUBSYS, "%s", up->err);
}

static int setopt_int(struct gw_up *up, void *s, int opt, int v, const char *name)
{
	if (zmq_setsockopt(s, opt, &v, sizeof v) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_setsockopt(%s = %d): %s", name, v, zmq_strerror(errno));
		(void)up;
		return -EIO;
	}
	return 0;
}

static int setopt_str(void *s, int opt, const void *v, size_t n, const char *name)
{
	if (zmq_setsockopt(s, opt, v, n) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_setsockopt(%s): %s", name, zmq_strerror(errno));
		return -EIO;
	}
	return 0;
}

static void sockets_close(struct gw_up *up)
{
	if (up->sock) {
		zmq_socket_monitor(up->sock, NULL, 0);
		zmq_close(up->sock);
		up->sock = NULL;
	}
	if (up->mon) {
		zmq_close(up->mon);
		up->mon = NULL;
	}
	up->connected = false;
}

/* A new DEALER with every option, its monitor, and connect. Options apply only to later connects, so all
 * of them go before zmq_connect. */
static int sockets_open(struct gw_up *up)
{
	const struct gw_up_config *c = &up->cfg;
	char rid[16], mon_ep[64];
	int rc = -EIO;

	up->sock = zmq_socket(up->zctx, ZMQ_DEALER);
	if (!up->sock) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_socket(DEALER): %s", zmq_strerror(errno));
		return -EIO;
	}
	int n = snprintf(rid, sizeof rid, "gw-%u", (unsigned)c->gw_id);
	/* 2 × the largest credit plus room for pings: the credit window is the flow control, not the HWM */
	int hwm = (int)(2u * GW_UP_CREDIT_MAX + 64u);
	int64_t maxmsg = 4096; /* the core only sends a few bytes per message: bound what a rogue one can make us buffer */
	if ((rc = setopt_str(up->sock, ZMQ_ROUTING_ID, rid, (size_t)n, "ZMQ_ROUTING_ID")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_LINGER, c->linger_ms, "ZMQ_LINGER")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_SNDHWM, hwm, "ZMQ_SNDHWM")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_RCVHWM, hwm, "ZMQ_RCVHWM")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_HEARTBEAT_IVL, c->hb_ivl_ms, "ZMQ_HEARTBEAT_IVL")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_HEARTBEAT_TIMEOUT, c->hb_timeout_ms, "ZMQ_HEARTBEAT_TIMEOUT")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_HEARTBEAT_TTL, c->hb_ttl_ms, "ZMQ_HEARTBEAT_TTL")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_RECONNECT_IVL, c->reconnect_ivl_ms, "ZMQ_RECONNECT_IVL")) ||
	    (rc = setopt_int(up, up->sock, ZMQ_RECONNECT_IVL_MAX, c->reconnect_ivl_max_ms,
	                     "ZMQ_RECONNECT_IVL_MAX")) ||
	    (rc = setopt_str(up->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg, "ZMQ_MAXMSGSIZE")) ||
	    (rc = setopt_str(up->sock, ZMQ_CURVE_SERVERKEY, c->server_public, GW_UP_KEY_Z85_LEN,
	                     "ZMQ_CURVE_SERVERKEY")) ||
	    (rc = setopt_str(up->sock, ZMQ_CURVE_PUBLICKEY, up->public_z85, GW_UP_KEY_Z85_LEN,
	                     "ZMQ_CURVE_PUBLICKEY")) ||
	    (rc = setopt_str(up->sock, ZMQ_CURVE_SECRETKEY, c->secret, GW_UP_KEY_Z85_LEN, "ZMQ_CURVE_SECRETKEY")))
		goto close_sock;

	/* inproc names are per context: the pointer and generation make them unique within it */
	snprintf(mon_ep, sizeof mon_ep, "inproc://gw-up-mon-%p-%" PRIu32, (void *)up, up->gen);
	if (zmq_socket_monitor(up->sock, mon_ep, MON_EVENTS) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_socket_monitor: %s", zmq_strerror(errno));
		rc = -EIO;
		goto close_sock;
	}
	up->mon = zmq_socket(up->zctx, ZMQ_PAIR);
	if (!up->mon || zmq_connect(up->mon, mon_ep) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "monitor socket %s: %s", mon_ep, zmq_strerror(errno));
		rc = -EIO;
		goto close_sock;
	}
	if (zmq_connect(up->sock, up->endpoint) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_connect(%s): %s", up->endpoint, zmq_strerror(errno));
		rc = errno == EINVAL || errno == EPROTONOSUPPORT ? -EINVAL : -EIO;
		goto close_sock;
	}
	up->gen++;
	up->connected = false;
	return 0;

close_sock:
	sockets_close(up);
	return rc;
}

static void cfg_defaults(struct gw_up_config *c)
{
	if (!c->initial_credit) c->initial_credit = 4;
	if (!c->ping_ivl_ms) c->ping_ivl_ms = 1000;
	if (!c->liveness) c->liveness = 3;
	if (!c->ack_timeout_ms) c->ack_timeout_ms = 10000;
	if (!c->backoff_min_ms) c->backoff_min_ms = 1000;
	if (!c->backoff_max_ms) c->backoff_max_ms = 32000;
	if (!c->linger_ms) c->linger_ms = 1000;
	if (!c->hb_ivl_ms) c->hb_ivl_ms = 1000;
	if (!c->hb_timeout_ms) c->hb_timeout_ms = 3000;
	if (!c->hb_ttl_ms) c->hb_ttl_ms = 6000;
	if (!c->reconnect_ivl_ms) c->reconnect_ivl_ms = 1000;
	if (!c->reconnect_ivl_max_ms) c->reconnect_ivl_max_ms = 32000;
}

int gw_up_open(struct gw_up **out, const struct gw_up_config *cfg, const struct gw_up_source *src,
               uint64_t now_ms)
{
	struct gw_up *up;
	int rc;

	if (!out || !cfg || !src)
		return -EINVAL;
	*out = NULL;
	if (!src->batch || !src->acked || !src->acked_seq) {
		gw_log(GW_LOG_ERR, SUBSYS, "source: batch, acked and acked_seq are required");
		return -EINVAL;
	}
	if (cfg->gw_id == 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "gw_id: must be 1..65535");
		return -EINVAL;
	}
	if (!cfg->endpoint || !*cfg->endpoint || strlen(cfg->endpoint) >= GW_UP_ENDPOINT_MAX) {
		gw_log(GW_LOG_ERR, SUBSYS, "endpoint: missing or longer than %u bytes", GW_UP_ENDPOINT_MAX - 1);
		return -EINVAL;
	}
	if (cfg->initial_credit > GW_UP_CREDIT_MAX) {
		gw_log(GW_LOG_ERR, SUBSYS, "initial_credit %u: must be 1..%u", cfg->initial_credit, GW_UP_CREDIT_MAX);
		return -EINVAL;
	}
	if (!zmq_has("curve")) {
		gw_log(GW_LOG_ERR, SUBSYS, "libzmq was built without CURVE: refusing to send unauthenticated");
		return -ENOTSUP;
	}
	up = calloc(1, sizeof *up);
	if (!up)
		return -ENOMEM;
	up->cfg = *cfg;
	cfg_defaults(&up->cfg);
	memcpy(up->endpoint, cfg->endpoint, strlen(cfg->endpoint) + 1);
	up->cfg.endpoint = up->endpoint;
	up->cfg.server_public[GW_UP_KEY_Z85_LEN] = '\0';
	up->cfg.secret[GW_UP_KEY_Z85_LEN] = '\0';
	uint8_t bin[32];
	if (strlen(up->cfg.server_public) != GW_UP_KEY_Z85_LEN || !zmq_z85_decode(bin, up->cfg.server_public)) {
		gw_log(GW_LOG_ERR, SUBSYS, "server_public: not a 40-character Z85 key");
		rc = -EINVAL;
		goto free_up;
	}
	if (gw_up_key_public(up->cfg.secret, up->public_z85) != 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "secret: not a 40-character Z85 key");
		rc = -EINVAL;
		goto free_up;
	}
	up->src = *src;
	rc = src->acked_seq(src->ctx, &up->acked);
	if (rc < 0) {
		gw_log(GW_LOG_ERR, SUBSYS, "source acked_seq: error %d", rc);
		goto free_up;
	}
	up->sent = up->high = up->acked;
	up->credit = up->cfg.initial_credit;
	up->liveness = up->cfg.liveness;
	up->backoff_ms = up->cfg.backoff_min_ms;
	up->next_ping_ms = now_ms + up->cfg.ping_ivl_ms;
	up->progress_ms = now_ms;
	if (cfg->zctx) {
		up->zctx = cfg->zctx;
	} else {
		up->zctx = zmq_ctx_new();
		if (!up->zctx) {
			rc = -ENOMEM;
			goto free_up;
		}
		up->own_ctx = true;
	}
	rc = sockets_open(up);
	if (rc)
		goto term_ctx;
	gw_log(GW_LOG_NOTE, SUBSYS, "gateway %u → %s, resuming after gw_seq %" PRIu64, (unsigned)up->cfg.gw_id,
	       up->endpoint, up->acked);
	*out = up;
	return 0;

term_ctx:
	if (up->own_ctx)
		zmq_ctx_term(up->zctx);
free_up:
	free(up);
	return rc;
}

void gw_up_close(struct gw_up *up)
{
	if (!up)
		return;
	sockets_close(up);
	if (up->own_ctx)
		zmq_ctx_term(up->zctx);
	free(up);
}

static void rewind_to_acked(struct gw_up *up, uint64_t now_ms, const char *why)
{
	if (up->sent > up->acked) {
		up->st.rewinds++;
		gw_log(GW_LOG_INFO, SUBSYS, "%s: resending from gw_seq %" PRIu64 " (%" PRIu64 " were in flight)", why,
		       up->acked + 1, up->sent - up->acked);
	}
	up->sent = up->acked;
	up->progress_ms = now_ms;
}

/* Apply a cumulative ack v. The core may know more than this process sent (acks lost before a restart
 * of either side); the source is told at most `high`, the highest gw_seq this process put on the wire,
 * so a core whose bookkeeping is ahead of the spool (a spool reset) can never make the spool drop batches
 * it never delivered — those are resent and the core treats them as replays. */
static void on_ack(struct gw_up *up, uint64_t v, bool nack, uint64_t now_ms)
{
	uint64_t apply = v;
	if (v > up->high) {
		up->st.ack_ahead++;
		if (v > up->high + GW_UP_CREDIT_MAX)
			set_err(up, now_ms, GW_LOG_WARN,
			        "core says every gw_seq <= %" PRIu64 " is stored but this gateway only sent up to %" PRIu64
			        " (spool reset?); not trusting the excess",
			        v, up->high);
		apply = up->high;
	}
	if (apply > up->acked) {
		int rc = up->src.acked(up->src.ctx, apply);
		if (rc < 0) {
			up->st.source_errors++;
			set_err(up, now_ms, GW_LOG_ERR, "source acked(%" PRIu64 "): error %d", apply, rc);
			/* the source keeps the batches; the next ack retries */
			return;
		}
		up->st.batches_acked += apply - up->acked;
		up->acked = apply;
		if (up->sent < up->acked)
			up->sent = up->acked;
		up->progress_ms = now_ms;
		up->rewound = false;
	} else if (!nack) {
		up->st.dup_acks++;
	}
	if (nack && up->sent > up->acked && !(up->rewound && up->rewound_from == up->acked)) {
		up->rewound = true;
		up->rewound_from = up->acked;
		rewind_to_acked(up, now_ms, "core refused a batch (NACK)");
	}
}

static void handle_msg(struct gw_up *up, uint8_t type, const uint8_t *body, size_t len, bool bad_shape,
                       uint64_t now_ms)
{
	struct proto_msg_err where;
	char why[160];
	int rc;

	up->rx_since_tick = true;
	up->liveness = up->cfg.liveness;
	up->backoff_ms = up->cfg.backoff_min_ms;
	if (bad_shape) {
		up->st.bad_msgs++;
		set_err(up, now_ms, GW_LOG_WARN, "core sent a malformed message (type 0x%02x, %zu bytes)", type, len);
		return;
	}
	switch (type) {
	case PROTO_T_BATCH_ACK:
	case GW_UP_T_NACK: {
		struct proto_batch_ack a;
		rc = proto_batch_ack_decode(body, len, &a, &where);
		if (rc) {
			up->st.bad_msgs++;
			proto_msg_err_format(&where, why, sizeof why);
			set_err(up, now_ms, GW_LOG_WARN, "core sent a bad %s: %s",
			        type == GW_UP_T_NACK ? "NACK" : "BATCH_ACK", why);
			return;
		}
		if (type == GW_UP_T_NACK)
			up->st.nacks++;
		else
			up->st.acks++;
		on_ack(up, a.gw_seq, type == GW_UP_T_NACK, now_ms);
		return;
	}
	case PROTO_T_CREDIT: {
		struct proto_credit c;
		rc = proto_credit_decode(body, len, &c, &where);
		if (rc) {
			up->st.bad_msgs++;
			proto_msg_err_format(&where, why, sizeof why);
			set_err(up, now_ms, GW_LOG_WARN, "core sent a bad CREDIT: %s", why);
			return;
		}
		up->st.credits++;
		up->credit = c.n;
		return;
	}
	case GW_UP_T_PONG:
		up->st.pongs++;
		return;
	case PROTO_T_CMD: {
		struct proto_cmd cmd;
		if (len < 2 || (rc = proto_cmd_decode(body + 2, len - 2, &cmd, &where)) != 0) {
			up->st.bad_msgs++;
			if (len < 2)
				set_err(up, now_ms, GW_LOG_WARN, "core sent a CMD of %zu bytes", len);
			else {
				proto_msg_err_format(&where, why, sizeof why);
				set_err(up, now_ms, GW_LOG_WARN, "core sent a bad CMD: %s", why);
			}
			return;
		}
		uint16_t collar_id = (uint16_t)(body[0] | body[1] << 8);
		if (up->cfg.on_cmd && up->cfg.on_cmd(up->cfg.on_cmd_arg, collar_id, &cmd) == 0) {
			up->st.cmds_in++;
			gw_log(GW_LOG_INFO, "upstream", "CMD %u (op %u) for collar %u queued", cmd.cmd_id, cmd.op, collar_id);
		} else {
			up->st.cmds_refused++;
			set_err(up, now_ms, GW_LOG_WARN, "CMD %u for collar %u refused (unknown collar or queue full)",
			        cmd.cmd_id, collar_id);
		}
		return;
	}
	default:
		up->st.bad_msgs++;
		set_err(up, now_ms, GW_LOG_WARN, "core sent unknown message type 0x%02x", type);
		return;
	}
}

/* Receive one [type][body] message. Returns 1 handled, 0 nothing to read, -EIO. */
static int recv_one(struct gw_up *up, uint64_t now_ms)
{
	uint8_t tbuf[2], body[RX_BODY_MAX];
	int more;
	size_t more_len = sizeof more;
	bool bad = false;
	size_t blen = 0;

	int n = zmq_recv(up->sock, tbuf, sizeof tbuf, ZMQ_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_recv: %s", zmq_strerror(errno));
		return -EIO;
	}
	if (n != 1)
		bad = true;
	if (zmq_getsockopt(up->sock, ZMQ_RCVMORE, &more, &more_len) != 0)
		return -EIO;
	unsigned part = 1;
	while (more) {
		/* parts of one message are already here: these cannot block */
		int m = zmq_recv(up->sock, body, sizeof body, 0);
		if (m < 0)
			return errno == EINTR ? 1 : -EIO;
		if (part == 1 && (size_t)m <= sizeof body)
			blen = (size_t)m;
		else
			bad = true;
		part++;
		if (zmq_getsockopt(up->sock, ZMQ_RCVMORE, &more, &more_len) != 0)
			return -EIO;
	}
	if (part == 1 && tbuf[0] != GW_UP_T_PONG)
		bad = true; /* every other type has a body */
	handle_msg(up, tbuf[0], body, blen, bad, now_ms);
	return 1;
}

static int drain_monitor(struct gw_up *up, uint64_t now_ms)
{
	for (;;) {
		uint8_t ev[6];
		char addr[GW_UP_ENDPOINT_MAX];
		int n = zmq_recv(up->mon, ev, sizeof ev, ZMQ_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			gw_log(GW_LOG_ERR, SUBSYS, "monitor recv: %s", zmq_strerror(errno));
			return -EIO;
		}
		int m = zmq_recv(up->mon, addr, sizeof addr - 1, 0);
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
		case ZMQ_EVENT_CONNECTED:
			up->st.connects++;
			break;
		case ZMQ_EVENT_DISCONNECTED:
			up->st.disconnects++;
			if (up->connected)
				gw_log(GW_LOG_WARN, SUBSYS, "disconnected from %s", addr);
			up->connected = false;
			break;
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
			up->st.handshakes++;
			up->connected = true;
			up->liveness = up->cfg.liveness;
			up->rx_since_tick = true;
			gw_log(GW_LOG_NOTE, SUBSYS, "connected to %s (CURVE)", addr);
			rewind_to_acked(up, now_ms, "new connection");
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			up->st.auth_failures++;
			set_err(up, now_ms, GW_LOG_ERR, "%s refused this gateway's CURVE key (ZAP status %u)", addr,
			        (unsigned)value);
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
			up->st.handshake_failures++;
			set_err(up, now_ms, GW_LOG_ERR,
			        "CURVE handshake with %s failed (%s, value %u): wrong core public key, or not a core",
			        addr, event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol" : "no detail",
			        (unsigned)value);
			break;
		default:
			break;
		}
	}
}

/* 1 sent, 0 nothing to send / window full / would block, < 0 fatal */
static int send_next(struct gw_up *up, uint64_t now_ms)
{
	if (up->sent - up->acked >= up->credit)
		return 0;
	size_t len = 0;
	uint64_t seq = 0;
	int rc = up->src.batch(up->src.ctx, up->sent, up->body, sizeof up->body, &len, &seq);
	if (rc < 0) {
		up->st.source_errors++;
		set_err(up, now_ms, GW_LOG_ERR, "source batch(after %" PRIu64 "): error %d", up->sent, rc);
		return 0;
	}
	if (rc == 0)
		return 0;
	if (seq != up->sent + 1) {
		up->st.source_gaps++;
		set_err(up, now_ms, GW_LOG_ERR, "source returned gw_seq %" PRIu64 " after %" PRIu64
		        " (the core refuses gaps)", seq, up->sent);
	}
	uint8_t t = PROTO_T_BATCH;
	if (zmq_send(up->sock, &t, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 1) {
		if (errno == EAGAIN || errno == EINTR) {
			up->st.send_again++;
			return 0;
		}
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_send: %s", zmq_strerror(errno));
		return -EIO;
	}
	/* the first part was accepted, so the pipe takes the rest of this message (HWM counts messages) */
	if (zmq_send(up->sock, up->body, len, ZMQ_DONTWAIT) != (int)len) {
		gw_log(GW_LOG_ERR, SUBSYS, "zmq_send(body): %s", zmq_strerror(errno));
		return -EIO;
	}
	if (up->sent == up->acked)
		up->progress_ms = now_ms; /* the ack timeout runs from the first batch of a window */
	up->st.batches_sent++;
	if (seq <= up->high)
		up->st.batches_resent++;
	else
		up->high = seq;
	up->sent = seq;
	return 1;
}

static void send_ping(struct gw_up *up)
{
	uint8_t t = GW_UP_T_PING;
	if (zmq_send(up->sock, &t, 1, ZMQ_DONTWAIT) == 1)
		up->st.pings_sent++;
	else
		up->st.send_again++;
}

int gw_up_service(struct gw_up *up, uint64_t now_ms)
{
	int rc;

	if (!up->sock) {
		if (now_ms < up->reconnect_at_ms)
			return 0;
		rc = sockets_open(up);
		if (rc)
			return rc;
		up->liveness = up->cfg.liveness;
		up->next_ping_ms = now_ms + up->cfg.ping_ivl_ms;
		rewind_to_acked(up, now_ms, "socket recreated");
	}
	/* monitor first: a new connection rewinds before anything is sent on it */
	if ((rc = drain_monitor(up, now_ms)) < 0)
		return rc;
	for (unsigned i = 0; i < RX_BUDGET; i++) {
		rc = recv_one(up, now_ms);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
	}

	if (now_ms >= up->next_ping_ms) {
		if (up->connected) {
			if (!up->rx_since_tick && up->liveness > 0)
				up->liveness--;
			if (up->liveness == 0) {
				up->st.reconnects++;
				set_err(up, now_ms, GW_LOG_WARN,
				        "core silent for %u pings: recreating the socket in %u ms",
				        (unsigned)up->cfg.liveness, (unsigned)up->backoff_ms);
				sockets_close(up);
				up->gen++;
				up->reconnect_at_ms = now_ms + up->backoff_ms;
				up->backoff_ms = up->backoff_ms * 2 > up->cfg.backoff_max_ms ? up->cfg.backoff_max_ms
				                                                            : up->backoff_ms * 2;
				return 0;
			}
		}
		up->rx_since_tick = false;
		if (up->connected)
			send_ping(up);
		up->next_ping_ms = now_ms + up->cfg.ping_ivl_ms;
	}
	if (up->sent > up->acked && now_ms - up->progress_ms >= up->cfg.ack_timeout_ms) {
		up->st.ack_timeouts++;
		up->rewound = false;
		rewind_to_acked(up, now_ms, "no ack within the ack timeout");
	}
	if (up->connected) {
		for (;;) {
			rc = send_next(up, now_ms);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
		}
	}
	return 0;
}

uint64_t gw_up_next_deadline(const struct gw_up *up)
{
	if (!up->sock)
		return up->reconnect_at_ms;
	uint64_t d = up->next_ping_ms;
	if (up->sent > up->acked && up->progress_ms + up->cfg.ack_timeout_ms < d)
		d = up->progress_ms + up->cfg.ack_timeout_ms;
	return d;
}

size_t gw_up_pollitems(struct gw_up *up, zmq_pollitem_t *items, size_t cap)
{
	if (!up->sock || cap < GW_UP_POLLITEMS)
		return 0;
	items[0] = (zmq_pollitem_t){.socket = up->sock, .fd = -1, .events = ZMQ_POLLIN, .revents = 0};
	items[1] = (zmq_pollitem_t){.socket = up->mon, .fd = -1, .events = ZMQ_POLLIN, .revents = 0};
	return GW_UP_POLLITEMS;
}

int gw_up_fds(struct gw_up *up, int fds[GW_UP_POLLITEMS])
{
	fds[0] = fds[1] = -1;
	if (!up->sock)
		return 0;
	void *s[GW_UP_POLLITEMS] = {up->sock, up->mon};
	for (size_t i = 0; i < GW_UP_POLLITEMS; i++) {
		size_t l = sizeof fds[i];
		if (zmq_getsockopt(s[i], ZMQ_FD, &fds[i], &l) != 0)
			return -EIO;
	}
	return 0;
}

uint32_t gw_up_generation(const struct gw_up *up)
{
	return up->gen;
}

void gw_up_stats(const struct gw_up *up, struct gw_up_stats *st)
{
	*st = up->st;
	st->acked_seq = up->acked;
	st->sent_seq = up->sent;
	st->in_flight = (uint32_t)(up->sent - up->acked);
	st->credit = up->credit;
	st->connected = up->connected;
	st->queue_depth = 0;
	if (up->src.pending) {
		uint64_t n = 0;
		if (up->src.pending(up->src.ctx, up->acked, &n) == 0)
			st->queue_depth = n;
	}
}

const char *gw_up_last_error(const struct gw_up *up)
{
	return up->err;
}
