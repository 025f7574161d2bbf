/* SHA-256 against FIPS 180-4 examples, HMAC-SHA256 against RFC 4231 §4.2–4.8, constant-time compare. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/hmac.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_sha(const void *msg, size_t len, const char *want)
{
	struct proto_sha256 s;
	uint8_t d[32];
	char h[65];
	proto_sha256_init(&s);
	proto_sha256_update(&s, msg, len);
	proto_sha256_final(&s, d);
	hex(d, 32, h);
	cr_assert_str_eq(h, want);
}

Test(proto_sha256, fips180_examples)
{
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check_sha(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(proto_sha256, million_a_in_odd_chunks)
{
	struct proto_sha256 s;
	uint8_t chunk[997], d[32];
	char h[65];
	memset(chunk, 'a', sizeof chunk);
	proto_sha256_init(&s);
	size_t left = 1000000;
	while (left) {
		size_t n = left < sizeof chunk ? left : sizeof chunk;
		proto_sha256_update(&s, chunk, n);
		left -= n;
	}
	proto_sha256_final(&s, d);
	hex(d, 32, h);
	cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

struct rfc4231 {
	uint8_t key[131];
	size_t key_len;
	const char *data;
	size_t data_len;
	const char *mac_hex; /* full or truncated (case 5) */
};

static void check_hmac(const struct rfc4231 *c)
{
	struct proto_hmac_key k;
	uint8_t mac[32];
	char h[65];
	proto_hmac_init(&k, c->key, c->key_len);
	proto_hmac(&k, c->data, c->data_len, mac);
	hex(mac, 32, h);
	cr_assert_eq(strncmp(h, c->mac_hex, strlen(c->mac_hex)), 0, "got %s want %s", h, c->mac_hex);
}

Test(proto_hmac, rfc4231_test_cases)
{
	struct rfc4231 c;
	/* 4.2 test case 1 */
	memset(c.key, 0x0b, 20);
	c.key_len = 20;
	c.data = "Hi There";
	c.data_len = 8;
	c.mac_hex = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
	check_hmac(&c);
	/* 4.3 test case 2: key shorter than the output */
	memcpy(c.key, "Jefe", 4);
	c.key_len = 4;
	c.data = "what do ya want for nothing?";
	c.data_len = 28;
	c.mac_hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	check_hmac(&c);
	/* 4.4 test case 3: 50 bytes of 0xdd */
	static char dd[50], cd[50];
	memset(dd, 0xdd, sizeof dd);
	memset(c.key, 0xaa, 20);
	c.key_len = 20;
	c.data = dd;
	c.data_len = 50;
	c.mac_hex = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
	check_hmac(&c);
	/* 4.5 test case 4 */
	for (int i = 0; i < 25; i++)
		c.key[i] = (uint8_t)(i + 1);
	c.key_len = 25;
	memset(cd, 0xcd, sizeof cd);
	c.data = cd;
	c.data_len = 50;
	c.mac_hex = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
	check_hmac(&c);
	/* 4.6 test case 5: truncated to 128 bits (our tags truncate the same way, to 64) */
	memset(c.key, 0x0c, 20);
	c.key_len = 20;
	c.data = "Test With Truncation";
	c.data_len = 20;
	c.mac_hex = "a3b6167473100ee06e0c796c2955552b";
	check_hmac(&c);
	/* 4.7 test case 6: key longer than the block is hashed first */
	memset(c.key, 0xaa, 131);
	c.key_len = 131;
	c.data = "Test Using Larger Than Block-Size Key - Hash Key First";
	c.data_len = strlen(c.data);
	c.mac_hex = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
	check_hmac(&c);
	/* 4.8 test case 7 */
	c.data = "This is a test using a larger than block-size key and a larger than block-size data. The key "
	         "needs to be hashed before being used by the HMAC algorithm.";
	c.data_len = strlen(c.data);
	c.mac_hex = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
	check_hmac(&c);
}

Test(proto_hmac, ct_compare_finds_any_single_difference)
{
	uint8_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8];
	memcpy(b, a, 8);
	cr_assert_eq(proto_ct_compare(a, b, 8), 0);
	for (int i = 0; i < 8; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(b, a, 8);
			b[i] ^= (uint8_t)(1u << bit);
			cr_assert_neq(proto_ct_compare(a, b, 8), 0);
		}
}

/* Where the CPU has SHA extensions the host build uses them; both paths must give the same digests for
 * every length (block boundaries, multi-block updates). */
void proto__sha256_force_portable(int on);

Test(proto_sha256, accelerated_and_portable_agree)
{
	static uint8_t msg[1000];
	uint32_t x = 17;
	for (size_t i = 0; i < sizeof msg; i++) {
		x = x * 1664525u + 1013904223u;
		msg[i] = (uint8_t)(x >> 24);
	}
	for (size_t len = 0; len <= sizeof msg; len += (len < 200 ? 1 : 37)) {
		uint8_t a[32], b[32];
		struct proto_sha256 s;
		proto__sha256_force_portable(0);
		proto_sha256_init(&s);
		proto_sha256_update(&s, msg, len);
		proto_sha256_final(&s, a);
		proto__sha256_force_portable(1);
		proto_sha256_init(&s);
		proto_sha256_update(&s, msg, len / 3);
		proto_sha256_update(&s, msg + len / 3, len - len / 3);
		proto_sha256_final(&s, b);
		proto__sha256_force_portable(0);
		cr_assert_arr_eq(a, b, 32, "digest differs at length %zu", len);
	}
}
