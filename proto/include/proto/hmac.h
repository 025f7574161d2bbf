/*
 * proto/hmac.h — SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), heap-free, for collar and gateway alike.
 *
 * The frame tag is the first 8 bytes of HMAC-SHA256(collar key, header‖body). A 64-bit tag is stronger than
 * MAVLink's 48-bit SHA-256(key‖msg) and, unlike MAVLink signing, does not depend on GNSS time.
 * Keys are 32 bytes, provisioned only over the USB dock.
 *
 * Performance note: proto_hmac_init() precomputes the inner and outer pad states once per key, so a tag
 * over a short frame costs two compressions, not four. The gateway keeps one proto_hmac_key per collar.
 */
#ifndef PROTO_HMAC_H
#define PROTO_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_SHA256_LEN 32u
#define PROTO_KEY_LEN 32u

struct proto_sha256 {
	uint32_t h[8];
	uint64_t n_bytes;
	uint8_t block[64];
	uint32_t n_block;
};

void proto_sha256_init(struct proto_sha256 *s);
void proto_sha256_update(struct proto_sha256 *s, const void *data, size_t len);
void proto_sha256_final(struct proto_sha256 *s, uint8_t out[PROTO_SHA256_LEN]);

/* A key with its HMAC pad states precomputed (RFC 2104 §4 "implementation note"). */
struct proto_hmac_key {
	struct proto_sha256 inner; /* state after absorbing key ^ ipad */
	struct proto_sha256 outer; /* state after absorbing key ^ opad */
};

/* Keys longer than 64 bytes are hashed first, as RFC 2104 requires (RFC 4231 test case 6). */
void proto_hmac_init(struct proto_hmac_key *k, const uint8_t *key, size_t key_len);
void proto_hmac(const struct proto_hmac_key *k, const void *msg, size_t len, uint8_t out[PROTO_SHA256_LEN]);

/* Constant-time comparison: returns 0 when equal. Time depends only on len, never on the contents. */
int proto_ct_compare(const void *a, const void *b, size_t len);

#endif
