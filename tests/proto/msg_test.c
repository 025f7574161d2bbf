/*
 * tests/proto/msg_test.c — message bodies (proto/msg.h): round trips over seeded random messages of every
 * type, hostile bodies refused with their exact error code and location, the FIXB airtime budget, and proof
 * that decoding allocates nothing.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack/pack.h>

#include "interop/msg_gen.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/msg.h"
#include "samples.h"

#define BUF_MAX (PROTO_BATCH_BODY_MAX + 64)

static uint8_t body[BUF_MAX], body2[BUF_MAX], tmp[BUF_MAX];
static struct proto_msg m1, m2;
static struct gen g;

/* ---- helpers: taking a valid body apart at the top-level map and putting it back together ------------ */

struct kv {
	const uint8_t *k, *v;
	size_t klen, vlen;
	int64_t key;
};

static size_t split_map(const uint8_t *b, size_t len, struct kv *kv)
{
	struct proto_mp_reader r;
	struct proto_mp_obj o;
	proto_mp_reader_init(&r, b, len);
	cr_assert_eq(proto_mp_read(&r, &o), 0);
	cr_assert_eq(o.kind, PROTO_MP_MAP);
	for (size_t i = 0; i < o.n; i++) {
		struct proto_mp_obj ko;
		size_t at = r.pos;
		cr_assert_eq(proto_mp_read(&r, &ko), 0);
		kv[i].k = b + at;
		kv[i].klen = r.pos - at;
		kv[i].key = (int64_t)ko.u;
		at = r.pos;
		cr_assert_eq(proto_mp_skip(&r), 0);
		kv[i].v = b + at;
		kv[i].vlen = r.pos - at;
	}
	return o.n;
}

static size_t build_map(uint8_t *out, const struct kv *kv, size_t n)
{
	size_t len = 0;
	if (n < 16) {
		out[len++] = (uint8_t)(0x80u | n);
	} else {
		out[len++] = 0xde;
		out[len++] = (uint8_t)(n >> 8);
		out[len++] = (uint8_t)n;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(out + len, kv[i].k, kv[i].klen);
		len += kv[i].klen;
		memcpy(out + len, kv[i].v, kv[i].vlen);
		len += kv[i].vlen;
	}
	return len;
}

struct wb {
	uint8_t b[16];
	size_t n;
};
static int wb_write(void *data, const char *p, size_t n)
{
	struct wb *w = data;
	memcpy(w->b + w->n, p, n);
	w->n += n;
	return 0;
}
static struct wb packed_int(int64_t v)
{
	struct wb w = {.n = 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wb_write);
	msgpack_pack_int64(&pk, v);
	return w;
}

static int encode(const struct proto_msg *m, uint8_t *b, size_t *len)
{
	return proto_msg_encode(m, b, BUF_MAX, len);
}

/* Replace the value of key in a valid body with raw bytes; returns the new length. */
static size_t with_value(const uint8_t *b, size_t len, int64_t key, const uint8_t *v, size_t vlen, uint8_t *out)
{
	struct kv kv[32];
	size_t n = split_map(b, len, kv);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (kv[i].key == key) {
			kv[i].v = v;
			kv[i].vlen = vlen;
			found = 1;
		}
	if (!found) {
		static uint8_t kb[32];
		kb[key] = (uint8_t)key;
		kv[n].k = &kb[key];
		kv[n].klen = 1;
		kv[n].key = key;
		kv[n].v = v;
		kv[n].vlen = vlen;
		n++;
	}
	return build_map(out, kv, n);
}

static size_t with_int(const uint8_t *b, size_t len, int64_t key, int64_t value, uint8_t *out)
{
	struct wb w = packed_int(value);
	static uint8_t keep[16];
	memcpy(keep, w.b, w.n);
	return with_value(b, len, key, keep, w.n, out);
}

static size_t without_key(const uint8_t *b, size_t len, int64_t key, uint8_t *out)
{
	struct kv kv[32];
	size_t n = split_map(b, len, kv), j = 0;
	for (size_t i = 0; i < n; i++)
		if (kv[i].key != key)
			kv[j++] = kv[i];
	return build_map(out, kv, j);
}

static int decode(unsigned type, const uint8_t *b, size_t len, struct proto_msg_err *w)
{
	return proto_msg_decode(type, b, len, &m2, w);
}

/* A generated message of this type with as many keys as a few tries give (the most optional keys). */
static size_t full_body(unsigned type, uint8_t *out)
{
	size_t best = 0, best_len = 0, len;
	int tries = type == PROTO_T_BATCH ? 10 : 200;
	for (int i = 0; i < tries; i++) {
		gen_msg(&g, type, &m1);
		if (type == PROTO_T_LOG_LIST && m1.u.log_list.has == 0)
			continue;
		cr_assert_eq(encode(&m1, tmp, &len), 0);
		if (len + 64 > proto_msg_body_max(type))
			continue; /* leave room for the tests to add a key or repeat one */
		struct kv kv[32];
		size_t n = split_map(tmp, len, kv);
		if (n > best) {
			best = n;
			best_len = len;
			memcpy(out, tmp, len);
		}
	}
	return best_len;
}

/* ---- round trips ------------------------------------------------------------------------------------ */

Test(proto_msg, round_trips_random_messages_of_every_type)
{
	gen_init(&g, 0x5ce17a11);
	size_t total = 0;
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		unsigned n = type == PROTO_T_BATCH ? 300 : 3000;
		for (unsigned i = 0; i < n; i++) {
			size_t len, len2;
			struct proto_msg_err w;
			gen_msg(&g, type, &m1);
			int err = encode(&m1, body, &len);
			cr_assert_eq(err, 0, "type 0x%02x #%u: encode %s", type, i, proto_errname(err));
			cr_assert_leq(len, proto_msg_body_max(type), "type 0x%02x body %zu", type, len);
			err = decode(type, body, len, &w);
			if (err) {
				char txt[160];
				proto_msg_err_format(&w, txt, sizeof txt);
				cr_assert_fail("type 0x%02x #%u: decode %s", type, i, txt);
			}
			cr_assert(gen_msg_equal(&m1, &m2), "type 0x%02x #%u: decoded struct differs", type, i);
			/* deterministic: the decoded struct encodes to the same bytes, and so does a second run */
			cr_assert_eq(encode(&m2, body2, &len2), 0);
			cr_assert_eq(len2, len);
			cr_assert_eq(memcmp(body, body2, len), 0, "type 0x%02x #%u: re-encoding differs", type, i);
			cr_assert_eq(encode(&m1, body2, &len2), 0);
			cr_assert_eq(memcmp(body, body2, len), 0);
			total++;
		}
	}
	cr_log_info("round-tripped %zu messages of %zu types", total, (size_t)GEN_NTYPES);
}

Test(proto_msg, fixb_round_trips_random_walks_with_absent_fields)
{
	gen_init(&g, 0xf1b0);
	unsigned with_nil = 0, with_seq_col = 0, split = 0;
	for (unsigned i = 0; i < 20000; i++) {
		size_t len, used;
		struct proto_msg_err w;
		struct proto_fix fx[PROTO_FIXB_MAX];
		size_t n = 1u + i % PROTO_FIXB_MAX;
		memset(fx, 0, sizeof fx);
		gen_fix_walk(&g, fx, n);
		int err = proto_fixb_encode_fit(fx, n, body, PROTO_BODY_MAX, &len, &used);
		cr_assert_eq(err, 0, "#%u encode %s", i, proto_errname(err));
		err = proto_fixb_decode(body, len, &m2.u.fixb, &w);
		cr_assert_eq(err, 0, "#%u decode %s key %lld fix %d", i, proto_errname(err), (long long)w.key, w.index);
		cr_assert_eq(m2.u.fixb.n, used);
		cr_assert_eq(memcmp(m2.u.fixb.fix, fx, used * sizeof fx[0]), 0, "#%u differs", i);
		with_nil += memchr(body, 0xc0, len) != NULL;
		for (size_t k = 1; k < used; k++)
			if (fx[k].rec_seq != fx[k - 1].rec_seq + 1u) {
				with_seq_col++;
				break;
			}
		split += used < n;
	}
	/* the generator really produced the interesting cases */
	cr_expect_gt(with_nil, 1000);
	cr_expect_gt(with_seq_col, 1000);
	cr_log_info("FIXB walks: %u with absent cells, %u with a rec_seq column, %u split to fit one frame",
		    with_nil, with_seq_col, split);
}

/* ---- FIXB airtime budget ----------------------------------------------------------------------------- */

