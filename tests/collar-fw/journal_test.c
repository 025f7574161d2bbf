/*
 * tests/collar-fw/journal_test.c — the flash journal (cf/journal.h) on the NOR emulator (hal/flash_emul.h),
 * plus the emulator's own rules and the host board's file flash.
 *
 * The centre of this file is cf_journal.power_loss_at_every_write: a scripted workload (appends, acks,
 * sacks, a clean remount, a boot bump, wrap-around, reclaim with thinning, moved INDs, 240-byte records) is
 * run once to count its N flash operations, then for every k = 1..N it is run again with the power cut
 * after operation k — once completed, twice torn with different seeds — and the journal is remounted and
 * checked against a model of what every call was told. Then writing continues and is checked again.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf/journal.h"
#include "hal/flash_emul.h"
#include "hal/flash_file.h"
#include "proto/frame.h"

#define FIX ((uint8_t)PROTO_T_FIX)
#define IND ((uint8_t)PROTO_T_IND)
#define FLASH_MAX (1u << 20)
#define SEQ_MAX 200000u

static uint8_t mem[FLASH_MAX];
static uint8_t written[HAL_FLASH_EMUL_WRITTEN_BYTES(FLASH_MAX, 1, 1)];
static struct hal_flash dev;
static struct hal_flash_emul em;
static struct cf_journal jr;

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* The body of record seq: every byte a function of (seq, position), so any mix-up is visible. */
static void body_for(uint32_t seq, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)mix32(seq * 0x9E3779B9u + (uint32_t)i);
}

static void rig(uint32_t page_size, uint32_t n_pages, uint32_t prog_unit)
{
	cr_assert_eq(hal_flash_emul_init(&dev, &em, mem, written, page_size, n_pages, prog_unit), 0);
}

static void no_abuse(void)
{
	cr_assert_eq(em.n_violations, 0, "the journal asked NOR to turn a 0 bit into 1 (%u times)", em.n_violations);
	cr_assert_eq(em.n_misuse, 0, "misaligned or out-of-range flash call (%u)", em.n_misuse);
}

static uint32_t append_seq(struct cf_journal *j, uint8_t type, size_t len)
{
	uint8_t b[CF_JOURNAL_BODY_MAX];
	uint32_t seq = cf_journal_next_seq(j), got = 0;
	int err;

	body_for(seq, len, b);
	err = cf_journal_append(j, type, b, len, &got);
	cr_assert_eq(err, 0, "append seq %u: %d", seq, err);
	cr_assert_eq(got, seq);
	return got;
}

static void expect_record(struct cf_journal *j, uint32_t seq, uint8_t type, size_t len)
{
	uint8_t want[CF_JOURNAL_BODY_MAX], got[CF_JOURNAL_BODY_MAX];
	size_t n = 0;
	uint8_t t = 0;
	int err;

	memset(got, 0xFF, sizeof got);
	body_for(seq, len, want);
	err = cf_journal_read(j, seq, got, sizeof got, &n, &t);
	cr_assert_eq(err, 0, "read seq %u: %d", seq, err);
	cr_assert_eq(n, len, "seq %u: len %zu, want %zu", seq, n, len);
	cr_assert_eq(t, type, "seq %u: type %u, want %u", seq, t, type);
	cr_assert_arr_eq(got, want, len, "seq %u: body differs", seq);
}

/* ------------------------------------------------------------------------------------------------------ */

Test(cf_flash_emul, enforces_nor_rules)
{
	uint8_t b[8] = {0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0}, r[8];

	rig(1024, 4, 8);
	cr_assert_eq(hal_flash_program(&dev, 8, b, 8), 0);
	memset(b, 0x0F, sizeof b); /* would raise bits 7-4 back to 1: refused, counted, nothing changed */
	cr_assert_eq(hal_flash_program(&dev, 8, b, 8), -EPERM);
	cr_assert_eq(em.n_violations, 1);
	cr_assert_eq(hal_flash_read(&dev, 8, r, 8), 0);
	cr_assert_eq(r[0], 0xF0);
	memset(b, 0x30, sizeof b); /* only clears bits: AND, but a second program of the unit is counted */
	cr_assert_eq(hal_flash_program(&dev, 8, b, 8), 0);
	cr_assert_eq(em.n_reprograms, 1);
	cr_assert_eq(hal_flash_read(&dev, 8, r, 8), 0);
	cr_assert_eq(r[3], 0x30);
	cr_assert_eq(hal_flash_program(&dev, 4, b, 8), -EINVAL);
	cr_assert_eq(hal_flash_program(&dev, 8, b, 4), -EINVAL);
	cr_assert_eq(hal_flash_erase_page(&dev, 4), -EINVAL);
	cr_assert_eq(em.n_misuse, 3);
	cr_assert_eq(hal_flash_erase_page(&dev, 0), 0);
	cr_assert_eq(hal_flash_read(&dev, 8, r, 8), 0);
	cr_assert_eq(r[0], 0xFF);
}

Test(cf_flash_emul, cuts_and_tears)
{
	uint8_t zeros[64], r[64];
	int partial = 0, mixed = 0;

	memset(zeros, 0, sizeof zeros);
	rig(1024, 4, 8);
	hal_flash_emul_cut_after(&em, 2, 0, 1);
	cr_assert_eq(hal_flash_program(&dev, 0, zeros, 8), 0);
	cr_assert_eq(hal_flash_program(&dev, 8, zeros, 8), 0, "the cut operation itself completes");
	cr_assert_eq(hal_flash_program(&dev, 16, zeros, 8), -EIO);
	cr_assert_eq(hal_flash_read(&dev, 0, r, 8), -EIO, "no power, no reads");
	hal_flash_emul_power_on(&em);
	cr_assert_eq(hal_flash_read(&dev, 16, r, 8), 0);
	cr_assert_eq(r[0], 0xFF);

	for (uint64_t seed = 1; seed <= 50; seed++) {
		rig(1024, 4, 8);
		hal_flash_emul_cut_after(&em, 1, 1, seed);
		cr_assert_eq(hal_flash_program(&dev, 64, zeros, 64), -EIO);
		hal_flash_emul_power_on(&em);
		cr_assert_eq(hal_flash_read(&dev, 64, r, 64), 0);
		int zero = 0, ff = 0;
		for (int i = 0; i < 64; i++) {
			zero += r[i] == 0;
			ff += r[i] == 0xFF;
		}
		partial += zero < 64;
		cr_assert(zero + ff >= 63, "a torn program is a programmed prefix plus one partial byte");

		memset(mem, 0, 1024); /* page 0 fully programmed, then a torn erase */
		hal_flash_emul_cut_after(&em, 1, 1, seed);
		cr_assert_eq(hal_flash_erase_page(&dev, 0), -EIO);
		hal_flash_emul_power_on(&em);
		int erased = 0;
		for (int i = 0; i < 1024; i++)
			erased += mem[i] == 0xFF;
		mixed += erased > 0 && erased < 1024;
	}
	cr_assert_gt(partial, 40, "torn programs should usually stop short");
	cr_assert_gt(mixed, 10, "torn erases should leave mixed pages");
}

