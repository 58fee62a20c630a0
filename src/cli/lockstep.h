/* lockstep.h - how the ranks of `generate` and `images` stop together.
 *
 * (Starting together: cli_parse and src/agree.c agree on the command line and the inputs
 * before anything collective starts.) SIGINT, SIGTERM and SIGHUP remove the
 * temporary output file at once (unlink is async-signal-safe; the ranks keep writing into the
 * unlinked file) and set a flag; the write loop asks lockstep_stopped() once per round and all
 * ranks stop in the same round. mpirun answers SIGINT and SIGTERM with SIGTERM to the ranks
 * and SIGKILL one second later: the file must be gone before a round can end.
 */
#ifndef JETCNN_CLI_LOCKSTEP_H
#define JETCNN_CLI_LOCKSTEP_H

#include <mpi.h>

#include "jetcnn/error.h"

/* Install the handlers of SIGINT, SIGTERM and SIGHUP: the first signal is recorded, a second
 * one of the same kind ends the process as usual. */
jc_code lockstep_catch_signals(jc_err *err);

/* While armed with a path (copied), a stop signal removes that file (the output's PATH.tmp).
 * NULL disarms: call it before the complete file is renamed into place. */
void lockstep_remove_on_signal(const char *path);

/* 1 if this rank has received a stop signal (no MPI; to skip work before lockstep_stopped). */
int lockstep_signal_received(void);

/* Collective: 0 if no rank has received one of those signals, else the highest signal
 * number received by any rank (-1 if the agreement itself failed). */
int lockstep_stopped(MPI_Comm comm);

/* "SIGINT", "SIGTERM", "SIGHUP" or "a signal". */
const char *lockstep_signal_name(int sig);

#endif
