/* COBS: the examples from Cheshire & Baker's paper (as tabulated in the literature), round trips, and
 * rejection of malformed input. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cobs.h"
#include "proto/err.h"

struct vec {
	uint8_t raw[300];
	size_t raw_len;
	uint8_t enc[300];
	size_t enc_len;
};

static void check_vec(const struct vec *v)
{
	uint8_t out[300];
	size_t n = 0;
	cr_assert_eq(proto_cobs_encode(out, sizeof out, v->raw, v->raw_len, &n), 0);
	cr_assert_eq(n, v->enc_len, "encoded length %zu, want %zu", n, v->enc_len);
	cr_assert_arr_eq(out, v->enc, n);
	uint8_t back[300];
	size_t m = 0;
	cr_assert_eq(proto_cobs_decode(back, sizeof back, v->enc, v->enc_len, &m), 0);
	cr_assert_eq(m, v->raw_len);
	cr_assert_arr_eq(back, v->raw, m);
}

#define V(r, e)                                                                                              \
	do {                                                                                                 \
		static const uint8_t rr[] = r, ee[] = e;                                                     \
		struct vec v = {.raw_len = sizeof rr, .enc_len = sizeof ee};                                 \
		memcpy(v.raw, rr, sizeof rr);                                                                \
		memcpy(v.enc, ee, sizeof ee);                                                                \
		check_vec(&v);                                                                               \
	} while (0)
#define B(...) {__VA_ARGS__}

Test(proto_cobs, paper_short_examples)
{
	V(B(0x00), B(0x01, 0x01));
	V(B(0x00, 0x00), B(0x01, 0x01, 0x01));
	V(B(0x00, 0x11, 0x00), B(0x01, 0x02, 0x11, 0x01));
	V(B(0x11, 0x22, 0x00, 0x33), B(0x03, 0x11, 0x22, 0x02, 0x33));
	V(B(0x11, 0x22, 0x33, 0x44), B(0x05, 0x11, 0x22, 0x33, 0x44));
	V(B(0x11, 0x00, 0x00, 0x00), B(0x02, 0x11, 0x01, 0x01, 0x01));
}

Test(proto_cobs, empty_input_is_one_code_byte)
{
	uint8_t out[4];
	size_t n = 0;
	cr_assert_eq(proto_cobs_encode(out, sizeof out, NULL, 0, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0], 0x01);
}

/* The long examples exercise the 254-byte block boundary, where off-by-one bugs live. */
Test(proto_cobs, paper_block_boundary_examples)
{
	struct vec v;
	/* 01..FE (254 bytes) -> FF 01..FE */
	v.raw_len = 254;
	for (int i = 0; i < 254; i++)
		v.raw[i] = (uint8_t)(i + 1);
	v.enc[0] = 0xFF;
	memcpy(v.enc + 1, v.raw, 254);
	v.enc_len = 255;
	check_vec(&v);
	/* 00 01..FE (255 bytes) -> 01 FF 01..FE */
	v.raw[0] = 0;
	for (int i = 1; i < 255; i++)
		v.raw[i] = (uint8_t)i;
	v.raw_len = 255;
	v.enc[0] = 0x01;
	v.enc[1] = 0xFF;
	memcpy(v.enc + 2, v.raw + 1, 254);
	v.enc_len = 256;
	check_vec(&v);
	/* 01..FF (255 bytes) -> FF 01..FE 02 FF */
	for (int i = 0; i < 255; i++)
		v.raw[i] = (uint8_t)(i + 1);
	v.raw_len = 255;
	v.enc[0] = 0xFF;
	memcpy(v.enc + 1, v.raw, 254);
	v.enc[255] = 0x02;
	v.enc[256] = 0xFF;
	v.enc_len = 257;
	check_vec(&v);
	/* 02..FF 00 (255 bytes) -> FF 02..FF 01 01 */
	for (int i = 0; i < 254; i++)
		v.raw[i] = (uint8_t)(i + 2);
	v.raw[254] = 0;
	v.raw_len = 255;
	v.enc[0] = 0xFF;
	memcpy(v.enc + 1, v.raw, 254);
	v.enc[255] = 0x01;
	v.enc[256] = 0x01;
	v.enc_len = 257;
	check_vec(&v);
	/* 03..FF 00 01 (255 bytes) -> FE 03..FF 02 01 */
	for (int i = 0; i < 253; i++)
		v.raw[i] = (uint8_t)(i + 3);
	v.raw[253] = 0;
	v.raw[254] = 1;
	v.raw_len = 255;
	v.enc[0] = 0xFE;
	memcpy(v.enc + 1, v.raw, 253);
	v.enc[254] = 0x02;
	v.enc[255] = 0x01;
	v.enc_len = 256;
	check_vec(&v);
}

Test(proto_cobs, random_round_trips_never_contain_zero_and_respect_max)
{
	srand(1234);
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t raw[600], enc[PROTO_COBS_MAX(600)], back[600];
		size_t len = (size_t)rand() % sizeof raw;
		int zero_bias = rand() % 4; /* from no zeros to mostly zeros */
		for (size_t i = 0; i < len; i++)
			raw[i] = (rand() % 4 < zero_bias) ? 0 : (uint8_t)(1 + rand() % 255);
		size_t n, m;
		cr_assert_eq(proto_cobs_encode(enc, PROTO_COBS_MAX(len), raw, len, &n), 0);
		cr_assert_leq(n, PROTO_COBS_MAX(len));
		cr_assert_null(memchr(enc, 0, n), "stuffed output contains 0x00");
		cr_assert_eq(proto_cobs_decode(back, sizeof back, enc, n, &m), 0);
		cr_assert_eq(m, len);
		cr_assert_arr_eq(back, raw, len);
	}
}

Test(proto_cobs, decodes_in_place)
{
	uint8_t buf[] = {0x03, 0x11, 0x22, 0x02, 0x33};
	size_t n;
	cr_assert_eq(proto_cobs_decode(buf, sizeof buf, buf, sizeof buf, &n), 0);
	cr_assert_eq(n, 4);
	uint8_t want[] = {0x11, 0x22, 0x00, 0x33};
	cr_assert_arr_eq(buf, want, 4);
}

Test(proto_cobs, rejects_code_past_end_and_embedded_zero)
{
	uint8_t out[16];
	size_t n;
	uint8_t past[] = {0x05, 0x11, 0x22};
	cr_assert_eq(proto_cobs_decode(out, sizeof out, past, sizeof past, &n), PROTO_EFRAME_COBS);
	uint8_t zero[] = {0x03, 0x11, 0x00};
	cr_assert_eq(proto_cobs_decode(out, sizeof out, zero, sizeof zero, &n), PROTO_EFRAME_COBS);
	uint8_t zcode[] = {0x00};
	cr_assert_eq(proto_cobs_decode(out, sizeof out, zcode, sizeof zcode, &n), PROTO_EFRAME_COBS);
}

Test(proto_cobs, reports_small_buffers)
{
	uint8_t raw[10] = {1, 2, 3}, enc[3], out[2];
	size_t n;
	cr_assert_eq(proto_cobs_encode(enc, sizeof enc, raw, sizeof raw, &n), PROTO_ENOBUFS);
	uint8_t src[] = {0x04, 1, 2, 3};
	cr_assert_eq(proto_cobs_decode(out, sizeof out, src, sizeof src, &n), PROTO_ENOBUFS);
}
