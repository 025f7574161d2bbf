/*
 * analysis/src/pub_client.c — the Clone subscriber of an/pub.h: SUB first, then a snapshot from the ROUTER,
 * then updates after S in sequence; a hole, an unknown epoch or a HUGZ ahead of us → a new snapshot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "an/pub.h"
#include "proto/mp.h"
#include "pub_internal.h"

#define STALE_EPOCHS 4u

struct an_pub_client {
	void *zctx;
	void *sub, *dealer;
	char snap_ep[256];
	enum an_pub_stream stream;
	struct pub_map map;
	uint64_t epoch, seq;
	bool synced;
	uint64_t stale[STALE_EPOCHS]; /* epochs we left behind: their queued messages are dropped quietly */
	unsigned n_stale;
	struct an_pub_client_stats st;
};

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int open_dealer(struct an_pub_client *c)
{
	if (c->dealer)
		zmq_close(c->dealer);
	c->dealer = zmq_socket(c->zctx, ZMQ_DEALER);
	if (!c->dealer)
		return -EIO;
	int zero = 0;
	zmq_setsockopt(c->dealer, ZMQ_LINGER, &zero, sizeof zero);
	int rcvhwm = 0; /* the snapshot is bounded by the server's max_items; do not drop parts of it here */
	zmq_setsockopt(c->dealer, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
	return zmq_connect(c->dealer, c->snap_ep) ? -EIO : 0;
}

int an_pub_client_open(void *zctx, const char *pub_ep, const char *snap_ep, enum an_pub_stream s,
                       struct an_pub_client **out)
{
	if (!zctx || !pub_ep || !snap_ep || !out || (unsigned)s >= AN_PUB_STREAMS || strlen(snap_ep) >= 256)
		return -EINVAL;
	struct an_pub_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->zctx = zctx;
	c->stream = s;
	strcpy(c->snap_ep, snap_ep);
	c->sub = zmq_socket(zctx, ZMQ_SUB);
	if (!c->sub)
		goto out_free;
	int zero = 0;
	zmq_setsockopt(c->sub, ZMQ_LINGER, &zero, sizeof zero);
	char prefix[AN_PUB_TOPIC_MAX];
	size_t n = (size_t)snprintf(prefix, sizeof prefix, "%s/", an_pub_stream_name(s));
	if (zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, prefix, n) || zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "HUGZ", 4) ||
	    zmq_connect(c->sub, pub_ep) || open_dealer(c))
		goto out_close;
	*out = c;
	return 0;
out_close:
	zmq_close(c->sub);
	if (c->dealer)
		zmq_close(c->dealer);
out_free:
	free(c);
	return -EIO;
}

void an_pub_client_close(struct an_pub_client *c)
{
	if (!c)
		return;
	zmq_close(c->sub);
	zmq_close(c->dealer);
	pub_map_free(&c->map);
	free(c);
}

/* Receive [topic][seq|epoch][body] (3 frames, nothing more). @retval 0; -EAGAIN; -EPROTO; -EIO */
struct msg3 {
	zmq_msg_t f[3];
	char topic[AN_PUB_TOPIC_MAX];
	uint64_t seq, epoch;
};

static int recv3(void *sock, struct msg3 *m, int flags)
{
	for (int i = 0; i < 3; i++)
		zmq_msg_init(&m->f[i]);
	int i = 0, bad = 0;
	for (;; i++) {
		zmq_msg_t tmp;
		zmq_msg_t *dst = i < 3 ? &m->f[i] : &tmp;
		if (i >= 3)
			zmq_msg_init(&tmp);
		if (zmq_msg_recv(dst, sock, i ? 0 : flags) < 0) {
			int e = zmq_errno();
			if (i >= 3)
				zmq_msg_close(&tmp);
			return i == 0 && e == EAGAIN ? -EAGAIN : -EIO;
		}
		int more = zmq_msg_more(dst);
		if (i >= 3) {
			zmq_msg_close(&tmp);
			bad = 1;
		}
		if (!more)
			break;
	}
	if (bad || i != 2 || zmq_msg_size(&m->f[0]) >= AN_PUB_TOPIC_MAX || zmq_msg_size(&m->f[1]) != 16)
		return -EPROTO;
	memcpy(m->topic, zmq_msg_data(&m->f[0]), zmq_msg_size(&m->f[0]));
	m->topic[zmq_msg_size(&m->f[0])] = 0;
	m->seq = get_le64(zmq_msg_data(&m->f[1]));
	m->epoch = get_le64((const uint8_t *)zmq_msg_data(&m->f[1]) + 8);
	return 0;
}

