/*
 * cf/nmea.h — the collar's NMEA 0183 parser: GNSS receiver bytes in, one fix record per epoch out.
 *
 * Byte-fed and heap-free: the caller owns a struct cf_nmea, feeds it any chunk of the receiver's stream (a
 * UART DMA half-buffer, one byte, a whole log) and gets back a struct cf_fix each time an epoch completes.
 * No globals, no stdio, no floats, no locale: every number is parsed to a scaled integer.
 *
 *   struct cf_nmea p;  struct cf_fix fix;  size_t used;
 *   cf_nmea_init(&p, NULL);
 *   while (len > 0) {
 *           int r = cf_nmea_feed(&p, buf, len, &used, &fix);   // stops after each completed fix
 *           buf += used; len -= used;
 *           if (r == 1) store(&fix);
 *   }
 *   while (cf_nmea_flush(&p, &fix) == 1) store(&fix);          // end of stream: the open epoch
 *
 * What is accepted (each rule has a counter in struct cf_nmea_stats; nothing is silently dropped):
 *  - A sentence is '$', printable ASCII, '*', two hex digits (either case), then CR or LF. Up to
 *    CF_NMEA_LINE_MAX characters from '$' to the last checksum digit: the standard says 82 with CRLF, real
 *    receivers send up to ~100 (RTK GGA with 8-decimal minutes, SkyTraq PSTI), gpsd allows 130.
 *  - Checksum policy: REQUIRED. A line without "*hh" is rejected (no_checksum). In the receiver logs we test
 *    against, every line without a checksum is a truncated or spliced one, so accepting them would let
 *    corrupt fields through; the collar has no use for the few checksum-less proprietary sentences.
 *  - Bytes outside a sentence (u-blox UBX, SiRF binary, line noise) are skipped and counted; a '$' always
 *    restarts the lexer, so the parser resynchronises on the next sentence.
 *  - Talkers GP GN GL GA GB BD QZ (GPS, multi-GNSS, GLONASS, Galileo, BeiDou x2, QZSS) and sentences GGA RMC
 *    GSA GST GNS VTG GLL ZDA. Other talkers count as unknown_talker, other sentence types (GSV, GBS, TXT,
 *    proprietary $P...) as unknown_type. Parsing dispatches on the type, never on the talker.
 *  - A handled sentence whose fields do not parse (bad digits, minutes >= 60, latitude > 90...) is dropped
 *    WHOLE (field_errors): a checksum-valid but spliced line must not contribute half its fields.
 *  - An empty field is "unknown" and leaves its presence bit clear; it is never 0.
 *
 * Epochs: every sentence that carries a UTC time of day (GGA RMC GST GNS GLL ZDA) names its epoch. Sentences
 * of one epoch are merged into one record; the record is emitted when a sentence with another time of day
 * arrives (ZDA excepted, see Dates), when such a sentence arrives with its time field EMPTY (a receiver without a fix; the untimed
 * sentences then form their own record, without tod_ms), when a second VTG from the same talker arrives, right
 * after the configured last sentence of the cycle (cfg.cycle_last), or on cf_nmea_flush().
 * Sentences without a time (GSA, VTG) join the open epoch, or the next one if none is open. Within an epoch a
 * later value overwrites an earlier one, except HDOP: GGA/GNS HDOP wins over GSA HDOP (GSA may be
 * per-constellation in multi-GNSS output).
 *
 * Positions reported while the receiver says "no fix" (GGA quality 0 or empty, RMC/GLL status other than A
 * unless the mode is E, GNS all-N, VTG mode N for speed/course) are NOT recorded, and not even parsed:
 * receivers fill them with zeros, the last position or garbage ("36000.0000", "8960.0000" in tn200 and
 * tr737A+ logs; gpsd NMEA.adoc), which must not cost the sentence its time and quality fields. The record
 * still carries those, so "no fix at t" is reported, not lost. Dead-reckoning positions (GGA 6, mode E) are
 * kept but cf_fix_is_valid() says no.
 *
 * Dates: RMC (ddmmyy, only with status A: a void RMC's date is an RTC guess) and ZDA (yyyy) give the date;
 * GGA/GNS/GLL/GST give only the time of day. Each dated sentence sets an anchor (date, time of day). An epoch
 * takes the day that puts its time of day within 12 h of the anchor (midnight either way), and that becomes
 * the new anchor; an epoch without a dated sentence of its own sets CF_TQ_DATE_CARRIED. ZDA only anchors the
 * date (some receivers send it 1-2 s ahead of the epoch); it never opens or closes an epoch. Before any date
 * has been seen, t_ms is unknown (CF_FIX_HAS_TIME clear) and only tod_ms is set: a guessed date would be
 * invented.
 * Two-digit years: the century putting the year nearest the reference year (see below), or 20yy if yy < 80
 * else 19yy without one (minmea's rule).
 * GPS week rollover: firmware with a 10-bit week counter reports dates 1024 weeks (7168 days) early. With a
 * reference time (cf_nmea_set_reference_time(), the gateway's NTP-backed time from ACK) the date is moved by
 * the multiple of 7168 days that puts it nearest the reference. Without one, dates before cfg.pivot_days
 * (default CF_NMEA_PIVOT_DAYS, 2024-01-01: no collar runs this firmware earlier) are moved forward by 7168
 * days until they are not. Either correction sets CF_TQ_ROLLOVER and counts date_rollover.
 * Time of day is rounded to the millisecond (half up); a leap second (ss = 60) is accepted and lands on the
 * next minute's first second, as POSIX time has no 23:59:60.
 *
 * Units and rounding: lat/lon to 1e-7 degree computed in integer arithmetic from ddmm.mmmm (up to 10
 * decimals of minutes, later digits are below 2e-12 degree and ignored), rounded half away from zero; alt mm,
 * geoid separation mm, speed cm/s (knots * 1852/3600, or km/h from VTG if knots are empty), course 1/100
 * degree, HDOP x100, all rounded half away from zero.
 *
 * Horizontal accuracy h_acc_mm (1-sigma radial, "DRMS"):
 *  - CF_HACC_SRC_GST: sqrt(sigma_lat^2 + sigma_lon^2) from GST of the same epoch (metres, fields 6 and 7);
 *  - else CF_HACC_SRC_UERE: UERE x HDOP for a valid fix, with UERE by fix quality (CF_NMEA_UERE_* below);
 *  - else absent. No accuracy is given for a record that is not a valid fix or has HDOP 0/unknown.
 */
