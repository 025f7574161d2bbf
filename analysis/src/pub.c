/*
 * analysis/src/pub.c — the core's PUB socket and snapshot ROUTER (an/pub.h): per-stream maps, sequences,
 * epoch, HUGZ, and the body codecs.
 */
#define _GNU_SOURCE /* getrandom */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <msgpack.h>
#include <zmq.h>

#include "an/pub.h"
#include "proto/mp.h"
#include "pub_internal.h"

static const char *const stream_names[AN_PUB_STREAMS] = {"fix", "ind", "hazard", "status"};

const char *an_pub_stream_name(enum an_pub_stream s)
{
	return (unsigned)s < AN_PUB_STREAMS ? stream_names[s] : NULL;
}

int an_pub_stream_parse(const char *name)
{
	for (int i = 0; i < AN_PUB_STREAMS; i++)
		if (name && strcmp(name, stream_names[i]) == 0)
			return i;
	return -EINVAL;
}

int pub_topic_stream(const char *topic)
{
	for (int i = 0; i < AN_PUB_STREAMS; i++) {
		size_t n = strlen(stream_names[i]);
		if (strncmp(topic, stream_names[i], n) == 0 && topic[n] == '/')
			return i;
	}
	return -EINVAL;
}

/* ---- the map ---------------------------------------------------------------------------------------------- */

static size_t slot_of(uint64_t key, size_t nslots)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)(key & (nslots - 1));
}

static long map_find(const struct pub_map *m, uint64_t key)
{
	if (!m->nslots)
		return -1;
	for (size_t i = slot_of(key, m->nslots);; i = (i + 1) & (m->nslots - 1)) {
		if (!m->slots[i])
			return -1;
		if (m->items[m->slots[i] - 1].key == key)
			return (long)(m->slots[i] - 1);
	}
}

static int map_grow(struct pub_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct pub_item *it = realloc(m->items, ncap * sizeof *it);
	if (!it)
		return -ENOMEM;
	m->items = it;
	m->cap = ncap;
	size_t ns = ncap * 2; /* load <= 1/2 */
	uint32_t *sl = calloc(ns, sizeof *sl);
	if (!sl)
		return -ENOMEM;
	for (size_t k = 0; k < m->n; k++) {
		size_t i = slot_of(m->items[k].key, ns);
		while (sl[i])
			i = (i + 1) & (ns - 1);
		sl[i] = (uint32_t)(k + 1);
	}
	free(m->slots);
	m->slots = sl;
	m->nslots = ns;
	return 0;
}

void pub_map_clear(struct pub_map *m)
{
	for (size_t k = 0; k < m->n; k++)
		free(m->items[k].body);
	free(m->items);
	free(m->slots);
	free(m->order);
	memset(m, 0, sizeof *m);
}

void pub_map_free(struct pub_map *m)
{
	pub_map_clear(m);
}

int pub_map_set(struct pub_map *m, uint64_t key, uint64_t seq, const char *topic, const uint8_t *body, size_t len,
                bool remove, size_t max)
{
	if (strlen(topic) >= AN_PUB_TOPIC_MAX || len > AN_PUB_BODY_MAX)
		return -EINVAL;
	long k = map_find(m, key);
	if (k < 0 && remove)
		return 0;
	if (k < 0) {
		if (m->n >= max || m->n >= UINT32_MAX - 1)
			return -ENOSPC;
		if (m->n == m->cap && map_grow(m))
			return -ENOMEM;
		k = (long)m->n++;
		memset(&m->items[k], 0, sizeof m->items[k]);
		m->items[k].key = key;
		size_t i = slot_of(key, m->nslots);
		while (m->slots[i])
			i = (i + 1) & (m->nslots - 1);
		m->slots[i] = (uint32_t)(k + 1);
	}
	struct pub_item *it = &m->items[k];
	if (remove) {
		if (it->live)
			m->live--;
		it->live = false;
		free(it->body);
		it->body = NULL;
		it->len = 0;
		m->order_dirty = true;
		return 0;
	}
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, body, len);
	free(it->body);
	it->body = b;
	it->len = len;
	it->seq = seq;
	snprintf(it->topic, sizeof it->topic, "%s", topic);
	if (!it->live) {
		m->live++;
		m->order_dirty = true;
	}
	it->live = true;
	return 0;
}