static double gauss(struct gen *gg)
{
	/* Box-Muller from two uniforms in (0, 1] */
	double u1 = ((double)(gen_u64(gg) >> 11) + 1.0) / 9007199254740992.0;
	double u2 = ((double)(gen_u64(gg) >> 11)) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/*
 * A rat walking a search lane near Morogoro, Tanzania at ~1.2 m/s, heading turning slowly, fixes at 1 Hz.
 * GNSS error: first-order Gauss-Markov per axis (sigma 1.5 m horizontal, 3 m vertical, tau 60 s: the error
 * of consecutive fixes is strongly correlated, as real receivers show); Doppler speed noise sigma 5 cm/s,
 * course noise sigma 2 deg; HDOP 0.9, GST h_acc 1.8 m drifting by a few mm, 9 satellites (sometimes 8/10).
 */
struct walker {
	struct gen g;
	double n_m, e_m, hdg_deg, v_ms, en, ee, eu, hacc;
	uint32_t seq;
	uint64_t t_ms;
	int nsat;
};

static void walker_init(struct walker *wk, uint64_t seed)
{
	memset(wk, 0, sizeof *wk);
	gen_init(&wk->g, seed);
	wk->hdg_deg = (double)(gen_u64(&wk->g) % 360u);
	wk->v_ms = 1.2;
	wk->en = 1.5 * gauss(&wk->g);
	wk->ee = 1.5 * gauss(&wk->g);
	wk->eu = 3.0 * gauss(&wk->g);
	wk->hacc = 1800;
	wk->seq = 100000u + (uint32_t)(gen_u64(&wk->g) % 1000000u);
	wk->t_ms = 1767225600000ull + (gen_u64(&wk->g) % 86400u) * 1000u; /* 2026-01-01 + whole seconds */
	wk->nsat = 9;
}

static void walker_step(struct walker *wk, struct proto_fix *f)
{
	const double a = exp(-1.0 / 60.0), q = sqrt(1.0 - a * a);
	const double lat0 = -6.8235, lon0 = 37.6612, pi = 3.141592653589793;
	wk->hdg_deg += 3.0 + 2.0 * gauss(&wk->g); /* slow turn with wobble */
	wk->v_ms += 0.05 * gauss(&wk->g);
	wk->v_ms = wk->v_ms < 0.8 ? 0.8 : wk->v_ms > 1.6 ? 1.6 : wk->v_ms;
	wk->n_m += wk->v_ms * cos(wk->hdg_deg * pi / 180.0);
	wk->e_m += wk->v_ms * sin(wk->hdg_deg * pi / 180.0);
	wk->en = a * wk->en + 1.5 * q * gauss(&wk->g);
	wk->ee = a * wk->ee + 1.5 * q * gauss(&wk->g);
	wk->eu = a * wk->eu + 3.0 * q * gauss(&wk->g);
	wk->hacc += 5.0 * gauss(&wk->g);
	if (gen_coin(&wk->g, 5))
		wk->nsat += gen_coin(&wk->g, 50) ? 1 : -1;

	double lat = lat0 + (wk->n_m + wk->en) / 111320.0;
	double lon = lon0 + (wk->e_m + wk->ee) / (111320.0 * cos(lat0 * pi / 180.0));
	double sog = wk->v_ms * 100.0 + 5.0 * gauss(&wk->g);
	double cog = fmod(wk->hdg_deg + 2.0 * gauss(&wk->g) + 720.0, 360.0);

	memset(f, 0, sizeof *f);
	f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_ALT | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q |
		 PROTO_FIX_HAS_MODE | PROTO_FIX_HAS_DIM | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_SOG | PROTO_FIX_HAS_COG;
	f->rec_seq = wk->seq++;
	f->t_ms = wk->t_ms;
	wk->t_ms += 1000;
	f->lat_e7 = (int32_t)lround(lat * 1e7);
	f->lon_e7 = (int32_t)lround(lon * 1e7);
	f->alt_mm = (int32_t)lround((512.0 + wk->eu) * 1000.0);
	f->hdop_c = 90;
	f->h_acc_mm = (uint32_t)lround(wk->hacc);
	f->gga_q = 1;
	f->faa_mode = 'A';
	f->fix_dim = 3;
	f->nsat = (uint8_t)wk->nsat;
	f->sog_cms = (uint16_t)lround(sog < 0 ? 0 : sog);
	f->cog_cdeg = (uint16_t)(lround(cog * 100.0) % 36000);
}

Test(proto_msg, fixb_walking_animal_fits_airtime_budget)
{
	static const size_t sizes[] = {1, 4, 8, 12};
	size_t fix_len_sum = 0, fix_n = 0;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s], sum = 0, max = 0, min = SIZE_MAX, batches = 500;
		for (size_t b = 0; b < batches; b++) {
			struct walker wk;
			struct proto_fix fx[PROTO_FIXB_MAX];
			size_t len;
			walker_init(&wk, 1000u + b);
			for (size_t i = 0; i < 30; i++) /* walk a while so the error process is stationary */
				walker_step(&wk, &fx[0]);
			for (size_t i = 0; i < n; i++)
				walker_step(&wk, &fx[i]);
			size_t used;
			cr_assert_eq(proto_fixb_encode_fit(fx, n, body, PROTO_BODY_MAX, &len, &used), 0);
			cr_assert_eq(used, n, "%zu fixes: only %zu fit one frame", n, used);
			struct proto_fixb back;
			cr_assert_eq(proto_fixb_decode(body, len, &back, NULL), 0);
			cr_assert_eq(memcmp(back.fix, fx, n * sizeof fx[0]), 0);
			sum += len;
			max = len > max ? len : max;
			min = len < min ? len : min;
			if (n == 1) {
				size_t flen;
				cr_assert_eq(proto_fix_encode(&fx[0], body, sizeof body, &flen), 0);
				fix_len_sum += flen;
				fix_n++;
			}
		}
		printf("FIXB walking 1.2 m/s @1 Hz, %2zu fixes: body mean %.1f B (%.1f B/fix), min %zu, max %zu"
		       " over %zu batches\n",
		       n, (double)sum / (double)batches, (double)sum / (double)batches / (double)n, min, max, batches);
		if (n == 8)
			cr_expect_leq(max, 168, "8-fix FIXB body budget is 168 bytes, worst was %zu", max);
		cr_expect_leq(max, PROTO_BODY_MAX, "%zu fixes must fit one frame", n);
	}
	printf("single FIX body of the same walk: mean %.1f B\n", (double)fix_len_sum / (double)fix_n);
}

/* Schema change (bits + pk): a FIXB in the original vals form, byte for byte the 8-fix vector docs/protocol.md
 * carried before the packed form existed, still decodes to the same fixes, which the encoder now packs. */
Test(proto_msg, fixb_vals_form_vector_still_decodes)
{
	static const uint8_t old[] = {
		0x84, 0x01, 0x8d, 0x01, 0xcd, 0x14, 0xca, 0x02, 0xcf, 0x00, 0x00, 0x01, 0xa2, 0x0d, 0x6d, 0x5a, 0x00,
		0x04, 0xd2, 0xf6, 0x5d, 0xd2, 0x72, 0x05, 0xce, 0x14, 0x04, 0xd5, 0xff, 0x06, 0xce, 0x00, 0x06, 0x4a,
		0x8c, 0x07, 0x5c, 0x08, 0xcd, 0x09, 0x60, 0x09, 0x01, 0x0a, 0x41, 0x0b, 0x03, 0x0c, 0x0b, 0x0d, 0x3c,
		0x0e, 0xcd, 0x06, 0xb7, 0x02, 0x08, 0x03, 0x98, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0d, 0x0e, 0x04,
		0xdc, 0x00, 0x38, 0xcd, 0x03, 0xe8, 0x33, 0xfa, 0x07, 0x00, 0x64, 0x01, 0x72, 0x01, 0xfa, 0x19, 0x00,
		0x00, 0xd0, 0x9c, 0x01, 0x73, 0xfe, 0xf9, 0x15, 0x00, 0x00, 0x64, 0xfe, 0x73, 0x01, 0x04, 0xd0, 0xdc,
		0x00, 0x01, 0xd0, 0x9c, 0x01, 0x72, 0x01, 0x12, 0x20, 0x00, 0x00, 0x64, 0x01, 0x73, 0xfe, 0x03, 0xd0,
		0xd7, 0x00, 0x00, 0xd0, 0x9c, 0xfe, 0x72, 0x01, 0xf8, 0x18, 0x00, 0x00, 0x64, 0x01, 0x73,
	};
	struct proto_msg want;
	struct proto_msg_err w;
	size_t len;
	sample_msg(PROTO_T_FIXB, &want);
	cr_assert_eq(proto_fixb_decode(old, sizeof old, &m2.u.fixb, &w), 0, "%s", proto_errname(w.code));
	cr_assert_eq(m2.u.fixb.n, 8);
	cr_assert_eq(memcmp(m2.u.fixb.fix, want.u.fixb.fix, 8 * sizeof want.u.fixb.fix[0]), 0);
	cr_assert_eq(proto_fixb_encode(&want.u.fixb, body, sizeof body, &len), 0);
	cr_expect_lt(len, sizeof old, "packed %zu B vs vals %zu B", len, sizeof old);
	cr_assert_eq(proto_fixb_decode(body, len, &m1.u.fixb, &w), 0, "%s", proto_errname(w.code));
	cr_expect_eq(memcmp(&m1.u.fixb, &m2.u.fixb, sizeof m1.u.fixb), 0, "both forms decode alike");
}

