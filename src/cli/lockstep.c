/* lockstep.c - stop signals of generate and images (see lockstep.h). */
#include "lockstep.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

const volatile sig_atomic_t *lockstep_stop_flag(void) { return &stop_signal; }

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