static const struct pub_map *g_sort_map; /* qsort has no context argument; single-threaded use only */
static int cmp_idx(const void *a, const void *b)
{
	uint64_t x = g_sort_map->items[*(const size_t *)a].key, y = g_sort_map->items[*(const size_t *)b].key;
	return x < y ? -1 : x > y;
}

int pub_map_order(struct pub_map *m, const size_t **order, size_t *n)
{
	if (m->order_dirty || !m->order) {
		size_t *o = realloc(m->order, (m->live ? m->live : 1) * sizeof *o);
		if (!o)
			return -ENOMEM;
		m->order = o;
		size_t j = 0;
		for (size_t k = 0; k < m->n; k++)
			if (m->items[k].live)
				o[j++] = k;
		g_sort_map = m;
		qsort(o, j, sizeof *o, cmp_idx);
		m->order_dirty = false;
	}
	*order = m->order;
	*n = m->live;
	return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t pub_map_digest(struct pub_map *m)
{
	const size_t *o;
	size_t n;
	uint64_t h = 0xcbf29ce484222325ull;
	if (pub_map_order(m, &o, &n))
		return 0;
	for (size_t j = 0; j < n; j++) {
		const struct pub_item *it = &m->items[o[j]];
		h = fnv(h, &it->key, sizeof it->key);
		h = fnv(h, it->topic, strlen(it->topic) + 1);
		h = fnv(h, &it->len, sizeof it->len);
		h = fnv(h, it->body, it->len);
	}
	return h;
}

/* ---- body codecs ------------------------------------------------------------------------------------------ */

struct wbuf {
	uint8_t *buf;
	size_t cap, len;
	int overflow;
};

static int wbuf_write(void *data, const char *p, size_t n)
{
	struct wbuf *w = data;
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return -1;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int an_pub_hazard_encode(const struct an_pub_hazard *h, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w = {buf, cap, 0, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	bool into = h->status == 9 && h->into_id;
	msgpack_pack_map(&pk, 10u + (h->has_latlon ? 2u : 0u) + (into ? 1u : 0u));
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_ID);
	msgpack_pack_uint64(&pk, h->id);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_STATUS);
	msgpack_pack_uint8(&pk, h->status);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_P_PPM);
	msgpack_pack_uint32(&pk, h->p_ppm);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_LOGODDS);
	msgpack_pack_int64(&pk, h->log_odds_q10);
	if (h->has_latlon) {
		msgpack_pack_uint8(&pk, AN_PUB_HZ_K_LAT);
		msgpack_pack_int32(&pk, h->lat_e7);
		msgpack_pack_uint8(&pk, AN_PUB_HZ_K_LON);
		msgpack_pack_int32(&pk, h->lon_e7);
	}
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_ANIMALS);
	msgpack_pack_uint32(&pk, h->n_animals);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_NIND);
	msgpack_pack_uint32(&pk, h->n_ind);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_SIGMA);
	msgpack_pack_uint32(&pk, h->sigma_mm);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_TASK);
	msgpack_pack_uint64(&pk, h->task_id);
	if (into) {
		msgpack_pack_uint8(&pk, AN_PUB_HZ_K_INTO);
		msgpack_pack_uint64(&pk, h->into_id);
	}
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_X);
	msgpack_pack_int64(&pk, h->x_mm);
	msgpack_pack_uint8(&pk, AN_PUB_HZ_K_Y);
	msgpack_pack_int64(&pk, h->y_mm);
	if (w.overflow)
		return -ENOBUFS;
	*len = w.len;
	return 0;
}

