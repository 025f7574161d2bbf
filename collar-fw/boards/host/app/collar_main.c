/*
 * scentrack-collar — the collar firmware as a host process.
 *
 * main() is option parsing + mode dispatch: each mode is one run_<mode>() taking the parsed options, so new
 * modes (the full collar loop, journal inspection...) add an enum value, their options and a function.
 * All printing lives here; the firmware core (collar-fw/core) never touches stdio.
 *
 * Exit codes: 0 ok, 1 usage error, 2 cannot open input, 3 read error on input.
 */
#define _GNU_SOURCE /* getopt_long, gmtime_r */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cf/nmea.h"
#include "cf/version.h"

enum { EXIT_USAGE = 1, EXIT_NOINPUT = 2, EXIT_READ = 3 };

enum run_mode { RUN_NONE = 0, RUN_DECODE };

struct opts {
	enum run_mode mode;
	const char *input; /* NULL or "-" = stdin */
	bool have_ref;
	int64_t ref_ms;
	uint8_t cycle_last;
	bool keep_comments;
};

static const char usage_text[] =
	"Usage: scentrack-collar --decode [OPTIONS] [FILE]\n"
	"       scentrack-collar -h | --help\n"
	"       scentrack-collar -V | --version\n"
	"\n"
	"Modes:\n"
	"  --decode [FILE]   Run the collar's GNSS (NMEA 0183) parser over FILE, or standard input if FILE is\n"
	"                    missing or \"-\", and print one JSON line per receiver epoch (gpsd TPV names):\n"
	"                      time    UTC, ISO 8601 with milliseconds (omitted until a date is known)\n"
	"                      mode    1 no fix, 2 2-D fix, 3 3-D fix\n"
	"                      status  2 DGPS, 3 RTK fixed, 4 RTK float, 5 dead reckoning, 7 manual,\n"
	"                              8 simulator, 9 PPS (omitted for a plain GPS fix or no fix)\n"
	"                      lat lon degrees, 7 decimals   altMSL m   speed m/s   track deg   hdop\n"
	"                      eph     horizontal 1-sigma error (m); ephSrc \"gst\" (receiver) or \"uere\" (HDOP model)\n"
	"                      rollover true when the receiver's date was 1024 weeks off and was corrected\n"
	"                    Fields the receiver did not send are left out, never printed as 0.\n"
	"                    At the end a summary goes to standard error: sentences accepted, checksum errors,\n"
	"                    unknown sentences, garbage bytes skipped, fixes printed.\n"
	"\n"
	"Options for --decode:\n"
	"  --ref-date DATE   Reference UTC date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, standing in for the time the\n"
	"                    gateway sends the collar: resolves 2-digit years and GPS week-rollover dates. Use the\n"
	"                    day the log was recorded. Without it, dates before 2024-01-01 are treated as\n"
	"                    rollover victims, as on a collar that has not heard from its gateway.\n"
	"  --cycle-last TYPE Sentence type that ends each receiver cycle (GGA, RMC, GSA, GST, GNS, VTG, GLL, ZDA):\n"
	"                    print each epoch as soon as it arrives instead of when the next epoch begins.\n"
	"  --keep-comments   Feed lines starting with '#' to the parser too (by default they are skipped, as\n"
	"                    recorded logs carry a '#' metadata header that a receiver never sends).\n"
	"\n"
	"Example (a technician checking a receiver log):\n"
	"  scentrack-collar --decode --ref-date 2020-03-18 nmea-rtk.log > fixes.jsonl\n"
	"  cat /dev/ttyUSB0 | scentrack-collar --decode --ref-date 2025-06-01\n"
	"\n"
	"Exit status: 0 ok, 1 usage error, 2 cannot open FILE, 3 read error.\n";

static void usage_hint(void)
{
	fputs("Try 'scentrack-collar --help'.\n", stderr);
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" → UTC ms. */
static int parse_ref_date(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) {
		return -1;
	}
	if (s[n] == 'T') {
		int n2 = 0;
		if (sscanf(s + n, "T%2d:%2d:%2d%n", &h, &mi, &sec, &n2) != 3) {
			return -1;
		}
		n += n2;
		if (s[n] == 'Z') {
			n++;
		}
	}
	if (s[n] != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970) {
		return -1;
	}
	int64_t days = cf_nmea_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000;
	return 0;
}