/* ------------------------------------------------------------------------------------------------------ */

Test(cf_journal, rejects_unusable_geometry)
{
	rig(1024, 3, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), -EINVAL, "fewer than CF_JOURNAL_MIN_PAGES");
	rig(512, 8, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), -EINVAL, "page too small for a max record and a reclaim");
	rig(1024, 8, 64);
	cr_assert_eq(cf_journal_mount(&jr, &dev), -EINVAL, "prog unit above CF_JOURNAL_MAX_PROG_UNIT");
	rig(1024, CF_JOURNAL_MAX_PAGES + 1, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), -EINVAL, "more pages than the RAM table");
}

Test(cf_journal, append_read_and_bad_arguments)
{
	uint8_t b[CF_JOURNAL_BODY_MAX + 1], small[4];
	size_t n;
	uint8_t t;

	rig(4096, 8, 8); /* 50 records up to 240 bytes fit without any reclaim */
	cr_assert_eq(cf_journal_append(&jr, FIX, b, 10, NULL), -EINVAL, "not mounted");
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	cr_assert_eq(cf_journal_boot_id(&jr), 1);
	cr_assert_eq(cf_journal_next_seq(&jr), 1);
	for (uint32_t i = 0; i < 50; i++)
		cr_assert_eq(append_seq(&jr, i % 5 ? FIX : IND, 1 + (i * 37) % CF_JOURNAL_BODY_MAX), i + 1);
	for (uint32_t i = 0; i < 50; i++)
		expect_record(&jr, i + 1, i % 5 ? FIX : IND, 1 + (i * 37) % CF_JOURNAL_BODY_MAX);
	cr_assert_eq(cf_journal_read(&jr, 0, b, sizeof b, &n, &t), -ENOENT);
	cr_assert_eq(cf_journal_read(&jr, 51, b, sizeof b, &n, &t), -ENOENT);
	cr_assert_eq(cf_journal_read(&jr, 2, small, sizeof small, &n, &t), -ENOBUFS);
	cr_assert_eq(n, 1 + 37, "the length is reported even when the buffer is too small");
	cr_assert_eq(cf_journal_append(&jr, 0, b, 10, NULL), -EINVAL, "type 0");
	cr_assert_eq(cf_journal_append(&jr, 0x80, b, 10, NULL), -EINVAL, "marker types are internal");
	cr_assert_eq(cf_journal_append(&jr, FIX, b, CF_JOURNAL_BODY_MAX + 1, NULL), -EINVAL, "too long");
	cr_assert_eq(cf_journal_append(&jr, FIX, NULL, 3, NULL), -EINVAL);
	cr_assert_eq(append_seq(&jr, FIX, 0), 51, "an empty body is a record too");
	expect_record(&jr, 51, FIX, 0);
	cr_assert_eq(em.n_reprograms, 0, "each prog unit programmed once between erases");
	no_abuse();
}

Test(cf_journal, remount_preserves_everything)
{
	struct cf_journal_stats a, b;

	rig(1024, 8, 4);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= 80; i++)
		append_seq(&jr, i % 9 ? FIX : IND, 20 + i % 30);
	cr_assert_eq(cf_journal_ack(&jr, 30, 0x5), 0); /* 31 and 33 too */
	cr_assert_eq(cf_journal_stats(&jr, &a), 0);
	for (int boot = 2; boot <= 4; boot++) {
		memset(&jr, 0xA5, sizeof jr);
		cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
		cr_assert_eq(cf_journal_boot_id(&jr), boot);
		cr_assert_eq(cf_journal_stats(&jr, &b), 0);
		cr_assert_eq(b.next_seq, 81);
		cr_assert_eq(b.n_records, a.n_records);
		cr_assert_eq(b.backlog, 80 - 32);
		cr_assert_eq(b.ack_cum, 31, "31 was sacked right above cum: cum absorbs it");
		cr_assert_eq(b.ack_sack, 0x2u, "33 stays a sack bit");
		cr_assert_eq(b.mount_bad, 0);
		for (uint32_t i = 1; i <= 80; i++)
			expect_record(&jr, i, i % 9 ? FIX : IND, 20 + i % 30);
	}
	cr_assert(cf_journal_is_acked(&jr, 33) && !cf_journal_is_acked(&jr, 32) && !cf_journal_is_acked(&jr, 34));
	no_abuse();
}