static int rd_int(struct proto_mp_reader *r, int64_t *v, uint64_t *u)
{
	struct proto_mp_obj o;
	if (proto_mp_read(r, &o))
		return -EBADMSG;
	if (o.kind == PROTO_MP_UINT) {
		*u = o.u;
		*v = o.u > INT64_MAX ? INT64_MAX : (int64_t)o.u;
		return 0;
	}
	if (o.kind == PROTO_MP_INT) {
		*v = o.i;
		*u = 0;
		return 0;
	}
	return -EBADMSG;
}

int an_pub_hazard_decode(const uint8_t *buf, size_t len, struct an_pub_hazard *h)
{
	struct proto_mp_reader r;
	struct proto_mp_obj o;
	memset(h, 0, sizeof *h);
	if (proto_mp_validate(buf, len, 4))
		return -EBADMSG;
	proto_mp_reader_init(&r, buf, len);
	if (proto_mp_read(&r, &o) || o.kind != PROTO_MP_MAP)
		return -EBADMSG;
	unsigned seen = 0;
	for (uint32_t k = 0; k < o.n; k++) {
		int64_t key, v;
		uint64_t u;
		if (rd_int(&r, &key, &u) || rd_int(&r, &v, &u))
			return -EBADMSG;
		if (key >= 1 && key < 32)
			seen |= 1u << key;
		switch (key) {
		case AN_PUB_HZ_K_ID: h->id = u; break;
		case AN_PUB_HZ_K_STATUS: h->status = (uint8_t)u; break;
		case AN_PUB_HZ_K_P_PPM: h->p_ppm = (uint32_t)u; break;
		case AN_PUB_HZ_K_LOGODDS: h->log_odds_q10 = v; break;
		case AN_PUB_HZ_K_LAT: h->lat_e7 = (int32_t)v; h->has_latlon = true; break;
		case AN_PUB_HZ_K_LON: h->lon_e7 = (int32_t)v; break;
		case AN_PUB_HZ_K_ANIMALS: h->n_animals = (uint32_t)u; break;
		case AN_PUB_HZ_K_NIND: h->n_ind = (uint32_t)u; break;
		case AN_PUB_HZ_K_SIGMA: h->sigma_mm = (uint32_t)u; break;
		case AN_PUB_HZ_K_TASK: h->task_id = u; break;
		case AN_PUB_HZ_K_INTO: h->into_id = u; break;
		case AN_PUB_HZ_K_X: h->x_mm = v; break;
		case AN_PUB_HZ_K_Y: h->y_mm = v; break;
		default: break; /* newer keys are ignored */
		}
	}
	if (!(seen & (1u << AN_PUB_HZ_K_ID)) || !(seen & (1u << AN_PUB_HZ_K_STATUS)))
		return -EBADMSG;
	return 0;
}

