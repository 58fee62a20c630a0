/* cli.h - what every subcommand file (src/cli/NAME.c) shares.
 *
 * A subcommand is `jc_code cli_NAME(int argc, char **argv, MPI_Comm comm, jc_err *err)`,
 * where argv[0] is the subcommand name. It returns the same code on every rank (use
 * dist_agree() before returning) and leaves the message in err; main() prints it once.
 * Output for humans goes to stdout on rank 0 only (cli_printf).
 */
#ifndef JETCNN_CLI_H
#define JETCNN_CLI_H

#include <mpi.h>

#include "jetcnn/error.h"

/* One command-line option. `takes_value`: 0 for a flag, 1 for "--name VALUE" or
 * "--name=VALUE". Repeated options keep every value (up to CLI_MAX_VALUES). */
#define CLI_MAX_VALUES 64
typedef struct {
  const char *name;        /* without the leading "--" */
  int takes_value;
  const char *metavar;     /* e.g. "FILE", shown in --help */
  const char *help;
  /* filled by cli_parse: */
  int count;
  const char *values[CLI_MAX_VALUES];
} cli_opt;

/* Parse argv[1..] into opts and positional arguments (pointers into argv). Unknown
 * options, missing values and too many/few positionals fail with JC_ERR_USAGE.
 * "--help"/"-h" sets *help and stops. Collective on comm: a parse error on one rank fails on
 * every rank, and so does a command line that differs from rank 0's in anything but paths
 * (values of FILE, DIR and CHECKPOINT options and positional arguments, which may name
 * node-local copies: their content is agreed on by the command, agree.h). */
jc_code cli_parse(MPI_Comm comm, int argc, char **argv, cli_opt *opts, int n_opts, const char **positional,
                  int min_pos, int max_pos, int *n_pos, int *help, jc_err *err);

/* The value of option `name` (last one given), or NULL when absent. */
const char *cli_value(const cli_opt *opts, int n_opts, const char *name);

/* 1 if flag `name` was given. */
int cli_flag(const cli_opt *opts, int n_opts, const char *name);

/* Parse option text as an integer/double in [lo, hi]; error names the option. */
jc_code cli_long(const char *opt, const char *text, long lo, long hi, long *out, jc_err *err);
jc_code cli_double(const char *opt, const char *text, double lo, double hi, double *out, jc_err *err);

/* Print the usage line, the description and the option table (rank 0 only). */
void cli_print_help(MPI_Comm comm, const char *usage, const char *description,
                    const cli_opt *opts, int n_opts);

/* printf on rank 0 of comm only. */
void cli_printf(MPI_Comm comm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The subcommands. */
jc_code cli_summary(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_train(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_predict(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_export(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_generate(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_images(int argc, char **argv, MPI_Comm comm, jc_err *err);
jc_code cli_roc(int argc, char **argv, MPI_Comm comm, jc_err *err);

#endif