#ifndef CF_NMEA_H
#define CF_NMEA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_NMEA_LINE_MAX 120u  /* chars from '$' to the last checksum digit; longer lines are "overlong" */
#define CF_NMEA_FIELDS_MAX 24u /* comma-separated fields indexed per sentence (GSA, the widest used, has 19) */

/* 2024-01-01 as days since 1970-01-01: no date before it can be real for this firmware (rollover pivot). */
#define CF_NMEA_PIVOT_DAYS 19723
#define CF_NMEA_ROLLOVER_DAYS 7168 /* 1024 GPS weeks */

/*
 * UERE (user equivalent range error, 1 sigma, mm) used for h_acc = UERE x HDOP when there is no GST.
 *  - autonomous 3-D: 6.9 m, ctmm wood-turtle animal-tag calibration, RMS UERE of 3-D fixes
 *    (reference/analysis.md table "Animal-tag GPS error"); 2-D fixes (GSA dim 2): 29.6 m, same source.
 *  - DGPS/SBAS: 2.0 m, upper end of the "SBAS 1-2 m" tier (reference/analysis.md §1.4).
 *  - RTK fixed: 0.02 m, upper end of the "RTK 1-2 cm" tier (same).
 *  - RTK float: 0.5 m. OUR ASSUMPTION: the references give no float figure; float is decimetre-level and
 *    this errs large. Revisit with calibration data.
 * GGA quality 3 (PPS, military code) and 8 (simulator) and FAA modes A/P use the autonomous figure.
 */
