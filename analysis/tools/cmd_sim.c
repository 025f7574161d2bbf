/*
 * analysis/tools/cmd_sim.c — `scentrack sim`: generate a simulated mine action field day (ground truth and
 * collar streams) from a scenario file. Models: an/sim.h; scenario format: analysis/scenarios/README.md.
 */
#define _POSIX_C_SOURCE 200809L

#include "an/sim.h"
#include "scentrack_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: scentrack sim SCENARIO [--seed N] (--out DIR | --fast) [--accel csv|bin|none] [--no-nmea]\n"
		"                     [--no-tracks]\n"
		"       scentrack sim SCENARIO [--seed N] --run --data DIR [--fast] [--bin-dir DIR] [--web HOST:PORT]\n"
		"                     [--serial SHIM] [--frame-log FILE]\n"
		"       scentrack sim SCENARIO [--seed N] --evaluate --in-process [--seeds K] [--eps-mm auto|MM]\n"
		"                     [--no-box-frame] [--no-recorder] [--no-verdicts] ...\n"
		"       scentrack sim SCENARIO [--seed N] --evaluate --data DIR [--gate-m M] [--min-detection X]\n"
		"                     [--max-false Y]\n"
		"       scentrack sim SCENARIO --coverage SEEDS [--seed FIRST] [--min-coverage X]\n"
		"\n"
		"Generate a deterministic mine action field day: boxes, targets (ground truth), animals with their true\n"
		"parameters, the pass schedule, true indications, and per collar a 1 Hz NMEA stream, a 50 Hz\n"
		"accelerometer stream with behaviour labels and the handler's button. Same scenario and seed, same\n"
		"bytes. Files and columns: analysis/include/an/sim.h; scenario format: analysis/scenarios/README.md.\n"
		"\n"
		"options:\n"
		"  -s, --seed N      64-bit seed (default 1)\n"
		"  -o, --out DIR     write the files into DIR (created if missing; existing files are overwritten)\n"
		"  -f, --fast        build the world only and print the summary (no files)\n"
		"      --accel FMT   accelerometer files: csv (default, 't_ms,x_mg,y_mg,z_mg' as cf-motion-gen), bin\n"
		"                    (10-byte little-endian records) or none\n"
		"      --no-nmea     skip the NMEA files\n"
		"      --no-tracks   skip the 1 Hz true tracks\n"
		"  -h, --help        this text\n"
		"\n");
	/* two calls: one string literal may not pass the 4095 bytes ISO C requires compilers to take */
	fprintf(f,
		"Through the real programs (--run): one scentrack-collar process per animal fed with the NMEA and\n"
		"motion/button streams on pipes, a shared radio channel between the collars and the gateway's modem\n"
		"link (9600 bit/s, listen-before-talk, 1 %% loss + Gilbert-Elliott bursts + 0.2 %% corruption, one\n"
		"10-minute outage 3 h into the day), scentrack-gateway on a pty and scentrack-core with its store,\n"
		"CURVE keys and allow-list, all under --data DIR. Live by default (one second of day per second);\n"
		"with --fast in simulated time. Ctrl-C/SIGTERM stops everything cleanly; running again resumes.\n"
		"  -r, --run         run (or resume) the field day\n"
		"  -d, --data DIR    the run's directory (created; kept between runs)\n"
		"      --web HOST:PORT  the core serves the live web map there (a [web] section added to DIR/core.ini\n"
		"                    with a write token in DIR/keys/web.token, if the file has none yet)\n"
		"      --serial SHIM the gateway opens its modem through libserialport (link kind serial), as in the\n"
		"                    field: root only; the run gets a private mount namespace with the pty bound over\n"
		"                    /dev/ttyS0, and SHIM (build/tests/gateway/ioctl_shim.so) is preloaded into the\n"
		"                    gateway so libserialport's modem-line ioctls succeed on a pty. Default: tty kind\n"
		"      --frame-log FILE  append one line per record whose frame reached the gateway: wall-clock\n"
		"                    epoch ms (CLOCK_REALTIME), fix|ind, collar, rec_seq (end-to-end latency figures)\n"
		"      --bin-dir DIR where scentrack-collar, scentrack-gateway and scentrack-core are (default: the\n"
		"                    build tree around this binary, or this binary's directory)\n"
		"  -e, --evaluate    score the run's hazard points against the ground truth (runs the day with --fast\n"
		"                    first if DIR has no finished day): every indication, >= 2 animals agree, fused\n"
		"      --gate-m M    matching radius point-target in metres (default 3)\n"
		"      --min-detection X, --max-false Y   exit 1 if the policy detects less than X (0..1) of\n"
		"                    the explosive targets or has more than Y false points per 100 m2\n"
		"      --policy P    the policy those checks apply to: single, agree or fused (default)\n"
		"      --count CLASS=ROLE[,...]  what a point on a clutter item is: CLASS fragment or scrap, ROLE\n"
		"                    correct (the animal was right: neither found nor false) or false (a dig for\n"
		"                    nothing). Default fragment=correct,scrap=false, the accuracy report's roles\n"
		"                    (animals indicate the explosive residue on fragments; analysis.md §7.4);\n"
		"                    fragment=false counts every point without an explosive item as false\n");
	fprintf(f,
		"      --so-far      score what DIR holds now without running: only boxes with a pass over by the\n"
		"                    run's simulated time, their targets and the points near them\n"
		"      --in-process  no programs: the world's indications (at the collar's reported GNSS fix), its\n"
		"                    sessions and reported fixes go straight into the core's hazard engine (the same\n"
		"                    library code and defaults); no classifier, no radio. With --seeds K: seeds N ..\n"
		"                    N+K-1, one line each and the median/min/max; the checks apply to the median\n"
		"      --eps-mm E    --in-process: the engine's clustering radius, auto (default, as the core) or mm\n"
		"      --no-box-frame  --in-process: place indications and coverage from the raw fixes only (the core's\n"
		"                    [hazard] box_frame = no), to see what reading passes as lanes adds\n"
		"      --no-recorder  --in-process: the scenario's [schedule] recorder = no (no data recorder's box\n"
		"                    positions), to see what the recorder's sheet adds\n"
		"      --no-verdicts  --in-process: the core's [hazard] handler_verdicts = no (the handlers' confirm /\n"
		"                    reject presses are not evidence), to see what the verdicts add\n"
		"  -c, --coverage N  coverage of the accuracy report's 95 %% intervals (sensitivity, false-indication\n"
		"                    rate) over N seeds from --seed, in process (world model + estimators only)\n"
		"      --min-coverage X  exit 1 if either coverage is below X\n"
		"\n"
		"The summary (stdout) lists animals, boxes, passes, targets by class, exposures and detections,\n"
		"indications true/false and the hours of tracks.\n"
		"\n"
		"example:\n"
		"  scentrack sim analysis/scenarios/reference.ini --seed 7 --out /tmp/day7\n");
}

