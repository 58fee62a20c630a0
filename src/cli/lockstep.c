/* lockstep.c - stop signals of generate and images (see lockstep.h). */
#include "lockstep.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jetcnn/dist.h"

static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t armed = 0;
static char tmp_path[4096];

static void on_stop(int sig) {
  if (armed) unlink(tmp_path);
  stop_signal = sig;
}

void lockstep_remove_on_signal(const char *path) {
  armed = 0; /* the handler never sees a half-copied path */
  if (path && snprintf(tmp_path, sizeof tmp_path, "%s", path) < (int)sizeof tmp_path) armed = 1;
}

int lockstep_signal_received(void) { return stop_signal != 0; }

jc_code lockstep_catch_signals(jc_err *err) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESTART | SA_RESETHAND; /* writes and MPI polls go on; a second signal kills */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
    return jc_fail(err, JC_ERR_RUNTIME, "cannot install the SIGINT/SIGTERM/SIGHUP handlers");
  return JC_OK;
}

int lockstep_stopped(MPI_Comm comm) {
  int mine = stop_signal, any = 0;
  if (MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) return -1;
  return any;
}

const char *lockstep_signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}