Test(cf_journal, boot_id_bumps_and_persists)
{
	uint16_t b = 0;

	rig(1024, 6, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	cr_assert_eq(cf_journal_bump_boot(&jr, &b), 0);
	cr_assert_eq(b, 2);
	/* enough BOOT markers to fill pages: the boot_id must survive its markers' pages being reclaimed */
	for (int i = 0; i < 300; i++)
		cr_assert_eq(cf_journal_bump_boot(&jr, &b), 0);
	cr_assert_eq(b, 302);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	cr_assert_eq(cf_journal_boot_id(&jr), 303);
	no_abuse();
}

/* Once every record is acked and its page reclaimed, no record carries the highest rec_seq any more: the
 * page headers must, or the next boot would hand out rec_seqs the gateway has already stored. */
Test(cf_journal, rec_seq_survives_reclaim_of_every_record)
{
	uint16_t b;

	rig(1024, 5, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (int i = 0; i < 40; i++)
		append_seq(&jr, FIX, 40);
	cr_assert_eq(cf_journal_ack(&jr, 40, 0), 0);
	for (int i = 0; i < 200; i++) /* markers only: the ring turns over, the data pages are reclaimed */
		cr_assert_eq(cf_journal_bump_boot(&jr, &b), 0);
	cr_assert_eq(cf_journal_read(&jr, 40, mem + 4 * 1024, 0, NULL, NULL), -ENOENT, "reclaimed");
	memset(&jr, 0xA5, sizeof jr);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	cr_assert_eq(cf_journal_next_seq(&jr), 41);
	cr_assert(cf_journal_is_acked(&jr, 40));
	no_abuse();
}

Test(cf_journal, acks_merge_and_reject_the_future)
{
	uint32_t ops;

	rig(1024, 8, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (int i = 0; i < 20; i++)
		append_seq(&jr, FIX, 30);
	cr_assert_eq(cf_journal_ack(&jr, 21, 0), -ERANGE, "21 is not issued yet");
	cr_assert_eq(cf_journal_ack(&jr, 19, 0), 0);
	cr_assert_eq(cf_journal_ack(&jr, 5, 1u << 14), 0, "an older cum with a sack bit for 20 merges");
	cr_assert_eq(jr.ack_cum, 20);
	cr_assert_eq(cf_journal_ack(&jr, 20, 1), -ERANGE, "a sack bit for 21, never issued");
	ops = em.ops;
	cr_assert_eq(cf_journal_ack(&jr, 10, 0), 0);
	cr_assert_eq(cf_journal_ack(&jr, 20, 0), 0);
	cr_assert_eq(em.ops, ops, "duplicate acks cost no flash writes");
	no_abuse();
}

Test(cf_journal, unacked_iteration_both_ways)
{
	uint32_t s, want[] = {11, 13, 15, 16, 17, 18, 19, 20};
	uint8_t t;
	size_t k = 0;

	rig(1024, 8, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= 20; i++)
		append_seq(&jr, i == 13 ? IND : FIX, 25);
	cr_assert_eq(cf_journal_ack(&jr, 10, (1u << 1) | (1u << 3)), 0); /* 12 and 14 */
	for (s = 0; cf_journal_next_unacked(&jr, s, &s, &t) == 0; k++) {
		cr_assert_lt(k, sizeof want / sizeof want[0]);
		cr_assert_eq(s, want[k]);
		cr_assert_eq(t, s == 13 ? IND : FIX);
	}
	cr_assert_eq(k, 8);
	for (s = UINT32_MAX; cf_journal_prev_unacked(&jr, s, &s, NULL) == 0; k--)
		cr_assert_eq(s, want[k - 1]);
	cr_assert_eq(k, 0);
	cr_assert_eq(cf_journal_ack(&jr, 20, 0), 0);
	cr_assert_eq(cf_journal_next_unacked(&jr, 0, &s, NULL), -ENOENT);
	cr_assert_eq(cf_journal_prev_unacked(&jr, UINT32_MAX, &s, NULL), -ENOENT);
}

Test(cf_journal, blank_or_foreign_flash_is_formatted)
{
	rig(1024, 8, 8);
	for (uint32_t i = 0; i < 8 * 1024; i++)
		mem[i] = (uint8_t)mix32(i);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (int i = 0; i < 400; i++) /* several wraps over pages that were random before their erase */
		append_seq(&jr, FIX, 30);
	cr_assert_eq(cf_journal_ack(&jr, 390, 0), 0);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 391; i <= 400; i++)
		expect_record(&jr, i, FIX, 30);
	no_abuse();
}

/* With acks keeping up, the ring turns over many times, nothing un-acked is ever lost or thinned. */
Test(cf_journal, wraparound_with_acks_reclaims_only_acked)
{
	struct cf_journal_stats st;
	uint32_t last = 0;

	rig(1024, 6, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= 3000; i++) {
		last = append_seq(&jr, i % 11 ? FIX : IND, 10 + mix32(i) % 60);
		if (i % 8 == 0 && i > 12)
			cr_assert_eq(cf_journal_ack(&jr, last - 12, 0x3u << 4), 0);
	}
	cr_assert_eq(cf_journal_stats(&jr, &st), 0);
	cr_assert_eq(st.thinned, 0);
	cr_assert_eq(st.ind_dropped, 0);
	for (uint32_t s = st.ack_cum + 1; s <= last; s++)
		if (!cf_journal_is_acked(&jr, s))
			expect_record(&jr, s, s % 11 ? FIX : IND, 10 + mix32(s) % 60);
	uint8_t b[CF_JOURNAL_BODY_MAX];
	cr_assert_eq(cf_journal_read(&jr, 5, b, sizeof b, NULL, NULL), -ENOENT, "acked and reclaimed long ago");
	cr_assert_eq(em.n_reprograms, 0);
	no_abuse();
}

/* ---- the storage-full policy ------------------------------------------------------------------------ */

static uint8_t present[SEQ_MAX];
static uint8_t kind[SEQ_MAX];

struct walk {
	uint32_t n;
	uint32_t bad;
	uint32_t dup;
	uint32_t max_seq;
	size_t (*len_of)(uint32_t seq);
};

static int walk_fn(void *ctx, uint32_t seq, uint8_t type, const uint8_t *body, size_t len)
{
	struct walk *w = ctx;
	uint8_t want[CF_JOURNAL_BODY_MAX];

	if (seq >= SEQ_MAX || seq > w->max_seq || kind[seq] != type || len != w->len_of(seq)) {
		w->bad++;
		return 0;
	}
	body_for(seq, len, want);
	if (memcmp(want, body, len) != 0)
		w->bad++;
	if (present[seq])
		w->dup++;
	present[seq] = 1;
	w->n++;
	return 0;
}

static size_t fix_ind_len(uint32_t seq)
{
	return kind[seq] == FIX ? 30 : 60;
}

struct policy_result {
	uint32_t n_fix, n_ind, first_missing, window_fixes, oldest_fix, levels;
	double hours_full_rate, hours_oldest;
};

/*
 * Log `hours` of 1 Hz fixes (30-byte bodies, as our msgpack FIX) and an IND every 15 min (60 bytes), with no
 * ack at all, then check the policy exactly: every append succeeded, every IND is there, the present FIXes
 * form the documented lattice (walking back from the newest: all of them, then exactly the multiples of K,
 * then of K², …), and the thinned counter accounts for every missing FIX.
 */
static struct policy_result fill_without_acks(uint32_t page_size, uint32_t n_pages, double hours)
{
	struct policy_result res = {0};
	struct cf_journal_stats st;
	struct walk w = {.len_of = fix_ind_len};
	uint32_t total = (uint32_t)(hours * 3600.0), level = 0, m = 1;

	cr_assert_lt(total, SEQ_MAX);
	memset(present, 0, sizeof present);
	memset(kind, 0, sizeof kind);
	rig(page_size, n_pages, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t t = 1; t <= total; t++) {
		uint8_t type = t % 900 == 0 ? IND : FIX;
		kind[t] = type;
		append_seq(&jr, type, type == FIX ? 30 : 60); /* asserts success: logging never stops */
		if (type == FIX)
			res.n_fix++;
		else
			res.n_ind++;
	}
	w.max_seq = total;
	cr_assert_eq(cf_journal_foreach(&jr, walk_fn, &w), 0);
	cr_assert_eq(w.bad, 0, "records that differ from what was appended");
	cr_assert_eq(w.dup, 0);
	cr_assert_eq(cf_journal_stats(&jr, &st), 0);
	cr_assert_eq(st.ind_dropped, 0);
	uint32_t fix_present = 0;
	for (uint32_t s = total; s >= 1; s--) {
		if (kind[s] == IND) {
			cr_assert(present[s], "IND %u was lost", s);
			continue;
		}
		fix_present += present[s];
		if (present[s]) {
			cr_assert_eq(s % m, 0, "FIX %u present at thinning level %u (every %u-th)", s, level, m);
			if (level == 0)
				res.window_fixes++;
			res.oldest_fix = s;
		} else if (s % m == 0) {
			if (res.first_missing == 0)
				res.first_missing = s;
			while (s % m == 0) { /* the next older generation: one more factor K */
				m *= CF_JOURNAL_THIN_KEEP;
				level++;
			}
		}
	}
	cr_assert_eq(st.thinned, res.n_fix - fix_present, "thinned %u, but %u FIXes are missing", st.thinned,
		     res.n_fix - fix_present);
	res.levels = level;
	res.hours_full_rate = (double)(total - res.first_missing) / 3600.0;
	res.hours_oldest = (double)(total - res.oldest_fix) / 3600.0;
	cr_assert_eq(st.backlog, fix_present + res.n_ind);
	no_abuse();
	cr_assert_eq(em.n_reprograms, 0);
	return res;
}

Test(cf_journal, storage_full_keeps_inds_and_thins_old_fixes, .timeout = 120)
{
	/* 64 x 4 KiB: the ring holds ~1.5 h of 1 Hz fixes; log 8 h without a single ack */
	struct policy_result r = fill_without_acks(4096, 64, 8.0);
	uint32_t per_page = (4096 - 64) / 48; /* FIX records per page */

	cr_assert_gt(r.first_missing, 0, "8 h must overflow a 1.5 h ring");
	/* at steady state a page holds (1 - 1/K) fresh fixes: the complete window is about that much of the ring */
	cr_assert_geq(r.window_fixes, (64 - 3) * per_page * (CF_JOURNAL_THIN_KEEP - 1) / CF_JOURNAL_THIN_KEEP * 9 / 10,
		      "complete window only %u fixes", r.window_fixes);
	cr_assert_geq(r.levels, 3, "history should age through several generations, got %u", r.levels);
	cr_assert_gt(r.hours_oldest, 3 * r.hours_full_rate, "thinned history reaches far back");
	cr_log_info("64x4KiB, 8 h, no acks: %u INDs all kept; complete window %.2f h (%u fixes); oldest fix %.2f h "
		    "old; %u generations", r.n_ind, r.hours_full_rate, r.window_fixes, r.hours_oldest, r.levels);
}

/* The figure for the report: 1 MiB (256 x 4 KiB) at 1 Hz, 30-byte fixes, 48 h without acks. */
Test(cf_journal, capacity_of_one_mebibyte, .timeout = 300)
{
	struct policy_result r = fill_without_acks(4096, 256, 48.0);
	uint32_t per_page = (4096 - 64) / 48;
	double raw_h = (double)(256 - CF_JOURNAL_RESERVE_PAGES) * per_page / 3600.0;

	cr_assert_gt(r.hours_full_rate, raw_h / 2 * 0.9);
	cr_log_info("1 MiB: %.2f h of 1 Hz fixes before any thinning; at steady state the newest %.2f h are complete, "
		    "thinned history reaches %.2f h back (%u generations, K=%u); %u INDs all kept",
		    raw_h, r.hours_full_rate, r.hours_oldest, r.levels, CF_JOURNAL_THIN_KEEP, r.n_ind);
	fprintf(stderr, "journal capacity 1 MiB: raw %.2f h, complete window %.2f h, history %.2f h\n", raw_h,
		r.hours_full_rate, r.hours_oldest);
}

static size_t ind_len(uint32_t seq)
{
	(void)seq;
	return 200;
}

/* Nothing but un-acked INDs (no gateway for weeks): logging must still never stop; the oldest INDs go. */
Test(cf_journal, flood_of_inds_never_stops_logging)
{
	struct cf_journal_stats st;
	struct walk w = {.len_of = ind_len};
	uint32_t n = 2000, kept = 0;

	memset(present, 0, sizeof present);
	rig(1024, 16, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= n; i++) {
		kind[i] = IND;
		append_seq(&jr, IND, 200);
	}
	w.max_seq = n;
	cr_assert_eq(cf_journal_foreach(&jr, walk_fn, &w), 0);
	cr_assert_eq(w.bad + w.dup, 0);
	cr_assert_eq(cf_journal_stats(&jr, &st), 0);
	for (uint32_t i = 1; i <= n; i++)
		kept += present[i];
	cr_assert_eq(st.ind_dropped, n - kept);
	cr_assert_gt(kept, 16 * 2, "the ring should still hold several pages of INDs");
	for (uint32_t i = n; i > n - 30; i--)
		cr_assert(present[i], "recent IND %u lost", i);
	no_abuse();
}

/* ---- power loss at every write ------------------------------------------------------------------------ */

#define M_SEQ 2048
#define M_PAGES 2048

struct model {
	uint8_t type[M_SEQ];
	uint8_t len[M_SEQ];
	uint8_t ok[M_SEQ];          /* append returned 0 */
	uint8_t acked[M_SEQ];       /* named by an ack call that returned 0 */
	uint8_t maybe_acked[M_SEQ]; /* named by the ack call the power cut interrupted */
	uint32_t hi_at[M_PAGES];    /* last seen highest rec_seq of each page_seq */
	uint32_t max_ok;
	uint16_t max_boot;
	uint32_t last_seq;
	uint8_t app_ok;             /* app state byte value of the last set that returned 0 (0: never set) */
	uint8_t app_try;            /* ... of the set the power cut interrupted */
};

static struct model mdl;

static void snap(const struct cf_journal *j)
{
	if (!j->mounted)
		return;
	for (uint32_t s = j->tail_seq; s <= j->head_seq && s < M_PAGES; s++) {
		const struct cf_journal_page *pg = &j->page[s % j->n_pages];
		mdl.hi_at[s] = pg->lo <= pg->hi ? pg->hi : 0;
	}
}

static void model_ack(uint8_t *set, uint32_t cum, uint64_t sack)
{
	for (uint32_t s = 1; s <= cum && s < M_SEQ; s++)
		set[s] = 1;
	for (uint32_t i = 0; i < 64; i++)
		if (((sack >> i) & 1u) && cum + 1 + i < M_SEQ)
			set[cum + 1 + i] = 1;
}

static int w_mount(void)
{
	int err;

	memset(&jr, 0xA5, sizeof jr);
	err = cf_journal_mount(&jr, &dev);
	if (err < 0)
		return err;
	cr_assert_gt(cf_journal_boot_id(&jr), mdl.max_boot, "boot_id went back");
	mdl.max_boot = cf_journal_boot_id(&jr);
	cr_assert_gt(cf_journal_next_seq(&jr), mdl.max_ok, "rec_seq would repeat");
	snap(&jr);
	return 0;
}

static int w_bump(void)
{
	uint16_t b;
	int err = cf_journal_bump_boot(&jr, &b);

	if (err < 0)
		return err;
	cr_assert_gt(b, mdl.max_boot);
	mdl.max_boot = b;
	snap(&jr);
	return 0;
}

static int w_append(uint8_t type, uint8_t len)
{
	uint8_t b[CF_JOURNAL_BODY_MAX];
	uint32_t seq = cf_journal_next_seq(&jr), got = 0;
	int err;

	cr_assert_lt(seq, M_SEQ);
	cr_assert_gt(seq, mdl.max_ok);
	mdl.type[seq] = type;
	mdl.len[seq] = len;
	body_for(seq, len, b);
	err = cf_journal_append(&jr, type, b, len, &got);
	if (err < 0)
		return err;
	cr_assert_eq(got, seq);
	mdl.ok[seq] = 1;
	mdl.max_ok = seq;
	mdl.last_seq = seq;
	snap(&jr);
	return 0;
}

static int w_auto(uint8_t big)
{
	uint32_t seq = cf_journal_next_seq(&jr);
	uint8_t type = seq % 7 == 0 ? IND : FIX;
	return w_append(type, big ? (uint8_t)CF_JOURNAL_BODY_MAX : (uint8_t)(8 + mix32(seq) % 48));
}

static int w_ack(uint32_t cum, uint64_t sack)
{
	int err = cf_journal_ack(&jr, cum, sack);

	if (err < 0) {
		model_ack(mdl.maybe_acked, cum, sack);
		return err;
	}
	model_ack(mdl.acked, cum, sack);
	snap(&jr);
	return 0;
}

/* The application state: 16 bytes all equal to v; after a cut it must be the old or the new value, whole. */
static int w_app(uint8_t v)
{
	uint8_t st[CF_JOURNAL_APP_STATE];
	int err;

	memset(st, v, sizeof st);
	mdl.app_try = v;
	err = cf_journal_app_state_set(&jr, st);
	if (err < 0)
		return err;
	mdl.app_ok = v;
	return 0;
}

#define TRY(x)                   \
	do {                     \
		int e_ = (x);    \
		if (e_ < 0)      \
			return e_; \
	} while (0)

/* Appends with lagging acks and sacks, a clean remount and a boot bump, a long stretch without acks (the
 * ring wraps, reclaims thin FIXes and move INDs), catch-up acks, maximum-size records. */
static int workload(void)
{
	TRY(w_mount());
	for (int i = 0; i < 60; i++) {
		TRY(w_auto(0));
		if (i % 10 == 9)
			TRY(w_ack(mdl.last_seq - 5, 0x5));
		if (i == 30)
			TRY(w_app(1));
	}
	TRY(w_mount());
	TRY(w_bump());
	for (int i = 0; i < 130; i++) {
		TRY(w_auto(i % 25 == 24));
		if (i == 10 || i == 90)
			TRY(w_app((uint8_t)(2 + i))); /* 12, then 92 after the ring wrapped over the first */
	}
	TRY(w_ack(mdl.last_seq - 3, 0x5));
	for (int i = 0; i < 80; i++) {
		TRY(w_auto(i % 10 == 9));
		if (i % 8 == 7)
			TRY(w_ack(mdl.last_seq - 4, 0x3));
	}
	TRY(w_ack(mdl.last_seq - 10, 0)); /* a duplicate: no write */
	TRY(w_mount());
	return 0;
}

/* No gateway and nothing but big INDs: reclaims must drop the oldest INDs, under power cuts too. */
static int flood_workload(void)
{
	TRY(w_mount());
	for (int i = 0; i < 120; i++)
		TRY(w_append(i % 5 ? IND : FIX, (uint8_t)(i % 3 ? 200 : CF_JOURNAL_BODY_MAX)));
	TRY(w_mount());
	for (int i = 0; i < 40; i++)
		TRY(w_append(IND, 180));
	return 0;
}

static size_t model_len(uint32_t seq)
{
	return seq < M_SEQ ? mdl.len[seq] : 0;
}

static int check_fn(void *ctx, uint32_t seq, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t *seen = ctx, want[CF_JOURNAL_BODY_MAX];

	cr_assert_lt(seq, M_SEQ, "record %u was never appended", seq);
	cr_assert_neq(mdl.type[seq], 0, "record %u was never appended (invented)", seq);
	cr_assert_eq(type, mdl.type[seq], "record %u: type %u, appended %u", seq, type, mdl.type[seq]);
	cr_assert_eq(len, model_len(seq), "record %u: len %zu, appended %u", seq, len, mdl.len[seq]);
	body_for(seq, len, want);
	cr_assert_arr_eq(body, want, len, "record %u corrupted", seq);
	cr_assert_eq(seen[seq], 0, "record %u stored twice", seq);
	seen[seq] = 1;
	return 0;
}

/* After a cut: power on, remount, and compare flash with everything the calls were told. INDs may be missing
 * only when allow_ind_drop (a flood) and only from reclaimed pages, like thinned FIXes. */
static void check_after_cut(const char *what, int allow_ind_drop)
{
	static uint8_t seen[M_SEQ];
	struct cf_journal_stats st;
	uint32_t frontier = 0;

	hal_flash_emul_power_on(&em);
	cr_assert_eq(w_mount(), 0, "%s: mount after the cut failed", what);
	/* FIXes may be thinned only out of pages that have been reclaimed (tail moved past them) */
	for (uint32_t s = 1; s < jr.tail_seq && s < M_PAGES; s++)
		if (mdl.hi_at[s] > frontier)
			frontier = mdl.hi_at[s];
	memset(seen, 0, sizeof seen);
	cr_assert_eq(cf_journal_foreach(&jr, check_fn, seen), 0);
	for (uint32_t s = 1; s <= mdl.max_ok; s++) {
		if (!mdl.ok[s] || seen[s] || mdl.acked[s] || mdl.maybe_acked[s])
			continue;
		cr_assert((mdl.type[s] == FIX || allow_ind_drop) && s <= frontier,
			  "%s: %s %u was appended (and not acked) but is gone; thinning frontier %u", what,
			  mdl.type[s] == FIX ? "FIX" : "IND", s, frontier);
	}
	cr_assert_eq(cf_journal_stats(&jr, &st), 0);
	if (!allow_ind_drop)
		cr_assert_eq(st.ind_dropped, 0, "%s", what);
	uint8_t app[CF_JOURNAL_APP_STATE];
	cf_journal_app_state(&jr, app);
	for (unsigned i = 0; i < sizeof app; i++)
		cr_assert(app[i] == app[0] && (app[0] == mdl.app_ok || app[0] == mdl.app_try),
		          "%s: app state byte %u = %u, set %u (interrupted: %u)", what, i, app[i], mdl.app_ok, mdl.app_try);
	no_abuse();
}

static void power_cut_sweep(uint32_t page_size, uint32_t n_pages, uint32_t prog_unit, int flood)
{
	int (*work)(void) = flood ? flood_workload : workload;
	uint32_t n_ops, runs = 0, torn = 0;

	memset(&mdl, 0, sizeof mdl);
	rig(page_size, n_pages, prog_unit);
	cr_assert_eq(work(), 0);
	n_ops = em.ops;
	cr_assert_gt(jr.head_seq, 3 * n_pages, "the workload should wrap the ring several times");
	if (flood)
		cr_assert_gt(jr.ind_dropped_total, 0, "the flood should make reclaims drop INDs");
	else
		cr_assert_gt(jr.thinned_total, 0, "the workload should make reclaims thin FIXes");
	for (uint32_t k = 1; k <= n_ops; k++) {
		for (int mode = 0; mode < 3; mode++) {
			char what[80];
			memset(&mdl, 0, sizeof mdl);
			rig(page_size, n_pages, prog_unit);
			hal_flash_emul_cut_after(&em, k, mode > 0, (uint64_t)k * 3u + (uint64_t)mode);
			int err = work();
			cr_assert(hal_flash_emul_is_off(&em), "op %u: the cut never happened (err %d)", k, err);
			snprintf(what, sizeof what, "%ux%u/%u cut after op %u of %u (%s)", n_pages, page_size,
				 prog_unit, k, n_ops, mode ? "torn" : "complete");
			torn += em.n_torn;
			check_after_cut(what, flood);
			if (mode == 0)
				cr_assert_eq(em.n_reprograms, 0, "%s: a prog unit written twice", what);
			/* and the recovered journal keeps working: more records, an ack, a clean remount */
			for (int i = 0; i < 25; i++)
				cr_assert_eq(w_auto(i == 20), 0, "%s: append after recovery", what);
			cr_assert_eq(w_ack(mdl.last_seq - 20, 0x1), 0);
			cr_assert_eq(w_mount(), 0);
			check_after_cut(what, flood);
			runs++;
		}
	}
	cr_log_info("%ux%u/%u: workload of %u flash ops, %u power cuts (%u torn) all recovered", n_pages, page_size,
		    prog_unit, n_ops, runs, torn);
	fprintf(stderr, "power-cut sweep %ux%u prog %u%s: %u ops, %u cuts (%u torn)\n", n_pages, page_size,
		prog_unit, flood ? " IND flood" : "", n_ops, runs, torn);
}

Test(cf_journal, power_loss_at_every_write, .timeout = 300)
{
	power_cut_sweep(1024, 6, 8, 0);
}

Test(cf_journal, power_loss_at_every_write_byte_programmable, .timeout = 300)
{
	power_cut_sweep(1024, 5, 1, 0);
}

Test(cf_journal, power_loss_at_every_write_wide_prog_unit, .timeout = 300)
{
	power_cut_sweep(2048, 4, 32, 0);
}

Test(cf_journal, power_loss_at_every_write_during_ind_flood, .timeout = 300)
{
	power_cut_sweep(1024, 5, 8, 1);
}

/*
 * A CMD's save as the collar makes it: app.c cfg_save (state bytes 9..14: flags, rate_ms, mode), then link.c
 * cmd_mem_save (bytes 0..8: cmd_high, ran bitmap, results), each a read-modify-write of the journal's app
 * state, and only then the CMD_ACK. CMDs are interleaved with appends, lagging acks and a remount, so their
 * saves land on page changes and on reclaims (EVAC, moved records, new headers carrying the snapshot); the
 * power is cut after (or in the middle of) every flash operation of the whole workload. After each cut the
 * state must be exactly the last completed set or the interrupted one, and never below the last CMD that
 * was acknowledged: neither its rate nor its CMD memory may be lost. (cf_collar_process checks the same on
 * the real process; this is the deterministic proof for the journal's side of it.)
 */
#define CMD_RATE(id) (1000u + 10u * (id))

static struct {
	uint8_t ok[CF_JOURNAL_APP_STATE];   /* the state of the last set that returned 0 */
	uint8_t try_[CF_JOURNAL_APP_STATE]; /* ... of the set in progress (the one a cut interrupted) */
	uint32_t next_id;                   /* cmd_id of the next CMD */
	uint32_t acked;                     /* the last CMD whose two saves returned 0: its CMD_ACK went out */
	int reference;                      /* the uncut run: count where the sets landed */
	uint32_t sets, sets_opening_page, sets_reclaiming;
} cm;

static uint32_t st_get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void st_put32(uint8_t *b, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8u * i));
}

