/*
 * scentrack-collar — the collar firmware as a host process.
 *
 * main() is option parsing + mode dispatch: each mode is one run_<mode>() taking the parsed options, so new
 * modes (the full collar loop, journal inspection...) add an enum value, their options and a function.
 * All printing lives here; the firmware core (collar-fw/core) never touches stdio.
 *
 * Modes: --decode (the GNSS parser over a log) and the collar itself (selected by --id; run_collar()).
 *
 * Exit codes: 0 ok (or SIGTERM/SIGINT: clean stop), 1 usage error, 2 cannot open an input/output or bad
 * key file, 3 read error on input, 4 the radio hung up, 5 flash/journal failure (restart = reboot).
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

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cf/app.h"
#include "cf/nmea.h"
#include "cf/version.h"
#include "hal/battery_sim.h"
#include "hal/clock_host.h"
#include "hal/flash_file.h"
#include "hal/uart_fd.h"
#include "proto/crc32c.h"

enum { EXIT_USAGE = 1, EXIT_NOINPUT = 2, EXIT_READ = 3, EXIT_RADIO = 4, EXIT_FLASH = 5 };

enum run_mode { RUN_NONE = 0, RUN_DECODE, RUN_COLLAR };

struct opts {
	enum run_mode mode;
	const char *input; /* NULL or "-" = stdin */
	bool have_ref;
	int64_t ref_ms;
	uint8_t cycle_last;
	bool keep_comments;
	/* collar mode */
	bool have_id;
	uint16_t collar_id;
	const char *key_path;
	uint8_t species;
	uint32_t rate_ms;
	const char *gnss_path;
	const char *motion_path;
	const char *radio_spec;
	const char *flash_path;
	uint32_t flash_pages;
	bool fast;
	bool sync;
	int debug;
	bool journal_log;
	bool exit_on_eof;
	uint32_t status_ms;
	int16_t temp_dc;
	uint32_t seed;
	uint32_t pair_hold_ms;
};

static const char usage_text[] =
	"Usage: scentrack-collar --id N --key FILE --flash FILE --gnss SRC [--radio SPEC] [OPTIONS]\n"
	"       scentrack-collar --decode [OPTIONS] [FILE]\n"
	"       scentrack-collar -h | --help\n"
	"       scentrack-collar -V | --version\n"
	"\n"
	"The collar (one animal's collar as a process; stops cleanly on SIGTERM/SIGINT):\n"
	"  Reads the GNSS receiver's NMEA stream, journals every fix (at the report period) and every indication\n"
	"  to the flash file before sending it, and talks to a gateway over the radio byte stream (COBS frames,\n"
	"  selective-repeat ARQ; docs/protocol.md). Diagnostics go to standard error, data to standard output.\n"
	"  --id N            collar id, 1..65535 (as provisioned; frames for other ids are ignored)\n"
	"  --key FILE        collar key: exactly 32 raw bytes, or 64 hex digits (whitespace ignored)\n"
	"  --flash FILE      the collar's data flash (journal), created erased if missing. Killing the process\n"
	"                    at any instant is a power cut: every record it reported as journaled survives\n"
	"  --flash-pages N   flash size in 4 KiB pages, 4..256 (default 256 = 1 MiB); must match an existing file\n"
	"  --gnss SRC        NMEA 0183 bytes: a log file, a pty/serial device/fifo of a live receiver, or - for\n"
	"                    standard input. Lines starting with '#' (log headers) are skipped\n"
	"  --motion FILE     accelerometer samples \"t_ms,x_mg,y_mg,z_mg\" at 50 Hz (cf-motion-gen output) and\n"
	"                    button edges \"t_ms,button,1\" (pressed) / \"t_ms,button,0\" (released); t_ms is the\n"
	"                    collar clock (ms since start). Other lines (headers) are skipped\n"
	"  --radio SPEC      radio modem byte stream: /dev/ttyX or a pty (raw mode), a unix socket path (connect),\n"
	"                    RX_FIFO,TX_FIFO (two named pipes) or fd:N (inherited descriptor). Without it the\n"
	"                    collar only journals (a collar out of range)\n"
	"  --species rat|dog indication classifier (rat: scratch, dog: sit); default dog\n"
	"  --rate MS         fixed FIX report period; default adaptive: 1 s searching, 10 s stationary, 5 s\n"
	"                    transit, 60 s standby, 1 s around indications; a gateway CMD SET_RATE overrides it\n"
	"  --status MS       STATUS period (battery, temperature, link counters); default 60000, 0 = on request\n"
	"  --temp DEGC       temperature the simulated sensor reports (default 25.0); battery: 2000 mAh at 60 mA\n"
	"  --pair-hold MS    hold an indication this long for the other source (classifier / handler button) so\n"
	"                    both become one IND with source \"both\"; default 3000, 0 = send at once\n"
	"  --seed N          seed of the link's retransmission jitter (default: the collar id)\n"
	"  --realtime        (default) the clock is the host's monotonic clock; log files are replayed at the\n"
	"                    pace of their timestamps, live streams are read as they come\n"
	"  --fast            replay as fast as possible on a virtual clock taken from the inputs' timestamps;\n"
	"                    each data frame waits (up to 200 ms real time) for the gateway's ACK before the clock\n"
	"                    moves on, so a gateway sees a plausible collar. After the inputs end the clock jumps\n"
	"                    from timer to timer until the gateway has acked everything, then runs in real time\n"
	"";

static const char usage_sync[] =
	"  --sync            (implies --fast) paced by a driver (scentrack sim) instead of lock-step: no ACK wait;\n"
	"                    the motion stream carries time marks \"t_ms,tick\" (no motion event before t_ms will\n"
	"                    follow) and a GNSS line is taken only once the motion is known up to its time, so the\n"
	"                    inputs interleave exactly as in log files whatever the pipes' scheduling. On standard\n"
	"                    output: \"tx CLOCK_MS\" after each frame written to the radio, and \"idle TICK_MS\n"
	"                    CLOCK_MS RADIO_RX_BYTES TX_FRAMES DRAINED\" each time it waits with nothing left to do\n"
	"                    (DRAINED: the GNSS input ended and the gateway acked every record)\n"
	"  --exit-on-eof     exit 0 once the inputs have ended and the gateway has acked every record (without\n"
	"                    --radio: once the inputs have ended)\n"
	"  --journal-log     print \"boot B next S rate_ms R\" at start, \"cmd ID op OP result R\" after a CMD ran,\n"
	"                    and \"journaled SEQ TYPE CRC\" after each durable\n"
	"                    append (CRC-32C of the body, hex) on standard output, unbuffered\n"
	"  -D LEVEL          stderr diagnostics: 0 errors (default), 1 start/stop, link up/down, summary,\n"
	"                    2 every record journaled, 3 every frame sent/received\n"
	"\n";

