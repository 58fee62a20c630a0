/* lockstep.h - the stop signals of `generate` and `images` (process-level: the handlers).
 *
 * (Starting together: cli_parse and src/agree.c agree on the command line and the inputs
 * before anything collective starts.) SIGINT, SIGTERM and SIGHUP remove the temporary output
 * file at once (unlink is async-signal-safe; the ranks keep writing into the unlinked file)
 * and set a flag; the library's write loop (produce.h) agrees on the flag across ranks once
 * per round, and all ranks stop in the same round. mpirun answers SIGINT and SIGTERM with
 * SIGTERM to the ranks and SIGKILL one second later: the file must be gone before a round
 * can end.
 */
#ifndef JETCNN_CLI_LOCKSTEP_H
#define JETCNN_CLI_LOCKSTEP_H

#include <signal.h>

#include "jetcnn/error.h"

/* Install the handlers of SIGINT, SIGTERM and SIGHUP: the first signal is recorded, a second
 * one of the same kind ends the process as usual. */
jc_code lockstep_catch_signals(jc_err *err);

/* The flag the handlers set to the signal's number (0: none yet), for produce_opts.stop
 * (static: lives as long as the process). */
const volatile sig_atomic_t *lockstep_stop_flag(void);

/* While armed with a path (copied), a stop signal removes that file (the output's PATH.tmp).
 * NULL disarms: before the complete file is renamed into place. (produce_opts.tmp_file.) */
void lockstep_remove_on_signal(const char *path);

#endif