static int c_set(const uint8_t st[CF_JOURNAL_APP_STATE])
{
	uint32_t head = jr.head_seq, tail = jr.tail_seq;
	int err;

	memcpy(cm.try_, st, sizeof cm.try_);
	err = cf_journal_app_state_set(&jr, st);
	if (err < 0)
		return err;
	memcpy(cm.ok, st, sizeof cm.ok);
	if (cm.reference) {
		cm.sets++;
		cm.sets_opening_page += jr.head_seq != head;
		cm.sets_reclaiming += jr.tail_seq != tail;
	}
	return 0;
}

static int c_cmd(void)
{
	uint8_t st[CF_JOURNAL_APP_STATE];
	uint32_t id = cm.next_id++;

	cf_journal_app_state(&jr, st); /* cfg_save: SET_RATE id ran */
	st[9] = 1;
	st_put32(st + 10, CMD_RATE(id));
	st[14] = 0;
	TRY(c_set(st));
	cf_journal_app_state(&jr, st); /* cmd_mem_save: id is the newest CMD that ran, DONE */
	st_put32(st, id);
	st[4] = (uint8_t)(st[4] << 1 | 1u);
	st_put32(st + 5, st_get32(st + 5) << 4 | 1u);
	TRY(c_set(st));
	cm.acked = id;
	return 0;
}