#define CF_NMEA_UERE_AUTONOMOUS_MM 6900u
#define CF_NMEA_UERE_2D_MM 29600u
#define CF_NMEA_UERE_DGPS_MM 2000u
#define CF_NMEA_UERE_RTK_FLOAT_MM 500u
#define CF_NMEA_UERE_RTK_FIXED_MM 20u

/* Sentence types this parser uses; also the bit numbers of struct cf_fix.src_mask. */
enum cf_nmea_sentence {
	CF_NMEA_S_NONE = 0,
	CF_NMEA_S_GGA,
	CF_NMEA_S_RMC,
	CF_NMEA_S_GSA,
	CF_NMEA_S_GST,
	CF_NMEA_S_GNS,
	CF_NMEA_S_VTG,
	CF_NMEA_S_GLL,
	CF_NMEA_S_ZDA,
	CF_NMEA_S_COUNT
};

/* struct cf_fix.has: one bit per optional field. A clear bit means "unknown", whatever the field holds. */
#define CF_FIX_HAS_TOD (1u << 0)      /* tod_ms */
#define CF_FIX_HAS_TIME (1u << 1)     /* t_ms (a date was known) */
#define CF_FIX_HAS_POS (1u << 2)      /* lat_e7, lon_e7 */
#define CF_FIX_HAS_ALT (1u << 3)      /* alt_mm */
#define CF_FIX_HAS_GEOID (1u << 4)    /* geoid_sep_mm */
#define CF_FIX_HAS_HDOP (1u << 5)     /* hdop_c */
#define CF_FIX_HAS_HACC (1u << 6)     /* h_acc_mm and h_acc_src */
#define CF_FIX_HAS_GGA_Q (1u << 7)    /* gga_q */
#define CF_FIX_HAS_FAA (1u << 8)      /* faa_mode */
#define CF_FIX_HAS_FIX_DIM (1u << 9)  /* fix_dim */
#define CF_FIX_HAS_NSAT (1u << 10)    /* nsat */
#define CF_FIX_HAS_SOG (1u << 11)     /* sog_cms */
#define CF_FIX_HAS_COG (1u << 12)     /* cog_cdeg */
#define CF_FIX_HAS_RMC_STAT (1u << 13) /* rmc_status */

/* struct cf_fix.tq_flags: how much to trust t_ms. */
#define CF_TQ_ROLLOVER (1u << 0)     /* date moved by a multiple of 1024 weeks (reference or pivot) */
#define CF_TQ_DATE_CARRIED (1u << 1) /* this epoch had no date: taken from an earlier epoch */
#define CF_TQ_CENTURY (1u << 2)      /* date came from a 2-digit year (RMC), century chosen by rule */
#define CF_TQ_NO_REF (1u << 3)       /* no reference time was set: rollover check used the build pivot */

enum cf_hacc_src {
	CF_HACC_SRC_NONE = 0,
	CF_HACC_SRC_GST = 1,  /* receiver's own sigma_lat/sigma_lon */
	CF_HACC_SRC_UERE = 2, /* UERE(fix quality) x HDOP estimate */
};