static void close3(struct msg3 *m)
{
	for (int i = 0; i < 3; i++)
		zmq_msg_close(&m->f[i]);
}

static void forget_epoch(struct an_pub_client *c, uint64_t e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < c->n_stale; i++)
		if (c->stale[i] == e)
			return;
	if (c->n_stale < STALE_EPOCHS)
		c->stale[c->n_stale++] = e;
	else {
		memmove(c->stale, c->stale + 1, (STALE_EPOCHS - 1) * sizeof c->stale[0]);
		c->stale[STALE_EPOCHS - 1] = e;
	}
}

static bool is_stale(const struct an_pub_client *c, uint64_t e)
{
	for (unsigned i = 0; i < c->n_stale; i++)
		if (c->stale[i] == e)
			return true;
	return false;
}

int an_pub_client_sync(struct an_pub_client *c, int timeout_ms)
{
	/* A fresh DEALER per attempt: a reply to an abandoned request must not be read as this one's. */
	if (open_dealer(c))
		return -EIO;
	const char *name = an_pub_stream_name(c->stream);
	if (zmq_send(c->dealer, "SNAPSHOT", 8, ZMQ_SNDMORE) < 0 || zmq_send(c->dealer, name, strlen(name), 0) < 0)
		return -EIO;
	struct pub_map fresh = {0};
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int rc;
	for (;;) {
		uint64_t t = now_ms();
		if (t >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		zmq_pollitem_t it = {.socket = c->dealer, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, (long)(deadline - t)) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			rc = -EIO;
			break;
		}
		if (!(it.revents & ZMQ_POLLIN))
			continue;
		struct msg3 m;
		rc = recv3(c->dealer, &m, ZMQ_DONTWAIT);
		if (rc == -EAGAIN) {
			close3(&m);
			continue;
		}
		if (rc) {
			close3(&m);
			break;
		}
		if (!strcmp(m.topic, "ERROR")) {
			close3(&m);
			rc = -EPROTO;
			break;
		}
		if (!strcmp(m.topic, "KTHXBAI")) {
			close3(&m);
			if (c->epoch && c->epoch != m.epoch) {
				forget_epoch(c, c->epoch);
				c->st.epoch_changes++;
			}
			pub_map_free(&c->map);
			c->map = fresh;
			memset(&fresh, 0, sizeof fresh);
			c->epoch = m.epoch;
			c->seq = m.seq;
			c->synced = true;
			c->st.snapshots++;
			return 0;
		}
		uint64_t key;
		bool remove;
		const uint8_t *body = zmq_msg_data(&m.f[2]);
		size_t len = zmq_msg_size(&m.f[2]);
		rc = pub_key_of(c->stream, m.topic, body, len, &key, &remove);
		if (!rc)
			rc = pub_map_set(&fresh, key, m.seq, m.topic, body, len, remove, SIZE_MAX);
		close3(&m);
		if (rc) {
			rc = rc == -ENOMEM ? -ENOMEM : -EPROTO;
			break;
		}
	}
	pub_map_free(&fresh);
	return rc;
}

static int hugz_seq(const struct msg3 *m, enum an_pub_stream s, uint64_t *seq)
{
	struct proto_mp_reader r;
	struct proto_mp_obj o, k, v;
	proto_mp_reader_init(&r, zmq_msg_data((zmq_msg_t *)&m->f[2]), zmq_msg_size((zmq_msg_t *)&m->f[2]));
	if (proto_mp_read(&r, &o) || o.kind != PROTO_MP_MAP)
		return -EPROTO;
	for (uint32_t i = 0; i < o.n; i++) {
		if (proto_mp_read(&r, &k) || proto_mp_read(&r, &v) || k.kind != PROTO_MP_UINT || v.kind != PROTO_MP_UINT)
			return -EPROTO;
		if (k.u == 2u + (unsigned)s) {
			*seq = v.u;
			return 0;
		}
	}
	return -EPROTO;
}

