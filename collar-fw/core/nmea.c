/*
 * collar-fw/core/nmea.c — NMEA 0183 lexer, sentence parsers and epoch assembly (cf/nmea.h has the policy).
 *
 * Three layers, each knowing nothing of the next:
 *   lexer    bytes → one checksum-verified line ("GPGGA,...") in p->line, or a counted rejection
 *   parsers  line → struct sentence (scaled integers + presence bits), all-or-nothing per sentence
 *   epochs   sentences → struct cf_fix, closed by a new time of day / cfg.cycle_last / flush
 * No floating point anywhere: a Cortex-M4 without an FPU context switch pays nothing, and results are
 * bit-identical on the host and the collar.
 */
#include "cf/nmea.h"

#include <string.h>

enum lex_state {
	LEX_GROUND = 0, /* between sentences: skip until '$' */
	LEX_LINE,       /* collecting a sentence */
	LEX_SKIP,       /* overlong line: skip to its end */
};

#define LINE_CAP (CF_NMEA_LINE_MAX - 1u) /* chars kept after '$' */
#define MS_PER_DAY 86400000
#define HALF_DAY_MS 43200000u

/* Talkers, in struct cf_fix.talker_mask bit order. */
static const char talkers[][3] = {"GP", "GN", "GL", "GA", "GB", "BD", "QZ"};
static const char sentence_names[CF_NMEA_S_COUNT][4] = {"", "GGA", "RMC", "GSA", "GST", "GNS", "VTG", "GLL",
                                                        "ZDA"};

struct field {
	const char *s;
	uint8_t n;
};

/* One parsed sentence before it is merged: same units as struct cf_fix. */
struct sentence {
	struct cf_fix v;   /* values with v.has presence bits (TOD, POS, ALT, ...) */
	uint8_t hdop_prio; /* 1 GSA, 2 GGA/GNS */
	bool has_date;
	int32_t date_days;
	uint8_t date_tq;
	bool has_gst;
	uint32_t gst_h_acc_mm;
	bool untimed; /* the layout has a time field but it is empty (receivers without a fix, Quectel) */
};

static void count(uint32_t *c)
{
	if (*c != UINT32_MAX) {
		(*c)++;
	}
}

static void count_n(uint32_t *c, uint32_t n)
{
	*c = (UINT32_MAX - *c < n) ? UINT32_MAX : *c + n;
}

/* ---------------------------------------------------------------------------------------------------------
 * Calendar (Howard Hinnant's days_from_civil / civil_from_days: exact, branch-light, no tables, no libc
 * timegm — newlib's depends on TZ and is not reentrant).
 */
int32_t cf_nmea_days_from_civil(int32_t y, unsigned m, unsigned d)
{
	y -= m <= 2u;
	const int32_t era = (y >= 0 ? y : y - 399) / 400;
	const uint32_t yoe = (uint32_t)(y - era * 400);                          /* [0, 399] */
	const uint32_t doy = (153u * (m > 2u ? m - 3u : m + 9u) + 2u) / 5u + d - 1u; /* [0, 365] */
	const uint32_t doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;           /* [0, 146096] */
	return era * 146097 + (int32_t)doe - 719468;
}

static int32_t year_from_days(int32_t z)
{
	z += 719468;
	const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
	const uint32_t doe = (uint32_t)(z - era * 146097);
	const uint32_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
	const uint32_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
	const uint32_t mp = (5u * doy + 2u) / 153u;
	const uint32_t m = mp < 10u ? mp + 3u : mp - 9u;
	return (int32_t)yoe + era * 400 + (m <= 2u);
}

static unsigned days_in_month(int32_t y, unsigned m)
{
	static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2u && leap ? 29u : dim[m - 1u];
}

/* Floor division for the reference snap: ref_ms may be before 1970 in a test, keep it exact anyway. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Date → days, resolving the century of a 2-digit year and the 1024-week rollover (cf/nmea.h "Dates").
 * Returns -1 for an impossible date (31 February), else 0.
 */