Test(proto_msg, fixb_encode_fit_packs_the_longest_prefix_that_fits)
{
	struct walker wk;
	struct proto_fix fx[PROTO_FIXB_MAX];
	size_t len, used, full_len[PROTO_FIXB_MAX + 1];
	walker_init(&wk, 7);
	for (size_t i = 0; i < PROTO_FIXB_MAX; i++)
		walker_step(&wk, &fx[i]);
	for (size_t n = 1; n <= PROTO_FIXB_MAX; n++) {
		cr_assert_eq(proto_fixb_encode_fit(fx, n, body, sizeof body, &full_len[n], &used), 0);
		cr_assert_eq(used, n);
	}
	for (size_t n = 2; n <= PROTO_FIXB_MAX; n++) {
		/* one byte short of n fixes: exactly n - 1 fit */
		cr_assert_eq(proto_fixb_encode_fit(fx, PROTO_FIXB_MAX, body, full_len[n] - 1, &len, &used), 0);
		cr_expect_eq(used, n - 1, "cap %zu", full_len[n] - 1);
		cr_expect_eq(len, full_len[n - 1]);
	}
	cr_expect_eq(proto_fixb_encode_fit(fx, 4, body, full_len[1] - 1, &len, &used), PROTO_ENOBUFS);
	cr_expect_eq(used, 0);
}

/* ---- hostile bodies ---------------------------------------------------------------------------------- */

static const char *tname(unsigned type)
{
	static char b[8];
	snprintf(b, sizeof b, "0x%02x", type);
	return b;
}

Test(proto_msg, rejects_wrong_msgpack_type_for_every_field)
{
	static const uint8_t as_str[] = {0xa1, 'x'}, as_int[] = {0x01}, as_nil[] = {0xc0}, as_true[] = {0xc3},
			     as_arr[] = {0x90}, as_map[] = {0x80}, as_bin[] = {0xc4, 0x01, 0x01};
	gen_init(&g, 11);
	size_t checked = 0;
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		size_t len = full_body(type, body), n;
		struct kv kv[32];
		n = split_map(body, len, kv);
		for (size_t i = 0; i < n; i++) {
			const struct proto_field_desc *d = proto_msg_field(type, kv[i].key);
			cr_assert_not_null(d);
			const uint8_t *bad[4];
			size_t badn[4], nb = 0;
			switch (d->kind) {
			case PROTO_FK_STR: bad[nb] = as_int; badn[nb++] = 1; bad[nb] = as_bin; badn[nb++] = 3; break;
			case PROTO_FK_BIN: bad[nb] = as_str; badn[nb++] = 2; bad[nb] = as_int; badn[nb++] = 1; break;
			case PROTO_FK_ARRAY: bad[nb] = as_map; badn[nb++] = 1; bad[nb] = as_int; badn[nb++] = 1; break;
			case PROTO_FK_MAP: bad[nb] = as_arr; badn[nb++] = 1; bad[nb] = as_nil; badn[nb++] = 1; break;
			default: /* (an array here would fail pre-validation first: flat bodies have depth 1) */
				bad[nb] = as_str; badn[nb++] = 2;
				bad[nb] = as_nil; badn[nb++] = 1;
				bad[nb] = as_true; badn[nb++] = 1;
				bad[nb] = as_bin; badn[nb++] = 3;
				break;
			}
			for (size_t k = 0; k < nb; k++) {
				struct proto_msg_err w;
				size_t blen = with_value(body, len, kv[i].key, bad[k], badn[k], body2);
				int err = decode(type, body2, blen, &w);
				cr_expect_eq(err, PROTO_EMSG_WTYPE, "%s key %lld variant %zu: %s", tname(type),
					     (long long)kv[i].key, k, proto_errname(err));
				cr_expect_eq(w.key, kv[i].key, "%s reported key %lld", tname(type), (long long)w.key);
				cr_expect_str_eq(w.name, d->name);
				checked++;
			}
		}
	}
	cr_log_info("%zu wrong-type substitutions refused", checked);
}

Test(proto_msg, rejects_unknown_keys)
{
	static const uint8_t keys[][3] = {{0x00}, {0x1f}, {0x20}, {0x7f}, {0xcc, 0xc8}, {0xff}, {0xa1, 'a'}, {0xc0}};
	static const size_t klen[] = {1, 1, 1, 1, 2, 1, 2, 1};
	gen_init(&g, 12);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		size_t len = full_body(type, body);
		struct kv kv[34];
		size_t n = split_map(body, len, kv);
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			struct proto_msg_err w;
			kv[n].k = keys[k];
			kv[n].klen = klen[k];
			kv[n].v = (const uint8_t[]){0x01};
			kv[n].vlen = 1;
			size_t blen = build_map(body2, kv, n + 1);
			cr_expect_eq(decode(type, body2, blen, &w), PROTO_EMSG_KEY, "%s unknown key #%zu", tname(type), k);
			cr_expect_eq(w.key, -1);
		}
		/* a key valid in another type is still unknown here: key 16 is in no table */
		cr_expect_null(proto_msg_field(type, 16));
	}
	/* the offending key value is reported */
	struct proto_msg_err w;
	gen_msg(&g, PROTO_T_ACK, &m1);
	size_t len;
	cr_assert_eq(encode(&m1, body, &len), 0);
	size_t blen = with_int(body, len, 9, 5, body2);
	cr_expect_eq(decode(PROTO_T_ACK, body2, blen, &w), PROTO_EMSG_KEY);
	cr_expect_eq(w.has_value, 1);
	cr_expect_eq(w.value, 9);
}

Test(proto_msg, rejects_duplicate_keys)
{
	gen_init(&g, 13);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		size_t len = full_body(type, body);
		struct kv kv[34];
		size_t n = split_map(body, len, kv);
		for (size_t i = 0; i < n; i++) {
			struct proto_msg_err w;
			kv[n] = kv[i];
			size_t blen = build_map(body2, kv, n + 1);
			if (blen > proto_msg_body_max(type))
				continue; /* a repeated big value (FIXB vals) hits the size bound first: another test's case */
			cr_expect_eq(decode(type, body2, blen, &w), PROTO_EMSG_DUPKEY, "%s key %lld twice", tname(type),
				     (long long)kv[i].key);
			cr_expect_eq(w.key, kv[i].key);
		}
	}
}

Test(proto_msg, rejects_missing_required_keys)
{
	gen_init(&g, 14);
	size_t checked = 0;
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		size_t len = full_body(type, body), nf;
		const struct proto_field_desc *f = proto_msg_fields(type, &nf);
		for (size_t k = 0; k < nf; k++) {
			if (!f[k].required)
				continue;
			struct proto_msg_err w;
			size_t blen = without_key(body, len, f[k].key, body2);
			cr_expect_eq(decode(type, body2, blen, &w), PROTO_EMSG_MISSING, "%s without key %u",
				     tname(type), f[k].key);
			cr_expect_eq(w.key, f[k].key);
			checked++;
		}
	}
	cr_expect_gt(checked, 30);
}

static void expect_int_refused(unsigned type, int64_t key, int64_t value, int code)
{
	size_t len = full_body(type, body);
	struct proto_msg_err w;
	size_t blen = with_int(body, len, key, value, body2);
	int err = decode(type, body2, blen, &w);
	cr_expect_eq(err, code, "%s key %lld = %lld: got %s", tname(type), (long long)key, (long long)value,
		     proto_errname(err));
	cr_expect_eq(w.key, key);
	cr_expect_eq(w.has_value, 1);
	cr_expect_eq(w.value, value);
}

static void expect_int_accepted(unsigned type, int64_t key, int64_t value)
{
	size_t len = full_body(type, body);
	size_t blen = with_int(body, len, key, value, body2);
	int err = decode(type, body2, blen, NULL);
	cr_expect_eq(err, 0, "%s key %lld = %lld: got %s", tname(type), (long long)key, (long long)value,
		     proto_errname(err));
}

