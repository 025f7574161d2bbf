/*
 * analysis/tools/scentrack_cmd.h — the `scentrack` subcommands.
 *
 * One file per subcommand (tools/cmd_<name>.c) defines `int scentrack_cmd_<name>(int argc, char **argv)`;
 * argv[0] is the subcommand's name, options follow. It returns the process exit status (below) and prints
 * data on stdout, diagnostics on stderr. To add a subcommand: write cmd_<name>.c, declare it here and add
 * one row to the table in scentrack_main.c.
 *
 * Exit status (sysexits.h values, documented in `scentrack --help`):
 *   0  success                         64 EX_USAGE    bad command line
 *   65 EX_DATAERR  bad input data      66 EX_NOINPUT  input file cannot be opened
 *   70 EX_SOFTWARE internal error, out of memory    74 EX_IOERR  read or write error
 */
#ifndef SCENTRACK_CMD_H
#define SCENTRACK_CMD_H

int scentrack_cmd_cluster(int argc, char **argv);
int scentrack_cmd_export(int argc, char **argv);
int scentrack_cmd_import(int argc, char **argv);
int scentrack_cmd_report(int argc, char **argv);
int scentrack_cmd_sim(int argc, char **argv);

/* `scentrack sim --run / --evaluate` (tools/sim_run.c, tools/sim_evaluate.c) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
struct an_sim_world;
struct an_sim_radio_cfg;
struct scentrack_sim_run_opts {
	const char *scenario;
	uint64_t seed;
	const char *dir;     /* the run's data directory */
	bool fast;           /* simulated time */
	const char *bin_dir; /* where scentrack-collar, -gateway, -core are (NULL: beside / around this binary) */
	double gate_m;        /* --evaluate: matching radius */
	double min_detection; /* --evaluate: exit 1 below this fused detection rate (0: no check) */
	double max_false;     /* --evaluate: exit 1 above this many fused false points per 100 m² (< 0: no check) */
	int policy;           /* which policy the two checks apply to: 0 every indication, 1 >= 2 animals, 2 fused */
	uint32_t correct_mask; /* --evaluate: clutter classes a point may sit on without being false (an/sim.h
	                        * EVALUATION; --count, default AN_SIM_EVAL_CORRECT_DEFAULT) */
	bool so_far;          /* --evaluate what DIR holds now (boxes searched so far), without running */
	const char *web;      /* --run: the core serves the web map on this host:port (NULL: as DIR/core.ini says) */
	const char *serial_shim; /* --serial SHIM: the gateway's libserialport link kind on the pty (root only) */
	const char *frame_log; /* --run: append when each record's frame reached the gateway (sim_framelog.c) */
	bool in_process;      /* --evaluate without the programs: the world's events into the hazard engine */
	uint32_t seeds;       /* --in-process: seeds seed .. seed + seeds - 1 (0 = 1) */
	int64_t eps_mm;       /* --in-process: the engine's eps (0 = derived, the core's default) */
	bool no_box_frame;    /* --in-process: [hazard] box_frame = no */
	bool no_recorder;     /* --in-process: [schedule] recorder = no */
	bool no_verdicts;     /* --in-process: [hazard] handler_verdicts = no */
};
/* sim_framelog.c: wall-clock (CLOCK_REALTIME) time each delivered record reached the gateway's link. */
struct sim_framelog;
int sim_framelog_open(const char *path, struct sim_framelog **out);
/* A frame the medium delivered intact to the gateway's byte queue (0x00 COBS 0x00): its records are pending. */
int sim_framelog_frame(struct sim_framelog *l, const uint8_t *wire, size_t len);
/* The queue to the gateway was written; still_queued = its bytes not yet written (0: stamp what is pending). */
void sim_framelog_flushed(struct sim_framelog *l, size_t still_queued);
void sim_framelog_close(struct sim_framelog *l);
/* Run (or resume) the field day through the real programs. On success with w_out: the world (caller frees). */
int scentrack_sim_run(const struct scentrack_sim_run_opts *o, struct an_sim_world *w_out);
/* The simulated channel of the runs. */
void scentrack_sim_radio_defaults(struct an_sim_radio_cfg *rc, uint64_t seed);
/* Score DIR's run against the ground truth (runs the day with --fast first when DIR has no finished day). */
int scentrack_sim_evaluate(const struct scentrack_sim_run_opts *o);
/* Interval coverage over seeds, in process (no pipeline). */
int scentrack_sim_coverage(const char *scenario, uint64_t first_seed, uint32_t seeds, double min_cov);

#endif