/* One epoch of the receiver, merged from all its sentences. Units in the names; presence in `has`. */
struct cf_fix {
	uint32_t has;          /* CF_FIX_HAS_* */
	int64_t t_ms;          /* UTC, ms since 1970-01-01 */
	uint32_t tod_ms;       /* UTC time of day, ms (86 400 000 + ms only in a leap second) */
	int32_t lat_e7;        /* degrees x 1e7, north positive */
	int32_t lon_e7;        /* degrees x 1e7, east positive */
	int32_t alt_mm;        /* above mean sea level (GGA/GNS field 9) */
	int32_t geoid_sep_mm;  /* geoid above WGS84 ellipsoid: alt_hae = alt_mm + geoid_sep_mm */
	uint32_t h_acc_mm;     /* horizontal 1-sigma radial error (DRMS), see h_acc_src */
	uint16_t hdop_c;       /* HDOP x 100 (unitless) */
	uint16_t sog_cms;      /* speed over ground, cm/s */
	uint16_t cog_cdeg;     /* course over ground, true, 1/100 degree, 0..35999 */
	uint16_t src_mask;     /* bit (1 << enum cf_nmea_sentence) per sentence type merged */
	uint8_t gga_q;         /* GGA quality 0..8: 0 none, 1 GPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float,
	                        * 6 dead reckoning, 7 manual, 8 simulator */
	char faa_mode;         /* FAA mode letter from RMC/GNS/GLL/VTG: A D E F M N P R S (GNS: best of its chars) */
	uint8_t fix_dim;       /* GSA: 1 none, 2 2-D, 3 3-D (largest of the epoch's GSAs) */
	uint8_t nsat;          /* satellites used (GGA/GNS) */
	char rmc_status;       /* RMC/GLL status 'A' valid or 'V' void */
	uint8_t tq_flags;      /* CF_TQ_* */
	uint8_t h_acc_src;     /* enum cf_hacc_src */
	uint8_t talker_mask;   /* bit per talker: 0 GP, 1 GN, 2 GL, 3 GA, 4 GB, 5 BD, 6 QZ */
};

struct cf_nmea_config {
	uint8_t cycle_last; /* enum cf_nmea_sentence ending an epoch at once, or CF_NMEA_S_NONE (next time ends it) */
	int32_t pivot_days; /* rollover pivot without a reference time, days since 1970 (CF_NMEA_PIVOT_DAYS) */
};
#define CF_NMEA_CONFIG_INIT {CF_NMEA_S_NONE, CF_NMEA_PIVOT_DAYS}

/* Everything counted; see the header comment for what each rule means. Counters saturate, never wrap. */
struct cf_nmea_stats {
	uint32_t sentences_ok;   /* handled type, checksum good, all fields parsed, merged into an epoch */
	uint32_t bad_checksum;   /* "*hh" present but wrong (or not hex) */
	uint32_t no_checksum;    /* line ended without "*hh": rejected by policy */
	uint32_t overlong;       /* more than CF_NMEA_LINE_MAX chars before the line ended */
	uint32_t truncated;      /* '$' or a non-printable byte arrived before the line ended */
	uint32_t trailing;       /* bytes other than CR/LF after "*hh": line rejected */
	uint32_t unknown_talker; /* talker not in GP GN GL GA GB BD QZ */
	uint32_t unknown_type;   /* known talker, sentence we do not use (GSV, GBS, TXT...), or proprietary $P */
	uint32_t field_errors;   /* handled sentence with a malformed field: dropped whole */
	uint32_t garbage_bytes;  /* bytes skipped outside sentences plus bytes of rejected lines */
	uint32_t fixes;          /* epoch records emitted */
	uint32_t date_rollover;  /* dates moved by 1024 weeks */
};

/* Error codes (negative), also the reason kept in struct cf_nmea.last_err. */
enum cf_nmea_err {
	CF_NMEA_OK = 0,
	CF_NMEA_EINVAL = -1,     /* NULL argument (programming error) */
	CF_NMEA_ECHECKSUM = -2,  /* checksum mismatch */
	CF_NMEA_ENOCHECKSUM = -3,
	CF_NMEA_EOVERLONG = -4,
	CF_NMEA_ETRUNC = -5,
	CF_NMEA_ETRAILING = -6,
	CF_NMEA_EFIELD = -9,     /* last_err_field says which field (1 = first after the address) */
	/* unknown talkers/sentence types are not errors: they are only counted (unknown_talker/unknown_type) */
};

