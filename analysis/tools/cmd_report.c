/*
 * analysis/tools/cmd_report.c — `scentrack report accuracy|hazards|accreditation` (an/report.h has the
 * definitions and what each number means).
 */
#define _POSIX_C_SOURCE 200809L /* getopt_long */

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "an/report.h"
#include "an/store.h"
#include "report_html.h"
#include "scentrack_cmd.h"

#define DB_DEFAULT "/var/lib/scentrack/scentrack.db"

static void help(FILE *f)
{
	fprintf(f,
		"usage: scentrack report accuracy|hazards|accreditation [--db PATH] [--animal ID|NAME] [--json]\n"
		"                        [--count CLASS=ROLE,...] [--unresolved-false] [--with-rejected]\n"
		"                        [--gate-min-m M]\n"
		"                        [--rule radius_m=1,max_false=0,area_m2=200] [--check]\n"
		"                        [--html [--threshold-sens PCT] [--threshold-false RATE]]\n"
		"\n"
		"accuracy       per animal (and per handler team, month, air-temperature band, target class):\n"
		"               sensitivity with Clopper-Pearson (two-sided and one-sided lower bound) and Wilson\n"
		"               intervals, false indications per 100 m2 with exact Poisson (Garwood) intervals,\n"
		"               PPV by result class, localisation error, search rate, targets still needed, and a\n"
		"               sentence saying what the numbers prove. Indications are matched one-to-one to\n"
		"               clearance results per session (gate max(1 m, 99 %% Mahalanobis)).\n"
		"hazards        hazard points with status, P(explosive), r95 and evidence counts\n"
		"accreditation  per test: each target hit/miss with distance, false indications, PASS/FAIL against\n"
		"               the rule, and the target layout's SHA-256\n"
		"\n"
		"options:\n"
		"  --db PATH            the store (default: $SCENTRACK_DB, else " DB_DEFAULT "); read-only\n"
		"  --animal ID|NAME     one animal (default: all)\n"
		"  --json               machine-readable, fixed key order\n"
		"  --count CLASS=ROLE   what a result class means (roles: target = must be found, correct = an\n"
		"                       indication there is right but missing it is no miss, false, ignore).\n"
		"                       Default: ap_mine,at_mine,uxo,other_erw=target; fragment=correct;\n"
		"                       scrap,nothing=false; not_accessible=ignore. Repeatable, comma-separated.\n"
		"  --unresolved-false   count indications near no clearance result as false (fully cleared boxes)\n"
		"  --with-rejected      count the indications the handler rejected as the animal's: its raw rates,\n"
		"                       before the verdict. Use these for a calibration record (scentrack import\n"
		"                       calibration): the hazard engine applies the handler's verdict on top, so\n"
		"                       rates without the rejected calls would count it twice. Default: left out\n"
		"                       (a rejected call is not the animal's indication on record)\n"
		"  --gate-min-m M       the fixed part of the matching gate (default 1)\n"
		"  --rule SPEC          accreditation pass rule (default radius_m=1,max_false=0,area_m2=200)\n"
		"  --check              run PRAGMA quick_check on the store first\n"
		"  --html               accuracy only: one standalone, printable HTML file (charts as SVG, the same\n"
		"                       as the web map's trainer view; the numbers are the --json ones, embedded)\n"
		"  --threshold-sens PCT, --threshold-false RATE\n"
		"                       the programme's lines on the --html charts (default 95 %%, 0.5 per 100 m2)\n"
		"  -h, --help           this text\n"
		"\n"
		"examples:\n"
		"  scentrack report accuracy --db field.db --animal Magawa\n"
		"  scentrack report accreditation --db field.db --rule radius_m=1,max_false=1 --json\n"
		"\n"
		"exit status: 0 ok, 64 usage, 65 unknown animal, 66 store cannot be opened, 70/74 errors.\n");
}

