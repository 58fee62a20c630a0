/* train.c - `jetcnn train CONFIG --train FILE [--val FILE] --out DIR [--set KEY=VALUE ...]`. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/dist.h"
#include "jetcnn/train.h"

/* SIGTERM / SIGUSR1 only record the signal; the trainer agrees on it across ranks at the next
 * step boundary, checkpoints and returns JC_EXIT_REQUEUE. A second signal changes nothing. */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

static jc_code catch_stop_signals(jc_err *err) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART; /* file writes and MPI polls continue where they were */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
    return jc_fail(err, JC_ERR_RUNTIME, "cannot install the SIGTERM/SIGUSR1 handlers");
  return JC_OK;
}

jc_code cli_train(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"train", 1, "FILE", "training jets (HDF5: /images, /labels)", 0, {0}},
      {"val", 1, "FILE", "validation jets: loss, accuracy, AUC each epoch", 0, {0}},
      {"out", 1, "DIR", "run directory: config.cfg, metrics.csv, checkpoint.h5 (default runs/<config name>)", 0, {0}},
      {"set", 1, "KEY=VALUE", "override a [net] key, repeatable (e.g. --set epochs=3 --set learning_rate=0.01)", 0, {0}},
      {"init", 1, "CHECKPOINT", "start from the weights of this checkpoint (same architecture)", 0, {0}},
      {"resume", 0, NULL, "continue the run in --out from its checkpoint (a finished run: nothing to do)", 0, {0}},
      {"force", 0, NULL, "start over in a run directory that already holds a checkpoint", 0, {0}},
      {"profile", 0, NULL, "print each epoch where the step time goes: read, compute, allreduce, update", 0, {0}},
  };
  const int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[1];
  int n_pos = 0, help = 0;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 1, 1, &n_pos, &help, err);
  if (rc == JC_OK && help) {
    cli_print_help(comm, "[mpirun -np P] jetcnn train CONFIG --train FILE [--val FILE] --out DIR [options]",
                   "Train the model defined by CONFIG. The config's batch is the global batch: P ranks each\n"
                   "compute a share of it and the result is bitwise the same for any P. OpenMP threads per\n"
                   "rank come from OMP_NUM_THREADS.\n\n"
                   "Checkpoints go to DIR/checkpoint.h5 at every epoch end and every checkpoint_every steps.\n"
                   "If DIR holds an unfinished run of the same config it is resumed exactly (also with another\n"
                   "number of ranks); a different config is refused, naming what changed. SIGTERM or SIGUSR1\n"
                   "to any rank (or SIGUSR1 to mpirun/srun) checkpoints at the next step and exits with\n"
                   "code 75: run the same command again to resume (docs/cluster.md).",
                   opts, n_opts);
    return JC_OK;
  }
  if (rc == JC_OK && !cli_value(opts, n_opts, "train"))
    rc = jc_fail(err, JC_ERR_USAGE, "train: --train FILE is required (see 'jetcnn train --help')");
  if (rc == JC_OK && !cli_value(opts, n_opts, "out"))
    rc = jc_fail(err, JC_ERR_USAGE, "train: --out DIR is required (see 'jetcnn train --help')");
  jc_config *cfg = NULL;
  jc_net *net = NULL;
  if (rc == JC_OK) { /* the command line was agreed on: every rank is here */
    rc = config_load(pos[0], &cfg, err);
    for (int i = 0; rc == JC_OK && i < opts[3].count; i++) rc = config_set_net(cfg, opts[3].values[i], err);
    rc = agree_config(comm, cfg, rc, err);
  }
  if (rc == JC_OK) rc = net_create(cfg, &net, err);
  else config_free(&cfg);
  /* The inputs, by content, before the trainer opens them collectively. */
  if (rc == JC_OK)
    rc = agree_h5_input(comm, "--train", cli_value(opts, n_opts, "train"), AGREE_IMAGE_DATASETS, AGREE_LABELS, err);
  if (rc == JC_OK && cli_value(opts, n_opts, "val"))
    rc = agree_h5_input(comm, "--val", cli_value(opts, n_opts, "val"), AGREE_IMAGE_DATASETS, AGREE_LABELS, err);
  if (rc == JC_OK && cli_value(opts, n_opts, "init")) rc = agree_file(comm, "--init", cli_value(opts, n_opts, "init"), err);
  if (rc == JC_OK) {
    jc_train_opts t = {
        .train_path = cli_value(opts, n_opts, "train"),
        .val_path = cli_value(opts, n_opts, "val"),
        .out_dir = cli_value(opts, n_opts, "out"),
        .init_path = cli_value(opts, n_opts, "init"),
        .force = cli_flag(opts, n_opts, "force"),
        .resume = cli_flag(opts, n_opts, "resume"),
        .profile = cli_flag(opts, n_opts, "profile"),
        .stop = &stop_signal,
    };
    rc = dist_agree(comm, catch_stop_signals(err), err); /* a rank that cannot must not be left out */
    if (rc == JC_OK) rc = train_run(net, &t, comm, err);
  }
  net_free(&net);
  return rc;
}