static int cmd_workload(void)
{
	TRY(w_mount());
	for (int i = 0; i < 320; i++) {
		TRY(w_auto(i % 9 == 8));
		if (i % 12 == 11)
			TRY(w_ack(mdl.last_seq - 6, 0x5)); /* lagging: reclaims move un-acked records */
		/* bursts of CMDs, then quiet stretches long enough for the ring to reclaim the pages holding the
		 * last CMD's markers: only the page headers' snapshots keep the state then */
		if ((i / 80) % 2 == 0 && (i % 2 == 1 || i % 7 == 4))
			TRY(c_cmd());
		if (i == 150)
			TRY(w_mount());
	}
	return 0;
}

static void check_cmd_state(const char *what)
{
	uint8_t st[CF_JOURNAL_APP_STATE];

	cr_assert_eq(w_mount(), 0, "%s: mount failed", what);
	cf_journal_app_state(&jr, st);
	cr_assert(memcmp(st, cm.ok, sizeof st) == 0 || memcmp(st, cm.try_, sizeof st) == 0,
		  "%s: app state is neither the last completed set nor the interrupted one", what);
	if (cm.acked == 0)
		return;
	cr_assert(st[9] == 1 && st_get32(st + 10) >= CMD_RATE(cm.acked),
		  "%s: rate %u ms, but SET_RATE %u (%u ms) was acknowledged: config lost", what,
		  st_get32(st + 10), cm.acked, CMD_RATE(cm.acked));
	cr_assert(st_get32(st) >= cm.acked && (st[4] & 1u),
		  "%s: CMD memory says %u, but CMD %u was acknowledged", what, st_get32(st), cm.acked);
	no_abuse();
}