int scentrack_cmd_report(int argc, char **argv)
{
	static const struct option lo[] = {
		{"db", required_argument, NULL, 'd'},      {"animal", required_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},          {"count", required_argument, NULL, 'c'},
		{"unresolved-false", no_argument, NULL, 'u'},
		{"with-rejected", no_argument, NULL, 'R'}, {"gate-min-m", required_argument, NULL, 'g'},
		{"rule", required_argument, NULL, 'r'},    {"check", no_argument, NULL, 'k'},
		{"html", no_argument, NULL, 'H'},          {"threshold-sens", required_argument, NULL, 'S'},
		{"threshold-false", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *db = getenv("SCENTRACK_DB"), *animal = NULL;
	struct an_report_opts o;
	an_report_opts_init(&o);
	bool check = false, html = false;
	double thr_sens = 0.95, thr_false = 0.5;
	char err[512];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'a': animal = optarg; break;
		case 'j': o.json = true; break;
		case 'u': o.unresolved_is_false = true; break;
		case 'R': o.with_rejected = true; break;
		case 'k': check = true; break;
		case 'H': html = true; break;
		case 'S':
		case 'F': {
			char *end;
			double v = strtod(optarg, &end);
			if (*end != '\0' || !(v >= 0) || v > (c == 'S' ? 100.0 : 1000.0)) {
				fprintf(stderr, "scentrack report: --threshold-%s wants %s\n", c == 'S' ? "sens" : "false",
				        c == 'S' ? "a percentage 0..100" : "false indications per 100 m2, 0..1000");
				return EX_USAGE;
			}
			if (c == 'S')
				thr_sens = v / 100.0;
			else
				thr_false = v;
			break;
		}
		case 'c':
			if (an_report_policy_set(&o.policy, optarg, err, sizeof err) < 0) {
				fprintf(stderr, "scentrack report: --count: %s\n", err);
				return EX_USAGE;
			}
			break;
		case 'r':
			if (an_report_rule_set(&o.rule, optarg, err, sizeof err) < 0) {
				fprintf(stderr, "scentrack report: --rule: %s\n", err);
				return EX_USAGE;
			}
			break;
		case 'g': {
			char *end;
			double m = strtod(optarg, &end);
			if (*end != '\0' || !(m >= 0) || m > 100) {
				fprintf(stderr, "scentrack report: --gate-min-m wants metres 0..100\n");
				return EX_USAGE;
			}
			o.match.gate_min_mm = (int64_t)(m * 1000.0 + 0.5);
			break;
		}
		case 'h': help(stdout); return fflush(stdout) == 0 ? 0 : EX_IOERR;
		default: fprintf(stderr, "scentrack report: try 'scentrack report --help'\n"); return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "scentrack report: which report? accuracy, hazards or accreditation\n");
		return EX_USAGE;
	}
	const char *what = argv[optind];
	int (*fn)(struct an_store *, const struct an_report_opts *, FILE *, char *, size_t) =
		strcmp(what, "accuracy") == 0        ? an_report_accuracy
		: strcmp(what, "hazards") == 0       ? an_report_hazards
		: strcmp(what, "accreditation") == 0 ? an_report_accreditation
		                                     : NULL;
	if (fn == NULL) {
		fprintf(stderr, "scentrack report: unknown report '%s' (accuracy, hazards, accreditation)\n", what);
		return EX_USAGE;
	}
	if (html && (fn != an_report_accuracy || o.json)) {
		fprintf(stderr, "scentrack report: --html is for the accuracy report, without --json\n");
		return EX_USAGE;
	}
	if (db == NULL || db[0] == '\0')
		db = DB_DEFAULT;
	struct an_store *s;
	int e = an_store_open(db, AN_STORE_READONLY | (check ? 0 : AN_STORE_CHECK_NONE), &s, err, sizeof err);
	if (e < 0) {
		fprintf(stderr, "scentrack report: %s\n", err);
		return e == -EBADMSG ? EX_DATAERR : EX_NOINPUT;
	}
	int rc = 0;
	if (animal != NULL) {
		char *end;
		long long v = strtoll(animal, &end, 10);
		if (*end == '\0' && v > 0) {
			o.animal_id = v;
		} else {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(an_store_sqlite(s), "SELECT id FROM animals WHERE name = ?1", -1, &st, NULL) ==
			    SQLITE_OK) {
				sqlite3_bind_text(st, 1, animal, -1, SQLITE_STATIC);
				if (sqlite3_step(st) == SQLITE_ROW)
					o.animal_id = sqlite3_column_int64(st, 0);
				sqlite3_finalize(st);
			}
			if (o.animal_id == 0) {
				fprintf(stderr, "scentrack report: no animal named '%s'\n", animal);
				rc = EX_DATAERR;
				goto out;
			}
		}
	}
	e = html ? scentrack_report_html(s, &o, thr_sens, thr_false, stdout, err, sizeof err)
	         : fn(s, &o, stdout, err, sizeof err);
	if (e < 0) {
		fprintf(stderr, "scentrack report: %s\n", err);
		rc = e == -ENOENT ? EX_DATAERR : e == -ENOMEM ? EX_SOFTWARE : EX_IOERR;
	}
out:
	an_store_close(s);
	return rc;
}
