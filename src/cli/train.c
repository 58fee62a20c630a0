/* train.c - `jetcnn train CONFIG --train FILE [--val FILE] --out DIR [--set KEY=VALUE ...]`, and what
 * the user sees while it runs (progress, warnings, epoch results: train_run's events). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- what the user sees while training (train_run's events, rank 0) ---- */
typedef struct {
  int mode;         /* 0 none, 1 lines, 2 bar */
  int profile;      /* --profile: where each epoch's step time went */
  double last_draw; /* when the bar was last drawn */
} view;

/* A bar redrawn in place on a terminal, plain lines otherwise. JETCNN_PROGRESS=bar|lines|none
 * overrides (mpirun hands ranks a pseudo-terminal even when its own output goes to a file,
 * so the bar is also throttled to two redraws a second). */
static int progress_mode(void) {
  const char *env = getenv("JETCNN_PROGRESS");
  if (env && strcmp(env, "none") == 0) return 0;
  if (env && strcmp(env, "lines") == 0) return 1;
  if (env && strcmp(env, "bar") == 0) return 2;
  return isatty(STDOUT_FILENO) ? 2 : 1;
}

static void show_step(view *v, const jc_train_event *ev) {
  const size_t s = ev->step.step, n = ev->steps_per_epoch;
  const int last = s == n;
  const double el = ev->step.seconds, rate = el > 0 ? (double)ev->step.jets / el : 0.0;
  const double eta = s < n && s > 1 ? el / (double)s * (double)(n - s) : 0.0;
  if (v->mode == 2) {
    if (!last && MPI_Wtime() - v->last_draw < 0.5) return;
    v->last_draw = MPI_Wtime();
    int width = 30, done = (int)((double)width * (double)s / (double)n);
    printf("\repoch %lld/%ld [%.*s%*s] %zu/%zu loss %.4f acc %.3f %.0f img/s ETA %.0fs   %s", (long long)ev->step.epoch,
           ev->epochs, done, "##############################", width - done, "", s, n, ev->step.loss, ev->step.acc,
           rate, eta, last ? "\n" : "");
  } else if (v->mode == 1 && (s % (n / 10 > 0 ? n / 10 : 1) == 0 || last)) {
    printf("epoch %lld/%ld step %zu/%zu loss %.4f acc %.3f %.0f img/s ETA %.0fs\n", (long long)ev->step.epoch, ev->epochs,
           s, n, ev->step.loss, ev->step.acc, rate, eta);
  }
}

static void show_epoch(const view *v, const jc_train_event *ev) {
  const jc_epoch_stats *st = ev->epoch.stats;
  printf("epoch %lld/%ld: train loss %.4f acc %.4f", (long long)st->epoch, ev->epochs, st->train_loss, st->train_acc);
  if (st->has_val)
    printf(" | val loss %.4f acc %.4f AUC %.4f 1/eps_B(0.3) %.1f", st->val.loss, st->val.acc, st->val.auc, st->val.rej30);
  printf(" | %.0f img/s, %.1f s\n", st->img_per_s, st->seconds);
  if (v->profile) {
    double total = ev->epoch.read + ev->epoch.compute + ev->epoch.reduce + ev->epoch.update;
    printf("  profile (rank 0, this epoch): read %.1f%%  forward+backward %.1f%%  allreduce (incl. waiting for other "
           "ranks) %.1f%%  optimizer %.1f%%  of %.2f s in steps\n", 100 * ev->epoch.read / total,
           100 * ev->epoch.compute / total, 100 * ev->epoch.reduce / total, 100 * ev->epoch.update / total, total);
    char line[512];
    steptime_format(&st->ranks, line, sizeof line);
    printf("%s\n", line);
  }
}

static void show(const jc_train_event *ev, void *arg) {
  view *v = arg;
  switch (ev->kind) {
  case TRAIN_EV_WARNING:
    fprintf(stderr, "jetcnn: warning: %s\n", ev->warning);
    break;
  case TRAIN_EV_START:
    printf("jetcnn train: %zu jets (%zu steps of %ld per epoch), %ld epochs, %d rank%s x %d thread%s, %zu parameters\n",
           ev->start.train_jets, ev->steps_per_epoch, ev->start.batch, ev->epochs, ev->start.ranks,
           ev->start.ranks > 1 ? "s" : "", ev->start.threads, ev->start.threads > 1 ? "s" : "", ev->start.n_params);
    break;
  case TRAIN_EV_RESUME:
    printf("resuming %s/checkpoint.h5: epoch %lld, step %lld of %zu (optimizer step %lld)%s\n", ev->dir,
           (long long)ev->resume.epoch, (long long)ev->resume.epoch_step, ev->steps_per_epoch,
           (long long)ev->resume.step, ev->resume.init_ignored ? "; --init ignored" : "");
    break;
  case TRAIN_EV_FINISHED:
    printf("jetcnn train: %s holds a finished run (%lld epochs); nothing to do\n", ev->dir,
           (long long)ev->finished_epochs);
    break;
  case TRAIN_EV_STEP:
    if (v->mode != 0) show_step(v, ev);
    break;
  case TRAIN_EV_EPOCH:
    show_epoch(v, ev);
    break;
  case TRAIN_EV_DONE:
    printf("done in %.1f s; checkpoint %s/checkpoint.h5, metrics %s/metrics.csv\n", ev->done_seconds, ev->dir, ev->dir);
    break;
  }
  fflush(stdout);
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
    view v = {progress_mode(), cli_flag(opts, n_opts, "profile"), 0.0};
    jc_train_opts t = {
        .train_path = cli_value(opts, n_opts, "train"),
        .val_path = cli_value(opts, n_opts, "val"),
        .out_dir = cli_value(opts, n_opts, "out"),
        .init_path = cli_value(opts, n_opts, "init"),
        .force = cli_flag(opts, n_opts, "force"),
        .resume = cli_flag(opts, n_opts, "resume"),
        .stop = &stop_signal,
        .report = show,
        .report_arg = &v,
    };
    rc = dist_agree(comm, catch_stop_signals(err), err); /* a rank that cannot must not be left out */
    if (rc == JC_OK) rc = train_run(net, &t, comm, err);
  }
  net_free(&net);
  return rc;
}