Test(proto_msg, rejects_out_of_range_values)
{
	gen_init(&g, 15);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_LAT, 900000001, PROTO_EMSG_LAT);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_LAT, -900000001, PROTO_EMSG_LAT);
	expect_int_accepted(PROTO_T_FIX, PROTO_FIX_K_LAT, -900000000);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_LON, 1800000001, PROTO_EMSG_LON);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_LON, INT64_MIN, PROTO_EMSG_LON);
	expect_int_accepted(PROTO_T_FIX, PROTO_FIX_K_LON, 1800000000);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_LAT, 2000000000, PROTO_EMSG_LAT);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_COG, 36000, PROTO_EMSG_RANGE);
	expect_int_accepted(PROTO_T_FIX, PROTO_FIX_K_COG, 35999);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_SOG, 65536, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_SOG, -1, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_SEQ, 4294967296, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_Q, 9, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_MODE, 'B', PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_MODE, -65, PROTO_EMSG_ENUM);
	expect_int_accepted(PROTO_T_FIX, PROTO_FIX_K_MODE, 'N');
	expect_int_refused(PROTO_T_FIX, PROTO_FIX_K_DIM, 0, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_KIND, 4, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_CONF, 101, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_SRC, 0, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_VERDICT, 0, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_VERDICT, 3, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_IND, PROTO_IND_K_VERDICT, -1, PROTO_EMSG_ENUM);
	expect_int_accepted(PROTO_T_IND, PROTO_IND_K_VERDICT, PROTO_VERDICT_CONFIRMED);
	expect_int_accepted(PROTO_T_IND, PROTO_IND_K_VERDICT, PROTO_VERDICT_REJECTED);
	expect_int_refused(PROTO_T_CMD, PROTO_CMD_K_OP, 99, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_STATUS, PROTO_STATUS_K_TEMP, -551, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_STATUS, PROTO_STATUS_K_BATTPCT, 101, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_HELLO, PROTO_HELLO_K_CAPS, 0x20, PROTO_EMSG_BITS);
	expect_int_refused(PROTO_T_ACK, PROTO_ACK_K_CREDIT, 0, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_ACK, PROTO_ACK_K_CREDIT, 65, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_ACK, PROTO_ACK_K_GWT, 946684799999, PROTO_EMSG_RANGE); /* 1999 */
	expect_int_refused(PROTO_T_PROVISION, PROTO_PROV_K_ID, 0, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_PROVISION, PROTO_PROV_K_SPECIES, 3, PROTO_EMSG_ENUM);
	expect_int_refused(PROTO_T_LOG_READ, PROTO_LOG_READ_K_COUNT, 0, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_CREDIT, PROTO_CREDIT_K_N, 1025, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_FIXB, PROTO_FIXB_K_N, 0, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_FIXB, PROTO_FIXB_K_N, PROTO_FIXB_MAX + 1, PROTO_EMSG_RANGE);
	expect_int_refused(PROTO_T_BATCH, PROTO_BATCH_K_GW, 0, PROTO_EMSG_RANGE);

	/* FIX time quality flag outside the defined bits */
	struct proto_msg_err w;
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_FIX;
	m1.u.fix.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_TQ;
	m1.u.fix.t_ms = 1767225600000ull;
	m1.u.fix.tq = 1;
	size_t len;
	cr_assert_eq(encode(&m1, body, &len), 0);
	size_t blen = with_int(body, len, PROTO_FIX_K_TQ, 4, body2);
	cr_expect_eq(decode(PROTO_T_FIX, body2, blen, &w), PROTO_EMSG_BITS);

	/* str and bin sizes */
	cr_assert_eq(proto_msg_encode(&(struct proto_msg){.type = 0}, body, 1, &len), PROTO_EINVAL);
	len = full_body(PROTO_T_PROVISION, body);
	uint8_t key31[33] = {0xc4, 31};
	blen = with_value(body, len, PROTO_PROV_K_KEY, key31, 33, body2);
	cr_expect_eq(decode(PROTO_T_PROVISION, body2, blen, &w), PROTO_EMSG_SIZE);
	cr_expect_eq(w.key, PROTO_PROV_K_KEY);
	len = full_body(PROTO_T_HELLO, body);
	blen = with_value(body, len, PROTO_HELLO_K_FW, (const uint8_t[]){0xa0}, 1, body2);
	cr_expect_eq(decode(PROTO_T_HELLO, body2, blen, &w), PROTO_EMSG_SIZE);
	blen = with_value(body, len, PROTO_HELLO_K_FW, (const uint8_t[]){0xa2, 'a', 0}, 3, body2);
	cr_expect_eq(decode(PROTO_T_HELLO, body2, blen, &w), PROTO_EMSG_RANGE, "embedded NUL in fw");
	blen = with_value(body, len, PROTO_HELLO_K_FW, (const uint8_t[]){0xa2, 'a', '\n'}, 3, body2);
	cr_expect_eq(decode(PROTO_T_HELLO, body2, blen, &w), PROTO_EMSG_RANGE, "control char in fw");
}

Test(proto_msg, rejects_every_truncated_body)
{
	gen_init(&g, 16);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		int reps = type == PROTO_T_BATCH ? 2 : 20; /* a BATCH is up to 24 KB: quadratic in its length */
		for (int rep = 0; rep < reps; rep++) {
			size_t len;
			gen_msg(&g, type, &m1);
			cr_assert_eq(encode(&m1, body, &len), 0);
			for (size_t n = 0; n < len; n++) {
				int err = decode(type, body, n, NULL);
				cr_expect(err == PROTO_EMP_TRUNC || err == PROTO_EMP_COUNT, "%s prefix %zu/%zu: %s",
					  tname(type), n, len, proto_errname(err));
			}
			/* and one byte more is trailing garbage */
			body[len] = 0xc0;
			cr_expect_eq(decode(type, body, len + 1, NULL), PROTO_EMP_TRAILING);
		}
	}
}

Test(proto_msg, rejects_hostile_headers_and_non_map_bodies_for_every_type)
{
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		struct proto_msg_err w;
		cr_expect_eq(decode(type, (const uint8_t[]){0xdd, 0xff, 0xff, 0xff, 0xff}, 5, &w), PROTO_EMP_COUNT);
		cr_expect_eq(decode(type, (const uint8_t[]){0xdf, 0xff, 0xff, 0xff, 0xff}, 5, &w), PROTO_EMP_COUNT);
		cr_expect_eq(decode(type, (const uint8_t[]){0x81, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}, 7, &w),
			     PROTO_EMP_COUNT);
		cr_expect_eq(decode(type, (const uint8_t[]){0x81, 0x01, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, 11, &w),
			     PROTO_EMP_TYPE);
		cr_expect_eq(decode(type, (const uint8_t[]){0x90}, 1, &w), PROTO_EMSG_NOTMAP);
		cr_expect_eq(decode(type, (const uint8_t[]){0x01}, 1, &w), PROTO_EMSG_NOTMAP);
		cr_expect_eq(decode(type, NULL, 0, &w), PROTO_EMP_TRUNC);
		uint8_t deep[101];
		memset(deep, 0x91, 100);
		deep[100] = 0xc0;
		cr_expect_eq(decode(type, deep, sizeof deep, &w), PROTO_EMP_DEPTH);
		/* one past the type's bound, whatever the bytes */
		size_t max = proto_msg_body_max(type);
		cr_assert_leq(max + 1, sizeof body);
		memset(body, 0xc0, max + 1);
		cr_expect_eq(decode(type, body, max + 1, &w), PROTO_EMSG_SIZE);
	}
	cr_expect_eq(proto_msg_decode(0x7e, (const uint8_t[]){0x80}, 1, &m2, NULL), PROTO_EFRAME_TYPE);
}

/* Decode a struct encoded without its checks: pack the map ourselves from the field table. */
static size_t raw_flat_body(unsigned type, const void *st, uint8_t *out)
{
	size_t nf, n = 0, len = 0;
	const struct proto_field_desc *f = proto_msg_fields(type, &nf);
	uint32_t has;
	memcpy(&has, st, sizeof has);
	struct kv kv[32];
	static uint8_t vals[32][16], keys[32];
	for (size_t k = 0; k < nf; k++) {
		if (!gen_is_int(&f[k]) || (!f[k].required && !(has & (1u << f[k].key))))
			continue;
		struct wb w = packed_int((int64_t)gen_load(st, &f[k]));
		memcpy(vals[n], w.b, w.n);
		keys[n] = f[k].key;
		kv[n] = (struct kv){.k = &keys[n], .klen = 1, .v = vals[n], .vlen = w.n, .key = f[k].key};
		n++;
	}
	len = build_map(out, kv, n);
	return len;
}