static int resolve_date(struct cf_nmea *p, int32_t y, bool two_digit, unsigned m, unsigned d, int32_t *days,
                        uint8_t *tq)
{
	int32_t ref_day = 0;
	*tq = 0;
	if (p->ref_known) {
		ref_day = (int32_t)floor_div(p->ref_ms, MS_PER_DAY);
	}
	if (two_digit) {
		*tq |= CF_TQ_CENTURY;
		if (p->ref_known) {
			/* the year in [ref-50, ref+49] with these last two digits */
			int32_t base = year_from_days(ref_day) - 50;
			int32_t off = (y - base) % 100;
			y = base + (off < 0 ? off + 100 : off);
		} else {
			y += y < 80 ? 2000 : 1900;
		}
	}
	if (d > days_in_month(y, m)) {
		return -1;
	}
	int32_t z = cf_nmea_days_from_civil(y, m, d);
	if (p->ref_known) {
		/* nearest multiple of 1024 weeks: round((ref - z) / 7168), halves away from zero */
		int32_t diff = ref_day - z;
		int32_t k = (diff >= 0 ? diff + CF_NMEA_ROLLOVER_DAYS / 2 : diff - CF_NMEA_ROLLOVER_DAYS / 2) /
		            CF_NMEA_ROLLOVER_DAYS;
		if (k != 0) {
			z += k * CF_NMEA_ROLLOVER_DAYS;
			*tq |= CF_TQ_ROLLOVER;
		}
	} else {
		*tq |= CF_TQ_NO_REF;
		/* bounded: a 2-digit year is at most ~80 years before any sane pivot, 5 steps */
		for (int i = 0; i < 8 && z < p->cfg.pivot_days; i++) {
			z += CF_NMEA_ROLLOVER_DAYS;
			*tq |= CF_TQ_ROLLOVER;
		}
	}
	if (*tq & CF_TQ_ROLLOVER) {
		count(&p->stats.date_rollover);
	}
	*days = z;
	return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * Field scanners. Each takes a non-empty field (callers test emptiness first: empty = unknown) and returns
 * 0 or -1. No strtod/strtol: those are locale-dependent and accept things NMEA forbids ("1e5", " 12").
 */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [+-]digits[.digits] → value x 10^scale, rounded half away from zero on the first dropped digit. */
static int scan_dec(struct field f, unsigned scale, int64_t *out)
{
	size_t i = 0;
	bool neg = false, dot = false, any = false, round_up = false;
	unsigned frac = 0;
	int64_t v = 0;

	if (i < f.n && (f.s[i] == '-' || f.s[i] == '+')) {
		neg = f.s[i] == '-';
		i++;
	}
	for (; i < f.n; i++) {
		char c = f.s[i];
		if (c == '.') {
			if (dot) {
				return -1;
			}
			dot = true;
			continue;
		}
		if (!is_digit(c)) {
			return -1;
		}
		any = true;
		int d = c - '0';
		if (!dot) {
			if (v > 100000000000000LL) { /* 1e14: no NMEA field is this large; keeps x10^scale in range */
				return -1;
			}
			v = v * 10 + d;
		} else if (frac < scale) {
			v = v * 10 + d;
			frac++;
		} else if (frac == scale) {
			round_up = d >= 5;
			frac++; /* later digits cannot change a half-up decision taken on this one */
		}
	}
	if (!any) {
		return -1;
	}
	for (; frac < scale; frac++) {
		v *= 10;
	}
	v += round_up;
	*out = neg ? -v : v;
	return 0;
}

static int scan_dec_range(struct field f, unsigned scale, int64_t lo, int64_t hi, int64_t *out)
{
	if (scan_dec(f, scale, out) < 0 || *out < lo || *out > hi) {
		return -1;
	}
	return 0;
}

static int scan_uint(struct field f, uint32_t max, uint32_t *out)
{
	uint32_t v = 0;
	if (f.n == 0 || f.n > 9) {
		return -1;
	}
	for (size_t i = 0; i < f.n; i++) {
		if (!is_digit(f.s[i])) {
			return -1;
		}
		v = v * 10u + (uint32_t)(f.s[i] - '0');
	}
	if (v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

static unsigned digits2(const char *s)
{
	return (unsigned)(s[0] - '0') * 10u + (unsigned)(s[1] - '0');
}

/* hhmmss[.s...] → ms of day, rounded half up to the ms. ss may be 60 (leap second). */
static int scan_tod(struct field f, uint32_t *out)
{
	if (f.n < 6) {
		return -1;
	}
	for (size_t i = 0; i < 6; i++) {
		if (!is_digit(f.s[i])) {
			return -1;
		}
	}
	unsigned hh = digits2(f.s), mm = digits2(f.s + 2), ss = digits2(f.s + 4);
	if (hh > 23u || mm > 59u || ss > 60u) {
		return -1;
	}
	uint32_t ms = 0;
	if (f.n > 6) {
		if (f.s[6] != '.') {
			return -1;
		}
		unsigned nd = 0;
		bool round_up = false;
		for (size_t i = 7; i < f.n; i++) {
			if (!is_digit(f.s[i])) {
				return -1;
			}
			if (nd < 3u) {
				ms = ms * 10u + (uint32_t)(f.s[i] - '0');
			} else if (nd == 3u) {
				round_up = f.s[i] >= '5';
			}
			nd++;
		}
		for (; nd < 3u; nd++) {
			ms *= 10u;
		}
		ms += round_up;
	}
	*out = (uint32_t)hh * 3600000u + (uint32_t)mm * 60000u + (uint32_t)ss * 1000u + ms;
	return 0;
}

/*
 * (d)ddmm.mmmm + hemisphere → degrees x 1e7, exactly:
 *   e7 = deg*1e7 + round(minutes * 1e7 / 60)   with minutes = mm + F/10^nf held as an integer over 10^nf.
 * Up to 10 decimals of minutes are used: (59*10^10 + F) * 1e7 < 6e18 fits int64.
 * Example: "4134.49795459","N" → 41 + 34.49795459/60 = 41.5749659098 → 415749659.
 */
static int scan_coord(struct field f, struct field hemi, bool is_lat, int32_t *out)
{
	static const int64_t pow10[11] = {1,         10,         100,         1000,         10000,       100000,
	                                  1000000,   10000000,   100000000,   1000000000,   10000000000};
	uint32_t ip = 0;
	int64_t frac = 0;
	unsigned nip = 0, nf = 0;
	size_t i = 0;

	if (hemi.n != 1) {
		return -1;
	}
	char h = hemi.s[0];
	bool neg;
	if (is_lat && (h == 'N' || h == 'S')) {
		neg = h == 'S';
	} else if (!is_lat && (h == 'E' || h == 'W')) {
		neg = h == 'W';
	} else {
		return -1;
	}
	for (; i < f.n && is_digit(f.s[i]); i++) {
		if (++nip > 5u) {
			return -1;
		}
		ip = ip * 10u + (uint32_t)(f.s[i] - '0');
	}
	if (nip == 0) {
		return -1;
	}
	if (i < f.n) {
		if (f.s[i++] != '.') {
			return -1;
		}
		for (; i < f.n; i++) {
			if (!is_digit(f.s[i])) {
				return -1;
			}
			if (nf < 10u) {
				frac = frac * 10 + (f.s[i] - '0');
				nf++;
			}
		}
	}
	uint32_t deg = ip / 100u, min = ip % 100u;
	if (min >= 60u || deg > (is_lat ? 90u : 180u)) {
		return -1;
	}
	int64_t num = ((int64_t)min * pow10[nf] + frac) * 10000000;
	int64_t den = 60 * pow10[nf];
	int64_t e7 = (int64_t)deg * 10000000 + (num + den / 2) / den;
	if (e7 > (is_lat ? 900000000 : 1800000000)) {
		return -1;
	}
	*out = (int32_t)(neg ? -e7 : e7);
	return 0;
}

static uint32_t isqrt64(uint64_t x)
{
	uint64_t r = 0, bit = (uint64_t)1 << 62;
	while (bit > x) {
		bit >>= 2;
	}
	while (bit != 0) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return (uint32_t)r;
}

/* ---------------------------------------------------------------------------------------------------------
 * Sentence parsers. fields[0] is the address ("GPGGA"); nf counts it. A field index past nf reads as empty,
 * so shorter pre-2.3 sentences (no mode field) parse; extra trailing fields (NMEA 4.1) are ignored.
 * Each returns 0, or the 1-based index of the first bad field.
 */
static struct field fld(const struct field *fields, unsigned nf, unsigned i)
{
	struct field none = {"", 0};
	return i < nf ? fields[i] : none;
}

#define F(i) fld(fields, nf, (i))
#define EMPTY(i) (F(i).n == 0)

static int parse_pos(const struct field *fields, unsigned nf, unsigned i, struct sentence *s)
{
	if (EMPTY(i) && EMPTY(i + 1) && EMPTY(i + 2) && EMPTY(i + 3)) {
		return 0;
	}
	if (scan_coord(F(i), F(i + 1), true, &s->v.lat_e7) < 0) {
		return (int)i;
	}
	if (scan_coord(F(i + 2), F(i + 3), false, &s->v.lon_e7) < 0) {
		return (int)i + 2;
	}
	s->v.has |= CF_FIX_HAS_POS;
	return 0;
}

static int parse_tod(const struct field *fields, unsigned nf, unsigned i, struct sentence *s)
{
	if (EMPTY(i)) {
		s->untimed = i < nf; /* field present but empty; absent (old GLL) is not "untimed" */
		return 0;
	}
	if (scan_tod(F(i), &s->v.tod_ms) < 0) {
		return (int)i;
	}
	s->v.has |= CF_FIX_HAS_TOD;
	return 0;
}

static int parse_mode_letter(struct field f, char *out)
{
	if (f.n != 1 || f.s[0] < 'A' || f.s[0] > 'Z') {
		return -1;
	}
	*out = f.s[0];
	return 0;
}

/* RMC/GLL status: 'A' valid, 'V' void; other letters (eXplorist 110 sends 'N') are kept and mean "not A". */
static int parse_status(struct field f, struct sentence *s)
{
	if (f.n != 1 || f.s[0] < 'A' || f.s[0] > 'Z') {
		return -1;
	}
	s->v.rmc_status = f.s[0];
	s->v.has |= CF_FIX_HAS_RMC_STAT;
	return 0;
}

/* Sentences whose own status/mode deny a fix: their position fields are not even parsed (receivers put
 * zeros, the last position or garbage like "36000.0000" there), so that garbage cannot cost the sentence its
 * time and quality fields. DR ('E') positions are kept: estimated, flagged not-a-fix by cf_fix_is_valid(). */
static bool status_denies_fix(const struct sentence *s)
{
	bool dr = (s->v.has & CF_FIX_HAS_FAA) && s->v.faa_mode == 'E';
	return s->v.rmc_status != 'A' && !dr;
}

static int parse_sog_knots(struct field f, struct sentence *s)
{
	int64_t kn_e4;
	/* 65535 cm/s = 1273.9 kn: anything faster is no animal and no sane receiver output */
	if (scan_dec_range(f, 4, 0, 12739000, &kn_e4) < 0) {
		return -1;
	}
	int64_t cms = (kn_e4 * 463 + 45000) / 90000; /* kn * 1852 m / 3600 s, in cm/s */
	if (cms > UINT16_MAX) {
		return -1;
	}
	s->v.sog_cms = (uint16_t)cms;
	s->v.has |= CF_FIX_HAS_SOG;
	return 0;
}

static int parse_sog_kmh(struct field f, struct sentence *s)
{
	int64_t kmh_e4;
	if (scan_dec_range(f, 4, 0, 23592600, &kmh_e4) < 0) {
		return -1;
	}
	int64_t cms = (kmh_e4 + 180) / 360; /* km/h x 1e4 → cm/s: x 100000 cm / 3600 s / 1e4 */
	if (cms > UINT16_MAX) {
		return -1;
	}
	s->v.sog_cms = (uint16_t)cms;
	s->v.has |= CF_FIX_HAS_SOG;
	return 0;
}

static int parse_cog(struct field f, struct sentence *s)
{
	int64_t c;
	if (scan_dec_range(f, 2, 0, 36000, &c) < 0) {
		return -1;
	}
	s->v.cog_cdeg = (uint16_t)(c == 36000 ? 0 : c);
	s->v.has |= CF_FIX_HAS_COG;
	return 0;
}

static int parse_hdop(struct field f, uint8_t prio, struct sentence *s)
{
	int64_t h;
	if (scan_dec_range(f, 2, 0, UINT16_MAX, &h) < 0) {
		return -1;
	}
	s->v.hdop_c = (uint16_t)h;
	s->v.has |= CF_FIX_HAS_HDOP;
	s->hdop_prio = prio;
	return 0;
}

static int parse_alt_geoid(const struct field *fields, unsigned nf, unsigned ialt, unsigned igeoid,
                           struct sentence *s)
{
	int64_t v;
	if (!EMPTY(ialt)) {
		if (scan_dec_range(F(ialt), 3, INT32_MIN, INT32_MAX, &v) < 0) {
			return (int)ialt;
		}
		s->v.alt_mm = (int32_t)v;
		s->v.has |= CF_FIX_HAS_ALT;
	}
	if (!EMPTY(igeoid)) {
		if (scan_dec_range(F(igeoid), 3, INT32_MIN, INT32_MAX, &v) < 0) {
			return (int)igeoid;
		}
		s->v.geoid_sep_mm = (int32_t)v;
		s->v.has |= CF_FIX_HAS_GEOID;
	}
	return 0;
}

static int parse_nsat(struct field f, struct sentence *s)
{
	uint32_t n;
	if (scan_uint(f, 255, &n) < 0) {
		return -1;
	}
	s->v.nsat = (uint8_t)n;
	s->v.has |= CF_FIX_HAS_NSAT;
	return 0;
}

/* Position-dependent fields are dropped when the sentence itself says "no fix" (cf/nmea.h). */
static void drop_position(struct sentence *s)
{
	s->v.has &= ~(uint32_t)(CF_FIX_HAS_POS | CF_FIX_HAS_ALT | CF_FIX_HAS_GEOID | CF_FIX_HAS_SOG |
	                        CF_FIX_HAS_COG);
}

/* $GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D */
static int parse_gga(const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	uint32_t q;
	if ((e = parse_tod(fields, nf, 1, s))) {
		return e;
	}
	if (!EMPTY(6)) {
		if (scan_uint(F(6), 8, &q) < 0) {
			return 6;
		}
		s->v.gga_q = (uint8_t)q;
		s->v.has |= CF_FIX_HAS_GGA_Q;
	}
	bool no_fix = !(s->v.has & CF_FIX_HAS_GGA_Q) || s->v.gga_q == 0;
	if (!no_fix && (e = parse_pos(fields, nf, 2, s))) {
		return e;
	}
	if (!EMPTY(7) && parse_nsat(F(7), s) < 0) {
		return 7;
	}
	if (!EMPTY(8) && parse_hdop(F(8), 2, s) < 0) {
		return 8;
	}
	if (!no_fix && (e = parse_alt_geoid(fields, nf, 9, 11, s))) {
		return e;
	}
	return 0;
}

/* $GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D */
static int parse_rmc(struct cf_nmea *p, const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	if ((e = parse_tod(fields, nf, 1, s))) {
		return e;
	}
	if (!EMPTY(2) && parse_status(F(2), s) < 0) {
		return 2;
	}
	if (!EMPTY(12)) {
		if (parse_mode_letter(F(12), &s->v.faa_mode) < 0) {
			return 12;
		}
		s->v.has |= CF_FIX_HAS_FAA;
	}
	bool void_rmc = status_denies_fix(s);
	if (!void_rmc) {
		if ((e = parse_pos(fields, nf, 3, s))) {
			return e;
		}
		if (!EMPTY(7) && parse_sog_knots(F(7), s) < 0) {
			return 7;
		}
		if (!EMPTY(8) && parse_cog(F(8), s) < 0) {
			return 8;
		}
	}
	bool date_ok = false;
	unsigned dd = 0, mm = 0, yy = 0;
	if (!EMPTY(9)) {
		struct field d = F(9);
		if (d.n != 6 || !is_digit(d.s[0]) || !is_digit(d.s[1]) || !is_digit(d.s[2]) || !is_digit(d.s[3]) ||
		    !is_digit(d.s[4]) || !is_digit(d.s[5])) {
			return 9;
		}
		dd = digits2(d.s);
		mm = digits2(d.s + 2);
		yy = digits2(d.s + 4);
		if (dd < 1u || dd > 31u || mm < 1u || mm > 12u) {
			return 9;
		}
		date_ok = true;
	}
	/* A void RMC's date is the receiver's RTC guess; after a cold boot it is garbage (gp-320fw coldboot). */
	if (date_ok && s->v.rmc_status == 'A') {
		if (resolve_date(p, (int32_t)yy, true, mm, dd, &s->date_days, &s->date_tq) < 0) {
			return 9;
		}
		s->has_date = true;
	}
	return 0;
}

/* $GPGSA,A,3,17,28,06,01,30,20,26,13,,,,,1.8,1.1,1.5*33 (NMEA 4.10 appends a system id) */
static int parse_gsa(const struct field *fields, unsigned nf, struct sentence *s)
{
	uint32_t dim;
	if (!EMPTY(2)) {
		if (scan_uint(F(2), 3, &dim) < 0 || dim == 0) {
			return 2;
		}
		s->v.fix_dim = (uint8_t)dim;
		s->v.has |= CF_FIX_HAS_FIX_DIM;
	}
	/* DOPs sit at 15-17 only when the 12 satellite slots are all there; other layouts: HDOP unknown */
	if ((nf == 18u || nf == 19u) && !EMPTY(16) && parse_hdop(F(16), 1, s) < 0) {
		return 16;
	}
	return 0;
}

/* $GPGST,172814.0,0.006,0.023,0.020,273.6,0.023,0.020,0.031*6A  (sigmas in metres) */
static int parse_gst(const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	int64_t slat, slon;
	if ((e = parse_tod(fields, nf, 1, s))) {
		return e;
	}
	if (EMPTY(6) || EMPTY(7)) {
		return 0;
	}
	if (scan_dec_range(F(6), 3, 0, 100000000, &slat) < 0) {
		return 6;
	}
	if (scan_dec_range(F(7), 3, 0, 100000000, &slon) < 0) {
		return 7;
	}
	s->has_gst = true;
	s->gst_h_acc_mm = isqrt64((uint64_t)(slat * slat + slon * slon));
	return 0;
}

/* Ranking of FAA letters for GNS (one per constellation): the best solution among them describes the fix. */
static int faa_rank(char c)
{
	static const char order[] = "RFDPAEMSN";
	for (int i = 0; order[i] != '\0'; i++) {
		if (order[i] == c) {
			return i;
		}
	}
	return (int)sizeof order; /* unknown letters rank last */
}

/* $GNGNS,122310.2,3722.425671,N,12258.856215,W,AAN,14,0.9,1005.543,6.5,,,V*0E */
static int parse_gns(const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	if ((e = parse_tod(fields, nf, 1, s))) {
		return e;
	}
	if (!EMPTY(6)) {
		struct field m = F(6);
		char best = 0;
		for (size_t i = 0; i < m.n; i++) {
			if (m.s[i] < 'A' || m.s[i] > 'Z') {
				return 6;
			}
			if (best == 0 || faa_rank(m.s[i]) < faa_rank(best)) {
				best = m.s[i];
			}
		}
		s->v.faa_mode = best;
		s->v.has |= CF_FIX_HAS_FAA;
	}
	if (!EMPTY(7) && parse_nsat(F(7), s) < 0) {
		return 7;
	}
	if (!EMPTY(8) && parse_hdop(F(8), 2, s) < 0) {
		return 8;
	}
	if (!(s->v.has & CF_FIX_HAS_FAA) || s->v.faa_mode == 'N') {
		return 0; /* no fix: position and altitude fields are not used */
	}
	if ((e = parse_pos(fields, nf, 2, s)) || (e = parse_alt_geoid(fields, nf, 9, 10, s))) {
		return e;
	}
	return 0;
}

/* $GPVTG,181.39,T,,M,0.69,N,1.3,K,A*.. ; pre-2.3 receivers: $GPVTG,181.39,,0.69,1.3*.. (no unit letters) */
static int parse_vtg(const struct field *fields, unsigned nf, struct sentence *s)
{
	unsigned icog = 1, ikn, ikmh, imode = 0;
	if (nf == 5u && !(F(2).n == 1 && F(2).s[0] == 'T')) {
		ikn = 3;
		ikmh = 4;
	} else {
		ikn = 5;
		ikmh = 7;
		imode = 9;
	}
	if (!EMPTY(icog) && parse_cog(F(icog), s) < 0) {
		return (int)icog;
	}
	if (!EMPTY(ikn)) {
		if (parse_sog_knots(F(ikn), s) < 0) {
			return (int)ikn;
		}
	} else if (!EMPTY(ikmh) && parse_sog_kmh(F(ikmh), s) < 0) {
		return (int)ikmh;
	}
	if (imode != 0 && !EMPTY(imode)) {
		if (parse_mode_letter(F(imode), &s->v.faa_mode) < 0) {
			return (int)imode;
		}
		s->v.has |= CF_FIX_HAS_FAA;
		if (s->v.faa_mode == 'N') {
			drop_position(s);
		}
	}
	return 0;
}

/* $GPGLL,4808.9985,N,01135.0867,E,164516.99,A,A*6E (pre-2.3: no mode; older: no time either) */
static int parse_gll(const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	if ((e = parse_tod(fields, nf, 5, s))) {
		return e;
	}
	if (!EMPTY(6) && parse_status(F(6), s) < 0) {
		return 6;
	}
	if (!EMPTY(7)) {
		if (parse_mode_letter(F(7), &s->v.faa_mode) < 0) {
			return 7;
		}
		s->v.has |= CF_FIX_HAS_FAA;
	}
	if (!status_denies_fix(s) && (e = parse_pos(fields, nf, 1, s))) {
		return e;
	}
	return 0;
}

/* $GNZDA,000942.00,10,01,2017,00,00*73 */
static int parse_zda(struct cf_nmea *p, const struct field *fields, unsigned nf, struct sentence *s)
{
	int e;
	uint32_t d, m, y;
	if ((e = parse_tod(fields, nf, 1, s))) {
		return e;
	}
	if (EMPTY(2) && EMPTY(3) && EMPTY(4)) {
		return 0;
	}
	if (scan_uint(F(2), 31, &d) < 0 || d == 0) {
		return 2;
	}
	if (scan_uint(F(3), 12, &m) < 0 || m == 0) {
		return 3;
	}
	if (F(4).n != 4 || scan_uint(F(4), 9999, &y) < 0 || y < 1980u) {
		return 4;
	}
	if (resolve_date(p, (int32_t)y, false, m, d, &s->date_days, &s->date_tq) < 0) {
		return 2;
	}
	s->has_date = true;
	return 0;
}

#undef F
#undef EMPTY

/* ---------------------------------------------------------------------------------------------------------
 * Epoch assembly.
 */
static void epoch_open(struct cf_nmea *p)
{
	memset(&p->cur, 0, sizeof p->cur);
	p->cur_open = true;
	p->hdop_prio = 0;
	p->cur_dated = false;
	p->gst_sigma = false;
	p->gst_h_acc_mm = 0;
	p->vtg_talkers = 0;
	p->cur_untimed = false;
}

static uint32_t uere_mm(const struct cf_fix *f)
{
	if (f->has & CF_FIX_HAS_GGA_Q) {
		switch (f->gga_q) {
		case 2:
			return CF_NMEA_UERE_DGPS_MM;
		case 4:
			return CF_NMEA_UERE_RTK_FIXED_MM;
		case 5:
			return CF_NMEA_UERE_RTK_FLOAT_MM;
		default:
			break;
		}
	} else if (f->has & CF_FIX_HAS_FAA) {
		switch (f->faa_mode) {
		case 'D':
			return CF_NMEA_UERE_DGPS_MM;
		case 'R':
			return CF_NMEA_UERE_RTK_FIXED_MM;
		case 'F':
			return CF_NMEA_UERE_RTK_FLOAT_MM;
		default:
			break;
		}
	}
	if ((f->has & CF_FIX_HAS_FIX_DIM) && f->fix_dim == 2u) {
		return CF_NMEA_UERE_2D_MM;
	}
	return CF_NMEA_UERE_AUTONOMOUS_MM;
}

static void epoch_close(struct cf_nmea *p)
{
	struct cf_fix *f = &p->cur;
	if (!p->cur_open) {
		return;
	}
	p->cur_open = false;

	if ((f->has & CF_FIX_HAS_TOD) && p->anchor_known) {
		/* the day that puts this time of day within 12 h of the anchor: handles midnight both ways */
		int32_t day = p->anchor_day;
		int32_t diff = (int32_t)f->tod_ms - (int32_t)p->anchor_tod_ms;
		if (diff > (int32_t)HALF_DAY_MS) {
			day--;
		} else if (diff < -(int32_t)HALF_DAY_MS) {
			day++;
		}
		f->t_ms = (int64_t)day * MS_PER_DAY + f->tod_ms;
		f->tq_flags = (uint8_t)(p->anchor_tq | (p->cur_dated ? 0u : CF_TQ_DATE_CARRIED));
		f->has |= CF_FIX_HAS_TIME;
		/* a GGA-only stream rolls the anchor forward with it, so midnight keeps being detected */
		p->anchor_day = day;
		p->anchor_tod_ms = f->tod_ms;
	}

	if (p->gst_sigma) {
		f->h_acc_mm = p->gst_h_acc_mm;
		f->h_acc_src = CF_HACC_SRC_GST;
		f->has |= CF_FIX_HAS_HACC;
	} else if (cf_fix_is_valid(f) && (f->has & CF_FIX_HAS_HDOP) && f->hdop_c > 0u) {
		/* UERE [mm] x HDOP/100, rounded; max 29600 x 65535 / 100 fits 32 bits */
		f->h_acc_mm = (uint32_t)(((uint64_t)uere_mm(f) * f->hdop_c + 50u) / 100u);
		f->h_acc_src = CF_HACC_SRC_UERE;
		f->has |= CF_FIX_HAS_HACC;
	}

	p->out[p->out_n++] = *f;
	count(&p->stats.fixes);
}

static void set_anchor(struct cf_nmea *p, const struct sentence *s)
{
	p->anchor_known = true;
	p->anchor_day = s->date_days;
	p->anchor_tod_ms = s->v.tod_ms;
	p->anchor_tq = s->date_tq;
}

static void merge(struct cf_nmea *p, unsigned type, unsigned talker, struct sentence *s)
{
	const struct cf_fix *v = &s->v;
	struct cf_fix *f = &p->cur;

	/*
	 * What ends an epoch, besides cfg.cycle_last: another time of day; an empty time where the epoch had one
	 * (a receiver losing its fix sends "$GPGGA,,,,,,0,,,,,,,,*66" — gpsd forces a report there too) and,
	 * symmetrically, a time after such empty times (an open epoch holding only GSA/VTG adopts the first
	 * time instead: those sentences never carry one); or a
	 * second VTG from the same talker — VTG has no time, and without this rule a no-fix cycle's leading
	 * "VTG ... N" would be merged into the last valid epoch and overwrite its mode.
	 */
	/*
	 * ZDA is a clock message, not part of the navigation solution: some receivers send it a second or two
	 * ahead of the epoch (ac12). It only anchors the date; it neither opens nor closes an epoch.
	 */
	if (type == CF_NMEA_S_ZDA) {
		if (s->has_date && (v->has & CF_FIX_HAS_TOD)) {
			set_anchor(p, s);
		}
		if (p->cfg.cycle_last == type) {
			epoch_close(p);
		}
		return;
	}

	if (p->cur_open && (((v->has & CF_FIX_HAS_TOD) && (f->has & CF_FIX_HAS_TOD) && f->tod_ms != v->tod_ms) ||
	                    (s->untimed && (f->has & CF_FIX_HAS_TOD)) ||
	                    ((v->has & CF_FIX_HAS_TOD) && p->cur_untimed) ||
	                    (type == CF_NMEA_S_VTG && (p->vtg_talkers & (1u << talker))))) {
		epoch_close(p);
	}
	if (v->has & CF_FIX_HAS_TOD) {
		if (!p->cur_open) {
			epoch_open(p);
		}
		f->tod_ms = v->tod_ms;
		f->has |= CF_FIX_HAS_TOD;
	} else if (!p->cur_open) {
		epoch_open(p);
	}

	if (v->has & CF_FIX_HAS_POS) {
		f->lat_e7 = v->lat_e7;
		f->lon_e7 = v->lon_e7;
	}
	if (v->has & CF_FIX_HAS_ALT) {
		f->alt_mm = v->alt_mm;
	}
	if (v->has & CF_FIX_HAS_GEOID) {
		f->geoid_sep_mm = v->geoid_sep_mm;
	}
	if ((v->has & CF_FIX_HAS_HDOP) && s->hdop_prio >= p->hdop_prio) {
		f->hdop_c = v->hdop_c;
		p->hdop_prio = s->hdop_prio;
		f->has |= CF_FIX_HAS_HDOP;
	}
	if (v->has & CF_FIX_HAS_GGA_Q) {
		f->gga_q = v->gga_q;
	}
	if (v->has & CF_FIX_HAS_FAA) {
		f->faa_mode = v->faa_mode;
	}
	if ((v->has & CF_FIX_HAS_FIX_DIM) && (!(f->has & CF_FIX_HAS_FIX_DIM) || v->fix_dim > f->fix_dim)) {
		f->fix_dim = v->fix_dim;
		f->has |= CF_FIX_HAS_FIX_DIM;
	}
	if (v->has & CF_FIX_HAS_NSAT) {
		f->nsat = v->nsat;
	}
	if (v->has & CF_FIX_HAS_SOG) {
		f->sog_cms = v->sog_cms;
	}
	if (v->has & CF_FIX_HAS_COG) {
		f->cog_cdeg = v->cog_cdeg;
	}
	if (v->has & CF_FIX_HAS_RMC_STAT) {
		f->rmc_status = v->rmc_status;
	}
	f->has |= v->has & ~(uint32_t)(CF_FIX_HAS_HDOP | CF_FIX_HAS_FIX_DIM);
	f->src_mask = (uint16_t)(f->src_mask | (1u << type));
	p->cur_untimed = p->cur_untimed || s->untimed;
	if (type == CF_NMEA_S_VTG) {
		p->vtg_talkers = (uint8_t)(p->vtg_talkers | (1u << talker));
	}
	f->talker_mask = (uint8_t)(f->talker_mask | (1u << talker));
	if (s->has_date && (v->has & CF_FIX_HAS_TOD)) {
		set_anchor(p, s);
		p->cur_dated = true;
	}
	if (s->has_gst) {
		p->gst_sigma = true;
		p->gst_h_acc_mm = s->gst_h_acc_mm;
	}

	if (p->cfg.cycle_last != CF_NMEA_S_NONE && p->cfg.cycle_last == type) {
		epoch_close(p);
	}
}

/* ---------------------------------------------------------------------------------------------------------
 * Line handling: checksum, address, fields, dispatch.
 */
static void reject(struct cf_nmea *p, uint32_t *counter, int err, unsigned type, unsigned field)
{
	count(counter);
	p->last_err = err;
	p->last_err_type = (uint8_t)type;
	p->last_err_field = (uint8_t)field;
	p->last_err_line = p->lines;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10; /* Magellan EC-10X sends lower case (gpsd packet.c) */
	}
	return -1;
}

static void line_done(struct cf_nmea *p)
{
	const char *l = p->line;
	const size_t n = p->line_len;
	/* rejected lines count as garbage: '$' + the chars kept */
	const uint32_t line_bytes = (uint32_t)n + 1u;
	size_t star = 0;

	while (star < n && l[star] != '*') {
		star++;
	}
	if (star == n) {
		reject(p, &p->stats.no_checksum, CF_NMEA_ENOCHECKSUM, CF_NMEA_S_NONE, 0);
		goto out_garbage;
	}
	if (n - star < 3u || hexval(l[star + 1]) < 0 || hexval(l[star + 2]) < 0) {
		reject(p, &p->stats.bad_checksum, CF_NMEA_ECHECKSUM, CF_NMEA_S_NONE, 0);
		goto out_garbage;
	}
	if (n - star > 3u) {
		reject(p, &p->stats.trailing, CF_NMEA_ETRAILING, CF_NMEA_S_NONE, 0);
		goto out_garbage;
	}
	unsigned sum = 0;
	for (size_t i = 0; i < star; i++) {
		sum ^= (unsigned char)l[i];
	}
	if (sum != (unsigned)(hexval(l[star + 1]) * 16 + hexval(l[star + 2]))) {
		reject(p, &p->stats.bad_checksum, CF_NMEA_ECHECKSUM, CF_NMEA_S_NONE, 0);
		goto out_garbage;
	}

	/* split: fields[0] is the address; '*' ends the last field */
	struct field fields[CF_NMEA_FIELDS_MAX];
	unsigned nf = 0;
	size_t start = 0;
	for (size_t i = 0; i <= star; i++) {
		if (i == star || l[i] == ',') {
			if (nf < CF_NMEA_FIELDS_MAX) {
				fields[nf].s = l + start;
				fields[nf].n = (uint8_t)(i - start);
				nf++;
			}
			start = i + 1;
		}
	}

	struct field a = fields[0];
	if (a.n != 5 || a.s[0] == 'P') {
		/* proprietary ($PGRME, $PSTI...) or a non-standard address: not ours, but a good sentence */
		count(&p->stats.unknown_type); /* not an error: last_err stays for real faults */
		return;
	}
	unsigned talker = 0;
	while (talker < sizeof talkers / sizeof talkers[0] &&
	       !(a.s[0] == talkers[talker][0] && a.s[1] == talkers[talker][1])) {
		talker++;
	}
	if (talker == sizeof talkers / sizeof talkers[0]) {
		count(&p->stats.unknown_talker);
		return;
	}
	unsigned type = 1;
	while (type < CF_NMEA_S_COUNT && memcmp(a.s + 2, sentence_names[type], 3) != 0) {
		type++;
	}
	if (type == CF_NMEA_S_COUNT) {
		count(&p->stats.unknown_type);
		return;
	}

	struct sentence s;
	memset(&s, 0, sizeof s);
	int bad;
	switch (type) {
	case CF_NMEA_S_GGA:
		bad = parse_gga(fields, nf, &s);
		break;
	case CF_NMEA_S_RMC:
		bad = parse_rmc(p, fields, nf, &s);
		break;
	case CF_NMEA_S_GSA:
		bad = parse_gsa(fields, nf, &s);
		break;
	case CF_NMEA_S_GST:
		bad = parse_gst(fields, nf, &s);
		break;
	case CF_NMEA_S_GNS:
		bad = parse_gns(fields, nf, &s);
		break;
	case CF_NMEA_S_VTG:
		bad = parse_vtg(fields, nf, &s);
		break;
	case CF_NMEA_S_GLL:
		bad = parse_gll(fields, nf, &s);
		break;
	default: /* CF_NMEA_S_ZDA */
		bad = parse_zda(p, fields, nf, &s);
		break;
	}
	if (bad != 0) {
		reject(p, &p->stats.field_errors, CF_NMEA_EFIELD, type, (unsigned)bad);
		return;
	}
	count(&p->stats.sentences_ok);
	merge(p, type, talker, &s);
	return;

out_garbage:
	count_n(&p->stats.garbage_bytes, line_bytes);
}

/* ---------------------------------------------------------------------------------------------------------
 * Public API.
 */
void cf_nmea_init(struct cf_nmea *p, const struct cf_nmea_config *cfg)
{
	static const struct cf_nmea_config defaults = CF_NMEA_CONFIG_INIT;
	memset(p, 0, sizeof *p);
	p->cfg = cfg != NULL ? *cfg : defaults;
	p->lex = LEX_GROUND;
}

void cf_nmea_set_reference_time(struct cf_nmea *p, int64_t ref_ms)
{
	p->ref_ms = ref_ms;
	p->ref_known = true;
}

static bool pop(struct cf_nmea *p, struct cf_fix *out)
{
	if (p->out_pos < p->out_n) {
		*out = p->out[p->out_pos++];
		if (p->out_pos == p->out_n) {
			p->out_pos = 0;
			p->out_n = 0;
		}
		return true;
	}
	return false;
}

static void line_start(struct cf_nmea *p)
{
	p->lex = LEX_LINE;
	p->line_len = 0;
	count(&p->lines);
}

int cf_nmea_feed(struct cf_nmea *p, const void *buf, size_t len, size_t *used, struct cf_fix *out)
{
	const unsigned char *b = buf;
	size_t i = 0;

	if (p == NULL || used == NULL || out == NULL || (buf == NULL && len > 0u)) {
		return CF_NMEA_EINVAL;
	}
	*used = 0;
	if (pop(p, out)) {
		return 1;
	}
	while (i < len) {
		unsigned char c = b[i++];
		switch (p->lex) {
		case LEX_GROUND:
			if (c == '$') {
				line_start(p);
			} else if (c != '\r' && c != '\n') {
				count(&p->stats.garbage_bytes);
			}
			break;
		case LEX_LINE:
			if (c == '\r' || c == '\n') {
				p->lex = LEX_GROUND;
				line_done(p);
				if (pop(p, out)) {
					*used = i;
					return 1;
				}
			} else if (c == '$') {
				/* a new sentence cut this one short: count it, then start over */
				reject(p, &p->stats.truncated, CF_NMEA_ETRUNC, CF_NMEA_S_NONE, 0);
				count_n(&p->stats.garbage_bytes, (uint32_t)p->line_len + 1u);
				line_start(p);
			} else if (c < 0x20u || c > 0x7eu) {
				/* binary (UBX, SiRF) or noise inside a line: the line is lost */
				reject(p, &p->stats.truncated, CF_NMEA_ETRUNC, CF_NMEA_S_NONE, 0);
				count_n(&p->stats.garbage_bytes, (uint32_t)p->line_len + 2u);
				p->lex = LEX_GROUND;
			} else if (p->line_len >= LINE_CAP) {
				reject(p, &p->stats.overlong, CF_NMEA_EOVERLONG, CF_NMEA_S_NONE, 0);
				count_n(&p->stats.garbage_bytes, (uint32_t)p->line_len + 2u);
				p->lex = LEX_SKIP;
			} else {
				p->line[p->line_len++] = (char)c;
			}
			break;
		default: /* LEX_SKIP */
			if (c == '\r' || c == '\n') {
				p->lex = LEX_GROUND;
			} else if (c == '$') {
				line_start(p);
			} else {
				count(&p->stats.garbage_bytes);
			}
			break;
		}
	}
	*used = i;
	return 0;
}

int cf_nmea_flush(struct cf_nmea *p, struct cf_fix *out)
{
	if (p == NULL || out == NULL) {
		return CF_NMEA_EINVAL;
	}
	if (pop(p, out)) {
		return 1;
	}
	if (p->lex == LEX_LINE) {
		/* a line without CR/LF at the end of the stream is incomplete (protocol.md §2.3 item 1) */
		reject(p, &p->stats.truncated, CF_NMEA_ETRUNC, CF_NMEA_S_NONE, 0);
		count_n(&p->stats.garbage_bytes, (uint32_t)p->line_len + 1u);
	}
	p->lex = LEX_GROUND;
	epoch_close(p);
	return pop(p, out) ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * Fix interpretation.
 */
bool cf_fix_is_valid(const struct cf_fix *f)
{
	bool indicator = false;
	if (!(f->has & CF_FIX_HAS_POS)) {
		return false;
	}
	if (f->has & CF_FIX_HAS_GGA_Q) {
		if (f->gga_q < 1u || f->gga_q > 5u) {
			return false;
		}
		indicator = true;
	}
	if (f->has & CF_FIX_HAS_RMC_STAT) {
		if (f->rmc_status != 'A') {
			return false;
		}
		indicator = true;
	}
	if (f->has & CF_FIX_HAS_FAA) {
		switch (f->faa_mode) {
		case 'A':
		case 'D':
		case 'F':
		case 'P':
		case 'R':
			break;
		default:
			return false;
		}
		indicator = true;
	}
	if (f->has & CF_FIX_HAS_FIX_DIM) {
		if (f->fix_dim < 2u) {
			return false;
		}
		indicator = true;
	}
	return indicator;
}

int cf_fix_mode(const struct cf_fix *f)
{
	if (!cf_fix_is_valid(f)) {
		return 1;
	}
	if (f->has & CF_FIX_HAS_FIX_DIM) {
		return f->fix_dim;
	}
	return (f->has & CF_FIX_HAS_ALT) ? 3 : 2;
}

int cf_fix_status(const struct cf_fix *f)
{
	static const uint8_t from_q[9] = {0, 1, 2, 9, 3, 4, 5, 7, 8};
	if (f->has & CF_FIX_HAS_GGA_Q) {
		return from_q[f->gga_q];
	}
	if (f->has & CF_FIX_HAS_FAA) {
		switch (f->faa_mode) {
		case 'A':
			return 1;
		case 'D':
			return 2;
		case 'R':
			return 3;
		case 'F':
			return 4;
		case 'E':
			return 5;
		case 'M':
			return 7;
		case 'S':
			return 8;
		case 'P':
			return 9;
		default:
			return 0;
		}
	}
	if (f->has & CF_FIX_HAS_RMC_STAT) {
		return f->rmc_status == 'A' ? 1 : 0;
	}
	return 0;
}

const char *cf_nmea_errname(int err)
{
	switch (err) {
	case CF_NMEA_OK:
		return "CF_NMEA_OK";
	case CF_NMEA_EINVAL:
		return "CF_NMEA_EINVAL";
	case CF_NMEA_ECHECKSUM:
		return "CF_NMEA_ECHECKSUM";
	case CF_NMEA_ENOCHECKSUM:
		return "CF_NMEA_ENOCHECKSUM";
	case CF_NMEA_EOVERLONG:
		return "CF_NMEA_EOVERLONG";
	case CF_NMEA_ETRUNC:
		return "CF_NMEA_ETRUNC";
	case CF_NMEA_ETRAILING:
		return "CF_NMEA_ETRAILING";
	case CF_NMEA_EFIELD:
		return "CF_NMEA_EFIELD";
	default:
		return "CF_NMEA_E?";
	}
}

const char *cf_nmea_sentence_name(unsigned type)
{
	return type < CF_NMEA_S_COUNT ? sentence_names[type] : "";
}
