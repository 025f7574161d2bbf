/*
 * analysis/tools/scentrack_main.c — `scentrack`, the command-line tool of the correlation core.
 *
 * `scentrack [-h|-V] <subcommand> [options]`: this file only dispatches. Each subcommand lives in
 * tools/cmd_<name>.c (see scentrack_cmd.h) and parses its own options with getopt_long.
 */
#include "an/version.h"
#include "scentrack_cmd.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

struct scentrack_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Sorted by name; this is the order `scentrack --help` lists them in. */
static const struct scentrack_cmd cmds[] = {
	{"cluster", scentrack_cmd_cluster, "DBSCAN of indications from a CSV file (exact, order-independent)"},
	{"export", scentrack_cmd_export, "tracks, indications, hazard points as GeoJSON/KML/GPX/CSV/GeoPackage"},
	{"import", scentrack_cmd_import, "clearance results from CSV/JSON into the store (all or nothing)"},
	{"report", scentrack_cmd_report, "accuracy, hazard and accreditation reports (text or JSON)"},
	{"sim", scentrack_cmd_sim, "simulated field day: ground truth, NMEA, accelerometer (deterministic)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: scentrack [-h | --help] [-V | --version] <command> [options]\n"
		   "\n"
		   "Command-line tool of the scentrack correlation core (mine detection animal telemetry).\n"
		   "\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n"
		   "`scentrack <command> --help` explains a command, with examples.\n"
		   "\n"
		   "Data goes to stdout, diagnostics to stderr.\n"
		   "exit status: 0 ok, 64 bad command line (EX_USAGE), 65 bad input data (EX_DATAERR),\n"
		   "  66 input cannot be opened (EX_NOINPUT), 70 internal error or out of memory (EX_SOFTWARE),\n"
		   "  74 read/write error (EX_IOERR).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *a = argv[1];
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : EX_IOERR;
	}
	if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		printf("%s\n", an_version_string);
		return fflush(stdout) == 0 ? 0 : EX_IOERR;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(a, cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	}
	if (a[0] == '-')
		fprintf(stderr, "scentrack: unknown option '%s' (try: scentrack --help)\n", a);
	else
		fprintf(stderr, "scentrack: unknown command '%s' (try: scentrack --help)\n", a);
	return EX_USAGE;
}
