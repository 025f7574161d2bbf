/*
 * Fuzz target for the collar's NMEA parser (cf/nmea.h): arbitrary receiver bytes, chunked arbitrarily.
 *
 * Input layout: byte 0 seeds the chunking (chunk lengths 0..64 from a xorshift over it) and picks the
 * configuration (cycle_last, whether a reference time is set); the rest is the byte stream.
 * Invariants asserted (beyond "no crash, no UB" from the sanitizers):
 *   - the parser always consumes (used <= len, and a call that completes no record consumes everything);
 *   - every record's present fields are in range: lat ±90°, lon ±180°, tod < 86 401 000 ms, cog < 36000,
 *     GGA quality <= 8, fix_dim 1..3, a position only with a fix-capable status, HACC only with its source;
 *   - a record with a time has t_ms consistent with tod_ms (same time of day);
 *   - counters add up: fixes == records handed out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cf/nmea.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_fix(const struct cf_fix *f)
{
	if (f->has & CF_FIX_HAS_POS) {
		check(f->lat_e7 >= -900000000 && f->lat_e7 <= 900000000);
		check(f->lon_e7 >= -1800000000 && f->lon_e7 <= 1800000000);
	}
	if (f->has & CF_FIX_HAS_TOD)
		check(f->tod_ms < 86401000u);
	if ((f->has & CF_FIX_HAS_TIME) && (f->has & CF_FIX_HAS_TOD)) {
		int64_t day_ms = f->t_ms % 86400000;
		if (day_ms < 0)
			day_ms += 86400000;
		/* a leap second (tod 86 400 xxx) lands on the next day's first second */
		check((uint32_t)day_ms == f->tod_ms % 86400000u);
	}
	if (f->has & CF_FIX_HAS_COG)
		check(f->cog_cdeg < 36000u);
	if (f->has & CF_FIX_HAS_GGA_Q)
		check(f->gga_q <= 8u);
	if (f->has & CF_FIX_HAS_FIX_DIM)
		check(f->fix_dim >= 1u && f->fix_dim <= 3u);
	if (f->has & CF_FIX_HAS_HACC)
		check(f->h_acc_src == CF_HACC_SRC_GST || f->h_acc_src == CF_HACC_SRC_UERE);
	check(cf_fix_mode(f) >= 1 && cf_fix_mode(f) <= 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cf_nmea p;
	struct cf_nmea_config cfg = CF_NMEA_CONFIG_INIT;
	struct cf_fix fix;
	uint32_t records = 0;

	if (size == 0)
		return 0;
	uint32_t rng = 0x9e3779b9u ^ ((uint32_t)data[0] * 0x01000193u);
	cfg.cycle_last = (uint8_t)(data[0] % CF_NMEA_S_COUNT);
	cf_nmea_init(&p, &cfg);
	if (data[0] & 0x80u)
		cf_nmea_set_reference_time(&p, 1748736000000); /* 2025-06-01 */
	data++;
	size--;
	size_t off = 0;
	while (off < size) {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		size_t n = rng % 65u;
		if (n > size - off)
			n = size - off;
		const uint8_t *b = data + off;
		size_t left = n;
		for (;;) {
			size_t used = 99999;
			int r = cf_nmea_feed(&p, b, left, &used, &fix);
			check(r == 0 || r == 1);
			check(used <= left);
			b += used;
			left -= used;
			if (r == 1) {
				check_fix(&fix);
				records++;
				continue;
			}
			check(left == 0);
			break;
		}
		off += n;
	}
	while (cf_nmea_flush(&p, &fix) == 1) {
		check_fix(&fix);
		records++;
	}
	check(p.stats.fixes == records);
	return 0;
}