static void expect_rule(unsigned type, const void *st, size_t size, int code, int64_t key, const char *what)
{
	struct proto_msg_err w;
	size_t len = raw_flat_body(type, st, body);
	int err = decode(type, body, len, &w);
	cr_expect_eq(err, code, "%s: decode gave %s", what, proto_errname(err));
	cr_expect_eq(w.key, key, "%s: key %lld", what, (long long)w.key);
	/* and the encoder refuses to produce it in the first place */
	memset(&m1, 0, sizeof m1);
	m1.type = (uint8_t)type;
	memcpy(&m1.u, st, size);
	err = proto_msg_encode(&m1, body, sizeof body, &len);
	cr_expect_eq(err, code, "%s: encode gave %s", what, proto_errname(err));
}

Test(proto_msg, enforces_cross_field_rules)
{
	struct proto_fix f = {.has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_TMONO, .t_ms = 1767225600000ull, .rec_seq = 5};
	expect_rule(PROTO_T_FIX, &f, sizeof f, PROTO_EMSG_TIME, PROTO_FIX_K_TMONO, "FIX with both clocks");
	f.has = 0;
	expect_rule(PROTO_T_FIX, &f, sizeof f, PROTO_EMSG_TIME, PROTO_FIX_K_T, "FIX with no clock");
	f.has = PROTO_FIX_HAS_TMONO | PROTO_FIX_HAS_TQ;
	f.tq = PROTO_TQ_LEAP;
	expect_rule(PROTO_T_FIX, &f, sizeof f, PROTO_EMSG_TIME, PROTO_FIX_K_TQ, "FIX time quality without UTC");

	struct proto_ind e = {.has = PROTO_IND_HAS_TMONO | PROTO_IND_HAS_LAT, .rec_seq = 9, .kind = 1, .src = 1};
	expect_rule(PROTO_T_IND, &e, sizeof e, PROTO_EMSG_MISSING, PROTO_IND_K_LON, "IND lat without lon");
	e.has = PROTO_IND_HAS_TMONO | PROTO_IND_HAS_HACC;
	expect_rule(PROTO_T_IND, &e, sizeof e, PROTO_EMSG_EXCL, PROTO_IND_K_HACC, "IND h_acc without position");
	e.has = PROTO_IND_HAS_TMONO | PROTO_IND_HAS_FIXREF;
	e.fix_ref = 9;
	expect_rule(PROTO_T_IND, &e, sizeof e, PROTO_EMSG_SEQ, PROTO_IND_K_FIXREF, "IND fix_ref not before it");

	struct proto_cmd c = {.op = PROTO_OP_SET_RATE};
	expect_rule(PROTO_T_CMD, &c, sizeof c, PROTO_EMSG_MISSING, PROTO_CMD_K_PERIOD, "set_rate without period");
	c = (struct proto_cmd){.op = PROTO_OP_REBOOT, .has = PROTO_CMD_HAS_PERIOD, .period_ms = 1000};
	expect_rule(PROTO_T_CMD, &c, sizeof c, PROTO_EMSG_EXCL, PROTO_CMD_K_PERIOD, "reboot with a period");
	c = (struct proto_cmd){.op = PROTO_OP_SET_MODE, .has = PROTO_CMD_HAS_MODE | PROTO_CMD_HAS_UPTO, .mode = 1};
	expect_rule(PROTO_T_CMD, &c, sizeof c, PROTO_EMSG_EXCL, PROTO_CMD_K_UPTO, "set_mode with upto");

	struct proto_cmd_ack a = {.has = PROTO_CMD_ACK_HAS_PROGRESS, .result = PROTO_RES_DONE, .progress_pct = 50};
	expect_rule(PROTO_T_CMD_ACK, &a, sizeof a, PROTO_EMSG_EXCL, PROTO_CMD_ACK_K_PROGRESS, "progress when done");

	struct proto_hello h = {.fw = "1.0", .schema = 1, .oldest_seq = 10, .next_seq = 9};
	struct proto_msg_err w;
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_HELLO;
	m1.u.hello = h;
	size_t len;
	cr_expect_eq(proto_msg_encode(&m1, body, sizeof body, &len), PROTO_EMSG_SEQ);
	m1.u.hello.next_seq = 10;
	cr_assert_eq(proto_msg_encode(&m1, body, sizeof body, &len), 0);
	size_t blen = with_int(body, len, PROTO_HELLO_K_NEXT, 9, body2);
	cr_expect_eq(decode(PROTO_T_HELLO, body2, blen, &w), PROTO_EMSG_SEQ);
	cr_expect_eq(w.key, PROTO_HELLO_K_NEXT);

	struct proto_log_list l = {.has = (1u << PROTO_LOG_LIST_K_OLDEST) | (1u << PROTO_LOG_LIST_K_NEXT)};
	expect_rule(PROTO_T_LOG_LIST, &l, sizeof l, PROTO_EMSG_MISSING, PROTO_LOG_LIST_K_COUNT, "LOG_LIST half a reply");
	l = (struct proto_log_list){.has = PROTO_LOG_LIST_HAS_REPLY, .oldest_seq = 10, .next_seq = 20, .count = 11};
	expect_rule(PROTO_T_LOG_LIST, &l, sizeof l, PROTO_EMSG_SEQ, PROTO_LOG_LIST_K_COUNT, "LOG_LIST more records than seqs");
}

/* FIXB built by hand: base {1: seq, 3: t_mono, 4: lat, 5: lon}, then cols and vals as given. */
static size_t fixb_body(uint8_t *out, uint8_t n, const uint8_t *cols, size_t ncols, const uint8_t *vals,
			size_t vlen, size_t nvals)
{
	size_t len = 0;
	static const uint8_t base[] = {0x84, 0x01, 0x0a, 0x03, 0x64, 0x04, 0x00, 0x05, 0x00};
	out[len++] = 0x84;
	out[len++] = 0x01;
	memcpy(out + len, base, sizeof base);
	len += sizeof base;
	out[len++] = 0x02;
	out[len++] = n;
	out[len++] = 0x03;
	out[len++] = (uint8_t)(0x90u | ncols);
	memcpy(out + len, cols, ncols);
	len += ncols;
	out[len++] = 0x04;
	out[len++] = 0xdc; /* array16: any count */
	out[len++] = (uint8_t)(nvals >> 8);
	out[len++] = (uint8_t)nvals;
	memcpy(out + len, vals, vlen);
	len += vlen;
	return len;
}

#define FIXB(n, cols, vals, nvals) fixb_body(body, n, cols, sizeof(cols), vals, sizeof(vals), nvals)

/* The handler's verdict (key 13) rides an onset IND or a completion; the bytes are pinned: an old decoder
 * refuses the key (PROTO_EMSG_KEY, counted), and an IND without it encodes exactly as before. */
Test(proto_msg, ind_verdict_on_onset_and_on_completion)
{
	static const uint8_t onset[] = {0x85, 0x01, 0x09, 0x03, 0xcd, 0x03, 0xe8, 0x04, 0x03, 0x07, 0x02, 0x0d, 0x01};
	static const uint8_t completion[] = {0x86, 0x01, 0x0c, 0x03, 0xcd, 0x03, 0xe8, 0x04, 0x01,
	                                     0x07, 0x03, 0x0c, 0x09, 0x0d, 0x02};
	size_t len;

	/* a handler mark that is its own indication, confirmed by a short press */
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_IND;
	m1.u.ind = (struct proto_ind){.has = PROTO_IND_HAS_TMONO | PROTO_IND_HAS_VERDICT, .rec_seq = 9, .t_mono_ms = 1000,
	                              .kind = PROTO_IND_MARK, .src = PROTO_SRC_BUTTON, .verdict = PROTO_VERDICT_CONFIRMED};
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_assert_eq(len, sizeof onset);
	cr_assert_arr_eq(body, onset, sizeof onset);
	cr_assert_eq(decode(PROTO_T_IND, body, len, NULL), 0);
	cr_assert_eq(m2.u.ind.has, m1.u.ind.has);
	cr_assert_eq(m2.u.ind.verdict, PROTO_VERDICT_CONFIRMED);

	/* the completion of IND 9 carrying a rejection of it */
	m1.u.ind = (struct proto_ind){.has = PROTO_IND_HAS_TMONO | PROTO_IND_HAS_COMPLETES | PROTO_IND_HAS_VERDICT,
	                              .rec_seq = 12, .t_mono_ms = 1000, .kind = PROTO_IND_SIT, .src = PROTO_SRC_BOTH,
	                              .completes = 9, .verdict = PROTO_VERDICT_REJECTED};
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_assert_eq(len, sizeof completion);
	cr_assert_arr_eq(body, completion, sizeof completion);
	cr_assert_eq(decode(PROTO_T_IND, body, len, NULL), 0);
	cr_assert_eq(m2.u.ind.completes, 9u);
	cr_assert_eq(m2.u.ind.verdict, PROTO_VERDICT_REJECTED);

	/* the encoder never sends a verdict the decoder would refuse, and absent means absent */
	struct proto_msg_err w;
	m1.u.ind.verdict = 3;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_ENUM);
	m1.u.ind.verdict = 0;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_ENUM);
	m1.u.ind.has &= ~PROTO_IND_HAS_VERDICT;
	m1.u.ind.verdict = 0;
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_assert_eq(len, sizeof completion - 2u, "no key 13 without the flag");
	cr_assert_arr_eq(body + 1, completion + 1, len - 1u);
	cr_assert_eq(decode(PROTO_T_IND, body, len, NULL), 0);
	cr_assert_eq(m2.u.ind.has & PROTO_IND_HAS_VERDICT, 0u);
	cr_assert_eq(m2.u.ind.verdict, 0);
	/* a bad value on the wire is refused with the key and the value named */
	size_t blen = with_int(completion, sizeof completion, PROTO_IND_K_VERDICT, 7, body2);
	cr_assert_eq(decode(PROTO_T_IND, body2, blen, &w), PROTO_EMSG_ENUM);
	cr_assert_eq(w.key, PROTO_IND_K_VERDICT);
	cr_assert_eq(w.value, 7);
}