/* Handle one SUB message. @retval 1 applied; 0 dropped/heartbeat; 2 resync needed; < 0 error */
static int handle(struct an_pub_client *c, struct msg3 *m, an_pub_client_fn fn, void *ctx)
{
	if (is_stale(c, m->epoch)) {
		c->st.stale++;
		return 0;
	}
	if (!c->synced)
		return 2;
	bool hz = !strcmp(m->topic, "HUGZ");
	if (m->epoch != c->epoch) {
		/* counted by an_pub_client_sync when the new epoch's snapshot lands */
		forget_epoch(c, c->epoch);
		c->synced = false;
		return 2;
	}
	if (hz) {
		uint64_t s;
		c->st.hugz++;
		if (hugz_seq(m, c->stream, &s) == 0 && s > c->seq) {
			c->st.hugz_ahead++;
			return 2;
		}
		return 0;
	}
	if (m->seq <= c->seq) {
		c->st.dropped_old++;
		return 0;
	}
	if (m->seq != c->seq + 1) {
		c->st.holes++;
		return 2;
	}
	uint64_t key;
	bool remove;
	const uint8_t *body = zmq_msg_data(&m->f[2]);
	size_t len = zmq_msg_size(&m->f[2]);
	int rc = pub_key_of(c->stream, m->topic, body, len, &key, &remove);
	if (rc)
		return 2; /* a body we cannot read: the snapshot will tell */
	rc = pub_map_set(&c->map, key, m->seq, m->topic, body, len, remove, SIZE_MAX);
	if (rc)
		return rc;
	c->seq = m->seq;
	c->st.applied++;
	if (fn)
		fn(ctx, m->topic, m->seq, body, len);
	return 1;
}

int an_pub_client_poll(struct an_pub_client *c, int timeout_ms, int sync_timeout_ms, an_pub_client_fn fn, void *ctx)
{
	int applied = 0;
	zmq_pollitem_t it = {.socket = c->sub, .events = ZMQ_POLLIN};
	if (zmq_poll(&it, 1, timeout_ms) < 0 && zmq_errno() != EINTR)
		return -EIO;
	for (;;) {
		struct msg3 m;
		int rc = recv3(c->sub, &m, ZMQ_DONTWAIT);
		if (rc == -EAGAIN) {
			close3(&m);
			return applied;
		}
		if (rc == -EPROTO) {
			close3(&m);
			continue;
		}
		if (rc) {
			close3(&m);
			return rc;
		}
		rc = handle(c, &m, fn, ctx);
		close3(&m);
		if (rc < 0)
			return rc;
		if (rc == 1)
			applied++;
		if (rc == 2) {
			int e = an_pub_client_sync(c, sync_timeout_ms);
			if (e)
				return e;
		}
	}
}

size_t an_pub_client_pollitems(struct an_pub_client *c, void *items, size_t cap)
{
	if (cap < 1)
		return 0;
	*(zmq_pollitem_t *)items = (zmq_pollitem_t){.socket = c->sub, .events = ZMQ_POLLIN};
	return 1;
}

uint64_t an_pub_client_epoch(const struct an_pub_client *c)
{
	return c->epoch;
}

uint64_t an_pub_client_seq(const struct an_pub_client *c)
{
	return c->seq;
}

size_t an_pub_client_count(const struct an_pub_client *c)
{
	return c->map.live;
}

int an_pub_client_get(const struct an_pub_client *c, size_t index, uint64_t *key, const char **topic,
                      const uint8_t **body, size_t *len)
{
	const size_t *o;
	size_t n;
	int rc = pub_map_order((struct pub_map *)&c->map, &o, &n);
	if (rc)
		return rc;
	if (index >= n)
		return -ENOENT;
	const struct pub_item *itm = &c->map.items[o[index]];
	if (key)
		*key = itm->key;
	if (topic)
		*topic = itm->topic;
	if (body)
		*body = itm->body;
	if (len)
		*len = itm->len;
	return 0;
}

uint64_t an_pub_client_digest(const struct an_pub_client *c)
{
	return pub_map_digest((struct pub_map *)&c->map);
}

void an_pub_client_stats(const struct an_pub_client *c, struct an_pub_client_stats *st)
{
	*st = c->st;
}