static void cmd_cut_sweep(uint32_t page_size, uint32_t n_pages, uint32_t prog_unit)
{
	uint32_t n_ops, cuts = 0, sets, opening, reclaiming;

	memset(&mdl, 0, sizeof mdl);
	memset(&cm, 0, sizeof cm);
	cm.next_id = 1;
	cm.reference = 1;
	rig(page_size, n_pages, prog_unit);
	cr_assert_eq(cmd_workload(), 0);
	n_ops = em.ops;
	cr_assert_gt(jr.head_seq, 3 * n_pages, "the workload should wrap the ring several times");
	cr_assert_gt(cm.sets_opening_page, 3u, "CMD saves should land on page changes");
	cr_assert_gt(cm.sets_reclaiming, 1u, "CMD saves should land on reclaims");
	check_cmd_state("uncut");
	sets = cm.sets;
	opening = cm.sets_opening_page;
	reclaiming = cm.sets_reclaiming;
	for (uint32_t k = 1; k <= n_ops; k++) {
		for (int mode = 0; mode < 3; mode++) {
			char what[80];
			memset(&mdl, 0, sizeof mdl);
			memset(&cm, 0, sizeof cm);
			cm.next_id = 1;
			rig(page_size, n_pages, prog_unit);
			hal_flash_emul_cut_after(&em, k, mode > 0, (uint64_t)k * 7u + (uint64_t)mode);
			int err = cmd_workload();
			cr_assert(hal_flash_emul_is_off(&em), "op %u: the cut never happened (err %d)", k, err);
			snprintf(what, sizeof what, "%ux%u/%u cut after op %u of %u (%s)", n_pages, page_size,
				 prog_unit, k, n_ops, mode ? "torn" : "complete");
			hal_flash_emul_power_on(&em);
			check_cmd_state(what);
			/* the collar goes on: the gateway's next CMD, more records, a clean reboot */
			cr_assert_eq(c_cmd(), 0, "%s: CMD after recovery", what);
			for (int i = 0; i < 10; i++)
				cr_assert_eq(w_auto(i == 5), 0, "%s: append after recovery", what);
			check_cmd_state(what);
			cuts++;
		}
	}
	fprintf(stderr, "CMD-save power-cut sweep %ux%u prog %u: %u ops, %u CMD state sets (%u opened a page, %u "
		"reclaimed), %u cuts\n", n_pages, page_size, prog_unit, n_ops, sets, opening, reclaiming, cuts);
}

