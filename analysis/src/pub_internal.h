/* analysis/src/pub_internal.h — the key → value map shared by the PUB server and the Clone client. */
#ifndef AN_PUB_INTERNAL_H
#define AN_PUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/pub.h"

struct pub_item {
	uint64_t key, seq;
	char topic[AN_PUB_TOPIC_MAX];
	uint8_t *body;
	size_t len;
	bool live;
};

/* Items are never moved or freed before the map is: a removed key stays as a dead item, so the hash
 * (open addressing, linear probing, key → index + 1) never needs tombstones. Dead items are reused when
 * their key comes back; hazard points are the only stream that removes keys and they are few. */
struct pub_map {
	struct pub_item *items;
	size_t n, cap, live;
	uint32_t *slots; /* index + 1, 0 = empty */
	size_t nslots;
	size_t *order;   /* live indexes in key order, rebuilt lazily */
	bool order_dirty;
};

void pub_map_free(struct pub_map *m);
void pub_map_clear(struct pub_map *m);
/* Set (or remove when remove = true) key. max = item cap. @retval 0; -ENOSPC; -ENOMEM; -EINVAL */
int pub_map_set(struct pub_map *m, uint64_t key, uint64_t seq, const char *topic, const uint8_t *body, size_t len,
                bool remove, size_t max);
/* Live items in key order (valid until the next set). @retval 0, -ENOMEM */
int pub_map_order(struct pub_map *m, const size_t **order, size_t *n);
uint64_t pub_map_digest(struct pub_map *m);

/* The map key of an update, from its topic and body; *remove for a retired hazard point.
 * @retval 0; -EBADMSG */
int pub_key_of(enum an_pub_stream s, const char *topic, const uint8_t *body, size_t len, uint64_t *key,
               bool *remove);
/* Stream of a topic ("fix/…" → AN_PUB_FIX), -EINVAL if none. */
int pub_topic_stream(const char *topic);

#endif