Test(proto_msg, fixb_rejects_inconsistent_batches)
{
	struct proto_fixb fb;
	struct proto_msg_err w;
	size_t len;

	/* sanity: base seq 10, then +1 implicitly, lat walks by second differences */
	len = FIXB(3, ((const uint8_t[]){0x04}), ((const uint8_t[]){0x05, 0x00}), 2);
	cr_assert_eq(proto_fixb_decode(body, len, &fb, &w), 0, "%s", proto_errname(w.code));
	cr_expect_eq(fb.fix[1].rec_seq, 11);
	cr_expect_eq(fb.fix[2].rec_seq, 12);
	cr_expect_eq(fb.fix[1].lat_e7, 5);
	cr_expect_eq(fb.fix[2].lat_e7, 10); /* 2*5 - 0 + 0 */
	cr_expect_eq(fb.fix[2].t_mono_ms, 100);

	/* rec_seq column with a zero delta: not strictly increasing */
	len = FIXB(3, ((const uint8_t[]){0x01}), ((const uint8_t[]){0x01, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SEQ);
	cr_expect_eq(w.index, 2);
	cr_expect_eq(w.key, PROTO_FIX_K_SEQ);
	len = FIXB(2, ((const uint8_t[]){0x01}), ((const uint8_t[]){0xff}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SEQ);

	/* vals count must be (n - 1) * cols */
	len = FIXB(3, ((const uint8_t[]){0x04}), ((const uint8_t[]){0x05}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SIZE);
	cr_expect_eq(w.key, PROTO_FIXB_K_VALS);

	/* reconstructed latitude leaves ±90°: refused like a FIX, with the fix index */
	len = FIXB(3, ((const uint8_t[]){0x04}), ((const uint8_t[]){0xd2, 0x40, 0x00, 0x00, 0x00, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_LAT);
	cr_expect_eq(w.index, 1);
	cr_expect_eq(w.key, PROTO_FIX_K_LAT);
	/* 0x30000000 = 805306368 is in range at fix 1, but the prediction 2*p1 at fix 2 is not */
	len = FIXB(3, ((const uint8_t[]){0x04}), ((const uint8_t[]){0xd2, 0x30, 0x00, 0x00, 0x00, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_LAT);
	cr_expect_eq(w.index, 2);
	cr_expect_eq(w.value, 1610612736);

	/* a delta that overflows int64 arithmetic */
	len = FIXB(3, ((const uint8_t[]){0x04}),
		   ((const uint8_t[]){0x01, 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);
	cr_expect_eq(w.index, 2);
	len = FIXB(2, ((const uint8_t[]){0x04}), ((const uint8_t[]){0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);

	/* required fields cannot be absent in a row */
	len = FIXB(2, ((const uint8_t[]){0x05}), ((const uint8_t[]){0xc0}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_MISSING);
	cr_expect_eq(w.key, PROTO_FIX_K_LON);

	/* an absent t_mono with no t: the row breaks the FIX time rule */
	len = FIXB(2, ((const uint8_t[]){0x03}), ((const uint8_t[]){0xc0}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_TIME);
	cr_expect_eq(w.index, 1);

	/* columns: unknown key, repeated key, wrong type; cells: wrong type */
	len = FIXB(2, ((const uint8_t[]){0x10}), ((const uint8_t[]){0x00}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_KEY);
	len = FIXB(2, ((const uint8_t[]){0x04, 0x04}), ((const uint8_t[]){0x00, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_DUPKEY);
	len = FIXB(2, ((const uint8_t[]){0xc0}), ((const uint8_t[]){0x00}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_WTYPE);
	len = FIXB(2, ((const uint8_t[]){0x04}), ((const uint8_t[]){0xc3}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_WTYPE);

	/* course deltas must be the canonical -18000..17999 */
	len = FIXB(2, ((const uint8_t[]){0x0e}), ((const uint8_t[]){0xcd, 0x46, 0x50}), 1); /* 18000 */
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);
	len = FIXB(2, ((const uint8_t[]){0x0e}), ((const uint8_t[]){0xd1, 0xb9, 0xb0}), 1); /* -18000 */
	cr_assert_eq(proto_fixb_decode(body, len, &fb, &w), 0);
	cr_expect_eq(fb.fix[1].cog_cdeg, 18000);

	/* implicit +1 rec_seq past UINT32_MAX */
	uint8_t b2[64];
	size_t l2 = 0;
	static const uint8_t top[] = {0x84, 0x01, 0x84, 0x01, 0xce, 0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 0x04,
				      0x00, 0x05, 0x00, 0x02, 0x02, 0x03, 0x90, 0x04, 0x90};
	memcpy(b2, top, sizeof top);
	l2 = sizeof top;
	cr_expect_eq(proto_fixb_decode(b2, l2, &fb, &w), PROTO_EMSG_RANGE);
	cr_expect_eq(w.key, PROTO_FIX_K_SEQ);
	cr_expect_eq(w.index, 1);

	/* the encoder refuses non-increasing rec_seq */
	memset(&fb, 0, sizeof fb);
	fb.n = 2;
	fb.fix[0].has = fb.fix[1].has = PROTO_FIX_HAS_TMONO;
	fb.fix[0].rec_seq = fb.fix[1].rec_seq = 7;
	cr_expect_eq(proto_fixb_encode(&fb, body, sizeof body, &len), PROTO_EMSG_SEQ);
	fb.n = 0;
	cr_expect_eq(proto_fixb_encode(&fb, body, sizeof body, &len), PROTO_EINVAL);
}

/* The packed form (bits + pk) by hand: base as fixb_body's, cols [lat], then the given keys 4/5/6. */
static size_t fixb_packed(uint8_t *out, uint8_t n, const uint8_t *tail, size_t tlen, uint8_t nkeys)
{
	static const uint8_t head[] = {0x01, 0x84, 0x01, 0x0a, 0x03, 0x64, 0x04, 0x00, 0x05, 0x00, 0x02};
	size_t len = 0;
	out[len++] = (uint8_t)(0x80u | (3u + nkeys));
	memcpy(out + len, head, sizeof head);
	len += sizeof head;
	out[len++] = n;
	out[len++] = 0x03;
	out[len++] = 0x91;
	out[len++] = 0x04;
	memcpy(out + len, tail, tlen);
	return len + tlen;
}
#define PACKED(n, tail, nkeys) fixb_packed(body, n, tail, sizeof(tail), nkeys)

Test(proto_msg, fixb_packed_form_is_strict)
{
	struct proto_fixb fb;
	struct proto_msg_err w;
	size_t len;

	/* lat deltas +5 (zigzag 10, row 1 width 4) then 0 (width 0): the same batch as the vals sanity case */
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00, 0x06, 0xc4, 0x01, 0x0a}), 2);
	cr_assert_eq(proto_fixb_decode(body, len, &fb, &w), 0, "%s", proto_errname(w.code));
	cr_expect_eq(fb.fix[1].lat_e7, 5);
	cr_expect_eq(fb.fix[2].lat_e7, 10);
	cr_expect_eq(fb.has, 0);
	/* non-zero padding bits: two encodings of one batch are not allowed */
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00, 0x06, 0xc4, 0x01, 0x1a}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);
	cr_expect_eq(w.key, PROTO_FIXB_K_PK);
	/* pk one byte too long, and one too short */
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00, 0x06, 0xc4, 0x02, 0x0a, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SIZE);
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00, 0x06, 0xc4, 0x00}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SIZE);
	/* widths: 2 per column, each 0..64 */
	len = PACKED(3, ((const uint8_t[]){0x05, 0x91, 0x04, 0x06, 0xc4, 0x01, 0x0a}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_SIZE);
	cr_expect_eq(w.key, PROTO_FIXB_K_BITS);
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x41, 0x06, 0xc4, 0x01, 0x0a}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0xff, 0x06, 0xc4, 0x01, 0x0a}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_RANGE);
	/* exactly one form: vals and bits + pk together; bits without pk; pk as a str */
	len = PACKED(3, ((const uint8_t[]){0x04, 0x92, 0x05, 0x00, 0x05, 0x92, 0x04, 0x00, 0x06, 0xc4, 0x01, 0x0a}), 3);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_EXCL);
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00}), 1);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_MISSING);
	cr_expect_eq(w.key, PROTO_FIXB_K_PK);
	len = PACKED(3, ((const uint8_t[]){0x05, 0x92, 0x04, 0x00, 0x06, 0xa1, 0x0a}), 2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_WTYPE);
	/* the widest delta (64 bits, INT64_MAX): computed without overflow, refused by the latitude range */
	len = PACKED(2, ((const uint8_t[]){0x05, 0x92, 0x40, 0x00, 0x06, 0xc4, 0x08, 0xfe, 0xff, 0xff, 0xff, 0xff,
					     0xff, 0xff, 0xff}),
		     2);
	cr_expect_eq(proto_fixb_decode(body, len, &fb, &w), PROTO_EMSG_LAT);
}

Test(proto_msg, batch_rejects_bad_records)
{
	struct proto_batch *b = &m1.u.batch;
	struct proto_msg_err w;
	size_t len;
	static const uint8_t frame[40] = {0x10};

	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_BATCH;
	b->gw_id = 3;
	b->gw_seq = 77;
	b->n = 2;
	for (int i = 0; i < 2; i++) {
		struct proto_batch_rec *r = &b->rec[i];
		r->collar_id = 9;
		r->type = PROTO_T_FIX;
		r->rx_ms = 1767225600000ull;
		r->m.fix.has = PROTO_FIX_HAS_TMONO;
		r->m.fix.rec_seq = r->rec_seq = 100u + (uint32_t)i;
		r->has = PROTO_REC_HAS_SEQ;
	}
	b->rec[0].has |= PROTO_REC_HAS_RAW;
	b->rec[0].raw = (struct proto_bytes){frame, sizeof frame};
	b->rec[1].has |= PROTO_REC_HAS_RAWREF;
	b->rec[1].raw_ref = 0;
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_assert_eq(decode(PROTO_T_BATCH, body, len, &w), 0);
	cr_expect_eq(m2.u.batch.rec[0].raw.p[0], 0x10);
	cr_expect(m2.u.batch.rec[0].raw.p >= body && m2.u.batch.rec[0].raw.p < body + len, "raw is borrowed");

	/* raw_ref forward / to itself / to a record without raw */
	b->rec[1].raw_ref = 1;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_REF);
	b->rec[0].has &= ~PROTO_REC_HAS_RAW;
	b->rec[1].raw_ref = 0;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_REF);
	b->rec[0].has |= PROTO_REC_HAS_RAW;
	/* both raw and raw_ref */
	b->rec[1].has |= PROTO_REC_HAS_RAW;
	b->rec[1].raw = b->rec[0].raw;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_EXCL);
	b->rec[1].has &= ~PROTO_REC_HAS_RAW;
	/* the record's rec_seq must match its FIX's */
	b->rec[1].rec_seq = 5;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_SEQ);
	b->rec[1].rec_seq = 101;
	b->rec[1].has &= ~PROTO_REC_HAS_SEQ;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_MISSING);
	b->rec[1].has |= PROTO_REC_HAS_SEQ;
	/* the nested message is validated like the radio message: lat out of range in record 1 */
	b->rec[1].m.fix.lat_e7 = 900000001;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_LAT);
	b->rec[1].m.fix.lat_e7 = 0;
	cr_assert_eq(encode(&m1, body, &len), 0);

	/* decoder side: patch record 1's raw_ref to 1 (itself) in the bytes and locate the error */
	uint8_t *p = NULL;
	for (size_t k = 0; k + 1 < len; k++)
		if (body[k] == PROTO_REC_K_RAWREF && body[k + 1] == 0x00)
			p = &body[k + 1];
	cr_assert_not_null(p);
	*p = 0x01;
	cr_expect_eq(decode(PROTO_T_BATCH, body, len, &w), PROTO_EMSG_REF);
	cr_expect_eq(w.index, 1);
	cr_expect_eq(w.key, PROTO_REC_K_RAWREF);
	char txt[200];
	proto_msg_err_format(&w, txt, sizeof txt);
	cr_expect(strstr(txt, "BATCH record 1 key 9 (raw_ref) = 1") != NULL, "%s", txt);

	/* an unknown key inside the nested FIX names the record and the inner type */
	*p = 0x00;
	for (size_t k = 0; k + 3 < len; k++)
		if (body[k] == PROTO_REC_K_MSG && body[k + 1] == 0x84 && body[k + 2] == 0x01 && body[k + 3] == 0x65)
			body[k + 2] = 0x1e; /* record 1's FIX: key 1 (rec_seq 101) becomes key 30 */
	cr_expect_eq(decode(PROTO_T_BATCH, body, len, &w), PROTO_EMSG_KEY);
	cr_expect_eq(w.index, 1);
	cr_expect_eq(w.inner_type, PROTO_T_FIX);
	cr_expect_eq(w.value, 30);
}

