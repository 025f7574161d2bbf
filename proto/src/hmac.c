/*
 * proto/src/hmac.c — SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), portable C, no heap, no tables in RAM.
 *
 * Written here rather than taken from a crypto library because the same code must run on the collar's MCU
 * with no OS and no allocator. It is checked against the FIPS 180-4 examples and RFC 4231's HMAC test cases
 * (tests/proto/hmac_test.c).
 */
#include "proto/hmac.h"

#include <string.h>

#include "sha256_internal.h"

static const uint32_t K[64] = {
	0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
	0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
	0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
	0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
	0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
	0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
	0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
	0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32u - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void compress(uint32_t h[8], const uint8_t block[64])
{
	uint32_t w[64];
	for (unsigned i = 0; i < 16; i++)
		w[i] = load_be32(block + 4 * i);
	for (unsigned i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (unsigned i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

/* Which compression runs: resolved on first use. A benign race between threads resolving it at once:
 * they all store the same answer. */
static proto__sha256_blocks_fn accel;
static int accel_resolved, force_portable;

void proto__sha256_force_portable(int on)
{
	force_portable = on;
}

static void compress_blocks(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	if (!accel_resolved) {
		accel = proto__sha256_accel();
		accel_resolved = 1;
	}
	if (accel && !force_portable) {
		accel(h, p, nblocks);
		return;
	}
	while (nblocks--) {
		compress(h, p);
		p += 64;
	}
}

void proto_sha256_init(struct proto_sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
	                               0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
	memcpy(s->h, iv, sizeof iv);
	s->n_bytes = 0;
	s->n_block = 0;
}

void proto_sha256_update(struct proto_sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	s->n_bytes += len;
	if (s->n_block) {
		size_t take = 64u - s->n_block;
		if (take > len)
			take = len;
		memcpy(s->block + s->n_block, p, take);
		s->n_block += (uint32_t)take;
		p += take;
		len -= take;
		if (s->n_block < 64)
			return;
		compress_blocks(s->h, s->block, 1);
		s->n_block = 0;
	}
	if (len >= 64) {
		compress_blocks(s->h, p, len / 64);
		p += len / 64 * 64;
		len %= 64;
	}
	memcpy(s->block, p, len);
	s->n_block = (uint32_t)len;
}

void proto_sha256_final(struct proto_sha256 *s, uint8_t out[PROTO_SHA256_LEN])
{
	uint64_t bits = s->n_bytes * 8u;
	s->block[s->n_block++] = 0x80;
	if (s->n_block > 56) {
		memset(s->block + s->n_block, 0, 64u - s->n_block);
		compress_blocks(s->h, s->block, 1);
		s->n_block = 0;
	}
	memset(s->block + s->n_block, 0, 56u - s->n_block);
	store_be32(s->block + 56, (uint32_t)(bits >> 32));
	store_be32(s->block + 60, (uint32_t)bits);
	compress_blocks(s->h, s->block, 1);
	for (unsigned i = 0; i < 8; i++)
		store_be32(out + 4 * i, s->h[i]);
}

void proto_hmac_init(struct proto_hmac_key *k, const uint8_t *key, size_t key_len)
{
	uint8_t kb[64] = {0};
	if (key_len > 64) {
		struct proto_sha256 s;
		proto_sha256_init(&s);
		proto_sha256_update(&s, key, key_len);
		proto_sha256_final(&s, kb);
	} else {
		memcpy(kb, key, key_len);
	}
	uint8_t pad[64];
	for (unsigned i = 0; i < 64; i++)
		pad[i] = kb[i] ^ 0x36u;
	proto_sha256_init(&k->inner);
	proto_sha256_update(&k->inner, pad, 64);
	for (unsigned i = 0; i < 64; i++)
		pad[i] = kb[i] ^ 0x5cu;
	proto_sha256_init(&k->outer);
	proto_sha256_update(&k->outer, pad, 64);
	/* Key material must not linger on the stack of a collar that may be dumped. */
	volatile uint8_t *v = kb;
	for (unsigned i = 0; i < 64; i++)
		v[i] = 0;
	v = pad;
	for (unsigned i = 0; i < 64; i++)
		v[i] = 0;
}

void proto_hmac(const struct proto_hmac_key *k, const void *msg, size_t len, uint8_t out[PROTO_SHA256_LEN])
{
	struct proto_sha256 s = k->inner;
	uint8_t inner[PROTO_SHA256_LEN];
	proto_sha256_update(&s, msg, len);
	proto_sha256_final(&s, inner);
	s = k->outer;
	proto_sha256_update(&s, inner, sizeof inner);
	proto_sha256_final(&s, out);
}

int proto_ct_compare(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= (uint8_t)(x[i] ^ y[i]);
	return diff != 0;
}