Test(cf_journal, cmd_save_survives_power_loss_at_every_write, .timeout = 300)
{
	cmd_cut_sweep(1024, 6, 8);
	cmd_cut_sweep(1024, 5, 1);
}

/*
 * One reclaim interrupted again and again: each mount resumes it, copies a record or two, and the power goes
 * in the middle of the next copy, leaving a torn record in the head page. The wasted space pushes the
 * reclaim into the spill path (a second new page). Whatever happens, every record is intact, stored once,
 * and anything missing is accounted for by the thinned / ind_dropped counters.
 */
static size_t mixed_len(uint32_t seq)
{
	return kind[seq] == IND ? 100 : 20;
}

Test(cf_journal, repeated_cuts_during_one_reclaim)
{
	struct cf_journal_stats st;
	struct walk w = {.len_of = mixed_len};
	uint32_t n = 0, cut_op = 0, trials = 0;

	memset(present, 0, sizeof present);
	memset(kind, 0, sizeof kind);
	for (uint32_t i = 1; i <= 500; i++)
		kind[i] = i % 3 ? IND : FIX;
	/* dry run: find the append whose page change reclaims a page full of un-acked INDs */
	rig(1024, 5, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= 400 && cut_op == 0; i++) {
		uint32_t ops = em.ops, tail = jr.tail_seq;
		append_seq(&jr, kind[i], mixed_len(i));
		if (jr.tail_seq != tail && jr.head_seq > 8) {
			cut_op = ops + 2; /* erase, header: then the copies begin */
			n = i;
		}
	}
	cr_assert_gt(cut_op, 0);
	/* cut at each point of the reclaim (offset), then fail `resumes` mounts in a row, each torn */
	for (int trial = 0; trial < 12 * 16; trial++) {
		uint32_t offset = (uint32_t)trial / 16u;
		int resumes = trial % 16;
		rig(1024, 5, 8);
		cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
		hal_flash_emul_cut_after(&em, cut_op + offset - em.ops, 0, 1);
		uint32_t last_ok = 0;
		for (uint32_t i = 1; i <= n + 40; i++) {
			uint8_t b[CF_JOURNAL_BODY_MAX];
			body_for(i, mixed_len(i), b);
			if (cf_journal_append(&jr, kind[i], b, mixed_len(i), NULL) < 0)
				break;
			last_ok = i;
		}
		cr_assert(hal_flash_emul_is_off(&em));
		/* `trial` resumptions, each torn after one completed write */
		for (int c = 0; c < resumes; c++) {
			hal_flash_emul_power_on(&em);
			hal_flash_emul_cut_after(&em, 2, 1, (uint64_t)(trial * 100 + c + 1));
			int e = cf_journal_mount(&jr, &dev);
			cr_assert(e == 0 || e == -EIO, "a mount either finishes or loses its power: %d", e);
		}
		hal_flash_emul_power_on(&em);
		cr_assert_eq(cf_journal_mount(&jr, &dev), 0, "trial %d", trial);
		memset(present, 0, sizeof present);
		w = (struct walk){.len_of = mixed_len, .max_seq = last_ok + 1};
		cr_assert_eq(cf_journal_foreach(&jr, walk_fn, &w), 0);
		cr_assert_eq(w.bad, 0, "trial %d: corrupted or invented record", trial);
		cr_assert_eq(w.dup, 0, "trial %d: a record stored twice", trial);
		cr_assert_eq(cf_journal_stats(&jr, &st), 0);
		uint32_t miss_ind = 0, miss_fix = 0;
		for (uint32_t i = 1; i <= last_ok; i++) {
			if (!present[i])
				*(kind[i] == IND ? &miss_ind : &miss_fix) += 1;
		}
		cr_assert_eq(miss_ind, st.ind_dropped, "trial %d: %u INDs missing, %u counted", trial, miss_ind,
			     st.ind_dropped);
		cr_assert_eq(miss_fix, st.thinned, "trial %d: %u FIXes missing, %u counted", trial, miss_fix,
			     st.thinned);
		for (int i = 0; i < 50; i++) /* and logging goes on */
			append_seq(&jr, IND, 100);
		no_abuse();
		trials++;
	}
	cr_log_info("repeated cuts during one reclaim: %u trials recovered", trials);
}

/* ---- host board: flash in a file --------------------------------------------------------------------- */