static int parse_sentence_type(const char *s, uint8_t *out)
{
	for (unsigned t = 1; t < CF_NMEA_S_COUNT; t++) {
		if (strcmp(s, cf_nmea_sentence_name(t)) == 0) {
			*out = (uint8_t)t;
			return 0;
		}
	}
	return -1;
}

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_DECODE = 256, OPT_REF_DATE, OPT_CYCLE_LAST, OPT_KEEP_COMMENTS };
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"decode", no_argument, NULL, OPT_DECODE},
		{"ref-date", required_argument, NULL, OPT_REF_DATE},
		{"cycle-last", required_argument, NULL, OPT_CYCLE_LAST},
		{"keep-comments", no_argument, NULL, OPT_KEEP_COMMENTS},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof *o);
	o->cycle_last = CF_NMEA_S_NONE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("%s\n", cf_version_string);
			return 0;
		case OPT_DECODE:
			o->mode = RUN_DECODE;
			break;
		case OPT_REF_DATE:
			if (parse_ref_date(optarg, &o->ref_ms) < 0) {
				fprintf(stderr, "scentrack-collar: --ref-date '%s': expected YYYY-MM-DD or "
				                "YYYY-MM-DDTHH:MM:SSZ (UTC, year >= 1970)\n", optarg);
				usage_hint();
				return EXIT_USAGE;
			}
			o->have_ref = true;
			break;
		case OPT_CYCLE_LAST:
			if (parse_sentence_type(optarg, &o->cycle_last) < 0) {
				fprintf(stderr, "scentrack-collar: --cycle-last '%s': expected one of GGA RMC GSA GST "
				                "GNS VTG GLL ZDA\n", optarg);
				usage_hint();
				return EXIT_USAGE;
			}
			break;
		case OPT_KEEP_COMMENTS:
			o->keep_comments = true;
			break;
		case ':':
			fprintf(stderr, "scentrack-collar: option '%s' needs an argument\n", argv[optind - 1]);
			usage_hint();
			return EXIT_USAGE;
		default:
			fprintf(stderr, "scentrack-collar: unknown option '%s'\n", argv[optind - 1]);
			usage_hint();
			return EXIT_USAGE;
		}
	}
	if (o->mode == RUN_NONE) {
		fputs("scentrack-collar: no mode given (did you mean --decode?)\n", stderr);
		usage_hint();
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "scentrack-collar: --decode takes one input file, got %d\n", argc - optind);
		usage_hint();
		return EXIT_USAGE;
	}
	if (optind < argc) {
		o->input = argv[optind];
	}
	return -1;
}

/* ---------------------------------------------------------------------------------------------------------
 * --decode
 */
static void print_fixed(FILE *out, int64_t v, unsigned decimals)
{
	static const int64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
	int64_t scale = pow10[decimals];
	int64_t a = v < 0 ? -v : v;
	fprintf(out, "%s%" PRId64 ".%0*" PRId64, v < 0 ? "-" : "", a / scale, (int)decimals, a % scale);
}