int an_pub_gw_encode(const struct an_pub_gw *g, uint8_t *buf, size_t cap, size_t *len)
{
	struct wbuf w = {buf, cap, 0, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_uint8(&pk, AN_PUB_GW_K_ID);
	msgpack_pack_uint16(&pk, g->gw_id);
	msgpack_pack_uint8(&pk, AN_PUB_GW_K_SEQ);
	msgpack_pack_uint64(&pk, g->last_gw_seq);
	msgpack_pack_uint8(&pk, AN_PUB_GW_K_BATCHES);
	msgpack_pack_uint64(&pk, g->batches);
	msgpack_pack_uint8(&pk, AN_PUB_GW_K_RECORDS);
	msgpack_pack_uint64(&pk, g->records);
	msgpack_pack_uint8(&pk, AN_PUB_GW_K_LAST);
	msgpack_pack_uint64(&pk, g->last_batch_ms);
	if (w.overflow)
		return -ENOBUFS;
	*len = w.len;
	return 0;
}

static int topic_id(const char *topic, uint64_t *id)
{
	const char *slash = strchr(topic, '/');
	if (!slash || !slash[1])
		return -EBADMSG;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(slash + 1, &end, 10);
	if (errno || *end || slash[1] == '-')
		return -EBADMSG;
	*id = v;
	return 0;
}

int pub_key_of(enum an_pub_stream s, const char *topic, const uint8_t *body, size_t len, uint64_t *key, bool *remove)
{
	uint64_t id;
	*remove = false;
	if (pub_topic_stream(topic) != (int)s || topic_id(topic, &id))
		return -EBADMSG;
	switch (s) {
	case AN_PUB_IND: {
		struct proto_ind in;
		if (proto_ind_decode(body, len, &in, NULL) != 0)
			return -EBADMSG;
		*key = id << 32 | in.rec_seq;
		return 0;
	}
	case AN_PUB_HAZARD: {
		struct an_pub_hazard h;
		if (an_pub_hazard_decode(body, len, &h) || h.id != id)
			return -EBADMSG;
		*remove = h.status == 9;
		*key = id;
		return 0;
	}
	case AN_PUB_FIX:
	case AN_PUB_STATUS:
		*key = id;
		return 0;
	default:
		return -EBADMSG;
	}
}

/* ---- server ----------------------------------------------------------------------------------------------- */

struct an_pub {
	void *pub, *snap;
	uint64_t epoch;
	uint64_t seq[AN_PUB_STREAMS];
	struct pub_map map[AN_PUB_STREAMS];
	size_t max_items;
	uint64_t last_pub_ms, last_total;
	bool have_time;
	struct an_pub_stats st;
	an_pub_tap_fn tap;
	void *tap_ctx;
};

void an_pub_set_tap(struct an_pub *p, an_pub_tap_fn fn, void *ctx)
{
	p->tap = fn;
	p->tap_ctx = ctx;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int bind_sock(void *s, const char *ep, const char *what, char *errbuf, size_t errcap)
{
	if (zmq_bind(s, ep) == 0)
		return 0;
	int e = zmq_errno();
	snprintf(errbuf, errcap, "%s: cannot bind %s: %s", what, ep, zmq_strerror(e));
	return e == EADDRINUSE ? -EADDRINUSE : e == EINVAL || e == EPROTONOSUPPORT ? -EINVAL : -EIO;
}

int an_pub_open(const struct an_pub_config *cfg, struct an_pub **out, char *errbuf, size_t errcap)
{
	char dummy[1];
	if (!errbuf) {
		errbuf = dummy;
		errcap = sizeof dummy;
	}
	if (!cfg || !out || !cfg->zctx) {
		snprintf(errbuf, errcap, "an_pub_open: NULL argument");
		return -EINVAL;
	}
	*out = NULL;
	struct an_pub *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	int rc;
	p->max_items = cfg->max_items ? cfg->max_items : AN_PUB_MAX_ITEMS_DEFAULT;
	p->epoch = cfg->epoch;
	while (!p->epoch) {
		/* Epochs only have to differ between starts of one core; the clock backs up getrandom. */
		if (getrandom(&p->epoch, sizeof p->epoch, GRND_NONBLOCK) != (ssize_t)sizeof p->epoch) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			p->epoch = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
	}
	p->pub = zmq_socket(cfg->zctx, ZMQ_PUB);
	p->snap = zmq_socket(cfg->zctx, ZMQ_ROUTER);
	if (!p->pub || !p->snap) {
		snprintf(errbuf, errcap, "an_pub_open: zmq_socket: %s", zmq_strerror(zmq_errno()));
		rc = -EIO;
		goto out_close;
	}
	int hwm = cfg->sndhwm > 0 ? cfg->sndhwm : AN_PUB_SNDHWM, zero = 0, one = 1;
	int snap_hwm = p->max_items + 2 > (size_t)INT32_MAX ? INT32_MAX : (int)(p->max_items + 2);
	zmq_setsockopt(p->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(p->pub, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(p->snap, ZMQ_SNDHWM, &snap_hwm, sizeof snap_hwm);
	zmq_setsockopt(p->snap, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(p->snap, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	int64_t maxmsg = 4096; /* requests are tiny; anything bigger is not ours (libzmq drops the peer) */
	zmq_setsockopt(p->snap, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	if ((rc = bind_sock(p->pub, cfg->pub_endpoint ? cfg->pub_endpoint : AN_PUB_ENDPOINT_DEFAULT, "pub", errbuf,
	                    errcap)))
		goto out_close;
	if ((rc = bind_sock(p->snap, cfg->snap_endpoint ? cfg->snap_endpoint : AN_PUB_SNAPSHOT_ENDPOINT_DEFAULT,
	                    "snapshot", errbuf, errcap)))
		goto out_close;
	*out = p;
	return 0;
out_close:
	if (p->pub)
		zmq_close(p->pub);
	if (p->snap)
		zmq_close(p->snap);
	free(p);
	return rc;
}

void an_pub_close(struct an_pub *p)
{
	if (!p)
		return;
	zmq_close(p->pub);
	zmq_close(p->snap);
	for (int i = 0; i < AN_PUB_STREAMS; i++)
		pub_map_free(&p->map[i]);
	free(p);
}

uint64_t an_pub_epoch(const struct an_pub *p)
{
	return p->epoch;
}

uint64_t an_pub_seq(const struct an_pub *p, enum an_pub_stream s)
{
	return (unsigned)s < AN_PUB_STREAMS ? p->seq[s] : 0;
}

int an_pub_endpoints(struct an_pub *p, char *pub, size_t pub_cap, char *snap, size_t snap_cap)
{
	size_t n = pub_cap;
	if (zmq_getsockopt(p->pub, ZMQ_LAST_ENDPOINT, pub, &n))
		return zmq_errno() == EINVAL ? -ENOBUFS : -EIO;
	n = snap_cap;
	if (zmq_getsockopt(p->snap, ZMQ_LAST_ENDPOINT, snap, &n))
		return zmq_errno() == EINVAL ? -ENOBUFS : -EIO;
	return 0;
}

/* [topic][seq|epoch][body] to sock (PUB, or ROUTER after the routing id frame). */
static int send3(void *sock, const char *topic, uint64_t seq, uint64_t epoch, const uint8_t *body, size_t len,
                 int flags)
{
	uint8_t se[16];
	put_le64(se, seq);
	put_le64(se + 8, epoch);
	if (zmq_send(sock, topic, strlen(topic), flags | ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, se, sizeof se, flags | ZMQ_SNDMORE) < 0 || zmq_send(sock, body, len, flags) < 0)
		return -zmq_errno();
	return 0;
}

int an_pub_put(struct an_pub *p, enum an_pub_stream s, uint64_t key, const char *topic, const uint8_t *body,
               size_t len, bool publish)
{
	if (!p || (unsigned)s >= AN_PUB_STREAMS || !topic || (!body && len))
		return -EINVAL;
	bool remove = false;
	if (s == AN_PUB_HAZARD) {
		struct an_pub_hazard h;
		if (an_pub_hazard_decode(body, len, &h))
			return -EINVAL;
		remove = h.status == 9;
	}
	uint64_t seq = publish ? p->seq[s] + 1 : 0;
	int rc = pub_map_set(&p->map[s], key, seq, topic, body, len, remove, p->max_items);
	if (rc == -ENOSPC)
		p->st.refused_full++;
	if (!rc && p->tap)
		p->tap(p->tap_ctx, s, key, seq, body, len);
	if (rc || !publish)
		return rc;
	p->seq[s] = seq;
	p->st.published[s]++;
	/* The map already holds the update, so the sequence is consumed even if the send fails: a subscriber
	 * then sees a hole and re-snapshots, which is right. PUB never blocks (drops at HWM). */
	if (send3(p->pub, topic, seq, p->epoch, body, len, ZMQ_DONTWAIT)) {
		p->st.send_errors++;
		return -EIO;
	}
	return 0;
}

int an_pub_fix(struct an_pub *p, uint16_t collar_id, const struct proto_fix *f, bool publish)
{
	uint8_t body[AN_PUB_BODY_MAX];
	size_t len;
	char topic[AN_PUB_TOPIC_MAX];
	if (proto_fix_encode(f, body, sizeof body, &len) != 0)
		return -EINVAL;
	snprintf(topic, sizeof topic, "fix/%u", (unsigned)collar_id);
	return an_pub_put(p, AN_PUB_FIX, collar_id, topic, body, len, publish);
}

int an_pub_ind(struct an_pub *p, uint16_t collar_id, const struct proto_ind *i, bool publish)
{
	uint8_t body[AN_PUB_BODY_MAX];
	size_t len;
	char topic[AN_PUB_TOPIC_MAX];
	if (proto_ind_encode(i, body, sizeof body, &len) != 0)
		return -EINVAL;
	snprintf(topic, sizeof topic, "ind/%u", (unsigned)collar_id);
	return an_pub_put(p, AN_PUB_IND, (uint64_t)collar_id << 32 | i->rec_seq, topic, body, len, publish);
}

int an_pub_hazard(struct an_pub *p, const struct an_pub_hazard *h, bool publish)
{
	uint8_t body[AN_PUB_BODY_MAX];
	size_t len;
	char topic[AN_PUB_TOPIC_MAX];
	if (an_pub_hazard_encode(h, body, sizeof body, &len))
		return -ENOBUFS;
	snprintf(topic, sizeof topic, "hazard/%" PRIu64, h->id);
	return an_pub_put(p, AN_PUB_HAZARD, h->id, topic, body, len, publish);
}

int an_pub_gateway(struct an_pub *p, const struct an_pub_gw *g, bool publish)
{
	uint8_t body[AN_PUB_BODY_MAX];
	size_t len;
	char topic[AN_PUB_TOPIC_MAX];
	if (an_pub_gw_encode(g, body, sizeof body, &len))
		return -ENOBUFS;
	snprintf(topic, sizeof topic, "status/%u", (unsigned)g->gw_id);
	return an_pub_put(p, AN_PUB_STATUS, g->gw_id, topic, body, len, publish);
}

int an_pub_get(struct an_pub *p, enum an_pub_stream s, uint64_t key, const uint8_t **body, size_t *len)
{
	if (!p || (unsigned)s >= AN_PUB_STREAMS)
		return -EINVAL;
	long k = map_find(&p->map[s], key);
	if (k < 0 || !p->map[s].items[k].live)
		return -ENOENT;
	*body = p->map[s].items[k].body;
	*len = p->map[s].items[k].len;
	return 0;
}

uint64_t an_pub_tick(struct an_pub *p, uint64_t now_ms)
{
	/* "Idle" = no update since the last tick moved the mark; the publish path itself reads no clock. */
	uint64_t total = p->st.published[0] + p->st.published[1] + p->st.published[2] + p->st.published[3];
	if (!p->have_time || total != p->last_total) {
		p->have_time = true;
		p->last_total = total;
		p->last_pub_ms = now_ms;
	}
	if (now_ms - p->last_pub_ms < AN_PUB_HUGZ_MS)
		return p->last_pub_ms + AN_PUB_HUGZ_MS - now_ms;
	uint8_t body[64];
	struct wbuf w = {body, sizeof body, 0, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_map(&pk, 1 + AN_PUB_STREAMS);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint64(&pk, p->epoch);
	for (unsigned i = 0; i < AN_PUB_STREAMS; i++) {
		msgpack_pack_uint8(&pk, (uint8_t)(2 + i));
		msgpack_pack_uint64(&pk, p->seq[i]);
	}
	if (send3(p->pub, "HUGZ", 0, p->epoch, body, w.len, ZMQ_DONTWAIT))
		p->st.send_errors++;
	else
		p->st.hugz++;
	p->last_pub_ms = now_ms;
	return AN_PUB_HUGZ_MS;
}

size_t an_pub_pollitems(struct an_pub *p, void *items, size_t cap)
{
	if (cap < 1)
		return 0;
	zmq_pollitem_t *it = items;
	it[0] = (zmq_pollitem_t){.socket = p->snap, .events = ZMQ_POLLIN};
	return 1;
}

static void drain_rest(void *sock)
{
	int more = 1;
	size_t sz = sizeof more;
	while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
		zmq_msg_close(&m);
		sz = sizeof more;
	}
}

static int send_id(void *sock, const zmq_msg_t *id)
{
	return zmq_send(sock, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static void snap_error(struct an_pub *p, const zmq_msg_t *id, const char *text)
{
	if (send_id(p->snap, id) == 0)
		send3(p->snap, "ERROR", 0, p->epoch, (const uint8_t *)text, strlen(text), ZMQ_DONTWAIT);
}

static void answer(struct an_pub *p, const zmq_msg_t *id, int s)
{
	const size_t *o;
	size_t n;
	struct pub_map *m = &p->map[s];
	if (pub_map_order(m, &o, &n)) {
		snap_error(p, id, "out of memory");
		p->st.snapshot_aborted++;
		return;
	}
	for (size_t j = 0; j < n; j++) {
		const struct pub_item *it = &m->items[o[j]];
		if (send_id(p->snap, id) || send3(p->snap, it->topic, it->seq, p->epoch, it->body, it->len, ZMQ_DONTWAIT)) {
			/* EAGAIN (the client's pipe is full) or EHOSTUNREACH (gone): give up on this client; a partial
			 * snapshot has no KTHXBAI, so the client times out and asks again. */
			p->st.snapshot_aborted++;
			return;
		}
	}
	uint8_t body[16];
	struct wbuf w = {body, sizeof body, 0, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint64(&pk, n);
	if (send_id(p->snap, id) || send3(p->snap, "KTHXBAI", p->seq[s], p->epoch, body, w.len, ZMQ_DONTWAIT)) {
		p->st.snapshot_aborted++;
		return;
	}
	p->st.snapshots++;
	p->st.snapshot_items += n;
}

int an_pub_service(struct an_pub *p, unsigned budget)
{
	if (!budget)
		budget = 64;
	for (unsigned k = 0; k < budget; k++) {
		zmq_msg_t id, cmd, arg;
		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, p->snap, ZMQ_DONTWAIT) < 0) {
			int e = zmq_errno();
			zmq_msg_close(&id);
			return e == EAGAIN || e == EINTR ? 0 : -EIO;
		}
		zmq_msg_init(&cmd);
		zmq_msg_init(&arg);
		int ok = zmq_msg_more(&id) && zmq_msg_recv(&cmd, p->snap, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&cmd) &&
		         zmq_msg_recv(&arg, p->snap, ZMQ_DONTWAIT) >= 0 && !zmq_msg_more(&arg);
		if (!ok)
			drain_rest(p->snap);
		char name[16] = "";
		if (ok && zmq_msg_size(&cmd) == 8 && memcmp(zmq_msg_data(&cmd), "SNAPSHOT", 8) == 0 &&
		    zmq_msg_size(&arg) < sizeof name) {
			memcpy(name, zmq_msg_data(&arg), zmq_msg_size(&arg));
			name[zmq_msg_size(&arg)] = 0;
		}
		int s = an_pub_stream_parse(name);
		if (s < 0) {
			p->st.snapshot_bad++;
			snap_error(p, &id, "expected [SNAPSHOT][fix|ind|hazard|status]");
		} else {
			answer(p, &id, s);
		}
		zmq_msg_close(&arg);
		zmq_msg_close(&cmd);
		zmq_msg_close(&id);
	}
	return 0;
}

void an_pub_stats(const struct an_pub *p, struct an_pub_stats *st)
{
	*st = p->st;
	for (int i = 0; i < AN_PUB_STREAMS; i++)
		st->items[i] = p->map[i].live;
}

uint64_t an_pub_digest(const struct an_pub *p, enum an_pub_stream s)
{
	return (unsigned)s < AN_PUB_STREAMS ? pub_map_digest((struct pub_map *)&p->map[s]) : 0;
}