Test(proto_msg, encoder_refuses_invalid_structs_and_small_buffers)
{
	size_t len;
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_FIX;
	m1.u.fix.has = PROTO_FIX_HAS_TMONO;
	m1.u.fix.lat_e7 = -900000001;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_LAT);
	cr_expect_eq(len, 0);
	m1.u.fix.lat_e7 = 0;
	m1.u.fix.has |= 1u << PROTO_FIX_K_LAT; /* a has bit for a required key is a programming error */
	cr_expect_eq(encode(&m1, body, &len), PROTO_EINVAL);
	m1.u.fix.has = PROTO_FIX_HAS_TMONO | PROTO_FIX_HAS_COG;
	m1.u.fix.cog_cdeg = 36000;
	cr_expect_eq(encode(&m1, body, &len), PROTO_EMSG_RANGE);

	/* every capacity below the body's length is ENOBUFS, never a partial write past cap */
	gen_init(&g, 17);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		gen_msg(&g, gen_all_types[t], &m1);
		cr_assert_eq(encode(&m1, body, &len), 0);
		for (size_t cap = 0; cap < len; cap++) {
			size_t l2 = 99;
			if (len > 600 && cap % 37 != 0 && cap + 40 < len)
				continue; /* big bodies: a sample of caps, and every one near the end */
			memset(body2, 0xa5, cap + 1);
			cr_expect_eq(proto_msg_encode(&m1, body2, cap, &l2), PROTO_ENOBUFS);
			cr_expect_eq(body2[cap], 0xa5, "wrote past cap %zu", cap);
			cr_expect_eq(l2, 0);
		}
		cr_expect_eq(proto_msg_encode(&m1, body2, len, &len), 0);
	}
}