static void print_fix(FILE *out, const struct cf_fix *f)
{
	int status = cf_fix_status(f);

	fputs("{\"class\":\"TPV\"", out);
	if (f->has & CF_FIX_HAS_TIME) {
		time_t secs = (time_t)(f->t_ms / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		fprintf(out, ",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
		        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(f->t_ms % 1000));
	}
	fprintf(out, ",\"mode\":%d", cf_fix_mode(f));
	if (status > 1) {
		fprintf(out, ",\"status\":%d", status);
	}
	if (f->has & CF_FIX_HAS_POS) {
		fputs(",\"lat\":", out);
		print_fixed(out, f->lat_e7, 7);
		fputs(",\"lon\":", out);
		print_fixed(out, f->lon_e7, 7);
	}
	if (f->has & CF_FIX_HAS_ALT) {
		fputs(",\"altMSL\":", out);
		print_fixed(out, f->alt_mm, 3);
	}
	if (f->has & CF_FIX_HAS_SOG) {
		fputs(",\"speed\":", out);
		print_fixed(out, f->sog_cms, 2);
	}
	if (f->has & CF_FIX_HAS_COG) {
		fputs(",\"track\":", out);
		print_fixed(out, f->cog_cdeg, 2);
	}
	if (f->has & CF_FIX_HAS_HDOP) {
		fputs(",\"hdop\":", out);
		print_fixed(out, f->hdop_c, 2);
	}
	if (f->has & CF_FIX_HAS_HACC) {
		fputs(",\"eph\":", out);
		print_fixed(out, f->h_acc_mm, 3);
		fprintf(out, ",\"ephSrc\":\"%s\"", f->h_acc_src == CF_HACC_SRC_GST ? "gst" : "uere");
	}
	if (f->has & CF_FIX_HAS_NSAT) {
		fprintf(out, ",\"uSat\":%u", f->nsat);
	}
	if ((f->has & CF_FIX_HAS_TIME) && (f->tq_flags & CF_TQ_ROLLOVER)) {
		fputs(",\"rollover\":true", out);
	}
	fputs("}\n", out);
}

/* Skips '#' comment lines (log metadata headers) unless keep_comments; state survives chunk borders. */
struct comment_filter {
	bool at_line_start;
	bool in_comment;
};

static size_t filter_comments(struct comment_filter *cf, unsigned char *buf, size_t n)
{
	size_t w = 0;
	for (size_t r = 0; r < n; r++) {
		unsigned char c = buf[r];
		if (cf->at_line_start && c == '#') {
			cf->in_comment = true;
		}
		cf->at_line_start = c == '\n';
		if (cf->in_comment) {
			if (c == '\n') {
				cf->in_comment = false;
			}
			continue;
		}
		buf[w++] = c;
	}
	return w;
}

static int run_decode(const struct opts *o)
{
	struct cf_nmea_config cfg = CF_NMEA_CONFIG_INIT;
	struct cf_nmea parser;
	struct cf_fix fix;
	struct comment_filter cfilt = {true, false};
	unsigned char buf[4096];
	FILE *in = stdin;
	const char *name = "(stdin)";
	int rc = 0;

	if (o->input != NULL && strcmp(o->input, "-") != 0) {
		name = o->input;
		in = fopen(o->input, "rb");
		if (in == NULL) {
			fprintf(stderr, "scentrack-collar: cannot open '%s': %s\n", o->input, strerror(errno));
			return EXIT_NOINPUT;
		}
	}
	cfg.cycle_last = o->cycle_last;
	cf_nmea_init(&parser, &cfg);
	if (o->have_ref) {
		cf_nmea_set_reference_time(&parser, o->ref_ms);
	}

	for (;;) {
		size_t n = fread(buf, 1, sizeof buf, in);
		if (n == 0) {
			break;
		}
		if (!o->keep_comments) {
			n = filter_comments(&cfilt, buf, n);
		}
		const unsigned char *p = buf;
		while (n > 0) {
			size_t used;
			int r = cf_nmea_feed(&parser, p, n, &used, &fix);
			p += used;
			n -= used;
			if (r == 1) {
				print_fix(stdout, &fix);
			}
		}
		/* records completed by the chunk's last line */
		size_t none;
		while (cf_nmea_feed(&parser, p, 0, &none, &fix) == 1) {
			print_fix(stdout, &fix);
		}
	}
	if (ferror(in)) {
		fprintf(stderr, "scentrack-collar: read error on '%s': %s\n", name, strerror(errno));
		rc = EXIT_READ;
	}
	while (cf_nmea_flush(&parser, &fix) == 1) {
		print_fix(stdout, &fix);
	}
	fflush(stdout);

	const struct cf_nmea_stats *s = &parser.stats;
	fprintf(stderr,
	        "scentrack-collar: decode %s: %" PRIu32 " sentences ok, %" PRIu32 " checksum errors (%" PRIu32
	        " wrong, %" PRIu32 " missing), %" PRIu32 " unknown sentences (%" PRIu32 " talker, %" PRIu32
	        " type), %" PRIu32 " field errors, %" PRIu32 " overlong, %" PRIu32 " truncated, %" PRIu32
	        " trailing junk, %" PRIu32 " garbage bytes skipped, %" PRIu32 " fixes emitted, %" PRIu32
	        " dates rollover-corrected\n",
	        name, s->sentences_ok, s->bad_checksum + s->no_checksum, s->bad_checksum, s->no_checksum,
	        s->unknown_talker + s->unknown_type, s->unknown_talker, s->unknown_type, s->field_errors, s->overlong,
	        s->truncated, s->trailing, s->garbage_bytes, s->fixes, s->date_rollover);
	if (parser.last_err != 0) {
		fprintf(stderr, "scentrack-collar: last rejected line: sentence #%" PRIu32 " %s%s%s", parser.last_err_line,
		        cf_nmea_errname(parser.last_err), parser.last_err_type ? " in " : "",
		        cf_nmea_sentence_name(parser.last_err_type));
		if (parser.last_err == CF_NMEA_EFIELD) {
			fprintf(stderr, " field %u", parser.last_err_field);
		}
		fputc('\n', stderr);
	}
	if (in != stdin) {
		fclose(in);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0) {
		return rc;
	}
	switch (o.mode) {
	case RUN_DECODE:
		return run_decode(&o);
	default:
		return EXIT_USAGE;
	}
}