/* --count "fragment=false,scrap=correct": the clutter classes' roles into *mask (bit 1u << class = correct).
 * The explosive classes are the targets: not settable here. @retval 0 or -EINVAL (said on stderr) */
static int count_roles(const char *spec, uint32_t *mask)
{
	static const struct {
		const char *name;
		int cls;
	} cl[] = {{"fragment", AN_SIM_T_FRAG}, {"scrap", AN_SIM_T_SCRAP}};
	const char *p = spec;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *eq = memchr(p, '=', n);
		int k = -1;
		for (size_t i = 0; eq && i < sizeof cl / sizeof cl[0]; i++)
			if ((size_t)(eq - p) == strlen(cl[i].name) && !strncmp(p, cl[i].name, (size_t)(eq - p)))
				k = (int)i;
		size_t rl = eq ? n - (size_t)(eq - p) - 1 : 0;
		bool correct = eq && rl == 7 && !strncmp(eq + 1, "correct", 7);
		bool fals = eq && rl == 5 && !strncmp(eq + 1, "false", 5);
		if (k < 0 || (!correct && !fals)) {
			fprintf(stderr, "scentrack sim: --count: '%.*s' is not CLASS=ROLE with CLASS fragment or scrap "
			                "and ROLE correct or false (explosive items are always targets)\n", (int)n, p);
			return -EINVAL;
		}
		if (correct)
			*mask |= 1u << cl[k].cls;
		else
			*mask &= ~(1u << cl[k].cls);
		p += n + (p[n] == ',');
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void summary(const struct an_sim_world *w, double secs)
{
	struct an_sim_summary s;
	an_sim_summarize(w, &s);
	uint32_t kinds[4] = {0}, pk[AN_SIM_PASS_KINDS] = {0};
	for (uint32_t i = 0; i < w->n_boxes; i++)
		kinds[w->boxes[i].kind]++;
	for (uint32_t i = 0; i < w->n_passes; i++)
		pk[w->passes[i].kind]++;
	uint32_t nt = 0;
	for (int c = 0; c < AN_SIM_T_COUNT; c++)
		nt += s.targets_by_class[c];
	int64_t t0 = INT64_MAX, t1 = INT64_MIN;
	for (uint32_t i = 0; i < w->n_animals; i++) {
		if (w->animals[i].on_utc_ms < t0)
			t0 = w->animals[i].on_utc_ms;
		if (w->animals[i].off_utc_ms > t1)
			t1 = w->animals[i].off_utc_ms;
	}
	int64_t a = (t0 - w->day0_utc_ms) / 60000, b = (t1 - w->day0_utc_ms) / 60000;
	printf("scenario %s, seed %" PRIu64 "\n", w->sc.name, w->seed);
	printf("animals: %" PRIu32 " rats, %" PRIu32 " dogs\n", s.rats, s.dogs);
	printf("boxes: %" PRIu32 " rat, %" PRIu32 " dog, %" PRIu32 " blind test\n", kinds[0], kinds[1], kinds[2]);
	printf("passes: %" PRIu32 " (primary %" PRIu32 ", second %" PRIu32 ", qc %" PRIu32 ", blind %" PRIu32
	       ", confirm %" PRIu32 "), %.0f m2 searched\n",
	       s.passes, pk[AN_SIM_PASS_PRIMARY], pk[AN_SIM_PASS_SECOND], pk[AN_SIM_PASS_QC], pk[AN_SIM_PASS_BLIND],
	       pk[AN_SIM_PASS_CONFIRM], s.search_m2);
	printf("targets: %" PRIu32 " (ap %" PRIu32 ", at %" PRIu32 ", uxo %" PRIu32 ", frag %" PRIu32 ", scrap %" PRIu32 ")\n",
	       nt, s.targets_by_class[0], s.targets_by_class[1], s.targets_by_class[2], s.targets_by_class[3],
	       s.targets_by_class[4]);
	printf("exposures: %" PRIu32 " target passes, %" PRIu32 " detected\n", s.exposures, s.hits);
	printf("indications: %" PRIu32 " (true %" PRIu32 ", false %" PRIu32 ", handler-confirmed %" PRIu32
	       "); false rate %.3f per 100 m2\n",
	       s.ind_true + s.ind_false, s.ind_true, s.ind_false, s.confirmed,
	       s.search_m2 > 0 ? s.ind_false / s.search_m2 * 100.0 : 0.0);
	printf("tracks: %.2f collar-hours, %02" PRId64 ":%02" PRId64 "-%02" PRId64 ":%02" PRId64 " UTC\n", s.track_hours,
	       a / 60, a % 60, b / 60, b % 60);
	printf("generation: %.3f s\n", secs);
}

int scentrack_cmd_sim(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seed", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
		{"fast", no_argument, NULL, 'f'},       {"accel", required_argument, NULL, 'a'},
		{"no-nmea", no_argument, NULL, 'N'},    {"no-tracks", no_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},       {"run", no_argument, NULL, 'r'},
		{"data", required_argument, NULL, 'd'}, {"bin-dir", required_argument, NULL, 'B'},
		{"evaluate", no_argument, NULL, 'e'},   {"gate-m", required_argument, NULL, 'G'},
		{"min-detection", required_argument, NULL, 'm'}, {"max-false", required_argument, NULL, 'x'},
		{"coverage", required_argument, NULL, 'c'}, {"min-coverage", required_argument, NULL, 'M'},
		{"policy", required_argument, NULL, 'P'}, {"so-far", no_argument, NULL, 'S'},
		{"web", required_argument, NULL, 'W'},    {"serial", required_argument, NULL, 'L'},
		{"frame-log", required_argument, NULL, 'F'},
		{"in-process", no_argument, NULL, 'I'},
		{"seeds", required_argument, NULL, 'n'},  {"eps-mm", required_argument, NULL, 'E'},
		{"no-box-frame", no_argument, NULL, 'Z'},
		{"no-recorder", no_argument, NULL, 'Q'},
		{"no-verdicts", no_argument, NULL, 'V'},
		{"count", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	int policy = 2;
	uint32_t correct_mask = AN_SIM_EVAL_CORRECT_DEFAULT;
	bool so_far = false;
	bool run = false, evaluate = false;
	const char *data = NULL, *bin_dir = NULL, *web = NULL, *serial = NULL, *frame_log = NULL;
	double gate_m = 3.0, min_det = 0, max_false = -1, min_cov = 0;
	unsigned long coverage = 0, seeds = 1;
	long long eps_mm = 0;
	bool in_process = false, no_box_frame = false, no_recorder = false, no_verdicts = false;
	uint64_t seed = 1;
	const char *out = NULL;
	bool fast = false;
	struct an_sim_write_opts wo = {.accel = AN_SIM_ACCEL_CSV, .tracks = true, .nmea = true};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:o:fhrd:ec:", opts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 0);
			if (*optarg == '-' || end == optarg || *end || errno) {
				fprintf(stderr, "scentrack sim: --seed: '%s' is not an unsigned 64-bit integer\n", optarg);
				return EX_USAGE;
			}
			seed = v;
			break;
		}
		case 'o': out = optarg; break;
		case 'f': fast = true; break;
		case 'a':
			if (!strcmp(optarg, "csv"))
				wo.accel = AN_SIM_ACCEL_CSV;
			else if (!strcmp(optarg, "bin"))
				wo.accel = AN_SIM_ACCEL_BIN;
			else if (!strcmp(optarg, "none"))
				wo.accel = AN_SIM_ACCEL_NONE;
			else {
				fprintf(stderr, "scentrack sim: --accel: '%s' is not csv, bin or none\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'N': wo.nmea = false; break;
		case 'T': wo.tracks = false; break;
		case 'h': help(stdout); return fflush(stdout) == 0 ? 0 : EX_IOERR;
		case 'r': run = true; break;
		case 'e': evaluate = true; break;
		case 'd': data = optarg; break;
		case 'B': bin_dir = optarg; break;
		case 'L': serial = optarg; break;
		case 'F': frame_log = optarg; break;
		case 'W':
			if (!strchr(optarg, ':') || strpbrk(optarg, " \t\r\n[]=#;")) {
				fprintf(stderr, "scentrack sim: --web: '%s' is not HOST:PORT (e.g. 127.0.0.1:8080)\n", optarg);
				return EX_USAGE;
			}
			web = optarg;
			break;
		case 'G': case 'm': case 'x': case 'M': {
			char *end;
			double v = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(v) || v < 0 || (c == 'G' && v <= 0) ||
			    ((c == 'm' || c == 'M') && v > 1)) {
				fprintf(stderr, "scentrack sim: '%s' is not a valid value for this option\n", optarg);
				return EX_USAGE;
			}
			*(c == 'G' ? &gate_m : c == 'm' ? &min_det : c == 'x' ? &max_false : &min_cov) = v;
			break;
		}
		case 'S': so_far = true; break;
		case 'I': in_process = true; break;
		case 'Z': no_box_frame = true; break;
		case 'Q': no_recorder = true; break;
		case 'V': no_verdicts = true; break;
		case 'n': case 'E': {
			char *end;
			errno = 0;
			long long v = c == 'E' && !strcmp(optarg, "auto") ? 0 : strtoll(optarg, &end, 10);
			if (!(c == 'E' && !strcmp(optarg, "auto")) &&
			    (end == optarg || *end || errno || v < (c == 'n' ? 1 : 100) || v > (c == 'n' ? 10000 : 100000))) {
				fprintf(stderr, "scentrack sim: '%s' is not a valid value for --%s\n", optarg,
				        c == 'n' ? "seeds (1..10000)" : "eps-mm (auto or 100..100000)");
				return EX_USAGE;
			}
			if (c == 'n')
				seeds = (unsigned long)v;
			else
				eps_mm = v;
			break;
		}
		case 'P':
			policy = !strcmp(optarg, "single") ? 0 : !strcmp(optarg, "agree") ? 1 : !strcmp(optarg, "fused") ? 2 : -1;
			if (policy < 0) {
				fprintf(stderr, "scentrack sim: --policy: '%s' is not single, agree or fused\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'K':
			if (count_roles(optarg, &correct_mask) < 0)
				return EX_USAGE;
			break;
		case 'c': {
			char *end;
			coverage = strtoul(optarg, &end, 10);
			if (*optarg == '-' || end == optarg || *end || coverage == 0 || coverage > 1000000) {
				fprintf(stderr, "scentrack sim: --coverage: '%s' is not a seed count 1..1000000\n", optarg);
				return EX_USAGE;
			}
			break;
		}
		default: help(stderr); return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "scentrack sim: expected exactly one SCENARIO file (try: scentrack sim --help)\n");
		return EX_USAGE;
	}
	if (coverage)
		return scentrack_sim_coverage(argv[optind], seed, (uint32_t)coverage, min_cov);
	if (evaluate && in_process) {
		struct scentrack_sim_run_opts ro = {.scenario = argv[optind], .seed = seed, .gate_m = gate_m,
		                                    .min_detection = min_det, .max_false = max_false, .policy = policy,
		                                    .correct_mask = correct_mask, .in_process = true,
		                                    .seeds = (uint32_t)seeds, .eps_mm = eps_mm,
		                                    .no_box_frame = no_box_frame, .no_recorder = no_recorder,
		                                    .no_verdicts = no_verdicts};
		return scentrack_sim_evaluate(&ro);
	}
	if (run || evaluate) {
		if (!data) {
			fprintf(stderr, "scentrack sim: --run and --evaluate need --data DIR\n");
			return EX_USAGE;
		}
		struct scentrack_sim_run_opts ro = {.scenario = argv[optind], .seed = seed, .dir = data, .fast = fast,
		                                    .bin_dir = bin_dir, .gate_m = gate_m, .min_detection = min_det,
		                                    .max_false = max_false, .policy = policy,
		                                    .correct_mask = correct_mask, .so_far = so_far, .web = web, .serial_shim = serial,
		                                    .frame_log = frame_log};
		return evaluate ? scentrack_sim_evaluate(&ro) : scentrack_sim_run(&ro, NULL);
	}
	if (!fast && !out) {
		fprintf(stderr, "scentrack sim: give --out DIR, or --fast for the summary only\n");
		return EX_USAGE;
	}
	const char *path = argv[optind];
	struct an_sim_scenario *sc = malloc(sizeof *sc);
	struct an_sim_world w;
	char err[512] = "";
	int rc = EX_SOFTWARE;
	if (!sc) {
		fprintf(stderr, "scentrack sim: out of memory\n");
		return EX_SOFTWARE;
	}
	an_sim_scenario_defaults(sc);
	int r = an_sim_scenario_load(sc, path, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "scentrack sim: %s\n", err);
		rc = r == -EINVAL ? EX_DATAERR : EX_NOINPUT;
		goto free_sc;
	}
	double t0 = now_s();
	if ((r = an_sim_world_build(&w, sc, seed, err, sizeof err)) < 0) {
		fprintf(stderr, "scentrack sim: %s: %s\n", path, err);
		rc = r == -ENOMEM ? EX_SOFTWARE : EX_DATAERR;
		goto free_sc;
	}
	if (!fast) {
		if (mkdir(out, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "scentrack sim: %s: %s\n", out, strerror(errno));
			rc = EX_IOERR;
			goto free_world;
		}
		if ((r = an_sim_write(&w, out, &wo, err, sizeof err)) < 0) {
			fprintf(stderr, "scentrack sim: %s\n", err);
			rc = EX_IOERR;
			goto free_world;
		}
	}
	summary(&w, now_s() - t0);
	rc = fflush(stdout) == 0 ? 0 : EX_IOERR;
free_world:
	an_sim_world_free(&w);
free_sc:
	free(sc);
	return rc;
}
