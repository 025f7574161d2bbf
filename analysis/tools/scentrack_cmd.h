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

#endif