Test(proto_msg, worst_case_bodies_fit_declared_limits)
{
	static const uint8_t bytes[PROTO_FRAME_MAX];
	size_t len;

	/* every radio type, every optional key, widest encodings */
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_FIX;
	struct proto_fix *f = &m1.u.fix;
	f->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_ALT | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q |
		 PROTO_FIX_HAS_MODE | PROTO_FIX_HAS_DIM | PROTO_FIX_HAS_NSAT | PROTO_FIX_HAS_SOG | PROTO_FIX_HAS_COG |
		 PROTO_FIX_HAS_TQ;
	*f = (struct proto_fix){.has = f->has, .rec_seq = UINT32_MAX, .t_ms = PROTO_UTC_MS_MAX, .lat_e7 = -900000000,
				.lon_e7 = -1800000000, .alt_mm = 20000000, .hdop_c = 9999, .h_acc_mm = 100000000,
				.gga_q = 8, .faa_mode = 'S', .fix_dim = 3, .nsat = 255, .sog_cms = 65535,
				.cog_cdeg = 35999, .tq = 3};
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_expect_leq(len, PROTO_BODY_MAX);
	printf("worst-case FIX body %zu B\n", len);
	struct proto_fix one = *f;

	/* worst-case FIXB the encoder will produce for 16 fixes can exceed one frame: encode_fit splits it */
	struct proto_fix fx[PROTO_FIXB_MAX];
	for (size_t i = 0; i < PROTO_FIXB_MAX; i++) {
		fx[i] = one;
		fx[i].rec_seq = (uint32_t)(i * 1000000u);
		fx[i].lat_e7 = (i & 1) ? 900000000 : -900000000;
		fx[i].lon_e7 = (i & 1) ? 1800000000 : -1800000000;
	}
	size_t used;
	cr_assert_eq(proto_fixb_encode_fit(fx, PROTO_FIXB_MAX, body, PROTO_BODY_MAX, &len, &used), 0);
	cr_expect_geq(used, 1);
	printf("adversarial FIXB: %zu fixes fit one %u-byte body\n", used, PROTO_BODY_MAX);

	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_HELLO;
	memset(m1.u.hello.fw, '~', PROTO_HELLO_FW_MAX);
	m1.u.hello = (struct proto_hello){.has = PROTO_HELLO_HAS_BATT, .schema = UINT16_MAX, .boot_id = UINT16_MAX,
					  .oldest_seq = UINT32_MAX, .next_seq = UINT32_MAX, .caps = PROTO_CAP_KNOWN,
					  .batt_mv = UINT16_MAX};
	memset(m1.u.hello.fw, '~', PROTO_HELLO_FW_MAX);
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_expect_leq(len, PROTO_BODY_MAX);
	struct proto_hello hello = m1.u.hello;

	/* LOG_DATA: 16 records of PROTO_BODY_MAX */
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_LOG_DATA;
	m1.u.log_data.seq = UINT32_MAX;
	m1.u.log_data.n = PROTO_LOG_DATA_RECS_MAX;
	for (size_t i = 0; i < PROTO_LOG_DATA_RECS_MAX; i++)
		m1.u.log_data.rec[i] = (struct proto_bytes){bytes, PROTO_BODY_MAX};
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_expect_leq(len, PROTO_LOG_DATA_BODY_MAX);
	printf("worst-case LOG_DATA body %zu B (limit %u)\n", len, PROTO_LOG_DATA_BODY_MAX);

	/* BATCH: 64 records, each the largest nested message with a full raw frame */
	memset(&m1, 0, sizeof m1);
	m1.type = PROTO_T_BATCH;
	m1.u.batch.gw_id = UINT16_MAX;
	m1.u.batch.gw_seq = UINT64_MAX;
	m1.u.batch.n = PROTO_BATCH_RECS_MAX;
	for (size_t i = 0; i < PROTO_BATCH_RECS_MAX; i++) {
		struct proto_batch_rec *r = &m1.u.batch.rec[i];
		r->has = PROTO_REC_HAS_RSSI | PROTO_REC_HAS_SNR | PROTO_REC_HAS_RAW;
		r->collar_id = UINT16_MAX;
		r->rx_ms = PROTO_UTC_MS_MAX;
		r->link = 255;
		r->rssi_dbm = -200;
		r->snr_db10 = -500;
		r->raw = (struct proto_bytes){bytes, PROTO_FRAME_MAX};
		if (i & 1) {
			r->type = PROTO_T_HELLO;
			r->m.hello = hello;
		} else {
			r->type = PROTO_T_FIX;
			r->m.fix = one;
			r->has |= PROTO_REC_HAS_SEQ;
			r->rec_seq = one.rec_seq;
		}
	}
	cr_assert_eq(encode(&m1, body, &len), 0);
	cr_expect_leq(len, PROTO_BATCH_BODY_MAX);
	printf("worst-case BATCH body %zu B (limit %u)\n", len, PROTO_BATCH_BODY_MAX);
	cr_assert_eq(decode(PROTO_T_BATCH, body, len, NULL), 0);
}

Test(proto_msg, error_context_names_the_field)
{
	struct proto_msg_err w;
	gen_init(&g, 18);
	size_t len = full_body(PROTO_T_FIX, body);
	size_t blen = with_int(body, len, PROTO_FIX_K_LAT, 950000000, body2);
	cr_assert_eq(decode(PROTO_T_FIX, body2, blen, &w), PROTO_EMSG_LAT);
	cr_expect_eq(w.code, PROTO_EMSG_LAT);
	cr_expect_eq(w.type, PROTO_T_FIX);
	cr_expect_eq(w.key, PROTO_FIX_K_LAT);
	cr_expect_str_eq(w.name, "lat");
	cr_expect_eq(w.value, 950000000);
	cr_expect_gt(w.offset, 0);
	cr_expect_lt(w.offset, blen);
	char txt[160];
	size_t n = proto_msg_err_format(&w, txt, sizeof txt);
	cr_expect_eq(n, strlen(txt));
	cr_expect(strstr(txt, "FIX key 4 (lat) = 950000000") != NULL, "%s", txt);
	cr_expect(strstr(txt, "PROTO_EMSG_LAT") != NULL, "%s", txt);
	/* truncated output still terminates and reports the full length */
	char small[10];
	cr_expect_eq(proto_msg_err_format(&w, small, sizeof small), n);
	cr_expect_eq(strlen(small), sizeof small - 1);
	/* failed decodes leave nothing half-filled behind */
	static const struct proto_fix zero;
	cr_expect_eq(memcmp(&m2.u.fix, &zero, sizeof zero), 0);
}

Test(proto_msg, field_tables_are_consistent)
{
	for (size_t t = 0; t < GEN_NTYPES + 1; t++) {
		unsigned type = t < GEN_NTYPES ? gen_all_types[t] : PROTO_T_BATCH_REC;
		size_t nf;
		const struct proto_field_desc *f = proto_msg_fields(type, &nf);
		cr_assert_not_null(f, "type %s", tname(type));
		cr_expect_leq(nf, 15, "keys must stay positive fixint and fit one has word");
		for (size_t k = 0; k < nf; k++) {
			cr_expect(f[k].key >= 1 && f[k].key <= 31);
			if (k)
				cr_expect_gt(f[k].key, f[k - 1].key, "%s keys ascending", tname(type));
			cr_expect_not_null(f[k].name);
			cr_expect_not_null(f[k].unit);
			cr_expect_not_null(f[k].doc);
			if (f[k].kind == PROTO_FK_ENUM) {
				cr_assert_not_null(f[k].enums);
				cr_expect_not_null(f[k].enums[0].name);
			}
			if (f[k].kind == PROTO_FK_UINT || f[k].kind == PROTO_FK_INT)
				cr_expect(f[k].min <= 0 || (uint64_t)f[k].min <= f[k].max);
			cr_expect_eq(proto_msg_field(type, f[k].key), &f[k]);
		}
	}
	cr_expect_null(proto_msg_fields(0x7e, NULL));
}

/* ---- no heap --------------------------------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
/* from <sanitizer/allocator_interface.h> (shipped with clang, not gcc; libasan has it either way):
 * under ASan, malloc is ASan's, and mallinfo2 would not see it */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}
#endif

static long vm_bytes(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	long pages = 0;
	if (fp) {
		if (fscanf(fp, "%ld", &pages) != 1)
			pages = 0;
		fclose(fp);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

Test(proto_msg, decoder_allocates_nothing_under_tight_address_space_limit)
{
	/* Hostile bodies that make msgpack-c's unpacker allocate gigabytes, plus every valid type. Run in a
	 * child whose address space may grow by only 4 MB: any allocation of the size these headers ask
	 * for would fail there, and heap accounting must not move at all. */
	static uint8_t valid[GEN_NTYPES][BUF_MAX];
	static size_t vlen[GEN_NTYPES];
	gen_init(&g, 19);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		gen_msg(&g, gen_all_types[t], &m1);
		cr_assert_eq(encode(&m1, valid[t], &vlen[t]), 0);
	}
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static const uint8_t hostile[][7] = {
			{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0xff, 0xff, 0xff, 0xff},
			{0x81, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}, {0x81, 0x03, 0xdf, 0x7f, 0xff, 0xff, 0xff},
			{0xc6, 0xff, 0xff, 0xff, 0xff}, {0xdb, 0x7f, 0xff, 0xff, 0xff},
		};
		struct rlimit rl;
		long vm = vm_bytes();
		rl.rlim_cur = rl.rlim_max = (rlim_t)vm + 4 * 1024 * 1024;
		if (vm <= 0 || setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
		size_t before = heap_in_use();
		int ok = 1;
		for (int rep = 0; rep < 100; rep++) {
			for (size_t t = 0; t < GEN_NTYPES; t++) {
				for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++)
					ok &= proto_msg_decode(gen_all_types[t], hostile[h], sizeof hostile[h], &m2, NULL) < 0;
				ok &= proto_msg_decode(gen_all_types[t], valid[t], vlen[t], &m2, NULL) == 0;
			}
		}
		size_t after = heap_in_use();
		_exit(!ok ? 1 : after != before ? 2 : 0);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died (signal %d)", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_expect_neq(WEXITSTATUS(status), 1, "a decode result was wrong under the limit");
	cr_expect_neq(WEXITSTATUS(status), 2, "heap in use changed while decoding");
	cr_expect_neq(WEXITSTATUS(status), 3, "could not set RLIMIT_AS");
	cr_expect_eq(WEXITSTATUS(status), 0);
}