Test(cf_flash_file, nor_rules_and_geometry)
{
	char dir[] = "/tmp/cf_flash_file_XXXXXX", path[64];
	struct hal_flash fdev;
	struct hal_flash_file ff;
	uint8_t b[8], r[8];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/raw.bin", dir);
	cr_assert_eq(hal_flash_file_open(&fdev, &ff, path, 1024, 4, 8, 0), 0);
	cr_assert_eq(hal_flash_read(&fdev, 1000, r, 8), 0);
	cr_assert_eq(r[0], 0xFF, "a new file is an erased chip");
	memset(b, 0x0F, sizeof b);
	cr_assert_eq(hal_flash_program(&fdev, 1024, b, 8), 0);
	memset(b, 0xF0, sizeof b);
	cr_assert_eq(hal_flash_program(&fdev, 1024, b, 8), -EPERM, "0 -> 1 refused by the file too");
	cr_assert_eq(ff.n_violations, 1);
	cr_assert_eq(hal_flash_read(&fdev, 1024, r, 8), 0);
	cr_assert_eq(r[7], 0x0F, "a refused program changes nothing");
	cr_assert_eq(hal_flash_program(&fdev, 3, b, 8), -EINVAL, "misaligned");
	cr_assert_eq(hal_flash_program(&fdev, 4096, b, 8), -EINVAL, "past the end");
	cr_assert_eq(hal_flash_erase_page(&fdev, 1), 0);
	cr_assert_eq(hal_flash_read(&fdev, 1024, r, 8), 0);
	cr_assert_eq(r[7], 0xFF);
	cr_assert_eq(hal_flash_file_close(&fdev), 0);
	cr_assert_eq(hal_flash_file_open(&fdev, &ff, path, 1024, 8, 8, 0), -EINVAL, "wrong geometry for the file");
	unlink(path);
	rmdir(dir);
}

Test(cf_flash_file, journal_survives_reopen)
{
	char dir[] = "/tmp/cf_flash_file_XXXXXX", path[64];
	struct hal_flash fdev;
	struct hal_flash_file ff;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/flash.bin", dir);
	cr_assert_eq(hal_flash_file_open(&fdev, &ff, path, 1024, 32, 8, 0), 0);
	cr_assert_eq(cf_journal_mount(&jr, &fdev), 0);
	for (uint32_t i = 1; i <= 200; i++)
		append_seq(&jr, i % 6 ? FIX : IND, 10 + i % 40);
	cr_assert_eq(cf_journal_ack(&jr, 150, 0), 0);
	cr_assert_eq(hal_flash_file_close(&fdev), 0);

	cr_assert_eq(hal_flash_file_open(&fdev, &ff, path, 1024, 32, 8, HAL_FLASH_FILE_SYNC), 0);
	cr_assert_eq(cf_journal_mount(&jr, &fdev), 0);
	cr_assert_eq(cf_journal_boot_id(&jr), 2);
	cr_assert_eq(cf_journal_next_seq(&jr), 201);
	for (uint32_t i = 151; i <= 200; i++)
		expect_record(&jr, i, i % 6 ? FIX : IND, 10 + i % 40);
	cr_assert_eq(ff.n_violations, 0);
	cr_assert_eq(hal_flash_file_close(&fdev), 0);
	unlink(path);
	rmdir(dir);
}

/* ---- the RAM index ---------------------------------------------------------------------------------------- */

/* Brute force from the flash (cf_journal_read scans pages when its location cache misses): stored? type? */
static int bf_stored(struct cf_journal *j, uint32_t s, uint8_t *type)
{
	uint8_t b[CF_JOURNAL_BODY_MAX];
	size_t len;
	return cf_journal_read(j, s, b, sizeof b, &len, type) == 0;
}

static void check_index(struct cf_journal *j, uint32_t *rng)
{
	uint32_t next = cf_journal_next_seq(j);
	static uint8_t st[40000], ty[40000];
	cr_assert_lt(next, 40000u);
	for (uint32_t s = 1; s < next; s++)
		st[s] = (uint8_t)(bf_stored(j, s, &ty[s]) && !cf_journal_is_acked(j, s));
	for (int q = 0; q < 300; q++) {
		*rng = mix32(*rng + 1u);
		uint32_t a = q < 3 ? (uint32_t)q : *rng % (next + 2u);
		uint32_t want = 0, r;
		uint8_t t = 0;
		for (uint32_t s = a + 1u; s < next && !want; s++)
			if (st[s])
				want = s;
		int err = cf_journal_next_unacked(j, a, &r, &t);
		if (want == 0) {
			cr_assert_eq(err, -ENOENT, "next after %u: got %u, want none", a, r);
		} else {
			cr_assert_eq(err, 0, "next after %u: %d, want %u", a, err, want);
			cr_assert_eq(r, want, "next after %u", a);
			cr_assert_eq(t, ty[want]);
		}
		uint32_t b = q < 3 ? (q == 0 ? UINT32_MAX : next + (uint32_t)q) : *rng % (next + 2u);
		want = 0;
		for (uint32_t s = (b < next ? b : next); s-- > 1u && !want;)
			if (st[s])
				want = s;
		err = cf_journal_prev_unacked(j, b, &r, &t);
		if (want == 0) {
			cr_assert_eq(err, -ENOENT, "prev before %u: got %u, want none", b, r);
		} else {
			cr_assert_eq(err, 0, "prev before %u: %d, want %u", b, err, want);
			cr_assert_eq(r, want, "prev before %u", b);
			cr_assert_eq(t, ty[want]);
		}
	}
}

/* next/prev_unacked from the RAM index (and its fall-back below the window) answer exactly what the flash
 * says, through appends, acks with holes, thinning, a backlog longer than the window, and remounts. */
Test(cf_journal, ram_index_answers_exactly_what_the_flash_holds)
{
	uint32_t rng = 77;
	rig(4096, 64, 8);
	cr_assert_eq(cf_journal_mount(&jr, &dev), 0);
	for (uint32_t i = 1; i <= 6000; i++) {
		append_seq(&jr, i % 37u == 0 ? IND : FIX, 40u + i % 50u);
		if (i % 700 == 0 && i < 2500) {
			/* acks with holes: everything below a point, and every third above it */
			uint32_t cum = i - 400u;
			cr_assert_eq(cf_journal_ack(&jr, cum, 0x4924924924924924ull), 0);
		}
		if (i % 1500 == 0) {
			check_index(&jr, &rng);
			cr_assert_eq(cf_journal_mount(&jr, &dev), 0, "remount");
			check_index(&jr, &rng);
		}
	}
	struct cf_journal_stats js;
	cr_assert_eq(cf_journal_stats(&jr, &js), 0);
	cr_assert_gt(js.thinned, 500u, "the ring thinned");
	cr_assert_gt(js.backlog, CF_JOURNAL_IDX_WIN, "a backlog longer than the window exercises the fall-back");
	no_abuse();
}