static const char usage_text2[] =
	"Other modes:\n"
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
	"Examples:\n"
	"  # a collar replaying a receiver log against a gateway on a pty, until everything is acked\n"
	"  scentrack-collar --id 7 --key collar7.key --flash collar7.flash --gnss walk.nmea \\\n"
	"                   --motion walk.csv --radio /dev/pts/5 --fast --exit-on-eof -D 1\n"
	"  # a technician checking a receiver log\n"
	"  scentrack-collar --decode --ref-date 2020-03-18 nmea-rtk.log > fixes.jsonl\n"
	"  cat /dev/ttyUSB0 | scentrack-collar --decode --ref-date 2025-06-01\n"
	"\n"
	"Exit status: 0 ok (also after SIGTERM/SIGINT), 1 usage error, 2 cannot open an input/output or bad key\n"
	"file, 3 read error on an input, 4 the radio hung up (collar mode), 5 flash/journal failure (collar\n"
	"mode: restart it, as a watchdog reset would).\n";

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

static int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		return -1;
	}
	*out = v;
	return 0;
}

static int bad_value(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "scentrack-collar: %s '%s': expected %s\n", opt, val, want);
	usage_hint();
	return EXIT_USAGE;
}

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_DECODE = 256, OPT_REF_DATE, OPT_CYCLE_LAST, OPT_KEEP_COMMENTS, OPT_ID, OPT_KEY, OPT_SPECIES,
		OPT_RATE, OPT_GNSS, OPT_MOTION, OPT_RADIO, OPT_FLASH, OPT_FLASH_PAGES, OPT_REALTIME, OPT_FAST, OPT_SYNC,
		OPT_JOURNAL_LOG, OPT_EXIT_ON_EOF, OPT_STATUS, OPT_TEMP, OPT_SEED, OPT_PAIR_HOLD
	};
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"decode", no_argument, NULL, OPT_DECODE},
		{"ref-date", required_argument, NULL, OPT_REF_DATE},
		{"cycle-last", required_argument, NULL, OPT_CYCLE_LAST},
		{"keep-comments", no_argument, NULL, OPT_KEEP_COMMENTS},
		{"id", required_argument, NULL, OPT_ID},
		{"key", required_argument, NULL, OPT_KEY},
		{"species", required_argument, NULL, OPT_SPECIES},
		{"rate", required_argument, NULL, OPT_RATE},
		{"gnss", required_argument, NULL, OPT_GNSS},
		{"motion", required_argument, NULL, OPT_MOTION},
		{"radio", required_argument, NULL, OPT_RADIO},
		{"flash", required_argument, NULL, OPT_FLASH},
		{"flash-pages", required_argument, NULL, OPT_FLASH_PAGES},
		{"realtime", no_argument, NULL, OPT_REALTIME},
		{"fast", no_argument, NULL, OPT_FAST},
		{"sync", no_argument, NULL, OPT_SYNC},
		{"journal-log", no_argument, NULL, OPT_JOURNAL_LOG},
		{"exit-on-eof", no_argument, NULL, OPT_EXIT_ON_EOF},
		{"status", required_argument, NULL, OPT_STATUS},
		{"temp", required_argument, NULL, OPT_TEMP},
		{"seed", required_argument, NULL, OPT_SEED},
		{"pair-hold", required_argument, NULL, OPT_PAIR_HOLD},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof *o);
	o->cycle_last = CF_NMEA_S_NONE;
	o->species = CF_SPECIES_DOG;
	o->flash_pages = 256;
	o->status_ms = 60000;
	o->temp_dc = 250;
	o->pair_hold_ms = UINT32_MAX;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hVD:", longopts, NULL)) != -1) {
		uint64_t v;
		switch (c) {
		case OPT_ID:
			if (parse_uint(optarg, 1, 65535, &v) < 0) {
				return bad_value("--id", optarg, "a collar id 1..65535");
			}
			o->collar_id = (uint16_t)v;
			o->have_id = true;
			o->mode = o->mode == RUN_DECODE ? RUN_DECODE : RUN_COLLAR;
			continue;
		case OPT_KEY:
			o->key_path = optarg;
			continue;
		case OPT_SPECIES:
			if (strcmp(optarg, "rat") == 0) {
				o->species = CF_SPECIES_RAT;
			} else if (strcmp(optarg, "dog") == 0) {
				o->species = CF_SPECIES_DOG;
			} else {
				return bad_value("--species", optarg, "rat or dog");
			}
			continue;
		case OPT_RATE:
			if (parse_uint(optarg, 100, 86400000, &v) < 0) {
				return bad_value("--rate", optarg, "a period in ms, 100..86400000");
			}
			o->rate_ms = (uint32_t)v;
			continue;
		case OPT_GNSS:
			o->gnss_path = optarg;
			continue;
		case OPT_MOTION:
			o->motion_path = optarg;
			continue;
		case OPT_RADIO:
			o->radio_spec = optarg;
			continue;
		case OPT_FLASH:
			o->flash_path = optarg;
			continue;
		case OPT_FLASH_PAGES:
			if (parse_uint(optarg, CF_JOURNAL_MIN_PAGES, CF_JOURNAL_MAX_PAGES, &v) < 0) {
				return bad_value("--flash-pages", optarg, "a page count 4..256");
			}
			o->flash_pages = (uint32_t)v;
			continue;
		case OPT_REALTIME:
			o->fast = false;
			continue;
		case OPT_FAST:
			o->fast = true;
			continue;
		case OPT_SYNC:
			o->fast = true;
			o->sync = true;
			continue;
		case OPT_JOURNAL_LOG:
			o->journal_log = true;
			continue;
		case OPT_EXIT_ON_EOF:
			o->exit_on_eof = true;
			continue;
		case OPT_STATUS:
			if (parse_uint(optarg, 0, 86400000, &v) < 0 || (v != 0 && v < 1000)) {
				return bad_value("--status", optarg, "0 or a period in ms, 1000..86400000");
			}
			o->status_ms = (uint32_t)v;
			continue;
		case OPT_TEMP: {
			char *end;
			double t = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(t >= -55.0 && t <= 125.0)) {
				return bad_value("--temp", optarg, "degrees Celsius, -55..125");
			}
			o->temp_dc = (int16_t)(t * 10.0 + (t < 0 ? -0.5 : 0.5));
			continue;
		}
		case OPT_SEED:
			if (parse_uint(optarg, 0, UINT32_MAX, &v) < 0) {
				return bad_value("--seed", optarg, "an unsigned 32-bit number");
			}
			o->seed = (uint32_t)v;
			continue;
		case OPT_PAIR_HOLD:
			if (parse_uint(optarg, 0, 60000, &v) < 0) {
				return bad_value("--pair-hold", optarg, "ms, 0..60000");
			}
			o->pair_hold_ms = (uint32_t)v;
			continue;
		case 'D':
			if (parse_uint(optarg, 0, 9, &v) < 0) {
				return bad_value("-D", optarg, "a level 0..9");
			}
			o->debug = (int)v;
			continue;
		default:
			break;
		}
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			fputs(usage_sync, stdout);
			fputs(usage_text2, stdout);
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
		fputs("scentrack-collar: no mode given (--id N ... to run a collar, --decode to decode a log)\n", stderr);
		usage_hint();
		return EXIT_USAGE;
	}
	if (o->mode == RUN_COLLAR) {
		const char *missing = o->key_path == NULL ? "--key" : o->flash_path == NULL ? "--flash"
		                      : o->gnss_path == NULL ? "--gnss" : NULL;
		if (missing != NULL) {
			fprintf(stderr, "scentrack-collar: the collar needs %s\n", missing);
			usage_hint();
			return EXIT_USAGE;
		}
		if (optind < argc) {
			fprintf(stderr, "scentrack-collar: unexpected argument '%s' (inputs are given with --gnss/--motion)\n",
			        argv[optind]);
			usage_hint();
			return EXIT_USAGE;
		}
		if (o->seed == 0) {
			o->seed = o->collar_id;
		}
		return -1;
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

/* ---------------------------------------------------------------------------------------------------------
 * The collar (RUN_COLLAR): one poll loop over the GNSS stream, the motion file and the radio.
 *
 * Time. --realtime: the hal clock is CLOCK_MONOTONIC since start; a log FILE is paced by its timestamps (a
 * line is fed once the clock reaches the time of the receiver epoch it belongs to), a live stream is fed
 * as it arrives. --fast: a virtual clock; each turn takes the earliest input event and moves the clock to
 * its time, or to the application's next deadline if that comes first, so an hour of log costs no wall
 * time. GNSS epoch time comes from the parser itself (cf_app_gnss_epoch_tod after each line): the first
 * timed epoch is at the clock's value when it is seen, later epochs by their time-of-day difference (so a
 * log crossing midnight is fine). Motion samples carry the clock time themselves.
 * Fixes are therefore handled at the clock time of their own epoch: the record for epoch k is completed by
 * the first line of epoch k+1, which is fed while the clock still says epoch k.
 */
#define GNSS_LINE_MAX 4096u
#define LOCKSTEP_MS 200    /* --fast: real ms to wait for the gateway's ACK of frames in flight */
#define HEALTH_EVERY_MS 1000u
#define WAIT_MAX_MS 1000

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

struct linein {
	int fd;
	bool regular;   /* a file: paced by timestamps in --realtime */
	bool eof;
	bool eof_seen;  /* the final partial line was handed out */
	size_t start, end;
	char buf[GNSS_LINE_MAX];
	uint32_t lines;
};

/* Compact the buffer and read once: 1 bytes or the end arrived (or EINTR: try again), 0 nothing to read now,
 * -1 a read error. */
static int linein_fill(struct linein *l)
{
	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
	}
	ssize_t n = read(l->fd, l->buf + l->end, sizeof l->buf - l->end);
	if (n > 0) {
		l->end += (size_t)n;
		return 1;
	}
	if (n == 0) {
		l->eof = true;
		return 1;
	}
	if (errno == EINTR) {
		return 1;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/* 1: (*line, *len) is the next line (with its '\n' if any), 0: no full line yet, -1: end, -2: read error. */
static int linein_next(struct linein *l, char **line, size_t *len)
{
	for (;;) {
		char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
		if (nl != NULL) {
			*line = l->buf + l->start;
			*len = (size_t)(nl + 1 - *line);
			l->start += *len;
			l->lines++;
			return 1;
		}
		if (l->eof || l->end - l->start == sizeof l->buf) {
			/* the last line without '\n', or a "line" longer than the buffer (not NMEA: the parser
			 * counts it as garbage) */
			if (l->end > l->start) {
				*line = l->buf + l->start;
				*len = l->end - l->start;
				l->start = l->end;
				l->lines++;
				return 1;
			}
			if (l->eof) {
				return -1;
			}
		}
		int f = linein_fill(l);
		if (f > 0) {
			continue;
		}
		return f == 0 ? 0 : -2;
	}
}

/* A full line (or the end) can be handed out now: reads what the fd has without consuming a line. */
static bool linein_ready(struct linein *l)
{
	for (;;) {
		if (l->eof || memchr(l->buf + l->start, '\n', l->end - l->start) != NULL ||
		    l->end - l->start == sizeof l->buf) {
			return true;
		}
		int f = linein_fill(l);
		if (f > 0) {
			continue;
		}
		return f < 0; /* an error: let linein_next report it */
	}
}

static int linein_open(struct linein *l, const char *path)
{
	struct stat st;
	memset(l, 0, sizeof *l);
	if (strcmp(path, "-") == 0) {
		l->fd = STDIN_FILENO;
	} else {
		l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (l->fd < 0) {
			return -errno;
		}
	}
	if (fstat(l->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		l->regular = true;
	} else {
		int fl = fcntl(l->fd, F_GETFL);
		if (fl >= 0) {
			(void)fcntl(l->fd, F_SETFL, fl | O_NONBLOCK);
		}
		if (isatty(l->fd)) {
			struct termios tio;
			if (tcgetattr(l->fd, &tio) == 0) {
				cfmakeraw(&tio);
				(void)tcsetattr(l->fd, TCSANOW, &tio);
			}
		}
	}
	return 0;
}

enum mev_kind { MEV_ACCEL = 1, MEV_BUTTON, MEV_TICK };

struct mev {
	enum mev_kind kind;
	uint32_t t_ms;
	struct cf_accel_sample s;
	bool pressed;
};

struct collar {
	const struct opts *o;
	struct cf_app app;
	struct hal_flash flash;
	struct hal_flash_file ff;
	struct hal_uart radio;
	struct hal_uart_fd radio_fd;
	bool have_radio;
	struct hal_clock clk;
	struct hal_clock_host ch;
	struct hal_clock_virt cv;
	bool virt_running;          /* --fast after the inputs ended: virtual = base + real elapsed */
	uint32_t virt_base_ms, real_base_ms;
	struct hal_battery bat;
	struct hal_battery_sim bs;
	uint8_t key[PROTO_KEY_LEN];
	/* inputs */
	struct linein gnss;
	bool gnss_done;
	bool have_tod;
	uint32_t last_tod, gnss_t;
	bool have_motion;
	struct linein motion;
	bool motion_done;
	bool mev_ready;
	struct mev mev;
	uint32_t motion_bad;
	/* state */
	bool inputs_done;
	bool waiting_ack;       /* --fast: frames in flight, waiting for the ACK before moving the clock */
	bool have_tick;         /* --sync: the last time mark consumed */
	uint32_t tick_ms;
	char idle_last[96];     /* --sync: the last idle line written (not repeated while nothing changes) */
	uint32_t wait_start_real;
	bool have_health;
	uint32_t health_ms;
	int link_up;
	uint32_t tx_frames, rx_bytes;
};

static struct collar g_collar; /* ~10 KiB: the firmware's statics */

static uint32_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint32_t collar_now(struct collar *c)
{
	if (c->o->fast && c->virt_running) {
		hal_clock_virt_set(&c->cv, c->virt_base_ms + (mono_ms() - c->real_base_ms));
	}
	return hal_clock_now_ms(&c->clk);
}

static int32_t tdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

static void dbg(const struct collar *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void dbg(const struct collar *c, int level, const char *fmt, ...)
{
	va_list ap;
	if (c->o->debug < level) {
		return;
	}
	va_start(ap, fmt);
	fputs("scentrack-collar: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* stdout lines for --journal-log: one write(2) each, so a SIGKILL never leaves half a line or a line
 * sitting in a stdio buffer for a record that is already durable */
static void out_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_line(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0) {
		size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
		const char *p = line;
		while (len > 0) {
			ssize_t w = write(STDOUT_FILENO, p, len);
			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w <= 0) {
				return;
			}
			p += w;
			len -= (size_t)w;
		}
	}
}

static void on_record(void *ctx, uint32_t rec_seq, uint8_t type, const uint8_t *body, size_t len)
{
	struct collar *c = ctx;
	if (c->o->journal_log) {
		out_line("journaled %" PRIu32 " %s %08" PRIx32 "\n", rec_seq, proto_type_name(type),
		         proto_crc32c(0, body, len));
	}
	dbg(c, 2, "journaled %s rec_seq %" PRIu32 " (%zu bytes)", proto_type_name(type), rec_seq, len);
}

static void on_cmd_run(void *ctx, const struct proto_cmd *cmd, uint8_t result)
{
	struct collar *c = ctx;
	if (c->o->journal_log) {
		out_line("cmd %" PRIu32 " op %u result %u\n", cmd->cmd_id, (unsigned)cmd->op, (unsigned)result);
	}
	dbg(c, 1, "CMD %" PRIu32 " op %u ran: result %u", cmd->cmd_id, (unsigned)cmd->op, (unsigned)result);
}

static int hexval(int ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static int load_key(const char *path, uint8_t key[PROTO_KEY_LEN])
{
	uint8_t raw[256];
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "scentrack-collar: --key '%s': %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(raw, 1, sizeof raw, f);
	fclose(f);
	if (n == PROTO_KEY_LEN) {
		memcpy(key, raw, PROTO_KEY_LEN);
		return 0;
	}
	size_t digits = 0;
	int hi = -1;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\r' || raw[i] == '\t') {
			continue;
		}
		int v = hexval(raw[i]);
		if (v < 0 || digits >= 2u * PROTO_KEY_LEN) {
			digits = 0;
			break;
		}
		if (hi < 0) {
			hi = v;
		} else {
			key[digits / 2u] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
		digits++;
	}
	if (digits != 2u * PROTO_KEY_LEN) {
		fprintf(stderr, "scentrack-collar: --key '%s': expected exactly 32 raw bytes or 64 hex digits (%zu bytes "
		        "read)\n", path, n);
		return -1;
	}
	return 0;
}

/* One motion line → event. 1 ok, 0 skip (header, comment, blank), -1 malformed. */
static int parse_motion(const char *line, size_t len, struct mev *ev)
{
	char tmp[128];
	if (len == 0 || line[0] < '0' || line[0] > '9') {
		return 0;
	}
	if (len >= sizeof tmp) {
		return -1;
	}
	memcpy(tmp, line, len);
	tmp[len] = '\0';
	unsigned long t;
	int x, y, z, n = 0, p;
	const char *comma = strchr(tmp, ',');
	if (comma != NULL && comma[1] == 't' && sscanf(tmp, "%lu,tick%n", &t, &n) == 1 && n > 0 && t <= UINT32_MAX) {
		ev->kind = MEV_TICK; /* --sync time mark: no motion event before t follows */
		ev->t_ms = (uint32_t)t;
	} else if (sscanf(tmp, "%lu,button,%d%n", &t, &p, &n) == 2 && (p == 0 || p == 1) && t <= UINT32_MAX) {
		ev->kind = MEV_BUTTON;
		ev->t_ms = (uint32_t)t;
		ev->pressed = p == 1;
	} else if (sscanf(tmp, "%lu,%d,%d,%d%n", &t, &x, &y, &z, &n) == 4 && t <= UINT32_MAX && x >= INT16_MIN &&
	           x <= INT16_MAX && y >= INT16_MIN && y <= INT16_MAX && z >= INT16_MIN && z <= INT16_MAX) {
		ev->kind = MEV_ACCEL;
		ev->t_ms = (uint32_t)t;
		ev->s = (struct cf_accel_sample){.t_ms = (uint32_t)t, .x_mg = (int16_t)x, .y_mg = (int16_t)y,
		                                 .z_mg = (int16_t)z};
	} else {
		return -1;
	}
	while (tmp[n] == '\r' || tmp[n] == '\n' || tmp[n] == ' ') {
		n++;
	}
	return tmp[n] == '\0' ? 1 : -1;
}

/* Make the next motion event ready (mev_ready) if one can be read now. Returns 0, or an exit code. */
static int motion_peek(struct collar *c)
{
	while (!c->mev_ready && !c->motion_done) {
		char *line;
		size_t len;
		int r = linein_next(&c->motion, &line, &len);
		if (r == 0) {
			return 0;
		}
		if (r == -1) {
			c->motion_done = true;
			dbg(c, 1, "motion input ended after %" PRIu32 " lines (%" PRIu32 " malformed)", c->motion.lines,
			    c->motion_bad);
			return 0;
		}
		if (r == -2) {
			fprintf(stderr, "scentrack-collar: read error on --motion '%s': %s\n", c->o->motion_path,
			        strerror(errno));
			return EXIT_READ;
		}
		r = parse_motion(line, len, &c->mev);
		if (r == 1) {
			c->mev_ready = true;
		} else if (r < 0) {
			if (c->motion_bad++ < 5u) {
				fprintf(stderr, "scentrack-collar: --motion line %" PRIu32 ": expected \"t_ms,x_mg,y_mg,z_mg\" or "
				        "\"t_ms,button,0|1\", skipped\n", c->motion.lines);
			}
		}
	}
	return 0;
}

static int app_err(struct collar *c, int err, const char *what)
{
	(void)c;
	fprintf(stderr, "scentrack-collar: %s: journal/flash failure (%s): stopping; restart the collar\n", what,
	        strerror(err < 0 ? -err : err));
	return EXIT_FLASH;
}

static int motion_apply(struct collar *c, uint32_t now)
{
	int err;
	(void)now;
	if (c->mev.kind == MEV_TICK) {
		c->have_tick = true;
		c->tick_ms = c->mev.t_ms;
		c->mev_ready = false;
		return 0;
	}
	if (c->mev.kind == MEV_ACCEL) {
		err = cf_app_accel(&c->app, &c->mev.s);
	} else {
		dbg(c, 2, "button %s at %" PRIu32 " ms", c->mev.pressed ? "pressed" : "released", c->mev.t_ms);
		err = cf_app_button(&c->app, c->mev.t_ms, c->mev.pressed);
	}
	c->mev_ready = false;
	return err < 0 ? app_err(c, err, "motion") : 0;
}

/* After each GNSS line: move the GNSS stream's clock to the epoch now open. */
static void gnss_time(struct collar *c, uint32_t now)
{
	uint32_t tod;
	if (cf_app_gnss_epoch_tod(&c->app, &tod) != 0) {
		return;
	}
	if (!c->have_tod) {
		c->have_tod = true;
		c->gnss_t = now;
		c->last_tod = tod;
		return;
	}
	int64_t d = (int64_t)tod - (int64_t)c->last_tod;
	if (d < -43200000) {
		d += 86400000; /* past midnight */
	} else if (d > 43200000) {
		d -= 86400000;
	}
	c->last_tod = tod;
	if (d > 0) {
		c->gnss_t += (uint32_t)d;
		if (c->gnss.regular) {
			/* a log: the new epoch's first line was fed at the previous epoch's time */
			cf_app_gnss_set_epoch_clock(&c->app, c->gnss_t);
		}
	}
}

/* Feed one GNSS line (or notice the end). 1 fed, 0 nothing available, else an exit code + 2 (>= 3). */
static int gnss_step(struct collar *c, uint32_t now, int *rc)
{
	char *line;
	size_t len;
	*rc = 0;
	for (;;) {
		int r = linein_next(&c->gnss, &line, &len);
		if (r == 0) {
			return 0;
		}
		if (r == -2) {
			fprintf(stderr, "scentrack-collar: read error on --gnss '%s': %s\n", c->o->gnss_path, strerror(errno));
			*rc = EXIT_READ;
			return 0;
		}
		if (r == -1) {
			c->gnss_done = true;
			int n = cf_app_gnss_flush(&c->app, now);
			if (n < 0) {
				*rc = app_err(c, n, "gnss");
				return 0;
			}
			const struct cf_nmea_stats *s = &cf_app_nmea(&c->app)->stats;
			dbg(c, 1, "gnss input ended: %" PRIu32 " sentences ok, %" PRIu32 " checksum errors, %" PRIu32
			    " fixes", s->sentences_ok, s->bad_checksum + s->no_checksum, s->fixes);
			return 0;
		}
		if (line[0] == '#') {
			continue; /* log metadata header: a receiver never sends it */
		}
		int n = cf_app_gnss_feed(&c->app, now, line, len);
		if (n < 0) {
			*rc = app_err(c, n, "gnss");
			return 0;
		}
		gnss_time(c, now);
		return 1;
	}
}

static int radio_rx(struct collar *c, uint32_t now)
{
	uint8_t buf[1024];
	for (;;) {
		int n = hal_uart_read(&c->radio, buf, sizeof buf);
		if (n == 0) {
			return 0;
		}
		if (n < 0) {
			if (n == -EPIPE) {
				fprintf(stderr, "scentrack-collar: radio '%s' hung up\n", c->o->radio_spec);
				return EXIT_RADIO;
			}
			fprintf(stderr, "scentrack-collar: radio '%s': read error\n", c->o->radio_spec);
			return EXIT_RADIO;
		}
		c->rx_bytes += (uint32_t)n;
		int f = cf_app_radio_rx(&c->app, now, buf, (size_t)n);
		if (f < 0) {
			return app_err(c, f, "radio rx");
		}
		dbg(c, 3, "radio rx %d bytes, %d frames accepted", n, f);
	}
}

static int radio_tx(struct collar *c, uint32_t now, int *sent)
{
	uint8_t wire[PROTO_WIRE_MAX];
	size_t len;
	*sent = 0;
	for (;;) {
		int r = cf_app_radio_poll(&c->app, now, wire, sizeof wire, &len);
		if (r < 0) {
			return app_err(c, r, "radio tx");
		}
		if (r == 0) {
			return 0;
		}
		if (!c->have_radio) {
			continue; /* out of range: the frame is lost on the air, the ARQ deals with it */
		}
		int w = hal_uart_write(&c->radio, wire, len);
		if (w < 0) {
			fprintf(stderr, "scentrack-collar: radio '%s': %s\n", c->o->radio_spec,
			        w == -EPIPE ? "hung up" : "write error");
			return EXIT_RADIO;
		}
		c->tx_frames++;
		(*sent)++;
		if (c->o->sync) {
			out_line("tx %" PRIu32 "\n", now);
		}
		dbg(c, 3, "radio tx frame %zu bytes at %" PRIu32 " ms", len, now);
	}
}

static void health(struct collar *c, uint32_t now)
{
	struct hal_battery_reading r;
	if (c->have_health && (uint32_t)tdiff(now, c->health_ms) < HEALTH_EVERY_MS && tdiff(now, c->health_ms) >= 0) {
		return;
	}
	c->have_health = true;
	c->health_ms = now;
	if (hal_battery_read(&c->bat, now, &r) == 0) {
		cf_app_set_health(&c->app, r.has, r.mv, r.pct, r.temp_dc);
	}
}

static bool drained(struct collar *c)
{
	struct cf_journal_stats js;
	if (cf_app_in_flight(&c->app) > 0 || cf_journal_stats(cf_app_journal(&c->app), &js) != 0) {
		return false;
	}
	return js.backlog == 0;
}

static void summary(struct collar *c)
{
	const struct cf_app_stats *a = cf_app_stats(&c->app);
	const struct cf_link_stats *l = cf_app_link_stats(&c->app);
	dbg(c, 1, "summary: %" PRIu32 " fixes in, %" PRIu32 " journaled, %" PRIu32 " skipped by rate, %" PRIu32
	    " without position; %" PRIu32 " indications journaled (%" PRIu32 " both), %" PRIu32 " ends after send, "
	    "%" PRIu32 " handler verdicts (%" PRIu32 " lost); "
	    "link: %" PRIu32 " frames (%" PRIu32 " bytes), %" PRIu32 " retransmissions, %" PRIu32 " acks, %" PRIu32
	    " bad frames, %" PRIu32 " bad tags",
	    a->fixes_in, a->fixes_journaled, a->fixes_rate_skip, a->fixes_no_pos, a->ind_journaled, a->ind_both,
	    a->ind_end_after, a->verdicts, a->verdicts_lost, l->tx_frames, l->tx_bytes, l->retx, l->rx_acks, l->rx_bad_frame, l->rx_bad_tag);
}

/* --sync: "idle TICK CLOCK RX_BYTES TX_FRAMES DRAINED", once per change, before a wait with nothing to do. The
 * driver knows the collar has handled everything it was given (up to its time mark TICK and RX_BYTES of radio)
 * and sent TX_FRAMES frames in all, so it can move the simulated time without waiting on real time. */
static void sync_idle(struct collar *c)
{
	char line[96];
	snprintf(line, sizeof line, "idle %" PRId64 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %d\n",
	         c->have_tick ? (int64_t)c->tick_ms : (int64_t)-1, hal_clock_now_ms(&c->clk), c->rx_bytes, c->tx_frames,
	         c->have_radio && c->gnss_done && drained(c) ? 1 : 0);
	if (strcmp(line, c->idle_last) == 0) {
		return;
	}
	memcpy(c->idle_last, line, sizeof line);
	out_line("%s", line);
}

/* Fast mode: consume the earliest input event, or move the clock to the app's deadline if that is first.
 * *progress: something was consumed or the clock moved. Returns 0 or an exit code. */
static int fast_step(struct collar *c, bool *progress)
{
	uint32_t now = hal_clock_now_ms(&c->clk);
	*progress = false;
	int rc = motion_peek(c);
	if (rc) {
		return rc;
	}
	bool g = !c->gnss_done, m = c->mev_ready;
	if (!g && !m) {
		return 0;
	}
	if (c->o->sync && g && !m && !c->motion_done) {
		/* --sync: a GNSS line waits until the motion is known up to its time; its end is taken at once (the
		 * last epoch's record is flushed while the clock still moves, so its ACK can be waited for) */
		if (linein_ready(&c->gnss) && c->gnss.eof && c->gnss.start == c->gnss.end) {
			(void)gnss_step(c, now, &rc);
			*progress = true;
		}
		return rc;
	}
	uint32_t t;
	bool take_gnss;
	if (g && m) {
		uint32_t tg = c->have_tod ? c->gnss_t : now;
		take_gnss = tdiff(tg, c->mev.t_ms) <= 0;
		t = take_gnss ? tg : c->mev.t_ms;
	} else if (g) {
		take_gnss = true;
		t = c->have_tod ? c->gnss_t : now;
	} else {
		take_gnss = false;
		t = c->mev.t_ms;
	}
	uint32_t dl = cf_app_next_deadline(&c->app, now);
	if (tdiff(dl, now) > 0 && tdiff(dl, t) < 0) {
		hal_clock_virt_set(&c->cv, dl); /* timers first: a retransmission is due before the next input */
		*progress = true;
		return 0;
	}
	if (take_gnss) {
		/* (the clock moves only once the line is there: --sync reports it while waiting) */
		if (c->o->sync && !linein_ready(&c->gnss)) {
			return 0;
		}
		hal_clock_virt_set(&c->cv, t);
		now = hal_clock_now_ms(&c->clk);
		int fed = gnss_step(c, now, &rc);
		if (fed == 0 && rc == 0 && !c->gnss_done) {
			return 0; /* a stream with nothing to read right now */
		}
		*progress = true;
		return rc;
	}
	hal_clock_virt_set(&c->cv, t);
	now = hal_clock_now_ms(&c->clk);
	*progress = true;
	return motion_apply(c, now);
}

/* Realtime mode: feed every input event that is due. Returns 0 or an exit code. */
static int realtime_step(struct collar *c)
{
	int rc;
	for (;;) {
		uint32_t now = collar_now(c);
		bool progressed = false;
		if (!c->gnss_done && (!c->gnss.regular || !c->have_tod || tdiff(c->gnss_t, now) <= 0)) {
			if (gnss_step(c, now, &rc) == 1) {
				progressed = true;
			}
			if (rc) {
				return rc;
			}
		}
		rc = motion_peek(c);
		if (rc) {
			return rc;
		}
		if (c->mev_ready && (!c->motion.regular || tdiff(c->mev.t_ms, now) <= 0)) {
			rc = motion_apply(c, now);
			if (rc) {
				return rc;
			}
			progressed = true;
		}
		if (!progressed) {
			return 0;
		}
	}
}

static int collar_open(struct collar *c, const struct opts *o)
{
	char err[256];
	int r;

	c->o = o;
	if (load_key(o->key_path, c->key) < 0) {
		return EXIT_NOINPUT;
	}
	r = hal_flash_file_open(&c->flash, &c->ff, o->flash_path, 4096, o->flash_pages, 8, 0);
	if (r < 0) {
		fprintf(stderr, "scentrack-collar: --flash '%s': %s%s\n", o->flash_path, strerror(-r),
		        r == -EINVAL ? " (an existing file must be exactly --flash-pages x 4096 bytes)" : "");
		return EXIT_NOINPUT;
	}
	r = linein_open(&c->gnss, o->gnss_path);
	if (r < 0) {
		fprintf(stderr, "scentrack-collar: --gnss '%s': %s\n", o->gnss_path, strerror(-r));
		return EXIT_NOINPUT;
	}
	if (o->motion_path != NULL) {
		r = linein_open(&c->motion, o->motion_path);
		if (r < 0) {
			fprintf(stderr, "scentrack-collar: --motion '%s': %s\n", o->motion_path, strerror(-r));
			return EXIT_NOINPUT;
		}
		c->have_motion = true;
	} else {
		c->motion_done = true;
	}
	if (o->radio_spec != NULL) {
		r = hal_uart_fd_open(&c->radio, &c->radio_fd, o->radio_spec, err, sizeof err);
		if (r < 0) {
			fprintf(stderr, "scentrack-collar: --radio: %s\n", err);
			return EXIT_NOINPUT;
		}
		c->have_radio = true;
	}
	if (o->fast) {
		hal_clock_virt_init(&c->clk, &c->cv, 0);
	} else if (hal_clock_host_init(&c->clk, &c->ch) != 0) {
		fprintf(stderr, "scentrack-collar: no monotonic clock: %s\n", strerror(errno));
		return EXIT_NOINPUT;
	}
	uint32_t now = hal_clock_now_ms(&c->clk);
	(void)hal_battery_sim_init(&c->bat, &c->bs, HAL_BATTERY_SIM_MAH, HAL_BATTERY_SIM_LOAD_MA, 100, o->temp_dc, now);

	struct cf_app_cfg cfg;
	struct cf_link_cfg lc;
	cf_app_cfg_default(&cfg);
	memset(&lc, 0, sizeof lc);
	lc.status_ms = o->status_ms;
	lc.caps = PROTO_CAP_TEMP;
	cfg.collar_id = o->collar_id;
	cfg.key = c->key;
	cfg.species = o->species;
	cfg.rate_ms = o->rate_ms;
	cfg.pair_hold_ms = o->pair_hold_ms;
	cfg.seed = o->seed;
	cfg.link = &lc;
	cfg.on_record = on_record;
	cfg.on_cmd = on_cmd_run;
	cfg.hook_ctx = c;
	r = cf_app_init(&c->app, &cfg, &c->flash, now);
	if (r < 0) {
		fprintf(stderr, "scentrack-collar: cannot start the collar on flash '%s': %s\n", o->flash_path,
		        strerror(-r));
		return r == -EINVAL ? EXIT_USAGE : EXIT_FLASH;
	}
	struct cf_journal_stats js;
	struct cf_journal *j = cf_app_journal(&c->app);
	if (cf_journal_stats(j, &js) != 0) {
		return app_err(c, -EIO, "journal");
	}
	if (o->journal_log) {
		out_line("boot %u next %" PRIu32 " rate_ms %" PRIu32 "\n", (unsigned)js.boot_id, js.next_seq,
		         cf_app_report_period_ms(&c->app, 0));
	}
	dbg(c, 1, "collar %u boot %u: journal next rec_seq %" PRIu32 ", %" PRIu32 " un-acked (%" PRIu32
	    " indications), %" PRIu32 " thinned ever, %" PRIu32 " torn slots skipped at mount; %s clock",
	    (unsigned)o->collar_id, (unsigned)js.boot_id, js.next_seq, js.backlog, js.backlog_ind, js.thinned,
	    js.mount_bad, o->fast ? "virtual (--fast)" : "real-time");
	return 0;
}

static int run_collar(const struct opts *o)
{
	struct collar *c = &g_collar;
	struct sigaction sa;
	sigset_t block, orig;
	int rc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the signals are only let in while waiting in ppoll: no lost wake-up between the flag check and the wait */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	rc = collar_open(c, o);
	while (rc == 0 && !stop_signal) {
		bool stepped = false;
		uint32_t rx_before = c->rx_bytes;
		/* 1. inputs */
		if (!c->inputs_done) {
			if (o->fast) {
				if (!c->waiting_ack) {
					rc = fast_step(c, &stepped);
				}
			} else {
				rc = realtime_step(c);
			}
			if (rc) {
				break;
			}
			if (c->gnss_done && c->motion_done && !c->mev_ready) {
				c->inputs_done = true;
				dbg(c, 1, "inputs ended at clock %" PRIu32 " ms", hal_clock_now_ms(&c->clk));
				/* --sync: the driver ends the inputs once we said we are drained; exit before a timer can
				 * queue a frame (a STATUS) that a frozen clock would never retransmit */
				if (o->sync && o->exit_on_eof && (!c->have_radio || drained(c))) {
					dbg(c, 1, "inputs ended and every record is acked: exiting");
					break;
				}
			}
		} else if (o->fast && !o->sync && !c->waiting_ack) {
			/* --fast after the inputs: while records wait for the gateway, the virtual clock jumps from timer
			 * to timer (the backlog drains at link speed, not at fix_hold_ms pace); once all is acked (or
			 * with no radio) it runs in real time, so an idle collar does not race through STATUS periods */
			if (c->have_radio && !drained(c)) {
				c->virt_running = false;
				uint32_t t = hal_clock_now_ms(&c->clk);
				uint32_t dl = cf_app_next_deadline(&c->app, t);
				if (tdiff(dl, t) > 0) {
					hal_clock_virt_set(&c->cv, dl);
				}
			} else if (!c->virt_running) {
				c->virt_running = true;
				c->virt_base_ms = hal_clock_now_ms(&c->clk);
				c->real_base_ms = mono_ms();
			}
		}
		/* 2. application timers, health, radio */
		uint32_t now = collar_now(c);
		int err = cf_app_tick(&c->app, now);
		if (err < 0) {
			rc = app_err(c, err, "tick");
			break;
		}
		health(c, now);
		if (c->have_radio) {
			rc = radio_rx(c, now);
			if (rc) {
				break;
			}
		}
		int sent;
		rc = radio_tx(c, now, &sent);
		if (rc) {
			break;
		}
		int up = cf_app_link_is_up(&c->app);
		if (up != c->link_up) {
			c->link_up = up;
			dbg(c, 1, "link %s at clock %" PRIu32 " ms", up ? "up" : "down", now);
		}
		if (o->exit_on_eof && c->inputs_done && sent == 0 && (!c->have_radio || drained(c))) {
			dbg(c, 1, "inputs ended%s: exiting", c->have_radio ? " and every record is acked" : "");
			break;
		}

		/* 3. wait: for the ACK of frames in flight (--fast lock-step), for input, or for the next timer */
		struct pollfd pfd[3];
		nfds_t nfd = 0;
		int timeout;
		if (c->have_radio) {
			pfd[nfd++] = (struct pollfd){.fd = hal_uart_fd_pollfd(&c->radio), .events = POLLIN};
		}
		if (o->sync) {
			/* --sync: another turn while anything moved; else say so and wait for the driver's bytes */
			timeout = stepped || sent > 0 || c->rx_bytes != rx_before ? 0 : -1;
			if (timeout < 0) {
				sync_idle(c);
			}
			if (!c->gnss_done && !c->inputs_done) {
				pfd[nfd++] = (struct pollfd){.fd = c->gnss.fd, .events = POLLIN};
			}
			if (!c->motion_done && !c->mev_ready && !c->inputs_done) {
				pfd[nfd++] = (struct pollfd){.fd = c->motion.fd, .events = POLLIN};
			}
		} else if (o->fast && !c->virt_running) {
			/* a data frame waits for its ACK, a HELLO for the gateway's answer */
			bool unanswered = c->have_radio && (cf_app_in_flight(&c->app) > 0 || !cf_app_link_is_up(&c->app));
			if (unanswered && !c->waiting_ack && sent > 0) {
				c->waiting_ack = true;
				c->wait_start_real = mono_ms();
			} else if (!unanswered) {
				c->waiting_ack = false;
			}
			timeout = 0;
			if (c->waiting_ack) {
				int32_t left = LOCKSTEP_MS - tdiff(mono_ms(), c->wait_start_real);
				if (left <= 0) {
					c->waiting_ack = false; /* no answer: let the clock move (RTOs will fire) */
				} else {
					timeout = left;
				}
			}
			/* (not while waiting for an ACK: input we will not read yet must not wake us in a busy loop) */
			if (!c->inputs_done && !c->gnss_done && !c->gnss.regular && !c->waiting_ack) {
				pfd[nfd++] = (struct pollfd){.fd = c->gnss.fd, .events = POLLIN};
				timeout = WAIT_MAX_MS; /* a live stream in --fast: its bytes are the pace */
			}
			/* a live motion stream too: a sample already read that precedes the last GNSS time is due now,
			 * and new motion bytes must wake us (not only GNSS bytes, or each sample waits WAIT_MAX_MS) */
			if (!c->inputs_done && !c->waiting_ack && c->mev_ready &&
			    (c->gnss_done || (c->have_tod && tdiff(c->mev.t_ms, c->gnss_t) < 0))) {
				timeout = 0;
			} else if (!c->inputs_done && !c->motion_done && !c->mev_ready && !c->motion.regular) {
				pfd[nfd++] = (struct pollfd){.fd = c->motion.fd, .events = POLLIN};
			}
		} else {
			now = collar_now(c);
			uint32_t wake = cf_app_next_deadline(&c->app, now);
			if (tdiff(c->health_ms + HEALTH_EVERY_MS, wake) < 0) {
				wake = c->health_ms + HEALTH_EVERY_MS;
			}
			if (!c->gnss_done) {
				if (c->gnss.regular) {
					if (c->have_tod && tdiff(c->gnss_t, wake) < 0) {
						wake = c->gnss_t;
					}
				} else {
					pfd[nfd++] = (struct pollfd){.fd = c->gnss.fd, .events = POLLIN};
				}
			}
			if (c->mev_ready && tdiff(c->mev.t_ms, wake) < 0) {
				wake = c->mev.t_ms;
			}
			if (!c->motion_done && !c->mev_ready && !c->motion.regular) {
				pfd[nfd++] = (struct pollfd){.fd = c->motion.fd, .events = POLLIN};
			}
			int32_t d = tdiff(wake, now);
			timeout = d < 0 ? 0 : d > WAIT_MAX_MS ? WAIT_MAX_MS : d;
		}
		struct timespec ts = {.tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000L};
		int pr = ppoll(pfd, nfd, timeout < 0 ? NULL : &ts, &orig);
		if (pr < 0 && errno != EINTR) {
			fprintf(stderr, "scentrack-collar: poll: %s\n", strerror(errno));
			rc = EXIT_READ;
			break;
		}
	}
	if (stop_signal) {
		dbg(c, 1, "stopping on signal %d", (int)stop_signal);
	}
	if (c->o != NULL) {
		summary(c);
	}
	if (c->have_radio) {
		hal_uart_fd_close(&c->radio);
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
	case RUN_COLLAR:
		return run_collar(&o);
	default:
		return EXIT_USAGE;
	}
}