/* Parser state. Caller-owned (stack, static, or inside a bigger struct); ~400 bytes; no pointers inside. */
struct cf_nmea {
	struct cf_nmea_config cfg;
	struct cf_nmea_stats stats;
	int last_err;              /* most recent enum cf_nmea_err, 0 if none yet */
	uint8_t last_err_field;    /* for CF_NMEA_EFIELD */
	uint8_t last_err_type;     /* enum cf_nmea_sentence of the line, or CF_NMEA_S_NONE */
	uint32_t last_err_line;    /* 1-based count of lines ('$' starts) seen when it happened */
	uint32_t lines;            /* '$' starts seen */
	/* lexer */
	uint8_t lex;               /* internal state */
	uint8_t line_len;
	char line[CF_NMEA_LINE_MAX + 1u];
	/* open epoch */
	struct cf_fix cur;
	bool cur_open;
	uint8_t hdop_prio;         /* 1 = HDOP came from GSA, 2 = from GGA/GNS */
	bool cur_dated;            /* epoch holds a dated sentence (RMC status A) */
	bool gst_sigma;            /* epoch has GST sigma_lat/lon */
	uint8_t vtg_talkers;       /* talkers whose VTG the epoch already holds */
	bool cur_untimed;          /* epoch holds a sentence whose time field was empty */
	uint32_t gst_h_acc_mm;
	/* date anchor: the last (date, time of day) pair seen, from RMC/ZDA or rolled forward by epochs */
	bool anchor_known;
	int32_t anchor_day;
	uint32_t anchor_tod_ms;
	uint8_t anchor_tq;
	bool ref_known;
	int64_t ref_ms;
	/* completed records waiting to be handed out (one sentence can complete two) */
	struct cf_fix out[2];
	uint8_t out_n;
	uint8_t out_pos;
};

/* cfg may be NULL for CF_NMEA_CONFIG_INIT. Clears all state and counters. */
void cf_nmea_init(struct cf_nmea *p, const struct cf_nmea_config *cfg);

/*
 * Consume bytes until one fix record completes or the chunk ends.
 * *used: bytes consumed (always <= len). Returns 1 with *out filled when a record completed (call again with
 * the rest of the chunk, possibly len 0: two records can complete at once), 0 when the whole chunk was
 * consumed without completing one.
 * @retval CF_NMEA_EINVAL p, used or out NULL, or buf NULL with len > 0.
 */
int cf_nmea_feed(struct cf_nmea *p, const void *buf, size_t len, size_t *used, struct cf_fix *out);

/*
 * End of stream (or receiver switched off): a partial line is counted as truncated, the open epoch is
 * closed. Returns 1 with *out filled while records remain, then 0. @retval CF_NMEA_EINVAL NULL argument.
 */
int cf_nmea_flush(struct cf_nmea *p, struct cf_fix *out);

/* Gateway time (UTC ms since 1970, from ACK) used to resolve 2-digit years and the 1024-week rollover. */
void cf_nmea_set_reference_time(struct cf_nmea *p, int64_t ref_ms);

/* Fix validity per reference/protocol.md §2.3 item 5: a position, at least one validity indicator, and every
 * indicator present says "fix": GGA quality in 1..5 (6 dead reckoning, 7 manual, 8 simulator and 0 are not),
 * RMC/GLL status A, FAA mode in A D F P R (E estimated, M manual, S simulator, N none are not), GSA dim >= 2. */
bool cf_fix_is_valid(const struct cf_fix *f);

/* gpsd TPV "mode": 1 no fix, 2 2-D, 3 3-D. Valid fixes: the GSA dimension if known, else 3 with an altitude,
 * else 2. Invalid: 1. */
int cf_fix_mode(const struct cf_fix *f);

/* gpsd fix status (gps.h STATUS_*): 0 none, 1 GPS, 2 DGPS, 3 RTK fixed, 4 RTK float, 5 dead reckoning,
 * 7 manual/time only, 8 simulated, 9 PPS. From GGA quality, else the FAA mode letter. */
int cf_fix_status(const struct cf_fix *f);

/* "CF_NMEA_ECHECKSUM" etc.; never NULL. */
const char *cf_nmea_errname(int err);
/* "GGA" etc. for enum cf_nmea_sentence; "" for CF_NMEA_S_NONE / out of range. */
const char *cf_nmea_sentence_name(unsigned type);

/* Days since 1970-01-01 of a proleptic Gregorian date (no range checks beyond the arithmetic). */
int32_t cf_nmea_days_from_civil(int32_t y, unsigned m, unsigned d);

#endif
